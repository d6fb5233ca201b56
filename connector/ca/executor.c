/*
 * executor.c: per-holder CA call sequences for a batch (see executor.h).
 *
 * A batch is cut into steps, one per (event, holder): the intents of one
 * event that name the same holder. Steps are sorted by holder (stable, so
 * batch order is kept within a holder) and chained: a chain runs its steps
 * one after the other, each step doing an optional lookup and then its
 * actions one request at a time. Chains run concurrently; the CA client
 * bounds how many requests are in flight.
 *
 * Lookups are live (no Idempotency-Key) and paged: a lookup step asks for
 * page after page (its cursor kept in the step, the certificates appended to
 * s->lookup) and is answered only once the last page came, so the calls and
 * the durable record always see the whole answer. With durable lookups on,
 * a chain whose lookup was answered parks until the caller made the answer durable
 * (cb_executor_lookups_to_persist, cb_executor_lookups_persisted); a step
 * whose work carries its lookup from an earlier attempt uses that instead.
 *
 * Strings from the CA go into outcomes through set_outside(), which bounds
 * them to CB_OUTSIDE_TEXT_MAX (outcome.h). Nothing here aborts: running out
 * of memory fails the batch (ex->failed), which cb_executor_step reports
 * until cb_executor_reset or the next cb_executor_start.
 */
#include "certbridge/executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/log.h"
#include "certbridge/clock.h"
#include "certbridge/idempotency.h"
#include "certbridge/subject.h"
#include "certbridge/text.h"

#define RETRY_PAUSE_MIN_MS 500
#define RETRY_PAUSE_MAX_MS 15000

/* One action of a step after resolution, with the outcome it yields. */
typedef struct action {
    size_t intent; /* index in the work's intent list */
    cb_ca_op_t op; /* the CA call, when needs_call */
    bool needs_call;
    ssize_t cert;     /* index in the lookup's certs, -1 for none */
    char *subject;    /* CHANGE_INFO/ISSUE subject; owned */
    cb_outcome_t out; /* filled as the action completes */
} action_t;

typedef struct step {
    cb_work_t *work;
    size_t *intents; /* indexes into work->intents, in order */
    size_t n_intents;
    char *holder_key; /* "O:<code>", "P:<id>", "C:<org code>" (cascade) */
    cb_holder_type_t holder_type;
    const char *holder_id; /* borrowed from the first intent; NULL for cascade */
    const char *org_code;  /* cascade only */
    bool need_lookup;
    bool looked_up;
    bool durable;       /* the lookup answer may be acted on (made durable, or given) */
    bool lookup_failed; /* the lookup was refused: the step failed without a call */
    cb_ca_req_t lookup; /* its certs: every page answered so far, in order */
    size_t certs_cap;   /* allocated entries of lookup.certs */
    int page_size;      /* of the next page (halved after body_too_large) */
    size_t lookup_max;  /* certificates the lookup may list */
    size_t pages;       /* pages answered */
    char cursor[CB_CA_CURSOR_MAX + 1]; /* the next page's; "" for the first */
    action_t *actions;
    size_t n_actions, next_action;
    int extra_attempts; /* attempts made by requests that were tried again */
    int64_t extra_latency;
} step_t;

typedef struct chain {
    step_t **steps;
    size_t n_steps, cur;
    cb_ca_req_t req; /* the request in flight, if any */
    bool in_flight;
    int64_t retry_at; /* > 0: resubmit req at this time (ms) */
    int retry_pause;
    int submits; /* times req was submitted */
    bool parked; /* its lookup waits to be made durable */
} chain_t;

struct cb_executor {
    cb_ca_client_t *ca;
    cb_metrics_t *metrics;
    cb_work_t *works;
    size_t n_works;
    step_t *steps;
    size_t n_steps;
    chain_t *chains;
    size_t n_chains, chains_done;
    size_t stalled;
    /* the CA's last answer was "unavailable" (set on a retry, cleared on any
     * other answer); why, for the pipeline's hold lines (cb_executor_ca_down) */
    bool ca_down;
    char ca_down_reason[256];
    bool advanced;        /* the chains made their first requests (first step) */
    bool durable_lookups; /* answered lookups park their chain until persisted */
    int page_size;        /* of lookups (cb_executor_set_lookup_limits) */
    size_t lookup_max;    /* certificates one lookup may list */
    chain_t **parked;     /* chains parked, in answer order; the first n_handed were handed */
    size_t n_parked, cap_parked, n_handed;
    chain_t **resume; /* chains whose lookups were persisted: advanced by the next step */
    size_t n_resume, cap_resume;
    cb_executor_lookup_t *handed; /* the views cb_executor_lookups_to_persist returned */
    size_t cap_handed;
    bool finished;
    bool failed;        /* the batch failed: cb_executor_step answers -1 */
    cb_error_t failure; /* why, as reported */
};

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* *dst = a copy of s (NULL stays NULL). -1 only when memory ran out. Used
 * for strings certbridge already bounds (the event's, its own constants). */
static int dup_to(char **dst, const char *s)
{
    free(*dst);
    *dst = xstrdup(s);
    return s && !*dst ? -1 : 0;
}

/* *dst = s bounded to CB_OUTSIDE_TEXT_MAX bytes of valid UTF-8, cut at a
 * code point boundary with a marker when longer: every string from the CA
 * reaches an outcome through here. -1 only when memory ran out. */
static int set_outside(char **dst, const char *s)
{
    char *v;

    if (cb_text_cut_utf8(s, CB_OUTSIDE_TEXT_MAX, &v, NULL) < 0)
        return -1;
    free(*dst);
    *dst = v;
    return 0;
}

/* Fills err for memory that ran out while doing `what`; returns -1. */
static int nomem(cb_error_t *err, const char *what)
{
    return cb_error_setf(err, CB_ERR_NOMEM, CB_ERRF_ABORTABLE, "executor: out of memory %s", what);
}

void cb_work_certs_free(cb_ca_cert_t *certs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(certs[i].serial);
        free(certs[i].subject);
        free(certs[i].device_id);
        free(certs[i].status);
        free(certs[i].holder_type);
        free(certs[i].holder_id);
        free(certs[i].org_code);
    }
    free(certs);
}

