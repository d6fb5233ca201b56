/*
 * approval.c: approvals from JSON or plain Avro, their validation and their
 * canonical bytes (approval.h; docs/ARCHITECTURE.md §2, "Approval
 * signatures").
 *
 * Both decoders fill the same cb_approval_t, and the canonical bytes are
 * written from it, never copied from the input: the signature covers the
 * values certbridge acts on, whatever the wire format or the spelling of the
 * JSON (member order, white space, escapes, composed or decomposed letters).
 */
#include "certbridge/approval.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/codec_avro.h"
#include "certbridge/event.h"
#include "certbridge/json.h"
#include "certbridge/text.h"

/* schemas/Approval.avsc, embedded at build time (scripts/embed-file.cmake). */
extern const char cb_approval_schema[];
extern const size_t cb_approval_schema_len;

#define SIGNED_AT_MAX 9007199254740991LL /* 2^53 - 1: exact in every JSON reader */
#define DATE_MIN      (-25567)           /* 1900-01-01 */
#define DATE_MAX      2932896            /* 9999-12-31 */

void cb_approval_init(cb_approval_t *a)
{
    memset(a, 0, sizeof(*a));
}

void cb_approval_clear(cb_approval_t *a)
{
    size_t i;

    if (!a)
        return;
    free(a->request_id);
    free(a->approver_name);
    free(a->approver_title);
    free(a->approver_id);
    free(a->document_number);
    free(a->reason);
    for (i = 0; i < a->n_action_ids; i++)
        free(a->action_ids[i]);
    free(a->action_ids);
    free(a->signature);
    cb_approval_init(a);
}

const char *cb_approval_decision_name(cb_approval_decision_t d)
{
    switch (d) {
    case CB_APPROVAL_APPROVED:
        return "APPROVED";
    case CB_APPROVAL_REJECTED:
        return "REJECTED";
    }
    return "?";
}

/* The decision of a symbol; -1 when unknown. */
static int decision_parse(const char *s, size_t len)
{
    if (len == 8 && !memcmp(s, "APPROVED", 8))
        return CB_APPROVAL_APPROVED;
    if (len == 8 && !memcmp(s, "REJECTED", 8))
        return CB_APPROVAL_REJECTED;
    return -1;
}

/* ---- dates ------------------------------------------------------------ */

/* y-m-d of days since 1970-01-01 (proleptic Gregorian, the inverse of
 * event.c's days_from_civil). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

void cb_approval_date_format(int32_t days, char buf[11])
{
    char tmp[48];
    int y, m, d;

    civil_from_days(days, &y, &m, &d);
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d", y, m, d);
    memcpy(buf, tmp, 10);
    buf[10] = '\0';
}

char *cb_approval_document_text(const cb_approval_t *a, char *buf, size_t size)
{
    int y, m, d;

    civil_from_days(a->document_date, &y, &m, &d);
    snprintf(buf, size, "%s ngày %02d/%s%d/%d", a->document_number ? a->document_number : "", d,
             m <= 2 ? "0" : "", m, y);
    return buf;
}

/* ---- base64 (RFC 4648, padded, no white space) ------------------------ */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The value of a base64 character, -1 for anything else. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes s[0..len) into a new buffer *out (caller frees) of *outlen bytes,
 * at most max. Strict: the length a multiple of 4, '=' only as the last one
 * or two characters, and unused bits of the last group zero, so that one
 * signature has one spelling. */
