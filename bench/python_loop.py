#!/usr/bin/env python3
"""The straightforward alternative to certbridge, for the benchmark (bench/run.sh).

A plain Python loop around confluent-kafka doing the same job as
`certbridge run` on the same input: consume `hr.org-events` and
`hr.person-events` (read_committed, no auto-commit), decode the JSON events,
apply the default rules of docs/DOMAIN.md §3, and for every (event, holder) look up
the holder's active certificates and make one CA call per action, one call at
a time, with `requests` over mutual TLS (the same client certificate as
certbridge, a kept-alive session). Then, per batch, ONE Kafka transaction:
the outcomes (one per action, schemas/CertificateActionOutcome.avsc), the dead letters (undecodable or
invalid input) and the consumed offsets (send_offsets_to_transaction).

Outcomes are written as plain Avro with certbridge's own schema
(schemas/CertificateActionOutcome.avsc, via fastavro), so the benchmark reads
both outputs with the same decoder and checks they hold the same outcome ids,
actions and statuses. Idempotency-Keys are sent with the same meaning as
certbridge's (derived from the event, the action, the holder and the
certificate; lookups keyed by event and holder) but are not byte-identical.

What it deliberately does not do, as a typical script would not: calls run
sequentially (no concurrency), a CA failure is retried a few times and then
stops the process (the uncommitted batch is replayed on the next start),
no pause/resume, no metrics. It exits 0 once it has been idle for
--drain-idle-ms with partitions assigned and nothing left to read.

    python_loop.py --bootstrap HOST:PORT --ca-url URL --pki DIR --schema AVSC
                   --group G --txn-id T --org-topic A --person-topic B
                   --outcome-topic O --dlq-topic D [--batch 500] [--batch-ms 500]
"""
import argparse
import hashlib
import io
import json
import re
import sys
import time

import fastavro
import requests
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

NOTE_RECALL = ("Thu hồi thiết bị lưu khóa bí mật, gửi về Cục Chứng thực số và Bảo mật thông tin / "
               "Recall the key token and return it to the Department of Digital Certification and "
               "Information Security")
NOTES = {
    "ORG_CHANGE": "Thay đổi nội dung thông tin chứng thư số của cơ quan theo thông tin mới, không "
                  "làm thủ tục cấp mới / Change the organization certificate's information to the "
                  "new information; do not apply for a new certificate",
    "CARRIER": "Thay đổi thông tin chứng thư số của cơ quan này thành thông tin cơ quan mới sau "
               "sáp nhập và tiếp tục sử dụng / Change this organization's certificate to the "
               "information of the new merged organization and keep using it",
    "RETAIN": "Tiếp tục sử dụng chứng thư số hiện có của cơ quan, không cần thay đổi / Keep using "
              "the organization's existing certificate; no change needed",
    "REVOKE_MERGED": "Thu hồi chứng thư số của cơ quan đã sáp nhập vào cơ quan khác / Revoke the "
                     "certificate of the organization that was merged into another",
    "REVOKE_DISSOLVED": "Thu hồi chứng thư số của cơ quan đã giải thể / Revoke the certificate "
                        "of the dissolved organization",
    "PERSON_CHANGE": "Thay đổi nội dung thông tin chứng thư số cá nhân theo cơ quan, chức danh "
                     "mới / Change the personal certificate's information to the new agency and "
                     "title",
    "LEADER_CHANGE": "Thay đổi nội dung thông tin chứng thư số cá nhân; lãnh đạo được tiếp tục "
                     "ký số bằng chứng thư số hiện có cho đến khi thay đổi xong / Change the "
                     "personal certificate's information; as a leader, you may keep signing with "
                     "the existing certificate until the change is done",
    "RETIRED": "Thu hồi chứng thư số cá nhân do nghỉ hưu / Revoke the personal certificate: the "
               "holder retired",
    "RESIGNED": "Thu hồi chứng thư số cá nhân do thôi việc / Revoke the personal certificate: the "
                "holder resigned",
    "DECEASED": "Thu hồi chứng thư số cá nhân do người sử dụng đã từ trần / Revoke the personal "
                "certificate: the holder died",
    "DISMISSED": "Thu hồi chứng thư số cá nhân do bị buộc thôi việc / Revoke the personal "
                 "certificate: the holder was dismissed",
    "DEPARTED": "Thu hồi chứng thư số cá nhân do không còn công tác tại cơ quan / Revoke the "
                "personal certificate: the holder left the agency",
    "NOT_NEEDED": "Thu hồi chứng thư số không còn nhu cầu sử dụng / Revoke the certificate that "
                  "is no longer needed",
    "REVIEW": "Cán bộ mới: xem xét nhu cầu chứng thư số; không cấp mới trong thời gian sắp xếp "
              "tổ chức bộ máy / New staff member: review the certificate need; no new issuance "
              "during the reorganization",
}
ORG_TYPES = {"MERGED", "RENAMED", "PARENT_CHANGED", "INFO_CHANGED", "DISSOLVED"}
PERSON_TYPES = {"TRANSFERRED", "POSITION_CHANGED", "INFO_CHANGED", "DEPARTED", "JOINED",
                "CERTIFICATE_NOT_NEEDED"}
