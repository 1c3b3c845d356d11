#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang-14 into build-fuzz/ (reusing the main
# build's libpinn_core.a), replays the committed regression inputs, then fuzzes each target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET]
#     SECONDS  fuzzing time per target (default 600); 0 only builds and replays the regressions
#     TARGET   expression, config or all (default)
#
# Environment: PINN_BUILD_DIR (the main build, default build/; it must be current with src/),
# PINN_FUZZ_BUILD_DIR (default build-fuzz/), PINN_FUZZ_JOBS (build jobs, default 2), PINN_FUZZ_CXX
# (default clang++-14), PINN_FUZZ_FORK=N (N fuzzing processes that go on after a finding, each one
# saved; default: one process that stops at the first), PINN_FUZZ_ARGS (more libFuzzer flags).
#
# The seed corpus is made at every run from configs/*.json (into build-fuzz/run-PID/, removed at
# the end, as is the config target's scratch copy of its input); what the fuzzer
# adds stays in build-fuzz/corpus/. A finding (crash, sanitizer report, escaped exception, timeout,
# out-of-memory, leak) is copied to tests/fuzz/regressions/TARGET/ to be committed: every later run
# replays it. Exit status: 0 when no regression fails and nothing is found, 77 (skipped) without
# clang-14 or libFuzzer, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() {
  sed -n '5,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}
seconds=${1:-600}
selection=${2:-all}
[[ $seconds =~ ^[0-9]+$ ]] || usage
case $selection in
  expression | config) targets=("$selection") ;;
  all) targets=(expression config) ;;
  *) usage ;;
esac

main_build=$(realpath -m "${PINN_BUILD_DIR:-$root/build}")
fuzz_build=$(realpath -m "${PINN_FUZZ_BUILD_DIR:-$root/build-fuzz}")
jobs=${PINN_FUZZ_JOBS:-2}
cxx=${PINN_FUZZ_CXX:-clang++-14}
python=${PINN_PYTHON:-python3}

skip() {
  echo "fuzz: skipped: $*"
  exit 77
}

# The toolchain: clang-14 and its libFuzzer and sanitizer runtimes (libclang-rt-14-dev).
command -v "$cxx" > /dev/null || skip "$cxx not found (Debian: apt-get install clang-14 libclang-rt-14-dev)"
command -v cmake > /dev/null || skip "cmake not found"
probe_dir=$(mktemp -d)
run_dir=""
trap 'rm -rf "$probe_dir" ${run_dir:+"$run_dir"}' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
  > "$probe_dir/probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe_dir/probe.cpp" -o "$probe_dir/probe" \
  > "$probe_dir/log" 2>&1; then
  sed 's/^/  /' "$probe_dir/log" | head -5
  skip "$cxx cannot link a libFuzzer target (Debian: apt-get install libclang-rt-14-dev)"
fi

if [[ ! -f $main_build/libpinn_core.a || ! -f $main_build/CMakeCache.txt ]]; then
  echo "fuzz: $main_build has no libpinn_core.a: build pinn-train first (scripts/build.sh)" >&2
  exit 1
fi
# The fuzzers link the archive's members for most of src/ against sources compiled here from the
# current headers: an archive older than src/ can disagree with them (false findings).
stale=$(find src -name '*.[ch]pp' -newer "$main_build/libpinn_core.a" | head -3 | tr '\n' ' ')
if [[ -n $stale ]]; then
  echo "fuzz: WARNING: $main_build/libpinn_core.a is older than ${stale}: rebuild it" \
    "(cmake --build $main_build --target pinn_core), or findings may come from the mismatch" >&2
fi

# Build (one at a time: ctest may start both targets together).
mkdir -p "$fuzz_build"
exec 9> "$fuzz_build/.build.lock"
flock 9
start=$(date +%s)
cmake -S tests/fuzz -B "$fuzz_build" -DCMAKE_CXX_COMPILER="$cxx" -DPINN_MAIN_BUILD="$main_build" \
  -DCMAKE_BUILD_TYPE= > "$fuzz_build/configure.log" ||
  { cat "$fuzz_build/configure.log"; exit 1; }
