/*
 * ca_client.c: the CA API v1 client over a libcurl multi handle
 * (ca_client.h, schemas/ca-api.yaml).
 *
 * Each submitted request becomes a job. Jobs wait in the ready queue until
 * the limiter (limiter.h: at most ca.concurrency, fewer when the CA asks for
 * less) lets one more start, run as a curl easy handle on the multi handle
 * (connections are kept and reused by the multi handle), and on a retriable
 * failure wait in the delayed list until their backoff has passed, then go
 * first in the ready queue (their holder's calls wait behind them); nothing
 * ever sleeps, so one slow or failing call never holds up the others.
 * Finished jobs queue up until cb_ca_poll hands them back. Every attempt's
 * time and answer go to the limiter.
 */
#include "certbridge/ca_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "certbridge/clock.h"
#include "certbridge/event.h"
#include "certbridge/json.h"
#include "certbridge/limiter.h"
#include "certbridge/log.h"
#include "certbridge/metrics.h"
#include "certbridge/text.h"
#include "certbridge/secret.h"

#define URL_MAX         4096   /* longest request URL */
#define RETRY_AFTER_MAX 60000  /* longest honoured Retry-After, ms */
#define CERTS_MAX       100000 /* most certificates accepted in one lookup answer */
#define ERRTEXT_MAX     CURL_ERROR_SIZE
#define REQ_BODY_MAX    (64 * 1024) /* largest request body certbridge sends */
#define HEADER_LINE_MAX 96          /* "Idempotency-Key: " and a 64-character key */

typedef struct ca_job {
    cb_ca_req_t *req;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body; /* request body (POST), NULL for GET */
    char *resp; /* answer body, capped at CB_CA_BODY_MAX */
    size_t resp_len, resp_cap;
    bool overflow; /* the answer exceeded CB_CA_BODY_MAX: transfer aborted */
    int64_t retry_after_ms;
    int64_t submitted_ms, started_ms, due_ms; /* started: first attempt, 0 before */
    int64_t attempt_us;                       /* the current attempt's start (mono us) */
    long status;                              /* the last attempt's HTTP status, 0 none */
    long timeout_ms, connect_timeout_ms;      /* of each attempt */
    int max_attempts;
    bool probe; /* the readiness probe: completes into the client, not the done queue */
    char errtext[ERRTEXT_MAX];
    struct ca_job *next;
} ca_job_t;

/* A FIFO of jobs. */
typedef struct job_queue {
    ca_job_t *head, *tail;
    size_t count;
} job_queue_t;

struct cb_ca_client {
    CURLM *multi;
    char *base_url; /* without a trailing slash */
    char *cert, *key, *ca_bundle;
    char *key_passwd; /* ca.tls.key_passphrase_file's secret; wiped when freed */
    bool insecure_http;
    long connect_timeout_ms, timeout_ms;
    int concurrency, max_attempts; /* concurrency: the limiter's ceiling */
    int64_t retry_base_ms, retry_max_ms;
    uint64_t rng;

    job_queue_t ready;   /* waiting for a slot */
    job_queue_t delayed; /* waiting for their backoff to pass (due_ms) */
    job_queue_t done;    /* finished, not yet handed back */
    job_queue_t running; /* on the multi handle */
    size_t active;       /* running.count */
    cb_limiter_t *limiter;
    cb_metrics_t *metrics; /* borrowed, may be NULL (cb_ca_client_set_metrics) */
    size_t pending;        /* submitted and not yet handed back */
    CURL **pool;           /* idle easy handles, reused */
    size_t pool_count;
    int epfd;          /* the sockets curl asked to watch (CURLMOPT_SOCKETFUNCTION) */
    int64_t timer_due; /* when curl wants its timeout handled (mono ms); -1 none */

    /* The readiness probe (cb_ca_probe_start): its request is the client's
     * own, so cb_ca_poll never hands it to a caller that did not submit it. */
    cb_ca_req_t probe_req;
    bool probe_running; /* a probe job exists (queued, running or delayed) */
    bool probe_done;    /* finished, not yet returned by cb_ca_probe_poll */
};

static const char *const op_names[CB_CA_OP_COUNT] = {"lookup", "change-info", "revoke",
                                                     "recall", "issue",       "request",
                                                     "health", "returned",    "devices"};

/* xorshift64*: backoff jitter. */
static uint64_t next_random(cb_ca_client_t *c)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 2685821657736338717ULL;
}

static void queue_push(job_queue_t *q, ca_job_t *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->count++;
}

static void queue_push_front(job_queue_t *q, ca_job_t *j)
{
    j->next = q->head;
    q->head = j;
    if (!q->tail)
        q->tail = j;
    q->count++;
}

static ca_job_t *queue_pop(job_queue_t *q)
{
    ca_job_t *j = q->head;

    if (!j)
        return NULL;
    q->head = j->next;
    if (!q->head)
        q->tail = NULL;
    q->count--;
    j->next = NULL;
    return j;
}

/* Removes j from q (when there). Answers true when it was. */
static bool queue_remove(job_queue_t *q, ca_job_t *j)
{
    ca_job_t *prev = NULL, *it;

    for (it = q->head; it; prev = it, it = it->next) {
        if (it != j)
            continue;
        if (prev)
            prev->next = it->next;
        else
            q->head = it->next;
        if (q->tail == it)
            q->tail = prev;
        q->count--;
        it->next = NULL;
        return true;
    }
    return false;
}

/* The RFC 5280 name of a revocation reason, as the CA API wants it. */
static const char *reason_name(cb_revocation_reason_t r)
{
    const char *name = cb_revocation_reason_name(r);

    return name ? name : "unspecified";
}

static const char *holder_type_name(cb_holder_type_t t)
{
    const char *name = cb_holder_type_name(t);

    return name ? name : "ORGANIZATION";
}

cb_ca_class_t cb_ca_classify(int curl_code, const char *curl_msg, long http_status,
                             const char *answer_status)
{
    bool already =
        answer_status &&
        (!strcmp(answer_status, "ALREADY_REVOKED") || !strcmp(answer_status, "ALREADY_RECALLED") ||
         !strcmp(answer_status, "ALREADY_RETURNED") || !strcmp(answer_status, "ALREADY_DONE"));

    if (curl_code != CURLE_OK) {
        switch (curl_code) {
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
            /* a TLS alert is the server refusing us (our certificate): final */
            if (curl_msg && strstr(curl_msg, "alert"))
                return CB_CA_PERMANENT;
            return CB_CA_RETRY;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_AGAIN:
            return CB_CA_RETRY;
        default:
            return CB_CA_PERMANENT; /* bad URL, certificate problems, answer too large */
        }
    }
    if (http_status >= 200 && http_status < 300) {
        if (already)
            return CB_CA_ALREADY;
        if (answer_status && !strcmp(answer_status, "PENDING"))
            return CB_CA_PENDING;
        if (answer_status && !strcmp(answer_status, "FAILED"))
            return CB_CA_PERMANENT;
        return CB_CA_SUCCESS;
    }
    if (http_status == 408 || http_status == 425 || http_status == 429 || http_status >= 500 ||
        http_status < 100)
        return CB_CA_RETRY;
    if (http_status == 409 && already)
        return CB_CA_ALREADY;
    return CB_CA_PERMANENT;
}

