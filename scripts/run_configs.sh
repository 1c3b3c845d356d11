#!/usr/bin/env bash
# Trains every PDE config in configs/ in full and prints one table: the relative L2 error against
# its reference, the max error and the wall time, from each run's summary.json. These are the
# figures the README's examples table quotes. Usage: scripts/run_configs.sh [config names...] (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
configs=("$@")
if ((${#configs[@]} == 0)); then
  configs=(poisson_2d_sin poisson_lshape heat_1d helmholtz_2d robin_plate heat_periodic heat_inverse burgers
    burgers_best burgers_ssbroyden)
fi
[[ -f configs/data/burgers_reference.csv ]] ||
  /usr/bin/python3 scripts/burgers_reference.py configs/data/burgers_reference.csv
printf '%-16s %12s %12s %10s %8s\n' config l2_rel_u max_err_u wall_s steps
for name in "${configs[@]}"; do
  build/pinn-train "configs/$name.json" --force -q -o "runs/$name"
  /usr/bin/python3 - "runs/$name/summary.json" "$name" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
m = s["metrics"]
print(f'{sys.argv[2]:<16} {m["l2_rel_u"]:12.3e} {m["max_err_u"]:12.3e} {s["wall_time_s"]:10.1f} {s["steps"]:8d}')
PY
done
