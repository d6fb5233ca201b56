#!/usr/bin/env python3
"""`certbridge report` on the outcome topic of a real pipeline run, and its
HTML page rendered by headless Chromium (README "Progress report").

    report_test.py --build BUILD_DIR --bootstrap-file FILE [--events N] [--keep]
                   [--screenshot PNG]

The run (real broker, reference CA, `certbridge run`), reusing eos_test's
Scenario: the first half of a workload is drained with a synchronous CA
(outcomes SUCCEEDED, NEEDS_REVIEW), the CA is restarted with --async on the
same state (completing requests only after 10 minutes) and the second half
drained with --drain-leave-open (mutating calls answer PENDING, and the run
ends with them still open), plus one event for an organization the CA does
not know (SKIPPED).

Checks:
  - `report --format json` agrees with an independent read_committed reader
    (cbtool outcomes): outcome and event counts, every (action, status)
    count, the open items, the key tokens to return;
  - `report --tokens-from-ca` lists a token returned at the CA (POST
    /v1/devices/{id}/returned, made between the halves) as returned and
    every other recalled token as still out;
  - `report` (table) prints the same totals; exit codes 0;
  - the HTML page loads nothing from outside, and headless Chromium renders
    it: --dump-dom shows the chart's bars with non-zero widths filling each
    row, and a screenshot has the chart's colours (SUCCEEDED green and
    PENDING blue) over thousands of pixels.
"""
import argparse
import collections
import json
import os
import re
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eos_test  # noqa: E402
import workload  # noqa: E402

GREEN = (0x2E, 0x7D, 0x32)  # SUCCEEDED in the chart
BLUE = (0x1E, 0x88, 0xE5)   # PENDING in the chart
BAR_WIDTH = 620.0


def log(msg):
    print("report: " + msg, flush=True)


def png_pixels(path):
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium
    writes) into (width, height, rows of bytes, bytes per pixel)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or color not in (2, 6) or interlace:
                raise ValueError("unsupported PNG (depth %d, colour %d)" % (depth, color))
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xFF
            elif f == 2:
                line[x] = (line[x] + b) & 0xFF
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def pixel_counts(path):
    """Non-white pixels, and pixels of the chart's green and blue."""
    width, height, rows, bpp = png_pixels(path)
    nonwhite = green = blue = 0
    for row in rows:
        for x in range(0, width * bpp, bpp):
            px = (row[x], row[x + 1], row[x + 2])
            if px != (255, 255, 255):
                nonwhite += 1
            if all(abs(p - q) <= 6 for p, q in zip(px, GREEN)):
                green += 1
            elif all(abs(p - q) <= 6 for p, q in zip(px, BLUE)):
                blue += 1
    return {"width": width, "height": height, "nonwhite": nonwhite, "green": green,
            "blue": blue}


def ca_post(ca, path, key):
    """POSTs {} to the reference CA with certbridge's client certificate
    and an Idempotency-Key; answers the HTTP status."""
    ctx = ssl.create_default_context(cafile=os.path.join(ca.pki, "tls-ca.pem"))
    ctx.load_cert_chain(os.path.join(ca.pki, "client.pem"), os.path.join(ca.pki, "client.key"))
    req = urllib.request.Request(ca.url + path, method="POST", data=b"{}")
    req.add_header("Content-Type", "application/json")
    req.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        log("CA answered %d: %s" % (e.code, e.read()[:300]))
        return e.code


