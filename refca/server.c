/*
 * server.c: the reference CA's HTTPS server (server.h).
 *
 * Flow of one call: on_request (refca's admin calls are answered apart;
 * the rate limit may answer 429; fault injection may answer 503 or drop the
 * connection; latency injection parks the request on a timer) -> route ->
 * a read-only answer, or a mutating call run through the idempotency table
 * in one SQLite transaction (sync mode: applied now; async mode: a PENDING
 * request row whose fate is decided at once and which the completion timer,
 * or a poll, finishes when its time has come).
 */
#include "server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "certbridge/clock.h"
#include "certbridge/log.h"
#include "pki.h"

#define BODY_MAX        (64 * 1024) /* largest accepted request body */
#define KEY_MAX         255         /* longest accepted Idempotency-Key */
#define CURSOR_TEXT_MAX 96          /* longest cursor of a keyed page (ca.c makes shorter) */
#define PATH_MAX_LEN    512         /* longest accepted path */
#define DUE_BATCH       256         /* async requests completed per timer tick */
#define ASYNC_TICK_MS   10
#define RATE_MAX        1e6   /* largest accepted rate limit, calls per second */
#define RETRY_MAX_S     86400 /* longest Retry-After of a 429 */

typedef struct server {
    refca_ca_t *ca;
    const refca_server_opts_t *o;
    struct event_base *base;
    SSL_CTX *ssl;
    uint64_t rng;
    struct event *async_timer;
    struct parked *parked; /* replies waiting on latency timers */
    uint64_t served;
    int64_t arrival_us;  /* when the request being handled was dispatched */
    uint64_t async_seed; /* the seed of the async requests' decisions */
    /* the rate limit's token bucket (rate 0 = none) and its counters */
    double rate, burst, tokens;
    bool burst_given; /* burst set explicitly, else it follows the rate */
    int64_t refill_us;
    uint64_t limited, refused; /* calls subject to the limit; those answered 429 */
} server_t;

/* A reply held back by latency injection, in the server's list so that
 * shutdown frees the timers still pending. */
typedef struct parked {
    server_t *srv;
    struct evhttp_request *req;
    int status;
    struct evbuffer *buf;
    struct event *timer;
    struct parked *prev, *next;
} parked_t;

