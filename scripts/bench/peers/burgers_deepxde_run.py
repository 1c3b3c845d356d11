#!/usr/bin/python3
"""A whole Burgers run the way DeepXDE does it, in plain PyTorch: the accuracy peer of configs/burgers.json.

DeepXDE's examples/pinn_forward/Burgers.py, step by step (DeepXDE itself is not packaged for
Debian; this reimplements what it does, so that its result can be drawn over many seeds here):

- points: TimePDE(num_domain=2540, num_boundary=80, num_initial=160) with its default
  "Hammersley" distribution, i.e. scikit-optimize's Hammersly(min_skip=1, max_skip=1): x from
  the base-2 van der Corput sequence (indices 1..n), t = k/(n+1); the boundary points alternate
  x = -1, +1 at Hammersley times in shuffled order; the initial points take the 1-D sequence;
- the PDE residual at the domain, boundary and initial points together (DeepXDE's
  train_x_all), the Dirichlet term at the boundary points, the initial term at the initial
  points, each a mean square, summed with weight 1;
- a 2-20-20-20-1 tanh FNN, Glorot-normal weights, zero biases, float32 (DeepXDE's default);
- 15000 Adam steps at lr 1e-3, then L-BFGS as DeepXDE's TensorFlow backends run it: SciPy's
  L-BFGS-B with maxcor=100, ftol=0, gtol=1e-8, maxiter=15000, maxfun=15000, maxls=50
  (--lbfgs torch: torch.optim.LBFGS with the same options, DeepXDE's PyTorch backend).

Prints one JSON line: seed, relative L2 error on the reference grid after Adam and at the end,
L-BFGS iterations and function evaluations, why L-BFGS stopped, and the wall times.

    /usr/bin/python3 scripts/burgers_reference.py configs/data/burgers_reference.csv
    /usr/bin/python3 scripts/bench/peers/burgers_deepxde_run.py --seed 0
"""

import argparse
import json
import math
import time

import numpy as np
import torch

from burgers_step import burgers_loss
from peer_common import mlp

T_END = 0.99


def van_der_corput(indices):
    """Base-2 radical inverse of each index."""
    out = np.zeros(len(indices))
    scale = 0.5
    k = np.array(indices, dtype=np.int64)
    while np.any(k > 0):
        out += scale * (k & 1)
        k >>= 1
        scale /= 2
    return out


def deepxde_points(n_domain=2540, n_boundary=80, n_initial=160):
    """DeepXDE's Hammersley training points for GeometryXTime(Interval(-1, 1), TimeDomain(0, 0.99))."""
    k = np.arange(1, n_domain + 1)
    domain = np.stack([-1 + 2 * van_der_corput(k), T_END * k / (n_domain + 1)], 1)
    t_bc = T_END * np.arange(1, n_boundary + 1) / (n_boundary + 1)
    np.random.shuffle(t_bc)
    x_bc = np.where(np.arange(n_boundary) % 2 == 0, -1.0, 1.0)
    boundary = np.stack([x_bc, t_bc], 1)
    x_ic = -1 + 2 * van_der_corput(np.arange(1, n_initial + 1))
    initial = np.stack([x_ic, np.zeros(n_initial)], 1)
    return domain, boundary, initial


def relative_l2(net, reference):
    with torch.no_grad():
        u = net(reference[:, :2].to(torch.get_default_dtype())).squeeze(1).double()
    exact = reference[:, 2]
    return float((u - exact).norm() / exact.norm())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--adam-steps", type=int, default=15000)
    p.add_argument("--lbfgs", choices=("scipy", "torch"), default="scipy")
    p.add_argument("--lbfgs-iterations", type=int, default=15000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reference", default="configs/data/burgers_reference.csv")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    dtype = getattr(torch, args.dtype)
    torch.set_default_dtype(dtype)
    reference = torch.tensor(np.loadtxt(args.reference, delimiter=",", skiprows=1), dtype=torch.float64)

    domain, boundary, initial = (torch.tensor(a, dtype=dtype) for a in deepxde_points())
    pde_points = torch.cat([domain, boundary, initial]).requires_grad_()
    target_ic = -torch.sin(math.pi * initial[:, :1])
    net = mlp([2, 20, 20, 20, 1])

    def loss_of():
        return burgers_loss(net, pde_points, boundary, initial, target_ic)

    start = time.perf_counter()
    adam = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(args.adam_steps):
        adam.zero_grad(set_to_none=True)
        loss = loss_of()
        loss.backward()
        adam.step()
    adam_s = time.perf_counter() - start
    error_after_adam = relative_l2(net, reference)

    params = list(net.parameters())
    evaluations = 0
    if args.lbfgs == "scipy":
        from scipy.optimize import minimize

        shapes = [q.shape for q in params]
        sizes = [q.numel() for q in params]

        def assign(flat):
            for q, piece, shape in zip(params, np.split(flat, np.cumsum(sizes)[:-1]), shapes):
                q.data.copy_(torch.tensor(piece, dtype=dtype).reshape(shape))

        def fun(flat):
            nonlocal evaluations
            evaluations += 1
            assign(flat)
            for q in params:
                q.grad = None
            value = loss_of()
            value.backward()
            grad = torch.cat([q.grad.reshape(-1) for q in params])
            return float(value), grad.double().numpy()

        x0 = torch.cat([q.detach().reshape(-1) for q in params]).double().numpy()
        result = minimize(fun, x0, jac=True, method="L-BFGS-B",
                          options=dict(maxcor=100, ftol=0, gtol=1e-8, maxiter=args.lbfgs_iterations,
                                       maxfun=args.lbfgs_iterations, maxls=50))
        assign(result.x)
        iterations, stopped = int(result.nit), str(result.message)
    else:
        lbfgs = torch.optim.LBFGS(params, lr=1, max_iter=args.lbfgs_iterations,
                                  max_eval=args.lbfgs_iterations, tolerance_grad=1e-8, tolerance_change=0,
                                  history_size=100, line_search_fn="strong_wolfe")

        def closure():
            nonlocal evaluations
            evaluations += 1
            lbfgs.zero_grad()
            value = loss_of()
            value.backward()
            return value

        lbfgs.step(closure)
        iterations, stopped = int(lbfgs.state[params[0]]["n_iter"]), "torch LBFGS returned"
    total_s = time.perf_counter() - start
    print(json.dumps({
        "seed": args.seed, "dtype": args.dtype, "lbfgs": args.lbfgs,
        "l2_rel_after_adam": error_after_adam, "l2_rel": relative_l2(net, reference),
        "final_loss": float(loss_of()), "lbfgs_iterations": iterations, "lbfgs_evaluations": evaluations,
        "lbfgs_stopped": stopped, "adam_s": round(adam_s, 1), "wall_s": round(total_s, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
