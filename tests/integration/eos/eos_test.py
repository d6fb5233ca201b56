#!/usr/bin/env python3
"""Exactly-once tests of `certbridge run` against a real Kafka broker and the
reference CA (docs/ARCHITECTURE.md §5).

    eos_test.py SCENARIO --build BUILD_DIR --bootstrap-file FILE [--events N]

Scenarios:
  bulk     one instance drains N events of every type plus poison messages
  crash    the instance is killed with SIGKILL at random moments (>= 10 times)
           and restarted until the input is drained
  fence    a second instance with the same transactional id starts mid-run
  split    two instances in one group split the partitions
  outage   the CA is stopped for 30 s mid-run, then comes back
  async_crash  the CA answers every mutating call PENDING and completes it
           later; the instance is killed (>= 20 times) while requests are open
  async_split  the same CA; a second instance joins while requests are open,
           so they move with their partitions, then the first one stops
  cascade_5000  an organization with 5,000 personal certificates is renamed
           under policy.cascade_personal=true; the instance is killed in the
           middle of the cascade's calls and the replay finishes it
  approval  the approval gate: REVOKEs await signed approvals in four requests;
           a cancellation, eight approvals (good and bad), two instances, SIGKILLs

Every reference CA answers lookups with the live state (--live-lookups: no
snapshot under an Idempotency-Key). Every scenario then checks: exactly one
final committed outcome per expected action (duplicates 0, missing 0,
unexpected 0, none left PENDING; before it at most one PENDING record with
the same outcome_id) with the expected status, every poison message in the
dead-letter topic with a reason, the CA ledger applying every action exactly
once (double effects 0), and a consumer lag of 0. The scenarios with chains
(crash, async_crash, async_split: holders with two or three events in a
row) also check the CA's end state, holder by holder, against applying the
planned intents one by one (`certbridge plan`). It prints one summary line
per check and a final JSON line with the figures.
"""
import argparse
import collections
import json
import os
import random
import shutil
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workload  # noqa: E402


