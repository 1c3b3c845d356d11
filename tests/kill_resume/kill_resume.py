#!/usr/bin/env python3
"""SIGKILL a training run at random moments, resume it each time, and check what survives.

  kill_resume.py [PINN_TRAIN] [--seed N] [--kills 10] [--keep] [--workdir DIR]

PINN_TRAIN: the binary (default: $PINN_TRAIN, else build/pinn-train of this checkout). The seed
(default: random; also $KILL_RESUME_SEED) is printed first: the same seed draws the same kill
plan again (the moments themselves depend on the machine's timing).

The run is configs/heat_1d.json made small (a 12x12 network, 230 points, float64, one thread):
2000 Adam steps, then 300 L-BFGS iterations, a log line every 10 steps and a checkpoint every
50. One uninterrupted run gives the reference (its files, and the timeline the kill moments are
drawn from). Then a chain of sessions -- the run, then `pinn-train resume RUN` after each kill --
is killed with SIGKILL 10 times: during startup (or while the run directory is being created),
during the first checkpoint's write, at random moments inside Adam and L-BFGS (about 40% of a
log interval that ends in a checkpoint is its write), near the end of each stage (the stage-end
checkpoint), while a resumed session starts up, and while the finished run writes its outputs.

After each kill:
  * every checkpoints/checkpoint-N.pt has its checkpoint-N.pt.crc32c ("crc32c %08x size N"),
    whose CRC-32C (Castagnoli, computed here) and size match its bytes, and is a complete zip;
    a checksum file without its checkpoint is allowed (docs/cli.md: written first);
  * every file in the run directory is one of pinn-train's own (src/output/layout.cpp) or the
    temporary "<name>.tmp" of one (src/util/files.cpp, AtomicFile); JSON files parse, history.csv,
    predictions and reference CSVs have whole lines, model.pt is a complete zip; train.log (the
    one appended file) ends with a whole line and has no torn line glued to the next;
  * the next session starts from the newest checkpoint, and no more than one checkpoint interval
    of steps is lost (the last step logged before the kill minus the step resumed from); a run
    killed before its first checkpoint is refused by `resume` with exit 2 (docs/cli.md: "has no
    checkpoint to resume from", or "no such run directory" / "not a pinn-train run directory"
    when killed before the directory was made), and is started again with the documented
    `pinn-train CONFIG -o RUN --resume` ("start it otherwise").
At the end the chain is resumed to completion: exit 0, the reference's step count, and the
same history (all columns but elapsed_s), model.pt, predictions, reference.csv and summary
values (final loss, per-term losses, metrics, stages) as the uninterrupted run, bit for bit.

Prints a table (kill, moment in its session, what was running, newest checkpoint, steps lost,
resume ok); exits 0 only when every check holds, 1 otherwise (the work folder is then kept).
"""
import argparse
import json
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
SOURCE = HERE.parent.parent
CHECKPOINT_EVERY = 50
ADAM_STEPS = 2000
LBFGS_STEPS = 300
LOG_EVERY = 10
SESSION_TIMEOUT_S = 90
TOTAL_BUDGET_S = 170

# ---- CRC-32C (Castagnoli), as src/util/crc32c.cpp ----

_CRC_TABLE = []
for _byte in range(256):
    _value = _byte
    for _ in range(8):
        _value = (_value >> 1) ^ (0x82F63B78 if _value & 1 else 0)
    _CRC_TABLE.append(_value)


def crc32c(data, crc=0):
    table = _CRC_TABLE
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283, "CRC-32C check value"

# ---- the run directory's layout (src/output/layout.cpp) ----

TOP_FILES = [".pinn-train-run", ".pinn-train-lock", "config.json", "source.json", "summary.json",
             "history.csv", "model.pt", "model.pt.crc32c", "train.log", "plots.log", "reference.csv",
             "predictions_*.csv"]
CHECKPOINT_FILES = ["checkpoint-*.pt", "checkpoint-*.pt.crc32c"]
CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d{12})\.pt$")
SIDECAR_TEXT = re.compile(r"^crc32c ([0-9a-f]{8}) size (\d+)\n$")
LOG_LINE_START = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] [a-z]+ ")

