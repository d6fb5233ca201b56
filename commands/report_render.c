/*
 * report_render.c: the writers of `certbridge report` (see report.h): a
 * terminal table, a JSON document and a self-contained HTML page. They read
 * a finished report through report.h's accessors only.
 */
#include "certbridge/report.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certbridge/html.h"
#include "certbridge/table.h"
#include "certbridge/version.h"

#define CELL_MAX 400 /* bytes of one terminal table cell (long errors are cut) */

/* Order of the statuses in the chart: done, then waiting for people, then
 * open. The tables use the contract's order (outcome.h). */
static const cb_outcome_status_t chart_order[CB_STATUS_COUNT] = {
    CB_STATUS_SUCCEEDED, CB_STATUS_ALREADY_DONE,      CB_STATUS_SKIPPED,
    CB_STATUS_CANCELLED, CB_STATUS_NEEDS_REVIEW,      CB_STATUS_PENDING,
    CB_STATUS_SCHEDULED, CB_STATUS_AWAITING_APPROVAL, CB_STATUS_REJECTED,
    CB_STATUS_FAILED};
static const char *const status_color[CB_STATUS_COUNT] = {
    "#2e7d32", "#81c784", "#1e88e5", "#ef6c00", "#c62828",
    "#b0bec5", "#f9a825", "#8e24aa", "#6d4c41", "#5c6bc0"};
static const char *const status_vi[CB_STATUS_COUNT] = {
    "thành công", "đã thực hiện", "đang chờ",          "bị từ chối", "thất bại",
    "bỏ qua",     "cần xem xét",  "chờ ngày hiệu lực", "đã hủy",     "chờ phê duyệt"};
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
    size_t n_tokens, tokens_out;
    const cb_report_agency_t *agencies;
    size_t n_agencies;
    const cb_report_event_type_t *types;
    size_t n_types;
    bool returns_checked;
    int64_t now_ms;
    const cb_report_item_t *const *pending;
    size_t n_pending, n_overdue;
    cb_report_clock_t clock;
    size_t events, duplicates, undecodable;
    size_t totals[CB_ACTION_COUNT][CB_STATUS_COUNT];
} view_t;

/* Reads what the writers show of a finished report through report.h. */
static void view_of(const cb_report_t *r, const cb_report_source_t *src, view_t *v)
{
    v->now_ms = src->generated_at_ms;
    int a, s;

    v->groups = cb_report_groups(r, &v->n_groups);
    v->open = cb_report_open(r, &v->n_open);
    v->tokens = cb_report_tokens(r, &v->n_tokens);
    v->tokens_out = cb_report_tokens_out(r);
    v->agencies = cb_report_agencies(r, &v->n_agencies);
    v->types = cb_report_event_types(r, &v->n_types);
    v->returns_checked = cb_report_returns_checked(r);
    v->pending = cb_report_pending(r, &v->n_pending);
    cb_report_overdue(r, &v->n_overdue);
    cb_report_get_clock(r, &v->clock);
    v->events = cb_report_event_count(r);
    v->duplicates = cb_report_duplicates(r);
    v->undecodable = cb_report_undecodable(r);
    for (a = 0; a < CB_ACTION_COUNT; a++)
        for (s = 0; s < CB_STATUS_COUNT; s++)
            v->totals[a][s] = cb_report_count(r, a, s);
}

/* s, or "" for a field the outcome left null: for printf and comparisons. */
static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Outcomes done: SUCCEEDED, ALREADY_DONE, or SKIPPED (no certificate to act on). */
static size_t count_done(const cb_report_t *r)
{
    return cb_report_count(r, -1, CB_STATUS_SUCCEEDED) +
           cb_report_count(r, -1, CB_STATUS_ALREADY_DONE) +
           cb_report_count(r, -1, CB_STATUS_SKIPPED);
}

/* Outcomes of action a in group g, whatever their status. */
static size_t group_action_total(const cb_report_group_t *g, int a)
{
    size_t n = 0;
    int s;

    for (s = 0; s < CB_STATUS_COUNT; s++)
        n += g->counts[a][s];
    return n;
}

/* Outcomes of action a in group g that are done (as count_done). */
static size_t group_done(const cb_report_group_t *g, int a)
{
    return g->counts[a][CB_STATUS_SUCCEEDED] + g->counts[a][CB_STATUS_ALREADY_DONE] +
           g->counts[a][CB_STATUS_SKIPPED];
}

/* part as a percentage of whole; 0 for an empty whole (no division by zero). */
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

/* "N", or "-" for zero: the terminal tables leave zeros out of sight. */
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

/* "CODE Name" of a group (the label of a personal group); a label longer
 * than buf is cut at a character. */
static void group_label(const cb_report_group_t *g, char *buf, size_t size)
{
    if (g->event_type)
        cb_table_cellf(buf, size, "%s", or_empty(g->name));
    else
        cb_table_cellf(buf, size, "%s %s", g->code && *g->code ? g->code : "-", or_empty(g->name));
}

/* Whole days since a token's recall (its outcome's time) at the report's
 * time; 0 when unknown. */
static long long days_out(const view_t *v, const cb_report_item_t *it)
{
    return it->processed_at_ms > 0 && v->now_ms > it->processed_at_ms
               ? (long long)((v->now_ms - it->processed_at_ms) / 86400000)
               : 0;
}

/* "CODE Name" of a managing agency. */
static void agency_label(const cb_report_agency_t *a, char *buf, size_t size)
{
    if (a->code)
        cb_table_cellf(buf, size, "%s %s", a->code, or_empty(a->name));
    else
        cb_table_cellf(buf, size, "%s", or_empty(a->name));
}

/* "ID Name" of an item's holder, for the open items' HOLDER column. */
static void holder_label(const cb_report_item_t *it, char *buf, size_t size)
{
    cb_table_cellf(buf, size, "%s %s", it->holder_id ? it->holder_id : "-",
                   or_empty(it->holder_name));
}

/* What went wrong (or what is awaited) for an open item:
 * "HTTP 409 code: message", "HTTP 202, CA request ID", or "-". A label
 * longer than buf is cut at a character. */
