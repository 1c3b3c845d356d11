#!/usr/bin/env bash
# Issue 6's whole check on the GPU machine in one command, with the `device` tool:
#
#   run  command: scripts/device/gpu_check.sh   carry: [".deps", "configs/data"]
#
# (.deps from scripts/device/fetch_deps.sh; configs/data holds the Burgers reference, which saves
# computing it there.) Each phase has a time budget so that all logs come back inside one call;
# they go to $OUT (the device tool's folder), else ./gpu-check:
#   env.txt          GPU, driver, PyTorch, compiler
#   build.log        scripts/device/build_cuda.sh; on failure build_errors.txt, and the script stops
#   warnings.txt     compiler warnings in our own code (the device build does not make them errors)
#   graph_probe.txt  one captured Burgers step with -v (why a capture failed, if it did)
#   bench_burgers.txt  scripts/bench/gpu.py on DeepXDE's Burgers step (the issue's first target)
#   ctest.log        the unit and end-to-end tests with PINN_TRAIN_DEVICE=cuda
#   bench_rest.txt   gpu.py on Burgers at 1e5 and 1e6 points and the d = 10 Laplacian
# GPU_CHECK_BUDGET (seconds, default 570) bounds the whole; GPU_CHECK_SKIP_BUILD=1 reuses build-cuda/.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-$PWD/gpu-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
budget=${GPU_CHECK_BUDGET:-570}
left() { echo $((budget - SECONDS)); }
phase() { echo "gpu_check: [$SECONDS s] $*"; }

phase "environment"
{
  nvidia-smi
  python3 -c 'import torch, sys; print(sys.executable, torch.__version__, torch.version.cuda,
torch.cuda.get_device_name(0))'
  c++ --version | head -1
  cmake --version | head -1
  echo "nproc $(nproc)"
} > "$out/env.txt" 2>&1
cat "$out/env.txt" | grep -E "NVIDIA|torch|python|c\+\+|cmake|nproc" | head -8

if [[ -z ${GPU_CHECK_SKIP_BUILD:-} ]]; then
  phase "build (at most 300 s)"
  if ! timeout 300 scripts/device/build_cuda.sh > "$out/build.log" 2>&1; then
    grep -E -B2 -A6 "error|Error" "$out/build.log" | head -400 > "$out/build_errors.txt"
    phase "BUILD FAILED"
    tail -40 "$out/build.log"
    exit 1
  fi
  grep -E "^[^ ]*(src|tests)/[^ ]*: warning:" "$out/build.log" | sort -u > "$out/warnings.txt"
  phase "built; $(wc -l < "$out/warnings.txt") warnings in our code"
fi
export PINN_TRAIN=$PWD/build-cuda/pinn-train

bench() {  # bench FILE SECONDS PROBLEMS
  timeout "$2" python3 scripts/bench/gpu.py --device cuda --threads 4 --steps 300 --warmup 30 \
    --rounds 1 --timeout 150 --problems "$3" > "$out/$1" 2>&1
  phase "$1: exit $?"
  grep -E "^\|" "$out/$1"
}

# One graphed step with -v first: if capture fails, its log says why (gpu.py keeps only the JSON).
phase "CUDA graph probe (at most 40 s)"
timeout 40 "$PINN_TRAIN" -v bench configs/burgers.json --engine taylor --steps 50 --warmup 10 \
  --set dtype=float32 --set device=cuda --set "training[0].cuda_graph=true" > "$out/graph_probe.txt" 2>&1
phase "graph probe: exit $?"
grep -E -i "graph|capture|error|ms_per_step" "$out/graph_probe.txt" | cut -c1-400 | head -12

phase "Burgers benchmark (at most 170 s)"
bench bench_burgers.txt 170 "burgers 2780"

# Eight at a time: twelve test processes sharing the GPU made small float64 trainings, which are
# launch-bound there, run past 150 s (2026-11-26, H200).
ctest_budget=$(($(left) - 120))
((ctest_budget > 240)) && ctest_budget=240
phase "tests on the GPU (at most $ctest_budget s)"
(cd build-cuda && PINN_TRAIN_DEVICE=cuda timeout "$ctest_budget" ctest -L "unit|e2e" -j8 \
  --timeout 230 --output-on-failure > "$out/ctest.log" 2>&1)
phase "ctest: exit $?"
grep -E "tests passed|tests failed|\*\*\*Failed|\*\*\*Timeout|Not Run|Exception" "$out/ctest.log" | head -40

phase "the other benchmarks (at most $(left) s)"
bench bench_rest.txt "$(left)" "burgers 1e5,burgers 1e6,laplacian d=10"
phase "done"
