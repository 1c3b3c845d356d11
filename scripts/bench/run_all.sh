#!/usr/bin/env bash
# Runs the four benchmarks in sequence, each printing its table; arguments go to every driver
# (e.g. --quick, --threads 1, --steps 100; --dtype overrides each driver's default).
#   scripts/bench/run_all.sh [--quick] [--threads T] ...
set -euo pipefail
cd "$(dirname "$0")"
for bench in burgers_step laplacian scaling flops; do
  echo "## $bench"
  echo
  /usr/bin/python3 "$bench.py" "$@"
  echo
done