CODE_RE = re.compile(r"^[0-9A-Z]+(\.[0-9A-Z]+)*$")


class Invalid(Exception):
    pass


def dn_escape(v):
    out = []
    for i, ch in enumerate(v):
        if ch in ',+"\\<>;=' or (i == 0 and ch in " #") or (i == len(v) - 1 and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def subject(cn, title=None, ou=None, o=None, l=None, email=None):
    parts = [("CN", cn), ("title", title), ("OU", ou), ("O", o), ("L", l), ("C", "VN"),
             ("emailAddress", email)]
    return ",".join("%s=%s" % (k, dn_escape(v)) for k, v in parts if v)


def check_org(org, path):
    if not isinstance(org, dict):
        raise Invalid("%s: required field is missing" % path)
    code = org.get("code")
    if not isinstance(code, str) or not code or len(code) > 35 or not CODE_RE.match(code):
        raise Invalid("%s.code: %r is not an electronic identification code" % (path, code))
    for k in ("name", "province"):
        if not isinstance(org.get(k), str) or not org[k]:
            raise Invalid("%s.%s: required field is missing or empty" % (path, k))


def decode(value, is_person_topic):
    """One input message to an event dict, or Invalid."""
    try:
        ev = json.loads(value)
    except (ValueError, UnicodeDecodeError) as e:
        raise Invalid("json: %s" % e)
    if not isinstance(ev, dict):
        raise Invalid("json: not an object")
    for k in ("event_id", "event_type", "source_system"):
        if not isinstance(ev.get(k), str) or not ev[k]:
            raise Invalid("%s: required field is missing or empty" % k)
    is_person = "person" in ev
    if is_person != is_person_topic:
        raise Invalid("event: a %s event on the wrong topic" % ("PersonEvent" if is_person
                                                                else "OrgEvent"))
    if ev["event_type"] not in (PERSON_TYPES if is_person else ORG_TYPES):
        raise Invalid("event_type: unknown symbol %r" % ev["event_type"])
    check_org(ev.get("org"), "org")
    if is_person:
        p = ev["person"]
        if not isinstance(p, dict) or not p.get("person_id") or not p.get("full_name"):
            raise Invalid("person: required field is missing")
        if not re.match(r"^[0-9]{12}$", str(p.get("national_id", ""))):
            raise Invalid("person.national_id: not 12 digits")
    for i, m in enumerate(ev.get("merged_orgs") or []):
        check_org(m, "merged_orgs[%d]" % i)
    if ev["event_type"] == "MERGED" and not is_person and not ev.get("merged_orgs"):
        raise Invalid("merged_orgs: a MERGED event needs merged organizations")
    return ev


def plan(ev):
    """The intents of docs/DOMAIN.md §3 (default policy): dicts with action,
    holder_type, holder_id, holder_name, reason, subject, note, leader."""
    out = []

    def add(action, htype, hid, name, note, reason=None, subj=None, leader=False):
        out.append({"action": action, "holder_type": htype, "holder_id": hid, "holder_name": name,
                    "reason": reason, "subject": subj, "note": note, "leader": leader})

    def revoke_recall(htype, hid, name, reason, note):
        add("REVOKE", htype, hid, name, note, reason=reason)
        add("RECALL_DEVICE", htype, hid, name, NOTE_RECALL)

    t, org = ev["event_type"], ev["org"]
    if "person" not in ev:
        org_subject = subject(org["name"], o=org.get("parent_name"), l=org["province"])
        if t == "MERGED":
            merged = ev["merged_orgs"]
            carrier = None
            if ev.get("result_is_new"):
                carrier = next((m for m in merged if m["code"] == ev.get("certificate_carrier")),
                               merged[0])
                add("CHANGE_INFO", "ORGANIZATION", carrier["code"], carrier["name"],
                    NOTES["CARRIER"], subj=org_subject)
            else:
                add("RETAIN", "ORGANIZATION", org["code"], org["name"], NOTES["RETAIN"])
            for m in merged:
                if m is carrier or (not ev.get("result_is_new") and m["code"] == org["code"]):
                    continue
                revoke_recall("ORGANIZATION", m["code"], m["name"], "cessationOfOperation",
                              NOTES["REVOKE_MERGED"])
        elif t == "DISSOLVED":
            revoke_recall("ORGANIZATION", org["code"], org["name"], "cessationOfOperation",
                          NOTES["REVOKE_DISSOLVED"])
        else:
            add("CHANGE_INFO", "ORGANIZATION", org["code"], org["name"], NOTES["ORG_CHANGE"],
                subj=org_subject)
        return out
    p = ev["person"]
    if t in ("TRANSFERRED", "POSITION_CHANGED", "INFO_CHANGED"):
        leader = bool(p.get("is_leader"))
        add("CHANGE_INFO", "PERSON", p["person_id"], p["full_name"],
            NOTES["LEADER_CHANGE" if leader else "PERSON_CHANGE"], leader=leader,
            subj=subject(p["full_name"], p.get("title"), org["name"], org.get("parent_name"),
                         org["province"], p.get("email")))
    elif t == "DEPARTED":
        why = ev.get("departure_reason")
        revoke_recall("PERSON", p["person_id"], p["full_name"],
                      "cessationOfOperation" if why == "DECEASED" else "affiliationChanged",
                      NOTES.get(why, NOTES["DEPARTED"]))
    elif t == "CERTIFICATE_NOT_NEEDED":
        revoke_recall("PERSON", p["person_id"], p["full_name"], "cessationOfOperation",
                      NOTES["NOT_NEEDED"])
    else:  # JOINED
        add("REVIEW", "PERSON", p["person_id"], p["full_name"], NOTES["REVIEW"])
    return out


def key(*parts):
    return hashlib.sha256("\0".join(str(x) for x in parts).encode()).hexdigest()


class CA:
    """Sequential calls to the CA API v1 over one kept-alive mTLS session."""

    def __init__(self, url, pki):
        self.url = url.rstrip("/") + "/v1"
        self.s = requests.Session()
        self.s.cert = (pki + "/client.pem", pki + "/client.key")
        self.s.verify = pki + "/tls-ca.pem"
        self.s.trust_env = False  # else REQUESTS_CA_BUNDLE would replace the pinned CA

    def call(self, method, path, idem, **kw):
        """Answers (http status, JSON body, attempts, latency ms); retries
        connection errors and 429/5xx a few times, then raises."""
        t0 = time.monotonic()
        for attempt in range(1, 6):
            try:
                r = self.s.request(method, self.url + path, headers={"Idempotency-Key": idem},
                                   timeout=30, **kw)
                if r.status_code not in (408, 425, 429) and r.status_code < 500:
                    try:
                        body = r.json()
                    except ValueError:
                        body = {}
                    return (r.status_code, body, attempt,
                            int((time.monotonic() - t0) * 1000))
            except requests.RequestException:
                if attempt == 5:
                    raise
            time.sleep(0.1 * 2 ** attempt)
        raise RuntimeError("CA unavailable: %s %s" % (method, path))


def status_of(code, body):
    st = body.get("status") or body.get("code")
    if 200 <= code < 300:
        if st in ("ALREADY_REVOKED", "ALREADY_RECALLED", "ALREADY_DONE"):
            return "ALREADY_DONE"
        return "PENDING" if st == "PENDING" else "SUCCEEDED"
    if code == 409 and st in ("ALREADY_REVOKED", "ALREADY_RECALLED", "ALREADY_DONE"):
        return "ALREADY_DONE"
    return "REJECTED"


def execute(ca, ev, intents, msg):
    """Runs one event's intents (holder by holder, one call at a time) and
    answers its outcomes as dicts of the outcome schema."""
    outs = []
    certs_of, skipped = {}, set()
    for it in intents:
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
        hk = (it["holder_type"], it["holder_id"])
        if hk not in certs_of:
            code, body, _, _ = ca.call("GET", "/certificates", key("lookup", ev["event_id"], *hk),
                                       params={"holder_type": hk[0], "holder_id": hk[1],
                                               "status": "active"})
            certs_of[hk] = body.get("certificates", []) if code == 200 else []
        certs = certs_of[hk]
        if it["action"] == "RECALL_DEVICE":
            seen, certs = set(), [c for c in certs if c.get("device_id")]
            certs = [c for c in certs if not (c["device_id"] in seen or seen.add(c["device_id"]))]
        if not certs:
            # one SKIPPED outcome per holder without an active certificate
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
                r = ca.call("POST", "/certificates/%s/change-info" % c["serial"], idem,
                            json={"subject": it["subject"]})
            elif it["action"] == "REVOKE":
                r = ca.call("POST", "/certificates/%s/revoke" % c["serial"], idem,
                            json={"reason": it["reason"]})
            else:
                r = ca.call("POST", "/devices/%s/recall" % c["device_id"], idem, json={})
            code, body, attempts, ms = r
            o.update(status=status_of(code, body), http_status=code, attempts=attempts,
                     latency_ms=ms, new_certificate_serial=body.get("new_serial"),
                     ca_request_id=body.get("request_id"))
            if o["status"] == "REJECTED":
                o.update(error_code=body.get("code"), error_message=body.get("detail"))
            outs.append(o)
    for i, o in enumerate(outs):
        o.update(outcome_id="%s/%d" % (ev["event_id"], i), action_index=i,
                 action_count=len(outs), processed_at=int(time.time() * 1000))
    return outs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for a in ("bootstrap", "ca-url", "pki", "schema", "group", "txn-id", "org-topic",
              "person-topic", "outcome-topic", "dlq-topic"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--batch-ms", type=int, default=500)
    ap.add_argument("--drain-idle-ms", type=int, default=2000)
    a = ap.parse_args()

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
    ca = CA(a.ca_url, a.pki)
    idle_since = time.monotonic()
    n_out = 0
    while True:
        msgs = consumer.consume(a.batch, a.batch_ms / 1000.0)
        msgs = [m for m in msgs if not m.error()]
        if not msgs:
            parts = consumer.assignment()
            if parts and (time.monotonic() - idle_since) * 1000 >= a.drain_idle_ms:
                pos = consumer.position(parts)
                lag = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] - max(p.offset, 0)
                          for tp, p in zip(parts, pos))
                if lag <= 0:
                    break
            continue
        outcomes, dead = [], []
        for m in msgs:
            try:
                ev = decode(m.value(), m.topic() == a.person_topic)
                outcomes += execute(ca, ev, plan(ev), m)
            except Invalid as e:
                dead.append((m, str(e)))
        producer.begin_transaction()
        for o in outcomes:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, schema, o)
            while True:
                try:
                    producer.produce(a.outcome_topic, key=o["holder_id"], value=buf.getvalue())
                    break
                except BufferError:
                    producer.poll(0.05)
        for m, why in dead:
            headers = list(m.headers() or []) + [
                ("certbridge.error.class", b"INVALID"), ("certbridge.error.message", why.encode()),
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
    consumer.close()
    print(json.dumps({"outcomes": n_out}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as e:
        sys.exit("python_loop: %s" % e)
