#!/usr/bin/env python3
"""`certbridge approvals` on a real broker, and its request letters rendered
by headless Chromium (README "Approvals").

    approvals_test.py --build BUILD_DIR --bootstrap-file FILE [--keep]

Crafted outcome records (cbtool produce-outcomes: certbridge's own encoder)
go to a fresh outcome topic of two partitions: two managing agencies, the
province's People's Committee with two requests (1 and 2 July 2025: a
dissolved district's certificate and token, a departed official's) and the
health department with one (a holder named with <&">), plus actions that
must not be listed: one awaiting then approved and done, one awaiting then
rejected, and an awaiting record replayed twice.

Then the real thing: `certbridge run` with policy.approval=revoke (signatures
off: no approval is sent here) drains a workload against the reference CA,
so its REVOKEs wait, published by the gate itself.

Checks:
  - the pipeline's run: `approvals --format json --certificates-from-ca`
    lists exactly the actions an independent read_committed reader (cbtool
    outcomes) finds awaiting (latest record AWAITING_APPROVAL, final false),
    under the same requests, and for each the certificates the CA's own
    database holds active for its holder; the tokens to return are theirs;
    nothing was revoked at the CA; the pages name those serials;
  - `approvals --format json`: the requests, agencies, figures and the
    actions of each request; `--agency CODE` keeps one agency;
  - `approvals` (table) lists the three requests; exit codes 0;
  - `approvals --format html --out DIR` writes index.html and one page per
    agency that loads nothing from outside and escapes the hostile name;
  - headless Chromium: --dump-dom of the province's page shows the
    Vietnamese headings with their English captions, the holder names with
    their diacritics, the serials, the tokens and the signature block, one
    letter per request; --print-to-pdf gives A4 pages on which each letter
    starts a page of its own, at its top (the letters' named destinations
    in the PDF; without the page-break rule the second starts mid-page),
    and a one-holder letter fits one page.
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eos_test  # noqa: E402
from report_test import chromium  # noqa: E402

PROV, PROV_NAME = "000.00.00.H19", "Ủy ban nhân dân tỉnh Đồng Nai"
YTE, YTE_NAME = "000.00.14.H19", "Sở Y tế tỉnh Đồng Nai"
EVIL = 'Lê "Văn" <Tâm> & Co'
T0 = 1751335200000  # 2025-07-01 09:00 in Vietnam


def log(msg):
    print("approvals: " + msg, flush=True)


def outcome(event, idx, action, holder_type, holder_id, name, serial, device, status,
            request, agency, agency_name, reason=None, day=0):
    return {"outcome_id": "%s/%d" % (event, idx), "source_event_id": event,
            "source_event_type": "DISSOLVED" if holder_type == "ORGANIZATION" else "DEPARTED",
            "source_topic": "hr.events", "action_index": idx, "action_count": 2,
            "action": action, "holder_type": holder_type, "holder_id": holder_id,
            "holder_name": name, "certificate_serial": serial, "device_id": device,
            "revocation_reason": reason, "status": status,
            "processed_at": T0 + day * 86400000 + idx * 1000,
            "final": status != "AWAITING_APPROVAL",
            "note": "Thu hồi theo đề nghị của cơ quan quản lý / revoke as the agency asks",
            "approval_request_id": request, "managing_agency_code": agency,
            "managing_agency_name": agency_name}


def records():
    aw = "AWAITING_APPROVAL"
    a1, a2, b1 = PROV + "-20250701", PROV + "-20250702", YTE + "-20250701"
    return [
        outcome("ap-dis-41", 0, "REVOKE", "ORGANIZATION", "000.00.41.H19",
                "Ủy ban nhân dân huyện Nhơn Trạch", "5A1B2C3D4E5F6071", "TK-ORG-41", aw, a1,
                PROV, PROV_NAME, "cessationOfOperation"),
        outcome("ap-dis-41", 1, "RECALL_DEVICE", "ORGANIZATION", "000.00.41.H19",
                "Ủy ban nhân dân huyện Nhơn Trạch", "5A1B2C3D4E5F6071", "TK-ORG-41", aw, a1,
                PROV, PROV_NAME),
        outcome("ap-dep-7", 0, "REVOKE", "PERSON", "DN-CB-000007", "Nguyễn Thị Hồng Nhung",
                "7C00FFEE12345678", "TK-P-0007", aw, a1, PROV, PROV_NAME, "affiliationChanged"),
        outcome("ap-dep-7", 1, "RECALL_DEVICE", "PERSON", "DN-CB-000007",
                "Nguyễn Thị Hồng Nhung", "7C00FFEE12345678", "TK-P-0007", aw, a1, PROV,
                PROV_NAME),
        # the same record again (a replay): listed once
        outcome("ap-dep-7", 1, "RECALL_DEVICE", "PERSON", "DN-CB-000007",
                "Nguyễn Thị Hồng Nhung", "7C00FFEE12345678", "TK-P-0007", aw, a1, PROV,
                PROV_NAME),
        outcome("ap-dep-8", 0, "REVOKE", "PERSON", "DN-CB-000008", "Trần Văn Đức",
                "8D00000000000008", "TK-P-0008", aw, a2, PROV, PROV_NAME, "affiliationChanged",
                day=1),
        # awaiting, then approved and done; awaiting, then rejected
        outcome("ap-dep-9", 0, "REVOKE", "PERSON", "DN-CB-000009", "Võ Thị Hoa",
                "9E00000000000009", "TK-P-0009", aw, a2, PROV, PROV_NAME, "affiliationChanged",
                day=1),
        outcome("ap-dep-9", 0, "REVOKE", "PERSON", "DN-CB-000009", "Võ Thị Hoa",
                "9E00000000000009", "TK-P-0009", "SUCCEEDED", a2, PROV, PROV_NAME,
                "affiliationChanged", day=1),
        outcome("ap-dep-10", 0, "REVOKE", "PERSON", "DN-CB-000010", "Đặng Văn Hùng",
                "AF0000000000000A", None, aw, b1, YTE, YTE_NAME, "affiliationChanged"),
        outcome("ap-dep-10", 0, "REVOKE", "PERSON", "DN-CB-000010", "Đặng Văn Hùng",
                "AF0000000000000A", None, "REJECTED", b1, YTE, YTE_NAME, "affiliationChanged"),
        outcome("ap-dep-11", 0, "REVOKE", "PERSON", "DN-CB-000011", EVIL, "B00000000000000B",
                "TK-P-0011", aw, b1, YTE, YTE_NAME, "cessationOfOperation"),
    ]


def pdf_pages(path):
    """The page objects of a PDF (Chromium writes them uncompressed)."""
    data = open(path, "rb").read()
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


def pipeline_run(a, expect):
    """The gate's own AWAITING_APPROVAL records, from `certbridge run`."""
    args = argparse.Namespace(scenario="approvals", build=a.build, bootstrap_file=a.bootstrap_file,
                              events=120, kills=0, seed=16, keep=a.keep, valgrind=False)
    s = eos_test.Scenario(args)
    try:
        for t in (s.org_topic, s.person_topic):
            s.tool("create-topic", s.bootstrap, t, "2")
        for t in (s.outcome_topic, s.dlq_topic):
            s.tool("create-topic", s.bootstrap, t, "2")
        approval_topic = "certbridge.approvals." + s.group
        s.tool("create-topic", s.bootstrap, approval_topic, "1")
        s.ca = eos_test.RefCA(s.build, s.work, s.inventory)
        s.ca.start()
        conf = s.conf("a", "cb-approvals", {"policy.approval": "revoke",
                                             "policy.approval_signature": "off",
                                             "input.approval_topic": approval_topic})
        s.tool("produce", s.bootstrap, s.org_topic, s.person_topic, s.events)

        # the independent reader: the latest record of every outcome id
        def awaiting():
            latest = {}
            for line in s.tool("outcomes", s.bootstrap, s.outcome_topic).splitlines():
                if line:
                    o = json.loads(line)
                    latest[o["outcome_id"]] = o
            return {i: o for i, o in latest.items()
                    if o["status"] == "AWAITING_APPROVAL" and o["final"] is False}

        # an instance runs until every event with a REVOKE awaits approval
        # (events waiting for approval keep it from draining), then stops
        gated = {k.rsplit("/", 1)[0] for k, (act, _) in s.expected["outcomes"].items()
                 if act == "REVOKE"}
        proc = s.start(conf, "a")
        deadline = time.time() + 240
        waiting = {}
        while time.time() < deadline and proc.poll() is None:
            waiting = awaiting()
            if s.lag() == 0 and {o["source_event_id"] for o in waiting.values()} >= gated:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        expect("run: every event with a REVOKE awaits approval",
               gated and {o["source_event_id"] for o in waiting.values()} == gated,
               "%d of %d events" % (len({o["source_event_id"] for o in waiting.values()}),
                                     len(gated)))
        waiting = awaiting()
        by_request = collections.defaultdict(set)
        for i, o in waiting.items():
            by_request[o["approval_request_id"]].add(i)
        expect("run: REVOKEs await approval", len(waiting) > 5 and all(
            o["action"] == "REVOKE" and "/approval/" in i for i, o in waiting.items()),
            "%d awaiting in %d requests" % (len(waiting), len(by_request)))
        expect("run: nothing revoked at the CA", not [e for e in s.ca.ledger()
                                                      if e["op"] == "revoke"])

        p = subprocess.run([s.certbridge, "approvals", "-c", conf, "--format", "json",
                            "--certificates-from-ca"], capture_output=True, text=True,
                           timeout=300)
        expect("run: approvals --certificates-from-ca exits 0", p.returncode == 0,
               p.stderr[-500:])
        doc = json.loads(p.stdout) if p.returncode == 0 else {"requests": []}
        got = {q["request_id"]: {x["outcome_id"] for x in q["actions"]} for q in doc["requests"]}
        expect("run: the awaiting actions under their requests", got == dict(by_request),
               "%d requests listed, %d expected" % (len(got), len(by_request)))
        expect("run: figures", doc.get("awaiting") == len(waiting)
               and doc.get("certificates_from_ca") is True, "")

        # the CA's own database, read directly: the holders' active certificates
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(s.ca.state, "refca.db"), uri=True)
        active = collections.defaultdict(list)
        for ht, hid, serial, dev in db.execute(
                "SELECT holder_type, holder_id, serial, device_id FROM certs"
                " WHERE status = 'active'"):
            active[(ht, hid)].append((serial, dev))
        db.close()
        wrong, serials = [], set()
        for q in doc["requests"]:
            tokens = set()
            for x in q["actions"]:
                want = sorted(active.get((x["holder_type"], x["holder_id"]), []))
                have = sorted((c["serial"], c["device_id"]) for c in x["certificates"])
                if have != want or not x["certificates_looked_up"]:
                    wrong.append((x["outcome_id"], have, want))
                tokens |= {d for _, d in want if d}
                serials |= {sn for sn, _ in want}
            if sorted(tokens) != q["tokens_to_return"] or q["revocations"] != sum(
                    max(1, len(x["certificates"])) for x in q["actions"]):
                wrong.append((q["request_id"], q["tokens_to_return"], sorted(tokens)))
        expect("run: each action's certificates are the CA's", not wrong and serials,
               "%d serials; %s" % (len(serials), wrong[:2]))

        out = os.path.join(s.work, "letters")
        p = subprocess.run([s.certbridge, "approvals", "-c", conf, "--format", "html", "--out",
                            out, "--certificates-from-ca"], capture_output=True, text=True,
                           timeout=300)
        pages = ""
        if p.returncode == 0:
            for name in os.listdir(out):
                if name != "index.html":
                    pages += open(os.path.join(out, name), encoding="utf-8").read()
        expect("run: the letters name every serial", p.returncode == 0 and serials
               and all(sn in pages for sn in serials) and "not looked up" not in pages,
               p.stderr[-300:])
    finally:
        s.cleanup()
    if not a.keep:
        shutil.rmtree(s.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--bootstrap-file", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    a = ap.parse_args()
    bootstrap = open(a.bootstrap_file).read().strip()
    cbtool = os.path.join(a.build, "tests", "cbtool")
    certbridge = os.path.join(a.build, "certbridge")
    work = tempfile.mkdtemp(prefix="cb-approvals-")
    topic = "cb-approvals-%d-outcomes" % os.getpid()
    env = dict(os.environ, CERTBRIDGE_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
               CERTBRIDGE_OUTPUT_OUTCOME_TOPIC=topic)
    failures = []

    def expect(name, ok, detail=""):
        log("%-52s %s %s" % (name, "ok" if ok else "FAILED", detail))
        if not ok:
            failures.append(name)

    def run(*args):
        return subprocess.run([certbridge, "approvals"] + list(args), capture_output=True,
                              text=True, timeout=300, env=env)

    r = subprocess.run([cbtool, "create-topic", bootstrap, topic, "2"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise SystemExit("create-topic: " + r.stderr)
    path = os.path.join(work, "outcomes.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for o in records():
            f.write(json.dumps(o, ensure_ascii=False) + "\n")
    r = subprocess.run([cbtool, "produce-outcomes", bootstrap, topic, path], capture_output=True,
                       text=True)
    expect("crafted outcomes produced", r.returncode == 0 and r.stdout.strip() == "11",
           r.stdout.strip() + r.stderr[-300:])

    # JSON: everything, and the agency filter
    p = run("--format", "json", "--now", "2025-07-03T08:00:00+07:00")
    expect("approvals --format json exits 0", p.returncode == 0, p.stderr[-500:])
    doc = json.loads(p.stdout) if p.returncode == 0 else {}
    reqs = doc.get("requests", [])
    expect("json: figures", (doc.get("outcomes"), doc.get("actions"), doc.get("awaiting"),
                             doc.get("partitions"), doc.get("generated_at"))
           == (11, 8, 6, 2, "2025-07-03T01:00:00Z"), str({k: doc.get(k) for k in (
               "outcomes", "actions", "awaiting", "partitions", "generated_at")}))
    expect("json: three requests in order",
           [q["request_id"] for q in reqs] == [PROV + "-20250701", PROV + "-20250702",
                                               YTE + "-20250701"],
           str([q["request_id"] for q in reqs]))
    expect("json: the requests' actions",
           [[x["outcome_id"] for x in q["actions"]] for q in reqs]
           == [["ap-dep-7/0", "ap-dep-7/1", "ap-dis-41/0", "ap-dis-41/1"], ["ap-dep-8/0"],
               ["ap-dep-11/0"]], "")
    expect("json: revocations and tokens",
           [(q["revocations"], q["tokens_to_return"], q["day"]) for q in reqs]
           == [(2, ["TK-ORG-41", "TK-P-0007"], "2025-07-01"), (1, ["TK-P-0008"], "2025-07-02"),
               (1, ["TK-P-0011"], "2025-07-01")], "")
    expect("json: agencies", [(g["code"], g["name"], g["requests"], g["page"])
                              for g in doc.get("agencies", [])]
           == [(PROV, PROV_NAME, 2, PROV + ".html"), (YTE, YTE_NAME, 1, YTE + ".html")], "")
    expect("json: the hostile name as it is", reqs and
           reqs[2]["actions"][0]["holder_name"] == EVIL, "")
    p = run("--format", "json", "--agency", YTE)
    one = json.loads(p.stdout) if p.returncode == 0 else {}
    expect("json --agency: one agency, one request",
           p.returncode == 0 and [g["code"] for g in one["agencies"]] == [YTE]
           and [q["request_id"] for q in one["requests"]] == [YTE + "-20250701"]
           and one["agency_filter"] == YTE, p.stderr[-300:])

    # the table
    p = run()
    expect("approvals (table) exits 0 with the requests", p.returncode == 0
           and "Awaiting approval: 6 actions in 3 requests of 2 managing agencies" in p.stdout
           and all(q in p.stdout for q in (PROV + "-20250701", PROV + "-20250702",
                                           YTE + "-20250701")), p.stdout[:400] + p.stderr[-300:])

    # the pages
    out = os.path.join(work, "letters")
    p = run("--format", "html", "--out", out, "--place", "Đồng Nai", "--now",
            "2025-07-03T08:00:00+07:00")
    files = sorted(os.listdir(out)) if os.path.isdir(out) else []
    expect("approvals --format html writes the pages", p.returncode == 0
           and files == [PROV + ".html", YTE + ".html", "index.html"], "%s %s" % (
               files, p.stderr[-300:]))
    if failures:
        raise SystemExit("approvals: FAILED before rendering: %s (work %s)"
                         % (", ".join(failures), work))
    prov = os.path.join(out, PROV + ".html")
    yte = os.path.join(out, YTE + ".html")
    for f in (prov, yte):
        page = open(f, encoding="utf-8").read()
        expect("html %s: nothing loaded from outside" % os.path.basename(f),
               not re.search(r"""src\s*=|href\s*=\s*["'](?!#letter-)|url\(|@import|<script|<link""",
                             page))
    page = open(yte, encoding="utf-8").read()
    expect("html: the hostile name escaped", "Lê &quot;Văn&quot; &lt;Tâm&gt; &amp; Co" in page
           and "<Tâm>" not in page, "")
    index = open(os.path.join(out, "index.html"), encoding="utf-8").read()
    expect("index links both pages", 'href="%s.html"' % PROV in index
           and 'href="%s.html"' % YTE in index, "")

    # the province's page in a real browser
    dom = chromium("--dump-dom", "file://" + prov)
    text = dom.stdout
    expect("chromium --dump-dom", dom.returncode == 0 and "</html>" in text,
           "exit %d %s" % (dom.returncode, dom.stderr[-300:]))
    wanted = [
        "GIẤY ĐỀ NGHỊ THU HỒI, THAY ĐỔI THÔNG TIN CHỨNG THƯ SỐ",
        "Danh sách thuê bao", "Holders",
        "Danh sách chứng thư số đề nghị thu hồi", "Certificates to be revoked",
        "Thiết bị lưu khóa bí mật cần bàn giao lại", "Key tokens to return",
        "THỦ TRƯỞNG CƠ QUAN", "Head of agency", "(Ký, ghi rõ họ tên, đóng dấu)",
        "Đồng Nai, ngày 01 tháng 7 năm 2025", "Đồng Nai, ngày 02 tháng 7 năm 2025",
        PROV_NAME, "Ủy ban nhân dân huyện Nhơn Trạch", "Nguyễn Thị Hồng Nhung", "Trần Văn Đức",
        "5A1B2C3D4E5F6071", "7C00FFEE12345678", "8D00000000000008",
        "TK-ORG-41", "TK-P-0007", "TK-P-0008", "Chấm dứt hoạt động",
    ]
    missing = [w for w in wanted if w not in text]
    expect("dom: headings, names, serials, tokens, signature", not missing, str(missing))
    expect("dom: one letter per request",
           len(re.findall(r'<article class="letter"', text)) == 2, "")
    expect("dom: approved and rejected actions not in the letters",
           "Võ Thị Hoa" not in text and "Đặng Văn Hùng" not in text, "")
    # printed: A4, and every letter starts a page of its own. Chromium names
    # the letters' anchors (the screen's links point at them) in the PDF:
    # /Dests gives each one's page and height on it
    def print_pdf(name, html):
        src = os.path.join(work, name + ".html")
        with open(src, "w", encoding="utf-8") as fh:
            fh.write(html)
        pdf = os.path.join(work, name + ".pdf")
        r = chromium("--print-to-pdf=" + pdf, "--no-pdf-header-footer", "file://" + src)
        if r.returncode != 0 or not os.path.exists(pdf):
            expect("chromium --print-to-pdf %s" % name, False,
                   "exit %d %s" % (r.returncode, r.stderr[-300:]))
            return 0, {}, None
        data = open(pdf, "rb").read()
        kids = re.search(rb"/Type\s*/Pages\s*/Count\s*\d+\s*/Kids\s*\[([^\]]*)\]", data) or \
            re.search(rb"/Kids\s*\[([^\]]*)\]", data)
        order = re.findall(rb"(\d+) 0 R", kids.group(1)) if kids else []
        dests = {}
        for m in re.finditer(rb"/(letter-\d+)\s*\[(\d+) 0 R /XYZ [\d.]+ ([\d.]+)", data):
            page = order.index(m.group(2)) + 1 if m.group(2) in order else 0
            dests[m.group(1).decode()] = (page, float(m.group(3)))
        box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
        size = (float(box.group(1)), float(box.group(2))) if box else None
        return pdf_pages(pdf), dests, size

    whole = open(prov, encoding="utf-8").read()
    n_all, dests, size = print_pdf("prov", whole)
    expect("pdf: A4 (595 x 842 points)", size is not None and abs(size[0] - 595) < 2
           and abs(size[1] - 842) < 2, str(size))
    top = size[1] if size else 0
    expect("pdf: each letter starts a new page, at its top",
           n_all >= 2 and sorted(dests) == ["letter-1", "letter-2"]
           and dests["letter-1"][0] == 1 and dests["letter-2"][0] > dests["letter-1"][0]
           and top - dests["letter-2"][1] < 45, "%d pages, anchors %s" % (n_all, dests))
    # the same page without its page-break rule: the second letter follows
    # the first on the same page (so the rule is what moves it)
    rule = ".letter+.letter{break-before:page;page-break-before:always}"
    _, packed, _ = print_pdf("prov-no-break", whole.replace(rule, ""))
    expect("pdf: without the break rule the letter starts mid-page",
           rule in whole and "letter-2" in packed and top - packed["letter-2"][1] > 100,
           "anchors %s" % packed)
    n_yte, _, _ = print_pdf("yte", open(yte, encoding="utf-8").read())
    expect("pdf: one page for a one-holder letter", n_yte == 1, "%d pages" % n_yte)
    pipeline_run(a, expect)
    if failures:
        log("FAILED: %s (work folder kept: %s)" % (", ".join(failures), work))
        sys.exit(1)
    if a.keep:
        log("work folder kept: %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    log("passed")


if __name__ == "__main__":
    main()
