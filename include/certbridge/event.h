/*
 * event.h: the domain events certbridge consumes (docs/DOMAIN.md §2), as plain C.
 *
 * Every codec (JSON, plain Avro, Confluent-framed Avro) decodes into a
 * cb_event_t; Avro or JSON values never travel further than the codec. All
 * strings are NUL-terminated, valid UTF-8, NFC-normalized, heap-allocated and
 * owned by the event; an optional field that was null or absent is NULL.
 * cb_event_clear() frees everything the event owns.
 */
#ifndef CB_EVENT_H
#define CB_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"
#include "certbridge/vocab.h"

/* Input limits: anything larger is refused as invalid input (never a crash,
 * never unbounded memory). */
#define CB_EVENT_MAX_BYTES  (1024 * 1024) /* one serialized event */
#define CB_STRING_MAX_BYTES 1024          /* one string field, in bytes */
#define CB_MERGED_ORGS_MAX  256           /* merged_orgs entries */
#define CB_ORG_CODE_MAX     35            /* electronic identification code */
#define CB_NATIONAL_ID_LEN  12            /* CCCD digits */
/* Dates certbridge accepts, as days from 1970-01-01: 0001-01-01 to
 * 9999-12-31 (what RFC 3339 and ISO 8601 basic dates can write). */
#define CB_DATE_MIN_DAYS (-719162)
#define CB_DATE_MAX_DAYS 2932896

typedef struct cb_org {
    char *code;        /* required: [0-9A-Z.]{1,35}, dot-separated groups */
    char *name;        /* required */
    char *parent_code; /* optional */
    char *parent_name; /* optional */
    char *province;    /* required */
    char *address;     /* optional */
} cb_org_t;

typedef struct cb_person {
    char *person_id;   /* required: the HR system's id */
    char *national_id; /* required: 12 digits */
    char *full_name;   /* required */
    char *email;       /* optional */
    char *title;       /* optional */
    bool is_leader;    /* default false */
} cb_person_t;

typedef struct cb_event {
    cb_event_kind_t kind;
    int type; /* cb_org_event_type_t or cb_person_event_type_t, by kind */

    char *event_id;         /* required, unique per business event */
    int64_t occurred_at_ms; /* timestamp-millis */
    int32_t effective_date; /* days since 1970-01-01 */
    char *source_system;    /* required */

    cb_org_t org; /* org events: the org (MERGED: the resulting one);
                   * person events: the person's org after the event */

    /* OrgEvent only */
    cb_org_t *merged_orgs; /* array of merged_count, NULL when empty */
    size_t merged_count;
    bool result_is_new;        /* default false */
    char *certificate_carrier; /* optional org code */

    /* PersonEvent only */
    cb_person_t person;
    cb_org_t *previous_org; /* optional: NULL or one heap cb_org_t */
    cb_departure_reason_t departure_reason;
} cb_event_t;

/* Sets every field to its empty/default value (NULLs, false,
 * CB_DEPARTURE_NONE). Call before filling an event. */
void cb_event_init(cb_event_t *ev);

/* Frees everything ev owns and re-initializes it. Safe on an initialized or
 * cleared event. */
void cb_event_clear(cb_event_t *ev);

/* Frees what org owns and zeroes it. */
void cb_org_clear(cb_org_t *org);

/* Checks the semantic rules a decoded event must satisfy: required fields
 * present, org codes match [0-9A-Z.]{1,35} in dot-separated groups, national
 * id is 12 digits, MERGED has merged_orgs, certificate_carrier (when set) is
 * one of merged_orgs, departure_reason only on DEPARTED, a CANCELLED event
 * names another event in org.address, string lengths within
 * CB_STRING_MAX_BYTES. On failure returns -1 with CB_ERR_INVALID and a message
 * that starts with the field path, e.g. "org.code: ...". */
int cb_event_validate(const cb_event_t *ev, cb_error_t *err);

/* Field-level checks, shared by the codecs. Return true when valid. */
bool cb_org_code_valid(const char *code);
bool cb_national_id_valid(const char *id);

/* A CANCELLED event (either kind) names the event whose actions it cancels
 * in org.address: the schemas gained no field, so that the events earlier
 * releases keep in the state topic (plain Avro, no schema id) still decode
 * (docs/ARCHITECTURE.md §5, "Cancellation"). cb_event_validate requires it,
 * different from the event's own id. */
bool cb_event_is_cancellation(const cb_event_t *ev);
/* The event_id a CANCELLED event cancels (borrowed), or NULL for any other
 * event. */
const char *cb_event_cancels(const cb_event_t *ev);

/* The symbol of ev's type ("MERGED", "TRANSFERRED"; vocab.h). */
const char *cb_event_type_name(const cb_event_t *ev);

/* "YYYY-MM-DD" at s (its first 10 characters) to days since 1970-01-01;
 * -1 when it is not a valid date. */
int cb_time_parse_date(const char *s, int64_t *days);
/* An RFC 3339 date-time ("2025-07-01T08:00:00.123+07:00", 'T' or ' '
 * between date and time, 'Z' or an offset), NUL-terminated, to epoch
 * milliseconds (fractions beyond milliseconds truncated); -1 when invalid. */
int cb_time_parse_rfc3339(const char *s, int64_t *ms);

#endif
