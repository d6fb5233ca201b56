/*
 * codec.h: wire formats of events and outcomes (DESIGN.md §2, §4).
 *
 * Input events are Confluent-framed Avro (magic 0, 4-byte big-endian schema
 * id, Avro body; writer schema fetched from the Schema Registry and cached per
 * id), plain Avro binary written with certbridge's own schema, or JSON. All
 * decode into cb_event_t (event.h): strings NFC, cb_event_validate() passed.
 * Outcomes are encoded Confluent-framed (schema registered under
 * "<topic>-value") when schema_registry.url is set, else plain Avro.
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
 * I/O. Caller frees with cb_codec_destroy(). Not thread-safe: one per thread. */
cb_codec_t *cb_codec_new(const cb_config_t *cfg, cb_error_t *err);
void cb_codec_destroy(cb_codec_t *codec);

/* Decodes one Kafka message value into out (initialized by the callee).
 * expected is the kind of the topic it came from. Errors:
 *   CB_ERR_DECODE / CB_ERR_INVALID / CB_ERR_LIMIT (permanent): the message is
 *     bad; the message names the field path and the reason -> dead letter.
 *   CB_ERR_TRANSPORT (retriable): the Schema Registry could not be reached;
 *     the message is not known to be bad -> retry later, never dead-letter. */
int cb_codec_decode_event(cb_codec_t *codec, cb_event_kind_t expected, cb_format_t format,
                          const void *buf, size_t len, cb_event_t *out, cb_error_t *err);

/* Encodes an event in a given format (Avro with certbridge's schema, or
 * Confluent framing after registering the event schema). For producers in
 * tests, the demo and benchmarks. *buf is malloc'd; caller frees. */
int cb_codec_encode_event(cb_codec_t *codec, cb_format_t format, const cb_event_t *ev, void **buf,
                          size_t *len, cb_error_t *err);

/* Registers the outcome schema under "<topic>-value" when a registry is
 * configured (call once at start; retriable on CB_ERR_TRANSPORT). No-op
 * without a registry. */
int cb_codec_prepare_outcomes(cb_codec_t *codec, const char *topic, cb_error_t *err);

/* Encodes an outcome; *buf is malloc'd, caller frees. */
int cb_codec_encode_outcome(cb_codec_t *codec, const cb_outcome_t *o, void **buf, size_t *len,
                            cb_error_t *err);

/* The codec's Schema Registry client (never NULL), e.g. to preload writer
 * schemas with cb_registry_preload() in tests and fuzz targets. */
struct cb_registry *cb_codec_registry(cb_codec_t *codec);

/* Decodes an outcome written by cb_codec_encode_outcome (either framing);
 * for `certbridge report` and tests. */
int cb_codec_decode_outcome(cb_codec_t *codec, const void *buf, size_t len, cb_outcome_t *out,
                            cb_error_t *err);

#endif
