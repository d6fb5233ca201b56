#!/usr/bin/env python3
"""certbridge soak: a long run at a paced load with CA faults switched on
(README "Benchmarks" > "Soak", bench/SOAK.md).

    bench/soak.sh [--build DIR] [options]        (builds, makes the venv, runs this)
    bench/soak.py [--build DIR] [--minutes 30] [--rate 50] [options]

What it does:

  1. starts its own Kafka broker (tests/harness/kafka_harness.py) and the
     reference CA with the workload's inventory and faults on (default:
     --fail-503 0.05 --drop 0.02 --drop-after 0.02 --latency-ms 5
     --retry-after 0);
  2. starts `certbridge run` (metrics.listen=127.0.0.1:0) and, once it has
     its partitions, produces the deterministic EOS workload
     (tests/integration/eos/workload.py: every event type, 1 poison message
     in 97) at a fixed --rate events/s for --minutes, one slice a second, so
     every expected outcome and CA effect is known in advance;
  3. every --sample-s seconds samples certbridge's RSS (/proc/PID/status
     VmRSS), its open file descriptors (/proc/PID/fd), the CA's connection
     count (ESTABLISHED TCP connections in /proc/net/tcp whose local port is
     the CA's port, i.e. what the CA holds open; beside it the ones whose
     socket inode is one of certbridge's fds, i.e. certbridge's own
     connections to the CA), and certbridge's consumer lag and counters
     (/metrics);
  4. stops producing, waits until the group's committed lag is 0 (polled
     every second; --drain-timeout-s is only a safety net), stops certbridge
     with SIGTERM and runs the exactly-once check of
     tests/integration/eos/eos_test.py (every expected outcome exactly once:
     duplicates 0, missing 0, unexpected 0, status as expected; every poison
     message dead-lettered; the CA ledger applying every effect once: double
     effects 0);
  5. judges "flat after warm-up" on the samples of the load phase after the
     warm-up (default min(5 min, 20% of the run)): RSS range under
     --rss-range-pct of its mean, RSS drift (least-squares slope times the
     window) under --rss-drift-pct of its mean, fds and CA connections within
     +-band of their median; the faults were hit (CA retries > 0);
  6. writes the samples and verdict as JSON, a plot (RSS, fds, CA
     connections, lag over time) and its section of bench/SOAK.md, prints
     PASS/FAIL per criterion and exits 1 if any fails.

A run of 30 minutes or more fills the "30-minute run" section of SOAK.md,
bench/soak.png and bench/soak-results.json; a shorter one the "Validation
run" section, bench/soak-validation.png and bench/soak-validation-results.json.
"""
import argparse
import bisect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import types
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.environ.get("CERTBRIDGE_CACHE", os.path.expanduser("~/.cache/certbridge"))
VENV_PY = os.path.join(CACHE, "bench-venv", "bin", "python")


def _need_venv():
    """Runs this script again under the bench venv (bench/run.sh and
    bench/soak.sh make it) when confluent-kafka or matplotlib are missing."""
    try:
        import confluent_kafka  # noqa: F401
        import matplotlib  # noqa: F401
        return
    except ImportError:
        pass
    if os.access(VENV_PY, os.X_OK) and not os.environ.get("CB_SOAK_REEXEC"):
        os.environ["CB_SOAK_REEXEC"] = "1"
        os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])
    raise SystemExit("soak: confluent-kafka and matplotlib are missing; run bench/soak.sh once "
                     "(it makes the venv %s)" % os.path.dirname(os.path.dirname(VENV_PY)))


sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "eos"))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (read-only helpers: machine(), build_type())
import eos_test  # noqa: E402  (RefCA, Scenario: configuration, lag, exactly-once check)

FAULTS = "--fail-503 0.05 --drop 0.02 --drop-after 0.02 --latency-ms 5 --retry-after 0"
TCP_ESTABLISHED = "01"


def log(msg):
    print("soak: " + msg, flush=True)


# ---- what is sampled -------------------------------------------------------

def proc_status(pid):
    """{VmRSS, VmHWM, Threads} of a process, KiB and count."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def proc_cpu_s(pid):
    """User + system CPU seconds of a process (every thread)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def socket_inodes(pid):
    """The open fds of a process, and the inodes of its sockets."""
    fds, inodes = 0, set()
    d = "/proc/%d/fd" % pid
    for name in os.listdir(d):
        fds += 1
        try:
            target = os.readlink(os.path.join(d, name))
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return fds, inodes


def tcp_table():
    """(local port, remote port, state, inode) of every IPv4 and IPv6 TCP
    socket of the machine (/proc/net/tcp, /proc/net/tcp6)."""
    rows = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    c = line.split()
                    rows.append((int(c[1].rsplit(":", 1)[1], 16),
                                 int(c[2].rsplit(":", 1)[1], 16), c[3], c[9]))
        except OSError:
            pass
    return rows


