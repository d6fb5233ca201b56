#!/usr/bin/env python3
"""A producer outside certbridge's code: registers writer schemas in a Schema
Registry and writes Confluent-framed Avro events with fastavro, as an HR
system's producer would (the test venv's python: scripts/install-deps.sh).

    registry_producer.py --url URL --user U --password-file F
                         --org-topic T --person-topic T EVENTS.jsonl OUT.jsonl

Reads certbridge's JSON events (workload.py) and writes records for
`cbtool produce-raw` (topic, partition -1 = by key, key and value in hex);
a line that is not an event (a poison message) is written as it is, like
`cbtool produce` does. Prints one JSON line: the schema ids per writer.

The writer schemas evolve from certbridge's own (schemas/*.avsc), and the
events take them in turn:
  base     certbridge's schema as it is
  added    a field added at the end with a default ("ingest_batch")
  removed  a defaulted field removed (OrgEvent certificate_carrier, PersonEvent
           previous_org), for events whose value is the default
  widened  a union widened: Org.address and Person.email ["null","string","long"]
  ref      Org registered as a subject of its own (vn.gov.certbridge.Org) and
           referenced from the event schema
"""
import argparse
import base64
import copy
import datetime
import io
import json
import os
import struct
import urllib.request

import fastavro

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "..", "..", "..", "schemas")
VARIANTS = ["base", "added", "removed", "widened", "ref"]
REMOVED = {"OrgEvent": "certificate_carrier", "PersonEvent": "previous_org"}
ORG_SUBJECT = "vn.gov.certbridge.Org"


class Registry:
    def __init__(self, url, user, password):
        self.url = url.rstrip("/")
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()

    def register(self, subject, schema, refs=None):
        body = {"schema": json.dumps(schema, ensure_ascii=False)}
        if refs:
            body["references"] = refs
        req = urllib.request.Request(
            "%s/subjects/%s/versions" % (self.url, subject), method="POST",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json",
                     "Authorization": self.auth})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)["id"]

    def latest_version(self, subject):
        req = urllib.request.Request("%s/subjects/%s/versions/latest" % (self.url, subject),
                                     headers={"Authorization": self.auth})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)["version"]


def _field(rec, name):
    return next(f for f in rec["fields"] if f["name"] == name)


def variants(name):
    """name's writer schemas: {variant: (schema, named Org schema or None)}."""
    with open(os.path.join(SCHEMAS, name + ".avsc"), encoding="utf-8") as f:
        base = json.load(f)
    out = {"base": (base, None)}
    s = copy.deepcopy(base)
    s["fields"].append({"name": "ingest_batch", "type": "string", "default": ""})
    out["added"] = (s, None)
    s = copy.deepcopy(base)
    s["fields"] = [f for f in s["fields"] if f["name"] != REMOVED[name]]
    out["removed"] = (s, None)
    s = copy.deepcopy(base)
    _field(_field(s, "org")["type"], "address")["type"].append("long")
    if name == "PersonEvent":
        _field(_field(s, "person")["type"], "email")["type"].append("long")
    out["widened"] = (s, None)
    s = copy.deepcopy(base)
    org = _field(s, "org")["type"]
    _field(s, "org")["type"] = ORG_SUBJECT
    org = dict(org, namespace="vn.gov.certbridge")
    out["ref"] = (s, org)
    return out


def days(iso):
    return (datetime.date.fromisoformat(iso) - datetime.date(1970, 1, 1)).days


def millis(iso):
    t = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(t.timestamp() * 1000)


def datum(ev):
    d = dict(ev)
    d["occurred_at"] = millis(ev["occurred_at"])
    d["effective_date"] = days(ev["effective_date"])
    d["ingest_batch"] = "batch-7"
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--org-topic", required=True)
    ap.add_argument("--person-topic", required=True)
    ap.add_argument("events")
    ap.add_argument("out")
    a = ap.parse_args()
    with open(a.password_file) as f:
        reg = Registry(a.url, a.user, f.readline().rstrip("\r\n"))
    topics = {"OrgEvent": a.org_topic, "PersonEvent": a.person_topic}
    writers, ids = {}, {}
    for name, topic in topics.items():
        for v, (schema, org) in variants(name).items():
            named = {}
            refs = None
            if org is not None:
                reg.register(ORG_SUBJECT, org)
                refs = [{"name": ORG_SUBJECT, "subject": ORG_SUBJECT,
                         "version": reg.latest_version(ORG_SUBJECT)}]
                fastavro.parse_schema(org, named)
            sid = reg.register(topic + "-value", schema, refs)
            writers[(name, v)] = (sid, fastavro.parse_schema(schema, named))
            ids["%s/%s" % (name, v)] = sid
    counts = {v: 0 for v in VARIANTS}
    n = 0
    with open(a.events, encoding="utf-8") as f, open(a.out, "w") as out:
        for line in f:
            line = line.rstrip("\n")
            try:
                ev = json.loads(line)
            except ValueError:
                ev = None
            if not isinstance(ev, dict) or "event_type" not in ev or ev.get("event_id") in (
                    None, "broken") or not str(ev.get("event_id", "")).startswith("evt-"):
                topic = a.org_topic
                if isinstance(ev, dict) and ev.get("_topic") == "person":
                    topic = a.person_topic
                rec = {"topic": topic, "partition": -1, "key": b"poison".hex(),
                       "value": line.encode("utf-8").hex()}
            else:
                name = "PersonEvent" if "person" in ev else "OrgEvent"
                v = VARIANTS[n % len(VARIANTS)]
                if v == "removed" and ev.get(REMOVED[name]) is not None:
                    v = "added"
                n += 1
                counts[v] += 1
                sid, parsed = writers[(name, v)]
                buf = io.BytesIO()
                buf.write(struct.pack(">bI", 0, sid))
                fastavro.schemaless_writer(buf, parsed, datum(ev))
                key = ev["person"]["person_id"] if name == "PersonEvent" else ev["org"]["code"]
                rec = {"topic": topics[name], "partition": -1, "key": key.encode().hex(),
                       "value": buf.getvalue().hex()}
            out.write(json.dumps(rec) + "\n")
    print(json.dumps({"ids": ids, "events_per_writer": counts}), flush=True)


if __name__ == "__main__":
    main()
