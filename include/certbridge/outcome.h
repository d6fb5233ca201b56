/*
 * outcome.h: the outcome event, one per certificate action (docs/DOMAIN.md
 * §5), as a plain C struct. schemas/CertificateActionOutcome.avsc is its wire
 * form.
 *
 * Every string of an outcome is bounded, so that any outcome can be encoded
 * and produced (docs/ARCHITECTURE.md §7): one that could not would make its
 * batch abort and replay for ever, since a replay meets the same data.
 *   from the event (validated to CB_STRING_MAX_BYTES, event.h): outcome_id
 *     (event_id + "/" + index), source_event_id, holder_id, holder_name;
 *   from certbridge itself: source_event_type (a vocab.h symbol), note (a
 *     rules constant), source_topic (configuration; Kafka caps topic names
 *     at 249 bytes);
 *   from the CA, cut to CB_OUTSIDE_TEXT_MAX by the executor: error_code,
 *     error_message, ca_request_id, new_certificate_serial, and from its
 *     lookups certificate_serial, device_id and a cascade's holder_id.
 */
#ifndef CB_OUTCOME_H
#define CB_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "certbridge/vocab.h"

/* The most bytes of one outcome string that comes from the CA. Longer text
 * is cut at a code point boundary and says so (cb_text_cut_utf8), e.g.
 * "...\u2026 [cut to 2017 of 204800 bytes]". 2 KiB holds any diagnosis meant
 * for a person (some 680 Vietnamese letters) and any identifier; with the
 * event's strings it keeps an outcome under 20 KiB, far below the encoder's
 * 64 KiB per string and Kafka's default 1 MiB per message. A lookup
 * certificate whose serial, device id or holder id is longer cannot be named
 * in an outcome: its actions fail without a call. */
#define CB_OUTSIDE_TEXT_MAX 2048

/* Strings are owned by the outcome (cb_outcome_clear frees them); NULL is an
 * Avro null. */
typedef struct cb_outcome {
    char *outcome_id; /* event_id + "/" + action_index */
    char *source_event_id;
    char *source_event_type;
    char *source_topic;
    int32_t source_partition;
    int64_t source_offset;
    int32_t action_index;
    int32_t action_count;
    cb_action_t action;
    cb_holder_type_t holder_type;
    char *holder_id;
    char *holder_name;
    char *certificate_serial;
    char *new_certificate_serial;
    cb_revocation_reason_t revocation_reason; /* CB_REASON_NONE = null */
    char *device_id;
    cb_outcome_status_t status;
    char *ca_request_id;
    int32_t http_status; /* 0 = null (no CA call) */
    char *error_code;
    char *error_message;
    int32_t attempts;
    int64_t latency_ms;
    int64_t processed_at_ms; /* timestamp-millis */
    bool emergency_signing_allowed;
    char *note;
    bool final; /* false on a PENDING record a later one supersedes (same outcome_id) */
    /* the approval gate (docs/ARCHITECTURE.md §5, "The approval gate"); NULL
     * when the action needs no approval. Agency code and name come from the
     * event (bounded as holder_name), the request id is built from the code,
     * document_number and approver from a verified approval (bounded by
     * approval.h's caps). */
    char *approval_request_id;  /* "<managing_agency_code>-<YYYYMMDD>" */
    char *managing_agency_code; /* docs/DOMAIN.md, "The managing agency" */
    char *managing_agency_name;
    char *document_number; /* "1234/UBND-KGVX ngày 01/7/2025" as printed */
    char *approver;        /* "name, title" */
} cb_outcome_t;

/* Empties o: NULL strings, zero numbers, no revocation reason, final. */
void cb_outcome_init(cb_outcome_t *o);
void cb_outcome_clear(cb_outcome_t *o);

#endif
