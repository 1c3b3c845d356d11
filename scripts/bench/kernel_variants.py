#!/usr/bin/python3
"""(e) The Taylor engine's CPU kernel variants on this CPU: the Burgers Adam step
(configs/burgers.json, engine taylor) with each variant of the tiled pass forced
(PINN_TRAIN_KERNELS=<variant>: a build, avx512, avx512-ymm-tail or avx2, and a tile size), side by
side in interleaved rounds, and the variant pinn-train's own measurement picks when nothing is
forced (each round with a fresh, empty kernel cache, so that it measures). The table gives each
variant's ms/step and its ratio to the fastest; below it, each round's pick, and whether the pick
is the fastest or within 3 % of it (its forced time against the fastest forced time). A variant's time is its fastest chunk of steps
(`pinn-train bench --chunks`) over all rounds: on a VM whose speed drifts by 10 % from one run to
the next, the fastest chunk is what a variant's code can do, and the pinn-train measurement keeps
fastest rounds too.

    /usr/bin/python3 scripts/bench/kernel_variants.py [--dtype both] [--threads T] [--steps 400] [--rounds 3]
"""

import os
import sys
import tempfile

import common as c

TOLERANCE = 0.03
CHUNKS = 10


def bench(args, dtype, steps, env_extra):
    cmd = [c.pinn_train(), "bench", c.BURGERS, "--engine", "taylor", "--steps", steps, "--warmup",
           args.warmup, "--chunks", CHUNKS if steps >= CHUNKS else 1, "--set", f"dtype={dtype}",
           "--set", "device=cpu"]
    env = c.child_env(args)
    env.pop("PINN_TRAIN_KERNELS", None)  # forced only where asked for
    env.update(env_extra)
    result, _ = c.run_json([str(x) for x in cmd], env)
    return result


def variants_of(args, dtype, cache):
    """The variants this CPU runs, as the binary lists them."""
    result = bench(args, dtype, 1, {"XDG_CACHE_HOME": cache})
    return result["cpu_kernel_variants"]


def run_dtype(args, dtype):
    with tempfile.TemporaryDirectory(prefix="pinn-kernels-") as tmp:
        variants = variants_of(args, dtype, tmp)
        if args.threads == 1:  # serial variants are the others again (the pick skips them too)
            variants = [v for v in variants if not v.endswith("/serial")]
        entries = variants + ["measured pick"]
        times = {v: [] for v in variants}
        picks = []
        per_round = max(1, args.steps // args.rounds)
        for r in range(args.rounds):
            for entry in entries[r % len(entries):] + entries[:r % len(entries)]:
                print(f"  {dtype} {entry} (round {r + 1}/{args.rounds}) ...", file=sys.stderr, flush=True)
                if entry == "measured pick":
                    fresh = os.path.join(tmp, f"round{r}")
                    result = bench(args, dtype, per_round, {"XDG_CACHE_HOME": fresh})
                    picks.append(result["cpu_kernels"])
                else:
                    result = bench(args, dtype, per_round,
                                   {"PINN_TRAIN_KERNELS": entry, "XDG_CACHE_HOME": tmp})
                    times[entry].append(result["ms_per_step_min"])
    best = {v: min(t) for v, t in times.items()}
    fastest = min(best.values())
    rows = [[dtype, v, c.fmt(best[v]), c.fmt(best[v] / fastest, ".3f", "x"),
             "yes" if best[v] == fastest else ""] for v in variants]
    verdicts = []
    for r, pick in enumerate(picks):
        ratio = best[pick] / fastest if pick in best else None
        ok = ratio is not None and ratio <= 1 + TOLERANCE
        verdicts.append(f"round {r + 1}: picked {pick}, "
                        f"{c.fmt(ratio, '.3f', 'x')} the fastest ({'within' if ok else 'NOT within'} 3 %)")
    return rows, verdicts


def main():
    args = c.parse(c.parser(__doc__, dtype="both", steps=400))
    c.ensure_burgers_reference()
    rows, verdicts = [], []
    for dtype in args.dtypes:
        dtype_rows, dtype_verdicts = run_dtype(args, dtype)
        rows += dtype_rows
        verdicts += [f"{dtype} {v}" for v in dtype_verdicts]
    c.print_table(["dtype", "variant", "best ms/step", "vs fastest", "fastest"], rows,
                  c.caption(args, "Burgers Adam step per kernel variant (configs/burgers.json, taylor)"))
    print()
    for line in verdicts:
        print(line)


if __name__ == "__main__":
    main()
