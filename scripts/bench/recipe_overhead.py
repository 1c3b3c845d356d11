#!/usr/bin/python3
"""What the training recipe costs per step: the Burgers Adam step (configs/burgers.json, taylor
engine, fused loss) plain, with causal weights on its residual ("causal": 32 chunks by t), with
adaptive grad-norm loss weights ("weighting", recomputed every 1000 steps, their cost included:
`pinn-train bench` updates them when due, from step 0), with both, and with NTK weights instead
(128 points per term, one backward pass per point). The variants run in
--rounds interleaved rounds (one process each per round); each keeps its fastest round. Ratio =
the variant's ms/step / the plain step's (the target for "both" is at most 1.10).

    /usr/bin/python3 scripts/bench/recipe_overhead.py [--dtype float64] [--steps 3000]
        [--rounds 3] [--threads 2] [--quick]

--steps must cover several weight updates to count them fairly (3000 steps: updates at 0, 1000
and 2000, plus the warm-up's). Run it on a quiet machine.
"""

import sys

import common as c

CAUSAL = 'losses[0].causal={"input": "t", "chunks": 32, "epsilon": 1.0}'
WEIGHTING = 'weighting={"method": "grad_norm", "every": 1000}'
NTK = 'weighting={"method": "ntk", "every": 1000}'
VARIANTS = {
    "plain": (),
    "causal": (CAUSAL,),
    "grad_norm every 1000": (WEIGHTING,),
    "causal + grad_norm": (CAUSAL, WEIGHTING),
    "ntk every 1000 (128 points)": (NTK,),
}


def main():
    args = c.parse(c.parser(__doc__, dtype="float64", steps=3000, warmup=100))
    c.ensure_burgers_reference()
    for dtype in args.dtypes:
        runs = {name: [] for name in VARIANTS}
        names = list(VARIANTS)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                print(f"  {dtype} {name} (round {r + 1}/{args.rounds}) ...", file=sys.stderr,
                      flush=True)
                runs[name].append(c.bench_pinn(args, c.BURGERS, "taylor", dtype,
                                               args.steps, args.warmup, VARIANTS[name]))
        best = {name: min(done, key=lambda result: result["ms_per_step"])
                for name, done in runs.items()}
        plain = best["plain"]["ms_per_step"]
        rows = [[name, c.fmt(result["ms_per_step"]), c.fmt(result["ms_per_step_min"]),
                 c.ratio(result["ms_per_step"], plain), result["cpu_kernels"]]
                for name, result in best.items()]
        c.print_table(["variant", "ms/step", "best chunk ms/step", "vs plain", "kernels"], rows,
                      c.caption(args, f"Burgers Adam step with the recipe's weights, {dtype}"))


if __name__ == "__main__":
    main()