int64_t cb_ca_backoff_ms(int retry, int64_t base_ms, int64_t max_ms, int64_t retry_after_ms,
                         uint64_t rnd)
{
    int64_t cap = base_ms > 0 ? base_ms : 1, half, delay;
    int i;

    for (i = 1; i < retry && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    half = cap / 2;
    delay = half + (int64_t)(rnd % (uint64_t)(cap - half + 1));
    if (retry_after_ms > RETRY_AFTER_MAX)
        retry_after_ms = RETRY_AFTER_MAX;
    return delay > retry_after_ms ? delay : retry_after_ms;
}

int64_t cb_ca_retry_after_ms(const char *value, int64_t now_s)
{
    char *end;
    long long secs;
    time_t when;

    if (!value)
        return 0;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        secs = strtoll(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end || secs < 0)
            return 0;
        return secs > RETRY_AFTER_MAX / 1000 ? RETRY_AFTER_MAX : (int64_t)secs * 1000;
    }
    when = curl_getdate(value, NULL);
    if (when == (time_t)-1 || (int64_t)when <= now_s)
        return 0;
    return ((int64_t)when - now_s) * 1000 > RETRY_AFTER_MAX ? RETRY_AFTER_MAX
                                                            : ((int64_t)when - now_s) * 1000;
}

/* Duplicates a configuration string, NULL staying NULL. Answers false on
 * allocation failure. */
static bool dup_opt(const char *v, char **out)
{
    *out = v && *v ? strdup(v) : NULL;
    return !(v && *v) || *out;
}

/* Checks that a configured file can be read. */
static int check_file(const char *key, const char *path, cb_error_t *err)
{
    if (path && access(path, R_OK) != 0)
        return cb_error_set(err, CB_ERR_CONFIG, "%s: cannot read \"%.200s\"", key, path);
    return 0;
}

/* With CURLOPT_NOSIGNAL (required: librdkafka runs threads), libcurl no
 * longer shields its writes from SIGPIPE, and a CA closing a connection
 * must fail a transfer, not kill the process: ignore SIGPIPE unless the
 * program already chose a handler. */
static void ignore_sigpipe(void)
{
    struct sigaction old;

    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
}

/* CURLMOPT_SOCKETFUNCTION: keeps the epoll set in step with the sockets curl
 * wants watched, so each wake-up hands curl only the sockets that are ready
 * instead of having it run (and poll) every transfer. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    cb_ca_client_t *c = userp;
    struct epoll_event ev;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, s, NULL); /* fails harmlessly once closed */
        return 0;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    ev.data.fd = s;
    if (socketp ? epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT &&
                      epoll_ctl(c->epfd, EPOLL_CTL_ADD, s, &ev) < 0
                : epoll_ctl(c->epfd, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST &&
                      epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev) < 0)
        cb_log(CB_LOG_WARN, "ca_client", "epoll_ctl on socket %d: %s", (int)s, strerror(errno));
    else if (!socketp)
        curl_multi_assign(c->multi, s, c); /* marks the socket as known */
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: notes when curl wants CURL_SOCKET_TIMEOUT. */
static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    cb_ca_client_t *c = userp;

    (void)m;
    c->timer_due = timeout_ms < 0 ? -1 : cb_clock_mono_ms() + timeout_ms;
    return 0;
}

cb_ca_client_t *cb_ca_client_new(const cb_config_t *cfg, cb_error_t *err)
{
    const char *url = cb_config_get(cfg, "ca.url"), *passphrase, *insecure;
    cb_ca_client_t *c;
    size_t len;

    if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))) {
        cb_error_set(err, CB_ERR_CONFIG, "ca.url: \"%.200s\" is not an http(s) URL",
                     url ? url : "");
        return NULL;
    }
    insecure = cb_config_get(cfg, "ca.insecure_http_url");
    if (!strncmp(url, "http://", 7) && (!insecure || strcmp(insecure, url) != 0)) {
        cb_error_set(err, CB_ERR_CONFIG,
                     "ca.url: plain http:// is refused unless ca.insecure_http_url names the "
                     "same URL (tests only)");
        return NULL;
    }
    if (check_file("ca.tls.cert", cb_config_get(cfg, "ca.tls.cert"), err) < 0 ||
        check_file("ca.tls.key", cb_config_get(cfg, "ca.tls.key"), err) < 0 ||
        check_file("ca.tls.ca_bundle", cb_config_get(cfg, "ca.tls.ca_bundle"), err) < 0)
        return NULL;
    if (!cb_config_get(cfg, "ca.tls.cert") != !cb_config_get(cfg, "ca.tls.key")) {
        cb_error_set(err, CB_ERR_CONFIG, "ca.tls.key: ca.tls.cert and ca.tls.key go together");
        return NULL;
    }
    ignore_sigpipe();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cb_error_set(err, CB_ERR_INTERNAL, "libcurl initialization failed");
        return NULL;
    }
    if (!(c = calloc(1, sizeof(*c)))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->epfd = -1;
    c->timer_due = -1;
    c->insecure_http = !strncmp(url, "http://", 7);
    c->connect_timeout_ms = (long)cb_config_get_int(cfg, "ca.connect_timeout_ms");
    c->timeout_ms = (long)cb_config_get_int(cfg, "ca.timeout_ms");
    c->concurrency = (int)cb_config_get_int(cfg, "ca.concurrency");
    c->max_attempts = (int)cb_config_get_int(cfg, "ca.max_attempts");
    c->retry_base_ms = cb_config_get_int(cfg, "ca.retry_base_ms");
    c->retry_max_ms = cb_config_get_int(cfg, "ca.retry_max_ms");
    c->rng = ((uint64_t)cb_clock_mono_ms() << 16) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)c;
    if (!c->rng)
        c->rng = 88172645463325252ULL;
    if (!dup_opt(url, &c->base_url) || !dup_opt(cb_config_get(cfg, "ca.tls.cert"), &c->cert) ||
        !dup_opt(cb_config_get(cfg, "ca.tls.key"), &c->key) ||
        !dup_opt(cb_config_get(cfg, "ca.tls.ca_bundle"), &c->ca_bundle) ||
        !(c->pool = calloc((size_t)c->concurrency, sizeof(CURL *))) ||
        !(c->limiter = cb_limiter_new(
              c->concurrency, strcmp(cb_config_get(cfg, "ca.concurrency_mode"), "fixed") != 0,
              cb_clock_mono_us())) ||
        !(c->multi = curl_multi_init())) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        cb_ca_client_destroy(c);
        return NULL;
    }
    if ((c->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        cb_error_set(err, CB_ERR_INTERNAL, "epoll_create1: %s", strerror(errno));
        cb_ca_client_destroy(c);
        return NULL;
    }
    passphrase = cb_config_get(cfg, "ca.tls.key_passphrase_file");
    if (passphrase && *passphrase &&
        !(c->key_passwd = cb_secret_read_file("ca.tls.key_passphrase_file", passphrase, err))) {
        cb_ca_client_destroy(c);
        return NULL;
    }
    len = strlen(c->base_url);
    while (len > 0 && c->base_url[len - 1] == '/')
        c->base_url[--len] = '\0';
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->concurrency);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->concurrency);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->concurrency);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
}

/* Frees a job and everything it owns (not its request). */
static void job_free(ca_job_t *j)
{
    if (!j)
        return;
    curl_slist_free_all(j->headers);
    free(j->url);
    free(j->body);
    free(j->resp);
    free(j);
}

static void free_queue(job_queue_t *q)
{
    ca_job_t *j;

    while ((j = queue_pop(q)))
        job_free(j);
}

