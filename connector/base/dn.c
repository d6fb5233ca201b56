/*
 * dn.c: certificate subjects as RFC 4514 distinguished-name strings (dn.h).
 *
 * A subject travels between certbridge, the CA API and the reference CA as
 * one UTF-8 (NFC) string, most specific attribute first. Formatting escapes
 * the characters RFC 4514 section 2.4 requires; parsing accepts those escapes
 * and hex pairs (\C3\A1), refuses what certbridge never writes (multi-valued
 * RDNs, #hexstring values, unknown attribute types) and normalizes every value
 * to NFC.
 */
#include "certbridge/dn.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "certbridge/text.h"

/* Longest DN accepted by cb_dn_parse: eight attributes of at most
 * CB_DN_VALUE_MAX each, every byte possibly written as a 3-byte hex pair,
 * plus the types and separators. */
#define SUBJECT_MAX_BYTES (8 * (3 * CB_DN_VALUE_MAX + 16))

/* The attribute types in output order, with the field of cb_dn_t each
 * one fills. */
typedef struct attr_desc {
    const char *type;
    size_t offset;
} attr_desc_t;

static const attr_desc_t attrs[] = {
    {"CN", offsetof(cb_dn_t, cn)}, {"title", offsetof(cb_dn_t, title)},
    {"OU", offsetof(cb_dn_t, ou)}, {"O", offsetof(cb_dn_t, o)},
    {"L", offsetof(cb_dn_t, l)},   {"ST", offsetof(cb_dn_t, st)},
    {"C", offsetof(cb_dn_t, c)},   {"emailAddress", offsetof(cb_dn_t, email)},
};

#define ATTR_COUNT (sizeof(attrs) / sizeof(attrs[0]))

/* The slot of attribute i inside s. */
static char **attr_slot(cb_dn_t *s, size_t i)
{
    return (char **)((char *)s + attrs[i].offset);
}

/* The value of attribute i inside s (NULL when absent). */
static const char *attr_value(const cb_dn_t *s, size_t i)
{
    return *(char *const *)((const char *)s + attrs[i].offset);
}

/* Frees every attribute of s and leaves it empty. Safe on NULL. */
void cb_dn_clear(cb_dn_t *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < ATTR_COUNT; i++) {
        free(*attr_slot(s, i));
        *attr_slot(s, i) = NULL;
    }
}

/* True for the characters RFC 4514 requires to be escaped anywhere in a
 * value. */
static int needs_escape(char c)
{
    return c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';';
}

/* Appends "type=escaped value" to buf at *pos. buf has room for the worst
 * case (computed by the caller). */
static void append_attr(char *buf, size_t *pos, const char *type, const char *v)
{
    size_t n = strlen(v), i, p = *pos;

    memcpy(buf + p, type, strlen(type));
    p += strlen(type);
    buf[p++] = '=';
    for (i = 0; i < n; i++) {
        char c = v[i];
        if (needs_escape(c) || (i == 0 && (c == ' ' || c == '#')) || (i == n - 1 && c == ' '))
            buf[p++] = '\\';
        buf[p++] = c;
    }
    *pos = p;
}

/* Formats s in the fixed attribute order. An attribute that is NULL or empty
 * is left out; CN is required. Values must be valid UTF-8 of at most
 * CB_DN_VALUE_MAX. Returns a malloc'd string the caller frees. */
char *cb_dn_format(const cb_dn_t *s, cb_error_t *err)
{
    size_t i, need = 1, pos = 0;
    char *buf;

    if (!s->cn || !*s->cn) {
        cb_error_set(err, CB_ERR_INVALID, "subject: CN is required");
        return NULL;
    }
    for (i = 0; i < ATTR_COUNT; i++) {
        const char *v = attr_value(s, i);
        size_t n;
        if (!v || !*v)
            continue;
        n = strlen(v);
        if (n > CB_DN_VALUE_MAX) {
            cb_error_set(err, CB_ERR_LIMIT, "subject: %s: longer than %d bytes", attrs[i].type,
                         CB_DN_VALUE_MAX);
            return NULL;
        }
        if (!cb_text_utf8_valid(v, n)) {
            cb_error_set(err, CB_ERR_INVALID, "subject: %s: invalid UTF-8", attrs[i].type);
            return NULL;
        }
        need += strlen(attrs[i].type) + 2 + 2 * n; /* "type=" + escaped value + ',' */
    }
    buf = malloc(need);
    if (!buf) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (i = 0; i < ATTR_COUNT; i++) {
        const char *v = attr_value(s, i);
        if (!v || !*v)
            continue;
        if (pos > 0)
            buf[pos++] = ',';
        append_attr(buf, &pos, attrs[i].type, v);
    }
    buf[pos] = '\0';
    return buf;
}

