#!/usr/bin/env python3
"""Faults of the real broker under `certbridge run`, each with the exactly-once
check of tests/integration/eos/ (docs/ARCHITECTURE.md §5 and §6).

    test_broker_faults.py FAULT --build BUILD_DIR [--events N] [--keep]

Each run starts a broker of its own (tests/harness/kafka_harness.py: own
storage in a temporary folder, own free ports), never the shared CTest
"kafka" fixture's, since it kills, pauses or restricts it. It stops it in a
finally block. Topics, events, the reference CA and the checks are those of
eos_test.py (Scenario, RefCA, check()).

Faults:
  broker-kill      the broker is killed with SIGKILL (--kills times) while
                   certbridge has committed progress and work left, at a
                   moment its transaction coordinator reports a transaction
                   of certbridge's open (DescribeTransactions: Ongoing, offsets
                   added), and restarted on the same storage and port once
                   certbridge logged the broker's loss. certbridge must recover by itself
                   (committed progress after each restart), drain the input
                   and exit 0 on SIGTERM; the exactly-once check must pass.
  broker-pause     the broker is paused (SIGSTOP, --pauses times) at the same
                   kind of point, once its transaction coordinator reports a
                   transaction of certbridge's open (Ongoing, offsets added),
                   for longer than certbridge's transaction timeout
                   (kafka.transaction.timeout.ms=10000 here), then resumed
                   (SIGCONT). certbridge's requests time out meanwhile; on
                   resume its abort (or a commit still buffered) races the
                   coordinator's abort of the expired transaction, which
                   bumps the producer epoch (certbridge is then fenced). Each
                   pause reports who ended the transaction; three pauses make
                   the fenced case likely in every run. Same expectations as
                   broker-kill, and at least one transaction aborted.
  outcome-denied   mid-run, an ACL denies writes to the outcome topic (the
                   broker runs the StandardAuthorizer; the topic stays
                   readable). certbridge must exit non-zero with an error line
                   naming the outcome topic, and what was committed must be
                   whole: per input partition, the outcomes and dead letters
                   cover exactly the offsets below the group's committed offset,
                   every committed event has all its outcomes, no duplicate,
                   the CA applied nothing twice.
  outcome-deleted  the same with the outcome topic deleted mid-run (the broker
                   does not auto-create topics). The deleted topic takes its
                   outcomes with it: only the exit, the error line naming the
                   topic and the CA ledger (nothing applied twice) are checked.
  drop-after-kills the reference CA applies 20% of mutating calls and then
                   drops the answer (--drop-after 0.2); certbridge is killed
                   with SIGKILL (--kills times) at event points: alternately
                   once the CA applied calls of the running instance (answers
                   possibly lost, not yet committed) and once it committed
                   progress. Then drained; the exactly-once check must pass
                   (CA double effects 0), and the client must have seen lost
                   answers (its retries, logged at debug level).

Every wait is tied to an event (committed offsets, log lines, CA ledger); the
deadlines only detect hangs. The only fixed duration is the pause's, which
is the fault itself. Each run prints its figures (EOS-SUMMARY line) and
"FAILED: ..." with the reasons, exit 1, when an expectation fails.
"""
import argparse
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

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "eos"))
sys.path.insert(0, os.path.join(SRC, "tests", "harness"))
import eos_test  # noqa: E402  (Scenario, RefCA, wait_assigned, metrics_port, http_get)
import kafka_harness  # noqa: E402

INPUT_PARTITIONS = 4
TXN_TIMEOUT_MS = 10000  # certbridge's transaction timeout in broker-pause
PAUSE_S = 2.5 * TXN_TIMEOUT_MS / 1000.0
HANG_S = 300  # a wait longer than this is a hang, not slowness
EXIT_WAIT_S = 180  # outcome-denied/-deleted: still running after this = not exiting
# a line certbridge logs once it lost the broker (librdkafka's connection
# errors are logged through cb_log at warn/error, module "kafka")
TROUBLE = re.compile(r'"level":"(warn|error)"')


