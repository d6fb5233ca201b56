/*
 * approvals.c: `certbridge approvals` (see approvals.h): the latest outcome
 * of every action, and the actions awaiting approval grouped by request and
 * managing agency. The writers are in approvals_render.c; the topic is read
 * by outcome_read.c.
 */
#include "certbridge/approvals.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VIETNAM_UTC_OFFSET_MS (7 * 3600 * 1000LL) /* the day of a request without one in its id */

/* The strings an awaiting record keeps, in the order they are copied. */
enum {
    S_OUTCOME_ID = 0,
    S_EVENT_TYPE,
    S_HOLDER_ID,
    S_HOLDER_NAME,
    S_SERIAL,
    S_DEVICE,
    S_NOTE,
    S_REQUEST,
    S_AGENCY_CODE,
    S_AGENCY_NAME,
    S_COUNT
};

/* One outcome record as added. Every record keeps its action's key (event
 * id and index) and status; only an AWAITING_APPROVAL record, which may end
 * up listed, keeps the rest. */
typedef struct entry {
    cb_approvals_action_t act;
    char *event_id;
    char *s[S_COUNT]; /* owned copies (AWAITING_APPROVAL records only) */
    cb_outcome_status_t status;
    size_t seq; /* order added: the latest of an action is the largest */
} entry_t;

struct cb_approvals {
    entry_t *entries;
    size_t n, cap;
    bool finished;
    char *agency; /* the filter, or NULL */
    size_t actions, awaiting, unassigned, undecodable;
    const cb_approvals_action_t **acts; /* the listed actions, request by request */
    const char **tokens;                /* the tokens, request by request */
    cb_approvals_request_t *requests;
    size_t n_requests;
    cb_approvals_agency_t *agencies;
    size_t n_agencies;
};

cb_approvals_t *cb_approvals_new(void)
{
    return calloc(1, sizeof(cb_approvals_t));
}

void cb_approvals_destroy(cb_approvals_t *a)
{
    size_t i, k;

    if (!a)
        return;
    for (i = 0; i < a->n; i++) {
        free(a->entries[i].event_id);
        for (k = 0; k < S_COUNT; k++)
            free(a->entries[i].s[k]);
    }
    free(a->entries);
    free(a->agency);
    free(a->acts);
    free(a->tokens);
    free(a->requests);
    free(a->agencies);
    free(a);
}

/* A copy of s, or NULL for NULL s; *bad set when out of memory. */
static char *dup_or_null(const char *s, bool *bad)
{
    char *d;

    if (!s)
        return NULL;
    if (!(d = strdup(s)))
        *bad = true;
    return d;
}

