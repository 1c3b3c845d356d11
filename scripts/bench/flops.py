#!/usr/bin/python3
"""(d) Achieved FLOP rate of the Burgers Adam step against the machine's matmul peak.

The peak is the best rate of torch.mm on two square 2048 matrices, in this process, with the same
thread count and dtype as the benchmark. The FLOP count of one step of configs/burgers.json is
analytic (see step_flops): matmuls only, the activations' elementwise work is left out, so the
achieved rates are lower bounds. Then pinn-train's engines taylor, forward and autograd and the
plain PyTorch script peers/burgers_step.py are timed, and each gets FLOPs / time.

    /usr/bin/python3 scripts/bench/flops.py [--dtype float32] [--steps 200] [--threads T] [--quick]
"""

import json
import time

import torch

import common as c

MM_SIZE = 2048
# The derivative channels each interior point pushes through the network: u, u_x, u_t, u_xx.
INTERIOR_CHANNELS = 4


def step_flops(config):
    """Matmul FLOPs of one Adam step of the config's problem (Burgers).

    forward  = sum over Linear layers (in -> out) of 2 * C * N * in * out, summed over point sets,
               with C = INTERIOR_CHANNELS = 4 (u, u_x, u_t, u_xx) on the interior set (2540 points)
               and C = 1 (u only) on the boundary and initial sets (80 + 160 points);
    backward = 2 * forward (one matmul for the input gradient, one for the weight gradient, each
               the size of the forward one);
    step     = 3 * forward.
    For 2-20-20-20-1: sum(in * out) = 40 + 400 + 400 + 20 = 860, forward = 2 * 860 * (4 * 2540 + 240)
    = 17.9 MFLOP, step = 53.7 MFLOP.
    """
    widths = [len(config["inputs"]), *config["network"]["hidden"], len(config["outputs"])]
    weights = sum(n_in * n_out for n_in, n_out in zip(widths[:-1], widths[1:]))
    rows = sum(s["count"] * (INTERIOR_CHANNELS if name == "interior" else 1) for name, s in config["points"].items())
    return 3 * 2 * weights * rows


def peak_gflops(dtype, threads, reps):
    """Best torch.mm rate on square MM_SIZE matrices, GFLOP/s."""
    torch.set_num_threads(threads)
    a, b = (torch.randn(MM_SIZE, MM_SIZE, dtype=getattr(torch, dtype)) for _ in range(2))
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * MM_SIZE**3 / best / 1e9


def main():
    args = c.parse(c.parser(__doc__))
    c.ensure_burgers_reference()
    flops = step_flops(json.loads(c.BURGERS.read_text()))
    rows, peaks = [], []
    for dtype in args.dtypes:
        peak = peak_gflops(dtype, args.threads, reps=3 if args.quick else 10)
        peaks.append(f"{dtype} {peak:.1f}")
        results = c.bench_all(args, dtype, c.BURGERS, "burgers_step.py")
        for engine, r in results.items():
            rate = r and flops / (r["ms_per_step"] * 1e6)
            rows.append([dtype, engine, c.fmt(c.ms(r)), c.fmt(rate), c.fmt(rate and 100 * rate / peak, ".1f", "%")])
    c.print_table(["dtype", "engine", "ms/step", "GFLOP/s", "of peak"], rows,
                  c.caption(args, f"Burgers Adam step, {flops / 1e6:.1f} MFLOP (matmuls); "
                                  f"torch.mm {MM_SIZE}^2 peak GFLOP/s: {', '.join(peaks)}"))


if __name__ == "__main__":
    main()
