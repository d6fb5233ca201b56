#!/usr/bin/env python3
"""monitoring/ against real parts: a running certbridge, a real Prometheus.

    test_monitoring.py --build BUILD_DIR --bootstrap-file FILE [--events N]

1. The reference CA and `certbridge run` (metrics.listen=127.0.0.1:0) on the
   real broker; topics created and events produced with cbtool, like the
   exactly-once tests (tests/integration/eos/).
2. A real Prometheus (Debian's `prometheus`, its own process on a free port of
   127.0.0.1 with its own storage in a temporary folder; never the packaged
   service) scrapes certbridge every second with monitoring/alerts.yml as its
   rule file. Its rules must load and evaluate without error.
3. Once Prometheus has scraped certbridge (up == 1, ready == 1), the workload,
   poison messages included, is produced; the test waits until the input is
   drained and Prometheus has scraped the final counters (dead letters =
   poison messages, actions = expected outcomes) and at least 5 samples.
4. `promtool check metrics` lints a raw scrape of /metrics: no finding.
5. Every expr of monitoring/dashboard.json (rows' nested panels included) and
   the template variables' label_values() queries are evaluated through
   Prometheus's HTTP API with the Grafana variables substituted: each must
   return at least one series, and the panels whose workload is known to
   have moved must show a positive value.
6. CertbridgeDeadLetters is pending or firing in Prometheus (a dead letter
   arrived); CertbridgeTargetDown and CertbridgeNotReady are not.

Everything it started is stopped in a finally block.
"""
import argparse
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "eos"))
import eos_test  # noqa: E402  (RefCA, Scenario, metrics_port, http_get)

MONITORING = os.path.join(SRC, "monitoring")

# Queries that must show a positive value after the workload: the counters
# they read moved between Prometheus's first scrape and the end. Keyed by
# panel title (every query of the panel) or "title/refId"; the value is None
# (some series) or (label, value) naming the series. Queries not listed here
# (lag, in flight, retries, CA errors: 0 in this run) are only checked for data.
MUST_BE_POSITIVE = {
    "Readiness per instance": None,
    "Instances scraped / ready": None,
    "Dead letters in the time range": None,
    "Dead letters per second": None,
    "Events consumed by type": None,
    "Certificate actions by status": ("status", "SUCCEEDED"),
    "Transactions committed vs aborted": ("result", "committed"),
    "CA latency p50 / p95 / p99": None,
    "CA calls per second and in flight/A": None,
    "Actions by action and status": ("status", "SUCCEEDED"),
    "CA latency p95 per instance": None,
}

