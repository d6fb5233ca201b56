/*
 * store.h: the reference CA's state in SQLite (WAL): certificates, recalled
 * tokens, idempotency keys with their stored answers, pending (async)
 * requests and the ledger of applied operations.
 *
 * One connection, used from the server's single thread (and read-only by
 * the `ledger` command from another process: WAL lets both run). Statements
 * are prepared once and reused. Callers group writes with
 * refca_store_begin/commit so one CA call is one transaction.
 */
#ifndef REFCA_STORE_H
#define REFCA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"

typedef struct refca_store refca_store_t;

/* One certificate. Strings and blobs are heap copies owned by the row
 * (refca_cert_row_clear frees them). Times are Unix seconds. */
typedef struct refca_cert_row {
    char *serial;
    char *holder_type; /* ORGANIZATION | PERSON */
    char *holder_id;
    char *org_code; /* persons: the organization they belong to; may be NULL */
    char *subject;  /* RFC 4514 */
    char *device_id;
    unsigned char *pubkey; /* DER SubjectPublicKeyInfo */
    size_t pubkey_len;
    unsigned char *der; /* the certificate */
    size_t der_len;
    int64_t not_before, not_after;
    char *status;      /* active | revoked */
    int revoke_reason; /* RFC 5280 code, -1 when active */
    int64_t revoked_at;
    char *replaced_by;  /* change-info: the new certificate's serial */
    char *province;     /* the subject's L, "" when it has none; NULL until filled */
    int64_t changed_ms; /* issued or revoked, whichever is later (put: 0 = now) */
} refca_cert_row_t;

/* A page of certificates (GET /v1/certificates with page_size): the rows
 * after after_rowid, at most snap_rowid (0: any), in rowid order, at most
 * limit. A NULL string or a zero changed_since_ms does not filter. Rowids
 * only grow (nothing is ever deleted), so a walk bounded by the rowid the
 * first page saw never meets a certificate issued after it started. */
typedef struct refca_cert_query {
    const char *holder_type, *holder_id, *org_code, *province;
    const char *status;       /* active | revoked; NULL: either */
    int64_t changed_since_ms; /* changed_ms >= this */
    int64_t after_rowid, snap_rowid;
    int limit;
} refca_cert_query_t;

/* A recalled token with the holder of the newest certificate naming it.
 * Borrowed strings, valid during the callback; holder fields may be NULL. */
#define REFCA_DEVICE_PAGE_MAX 1000
typedef struct refca_device_row {
    int64_t rowid;
    const char *device_id;
    int64_t recalled_ms, returned_ms; /* returned_ms 0: still out */
    const char *holder_type, *holder_id, *org_code, *subject;
} refca_device_row_t;

/* An asynchronous request. Strings owned by the row. What becomes of it is
 * decided once, when it is accepted (fate, due_ms, min_polls), and stored
 * with it, so repeated polls and a restart give the same answers. */
typedef struct refca_request_row {
    char *id;
    char *state;  /* PENDING, then COMPLETED | REJECTED | EXPIRED (ca.h REFCA_REQ_*) */
    char *op;     /* change-info | revoke | recall | issue */
    char *target; /* serial or device id from the path; NULL for issue */
    char *params; /* the request body (JSON) */
    char *idem_key;
    int64_t due_ms; /* when its time comes (wall clock, ms) */
    int status;     /* the final answer's status, 0 while pending */
    char *body;     /* the final answer's body, NULL while pending */
    char *fate;     /* COMPLETED (applied then), REJECTED or EXPIRED (nothing applied);
                     * NULL on put = COMPLETED */
    int min_polls;  /* stays PENDING through at least this many polls */
    int polls;      /* polls answered PENDING so far (set by the store) */
} refca_request_row_t;

/* One ledger line. Borrowed strings, valid during the callback. */
typedef struct refca_ledger_row {
    int64_t seq, at_ms;
    const char *op, *serial, *new_serial, *device_id, *idem_key, *request_id;
    const char *document_number; /* the approving document of the call; NULL: none */
    int reason;
} refca_ledger_row_t;

/* Opens (creating when missing) dir/refca.db. Caller closes. */
refca_store_t *refca_store_open(const char *dir, bool readonly, cb_error_t *err);
void refca_store_close(refca_store_t *st);

int refca_store_begin(refca_store_t *st, cb_error_t *err);
int refca_store_commit(refca_store_t *st, cb_error_t *err);
void refca_store_rollback(refca_store_t *st);

/* meta: small named blobs (the CA key and certificate, the CRL number).
 * get: 0 and a heap copy (NUL-terminated, caller frees) in *val, 1 when the
 * name is unknown, -1 on error. */
int refca_store_meta_get(refca_store_t *st, const char *name, char **val, size_t *len,
                         cb_error_t *err);
int refca_store_meta_set(refca_store_t *st, const char *name, const void *val, size_t len,
                         cb_error_t *err);

/* Certificates. get: 0 found, 1 unknown serial, -1 error. */
int refca_store_cert_put(refca_store_t *st, const refca_cert_row_t *row, cb_error_t *err);
int refca_store_cert_get(refca_store_t *st, const char *serial, refca_cert_row_t *row,
                         cb_error_t *err);
