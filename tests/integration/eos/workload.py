"""Deterministic reorganization workloads for the exactly-once tests.

make_workload(n_events, seed) returns (inventory, events, expected):
  inventory  holders for the reference CA: one certificate and one key token each
  events     JSON events (dicts) of every type, plus a few poison lines (str)
  expected   {"outcomes": {outcome_id: (action, status)},
              "ca_effects": {(op, target)}, "poison": n}
Every holder is named by at most one event, so the outcome ids, statuses and
CA effects of a correct run are known in advance.
"""
import json
import random

PROVINCE = "Tỉnh Đồng Nai"
PARENT = ("000.00.00.H19", "Ủy ban nhân dân tỉnh Đồng Nai")
ORG_NAMES = ["Sở Nội vụ", "Sở Tài chính", "Sở Xây dựng", "Sở Y tế", "Sở Công Thương",
             "Sở Giáo dục và Đào tạo", "Sở Khoa học và Công nghệ", "Ủy ban nhân dân xã"]
PEOPLE = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thị Dung",
          "Hoàng Văn Em", "Võ Thị Giang", "Đặng Quốc Huy", "Bùi Thị Lan"]
TITLES = ["Chuyên viên", "Phó Giám đốc", "Giám đốc", "Chánh Văn phòng", "Kế toán trưởng"]


