#!/usr/bin/env python3
"""Runs a command and checks its exit code and output.

    expect.py EXIT_CODE REGEX COMMAND [ARGS...]

Passes when the command exits with EXIT_CODE and its standard output plus
standard error match REGEX (Python re.search, DOTALL). Prints what it saw
otherwise.
"""
import re
import subprocess
import sys


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    code, regex, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    ok = p.returncode == code and re.search(regex, out, re.S)
    if not ok:
        print("command: %s\nexit code %d (expected %d)\nregex %r %s\n--- output ---\n%s"
              % (" ".join(cmd), p.returncode, code, regex,
                 "matched" if re.search(regex, out, re.S) else "did NOT match", out))
        sys.exit(1)
    print("ok: exit %d, output matches %r" % (code, regex))


if __name__ == "__main__":
    main()
