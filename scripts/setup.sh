#!/usr/bin/env bash
# Installs what pinn-train needs from Debian 12 packages, skipping what is already there, then
# writes the data files that configs read and git does not keep (configs/data/). Idempotent; uses
# sudo when not root. PINN_SKIP_INSTALL=1 skips the installation; the data files are still made.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake
  libtorch-dev            # LibTorch 1.13 (CPU)
  libgloo-dev             # Gloo's headers: c10d's ProcessGroupGloo, for runs across processes
  libopenblas0-openmp     # without it LibTorch uses the reference BLAS: ~2.5x slower steps
  libcli11-dev nlohmann-json3-dev libspdlog-dev
  libgtest-dev
  python3-torch python3-numpy  # scripts/predict.py and the benchmarks' PyTorch peers
  python3-matplotlib      # scripts/plot_run.py: loss histories and prediction heatmaps
  python3-jsonschema      # tests/schema/check_schema.py: configs checked against `pinn-train schema`
  slurm-wlm munge         # the sweep test starts a real Slurm on 127.0.0.1
  clang-14 libclang-rt-14-dev  # scripts/fuzz.sh: the libFuzzer targets of tests/fuzz/ (ctest -L fuzz)
)

install_missing() {
  [[ "${PINN_SKIP_INSTALL:-0}" == 1 ]] && return 0
  local missing=() package sudo=""
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  if ((${#missing[@]} == 0)); then
    echo "setup: all dependencies present"
    return 0
  fi
  echo "setup: installing ${missing[*]}"
  if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# configs/burgers*.json read the Cole-Hopf reference solution of Burgers' equation, and the
# Allen-Cahn reference (Fourier spectral + ETDRK4, jaxpi's grid) is there for Allen-Cahn runs: both
# are computed (about 2 s each, numpy) rather than kept in git. PINN_PYTHON picks another Python
# (the tests pass CMake's).
make_data() {
  local name reference python=${PINN_PYTHON:-/usr/bin/python3}
  for name in burgers allen_cahn; do
    reference=configs/data/${name}_reference.csv
    [[ -f "$reference" ]] && continue
    echo "setup: writing $reference (scripts/${name}_reference.py)"
    "$python" "scripts/${name}_reference.py" "$reference" > /dev/null || {
      echo "setup: could not write $reference with $python (it needs numpy)" >&2
      exit 1
    }
  done
}

install_missing
make_data
