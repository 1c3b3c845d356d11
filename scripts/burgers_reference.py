#!/usr/bin/python3
"""Reference solution of the viscous Burgers equation in DeepXDE's standard setup.

    u_t + u u_x = nu u_xx,  x in [-1, 1], t in [0, tmax],  u(x, 0) = -sin(pi x),
    u(-1, t) = u(1, t) = 0,  nu = 0.01/pi,

on DeepXDE's grid: nx x-points equally spaced in [-1, 1] (endpoints included) times nt t-points
equally spaced in [0, tmax] (defaults 256 x 100, tmax 0.99: t = 0, 0.01, ..., 0.99).

Method: Cole-Hopf. u = -2 nu (log theta)_x with theta_t = nu theta_xx and
theta(x, 0) = f(x) = exp(-cos(pi x) / (2 pi nu)) (up to a constant factor), so with
eta = sqrt(4 nu t) z,

    u(x, t) = - int sin(pi (x - eta)) f(x - eta) exp(-eta^2 / (4 nu t)) d eta
                / int f(x - eta) exp(-eta^2 / (4 nu t)) d eta
            = - int sin(pi y(z)) exp(E(z)) dz / int exp(E(z)) dz,
    y(z) = x - sqrt(4 nu t) z,   E(z) = -z^2 - cos(pi y(z)) / (2 pi nu).

(Note the leading minus sign: f'(y) = f(y) sin(pi y) / (2 nu), so u -> -sin(pi x) as t -> 0.
f is 2-periodic and even, which is what makes the boundary values vanish.)

Both integrals are evaluated with composite Gauss-Legendre quadrature over z in [-Z, Z]
(Z = sqrt(1/(pi nu) + 45), so the neglected tails are below ~1e-19 relative to the integrals
whatever x and t), with the exponent shifted by its maximum over the nodes for each (x, t)
(log-sum-exp style: E spans up to 1/(pi nu) = 100 in the exponent, so exp(E) itself would lose
everything). In z the peaks of exp(E) have width O(1) for every nu and t (the curvature of E is
at most 2 + 2 pi t), so the default 0.25-wide panels with 20 nodes each resolve them, including
the two peaks near the shock at x = 0 for t > ~0.3. Convergence is checked by `--convergence`,
which repeats the computation with twice the panels and reports the largest change.
t = 0 uses the initial condition exactly.

Usage:
    burgers_reference.py OUT.csv [--nx 256] [--nt 100] [--tmax 0.99] [--nu 0.0031830988618379067]
                         [--panels-per-unit 4] [--nodes 20] [--convergence]
                         [--check REFERENCE.csv [--tolerance 1e-4]]

Writes OUT.csv (via OUT.csv.tmp, then renamed) with header `x,t,u`, values as %.17g, rows ordered
t-major: all x (ascending) for the first t, then all x for the next t, ... (the same order as
DeepXDE's Burgers.npz flattened and as /work/shared/data/burgers_reference.csv).

--check REFERENCE.csv reads a CSV with columns x, t, u (any column order, any row order), matches
its rows to the computed ones by (x, t) rounded to 1e-9, and prints the max abs difference in u.
It also checks that the computed t = 0 row equals -sin(pi x) to 1e-12 and that the computed
boundary values u(-1, t), u(1, t) are 0 to 1e-12. Exit status: 0 all checks pass; 1 a check
fails (difference above --tolerance, rows that do not match up, sanity checks); 77 the reference
file does not exist (printed as "skipped: ... not found", for ctest's SKIP_RETURN_CODE).
Uses numpy only.
"""
import argparse
import math
import os
import sys
import time

import numpy as np

from grid_csv import compare, write_csv

SKIP = 77


def grid(nx, nt, tmax):
    return np.linspace(-1.0, 1.0, nx), np.linspace(0.0, tmax, nt)