int cb_approvals_add(cb_approvals_t *a, const cb_outcome_t *o, cb_error_t *err)
{
    entry_t *e;
    bool bad = false;
    size_t k;

    if (a->finished)
        return cb_error_set(err, CB_ERR_INTERNAL, "approvals: add after finish");
    if ((int)o->action < 0 || o->action >= CB_ACTION_COUNT || (int)o->status < 0 ||
        o->status >= CB_STATUS_COUNT)
        return cb_error_set(err, CB_ERR_INVALID, "outcome %.200s: action or status out of range",
                            o->outcome_id ? o->outcome_id : "?");
    if (!o->source_event_id)
        return cb_error_set(err, CB_ERR_INVALID, "outcome %.200s: no source_event_id",
                            o->outcome_id ? o->outcome_id : "?");
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        entry_t *v;
        if (a->n >= CB_APPROVALS_MAX_OUTCOMES)
            return cb_error_set(err, CB_ERR_LIMIT, "approvals: more than %d outcomes",
                                CB_APPROVALS_MAX_OUTCOMES);
        if (cap > CB_APPROVALS_MAX_OUTCOMES)
            cap = CB_APPROVALS_MAX_OUTCOMES;
        if (!(v = realloc(a->entries, cap * sizeof(*v))))
            return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
        a->entries = v;
        a->cap = cap;
    }
    e = &a->entries[a->n];
    memset(e, 0, sizeof(*e));
    e->status = o->status;
    e->seq = a->n;
    e->event_id = dup_or_null(o->source_event_id, &bad);
    e->act.action_index = o->action_index;
    e->act.action = o->action;
    e->act.holder_type = o->holder_type;
    e->act.revocation_reason = o->revocation_reason;
    e->act.processed_at_ms = o->processed_at_ms;
    if (o->status == CB_STATUS_AWAITING_APPROVAL) {
        const char *src[S_COUNT] = {
            o->outcome_id,           o->source_event_type,   o->holder_id, o->holder_name,
            o->certificate_serial,   o->device_id,           o->note,      o->approval_request_id,
            o->managing_agency_code, o->managing_agency_name};
        for (k = 0; k < S_COUNT; k++)
            e->s[k] = dup_or_null(src[k], &bad);
    }
    if (bad) {
        free(e->event_id);
        for (k = 0; k < S_COUNT; k++)
            free(e->s[k]);
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    }
    e->act.outcome_id = e->s[S_OUTCOME_ID];
    e->act.source_event_id = e->event_id;
    e->act.source_event_type = e->s[S_EVENT_TYPE];
    e->act.holder_id = e->s[S_HOLDER_ID];
    e->act.holder_name = e->s[S_HOLDER_NAME];
    e->act.certificate_serial = e->s[S_SERIAL];
    e->act.device_id = e->s[S_DEVICE];
    e->act.note = e->s[S_NOTE];
    a->n++;
    return 0;
}

void cb_approvals_add_undecodable(cb_approvals_t *a)
{
    a->undecodable++;
}

int cb_approvals_set_agency(cb_approvals_t *a, const char *code, cb_error_t *err)
{
    char *c = NULL;

    if (code && !(c = strdup(code)))
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    free(a->agency);
    a->agency = c;
    return 0;
}

/* ---- finishing ---------------------------------------------------------- */

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

/* NULL last, else strcmp. */
static int cmp_null_last(const char *a, const char *b)
{
    if (!a || !b)
        return (a == NULL) - (b == NULL);
    return strcmp(a, b);
}

