#!/usr/bin/env python3
"""Checks that schemas/ca-api.yaml and the reference CA do not drift apart.

    check_ca_contract.py SOURCE_DIR

Every problem code the reference CA can answer (refca_problem / reply_problem
calls in refca/*.c) must be listed in the contract's Problem.code enum, every
path the contract names must be routed by refca/server.c, and every mutating
path must declare the Idempotency-Key parameter. The states an asynchronous
request can have at refca (the REFCA_REQ_* definitions of refca/*.h, and every
state refca/store.c's SQL names) must be exactly the contract's RequestState
enum, which GET /v1/requests/{id} must use. Plain text checks (no YAML
library needed).
"""
import os
import re
import sys


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(root, "schemas", "ca-api.yaml"), encoding="utf-8") as f:
        contract = f.read()
    sources = headers = ""
    for name in sorted(os.listdir(os.path.join(root, "refca"))):
        if name.endswith(".c") or name.endswith(".h"):
            with open(os.path.join(root, "refca", name), encoding="utf-8") as f:
                if name.endswith(".c"):
                    sources += f.read()
                else:
                    headers += f.read()
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

    states_enum = re.search(r"^    RequestState:\n(?:      .*\n)*?      enum: \[([^\]]*)\]", contract,
                            re.M)
    if not states_enum:
        sys.exit("ca-api.yaml: components.schemas.RequestState enum not found")
    contract_states = {c.strip() for c in states_enum.group(1).replace("\n", " ").split(",")}
    refca_states = set(re.findall(r'^#define REFCA_REQ_[A-Z_]+\s+"([A-Z_]+)"', headers, re.M))
    if len(refca_states) < 4:
        errors.append("found only %d request states (#define REFCA_REQ_*) in refca/*.h: "
                      "the pattern is stale" % len(refca_states))
    for st in sorted(refca_states - contract_states):
        errors.append("request state %s is answered by refca but missing in ca-api.yaml "
                      "RequestState" % st)
    for st in sorted(contract_states - refca_states):
        errors.append("request state %s of ca-api.yaml RequestState is never answered by refca "
                      "(no #define REFCA_REQ_* names it)" % st)
    store = open(os.path.join(root, "refca", "store.c"), encoding="utf-8").read()
    # the upgrade of an earlier release's table names the old states on purpose
    store = re.sub(r"static const char migrate_requests\[\] =.*?;\n", "", store, flags=re.S)
    for st in sorted(set(re.findall(r"\bstate = '([A-Z_]+)'", store)) - refca_states):
        errors.append("refca/store.c names the request state %s, which is not a REFCA_REQ_*" % st)
    poll = re.search(r"^  /v1/requests/\{id\}:\n((?:    .*\n|\n)*)", contract, re.M)
    if not poll or 'state: {$ref: "#/components/schemas/RequestState"}' not in poll.group(1):
        errors.append("GET /v1/requests/{id}: its state is not a RequestState")

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
    print("ca-api.yaml matches refca: %d paths, %d problem codes, %d request states"
          % (len(paths), len(used), len(refca_states)))


if __name__ == "__main__":
    main()