/* xorshift64*: the fault-injection dice, in [0, 1). */
static double dice(server_t *srv)
{
    srv->rng ^= srv->rng >> 12;
    srv->rng ^= srv->rng << 25;
    srv->rng ^= srv->rng >> 27;
    return (double)((srv->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* splitmix64's finalizer: a well-mixed 64-bit value of x. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* Draw number i, in [0, 1), about the call with Idempotency-Key key: a hash
 * of the seed, the key and i, so what becomes of a call depends on nothing
 * else (not on the order in which calls arrive, nor on the fault dice). */
static double key_dice(const server_t *srv, const char *key, unsigned i)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    const unsigned char *p;

    for (p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (double)(mix64(srv->async_seed ^ mix64(h + i)) >> 11) / 9007199254740992.0;
}

/* Unlinks a parked reply and frees it (a reply never sent frees its
 * buffer; libevent frees the request with its connection). */
static void unpark(parked_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->srv->parked = p->next;
    if (p->next)
        p->next->prev = p->prev;
    event_free(p->timer);
    if (p->buf)
        evbuffer_free(p->buf);
    free(p);
}

/* The latency timer fired: send the parked reply. */
static void on_latency(evutil_socket_t fd, short what, void *arg)
{
    parked_t *p = arg;

    (void)fd;
    (void)what;
    evhttp_send_reply(p->req, p->status, NULL, p->buf);
    unpark(p);
}

/* Sends an answer with a content type and frees nothing of the caller's. */
static void send_now(struct evhttp_request *req, int status, const char *type, const void *body,
                     size_t len)
{
    struct evbuffer *buf = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    if (buf && len)
        evbuffer_add(buf, body, len);
    /* libevent knows no phrase for 429 */
    evhttp_send_reply(req, status, status == 429 ? "Too Many Requests" : NULL, buf);
    if (buf)
        evbuffer_free(buf);
}

/* Sends an answer with a content type, at once or, with latency
 * injection, on a timer that fires --latency-ms after the request's arrival:
 * the call itself is applied on arrival, so the server's own work is part of
 * the latency rather than added to it, and a client with C calls in flight
 * can reach C/L calls per second while the server keeps up. */
static void reply(server_t *srv, struct evhttp_request *req, int status, const char *type,
                  const void *body, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    parked_t *p = NULL;
    struct timeval tv;
    int64_t left_us = (int64_t)srv->o->latency_ms * 1000 - (cb_clock_mono_us() - srv->arrival_us);

    evhttp_add_header(h, "Content-Type", type);
    if (buf && len)
        evbuffer_add(buf, body, len);
    if (left_us > 0 && buf && (p = calloc(1, sizeof(*p))) &&
        (p->timer = evtimer_new(srv->base, on_latency, p))) {
        p->srv = srv;
        p->req = req;
        p->status = status;
        p->buf = buf;
        p->next = srv->parked;
        if (p->next)
            p->next->prev = p;
        srv->parked = p;
        tv.tv_sec = (time_t)(left_us / 1000000);
        tv.tv_usec = (suseconds_t)(left_us % 1000000);
        /* libevent counts a timer from the time it cached when this loop
         * turn began, which is earlier by every callback run since: without
         * this, a busy server answered up to milliseconds before
         * --latency-ms (certbridge's limiter measured a 20 ms CA at 17.8) */
        event_base_update_cache_time(srv->base);
        evtimer_add(p->timer, &tv);
        return;
    }
    free(p);
    evhttp_send_reply(req, status, NULL, buf);
    if (buf)
        evbuffer_free(buf);
}

/* Sends a JSON answer; problem+json for 4xx and 5xx. */
static void reply_answer(server_t *srv, struct evhttp_request *req, const refca_answer_t *ans)
{
    const char *type = ans->status >= 400 ? "application/problem+json" : "application/json";

    reply(srv, req, ans->status, type, ans->body ? ans->body : "",
          ans->body ? strlen(ans->body) : 0);
}

/* Sends a problem answer. */
static void reply_problem(server_t *srv, struct evhttp_request *req, int status, const char *code,
                          const char *detail)
{
    refca_answer_t ans = {0, NULL};

    refca_problem(&ans, status, code, detail);
    reply_answer(srv, req, &ans);
    refca_answer_clear(&ans);
}

/* Closes the request's connection without answering: the client sees the
 * connection end (fault injection). libevent frees the request when the
 * reply below fails on the closed socket. */
static void drop_connection(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    evhttp_send_reply(req, 500, NULL, NULL);
}

/* The request body as a NUL-terminated heap string (capped). NULL when too
 * large or out of memory. */
static char *request_body(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *body;

    if (len > BODY_MAX || !(body = malloc(len + 1)))
        return NULL;
    evbuffer_copyout(in, body, len);
    body[len] = '\0';
    return body;
}

/* Splits path into up to max segments after "/v1/" (modifies path). Answers
 * the count, or -1 when the path is not under /v1/. */
static int split_path(char *path, char **seg, int max)
{
    int n = 0;
    char *p, *save = NULL;

    if (strncmp(path, "/v1/", 4) != 0)
        return -1;
    for (p = strtok_r(path + 4, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return -1;
        seg[n++] = p;
    }
    return n;
}

/* The text of a --huge-problem-bytes detail: a Vietnamese sentence with a
 * 4-byte emoji, repeated, so that 1-, 2-, 3- and 4-byte UTF-8 sequences
 * straddle any cut a client makes. */
static const char huge_phrase[] = "\xF0\x9F\x94\x92 Y\xC3\xAAu c\xE1\xBA\xA7u b\xE1\xBB\x8B "
                                  "t\xE1\xBB\xAB ch\xE1\xBB\x91i theo ch\xC3\xADnh s\xC3\xA1"
                                  "ch c\xE1\xBB\xA7"
                                  "a CA; ";

/* Fault injection --huge-problem-holder: a change-info or revoke of a
 * certificate held by one of the named holders is refused with a 422
 * problem whose "detail" is exactly --huge-problem-bytes bytes of valid
 * UTF-8 (whole repetitions of huge_phrase, then '.' up to the length). The
 * answer is stored under the Idempotency-Key like any other, so a replay of
 * the call gets it again. Returns 1 when ans was filled, 0 when the call is
 * not chosen, -1 on internal failure (inside the caller's transaction). */
static int huge_problem(server_t *srv, refca_op_t op, const char *target, refca_answer_t *ans,
                        cb_error_t *err)
{
    size_t n = srv->o->huge_problem_bytes, len = 0, k;
    refca_cert_row_t row;
    bool chosen = false;
    char *detail;
    int rc, i;

    if (!srv->o->n_huge_problem_holders || (op != REFCA_OP_CHANGE_INFO && op != REFCA_OP_REVOKE))
        return 0;
    memset(&row, 0, sizeof(row));
    if ((rc = refca_store_cert_get(refca_ca_store(srv->ca), target, &row, err)) < 0)
        return -1;
    for (i = 0; rc == 0 && row.holder_id && i < srv->o->n_huge_problem_holders; i++)
        chosen |= !strcmp(row.holder_id, srv->o->huge_problem_holders[i]);
    refca_cert_row_clear(&row);
    if (!chosen)
        return 0;
    if (!(detail = malloc(n + 1)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    while (len + sizeof(huge_phrase) - 1 <= n) {
        memcpy(detail + len, huge_phrase, sizeof(huge_phrase) - 1);
        len += sizeof(huge_phrase) - 1;
    }
    for (k = len; k < n; k++)
        detail[k] = '.';
    detail[n] = '\0';
    /* the contract's code for a refused body of the call (ca-api.yaml lists
     * every code a CA answers) */
    refca_problem(ans, 422, op == REFCA_OP_REVOKE ? "INVALID_REASON" : "INVALID_SUBJECT", detail);
    free(detail);
    cb_log(CB_LOG_INFO, "refca", "%s %s: injected a problem of %zu bytes", refca_op_name(op),
           target, n);
    return 1;
}

/* Decides, once, what becomes of an async request accepted under key (the
 * caller stores it with the request): its fate, when its time comes, and
 * through how many polls it stays PENDING at least even when its time has
 * come. */
static void decide(const server_t *srv, const char *key, int64_t now_ms, refca_request_row_t *row)
{
    const refca_server_opts_t *o = srv->o;
    double f = key_dice(srv, key, 0);
    int64_t span = (int64_t)o->async_delay_max_ms - o->async_delay_min_ms;

    row->fate = (char *)(f < o->async_reject                     ? REFCA_REQ_REJECTED
                         : f < o->async_reject + o->async_expire ? REFCA_REQ_EXPIRED
                                                                 : REFCA_REQ_COMPLETED);
    row->due_ms =
        now_ms + o->async_delay_min_ms + (int64_t)(key_dice(srv, key, 1) * (double)(span + 1));
    row->min_polls = key_dice(srv, key, 2) < o->async_min_polls_share ? o->async_min_polls : 0;
}

/* Finishes a PENDING request whose time has come, inside the caller's
 * transaction: its fate (refca_ca_finish) becomes its final state and
 * answer. */
static int finish_request(server_t *srv, const refca_request_row_t *row, cb_error_t *err)
{
    refca_answer_t ans = {0, NULL};
    const char *state = NULL;
    int rc = refca_ca_finish(srv->ca, row, &state, &ans, err);

    if (rc == 0)
        rc = refca_store_request_finish(refca_ca_store(srv->ca), row->id, state, ans.status,
                                        ans.body, err);
    refca_answer_clear(&ans);
    return rc;
}

/* GET /v1/requests/{id}, a poll: a PENDING request whose time has come and
 * that has been polled at least its min_polls times finishes now (the timer
 * would a moment later), any other poll of a PENDING request is counted;
 * then its state is answered. */
static int poll_request(server_t *srv, const char *id, refca_answer_t *ans, cb_error_t *err)
{
    refca_store_t *st = refca_ca_store(srv->ca);
    refca_request_row_t row;
    int found, rc = 0;

    if (refca_store_begin(st, err) < 0)
        return -1;
    if ((found = refca_store_request_get(st, id, &row, err)) < 0)
        rc = -1;
    if (found == 0) {
        if (!strcmp(row.state, REFCA_REQ_PENDING))
            rc = row.polls >= row.min_polls && row.due_ms <= cb_clock_wall_ms()
                     ? finish_request(srv, &row, err)
                     : refca_store_request_polled(st, id, err);
        refca_request_row_clear(&row);
    }
    if (rc < 0 || refca_store_commit(st, err) < 0) {
        refca_store_rollback(st);
        return -1;
    }
    return refca_ca_request(srv->ca, id, ans, err);
}

/* Answers a mutating call through the idempotency table, in one
 * transaction: a known key replays its stored answer; otherwise the call is
 * applied (or, in async mode, recorded as a PENDING request) and its answer
 * stored under the key. */
static void mutate(server_t *srv, struct evhttp_request *req, refca_op_t op, const char *target,
                   const char *route)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *key = evhttp_find_header(in, "Idempotency-Key");
    refca_store_t *st = refca_ca_store(srv->ca);
    refca_answer_t ans = {0, NULL};
    char *body = NULL, *stored_route = NULL, *stored_body = NULL, location[64] = "";
    int stored_status = 0, rc;
    cb_error_t err;

    cb_error_clear(&err);
    if (!key || !*key || strlen(key) > KEY_MAX) {
        reply_problem(srv, req, 400, "IDEMPOTENCY_KEY_REQUIRED",
                      "mutating calls need an Idempotency-Key header of 1..255 characters");
        return;
    }
    if (!(body = request_body(req))) {
        reply_problem(srv, req, 413, "BODY_TOO_LARGE", "the request body exceeds 64 KiB");
        return;
    }
    if (refca_store_begin(st, &err) < 0)
        goto internal;
    rc = refca_store_idem_get(st, key, &stored_route, &stored_status, &stored_body, &err);
    if (rc < 0)
        goto rollback;
    if (rc == 0) {
        refca_store_rollback(st);
        if (strcmp(stored_route, route) != 0) {
            reply_problem(srv, req, 422, "IDEMPOTENCY_KEY_REUSED",
                          "this Idempotency-Key was used for another call");
        } else {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Idempotent-Replayed",
                              "true");
            ans.status = stored_status;
            ans.body = stored_body;
            stored_body = NULL;
            reply_answer(srv, req, &ans);
        }
        goto out;
    }
    if ((rc = huge_problem(srv, op, target, &ans, &err)) < 0)
        goto rollback;
    if (rc == 1) {
        /* refused: stored under the key below, nothing applied */
    } else if (srv->o->async) {
        rc = refca_ca_precheck(srv->ca, op, target, body, &ans, &err);
        if (rc < 0)
            goto rollback;
        if (rc == 0) {
            char id[REFCA_SERIAL_HEX_MAX + 4], text[160];
            refca_request_row_t row;

            memcpy(id, "REQ-", 4);
            if (refca_serial_new(id + 4, &err) < 0)
                goto rollback;
            memset(&row, 0, sizeof(row));
            row.id = id;
            row.state = (char *)REFCA_REQ_PENDING;
            row.op = (char *)refca_op_name(op);
            row.target = (char *)target;
            row.params = body;
            row.idem_key = (char *)key;
            decide(srv, key, cb_clock_wall_ms(), &row);
            if (refca_store_request_put(st, &row, &err) < 0)
                goto rollback;
            snprintf(text, sizeof(text), "{\"status\":\"PENDING\",\"request_id\":\"%s\"}", id);
            snprintf(location, sizeof(location), "/v1/requests/%s", id);
            free(ans.body);
            ans.status = 202;
            if (!(ans.body = strdup(text)))
                goto rollback;
        }
    } else if (refca_ca_apply(srv->ca, op, target, body, key, NULL, &ans, &err) < 0) {
        goto rollback;
    }
    if (ans.status < 500 && refca_store_idem_put(st, key, route, ans.status, ans.body, &err) < 0)
        goto rollback;
    if (refca_store_commit(st, &err) < 0)
        goto rollback;
    if (location[0])
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", location);
    reply_answer(srv, req, &ans);
    goto out;
rollback:
    refca_store_rollback(st);
internal:
    cb_log(CB_LOG_ERROR, "refca", "%s: %s", route, err.msg);
    reply_problem(srv, req, 500, "INTERNAL", "the reference CA failed; see its log");
out:
    refca_answer_clear(&ans);
    free(body);
    free(stored_route);
    free(stored_body);
}

/* Query parameter name of the parsed query, or NULL. */
static const char *query(struct evkeyvalq *q, const char *name)
{
    const char *v = evhttp_find_header(q, name);

    return v && *v ? v : NULL;
}

/* The query of GET /v1/certificates. */
static void list_params(struct evkeyvalq *q, refca_list_params_t *p)
{
    p->holder_type = query(q, "holder_type");
    p->holder_id = query(q, "holder_id");
    p->org_code = query(q, "org_code");
    p->province = query(q, "province");
    p->status = query(q, "status");
    p->changed_since = query(q, "changed_since");
    p->page_size = query(q, "page_size");
    p->cursor = query(q, "cursor");
}

/* A lookup. With an Idempotency-Key the first answer is stored under the
 * key and answered again later (a snapshot), unless --live-lookups: then,
 * like a real CA is likely to, every lookup answers the live state (the
 * exactly-once tests run so; certbridge sends no key on lookups).
 * A paged lookup stores each page under the key and its cursor: one key
 * serves every page of one walk, and the query must stay the same but for
 * the cursor. */
static int keyed_lookup(server_t *srv, struct evhttp_request *req, struct evkeyvalq *q,
                        const char *query_text, refca_answer_t *ans, cb_error_t *err)
{
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(req), "Idempotency-Key");
    refca_store_t *st = refca_ca_store(srv->ca);
    char route[1400], stored_key[KEY_MAX + CURSOR_TEXT_MAX + 4];
    char *stored_route = NULL, *stored_body = NULL;
    refca_list_params_t p;
    int stored_status = 0, rc;

    list_params(q, &p);
    if (!key || !*key || srv->o->live_lookups) /* --live-lookups: no snapshot, ever */
        return refca_ca_list(srv->ca, &p, ans, err);
    if (strlen(key) > KEY_MAX) {
        refca_problem(ans, 400, "IDEMPOTENCY_KEY_REQUIRED",
                      "an Idempotency-Key must have 1..255 characters");
        return 0;
    }
    if (p.page_size || p.cursor) {
        if (p.cursor && strlen(p.cursor) > CURSOR_TEXT_MAX) {
            refca_problem(ans, 400, "INVALID_CURSOR", "the cursor is not one of this CA's");
            return 0;
        }
        snprintf(route, sizeof(route),
                 "GET /v1/certificates?holder_type=%.40s&holder_id=%.400s&org_code=%.40s&"
                 "province=%.400s&status=%.10s&changed_since=%.40s&page_size=%.10s",
                 p.holder_type ? p.holder_type : "", p.holder_id ? p.holder_id : "",
                 p.org_code ? p.org_code : "", p.province ? p.province : "",
                 p.status ? p.status : "", p.changed_since ? p.changed_since : "",
                 p.page_size ? p.page_size : "");
        snprintf(stored_key, sizeof(stored_key), "%s page %s", key, p.cursor ? p.cursor : "1");
    } else {
        snprintf(route, sizeof(route), "GET /v1/certificates?%.500s", query_text ? query_text : "");
        snprintf(stored_key, sizeof(stored_key), "%s", key);
    }
    if (refca_store_begin(st, err) < 0)
        return -1;
    rc = refca_store_idem_get(st, stored_key, &stored_route, &stored_status, &stored_body, err);
    if (rc == 0) {
        refca_store_rollback(st);
        if (strcmp(stored_route, route) != 0) {
            refca_problem(ans, 422, "IDEMPOTENCY_KEY_REUSED",
                          "this Idempotency-Key was used for another call");
            free(stored_body);
        } else {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Idempotent-Replayed",
                              "true");
            ans->status = stored_status;
            ans->body = stored_body;
        }
        free(stored_route);
        return 0;
    }
    if (rc < 0 || refca_ca_list(srv->ca, &p, ans, err) < 0 ||
        (ans->status == 200 &&
         refca_store_idem_put(st, stored_key, route, ans->status, ans->body, err) < 0) ||
        refca_store_commit(st, err) < 0) {
        refca_store_rollback(st);
        return -1;
    }
    return 0;
}

/* Read-only calls: lookup, one certificate, request state, ledger. */
static void read_call(server_t *srv, struct evhttp_request *req, char **seg, int n,
                      const char *query_text)
{
    struct evkeyvalq q;
    refca_answer_t ans = {0, NULL};
    cb_error_t err;
    int rc = 0;

    cb_error_clear(&err);
    TAILQ_INIT(&q);
    if (query_text && evhttp_parse_query_str(query_text, &q) < 0) {
        reply_problem(srv, req, 400, "INVALID_QUERY", "the query string is malformed");
        return;
    }
    if (n == 1 && !strcmp(seg[0], "certificates")) {
        rc = keyed_lookup(srv, req, &q, query_text, &ans, &err);
    } else if (n == 1 && !strcmp(seg[0], "devices")) {
        rc = refca_ca_devices(srv->ca, query(&q, "status"), query(&q, "org_code"),
                              query(&q, "page_size"), query(&q, "cursor"), &ans, &err);
    } else if (n == 2 && !strcmp(seg[0], "certificates")) {
        rc = refca_ca_cert(srv->ca, seg[1], &ans, &err);
    } else if (n == 2 && !strcmp(seg[0], "requests")) {
        rc = poll_request(srv, seg[1], &ans, &err);
    } else if (n == 1 && !strcmp(seg[0], "ledger")) {
        const char *after = query(&q, "after"), *limit = query(&q, "limit");
        rc = refca_ca_ledger(srv->ca, after ? strtoll(after, NULL, 10) : 0,
                             limit ? strtoll(limit, NULL, 10) : 0, &ans, &err);
    } else {
        refca_problem(&ans, 404, "NOT_FOUND", "no such resource");
    }
    if (rc < 0) {
        cb_log(CB_LOG_ERROR, "refca", "read: %s", err.msg);
        refca_problem(&ans, 500, "INTERNAL", "the reference CA failed; see its log");
    }
    reply_answer(srv, req, &ans);
    refca_answer_clear(&ans);
    evhttp_clear_headers(&q);
}

/* Routes one request (after fault injection and latency). */
static void handle(server_t *srv, struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *upath = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    char path[PATH_MAX_LEN], route[PATH_MAX_LEN + 8], *seg[4];
    bool is_ledger;
    double roll;
    int n;

    srv->served++;
    if (!upath || strlen(upath) >= sizeof(path)) {
        reply_problem(srv, req, 404, "NOT_FOUND", "no such resource");
        return;
    }
    snprintf(path, sizeof(path), "%s", upath);
    snprintf(route, sizeof(route), "%s %s", cmd == EVHTTP_REQ_POST ? "POST" : "GET", upath);
    n = split_path(path, seg, 4);
    if (n < 1) {
        reply_problem(srv, req, 404, "NOT_FOUND", "no such resource");
        return;
    }
    is_ledger = !strcmp(seg[0], "ledger") || !strcmp(seg[0], "ca.pem");
    roll = dice(srv);
    if (!is_ledger && roll < srv->o->drop) {
        drop_connection(req);
        return;
    }
    if (!is_ledger && roll < srv->o->drop + srv->o->fail_503) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", srv->o->retry_after_s);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
        reply_problem(srv, req, 503, "UNAVAILABLE", "injected fault: try again later");
        return;
    }
    if (cmd == EVHTTP_REQ_GET) {
        if (n == 1 && !strcmp(seg[0], "ca.pem")) {
            const char *pem = refca_ca_pem(srv->ca);
            reply(srv, req, 200, "application/x-pem-file", pem, strlen(pem));
        } else if (n == 1 && !strcmp(seg[0], "crl")) {
            const unsigned char *der;
            size_t len;
            cb_error_t err;
            if (refca_ca_crl(srv->ca, &der, &len, &err) < 0)
                reply_problem(srv, req, 500, "INTERNAL", err.msg);
            else
                reply(srv, req, 200, "application/pkix-crl", der, len);
        } else {
            const char *q = evhttp_uri_get_query(uri);
            read_call(srv, req, seg, n, q);
        }
        return;
    }
    if (cmd != EVHTTP_REQ_POST) {
        reply_problem(srv, req, 405, "METHOD_NOT_ALLOWED", "use GET or POST");
        return;
    }
    if (n == 1 && !strcmp(seg[0], "certificates"))
        mutate(srv, req, REFCA_OP_ISSUE, NULL, route);
    else if (n == 3 && !strcmp(seg[0], "certificates") && !strcmp(seg[2], "change-info"))
        mutate(srv, req, REFCA_OP_CHANGE_INFO, seg[1], route);
    else if (n == 3 && !strcmp(seg[0], "certificates") && !strcmp(seg[2], "revoke"))
        mutate(srv, req, REFCA_OP_REVOKE, seg[1], route);
    else if (n == 3 && !strcmp(seg[0], "devices") && !strcmp(seg[2], "recall"))
        mutate(srv, req, REFCA_OP_RECALL, seg[1], route);
    else if (n == 3 && !strcmp(seg[0], "devices") && !strcmp(seg[2], "returned"))
        mutate(srv, req, REFCA_OP_RETURNED, seg[1], route);
    else
        reply_problem(srv, req, 404, "NOT_FOUND", "no such resource");
}

/* Fault injection --drop-after: a share of mutating calls is applied but
 * its answer is lost. The socket is shut first; handle() then applies the
 * call and its reply fails on the closed socket, as if the network had
 * dropped it. */
static void handle_maybe_drop_after(server_t *srv, struct evhttp_request *req)
{
    if (srv->o->drop_after > 0 && evhttp_request_get_command(req) == EVHTTP_REQ_POST &&
        dice(srv) < srv->o->drop_after) {
        struct evhttp_connection *conn = evhttp_request_get_connection(req);
        struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;

        if (bev && bufferevent_getfd(bev) >= 0)
            shutdown(bufferevent_getfd(bev), SHUT_RDWR);
    }
    handle(srv, req);
}

/* Whether path is prefix itself or a path below it. */
static bool path_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);

    return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '/');
}