def _die_with_parent():
    """Child processes get SIGTERM when the test runner dies (Linux)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def log(msg):
    print("eos: " + msg, flush=True)


class RefCA:
    """A reference CA process with its own state, PKI and inventory."""

    def __init__(self, build, work, inventory, extra=()):
        self.bin = os.path.join(build, "refca", "certbridge-refca")
        self.state = os.path.join(work, "ca-state")
        self.pki = os.path.join(work, "pki")
        self.urlfile = os.path.join(work, "ca-url")
        self.inventory = inventory
        # lookups answer the live state, never a snapshot stored under an
        # Idempotency-Key: exactly-once must not depend on one
        self.extra = ["--live-lookups"] + list(extra)
        self.proc = None
        self.url = None
        os.makedirs(self.state, exist_ok=True)
        subprocess.run([self.bin, "pki-init", self.pki], check=True, stdout=subprocess.DEVNULL)

    def start(self, listen="127.0.0.1:0"):
        if os.path.exists(self.urlfile):
            os.unlink(self.urlfile)
        self.log = open(os.path.join(self.state, "..", "ca.log"), "a")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--state", self.state, "--pki", self.pki,
             "--inventory", self.inventory, "--listen", listen, "--url-file", self.urlfile]
            + self.extra, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        deadline = time.time() + 60
        while not os.path.exists(self.urlfile) or not open(self.urlfile).read().strip():
            if self.proc.poll() is not None:
                raise SystemExit("reference CA exited with %d" % self.proc.returncode)
            if time.time() > deadline:
                raise SystemExit("reference CA did not start")
            time.sleep(0.05)
        self.url = open(self.urlfile).read().strip()
        return self.url

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def ledger(self):
        out = subprocess.run([self.bin, "ledger", "--state", self.state], check=True,
                             capture_output=True, text=True).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


class Scenario:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.bootstrap = open(args.bootstrap_file).read().strip()
        self.work = tempfile.mkdtemp(prefix="cb-eos-%s-" % args.scenario)
        tag = "%s-%d-%d" % (args.scenario, os.getpid(), int(time.time()))
        self.org_topic = "hr.org-events." + tag
        self.person_topic = "hr.person-events." + tag
        self.outcome_topic = "pki.certificate-outcomes." + tag
        self.dlq_topic = "certbridge.dlq." + tag
        self.state_topic = "certbridge.state." + tag
        self.registry_topic = "certbridge.org-registry." + tag
        self.registry_used = False  # a scenario that sets output.registry_topic says so
        self.group = "certbridge-" + tag
        self.cbtool = os.path.join(self.build, "tests", "cbtool")
        self.certbridge = os.path.join(self.build, "certbridge")
        self.procs = []
        self.chains = args.scenario in CHAIN_SCENARIOS
        inv, events, self.expected = workload.make_workload(args.events, seed=args.seed,
                                                            chains=self.chains)
        self.inventory = os.path.join(self.work, "inventory.jsonl")
        self.events = os.path.join(self.work, "events.jsonl")
        workload.write_jsonl(self.inventory, inv)
        workload.write_jsonl(self.events, events)

    def tool(self, *a):
        r = subprocess.run([self.cbtool] + list(a), capture_output=True, text=True)
        if r.returncode != 0:  # say why: a sanitizer's report goes to stderr
            raise SystemExit("cbtool %s: exit %d\n%s" % (" ".join(a), r.returncode,
                                                          r.stderr[-4000:]))
        return r.stdout

    def setup(self, ca_extra=(), partitions=4, slices=1):
        """Topics, the CA, and the events: all at once, or the first of
        `slices` parts (produce_next() sends the others)."""
        for t in (self.org_topic, self.person_topic):
            self.tool("create-topic", self.bootstrap, t, str(partitions))
        for t in (self.outcome_topic, self.dlq_topic):
            self.tool("create-topic", self.bootstrap, t, "1")
        self.ca = RefCA(self.build, self.work, self.inventory, ca_extra)
        self.ca.start()
        lines = open(self.events, encoding="utf-8").read().splitlines(True)
        size = -(-len(lines) // slices)
        self.slices = []
        for i in range(0, len(lines), size):
            path = "%s.%d" % (self.events, i // size)
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(lines[i:i + size])
            self.slices.append(path)
        self.produced = 0
        self.produce_next()
        log("CA at %s" % self.ca.url)

    def produce_next(self):
        """Produces the next slice of the events; False when none is left."""
        if not self.slices:
            return False
        n = int(self.tool("produce", self.bootstrap, self.org_topic, self.person_topic,
                          self.slices.pop(0)).strip())
        self.produced += n
        log("produced %d events (%d so far, %d poison in all) to %s / %s"
            % (n, self.produced, self.expected["poison"], self.org_topic, self.person_topic))
        return True

    def conf(self, name, txn_id, extra=None):
        keys = {
            "kafka.bootstrap.servers": self.bootstrap,
            "kafka.group.id": self.group,
            "pipeline.transactional_id": txn_id,
            "pipeline.batch_max_events": "200",
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
            # no approval gate unless the scenario is about approvals (eos_approval)
            "policy.approval": "none",
        }
        keys.update(extra or {})
        path = os.path.join(self.work, name + ".conf")
        with open(path, "w") as f:
            for k, v in keys.items():
                f.write("%s=%s\n" % (k, v))
        return path

    def start(self, conf, name, drain_ms=None, leave_open=False, env=None):
        cmd = [self.certbridge, "run", "-c", conf]
        if self.args.valgrind:
            cmd = ["valgrind", "--tool=memcheck", "--leak-check=full",
                   "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                   "--track-origins=no", "--log-file=" + os.path.join(self.work, "vg-%p.log")
                   ] + cmd
        if drain_ms:
            cmd += ["--drain-idle-ms", str(drain_ms)]
        if leave_open:
            cmd += ["--drain-leave-open"]
        out = open(os.path.join(self.work, name + ".log"), "a")
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                             preexec_fn=_die_with_parent,
                             env=dict(os.environ, **env) if env else None)
        self.procs.append(p)
        return p

    def lag(self):
        return int(self.tool("lag", self.bootstrap, self.group, self.org_topic,
                             self.person_topic).strip())

    def drain(self, conf, name, timeout=600, leave_open=False, env=None):
        """Runs instances with --drain-idle-ms until the group has no lag
        (each ends only when no CA request is open, unless leave_open)."""
        deadline = time.time() + timeout
        while True:
            p = self.start(conf, name, drain_ms=4000, leave_open=leave_open, env=env)
            rc = p.wait(timeout=max(1, deadline - time.time()))
            lag = self.lag()
            if lag == 0:
                return rc
            if time.time() > deadline:
                raise SystemExit("input not drained: lag %d" % lag)
            log("instance exited %d with lag %d; starting again" % (rc, lag))

    def valgrind_report(self):
        """Sums memcheck's findings over every instance's log. A run killed
        with SIGKILL has no leak summary; its invalid accesses still count."""
        import glob
        import re
        out = {"runs": 0, "errors": 0, "leaked": 0, "clean_exits": 0}
        for path in glob.glob(os.path.join(self.work, "vg-*.log")):
            text = open(path, errors="replace").read()
            out["runs"] += 1
            m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            out["errors"] += len(re.findall(r"Invalid (read|write|free)|uninitialised", text))
            if m:
                out["clean_exits"] += 1
                lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
                if lost:
                    out["leaked"] += int(lost.group(1).replace(",", ""))
            if out["errors"] and not self.args.keep:
                self.args.keep = True
        return out

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if getattr(self, "ca", None):
            self.ca.stop()

    def ca_end_state(self):
        """The reference CA's end state: per (holder type, holder id), the
        subjects of its active certificates, and the recalled key tokens."""
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.ca.state, "refca.db"),
                             uri=True)
        certs = collections.defaultdict(list)
        for ht, hid, subj in db.execute(
                "SELECT holder_type, holder_id, subject FROM certs WHERE status='active'"):
            certs[(ht, hid)].append(subj)
        recalled = {r[0] for r in db.execute("SELECT device_id FROM recalls")}
        db.close()
        return {k: sorted(v) for k, v in certs.items()}, recalled

    def expected_end_state(self):
        """Applying the planned intents one by one, event by event in the
        order produced (a holder's events are on one partition): each
        (event, holder) step acts on the certificates the holder has when it
        starts, as certbridge's lookup sees them."""
        clean = os.path.join(self.work, "events-clean.jsonl")
        with open(self.events, encoding="utf-8") as f, open(clean, "w", encoding="utf-8") as g:
            for line in f:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue  # a poison line
                if isinstance(ev, dict) and ev.get("event_id", "").startswith("evt-"):
                    g.write(line)
        plan = subprocess.run([self.certbridge, "plan", "-i", clean, "--format", "json"],
                              check=True, capture_output=True, text=True).stdout
        active, device = collections.defaultdict(list), {}
        for line in open(self.inventory, encoding="utf-8"):
            h = json.loads(line)
            active[(h["holder_type"], h["holder_id"])].append(h["subject"])
            device[(h["holder_type"], h["holder_id"])] = h.get("device_id")
        recalled = set()
        steps = collections.OrderedDict()
        for line in plan.splitlines():
            i = json.loads(line)
            steps.setdefault((i["event_id"], i["holder_type"], i["holder_id"]), []).append(i)
        for (_, ht, hid), intents in steps.items():
            holder = (ht, hid)
            snapshot = list(active.get(holder, []))
            if not snapshot:
                continue
            for i in intents:
                if i["action"] == "CHANGE_INFO":
                    active[holder] = [i["new_subject"] for _ in snapshot]
                elif i["action"] == "REVOKE":
                    active[holder] = []
                elif i["action"] == "RECALL_DEVICE" and device.get(holder):
                    recalled.add(device[holder])
        return {k: sorted(v) for k, v in active.items() if v}, recalled

    def registry_check(self):
        """The registry topic (output.registry_topic) against the org events
        produced: for every organization an event names, the last record
        (compaction keeps the last per key) is what the last event naming
        it left. An organization named by events of two keys (renamed, then
        merged by an event keyed by the resulting organization) may end
        with the last of either key's events: their partitions are not
        ordered against each other. Returns (wrong, missing, extra)."""
        last = {}
        for l in self.tool("dump", self.bootstrap, self.registry_topic).splitlines():
            if l:
                r = json.loads(l)
                last[bytes.fromhex(r["key"]).decode()] = json.loads(bytes.fromhex(r["value"]))
        cands = collections.defaultdict(dict)  # code -> {event key: (status, name, successor)}
        for line in open(self.events, encoding="utf-8"):
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a poison line
            if not isinstance(ev, dict) or not ev.get("event_id", "").startswith("evt-") \
                    or "person" in ev:
                continue
            org, t = ev["org"], ev["event_type"]
            touched = []
            if t in ("RENAMED", "PARENT_CHANGED", "INFO_CHANGED"):
                touched = [(org, "ACTIVE", None)]
            elif t == "DISSOLVED":
                touched = [(org, "DISSOLVED", None)]
            elif t == "MERGED":
                touched = [(m, "MERGED", org["code"]) for m in ev.get("merged_orgs") or []
                           if m["code"] != org["code"]] + [(org, "ACTIVE", None)]
            for o, st, succ in touched:
                cands[o["code"]][org["code"]] = (st, o["name"], succ)
        wrong = sorted(c for c in cands if c in last and
                       (last[c].get("status"), last[c].get("name"), last[c].get("successor"))
                       not in cands[c].values())
        missing = sorted(c for c in cands if c not in last)
        extra = sorted(c for c in last if c not in cands)
        log("registry topic: %d records, %d organizations named by org events"
            % (len(last), len(cands)))
        return wrong, missing, extra

    def check(self, extra=None):
        failures = []
        records = [json.loads(l) for l in
                   self.tool("outcomes", self.bootstrap, self.outcome_topic).splitlines() if l]
        # SCHEDULED records of effective dates: checked by scenario_scheduled
        records = [o for o in records if "/scheduled/" not in o["outcome_id"]]
        dead = [json.loads(l) for l in
                self.tool("dlq", self.bootstrap, self.dlq_topic).splitlines() if l]
        ledger = self.ca.ledger()
        exp = self.expected["outcomes"]

        # the topic as a table: the final record per outcome_id; before it at
        # most one PENDING record (final false), nothing after it
        by_id = collections.OrderedDict()
        for o in records:
            by_id.setdefault(o["outcome_id"], []).append(o)
        outcomes, duplicates, left_pending, misordered, pending = [], 0, [], [], 0
        for oid, rs in by_id.items():
            finals = [r for r in rs if r.get("final", True)]
            early = [r for r in rs if not r.get("final", True)]
            pending += len(early)
            duplicates += max(0, len(finals) - 1) + max(0, len(early) - 1)
            if not finals:
                left_pending.append(oid)
                continue
            if finals[-1]["status"] == "PENDING":  # PENDING as the last word
                left_pending.append(oid)
            if rs[-1] is not finals[-1] or any(r["status"] != "PENDING" for r in early):
                misordered.append(oid)
            outcomes.append(finals[-1])
        counts = collections.Counter(o["outcome_id"] for o in outcomes)
        missing = [i for i in exp if i not in counts]
        unexpected = [i for i in counts if i not in exp]
        wrong = [(o["outcome_id"], o["action"], o["status"], exp[o["outcome_id"]])
                 for o in outcomes if o["outcome_id"] in exp
                 and (o["action"], o["status"]) != exp[o["outcome_id"]]]
        per_event = collections.Counter(k.rsplit("/", 1)[0] for k in exp)
        bad_count = [o["outcome_id"] for o in outcomes
                     if o["action_count"] != per_event[o["source_event_id"]]]
        effects = collections.Counter(
            (e["op"], e["device_id"] if e["op"] == "recall" else e["serial"]) for e in ledger)
        double = sum(c - 1 for c in effects.values() if c > 1)
        applied = {(o["action"], o["device_id"] if o["action"] == "RECALL_DEVICE"
                    else o["certificate_serial"]) for o in outcomes if o["status"] == "SUCCEEDED"
                   and o["action"] in ("CHANGE_INFO", "REVOKE", "RECALL_DEVICE")}
        opname = {"change-info": "CHANGE_INFO", "revoke": "REVOKE", "recall": "RECALL_DEVICE"}
        ledger_set = {(opname.get(op, op), t) for (op, t) in effects}
        ledger_without_outcome = ledger_set - applied
        outcome_without_ledger = applied - ledger_set
        lag = self.lag()
        reasons = [d for d in dead if not d["error_message"] or not d["error_class"]]

        def expect(name, ok, detail):
            log("%-34s %s %s" % (name, "ok" if ok else "FAILED", detail))
            if not ok:
                failures.append(name)

        expect("outcomes committed", len(outcomes) == len(exp),
               "%d final (expected %d); %d PENDING records before them"
               % (len(outcomes), len(exp), pending))
        expect("duplicate outcomes", duplicates == 0, str(duplicates))
        expect("left PENDING (no final record)", not left_pending,
               "%d %s" % (len(left_pending), left_pending[:5]))
        expect("final record last, PENDING before", not misordered,
               "%d %s" % (len(misordered), misordered[:5]))
        expect("missing outcomes", not missing, "%d %s" % (len(missing), missing[:5]))
        expect("unexpected outcomes", not unexpected, "%d %s" % (len(unexpected), unexpected[:5]))
        expect("outcome action/status", not wrong, "%d %s" % (len(wrong), wrong[:3]))
        expect("action_count", not bad_count, "%d %s" % (len(bad_count), bad_count[:3]))
        expect("dead letters", len(dead) == self.expected["poison"],
               "%d (expected %d)" % (len(dead), self.expected["poison"]))
        expect("dead letters carry a reason", not reasons, str(len(reasons)))
        expect("CA effects", len(ledger) == len(self.expected["ca_effects"]),
               "%d (expected %d)" % (len(ledger), len(self.expected["ca_effects"])))
        expect("CA double effects", double == 0, str(double))
        expect("CA effect without outcome", not ledger_without_outcome,
               "%d %s" % (len(ledger_without_outcome), list(ledger_without_outcome)[:3]))
        expect("outcome without CA effect", not outcome_without_ledger,
               "%d %s" % (len(outcome_without_ledger), list(outcome_without_ledger)[:3]))
        expect("consumer lag", lag == 0, str(lag))
        if self.chains:
            got, got_recalled = self.ca_end_state()
            want, want_recalled = self.expected_end_state()
            differ = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
            expect("CA end state = events one by one", not differ,
                   "%d of %d holders differ %s" % (len(differ), len(set(got) | set(want)),
                                                   [(k, got.get(k), want.get(k))
                                                    for k in differ[:2]]))
            expect("recalled tokens = events one by one", got_recalled == want_recalled,
                   "%d recalled, %d expected; %s"
                   % (len(got_recalled), len(want_recalled),
                      sorted(got_recalled ^ want_recalled)[:4]))
        if self.registry_used:
            wrong_reg, missing_reg, extra_reg = self.registry_check()
            expect("registry topic = org events", not (wrong_reg or missing_reg or extra_reg),
                   "%d wrong %s, %d missing %s, %d extra"
                   % (len(wrong_reg), wrong_reg[:2], len(missing_reg), missing_reg[:3],
                      len(extra_reg)))
        if self.args.valgrind:
            vg = self.valgrind_report()
            expect("valgrind: invalid accesses", vg["errors"] == 0, str(vg["errors"]))
            expect("valgrind: definite leaks", vg["leaked"] == 0,
                   "%d bytes in %d clean exits" % (vg["leaked"], vg["clean_exits"]))
            expect("valgrind: runs checked", vg["runs"] > 0 and vg["clean_exits"] > 0,
                   "%d runs" % vg["runs"])
        summary = {"scenario": self.args.scenario, "events": self.args.events,
                   "outcomes": len(outcomes), "pending_records": pending,
                   "left_pending": len(left_pending), "duplicates": duplicates,
                   "missing": len(missing), "dead_letters": len(dead),
                   "ca_effects": len(ledger), "ca_double_effects": double, "lag": lag}
        summary.update(extra or {})
        print("EOS-SUMMARY " + json.dumps(summary), flush=True)
        return failures


def scenario_bulk(s):
    s.setup()
    conf = s.conf("a", "cb-a")
    # a SIGTERM in the middle of the run: the instance finishes or leaves its
    # open batch and exits 0 promptly
    p = s.start(conf, "a")
    if not wait_assigned(s, "a", p, 0):
        raise SystemExit("instance got no assignment")
    time.sleep(1.0)
    lag = s.lag()
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    try:
        sig_rc = p.wait(60)
    except subprocess.TimeoutExpired:
        sig_rc = None
    log("SIGTERM mid-run (lag %d): exit %s after %.1f s" % (lag, sig_rc, time.time() - t0))
    rc = s.drain(conf, "a")
    fails = s.check({"exit_code": rc, "sigterm_exit_code": sig_rc})
    if sig_rc != 0:
        fails.append("sigterm")
    return fails


def wait_assigned(s, name, p, since, timeout=90, what='"assigned '):
    """Waits until instance `name` logs an assignment (or `what`) after byte
    `since`."""
    path = os.path.join(s.work, name + ".log")
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        with open(path, errors="replace") as f:
            f.seek(since)
            if what in f.read():
                return True
        time.sleep(0.05)
    return False


def wait_loaded(s, name, p, since, timeout=150):
    """Waits until instance `name` has read the state of its partitions
    (after byte `since`): from then on it processes events."""
    return wait_assigned(s, name, p, since, timeout, '"loaded the state of ')


def reconcile_from_topic(s, conf):
    """certbridge reconcile --registry-topic on the registry topic the run
    maintained, against the CA the run changed: it reads every organization
    of the topic, and finds no active certificate of an organization the
    events dissolved or merged away (the run revoked or moved them all)."""
    p = subprocess.run([s.certbridge, "reconcile", "-c", conf, "--registry-topic", "--format",
                        "json"], capture_output=True, text=True, timeout=300)
    fails = []
    if p.returncode != 0:
        log("reconcile --registry-topic exited %d: %s" % (p.returncode, p.stderr[-500:]))
        return ["reconcile --registry-topic"]
    doc = json.loads(p.stdout)
    log("reconcile --registry-topic: %d certificates, %d compliant, %d findings %s"
        % (doc["certificates"], doc["compliant"], doc["findings"], doc["by_kind"]))
    # ORG_GONE here is only a merger's first organization, whose certificate
    # the run changed to name the new one (result_is_new): the CA still files
    # it under the old code, so reconcile names the successor; a dissolved
    # organization's certificate was revoked, so none is left without one
    gone = [i for i in doc["items"] if i.get("kind") == "ORG_GONE"]
    stale = [i["holder_id"] for i in gone if not i.get("successor_code")
             or not i["subject"].startswith("CN=%s," % i.get("successor_name"))]
    ok = doc["certificates"] > 0 and not stale
    log("%-44s %s %s" % ("reconcile --registry-topic: gone orgs", "ok" if ok else "FAILED",
                         "%d named their successor, %d not %s" % (len(gone) - len(stale),
                                                                  len(stale), stale[:3])))
    if not ok:
        fails.append("reconcile --registry-topic")
    return fails


def scenario_crash(s):
    # in slices: whenever the instance drained what it was given before
    # enough kills, the next slice arrives, so a faster build still meets
    # --kills with work in flight
    s.setup(ca_extra=["--latency-ms", "3"], slices=s.args.kills)
    # static membership: a restarted instance takes its partitions over at
    # once instead of waiting for the killed one's session to time out
    extra = {"kafka.group.instance.id": "crash-a", "kafka.session.timeout.ms": "10000",
             "output.registry_topic": s.registry_topic}
    s.registry_used = True
    if s.args.valgrind:  # ~20x slower: smaller batches so kills fall between commits
        extra["pipeline.batch_max_events"] = "40"
    conf = s.conf("a", "cb-a", extra)
    rnd = random.Random(s.args.seed)
    kills = progressed = 0
    t0 = time.time()
    while kills < s.args.kills:
        log_path = os.path.join(s.work, "a.log")
        since = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        # one slice per kill; once they are all out, instances are still
        # started and killed (the kill count never depends on speed)
        if s.lag() == 0:
            s.produce_next()
        lag_before = s.lag()
        p = s.start(conf, "a")
        # the kill point counts from when the instance has its state: it
        # processes events from then on (reading the state waits for the
        # killed instance's transaction to be aborted)
        if not wait_loaded(s, "a", p, since, timeout=300 if s.args.valgrind else 150):
            raise SystemExit("instance did not load its state within 150 s")
        # under valgrind everything runs ~20x slower: kill later
        time.sleep(rnd.uniform(2.0, 8.0) if s.args.valgrind else rnd.uniform(0.2, 2.5))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            lag_after = s.lag()
            progressed += lag_after < lag_before
            log("kill %d: lag %d -> %d" % (kills, lag_before, lag_after))
    while s.produce_next():
        pass
    rc = s.drain(conf, "a")
    log("%d kills (%d after committed progress) in %.0f s"
        % (kills, progressed, time.time() - t0))
    fails = s.check({"kills": kills, "kills_after_progress": progressed, "exit_code": rc})
    fails += reconcile_from_topic(s, conf)
    if kills < s.args.kills or progressed == 0:
        log("FAILED: %d kills, %d of them after committed progress" % (kills, progressed))
        fails.append("kills")
    return fails


def scenario_fence(s):
    # in two slices: the second arrives only once the second instance (same
    # transactional id, so its start fences the first one's producer) has
    # joined, so the first instance always has work left to commit after it
    # was fenced, however fast it drained the first slice
    s.setup(ca_extra=["--latency-ms", "2"], slices=2)
    conf = s.conf("a", "cb-same")
    a = s.start(conf, "a")
    time.sleep(3)
    b = s.start(s.conf("b", "cb-same"), "b")
    if not wait_assigned(s, "b", b, 0):
        raise SystemExit("the second instance got no assignment within 90 s")
    s.produce_next()
    time.sleep(8)
    for p in (a, b):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in (a, b):
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
    fenced = "fenced by a newer instance" in open(os.path.join(s.work, "a.log")).read()
    log("the first instance was fenced by the second: %s" % fenced)
    rc = s.drain(conf, "a")
    fails = s.check({"exit_code": rc, "first_fenced": fenced})
    if not fenced:
        fails.append("fence")
    return fails


def scenario_split(s):
    s.setup(ca_extra=["--latency-ms", "2"])
    a = s.start(s.conf("a", "cb-a"), "a", drain_ms=6000)
    b = s.start(s.conf("b", "cb-b"), "b", drain_ms=6000)
    ra, rb = a.wait(600), b.wait(600)
    logs = [open(os.path.join(s.work, n + ".log")).read() for n in ("a", "b")]
    assigned = ["assigned" in l for l in logs]
    log("instance exit codes %d %d; both assigned partitions: %s" % (ra, rb, assigned))
    if s.lag() != 0:
        s.drain(s.conf("a", "cb-a"), "a")
    fails = s.check({"exit_codes": [ra, rb]})
    if not all(assigned) or ra != 0 or rb != 0:
        fails.append("split")
    return fails


def scenario_outage(s):
    # in two slices: the second is produced while the CA is down, so an open
    # batch meets the outage however fast the first slice was drained
    s.setup(ca_extra=["--latency-ms", "5"], slices=2)
    listen = s.ca.url.split("//", 1)[1]
    a = s.start(s.conf("a", "cb-a", {"ca.max_attempts": "3"}), "a")
    time.sleep(2)
    s.ca.stop()
    s.produce_next()
    log("CA stopped for 30 s")
    time.sleep(30)
    alive = a.poll() is None
    s.ca.start(listen=listen)
    log("CA back at %s; instance alive through the outage: %s" % (s.ca.url, alive))
    deadline = time.time() + 300
    while s.lag() != 0 and time.time() < deadline:
        time.sleep(1)
    a.send_signal(signal.SIGTERM)
    rc = a.wait(60)
    held = "CA unavailable" in open(os.path.join(s.work, "a.log")).read()
    log("the outage hit an open batch (held, not dead-lettered): %s" % held)
    fails = s.check({"exit_code": rc, "alive_through_outage": alive, "batch_held": held})
    if not alive or rc != 0 or not held:
        fails.append("outage")
    return fails


VENV_PY = os.path.join(os.environ.get("CERTBRIDGE_CACHE",
                                      os.path.expanduser("~/.cache/certbridge")),
                       "venv", "bin", "python")
PARSE = """
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        key = s.name + "|" + ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        out[key] = s.value
print(json.dumps(out))
"""


def http_get(port, path):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(port):
    """GET /metrics, parsed by the reference Prometheus text parser."""
    code, text = http_get(port, "/metrics")
    if code != 200:
        raise SystemExit("/metrics answered %d" % code)
    p = subprocess.run([VENV_PY, "-c", PARSE], input=text, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("prometheus_client could not parse /metrics:\n" + p.stderr)
    return json.loads(p.stdout)


def total(samples, name):
    return sum(v for k, v in samples.items() if k.split("|")[0] == name)


def metrics_port(s, name, timeout=60):
    import re
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics",
                      open(os.path.join(s.work, name + ".log"), errors="replace").read())
        if m:
            return int(m.group(1))
        time.sleep(0.1)
    raise SystemExit("no metrics port in the log")


def scenario_ops(s):
    """Metrics and readiness of a running instance: /healthz turns ready, the
    counters (parsed by prometheus_client) move and match the workload once
    drained, /healthz turns unready when the CA stops, SIGTERM exits 0."""
    # in two slices: the second after the first scrape, so the counters
    # have something left to count however fast the first was drained
    s.setup(ca_extra=["--latency-ms", "2"], slices=2)
    fails = []
    a = s.start(s.conf("a", "cb-a", {"metrics.ca_probe_interval_ms": "300"}), "a")
    port = metrics_port(s, "a")

    def wait_for(what, pred, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                log("%-34s ok" % what)
                return True
            time.sleep(0.2)
        log("%-34s FAILED" % what)
        fails.append(what)
        return False

    wait_for("/healthz ready", lambda: http_get(port, "/healthz")[0] == 200)
    first = scrape(port)
    s.produce_next()
    wait_for("input drained", lambda: s.lag() == 0, timeout=600)
    time.sleep(1)
    last = scrape(port)
    actions = total(last, "certbridge_actions_total")
    checks = [
        ("actions_total moved", actions > total(first, "certbridge_actions_total")),
        ("actions_total = outcomes", actions == len(s.expected["outcomes"])),
        ("dead_letters_total = poison",
         total(last, "certbridge_dead_letters_total") == s.expected["poison"]),
        ("events_consumed_total = events",
         total(last, "certbridge_events_consumed_total")
         == s.args.events - s.expected["poison"]),
        ("committed transactions > 0",
         last.get("certbridge_transactions_total|result=committed", 0) > 0),
        ("CA latency histogram counted",
         last.get("certbridge_ca_request_duration_seconds_count|", 0) >= len(
             s.expected["ca_effects"])),
        ("REVOKE SUCCEEDED counted",
         last.get("certbridge_actions_total|action=REVOKE,status=SUCCEEDED", 0)
         == sum(1 for v in s.expected["outcomes"].values() if v == ("REVOKE", "SUCCEEDED"))),
        ("consumer lag gauge 0", last.get("certbridge_consumer_lag|", -1) == 0),
    ]
    for name, ok in checks:
        log("%-34s %s" % (name, "ok" if ok else "FAILED"))
        if not ok:
            fails.append(name)
    s.ca.stop()
    wait_for("/healthz unready without the CA", lambda: http_get(port, "/healthz")[0] == 503,
             timeout=30)
    code, body = http_get(port, "/healthz")
    if '"ca_reachable":false' not in body or '"group_joined":true' not in body:
        fails.append("healthz body")
    log("/healthz: %d %s" % (code, body.strip()))
    t0 = time.time()
    a.send_signal(signal.SIGTERM)
    try:
        rc = a.wait(60)
    except subprocess.TimeoutExpired:
        rc = None
    log("SIGTERM: exit %s after %.1f s" % (rc, time.time() - t0))
    if rc != 0:
        fails.append("sigterm")
    s.ca.start()
    return fails + s.check({"exit_code": rc})


def scenario_huge_answer(s):
    """The CA refuses some calls with a 200 KiB problem detail (refca
    --huge-problem-holder), the same answer on every replay of the call. The
    batch must commit: the outcomes say REJECTED with the detail cut to
    CB_OUTSIDE_TEXT_MAX bytes at a code point boundary and marked as cut; every
    other outcome is exact, and no transaction is aborted (before the fix the
    encoder refused the outcome, and the batch was aborted and replayed for
    ever)."""
    import re
    phrase = "\U0001F512 Yêu cầu bị từ chối theo chính sách của CA; "  # refca's huge_phrase
    huge_bytes = 200 * 1024
    outside_text_max = 2048  # CB_OUTSIDE_TEXT_MAX (include/certbridge/text.h)
    events = []
    for line in open(s.events, encoding="utf-8"):
        try:
            events.append(json.loads(line))
        except ValueError:
            pass  # a poison line
    departed = next(e for e in events if e.get("event_type") == "DEPARTED" and "person" in e)
    renamed = next(e for e in events if e.get("event_type") == "RENAMED" and "person" not in e
                   and e["event_id"].startswith("evt-"))
    chosen = {departed["person"]["person_id"]: ("%s/0" % departed["event_id"], "REVOKE", "revoke",
                                                "INVALID_REASON"),
              renamed["org"]["code"]: ("%s/0" % renamed["event_id"], "CHANGE_INFO",
                                       "change-info", "INVALID_SUBJECT")}
    for holder, (oid, action, op, _) in chosen.items():
        assert s.expected["outcomes"][oid] == (action, "SUCCEEDED"), oid
        s.expected["outcomes"][oid] = (action, "REJECTED")
        s.expected["ca_effects"].remove((op, holder))
    extra = ["--latency-ms", "2", "--huge-problem-bytes", str(huge_bytes)]
    for holder in chosen:
        extra += ["--huge-problem-holder", holder]
    s.setup(ca_extra=extra)
    a = s.start(s.conf("a", "cb-a"), "a")
    log_path = os.path.join(s.work, "a.log")
    aborts = 0
    deadline = time.time() + 300
    while s.lag() != 0 and time.time() < deadline and a.poll() is None:
        aborts = open(log_path, errors="replace").read().count("transaction failed")
        if aborts >= 3:
            break
        time.sleep(0.5)
    aborts = open(log_path, errors="replace").read().count("transaction failed")
    rc = _terminate(a, 60)
    fails = []

    def expect(name, ok, detail):
        log("%-34s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            fails.append(name)

    expect("no transaction aborted", aborts == 0, "%d aborts (abort + replay loop)" % aborts)
    expect("exit code", rc == 0, str(rc))
    outcomes = {o["outcome_id"]: o for o in
                (json.loads(l) for l in
                 s.tool("outcomes", s.bootstrap, s.outcome_topic).splitlines() if l)}
    full = (phrase * (huge_bytes // len(phrase.encode()) + 1)).encode()
    for holder, (oid, action, _, code) in chosen.items():
        o = outcomes.get(oid)
        if not o:
            expect("huge answer: %s" % oid, False, "no outcome")
            continue
        msg = o.get("error_message") or ""
        m = re.fullmatch(r"(.*)\u2026 \[cut to (\d+) of (\d+) bytes\]", msg, re.S)
        kept = m.group(1).encode() if m else b""
        expect("huge answer: %s fields" % oid,
               (o["holder_id"], o["action"], o["status"], o["http_status"], o["error_code"])
               == (holder, action, "REJECTED", 422, code),
               "%s %s %s %s %s" % (o["holder_id"], o["action"], o["status"], o["http_status"],
                                   o["error_code"]))
        expect("huge answer: %s message cut" % oid,
               m is not None and len(msg.encode()) <= outside_text_max
               and int(m.group(2)) == len(kept) and int(m.group(3)) == huge_bytes
               and len(kept) > outside_text_max // 2 and full.startswith(kept),
               "%d bytes, ends %r" % (len(msg.encode()), msg[-40:]))
    return fails + s.check({"exit_code": rc, "aborts": aborts})


def scenario_probe_hang(s):
    """A CA that accepts TLS connections and never answers: the readiness
    probe must not hold up polling (the probe runs every 200 ms here, with the
    CA client's default timeouts of 30 s x 5 attempts, so a probe that waited
    would stop the instance from polling for minutes). Two instances in one
    group, no events: the first keeps polling (it gets its assignment, its
    probe times out on its own, /metrics and /healthz answer), and when the
    second joins, the first answers the rebalance within max.poll.interval.ms
    (it logs "revoked", is never kicked out) and the second gets partitions."""
    import re
    import socket
    import ssl
    import threading

    for t in (s.org_topic, s.person_topic):
        s.tool("create-topic", s.bootstrap, t, "4")
    for t in (s.outcome_topic, s.dlq_topic):
        s.tool("create-topic", s.bootstrap, t, "1")
    # the CA: a TLS listener (the reference CA's server certificate) that
    # accepts every connection, completes the handshake and never answers
    s.ca = RefCA(s.build, s.work, s.inventory)  # only its PKI; never started
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(os.path.join(s.ca.pki, "server.pem"), os.path.join(s.ca.pki, "server.key"))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.2)
    held, done = [], threading.Event()

    def hold(conn):
        try:
            held.append(tls.wrap_socket(conn, server_side=True))
        except (OSError, ssl.SSLError):
            conn.close()

    def accept_forever():
        while not done.is_set():
            try:
                conn = srv.accept()[0]
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=hold, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_forever, daemon=True).start()
    url = "https://127.0.0.1:%d" % srv.getsockname()[1]
    extra = {"ca.url": url, "ca.timeout_ms": "30000", "ca.max_attempts": "5",
             "metrics.ca_probe_interval_ms": "200",
             "kafka.session.timeout.ms": "10000", "kafka.max.poll.interval.ms": "20000"}
    fails = []
    expect = _hold_expect(fails)

    def text(name, since=0):
        return _log_text(s, name, since)

    def wait_log(name, p, pattern, since=0, timeout=90):
        """Waits for a log line of instance `name` (after byte `since`)."""
        deadline = time.time() + timeout
        while time.time() < deadline and p.poll() is None:
            if re.search(pattern, text(name, since)):
                return True
            time.sleep(0.05)
        return False

    def healthz(port):
        code, body = http_get(port, "/healthz")
        return code, json.loads(body)

    try:
        a = s.start(s.conf("a", "cb-a", extra), "a")
        port = metrics_port(s, "a")
        if not expect("first instance assigned", wait_log("a", a, r'"assigned [1-9]\d* partition')):
            log("no assignment within 90 s: the instance does not poll")
            return fails
        # the first probe ends by its own short timeout while polling goes on
        expect("probe timed out on its own", wait_log("a", a, r"CA probe: unreachable"))
        scrapes = [scrape(port) for _ in range(3)]
        code, body = healthz(port)
        expect("/metrics answered 3 times", all(sc.get("certbridge_ready|", -1) == 0
                                                for sc in scrapes))
        expect("/healthz: joined, CA unreachable",
               code == 503 and body["group_joined"] and not body["ca_reachable"],
               "%d %s" % (code, body))
        since = os.path.getsize(os.path.join(s.work, "a.log"))
        b = s.start(s.conf("b", "cb-b", extra), "b")
        # the second instance gets partitions only once the first has given
        # them up in its rebalance callback
        expect("second instance assigned", wait_log("b", b, r'"assigned [1-9]\d* partition'))
        after = text("a", since)
        expect("first instance answered the rebalance",
               re.search(r'"revoked [1-9]\d* partition', after) is not None)
        expect("first instance never lost its assignment", '"lost ' not in text("a"))
        expect("no max.poll.interval.ms exceeded",
               "maximum poll interval" not in text("a").lower())
        code, body = healthz(port)
        expect("/healthz still answers", code == 503 and body["group_joined"],
               "%d %s" % (code, body))
        rcs = []
        for p in (a, b):
            p.send_signal(signal.SIGTERM)
        for p in (a, b):
            try:
                rcs.append(p.wait(60))
            except subprocess.TimeoutExpired:
                rcs.append(None)
        expect("SIGTERM: both exit 0", rcs == [0, 0], str(rcs))
    finally:
        done.set()
        srv.close()
        for c in held:
            c.close()
    log("the CA took %d TLS connection(s) and answered none" % len(held))
    return fails


def _hold_log(s, name):
    """The instance's log lines as JSON objects (others skipped)."""
    out = []
    for line in open(os.path.join(s.work, name + ".log"), errors="replace"):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def _outcome_records(s):
    """Every record of the outcome topic, decoded by cbtool."""
    return [json.loads(l) for l in
            s.tool("outcomes", s.bootstrap, s.outcome_topic).splitlines() if l]


def _run_dated_until(s, conf, offset_ms, what, pred, timeout=120):
    """Starts instance "a" with the calendar moved by offset_ms (the test-only
    CB_TEST_CALENDAR_OFFSET_MS), waits until it loaded its state and pred()
    holds, then kills it with SIGKILL. Returns the CA effects so far."""
    log_path = os.path.join(s.work, "a.log")
    since = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    p = s.start(conf, "a", env={"CB_TEST_CALENDAR_OFFSET_MS": str(offset_ms)})
    if not wait_loaded(s, "a", p, since):
        raise SystemExit("instance did not load its state (%s)" % what)
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline or p.poll() is not None:
            raise SystemExit("%s: not reached within %d s" % (what, timeout))
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    n = len(s.ca.ledger())
    log("%s: killed; %d CA effect(s) so far" % (what, n))
    return n


def _terminate(p, timeout):
    """SIGTERM for p; its exit code, or None when it had to be killed after
    timeout seconds."""
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return None


def _log_text(s, name, since=0):
    """Instance `name`'s log from byte `since` on."""
    with open(os.path.join(s.work, name + ".log"), errors="replace") as f:
        f.seek(since)
        return f.read()


def _hold_expect(fails):
    def expect(name, ok, detail=""):
        log("%-34s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            fails.append(name)
        return ok
    return expect


def _hold_wait(s, p, what, pred, timeout):
    """Waits for pred() (an event), the instance's exit, or the safety
    deadline; True when pred() held."""
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        if pred():
            return True
        time.sleep(0.2)
    log("%s: gave up (instance %s)" % (what, "alive" if p.poll() is None else "exited"))
    return False


def _replays(s, name):
    text = open(os.path.join(s.work, name + ".log"), errors="replace").read()
    return text.count("replaying") + text.count("rewound") + text.count("transaction failed")


def scenario_registry_missing(s):
    """Issue 14: input.*_format=auto and no schema_registry.url; the value 00 00
    00 00 07 "garbage" (taken for Confluent framing, schema id 7) among valid
    events on two partitions of each topic. Each is a dead letter in its
    batch, with its original bytes and a message saying how to replay it;
    every valid event gets its outcomes; no transaction is aborted and no
    batch replayed (before the fix the missing registry was retriable: the
    batch was retried for 10 s, dropped and replayed, for ever, and every
    partition of it stood still)."""
    poison = bytes.fromhex("000000000767617262616765")
    wire = os.path.join(s.build, "tests", "cbwire")
    s.setup(ca_extra=["--latency-ms", "2"], slices=2)
    placed = []
    for topic, part in ((s.person_topic, 0), (s.person_topic, 2), (s.org_topic, 1),
                        (s.org_topic, 3)):
        out = subprocess.run([wire, "produce-value", s.bootstrap, topic, str(part), "poison",
                              poison.hex()], check=True, capture_output=True, text=True).stdout
        placed.append((topic, int(out.split()[0]), int(out.split()[1])))
    s.expected["poison"] += len(placed)
    s.produce_next()  # valid events after the poison on the same partitions
    log("the 12-byte poison at %s" % placed)
    a = s.start(s.conf("a", "cb-a", {"input.org_format": "auto", "input.person_format": "auto"}),
                "a")
    port = metrics_port(s, "a")
    fails = []
    expect = _hold_expect(fails)
    drained = _hold_wait(s, a, "input drained",
                         lambda: s.lag() == 0 or _replays(s, "a") >= 3, timeout=600)
    expect("input drained", drained and s.lag() == 0, "lag %d" % s.lag())
    aborted = scrape(port).get("certbridge_transactions_total|result=aborted", -1)
    rc = _terminate(a, 60)
    replays = _replays(s, "a")
    expect("no batch replayed", replays == 0,
           "%d rewound/replaying/transaction failed lines" % replays)
    expect("no transaction aborted", aborted == 0, "%s aborted" % aborted)
    expect("exit code", rc == 0, str(rc))
    dead = [json.loads(l) for l in s.tool("dlq", s.bootstrap, s.dlq_topic).splitlines() if l]
    for topic, part, off in placed:
        d = [x for x in dead if (x["source_topic"], x["source_partition"], x["source_offset"])
             == (topic, part, off)]
        hint = ("schema id 7: Confluent-framed value but no schema_registry.url is configured; "
                "configure the registry and replay this message from %s/%d@%d"
                % (topic, part, off))
        expect("dead letter %s/%d@%d" % (topic[:16], part, off),
               len(d) == 1 and d[0]["value"] == poison.decode("latin-1")
               and d[0]["error_class"] == "config" and d[0]["error_message"] == hint,
               json.dumps(d)[:300])
    return fails + s.check({"exit_code": rc, "replays": replays, "aborted": aborted})


def scenario_registry_down(s):
    """Issue 14: Confluent-framed events, the Schema Registry stand-in
    stopped after committed progress while the next events need a writer
    schema the instance has not cached. The batch is held, not replayed:
    /healthz answers 503 naming the schema registry within 30 s, the gauge
    certbridge_held{cause="schema_registry"} is 1, one held error line a
    minute (at most 2 in the first 70 s), the consumer keeps its group. The
    registry comes back on the same port with the same schemas and the batch
    goes on; exactly once holds."""
    import socket
    wire = os.path.join(s.build, "tests", "cbwire")
    harness = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness",
                           "registry_harness.py")
    state, data = os.path.join(s.work, "registry"), os.path.join(s.work, "registry.json")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        rport = sock.getsockname()[1]
    url = "http://127.0.0.1:%d" % rport

    def registry(cmd):
        extra = ["--port", str(rport), "--data", data] if cmd == "start" else []
        subprocess.run([sys.executable, harness, cmd, "--state", state] + extra, check=True,
                       stdout=subprocess.DEVNULL)

    def register(tag):
        return [int(subprocess.run([wire, "register", url, t, k, tag], check=True,
                                   capture_output=True, text=True).stdout)
                for t, k in ((s.org_topic, "org"), (s.person_topic, "person"))]

    ids = {}

    def produce_framed():
        if not s.slices:
            return False
        n = int(subprocess.run([wire, "produce-confluent", s.bootstrap, s.org_topic,
                                s.person_topic, str(ids["org"]), str(ids["person"]),
                                s.slices.pop(0)], check=True, capture_output=True,
                               text=True).stdout)
        s.produced += n
        log("produced %d events Confluent-framed (schema ids %d, %d)"
            % (n, ids["org"], ids["person"]))
        return True

    fails = []
    expect = _hold_expect(fails)
    registry("start")
    try:
        ids["org"], ids["person"] = register("1")
        s.produce_next = produce_framed
        s.setup(ca_extra=["--latency-ms", "2"], slices=2)
        a = s.start(s.conf("a", "cb-a", {"input.org_format": "confluent",
                                         "input.person_format": "confluent",
                                         "schema_registry.url": url,
                                         "metrics.ca_probe_interval_ms": "500"}), "a")
        port = metrics_port(s, "a")
        expect("first slice committed", _hold_wait(s, a, "first slice", lambda: s.lag() == 0,
                                                   timeout=300))
        # new writer schemas, then the registry goes: the instance has not
        # cached them and cannot fetch them
        ids["org"], ids["person"] = register("2")
        registry("stop")
        t_stop = time.time()
        s.produce_next()
        log("registry stopped; second slice produced with writer schemas it alone knew")

        def unready():
            code, body = http_get(port, "/healthz")
            return code == 503 and "schema_registry unavailable since" in body
        seen = _hold_wait(s, a, "/healthz 503", unready, timeout=60)
        code, body = http_get(port, "/healthz")
        expect("/healthz 503 names the registry", seen and time.time() - t_stop <= 30,
               "after %.1f s: %d %s" % (time.time() - t_stop, code, body.strip()))
        expect("/healthz: group still joined", '"group_joined":true' in body, body.strip())
        m = scrape(port)
        expect("held gauge", m.get("certbridge_held|cause=schema_registry") == 1
               and m.get("certbridge_held_since_timestamp_seconds|cause=schema_registry", 0)
               > 0, str({k: v for k, v in m.items() if "held" in k}))

        def held_lines():
            return [l for l in _hold_log(s, "a") if l.get("level") == "error"
                    and l.get("msg", "").startswith("held: schema registry unavailable")]
        # the once-a-minute line: the hold's first line, then one after 60 s
        _hold_wait(s, a, "second held line", lambda: len(held_lines()) >= 2, timeout=150)
        lines = held_lines()
        t0 = lines[0]["ts"] if lines else ""

        def secs(ts):
            import datetime
            return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        first70 = [l for l in lines if secs(l["ts"]) - secs(t0) <= 70]
        expect("held error lines: 1 a minute", 1 <= len(first70) <= 2 and len(lines) >= 2,
               "%d in the first 70 s: %s" % (len(first70), [l["msg"][:80] for l in lines]))
        text = open(os.path.join(s.work, "a.log"), errors="replace").read()
        expect("held: no replay", _replays(s, "a") == 0, str(_replays(s, "a")))
        expect("held: group kept", '"lost ' not in text
               and "maximum poll interval" not in text.lower())
        expect("held: instance alive", a.poll() is None)
        registry("start")
        log("registry back at %s" % url)
        expect("second slice committed", _hold_wait(s, a, "drain", lambda: s.lag() == 0,
                                                    timeout=300), "lag %d" % s.lag())
        expect("hold cleared", _hold_wait(
            s, a, "/healthz 200", lambda: http_get(port, "/healthz")[0] == 200, timeout=60)
            and "held: schema registry unavailable cleared" in open(
                os.path.join(s.work, "a.log"), errors="replace").read())
        m = scrape(port)
        expect("held gauge back to 0", m.get("certbridge_held|cause=schema_registry") == 0)
        aborted = m.get("certbridge_transactions_total|result=aborted", -1)
        expect("no transaction aborted", aborted == 0, str(aborted))
        expect("no batch replayed", _replays(s, "a") == 0, str(_replays(s, "a")))
        rc = _terminate(a, 60)
        expect("exit code", rc == 0, str(rc))
        os.environ["CERTBRIDGE_SCHEMA_REGISTRY_URL"] = url  # cbtool: framed outcomes
        return fails + s.check({"exit_code": rc, "aborted": aborted})
    finally:
        registry("stop")


def scenario_big_dead_letter(s):
    """Issue 14 item 3: a garbage value of 1,040,000 bytes (the broker takes
    it; the producer's message.max.bytes is 1,000,000) among valid events. Its
    dead letter carries the value cut to fit, with certbridge.value.truncated
    and certbridge.value.original_bytes, and the source position of the whole
    value; the batch commits (before the fix the produce failed, the
    transaction aborted and the batch was replayed for ever)."""
    size = 1040000
    rnd = random.Random(s.args.seed)
    garbage = b"\x01" + rnd.randbytes(size - 1)  # 0x01: plain Avro, event_id length -1
    path = os.path.join(s.work, "garbage.bin")
    with open(path, "wb") as f:
        f.write(garbage)
    s.setup(ca_extra=["--latency-ms", "2"], slices=2)
    out = subprocess.run([os.path.join(s.build, "tests", "cbwire"), "produce-value", s.bootstrap,
                          s.person_topic, "1", "garbage", "@" + path], check=True,
                         capture_output=True, text=True).stdout.split()
    part, off = int(out[0]), int(out[1])
    s.expected["poison"] += 1
    s.produce_next()
    a = s.start(s.conf("a", "cb-a"), "a")
    port = metrics_port(s, "a")
    fails = []
    expect = _hold_expect(fails)
    expect("input drained", _hold_wait(s, a, "drain",
                                       lambda: s.lag() == 0 or _replays(s, "a") >= 3,
                                       timeout=600) and s.lag() == 0, "lag %d" % s.lag())
    aborted = scrape(port).get("certbridge_transactions_total|result=aborted", -1)
    rc = _terminate(a, 60)
    expect("no transaction aborted", aborted == 0 and _replays(s, "a") == 0,
           "%s aborted, %d replay lines" % (aborted, _replays(s, "a")))
    expect("exit code", rc == 0, str(rc))
    recs = [json.loads(l) for l in subprocess.run(
        [os.path.join(s.build, "tests", "cbwire"), "records", s.bootstrap, s.dlq_topic],
        check=True, capture_output=True, text=True).stdout.splitlines() if l]
    big = [r for r in recs if r["headers"].get("certbridge.source.topic") == s.person_topic
           and r["headers"].get("certbridge.source.partition") == str(part)
           and r["headers"].get("certbridge.source.offset") == str(off)]
    if expect("the big dead letter", len(big) == 1, "%d records" % len(big)):
        r = big[0]
        h = r["headers"]
        value = bytes.fromhex(r["value"])
        record = r["key_len"] + r["value_len"] + sum(len(k) + len(v.encode())
                                                     for k, v in h.items())
        expect("truncated headers", h.get("certbridge.value.truncated") == "true"
               and h.get("certbridge.value.original_bytes") == str(size),
               str({k: v[:120] for k, v in h.items()}))
        expect("value: a prefix that fits", 900000 < len(value) < size
               and garbage.startswith(value) and record <= 1000000,
               "%d of %d bytes, record %d" % (len(value), size, record))
        expect("message says where the whole value is",
               "value cut to %d of %d bytes" % (len(value), size) in h.get(
                   "certbridge.error.message", "")
               and "%s/%d@%d" % (s.person_topic, part, off) in h.get(
                   "certbridge.error.message", ""), h.get("certbridge.error.message", ""))
    return fails + s.check({"exit_code": rc, "aborted": aborted})


def scenario_confluent_apicurio(s):
    """Issue 18: Confluent-framed Avro events in and Confluent-framed outcomes
    out, against a real Schema Registry (Apicurio Registry, started by
    harness/apicurio_harness.py, basic auth on). The events are written by a
    producer outside certbridge's code (registry_producer.py: fastavro) with
    evolved writer schemas in turn (a field added with a default, a defaulted
    field removed, a union widened, Org as a referenced subject of its own);
    certbridge decodes every one and exactly once holds. Before that, an
    instance whose outcome subject already holds an incompatible schema stops
    at start with exit code 2 naming the subject and the registry's reason.
    The outcome subject gets BACKWARD (it had no level of its own)."""
    import base64
    import urllib.request
    harness = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness",
                           "apicurio_harness.py")
    producer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "registry_producer.py")
    state = os.path.join(s.work, "apicurio")
    pwfile = os.path.join(s.work, "registry.password")
    with open(pwfile, "w") as f:
        f.write("eos-registry-%d\n" % os.getpid())
    os.chmod(pwfile, 0o600)
    auth = "Basic " + base64.b64encode(
        ("certbridge:" + open(pwfile).readline().strip()).encode()).decode()

    def rest(method, path, body=None):
        req = urllib.request.Request(url + path, method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": auth,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    fails = []
    expect = _hold_expect(fails)
    t0 = time.time()
    subprocess.run([sys.executable, harness, "start", "--state", state, "--user", "certbridge",
                    "--password-file", pwfile], check=True)
    log("registry started in %.1f s" % (time.time() - t0))
    url = open(os.path.join(state, "url")).read().strip()
    registry_keys = {"input.org_format": "confluent", "input.person_format": "confluent",
                     "schema_registry.url": url,
                     "schema_registry.basic_auth_user": "certbridge",
                     "schema_registry.basic_auth_password_file": pwfile}
    try:
        # an incompatible schema registered first under an outcome subject
        s.produce_next = lambda: False
        s.setup(ca_extra=["--latency-ms", "2"])
        bad_topic = s.outcome_topic + ".incompatible"
        rest("POST", "/subjects/%s-value/versions" % bad_topic, {"schema": json.dumps(
            {"type": "record", "name": "CertificateActionOutcome",
             "namespace": "vn.gov.certbridge",
             "fields": [{"name": "legacy_id", "type": "long"}]})})
        b = s.start(s.conf("b", "cb-b", dict(registry_keys, **{"output.outcome_topic":
                                                               bad_topic})), "b")
        try:
            rc = b.wait(120)
        except subprocess.TimeoutExpired:
            b.kill()
            rc = None
        text = open(os.path.join(s.work, "b.log"), errors="replace").read()
        expect("incompatible outcome schema: exit 2", rc == 2, "exit %s" % rc)
        want = ("subject %s-value: the Schema Registry refused the schema as incompatible with "
                "the subject's versions (HTTP 409): Incompatible artifact: %s-value"
                % (bad_topic, bad_topic))
        expect("... naming the subject and the reason", want in text, text[-600:])

        # the events, from the outside producer
        out = subprocess.run([VENV_PY, producer, "--url", url, "--user", "certbridge",
                              "--password-file", pwfile, "--org-topic", s.org_topic,
                              "--person-topic", s.person_topic, s.events,
                              os.path.join(s.work, "framed.jsonl")],
                             check=True, capture_output=True, text=True).stdout
        written = json.loads(out.strip().splitlines()[-1])
        log("producer: %s" % json.dumps(written))
        expect("every writer schema used", all(n > 0 for n in
                                               written["events_per_writer"].values()),
               json.dumps(written["events_per_writer"]))
        expect("writer schema ids distinct", len(set(written["ids"].values()))
               == len(written["ids"]), json.dumps(written["ids"]))
        res = [json.loads(l) for l in s.tool("produce-raw", s.bootstrap,
                                             os.path.join(s.work, "framed.jsonl")).splitlines()]
        expect("produced", all("offset" in r for r in res), "%d records" % len(res))
        a = s.start(s.conf("a", "cb-a", registry_keys), "a")
        port = metrics_port(s, "a")
        drained = _hold_wait(s, a, "input drained",
                             lambda: s.lag() == 0 or _replays(s, "a") >= 3, timeout=600)
        expect("input drained", drained and s.lag() == 0, "lag %d" % s.lag())
        aborted = scrape(port).get("certbridge_transactions_total|result=aborted", -1)
        rc = _terminate(a, 60)
        expect("exit code", rc == 0, str(rc))
        expect("no transaction aborted", aborted == 0, str(aborted))
        level = rest("GET", "/config/%s-value" % s.outcome_topic)
        expect("outcome subject BACKWARD", level.get("compatibilityLevel") == "BACKWARD",
               json.dumps(level))
        # cbtool reads the framed outcomes through the registry
        os.environ.update({"CERTBRIDGE_SCHEMA_REGISTRY_URL": url,
                           "CERTBRIDGE_SCHEMA_REGISTRY_BASIC_AUTH_USER": "certbridge",
                           "CERTBRIDGE_SCHEMA_REGISTRY_BASIC_AUTH_PASSWORD_FILE": pwfile})
        recs = [json.loads(l) for l in s.tool("dump", s.bootstrap, s.outcome_topic).splitlines()
                if l]
        framed = [r for r in recs if r["value"] and r["value"].startswith("00")]
        expect("outcomes Confluent-framed", recs and len(framed) == len(recs),
               "%d of %d" % (len(framed), len(recs)))
        return fails + s.check({"exit_code": rc, "aborted": aborted,
                                "writers": written["events_per_writer"]})
    finally:
        subprocess.run([sys.executable, harness, "stop", "--state", state],
                       stdout=subprocess.DEVNULL)


# ---- CA requests that finish later (issue 15) ---------------------------

def ledger_count(s):
    """The CA's effects so far, read from its database (the CA may be
    running, or stopped with SIGSTOP: a reader of its WAL waits for nobody)."""
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(s.ca.state, "refca.db"), uri=True,
                         timeout=30)
    try:
        return db.execute("SELECT count(*) FROM ledger").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # no ledger table yet
    finally:
        db.close()


def scenario_cascade_5000(s):
    """Issue 17: an organization with 5,000 personal certificates is renamed
    under policy.cascade_personal=true. The cascade's lookup (5,000
    certificates, about 2 MB of JSON) takes 20 pages of the CA's answer and
    several W records of the state topic; its calls start only once they
    are durable. The instance is killed (SIGKILL) in the middle of the calls:
    once the CA applied some of them, the CA is stopped (SIGSTOP), so the
    batch cannot commit before the kill, whatever the machine's speed. The
    replay must read the lookup back from its W records and repeat the same
    calls with the same keys: a replay that looked up again would see the
    new certificates and change them a second time (CA effects over 5,001).
    Then the usual checks: 5,001 CHANGE_INFO outcomes (the organization's
    and one per personal certificate), each exactly once, 5,001 CA effects,
    none twice."""
    n = 5000
    inv, events, s.expected = workload.make_cascade(n, seed=s.args.seed)
    workload.write_jsonl(s.inventory, inv)
    workload.write_jsonl(s.events, events)
    s.args.events = len(events)
    s.setup()
    # a static member: the restart gets the partitions back at once instead
    # of waiting for the killed one's session to time out
    conf = s.conf("a", "cb-a", {"policy.cascade_personal": "true",
                                "kafka.group.instance.id": "cascade-a",
                                "kafka.session.timeout.ms": "10000"})
    t0 = time.time()
    p = s.start(conf, "a")
    deadline = time.time() + 300
    polls = 0
    while time.time() < deadline and p.poll() is None:
        if ledger_count(s) >= 300:
            break
        polls += 1
        if polls % 50 == 0 and s.lag() == 0:
            break  # the batch committed without 300 calls: the checks say what went wrong
        time.sleep(0.02)
    s.ca.proc.send_signal(signal.SIGSTOP)
    at_stop = ledger_count(s)
    p.kill()
    p.wait()
    s.ca.proc.send_signal(signal.SIGCONT)
    committed = sum(1 for line in s.tool("outcomes", s.bootstrap, s.outcome_topic).splitlines()
                    if line)
    log("killed mid-cascade: %d of %d CA effects applied, %d outcomes committed (%.1f s)"
        % (at_stop, n + 1, committed, time.time() - t0))
    t1 = time.time()
    rc = s.drain(conf, "a")
    replay_s = time.time() - t1
    fails = []

    def expect(name, ok, detail):
        log("%-34s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            fails.append(name)

    expect("killed in the middle of the calls", 300 <= at_stop < n + 1 and committed == 0,
           "%d effects applied, %d outcomes committed at the kill" % (at_stop, committed))
    expect("exit code", rc == 0, str(rc))
    return fails + s.check({"exit_code": rc, "effects_at_kill": at_stop,
                            "replay_s": round(replay_s, 1)})


CHAIN_SCENARIOS = {"crash", "async_crash", "async_split", "async_bound", "scheduled", "cancel"}


def async_ca(s):
    """The reference CA's flags for a CA that answers every mutating call
    PENDING and completes it later."""
    return ["--async", "--async-delay-ms", str(s.args.async_delay_ms)]


def async_conf(s, name, txn_id, extra=None):
    """An instance that checks open requests soon and often: the first check
    0.3 s after the PENDING answer, at most 2 s apart, 200 checks a second."""
    keys = {"ca.poll_initial_ms": "300", "ca.poll_max_ms": "2000", "ca.poll_rate": "200"}
    keys.update(extra or {})
    return s.conf(name, txn_id, keys)


def port_since(s, name, since, p, timeout=60):
    """The metrics port instance `name` logged after byte `since`."""
    import re
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        with open(os.path.join(s.work, name + ".log"), errors="replace") as f:
            f.seek(since)
            m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", f.read())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    return None


def gauge(port, name):
    """One unlabelled gauge of /metrics, or None when it does not answer."""
    import re
    try:
        code, text = http_get(port, "/metrics")
    except OSError:
        return None
    m = re.search(r"^%s (-?[0-9.]+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if code == 200 and m else None


def scenario_async_crash(s):
    """Issue 15: every CA action answers PENDING and completes later; the
    instance is killed with SIGKILL at least 20 times, each time once it
    follows open requests (the gauge certbridge_ca_requests_open > 0), a
    random 0-1.5 s later; events of chains arrive in slices, so every
    restart has work in flight. Then one instance drains (it ends only when
    nothing is open). Every action must end with exactly one final outcome,
    none PENDING, no CA double effect, and the CA's end state must be what
    the events applied one by one leave."""
    kills_wanted = max(s.args.kills, 20)
    s.setup(ca_extra=async_ca(s), slices=kills_wanted)
    extra = {"kafka.group.instance.id": "async-a", "kafka.session.timeout.ms": "10000"}
    conf = async_conf(s, "a", "cb-a", extra)
    rnd = random.Random(s.args.seed)
    kills = with_open = progressed = 0
    t0 = time.time()
    while kills < kills_wanted:
        log_path = os.path.join(s.work, "a.log")
        since = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        if s.lag() == 0:
            s.produce_next()
        lag_before = s.lag()
        p = s.start(conf, "a")
        port = port_since(s, "a", since, p)
        if not port or not wait_loaded(s, "a", p, since):
            raise SystemExit("instance did not start and load its state within 150 s")
        # the kill point: once requests are open (or after 20 s without)
        deadline = time.time() + 20
        while time.time() < deadline and p.poll() is None:
            if (gauge(port, "certbridge_ca_requests_open") or 0) > 0:
                break
            time.sleep(0.1)
        time.sleep(rnd.uniform(0.0, 1.5))
        open_now = gauge(port, "certbridge_ca_requests_open") or 0
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            with_open += open_now > 0
            lag_after = s.lag()
            progressed += lag_after < lag_before
            log("kill %d: %d request(s) open; lag %d -> %d"
                % (kills, open_now, lag_before, lag_after))
    while s.produce_next():
        pass
    rc = s.drain(conf, "a")
    log("%d kills (%d with requests open, %d after committed progress) in %.0f s"
        % (kills, with_open, progressed, time.time() - t0))
    fails = s.check({"kills": kills, "kills_with_open_requests": with_open,
                     "kills_after_progress": progressed, "exit_code": rc})
    if kills < 20 or with_open < kills // 2 or progressed == 0:
        log("FAILED: %d kills, %d with requests open, %d after committed progress"
            % (kills, with_open, progressed))
        fails.append("kills")
    return fails


def scenario_async_split(s):
    """Issue 15: the same asynchronous CA; instance a runs alone until it
    follows open requests, then b joins the group: the requests of the
    partitions a gives up move to b (b loads them from the state topic),
    the second half of the events arrives, then a stops (SIGTERM) and b
    takes the rest, requests included. Every request is followed by the
    owner of its partition only: no final outcome twice, none missing, and
    both instances finished requests."""
    import re
    s.setup(ca_extra=async_ca(s), slices=2)
    fails = []
    expect = _hold_expect(fails)

    def text(name, since=0):
        return _log_text(s, name, since)

    a = s.start(async_conf(s, "a", "cb-a"), "a")
    pa = port_since(s, "a", 0, a)
    expect("a follows open requests", pa and _hold_wait(
        s, a, "a: open requests",
        lambda: (gauge(pa, "certbridge_ca_requests_open") or 0) > 0, timeout=120))
    b = s.start(async_conf(s, "b", "cb-b"), "b")
    pb = port_since(s, "b", 0, b)

    def moved():
        m = re.findall(r"loaded the state of \d+ partition\(s\) from \S+: (\d+) open CA",
                       text("b"))
        return any(int(x) > 0 for x in m)
    expect("b loaded a's open requests", _hold_wait(s, b, "b: requests moved", moved,
                                                   timeout=120),
           re.findall(r"loaded the state[^\"]*", text("b"))[:3])
    s.produce_next()
    a_revoked = re.search(r'"revoked [1-9]\d* partition', text("a")) is not None
    expect("a gave partitions up", a_revoked)
    # b and a split the partitions; a stops once b followed requests of its own
    _hold_wait(s, b, "b: requests final",
               lambda: "is final" in text("b"), timeout=120)
    ra = _terminate(a, 60)
    expect("a stopped", ra == 0, str(ra))

    def done():
        return s.lag() == 0 and (gauge(pb, "certbridge_ca_requests_open") or 0) == 0 and \
            (gauge(pb, "certbridge_queued_events") or 0) == 0
    expect("b finished every request", _hold_wait(s, b, "b: drained", done, timeout=300))
    rb = _terminate(b, 60)
    expect("b stopped", rb == 0, str(rb))
    finals = {n: re.findall(r"request (\S+) of (\S+) \(.*? is final", text(n)) for n in ("a", "b")}
    # a request both logged final: a found it final, but gave its partition
    # up before the transaction with the final outcome (b checked it again)
    both = {x[0] for x in finals["a"]} & {x[0] for x in finals["b"]}
    expect("both instances finished requests", all(finals.values()),
           "a %d, b %d, found final by both %d" % (len(finals["a"]), len(finals["b"]),
                                                    len(both)))
    if s.lag() != 0:
        s.drain(async_conf(s, "a", "cb-a"), "a")
    return fails + s.check({"exit_codes": [ra, rb],
                            "finals_logged": {k: len(v) for k, v in finals.items()},
                            "found_final_by_both": len(both)})


def scenario_async_bound(s):
    """Issue 15: pipeline.queued_events_max at 5 with chains and the
    asynchronous CA: events of holders with open requests wait; at the bound
    the partitions that hold waiting events are paused (a log line says so)
    and the rest flow; the waiting events never exceed the bound by more
    than one batch; everything still ends final and exactly once."""
    s.setup(ca_extra=async_ca(s))
    batch = 50
    a = s.start(async_conf(s, "a", "cb-a", {"pipeline.queued_events_max": "5",
                                            "pipeline.batch_max_events": str(batch)}),
                "a", drain_ms=4000)
    port = port_since(s, "a", 0, a)
    most = 0
    while a.poll() is None:
        q = gauge(port, "certbridge_queued_events") if port else None
        most = max(most, int(q or 0))
        time.sleep(0.2)
    text = open(os.path.join(s.work, "a.log"), errors="replace").read()
    fails = []
    expect = _hold_expect(fails)
    expect("paused at the bound", "pausing the partitions that hold them" in text)
    expect("flowing again below it", "every partition flows again" in text)
    # a soft bound (docs/ARCHITECTURE.md §5 "The bound"): the batch being read
    # when it was reached, the messages read ahead while it ran, and a batch of
    # a partition that still flowed may queue (106 seen)
    expect("queued events within bound + 3 batches", 0 < most <= 5 + 3 * batch, str(most))
    expect("drained with nothing open", a.returncode == 0, str(a.returncode))
    if s.lag() != 0:
        s.drain(async_conf(s, "a", "cb-a"), "a")
    return fails + s.check({"queued_events_max_seen": most})


DAY_MS = 86400000
HANOI_MS = 7 * 3600000  # policy.timezone's default, Asia/Ho_Chi_Minh: UTC+07:00


def scenario_scheduled(s):
    """Issue 16, effective dates: the events carry today's date in Hanoi,
    tomorrow's or the day after's (at random, never going down in the order
    produced). One instance reads
    them all: today's run, the others are published SCHEDULED and kept in
    the state topic; it is killed (SIGKILL) while they wait. The calendar
    clock is then moved (CB_TEST_CALENDAR_OFFSET_MS, by restarting) to 1.5
    minutes before tomorrow (killed again once it loaded the state: nothing
    may run), just past tomorrow (killed once every event of tomorrow ran:
    SCHEDULED closed by a final record), and past the day after (drained).
    Nothing runs before its date (the CA ledger, in order, against the
    phases), everything runs exactly once after it, holder order keeps the
    CA's end state what the events applied one by one leave."""
    rnd = random.Random(s.args.seed)
    now = int(time.time() * 1000)
    d0 = (now + HANOI_MS) // DAY_MS
    start1 = (d0 + 1) * DAY_MS - HANOI_MS  # 00:00 tomorrow in Hanoi, as UTC ms
    start2 = start1 + DAY_MS
    day_of = {}
    lines = []
    # dates never go down in the order produced: a holder's event waits
    # behind the holder's earlier events, so tomorrow's events all run
    # tomorrow (holder order itself is test_state's test_schedule_due)
    n_ev = sum(1 for _ in open(s.events, encoding="utf-8"))
    days = sorted(rnd.choice((0, 0, 1, 2)) for _ in range(n_ev))
    for line in open(s.events, encoding="utf-8"):
        try:
            ev = json.loads(line)
        except ValueError:
            lines.append(line)  # a poison line stays as it is
            continue
        if isinstance(ev, dict) and str(ev.get("event_id", "")).startswith("evt-"):
            k = days[len(lines)]
            day_of[ev["event_id"]] = k
            ev["effective_date"] = time.strftime("%Y-%m-%d", time.gmtime((d0 + k) * 86400))
            line = json.dumps(ev, ensure_ascii=False) + "\n"
        lines.append(line)
    with open(s.events, "w", encoding="utf-8") as f:
        f.writelines(lines)
    s.setup()
    conf = s.conf("a", "cb-a", {"kafka.group.instance.id": "sched-a",
                                "kafka.session.timeout.ms": "10000"})
    fails = []

    def outcomes():
        return _outcome_records(s)

    def run_until(offset_ms, what, pred, timeout=120):
        return _run_dated_until(s, conf, offset_ms, what, pred, timeout)

    dated = {e for e, k in day_of.items() if k > 0}

    def scheduled_of(recs, final):
        return {o["source_event_id"] for o in recs
                if "/scheduled/" in o["outcome_id"] and o.get("final", True) == final}

    # 1. read everything today: today's events run, the others are SCHEDULED
    l1 = run_until(0, "today", lambda: s.lag() == 0 and scheduled_of(outcomes(), False) >= dated)
    # 2. restarted 1.5 minutes before tomorrow: the state loads, nothing runs
    l1b = run_until(start1 - int(time.time() * 1000) - 90000, "just before tomorrow",
                    lambda: True)
    # 3. just past tomorrow's start: tomorrow's events run
    tomorrow = {e for e in dated if day_of[e] == 1}
    l2 = run_until(start1 - int(time.time() * 1000) + 1000, "tomorrow",
                   lambda: scheduled_of(outcomes(), True) >= tomorrow)
    # 4. past the day after: the rest runs, then the instance drains
    rc = s.drain(conf, "a", env={"CB_TEST_CALENDAR_OFFSET_MS":
                                 str(start2 - int(time.time() * 1000) + 1000)})
    recs = outcomes()
    ledger = s.ca.ledger()
    # which event made each CA effect: its SUCCEEDED outcome
    made_by = {}
    for o in recs:
        if o["status"] == "SUCCEEDED" and "/scheduled/" not in o["outcome_id"]:
            t = o["device_id"] if o["action"] == "RECALL_DEVICE" else o["certificate_serial"]
            made_by[(o["action"], t)] = o["source_event_id"]
    opname = {"change-info": "CHANGE_INFO", "revoke": "REVOKE", "recall": "RECALL_DEVICE"}
    early = []
    for i, e in enumerate(ledger):
        key = (opname.get(e["op"], e["op"]),
               e["device_id"] if e["op"] == "recall" else e["serial"])
        ev = made_by.get(key)
        allowed = 0 if i < l1b else 1 if i < l2 else 2
        if ev is None or day_of.get(ev, 0) > allowed:
            early.append((i, key, ev, day_of.get(ev)))
    sched = collections.defaultdict(list)
    for o in recs:
        if "/scheduled/" in o["outcome_id"]:
            sched[o["outcome_id"]].append(o)
    bad_sched = [oid for oid, rs in sched.items()
                 if [r.get("final", True) for r in rs] != [False, True]
                 or any(r["status"] != "SCHEDULED" for r in rs)]
    undated = {o["source_event_id"] for rs in sched.values() for o in rs} - dated

    def expect(name, ok, detail):
        log("%-34s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            fails.append(name)

    expect("events per day", all(sum(1 for k in day_of.values() if k == d) for d in (0, 1, 2)),
           str(collections.Counter(day_of.values())))
    expect("nothing ran before tomorrow", l1b == l1, "%d then %d effects" % (l1, l1b))
    expect("no CA effect before its date", not early, "%d %s" % (len(early), early[:3]))
    expect("SCHEDULED then final, once", not bad_sched,
           "%d of %d %s" % (len(bad_sched), len(sched), bad_sched[:3]))
    expect("SCHEDULED only for dated events", not undated, str(sorted(undated)[:3]))
    expect("every dated event SCHEDULED", {o["source_event_id"] for rs in sched.values()
                                           for o in rs} >= dated, "")
    fails += s.check({"dated_events": len(dated), "scheduled_records": sum(map(len, sched.values())),
                      "exit_code": rc})
    return fails


def scenario_cancel(s):
    """Issue 16, cancellation: the events carry today's date in Hanoi or
    tomorrow's (never going down in the order produced). One instance reads
    them all (today's run, tomorrow's are SCHEDULED) and is killed. Then
    CANCELLED events are produced, keyed like the events they cancel: for a
    quarter of tomorrow's events (cancellable: never sent to the CA) and for
    a few of today's (already executed: not cancellable). An instance reads
    them and is killed once every cancellation has its outcome; one started
    just past tomorrow runs the rest and drains. Cancelled events never reach
    the CA (no outcome of theirs, no CA effect without the outcome of an
    event that was not cancelled), each of their SCHEDULED records ends
    CANCELLED exactly once, the SIGKILL after the cancellations does not
    bring them back, every other event runs exactly once."""
    rnd = random.Random(s.args.seed)
    now = int(time.time() * 1000)
    d0 = (now + HANOI_MS) // DAY_MS
    start1 = (d0 + 1) * DAY_MS - HANOI_MS  # 00:00 tomorrow in Hanoi, as UTC ms
    day_of, lines, by_id = {}, [], {}
    n_ev = sum(1 for _ in open(s.events, encoding="utf-8"))
    days = sorted(rnd.choice((0, 1)) for _ in range(n_ev))
    for line in open(s.events, encoding="utf-8"):
        try:
            ev = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        if isinstance(ev, dict) and str(ev.get("event_id", "")).startswith("evt-"):
            k = days[len(lines)]
            day_of[ev["event_id"]] = k
            ev["effective_date"] = time.strftime("%Y-%m-%d", time.gmtime((d0 + k) * 86400))
            by_id[ev["event_id"]] = ev
            line = json.dumps(ev, ensure_ascii=False) + "\n"
        lines.append(line)
    with open(s.events, "w", encoding="utf-8") as f:
        f.writelines(lines)
    tomorrow = sorted(e for e, k in day_of.items() if k == 1)
    today = sorted(e for e, k in day_of.items() if k == 0)
    cancelled = set(rnd.sample(tomorrow, len(tomorrow) // 4))
    executed = set(rnd.sample(today, 5))

    def cancellation(target):
        """A CANCELLED event keyed like target (org.code, or person.person_id):
        org.address names it."""
        src = by_id[target]
        ev = {"event_id": "cx-" + target, "event_type": "CANCELLED",
              "occurred_at": src["occurred_at"], "effective_date": src["effective_date"],
              "source_system": src["source_system"], "org": dict(src["org"], address=target)}
        if "person" in src:
            ev["person"] = src["person"]
        return ev

    cancels = os.path.join(s.work, "cancels.jsonl")
    workload.write_jsonl(cancels, [cancellation(e) for e in sorted(cancelled | executed)])
    s.setup()
    conf = s.conf("a", "cb-a", {"kafka.group.instance.id": "cancel-a",
                                "kafka.session.timeout.ms": "10000"})
    fails = []

    def outcomes():
        return _outcome_records(s)

    def run_until(offset_ms, what, pred, timeout=120):
        return _run_dated_until(s, conf, offset_ms, what, pred, timeout)

    def waiting(recs):
        return {o["source_event_id"] for o in recs
                if "/scheduled/" in o["outcome_id"] and o.get("final", True) is False}

    # 1. read everything today: today's events run, tomorrow's wait
    def today_done():
        recs = outcomes()
        ids = {o["outcome_id"] for o in recs if o.get("final", True)}
        return waiting(recs) >= set(tomorrow) and all("%s/0" % e in ids for e in executed)

    l1 = run_until(0, "today", lambda: s.lag() == 0 and today_done())
    # 2. the cancellations, read today; killed once each has its outcome
    n = int(s.tool("produce", s.bootstrap, s.org_topic, s.person_topic, cancels).strip())
    log("produced %d cancellations (%d of tomorrow's events, %d executed ones)"
        % (n, len(cancelled), len(executed)))
    own_ids = {"cx-%s/0" % e for e in cancelled | executed}
    l2 = run_until(0, "cancellations",
                   lambda: s.lag() == 0 and own_ids <= {o["outcome_id"] for o in outcomes()})
    # 3. past tomorrow's start: the events not cancelled run; drained
    rc = s.drain(conf, "a", env={"CB_TEST_CALENDAR_OFFSET_MS":
                                 str(start1 - int(time.time() * 1000) + 1000)})
    recs = outcomes()
    ledger = s.ca.ledger()

    def expect(name, ok, detail):
        log("%-38s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            fails.append(name)

    by_oid = collections.defaultdict(list)
    for o in recs:
        by_oid[o["outcome_id"]].append(o)
    finals = {oid: [r for r in rs if r.get("final", True)] for oid, rs in by_oid.items()}
    dup = [oid for oid, f in finals.items() if len(f) != 1]
    # cancelled events: each SCHEDULED record ends CANCELLED, exactly once; no outcome of their
    # own actions (never sent to the CA)
    sched_c = {oid: rs for oid, rs in by_oid.items()
               if "/scheduled/" in oid and rs[0]["source_event_id"] in cancelled}
    bad_c = [oid for oid, rs in sched_c.items()
             if [(r["status"], r.get("final", True)) for r in rs]
             != [("SCHEDULED", False), ("CANCELLED", True)]]
    ran_c = sorted({o["source_event_id"] for o in recs if o["source_event_id"] in cancelled
                    and "/scheduled/" not in o["outcome_id"]})
    stray_cancel = [oid for oid, rs in by_oid.items() if any(r["status"] == "CANCELLED" for r in rs)
                    and rs[0]["source_event_id"] not in cancelled]
    # the cancellations' own outcomes
    own = {oid[3:-2]: finals[oid][-1] for oid in finals if oid.startswith("cx-")}
    bad_own = [e for e in cancelled if e not in own or own[e]["status"] != "SUCCEEDED"
               or "Cancelled event " + e not in own[e]["note"]]
    bad_exec = [e for e in executed if e not in own or own[e]["status"] != "NEEDS_REVIEW"
                or "not cancellable" not in own[e]["note"]]
    # the events not cancelled: each ran, with all its actions, once; CA effects only theirs
    done = collections.defaultdict(set)
    count = {}
    for oid, f in finals.items():
        o = f[-1]
        if "/scheduled/" in oid or oid.startswith("cx-") or o["status"] == "PENDING":
            continue
        done[o["source_event_id"]].add(o["action_index"])
        count[o["source_event_id"]] = o["action_count"]
    incomplete = [e for e in day_of if e not in cancelled
                  and (e not in count or len(done[e]) != count[e])]
    opname = {"change-info": "CHANGE_INFO", "revoke": "REVOKE", "recall": "RECALL_DEVICE"}
    made_by = {}
    for oid, f in finals.items():
        o = f[-1]
        if o["status"] == "SUCCEEDED" and o["action"] in opname.values():
            t = o["device_id"] if o["action"] == "RECALL_DEVICE" else o["certificate_serial"]
            made_by[(o["action"], t)] = o["source_event_id"]
    effects = collections.Counter(
        (opname.get(e["op"], e["op"]), e["device_id"] if e["op"] == "recall" else e["serial"])
        for e in ledger)
    double = sum(c - 1 for c in effects.values() if c > 1)
    orphan = [k for k in effects if made_by.get(k) is None or made_by[k] in cancelled]
    expect("cancellations of tomorrow's events", len(cancelled) >= 10, str(len(cancelled)))
    expect("nothing ran with the cancellations", l2 == l1, "%d then %d effects" % (l1, l2))
    expect("cancelled: SCHEDULED then CANCELLED, once", not bad_c and sched_c,
           "%d of %d %s" % (len(bad_c), len(sched_c), bad_c[:3]))
    expect("cancelled: every one has its records",
           {r[0]["source_event_id"] for r in sched_c.values()} == cancelled, "")
    expect("cancelled events never ran", not ran_c, str(ran_c[:3]))
    expect("CANCELLED only for cancelled events", not stray_cancel, str(stray_cancel[:3]))
    expect("cancellation outcomes", not bad_own, str(bad_own[:3]))
    expect("executed: not cancellable", not bad_exec,
           str([(e, own.get(e, {}).get("note")) for e in bad_exec[:2]]))
    expect("other events ran, every action", not incomplete, str(incomplete[:3]))
    expect("one final record per outcome", not dup, "%d %s" % (len(dup), dup[:3]))
    expect("CA double effects", double == 0, str(double))
    expect("CA effects only of events not cancelled", not orphan, str(orphan[:3]))
    expect("consumer lag", s.lag() == 0, "")
    expect("drained", rc == 0, "exit code %s" % rc)
    print("EOS-SUMMARY " + json.dumps({"scenario": "cancel", "events": s.args.events,
                                       "cancelled": len(cancelled), "executed": len(executed),
                                       "ca_effects": len(ledger), "outcomes": len(finals)}),
          flush=True)
    return fails


def _approval_pki(s):
    """The approver's key and certificate for the approvals: issued with the
    reference CA's own key (read from its store, as it signs its
    subscribers' certificates), the CA certificate as the trust anchor, and
    the CA's current CRL (GET /v1/crl). Returns (key, cert, anchors, crl)
    file paths."""
    import datetime
    import sqlite3
    import ssl
    import urllib.request
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    db = sqlite3.connect(os.path.join(s.ca.state, "refca.db"))
    meta = {k: (bytes(v) if not isinstance(v, str) else v.encode())
            for k, v in db.execute("SELECT name, val FROM meta").fetchall()}
    db.close()
    ca_key = serialization.load_pem_private_key(meta["ca.key"], None)
    ca_cert = x509.load_pem_x509_certificate(meta["ca.cert"])
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, APPROVER[0]),
                                     x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = [os.path.join(s.work, n) for n in ("approver.key", "approver.pem", "anchors.pem",
                                                "crl.der")]
    with open(paths[0], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(paths[1], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as f:
        f.write(meta["ca.cert"])
    ctx = ssl.create_default_context(cafile=os.path.join(s.ca.pki, "tls-ca.pem"))
    ctx.load_cert_chain(os.path.join(s.ca.pki, "client.pem"), os.path.join(s.ca.pki, "client.key"))
    with urllib.request.urlopen(s.ca.url + "/v1/crl", context=ctx, timeout=30) as r:
        crl = r.read()
    with open(paths[3], "wb") as f:
        f.write(crl)
    return paths


APPROVER = ("Nguyễn Văn An", "Phó Chủ tịch Ủy ban nhân dân tỉnh")


def scenario_approval(s):
    """Issue 16, the approval gate: policy.approval=revoke with signatures
    required (the trust anchor and CRL of the reference CA, the approver's
    certificate issued with its key, approvals signed by cbsign). The events
    arrive in two slices, read on two days (the calendar moved), so their
    REVOKEs wait in four approval requests (two managing agencies: the
    organizations' superior agency, the persons' organization; two days).
    Then a CANCELLED event stops one awaiting event, and the approvals come:
    all of one request, a subset of another, a rejection with its reason, a
    duplicate, an unknown request, an unsigned one, a tampered one, and one
    for the cancelled actions. Instances are killed with SIGKILL at random
    moments while actions await approval and while approvals are read and
    executed. Nothing executes without its approval, every approved action
    executes once, rejected ones end REJECTED with the reason, the cancelled
    one never executes, each bad approval is a dead letter with its message,
    no outcome is final twice."""
    rnd = random.Random(s.args.seed)
    now = int(time.time() * 1000)
    d0 = (now + HANOI_MS) // DAY_MS
    day_ms = [(d0 + k) * DAY_MS - HANOI_MS + 3600000 - now for k in (0, 1)]
    day_ms[0] = 0  # today, as it is
    ymd = [time.strftime("%Y%m%d", time.gmtime((d0 + k) * 86400)) for k in (0, 1)]
    events = {}
    for line in open(s.events, encoding="utf-8"):
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and "event_id" in ev:
            events[ev["event_id"]] = ev
    gated = {k.rsplit("/", 1)[0] for k, (a, _) in s.expected["outcomes"].items()
             if a == "REVOKE"}
    approval_topic = "certbridge.approvals." + s.group
    s.setup(partitions=2, slices=2)
    s.tool("create-topic", s.bootstrap, approval_topic, "1")
    key, cert, anchors, crl = _approval_pki(s)
    conf = s.conf("a", "cb-a", {"kafka.group.instance.id": "approval-a",
                                "kafka.session.timeout.ms": "10000",
                                "policy.approval": "revoke",
                                "policy.approval_signature": "required",
                                "policy.approval_trust_anchors": anchors,
                                "policy.approval_crl_file": crl,
                                "input.approval_topic": approval_topic})
    fails = []
    expect = _hold_expect(fails)
    kills = [0]

    def outcomes():
        return _outcome_records(s)

    def latest(recs):
        out = {}
        for o in recs:
            out[o["outcome_id"]] = o
        return out

    def awaiting(recs):
        return {o["source_event_id"] for o in latest(recs).values()
                if o["status"] == "AWAITING_APPROVAL" and o.get("final", True) is False}

    def run(offset_ms, what, pred, n_kills=0, timeout=120, companion=None, on_start=None):
        """Instance a with the calendar moved by offset_ms, killed with
        SIGKILL n_kills times at random moments (then started again), and
        once more when pred() holds; companion: the process of a second
        instance in the group, killed at the end; on_start(): called once
        the first start loaded its state."""
        for k in range(n_kills + 1):
            log_path = os.path.join(s.work, "a.log")
            since = os.path.getsize(log_path) if os.path.exists(log_path) else 0
            p = s.start(conf, "a", env={"CB_TEST_CALENDAR_OFFSET_MS": str(offset_ms)})
            if not wait_loaded(s, "a", p, since):
                raise SystemExit("instance did not load its state (%s)" % what)
            if k == 0 and on_start:
                on_start()
            deadline = time.time() + (rnd.uniform(0.2, 2.5) if k < n_kills else timeout)
            while time.time() < deadline and p.poll() is None:
                if k == n_kills and pred():
                    break
                time.sleep(0.1)
            if p.poll() is not None:
                raise SystemExit("%s: the instance exited with %s" % (what, p.returncode))
            if k == n_kills and not pred():
                raise SystemExit("%s: not reached within %d s" % (what, timeout))
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills[0] += 1
        if companion:
            if companion.poll() is not None:
                raise SystemExit("%s: instance b exited with %s" % (what, companion.returncode))
            companion.send_signal(signal.SIGKILL)
            companion.wait()
        log("%s: killed %d time(s); %d CA effect(s) so far" % (what, n_kills + 1,
                                                             len(s.ca.ledger())))

    def slice_ids(path):
        return {json.loads(l)["event_id"] for l in open(path, encoding="utf-8")
                if l.strip().startswith("{") and "event_id" in l}

    # 1-2. the two slices, read on two days; killed at random moments while they open requests
    first = gated & set(events)
    run(day_ms[0], "day 0", lambda: s.lag() == 0 and awaiting(outcomes()) >= (
        gated & slice_ids(s.events + ".0")), n_kills=1)
    second_path = s.slices[0] if s.slices else None
    s.produce_next()
    run(day_ms[1], "day 1", lambda: s.lag() == 0 and awaiting(outcomes()) >= (
        gated & slice_ids(second_path)), n_kills=1)
    recs = outcomes()
    last = latest(recs)
    waiting = [o for o in last.values()
               if o["status"] == "AWAITING_APPROVAL" and o.get("final", True) is False]
    requests = collections.defaultdict(list)
    for o in waiting:
        requests[o["approval_request_id"]].append(o)

    def agency(e):
        ev = events[e]
        if "person" in ev:
            return ev["org"]["code"]
        return ev["org"].get("parent_code") or ev["org"]["code"]

    day_of = {e: 0 for e in slice_ids(s.events + ".0")}
    day_of.update({e: 1 for e in slice_ids(second_path)})
    bad_group = [o["outcome_id"] for o in waiting
                 if o["managing_agency_code"] != agency(o["source_event_id"])
                 or o["approval_request_id"] != "%s-%s" % (agency(o["source_event_id"]),
                                                           ymd[day_of[o["source_event_id"]]])
                 or o["action"] != "REVOKE"]
    expect("AWAITING_APPROVAL for every REVOKE", {o["source_event_id"] for o in waiting} == first,
           "%d events, %d expected" % (len({o["source_event_id"] for o in waiting}), len(first)))
    expect("requests per agency and day", not bad_group and len(requests) == 4,
           "%s %s" % (sorted((r, len(v)) for r, v in requests.items()), bad_group[:3]))
    expect("nothing revoked while awaiting", not [e for e in s.ca.ledger() if e["op"] == "revoke"],
           "")
    if len(requests) != 4:
        return fails
    org_ag = {agency(e) for e in events if "person" not in events[e]}
    r_org = sorted(r for r in requests if r.rsplit("-", 1)[0] in org_ag)
    r_per = sorted(r for r in requests if r not in r_org)
    r_all, r_cancel, r_subset, r_reject = r_org[0], r_org[1], r_per[0], r_per[1]
    ids = {r: sorted(o["outcome_id"] for o in v) for r, v in requests.items()}
    subset = ids[r_subset][:max(1, len(ids[r_subset]) // 2)]
    victim = sorted({o["source_event_id"] for o in requests[r_cancel]})[0]
    victim_ids = sorted(o["outcome_id"] for o in requests[r_cancel]
                        if o["source_event_id"] == victim)

    # 3. a CANCELLED event stops the victim while it awaits approval
    src = events[victim]
    cx = {"event_id": "cx-" + victim, "event_type": "CANCELLED", "occurred_at": src["occurred_at"],
          "effective_date": src["effective_date"], "source_system": src["source_system"],
          "org": dict(src["org"], address=victim)}
    cancels = os.path.join(s.work, "cancels.jsonl")
    workload.write_jsonl(cancels, [cx])
    s.tool("produce", s.bootstrap, s.org_topic, s.person_topic, cancels)
    run(day_ms[1], "cancellation",
        lambda: s.lag() == 0 and "cx-%s/0" % victim in latest(outcomes()))

    # 4. the approvals, signed by cbsign; killed at random moments while they are read and run
    reason = "Quyết định nghỉ việc đã bị thu hồi / the departure decision was withdrawn"
    cbsign = os.path.join(s.build, "tests", "cbsign")

    def approval(rid, decision, doc, action_ids=None, why=None, sign=True, tamper=False):
        a = {"request_id": rid, "decision": decision, "approver_name": APPROVER[0],
             "approver_title": APPROVER[1], "document_number": doc,
             "document_date": "2025-07-01", "signed_at": int(time.time() * 1000)}
        if action_ids:
            a["action_ids"] = action_ids
        if why:
            a["reason"] = why
        text = json.dumps(a, ensure_ascii=False)
        if sign:
            r = subprocess.run([cbsign, "--key", key, "--cert", cert, "-"], input=text,
                               capture_output=True, text=True)
            if r.returncode:
                raise SystemExit("cbsign: %s" % r.stderr)
            text = r.stdout.strip()
        if tamper:
            a = json.loads(text)
            a["document_number"] = "9999/UBND-KGVX"
            text = json.dumps(a, ensure_ascii=False)
        return {"topic": approval_topic, "partition": 0, "key": rid.encode().hex(),
                "value": text.encode().hex()}

    unknown = "000.00.99.H19-20990101"
    batch = [approval(r_all, "APPROVED", "1234/UBND-KGVX"),
             approval(r_subset, "APPROVED", "1235/UBND-KGVX", action_ids=subset),
             approval(r_reject, "REJECTED", "1236/UBND-KGVX", why=reason),
             approval(r_all, "APPROVED", "1237/UBND-KGVX"),
             approval(unknown, "APPROVED", "1238/UBND-KGVX"),
             approval(r_cancel, "APPROVED", "1239/UBND-KGVX", sign=False),
             approval(r_cancel, "APPROVED", "1240/UBND-KGVX", tamper=True),
             approval(r_cancel, "APPROVED", "1241/UBND-KGVX", action_ids=victim_ids)]
    raw = os.path.join(s.work, "approvals.jsonl")
    workload.write_jsonl(raw, batch)
    approved = set(ids[r_all]) | set(subset)

    def dead():
        return [d for d in (json.loads(l) for l in
                            s.tool("dlq", s.bootstrap, s.dlq_topic).splitlines() if l)
                if d["source_topic"] == approval_topic]

    def settled():
        last = latest(outcomes())
        return (s.lag() == 0 and len(dead()) >= 5
                and all(last.get(a, {}).get("final") for a in approved | set(ids[r_reject])))

    # a second instance joins the group: the partitions split, so an approval may be read by
    # an instance that owns none of the events it decides (the shared records carry it over)
    conf_b = s.conf("b", "cb-b", {"kafka.group.instance.id": "approval-b",
                                  "kafka.session.timeout.ms": "10000",
                                  "policy.approval": "revoke",
                                  "policy.approval_signature": "required",
                                  "policy.approval_trust_anchors": anchors,
                                  "policy.approval_crl_file": crl,
                                  "input.approval_topic": approval_topic})
    b = s.start(conf_b, "b", env={"CB_TEST_CALENDAR_OFFSET_MS": str(day_ms[1])})
    if not wait_loaded(s, "b", b, 0):
        raise SystemExit("instance b did not load its state")

    def split_then_produce():
        """Once b gave a its share of the partitions (a loaded it: run()
        waited for that), the approvals are produced."""
        if not _hold_wait(s, b, "partitions split",
                          lambda: re.search(r"revoked [1-9]", _log_text(s, "b")), 90):
            raise SystemExit("the partitions did not split between a and b")
        s.tool("produce-raw", s.bootstrap, raw)

    run(day_ms[1], "approvals", settled, n_kills=rnd.randint(2, 3), companion=b,
        on_start=split_then_produce)
    # which instance decided each request, which ran its events (their log lines)
    decided_by, ran_by = collections.defaultdict(set), collections.defaultdict(set)
    for name in ("a", "b"):
        text = _log_text(s, name)
        for m in re.finditer(r"approval of request (\S+): (?:approved|rejected)", text):
            decided_by[m.group(1)].add(name)
        for m in re.finditer(r"approval request (\S+) decided", text):
            ran_by[m.group(1)].add(name)
    across = sorted(r for r in decided_by if ran_by[r] - decided_by[r])
    recs = outcomes()
    last = latest(recs)
    ledger = s.ca.ledger()
    finals = collections.defaultdict(int)
    for o in recs:
        if o.get("final", True):
            finals[o["outcome_id"]] += 1
    dup = sorted(k for k, n in finals.items() if n > 1)
    doc = {r_all: "1234/UBND-KGVX ngày 01/7/2025", r_subset: "1235/UBND-KGVX ngày 01/7/2025",
           r_reject: "1236/UBND-KGVX ngày 01/7/2025"}
    who = "%s, %s" % APPROVER
    ev_of = {a: last[a]["source_event_id"] for a in approved}
    bad_appr = [a for a in approved
                if last[a]["status"] != "AWAITING_APPROVAL" or last[a].get("final") is not True
                or last[a]["document_number"] != doc[last[a]["approval_request_id"]]
                or last[a]["approver"] != who]
    # the approved events' REVOKEs ran, each carrying the approval
    revokes = [o for o in last.values() if o["action"] == "REVOKE" and "/approval/" not in
               o["outcome_id"] and o.get("final", True)]
    ran = {o["source_event_id"] for o in revokes}
    bad_ran = [o["outcome_id"] for o in revokes
               if o["source_event_id"] not in set(ev_of.values())
               or o["document_number"] != doc.get(o["approval_request_id"])
               or o["approver"] != who]
    missing = sorted(set(ev_of.values()) - ran)
    bad_rej = [a for a in ids[r_reject] if last[a]["status"] != "REJECTED"
               or last[a]["error_message"] != reason or last[a]["approver"] != who]
    left = [a for a in (set(ids[r_subset]) - set(subset)) | (set(ids[r_cancel]) - set(victim_ids))
            if last[a]["status"] != "AWAITING_APPROVAL" or last[a].get("final") is not False]
    bad_cx = [a for a in victim_ids if last[a]["status"] != "CANCELLED"]
    revoked = collections.Counter(e["serial"] for e in ledger if e["op"] == "revoke")
    # the CA call carried the approving document: the reference CA's ledger
    # keeps it (read from its store: `certbridge-refca ledger` does not print it)
    import sqlite3
    db = sqlite3.connect(os.path.join(s.ca.state, "refca.db"))
    kept = db.execute("SELECT op, serial, document_number FROM ledger").fetchall()
    db.close()
    doc_of = {o["certificate_serial"]: o["document_number"] for o in revokes}
    bad_doc = [(op, serial, d) for op, serial, d in kept
               if (op == "revoke" and d != doc_of.get(serial)) or (op != "revoke" and d)]
    succeeded = {o["certificate_serial"] for o in revokes if o["status"] == "SUCCEEDED"}
    dl = dead()
    msgs = [d["error_message"] for d in dl]
    want = ["duplicate approval of request %s" % r_all,
            "unknown approval request %s" % unknown,
            "not signed, and policy.approval_signature=required",
            "does not match the approval's content",
            "comes after its %d action(s) were cancelled" % len(victim_ids)]
    expect("approved: ended with the approval", not bad_appr and approved,
           "%d of %d %s" % (len(bad_appr), len(approved), bad_appr[:3]))
    expect("approved events ran", not missing, str(missing[:3]))
    expect("REVOKEs only of approved events", not bad_ran, str(bad_ran[:3]))
    expect("CA revocations = approved REVOKEs", set(revoked) == succeeded
           and all(n == 1 for n in revoked.values()),
           "%d revoked, %d outcomes" % (len(revoked), len(succeeded)))
    expect("CA calls carry the document number", not bad_doc, str(bad_doc[:3]))
    expect("rejected: REJECTED with the reason", not bad_rej and ids[r_reject], str(bad_rej[:3]))
    expect("not approved: still awaiting", not left, str(left[:3]))
    expect("cancelled: CANCELLED, never ran", not bad_cx and victim not in ran, str(bad_cx))
    expect("bad approvals: dead letters", len(dl) == 5 and all(
        sum(w in m for m in msgs) == 1 for w in want), json.dumps(msgs, ensure_ascii=False)[:600])
    expect("one final record per outcome", not dup, "%d %s" % (len(dup), dup[:3]))
    expect("killed at random moments", kills[0] >= 6, str(kills[0]))
    expect("decided on one instance, run on the other", across,
           "decided %s, ran %s" % (dict(decided_by), dict(ran_by)))
    print("EOS-SUMMARY " + json.dumps({"scenario": "approval", "events": s.args.events,
                                       "requests": len(requests), "approved": len(approved),
                                       "revoked": len(revoked), "kills": kills[0]}), flush=True)
    return fails


def scenario_state_topic_checks(s):
    """Issue 15: a state topic that exists with the wrong settings stops the
    instance at start with exit code 2 and says what to change: one not
    compacted (cleanup.policy=delete, the broker's default for a topic made
    by hand) and one with fewer partitions than the input topics (4)."""
    fails = []
    expect = _hold_expect(fails)
    s.produce_next = lambda: False  # no events: the instance must stop before any
    s.setup()
    cases = (("delete", 4, "has cleanup.policy=delete: it must be compact"),
             ("few", 1, "has 1 partitions, fewer than the 4 of the input topics"))
    for name, parts, want in cases:
        topic = "certbridge.state.%s-%d" % (name, os.getpid())
        s.tool("create-topic", s.bootstrap, topic, str(parts))
        p = s.start(s.conf(name, "cb-" + name, {"output.state_topic": topic}), name)
        try:
            rc = p.wait(120)
        except subprocess.TimeoutExpired:
            rc = _terminate(p, 30)
        text = _log_text(s, name)
        expect("%s: exit code 2" % name, rc == 2, "exit %s" % rc)
        expect("%s: says what is wrong" % name, want in text, text[-600:])
    return fails


SCENARIOS = {"ops": scenario_ops, "bulk": scenario_bulk, "crash": scenario_crash, "fence": scenario_fence,
             "split": scenario_split, "outage": scenario_outage,
             "huge_answer": scenario_huge_answer}
SCENARIOS["probe_hang"] = scenario_probe_hang
SCENARIOS.update(registry_missing=scenario_registry_missing,
                 registry_down=scenario_registry_down, big_dead_letter=scenario_big_dead_letter,
                 confluent_apicurio=scenario_confluent_apicurio)
SCENARIOS.update(async_crash=scenario_async_crash, async_split=scenario_async_split,
                 async_bound=scenario_async_bound, state_topic_checks=scenario_state_topic_checks)
SCENARIOS["cascade_5000"] = scenario_cascade_5000
SCENARIOS["scheduled"] = scenario_scheduled
SCENARIOS["cancel"] = scenario_cancel
SCENARIOS["approval"] = scenario_approval


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--build", required=True)
    ap.add_argument("--bootstrap-file", required=True)
    ap.add_argument("--events", type=int, default=None,
                    help="events in the workload (3000; 860 for async_crash and async_split)")
    ap.add_argument("--async-delay-ms", type=int, default=700,
                    help="async scenarios: when the CA completes a PENDING request")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--valgrind", action="store_true",
                    help="run every instance under valgrind memcheck and fail on any invalid "
                         "access or definite leak")
    args = ap.parse_args()
    if args.events is None:
        args.events = (860 if args.scenario.startswith("async_") else
                       60 if args.scenario == "approval" else
                       300 if args.scenario in ("scheduled", "cancel", "state_topic_checks") else 3000)
    s = Scenario(args)
    try:
        fails = SCENARIOS[args.scenario](s)
    finally:
        s.cleanup()
    if fails:
        log("FAILED: %s (work folder kept: %s)" % (", ".join(fails), s.work))
        sys.exit(1)
    if not args.keep:
        shutil.rmtree(s.work, ignore_errors=True)
    log("passed")


if __name__ == "__main__":
    main()
