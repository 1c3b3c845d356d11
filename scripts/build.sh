#!/usr/bin/env bash
# Configures and builds pinn-train and its tests in build/ (Release). Extra arguments go to
# CMake's configure step, e.g. -DCMAKE_PREFIX_PATH=<a CUDA LibTorch>.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
