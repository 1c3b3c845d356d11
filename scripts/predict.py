#!/usr/bin/python3
"""Evaluate a pinn-train model.pt with plain PyTorch, independently of pinn-train.

    predict.py RUN_DIR/model.pt --points POINTS.csv [--fields u,u_x] [--out OUT.csv] [--check]

model.pt is a pickled dict (torch.load reads it): the network's config as JSON text, the input
and output names, and a state_dict. The MLP is rebuilt here from that description. Fields are
outputs or subscript derivatives of them (u, u_x, u_xy, ...), computed with torch.autograd.
With --check, every computed field is compared with the column of the same name in POINTS.csv
(e.g. a predictions_*.csv that pinn-train wrote); the exit code is 1 if any differs.
"""
import argparse
import csv
import json
import math
import sys

import torch

ACTIVATIONS = {
    "identity": lambda x: x,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "sin": torch.sin,
    "relu": torch.relu,
    "softplus": torch.nn.functional.softplus,
    "silu": lambda x: x * torch.sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0))),
}


def load_model(path):
    data = torch.load(path, map_location="cpu")
    if not isinstance(data, dict) or data.get("format") != "pinn-train-model/1":
        sys.exit(f"predict.py: {path} is not a pinn-train model file")
    network = json.loads(data["network"])
    if network.get("type", "mlp") != "mlp":
        sys.exit(f"predict.py: network type {network['type']} is not supported here")
    state = data["state_dict"]
    layers = []
    while f"layer{len(layers)}.weight" in state:
        i = len(layers)
        layers.append((state[f"layer{i}.weight"], state[f"layer{i}.bias"]))
    hidden = ACTIVATIONS[network["activation"]]
    final = ACTIVATIONS[network["output_activation"]]

    def forward(x):
        for weight, bias in layers[:-1]:
            x = hidden(x @ weight.T + bias)
        weight, bias = layers[-1]
        return final(x @ weight.T + bias)

    return forward, list(data["inputs"]), list(data["outputs"]), layers[0][0].dtype


def parse_field(name, inputs, outputs):
    """'u_xy' -> (output index, [input indices]); plain output names have no derivatives."""
    if name in outputs:
        return outputs.index(name), []
    output, _, suffix = name.partition("_")
    if output not in outputs or not suffix or any(c not in inputs for c in suffix):
        sys.exit(f"predict.py: field '{name}' is neither an output nor a subscript derivative")
    return outputs.index(output), [inputs.index(c) for c in suffix]


def evaluate(forward, points, field):
    output, wrt = field
    x = points.clone().requires_grad_(bool(wrt))
    value = forward(x)[:, output]
    for k, i in enumerate(wrt):
        (gradient,) = torch.autograd.grad(value.sum(), x, create_graph=k + 1 < len(wrt))
        value = gradient[:, i]
    return value.detach()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("model")
    parser.add_argument("--points", required=True, help="CSV whose header names the inputs")
    parser.add_argument("--fields", help="comma-separated fields (default: the outputs)")
    parser.add_argument("--out", help="CSV to write (default: standard output)")
    parser.add_argument("--check", action="store_true",
                        help="compare with same-named columns of --points")
    parser.add_argument("--tolerance", type=float, default=1e-9,
                        help="allowed |difference| / (1 + |value|) for --check")
    args = parser.parse_args()

    forward, inputs, outputs, dtype = load_model(args.model)
    with open(args.points, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [name for name in inputs if not rows or name not in rows[0]]
    if missing:
        sys.exit(f"predict.py: {args.points} lacks input columns {missing}")
    points = torch.tensor([[float(row[name]) for name in inputs] for row in rows], dtype=dtype)
    names = args.fields.split(",") if args.fields else outputs
    if args.check and not args.fields:
        names = [name for name in rows[0] if name not in inputs]
    values = {name: evaluate(forward, points, parse_field(name, inputs, outputs)) for name in names}

    if args.check:
        worst = 0.0
        for name, value in values.items():
            expected = torch.tensor([float(row[name]) for row in rows], dtype=torch.float64)
            error = ((value.double() - expected).abs() / (1 + expected.abs())).max().item()
            worst = max(worst, error)
            print(f"{name}: max |difference| / (1 + |value|) = {error:.3e} over {len(rows)} points")
        if worst > args.tolerance:
            print(f"predict.py: MISMATCH (tolerance {args.tolerance:g})")
            return 1
        print("predict.py: plain PyTorch reproduces the predictions")
        return 0

    out = open(args.out, "w", newline="") if args.out else sys.stdout
    writer = csv.writer(out)
    writer.writerow(inputs + names)
    for r in range(points.shape[0]):
        writer.writerow([repr(points[r, i].item()) for i in range(len(inputs))] +
                        [repr(values[name][r].item()) for name in names])
    return 0


if __name__ == "__main__":
    sys.exit(main())
