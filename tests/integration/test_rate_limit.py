#!/usr/bin/env python3
"""certbridge against a rate-limited CA (README "Sizing for a CA's limits").

    test_rate_limit.py --build BUILD --bootstrap-file FILE [--mode adaptive|fixed]
                       [--events N] [--keep]

The reference CA admits RATE calls a second (--rate-limit, a token bucket with a
burst of a tenth of that; beyond it 429 with Retry-After) and answers after
LATENCY_MS, so about RATE x LATENCY (8) calls in flight use it fully, while
certbridge may have up to CEILING (64, ca.concurrency) in flight. One instance
drains the exactly-once workload of eos_test.py (every event type, poison
messages); once the consumer lag is 0 its /metrics are read and it is stopped
with SIGTERM. Checks, none of them about speed:
  - exactly once: every check of eos_test.py (outcomes, dead letters, the CA's
    ledger, lag);
  - the limit was reached: the CA refused some calls (else the test proves
    nothing);
  - few 429s: at most MAX_REFUSED_SHARE of the calls the CA saw were refused
    (with --mode fixed, 64 calls in flight make it most of them: the same test
    fails, as it did before the limiter);
  - certbridge counted each of them: certbridge_ca_overloaded_total{answer="429"}
    equals the CA's refused_429 (GET /v1/admin/stats);
  - the limit and the baseline on /metrics: the limit below the ceiling, the
    baseline no less than the CA's latency (no answer can come sooner).
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "eos"))
import eos_test  # noqa: E402

RATE = 400
LATENCY_MS = 20
CEILING = 64
MAX_REFUSED_SHARE = 0.05


def ca_stats(ca):
    """GET /v1/admin/stats over mutual TLS."""
    host, port = ca.url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=os.path.join(ca.pki, "tls-ca.pem"))
    ctx.load_cert_chain(os.path.join(ca.pki, "client.pem"), os.path.join(ca.pki, "client.key"))
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
    conn.request("GET", "/v1/admin/stats")
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    if r.status != 200:
        raise SystemExit("/v1/admin/stats answered %d" % r.status)
    return body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--bootstrap-file", required=True)
    ap.add_argument("--mode", choices=("adaptive", "fixed"), default="adaptive")
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    args = argparse.Namespace(scenario="rate_limit", build=a.build,
                              bootstrap_file=a.bootstrap_file, events=a.events, seed=7,
                              keep=a.keep, valgrind=False, kills=0)
    s = eos_test.Scenario(args)
    fails = []

    def expect(name, ok, detail):
        eos_test.log("%-34s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            fails.append(name)

    try:
        s.setup(ca_extra=["--rate-limit", str(RATE), "--rate-burst", str(RATE // 10),
                          "--latency-ms", str(LATENCY_MS)])
        conf = s.conf("a", "cb-a", {"ca.concurrency": str(CEILING),
                                    "ca.concurrency_mode": a.mode,
                                    "pipeline.batch_max_events": "500"})
        p = s.start(conf, "a")
        port = eos_test.metrics_port(s, "a")
        # the event: every batch committed (the lag counts from the start
        # until a commit), so no call is left to make; meanwhile the calls
        # in flight as /metrics shows them (every scrape while the lag lasts)
        flight = []
        while s.lag() != 0:
            if p.poll() is not None:
                raise SystemExit("the instance exited with %d before draining" % p.returncode)
            flight.append(eos_test.total(eos_test.scrape(port), "certbridge_ca_in_flight"))
            time.sleep(0.5)
        samples = eos_test.scrape(port)
        stats = ca_stats(s.ca)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(120)
        fails += s.check({"mode": a.mode, "ca_calls": stats["calls"],
                          "refused_429": stats["refused_429"]})
        calls, refused = stats["calls"], stats["refused_429"]
        counted = samples.get("certbridge_ca_overloaded_total|answer=429", -1)
        limit = eos_test.total(samples, "certbridge_ca_concurrency_limit")
        baseline = eos_test.total(samples, "certbridge_ca_latency_baseline_seconds")
        expect("exit on SIGTERM", rc == 0, str(rc))
        expect("the CA's limit was reached", refused > 0, "%d calls refused 429" % refused)
        expect("few 429s", calls and refused <= MAX_REFUSED_SHARE * calls,
               "%d of %d calls (%.2f%%, at most %.0f%%)"
               % (refused, calls, 100.0 * refused / max(1, calls), 100 * MAX_REFUSED_SHARE))
        expect("429s counted on /metrics", counted == refused,
               "certbridge_ca_overloaded_total{answer=\"429\"} %d, the CA refused %d"
               % (counted, refused))
        expect("limit below the ceiling", 1 <= limit < CEILING or a.mode == "fixed",
               "certbridge_ca_concurrency_limit %d of %d" % (limit, CEILING))
        expect("calls in flight on /metrics", flight and 0 < max(flight) <= CEILING,
               "certbridge_ca_in_flight over %d scrapes while draining: %s"
               % (len(flight), sorted(set(flight))))
        expect("baseline >= the CA's latency", LATENCY_MS / 1000.0 <= baseline < 10,
               "certbridge_ca_latency_baseline_seconds %.4f" % baseline)
    finally:
        s.cleanup()
    if fails:
        eos_test.log("FAILED: %s (work folder kept: %s)" % (", ".join(fails), s.work))
        sys.exit(1)
    if not a.keep:
        shutil.rmtree(s.work, ignore_errors=True)
    eos_test.log("passed")


if __name__ == "__main__":
    main()
