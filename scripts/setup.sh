#!/usr/bin/env bash
# Installs what pinn-train needs from Debian 12 packages, skipping what is already there.
# Idempotent; uses sudo when not root. Set PINN_SKIP_INSTALL=1 to skip entirely.
set -euo pipefail

packages=(
  build-essential cmake
  libtorch-dev            # LibTorch 1.13 (CPU)
  libopenblas0-openmp     # without it LibTorch uses the reference BLAS: ~2.5x slower steps
  libcli11-dev nlohmann-json3-dev libspdlog-dev
  libgtest-dev
  python3-torch python3-numpy  # scripts/predict.py and the benchmarks' PyTorch peers
  python3-matplotlib      # scripts/plot_run.py: loss histories and prediction heatmaps
  python3-jsonschema      # tests/schema/check_schema.py: configs checked against `pinn-train schema`
  slurm-wlm munge         # the sweep test starts a real Slurm on 127.0.0.1
)

[[ "${PINN_SKIP_INSTALL:-0}" == 1 ]] && exit 0

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all dependencies present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
