/*
 * server.h: the reference CA's HTTPS server: libevent's evhttp over
 * bufferevent_openssl, client-certificate authentication, the routes of
 * schemas/ca-api.yaml, idempotency keys, async completion, fault
 * injection, a rate limit, and refca's own admin calls (GET
 * /v1/admin/stats, POST /v1/admin/rate-limit; README "The reference CA").
 * One thread, one event loop; latency injection and async completion use
 * timers, never blocking other connections.
 */
#ifndef REFCA_SERVER_H
#define REFCA_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "ca.h"
#include "certbridge/error.h"

#define REFCA_HUGE_HOLDERS_MAX 8 /* --huge-problem-holder given at most this often */

typedef struct refca_server_opts {
    const char *host;      /* listen address, e.g. 127.0.0.1 */
    int port;              /* 0 = any free port */
    const char *url_file;  /* written with "https://HOST:PORT" once listening */
    const char *tls_cert;  /* server certificate chain (PEM) */
    const char *tls_key;   /* its key */
    const char *client_ca; /* clients must present a certificate signed by this CA */
    int latency_ms;        /* added before every answer */
    double fail_503;       /* share of calls answered 503 with Retry-After */
    int retry_after_s;     /* the Retry-After of those answers */
    double drop;           /* share of calls whose connection is closed, nothing applied */
    double drop_after;     /* share of mutating calls applied, then closed unanswered */
    bool async;            /* mutating calls answer 202 PENDING and complete later */
    bool live_lookups;     /* GET /v1/certificates ignores Idempotency-Key: the live state */
    /* --async: what becomes of each request, decided once when it is
     * accepted, from the seed and its Idempotency-Key (so under one seed the
     * same call meets the same fate whatever the order of calls), and stored
     * with it. */
    int async_delay_min_ms;       /* its time comes uniformly in [min, max] ms */
    int async_delay_max_ms;       /* after acceptance */
    double async_reject;          /* share ending REJECTED (SUBJECT_MISMATCH) */
    double async_expire;          /* share ending EXPIRED; reject + expire <= 1 */
    int async_min_polls;          /* a chosen request stays PENDING through at least */
    double async_min_polls_share; /* this many polls; the share chosen */
    uint64_t seed;                /* fault injection's random sequence; 0 = from the clock */
    /* --rate-limit: a token bucket in front of every call but /v1/ca.pem,
     * /v1/ledger and /v1/admin/ (POST /v1/admin/rate-limit changes both
     * while the server runs) */
    double rate_limit; /* calls per second; 0 = no limit */
    double rate_burst; /* bucket size (calls, >= 1); 0 = rate/10, at least 1 */
    /* --huge-problem-holder/--huge-problem-bytes: change-info and revoke of a
     * certificate held by one of these holders are refused with a 422
     * problem whose "detail" is huge_problem_bytes bytes of UTF-8 text. */
    const char *huge_problem_holders[REFCA_HUGE_HOLDERS_MAX];
    int n_huge_problem_holders;
    size_t huge_problem_bytes;
} refca_server_opts_t;

/* Serves until SIGINT or SIGTERM, then returns 0. -1 with err when the
 * server cannot start. */
int refca_server_run(refca_ca_t *ca, const refca_server_opts_t *opts, cb_error_t *err);

#endif
