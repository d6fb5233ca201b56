#!/usr/bin/env python3
"""Start and stop the reference CA (certbridge-refca) for tests.

    refca_harness.py start --state DIR --bin PATH [--inventory FILE] [-- FAULT FLAGS...]
    refca_harness.py stop  --state DIR

`start` makes a development PKI in DIR/pki (certbridge-refca pki-init), starts
`certbridge-refca serve` on a free port of 127.0.0.1 with its state in
DIR/state and the given extra flags (e.g. --fail-503 0.3 --drop 0.2), waits
until it answers GET /v1/ca.pem over mutual TLS, and writes:
    DIR/url              https://127.0.0.1:PORT
    DIR/certbridge.conf  the ca.* keys a certbridge client needs
    DIR/pid, DIR/refca.log
`stop` stops the process (SIGTERM, then SIGKILL) and deletes DIR.
"""
import argparse
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procutil import alive, read_pid, terminate  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_INVENTORY = os.path.join(HERE, "..", "data", "refca-inventory.jsonl")


def log(msg):
    print("refca_harness: " + msg, flush=True)


def stop(state, quiet=False):
    pid = read_pid(state)
    if pid and alive(pid):
        terminate(pid, 20)
        if not quiet:
            log("reference CA (pid %d) stopped" % pid)
    if os.path.isdir(state):
        shutil.rmtree(state, ignore_errors=True)


def answers(url, pki):
    """True when GET /v1/ca.pem answers 200 over mutual TLS."""
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "tls-ca.pem"))
    ctx.load_cert_chain(os.path.join(pki, "client.pem"), os.path.join(pki, "client.key"))
    try:
        with urllib.request.urlopen(url + "/v1/ca.pem", context=ctx, timeout=2) as r:
            return r.status == 200 and b"BEGIN CERTIFICATE" in r.read()
    except OSError:
        return False


def start(state, binary, inventory, extra, timeout):
    stop(state, quiet=True)  # a leftover from an interrupted run
    os.makedirs(state)
    pki = os.path.join(state, "pki")
    subprocess.run([binary, "pki-init", pki], check=True, stdout=subprocess.DEVNULL)
    url_file = os.path.join(state, "url")
    cmd = [binary, "serve", "--state", os.path.join(state, "state"), "--pki", pki,
           "--inventory", inventory, "--listen", "127.0.0.1:0", "--url-file", url_file] + extra
    out = open(os.path.join(state, "refca.log"), "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    with open(os.path.join(state, "pid"), "w") as f:
        f.write(str(proc.pid))
    deadline = time.time() + timeout
    url = None
    while True:
        if proc.poll() is not None:
            with open(os.path.join(state, "refca.log")) as f:
                tail = f.read()[-4000:]
            stop(state, quiet=True)
            sys.exit("refca_harness: certbridge-refca exited with %d:\n%s"
                     % (proc.returncode, tail))
        if url is None and os.path.exists(url_file):
            with open(url_file) as f:
                url = f.read().strip()
        if url and answers(url, pki):
            break
        if time.time() > deadline:
            stop(state, quiet=True)
            sys.exit("refca_harness: the reference CA did not answer within %ds" % timeout)
        time.sleep(0.05)
    with open(os.path.join(state, "certbridge.conf"), "w") as f:
        f.write("ca.url=%s\n" % url)
        f.write("ca.tls.cert=%s\n" % os.path.join(pki, "client.pem"))
        f.write("ca.tls.key=%s\n" % os.path.join(pki, "client.key"))
        f.write("ca.tls.ca_bundle=%s\n" % os.path.join(pki, "tls-ca.pem"))
    log("reference CA ready at %s, pid %d%s" % (url, proc.pid,
                                                 (" (" + " ".join(extra) + ")") if extra else ""))


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["start", "stop"])
    ap.add_argument("--state", required=True, help="state folder")
    ap.add_argument("--bin", help="the certbridge-refca executable (start)")
    ap.add_argument("--inventory", default=DEFAULT_INVENTORY, help="JSONL inventory (start)")
    ap.add_argument("--timeout", type=int, default=30, help="seconds to wait for the CA")
    a = ap.parse_args(argv)
    if a.command == "start":
        if not a.bin:
            ap.error("--bin is required for start")
        start(os.path.abspath(a.state), a.bin, os.path.abspath(a.inventory), extra, a.timeout)
    else:
        stop(os.path.abspath(a.state))


if __name__ == "__main__":
    main()
