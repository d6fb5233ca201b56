#!/usr/bin/env python3
"""The include graph follows the layers of docs/ARCHITECTURE.md §2.

    check_layers.py SOURCE_DIR

Reads the ```layers block of docs/ARCHITECTURE.md (one line per layer,
lowest first: "name: module module ..."), then every #include "certbridge/X.h"
in connector/, commands/ and include/certbridge/. Fails, naming the file and
line, when
  - a file includes the header of a higher layer than its own,
  - a module (a .c file or a header) is not listed in the block,
  - a .c file under connector/LAYER/ sits in another layer's folder
    (commands/ holds the commands layer).
Plain text checks: no compiler needed.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"certbridge/([a-z0-9_]+)\.h"')


def read_layers(root):
    with open(os.path.join(root, "docs", "ARCHITECTURE.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^```layers\n(.*?)^```", text, re.M | re.S)
    if not m:
        sys.exit("check_layers: docs/ARCHITECTURE.md has no ```layers block")
    layers, rank = [], {}
    for line in m.group(1).splitlines():
        if not line.strip():
            continue
        name, _, modules = line.partition(":")
        layers.append(name.strip())
        for mod in modules.split():
            if mod in rank:
                sys.exit("check_layers: module %s listed twice" % mod)
            rank[mod] = len(layers) - 1
    return layers, rank


def sources(root):
    """(path, module, folder layer or None) of every file to check."""
    for sub in ("connector", "commands"):
        for dirpath, _, files in os.walk(os.path.join(root, sub)):
            for name in sorted(files):
                if name.endswith(".c"):
                    rel = os.path.relpath(os.path.join(dirpath, name), root)
                    parts = rel.split(os.sep)
                    folder = "commands" if parts[0] == "commands" else (
                        parts[1] if len(parts) > 2 else None)
                    yield rel, name[:-2], folder
    inc = os.path.join(root, "include", "certbridge")
    for name in sorted(os.listdir(inc)):
        if name.endswith(".h") or name.endswith(".h.in"):
            yield os.path.join("include", "certbridge", name), name.split(".")[0], None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    layers, rank = read_layers(root)
    errors, edges = [], 0
    for rel, mod, folder in sources(root):
        if mod not in rank:
            errors.append("%s: module %s is in no layer of docs/ARCHITECTURE.md §2" % (rel, mod))
            continue
        own = rank[mod]
        if folder is not None and folder != layers[own]:
            errors.append("%s: module %s belongs to layer %s but sits in %s/"
                          % (rel, mod, layers[own], folder))
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            for no, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                dep = m.group(1)
                edges += 1
                if dep not in rank:
                    errors.append("%s:%d: includes certbridge/%s.h, which is in no layer"
                                  % (rel, no, dep))
                elif rank[dep] > own:
                    errors.append("%s:%d: %s (layer %s) includes %s.h from the higher layer %s"
                                  % (rel, no, mod, layers[own], dep, layers[rank[dep]]))
    for e in errors:
        print("check_layers: " + e)
    print("check_layers: %d layers, %d modules, %d includes checked, %d violation(s)"
          % (len(layers), len(rank), edges, len(errors)))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
