#!/usr/bin/env python3
"""GPU benchmarks (issue 6): time per Adam step on a CUDA device, in float32, of

  * the Burgers step in DeepXDE's setup (configs/burgers.json, 2780 points), and the same
    problem with 1e5 and 1e6 points (the interior set enlarged);
  * the Laplacian residual of a 4 x 64 tanh MLP at d = 10, 4096 points (laplacian.py's config);

for pinn-train's engines taylor, forward and autograd, each without and with a captured CUDA
graph (training[0].cuda_graph), against the plain PyTorch peers (peers/*.py) eager and under
torch.compile (default mode, and reduce-overhead, which replays CUDA graphs), in one run, as
ratios against PyTorch eager and torch.compile. The eager peers take their derivatives by nested
autograd; the compiled ones by torch.func (torch.compile cannot compile nested autograd, see
peers/peer_common.compiled_step). torch.compile's peers run on the 2780-point Burgers step and the
Laplacian only: each compiles for tens of seconds.

Run it on the GPU machine with pinn-train built against a CUDA LibTorch (scripts/device/
build_cuda.sh); PyTorch from the same Python. --device cpu --quick smoke-tests it anywhere.

    python3 scripts/bench/gpu.py [--device cuda] [--steps 300] [--rounds 3] [--problems ...] [--quick]
"""

import sys

import common as c
import laplacian

EAGER = "pytorch"
COMPILED = "pytorch-compile"
PEERS = {EAGER: [], COMPILED: ["--compile"],
         "pytorch-compile reduce-overhead": ["--compile", "--compile-mode", "reduce-overhead"]}
ALL_PEERS = list(PEERS)
CASES = [  # (name, pinn-train config or None for Burgers, --set overrides, peer script, peer args, peers)
    ("burgers 2780", None, [], "burgers_step.py", [], ALL_PEERS),
    ("burgers 1e5", None, [f"points.interior.count={100_000 - 240}"], "burgers_step.py",
     ["--interior", 100_000 - 240], [EAGER]),
    ("burgers 1e6", None, [f"points.interior.count={1_000_000 - 240}"], "burgers_step.py",
     ["--interior", 1_000_000 - 240], [EAGER]),
    ("laplacian d=10", laplacian.config(10), [], "laplacian_step.py", ["--d", 10, "--batch", laplacian.BATCH],
     [EAGER, COMPILED]),
]
GRAPH = " + graph"
# The fused loss is CPU-only, so its variant is left out here.
VARIANTS = [(engine, graph) for engine in c.ENGINES if engine not in c.VARIANTS for graph in (False, True)]


def pinn_command(args, config, engine, graph, sets):
    cmd = ["timeout", args.timeout, c.pinn_train(), "bench", config, "--engine", engine, "--steps", args.steps // args.rounds,
           "--warmup", args.warmup, "--chunks", 1, "--set", "dtype=float32", "--set", f"device={args.device}"]
    for s in sets + ([f"training[0].cuda_graph=true"] if graph else []):
        cmd += ["--set", s]
    return cmd


def peer_command(args, script, peer_args, extra):
    return ["timeout", args.timeout, sys.executable, c.PEERS / script, "--dtype", "float32", "--device", args.device,
            "--threads", args.threads, "--steps", args.steps // args.rounds, "--warmup", args.warmup,
            *peer_args, *extra]


def measure(args, config, sets, script, peer_args, peers):
    """{label: fastest ms/step over the rounds, or None when it failed}; a variant whose step was
    not captured as a CUDA graph is labelled so."""
    commands = {f"{engine}{GRAPH if graph else ''}": pinn_command(args, config, engine, graph, sets)
                for engine, graph in VARIANTS}
    commands.update({label: peer_command(args, script, peer_args, PEERS[label]) for label in peers})
    best = {label: None for label in commands}
    uncaptured = set()
    for r in range(args.rounds):
        for label, cmd in commands.items():
            if r > 0 and best[label] is None:
                continue  # failed in the first round
            print(f"  {label} (round {r + 1}/{args.rounds}) ...", file=sys.stderr, flush=True)
            try:
                result, _ = c.run_json([str(x) for x in cmd], c.child_env(args))
            except c.BenchError as e:
                print(f"  {label} failed: {e}", file=sys.stderr)
                continue
            print(f"  {label}: {result['ms_per_step']:.4f} ms/step", file=sys.stderr, flush=True)
            if label.endswith(GRAPH) and not result.get("cuda_graph"):
                print(f"  {label}: the step was not captured (it ran without a graph)", file=sys.stderr)
                uncaptured.add(label)
            best[label] = min(filter(None, [best[label], result["ms_per_step"]]))
    return {label + (" (not captured)" if label in uncaptured else ""): ms for label, ms in best.items()}


def device_name(device):
    """The GPU's name (from this Python's PyTorch) for the table's caption, else the device."""
    try:
        import torch

        if device.startswith("cuda") and torch.cuda.is_available():
            return f"{device} ({torch.cuda.get_device_name(torch.device(device))}, PyTorch {torch.__version__})"
    except ImportError:
        pass
    return device


def main():
    p = c.parser(__doc__, steps=300, warmup=30)
    p.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for a smoke test (default cuda)")
    p.add_argument("--timeout", type=int, default=300, help="seconds each measured process may take (default 300)")
    p.add_argument("--problems", default=",".join(case[0] for case in CASES),
                   help="comma-separated subset of: " + ", ".join(case[0] for case in CASES))
    args = c.parse(p)
    chosen = args.problems.split(",")
    unknown = set(chosen) - {case[0] for case in CASES}
    if unknown:
        p.error(f"unknown problem(s): {', '.join(sorted(unknown))}")
    c.ensure_burgers_reference()
    rows = []
    for name, config, sets, script, peer_args, peers in CASES:
        if name not in chosen:
            continue
        print(f"{name}:", file=sys.stderr)
        if config is None:
            best = measure(args, c.BURGERS, sets, script, peer_args, peers)
        else:
            with c.temp_config(config) as path:
                best = measure(args, path, sets, script, peer_args, peers)
        for label, ms in best.items():
            rows.append([name, label, c.fmt(ms, ".3f"), c.speedup(best[EAGER], ms),
                         c.speedup(best.get(COMPILED), ms)])
    c.print_table(["problem", "engine", "ms/step", "vs pytorch eager", "vs torch.compile"], rows,
                  f"Adam step on {device_name(args.device)}, float32; {args.steps} timed steps after {args.warmup} "
                  f"untimed in {args.rounds} interleaved rounds, the fastest kept")


if __name__ == "__main__":
    main()