void cb_ca_client_destroy(cb_ca_client_t *c)
{
    ca_job_t *j;
    int n;

    if (!c)
        return;
    /* jobs still running: take their handles off and free them */
    while ((j = queue_pop(&c->running))) {
        curl_multi_remove_handle(c->multi, j->easy);
        curl_easy_cleanup(j->easy);
        job_free(j);
    }
    for (n = 0; n < (int)c->pool_count; n++)
        curl_easy_cleanup(c->pool[n]);
    free_queue(&c->ready);
    free_queue(&c->delayed);
    free_queue(&c->done);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->epfd >= 0)
        close(c->epfd);
    cb_ca_req_clear(&c->probe_req);
    cb_limiter_destroy(c->limiter);
    free(c->pool);
    free(c->base_url);
    free(c->cert);
    free(c->key);
    cb_secret_free(c->key_passwd);
    free(c->ca_bundle);
    free(c);
}

/* Appends "/" + the URL-escaped segment to buf. Answers -1 when it does
 * not fit or the segment is empty. */
static int url_segment(char *buf, size_t size, const char *seg)
{
    char *esc;
    size_t len = strlen(buf);
    int n;

    if (!seg || !*seg || !(esc = curl_easy_escape(NULL, seg, 0)))
        return -1;
    n = snprintf(buf + len, size - len, "/%s", esc);
    curl_free(esc);
    return n < 0 || (size_t)n >= size - len ? -1 : 0;
}

/* Appends "&name=value" (or "?" first) with the value escaped. */
static int url_query(char *buf, size_t size, const char *name, const char *value)
{
    char *esc;
    size_t len = strlen(buf);
    int n;

    if (!value)
        return 0;
    if (!(esc = curl_easy_escape(NULL, value, 0)))
        return -1;
    n = snprintf(buf + len, size - len, "%c%s=%s", strchr(buf, '?') ? '&' : '?', name, esc);
    curl_free(esc);
    return n < 0 || (size_t)n >= size - len ? -1 : 0;
}

/* A request body being built: at most REQ_BODY_MAX bytes. Every append is
 * checked against the capacity; an append that does not fit sets overflow
 * and writes nothing. */
typedef struct body_buf {
    char *p;
    size_t len, cap; /* cap counts the terminating NUL */
    bool overflow;
} body_buf_t;

