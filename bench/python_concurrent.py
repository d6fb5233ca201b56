#!/usr/bin/env python3
"""The concurrent alternative to certbridge, for the benchmark (bench/run.sh).

What a capable platform engineer would write when the sequential loop
(bench/python_loop.py) is too slow: the same job on the same input, with up
to C CA calls in flight. It imports the loop's decoding, rules, keys and
outcome statuses (so both Python peers do exactly the same work per event),
and differs only in how the calls are made:

  - asyncio on uvloop (when installed) with aiohttp: one event loop, a pool of
    at most C kept-alive mutual-TLS connections, at most C calls in flight (a
    semaphore); no thread per call, no GIL contention;
  - per batch, one chain per holder: a holder's calls run one after another
    in batch order (a holder's lookup before its action, its events in the
    order they arrived, as certbridge's executor keeps them), while the
    chains of different holders run concurrently;
  - 429 and 503 are retried after their Retry-After (at most MAX_THROTTLED
    times), other retriable failures 5 times with backoff, as the loop does.

Then, per batch, the same ONE Kafka transaction as the loop: the outcomes
(Avro with certbridge's schema), the dead letters and the consumed offsets.
It exits 0 once idle for --drain-idle-ms with nothing left to read.

    python_concurrent.py --bootstrap HOST:PORT --ca-url URL --pki DIR --schema AVSC
                         --group G --txn-id T --org-topic A --person-topic B
                         --outcome-topic O --dlq-topic D --concurrency C
                         [--batch 500] [--batch-ms 500] [--drain-idle-ms 2000]
"""
import argparse
import asyncio
import io
import json
import os
import ssl
import sys
import time

import aiohttp
import fastavro
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_loop import NOTE_RECALL, Invalid, decode, key, plan, status_of  # noqa: E402,F401

MAX_THROTTLED = 60  # 429/503 answers one call may get before the run stops
RETRY_CODES = (408, 425, 429)


class CA:
    """Calls to the CA API v1: at most `concurrency` in flight over a pool of
    kept-alive mTLS connections."""

    def __init__(self, url, pki, concurrency):
        self.url = url.rstrip("/") + "/v1"
        ctx = ssl.create_default_context(cafile=os.path.join(pki, "tls-ca.pem"))
        ctx.load_cert_chain(os.path.join(pki, "client.pem"), os.path.join(pki, "client.key"))
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx, limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=30), trust_env=False)
        self.slots = asyncio.Semaphore(concurrency)

    async def call(self, method, path, idem, params=None, body=None):
        """Answers (http status, JSON body, attempts, latency ms)."""
        t0 = time.monotonic()
        attempt = throttled = 0
        while True:
            attempt += 1
            wait = 0.1 * 2 ** min(attempt, 6)
            try:
                async with self.slots:
                    async with self.session.request(
                            method, self.url + path, params=params, json=body,
                            headers={"Idempotency-Key": idem}) as r:
                        status = r.status
                        data = await r.read()
                        retry_after = r.headers.get("Retry-After", "")
                if status not in RETRY_CODES and status < 500:
                    try:
                        answer = json.loads(data) if data else {}
                    except ValueError:
                        answer = {}
                    return status, answer, attempt, int((time.monotonic() - t0) * 1000)
                if status in (429, 503):
                    throttled += 1
                    if throttled > MAX_THROTTLED:
                        raise RuntimeError("CA still refusing after %d attempts: %s %s"
                                           % (attempt, method, path))
                    if retry_after.isdigit():
                        wait = max(wait, float(retry_after))
                elif attempt >= 5:
                    raise RuntimeError("CA unavailable: %s %s (HTTP %d)" % (method, path, status))
            except (aiohttp.ClientError, asyncio.TimeoutError):
                if attempt >= 5:
                    raise
            await asyncio.sleep(wait)

    async def close(self):
        await self.session.close()


def holder_key(it):
    return (it["holder_type"], it["holder_id"])


