#!/usr/bin/env python3
"""The reference CA's rate limit (--rate-limit, a token bucket).

    test_refca_rate_limit.py CERTBRIDGE_REFCA

Drives lookups back to back, far faster than the limit, and checks bounds that
hold whatever the machine's speed: the calls accepted never exceed
burst + rate x elapsed (a token bucket cannot give more, and the client's
elapsed time covers the server's), the first `burst` calls are accepted (the
bucket starts full), every other call is answered 429 RATE_LIMITED with an
integer Retry-After >= 1 and <= ceil(1 / rate) and applies nothing, and
GET /v1/admin/stats counts exactly the calls and refusals the client saw.
/v1/ca.pem and /v1/ledger stay exempt. Then POST /v1/admin/rate-limit changes
the limit while the server runs and the new bound applies; rate 0 switches it
off. The admin calls need the client certificate like every call.
"""
import math
import os
import shutil
import ssl
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refca_server import Refca, check  # noqa: E402

LOOKUP = "/v1/certificates?holder_type=ORGANIZATION&holder_id=000.00.00.H19"
DRIVE_S = 1.5      # at least this long, and
EXCESS = 20        # until at least this many calls beyond the bound were sent
GIVE_UP_S = 60     # a client too slow to exceed the limit cannot test it


def drive(ca, rate, burst):
    """Calls as fast as one connection allows; checks each answer. Answers
    (calls sent, accepted, refused, elapsed seconds)."""
    sent = ok = refused = 0
    t0 = time.monotonic()
    while True:
        status, data, headers = ca.call(LOOKUP)
        sent += 1
        if status == 200:
            ok += 1
        elif status == 429:
            refused += 1
            ra = headers.get("retry-after", "")
            if not (ra.isdigit() and 1 <= int(ra) <= max(1, math.ceil(1 / rate))):
                sys.exit("FAILED: a 429 with Retry-After %r (rate %g)" % (ra, rate))
            if data.get("code") != "RATE_LIMITED" or data.get("status") != 429:
                sys.exit("FAILED: a 429 that is not the problem RATE_LIMITED: %r" % data)
        else:
            sys.exit("FAILED: lookup answered %d" % status)
        elapsed = time.monotonic() - t0
        if elapsed >= DRIVE_S and sent >= burst + rate * elapsed + EXCESS:
            return sent, ok, refused, elapsed
        if elapsed > GIVE_UP_S:
            sys.exit("FAILED: %d calls in %.0f s do not exceed the limit" % (sent, elapsed))


def phase(ca, rate, burst, stats_before, full):
    """Drives a phase and checks its bounds; full: the bucket is known to be
    full at its start (a fresh server), so the first `burst` calls pass."""
    sent, ok, refused, elapsed = drive(ca, rate, burst)
    bound = burst + rate * elapsed
    print("%d calls in %.2f s: %d accepted (bound %.1f), %d refused"
          % (sent, elapsed, ok, bound, refused), flush=True)
    check(ok <= bound, "rate %g burst %g: accepted %d <= burst + rate x elapsed = %.1f"
          % (rate, burst, ok, bound))
    if full:
        check(ok >= min(sent, math.floor(burst)), "the first %d calls (the burst) were accepted"
              % math.floor(burst))
    check(refused == sent - ok and refused >= sent - bound,
          "every call beyond the bound was refused 429 with Retry-After (%d)" % refused)
    status, stats, _ = ca.call("/v1/admin/stats")
    check(status == 200 and stats["rate"] == rate and stats["burst"] == burst
          and stats["calls"] - stats_before["calls"] == sent
          and stats["refused_429"] - stats_before["refused_429"] == refused
          and stats["accepted"] - stats_before["accepted"] == ok,
          "GET /v1/admin/stats counts %d calls, %d refused" % (sent, refused))
    return stats


def main():
    binary = sys.argv[1]
    work = tempfile.mkdtemp(prefix="cb-refca-rate-")
    ca = Refca(binary, work)
    try:
        ca.start("--rate-limit", "20", "--rate-burst", "5")
        status, stats, _ = ca.call("/v1/admin/stats")
        check(status == 200 and stats["calls"] == 0 and stats["refused_429"] == 0
              and stats["rate"] == 20 and stats["burst"] == 5, "stats before any call")

        stats = phase(ca, 20, 5, stats, True)
        # the bucket is empty now: exempt paths still answer
        check(ca.call("/v1/ca.pem")[0] == 200, "/v1/ca.pem is exempt")
        check(ca.call("/v1/ledger")[0] == 200, "/v1/ledger is exempt")
        # a POST right after a refused call is refused too (unless a token
        # came back in between: then again with another key), applying nothing
        refused_keys = []
        for i in range(20):
            while ca.call(LOOKUP)[0] != 429:
                pass
            key = "rate-recall-%d" % i
            status, data, headers = ca.call("/v1/devices/TK-ORG-0001/recall", {}, key)
            if status == 429:
                check(headers.get("retry-after") == "1" and data["code"] == "RATE_LIMITED",
                      "a POST beyond the limit is refused 429 RATE_LIMITED, Retry-After: 1")
                refused_keys.append(key)
                break
        check(refused_keys, "a POST was refused")
        check(not set(refused_keys) & {e["idempotency_key"] for e in ca.ledger()},
              "the refused POST applied nothing")
        status, stats, _ = ca.call("/v1/admin/stats")

        # a higher limit, then a lower one with a burst of its own default
        status, data, _ = ca.call("/v1/admin/rate-limit", {"rate": 60, "burst": 10})
        check(status == 200 and data == {"rate": 60, "burst": 10},
              "POST /v1/admin/rate-limit sets 60/s, burst 10")
        status, stats, _ = ca.call("/v1/admin/stats")
        # tokens kept across the change are at most the old bucket's 5 (it
        # was empty), so the new bound holds from the change on
        stats = phase(ca, 60, 10, stats, False)
        status, data, _ = ca.call("/v1/admin/rate-limit", {"rate": 0.5, "burst": 1})
        check(status == 200 and data == {"rate": 0.5, "burst": 1}, "0.5/s, burst 1")
        status, stats, _ = ca.call("/v1/admin/stats")
        stats = phase(ca, 0.5, 1, stats, False)  # Retry-After up to 2 s

        status, data, _ = ca.call("/v1/admin/rate-limit", {"rate": 0})
        check(status == 200 and data["rate"] == 0, "rate 0 switches the limit off")
        answers = {ca.call(LOOKUP)[0] for _ in range(50)}
        check(answers == {200}, "no call refused without a limit")

        for bad in ({"rate": -1}, {"rate": "fast"}, {"burst": 3}, {"rate": 5, "burst": 0.5}, []):
            status, data, _ = ca.call("/v1/admin/rate-limit", bad)
            check(status == 400 and data["code"] == "MALFORMED_BODY",
                  "POST /v1/admin/rate-limit %s refused 400" % (bad,))
        check(ca.call("/v1/admin/rate-limit")[0] == 405, "GET /v1/admin/rate-limit is 405")
        check(ca.call("/v1/admin/nothing")[0] == 404, "an unknown admin call is 404")

        # the admin calls are mutual TLS like the rest: a rogue client is refused
        rogue = ca.context("rogue")
        try:
            urllib.request.urlopen("https://%s:%d/v1/admin/stats" % (ca.host, ca.port),
                                   context=rogue, timeout=10)
            refused_tls = False
        except (ssl.SSLError, OSError):
            refused_tls = True
        check(refused_tls, "a client certificate of another CA cannot call /v1/admin/")
    finally:
        ca.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("test_refca_rate_limit: passed")


if __name__ == "__main__":
    main()
