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
    if len(paths) < 11:
        errors.append("expected at least 11 paths in ca-api.yaml, found %d" % len(paths))
    server = open(os.path.join(root, "refca", "server.c"), encoding="utf-8").read()
    for p in paths:
        for seg in re.findall(r"/([a-z.\-]+)(?=/|$)", p):
            if seg == "v1":
                continue
            if '"%s"' % seg not in server:
                errors.append("path %s: segment %r is not routed in refca/server.c" % (p, seg))

    # the query parameters of the listing calls are read by refca, and refca
    # reads none the contract does not list
    for path in ("/v1/certificates", "/v1/devices"):
        m = re.search(r"^  %s:\n    get:\n((?:      .*\n|\n)*)" % re.escape(path), contract, re.M)
        if not m:
            errors.append("GET %s not found in ca-api.yaml" % path)
            continue
        params = set(re.findall(r"- name: ([a-z_]+)\n\s+in: query", m.group(1)))
        if len(params) < 4:
            errors.append("GET %s: found only %d query parameters" % (path, len(params)))
        for name in sorted(params):
            if 'query(q, "%s")' % name not in server and 'query(&q, "%s")' % name not in server:
                errors.append("GET %s: query parameter %s is not read by refca/server.c"
                              % (path, name))
    read = set(re.findall(r'query\(&?q, "([a-z_]+)"\)', server))
    listed = set(re.findall(r"- name: ([a-z_]+)\n\s+in: query", contract))
    for name in sorted(read - listed):
        errors.append("refca/server.c reads the query parameter %s, which ca-api.yaml does not "
                      "list" % name)

    # the operations of the ledger and of requests are refca's op names
    ca_c = open(os.path.join(root, "refca", "ca.c"), encoding="utf-8").read()
    ops = re.search(r"op_names\[\] = \{([^}]*)\}", ca_c)
    refca_ops = set(re.findall(r'"([a-z-]+)"', ops.group(1))) if ops else set()
    if len(refca_ops) < 5:
        errors.append("found only %d operations in refca/ca.c op_names" % len(refca_ops))
    for enum in re.findall(r"op: \{type: string, enum: \[([^\]]*)\]\}", contract):
        contract_ops = {c.strip() for c in enum.split(",")}
        if contract_ops != refca_ops:
            errors.append("ca-api.yaml op enum %s differs from refca's operations %s"
                          % (sorted(contract_ops), sorted(refca_ops)))

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
