#!/usr/bin/env python3
"""certbridge benchmark: throughput, latency, CPU and memory against a real
Kafka broker and the reference CA, beside a plain Python loop (README "Benchmarks").

Run through bench/run.sh (which builds, makes the venv and calls this with
its Python). For every row of the matrix (CA latency L x CA concurrency C):

  1. a copy of a pre-loaded reference CA state (every holder of the workload
     issued once, then copied per row, so each row starts from the same CA),
     served with --latency-ms L;
  2. fresh topics, and the first N events of one deterministic workload
     (tests/integration/eos/workload.py: every org and person event type,
     1 poison message in 97) produced as a backlog with `cbtool produce`;
  3. `certbridge run --drain-idle-ms` with ca.concurrency=C (or
     bench/python_loop.py), waited for with wait4() for its CPU time and peak
     RSS;
  4. the committed outcomes read back (read_committed, `cbtool outcomes`) and
     checked against the workload's expected outcome ids, actions and
     statuses; the input's produce timestamps read back for event latency.

Figures per row: actions/s (outcomes committed per second, from the
assignment to the last committed outcome), CA calls/s and their share of the
bound C/L, CA call latency p50/p99 (outcomes' latency_ms, calls only), event
latency p50/p99 (produce timestamp of the event to the timestamp of its last
outcome), peak RSS, CPU seconds per 1,000 actions (user+system of the whole
process, every thread). Results go to a JSON file, bench/RESULTS.md (between
its bench markers) and a PNG plot.
"""
import argparse
import collections
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "eos"))
import workload  # noqa: E402

CALL_ACTIONS = ("CHANGE_INFO", "REVOKE", "RECALL_DEVICE", "ISSUE")


def log(msg):
    print("bench: " + msg, flush=True)


def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q / 100.0 * (len(v) - 1)))))]


def wait_rusage(proc, timeout):
    """Waits for proc with wait4() (its CPU time, all threads); kills it
    after timeout seconds. Answers (exit code, rusage, timed_out, peak RSS
    KiB). The peak RSS is the process's VmHWM, sampled every 50 ms: wait4's
    ru_maxrss would include the RSS of this (large) Python process, which
    Linux carries over a fork and exec."""
    timed_out = []
    hwm = [0]
    done = threading.Event()

    def sample():
        path = "/proc/%d/status" % proc.pid
        while not done.wait(0.05):
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm[0] = max(hwm[0], int(line.split()[1]))
                            break
            except OSError:
                pass

    def watchdog():
        timed_out.append(True)
        try:
            proc.kill()
        except OSError:
            pass

    t = threading.Timer(timeout, watchdog)
    t.start()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, status, ru = os.wait4(proc.pid, 0)
    finally:
        t.cancel()
        done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, ru, bool(timed_out), hwm[0]


SAMPLE_S = 0.25  # the step cell's sampling period


class Rusage:
    """The summed CPU times of several processes (wait4's rusage each)."""

    def __init__(self, rus):
        self.ru_utime = sum(r.ru_utime for r in rus)
        self.ru_stime = sum(r.ru_stime for r in rus)


def goodput_series(series, window_s=1.0):
    """[(t, accepted calls/s over the last window_s)] from the samples: for
    each sample, the rate since the latest sample at least window_s
    before it."""
    out = []
    j = 0
    for i, smp in enumerate(series):
        while j + 1 < i and smp["t"] - series[j + 1]["t"] >= window_s:
            j += 1
        if j < i and smp["t"] - series[j]["t"] >= window_s:
            out.append((smp["t"], (smp["accepted"] - series[j]["accepted"])
                        / (smp["t"] - series[j]["t"])))
    return out


def steady_goodput(series, rate, skip_s=5.0):
    """The CA's goodput without the run's first and last skip_s seconds
    (the start, and the drain of the last batches): what the limiter keeps
    while calls wait. {} when the run is too short."""
    busy = [x for x in series if x["accepted"] > 0]
    if not busy:
        return {}
    last = next(x for x in series if x["accepted"] == busy[-1]["accepted"])
    t_end = last["t"]
    a = next((x for x in series if x["t"] >= skip_s), None)
    b = next((x for x in reversed(series) if x["t"] <= t_end - skip_s), None)
    if not a or not b or b["t"] - a["t"] < 10:
        return {}
    g = (b["accepted"] - a["accepted"]) / (b["t"] - a["t"])
    return {"goodput_steady_calls_per_s": round(g, 1), "share_of_rate_steady": round(g / rate, 3),
            "steady_from_to_s": [a["t"], b["t"]]}


