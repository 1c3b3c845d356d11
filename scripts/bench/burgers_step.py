#!/usr/bin/python3
"""(a) The Burgers Adam step: time per step of configs/burgers.json (DeepXDE's setup: 2-20-20-20-1
tanh, 2540 + 80 + 160 points, one Adam step = loss with u_t, u_x, u_xx, parameter gradient, update)
for pinn-train's engines taylor, forward and autograd (`pinn-train bench`) and the plain PyTorch
script peers/burgers_step.py, in float32 and float64. Speed-up = the reference's ms/step / this
engine's ms/step (above 1: faster than the reference).

    /usr/bin/python3 scripts/bench/burgers_step.py [--dtype both] [--steps 200] [--threads T] [--quick]
"""

import common as c


def main():
    args = c.parse(c.parser(__doc__, dtype="both"))
    c.ensure_burgers_reference()
    rows = []
    for dtype in args.dtypes:
        results = c.bench_all(args, dtype, c.BURGERS, "burgers_step.py")
        rows += [[dtype, engine, *c.timing_cells(results, engine, c.PEER, "autograd")] for engine in results]
    c.print_table(["dtype", "engine", "ms/step", "best ms/step", "speed-up vs pytorch", "speed-up vs autograd"],
                  rows, c.caption(args, "Burgers Adam step (configs/burgers.json, 2780 points)"))


if __name__ == "__main__":
    main()
