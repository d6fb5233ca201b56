/*
 * rules.h: the reorganization rules (DOMAIN.md, DESIGN.md §3). Pure: one
 * event in, an ordered list of holder-level intents out; no I/O.
 *
 * Resolution (resolve.c) later asks the CA for each intent's holder's active
 * certificates and expands the intent into one action per certificate.
 */
#ifndef CB_RULES_H
#define CB_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "certbridge/config.h"
#include "certbridge/error.h"
#include "certbridge/event.h"

/* Symbols as in DESIGN.md §4 (cb_action_name etc. give the text). */
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

typedef struct cb_policy {
    bool issue_new_allow;        /* policy.issue_new=allow */
    bool position_change_revoke; /* policy.position_change=revoke */
    bool cascade_personal;       /* policy.cascade_personal */
} cb_policy_t;

/* One holder-level intent. All strings owned by the intent (freed by
 * cb_intent_list_clear), UTF-8 NFC. */
typedef struct cb_intent {
    cb_action_t action;
    cb_holder_type_t holder_type;
    char *holder_id;               /* org code or person_id; NULL for a cascade intent */
    char *holder_name;             /* org name or person's full name */
    cb_revocation_reason_t reason; /* REVOKE only, else CB_REASON_NONE */
    char *new_subject;             /* CHANGE_INFO/ISSUE: RFC 4514 DN string (subject.h) */
    bool emergency_signing_allowed;
    const char *note; /* static text, Vietnamese then English; never NULL */
    /* Cascade (policy.cascade_personal): a CHANGE_INFO on every PERSON
     * certificate whose subject names the organization with this code; the
     * new subject is the person's current one with the organization parts
     * replaced from cascade_org (subject.h cb_subject_replace_org). */
    char *cascade_org_code; /* NULL unless a cascade intent */
    cb_org_t *cascade_org;  /* NULL unless a cascade intent; owned */
} cb_intent_t;

typedef struct cb_intent_list {
    cb_intent_t *items;
    size_t count;
} cb_intent_list_t;

/* Reads policy.* keys. Returns 0, or -1 with CB_ERR_CONFIG naming the key. */
int cb_policy_from_config(const cb_config_t *cfg, cb_policy_t *policy, cb_error_t *err);

/* Most actions one event may plan. A merger plans two per merged
 * organization (revoke, recall), three with policy.cascade_personal, so 171
 * to 256 merged organizations fit; one event cannot make certbridge touch a
 * whole province. */
#define CB_EVENT_ACTIONS_MAX 512

/* Plans ev under policy into out (which must be empty: {NULL, 0}). The order
 * is deterministic: the same event and policy always give the same list.
 * More than CB_EVENT_ACTIONS_MAX actions is CB_ERR_LIMIT (a dead letter).
 * ev must have passed cb_event_validate(). Caller frees out with
 * cb_intent_list_clear(). */
int cb_rules_plan(const cb_event_t *ev, const cb_policy_t *policy, cb_intent_list_t *out,
                  cb_error_t *err);

void cb_intent_list_clear(cb_intent_list_t *list);

/* The idempotency key of one CA action: lower-case hex SHA-256 (64 chars +
 * NUL) over event_id, action, holder type, holder id and certificate serial
 * (serial may be NULL before resolution), each length-prefixed so that no
 * two different tuples hash alike. Should OpenSSL fail (out of memory), out
 * is the empty string: treat that as a failed call, never send it. */
void cb_idempotency_key(const char *event_id, cb_action_t action, cb_holder_type_t holder_type,
                        const char *holder_id, const char *serial, char out[65]);

/* The idempotency key of a certificate lookup, so a replayed batch gets the
 * same snapshot back: lower-case hex SHA-256 over "lookup", event_id and
 * holder_key, each with its terminating NUL. out is the empty string should
 * OpenSSL fail (the lookup then goes without a key). */
void cb_lookup_key(const char *event_id, const char *holder_key, char out[65]);

const char *cb_action_name(cb_action_t a);                       /* "CHANGE_INFO" */
const char *cb_holder_type_name(cb_holder_type_t t);             /* "ORGANIZATION" */
const char *cb_revocation_reason_name(cb_revocation_reason_t r); /* "cessationOfOperation" */
int cb_action_parse(const char *s);                              /* -1 when unknown */
int cb_holder_type_parse(const char *s);

#endif
