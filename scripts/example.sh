#!/usr/bin/env bash
# Installs what is missing, builds, and trains the seed example: a network u(x, y) minimising
# the mean of (du/dx)^2 over 100 normally distributed points. Results land in runs/seed_dx_squared.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/pinn-train configs/seed_dx_squared.json --force "$@"
/usr/bin/python3 scripts/check_seed.py runs/seed_dx_squared
