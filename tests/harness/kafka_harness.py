#!/usr/bin/env python3
"""Start and stop a real single-node Apache Kafka broker (KRaft) for tests.

    kafka_harness.py fetch                 fetch the broker jars with Maven (cached)
    kafka_harness.py start --state DIR     format storage, start, wait for metadata
    kafka_harness.py stop  --state DIR     stop the broker and delete DIR
    kafka_harness.py kill    --state DIR   SIGKILL the broker, keep DIR (its storage)
    kafka_harness.py restart --state DIR   start it again on DIR's storage and ports
    kafka_harness.py pause   --state DIR   SIGSTOP the broker
    kafka_harness.py resume  --state DIR   SIGCONT the broker

The broker jars (org.apache.kafka:kafka_2.13 and a logging backend) come from
Maven Central through kafka-pom.xml into a cache folder outside the source
tree: $CERTBRIDGE_CACHE or ~/.cache/certbridge. `start` writes DIR/bootstrap
("127.0.0.1:PORT"), DIR/pid and DIR/broker.log, and returns once the broker
answers a Metadata request with itself as a broker. It prints the version.

The fault tests (tests/integration/test_broker_faults.py) import this module:
start() with server.properties overrides, kill() / restart() on the same
storage and ports, pause() / resume(), and a few admin requests spoken on the
wire like the Metadata probe (delete_topics, create_acls, committed_offsets,
describe_transaction),
so no Kafka client library is needed.
"""
import argparse
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procutil import alive, read_pid, terminate  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
KAFKA_VERSION = "3.9.1"
CACHE = os.environ.get("CERTBRIDGE_CACHE",
                       os.path.join(os.path.expanduser("~"), ".cache", "certbridge"))
LIBS = os.path.join(CACHE, "kafka-" + KAFKA_VERSION, "libs")


def log(msg):
    print("kafka_harness: " + msg, flush=True)


def fetch():
    """Fetches the broker jars with Maven unless the cache already has them."""
    marker = os.path.join(LIBS, "kafka_2.13-%s.jar" % KAFKA_VERSION)
    if os.path.exists(marker):
        return
    os.makedirs(LIBS, exist_ok=True)
    log("fetching Kafka %s jars from Maven Central into %s" % (KAFKA_VERSION, LIBS))
    cmd = ["mvn", "-q", "-B", "-f", os.path.join(HERE, "kafka-pom.xml"),
           "-Dkafka.version=" + KAFKA_VERSION,
           "dependency:copy-dependencies", "-DincludeScope=runtime",
           "-DoutputDirectory=" + LIBS]
    subprocess.run(cmd, check=True)
    if not os.path.exists(marker):
        sys.exit("kafka_harness: Maven finished but %s is missing" % marker)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def java_cmd(main_class, *args, log4j=None):
    cmd = ["java", "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
           "-cp", os.path.join(LIBS, "*")]
    if log4j:
        cmd.append("-Dlog4j.configuration=file:" + log4j)
    return cmd + [main_class] + list(args)


def metadata_brokers(port, timeout=2.0):
    """Sends a Metadata v0 request (all topics) and returns the broker count."""
    # v0 has no null array: an empty topic list asks for all topics
    resp = _request(port, 3, 0, struct.pack(">i", 0), timeout)
    return struct.unpack(">i", resp[:4])[0]


def _request(port, api_key, version, payload, timeout=10.0):
    """One request with a v1 header (non-flexible versions only); returns the
    response body after the correlation id."""
    client = b"certbridge-harness"
    body = struct.pack(">hhih", api_key, version, 7, len(client)) + client + payload
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv(s, 4))
        resp = _recv(s, size)
    (corr,) = struct.unpack(">i", resp[:4])
    if corr != 7:
        raise OSError("unexpected correlation id %d" % corr)
    return resp[4:]


def _request_flexible(port, api_key, version, payload, timeout=10.0):
    """One request of a flexible version (header v2, response header v1);
    returns the response body after the header."""
    client = b"certbridge-harness"
    body = (struct.pack(">hhih", api_key, version, 7, len(client)) + client + b"\x00"
            + payload)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv(s, 4))
        resp = _recv(s, size)
    (corr,) = struct.unpack(">i", resp[:4])
    if corr != 7:
        raise OSError("unexpected correlation id %d" % corr)
    r = _Reader(resp[4:])
    r.skip_tags()
    return r


