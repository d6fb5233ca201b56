#!/usr/bin/env python3
"""Checks monitoring/ without a server: the alert rules and the dashboard.

    check_monitoring.py SOURCE_DIR

- `promtool check rules --lint=all --lint-fatal` accepts monitoring/alerts.yml;
- `promtool test rules monitoring/alerts.test.yml` passes;
- every alert of alerts.yml has a `for:`, a severity (critical or warning),
  summary, description and runbook annotations, a runbook section in
  monitoring/README.md, and at least one test case where it fires and one
  where it is expected silent (exp_alerts empty);
- monitoring/dashboard.json: every panel (rows' nested panels included) but
  the rows has targets with a PromQL expr and the ${DS_PROMETHEUS} datasource,
  panel ids are unique, refIds unique within a panel, every panel fits the 24
  columns;
- every certbridge_* metric named by the rules or the dashboard is one that
  connector/base/metrics.c exposes (a typo would otherwise only show as an
  empty panel or an alert that never fires).

promtool (Debian's prometheus package, installed by
`scripts/install-deps.sh --test`) missing is a failure, not a skip.
The queries themselves are evaluated by a real Prometheus in
tests/integration/test_monitoring.py.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import yaml


def walk_panels(panels):
    """Every panel, rows' nested (collapsed) panels included."""
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def exposed_metrics(metrics_c):
    """Metric names in the exposition that metrics.c writes; a histogram
    also exposes NAME_bucket, NAME_sum and NAME_count."""
    text = open(metrics_c, encoding="utf-8").read()
    names = set(re.findall(r'"(certbridge_[a-z0-9_]+)"', text))
    names |= set(re.findall(r"(certbridge_[a-z0-9_]+)\{", text))
    names |= set(re.findall(r"(certbridge_[a-z0-9_]+) %", text))
    for n in list(names):
        for suffix in ("_bucket", "_sum", "_count"):
            if n.endswith(suffix):
                names.add(n[: -len(suffix)])
    return names


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = os.path.abspath(sys.argv[1])
    mon = os.path.join(src, "monitoring")
    failures = []

    def expect(name, ok, detail=""):
        print("monitoring: %-44s %s %s" % (name, "ok" if ok else "FAILED", detail), flush=True)
        if not ok:
            failures.append(name)

    promtool = shutil.which("promtool")
    if not promtool:
        print("monitoring: promtool not found: install Debian's prometheus package "
              "(scripts/install-deps.sh --test does)", file=sys.stderr)
        sys.exit(1)
    for cmd in (["check", "rules", "--lint=all", "--lint-fatal", "alerts.yml"],
                ["test", "rules", "alerts.test.yml"]):
        p = subprocess.run([promtool] + cmd, cwd=mon, capture_output=True, text=True)
        expect("promtool " + " ".join(cmd), p.returncode == 0,
               "" if p.returncode == 0 else "\n" + p.stdout + p.stderr)

    rules = [r for g in yaml.safe_load(open(os.path.join(mon, "alerts.yml")))["groups"]
             for r in g["rules"]]
    alerts = [r for r in rules if "alert" in r]
    tests = yaml.safe_load(open(os.path.join(mon, "alerts.test.yml")))["tests"]
    cases = [c for t in tests for c in t.get("alert_rule_test", [])]
    readme = open(os.path.join(mon, "README.md"), encoding="utf-8").read()
    headings = set(re.findall(r"^#+ +(\S+)\s*$", readme, re.M))
    expect("alerts defined", len(alerts) >= 7, "%d" % len(alerts))
    for r in alerts:
        name = r["alert"]
        ann = r.get("annotations", {})
        sev = r.get("labels", {}).get("severity")
        expect(name + ": for", bool(r.get("for")), str(r.get("for")))
        expect(name + ": severity", sev in ("critical", "warning"), str(sev))
        missing = [k for k in ("summary", "description", "runbook") if not ann.get(k)]
        expect(name + ": annotations", not missing, ", ".join("no " + k for k in missing))
        expect(name + ": runbook section", name in headings
               and ann.get("runbook") == "monitoring/README.md#" + name.lower(),
               str(ann.get("runbook")))
        fires = sum(1 for c in cases if c["alertname"] == name and c.get("exp_alerts"))
        silent = sum(1 for c in cases if c["alertname"] == name and not c.get("exp_alerts"))
        expect(name + ": tested firing and silent", fires > 0 and silent > 0,
               "%d firing, %d silent cases" % (fires, silent))

    dash = json.load(open(os.path.join(mon, "dashboard.json"), encoding="utf-8"))
    panels = list(walk_panels(dash["panels"]))
    ids = [p["id"] for p in panels]
    expect("dashboard: unique panel ids", len(ids) == len(set(ids)), str(ids))
    ds_vars = [v for v in dash["templating"]["list"]
               if v["type"] == "datasource" and v["name"] == "DS_PROMETHEUS"]
    expect("dashboard: datasource variable", len(ds_vars) == 1 and
           ds_vars[0]["query"] == "prometheus")
    exprs = []
    for p in panels:
        g = p["gridPos"]
        expect("panel %d fits the grid" % p["id"], g["x"] >= 0 and g["w"] > 0
               and g["x"] + g["w"] <= 24, str(g))
        if p["type"] == "row":
            expect("row %d has no targets" % p["id"], not p.get("targets"))
            continue
        targets = p.get("targets", [])
        refs = [t.get("refId") for t in targets]
        ok = (targets and all(t.get("expr", "").strip() for t in targets)
              and len(refs) == len(set(refs))
              and all(x.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}"
                      for x in [p] + targets))
        expect("panel %d %r" % (p["id"], p["title"]), bool(ok), "%d queries" % len(targets))
        exprs += [t["expr"] for t in targets]
    exprs += [v["query"]["query"] for v in dash["templating"]["list"] if v["type"] == "query"]

    known = exposed_metrics(os.path.join(src, "connector", "base", "metrics.c"))
    used = set()
    for text in exprs + [r["expr"] for r in rules]:
        used |= set(re.findall(r"\bcertbridge_[a-z0-9_]+", text))
    unknown = sorted(used - known)
    expect("metric names exist in metrics.c", not unknown and len(known) >= 9,
           "%d exposed, %d used%s" % (len(known), len(used),
                                      "; unknown: " + ", ".join(unknown) if unknown else ""))

    if failures:
        print("monitoring: FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("monitoring: %d alerts, %d dashboard queries checked" % (len(alerts), len(exprs)))


if __name__ == "__main__":
    main()
