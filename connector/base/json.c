/*
 * json.c: the bounded JSON reader (json.h).
 *
 * One recursive-descent pass (depth capped) appends a token per value and
 * per member name; an object's or array's token learns its `end` and
 * `count` when it closes, so a caller skips a whole subtree in one step.
 * Strings are checked where they stand (escapes, surrogate pairs, UTF-8)
 * and unescaped only on request.
 */
#include "certbridge/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/text.h"

typedef struct parser {
    const char *s;
    size_t len, pos;
    cb_json_t *j;
    cb_error_t *err;
} parser_t;

static int fail(parser_t *p, size_t at, const char *why)
{
    return cb_error_set(p->err, CB_ERR_DECODE, "invalid JSON at byte %zu: %s", at, why);
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        p->pos++;
    }
}

/* Appends a token; -1 past CB_JSON_TOKENS_MAX or out of memory. */
static int push(parser_t *p, cb_json_type_t type, size_t start)
{
    cb_json_t *j = p->j;
    cb_json_tok_t *t;

    if (j->n == j->cap) {
        uint32_t cap = j->cap * 4;
        cb_json_tok_t *nt;

        if (j->cap >= CB_JSON_TOKENS_MAX)
            return cb_error_set(p->err, CB_ERR_LIMIT, "JSON: more than %d values",
                                CB_JSON_TOKENS_MAX);
        if (cap > CB_JSON_TOKENS_MAX)
            cap = CB_JSON_TOKENS_MAX;
        if (!(nt = malloc(cap * sizeof(*nt))))
            return cb_error_set(p->err, CB_ERR_NOMEM, "out of memory reading JSON");
        memcpy(nt, j->tok, j->n * sizeof(*nt));
        if (j->tok != j->inline_tok)
            free(j->tok);
        j->tok = nt;
        j->cap = cap;
    }
    t = &j->tok[j->n];
    memset(t, 0, sizeof(*t));
    t->type = (uint8_t)type;
    t->start = (uint32_t)start;
    t->end = j->n + 1;
    return (int)j->n++;
}

