#!/usr/bin/python3
"""Quasi-Newton optimizers side by side: relative L2 error against training time.

From one Adam warm start per problem, each optimizer (lbfgs, bfgs, ssbfgs, ssbroyden) trains for
the same budget of training time, one after another in one run of this script:

  burgers   configs/burgers_ssbroyden.json (Kiyani et al.'s setup: 4 x 20 tanh, 8000 RAD points,
            1000 Adam steps), its quasi-Newton stage replaced by each optimizer
  poisson   configs/poisson_2d_sin.json (3 x 32 tanh, 1024 Sobol points, 1000 Adam steps)

Adam is deterministic on one machine with a fixed thread count, so every optimizer starts from
the same weights; the script checks that the loss at the end of Adam is the same bit for bit in
every run of a problem. It prints a Markdown table (error and loss after 30 s, 1, 2 and 5 minutes
of the optimizer's training time, the iterations and loss evaluations it made, and the share of
its time spent on the dense inverse Hessian) and writes a PNG of the error against time, one
curve per optimizer.

    /usr/bin/python3 scripts/bench/optimizers.py [--budget 300] [--problems burgers,poisson]
        [--optimizers lbfgs,bfgs,ssbfgs,ssbroyden] [--threads 2] [--out runs/bench_optimizers]
        [--png docs/figures/optimizers.png] [--quick]

Time is pinn-train's own training time (history.csv's elapsed_s, which leaves out the reference
error measurements), counted from the end of Adam. Run it on a quiet machine: the runs take
budget x optimizers x problems (40 minutes at the defaults). --quick trains 5 s per optimizer
(a smoke test of the script, not a measurement).
"""

import argparse
import csv
import json
import math
import os
import sys
from pathlib import Path

import common as c

PROBLEMS = {
    # config, Adam stage index, steps between reference measurements
    "burgers": ("burgers_ssbroyden.json", 250),
    "poisson": ("poisson_2d_sin.json", 250),
}
OPTIMIZER_STAGES = {
    "lbfgs": {"type": "lbfgs", "history": 100, "tolerance_grad": 0, "tolerance_change": 0},
    "bfgs": {"type": "bfgs"},
    "ssbfgs": {"type": "ssbfgs"},
    "ssbroyden": {"type": "ssbroyden"},
}
MARKS = (30, 60, 120, 300)


