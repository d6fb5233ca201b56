#!/usr/bin/env python3
"""`certbridge reconcile` on a drift scenario of Quảng Trị province
(tests/data/reconcile-quangtri/, README "Reconciliation").

    test_reconcile.py --build BUILD_DIR [--keep] [--screenshot PNG]

A reference CA holds 27 certificates of Quảng Trị's agencies and staff after
the 2025 reorganization (Quảng Bình merged in, districts dissolved, departments
merged and renamed). The registry (an HR export of organizations, CSV with a
byte order mark, quoted commas, an NFD row; and of people, JSONL) is the
truth. Two tokens are recalled and one of them returned before the run.

Checks:
  - every drifted certificate is found with its kind, what differs and its
    corrective event; no compliant certificate is reported, although they
    differ from the registry in Unicode form (NFC/NFD), RFC 4514 escapes
    (commas, plus signs), letter case and spacing;
  - the organization without a certificate and the token still out (0 days)
    are listed; the returned token is not;
  - findings are grouped by managing agency as docs/DOMAIN.md §6 defines it;
  - `certbridge plan -i EVENTS` (policy.cascade_personal=true) plans exactly
    the actions that fix each drift: the subject the registry calls for,
    revocation and token recall of what is gone, the cascade of a merged
    organization's staff;
  - the CA is unchanged (its ledger holds only the test's recall and return);
  - the HTML page loads nothing from outside and headless Chromium renders
    it: both tables in the DOM with their rows, a screenshot that is not blank.
"""
import argparse
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, os.path.join(HERE, "eos"))
import refca_harness  # noqa: E402
from report_test import chromium, pixel_counts  # noqa: E402

DATA = os.path.join(HERE, "..", "data", "reconcile-quangtri")
P = "Tỉnh Quảng Trị"
UB = "Ủy ban nhân dân tỉnh Quảng Trị"

# holder -> (kind, differs, fix): everything that must be found, and nothing else
EXPECTED = {
    "000.00.05.H54": ("SUBJECT", ["name"], "RENAMED"),
    "000.00.09.H54": ("SUBJECT", ["name"], "RENAMED"),
    "000.00.10.H54": ("SUBJECT", ["parent"], "PARENT_CHANGED"),
    "000.00.11.H54": ("SUBJECT", ["parent", "province"], "PARENT_CHANGED"),
    "000.00.13.H54": ("ORG_GONE", [], "DISSOLVED"),
    "000.00.15.H54": ("ORG_GONE", [], "MERGED"),
    "000.00.16.H54": ("ORG_GONE", [], "MERGED"),
    "000.00.99.H54": ("ORG_UNKNOWN", [], None),
    "QT-CB-0004": ("SUBJECT", ["name"], "INFO_CHANGED"),
    "QT-CB-0005": ("TRANSFERRED", [], "TRANSFERRED"),
    "QT-CB-0006": ("DEPARTED", [], "DEPARTED"),
    "QT-CB-0007": ("PERSON_ORG_GONE", [], "MERGED"),
    "QT-CB-0008": ("DEPARTED", [], "DEPARTED"),
    "QT-CB-0011": ("SUBJECT", ["parent", "province"], "INFO_CHANGED"),
    "000.00.14.H54": ("NO_CERT", [], None),
}
# compliant although they differ from the registry in form only
COMPLIANT = ["000.00.00.H54", "000.00.01.H54", "000.00.02.H54", "000.00.03.H54",
             "000.00.04.H54", "000.00.06.H54", "000.00.12.H54", "QT-CB-0001", "QT-CB-0002",
             "QT-CB-0003", "QT-CB-0009", "QT-CB-0010", "QT-CB-0012"]