int cb_work_certs_copy(const cb_ca_cert_t *certs, size_t n, cb_ca_cert_t **out)
{
    cb_ca_cert_t *c;
    size_t i;
    int bad = 0;

    *out = NULL;
    if (!n)
        return 0;
    if (!(c = calloc(n, sizeof(*c))))
        return -1;
    for (i = 0; i < n; i++) {
        c[i] = certs[i];
        c[i].serial = c[i].subject = c[i].device_id = c[i].status = NULL;
        c[i].holder_type = c[i].holder_id = c[i].org_code = NULL;
        bad |= dup_to(&c[i].serial, certs[i].serial) | dup_to(&c[i].subject, certs[i].subject) |
               dup_to(&c[i].device_id, certs[i].device_id) | dup_to(&c[i].status, certs[i].status) |
               dup_to(&c[i].holder_type, certs[i].holder_type) |
               dup_to(&c[i].holder_id, certs[i].holder_id) |
               dup_to(&c[i].org_code, certs[i].org_code);
    }
    if (bad) {
        cb_work_certs_free(c, n);
        return -1;
    }
    *out = c;
    return 0;
}

void cb_work_lookup_clear(cb_work_lookup_t *l)
{
    free(l->holder_key);
    cb_work_certs_free(l->certs, l->cert_count);
    memset(l, 0, sizeof(*l));
}

void cb_work_clear(cb_work_t *w)
{
    size_t i;

    cb_event_clear(&w->ev);
    cb_intent_list_clear(&w->intents);
    free(w->topic);
    for (i = 0; i < w->n_lookups; i++)
        cb_work_lookup_clear(&w->lookups[i]);
    free(w->lookups);
    for (i = 0; i < w->outcome_count; i++)
        cb_outcome_clear(&w->outcomes[i]);
    free(w->outcomes);
    free(w->outcome_intent);
    memset(w, 0, sizeof(*w));
    cb_event_init(&w->ev);
}

cb_executor_t *cb_executor_new(cb_ca_client_t *ca, cb_metrics_t *metrics, cb_error_t *err)
{
    cb_executor_t *ex = calloc(1, sizeof(*ex));

    if (!ex) {
        cb_error_set(err, CB_ERR_NOMEM, "executor: out of memory");
        return NULL;
    }
    ex->ca = ca;
    ex->metrics = metrics;
    ex->finished = true;
    ex->page_size = CB_EXECUTOR_PAGE_SIZE;
    ex->lookup_max = CB_EXECUTOR_LOOKUP_MAX;
    return ex;
}

/* Frees the batch's steps and chains (requests must not be in flight). */
static void free_batch(cb_executor_t *ex)
{
    size_t i, j;

    for (i = 0; i < ex->n_steps; i++) {
        step_t *s = &ex->steps[i];
        free(s->intents);
        free(s->holder_key);
        cb_ca_req_clear(&s->lookup);
        for (j = 0; j < s->n_actions; j++) {
            free(s->actions[j].subject);
            cb_outcome_clear(&s->actions[j].out);
        }
        free(s->actions);
    }
    free(ex->steps);
    for (i = 0; i < ex->n_chains; i++) {
        cb_ca_req_clear(&ex->chains[i].req);
        free(ex->chains[i].steps);
    }
    free(ex->chains);
    ex->steps = NULL;
    ex->chains = NULL;
    ex->n_steps = ex->n_chains = ex->chains_done = ex->stalled = 0;
    ex->ca_down = false;
    ex->works = NULL;
    ex->n_works = 0;
    ex->advanced = false;
    ex->n_parked = ex->n_handed = ex->n_resume = 0;
}

void cb_executor_destroy(cb_executor_t *ex)
{
    if (!ex)
        return;
    cb_executor_reset(ex);
    free(ex->parked);
    free(ex->resume);
    free(ex->handed);
    free(ex);
}

void cb_executor_set_durable_lookups(cb_executor_t *ex, bool on)
{
    ex->durable_lookups = on;
}

void cb_executor_set_lookup_limits(cb_executor_t *ex, int page_size, size_t max_certs)
{
    ex->page_size = page_size < 1                     ? 1
                    : page_size > CB_CA_PAGE_SIZE_MAX ? CB_CA_PAGE_SIZE_MAX
                                                      : page_size;
    ex->lookup_max = max_certs < 1                        ? 1
                     : max_certs > CB_EXECUTOR_LOOKUP_MAX ? CB_EXECUTOR_LOOKUP_MAX
                                                          : max_certs;
}

char *cb_executor_holder_key(const cb_intent_t *in)
{
    const char *id = in->cascade_org_code ? in->cascade_org_code : in->holder_id;
    char prefix = in->cascade_org_code ? 'C' : (in->holder_type == CB_HOLDER_PERSON ? 'P' : 'O');
    size_t n = strlen(id ? id : "") + 3;
    char *k = malloc(n);

    if (k)
        snprintf(k, n, "%c:%s", prefix, id ? id : "");
    return k;
}

static bool intent_needs_lookup(const cb_intent_t *in)
{
    return in->action != CB_ACTION_REVIEW && in->action != CB_ACTION_ISSUE;
}

/* Builds the steps of one work item: its intents grouped by holder, in order
 * of first appearance. Appends to ex->steps (capacity reserved by caller). */