for target in "${targets[@]}"; do
  cmake --build "$fuzz_build" --target "fuzz_$target" -j "$jobs" || {
    [[ -z $stale ]] || echo "fuzz: the build failed; $main_build/libpinn_core.a is older than" \
      "src/ (multiple or undefined definitions come from that): rebuild it first" >&2
    exit 1
  }
done
echo "fuzz: built ${targets[*]} in $(($(date +%s) - start)) s"

# Seeds from configs/*.json: whole files for the config target (and a copy of each with --set
# lines, see tests/fuzz/fuzz_config.cpp), their expressions for the expression target; and the
# dictionaries (the config's from the committed JSON Schema: every key and every choice).
# This run's own folder: other runs (ctest's two targets, a person's) may share build-fuzz/.
run_dir=$fuzz_build/run-$$
seeds=$run_dir/seeds
for target in "${targets[@]}"; do
  mkdir -p "$seeds/$target"
done
"$python" - "$seeds" "$run_dir/config.dict" "${targets[@]}" << 'EOF'
import glob, hashlib, json, os, sys

seeds, config_dict, targets = sys.argv[1], sys.argv[2], sys.argv[3:]

def write(folder, text):
    if folder not in targets:
        return
    data = text.encode()
    with open(os.path.join(seeds, folder, hashlib.sha1(data).hexdigest()), "wb") as out:
        out.write(data)

EXPRESSION_KEYS = {"residual", "value", "alpha", "beta", "fields", "transform"}
expressions = set()

def collect(value, key=None):
    if isinstance(value, dict):
        for k, v in value.items():
            if key in ("transform", "reference") and isinstance(v, str) and k != "file":
                expressions.add(v)
            collect(v, k)
    elif isinstance(value, list):
        for v in value:
            collect(v, key)
    elif isinstance(value, str) and key in EXPRESSION_KEYS:
        expressions.add(value)

for path in sorted(glob.glob("configs/*.json")):
    text = open(path).read()
    write("config", text)
    write("config", text.rstrip("\n") + "\n//--set seed=7\n//--set dtype=float32\n"
          "//--set output=runs/{name}-{seed}\n//--set losses[0].weight=2\n")
    write("config", text.rstrip("\n") + "\n//--set losses.1.weight=3\n"
          "//--set output={losses[0].name}/{training.0.lr}\n//--set network.hidden[0]=8\n"
          "//--set training[0]={\"type\": \"adam\", \"iterations\": 2}\n")
    try:
        collect(json.loads(text))
    except ValueError:
        pass

# The harness's names (tests/fuzz/fuzz_expression.cpp): inputs x, y, t; outputs u, v; constant nu;
# parameter lambda; field n_x.
expressions.update([
    "u_t + u*u_x - nu*u_xx", "d(u, x, y) + d(v, t)", "dir(u, [1, 0, x])", "lap(u)",
    "lap(v, x, y)", "dn(u) + n_x*u", "lambda*u_x - exp(-t)*sin(pi*x)", "-(u^2)^-0.5 / (1e-3 + v)",
    "sqrt(abs(u)) + log(cosh(y)) + tanh(sinh(x)) + tan(cos(t))", "u_xxyt + v_tt", "2.5e-3*+-u",
    "d(u_x, y)", "lap(u_t, x, y)", "dn(v_y)", "dir(d(v, x), [x, 0, 1])",
])
for expression in expressions:
    write("expression", expression)

schema = json.load(open("docs/pinn-train.schema.json"))
tokens = set()

def walk(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "properties" and isinstance(v, dict):
                tokens.update(v.keys())
            if k == "enum":
                tokens.update(x for x in v if isinstance(x, str))
            if k == "const" and isinstance(v, str):
                tokens.add(v)
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)

walk(schema)
if "config" not in targets:
    sys.exit(0)

def entry(token):  # libFuzzer's dictionary syntax: "..." with \\, \" and \xHH escapes
    escaped = "".join(c if 32 <= ord(c) < 127 and c not in '\\"' else
                      "\\" + c if c in '\\"' else "\\x%02X" % ord(c) for c in token)
    return '"' + escaped + '"\n'