/* The value of one hex digit, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads one attribute value starting at dn[*pos] up to the next unescaped
 * ',' or the end, unescaping into val (which has room for the rest of dn).
 * Leaves *pos on the separator. Returns the value's length or -1 with err
 * set. */
static long parse_value(const char *dn, size_t *pos, char *val, cb_error_t *err)
{
    size_t p = *pos, n = 0;

    if (dn[p] == '#') {
        cb_error_set(err, CB_ERR_INVALID,
                     "subject: #hexstring values are not supported at byte %zu", p);
        return -1;
    }
    while (dn[p] && dn[p] != ',') {
        char c = dn[p];
        if (c == '\\') {
            char e = dn[p + 1];
            int hi = hex_value(e), lo = hi >= 0 ? hex_value(dn[p + 2]) : -1;
            if (hi >= 0 && lo >= 0) {
                val[n++] = (char)(hi * 16 + lo);
                p += 3;
            } else if (needs_escape(e) || e == ' ' || e == '#' || e == '=') {
                val[n++] = e;
                p += 2;
            } else {
                cb_error_set(err, CB_ERR_INVALID, "subject: bad escape at byte %zu", p);
                return -1;
            }
            continue;
        }
        if (c == '+') {
            cb_error_set(err, CB_ERR_INVALID,
                         "subject: multi-valued RDN ('+') is not supported at byte %zu", p);
            return -1;
        }
        if (c == '"' || c == ';' || c == '<' || c == '>') {
            cb_error_set(err, CB_ERR_INVALID, "subject: unescaped '%c' at byte %zu", c, p);
            return -1;
        }
        val[n++] = c;
        p++;
    }
    *pos = p;
    return (long)n;
}

/* Parses dn into out: "type=value" pairs separated by ','. Spaces before a
 * type are skipped (for DNs written as "CN=a, O=b"); types are matched
 * case-insensitively. On failure out is cleared. */
int cb_dn_parse(const char *dn, cb_dn_t *out, cb_error_t *err)
{
    size_t len, pos = 0;
    char *val = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    len = strlen(dn);
    if (len > SUBJECT_MAX_BYTES) {
        cb_error_set(err, CB_ERR_LIMIT, "subject: %zu bytes exceed the limit of %d", len,
                     SUBJECT_MAX_BYTES);
        goto done;
    }
    if (len == 0) {
        cb_error_set(err, CB_ERR_INVALID, "subject: empty");
        goto done;
    }
    val = malloc(len + 1);
    if (!val) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (;;) {
        size_t tstart, tlen, i, vstart;
        long vlen;
        char **slot = NULL;

        while (dn[pos] == ' ')
            pos++;
        tstart = pos;
        while (dn[pos] && dn[pos] != '=' && dn[pos] != ',')
            pos++;
        tlen = pos - tstart;
        if (dn[pos] != '=' || tlen == 0) {
            cb_error_set(err, CB_ERR_INVALID, "subject: expected \"type=value\" at byte %zu",
                         tstart);
            goto done;
        }
        for (i = 0; i < ATTR_COUNT && !slot; i++)
            if (strlen(attrs[i].type) == tlen && !strncasecmp(dn + tstart, attrs[i].type, tlen))
                slot = attr_slot(out, i);
        if (!slot) {
            cb_error_set(err, CB_ERR_INVALID,
                         "subject: unknown attribute type \"%.*s\" at byte %zu",
                         (int)(tlen > 32 ? 32 : tlen), dn + tstart, tstart);
            goto done;
        }
        if (*slot) {
            cb_error_set(err, CB_ERR_INVALID,
                         "subject: repeated attribute type \"%.*s\" at byte %zu", (int)tlen,
                         dn + tstart, tstart);
            goto done;
        }
        vstart = ++pos;
        vlen = parse_value(dn, &pos, val, err);
        if (vlen < 0)
            goto done;
        if (vlen == 0) {
            cb_error_set(err, CB_ERR_INVALID, "subject: empty value at byte %zu", vstart);
            goto done;
        }
        *slot = cb_text_nfc(val, (size_t)vlen, CB_DN_VALUE_MAX, err);
        if (!*slot) {
            cb_error_prefix(err, "subject: value at byte %zu", vstart);
            goto done;
        }
        if (!dn[pos])
            break;
        pos++; /* the ',' */
    }
    rc = 0;
done:
    free(val);
    if (rc < 0)
        cb_dn_clear(out);
    return rc;
}
