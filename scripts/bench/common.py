"""Shared helpers of the benchmark drivers in scripts/bench/.

Every measurement runs in its own child process: `pinn-train bench CONFIG --engine E` for the
three derivative engines of pinn-train, or a plain PyTorch script from peers/ for the reference
("pytorch"). A child prints one JSON line on stdout (its last line is parsed):

    {"engine", "dtype", "points", "steps", "ms_per_step", "ms_per_step_min", "loss", ...}

and its peak resident set size is read from os.wait4's rusage (ru_maxrss). Children get the same
thread count (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, and --threads for the peers) and, unless
--malloc default is given, the same glibc malloc tuning (see MALLOC_TUNED).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEERS = Path(__file__).resolve().parent / "peers"
ENGINES = ("taylor", "taylor-tensor-loss", "forward", "autograd")
# Engine labels that are an engine with settings: taylor with its loss terms as tensor operations
# instead of inside its tiled pass (fused_loss = false), to show what the fused loss buys.
VARIANTS = {"taylor-tensor-loss": ("taylor", ("fused_loss=false",))}
PEER = "pytorch"
DTYPES = ("float32", "float64")
BURGERS = REPO / "configs" / "burgers.json"

# glibc returns freed blocks above its mmap threshold to the kernel at once, so every large
# tensor of every step costs fresh page faults; raising the mmap and trim thresholds to 256 MiB
# (as docs/performance.md's figures were measured; glibc 2.36 accepts it) keeps them in the heap. Applied
# to every child alike, pinn-train and the PyTorch peers; --malloc default leaves glibc's defaults.
MALLOC_TUNED = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}


class BenchError(RuntimeError):
    """A child failed or printed no JSON line."""


def pinn_train():
    """The pinn-train binary: $PINN_TRAIN, else build/pinn-train under the repository root."""
    path = Path(os.environ.get("PINN_TRAIN") or REPO / "build" / "pinn-train")
    if not path.exists():
        sys.exit(f"pinn-train not found at {path} (build it, or set PINN_TRAIN)")
    return path


def ensure_burgers_reference():
    """configs/burgers.json reads data/burgers_reference.csv; write it when missing."""
    csv = REPO / "configs" / "data" / "burgers_reference.csv"
    if not csv.exists():
        subprocess.run([sys.executable, str(REPO / "scripts" / "burgers_reference.py"), str(csv)],
                       check=True)


def parser(doc, dtype="float32", steps=200, warmup=20):
    """The options every driver takes; `doc` is the driver's module docstring."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=steps, help=f"timed steps (default {steps})")
    p.add_argument("--warmup", type=int, default=warmup, help=f"untimed steps first (default {warmup})")
    p.add_argument("--dtype", choices=DTYPES + ("both",), default=dtype, help=f"default {dtype}")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads of every child (default: all cores; on a loaded machine use 1, since "
                        "every parallel region then waits for a busy core)")
    p.add_argument("--malloc", choices=("tuned", "default"), default="tuned",
                   help="glibc malloc thresholds of the children (default tuned, see common.py)")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds per engine, the fastest kept (default 3; see bench_all)")
    p.add_argument("--quick", action="store_true", help="smoke test: 3 timed steps, 1 warm-up, 1 round")
    return p


def parse(p):
    args = p.parse_args()
    if args.quick:
        args.steps, args.warmup, args.rounds = 3, 1, 1
    args.dtypes = DTYPES if args.dtype == "both" else (args.dtype,)
    return args


def child_env(args):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    if args.malloc == "tuned":
        env.update(MALLOC_TUNED)
    return env


def run_json(cmd, env=None):
    """Runs cmd; returns (the JSON object on its last stdout line, its peak RSS in MiB)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        out = proc.stdout.read().decode()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)  # reaps the child, so Popen must not wait
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise BenchError(f"{' '.join(map(str, cmd))}: exit {proc.returncode}\n{stderr[-2000:]}")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        raise BenchError(f"{' '.join(map(str, cmd))}: last line is not JSON ({e}): {lines[-1]!r}")
    return result, usage.ru_maxrss / 1024  # Linux reports ru_maxrss in KiB


def train_run(cmd):
    """Runs a training command (pinn-train CONFIG -o RUN ...) with the tuned malloc; returns the
    run's summary.json as a dict. The run directory is the argument after -o."""
    done = subprocess.run([str(a) for a in cmd], env=dict(os.environ, **MALLOC_TUNED),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n"
                         f"{done.stderr[-2000:]}")
    run = Path(cmd[list(cmd).index("-o") + 1])
    return json.loads((run / "summary.json").read_text())


@contextmanager
def temp_config(config):
    """Writes `config` (a dict) to a temporary JSON file and yields its path."""
    with tempfile.TemporaryDirectory(prefix="pinn-bench-") as tmp:
        path = Path(tmp) / f"{config.get('name', 'bench')}.json"
        path.write_text(json.dumps(config, indent=2))
        yield path


def bench_pinn(args, config, engine, dtype, steps, warmup, sets=()):
    """pinn-train bench on CPU; returns its JSON object with "rss_mib" added."""
    engine, variant_sets = VARIANTS.get(engine, (engine, ()))
    sets = tuple(sets) + variant_sets
    cmd = [pinn_train(), "bench", config, "--engine", engine, "--steps", steps, "--warmup", warmup,
           "--set", f"dtype={dtype}", "--set", "device=cpu"]
    for s in sets:
        cmd += ["--set", s]
    return _measure(args, cmd)


