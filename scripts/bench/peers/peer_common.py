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
    p.add_argument("--compile", action="store_true", help="torch.compile the loss (PyTorch 2)")
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


def maybe_compiled(function, args):
    """torch.compile(function) with --compile (graph breaks at autograd.grad are allowed)."""
    return torch.compile(function) if args.compile else function


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
    engine = "pytorch-compile" if args.compile else "pytorch"
    print(json.dumps({"engine": engine, "dtype": args.dtype, "device": args.device, "points": points,
                      "steps": args.steps,
                      "ms_per_step": mean, "ms_per_step_min": best, "loss": float(loss),
                      "parameters": sum(p.numel() for p in net.parameters())}))