/* Adds the tokens earned since the last refill (none beyond the burst). */
static void rate_refill(server_t *srv, int64_t now_us)
{
    if (srv->rate > 0) {
        srv->tokens += (double)(now_us - srv->refill_us) * srv->rate / 1e6;
        if (srv->tokens > srv->burst)
            srv->tokens = srv->burst;
    }
    srv->refill_us = now_us;
}

/* Sets the rate limit from now on: rate calls per second (0 = none), a
 * bucket of burst calls (0 = the default: 100 ms worth of calls, at least
 * one, so a step of the rate shows within a tenth of a second). Tokens
 * earned so far are kept up to the new burst; a limit switched on starts
 * with a full bucket. */
static void rate_set(server_t *srv, double rate, double burst)
{
    bool was_off = srv->rate <= 0;

    rate_refill(srv, cb_clock_mono_us());
    srv->rate = rate;
    if (burst > 0)
        srv->burst_given = true;
    if (burst <= 0 && !srv->burst_given)
        burst = rate / 10 < 1 ? 1 : rate / 10;
    if (burst > 0)
        srv->burst = burst;
    if (was_off || srv->tokens > srv->burst)
        srv->tokens = srv->burst;
}

/* The rate limit for one call: true when it may go on (a token taken);
 * false when the bucket is empty, with the whole seconds until the next
 * token in *wait_s (at least 1: Retry-After counts whole seconds). */