def settle_times(series, rate0, steps):
    """For each rate change, two times in seconds after it (None: never):
    the limiter settled (from then until the next change every instance's
    limit stays within [0.75, 1.35] x its median over the second half of the
    phase, the level it found, give or take one call: a limit moves in whole
    calls, and at 5 one call is 20%), and the goodput came back (the end of the
    first 1-second window after the change with at least 90% of the new
    rate).
    The goodput may dip again later in a phase for reasons of the caller's
    (the end of a batch waiting on a call that a 429's Retry-After holds
    back); the limit is what the limiter controls."""
    gp = goodput_series(series)
    out = []
    changes = list(steps) + [(float("inf"), None)]
    for (at, rate), (nxt, _) in zip(changes, changes[1:]):
        phase = [x for x in series if at <= x["t"] < nxt]
        limits = [v for x in phase[len(phase) // 2:] for v in x["limits"] if v is not None]
        settled = None
        if limits:
            med = sorted(limits)[len(limits) // 2]
            for x in phase:
                ok = all(v is None or 0.75 * med - 1 <= v <= 1.35 * med + 1
                         for v in x["limits"])
                if ok and settled is None:
                    settled = x["t"] - at
                elif not ok:
                    settled = None
        back = next((t - at for t, g in gp if t >= at + 1.0 and t < nxt
                     and g >= 0.9 * rate), None)
        out.append({"limit_s": None if settled is None else round(max(0.0, settled), 2),
                    "goodput_s": None if back is None else round(max(0.0, back), 2)})
    return out


class Bench:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.certbridge = os.path.join(self.build, "certbridge")
        self.refca = os.path.join(self.build, "refca", "certbridge-refca")
        self.cbtool = os.path.join(self.build, "tests", "cbtool")
        self.refca_load = os.path.join(self.build, "refca", "certbridge-refca-load")
        for b in (self.certbridge, self.refca, self.cbtool):
            if not os.access(b, os.X_OK):
                raise SystemExit("bench: %s is missing: build first" % b)
        self.work = a.work or tempfile.mkdtemp(prefix="cb-bench-")
        os.makedirs(self.work, exist_ok=True)
        self.kafka_state = os.path.join(self.work, "kafka")
        self.pki = os.path.join(self.work, "pki")
        self.snapshot = os.path.join(self.work, "ca-snapshot-%d-%d" % (a.events, a.seed))
        self.events_file = os.path.join(self.work, "events.jsonl")
        self.inventory_file = os.path.join(self.work, "inventory.jsonl")
        self.bootstrap = None
        self.expected_cache = {}
        self.procs = []
        self.rows = []

    # ---- fixtures -------------------------------------------------------

    def tool(self, *args):
        return subprocess.run([self.cbtool] + list(args), check=True, capture_output=True,
                              text=True).stdout

    def start_broker(self):
        if self.a.bootstrap_file:  # a broker someone else runs
            self.bootstrap = open(self.a.bootstrap_file).read().strip()
            self.own_broker = False
            return
        self.own_broker = True
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "harness",
                                                     "kafka_harness.py"),
                        "start", "--state", self.kafka_state], check=True)
        self.bootstrap = open(os.path.join(self.kafka_state, "bootstrap")).read().strip()

    def stop_broker(self):
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "harness",
                                                     "kafka_harness.py"),
                        "stop", "--state", self.kafka_state], check=False)

    def make_workload(self):
        n = self.a.events
        t0 = time.time()
        inv, events, _ = workload.make_workload(n, seed=self.a.seed)
        workload.write_jsonl(self.inventory_file, inv)
        workload.write_jsonl(self.events_file, events)
        with open(self.events_file, encoding="utf-8") as f:
            self.event_lines = f.read().splitlines()
        log("workload: %d events, %d holders in the CA inventory (%.1f s)"
            % (len(events), len(inv), time.time() - t0))
        if not os.path.exists(os.path.join(self.pki, "client.pem")):
            subprocess.run([self.refca, "pki-init", self.pki], check=True,
                           stdout=subprocess.DEVNULL)
        marker = self.snapshot + ".done"
        if os.path.exists(marker):
            log("reusing the reference CA state of %s" % self.snapshot)
            return
        shutil.rmtree(self.snapshot, ignore_errors=True)
        # the CA issues every holder once; each row starts from a copy
        t0 = time.time()
        os.makedirs(self.snapshot, exist_ok=True)
        ca = self.start_ca(self.snapshot, 0, inventory=self.inventory_file, timeout=900)
        self.stop_ca(ca)
        with open(marker, "w") as f:
            f.write("%d %d" % (n, self.a.seed))
        log("reference CA state with %d holders issued in %.0f s" % (len(inv), time.time() - t0))

    def expected(self, n):
        if n not in self.expected_cache:
            _, _, exp = workload.make_workload(n, seed=self.a.seed)
            self.expected_cache[n] = exp
        return self.expected_cache[n]

    def start_ca(self, state, latency_ms, inventory=None, timeout=60, extra=()):
        url_file = state + ".url"
        if os.path.exists(url_file):
            os.unlink(url_file)
        cmd = [self.refca, "serve", "--state", state, "--pki", self.pki, "--listen",
               "127.0.0.1:0", "--url-file", url_file, "--latency-ms", str(latency_ms)]
        cmd += list(extra)
        if inventory:
            cmd += ["--inventory", inventory]
        p = subprocess.Popen(cmd, stdout=open(state + ".log", "a"), stderr=subprocess.STDOUT,
                             preexec_fn=_die_with_parent)
        self.procs.append(p)
        deadline = time.time() + timeout
        while not (os.path.exists(url_file) and open(url_file).read().strip()):
            if p.poll() is not None:
                raise SystemExit("bench: reference CA exited with %d (see %s.log)"
                                 % (p.returncode, state))
            if time.time() > deadline:
                raise SystemExit("bench: reference CA did not start")
            time.sleep(0.05)
        p.url = open(url_file).read().strip()
        return p

    def stop_ca(self, p):
        """Stops the CA; answers its CPU seconds."""
        if p.returncode is not None:
            return 0.0
        p.send_signal(signal.SIGTERM)
        _, ru, _, _ = wait_rusage(p, 60)
        self.procs.remove(p)
        return ru.ru_utime + ru.ru_stime

    def cleanup(self):
        for p in list(self.procs):
            if p.returncode is None:
                try:
                    p.kill()
                    os.waitpid(p.pid, 0)
                except OSError:
                    pass
        if self.bootstrap and self.own_broker:
            self.stop_broker()
        if not self.a.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # ---- input and output ------------------------------------------------

    def read_input_timestamps(self, topics):
        """{(topic, partition, offset): produce timestamp ms} of every input
        message, read back with confluent-kafka."""
        from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "bench-ts-%d" % os.getpid(),
                      "enable.partition.eof": True, "enable.auto.commit": False})
        parts = []
        for t in topics:
            md = c.list_topics(t, timeout=10)
            parts += [TopicPartition(t, p, OFFSET_BEGINNING) for p in md.topics[t].partitions]
        c.assign(parts)
        ts, eofs, idle = {}, set(), 0
        while len(eofs) < len(parts) and idle < 100:
            msgs = c.consume(10000, 0.2)
            idle = idle + 1 if not msgs else 0
            for m in msgs:
                if m.error():
                    eofs.add((m.topic(), m.partition()))
                    continue
                ts[(m.topic(), m.partition(), m.offset())] = m.timestamp()[1]
        c.close()
        return ts

    def produce_paced(self, lines, org_topic, person_topic, rate):
        """Produces lines at `rate` events/s (as cbtool would key them);
        answers the seconds it took."""
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 1,
                      "enable.idempotence": True})
        t0 = time.time()
        for i, line in enumerate(lines):
            topic, key = org_topic, "poison"
            try:
                ev = json.loads(line)
            except ValueError:
                ev = None
            if isinstance(ev, dict):
                if "person" in ev:
                    topic, key = person_topic, ev["person"].get("person_id", key)
                else:
                    key = (ev.get("org") or {}).get("code", key)
            p.produce(topic, key=key, value=line.encode())
            ahead = t0 + (i + 1) / rate - time.time()
            if ahead > 0:
                p.poll(0)
                time.sleep(ahead)
        p.flush(60)
        return time.time() - t0

    # ---- one row --------------------------------------------------------

    def ca_admin(self, ca, path, body=None):
        """One refca admin call over mutual TLS (GET, or POST with body)."""
        import requests
        kw = {"cert": (os.path.join(self.pki, "client.pem"), os.path.join(self.pki, "client.key")),
              "verify": os.path.join(self.pki, "tls-ca.pem"), "timeout": 10}
        url = ca.url.rstrip("/") + path
        r = requests.post(url, json=body, **kw) if body is not None else requests.get(url, **kw)
        r.raise_for_status()
        return r.json()

    @staticmethod
    def metrics_port(path):
        """certbridge's /metrics port, from its log; None until logged."""
        try:
            text = open(path, errors="replace").read()
        except OSError:
            return None
        m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", text)
        return int(m.group(1)) if m else None

    def sampler(self, ca, logs, steps, t_assign, done):
        """Every SAMPLE_S: the CA's counters (GET /v1/admin/stats) and each
        certbridge instance's limit (certbridge_ca_concurrency_limit); applies
        the rate steps [(seconds after the first assignment, rate)] on time.
        Answers the list of samples it fills until done is set."""
        import requests
        series = []
        pending = list(steps or [])

        def limit_of(port):
            try:
                text = requests.get("http://127.0.0.1:%d/metrics" % port, timeout=2).text
            except requests.RequestException:
                return None
            m = re.search(r"^certbridge_ca_concurrency_limit (\d+)", text, re.M)
            return int(m.group(1)) if m else None

        def run():
            ports = {}
            while not done.wait(SAMPLE_S):
                t0 = t_assign[0]
                now = time.time()
                if t0 is None:
                    continue
                while pending and now - t0 >= pending[0][0]:
                    at, rate = pending.pop(0)
                    self.ca_admin(ca, "/v1/admin/rate-limit", {"rate": rate})
                    log("rate limit now %g calls/s (%.1f s after the assignment)"
                        % (rate, now - t0))
                try:
                    st = self.ca_admin(ca, "/v1/admin/stats")
                except Exception:  # the CA is stopping
                    continue
                limits = []
                for path in logs:
                    if path not in ports:
                        ports[path] = self.metrics_port(path)
                    if ports[path]:
                        limits.append(limit_of(ports[path]))
                series.append({"t": round(now - t0, 3), "accepted": st["accepted"],
                               "refused_429": st["refused_429"], "calls": st["calls"],
                               "rate": st["rate"], "limits": limits})

        th = threading.Thread(target=run, daemon=True)
        th.start()
        return series, th

    def run_row(self, engine, latency, concurrency, n, paced_rate=None, mode=None, rate=None,
                steps=None, instances=1, partitions=None, cell=None, join_first=False):
        """One row: fresh topics, a fresh CA from the snapshot (at latency,
        with the rate limit `rate` and its `steps`), the backlog, `instances`
        processes of the engine (certbridge, python, python_concurrent)
        until drained, the check and the figures. cell names the suite the
        row belongs to (None: the matrix)."""
        name = "%s-L%d-C%s-N%d%s%s%s%s" % (
            engine, latency, concurrency, n, "-paced" if paced_rate else "",
            "-%s" % mode if mode else "", "-R%g" % rate if rate else "",
            "-x%d" % instances if instances > 1 else "")
        rdir = os.path.join(self.work, "rows", name)
        shutil.rmtree(rdir, ignore_errors=True)
        os.makedirs(rdir)
        tag = "%s-%d" % (name, int(time.time()))
        org_t, person_t = "bench.org." + tag, "bench.person." + tag
        out_t, dlq_t = "bench.outcomes." + tag, "bench.dlq." + tag
        for t in (org_t, person_t):
            self.tool("create-topic", self.bootstrap, t, str(partitions or self.a.partitions))
        for t in (out_t, dlq_t):
            self.tool("create-topic", self.bootstrap, t, "1")
        state = os.path.join(rdir, "ca-state")
        shutil.copytree(self.snapshot, state)
        ca = self.start_ca(state, latency, extra=["--rate-limit", "%g" % rate] if rate else [])
        lines = self.event_lines[:n]
        events_path = os.path.join(rdir, "events.jsonl")
        if not paced_rate:
            with open(events_path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        if not paced_rate and not join_first:
            t0 = time.time()
            produced = int(self.tool("produce", self.bootstrap, org_t, person_t,
                                     events_path).strip())
            log("%s: %d events pre-loaded in %.1f s" % (name, produced, time.time() - t0))
        group = "bench-" + tag
        cmds, logs = [], []
        for i in range(instances):
            txn = "bench-%s-%d" % (tag, i)
            out_log = os.path.join(rdir, "%s-%d.log" % (engine, i))
            logs.append(out_log)
            if engine == "certbridge":
                conf = os.path.join(rdir, "certbridge-%d.conf" % i)
                keys = {
                    "kafka.bootstrap.servers": self.bootstrap, "kafka.group.id": group,
                    "pipeline.transactional_id": txn,
                    "pipeline.batch_max_events": str(self.a.batch_events),
                    "pipeline.batch_max_ms": str(self.a.batch_ms),
                    "input.org_topic": org_t, "input.person_topic": person_t,
                    "output.outcome_topic": out_t, "output.dlq_topic": dlq_t,
                    # a state topic of its own: reading another row's state at
                    # start would count in this row's time
                    "output.state_topic": "certbridge.state." + tag,
                    "policy.approval": "none",  # the benchmark measures the CA path
                    "ca.url": ca.url, "ca.tls.cert": os.path.join(self.pki, "client.pem"),
                    "ca.tls.key": os.path.join(self.pki, "client.key"),
                    "ca.tls.ca_bundle": os.path.join(self.pki, "tls-ca.pem"),
                    "ca.concurrency": str(concurrency), "metrics.listen": "127.0.0.1:0",
                    "log.level": "info"}
                if mode:
                    keys["ca.concurrency_mode"] = mode
                keys.update(kv.split("=", 1) for kv in self.a.conf)
                with open(conf, "w") as f:
                    f.writelines("%s=%s\n" % kv for kv in keys.items())
                cmds.append([self.certbridge, "run", "-c", conf, "--drain-idle-ms",
                             str(max(self.a.drain_idle_ms, 20000) if join_first
                                 else self.a.drain_idle_ms)])
            else:
                script = "python_loop.py" if engine == "python" else "python_concurrent.py"
                cmd = [os.path.join(os.path.dirname(sys.executable), "python"),
                       os.path.join(HERE, script), "--bootstrap", self.bootstrap,
                       "--ca-url", ca.url, "--pki", self.pki,
                       "--schema", os.path.join(ROOT, "schemas", "CertificateActionOutcome.avsc"),
                       "--group", group, "--txn-id", txn, "--org-topic", org_t,
                       "--person-topic", person_t, "--outcome-topic", out_t, "--dlq-topic",
                       dlq_t, "--batch", str(self.a.batch_events), "--batch-ms",
                       str(self.a.batch_ms), "--drain-idle-ms", str(self.a.drain_idle_ms)]
                if engine == "python_concurrent":
                    cmd += ["--concurrency", str(concurrency)]
                cmds.append(cmd)
        t_start = time.time()
        # CERTBRIDGE_* variables are configuration to certbridge (and unknown
        # ones are refused): the benchmark's own, e.g. CERTBRIDGE_CACHE, stay out
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTBRIDGE_")}
        procs = []
        for i, cmd in enumerate(cmds):
            wrapper = []
            if self.a.callgrind and engine == "certbridge":
                wrapper = ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s"
                           % os.path.join(self.work, "callgrind.%s.out" % name)]
            elif self.a.wrap and engine == "certbridge":
                wrapper = self.a.wrap.replace("{out}", os.path.join(self.work, name)).split()
            elif self.a.perf and engine == "certbridge":
                wrapper = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999",
                           "--call-graph", "dwarf,16384", "-o",
                           os.path.join(self.work, "perf.%s.data" % name), "--"]
            proc = subprocess.Popen(wrapper + cmd, stdout=open(logs[i], "w"),
                                    stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                                    env=env)
            self.procs.append(proc)
            procs.append(proc)
        # the first assignment starts the clock of rate steps and samples
        t_assign, done = [None], threading.Event()
        series = None
        if rate or steps:
            series, sampler = self.sampler(ca, logs if engine == "certbridge" else [], steps,
                                           t_assign, done)

        def watch_assignment():
            while not done.is_set() and t_assign[0] is None:
                at = [self.assigned_at(engine, path) for path in logs]
                at = [x for x in at if x]
                if at:
                    t_assign[0] = min(at) / 1000.0
                time.sleep(0.05)

        watcher = threading.Thread(target=watch_assignment, daemon=True)
        watcher.start()
        paced_s = None
        t_produced = None
        if join_first:
            self.wait_group(logs, procs)
            t_produced = time.time()
            produced = int(self.tool("produce", self.bootstrap, org_t, person_t,
                                     events_path).strip())
            log("%s: %d events produced in %.1f s once the group settled"
                % (name, produced, time.time() - t_produced))
        if paced_rate:
            # the instance first joins the group, then events arrive at a pace
            deadline = time.time() + 60
            while time.time() < deadline and not self.assigned_at(engine, logs[0]):
                time.sleep(0.05)
            paced_s = self.produce_paced(lines, org_t, person_t, paced_rate)
            log("%s: %d events produced at %.0f/s over %.1f s" % (name, len(lines), paced_rate,
                                                                paced_s))
        results = [wait_rusage(proc, self.a.row_timeout) for proc in procs]
        done.set()
        watcher.join()
        if series is not None:
            sampler.join()
        stats = self.ca_admin(ca, "/v1/admin/stats") if rate else None
        for proc in procs:
            self.procs.remove(proc)
        ca_cpu = self.stop_ca(ca)
        rc = max(r[0] for r in results)
        timed_out = any(r[2] for r in results)
        if rc != 0 or timed_out:
            log("%s: %s exited %d%s (logs %s)" % (name, engine, rc,
                                                  " after the row timeout" if timed_out else "",
                                                  rdir))
        assigned_all = [self.assigned_at(engine, path) for path in logs]
        assigned = min([x for x in assigned_all if x] or [t_start * 1000])
        if t_produced:
            assigned = t_produced * 1000  # the clock starts with the backlog
        outcomes = [json.loads(x) for x in
                    self.tool("outcomes", self.bootstrap, out_t).splitlines() if x]
        dead = len(self.tool("dlq", self.bootstrap, dlq_t).splitlines())
        ts_in = self.read_input_timestamps([org_t, person_t])
        ru = Rusage([r[1] for r in results])
        row = self.figures(engine, latency, concurrency, n, outcomes, dead, ts_in, assigned, ru,
                           max(r[3] for r in results), ca_cpu, rc, timed_out)
        row.update(paced_rate=paced_rate, name=name, cell=cell, mode=mode, rate=rate,
                   steps=steps, instances=instances, partitions=partitions or self.a.partitions)
        if stats:
            wall = row["wall_s"]
            row.update(ca_accepted=stats["accepted"], ca_refused_429=stats["refused_429"],
                       ca_calls_seen=stats["calls"],
                       goodput_calls_per_s=round(stats["accepted"] / wall, 1),
                       share_of_rate=round(stats["accepted"] / wall / rate, 3),
                       refused_share=round(stats["refused_429"] / max(1, stats["calls"]), 4))
        if series is not None:
            row["series"] = series
            if steps:
                row["settle_s"] = settle_times(series, rate, steps)
            else:
                row.update(steady_goodput(series, rate))
        log("%s: %s" % (name, json.dumps({k: v for k, v in row.items() if k != "series"})))
        if not self.a.keep:
            shutil.rmtree(rdir, ignore_errors=True)
        return row

    @staticmethod
    def partitions_held(path):
        """(partitions an instance holds, epoch s of its last assignment or
        revocation) from its log."""
        held, last = 0, None
        try:
            text = open(path, errors="replace").read()
        except OSError:
            return 0, None
        for line in text.splitlines():
            m = re.search(r'"msg":"(assigned|revoked|lost) (\d+) partition', line)
            if m:
                held += int(m.group(2)) * (1 if m.group(1) == "assigned" else -1)
                ts = json.loads(line)["ts"]
                t = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
                last = time.mktime(t) - time.timezone + int(ts[20:23]) / 1000.0
        return held, last

    def wait_group(self, logs, procs, quiet_s=2.0, timeout=120):
        """Waits until every instance holds partitions and no assignment
        changed for quiet_s (the group settled)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(p.poll() is not None for p in procs):
                raise SystemExit("bench: an instance exited before the group settled")
            state = [self.partitions_held(path) for path in logs]
            last = max((t for _, t in state if t), default=None)
            if all(h > 0 for h, _ in state) and last and time.time() - last >= quiet_s:
                log("group settled: %s partitions" % [h for h, _ in state])
                return
            time.sleep(0.2)
        raise SystemExit("bench: the group did not settle in %d s" % timeout)

    def ca_alone(self, latency, concurrency, row):
        """The reference CA's own ceiling at this latency and concurrency:
        certbridge-refca-load (the CA engineer's load generator, no Kafka)
        drives keyed lookups (as certbridge sends them), change-info and
        revoke with `concurrency` calls in flight; the rates are weighted by
        the row's call mix (recall counted as revoke, both cheap updates).
        Answers a dict for the row."""
        bound = concurrency / (latency / 1000.0) if latency else 15000.0
        holders = int(min(5000, max(300, bound * 3)))
        rdir = os.path.join(self.work, "rows", "ca-alone-L%d-C%d" % (latency, concurrency))
        shutil.rmtree(rdir, ignore_errors=True)
        os.makedirs(rdir)
        inv = os.path.join(rdir, "inventory.jsonl")
        with open(inv, "w") as f:
            subprocess.run([self.refca_load, "inventory", str(holders)], stdout=f, check=True)
        state = os.path.join(rdir, "ca-state")
        os.makedirs(state)
        ca = self.start_ca(state, latency, inventory=inv, timeout=300)
        conf = os.path.join(rdir, "load.conf")
        with open(conf, "w") as f:
            f.write("ca.url=%s\nca.tls.cert=%s\nca.tls.key=%s\nca.tls.ca_bundle=%s\n"
                    % (ca.url, os.path.join(self.pki, "client.pem"),
                       os.path.join(self.pki, "client.key"), os.path.join(self.pki, "tls-ca.pem")))
        out = subprocess.run([self.refca_load, "run", "-c", conf, "--holders", str(holders),
                              "--lookups", str(2 * holders), "--concurrency", str(concurrency),
                              "--keyed-lookups"],
                             capture_output=True, text=True, timeout=1800).stdout
        self.stop_ca(ca)
        rates = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) > 6 and parts[-3] == "calls/s":
                rates[parts[0]] = float(parts[-4])
        mix = row.get("ca_call_mix") or {}
        weights = {"lookup": mix.get("lookup", 0), "change-info": mix.get("CHANGE_INFO", 0),
                   "revoke": mix.get("REVOKE", 0) + mix.get("RECALL_DEVICE", 0)}
        total = sum(weights.values())
        ceiling = None
        if total and all(rates.get(k) for k in weights):
            ceiling = total / sum(w / rates[k] for k, w in weights.items())
        if not self.a.keep:
            shutil.rmtree(rdir, ignore_errors=True)
        log("CA alone at L=%d C=%d: %s -> %s calls/s for the mix"
            % (latency, concurrency, rates, ceiling and round(ceiling)))
        return {"ca_alone_rates": rates,
                "ca_alone_calls_per_s": round(ceiling, 1) if ceiling else None,
                "share_of_ca_alone": round(row["ca_calls_per_s"] / ceiling, 3) if ceiling else None}

    @staticmethod
    def assigned_at(engine, path):
        """Epoch ms at which the instance got its partitions (from its log)."""
        try:
            text = open(path, errors="replace").read()
        except OSError:
            return None
        for line in text.splitlines():
            if engine == "certbridge" and '"assigned ' in line:
                ts = json.loads(line)["ts"]
                t = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
                return (time.mktime(t) - time.timezone) * 1000 + int(ts[20:23])
            if engine != "certbridge" and line.startswith('{"assigned_at"'):
                return json.loads(line)["assigned_at"]
        return None

    def figures(self, engine, latency, concurrency, n, outcomes, dead, ts_in, assigned, ru,
                hwm_kib, ca_cpu, rc, timed_out):
        exp = self.expected(n)
        got = collections.Counter(o["outcome_id"] for o in outcomes)
        dup = sum(c - 1 for c in got.values() if c > 1)
        wrong = sum(1 for o in outcomes if exp["outcomes"].get(o["outcome_id"])
                    != (o["action"], o["status"]))
        missing = sum(1 for k in exp["outcomes"] if k not in got)
        calls = sum(o["attempts"] for o in outcomes)
        lookups = len({(o["source_event_id"], o["holder_type"], o["holder_id"]) for o in outcomes
                       if o["action"] not in ("REVIEW", "ISSUE")})
        mix = {"lookup": lookups}
        for o in outcomes:
            if o["attempts"]:
                mix[o["action"]] = mix.get(o["action"], 0) + o["attempts"]
        ca_lat = [o["latency_ms"] for o in outcomes if o["attempts"] > 0]
        one = [o["latency_ms"] for o in outcomes if o["attempts"] == 1]  # no retry in it
        last_out = max((o["kafka_timestamp"] for o in outcomes), default=assigned)
        wall = max(0.001, (last_out - assigned) / 1000.0)
        per_event = {}
        for o in outcomes:
            k = (o["source_topic"], o["source_partition"], o["source_offset"])
            per_event[k] = max(per_event.get(k, 0), o["kafka_timestamp"])
        ev_lat = [t - ts_in[k] for k, t in per_event.items() if k in ts_in]
        cpu = ru.ru_utime + ru.ru_stime
        n_out = len(outcomes)
        bound = concurrency / (latency / 1000.0) if latency and concurrency else None
        return {
            "engine": engine, "latency_ms": latency, "concurrency": concurrency, "events": n,
            "outcomes": n_out, "dead_letters": dead, "duplicates": dup, "missing": missing,
            "wrong": wrong, "correct": dup == 0 and missing == 0 and wrong == 0
            and n_out == len(exp["outcomes"]) and dead == exp["poison"],
            "exit_code": rc, "timed_out": timed_out, "wall_s": round(wall, 2),
            "actions_per_s": round(n_out / wall, 1),
            "ca_calls": calls + lookups, "ca_calls_per_s": round((calls + lookups) / wall, 1),
            "ca_call_mix": mix,
            "bound_calls_per_s": bound,
            "share_of_bound": round((calls + lookups) / wall / bound, 3) if bound else None,
            "ca_latency_p50_ms": pct(ca_lat, 50), "ca_latency_p99_ms": pct(ca_lat, 99),
            "ca_latency_mean_ms": round(sum(one) / len(one), 2) if one else None,
            "event_latency_p50_ms": pct(ev_lat, 50), "event_latency_p99_ms": pct(ev_lat, 99),
            "peak_rss_mib": round(hwm_kib / 1024.0, 1),
            "cpu_s": round(cpu, 2),
            "cpu_user_s": round(ru.ru_utime, 2), "cpu_sys_s": round(ru.ru_stime, 2),
            "cpu_s_per_1000_actions": round(cpu / n_out * 1000, 4) if n_out else None,
            "cpu_us_per_action": round(cpu / n_out * 1e6, 1) if n_out else None,
            "ca_cpu_s": round(ca_cpu, 2),
        }


# ---- matrix and report ---------------------------------------------------

def row_events(a, latency, concurrency, engine):
    """N for one row: the backlog, capped for slow rows so each row takes
    about --row-budget-s at its bound (C/L calls/s, ~1.6 calls per action)."""
    if engine == "python":
        return a.py_events_l0 if latency == 0 else a.py_events_lat
    if engine == "python_concurrent":
        # CPU-bound near a few hundred events/s whatever C: capped apart
        if latency == 0:
            return a.pyc_events
        n = int(concurrency / (latency / 1000.0) * a.row_budget_s / 3.3) // 100 * 100
        return max(min(a.pyc_events, n), min(a.pyc_events, 1000))
    if latency == 0:
        return a.events
    calls_per_event = 3.3
    n = int(concurrency / (latency / 1000.0) * a.row_budget_s / calls_per_event) // 100 * 100
    return max(min(a.events, n), min(a.events, 1000))


def build_type(build):
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "?"


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kib / 1048576, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def fmt(v, digits=0):
    if v is None:
        return "-"
    if isinstance(v, float):
        return ("{:,.%df}" % digits).format(v)
    return "{:,}".format(v)


def table(rows):
    """The results as a Markdown table, one line per row."""
    head = ("| engine | L ms | C | N events | outcomes | actions/s | CA calls/s | share of C/L "
            "| CA alone, same mix (share) | CA call p50 / p99 ms | event latency p50 / p99 s "
            "| peak RSS MiB | CPU s per 1k actions (µs/action) | × Python loop: actions/s, "
            "less CPU | × concurrent peer (same C): actions/s, less CPU | correct |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
    out = []
    for r in rows:
        share = "%.0f%%" % (100 * r["share_of_bound"]) if r["share_of_bound"] else "-"
        alone = "-"
        if r.get("ca_alone_calls_per_s"):
            alone = "%s (%.0f%%)" % (fmt(r["ca_alone_calls_per_s"]), 100 * r["share_of_ca_alone"])
        ev = "-" if r["event_latency_p50_ms"] is None else "%.2f / %.2f" % (
            r["event_latency_p50_ms"] / 1000.0, r["event_latency_p99_ms"] / 1000.0)
        ratios = []
        for peer in (find(rows, "python", r["latency_ms"]),
                     find(rows, "python_concurrent", r["latency_ms"], r["concurrency"])):
            if (r["engine"] == "certbridge" and not r.get("paced_rate") and peer
                    and peer["actions_per_s"] and r["cpu_us_per_action"]):
                ratios.append("%.1f×, %.1f×" % (r["actions_per_s"] / peer["actions_per_s"],
                                                peer["cpu_us_per_action"]
                                                / r["cpu_us_per_action"]))
            else:
                ratios.append("-")
        cpu = "-" if r["cpu_s_per_1000_actions"] is None else "%.3f (%.0f)" % (
            r["cpu_s_per_1000_actions"], r["cpu_us_per_action"])
        name = {"python": "Python loop", "python_concurrent": "Python concurrent"}.get(
            r["engine"], r["engine"]) + (" (paced %.0f ev/s)" % r["paced_rate"]
                                         if r.get("paced_rate") else "")
        conc = r["concurrency"] or "1 (sequential)"
        out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s "
                   "| %s | %s |"
                   % (name, r["latency_ms"], conc,
                      fmt(r["events"]), fmt(r["outcomes"]), fmt(r["actions_per_s"]),
                      fmt(r["ca_calls_per_s"]), share, alone, fmt(r["ca_latency_p50_ms"]),
                      fmt(r["ca_latency_p99_ms"]), ev, fmt(r["peak_rss_mib"], 1), cpu,
                      ratios[0], ratios[1], "yes" if r["correct"] else "NO"))
    return head + "\n".join(out) + "\n"


def find(rows, engine, latency, concurrency=None, paced=False):
    for r in rows:
        if (r["engine"] == engine and r["latency_ms"] == latency and bool(r.get("paced_rate"))
                == paced and (concurrency is None or r["concurrency"] == concurrency)):
            return r
    return None


def targets(rows):
    """The issue's targets for the matrix, each with the measured figure:
    (name, value, met)."""
    out = []
    lat = max([r["latency_ms"] for r in rows if r["engine"] == "certbridge"], default=0)
    cb = find(rows, "certbridge", lat, 32)
    if lat and cb:
        # Little's law splits the shortfall: calls/s = calls in flight on
        # average / mean answer time, so the share of C/L is (in flight / C)
        # x (L / mean answer time)
        split = ""
        if cb.get("ca_latency_mean_ms"):
            split = "; %.1f of 32 calls in flight on average, answers in %.2f ms on average" % (
                cb["ca_calls_per_s"] * cb["ca_latency_mean_ms"] / 1000.0,
                cb["ca_latency_mean_ms"])
        out.append(("L=%d ms, C=32: >= 95%% of C/L" % lat, "%.1f%% (%s CA calls/s of %s%s)"
                    % (100 * cb["share_of_bound"], fmt(cb["ca_calls_per_s"]),
                       fmt(cb["bound_calls_per_s"]), split), cb["share_of_bound"] >= 0.95))
    cb, pc = find(rows, "certbridge", lat, 128), find(rows, "python_concurrent", lat, 128)
    if lat and cb and pc:
        ratio = cb["actions_per_s"] / pc["actions_per_s"]
        out.append(("L=%d ms, C=128: >= 3x the concurrent Python peer's actions/s" % lat,
                    "%.1fx (%s vs %s actions/s)" % (ratio, fmt(cb["actions_per_s"]),
                                                    fmt(pc["actions_per_s"])), ratio >= 3))
        ratio = pc["cpu_us_per_action"] / cb["cpu_us_per_action"]
        out.append(("L=%d ms, C=128: >= 10x less CPU per action than the concurrent peer" % lat,
                    "%.1fx (%.0f vs %.0f µs)" % (ratio, cb["cpu_us_per_action"],
                                                 pc["cpu_us_per_action"]), ratio >= 10))
    cb, py = find(rows, "certbridge", 0, 32), find(rows, "python", 0)
    if cb:
        out.append(("L=0, C=32: <= 50 µs certbridge CPU per action", "%.1f µs"
                    % cb["cpu_us_per_action"], cb["cpu_us_per_action"] <= 50))
    if cb and py:
        ratio = py["cpu_us_per_action"] / cb["cpu_us_per_action"]
        out.append(("L=0, C=32: >= 20x less CPU per action than the Python loop",
                    "%.1fx (%.0f vs %.0f µs)" % (ratio, cb["cpu_us_per_action"],
                                                 py["cpu_us_per_action"]), ratio >= 20))
    big = [r for r in rows if r["engine"] == "certbridge" and r["events"] >= 100000]
    if big:
        worst = max(big, key=lambda r: r["peak_rss_mib"])
        out.append(("peak RSS <= 64 MiB with a 100,000-event backlog",
                    "%.1f MiB (worst of %d rows with N = 100,000: L=%d C=%d)"
                    % (worst["peak_rss_mib"], len(big), worst["latency_ms"],
                       worst["concurrency"]), worst["peak_rss_mib"] <= 64))
    return out


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, lat in zip(axes, sorted({r["latency_ms"] for r in rows})[:2]):
        cb = sorted([r for r in rows if r["engine"] == "certbridge" and r["latency_ms"] == lat
                     and not r.get("paced_rate")], key=lambda r: r["concurrency"])
        if not cb:
            continue
        cs = [r["concurrency"] for r in cb]
        ax.plot(cs, [r["actions_per_s"] for r in cb], "o-", label="certbridge actions/s")
        ax.plot(cs, [r["ca_calls_per_s"] for r in cb], "s--", label="certbridge CA calls/s")
        alone = [(r["concurrency"], r["ca_alone_calls_per_s"]) for r in cb
                 if r.get("ca_alone_calls_per_s")]
        if alone:
            ax.plot([x for x, _ in alone], [y for _, y in alone], "^:", color="green",
                    label="reference CA alone, same mix (calls/s)")
        if lat:
            ax.plot(cs, [c / (lat / 1000.0) for c in cs], ":", color="grey",
                    label="bound C/L (calls/s)")
        py = find(rows, "python", lat)
        if py:
            ax.axhline(py["actions_per_s"], color="red", linestyle="-.",
                       label="Python loop actions/s")
        pc = sorted([r for r in rows if r["engine"] == "python_concurrent"
                     and r["latency_ms"] == lat], key=lambda r: r["concurrency"])
        if pc:
            ax.plot([r["concurrency"] for r in pc], [r["actions_per_s"] for r in pc], "v-.",
                    color="purple", label="Python concurrent actions/s")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(cs)
        ax.set_xticklabels([str(c) for c in cs])
        ax.set_xlabel("ca.concurrency (C)")
        ax.set_ylabel("per second")
        ax.set_title("CA latency L = %d ms" % lat)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("certbridge throughput against CA concurrency (real Kafka, reference CA)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def engine_name(r):
    """A row's engine as the tables show it."""
    name = {"python": "Python loop", "python_concurrent": "Python concurrent"}.get(
        r["engine"], r["engine"])
    if r["engine"] == "certbridge" and r.get("mode"):
        name += " " + r["mode"]
    return name


# ---- the rate-limit suite --------------------------------------------------

def rate_table(rows):
    head = ("| R calls/s | engine | C (ceiling) | N events | CA goodput calls/s (share of R) "
            "| steady: without the first and last 5 s | 429s (share of calls) | actions/s "
            "| CA call p50 / p99 ms | CPU µs/action | correct |\n"
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
    out = []
    for r in rows:
        steady = "-"
        if r.get("goodput_steady_calls_per_s"):
            steady = "%s (%.1f%%)" % (fmt(r["goodput_steady_calls_per_s"]),
                                     100 * r["share_of_rate_steady"])
        out.append("| %s | %s | %s | %s | %s (%.1f%%) | %s | %s (%.2f%%) | %s | %s / %s | %s "
                   "| %s |"
                   % (fmt(r["rate"]), engine_name(r), r["concurrency"] or "1 (sequential)",
                      fmt(r["events"]), fmt(r["goodput_calls_per_s"]),
                      100 * r["share_of_rate"], steady, fmt(r["ca_refused_429"]),
                      100 * r["refused_share"], fmt(r["actions_per_s"]),
                      fmt(r["ca_latency_p50_ms"]), fmt(r["ca_latency_p99_ms"]),
                      fmt(r["cpu_us_per_action"]), "yes" if r["correct"] else "NO"))
    return head + "\n".join(out) + "\n"


def rate_targets(rows):
    out = []
    for r in rows:
        if r["engine"] == "certbridge" and r.get("mode") == "adaptive" and not r.get("steps"):
            steady = r.get("share_of_rate_steady")
            out.append(("R = %s/s, L = %d ms (adaptive, ceiling %d): goodput >= 95%% of R"
                        % (fmt(r["rate"]), r["latency_ms"], r["concurrency"]),
                        "%.1f%% over the whole run (%s of %s calls/s); %s without its first "
                        "and last 5 s" % (100 * r["share_of_rate"], fmt(r["goodput_calls_per_s"]),
                                          fmt(r["rate"]), "%.1f%%" % (100 * steady)
                                          if steady else "-"),
                        r["share_of_rate"] >= 0.95))
            out.append(("R = %s/s: <= 2%% of calls answered 429" % fmt(r["rate"]),
                        "%.2f%% (%s of %s)" % (100 * r["refused_share"], fmt(r["ca_refused_429"]),
                                               fmt(r["ca_calls_seen"])),
                        r["refused_share"] <= 0.02))
    return out


def plot_series(rows, path, title):
    """For each row with samples: the CA's 1-second goodput and its rate
    limit over time, and each instance's concurrency limit (right axis)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in rows if r.get("series")]
    if not rows:
        return
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 3.2 * len(rows)), squeeze=False)
    for ax, r in zip(axes[:, 0], rows):
        ser = r["series"]
        gp = goodput_series(ser)
        ax.plot([t for t, _ in gp], [g for _, g in gp], "-", color="tab:blue",
                label="CA goodput (accepted calls/s, 1 s)")
        ax.step([x["t"] for x in ser], [x["rate"] for x in ser], where="post", color="grey",
                linestyle=":", label="rate limit R")
        ax.set_ylabel("calls/s")
        ax.set_xlabel("seconds after the first assignment")
        ax2 = ax.twinx()
        n_inst = max((len(x["limits"]) for x in ser), default=0)
        for i in range(n_inst):
            pts = [(x["t"], x["limits"][i]) for x in ser
                   if len(x["limits"]) > i and x["limits"][i] is not None]
            ax2.plot([t for t, _ in pts], [v for _, v in pts], "-", color="tab:orange",
                     alpha=0.8, label="concurrency limit" if i == 0 else None)
        ax2.set_ylabel("calls in flight allowed")
        ax2.set_ylim(bottom=0)
        ax.set_ylim(bottom=0)
        label = "%s, C=%s, R=%s/s" % (engine_name(r), r["concurrency"], fmt(r["rate"]))
        if r.get("settle_s"):
            label += "; limit settled in %s s" % " and ".join(
                "%.1f" % x["limit_s"] if x["limit_s"] is not None else "never"
                for x in r["settle_s"])
        ax.set_title(label, fontsize=10)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower right")
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


# ---- the step suite -------------------------------------------------------

def settle_text(x):
    return "limit %s, goodput %s" % tuple("%.1f s" % v if v is not None else "never"
                                          for v in (x["limit_s"], x["goodput_s"]))


def step_table(rows):
    head = ("| R calls/s | steps | N events | settled after halving | settled after coming "
            "back | goodput in each phase (share of its R) | 429s (share of calls) "
            "| correct |\n|---:|---|---:|---|---|---|---:|---|\n")
    out = []
    for r in rows:
        gp = goodput_series(r["series"])
        phases = [(0.0, r["rate"])] + [tuple(x) for x in r["steps"]]
        ends = [x[0] for x in phases[1:]] + [max((t for t, _ in gp), default=0)]
        shares = []
        for (at, rate), end in zip(phases, ends):
            vals = [g for t, g in gp if at + 1 <= t <= end]
            shares.append("%.0f%%" % (100 * sum(vals) / len(vals) / rate) if vals else "-")
        out.append("| %s | %s | %s | %s | %s | %s | %s (%.2f%%) | %s |"
                   % (fmt(r["rate"]), ", ".join("%g at %g s" % (rt, at) for at, rt in r["steps"]),
                      fmt(r["events"]), settle_text(r["settle_s"][0]),
                      settle_text(r["settle_s"][1]), " → ".join(shares),
                      fmt(r["ca_refused_429"]), 100 * r["refused_share"],
                      "yes" if r["correct"] else "NO"))
    return head + "\n".join(out) + "\n"


def step_targets(rows):
    out = []
    for r in rows:
        ok = all(x[k] is not None and x[k] <= 5 for x in r["settle_s"]
                 for k in ("limit_s", "goodput_s"))
        out.append(("R = %s/s halves and comes back: the limiter settles within 5 s each time"
                    % fmt(r["rate"]), "; ".join(settle_text(x) for x in r["settle_s"]), ok))
    return out


# ---- the scale-out suite --------------------------------------------------

def scale_table(rows):
    head = ("| instances | partitions | C each | L ms | N events | actions/s | × one instance "
            "| CA calls/s (share of instances x C/L) | CPU µs/action (all instances) "
            "| peak RSS MiB (largest) | correct |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
    one = next((r for r in rows if r["instances"] == 1), None)
    out = []
    for r in rows:
        ratio = "%.2f×" % (r["actions_per_s"] / one["actions_per_s"]) if one else "-"
        share = "%s (%.0f%%)" % (fmt(r["ca_calls_per_s"]), 100 * r["share_of_bound"]
                                 / r["instances"]) if r["share_of_bound"] else "-"
        out.append("| %d | %d | %s | %d | %s | %s | %s | %s | %s | %s | %s |"
                   % (r["instances"], r["partitions"], r["concurrency"], r["latency_ms"],
                      fmt(r["events"]), fmt(r["actions_per_s"]), ratio, share,
                      fmt(r["cpu_us_per_action"]), fmt(r["peak_rss_mib"], 1),
                      "yes" if r["correct"] else "NO"))
    return head + "\n".join(out) + "\n"


def scale_targets(rows):
    out = []
    one = next((r for r in rows if r["instances"] == 1), None)
    for r in rows:
        want = {2: 1.8, 4: 3.2}.get(r["instances"])
        if one and want:
            ratio = r["actions_per_s"] / one["actions_per_s"]
            out.append(("%d instances: >= %.1fx one instance, every row exactly once"
                        % (r["instances"], want), "%.2fx (%s vs %s actions/s), correct: %s"
                        % (ratio, fmt(r["actions_per_s"]), fmt(one["actions_per_s"]),
                           "yes" if r["correct"] else "NO"),
                        ratio >= want and r["correct"]))
    return out


def plot_scale(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = sorted(rows, key=lambda r: r["instances"])
    one = next((r for r in rows if r["instances"] == 1), None)
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r["instances"] for r in rows]
    ax.plot(xs, [r["actions_per_s"] for r in rows], "o-", label="actions/s")
    if one:
        ax.plot(xs, [one["actions_per_s"] * x for x in xs], ":", color="grey",
                label="linear (x one instance)")
        ax.plot([2, 4], [1.8 * one["actions_per_s"], 3.2 * one["actions_per_s"]], "^",
                color="red", label="targets 1.8x, 3.2x")
    ax.set_xticks(xs)
    ax.set_xlabel("instances in the consumer group")
    ax.set_ylabel("actions/s")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("throughput against instances (L = %d ms, C = %d each, %d partitions)"
                 % (rows[0]["latency_ms"], rows[0]["concurrency"], rows[0]["partitions"]),
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


SUITES = {
    # suite: (markers in RESULTS.md, default results file, default plot, title)
    "matrix": ("bench", "results.json", "throughput.png", "throughput against concurrency"),
    "rate": ("rate", "results-rate.json", "rate.png",
             "goodput and concurrency limit against a rate-limited CA"),
    "step": ("step", "results-step.json", "step.png",
             "the rate limit halves and comes back: goodput and concurrency limit"),
    "scale": ("scale", "results-scale.json", "scale.png", "throughput against instances"),
}


def suite_body(suite, rows, meta):
    """The Markdown of one suite's results."""
    tables = {"matrix": table, "rate": rate_table, "step": step_table, "scale": scale_table}
    return tables[suite](rows)


def write_results_md(path, rows, meta, suite="matrix"):
    marker, _, plot_name, title = SUITES[suite]
    start, end = "<!-- %s:start -->" % marker, "<!-- %s:end -->" % marker
    body = ["%s" % start, "",
            "Generated by `%s` on %s." % (meta["command"], meta["date"]), "",
            "Machine: %d CPUs (`nproc`), %s, %.1f GiB memory, Linux %s; broker, reference CA, "
            "certbridge (or the Python peers) and the load all share it."
            % (meta["machine"]["nproc"], meta["machine"]["cpu"], meta["machine"]["memory_gib"],
               meta["machine"]["kernel"]),
            "",
            "Settings: %s build, pipeline.batch_max_events=%d, pipeline.batch_max_ms=%d, %d "
            "partitions per input topic, workload seed %d, drain idle %d ms; load average "
            "before %s, after %s."
            % (meta["build_type"], meta["batch_events"], meta["batch_ms"], meta["partitions"],
               meta["seed"], meta["drain_idle_ms"], meta["load_before"], meta["load_after"]), "",
            suite_body(suite, rows, meta), "", "Targets:", "",
            "| target | measured | met |", "|---|---|---|"]
    for name, val, ok in meta["targets"]:
        body.append("| %s | %s | %s |" % (name, val, "yes" if ok else "**no**"))
    body += ["", "![%s](%s)" % (title, plot_name), "", end]
    text = "\n".join(body) + "\n"
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if start in old and end in old:
        text = old[:old.index(start)] + text.rstrip("\n") + old[old.index(end) + len(end):]
    elif old:
        text = old.rstrip("\n") + "\n\n" + text
    else:
        text = "# certbridge benchmark results\n\n" + text
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def suite_targets(suite, rows):
    return {"matrix": targets, "rate": rate_targets, "step": step_targets,
            "scale": scale_targets}[suite](rows)


def suite_plot(suite, rows, path):
    if suite == "matrix":
        plot(rows, path)
    elif suite == "scale":
        plot_scale(rows, path)
    else:
        plot_series([r for r in rows if r["engine"] == "certbridge"
                     and (suite == "step" or r.get("mode") == "adaptive")], path,
                    SUITES[suite][3])


def run_matrix(a, b, rows):
    lats = [int(x) for x in a.latencies.split(",") if x != ""]
    concs = [int(x) for x in a.concurrencies.split(",") if x != ""]
    for lat in lats:
        for c in concs:
            row = b.run_row("certbridge", lat, c, row_events(a, lat, c, "certbridge"))
            if not a.no_ca_alone:
                row.update(b.ca_alone(lat, c, row))
            rows.append(row)
            if not a.no_python_concurrent:
                rows.append(b.run_row("python_concurrent", lat, c,
                                      row_events(a, lat, c, "python_concurrent")))
        if not a.no_paced and find(rows, "certbridge", lat, 32):
            base = find(rows, "certbridge", lat, 32)
            rate = max(10.0, base["actions_per_s"] / 2.0 * base["events"] / base["outcomes"])
            n = min(a.events, int(rate * 30))
            rows.append(b.run_row("certbridge", lat, 32, n, paced_rate=round(rate)))
        if not a.no_python:
            rows.append(b.run_row("python", lat, 0, row_events(a, lat, 1, "python")))


def run_rate(a, b, rows):
    """R = each of --rates at L = --rate-latency, the rows of --rate-cells
    (certbridge adaptive with a ceiling of 128, fixed at 32 and 128, the
    concurrent Python peer at 128, the Python loop); N for about
    --rate-seconds at R."""
    lat = a.rate_latency
    for rate in [float(x) for x in a.rates.split(",")]:
        n = min(a.events, int(rate * a.rate_seconds / 3.1) // 100 * 100)
        for cell in a.rate_cells.split(","):
            kind, _, c = cell.partition(":")
            if kind == "loop":
                rows.append(b.run_row("python", lat, 0, a.py_events_lat, rate=rate, cell="rate"))
            elif kind == "concurrent":
                rows.append(b.run_row("python_concurrent", lat, int(c), n, rate=rate,
                                      cell="rate"))
            else:
                rows.append(b.run_row("certbridge", lat, int(c), n, mode=kind, rate=rate,
                                      cell="rate"))


def run_step(a, b, rows):
    """R = each of --step-rates: halved --step-at seconds after the first
    assignment, back to R as long again later; N for about 1.5 x that at R
    after the second step."""
    lat = a.rate_latency
    at = a.step_at
    for rate in [float(x) for x in a.step_rates.split(",")]:
        calls = rate * at + rate / 2 * at + rate * at * 1.5
        n = min(a.events, int(calls / 3.1) // 100 * 100)
        rows.append(b.run_row("certbridge", lat, a.rate_ceiling, n, mode="adaptive", rate=rate,
                              steps=[(at, rate / 2), (2 * at, rate)], cell="step"))


def run_scale(a, b, rows):
    for k in [int(x) for x in a.scale_instances.split(",")]:
        rows.append(b.run_row("certbridge", a.scale_latency, a.scale_concurrency, a.scale_events,
                              instances=k, partitions=a.scale_partitions, cell="scale",
                              join_first=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="build folder with certbridge, refca, cbtool")
    ap.add_argument("--suite", choices=sorted(SUITES), default="matrix",
                    help="matrix: L x C against both Python peers (default); rate: a "
                         "rate-limited CA, adaptive against fixed; step: the rate halves and "
                         "comes back; scale: 1, 2, 4 instances in one group")
    ap.add_argument("--events", type=int, default=100000, help="backlog N (default 100000)")
    ap.add_argument("--latencies", default="0,20", help="CA latencies in ms")
    ap.add_argument("--concurrencies", default="1,8,32,128")
    ap.add_argument("--row-budget-s", type=float, default=150,
                    help="rows with L > 0 get N capped to about this many seconds at C/L")
    ap.add_argument("--py-events-l0", type=int, default=5000, help="N of the Python loop at L=0")
    ap.add_argument("--py-events-lat", type=int, default=1000,
                    help="N of the Python loop at L > 0")
    ap.add_argument("--pyc-events", type=int, default=20000,
                    help="N at most of the concurrent Python peer")
    ap.add_argument("--no-python", action="store_true")
    ap.add_argument("--no-python-concurrent", action="store_true")
    ap.add_argument("--no-ca-alone", action="store_true",
                    help="skip measuring the reference CA alone (certbridge-refca-load)")
    ap.add_argument("--no-paced", action="store_true",
                    help="skip the paced row per latency at C=32 (events arriving at half "
                         "the measured backlog throughput: steady-state event latency)")
    ap.add_argument("--rates", default="500,2000", help="rate suite: R in calls/s")
    ap.add_argument("--rate-latency", type=int, default=20, help="rate and step suites: L ms")
    ap.add_argument("--rate-ceiling", type=int, default=128,
                    help="rate and step suites: ca.concurrency of the adaptive rows")
    ap.add_argument("--rate-cells",
                    default="adaptive:128,fixed:32,fixed:128,concurrent:128,loop",
                    help="rate suite: the rows per R: certbridge adaptive:CEILING or fixed:C, "
                         "the concurrent Python peer concurrent:C, the Python loop loop")
    ap.add_argument("--rate-seconds", type=float, default=90,
                    help="rate suite: N for about this long at R")
    ap.add_argument("--step-rates", default="2000,500", help="step suite: R in calls/s")
    ap.add_argument("--step-at", type=float, default=20,
                    help="step suite: R halves this many seconds after the first assignment "
                         "and comes back as long again later")
    ap.add_argument("--scale-instances", default="1,2,4")
    ap.add_argument("--scale-partitions", type=int, default=8)
    ap.add_argument("--scale-latency", type=int, default=20)
    ap.add_argument("--scale-concurrency", type=int, default=32)
    ap.add_argument("--scale-events", type=int, default=60000)
    ap.add_argument("--batch-events", type=int, default=1000,
                    help="pipeline.batch_max_events of every engine (certbridge's default is "
                         "500; on a backlog a larger batch spends less of its time at the "
                         "batch boundary)")
    ap.add_argument("--batch-ms", type=int, default=500)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra certbridge configuration key (repeatable)")
    ap.add_argument("--drain-idle-ms", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--row-timeout", type=float, default=1800)
    ap.add_argument("--bootstrap-file", help="use this running broker instead of starting one")
    ap.add_argument("--callgrind", action="store_true", help="run certbridge under callgrind")
    ap.add_argument("--wrap", help="profiling: run certbridge under this command ({out} is "
                    "replaced by a path prefix in the work folder)")
    ap.add_argument("--perf", action="store_true",
                    help="run certbridge under perf record -e cpu-clock (profiling only)")
    ap.add_argument("--work", help="work folder (default: a new one under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", help="results file (default bench/results.json, or "
                    "bench/results-SUITE.json)")
    ap.add_argument("--results-md", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--plot", help="plot file (default bench/throughput.png, or "
                    "bench/SUITE.png)")
    ap.add_argument("--command", default="bench/run.sh", help="the command shown in RESULTS.md")
    ap.add_argument("--from-json", help="only rewrite RESULTS.md and the plot from this results "
                    "file")
    a = ap.parse_args()

    if a.from_json:  # rewrite RESULTS.md and the plot from a previous run
        with open(a.from_json) as f:
            saved = json.load(f)
        suite = saved["meta"].get("suite", "matrix")
        saved["meta"]["targets"] = suite_targets(suite, saved["rows"])
        if a.results_md:
            write_results_md(a.results_md, saved["rows"], saved["meta"], suite)
        suite_plot(suite, saved["rows"], a.plot or os.path.join(HERE, SUITES[suite][2]))
        return 0
    a.json = a.json or os.path.join(HERE, SUITES[a.suite][1])
    a.plot = a.plot or os.path.join(HERE, SUITES[a.suite][2])
    b = Bench(a)
    rows = []
    load_before = os.getloadavg()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        b.start_broker()
        b.make_workload()
        {"matrix": run_matrix, "rate": run_rate, "step": run_step, "scale": run_scale}[
            a.suite](a, b, rows)
    finally:
        b.cleanup()
    meta = {"command": a.command, "suite": a.suite,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": machine(), "batch_events": a.batch_events, "batch_ms": a.batch_ms,
            "partitions": a.scale_partitions if a.suite == "scale" else a.partitions,
            "seed": a.seed, "drain_idle_ms": a.drain_idle_ms,
            "build_type": build_type(a.build), "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}
    meta["targets"] = suite_targets(a.suite, rows)
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print(suite_body(a.suite, rows, meta))
    for name, val, ok in meta["targets"]:
        print("target %-60s %-45s %s" % (name, val, "met" if ok else "NOT MET"))
    if a.results_md:
        write_results_md(a.results_md, rows, meta, a.suite)
    if a.plot:
        suite_plot(a.suite, rows, a.plot)
    log("results: %s, %s, %s" % (a.json, a.results_md, a.plot))
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
