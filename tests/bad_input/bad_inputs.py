#!/usr/bin/env python3
"""pinn-train's bad-input suite: generated cases of wrong input, each run on the binary.

    bad_inputs.py [PINN_TRAIN] [-j N] [-k SUBSTR]... [--list] [--report FILE] [--timeout S]

PINN_TRAIN is the binary (default: $PINN_TRAIN, else /tmp/pinn-bin/pinn-train); ctest runs it as
`BadInput.Suite` with $<TARGET_FILE:pinn-train>. Stdlib only (/usr/bin/python3).

What each case asserts
  * the exit code is 2 (bad input), or the code documented for that case in its `note`
    (4: training diverged, 5: the output could not be written, 0 where the bad part is only a
    warning: the newest checkpoint damaged, an older one usable);
  * stderr holds exactly one error line ("pinn-train: error: ..."; a JSON log line of level
    error counts as one too, info and warning lines are ignored), and that line names where the
    bad input came from (the config file, the CSV file, the run directory, the `--set KEY=...` or
    the `--flag`), for a config value its JSON path (/losses/0/residual) and for an expression
    the column; lines below it may continue the message (a caret, a list of files);
  * nothing of a crash: no "internal error", "terminate called", "Traceback", "frame #",
    "Exception raised from", no death by a signal; no raw control character (a NUL from the
    input) copied into stderr;
  * it ends within the timeout (10 s): otherwise the case fails as a HANG (the process group is
    killed).
Each case runs in a fresh temporary directory (its working directory) with OMP_NUM_THREADS=1.

Families (generated from configs/heat_1d.json and configs/burgers.json, shrunk by datagen.py):
  file:*      the config file itself (empty, not JSON, /dev/zero, a FIFO, a 5,000-character path)
  type:*      every key of the heat config (and Burgers' own keys) given a value of a wrong type
  unknown:*   a near-miss of a key in every object, and near-miss names and values
  missing:*   required keys removed;  empty:* empty strings, lists and objects
  range:*     values out of range through --set;  huge:* 1e999 in the file's text
  expr:*      syntax errors, unknown names, wrong derivatives, in every place expressions go
  set:*       --set paths and values;  cli:*, sweep:*, resume:*, launch:* the command line
  csv:*       reference files, point files and eval --points files that are not usable tables
  eval:*      eval's run directory, --fields and --out;  rundir:* run directories
  ckpt:*      damaged checkpoints of a stopped run (made once by a ~0.1 s training)
  issue:*     the cases of the project's issue on hostile input, by its numbering
  train:*     the train command at run time: a divergence (exit 4), and one guard of fine input
              (exit 0): the heat config with its relative "$schema", trained by bare file name
A case that cannot hold where the suite runs is skipped, saying why (a read-only directory under
root). The process count stays at -j: fixtures (a trained run, a stopped run with two
checkpoints) are made once, on first use, by the worker that needs them.

Options: --list prints the cases; -k SUBSTR runs the cases whose name contains it (repeatable);
-j N runs N at a time (default 2); --report FILE writes a markdown table (case, command, exit
code, message line). Exit 0 only when every case passes; each failure is printed with its name,
argv, exit code and the start of its stderr.
"""
import argparse
import concurrent.futures
import dataclasses
import json
import os
import pathlib
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Optional, Tuple

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import datagen as dg  # noqa: E402

DEFAULT_BINARY = "/tmp/pinn-bin/pinn-train"
CONFIG = "heat_case.json"
BURGERS = "burgers_case.json"
FORBIDDEN = ("internal error", "terminate called", "Traceback", "frame #", "Exception raised from",
             "Segmentation fault", "core dumped", "what():", "AddressSanitizer")


@dataclasses.dataclass
class Case:
    name: str
    prepare: Callable[[pathlib.Path], list]  # writes the case's files; argv after the binary
    rc: Tuple[int, ...] = (2,)
    origin: Tuple[str, ...] = ()     # one of these on the error line (the file, --set, --flag)
    pointer: Tuple[str, ...] = ()    # one of these on the error line (the JSON path)
    column: bool = False             # "column" on the error line (expressions)
    mentions: Tuple[str, ...] = ()   # each somewhere in the message (the line and its continuation)
    warns: Tuple[str, ...] = ()      # with exit 0: each in a warning line
    fixture: Optional[str] = None    # a run made once per session, copied into the case directory
    note: str = ""                   # why the expected code or message differs from the rule
    skip: Optional[str] = None


def one_of(value):
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


CASES = []


def case(name, prepare, **kw):
    for key in ("origin", "pointer", "mentions", "warns"):
        if key in kw:
            kw[key] = one_of(kw[key])
    if "rc" in kw and isinstance(kw["rc"], int):
        kw["rc"] = (kw["rc"],)
    if any(c.name == name for c in CASES):
        raise SystemExit(f"duplicate case name {name}")
    CASES.append(Case(name, prepare, **kw))


def write(path, content):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def config_case(name, config, *, command="validate", args=(), file=CONFIG, files=None, setup=None,
                origin=None, pointer=None, column=False, **kw):
    """A case that writes CONFIG (a dict, or the file's text) to FILE and runs COMMAND on it."""

    def prepare(tmp):
        write(tmp / file, config if isinstance(config, (str, bytes)) else dg.dump(config))
        for relative, content in (files or {}).items():
            write(tmp / relative, content)
        if setup:
            setup(tmp)
        if command == "train":
            return [file, "-o", "run", *args]
        return [command, file, *args]

    case(name, prepare, origin=origin if origin is not None else file, pointer=pointer,
         column=column, **kw)


def set_case(name, assignment, *, base=None, command="validate", pointer=None, **kw):
    """A case that overrides one value of the heat config on the command line."""
    key = assignment.split("=", 1)[0]
    config_case(name, base or dg.heat_small(), command=command, args=["--set", assignment],
                origin=kw.pop("origin", f"--set {key}"), pointer=pointer, **kw)


def pointer_choices(path):
    """The JSON path of a value, and for a list element its list's path too."""
    choices = [dg.pointer(path)]
    if path and isinstance(path[-1], int):
        choices.append(dg.pointer(path[:-1]))
    return tuple(choices)


# ================================================================ config file as a whole


