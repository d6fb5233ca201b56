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

    def start_ca(self, state, latency_ms, inventory=None, timeout=60):
        url_file = state + ".url"
        if os.path.exists(url_file):
            os.unlink(url_file)
        cmd = [self.refca, "serve", "--state", state, "--pki", self.pki, "--listen",
               "127.0.0.1:0", "--url-file", url_file, "--latency-ms", str(latency_ms)]
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

    def run_row(self, engine, latency, concurrency, n, paced_rate=None):
        name = "%s-L%d-C%s-N%d%s" % (engine, latency, concurrency, n,
                                     "-paced" if paced_rate else "")
        rdir = os.path.join(self.work, "rows", name)
        shutil.rmtree(rdir, ignore_errors=True)
        os.makedirs(rdir)
        tag = "%s-%d" % (name, int(time.time()))
        org_t, person_t = "bench.org." + tag, "bench.person." + tag
        out_t, dlq_t = "bench.outcomes." + tag, "bench.dlq." + tag
        for t in (org_t, person_t):
            self.tool("create-topic", self.bootstrap, t, str(self.a.partitions))
        for t in (out_t, dlq_t):
            self.tool("create-topic", self.bootstrap, t, "1")
        state = os.path.join(rdir, "ca-state")
        shutil.copytree(self.snapshot, state)
        ca = self.start_ca(state, latency)
        lines = self.event_lines[:n]
        events_path = os.path.join(rdir, "events.jsonl")
        if not paced_rate:
            with open(events_path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            t0 = time.time()
            produced = int(self.tool("produce", self.bootstrap, org_t, person_t,
                                     events_path).strip())
            log("%s: %d events pre-loaded in %.1f s" % (name, produced, time.time() - t0))
        group, txn = "bench-" + tag, "bench-" + tag
        out_log = os.path.join(rdir, engine + ".log")
        if engine == "certbridge":
            conf = os.path.join(rdir, "certbridge.conf")
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
                "ca.url": ca.url, "ca.tls.cert": os.path.join(self.pki, "client.pem"),
                "ca.tls.key": os.path.join(self.pki, "client.key"),
                "ca.tls.ca_bundle": os.path.join(self.pki, "tls-ca.pem"),
                "ca.concurrency": str(concurrency), "metrics.listen": "127.0.0.1:0",
                "log.level": "info"}
            keys.update(kv.split("=", 1) for kv in self.a.conf)
            with open(conf, "w") as f:
                f.writelines("%s=%s\n" % kv for kv in keys.items())
            cmd = [self.certbridge, "run", "-c", conf, "--drain-idle-ms",
                   str(self.a.drain_idle_ms)]
        else:
            cmd = [os.path.join(os.path.dirname(sys.executable), "python"),
                   os.path.join(HERE, "python_loop.py"), "--bootstrap", self.bootstrap,
                   "--ca-url", ca.url, "--pki", self.pki,
                   "--schema", os.path.join(ROOT, "schemas", "CertificateActionOutcome.avsc"),
                   "--group", group, "--txn-id", txn, "--org-topic", org_t,
                   "--person-topic", person_t, "--outcome-topic", out_t, "--dlq-topic", dlq_t,
                   "--batch", str(self.a.batch_events), "--batch-ms", str(self.a.batch_ms),
                   "--drain-idle-ms", str(self.a.drain_idle_ms)]
        wrapper = []
        if self.a.callgrind and engine == "certbridge":
            wrapper = ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s"
                       % os.path.join(self.work, "callgrind.%s.out" % name)]
        elif self.a.wrap and engine == "certbridge":
            wrapper = self.a.wrap.replace("{out}", os.path.join(self.work, name)).split()
        elif self.a.perf and engine == "certbridge":
            wrapper = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "--call-graph",
                       "dwarf,16384", "-o",
                       os.path.join(self.work, "perf.%s.data" % name), "--"]
        t_start = time.time()
        # CERTBRIDGE_* variables are configuration to certbridge (and unknown
        # ones are refused): the benchmark's own, e.g. CERTBRIDGE_CACHE, stay out
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTBRIDGE_")}
        proc = subprocess.Popen(wrapper + cmd, stdout=open(out_log, "w"), stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent, env=env)
        self.procs.append(proc)
        paced_s = None
        if paced_rate:
            # the instance first joins the group, then events arrive at a pace
            deadline = time.time() + 60
            while time.time() < deadline and not self.assigned_at(engine, out_log):
                time.sleep(0.05)
            paced_s = self.produce_paced(lines, org_t, person_t, paced_rate)
            log("%s: %d events produced at %.0f/s over %.1f s" % (name, len(lines), paced_rate,
                                                                paced_s))
        rc, ru, timed_out, hwm_kib = wait_rusage(proc, self.a.row_timeout)
        self.procs.remove(proc)
        ca_cpu = self.stop_ca(ca)
        if rc != 0 or timed_out:
            log("%s: %s exited %d%s (log %s)" % (name, engine, rc,
                                                 " after the row timeout" if timed_out else "",
                                                 out_log))
        assigned = self.assigned_at(engine, out_log) or t_start * 1000
        outcomes = [json.loads(x) for x in
                    self.tool("outcomes", self.bootstrap, out_t).splitlines() if x]
        dead = len(self.tool("dlq", self.bootstrap, dlq_t).splitlines())
        ts_in = self.read_input_timestamps([org_t, person_t])
        row = self.figures(engine, latency, concurrency, n, outcomes, dead, ts_in, assigned, ru,
                           hwm_kib, ca_cpu, rc, timed_out)
        row["paced_rate"] = paced_rate
        row["name"] = name
        log("%s: %s" % (name, json.dumps(row)))
        if not self.a.keep:
            shutil.rmtree(rdir, ignore_errors=True)
        return row

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
            if engine == "python" and line.startswith('{"assigned_at"'):
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
            "| peak RSS MiB | CPU s per 1k actions (µs/action) | × Python loop | correct |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
    out = []
    for r in rows:
        share = "%.0f%%" % (100 * r["share_of_bound"]) if r["share_of_bound"] else "-"
        alone = "-"
        if r.get("ca_alone_calls_per_s"):
            alone = "%s (%.0f%%)" % (fmt(r["ca_alone_calls_per_s"]), 100 * r["share_of_ca_alone"])
        ev = "-" if r["event_latency_p50_ms"] is None else "%.2f / %.2f" % (
            r["event_latency_p50_ms"] / 1000.0, r["event_latency_p99_ms"] / 1000.0)
        py = find(rows, "python", r["latency_ms"])
        ratio = "-"
        if r["engine"] == "certbridge" and not r.get("paced_rate") and py and py["actions_per_s"]:
            ratio = "%.1f×" % (r["actions_per_s"] / py["actions_per_s"])
        cpu = "-" if r["cpu_s_per_1000_actions"] is None else "%.3f (%.0f)" % (
            r["cpu_s_per_1000_actions"], r["cpu_us_per_action"])
        name = r["engine"] + (" (paced %.0f ev/s)" % r["paced_rate"] if r.get("paced_rate")
                              else "")
        out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s |"
                   % (name, r["latency_ms"], r["concurrency"] or "1 (sequential)",
                      fmt(r["events"]), fmt(r["outcomes"]), fmt(r["actions_per_s"]),
                      fmt(r["ca_calls_per_s"]), share, alone, fmt(r["ca_latency_p50_ms"]),
                      fmt(r["ca_latency_p99_ms"]), ev, fmt(r["peak_rss_mib"], 1), cpu, ratio,
                      "yes" if r["correct"] else "NO"))
    return head + "\n".join(out) + "\n"