static void error_label(const cb_report_item_t *it, char *buf, size_t size)
{
    char http[24] = "";
    size_t n;

    if (it->http_status)
        snprintf(http, sizeof(http), "HTTP %d", (int)it->http_status);
    cb_table_cellf(buf, size, "%s%s%s%s%s", http,
                   *http && (it->error_code || it->error_message) ? " " : "",
                   or_empty(it->error_code), it->error_code && it->error_message ? ": " : "",
                   or_empty(it->error_message));
    n = strlen(buf);
    if (it->status == CB_STATUS_PENDING && it->ca_request_id)
        cb_table_cellf(buf + n, size - n, "%sCA request %s", n ? ", " : "", it->ca_request_id);
    if (!*buf)
        snprintf(buf, size, "-");
}

/* A working age as people read it: "4.5 working days (108 h)", days of 24
 * working hours (Monday to Friday), tenths and hours cut, not rounded; "-"
 * for a PENDING item whose age is unknown, "" for other items. */
static void fmt_age(const cb_report_item_t *it, char *buf, size_t size)
{
    long long ms = (long long)it->pending_working_ms;

    if (it->status != CB_STATUS_PENDING)
        snprintf(buf, size, "%s", "");
    else if (it->processed_at_ms <= 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%lld.%lld working days (%lld h)", ms / 86400000, ms / 8640000 % 10,
                 ms / 3600000);
}

/* "UTC+07:00" for a working time zone of minutes east of UTC. */
static void fmt_offset(int minutes, char *buf, size_t size)
{
    int a = minutes < 0 ? -minutes : minutes;

    snprintf(buf, size, "UTC%c%02d:%02d", minutes < 0 ? '-' : '+', a / 60, a % 60);
}

/* The label of a pending item's agency (with a registry) or group. */
static void pending_owner(const view_t *v, const cb_report_item_t *it, char *buf, size_t size)
{
    if (v->n_agencies)
        agency_label(&v->agencies[it->agency], buf, size);
    else
        group_label(&v->groups[it->group], buf, size);
}

/* Appends a row of cells made fit for a terminal by cb_html_clean(), each at most
 * CELL_MAX bytes; NULL cells are empty. */
static int add_clean_row(cb_table_t *t, const char *const *cells, size_t n,
                         cb_table_row_kind_t kind, cb_error_t *err)
{
    char *c[CB_TABLE_MAX_COLS] = {NULL};
    size_t k;
    int rc = -1;

    for (k = 0; k < n; k++) {
        if (!(c[k] = cb_html_clean(cells[k] ? cells[k] : "", CELL_MAX))) {
            cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
            goto out;
        }
    }
    rc = cb_table_add_row(t, (const char *const *)c, kind, err);
out:
    for (k = 0; k < n; k++)
        free(c[k]);
    return rc;
}

/* Fills cols[k..] with the right-aligned TOTAL and status columns; returns
 * the column count. */
static size_t status_columns(cb_table_column_t *cols, size_t k)
{
    size_t s;

    cols[k++] = (cb_table_column_t){.title = "TOTAL", .align = CB_TABLE_RIGHT};
    for (s = 0; s < CB_STATUS_COUNT; s++)
        cols[k++] = (cb_table_column_t){.title = cb_outcome_status_name((cb_outcome_status_t)s),
                                        .align = CB_TABLE_RIGHT};
    return k;
}

/* Appends a row of labels then the total and the count of each status
 * (c0 NULL: no first label). */
static int add_status_counts(cb_table_t *t, const char *c0, const char *c1,
                             const size_t counts[CB_STATUS_COUNT], cb_table_row_kind_t kind,
                             cb_error_t *err)
{
    char num[CB_STATUS_COUNT + 1][24];
    const char *cells[CB_TABLE_MAX_COLS];
    size_t total = 0, k = 0, s;

    for (s = 0; s < CB_STATUS_COUNT; s++)
        total += counts[s];
    if (c0)
        cells[k++] = c0;
    cells[k++] = c1;
    fmt_count(num[0], sizeof(num[0]), total);
    cells[k++] = num[0];
    for (s = 0; s < CB_STATUS_COUNT; s++) {
        fmt_count(num[s + 1], sizeof(num[s + 1]), counts[s]);
        cells[k++] = num[s + 1];
    }
    return add_clean_row(t, cells, k, kind, err);
}

/* Writes a finished table and frees it; -1 with err when t is NULL (its
 * construction failed) or writing fails. */
static int write_and_destroy(cb_table_t *t, FILE *out, cb_error_t *err)
{
    int rc = t ? cb_table_write(t, out, err) : -1;

    cb_table_destroy(t);
    return rc;
}

/* The counts by action and status, and a line for all actions. */
static int text_by_action(const cb_report_t *r, const view_t *v, FILE *out, cb_error_t *err)
{
    cb_table_column_t cols[CB_TABLE_MAX_COLS] = {{.title = "ACTION"}};
    size_t n = status_columns(cols, 1), all[CB_STATUS_COUNT], s;
    cb_table_t *t = cb_table_new(cols, n, err);
    int a;

    for (a = 0; t && a < CB_ACTION_COUNT; a++)
        if (cb_report_count(r, a, -1) && add_status_counts(t, NULL, cb_action_name((cb_action_t)a),
                                                           v->totals[a], CB_TABLE_ROW, err) < 0)
            goto fail;
    for (s = 0; s < CB_STATUS_COUNT; s++)
        all[s] = cb_report_count(r, -1, (int)s);
    if (t && add_status_counts(t, NULL, "ALL", all, CB_TABLE_ROW, err) < 0)
        goto fail;
    fputs("\nBy action and status\n", out);
    return write_and_destroy(t, out, err);
fail:
    cb_table_destroy(t);
    return -1;
}