def log(msg):
    print("monitoring: " + msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """A Prometheus server of our own: own config, storage and port."""

    def __init__(self, work, target):
        self.dir = os.path.join(work, "prometheus")
        os.makedirs(os.path.join(self.dir, "data"))
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: certbridge\n"
                    "    static_configs:\n      - targets: ['%s']\n"
                    % (json.dumps(os.path.join(MONITORING, "alerts.yml")), target))
        self.proc = None

    def start(self):
        subprocess.run(["promtool", "check", "config", self.config], check=True,
                       capture_output=True)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + self.config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=eos_test._die_with_parent)
        wait_for("Prometheus ready on port %d" % self.port,
                 lambda: self.get("/-/ready", raw=True) == 200, 60, self.proc)

    def get(self, path, raw=False, **params):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status if raw else json.loads(r.read().decode())
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            if raw:
                return getattr(e, "code", None)
            raise

    def query(self, expr):
        """An instant query; returns (status, result list)."""
        try:
            r = self.get("/api/v1/query", query=expr)
        except urllib.error.HTTPError as e:
            r = json.loads(e.read().decode())
        return r.get("status"), r.get("data", {}).get("result", []), r.get("error")

    def value(self, expr):
        """The single value of a query, or None."""
        status, res, _ = self.query(expr)
        if status != "success" or len(res) != 1:
            return None
        return float(res[0]["value"][1])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def wait_for(what, pred, timeout, proc=None):
    """Polls pred until true; fails the test after timeout seconds or when
    proc exits. Times out only on a hang: no speed is asserted."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            log("%-52s ok" % what)
            return
        if proc is not None and proc.poll() is not None:
            raise SystemExit("%s: the process exited with %d" % (what, proc.returncode))
        time.sleep(0.2)
    raise SystemExit("%s: not within %d s" % (what, timeout))


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def substitute(expr, values):
    """Grafana's variables in an expr: $name, ${name}, ${name:fmt}."""
    def sub(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            raise SystemExit("dashboard uses an unknown variable $%s in %s" % (name, expr))
        return values[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", sub, expr)


def lint_scrape(port, failures):
    code, text = eos_test.http_get(port, "/metrics")
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    findings = (p.stdout + p.stderr).strip()
    ok = code == 200 and p.returncode == 0 and not findings
    log("%-52s %s %s" % ("promtool check metrics on a raw scrape", "ok" if ok else "FAILED",
                         "(%d lines, %d series)" % (len(text.splitlines()),
                                                    sum(1 for l in text.splitlines()
                                                        if l and not l.startswith("#")))))
    if not ok:
        log("HTTP %d, promtool exit %d:\n%s" % (code, p.returncode, findings))
        failures.append("promtool check metrics")


def check_rules(prom, failures):
    """alerts.yml loaded by Prometheus, every rule evaluated without error."""
    groups = prom.get("/api/v1/rules")["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rules
           if r.get("health") != "ok"]
    ok = len(rules) >= 7 and not bad
    log("%-52s %s %s" % ("alerts.yml loaded and evaluated by Prometheus",
                         "ok" if ok else "FAILED", "%d rules %s" % (len(rules), bad or "")))
    if not ok:
        failures.append("rules")


def check_dashboard(prom, instance, window, failures):
    dash = json.load(open(os.path.join(MONITORING, "dashboard.json"), encoding="utf-8"))
    # a multi-value variable is regex-escaped, its backslashes doubled inside
    # the PromQL string, as Grafana does
    values = {"job": "certbridge", "instance": re.escape(instance).replace("\\", "\\\\"),
              "__rate_interval": window, "__interval": window, "__range": window,
              "__range_s": window[:-1], "DS_PROMETHEUS": "prometheus"}
    # the template variables: label_values(METRIC_SELECTOR, LABEL)
    for var in dash["templating"]["list"]:
        if var["type"] != "query":
            continue
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q)
        if not m:
            raise SystemExit("variable %s: unsupported query %s" % (var["name"], q))
        got = prom.get("/api/v1/label/%s/values" % m.group(2),
                       **{"match[]": substitute(m.group(1), values)})["data"]
        want = "certbridge" if var["name"] == "job" else instance
        ok = want in got
        log("%-52s %s %s" % ("variable $" + var["name"], "ok" if ok else "FAILED", got))
        if not ok:
            failures.append("variable " + var["name"])

    count = 0
    used = set()
    for panel in walk_panels(dash["panels"]):
        for t in panel.get("targets", []):
            expr = substitute(t["expr"], values)
            status, res, error = prom.query(expr)
            count += 1
            ok = status == "success" and len(res) > 0
            key = panel["title"] + "/" + t["refId"]
            key = key if key in MUST_BE_POSITIVE else panel["title"]
            need = ""
            if key in MUST_BE_POSITIVE:
                used.add(key)
            if ok and key in MUST_BE_POSITIVE:
                label = MUST_BE_POSITIVE[key]
                chosen = [float(s["value"][1]) for s in res
                          if label is None or s["metric"].get(label[0]) == label[1]]
                ok = any(v > 0 and math.isfinite(v) for v in chosen)
                need = " (%s > 0)" % ("%s=%s" % label if label else "some series")
            shown = ", ".join("{%s} %.4g" % (",".join("%s=%s" % kv for kv in
                                                      sorted(s["metric"].items())
                                                      if kv[0] not in ("__name__", "job")),
                                             float(s["value"][1])) for s in res[:3])
            log("%-4s %-40.40s %-6s %d series%s: %s%s" % (
                t["refId"], panel["title"], "ok" if ok else "FAILED", len(res), need, shown,
                " ..." if len(res) > 3 else ""))
            if not ok:
                log("     query: %s %s" % (expr, error or ""))
                failures.append("panel %r %s" % (panel["title"], t["refId"]))
    log("%d dashboard queries evaluated by Prometheus" % count)
    stale = sorted(set(MUST_BE_POSITIVE) - used)
    if stale:
        log("FAILED: MUST_BE_POSITIVE names no panel of the dashboard: %s" % stale)
        failures.append("MUST_BE_POSITIVE out of date")
    if count < 10:
        failures.append("too few dashboard queries")


def run(args):
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            raise SystemExit("%s not found: install Debian's prometheus package "
                             "(scripts/install-deps.sh --test does)" % tool)
    ns = argparse.Namespace(scenario="monitoring", build=args.build,
                            bootstrap_file=args.bootstrap_file, events=args.events,
                            seed=7, kills=0, keep=False, valgrind=False)
    s = eos_test.Scenario(ns)
    prom = None
    failures = []
    try:
        for t in (s.org_topic, s.person_topic):
            s.tool("create-topic", s.bootstrap, t, "2")
        for t in (s.outcome_topic, s.dlq_topic):
            s.tool("create-topic", s.bootstrap, t, "1")
        s.ca = eos_test.RefCA(s.build, s.work, s.inventory, ["--latency-ms", "2"])
        s.ca.start()
        a = s.start(s.conf("a", "cb-mon", {"metrics.ca_probe_interval_ms": "300"}), "a")
        port = eos_test.metrics_port(s, "a")
        target = "127.0.0.1:%d" % port
        log("certbridge metrics on %s, CA at %s" % (target, s.ca.url))

        prom = Prometheus(s.work, target)
        prom.start()
        wait_for('Prometheus scrapes certbridge: up{job="certbridge"} == 1',
                 lambda: prom.value('up{job="certbridge"}') == 1, 60, prom.proc)
        wait_for("certbridge ready as Prometheus sees it",
                 lambda: prom.value('certbridge_ready{job="certbridge"}') == 1, 90, a)
        t_first = time.time()

        n = int(s.tool("produce", s.bootstrap, s.org_topic, s.person_topic, s.events).strip())
        poison, outcomes = s.expected["poison"], len(s.expected["outcomes"])
        log("produced %d events (%d poison, %d outcomes expected)" % (n, poison, outcomes))
        wait_for("input drained (consumer group lag 0)", lambda: s.lag() == 0, 120, a)
        wait_for("Prometheus has the final counters (dead letters %d, actions %d)"
                 % (poison, outcomes),
                 lambda: prom.value("certbridge_dead_letters_total") == poison and
                 prom.value("sum(certbridge_actions_total)") == outcomes, 60, a)
        wait_for("at least 5 scrapes: count_over_time(certbridge_ready[5m]) >= 5",
                 lambda: (prom.value("count_over_time(certbridge_ready[5m])") or 0) >= 5, 60,
                 prom.proc)

        lint_scrape(port, failures)
        check_rules(prom, failures)
        # the window of $__rate_interval / $__range: everything since
        # Prometheus started, so each rate spans the workload
        window = "%ds" % (int(time.time() - t_first) + 10)
        log("Grafana variables: $job=certbridge $instance=%s $__rate_interval=%s"
            % (target, window))
        check_dashboard(prom, target, window, failures)

        def active():
            out = {}
            for al in prom.get("/api/v1/alerts")["data"]["alerts"]:
                out.setdefault(al["labels"]["alertname"], []).append(al["state"])
            return out

        # the rules run every second: the dead letters' alert follows the
        # last scrape within one evaluation
        wait_for("CertbridgeDeadLetters pending or firing",
                 lambda: "CertbridgeDeadLetters" in active(), 30, prom.proc)
        now = active()
        log("alerts active in Prometheus: %s" % now)
        for name in ("CertbridgeTargetDown", "CertbridgeNotReady"):
            ok = name not in now
            log("%-52s %s" % (name + " inactive", "ok" if ok else "FAILED"))
            if not ok:
                failures.append(name)
    finally:
        if prom:
            prom.stop()
        s.cleanup()
    if failures:
        log("FAILED: %s (work folder kept: %s)" % (", ".join(failures), s.work))
        sys.exit(1)
    shutil.rmtree(s.work, ignore_errors=True)
    log("passed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--bootstrap-file", required=True)
    ap.add_argument("--events", type=int, default=300)
    run(ap.parse_args())


if __name__ == "__main__":
    main()
