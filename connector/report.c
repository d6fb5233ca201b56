/*
 * report.c: `certbridge report` (see report.h): aggregation of outcomes,
 * the table, JSON and HTML writers, and the thin Kafka reader.
 */
#include "certbridge/report.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#include "certbridge/codec.h"
#include "certbridge/event.h"
#include "certbridge/log.h"
#include "certbridge/secret.h"
#include "certbridge/text.h"
#include "certbridge/version.h"

#define CELL_MAX     400 /* bytes of one terminal table cell (long errors are cut) */
#define TAB_COLS_MAX 12

/* The strings an entry keeps, in cb_report_item_t's order. */
enum {
    S_OUTCOME_ID = 0,
    S_EVENT_ID,
    S_EVENT_TYPE,
    S_HOLDER_ID,
    S_HOLDER_NAME,
    S_SERIAL,
    S_NEW_SERIAL,
    S_DEVICE,
    S_REQUEST,
    S_ERR_CODE,
    S_ERR_MSG,
    S_COUNT
};

typedef struct entry {
    cb_report_item_t item;
    char *s[S_COUNT]; /* owned copies; item points at them */
    size_t seq;       /* order added */
    bool dropped;     /* a later outcome with the same id replaced it */
} entry_t;

struct cb_report {
    entry_t *entries;
    size_t n, cap;
    bool finished;
    size_t undecodable, duplicates, events;
    size_t totals[CB_ACTION_COUNT][CB_STATUS_COUNT];
    cb_report_group_t *groups;
    char **labels; /* names of the personal groups, owned */
    size_t n_groups, n_labels;
    const cb_report_item_t **open, **tokens;
    size_t n_open, n_tokens;
};

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

static bool status_open(cb_outcome_status_t s)
{
    return s == CB_STATUS_PENDING || s == CB_STATUS_FAILED || s == CB_STATUS_REJECTED;
}

/* ---- building --------------------------------------------------------- */

cb_report_t *cb_report_new(void)
{
    return calloc(1, sizeof(cb_report_t));
}

void cb_report_destroy(cb_report_t *r)
{
    size_t i, k;

    if (!r)
        return;
    for (i = 0; i < r->n; i++)
        for (k = 0; k < S_COUNT; k++)
            free(r->entries[i].s[k]);
    for (i = 0; i < r->n_labels; i++)
        free(r->labels[i]);
    free(r->entries);
    free(r->labels);
    free(r->groups);
    free(r->open);
    free(r->tokens);
    free(r);
}

int cb_report_add(cb_report_t *r, const cb_outcome_t *o, cb_error_t *err)
{
    const char *src[S_COUNT] = {
        o->outcome_id,    o->source_event_id,    o->source_event_type,      o->holder_id,
        o->holder_name,   o->certificate_serial, o->new_certificate_serial, o->device_id,
        o->ca_request_id, o->error_code,         o->error_message};
    entry_t *e;
    size_t k;

    if (r->finished)
        return cb_error_set(err, CB_ERR_INTERNAL, "report: outcome added after finish");
    if ((unsigned)o->action >= CB_ACTION_COUNT || (unsigned)o->status >= CB_STATUS_COUNT ||
        (unsigned)o->holder_type >= CB_HOLDER_TYPE_COUNT)
        return cb_error_set(err, CB_ERR_INVALID,
                            "outcome %.100s: action, status or holder type out of range",
                            o->outcome_id ? o->outcome_id : "(no id)");
    if (r->n >= CB_REPORT_MAX_OUTCOMES)
        return cb_error_set(err, CB_ERR_LIMIT, "more than %d outcomes in one report",
                            CB_REPORT_MAX_OUTCOMES);
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 256;
        entry_t *ne = realloc(r->entries, ncap * sizeof(*ne));
        if (!ne)
            return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        r->entries = ne;
        r->cap = ncap;
    }
    e = &r->entries[r->n];
    memset(e, 0, sizeof(*e));
    for (k = 0; k < S_COUNT; k++) {
        if (src[k] && !(e->s[k] = strdup(src[k]))) {
            while (k-- > 0)
                free(e->s[k]);
            return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        }
    }
    e->item.outcome_id = e->s[S_OUTCOME_ID];
    e->item.source_event_id = e->s[S_EVENT_ID];
    e->item.source_event_type = e->s[S_EVENT_TYPE];
    e->item.action = o->action;
    e->item.action_index = o->action_index;
    e->item.holder_type = o->holder_type;
    e->item.holder_id = e->s[S_HOLDER_ID];
    e->item.holder_name = e->s[S_HOLDER_NAME];
    e->item.certificate_serial = e->s[S_SERIAL];
    e->item.new_certificate_serial = e->s[S_NEW_SERIAL];
    e->item.device_id = e->s[S_DEVICE];
    e->item.status = o->status;
    e->item.ca_request_id = e->s[S_REQUEST];
    e->item.error_code = e->s[S_ERR_CODE];
    e->item.error_message = e->s[S_ERR_MSG];
    e->item.http_status = o->http_status;
    e->item.processed_at_ms = o->processed_at_ms;
    e->item.emergency_signing_allowed = o->emergency_signing_allowed;
    e->seq = r->n++;
    return 0;
}