def ca_connections(ca_port, cb_inodes):
    """(the CA's ESTABLISHED connections: local port = the CA's port;
    certbridge's ESTABLISHED connections to the CA: remote port = the CA's
    port and the socket one of certbridge's fds, as a set of socket inodes)."""
    ca_side, cb_side = 0, set()
    for lport, rport, st, inode in tcp_table():
        if st == TCP_ESTABLISHED and lport == ca_port:
            ca_side += 1
        elif st == TCP_ESTABLISHED and rport == ca_port and inode in cb_inodes:
            cb_side.add(inode)
    return ca_side, cb_side


def parse_metrics(text):
    """Prometheus text exposition as {"name|k=v,...": value} (labels sorted,
    as eos_test.scrape keys them); enough for certbridge's own /metrics."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if not m:
            continue
        labels = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or "")
        key = m.group(1) + "|" + ",".join("%s=%s" % kv for kv in sorted(labels))
        try:
            out[key] = float(m.group(3))
        except ValueError:
            pass
    return out


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return parse_metrics(r.read().decode())


def total(m, name):
    return sum(v for k, v in m.items() if k.split("|")[0] == name)


# ---- the verdict -----------------------------------------------------------

def slope(xs, ys):
    """Least-squares slope of ys over xs (0 for fewer than 2 points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


def median(v):
    s = sorted(v)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2.0


def verdict(samples, meta, eos_failures):
    """[(criterion, measured, passed)] of the run, and the figures behind
    them (post-warm-up statistics)."""
    warm, end = meta["warmup_s"], meta["load_s"]
    post = [s for s in samples if s["phase"] == "load" and warm <= s["t"] <= end + 1e-6]
    crit, figs = [], {"post_warmup_samples": len(post)}
    crit.append(("enough samples after warm-up (>= 5)", "%d" % len(post), len(post) >= 5))
    if len(post) >= 2:
        rss = [s["rss_kib"] for s in post]
        ts = [s["t"] for s in post]
        mean = sum(rss) / len(rss)
        rng = max(rss) - min(rss)
        drift = slope(ts, rss) * (ts[-1] - ts[0])
        figs.update(rss_mean_mib=round(mean / 1024, 2), rss_min_mib=round(min(rss) / 1024, 2),
                    rss_max_mib=round(max(rss) / 1024, 2),
                    rss_range_pct=round(100.0 * rng / mean, 2),
                    rss_drift_mib=round(drift / 1024, 3),
                    rss_drift_pct=round(100.0 * drift / mean, 2),
                    rss_at_warmup_mib=round(post[0]["rss_kib"] / 1024, 2),
                    rss_at_end_mib=round(post[-1]["rss_kib"] / 1024, 2))
        crit.append(("RSS range after warm-up < %g%% of its mean" % meta["rss_range_pct"],
                     "%.2f%% (%.1f..%.1f MiB, mean %.1f MiB)"
                     % (figs["rss_range_pct"], figs["rss_min_mib"], figs["rss_max_mib"],
                        figs["rss_mean_mib"]), figs["rss_range_pct"] < meta["rss_range_pct"]))
        crit.append(("RSS drift after warm-up (slope x window) < %g%% of its mean"
                     % meta["rss_drift_pct"],
                     "%+.2f%% (%+.2f MiB over %.0f s)" % (figs["rss_drift_pct"],
                                                          figs["rss_drift_mib"], ts[-1] - ts[0]),
                     figs["rss_drift_pct"] < meta["rss_drift_pct"]))
        band = meta["band"]
        for key in ("fds", "fds_other", "ca_conns", "ca_conns_cb"):
            v = [s[key] for s in post]
            figs[key] = {"min": min(v), "max": max(v), "median": median(v),
                         "drift": round(slope(ts, v) * (ts[-1] - ts[0]), 2)}
        # the injected drops close connections at any moment, and the pool
        # opens a new one only when a call needs it, so a sample may see a
        # few of them missing (a dip of the fds and the connections by the
        # same number). A leak is growth: the fds other than the CA
        # connections must stay within the band, and the CA connections and
        # all fds must not rise above it (nor the pool above its cap).
        f = figs["fds_other"]
        crit.append(("fds other than the CA connections within +-%d of their median" % band,
                     "%d..%d (median %g)" % (f["min"], f["max"], f["median"]),
                     f["max"] - f["median"] <= band and f["median"] - f["min"] <= band))
        f = figs["fds"]
        crit.append(("open fds never above their median + %d" % band,
                     "%d..%d (median %g; dips are dropped CA connections)"
                     % (f["min"], f["max"], f["median"]), f["max"] - f["median"] <= band))
        f, cap = figs["ca_conns"], meta["concurrency"]
        crit.append(("CA connections never above their median + %d nor ca.concurrency (%d)"
                     % (band, cap), "%d..%d (median %g; dips are dropped connections)"
                     % (f["min"], f["max"], f["median"]),
                     f["max"] - f["median"] <= band and f["max"] <= cap))
    f = meta.get("faults") or {}
    crit.append(("CA faults met (outcomes whose call took > 1 attempt)",
                 "%s of %s calls retried (%s extra attempts)"
                 % (f.get("retried_calls"), f.get("calls"), f.get("extra_attempts")),
                 (f.get("retried_calls") or 0) > 0))
    eo = meta.get("eos") or {}
    crit.append(("every outcome exactly once (eos_test check)",
                 "outcomes %s, duplicates %s, missing %s, CA effects %s, CA double effects %s, "
                 "dead letters %s%s" % (eo.get("outcomes"), eo.get("duplicates"),
                                        eo.get("missing"), eo.get("ca_effects"),
                                        eo.get("ca_double_effects"), eo.get("dead_letters"),
                                        "; failed: " + ", ".join(eos_failures)
                                        if eos_failures else ""),
                 bool(eo) and not eos_failures))
    crit.append(("certbridge exits 0 on SIGTERM", str(meta.get("exit_code")),
                 meta.get("exit_code") == 0))
    return crit, figs


# ---- the run ---------------------------------------------------------------

class SoakCA(eos_test.RefCA):
    """eos_test's reference CA, given longer to start: a 30-minute workload's
    inventory (about 130,000 holders) is issued before it listens."""

    def start(self, listen="127.0.0.1:0", timeout=1800):
        if os.path.exists(self.urlfile):
            os.unlink(self.urlfile)
        self.log = open(os.path.join(self.state, "..", "ca.log"), "a")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--state", self.state, "--pki", self.pki,
             "--inventory", self.inventory, "--listen", listen, "--url-file", self.urlfile]
            + self.extra, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=eos_test._die_with_parent)
        deadline = time.time() + timeout
        while not os.path.exists(self.urlfile) or not open(self.urlfile).read().strip():
            if self.proc.poll() is not None:
                raise SystemExit("soak: reference CA exited with %d" % self.proc.returncode)
            if time.time() > deadline:
                raise SystemExit("soak: reference CA did not start")
            time.sleep(0.2)
        self.url = open(self.urlfile).read().strip()
        return self.url