def find(rows, engine, latency, concurrency=None, paced=False):
    for r in rows:
        if (r["engine"] == engine and r["latency_ms"] == latency and bool(r.get("paced_rate"))
                == paced and (concurrency is None or r["concurrency"] == concurrency)):
            return r
    return None


def targets(rows):
    """The issue's targets, each with the measured figure: (name, value, met)."""
    out = []
    lat = max([r["latency_ms"] for r in rows if r["engine"] == "certbridge"], default=0)
    cb, py = find(rows, "certbridge", lat, 32), find(rows, "python", lat)
    if lat and cb:
        out.append(("L=%d ms, C=32: >= 90%% of C/L" % lat, "%.1f%% (%s CA calls/s of %s)"
                    % (100 * cb["share_of_bound"], fmt(cb["ca_calls_per_s"]),
                       fmt(cb["bound_calls_per_s"])), cb["share_of_bound"] >= 0.9))
    if lat and cb and py:
        ratio = cb["actions_per_s"] / py["actions_per_s"]
        out.append(("L=%d ms, C=32: >= 25x the Python loop" % lat, "%.1fx (%s vs %s actions/s)"
                    % (ratio, fmt(cb["actions_per_s"]), fmt(py["actions_per_s"])), ratio >= 25))
    cb, py = find(rows, "certbridge", 0, 32), find(rows, "python", 0)
    if cb:
        out.append(("L=0, C=32: <= 50 µs certbridge CPU per action", "%.1f µs"
                    % cb["cpu_us_per_action"], cb["cpu_us_per_action"] <= 50))
    if cb and py:
        ratio = cb["actions_per_s"] / py["actions_per_s"]
        out.append(("L=0, C=32: >= 5x the Python loop", "%.1fx (%s vs %s actions/s)"
                    % (ratio, fmt(cb["actions_per_s"]), fmt(py["actions_per_s"])), ratio >= 5))
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


