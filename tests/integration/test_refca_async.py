#!/usr/bin/env python3
"""The reference CA's asynchronous requests: fates decided once, from the seed
and the Idempotency-Key, and kept.

    test_refca_async.py CERTBRIDGE_REFCA

Two servers A and B with the same --seed and the same --async flags (a share
REJECTED, a share EXPIRED, half of the requests PENDING through their first
two polls, due at once) get the same issue calls, in opposite orders. Each
request is polled until it is final: both servers must give every key the
same state, answer and number of PENDING polls; all three final states and
both poll counts must occur; REJECTED answers SUBJECT_MISMATCH and EXPIRED the
problem EXPIRED, with nothing applied (only COMPLETED requests are in the
ledger); a finished request answers the same when polled again.

Then both get more calls that nobody polls, A is killed with SIGKILL and
started again with another seed and flags that would decide otherwise (no
rejections, no expiry): the finished requests answer as before, the repeated
POSTs answer the same request ids (Idempotent-Replayed) and change nothing,
and the requests pending at the crash end as B (the first seed) ends them.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refca_server import Refca, check  # noqa: E402

FLAGS = ["--async", "--async-delay-ms", "0", "--async-reject", "0.3", "--async-expire", "0.2",
         "--async-min-polls", "2", "--async-min-polls-share", "0.5", "--seed", "42"]
POLLS_MAX = 400


def issue(ca, key):
    """POST /v1/certificates for a new holder named after key: never refused
    when it is finally applied, so the fate alone decides the state."""
    body = {"holder_type": "PERSON", "holder_id": "ASYNC-" + key,
            "subject": "CN=Người thử %s,OU=Sở Nội vụ,L=Đồng Nai,C=VN" % key}
    return ca.call("/v1/certificates", body, key)


def accept(ca, key):
    status, data, headers = issue(ca, key)
    check(status == 202 and data["status"] == "PENDING" and data["request_id"].startswith("REQ-")
          and headers.get("location") == "/v1/requests/" + data["request_id"],
          "%s: %s accepted PENDING" % (ca.name, key))
    return data["request_id"]


def follow(ca, rid):
    """Polls until final: (PENDING polls before, the final answer)."""
    for pending in range(POLLS_MAX):
        status, data, _ = ca.call("/v1/requests/" + rid)
        if status != 200:
            sys.exit("FAILED: poll %s answered %d" % (rid, status))
        if data["state"] != "PENDING":
            return pending, data
        check("result" not in data, "%s: a PENDING request has no result yet" % rid)
    sys.exit("FAILED: %s still PENDING after %d polls" % (rid, POLLS_MAX))


def fate(answer):
    """What must be equal across servers: the state, the status and the
    problem code (serials and times differ)."""
    result = answer.get("result", {})
    return (answer["state"], answer.get("http_status"), result.get("code"), result.get("status"))


def main():
    binary = sys.argv[1]
    work = tempfile.mkdtemp(prefix="cb-refca-async-")
    a, b = Refca(binary, work, "a"), Refca(binary, work, "b")
    try:
        a.start(*FLAGS)
        b.start(*FLAGS)
        keys = ["async-key-%02d" % i for i in range(24)]
        ids_a = {k: accept(a, k) for k in keys}
        ids_b = {k: accept(b, k) for k in reversed(keys)}
        seen = {}
        for k in keys:
            pa, fa = follow(a, ids_a[k])
            pb, fb = follow(b, ids_b[k])
            check((pa, fate(fa)) == (pb, fate(fb)),
                  "%s: the same fate on both servers whatever the order of calls (%s after %d "
                  "PENDING polls)" % (k, fa["state"], pa))
            check(pa in (0, 2), "%s: PENDING through 0 or 2 polls (--async-min-polls 2)" % k)
            seen[k] = (pa, fa)
        states = {f["state"] for _, f in seen.values()}
        check(states == {"COMPLETED", "REJECTED", "EXPIRED"},
              "all three final states occur: %s" % sorted(states))
        check({p for p, _ in seen.values()} == {0, 2},
              "some requests were PENDING through their first two polls, some not")
        for k, (_, f) in seen.items():
            if f["state"] == "COMPLETED":
                check(f["http_status"] == 201 and f["result"]["status"] == "SUCCEEDED"
                      and f["result"]["new_serial"], "%s: COMPLETED with the issue's answer" % k)
            elif f["state"] == "REJECTED":
                check(f["http_status"] == 422 and f["result"]["code"] == "SUBJECT_MISMATCH"
                      and "registration file" in f["result"]["detail"]
                      and "hồ sơ đăng ký" in f["result"]["detail"],
                      "%s: REJECTED with SUBJECT_MISMATCH, in Vietnamese and English" % k)
            else:
                check(f["http_status"] == 410 and f["result"]["code"] == "EXPIRED",
                      "%s: EXPIRED with the problem EXPIRED" % k)
        completed = sorted(k for k, (_, f) in seen.items() if f["state"] == "COMPLETED")
        for ca in (a, b):
            applied = sorted(e["idempotency_key"] for e in ca.ledger())
            check(applied == completed,
                  "%s: only the COMPLETED requests were applied (%d of %d)"
                  % (ca.name, len(completed), len(keys)))
        for k in keys:
            status, again, _ = a.call("/v1/requests/" + ids_a[k])
            check(status == 200 and again == seen[k][1], "%s: polled again, the same answer" % k)

        # requests nobody polls before the crash
        later = ["async-later-%02d" % i for i in range(8)]
        later_a = {k: accept(a, k) for k in later}
        later_b = {k: accept(b, k) for k in later}
        ledger_before = a.ledger()
        a.kill()
        a.start("--async", "--async-delay-ms", "0", "--seed", "7")
        for k in keys:
            status, again, _ = a.call("/v1/requests/" + ids_a[k])
            check(status == 200 and again == seen[k][1],
                  "%s: after a crash and a restart with another seed, the same answer" % k)
            status, data, headers = issue(a, k)
            check(status == 202 and data["request_id"] == ids_a[k]
                  and headers.get("idempotent-replayed") == "true",
                  "%s: the repeated POST answers the same request id" % k)
        for k in later:
            pa, fa = follow(a, later_a[k])
            pb, fb = follow(b, later_b[k])
            check((pa, fate(fa)) == (pb, fate(fb)),
                  "%s: pending at the crash, it ends as decided when it was accepted (%s after "
                  "%d PENDING polls)" % (k, fa["state"], pa))
        ledger_after = a.ledger()
        check(ledger_after[:len(ledger_before)] == ledger_before,
              "the ledger kept what it held before the crash")
        applied = [e["idempotency_key"] for e in ledger_after]
        done_later = sorted(k for k in later if follow(a, later_a[k])[1]["state"] == "COMPLETED")
        check(sorted(k for k in applied if k in keys) == completed
              and sorted(k for k in applied if k in later) == done_later
              and len(applied) == len(completed) + len(done_later),
              "the ledger holds each COMPLETED request once (the timer may have finished some "
              "before the crash), no more")
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("test_refca_async: passed")


if __name__ == "__main__":
    main()