def solve(x, t, nu, panels_per_unit=4, nodes=20):
    """u on the grid x (nx,) times t (nt,), as an array (nt, nx)."""
    zmax = math.sqrt(1.0 / (math.pi * nu) + 45.0)
    panels = int(math.ceil(2.0 * zmax * panels_per_unit))
    gx, gw = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(-zmax, zmax, panels + 1)
    half = 0.5 * (edges[1:] - edges[:-1])
    mid = 0.5 * (edges[1:] + edges[:-1])
    z = (mid[:, None] + half[:, None] * gx[None, :]).ravel()
    w = (half[:, None] * gw[None, :]).ravel()
    log_w = np.log(w)
    c = 1.0 / (2.0 * math.pi * nu)

    u = np.empty((len(t), len(x)))
    for k, tk in enumerate(t):
        if tk == 0.0:
            u[k] = -np.sin(np.pi * x)
            continue
        y = x[:, None] - math.sqrt(4.0 * nu * tk) * z[None, :]
        exponent = -z[None, :] ** 2 - c * np.cos(np.pi * y) + log_w[None, :]
        exponent -= exponent.max(axis=1, keepdims=True)
        weight = np.exp(exponent)
        u[k] = -(weight * np.sin(np.pi * y)).sum(axis=1) / weight.sum(axis=1)
    return u


def check(reference, x, t, u, tolerance):
    """Compare with REFERENCE and run the sanity checks; returns True if all pass."""
    ok = True
    ic_error = np.max(np.abs(u[t == 0.0] - (-np.sin(np.pi * x)))) if np.any(t == 0.0) else 0.0
    bc_error = max(np.max(np.abs(u[:, 0])), np.max(np.abs(u[:, -1])))
    print(f"initial condition: max |u(x, 0) + sin(pi x)| = {ic_error:.3e}")
    print(f"boundary: max |u(+-1, t)| = {bc_error:.3e}")
    if ic_error > 1e-12:
        print("FAIL: initial condition row differs from -sin(pi x) by more than 1e-12")
        ok = False
    if bc_error > 1e-12:
        print("FAIL: boundary values differ from 0 by more than 1e-12")
        ok = False

    return compare(reference, x, t, u, tolerance) and ok


def main():
    parser = argparse.ArgumentParser(
        description="Cole-Hopf reference solution of Burgers' equation on DeepXDE's grid.")
    parser.add_argument("out", metavar="OUT.csv")
    parser.add_argument("--nx", type=int, default=256)
    parser.add_argument("--nt", type=int, default=100)
    parser.add_argument("--tmax", type=float, default=0.99)
    parser.add_argument("--nu", type=float, default=0.01 / math.pi)
    parser.add_argument("--panels-per-unit", type=int, default=4,
                        help="Gauss-Legendre panels per unit length in z (default 4)")
    parser.add_argument("--nodes", type=int, default=20,
                        help="Gauss-Legendre nodes per panel (default 20)")
    parser.add_argument("--convergence", action="store_true",
                        help="also solve with twice the panels and print the largest change")
    parser.add_argument("--check", metavar="REFERENCE.csv")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    if args.nx < 2 or args.nt < 1 or args.nu <= 0 or args.tmax < 0:
        parser.error("need nx >= 2, nt >= 1, nu > 0, tmax >= 0")

    if args.check and not os.path.isfile(args.check):
        print(f"skipped: reference dataset {args.check} not found")
        return SKIP

    start = time.perf_counter()
    x, t = grid(args.nx, args.nt, args.tmax)
    u = solve(x, t, args.nu, args.panels_per_unit, args.nodes)
    elapsed = time.perf_counter() - start
    write_csv(args.out, x, t, u)
    print(f"wrote {args.out}: {args.nx} x {args.nt} points, nu = {args.nu:.17g}, "
          f"solved in {elapsed:.2f} s")

    if args.convergence:
        finer = solve(x, t, args.nu, 2 * args.panels_per_unit, args.nodes)
        print(f"convergence: max |u - u(2x panels)| = {np.max(np.abs(u - finer)):.3e}")

    if args.check:
        return 0 if check(args.check, x, t, u, args.tolerance) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
