#!/usr/bin/python3
"""Each example config with its last stage as L-BFGS and as self-scaled Broyden, side by side.

For every config, trains it twice in one run of this script: with its last training stage
replaced by `{"type": "lbfgs", "history": 50}` (what the example configs had until they moved to
ssbroyden) and by `{"type": "ssbroyden"}`, each with the stage's iterations and log interval as
written (every other setting as written). The two runs of a config come one after the other, so
a drift of the machine's speed touches both. Prints a Markdown table: the relative L2 error and
wall time of each, and the ratios.

    /usr/bin/python3 scripts/bench/configs_quasi_newton.py [--configs heat_1d,robin_plate]
        [--threads 2] [--out runs/bench_configs_qn]

Run it on a quiet machine; the default list takes about 3 minutes on 2 cores.
"""

import argparse
import json
import sys
from pathlib import Path

import common as c

DEFAULT = ("poisson_2d_sin", "poisson_lshape", "heat_1d", "helmholtz_2d", "robin_plate",
           "heat_periodic", "heat_inverse")


def arguments():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default=",".join(DEFAULT))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(c.REPO / "runs" / "bench_configs_qn"))
    return p.parse_args()


def train(args, name, variant, sets):
    run = Path(args.out) / f"{name}-{variant}"
    cmd = [str(c.pinn_train()), str(c.REPO / "configs" / f"{name}.json"), "-o", str(run),
           "--force", "-q", "--threads", str(args.threads)]
    for s in sets:
        cmd += ["--set", s]
    summary = c.train_run(cmd)
    metric = next(k for k in summary["metrics"] if k.startswith("l2_rel_"))
    return summary["metrics"][metric], summary["wall_time_s"]


def main():
    args = arguments()
    rows = []
    for name in args.configs.split(","):
        config = json.loads((c.REPO / "configs" / f"{name}.json").read_text())
        last = config["training"][-1]
        index = len(config["training"]) - 1
        common = {"iterations": last.get("iterations", 1000), "log_every": last.get("log_every", 100)}
        lbfgs = dict(common, type="lbfgs", history=50)
        broyden = dict(common, type="ssbroyden")
        print(f"{name} ...", file=sys.stderr, flush=True)
        quasi = train(args, name, "lbfgs", [f"training[{index}]={json.dumps(lbfgs)}"])
        dense = train(args, name, "ssbroyden", [f"training[{index}]={json.dumps(broyden)}"])
        rows.append([name, common["iterations"], f"{quasi[0]:.2e}", f"{quasi[1]:.1f}",
                     f"{dense[0]:.2e}", f"{dense[1]:.1f}", f"{quasi[0] / dense[0]:.1f}x",
                     f"{dense[1] / quasi[1]:.2f}x"])
    c.print_table(["config", "last stage iterations", "lbfgs error", "lbfgs wall s",
                   "ssbroyden error", "ssbroyden wall s", "error ratio", "time ratio"], rows,
                  title=f"Each config's last stage as lbfgs (history 50) and as ssbroyden "
                        f"({args.threads} threads)")


if __name__ == "__main__":
    try:
        main()
    except c.BenchError as error:
        sys.exit(f"failed: {error}")
