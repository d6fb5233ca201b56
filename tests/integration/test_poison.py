#!/usr/bin/env python3
"""The poison corpus against `certbridge run` on the real broker.

    test_poison.py --config no-registry|registry --build BUILD_DIR
                   --bootstrap-file FILE [--registry-state DIR
                   --registry-password-file F] [--events N] [--kinds K,...]
                   [--timeout S] [--keep]

One sub-run per configuration, each with its own topics (4 partitions per
input topic), its own reference CA and one certbridge instance:

  no-registry  no schema_registry.url: valid events in JSON and plain Avro;
               Confluent framing is poison (there is nothing to resolve it).
  registry     a Schema Registry (the CTest fixture "registry", or a stand-in
               started here): valid events in JSON, plain Avro and
               Confluent-framed Avro; an unknown schema id, a writer schema
               that is not a record, lower-case enum symbols are poison; and
               policy.cascade_personal=true, so a MERGED event with 256 merged
               organizations plans more than CB_EVENT_ACTIONS_MAX actions.

The corpus (poison/corpus.py, at least 25 kinds) is produced interleaved with
valid events of every type (eos/workload.py) on every partition, in every
wire format of the sub-run, byte for byte with `cbtool produce-raw` (null and
non-UTF-8 keys, headers with binary and null values, a null value, a value
at the broker's size limit). Then, once the group's lag is 0 (or the overall
timeout is reached, which is a failure), it checks and prints one line each:

  1. every poison message is in the dead-letter topic (read_committed)
     exactly once, with its key, its headers (in order, certbridge's own
     after them) and its value byte for byte, or, only when the dead letter
     cannot fit the broker's limit, a prefix of it with the header
     certbridge.value.truncated=true; certbridge.source.topic/partition/
     offset name where it was read and certbridge.error.class/message give a
     reason matching the kind;
  2. every valid event has exactly its expected outcomes (action and status,
     source partition and offset) and nothing else is produced; the CA
     applied each expected effect once;
  3. no batch was replayed: certbridge_transactions_total{result="aborted"}
     is 0, its log has no "replaying the batch" nor "rewound the consumer"
     line, and each poison message was logged as a dead letter once (it was
     dead-lettered in the batch it arrived in);
  4. the group's lag is 0;
  5. certbridge was still running when stopped, and SIGTERM exits 0.

A table follows with one row per poison message: PASS or FAIL and what was
observed. Waits are tied to events (lag 0, the process exiting); the clocks
only end a run that has failed already: the overall timeout (--timeout), and
--stall seconds without progress once certbridge logged a replayed batch or
a failed transaction.
--kinds restricts the corpus to some kinds (diagnosis: one poison that
blocks the input hides what the others would do).
"""
import argparse
import base64
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "eos"))
sys.path.insert(0, os.path.join(HERE, "poison"))
import eos_test  # noqa: E402  (RefCA, http_get, _die_with_parent)
import workload  # noqa: E402
import avro_binary as avro  # noqa: E402
import corpus  # noqa: E402

PARTITIONS = 4
BROKER_MAX_BYTES = 1048588  # the broker's message.max.bytes (Kafka's default, kafka_harness.py)
TRUNCATED_HEADER = "certbridge.value.truncated"
MIN_KINDS = 25


def log(msg):
    print("poison: " + msg, flush=True)


def hx(b):
    return None if b is None else b.hex()


def unhx(s):
    return None if s is None else bytes.fromhex(s)


def varint_len(n):
    return len(avro.zigzag(n))


def record_batch_bytes(key, value_len, headers):
    """The size of a v2 record batch holding one record (what the broker
    compares with message.max.bytes): 61 bytes of batch header, then the
    record with its varint length."""
    body = 3  # attributes, timestamp delta 0, offset delta 0
    body += varint_len(-1 if key is None else len(key)) + len(key or b"")
    body += varint_len(value_len) + value_len
    body += varint_len(len(headers))
    for n, v in headers:
        body += varint_len(len(n)) + len(n)
        body += varint_len(-1 if v is None else len(v)) + len(v or b"")
    return 61 + varint_len(body) + body