def bench_peer(args, script, dtype, steps, warmup, peer_args=()):
    """A PyTorch peer script from peers/; returns its JSON object with "rss_mib" added."""
    cmd = [sys.executable, PEERS / script, "--dtype", dtype, "--threads", args.threads,
           "--steps", steps, "--warmup", warmup, *peer_args]
    return _measure(args, cmd)


def _measure(args, cmd):
    result, rss = run_json([str(c) for c in cmd], child_env(args))
    result["rss_mib"] = rss
    return result


def bench_all(args, dtype, config, peer, sets=(), peer_args=(), steps=None, warmup=None):
    """Every engine and the peer: {engine: result, or None when it failed}.

    The machine's speed drifts (a VM's neighbours), so the engines run in --rounds interleaved
    rounds, one process each per round with steps / rounds timed steps, the order rotating from
    round to round; an engine's result is its fastest round (ms_per_step), with the fastest chunk
    of any round (ms_per_step_min) and the largest peak RSS. steps and warmup default to --steps
    and --warmup; sets are pinn-train --set overrides."""
    steps = steps or args.steps
    warmup = args.warmup if warmup is None else warmup
    rounds = max(1, min(args.rounds, steps))
    engines = ENGINES + (PEER,)
    runs = {engine: [] for engine in engines}
    for r in range(rounds):
        for engine in engines[r % len(engines):] + engines[:r % len(engines)]:
            if r > 0 and not runs[engine]:
                continue  # it failed in the first round
            print(f"  {dtype} {engine} (round {r + 1}/{rounds}) ...", file=sys.stderr, flush=True)
            try:
                if engine == PEER:
                    result = bench_peer(args, peer, dtype, steps // rounds, warmup, peer_args)
                else:
                    result = bench_pinn(args, config, engine, dtype, steps // rounds, warmup, sets)
                runs[engine].append(result)
            except BenchError as e:
                print(f"  {engine} failed: {e}", file=sys.stderr)
    results = {engine: _fastest(done) for engine, done in runs.items()}
    _check_same_problem(results, dtype)
    return results


def _fastest(rounds):
    """The fastest of an engine's rounds, with the best chunk and the peak RSS of all of them."""
    if not rounds:
        return None
    best = dict(min(rounds, key=lambda r: r["ms_per_step"]))
    best["ms_per_step_min"] = min(r["ms_per_step_min"] for r in rounds)
    best["rss_mib"] = max(r["rss_mib"] for r in rounds)
    return best


def _check_same_problem(results, dtype):
    """Warns when a child ran another dtype, or another number of points than the others."""
    done = {engine: r for engine, r in results.items() if r}
    points = {r["points"] for r in done.values()}
    if any(r["dtype"] != dtype for r in done.values()) or len(points) > 1:
        print("  warning: the runs differ: " + ", ".join(
            f"{e} {r['dtype']} {r['points']} points" for e, r in done.items()), file=sys.stderr)


def ms(result):
    return result["ms_per_step"] if result else None


def timing_cells(results, engine, *references):
    """[ms/step, best chunk's ms/step, then the speed-up against each reference engine]."""
    result = results[engine]
    return [fmt(ms(result)), fmt(result and result["ms_per_step_min"]),
            *(speedup(ms(results[ref]), ms(result)) for ref in references)]


def fmt(value, spec=".2f", suffix=""):
    """A table cell: '-' for a missing value."""
    return "-" if value is None else f"{value:{spec}}{suffix}"


def speedup(reference, value):
    """How many times faster than the reference (reference time / this time)."""
    return fmt(reference / value if reference and value else None, ".2f", "x")


def ratio(value, reference):
    """This / reference (for memory: how many times as much)."""
    return fmt(value / reference if reference and value else None, ".2f", "x")


def cpu_model():
    """The CPU's model name with its family and model numbers (from /proc/cpuinfo), e.g.
    "AMD EPYC (family 25, model 17)": a speed-up holds for the CPU it was measured on."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if not line.strip():
                    break  # the first CPU's block is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        return "unknown CPU"
    name = fields.get("model name", "unknown CPU")
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def caption(args, what, steps=None):
    """The line above a table: what it measures and how (steps: overrides the step count text),
    on which CPU."""
    malloc = "tuned malloc" if args.malloc == "tuned" else "glibc default malloc"
    steps = steps or (f"{args.steps} timed steps after {args.warmup} untimed, "
                      f"fastest of {args.rounds} interleaved rounds")
    return f"{what}; {cpu_model()}, {args.threads} thread(s), {steps}, {malloc}"


def print_table(headers, rows, title=None):
    """A markdown table with aligned columns; columns whose cells look numeric align right."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    right = [bool(rows) and all(_numeric(r[i]) for r in rows) for i in range(len(headers))]

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)) + " |"

    if title:
        print(title)
        print()
    print(line(headers))
    print("| " + " | ".join("-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, right)) + " |")
    for row in rows:
        print(line(row))


def _numeric(cell):
    try:
        float(cell.rstrip("x%"))
        return True
    except ValueError:
        return cell == "-"