static bool rate_take(server_t *srv, int *wait_s)
{
    double s;

    srv->limited++;
    if (srv->rate <= 0)
        return true;
    rate_refill(srv, cb_clock_mono_us());
    if (srv->tokens >= 1) {
        srv->tokens -= 1;
        return true;
    }
    srv->refused++;
    s = (1 - srv->tokens) / srv->rate;
    *wait_s = s >= RETRY_MAX_S ? RETRY_MAX_S : (int)s + ((double)(int)s < s);
    if (*wait_s < 1)
        *wait_s = 1;
    return false;
}

/* A call beyond the rate limit: 429 RATE_LIMITED with Retry-After, at
 * once (as a gateway in front of the CA would: no latency injection),
 * nothing applied. */
static void reply_rate_limited(server_t *srv, struct evhttp_request *req, int wait_s)
{
    refca_answer_t ans = {0, NULL};
    char ra[16], detail[128];

    snprintf(ra, sizeof(ra), "%d", wait_s);
    snprintf(detail, sizeof(detail), "more than %g calls per second (burst %g): try again later",
             srv->rate, srv->burst);
    refca_problem(&ans, 429, "RATE_LIMITED", detail);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
    send_now(req, 429, "application/problem+json", ans.body, ans.body ? strlen(ans.body) : 0);
    refca_answer_clear(&ans);
}

