#!/usr/bin/python3
"""(b) The Laplacian residual of a 4 x 64 tanh MLP with d = 2, 3, 5, 10 inputs: time per step
(loss mean(lap(u)^2) on 4096 uniform points in [0, 1]^d, parameter gradient, Adam update) for
pinn-train's engines taylor, forward and autograd (`pinn-train bench` on a generated config) and
the plain PyTorch script peers/laplacian_step.py. Speed-up = the reference's ms/step / this
engine's ms/step (above 1: faster than the reference).

    /usr/bin/python3 scripts/bench/laplacian.py [--dtype float32] [--steps 200] [--threads T] [--quick]
    /usr/bin/python3 scripts/bench/laplacian.py --show-config 3    # print the config for d = 3
"""

import json

import common as c

DIMENSIONS = (2, 3, 5, 10)
BATCH = 4096
HIDDEN = [64, 64, 64, 64]


def config(d):
    """The pinn-train config of the benchmark in d dimensions."""
    inputs = [f"x{i}" for i in range(1, d + 1)]
    return {
        "name": f"bench_laplacian_d{d}",
        "description": f"Benchmark: mean(lap(u)^2) of a 4 x 64 tanh MLP on {BATCH} uniform points in [0, 1]^{d}",
        "inputs": inputs,
        "outputs": ["u"],
        "domains": {"cube": {"type": "box", "bounds": {x: [0, 1] for x in inputs}}},
        "network": {"type": "mlp", "hidden": HIDDEN, "activation": "tanh", "init": "xavier_normal"},
        "points": {"interior": {"domain": "cube", "region": "interior", "sampler": "uniform", "count": BATCH}},
        "losses": [{"name": "laplacian", "points": "interior", "residual": f"lap(u, {', '.join(inputs)})"}],
        "training": [{"type": "adam", "lr": 1e-3}],
        "device": "cpu",
        "seed": 0,
    }


def main():
    p = c.parser(__doc__)
    p.add_argument("--show-config", type=int, metavar="D", help="print the config for D inputs and exit")
    args = c.parse(p)
    if args.show_config:
        print(json.dumps(config(args.show_config), indent=2))
        return
    rows = []
    for dtype in args.dtypes:
        for d in DIMENSIONS:
            with c.temp_config(config(d)) as path:
                results = c.bench_all(args, dtype, path, "laplacian_step.py", peer_args=["--d", d, "--batch", BATCH])
            rows += [[dtype, d, engine, *c.timing_cells(results, engine, "autograd", c.PEER)] for engine in results]
    c.print_table(["dtype", "d", "engine", "ms/step", "best ms/step", "speed-up vs autograd", "speed-up vs pytorch"],
                  rows, c.caption(args, f"Laplacian residual, 4 x 64 tanh MLP, {BATCH} points, loss + gradient + Adam"))


if __name__ == "__main__":
    main()
