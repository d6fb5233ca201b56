#!/usr/bin/env python3
"""Runs a command and compares its standard output with a committed file.

    golden.py EXPECTED_FILE COMMAND [ARGS...]

Passes when the command exits 0 and its standard output equals EXPECTED_FILE
byte for byte. Otherwise prints a unified diff. To accept a deliberate change,
regenerate the file with the same command and review the diff in git.
"""
import difflib
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    expected_path, cmd = sys.argv[1], sys.argv[2:]
    p = subprocess.run(cmd, capture_output=True, timeout=300)
    with open(expected_path, "rb") as f:
        expected = f.read()
    if p.returncode == 0 and p.stdout == expected:
        print("ok: output equals %s" % expected_path)
        return
    print("command: %s\nexit code %d\n%s" % (" ".join(cmd), p.returncode,
                                              p.stderr.decode("utf-8", "replace")))
    diff = difflib.unified_diff(
        expected.decode("utf-8", "replace").splitlines(True),
        p.stdout.decode("utf-8", "replace").splitlines(True),
        fromfile=expected_path, tofile="actual")
    sys.stdout.writelines(diff)
    sys.exit(1)


if __name__ == "__main__":
    main()
