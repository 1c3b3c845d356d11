#!/usr/bin/env python3
"""Draws a pinn-train run directory as PNG files (Debian's python3-matplotlib):

  loss.png      the loss history, total and per term, on a log scale; the reference metrics
                (relative L2 and max error) below it when the run has a reference
  field_<u>.png for 1-D and 2-D problems with a reference (reference.csv): the prediction, the
                reference and the error, as heatmaps (2-D) or curves (1-D)
  pred_<set>.png for 2-D problems without a reference: the prediction on each evaluation set

    /usr/bin/python3 scripts/plot_run.py RUN_DIR [--out DIR] [--x step|time]

--x time draws the history against training time (history.csv's elapsed_s) instead of the step:
the error-against-time curve by which optimizers are compared.

Scalars for TensorBoard: history.csv is the whole record; `--tensorboard` also writes it as
TensorBoard event files when the `tensorboard` Python package is installed.
"""
import argparse
import csv
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.tri as mtri  # noqa: E402


def read_csv(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        columns = {name: [] for name in header}
        for row in reader:
            for name, value in zip(header, row):
                try:
                    columns[name].append(float(value))
                except ValueError:  # empty (not measured) or text (the stage column)
                    columns[name].append(math.nan if value == "" else value)
    return header, columns


def save(figure, path):
    """Writes under a temporary name, then renames: no half-written PNG."""
    temporary = path + ".tmp.png"
    figure.savefig(temporary, dpi=110, bbox_inches="tight")
    plt.close(figure)
    os.replace(temporary, path)
    print(path)


def plot_history(run, out, stage_names, axis="step"):
    header, h = read_csv(os.path.join(run, "history.csv"))
    steps = h["elapsed_s"] if axis == "time" else h["step"]
    # Adaptive loss weights (w_<term>) and the smallest causal weight (causal_min_<term>) get a
    # panel of their own, on a linear scale.
    weight_columns = [c for c in header if c.startswith(("w_", "causal_min_"))]
    term_columns = [c for c in header[3:] if c not in ("elapsed_s", "lr") and not c.startswith(
        ("l2_rel_", "max_err_", "mean_abs_residual_", "rms_residual_", "w_", "causal_min_"))]
    metric_columns = [c for c in header if c.startswith(("l2_rel_", "max_err_"))]
    rows = 1 + bool(metric_columns) + bool(weight_columns)
    figure, axes = plt.subplots(rows, 1, figsize=(7, 3.2 * rows), sharex=True, squeeze=False)
    ax = axes[0][0]
    ax.semilogy(steps, h["total"], color="black", linewidth=2, label="total")
    for column in term_columns:
        values = h[column]
        if all(v > 0 for v in values if not math.isnan(v)):
            ax.semilogy(steps, values, label=column, linewidth=1)
    stages = stage_names(axis)
    for step in stages:
        for row in axes:
            row[0].axvline(step, color="grey", linestyle=":", linewidth=1)
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax.set_title(os.path.basename(os.path.normpath(run)))
    if metric_columns:
        ax = axes[1][0]
        for column in metric_columns:
            points = [(s, v) for s, v in zip(steps, h[column]) if not math.isnan(v)]
            if points:
                ax.semilogy(*zip(*points), marker=".", label=column)
        ax.set_ylabel("error vs reference")
        ax.legend(fontsize=8)
    if weight_columns:
        ax = axes[-1][0]
        for column in weight_columns:
            points = [(s, v) for s, v in zip(steps, h[column]) if not math.isnan(v)]
            if points:
                ax.plot(*zip(*points), label=column, linewidth=1)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylabel("weights")
        ax.legend(fontsize=8)
    axes[-1][0].set_xlabel(("training time (s)" if axis == "time" else "step") +
                           " (dotted: next stage)")
    save(figure, os.path.join(out, "loss.png"))


def stage_steps(run, axis="step"):
    """Where each stage after the first begins: its step, or its training time."""
    column = "elapsed_s" if axis == "time" else "step"
    with open(os.path.join(run, "history.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    changes = []
    for before, after in zip(rows, rows[1:]):
        if before["stage"] != after["stage"]:
            changes.append(float(before[column]))
    return changes


def heatmap(ax, x, y, values, title, cmap="viridis"):
    triangles = mtri.Triangulation(x, y)
    image = ax.tricontourf(triangles, values, levels=50, cmap=cmap)
    plt.colorbar(image, ax=ax)
    ax.set_title(title)


def plot_reference(run, out, inputs):
    header, r = read_csv(os.path.join(run, "reference.csv"))
    outputs = [c for c in header if c + "_reference" in header]
    for name in outputs:
        prediction, truth, error = r[name], r[name + "_reference"], r[name + "_error"]
        norm = math.sqrt(sum(v * v for v in truth)) or 1.0
        l2 = math.sqrt(sum(e * e for e in error)) / norm
        if len(inputs) == 2:
            x, y = r[inputs[0]], r[inputs[1]]
            figure, axes = plt.subplots(1, 3, figsize=(15, 4))
            heatmap(axes[0], x, y, prediction, f"prediction {name}")
            heatmap(axes[1], x, y, truth, f"reference {name}")
            heatmap(axes[2], x, y, [abs(e) for e in error],
                    f"|error|, relative L2 {l2:.2e}", cmap="magma")
            for ax in axes:
                ax.set_xlabel(inputs[0])
                ax.set_ylabel(inputs[1])
        elif len(inputs) == 1:
            order = sorted(range(len(r[inputs[0]])), key=lambda i: r[inputs[0]][i])
            x = [r[inputs[0]][i] for i in order]
            figure, axes = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
            axes[0].plot(x, [truth[i] for i in order], "k-", label="reference")
            axes[0].plot(x, [prediction[i] for i in order], "r--", label="prediction")
            axes[0].legend()
            axes[1].plot(x, [error[i] for i in order])
            axes[1].set_title(f"error, relative L2 {l2:.2e}")
            axes[1].set_xlabel(inputs[0])
        else:
            continue
        save(figure, os.path.join(out, f"field_{name}.png"))


def plot_predictions(run, out, inputs):
    for file in sorted(os.listdir(run)):
        if not (file.startswith("predictions_") and file.endswith(".csv")):
            continue
        header, p = read_csv(os.path.join(run, file))
        if len(inputs) != 2 or len(p[inputs[0]]) < 3:
            continue
        fields = [c for c in header if c not in inputs]
        figure, axes = plt.subplots(1, len(fields), figsize=(5 * len(fields), 4), squeeze=False)
        for ax, field in zip(axes[0], fields):
            heatmap(ax, p[inputs[0]], p[inputs[1]], p[field], field)
        save(figure, os.path.join(out, "pred_" + file[len("predictions_"):-4] + ".png"))


def write_tensorboard(run, out):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as error:  # the tensorboard package is optional
        print(f"--tensorboard: {error}; history.csv holds the same scalars", file=sys.stderr)
        return
    header, h = read_csv(os.path.join(run, "history.csv"))
    writer = SummaryWriter(os.path.join(out, "tensorboard"))
    for i, step in enumerate(h["step"]):
        for column in header[2:]:
            value = h[column][i]
            if not math.isnan(value):
                writer.add_scalar(column, value, int(step))
    writer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--out", help="where the PNGs go (default: RUN_DIR/plots)")
    parser.add_argument("--tensorboard", action="store_true")
    parser.add_argument("--x", choices=("step", "time"), default="step",
                        help="the history's horizontal axis (default: step)")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.run, "history.csv")):
        sys.exit(f"plot_run.py: {args.run}: no history.csv (not a pinn-train run directory?)")
    out = args.out or os.path.join(args.run, "plots")
    os.makedirs(out, exist_ok=True)
    import json
    with open(os.path.join(args.run, "config.json")) as f:
        inputs = json.load(f)["inputs"]
    plot_history(args.run, out, lambda axis: stage_steps(args.run, axis), args.x)
    if os.path.exists(os.path.join(args.run, "reference.csv")):
        plot_reference(args.run, out, inputs)
    else:
        plot_predictions(args.run, out, inputs)
    if args.tensorboard:
        write_tensorboard(args.run, out)


if __name__ == "__main__":
    main()
