/*
 * codec.h: wire formats of events and outcomes (docs/ARCHITECTURE.md §2).
 *
 * Input events are Confluent-framed Avro (magic 0, 4-byte big-endian schema
 * id, Avro body; writer schema fetched from the Schema Registry and cached per
 * id), plain Avro binary written with certbridge's own schema, or JSON. All
 * decode into cb_event_t (event.h): strings NFC, cb_event_validate() passed.
 * Outcomes are encoded Confluent-framed when schema_registry.url is set, else
 * plain Avro. The schema is registered under the subject that
 * schema_registry.subject_name_strategy names (TopicNameStrategy
 * "<topic>-value", RecordNameStrategy "<record full name>",
 * TopicRecordNameStrategy "<topic>-<record full name>"), after the subject
 * was given schema_registry.compatibility when it had no level of its own; a
 * registry refusing the schema (incompatible) is CB_ERR_CONFIG naming the
 * subject and the registry's reason.
 *
 * Threads: a codec is not thread-safe (it owns a Schema Registry client and
 * its cache): one codec per thread. An outcome encoder made from it is
 * immutable and may be shared (see cb_outcome_encoder_new).
 */
#ifndef CB_CODEC_H
#define CB_CODEC_H

#include <stddef.h>

#include "certbridge/config.h"
#include "certbridge/error.h"
#include "certbridge/event.h"
#include "certbridge/outcome.h"

typedef enum cb_format {
    CB_FORMAT_AUTO = 0,
    CB_FORMAT_CONFLUENT,
    CB_FORMAT_AVRO,
    CB_FORMAT_JSON
} cb_format_t;

/* Parses "auto|confluent|avro|json"; -1 when unknown. */
int cb_format_parse(const char *s);

typedef struct cb_codec cb_codec_t;

/* A codec for the given configuration (schema_registry.*). Does no network
 * I/O. Caller frees with cb_codec_destroy(). Not thread-safe: one per thread.
 * The password file is read with cb_secret_read_file (secret.h). */
cb_codec_t *cb_codec_new(const cb_config_t *cfg, cb_error_t *err);
void cb_codec_destroy(cb_codec_t *codec);

/* Decodes one Kafka message value into out (initialized by the callee).
 * expected is the kind of the topic it came from. Errors:
 *   CB_ERR_DECODE / CB_ERR_INVALID / CB_ERR_LIMIT (permanent): the message is
 *     bad; the message names the field path and the reason -> dead letter.
 *   CB_ERR_CONFIG / CB_ERR_NOTFOUND (permanent, operator-fixable): a
 *     Confluent-framed value (in auto format: one that starts with a zero
 *     byte) with no schema_registry.url configured, or a schema id the
 *     registry does not know (404, error_code 40403) -> dead letter, which
 *     the operator replays once the registry or the schema is there.
 *   CB_ERR_TRANSPORT (retriable): the Schema Registry could not be reached
 *     or refused certbridge (schema_registry.h); the message is not known to
 *     be bad -> the pipeline holds it and retries, never dead-letters it.
 * docs/ARCHITECTURE.md §6 lists every per-message failure and its class. */
int cb_codec_decode_event(cb_codec_t *codec, cb_event_kind_t expected, cb_format_t format,
                          const void *buf, size_t len, cb_event_t *out, cb_error_t *err);

/* Encodes an event in a given format (Avro with certbridge's schema, or
 * Confluent framing after registering the event schema). For producers in
 * tests, the demo and benchmarks. *buf is malloc'd; caller frees. */
int cb_codec_encode_event(cb_codec_t *codec, cb_format_t format, const cb_event_t *ev, void **buf,
                          size_t *len, cb_error_t *err);

/* Encodes an outcome with the codec (registering the outcome schema under
 * output.outcome_topic's subject on first use when a registry is
 * configured); *buf is malloc'd, caller frees. For single-threaded callers
 * (tests, fuzz targets); the pipeline uses an outcome encoder. */
int cb_codec_encode_outcome(cb_codec_t *codec, const cb_outcome_t *o, void **buf, size_t *len,
                            cb_error_t *err);

/* An outcome encoder: what encoding an outcome needs (the framing, and the
 * schema id once registered), frozen, so that a thread other than the
 * codec's can encode outcomes without touching the codec.
 *
 * cb_outcome_encoder_new runs on the thread that owns codec: when a registry
 * is configured it registers the outcome schema under topic's subject (topic
 * NULL = output.outcome_topic) through the codec's registry client, which is
 * network I/O (CB_ERR_TRANSPORT, retriable, when the registry cannot be
 * reached; CB_ERR_CONFIG when it refuses the schema); without one it does no I/O and outcomes are
 * plain Avro. The encoder is then immutable and independent of the codec (it may outlive it):
 * cb_outcome_encoder_encode only reads it, so any number of threads may use one encoder at once.
 * Caller frees with cb_outcome_encoder_destroy. */
typedef struct cb_outcome_encoder cb_outcome_encoder_t;
cb_outcome_encoder_t *cb_outcome_encoder_new(cb_codec_t *codec, const char *topic, cb_error_t *err);
void cb_outcome_encoder_destroy(cb_outcome_encoder_t *enc);

/* Encodes an outcome, byte for byte as cb_codec_encode_outcome; *buf is
 * malloc'd, caller frees. Permanent errors only (a missing or out-of-range
 * field, CB_ERR_LIMIT for an oversized string). */
int cb_outcome_encoder_encode(const cb_outcome_encoder_t *enc, const cb_outcome_t *o, void **buf,
                              size_t *len, cb_error_t *err);

/* The codec's Schema Registry client (never NULL), e.g. to preload writer
 * schemas with cb_registry_preload() in tests and fuzz targets. */
struct cb_registry *cb_codec_registry(cb_codec_t *codec);

/* Decodes an outcome written by cb_codec_encode_outcome (either framing);
 * for `certbridge report` and tests. */
int cb_codec_decode_outcome(cb_codec_t *codec, const void *buf, size_t len, cb_outcome_t *out,
                            cb_error_t *err);

#endif
