#!/usr/bin/env python3
"""`cmake --install` into a scratch DESTDIR lays out what README promises.

    check_install.py BUILD_DIR

bin/certbridge and bin/certbridge-refca (both run), the systemd unit under
lib/systemd/system whose ExecStart names the installed binary, the example
configuration and README under share/doc/certbridge, and nothing else.
"""
import os
import re
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    cache = open(os.path.join(build, "CMakeCache.txt")).read()
    prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache, re.M).group(1)
    failures = []

    def expect(name, ok, detail=""):
        print("install: %-44s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            failures.append(name)

    with tempfile.TemporaryDirectory() as dest:
        env = dict(os.environ, DESTDIR=dest)
        p = subprocess.run(["cmake", "--install", build], env=env, capture_output=True,
                           text=True)
        expect("cmake --install", p.returncode == 0, p.stderr[-500:])
        root = dest + prefix
        files = sorted(os.path.relpath(os.path.join(d, f), root)
                       for d, _, fs in os.walk(dest) for f in fs)
        want = ["bin/certbridge", "bin/certbridge-refca", "lib/systemd/system/certbridge.service",
                "share/doc/certbridge/README.md",
                "share/doc/certbridge/certbridge.conf.example"]
        expect("installed files", files == want, "%s" % files)
        for b in ("certbridge", "certbridge-refca"):
            path = os.path.join(root, "bin", b)
            r = subprocess.run([path, "--help"], capture_output=True, text=True)
            expect("%s --help runs" % b, r.returncode == 0, "exit %d" % r.returncode)
        unit = open(os.path.join(root, "lib/systemd/system/certbridge.service")).read()
        m = re.search(r"^ExecStart=(\S+) run -c (\S+)$", unit, re.M)
        expect("unit's ExecStart is the installed binary",
               bool(m) and m.group(1) == os.path.join(prefix, "bin", "certbridge"),
               m.group(0) if m else "")
        example = open(os.path.join(root, "share/doc/certbridge/certbridge.conf.example")).read()
        gen = subprocess.run([os.path.join(root, "bin", "certbridge"), "config", "--example"],
                             capture_output=True, text=True).stdout
        expect("example configuration = config --example", example == gen)
    if failures:
        sys.exit("install: FAILED: " + ", ".join(failures))
    print("install: passed")


if __name__ == "__main__":
    main()