static int build_steps(cb_executor_t *ex, cb_work_t *w)
{
    size_t i, j, first = ex->n_steps;

    for (i = 0; i < w->intents.count; i++) {
        const cb_intent_t *in = &w->intents.items[i];
        char *key = cb_executor_holder_key(in);
        step_t *s = NULL;

        if (!key)
            return -1;
        for (j = first; j < ex->n_steps && !s; j++)
            if (strcmp(ex->steps[j].holder_key, key) == 0)
                s = &ex->steps[j];
        if (s) {
            free(key);
        } else {
            s = &ex->steps[ex->n_steps++];
            memset(s, 0, sizeof(*s));
            s->work = w;
            s->holder_key = key;
            s->holder_type = in->holder_type;
            s->holder_id = in->holder_id;
            s->org_code = in->cascade_org_code;
            s->page_size = ex->page_size;
            s->lookup_max = ex->lookup_max;
            s->intents = calloc(w->intents.count, sizeof(size_t));
            if (!s->intents)
                return -1;
        }
        s->intents[s->n_intents++] = i;
        if (intent_needs_lookup(in))
            s->need_lookup = true;
    }
    return 0;
}

static int cmp_step_ptr(const void *a, const void *b)
{
    const step_t *x = *(step_t *const *)a, *y = *(step_t *const *)b;
    int c = strcmp(x->holder_key, y->holder_key);

    if (c)
        return c;
    return x < y ? -1 : x > y; /* keep batch order within a holder */
}

/* Which identifier of a looked-up certificate, as intent in uses it, is
 * longer than an outcome may carry (CB_OUTSIDE_TEXT_MAX), or NULL. Cut, it
 * would name another certificate or none, so such a certificate is not
 * acted on. */
static const char *cert_oversized(const cb_ca_cert_t *c, const cb_intent_t *in, size_t *len)
{
    const char *names[] = {"serial", "device_id", "holder_id"};
    const char *vals[] = {c->serial, c->device_id, c->holder_id};
    size_t i;

    /* holder_id only matters where the outcome names it: a cascade */
    for (i = 0; i < (in->holder_id ? 2u : 3u); i++)
        if (vals[i] && (*len = strlen(vals[i])) > CB_OUTSIDE_TEXT_MAX)
            return names[i];
    return NULL;
}

/* Marks an action failed without a call. -1 only when memory ran out. */
static int action_fail(action_t *a, const char *code, const char *msg)
{
    a->needs_call = false;
    a->out.status = CB_STATUS_FAILED;
    return set_outside(&a->out.error_code, code) < 0 || set_outside(&a->out.error_message, msg) < 0
               ? -1
               : 0;
}

/* Fills the parts of an outcome known before any CA call. -1 only when
 * memory ran out. */
static int outcome_base(cb_outcome_t *o, const step_t *s, const cb_intent_t *in,
                        const cb_ca_cert_t *cert)
{
    const cb_work_t *w = s->work;
    int bad;

    cb_outcome_init(o);
    bad = dup_to(&o->source_event_id, w->ev.event_id) | dup_to(&o->source_topic, w->topic) |
          dup_to(&o->source_event_type, cb_event_type_name(&w->ev)) |
          dup_to(&o->holder_name, in->holder_id ? in->holder_name : NULL) |
          dup_to(&o->note, in->note);
    o->source_partition = w->partition;
    o->source_offset = w->offset;
    o->action = in->action;
    o->holder_type = in->holder_type;
    if (in->holder_id)
        bad |= dup_to(&o->holder_id, in->holder_id);
    else if (cert && cert->holder_id) /* a cascade names the person whose certificate it is */
        bad |= set_outside(&o->holder_id, cert->holder_id);
    else
        bad |= dup_to(&o->holder_id, in->cascade_org_code);
    o->revocation_reason = in->action == CB_ACTION_REVOKE ? in->reason : CB_REASON_NONE;
    o->emergency_signing_allowed = in->emergency_signing_allowed;
    if (in->approval) /* approved through the gate (gate.h) */
        bad |= dup_to(&o->approval_request_id, in->approval->request_id) |
               dup_to(&o->managing_agency_code, in->approval->agency_code) |
               dup_to(&o->managing_agency_name, in->approval->agency_name) |
               dup_to(&o->document_number, in->approval->document_number) |
               dup_to(&o->approver, in->approval->approver);
    if (cert) {
        bad |= set_outside(&o->certificate_serial, cert->serial);
        if (in->action == CB_ACTION_RECALL_DEVICE || in->action == CB_ACTION_REVOKE)
            bad |= set_outside(&o->device_id, cert->device_id);
    }
    return bad ? -1 : 0;
}

static action_t *add_action(step_t *s, size_t *cap)
{
    action_t *a;

    if (s->n_actions == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        action_t *n = realloc(s->actions, ncap * sizeof(*n));
        if (!n)
            return NULL;
        s->actions = n;
        *cap = ncap;
    }
    a = &s->actions[s->n_actions++];
    memset(a, 0, sizeof(*a));
    a->cert = -1;
    cb_outcome_init(&a->out);
    return a;
}

/* A new action of step s for its intent number i on certificate c (-1:
 * none), its outcome's base filled. NULL when memory ran out. */
static action_t *new_action(step_t *s, size_t *cap, size_t i, ssize_t c)
{
    const cb_ca_cert_t *cert = c >= 0 ? &s->lookup.certs[c] : NULL;
    action_t *a = add_action(s, cap);

    if (!a)
        return NULL;
    a->intent = s->intents[i];
    a->cert = c;
    if (outcome_base(&a->out, s, &s->work->intents.items[a->intent], cert) < 0)
        return NULL; /* the action stays in s->actions: free_batch frees it */
    return a;
}

/* Resolution: expands the step's intents into actions against the looked-up
 * certificates (docs/DOMAIN.md §2: one action per certificate; a holder
 * without an active certificate yields one SKIPPED outcome; RECALL_DEVICE
 * once per key token). -1 only when memory ran out. */
