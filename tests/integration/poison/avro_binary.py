"""A small Avro binary encoder and decoder for test_poison.py (the test venv
has no fastavro).

encode(schema, value) writes `value` against `schema` (the parsed JSON of an
.avsc file) as the Avro specification's binary encoding: zig-zag varints for
int and long, length-prefixed strings, enums as indexes, unions as a branch
index and the branch, arrays as one block and a zero count. It is strict only
where the corpus needs it to be: a union takes its "null" branch for None and
its first other branch otherwise; an int or long is written as given, range
unchecked, so out-of-range dates can be encoded on purpose.

The pieces (zigzag, string) are exported so that the corpus can write
deliberately broken encodings (a negative length, a bad union index) by hand.
decode(schema, data) reads the outcomes back, independently of certbridge's
codec.
"""
import datetime

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def zigzag(n):
    """A long as Avro writes it: zig-zag, then little-endian base-128."""
    z = (n << 1) ^ (n >> 63)
    z &= (1 << 64) - 1
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def string(b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return zigzag(len(b)) + b


class Names:
    """Named types of a schema (records, enums), by short and full name."""

    def __init__(self):
        self.types = {}

    def add(self, schema, namespace):
        name = schema["name"]
        ns = schema.get("namespace", namespace)
        self.types[name] = schema
        if ns:
            self.types[ns + "." + name] = schema
        return ns

    def get(self, name):
        if name not in self.types:
            raise KeyError("avro: unknown type %s" % name)
        return self.types[name]


PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")


def _enc(schema, value, names, ns):
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return _prim(schema, value)
        return _enc(names.get(schema), value, names, ns)
    if isinstance(schema, list):  # union
        if value is None:
            return zigzag(schema.index("null"))
        idx = next(i for i, b in enumerate(schema) if b != "null")
        return zigzag(idx) + _enc(schema[idx], value, names, ns)
    t = schema["type"]
    if t in PRIMITIVES:
        return _prim(t, value)
    if t == "record":
        ns = names.add(schema, ns)
        out = bytearray()
        for f in schema["fields"]:
            v = value.get(f["name"], f.get("default")) if isinstance(value, dict) else None
            out += _enc(f["type"], v, names, ns)
        return bytes(out)
    if t == "enum":
        names.add(schema, ns)
        return zigzag(schema["symbols"].index(value))
    if t == "array":
        if not value:
            return zigzag(0)
        body = b"".join(_enc(schema["items"], v, names, ns) for v in value)
        return zigzag(len(value)) + body + zigzag(0)
    raise ValueError("avro: type %s not supported" % t)


def _prim(t, value):
    if t == "null":
        return b""
    if t == "boolean":
        return b"\x01" if value else b"\x00"
    if t in ("int", "long"):
        return zigzag(int(value))
    if t in ("string", "bytes"):
        return string(value)
    raise ValueError("avro: type %s not supported" % t)


def register_names(schema):
    """The named types of a schema, for encoding its parts separately."""
    names = Names()
    _walk(schema, names, None)
    return names


def _walk(schema, names, ns):
    if isinstance(schema, list):
        for b in schema:
            _walk(b, names, ns)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t in ("record", "enum"):
            ns = names.add(schema, ns)
        if t == "record":
            for f in schema["fields"]:
                _walk(f["type"], names, ns)
        elif t == "array":
            _walk(schema["items"], names, ns)
        elif isinstance(t, (dict, list)):
            _walk(t, names, ns)


def encode(schema, value, names=None):
    return _enc(schema, value, names or register_names(schema), None)


def millis(rfc3339):
    """"2025-06-01T08:00:00Z" -> milliseconds since the epoch."""
    d = datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    return int((d - EPOCH).total_seconds() * 1000)


def days(iso_date):
    """"2025-07-01" -> days since 1970-01-01."""
    return (datetime.date.fromisoformat(iso_date) - datetime.date(1970, 1, 1)).days


def event_datum(ev):
    """A workload event (JSON dict) as the Avro datum of its schema: dates as
    numbers, absent optional fields null."""
    d = dict(ev)
    if isinstance(d.get("occurred_at"), str):
        d["occurred_at"] = millis(d["occurred_at"])
    if isinstance(d.get("effective_date"), str):
        d["effective_date"] = days(d["effective_date"])
    return d


class _Reader:
    def __init__(self, data):
        self.b = data
        self.pos = 0

    def long(self):
        shift = z = 0
        while True:
            if self.pos >= len(self.b):
                raise ValueError("avro: truncated varint")
            c = self.b[self.pos]
            self.pos += 1
            z |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return (z >> 1) ^ -(z & 1)

    def raw(self, n):
        if n < 0 or self.pos + n > len(self.b):
            raise ValueError("avro: bad length %d" % n)
        out = self.b[self.pos:self.pos + n]
        self.pos += n
        return out


def _dec(schema, r, names):
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return _dprim(schema, r)
        return _dec(names.get(schema), r, names)
    if isinstance(schema, list):
        return _dec(schema[r.long()], r, names)
    t = schema["type"]
    if t in PRIMITIVES:
        return _dprim(t, r)
    if t == "record":
        return {f["name"]: _dec(f["type"], r, names) for f in schema["fields"]}
    if t == "enum":
        return schema["symbols"][r.long()]
    if t == "array":
        out = []
        while True:
            n = r.long()
            if n == 0:
                return out
            if n < 0:
                n = -n
                r.long()
            out += [_dec(schema["items"], r, names) for _ in range(n)]
    raise ValueError("avro: type %s not supported" % t)


def _dprim(t, r):
    if t == "null":
        return None
    if t == "boolean":
        return r.raw(1) != b"\x00"
    if t in ("int", "long"):
        return r.long()
    if t == "string":
        return r.raw(r.long()).decode("utf-8")
    if t == "bytes":
        return r.raw(r.long())
    raise ValueError("avro: type %s not supported" % t)


def decode(schema, data, names=None):
    """Reads one datum of `schema`; trailing bytes are an error."""
    r = _Reader(data)
    v = _dec(schema, r, names or register_names(schema))
    if r.pos != len(data):
        raise ValueError("avro: %d trailing bytes" % (len(data) - r.pos))
    return v
