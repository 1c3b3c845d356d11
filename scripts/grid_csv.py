"""Reference solutions on an (x, t) grid as CSV files, shared by scripts/burgers_reference.py and
scripts/allen_cahn_reference.py: writing them (header `x,t,u`, values as %.17g, rows t-major: all
x ascending for the first t, then the next t, ...), reading one back, and comparing a computed
grid with a file row by row, matched by (x, t) rounded to 1e-9. numpy only."""
import os

import numpy as np

KEY_SCALE = 1e9  # rows are matched by (x, t) rounded to 1e-9


def write_csv(path, x, t, u):
    """u[i, j] at (x[j], t[i]), via a temporary file renamed at the end. A clean clone has no
    configs/data/ yet, and several writers may make the same file at once under `ctest -j`: the
    folder is made, and each writer has its own temporary name."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    xx = np.tile(x, len(t))
    tt = np.repeat(t, len(x))
    with open(tmp, "w") as handle:
        handle.write("x,t,u\n")
        np.savetxt(handle, np.column_stack([xx, tt, u.ravel()]), fmt="%.17g", delimiter=",")
    os.replace(tmp, path)


def read_csv(path):
    """The columns x, t and u of a CSV (any column and row order)."""
    with open(path) as handle:
        header = [name.strip() for name in handle.readline().strip().split(",")]
    missing = [name for name in ("x", "t", "u") if name not in header]
    if missing:
        raise ValueError(f"{path}: no column(s) {', '.join(missing)} in header {header}")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return tuple(data[:, header.index(name)] for name in ("x", "t", "u"))


def keys(x, t):
    kx = np.rint(np.asarray(x) * KEY_SCALE).astype(np.int64)
    kt = np.rint(np.asarray(t) * KEY_SCALE).astype(np.int64)
    return np.stack([kx, kt], axis=1)


def compare(reference, x, t, u, tolerance):
    """Compares the grid u (t-major, as write_csv lays it out) with REFERENCE row by row; prints
    the largest difference; returns True when every row matches one of ours within tolerance."""
    ok = True
    rx, rt, ru = read_csv(reference)
    ours = keys(np.tile(x, len(t)), np.repeat(t, len(x)))
    theirs = keys(rx, rt)
    ours_u = u.ravel()
    # Index both key sets through one sorted union to match rows.
    union, inverse = np.unique(np.concatenate([ours, theirs]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    ours_idx, theirs_idx = inverse[: len(ours)], inverse[len(ours):]
    if len(np.unique(theirs_idx)) != len(theirs_idx):
        print(f"FAIL: {reference} has duplicate (x, t) rows")
        return False
    slot = np.full(len(union), -1)
    slot[ours_idx] = np.arange(len(ours))
    matched = slot[theirs_idx]
    unmatched_ref = np.count_nonzero(matched < 0)
    unmatched_ours = len(ours) - np.count_nonzero(matched >= 0)
    if unmatched_ref or unmatched_ours:
        print(f"FAIL: {unmatched_ref} reference rows have no computed (x, t) and "
              f"{unmatched_ours} computed rows have no reference row (grids differ?)")
        ok = False
    sel = matched >= 0
    if not np.any(sel):
        return False
    diff = np.abs(ours_u[matched[sel]] - ru[sel])
    worst = int(np.argmax(diff))
    print(f"compared {np.count_nonzero(sel)} rows with {reference}: max |u - u_ref| = "
          f"{diff[worst]:.3e} at x = {rx[sel][worst]:.17g}, t = {rt[sel][worst]:.17g}; "
          f"mean {diff.mean():.3e}")
    if not diff[worst] <= tolerance:
        print(f"FAIL: max abs difference {diff[worst]:.3e} exceeds tolerance {tolerance:g}")
        ok = False
    return ok
