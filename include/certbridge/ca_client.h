/*
 * ca_client.h: the CA API v1 client (docs/ARCHITECTURE.md §6, schemas/ca-api.yaml).
 *
 * libcurl multi handle, many requests in flight (an adaptive limit within
 * ca.concurrency: limiter.h), connections reused; mTLS
 * with a client certificate, a pinned CA bundle, TLS >= 1.2, hostname
 * verification always on. Every answer is classified (cb_ca_class_t);
 * retriable failures are retried inside the client with exponential backoff
 * and jitter honouring Retry-After, up to ca.max_attempts, after which the
 * request completes with CB_CA_RETRY so the caller can pause and try later.
 *
 * Use: fill a cb_ca_req_t, cb_ca_submit() it, and drive everything with
 * cb_ca_poll(), which hands back finished requests one at a time. A
 * readiness probe runs beside them without blocking (cb_ca_probe_start,
 * cb_ca_probe_poll). The client is single-threaded: call it from one thread
 * (the pipeline's main thread).
 */
#ifndef CB_CA_CLIENT_H
#define CB_CA_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/config.h"
#include "certbridge/error.h"
#include "certbridge/metrics.h"
#include "certbridge/rules.h"

#define CB_CA_BODY_MAX (256 * 1024) /* largest accepted response body */

typedef enum cb_ca_op {
    CB_CA_LOOKUP = 0,  /* GET /v1/certificates?holder_type=&holder_id=&status=active */
    CB_CA_CHANGE_INFO, /* POST /v1/certificates/{serial}/change-info {"subject":...} */
    CB_CA_REVOKE,      /* POST /v1/certificates/{serial}/revoke {"reason":...} */
    CB_CA_RECALL,      /* POST /v1/devices/{device_id}/recall */
    CB_CA_ISSUE,       /* POST /v1/certificates {holder_type, holder_id, subject} */
    CB_CA_REQUEST,     /* GET /v1/requests/{id}: see "Polling a request" below */
    CB_CA_HEALTH,      /* GET /v1/ca.pem, for readiness */
    CB_CA_RETURNED,    /* POST /v1/devices/{device_id}/returned {"returned_at":...} */
    CB_CA_DEVICES      /* GET /v1/devices?status=&org_code=&page_size=&cursor= (pages) */
} cb_ca_op_t;

#define CB_CA_OP_COUNT (CB_CA_DEVICES + 1)

/* Pages (schemas/ca-api.yaml GET /v1/certificates, GET /v1/devices). */
#define CB_CA_PAGE_SIZE_DEFAULT 250 /* a page of ~250 certificates is ~130 KiB */
#define CB_CA_PAGE_SIZE_MAX     500 /* CB_CA_BODY_MAX and CB_JSON_TOKENS_MAX (json.h) bound it */
#define CB_CA_CURSOR_MAX        256 /* longest next_cursor accepted from a CA */

typedef enum cb_ca_class {
    CB_CA_SUCCESS = 0, /* done now (2xx) */
    CB_CA_ALREADY,     /* already done before (e.g. ALREADY_REVOKED) */
    CB_CA_PENDING,     /* accepted, finishes later (request_id set) */
    CB_CA_PERMANENT,   /* refused: other 4xx; retrying will not help */
    CB_CA_RETRY        /* retriable and attempts exhausted: try again later */
} cb_ca_class_t;

/* One active certificate from a lookup. Strings owned by the result. */
typedef struct cb_ca_cert {
    char *serial;
    char *subject; /* RFC 4514 (subject.h) */
    char *device_id;
    char *status;
    int64_t not_before_ms, not_after_ms;
    char *holder_type; /* ORGANIZATION | PERSON; may be NULL */
    char *holder_id;   /* the holder (useful for org_code lookups); may be NULL */
    char *org_code;    /* PERSON: the organization the holder belongs to; may be NULL */
} cb_ca_cert_t;

/* One recalled key token from CB_CA_DEVICES. Strings owned by the result. */
typedef struct cb_ca_device {
    char *device_id;
    char *status;                           /* recalled (still out) | returned */
    int64_t recalled_at_ms, returned_at_ms; /* returned_at_ms 0: still out */
    char *holder_type;                      /* of the newest certificate naming it; may be NULL */
    char *holder_id, *org_code, *subject;   /* may be NULL */
} cb_ca_device_t;