static int resolve_step(step_t *s)
{
    const cb_ca_cert_t *certs = s->lookup.certs;
    size_t ncerts = s->looked_up ? s->lookup.cert_count : 0, cap = 0, i, c, d;
    bool skipped = false; /* a holder without certificates: one SKIPPED outcome */

    for (i = 0; i < s->n_intents; i++) {
        const cb_intent_t *in = &s->work->intents.items[s->intents[i]];
        size_t made = 0;
        action_t *a;

        switch (in->action) {
        case CB_ACTION_REVIEW:
        case CB_ACTION_ISSUE:
            if (!(a = new_action(s, &cap, i, -1)))
                return -1;
            if (in->action == CB_ACTION_REVIEW) {
                a->out.status = CB_STATUS_NEEDS_REVIEW;
            } else {
                a->needs_call = true;
                a->op = CB_CA_ISSUE;
                if (dup_to(&a->subject, in->new_subject) < 0)
                    return -1;
            }
            made = 1;
            break;
        case CB_ACTION_RETAIN:
        case CB_ACTION_CHANGE_INFO:
        case CB_ACTION_REVOKE:
            for (c = 0; c < ncerts; c++, made++) {
                if (!(a = new_action(s, &cap, i, (ssize_t)c)))
                    return -1;
                if (in->action == CB_ACTION_RETAIN) {
                    a->out.status = CB_STATUS_SUCCEEDED;
                } else if (in->action == CB_ACTION_REVOKE) {
                    a->needs_call = true;
                    a->op = CB_CA_REVOKE;
                } else {
                    cb_error_t err;
                    a->needs_call = true;
                    a->op = CB_CA_CHANGE_INFO;
                    cb_error_clear(&err);
                    a->subject = in->cascade_org ? cb_subject_replace_org(certs[c].subject,
                                                                          in->cascade_org, &err)
                                                 : xstrdup(in->new_subject);
                    if (!a->subject &&
                        (err.code == CB_ERR_NOMEM || (!in->cascade_org && in->new_subject)))
                        return -1;
                    if (!a->subject &&
                        action_fail(a, "SUBJECT", in->cascade_org ? err.msg : "no new subject") < 0)
                        return -1;
                }
            }
            break;
        case CB_ACTION_RECALL_DEVICE:
            for (c = 0; c < ncerts; c++) {
                bool seen = false;
                if (!certs[c].device_id || !*certs[c].device_id)
                    continue;
                for (d = 0; d < c && !seen; d++)
                    seen = certs[d].device_id && !strcmp(certs[d].device_id, certs[c].device_id);
                if (seen)
                    continue;
                if (!(a = new_action(s, &cap, i, (ssize_t)c)))
                    return -1;
                a->needs_call = true;
                a->op = CB_CA_RECALL;
                made++;
            }
            break;
        case CB_ACTION_COUNT:
            break;
        }
        if (made == 0 && ncerts == 0 && skipped)
            continue;
        if (made == 0) {
            skipped |= ncerts == 0;
            if (!(a = new_action(s, &cap, i, -1)))
                return -1;
            a->out.status = CB_STATUS_SKIPPED;
            if (dup_to(&a->out.error_message,
                       in->action == CB_ACTION_RECALL_DEVICE && ncerts
                           ? "no key token recorded for the holder's certificates"
                           : "the holder has no active certificate") < 0)
                return -1;
        }
    }
    /* a certificate the outcome could not name is not acted on */
    for (i = 0; i < s->n_actions; i++) {
        action_t *a = &s->actions[i];
        const char *field;
        char msg[128];
        size_t len = 0;
        if (a->cert < 0 ||
            !(field = cert_oversized(&certs[a->cert], &s->work->intents.items[a->intent], &len)))
            continue;
        snprintf(msg, sizeof(msg), "the CA's lookup answer has a %s of %zu bytes (limit %d)", field,
                 len, CB_OUTSIDE_TEXT_MAX);
        if (action_fail(a, "invalid_answer", msg) < 0)
            return -1;
    }
    return 0;
}

/* The lookup the step's work carries for its holder (an earlier attempt's,
 * made durable), or NULL. */
static const cb_work_lookup_t *given_lookup(const step_t *s)
{
    size_t i;

    for (i = 0; i < s->work->n_lookups; i++)
        if (s->work->lookups[i].holder_key &&
            !strcmp(s->work->lookups[i].holder_key, s->holder_key))
            return &s->work->lookups[i];
    return NULL;
}

/* Fills chain->req for the step's next CA call. Returns 1 when a request is
 * ready, 0 when the step has no call left, -1 when memory ran out. */
