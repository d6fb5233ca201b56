/*
 * vocab.h: the domain's vocabulary (docs/DOMAIN.md §2, §3): the kinds and
 * types of events, the certificate actions, holder types, revocation reasons
 * and outcome statuses, with their symbols exactly as in the Avro schemas.
 *
 * Enums only and their names: no behaviour. Every layer above may use them;
 * this header includes nothing of certbridge's.
 */
#ifndef CB_VOCAB_H
#define CB_VOCAB_H

typedef enum cb_event_kind { CB_EVENT_ORG = 0, CB_EVENT_PERSON = 1 } cb_event_kind_t;

/* Enum values follow the order of the symbols in the schemas. */
typedef enum cb_org_event_type {
    CB_ORG_MERGED = 0,
    CB_ORG_RENAMED,
    CB_ORG_PARENT_CHANGED,
    CB_ORG_INFO_CHANGED,
    CB_ORG_DISSOLVED,
    /* appended (as every later symbol): cancels an earlier event's actions
     * not yet sent to the CA (docs/DOMAIN.md §4, "Cancellation") */
    CB_ORG_CANCELLED,
    CB_ORG_EVENT_TYPE_COUNT
} cb_org_event_type_t;

typedef enum cb_person_event_type {
    CB_PERSON_TRANSFERRED = 0,
    CB_PERSON_POSITION_CHANGED,
    CB_PERSON_INFO_CHANGED,
    CB_PERSON_DEPARTED,
    CB_PERSON_JOINED,
    CB_PERSON_CERTIFICATE_NOT_NEEDED,
    CB_PERSON_CANCELLED, /* appended, as CB_ORG_CANCELLED */
    CB_PERSON_EVENT_TYPE_COUNT
} cb_person_event_type_t;

/* departure_reason; CB_DEPARTURE_NONE stands for null. */
typedef enum cb_departure_reason {
    CB_DEPARTURE_NONE = -1,
    CB_DEPARTURE_RETIRED = 0,
    CB_DEPARTURE_RESIGNED,
    CB_DEPARTURE_DECEASED,
    CB_DEPARTURE_DISMISSED,
    CB_DEPARTURE_OTHER,
    CB_DEPARTURE_REASON_COUNT
} cb_departure_reason_t;

/* The certificate actions (docs/DOMAIN.md §3). */
typedef enum cb_action {
    CB_ACTION_CHANGE_INFO = 0,
    CB_ACTION_REVOKE,
    CB_ACTION_RETAIN,
    CB_ACTION_RECALL_DEVICE,
    CB_ACTION_ISSUE,
    CB_ACTION_REVIEW,
    CB_ACTION_COUNT
} cb_action_t;

typedef enum cb_holder_type {
    CB_HOLDER_ORGANIZATION = 0,
    CB_HOLDER_PERSON,
    CB_HOLDER_TYPE_COUNT
} cb_holder_type_t;

/* RFC 5280 CRLReason codes used here; CB_REASON_NONE = no revocation. */
typedef enum cb_revocation_reason {
    CB_REASON_NONE = -1,
    CB_REASON_AFFILIATION_CHANGED = 3,
    CB_REASON_SUPERSEDED = 4,
    CB_REASON_CESSATION_OF_OPERATION = 5
} cb_revocation_reason_t;

/* What became of one action (the outcome's status). */
typedef enum cb_outcome_status {
    CB_STATUS_SUCCEEDED = 0,
    CB_STATUS_ALREADY_DONE,
    CB_STATUS_PENDING,
    CB_STATUS_REJECTED,
    CB_STATUS_FAILED,
    CB_STATUS_SKIPPED,
    CB_STATUS_NEEDS_REVIEW,
    /* appended: symbols keep their index, so outcomes written before it
     * still decode (docs/ARCHITECTURE.md §5, "Effective dates") */
    CB_STATUS_SCHEDULED,
    /* appended: a cancellation stopped the action before it was sent to
     * the CA (docs/ARCHITECTURE.md §5, "Cancellation"); final */
    CB_STATUS_CANCELLED,
    /* appended: the action waits for its managing agency's signed approval
     * (docs/ARCHITECTURE.md §5, "The approval gate"); final false */
    CB_STATUS_AWAITING_APPROVAL,
    CB_STATUS_COUNT
} cb_outcome_status_t;

/* Symbol names, exactly as in the Avro schemas ("MERGED", "CHANGE_INFO",
 * "cessationOfOperation", ...). NULL for a value out of range. */
const char *cb_org_event_type_name(cb_org_event_type_t t);
const char *cb_person_event_type_name(cb_person_event_type_t t);
const char *cb_departure_reason_name(cb_departure_reason_t r);
const char *cb_action_name(cb_action_t a);
const char *cb_holder_type_name(cb_holder_type_t t);
const char *cb_revocation_reason_name(cb_revocation_reason_t r);
const char *cb_outcome_status_name(cb_outcome_status_t s);

/* The index of s among names[0..n), or -1 (also for NULL): the parser of
 * every enum symbol table. */
int cb_symbol_parse(const char *s, const char *const *names, int n);

/* Symbol lookup: the value, or -1 when the symbol is unknown. */
int cb_org_event_type_parse(const char *s);
int cb_person_event_type_parse(const char *s);
int cb_departure_reason_parse(const char *s);
int cb_action_parse(const char *s);
int cb_holder_type_parse(const char *s);
int cb_outcome_status_parse(const char *s);

#endif