typedef struct cb_ca_req {
    /* filled by the caller; strings borrowed until the request completes */
    cb_ca_op_t op;
    cb_holder_type_t holder_type;  /* LOOKUP, ISSUE */
    const char *holder_id;         /* LOOKUP, ISSUE */
    const char *org_code;          /* LOOKUP of PERSON certs naming this org (cascade);
                                    * CHANGE_INFO, ISSUE: the holder's org after the call
                                    * (optional, sent as "org_code") */
    const char *serial;            /* CHANGE_INFO, REVOKE */
    const char *subject;           /* CHANGE_INFO, ISSUE */
    cb_revocation_reason_t reason; /* REVOKE */
    const char *device_id;         /* RECALL */
    const char *request_id;        /* REQUEST */
    char idempotency_key[65];      /* mutating calls: cb_idempotency_key() */
    void *opaque;                  /* the caller's */

    /* CHANGE_INFO, REVOKE: the number and date of the document that approved
     * the call (the managing agency head's approval), e.g. "1234/UBND-KGVX
     * ngày 01/7/2025"; NULL: none, nothing sent. Sent as "document_number"
     * in the body (schemas/ca-api.yaml DocumentNumber, at most 2048 bytes);
     * the CA keeps it with the call. Borrowed as the strings above (the
     * caller's until the request completes): cb_ca_req_clear neither frees
     * nor resets it. */
    const char *document_number;

    /* Pages ("Pages" below). LOOKUP with page_size > 0 or a cursor asks for
     * one page; with both 0/NULL it is the first form of the call (one
     * answer with every certificate, which fails with body_too_large past
     * CB_CA_BODY_MAX). */
    int page_size;             /* LOOKUP, DEVICES: 1..CB_CA_PAGE_SIZE_MAX */
    const char *cursor;        /* LOOKUP, DEVICES: the previous page's next_cursor */
    bool any_holder_type;      /* LOOKUP pages: no holder_type filter (the inventory) */
    const char *province;      /* LOOKUP pages: the subject's L */
    const char *status_filter; /* LOOKUP pages: active (NULL), revoked, any;
                                * DEVICES: recalled (NULL: still out), returned, any */
    int64_t changed_since_ms;  /* LOOKUP pages: issued or revoked since; 0 = any time */
    int64_t returned_at_ms;    /* RETURNED: when the token came back; 0 = now (the CA's) */

    /* filled by the client when the request completes; owned by the request
     * until cb_ca_req_clear() */
    cb_ca_class_t klass;
    long http_status;     /* 0 when no answer was received */
    char *new_serial;     /* CHANGE_INFO, ISSUE */
    char *request_id_out; /* PENDING answers */
    char *error_code;     /* problem+json "type"/"code", or a transport error name */
    char *error_message;  /* problem+json "detail", or curl's message */
    cb_ca_cert_t *certs;  /* LOOKUP */
    size_t cert_count;
    char *next_cursor;       /* LOOKUP, DEVICES pages: NULL on the last page */
    int64_t total;           /* first LOOKUP page: certificates the walk lists; 0 untold */
    cb_ca_device_t *devices; /* DEVICES */
    size_t device_count;
    int attempts;
    int64_t latency_ms; /* from the first attempt's start to completion: retries and
                         * their backoff count, waiting for a free slot does not */
} cb_ca_req_t;

typedef struct cb_ca_client cb_ca_client_t;

/* A client from ca.* configuration keys (url, TLS files, timeouts,
 * concurrency, retry policy). Refuses a plain http:// URL unless
 * ca.insecure_http_url names that very URL. Sets SIGPIPE to ignored when it still has its
 * default action (a closed connection must not kill the process). Caller
 * frees with cb_ca_client_destroy(). */
cb_ca_client_t *cb_ca_client_new(const cb_config_t *cfg, cb_error_t *err);
void cb_ca_client_destroy(cb_ca_client_t *c);

/* Queues req (not copied: it must stay valid until cb_ca_poll returns it).
 * Starts at once when the limit of calls in flight allows (ca.concurrency,
 * or less in adaptive mode: cb_ca_limit). */
