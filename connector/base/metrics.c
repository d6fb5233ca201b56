/*
 * metrics.c: the Prometheus registry and its HTTP endpoint (see metrics.h).
 */
#include "certbridge/metrics.h"

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certbridge/clock.h"

/* CA call latency buckets, seconds (upper bounds; +Inf is implicit). */
static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};
#define N_BOUNDS (sizeof(latency_bounds) / sizeof(latency_bounds[0]))

struct cb_metrics {
    atomic_uint_fast64_t org_events[CB_ORG_EVENT_TYPE_COUNT];
    atomic_uint_fast64_t person_events[CB_PERSON_EVENT_TYPE_COUNT];
    atomic_uint_fast64_t actions[CB_ACTION_COUNT][CB_STATUS_COUNT];
    atomic_uint_fast64_t latency_buckets[N_BOUNDS + 1];
    atomic_uint_fast64_t latency_sum_us;
    atomic_uint_fast64_t latency_count;
    atomic_uint_fast64_t ca_retries;
    atomic_uint_fast64_t txn_commits, txn_aborts;
    atomic_uint_fast64_t dead_letters;
    atomic_int_fast64_t lag, in_flight;
    atomic_int_fast64_t req_open, req_oldest_s, req_overdue, queued;
    atomic_uint_fast64_t polls;
    atomic_bool group_joined, ca_reachable;
    atomic_int_fast64_t held_since[CB_HOLD_COUNT]; /* Unix seconds; 0 = not held */
    /* the CA client's adaptive limit (cb_metrics_set_ca_limit, cb_metrics_ca_overload) */
    atomic_int_fast64_t ca_limit, ca_baseline_us;
    atomic_uint_fast64_t ca_overloaded[4]; /* by overload_names */

    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    bool serving;
    int port;
};

cb_metrics_t *cb_metrics_new(void)
{
    cb_metrics_t *m = calloc(1, sizeof(*m));

    if (m)
        atomic_store(&m->lag, -1);
    return m;
}

void cb_metrics_event(cb_metrics_t *m, cb_event_kind_t kind, int type)
{
    if (!m)
        return;
    if (kind == CB_EVENT_ORG && type >= 0 && type < CB_ORG_EVENT_TYPE_COUNT)
        atomic_fetch_add(&m->org_events[type], 1);
    else if (kind == CB_EVENT_PERSON && type >= 0 && type < CB_PERSON_EVENT_TYPE_COUNT)
        atomic_fetch_add(&m->person_events[type], 1);
}

void cb_metrics_action(cb_metrics_t *m, cb_action_t a, cb_outcome_status_t s)
{
    if (m && a >= 0 && a < CB_ACTION_COUNT && s >= 0 && s < CB_STATUS_COUNT)
        atomic_fetch_add(&m->actions[a][s], 1);
}

void cb_metrics_ca_call(cb_metrics_t *m, double seconds)
{
    size_t i = 0;

    if (!m)
        return;
    while (i < N_BOUNDS && seconds > latency_bounds[i])
        i++;
    atomic_fetch_add(&m->latency_buckets[i], 1);
    atomic_fetch_add(&m->latency_sum_us, (uint64_t)(seconds * 1e6));
    atomic_fetch_add(&m->latency_count, 1);
}

void cb_metrics_ca_retries(cb_metrics_t *m, uint64_t n)
{
    if (m)
        atomic_fetch_add(&m->ca_retries, n);
}

void cb_metrics_txn(cb_metrics_t *m, bool committed)
{
    if (m)
        atomic_fetch_add(committed ? &m->txn_commits : &m->txn_aborts, 1);
}

void cb_metrics_dead_letter(cb_metrics_t *m)
{
    if (m)
        atomic_fetch_add(&m->dead_letters, 1);
}

void cb_metrics_set_lag(cb_metrics_t *m, int64_t lag)
{
    if (m)
        atomic_store(&m->lag, lag);
}

void cb_metrics_set_in_flight(cb_metrics_t *m, int64_t n)
{
    if (m)
        atomic_store(&m->in_flight, n);
}