/* By action (event id, action index), then the order added. */
static int cmp_action_seq(const void *x, const void *y)
{
    const entry_t *a = *(const entry_t *const *)x, *b = *(const entry_t *const *)y;
    int c = strcmp(a->event_id, b->event_id);

    if (c)
        return c;
    if (a->act.action_index != b->act.action_index)
        return a->act.action_index < b->act.action_index ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The awaiting entries by request id, then action. */
static int cmp_request_action(const void *x, const void *y)
{
    const entry_t *a = *(const entry_t *const *)x, *b = *(const entry_t *const *)y;
    int c = strcmp(a->s[S_REQUEST], b->s[S_REQUEST]);

    return c ? c : cmp_action_seq(x, y);
}

/* Agencies by code, those known by name only after (by name), then by
 * day and id. */
static int cmp_request(const void *x, const void *y)
{
    const cb_approvals_request_t *a = x, *b = y;
    int c = cmp_null_last(a->agency_code, b->agency_code);

    if (c)
        return c;
    if (!a->agency_code && (c = cmp_null_last(a->agency_name, b->agency_name)))
        return c;
    if ((c = strcmp(a->day, b->day)))
        return c;
    return strcmp(a->id, b->id);
}

static int cmp_token(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Whether two requests are of the same agency (the same code, or no code
 * and the same name). */
static bool same_agency(const cb_approvals_request_t *a, const cb_approvals_request_t *b)
{
    if (a->agency_code || b->agency_code)
        return a->agency_code && b->agency_code && !strcmp(a->agency_code, b->agency_code);
    return !cmp_str(a->agency_name, b->agency_name) &&
           (a->agency_name == NULL) == (b->agency_name == NULL);
}

/* The day of a request: the "-YYYYMMDD" ending of its id, else since_ms in
 * Vietnam's time; "" when neither is known. */
static void request_day(cb_approvals_request_t *r)
{
    size_t len = strlen(r->id), i;
    time_t t;
    struct tm tm;

    r->day[0] = '\0';
    if (len >= 9 && r->id[len - 9] == '-') {
        const char *d = r->id + len - 8;
        int month, mday;
        for (i = 0; i < 8 && d[i] >= '0' && d[i] <= '9'; i++)
            ;
        month = (d[4] - '0') * 10 + (d[5] - '0');
        mday = (d[6] - '0') * 10 + (d[7] - '0');
        if (i == 8 && month >= 1 && month <= 12 && mday >= 1 && mday <= 31) {
            memcpy(r->day, d, 4);
            r->day[4] = '-';
            memcpy(r->day + 5, d + 4, 2);
            r->day[7] = '-';
            memcpy(r->day + 8, d + 6, 2);
            r->day[10] = '\0';
            return;
        }
    }
    if (r->since_ms <= 0)
        return;
    t = (time_t)((r->since_ms + VIETNAM_UTC_OFFSET_MS) / 1000);
    if (gmtime_r(&t, &tm))
        strftime(r->day, sizeof(r->day), "%Y-%m-%d", &tm);
}

/* The requests of the awaiting entries v[0..m) (sorted by request): their
 * actions and tokens into a->acts and a->tokens. Requests of other agencies
 * than the filter's are dropped. */
static int make_requests(cb_approvals_t *a, entry_t **v, size_t m, cb_error_t *err)
{
    size_t i = 0, n_acts = 0, n_tok = 0, k;

    if (m && (!(a->acts = malloc(m * sizeof(*a->acts))) ||
              !(a->tokens = malloc(m * sizeof(*a->tokens))) ||
              !(a->requests = calloc(m, sizeof(*a->requests)))))
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    while (i < m) {
        size_t j = i, first_tok = n_tok, u;
        cb_approvals_request_t *r = &a->requests[a->n_requests];
        while (j < m && !strcmp(v[j]->s[S_REQUEST], v[i]->s[S_REQUEST]))
            j++;
        if (a->agency && cmp_str(v[i]->s[S_AGENCY_CODE], a->agency) != 0) {
            i = j;
            continue;
        }
        r->id = v[i]->s[S_REQUEST];
        r->agency_code = v[i]->s[S_AGENCY_CODE];
        r->agency_name = v[i]->s[S_AGENCY_NAME];
        r->actions = &a->acts[n_acts];
        for (k = i; k < j; k++) {
            const cb_approvals_action_t *act = &v[k]->act;
            a->acts[n_acts++] = act;
            if (act->action == CB_ACTION_REVOKE)
                r->revocations++;
            if ((act->action == CB_ACTION_REVOKE || act->action == CB_ACTION_RECALL_DEVICE) &&
                act->device_id && *act->device_id)
                a->tokens[n_tok++] = act->device_id;
            if (act->processed_at_ms > 0 && (!r->since_ms || act->processed_at_ms < r->since_ms))
                r->since_ms = act->processed_at_ms;
        }
        r->n_actions = j - i;
        /* the distinct tokens, sorted */
        qsort(&a->tokens[first_tok], n_tok - first_tok, sizeof(*a->tokens), cmp_token);
        for (u = k = first_tok; k < n_tok; k++)
            if (u == first_tok || strcmp(a->tokens[u - 1], a->tokens[k]))
                a->tokens[u++] = a->tokens[k];
        n_tok = u;
        r->tokens = &a->tokens[first_tok];
        r->n_tokens = n_tok - first_tok;
        request_day(r);
        a->awaiting += r->n_actions;
        a->n_requests++;
        i = j;
    }
    return 0;
}

/* The agencies: runs of requests of the same agency (requests sorted). */
static int make_agencies(cb_approvals_t *a, cb_error_t *err)
{
    size_t i;

    if (a->n_requests && !(a->agencies = calloc(a->n_requests, sizeof(*a->agencies))))
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    for (i = 0; i < a->n_requests; i++) {
        const cb_approvals_request_t *r = &a->requests[i];
        cb_approvals_agency_t *g;
        if (!i || !same_agency(&a->requests[i - 1], r)) {
            g = &a->agencies[a->n_agencies++];
            g->code = r->agency_code;
            g->name = r->agency_name;
            g->first = i;
        }
        g = &a->agencies[a->n_agencies - 1];
        if (!g->name)
            g->name = r->agency_name;
        g->n_requests++;
        g->n_actions += r->n_actions;
        g->revocations += r->revocations;
        g->n_tokens += r->n_tokens;
    }
    return 0;
}

int cb_approvals_finish(cb_approvals_t *a, cb_error_t *err)
{
    entry_t **v = NULL, **waiting;
    size_t i, m = 0;
    int rc = -1;

    if (a->finished)
        return cb_error_set(err, CB_ERR_INTERNAL, "approvals: finished twice");
    a->finished = true;
    if (!a->n)
        return 0;
    if (!(v = malloc(a->n * sizeof(*v))))
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    for (i = 0; i < a->n; i++)
        v[i] = &a->entries[i];
    qsort(v, a->n, sizeof(*v), cmp_action_seq);
    /* the latest record of each action; the awaiting ones to the front */
    waiting = v;
    for (i = 0; i < a->n; i++) {
        entry_t *e = v[i];
        if (i + 1 < a->n && !strcmp(e->event_id, v[i + 1]->event_id) &&
            e->act.action_index == v[i + 1]->act.action_index)
            continue; /* a later record of the same action follows */
        a->actions++;
        if (e->status != CB_STATUS_AWAITING_APPROVAL)
            continue;
        if (!e->s[S_REQUEST]) {
            if (!a->agency || !cmp_str(e->s[S_AGENCY_CODE], a->agency))
                a->unassigned++;
            continue;
        }
        waiting[m++] = e;
    }
    qsort(waiting, m, sizeof(*waiting), cmp_request_action);
    if (make_requests(a, waiting, m, err) < 0)
        goto out;
    /* sorting moves the requests, not the actions and tokens they point at */
    if (a->n_requests) /* none: no array at all */
        qsort(a->requests, a->n_requests, sizeof(*a->requests), cmp_request);
    rc = make_agencies(a, err);
out:
    free(v);
    return rc;
}

cb_approvals_t *cb_approvals_build(const cb_outcome_t *outcomes, size_t n, const char *agency,
                                   cb_error_t *err)
{
    cb_approvals_t *a = cb_approvals_new();
    size_t i;

    if (!a) {
        cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
        return NULL;
    }
    if (cb_approvals_set_agency(a, agency, err) < 0)
        goto fail;
    for (i = 0; i < n; i++)
        if (cb_approvals_add(a, &outcomes[i], err) < 0)
            goto fail;
    if (cb_approvals_finish(a, err) < 0)
        goto fail;
    return a;
fail:
    cb_approvals_destroy(a);
    return NULL;
}

size_t cb_approvals_outcomes(const cb_approvals_t *a)
{
    return a->n;
}

size_t cb_approvals_actions(const cb_approvals_t *a)
{
    return a->actions;
}

size_t cb_approvals_awaiting(const cb_approvals_t *a)
{
    return a->awaiting;
}

size_t cb_approvals_unassigned(const cb_approvals_t *a)
{
    return a->unassigned;
}

size_t cb_approvals_undecodable(const cb_approvals_t *a)
{
    return a->undecodable;
}

const char *cb_approvals_agency_filter(const cb_approvals_t *a)
{
    return a->agency;
}

const cb_approvals_request_t *cb_approvals_requests(const cb_approvals_t *a, size_t *n)
{
    *n = a->n_requests;
    return a->requests;
}

const cb_approvals_agency_t *cb_approvals_agencies(const cb_approvals_t *a, size_t *n)
{
    *n = a->n_agencies;
    return a->agencies;
}
