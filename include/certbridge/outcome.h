/*
 * outcome.h: the outcome event, one per certificate action (DESIGN.md §4),
 * as a plain C struct. schemas/CertificateActionOutcome.avsc is its wire form.
 */
#ifndef CB_OUTCOME_H
#define CB_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "certbridge/vocab.h"

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
} cb_outcome_t;

void cb_outcome_init(cb_outcome_t *o);
void cb_outcome_clear(cb_outcome_t *o);

#endif
