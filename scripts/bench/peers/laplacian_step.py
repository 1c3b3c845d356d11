#!/usr/bin/python3
"""Plain PyTorch peer of pinn-train's Laplacian benchmark.

A 4 x 64 tanh MLP from d inputs to one output u (Xavier-normal weights, zero biases); a batch of
B points uniform in [0, 1]^d; loss = mean(lap(u)^2), with nested autograd: one grad for the
gradient, then one grad per dimension for d2u/dxi2 (create_graph=True); then the parameter
gradient by backward and an Adam step (lr 1e-3), as pinn-train's bench does. With --compile, the
same loss by torch.func under torch.compile (peer_common.compiled_step). Prints one JSON line (see
peer_common.report).

    /usr/bin/python3 scripts/bench/peers/laplacian_step.py --d 5 --batch 4096 --dtype float32
"""

import torch

from peer_common import compiled_step, eager_step, mlp, second_derivative, parser, report, setup, time_steps


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--d", type=int, default=2, help="input dimension (default 2)")
    p.add_argument("--batch", type=int, default=4096, help="points (default 4096)")
    args = p.parse_args()
    device = setup(args)
    net = mlp([args.d, 64, 64, 64, 64, 1]).to(device)
    x = torch.rand(args.batch, args.d).to(device).requires_grad_()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def loss_of():
        grad = torch.autograd.grad(net(x).sum(), x, create_graph=True)[0]
        lap = sum(torch.autograd.grad(grad[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(args.d))
        return lap.square().mean()

    def functional_loss(params):
        from torch.func import functional_call, vmap

        def u_at(y):
            return functional_call(net, params, (y,))[0]

        def laplacian(y):
            return sum(second_derivative(u_at, y, i, args.functional) for i in range(args.d))

        return vmap(laplacian)(x.detach()).square().mean()

    step = compiled_step(net, opt, functional_loss, args.compile_mode) if args.compile else eager_step(opt, loss_of)

    report(args, args.batch, net, time_steps(step, args.steps, args.warmup, device=device))


if __name__ == "__main__":
    main()