def key_of(line, org_topic, person_topic):
    """(topic, key) of one workload line, as `cbtool produce` picks them."""
    topic, key = org_topic, "poison"
    try:
        ev = json.loads(line)
    except ValueError:
        ev = None
    if isinstance(ev, dict):
        if "person" in ev:
            topic = person_topic
            if isinstance(ev["person"].get("person_id"), str):
                key = ev["person"]["person_id"]
        elif isinstance((ev.get("org") or {}).get("code"), str):
            key = ev["org"]["code"]
    return topic, key


class Soak:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        for b in ("certbridge", "refca/certbridge-refca", "tests/cbtool"):
            if not os.access(os.path.join(self.build, b), os.X_OK):
                raise SystemExit("soak: %s/%s is missing: build first" % (self.build, b))
        self.work = a.work or tempfile.mkdtemp(prefix="cb-soak-")
        os.makedirs(self.work, exist_ok=True)
        self.kafka_state = os.path.join(self.work, "kafka")
        self.harness = os.path.join(ROOT, "tests", "harness", "kafka_harness.py")
        self.broker = False
        self.s = None
        self.cb = None
        self.samples = []
        self.prev_conns = set()
        self.load_s = a.minutes * 60.0
        self.n_events = int(round(a.rate * self.load_s))

    def start(self):
        subprocess.run([sys.executable, self.harness, "start", "--state", self.kafka_state],
                       check=True)
        self.broker = True
        t0 = time.time()
        # eos_test's scenario: topic names, the workload and its expected
        # outcomes, the configuration writer, lag and the exactly-once check
        # its folder (cb-eos-soak-*) inside this run's own, not beside other
        # runs' in /tmp
        saved, tempfile.tempdir = tempfile.tempdir, self.work
        try:
            self.s = s = eos_test.Scenario(types.SimpleNamespace(
                scenario="soak", build=self.build, bootstrap_file=os.path.join(
                    self.kafka_state, "bootstrap"), events=self.n_events, seed=self.a.seed,
                keep=self.a.keep, valgrind=False))
        finally:
            tempfile.tempdir = saved
        with open(s.events, encoding="utf-8") as f:
            self.lines = f.read().splitlines()
        log("workload: %d events (%d poison), %d expected outcomes, %d CA effects (%.1f s)"
            % (len(self.lines), s.expected["poison"], len(s.expected["outcomes"]),
               len(s.expected["ca_effects"]), time.time() - t0))
        for t in (s.org_topic, s.person_topic):
            s.tool("create-topic", s.bootstrap, t, str(self.a.partitions))
        for t in (s.outcome_topic, s.dlq_topic):
            s.tool("create-topic", s.bootstrap, t, "1")
        t0 = time.time()
        s.ca = SoakCA(self.build, s.work, s.inventory, self.a.ca_faults.split())
        s.ca.start()
        self.ca_port = int(s.ca.url.rsplit(":", 1)[1].split("/")[0])
        log("reference CA at %s (inventory issued in %.0f s), faults: %s"
            % (s.ca.url, time.time() - t0, self.a.ca_faults))
        extra = {"pipeline.batch_max_events": str(self.a.batch_events),
                 "pipeline.batch_max_ms": str(self.a.batch_ms),
                 "ca.concurrency": str(self.a.concurrency),
                 "metrics.ca_probe_interval_ms": str(self.a.probe_ms)}
        extra.update(kv.split("=", 1) for kv in self.a.conf)
        self.conf_keys = extra
        conf = s.conf("soak", "cb-soak", extra)
        self.cb = s.start(conf, "soak")
        self.port = eos_test.metrics_port(s, "soak")
        if not eos_test.wait_assigned(s, "soak", self.cb, 0):
            raise SystemExit("soak: certbridge got no assignment (see %s/soak.log)" % s.work)
        log("certbridge pid %d, metrics on port %d, assigned; producing %g events/s for %g "
            "min" % (self.cb.pid, self.port, self.a.rate, self.a.minutes))

    def sample(self, t, phase, produced):
        pid = self.cb.pid
        st = proc_status(pid)
        fds, inodes = socket_inodes(pid)
        ca_side, cb_conns = ca_connections(self.ca_port, inodes)
        # connections certbridge opened to the CA since the last sample (at
        # least: one opened and closed between two samples is not seen)
        new = len(cb_conns - self.prev_conns)
        self.prev_conns = cb_conns
        m = metrics(self.port)
        row = {"t": round(t, 2), "phase": phase, "produced": produced,
               "rss_kib": st["VmRSS"], "hwm_kib": st["VmHWM"], "threads": st["Threads"],
               "fds": fds, "fds_other": fds - len(cb_conns), "ca_conns": ca_side,
               "ca_conns_cb": len(cb_conns), "ca_new_conns": new,
               "cpu_s": round(proc_cpu_s(pid), 2),
               "lag": int(m.get("certbridge_consumer_lag|", -1)),
               "events_consumed": int(total(m, "certbridge_events_consumed_total")),
               "actions": int(total(m, "certbridge_actions_total")),
               "dead_letters": int(total(m, "certbridge_dead_letters_total")),
               "ca_retries": int(total(m, "certbridge_ca_retries_total")),
               "ca_in_flight": int(total(m, "certbridge_ca_in_flight")),
               "txn_committed": int(m.get("certbridge_transactions_total|result=committed", 0)),
               "txn_aborted": int(m.get("certbridge_transactions_total|result=aborted", 0)),
               "held": int(total(m, "certbridge_held")),
               "ca_rss_kib": proc_status(self.s.ca.proc.pid).get("VmRSS", 0)}
        self.samples.append(row)
        log("t=%5.0fs %-5s produced %6d  RSS %6.1f MiB  fds %3d  CA conns %2d (certbridge "
            "side %2d, %3d new)  lag %5d  actions %7d"
            % (t, phase, produced, row["rss_kib"] / 1024.0, fds, ca_side, len(cb_conns), new,
               row["lag"], row["actions"]))
        return row

    def alive(self):
        if self.cb.poll() is not None:
            raise SystemExit("soak: certbridge exited with %d mid-run (see %s/soak.log)"
                             % (self.cb.returncode, self.s.work))
        if self.s.ca.proc.poll() is not None:
            raise SystemExit("soak: the reference CA exited with %d mid-run (see %s/ca.log)"
                             % (self.s.ca.proc.returncode, self.s.work))
        if not os.path.isdir(self.s.ca.state):
            raise SystemExit("soak: the reference CA's state folder %s is gone" % self.s.ca.state)

    def run(self):
        from confluent_kafka import Producer
        s = self.s
        failed = []
        producer = Producer({"bootstrap.servers": s.bootstrap, "linger.ms": 5,
                             "enable.idempotence": True})

        def delivered(err, _msg):
            if err is not None:
                failed.append(str(err))

        slice_s, sample_s = self.a.slice_s, self.a.sample_s
        n_slices = int(round(self.load_s / slice_s))
        every = max(1, int(round(sample_s / slice_s)))
        produced = 0
        t0 = time.monotonic()
        self.t0_wall = time.time()
        for k in range(n_slices + 1):
            due = t0 + k * slice_s
            ahead = due - time.monotonic()
            if ahead > 0:
                producer.poll(0)
                time.sleep(ahead)
            self.alive()
            if k % every == 0:
                self.sample(time.monotonic() - t0, "load", produced)
            if k == n_slices:
                break
            upto = min(len(self.lines), int(round(self.a.rate * (k + 1) * slice_s)))
            for line in self.lines[produced:upto]:
                topic, key = key_of(line, s.org_topic, s.person_topic)
                while True:
                    try:
                        producer.produce(topic, key=key.encode(), value=line.encode(),
                                         on_delivery=delivered)
                        break
                    except BufferError:
                        producer.poll(0.1)
            produced = upto
            producer.poll(0)
            if failed:
                raise SystemExit("soak: produce failed: %s" % failed[:3])
        self.load_end = time.monotonic() - t0
        left = producer.flush(60)
        del producer  # its broker connections end before the broker does
        if left or failed:
            raise SystemExit("soak: produce did not complete: %s" % failed[:3])
        log("produced %d events in %.0f s; waiting for the committed lag to reach 0"
            % (produced, self.load_end))
        # drain: event-driven (the group's committed lag, every second); the
        # deadline only stops a run that would never finish
        deadline = time.monotonic() + self.a.drain_timeout_s
        next_sample = time.monotonic() + sample_s
        while True:
            self.alive()
            lag = s.lag()
            if lag == 0:
                break
            if time.monotonic() > deadline:
                raise SystemExit("soak: input not drained after %d s: lag %d"
                                 % (self.a.drain_timeout_s, lag))
            if time.monotonic() >= next_sample:
                self.sample(time.monotonic() - t0, "drain", produced)
                next_sample += sample_s
            time.sleep(1)
        self.drained_s = time.monotonic() - t0 - self.load_end
        self.sample(time.monotonic() - t0, "drained", produced)
        log("drained %.1f s after the last slice" % self.drained_s)
        self.cb.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.cb.wait(60)
        except subprocess.TimeoutExpired:
            self.cb.kill()
            self.cb.wait()
            self.exit_code = None
        log("certbridge exited %s on SIGTERM; the exactly-once check:" % self.exit_code)
        self.eos = {}
        real_print = print

        def capture(*args, **kw):  # eos_test's check prints its summary as JSON
            text = " ".join(str(a) for a in args)
            if text.startswith("EOS-SUMMARY "):
                self.eos = json.loads(text[len("EOS-SUMMARY "):])
            real_print(*args, **kw)
        eos_test.print = capture
        try:
            self.eos_failures = s.check()
        finally:
            del eos_test.print
        # the faults certbridge met: its CA client retries a 503 or a lost
        # connection by itself (ca.max_attempts) and the outcome says how
        # many attempts its call took
        calls = [json.loads(l).get("attempts") or 0 for l in
                 s.tool("outcomes", s.bootstrap, s.outcome_topic).splitlines() if l]
        calls = [n for n in calls if n > 0]
        self.faults = {"calls": len(calls), "retried_calls": sum(1 for n in calls if n > 1),
                       "extra_attempts": sum(n - 1 for n in calls), "max_attempts": max(
                           calls, default=0)}
        log("outcomes of CA calls: %(calls)d, of them retried: %(retried_calls)d "
            "(%(extra_attempts)d extra attempts, at most %(max_attempts)d for one call)"
            % self.faults)

    def cleanup(self, keep):
        if self.s:
            self.s.cleanup()  # certbridge (if still running) and the CA
        if self.broker:
            subprocess.run([sys.executable, self.harness, "stop", "--state", self.kafka_state],
                           check=False)
        if keep:
            log("work folders kept: %s %s" % (self.work, self.s.work if self.s else ""))
        else:
            shutil.rmtree(self.work, ignore_errors=True)
            if self.s:
                shutil.rmtree(self.s.work, ignore_errors=True)


