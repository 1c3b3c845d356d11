#!/usr/bin/python3
"""Plain PyTorch peer of pinn-train's Burgers Adam step, in DeepXDE's setup.

    u_t + u u_x - nu u_xx = 0,  nu = 0.01/pi,  x in [-1, 1], t in [0, 0.99]

A 2-20-20-20-1 tanh MLP (Xavier-normal weights, zero biases); 2540 interior points, 80 boundary
points (x = +-1) and 160 initial points (t = 0), uniform; the derivatives by nested
torch.autograd.grad(create_graph=True); loss = mean(res^2) + mean(u_bc^2) + mean((u_ic + sin(pi x))^2);
Adam, lr 1e-3. With --compile, the same loss by torch.func under torch.compile (peer_common.
compiled_step). Prints one JSON line (see peer_common.report).

    /usr/bin/python3 scripts/bench/peers/burgers_step.py --dtype float32 --steps 200
"""

import math

import torch

from peer_common import compiled_step, eager_step, jvp_along, mlp, second_derivative, parser, report, setup, time_steps

NU = 0.01 / math.pi


def points(n_interior, device, n_boundary=80, n_initial=160):
    interior = torch.rand(n_interior, 2) * torch.tensor([2.0, 0.99]) - torch.tensor([1.0, 0.0])
    t_bc = 0.99 * torch.rand(n_boundary, 1)
    x_bc = torch.where(torch.arange(n_boundary).unsqueeze(1) % 2 == 0, -1.0, 1.0).to(t_bc)
    x_ic = 2 * torch.rand(n_initial, 1) - 1
    bc, ic = torch.cat([x_bc, t_bc], 1), torch.cat([x_ic, torch.zeros_like(x_ic)], 1)
    return interior.to(device).requires_grad_(), bc.to(device), ic.to(device)


def burgers_loss(net, xt, bc, ic, target_ic):
    """mean(res^2) at xt (which requires grad) + mean(u^2) at bc + mean((u - target_ic)^2) at ic,
    the derivatives by nested torch.autograd.grad."""
    u = net(xt)
    u_x, u_t = torch.autograd.grad(u.sum(), xt, create_graph=True)[0].unbind(1)
    u_xx = torch.autograd.grad(u_x.sum(), xt, create_graph=True)[0][:, 0]
    res = u_t + u[:, 0] * u_x - NU * u_xx
    return res.square().mean() + net(bc).square().mean() + (net(ic) - target_ic).square().mean()


def burgers_functional_loss(net, xt, bc, ic, target_ic, functional="grad"):
    """burgers_loss as a function of the parameters, the derivatives per point by torch.func
    (grad of grad, or jvp of jvp) under vmap: the form torch.compile can compile."""
    from torch.func import functional_call, grad, vmap

    xt = xt.detach()

    def loss(params):
        def u_at(y):
            return functional_call(net, params, (y,))[0]

        def residual(y):
            if functional == "grad":
                u_x, u_t = grad(u_at)(y)
            else:
                u_x, u_t = (jvp_along(u_at, y, e, 1) for e in basis)
            return u_t + u_at(y) * u_x - NU * second_derivative(u_at, y, 0, functional)

        res = vmap(residual)(xt)
        u_bc, u_ic = functional_call(net, params, (bc,)), functional_call(net, params, (ic,))
        return res.square().mean() + u_bc.square().mean() + (u_ic - target_ic).square().mean()

    basis = torch.eye(2, dtype=xt.dtype, device=xt.device)
    return loss


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--interior", type=int, default=2540, help="interior points (default 2540)")
    args = p.parse_args()
    device = setup(args)
    net = mlp([2, 20, 20, 20, 1]).to(device)
    xt, bc, ic = points(args.interior, device)
    target_ic = -torch.sin(math.pi * ic[:, :1])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    if args.compile:
        step = compiled_step(net, opt, burgers_functional_loss(net, xt, bc, ic, target_ic, args.functional),
                             args.compile_mode)
    else:
        step = eager_step(opt, lambda: burgers_loss(net, xt, bc, ic, target_ic))

    timing = time_steps(step, args.steps, args.warmup, device=device)
    report(args, len(xt) + len(bc) + len(ic), net, timing)


if __name__ == "__main__":
    main()