static void body_put(body_buf_t *b, const char *s, size_t n)
{
    if (b->overflow || n >= b->cap - b->len) {
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Appends v as the inside of a JSON string: quote, backslash and control
 * characters escaped. */
static void body_put_escaped(body_buf_t *b, const unsigned char *v)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', 'u', '0', '0', 0, 0};

    while (*v && !b->overflow) {
        size_t run = 0;

        while (v[run] >= 0x20 && v[run] != '"' && v[run] != '\\')
            run++; /* stops at the NUL too */
        if (run) {
            body_put(b, (const char *)v, run);
            v += run;
            continue;
        }
        if (*v == '"' || *v == '\\') {
            esc[1] = (char)*v;
            body_put(b, esc, 2);
            esc[1] = 'u';
        } else {
            esc[4] = hex[*v >> 4];
            esc[5] = hex[*v & 15];
            body_put(b, esc, 6);
        }
        v++;
    }
}

/* A JSON object of string members {"k0":"v0",...} from n key/value pairs
 * (kv[2i], kv[2i+1]); a NULL value leaves its member out. Values must be
 * valid UTF-8 and are escaped (quote, backslash, control characters); keys
 * are literals. Builds the small request bodies without a jansson tree.
 * Answers a new string (caller frees), or NULL with err set (CB_ERR_LIMIT
 * past REQ_BODY_MAX bytes). */
static char *json_object_body(const char *const *kv, size_t n, cb_error_t *err)
{
    body_buf_t b = {NULL, 0, 3, false}; /* "{}" and the NUL */
    size_t i;

    for (i = 0; i < n; i++) {
        const char *v = kv[2 * i + 1];
        size_t vlen = v ? strlen(v) : 0;
        if (!v)
            continue;
        if (!cb_text_utf8_valid(v, vlen)) {
            cb_error_set(err, CB_ERR_INVALID, "%s: not valid UTF-8", kv[2 * i]);
            return NULL;
        }
        if (vlen > REQ_BODY_MAX) {
            cb_error_set(err, CB_ERR_LIMIT, "%s: %zu bytes exceeds the request limit of %d",
                         kv[2 * i], vlen, REQ_BODY_MAX);
            return NULL;
        }
        b.cap += strlen(kv[2 * i]) + 6 + 6 * vlen; /* ,"k":"" and every byte as \u00XX */
    }
    if (b.cap > REQ_BODY_MAX)
        b.cap = REQ_BODY_MAX; /* an escaped body may still fit; body_put checks */
    if (!(b.p = malloc(b.cap))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    body_put(&b, "{", 1);
    for (i = 0; i < n; i++) {
        if (!kv[2 * i + 1])
            continue;
        if (b.len > 1)
            body_put(&b, ",", 1);
        body_put(&b, "\"", 1);
        body_put(&b, kv[2 * i], strlen(kv[2 * i]));
        body_put(&b, "\":\"", 3);
        body_put_escaped(&b, (const unsigned char *)kv[2 * i + 1]);
        body_put(&b, "\"", 1);
    }
    body_put(&b, "}", 1);
    if (b.overflow) {
        free(b.p);
        cb_error_set(err, CB_ERR_LIMIT, "request body exceeds %d bytes", REQ_BODY_MAX);
        return NULL;
    }
    return b.p;
}

/* Epoch milliseconds as RFC 3339 UTC with milliseconds, into buf. */
static void format_rfc3339(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    size_t n = 0;

    if (gmtime_r(&t, &tm))
        n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n && n + 6 < size)
        snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
    else
        snprintf(buf, size, "1970-01-01T00:00:00Z");
}

/* Builds the job's URL and body from its request. */
static int job_prepare(cb_ca_client_t *c, ca_job_t *j, cb_error_t *err)
{
    cb_ca_req_t *r = j->req;
    char url[URL_MAX], page[16] = "", since[32] = "";
    const char *kv[8];
    size_t n_kv = 0;
    int bad = 0, n;

    n = snprintf(url, sizeof(url), "%s/v1", c->base_url);
    if (n < 0 || (size_t)n >= sizeof(url))
        return cb_error_set(err, CB_ERR_CONFIG, "ca.url: longer than %d bytes", URL_MAX - 4);
    if ((r->op == CB_CA_LOOKUP || r->op == CB_CA_DEVICES) &&
        (r->page_size < 0 || r->page_size > CB_CA_PAGE_SIZE_MAX))
        return cb_error_set(err, CB_ERR_INVALID, "%s: page_size must be 1..%d", op_names[r->op],
                            CB_CA_PAGE_SIZE_MAX);
    if (r->page_size > 0 || r->cursor) {
        snprintf(page, sizeof(page), "%d", r->page_size ? r->page_size : CB_CA_PAGE_SIZE_DEFAULT);
        if (r->changed_since_ms > 0)
            format_rfc3339(r->changed_since_ms, since, sizeof(since));
    }
    switch (r->op) {
    case CB_CA_LOOKUP:
        if (r->page_size > 0 || r->cursor) {
            bad = url_segment(url, sizeof(url), "certificates") ||
                  url_query(url, sizeof(url), "holder_type",
                            r->any_holder_type ? NULL : holder_type_name(r->holder_type)) ||
                  url_query(url, sizeof(url), "holder_id", r->holder_id) ||
                  url_query(url, sizeof(url), "org_code", r->org_code) ||
                  url_query(url, sizeof(url), "province", r->province) ||
                  url_query(url, sizeof(url), "status",
                            r->status_filter ? r->status_filter : "active") ||
                  url_query(url, sizeof(url), "changed_since", since[0] ? since : NULL) ||
                  url_query(url, sizeof(url), "page_size", page) ||
                  url_query(url, sizeof(url), "cursor", r->cursor);
            break;
        }
        if (!r->holder_id && !r->org_code)
            return cb_error_set(err, CB_ERR_INVALID, "lookup needs holder_id or org_code");
        bad = url_segment(url, sizeof(url), "certificates") ||
              url_query(url, sizeof(url), "holder_type", holder_type_name(r->holder_type)) ||
              url_query(url, sizeof(url), "holder_id", r->holder_id) ||
              url_query(url, sizeof(url), "org_code", r->org_code) ||
              url_query(url, sizeof(url), "status", "active");
        break;
    case CB_CA_DEVICES:
        if (!page[0])
            snprintf(page, sizeof(page), "%d", CB_CA_PAGE_SIZE_DEFAULT);
        bad = url_segment(url, sizeof(url), "devices") ||
              url_query(url, sizeof(url), "status", r->status_filter) ||
              url_query(url, sizeof(url), "org_code", r->org_code) ||
              url_query(url, sizeof(url), "page_size", page) ||
              url_query(url, sizeof(url), "cursor", r->cursor);
        break;
    case CB_CA_RETURNED:
        bad = url_segment(url, sizeof(url), "devices") ||
              url_segment(url, sizeof(url), r->device_id) ||
              url_segment(url, sizeof(url), "returned");
        if (r->returned_at_ms > 0) {
            format_rfc3339(r->returned_at_ms, since, sizeof(since));
            kv[0] = "returned_at", kv[1] = since;
            n_kv = 1;
        }
        break;
    case CB_CA_CHANGE_INFO:
        if (!r->subject)
            return cb_error_set(err, CB_ERR_INVALID, "change-info needs a subject");
        bad = url_segment(url, sizeof(url), "certificates") ||
              url_segment(url, sizeof(url), r->serial) ||
              url_segment(url, sizeof(url), "change-info");
        kv[0] = "subject", kv[1] = r->subject, kv[2] = "org_code", kv[3] = r->org_code;
        kv[4] = "document_number", kv[5] = r->document_number;
        n_kv = 3;
        break;
    case CB_CA_REVOKE:
        bad = url_segment(url, sizeof(url), "certificates") ||
              url_segment(url, sizeof(url), r->serial) || url_segment(url, sizeof(url), "revoke");
        kv[0] = "reason", kv[1] = reason_name(r->reason);
        kv[2] = "document_number", kv[3] = r->document_number;
        n_kv = 2;
        break;
    case CB_CA_RECALL:
        bad = url_segment(url, sizeof(url), "devices") ||
              url_segment(url, sizeof(url), r->device_id) ||
              url_segment(url, sizeof(url), "recall");
        break; /* an empty object */
    case CB_CA_ISSUE:
        if (!r->holder_id || !r->subject)
            return cb_error_set(err, CB_ERR_INVALID, "issue needs holder_id and subject");
        bad = url_segment(url, sizeof(url), "certificates");
        kv[0] = "holder_type", kv[1] = holder_type_name(r->holder_type);
        kv[2] = "holder_id", kv[3] = r->holder_id, kv[4] = "subject", kv[5] = r->subject;
        kv[6] = "org_code", kv[7] = r->org_code;
        n_kv = 4;
        break;
    case CB_CA_REQUEST:
        bad = url_segment(url, sizeof(url), "requests") ||
              url_segment(url, sizeof(url), r->request_id);
        break;
    case CB_CA_HEALTH:
        bad = url_segment(url, sizeof(url), "ca.pem");
        break;
    default:
        return cb_error_set(err, CB_ERR_INVALID, "unknown CA operation %d", (int)r->op);
    }
    if (bad)
        return cb_error_set(err, CB_ERR_INVALID, "%s: missing path parameter or URL too long",
                            op_names[r->op]);
    if (r->op != CB_CA_LOOKUP && r->op != CB_CA_REQUEST && r->op != CB_CA_HEALTH &&
        r->op != CB_CA_DEVICES) {
        if (!(j->body = json_object_body(kv, n_kv, err)))
            return -1;
        if (!r->idempotency_key[0] || strnlen(r->idempotency_key, 65) > 64)
            return cb_error_set(err, CB_ERR_INVALID, "%s: an Idempotency-Key is required",
                                op_names[r->op]);
    }
    if (!(j->url = strdup(url)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    return 0;
}

/* Builds the job's request headers. */
static int job_headers(ca_job_t *j, cb_error_t *err)
{
    char line[HEADER_LINE_MAX];
    struct curl_slist *h = NULL, *t;
    bool keyed = j->body || (j->req->op == CB_CA_LOOKUP && j->req->idempotency_key[0]);
    int n;

    if (keyed) {
        /* job_prepare checked a mutating call's key (at most 64 characters);
         * a keyed lookup answers the same snapshot again when replayed */
        n = snprintf(line, sizeof(line), "Idempotency-Key: %.64s", j->req->idempotency_key);
        if (n < 0 || (size_t)n >= sizeof(line))
            return cb_error_set(err, CB_ERR_INTERNAL, "Idempotency-Key header too long");
    }
    if (!(h = curl_slist_append(NULL, "Accept: application/json, application/problem+json")))
        goto nomem;
    if (j->body && (!(t = curl_slist_append(h, "Content-Type: application/json")) ||
                    !(t = curl_slist_append(h, "Expect:"))))
        goto nomem;
    if (keyed && !(t = curl_slist_append(h, line)))
        goto nomem;
    j->headers = h;
    return 0;
nomem:
    curl_slist_free_all(h);
    return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
}

/* libcurl write callback: keeps the answer, aborting past CB_CA_BODY_MAX. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    ca_job_t *j = opaque;
    size_t n = size * nmemb, cap;
    char *p;

    if (j->resp_len + n > CB_CA_BODY_MAX) {
        j->overflow = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (j->resp_len + n + 1 > j->resp_cap) {
        cap = j->resp_cap ? j->resp_cap : 1024;
        while (cap < j->resp_len + n + 1)
            cap *= 2;
        if (cap > CB_CA_BODY_MAX + 1)
            cap = CB_CA_BODY_MAX + 1;
        if (!(p = realloc(j->resp, cap)))
            return 0;
        j->resp = p;
        j->resp_cap = cap;
    }
    memcpy(j->resp + j->resp_len, data, n);
    j->resp_len += n;
    j->resp[j->resp_len] = '\0';
    return n;
}

/* libcurl header callback: notes Retry-After. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *opaque)
{
    ca_job_t *j = opaque;
    size_t n = size * nmemb;
    char value[128];
    size_t vlen;

    if (n > 12 && n < 12 + sizeof(value) && strncasecmp(data, "Retry-After:", 12) == 0) {
        vlen = n - 12;
        memcpy(value, data + 12, vlen);
        value[vlen] = '\0';
        j->retry_after_ms = cb_ca_retry_after_ms(value, (int64_t)time(NULL));
    }
    return n;
}

/* Sets the options every attempt shares, once per easy handle: pooled
 * handles keep them (and their connections and TLS sessions). */
static void easy_init(cb_ca_client_t *c, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, c->insecure_http ? "http,https" : "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_bundle)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_bundle);
    if (c->cert) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert);
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->key);
        if (c->key_passwd)
            curl_easy_setopt(e, CURLOPT_KEYPASSWD, c->key_passwd);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
}

/* Sets the options of one attempt of j: every pointer into a previous job
 * is replaced, a GET clears a previous POST, and the timeouts are the job's
 * (a pooled handle may have run the probe's shorter ones). */
static void easy_setup(ca_job_t *j, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, j->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, j->timeout_ms);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)j);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errtext);
    if (j->body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, (char *)NULL); /* no pointer to a freed body */
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
}

