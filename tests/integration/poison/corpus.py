"""The poison corpus of test_poison.py: messages certbridge must dead-letter.

build(ctx) returns a list of Poison records, each one Kafka record (topic,
key, value, headers: all raw bytes, None for null) with the kind it
illustrates, its wire format, and a regular expression the dead letter's
certbridge.error.message must match (the right reason, so that a message
dead-lettered by accident of the corpus does not pass). ctx says which
sub-run it is for:

  ctx.registry      a Schema Registry is configured (Confluent framing is
                    valid there; without one it is poison)
  ctx.cascade       policy.cascade_personal=true
  ctx.register(subject, schema_dict) -> schema id (registry runs only)
  ctx.max_value(key, headers) -> the largest value the broker takes in a
                    record with that key and those headers
  ctx.org_schema, ctx.person_schema   schemas/*.avsc, parsed

Kinds that only exist under one configuration say so in `only`. Every
organization code a poison names is outside the reference CA's inventory
(999.*), so a poison accepted by mistake shows up as unexpected outcomes,
never as a change to a real holder.
"""
import copy
import json

from avro_binary import encode, event_datum, register_names, string, zigzag

JSON, AVRO, CONFLUENT, RAW = "json", "avro", "confluent", "raw"
INT32_MAX = 2**31 - 1
INT64_MIN = -2**63
YEAR_10000_MS = 253402300800000  # 10000-01-01T00:00:00Z: past what RFC 3339 can write


class Poison:
    def __init__(self, kind, fmt, topic, value, reason, key=b"poison", headers=(),
                 truncate=False, note=""):
        self.kind = kind          # e.g. "json_duplicate_keys"
        self.fmt = fmt            # json, avro, confluent or raw (not an event encoding)
        self.topic = topic        # "org" or "person"
        self.key = key            # bytes or None
        self.value = value        # bytes or None (a tombstone)
        self.headers = list(headers)  # [(name bytes, value bytes or None)]
        self.reason = reason      # regex for certbridge.error.message
        self.truncate = truncate  # its dead letter cannot fit the broker's limit
        self.note = note
        self.partition = None     # set by the test
        self.offset = None

    @property
    def name(self):
        return "%s/%s" % (self.kind, self.fmt)


def org(code, name="Sở Thử nghiệm", **kw):
    o = {"code": code, "name": name, "parent_code": "000.00.00.H19",
         "parent_name": "Ủy ban nhân dân tỉnh Đồng Nai", "province": "Tỉnh Đồng Nai",
         "address": None}
    o.update(kw)
    return o


def org_event(eid, etype="RENAMED", code="999.00.01.H19", **kw):
    ev = {"event_id": eid, "event_type": etype, "occurred_at": "2025-06-01T08:00:00Z",
          "effective_date": "2025-07-01", "source_system": "hrm-poison", "org": org(code)}
    ev.update(kw)
    return ev


def person_event(eid, etype="INFO_CHANGED", **kw):
    ev = {"event_id": eid, "event_type": etype, "occurred_at": "2025-06-01T08:00:00Z",
          "effective_date": "2025-07-01", "source_system": "hrm-poison",
          "person": {"person_id": "poison-" + eid, "national_id": "079999000001",
                     "full_name": "Người Thử", "email": None, "title": None,
                     "is_leader": False},
          "org": org("999.00.00.H19")}
    ev.update(kw)
    return ev


def jbytes(ev):
    return json.dumps(ev, ensure_ascii=False).encode("utf-8")


