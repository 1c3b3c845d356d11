#!/usr/bin/python3
"""What a dense quasi-Newton iteration costs: the inverse Hessian against the loss and gradient.

Trains configs/burgers_ssbroyden.json's problem with only its ssbroyden stage (no Adam) for a fixed
number of iterations, once per network width, and reads the stage's report in summary.json: the
seconds spent on the dense inverse Hessian H (the products H v, the lazily applied updates and
the symmetrisations; `details.hessian_seconds`) and the seconds of the whole stage. The rest is
the loss-and-gradient evaluations (the line search's too). It prints, side by side per size:

    parameters | iterations | evaluations | ms per iteration | H ms per iteration |
    ms per evaluation | H / evaluation

    /usr/bin/python3 scripts/bench/quasi_newton_cost.py [--widths 20,57] [--iterations 300,60]
        [--threads 2] [--method ssbroyden]

The default widths give 1,341 parameters (4 x 20, the paper's network) and 10,147 (4 x 57), whose
H takes 14 MB and 824 MB. Run it on a quiet machine.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import common as c


def arguments():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="20,57", help="hidden width of the 4-layer MLP, per run")
    p.add_argument("--iterations", default="300,60", help="quasi-Newton iterations, per width")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--method", default="ssbroyden", choices=("bfgs", "ssbfgs", "ssbroyden"))
    args = p.parse_args()
    args.widths = [int(w) for w in args.widths.split(",")]
    args.iterations = [int(i) for i in args.iterations.split(",")]
    if len(args.iterations) != len(args.widths):
        p.error("--iterations needs one count per width")
    return args


def measure(args, width, iterations, out):
    config = c.REPO / "configs" / "burgers_ssbroyden.json"
    stage = {"type": args.method, "iterations": iterations, "log_every": iterations,
             "restart_every": 500, "max_parameters": 100_000}
    cmd = [str(c.pinn_train()), str(config), "-o", str(out), "--force", "-q",
           "--threads", str(args.threads),
           "--set", f"network.hidden={json.dumps([width] * 4)}",
           "--set", "training=" + json.dumps([stage]),
           "--set", "reference.every=1000000000",
           "--set", "evaluate=[]",
           "--set", "checkpoint_every=0"]
    summary = c.train_run(cmd)
    report = summary["stages"][-1]
    return summary["network_parameters"], report


def main():
    args = arguments()
    c.ensure_burgers_reference()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for width, iterations in zip(args.widths, args.iterations):
            print(f"width {width}: {iterations} {args.method} iterations ...", file=sys.stderr,
                  flush=True)
            parameters, report = measure(args, width, iterations, Path(scratch) / f"w{width}")
            done, evaluations = report["iterations"], report["evaluations"]
            seconds, h = report["seconds"], report["details"]["hessian_seconds"]
            per_evaluation = (seconds - h) / evaluations
            rows.append([parameters, done, evaluations, f"{1e3 * seconds / done:.3f}",
                         f"{1e3 * h / done:.3f}", f"{1e3 * per_evaluation:.3f}",
                         f"{h / done / per_evaluation:.2f}x"])
    c.print_table(["parameters", "iterations", "evaluations", "ms / iteration",
                   "H ms / iteration", "ms / evaluation", "H / evaluation"], rows,
                  title=f"{args.method} on Burgers (8000 + 500 + 500 points, float64, "
                        f"{args.threads} threads): the dense inverse Hessian's share")


if __name__ == "__main__":
    try:
        main()
    except c.BenchError as error:
        sys.exit(f"failed: {error}")