/* Starts one attempt of j on the multi handle. On failure the job is
 * finished as permanent by the caller. */
static int job_start(cb_ca_client_t *c, ca_job_t *j)
{
    CURL *e = c->pool_count ? c->pool[--c->pool_count] : NULL;

    if (!e) {
        if (!(e = curl_easy_init()))
            return -1;
        easy_init(c, e);
    }
    j->attempt_us = cb_clock_mono_us();
    if (!j->started_ms)
        j->started_ms = j->attempt_us / 1000;
    j->resp_len = 0;
    j->status = 0;
    j->overflow = false;
    j->retry_after_ms = 0;
    j->errtext[0] = '\0';
    easy_setup(j, e);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return -1;
    }
    j->easy = e;
    j->req->attempts++;
    queue_push(&c->running, j);
    c->active++;
    if (c->metrics)
        cb_metrics_set_in_flight(c->metrics, (int64_t)c->active);
    cb_limiter_started(c->limiter, j->attempt_us, (int)c->active);
    return 0;
}

/* Takes j's easy handle off the multi handle, back into the pool. */
static void job_detach(cb_ca_client_t *c, ca_job_t *j)
{
    if (!j->easy)
        return;
    queue_remove(&c->running, j);
    curl_multi_remove_handle(c->multi, j->easy);
    if (c->pool_count < (size_t)c->concurrency) {
        /* kept configured: the next job replaces this one's pointers */
        c->pool[c->pool_count++] = j->easy;
    } else {
        curl_easy_cleanup(j->easy);
    }
    j->easy = NULL;
    c->active--;
    if (c->metrics)
        cb_metrics_set_in_flight(c->metrics, (int64_t)c->active);
}

/* A string member, duplicated, or NULL. */
static char *jdup(const cb_json_t *j, int obj, const char *key)
{
    return cb_json_strdup(j, cb_json_get(j, obj, key), NULL);
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff]Z" (or epoch milliseconds) to ms; 0
 * when absent or unreadable. */
static int64_t time_ms(const cb_json_t *j, int v)
{
    char buf[48];
    const char *s;
    size_t len;
    int64_t ms;

    if (cb_json_type(j, v) == CB_JSON_INTEGER)
        return cb_json_integer(j, v);
    if (!cb_json_raw(j, v, &s, &len) || len >= sizeof(buf))
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return cb_time_parse_rfc3339(buf, &ms) == 0 ? ms : 0;
}

/* Fills req->certs from a lookup answer. */
static int parse_certs(cb_ca_req_t *r, const cb_json_t *j, int root)
{
    int list = cb_json_get(j, root, "certificates"), item;
    size_t i, n;

    if (cb_json_type(j, list) != CB_JSON_ARRAY || j->tok[list].count > CERTS_MAX)
        return -1;
    if ((n = j->tok[list].count) == 0)
        return 0;
    if (!(r->certs = calloc(n, sizeof(*r->certs))))
        return -1;
    for (i = 0, item = list + 1; i < n; i++, item = (int)j->tok[item].end) {
        cb_ca_cert_t *ct = &r->certs[r->cert_count];
        if (!(ct->serial = jdup(j, item, "serial")) || !(ct->subject = jdup(j, item, "subject"))) {
            free(ct->serial);
            ct->serial = NULL;
            return -1;
        }
        ct->device_id = jdup(j, item, "device_id");
        ct->status = jdup(j, item, "status");
        ct->holder_type = jdup(j, item, "holder_type");
        ct->holder_id = jdup(j, item, "holder_id");
        ct->org_code = jdup(j, item, "org_code");
        ct->not_before_ms = time_ms(j, cb_json_get(j, item, "not_before"));
        ct->not_after_ms = time_ms(j, cb_json_get(j, item, "not_after"));
        r->cert_count++;
    }
    return 0;
}

/* Fills req->devices from a GET /v1/devices answer. */
static int parse_devices(cb_ca_req_t *r, const cb_json_t *j, int root)
{
    int list = cb_json_get(j, root, "devices"), item;
    size_t i, n;

    if (cb_json_type(j, list) != CB_JSON_ARRAY || j->tok[list].count > CERTS_MAX)
        return -1;
    if ((n = j->tok[list].count) == 0)
        return 0;
    if (!(r->devices = calloc(n, sizeof(*r->devices))))
        return -1;
    for (i = 0, item = list + 1; i < n; i++, item = (int)j->tok[item].end) {
        cb_ca_device_t *d = &r->devices[r->device_count];
        if (!(d->device_id = jdup(j, item, "device_id")))
            return -1;
        d->status = jdup(j, item, "status");
        d->holder_type = jdup(j, item, "holder_type");
        d->holder_id = jdup(j, item, "holder_id");
        d->org_code = jdup(j, item, "org_code");
        d->subject = jdup(j, item, "subject");
        d->recalled_at_ms = time_ms(j, cb_json_get(j, item, "recalled_at"));
        d->returned_at_ms = time_ms(j, cb_json_get(j, item, "returned_at"));
        r->device_count++;
    }
    return 0;
}

/* The page members of a LOOKUP or DEVICES answer: next_cursor (at most
 * CB_CA_CURSOR_MAX bytes) and total. -1 when next_cursor is not a string
 * of that size. */
static int parse_page(cb_ca_req_t *r, const cb_json_t *j, int root)
{
    int nc = cb_json_get(j, root, "next_cursor"), tot = cb_json_get(j, root, "total");
    size_t len = 0;

    if (nc >= 0 && !cb_json_is_null(j, nc)) {
        if (cb_json_type(j, nc) != CB_JSON_STRING ||
            !(r->next_cursor = cb_json_strdup(j, nc, &len)))
            return -1;
        if (len == 0 || len > CB_CA_CURSOR_MAX)
            return -1;
    }
    if (cb_json_type(j, tot) == CB_JSON_INTEGER && cb_json_integer(j, tot) > 0)
        r->total = cb_json_integer(j, tot);
    return 0;
}