/* Sends a JSON document (consumed) at once: refca's admin answers. */
static void send_json(struct evhttp_request *req, int status, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

    json_decref(obj);
    if (!text) {
        send_now(req, 500, "application/json", "{}", 2);
        return;
    }
    send_now(req, status, "application/json", text, strlen(text));
    free(text);
}

/* Sends a problem at once: refca's admin answers. */
static void send_problem(struct evhttp_request *req, int status, const char *code,
                         const char *detail)
{
    refca_answer_t ans = {0, NULL};

    refca_problem(&ans, status, code, detail);
    send_now(req, status, "application/problem+json", ans.body, ans.body ? strlen(ans.body) : 0);
    refca_answer_clear(&ans);
}

/* POST /v1/admin/rate-limit {"rate": R, "burst": B}: the rate limit from
 * now on (R calls per second, 0 = none; B optional, >= 1). */
static void admin_rate_limit(server_t *srv, struct evhttp_request *req)
{
    char *body = request_body(req);
    json_t *obj = body ? json_loads(body, 0, NULL) : NULL;
    json_t *r = json_object_get(obj, "rate"), *b = json_object_get(obj, "burst");
    double rate = json_number_value(r), burst = b ? json_number_value(b) : 0;

    free(body);
    if (!json_is_object(obj) || !json_is_number(r) || rate < 0 || rate > RATE_MAX ||
        (b && (!json_is_number(b) || burst < 1 || burst > RATE_MAX))) {
        json_decref(obj);
        send_problem(req, 400, "MALFORMED_BODY",
                     "want {\"rate\": calls per second (0 = no limit), \"burst\": calls >= 1 "
                     "(optional)}");
        return;
    }
    json_decref(obj);
    rate_set(srv, rate, burst);
    cb_log(CB_LOG_INFO, "refca", "rate limit now %g calls/s, burst %g", srv->rate, srv->burst);
    send_json(
        req, 200,
        json_pack("{s:f, s:f}", "rate", srv->rate, "burst", srv->rate > 0 ? srv->burst : 0.0));
}

