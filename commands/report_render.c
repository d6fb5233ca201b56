/*
 * report_render.c: the writers of `certbridge report` (see report.h): a
 * terminal table, a JSON document and a self-contained HTML page. They read
 * a finished report through report.h's accessors only.
 */
#include "certbridge/report.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#include "certbridge/text.h"
#include "certbridge/version.h"

#define CELL_MAX     400 /* bytes of one terminal table cell (long errors are cut) */
#define TAB_COLS_MAX 12

/* Order of the statuses in the chart: done, then waiting for people, then
 * open. The tables use the contract's order (outcome.h). */
static const cb_outcome_status_t chart_order[CB_STATUS_COUNT] = {
    CB_STATUS_SUCCEEDED, CB_STATUS_ALREADY_DONE, CB_STATUS_SKIPPED, CB_STATUS_NEEDS_REVIEW,
    CB_STATUS_PENDING,   CB_STATUS_REJECTED,     CB_STATUS_FAILED};
static const char *const status_color[CB_STATUS_COUNT] = {
    "#2e7d32", "#81c784", "#1e88e5", "#ef6c00", "#c62828", "#b0bec5", "#f9a825"};
static const char *const status_vi[CB_STATUS_COUNT] = {
    "thành công", "đã thực hiện", "đang chờ", "bị từ chối", "thất bại", "bỏ qua", "cần xem xét"};
static const char *const action_vi[CB_ACTION_COUNT] = {
    "thay đổi thông tin", "thu hồi chứng thư", "tiếp tục sử dụng",
    "thu hồi thiết bị",   "cấp mới",           "xem xét"};

static const char *const TOKEN_OFFICE =
    "the Department of Digital Certification and Information Security";

/* What the writers read of a finished report. */
typedef struct view {
    const cb_report_group_t *groups;
    size_t n_groups;
    const cb_report_item_t *const *open;
    size_t n_open;
    const cb_report_item_t *const *tokens;
    size_t n_tokens;
    size_t events, duplicates, undecodable;
    size_t totals[CB_ACTION_COUNT][CB_STATUS_COUNT];
} view_t;

