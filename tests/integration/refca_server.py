"""A certbridge-refca server run by a Python test, and a mutual-TLS client for it.

Used by test_refca_async.py and test_refca_rate_limit.py: each test starts its
own servers (with the flags it is about) in a temporary folder, so it can kill
and restart them, which the CTest fixtures of tests/harness/refca_harness.py
do not allow.
"""
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INVENTORY = os.path.join(HERE, "..", "data", "refca-inventory.jsonl")


def check(cond, what):
    """Fails the test with `what` unless cond holds; prints it otherwise."""
    if not cond:
        sys.exit("FAILED: " + what)
    print("ok: " + what, flush=True)


class Refca:
    """One server: `pki-init` once, then start/kill/stop on a state folder."""

    def __init__(self, binary, work, name="refca"):
        self.binary, self.work, self.name = binary, work, name
        self.pki = os.path.join(work, name + "-pki")
        self.state = os.path.join(work, name + "-state")
        self.proc = None
        self.host = self.port = None
        self.conn = None
        subprocess.run([binary, "pki-init", self.pki], check=True, stdout=subprocess.DEVNULL)
        self.ctx = self.context("client")

    def context(self, who):
        """A TLS client context presenting pki/WHO.pem (client, or rogue)."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.pki, "tls-ca.pem"))
        ctx.load_cert_chain(os.path.join(self.pki, who + ".pem"),
                            os.path.join(self.pki, who + ".key"))
        return ctx

    def start(self, *flags):
        url_file = os.path.join(self.work, self.name + ".url")
        if os.path.exists(url_file):
            os.unlink(url_file)
        log = open(os.path.join(self.work, self.name + ".log"), "a")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--state", self.state, "--pki", self.pki,
             "--inventory", INVENTORY, "--listen", "127.0.0.1:0", "--url-file", url_file]
            + list(flags), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.time() + 20
        while not os.path.exists(url_file):
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit("certbridge-refca did not start: see %s.log" % self.name)
            time.sleep(0.05)
        with open(url_file) as f:
            hostport = f.read().strip()[len("https://"):]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.conn = None

    def kill(self):
        """SIGKILL: no chance to close anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.conn = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.conn = None

    def call(self, path, body=None, key=None, method=None):
        """One call on a kept-alive connection. Answers (status, parsed JSON
        or raw bytes, headers as a dict with lower-case names)."""
        method = method or ("POST" if body is not None else "GET")
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                        timeout=10)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (http.client.HTTPException, OSError):
                # the server closed a kept-alive connection: once more on a new one
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if hdrs.get("content-type", "").endswith("json"):
            raw = json.loads(raw)
        return r.status, raw, hdrs

    def ledger(self):
        """The ledger's entries."""
        status, data, _ = self.call("/v1/ledger")
        check(status == 200, "%s: the ledger answers 200" % self.name)
        return data["entries"]
