#!/usr/bin/python3
"""The Allen-Cahn recipe's ablation, as in jaxpi's (Wang et al. 2023, arXiv 2308.08468, table of
the Allen-Cahn ablation): configs/allen_cahn.json trained with its whole recipe, then with each
ingredient off in turn (Fourier features, random weight factorization, grad-norm weighting,
causal weighting), then with all four off, each for the same training time, and the relative L2
error against the reference at the end of each. The periodic embedding stays in every variant
(it replaces the periodic boundary condition, as in jaxpi's ablation).

    /usr/bin/python3 scripts/bench/allen_cahn_ablation.py [--minutes 6] [--parallel 2]
        [--threads 1] [--out runs/allen_cahn_ablation] [--quick]

Each variant's Adam stage (the config's only stage) gets --minutes of training time (its
max_seconds). --parallel runs that many variants at once, each on --threads
threads (2 x 1 on the 2-core VM: every variant then sees the same machine). --quick: 20 s each.
Prints a Markdown table.
"""

import argparse
import copy
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common as c

CONFIG = c.REPO / "configs" / "allen_cahn.json"
REFERENCE = c.REPO / "configs" / "data" / "allen_cahn_reference.csv"


def without_fourier(config):
    config["network"].pop("fourier_features", None)


def without_rwf(config):
    config["network"].pop("rwf", None)


def without_weighting(config):
    config.pop("weighting", None)


def without_causal(config):
    for term in config["losses"]:
        term.pop("causal", None)


VARIANTS = {
    "full recipe": [],
    "no Fourier features": [without_fourier],
    "no RWF": [without_rwf],
    "no grad-norm weighting": [without_weighting],
    "no causal weighting": [without_causal],
    "all four off": [without_fourier, without_rwf, without_weighting, without_causal],
}


def train(name, edits, args, out):
    config = json.loads(CONFIG.read_text())
    for edit in edits:
        edit(config)
    seconds = args.minutes * 60
    config["training"][0]["max_seconds"] = seconds
    config["reference"]["file"] = str(REFERENCE)
    config["threads"] = args.threads
    slug = name.replace(" ", "_").replace("-", "_")
    path = out / f"{slug}.json"
    path.write_text(json.dumps(config, indent=2))
    print(f"  training {name} ({args.minutes} min) ...", file=sys.stderr, flush=True)
    summary = c.train_run([c.pinn_train(), path, "-o", out / slug, "--force", "-q"])
    return summary


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=6.0)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/allen_cahn_ablation")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.minutes = 20 / 60
    if not REFERENCE.exists():
        subprocess.run([sys.executable, c.REPO / "scripts" / "allen_cahn_reference.py", REFERENCE],
                       check=True, capture_output=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.parallel) as pool:
        futures = {name: pool.submit(train, name, edits, args, out) for name, edits in VARIANTS.items()}
        summaries = {name: future.result() for name, future in futures.items()}
    rows = []
    for name, summary in summaries.items():
        rows.append([name, c.fmt(summary["metrics"]["l2_rel_u"], ".3e"), summary["steps"],
                     c.fmt(summary["training_time_s"], ".0f")])
    c.print_table(["variant", "relative L2 error", "steps", "training s"], rows,
                  f"Allen-Cahn ablation (configs/allen_cahn.json): {args.minutes:g} min of training "
                  f"each, {args.threads} thread(s), {args.parallel} at a time")


if __name__ == "__main__":
    main()
