#!/usr/bin/python3
"""End to end: a config's whole training run (by default configs/burgers.json, DeepXDE's Burgers
setup: 15000 Adam steps, then L-BFGS) with each engine, and the ratio of their wall times
(summary.json's wall_time_s: the whole run, from start to the written outputs). The engines run
one at a time, in pairs whose order alternates (taylor first, then autograd first, ...), since
this VM's speed drifts over minutes: each pair's ratio compares runs made minutes apart, and the
median over the pairs is the figure to quote. Every run writes into a temporary directory; the
table also gives each stage's seconds, the final loss and the first reference error, which shows
that the runs trained the same problem to comparable accuracy.

    /usr/bin/python3 scripts/bench/end_to_end.py [--config configs/burgers.json] [--pairs 3]
        [--engines taylor autograd] [--threads T] [--set KEY=VALUE ...] [--quick]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import common as c

# --quick: a shortened run of the config (smoke test of the driver).
QUICK_SETS = ("training[0].iterations=30", "training[1].iterations=10")


def arguments():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=c.BURGERS, help="the config (default configs/burgers.json)")
    p.add_argument("--pairs", type=int, default=3, help="pairs of runs, the order alternating (default 3)")
    p.add_argument("--engines", nargs=2, default=("taylor", "autograd"), metavar=("FAST", "BASELINE"),
                   help="the engine measured and the one it is compared with (default taylor autograd)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of every run (default: all cores)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for every run (repeatable), as pinn-train's --set")
    p.add_argument("--quick", action="store_true", help="smoke test: one pair of shortened runs")
    args = p.parse_args()
    if args.quick:
        args.pairs = 1
        args.sets = list(QUICK_SETS) + args.sets
    return args


def train(args, engine, directory):
    """One whole run; returns its summary.json."""
    cmd = [str(c.pinn_train()), str(args.config), "-o", str(directory), "--threads", str(args.threads),
           "--set", f"derivatives={engine}"]
    for s in args.sets:
        cmd += ["--set", s]
    print(f"  {engine} ...", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise c.BenchError(f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return json.loads((directory / "summary.json").read_text())


def first_error(summary):
    """The first relative L2 error against the reference ("-" without a reference)."""
    errors = [value for name, value in summary.get("metrics", {}).items() if name.startswith("l2_rel")]
    return c.fmt(errors[0], ".2e") if errors else "-"


def stages(summary):
    return " + ".join(f"{s['type']} {s['seconds']:.1f}" for s in summary["stages"])


def main():
    args = arguments()
    try:
        measure(args)
    except c.BenchError as e:
        sys.exit(f"end_to_end: a run failed: {e}")


def measure(args):
    if args.config.resolve() == c.BURGERS.resolve():
        c.ensure_burgers_reference()
    fast, baseline = args.engines
    rows, ratios = [], []
    with tempfile.TemporaryDirectory(prefix="pinn-e2e-") as tmp:
        for pair in range(1, args.pairs + 1):
            order = (fast, baseline) if pair % 2 == 1 else (baseline, fast)
            summaries = {engine: train(args, engine, Path(tmp) / f"{pair}-{engine}") for engine in order}
            wall = {engine: s["wall_time_s"] for engine, s in summaries.items()}
            ratio = wall[baseline] / wall[fast]
            ratios.append(ratio)
            for engine in order:
                s = summaries[engine]
                rows.append([pair, f"{order[0]} first", engine, c.fmt(wall[engine], ".1f"), stages(s),
                             c.fmt(s["final_loss"], ".3e"), first_error(s),
                             c.speedup(wall[baseline], wall[engine])])
    title = (f"End to end: {args.config.name}, whole runs one at a time, {args.pairs} pair(s), "
             f"{args.threads} thread(s)" + (f", sets {' '.join(args.sets)}" if args.sets else ""))
    c.print_table(["pair", "order", "engine", "wall s", "stages s", "final loss", "rel. L2",
                   f"speed-up vs {baseline}"], rows, title)
    print(f"\n{fast} vs {baseline}, wall time: median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x over {len(ratios)} pair(s))")


if __name__ == "__main__":
    main()
