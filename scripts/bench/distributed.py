#!/usr/bin/python3
"""One run across processes: what a step costs in compute and in communication, and the scaling
model that implies.

Trains Burgers (configs/burgers.json, float32, Adam) at 1e4, 1e5 and 1e6 interior points three
ways, interleaved round by round:

    1p1t  one process, one thread
    1p2t  one process, two threads (the machine's two cores by threads)
    2p1t  `pinn-train launch --nproc 2`, one thread each (the two cores by ranks, Gloo)

and reads each run's summary.json: the step time (training time / steps; log_every = steps, so
one history evaluation), and for 2p1t the time rank 0 spent in collectives per step (its wait
for the other rank included) and the bytes it all-reduced per step. Prints a table with the
ratios 1p1t / 2p1t (the data-parallel speed-up on 2 cores) and 1p2t / 2p1t (ranks against threads).

Then the scaling model for P GPUs, per step:  T(P) = compute(N / P) + allreduce(P, bytes), the
all-reduce the faster of a ring,  2 (P - 1) alpha + 2 (P - 1) / P * bytes / beta,  and a tree,
2 log2(P) alpha + 2 bytes / beta  (NCCL chooses between them by size; a gradient of a few KB is
latency-bound, where the tree wins).  Compute is the
GPU step measured in docs/performance.md (H200, Burgers, taylor: 1e5 points 5.79 ms, 1e6 points
11.90 ms; linear in points between and above); bytes is what this run all-reduced per step;
alpha and beta are ASSUMED NCCL figures (not measured here; no GPU): within a node (NVLink)
alpha = 10 us, beta = 150 GB/s; across nodes (InfiniBand) alpha = 25 us, beta = 20 GB/s.

    /usr/bin/python3 scripts/bench/distributed.py [--points 1e4,1e5,1e6] [--rounds 2]

Measure on a quiet machine: two busy processes on two cores leave nothing for a third.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BURGERS, ensure_burgers_reference, pinn_train  # noqa: E402

# Steps per run: about 2-6 s of training at each size on the 2-core VM.
STEPS = {10_000: 600, 100_000: 80, 1_000_000: 12}
WAYS = ("1p1t", "1p2t", "2p1t")
# The H200's Burgers step (docs/performance.md, taylor, float32): ms at a number of points.
GPU_STEP_MS = {100_000: 5.79, 1_000_000: 11.90}
FABRICS = {"NVLink (in a node)": (10e-6, 150e9), "InfiniBand (across nodes)": (25e-6, 20e9)}


def run(way, points, steps, folder):
    """Trains once; returns the summary."""
    output = folder / f"{way}-{points}"
    settings = [
        "--set", f"points.interior.count={points}",
        "--set", "dtype=float32",
        "--set", f'training=[{{"type":"adam","lr":1e-3,"iterations":{steps},"log_every":{steps}}}]',
        "--set", "checkpoint_every=0",
        "--set", f"reference.every={steps}",
        "-q", "--force", "-o", str(output),
    ]
    binary = str(pinn_train())
    if way == "2p1t":
        command = [binary, "launch", "--nproc", "2", str(BURGERS), "--threads", "1"] + settings
    else:
        command = [binary, str(BURGERS), "--threads", way[2]] + settings
    env = dict(os.environ, OMP_NUM_THREADS="1" if way != "1p2t" else "2")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return json.loads((output / "summary.json").read_text())


def step_ms(summary):
    return 1e3 * summary["training_time_s"] / summary["steps"]


def allreduce_s(ranks, nbytes, alpha, beta):
    ring = 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * nbytes / beta
    tree = 2 * math.log2(ranks) * alpha + 2 * nbytes / beta
    return min(ring, tree)


def gpu_compute_ms(points):
    """The H200 step at `points`, interpolated linearly in points between the measured sizes
    (and beyond them: the step grows with the points; below 1e5 it is launch-bound, kept flat)."""
    (n0, t0), (n1, t1) = sorted(GPU_STEP_MS.items())
    if points <= n0:
        return t0
    return t0 + (t1 - t0) * (points - n0) / (n1 - n0)


def main():
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--points", default="1e4,1e5,1e6")
    args.add_argument("--rounds", type=int, default=2)
    args = args.parse_args()
    sizes = [int(float(p)) for p in args.points.split(",")]
    ensure_burgers_reference()
    results = {}  # (way, points) -> list of summaries
    with tempfile.TemporaryDirectory(prefix="pinn_bench_distributed_") as tmp:
        folder = Path(tmp)
        for round_index in range(args.rounds):
            for points in sizes:
                ways = WAYS if round_index % 2 == 0 else tuple(reversed(WAYS))
                for way in ways:
                    summary = run(way, points, STEPS.get(points, 50), folder)
                    results.setdefault((way, points), []).append(summary)
                    print(f"round {round_index + 1}: {way} {points:>9} points "
                          f"{step_ms(summary):9.3f} ms/step", file=sys.stderr, flush=True)

    print("| points | 1p1t ms/step | 1p2t ms/step | 2p1t ms/step | 2p1t comm ms/step | "
          "bytes/step | 1p1t / 2p1t | 1p2t / 2p1t |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    allreduced = {}
    for points in sizes:
        best = {way: min(step_ms(s) for s in results[(way, points)]) for way in WAYS}
        two = min(results[("2p1t", points)], key=step_ms)
        facts = two["distributed"]
        # Collectives outside the steps (history, metrics, the start) are few: count them in.
        comm_ms = 1e3 * facts["communication_s"] / two["steps"]
        nbytes = facts["bytes_per_rank"] / two["steps"]
        allreduced[points] = nbytes
        print(f"| {points:.0e} | {best['1p1t']:.3f} | {best['1p2t']:.3f} | {best['2p1t']:.3f} | "
              f"{comm_ms:.3f} | {nbytes:,.0f} | {best['1p1t'] / best['2p1t']:.2f}x | "
              f"{best['1p2t'] / best['2p1t']:.2f}x |")

    nbytes = max(allreduced.values())
    print(f"\nScaling model (assumed NCCL alpha/beta; compute from the H200 step in "
          f"docs/performance.md; {nbytes:,.0f} bytes all-reduced per step):")
    print("| fabric | points per GPU | GPUs | compute ms | all-reduce ms | efficiency |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for fabric, (alpha, beta) in FABRICS.items():
        for per_gpu in (100_000, 1_000_000):
            for ranks in (8, 64, 1024):
                compute = gpu_compute_ms(per_gpu)
                comm = 1e3 * allreduce_s(ranks, nbytes, alpha, beta)
                print(f"| {fabric} | {per_gpu:.0e} | {ranks} | {compute:.2f} | {comm:.3f} | "
                      f"{compute / (compute + comm):.1%} |")
    print("\n(weak scaling: the points per GPU fixed; the all-reduce does not overlap the "
          "backward pass, as it does not in pinn-train, whose fused pass returns the whole "
          "gradient at once)")


if __name__ == "__main__":
    main()
