#!/usr/bin/env python3
"""The reference CA's state survives a crash and a restart.

    test_refca_restart.py CERTBRIDGE_REFCA

Starts certbridge-refca, revokes a certificate and changes another, kills the
server with SIGKILL, starts it again on the same state folder (the inventory
is not loaded twice), and checks over mutual TLS: the lookups show the new
state, the CRL still lists both serials, the repeated Idempotency-Keys answer
the stored answers and the ledger did not grow; `certbridge-refca ledger`
reads the same ledger from the database.
"""
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
INVENTORY = os.path.join(HERE, "..", "data", "refca-inventory.jsonl")


class Refca:
    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.pki = os.path.join(work, "pki")
        self.proc = None
        self.url = None
        subprocess.run([binary, "pki-init", self.pki], check=True, stdout=subprocess.DEVNULL)
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.pki, "tls-ca.pem"))
        self.ctx.load_cert_chain(os.path.join(self.pki, "client.pem"),
                                 os.path.join(self.pki, "client.key"))

    def start(self):
        url_file = os.path.join(self.work, "url")
        if os.path.exists(url_file):
            os.unlink(url_file)
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--state", os.path.join(self.work, "state"), "--pki", self.pki,
             "--inventory", INVENTORY, "--listen", "127.0.0.1:0", "--url-file", url_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while not os.path.exists(url_file):
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit("certbridge-refca did not start")
            time.sleep(0.05)
        with open(url_file) as f:
            self.url = f.read().strip()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def call(self, path, body=None, key=None):
        """Answers (status, parsed JSON or raw bytes, headers)."""
        req = urllib.request.Request(self.url + path, method="POST" if body is not None else "GET")
        if body is not None:
            req.data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        if key:
            req.add_header("Idempotency-Key", key)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                status, data, headers = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, data, headers = e.code, e.read(), e.headers
        if headers.get("Content-Type", "").endswith("json"):
            data = json.loads(data)
        return status, data, headers


def check(cond, what):
    if not cond:
        sys.exit("FAILED: " + what)
    print("ok: " + what)


def only_cert(ca, holder_type, holder_id):
    status, data, _ = ca.call("/v1/certificates?holder_type=%s&holder_id=%s" % (holder_type,
                                                                                 holder_id))
    check(status == 200, "lookup %s answers 200" % holder_id)
    return data["certificates"]


def main():
    binary = sys.argv[1]
    work = tempfile.mkdtemp(prefix="cb-refca-restart-")
    ca = Refca(binary, work)
    try:
        ca.start()
        org = only_cert(ca, "ORGANIZATION", "000.00.15.H19")[0]
        person = only_cert(ca, "PERSON", "HR-0005")[0]
        revoke = ca.call("/v1/certificates/%s/revoke" % org["serial"],
                         {"reason": "cessationOfOperation"}, "restart-revoke")
        change = ca.call("/v1/certificates/%s/change-info" % person["serial"],
                         {"subject": "CN=Võ Minh Em,title=Văn thư,OU=Ủy ban nhân dân xã Phước An,"
                                     "L=Đồng Nai,C=VN"}, "restart-change")
        check(revoke[0] == 200 and revoke[1]["status"] == "REVOKED", "revoke answered REVOKED")
        check(change[0] == 200 and change[1]["new_serial"], "change-info answered a new serial")
        ca_pem = ca.call("/v1/ca.pem")[1]
        check(b"BEGIN CERTIFICATE" in ca_pem, "the CA certificate is served")
        ledger_before = ca.call("/v1/ledger")[1]
        check(ledger_before["count"] == 2, "two effects in the ledger")

        ca.kill()
        ca.start()

        check(only_cert(ca, "ORGANIZATION", "000.00.15.H19") == [],
              "after the restart the revoked organization has no active certificate")
        certs = only_cert(ca, "PERSON", "HR-0005")
        check(len(certs) == 1 and certs[0]["serial"] == change[1]["new_serial"],
              "after the restart the person's active certificate is the new one")
        check(len(only_cert(ca, "ORGANIZATION", "000.00.00.H19")) == 1,
              "the inventory was not loaded a second time over the state")
        check(ca.call("/v1/ca.pem")[1] == ca_pem, "the CA certificate is the same")
        status, again, headers = ca.call("/v1/certificates/%s/revoke" % org["serial"],
                                         {"reason": "cessationOfOperation"}, "restart-revoke")
        check(status == revoke[0] and again == revoke[1]
              and headers.get("Idempotent-Replayed") == "true",
              "the repeated revoke key answers the stored answer")
        status, again, _ = ca.call("/v1/certificates/%s/change-info" % person["serial"],
                                   {"subject": "CN=x,C=VN"}, "restart-change")
        check(status == 200 and again == change[1],
              "the repeated change-info key answers the stored answer")
        check(ca.call("/v1/ledger")[1]["count"] == 2, "the ledger did not grow")

        status, crl, _ = ca.call("/v1/crl")
        path = os.path.join(work, "crl.der")
        with open(path, "wb") as f:
            f.write(crl)
        text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path, "-noout",
                               "-text"], check=True, capture_output=True, text=True).stdout
        check(org["serial"] in text and person["serial"] in text,
              "the CRL lists both serials after the restart")
        check("Cessation Of Operation" in text and "Superseded" in text,
              "with their reasons")

        lines = subprocess.run([binary, "ledger", "--state", os.path.join(work, "state")],
                               check=True, capture_output=True, text=True).stdout.splitlines()
        ops = [json.loads(line)["op"] for line in lines]
        check(ops == ["revoke", "change-info"], "certbridge-refca ledger reads the same ledger")
    finally:
        ca.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("test_refca_restart: passed")


if __name__ == "__main__":
    main()