static int prepare_call(chain_t *ch, step_t *s)
{
    cb_ca_req_t *r = &ch->req;

    memset(r, 0, sizeof(*r));
    r->opaque = ch;
    if (s->need_lookup && !s->looked_up) {
        const cb_work_lookup_t *given = given_lookup(s);
        if (given) {
            /* made durable by an earlier attempt: the same certificates,
             * so the same calls with the same keys */
            if (cb_work_certs_copy(given->certs, given->cert_count, &s->lookup.certs) < 0)
                return -1;
            s->lookup.cert_count = given->cert_count;
            s->looked_up = s->durable = true;
            if (resolve_step(s) < 0)
                return -1;
        } else {
            /* live: the CA's current state, no Idempotency-Key; the next
             * page (the first while the cursor is empty) */
            r->op = CB_CA_LOOKUP;
            r->holder_type = s->org_code ? CB_HOLDER_PERSON : s->holder_type;
            r->holder_id = s->org_code ? NULL : s->holder_id;
            r->org_code = s->org_code;
            r->page_size = s->page_size;
            r->cursor = s->cursor[0] ? s->cursor : NULL;
            return 1;
        }
    }
    for (; s->next_action < s->n_actions; s->next_action++) {
        action_t *a = &s->actions[s->next_action];
        const cb_intent_t *in = &s->work->intents.items[a->intent];
        const cb_ca_cert_t *cert = a->cert >= 0 ? &s->lookup.certs[a->cert] : NULL;
        const char *target = NULL;

        if (!a->needs_call)
            continue;
        r->op = a->op;
        r->holder_type = in->holder_type;
        r->holder_id = a->out.holder_id;
        r->subject = a->subject;
        r->reason = in->reason;
        /* the approving document (gate.h), kept by the CA with the call */
        if (in->approval && (a->op == CB_CA_CHANGE_INFO || a->op == CB_CA_REVOKE))
            r->document_number = in->approval->document_number;
        if (cert) {
            r->serial = cert->serial;
            r->device_id = cert->device_id;
            target = a->op == CB_CA_RECALL ? cert->device_id : cert->serial;
        }
        cb_idempotency_key(s->work->ev.event_id, in->action, in->holder_type, a->out.holder_id,
                           target, r->idempotency_key);
        if (r->idempotency_key[0])
            return 1;
        /* no key, no call: a keyless call could be applied twice */
        if (action_fail(a, "IDEMPOTENCY_KEY", "could not derive the idempotency key") < 0)
            return -1;
    }
    return 0;
}

static cb_outcome_status_t status_of(cb_ca_class_t k)
{
    switch (k) {
    case CB_CA_SUCCESS:
        return CB_STATUS_SUCCEEDED;
    case CB_CA_ALREADY:
        return CB_STATUS_ALREADY_DONE;
    case CB_CA_PENDING:
        return CB_STATUS_PENDING;
    case CB_CA_PERMANENT:
        return CB_STATUS_REJECTED;
    case CB_CA_RETRY:
        break;
    }
    return CB_STATUS_FAILED;
}

/* Copies a finished request's answer into the outcome, the CA's strings
 * bounded (set_outside). -1 only when memory ran out. */
static int record_answer(action_t *a, const cb_ca_req_t *r, const step_t *s)
{
    cb_outcome_t *o = &a->out;

    o->status = status_of(r->klass);
    o->http_status = (int32_t)r->http_status;
    o->attempts = r->attempts + s->extra_attempts;
    o->latency_ms = r->latency_ms + s->extra_latency;
    return set_outside(&o->new_certificate_serial, r->new_serial) < 0 ||
                   set_outside(&o->ca_request_id, r->request_id_out) < 0 ||
                   set_outside(&o->error_code, r->error_code) < 0 ||
                   set_outside(&o->error_message, r->error_message) < 0
               ? -1
               : 0;
}

/* A lookup refused for good: every intent of the step fails with it. -1
 * only when memory ran out. */
static int fail_step(step_t *s, const cb_ca_req_t *r)
{
    size_t i, cap = 0;

    /* the pages taken so far: no action will name them */
    cb_work_certs_free(s->lookup.certs, s->lookup.cert_count);
    s->lookup.certs = NULL;
    s->lookup.cert_count = s->certs_cap = 0;
    for (i = 0; i < s->n_intents; i++) {
        action_t *a = new_action(s, &cap, i, -1);
        if (!a || record_answer(a, r, s) < 0)
            return -1;
        a->out.status = CB_STATUS_FAILED;
    }
    s->next_action = s->n_actions;
    s->looked_up = true; /* answered, if refused: never looked up again */
    s->lookup_failed = true;
    return 0;
}

/* The lookup answer r fails the step without a call: error_code code and
 * message msg, with r's status and attempts. -1 only when memory ran out. */
static int fail_step_why(step_t *s, const cb_ca_req_t *r, const char *code, const char *msg)
{
    cb_ca_req_t why;

    memset(&why, 0, sizeof(why));
    why.op = CB_CA_LOOKUP;
    why.klass = CB_CA_PERMANENT;
    why.http_status = r->http_status;
    why.attempts = r->attempts;
    why.latency_ms = r->latency_ms;
    why.error_code = (char *)code;   /* only read (record_answer copies) */
    why.error_message = (char *)msg; /* likewise */
    return fail_step(s, &why);
}

/* Takes one page r of the step's lookup: its certificates move to the end
 * of s->lookup.certs (r keeps none). Returns 1 when another page follows
 * (its cursor copied into s->cursor), 0 when this was the last, 2 when the
 * answer cannot be taken (code and msg say why: more certificates than
 * s->lookup_max, or a page that would not end the walk), -1 when memory ran
 * out. The lookup's size is checked before anything is allocated for it:
 * against the first page's total when the CA tells it, else page by page. */
static int take_page(step_t *s, cb_ca_req_t *r, const char **code, char *msg, size_t size)
{
    size_t have = s->lookup.cert_count, n = r->cert_count;
    size_t len = r->next_cursor ? strlen(r->next_cursor) : 0;

    if ((!s->pages && r->total > 0 && (uint64_t)r->total > s->lookup_max) ||
        n > s->lookup_max - have) {
        *code = "lookup_too_large";
        snprintf(msg, size,
                 "the CA lists %s%lld active certificates for %s; one lookup takes at most %zu "
                 "(docs/ARCHITECTURE.md §7)",
                 s->pages || !r->total ? "more than " : "",
                 (long long)(s->pages || !r->total ? (int64_t)s->lookup_max : r->total),
                 s->holder_key, s->lookup_max);
        return 2;
    }
    if (r->next_cursor && (!n || !len || len > CB_CA_CURSOR_MAX)) {
        /* a page with no certificate must be the last one, and a cursor must
         * move the walk on: else the walk would never end */
        *code = "invalid_answer";
        snprintf(msg, size, "the CA's lookup page %zu for %s has %zu certificates and a %s cursor",
                 s->pages + 1, s->holder_key, n, n ? "bad" : "next");
        return 2;
    }
    if (have + n > s->certs_cap) {
        size_t cap = s->certs_cap ? s->certs_cap : 16;
        cb_ca_cert_t *c;
        while (cap < have + n)
            cap *= 2;
        if (cap > s->lookup_max)
            cap = s->lookup_max; /* have + n fits, checked above */
        if (!(c = realloc(s->lookup.certs, cap * sizeof(*c))))
            return -1;
        s->lookup.certs = c;
        s->certs_cap = cap;
    }
    if (n)
        memcpy(s->lookup.certs + have, r->certs, n * sizeof(*r->certs));
    s->lookup.cert_count = have + n;
    free(r->certs); /* its strings moved to the step */
    r->certs = NULL;
    r->cert_count = 0;
    s->pages++;
    if (!r->next_cursor)
        return 0;
    memcpy(s->cursor, r->next_cursor, len + 1);
    return 1;
}

