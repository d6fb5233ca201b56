/*
 * rules.h: the reorganization rules (docs/DOMAIN.md §3). Pure: one
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
#include "certbridge/vocab.h"

typedef struct cb_policy {
    bool issue_new_allow;        /* policy.issue_new=allow */
    bool position_change_revoke; /* policy.position_change=revoke */
    bool cascade_personal;       /* policy.cascade_personal */
} cb_policy_t;

/* The approval an intent ran with (gate.h): set by the pipeline on an
 * approved intent, copied into each of its outcomes, and its document
 * number into the CA call. Strings owned (NULL when absent). */
typedef struct cb_intent_approval {
    char *request_id;
    char *agency_code;
    char *agency_name;
    char *document_number;
    char *approver;
} cb_intent_approval_t;

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
    char *cascade_org_code;         /* NULL unless a cascade intent */
    cb_org_t *cascade_org;          /* NULL unless a cascade intent; owned */
    cb_intent_approval_t *approval; /* NULL unless approved through the gate; owned */
} cb_intent_t;

/* Frees what one intent owns (not the intent itself) and zeroes it. */
void cb_intent_clear(cb_intent_t *it);

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

#endif