def max_value(key, headers, limit=BROKER_MAX_BYTES):
    v = limit - record_batch_bytes(key, 0, headers)
    while record_batch_bytes(key, v, headers) > limit:
        v -= 1
    return v


class Run:
    def __init__(self, args):
        self.args = args
        self.registry = args.config == "registry"
        self.cascade = self.registry
        self.build = os.path.abspath(args.build)
        self.bootstrap = open(args.bootstrap_file).read().strip()
        self.work = tempfile.mkdtemp(prefix="cb-poison-%s-" % args.config)
        self.tag = "poison-%s-%d-%d" % (args.config, os.getpid(), int(time.time()))
        self.org_topic = "hr.org-events." + self.tag
        self.person_topic = "hr.person-events." + self.tag
        self.outcome_topic = "pki.certificate-outcomes." + self.tag
        self.dlq_topic = "certbridge.dlq." + self.tag
        self.state_topic = "certbridge.state." + self.tag
        self.group = "certbridge-" + self.tag
        self.cbtool = os.path.join(self.build, "tests", "cbtool")
        self.certbridge = os.path.join(self.build, "certbridge")
        self.org_schema = json.load(open(os.path.join(SRC, "schemas", "OrgEvent.avsc")))
        self.person_schema = json.load(open(os.path.join(SRC, "schemas", "PersonEvent.avsc")))
        self.outcome_schema = json.load(
            open(os.path.join(SRC, "schemas", "CertificateActionOutcome.avsc")))
        self.schema_id = {}
        self.failures = []
        self.proc = None
        self.ca = None
        self.own_registry = None
        self.reg_url = self.reg_user = self.reg_password_file = None

    # ---- helpers ---------------------------------------------------------
    def max_value(self, key, headers):
        return max_value(key, headers)

    def tool(self, *a, check=True):
        p = subprocess.run([self.cbtool] + list(a), capture_output=True, text=True)
        if check and p.returncode != 0:
            raise SystemExit("cbtool %s failed (%d): %s" % (a[0], p.returncode, p.stderr[-2000:]))
        return p

    def expect(self, name, ok, detail=""):
        log("%-44s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            self.failures.append(name)
        return ok

    def lag(self):
        p = self.tool("lag", self.bootstrap, self.group, self.org_topic, self.person_topic,
                      check=False)
        return int(p.stdout.strip()) if p.returncode == 0 and p.stdout.strip() else -1

    def log_text(self):
        return open(os.path.join(self.work, "certbridge.log"), errors="replace").read()

    # ---- the Schema Registry ----------------------------------------------
    def setup_registry(self):
        if self.args.registry_state:
            self.reg_url = open(os.path.join(self.args.registry_state, "url")).read().strip()
            self.reg_user = self.args.registry_user
            self.reg_password_file = self.args.registry_password_file
        else:  # a stand-in of our own, without authentication
            self.own_registry = os.path.join(self.work, "registry")
            subprocess.run([sys.executable, os.path.join(SRC, "tests", "harness",
                                                         "registry_harness.py"),
                            "start", "--state", self.own_registry], check=True)
            self.reg_url = open(os.path.join(self.own_registry, "url")).read().strip()
        for topic, schema in (("org", self.org_schema), ("person", self.person_schema)):
            name = self.org_topic if topic == "org" else self.person_topic
            self.schema_id[topic] = self.register(name + "-value", schema)
        log("Schema Registry at %s: %s-value id %d, %s-value id %d"
            % (self.reg_url, self.org_topic, self.schema_id["org"], self.person_topic,
               self.schema_id["person"]))

    def register(self, subject, schema):
        req = urllib.request.Request(
            "%s/subjects/%s/versions" % (self.reg_url, subject),
            data=json.dumps({"schema": json.dumps(schema)}).encode(), method="POST",
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        if self.reg_user:
            pw = open(self.reg_password_file).readline().rstrip("\r\n")
            req.add_header("Authorization", "Basic " + base64.b64encode(
                ("%s:%s" % (self.reg_user, pw)).encode()).decode())
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read().decode())["id"]

    # ---- the input -----------------------------------------------------------
    def build_input(self):
        inv, events, expected = workload.make_workload(self.args.events, seed=self.args.seed,
                                                       poison_every=0)
        self.inventory = os.path.join(self.work, "inventory.jsonl")
        workload.write_jsonl(self.inventory, inv)
        self.expected = expected_outcomes(events, expected, self.cascade)
        self.ca_effects = expected["ca_effects"]
        poisons = corpus.build(self)
        if self.args.kinds:
            want = set(self.args.kinds.split(","))
            unknown = want - {p.kind for p in poisons}
            if unknown:
                raise SystemExit("--kinds: no such kind in this sub-run: %s"
                                 % ", ".join(sorted(unknown)))
            poisons = [p for p in poisons if p.kind in want]
        self.poisons = poisons
        enc = corpus.Encoders(self)
        formats = enc.formats()
        counters = collections.Counter()
        valid = []
        for i, ev in enumerate(events):
            topic = "person" if "person" in ev else "org"
            c = counters[topic]
            counters[topic] += 1
            fmt = formats[(c // PARTITIONS + c) % len(formats)]
            key = (ev["person"]["person_id"] if topic == "person" else ev["org"]["code"]).encode()
            headers = []
            if i % 17 == 5:
                key = None
            elif i % 19 == 7:
                key = b"\xff\xfe" + key
            if i % 23 == 11:
                headers = [(b"trace", b"\x00\x01\xff"), (b"nothing", None)]
            valid.append({"kind": "valid", "event_id": ev["event_id"], "topic": topic,
                          "fmt": fmt, "partition": c % PARTITIONS, "key": key,
                          "value": enc.encode(fmt, topic, ev), "headers": headers})
        pcount = collections.Counter()
        for p in poisons:
            p.partition = (pcount[p.topic] + (1 if p.topic == "person" else 0)) % PARTITIONS
            pcount[p.topic] += 1
        # poison i after valid event round((i + 1) * n / (k + 1)): spread out
        order = []
        k, n = len(poisons), len(valid)
        slots = collections.defaultdict(list)
        for i, p in enumerate(poisons):
            slots[round((i + 1) * n / (k + 1))].append(p)
        for i in range(n + 1):
            order += slots.get(i, [])
            if i < n:
                order.append(valid[i])
        self.valid = valid
        self.order = order
        return formats

    def produce(self):
        path = os.path.join(self.work, "input.jsonl")
        topic_name = {"org": self.org_topic, "person": self.person_topic}
        with open(path, "w") as f:
            for r in self.order:
                if isinstance(r, corpus.Poison):
                    rec = {"topic": topic_name[r.topic], "partition": r.partition,
                           "key": hx(r.key), "value": hx(r.value),
                           "headers": [[hx(a), hx(b)] for a, b in r.headers]}
                else:
                    rec = {"topic": topic_name[r["topic"]], "partition": r["partition"],
                           "key": hx(r["key"]), "value": hx(r["value"]),
                           "headers": [[hx(a), hx(b)] for a, b in r["headers"]]}
                f.write(json.dumps(rec) + "\n")
        p = self.tool("produce-raw", self.bootstrap, path,
                      "message.max.bytes=%d" % BROKER_MAX_BYTES, check=False)
        lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        if len(lines) != len(self.order):
            raise SystemExit("produce-raw: %d results for %d records: %s"
                             % (len(lines), len(self.order), p.stderr[-2000:]))
        errors = []
        for r, res in zip(self.order, lines):
            name = r.name if isinstance(r, corpus.Poison) else r["event_id"]
            if "error" in res:
                errors.append("%s: %s" % (name, res["error"]))
                continue
            if isinstance(r, corpus.Poison):
                r.offset = res["offset"]
                assert res["partition"] == r.partition
            else:
                r["offset"] = res["offset"]
        if errors:
            raise SystemExit("the broker refused records of the corpus: %s" % errors[:5])
        log("produced %d records: %d valid events (%d outcomes expected), %d poison messages "
            "of %d kinds" % (len(self.order), len(self.valid), len(self.expected),
                             len(self.poisons), len({p.kind for p in self.poisons})))

    def probe_limit(self):
        """The value of value_at_broker_limit is the broker's limit: the same
        record one byte longer is refused (on a scratch topic)."""
        big = [p for p in self.poisons if p.kind == "value_at_broker_limit"]
        if not big:
            return
        p = big[0]
        scratch = "poison-probe." + self.tag
        self.tool("create-topic", self.bootstrap, scratch, "1")
        path = os.path.join(self.work, "probe.jsonl")
        results = []
        for extra in (0, 1):
            with open(path, "w") as f:
                f.write(json.dumps({"topic": scratch, "partition": 0, "key": hx(p.key),
                                    "value": hx(p.value + b"Z" * extra), "headers": []}) + "\n")
            out = self.tool("produce-raw", self.bootstrap, path,
                            "message.max.bytes=%d" % (BROKER_MAX_BYTES + 1024),
                            "enable.idempotence=false", check=False).stdout
            results.append(json.loads(out.splitlines()[0]) if out.strip() else {"error": "?"})
        self.expect("value at the broker's limit (probe)",
                    "offset" in results[0] and "error" in results[1],
                    "%d bytes accepted: %s; one more: %s"
                    % (len(p.value), results[0], results[1]))

    # ---- certbridge ----------------------------------------------------------
    def conf(self):
        keys = {
            "kafka.bootstrap.servers": self.bootstrap,
            "kafka.group.id": self.group,
            "pipeline.transactional_id": "cb-" + self.tag,
            "pipeline.batch_max_events": "50",
            "pipeline.batch_max_ms": "200",
            "input.org_topic": self.org_topic,
            "input.person_topic": self.person_topic,
            "output.outcome_topic": self.outcome_topic,
            "output.dlq_topic": self.dlq_topic,
            "output.state_topic": self.state_topic,
            "ca.url": self.ca.url,
            "ca.tls.cert": os.path.join(self.ca.pki, "client.pem"),
            "ca.tls.key": os.path.join(self.ca.pki, "client.key"),
            "ca.tls.ca_bundle": os.path.join(self.ca.pki, "tls-ca.pem"),
            "ca.concurrency": "16",
            "metrics.listen": "127.0.0.1:0",
            "log.level": "info",
            "policy.approval": "none",  # not about approvals
        }
        if self.registry:
            keys["schema_registry.url"] = self.reg_url
            if self.reg_user:
                keys["schema_registry.basic_auth_user"] = self.reg_user
                keys["schema_registry.basic_auth_password_file"] = os.path.abspath(
                    self.reg_password_file)
        if self.cascade:
            keys["policy.cascade_personal"] = "true"
        path = os.path.join(self.work, "certbridge.conf")
        with open(path, "w") as f:
            for k, v in keys.items():
                f.write("%s=%s\n" % (k, v))
        return path

    def start(self):
        out = open(os.path.join(self.work, "certbridge.log"), "a")
        self.proc = subprocess.Popen([self.certbridge, "run", "-c", self.conf()], stdout=out,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=eos_test._die_with_parent)
        deadline = time.time() + 90
        while time.time() < deadline and self.proc.poll() is None:
            text = self.log_text()
            m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", text)
            if m and "assigned " in text:
                self.port = int(m.group(1))
                return
            time.sleep(0.1)
        raise SystemExit("certbridge did not start (exit %s):\n%s"
                         % (self.proc.poll(), self.log_text()[-3000:]))

    def wait_drained(self):
        """Until the group's lag is 0 with certbridge running. False when
        certbridge exited, when the overall timeout passed, or when the
        input is stuck: certbridge logged a replay or a failed transaction
        (already a failure) and the lag has not moved for --stall seconds."""
        deadline = time.time() + self.args.timeout
        lag, last_lag, moved = -1, None, time.time()
        while time.time() < deadline:
            if self.proc.poll() is not None:
                log("certbridge exited with %d while draining (lag %d)"
                    % (self.proc.returncode, lag))
                return False
            lag = self.lag()
            if lag == 0:
                return True
            if lag != last_lag:
                last_lag, moved = lag, time.time()
            elif time.time() - moved > self.args.stall and any(
                    "replaying the batch" in m or "transaction failed" in m
                    for m in log_messages(self.log_text())):
                log("the input is stuck: lag %d for %d s after certbridge replayed a batch"
                    % (lag, self.args.stall))
                return False
            time.sleep(1)
        log("the input was not drained within %d s: lag %d" % (self.args.timeout, lag))
        return False

    def metrics(self):
        code, text = eos_test.http_get(self.port, "/metrics")
        out = {}
        for line in text.splitlines():
            m = re.match(r'^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$', line)
            if m:
                out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        return out

    def stop(self):
        alive = self.proc.poll() is None
        rc = None
        if alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return alive, rc

    # ---- reading the results -----------------------------------------------
    def read_dlq(self):
        out = []
        for line in self.tool("dump", self.bootstrap, self.dlq_topic).stdout.splitlines():
            r = json.loads(line)
            hdrs = [(unhx(a).decode("utf-8", "replace"), unhx(b)) for a, b in r["headers"]]
            out.append({"key": unhx(r["key"]), "value": unhx(r["value"]), "headers": hdrs,
                        "offset": r["offset"]})
        return out

    def read_outcomes(self):
        out, bad = [], 0
        names = avro.register_names(self.outcome_schema)
        for line in self.tool("dump", self.bootstrap, self.outcome_topic).stdout.splitlines():
            v = unhx(json.loads(line)["value"]) or b""
            if v[:1] == b"\x00":
                v = v[5:]
            try:
                out.append(avro.decode(self.outcome_schema, v, names))
            except (ValueError, IndexError, UnicodeDecodeError):
                bad += 1
        return out, bad

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.ca:
            self.ca.stop()
        if self.own_registry:
            subprocess.run([sys.executable, os.path.join(SRC, "tests", "harness",
                                                         "registry_harness.py"),
                            "stop", "--state", self.own_registry], check=False)


def expected_outcomes(events, expected, cascade):
    """{outcome_id: (action, status)} of the valid events. workload.py plans
    them without policy.cascade_personal; with it, an organization's
    CHANGE_INFO (renamed, parent changed, info changed) is followed by one
    cascade intent, and a merger's first action by one per merged
    organization: the workload's persons all belong to an organization no
    event changes, so each cascade finds no certificate and is one SKIPPED
    CHANGE_INFO (one outcome per holder without certificates)."""
    out = dict(expected["outcomes"])
    if not cascade:
        return out
    for ev in events:
        if "person" in ev:
            continue
        eid = ev["event_id"]
        acts = [out.pop("%s/%d" % (eid, i)) for i in range(64) if "%s/%d" % (eid, i) in out]
        if ev["event_type"] in ("RENAMED", "PARENT_CHANGED", "INFO_CHANGED"):
            acts = acts[:1] + [("CHANGE_INFO", "SKIPPED")] + acts[1:]
        elif ev["event_type"] == "MERGED":
            n = sum(1 for m in ev["merged_orgs"]
                    if ev.get("result_is_new") or m["code"] != ev["org"]["code"])
            acts = acts[:1] + [("CHANGE_INFO", "SKIPPED")] * n + acts[1:]
        for i, a in enumerate(acts):
            out["%s/%d" % (eid, i)] = a
    return out


def header(hdrs, name):
    vals = [v for n, v in hdrs if n == name]
    return vals[-1].decode("utf-8", "replace") if vals and vals[-1] is not None else None


def check_dead_letter(run, p, d):
    """What is wrong with dead letter d of poison p (empty when nothing)."""
    problems = []
    topic = run.org_topic if p.topic == "org" else run.person_topic
    if d["key"] != p.key:
        problems.append("key %r, expected %r" % (d["key"][:40] if d["key"] else d["key"],
                                                  p.key[:40] if p.key else p.key))
    n = len(p.headers)
    orig = [(a.decode("utf-8", "replace"), b) for a, b in p.headers]
    if d["headers"][:n] != orig:
        problems.append("original headers not kept: %r" % (d["headers"][:n],))
    extra = [h for h, _ in d["headers"][n:] if not h.startswith("certbridge.")]
    if extra:
        problems.append("headers added that are not certbridge.*: %s" % extra)
    truncated = header(d["headers"][n:], TRUNCATED_HEADER)
    if p.truncate:
        if truncated != "true":
            problems.append("no %s=true header (value of %d bytes, original %d)"
                            % (TRUNCATED_HEADER, len(d["value"] or b""), len(p.value)))
        if d["value"] is None or len(d["value"]) >= len(p.value) or \
                not p.value.startswith(d["value"]):
            problems.append("value is not a truncated prefix of the original")
    else:
        if truncated is not None:
            problems.append("%s=%s on a dead letter that fits" % (TRUNCATED_HEADER, truncated))
        if d["value"] != p.value:
            problems.append("value differs: %d bytes, expected %s"
                            % (len(d["value"] or b""), "null" if p.value is None
                               else "%d bytes" % len(p.value)))
    src = (header(d["headers"], "certbridge.source.topic"),
           header(d["headers"], "certbridge.source.partition"),
           header(d["headers"], "certbridge.source.offset"))
    if src != (topic, str(p.partition), str(p.offset)):
        problems.append("source headers %s, expected %s" % (src, (topic, p.partition, p.offset)))
    cls = header(d["headers"], "certbridge.error.class")
    msg = header(d["headers"], "certbridge.error.message")
    if not cls or not msg:
        problems.append("certbridge.error.class/message missing")
    elif not re.search(p.reason, msg):
        problems.append("reason %r does not match /%s/" % (msg, p.reason))
    return problems


def log_messages(text):
    """The "msg" of each line of certbridge's JSON log (the raw line when a
    line is not JSON)."""
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line)["msg"])
        except (ValueError, KeyError, TypeError):
            out.append(line)
    return out


def run_checks(run, drained, alive, rc, metrics, dlq, outcomes, bad_outcomes):
    text = run.log_text()
    msgs = log_messages(text)
    topic_name = {"org": run.org_topic, "person": run.person_topic}
    by_source = collections.defaultdict(list)
    for d in dlq:
        by_source[(header(d["headers"], "certbridge.source.topic"),
                   header(d["headers"], "certbridge.source.partition"),
                   header(d["headers"], "certbridge.source.offset"))].append(d)
    logged = collections.Counter()
    log_reason = {}
    for msg in msgs:
        m = re.match(r"dead letter (\S+)\[(\d+)\]@(\d+): (.*)", msg, re.S)
        if m:
            logged[m.group(1, 2, 3)] += 1
            log_reason[m.group(1, 2, 3)] = m.group(4)
    replays = [m for m in msgs if "replaying the batch" in m]
    rewinds = [m for m in msgs if "rewound the consumer" in m]
    txn_failed = [m for m in msgs if "transaction failed" in m]
    by_event_source = collections.defaultdict(list)
    for o in outcomes:
        by_event_source[(o["source_topic"], str(o["source_partition"]),
                         str(o["source_offset"]))].append(o)

    # 1. poison messages
    rows = []
    poison_sources = set()
    for p in run.poisons:
        src = (topic_name[p.topic], str(p.partition), str(p.offset))
        poison_sources.add(src)
        dls = by_source.get(src, [])
        times = logged.get(src, 0)
        if len(dls) == 1:
            problems = check_dead_letter(run, p, dls[0])
            if times != 1:
                problems.append("logged as a dead letter %d times (replayed)" % times)
            status = "FAIL" if problems else "PASS"
            seen = "; ".join(problems) if problems else \
                "dead-lettered OK (%s: %s)" % (header(dls[0]["headers"], "certbridge.error.class"),
                                               header(dls[0]["headers"],
                                                      "certbridge.error.message"))
        elif len(dls) > 1:
            status, seen = "FAIL", "dead-lettered %d times" % len(dls)
        elif src in by_event_source:
            os_ = by_event_source[src]
            status, seen = "FAIL", "accepted as a valid event: %d outcome(s) %s" % (
                len(os_), sorted(collections.Counter(
                    "%s %s" % (o["action"], o["status"]) for o in os_).items()))
        elif times:
            status, seen = "FAIL", "logged as a dead letter %d time(s) but never committed " \
                                   "(last reason: %s)" % (times, log_reason.get(src))
        else:
            status, seen = "FAIL", "never dead-lettered nor accepted%s" % (
                "; certbridge kept replaying: %s" % replays[-1] if replays else
                "; transactions failed: %s" % txn_failed[-1] if txn_failed else "")
        rows.append((p, status, seen))

    n_ok = sum(1 for _, s, _ in rows if s == "PASS")
    run.expect("poison messages dead-lettered correctly", n_ok == len(rows),
               "%d of %d" % (n_ok, len(rows)))
    stray = [(k, len(v)) for k, v in by_source.items() if k not in poison_sources]
    run.expect("no other dead letters", not stray,
               "%d %s" % (len(stray), [(k, log_reason.get(k)) for k, _ in stray][:5]))

    # 2. outcomes of the valid events
    exp = run.expected
    counts = collections.Counter(o["outcome_id"] for o in outcomes)
    duplicates = sum(c - 1 for c in counts.values() if c > 1)
    missing = [i for i in exp if i not in counts]
    unexpected = [i for i in counts if i not in exp]
    wrong = [(o["outcome_id"], o["action"], o["status"], exp[o["outcome_id"]])
             for o in outcomes if o["outcome_id"] in exp
             and (o["action"], o["status"]) != exp[o["outcome_id"]]]
    where = {v["event_id"]: (topic_name[v["topic"]], v["partition"], v["offset"])
             for v in run.valid}
    misplaced = [o["outcome_id"] for o in outcomes if o["source_event_id"] in where and
                 (o["source_topic"], o["source_partition"], o["source_offset"])
                 != where[o["source_event_id"]]]
    run.expect("outcomes decoded", bad_outcomes == 0, "%d undecodable" % bad_outcomes)
    run.expect("outcomes committed", len(outcomes) == len(exp),
               "%d (expected %d)" % (len(outcomes), len(exp)))
    run.expect("duplicate outcomes", duplicates == 0, str(duplicates))
    missing_events = sorted({m.rsplit("/", 1)[0] for m in missing})
    run.expect("missing outcomes", not missing,
               "%d of %d events %s" % (len(missing), len(missing_events), missing_events[:5]))
    run.expect("unexpected outcomes", not unexpected, "%d %s" % (len(unexpected),
                                                                  unexpected[:5]))
    run.expect("outcome action/status", not wrong, "%d %s" % (len(wrong), wrong[:3]))
    run.expect("outcome source partition/offset", not misplaced,
               "%d %s" % (len(misplaced), misplaced[:3]))
    ledger = run.ca.ledger()
    effects = collections.Counter(
        (e["op"], e["device_id"] if e["op"] == "recall" else e["serial"]) for e in ledger)
    double = sum(c - 1 for c in effects.values() if c > 1)
    run.expect("CA effects", len(ledger) == len(run.ca_effects),
               "%d (expected %d)" % (len(ledger), len(run.ca_effects)))
    run.expect("CA double effects", double == 0, str(double))

    # 3. no replay
    aborted = metrics.get('certbridge_transactions_total{result="aborted"}')
    committed = metrics.get('certbridge_transactions_total{result="committed"}')
    scraped = "" if metrics else " (no scrape: certbridge was not running)"
    run.expect('transactions_total{result="aborted"} = 0', aborted == 0,
               "%s (committed %s)%s" % (aborted, committed, scraped))
    run.expect("dead_letters_total = poison messages",
               metrics.get("certbridge_dead_letters_total") == len(run.poisons),
               "%s (expected %d)%s" % (metrics.get("certbridge_dead_letters_total"),
                                       len(run.poisons), scraped))
    run.expect('log: "replaying the batch"', not replays,
               "%d %s" % (len(replays), replays[-1:] if replays else ""))
    run.expect('log: "rewound the consumer"', not rewinds, str(len(rewinds)))
    run.expect('log: "transaction failed"', not txn_failed,
               "%d %s" % (len(txn_failed), txn_failed[-1:] if txn_failed else ""))
    again = {k: c for k, c in logged.items() if c > 1}
    run.expect("each poison logged as a dead letter once", not again,
               "%d logged more than once %s" % (len(again), list(again.items())[:3]))

    # 4, 5
    lag = run.lag()
    run.expect("input drained within the timeout", drained, "")
    run.expect("consumer lag", lag == 0, str(lag))
    run.expect("certbridge running until stopped", alive,
               "" if alive else "exited %s: %s" % (run.proc.returncode,
                                                   " | ".join(text.splitlines()[-3:])))
    run.expect("SIGTERM exits 0", rc == 0, str(rc))

    # the table
    log("")
    log("%-34s %-10s %-9s %s" % ("poison kind/format", "where", "result", "observed"))
    for p, status, seen in rows:
        log("%-34s %-10s %-9s %s%s" % (p.name, "%s%d@%s" % (p.topic[0], p.partition, p.offset),
                                        status, seen[:400], " [%s]" % p.note if p.note else ""))
    if replays:
        log("")
        log("certbridge replayed batches %d times; the last: %s" % (len(replays), replays[-1]))
    if txn_failed:
        log("transactions failed %d times; the last: %s" % (len(txn_failed), txn_failed[-1]))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=["no-registry", "registry"], required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--bootstrap-file", required=True)
    ap.add_argument("--registry-state", help="the registry fixture's folder (url file)")
    ap.add_argument("--registry-user", default="certbridge")
    ap.add_argument("--registry-password-file")
    ap.add_argument("--events", type=int, default=240, help="valid events")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--kinds", help="only these poison kinds (comma-separated)")
    ap.add_argument("--timeout", type=int, default=240,
                    help="seconds for certbridge to drain the input")
    ap.add_argument("--stall", type=int, default=60,
                    help="seconds without progress after a replay before giving up")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    run = Run(args)
    rows = []
    try:
        for t in (run.org_topic, run.person_topic):
            run.tool("create-topic", run.bootstrap, t, str(PARTITIONS))
        for t in (run.outcome_topic, run.dlq_topic):
            run.tool("create-topic", run.bootstrap, t, "1")
        if run.registry:
            run.setup_registry()
        formats = run.build_input()
        kinds = sorted({p.kind for p in run.poisons})
        if not args.kinds:
            run.expect("corpus: kinds of poison", len(kinds) >= MIN_KINDS,
                       "%d kinds, %d messages" % (len(kinds), len(run.poisons)))
        cover = {(v["topic"], v["partition"], v["fmt"]) for v in run.valid}
        want = {(t, p, f) for t in ("org", "person") for p in range(PARTITIONS) for f in formats}
        run.expect("valid events: every partition x format", want <= cover,
                   "missing %s" % sorted(want - cover) if want - cover else
                   "%d combinations (%s)" % (len(want), "/".join(formats)))
        if not args.kinds:
            pcover = {(p.topic, p.partition) for p in run.poisons}
            run.expect("poison: every partition", len(pcover) == 2 * PARTITIONS,
                       "%d of %d" % (len(pcover), 2 * PARTITIONS))
        run.probe_limit()
        run.ca = eos_test.RefCA(run.build, run.work, run.inventory, ["--latency-ms", "2"])
        run.ca.start()
        run.start()
        log("certbridge running (metrics port %d), CA at %s; config %s%s"
            % (run.port, run.ca.url, args.config,
               ", policy.cascade_personal=true" if run.cascade else ""))
        t0 = time.time()
        run.produce()
        drained = run.wait_drained()
        log("%s after %.0f s" % ("drained" if drained else "NOT drained", time.time() - t0))
        metrics = run.metrics() if run.proc.poll() is None else {}
        alive, rc = run.stop()
        dlq = run.read_dlq()
        outcomes, bad = run.read_outcomes()
        rows = run_checks(run, drained, alive, rc, metrics, dlq, outcomes, bad)
    finally:
        run.cleanup()
    summary = {"config": args.config, "poison": len(run.poisons),
               "poison_pass": sum(1 for _, s, _ in rows if s == "PASS"),
               "kinds_failing": sorted({p.kind for p, s, _ in rows if s != "PASS"}),
               "failures": run.failures}
    print("POISON-SUMMARY " + json.dumps(summary), flush=True)
    if run.failures:
        log("FAILED: %s (work folder kept: %s)" % (", ".join(run.failures), run.work))
        sys.exit(1)
    if not args.keep:
        shutil.rmtree(run.work, ignore_errors=True)
    log("passed")


if __name__ == "__main__":
    main()
