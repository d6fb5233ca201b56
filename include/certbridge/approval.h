/*
 * approval.h: an approval of the managing agency (schemas/Approval.avsc,
 * schemas/approval.schema.json), decoded from JSON or plain Avro, and its
 * canonical bytes, which the approver's detached CMS signature covers
 * (docs/ARCHITECTURE.md §2, "Approval signatures"). Checking the signature
 * is approval_verify.h's job, a layer up.
 *
 * Every string is checked as UTF-8 and stored in NFC, at most
 * CB_STRING_MAX_BYTES bytes; the canonical bytes are computed from the
 * decoded values, so a JSON and an Avro approval with the same values have
 * the same canonical bytes. Decoders are pure and reentrant.
 */
#ifndef CB_APPROVAL_H
#define CB_APPROVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"

#define CB_APPROVAL_MAX_BYTES     (256 * 1024) /* one serialized approval */
#define CB_APPROVAL_SIGNATURE_MAX (64 * 1024)  /* the DER CMS signature */
#define CB_APPROVAL_ACTIONS_MAX   256          /* ids in action_ids */
/* The printed document reference: number, " ngày ", dd/m/yyyy. */
#define CB_APPROVAL_DOCUMENT_TEXT_MAX (1024 + 32)

typedef enum cb_approval_decision {
    CB_APPROVAL_APPROVED = 0,
    CB_APPROVAL_REJECTED
} cb_approval_decision_t;

/* A decoded approval. Every pointer is owned by the struct (cb_approval_clear
 * frees them); NULL means absent (null on the wire). */
typedef struct cb_approval {
    char *request_id;
    cb_approval_decision_t decision;
    char *approver_name;
    char *approver_title;
    char *approver_id; /* optional: the UID of the signing certificate */
    char *document_number;
    int32_t document_date;    /* days since 1970-01-01 */
    char *reason;             /* optional; required (non-empty) for REJECTED */
    char **action_ids;        /* NULL = every action of the request */
    size_t n_action_ids;      /* 1..CB_APPROVAL_ACTIONS_MAX when action_ids is set */
    int64_t signed_at_ms;     /* epoch milliseconds, 0..2^53-1 */
    unsigned char *signature; /* DER CMS SignedData; NULL = unsigned */
    size_t signature_len;
} cb_approval_t;

/* The wire formats of the approval topic. AUTO: '{' is JSON, anything else
 * plain Avro with schemas/Approval.avsc. */
typedef enum cb_approval_format {
    CB_APPROVAL_FORMAT_AUTO = 0,
    CB_APPROVAL_FORMAT_JSON,
    CB_APPROVAL_FORMAT_AVRO
} cb_approval_format_t;

void cb_approval_init(cb_approval_t *a);
/* Frees what a owns and initializes it again. Safe on NULL. */
void cb_approval_clear(cb_approval_t *a);

/* "APPROVED" / "REJECTED"; "?" outside the enum. */
const char *cb_approval_decision_name(cb_approval_decision_t d);

/* Decodes one approval of len bytes (at most CB_APPROVAL_MAX_BYTES) into out
 * (initialized by the callee; cleared on failure), then validates it
 * (cb_approval_validate). Errors are permanent and name the field first:
 *   CB_ERR_DECODE  empty input, not JSON, truncated or malformed Avro, bad
 *                  base64 in signature
 *   CB_ERR_LIMIT   over CB_APPROVAL_MAX_BYTES, a string over
 *                  CB_STRING_MAX_BYTES, a signature over
 *                  CB_APPROVAL_SIGNATURE_MAX, more than
 *                  CB_APPROVAL_ACTIONS_MAX action ids
 *   CB_ERR_INVALID a missing or mistyped field, an unknown JSON member (it
 *                  would not be covered by the signature), invalid UTF-8, an
 *                  unknown decision, a validation rule
 * JSON: the members of schemas/approval.schema.json; document_date is
 * "YYYY-MM-DD", signed_at integer epoch milliseconds, signature base64
 * (RFC 4648 with padding). Avro: the binary encoding of
 * schemas/Approval.avsc (the binary embeds it). */
int cb_approval_decode(const void *buf, size_t len, cb_approval_format_t format, cb_approval_t *out,
                       cb_error_t *err);

/* The rules a decoded approval satisfies: request_id, approver_name,
 * approver_title and document_number non-empty; REJECTED has a non-empty
 * reason; action_ids, when set, 1..CB_APPROVAL_ACTIONS_MAX non-empty ids
 * without duplicates; signed_at within 0..2^53-1; document_date within
 * years 1900..9999. CB_ERR_INVALID naming the field. */
int cb_approval_validate(const cb_approval_t *a, cb_error_t *err);

/* The canonical bytes the signature covers: the RFC 8785 (JCS) JSON of every
 * field but signature, nulls included, members sorted by name, no white
 * space, strings as stored (NFC) with only '"', '\\' and control characters
 * escaped (\b \t \n \f \r, others \u00xx), document_date "YYYY-MM-DD",
 * signed_at an integer. *out (NUL-terminated, caller frees) and *len.
 * CB_ERR_NOMEM only. */
int cb_approval_canonical(const cb_approval_t *a, char **out, size_t *len, cb_error_t *err);

/* The JSON form of a (schemas/approval.schema.json): the canonical members
 * plus "signature" (base64, or null when unsigned), in the same form. For the
 * signing tool and tests. *out (NUL-terminated, caller frees), *len. */
int cb_approval_encode_json(const cb_approval_t *a, char **out, size_t *len, cb_error_t *err);

/* The document reference as printed in Vietnamese administrative documents
 * (Decree 30/2020/ND-CP: a day below 10 and the months 1 and 2 take a
 * leading zero), e.g. "1234/UBND-KGVX ngày 01/7/2025", into buf (cut to
 * size). Returns buf. */
char *cb_approval_document_text(const cb_approval_t *a, char *buf, size_t size);

/* The date of days since 1970-01-01 as "YYYY-MM-DD" into buf[11]. */
void cb_approval_date_format(int32_t days, char buf[11]);

#endif