# x86-64 system call numbers, for "what was running" (read from /proc/PID/syscall at the kill).
SYSCALLS = {0: "read", 1: "write", 2: "open", 3: "close", 4: "stat", 5: "fstat", 6: "lstat",
            8: "lseek", 9: "mmap", 10: "mprotect", 11: "munmap", 12: "brk", 16: "ioctl",
            17: "pread64", 18: "pwrite64", 21: "access", 59: "execve", 72: "fcntl", 73: "flock",
            74: "fsync", 75: "fdatasync", 77: "ftruncate", 82: "rename", 83: "mkdir",
            87: "unlink", 89: "readlink", 202: "futex", 217: "getdents64", 230: "clock_nanosleep",
            257: "openat", 262: "newfstatat", 263: "unlinkat", 264: "renameat", 316: "renameat2",
            332: "statx"}

PROGRESS = re.compile(r"^(adam|lbfgs) (\d+)/(\d+)  loss ")
RESUMING = re.compile(r"^resuming at step (\d+) \(stage (\d+) of (\d+)")
RESUMING_FROM = re.compile(r"^resuming .* from (checkpoint-(\d+)\.pt)")
START_LINE = re.compile(r"^(initial loss|resuming at step)")
STAGE_OFFSET = {"adam": 0, "lbfgs": ADAM_STEPS}


def fnmatch_any(name, patterns):
    import fnmatch
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


class Failures:
    def __init__(self):
        self.items = []

    def add(self, where, text):
        self.items.append(f"{where}: {text}")
        print(f"  FAIL {where}: {text}", flush=True)


# ---- the config ----

def write_config(path):
    config = json.loads((SOURCE / "configs" / "heat_1d.json").read_text())
    config.pop("$schema", None)
    config["network"]["hidden"] = [12, 12]
    config["points"]["interior"]["count"] = 200
    config["points"]["ends"]["count"] = 10
    config["points"]["start"]["count"] = 20
    config["training"] = [
        {"type": "adam", "lr": 1e-3, "iterations": ADAM_STEPS, "log_every": LOG_EVERY},
        {"type": "lbfgs", "iterations": LBFGS_STEPS, "log_every": LOG_EVERY, "history": 20},
    ]
    config["checkpoint_every"] = CHECKPOINT_EVERY
    config["reference"]["every"] = 500
    config["dtype"] = "float64"
    config["seed"] = 0
    config["threads"] = 1
    path.write_text(json.dumps(config, indent=2) + "\n")


# ---- one session: start, watch its log, kill it at its moment ----

