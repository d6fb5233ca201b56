/*
 * server.h: the reference CA's HTTPS server: libevent's evhttp over
 * bufferevent_openssl, client-certificate authentication, the routes of
 * schemas/ca-api.yaml, idempotency keys, async completion and fault
 * injection. One thread, one event loop; latency injection and async
 * completion use timers, never blocking other connections.
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
    int async_delay_ms;    /* when a PENDING request completes */
    uint64_t seed;         /* fault injection's random sequence; 0 = from the clock */
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
