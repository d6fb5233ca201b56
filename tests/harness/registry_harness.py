#!/usr/bin/env python3
"""Start and stop a Confluent-compatible Schema Registry stand-in for tests
that need faults a real registry cannot be made to show (eos_registry_down
stops it and brings it back on the same port with the same schemas); the
other Schema Registry tests run against a real one (apicurio_harness.py).

    registry_harness.py start --state DIR [--user U --password-file F]
                              [--port PORT] [--data FILE]
    registry_harness.py stop  --state DIR
    registry_harness.py serve --state DIR ...     (the server itself; used by start)

--port binds that port instead of a free one, and --data keeps the schemas in
FILE (read at start, rewritten on every new registration), so that a registry
stopped mid-test comes back at the same URL with the same ids.

Why a stand-in: Karapace (the open-source Confluent-compatible registry) is not
published on PyPI, and Apicurio Registry on Maven Central is only the Quarkus
application jar, which needs Quarkus' build-time augmentation before it runs.
This server implements the REST calls certbridge uses with Confluent's
semantics: POST /subjects/{subject}/versions (same schema -> same global id,
422 for a schema that is not JSON), GET /schemas/ids/{id} (404 with
error_code 40403 when unknown), GET /subjects, GET /subjects/{s}/versions and
GET /subjects/{s}/versions/latest, GET /config (BACKWARD), GET
/config/{subject} (404 with error_code 40408 when the subject has no level
of its own) and PUT /config/{subject}. It keeps its state in memory, binds a free
port on 127.0.0.1, writes DIR/url and DIR/pid, and optionally requires HTTP
basic authentication. It does not check schema compatibility.
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procutil import alive, read_pid, terminate  # noqa: E402

CT = "application/vnd.schemaregistry.v1+json"
MAX_BODY = 4 * 1024 * 1024


def log(msg):
    print("registry_harness: " + msg, flush=True)


class Registry:
    """Schemas by global id and subjects with their versions (ids)."""

    def __init__(self, data=None):
        self.lock = threading.Lock()
        self.by_id = {}        # id -> schema text as first registered
        self.by_canon = {}     # canonical JSON -> id
        self.subjects = {}     # subject -> [id, ...] (version = index + 1)
        self.levels = {}       # subject -> compatibility level of its own (not checked)
        self.data = data       # file the state is kept in, or None
        if data and os.path.exists(data):
            with open(data) as f:
                saved = json.load(f)
            for sid, text in saved["by_id"].items():
                self.by_id[int(sid)] = text
                canon = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
                self.by_canon[canon] = int(sid)
            self.subjects = saved["subjects"]

    def save(self):
        """Writes the state to the data file (under the lock)."""
        if not self.data:
            return
        with open(self.data + ".tmp", "w") as f:
            json.dump({"by_id": self.by_id, "subjects": self.subjects}, f)
        os.replace(self.data + ".tmp", self.data)

    def register(self, subject, schema_text):
        canon = json.dumps(json.loads(schema_text), sort_keys=True, separators=(",", ":"))
        with self.lock:
            sid = self.by_canon.get(canon)
            if sid is None:
                sid = len(self.by_id) + 1
                self.by_id[sid] = schema_text
                self.by_canon[canon] = sid
            versions = self.subjects.setdefault(subject, [])
            if sid not in versions:
                versions.append(sid)
                self.save()
            return sid


class Handler(BaseHTTPRequestHandler):
    registry = None
    auth = None  # expected "Basic ..." header value, or None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", CT)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, {"error_code": code, "message": message})

    def authorized(self):
        if self.auth is None or self.headers.get("Authorization") == self.auth:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="registry"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def parts(self):
        path = urllib.parse.urlsplit(self.path).path
        return [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]

    def do_GET(self):
        if not self.authorized():
            return
        p = self.parts()
        reg = self.registry
        if len(p) == 3 and p[0] == "schemas" and p[1] == "ids":
            try:
                sid = int(p[2])
            except ValueError:
                return self.error(404, 40403, "Schema not found")
            with reg.lock:
                text = reg.by_id.get(sid)
            if text is None:
                return self.error(404, 40403, "Schema %s not found" % p[2])
            return self.reply(200, {"schema": text})
        if p == ["config"]:
            return self.reply(200, {"compatibilityLevel": "BACKWARD"})
        if len(p) == 2 and p[0] == "config":
            with reg.lock:
                level = reg.levels.get(p[1])
            if level is None:
                return self.error(404, 40408, "Subject '%s' does not have subject-level "
                                  "compatibility configured" % p[1])
            return self.reply(200, {"compatibilityLevel": level})
        if p == ["subjects"]:
            with reg.lock:
                return self.reply(200, sorted(reg.subjects))
        if len(p) >= 3 and p[0] == "subjects" and p[2] == "versions":
            with reg.lock:
                versions = list(reg.subjects.get(p[1], []))
            if not versions:
                return self.error(404, 40401, "Subject '%s' not found." % p[1])
            if len(p) == 3:
                return self.reply(200, list(range(1, len(versions) + 1)))
            if len(p) == 4:
                v = len(versions) if p[3] == "latest" else int(p[3]) if p[3].isdigit() else 0
                if not 1 <= v <= len(versions):
                    return self.error(404, 40402, "Version %s not found." % p[3])
                sid = versions[v - 1]
                with reg.lock:
                    text = reg.by_id[sid]
                return self.reply(200, {"subject": p[1], "version": v, "id": sid,
                                        "schema": text})
        self.error(404, 404, "HTTP 404 Not Found")

    def do_PUT(self):
        if not self.authorized():
            return
        p = self.parts()
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            return self.error(413, 413, "request too large")
        raw = self.rfile.read(n)
        if len(p) == 2 and p[0] == "config":
            try:
                level = json.loads(raw)["compatibility"]
            except (ValueError, KeyError, TypeError):
                return self.error(422, 42203, "Invalid compatibility level")
            with self.registry.lock:
                self.registry.levels[p[1]] = level
            return self.reply(200, {"compatibility": level})
        self.error(404, 404, "HTTP 404 Not Found")

    def do_POST(self):
        if not self.authorized():
            return
        p = self.parts()
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            return self.error(413, 413, "request too large")
        raw = self.rfile.read(n)
        if len(p) == 3 and p[0] == "subjects" and p[2] == "versions":
            try:
                req = json.loads(raw)
                text = req["schema"]
                if req.get("schemaType", "AVRO") != "AVRO":
                    raise ValueError("only AVRO schemas")
                sid = self.registry.register(p[1], text)
            except (ValueError, KeyError, TypeError) as e:
                return self.error(422, 42201, "Invalid schema: %s" % e)
            return self.reply(200, {"id": sid})
        self.error(404, 404, "HTTP 404 Not Found")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(state, user, password_file, port=0, data=None):
    Handler.registry = Registry(data)
    if user:
        with open(password_file) as f:
            password = f.readline().rstrip("\r\n")
        Handler.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port or free_port()), Handler)
    server.daemon_threads = True
    url = "http://127.0.0.1:%d" % server.server_address[1]
    with open(os.path.join(state, "url.tmp"), "w") as f:
        f.write(url + "\n")
    os.replace(os.path.join(state, "url.tmp"), os.path.join(state, "url"))
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


def stop(state, quiet=False):
    pid = read_pid(state)
    if pid and alive(pid):
        terminate(pid, 5)
        if not quiet:
            log("registry (pid %d) stopped" % pid)
    shutil.rmtree(state, ignore_errors=True)


def start(state, user, password_file, timeout=20, port=0, data=None):
    stop(state, quiet=True)
    os.makedirs(state)
    cmd = [sys.executable, os.path.abspath(__file__), "serve", "--state", state]
    if user:
        cmd += ["--user", user, "--password-file", password_file]
    if port:
        cmd += ["--port", str(port)]
    if data:
        cmd += ["--data", os.path.abspath(data)]
    out = open(os.path.join(state, "server.log"), "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    with open(os.path.join(state, "pid"), "w") as f:
        f.write(str(proc.pid))
    deadline = time.time() + timeout
    url_file = os.path.join(state, "url")
    while True:
        if proc.poll() is not None:
            sys.exit("registry_harness: server exited with %d" % proc.returncode)
        if os.path.exists(url_file):
            with open(url_file) as f:
                url = f.read().strip()
            try:
                req = urllib.request.Request(url + "/subjects")
                if user:
                    with open(password_file) as f:
                        pw = f.readline().rstrip("\r\n")
                    req.add_header("Authorization", "Basic " + base64.b64encode(
                        ("%s:%s" % (user, pw)).encode()).decode())
                urllib.request.urlopen(req, timeout=2).read()
                break
            except OSError:
                pass
        if time.time() > deadline:
            stop(state, quiet=True)
            sys.exit("registry_harness: server did not answer within %ds" % timeout)
        time.sleep(0.1)
    log("Schema Registry stand-in ready at %s, pid %d" % (url, proc.pid))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["start", "stop", "serve"])
    ap.add_argument("--state", required=True, help="state folder")
    ap.add_argument("--user", help="require HTTP basic authentication with this user")
    ap.add_argument("--password-file", help="file holding the password (with --user)")
    ap.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    ap.add_argument("--data", help="file keeping the schemas across restarts")
    a = ap.parse_args()
    state = os.path.abspath(a.state)
    if a.user and not a.password_file:
        ap.error("--user needs --password-file")
    if a.command == "start":
        start(state, a.user, a.password_file, port=a.port, data=a.data)
    elif a.command == "serve":
        serve(state, a.user, a.password_file, a.port, a.data)
    else:
        stop(state)


if __name__ == "__main__":
    main()