def family_file():
    text = dg.dump(dg.heat_small())
    config_case("file:empty", "")
    config_case("file:top-level-list", "[]")
    config_case("file:truncated", text[: len(text) // 2])
    config_case("file:trailing-garbage", text + "\n}}xyz")
    config_case("file:unterminated-comment", "/* a comment\n" + text)
    config_case("file:nul-in-name", text.replace('"heat_1d"', '"heat\\u0000_1d"'),
                pointer="/name", note="a NUL in a name: not a valid name (nor a path component)")
    config_case("file:invalid-utf8", text.encode().replace(b"heat_1d", b"heat_\xff\xfe"))
    config_case("file:duplicate-key", text.replace('"seed": 0', '"seed": 0, "seed": 1'),
                pointer="/seed", note="a key given twice: the second value would silently win")
    case("file:nonexistent", lambda tmp: ["validate", "no_such_config.json"],
         origin="no_such_config.json")

    def directory(tmp):
        (tmp / "cfg_dir.json").mkdir()
        return ["validate", "cfg_dir.json"]

    case("file:directory", directory, origin="cfg_dir.json")

    def fifo(tmp):
        os.mkfifo(tmp / "cfg_fifo.json")
        return ["validate", "cfg_fifo.json"]

    case("file:fifo", fifo, origin="cfg_fifo.json",
         note="nothing ever writes the FIFO: reading it must not block")
    # The project's issue, item 10: /dev/zero and a 5,000-character path as the config.
    case("issue:10-config-dev-zero", lambda tmp: ["validate", "/dev/zero"], origin="/dev/zero")
    case("issue:10-config-5000-char-path",
         lambda tmp: ["validate", long_path_text("long_config.json")],
         origin=("long_config.json", "dddddddddd"))


def long_path_text(leaf):
    """A relative path of 5,000 characters: 24 directories of 200 'd's, then LEAF (not created)."""
    path = "/".join(["d" * 200] * 24) + "/" + leaf
    return path + "x" * (5000 - len(path)) if len(path) < 5000 else path


# ================================================================ every key with a wrong type


def wrong_type(path, value, turn):
    """The next wrong-type replacement for VALUE at PATH (skipping what is valid there)."""
    k = dg.kind(value)
    choices = dg.WRONG_TYPES[k]
    if dg.normalized(path)[-2:-1] == ("bounds",):
        choices = [c for c in choices if c[0] != "number"]  # a number fixes that input: valid
    label, bad = choices[turn.get(k, 0) % len(choices)]
    turn[k] = turn.get(k, 0) + 1
    return label, bad


# Places whose type check is the same code as one already covered (an inline sampler as the
# reference's, a number list's element as inputs/0's, list entries as losses/0).
TYPE_SKIP = {("domains", "*", "time", "*", "*"), ("domains", "*", "time", "*"),
             ("reference", "points", "bounds", "*"), ("reference", "points", "bounds", "*", "*"),
             ("reference", "residuals", "*"), ("domains", "*"), ("training", "*"),
             ("evaluate", "*")}


def family_types():
    """Every key of the heat config (each place of its structure once: points/interior/count
    stands for points/ends/count too) with a value of a wrong type, then Burgers' own keys."""
    heat = dg.heat_small()
    turn, seen = {}, set()
    for path, value in dg.walk(heat):
        shape = dg.normalized(path)
        if shape in seen or shape in TYPE_SKIP or shape[:3] == ("evaluate", "*", "points"):
            continue
        seen.add(shape)
        label, bad = wrong_type(path, value, turn)
        config_case(f"type:heat{dg.pointer(path)}={label}", dg.replaced(heat, path, bad),
                    pointer=pointer_choices(path))
    config_case("type:heat/$schema=number", dict(heat, **{"$schema": 5}), pointer="/$schema")
    burgers = dg.burgers_small()
    for path in [("network", "init"), ("reference", "file"), ("training", 1, "history"),
                 ("training", 1, "tolerance_grad"), ("training", 1, "tolerance_change"),
                 ("evaluate", 0, "fields"), ("evaluate", 0, "points", "counts")]:
        label, bad = wrong_type(path, dg.get_at(burgers, path), turn)
        config_case(f"type:burgers{dg.pointer(path)}={label}", dg.replaced(burgers, path, bad),
                    file=BURGERS, files={"ref.csv": dg.burgers_csv()},
                    pointer=pointer_choices(path))


# ================================================================ unknown keys and names


def family_unknown():
    """A near-miss of one key in every kind of object; near-miss names and values."""
    heat = dg.heat_small()
    objects = [((), heat)] + [(p, v) for p, v in dg.walk(heat) if isinstance(v, dict)]
    seen = set()
    for index, (path, node) in enumerate(objects):
        shape = dg.normalized(path)
        if dg.is_name_map(path) or not node or shape in seen:
            continue
        seen.add(shape)
        keys = list(node)
        key = keys[index % len(keys)]
        wrong = dg.near_miss(key)
        if wrong in node:
            continue
        changed = dg.copy.deepcopy(heat)
        target = dg.get_at(changed, path) if path else changed
        target[wrong] = target.pop(key)
        # "unknown key 'hiden' (did you mean 'hidden'?)", or for a required key "'count' is
        # missing (found 'cuont': a typo?)": either way the misspelling is named.
        config_case(f"unknown:heat{dg.pointer(path + (wrong,))}", changed,
                    pointer=(dg.pointer(path + (wrong,)), dg.pointer(path + (key,))),
                    mentions=f"'{wrong}'")
    config_case("unknown:heat/losses/1/tpye",
                dict(heat, losses=[heat["losses"][0], {"name": "ends", "tpye": "dirichlet",
                                                       "points": "ends", "value": "0"},
                                   heat["losses"][2]]),
                pointer=("/losses/1/tpye", "/losses/1/type"), mentions="'tpye'",
                note="the typo is what to name, not the 'residual' its absence makes required")
    config_case("unknown:bounds-input-xx",
                dg.replaced(heat, ("domains", "rod", "bounds"), {"xx": [0, 1]}),
                pointer=("/domains/rod/bounds/xx", "/domains/rod/bounds"))
    config_case("unknown:solution-output-uu",
                dg.replaced(heat, ("reference", "solution"), {"uu": "sin(pi*x)"}),
                pointer=("/reference/solution/uu", "/reference/solution"))
    for path, wrong in [(("losses", 0, "points"), "interor"),
                        (("points", "interior", "sampler"), "hamersley"),
                        (("network", "activation"), "tanhh"),
                        (("training", 0, "type"), "adamm"),
                        (("dtype",), "float16")]:
        config_case(f"unknown:value{dg.pointer(path)}={wrong}", dg.replaced(heat, path, wrong),
                    pointer=pointer_choices(path))


# ================================================================ missing and empty


def family_missing_empty():
    heat = dg.heat_small()
    for path in [("inputs",), ("network",), ("points",), ("losses",), ("losses", 0, "points"),
                 ("training", 0, "type"), ("domains", "rod", "type"),
                 ("domains", "rod_time", "space"), ("reference", "points")]:
        key = path[-1]
        config_case(f"missing:heat{dg.pointer(path)}", dg.deleted(heat, path),
                    pointer=(dg.pointer(path), f"'{key}'", f'"{key}"'))
    for path, value in [(("name",), ""), (("inputs",), []), (("points",), {}),
                        (("domains", "rod", "bounds"), {}), (("losses", 0, "points"), ""),
                        (("network", "activation"), ""), (("reference", "solution"), {})]:
        config_case(f"empty:heat{dg.pointer(path)}", dg.replaced(heat, path, value),
                    pointer=pointer_choices(path))


# ================================================================ values out of range


def family_range():
    for assignment, pointer in [
        ("points.interior.count=-1", "/points/interior/count"),
        ("points.start.count=1.5", "/points/start/count"),
        ("training[0].iterations=-1", "/training/0/iterations"),
        ("training[0].lr=-1", "/training/0/lr"),
        ("training[0].betas=[1.5,0.999]", ("/training/0/betas", "/training/0/betas/0")),
        ("network.hidden=[0]", ("/network/hidden/0", "/network/hidden")),
        ("reference.points.count=1", "/reference/points/count"),
        ("domains.rod.bounds.x=[0,0]", "/domains/rod/bounds/x"),
        ("domains.rod_time.time.t=[1,0]", "/domains/rod_time/time/t"),
        ("seed=1e300", "/seed"),
        ("checkpoint_every=-1", "/checkpoint_every"),
        ('weighting={"momentum": 1}', "/weighting/momentum"),
    ]:
        set_case(f"range:{assignment}", assignment, pointer=pointer)


# ================================================================ numbers out of double range


def family_huge():
    heat = dg.heat_small()
    # The project's issue, item 8: 1e999 in the file and through --set.
    config_case("issue:08-1e999-in-file-lr",
                dg.replaced(heat, ("training", 0, "lr"), dg.RAW_1E999), pointer="/training/0/lr")
    set_case("issue:08-1e999-set-lr", "training[0].lr=1e999", pointer="/training/0/lr")
    for path in [("constants", "alpha"), ("points", "interior", "count"),
                 ("domains", "rod", "bounds", "x", 1)]:
        config_case(f"huge:1e999{dg.pointer(path)}", dg.replaced(heat, path, dg.RAW_1E999),
                    pointer=pointer_choices(path))
    text = dg.dump(dg.replaced(heat, ("losses", 0, "weight"), dg.RAW_1E999))
    config_case("huge:-1e999/losses/0/weight", text.replace("1e999", "-1e999"),
                pointer="/losses/0/weight")
    set_case("huge:set-hidden-1e999", "network.hidden=[8,1e999]",
             pointer=("/network/hidden/1", "/network/hidden"))


# ================================================================ expressions


def family_expressions():
    heat = dg.heat_small()
    residual = ("losses", 0, "residual")

    def expr_case(name, expression, column=True, **kw):
        config_case(name, dg.replaced(heat, residual, expression), pointer="/losses/0/residual",
                    column=column, **kw)

    for name, expression in [
        ("trailing-operator", "u_t - alpha*"), ("double-operator", "u_t + * u_xx"),
        ("unclosed-paren", "(u_t - alpha*u_xx"), ("extra-close-paren", "u_t - alpha*u_xx)"),
        ("double-star", "u_t - alpha**u_xx"),
        ("bad-character", "u_t - alpha*u_xx @ 2"),
        ("unicode-minus", "u_t \u2212 alpha*u_xx"), ("no-argument-call", "u_t - sin()"),
        ("unknown-name", "u_t - alfa*u_xx"),
        ("unknown-function", "u_t - sinn(u)"), ("subscript-not-input", "u_t - u_yy"),
        ("d-wrt-non-input", "u_t - d(u, y)"), ("d-of-input", "u_t - d(x, t)"),
        ("dn-on-interior-set", "u_t - dn(u)"), ("dir-wrong-length", "u_t - dir(u, [1])"),
        ("number-1e999", "u_t - 1e999*u_xx"),
    ]:
        expr_case(f"expr:{name}", expression)
    expr_case("expr:blank", "   ", column=False)
    # Elsewhere: boundary values, the reference solution, evaluation fields, transforms.
    for name, path, expression, pointer in [
        ("dirichlet-value", ("losses", 1, "value"), "sin(pi*", "/losses/1/value"),
        ("reference-solution-derivative", ("reference", "solution", "u"), "u_x",
         "/reference/solution/u"),
        ("evaluate-field", ("evaluate", 0, "fields"), ["u", "u_x +"], "/evaluate/0/fields/1"),
    ]:
        config_case(f"expr:{name}", dg.replaced(heat, path, expression),
                    pointer=(pointer, dg.pointer(path)), column=True)
    config_case("expr:transform-unknown-name",
                dict(heat, transform={"u": "x*(1-x)*M + sin(pi*x)"}), pointer="/transform/u",
                column=True)

    # The project's issue, items 1 to 4.
    n = 100_000
    expr_case("issue:01-nesting-parentheses-100000", dg.nested_parens(n))
    expr_case("issue:01-nesting-unary-minus-100000", dg.nested_unary(n))
    expr_case("issue:01-nesting-power-chain-100000", dg.power_chain(n))
    expr_case("expr:nesting-sin-calls-100000", dg.nested_calls(n))
    mb = 1 << 20
    expr_case("issue:02-residual-1MB-sum", dg.long_sum(mb), column=False,
              note="the whole expression is too large: no column required")
    expr_case("issue:02-residual-1MB-product", dg.long_product(mb), column=False,
              note="the whole expression is too large: no column required")
    order_note = "an order above what the engines support is exit 2 (training it hangs today)"
    expr_case("issue:03-derivative-d-order-13", dg.derivative_call(13), note=order_note)
    expr_case("issue:03-derivative-subscript-order-13", dg.subscript(13), note=order_note)
    expr_case("issue:04-derivative-order-30", dg.derivative_call(30), note=order_note)
    expr_case("issue:04-derivative-order-1000", dg.derivative_call(1000), note=order_note)
    config_case("issue:04-derivative-order-30-train",
                dg.replaced(heat, residual, dg.derivative_call(30)), command="train",
                pointer="/losses/0/residual", column=True,
                note="the train command: must answer fast, not start a derivative of order 30")


# ================================================================ big structures


def family_big():
    heat = dg.heat_small()
    adam_only = dg.replaced(heat, ("training",), heat["training"][:1])
    stages = [{"type": "adam", "iterations": 1, "log_every": 1}] * 100_000
    config_case("issue:05-training-100000-stages", dg.replaced(heat, ("training",), stages),
                pointer="/training")
    config_case("issue:09-network-hidden-100000",
                dg.replaced(adam_only, ("network", "hidden"), [8] * 100_000),
                pointer="/network/hidden",
                note="Adam only: the ssbroyden stage's max_parameters would refuse it first")
    config_case("issue:14-name-1MB", dg.replaced(heat, ("name",), "a" * (1 << 20)),
                pointer="/name")
    for name, run_name, note in [
            ("issue:14-name-1MB-train", "a" * (1 << 20),
             "train without -o: the run directory would be runs/<1 MB name>"),
            ("big:name-300-chars-train", "n" * 300,
             "train without -o: the run directory would be runs/<300 chars>, over NAME_MAX")]:
        def prepare(tmp, run_name=run_name):
            write(tmp / CONFIG, dg.dump(dg.replaced(heat, ("name",), run_name)))
            return [CONFIG]

        case(name, prepare, origin=CONFIG, pointer="/name", note=note)
    config_case("issue:06-threads-100000-in-config", dict(heat, threads=100_000),
                pointer="/threads")


# ================================================================ --set


def family_set():
    for assignment, pointer in [
        ("nosuch=1", "/nosuch"),
        ("network.hiden=[8]", "/network/hiden"),
        ("training[0.lr=1", ()),
        ("training[-1].lr=1", ()),
        ("training[5].lr=1", "/training/5"),
        ("=1", ()),
        ("losses[0].residual.x=1", "/losses/0/residual"),
        ("a[999999999999999999999].b=1", ()),
        ("inputs[0]=sin", "/inputs"),
    ]:
        set_case(f"set:{assignment}", assignment, pointer=pointer)
    config_case("set:no-equals-sign", dg.heat_small(), args=["--set", "seed"],
                origin="--set seed")
    set_case("issue:11-set-huge-index", "training[99999999999999999999].lr=1")
    set_case("issue:11-set-huge-index-2^64", "network.hidden[18446744073709551616]=8")


# ================================================================ command line


def family_cli():
    heat = dg.heat_small()

    def cli(name, args, origin, command="validate", config=heat, file=CONFIG, **kw):
        config_case(name, config, command=command, args=args, origin=origin, file=file, **kw)

    cli("cli:unknown-flag", ["--bogus"], "--bogus")
    cli("cli:near-miss-flag", ["--thread", "1"], "--thread")
    cli("issue:14-threads-minus-3", ["--threads", "-3"], "--threads")
    cli("issue:06-threads-100000-train", ["--threads", "100000"], "--threads", command="train")
    cli("cli:seed-huge", ["--seed", "99999999999999999999999"], "--seed")
    cli("cli:device-unknown", ["--device", "tpu"], "--device")
    cli("cli:device-index-huge", ["--device", "cuda:99999999999999999999"], "--device", rc=(2, 3),
        note="exit 3 (device not available) is documented for CUDA on a CPU build")
    cli("cli:log-format-unknown", ["--log-format", "xml"], "--log-format")
    case("cli:output-empty", lambda tmp: write(tmp / CONFIG, dg.dump(heat)) or [CONFIG, "-o", ""],
         origin=("--output", "-o"))
    cli("cli:data-dir-missing", ["--data-dir", "no_such_dir"], "no_such_dir",
        config=dg.burgers_small(), file=BURGERS)
    case("cli:validate-without-config", lambda tmp: ["validate"], origin="config")
    cli("cli:validate-two-configs", [CONFIG], CONFIG,
        note="a second positional argument must not be ignored")
    case("cli:unknown-subcommand", lambda tmp: ["trian", CONFIG], origin=("trian", CONFIG))
    cli("cli:bench-steps-negative", ["--steps", "-1"], "--steps", command="bench")
    cli("cli:bench-engine-unknown", ["--engine", "nosuch", "--steps", "1"], "--engine",
        command="bench", note="the message must name --engine, which the user wrote")
    case("cli:schema-extra-argument", lambda tmp: ["schema", "extra"], origin="extra")


def family_sweep():
    heat = dg.heat_small()

    def sweep(name, args, origin, **kw):
        config_case(name, heat, command="sweep", args=["-o", "sw", *args], origin=origin, **kw)

    grid = []
    for key in ["seed", "training[0].lr", "training[0].iterations", "network.hidden[0]",
                "points.interior.count", "losses[0].weight"]:
        grid += ["--grid", key + "=" + ",".join(str(v + 1) for v in range(10))]
    sweep("issue:07-sweep-10^6-combinations", grid, "--grid",
          note="a million runs: refused before any is checked or written")
    sweep("issue:14-sweep-random-minus-1",
          ["--random", "-1", "--range", "training[0].lr=1e-4:1e-2"], "--random")
    sweep("sweep:random-without-range", ["--random", "3"], "--random")
    sweep("sweep:range-reversed", ["--random", "2", "--range", "training[0].lr=1e-2:1e-4"],
          "--range")
    sweep("sweep:log-range-negative", ["--random", "2", "--log-range", "training[0].lr=-1:1"],
          "--log-range")
    sweep("sweep:grid-without-equals", ["--grid", "seed"], "--grid")
    sweep("sweep:grid-unknown-key", ["--grid", "sed=1,2"], "--grid",
          note="the message must name the --grid the user wrote")
    sweep("sweep:grid-bad-value", ["--grid", "points.interior.count=10,-5"], "--grid",
          pointer="/points/interior/count", note="the message must name the --grid")
    sweep("sweep:jobs-zero", ["--grid", "seed=1,2", "--run", "local", "--jobs", "0"], "--jobs")

    def into_foreign_dir(tmp):
        write(tmp / CONFIG, dg.dump(heat))
        write(tmp / "sw" / "notes.txt", "mine\n")
        return ["sweep", CONFIG, "--grid", "seed=1,2", "-o", "sw", "--force"]

    case("sweep:force-into-foreign-dir", into_foreign_dir, origin="sw", mentions="notes.txt")


def family_launch():
    heat = dg.heat_small()
    for name, args, origin in [("launch:nproc-zero", ["--nproc", "0"], "--nproc"),
                               ("launch:master-port-out-of-range",
                                ["--nproc", "1", "--master-port", "70000"], "--master-port"),
                               ("launch:grace-negative",
                                ["--nproc", "1", "--grace-seconds", "-1"], "--grace-seconds")]:
        def prepare(tmp, args=args):
            write(tmp / CONFIG, dg.dump(heat))
            return ["launch", *args, CONFIG, "-o", "run"]

        case(name, prepare, origin=origin)

    def bad_config(tmp):
        write(tmp / CONFIG, dg.dump(dg.replaced(heat, ("seed",), "abc")))
        return ["launch", "--nproc", "1", CONFIG, "-o", "run"]

    case("launch:bad-config", bad_config, origin=CONFIG, pointer="/seed",
         note="one message, not the rank's plus the launcher's")


# ================================================================ CSV files


def csv_variants():
    """(name, content or a function (case dir, file name) -> the path to give, origin)."""
    rows = dg.burgers_csv().splitlines()

    def with_row(row):
        return "\n".join(rows[:3] + [row] + rows[3:]) + "\n"

    def fifo(tmp, leaf):
        os.mkfifo(tmp / leaf)
        return leaf

    def directory(tmp, leaf):
        (tmp / leaf).mkdir()
        return leaf

    return [
        ("empty-file", b"", None),
        ("header-only", rows[0] + "\n", None),
        ("ragged-short-row", with_row("0.5,0.2"), None),
        ("non-numeric-cell", with_row("0.5,0.2,abc"), None),
        ("nul-bytes", with_row("0.5,0\0\0,0.1").encode(), None),
        ("nan-cell", with_row("0.5,0.2,nan"), None),
        ("1e999-cell", with_row("0.5,0.2,1e999"), None),
        ("unterminated-quote", '"x,t,u\n' + "\n".join(rows[1:]) + "\n", None),
        ("missing-output-column", "x,t,v\n0,0,1\n0.5,0.5,2\n", None),
        ("duplicate-column", "x,t,u,u\n0,0,1,1\n0.5,0.5,2,2\n", None),
        ("directory", directory, None),
        ("fifo", fifo, None),
        ("dev-zero", lambda tmp, leaf: "/dev/zero", "/dev/zero"),
        ("5000-char-path", lambda tmp, leaf: long_path_text("long_data.csv"),
         ("long_data.csv", "dddddddddd")),
    ]


CSV_NOTES = {
    "nan-cell": "a NaN in a reference makes every metric NaN: refused as not a number",
    "duplicate-column": "two columns 'u': which one is the reference is ambiguous",
    "nul-bytes": "a cell '0<NUL><NUL>' is not the number 0",
}


def family_csv():
    # Burgers' reference file: validate reads it.
    for name, content, origin in csv_variants():
        def prepare(tmp, content=content, leaf="ref_data.csv"):
            path = leaf
            if callable(content):
                path = content(tmp, leaf)
            else:
                write(tmp / leaf, content)
            write(tmp / BURGERS, dg.dump(dg.burgers_small(reference_file=path)))
            return ["validate", BURGERS]

        label = {"dev-zero": "issue:10-reference-csv-dev-zero",
                 "5000-char-path": "issue:10-reference-csv-5000-char-path"}.get(
            name, f"csv:reference-{name}")
        case(label, prepare, origin=origin or "ref_data.csv", note=CSV_NOTES.get(name, ""))

    # A file point set (points.interior read from a CSV with columns x, t).
    heat = dg.heat_small()
    for name, content in [("header-only", "x,t\n"), ("missing-input-column", "x,s\n0.1,0.2\n"),
                          ("dev-zero", None), ("fifo", None)]:
        def prepare(tmp, name=name, content=content):
            path = "pts_data.csv"
            if name == "dev-zero":
                path = "/dev/zero"
            elif name == "fifo":
                os.mkfifo(tmp / path)
            else:
                write(tmp / path, content)
            config = dg.replaced(heat, ("points", "interior"), {"sampler": "file", "path": path})
            write(tmp / CONFIG, dg.dump(config))
            return ["validate", CONFIG]

        case(f"csv:points-file-{name}", prepare,
             origin="/dev/zero" if name == "dev-zero" else "pts_data.csv")


# ================================================================ eval


def run_copy(tmp, fixture_dir):
    shutil.copytree(fixture_dir, tmp / "run", symlinks=True)


def family_eval():
    def eval_case(name, points, fields=None, origin=None, out="out.csv", setup=None, **kw):
        def prepare(tmp):
            path = points
            if callable(points):
                path = points(tmp)
            elif points is not None:
                write(tmp / "pts.csv", points)
                path = "pts.csv"
            if setup:
                setup(tmp)
            argv = ["eval", "run", "--points", path, "--out", out]
            if fields is not None:
                argv += ["--fields", fields]
            return argv

        case(name, prepare, origin=origin, fixture="trained", **kw)

    good = dg.points_csv()
    eval_case("issue:12-eval-header-only-csv", "x,t\n", origin="pts.csv")
    eval_case("issue:12-eval-fields-empty", good, fields="", origin="--fields")
    eval_case("issue:12-eval-fields-unbalanced", good, fields="u_x + (", origin="--fields",
              column=True)
    eval_case("issue:03-eval-subscript-order-13", good, fields=dg.subscript(13),
              origin="--fields", column=True)
    eval_case("issue:10-eval-points-dev-zero", lambda tmp: "/dev/zero", origin="/dev/zero")
    eval_case("issue:10-eval-points-5000-char-path",
              lambda tmp: long_path_text("long_points.csv"),
              origin=("long_points.csv", "dddddddddd"))
    eval_case("eval:fields-unknown-name", good, fields="u,uu", origin="--fields", column=True)
    eval_case("eval:fields-empty-element", good, fields="u,,u_x", origin="--fields")
    eval_case("eval:fields-extra-close-paren", good, fields="u)", origin="--fields", column=True)
    eval_case("eval:fields-derivative-order-1000", good, fields=dg.derivative_call(1000),
              origin="--fields", column=True)
    eval_case("eval:fields-nesting-30000", good, fields=dg.nested_parens(30_000),
              origin="--fields", column=True,
              note="30,000 deep: a command-line argument is limited to 128 KiB")
    eval_case("eval:points-missing-input-column", "x,s\n0.1,0.2\n", origin="pts.csv",
              mentions="'t'")
    eval_case("eval:points-non-numeric", "x,t\n0.1,zero\n", origin="pts.csv")
    eval_case("eval:points-nul-bytes", "x,t\n0.1,0\0\n", origin="pts.csv",
              note="a cell '0<NUL>' is not the number 0")

    def fifo(tmp):
        os.mkfifo(tmp / "pts_fifo.csv")
        return "pts_fifo.csv"

    eval_case("eval:points-fifo", fifo, origin="pts_fifo.csv")

    def existing_out(tmp):
        write(tmp / "out.csv", "a,b\n1,2\n")

    eval_case("eval:out-exists-without-force", good, origin="out.csv", setup=existing_out)

    def damaged_model(tmp):
        flip_middle(tmp / "run" / "model.pt", 64)

    eval_case("eval:run-damaged-model", good, origin=("run", "model.pt"), setup=damaged_model,
              mentions="model.pt")

    def bad_run_config(tmp):
        write(tmp / "run" / "config.json", "[1, 2")

    eval_case("eval:run-config-not-json", good, origin=("run", "config.json"),
              setup=bad_run_config)

    def not_a_run(tmp):
        write(tmp / "pts.csv", good)
        (tmp / "plain").mkdir()
        return ["eval", "plain", "--points", "pts.csv", "--out", "out.csv"]

    case("eval:not-a-run-directory", not_a_run, origin="plain")
    eval_case("eval:out-in-missing-directory", good, origin="nodir",
              out="nodir/out.csv", rc=(2, 5),
              note="exit 5 (output failed) is documented for a file that cannot be written")


# ================================================================ run directories


def family_rundir():
    heat = dg.heat_small()

    def train_into(name, output, setup=None, extra=(), **kw):
        def prepare(tmp):
            write(tmp / CONFIG, dg.dump(heat))
            if setup:
                setup(tmp)
            return [CONFIG, "-o", output, *extra]

        case(name, prepare, **kw)

    def foreign(tmp):
        write(tmp / "out" / "notes.txt", "mine\n")

    train_into("rundir:existing-foreign-dir", "out", setup=foreign, origin="out")
    train_into("rundir:force-on-foreign-dir", "out", setup=foreign, extra=["--force"],
               origin="out", mentions="notes.txt")
    train_into("rundir:output-is-a-file", "out", setup=lambda tmp: write(tmp / "out", "x\n"),
               origin="out")
    train_into("rundir:parent-is-a-file", "afile/run", setup=lambda tmp: write(tmp / "afile", "x"),
               origin="afile", rc=(2, 5),
               note="exit 5 (the run directory could not be written) is documented")
    train_into("rundir:output-dot", ".", origin=".")
    train_into("rundir:output-parent-of-cwd", "..", origin="..",
               note="refused before anything is written (it would write into the temp root)")

    def read_only(tmp):
        (tmp / "ro").mkdir()
        os.chmod(tmp / "ro", 0o555)

    train_into("rundir:non-writable-parent", "ro/run", setup=read_only, origin="ro", rc=(2, 5),
               note="exit 5 (the run directory could not be written) is documented",
               skip="root writes into a read-only directory" if os.geteuid() == 0 else None)
    train_into("rundir:under-proc", "/proc/pinn-bad-input-run", origin="/proc/pinn-bad-input-run",
               rc=(2, 5), note="not writable, even by root; exit 5 is documented")

    def name_dotdot(tmp):
        write(tmp / CONFIG, dg.dump(dg.replaced(heat, ("name",), "..")))
        return [CONFIG]

    case("rundir:name-dotdot", name_dotdot, origin=CONFIG, pointer="/name")


# ================================================================ checkpoints


def flip_middle(path, count):
    data = bytearray(pathlib.Path(path).read_bytes())
    start = max(0, len(data) // 2 - count // 2)
    for i in range(start, min(len(data), start + count)):
        data[i] ^= 0xFF
    pathlib.Path(path).write_bytes(bytes(data))


def checkpoints(tmp):
    return sorted((tmp / "run" / "checkpoints").glob("checkpoint-*.pt"))


def family_checkpoints():
    # The fixture's run has two checkpoints, at steps 250 and 300, and no summary.json (as a
    # killed run leaves it; see Fixtures.make_stopped).
    both = ("checkpoint-000000000250.pt", "checkpoint-000000000300.pt")

    def resume_case(name, damage, rc=(2,), mentions=both, **kw):
        def prepare(tmp):
            damage(tmp)
            return ["resume", "run"]

        case(name, prepare, rc=rc, origin="run", fixture="stopped", mentions=mentions, **kw)

    def flip_all(tmp):
        for path in checkpoints(tmp):
            flip_middle(path, 64)

    resume_case("issue:13-checkpoints-all-damaged", flip_all)
    resume_case("issue:13-checkpoint-newest-damaged",
                lambda tmp: flip_middle(checkpoints(tmp)[-1], 64), rc=(0,), mentions=(),
                warns="checkpoint-000000000300.pt",
                note="exit 0 allowed: the older checkpoint is usable; a warning names the newest")

    def resume_flag(tmp):
        flip_all(tmp)
        write(tmp / CONFIG, dg.dump(dg.heat_small()))
        return [CONFIG, "-o", "run", "--resume"]

    case("ckpt:all-damaged-train-resume-flag", resume_flag, origin="run", fixture="stopped",
         mentions=both)

    def truncate_all(tmp):
        for path in checkpoints(tmp):
            path.write_bytes(path.read_bytes()[:100])

    resume_case("ckpt:all-truncated", truncate_all)

    def garbage_checksums(tmp):
        for path in checkpoints(tmp):
            flip_middle(path, 64)
            pathlib.Path(str(path) + ".crc32c").write_text("crc32c zzzz size -1\n")

    resume_case("ckpt:all-damaged-garbage-checksum-files", garbage_checksums)

    def no_checksums(tmp):
        for path in checkpoints(tmp):
            flip_middle(path, 64)
            pathlib.Path(str(path) + ".crc32c").unlink()

    resume_case("ckpt:all-damaged-without-checksum-files", no_checksums,
                note="loaded unchecked (as before checksums): the load must fail cleanly")

    resume_case("resume:run-config-not-json",
                lambda tmp: write(tmp / "run" / "config.json", '{"name": '),
                mentions="config.json")


def family_resume():
    def two(tmp):
        shutil.copytree(tmp / "run", tmp / "run2")
        return ["resume", "run", "run2"]

    case("issue:14-resume-two-run-directories", two, origin="run2", fixture="stopped",
         note="a second run directory must not be ignored")
    case("resume:not-a-run-directory", lambda tmp: (tmp / "plain").mkdir() or
         ["resume", "plain"], origin="plain")
    case("resume:nonexistent", lambda tmp: ["resume", "no_such_run"], origin="no_such_run")
    case("resume:a-file", lambda tmp: write(tmp / "afile", "x") or ["resume", "afile"],
         origin="afile")


# ================================================================ run time


def family_train():
    heat = dg.heat_small()
    config_case("train:diverges-lr-1e300", heat, command="train",
                args=["--set", "training[0].lr=1e300"], origin="run", rc=4,
                note="exit 4: the loss became NaN or infinite (documented), naming the run")
    # Not bad input: configs/heat_1d.json as it is (its "$schema" relative to configs/), copied
    # beside the working directory and trained by its bare file name. A guard that the suite's
    # base config trains at all: exit 0, no error line.
    config_case("train:heat_1d-copy-with-relative-schema",
                dict(heat, **{"$schema": "../docs/pinn-train.schema.json"}), command="train",
                rc=0, note="fine input (exit 0): a config given by its bare file name whose "
                           "$schema is relative")


FAMILIES = [family_file, family_types, family_unknown, family_missing_empty, family_range,
            family_huge, family_expressions, family_big, family_set, family_cli, family_sweep,
            family_launch, family_csv, family_eval, family_rundir, family_checkpoints,
            family_resume, family_train]


def build_cases():
    for family in FAMILIES:
        family()
    return CASES


# ================================================================ fixtures


class Fixtures:
    """Runs made once per session (on first use) and copied into each case that needs one."""

    def __init__(self, binary, root, env):
        self.binary, self.root, self.env = binary, root, env
        self.lock = threading.Lock()
        self.made = {}

    def get(self, name):
        with self.lock:
            if name not in self.made:
                try:
                    self.made[name] = (getattr(self, "make_" + name)(), None)
                except Exception as error:  # a fixture that fails fails its cases
                    self.made[name] = (None, str(error))
            return self.made[name]

    def train(self, name, config, args):
        folder = self.root / name
        folder.mkdir()
        write(folder / CONFIG, dg.dump(config))
        result = subprocess.run([self.binary, CONFIG, "-o", "run", "-q", *args], cwd=folder,
                                env=self.env, capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"fixture {name}: training exited with {result.returncode}: "
                               f"{result.stderr[-600:]}")
        return folder / "run"

    def make_trained(self):
        return self.train("trained", dg.heat_small(), [])

    def make_stopped(self):
        """A run of 300 Adam steps with checkpoints at 250 and 300, as a killed run leaves it
        (no summary.json): `resume` has to read its checkpoints."""
        config = dg.heat_small()
        config["training"] = [{"type": "adam", "lr": 1e-3, "iterations": 300, "log_every": 50}]
        config["checkpoint_every"] = 50
        run = self.train("stopped", config, [])
        (run / "summary.json").unlink()
        found = sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*.pt"))
        if found != ["checkpoint-000000000250.pt", "checkpoint-000000000300.pt"]:
            raise RuntimeError(f"fixture stopped: unexpected checkpoints {found}")
        return run


# ================================================================ running and checking


@dataclasses.dataclass
class Outcome:
    case: Case
    argv: list = dataclasses.field(default_factory=list)
    rc: Optional[int] = None
    stderr: str = ""
    stdout: str = ""
    seconds: float = 0.0
    hang: bool = False
    problems: list = dataclasses.field(default_factory=list)
    skipped: Optional[str] = None
    message: str = ""


def is_json_level(line, levels):
    if not line.startswith("{"):
        return False
    try:
        return json.loads(line).get("level") in levels
    except (ValueError, AttributeError):
        return False


def error_lines(stderr):
    lines = stderr.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.startswith("pinn-train: error:") or line.startswith("pinn-train: internal error") \
                or is_json_level(line, ("error", "critical", "fatal")):
            found.append(i)
    return lines, found


def message_block(lines, index):
    """The error line and the lines that continue it (until the next log line)."""
    block = [lines[index]]
    for line in lines[index + 1:]:
        if line.startswith("{") or line.startswith("pinn-train:"):
            break
        block.append(line)
    return "\n".join(block)


def check(outcome):
    c, problems = outcome.case, outcome.problems
    if outcome.hang:
        problems.append(f"HANG: no exit within the timeout ({outcome.seconds:.1f} s)")
        return
    if outcome.rc < 0:
        try:
            name = signal.Signals(-outcome.rc).name
        except ValueError:
            name = str(-outcome.rc)
        problems.append(f"killed by signal {name}")
    for text in (outcome.stderr, outcome.stdout):
        for word in FORBIDDEN:
            if word in text:
                problems.append(f"output holds {word!r}")
    raw = sorted({f"U+{ord(ch):04X}" for ch in outcome.stderr if ord(ch) < 32 and ch not in "\n\t"})
    if raw:
        problems.append(f"stderr holds raw control characters ({', '.join(raw)}): the message "
                        f"should escape what it quotes")
    if outcome.rc not in c.rc:
        expected = " or ".join(map(str, c.rc))
        problems.append(f"exit code {outcome.rc}, expected {expected}")
    lines, errors = error_lines(outcome.stderr)
    if outcome.rc == 0 and 0 in c.rc:
        if errors:
            problems.append(f"exit 0 with {len(errors)} error line(s)")
        warnings = [line for line in lines
                    if is_json_level(line, ("warning", "warn")) or "warning" in line.lower()]
        outcome.message = warnings[0] if warnings else ""
        for word in c.warns:
            if not any(word in line for line in warnings):
                problems.append(f"no warning line names {word!r}")
        return
    if outcome.rc not in c.rc:
        if errors:
            outcome.message = lines[errors[0]]
        return
    if len(errors) != 1:
        problems.append(f"{len(errors)} error lines on stderr, expected exactly one")
        if not errors:
            return
    line = lines[errors[0]]
    outcome.message = line
    if not line.startswith("pinn-train: error:"):
        problems.append("the error line does not start with 'pinn-train: error:'")
    if c.origin and not any(o in line for o in c.origin):
        problems.append(f"the error line names none of {list(c.origin)} (where the input came "
                        f"from)")
    if c.pointer and not any(p in line for p in c.pointer):
        problems.append(f"the error line names none of {list(c.pointer)} (the JSON path)")
    if c.column and "column" not in line:
        problems.append("the error line gives no column (an expression)")
    block = message_block(lines, errors[0])
    for word in c.mentions:
        if word not in block:
            problems.append(f"the message does not mention {word!r}")


def run_case(c, binary, fixtures, env, timeout):
    outcome = Outcome(c)
    if c.skip:
        outcome.skipped = c.skip
        return outcome
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="pinn-bad-input-"))
    try:
        if c.fixture:
            source, error = fixtures.get(c.fixture)
            if error:
                outcome.problems.append(error)
                return outcome
            run_copy(tmp, source)
        outcome.argv = [str(a) for a in c.prepare(tmp)]
        start = time.monotonic()
        process = subprocess.Popen([binary, *outcome.argv], cwd=tmp, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            outcome.hang = True
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the group this case started, nothing else
            except ProcessLookupError:
                pass
            out, err = process.communicate()
        outcome.seconds = time.monotonic() - start
        outcome.rc = process.returncode
        outcome.stdout = out.decode("utf-8", "replace")
        outcome.stderr = err.decode("utf-8", "replace")
        check(outcome)
    except Exception as error:  # the case's own preparation failed
        outcome.problems.append(f"the suite could not prepare or run the case: {error!r}")
    finally:
        for root, dirs, _ in os.walk(tmp):
            for d in dirs:
                try:
                    os.chmod(os.path.join(root, d), stat.S_IRWXU)
                except OSError:
                    pass
        shutil.rmtree(tmp, ignore_errors=True)
    return outcome


def short_arg(arg, limit=48):
    arg = str(arg)
    if len(arg) > limit:
        arg = f"{arg[:limit - 16]}…[{len(arg)} chars]"
    return arg


def command_summary(argv, limit=140):
    text = "pinn-train " + " ".join(shlex.quote(short_arg(a)) for a in argv)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_report(path, outcomes, wall):
    failed = sum(1 for o in outcomes if o.problems)
    skipped = sum(1 for o in outcomes if o.skipped)
    rows = ["# pinn-train bad-input suite", "",
            f"{len(outcomes)} cases, {len(outcomes) - failed - skipped} passed, {failed} failed, "
            f"{skipped} skipped; {wall:.1f} s wall.", "",
            "| case | command | exit | s | result | message line |",
            "| --- | --- | --- | --- | --- | --- |"]

    def cell(text, limit=220):
        text = text.replace("\n", " ").replace("|", "\\|")
        return text if len(text) <= limit else text[: limit - 1] + "…"

    for o in outcomes:
        exit_text = "skip" if o.skipped else ("HANG" if o.hang else str(o.rc))
        result = "skip" if o.skipped else ("FAIL: " + "; ".join(o.problems) if o.problems
                                           else "pass")
        message = o.message or (o.stderr.strip().splitlines() or [""])[0]
        rows.append(f"| {cell(o.case.name, 80)} | `{cell(command_summary(o.argv), 160)}` | "
                    f"{exit_text} | {o.seconds:.1f} | {cell(result, 200)} | {cell(message)} |")
    pathlib.Path(path).write_text("\n".join(rows) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary", nargs="?",
                        default=os.environ.get("PINN_TRAIN", DEFAULT_BINARY))
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("-k", dest="patterns", action="append", default=[])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--report")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()

    cases = build_cases()
    if args.patterns:
        cases = [c for c in cases if any(p in c.name for p in args.patterns)]
    if args.list:
        for c in cases:
            extra = f"  [exit {'/'.join(map(str, c.rc))}]" if c.rc != (2,) else ""
            print(f"{c.name}{extra}")
        print(f"{len(cases)} cases", file=sys.stderr)
        return 0
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        print(f"bad_inputs.py: {binary}: not an executable", file=sys.stderr)
        return 2
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("PINN_TRAIN_DEVICE", None)
    session = pathlib.Path(tempfile.mkdtemp(prefix="pinn-bad-input-session-"))
    fixtures = Fixtures(binary, session, env)
    start = time.monotonic()
    outcomes = []
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            # The cases first: the slow ones (and today's hangs) then do not end the run.
            order = sorted(cases, key=lambda c: not c.name.startswith("issue:"))
            futures = {c.name: pool.submit(run_case, c, binary, fixtures, env, args.timeout)
                       for c in order}
            for future in (futures[c.name] for c in cases):
                outcome = future.result()
                outcomes.append(outcome)
                if outcome.problems:
                    print(f"FAIL {outcome.case.name}", flush=True)
    finally:
        shutil.rmtree(session, ignore_errors=True)
    wall = time.monotonic() - start
    failures = [o for o in outcomes if o.problems]
    for o in failures:
        print(f"\n=== FAIL {o.case.name}")
        print(f"argv: {command_summary(o.argv, 400)}")
        print(f"rc: {'HANG (killed)' if o.hang else o.rc}  ({o.seconds:.2f} s)")
        for problem in o.problems:
            print(f"  - {problem}")
        if o.case.note:
            print(f"note: {o.case.note}")
        stderr = o.stderr
        if len(stderr) > 600:
            stderr = stderr[:600] + f"…[{len(o.stderr)} chars]"
        print("stderr: " + (stderr.rstrip() or "(empty)"))
    skipped = [o for o in outcomes if o.skipped]
    for o in skipped:
        print(f"SKIP {o.case.name}: {o.skipped}")
    if args.report:
        write_report(args.report, outcomes, wall)
    print(f"\n{len(outcomes)} cases: {len(outcomes) - len(failures) - len(skipped)} passed, "
          f"{len(failures)} failed, {len(skipped)} skipped ({wall:.1f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