def _uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _compact_str(s):
    b = s.encode()
    return _uvarint(len(b) + 1) + b


def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class _Reader:
    """Reads the big-endian fields of a response body in order."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        v = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return v

    def uvarint(self):
        n = shift = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def compact_string(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        v = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return v

    def compact_count(self):
        return max(0, self.uvarint() - 1)

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.pos += self.uvarint()


def bootstrap_port(state):
    """The PLAINTEXT port of the broker of state (from DIR/ports)."""
    with open(os.path.join(state, "ports")) as f:
        return int(f.read().split()[0])


def delete_topics(state, topics, timeout_ms=30000):
    """DeleteTopics v1; returns {topic: error code} (0 = deleted)."""
    payload = struct.pack(">i", len(topics)) + b"".join(_str(t) for t in topics)
    r = _Reader(_request(bootstrap_port(state), 20, 1, payload + struct.pack(">i", timeout_ms),
                         timeout_ms / 1000.0 + 5))
    r.take(">i")  # throttle time
    return {r.string(): r.take(">h") for _ in range(r.take(">i"))}


# ACL enums of the Kafka protocol (org.apache.kafka.common.acl / resource)
ACL_TOPIC, ACL_LITERAL = 2, 3
ACL_ALL, ACL_READ, ACL_WRITE, ACL_DESCRIBE = 2, 3, 4, 8
ACL_DENY, ACL_ALLOW = 2, 3


def create_acls(state, bindings):
    """CreateAcls v1. bindings: (resource_type, name, pattern_type,
    principal, host, operation, permission) tuples. Returns the list of
    (error code, message), one per binding. Needs a broker started with an
    authorizer (see ACL_AUTHORIZER)."""
    payload = struct.pack(">i", len(bindings))
    for rtype, name, pattern, principal, host, op, perm in bindings:
        payload += (struct.pack(">b", rtype) + _str(name) + struct.pack(">b", pattern)
                    + _str(principal) + _str(host) + struct.pack(">bb", op, perm))
    r = _Reader(_request(bootstrap_port(state), 30, 1, payload))
    r.take(">i")  # throttle time
    return [(r.take(">h"), r.string()) for _ in range(r.take(">i"))]


# server.properties overrides for a broker that enforces ACLs: a resource
# without any ACL stays open to everyone, so only the bindings a test
# creates restrict anything.
ACL_AUTHORIZER = {
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "allow.everyone.if.no.acl.found": "true",
}


def describe_transaction(state, txn_id):
    """DescribeTransactions v0 (KIP-664) of one transactional id, as the
    coordinator sees it: {"error": code, "state": "Ongoing" | "Empty" |
    "PrepareCommit" | ..., "start_ms": ..., "timeout_ms": ..., "epoch": ...,
    "partitions": [(topic, partition)...]}."""
    r = _request_flexible(bootstrap_port(state), 65, 0,
                          _uvarint(2) + _compact_str(txn_id) + b"\x00")
    r.take(">i")  # throttle time
    out = None
    for _ in range(r.compact_count()):
        err = r.take(">h")
        tid = r.compact_string()
        st = r.compact_string()
        timeout_ms, start_ms, _pid, epoch = r.take(">iqqh")
        parts = []
        for _ in range(r.compact_count()):
            topic = r.compact_string()
            parts += [(topic, r.take(">i")) for _ in range(r.compact_count())]
            r.skip_tags()
        r.skip_tags()
        if tid == txn_id:
            out = {"error": err, "state": st, "start_ms": start_ms, "timeout_ms": timeout_ms,
                   "epoch": epoch, "partitions": parts}
    if out is None:
        raise OSError("DescribeTransactions: no answer for %s" % txn_id)
    return out


def committed_offsets(state, group, partitions):
    """OffsetFetch v1 of group for partitions {topic: partition count};
    returns {(topic, partition): committed offset} (-1 when none). Offsets
    of a transaction still open are not included (they are not committed)."""
    payload = _str(group) + struct.pack(">i", len(partitions))
    for topic, n in partitions.items():
        payload += _str(topic) + struct.pack(">i", n) + b"".join(
            struct.pack(">i", i) for i in range(n))
    r = _Reader(_request(bootstrap_port(state), 9, 1, payload))
    out = {}
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            part, offset = r.take(">iq")
            r.string()  # metadata
            err = r.take(">h")
            if err:
                raise OSError("OffsetFetch %s[%d]: error %d" % (topic, part, err))
            out[(topic, part)] = offset
    return out


def _recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def write_config(state, port, cport, overrides=None):
    data = os.path.join(state, "data")
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": "1@127.0.0.1:%d" % cport,
        "listeners": "PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d" % (port, cport),
        "advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % port,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": data,
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "10000",
        "log.segment.bytes": str(64 * 1024 * 1024),
        "log.retention.check.interval.ms": "3600000",
    }
    props.update(overrides or {})
    path = os.path.join(state, "server.properties")
    with open(path, "w") as f:
        for k, v in props.items():
            f.write("%s=%s\n" % (k, v))
    log4j = os.path.join(state, "log4j.properties")
    with open(log4j, "w") as f:
        f.write("log4j.rootLogger=WARN, file\n"
                "log4j.appender.file=org.apache.log4j.FileAppender\n"
                "log4j.appender.file.File=%s\n"
                "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
                "log4j.appender.file.layout.ConversionPattern=[%%d] %%p %%m (%%c)%%n\n"
                "log4j.logger.kafka.server.KafkaServer=INFO\n"
                "log4j.logger.kafka.server.KafkaRaftServer=INFO\n"
                "log4j.logger.org.apache.kafka.common.utils.AppInfoParser=INFO\n"
                % os.path.join(state, "broker.log"))
    return path, log4j


def stop(state, quiet=False):
    pid = read_pid(state)
    if pid and alive(pid):
        _group_signal(pid, signal.SIGCONT)  # a paused broker must run to see SIGTERM
        terminate(pid, 30, group=True)
        if not quiet:
            log("broker (pid %d) stopped" % pid)
    if os.path.isdir(state):
        shutil.rmtree(state, ignore_errors=True)


def start(state, timeout, overrides=None, owned=False):
    """Formats a new storage in state and starts a broker on it (free ports).
    overrides: server.properties keys to set or replace. owned: the broker
    gets SIGKILL when the calling process dies (a test that starts its own
    broker; the CLI's broker outlives it)."""
    fetch()
    stop(state, quiet=True)  # a leftover from an interrupted run
    os.makedirs(state)
    port, cport = free_port(), free_port()
    while cport == port:
        cport = free_port()
    with open(os.path.join(state, "ports"), "w") as f:
        f.write("%d %d\n" % (port, cport))
    props, log4j = write_config(state, port, cport, overrides)
    fmt = subprocess.run(java_cmd("kafka.tools.StorageTool", "format", "-t",
                                  _kafka_uuid(), "-c", props, log4j=log4j),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if fmt.returncode != 0:
        sys.exit("kafka_harness: storage format failed:\n" + fmt.stdout)
    _launch(state, timeout, remove_on_failure=True, owned=owned)


def restart(state, timeout, owned=False):
    """Starts the broker of state again, on its storage and its ports, after
    kill() or a crash. Returns once it answers Metadata again."""
    pid = read_pid(state)
    if pid and alive(pid):
        sys.exit("kafka_harness: the broker of %s still runs (pid %d)" % (state, pid))
    _launch(state, timeout, remove_on_failure=False, owned=owned)


def _die_with_parent():
    """In the child: SIGKILL when the parent dies (Linux), then a new session
    as for any broker."""
    os.setsid()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _launch(state, timeout, remove_on_failure, owned=False):
    props = os.path.join(state, "server.properties")
    log4j = os.path.join(state, "log4j.properties")
    port = bootstrap_port(state)
    out = open(os.path.join(state, "stdout.log"), "a")
    proc = subprocess.Popen(java_cmd("kafka.Kafka", props, log4j=log4j),
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            **({"preexec_fn": _die_with_parent} if owned
                               else {"start_new_session": True}))
    out.close()
    with open(os.path.join(state, "pid"), "w") as f:
        f.write(str(proc.pid))
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            tail = _tail(os.path.join(state, "stdout.log")) + _tail(
                os.path.join(state, "broker.log"))
            if remove_on_failure:
                stop(state, quiet=True)
            sys.exit("kafka_harness: broker exited with %d:\n%s" % (proc.returncode, tail))
        try:
            if metadata_brokers(port) >= 1:
                break
        except OSError:
            pass
        if time.time() > deadline:
            tail = _tail(os.path.join(state, "broker.log"))
            if remove_on_failure:
                stop(state, quiet=True)
            else:
                kill(state)
            sys.exit("kafka_harness: broker did not answer metadata within %ds\n%s"
                     % (timeout, tail))
        time.sleep(0.25)
    with open(os.path.join(state, "bootstrap"), "w") as f:
        f.write("127.0.0.1:%d\n" % port)
    log("Apache Kafka %s (KRaft, single node) ready at 127.0.0.1:%d, pid %d"
        % (broker_version(state), port, proc.pid))


def kill(state, sig=signal.SIGKILL):
    """Kills the broker's process group with sig (SIGKILL: no shutdown, the
    storage is left as a crash leaves it) and waits until it is gone. Keeps
    state. Returns the pid, or None when no broker ran."""
    pid = read_pid(state)
    if not pid or not alive(pid):
        return None
    _group_signal(pid, signal.SIGCONT)  # a paused broker must run to die of SIGTERM
    _group_signal(pid, sig)
    deadline = time.time() + 60
    while alive(pid):
        if time.time() > deadline:
            _group_signal(pid, signal.SIGKILL)
            deadline = time.time() + 60
        time.sleep(0.05)
    log("broker (pid %d) killed with %s" % (pid, signal.Signals(sig).name))
    return pid


def pause(state):
    """SIGSTOP to the broker's process group: it keeps its sockets open and
    answers nothing until resume()."""
    pid = read_pid(state)
    if not pid or not alive(pid):
        sys.exit("kafka_harness: no broker runs in %s" % state)
    _group_signal(pid, signal.SIGSTOP)
    log("broker (pid %d) paused" % pid)


def resume(state):
    pid = read_pid(state)
    if not pid or not alive(pid):
        sys.exit("kafka_harness: no broker runs in %s" % state)
    _group_signal(pid, signal.SIGCONT)
    log("broker (pid %d) resumed" % pid)


def _group_signal(pid, sig):
    try:
        os.killpg(pid, sig)
    except OSError:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def broker_version(state):
    try:
        with open(os.path.join(state, "broker.log")) as f:
            for line in f:
                if "Kafka version:" in line:
                    return line.split("Kafka version:")[1].split()[0]
    except OSError:
        pass
    return KAFKA_VERSION


def _kafka_uuid():
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding;
    never starting with "-", which the storage tool's parser would take for
    an option (as Kafka's own Uuid.randomUuid avoids)."""
    import base64
    while True:
        u = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not u.startswith("-"):
            return u


def _tail(path, n=40):
    try:
        with open(path) as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command",
                    choices=["fetch", "start", "stop", "kill", "restart", "pause", "resume"])
    ap.add_argument("--state", help="state folder (required but for fetch)")
    ap.add_argument("--timeout", type=int, default=120, help="seconds to wait for the broker")
    a = ap.parse_args()
    if a.command == "fetch":
        fetch()
    elif not a.state:
        ap.error("--state is required")
    elif a.command == "start":
        start(os.path.abspath(a.state), a.timeout)
    elif a.command == "stop":
        stop(os.path.abspath(a.state))
    elif a.command == "kill":
        kill(os.path.abspath(a.state))
    elif a.command == "restart":
        restart(os.path.abspath(a.state), a.timeout)
    elif a.command == "pause":
        pause(os.path.abspath(a.state))
    else:
        resume(os.path.abspath(a.state))


if __name__ == "__main__":
    main()