/* Copies n bytes of s into buf of size bytes (size > 0), cut to fit. */
static const char *copy_cut(char *buf, size_t size, const char *s, size_t n)
{
    n = n < size ? n : size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* A string token copied into buf (cut to its size: the class-deciding
 * members are short symbols); NULL when v is not a string. */
static const char *jstr(const cb_json_t *j, int v, char *buf, size_t size)
{
    const char *raw;
    size_t len;
    char *s;

    if (cb_json_raw(j, v, &raw, &len)) /* no escapes: no allocation */
        return copy_cut(buf, size, raw, len);
    if (!(s = cb_json_strdup(j, v, NULL)))
        return NULL;
    copy_cut(buf, size, s, strlen(s));
    free(s);
    return buf;
}

/* The state of a request (GET /v1/requests/{id}, schemas/ca-api.yaml
 * RequestState); RQ_NONE for other calls and answers without one. */
typedef enum req_state {
    RQ_NONE = 0,
    RQ_PENDING,
    RQ_COMPLETED,
    RQ_REJECTED,
    RQ_EXPIRED,
    RQ_UNKNOWN /* a state this client does not know */
} req_state_t;

static req_state_t req_state_parse(const char *s)
{
    return !strcmp(s, "PENDING")     ? RQ_PENDING
           : !strcmp(s, "COMPLETED") ? RQ_COMPLETED
           : !strcmp(s, "REJECTED")  ? RQ_REJECTED
           : !strcmp(s, "EXPIRED")   ? RQ_EXPIRED
                                     : RQ_UNKNOWN;
}

/* The member that decides the class: "status" of an answer, "code" of a
 * problem, and for a request's state its state or, once COMPLETED, its
 * result's status. The text goes to buf. *result gets the object holding
 * the answer's fields (a finished request's "result", -1 when it has
 * none), *rq the request's state. */
static const char *answer_status(const cb_ca_req_t *r, const cb_json_t *j, int *result,
                                 req_state_t *rq, char *buf, size_t size)
{
    const int root = 0;
    const char *state;

    *result = -1;
    *rq = RQ_NONE;
    buf[0] = '\0';
    if (!j)
        return NULL;
    *result = root;
    if (r->op == CB_CA_REQUEST && (state = jstr(j, cb_json_get(j, root, "state"), buf, size))) {
        *rq = req_state_parse(state);
        if (*rq == RQ_COMPLETED || *rq == RQ_REJECTED || *rq == RQ_EXPIRED)
            *result = cb_json_get(j, root, "result");
        if (*rq == RQ_COMPLETED)
            return jstr(j, cb_json_get(j, *result, "status"), buf, size);
        return state;
    }
    if (cb_json_type(j, cb_json_get(j, root, "status")) == CB_JSON_STRING)
        return jstr(j, cb_json_get(j, root, "status"), buf, size);
    return jstr(j, cb_json_get(j, root, "code"), buf, size);
}

/* Classifies an attempt (cb_ca_classify) with its parsed answer j (NULL
 * when none or not JSON). A poll of a request answered 2xx goes by the
 * request's state (ca_client.h, CB_CA_REQUEST): PENDING is CB_CA_PENDING,
 * COMPLETED the class of its result (SUCCESS, or ALREADY for ALREADY_*),
 * REJECTED and EXPIRED CB_CA_PERMANENT, a state this client does not know
 * (or none) CB_CA_RETRY with *rq RQ_UNKNOWN, and a body that is not JSON
 * CB_CA_PERMANENT. *result, *rq and buf as answer_status; the answer's
 * deciding text is left in buf. */
static cb_ca_class_t answer_class(const cb_ca_req_t *r, int curl_code, const char *curl_msg,
                                  long status, const cb_json_t *j, int *result, req_state_t *rq,
                                  char *buf, size_t size)
{
    const char *st = answer_status(r, j, result, rq, buf, size);
    cb_ca_class_t k = cb_ca_classify(curl_code, curl_msg, status, st);

    if (r->op != CB_CA_REQUEST || curl_code != 0 || status < 200 || status >= 300)
        return k;
    if (!j)
        return CB_CA_PERMANENT;
    switch (*rq) {
    case RQ_PENDING:
        return CB_CA_PENDING;
    case RQ_COMPLETED:
        return k;
    case RQ_REJECTED:
    case RQ_EXPIRED:
        return CB_CA_PERMANENT;
    case RQ_NONE:
        buf[0] = '\0'; /* no state: what buf holds is some other member */
        break;
    case RQ_UNKNOWN:
        break;
    }
    *rq = RQ_UNKNOWN;
    return CB_CA_RETRY;
}

/* Sets the request's error fields (copies). */
static void set_error(cb_ca_req_t *r, const char *code, const char *msg)
{
    free(r->error_code);
    free(r->error_message);
    r->error_code = code ? strdup(code) : NULL;
    r->error_message = msg ? strdup(msg) : NULL;
}

/* Fills request r from an HTTP answer of class k: the error of a refused
 * call, the certificates of a lookup, the new serial and request id of a
 * mutating call or of a request's state. j is the parsed body (NULL when it
 * is not JSON); result, rq and state as answer_class left them. Pure: no
 * I/O. */
static void answer_fill(cb_ca_req_t *r, cb_ca_class_t k, long status, const cb_json_t *j,
                        int result, req_state_t rq, const char *state)
{
    r->klass = k;
    r->http_status = status;
    if (k == CB_CA_PERMANENT || k == CB_CA_RETRY) {
        int p = j ? (result >= 0 ? result : 0) : -1;
        char *ec = j ? jdup(j, p, "code") : NULL;
        char *detail = j ? jdup(j, p, "detail") : NULL;
        char fallback[32]; /* "http_" and a long: at most 25 bytes */
        int n = snprintf(fallback, sizeof(fallback), "http_%ld", status);
        if (n < 0 || (size_t)n >= sizeof(fallback))
            copy_cut(fallback, sizeof(fallback), "http_invalid", 12);
        if (!ec && j)
            ec = jdup(j, p, "type");
        if (!j && status >= 200 && status < 300 && r->op != CB_CA_HEALTH) {
            r->klass = CB_CA_PERMANENT;
            set_error(r, "invalid_answer", "the CA's answer is not JSON");
        } else if (rq == RQ_EXPIRED) {
            set_error(r, "EXPIRED",
                      detail ? detail : "the CA let the request expire: nobody confirmed it");
        } else if (rq == RQ_REJECTED) {
            set_error(r, ec ? ec : "REJECTED", detail ? detail : "the CA rejected the request");
        } else if (rq == RQ_UNKNOWN) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "the CA answered the request state \"%.64s\", which this client does not "
                     "know; not taken as final",
                     state && *state ? state : "(none)");
            set_error(r, "UNKNOWN_STATE", msg);
        } else {
            set_error(r, ec ? ec : fallback, detail);
        }
        free(ec);
        free(detail);
    } else if (r->op == CB_CA_LOOKUP && k == CB_CA_SUCCESS) {
        if (!j || parse_certs(r, j, 0) < 0 || parse_page(r, j, 0) < 0) {
            r->klass = CB_CA_PERMANENT;
            set_error(r, "invalid_answer",
                      "the lookup answer has no valid certificates list or next_cursor");
        }
    } else if (r->op == CB_CA_DEVICES && k == CB_CA_SUCCESS) {
        if (!j || parse_devices(r, j, 0) < 0 || parse_page(r, j, 0) < 0) {
            r->klass = CB_CA_PERMANENT;
            set_error(r, "invalid_answer",
                      "the devices answer has no valid devices list or next_cursor");
        }
    } else if (j && result >= 0) {
        r->new_serial = jdup(j, result, "new_serial");
        r->request_id_out = jdup(j, 0, "request_id");
    }
}

/* Parses an answer body: j when it is JSON (true), or false. */
static bool answer_json(const cb_ca_req_t *r, const char *body, size_t len, cb_json_t *j)
{
    cb_error_t err;

    return len && r->op != CB_CA_HEALTH && cb_json_parse(j, body, len, &err) == 0;
}

