/*
 * ca.h: the reference CA's operations (schemas/ca-api.yaml)
 * over its store (store.h) and X.509 work (pki.h), independent of HTTP.
 *
 * Every operation produces an answer: an HTTP status and a JSON body (a
 * problem+json document for errors). Mutating operations write the ledger
 * and run inside the caller's transaction (refca_store_begin/commit), so
 * the server can store the idempotency key in the same transaction.
 */
#ifndef REFCA_CA_H
#define REFCA_CA_H

#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"
#include "store.h"

typedef struct refca_ca refca_ca_t;

/* The states of an asynchronous request (GET /v1/requests/{id}, the
 * RequestState of schemas/ca-api.yaml; tests/checks/check_ca_contract.py
 * reads these lines): PENDING until its time comes, then one of the three
 * final states, which also name the fate decided when it was accepted. */
#define REFCA_REQ_PENDING   "PENDING"
#define REFCA_REQ_COMPLETED "COMPLETED" /* applied; result = the call's answer */
#define REFCA_REQ_REJECTED  "REJECTED"  /* refused, nothing applied; result = the problem */
#define REFCA_REQ_EXPIRED   "EXPIRED"   /* nobody confirmed it in time, nothing applied */

/* An answer. body is heap text owned by the answer (refca_answer_clear). */
typedef struct refca_answer {
    int status;
    char *body;
} refca_answer_t;

/* The mutating operations. */
typedef enum refca_op {
    REFCA_OP_CHANGE_INFO = 0,
    REFCA_OP_REVOKE,
    REFCA_OP_RECALL,
    REFCA_OP_ISSUE,
    REFCA_OP_RETURNED /* a recalled token came back (POST /v1/devices/{id}/returned) */
} refca_op_t;

#define REFCA_PAGE_DEFAULT 100  /* certificates or tokens of a page without page_size */
#define REFCA_PAGE_MAX     1000 /* the largest page_size */

/* The query of GET /v1/certificates, as its text (NULL when absent). */
typedef struct refca_list_params {
    const char *holder_type, *holder_id, *org_code, *province, *status, *changed_since;
    const char *page_size, *cursor;
} refca_list_params_t;

/* Opens the CA in state_dir: the store, the CA key and certificate (made
 * at first start), and, when the store holds no certificate yet and
 * inventory is set, issues a certificate for every line of the inventory
 * (JSONL, see README "The reference CA"). Caller frees. */
refca_ca_t *refca_ca_open(const char *state_dir, const char *inventory, cb_error_t *err);
void refca_ca_close(refca_ca_t *ca);

refca_store_t *refca_ca_store(refca_ca_t *ca);

/* Name <-> value of the mutating operations ("change-info", ...). */
const char *refca_op_name(refca_op_t op);
int refca_op_parse(const char *name);

/* Applies a mutating operation: target is the serial (change-info, revoke)
 * or device id (recall), NULL for issue; body is the request's JSON text.
 * idem_key and request_id go into the ledger. Fills ans; returns -1 only
 * on an internal failure (the transaction must then be rolled back). */
int refca_ca_apply(refca_ca_t *ca, refca_op_t op, const char *target, const char *body,
                   const char *idem_key, const char *request_id, refca_answer_t *ans,
                   cb_error_t *err);

/* Checks a mutating request before it is accepted (for async mode): the
 * target exists and the body is well-formed. 0 when acceptable, otherwise
 * fills ans with the problem and returns 1; -1 on internal failure. */
int refca_ca_precheck(refca_ca_t *ca, refca_op_t op, const char *target, const char *body,
                      refca_answer_t *ans, cb_error_t *err);

/* GET /v1/certificates: a holder's active certificates (holder_id set), or
 * those of every holder of holder_type belonging to org_code. */
int refca_ca_lookup(refca_ca_t *ca, const char *holder_type, const char *holder_id,
                    const char *org_code, refca_answer_t *ans, cb_error_t *err);