def write_results_md(path, rows, meta):
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    body = ["%s" % start, "",
            "Generated by `%s` on %s." % (meta["command"], meta["date"]), "",
            "Machine: %d CPUs (`nproc`), %s, %.1f GiB memory, Linux %s; broker, reference CA, "
            "certbridge (or the Python loop) and the load all share it."
            % (meta["machine"]["nproc"], meta["machine"]["cpu"], meta["machine"]["memory_gib"],
               meta["machine"]["kernel"]),
            "",
            "Settings: %s build, pipeline.batch_max_events=%d, pipeline.batch_max_ms=%d, %d "
            "partitions per input topic, workload seed %d, drain idle %d ms; load average "
            "before %s, after %s."
            % (meta["build_type"], meta["batch_events"], meta["batch_ms"], meta["partitions"],
               meta["seed"], meta["drain_idle_ms"], meta["load_before"], meta["load_after"]), "",
            table(rows), "", "Targets:", "",
            "| target | measured | met |", "|---|---|---|"]
    for name, val, ok in meta["targets"]:
        body.append("| %s | %s | %s |" % (name, val, "yes" if ok else "**no**"))
    body += ["", "![throughput against concurrency](throughput.png)", "", end]
    text = "\n".join(body) + "\n"
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if start in old and end in old:
        text = old[:old.index(start)] + text.rstrip("\n") + old[old.index(end) + len(end):]
    else:
        text = "# certbridge benchmark results\n\n" + text
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="build folder with certbridge, refca, cbtool")
    ap.add_argument("--events", type=int, default=100000, help="backlog N (default 100000)")
    ap.add_argument("--latencies", default="0,20", help="CA latencies in ms")
    ap.add_argument("--concurrencies", default="1,8,32,128")
    ap.add_argument("--row-budget-s", type=float, default=150,
                    help="rows with L > 0 get N capped to about this many seconds at C/L")
    ap.add_argument("--py-events-l0", type=int, default=5000, help="N of the Python loop at L=0")
    ap.add_argument("--py-events-lat", type=int, default=1000,
                    help="N of the Python loop at L > 0")
    ap.add_argument("--no-python", action="store_true")
    ap.add_argument("--no-ca-alone", action="store_true",
                    help="skip measuring the reference CA alone (certbridge-refca-load)")
    ap.add_argument("--no-paced", action="store_true",
                    help="skip the paced row per latency at C=32 (events arriving at half "
                         "the measured backlog throughput: steady-state event latency)")
    ap.add_argument("--batch-events", type=int, default=1000,
                    help="pipeline.batch_max_events of both engines (certbridge's default is "
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
    ap.add_argument("--json", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--results-md", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--plot", default=os.path.join(HERE, "throughput.png"))
    ap.add_argument("--command", default="bench/run.sh", help="the command shown in RESULTS.md")
    ap.add_argument("--from-json", help="only rewrite RESULTS.md and the plot from this results "
                    "file")
    a = ap.parse_args()

    if a.from_json:  # rewrite RESULTS.md and the plot from a previous run
        with open(a.from_json) as f:
            saved = json.load(f)
        if a.results_md:
            write_results_md(a.results_md, saved["rows"], saved["meta"])
        if a.plot:
            plot(saved["rows"], a.plot)
        return 0
    lats = [int(x) for x in a.latencies.split(",") if x != ""]
    concs = [int(x) for x in a.concurrencies.split(",") if x != ""]
    b = Bench(a)
    rows = []
    load_before = os.getloadavg()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        b.start_broker()
        b.make_workload()
        for lat in lats:
            for c in concs:
                row = b.run_row("certbridge", lat, c, row_events(a, lat, c, "certbridge"))
                if not a.no_ca_alone:
                    row.update(b.ca_alone(lat, c, row))
                rows.append(row)
            if not a.no_paced and find(rows, "certbridge", lat, 32):
                base = find(rows, "certbridge", lat, 32)
                rate = max(10.0, base["actions_per_s"] / 2.0 * base["events"] / base["outcomes"])
                n = min(a.events, int(rate * 30))
                rows.append(b.run_row("certbridge", lat, 32, n, paced_rate=round(rate)))
            if not a.no_python:
                rows.append(b.run_row("python", lat, 0, row_events(a, lat, 1, "python")))
    finally:
        b.cleanup()
    meta = {"command": a.command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": machine(), "batch_events": a.batch_events, "batch_ms": a.batch_ms,
            "partitions": a.partitions, "seed": a.seed, "drain_idle_ms": a.drain_idle_ms,
            "build_type": build_type(a.build), "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}
    meta["targets"] = targets(rows)
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print(table(rows))
    for name, val, ok in meta["targets"]:
        print("target %-50s %-45s %s" % (name, val, "met" if ok else "NOT MET"))
    if a.results_md:
        write_results_md(a.results_md, rows, meta)
    if a.plot:
        plot(rows, a.plot)
    log("results: %s, %s, %s" % (a.json, a.results_md, a.plot))
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
