/*
 * requests.c: checking open CA requests until they are final (see
 * requests.h).
 */
#include "certbridge/requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/clock.h"
#include "certbridge/log.h"
#include "certbridge/text.h"

#define GAUGES_EVERY_MS 1000
#define DAY_MS          86400000LL

/* One check in flight. The request it checks may go away meanwhile (its
 * partition revoked, the state reloaded): the answer finds it again by
 * (topic, partition, outcome_id), or is dropped. */
typedef struct poll {
    cb_ca_req_t req;
    char *topic;
    int32_t partition;
    char *outcome_id;
    char *request_id;
} poll_t;

struct cb_requests {
    cb_ca_client_t *ca;
    cb_state_t *st;
    cb_metrics_t *metrics;
    int64_t initial_ms, max_ms, deadline_ms;
    int utc_offset_min;
    double rate, tokens;
    int64_t refilled_ms, gauges_ms;
    size_t in_flight, max_in_flight, scan_from;
};

int64_t cb_requests_backoff_ms(int polls, int64_t initial_ms, int64_t max_ms)
{
    int64_t d = initial_ms > 0 ? initial_ms : 1;
    int i;

    for (i = 0; i < polls && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}

int64_t cb_requests_working_ms(int64_t from_ms, int64_t to_ms, int utc_offset_min)
{
    int64_t off = (int64_t)utc_offset_min * 60000, t, total = 0;

    if (to_ms <= from_ms)
        return 0;
    if (to_ms - from_ms > 20 * 366 * DAY_MS) /* bounded work: 20 years is overdue anyway */
        from_ms = to_ms - 20 * 366 * DAY_MS;
    for (t = from_ms + off; t < to_ms + off;) {
        int64_t day = t >= 0 ? t / DAY_MS : -((-t + DAY_MS - 1) / DAY_MS);
        int64_t next = (day + 1) * DAY_MS, end = next < to_ms + off ? next : to_ms + off;
        int wd = (int)(((day + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday: 0 = Monday */
        if (wd < 5)
            total += end - t;
        t = end;
    }
    return total;
}

/* *dst = s bounded to CB_OUTSIDE_TEXT_MAX (strings from the CA). */
static int set_outside(char **dst, const char *s)
{
    char *v = NULL;

    if (s && cb_text_cut_utf8(s, CB_OUTSIDE_TEXT_MAX, &v, NULL) < 0)
        return -1;
    free(*dst);
    *dst = v;
    return 0;
}

/* A copy of o through the state's JSON (every string copied). */
static cb_outcome_t *outcome_copy(const cb_outcome_t *o)
{
    cb_outcome_t *c = calloc(1, sizeof(*c));
    char *j = cb_state_outcome_json(o);

    if (!c || !j || cb_state_outcome_parse(j, strlen(j), c, NULL) < 0) {
        free(c);
        free(j);
        return NULL;
    }
    free(j);
    return c;
}

static bool code_is(const char *code, const char *what)
{
    return code && !strcmp(code, what);
}

int cb_requests_final(const cb_open_req_t *r, const cb_ca_req_t *a, int64_t now_ms,
                      cb_outcome_t **out)
{
    cb_outcome_t *o;
    int bad = 0;

    *out = NULL;
    if (a->klass == CB_CA_PENDING || a->klass == CB_CA_RETRY)
        return 0;
    if (!(o = outcome_copy(&r->pending)))
        return -1;
    o->final = true;
    o->processed_at_ms = now_ms;
    o->latency_ms =
        r->pending.latency_ms + (now_ms > r->opened_at_ms ? now_ms - r->opened_at_ms : 0);
    o->http_status = (int32_t)a->http_status;
    switch (a->klass) {
    case CB_CA_SUCCESS:
        o->status = CB_STATUS_SUCCEEDED;
        bad |= set_outside(&o->new_certificate_serial, a->new_serial);
        break;
    case CB_CA_ALREADY:
        o->status = CB_STATUS_ALREADY_DONE;
        break;
    default:
        /* the CA's reason for a refusal; expired, cancelled or forgotten
         * requests failed without the CA deciding on them */
        o->status = code_is(a->error_code, "EXPIRED") || code_is(a->error_code, "CANCELLED") ||
                            a->http_status == 404
                        ? CB_STATUS_FAILED
                        : CB_STATUS_REJECTED;
        bad |= set_outside(&o->error_code, a->http_status == 404 && !a->error_code
                                               ? "REQUEST_NOT_FOUND"
                                               : a->error_code);
        bad |= set_outside(&o->error_message, a->error_message);
        break;
    }
    if (bad) {
        cb_outcome_clear(o);
        free(o);
        return -1;
    }
    *out = o;
    return 1;
}

cb_requests_t *cb_requests_new(const cb_config_t *cfg, cb_state_t *st, cb_metrics_t *metrics,
                               cb_error_t *err)
{
    cb_requests_t *rq = calloc(1, sizeof(*rq));
    int64_t conc;

    if (!rq) {
        cb_error_set(err, CB_ERR_NOMEM, "requests: out of memory");
        return NULL;
    }
    if (!(rq->ca = cb_ca_client_new(cfg, err))) {
        free(rq);
        return NULL;
    }
    rq->st = st;
    rq->metrics = metrics;
    rq->initial_ms = cb_config_get_int(cfg, "ca.poll_initial_ms");
    rq->max_ms = cb_config_get_int(cfg, "ca.poll_max_ms");
    if (rq->max_ms < rq->initial_ms)
        rq->max_ms = rq->initial_ms;
    rq->rate = (double)cb_config_get_int(cfg, "ca.poll_rate");
    rq->deadline_ms = cb_config_get_int(cfg, "ca.pending_deadline_hours") * 3600000LL;
    rq->utc_offset_min = (int)cb_config_get_int(cfg, "ca.working_utc_offset_minutes");
    conc = cb_config_get_int(cfg, "ca.concurrency");
    rq->max_in_flight = conc > 0 ? (size_t)conc : 1;
    rq->tokens = 1;
    rq->refilled_ms = cb_clock_mono_ms();
    return rq;
}

static void poll_free(poll_t *p)
{
    if (!p)
        return;
    cb_ca_req_clear(&p->req);
    free(p->topic);
    free(p->outcome_id);
    free(p->request_id);
    free(p);
}

void cb_requests_destroy(cb_requests_t *rq)
{
    if (!rq)
        return;
    while (cb_ca_pending(rq->ca)) {
        cb_ca_req_t *r = cb_ca_poll(rq->ca, 100);
        if (r)
            poll_free(r->opaque);
    }
    cb_ca_client_destroy(rq->ca);
    free(rq);
}

int64_t cb_requests_first_poll(const cb_requests_t *rq)
{
    return cb_clock_mono_ms() + rq->initial_ms;
}

size_t cb_requests_in_flight(const cb_requests_t *rq)
{
    return rq->in_flight;
}

/* Applies one answer. */
static void on_answer(cb_requests_t *rq, poll_t *p)
{
    cb_open_req_t *r = cb_state_request_find(rq->st, p->topic, p->partition, p->outcome_id);
    cb_outcome_t *fin = NULL;
    int rc;

    rq->in_flight--;
    cb_metrics_ca_poll(rq->metrics);
    if (!r || !r->pending.ca_request_id || strcmp(r->pending.ca_request_id, p->request_id)) {
        poll_free(p); /* not ours any more, or reloaded meanwhile: the new one is checked anew */
        return;
    }
    r->polling = false;
    if (r->final) {
        poll_free(p);
        return;
    }
    rc = cb_requests_final(r, &p->req, cb_clock_wall_ms(), &fin);
    if (rc == 1) {
        cb_log(CB_LOG_INFO, "requests",
               "request %s of %s (%s %s) is final: %s%s%s after %d check(s), open %lld s",
               p->request_id, r->pending.outcome_id, cb_action_name(r->pending.action),
               r->pending.holder_id, cb_outcome_status_name(fin->status),
               fin->error_code ? " " : "", fin->error_code ? fin->error_code : "", r->polls + 1,
               (long long)((cb_clock_wall_ms() - r->opened_at_ms) / 1000));
        cb_state_request_final(rq->st, r, fin);
    } else {
        if (rc < 0)
            cb_log(CB_LOG_WARN, "requests", "request %s: out of memory; checked again later",
                   p->request_id);
        else if (p->req.klass == CB_CA_RETRY)
            cb_log(CB_LOG_DEBUG, "requests", "request %s: CA unavailable (%s); checked again later",
                   p->request_id, p->req.error_code ? p->req.error_code : "?");
        r->next_poll_ms =
            cb_clock_mono_ms() + cb_requests_backoff_ms(r->polls, rq->initial_ms, rq->max_ms);
        r->polls++;
    }
    poll_free(p);
}

/* Starts a check of r. false when it could not be made. */
static bool start_poll(cb_requests_t *rq, cb_open_req_t *r)
{
    poll_t *p = calloc(1, sizeof(*p));
    cb_error_t err;

    if (!p || !(p->topic = strdup(r->topic)) || !(p->outcome_id = strdup(r->pending.outcome_id)) ||
        !(p->request_id = strdup(r->pending.ca_request_id))) {
        poll_free(p);
        return false;
    }
    p->partition = r->partition;
    p->req.op = CB_CA_REQUEST;
    p->req.request_id = p->request_id;
    p->req.opaque = p;
    if (cb_ca_submit(rq->ca, &p->req, &err) < 0) {
        cb_log(CB_LOG_WARN, "requests", "request %s not checked: %s", p->request_id, err.msg);
        poll_free(p);
        /* e.g. an id the URL cannot carry: checked again after the longest wait */
        r->next_poll_ms = cb_clock_mono_ms() + rq->max_ms;
        return false;
    }
    r->polling = true;
    rq->in_flight++;
    return true;
}

/* The gauges, and one log line per request that passes the deadline. */
static void gauges(cb_requests_t *rq, int64_t now_wall)
{
    cb_open_req_t *const *reqs;
    size_t n = cb_state_requests(rq->st, &reqs), i;
    int64_t oldest = 0, overdue = 0;

    for (i = 0; i < n; i++) {
        cb_open_req_t *r = reqs[i];
        int64_t age = now_wall - r->opened_at_ms;
        if (age > oldest)
            oldest = age;
        if (cb_requests_working_ms(r->opened_at_ms, now_wall, rq->utc_offset_min) >=
            rq->deadline_ms) {
            overdue++;
            if (!r->overdue)
                cb_log(CB_LOG_WARN, "requests",
                       "request %s of %s (%s %s %s) is overdue: open for %lld h, past %lld "
                       "working hours (ca.pending_deadline_hours)",
                       r->pending.ca_request_id, r->pending.outcome_id,
                       cb_action_name(r->pending.action),
                       cb_holder_type_name(r->pending.holder_type), r->pending.holder_id,
                       (long long)(age / 3600000), (long long)(rq->deadline_ms / 3600000));
            r->overdue = true;
        }
    }
    cb_metrics_set_requests(rq->metrics, (int64_t)n, oldest / 1000, overdue,
                            (int64_t)cb_state_queued_count(rq->st));
}

void cb_requests_step(cb_requests_t *rq)
{
    cb_open_req_t *const *reqs;
    cb_ca_req_t *a;
    int64_t now = cb_clock_mono_ms();
    size_t n, i, k;

    while ((a = cb_ca_poll(rq->ca, 0)))
        on_answer(rq, a->opaque);
    rq->tokens += (double)(now - rq->refilled_ms) * rq->rate / 1000.0;
    if (rq->tokens > (rq->rate > 1 ? rq->rate : 1))
        rq->tokens = rq->rate > 1 ? rq->rate : 1;
    rq->refilled_ms = now;
    n = cb_state_requests(rq->st, &reqs);
    /* from where the last scan stopped, so that no request starves */
    for (k = 0; k < n && rq->tokens >= 1 && rq->in_flight < rq->max_in_flight; k++) {
        cb_open_req_t *r;
        i = (rq->scan_from + k) % n;
        r = reqs[i];
        if (r->polling || r->final || r->next_poll_ms > now || !r->pending.ca_request_id)
            continue;
        if (start_poll(rq, r))
            rq->tokens -= 1;
        n = cb_state_requests(rq->st, &reqs);
    }
    rq->scan_from = n ? (rq->scan_from + k) % n : 0;
    if (now - rq->gauges_ms >= GAUGES_EVERY_MS) {
        rq->gauges_ms = now;
        gauges(rq, cb_clock_wall_ms());
    }
}