async def run_chain(ca, steps, results):
    """One holder's intents of one batch, in batch order: steps are
    (event, message, intent index, intent). Each intent's outcomes go to
    results[(event_id, intent index)], as python_loop.execute builds them."""
    certs_of, skipped = {}, set()
    for ev, msg, idx, it in steps:
        outs = []
        results[(ev["event_id"], idx)] = outs
        base = {"source_event_id": ev["event_id"], "source_event_type": ev["event_type"],
                "source_topic": msg.topic(), "source_partition": msg.partition(),
                "source_offset": msg.offset(), "action": it["action"],
                "holder_type": it["holder_type"], "holder_id": it["holder_id"],
                "holder_name": it["holder_name"], "certificate_serial": None,
                "new_certificate_serial": None,
                "revocation_reason": it["reason"] if it["action"] == "REVOKE" else None,
                "device_id": None, "status": "SUCCEEDED", "ca_request_id": None,
                "http_status": None, "error_code": None, "error_message": None, "attempts": 0,
                "latency_ms": 0, "emergency_signing_allowed": it["leader"], "note": it["note"]}
        if it["action"] == "REVIEW":
            outs.append(dict(base, status="NEEDS_REVIEW"))
            continue
        hk = (ev["event_id"],) + holder_key(it)
        if hk not in certs_of:
            code, body, _, _ = await ca.call(
                "GET", "/certificates", key("lookup", *hk),
                params={"holder_type": hk[1], "holder_id": hk[2], "status": "active"})
            certs_of[hk] = body.get("certificates", []) if code == 200 else []
        certs = certs_of[hk]
        if it["action"] == "RECALL_DEVICE":
            seen, certs = set(), [c for c in certs if c.get("device_id")]
            certs = [c for c in certs if not (c["device_id"] in seen or seen.add(c["device_id"]))]
        if not certs:
            if certs_of[hk] or hk not in skipped:
                skipped.add(hk)
                outs.append(dict(base, status="SKIPPED", error_message=(
                    "no key token recorded for the holder's certificates" if certs_of[hk]
                    else "the holder has no active certificate")))
            continue
        for c in certs:
            o = dict(base, certificate_serial=c["serial"])
            idem = key(ev["event_id"], it["action"], it["holder_type"], it["holder_id"],
                       c["device_id"] if it["action"] == "RECALL_DEVICE" else c["serial"])
            if it["action"] in ("REVOKE", "RECALL_DEVICE"):
                o["device_id"] = c.get("device_id")
            if it["action"] == "RETAIN":
                outs.append(o)
                continue
            if it["action"] == "CHANGE_INFO":
                r = await ca.call("POST", "/certificates/%s/change-info" % c["serial"], idem,
                                  body={"subject": it["subject"]})
            elif it["action"] == "REVOKE":
                r = await ca.call("POST", "/certificates/%s/revoke" % c["serial"], idem,
                                  body={"reason": it["reason"]})
            else:
                r = await ca.call("POST", "/devices/%s/recall" % c["device_id"], idem, body={})
            code, body, attempts, ms = r
            o.update(status=status_of(code, body), http_status=code, attempts=attempts,
                     latency_ms=ms, new_certificate_serial=body.get("new_serial"),
                     ca_request_id=body.get("request_id"))
            if o["status"] == "REJECTED":
                o.update(error_code=body.get("code"), error_message=body.get("detail"))
            outs.append(o)


async def execute_batch(ca, planned):
    """planned: (event, message, intents) in batch order. Runs one chain per
    holder concurrently and answers the outcomes, event by event."""
    chains = {}
    for ev, msg, intents in planned:
        for idx, it in enumerate(intents):
            chains.setdefault(holder_key(it), []).append((ev, msg, idx, it))
    results = {}
    await asyncio.gather(*(run_chain(ca, steps, results) for steps in chains.values()))
    outcomes = []
    for ev, msg, intents in planned:
        outs = [o for idx in range(len(intents)) for o in results[(ev["event_id"], idx)]]
        for i, o in enumerate(outs):
            o.update(outcome_id="%s/%d" % (ev["event_id"], i), action_index=i,
                     action_count=len(outs), processed_at=int(time.time() * 1000))
        outcomes += outs
    return outcomes


async def run(a):
    schema = fastavro.parse_schema(json.load(open(a.schema)))
    consumer = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    producer = Producer({"bootstrap.servers": a.bootstrap, "transactional.id": a.txn_id,
                         "linger.ms": 5})
    producer.init_transactions(60)

    def on_assign(c, parts):
        print(json.dumps({"assigned_at": int(time.time() * 1000), "partitions": len(parts)}),
              flush=True)

    consumer.subscribe([a.org_topic, a.person_topic], on_assign=on_assign)
    ca = CA(a.ca_url, a.pki, a.concurrency)
    idle_since = time.monotonic()
    n_out = 0
    try:
        while True:
            msgs = consumer.consume(a.batch, a.batch_ms / 1000.0)
            msgs = [m for m in msgs if not m.error()]
            if not msgs:
                parts = consumer.assignment()
                if parts and (time.monotonic() - idle_since) * 1000 >= a.drain_idle_ms:
                    pos = consumer.position(parts)
                    lag = sum(consumer.get_watermark_offsets(tp, timeout=10)[1]
                              - max(p.offset, 0) for tp, p in zip(parts, pos))
                    if lag <= 0:
                        break
                continue
            planned, dead = [], []
            for m in msgs:
                try:
                    ev = decode(m.value(), m.topic() == a.person_topic)
                    planned.append((ev, m, plan(ev)))
                except Invalid as e:
                    dead.append((m, str(e)))
            outcomes = await execute_batch(ca, planned)
            producer.begin_transaction()
            for o in outcomes:
                buf = io.BytesIO()
                fastavro.schemaless_writer(buf, schema, o)
                while True:
                    try:
                        producer.produce(a.outcome_topic, key=o["holder_id"],
                                         value=buf.getvalue())
                        break
                    except BufferError:
                        producer.poll(0.05)
            for m, why in dead:
                headers = list(m.headers() or []) + [
                    ("certbridge.error.class", b"INVALID"),
                    ("certbridge.error.message", why.encode()),
                    ("certbridge.source.topic", m.topic().encode()),
                    ("certbridge.source.partition", str(m.partition()).encode()),
                    ("certbridge.source.offset", str(m.offset()).encode())]
                producer.produce(a.dlq_topic, key=m.key(), value=m.value(), headers=headers)
            last = {}
            for m in msgs:
                last[(m.topic(), m.partition())] = max(last.get((m.topic(), m.partition()), -1),
                                                       m.offset())
            offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 60)
            producer.commit_transaction(60)
            n_out += len(outcomes)
            idle_since = time.monotonic()
    finally:
        await ca.close()
        consumer.close()
    print(json.dumps({"outcomes": n_out}), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for a in ("bootstrap", "ca-url", "pki", "schema", "group", "txn-id", "org-topic",
              "person-topic", "outcome-topic", "dlq-topic"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--batch-ms", type=int, default=500)
    ap.add_argument("--drain-idle-ms", type=int, default=2000)
    a = ap.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(run(a))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as e:
        sys.exit("python_concurrent: %s" % e)
