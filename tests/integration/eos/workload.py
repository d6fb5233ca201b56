"""Deterministic reorganization workloads for the exactly-once tests.

make_workload(n_events, seed, chains=False) returns (inventory, events, expected):
  inventory  holders for the reference CA: one certificate and one key token each
  events     JSON events (dicts) of every type, plus a few poison lines (str)
  expected   {"outcomes": {outcome_id: (action, status)},
              "ca_effects": [(op, holder)], "poison": n}
Without chains every holder is named by at most one event, so the outcome
ids, statuses and CA effects of a correct run are known in advance. With
chains, some holders get two or three events in a row, 1 to 40 events apart
and keyed alike, so they land on the same input partition (Kafka's
ordering unit): a person transferred then departed; a person whose position
then information changed, then who departed; an organization renamed then
dissolved; an organization renamed then merged into another with a third
one (the merger keyed by the renamed one). Applied one by one, every event
of a chain acts on the certificate the event before it left (a CHANGE_INFO
then a REVOKE revokes the new certificate), so the statuses are the same as
without chains; the CA's end state is checked apart (eos_test.py).
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


def make_workload(n_events, seed=7, poison_every=97, chains=False):
    rnd = random.Random(seed)
    inventory, events = [], []
    outcomes, effects = {}, []
    later = []  # chains: (index due, order scheduled, emit(eid) -> event)
    scheduled = [0]
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
                effects.append((op, target))

    def person_event(eid, etype, p):
        ev = base(eid, etype)
        ev["person"] = dict(p)
        ev["org"] = home
        if etype == "TRANSFERRED":
            ev["previous_org"] = home
        if etype in ("TRANSFERRED", "POSITION_CHANGED", "INFO_CHANGED"):
            expect(eid, [("CHANGE_INFO", "SUCCEEDED", "change-info", p["person_id"])])
        else:
            ev["departure_reason"] = rnd.choice(["RETIRED", "RESIGNED", "DECEASED",
                                                 "DISMISSED", "OTHER"])
            expect(eid, [("REVOKE", "SUCCEEDED", "revoke", p["person_id"]),
                         ("RECALL_DEVICE", "SUCCEEDED", "recall", p["person_id"])])
        return ev

    def schedule(n, emit):
        """Emits emit(event id) 1 to 40 events after index n; returns when."""
        due = n + rnd.randint(1, 40)
        scheduled[0] += 1
        later.append((due, scheduled[0], emit))
        later.sort(key=lambda t: (t[0], t[1]))
        return due

    kinds = ["RENAMED", "PARENT_CHANGED", "INFO_CHANGED", "DISSOLVED", "MERGED_NEW",
             "MERGED_EXISTING", "TRANSFERRED", "POSITION_CHANGED", "P_INFO_CHANGED",
             "DEPARTED", "CERTIFICATE_NOT_NEEDED", "JOINED", "DISSOLVED_NO_CERT"]
    if chains:
        kinds += ["P_CHAIN2", "P_CHAIN3", "O_CHAIN2", "O_CHAIN_MERGE"]
    home = new_org()  # persons' organization (never itself changed)
    for n in range(n_events):
        if later and later[0][0] <= n and not (poison_every and n % poison_every ==
                                                poison_every - 1):
            _, _, emit = later.pop(0)
            events.append(emit("evt-%06d" % n))
            continue
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
        if kind in ("P_CHAIN2", "P_CHAIN3"):
            p = new_person(home)
            steps = (["TRANSFERRED", "DEPARTED"] if kind == "P_CHAIN2"
                     else ["POSITION_CHANGED", "INFO_CHANGED", "DEPARTED"])
            ev = person_event(eid, steps[0], p)
            at = n
            for i, etype in enumerate(steps[1:]):
                p = dict(p, title=rnd.choice(TITLES), full_name=p["full_name"] + "'" * (i + 1))

                def emit(e, etype=etype, p=p):
                    return person_event(e, etype, p)
                at = schedule(at, emit)  # after the step before it
            events.append(ev)
            continue
        if kind == "O_CHAIN2":
            org = new_org()
            ev = base(eid, "RENAMED")
            ev["org"] = dict(org, name=org["name"] + " (mới)")
            expect(eid, [("CHANGE_INFO", "SUCCEEDED", "change-info", org["code"])])

            def emit(e, org=ev["org"]):
                d = base(e, "DISSOLVED")
                d["org"] = org
                expect(e, [("REVOKE", "SUCCEEDED", "revoke", org["code"]),
                           ("RECALL_DEVICE", "SUCCEEDED", "recall", org["code"])])
                return d
            schedule(n, emit)
            events.append(ev)
            continue
        if kind == "O_CHAIN_MERGE":
            org = new_org()
            ev = base(eid, "RENAMED")
            ev["org"] = dict(org, name=org["name"] + " (mới)")
            expect(eid, [("CHANGE_INFO", "SUCCEEDED", "change-info", org["code"])])
            other, result = new_org(), new_org()

            def emit(e, renamed=ev["org"], other=other, result=result):
                m = base(e, "MERGED")
                m["merged_orgs"] = [renamed, other]
                m["org"] = result
                m["_key"] = renamed["code"]  # on the renamed organization's partition
                expect(e, [("RETAIN", "SUCCEEDED", None, None),
                           ("REVOKE", "SUCCEEDED", "revoke", renamed["code"]),
                           ("RECALL_DEVICE", "SUCCEEDED", "recall", renamed["code"]),
                           ("REVOKE", "SUCCEEDED", "revoke", other["code"]),
                           ("RECALL_DEVICE", "SUCCEEDED", "recall", other["code"])])
                return m
            schedule(n, emit)
            events.append(ev)
            continue
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
    # chain events not yet due when the count ran out are left out, with
    # their expectations: they were never emitted
    return inventory, events, {"outcomes": outcomes, "ca_effects": effects, "poison": n_poison}


def make_cascade(n_persons, seed=7):
    """One organization with n_persons personal certificates (and its own)
    renamed under policy.cascade_personal=true: the organization's
    CHANGE_INFO, then one CHANGE_INFO per personal certificate (a cascade
    whose lookup takes many pages). Same return value as make_workload; the
    event's outcomes are "<event id>/0" (the organization) to
    "<event id>/<n_persons>", all CHANGE_INFO SUCCEEDED."""
    rnd = random.Random(seed)
    code = "000.50.01.H19"
    org = {"code": code, "name": "Sở Giáo dục và Đào tạo", "parent_code": PARENT[0],
           "parent_name": PARENT[1], "province": PROVINCE, "address": None}
    inventory = [{"holder_type": "ORGANIZATION", "holder_id": code,
                  "subject": _dn([("CN", org["name"]), ("O", PARENT[1]), ("L", PROVINCE),
                                  ("C", "VN")]),
                  "device_id": "TK-O-CASCADE"}]
    for i in range(n_persons):
        name = "%s %d" % (rnd.choice(PEOPLE), i)
        inventory.append({"holder_type": "PERSON", "holder_id": "gv-%06d" % i, "org_code": code,
                          "subject": _dn([("CN", name), ("title", rnd.choice(TITLES)),
                                          ("OU", org["name"]), ("O", PARENT[1]),
                                          ("L", PROVINCE), ("C", "VN"),
                                          ("emailAddress", "gv%06d@dongnai.gov.vn" % i)]),
                          "device_id": "TK-GV-%06d" % i})
    eid = "evt-cascade-000001"
    ev = {"event_id": eid, "event_type": "RENAMED", "occurred_at": "2025-06-20T08:00:00Z",
          "effective_date": "2025-07-01", "source_system": "hrm-dongnai",
          "org": dict(org, name="Sở Giáo dục, Khoa học và Công nghệ")}
    outcomes = {"%s/%d" % (eid, k): ("CHANGE_INFO", "SUCCEEDED") for k in range(n_persons + 1)}
    effects = [("change-info", code)] + [("change-info", "gv-%06d" % i)
                                         for i in range(n_persons)]
    return inventory, [ev], {"outcomes": outcomes, "ca_effects": effects, "poison": 0}


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
