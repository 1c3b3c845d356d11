#!/usr/bin/env bash
# Downloads Debian 12's packages of pinn-train's dependencies other than LibTorch (CLI11,
# nlohmann_json, spdlog, fmt, GoogleTest's sources) and unpacks them into .deps/ (git-ignored),
# for a machine that has LibTorch (e.g. a pip PyTorch with CUDA) but no package registry: the
# `device` tool carries .deps/ there (carry: [".deps"]), and scripts/device/build_cuda.sh
# builds with -DPINN_DEPS_DIR=.deps. Run it here, where apt works; idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
packages=(libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev googletest)
if [[ -f .deps/.complete ]]; then
  echo "fetch_deps: .deps/ is complete"
  exit 0
fi
rm -rf .deps
mkdir -p .deps/debs
(cd .deps/debs && apt-get download "${packages[@]}")
for deb in .deps/debs/*.deb; do
  dpkg -x "$deb" .deps
done
rm -rf .deps/debs
touch .deps/.complete
echo "fetch_deps: unpacked ${packages[*]} into .deps/"
