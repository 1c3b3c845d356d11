#!/usr/bin/env bash
# Builds pinn-train and its tests against the CUDA LibTorch of this machine's PyTorch (pip), with
# the dependencies from .deps/ (scripts/device/fetch_deps.sh, run where apt works) into
# build-cuda/. For the GPU machine, e.g. through the `device` tool with carry [".deps"]:
#
#   scripts/device/build_cuda.sh && cd build-cuda && PINN_TRAIN_DEVICE=cuda ctest -j4
#
# PYTHON (default python3) is the Python whose torch is used.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "build_cuda: LibTorch from $("$python" -c 'import torch; print(torch.__version__, torch.__file__)')"
[[ -d .deps/usr ]] || { echo "build_cuda: .deps/ is missing: run scripts/device/fetch_deps.sh first" >&2; exit 2; }
cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DPINN_DEPS_DIR="$PWD/.deps" "$@"
cmake --build build-cuda -j"$(nproc)"
