#!/usr/bin/python3
"""Reference solution of the Allen-Cahn equation in jaxpi's benchmark setup.

    u_t - 1e-4 u_xx + 5 u^3 - 5 u = 0,  x in [-1, 1] periodic (period 2), t in [0, tmax],
    u(x, 0) = x^2 cos(pi x),

(Wang et al., "An expert's guide to training physics-informed neural networks", arXiv 2308.08468)
on jaxpi's grid: nx x-points equally spaced in [-1, 1], both ends included
(x_j = -1 + 2 j / (nx - 1), the x = 1 column repeating x = -1) times nt t-points equally spaced in
[0, tmax] (defaults 512 x 201, tmax 1: t = 0, 0.005, ..., 1). That is the layout of jaxpi's
examples/allen_cahn/data/allen_cahn.mat (x = linspace(-1, 1, 512), usol of shape (201, 512)
indexed [t, x]; its gen_allen_cahn.m solves on 511 periodic points with chebfun's spin, dt 1e-5,
and appends the x = -1 column as x = 1). --grid periodic gives x_j = -1 + 2 j / nx instead, x = 1
left out.

Method: Fourier spectral in x, ETDRK4 in time (Kassam & Trefethen, "Fourth-order time-stepping for
stiff PDEs", SIAM J. Sci. Comput. 26 (2005) 1214). With `modes` equally spaced points
y_j = -1 + 2 j / modes and wavenumbers k = pi m (m = 0 .. modes/2, real FFT), the equation is
v_t = L v + N(v) for v = rfft(u) with the linear part diagonal,

    L = -1e-4 k^2 + 5            (the +5 u term is linear: it goes into L, handled exactly),
    N(v) = -5 rfft(irfft(v)^3)   (the cubic evaluated pointwise in physical space),

and one ETDRK4 step of size h is, with E = exp(h L), E2 = exp(h L / 2),

    a = E2 v + Q N(v),  b = E2 v + Q N(a),  c = E2 a + Q (2 N(b) - N(v)),
    v <- E v + f1 N(v) + 2 f2 (N(a) + N(b)) + f3 N(c),
    Q  = h (e^{z/2} - 1) / z,                   z = h L,
    f1 = h (-4 - z + e^z (4 - 3 z + z^2)) / z^3,
    f2 = h ( 2 + z + e^z (-2 + z)) / z^3,
    f3 = h (-4 - 3 z - z^2 + e^z (4 - z)) / z^3.

These phi-functions lose all their digits to cancellation for small |z| (z = 5 h at k = 0), so,
as Kassam & Trefethen do, each is evaluated as the mean of its values on a circle of radius 1
around z: --contour M points on the upper half circle (default 32), the real part of their mean
being the mean over the full circle of 2 M points for real z (their kursiv.m). Against 50-digit
closed forms the coefficients agree to ~3e-16 relative for z in [-4000, 0.5], except within ~0.05
of z = -1, where the circle passes next to 0 (~1e-13; those are modes |k| ~ 6000 at the default
step, far below rounding in amplitude).

The initial condition is continuous, but its derivative jumps (by 4) at x = +-1, so its Fourier
coefficients decay only like 1/k^2. Sampling it on the solution points would alias that tail onto
every mode, an O(modes^-2) error that the diffusion never removes (measured, t >= 0.1: 1.8e-4 with
512 modes, still 4.9e-7 with 8192, shrinking 4x per doubling). So the solver starts from the
exact Fourier coefficients instead (truncated series, see initial_coefficients), and the error is
the missing tail |k| > pi modes / 2, which the diffusion damps like exp(-1e-4 k^2 t): at the
first output time t = 0.005 that needs 4096 modes for ~1e-12 (2048 modes: 1.7e-7 at t = 0.005,
x = -1, but ~2e-11 from t = 0.05 on). Hence the default 4096 modes. On jaxpi's grid (spacing
2 / 511) the Fourier series is evaluated at the output points; on --grid periodic they are every
8th solution point. The aliasing of the cubic is not removed: at 4096 modes it is below rounding
(4096 vs 16384 modes: 3e-12). The t = 0 row is the initial condition itself (the truncated series
differs from it by O(1 / modes) next to the kink).

The time step is the largest h <= --dt that divides the output interval tmax / (nt - 1); the
default 2.5e-4 is 20 steps per output interval, 4000 in all. Measured at 4096 modes against
h = 5e-5: h = 5e-3 1.9e-7, 2.5e-3 7.0e-9, 1e-3 1.6e-10, 5e-4 9.7e-12, 2.5e-4 9.3e-12 (rounding,
which grows with the number of steps: h = 1e-4 gives 1.2e-11 against 5e-5).

`--convergence` repeats the computation with twice the modes and half the time step, prints the
largest change in u over the output grid (and where it is largest) and fails if it is above
--tolerance. Measured (2-core machine shared with a C++ build, /usr/bin/python3, numpy 1.24.2):

    $ time allen_cahn_reference.py out.csv --convergence
    wrote out.csv: 512 x 201 points, 4096 modes, dt = 0.00025 (4000 steps), solved in 1.09 s; ...
    convergence: max |u - u(2x modes, dt/2)| = 1.157e-11 at x = 0.0019569471624265589, t = 1; ...
                 (finer solve 4.04 s)
    real 0m5.5s

(the same 1.157e-11 with --grid periodic, at x = 0: rounding, amplified where u sits near the
unstable state 0). Against jaxpi's allen_cahn.mat (read without scipy, written as x,t,u):
max |u - u_jaxpi| = 9.1e-4 at x = -1, t = 0.01 (their initial kink sampled on 511 points), 1.8e-4
from t = 0.1 on, 1.4e-6 from t = 0.5 on; mean 3.9e-7, relative L2 1.6e-5.

The solution at t = 1: u ~ -1 for |x| > 0.5 (u(+-1) = -0.99999888, u(+-0.75) = -0.99988), interior
layers at x = +-0.5 (u(+-0.499) = 0.0223), u ~ +0.99 for 0 < |x| < 0.5 (u(+-0.2485) = 0.98831, max
0.992698 at x = +-0.3425) with a narrow dip at x = 0 (u(0.00196) = 0.0301: x^2 cos(pi x) starts
from the unstable state 0 there; on --grid periodic u(0, 1) = 0.02958, u(+-0.5, 1) = -0.0641,
u(+-0.25, 1) = 0.98847); min -0.99999888, max 0.99270, u in [-1, 1] at all t.

Usage:
    allen_cahn_reference.py OUT.csv [--nx 512] [--nt 201] [--tmax 1.0] [--grid jaxpi|periodic]
                            [--modes 4096] [--dt 2.5e-4]
                            [--contour 32] [--convergence]
                            [--check REFERENCE.csv] [--tolerance 1e-7]

Writes OUT.csv (via a temporary OUT.csv.<pid>.tmp, then renamed) with header `x,t,u`, values as
%.17g, rows ordered t-major: all x (ascending) for the first t, then all x for the next t, ...
(jaxpi's usol flattened row by row).

--check REFERENCE.csv reads a CSV with columns x, t, u (any column order, any row order), matches
its rows to the computed ones by (x, t) rounded to 1e-9, and prints the max abs difference in u.
It also checks that the computed t = 0 row equals x^2 cos(pi x) to 1e-12. Exit status: 0 all
checks pass; 1 a check fails (difference above --tolerance, rows that do not match up, the sanity
check, or with --convergence a change above --tolerance); 77 the reference file does not exist
(printed as "skipped: ... not found", for ctest's SKIP_RETURN_CODE). jaxpi's dataset (511 points,
the initial condition sampled, dt 1e-5) needs a looser --tolerance, see above.
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
EPSILON = 1e-4   # diffusion coefficient
GAMMA = 5.0      # reaction coefficient: u_t = EPSILON u_xx + GAMMA (u - u^3)


def initial(x):
    return x ** 2 * np.cos(np.pi * x)


def initial_coefficients(modes):
    """rfft of the initial condition as if sampled from its truncated Fourier series.

    x^2 cos(pi x) = sum_m c_m exp(i pi m x) with c_m = (I(m + 1) + I(m - 1)) / 2,
    I(n) = int_0^1 x^2 cos(pi n x) dx = 2 (-1)^n / (pi n)^2 (n != 0), I(0) = 1/3.
    Modes |m| < modes/2 are kept (the Nyquist mode is 0); on the points y_j = -1 + 2 j / modes,
    exp(i pi m y_j) = (-1)^m exp(2 pi i m j / modes), hence the factor modes (-1)^m.
    """
    def integral(n):
        n = np.abs(n).astype(float)
        safe = np.where(n == 0, 1.0, n)
        return np.where(n == 0, 1.0 / 3.0, 2.0 * np.cos(np.pi * n) / (np.pi * safe) ** 2)

    m = np.arange(modes // 2 + 1)
    c = 0.5 * (integral(m + 1) + integral(m - 1)) * np.where(m % 2 == 0, 1.0, -1.0)
    c[-1] = 0.0
    return modes * c.astype(complex)


def grid(nx, nt, tmax, kind="jaxpi"):
    """jaxpi: nx points equally spaced in [-1, 1], both ends; periodic: x = 1 left out."""
    if kind == "jaxpi":
        x = np.linspace(-1.0, 1.0, nx)
    else:
        x = -1.0 + 2.0 * np.arange(nx) / nx
    return x, np.linspace(0.0, tmax, nt)


def etdrk4_coefficients(z, h, contour):
    """E, E2, Q, f1, f2, f3 of Kassam & Trefethen for real z = h L (contour integrals)."""
    r = np.exp(1j * np.pi * (np.arange(1, contour + 1) - 0.5) / contour)
    lr = z[:, None] + r[None, :]
    e = np.exp(lr)
    q = h * np.real(np.mean((np.exp(lr / 2) - 1) / lr, axis=1))
    f1 = h * np.real(np.mean((-4 - lr + e * (4 - 3 * lr + lr ** 2)) / lr ** 3, axis=1))
    f2 = h * np.real(np.mean((2 + lr + e * (-2 + lr)) / lr ** 3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * lr - lr ** 2 + e * (4 - lr)) / lr ** 3, axis=1))
    return np.exp(z), np.exp(z / 2), q, f1, f2, f3


def time_step(dt, tmax, nt):
    """(h, steps per output interval): the largest h <= dt that divides tmax / (nt - 1)."""
    if nt < 2 or tmax == 0.0:
        return dt, 0
    interval = tmax / (nt - 1)
    steps = max(1, int(math.ceil(interval / dt * (1 - 1e-12))))
    return interval / steps, steps


def solve(modes, t, dt, contour=32):
    """u at the solution points y_j = -1 + 2 j / modes and the times t: an array (nt, modes)."""
    k = np.pi * np.arange(modes // 2 + 1)
    h, steps = time_step(dt, t[-1], len(t))
    e, e2, q, f1, f2, f3 = etdrk4_coefficients(h * (-EPSILON * k ** 2 + GAMMA), h, contour)
    rfft, irfft = np.fft.rfft, np.fft.irfft

    def nonlinear(v):
        w = irfft(v, modes)
        return -GAMMA * rfft(w * w * w)

    u = np.empty((len(t), modes))
    v = initial_coefficients(modes)
    u[0] = irfft(v, modes)
    for n in range(1, len(t)):
        for _ in range(steps):
            nv = nonlinear(v)
            a = e2 * v + q * nv
            na = nonlinear(a)
            b = e2 * v + q * na
            nb = nonlinear(b)
            c = e2 * a + q * (2 * nb - nv)
            nc = nonlinear(c)
            v = e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc
        u[n] = irfft(v, modes)
    return u


def on_grid(u, x):
    """u (nt, modes) at the points y_j = -1 + 2 j / modes, taken to the points x (nx,)."""
    modes = u.shape[1]
    stride = (x + 1.0) * modes / 2.0
    index = np.rint(stride).astype(np.int64)
    if np.all(np.abs(stride - index) < 1e-9):
        return u[:, index % modes]  # x = 1 is x = -1
    # Trigonometric interpolation: the real Fourier series through the solution points, the
    # Nyquist mode (even modes) as a cosine.
    c = np.fft.rfft(u, axis=1) / modes
    weight = np.full(c.shape[1], 2.0)
    weight[0] = 1.0
    if modes % 2 == 0:
        weight[-1] = 1.0
    phase = np.exp(1j * np.pi * np.outer(np.arange(c.shape[1]), x + 1.0))
    return np.real((c * weight) @ phase)


def solution(x, t, modes, dt, contour):
    u = on_grid(solve(modes, t, dt, contour), x)
    u[0] = initial(x)  # exactly, also where the output points are interpolated
    return u


def main():
    parser = argparse.ArgumentParser(
        description="Fourier spectral + ETDRK4 reference solution of the Allen-Cahn equation "
                    "on jaxpi's grid.")
    parser.add_argument("out", metavar="OUT.csv")
    parser.add_argument("--nx", type=int, default=512)
    parser.add_argument("--nt", type=int, default=201)
    parser.add_argument("--tmax", type=float, default=1.0)
    parser.add_argument("--grid", choices=("jaxpi", "periodic"), default="jaxpi",
                        help="x points: jaxpi (default) nx points equally spaced in [-1, 1], both "
                             "ends; periodic: x_j = -1 + 2 j / nx, x = 1 left out")
    parser.add_argument("--modes", type=int, default=4096,
                        help="Fourier modes (solution points) in x (default 4096, even)")
    parser.add_argument("--dt", type=float, default=2.5e-4,
                        help="largest time step (default 2.5e-4); the step used divides the "
                             "output interval")
    parser.add_argument("--contour", type=int, default=32,
                        help="points on the half circle for the ETDRK4 coefficients (default 32)")
    parser.add_argument("--convergence", action="store_true",
                        help="also solve with twice the modes and half the time step, print the "
                             "largest change and fail if it exceeds --tolerance")
    parser.add_argument("--check", metavar="REFERENCE.csv")
    parser.add_argument("--tolerance", type=float, default=1e-7)
    args = parser.parse_args()
    if (args.nx < 1 or args.nt < 1 or args.tmax < 0 or args.modes < 4 or args.modes % 2
            or args.dt <= 0 or args.contour < 1):
        parser.error("need nx >= 1, nt >= 1, tmax >= 0, even modes >= 4, dt > 0, contour >= 1")

    if args.check and not os.path.isfile(args.check):
        print(f"skipped: reference dataset {args.check} not found")
        return SKIP

    start = time.perf_counter()
    x, t = grid(args.nx, args.nt, args.tmax, args.grid)
    u = solution(x, t, args.modes, args.dt, args.contour)
    elapsed = time.perf_counter() - start
    write_csv(args.out, x, t, u)
    h, steps = time_step(args.dt, args.tmax, args.nt)
    print(f"wrote {args.out}: {args.nx} x {args.nt} points, {args.modes} modes, "
          f"dt = {h:.6g} ({steps * (args.nt - 1)} steps), solved in {elapsed:.2f} s; "
          f"u(t = {t[-1]:g}) in [{u[-1].min():.6f}, {u[-1].max():.6f}]")

    ok = True
    if args.convergence:
        start = time.perf_counter()
        finer = solution(x, t, 2 * args.modes, h / 2, args.contour)
        change = np.abs(u - finer)
        worst = np.unravel_index(np.argmax(change), change.shape)
        print(f"convergence: max |u - u(2x modes, dt/2)| = {change[worst]:.3e} at "
              f"x = {x[worst[1]]:.17g}, t = {t[worst[0]]:.17g}; at t = {t[-1]:g} "
              f"{change[-1].max():.3e} (finer solve {time.perf_counter() - start:.2f} s)")
        if not change[worst] <= args.tolerance:
            print(f"FAIL: change {change[worst]:.3e} exceeds tolerance {args.tolerance:g}")
            ok = False

    if args.check:
        ic_error = np.max(np.abs(u[0] - initial(x))) if t[0] == 0.0 else 0.0
        print(f"initial condition: max |u(x, 0) - x^2 cos(pi x)| = {ic_error:.3e}")
        if ic_error > 1e-12:
            print("FAIL: initial condition row differs from x^2 cos(pi x) by more than 1e-12")
            ok = False
        ok = compare(args.check, x, t, u, args.tolerance) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