int cb_ca_submit(cb_ca_client_t *c, cb_ca_req_t *req, cb_error_t *err);

/* Drives transfers for at most timeout_ms and returns one completed request,
 * or NULL when none completed in time (with nothing pending it waits the
 * whole timeout_ms, so a caller's loop is paced, not spinning). */
cb_ca_req_t *cb_ca_poll(cb_ca_client_t *c, int timeout_ms);

/* Requests submitted and not yet returned by cb_ca_poll. */
size_t cb_ca_pending(const cb_ca_client_t *c);

/* Adaptive concurrency (ca.concurrency_mode, limiter.h). The limit of calls
 * in flight now, in [1, ca.concurrency], and the latency baseline the
 * limiter measured (microseconds, 0 until a served answer). */
int cb_ca_limit(const cb_ca_client_t *c);
int64_t cb_ca_baseline_us(const cb_ca_client_t *c);

/* Reports the limit, the baseline and the overloaded answers (429, 503,
 * 504, timeouts) to m from now on (certbridge_ca_concurrency_limit,
 * certbridge_ca_latency_baseline_seconds, certbridge_ca_overloaded_total).
 * m is borrowed: it must outlive the client, or be unset with NULL. */
void cb_ca_client_set_metrics(cb_ca_client_t *c, cb_metrics_t *m);

/* The readiness probe (GET /v1/ca.pem), which must never hold up its
 * caller: one attempt, no retries, at most timeout_ms (also capped by
 * ca.timeout_ms; the connect timeout by both). Its request belongs to the
 * client and completes apart from submitted ones: cb_ca_poll never returns
 * it and cb_ca_pending does not count it, so a caller driving its own
 * requests (the executor) never sees it. At most one probe at a time:
 * answers 1 when a probe was started, 0 when one is still in flight (nothing
 * done), -1 with err when the request could not be built. Starting a probe
 * forgets a finished one cb_ca_probe_poll has not returned yet. */
int cb_ca_probe_start(cb_ca_client_t *c, long timeout_ms, cb_error_t *err);

/* Drives the client's transfers once without waiting (a caller's requests
 * completing meanwhile stay queued for cb_ca_poll) and answers the probe
 * once it finished: its request (klass CB_CA_SUCCESS when the CA answered
 * 2xx; error_code and error_message otherwise), owned by the client and
 * valid until the next cb_ca_probe_start or cb_ca_client_destroy. NULL while
 * the probe runs, or when none was started or it was already returned. The
 * probe also progresses while other callers drive the client (cb_ca_poll,
 * cb_ca_call). */
const cb_ca_req_t *cb_ca_probe_poll(cb_ca_client_t *c);

/* Submits req and polls until it completes (tests, simple callers). Other
 * requests completing meanwhile are kept for later cb_ca_poll calls. */
int cb_ca_call(cb_ca_client_t *c, cb_ca_req_t *req, cb_error_t *err);

/* Drives the client until req, submitted before, completes (as cb_ca_call
 * after its submit): other requests completing meanwhile stay queued for
 * cb_ca_poll. req must be in flight (submitted, not yet returned). */
void cb_ca_wait(cb_ca_client_t *c, cb_ca_req_t *req);

/* Pages. A lookup of many certificates (an organization's persons for a
 * cascade, the whole CA for `certbridge reconcile`) is asked for in pages:
 * set page_size (and the filters), submit, and read certs; while
 * next_cursor is not NULL, submit the same request again with cursor set to
 * a copy of it (the request owns next_cursor: copy it before
 * cb_ca_req_clear) and the same filters and Idempotency-Key. Memory stays
 * bounded by one page (two when the next page is asked for while the
 * previous is still being used, as ca_inventory.h does).
 *   - A keyed lookup (idempotency_key set) is a snapshot page by page: the
 *     CA stores each page under the key and its cursor, so a replay walks
 *     the same pages. Send the same key for every page of one walk.
 *   - A walk never lists a certificate issued after its first page was
 *     answered (the cursor bounds it), so certificates that the caller's own
 *     change-info calls issue meanwhile are not met again.
 *   - A page whose answer exceeds CB_CA_BODY_MAX fails CB_CA_PERMANENT with
 *     error_code "body_too_large": ask for the same cursor again with a
 *     smaller page_size (ca_inventory.h halves it).
 *   - The first page tells total when the CA does (0 otherwise).
 * The executor's lookups follow the pages (one request per page in the
 * holder's chain, executor.h); the blocking iterator for commands is
 * ca_inventory.h. */