/* refca's own calls, under /v1/admin/ (not in the CA contract; mutual TLS
 * like every call, but no fault injection, rate limit or latency):
 *   GET  /v1/admin/stats       calls counted by the rate limit and refused
 *   POST /v1/admin/rate-limit  change the rate limit while the server runs */
static void admin_call(server_t *srv, struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (!strcmp(path, "/v1/admin/stats")) {
        if (cmd != EVHTTP_REQ_GET)
            send_problem(req, 405, "METHOD_NOT_ALLOWED", "use GET");
        else
            send_json(req, 200,
                      json_pack("{s:I, s:I, s:I, s:I, s:f, s:f}", "served", (json_int_t)srv->served,
                                "calls", (json_int_t)srv->limited, "accepted",
                                (json_int_t)(srv->limited - srv->refused), "refused_429",
                                (json_int_t)srv->refused, "rate", srv->rate, "burst",
                                srv->rate > 0 ? srv->burst : 0.0));
    } else if (!strcmp(path, "/v1/admin/rate-limit")) {
        if (cmd != EVHTTP_REQ_POST)
            send_problem(req, 405, "METHOD_NOT_ALLOWED", "use POST");
        else
            admin_rate_limit(srv, req);
    } else {
        send_problem(req, 404, "NOT_FOUND", "no such resource");
    }
}

