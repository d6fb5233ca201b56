/*
 * approvals.c: `certbridge approvals` (see approvals.h): the latest outcome
 * of every action, and the actions awaiting approval grouped by request and
 * managing agency. The writers are in approvals_render.c; the topic is read
 * by outcome_read.c.
 */
#include "certbridge/approvals.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VIETNAM_UTC_OFFSET_MS (7 * 3600 * 1000LL) /* the day of a request without one in its id */
#define NONE                  SIZE_MAX            /* no holder, no next entry */

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
    bool final;
    bool gate;          /* a gate record: outcome id "<event_id>/approval/<i>" */
    size_t seq;         /* order added: the latest of an action is the largest */
    size_t holder;      /* listed, to look up: index of its holder; else NONE */
    size_t next_listed; /* the next listed entry of the same holder, or NONE */
    size_t request;     /* listed: index of its request */
} entry_t;

/* A holder to look up, with the certificates the CA listed (owned). */
typedef struct holder {
    cb_approvals_cert_t *certs;
    size_t n, cap;
    size_t first; /* its first listed entry */
} holder_t;

struct cb_approvals {
    entry_t *entries;
    size_t n, cap;
    bool finished;
    char *agency; /* the filter, or NULL */
    size_t actions, awaiting, unassigned, undecodable;
    const cb_approvals_action_t **acts; /* the listed actions, request by request */
    cb_approvals_request_t *requests;   /* each with its own tokens array (owned) */
    size_t n_requests;
    cb_approvals_agency_t *agencies;
    size_t n_agencies;
    cb_approvals_holder_t *holders;
    holder_t *hold; /* beside holders, same index */
    size_t n_holders;
};

/* The entry of a listed action. */
static entry_t *entry_of(const cb_approvals_action_t *act)
{
    return (entry_t *)((char *)act - offsetof(entry_t, act));
}

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
    for (i = 0; i < a->n_requests; i++)
        free((void *)a->requests[i].tokens);
    free(a->requests);
    free(a->agencies);
    for (i = 0; i < a->n_holders; i++) {
        for (k = 0; k < a->hold[i].n; k++) {
            free((char *)a->hold[i].certs[k].serial);
            free((char *)a->hold[i].certs[k].device_id);
        }
        free(a->hold[i].certs);
    }
    free(a->holders);
    free(a->hold);
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
    e->final = o->final;
    e->seq = a->n;
    e->holder = e->next_listed = NONE;
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
    /* the gate's namespace: "<event_id>/approval/<i>" */
    if (o->outcome_id) {
        size_t el = strlen(o->source_event_id);
        e->gate = !strncmp(o->outcome_id, o->source_event_id, el) &&
                  !strncmp(o->outcome_id + el, "/approval/", 10);
    }
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

/* Whether two entries are records of the same action. */
static bool same_action(const entry_t *a, const entry_t *b)
{
    return a->gate == b->gate && a->act.action_index == b->act.action_index &&
           !strcmp(a->event_id, b->event_id);
}