# holder -> managing agency code
AGENCY = {
    "000.00.05.H54": "000.00.00.H54",   # an organization: its parent
    "000.00.10.H54": "000.00.09.H54",
    "000.00.11.H54": "000.00.12.H54",
    "000.00.13.H54": "000.00.00.H54",
    "QT-CB-0004": "000.00.09.H54",      # a person: the organization they belong to
    "QT-CB-0005": "000.00.14.H54",      # the HR export's organization
    "QT-CB-0007": "000.00.03.H54",      # merged away: its successor
    "000.00.14.H54": "000.00.00.H54",
}
ORG_SUBJECT = {  # the subjects the registry calls for
    "000.00.05.H54": "CN=Sở Nông nghiệp và Môi trường tỉnh Quảng Trị,O=%s,L=%s,C=VN" % (UB, P),
    "000.00.09.H54": "CN=Sở Dân tộc và Tôn giáo tỉnh Quảng Trị,O=%s,L=%s,C=VN" % (UB, P),
    "000.00.10.H54": "CN=Văn phòng Sở Dân tộc và Tôn giáo tỉnh Quảng Trị,"
                     "O=Sở Dân tộc và Tôn giáo tỉnh Quảng Trị,L=%s,C=VN" % P,
    "000.00.11.H54": "CN=Bệnh viện Hữu nghị Việt Nam - Cu Ba Đồng Hới,O=Sở Y tế tỉnh Quảng Trị,"
                     "L=%s,C=VN" % P,
}
PERSON_SUBJECT = {
    "QT-CB-0004": "CN=Hoàng Thị Lan,title=Chuyên viên,OU=Sở Dân tộc và Tôn giáo tỉnh Quảng Trị,"
                  "O=%s,L=%s,C=VN,emailAddress=lan.ht@quangtri.gov.vn" % (UB, P),
    "QT-CB-0005": "CN=Phan Văn Đức,title=Công chức,OU=Ủy ban nhân dân xã Khe Sanh,O=%s,L=%s,"
                  "C=VN,emailAddress=duc.pv@quangtri.gov.vn" % (UB, P),
    "QT-CB-0011": "CN=Lương Thị Ngọc,title=Bác sĩ,OU=Bệnh viện Hữu nghị Việt Nam - Cu Ba Đồng "
                  "Hới,O=Sở Y tế tỉnh Quảng Trị,L=%s,C=VN,emailAddress=ngoc.lt@quangtri.gov.vn"
                  % P,
}

failures = []


def log(msg):
    print("reconcile: " + msg, flush=True)


def expect(what, ok, detail=""):
    log(("ok   " if ok else "FAIL ") + what + ("" if ok else ": " + detail))
    if not ok:
        failures.append(what)