/* Applies a final (not CB_CA_RETRY) answer r to the step it belongs to: a
 * lookup page joins the step's certificates and, once the last page came,
 * resolves the step (or fails it); an action records its outcome. A lookup
 * whose page was too large (body_too_large) asks for it again with half the
 * page size. Clears r. -1 only when memory ran out. */
static int apply_answer(step_t *s, cb_ca_req_t *r)
{
    int rc;

    if (r->op == CB_CA_LOOKUP && (r->klass == CB_CA_SUCCESS || r->klass == CB_CA_ALREADY)) {
        const char *code = NULL;
        char msg[512];

        rc = take_page(s, r, &code, msg, sizeof(msg));
        if (rc == 2) {
            rc = fail_step_why(s, r, code, msg);
        } else if (rc == 0) {
            s->looked_up = true; /* the last page: the step acts on them all */
            rc = resolve_step(s);
        }
        s->extra_attempts = 0;
        s->extra_latency = 0;
        cb_ca_req_clear(r);
        return rc < 0 ? -1 : 0; /* 1: the chain asks for the next page */
    }
    if (r->op == CB_CA_LOOKUP && r->klass == CB_CA_PERMANENT && r->error_code &&
        !strcmp(r->error_code, "body_too_large") && s->page_size > 1) {
        /* the same page again, smaller: the cursor stays */
        s->page_size /= 2;
        cb_log(CB_LOG_DEBUG, "executor", "lookup page of %s too large: asking for %d at a time",
               s->holder_key, s->page_size);
        cb_ca_req_clear(r);
        return 0;
    }
    if (r->op == CB_CA_LOOKUP) {
        rc = fail_step(s, r);
    } else {
        rc = record_answer(&s->actions[s->next_action], r, s);
        s->next_action++;
    }
    s->extra_attempts = 0;
    s->extra_latency = 0;
    cb_ca_req_clear(r);
    return rc;
}

/* Submits the chain's prepared request. One the client refuses to form
 * (CB_ERR_INVALID, e.g. a URL over its limit) would be refused again on
 * every replay: it is answered here as a permanent refusal and applied.
 * Returns 0 when submitted, 1 when refused and applied, -1 when memory ran
 * out (err set). */
static int submit_or_refuse(cb_executor_t *ex, chain_t *ch, cb_error_t *err)
{
    cb_ca_req_t *r = &ch->req;
    cb_error_t serr;

    cb_error_clear(&serr);
    if (cb_ca_submit(ex->ca, r, &serr) == 0) {
        ch->in_flight = true;
        ch->submits++;
        return 0;
    }
    if (serr.code == CB_ERR_NOMEM)
        return nomem(err, "submitting a CA request");
    cb_log(CB_LOG_WARN, "executor", "request not sent: %s", serr.msg);
    r->klass = CB_CA_PERMANENT;
    r->http_status = 0;
    if (!(r->error_code = strdup("client")) || !(r->error_message = strdup(serr.msg))) {
        cb_ca_req_clear(r);
        return nomem(err, "recording a refused request");
    }
    if (apply_answer(ch->steps[ch->cur], r) < 0)
        return nomem(err, "recording a refused request");
    return 1;
}

/* Advances a chain until it has a request in flight or is done. -1 when
 * memory ran out (err set): the batch fails. */
static int chain_advance(cb_executor_t *ex, chain_t *ch, cb_error_t *err)
{
    while (ch->cur < ch->n_steps) {
        step_t *s = ch->steps[ch->cur];
        int rc;

        if (!s->need_lookup && !s->actions && s->n_intents && resolve_step(s) < 0)
            return nomem(err, "resolving a step");
        rc = prepare_call(ch, s);
        if (rc < 0)
            return nomem(err, "preparing a CA request");
        if (rc == 0) {
            ch->cur++;
            continue;
        }
        ch->submits = 0;
        rc = submit_or_refuse(ex, ch, err);
        if (rc <= 0)
            return rc; /* in flight, or the batch failed */
    }
    ex->chains_done++;
    return 0;
}

/* Records that the batch failed with err (made ABORTABLE: the caller
 * replays the batch or stops). Returns -1. */
static int fail_batch(cb_executor_t *ex, cb_error_t *err)
{
    err->flags |= CB_ERRF_ABORTABLE;
    if (!ex->failed)
        cb_log(CB_LOG_ERROR, "executor", "the batch failed: %s", err->msg);
    ex->failed = true;
    ex->failure = *err;
    return -1;
}