void cb_metrics_set_requests(cb_metrics_t *m, int64_t open, int64_t oldest_age_s, int64_t overdue,
                             int64_t queued)
{
    if (!m)
        return;
    atomic_store(&m->req_open, open);
    atomic_store(&m->req_oldest_s, oldest_age_s);
    atomic_store(&m->req_overdue, overdue);
    atomic_store(&m->queued, queued);
}

void cb_metrics_ca_poll(cb_metrics_t *m)
{
    if (m)
        atomic_fetch_add(&m->polls, 1);
}

void cb_metrics_set_group_joined(cb_metrics_t *m, bool joined)
{
    if (m)
        atomic_store(&m->group_joined, joined);
}

void cb_metrics_set_ca_reachable(cb_metrics_t *m, bool reachable)
{
    if (m)
        atomic_store(&m->ca_reachable, reachable);
}

static const char *const hold_cause_names[CB_HOLD_COUNT] = {"schema_registry", "ca", "kafka"};

void cb_metrics_set_held(cb_metrics_t *m, cb_hold_cause_t cause, int64_t since_unix_s)
{
    if (m && cause >= 0 && cause < CB_HOLD_COUNT)
        atomic_store(&m->held_since[cause], since_unix_s > 0 ? since_unix_s : 0);
}

int64_t cb_metrics_held_since(const cb_metrics_t *m, cb_hold_cause_t cause)
{
    return m && cause >= 0 && cause < CB_HOLD_COUNT ? atomic_load(&m->held_since[cause]) : 0;
}

/* Whether any cause holds a batch. */
static bool any_held(const cb_metrics_t *m)
{
    int c;

    for (c = 0; c < CB_HOLD_COUNT; c++)
        if (atomic_load(&m->held_since[c]))
            return true;
    return false;
}

bool cb_metrics_ready(const cb_metrics_t *m)
{
    return atomic_load(&m->group_joined) && atomic_load(&m->ca_reachable) && !any_held(m);
}

/* Unix seconds as an RFC 3339 UTC time (20 characters and the NUL). */
static void format_utc(int64_t unix_s, char out[24])
{
    time_t t = (time_t)unix_s;
    struct tm tm;

    if (!gmtime_r(&t, &tm) || !strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 24, "%lld", (long long)unix_s);
}

bool cb_metrics_health(const cb_metrics_t *m, int64_t now_unix_s, char *buf, size_t size)
{
    bool joined = atomic_load(&m->group_joined), ca = atomic_load(&m->ca_reachable);
    bool ready = cb_metrics_ready(m);
    char held[256] = "", reason[512] = "", when[24];
    size_t hl = 0, rl = 0;
    int c;

    if (!joined)
        rl += (size_t)snprintf(reason + rl, sizeof(reason) - rl, "consumer group not joined");
    if (!ca && rl < sizeof(reason))
        rl +=
            (size_t)snprintf(reason + rl, sizeof(reason) - rl, "%sCA unreachable", rl ? "; " : "");
    for (c = 0; c < CB_HOLD_COUNT; c++) {
        int64_t since = atomic_load(&m->held_since[c]);
        if (!since)
            continue;
        format_utc(since, when);
        if (hl < sizeof(held))
            hl += (size_t)snprintf(held + hl, sizeof(held) - hl, "%s\"%s\":\"%s\"", hl ? "," : "",
                                   hold_cause_names[c], when);
        if (rl < sizeof(reason))
            rl += (size_t)snprintf(reason + rl, sizeof(reason) - rl,
                                   "%s%s unavailable since %s (held %lld s)", rl ? "; " : "",
                                   hold_cause_names[c], when,
                                   (long long)(now_unix_s > since ? now_unix_s - since : 0));
    }
    if (ready)
        snprintf(buf, size,
                 "{\"ready\":true,\"group_joined\":true,\"ca_reachable\":true,"
                 "\"held\":{}}\n");
    else
        snprintf(buf, size,
                 "{\"ready\":false,\"group_joined\":%s,\"ca_reachable\":%s,\"held\":{%s},"
                 "\"reason\":\"not ready: %s\"}\n",
                 joined ? "true" : "false", ca ? "true" : "false", held, reason);
    return ready;
}