class Session:
    """A pinn-train process whose log (JSON lines on stderr) is read as it is written."""

    def __init__(self, argv, log_path, run_dir):
        self.argv = argv
        self.log_path = log_path
        self.run_dir = run_dir
        self.lines = []  # (seconds since start, message)
        self.killed_at = None
        self.timed_out = False
        self.syscall = ""
        self.returncode = None
        self._partial = ""

    def _read(self, reader, now):
        chunk = reader.read()
        if not chunk:
            return []
        text = self._partial + chunk
        parts = text.split("\n")
        self._partial = parts.pop()
        new = []
        for part in parts:
            message = part
            if part.startswith("{"):
                try:
                    message = json.loads(part).get("message", part)
                except ValueError:
                    pass
            self.lines.append((now - self.start, message))
            new.append(message)
        return new

    def run(self, plan=None):
        """Runs to its end, or until `plan` kills it: plan = (trigger, delay_s, pattern, cap):
        trigger 'spawn' (the moment it is started), 'dir' (the run directory appears) or 'line'
        (a log message matches `pattern`), then delay_s; but at once when a message matches
        `cap` first (so that a moment drawn too late for this session still kills it)."""
        env = dict(os.environ, OMP_NUM_THREADS="1")
        trigger, delay, pattern, cap = plan if plan is not None else (None, 0, None, None)
        with open(self.log_path, "w") as log, open(self.log_path) as reader:
            self.start = time.perf_counter()
            process = subprocess.Popen(self.argv, stdout=log, stderr=log, env=env,
                                       stdin=subprocess.DEVNULL)
            kill_at = self.start + delay if trigger == "spawn" else None
            while True:
                now = time.perf_counter()
                new = self._read(reader, now)
                if trigger is not None and kill_at is None:
                    if trigger == "dir" and self.run_dir.is_dir():
                        kill_at = now + delay
                    elif trigger == "line" and any(re.search(pattern, m) for m in new):
                        kill_at = now + delay
                if cap is not None and any(re.search(cap, m) for m in new):
                    kill_at = now if kill_at is None else min(kill_at, now)
                if kill_at is not None and kill_at - time.perf_counter() < 0.001:
                    while time.perf_counter() < kill_at:
                        pass
                    if process.poll() is None:
                        try:
                            self.syscall = pathlib.Path(f"/proc/{process.pid}/syscall").read_text()
                        except OSError:
                            self.syscall = ""
                        process.send_signal(signal.SIGKILL)
                        self.killed_at = time.perf_counter() - self.start
                    break
                if process.poll() is not None:
                    break
                if time.perf_counter() - self.start > SESSION_TIMEOUT_S:
                    process.kill()
                    self.timed_out = True
                    break
                time.sleep(0.0003)
            self.returncode = process.wait()
            self._read(reader, time.perf_counter())
            if self._partial:
                self.lines.append((time.perf_counter() - self.start, self._partial))
                self._partial = ""
        if self.returncode != -signal.SIGKILL:
            self.killed_at = None
        return self

    @property
    def killed(self):
        return self.killed_at is not None

    def messages(self):
        return [m for _, m in self.lines]

    def tail(self, count=8):
        return "\n".join("      " + m[:600] for m in self.messages()[-count:])

    def syscall_name(self):
        field = self.syscall.split(" ", 1)[0].strip()
        if field == "running":
            return "running"
        if field.lstrip("-").isdigit():
            return SYSCALLS.get(int(field), f"syscall {field}")
        return ""

    def steps(self):
        """(step the session started from or None, last step it logged or None)."""
        first = last = None
        for message in self.messages():
            match = RESUMING.match(message)
            if match:
                first = last = int(match.group(1))
            elif message.startswith("initial loss"):
                first = last = 0
            match = PROGRESS.match(message)
            if match:
                last = STAGE_OFFSET[match.group(1)] + int(match.group(2))
        return first, last


# ---- inspecting the run directory ----

_crc_cache = {}


def file_crc(path):
    stat = path.stat()
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _crc_cache:
        data = path.read_bytes()
        _crc_cache[key] = (crc32c(data), len(data))
    return _crc_cache[key]


def temporaries(run_dir):
    """{relative path: (inode, size, mtime)} of every *.tmp in the run directory."""
    found = {}
    if run_dir.is_dir():
        for path in run_dir.rglob("*.tmp"):
            try:
                stat = path.stat()
            except OSError:
                continue
            found[str(path.relative_to(run_dir))] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    return found


def complete_zip(path):
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        return "" if bad is None else f"member {bad} fails its CRC"
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"not a complete zip ({error})"


def sidecar_mismatch(path):
    """Why `path` does not match its .crc32c ("" when it does or has none: model.pt's checksum is
    removed before a new model.pt is written and written after it)."""
    sidecar = path.with_name(path.name + ".crc32c")
    if not sidecar.exists():
        return ""
    expected = SIDECAR_TEXT.match(sidecar.read_text())
    if not expected:
        return f"{sidecar.name} is not 'crc32c XXXXXXXX size N'"
    crc, size = file_crc(path)
    if size != int(expected.group(2)) or crc != int(expected.group(1), 16):
        return f"{size} bytes, CRC-32C {crc:08x}; {sidecar.name} says {expected.group(2)} bytes"
    return ""


def csv_problem(path):
    text = path.read_text()
    if not text:
        return "empty"
    if not text.endswith("\n"):
        return "the last line is torn (no newline)"
    lines = text.split("\n")[:-1]
    columns = len(lines[0].split(","))
    for number, line in enumerate(lines[1:], 2):
        if len(line.split(",")) != columns:
            return f"line {number} has {len(line.split(','))} fields, the header {columns}"
    return ""