def arguments():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=300, help="training seconds per optimizer")
    p.add_argument("--problems", default="burgers,poisson")
    p.add_argument("--optimizers", default="lbfgs,bfgs,ssbfgs,ssbroyden")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(c.REPO / "runs" / "bench_optimizers"))
    p.add_argument("--png", default=None, help="where to write the figure (default: OUT/optimizers.png)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.budget = 5
    for name in args.problems.split(","):
        if name not in PROBLEMS:
            p.error(f"unknown problem {name!r}: expected some of {', '.join(PROBLEMS)}")
    for name in args.optimizers.split(","):
        if name not in OPTIMIZER_STAGES:
            p.error(f"unknown optimizer {name!r}: expected some of {', '.join(OPTIMIZER_STAGES)}")
    return args


def read_history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def number(text):
    return float(text) if text not in ("", None) else math.nan


def train(args, problem, optimizer):
    """One run: the config's Adam stage, then `optimizer` for the budget. Returns its run dir."""
    config_name, every = PROBLEMS[problem]
    config = json.loads((c.REPO / "configs" / config_name).read_text())
    adam = config["training"][0]
    if args.quick:
        adam = dict(adam, iterations=100, log_every=50)
    stage = dict(OPTIMIZER_STAGES[optimizer], iterations=10_000_000, log_every=every,
                 # The stage's limit counts wall time, measurements included; the budget is
                 # applied to training time below, so leave room for the measurements.
                 max_seconds=args.budget * 1.25 + 5)
    run = Path(args.out) / f"{problem}-{optimizer}"
    cmd = [str(c.pinn_train()), str(c.REPO / "configs" / config_name), "-o", str(run), "--force",
           "-q", "--threads", str(args.threads),
           "--set", "training=" + json.dumps([adam, stage]),
           "--set", f"reference.every={every}"]
    c.train_run(cmd)
    return run


def curve(run, budget):
    """(seconds since Adam ended, error, loss) at each measurement of the optimizer's stage,
    the loss at the end of Adam, and the stage's summary."""
    rows = read_history(run)
    summary = json.loads((run / "summary.json").read_text())
    adam_rows = [r for r in rows if r["stage"] == "adam"]
    start = float(adam_rows[-1]["elapsed_s"])
    metric = next(k for k in rows[0] if k.startswith("l2_rel_"))
    points = [(0.0, number(adam_rows[-1][metric]), float(adam_rows[-1]["total"]))]
    for r in rows:
        if r["stage"] == "adam" or r[metric] == "":
            continue
        t = float(r["elapsed_s"]) - start
        if t <= budget * 1.001:
            points.append((t, float(r[metric]), float(r["total"])))
    return points, adam_rows[-1]["total"], summary["stages"][-1]


def at(points, seconds):
    """The last measurement at or before `seconds` (None when the run had not got there)."""
    if points[-1][0] < seconds * 0.98 and seconds > points[-1][0] + 1:
        return None
    before = [p for p in points if p[0] <= seconds]
    return before[-1] if before else None


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    problems = sorted({p for p, _ in results}, key=list(PROBLEMS).index)
    figure, axes = plt.subplots(1, len(problems), figsize=(6 * len(problems), 4.2), squeeze=False)
    for ax, problem in zip(axes[0], problems):
        for (p, optimizer), (points, _, _) in results.items():
            if p != problem:
                continue
            ax.semilogy([t for t, _, _ in points], [e for _, e, _ in points], label=optimizer,
                        linewidth=1.6)
        ax.set_title(f"{problem}: after {PROBLEMS[problem][0]}'s Adam stage")
        ax.set_xlabel("training time of the optimizer (s)")
        ax.set_ylabel("relative L2 error")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.png")
    figure.savefig(temporary, dpi=110)
    os.replace(temporary, path)
    print(f"\nwrote {path}")


def main():
    args = arguments()
    c.ensure_burgers_reference()
    problems, optimizers = args.problems.split(","), args.optimizers.split(",")
    results = {}
    # Interleaved: each optimizer's runs of the problems come together, so that a drift of the
    # machine's speed spreads over the optimizers rather than landing on one.
    for optimizer in optimizers:
        for problem in problems:
            print(f"training {problem} with {optimizer} ...", file=sys.stderr, flush=True)
            results[(problem, optimizer)] = curve(train(args, problem, optimizer), args.budget)

    marks = [m for m in MARKS if m <= args.budget] or [args.budget]
    headers = ["problem", "optimizer"] + [f"error @ {m:g} s" for m in marks] + [
        f"loss @ {marks[-1]:g} s", "iterations", "evaluations", "H share"]
    rows = []
    for problem in problems:
        starts = {results[(problem, o)][1] for o in optimizers}
        if len(starts) != 1:
            print(f"warning: {problem}'s Adam stage ended at different losses {starts}: "
                  "the warm starts differ", file=sys.stderr)
        for optimizer in optimizers:
            points, _, stage = results[(problem, optimizer)]
            cells = [problem, optimizer]
            for m in marks:
                p = at(points, m)
                cells.append(f"{p[1]:.2e}" if p else "-")
            last = at(points, marks[-1]) or points[-1]
            cells.append(f"{last[2]:.2e}")
            cells.append(str(stage["iterations"]))
            cells.append(str(stage.get("evaluations", stage["iterations"])))
            details = stage.get("details", {})
            share = details.get("hessian_seconds")
            cells.append(f"{100 * share / stage['seconds']:.0f} %" if share is not None and
                         stage["seconds"] > 0 else "-")
            rows.append(cells)
    c.print_table(headers, rows, title=(
        f"Relative L2 error after each optimizer's training time, from one Adam warm start "
        f"({args.threads} threads; loss after Adam: " +
        ", ".join(f"{p} {results[(p, optimizers[0])][1]}" for p in problems) + ")"))
    plot(results, Path(args.png) if args.png else Path(args.out) / "optimizers.png")


if __name__ == "__main__":
    try:
        main()
    except c.BenchError as error:
        sys.exit(f"failed: {error}")
