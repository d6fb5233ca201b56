#!/usr/bin/env python3
"""Build, start and stop Apicurio Registry, a real Confluent-compatible Schema
Registry, for certbridge's tests.

    apicurio_harness.py fetch                  build the registry with Maven (cached)
    apicurio_harness.py start --state DIR [--user U --password-file F] [--tls]
                              [--port PORT]
    apicurio_harness.py stop  --state DIR

`fetch` builds Apicurio Registry 2.4.2.Final from Maven Central with the Maven
project in apicurio/ (see its pom.xml for why a build is needed) into a cache
folder outside the source tree: $CERTBRIDGE_CACHE or ~/.cache/certbridge, under
apicurio-2.4.2/. It runs again only when pom.xml or settings.xml change.

`start` runs the registry on 127.0.0.1 with a free port (or PORT), storage in
memory (H2), its configuration in DIR/config/application.properties (the
password never appears on a command line), and returns once the Confluent API
answers. It writes DIR/url (the Confluent API's base URL,
http://127.0.0.1:PORT/apis/ccompat/v7), DIR/pid and DIR/registry.log.

The build always requires HTTP basic authentication (Quarkus decides that at
build time): --user and --password-file name the one user; without them the
user is "certbridge" with a random password written to DIR/password.

--tls also opens an HTTPS port that requires a client certificate: the harness
makes a throw-away PKI in DIR/tls/ (ca.pem, the CA that signed the server's
certificate for 127.0.0.1 and the client's; client.pem and client.key, a client
certificate the registry accepts; other-client.pem and other-client.key, one
it refuses, signed by another CA) and writes DIR/https_url.
"""
import argparse
import base64
import hashlib
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procutil import alive, read_pid, terminate  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "apicurio")
APICURIO_VERSION = "2.4.2"
CACHE = os.environ.get("CERTBRIDGE_CACHE",
                       os.path.join(os.path.expanduser("~"), ".cache", "certbridge"))
HOME = os.path.join(CACHE, "apicurio-" + APICURIO_VERSION)
APP = os.path.join(HOME, "app")
RUNNER = os.path.join(APP, "apicurio-test-registry-1-runner.jar")
API = "/apis/ccompat/v7"


def log(msg):
    print("apicurio_harness: " + msg, flush=True)


