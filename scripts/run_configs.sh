#!/usr/bin/env bash
# Trains every PDE config in configs/ in full and prints one table: the relative L2 error against
# its reference (the worst output's), the max error and the wall time, from each run's summary.json. These are the
# figures the README's examples table quotes. Usage: scripts/run_configs.sh [config names...] (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
configs=("$@")
if ((${#configs[@]} == 0)); then
  configs=(poisson_2d_sin poisson_lshape heat_1d helmholtz_2d robin_plate heat_periodic heat_inverse burgers
    burgers_best burgers_ssbroyden annulus_polar damped_oscillator multiscale_poisson_1d elasticity_parallel)
fi
[[ -f configs/data/burgers_reference.csv ]] ||
  /usr/bin/python3 scripts/burgers_reference.py configs/data/burgers_reference.csv
printf '%-22s %12s %12s %10s %8s\n' config l2_rel max_err wall_s steps
for name in "${configs[@]}"; do
  build/pinn-train "configs/$name.json" --force -q -o "runs/$name"
  /usr/bin/python3 - "runs/$name/summary.json" "$name" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
m = s["metrics"]
# The worst output's errors (u; x; u and v ...).
l2 = max(v for k, v in m.items() if k.startswith("l2_rel_"))
err = max(v for k, v in m.items() if k.startswith("max_err_"))
print(f'{sys.argv[2]:<22} {l2:12.3e} {err:12.3e} {s["wall_time_s"]:10.1f} {s["steps"]:8d}')
PY
done
