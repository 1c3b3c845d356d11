#!/usr/bin/python3
"""The include graph of src/ by folder, checked against the layering the code is built on:

    util -> config, expr -> geometry -> problem -> model -> derivatives -> train -> output -> cli

A folder may include its own files and those of the folders to its left, never one to its right
(config and expr are one level: neither includes the other). Also reports include cycles between
files. Prints the folder graph (edges with their counts); exits 1 on an upward include or a cycle.

    /usr/bin/python3 scripts/check_layers.py [SRC_DIR]
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

LEVELS = [["util"], ["config", "expr", "distributed"], ["geometry"], ["problem"], ["model"], ["derivatives"],
          ["train"], ["output"], ["cli"]]
RANK = {folder: rank for rank, level in enumerate(LEVELS) for folder in level}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_of(path):
    """The top folder of a path relative to src/ ("main" for src/main.cpp)."""
    parts = Path(path).parts
    return parts[0] if len(parts) > 1 else "main"


def includes(src):
    """{file: [included files]} for every source file under src (paths relative to src)."""
    graph = {}
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".cpp", ".hpp"):
            continue
        rel = path.relative_to(src).as_posix()
        graph[rel] = [inc for inc in INCLUDE.findall(path.read_text(errors="replace"))
                      if (src / inc).exists()]
    return graph


def cycles(graph):
    """Include cycles between files, each as a list of files."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node)
    return found


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "src")
    graph = includes(src)
    edges = defaultdict(int)
    upward = []
    for source, targets in graph.items():
        a = folder_of(source)
        for target in targets:
            b = folder_of(target)
            if a == b:
                continue
            edges[(a, b)] += 1
            if a != "main" and (b not in RANK or a not in RANK or RANK[b] >= RANK[a]):
                upward.append(f"{source} includes {target}")
    print("folder include graph (from -> to: includes):")
    for (a, b), count in sorted(edges.items(), key=lambda e: (RANK.get(e[0][0], 99), e[0])):
        print(f"  {a} -> {b}: {count}")
    loops = cycles(graph)
    for line in upward:
        print(f"UPWARD: {line}")
    for loop in loops:
        print(f"CYCLE: {' -> '.join(loop)}")
    print(f"{len(graph)} files, {sum(edges.values())} includes across folders, "
          f"{len(upward)} upward, {len(loops)} cycles")
    return 1 if upward or loops else 0


if __name__ == "__main__":
    sys.exit(main())
