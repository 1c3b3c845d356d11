#!/usr/bin/python3
"""Evaluate a pinn-train model.pt with plain PyTorch, independently of pinn-train.

    predict.py RUN_DIR/model.pt --points POINTS.csv [--fields u,u_x] [--out OUT.csv] [--check]

model.pt is a pickled dict (torch.load reads it; PyTorch >= 2.6 with LibTorch's type tags
allowed, see read_pickle): the network's config as JSON text, the input and output names, the
output transforms and the constants they use (JSON text), the trained problem parameters, and a
state_dict. The network (mlp, modified_mlp, resnet or parallel, with the optional input features,
periodic and Fourier feature embeddings (several for a multi-scale mlp) and factorized weights)
is rebuilt here from that description. Fields are
outputs or subscript derivatives of them (u, u_x, u_xy, ...), computed with torch.autograd.
With --check, every computed field is compared with the column of the same name in POINTS.csv
(e.g. a predictions_*.csv that pinn-train wrote); the exit code is 1 if any differs.
"""
import argparse
import csv
import importlib
import json
import math
import sys

import torch

ACTIVATIONS = {
    "identity": lambda x: x,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "sin": torch.sin,
    "relu": torch.relu,
    "softplus": torch.nn.functional.softplus,
    "silu": lambda x: x * torch.sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0))),
}


def has_layer(state, name):
    return f"{name}.weight" in state or f"{name}.v" in state


def linear(state, name):
    """The Linear layer registered as `name` in the C++ network: x W^T + b, with W the weight, or
    with random weight factorization ("rwf") W = diag(exp(s)) V."""
    if not has_layer(state, name):
        sys.exit(f"predict.py: model.pt has no weights for '{name}'")
    if f"{name}.v" in state:
        weight = torch.exp(state[f"{name}.s"]).unsqueeze(1) * state[f"{name}.v"]
    else:
        weight = state[f"{name}.weight"]
    bias = state[f"{name}.bias"]
    return lambda x: x @ weight.T + bias


def numbered(state, prefix):
    """prefix0, prefix1, ... as long as they exist."""
    layers = []
    while has_layer(state, f"{prefix}{len(layers)}"):
        layers.append(linear(state, f"{prefix}{len(layers)}"))
    return layers


def build_periodic(network, state):
    """The periodic embedding: the other inputs as they are, then (cos, sin)(2 pi x / P) of each
    periodic input x (periodic.periods: each input's period, 0 if not periodic)."""
    if not network.get("periodic"):
        return lambda x: x
    if "periodic.periods" not in state:
        sys.exit("predict.py: model.pt has periodic but no 'periodic.periods'")
    periods = state["periodic.periods"].tolist()
    kept = [i for i, p in enumerate(periods) if p == 0]
    periodic = [i for i, p in enumerate(periods) if p > 0]

    def embed(x):
        angles = torch.stack([x[:, i] * (2.0 * math.pi / periods[i]) for i in periodic], dim=1)
        return torch.cat([x[:, kept], torch.cos(angles), torch.sin(angles)], dim=1)

    return embed


def build_features(network, inputs, constants):
    """The input features: expressions of the inputs and constants, evaluated as Python (with ^
    for powers), side by side; the identity when there are none."""
    texts = network.get("features")
    if not texts:
        return lambda x: x
    codes = [compile(text.replace("^", "**"), "<feature>", "eval") for text in texts]

    def features(x):
        names = dict(FUNCTIONS, pi=math.pi, **constants)
        names.update({name: x[:, i] for i, name in enumerate(inputs)})
        columns = []
        for code in codes:
            value = eval(code, {"__builtins__": {}}, names)
            columns.append(torch.as_tensor(value, dtype=x.dtype).expand(x.shape[0]))
        return torch.stack(columns, dim=1)

    return features


def fourier_embedding(matrix, columns):
    """[cos(2 pi x B^T), sin(2 pi x B^T)] of the given columns of x (all when None)."""

    def embed(x):
        selected = x if columns is None else x[:, columns]
        projection = (2.0 * math.pi) * (selected @ matrix.T)
        return torch.cat([torch.cos(projection), torch.sin(projection)], dim=1)

    return embed


def embedding_columns(entry, inputs):
    names = entry.get("inputs")
    return None if names is None else [inputs.index(name) for name in names]


def build_embedding(network, state, inputs, constants):
    """The input features, the periodic embedding, then random Fourier features; each the
    identity when absent. A list of Fourier embeddings (multi-scale) is the mlp's own."""
    features = build_features(network, inputs, constants)
    periodic = build_periodic(network, state)
    fourier = network.get("fourier_features")
    if not fourier or isinstance(fourier, list) and len(fourier) > 1:
        return lambda x: periodic(features(x))
    if "fourier.B" not in state:
        sys.exit("predict.py: model.pt has fourier_features but no 'fourier.B'")
    entry = fourier[0] if isinstance(fourier, list) else fourier
    embed = fourier_embedding(state["fourier.B"], embedding_columns(entry, inputs))
    return lambda x: embed(periodic(features(x)))


