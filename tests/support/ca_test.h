/*
 * ca_test.h: helpers shared by the tests that talk to a reference CA
 * started by harness/refca_harness.py (folder DIR: DIR/url,
 * DIR/certbridge.conf, DIR/pki/).
 */
#ifndef CB_CA_TEST_H
#define CB_CA_TEST_H

#include <stddef.h>

#include "certbridge/ca_client.h"
#include "certbridge/config.h"

/* A configuration from DIR/certbridge.conf plus extra "key=value" pairs
 * (NULL-terminated, may be NULL). Aborts the test on failure. */
cb_config_t *ct_config(const char *dir, const char *const *extra);

/* A client from ct_config(dir, extra). Aborts the test on failure. */
cb_ca_client_t *ct_client(const char *dir, const char *const *extra);

/* GET url_path (e.g. "/v1/crl") from the CA over mTLS with certbridge's
 * client certificate. Answers the HTTP status; the body in *body (heap,
 * NUL-terminated, caller frees) and its length in *len. */
long ct_get(const char *dir, const char *path, char **body, size_t *len);

/* How many ledger entries the CA holds in total, and how many carry the
 * given idempotency key (key NULL: only the total). */
long ct_ledger_count(const char *dir, const char *key, long *with_key);

/* Runs a shell command and answers its standard output (heap, caller
 * frees), or NULL when it failed. */
char *ct_run(const char *cmd);

/* Writes len bytes to a new temporary file; answers its path (static
 * buffer of the caller: out, size). */
void ct_write_temp(const char *data, size_t len, char *out, size_t size);

/* The active certificates of a holder through the client (LOOKUP). The
 * request must be cleared by the caller. */
void ct_lookup(cb_ca_client_t *c, cb_holder_type_t type, const char *holder_id, cb_ca_req_t *req);

#endif
