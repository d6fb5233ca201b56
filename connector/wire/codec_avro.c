/*
 * codec_avro.c: a bounded Avro binary reader driven by the writer's schema.
 *
 * Why not avro_value_read(): Avro-C 1.11 hands length prefixes and block
 * counts from the input straight to malloc and trusts union and enum indexes,
 * so one hostile message can exhaust memory or read out of bounds. A
 * pre-scan validator would have to walk the same bytes against the same
 * schema anyway, so this reader does the walk once and keeps what it sees:
 * every varint, length, block count and index is checked against the bytes
 * left and certbridge's limits before use, strings are not copied (they point
 * into the input), and the codec then maps fields BY NAME from the tree,
 * which is also what schema evolution needs (Avro-C 1.11 applies no defaults
 * when it resolves schemas). Avro-C still parses the schemas and, on the
 * trusted side, writes the encodings (codec.c).
 */
#include "certbridge/codec_avro.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/event.h"

/* One allocation of values, kept in a list owned by the document. */
typedef struct chunk {
    struct chunk *next;
    cb_avro_val_t vals[];
} chunk_t;

typedef struct reader {
    const unsigned char *p;
    size_t len, pos;
    int depth;
    cb_avro_doc_t *doc;
    cb_error_t *err;
    char path[256];
    size_t plen;
    size_t max_string;
} reader_t;

static int read_value(reader_t *r, avro_schema_t s, cb_avro_val_t *out);

