#!/usr/bin/env python3
"""Checks of `pinn-train schema` with Debian's python3-jsonschema (draft-07).

  check_schema.py PINN_TRAIN committed SCHEMA_FILE
      the committed schema file equals what `pinn-train schema` prints
  check_schema.py PINN_TRAIN configs CONFIG...
      each config declares "$schema" (the committed file) and the schema accepts it; so do the
      configs a sweep writes and the resolved config of a validated run
  check_schema.py PINN_TRAIN rejects CONFIG
      the schema refuses copies of CONFIG with a wrong type or an unknown key (as pinn-train
      does), and accepts the unchanged CONFIG

Exit 0 when every check holds; otherwise each failure is printed and the exit code is 1.
"""
import copy
import json
import pathlib
import subprocess
import sys
import tempfile

import jsonschema

SCHEMA_REFERENCE = "../docs/pinn-train.schema.json"


def printed_schema(pinn_train):
    run = subprocess.run([pinn_train, "schema"], capture_output=True, text=True, check=True)
    return run.stdout


def validator(pinn_train):
    schema = json.loads(printed_schema(pinn_train))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors_of(check, config):
    return [f"{'/'.join(map(str, e.absolute_path)) or '/'}: {e.message[:200]}"
            for e in check.iter_errors(config)]


def committed(pinn_train, path):
    if pathlib.Path(path).read_text() != printed_schema(pinn_train):
        return [f"{path} differs from `pinn-train schema`: regenerate it with "
                f"pinn-train schema > {path}"]
    return []


def written_configs(pinn_train, config, scratch):
    """The configs pinn-train writes from `config`: a sweep's and a resolved run config."""
    sweep = scratch / "sweep"
    subprocess.run([pinn_train, "sweep", str(config), "--grid", "seed=1,2", "--output",
                    str(sweep), "-q"], check=True)
    yield from sorted((sweep / "configs").glob("*.json"))


def configs(pinn_train, paths):
    check = validator(pinn_train)
    failures = []
    for path in map(pathlib.Path, paths):
        config = json.loads(path.read_text())
        if config.get("$schema") != SCHEMA_REFERENCE:
            failures.append(f"{path}: expected \"$schema\": \"{SCHEMA_REFERENCE}\", found "
                            f"{config.get('$schema')!r}")
        failures += [f"{path}: {error}" for error in errors_of(check, config)]
    # What pinn-train itself writes (defaults filled in) must pass too.
    with tempfile.TemporaryDirectory() as scratch:
        for path in written_configs(pinn_train, pathlib.Path(paths[0]), pathlib.Path(scratch)):
            config = json.loads(path.read_text())
            failures += [f"{path.name} (written by sweep): {error}"
                         for error in errors_of(check, config)]
    print(f"{len(paths)} configs and the configs a sweep wrote checked")
    return failures


def set_at(config, path, value):
    changed = copy.deepcopy(config)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def rejects(pinn_train, path):
    check = validator(pinn_train)
    config = json.loads(pathlib.Path(path).read_text())
    failures = [f"{path}: {error}" for error in errors_of(check, config)]
    wrong = {
        "a string for an integer": set_at(config, ["training", 0, "iterations"], "many"),
        "a string for a list of widths": set_at(config, ["network", "hidden"], "x"),
        "an unknown network type": set_at(config, ["network", "type"], "transformer"),
        "a negative learning rate": set_at(config, ["training", 0, "lr"], -1),
        "an unknown top-level key": set_at(config, ["epochs"], 10),
        "an unknown key of a stage": set_at(config, ["training", 0, "learning_rate"], 1e-3),
        "a number for a name": set_at(config, ["inputs"], 2),
    }
    for what, changed in wrong.items():
        if check.is_valid(changed):
            failures.append(f"the schema accepts {what}")
        else:
            print(f"rejected: {what}")
    return failures


def main(argv):
    if len(argv) < 4:
        print(__doc__)
        return 2
    pinn_train, command, arguments = argv[1], argv[2], argv[3:]
    failures = {"committed": lambda: committed(pinn_train, arguments[0]),
                "configs": lambda: configs(pinn_train, arguments),
                "rejects": lambda: rejects(pinn_train, arguments[0])}[command]()
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