def ca_call(state, method, path, body=None, key=None):
    pki = os.path.join(state, "pki")
    url = open(os.path.join(state, "url")).read().strip()
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "tls-ca.pem"))
    ctx.load_cert_chain(os.path.join(pki, "client.pem"), os.path.join(pki, "client.key"))
    req = urllib.request.Request(url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)
    if p.returncode != 0:
        log("%s exited %d: %s" % (" ".join(args[:2]), p.returncode, p.stderr[-2000:]))
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--screenshot", help="copy the page's screenshot here")
    a = ap.parse_args()
    cb = os.path.join(a.build, "certbridge")
    refca = os.path.join(a.build, "refca", "certbridge-refca")
    work = tempfile.mkdtemp(prefix="cb-reconcile-")
    state = os.path.join(work, "ca")
    try:
        refca_harness.start(state, refca, os.path.join(DATA, "inventory.jsonl"), [], 30)
        conf = os.path.join(state, "certbridge.conf")
        st, ans = ca_call(state, "POST", "/v1/devices/TK-QT-ORG-13/recall", {}, "t-recall-13")
        expect("recall a token", st == 200 and ans["status"] == "RECALLED", str(ans))
        ca_call(state, "POST", "/v1/devices/TK-QT-0006/recall", {}, "t-recall-06")
        st, ans = ca_call(state, "POST", "/v1/devices/TK-QT-0006/returned", {}, "t-return-06")
        expect("record a token's return", st == 200 and ans["status"] == "RETURNED", str(ans))
        st, ledger = ca_call(state, "GET", "/v1/ledger")
        before = ledger["count"]

        out_json = os.path.join(work, "reconcile.json")
        events = os.path.join(work, "events.jsonl")
        p = run([cb, "reconcile", "-c", conf, "-r", os.path.join(DATA, "registry-orgs.csv"),
                 "-r", os.path.join(DATA, "registry-people.jsonl"), "--format", "json",
                 "-o", out_json, "--emit-events", events, "--page-size", "4"])
        expect("reconcile --format json exits 0", p.returncode == 0, p.stderr)
        doc = json.load(open(out_json, encoding="utf-8"))
        items = doc["items"]
        by_holder = {}
        for it in items:
            if it["kind"] != "TOKEN_OUT":
                by_holder.setdefault(it["holder_id"], []).append(it)
        expect("27 active certificates checked", doc["certificates"] == 27, str(doc["certificates"]))
        expect("13 compliant, 4 of them by case or spacing only",
               doc["compliant"] == 13 and doc["case_only"] == 4,
               "%d compliant, %d case only" % (doc["compliant"], doc["case_only"]))
        for holder, (kind, differs, fix) in sorted(EXPECTED.items()):
            got = by_holder.get(holder, [])
            ok = (len(got) == 1 and got[0]["kind"] == kind and got[0]["differs"] == differs and
                  got[0]["fix"] == fix)
            expect("found %s: %s %s -> %s" % (holder, kind, differs, fix), ok, json.dumps(got))
        false = sorted(set(by_holder) - set(EXPECTED))
        expect("no false report (compliant: NFC/NFD, escaped , and +, case, spacing)",
               not false and not set(COMPLIANT) & set(by_holder), ", ".join(false))
        tokens = [it for it in items if it["kind"] == "TOKEN_OUT"]
        expect("the token still out, not the returned one",
               [(t["device_id"], t["days_out"]) for t in tokens] == [("TK-QT-ORG-13", 0)],
               json.dumps(tokens))
        for holder, code in sorted(AGENCY.items()):
            got = by_holder.get(holder, [{}])[0]
            expect("%s under managing agency %s" % (holder, code), got.get("agency_code") == code,
                   str(got.get("agency_code")))
        for holder, subj in sorted({**ORG_SUBJECT, **PERSON_SUBJECT}.items()):
            got = by_holder.get(holder, [{}])[0]
            expect("%s: the subject the registry calls for" % holder,
                   got.get("expected_subject") == subj, str(got.get("expected_subject")))
        gone = by_holder.get("000.00.15.H54", [{}])[0]
        expect("merged away: its successor named",
               gone.get("successor_code") == "000.00.03.H54" and
               gone.get("successor_name") == "Sở Khoa học và Công nghệ tỉnh Quảng Trị", str(gone))
        agencies = {ag["code"]: ag for ag in doc["agencies"]}
        ub = agencies.get("000.00.00.H54", {})
        expect("agency 000.00.00.H54: its subordinates' figures",
               ub.get("org_certificates") == 11 and ub.get("findings", {}).get("NO_CERT") == 1,
               json.dumps(ub, ensure_ascii=False))

        # the corrective events plan to the fixing actions
        lines = [json.loads(l) for l in open(events, encoding="utf-8")]
        expect("12 corrective events", len(lines) == 12 and doc["events"] == 12,
               "%d lines, %d counted" % (len(lines), doc["events"]))
        policy = os.path.join(work, "cascade.conf")
        with open(policy, "w") as f:
            f.write("policy.cascade_personal=true\n")
        p = run([cb, "plan", "-i", events, "--format", "json", "-c", policy])
        expect("certbridge plan reads every event", p.returncode == 0, p.stderr)
        plan = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        acts = {}
        for x in plan:
            acts.setdefault((x["holder_id"] or "cascade:" + x.get("cascade_org_code", "")),
                            []).append(x)
        for holder, subj in sorted({**ORG_SUBJECT, **PERSON_SUBJECT}.items()):
            got = [(x["action"], x.get("new_subject")) for x in acts.get(holder, [])]
            expect("plan: %s CHANGE_INFO to the registry's subject" % holder,
                   got == [("CHANGE_INFO", subj)], str(got))
        for holder, reason in (("000.00.13.H54", "cessationOfOperation"),
                               ("000.00.15.H54", "cessationOfOperation"),
                               ("000.00.16.H54", "cessationOfOperation"),
                               ("QT-CB-0006", "affiliationChanged"),
                               ("QT-CB-0008", "affiliationChanged")):
            got = [(x["action"], x.get("revocation_reason")) for x in acts.get(holder, [])]
            expect("plan: %s revoked (%s), token recalled" % (holder, reason),
                   got == [("REVOKE", reason), ("RECALL_DEVICE", None)], str(got))
        for holder in ("000.00.02.H54", "000.00.03.H54"):
            got = [x["action"] for x in acts.get(holder, [])]
            expect("plan: successor %s keeps its certificate" % holder, got == ["RETAIN"], str(got))
        got = [x["action"] for x in acts.get("cascade:000.00.15.H54", [])]
        expect("plan: the staff of the merged organization follow (cascade)",
               got == ["CHANGE_INFO"], str(got))
        departed = [e for e in lines if e["event_type"] == "DEPARTED"]
        expect("DEPARTED events carry the HR export's reason and date",
               sorted((e["person"]["person_id"], e["departure_reason"], e["effective_date"])
                      for e in departed) ==
               [("QT-CB-0006", "RETIRED", "2025-06-30"), ("QT-CB-0008", "RESIGNED", "2025-08-15")],
               json.dumps(departed, ensure_ascii=False))
        expect("event ids are stable for the day",
               all(re.match(r"^rc-\d{8}-(ORG|PER)-[0-9A-Z.-]+-[A-Z_]+$", e["event_id"])
                   for e in lines), str([e["event_id"] for e in lines]))

        # reconcile changed nothing at the CA
        st, ledger = ca_call(state, "GET", "/v1/ledger")
        expect("nothing changed at the CA", ledger["count"] == before,
               "%d ledger entries, %d before" % (ledger["count"], before))

        # the table, and the HTML page in a browser
        p = run([cb, "reconcile", "-c", conf, "-r", os.path.join(DATA, "registry-orgs.csv"),
                 "-r", os.path.join(DATA, "registry-people.jsonl")])
        expect("reconcile (table) exits 0 and sums up",
               p.returncode == 0 and "27 active certificates" in p.stdout and
               "13 compliant (4 differ only in letter case or spacing), 16 findings, 12 "
               "corrective events; 1 tokens recalled and not returned" in p.stdout,
               p.stdout[:600])
        html = os.path.join(work, "reconcile.html")
        p = run([cb, "reconcile", "-c", conf, "-r", os.path.join(DATA, "registry-orgs.csv"),
                 "-r", os.path.join(DATA, "registry-people.jsonl"), "--format", "html",
                 "-o", html])
        expect("reconcile --format html exits 0", p.returncode == 0, p.stderr)
        page = open(html, encoding="utf-8").read()
        expect("html: nothing loaded from outside",
               not re.search(r"""(src|href)\s*=\s*["']|url\(|@import|<script|<link""", page), "")
        dom = chromium("--dump-dom", "file://" + html)
        ok = dom.returncode == 0
        expect("chromium --dump-dom", ok, "exit %d %s" % (dom.returncode, dom.stderr[-300:]))
        if ok:
            agency_rows = re.search(r'<table id="reconcile-agencies">.*?<tbody>(.*?)</tbody>',
                                    dom.stdout, re.S)
            kinds = re.findall(r'<tr data-kind="([A-Z_]+)">', dom.stdout)
            expect("html: a row per managing agency",
                   agency_rows and agency_rows.group(1).count("<tr>") == len(doc["agencies"]),
                   str(len(doc["agencies"])))
            expect("html: a row per finding", len(kinds) == len(items),
                   "%d rows, %d findings" % (len(kinds), len(items)))
        png = os.path.join(work, "reconcile.png")
        shot = chromium("--screenshot=" + png, "--window-size=1200,1600", "file://" + html)
        ok = shot.returncode == 0 and os.path.exists(png)
        expect("chromium --screenshot", ok, "exit %d %s" % (shot.returncode, shot.stderr[-300:]))
        if ok:
            px = pixel_counts(png)
            expect("screenshot not blank", px["nonwhite"] > 0.03 * px["width"] * px["height"],
                   "%d non-white of %d" % (px["nonwhite"], px["width"] * px["height"]))
            if a.screenshot:
                shutil.copy(png, a.screenshot)
    finally:
        refca_harness.stop(state, quiet=True)
        if a.keep:
            log("kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        sys.exit("reconcile: %d check(s) failed: %s" % (len(failures), "; ".join(failures)))
    log("all checks passed")


if __name__ == "__main__":
    main()