/* Fails with "<path>: <message>"; the path is the field being read. */
__attribute__((format(printf, 3, 4))) static int fail(reader_t *r, cb_errcode_t code,
                                                      const char *fmt, ...)
{
    char msg[CB_ERRMSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cb_error_set(r->err, code, "%s: %s", r->plen ? r->path : "(record)", msg);
}

/* Appends ".name" (or "name" at the root) to the path; returns the old
 * length for path_pop. A path too long for the buffer is cut, never
 * overflowed. */
static size_t path_push_field(reader_t *r, const char *name)
{
    size_t old = r->plen;
    int n =
        snprintf(r->path + r->plen, sizeof(r->path) - r->plen, "%s%s", r->plen ? "." : "", name);
    if (n > 0)
        r->plen = strnlen(r->path, sizeof(r->path) - 1);
    return old;
}

/* Appends "[i]" to the path; returns the old length. */
static size_t path_push_index(reader_t *r, size_t i)
{
    size_t old = r->plen;
    int n = snprintf(r->path + r->plen, sizeof(r->path) - r->plen, "[%zu]", i);
    if (n > 0)
        r->plen = strnlen(r->path, sizeof(r->path) - 1);
    return old;
}

/* Restores the path to the length path_push_* returned. */
static void path_pop(reader_t *r, size_t old)
{
    r->plen = old;
    r->path[old] = '\0';
}

/* Allocates n zeroed values from the document, within the node budget. */
static cb_avro_val_t *alloc_vals(reader_t *r, size_t n)
{
    chunk_t *c;

    if (n > CB_AVRO_NODES_MAX - r->doc->nodes) {
        fail(r, CB_ERR_LIMIT, "more than %d values in one message", CB_AVRO_NODES_MAX);
        return NULL;
    }
    c = calloc(1, sizeof(*c) + (n ? n : 1) * sizeof(cb_avro_val_t));
    if (!c) {
        fail(r, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->next = r->doc->chunks;
    r->doc->chunks = c;
    r->doc->nodes += n;
    return c->vals;
}

/* Reads one zigzag varint (Avro int or long). At most 10 bytes; the 10th
 * may only carry the top bit. */
static int read_long(reader_t *r, int64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    size_t start = r->pos;

    for (;;) {
        unsigned char b;
        if (r->pos >= r->len)
            return fail(r, CB_ERR_DECODE, "truncated: varint at byte %zu runs past the end", start);
        b = r->p[r->pos++];
        if (shift == 63 && (b & 0x7e))
            return fail(r, CB_ERR_DECODE, "malformed varint at byte %zu (longer than 64 bits)",
                        start);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
        shift += 7;
        if (shift > 63)
            return fail(r, CB_ERR_DECODE, "malformed varint at byte %zu (more than 10 bytes)",
                        start);
    }
    *out = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
    return 0;
}

/* Reads a length prefix and checks it: not negative, not past the end, not
 * above max (CB_ERR_LIMIT). */
static int read_length(reader_t *r, size_t max, const char *what, size_t *out)
{
    int64_t n = 0;
    size_t at = r->pos;

    if (read_long(r, &n) < 0)
        return -1;
    if (n < 0)
        return fail(r, CB_ERR_DECODE, "negative %s length %lld at byte %zu", what, (long long)n,
                    at);
    if ((uint64_t)n > r->len - r->pos)
        return fail(r, CB_ERR_DECODE,
                    "truncated: %s length %lld at byte %zu exceeds the %zu bytes left", what,
                    (long long)n, at, r->len - r->pos);
    if ((uint64_t)n > max)
        return fail(r, CB_ERR_LIMIT, "%s of %lld bytes exceeds the limit of %zu", what,
                    (long long)n, max);
    *out = (size_t)n;
    return 0;
}

/* Reads n raw bytes (float, double, fixed). */
static int read_raw(reader_t *r, size_t n, const unsigned char **out)
{
    if (n > r->len - r->pos)
        return fail(r, CB_ERR_DECODE, "truncated: %zu bytes needed at byte %zu, %zu left", n,
                    r->pos, r->len - r->pos);
    *out = r->p + r->pos;
    r->pos += n;
    return 0;
}

/* Little-endian IEEE 754 of n bytes (4 or 8) into a double. */
static double decode_float(const unsigned char *b, size_t n)
{
    uint64_t u = 0;
    size_t i;

    for (i = 0; i < n; i++)
        u |= (uint64_t)b[i] << (8 * i);
    if (n == 4) {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, sizeof(f));
        return f;
    } else {
        double d;
        memcpy(&d, &u, sizeof(d));
        return d;
    }
}

/* A record: its fields in the writer's order, each under its path. */
static int read_record(reader_t *r, avro_schema_t s, cb_avro_val_t *out)
{
    size_t i, n = avro_schema_record_size(s);

    out->count = n;
    out->items = alloc_vals(r, n);
    if (!out->items)
        return -1;
    for (i = 0; i < n; i++) {
        const char *name = avro_schema_record_field_name(s, (int)i);
        size_t old = path_push_field(r, name ? name : "?");
        int rc = read_value(r, avro_schema_record_field_get_by_index(s, (int)i), &out->items[i]);
        if (rc < 0)
            return -1;
        path_pop(r, old);
    }
    return 0;
}

/* Arrays and maps: blocks of items until a zero count. A negative count is
 * followed by the block's byte size, which must match what the items used.
 * The total is capped at CB_MERGED_ORGS_MAX. */
static int read_blocks(reader_t *r, avro_schema_t s, bool is_map, cb_avro_val_t *out)
{
    avro_schema_t is = is_map ? avro_schema_map_values(s) : avro_schema_array_items(s);
    cb_avro_val_t *tmp = NULL;
    size_t total = 0, cap = 0;
    int rc = -1;

    for (;;) {
        int64_t count, bsize = -1;
        size_t at = r->pos, bstart, k;

        if (read_long(r, &count) < 0)
            goto out_free;
        if (count == 0)
            break;
        if (count < 0) {
            if (count == INT64_MIN) {
                fail(r, CB_ERR_DECODE, "malformed block count at byte %zu", at);
                goto out_free;
            }
            count = -count;
            if (read_long(r, &bsize) < 0)
                goto out_free;
            if (bsize < 0 || (uint64_t)bsize > r->len - r->pos) {
                fail(r, CB_ERR_DECODE, "block size %lld at byte %zu is negative or past the end",
                     (long long)bsize, at);
                goto out_free;
            }
        }
        if ((uint64_t)count > (uint64_t)(CB_MERGED_ORGS_MAX - total)) {
            fail(r, CB_ERR_LIMIT, "%s of more than %d items", is_map ? "map" : "array",
                 CB_MERGED_ORGS_MAX);
            goto out_free;
        }
        if (total + (size_t)count > cap) {
            size_t ncap = total + (size_t)count;
            cb_avro_val_t *n = realloc(tmp, ncap * sizeof(*tmp));
            if (!n) {
                fail(r, CB_ERR_NOMEM, "out of memory");
                goto out_free;
            }
            tmp = n;
            cap = ncap;
        }
        bstart = r->pos;
        for (k = 0; k < (size_t)count; k++, total++) {
            cb_avro_val_t *v = &tmp[total];
            size_t old = path_push_index(r, total);
            memset(v, 0, sizeof(*v));
            if (r->doc->nodes >= CB_AVRO_NODES_MAX) {
                fail(r, CB_ERR_LIMIT, "more than %d values in one message", CB_AVRO_NODES_MAX);
                goto out_free;
            }
            r->doc->nodes++;
            if (is_map && read_length(r, CB_STRING_MAX_BYTES, "map key", &v->key_len) < 0)
                goto out_free;
            if (is_map) {
                v->key = (const char *)r->p + r->pos;
                r->pos += v->key_len;
            }
            if (read_value(r, is, v) < 0)
                goto out_free;
            path_pop(r, old);
        }
        if (bsize >= 0 && r->pos - bstart != (size_t)bsize) {
            fail(r, CB_ERR_DECODE, "block size %lld at byte %zu does not match its items (%zu)",
                 (long long)bsize, at, r->pos - bstart);
            goto out_free;
        }
    }
    out->count = total;
    if (total) {
        /* the budget was counted item by item above */
        r->doc->nodes -= total;
        out->items = alloc_vals(r, total);
        if (!out->items)
            goto out_free;
        memcpy(out->items, tmp, total * sizeof(*tmp));
    }
    rc = 0;
out_free:
    free(tmp);
    return rc;
}

/* Reads one value of writer schema s into out. */
static int read_value(reader_t *r, avro_schema_t s, cb_avro_val_t *out)
{
    const unsigned char *raw = NULL;
    int64_t idx;
    int rc = -1, n;

    if (!s)
        return fail(r, CB_ERR_DECODE, "writer schema has no type here");
    if (++r->depth > CB_AVRO_DEPTH_MAX) {
        fail(r, CB_ERR_LIMIT, "nested deeper than %d levels", CB_AVRO_DEPTH_MAX);
        goto out;
    }
    while (avro_typeof(s) == AVRO_LINK)
        s = avro_schema_link_target(s);
    out->schema = s;
    out->type = avro_typeof(s);
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        rc = 0;
        break;
    case AVRO_BOOLEAN:
        if (read_raw(r, 1, &raw) < 0)
            break;
        if (raw[0] > 1) {
            fail(r, CB_ERR_DECODE, "boolean byte %u is neither 0 nor 1", raw[0]);
            break;
        }
        out->l = raw[0];
        rc = 0;
        break;
    case AVRO_INT32:
        if (read_long(r, &out->l) < 0)
            break;
        if (out->l < INT32_MIN || out->l > INT32_MAX) {
            fail(r, CB_ERR_DECODE, "int value %lld out of range", (long long)out->l);
            break;
        }
        rc = 0;
        break;
    case AVRO_INT64:
        rc = read_long(r, &out->l);
        break;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        n = avro_typeof(s) == AVRO_FLOAT ? 4 : 8;
        if (read_raw(r, (size_t)n, &raw) < 0)
            break;
        out->d = decode_float(raw, (size_t)n);
        rc = 0;
        break;
    case AVRO_STRING:
    case AVRO_BYTES:
        if (read_length(r, avro_typeof(s) == AVRO_STRING ? r->max_string : CB_EVENT_MAX_BYTES,
                        avro_typeof(s) == AVRO_STRING ? "string" : "bytes", &out->n) < 0)
            break;
        out->s = (const char *)r->p + r->pos;
        r->pos += out->n;
        rc = 0;
        break;
    case AVRO_FIXED: {
        int64_t size = avro_schema_fixed_size(s);
        if (size < 0 || (uint64_t)size > r->len - r->pos) {
            fail(r, CB_ERR_DECODE, "truncated: fixed of %lld bytes, %zu left", (long long)size,
                 r->len - r->pos);
            break;
        }
        out->s = (const char *)r->p + r->pos;
        out->n = (size_t)size;
        r->pos += (size_t)size;
        rc = 0;
        break;
    }
    case AVRO_ENUM:
        if (read_long(r, &idx) < 0)
            break;
        n = avro_schema_enum_number_of_symbols(s);
        if (idx < 0 || idx >= n) {
            fail(r, CB_ERR_DECODE, "enum index %lld out of range (%d symbols)", (long long)idx, n);
            break;
        }
        out->l = idx;
        out->symbol = avro_schema_enum_get(s, (int)idx);
        rc = 0;
        break;
    case AVRO_UNION:
        if (read_long(r, &idx) < 0)
            break;
        if (idx < 0 || (uint64_t)idx >= avro_schema_union_size(s)) {
            fail(r, CB_ERR_DECODE, "union branch %lld out of range (%zu branches)", (long long)idx,
                 avro_schema_union_size(s));
            break;
        }
        rc = read_value(r, avro_schema_union_branch(s, (int)idx), out);
        break;
    case AVRO_RECORD:
        rc = read_record(r, s, out);
        break;
    case AVRO_ARRAY:
    case AVRO_MAP:
        rc = read_blocks(r, s, avro_typeof(s) == AVRO_MAP, out);
        break;
    default:
        fail(r, CB_ERR_DECODE, "unsupported schema type %d", (int)avro_typeof(s));
        break;
    }
out:
    r->depth--;
    return rc;
}

/* Reads the root value and refuses any bytes left after it. */
int cb_avro_doc_read(cb_avro_doc_t *doc, avro_schema_t ws, const void *buf, size_t len,
                     size_t max_string, cb_error_t *err)
{
    reader_t r;

    memset(doc, 0, sizeof(*doc));
    memset(&r, 0, sizeof(r));
    r.p = buf;
    r.len = len;
    r.doc = doc;
    r.err = err;
    r.max_string = max_string;
    if (len > CB_EVENT_MAX_BYTES)
        return cb_error_set(err, CB_ERR_LIMIT, "message of %zu bytes exceeds the limit of %d", len,
                            CB_EVENT_MAX_BYTES);
    if (read_value(&r, ws, &doc->root) < 0)
        return -1;
    if (r.pos != len)
        return cb_error_set(err, CB_ERR_DECODE, "%zu trailing bytes after the %s at byte %zu",
                            len - r.pos, avro_schema_type_name(ws), r.pos);
    return 0;
}

/* Frees every chunk of values; the input buffer is the caller's. */
void cb_avro_doc_free(cb_avro_doc_t *doc)
{
    chunk_t *c = doc->chunks, *next;

    for (; c; c = next) {
        next = c->next;
        free(c);
    }
    memset(doc, 0, sizeof(*doc));
}

/* Looks the field up by name in the writer's record schema. */
const cb_avro_val_t *cb_avro_field(const cb_avro_val_t *rec, const char *name)
{
    int i;

    if (!rec || rec->type != AVRO_RECORD)
        return NULL;
    i = avro_schema_record_field_get_index(rec->schema, name);
    if (i < 0 || (size_t)i >= rec->count)
        return NULL;
    return &rec->items[i];
}