/* Every request enters here: refca's admin calls apart, then the rate limit
 * (/v1/ca.pem and /v1/ledger exempt, as from fault injection), then the
 * call. */
static void on_request(struct evhttp_request *req, void *arg)
{
    server_t *srv = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    int wait_s = 0;

    srv->arrival_us = cb_clock_mono_us();
    if (path && path_under(path, "/v1/admin")) {
        admin_call(srv, req, path);
        return;
    }
    if (path && !path_under(path, "/v1/ca.pem") && !path_under(path, "/v1/ledger") &&
        !rate_take(srv, &wait_s)) {
        reply_rate_limited(srv, req, wait_s);
        return;
    }
    handle_maybe_drop_after(srv, req);
}

/* Finishes the PENDING requests whose time has come and that were polled
 * their min_polls times, each in its own transaction (finish_request). */
static void on_async_tick(evutil_socket_t fd, short what, void *arg)
{
    server_t *srv = arg;
    refca_store_t *st = refca_ca_store(srv->ca);
    char *ids[DUE_BATCH];
    int n, i;
    cb_error_t err;

    (void)fd;
    (void)what;
    cb_error_clear(&err);
    n = refca_store_request_due(st, cb_clock_wall_ms(), ids, DUE_BATCH, &err);
    for (i = 0; i < n; i++) {
        refca_request_row_t row;

        if (refca_store_begin(st, &err) < 0)
            goto next;
        if (refca_store_request_get(st, ids[i], &row, &err) != 0) {
            refca_store_rollback(st);
            goto next;
        }
        if (finish_request(srv, &row, &err) < 0 || refca_store_commit(st, &err) < 0) {
            refca_store_rollback(st);
            cb_log(CB_LOG_ERROR, "refca", "completing %s: %s", ids[i], err.msg);
        }
        refca_request_row_clear(&row);
    next:
        free(ids[i]);
    }
}

/* Each accepted connection gets a TLS bufferevent in accepting state. */
static struct bufferevent *on_connection(struct event_base *base, void *arg)
{
    server_t *srv = arg;
    SSL *ssl = SSL_new(srv->ssl);

    if (!ssl)
        return NULL;
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

/* SIGINT/SIGTERM: leave the loop. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    server_t *srv = arg;

    (void)what;
    cb_log(CB_LOG_INFO, "refca", "signal %d: stopping after %llu calls", (int)sig,
           (unsigned long long)srv->served);
    event_base_loopexit(srv->base, NULL);
}

/* The TLS context: our certificate, TLS >= 1.2, client certificates
 * required and verified against the client CA. */
static SSL_CTX *make_ssl(const refca_server_opts_t *o, cb_error_t *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    STACK_OF(X509_NAME) *names = NULL;
    char buf[256];

    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1 ||
        SSL_CTX_load_verify_locations(ctx, o->client_ca, NULL) != 1 ||
        !(names = SSL_load_client_CA_file(o->client_ca)))
        goto fail;
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"refca", 5);
    return ctx;