static int hex4(const char *s)
{
    int v = 0, i;

    for (i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* A string at p->pos (the opening quote): checks it, appends its token. */
static int string(parser_t *p)
{
    size_t open = p->pos, i = open + 1;
    bool escaped = false;
    int t;

    for (;;) {
        unsigned char c;

        if (i >= p->len)
            return fail(p, p->len, "unterminated string");
        c = (unsigned char)p->s[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(p, i, "control character in a string");
        if (c != '\\') {
            i++;
            continue;
        }
        escaped = true;
        if (i + 1 >= p->len)
            return fail(p, p->len, "unterminated string");
        c = (unsigned char)p->s[i + 1];
        if (c == 'u') {
            int u, lo;
            if (i + 6 > p->len || (u = hex4(p->s + i + 2)) < 0)
                return fail(p, i, "invalid \\u escape");
            if (u == 0)
                return fail(p, i, "\\u0000 is not allowed");
            if (u >= 0xDC00 && u <= 0xDFFF)
                return fail(p, i, "lone low surrogate");
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (i + 12 > p->len || p->s[i + 6] != '\\' || p->s[i + 7] != 'u' ||
                    (lo = hex4(p->s + i + 8)) < 0xDC00 || lo > 0xDFFF)
                    return fail(p, i, "high surrogate without its low half");
                i += 6;
            }
            i += 6;
        } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                   c == 'r' || c == 't') {
            i += 2;
        } else {
            return fail(p, i, "invalid escape");
        }
    }
    if (!cb_text_utf8_valid(p->s + open + 1, i - open - 1))
        return fail(p, open, "string is not valid UTF-8");
    if ((t = push(p, CB_JSON_STRING, open + 1)) < 0)
        return -1;
    p->j->tok[t].len = (uint32_t)(i - open - 1);
    p->j->tok[t].escaped = escaped;
    p->pos = i + 1;
    return t;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? ; integers must fit int64
 * and reals must be finite. */
static int number(parser_t *p)
{
    size_t start = p->pos, i = start;
    bool real = false;
    int t;

    if (i < p->len && p->s[i] == '-')
        i++;
    if (i >= p->len || !is_digit(p->s[i]))
        return fail(p, start, "invalid number");
    if (p->s[i] == '0')
        i++;
    else
        while (i < p->len && is_digit(p->s[i]))
            i++;
    if (i < p->len && p->s[i] == '.') {
        real = true;
        if (++i >= p->len || !is_digit(p->s[i]))
            return fail(p, start, "invalid number");
        while (i < p->len && is_digit(p->s[i]))
            i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        real = true;
        if (++i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (i >= p->len || !is_digit(p->s[i]))
            return fail(p, start, "invalid number");
        while (i < p->len && is_digit(p->s[i]))
            i++;
    }
    if (!real) {
        /* fits int64: compared digit by digit against the limit */
        bool neg = p->s[start] == '-';
        size_t nd = i - start - neg;
        const char *lim = neg ? "9223372036854775808" : "9223372036854775807";
        if (nd > 19 || (nd == 19 && memcmp(p->s + start + neg, lim, 19) > 0))
            return fail(p, start, "integer out of range");
    } else {
        char small[64], *buf = small;
        double d;

        if (i - start >= sizeof(small) && !(buf = malloc(i - start + 1)))
            return cb_error_set(p->err, CB_ERR_NOMEM, "out of memory reading JSON");
        memcpy(buf, p->s + start, i - start);
        buf[i - start] = '\0';
        errno = 0;
        d = strtod(buf, NULL);
        if (buf != small)
            free(buf);
        if (errno == ERANGE && (d > 1.0 || d < -1.0))
            return fail(p, start, "real number out of range");
    }
    if ((t = push(p, real ? CB_JSON_REAL : CB_JSON_INTEGER, start)) < 0)
        return -1;
    p->j->tok[t].len = (uint32_t)(i - start);
    p->pos = i;
    return t;
}

static int literal(parser_t *p, const char *word, cb_json_type_t type)
{
    size_t n = strlen(word);
    int t;

    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n))
        return fail(p, p->pos, "invalid literal");
    if ((t = push(p, type, p->pos)) < 0)
        return -1;
    p->j->tok[t].len = (uint32_t)n;
    p->pos += n;
    return t;
}

/* Unescapes a checked string's raw bytes into out (room for len + 1);
 * returns the length written. */
static size_t unescape(const char *s, size_t len, char *out)
{
    size_t i = 0, o = 0;

    while (i < len) {
        unsigned long u;

        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        switch (s[i + 1]) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u':
            u = (unsigned long)hex4(s + i + 2);
            if (u >= 0xD800 && u <= 0xDBFF) {
                u = 0x10000 + ((u - 0xD800) << 10) + ((unsigned long)hex4(s + i + 8) - 0xDC00);
                i += 6;
            }
            if (u < 0x80) {
                out[o++] = (char)u;
            } else if (u < 0x800) {
                out[o++] = (char)(0xC0 | (u >> 6));
                out[o++] = (char)(0x80 | (u & 0x3F));
            } else if (u < 0x10000) {
                out[o++] = (char)(0xE0 | (u >> 12));
                out[o++] = (char)(0x80 | ((u >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (u & 0x3F));
            } else {
                out[o++] = (char)(0xF0 | (u >> 18));
                out[o++] = (char)(0x80 | ((u >> 12) & 0x3F));
                out[o++] = (char)(0x80 | ((u >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (u & 0x3F));
            }
            i += 4;
            break;
        default: /* '"', '\\', '/' */
            out[o++] = s[i + 1];
            break;
        }
        i += 2;
    }
    out[o] = '\0';
    return o;
}

/* Whether two string tokens hold the same text (unescaped). */
static bool same_name(const cb_json_t *j, int a, int b)
{
    const cb_json_tok_t *ta = &j->tok[a], *tb = &j->tok[b];
    char *da, *db;
    bool eq;

    if (!ta->escaped && !tb->escaped)
        return ta->len == tb->len && !memcmp(j->text + ta->start, j->text + tb->start, ta->len);
    da = cb_json_strdup(j, a, NULL);
    db = cb_json_strdup(j, b, NULL);
    eq = da && db && !strcmp(da, db);
    free(da);
    free(db);
    return eq;
}

static int value(parser_t *p, int depth);

/* An object or an array at p->pos. */
static int container(parser_t *p, int depth)
{
    bool obj = p->s[p->pos] == '{';
    char close = obj ? '}' : ']';
    int t = push(p, obj ? CB_JSON_OBJECT : CB_JSON_ARRAY, p->pos);
    uint32_t count = 0;

    if (t < 0)
        return -1;
    if (depth >= CB_JSON_DEPTH_MAX)
        return cb_error_set(p->err, CB_ERR_LIMIT, "JSON: nested deeper than %d levels",
                            CB_JSON_DEPTH_MAX);
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        goto closed;
    }
    for (;;) {
        if (obj) {
            int name, m;
            skip_ws(p);
            if (p->pos >= p->len)
                return fail(p, p->len, "unexpected end of input");
            if (p->s[p->pos] != '"')
                return fail(p, p->pos, "expected a member name");
            if (count == CB_JSON_MEMBERS_MAX)
                return cb_error_set(p->err, CB_ERR_LIMIT, "JSON: an object of more than %d members",
                                    CB_JSON_MEMBERS_MAX);
            if ((name = string(p)) < 0)
                return -1;
            /* duplicates: compare with the earlier names of this object */
            for (m = t + 1; m < name; m = (int)p->j->tok[m + 1].end)
                if (same_name(p->j, m, name))
                    return fail(p, p->j->tok[name].start - 1, "duplicate member name");
            skip_ws(p);
            if (p->pos >= p->len)
                return fail(p, p->len, "unexpected end of input");
            if (p->s[p->pos] != ':')
                return fail(p, p->pos, "expected ':'");
            p->pos++;
        }
        if (value(p, depth + 1) < 0)
            return -1;
        count++;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, p->len, "unexpected end of input");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        return fail(p, p->pos, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
closed:
    p->j->tok[t].count = count;
    p->j->tok[t].end = p->j->n;
    p->j->tok[t].len = (uint32_t)(p->pos - p->j->tok[t].start);
    return t;
}

static int value(parser_t *p, int depth)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, p->len, "unexpected end of input");
    switch (p->s[p->pos]) {
    case '{':
    case '[':
        return container(p, depth);
    case '"':
        return string(p);
    case 't':
        return literal(p, "true", CB_JSON_TRUE);
    case 'f':
        return literal(p, "false", CB_JSON_FALSE);
    case 'n':
        return literal(p, "null", CB_JSON_NULL);
    default:
        if (p->s[p->pos] == '-' || is_digit(p->s[p->pos]))
            return number(p);
        return fail(p, p->pos, "unexpected character");
    }
}

int cb_json_parse(cb_json_t *j, const char *text, size_t len, cb_error_t *err)
{
    parser_t p;

    j->text = text;
    j->len = len;
    j->tok = j->inline_tok;
    j->n = 0;
    j->cap = CB_JSON_INLINE;
    if (len >= UINT32_MAX) {
        cb_error_set(err, CB_ERR_LIMIT, "JSON: %zu bytes are too many", len);
        return -1;
    }
    p.s = text;
    p.len = len;
    p.pos = 0;
    p.j = j;
    p.err = err;
    if (value(&p, 0) < 0)
        goto bad;
    skip_ws(&p);
    if (p.pos < len) {
        fail(&p, p.pos, "text after the value");
        goto bad;
    }
    return 0;
bad:
    cb_json_free(j);
    return -1;
}

void cb_json_free(cb_json_t *j)
{
    if (j->tok && j->tok != j->inline_tok)
        free(j->tok);
    j->tok = j->inline_tok;
    j->n = 0;
    j->cap = CB_JSON_INLINE;
}

int cb_json_get(const cb_json_t *j, int obj, const char *key)
{
    size_t klen = strlen(key);
    uint32_t m, end;

    if (obj < 0 || (uint32_t)obj >= j->n || j->tok[obj].type != CB_JSON_OBJECT)
        return -1;
    end = j->tok[obj].end;
    for (m = (uint32_t)obj + 1; m < end; m = j->tok[m + 1].end) {
        const cb_json_tok_t *t = &j->tok[m];
        if (t->escaped ? cb_json_str_eq(j, (int)m, key)
                       : t->len == klen && !memcmp(j->text + t->start, key, klen))
            return (int)m + 1;
    }
    return -1;
}

int cb_json_at(const cb_json_t *j, int arr, size_t i)
{
    uint32_t e;

    if (arr < 0 || (uint32_t)arr >= j->n || j->tok[arr].type != CB_JSON_ARRAY ||
        i >= j->tok[arr].count)
        return -1;
    for (e = (uint32_t)arr + 1; i > 0; i--)
        e = j->tok[e].end;
    return (int)e;
}

cb_json_type_t cb_json_type(const cb_json_t *j, int i)
{
    return i < 0 || (uint32_t)i >= j->n ? CB_JSON_NULL : (cb_json_type_t)j->tok[i].type;
}

const char *cb_json_type_name(const cb_json_t *j, int i)
{
    static const char *const names[] = {"null", "boolean", "boolean", "integer",
                                        "real", "string",  "array",   "object"};

    return names[cb_json_type(j, i)];
}

bool cb_json_is_null(const cb_json_t *j, int i)
{
    return cb_json_type(j, i) == CB_JSON_NULL;
}

int64_t cb_json_integer(const cb_json_t *j, int i)
{
    const cb_json_tok_t *t;
    uint64_t v = 0;
    uint32_t k = 0;
    bool neg;

    if (cb_json_type(j, i) != CB_JSON_INTEGER)
        return 0;
    t = &j->tok[i];
    neg = j->text[t->start] == '-';
    for (k = neg; k < t->len; k++)
        v = v * 10 + (uint64_t)(j->text[t->start + k] - '0');
    /* range checked by the parser; -2^63 wraps to itself */
    return neg ? (int64_t)(0 - v) : (int64_t)v;
}

char *cb_json_strdup(const cb_json_t *j, int i, size_t *len)
{
    const cb_json_tok_t *t;
    char *out;
    size_t n;

    if (cb_json_type(j, i) != CB_JSON_STRING)
        return NULL;
    t = &j->tok[i];
    if (!(out = malloc((size_t)t->len + 1)))
        return NULL;
    if (t->escaped) {
        n = unescape(j->text + t->start, t->len, out);
    } else {
        memcpy(out, j->text + t->start, t->len);
        out[t->len] = '\0';
        n = t->len;
    }
    if (len)
        *len = n;
    return out;
}

bool cb_json_raw(const cb_json_t *j, int i, const char **s, size_t *len)
{
    if (cb_json_type(j, i) != CB_JSON_STRING || j->tok[i].escaped)
        return false;
    *s = j->text + j->tok[i].start;
    *len = j->tok[i].len;
    return true;
}

bool cb_json_str_eq(const cb_json_t *j, int i, const char *s)
{
    const char *raw;
    size_t len;
    char *d;
    bool eq;

    if (cb_json_raw(j, i, &raw, &len))
        return len == strlen(s) && !memcmp(raw, s, len);
    if (!(d = cb_json_strdup(j, i, NULL)))
        return false;
    eq = !strcmp(d, s);
    free(d);
    return eq;
}