class Encoders:
    """Encodes an event dict in each format the sub-run has."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.names = {"org": register_names(ctx.org_schema),
                      "person": register_names(ctx.person_schema)}

    def schema(self, topic):
        return self.ctx.org_schema if topic == "org" else self.ctx.person_schema

    def avro(self, topic, ev):
        return encode(self.schema(topic), event_datum(ev), self.names[topic])

    def confluent(self, topic, ev):
        return b"\x00" + self.ctx.schema_id[topic].to_bytes(4, "big") + self.avro(topic, ev)

    def formats(self):
        return [JSON, AVRO] + ([CONFLUENT] if self.ctx.registry else [])

    def encode(self, fmt, topic, ev):
        if fmt == JSON:
            return jbytes(ev)
        if fmt == AVRO:
            return self.avro(topic, ev)
        return self.confluent(topic, ev)


def _semantic(enc, out, kind, topic, make, reason, note="", formats=None, only=None):
    """A poison that is a well-formed event whose content is wrong: one
    message per wire format of the sub-run."""
    for fmt in formats or enc.formats():
        ev = make("%s-%s" % (kind, fmt))
        out.append(Poison(kind, fmt, topic, enc.encode(fmt, topic, ev), reason, note=note))


def merged_orgs(n, prefix="999.10"):
    return [org("%s.%03d.H19" % (prefix, i), name="Sở sáp nhập %d" % i) for i in range(n)]


def build(ctx):
    enc = Encoders(ctx)
    out = []
    valid_org = org_event("poison-base")
    avro_org = enc.avro("org", valid_org)

    # ---- framing and the Schema Registry -----------------------------------
    if not ctx.registry:
        out.append(Poison("confluent_without_registry", CONFLUENT, "org",
                          b"\x00\x00\x00\x00\x01" + avro_org,
                          r"schema_registry\.url|[Rr]egistry",
                          note="Confluent framing while no schema_registry.url is set"))
    else:
        out.append(Poison("unknown_schema_id", CONFLUENT, "org",
                          b"\x00\x7f\xff\xff\xf0" + avro_org, r"unknown schema id"))
        arr_id = ctx.register(ctx.tag + "-poison-array-value",
                              {"type": "array", "items": "string"})
        out.append(Poison("writer_schema_not_record", CONFLUENT, "org",
                          b"\x00" + arr_id.to_bytes(4, "big") + zigzag(1) + string("x")
                          + zigzag(0), r"not a record"))
        lower = copy.deepcopy(ctx.org_schema)
        lower["fields"][1]["type"]["symbols"] = [
            s.lower() for s in lower["fields"][1]["type"]["symbols"]]
        low_id = ctx.register(ctx.tag + "-poison-lowercase-value", lower)
        out.append(Poison("enum_wrong_case", CONFLUENT, "org",
                          b"\x00" + low_id.to_bytes(4, "big")
                          + encode(lower, event_datum(dict(valid_org, event_type="renamed"))),
                          r'unknown symbol "renamed"',
                          note="writer schema whose enum symbols are lower case"))
        out.append(Poison("truncated_avro", CONFLUENT, "org",
                          enc.confluent("org", valid_org)[:5 + len(avro_org) // 2],
                          r"truncated|past the end"))
    out.append(Poison("truncated_confluent_header", RAW, "org", b"\x00\x00\x01",
                      r"truncated|header"))

    # ---- plain Avro, broken by hand -----------------------------------------
    out.append(Poison("truncated_avro", AVRO, "org", avro_org[:len(avro_org) // 2],
                      r"truncated|past the end"))
    out.append(Poison("negative_length", AVRO, "org", zigzag(-5) + b"abcde" + avro_org,
                      r"negative"))
    out.append(Poison("huge_length", AVRO, "org", zigzag(1 << 40) + b"abc",
                      r"length|past the end|truncated|limit"))
    # event_id, then event_type index 9 of 5 symbols
    out.append(Poison("enum_index_out_of_range", AVRO, "org",
                      string("poison-enum") + zigzag(9) + avro_org[len(string("poison-base")) + 1:],
                      r"event_type|enum|symbol|index"))
    out.append(Poison("trailing_bytes", AVRO, "org", avro_org + b"\x00\x02",
                      r"trailing"))
    out.append(Poison("invalid_utf8", AVRO, "org",
                      enc.avro("org", org_event("poison-utf8-avro")).replace(
                          string("Sở Thử nghiệm"), string(b"S\xc3\x28 bad")),
                      r"UTF-8"))
    out.append(Poison("nul_in_string", AVRO, "org",
                      enc.avro("org", org_event("poison-nul-avro")).replace(
                          string("Sở Thử nghiệm"), string(b"S\x00 nul")),
                      r"UTF-8|NUL|\\u0000"))
    # a union index past the branches: parent_code is ["null", "string"]
    bad_union = org_event("poison-union")
    good = enc.avro("org", bad_union)
    marker = string("Sở Thử nghiệm") + zigzag(1) + string("000.00.00.H19")
    out.append(Poison("union_index_out_of_range", AVRO, "org",
                      good.replace(marker, string("Sở Thử nghiệm") + zigzag(7)
                                   + string("000.00.00.H19")),
                      r"union|branch|index"))

    # ---- the Kafka record's envelope ------------------------------------------
    out.append(Poison("tombstone", RAW, "org", None, r"empty", key=b"tombstone-key",
                      note="null value"))
    out.append(Poison("empty_value", RAW, "person", b"", r"empty"))
    out.append(Poison("null_key", RAW, "org", b"not an event", r".", key=None))
    out.append(Poison("key_not_utf8", RAW, "person", b"\x01\x02garbage", r".",
                      key=b"\xff\xfe\x00\x80key"))
    out.append(Poison("binary_headers", JSON, "org", b'{"event_id": ', r"JSON",
                      headers=[(b"trace", b"\x00\xff\x10\x80"), (b"trace", None),
                               (b"empty", b""), (b"all-bytes", bytes(range(256)))]))
    big_key = b"poison-max-size"
    big = ctx.max_value(big_key, [])
    out.append(Poison("value_at_broker_limit", RAW, "org", b"Z" * big, r".", key=big_key,
                      truncate=True,
                      note="%d bytes: the largest value the broker takes with this key" % big))

    # ---- JSON -------------------------------------------------------------------
    dup = jbytes(org_event("poison-dup"))
    out.append(Poison("duplicate_keys", JSON, "org",
                      dup.replace(b'{"event_id": "poison-dup"',
                                  b'{"event_id": "poison-dup", "event_id": "poison-dup-2"'),
                      r"duplicate"))
    out.append(Poison("bom", JSON, "org", b"\xef\xbb\xbf" + jbytes(org_event("poison-bom")),
                      r".", note="UTF-8 byte order mark before the object"))
    out.append(Poison("raw_nul", JSON, "org",
                      jbytes(org_event("poison-raw-nul")).replace(b"hrm-poison",
                                                                  b"hrm\x00poison"),
                      r"JSON|control|NUL"))
    out.append(Poison("escaped_nul", JSON, "org",
                      jbytes(org_event("poison-esc-nul")).replace(b"hrm-poison",
                                                                  b"hrm\\u0000poison"),
                      r"u0000|NUL"))
    out.append(Poison("deep_nesting", JSON, "org",
                      b'{"event_id": "poison-deep", "x": ' + b"[" * 100000 + b"]" * 100000
                      + b"}", r"depth|nest|deep"))
    out.append(Poison("enum_wrong_case", JSON, "org",
                      jbytes(org_event("poison-case", etype="renamed")),
                      r'unknown symbol "renamed"'))
    out.append(Poison("invalid_date", JSON, "org",
                      jbytes(org_event("poison-date", effective_date="2025-02-30")),
                      r"effective_date"))
    out.append(Poison("invalid_utf8", JSON, "org",
                      jbytes(org_event("poison-utf8-json")).replace(b"hrm-poison",
                                                                    b"hrm\xc3\x28poison"),
                      r"UTF-8"))
    out.append(Poison("lone_surrogate", JSON, "org",
                      jbytes(org_event("poison-surrogate")).replace(b"hrm-poison",
                                                                    b"hrm\\ud800poison"),
                      r"surrogate|JSON|escape"))
    out.append(Poison("huge_integer", JSON, "org",
                      jbytes(org_event("poison-bigint", occurred_at=0)).replace(
                          b'"occurred_at": 0', b'"occurred_at": 123456789012345678901234567890'),
                      r"occurred_at|integer|range|number"))
    out.append(Poison("trailing_garbage", JSON, "org",
                      jbytes(org_event("poison-trail")) + b" xyz", r"JSON"))
    out.append(Poison("empty_object", JSON, "person", b"{}", r"event_id"))
    out.append(Poison("person_event_on_org_topic", JSON, "org",
                      jbytes(person_event("poison-wrong-topic")), r"PersonEvent"))

    # ---- well-formed events whose content is wrong (every wire format) ------------
    _semantic(enc, out, "date_out_of_range", "org",
              lambda eid: org_event(eid, effective_date=INT32_MAX), r"effective_date",
              note="effective_date 2^31-1 days (year 5881580)")
    _semantic(enc, out, "timestamp_out_of_range", "org",
              lambda eid: org_event(eid, occurred_at=INT64_MIN), r"occurred_at",
              note="occurred_at -2^63 ms", formats=[f for f in enc.formats() if f != JSON])
    _semantic(enc, out, "timestamp_out_of_range", "org",
              lambda eid: org_event(eid, occurred_at=YEAR_10000_MS), r"occurred_at",
              note="occurred_at 10000-01-01T00:00:00Z", formats=[JSON])
    _semantic(enc, out, "org_code_invalid", "org",
              lambda eid: org_event(eid, code="lower.case"),
              r"electronic identification code")
    _semantic(enc, out, "national_id_invalid", "person",
              lambda eid: dict(person_event(eid), person=dict(
                  person_event(eid)["person"], national_id="12345")),
              r"national_id")
    _semantic(enc, out, "string_too_long", "org",
              lambda eid: dict(org_event(eid), org=org("999.00.02.H19", name="Sở " * 700)),
              r"limit|longer")
    _semantic(enc, out, "merged_without_orgs", "org",
              lambda eid: org_event(eid, etype="MERGED", code="999.00.03.H19",
                                    merged_orgs=[]),
              r"merged_orgs")
    _semantic(enc, out, "merged_257_orgs", "org",
              lambda eid: org_event(eid, etype="MERGED", code="999.00.04.H19",
                                    merged_orgs=merged_orgs(257, "999.11")),
              r"merged_orgs|limit")
    _semantic(enc, out, "carrier_not_merged", "org",
              lambda eid: org_event(eid, etype="MERGED", code="999.00.05.H19",
                                    result_is_new=True, certificate_carrier="999.99.99.H19",
                                    merged_orgs=merged_orgs(2, "999.12")),
              r"certificate_carrier")
    # An existing organization listed among those merged into it is valid
    # (docs/DOMAIN.md §3.1 R2); merged into itself alone, or into itself as a
    # new organization, or an organization listed twice, is not a merger.
    _semantic(enc, out, "merged_into_itself", "org",
              lambda eid: org_event(eid, etype="MERGED", code="999.00.06.H19",
                                    merged_orgs=[org("999.00.06.H19")]),
              r"merged into itself",
              note="org 999.00.06.H19 is its own and only merged organization")
    _semantic(enc, out, "merged_into_new_itself", "org",
              lambda eid: org_event(eid, etype="MERGED", code="999.00.09.H19",
                                    result_is_new=True,
                                    merged_orgs=[org("999.13.001.H19"),
                                                 org("999.00.09.H19")]),
              r"is the new organization itself",
              note="a new organization 999.00.09.H19 lists itself among those merged")
    _semantic(enc, out, "merged_listed_twice", "org",
              lambda eid: org_event(eid, etype="MERGED", code="999.00.10.H19",
                                    merged_orgs=[org("999.13.002.H19"),
                                                 org("999.13.002.H19")]),
              r"listed twice",
              note="999.13.002.H19 appears twice in merged_orgs")
    if ctx.cascade:
        _semantic(enc, out, "merged_256_cascade", "org",
                  lambda eid: org_event(eid, etype="MERGED", code="999.00.07.H19",
                                        result_is_new=True,
                                        merged_orgs=merged_orgs(256, "999.14")),
                  r"planned actions|actions exceed|limit",
                  note="256 merged organizations into a new one, policy.cascade_personal=true: "
                       "1 + 256 + 510 = 767 actions")
    else:
        _semantic(enc, out, "merged_256_existing", "org",
                  lambda eid: org_event(eid, etype="MERGED", code="999.00.08.H19",
                                        merged_orgs=merged_orgs(256, "999.15")),
                  r"planned actions|actions exceed|limit",
                  note="256 merged organizations into an existing one: 1 + 512 = 513 actions")
    return out