def build_mlp(network, state, hidden, inputs):
    """Linear and activation layers; with a list of Fourier embeddings (multi-scale, Wang, Wang
    & Perdikaris 2021), each embedding passes through the same hidden layers and the branches
    meet before the output layer, concatenated or (fourier_combine "product") multiplied, one
    branch of each input group per product, the first group outermost."""
    layers = numbered(state, "layer")
    scales = network.get("fourier_features")
    if not isinstance(scales, list) or len(scales) < 2:
        def forward(x):
            for layer in layers[:-1]:
                x = hidden(layer(x))
            return layers[-1](x)

        return forward
    embeddings = [fourier_embedding(state[f"fourier{k}.B"], embedding_columns(entry, inputs))
                  for k, entry in enumerate(scales)]
    if network.get("fourier_combine", "concatenate") == "product":
        groups = {}
        for k, entry in enumerate(scales):
            groups.setdefault(tuple(embedding_columns(entry, inputs) or []), []).append(k)
        products = [[]]
        for group in groups.values():
            products = [product + [k] for product in products for k in group]
    else:
        products = [[k] for k in range(len(scales))]

    def forward(x):
        branches = []
        for embed in embeddings:
            h = embed(x)
            for layer in layers[:-1]:
                h = hidden(layer(h))
            branches.append(h)
        parts = []
        for product in products:
            part = branches[product[0]]
            for k in product[1:]:
                part = part * branches[k]
            parts.append(part)
        return layers[-1](torch.cat(parts, dim=1))

    return forward


def build_modified_mlp(network, state, hidden, inputs):
    """Wang, Teng & Perdikaris (2021): U, V encoders; H_1 = s(X W_1 + b_1); per gate layer
    Z = s(H W + b), H = (1 - Z) * U + Z * V; the last layer maps H to the outputs."""
    encoder_u, encoder_v = linear(state, "encoder_u"), linear(state, "encoder_v")
    layers = numbered(state, "layer")

    def forward(x):
        u, v = hidden(encoder_u(x)), hidden(encoder_v(x))
        h = hidden(layers[0](x))
        for gate in layers[1:-1]:
            z = hidden(gate(h))
            h = (1.0 - z) * u + z * v
        return layers[-1](h)

    return forward


def build_resnet(network, state, hidden, inputs):
    """h = X W_in + b_in; per block h = h + s(L1(s(L0(h)))); the output layer maps h."""
    first, final = linear(state, "input"), linear(state, "output")
    blocks = []
    while has_layer(state, f"block{len(blocks)}.layer0"):
        b = len(blocks)
        blocks.append((linear(state, f"block{b}.layer0"), linear(state, f"block{b}.layer1")))

    def forward(x):
        h = first(x)
        for layer0, layer1 in blocks:
            h = h + hidden(layer1(hidden(layer0(h))))
        return final(h)

    return forward


BUILDERS = {"mlp": build_mlp, "modified_mlp": build_modified_mlp, "resnet": build_resnet}

# The expression language's functions, for output transforms ("x*(1-x)*N + sin(pi*x)").
FUNCTIONS = {name: getattr(torch, name) for name in
             ["sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh", "sinh", "cosh"]}


def build_transform(text, inputs, constants):
    """An output transform as a Python function of the points and the raw output N. The
    language is Python's arithmetic with ^ for powers, so it is evaluated as such."""
    code = compile(text.replace("^", "**"), "<transform>", "eval")

    def transform(x, raw):
        names = dict(FUNCTIONS, pi=math.pi, N=raw, **constants)
        names.update({name: x[:, i] for i, name in enumerate(inputs)})
        return eval(code, {"__builtins__": {}}, names)

    return transform


def read_pickle(path):
    """model.pt's dict. PyTorch >= 2.6 loads weights only by default, and refuses the type tags
    that LibTorch's pickler writes for a typed dict unless they are allowed by name; older
    PyTorch has no such list and loads it as it is."""
    serialization = torch.serialization
    if not hasattr(serialization, "safe_globals"):
        return torch.load(path, map_location="cpu")
    tags = importlib.import_module("torch.jit._pickle")  # not loaded by `import torch`
    with serialization.safe_globals([tags.restore_type_tag]):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # UnpicklingError, or a message about what was refused
            sys.exit(f"predict.py: cannot read {path} as a pinn-train model file: {e}")