int refca_store_cert_revoke(refca_store_t *st, const char *serial, int reason, int64_t at,
                            const char *replaced_by, cb_error_t *err);
int64_t refca_store_cert_count(refca_store_t *st, cb_error_t *err);
void refca_cert_row_clear(refca_cert_row_t *row);

/* Calls fn for each active certificate of a holder (holder_id set) or of
 * every holder of holder_type whose org_code matches (org_code set; both may
 * be set), in serial order. fn returns non-zero to stop. The row is valid
 * during the call only. */
int refca_store_cert_active(refca_store_t *st, const char *holder_type, const char *holder_id,
                            const char *org_code,
                            int (*fn)(const refca_cert_row_t *row, void *opaque), void *opaque,
                            cb_error_t *err);

/* Calls fn(row, rowid) for each certificate of the page q; fn returns
 * non-zero to give up (out of memory). The count variant answers how many
 * rows match q without after_rowid and limit mattering (q->after_rowid 0). */
int refca_store_cert_page(refca_store_t *st, const refca_cert_query_t *q,
                          int (*fn)(const refca_cert_row_t *row, int64_t rowid, void *opaque),
                          void *opaque, cb_error_t *err);
int64_t refca_store_cert_page_count(refca_store_t *st, const refca_cert_query_t *q,
                                    cb_error_t *err);
/* The newest certificate's rowid (0 when there is none): a walk's bound. */
int64_t refca_store_cert_max_rowid(refca_store_t *st, cb_error_t *err);
/* Fills the province of certificates stored by an earlier release:
 * province_of(subject) answers a heap string ("" for none; NULL when out of
 * memory). Runs in batches until none is missing. */
int refca_store_cert_provinces(refca_store_t *st,
                               char *(*province_of)(const char *subject, void *opaque),
                               void *opaque, cb_error_t *err);

/* Calls fn(serial, reason, revoked_at) for every revoked certificate. */
int refca_store_cert_revoked(refca_store_t *st,
                             int (*fn)(const char *serial, int reason, int64_t at, void *opaque),
                             void *opaque, cb_error_t *err);

/* Tokens: known = some certificate names device_id. recall answers 1 when
 * the token was recalled before, 0 when recorded now. */
int refca_store_device_known(refca_store_t *st, const char *device_id, cb_error_t *err);
int refca_store_device_recall(refca_store_t *st, const char *device_id, int64_t at_ms,
                              cb_error_t *err);
/* Records that a recalled token came back at at_ms: 0 recorded now, 1
 * returned before (*returned_ms its time), 2 never recalled (nothing done);
 * *recalled_ms gets the recall's time. -1 on error. */
int refca_store_device_returned(refca_store_t *st, const char *device_id, int64_t at_ms,
                                int64_t *recalled_ms, int64_t *returned_ms, cb_error_t *err);
/* Calls fn for the recalled tokens after after_rowid in rowid order, at most
 * limit (capped at REFCA_DEVICE_PAGE_MAX): status "recalled" (still out),
 * "returned" or "any"; org_code (NULL: any) filters on the holder's. */
int refca_store_device_page(refca_store_t *st, const char *status, const char *org_code,
                            int64_t after_rowid, int limit,
                            int (*fn)(const refca_device_row_t *row, void *opaque), void *opaque,
                            cb_error_t *err);

/* Idempotency keys. get: 0 with route/status/body (heap, caller frees), 1
 * unknown key, -1 error. */
int refca_store_idem_get(refca_store_t *st, const char *key, char **route, int *status, char **body,
                         cb_error_t *err);
int refca_store_idem_put(refca_store_t *st, const char *key, const char *route, int status,
                         const char *body, cb_error_t *err);

/* Pending requests. get: 0 found, 1 unknown id. due: fills up to max ids of
 * PENDING requests with due_ms <= now_ms that were polled at least
 * min_polls times into ids (heap strings, caller frees) and answers their
 * number. polled: counts one more poll of a request still PENDING. */
int refca_store_request_put(refca_store_t *st, const refca_request_row_t *row, cb_error_t *err);
int refca_store_request_get(refca_store_t *st, const char *id, refca_request_row_t *row,
                            cb_error_t *err);
int refca_store_request_finish(refca_store_t *st, const char *id, const char *state, int status,
                               const char *body, cb_error_t *err);
int refca_store_request_due(refca_store_t *st, int64_t now_ms, char **ids, int max,
                            cb_error_t *err);
int refca_store_request_polled(refca_store_t *st, const char *id, cb_error_t *err);
void refca_request_row_clear(refca_request_row_t *row);

/* The ledger: every applied operation, in order. document_number is the
 * approving document a change-info or revoke named (NULL: none). */
int refca_store_ledger_add(refca_store_t *st, const char *op, const char *serial,
                           const char *new_serial, const char *device_id, int reason,
                           const char *idem_key, const char *request_id,
                           const char *document_number, cb_error_t *err);
int refca_store_ledger_each(refca_store_t *st, int64_t after_seq, int64_t limit,
                            int (*fn)(const refca_ledger_row_t *row, void *opaque), void *opaque,
                            cb_error_t *err);
int64_t refca_store_ledger_count(refca_store_t *st, cb_error_t *err);

#endif