/* Frees what the client filled in req and resets the output fields. */
void cb_ca_req_clear(cb_ca_req_t *req);

/* Polling a request (CB_CA_REQUEST, GET /v1/requests/{id}; the states are
 * schemas/ca-api.yaml's RequestState). A 2xx answer goes by its "state":
 *   PENDING    CB_CA_PENDING (request_id_out set): ask again later.
 *   COMPLETED  the class of its "result", the answer the call would have
 *              had: CB_CA_SUCCESS with new_serial etc., or CB_CA_ALREADY
 *              (ALREADY_REVOKED, ...).
 *   REJECTED   CB_CA_PERMANENT, nothing applied: error_code and
 *              error_message are the "code" and "detail" of the result's
 *              problem (e.g. SUBJECT_MISMATCH; "REJECTED" when it has no
 *              code).
 *   EXPIRED    CB_CA_PERMANENT, nothing applied (nobody confirmed the
 *              request in time): error_code "EXPIRED", error_message the
 *              result's detail or a sentence of the client's.
 *   any other state, or none: CB_CA_RETRY with error_code "UNKNOWN_STATE"
 *              and the state in error_message (retried like any retriable
 *              answer first). A state this client does not know, e.g. from
 *              a newer CA, must not be taken as final, neither done nor
 *              refused: the call may still be applied, so the caller asks
 *              again later, as for a CA that does not answer. The spellings
 *              of earlier reference CAs (SUCCEEDED, FAILED) count as
 *              unknown.
 * A 2xx answer that is not JSON is CB_CA_PERMANENT ("invalid_answer");
 * other statuses classify as for any call (404 REQUEST_NOT_FOUND is
 * CB_CA_PERMANENT, 429 and 5xx retriable). */

/* Interprets one HTTP answer (status and body, len bytes, at most
 * CB_CA_BODY_MAX) to request r as the client does when a transfer completed:
 * fills r's class and answer fields (free them with cb_ca_req_clear). Pure:
 * no I/O; exposed for the fuzz target of the CA answer parser. */
void cb_ca_answer_parse(cb_ca_req_t *r, long status, const char *body, size_t len);

/* The pieces of the retry policy, exposed for unit tests. */

/* Classifies one attempt. curl_code is libcurl's CURLcode (0 when an HTTP
 * answer arrived) and curl_msg its error text (may be NULL); http_status
 * the answer's status; answer_status the answer's "status" member, or for
 * a problem+json answer its "code" (may be NULL). CB_CA_RETRY means
 * "retriable": connect errors, timeouts, dropped connections, 408, 425,
 * 429 and 5xx. A TLS alert from the server (certificate refused) and other
 * 4xx are CB_CA_PERMANENT; 2xx are CB_CA_SUCCESS, or CB_CA_ALREADY when
 * answer_status is ALREADY_REVOKED / ALREADY_RECALLED / ALREADY_DONE (also
 * accepted on a 409), or CB_CA_PENDING for PENDING; "FAILED" in a 2xx (a CA
 * saying the call failed) is CB_CA_PERMANENT. The state of a polled request
 * is classified on top of this (see "Polling a request"). */
cb_ca_class_t cb_ca_classify(int curl_code, const char *curl_msg, long http_status,
                             const char *answer_status);

/* The delay before retry number `retry` (1 = the first retry): exponential
 * min(max_ms, base_ms * 2^(retry-1)) with "equal jitter" (a uniformly
 * random point of its upper half, drawn from rnd), and never less than
 * retry_after_ms (a Retry-After, capped at 60 s; 0 = none). */
int64_t cb_ca_backoff_ms(int retry, int64_t base_ms, int64_t max_ms, int64_t retry_after_ms,
                         uint64_t rnd);

/* A Retry-After header value (delay-seconds or an HTTP-date) as
 * milliseconds from now_s (Unix seconds); 0 when absent or unparsable, and
 * never negative. */
int64_t cb_ca_retry_after_ms(const char *value, int64_t now_s);

#endif
