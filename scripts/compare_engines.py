#!/usr/bin/env python3
"""Trains configs in full once per derivative engine and prints one table: the final loss, the
relative L2 error and the wall time of each run, and the relative difference of the final loss
from the autograd run. Engines agree to 1e-10 per step (unit tests); over thousands of Adam and
L-BFGS steps rounding differences grow, so full runs agree to the optimizer's tolerance.

    /usr/bin/python3 scripts/compare_engines.py [--jobs 2] [--engines autograd,taylor] [config ...]
"""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIGS = ["poisson_2d_sin", "poisson_lshape", "heat_1d", "helmholtz_2d", "robin_plate",
                   "heat_periodic", "heat_inverse"]


def train(config, engine, threads):
    out = ROOT / "runs" / "engines" / f"{config}-{engine}"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run([str(ROOT / "build" / "pinn-train"), str(ROOT / "configs" / f"{config}.json"),
                    "--set", f"derivatives={engine}", "--force", "-q", "-o", str(out)],
                   check=True, env=env)
    summary = json.loads((out / "summary.json").read_text())
    return config, engine, summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=DEFAULT_CONFIGS)
    parser.add_argument("--engines", default="autograd,taylor")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, one thread each")
    args = parser.parse_args()
    engines = args.engines.split(",")
    tasks = [(c, e) for c in args.configs for e in engines]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda t: train(*t, threads=1), tasks))
    by_key = {(c, e): s for c, e, s in results}
    print(f"| config | engine (ran) | final loss | vs {engines[0]} | l2_rel_u | wall s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for config in args.configs:
        base = by_key[(config, engines[0])]["final_loss"]
        for engine in engines:
            s = by_key[(config, engine)]
            difference = abs(s["final_loss"] - base) / abs(base) if base else 0.0
            l2 = s.get("metrics", {}).get("l2_rel_u", float("nan"))
            print(f"| {config} | {engine} ({s['engine']}) | {s['final_loss']:.4e} | "
                  f"{difference:.1e} | {l2:.3e} | {s['wall_time_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