def _project_hash():
    h = hashlib.sha256()
    for name in ("pom.xml", "settings.xml"):
        with open(os.path.join(PROJECT, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def fetch():
    """Builds the registry unless the cache holds a build of this project."""
    stamp = os.path.join(APP, "project.sha256")
    want = _project_hash()
    try:
        with open(stamp) as f:
            if f.read().strip() == want and os.path.exists(RUNNER):
                return
    except OSError:
        pass
    build = os.path.join(HOME, "build")
    shutil.rmtree(build, ignore_errors=True)
    os.makedirs(build)
    for name in ("pom.xml", "settings.xml"):
        shutil.copy(os.path.join(PROJECT, name), build)
    log("building Apicurio Registry %s.Final from Maven Central into %s" % (APICURIO_VERSION,
                                                                          APP))
    t0 = time.time()
    res = subprocess.run(["mvn", "-B", "-q", "-s", "settings.xml", "package"], cwd=build,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if res.returncode != 0:
        sys.exit("apicurio_harness: the Maven build failed:\n" + res.stdout[-6000:])
    target = os.path.join(build, "target")
    shutil.rmtree(APP, ignore_errors=True)
    os.makedirs(APP)
    shutil.move(os.path.join(target, os.path.basename(RUNNER)), RUNNER)
    shutil.move(os.path.join(target, "lib"), os.path.join(APP, "lib"))
    with open(stamp, "w") as f:
        f.write(want + "\n")
    shutil.rmtree(build, ignore_errors=True)
    log("built in %.0f s" % (time.time() - t0))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, cwd):
    res = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    if res.returncode != 0:
        sys.exit("apicurio_harness: %s failed:\n%s" % (" ".join(cmd[:2]), res.stdout))


def _sign(d, ca, name, subject, ext):
    """A key and a certificate for subject in d, signed by CA file prefix ca."""
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
          "-out", name + ".csr", "-subj", subject], d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write(ext)
    _run(["openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey",
          ca + ".key", "-CAcreateserial", "-days", "30", "-out", name + ".pem", "-extfile",
          name + ".ext"], d)


def make_pki(d, store_password):
    """A CA, a server certificate for 127.0.0.1, a client certificate it
    signed, and one from another CA; the trust store Quarkus reads."""
    os.makedirs(d)
    for ca in ("ca", "other-ca"):
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key",
              "-out", ca + ".pem", "-days", "30", "-subj", "/CN=certbridge test " + ca], d)
    _sign(d, "ca", "server", "/CN=127.0.0.1",
          "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _sign(d, "ca", "client", "/CN=certbridge", "extendedKeyUsage=clientAuth\n")
    _sign(d, "other-ca", "other-client", "/CN=certbridge", "extendedKeyUsage=clientAuth\n")
    _run(["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem", "-keystore",
          "trust.p12", "-storetype", "PKCS12", "-storepass", store_password], d)


def stop(state, quiet=False):
    pid = read_pid(state)
    if pid and alive(pid):
        terminate(pid, 20, group=True)
        if not quiet:
            log("registry (pid %d) stopped" % pid)
    if os.path.isdir(state):
        shutil.rmtree(state, ignore_errors=True)


def _auth_header(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def start(state, user, password_file, tls, port, timeout):
    fetch()
    stop(state, quiet=True)  # a leftover from an interrupted run
    os.makedirs(os.path.join(state, "config"))
    if user:
        with open(password_file) as f:
            password = f.readline().rstrip("\r\n")
    else:
        user, password = "certbridge", secrets.token_hex(12)
        with open(os.path.join(state, "password"), "w") as f:
            f.write(password + "\n")
    port = port or free_port()
    props = {
        "quarkus.http.host": "127.0.0.1",
        "quarkus.http.port": str(port),
        "quarkus.security.users.embedded.users.\"%s\"" % user: password,
        "quarkus.security.users.embedded.roles.\"%s\"" % user: "sr-admin",
        "quarkus.log.console.enable": "true",
        "quarkus.log.level": "WARN",
        "quarkus.log.category.\"io.quarkus\".level": "INFO",
    }
    ssl_port = None
    if tls:
        d = os.path.join(state, "tls")
        store_password = secrets.token_hex(8)
        make_pki(d, store_password)
        ssl_port = free_port()
        while ssl_port == port:
            ssl_port = free_port()
        props.update({
            "quarkus.http.ssl-port": str(ssl_port),
            "quarkus.http.ssl.certificate.files": os.path.join(d, "server.pem"),
            "quarkus.http.ssl.certificate.key-files": os.path.join(d, "server.key"),
            "quarkus.http.ssl.certificate.trust-store-file": os.path.join(d, "trust.p12"),
            "quarkus.http.ssl.certificate.trust-store-file-type": "PKCS12",
            "quarkus.http.ssl.certificate.trust-store-password": store_password,
        })
    with open(os.path.join(state, "config", "application.properties"), "w") as f:
        for k, v in props.items():
            f.write("%s=%s\n" % (k, v.replace("\\", "\\\\")))
    os.chmod(os.path.join(state, "config", "application.properties"), 0o600)
    out = open(os.path.join(state, "registry.log"), "w")
    cmd = ["java", "-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
           "-Djava.awt.headless=true", "-jar", RUNNER]
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=state, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    with open(os.path.join(state, "pid"), "w") as f:
        f.write(str(proc.pid))
    url = "http://127.0.0.1:%d%s" % (port, API)
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            tail = _tail(os.path.join(state, "registry.log"))
            stop(state, quiet=True)
            sys.exit("apicurio_harness: registry exited with %d:\n%s" % (proc.returncode, tail))
        try:
            req = urllib.request.Request(url + "/subjects")
            req.add_header("Authorization", _auth_header(user, password))
            urllib.request.urlopen(req, timeout=2).read()
            break
        except (OSError, urllib.error.URLError):
            pass
        if time.time() > deadline:
            tail = _tail(os.path.join(state, "registry.log"))
            stop(state, quiet=True)
            sys.exit("apicurio_harness: registry did not answer within %ds\n%s" % (timeout, tail))
        time.sleep(0.1)
    with open(os.path.join(state, "url"), "w") as f:
        f.write(url + "\n")
    if ssl_port:
        https = "https://127.0.0.1:%d%s" % (ssl_port, API)
        _check_https(https, os.path.join(state, "tls"), user, password)
        with open(os.path.join(state, "https_url"), "w") as f:
            f.write(https + "\n")
    log("Apicurio Registry %s.Final ready at %s%s in %.1f s, pid %d"
        % (APICURIO_VERSION, url, " and " + https if ssl_port else "", time.time() - t0,
           proc.pid))


def _check_https(url, d, user, password):
    """The HTTPS port answers a client with the harness's client certificate."""
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    ctx.load_cert_chain(os.path.join(d, "client.pem"), os.path.join(d, "client.key"))
    req = urllib.request.Request(url + "/subjects")
    req.add_header("Authorization", _auth_header(user, password))
    urllib.request.urlopen(req, timeout=10, context=ctx).read()


def _tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["fetch", "start", "stop"])
    ap.add_argument("--state", help="state folder (required for start and stop)")
    ap.add_argument("--user", help="the basic-authentication user (default: certbridge)")
    ap.add_argument("--password-file", help="file whose first line is --user's password")
    ap.add_argument("--tls", action="store_true",
                    help="also an HTTPS port requiring a client certificate (PKI in DIR/tls)")
    ap.add_argument("--port", type=int, default=0, help="HTTP port (default: a free one)")
    ap.add_argument("--timeout", type=int, default=180, help="seconds to wait for the registry")
    a = ap.parse_args()
    if a.user and not a.password_file:
        ap.error("--user needs --password-file")
    if a.command == "fetch":
        fetch()
    elif not a.state:
        ap.error("--state is required")
    elif a.command == "start":
        start(os.path.abspath(a.state), a.user, a.password_file and os.path.abspath(
            a.password_file), a.tls, a.port, a.timeout)
    else:
        stop(os.path.abspath(a.state))


if __name__ == "__main__":
    main()