def build_network(network, state, inputs, outputs, constants):
    """The raw network (before output transforms) as a function of the points; a parallel
    network is one sub-network per output, each with its state under "<output>."."""
    kind = network.get("type", "mlp")
    if kind == "parallel":
        branches = []
        for name in outputs:
            own = {key[len(name) + 1:]: value for key, value in state.items()
                   if key.startswith(name + ".")}
            branches.append(build_network(network["networks"][name], own, inputs, [name],
                                          constants))
        return lambda x: torch.cat([branch(x) for branch in branches], dim=1)
    if kind not in BUILDERS:
        sys.exit(f"predict.py: network type {kind} is not supported here")
    hidden = ACTIVATIONS[network["activation"]]
    final = ACTIVATIONS[network["output_activation"]]
    embed = build_embedding(network, state, inputs, constants)
    body = BUILDERS[kind](network, state, hidden, inputs)
    return lambda x: final(body(embed(x)))


def load_model(path):
    data = read_pickle(path)
    if not isinstance(data, dict) or data.get("format") != "pinn-train-model/1":
        sys.exit(f"predict.py: {path} is not a pinn-train model file")
    network = json.loads(data["network"])
    state = data["state_dict"]
    inputs, outputs = list(data["inputs"]), list(data["outputs"])
    constants = json.loads(data.get("constants", "{}"))
    raw_network = build_network(network, state, inputs, outputs, constants)
    transforms = {outputs.index(name): build_transform(text, inputs, constants)
                  for name, text in json.loads(data.get("transform", "{}")).items()}

    def forward(x):
        raw = raw_network(x)
        if not transforms:
            return raw
        columns = [transforms[o](x, raw[:, o]) if o in transforms else raw[:, o]
                   for o in range(raw.shape[1])]
        return torch.stack(columns, dim=1)

    dtype = next(t for name, t in state.items() if name.endswith((".weight", ".v"))).dtype
    return forward, inputs, outputs, dtype


def parse_field(name, inputs, outputs):
    """'u_xy' -> (output index, [input indices]); plain output names have no derivatives;
    None for anything else (an expression field)."""
    if name in outputs:
        return outputs.index(name), []
    output, _, suffix = name.partition("_")
    if output not in outputs or not suffix or any(c not in inputs for c in suffix):
        return None
    return outputs.index(output), [inputs.index(c) for c in suffix]


def evaluate(forward, points, field):
    output, wrt = field
    x = points.clone().requires_grad_(bool(wrt))
    value = forward(x)[:, output]
    for k, i in enumerate(wrt):
        (gradient,) = torch.autograd.grad(value.sum(), x, create_graph=k + 1 < len(wrt))
        value = gradient[:, i]
    return value.detach()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("model")
    parser.add_argument("--points", required=True, help="CSV whose header names the inputs")
    parser.add_argument("--fields", help="comma-separated fields (default: the outputs)")
    parser.add_argument("--out", help="CSV to write (default: standard output)")
    parser.add_argument("--check", action="store_true",
                        help="compare with same-named columns of --points")
    parser.add_argument("--tolerance", type=float, default=1e-9,
                        help="allowed |difference| / (1 + |value|) for --check")
    args = parser.parse_args()

    forward, inputs, outputs, dtype = load_model(args.model)
    with open(args.points, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [name for name in inputs if not rows or name not in rows[0]]
    if missing:
        sys.exit(f"predict.py: {args.points} lacks input columns {missing}")
    points = torch.tensor([[float(row[name]) for name in inputs] for row in rows], dtype=dtype)
    names = args.fields.split(",") if args.fields else outputs
    if args.check and not args.fields:
        names = [name for name in rows[0] if name not in inputs]
    fields = {name: parse_field(name, inputs, outputs) for name in names}
    for name in [name for name, field in fields.items() if field is None]:
        if not args.check or args.fields:
            sys.exit(f"predict.py: field '{name}' is neither an output nor a subscript derivative")
        print(f"{name}: an expression field, not checked here")
        del fields[name]
    values = {name: evaluate(forward, points, field) for name, field in fields.items()}

    if args.check:
        worst = 0.0
        for name, value in values.items():
            expected = torch.tensor([float(row[name]) for row in rows], dtype=torch.float64)
            error = ((value.double() - expected).abs() / (1 + expected.abs())).max().item()
            worst = max(worst, error)
            print(f"{name}: max |difference| / (1 + |value|) = {error:.3e} over {len(rows)} points")
        if worst > args.tolerance:
            print(f"predict.py: MISMATCH (tolerance {args.tolerance:g})")
            return 1
        print("predict.py: plain PyTorch reproduces the predictions")
        return 0

    out = open(args.out, "w", newline="") if args.out else sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(inputs + names)
    for r in range(points.shape[0]):
        writer.writerow([repr(points[r, i].item()) for i in range(len(inputs))] +
                        [repr(values[name][r].item()) for name in names])
    return 0


if __name__ == "__main__":
    sys.exit(main())