static int b64_decode(const char *s, size_t len, size_t max, unsigned char **out, size_t *outlen,
                      cb_error_t *err)
{
    size_t i, n = 0, pad = 0;
    unsigned char *buf;

    *out = NULL;
    if (len % 4)
        return cb_error_set(err, CB_ERR_DECODE,
                            "signature: base64 of %zu characters, not a multiple of 4", len);
    if (len >= 1 && s[len - 1] == '=')
        pad = len >= 2 && s[len - 2] == '=' ? 2 : 1;
    if (len / 4 * 3 - pad > max)
        return cb_error_set(err, CB_ERR_LIMIT, "signature: %zu bytes exceed the limit of %zu",
                            len / 4 * 3 - pad, max);
    if (!(buf = malloc(len / 4 * 3 + 1)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    for (i = 0; i < len; i += 4) {
        int v[4], k;
        for (k = 0; k < 4; k++) {
            v[k] = i + (size_t)k >= len - pad ? 0 : b64_value((unsigned char)s[i + (size_t)k]);
            if (v[k] < 0) {
                free(buf);
                return cb_error_set(err, CB_ERR_DECODE,
                                    "signature: character %zu is not base64 (RFC 4648, padded, "
                                    "no line breaks)",
                                    i + (size_t)k);
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        buf[n++] = (unsigned char)(w >> 16);
        buf[n++] = (unsigned char)(w >> 8);
        buf[n++] = (unsigned char)w;
    }
    n -= pad;
    if (pad && ((pad == 1 && (b64_value((unsigned char)s[len - 2]) & 3)) ||
                (pad == 2 && (b64_value((unsigned char)s[len - 3]) & 15)))) {
        free(buf);
        return cb_error_set(err, CB_ERR_DECODE, "signature: base64 padding with bits set");
    }
    *out = buf;
    *outlen = n;
    return 0;
}

/* ---- a bounded growing buffer for the writers -------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (!(p = realloc(b->p, cap))) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* A JSON string as RFC 8785 writes it: '"' and '\\' escaped, control
 * characters as \b \t \n \f \r or \u00xx (lower-case hex), everything else
 * (non-ASCII included) as its UTF-8 bytes. NULL is written as null. */
static void sb_json_string(sbuf_t *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    char esc[8];

    if (!s) {
        sb_puts(b, "null");
        return;
    }
    sb_put(b, "\"", 1);
    for (; *p; p++) {
        const char *e = NULL;
        switch (*p) {
        case '"':
            e = "\\\"";
            break;
        case '\\':
            e = "\\\\";
            break;
        case '\b':
            e = "\\b";
            break;
        case '\t':
            e = "\\t";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\f':
            e = "\\f";
            break;
        case '\r':
            e = "\\r";
            break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", *p);
                e = esc;
            }
        }
        if (e)
            sb_puts(b, e);
        else
            sb_put(b, (const char *)p, 1);
    }
    sb_put(b, "\"", 1);
}

/* The members in name order (RFC 8785 sorts by UTF-16 code units; these
 * names are ASCII, so byte order is the same): action_ids, approver_id,
 * approver_name, approver_title, decision, document_date, document_number,
 * reason, request_id, [signature,] signed_at. */
static int write_json(const cb_approval_t *a, bool with_signature, char **out, size_t *len,
                      cb_error_t *err)
{
    sbuf_t b = {NULL, 0, 0, false};
    char num[32], date[11];
    size_t i;

    sb_puts(&b, "{\"action_ids\":");
    if (!a->action_ids)
        sb_puts(&b, "null");
    else {
        sb_put(&b, "[", 1);
        for (i = 0; i < a->n_action_ids; i++) {
            if (i)
                sb_put(&b, ",", 1);
            sb_json_string(&b, a->action_ids[i]);
        }
        sb_put(&b, "]", 1);
    }
    sb_puts(&b, ",\"approver_id\":");
    sb_json_string(&b, a->approver_id);
    sb_puts(&b, ",\"approver_name\":");
    sb_json_string(&b, a->approver_name);
    sb_puts(&b, ",\"approver_title\":");
    sb_json_string(&b, a->approver_title);
    sb_puts(&b, ",\"decision\":");
    sb_json_string(&b, cb_approval_decision_name(a->decision));
    cb_approval_date_format(a->document_date, date);
    sb_puts(&b, ",\"document_date\":");
    sb_json_string(&b, date);
    sb_puts(&b, ",\"document_number\":");
    sb_json_string(&b, a->document_number);
    sb_puts(&b, ",\"reason\":");
    sb_json_string(&b, a->reason);
    sb_puts(&b, ",\"request_id\":");
    sb_json_string(&b, a->request_id);
    if (with_signature) {
        sb_puts(&b, ",\"signature\":");
        if (!a->signature)
            sb_puts(&b, "null");
        else {
            sb_put(&b, "\"", 1);
            for (i = 0; i < a->signature_len; i += 3) {
                uint32_t w = (uint32_t)a->signature[i] << 16;
                size_t left = a->signature_len - i;
                char q[4];
                if (left > 1)
                    w |= (uint32_t)a->signature[i + 1] << 8;
                if (left > 2)
                    w |= a->signature[i + 2];
                q[0] = b64_alphabet[w >> 18 & 63];
                q[1] = b64_alphabet[w >> 12 & 63];
                q[2] = left > 1 ? b64_alphabet[w >> 6 & 63] : '=';
                q[3] = left > 2 ? b64_alphabet[w & 63] : '=';
                sb_put(&b, q, 4);
            }
            sb_put(&b, "\"", 1);
        }
    }
    snprintf(num, sizeof(num), ",\"signed_at\":%lld}", (long long)a->signed_at_ms);
    sb_puts(&b, num);
    if (b.failed) {
        free(b.p);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory writing an approval");
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

int cb_approval_canonical(const cb_approval_t *a, char **out, size_t *len, cb_error_t *err)
{
    return write_json(a, false, out, len, err);
}

int cb_approval_encode_json(const cb_approval_t *a, char **out, size_t *len, cb_error_t *err)
{
    return write_json(a, true, out, len, err);
}

/* ---- validation -------------------------------------------------------- */

/* A required string: present and not empty. */
static int need_text(const char *s, const char *field, cb_error_t *err)
{
    if (!s)
        return cb_error_set(err, CB_ERR_INVALID, "%s: required field is missing", field);
    if (!*s)
        return cb_error_set(err, CB_ERR_INVALID, "%s: is empty", field);
    return 0;
}

int cb_approval_validate(const cb_approval_t *a, cb_error_t *err)
{
    size_t i, k;

    if (need_text(a->request_id, "request_id", err) < 0 ||
        need_text(a->approver_name, "approver_name", err) < 0 ||
        need_text(a->approver_title, "approver_title", err) < 0 ||
        need_text(a->document_number, "document_number", err) < 0)
        return -1;
    if (a->decision != CB_APPROVAL_APPROVED && a->decision != CB_APPROVAL_REJECTED)
        return cb_error_set(err, CB_ERR_INVALID, "decision: %d is not APPROVED or REJECTED",
                            (int)a->decision);
    if (a->decision == CB_APPROVAL_REJECTED && (!a->reason || !*a->reason))
        return cb_error_set(err, CB_ERR_INVALID,
                            "reason: required for REJECTED (it becomes the actions' outcome "
                            "reason)");
    if (a->approver_id && !*a->approver_id)
        return cb_error_set(err, CB_ERR_INVALID, "approver_id: is empty (use null for none)");
    if (a->document_date < DATE_MIN || a->document_date > DATE_MAX)
        return cb_error_set(err, CB_ERR_INVALID,
                            "document_date: %ld days since 1970-01-01 is outside the years "
                            "1900 to 9999",
                            (long)a->document_date);
    if (a->signed_at_ms < 0 || a->signed_at_ms > SIGNED_AT_MAX)
        return cb_error_set(err, CB_ERR_INVALID,
                            "signed_at: %lld is outside 0..2^53-1 epoch milliseconds",
                            (long long)a->signed_at_ms);
    if (a->action_ids) {
        if (a->n_action_ids == 0)
            return cb_error_set(err, CB_ERR_INVALID,
                                "action_ids: empty; use null for every action of the request");
        if (a->n_action_ids > CB_APPROVAL_ACTIONS_MAX)
            return cb_error_set(err, CB_ERR_LIMIT, "action_ids: %zu ids exceed the limit of %d",
                                a->n_action_ids, CB_APPROVAL_ACTIONS_MAX);
        for (i = 0; i < a->n_action_ids; i++) {
            if (!a->action_ids[i] || !*a->action_ids[i])
                return cb_error_set(err, CB_ERR_INVALID, "action_ids[%zu]: is empty", i);
            for (k = 0; k < i; k++)
                if (!strcmp(a->action_ids[k], a->action_ids[i]))
                    return cb_error_set(err, CB_ERR_INVALID,
                                        "action_ids[%zu]: \"%.128s\" repeats action_ids[%zu]", i,
                                        a->action_ids[i], k);
        }
    }
    if (a->signature && a->signature_len > CB_APPROVAL_SIGNATURE_MAX)
        return cb_error_set(err, CB_ERR_LIMIT, "signature: %zu bytes exceed the limit of %d",
                            a->signature_len, CB_APPROVAL_SIGNATURE_MAX);
    return 0;
}

/* ---- JSON -------------------------------------------------------------- */

static const char *const json_members[] = {"request_id",     "decision",    "approver_name",
                                           "approver_title", "approver_id", "document_number",
                                           "document_date",  "reason",      "action_ids",
                                           "signed_at",      "signature"};

/* A string token as a new NFC copy in *out (caller frees), the field named
 * in errors. */
static int json_text(const cb_json_t *j, int v, const char *field, char **out, cb_error_t *err)
{
    const char *s;
    char *tmp = NULL;
    size_t len;

    if (cb_json_type(j, v) != CB_JSON_STRING)
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected a string, got %s", field,
                            cb_json_type_name(j, v));
    if (!cb_json_raw(j, v, &s, &len) && !(s = tmp = cb_json_strdup(j, v, &len)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    *out = cb_text_nfc(s, len, CB_STRING_MAX_BYTES, err);
    free(tmp);
    return *out ? 0 : cb_error_prefix(err, "%s", field);
}

/* obj[key] as an NFC string; absent or null leaves *out NULL (an error when
 * required). */
static int json_get_text(const cb_json_t *j, const char *key, bool required, char **out,
                         cb_error_t *err)
{
    int v = cb_json_get(j, 0, key);

    *out = NULL;
    if (cb_json_is_null(j, v)) {
        if (required)
            return cb_error_set(err, CB_ERR_INVALID, "%s: required field is %s", key,
                                v >= 0 ? "null" : "missing");
        return 0;
    }
    return json_text(j, v, key, out, err);
}

static int json_decode(const char *buf, size_t len, cb_approval_t *a, cb_error_t *err)
{
    cb_json_t j;
    char *s = NULL;
    size_t i, k, n;
    int v, rc = -1;
    int64_t days;

    if (cb_json_parse(&j, buf, len, err) < 0)
        return -1;
    if (cb_json_type(&j, 0) != CB_JSON_OBJECT) {
        cb_error_set(err, CB_ERR_INVALID, "approval: expected a JSON object, got %s",
                     cb_json_type_name(&j, 0));
        goto out;
    }
    /* Members are name, value pairs of tokens after the object's own. */
    for (i = 1; i < j.tok[0].end; i = j.tok[i + 1].end) {
        bool known = false;
        for (k = 0; k < sizeof(json_members) / sizeof(json_members[0]); k++)
            known = known || cb_json_str_eq(&j, (int)i, json_members[k]);
        if (!known) {
            char *name = cb_json_strdup(&j, (int)i, NULL);
            cb_error_set(err, CB_ERR_INVALID,
                         "approval: unknown member \"%.64s\" (it would not be covered by the "
                         "signature)",
                         name ? name : "?");
            free(name);
            goto out;
        }
    }
    if (json_get_text(&j, "request_id", true, &a->request_id, err) < 0 ||
        json_get_text(&j, "approver_name", true, &a->approver_name, err) < 0 ||
        json_get_text(&j, "approver_title", true, &a->approver_title, err) < 0 ||
        json_get_text(&j, "approver_id", false, &a->approver_id, err) < 0 ||
        json_get_text(&j, "document_number", true, &a->document_number, err) < 0 ||
        json_get_text(&j, "reason", false, &a->reason, err) < 0)
        goto out;
    v = cb_json_get(&j, 0, "decision");
    if (cb_json_is_null(&j, v)) {
        cb_error_set(err, CB_ERR_INVALID, "decision: required field is %s",
                     v >= 0 ? "null" : "missing");
        goto out;
    }
    if (json_text(&j, v, "decision", &s, err) < 0)
        goto out;
    if (decision_parse(s, strlen(s)) < 0) {
        cb_error_set(err, CB_ERR_INVALID, "decision: unknown symbol \"%.64s\" (APPROVED|REJECTED)",
                     s);
        goto out;
    }
    a->decision = (cb_approval_decision_t)decision_parse(s, strlen(s));
    free(s);
    s = NULL;
    v = cb_json_get(&j, 0, "document_date");
    if (cb_json_is_null(&j, v)) {
        cb_error_set(err, CB_ERR_INVALID, "document_date: required field is %s",
                     v >= 0 ? "null" : "missing");
        goto out;
    }
    if (json_text(&j, v, "document_date", &s, err) < 0)
        goto out;
    if (strlen(s) != 10 || cb_time_parse_date(s, &days) < 0 || days < DATE_MIN || days > DATE_MAX) {
        cb_error_set(err, CB_ERR_INVALID, "document_date: \"%.64s\" is not a date YYYY-MM-DD", s);
        goto out;
    }
    a->document_date = (int32_t)days;
    v = cb_json_get(&j, 0, "signed_at");
    if (cb_json_type(&j, v) != CB_JSON_INTEGER) {
        if (v < 0)
            cb_error_set(err, CB_ERR_INVALID, "signed_at: required field is missing");
        else
            cb_error_set(err, CB_ERR_INVALID,
                         "signed_at: expected integer epoch milliseconds, got %s",
                         cb_json_type_name(&j, v));
        goto out;
    }
    a->signed_at_ms = cb_json_integer(&j, v);
    v = cb_json_get(&j, 0, "action_ids");
    if (!cb_json_is_null(&j, v)) {
        if (cb_json_type(&j, v) != CB_JSON_ARRAY) {
            cb_error_set(err, CB_ERR_INVALID, "action_ids: expected an array or null, got %s",
                         cb_json_type_name(&j, v));
            goto out;
        }
        n = j.tok[v].count;
        if (n > CB_APPROVAL_ACTIONS_MAX) {
            cb_error_set(err, CB_ERR_LIMIT, "action_ids: %zu ids exceed the limit of %d", n,
                         CB_APPROVAL_ACTIONS_MAX);
            goto out;
        }
        if (!(a->action_ids = calloc(n ? n : 1, sizeof(char *)))) {
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (i = 0; i < n; i++) {
            char field[40];
            snprintf(field, sizeof(field), "action_ids[%zu]", i);
            if (json_text(&j, cb_json_at(&j, v, i), field, &a->action_ids[i], err) < 0)
                goto out;
            a->n_action_ids = i + 1;
        }
    }
    v = cb_json_get(&j, 0, "signature");
    if (!cb_json_is_null(&j, v)) {
        const char *raw;
        size_t rlen;
        if (cb_json_type(&j, v) != CB_JSON_STRING) {
            cb_error_set(err, CB_ERR_INVALID, "signature: expected a base64 string, got %s",
                         cb_json_type_name(&j, v));
            goto out;
        }
        if (!cb_json_raw(&j, v, &raw, &rlen)) {
            cb_error_set(err, CB_ERR_DECODE, "signature: base64 must not contain escapes");
            goto out;
        }
        if (b64_decode(raw, rlen, CB_APPROVAL_SIGNATURE_MAX, &a->signature, &a->signature_len,
                       err) < 0)
            goto out;
    }
    rc = 0;
out:
    free(s);
    cb_json_free(&j);
    return rc;
}

/* ---- Avro -------------------------------------------------------------- */

/* The field of the root record; fails when the writer's record lacks it
 * (the writer schema is certbridge's own, so this is an internal error). */
static const cb_avro_val_t *avro_field(const cb_avro_val_t *root, const char *name, cb_error_t *err)
{
    const cb_avro_val_t *f = cb_avro_field(root, name);

    if (!f)
        cb_error_set(err, CB_ERR_INTERNAL, "%s: not in schemas/Approval.avsc", name);
    return f;
}

/* A string value (or null, leaving *out NULL) as an NFC copy. */
static int avro_text(const cb_avro_val_t *v, const char *field, char **out, cb_error_t *err)
{
    *out = NULL;
    if (v->type == AVRO_NULL)
        return 0;
    if (v->type != AVRO_STRING)
        return cb_error_set(err, CB_ERR_INTERNAL, "%s: not a string in the schema", field);
    *out = cb_text_nfc(v->s, v->n, CB_STRING_MAX_BYTES, err);
    return *out ? 0 : cb_error_prefix(err, "%s", field);
}

static int avro_decode(const void *buf, size_t len, cb_approval_t *a, cb_error_t *err)
{
    static const char *const texts[] = {"request_id",  "approver_name",   "approver_title",
                                        "approver_id", "document_number", "reason"};
    char **dst[] = {&a->request_id,  &a->approver_name,   &a->approver_title,
                    &a->approver_id, &a->document_number, &a->reason};
    avro_schema_t ws = NULL;
    cb_avro_doc_t doc;
    const cb_avro_val_t *f;
    size_t i;
    int rc = -1;

    memset(&doc, 0, sizeof(doc));
    if (avro_schema_from_json_length(cb_approval_schema, cb_approval_schema_len, &ws) != 0)
        return cb_error_set(err, CB_ERR_INTERNAL, "schemas/Approval.avsc does not load: %s",
                            avro_strerror());
    if (cb_avro_doc_read(&doc, ws, buf, len, CB_STRING_MAX_BYTES, err) < 0)
        goto out;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (!(f = avro_field(&doc.root, texts[i], err)) || avro_text(f, texts[i], dst[i], err) < 0)
            goto out;
    if (!(f = avro_field(&doc.root, "decision", err)))
        goto out;
    if (decision_parse(f->symbol, strlen(f->symbol)) < 0) {
        cb_error_set(err, CB_ERR_INVALID, "decision: unknown symbol \"%.64s\"", f->symbol);
        goto out;
    }
    a->decision = (cb_approval_decision_t)decision_parse(f->symbol, strlen(f->symbol));
    if (!(f = avro_field(&doc.root, "document_date", err)))
        goto out;
    a->document_date = (int32_t)f->l;
    if (!(f = avro_field(&doc.root, "signed_at", err)))
        goto out;
    a->signed_at_ms = f->l;
    if (!(f = avro_field(&doc.root, "action_ids", err)))
        goto out;
    if (f->type == AVRO_ARRAY) {
        if (f->count > CB_APPROVAL_ACTIONS_MAX) {
            cb_error_set(err, CB_ERR_LIMIT, "action_ids: %zu ids exceed the limit of %d", f->count,
                         CB_APPROVAL_ACTIONS_MAX);
            goto out;
        }
        if (!(a->action_ids = calloc(f->count ? f->count : 1, sizeof(char *)))) {
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (i = 0; i < f->count; i++) {
            char field[40];
            snprintf(field, sizeof(field), "action_ids[%zu]", i);
            if (avro_text(&f->items[i], field, &a->action_ids[i], err) < 0)
                goto out;
            a->n_action_ids = i + 1;
        }
    }
    if (!(f = avro_field(&doc.root, "signature", err)))
        goto out;
    if (f->type == AVRO_BYTES) {
        if (f->n > CB_APPROVAL_SIGNATURE_MAX) {
            cb_error_set(err, CB_ERR_LIMIT, "signature: %zu bytes exceed the limit of %d", f->n,
                         CB_APPROVAL_SIGNATURE_MAX);
            goto out;
        }
        if (!(a->signature = malloc(f->n ? f->n : 1))) {
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (f->n)
            memcpy(a->signature, f->s, f->n);
        a->signature_len = f->n;
    }
    rc = 0;
out:
    cb_avro_doc_free(&doc);
    avro_schema_decref(ws);
    return rc;
}

int cb_approval_decode(const void *buf, size_t len, cb_approval_format_t format, cb_approval_t *out,
                       cb_error_t *err)
{
    const unsigned char *p = buf;
    int rc;

    cb_approval_init(out);
    if (len == 0)
        return cb_error_set(err, CB_ERR_DECODE, "approval: empty message");
    if (len > CB_APPROVAL_MAX_BYTES)
        return cb_error_set(err, CB_ERR_LIMIT,
                            "approval: message of %zu bytes exceeds the limit of %d", len,
                            CB_APPROVAL_MAX_BYTES);
    if (format == CB_APPROVAL_FORMAT_AUTO)
        format = p[0] == '{' ? CB_APPROVAL_FORMAT_JSON : CB_APPROVAL_FORMAT_AVRO;
    switch (format) {
    case CB_APPROVAL_FORMAT_JSON:
        rc = json_decode(buf, len, out, err);
        break;
    case CB_APPROVAL_FORMAT_AVRO:
        rc = avro_decode(buf, len, out, err);
        break;
    default:
        return cb_error_set(err, CB_ERR_INTERNAL, "approval: unknown format %d", (int)format);
    }
    if (rc == 0)
        rc = cb_approval_validate(out, err);
    if (rc < 0)
        cb_approval_clear(out);
    return rc;
}