void cb_report_add_undecodable(cb_report_t *r)
{
    r->undecodable++;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static int cmp_size(size_t a, size_t b)
{
    return a < b ? -1 : a > b;
}

/* By outcome id, then the order added. */
static int cmp_outcome_id(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    int c = strcmp(x->s[S_OUTCOME_ID], y->s[S_OUTCOME_ID]);

    return c ? c : cmp_size(x->seq, y->seq);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* By holder id (the organization's code), then the order added. */
static int cmp_holder(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    int c = strcmp(nz(x->item.holder_id), nz(y->item.holder_id));

    return c ? c : cmp_size(x->seq, y->seq);
}

/* By source event, then action index: the event's first org action first. */
static int cmp_event_action(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    int c = strcmp(nz(x->item.source_event_id), nz(y->item.source_event_id));

    if (c)
        return c;
    if (x->item.action_index != y->item.action_index)
        return x->item.action_index < y->item.action_index ? -1 : 1;
    return cmp_size(x->seq, y->seq);
}

/* Person event types in the contract's order; unknown ones after, by name. */
static int cmp_person_type(const char *a, const char *b)
{
    int ia = cb_person_event_type_parse(a), ib = cb_person_event_type_parse(b);

    ia = ia < 0 ? CB_PERSON_EVENT_TYPE_COUNT : ia;
    ib = ib < 0 ? CB_PERSON_EVENT_TYPE_COUNT : ib;
    return ia != ib ? (ia < ib ? -1 : 1) : strcmp(a, b);
}

static int open_rank(cb_outcome_status_t s)
{
    return s == CB_STATUS_FAILED ? 0 : s == CB_STATUS_REJECTED ? 1 : 2;
}

/* Open items: FAILED, REJECTED, PENDING; then by group, event, action. */
static int cmp_open(const void *a, const void *b)
{
    const cb_report_item_t *x = *(const cb_report_item_t *const *)a;
    const cb_report_item_t *y = *(const cb_report_item_t *const *)b;
    int c;

    if (open_rank(x->status) != open_rank(y->status))
        return open_rank(x->status) < open_rank(y->status) ? -1 : 1;
    if (x->group != y->group)
        return cmp_size(x->group, y->group);
    if ((c = strcmp(nz(x->source_event_id), nz(y->source_event_id))))
        return c;
    return x->action_index < y->action_index ? -1 : x->action_index > y->action_index;
}

static int cmp_device(const void *a, const void *b)
{
    const cb_report_item_t *x = *(const cb_report_item_t *const *)a;
    const cb_report_item_t *y = *(const cb_report_item_t *const *)b;
    int c = strcmp(x->device_id, y->device_id);

    return c ? c : strcmp(nz(x->outcome_id), nz(y->outcome_id));
}

static int cmp_token(const void *a, const void *b)
{
    const cb_report_item_t *x = *(const cb_report_item_t *const *)a;
    const cb_report_item_t *y = *(const cb_report_item_t *const *)b;

    return x->group != y->group ? cmp_size(x->group, y->group) : strcmp(x->device_id, y->device_id);
}

/* The first org entry of event id in orgs[0..n) (sorted by cmp_event_action),
 * or NULL. */
static entry_t *first_org_of_event(entry_t **orgs, size_t n, const char *id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(nz(orgs[mid]->item.source_event_id), id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && strcmp(nz(orgs[lo]->item.source_event_id), id) == 0 ? orgs[lo] : NULL;
}

/* Marks all but the last-added outcome of each id as dropped. */
static int drop_duplicates(cb_report_t *r, entry_t **v)
{
    size_t i, m = 0;

    for (i = 0; i < r->n; i++)
        if (r->entries[i].s[S_OUTCOME_ID])
            v[m++] = &r->entries[i];
    qsort(v, m, sizeof(*v), cmp_outcome_id);
    for (i = 0; i + 1 < m; i++) {
        if (strcmp(v[i]->s[S_OUTCOME_ID], v[i + 1]->s[S_OUTCOME_ID]) == 0) {
            v[i]->dropped = true;
            r->duplicates++;
        }
    }
    return 0;
}

static void count_events(cb_report_t *r, const char **ids)
{
    size_t i, m = 0;

    for (i = 0; i < r->n; i++)
        if (!r->entries[i].dropped && r->entries[i].s[S_EVENT_ID])
            ids[m++] = r->entries[i].s[S_EVENT_ID];
    qsort(ids, m, sizeof(*ids), cmp_str);
    for (i = 0; i < m; i++)
        if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
            r->events++;
}

/* Makes one group per organization code of the ORGANIZATION outcomes, and
 * assigns those outcomes to them. orgs gets the org entries sorted by event
 * and action (for the cascade lookup); returns their count. */
static size_t group_orgs(cb_report_t *r, entry_t **orgs)
{
    size_t i, m = 0;

    for (i = 0; i < r->n; i++)
        if (!r->entries[i].dropped && r->entries[i].item.holder_type == CB_HOLDER_ORGANIZATION)
            orgs[m++] = &r->entries[i];
    qsort(orgs, m, sizeof(*orgs), cmp_holder);
    for (i = 0; i < m; i++) {
        const char *code = nz(orgs[i]->item.holder_id);
        cb_report_group_t *g;
        if (i > 0 && strcmp(code, nz(orgs[i - 1]->item.holder_id)) == 0) {
            g = &r->groups[r->n_groups - 1];
            if (!g->name && orgs[i]->item.holder_name)
                g->name = orgs[i]->item.holder_name;
        } else {
            g = &r->groups[r->n_groups++];
            memset(g, 0, sizeof(*g));
            g->code = code;
            g->name = orgs[i]->item.holder_name;
        }
        orgs[i]->item.group = r->n_groups - 1;
    }
    qsort(orgs, m, sizeof(*orgs), cmp_event_action);
    return m;
}

/* Assigns each PERSON outcome to the organization of its (org) event, or
 * to the personal group of its event type. */
static int group_persons(cb_report_t *r, entry_t **orgs, size_t n_orgs, cb_error_t *err)
{
    size_t i, k, first_personal = r->n_groups;

    for (i = 0; i < r->n; i++) {
        entry_t *e = &r->entries[i];
        const char *type = e->item.source_event_type ? e->item.source_event_type : "UNKNOWN";
        entry_t *org;
        if (e->dropped || e->item.holder_type != CB_HOLDER_PERSON)
            continue;
        org = e->item.source_event_id ? first_org_of_event(orgs, n_orgs, e->item.source_event_id)
                                      : NULL;
        if (org) {
            e->item.group = org->item.group;
            continue;
        }
        for (k = first_personal; k < r->n_groups; k++)
            if (strcmp(r->groups[k].event_type, type) == 0)
                break;
        if (k == r->n_groups) {
            char *label = malloc(strlen(type) + 32);
            if (!label)
                return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
            sprintf(label, "personal certificates: %s", type);
            r->labels[r->n_labels++] = label;
            memset(&r->groups[k], 0, sizeof(r->groups[k]));
            r->groups[k].name = label;
            r->groups[k].event_type = label + strlen("personal certificates: ");
            r->n_groups++;
        }
        e->item.group = k;
    }
    /* personal groups in the order of the person event types; a small
     * insertion sort that renumbers the entries' groups after */
    {
        size_t n_p = r->n_groups - first_personal, *map = calloc(n_p + 1, sizeof(size_t));
        cb_report_group_t *g = r->groups + first_personal;
        size_t *order = calloc(n_p + 1, sizeof(size_t));
        if (!map || !order) {
            free(map);
            free(order);
            return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        }
        for (i = 0; i < n_p; i++) {
            size_t j = i;
            while (j > 0 && cmp_person_type(g[order[j - 1]].event_type, g[i].event_type) > 0) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
        for (i = 0; i < n_p; i++)
            map[order[i]] = i;
        {
            cb_report_group_t *copy = malloc((n_p + 1) * sizeof(*copy));
            if (!copy) {
                free(map);
                free(order);
                return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
            }
            for (i = 0; i < n_p; i++)
                copy[map[i]] = g[i];
            memcpy(g, copy, n_p * sizeof(*g));
            free(copy);
        }
        for (i = 0; i < r->n; i++) {
            entry_t *e = &r->entries[i];
            if (!e->dropped && e->item.group >= first_personal)
                e->item.group = first_personal + map[e->item.group - first_personal];
        }
        free(map);
        free(order);
    }
    return 0;
}

int cb_report_finish(cb_report_t *r, cb_error_t *err)
{
    entry_t **v = NULL;
    const char **ids = NULL;
    size_t i, n_orgs, n_tok = 0;
    int rc = -1;

    if (r->finished)
        return 0;
    v = malloc((r->n + 1) * sizeof(*v));
    ids = malloc((r->n + 1) * sizeof(*ids));
    r->groups = calloc(r->n + 1, sizeof(*r->groups));
    r->labels = calloc(r->n + 1, sizeof(*r->labels));
    r->open = calloc(r->n + 1, sizeof(*r->open));
    r->tokens = calloc(r->n + 1, sizeof(*r->tokens));
    if (!v || !ids || !r->groups || !r->labels || !r->open || !r->tokens) {
        cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        goto out;
    }
    drop_duplicates(r, v);
    count_events(r, ids);
    n_orgs = group_orgs(r, v);
    if (group_persons(r, v, n_orgs, err) < 0)
        goto out;
    for (i = 0; i < r->n; i++) {
        cb_report_item_t *it = &r->entries[i].item;
        if (r->entries[i].dropped)
            continue;
        r->groups[it->group].counts[it->action][it->status]++;
        r->groups[it->group].total++;
        r->totals[it->action][it->status]++;
        if (status_open(it->status))
            r->open[r->n_open++] = it;
        if (it->action == CB_ACTION_RECALL_DEVICE && it->device_id &&
            (it->status == CB_STATUS_SUCCEEDED || it->status == CB_STATUS_ALREADY_DONE))
            r->tokens[n_tok++] = it;
    }
    qsort(r->open, r->n_open, sizeof(*r->open), cmp_open);
    /* one line per token, however many outcomes recalled it */
    qsort(r->tokens, n_tok, sizeof(*r->tokens), cmp_device);
    for (i = 0; i < n_tok; i++)
        if (i == 0 || strcmp(r->tokens[i]->device_id, r->tokens[r->n_tokens - 1]->device_id))
            r->tokens[r->n_tokens++] = r->tokens[i];
    qsort(r->tokens, r->n_tokens, sizeof(*r->tokens), cmp_token);
    r->finished = true;
    rc = 0;
out:
    free(v);
    free(ids);
    return rc;
}

cb_report_t *cb_report_build(const cb_outcome_t *outcomes, size_t n, cb_error_t *err)
{
    cb_report_t *r = cb_report_new();
    size_t i;

    if (!r) {
        cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (cb_report_add(r, &outcomes[i], err) < 0) {
            cb_report_destroy(r);
            return NULL;
        }
    }
    if (cb_report_finish(r, err) < 0) {
        cb_report_destroy(r);
        return NULL;
    }
    return r;
}

/* ---- figures ---------------------------------------------------------- */

size_t cb_report_count(const cb_report_t *r, int action, int status)
{
    size_t n = 0;
    int a, s;

    for (a = 0; a < CB_ACTION_COUNT; a++)
        for (s = 0; s < CB_STATUS_COUNT; s++)
            if ((action < 0 || action == a) && (status < 0 || status == s))
                n += r->totals[a][s];
    return n;
}

size_t cb_report_event_count(const cb_report_t *r)
{
    return r->events;
}

size_t cb_report_duplicates(const cb_report_t *r)
{
    return r->duplicates;
}

size_t cb_report_undecodable(const cb_report_t *r)
{
    return r->undecodable;
}

const cb_report_group_t *cb_report_groups(const cb_report_t *r, size_t *n)
{
    *n = r->n_groups;
    return r->groups;
}

const cb_report_item_t *const *cb_report_open(const cb_report_t *r, size_t *n)
{
    *n = r->n_open;
    return r->open;
}

const cb_report_item_t *const *cb_report_tokens(const cb_report_t *r, size_t *n)
{
    *n = r->n_tokens;
    return r->tokens;
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
    tab_t ta = {0}, tg = {0}, to = {0}, tt = {0};
    const char *cells[TAB_COLS_MAX];
    char when[64], a[1200], b[1200], c[600];
    size_t total = cb_report_count(r, -1, -1), done = count_done(r), i, g;
    int act, rc = -1;

    fmt_time(when, sizeof(when), src->generated_at_ms, TIME_MINUTES);
    fprintf(out, "certbridge report: topic %s (%d partition%s, read_committed), %s\n",
            src->topic ? src->topic : "-", src->partitions, src->partitions == 1 ? "" : "s", when);
    fprintf(out,
            "%zu outcomes of %zu events: %zu done (%.1f%%), %zu pending, %zu failed, "
            "%zu rejected, %zu need review\n",
            total, r->events, done, percent(done, total), cb_report_count(r, -1, CB_STATUS_PENDING),
            cb_report_count(r, -1, CB_STATUS_FAILED), cb_report_count(r, -1, CB_STATUS_REJECTED),
            cb_report_count(r, -1, CB_STATUS_NEEDS_REVIEW));
    if (r->duplicates || r->undecodable)
        fprintf(out, "(%zu duplicate outcomes counted once, %zu messages that are not outcomes)\n",
                r->duplicates, r->undecodable);

    /* by action and status */
    ta.ncols = 2 + CB_STATUS_COUNT;
    ta.right = ~1u;
    cells[0] = "ACTION";
    status_header(cells, 1);
    if (tab_row(&ta, cells) < 0)
        goto nomem;
    for (act = 0; act < CB_ACTION_COUNT; act++)
        if (cb_report_count(r, act, -1) &&
            table_status_counts(&ta, NULL, cb_action_name((cb_action_t)act), r->totals[act]) < 0)
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
    for (g = 0; g < r->n_groups; g++) {
        const cb_report_group_t *gr = &r->groups[g];
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
    if (r->n_groups)
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
    for (i = 0; i < r->n_open; i++) {
        const cb_report_item_t *it = r->open[i];
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
    fprintf(out, "\nStill open (PENDING, FAILED, REJECTED): %zu\n", r->n_open);
    if (r->n_open)
        tab_print(&to, out);

    /* key tokens */
    tt.ncols = 3;
    cells[0] = "TOKEN";
    cells[1] = "HOLDER";
    cells[2] = "EVENT";
    if (tab_row(&tt, cells) < 0)
        goto nomem;
    for (i = 0; i < r->n_tokens; i++) {
        const cb_report_item_t *it = r->tokens[i];
        snprintf(c, sizeof(c), "%s", it->holder_name ? it->holder_name : nz(it->holder_id));
        cells[0] = it->device_id;
        cells[1] = c;
        cells[2] = it->source_event_id;
        if (tab_row(&tt, cells) < 0)
            goto nomem;
    }
    fprintf(out, "\nKey tokens to return to %s: %zu\n", TOKEN_OFFICE, r->n_tokens);
    if (r->n_tokens)
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

static json_t *jitem(const cb_report_t *r, const cb_report_item_t *it)
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
        jstr(r->groups[it->group].code ? r->groups[it->group].code : r->groups[it->group].name));
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
    json_t *doc = json_object(), *by_action = json_object(), *groups = json_array(),
           *open = json_array(), *tokens = json_array();
    size_t i, all[CB_STATUS_COUNT];
    char when[64];
    int a, rc;

    fmt_time(when, sizeof(when), src->generated_at_ms, TIME_RFC3339);
    json_object_set_new(doc, "topic", jstr(src->topic));
    json_object_set_new(doc, "partitions", json_integer(src->partitions));
    json_object_set_new(doc, "generated_at", json_string(when));
    json_object_set_new(doc, "outcomes", json_integer((json_int_t)cb_report_count(r, -1, -1)));
    json_object_set_new(doc, "events", json_integer((json_int_t)r->events));
    json_object_set_new(doc, "done", json_integer((json_int_t)count_done(r)));
    json_object_set_new(doc, "duplicates", json_integer((json_int_t)r->duplicates));
    json_object_set_new(doc, "undecodable", json_integer((json_int_t)r->undecodable));
    for (i = 0; i < CB_STATUS_COUNT; i++)
        all[i] = cb_report_count(r, -1, (int)i);
    json_object_set_new(doc, "by_status", jcounts(all));
    for (a = 0; a < CB_ACTION_COUNT; a++)
        if (cb_report_count(r, a, -1))
            json_object_set_new(by_action, cb_action_name((cb_action_t)a), jcounts(r->totals[a]));
    json_object_set_new(doc, "by_action", by_action);
    for (i = 0; i < r->n_groups; i++) {
        const cb_report_group_t *g = &r->groups[i];
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
    for (i = 0; i < r->n_open; i++)
        json_array_append_new(open, jitem(r, r->open[i]));
    json_object_set_new(doc, "open", open);
    for (i = 0; i < r->n_tokens; i++)
        json_array_append_new(tokens, jitem(r, r->tokens[i]));
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
    size_t total = cb_report_count(r, -1, -1), done = count_done(r), i, g;
    size_t bad =
        cb_report_count(r, -1, CB_STATUS_FAILED) + cb_report_count(r, -1, CB_STATUS_REJECTED);
    char when[64], buf[1200];
    int a;

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
            total, r->events, percent(done, total), done, cb_report_count(r, -1, CB_STATUS_PENDING),
            bad, cb_report_count(r, -1, CB_STATUS_NEEDS_REVIEW), r->n_tokens);
    if (r->duplicates || r->undecodable)
        fprintf(out,
                "<p class=\"src\">%zu duplicate outcomes counted once; %zu messages of the topic "
                "are not outcomes.</p>\n",
                r->duplicates, r->undecodable);

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
        html_counts(out, r->totals[a]);
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
    if (!r->n_groups) {
        fputs("<p class=\"none\">Chưa có kết quả · no outcomes yet</p>\n", out);
    } else {
        fputs("<table>\n<thead><tr><th>Cơ quan<small>organization</small></th>"
              "<th>Thao tác<small>action</small></th>",
              out);
        html_status_head(out);
        fputs("<th class=\"n\">Hoàn tất<small>done</small></th></tr></thead>\n<tbody>\n", out);
        for (g = 0; g < r->n_groups; g++) {
            const cb_report_group_t *gr = &r->groups[g];
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
            r->n_open);
    if (!r->n_open) {
        fputs("<p class=\"none\">Không có · none</p>\n", out);
    } else {
        fputs("<table>\n<thead><tr><th>Trạng thái<small>status</small></th>"
              "<th>Sự kiện<small>event</small></th><th>Thao tác<small>action</small></th>"
              "<th>Chủ thể<small>holder</small></th><th>Chứng thư<small>certificate</small></th>"
              "<th>Lỗi<small>error</small></th><th>Lúc<small>processed (UTC)</small></th>"
              "</tr></thead>\n<tbody>\n",
              out);
        for (i = 0; i < r->n_open; i++) {
            const cb_report_item_t *it = r->open[i];
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
            TOKEN_OFFICE, r->n_tokens);
    if (!r->n_tokens) {
        fputs("<p class=\"none\">Không có · none</p>\n", out);
    } else {
        fputs("<table>\n<thead><tr><th>Thiết bị<small>token</small></th>"
              "<th>Chủ thể<small>holder</small></th><th>Cơ quan<small>organization</small></th>"
              "<th>Sự kiện<small>event</small></th></tr></thead>\n<tbody>\n",
              out);
        for (i = 0; i < r->n_tokens; i++) {
            const cb_report_item_t *it = r->tokens[i];
            const cb_report_group_t *gr = &r->groups[it->group];
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

/* ---- Kafka ------------------------------------------------------------ */

typedef struct kconf {
    rd_kafka_conf_t *conf;
    cb_error_t *err;
} kconf_t;

/* kafka.* keys that make no sense for a reader that assigns partitions
 * itself and commits nothing (producer and group-membership settings). */
static const char *const reader_skips[] = {"transactional.id",
                                           "transaction.timeout.ms",
                                           "linger.ms",
                                           "batch.num.messages",
                                           "acks",
                                           "compression.codec",
                                           "compression.type",
                                           "queue.buffering.max.ms",
                                           "queue.buffering.max.messages",
                                           "enable.idempotence",
                                           "group.id",
                                           "group.instance.id",
                                           "partition.assignment.strategy",
                                           "session.timeout.ms",
                                           "heartbeat.interval.ms",
                                           "max.poll.interval.ms",
                                           "enable.auto.commit",
                                           "enable.auto.offset.store",
                                           "isolation.level",
                                           "auto.offset.reset",
                                           NULL};

static int reader_key(const char *key, const char *value, void *opaque)
{
    kconf_t *k = opaque;
    char errstr[512];
    size_t i;

    for (i = 0; reader_skips[i]; i++)
        if (strcmp(reader_skips[i], key) == 0)
            return 0;
    if (rd_kafka_conf_set(k->conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return cb_error_set(k->err, CB_ERR_CONFIG, "kafka.%s: %s", key, errstr);
    return 0;
}

static void reader_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    cb_log(level <= 3   ? CB_LOG_ERROR
           : level <= 4 ? CB_LOG_WARN
                        : CB_LOG_DEBUG,
           "report", "kafka %s: %s", fac, buf);
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A consumer for reading: the user's kafka.* keys and secrets, then what a
 * reader needs (a fresh group id, read_committed, no commits, EOF events). */
static rd_kafka_t *reader_new(const cb_config_t *cfg, cb_error_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    kconf_t k = {conf, err};
    char group[96], errstr[512];
    rd_kafka_t *rk;
    const char *fixed[][2] = {{"group.id", group},
                              {"isolation.level", "read_committed"},
                              {"enable.auto.commit", "false"},
                              {"enable.auto.offset.store", "false"},
                              {"enable.partition.eof", "true"},
                              {"auto.offset.reset", "earliest"}};
    size_t i;

    snprintf(group, sizeof(group), "certbridge-report-%ld-%lld", (long)getpid(),
             (long long)wall_ms());
    rd_kafka_conf_set_log_cb(conf, reader_log);
    if (cb_config_foreach_kafka(cfg, reader_key, &k) < 0 ||
        cb_secret_foreach_kafka(cfg, reader_key, &k, err) < 0)
        goto fail;
    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            cb_error_set(err, CB_ERR_CONFIG, "%s: %s", fixed[i][0], errstr);
            goto fail;
        }
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        cb_error_set(err, CB_ERR_CONFIG, "kafka consumer: %s", errstr);
        goto fail;
    }
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* The partition count of topic, or -1 with err. */
static int topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, cb_error_t *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    int n = -1;

    if (!rkt)
        return cb_error_set(err, CB_ERR_KAFKA, "output.outcome_topic: bad topic name \"%.200s\"",
                            topic);
    e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (e)
        cb_error_set(err, CB_ERR_KAFKA, "kafka metadata: %s", rd_kafka_err2str(e));
    else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0)
        cb_error_set(err, CB_ERR_KAFKA, "output.outcome_topic: topic \"%.200s\": %s", topic,
                     md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                             : "no partitions");
    else
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

int cb_report_read_kafka(const cb_config_t *cfg, cb_report_t *r, int timeout_ms, int *partitions,
                         cb_error_t *err)
{
    const char *topic = cb_config_get(cfg, "output.outcome_topic");
    rd_kafka_topic_partition_list_t *parts = NULL;
    cb_codec_t *codec = NULL;
    rd_kafka_t *rk;
    bool *at_end = NULL;
    int n, ends = 0, i, rc = -1;
    int64_t deadline = mono_ms() + timeout_ms;
    rd_kafka_resp_err_t e;

    *partitions = 0;
    if (!(rk = reader_new(cfg, err)))
        return -1;
    if (!(codec = cb_codec_new(cfg, err)))
        goto out;
    if ((n = topic_partitions(rk, topic, timeout_ms, err)) < 0)
        goto out;
    *partitions = n;
    at_end = calloc((size_t)n, sizeof(bool));
    parts = rd_kafka_topic_partition_list_new(n);
    if (!at_end || !parts) {
        cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        /* an empty partition is at its end already */
        if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, timeout_ms) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            lo == hi) {
            at_end[i] = true;
            ends++;
        }
    }
    if ((e = rd_kafka_assign(rk, parts))) {
        cb_error_set(err, CB_ERR_KAFKA, "assign: %s", rd_kafka_err2str(e));
        goto out;
    }
    while (ends < n) {
        rd_kafka_message_t *m;
        if (mono_ms() > deadline) {
            cb_error_set(err, CB_ERR_KAFKA,
                         "%d of %d partitions of \"%.200s\" did not reach their end within %d ms",
                         n - ends, n, topic, timeout_ms);
            goto out;
        }
        if (!(m = rd_kafka_consumer_poll(rk, 200)))
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < n && !at_end[m->partition]) {
                at_end[m->partition] = true;
                ends++;
            }
        } else if (m->err) {
            cb_log(CB_LOG_WARN, "report", "reading %s [%d]: %s", topic, (int)m->partition,
                   rd_kafka_message_errstr(m));
            if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
                cb_error_set(err, CB_ERR_KAFKA, "reading \"%.200s\": %s", topic,
                             rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                goto out;
            }
        } else {
            cb_outcome_t o;
            cb_error_t derr;
            if (cb_codec_decode_outcome(codec, m->payload, m->len, &o, &derr) < 0) {
                cb_log(CB_LOG_WARN, "report", "%s [%d] offset %lld: not an outcome: %s", topic,
                       (int)m->partition, (long long)m->offset, derr.msg);
                cb_report_add_undecodable(r);
            } else {
                int arc = cb_report_add(r, &o, err);
                cb_outcome_clear(&o);
                if (arc < 0) {
                    rd_kafka_message_destroy(m);
                    goto out;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rc = 0;
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    free(at_end);
    cb_codec_destroy(codec);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
