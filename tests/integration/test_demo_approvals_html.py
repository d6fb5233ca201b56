#!/usr/bin/env python3
"""The demo's approval round as pages, rendered by a real browser.

    test_demo_approvals_html.py --build BUILD_DIR

Runs `certbridge demo --approvals-html DIR` (in-process Kafka, the reference
CA, the embedded sample; policy.approval=revoke by default) and renders in
headless Chromium (Debian's chromium, --dump-dom, as report_test.py does):
  - DIR/index.html, the letters' index: the Vietnamese heading and the code
    of every managing agency the demo printed requests of;
  - the letter page of the provincial People's Committee (000.00.00.H19):
    the Vietnamese title of the letter, its request id, the agency's name;
  - DIR/signed.html: the head's name with its diacritics, her title, each
    request id with APPROVED and its document number.
The request ids are taken from the demo's own output, so the pages are
checked against what the terminal showed.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "eos"))
from report_test import chromium  # noqa: E402  (headless Chromium, one helper)

HEAD = "Nguyễn Thị Thanh Hương"
TITLE = "Chủ tịch Ủy ban nhân dân tỉnh Đồng Nai"


def dom(path):
    r = chromium("--dump-dom", "file://" + path)
    if r.returncode != 0 or "<body" not in r.stdout:
        sys.exit("FAIL: chromium could not render %s: %s" % (path, r.stderr[-2000:]))
    return r.stdout


def need(text, what, where):
    if what not in text:
        sys.exit("FAIL: %r not in %s" % (what, where))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    certbridge = os.path.join(args.build, "certbridge")
    refca = os.path.join(args.build, "refca", "certbridge-refca")
    with tempfile.TemporaryDirectory() as work:
        pages = os.path.join(work, "letters")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTBRIDGE_")}
        r = subprocess.run([certbridge, "demo", "--refca", refca, "--approvals-html", pages],
                           capture_output=True, text=True, timeout=300, env=env)
        if r.returncode != 0:
            sys.exit("FAIL: demo exited %d:\n%s%s" % (r.returncode, r.stdout, r.stderr))
        awaiting = re.findall(r"^\S.*\(([0-9.]+H19)\) +(\1-[0-9]{8}) ", r.stdout, re.M)
        approved = dict(re.findall(r"^    ([0-9.]+H19-[0-9]{8})  APPROVED  (\S+ ngày \S+)",
                                   r.stdout, re.M))
        if len(awaiting) != 6 or set(a[1] for a in awaiting) != set(approved):
            sys.exit("FAIL: requests awaiting %s, approved %s\n%s" % (awaiting, approved,
                                                                      r.stdout))
        need(r.stdout, "the approval request letters: %s/index.html" % pages, "the demo's output")

        index = dom(os.path.join(pages, "index.html"))
        need(index, "Đề nghị chờ phê duyệt", "index.html")
        for code, _ in awaiting:  # the index: one row per agency (its requests are on its page)
            need(index, code, "index.html")
        province = [f for f in os.listdir(pages) if f.startswith("000.00.00.H19")]
        if len(province) != 1:
            sys.exit("FAIL: the provincial People's Committee's page: %s" % os.listdir(pages))
        letters = dom(os.path.join(pages, province[0]))
        need(letters, "GIẤY ĐỀ NGHỊ THU HỒI, THAY ĐỔI THÔNG TIN CHỨNG THƯ SỐ", province[0])
        need(letters, "Ủy ban nhân dân tỉnh Đồng Nai", province[0])
        req = [a[1] for a in awaiting if a[0] == "000.00.00.H19"][0]
        need(letters, 'data-request="%s"' % req, province[0])
        need(letters, "Sở Kế hoạch và Đầu tư tỉnh Đồng Nai", province[0])

        signed = dom(os.path.join(pages, "signed.html"))
        need(signed, "Phê duyệt đề nghị thu hồi chứng thư số đã ký số", "signed.html")
        need(signed, HEAD, "signed.html")
        need(signed, TITLE, "signed.html")
        for req, doc in approved.items():
            row = re.search(r'<td class="request-id">%s</td><td>APPROVED</td><td>%s, %s</td>'
                            r'<td>%s</td>' % (re.escape(req), HEAD, TITLE, re.escape(doc)),
                            signed)
            if not row:
                sys.exit("FAIL: signed.html has no row for %s (%s)" % (req, doc))
    print("ok: %d requests, letters and signed approvals rendered" % len(approved))


if __name__ == "__main__":
    main()