/* The counts of each group by action: the group's label on its first row. */
static int text_by_group(const view_t *v, FILE *out, cb_error_t *err)
{
    cb_table_column_t cols[CB_TABLE_MAX_COLS] = {{.title = "ORGANIZATION", .grouped = true},
                                                 {.title = "ACTION"}};
    size_t n = status_columns(cols, 2), g;
    cb_table_t *t = cb_table_new(cols, n, err);
    char label[1200];
    int a;

    for (g = 0; t && g < v->n_groups; g++) {
        const cb_report_group_t *gr = &v->groups[g];
        cb_table_row_kind_t kind = CB_TABLE_ROW;
        group_label(gr, label, sizeof(label));
        for (a = 0; a < CB_ACTION_COUNT; a++) {
            if (!group_action_total(gr, a))
                continue;
            if (add_status_counts(t, label, cb_action_name((cb_action_t)a), gr->counts[a], kind,
                                  err) < 0)
                goto fail;
            kind = CB_TABLE_CONTINUATION;
        }
    }
    fputs("\nBy organization (personal certificates of person events: by event type)\n", out);
    if (t && !v->n_groups) {
        cb_table_destroy(t);
        fputs("  (no outcomes)\n", out);
        return 0;
    }
    return write_and_destroy(t, out, err);
fail:
    cb_table_destroy(t);
    return -1;
}

/* The counts of each event type (or managing agency) by action: its label
 * on its first row. */
static int text_by_label(const char *title, const char *heading, const char *const *labels,
                         const size_t (*const *counts)[CB_STATUS_COUNT], size_t n, FILE *out,
                         cb_error_t *err)
{
    cb_table_column_t cols[CB_TABLE_MAX_COLS] = {{.title = title, .grouped = true},
                                                 {.title = "ACTION"}};
    size_t k = status_columns(cols, 2), i, total;
    cb_table_t *t = cb_table_new(cols, k, err);
    int a, s;

    for (i = 0; t && i < n; i++) {
        cb_table_row_kind_t kind = CB_TABLE_ROW;
        for (a = 0; a < CB_ACTION_COUNT; a++) {
            for (total = 0, s = 0; s < CB_STATUS_COUNT; s++)
                total += counts[i][a][s];
            if (!total)
                continue;
            if (add_status_counts(t, labels[i], cb_action_name((cb_action_t)a), counts[i][a], kind,
                                  err) < 0)
                goto fail;
            kind = CB_TABLE_CONTINUATION;
        }
    }
    fputs(heading, out);
    return write_and_destroy(t, out, err);
fail:
    cb_table_destroy(t);
    return -1;
}

/* By event type, and by managing agency (with a registry). */
static int text_by_type_and_agency(const view_t *v, FILE *out, cb_error_t *err)
{
    size_t n = v->n_types > v->n_agencies ? v->n_types : v->n_agencies, i;
    const char **labels = calloc(n + 1, sizeof(*labels));
    const size_t(**counts)[CB_STATUS_COUNT] = calloc(n + 1, sizeof(*counts));
    char *names = malloc((n + 1) * 1200);
    int rc = -1;

    if (!labels || !counts || !names) {
        cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        goto out;
    }
    for (i = 0; i < v->n_types; i++) {
        labels[i] = v->types[i].type;
        counts[i] = v->types[i].counts;
    }
    if (text_by_label("EVENT TYPE", "\nBy event type\n", labels, counts, v->n_types, out, err) < 0)
        goto out;
    if (!v->n_agencies) {
        fputs("\nBy managing agency: needs the organization registry (--registry FILE)\n", out);
        rc = 0;
        goto out;
    }
    for (i = 0; i < v->n_agencies; i++) {
        agency_label(&v->agencies[i], names + i * 1200, 1200);
        labels[i] = names + i * 1200;
        counts[i] = v->agencies[i].counts;
    }
    rc = text_by_label("MANAGING AGENCY",
                       "\nBy managing agency (the agency whose head signs the requests)\n", labels,
                       counts, v->n_agencies, out, err);
out:
    free(labels);
    free(counts);
    free(names);
    return rc;
}

/* The open items (PENDING, FAILED, REJECTED) with what went wrong. */
static int text_open(const view_t *v, FILE *out, cb_error_t *err)
{
    static const cb_table_column_t cols[] = {
        {.title = "STATUS"}, {.title = "EVENT"}, {.title = "ACTION"},
        {.title = "HOLDER"}, {.title = "ERROR"}, {.title = "PENDING FOR"},
    };
    cb_table_t *t = cb_table_new(cols, sizeof(cols) / sizeof(cols[0]), err);
    char holder[1200], error[1200], age[64];
    size_t i;

    for (i = 0; t && i < v->n_open; i++) {
        const cb_report_item_t *it = v->open[i];
        const char *cells[] = {cb_outcome_status_name(it->status),
                               it->source_event_id,
                               cb_action_name(it->action),
                               holder,
                               error,
                               age};
        holder_label(it, holder, sizeof(holder));
        error_label(it, error, sizeof(error));
        fmt_age(it, age, sizeof(age));
        if (add_clean_row(t, cells, 6, CB_TABLE_ROW, err) < 0)
            goto fail;
    }
    fprintf(out, "\nStill open (PENDING, FAILED, REJECTED): %zu\n", v->n_open);
    if (t && !v->n_open) {
        cb_table_destroy(t);
        return 0;
    }
    return write_and_destroy(t, out, err);
fail:
    cb_table_destroy(t);
    return -1;
}

/* Row i of the pending summary (per agency with a registry, else per
 * organization): its label, when its oldest pending action was answered
 * PENDING and for how long, in working time. NULL when nothing of row i is
 * pending. */
static const cb_report_pending_sum_t *pending_row(const view_t *v, size_t i, char *label,
                                                  size_t lsize, char *since, size_t ssize,
                                                  char *age, size_t asize)
{
    const cb_report_pending_sum_t *ps =
        v->n_agencies ? &v->agencies[i].pending : &v->groups[i].pending;
    cb_report_item_t oldest = {.status = CB_STATUS_PENDING};

    if (!ps->pending)
        return NULL;
    if (v->n_agencies)
        agency_label(&v->agencies[i], label, lsize);
    else
        group_label(&v->groups[i], label, lsize);
    oldest.processed_at_ms = ps->oldest_since_ms;
    oldest.pending_working_ms = ps->oldest_working_ms;
    fmt_time(since, ssize, ps->oldest_since_ms, TIME_SECONDS);
    fmt_age(&oldest, age, asize);
    return ps;
}

/* The pending actions per managing agency (per organization without a
 * registry): how many, how many overdue, the oldest; then the overdue
 * list, oldest first, for the officers who chase the CA. */
