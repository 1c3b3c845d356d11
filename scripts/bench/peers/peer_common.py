"""Shared parts of the plain PyTorch peers: options, the network, the timing loop, the JSON line."""

import argparse
import json
import os
import sys
import time

import torch


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--steps", type=positive, default=200, help="timed steps (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    p.add_argument("--threads", type=positive, default=os.cpu_count(), help="torch threads (default: all cores)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the step, derivatives by torch.func (PyTorch 2; see compiled_step)")
    p.add_argument("--functional", choices=("grad", "jvp"), default="grad",
                   help="with --compile, the input derivatives by torch.func.grad (reverse, default) or "
                        "torch.func.jvp (forward; PyTorch 2.11's inductor failed on it: 'ZeroTensors "
                        "are immutable')")
    p.add_argument("--compile-mode", default="default",
                   help="torch.compile's mode with --compile: default, reduce-overhead (CUDA graphs), "
                        "max-autotune (default: default)")
    return p


def setup(args):
    """Threads, seed, default dtype and device; returns the device."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    torch.set_default_dtype(getattr(torch, args.dtype))
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"--device {args.device}: this PyTorch has no CUDA device")
    if args.compile and not hasattr(torch, "compile"):
        sys.exit(f"--compile: PyTorch {torch.__version__} has no torch.compile (it came with 2.0)")
    return device


def eager_step(opt, loss_of):
    """The plain PyTorch step: loss_of() takes its input derivatives by nested
    torch.autograd.grad(create_graph=True), then backward and the optimizer update."""

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_of()
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def compiled_step(net, opt, functional_loss, mode="default"):
    """The torch.compile peer's step: torch.compile(torch.func.grad_and_value(functional_loss)),
    where functional_loss(params) takes the input derivatives with torch.func (grad, or jvp with
    --functional jvp) under vmap.

    torch.compile cannot compile the eager peer's nested autograd: AOTAutograd refuses to
    differentiate its own backward ("torch.compile with aot_autograd does not currently support
    double backward", still so in PyTorch 2.11), so the one form of a PINN step it compiles is the
    functional one, which Dynamo traces whole."""
    from torch.func import grad_and_value

    params = {name: p.detach() for name, p in net.named_parameters()}  # share storage with net
    grads_and_loss = torch.compile(grad_and_value(functional_loss), mode=mode)

    def step():
        grads, loss = grads_and_loss(params)
        for name, p in net.named_parameters():
            p.grad = grads[name]
        opt.step()
        return loss.detach()

    return step


def second_derivative(f, x, i, functional):
    """d2f/dxi2 of the scalar f at one point x by torch.func: grad of grad, or jvp of jvp."""
    from torch.func import grad, jvp

    if functional == "grad":
        return grad(lambda y: grad(f)(y)[i])(x)[i]
    return jvp_along(f, x, torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)[i], 2)


def jvp_along(f, x, direction, order):
    """The order-th directional derivative of the scalar f at one point x along direction, by
    nested torch.func.jvp (order 0 is f(x))."""
    from torch.func import jvp

    g = f
    for _ in range(order):
        g = (lambda h: lambda y: jvp(h, (y,), (direction,))[1])(g)
    return g(x)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mlp(widths):
    """tanh MLP with the given layer widths, Xavier-normal weights and zero biases."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        linear = torch.nn.Linear(n_in, n_out)
        torch.nn.init.xavier_normal_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(widths) - 2:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def time_steps(step, steps, warmup, chunks=5, device=torch.device("cpu")):
    """Runs `step` warmup times untimed, then `steps` times timed in `chunks` chunks (waiting for
    the device at each chunk's end).

    Returns (mean ms per step, best chunk's ms per step, the last step's return value)."""
    for _ in range(warmup):
        loss = step()
    synchronize(device)
    sizes = [steps // chunks + (i < steps % chunks) for i in range(min(chunks, steps))]
    best = float("inf")
    start = time.perf_counter()
    for size in sizes:
        chunk_start = time.perf_counter()
        for _ in range(size):
            loss = step()
        synchronize(device)
        best = min(best, (time.perf_counter() - chunk_start) / size)
    total = time.perf_counter() - start
    return 1e3 * total / steps, 1e3 * best, loss


def report(args, points, net, timing):
    mean, best, loss = timing
    engine = "pytorch" + (f"-compile ({args.compile_mode})" if args.compile else "")
    print(json.dumps({"engine": engine, "dtype": args.dtype, "device": args.device, "points": points,
                      "steps": args.steps,
                      "ms_per_step": mean, "ms_per_step_min": best, "loss": float(loss),
                      "parameters": sum(p.numel() for p in net.parameters())}))
