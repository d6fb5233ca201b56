/*
 * table.c: terminal tables aligned by display width (see table.h).
 */
#include "certbridge/table.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "certbridge/text.h"

#define ELLIPSIS     "\xE2\x80\xA6" /* U+2026 "…", one display column */
#define ELLIPSIS_LEN 3
#define COLUMN_GAP   2 /* spaces between two columns */

/* One row: ncols cells, or the text of a span row. The strings live in the
 * same allocation as the row's pointer array. */
typedef struct row {
    char **cells; /* ncols strings; NULL for a span row */
    char *span;   /* span row: its text; NULL otherwise */
    size_t span_col;
} row_t;

struct cb_table {
    size_t ncols;
    cb_table_column_t cols[CB_TABLE_MAX_COLS]; /* titles point into title_store */
    char *title_store;
    bool header;                     /* some column has a title */
    size_t width[CB_TABLE_MAX_COLS]; /* widest title or cell so far, display columns */
    row_t *rows;
    size_t nrows, cap;
};

/* The display width of the character at p and its length in bytes (*len),
 * by the rules of cb_text_width: combining marks take no column, a byte that
 * does not start valid UTF-8 counts as one character of one column. */
static size_t char_width(const char *p, size_t *len)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)p, -1, &cp);
    int w;

    if (n <= 0) {
        *len = 1;
        return 1;
    }
    *len = (size_t)n;
    w = utf8proc_charwidth(cp);
    return w > 0 ? (size_t)w : 0;
}

/* The longest prefix of s[0..len) that does not end inside a UTF-8
 * sequence: a sequence whose lead byte announces more bytes than remain is
 * left out. Invalid bytes count as characters of their own. */
static size_t complete_prefix(const char *s, size_t len)
{
    size_t lead = len, need;
    unsigned char c;

    while (lead > 0 && len - lead < 3 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead == 0)
        return len;
    c = (unsigned char)s[lead - 1]; /* the last sequence's lead byte */
    need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return lead - 1 + need <= len ? len : lead - 1;
}

/* The bytes a cell of len bytes keeps: len when within CB_TABLE_CELL_MAX,
 * else a prefix cut at a character that leaves room for the ellipsis. */
static size_t capped_len(const char *s, size_t len, bool *cut)
{
    *cut = len > CB_TABLE_CELL_MAX;
    return *cut ? complete_prefix(s, CB_TABLE_CELL_MAX - ELLIPSIS_LEN) : len;
}

char *cb_table_cellf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (size == 0)
        return buf;
    if (n < 0) {
        buf[0] = '\0';
    } else if ((size_t)n >= size && size > ELLIPSIS_LEN + 1) {
        /* buf holds size - 1 bytes of the result: whole characters, then
         * the ellipsis */
        size_t keep = complete_prefix(buf, size - 1 - ELLIPSIS_LEN);
        memcpy(buf + keep, ELLIPSIS, ELLIPSIS_LEN + 1);
    } else if ((size_t)n >= size) { /* no room for the ellipsis */
        buf[complete_prefix(buf, size - 1)] = '\0';
    }
    return buf;
}

char *cb_table_elide(const char *s, size_t max_width, cb_table_elide_t where, char *buf,
                     size_t size)
{
    size_t total = cb_text_width(s), room, len, w, acc = 0;
    const char *p = s;

    if (max_width == 0)
        max_width = 1;
    if (total <= max_width)
        return cb_table_cellf(buf, size, "%s", s);
    room = max_width - 1; /* the ellipsis takes one column */
    if (where == CB_TABLE_ELIDE_END) {
        /* whole characters while they fit; a combining mark (width 0)
         * follows its letter in */
        while (*p) {
            w = char_width(p, &len);
            if (acc + w > room)
                break;
            acc += w;
            p += len;
        }
        return cb_table_cellf(buf, size, "%.*s" ELLIPSIS, (int)(p - s), s);
    }
    /* drop characters from the start until the rest fits, then the marks of
     * the last dropped letter */
    while (*p && total - acc > room) {
        acc += char_width(p, &len);
        p += len;
    }
    while (*p && char_width(p, &len) == 0)
        p += len;
    return cb_table_cellf(buf, size, ELLIPSIS "%s", p);
}