static int text_pending(const view_t *v, FILE *out, cb_error_t *err)
{
    static const cb_table_column_t sum_cols[] = {
        {.title = "WHO", .max_width = 48},
        {.title = "PENDING", .align = CB_TABLE_RIGHT},
        {.title = "OVERDUE", .align = CB_TABLE_RIGHT},
        {.title = "OLDEST SINCE (UTC)"},
        {.title = "OLDEST PENDING FOR"},
    };
    static const cb_table_column_t list_cols[] = {
        {.title = "WHO", .max_width = 48},
        {.title = "HOLDER"},
        {.title = "ACTION"},
        {.title = "EVENT"},
        {.title = "CA REQUEST"},
        {.title = "SINCE (UTC)"},
        {.title = "PENDING FOR"},
    };
    cb_table_column_t sc[5], lc[7];
    const char *who = v->n_agencies ? "MANAGING AGENCY" : "ORGANIZATION";
    size_t n = v->n_agencies ? v->n_agencies : v->n_groups, i;
    char when[64], off[16], label[1200], holder[1200], since[64], age[64], num[2][24];
    cb_table_t *t;

    memcpy(sc, sum_cols, sizeof(sc));
    memcpy(lc, list_cols, sizeof(lc));
    sc[0].title = lc[0].title = who;
    fmt_time(when, sizeof(when), v->clock.now_ms, TIME_MINUTES);
    fmt_offset(v->clock.utc_offset_min, off, sizeof(off));
    fprintf(out,
            "\nPending at the CA: %zu, %zu overdue (pending %d working hours or more; working "
            "days Monday to Friday, %s; ages at %s)\n",
            v->n_pending, v->n_overdue, v->clock.deadline_hours, off, when);
    if (!v->n_pending)
        return 0;
    if (!(t = cb_table_new(sc, 5, err)))
        return -1;
    for (i = 0; i < n; i++) {
        const char *cells[] = {label, num[0], num[1], since, age};
        const cb_report_pending_sum_t *ps =
            pending_row(v, i, label, sizeof(label), since, sizeof(since), age, sizeof(age));
        if (!ps)
            continue;
        fmt_count(num[0], sizeof(num[0]), ps->pending);
        fmt_count(num[1], sizeof(num[1]), ps->overdue);
        if (add_clean_row(t, cells, 5, CB_TABLE_ROW, err) < 0) {
            cb_table_destroy(t);
            return -1;
        }
    }
    if (write_and_destroy(t, out, err) < 0)
        return -1;
    fprintf(out, "\nOverdue at the CA (pending %d working hours or more), oldest first: %zu\n",
            v->clock.deadline_hours, v->n_overdue);
    if (!v->n_overdue)
        return 0;
    if (!(t = cb_table_new(lc, 7, err)))
        return -1;
    for (i = 0; i < v->n_overdue; i++) {
        const cb_report_item_t *it = v->pending[i];
        const char *cells[] = {label,
                               holder,
                               cb_action_name(it->action),
                               it->source_event_id,
                               it->ca_request_id ? it->ca_request_id : "-",
                               since,
                               age};
        pending_owner(v, it, label, sizeof(label));
        holder_label(it, holder, sizeof(holder));
        fmt_time(since, sizeof(since), it->processed_at_ms, TIME_SECONDS);
        fmt_age(it, age, sizeof(age));
        if (add_clean_row(t, cells, 7, CB_TABLE_ROW, err) < 0) {
            cb_table_destroy(t);
            return -1;
        }
    }
    return write_and_destroy(t, out, err);
}

/* The key tokens to return, one per device: those still out, with their
 * managing agency and days since the recall; returned ones after. */
static int text_tokens(const view_t *v, FILE *out, cb_error_t *err)
{
    static const cb_table_column_t cols[] = {{.title = "TOKEN"},
                                             {.title = "HOLDER"},
                                             {.title = "MANAGING AGENCY", .max_width = 48},
                                             {.title = "EVENT"},
                                             {.title = "DAYS OUT", .align = CB_TABLE_RIGHT}};
    cb_table_t *t = cb_table_new(cols, sizeof(cols) / sizeof(cols[0]), err);
    char label[1200], days[48];
    size_t i;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        for (i = 0; t && i < v->n_tokens; i++) {
            const cb_report_item_t *it = v->tokens[i];
            const char *cells[] = {it->device_id, it->holder_name ? it->holder_name : it->holder_id,
                                   label, it->source_event_id, days};
            if ((pass == 0) != (it->returned_at_ms == 0))
                continue;
            if (v->n_agencies)
                agency_label(&v->agencies[it->agency], label, sizeof(label));
            else
                snprintf(label, sizeof(label), "-");
            if (it->returned_at_ms)
                snprintf(days, sizeof(days), "returned");
            else
                snprintf(days, sizeof(days), "%lld", days_out(v, it));
            if (add_clean_row(t, cells, 5, CB_TABLE_ROW, err) < 0)
                goto fail;
        }
    }
    fprintf(out, "\nKey tokens to return to %s: %zu\n", TOKEN_OFFICE, v->n_tokens);
    fprintf(out, "%zu still out%s\n", v->tokens_out,
            v->returns_checked ? ", returns as the CA recorded them"
                               : " (returns not checked: --tokens-from-ca asks the CA)");
    if (t && !v->n_tokens) {
        cb_table_destroy(t);
        return 0;
    }
    return write_and_destroy(t, out, err);
fail:
    cb_table_destroy(t);
    return -1;
}

