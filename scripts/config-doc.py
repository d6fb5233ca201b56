#!/usr/bin/env python3
"""Regenerates (or with --check, verifies) README.md's configuration reference
from the property table, through `certbridge config --markdown`.

    scripts/config-doc.py BUILD/certbridge [--check]
"""
import re
import subprocess
import sys
import os

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
PATTERN = re.compile(r"(<!-- config-reference:start -->\n)(.*?)(<!-- config-reference:end -->)",
                     re.S)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    table = subprocess.run([sys.argv[1], "config", "--markdown"], check=True,
                           capture_output=True, text=True).stdout
    with open(README) as f:
        text = f.read()
    m = PATTERN.search(text)
    if not m:
        sys.exit("README.md has no config-reference markers")
    if "--check" in sys.argv:
        if m.group(2) != table:
            sys.exit("README.md's configuration reference is stale: run scripts/config-doc.py "
                     + sys.argv[1])
        print("README.md configuration reference matches the table")
        return
    with open(README, "w") as f:
        f.write(text[:m.start(2)] + table + text[m.end(2):])


if __name__ == "__main__":
    main()