fail:
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    ERR_clear_error();
    cb_error_set(err, CB_ERR_CONFIG, "TLS set-up (%s, %s, %s): %s", o->tls_cert, o->tls_key,
                 o->client_ca, buf);
    SSL_CTX_free(ctx);
    return NULL;
}

/* Writes "https://HOST:PORT" to path, atomically (temp file + rename). */
static int write_url(const char *path, const char *host, int port, cb_error_t *err)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        return cb_error_set(err, CB_ERR_IO, "%s: %s", tmp, strerror(errno));
    fprintf(f, "https://%s:%d\n", host, port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return cb_error_set(err, CB_ERR_IO, "%s: %s", path, strerror(errno));
    return 0;
}

int refca_server_run(refca_ca_t *ca, const refca_server_opts_t *o, cb_error_t *err)
{
    server_t srv;
    struct evhttp *http = NULL;
    struct evhttp_bound_socket *bound;
    struct event *sigint = NULL, *sigterm = NULL;
    struct event_config *ecfg;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int port, rc = -1, one = 1;

    memset(&srv, 0, sizeof(srv));
    srv.ca = ca;
    srv.o = o;
    srv.rng = o->seed ? o->seed : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    srv.async_seed = mix64(srv.rng);
    if (o->rate_limit > 0)
        rate_set(&srv, o->rate_limit, o->rate_burst);
    signal(SIGPIPE, SIG_IGN);
    if (!(srv.ssl = make_ssl(o, err)))
        return -1;
    /* a precise clock: on Linux libevent otherwise times with
     * CLOCK_MONOTONIC_COARSE, and a --latency-ms answer could leave up to a
     * tick early */
    if ((ecfg = event_config_new()))
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    srv.base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    event_config_free(ecfg);
    if (!srv.base || !(http = evhttp_new(srv.base))) {
        cb_error_set(err, CB_ERR_NOMEM, "libevent set-up failed");
        goto out;
    }
    evhttp_set_bevcb(http, on_connection, &srv);
    evhttp_set_gencb(http, on_request, &srv);
    evhttp_set_max_body_size(http, BODY_MAX);
    evhttp_set_max_headers_size(http, 16 * 1024);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_timeout(http, 120);
    if (!(bound = evhttp_bind_socket_with_handle(http, o->host, (ev_uint16_t)o->port))) {
        cb_error_set(err, CB_ERR_IO, "cannot listen on %s:%d", o->host, o->port);
        goto out;
    }
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) < 0) {
        cb_error_set(err, CB_ERR_IO, "getsockname: %s", strerror(errno));
        goto out;
    }
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    /* accepted sockets inherit it: no Nagle delay between a TLS record of
     * headers and one of body (40 ms with the peer's delayed ACK) */
    setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sigint = evsignal_new(srv.base, SIGINT, on_signal, &srv);
    sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
    if (!sigint || !sigterm || evsignal_add(sigint, NULL) < 0 || evsignal_add(sigterm, NULL) < 0) {
        cb_error_set(err, CB_ERR_INTERNAL, "signal set-up failed");
        goto out;
    }
    if (o->async) {
        struct timeval tick = {0, ASYNC_TICK_MS * 1000};
        srv.async_timer = event_new(srv.base, -1, EV_PERSIST, on_async_tick, &srv);
        if (!srv.async_timer || evtimer_add(srv.async_timer, &tick) < 0) {
            cb_error_set(err, CB_ERR_INTERNAL, "timer set-up failed");
            goto out;
        }
    }
    if (o->url_file && write_url(o->url_file, o->host, port, err) < 0)
        goto out;
    cb_log(CB_LOG_INFO, "refca",
           "listening on https://%s:%d (latency %d ms, 503 %.2f, drop %.2f, drop-after %.2f, "
           "async %s, rate limit %g/s burst %g)",
           o->host, port, o->latency_ms, o->fail_503, o->drop, o->drop_after,
           o->async ? "on" : "off", srv.rate, srv.rate > 0 ? srv.burst : 0.0);
    if (o->async)
        cb_log(CB_LOG_INFO, "refca",
               "async: due in %d..%d ms, rejected %.2f, expired %.2f, pending through %d poll(s) "
               "for %.2f",
               o->async_delay_min_ms, o->async_delay_max_ms, o->async_reject, o->async_expire,
               o->async_min_polls, o->async_min_polls_share);
    event_base_dispatch(srv.base);
    rc = 0;
out:
    while (srv.parked)
        unpark(srv.parked);
    if (srv.async_timer)
        event_free(srv.async_timer);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (http)
        evhttp_free(http);
    if (srv.base)
        event_base_free(srv.base);
    SSL_CTX_free(srv.ssl);
    return rc;
}