int cb_report_write_table(const cb_report_t *r, const cb_report_source_t *src, FILE *out,
                          cb_error_t *err)
{
    view_t v;
    char when[64];
    size_t total = cb_report_count(r, -1, -1), done = count_done(r);

    view_of(r, src, &v);
    fmt_time(when, sizeof(when), src->generated_at_ms, TIME_MINUTES);
    fprintf(out, "certbridge report: topic %s (%d partition%s, read_committed), %s\n",
            src->topic ? src->topic : "-", src->partitions, src->partitions == 1 ? "" : "s", when);
    fprintf(out,
            "%zu outcomes of %zu events: %zu done (%.1f%%), %zu pending, %zu failed, "
            "%zu rejected, %zu need review\n",
            total, v.events, done, percent(done, total), cb_report_count(r, -1, CB_STATUS_PENDING),
            cb_report_count(r, -1, CB_STATUS_FAILED), cb_report_count(r, -1, CB_STATUS_REJECTED),
            cb_report_count(r, -1, CB_STATUS_NEEDS_REVIEW));
    if (v.duplicates || v.undecodable)
        fprintf(out, "(%zu duplicate outcomes counted once, %zu messages that are not outcomes)\n",
                v.duplicates, v.undecodable);
    if (text_by_action(r, &v, out, err) < 0 || text_by_group(&v, out, err) < 0 ||
        text_by_type_and_agency(&v, out, err) < 0 || text_open(&v, out, err) < 0 ||
        text_pending(&v, out, err) < 0 || text_tokens(&v, out, err) < 0)
        return -1;
    return ferror(out) ? cb_error_set(err, CB_ERR_IO, "write error") : 0;
}

/* ---- JSON ------------------------------------------------------------- */

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

/* One open item or token as a JSON object, with its group as "organization". */
static json_t *jitem(const view_t *v, const cb_report_item_t *it)
{
    json_t *o = json_object();

    json_object_set_new(o, "outcome_id", cb_html_json_string(it->outcome_id));
    json_object_set_new(o, "source_event_id", cb_html_json_string(it->source_event_id));
    json_object_set_new(o, "source_event_type", cb_html_json_string(it->source_event_type));
    json_object_set_new(o, "action", json_string(cb_action_name(it->action)));
    json_object_set_new(o, "holder_type", json_string(cb_holder_type_name(it->holder_type)));
    json_object_set_new(o, "holder_id", cb_html_json_string(it->holder_id));
    json_object_set_new(o, "holder_name", cb_html_json_string(it->holder_name));
    json_object_set_new(o, "organization",
                        cb_html_json_string(v->groups[it->group].code ? v->groups[it->group].code
                                                                      : v->groups[it->group].name));
    json_object_set_new(o, "certificate_serial", cb_html_json_string(it->certificate_serial));
    json_object_set_new(o, "device_id", cb_html_json_string(it->device_id));
    json_object_set_new(o, "status", json_string(cb_outcome_status_name(it->status)));
    json_object_set_new(o, "http_status",
                        it->http_status ? json_integer(it->http_status) : json_null());
    json_object_set_new(o, "error_code", cb_html_json_string(it->error_code));
    json_object_set_new(o, "error_message", cb_html_json_string(it->error_message));
    json_object_set_new(o, "ca_request_id", cb_html_json_string(it->ca_request_id));
    json_object_set_new(o, "processed_at", json_integer(it->processed_at_ms));
    if (v->n_agencies) {
        json_object_set_new(o, "agency_code", cb_html_json_string(v->agencies[it->agency].code));
        json_object_set_new(o, "agency_name", cb_html_json_string(v->agencies[it->agency].name));
    }
    if (it->status == CB_STATUS_PENDING) {
        char since[64];
        fmt_time(since, sizeof(since), it->processed_at_ms, TIME_RFC3339);
        json_object_set_new(o, "pending_since",
                            it->processed_at_ms > 0 ? json_string(since) : json_null());
        json_object_set_new(o, "pending_working_ms", json_integer(it->pending_working_ms));
        json_object_set_new(o, "pending_working_hours",
                            json_integer(it->pending_working_ms / 3600000));
        json_object_set_new(o, "overdue", json_boolean(it->overdue));
    }
    if (it->action == CB_ACTION_RECALL_DEVICE) {
        json_object_set_new(o, "returned", json_boolean(it->returned_at_ms != 0));
        if (!it->returned_at_ms)
            json_object_set_new(o, "days_out", json_integer(days_out(v, it)));
    }
    return o;
}

/* {"ACTION": {"STATUS": n}} with the non-zero counts. */
static json_t *jby_action(const size_t counts[CB_ACTION_COUNT][CB_STATUS_COUNT])
{
    json_t *o = json_object();
    int a, s;

    for (a = 0; a < CB_ACTION_COUNT; a++) {
        size_t n = 0;
        for (s = 0; s < CB_STATUS_COUNT; s++)
            n += counts[a][s];
        if (n)
            json_object_set_new(o, cb_action_name((cb_action_t)a), jcounts(counts[a]));
    }
    return o;
}

/* One group's or agency's pending summary as a JSON object. */
static json_t *jpending_sum(const char *code, const char *name, const cb_report_pending_sum_t *ps)
{
    json_t *o = json_object();
    char since[64];

    fmt_time(since, sizeof(since), ps->oldest_since_ms, TIME_RFC3339);
    json_object_set_new(o, "code", cb_html_json_string(code));
    json_object_set_new(o, "name", cb_html_json_string(name));
    json_object_set_new(o, "pending", json_integer((json_int_t)ps->pending));
    json_object_set_new(o, "overdue", json_integer((json_int_t)ps->overdue));
    json_object_set_new(o, "oldest_since",
                        ps->oldest_since_ms > 0 ? json_string(since) : json_null());
    json_object_set_new(o, "oldest_working_hours", json_integer(ps->oldest_working_ms / 3600000));
    return o;
}

/* "pending": the clock of the ages, the summaries per managing agency (with
 * a registry) and per organization, the overdue items oldest first. */
