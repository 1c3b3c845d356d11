"""Data for tests/bad_input/bad_inputs.py: the small base configs, the walk over their keys, the
wrong-type and near-miss mutations, pathological expressions and CSV files (stdlib only).

The base configs are configs/heat_1d.json and configs/burgers.json, shrunk so that a case that is
wrongly accepted ends quickly: an 8x8 network, a hundred points, a few optimizer steps. The
Burgers reference file is written by each case (a small synthetic grid), so the suite does not
depend on configs/data/burgers_reference.csv, which git does not keep.
"""
import copy
import json
import math
import pathlib

SOURCE_DIR = pathlib.Path(__file__).resolve().parents[2]

# A JSON number out of double range, spliced into the file's text (json.dumps cannot write it).
RAW_1E999 = "__PINN_RAW_1E999__"


def load_config(name):
    """configs/NAME.json as a dict (the configs have no comments)."""
    return json.loads((SOURCE_DIR / "configs" / name).read_text())


def heat_small():
    """configs/heat_1d.json shrunk: about 0.1 s of training after the binary's start."""
    config = load_config("heat_1d.json")
    # "$schema" is relative to configs/: dropped, as the copy lives elsewhere (see the case
    # train:heat_1d-copy-with-relative-schema for what it does there).
    del config["$schema"]
    config["network"]["hidden"] = [8, 8]
    for set_name, count in (("interior", 64), ("ends", 16), ("start", 16)):
        config["points"][set_name]["count"] = count
    config["reference"]["points"]["count"] = 11
    config["reference"]["every"] = 10
    config["training"] = [
        {"type": "adam", "lr": 1e-3, "iterations": 20, "log_every": 10},
        {"type": "ssbroyden", "iterations": 5, "log_every": 5},
    ]
    config["evaluate"][0]["points"]["count"] = 5
    return config


def burgers_small(reference_file="ref.csv"):
    """configs/burgers.json shrunk, its reference read from REFERENCE_FILE (see burgers_csv)."""
    config = load_config("burgers.json")
    del config["$schema"]
    config["network"]["hidden"] = [8, 8]
    for set_name, count in (("interior", 64), ("ends", 16), ("start", 16)):
        config["points"][set_name]["count"] = count
    config["reference"]["file"] = reference_file
    config["reference"]["every"] = 0
    config["training"][0].update({"iterations": 20, "log_every": 10})
    config["training"][1].update({"iterations": 5, "log_every": 5})
    config["evaluate"][0]["points"]["counts"] = {"x": 5, "t": 5}
    return config


def burgers_csv(rows=None):
    """A small reference table with Burgers' columns x, t, u (values plausible, not exact)."""
    lines = ["x,t,u"]
    for i in range(9):
        for j in range(5):
            x, t = -1 + i * 0.25, j * 0.2
            lines.append(f"{x!r},{t!r},{-math.sin(math.pi * x) * math.exp(-t)!r}")
    if rows is not None:
        lines = lines[:1] + rows
    return "\n".join(lines) + "\n"


def points_csv(header="x,t", rows=("0.1,0.2", "0.5,0.5", "0.9,0.75")):
    return "\n".join([header, *rows]) + "\n"


def dump(config):
    """The config as JSON text, with RAW_1E999 strings turned into the number 1e999."""
    return json.dumps(config, indent=1).replace(f'"{RAW_1E999}"', "1e999")


# ---------------------------------------------------------------- walking and editing keys


def pointer(path):
    """The JSON pointer of a path: ("losses", 0, "residual") -> /losses/0/residual."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def set_path(path_text):
    """The --set spelling of a path: ("training", 0, "lr") -> training[0].lr."""
    out = ""
    for part in path_text:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
    return out


def get_at(config, path):
    node = config
    for part in path:
        node = node[part]
    return node


def replaced(config, path, value):
    out = copy.deepcopy(config)
    get_at(out, path[:-1])[path[-1]] = value
    return out


def deleted(config, path):
    out = copy.deepcopy(config)
    del get_at(out, path[:-1])[path[-1]]
    return out


def walk(node, path=()):
    """Every (path, value) below the root, parents before children."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,), value
            yield from walk(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield path + (index,), value
            yield from walk(value, path + (index,))


def kind(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


# Wrong-type replacements per kind, taken in turn from key to key so that every key gets one and
# every replacement is used: (label, value).
WRONG_TYPES = {
    "string": [("number", 12345), ("null", None), ("list", ["a"]), ("object", {"a": 1}),
               ("bool", True)],
    "number": [("string", "abc"), ("numeric-string", "1"), ("null", None), ("list", [1]),
               ("object", {}), ("bool", True)],
    "list": [("object", {}), ("string", "abc"), ("null", None), ("number", 5)],
    "object": [("list", []), ("string", "abc"), ("null", None), ("number", 5)],
    "bool": [("string", "yes"), ("number", 1), ("null", None)],
}

# Maps from user-chosen names (any key is allowed there): a near-miss key is no error in them.
NAME_MAPS = {("constants",), ("domains",), ("points",), ("parameters",), ("reference", "solution"),
             ("transform",)}


def normalized(path):
    """A path with list indices and user-chosen names as '*': keys in the same place of the
    config's structure (points/interior/count, points/ends/count) normalize alike."""
    out = []
    for i, part in enumerate(path):
        out.append("*" if isinstance(part, int) or is_name_map(tuple(path[:i])) else part)
    return tuple(out)


def is_name_map(path):
    if path in NAME_MAPS:
        return True
    last = path[-1] if path else None
    return last in ("bounds", "time", "counts", "columns", "periodic", "center", "edges")


def near_miss(key):
    """A misspelling one edit away: two letters swapped, or one dropped for short keys."""
    if len(key) >= 4:
        i = len(key) // 2 - 1
        swapped = key[:i] + key[i + 1] + key[i] + key[i + 2:]
        if swapped != key:
            return swapped
    return key[:-1] if len(key) > 2 else key + key[-1]


# ---------------------------------------------------------------- expressions


def nested_parens(depth, core="u"):
    return "(" * depth + core + ")" * depth


def nested_unary(depth, core="u"):
    return "- " * depth + core


def power_chain(count, name="u"):
    return "^".join([name] * count)


def nested_calls(depth, function="sin", core="u"):
    return f"{function}(" * depth + core + ")" * depth


def long_sum(size_bytes):
    term = "u + "
    return term * (size_bytes // len(term)) + "u"


def long_product(size_bytes):
    return "u*" * (size_bytes // 2) + "u"


def derivative_call(order, output="u", variable="x"):
    return f"d({output}" + f", {variable}" * order + ")"


def subscript(order, output="u", variable="x"):
    return f"{output}_" + variable * order
