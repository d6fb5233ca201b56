/*
 * ca_inventory.h: walking a CA's certificates, or its recalled tokens, page
 * by page (schemas/ca-api.yaml: GET /v1/certificates with page_size, GET
 * /v1/devices), for commands that read a large part of the CA (`certbridge
 * reconcile`).
 *
 * A blocking iterator over a CA client (ca_client.h): cb_ca_inventory_next
 * answers one page at a time, and asks for the next page before it answers,
 * so the CA prepares it while the caller works through the one it has.
 * Memory: two pages at most (the caller's and the one in flight), whatever
 * the number of certificates, since each page replaces the one before.
 *
 * What it takes care of:
 *   - cursors: each page's next_cursor is copied into the next request;
 *   - an answer too large for the client (body_too_large, past
 *     CB_CA_BODY_MAX): the same page is asked for again with half the page
 *     size, down to one certificate, and the walk keeps the smaller size;
 *   - the filters and the Idempotency-Key (optional: a stored snapshot, each
 *     page under the key and its cursor) are the same on every page.
 * A CA that stays unavailable after the client's retries (CB_CA_RETRY) ends
 * the walk with a retriable CB_ERR_TRANSPORT error; a refusal with
 * CB_ERR_CA. The walk cannot be resumed after an error.
 *
 * The executor does not use this iterator: it drives its requests from its
 * own loop (cb_executor_step) and follows a lookup's pages with the request
 * fields described under "Pages" in ca_client.h, one request per page in
 * the holder's chain.
 *
 * Threads: the iterator drives its client from the caller's thread and must
 * be the client's only user while it walks (cb_ca_wait keeps other
 * requests' completions queued, but nothing else drives them).
 */
#ifndef CB_CA_INVENTORY_H
#define CB_CA_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/ca_client.h"
#include "certbridge/error.h"

typedef struct cb_ca_inventory cb_ca_inventory_t;

/* What to walk. Strings are copied by cb_ca_inventory_new. */
typedef struct cb_ca_inventory_query {
    bool devices;                 /* false: certificates; true: recalled tokens */
    bool any_holder_type;         /* certificates: both holder types */
    cb_holder_type_t holder_type; /* certificates, unless any_holder_type */
    const char *holder_id;        /* certificates: NULL = any */
    const char *org_code;         /* certificates, tokens: NULL = any */
    const char *province;         /* certificates: the subject's L; NULL = any */
    const char *status;           /* certificates: active (NULL), revoked, any;
                                   * tokens: recalled (NULL, still out), returned, any */
    int64_t changed_since_ms;     /* certificates: 0 = any time */
    int page_size;                /* 0 = CB_CA_PAGE_SIZE_DEFAULT; at most CB_CA_PAGE_SIZE_MAX */
    const char *idempotency_key;  /* certificates: NULL = none; at most 64 characters */
} cb_ca_inventory_query_t;

/* A walk over client c (borrowed; it must outlive the iterator). Nothing is
 * asked before the first cb_ca_inventory_next. NULL with err (CB_ERR_INVALID
 * for a bad page size or key, CB_ERR_NOMEM). Caller frees with
 * cb_ca_inventory_destroy. */
cb_ca_inventory_t *cb_ca_inventory_new(cb_ca_client_t *c, const cb_ca_inventory_query_t *q,
                                       cb_error_t *err);

/* The next page: 1 with *page, whose certs/cert_count (or devices/
 * device_count) are the page's items, owned by the iterator and valid until
 * the next call or cb_ca_inventory_destroy; 0 when the walk is over; -1
 * with err. A page may be empty only when the whole walk is. */
int cb_ca_inventory_next(cb_ca_inventory_t *it, const cb_ca_req_t **page, cb_error_t *err);

/* What the first page said the walk will list (0 when the CA did not say
 * or before the first page); the pages and items answered so far; the
 * page size in use (smaller than asked after an answer was too large). */
int64_t cb_ca_inventory_total(const cb_ca_inventory_t *it);
size_t cb_ca_inventory_pages(const cb_ca_inventory_t *it);
size_t cb_ca_inventory_items(const cb_ca_inventory_t *it);
int cb_ca_inventory_page_size(const cb_ca_inventory_t *it);

/* Waits for a page still in flight (so the client holds no pointer into the
 * iterator) and frees everything. Safe on NULL. */
void cb_ca_inventory_destroy(cb_ca_inventory_t *it);

#endif