/* By action (event id, namespace, action index), then the order added. */
static int cmp_action_seq(const void *x, const void *y)
{
    const entry_t *a = *(const entry_t *const *)x, *b = *(const entry_t *const *)y;
    int c = strcmp(a->event_id, b->event_id);

    if (c)
        return c;
    if (a->gate != b->gate)
        return a->gate ? 1 : -1;
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

/* Whether a listed action counts its certificates' tokens as to return
 * (rule K1: a revocation recalls the token). */
static bool returns_token(const cb_approvals_action_t *act)
{
    return act->action == CB_ACTION_REVOKE || act->action == CB_ACTION_RECALL_DEVICE;
}

/* Counts request r again from its actions (and their holders'
 * certificates): the certificates to revoke and the distinct tokens. */
static int count_request(cb_approvals_request_t *r, cb_error_t *err)
{
    const char **tok;
    size_t i, k, n = 0, u, cap = 0;

    r->revocations = 0;
    for (i = 0; i < r->n_actions; i++) {
        const cb_approvals_action_t *act = r->actions[i];
        if (act->action == CB_ACTION_REVOKE)
            r->revocations += !act->certificate_serial && act->n_certs ? act->n_certs : 1;
        if (returns_token(act))
            cap += 1 + act->n_certs;
    }
    free((void *)r->tokens);
    r->tokens = NULL;
    r->n_tokens = 0;
    if (!cap)
        return 0;
    if (!(tok = malloc(cap * sizeof(*tok))))
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    for (i = 0; i < r->n_actions; i++) {
        const cb_approvals_action_t *act = r->actions[i];
        if (!returns_token(act))
            continue;
        if (act->device_id && *act->device_id)
            tok[n++] = act->device_id;
        for (k = 0; k < act->n_certs; k++)
            if (act->certs[k].device_id && *act->certs[k].device_id)
                tok[n++] = act->certs[k].device_id;
    }
    qsort(tok, n, sizeof(*tok), cmp_token);
    for (u = i = 0; i < n; i++)
        if (!u || strcmp(tok[u - 1], tok[i]))
            tok[u++] = tok[i];
    r->tokens = tok;
    r->n_tokens = u;
    return 0;
}

/* The requests of the awaiting entries v[0..m) (sorted by request), their
 * actions into a->acts. Requests of other agencies than the filter's are
 * dropped. */
static int make_requests(cb_approvals_t *a, entry_t **v, size_t m, cb_error_t *err)
{
    size_t i = 0, n_acts = 0, k;

    if (m && (!(a->acts = malloc(m * sizeof(*a->acts))) ||
              !(a->requests = calloc(m, sizeof(*a->requests)))))
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    while (i < m) {
        size_t j = i;
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
            if (act->processed_at_ms > 0 && (!r->since_ms || act->processed_at_ms < r->since_ms))
                r->since_ms = act->processed_at_ms;
        }
        r->n_actions = j - i;
        request_day(r);
        a->awaiting += r->n_actions;
        a->n_requests++;
        i = j;
    }
    return 0;
}

/* The agencies: runs of requests of the same agency (requests sorted),
 * with their sums. */
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
    }
    return 0;
}

/* The agencies' sums of their requests' figures. */
static void sum_agencies(cb_approvals_t *a)
{
    size_t i, k;

    for (i = 0; i < a->n_agencies; i++) {
        cb_approvals_agency_t *g = &a->agencies[i];
        g->n_actions = g->revocations = g->n_tokens = 0;
        for (k = g->first; k < g->first + g->n_requests; k++) {
            g->n_actions += a->requests[k].n_actions;
            g->revocations += a->requests[k].revocations;
            g->n_tokens += a->requests[k].n_tokens;
        }
    }
}

/* By holder type, then id. */
static int cmp_holder_entry(const void *x, const void *y)
{
    const entry_t *a = *(const entry_t *const *)x, *b = *(const entry_t *const *)y;

    if (a->act.holder_type != b->act.holder_type)
        return a->act.holder_type < b->act.holder_type ? -1 : 1;
    return strcmp(a->act.holder_id, b->act.holder_id);
}

/* The holders to look up: those of listed CHANGE_INFO, REVOKE and
 * RECALL_DEVICE actions whose outcome names no certificate; each listed
 * entry is linked to its holder and to its request. */