with open(config_dict, "w") as out:
    for token in sorted(tokens):
        out.write(entry(json.dumps(token)))
    for token in ["//--set ", "\n//--set ", "[0].", "{name}", "1e308", "1e999", "-1", "null", "true", "[]",
                  "{}", "data/burgers_reference.csv"]:
        out.write(entry(token))
EOF
flock -u 9

# A finding's summary: the sanitizer's or the harness's words, and the frames in our sources.
report() {
  grep -E "FINDING|ERROR: |SUMMARY|^ +#[0-9]+ .*/(src|tests/fuzz)/" "$1" | awk '!seen[$0]++' |
    head -14 | cut -c1-240 | sed 's/^/  /'
}

declare -A max_len=([expression]=4096 [config]=65536)
declare -A dictionary=([expression]=$root/tests/fuzz/expression.dict [config]=$run_dir/config.dict)
options=(-timeout=10 -rss_limit_mb=4096 -error_exitcode=1)
status=0

for target in "${targets[@]}"; do
  binary=$fuzz_build/fuzz_$target
  regressions=$root/tests/fuzz/regressions/$target
  artifacts=$fuzz_build/artifacts/$target
  work=$run_dir/work
  log=$fuzz_build/logs/$target.log
  mkdir -p "$regressions" "$artifacts" "$work" "$fuzz_build/corpus/$target" "$fuzz_build/logs"
  export PINN_FUZZ_WORK_DIR=$work OMP_NUM_THREADS=1

  # Every finding ever made, each in a process of its own.
  failed=0
  replayed=0
  for input in "$regressions"/*; do
    [[ -f $input && $(basename "$input") != README* ]] || continue
    replayed=$((replayed + 1))
    if ! "$binary" "${options[@]}" "$input" > "$work/replay.log" 2>&1; then
      cp "$work/replay.log" "$fuzz_build/logs/$target-replay-$(basename "$input").log"
      failed=$((failed + 1))
      echo "fuzz: $target: regression $(basename "$input") FAILS:"
      report "$work/replay.log"
    fi
  done
  echo "fuzz: $target: $replayed regression inputs replayed, $failed failing"
  ((failed == 0)) || status=1
  ((seconds > 0)) || continue

  before=$(ls "$artifacts")
  fork=()
  if [[ -n ${PINN_FUZZ_FORK:-} ]]; then
    fork=(-fork="$PINN_FUZZ_FORK" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  echo "fuzz: $target: fuzzing for $seconds s (log: $log)"
  set +e
  # -len_control=0: lengths up to -max_len from the start (libFuzzer otherwise grows them slowly),
  # since the limits on nesting and length need long inputs within the 60 s of a CI run.
  # shellcheck disable=SC2086  # PINN_FUZZ_ARGS: flags, split on spaces
  "$binary" "${options[@]}" -max_total_time="$seconds" -max_len="${max_len[$target]}" \
    -len_control=0 -dict="${dictionary[$target]}" -artifact_prefix="$artifacts/" -print_final_stats=1 \
    "${fork[@]}" ${PINN_FUZZ_ARGS:-} "$fuzz_build/corpus/$target" "$seeds/$target" \
    > "$log" 2>&1
  code=$?
  set -e
  { grep -E "^#[0-9]+" "$log" | tail -1
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" \
      "$log"; } | sed 's/^/  /' || true
  found=0
  for artifact in "$artifacts"/*; do
    [[ -f $artifact ]] || continue
    name=$(basename "$artifact")
    grep -qxF "$name" <<< "$before" && continue
    found=$((found + 1))
    cp "$artifact" "$regressions/$name"
    echo "fuzz: $target: FINDING $name, saved as tests/fuzz/regressions/$target/$name (commit it)"
  done
  if ((found > 0 || code != 0)); then
    status=1
    echo "fuzz: $target: libFuzzer exited $code; the report:"
    report "$log"
  fi
done
exit $status
