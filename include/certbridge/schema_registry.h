/*
 * schema_registry.h: a Confluent-compatible Schema Registry client (REST over
 * libcurl) with a per-id cache of parsed writer schemas.
 *
 * Calls: GET /schemas/ids/{id} (writer schema of a Confluent-framed message),
 * GET /subjects/{subject}/versions/{version} (the schemas it references),
 * POST /subjects/{subject}/versions (register a schema, answers its id), and
 * GET/PUT /config[/{subject}] (compatibility levels).
 *
 * Registries differ from Confluent's in ways this client tolerates (tested
 * against Apicurio Registry, tests/harness/apicurio_harness.py): answers in
 * application/json instead of application/vnd.schemaregistry.v1+json, other
 * error codes (404 with 40401 or 40402 for a missing reference's subject or
 * version, 409 with error_code 0 for an incompatible schema), GET
 * /config/{subject} answering the global level for a subject without its own
 * (Confluent: 404), a "references" array in every answer, a new id for the
 * same schema with other whitespace.
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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"

#define CB_REGISTRY_BODY_MAX    (1024 * 1024) /* largest accepted response body */
#define CB_REGISTRY_CACHE_MAX   256           /* cached writer schemas */
#define CB_REGISTRY_SUBJECT_MAX 512           /* longest subject name */
#define CB_REGISTRY_REFS_MAX    32            /* schemas one writer schema references, in all */

typedef struct cb_registry cb_registry_t;

/* A client for url (NULL or "" = none: only preloaded schemas are known).
 * user/password may be NULL (no basic auth). Copies its arguments. Does no
 * network I/O. Caller frees with cb_registry_destroy(). */
cb_registry_t *cb_registry_new(const char *url, long timeout_ms, const char *user,
                               const char *password, cb_error_t *err);
void cb_registry_destroy(cb_registry_t *reg);

/* Client certificate and key (both or neither) and a CA bundle (pinned: the
 * system store is not used when set) for an https:// registry; NULL = unset.
 * Copies the paths; CB_ERR_CONFIG when a file cannot be read. */
int cb_registry_set_tls(cb_registry_t *reg, const char *cert, const char *key,
                        const char *ca_bundle, cb_error_t *err);

/* The writer schema with this id: from the cache, else fetched and cached.
 * A writer schema with references (named types registered under subjects of
 * their own) gets every referenced schema, transitively (at most
 * CB_REGISTRY_REFS_MAX), inlined where each type is first used; a reference
 * the registry does not have (404 with 40401/40402) is CB_ERR_NOTFOUND.
 * On success *out is a new reference the caller releases with
 * avro_schema_decref(). Without a URL, an unknown id is CB_ERR_CONFIG,
 * permanent: no registry will ever answer for this message, so it is a dead
 * letter, replayed once the operator configured schema_registry.url. */
int cb_registry_get_schema(cb_registry_t *reg, uint32_t id, avro_schema_t *out, cb_error_t *err);

/* Registers schema_json (len bytes) under subject; *id receives its id and
 * the schema is cached under it. CB_ERR_TRANSPORT (retriable) when the
 * registry cannot be reached; CB_ERR_CONFIG when it refuses the schema (409:
 * incompatible with the subject's versions, 422: invalid), the message naming
 * the subject and the registry's reason: the operator has to act. */
int cb_registry_register(cb_registry_t *reg, const char *subject, const char *schema_json,
                         size_t len, uint32_t *id, cb_error_t *err);

/* Gives subject the compatibility level `level` (NONE, BACKWARD, ...) when
 * it has none of its own: GET /config/{subject} answering 404, or answering
 * the same level as GET /config (a registry that reports the global level
 * for a subject without its own, as Apicurio does; a subject level set equal
 * to the global one is then replaced too). A subject with a level of its own
 * is left alone. *changed tells whether it set one. Errors: CB_ERR_TRANSPORT
 * (retriable) when the registry cannot be reached or fails; CB_ERR_CONFIG
 * when it refuses the level. */
int cb_registry_ensure_compatibility(cb_registry_t *reg, const char *subject, const char *level,
                                     bool *changed, cb_error_t *err);

/* Puts a schema into the cache under id without asking the registry (tests,
 * fuzzing, and schemas known in advance). */
int cb_registry_preload(cb_registry_t *reg, uint32_t id, const char *schema_json, size_t len,
                        cb_error_t *err);

/* Parses the body of GET /schemas/ids/{id}: {"schema": "<json>", ...}, where
 * a "schemaType" other than AVRO is refused. On success *schema_json is a
 * malloc'd copy of the schema text (caller frees). Exposed for fuzzing. */
int cb_registry_parse_schema_response(const char *body, size_t len, char **schema_json,
                                      cb_error_t *err);

/* Inlines referenced schemas into a writer schema: refs[0..nrefs) are the
 * texts of every schema it references, transitively, in any order. Each
 * named type of a reference (a record, enum or fixed, by its full name) is
 * put in place of the first use of its name in the writer schema, or in a
 * reference inlined before it; later uses keep the name. A reference no one
 * uses is left out. On success *out is the malloc'd result (caller frees).
 * CB_ERR_DECODE when a text is not a JSON schema or a reference has no name.
 * Exposed for unit tests and fuzzing. */
int cb_registry_inline_references(const char *schema_json, size_t len, const char *const *refs,
                                  size_t nrefs, char **out, cb_error_t *err);

#endif
