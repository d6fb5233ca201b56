#!/usr/bin/env python3
"""Regenerates (or with --check, verifies) what is generated from the property
table: README.md's configuration reference (`certbridge config --markdown`)
and packaging/certbridge.conf.example (`certbridge config --example`).

    scripts/config-doc.py BUILD/certbridge [--check]
"""
import re
import subprocess
import sys
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
README = os.path.join(ROOT, "README.md")
EXAMPLE = os.path.join(ROOT, "packaging", "certbridge.conf.example")
PATTERN = re.compile(r"(<!-- config-reference:start -->\n)(.*?)(<!-- config-reference:end -->)",
                     re.S)


def generated(binary, flag):
    return subprocess.run([binary, "config", flag], check=True, capture_output=True,
                          text=True).stdout


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    check = "--check" in sys.argv
    table = generated(sys.argv[1], "--markdown")
    example = generated(sys.argv[1], "--example")
    with open(README) as f:
        text = f.read()
    m = PATTERN.search(text)
    if not m:
        sys.exit("README.md has no config-reference markers")
    current_example = open(EXAMPLE).read() if os.path.exists(EXAMPLE) else None
    if check:
        stale = []
        if m.group(2) != table:
            stale.append("README.md's configuration reference")
        if current_example != example:
            stale.append("packaging/certbridge.conf.example")
        if stale:
            sys.exit("%s stale: run scripts/config-doc.py %s"
                     % (" and ".join(stale) + (" are" if len(stale) > 1 else " is"),
                        sys.argv[1]))
        print("README.md configuration reference and packaging/certbridge.conf.example "
              "match the table")
        return
    if m.group(2) != table:
        with open(README, "w") as f:
            f.write(text[:m.start(2)] + table + text[m.end(2):])
    if current_example != example:
        os.makedirs(os.path.dirname(EXAMPLE), exist_ok=True)
        with open(EXAMPLE, "w") as f:
            f.write(example)


if __name__ == "__main__":
    main()