def chromium(*args):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise SystemExit("chromium is missing: scripts/install-deps.sh --test installs it")
    profile = tempfile.mkdtemp(prefix="cb-chromium-")
    try:
        return subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", "--user-data-dir=" + profile] + list(args),
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--bootstrap-file", required=True)
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--screenshot", help="also copy the screenshot here")
    a = ap.parse_args()
    args = argparse.Namespace(scenario="report", build=a.build, bootstrap_file=a.bootstrap_file,
                              events=a.events, kills=0, seed=11, keep=a.keep, valgrind=False)
    s = eos_test.Scenario(args)
    failures = []

    def expect(name, ok, detail):
        log("%-44s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            failures.append(name)

    try:
        # two halves of the workload, and one organization the CA does not know
        lines = open(s.events).read().splitlines()
        half = len(lines) // 2
        unknown = {"event_id": "rep-unknown-1", "event_type": "DISSOLVED",
                   "occurred_at": 1751328000000, "effective_date": "2025-07-01",
                   "source_system": "report-test",
                   "org": {"code": "000.99.99.H19", "name": "Ủy ban nhân dân xã <Thử>",
                           "province": workload.PROVINCE}}
        first, second = (os.path.join(s.work, n) for n in ("first.jsonl", "second.jsonl"))
        with open(first, "w") as f:
            f.write("\n".join(lines[:half]) + "\n")
        with open(second, "w") as f:
            f.write("\n".join(lines[half:]) + "\n" + json.dumps(unknown, ensure_ascii=False)
                    + "\n")
        for t in (s.org_topic, s.person_topic):
            s.tool("create-topic", s.bootstrap, t, "2")
        for t in (s.outcome_topic, s.dlq_topic):
            s.tool("create-topic", s.bootstrap, t, "2")
        s.ca = eos_test.RefCA(s.build, s.work, s.inventory)
        s.ca.start()
        conf = s.conf("a", "cb-report")
        s.tool("produce", s.bootstrap, s.org_topic, s.person_topic, first)
        expect("first half drained (synchronous CA)", s.drain(conf, "a") == 0, "")
        # one token recalled in the first half comes back to the Department
        # (recorded at the CA while it answers synchronously)
        recalled = sorted({o["device_id"] for o in map(json.loads, filter(None, s.tool(
            "outcomes", s.bootstrap, s.outcome_topic).splitlines()))
            if o["action"] == "RECALL_DEVICE" and o["status"] == "SUCCEEDED" and o["device_id"]})
        returned = recalled[0] if recalled else None
        st = ca_post(s.ca, "/v1/devices/%s/returned" % returned, "report-test-return")
        expect("a recalled token returned at the CA", st == 200,
               "%s of %d recalled: HTTP %d" % (returned, len(recalled), st))
        listen = s.ca.url.split("//", 1)[1]
        s.ca.stop()
        s.ca.extra = ["--async", "--async-delay-ms", "600000"]
        s.ca.start(listen=listen)
        s.tool("produce", s.bootstrap, s.org_topic, s.person_topic, second)
        expect("second half drained (asynchronous CA)",
               s.drain(conf, "a", leave_open=True) == 0, "")

        # the independent reader: the topic as a table, the latest record per
        # outcome_id (here every PENDING one is still open: no final record)
        latest = {}
        for l in s.tool("outcomes", s.bootstrap, s.outcome_topic).splitlines():
            if l:
                o = json.loads(l)
                latest[o["outcome_id"]] = o
        outcomes = list(latest.values())
        by = collections.Counter((o["action"], o["status"]) for o in outcomes)
        ids = collections.Counter(o["outcome_id"] for o in outcomes)
        events = {o["source_event_id"] for o in outcomes}
        open_ids = sorted(o["outcome_id"] for o in outcomes
                          if o["status"] in ("PENDING", "FAILED", "REJECTED"))
        tokens = sorted({o["device_id"] for o in outcomes if o["action"] == "RECALL_DEVICE"
                         and o["status"] in ("SUCCEEDED", "ALREADY_DONE") and o["device_id"]})
        log("pipeline wrote %d outcomes of %d events: %s"
            % (len(outcomes), len(events), dict(sorted(by.items()))))
        unknown_out = [o["status"] for o in outcomes if o["source_event_id"] == "rep-unknown-1"]
        expect("outcomes of every kind", by[("REVOKE", "SUCCEEDED")] > 0
               and by[("REVOKE", "PENDING")] > 0 and by[("REVIEW", "NEEDS_REVIEW")] > 0
               and unknown_out == ["SKIPPED"], "unknown organization: %s" % unknown_out)
        expect("no duplicate outcome ids", max(ids.values()) == 1, "")
        expect("PENDING outcomes are not final", all(
            not o["final"] for o in outcomes if o["status"] == "PENDING"), "")

        # certbridge report, JSON
        html = os.path.join(s.work, "report.html")
        p = subprocess.run([s.certbridge, "report", "-c", conf, "--format", "json", "--html",
                            html], capture_output=True, text=True, timeout=300)
        expect("report --format json --html exits 0", p.returncode == 0,
               "%d %s" % (p.returncode, p.stderr[-500:]))
        rep = json.loads(p.stdout)
        expect("report: outcomes", rep["outcomes"] == len(outcomes),
               "%d (reader %d)" % (rep["outcomes"], len(outcomes)))
        expect("report: events", rep["events"] == len(events),
               "%d (reader %d)" % (rep["events"], len(events)))
        expect("report: partitions", rep["partitions"] == 2, str(rep["partitions"]))
        expect("report: duplicates, undecodable", rep["duplicates"] == 0
               and rep["undecodable"] == 0, "%d %d" % (rep["duplicates"], rep["undecodable"]))
        got = collections.Counter({(a_, st): n for a_, sts in rep["by_action"].items()
                                   for st, n in sts.items()})
        expect("report: every (action, status) count", got == by,
               "" if got == by else "report %s reader %s" % (dict(got), dict(by)))
        org_total = sum(g["total"] for g in rep["organizations"])
        expect("report: organizations add up", org_total == len(outcomes),
               "%d groups, %d outcomes" % (len(rep["organizations"]), org_total))
        expect("report: open items", sorted(o["outcome_id"] for o in rep["open"]) == open_ids,
               "%d (reader %d)" % (len(rep["open"]), len(open_ids)))
        expect("report: tokens to return",
               sorted(t["device_id"] for t in rep["tokens_to_return"]) == tokens,
               "%d (reader %d)" % (len(rep["tokens_to_return"]), len(tokens)))

        # the table
        p = subprocess.run([s.certbridge, "report", "-c", conf], capture_output=True,
                           text=True, timeout=300)
        head = "%d outcomes of %d events:" % (len(outcomes), len(events))
        expect("report (table) exits 0 with the totals", p.returncode == 0 and head in p.stdout,
               p.stdout.splitlines()[1] if p.returncode == 0 else p.stderr[-300:])
        expect("report (table): tokens line",
               ("Key tokens to return to the Department of Digital Certification and "
                "Information Security: %d\n" % len(tokens)) in p.stdout, "")

        # --tokens-from-ca: the CA's record of returns; the returned token is
        # listed as returned, every other one as still out with its days
        p = subprocess.run([s.certbridge, "report", "-c", conf, "--format", "json",
                            "--tokens-from-ca"], capture_output=True, text=True, timeout=300)
        expect("report --tokens-from-ca exits 0", p.returncode == 0,
               "%d %s" % (p.returncode, p.stderr[-500:]))
        rep = json.loads(p.stdout) if p.returncode == 0 else {"tokens_to_return": []}
        back = sorted(t["device_id"] for t in rep["tokens_to_return"] if t.get("returned"))
        out = sorted(t["device_id"] for t in rep["tokens_to_return"]
                     if t.get("returned") is False and t.get("days_out", -1) >= 0)
        expect("--tokens-from-ca: returns checked", rep.get("returns_checked") is True, "")
        expect("--tokens-from-ca: the returned token", back == [returned], str(back))
        expect("--tokens-from-ca: the others still out",
               out == sorted(set(tokens) - {returned}) and len(out) == len(tokens) - 1,
               "%d out of %d" % (len(out), len(tokens)))
        p = subprocess.run([s.certbridge, "report", "-c", conf, "--tokens-from-ca"],
                           capture_output=True, text=True, timeout=300)
        expect("--tokens-from-ca (table): returns as the CA recorded them",
               p.returncode == 0 and "returns as the CA recorded them" in p.stdout
               and returned in p.stdout, p.stderr[-300:])

        # the page: self-contained, escaped, rendered by Chromium
        page = open(html, encoding="utf-8").read()
        expect("html: nothing loaded from outside",
               not re.search(r"""(src|href)\s*=\s*["']|url\(|@import|<script|<link""", page),
               "")
        expect("html: names escaped", "xã &lt;Thử&gt;" in page and "<Thử>" not in page, "")
        dom = chromium("--dump-dom", "file://" + html)
        expect("chromium --dump-dom", dom.returncode == 0 and "progress-chart" in dom.stdout,
               "exit %d %s" % (dom.returncode, dom.stderr[-300:]))
        rows = collections.defaultdict(float)
        for m in re.finditer(r'<rect class="seg" data-action="([A-Z_]+)" data-status="[A-Z_]+" '
                             r'x="[0-9.]+" y="[0-9]+" width="([0-9.]+)"', dom.stdout):
            rows[m.group(1)] += float(m.group(2))
        want_rows = {"ALL"} | {a_ for a_, _ in by}
        expect("chart: a bar per action, each filled",
               set(rows) == want_rows and all(abs(w - BAR_WIDTH) < 1.5 for w in rows.values()),
               ", ".join("%s %.1f" % kv for kv in sorted(rows.items())))
        png = os.path.join(s.work, "report.png")
        shot = chromium("--screenshot=" + png, "--window-size=1200,1600", "file://" + html)
        ok = shot.returncode == 0 and os.path.exists(png)
        expect("chromium --screenshot", ok, "exit %d %s" % (shot.returncode, shot.stderr[-300:]))
        if ok:
            px = pixel_counts(png)
            expect("screenshot not blank", px["nonwhite"] > 0.05 * px["width"] * px["height"],
                   "%d non-white of %d" % (px["nonwhite"], px["width"] * px["height"]))
            expect("screenshot shows the chart (green, blue)",
                   px["green"] > 2000 and px["blue"] > 2000,
                   "green %d, blue %d pixels" % (px["green"], px["blue"]))
            if a.screenshot:
                shutil.copy(png, a.screenshot)
    finally:
        s.cleanup()
    if failures:
        log("FAILED: %s (work folder kept: %s)" % (", ".join(failures), s.work))
        sys.exit(1)
    if not a.keep:
        shutil.rmtree(s.work, ignore_errors=True)
    else:
        log("work folder kept: %s" % s.work)
    log("passed")


if __name__ == "__main__":
    main()