def _dn_escape(v):
    out = []
    for i, ch in enumerate(v):
        if ch in ',+"\\<>;' or (i == 0 and ch in " #") or (i == len(v) - 1 and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _dn(parts):
    return ",".join("%s=%s" % (k, _dn_escape(v)) for k, v in parts if v)


def org_code(i):
    return "000.%02d.%02d.H19" % (i // 100 + 1, i % 100)


def make_workload(n_events, seed=7, poison_every=97):
    rnd = random.Random(seed)
    inventory, events = [], []
    outcomes, effects = {}, set()
    n_poison = 0
    next_org = [0]
    next_person = [0]

    def new_org(in_ca=True):
        i = next_org[0]
        next_org[0] += 1
        org = {"code": org_code(i), "name": "%s %d" % (rnd.choice(ORG_NAMES), i),
               "parent_code": PARENT[0], "parent_name": PARENT[1], "province": PROVINCE,
               "address": None}
        if in_ca:
            inventory.append({"holder_type": "ORGANIZATION", "holder_id": org["code"],
                              "subject": _dn([("CN", org["name"]), ("O", PARENT[1]),
                                              ("L", PROVINCE), ("C", "VN")]),
                              "device_id": "TK-O-%05d" % i})
        return org

    def new_person(org, in_ca=True):
        i = next_person[0]
        next_person[0] += 1
        p = {"person_id": "hr-%06d" % i, "national_id": "%012d" % (75000000000 + i),
             "full_name": "%s %d" % (rnd.choice(PEOPLE), i),
             "email": "nv%06d@dongnai.gov.vn" % i, "title": rnd.choice(TITLES),
             "is_leader": rnd.random() < 0.2}
        if in_ca:
            inventory.append({"holder_type": "PERSON", "holder_id": p["person_id"],
                              "org_code": org["code"],
                              "subject": _dn([("CN", p["full_name"]), ("title", p["title"]),
                                              ("OU", org["name"]), ("O", PARENT[1]),
                                              ("L", PROVINCE), ("C", "VN"),
                                              ("emailAddress", p["email"])]),
                              "device_id": "TK-P-%06d" % i})
        return p

    def base(eid, etype):
        return {"event_id": eid, "event_type": etype,
                "occurred_at": "2025-06-%02dT08:00:00Z" % rnd.randint(1, 30),
                "effective_date": "2025-07-01", "source_system": "hrm-dongnai"}

    def expect(eid, acts):
        for idx, (action, status, op, target) in enumerate(acts):
            outcomes["%s/%d" % (eid, idx)] = (action, status)
            if op:
                effects.add((op, target))

    kinds = ["RENAMED", "PARENT_CHANGED", "INFO_CHANGED", "DISSOLVED", "MERGED_NEW",
             "MERGED_EXISTING", "TRANSFERRED", "POSITION_CHANGED", "P_INFO_CHANGED",
             "DEPARTED", "CERTIFICATE_NOT_NEEDED", "JOINED", "DISSOLVED_NO_CERT"]
    home = new_org()  # persons' organization (never itself changed)
    for n in range(n_events):
        if poison_every and n % poison_every == poison_every - 1:
            n_poison += 1
            events.append(rnd.choice(['{"event_id": "broken", ',
                                      '{"event_id":"bad-%d","event_type":"RENAMED",'
                                      '"occurred_at":0,"effective_date":0,"source_system":"x",'
                                      '"org":{"code":"lower.case","name":"X","province":"Y"}}'
                                      % n,
                                      "\u0001\u0002binary"]))
            continue
        kind = kinds[n % len(kinds)]
        eid = "evt-%06d" % n
        if kind in ("RENAMED", "PARENT_CHANGED", "INFO_CHANGED"):
            org = new_org()
            ev = base(eid, kind)
            org = dict(org, name=org["name"] + " (mới)")
            ev["org"] = org
            expect(eid, [("CHANGE_INFO", "SUCCEEDED", "change-info", org["code"])])
        elif kind == "DISSOLVED_NO_CERT":
            # a holder the CA has no certificate for: one SKIPPED outcome
            # for the holder, not one per intent
            ev = base(eid, "DISSOLVED")
            ev["org"] = new_org(in_ca=False)
            expect(eid, [("REVOKE", "SKIPPED", None, None)])
        elif kind == "DISSOLVED":
            org = new_org()
            ev = base(eid, kind)
            ev["org"] = org
            expect(eid, [("REVOKE", "SUCCEEDED", "revoke", org["code"]),
                         ("RECALL_DEVICE", "SUCCEEDED", "recall", org["code"])])
        elif kind in ("MERGED_NEW", "MERGED_EXISTING"):
            merged = [new_org() for _ in range(rnd.randint(2, 4))]
            ev = base(eid, "MERGED")
            ev["merged_orgs"] = merged
            acts = []
            if kind == "MERGED_NEW":
                ev["result_is_new"] = True
                ev["org"] = {"code": "100.%02d.%02d.H19" % (n // 100 % 100, n % 100),
                             "name": "Sở hợp nhất %d" % n, "province": PROVINCE,
                             "parent_code": PARENT[0], "parent_name": PARENT[1]}
                acts.append(("CHANGE_INFO", "SUCCEEDED", "change-info", merged[0]["code"]))
                rest = merged[1:]
            else:
                result = new_org()
                ev["org"] = result
                acts.append(("RETAIN", "SUCCEEDED", None, None))
                rest = merged
            for m in rest:
                acts.append(("REVOKE", "SUCCEEDED", "revoke", m["code"]))
                acts.append(("RECALL_DEVICE", "SUCCEEDED", "recall", m["code"]))
            expect(eid, acts)
        elif kind == "JOINED":
            ev = base(eid, kind)
            ev["person"] = new_person(home, in_ca=False)
            ev["org"] = home
            expect(eid, [("REVIEW", "NEEDS_REVIEW", None, None)])
        else:
            p = new_person(home)
            etype = "INFO_CHANGED" if kind == "P_INFO_CHANGED" else kind
            ev = base(eid, etype)
            ev["person"] = p
            ev["org"] = home
            if etype in ("TRANSFERRED", "POSITION_CHANGED", "INFO_CHANGED"):
                if etype == "TRANSFERRED":
                    ev["previous_org"] = home
                expect(eid, [("CHANGE_INFO", "SUCCEEDED", "change-info", p["person_id"])])
            else:
                if etype == "DEPARTED":
                    ev["departure_reason"] = rnd.choice(["RETIRED", "RESIGNED", "DECEASED",
                                                         "DISMISSED", "OTHER"])
                expect(eid, [("REVOKE", "SUCCEEDED", "revoke", p["person_id"]),
                             ("RECALL_DEVICE", "SUCCEEDED", "recall", p["person_id"])])
        events.append(ev)
    return inventory, events, {"outcomes": outcomes, "ca_effects": effects, "poison": n_poison}


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