static json_t *jpending(const view_t *v)
{
    json_t *o = json_object(), *ag = json_array(), *gr = json_array(), *od = json_array();
    char now[64];
    size_t i;

    fmt_time(now, sizeof(now), v->clock.now_ms, TIME_RFC3339);
    json_object_set_new(o, "now", json_string(now));
    json_object_set_new(o, "deadline_working_hours", json_integer(v->clock.deadline_hours));
    json_object_set_new(o, "working_utc_offset_minutes", json_integer(v->clock.utc_offset_min));
    json_object_set_new(o, "count", json_integer((json_int_t)v->n_pending));
    json_object_set_new(o, "overdue_count", json_integer((json_int_t)v->n_overdue));
    for (i = 0; i < v->n_agencies; i++)
        if (v->agencies[i].pending.pending)
            json_array_append_new(ag, jpending_sum(v->agencies[i].code, v->agencies[i].name,
                                                   &v->agencies[i].pending));
    for (i = 0; i < v->n_groups; i++)
        if (v->groups[i].pending.pending)
            json_array_append_new(
                gr, jpending_sum(v->groups[i].code, v->groups[i].name, &v->groups[i].pending));
    for (i = 0; i < v->n_overdue; i++)
        json_array_append_new(od, jitem(v, v->pending[i]));
    json_object_set_new(o, "by_agency", ag);
    json_object_set_new(o, "by_organization", gr);
    json_object_set_new(o, "overdue", od);
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

    view_of(r, src, &vv);
    fmt_time(when, sizeof(when), src->generated_at_ms, TIME_RFC3339);
    json_object_set_new(doc, "topic", cb_html_json_string(src->topic));
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
        json_object_set_new(jg, "code", g->code ? cb_html_json_string(g->code) : json_null());
        json_object_set_new(jg, "name", cb_html_json_string(g->name));
        json_object_set_new(jg, "event_type",
                            g->event_type ? cb_html_json_string(g->event_type) : json_null());
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
    json_object_set_new(doc, "pending", jpending(v));
    for (i = 0; i < v->n_tokens; i++)
        json_array_append_new(tokens, jitem(v, v->tokens[i]));
    json_object_set_new(doc, "tokens_to_return", tokens);
    json_object_set_new(doc, "tokens_still_out", json_integer((json_int_t)v->tokens_out));
    json_object_set_new(doc, "returns_checked", json_boolean(v->returns_checked));
    {
        json_t *types = json_array(), *agencies = json_array();
        for (i = 0; i < v->n_types; i++) {
            json_t *t = json_object();
            json_object_set_new(t, "event_type", cb_html_json_string(v->types[i].type));
            json_object_set_new(t, "total", json_integer((json_int_t)v->types[i].total));
            json_object_set_new(t, "by_action", jby_action(v->types[i].counts));
            json_array_append_new(types, t);
        }
        json_object_set_new(doc, "by_event_type", types);
        for (i = 0; i < v->n_agencies; i++) {
            json_t *g = json_object();
            json_object_set_new(g, "code", cb_html_json_string(v->agencies[i].code));
            json_object_set_new(g, "name", cb_html_json_string(v->agencies[i].name));
            json_object_set_new(g, "total", json_integer((json_int_t)v->agencies[i].total));
            json_object_set_new(g, "tokens_still_out",
                                json_integer((json_int_t)v->agencies[i].tokens_out));
            json_object_set_new(g, "by_action", jby_action(v->agencies[i].counts));
            json_array_append_new(agencies, g);
        }
        json_object_set_new(doc, "by_agency", agencies);
    }
    rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (rc < 0 || fputc('\n', out) == EOF || ferror(out))
        return cb_error_set(err, CB_ERR_IO, "write error");
    return 0;
}

/* ---- HTML ------------------------------------------------------------- */

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

/* The header cells of the total and of each status, Vietnamese under English. */
static void html_status_head(FILE *out)
{
    int s;

    fputs("<th class=\"n\">Tổng<small>total</small></th>", out);
    for (s = 0; s < CB_STATUS_COUNT; s++)
        fprintf(out, "<th class=\"n\">%s<small>%s</small></th>",
                cb_outcome_status_name((cb_outcome_status_t)s), status_vi[s]);
}

/* The cells of a total and of each status's count; zeros greyed out. */
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

/* A status as a coloured badge, in the chart's colour for it. */
static void html_status_badge(FILE *out, cb_outcome_status_t s)
{
    fprintf(out, "<span class=\"st\" style=\"background:%s\">%s</span>", status_color[s],
            cb_outcome_status_name(s));
}

/* The page up to the end of its header: head, styles, title, source. */
static void html_header(const cb_report_source_t *src, FILE *out)
{
    char when[64];

    fmt_time(when, sizeof(when), src->generated_at_ms, TIME_MINUTES);
    cb_html_begin(out, "certbridge: tiến độ chứng thư số / certificate progress",
                  "Tiến độ cập nhật chứng thư số chuyên dùng công vụ",
                  "Certificate actions of the reorganization: progress", NULL);
    fputs("<p class=\"src\">topic <code>", out);
    cb_html_put(out, src->topic);
    fprintf(out, "</code> · %d partition%s · read_committed · %s · certbridge %s</p>\n</header>\n",
            src->partitions, src->partitions == 1 ? "" : "s", when, CB_VERSION);
}

/* The summary cards, and the duplicates and undecodable messages if any. */
static void html_cards(const cb_report_t *r, const view_t *v, FILE *out)
{
    size_t total = cb_report_count(r, -1, -1), done = count_done(r);
    size_t bad =
        cb_report_count(r, -1, CB_STATUS_FAILED) + cb_report_count(r, -1, CB_STATUS_REJECTED);

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
}

/* The section of the progress chart. */
static void html_progress(const cb_report_t *r, FILE *out)
{
    fputs("<section>\n<h2>Tiến độ theo thao tác <small>· progress by action (share of each "
          "status)</small></h2>\n",
          out);
    html_chart(r, out);
    fputs("</section>\n", out);
}

/* The table of counts by action and status, with a row for all actions. */
static void html_by_action(const cb_report_t *r, const view_t *v, FILE *out)
{
    size_t all[CB_STATUS_COUNT], i;
    int a;

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
    for (i = 0; i < CB_STATUS_COUNT; i++)
        all[i] = cb_report_count(r, -1, (int)i);
    fputs("<tr><th>ALL</th>", out);
    html_counts(out, all);
    fputs("</tr>\n</tbody>\n</table>\n</section>\n", out);
}

/* The rows of one group: its label spanning them, one row per action. */
static void html_group_rows(const cb_report_group_t *gr, FILE *out)
{
    int a, rows = 0;
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
                cb_html_put(out, gr->name);
                fputs("</small>", out);
            } else {
                fputs("<code>", out);
                cb_html_put(out, *gr->code ? gr->code : NULL);
                fputs("</code> ", out);
                cb_html_put(out, gr->name);
            }
            fputs("</td>", out);
            first = false;
        }
        fprintf(out, "<td>%s</td>", cb_action_name((cb_action_t)a));
        html_counts(out, gr->counts[a]);
        fprintf(out, "<td class=\"n\">%.0f%%</td></tr>\n", percent(group_done(gr, a), n));
    }
}

