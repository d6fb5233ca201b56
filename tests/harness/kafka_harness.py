#!/usr/bin/env python3
"""Start and stop a real single-node Apache Kafka broker (KRaft) for tests.

    kafka_harness.py fetch                 fetch the broker jars with Maven (cached)
    kafka_harness.py start --state DIR     format storage, start, wait for metadata
    kafka_harness.py stop  --state DIR     stop the broker and delete DIR

The broker jars (org.apache.kafka:kafka_2.13 and a logging backend) come from
Maven Central through kafka-pom.xml into a cache folder outside the source
tree: $CERTBRIDGE_CACHE or ~/.cache/certbridge. `start` writes DIR/bootstrap
("127.0.0.1:PORT"), DIR/pid and DIR/broker.log, and returns once the broker
answers a Metadata request with itself as a broker. It prints the version.
"""
import argparse
import os
import shutil
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
    client = b"certbridge-harness"
    body = struct.pack(">hhih", 3, 0, 7, len(client)) + client + struct.pack(">i", -1)
    # v0 has no null array: ask for an empty topic list (= all topics)
    body = body[:-4] + struct.pack(">i", 0)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        hdr = _recv(s, 4)
        (size,) = struct.unpack(">i", hdr)
        resp = _recv(s, size)
    corr, nbrokers = struct.unpack(">ii", resp[:8])
    if corr != 7:
        raise OSError("unexpected correlation id %d" % corr)
    return nbrokers


def _recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def write_config(state, port, cport):
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
        terminate(pid, 30, group=True)
        if not quiet:
            log("broker (pid %d) stopped" % pid)
    if os.path.isdir(state):
        shutil.rmtree(state, ignore_errors=True)


def start(state, timeout):
    fetch()
    stop(state, quiet=True)  # a leftover from an interrupted run
    os.makedirs(state)
    port, cport = free_port(), free_port()
    while cport == port:
        cport = free_port()
    props, log4j = write_config(state, port, cport)
    fmt = subprocess.run(java_cmd("kafka.tools.StorageTool", "format", "-t",
                                  _kafka_uuid(), "-c", props, log4j=log4j),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if fmt.returncode != 0:
        sys.exit("kafka_harness: storage format failed:\n" + fmt.stdout)
    out = open(os.path.join(state, "stdout.log"), "w")
    proc = subprocess.Popen(java_cmd("kafka.Kafka", props, log4j=log4j),
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    with open(os.path.join(state, "pid"), "w") as f:
        f.write(str(proc.pid))
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            tail = _tail(os.path.join(state, "stdout.log")) + _tail(
                os.path.join(state, "broker.log"))
            stop(state, quiet=True)
            sys.exit("kafka_harness: broker exited with %d:\n%s" % (proc.returncode, tail))
        try:
            if metadata_brokers(port) >= 1:
                break
        except OSError:
            pass
        if time.time() > deadline:
            tail = _tail(os.path.join(state, "broker.log"))
            stop(state, quiet=True)
            sys.exit("kafka_harness: broker did not answer metadata within %ds\n%s"
                     % (timeout, tail))
        time.sleep(0.25)
    with open(os.path.join(state, "bootstrap"), "w") as f:
        f.write("127.0.0.1:%d\n" % port)
    log("Apache Kafka %s (KRaft, single node) ready at 127.0.0.1:%d, pid %d"
        % (broker_version(state), port, proc.pid))


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
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    import base64
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _tail(path, n=40):
    try:
        with open(path) as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["fetch", "start", "stop"])
    ap.add_argument("--state", help="state folder (required for start and stop)")
    ap.add_argument("--timeout", type=int, default=120, help="seconds to wait for the broker")
    a = ap.parse_args()
    if a.command == "fetch":
        fetch()
    elif not a.state:
        ap.error("--state is required")
    elif a.command == "start":
        start(os.path.abspath(a.state), a.timeout)
    else:
        stop(os.path.abspath(a.state))


if __name__ == "__main__":
    main()