def checkpoint_state(run_dir):
    """(valid checkpoint steps, newest first; problems; sidecars without their checkpoint)."""
    folder = run_dir / "checkpoints"
    valid, problems, orphans = [], [], []
    if not folder.is_dir():
        return valid, problems, orphans
    names = set(os.listdir(folder))
    for name in sorted(names, reverse=True):
        match = CHECKPOINT_NAME.match(name)
        if match:
            step = int(match.group(1))
            sidecar = folder / (name + ".crc32c")
            if not sidecar.exists():
                problems.append(f"{name} has no {sidecar.name}")
                continue
            text = sidecar.read_text()
            expected = SIDECAR_TEXT.match(text)
            if not expected:
                problems.append(f"{sidecar.name} is not 'crc32c XXXXXXXX size N': {text!r}")
                continue
            crc, size = file_crc(folder / name)
            if size != int(expected.group(2)) or crc != int(expected.group(1), 16):
                problems.append(f"{name}: {size} bytes, CRC-32C {crc:08x}; its checksum file "
                                f"says {expected.group(2)} bytes, {expected.group(1)}")
                continue
            zip_problem = complete_zip(folder / name)
            if zip_problem:
                problems.append(f"{name} matches its checksum but is {zip_problem}")
                continue
            valid.append(step)
        elif name.endswith(".pt.crc32c") and name[:-7] not in names:
            orphans.append(name)
    return valid, problems, orphans


def inspect(run_dir, failures, where):
    """Checks that no file of the run directory is torn; returns (valid steps, orphans)."""
    if not run_dir.exists():
        return [], []
    for path in sorted(run_dir.rglob("*")):
        relative = path.relative_to(run_dir)
        name = path.name
        if path.is_dir():
            if str(relative) not in ("checkpoints", "plots"):
                failures.add(where, f"unexpected folder {relative}/")
            continue
        patterns = TOP_FILES if len(relative.parts) == 1 else CHECKPOINT_FILES
        if len(relative.parts) > 1 and relative.parts[0] != "checkpoints":
            patterns = ["*.png"]
        if name.endswith(".tmp"):
            if not fnmatch_any(name[:-4], patterns):
                failures.add(where, f"{relative}: a temporary file of no file of pinn-train's")
            continue
        if not fnmatch_any(name, patterns):
            failures.add(where, f"unexpected file {relative}")
            continue
        if len(relative.parts) > 1:
            continue  # checkpoints: below
        try:
            if name in (".pinn-train-run", "config.json", "source.json", "summary.json"):
                json.loads(path.read_text())
            elif name.endswith(".csv"):
                problem = csv_problem(path)
                if problem:
                    failures.add(where, f"{name}: {problem}")
            elif name == "model.pt":
                problem = complete_zip(path)
                if problem:
                    failures.add(where, f"model.pt is {problem}")
                problem = sidecar_mismatch(path)
                if problem:
                    failures.add(where, f"model.pt: {problem}")
            elif name == "train.log":
                text = path.read_text(errors="replace")
                if text and not text.endswith("\n"):
                    failures.add(where, f"train.log ends with a torn line: {text[-120:]!r}")
                for number, line in enumerate(text.split("\n"), 1):
                    glued = LOG_LINE_START.search(line, 1)
                    if glued:
                        failures.add(where, f"train.log line {number} is a torn line glued to "
                                            f"the next: {line[:160]!r}")
                        break
        except ValueError as error:
            failures.add(where, f"{name} does not parse: {error}")
    valid, problems, orphans = checkpoint_state(run_dir)
    for problem in problems:
        failures.add(where, problem)
    if len(valid) > 3:
        failures.add(where, f"{len(valid)} checkpoints kept (two are kept, a third only "
                            f"while the oldest is being removed)")
    return valid, orphans


# ---- the kill plan ----

