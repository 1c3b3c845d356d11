#!/usr/bin/python3
"""Report on a run of the seed example (configs/seed_dx_squared*.json).

    check_seed.py RUN_DIR

Prints max |u_x| over the training points (from summary.json), how much u varies along the
lines y = 1 and y = -1 for x in [-2, 2], and whether u also varies in y (a non-trivial solution)
or is constant everywhere. Exits 1 if max |u_x| > 1e-4 or u varies by more than 1e-2 along a line.
"""
import csv
import json
import sys


def column(path, name, keep=lambda row: True):
    with open(path, newline="") as handle:
        return [float(row[name]) for row in csv.DictReader(handle) if keep(row)]


def main():
    run = sys.argv[1] if len(sys.argv) > 1 else "runs/seed_dx_squared"
    summary = json.load(open(f"{run}/summary.json"))
    max_ux = summary["losses"]["dx_squared"]["max_abs_residual"]
    print(f"{summary['name']}: {summary['steps']} L-BFGS iterations, wall time "
          f"{summary['wall_time_s']:.2f} s, final loss {summary['final_loss']:.3e}")
    print(f"max |u_x| over the {summary['training_points']} training points: {max_ux:.3e}")

    inside = lambda row: -2.0 <= float(row["x"]) <= 2.0
    variations = {}
    for name in ("line_y_plus1", "line_y_minus1"):
        u = column(f"{run}/predictions_{name}.csv", "u", inside)
        variations[name] = max(u) - min(u)
        print(f"{name}: u in [{min(u):.6f}, {max(u):.6f}] for x in [-2, 2], variation "
              f"{variations[name]:.3e}")
    grid_u = column(f"{run}/predictions_grid.csv", "u")
    spread = max(grid_u) - min(grid_u)
    print(f"grid over [-2, 2]^2: u ranges over {spread:.3e} "
          + ("(u varies in y: a non-trivial solution)" if spread > 1e-2
             else "(u is nearly constant everywhere: the trivial solution)"))

    ok = max_ux <= 1e-4 and all(v <= 1e-2 for v in variations.values())
    print("check: PASS" if ok else "check: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