cb_table_t *cb_table_new(const cb_table_column_t *cols, size_t ncols, cb_error_t *err)
{
    cb_table_t *t;
    size_t k, bytes = 0, off = 0;

    if (ncols == 0 || ncols > CB_TABLE_MAX_COLS) {
        cb_error_set(err, CB_ERR_INVALID, "table: %zu columns (1..%d)", ncols, CB_TABLE_MAX_COLS);
        return NULL;
    }
    for (k = 0; k < ncols; k++)
        bytes += (cols[k].title ? strlen(cols[k].title) : 0) + 1;
    t = calloc(1, sizeof(*t));
    if (t)
        t->title_store = malloc(bytes);
    if (!t || !t->title_store) {
        free(t);
        cb_error_set(err, CB_ERR_NOMEM, "table: out of memory");
        return NULL;
    }
    t->ncols = ncols;
    for (k = 0; k < ncols; k++) {
        const char *title = cols[k].title ? cols[k].title : "";
        size_t n = strlen(title);
        t->cols[k] = cols[k];
        t->cols[k].title = memcpy(t->title_store + off, title, n + 1);
        off += n + 1;
        t->width[k] = cb_text_width(title);
        t->header = t->header || n > 0;
    }
    return t;
}

void cb_table_destroy(cb_table_t *t)
{
    size_t i;

    if (!t)
        return;
    for (i = 0; i < t->nrows; i++)
        free(t->rows[i].cells ? (void *)t->rows[i].cells : (void *)t->rows[i].span);
    free(t->rows);
    free(t->title_store);
    free(t);
}

size_t cb_table_rows(const cb_table_t *t)
{
    return t->nrows;
}

/* A free slot at the end of t->rows, or NULL with err. */
static row_t *next_row(cb_table_t *t, cb_error_t *err)
{
    if (t->nrows >= CB_TABLE_MAX_ROWS) {
        cb_error_set(err, CB_ERR_LIMIT, "table: more than %d rows", CB_TABLE_MAX_ROWS);
        return NULL;
    }
    if (t->nrows == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        row_t *n = realloc(t->rows, ncap * sizeof(*n));
        if (!n) {
            cb_error_set(err, CB_ERR_NOMEM, "table: out of memory");
            return NULL;
        }
        t->rows = n;
        t->cap = ncap;
    }
    return &t->rows[t->nrows];
}

/* Copies s[0..len) and the ellipsis when cut to dst; returns the byte
 * after the terminating NUL. */
static char *put_capped(char *dst, const char *s, size_t len, bool cut)
{
    memcpy(dst, s, len);
    if (cut) {
        memcpy(dst + len, ELLIPSIS, ELLIPSIS_LEN);
        len += ELLIPSIS_LEN;
    }
    dst[len] = '\0';
    return dst + len + 1;
}

