#!/usr/bin/env bash
# Builds pinn-train and its tests against the CUDA LibTorch of this machine's PyTorch (pip), with
# the dependencies from .deps/ (scripts/device/fetch_deps.sh, run where apt works) into
# build-cuda/. For the GPU machine, e.g. through the `device` tool with carry [".deps"]:
#
#   scripts/device/build_cuda.sh && cd build-cuda && PINN_TRAIN_DEVICE=cuda ctest -j8
#
# PYTHON (default python3) is the Python whose torch is used; the tests' scripts run under it too.
# Warnings stay warnings here (PINN_WERROR=OFF; a newer compiler than CI's may add some), and the
# build keeps going past a failed file so that one run lists every error. Extra arguments go to
# CMake's configure step (e.g. -DPINN_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=$(command -v "${PYTHON:-python3}")
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "build_cuda: LibTorch from $("$python" -c 'import torch; print(torch.__version__, torch.__file__)')"
[[ -d .deps/usr ]] || { echo "build_cuda: .deps/ is missing: run scripts/device/fetch_deps.sh first" >&2; exit 2; }
# The pip LibTorch finds CUDA's libraries through its own RUNPATH into site-packages/nvidia/; the
# linker is given the same folders, in case it does not follow $ORIGIN when it checks them.
nvidia_libs=$("$python" -c 'import glob, os, torch
root = os.path.join(os.path.dirname(os.path.dirname(torch.__file__)), "nvidia")
print(":".join(sorted(glob.glob(os.path.join(root, "*", "lib")) + glob.glob(os.path.join(root, "cu*", "lib")))))')
link_flags=(-DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$(dirname "$prefix")/../lib${nvidia_libs:+:$nvidia_libs}")
if ! command -v nvcc > /dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
generator=()
keep_going=(-k)
if command -v ninja > /dev/null; then
  generator=(-G Ninja)
  keep_going=(-k 0)
fi
cmake -S . -B build-cuda "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DPINN_DEPS_DIR="$PWD/.deps" -DPINN_PYTHON="$python" -DPINN_WERROR=OFF "${link_flags[@]}" "$@"
cmake --build build-cuda -j"$(nproc)" -- "${keep_going[@]}"