int cb_executor_start(cb_executor_t *ex, cb_work_t *works, size_t n, cb_error_t *err)
{
    size_t i, total = 0, k;
    step_t **order = NULL;

    cb_executor_reset(ex);
    ex->works = works;
    ex->n_works = n;
    for (i = 0; i < n; i++)
        total += works[i].intents.count;
    ex->steps = calloc(total ? total : 1, sizeof(step_t));
    order = calloc(total ? total : 1, sizeof(step_t *));
    ex->chains = calloc(total ? total : 1, sizeof(chain_t));
    if (!ex->steps || !order || !ex->chains)
        goto oom;
    for (i = 0; i < n; i++)
        if (build_steps(ex, &works[i]) < 0)
            goto oom;
    for (i = 0; i < ex->n_steps; i++)
        order[i] = &ex->steps[i];
    qsort(order, ex->n_steps, sizeof(*order), cmp_step_ptr);
    for (i = 0; i < ex->n_steps; i = k) {
        chain_t *ch = &ex->chains[ex->n_chains++];
        for (k = i; k < ex->n_steps && !strcmp(order[k]->holder_key, order[i]->holder_key); k++)
            ;
        ch->steps = malloc((k - i) * sizeof(step_t *));
        if (!ch->steps)
            goto oom;
        memcpy(ch->steps, order + i, (k - i) * sizeof(step_t *));
        ch->n_steps = k - i;
        ch->retry_pause = RETRY_PAUSE_MIN_MS;
    }
    free(order);
    ex->finished = false;
    return 0; /* the first cb_executor_step makes the first requests */
oom:
    free(order);
    free_batch(ex);
    return nomem(err, "planning a batch");
}

/* Whether some action of the step still makes a CA call. */
static bool step_has_calls(const step_t *s)
{
    size_t i;

    for (i = s->next_action; i < s->n_actions; i++)
        if (s->actions[i].needs_call)
            return true;
    return false;
}

/* Appends ch to a growing array of chains. -1 when memory ran out. */
static int push_chain(chain_t ***arr, size_t *n, size_t *cap, chain_t *ch)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        chain_t **a = realloc(*arr, ncap * sizeof(*a));
        if (!a)
            return -1;
        *arr = a;
        *cap = ncap;
    }
    (*arr)[(*n)++] = ch;
    return 0;
}

/* Handles one request returned by the CA client. -1 when memory ran out
 * (err set). */
static int on_complete(cb_executor_t *ex, cb_ca_req_t *r, cb_error_t *err)
{
    chain_t *ch = r->opaque;
    step_t *s = ch->steps[ch->cur];

    bool r_was_lookup = r->op == CB_CA_LOOKUP;

    ch->in_flight = false;
    cb_metrics_ca_call(ex->metrics, (double)r->latency_ms / 1000.0);
    cb_metrics_set_ca_reachable(ex->metrics, r->http_status > 0);
    if (r->klass == CB_CA_RETRY) {
        cb_metrics_ca_retries(ex->metrics, 1);
        /* The CA is unavailable: keep the request and try it again later. */
        s->extra_attempts += r->attempts;
        s->extra_latency += r->latency_ms;
        ch->retry_at = cb_clock_mono_ms() + ch->retry_pause;
        ch->retry_pause =
            ch->retry_pause * 2 > RETRY_PAUSE_MAX_MS ? RETRY_PAUSE_MAX_MS : ch->retry_pause * 2;
        /* the pipeline logs the hold once a minute (cb_executor_ca_down);
         * here only at debug level, as it comes back with every retry */
        if (ex->stalled++ == 0)
            cb_log(CB_LOG_DEBUG, "executor", "CA unavailable (%s: %s); holding the batch",
                   r->error_code ? r->error_code : "?", r->error_message ? r->error_message : "");
        ex->ca_down = true;
        snprintf(ex->ca_down_reason, sizeof(ex->ca_down_reason), "%s: %.200s",
                 r->error_code ? r->error_code : "?", r->error_message ? r->error_message : "");
        return 0;
    }
    ex->ca_down = false;
    ch->retry_pause = RETRY_PAUSE_MIN_MS;
    if (apply_answer(s, r) < 0)
        return nomem(err, "recording a CA answer");
    if (r_was_lookup && !s->looked_up) /* the next page, or the same one smaller */
        return chain_advance(ex, ch, err);
    if (ex->durable_lookups && r_was_lookup && s->looked_up && !s->durable && !s->lookup_failed &&
        step_has_calls(s)) {
        /* no call on these certificates before they are durable */
        if (push_chain(&ex->parked, &ex->n_parked, &ex->cap_parked, ch) < 0)
            return nomem(err, "parking a chain");
        ch->parked = true;
        return 0;
    }
    s->durable = true;
    return chain_advance(ex, ch, err);
}

/* Frees the outcomes collected into the work items. */
static void drop_outcomes(cb_executor_t *ex)
{
    size_t w, k;

    for (w = 0; w < ex->n_works; w++) {
        cb_work_t *work = &ex->works[w];
        for (k = 0; k < work->outcome_count; k++)
            cb_outcome_clear(&work->outcomes[k]);
        free(work->outcomes);
        free(work->outcome_intent);
        work->outcomes = NULL;
        work->outcome_intent = NULL;
        work->outcome_count = 0;
    }
}

/* Moves every action's outcome into its work item, numbered in intent order.
 * The steps of one work item are contiguous in ex->steps (cb_executor_start
 * builds them work by work), so this is linear in the batch. -1 when memory
 * ran out: then no work item keeps any outcome. */