/* A growing text buffer capped at 1 MiB (the exposition is a few KiB). */
typedef struct text_buf {
    char *p;
    size_t len, cap;
    bool failed;
} text_buf_t;

static void text_buf_printf(text_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends printf output to b, doubling it up to the cap; past the cap or out
 * of memory b is marked failed and stays so (the exposition then fails
 * whole rather than being served cut). */
static void text_buf_printf(text_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        if (b->cap * 2 > 1024 * 1024) {
            b->failed = true;
            return;
        }
        char *np = realloc(b->p, b->cap * 2);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap *= 2;
    }
}

/* The "# HELP" and "# TYPE" lines Prometheus expects before a metric's
 * samples. */
static void metric_header(text_buf_t *b, const char *name, const char *type, const char *help)
{
    text_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The overloaded answers, as certbridge_ca_overloaded_total's labels. */
static const char *const overload_names[4] = {"429", "503", "504", "timeout"};

void cb_metrics_set_ca_limit(cb_metrics_t *m, int64_t limit, int64_t baseline_us)
{
    if (!m)
        return;
    atomic_store(&m->ca_limit, limit);
    atomic_store(&m->ca_baseline_us, baseline_us);
}

void cb_metrics_ca_overload(cb_metrics_t *m, int http_status)
{
    int i = http_status == 429 ? 0 : http_status == 503 ? 1 : http_status == 504 ? 2 : 3;

    if (m)
        atomic_fetch_add(&m->ca_overloaded[i], 1);
}

/* The adaptive limit's series (limiter.h, ca_client.h). */
static void render_ca_limit(const cb_metrics_t *m, text_buf_t *b)
{
    size_t i;

    metric_header(b, "certbridge_ca_concurrency_limit", "gauge",
                  "CA calls allowed in flight now (ca.concurrency_mode=adaptive: found from the "
                  "CA's answers, within [1, ca.concurrency]).");
    text_buf_printf(b, "certbridge_ca_concurrency_limit %lld\n",
                    (long long)atomic_load(&m->ca_limit));
    metric_header(b, "certbridge_ca_latency_baseline_seconds", "gauge",
                  "The CA's answer time without queueing, as the limiter measures it (the "
                  "smallest of the last ~30 s); 0 until an answer.");
    text_buf_printf(b, "certbridge_ca_latency_baseline_seconds %.6f\n",
                    (double)atomic_load(&m->ca_baseline_us) / 1e6);
    metric_header(b, "certbridge_ca_overloaded_total", "counter",
                  "CA answers asking for fewer calls (429, 503, 504) and timed-out attempts, "
                  "each attempt counted.");
    for (i = 0; i < 4; i++)
        text_buf_printf(b, "certbridge_ca_overloaded_total{answer=\"%s\"} %llu\n",
                        overload_names[i], (unsigned long long)atomic_load(&m->ca_overloaded[i]));
}

char *cb_metrics_render(const cb_metrics_t *m)
{
    text_buf_t b = {malloc(8192), 0, 8192, false};
    uint64_t cum = 0;
    size_t i, j;

    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    metric_header(&b, "certbridge_events_consumed_total", "counter",
                  "Events decoded from the input topics, by topic and event type.");
    for (i = 0; i < CB_ORG_EVENT_TYPE_COUNT; i++)
        text_buf_printf(&b, "certbridge_events_consumed_total{topic=\"org\",type=\"%s\"} %llu\n",
                        cb_org_event_type_name((cb_org_event_type_t)i),
                        (unsigned long long)atomic_load(&m->org_events[i]));
    for (i = 0; i < CB_PERSON_EVENT_TYPE_COUNT; i++)
        text_buf_printf(&b, "certbridge_events_consumed_total{topic=\"person\",type=\"%s\"} %llu\n",
                        cb_person_event_type_name((cb_person_event_type_t)i),
                        (unsigned long long)atomic_load(&m->person_events[i]));
    metric_header(&b, "certbridge_actions_total", "counter",
                  "Certificate actions committed, by action and outcome status.");
    for (i = 0; i < CB_ACTION_COUNT; i++)
        for (j = 0; j < CB_STATUS_COUNT; j++)
            text_buf_printf(&b, "certbridge_actions_total{action=\"%s\",status=\"%s\"} %llu\n",
                            cb_action_name((cb_action_t)i),
                            cb_outcome_status_name((cb_outcome_status_t)j),
                            (unsigned long long)atomic_load(&m->actions[i][j]));
    metric_header(&b, "certbridge_ca_request_duration_seconds", "histogram",
                  "Latency of CA API calls, retries included.");
    for (i = 0; i <= N_BOUNDS; i++) {
        cum += atomic_load(&m->latency_buckets[i]);
        if (i < N_BOUNDS)
            text_buf_printf(&b, "certbridge_ca_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                            latency_bounds[i], (unsigned long long)cum);
        else
            text_buf_printf(&b, "certbridge_ca_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                            (unsigned long long)cum);
    }
    text_buf_printf(&b, "certbridge_ca_request_duration_seconds_sum %.6f\n",
                    (double)atomic_load(&m->latency_sum_us) / 1e6);
    text_buf_printf(&b, "certbridge_ca_request_duration_seconds_count %llu\n",
                    (unsigned long long)atomic_load(&m->latency_count));
    metric_header(&b, "certbridge_ca_retries_total", "counter",
                  "CA requests held back and tried again because the CA was unavailable.");
    text_buf_printf(&b, "certbridge_ca_retries_total %llu\n",
                    (unsigned long long)atomic_load(&m->ca_retries));
    metric_header(&b, "certbridge_ca_in_flight", "gauge", "CA requests in flight.");
    text_buf_printf(&b, "certbridge_ca_in_flight %lld\n", (long long)atomic_load(&m->in_flight));
    metric_header(&b, "certbridge_ca_requests_open", "gauge",
                  "CA requests answered PENDING and followed until the CA gives their final "
                  "state, on this instance's partitions.");
    text_buf_printf(&b, "certbridge_ca_requests_open %lld\n", (long long)atomic_load(&m->req_open));
    metric_header(&b, "certbridge_ca_requests_oldest_age_seconds", "gauge",
                  "Age of the oldest open CA request (0: none open).");
    text_buf_printf(&b, "certbridge_ca_requests_oldest_age_seconds %lld\n",
                    (long long)atomic_load(&m->req_oldest_s));
    metric_header(&b, "certbridge_ca_requests_overdue", "gauge",
                  "Open CA requests past ca.pending_deadline_hours working hours.");
    text_buf_printf(&b, "certbridge_ca_requests_overdue %lld\n",
                    (long long)atomic_load(&m->req_overdue));
    metric_header(&b, "certbridge_ca_polls_total", "counter",
                  "Checks of open CA requests (GET /v1/requests/{id}).");
    text_buf_printf(&b, "certbridge_ca_polls_total %llu\n",
                    (unsigned long long)atomic_load(&m->polls));
    metric_header(&b, "certbridge_queued_events", "gauge",
                  "Events waiting behind an open CA request of their holder.");
    text_buf_printf(&b, "certbridge_queued_events %lld\n", (long long)atomic_load(&m->queued));
    metric_header(&b, "certbridge_transactions_total", "counter",
                  "Kafka transactions, by result (committed or aborted).");
    text_buf_printf(&b, "certbridge_transactions_total{result=\"committed\"} %llu\n",
                    (unsigned long long)atomic_load(&m->txn_commits));
    text_buf_printf(&b, "certbridge_transactions_total{result=\"aborted\"} %llu\n",
                    (unsigned long long)atomic_load(&m->txn_aborts));
    metric_header(&b, "certbridge_dead_letters_total", "counter",
                  "Input messages sent to the dead-letter topic.");
    text_buf_printf(&b, "certbridge_dead_letters_total %llu\n",
                    (unsigned long long)atomic_load(&m->dead_letters));
    metric_header(&b, "certbridge_consumer_lag", "gauge",
                  "Messages not yet committed on the assigned input partitions (-1: unknown).");
    text_buf_printf(&b, "certbridge_consumer_lag %lld\n", (long long)atomic_load(&m->lag));
    metric_header(&b, "certbridge_held", "gauge",
                  "1 while a batch is held because a dependency is unavailable, by cause "
                  "(schema_registry, ca, kafka).");
    for (i = 0; i < CB_HOLD_COUNT; i++)
        text_buf_printf(&b, "certbridge_held{cause=\"%s\"} %d\n", hold_cause_names[i],
                        atomic_load(&m->held_since[i]) ? 1 : 0);
    metric_header(&b, "certbridge_held_since_timestamp_seconds", "gauge",
                  "Unix time the current hold of each cause began; 0 when not held.");
    for (i = 0; i < CB_HOLD_COUNT; i++)
        text_buf_printf(&b, "certbridge_held_since_timestamp_seconds{cause=\"%s\"} %lld\n",
                        hold_cause_names[i], (long long)atomic_load(&m->held_since[i]));
    render_ca_limit(m, &b);
    metric_header(&b, "certbridge_ready", "gauge",
                  "1 when the consumer group is joined, the CA is reachable and no batch is "
                  "held.");
    text_buf_printf(&b, "certbridge_ready %d\n", cb_metrics_ready(m) ? 1 : 0);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* Sends body with the given status and Content-Type (a 500 when no buffer
 * can be had). */
static void http_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                       const char *body)
{
    struct evbuffer *out = evbuffer_new();

    if (!out) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, code, reason, out);
    evbuffer_free(out);
}

/* GET /metrics: the Prometheus text exposition of the registry arg. */
static void on_metrics(struct evhttp_request *req, void *arg)
{
    char *text = cb_metrics_render(arg);

    if (!text) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    http_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text);
    free(text);
}

/* GET /healthz: 200 when ready (group joined, CA reachable, nothing held),
 * else 503, the conditions and the reason in a JSON body
 * (cb_metrics_health), for a load balancer or an orchestrator. */
static void on_healthz(struct evhttp_request *req, void *arg)
{
    cb_metrics_t *m = arg;
    char body[1024];

    if (cb_metrics_health(m, cb_clock_wall_ms() / 1000, body, sizeof(body)))
        http_reply(req, 200, "OK", "application/json", body);
    else
        http_reply(req, 503, "Service Unavailable", "application/json", body);
}

/* The HTTP server's own thread: runs the event loop until destroy breaks it. */
static void *serve_thread(void *arg)
{
    cb_metrics_t *m = arg;

    event_base_dispatch(m->base);
    return NULL;
}

int cb_metrics_serve(cb_metrics_t *m, const char *listen, cb_error_t *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    struct evhttp_bound_socket *sock;
    int port;

    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host))
        return cb_error_set(err, CB_ERR_CONFIG, "metrics.listen: \"%s\" is not HOST:PORT", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    port = atoi(colon + 1);
    if (port < 0 || port > 65535)
        return cb_error_set(err, CB_ERR_CONFIG, "metrics.listen: bad port in \"%s\"", listen);
    evthread_use_pthreads();
    m->base = event_base_new();
    m->http = m->base ? evhttp_new(m->base) : NULL;
    if (!m->http)
        return cb_error_set(err, CB_ERR_NOMEM, "metrics: cannot create the HTTP server");
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_cb(m->http, "/metrics", on_metrics, m);
    evhttp_set_cb(m->http, "/healthz", on_healthz, m);
    sock = evhttp_bind_socket_with_handle(m->http, host, (ev_uint16_t)port);
    if (!sock)
        return cb_error_set(err, CB_ERR_CONFIG, "metrics.listen: cannot listen on %s", listen);
    {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len) == 0)
            m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    if (pthread_create(&m->thread, NULL, serve_thread, m) != 0)
        return cb_error_set(err, CB_ERR_IO, "metrics: cannot start the server thread");
    m->serving = true;
    return 0;
}

int cb_metrics_port(const cb_metrics_t *m)
{
    return m->serving ? m->port : 0;
}

void cb_metrics_destroy(cb_metrics_t *m)
{
    if (!m)
        return;
    if (m->serving) {
        event_base_loopbreak(m->base);
        pthread_join(m->thread, NULL);
    }
    if (m->http)
        evhttp_free(m->http);
    if (m->base)
        event_base_free(m->base);
    free(m);
}