/* The table of counts by organization (and personal group) and action. */
static void html_by_group(const view_t *v, FILE *out)
{
    size_t g;

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
        for (g = 0; g < v->n_groups; g++)
            html_group_rows(&v->groups[g], out);
        fputs("</tbody>\n</table>\n", out);
    }
    fputs("</section>\n", out);
}

/* One label's rows: the label spanning them, one row per action. */
static void html_label_rows(FILE *out, const char *code, const char *name,
                            const size_t counts[CB_ACTION_COUNT][CB_STATUS_COUNT], size_t extra,
                            bool with_extra)
{
    int a, s, rows = 0;
    bool first = true;
    size_t totals[CB_ACTION_COUNT] = {0};

    for (a = 0; a < CB_ACTION_COUNT; a++) {
        for (s = 0; s < CB_STATUS_COUNT; s++)
            totals[a] += counts[a][s];
        rows += totals[a] > 0;
    }
    for (a = 0; a < CB_ACTION_COUNT; a++) {
        if (!totals[a])
            continue;
        fputs("<tr>", out);
        if (first) {
            fprintf(out, "<td rowspan=\"%d\">", rows);
            if (code) {
                fputs("<code>", out);
                cb_html_put(out, code);
                fputs("</code> ", out);
            }
            cb_html_put(out, name);
            fputs("</td>", out);
        }
        fprintf(out, "<td>%s</td>", cb_action_name((cb_action_t)a));
        html_counts(out, counts[a]);
        if (with_extra && first)
            fprintf(out, "<td class=\"n\" rowspan=\"%d\">%zu</td>", rows, extra);
        fputs("</tr>\n", out);
        first = false;
    }
}

/* The tables by event type and by managing agency. */
static void html_by_type_and_agency(const view_t *v, FILE *out)
{
    size_t i;

    fputs("<section>\n<h2>Theo loại sự kiện <small>· by event type</small></h2>\n"
          "<table id=\"by-event-type\">\n<thead><tr><th>Sự kiện<small>event type</small></th>"
          "<th>Thao tác<small>action</small></th>",
          out);
    html_status_head(out);
    fputs("</tr></thead>\n<tbody>\n", out);
    for (i = 0; i < v->n_types; i++)
        html_label_rows(out, NULL, v->types[i].type, v->types[i].counts, 0, false);
    fputs("</tbody>\n</table>\n</section>\n<section>\n<h2>Theo cơ quan quản lý <small>· by "
          "managing agency (the agency whose head signs the requests)</small></h2>\n",
          out);
    if (!v->n_agencies) {
        fputs("<p class=\"none\">Cần danh mục tổ chức · needs the organization registry "
              "(certbridge report --registry FILE)</p>\n</section>\n",
              out);
        return;
    }
    fputs("<table id=\"by-agency\">\n<thead><tr><th>Cơ quan quản lý<small>managing agency"
          "</small></th><th>Thao tác<small>action</small></th>",
          out);
    html_status_head(out);
    fputs("<th class=\"n\">Thiết bị chưa nộp<small>tokens still out</small></th></tr></thead>"
          "\n<tbody>\n",
          out);
    for (i = 0; i < v->n_agencies; i++)
        html_label_rows(out, v->agencies[i].code, v->agencies[i].name, v->agencies[i].counts,
                        v->agencies[i].tokens_out, true);
    fputs("</tbody>\n</table>\n</section>\n", out);
}

/* The table of open items (PENDING, FAILED, REJECTED) with their errors. */
static void html_open(const view_t *v, FILE *out)
{
    char when[64], error[1200], age[64];
    size_t i;

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
              "<th>Đã chờ<small>pending for (working time)</small></th>"
              "</tr></thead>\n<tbody>\n",
              out);
        for (i = 0; i < v->n_open; i++) {
            const cb_report_item_t *it = v->open[i];
            fputs("<tr><td>", out);
            html_status_badge(out, it->status);
            fputs("</td><td>", out);
            cb_html_put(out, it->source_event_id);
            fputs("<br><small>", out);
            cb_html_put(out, it->source_event_type);
            fprintf(out, "</small></td><td>%s</td><td>", cb_action_name(it->action));
            cb_html_put(out, it->holder_id);
            fputs(" ", out);
            cb_html_put(out, or_empty(it->holder_name));
            fputs("</td><td><code>", out);
            cb_html_put(out, it->certificate_serial);
            fputs("</code></td><td>", out);
            error_label(it, error, sizeof(error));
            cb_html_put(out, error);
            fmt_time(when, sizeof(when), it->processed_at_ms, TIME_SECONDS);
            fmt_age(it, age, sizeof(age));
            fprintf(out, "</td><td>%s</td><td>%s</td></tr>\n", when, age);
        }
        fputs("</tbody>\n</table>\n", out);
    }
    fputs("</section>\n", out);
}

/* The pending actions per managing agency (per organization without a
 * registry) and the overdue list, oldest first (as text_pending). */