/* GET /v1/certificates: without page_size and cursor, refca_ca_lookup (the
 * first form: holder_type and holder_id or org_code, status active, one
 * answer). With either, one page: the certificates matching every filter
 * given, in the order they were stored, page_size (1..REFCA_PAGE_MAX,
 * default REFCA_PAGE_DEFAULT) at most, "next_cursor" when more follow and,
 * on the first page, "total". A cursor carries where the walk stands, the
 * newest certificate when it began (later ones are never listed, so a walk
 * meets each certificate at most once even while changes go on) and a hash
 * of the filters (a cursor used with other filters is refused). */
int refca_ca_list(refca_ca_t *ca, const refca_list_params_t *p, refca_answer_t *ans,
                  cb_error_t *err);

/* GET /v1/devices: a page of recalled tokens (status recalled = still out,
 * returned, any; org_code of the holder), as refca_ca_list pages. */
int refca_ca_devices(refca_ca_t *ca, const char *status, const char *org_code,
                     const char *page_size, const char *cursor, refca_answer_t *ans,
                     cb_error_t *err);

/* GET /v1/certificates/{serial}: one certificate with its PEM. */
int refca_ca_cert(refca_ca_t *ca, const char *serial, refca_answer_t *ans, cb_error_t *err);

/* Finishes a PENDING request whose time has come, inside the caller's
 * transaction, as its fate says: COMPLETED applies the call (refca_ca_apply;
 * a call refused then, e.g. 409 CERTIFICATE_NOT_ACTIVE, ends REJECTED with
 * that problem); REJECTED answers the problem SUBJECT_MISMATCH (422) and
 * EXPIRED the problem EXPIRED (410), both applying nothing. *state gets the
 * final state (a static string), ans the final answer. -1 on internal
 * failure (roll back). */
int refca_ca_finish(refca_ca_t *ca, const refca_request_row_t *row, const char **state,
                    refca_answer_t *ans, cb_error_t *err);

/* GET /v1/requests/{id}. */
int refca_ca_request(refca_ca_t *ca, const char *id, refca_answer_t *ans, cb_error_t *err);

/* The CA certificate (PEM, owned by ca) and the current CRL (DER, owned by
 * ca). The CRL says thisUpdate now and nextUpdate a day later (pki.h); it is
 * remade after a revocation and once it is older than the refresh period
 * (refca_ca_set_crl_refresh), so a CA that runs for days never serves one
 * past its nextUpdate (an approval verifier refuses those). */
const char *refca_ca_pem(refca_ca_t *ca);
int refca_ca_crl(refca_ca_t *ca, const unsigned char **der, size_t *len, cb_error_t *err);

/* How old the served CRL may get before it is remade: 12 hours, half its
 * validity, by default; 0 makes a new CRL (with the next CRL number) on
 * every request. */
#define REFCA_CRL_REFRESH_DEFAULT_S (12 * 3600)
void refca_ca_set_crl_refresh(refca_ca_t *ca, int64_t seconds);

/* Issues a signing certificate (digitalSignature, nonRepudiation) under
 * subject dn (RFC 4514) to a person who keeps its private key: an agency
 * head who signs approvals (README "Approval signatures"), for tests and
 * the demo. Unlike an inventory holder's, the private key is handed out:
 * *key_pem (PKCS#8 PEM) and *cert_pem, both malloc'd, the caller frees. The
 * certificate is recorded as an active PERSON certificate of holder_id (no
 * organization, no token), so GET /v1/certificates lists it and a revoke
 * puts it on the CRL. */
int refca_ca_issue_signer(refca_ca_t *ca, const char *holder_id, const char *dn, char **key_pem,
                          char **cert_pem, cb_error_t *err);

/* GET /v1/ledger?after=SEQ&limit=N as JSON. */
int refca_ca_ledger(refca_ca_t *ca, int64_t after, int64_t limit, refca_answer_t *ans,
                    cb_error_t *err);

/* Fills ans with an application/problem+json document. Returns 0. */
int refca_problem(refca_answer_t *ans, int status, const char *code, const char *detail);
void refca_answer_clear(refca_answer_t *ans);

#endif
