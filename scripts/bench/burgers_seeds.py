#!/usr/bin/python3
"""Burgers over many seeds: each seed's relative L2 error and where its shock sits.

DeepXDE's Burgers setup (configs/burgers.json) lands at a different error for every seed. This
script trains the config once per seed (`pinn-train CONFIG --seed N --threads T`, T = 1 unless
--threads says otherwise; JOBS runs side by side, each in its own directory under OUT), then
evaluates every trained model on a fine line across the shock (x in [-0.01, 0.01], step 1e-5, at
t = 0.5 and t = 0.9; `pinn-train eval`) and reports the zero crossing of u there: the exact
solution's shock sits at x = 0 for t > 1/pi. It prints a Markdown table (seed, error, wall time,
shock position), how many seeds meet a target error, the median, and a least-squares fit of error
against |shock position| at t = 0.9.

    /usr/bin/python3 scripts/bench/burgers_seeds.py [--config configs/burgers.json] [--seeds 0-23]
        [--jobs 2] [--threads 1] [--out runs/burgers_seeds] [--target 1.65e-3] [--set KEY=VALUE ...]
        [--quick]

The thread count changes the order of the sums and so each seed's trajectory: `--jobs 1
--threads 2` runs the config as `pinn-train configs/burgers.json --seed N` does on this machine.

Runs already complete in OUT (a summary.json with status "completed") are reused, so an
interrupted sweep resumes where it stopped. --quick trains 300 Adam + 100 L-BFGS steps (a smoke
test of the script, not of the accuracy). The Burgers reference (configs/data/) is written first
when missing.
"""

import argparse
import concurrent.futures
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import common as c

QUICK_SETS = ("training[0].iterations=300", "training[1].iterations=100")
SHOCK_TIMES = (0.5, 0.9)
LINE_HALF_WIDTH = 0.01
LINE_POINTS = 2001


def seed_list(text):
    """'0-23' or '0,3,5-7' -> [0, ..., 23] or [0, 3, 5, 6, 7]."""
    seeds = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


def arguments():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(c.BURGERS))
    p.add_argument("--seeds", type=seed_list, default=seed_list("0-23"))
    p.add_argument("--jobs", type=int, default=2, help="runs side by side")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    p.add_argument("--out", default=str(c.REPO / "runs" / "burgers_seeds"))
    p.add_argument("--target", type=float, default=1.65e-3, help="error to count seeds against")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="passed on to pinn-train (repeatable)")
    p.add_argument("--quick", action="store_true", help="a shortened run per seed")
    return p.parse_args()


def completed(run):
    try:
        return json.loads((run / "summary.json").read_text()).get("status") == "completed"
    except (OSError, ValueError):
        return False


def train(seed, args):
    """Trains one seed unless OUT already holds its completed run; returns the run directory."""
    run = Path(args.out) / f"seed{seed}"
    if completed(run):
        return run
    sets = [item for s in (list(QUICK_SETS) if args.quick else []) + args.set for item in ("--set", s)]
    command = [str(c.pinn_train()), args.config, "--seed", str(seed), "--threads", str(args.threads),
               "-o", str(run), "--force", "-q", *sets]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"seed {seed}: pinn-train exited {result.returncode}: {result.stderr.strip()}")
    return run


def write_line(path):
    """The evaluation points: a fine line in x across x = 0 at each of SHOCK_TIMES."""
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["x", "t"])
        for t in SHOCK_TIMES:
            for i in range(LINE_POINTS):
                out.writerow([-LINE_HALF_WIDTH + 2 * LINE_HALF_WIDTH * i / (LINE_POINTS - 1), t])


def zero_crossings(xs, us):
    """Where u changes sign along the line, linearly interpolated."""
    return [xs[i] - us[i] * (xs[i + 1] - xs[i]) / (us[i + 1] - us[i])
            for i in range(len(xs) - 1) if (us[i] < 0) != (us[i + 1] < 0)]


def shock_positions(run, line):
    """{t: the zero crossing of u near x = 0, or None where there is not exactly one}."""
    with tempfile.TemporaryDirectory() as scratch:
        values = Path(scratch) / "u.csv"
        subprocess.run([str(c.pinn_train()), "eval", str(run), "--points", str(line), "--out", str(values),
                        "--fields", "u", "-q"], check=True)
        with open(values, newline="") as handle:
            rows = [(float(r["x"]), float(r["t"]), float(r["u"])) for r in csv.DictReader(handle)]
    positions = {}
    for t in SHOCK_TIMES:
        line_rows = [(x, u) for x, tt, u in rows if abs(tt - t) < 1e-12]
        crossings = zero_crossings([x for x, _ in line_rows], [u for _, u in line_rows])
        positions[t] = crossings[0] if len(crossings) == 1 else None
    return positions


def fit(pairs):
    """Least squares error = a + b |position|; returns (a, b, correlation), or None when the
    positions or the errors are all equal."""
    xs, ys = [abs(p) for p, _ in pairs], [e for _, e in pairs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    slope = sxy / sxx
    return my - slope * mx, slope, sxy / (sxx * syy) ** 0.5


def position_text(value):
    return f"{value:+.1e}" if value is not None else "–"


def main():
    args = arguments()
    c.ensure_burgers_reference()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        try:
            runs = list(pool.map(lambda seed: train(seed, args), args.seeds))
        except RuntimeError as error:
            sys.exit(f"burgers_seeds.py: {error}")
    line = Path(args.out) / "shock_line.csv"
    write_line(line)

    rows = []
    for seed, run in zip(args.seeds, runs):
        summary = json.loads((run / "summary.json").read_text())
        rows.append((seed, summary["metrics"]["l2_rel_u"], summary["wall_time_s"],
                     shock_positions(run, line)))

    print(f"config {args.config}, {args.threads} thread(s) per run, {args.jobs} side by side; "
          f"shock position: the zero crossing of u in |x| <= {LINE_HALF_WIDTH} (the exact shock is at x = 0)\n")
    print("| seed | relative L2 | wall time (s) | " +
          " | ".join(f"shock at t = {t}" for t in SHOCK_TIMES) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in SHOCK_TIMES) + " |")
    for seed, error, seconds, positions in rows:
        shown = f"**{error:.2e}**" if error <= args.target else f"{error:.2e}"
        print(f"| {seed} | {shown} | {seconds:.0f} | " +
              " | ".join(position_text(positions[t]) for t in SHOCK_TIMES) + " |")

    errors = [error for _, error, _, _ in rows]
    met = sum(error <= args.target for error in errors)
    print(f"\n{met} of {len(errors)} seeds at or below {args.target:g}; median {statistics.median(errors):.2e}")
    late = SHOCK_TIMES[-1]
    pairs = [(p[late], e) for _, e, _, p in rows if p[late] is not None]
    line_fit = fit(pairs) if len(pairs) >= 3 else None
    if line_fit:
        a, b, r = line_fit
        print(f"fit over the {len(pairs)} seeds with one crossing at t = {late}: "
              f"error = {a:.2e} + {b:.2f} * |shock position| (correlation {r:.2f})")
        if b > 0 and args.target > a:
            print(f"by the fit, the target needs the shock within {(args.target - a) / b:.1e} of x = 0")


if __name__ == "__main__":
    main()