static void html_pending(const view_t *v, FILE *out)
{
    size_t n = v->n_agencies ? v->n_agencies : v->n_groups, i;
    char when[64], off[16], label[1200], since[64], age[64];

    fmt_time(when, sizeof(when), v->clock.now_ms, TIME_MINUTES);
    fmt_offset(v->clock.utc_offset_min, off, sizeof(off));
    fprintf(out,
            "<section id=\"pending\">\n<h2>Đang chờ CA xử lý <small>· pending at the CA: %zu, "
            "quá hạn · overdue: %zu</small></h2>\n<p class=\"src\">Quá hạn: chờ từ %d giờ làm "
            "việc trở lên · overdue: pending %d working hours or more (working days Monday to "
            "Friday, %s; ages at %s)</p>\n",
            v->n_pending, v->n_overdue, v->clock.deadline_hours, v->clock.deadline_hours, off,
            when);
    if (!v->n_pending) {
        fputs("<p class=\"none\">Không có · none</p>\n</section>\n", out);
        return;
    }
    fprintf(out,
            "<table id=\"pending-summary\">\n<thead><tr><th>%s</th><th class=\"n\">Đang chờ"
            "<small>pending</small></th><th class=\"n\">Quá hạn<small>overdue</small></th>"
            "<th>Cũ nhất từ<small>oldest since (UTC)</small></th><th>Đã chờ<small>oldest "
            "pending for (working time)</small></th></tr></thead>\n<tbody>\n",
            v->n_agencies ? "Cơ quan quản lý<small>managing agency</small>"
                          : "Cơ quan<small>organization</small>");
    for (i = 0; i < n; i++) {
        const cb_report_pending_sum_t *ps =
            pending_row(v, i, label, sizeof(label), since, sizeof(since), age, sizeof(age));
        if (!ps)
            continue;
        fputs("<tr><td>", out);
        cb_html_put(out, label);
        fprintf(out,
                "</td><td class=\"n\">%zu</td><td class=\"n%s\">%zu</td><td>%s</td>"
                "<td>%s</td></tr>\n",
                ps->pending, ps->overdue ? "" : " z", ps->overdue, since, age);
    }
    fputs("</tbody>\n</table>\n", out);
    fprintf(out, "<h3>Quá hạn <small>· overdue, oldest first: %zu</small></h3>\n", v->n_overdue);
    if (!v->n_overdue) {
        fputs("<p class=\"none\">Không có · none</p>\n</section>\n", out);
        return;
    }
    fprintf(out,
            "<table id=\"overdue\">\n<thead><tr><th>%s</th><th>Chủ thể<small>holder</small>"
            "</th><th>Thao tác<small>action</small></th><th>Sự kiện<small>event</small></th>"
            "<th>Mã yêu cầu CA<small>CA request</small></th><th>Từ lúc<small>since (UTC)"
            "</small></th><th>Đã chờ<small>pending for (working time)</small></th></tr>"
            "</thead>\n<tbody>\n",
            v->n_agencies ? "Cơ quan quản lý<small>managing agency</small>"
                          : "Cơ quan<small>organization</small>");
    for (i = 0; i < v->n_overdue; i++) {
        const cb_report_item_t *it = v->pending[i];
        pending_owner(v, it, label, sizeof(label));
        fmt_time(since, sizeof(since), it->processed_at_ms, TIME_SECONDS);
        fmt_age(it, age, sizeof(age));
        fputs("<tr><td>", out);
        cb_html_put(out, label);
        fputs("</td><td>", out);
        cb_html_put(out, it->holder_id);
        fputs(" ", out);
        cb_html_put(out, or_empty(it->holder_name));
        fprintf(out, "</td><td>%s</td><td>", cb_action_name(it->action));
        cb_html_put(out, it->source_event_id);
        fputs("</td><td><code>", out);
        cb_html_put(out, it->ca_request_id);
        fprintf(out, "</code></td><td>%s</td><td>%s</td></tr>\n", since, age);
    }
    fputs("</tbody>\n</table>\n</section>\n", out);
}

/* The table of key tokens to return, with holder, organization and event. */
static void html_tokens(const view_t *v, FILE *out)
{
    char label[1200];
    size_t i;

    fprintf(out,
            "<section>\n<h2>Thiết bị lưu khóa bí mật cần thu hồi <small>· key tokens to return "
            "to %s (Cục Chứng thực số và Bảo mật thông tin): %zu</small></h2>\n",
            TOKEN_OFFICE, v->n_tokens);
    if (!v->n_tokens) {
        fputs("<p class=\"none\">Không có · none</p>\n", out);
    } else {
        fputs("<table>\n<thead><tr><th>Thiết bị<small>token</small></th>"
              "<th>Chủ thể<small>holder</small></th><th>Cơ quan<small>organization</small></th>"
              "<th>Sự kiện<small>event</small></th><th>Cơ quan quản lý<small>managing agency"
              "</small></th><th class=\"n\">Số ngày<small>days out</small></th></tr></thead>\n"
              "<tbody>\n",
              out);
        for (i = 0; i < v->n_tokens; i++) {
            const cb_report_item_t *it = v->tokens[i];
            fprintf(out, "<tr data-returned=\"%s\"><td><code>",
                    it->returned_at_ms ? "true" : "false");
            cb_html_put(out, it->device_id);
            fputs("</code></td><td>", out);
            cb_html_put(out, it->holder_id);
            fputs(" ", out);
            cb_html_put(out, or_empty(it->holder_name));
            fputs("</td><td>", out);
            group_label(&v->groups[it->group], label, sizeof(label));
            cb_html_put(out, label);
            fputs("</td><td>", out);
            cb_html_put(out, it->source_event_id);
            fputs("</td><td>", out);
            if (v->n_agencies)
                agency_label(&v->agencies[it->agency], label, sizeof(label));
            else
                snprintf(label, sizeof(label), "-");
            cb_html_put(out, label);
            if (it->returned_at_ms)
                fputs("</td><td class=\"n\">đã nộp · returned</td></tr>\n", out);
            else
                fprintf(out, "</td><td class=\"n\">%lld</td></tr>\n", days_out(v, it));
        }
        fputs("</tbody>\n</table>\n", out);
        fprintf(out, "<p class=\"src\">%zu chưa nộp · still out%s</p>\n", v->tokens_out,
                v->returns_checked ? " (returns as the CA recorded them)"
                                   : " (returns not checked: certbridge report --tokens-from-ca)");
    }
    fputs("</section>\n", out);
}

/* The footer, and the end of the page. */
static void html_footer(FILE *out)
{
    cb_html_end(out, "certbridge report · read_committed outcomes of the topic above; "
                     "done = SUCCEEDED, ALREADY_DONE or SKIPPED (no certificate to act on)");
}

int cb_report_write_html(const cb_report_t *r, const cb_report_source_t *src, FILE *out,
                         cb_error_t *err)
{
    view_t v;

    view_of(r, src, &v);
    html_header(src, out);
    html_cards(r, &v, out);
    html_progress(r, out);
    html_by_action(r, &v, out);
    html_by_group(&v, out);
    html_by_type_and_agency(&v, out);
    html_open(&v, out);
    html_pending(&v, out);
    html_tokens(&v, out);
    html_footer(out);
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