static int make_holders(cb_approvals_t *a, cb_error_t *err)
{
    entry_t **v;
    size_t i, k, m = 0;

    for (i = 0; i < a->n_requests; i++)
        for (k = 0; k < a->requests[i].n_actions; k++)
            entry_of(a->requests[i].actions[k])->request = i;
    if (!a->awaiting)
        return 0;
    if (!(v = malloc(a->awaiting * sizeof(*v))))
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    for (i = 0; i < a->awaiting; i++) {
        const cb_approvals_action_t *act = a->acts[i];
        if (!act->certificate_serial && act->holder_id && *act->holder_id &&
            (act->action == CB_ACTION_CHANGE_INFO || returns_token(act)))
            v[m++] = entry_of(act);
    }
    qsort(v, m, sizeof(*v), cmp_holder_entry);
    if (m && (!(a->holders = calloc(m, sizeof(*a->holders))) ||
              !(a->hold = calloc(m, sizeof(*a->hold))))) {
        free(v);
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    }
    for (i = 0; i < m; i = k) {
        size_t h = a->n_holders++, x;
        for (k = i + 1; k < m && !cmp_holder_entry(&v[i], &v[k]); k++)
            ;
        a->holders[h].type = v[i]->act.holder_type;
        a->holders[h].id = v[i]->act.holder_id;
        a->hold[h].first = (size_t)(v[i] - a->entries);
        for (x = i; x < k; x++) {
            v[x]->holder = h;
            v[x]->next_listed = x + 1 < k ? (size_t)(v[x + 1] - a->entries) : NONE;
        }
    }
    free(v);
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
        if (i + 1 < a->n && same_action(e, v[i + 1]))
            continue; /* a later record of the same action follows */
        a->actions++;
        if (e->status != CB_STATUS_AWAITING_APPROVAL || e->final)
            continue; /* decided: approved (final), executed, rejected, cancelled */
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
    /* sorting moves the requests, not the actions they point at */
    if (a->n_requests) /* none: no array at all */
        qsort(a->requests, a->n_requests, sizeof(*a->requests), cmp_request);
    for (i = 0; i < a->n_requests; i++)
        if (count_request(&a->requests[i], err) < 0)
            goto out;
    if (make_agencies(a, err) < 0 || make_holders(a, err) < 0)
        goto out;
    sum_agencies(a);
    rc = 0;
out:
    free(v);
    return rc;
}

const cb_approvals_holder_t *cb_approvals_holders(const cb_approvals_t *a, size_t *n)
{
    *n = a->n_holders;
    return a->holders;
}

void cb_approvals_looked_up(cb_approvals_t *a, size_t h)
{
    size_t e;

    if (h >= a->n_holders)
        return;
    a->holders[h].looked_up = true;
    for (e = a->hold[h].first; e != NONE; e = a->entries[e].next_listed)
        a->entries[e].act.certs_looked_up = true;
}

bool cb_approvals_certs_checked(const cb_approvals_t *a)
{
    size_t i;

    for (i = 0; i < a->n_holders; i++)
        if (!a->holders[i].looked_up)
            return false;
    return true;
}

int cb_approvals_add_cert(cb_approvals_t *a, size_t h, const char *serial, const char *device_id,
                          cb_error_t *err)
{
    holder_t *ho;
    cb_approvals_cert_t *c;
    size_t e, prev = NONE;
    bool bad = false;

    if (!a->finished || h >= a->n_holders || !serial)
        return cb_error_set(err, CB_ERR_INVALID, "approvals: no holder %zu or no serial", h);
    ho = &a->hold[h];
    if (ho->n == ho->cap) {
        size_t cap = ho->cap ? ho->cap * 2 : 2;
        if (!(c = realloc(ho->certs, cap * sizeof(*c))))
            return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
        ho->certs = c;
        ho->cap = cap;
    }
    c = &ho->certs[ho->n];
    c->serial = dup_or_null(serial, &bad);
    c->device_id = dup_or_null(device_id, &bad);
    if (bad) {
        free((char *)c->serial);
        free((char *)c->device_id);
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    }
    ho->n++;
    a->holders[h].looked_up = true;
    /* the holder's actions show its certificates, and their requests
     * count again (a request met twice is counted twice: the same result) */
    for (e = ho->first; e != NONE; e = a->entries[e].next_listed) {
        entry_t *en = &a->entries[e];
        en->act.certs = ho->certs;
        en->act.n_certs = ho->n;
        en->act.certs_looked_up = true;
        if (en->request != prev && count_request(&a->requests[en->request], err) < 0)
            return -1;
        prev = en->request;
    }
    sum_agencies(a);
    return 0;
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
