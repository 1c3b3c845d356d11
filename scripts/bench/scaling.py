#!/usr/bin/python3
"""(c) Scaling with the number of points: time and peak memory per Adam step of the Burgers
problem (configs/burgers.json) with 1e2, 1e3, 1e4 and 1e5 interior points (plus the 80 boundary
and 160 initial points), for pinn-train's engines taylor, forward and autograd and the plain
PyTorch script peers/burgers_step.py, each run in its own process. Peak RSS is the child's
ru_maxrss: it includes the process's fixed cost (the libraries; for the peer, the Python
interpreter and the torch module too), so compare the growth, and the engines against each other.
Larger sizes run fewer steps (--steps applies up to 2000 interior points, then shrinks as 1/points,
at least 5).

    /usr/bin/python3 scripts/bench/scaling.py [--dtype float32] [--steps 200] [--threads T] [--quick]
"""

import common as c

SIZES = (100, 1000, 10000, 100000)


def steps_for(args, interior):
    """Timed and warm-up steps at this size: the same work as --steps at 2000 points, within bounds."""
    steps = max(min(args.steps, 5), min(args.steps, args.steps * 2000 // interior))
    return steps, min(args.warmup, max(1, steps // 2))


def main():
    args = c.parse(c.parser(__doc__))
    c.ensure_burgers_reference()
    rows = []
    for dtype in args.dtypes:
        for n in SIZES:
            steps, warmup = steps_for(args, n)
            results = c.bench_all(args, dtype, c.BURGERS, "burgers_step.py", sets=[f"points.interior.count={n}"],
                                  peer_args=["--interior", n], steps=steps, warmup=warmup)
            rss = {engine: r and r["rss_mib"] for engine, r in results.items()}
            for engine, r in results.items():
                per_point = r and 1e3 * r["ms_per_step"] / r["points"]
                rows.append([dtype, n, engine, steps, c.fmt(c.ms(r)), c.fmt(per_point, ".3f"),
                             c.fmt(rss[engine], ".0f"), c.ratio(rss[engine], rss["autograd"])])
    c.print_table(["dtype", "interior points", "engine", "steps", "ms/step", "µs/point-step", "peak RSS MiB",
                   "RSS / autograd"],
                  rows, c.caption(args, "Burgers Adam step vs points (µs per point of all sets)",
                                  steps="steps as in the steps column"))


if __name__ == "__main__":
    main()