class Timeline:
    """When things happen in the uninterrupted run (seconds since its start). Medians, so that
    a moment the process waited for the CPU (a busy machine) does not count."""

    def __init__(self, session):
        self.first_line = session.lines[0][0] if session.lines else 1.0
        self.done = session.lines[-1][0] if session.lines else 2.0
        times = {}
        for moment, message in session.lines:
            match = PROGRESS.match(message)
            if match:
                times[STAGE_OFFSET[match.group(1)] + int(match.group(2))] = moment
            if message.startswith("done:"):
                self.done = moment
        steps = sorted(times)
        plain = [times[b] - times[a] for a, b in zip(steps, steps[1:]) if a % CHECKPOINT_EVERY]
        with_checkpoint = [times[b] - times[a] for a, b in zip(steps, steps[1:])
                           if a % CHECKPOINT_EVERY == 0]
        median = lambda values, default: sorted(values)[len(values) // 2] if values else default
        # A log interval (LOG_EVERY steps); one that starts with a checkpoint's write.
        self.log_interval = median(plain, 0.002)
        self.checkpoint_interval = max(median(with_checkpoint, 0.005), self.log_interval)
        self.write = max(self.checkpoint_interval - self.log_interval, 0.0005)
        # All the steps between two checkpoints, the write included.
        self.between_checkpoints = (CHECKPOINT_EVERY // LOG_EVERY - 1) * self.log_interval + \
            self.checkpoint_interval
        self.outputs = self.done - times[steps[-1]] if steps else 0.05
        self.last_step = steps[-1] if steps else ADAM_STEPS + LBFGS_STEPS


def progress_pattern(step):
    stage = "lbfgs" if step > ADAM_STEPS else "adam"
    total = LBFGS_STEPS if stage == "lbfgs" else ADAM_STEPS
    return rf"^{stage} {step - STAGE_OFFSET[stage]}/{total}  loss "


def draw_plan(rng, timeline, count):
    """The kill plan: (label, kind, parameters) per kill, in the order the run gets there."""
    plan = []
    if rng.random() < 0.5:
        plan.append(("startup", "spawn", rng.uniform(0, timeline.first_line)))
    else:
        # Its first files (marker, config.json, source.json, train.log) come within ~30 ms of
        # the folder, each fsynced: moments drawn denser at the start, where the marker is.
        plan.append(("run directory being made", "dir", 0.03 * rng.random() ** 2))
    plan.append(("first checkpoint write", "after", CHECKPOINT_EVERY,
                 rng.uniform(0, 1.2 * timeline.write)))
    anywhere = timeline.between_checkpoints
    middle = [
        ("random in Adam", "after", LOG_EVERY * rng.randrange(12, 90), rng.uniform(0, anywhere)),
        ("random in Adam", "after", LOG_EVERY * rng.randrange(100, 190),
         rng.uniform(0, anywhere)),
        ("Adam's end", "after", ADAM_STEPS - LOG_EVERY * rng.randrange(0, 4),
         rng.uniform(0, 2 * timeline.checkpoint_interval)),
        ("random in L-BFGS", "after", ADAM_STEPS + LOG_EVERY * rng.randrange(2, 24),
         rng.uniform(0, anywhere)),
        ("L-BFGS's end", "after", ADAM_STEPS + LBFGS_STEPS - LOG_EVERY * rng.randrange(0, 4),
         rng.uniform(0, 2 * timeline.checkpoint_interval)),
    ]
    # Resumed sessions killed while they start up, at random places in the chain.
    for _ in range(max(0, count - 3 - len(middle))):
        middle.insert(rng.randrange(0, len(middle) + 1),
                      ("resumed session's startup", "spawn", rng.uniform(0, timeline.first_line)))
    plan.extend(middle[:max(0, count - 3)])
    if count >= 3:
        plan.append(("writing the outputs", "after", ADAM_STEPS + LBFGS_STEPS,
                     rng.uniform(0, 0.8 * timeline.outputs)))
    return plan[:count]


def trigger_for(entry, resume_step):
    """The Session.run plan of a kill plan entry, for a session that starts at resume_step.
    A startup kill comes at the latest with the session's first step line, any other at the
    latest with its last line ("done:"), however fast the session runs."""
    kind = entry[1]
    if kind == "spawn":
        return (("spawn", entry[2], None, START_LINE.pattern),
                f"{entry[2]:.3f} s after start, or at its first step line")
    if kind == "dir":
        return (("dir", entry[2], None, START_LINE.pattern),
                f"{1e3 * entry[2]:.1f} ms after the folder appeared")
    step, delay = entry[2], entry[3]
    if step <= resume_step:  # already done: count from the session's first line instead
        return (("line", delay, START_LINE.pattern, "^done:"),
                f"{1e3 * delay:.1f} ms after its first step line (planned after step {step})")
    return (("line", delay, progress_pattern(step), "^done:"),
            f"{1e3 * delay:.1f} ms after step {step}")


# ---- what was running ----

def short(name):
    return re.sub(r"checkpoint-0*(\d)", r"ckpt-\1", name.replace("checkpoints/", ""))


def describe(session, before_tmp, run_dir, orphans_before, orphans, valid):
    first, last = session.steps()
    messages = session.messages()
    if not messages:
        phase = "startup"
        if not run_dir.exists():
            phase += " (no run directory yet)"
    elif first is None:
        phase = "startup, after: " + messages[-1][:32]
    elif any(m.startswith("done:") for m in messages):
        phase = "ending"
    elif last >= ADAM_STEPS + LBFGS_STEPS:
        phase = "final checkpoint/outputs"
    elif last >= ADAM_STEPS:
        phase = f"lbfgs after step {last}"
    else:
        phase = f"adam after step {last}"
    after_tmp = temporaries(run_dir)
    writing = sorted(name[:-4] for name, key in after_tmp.items() if before_tmp.get(name) != key)
    if writing:
        phase += "; writing " + ", ".join(short(n) for n in writing)
    newest = valid[0] if valid else -1
    for name in sorted(set(orphans) - set(orphans_before)):
        step = int(CHECKPOINT_NAME.match(name[:-7]).group(1))
        if step > newest:
            phase += f"; {short(name)} written, {short(name[:-7])} not yet renamed"
        else:
            phase += f"; removing the old {short(name[:-7])} (its checksum file left)"
    call = session.syscall_name()
    if call and call != "running":
        phase += f" [in {call}]"
    return phase


# ---- the test ----

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pinn_train", nargs="?",
                        default=os.environ.get("PINN_TRAIN", str(SOURCE / "build" / "pinn-train")))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--workdir", help="work here (default: a new temporary folder)")
    args = parser.parse_args()
    seed = args.seed
    if seed is None and os.environ.get("KILL_RESUME_SEED"):
        seed = int(os.environ["KILL_RESUME_SEED"])
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little")
    print(f"kill_resume: seed {seed} (rerun: {sys.argv[0]} {args.pinn_train} --seed {seed})",
          flush=True)
    binary = str(pathlib.Path(args.pinn_train).resolve())
    if not os.access(binary, os.X_OK):
        print(f"kill_resume: {binary} is not an executable")
        return 1
    rng = random.Random(seed)
    began = time.perf_counter()
    work = pathlib.Path(args.workdir) if args.workdir else pathlib.Path(
        tempfile.mkdtemp(prefix="kill_resume."))
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.json"
    write_config(config)
    reference_dir, run_dir = work / "reference", work / "run"
    for folder in (reference_dir, run_dir):
        shutil.rmtree(folder, ignore_errors=True)
    failures = Failures()
    train = [binary, str(config), "--threads", "1", "--log-format", "json"]

    # The uninterrupted run: the files to compare with, and the timeline to draw moments from.
    reference = Session(train + ["-o", str(reference_dir)], work / "reference.log",
                        reference_dir).run()
    if reference.returncode != 0:
        print(f"kill_resume: the uninterrupted run failed (exit {reference.returncode}):\n"
              + reference.tail())
        return 1
    timeline = Timeline(reference)
    print(f"uninterrupted run: {timeline.last_step} steps; first log line at "
          f"{timeline.first_line:.3f} s, done at {timeline.done:.3f} s; {LOG_EVERY} steps take "
          f"{1e3 * timeline.log_interval:.2f} ms, a checkpoint's write "
          f"{1e3 * timeline.write:.2f} ms, the outputs {1e3 * timeline.outputs:.1f} ms "
          f"(medians)", flush=True)
    plan = draw_plan(rng, timeline, args.kills)

    rows = []
    argv = train + ["-o", str(run_dir)]
    kind = "fresh run"
    resume_step = 0  # where the next session starts (the newest valid checkpoint)
    orphans = []
    pending = []  # rows whose resume is confirmed by the next session that logs its start
    completed_early = False
    broken = False  # a session failed: the chain cannot go on
    for number, entry in enumerate(plan, 1):
        if time.perf_counter() - began > TOTAL_BUDGET_S:
            failures.add(f"kill {number}", f"not started: the test has run for over "
                                           f"{TOTAL_BUDGET_S} s (a very busy machine?)")
            break
        where = f"kill {number}"
        trigger, trigger_text = trigger_for(entry, resume_step)
        before_tmp = temporaries(run_dir)
        orphans_before = orphans
        session = Session(argv, work / f"session-{number:02d}.log", run_dir).run(trigger)
        first, last = session.steps()
        # What the session says of where it started.
        for message in session.messages():
            if "cannot be used" in message:
                failures.add(where, f"session ({kind}) said: {message[:300]}")
            match = RESUMING_FROM.match(message)
            if match and int(match.group(2)) != resume_step:
                failures.add(where, f"resumed from {match.group(1)}, but the newest valid "
                                    f"checkpoint is step {resume_step}")
        if first is not None:
            if first != resume_step:
                failures.add(where, f"the session started at step {first}, the newest valid "
                                    f"checkpoint is step {resume_step}")
            for row in pending:
                mark_resumed(row, "yes" if first == resume_step else f"NO (step {first})")
            pending = []
        if not session.killed:
            if session.returncode == 0:
                print(f"  kill {number} ({entry[0]}) missed: the session ended first",
                      flush=True)
                completed_early = True
                for row in pending:
                    mark_resumed(row, "yes (completed)")
                rows.append({"kill": number, "moment": "-", "label": entry[0],
                             "running": "missed: the run had completed", "checkpoint": "-",
                             "lost": "-", "resume": "-"})
                break
            broken = True
            for row in pending:
                mark_resumed(row, f"NO: exit {session.returncode}")
            what = ("`pinn-train CONFIG -o RUN --resume`, the documented way to start a run "
                    "without checkpoint again," if kind == "restart" else f"the {kind} session")
            ended = (f"did not end within {SESSION_TIMEOUT_S} s" if session.timed_out else
                     f"ended with exit {session.returncode}")
            failures.add(where, f"{what} {ended} before its kill ({trigger_text}):\n"
                                f"{session.tail()}")
            break
        print(f"  kill {number} ({entry[0]}; {kind}, {trigger_text}): at {session.killed_at:.3f} s",
              flush=True)
        valid, orphans = inspect(run_dir, failures, where)
        running = describe(session, before_tmp, run_dir, orphans_before, orphans, valid)
        known = last if last is not None else resume_step
        newest = valid[0] if valid else None
        lost = known - (newest or 0)
        row = {"kill": number, "moment": f"{session.killed_at:.3f}", "label": entry[0],
               "running": running, "checkpoint": "none" if newest is None else str(newest),
               "lost": str(lost), "resume": "?", "kind": kind}
        rows.append(row)
        if lost < 0 or lost > CHECKPOINT_EVERY:
            failures.add(where, f"{lost} steps lost (last step logged {known}, newest "
                                f"checkpoint {newest}); at most {CHECKPOINT_EVERY} may be")
        if newest is not None:
            argv, kind, resume_step = [binary, "resume", str(run_dir)], "resume", newest
            pending.append(row)
            continue
        # No checkpoint yet: `resume` refuses it with exit 2 (docs/cli.md), and the run is
        # started again by the original command with --resume.
        refused = subprocess.run([binary, "resume", str(run_dir)], capture_output=True,
                                 text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        message = (refused.stderr + refused.stdout).strip()
        if not run_dir.exists():
            expected = "no such run directory"
        elif not ((run_dir / ".pinn-train-run").exists() or (run_dir / "config.json").exists()):
            expected = "not a pinn-train run directory"
        else:
            expected = "has no checkpoint to resume from"
        if refused.returncode == 2 and expected in message:
            row["resume"] = f"exit 2 ({expected}), restarted"
        else:
            row["resume"] = f"NO: exit {refused.returncode}"
            failures.add(where, f"`resume` of a run without checkpoint: expected exit 2 with "
                                f"'{expected}', got exit {refused.returncode}: {message[:300]}")
        argv = train + ["-o", str(run_dir), "--resume"]
        kind, resume_step = "restart", 0
        pending.append(row)
        # The restart is the next session; its refusal (exit 2) shows there.

    # Resume to completion.
    if not broken:
        final_argv = argv if kind != "fresh run" else train + ["-o", str(run_dir)]
        if completed_early:
            final_argv = [binary, "resume", str(run_dir)]
        final = Session(final_argv, work / "session-final.log", run_dir).run()
        first, _ = final.steps()
        if final.returncode != 0:
            failures.add("final resume", f"exit {final.returncode}:\n{final.tail()}")
        else:
            nothing = any("nothing to resume" in m for m in final.messages())
            if first is not None and first != resume_step:
                failures.add("final resume", f"started at step {first}, the newest valid "
                                             f"checkpoint is step {resume_step}")
            for row in pending:
                mark_resumed(row, "yes (completed)" if nothing else
                             "yes" if first == resume_step else f"NO (step {first})")
            for message in final.messages():
                if "cannot be used" in message:
                    failures.add("final resume", message[:200])
        inspect(run_dir, failures, "after the final resume")
        compare(reference_dir, run_dir, timeline, failures)

    print_table(rows)
    elapsed = time.perf_counter() - began
    leftovers = sorted(temporaries(run_dir))
    if leftovers:
        print(f"note: temporary files left in the run directory: {', '.join(leftovers)}")
    if failures.items:
        print(f"\nkill_resume: FAILED (seed {seed}, {elapsed:.1f} s); the run and each session's "
              f"log are in {work}")
        for item in failures.items:
            print("  - " + item.replace("\n", "\n    "))
        return 1
    kills = sum(1 for row in rows if row["moment"] != "-")
    print(f"\nkill_resume: OK (seed {seed}): {kills} kills, resumed to the uninterrupted run's "
          f"result bit for bit, in {elapsed:.1f} s")
    if args.keep or args.workdir:
        print(f"work folder: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def mark_resumed(row, text):
    """What the next session that got as far as its first step said of a kill's resume."""
    row["resume"] = text if row["resume"] == "?" else row["resume"] + "; " + text


def history_without_time(path):
    return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]


def compare(reference_dir, run_dir, timeline, failures):
    where = "final result"
    try:
        expected = json.loads((reference_dir / "summary.json").read_text())
        got = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError) as error:
        failures.add(where, f"summary.json: {error}")
        return
    if got.get("status") != "completed":
        failures.add(where, f"status {got.get('status')!r}, not 'completed'")
    if got.get("steps") != expected.get("steps") or got.get("steps") != timeline.last_step:
        failures.add(where, f"{got.get('steps')} steps; the uninterrupted run made "
                            f"{expected.get('steps')} (its log: {timeline.last_step})")
    for key in ("final_loss", "losses", "metrics", "model_step"):
        if got.get(key) != expected.get(key):
            failures.add(where, f"summary {key}: {got.get(key)!r} != {expected.get(key)!r}")
    strip = lambda stages: [{k: v for k, v in s.items() if k != "seconds"} for s in stages or []]
    if strip(got.get("stages")) != strip(expected.get("stages")):
        failures.add(where, f"stages differ: {strip(got.get('stages'))} != "
                            f"{strip(expected.get('stages'))}")
    history_a = history_without_time(reference_dir / "history.csv")
    history_b = history_without_time(run_dir / "history.csv")
    if history_a != history_b:
        diff = next((i for i, (a, b) in enumerate(zip(history_a, history_b)) if a != b),
                    min(len(history_a), len(history_b)))
        failures.add(where, f"history.csv differs from the uninterrupted run's at line "
                            f"{diff + 1} ({len(history_b)} lines vs {len(history_a)})")
    steps = [int(line.split(",", 1)[0]) for line in history_b[1:]]
    if steps != sorted(set(steps)):
        failures.add(where, "history.csv has steps out of order or twice")
    for name in ["model.pt", "reference.csv"] + sorted(
            p.name for p in reference_dir.glob("predictions_*.csv")):
        a, b = reference_dir / name, run_dir / name
        if not b.exists() or a.read_bytes() != b.read_bytes():
            failures.add(where, f"{name} is not the uninterrupted run's, byte for byte")
    print(f"final loss: uninterrupted {expected.get('final_loss')!r}, killed and resumed "
          f"{got.get('final_loss')!r}; steps {expected.get('steps')} / {got.get('steps')}")


def print_table(rows):
    if not rows:
        return
    print()
    header = ["kill", "moment (s)", "planned", "what was running", "newest ckpt",
              "steps lost", "resume ok"]
    table = [[str(r["kill"]), r["moment"], r["label"], r["running"], r["checkpoint"], r["lost"],
              r["resume"]] for r in rows]
    widths = [max(len(header[c]), *(len(t[c]) for t in table)) for c in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    print(line(header))
    print(line(["-" * w for w in widths]))
    for cells in table:
        print(line(cells))


if __name__ == "__main__":
    sys.exit(main())