static void view_of(const cb_report_t *r, view_t *v)
{
    int a, s;

    v->groups = cb_report_groups(r, &v->n_groups);
    v->open = cb_report_open(r, &v->n_open);
    v->tokens = cb_report_tokens(r, &v->n_tokens);
    v->events = cb_report_event_count(r);
    v->duplicates = cb_report_duplicates(r);
    v->undecodable = cb_report_undecodable(r);
    for (a = 0; a < CB_ACTION_COUNT; a++)
        for (s = 0; s < CB_STATUS_COUNT; s++)
            v->totals[a][s] = cb_report_count(r, a, s);
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static size_t count_done(const cb_report_t *r)
{
    return cb_report_count(r, -1, CB_STATUS_SUCCEEDED) +
           cb_report_count(r, -1, CB_STATUS_ALREADY_DONE) +
           cb_report_count(r, -1, CB_STATUS_SKIPPED);
}

static size_t group_action_total(const cb_report_group_t *g, int a)
{
    size_t n = 0;
    int s;

    for (s = 0; s < CB_STATUS_COUNT; s++)
        n += g->counts[a][s];
    return n;
}

static size_t group_done(const cb_report_group_t *g, int a)
{
    return g->counts[a][CB_STATUS_SUCCEEDED] + g->counts[a][CB_STATUS_ALREADY_DONE] +
           g->counts[a][CB_STATUS_SKIPPED];
}

static double percent(size_t part, size_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

int cb_report_format_parse(const char *s)
{
    if (s && strcmp(s, "table") == 0)
        return CB_REPORT_TABLE;
    if (s && strcmp(s, "json") == 0)
        return CB_REPORT_JSON;
    return -1;
}

/* ---- text ------------------------------------------------------------- */

/* Code points never written as they are: C0 and C1 controls, DEL, and the
 * bidirectional overrides that can make a terminal or a page show text in
 * another order than it is. */
static bool unsafe_cp(utf8proc_int32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* A copy of s fit for a terminal or a page: invalid UTF-8 becomes U+FFFD,
 * unsafe code points a space; at most max bytes, cut at a character with
 * "…" appended. NULL s gives "-". Caller frees; NULL when out of memory. */
static char *clean(const char *s, size_t max)
{
    const utf8proc_uint8_t *p;
    size_t len, o = 0;
    char *out;

    if (!s)
        return strdup("-");
    len = strlen(s);
    out = malloc(len * 3 + 8);
    if (!out)
        return NULL;
    p = (const utf8proc_uint8_t *)s;
    while (*p) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
        const char *put;
        size_t put_len;
        if (n <= 0) {
            put = "\xEF\xBF\xBD";
            put_len = 3;
            n = 1;
        } else if (unsafe_cp(cp)) {
            put = " ";
            put_len = 1;
        } else {
            put = (const char *)p;
            put_len = (size_t)n;
        }
        if (o + put_len > max) {
            memcpy(out + o, "\xE2\x80\xA6", 3);
            o += 3;
            break;
        }
        memcpy(out + o, put, put_len);
        o += put_len;
        p += n;
    }
    out[o] = '\0';
    return out;
}

/* A terminal table: cells cleaned and owned, widths in display columns. */
typedef struct tab {
    size_t ncols;
    char **cells; /* rows * ncols */
    size_t rows, cap;
    size_t width[TAB_COLS_MAX];
    unsigned right; /* bit per right-aligned column */
} tab_t;

static int tab_row(tab_t *t, const char *const *cells)
{
    size_t k;

    if (t->rows == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 32;
        char **nc = realloc(t->cells, ncap * t->ncols * sizeof(char *));
        if (!nc)
            return -1;
        t->cells = nc;
        t->cap = ncap;
    }
    for (k = 0; k < t->ncols; k++) {
        char *c = clean(cells[k] ? cells[k] : "", CELL_MAX);
        size_t w;
        if (!c) {
            while (k-- > 0)
                free(t->cells[t->rows * t->ncols + k]);
            return -1;
        }
        t->cells[t->rows * t->ncols + k] = c;
        w = cb_text_width(c);
        if (w > t->width[k])
            t->width[k] = w;
    }
    t->rows++;
    return 0;
}

static void tab_print(const tab_t *t, FILE *out)
{
    size_t i, k, w;

    for (i = 0; i < t->rows; i++) {
        for (k = 0; k < t->ncols; k++) {
            const char *c = t->cells[i * t->ncols + k];
            bool last = k + 1 == t->ncols;
            if (k > 0)
                fputs("  ", out);
            if (t->right & (1u << k)) {
                for (w = cb_text_width(c); w < t->width[k]; w++)
                    fputc(' ', out);
                fputs(c, out);
            } else {
                cb_text_put_padded(out, c, last ? 0 : t->width[k]);
            }
        }
        fputc('\n', out);
    }
}

static void tab_free(tab_t *t)
{
    size_t i;

    for (i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

static void fmt_count(char *buf, size_t size, size_t n)
{
    if (n)
        snprintf(buf, size, "%zu", n);
    else
        snprintf(buf, size, "-");
}

typedef enum time_fmt { TIME_MINUTES = 0, TIME_SECONDS, TIME_RFC3339 } time_fmt_t;

/* Formats epoch milliseconds as UTC: "2026-01-01 10:00 UTC",
 * "2026-01-01 10:00:05" or "2026-01-01T10:00:05Z"; "-" when unknown. */
static void fmt_time(char *buf, size_t size, int64_t ms, time_fmt_t fmt)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    size_t n = 0;

    if (ms > 0 && gmtime_r(&t, &tm)) {
        if (fmt == TIME_MINUTES)
            n = strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm);
        else if (fmt == TIME_SECONDS)
            n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
        else
            n = strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    if (!n)
        snprintf(buf, size, "-");
}

/* "CODE Name" of a group (the label of a personal group). */
static void group_label(const cb_report_group_t *g, char *buf, size_t size)
{
    if (g->event_type)
        snprintf(buf, size, "%s", g->name);
    else
        snprintf(buf, size, "%s %s", *g->code ? g->code : "-", g->name ? g->name : "");
}

static void holder_label(const cb_report_item_t *it, char *buf, size_t size)
{
    snprintf(buf, size, "%s %s", it->holder_id ? it->holder_id : "-",
             it->holder_name ? it->holder_name : "");
}

/* Appends printf output to buf[*n..size), keeping *n within the buffer. */
static void append(char *buf, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (*n + 1 >= size)
        return;
    va_start(ap, fmt);
    k = vsnprintf(buf + *n, size - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n = *n + (size_t)k < size ? *n + (size_t)k : size - 1;
}

/* What went wrong (or what is awaited) for an open item:
 * "HTTP 409 code: message", "HTTP 202, CA request ID", or "-". */
static void error_label(const cb_report_item_t *it, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    if (it->http_status)
        append(buf, size, &n, "HTTP %d", (int)it->http_status);
    if (it->error_code || it->error_message)
        append(buf, size, &n, "%s%s%s%s", n ? " " : "", it->error_code ? it->error_code : "",
               it->error_code && it->error_message ? ": " : "",
               it->error_message ? it->error_message : "");
    if (it->status == CB_STATUS_PENDING && it->ca_request_id)
        append(buf, size, &n, "%sCA request %s", n ? ", " : "", it->ca_request_id);
    if (!n)
        snprintf(buf, size, "-");
}

static int table_status_counts(tab_t *t, const char *c0, const char *c1,
                               const size_t counts[CB_STATUS_COUNT])
{
    char num[CB_STATUS_COUNT + 1][24];
    const char *cells[TAB_COLS_MAX];
    size_t total = 0, k;

    for (k = 0; k < CB_STATUS_COUNT; k++)
        total += counts[k];
    k = 0;
    if (c0)
        cells[k++] = c0;
    cells[k++] = c1;
    fmt_count(num[0], sizeof(num[0]), total);
    cells[k++] = num[0];
    for (size_t s = 0; s < CB_STATUS_COUNT; s++) {
        fmt_count(num[s + 1], sizeof(num[s + 1]), counts[s]);
        cells[k++] = num[s + 1];
    }
    return tab_row(t, cells);
}

static void status_header(const char **cells, size_t k)
{
    size_t s;

    cells[k++] = "TOTAL";
    for (s = 0; s < CB_STATUS_COUNT; s++)
        cells[k++] = cb_outcome_status_name((cb_outcome_status_t)s);
}

int cb_report_write_table(const cb_report_t *r, const cb_report_source_t *src, FILE *out,
                          cb_error_t *err)
{
    view_t vv;
    const view_t *v = &vv;
    tab_t ta = {0}, tg = {0}, to = {0}, tt = {0};
    const char *cells[TAB_COLS_MAX];
    char when[64], a[1200], b[1200], c[600];
    size_t total = cb_report_count(r, -1, -1), done = count_done(r), i, g;
    int act, rc = -1;

    view_of(r, &vv);
    fmt_time(when, sizeof(when), src->generated_at_ms, TIME_MINUTES);
    fprintf(out, "certbridge report: topic %s (%d partition%s, read_committed), %s\n",
            src->topic ? src->topic : "-", src->partitions, src->partitions == 1 ? "" : "s", when);
    fprintf(out,
            "%zu outcomes of %zu events: %zu done (%.1f%%), %zu pending, %zu failed, "
            "%zu rejected, %zu need review\n",
            total, v->events, done, percent(done, total), cb_report_count(r, -1, CB_STATUS_PENDING),
            cb_report_count(r, -1, CB_STATUS_FAILED), cb_report_count(r, -1, CB_STATUS_REJECTED),
            cb_report_count(r, -1, CB_STATUS_NEEDS_REVIEW));
    if (v->duplicates || v->undecodable)
        fprintf(out, "(%zu duplicate outcomes counted once, %zu messages that are not outcomes)\n",
                v->duplicates, v->undecodable);

    /* by action and status */
    ta.ncols = 2 + CB_STATUS_COUNT;
    ta.right = ~1u;
    cells[0] = "ACTION";
    status_header(cells, 1);
    if (tab_row(&ta, cells) < 0)
        goto nomem;
    for (act = 0; act < CB_ACTION_COUNT; act++)
        if (cb_report_count(r, act, -1) &&
            table_status_counts(&ta, NULL, cb_action_name((cb_action_t)act), v->totals[act]) < 0)
            goto nomem;
    {
        size_t all[CB_STATUS_COUNT];
        for (i = 0; i < CB_STATUS_COUNT; i++)
            all[i] = cb_report_count(r, -1, (int)i);
        if (table_status_counts(&ta, NULL, "ALL", all) < 0)
            goto nomem;
    }
    fputs("\nBy action and status\n", out);
    tab_print(&ta, out);

    /* by organization */
    tg.ncols = 3 + CB_STATUS_COUNT;
    tg.right = ~3u;
    cells[0] = "ORGANIZATION";
    cells[1] = "ACTION";
    status_header(cells, 2);
    if (tab_row(&tg, cells) < 0)
        goto nomem;
    for (g = 0; g < v->n_groups; g++) {
        const cb_report_group_t *gr = &v->groups[g];
        bool first = true;
        group_label(gr, a, sizeof(a));
        for (act = 0; act < CB_ACTION_COUNT; act++) {
            if (!group_action_total(gr, act))
                continue;
            if (table_status_counts(&tg, first ? a : "", cb_action_name((cb_action_t)act),
                                    gr->counts[act]) < 0)
                goto nomem;
            first = false;
        }
    }
    fputs("\nBy organization (personal certificates of person events: by event type)\n", out);
    if (v->n_groups)
        tab_print(&tg, out);
    else
        fputs("  (no outcomes)\n", out);

    /* still open */
    to.ncols = 5;
    cells[0] = "STATUS";
    cells[1] = "EVENT";
    cells[2] = "ACTION";
    cells[3] = "HOLDER";
    cells[4] = "ERROR";
    if (tab_row(&to, cells) < 0)
        goto nomem;
    for (i = 0; i < v->n_open; i++) {
        const cb_report_item_t *it = v->open[i];
        holder_label(it, a, sizeof(a));
        error_label(it, b, sizeof(b));
        cells[0] = cb_outcome_status_name(it->status);
        cells[1] = it->source_event_id;
        cells[2] = cb_action_name(it->action);
        cells[3] = a;
        cells[4] = b;
        if (tab_row(&to, cells) < 0)
            goto nomem;
    }
    fprintf(out, "\nStill open (PENDING, FAILED, REJECTED): %zu\n", v->n_open);
    if (v->n_open)
        tab_print(&to, out);

    /* key tokens */
    tt.ncols = 3;
    cells[0] = "TOKEN";
    cells[1] = "HOLDER";
    cells[2] = "EVENT";
    if (tab_row(&tt, cells) < 0)
        goto nomem;
    for (i = 0; i < v->n_tokens; i++) {
        const cb_report_item_t *it = v->tokens[i];
        snprintf(c, sizeof(c), "%s", it->holder_name ? it->holder_name : nz(it->holder_id));
        cells[0] = it->device_id;
        cells[1] = c;
        cells[2] = it->source_event_id;
        if (tab_row(&tt, cells) < 0)
            goto nomem;
    }
    fprintf(out, "\nKey tokens to return to %s: %zu\n", TOKEN_OFFICE, v->n_tokens);
    if (v->n_tokens)
        tab_print(&tt, out);
    rc = ferror(out) ? cb_error_set(err, CB_ERR_IO, "write error") : 0;
    goto out;
nomem:
    cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
out:
    tab_free(&ta);
    tab_free(&tg);
    tab_free(&to);
    tab_free(&tt);
    return rc;
}

/* ---- JSON ------------------------------------------------------------- */

/* A JSON string of a cleaned copy (never invalid UTF-8), or null. */
static json_t *jstr(const char *s)
{
    char *c;
    json_t *j;

    if (!s)
        return json_null();
    c = clean(s, SIZE_MAX / 4);
    j = c ? json_string(c) : NULL;
    free(c);
    return j;
}

/* {"SUCCEEDED": n, ...} with the non-zero counts. */
static json_t *jcounts(const size_t counts[CB_STATUS_COUNT])
{
    json_t *o = json_object();
    int s;

    for (s = 0; s < CB_STATUS_COUNT; s++)
        if (counts[s])
            json_object_set_new(o, cb_outcome_status_name((cb_outcome_status_t)s),
                                json_integer((json_int_t)counts[s]));
    return o;
}

static json_t *jitem(const view_t *v, const cb_report_item_t *it)
{
    json_t *o = json_object();

    json_object_set_new(o, "outcome_id", jstr(it->outcome_id));
    json_object_set_new(o, "source_event_id", jstr(it->source_event_id));
    json_object_set_new(o, "source_event_type", jstr(it->source_event_type));
    json_object_set_new(o, "action", json_string(cb_action_name(it->action)));
    json_object_set_new(o, "holder_type", json_string(cb_holder_type_name(it->holder_type)));
    json_object_set_new(o, "holder_id", jstr(it->holder_id));
    json_object_set_new(o, "holder_name", jstr(it->holder_name));
    json_object_set_new(
        o, "organization",
        jstr(v->groups[it->group].code ? v->groups[it->group].code : v->groups[it->group].name));
    json_object_set_new(o, "certificate_serial", jstr(it->certificate_serial));
    json_object_set_new(o, "device_id", jstr(it->device_id));
    json_object_set_new(o, "status", json_string(cb_outcome_status_name(it->status)));
    json_object_set_new(o, "http_status",
                        it->http_status ? json_integer(it->http_status) : json_null());
    json_object_set_new(o, "error_code", jstr(it->error_code));
    json_object_set_new(o, "error_message", jstr(it->error_message));
    json_object_set_new(o, "ca_request_id", jstr(it->ca_request_id));
    json_object_set_new(o, "processed_at", json_integer(it->processed_at_ms));
    return o;
}

int cb_report_write_json(const cb_report_t *r, const cb_report_source_t *src, FILE *out,
                         cb_error_t *err)
{
    view_t vv;
    const view_t *v = &vv;
    json_t *doc = json_object(), *by_action = json_object(), *groups = json_array(),
           *open = json_array(), *tokens = json_array();
    size_t i, all[CB_STATUS_COUNT];
    char when[64];
    int a, rc;

    view_of(r, &vv);
    fmt_time(when, sizeof(when), src->generated_at_ms, TIME_RFC3339);
    json_object_set_new(doc, "topic", jstr(src->topic));
    json_object_set_new(doc, "partitions", json_integer(src->partitions));
    json_object_set_new(doc, "generated_at", json_string(when));
    json_object_set_new(doc, "outcomes", json_integer((json_int_t)cb_report_count(r, -1, -1)));
    json_object_set_new(doc, "events", json_integer((json_int_t)v->events));
    json_object_set_new(doc, "done", json_integer((json_int_t)count_done(r)));
    json_object_set_new(doc, "duplicates", json_integer((json_int_t)v->duplicates));
    json_object_set_new(doc, "undecodable", json_integer((json_int_t)v->undecodable));
    for (i = 0; i < CB_STATUS_COUNT; i++)
        all[i] = cb_report_count(r, -1, (int)i);
    json_object_set_new(doc, "by_status", jcounts(all));
    for (a = 0; a < CB_ACTION_COUNT; a++)
        if (cb_report_count(r, a, -1))
            json_object_set_new(by_action, cb_action_name((cb_action_t)a), jcounts(v->totals[a]));
    json_object_set_new(doc, "by_action", by_action);
    for (i = 0; i < v->n_groups; i++) {
        const cb_report_group_t *g = &v->groups[i];
        json_t *jg = json_object(), *ja = json_object();
        json_object_set_new(jg, "code", g->code ? jstr(g->code) : json_null());
        json_object_set_new(jg, "name", jstr(g->name));
        json_object_set_new(jg, "event_type", g->event_type ? jstr(g->event_type) : json_null());
        json_object_set_new(jg, "total", json_integer((json_int_t)g->total));
        for (a = 0; a < CB_ACTION_COUNT; a++)
            if (group_action_total(g, a))
                json_object_set_new(ja, cb_action_name((cb_action_t)a), jcounts(g->counts[a]));
        json_object_set_new(jg, "by_action", ja);
        json_array_append_new(groups, jg);
    }
    json_object_set_new(doc, "organizations", groups);
    for (i = 0; i < v->n_open; i++)
        json_array_append_new(open, jitem(v, v->open[i]));
    json_object_set_new(doc, "open", open);
    for (i = 0; i < v->n_tokens; i++)
        json_array_append_new(tokens, jitem(v, v->tokens[i]));
    json_object_set_new(doc, "tokens_to_return", tokens);
    rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (rc < 0 || fputc('\n', out) == EOF || ferror(out))
        return cb_error_set(err, CB_ERR_IO, "write error");
    return 0;
}

/* ---- HTML ------------------------------------------------------------- */

/* Writes s HTML-escaped (after clean()); NULL writes "-". */
static void h(FILE *out, const char *s)
{
    char *c = clean(s, SIZE_MAX / 4);
    const char *p;

    for (p = c ? c : "?"; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(*p, out);
        }
    }
    free(c);
}

static const char html_css[] =
    "body{font-family:\"Noto Sans\",\"DejaVu Sans\",\"Segoe UI\",Roboto,Arial,sans-serif;"
    "margin:24px auto;max-width:1140px;padding:0 16px;color:#1f2933;background:#fff}\n"
    "h1{font-size:24px;margin:0 0 4px}h1 small{display:block;font-size:15px;font-weight:400;"
    "color:#52606d}\n"
    "h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #e4e7eb;padding-bottom:4px}\n"
    "h2 small{font-weight:400;color:#52606d}\n"
    ".src{color:#52606d;font-size:13px}\n"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}\n"
    ".card{border:1px solid #e4e7eb;border-radius:8px;padding:10px 14px;min-width:120px;"
    "font-size:13px;color:#52606d}\n"
    ".card b{display:block;font-size:24px;color:#1f2933}.card.ok b{color:#2e7d32}"
    ".card.wait b{color:#1e88e5}.card.bad b{color:#c62828}\n"
    "table{border-collapse:collapse;width:100%;font-size:13px}\n"
    "th,td{border-bottom:1px solid #e4e7eb;padding:4px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f5f7fa;font-weight:600}th small{display:block;font-weight:400;color:#52606d}\n"
    ".n{text-align:right;font-variant-numeric:tabular-nums}.z{color:#b8c2cc}\n"
    ".st{display:inline-block;padding:1px 6px;border-radius:4px;color:#fff;font-size:12px}\n"
    ".none{color:#52606d;font-style:italic}\n"
    "svg text{font-family:inherit}\n"
    "footer{margin-top:32px;color:#9aa5b1;font-size:12px}\n";

/* The progress chart: one stacked bar per action (and one for all), each
 * bar the statuses of that action's outcomes as shares of 100%. */
static void html_chart(const cb_report_t *r, FILE *out)
{
    const double bar_x = 170, bar_w = 620, row_h = 36, top = 8;
    int rows[CB_ACTION_COUNT + 1], n_rows = 0, i, k;
    double height;

    rows[n_rows++] = -1; /* all actions */
    for (i = 0; i < CB_ACTION_COUNT; i++)
        if (cb_report_count(r, i, -1))
            rows[n_rows++] = i;
    height = top + n_rows * row_h + 40;
    fprintf(out,
            "<svg id=\"progress-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"1060\" "
            "height=\"%.0f\" viewBox=\"0 0 1060 %.0f\" style=\"max-width:100%%;height:auto\" "
            "role=\"img\" "
            "aria-labelledby=\"chart-title\">\n<title id=\"chart-title\">Tiến độ theo thao tác / "
            "Progress by action</title>\n",
            height, height);
    for (i = 0; i < n_rows; i++) {
        int act = rows[i];
        size_t total = cb_report_count(r, act, -1), cum = 0, done;
        double y = top + i * row_h;
        const char *name = act < 0 ? "ALL" : cb_action_name((cb_action_t)act);

        done = cb_report_count(r, act, CB_STATUS_SUCCEEDED) +
               cb_report_count(r, act, CB_STATUS_ALREADY_DONE) +
               cb_report_count(r, act, CB_STATUS_SKIPPED);
        fprintf(out,
                "<text x=\"0\" y=\"%.0f\" font-size=\"13\"%s fill=\"#1f2933\">%s</text>\n"
                "<rect class=\"track\" x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"22\" "
                "rx=\"3\" fill=\"#eef1f4\"/>\n",
                y + 19, act < 0 ? " font-weight=\"700\"" : "", name, bar_x, y + 4, bar_w);
        for (k = 0; k < CB_STATUS_COUNT && total; k++) {
            cb_outcome_status_t s = chart_order[k];
            size_t n = cb_report_count(r, act, (int)s);
            double x0 = bar_x + bar_w * (double)cum / (double)total;
            double x1 = bar_x + bar_w * (double)(cum + n) / (double)total;
            if (!n)
                continue;
            cum += n;
            fprintf(out,
                    "<rect class=\"seg\" data-action=\"%s\" data-status=\"%s\" x=\"%.2f\" "
                    "y=\"%.0f\" width=\"%.2f\" height=\"22\" fill=\"%s\"><title>%s · %s (%s): "
                    "%zu</title></rect>\n",
                    name, cb_outcome_status_name(s), x0, y + 4, x1 - x0 < 1 ? 1 : x1 - x0,
                    status_color[s], name, cb_outcome_status_name(s), status_vi[s], n);
        }
        fprintf(out,
                "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\" fill=\"#1f2933\">%zu/%zu "
                "hoàn tất · done (%.1f%%)</text>\n",
                bar_x + bar_w + 10, y + 19, done, total, percent(done, total));
    }
    for (k = 0; k < CB_STATUS_COUNT; k++) {
        cb_outcome_status_t s = chart_order[k];
        double x = k * 150.0, y = top + n_rows * row_h + 12;
        fprintf(out,
                "<rect class=\"key\" x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" "
                "fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" "
                "fill=\"#52606d\">%s</text>\n",
                x, y, status_color[s], x + 16, y + 10, cb_outcome_status_name(s));
    }
    fputs("</svg>\n", out);
}

static void html_status_head(FILE *out)
{
    int s;

    fputs("<th class=\"n\">Tổng<small>total</small></th>", out);
    for (s = 0; s < CB_STATUS_COUNT; s++)
        fprintf(out, "<th class=\"n\">%s<small>%s</small></th>",
                cb_outcome_status_name((cb_outcome_status_t)s), status_vi[s]);
}

static void html_counts(FILE *out, const size_t counts[CB_STATUS_COUNT])
{
    size_t total = 0;
    int s;

    for (s = 0; s < CB_STATUS_COUNT; s++)
        total += counts[s];
    fprintf(out, "<td class=\"n\">%zu</td>", total);
    for (s = 0; s < CB_STATUS_COUNT; s++) {
        if (counts[s])
            fprintf(out, "<td class=\"n\">%zu</td>", counts[s]);
        else
            fputs("<td class=\"n z\">0</td>", out);
    }
}

static void html_status_badge(FILE *out, cb_outcome_status_t s)
{
    fprintf(out, "<span class=\"st\" style=\"background:%s\">%s</span>", status_color[s],
            cb_outcome_status_name(s));
}

int cb_report_write_html(const cb_report_t *r, const cb_report_source_t *src, FILE *out,
                         cb_error_t *err)
{
    view_t vv;
    const view_t *v = &vv;
    size_t total = cb_report_count(r, -1, -1), done = count_done(r), i, g;
    size_t bad =
        cb_report_count(r, -1, CB_STATUS_FAILED) + cb_report_count(r, -1, CB_STATUS_REJECTED);
    char when[64], buf[1200];
    int a;

    view_of(r, &vv);
    fmt_time(when, sizeof(when), src->generated_at_ms, TIME_MINUTES);
    fprintf(out,
            "<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>certbridge: tiến độ chứng thư số / certificate progress</title>\n"
            "<style>\n%s</style>\n</head>\n<body>\n<header>\n"
            "<h1>Tiến độ cập nhật chứng thư số chuyên dùng công vụ"
            "<small>Certificate actions of the reorganization: progress</small></h1>\n"
            "<p class=\"src\">topic <code>",
            html_css);
    h(out, src->topic);
    fprintf(out, "</code> · %d partition%s · read_committed · %s · certbridge %s</p>\n</header>\n",
            src->partitions, src->partitions == 1 ? "" : "s", when, CB_VERSION);

    fprintf(out,
            "<section class=\"cards\">\n"
            "<div class=\"card\"><b>%zu</b>kết quả · outcomes</div>\n"
            "<div class=\"card\"><b>%zu</b>sự kiện · events</div>\n"
            "<div class=\"card ok\"><b>%.1f%%</b>hoàn tất · done (%zu)</div>\n"
            "<div class=\"card wait\"><b>%zu</b>đang chờ · pending</div>\n"
            "<div class=\"card bad\"><b>%zu</b>thất bại, bị từ chối · failed, rejected</div>\n"
            "<div class=\"card\"><b>%zu</b>cần xem xét · needs review</div>\n"
            "<div class=\"card\"><b>%zu</b>thiết bị cần thu hồi · tokens to return</div>\n"
            "</section>\n",
            total, v->events, percent(done, total), done, cb_report_count(r, -1, CB_STATUS_PENDING),
            bad, cb_report_count(r, -1, CB_STATUS_NEEDS_REVIEW), v->n_tokens);
    if (v->duplicates || v->undecodable)
        fprintf(out,
                "<p class=\"src\">%zu duplicate outcomes counted once; %zu messages of the topic "
                "are not outcomes.</p>\n",
                v->duplicates, v->undecodable);

    fputs("<section>\n<h2>Tiến độ theo thao tác <small>· progress by action (share of each "
          "status)</small></h2>\n",
          out);
    html_chart(r, out);
    fputs("</section>\n", out);

    fputs("<section>\n<h2>Theo thao tác và trạng thái <small>· by action and status</small></h2>\n"
          "<table>\n<thead><tr><th>Thao tác<small>action</small></th>",
          out);
    html_status_head(out);
    fputs("</tr></thead>\n<tbody>\n", out);
    for (a = 0; a < CB_ACTION_COUNT; a++) {
        if (!cb_report_count(r, a, -1))
            continue;
        fprintf(out, "<tr><td>%s<br><small>%s</small></td>", cb_action_name((cb_action_t)a),
                action_vi[a]);
        html_counts(out, v->totals[a]);
        fputs("</tr>\n", out);
    }
    {
        size_t all[CB_STATUS_COUNT];
        for (i = 0; i < CB_STATUS_COUNT; i++)
            all[i] = cb_report_count(r, -1, (int)i);
        fputs("<tr><th>ALL</th>", out);
        html_counts(out, all);
        fputs("</tr>\n</tbody>\n</table>\n</section>\n", out);
    }

    fputs("<section>\n<h2>Theo cơ quan, tổ chức <small>· by organization (personal "
          "certificates of person events: by event type)</small></h2>\n",
          out);
    if (!v->n_groups) {
        fputs("<p class=\"none\">Chưa có kết quả · no outcomes yet</p>\n", out);
    } else {
        fputs("<table>\n<thead><tr><th>Cơ quan<small>organization</small></th>"
              "<th>Thao tác<small>action</small></th>",
              out);
        html_status_head(out);
        fputs("<th class=\"n\">Hoàn tất<small>done</small></th></tr></thead>\n<tbody>\n", out);
        for (g = 0; g < v->n_groups; g++) {
            const cb_report_group_t *gr = &v->groups[g];
            int rows = 0;
            bool first = true;
            for (a = 0; a < CB_ACTION_COUNT; a++)
                rows += group_action_total(gr, a) > 0;
            for (a = 0; a < CB_ACTION_COUNT; a++) {
                size_t n = group_action_total(gr, a);
                if (!n)
                    continue;
                fputs("<tr>", out);
                if (first) {
                    fprintf(out, "<td rowspan=\"%d\">", rows);
                    if (gr->event_type) {
                        fputs("Chứng thư số cá nhân<br><small>", out);
                        h(out, gr->name);
                        fputs("</small>", out);
                    } else {
                        fputs("<code>", out);
                        h(out, *gr->code ? gr->code : NULL);
                        fputs("</code> ", out);
                        h(out, gr->name);
                    }
                    fputs("</td>", out);
                    first = false;
                }
                fprintf(out, "<td>%s</td>", cb_action_name((cb_action_t)a));
                html_counts(out, gr->counts[a]);
                fprintf(out, "<td class=\"n\">%.0f%%</td></tr>\n", percent(group_done(gr, a), n));
            }
        }
        fputs("</tbody>\n</table>\n", out);
    }
    fputs("</section>\n", out);

    fprintf(out,
            "<section>\n<h2>Còn tồn đọng <small>· still open: PENDING, FAILED, REJECTED "
            "(%zu)</small></h2>\n",
            v->n_open);
    if (!v->n_open) {
        fputs("<p class=\"none\">Không có · none</p>\n", out);
    } else {
        fputs("<table>\n<thead><tr><th>Trạng thái<small>status</small></th>"
              "<th>Sự kiện<small>event</small></th><th>Thao tác<small>action</small></th>"
              "<th>Chủ thể<small>holder</small></th><th>Chứng thư<small>certificate</small></th>"
              "<th>Lỗi<small>error</small></th><th>Lúc<small>processed (UTC)</small></th>"
              "</tr></thead>\n<tbody>\n",
              out);
        for (i = 0; i < v->n_open; i++) {
            const cb_report_item_t *it = v->open[i];
            fputs("<tr><td>", out);
            html_status_badge(out, it->status);
            fputs("</td><td>", out);
            h(out, it->source_event_id);
            fputs("<br><small>", out);
            h(out, it->source_event_type);
            fprintf(out, "</small></td><td>%s</td><td>", cb_action_name(it->action));
            h(out, it->holder_id);
            fputs(" ", out);
            h(out, it->holder_name ? it->holder_name : "");
            fputs("</td><td><code>", out);
            h(out, it->certificate_serial);
            fputs("</code></td><td>", out);
            error_label(it, buf, sizeof(buf));
            h(out, buf);
            fmt_time(when, sizeof(when), it->processed_at_ms, TIME_SECONDS);
            fprintf(out, "</td><td>%s</td></tr>\n", when);
        }
        fputs("</tbody>\n</table>\n", out);
    }
    fputs("</section>\n", out);

    fprintf(out,
            "<section>\n<h2>Thiết bị lưu khóa bí mật cần thu hồi <small>· key tokens to return "
            "to %s (Cục Chứng thực số và Bảo mật thông tin): %zu</small></h2>\n",
            TOKEN_OFFICE, v->n_tokens);
    if (!v->n_tokens) {
        fputs("<p class=\"none\">Không có · none</p>\n", out);
    } else {
        fputs("<table>\n<thead><tr><th>Thiết bị<small>token</small></th>"
              "<th>Chủ thể<small>holder</small></th><th>Cơ quan<small>organization</small></th>"
              "<th>Sự kiện<small>event</small></th></tr></thead>\n<tbody>\n",
              out);
        for (i = 0; i < v->n_tokens; i++) {
            const cb_report_item_t *it = v->tokens[i];
            const cb_report_group_t *gr = &v->groups[it->group];
            fputs("<tr><td><code>", out);
            h(out, it->device_id);
            fputs("</code></td><td>", out);
            h(out, it->holder_id);
            fputs(" ", out);
            h(out, it->holder_name ? it->holder_name : "");
            fputs("</td><td>", out);
            group_label(gr, buf, sizeof(buf));
            h(out, buf);
            fputs("</td><td>", out);
            h(out, it->source_event_id);
            fputs("</td></tr>\n", out);
        }
        fputs("</tbody>\n</table>\n", out);
    }
    fputs("</section>\n<footer>certbridge report · read_committed outcomes of the topic above; "
          "done = SUCCEEDED, ALREADY_DONE or SKIPPED (no certificate to act on)</footer>\n"
          "</body>\n</html>\n",
          out);
    if (ferror(out))
        return cb_error_set(err, CB_ERR_IO, "write error");
    return 0;
}

int cb_report_save_html(const cb_report_t *r, const cb_report_source_t *src, const char *path,
                        cb_error_t *err)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    FILE *f;
    int rc = -1;

    if (!tmp)
        return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    if (!(f = fopen(tmp, "w"))) {
        cb_error_set(err, CB_ERR_IO, "--html %s: %s", tmp, strerror(errno));
        goto out;
    }
    rc = cb_report_write_html(r, src, f, err);
    if (fclose(f) != 0 && rc == 0)
        rc = cb_error_set(err, CB_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = cb_error_set(err, CB_ERR_IO, "%s: %s", path, strerror(errno));
    if (rc < 0) {
        cb_error_prefix(err, "--html %s", path);
        unlink(tmp);
    }
out:
    free(tmp);
    return rc;
}