void cb_ca_answer_parse(cb_ca_req_t *r, long status, const char *body, size_t len)
{
    cb_json_t doc, *j = answer_json(r, body, len, &doc) ? &doc : NULL;
    char buf[64];
    int result = -1;
    req_state_t rq;
    cb_ca_class_t k = answer_class(r, 0, NULL, status, j, &result, &rq, buf, sizeof(buf));

    answer_fill(r, k, status, j, result, rq, buf);
    if (j)
        cb_json_free(j);
}

/* Finishes an attempt: classifies it, and either schedules a retry (true)
 * or fills the request's answer (false). */
static bool job_finish(cb_ca_client_t *c, ca_job_t *j, CURLcode code)
{
    cb_ca_req_t *r = j->req;
    long status = 0;
    cb_json_t doc, *root = NULL;
    char buf[64];
    int result = -1;
    req_state_t rq;
    cb_ca_class_t k;
    bool retry = false;

    /* 0 when no answer arrived; an answer cut off past the cap keeps it */
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    j->status = status;
    if (code == CURLE_OK && answer_json(r, j->resp, j->resp_len, &doc))
        root = &doc;
    k = answer_class(r, (int)code, j->errtext[0] ? j->errtext : curl_easy_strerror(code), status,
                     root, &result, &rq, buf, sizeof(buf));
    if (code == CURLE_WRITE_ERROR && j->overflow)
        k = CB_CA_PERMANENT;
    if (k == CB_CA_RETRY && r->attempts < j->max_attempts) {
        int64_t delay = cb_ca_backoff_ms(r->attempts, c->retry_base_ms, c->retry_max_ms,
                                         j->retry_after_ms, next_random(c));
        cb_log(CB_LOG_DEBUG, "ca_client", "%s attempt %d: %s%ld, retry in %lld ms", op_names[r->op],
               r->attempts, code ? curl_easy_strerror(code) : "HTTP ", status, (long long)delay);
        j->due_ms = cb_clock_mono_ms() + delay;
        retry = true;
        goto out;
    }
    if (code != CURLE_OK) {
        r->klass = k;
        r->http_status = status;
        set_error(r, j->overflow ? "body_too_large" : "transport",
                  j->overflow     ? "the answer exceeds CB_CA_BODY_MAX"
                  : j->errtext[0] ? j->errtext
                                  : curl_easy_strerror(code));
    } else {
        answer_fill(r, k, status, root, result, rq, buf);
    }
    if (k == CB_CA_RETRY || k == CB_CA_PERMANENT)
        cb_log(CB_LOG_INFO, "ca_client", "%s failed after %d attempt(s): %s (HTTP %ld)",
               op_names[r->op], r->attempts, r->error_code ? r->error_code : "?", status);
out:
    if (root)
        cb_json_free(root);
    return retry;
}

/* Hands a finished job back: a caller's request to the done queue (for
 * cb_ca_poll), the probe to the client itself (for cb_ca_probe_poll). */
static void job_complete(cb_ca_client_t *c, ca_job_t *j)
{
    if (!j->probe) {
        queue_push(&c->done, j);
        return;
    }
    job_free(j);
    c->probe_running = false;
    c->probe_done = true;
}

/* Finishes a job without an attempt (it could not be started). */
static void job_fail_local(cb_ca_client_t *c, ca_job_t *j, const char *msg)
{
    j->req->klass = CB_CA_PERMANENT;
    set_error(j->req, "client", msg);
    j->req->latency_ms = cb_clock_mono_ms() - j->submitted_ms;
    job_complete(c, j);
}

/* Moves delayed jobs whose backoff passed into the ready queue, and starts
 * ready jobs while slots are free. */
static void start_jobs(cb_ca_client_t *c)
{
    int64_t now = c->delayed.count ? cb_clock_mono_ms() : 0;
    ca_job_t *j, *next;

    for (j = c->delayed.head; j; j = next) {
        next = j->next;
        if (j->due_ms <= now) {
            queue_remove(&c->delayed, j);
            queue_push_front(&c->ready, j); /* it waited its turn: its holder waits on it */
        }
    }
    while (c->ready.count && cb_limiter_may_start(c->limiter, cb_clock_mono_us(), (int)c->active)) {
        j = queue_pop(&c->ready);
        if (job_start(c, j) < 0)
            job_fail_local(c, j, "could not start the transfer");
    }
}

/* What an attempt's end tells the limiter: a served answer (2xx, or 409 for
 * something already done) is a time sample; 429, 503, 504 and a timeout
 * say the CA wants fewer calls; anything else (refusals, dropped
 * connections) tells nothing about load. */
static cb_limiter_signal_t limiter_signal(const ca_job_t *j, CURLcode code)
{
    if (code == CURLE_OPERATION_TIMEDOUT)
        return CB_LIMITER_OVERLOAD;
    if (code != CURLE_OK)
        return CB_LIMITER_NONE;
    if (j->status == 429 || j->status == 503 || j->status == 504)
        return CB_LIMITER_OVERLOAD;
    if ((j->status >= 200 && j->status < 300) ||
        (j->status == 409 && j->req->klass == CB_CA_ALREADY))
        return CB_LIMITER_ANSWER;
    return CB_LIMITER_NONE;
}

/* Hands one finished attempt to the limiter and the metrics. The readiness
 * probe and health calls (GET /v1/ca.pem, a static answer no CA queues)
 * are left out: their times say nothing about the CA's load. */
static void limiter_note(cb_ca_client_t *c, const ca_job_t *j, CURLcode code)
{
    int64_t now = cb_clock_mono_us();
    cb_limiter_signal_t sig;

    if (j->probe || j->req->op == CB_CA_HEALTH)
        return;
    sig = limiter_signal(j, code);
    cb_limiter_sample(c->limiter, now, now - j->attempt_us, sig, (int)c->active);
    if (!c->metrics)
        return;
    if (sig == CB_LIMITER_OVERLOAD)
        cb_metrics_ca_overload(c->metrics, code == CURLE_OPERATION_TIMEDOUT ? 0 : (int)j->status);
    cb_metrics_set_ca_limit(c->metrics, cb_limiter_limit(c->limiter),
                            cb_limiter_baseline_us(c->limiter));
}

/* Reads finished transfers off the multi handle. Answers how many ended. */
static int collect(cb_ca_client_t *c)
{
    CURLMsg *m;
    int left, n = 0;

    while ((m = curl_multi_info_read(c->multi, &left))) {
        ca_job_t *j = NULL;
        CURLcode code;

        if (m->msg != CURLMSG_DONE)
            continue;
        code = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        n++;
        if (job_finish(c, j, code)) {
            limiter_note(c, j, code);
            job_detach(c, j);
            queue_push(&c->delayed, j);
        } else {
            limiter_note(c, j, code);
            job_detach(c, j);
            j->req->latency_ms =
                cb_clock_mono_ms() - (j->started_ms ? j->started_ms : j->submitted_ms);
            job_complete(c, j);
        }
    }
    return n;
}

/* A job for req with the client's timeouts and attempts, its URL, body and
 * headers built; NULL with err. */
static ca_job_t *job_new(cb_ca_client_t *c, cb_ca_req_t *req, cb_error_t *err)
{
    ca_job_t *j = calloc(1, sizeof(*j));

    if (!j) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    j->req = req;
    j->timeout_ms = c->timeout_ms;
    j->connect_timeout_ms = c->connect_timeout_ms;
    j->max_attempts = c->max_attempts;
    req->klass = CB_CA_SUCCESS;
    req->http_status = 0;
    req->attempts = 0;
    req->latency_ms = 0;
    if (job_prepare(c, j, err) < 0 || job_headers(j, err) < 0) {
        job_free(j);
        return NULL;
    }
    j->submitted_ms = cb_clock_mono_ms();
    return j;
}

