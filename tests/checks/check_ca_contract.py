#!/usr/bin/env python3
"""Checks that schemas/ca-api.yaml and the reference CA do not drift apart.

    check_ca_contract.py SOURCE_DIR

Every problem code the reference CA can answer (refca_problem / reply_problem
calls in refca/*.c) must be listed in the contract's Problem.code enum, every
path the contract names must be routed by refca/server.c, and every mutating
path must declare the Idempotency-Key parameter. Plain text checks (no YAML
library needed).
"""
import os
import re
import sys


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(root, "schemas", "ca-api.yaml"), encoding="utf-8") as f:
        contract = f.read()
    sources = ""
    for name in sorted(os.listdir(os.path.join(root, "refca"))):
        if name.endswith(".c"):
            with open(os.path.join(root, "refca", name), encoding="utf-8") as f:
                sources += f.read()
    errors = []

    enum = re.search(r"code:\n\s+type: string\n\s+description: machine-readable\n\s+enum: \[([^\]]*)\]",
                     contract)
    if not enum:
        sys.exit("ca-api.yaml: Problem.code enum not found")
    listed = {c.strip() for c in enum.group(1).replace("\n", " ").split(",")}
    used = set(re.findall(r'(?:refca_problem|reply_problem)\([^;]*?"([A-Z_]{4,})"', sources, re.S))
    if len(used) < 10:
        errors.append("found only %d problem codes in refca/*.c: the pattern is stale" % len(used))
    for code in sorted(used - listed):
        errors.append("problem code %s is answered by refca but missing in ca-api.yaml" % code)

    paths = re.findall(r"^  (/v1/[^:]*):\n", contract, re.M)
    if len(paths) < 9:
        errors.append("expected at least 9 paths in ca-api.yaml, found %d" % len(paths))
    server = open(os.path.join(root, "refca", "server.c"), encoding="utf-8").read()
    for p in paths:
        for seg in re.findall(r"/([a-z.\-]+)(?=/|$)", p):
            if seg == "v1":
                continue
            if '"%s"' % seg not in server:
                errors.append("path %s: segment %r is not routed in refca/server.c" % (p, seg))

    for m in re.finditer(r"^  (/v1/[^:]*):\n((?:    .*\n|\n)*)", contract, re.M):
        body = m.group(2)
        post = re.search(r"^    post:\n((?:      .*\n|\n)*)", body, re.M)
        if post and "IdempotencyKey" not in post.group(1):
            errors.append("POST %s does not declare the Idempotency-Key header" % m.group(1))

    if errors:
        sys.exit("\n".join(errors))
    print("ca-api.yaml matches refca: %d paths, %d problem codes" % (len(paths), len(used)))


if __name__ == "__main__":
    main()
