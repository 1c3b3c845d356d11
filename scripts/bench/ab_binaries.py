#!/usr/bin/python3
"""A/B of two pinn-train binaries (say, before and after a refactoring) on the Burgers step and
the d = 10 Laplacian step: `pinn-train bench` on each config with each engine, the two binaries
interleaved round by round (this VM's speed drifts), the fastest round kept. Prints ms/step of
each, their ratio, and whether the loss after the timed steps is the same to the last digit
(same steps, same seed: a refactoring that changes no arithmetic gives bit-equal losses).

    /usr/bin/python3 scripts/bench/ab_binaries.py OLD_BINARY NEW_BINARY [--rounds 5] [--steps 200]
        [--engines taylor,autograd] [--configs "burgers,laplacian d=10"]
"""

import argparse
import json

import common as c
import laplacian


def bench(binary, config, engine, args):
    cmd = [binary, "bench", config, "--engine", engine, "--steps", args.steps, "--warmup", args.warmup,
           "--set", f"threads={args.threads}"]
    result, _ = c.run_json([str(x) for x in cmd])
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--engines", default="taylor,autograd")
    p.add_argument("--configs", default="burgers,laplacian d=10", help="which of the two (comma-separated)")
    args = p.parse_args()
    c.ensure_burgers_reference()
    rows = []
    # Without "$schema": a binary older than the key refuses it.
    burgers = json.loads((c.REPO / "configs" / "burgers.json").read_text())
    burgers.pop("$schema", None)
    burgers["reference"]["file"] = str(c.REPO / "configs" / burgers["reference"]["file"])
    with c.temp_config(laplacian.config(10)) as lap10, c.temp_config(burgers) as burgers_path:
        cases = [("burgers", str(burgers_path)), ("laplacian d=10", str(lap10))]
        for name, config in [case for case in cases if case[0] in args.configs.split(",")]:
            for engine in args.engines.split(","):
                best = {"old": None, "new": None}
                losses = {"old": set(), "new": set()}
                for _ in range(args.rounds):
                    for side in ("old", "new"):
                        result = bench(getattr(args, side), config, engine, args)
                        losses[side].add(repr(result["loss"]))
                        if best[side] is None or result["ms_per_step"] < best[side]["ms_per_step"]:
                            best[side] = result
                old, new = best["old"], best["new"]
                same = losses["old"] == losses["new"] and len(losses["new"]) == 1
                rows.append([name, engine, f"{old['ms_per_step']:.2f}", f"{new['ms_per_step']:.2f}",
                             f"{new['ms_per_step'] / old['ms_per_step']:.3f}", new["loss"],
                             "yes" if same else f"NO: {sorted(losses['old'])} vs {sorted(losses['new'])}",
                             f"{old['cpu_kernels']} / {new['cpu_kernels']}"])
    c.print_table(["config", "engine", "old ms/step", "new ms/step", "new/old", "loss (new)", "same loss",
                   "cpu_kernels old / new"], rows,
                  f"A/B, fastest of {args.rounds} interleaved rounds, {args.steps} steps, {args.threads} threads")


if __name__ == "__main__":
    main()