static int collect_outcomes(cb_executor_t *ex)
{
    size_t i, j, k, w, first = 0, last;
    int64_t now = cb_clock_wall_ms();

    for (w = 0; w < ex->n_works; w++, first = last) {
        cb_work_t *work = &ex->works[w];
        size_t count = 0, idx = 0, in;

        for (last = first; last < ex->n_steps && ex->steps[last].work == work; last++)
            count += ex->steps[last].n_actions;
        work->outcomes = calloc(count ? count : 1, sizeof(cb_outcome_t));
        work->outcome_intent = calloc(count ? count : 1, sizeof(size_t));
        if (!work->outcomes || !work->outcome_intent)
            goto oom;
        for (in = 0; in < work->intents.count; in++) {
            for (i = first; i < last; i++) {
                step_t *s = &ex->steps[i];
                for (j = 0; j < s->n_actions; j++) {
                    if (s->actions[j].intent != in)
                        continue;
                    work->outcomes[idx] = s->actions[j].out;
                    work->outcome_intent[idx] = in;
                    cb_outcome_init(&s->actions[j].out);
                    idx++;
                }
            }
        }
        work->outcome_count = idx;
        for (k = 0; k < idx; k++) {
            cb_outcome_t *o = &work->outcomes[k];
            size_t n = strlen(work->ev.event_id) + 24;
            o->outcome_id = malloc(n);
            if (!o->outcome_id)
                goto oom;
            snprintf(o->outcome_id, n, "%s/%zu", work->ev.event_id, k);
            o->action_index = (int32_t)k;
            o->action_count = (int32_t)idx;
            o->processed_at_ms = now;
        }
    }
    return 0;
oom:
    drop_outcomes(ex);
    return -1;
}

/* cb_executor_step with err never NULL. */
static int step(cb_executor_t *ex, int timeout_ms, cb_error_t *err)
{
    cb_ca_req_t *r;
    int64_t now;
    size_t i;

    if (ex->failed) {
        *err = ex->failure;
        return -1;
    }
    if (ex->finished)
        return 1;
    for (i = 0; !ex->advanced && i < ex->n_chains; i++)
        if (chain_advance(ex, &ex->chains[i], err) < 0)
            return fail_batch(ex, err);
    ex->advanced = true;
    for (i = 0; i < ex->n_resume; i++) {
        chain_t *ch = ex->resume[i];
        ch->parked = false;
        ch->steps[ch->cur]->durable = true;
        if (chain_advance(ex, ch, err) < 0)
            return fail_batch(ex, err);
    }
    ex->n_resume = 0;
    if (ex->chains_done < ex->n_chains) {
        now = ex->stalled ? cb_clock_mono_ms() : 0;
        for (i = 0; ex->stalled && i < ex->n_chains; i++) {
            chain_t *ch = &ex->chains[i];
            int rc;
            if (!ch->retry_at || ch->retry_at > now)
                continue;
            ch->retry_at = 0;
            ex->stalled--;
            cb_ca_req_clear(&ch->req);
            rc = submit_or_refuse(ex, ch, err);
            if (rc < 0 || (rc == 1 && chain_advance(ex, ch, err) < 0))
                return fail_batch(ex, err);
        }
        r = cb_ca_poll(ex->ca, timeout_ms);
        while (r) {
            if (on_complete(ex, r, err) < 0)
                return fail_batch(ex, err);
            r = cb_ca_poll(ex->ca, 0);
        }
    }
    if (ex->chains_done < ex->n_chains)
        return 0;
    if (collect_outcomes(ex) < 0) {
        nomem(err, "collecting outcomes");
        return fail_batch(ex, err);
    }
    free_batch(ex);
    ex->finished = true;
    return 1;
}

int cb_executor_step(cb_executor_t *ex, int timeout_ms, cb_error_t *err)
{
    cb_error_t e;
    int rc;

    cb_error_clear(&e);
    rc = step(ex, timeout_ms, &e);
    if (rc < 0 && err)
        *err = e;
    return rc;
}

size_t cb_executor_lookups_to_persist(cb_executor_t *ex, const cb_executor_lookup_t **out)
{
    size_t n = ex->n_parked - ex->n_handed, i;

    *out = NULL;
    if (!n)
        return 0;
    if (n > ex->cap_handed) {
        cb_executor_lookup_t *h = realloc(ex->handed, n * sizeof(*h));
        if (!h)
            return 0; /* asked again later: the chains stay parked */
        ex->handed = h;
        ex->cap_handed = n;
    }
    for (i = 0; i < n; i++) {
        chain_t *ch = ex->parked[ex->n_handed + i];
        const step_t *s = ch->steps[ch->cur];
        ex->handed[i].work = s->work;
        ex->handed[i].holder_key = s->holder_key;
        ex->handed[i].certs = s->lookup.certs;
        ex->handed[i].cert_count = s->lookup.cert_count;
    }
    ex->n_handed = ex->n_parked;
    *out = ex->handed;
    return n;
}

void cb_executor_lookups_persisted(cb_executor_t *ex)
{
    size_t i;

    for (i = 0; i < ex->n_handed; i++)
        if (push_chain(&ex->resume, &ex->n_resume, &ex->cap_resume, ex->parked[i]) < 0) {
            /* cannot happen in practice (the array is reused); fail the
             * batch rather than leave a chain parked for ever */
            nomem(&ex->failure, "resuming a chain");
            ex->failed = true;
            return;
        }
    memmove(ex->parked, ex->parked + ex->n_handed,
            (ex->n_parked - ex->n_handed) * sizeof(chain_t *));
    ex->n_parked -= ex->n_handed;
    ex->n_handed = 0;
}

bool cb_executor_stalled(const cb_executor_t *ex)
{
    return ex->stalled > 0;
}

const char *cb_executor_ca_down(const cb_executor_t *ex)
{
    return ex->ca_down ? ex->ca_down_reason : NULL;
}

void cb_executor_reset(cb_executor_t *ex)
{
    size_t i;
    bool busy = true;

    /* Requests in flight point into the chains: let them finish first. */
    while (busy) {
        busy = false;
        for (i = 0; i < ex->n_chains; i++)
            busy |= ex->chains[i].in_flight;
        if (busy) {
            cb_ca_req_t *r = cb_ca_poll(ex->ca, 100);
            if (r)
                ((chain_t *)r->opaque)->in_flight = false;
        }
    }
    free_batch(ex);
    ex->finished = true;
    ex->failed = false;
}