int cb_table_add_row(cb_table_t *t, const char *const *cells, cb_table_row_kind_t kind,
                     cb_error_t *err)
{
    const char *src[CB_TABLE_MAX_COLS];
    char *elided[CB_TABLE_MAX_COLS] = {NULL};
    size_t len[CB_TABLE_MAX_COLS], bytes = t->ncols * sizeof(char *), k;
    bool cut[CB_TABLE_MAX_COLS];
    row_t *r = next_row(t, err);
    char *p;
    int rc = -1;

    if (!r)
        return -1;
    for (k = 0; k < t->ncols; k++) {
        const cb_table_column_t *c = &t->cols[k];
        src[k] = kind == CB_TABLE_CONTINUATION && c->grouped ? "" : cells[k] ? cells[k] : "";
        if (c->max_width && cb_text_width(src[k]) > c->max_width) {
            /* the elided text is no longer than the cap plus an ellipsis */
            size_t n = strnlen(src[k], CB_TABLE_CELL_MAX) + ELLIPSIS_LEN + 1;
            if (!(elided[k] = malloc(n)))
                goto nomem;
            src[k] = cb_table_elide(src[k], c->max_width, c->elide, elided[k], n);
        }
        len[k] = capped_len(src[k], strlen(src[k]), &cut[k]);
        bytes += len[k] + (cut[k] ? ELLIPSIS_LEN : 0) + 1;
    }
    if (!(r->cells = malloc(bytes)))
        goto nomem;
    r->span = NULL;
    r->span_col = 0;
    p = (char *)(r->cells + t->ncols);
    for (k = 0; k < t->ncols; k++) {
        size_t w;
        r->cells[k] = p;
        p = put_capped(p, src[k], len[k], cut[k]);
        w = cb_text_width(r->cells[k]);
        if (w > t->width[k])
            t->width[k] = w;
    }
    t->nrows++;
    rc = 0;
    goto out;
nomem:
    cb_error_set(err, CB_ERR_NOMEM, "table: out of memory");
out:
    for (k = 0; k < t->ncols; k++)
        free(elided[k]);
    return rc;
}

int cb_table_add_span(cb_table_t *t, size_t col, const char *text, cb_error_t *err)
{
    row_t *r;
    size_t len;
    bool cut;

    if (col >= t->ncols)
        return cb_error_set(err, CB_ERR_INVALID, "table: span at column %zu of %zu", col, t->ncols);
    if (!(r = next_row(t, err)))
        return -1;
    text = text ? text : "";
    len = capped_len(text, strlen(text), &cut);
    if (!(r->span = malloc(len + (cut ? ELLIPSIS_LEN : 0) + 1)))
        return cb_error_set(err, CB_ERR_NOMEM, "table: out of memory");
    put_capped(r->span, text, len, cut);
    r->cells = NULL;
    r->span_col = col;
    t->nrows++;
    return 0;
}

/* Writes n spaces: padding and the gap between columns. */
static void put_spaces(FILE *out, size_t n)
{
    while (n-- > 0)
        fputc(' ', out);
}

/* Writes one line of ncols cells: a right-aligned cell after its padding, a
 * left-aligned one before it, nothing after the last non-empty cell. */
static void write_cells(const cb_table_t *t, const char *const *cells, FILE *out)
{
    size_t last = 0, k;

    for (k = 0; k < t->ncols; k++)
        if (cells[k][0])
            last = k + 1;
    for (k = 0; k < last; k++) {
        size_t w = cb_text_width(cells[k]), pad = t->width[k] > w ? t->width[k] - w : 0;
        if (k > 0)
            put_spaces(out, COLUMN_GAP);
        if (t->cols[k].align == CB_TABLE_RIGHT) {
            put_spaces(out, pad);
            fputs(cells[k], out);
        } else {
            fputs(cells[k], out);
            if (k + 1 < last)
                put_spaces(out, pad);
        }
    }
    fputc('\n', out);
}

int cb_table_write(const cb_table_t *t, FILE *out, cb_error_t *err)
{
    const char *titles[CB_TABLE_MAX_COLS];
    size_t i, k;

    if (t->header) {
        for (k = 0; k < t->ncols; k++)
            titles[k] = t->cols[k].title;
        write_cells(t, titles, out);
    }
    for (i = 0; i < t->nrows; i++) {
        const row_t *r = &t->rows[i];
        if (r->cells) {
            write_cells(t, (const char *const *)r->cells, out);
            continue;
        }
        if (r->span[0]) {
            for (k = 0; k < r->span_col; k++)
                put_spaces(out, t->width[k] + COLUMN_GAP);
            fputs(r->span, out);
        }
        fputc('\n', out);
    }
    if (ferror(out))
        return cb_error_set(err, CB_ERR_IO, "writing a table: output error");
    return 0;
}