int cb_ca_submit(cb_ca_client_t *c, cb_ca_req_t *req, cb_error_t *err)
{
    ca_job_t *j = job_new(c, req, err);

    if (!j)
        return -1;
    queue_push(&c->ready, j);
    c->pending++;
    start_jobs(c);
    return 0;
}

int cb_ca_probe_start(cb_ca_client_t *c, long timeout_ms, cb_error_t *err)
{
    ca_job_t *j;

    if (c->probe_running)
        return 0;
    cb_ca_req_clear(&c->probe_req);
    memset(&c->probe_req, 0, sizeof(c->probe_req));
    c->probe_req.op = CB_CA_HEALTH;
    c->probe_done = false;
    if (!(j = job_new(c, &c->probe_req, err)))
        return -1;
    j->probe = true;
    j->max_attempts = 1;
    if (timeout_ms > 0 && timeout_ms < j->timeout_ms)
        j->timeout_ms = timeout_ms;
    if (j->connect_timeout_ms > j->timeout_ms)
        j->connect_timeout_ms = j->timeout_ms;
    c->probe_running = true;
    queue_push(&c->ready, j);
    start_jobs(c);
    return 1;
}

/* Hands curl its timeout when it is due. */
static void run_timers(cb_ca_client_t *c)
{
    int running;

    if (c->timer_due >= 0 && c->timer_due <= cb_clock_mono_ms()) {
        c->timer_due = -1; /* on_timer sets the next one */
        curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

/* Waits at most wait_ms for watched sockets and hands the ready ones to curl. */
static void run_sockets(cb_ca_client_t *c, int wait_ms)
{
    struct epoll_event evs[64];
    int n, i, running;

    n = epoll_wait(c->epfd, evs, 64, wait_ms);
    for (i = 0; i < n; i++) {
        int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                    (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(c->multi, evs[i].data.fd, flags, &running);
    }
}

/* How long the loop may wait for socket activity: until the deadline, curl's
 * timeout, the next delayed job, the next cooling slot when ready jobs wait
 * for one, or not at all when ready jobs may start. */
static int64_t wait_ms(cb_ca_client_t *c, int64_t deadline, int64_t now)
{
    int64_t w = deadline - now;
    ca_job_t *j;

    if (c->ready.count) {
        int64_t free_us;
        if (cb_limiter_may_start(c->limiter, now * 1000, (int)c->active))
            return 0;
        /* waiting for a cooling slot (limiter.h) rather than an answer */
        if ((free_us = cb_limiter_next_free_us(c->limiter)) >= 0 &&
            (free_us + 999) / 1000 - now < w)
            w = (free_us + 999) / 1000 - now;
    }
    if (c->timer_due >= 0 && c->timer_due - now < w)
        w = c->timer_due - now;
    for (j = c->delayed.head; j; j = j->next)
        if (j->due_ms - now < w)
            w = j->due_ms - now;
    return w < 0 ? 0 : w;
}

/* One turn of the loop: starts what can start, runs curl's due timeouts and
 * the sockets that are ready (waiting for them until deadline, or not at all
 * when stop_early and a job is already done), collects finished transfers. */
static void turn(cb_ca_client_t *c, int64_t deadline, bool stop_early)
{
    start_jobs(c);
    run_timers(c);
    collect(c);
    run_sockets(c, stop_early && c->done.count ? 0 : (int)wait_ms(c, deadline, cb_clock_mono_ms()));
    run_timers(c);
    collect(c);
    start_jobs(c);
}

/* Drives the client until a job is done or the deadline passes. */
static void drive(cb_ca_client_t *c, int64_t deadline)
{
    do
        turn(c, deadline, true);
    while (!c->done.count && cb_clock_mono_ms() < deadline);
}

cb_ca_req_t *cb_ca_poll(cb_ca_client_t *c, int timeout_ms)
{
    ca_job_t *j;
    cb_ca_req_t *r;

    if (!c->done.count)
        drive(c, cb_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0));
    if (!(j = queue_pop(&c->done)))
        return NULL;
    r = j->req;
    job_free(j);
    c->pending--;
    return r;
}

size_t cb_ca_pending(const cb_ca_client_t *c)
{
    return c->pending;
}

void cb_ca_client_set_metrics(cb_ca_client_t *c, cb_metrics_t *m)
{
    c->metrics = m;
    if (m)
        cb_metrics_set_ca_limit(m, cb_limiter_limit(c->limiter),
                                cb_limiter_baseline_us(c->limiter));
}

int cb_ca_limit(const cb_ca_client_t *c)
{
    return cb_limiter_limit(c->limiter);
}

int64_t cb_ca_baseline_us(const cb_ca_client_t *c)
{
    return cb_limiter_baseline_us(c->limiter);
}

const cb_ca_req_t *cb_ca_probe_poll(cb_ca_client_t *c)
{
    if (c->probe_running)
        turn(c, cb_clock_mono_ms(), false); /* deadline now: never waits */
    if (!c->probe_done)
        return NULL;
    c->probe_done = false;
    return &c->probe_req;
}

/* Takes req's job out of the done queue when it is there. */
static bool take_done(cb_ca_client_t *c, cb_ca_req_t *req)
{
    ca_job_t *j;

    for (j = c->done.head; j; j = j->next) {
        if (j->req == req) {
            queue_remove(&c->done, j);
            job_free(j);
            c->pending--;
            return true;
        }
    }
    return false;
}

void cb_ca_wait(cb_ca_client_t *c, cb_ca_req_t *req)
{
    /* other requests finishing meanwhile stay in the done queue */
    while (!take_done(c, req))
        turn(c, cb_clock_mono_ms() + 100, false);
}

int cb_ca_call(cb_ca_client_t *c, cb_ca_req_t *req, cb_error_t *err)
{
    if (cb_ca_submit(c, req, err) < 0)
        return -1;
    cb_ca_wait(c, req);
    return 0;
}

void cb_ca_req_clear(cb_ca_req_t *req)
{
    size_t i;

    for (i = 0; i < req->cert_count; i++) {
        free(req->certs[i].serial);
        free(req->certs[i].subject);
        free(req->certs[i].device_id);
        free(req->certs[i].status);
        free(req->certs[i].holder_type);
        free(req->certs[i].holder_id);
        free(req->certs[i].org_code);
    }
    free(req->certs);
    for (i = 0; i < req->device_count; i++) {
        free(req->devices[i].device_id);
        free(req->devices[i].status);
        free(req->devices[i].holder_type);
        free(req->devices[i].holder_id);
        free(req->devices[i].org_code);
        free(req->devices[i].subject);
    }
    free(req->devices);
    free(req->next_cursor);
    req->devices = NULL;
    req->device_count = 0;
    req->next_cursor = NULL;
    req->total = 0;
    free(req->new_serial);
    free(req->request_id_out);
    free(req->error_code);
    free(req->error_message);
    req->certs = NULL;
    req->cert_count = 0;
    req->new_serial = req->request_id_out = req->error_code = req->error_message = NULL;
    req->klass = CB_CA_SUCCESS;
    req->http_status = 0;
    req->attempts = 0;
    req->latency_ms = 0;
}
