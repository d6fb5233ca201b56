#!/usr/bin/env python3
"""`certbridge reconcile` at scale (bench/RESULTS.md "Reconciliation").

    bench/reconcile.py [--build DIR] [--certificates N ...] [--page-size P] [--write]

For each N: a province of N/100 organizations (departments, their units,
communes) and N certificates at the reference CA (one per organization, the
rest personal), with drift planted the way the reorganization leaves it: 2%
of organizations renamed, 1% dissolved, 1% merged away, 1% of people
departed and 1% transferred in the HR export. The registry (organizations as
CSV, people as JSONL) and the inventory are generated with a fixed seed; the
reference CA loads the inventory (timed apart) and `certbridge reconcile`
runs under /usr/bin/time against it, writing its JSON result and the
corrective events. Measured: the wall time of the reconcile command, its peak
RSS, the findings and events (checked against the planted drift: every
planted certificate found, nothing else). --write puts the table into
bench/RESULTS.md between its reconcile markers, with the command.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import refca_harness  # noqa: E402

P = "Tỉnh Quảng Trị"
UB = "Ủy ban nhân dân tỉnh Quảng Trị"
KINDS = ["Sở", "Trung tâm", "Ban", "Chi cục", "Phòng", "Ủy ban nhân dân xã"]
WORDS = ["Nội vụ", "Tài chính", "Xây dựng", "Y tế", "Giáo dục và Đào tạo", "Công Thương",
         "Nông nghiệp và Môi trường", "Khoa học và Công nghệ", "Văn hóa, Thể thao và Du lịch",
         "Dân tộc và Tôn giáo", "Tư pháp", "Thanh tra", "Hành chính công", "Kiểm soát bệnh tật",
         "Khe Sanh", "Lao Bảo", "Đông Hà", "Cam Lộ", "Gio Linh", "Vĩnh Linh"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Quốc", "Thanh", "Ngọc", "Đức", "Thu", "Xuân"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Giang", "Hà", "Hải", "Hoa", "Hùng", "Lan", "Long",
         "Mai", "Nam", "Ngọc", "Phúc", "Quang", "Sơn", "Tâm", "Thảo", "Trung", "Tuấn", "Yến"]
TITLES = ["Chuyên viên", "Trưởng phòng", "Phó Giám đốc", "Giám đốc", "Kế toán", "Công chức"]


def log(msg):
    print("bench/reconcile: " + msg, flush=True)


def generate(n, work, seed=17, drift_on=True):
    """Writes registry-orgs.csv, registry-people.jsonl and inventory.jsonl for
    n certificates; answers the planted drift {holder: kind}."""
    rnd = random.Random(seed)
    n_orgs = max(10, n // 100)
    orgs = []  # (code, name, parent_code, parent_name)
    for i in range(n_orgs):
        code = "000.%02d.%02d.H54" % (i // 100, i % 100) if i < 10000 else "%03d.00.00.H54" % (i // 10000)
        if i == 0:
            orgs.append((code, UB, None, None))
            continue
        parent = orgs[0] if i < 50 or rnd.random() < 0.5 else orgs[rnd.randrange(1, min(i, 50))]
        # at most 64 characters: an X.509 name attribute's limit
        name = "%s %s %d" % (rnd.choice(KINDS), rnd.choice(WORDS), i)
        orgs.append((code, name, parent[0], parent[1]))
    drift = {}
    status = {}
    renamed = {}
    for code, name, pc, pn in orgs[50:]:
        r = rnd.random() if drift_on else 1.0
        if r < 0.02:
            renamed[code] = name + " (tên cũ)"
            drift[code] = "SUBJECT"
        elif r < 0.03:
            status[code] = ("DISSOLVED", None)
            drift[code] = "ORG_GONE"
        elif r < 0.04:
            status[code] = ("MERGED", orgs[1][0])
            drift[code] = "ORG_GONE"
    with open(os.path.join(work, "registry-orgs.csv"), "w", encoding="utf-8") as f:
        f.write("code,name,parent_code,parent_name,province,status,successor\n")
        for code, name, pc, pn in orgs:
            st, succ = status.get(code, ("ACTIVE", None))
            q = lambda s: '"%s"' % s.replace('"', '""') if s else ""
            f.write(",".join([code, q(name), pc or "", q(pn), q(P), st, succ or ""]) + "\n")
    people = open(os.path.join(work, "registry-people.jsonl"), "w", encoding="utf-8")
    with open(os.path.join(work, "inventory.jsonl"), "w", encoding="utf-8") as inv:
        for code, name, pc, pn in orgs:
            cn = renamed.get(code, name)
            subject = "CN=%s%s,L=%s,C=VN" % (cn.replace(",", "\\,"),
                                             ",O=" + pn.replace(",", "\\,") if pn else "", P)
            inv.write(json.dumps({"holder_type": "ORGANIZATION", "holder_id": code,
                                  "subject": subject, "device_id": "TK-" + code},
                                 ensure_ascii=False) + "\n")
        for i in range(n - len(orgs)):
            pid = "QT-%07d" % i
            code, name, pc, pn = orgs[rnd.randrange(len(orgs))]
            full = "%s %s %s" % (rnd.choice(FAMILY), rnd.choice(MIDDLE), rnd.choice(GIVEN))
            title = rnd.choice(TITLES)
            subject = "CN=%s,title=%s,OU=%s,%sL=%s,C=VN,emailAddress=%s@quangtri.gov.vn" % (
                full, title, name.replace(",", "\\,"),
                "O=%s," % pn.replace(",", "\\,") if pn else "", P, pid.lower())
            inv.write(json.dumps({"holder_type": "PERSON", "holder_id": pid, "org_code": code,
                                  "subject": subject, "device_id": "TK-" + pid},
                                 ensure_ascii=False) + "\n")
            r = rnd.random() if drift_on else 1.0
            if code in status:
                drift[pid] = "PERSON_ORG_GONE"
            elif code in renamed:
                pass  # the person's OU is the registry's name: compliant
            if r < 0.01 and code not in status:
                people.write(json.dumps({"person_id": pid, "national_id": "0451%08d" % i,
                                         "full_name": full, "org_code": code,
                                         "status": "DEPARTED", "departure_reason": "RETIRED",
                                         "departed_on": "2025-06-30"}, ensure_ascii=False) + "\n")
                drift[pid] = "DEPARTED"
            elif r < 0.02 and code not in status:
                to = orgs[rnd.randrange(1, len(orgs))][0]
                if to != code and to not in status:
                    people.write(json.dumps({"person_id": pid, "national_id": "0451%08d" % i,
                                             "full_name": full, "org_code": to},
                                            ensure_ascii=False) + "\n")
                    drift[pid] = "TRANSFERRED"
    people.close()
    return drift


def measure(build, n, page_size, work, drift_on=True):
    refca = os.path.join(build, "refca", "certbridge-refca")
    cb = os.path.join(build, "certbridge")
    t0 = time.time()
    drift = generate(n, work, drift_on=drift_on)
    gen_s = time.time() - t0
    state = os.path.join(work, "ca")
    t0 = time.time()
    refca_harness.start(state, refca, os.path.join(work, "inventory.jsonl"), [], 1800)
    load_s = time.time() - t0
    try:
        out = os.path.join(work, "reconcile.json")
        events = os.path.join(work, "events.jsonl")
        cmd = [cb, "reconcile", "-c", os.path.join(state, "certbridge.conf"),
               "-r", os.path.join(work, "registry-orgs.csv"),
               "-r", os.path.join(work, "registry-people.jsonl"),
               "--format", "json", "-o", out, "--emit-events", events]
        if page_size:
            cmd += ["--page-size", str(page_size)]
        load_before = os.getloadavg()
        t0 = time.time()
        p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
        wall = time.time() - t0
        if p.returncode != 0:
            sys.exit("bench/reconcile: reconcile failed: " + p.stderr[-2000:])
        rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
        cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([0-9.]+)",
                                                p.stderr))
        doc = json.load(open(out, encoding="utf-8"))
        found = {}
        for it in doc["items"]:
            if it["kind"] not in ("NO_CERT", "TOKEN_OUT"):
                found[it["holder_id"]] = it["kind"]
        missing = [h for h in drift if found.get(h) != drift[h]]
        extra = [h for h in found if h not in drift]
        return {"certificates": doc["certificates"], "drift": drift_on, "organizations": max(10, n // 100),
                "wall_s": wall, "cpu_s": cpu, "peak_rss_mib": rss_kib / 1024.0,
                "findings": doc["findings"], "planted": len(drift), "missing": len(missing),
                "extra": len(extra), "events": doc["events"], "load_s": load_s, "gen_s": gen_s,
                "load_before": load_before, "page_size": page_size or 250,
                "cmd": " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                                for c in cmd[:2]) + " -c CA.conf -r registry-orgs.csv -r "
                       "registry-people.jsonl --format json -o reconcile.json --emit-events "
                       "events.jsonl" + (" --page-size %d" % page_size if page_size else "")}
    finally:
        refca_harness.stop(state, quiet=True)


def table(rows):
    out = ["| certificates | drift planted | organizations | page size | reconcile wall s | certificates/s | "
           "CPU s | peak RSS MiB | findings (planted) | missed / extra | corrective events | "
           "CA inventory load s |",
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append("| {:,} | {} | {:,} | {} | {:.1f} | {:,.0f} | {:.1f} | {:.1f} | {:,} ({:,}) | "
                   "{} / {} | {:,} | {:.0f} |".format(
                       r["certificates"], "yes" if r["drift"] else "no", r["organizations"],
                       r["page_size"], r["wall_s"],
                       r["certificates"] / r["wall_s"], r["cpu_s"], r["peak_rss_mib"],
                       r["findings"], r["planted"], r["missing"], r["extra"], r["events"],
                       r["load_s"]))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--certificates", type=int, nargs="+", default=[20000, 200000])
    ap.add_argument("--page-size", type=int, default=0)
    ap.add_argument("--no-drift", action="store_true",
                    help="also measure each N without planted drift (what memory the walk "
                         "itself takes)")
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    a = ap.parse_args()
    rows = []
    runs = [(n, True) for n in a.certificates]
    if a.no_drift:
        runs = [(n, False) for n in a.certificates] + runs
    for n, drift_on in runs:
        work = tempfile.mkdtemp(prefix="cb-bench-reconcile-")
        try:
            log("%d certificates%s" % (n, "" if drift_on else ", no drift"))
            r = measure(os.path.abspath(a.build), n, a.page_size, work, drift_on)
            log("%d certificates in %.1f s, peak RSS %.1f MiB, %d findings (%d planted, %d "
                "missed, %d extra), CA load %.0f s" % (r["certificates"], r["wall_s"],
                                                      r["peak_rss_mib"], r["findings"],
                                                      r["planted"], r["missing"], r["extra"],
                                                      r["load_s"]))
            rows.append(r)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    text = table(rows)
    print(text)
    if a.write:
        md = os.path.join(ROOT, "bench", "RESULTS.md")
        s = open(md, encoding="utf-8").read()
        block = ("<!-- reconcile:start -->\n\nGenerated by `bench/reconcile.py --write` on %s "
                 "(load average before the largest run: %s; the reference CA and certbridge share "
                 "the machine's %d CPUs).\n\nCommand measured (under `/usr/bin/time -v`): `%s`\n\n"
                 "%s\n\n<!-- reconcile:end -->" % (
                     time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     ", ".join("%.2f" % x for x in rows[-1]["load_before"]), os.cpu_count(),
                     rows[-1]["cmd"], text))
        s = re.sub(r"<!-- reconcile:start -->.*<!-- reconcile:end -->", lambda m: block, s,
                   flags=re.S)
        open(md, "w", encoding="utf-8").write(s)
        log("wrote bench/RESULTS.md")
    bad = [r for r in rows if r["missing"] or r["extra"]]
    if bad:
        sys.exit("bench/reconcile: the planted drift was not found exactly")


if __name__ == "__main__":
    main()