# ---- report ---------------------------------------------------------------

def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    meta, samples = result["meta"], result["samples"]
    t = [s["t"] / 60.0 for s in samples]
    fig, ax = plt.subplots(4, 1, figsize=(10, 10), sharex=True)
    panels = [
        (ax[0], [("rss_kib", "certbridge RSS (VmRSS)", 1 / 1024.0)], "RSS MiB"),
        (ax[1], [("fds", "certbridge open fds", 1),
                 ("fds_other", "of them not connections to the CA", 1)], "open fds"),
        (ax[2], [("ca_conns", "CA side (local port = CA port)", 1),
                 ("ca_conns_cb", "certbridge side (its sockets to the CA)", 1)],
         "ESTABLISHED\nCA connections"),
        (ax[3], [("lag", "consumer lag (/metrics)", 1)], "consumer lag\n(events)"),
    ]
    for a, series, ylabel in panels:
        for key, label, scale in series:
            style = "--" if key in ("ca_conns_cb", "fds_other") else "-"
            a.plot(t, [s[key] * scale for s in samples], style, marker=".", label=label)
        a.axvspan(0, meta["warmup_s"] / 60.0, color="grey", alpha=0.15)
        a.axvline(meta["load_s"] / 60.0, color="grey", linestyle=":")
        a.set_ylabel(ylabel)
        a.grid(True, alpha=0.3)
        a.legend(fontsize=8, loc="lower right")
        lo, hi = a.get_ylim()
        a.set_ylim(0, max(hi * 1.1, 1))
    # outcomes committed per second between samples, on the lag panel
    rate_t, rate_v = [], []
    for p, q in zip(samples, samples[1:]):
        if q["t"] - p["t"] >= meta["sample_s"] / 2:
            rate_t.append(q["t"] / 60.0)
            rate_v.append((q["actions"] - p["actions"]) / (q["t"] - p["t"]))
    tw = ax[3].twinx()
    tw.plot(rate_t, rate_v, color="tab:orange", marker=".", linewidth=1,
            label="outcomes/s (certbridge_actions_total)")
    tw.set_ylim(0, max(rate_v + [1]) * 1.3)
    tw.set_ylabel("outcomes/s")
    tw.legend(fontsize=8, loc="upper right")
    figs = result["figures"]
    if "rss_mean_mib" in figs:
        ax[0].axhline(figs["rss_mean_mib"], color="green", linestyle=":", linewidth=1)
    ax[0].text(meta["warmup_s"] / 120.0, ax[0].get_ylim()[1] * 0.05, "warm-up",
               ha="center", fontsize=8, color="grey")
    ax[3].set_xlabel("minutes since the first slice (dotted line: last slice produced)")
    fig.suptitle("certbridge soak: %g events/s for %g min, CA faults %s\n%s"
                 % (meta["rate"], meta["minutes"], meta["ca_faults"],
                    "PASS" if result["passed"] else "FAIL"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def para(text):
    """A paragraph of generated Markdown, wrapped like the hand-written text."""
    return textwrap.fill(text, width=95, break_long_words=False, break_on_hyphens=False)


def section(result, img):
    meta, figs = result["meta"], result["figures"]
    m = meta["machine"]
    last = [s for s in result["samples"] if s["phase"] == "load"][-1]
    dr = result["samples"][-1]
    out = [
        para("Generated by `%s` on %s (%s)." % (meta["command"], meta["date"],
                                                "**PASS**" if result["passed"] else "**FAIL**")),
        "",
        para("Machine: %d CPUs (`nproc`), %s, %.1f GiB memory, Linux %s; the broker, the "
        "reference CA, certbridge and the producer all share it; load average before %s, "
        "after %s." % (m["nproc"], m["cpu"], m["memory_gib"], m["kernel"],
                       meta["load_before"], meta["load_after"])), "",
        para("Settings: %s build; %g events/s for %g min (%s events, one slice every %g s), "
        "sampled every %g s, warm-up %g s; CA `%s`; %s; %d partitions per input topic, "
        "workload seed %d." % (meta["build_type"], meta["rate"], meta["minutes"],
                               "{:,}".format(meta["events"]), meta["slice_s"],
                               meta["sample_s"], meta["warmup_s"], meta["ca_faults"],
                               ", ".join("`%s=%s`" % kv for kv in meta["conf"].items()),
                               meta["partitions"], meta["seed"])), "",
        "| figure | value |", "|---|---|",
        "| RSS after warm-up: min / mean / max | %s / %s / %s MiB (range %s%% of the mean) |"
        % (figs.get("rss_min_mib"), figs.get("rss_mean_mib"), figs.get("rss_max_mib"),
           figs.get("rss_range_pct")),
        "| RSS drift after warm-up (least squares) | %+.2f MiB (%+.2f%% of the mean) |"
        % (figs.get("rss_drift_mib", 0), figs.get("rss_drift_pct", 0)),
        "| RSS at the end of warm-up / of the load | %s / %s MiB (peak VmHWM %.1f MiB) |"
        % (figs.get("rss_at_warmup_mib"), figs.get("rss_at_end_mib"), dr["hwm_kib"] / 1024.0),
    ]
    for key, name in (("fds", "open fds"), ("fds_other", "fds other than the CA connections"),
                      ("ca_conns", "CA connections, CA side"),
                      ("ca_conns_cb", "CA connections, certbridge side")):
        f = figs.get(key)
        if f:
            out.append("| %s after warm-up: min / median / max (drift) | %d / %g / %d (%+g) |"
                       % (name, f["min"], f["median"], f["max"], f["drift"]))
    eo, fa = meta.get("eos") or {}, meta.get("faults") or {}
    out += [
        "| events produced / consumed (valid ones; the poison is dead-lettered) | {:,} / {:,} |"
        .format(last["produced"], dr["events_consumed"]),
        "| outcomes committed (expected) | {:,} ({:,}) |".format(eo.get("outcomes", 0),
                                                                 meta["expected_outcomes"]),
        "| duplicates / missing outcomes | %s / %s |" % (eo.get("duplicates"),
                                                         eo.get("missing")),
        "| CA effects (expected) / double effects | {:,} ({:,}) / {} |".format(
            eo.get("ca_effects", 0), meta["expected_ca_effects"],
            eo.get("ca_double_effects")),
        "| dead letters (poison produced) | %s (%d) |" % (eo.get("dead_letters"),
                                                          meta["poison"]),
        "| CA calls retried by certbridge's client (faults met) | {:,} of {:,} ({:,} extra "
        "attempts, at most {} for one call) |".format(
            fa.get("retried_calls", 0), fa.get("calls", 0), fa.get("extra_attempts", 0),
            fa.get("max_attempts")),
        "| new CA connections seen by the samples (after drops) | {:,} |".format(
            sum(s["ca_new_conns"] for s in result["samples"])),
        "| calls held back as retry-later (`certbridge_ca_retries_total`) | {:,} |".format(
            dr["ca_retries"]),
        "| transactions committed / aborted | {:,} / {:,} |".format(dr["txn_committed"],
                                                                    dr["txn_aborted"]),
        "| consumer lag during the load: max / at the last slice | {:,} / {:,} |".format(
            max(s["lag"] for s in result["samples"] if s["phase"] == "load"), last["lag"]),
        "| drained after the last slice | %.1f s |" % meta["drained_s"],
        "| certbridge CPU over the run | %.1f s (%.1f%% of a core) |"
        % (dr["cpu_s"], 100.0 * dr["cpu_s"] / max(dr["t"], 1)),
        "", "| criterion | measured | result |", "|---|---|---|"]
    for name, val, ok in result["criteria"]:
        out.append("| %s | %s | %s |" % (name, val, "PASS" if ok else "**FAIL**"))
    out += ["", "![soak: RSS, fds, CA connections and lag over time](%s)" % img]
    return "\n".join(out)


def write_md(path, marker, body):
    """Replaces the text between <!-- soak:MARKER:start --> and its end
    marker in path (the rest of the file is left as it is)."""
    start, end = "<!-- soak:%s:start -->" % marker, "<!-- soak:%s:end -->" % marker
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    block = "%s\n\n%s\n\n%s" % (start, body, end)
    if start in old and end in old:
        text = old[:old.index(start)] + block + old[old.index(end) + len(end):]
    else:
        text = (old or "# certbridge soak\n") + "\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def readme_block(result):
    """The few figures README's "Soak" subsection shows."""
    meta, figs = result["meta"], result["figures"]
    eo = meta.get("eos") or {}
    kind = "30-minute run" if meta["minutes"] >= 30 else "validation run of %g min" % (
        meta["minutes"])
    rows = [para("%s, %s (%s build, %s): %g events/s, CA `%s`, %s:"
                 % (kind.capitalize(), meta["date"], meta["build_type"],
                    "passed" if result["passed"] else "FAILED", meta["rate"],
                    meta["ca_faults"],
                    ", ".join("`%s=%s`" % kv for kv in meta["conf"].items()))), "",
            "| RSS after warm-up (range, drift) | open fds (not CA connections) | CA connections "
            "| outcomes | "
            "duplicates / missing | CA double effects | CA calls retried (faults) |",
            "|---|---|---|---|---|---|---|",
            "| %s..%s MiB (%s%%, %+.2f%%) | %s..%s (%s..%s) | %s..%s | {:,} | %s / %s | %s "
            "| {:,} |"
            .format(eo.get("outcomes", 0), (meta.get("faults") or {}).get("retried_calls", 0))
            % (figs.get("rss_min_mib"), figs.get("rss_max_mib"), figs.get("rss_range_pct"),
               figs.get("rss_drift_pct", 0), figs.get("fds", {}).get("min"),
               figs.get("fds", {}).get("max"), figs.get("fds_other", {}).get("min"),
               figs.get("fds_other", {}).get("max"), figs.get("ca_conns", {}).get("min"),
               figs.get("ca_conns", {}).get("max"), eo.get("duplicates"), eo.get("missing"),
               eo.get("ca_double_effects")),
            "", "Every figure, the criteria and the plot: [bench/SOAK.md](bench/SOAK.md)."]
    return "\n".join(rows)


def report(result, a):
    full = result["meta"]["minutes"] >= 30
    print("")
    for name, val, ok in result["criteria"]:
        print("%s  %-62s %s" % ("PASS" if ok else "FAIL", name, val))
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    if a.plot:
        plot(result, a.plot)
    if a.md:
        img = os.path.relpath(a.plot, os.path.dirname(os.path.abspath(a.md))) if a.plot else ""
        write_md(a.md, "full" if full else "validation", section(result, img))
    if a.readme:
        write_md(os.path.join(ROOT, "README.md"), "readme", readme_block(result))
    log("results: %s%s%s" % (a.json, ", " + a.plot if a.plot else "",
                              ", " + a.md if a.md else ""))
    log("PASS" if result["passed"] else "FAIL")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="build folder with certbridge, refca and cbtool (default: build)")
    ap.add_argument("--minutes", type=float, default=30, help="length of the load (default 30)")
    ap.add_argument("--rate", type=float, default=50, help="events per second (default 50)")
    ap.add_argument("--slice-s", type=float, default=1.0, help="one slice every N s")
    ap.add_argument("--sample-s", type=float, default=10.0, help="one sample every N s")
    ap.add_argument("--warmup-s", type=float,
                    help="samples before this are warm-up (default: min(300, 20%% of the run))")
    ap.add_argument("--ca-faults", default=FAULTS,
                    help="flags of the reference CA (default: %s)" % FAULTS)
    ap.add_argument("--concurrency", type=int, default=8,
                    help="ca.concurrency (default 8, certbridge's default)")
    ap.add_argument("--batch-events", type=int, default=500, help="pipeline.batch_max_events")
    ap.add_argument("--batch-ms", type=int, default=500, help="pipeline.batch_max_ms")
    ap.add_argument("--probe-ms", type=int, default=5000, help="metrics.ca_probe_interval_ms")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra certbridge configuration key (repeatable)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7, help="workload seed")
    ap.add_argument("--rss-range-pct", type=float, default=10.0)
    ap.add_argument("--rss-drift-pct", type=float, default=5.0)
    ap.add_argument("--band", type=int, default=2,
                    help="fds and CA connections stay within +-N of their median")
    ap.add_argument("--drain-timeout-s", type=int, default=900,
                    help="safety net of the drain (not a speed assertion)")
    ap.add_argument("--work", help="work folder (default: a new one under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    ap.add_argument("--json", help="results file (default: bench/soak-results.json for 30 min "
                    "or more, else bench/soak-validation-results.json)")
    ap.add_argument("--plot", help="plot (default: bench/soak.png for 30 min or more, else "
                    "bench/soak-validation.png)")
    ap.add_argument("--md", default=os.path.join(HERE, "SOAK.md"),
                    help="results page whose section this run fills ('' for none)")
    ap.add_argument("--readme", action="store_true",
                    help="also fill README.md's soak figures (default for 30 min or more)")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--command", help="the command shown in SOAK.md")
    ap.add_argument("--from-json", help="only print the verdict and rewrite the plot and "
                    "SOAK.md from this results file")
    a = ap.parse_args()
    full = a.minutes >= 30
    if a.from_json:
        with open(a.from_json) as f:
            result = json.load(f)
        full = result["meta"]["minutes"] >= 30
    a.json = a.json or os.path.join(HERE, "soak-results.json" if full
                                    else "soak-validation-results.json")
    a.plot = a.plot if a.plot is not None else os.path.join(
        HERE, "soak.png" if full else "soak-validation.png")
    a.readme = (a.readme or full) and not a.no_readme
    _need_venv()
    if a.from_json:  # the verdict again (thresholds of the file), the plot and the page
        criteria, result["figures"] = verdict(result["samples"], result["meta"],
                                              result["meta"].get("eos_failures", []))
        result["criteria"] = [list(c) for c in criteria]
        result["passed"] = all(ok for _, _, ok in criteria)
        report(result, a)
        return 0 if result["passed"] else 1

    warmup = a.warmup_s if a.warmup_s is not None else min(300.0, 0.2 * a.minutes * 60)
    meta = {"command": a.command or "bench/soak.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": bench.machine(),
            "build_type": bench.build_type(a.build) or "RelWithDebInfo (default)",
            "minutes": a.minutes, "rate": a.rate, "slice_s": a.slice_s, "sample_s": a.sample_s,
            "warmup_s": warmup, "load_s": a.minutes * 60.0, "ca_faults": a.ca_faults,
            "partitions": a.partitions, "seed": a.seed, "rss_range_pct": a.rss_range_pct,
            "concurrency": a.concurrency,
            "rss_drift_pct": a.rss_drift_pct, "band": a.band,
            "load_before": [round(x, 2) for x in os.getloadavg()]}
    soak = Soak(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ok_run = False
    try:
        soak.start()
        meta.update(events=soak.n_events, expected_outcomes=len(soak.s.expected["outcomes"]),
                    expected_ca_effects=len(soak.s.expected["ca_effects"]),
                    poison=soak.s.expected["poison"], conf=soak.conf_keys)
        soak.run()
        ok_run = True
    finally:
        keep = a.keep or not ok_run
        if ok_run:
            meta.update(eos=soak.eos, eos_failures=soak.eos_failures, faults=soak.faults,
                        exit_code=soak.exit_code, drained_s=round(soak.drained_s, 1),
                        load_after=[round(x, 2) for x in os.getloadavg()])
            criteria, figs = verdict(soak.samples, meta, soak.eos_failures)
            passed = all(ok for _, _, ok in criteria)
            keep = keep or not passed
        elif soak.samples:  # an aborted run: its samples stay with the kept folders
            with open(os.path.join(soak.work, "samples.json"), "w") as f:
                json.dump({"meta": meta, "samples": soak.samples}, f, indent=1)
            log("samples so far: %s" % os.path.join(soak.work, "samples.json"))
        soak.cleanup(keep)
    result = {"meta": meta, "figures": figs, "passed": passed,
              "criteria": [list(c) for c in criteria], "samples": soak.samples}
    report(result, a)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
