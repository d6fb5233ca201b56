#!/usr/bin/env python3
"""Checks the configured systemd unit (build/packaging/certbridge.service).

    check_unit.py UNIT CERTBRIDGE_BINARY

- `systemd-analyze verify` accepts it with no message at all (it exits 0 on
  unknown keys and bad values, only printing them), with ExecStart pointed at
  the build's binary (the installed path does not exist here);
- `systemd-analyze security --offline=true` rates its exposure 2.0 or lower;
- TimeoutStopSec leaves pipeline.shutdown_timeout_ms (the table's default,
  from `certbridge config --markdown`) plus 10 s to close the consumer;
- the hardening and restart settings README promises are there.
"""
import os
import re
import subprocess
import sys
import tempfile

REQUIRED = ["Type=simple", "User=certbridge", "Restart=on-failure", "KillSignal=SIGTERM",
            "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
            "PrivateTmp=yes", "RestartPreventExitStatus=2", "CapabilityBoundingSet=",
            "UMask=0077"]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    unit_path, binary = sys.argv[1], os.path.abspath(sys.argv[2])
    text = open(unit_path).read()
    failures = []

    def expect(name, ok, detail=""):
        print("unit: %-40s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            failures.append(name)

    lines = set(l.strip() for l in text.splitlines())
    missing = [r for r in REQUIRED if r not in lines]
    expect("required settings", not missing, ", ".join(missing))
    m = re.search(r"^ExecStart=(\S+)/certbridge run -c (\S+)$", text, re.M)
    expect("ExecStart runs `certbridge run -c`", bool(m), m.group(0) if m else "")
    out = subprocess.run([binary, "config", "--markdown"], capture_output=True, text=True,
                         check=True).stdout
    d = re.search(r"^\| `pipeline\.shutdown_timeout_ms` \| [^|]*\| `(\d+)`", out, re.M)
    t = re.search(r"^TimeoutStopSec=(\d+)s$", text, re.M)
    ok = bool(d and t) and int(t.group(1)) * 1000 >= int(d.group(1)) + 10000
    expect("TimeoutStopSec > shutdown_timeout_ms + 10 s", ok,
           "%ss vs %s ms" % (t.group(1) if t else "?", d.group(1) if d else "?"))
    with tempfile.TemporaryDirectory() as tmp:
        unit = os.path.join(tmp, "certbridge.service")
        with open(unit, "w") as f:
            f.write(re.sub(r"^ExecStart=\S+/certbridge ", "ExecStart=%s " % binary, text,
                           flags=re.M))
        v = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
        msgs = (v.stdout + v.stderr).strip()
        expect("systemd-analyze verify: no message", v.returncode == 0 and not msgs,
               "exit %d %s" % (v.returncode, msgs))
        s = subprocess.run(["systemd-analyze", "security", "--offline=true", unit],
                           capture_output=True, text=True)
        e = re.search(r"Overall exposure level for \S+: ([0-9.]+)", s.stdout + s.stderr)
        expect("systemd-analyze security: exposure <= 2.0",
               bool(e) and float(e.group(1)) <= 2.0, e.group(0) if e else s.stderr[-300:])
    if failures:
        sys.exit("unit: FAILED: " + ", ".join(failures))
    print("unit: passed")


if __name__ == "__main__":
    main()