def log(msg):
    print("broker-faults: " + msg, flush=True)


class Run:
    """One fault run: its broker, the eos Scenario on it, and the failures."""

    def __init__(self, args, broker_overrides=None):
        self.args = args
        self.root = tempfile.mkdtemp(prefix="cb-faults-%s-" % args.fault)
        self.state = os.path.join(self.root, "broker")
        self.failures = []
        self.t0 = time.time()
        self.broker_restarts = 0
        kafka_harness.start(self.state, 180, broker_overrides, owned=True)
        ns = argparse.Namespace(scenario=args.fault, build=args.build,
                                bootstrap_file=os.path.join(self.state, "bootstrap"),
                                events=args.events, seed=args.seed, kills=args.kills,
                                keep=args.keep, valgrind=False)
        try:
            self.s = eos_test.Scenario(ns)
        except BaseException:
            kafka_harness.stop(self.state)
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    # ---- observations ---------------------------------------------------

    def committed(self):
        """{(topic, partition): committed offset} of the group, or None while
        the broker does not answer."""
        s = self.s
        try:
            offs = kafka_harness.committed_offsets(
                self.state, s.group, {s.org_topic: INPUT_PARTITIONS,
                                      s.person_topic: INPUT_PARTITIONS})
        except OSError:
            return None
        return {(t, p): offs.get((t, p), -1) for t in (s.org_topic, s.person_topic)
                for p in range(INPUT_PARTITIONS)}

    def progress(self):
        """Input messages consumed and committed by the group (the input
        topics hold only cbtool's non-transactional records, so offsets are
        contiguous from 0), or None while the broker does not answer."""
        c = self.committed()
        return None if c is None else sum(max(0, o) for o in c.values())

    def log_size(self, name="a"):
        path = os.path.join(self.s.work, name + ".log")
        return os.path.getsize(path) if os.path.exists(path) else 0

    def log_since(self, since, name="a"):
        with open(os.path.join(self.s.work, name + ".log"), errors="replace") as f:
            f.seek(since)
            return f.read()

    def expect(self, name, ok, detail=""):
        log("%-44s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            self.failures.append(name)
        return ok

    # ---- waits (events; the deadline only detects a hang) ----------------

    def wait_in_flight(self, p, above):
        """Waits until the group committed more than `above` messages while
        some produced ones are still uncommitted: a point with committed
        progress and work in flight. Produces the next slice when the
        instance drained what it had. Returns the progress, or None when the
        instance exited, the input ran out or nothing moved within HANG_S."""
        s = self.s
        deadline = time.time() + HANG_S
        while time.time() < deadline:
            if p.poll() is not None:
                log("the instance exited with %d" % p.returncode)
                return None
            n = self.progress()
            if n is not None and n > above:
                if n < s.produced:
                    return n
                if not s.produce_next():
                    log("the input was drained before a fault point")
                    return None
                above = n
            time.sleep(0.02)
        log("no committed progress above %d within %d s" % (above, HANG_S))
        return None

    def wait_progress_known(self):
        """The group's committed progress once the broker answers OffsetFetch
        again (after a restart the coordinator first loads its state)."""
        deadline = time.time() + HANG_S
        while time.time() < deadline:
            n = self.progress()
            if n is not None:
                return n
            time.sleep(0.2)
        raise SystemExit("the broker's group coordinator did not answer within %d s" % HANG_S)

    def wait_txn_ongoing(self, p, txn_id):
        """Polls the coordinator until txn_id has a transaction open
        (state Ongoing) with consumer offsets added to it, and returns its
        description; None when none was seen while work was left (the
        instance exited or drained)."""
        deadline = time.time() + HANG_S
        while time.time() < deadline and p.poll() is None:
            try:
                d = kafka_harness.describe_transaction(self.state, txn_id)
            except OSError:
                d = None
            if d and d["state"] == "Ongoing" and any(
                    t == "__consumer_offsets" for t, _ in d["partitions"]):
                return d
            n = self.progress()
            if n is not None and n >= self.s.produced and not self.s.produce_next():
                return None
        return None

    def wait_txn_ended(self, txn_id):
        """Waits until the coordinator no longer holds txn_id's transaction
        open and returns its description (a new epoch: the coordinator
        aborted it); the last description seen after HANG_S."""
        deadline = time.time() + HANG_S
        d = None
        while time.time() < deadline:
            try:
                d = kafka_harness.describe_transaction(self.state, txn_id)
                if d["error"] == 0 and d["state"] != "Ongoing":
                    return d
            except OSError:
                pass
            time.sleep(0.05)
        return d

    def wait_drained(self, p):
        """Waits until everything produced is committed; False when the
        instance exited first or nothing moved for HANG_S."""
        s = self.s
        last, last_t = -1, time.time()
        while True:
            n = self.progress()
            if n is not None and n >= s.produced:
                return True
            if p.poll() is not None:
                log("the instance exited with %d before the input was drained" % p.returncode)
                return False
            if n is not None and n != last:
                last, last_t = n, time.time()
            if time.time() - last_t > HANG_S:
                log("no committed progress for %d s (at %s of %d)" % (HANG_S, last, s.produced))
                return False
            time.sleep(0.1)

    def wait_log(self, since, pattern, p, timeout):
        """The first line after byte `since` of a.log matching pattern, or
        None after timeout (or when the instance exited)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.log_since(since).splitlines():
                if pattern.search(line):
                    return line
            if p.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    # ---- end of a run ---------------------------------------------------

    def aborted_txns(self, name="a"):
        """certbridge_transactions_total{result="aborted"} of a running
        instance, or None."""
        try:
            port = eos_test.metrics_port(self.s, name, timeout=5)
            code, text = eos_test.http_get(port, "/metrics")
        except (SystemExit, OSError):
            return None
        m = re.search(r'certbridge_transactions_total\{result="aborted"\} (\d+)', text)
        return int(m.group(1)) if code == 200 and m else None

    def finish(self, p, conf):
        """SIGTERM for a live instance (exit 0 expected); a dead one is
        reported and the input drained by fresh instances so the
        exactly-once check still runs. Returns the figures."""
        fig = {}
        if p.poll() is None:
            fig["aborted_transactions"] = self.aborted_txns()
            p.send_signal(signal.SIGTERM)
            try:
                fig["sigterm_exit_code"] = p.wait(120)
            except subprocess.TimeoutExpired:
                fig["sigterm_exit_code"] = None
                p.kill()
                p.wait()
            self.expect("SIGTERM after the faults: exit 0", fig["sigterm_exit_code"] == 0,
                        str(fig["sigterm_exit_code"]))
        else:
            fig["exit_code"] = p.returncode
            self.expect("instance alive until the end", False,
                        "exited %d; last lines:\n%s" % (p.returncode, self.tail()))
            fig["drain_exit_code"] = self.s.drain(conf, "a")
        return fig

    def tail(self, name="a", n=12):
        lines = open(os.path.join(self.s.work, name + ".log"), errors="replace").readlines()
        return "".join("    " + l for l in lines[-n:])

    def trouble_lines(self, since, n=14):
        """The distinct warn/error messages certbridge logged after `since`."""
        seen = collections.OrderedDict()
        for line in self.log_since(since).splitlines():
            if TROUBLE.search(line) and "dead letter " not in line:
                try:
                    rec = json.loads(line)
                    key = "%s %s: %s" % (rec["level"], rec["module"], rec["msg"])
                except ValueError:
                    key = line
                key = re.sub(r"\d+", "N", key)[:220]
                seen[key] = seen.get(key, 0) + 1
        return ["%dx %s" % (c, k) for k, c in list(seen.items())[:n]]

    def close(self):
        failed = bool(self.failures)
        try:
            self.s.cleanup()
        finally:
            if failed or self.args.keep:
                for f in ("broker.log", "stdout.log"):
                    if os.path.exists(os.path.join(self.state, f)):
                        shutil.copy(os.path.join(self.state, f),
                                    os.path.join(self.s.work, "broker-" + f))
            kafka_harness.stop(self.state)
            shutil.rmtree(self.root, ignore_errors=True)
            if failed or self.args.keep:
                log("work folder kept: %s" % self.s.work)
            else:
                shutil.rmtree(self.s.work, ignore_errors=True)


# ---- the faults ----------------------------------------------------------


def fault_point(r, p, above, what):
    n = r.wait_in_flight(p, above)
    if n is None:
        r.failures.append("no fault point (%s)" % what)
        return None
    log("%s: committed %d of %d produced" % (what, n, r.s.produced))
    return n


def broker_kill(r):
    s = r.s
    s.setup(ca_extra=["--latency-ms", "3"], partitions=INPUT_PARTITIONS, slices=r.args.kills + 1)
    conf = s.conf("a", "cb-a", {"kafka.transaction.timeout.ms": str(r.args.txn_timeout_ms)}
                  if r.args.txn_timeout_ms else None)
    a = s.start(conf, "a")
    if not r.expect("instance assigned", eos_test.wait_assigned(s, "a", a, 0)):
        return {}
    above, kills, ongoing = 0, 0, 0
    for i in range(r.args.kills):
        # the first point: committed progress with work in flight; the next
        # ones also prove the recovery (progress after the restart)
        n = fault_point(r, a, above, "kill %d" % (i + 1) if i == 0 else
                        "kill %d (committed progress after restart %d)" % (i + 1, i))
        if n is None:
            break
        # killed while the coordinator holds an open transaction of
        # certbridge's (offsets added, commit under way): the restarted
        # coordinator finds it in its log
        txn = r.wait_txn_ongoing(a, "cb-a")
        if txn is None:
            r.failures.append("no open transaction before kill %d" % (i + 1))
            break
        since = r.log_size()
        kafka_harness.kill(r.state)
        kills += 1
        ongoing += txn is not None
        log("the coordinator's transaction at the kill: %s"
            % (txn and "%s, epoch %d, partitions %s" % (txn["state"], txn["epoch"],
                                                        txn["partitions"])))
        t_kill = time.time()
        line = r.wait_log(since, TROUBLE, a, 60)
        log("certbridge noticed after %.1f s: %s" % (time.time() - t_kill,
                                                    (line or "nothing")[:300]))
        kafka_harness.restart(r.state, 180, owned=True)
        r.broker_restarts += 1
        log("broker down for %.1f s" % (time.time() - t_kill))
        above = r.wait_progress_known()
        for l in r.trouble_lines(since):
            log("  after kill %d: %s" % (i + 1, l))
    while s.produce_next():
        pass
    r.expect("drained after the broker kills", r.wait_drained(a), "%d events" % s.produced)
    fig = r.finish(a, conf)
    r.expect("kills with a transaction open at the coordinator", ongoing > 0,
             "%d of %d" % (ongoing, kills))
    fig.update(broker_kills=kills, kills_txn_ongoing=ongoing)
    if kills < r.args.kills:
        r.failures.append("kills")
    return fig


def broker_pause(r):
    s = r.s
    s.setup(ca_extra=["--latency-ms", "3"], partitions=INPUT_PARTITIONS,
            slices=r.args.pauses + 1)
    conf = s.conf("a", "cb-a", {"kafka.transaction.timeout.ms": str(TXN_TIMEOUT_MS)})
    a = s.start(conf, "a")
    if not r.expect("instance assigned", eos_test.wait_assigned(s, "a", a, 0)):
        return {}
    above, pauses, ongoing, fenced = 0, 0, 0, 0
    for i in range(r.args.pauses):
        what = "pause %d" % (i + 1) if i == 0 else \
            "pause %d (committed progress after pause %d)" % (i + 1, i)
        if fault_point(r, a, above, what) is None:
            break
        # the moment the coordinator holds an open transaction of
        # certbridge's with its offsets added (outcomes produced, offsets and
        # commit under way, the state it is seen in most): paused past its
        # timeout, the coordinator aborts it with a new producer epoch when
        # it runs again, so certbridge's abort or commit meets a fenced producer
        txn = r.wait_txn_ongoing(a, "cb-a")
        if txn is None:
            r.failures.append("no open transaction before pause %d" % (i + 1))
            break
        since = r.log_size()
        kafka_harness.pause(r.state)
        t_pause = time.time()
        try:
            time.sleep(PAUSE_S)  # the fault is the pause's length
        finally:
            kafka_harness.resume(r.state)
        pauses += 1
        ongoing += txn is not None
        log("broker paused for %.1f s (transaction timeout %d ms); the coordinator's "
            "transaction at the pause: %s" % (time.time() - t_pause, TXN_TIMEOUT_MS,
                                              txn and "%s for %d ms, epoch %d, partitions %s"
                                              % (txn["state"], int(t_pause * 1000)
                                                 - txn["start_ms"], txn["epoch"],
                                                 txn["partitions"])))
        d = r.wait_txn_ended("cb-a")
        log("the coordinator then ended it: %s, epoch %s%s"
            % (d and d["state"], d and d["epoch"],
               " (a new epoch: aborted by the coordinator, certbridge's producer fenced)"
               if d and txn and d["epoch"] != txn["epoch"] else ""))
        fenced += bool(d and txn and d["epoch"] != txn["epoch"])
        above = r.wait_progress_known()
        for l in r.trouble_lines(since):
            log("  after pause %d: %s" % (i + 1, l))
    m = r.wait_in_flight(a, above) if pauses == r.args.pauses else None
    r.expect("committed progress after the last pause", m is not None, str(m))
    while s.produce_next():
        pass
    r.expect("drained after the pauses", r.wait_drained(a), "%d events" % s.produced)
    fig = r.finish(a, conf)
    # the pauses must have failed a transaction (else the test proved nothing)
    if "aborted_transactions" in fig:
        r.expect("the pauses failed transactions (aborted >= 1)",
                 (fig["aborted_transactions"] or 0) >= 1, str(fig["aborted_transactions"]))
    r.expect("pauses with a transaction open at the coordinator", ongoing > 0,
             "%d of %d" % (ongoing, pauses))
    fig.update(pauses=pauses, pauses_txn_ongoing=ongoing, coordinator_aborted=fenced,
               pause_s=PAUSE_S,
               txn_timeout_ms=TXN_TIMEOUT_MS)
    return fig


def outcome_denied(r):
    return outcome_unwritable(r, deleted=False)


def outcome_deleted(r):
    return outcome_unwritable(r, deleted=True)


def outcome_unwritable(r, deleted):
    s = r.s
    s.setup(ca_extra=["--latency-ms", "3"], partitions=INPUT_PARTITIONS, slices=2)
    topic = s.outcome_topic
    K = kafka_harness
    if not deleted:
        # everything allowed on the outcome topic (once a topic has an ACL,
        # what none allows is denied); the deny comes mid-run
        res = K.create_acls(r.state, [(K.ACL_TOPIC, topic, K.ACL_LITERAL, "User:*", "*",
                                       K.ACL_ALL, K.ACL_ALLOW)])
        if res != [(0, "")] and res != [(0, None)]:
            raise SystemExit("CreateAcls (allow) failed: %s" % res)
    conf = s.conf("a", "cb-a")
    a = s.start(conf, "a")
    if not r.expect("instance assigned", eos_test.wait_assigned(s, "a", a, 0)):
        return {}
    n = fault_point(r, a, 0, "outcome topic %s" % ("deleted" if deleted else "denied"))
    if n is None:
        return {}
    since = r.log_size()
    if deleted:
        res = K.delete_topics(r.state, [topic])
        if res != {topic: 0}:
            raise SystemExit("DeleteTopics failed: %s" % res)
        log("%s deleted (the broker does not create topics)" % topic)
    else:
        res = K.create_acls(r.state, [(K.ACL_TOPIC, topic, K.ACL_LITERAL, "User:*", "*",
                                       K.ACL_WRITE, K.ACL_DENY)])
        if res != [(0, "")] and res != [(0, None)]:
            raise SystemExit("CreateAcls (deny) failed: %s" % res)
        log("writes to %s denied" % topic)
    t_deny = time.time()
    s.produce_next()
    exited = True
    try:
        rc = a.wait(EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        exited = False
        rc = None
    took = time.time() - t_deny
    after = r.log_since(since)
    for l in r.trouble_lines(since):
        log("  after it: %s" % l)
    if not exited:
        r.expect("certbridge exits (topic unwritable)", False,
                 "still running %d s after the topic became unwritable; last lines:\n%s"
                 % (EXIT_WAIT_S, r.tail()))
        a.send_signal(signal.SIGTERM)
        try:
            log("SIGTERM: exit %s" % a.wait(120))
        except subprocess.TimeoutExpired:
            a.kill()
            a.wait()
            log("SIGTERM: no exit within 120 s, killed")
    else:
        log("certbridge exited %d %.1f s after the topic became unwritable" % (rc, took))
        r.expect("exit code non-zero", rc != 0, str(rc))
        errors = [l for l in after.splitlines()
                  if (l.startswith("certbridge run:") or '"level":"error"' in l)]
        naming = [l for l in errors if topic in l]
        r.expect("an error line names the outcome topic", bool(naming),
                 (naming[0] if naming else "error lines: %s" % errors[-3:])[:400])
    if deleted:
        fig = ledger_once(r)
    else:
        fig = committed_whole(r)
    fig.update(exit_code=rc, exited=exited)
    return fig


def ledger_once(r):
    """The check of outcome-deleted: the deleted topic took its outcomes
    with it, so only the CA ledger (nothing applied twice) and the committed
    offsets (not beyond the produced events) can be checked."""
    s = r.s
    ledger = s.ca.ledger()
    effects = collections.Counter(
        (e["op"], e["device_id"] if e["op"] == "recall" else e["serial"]) for e in ledger)
    double = sum(c - 1 for c in effects.values() if c > 1)
    progress = r.progress()
    r.expect("CA double effects", double == 0, str(double))
    log("committed offsets: %s of %d produced events; CA effects %d"
        % (progress, s.produced, len(ledger)))
    return {"scenario": s.args.scenario, "events": s.args.events, "produced": s.produced,
            "committed_events": progress, "ca_effects": len(ledger),
            "ca_double_effects": double}


def committed_whole(r):
    """The check of outcome-denied: what was committed is whole and nothing
    beyond the committed offsets is."""
    s = r.s
    committed = r.committed()
    outcomes = [json.loads(l) for l in
                s.tool("outcomes", s.bootstrap, s.outcome_topic).splitlines() if l]
    dead = [json.loads(l) for l in s.tool("dlq", s.bootstrap, s.dlq_topic).splitlines() if l]
    ledger = s.ca.ledger()
    exp = s.expected["outcomes"]
    by_event = collections.defaultdict(set)
    for k in exp:
        by_event[k.rsplit("/", 1)[0]].add(k)

    counts = collections.Counter(o["outcome_id"] for o in outcomes)
    duplicates = sum(c - 1 for c in counts.values() if c > 1)
    unexpected = [i for i in counts if i not in exp]
    wrong = [o["outcome_id"] for o in outcomes if o["outcome_id"] in exp
             and (o["action"], o["status"]) != exp[o["outcome_id"]]]
    seen_events = {o["source_event_id"] for o in outcomes}
    partial = [e for e in seen_events
               if e in by_event and not by_event[e] <= set(counts)]
    covered = collections.defaultdict(set)
    for o in outcomes:
        covered[(o["source_topic"], o["source_partition"])].add(o["source_offset"])
    for d in dead:
        covered[(d["source_topic"], d["source_partition"])].add(d["source_offset"])
    beyond, holes = [], []
    for tp, off in sorted(committed.items()):
        c = max(0, off)
        got = covered.pop(tp, set())
        beyond += [(tp, o) for o in sorted(got) if o >= c]
        holes += [(tp, o) for o in range(c) if o not in got]
    beyond += [(tp, o) for tp, offs in covered.items() for o in offs]  # unknown partitions
    effects = collections.Counter(
        (e["op"], e["device_id"] if e["op"] == "recall" else e["serial"]) for e in ledger)
    double = sum(c - 1 for c in effects.values() if c > 1)
    opname = {"change-info": "CHANGE_INFO", "revoke": "REVOKE", "recall": "RECALL_DEVICE"}
    ledger_set = {(opname.get(op, op), t) for (op, t) in effects}
    applied = {(o["action"], o["device_id"] if o["action"] == "RECALL_DEVICE"
                else o["certificate_serial"]) for o in outcomes if o["status"] == "SUCCEEDED"
               and o["action"] in ("CHANGE_INFO", "REVOKE", "RECALL_DEVICE")}
    progress = sum(max(0, o) for o in committed.values())

    log("committed offsets: %d of %d produced events; %d outcomes, %d dead letters"
        % (progress, s.produced, len(outcomes), len(dead)))
    r.expect("some progress committed before the fault", progress > 0, str(progress))
    r.expect("duplicate outcomes", duplicates == 0, str(duplicates))
    r.expect("unexpected outcomes", not unexpected, "%d %s" % (len(unexpected), unexpected[:5]))
    r.expect("outcome action/status", not wrong, "%d %s" % (len(wrong), wrong[:3]))
    r.expect("events with part of their outcomes", not partial, "%d %s" % (len(partial),
                                                                           partial[:5]))
    r.expect("outcomes/dead letters beyond the offsets", not beyond,
             "%d %s" % (len(beyond), beyond[:5]))
    r.expect("offsets below the committed ones uncovered", not holes,
             "%d %s" % (len(holes), holes[:5]))
    r.expect("CA double effects", double == 0, str(double))
    r.expect("committed outcome without CA effect", not applied - ledger_set,
             "%d" % len(applied - ledger_set))
    log("CA effects not (yet) committed as outcomes: %d (replayed idempotently on the next run)"
        % len(ledger_set - applied))
    fig = {"scenario": s.args.scenario, "events": s.args.events, "produced": s.produced,
           "committed_events": progress, "outcomes": len(outcomes), "duplicates": duplicates,
           "partial_events": len(partial), "beyond_offsets": len(beyond), "holes": len(holes),
           "dead_letters": len(dead), "ca_effects": len(ledger), "ca_double_effects": double}
    return fig


def drop_after_kills(r):
    s = r.s
    s.setup(ca_extra=["--latency-ms", "3", "--drop-after", "0.2"], partitions=INPUT_PARTITIONS,
            slices=r.args.kills)
    extra = {"kafka.group.instance.id": "drop-a", "kafka.session.timeout.ms": "10000",
             "log.level": "debug"}  # the CA client's retries are logged at debug
    conf = s.conf("a", "cb-a", extra)
    kills = after_progress = after_ca = 0
    while kills < r.args.kills:
        since = r.log_size()
        if r.wait_progress_known() >= s.produced:
            s.produce_next()
        before = r.wait_progress_known()
        ledger0 = len(s.ca.ledger())
        p = s.start(conf, "a")
        if not eos_test.wait_assigned(s, "a", p, since):
            raise SystemExit("instance got no assignment within 90 s")
        # odd kills: once the CA applied a call of this instance (its answer
        # may be one of those dropped) ; even kills: once it committed
        by_ca = kills % 2 == 0
        deadline = time.time() + HANG_S
        hit = False
        while time.time() < deadline and p.poll() is None:
            if by_ca and len(s.ca.ledger()) > ledger0:
                hit = True
                break
            if not by_ca and (r.progress() or 0) > before:
                hit = True
                break
            if (r.progress() or 0) >= s.produced and not s.produce_next():
                break
            time.sleep(0.02 if not by_ca else 0.05)
        if p.poll() is not None:
            r.failures.append("instance exited %d before kill %d" % (p.returncode, kills + 1))
            log("instance exited %d:\n%s" % (p.returncode, r.tail()))
            break
        p.send_signal(signal.SIGKILL)
        p.wait()
        if not hit:
            log("kill %d: no %s point reached" % (kills + 1, "CA" if by_ca else "commit"))
        kills += 1
        after = r.wait_progress_known()
        after_ca += by_ca and hit
        after_progress += after > before
        log("kill %d (%s): committed %d -> %d of %d, CA ledger %d -> %d"
            % (kills, "after CA effects" if by_ca else "after a commit", before, after,
               s.produced, ledger0, len(s.ca.ledger())))
    while s.produce_next():
        pass
    rc = s.drain(conf, "a")
    # answers the CA dropped after applying the call: the client saw the
    # connection close and retried (same idempotency key)
    lost = len(re.findall(r'"module":"ca_client","msg":"[a-z-]+ attempt \d+: (?!HTTP )',
                          r.log_since(0)))
    r.expect("CA answers lost and retried", lost > 0, str(lost))
    r.expect("kills after committed progress", after_progress > 0, str(after_progress))
    r.expect("kills after uncommitted CA effects", after_ca > 0, str(after_ca))
    return {"kills": kills, "kills_after_progress": after_progress,
            "kills_after_ca_effects": after_ca, "ca_answers_lost": lost, "exit_code": rc}


FAULTS = {
    "broker-kill": (broker_kill, None, True),
    "broker-pause": (broker_pause, None, True),
    "outcome-denied": (outcome_denied, dict(kafka_harness.ACL_AUTHORIZER, **{
        "auto.create.topics.enable": "false"}), False),
    "outcome-deleted": (outcome_deleted, {"auto.create.topics.enable": "false"}, False),
    "drop-after-kills": (drop_after_kills, None, True),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fault", choices=sorted(FAULTS))
    ap.add_argument("--build", required=True)
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--kills", type=int, default=None,
                    help="broker kills (broker-kill, default 2) or instance kills "
                         "(drop-after-kills, default 6)")
    ap.add_argument("--pauses", type=int, default=3, help="broker pauses (broker-pause)")
    ap.add_argument("--txn-timeout-ms", type=int, default=None,
                    help="broker-kill: certbridge's kafka.transaction.timeout.ms (below the "
                         "broker's restart time, the restarted coordinator expires the open "
                         "transaction)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    # A paused broker can leave librdkafka holding an internal transaction
    # request at exit (see the suppression file); only these tests accept it.
    supp = os.path.join(SRC, "tests", "harness", "lsan-librdkafka.supp")
    os.environ["LSAN_OPTIONS"] = ":".join(
        x for x in (os.environ.get("LSAN_OPTIONS"), "suppressions=" + supp) if x)
    if args.kills is None:
        args.kills = 6 if args.fault == "drop-after-kills" else 2
    fn, overrides, full_check = FAULTS[args.fault]
    r = Run(args, overrides)
    try:
        try:
            fig = fn(r) or {}
        except SystemExit as e:
            r.failures.append(str(e))
            fig = {}
        fig.update(fault=args.fault, broker_restarts=r.broker_restarts,
                   seconds=round(time.time() - r.t0))
        if full_check and (fig.get("sigterm_exit_code") is not None or "exit_code" in fig
                           or "drain_exit_code" in fig):
            r.failures += r.s.check(fig)
        else:
            print("EOS-SUMMARY " + json.dumps(fig), flush=True)
    finally:
        r.close()
    if r.failures:
        log("FAILED: %s" % ", ".join(r.failures))
        sys.exit(1)
    log("passed")


if __name__ == "__main__":
    main()
