/*
 * schema_registry.h: a Confluent-compatible Schema Registry client (REST over
 * libcurl) with a per-id cache of parsed writer schemas.
 *
 * Calls: GET /schemas/ids/{id} (writer schema of a Confluent-framed message)
 * and POST /subjects/{subject}/versions (register a schema, answers its id).
 * Error classes (docs/ARCHITECTURE.md §6): the registry unreachable, timing
 * out or answering 5xx/429, an auth failure (401/403) or a 404 that is not
 * the registry's own answer is CB_ERR_TRANSPORT with CB_ERRF_RETRIABLE (the
 * message is not known to be bad: the pipeline holds it); an id the registry
 * does not know (404 with error_code 40403) is CB_ERR_NOTFOUND and a schema
 * it returns that is not Avro or does not parse is CB_ERR_DECODE, both
 * permanent.
 * Not thread-safe: one client per thread (the codec owns one).
 */
#ifndef CB_SCHEMA_REGISTRY_H
#define CB_SCHEMA_REGISTRY_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"

#define CB_REGISTRY_BODY_MAX    (1024 * 1024) /* largest accepted response body */
#define CB_REGISTRY_CACHE_MAX   256           /* cached writer schemas */
#define CB_REGISTRY_SUBJECT_MAX 512           /* longest subject name */

typedef struct cb_registry cb_registry_t;

/* A client for url (NULL or "" = none: only preloaded schemas are known).
 * user/password may be NULL (no basic auth). Copies its arguments. Does no
 * network I/O. Caller frees with cb_registry_destroy(). */
cb_registry_t *cb_registry_new(const char *url, long timeout_ms, const char *user,
                               const char *password, cb_error_t *err);
void cb_registry_destroy(cb_registry_t *reg);

/* The writer schema with this id: from the cache, else fetched and cached.
 * On success *out is a new reference the caller releases with
 * avro_schema_decref(). Without a URL, an unknown id is CB_ERR_CONFIG,
 * permanent: no registry will ever answer for this message, so it is a dead
 * letter, replayed once the operator configured schema_registry.url. */
int cb_registry_get_schema(cb_registry_t *reg, uint32_t id, avro_schema_t *out, cb_error_t *err);

/* Registers schema_json (len bytes) under subject; *id receives its id and
 * the schema is cached under it. CB_ERR_TRANSPORT (retriable) when the
 * registry cannot be reached; CB_ERR_INVALID when it refuses the schema. */
int cb_registry_register(cb_registry_t *reg, const char *subject, const char *schema_json,
                         size_t len, uint32_t *id, cb_error_t *err);

/* Puts a schema into the cache under id without asking the registry (tests,
 * fuzzing, and schemas known in advance). */
int cb_registry_preload(cb_registry_t *reg, uint32_t id, const char *schema_json, size_t len,
                        cb_error_t *err);

/* Parses the body of GET /schemas/ids/{id}: {"schema": "<json>", ...}, where
 * a "schemaType" other than AVRO is refused. On success *schema_json is a
 * malloc'd copy of the schema text (caller frees). Exposed for fuzzing. */
int cb_registry_parse_schema_response(const char *body, size_t len, char **schema_json,
                                      cb_error_t *err);

#endif
