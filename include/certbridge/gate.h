/*
 * gate.h: the approval gate (docs/DOMAIN.md §4, "Approval";
 * docs/ARCHITECTURE.md §5, "The approval gate"): which actions wait for the
 * managing agency's signed approval, which agency that is, the approval
 * request they are gathered into, and the outcomes published meanwhile.
 *
 * Under policy.approval=revoke every REVOKE intent needs an approval; under
 * all every intent that calls the CA (CHANGE_INFO, REVOKE, RECALL_DEVICE,
 * ISSUE); RETAIN and REVIEW never do. The managing agency of an event is
 * the one table of docs/DOMAIN.md ("The managing agency"): for an
 * organization event the superior agency (org.parent_code/parent_name; an
 * organization without one is its own), for a person event the
 * organization the person belongs to (org.code/name).
 *
 * An event that needs approval waits as a whole (its holders' later events
 * behind it); the request it joins is "<agency code>-<YYYYMMDD>", the day
 * (policy.timezone) it started waiting. Each intent i that needs approval
 * is one action of the request, named by the outcome id
 * "<event_id>/approval/<i>" (the action id an approval's action_ids lists).
 * Its outcomes under that id:
 *   AWAITING_APPROVAL, final false    the request was opened
 *   AWAITING_APPROVAL, final true     approved: the event ran, the
 *                                     actions' own outcomes are
 *                                     <event_id>/0.. (document_number and
 *                                     approver on both)
 *   REJECTED, final true              rejected, the approver's reason in
 *                                     error_message
 *   CANCELLED, final true             a CANCELLED event stopped it
 *
 * Pure; thread-safe.
 */
#ifndef CB_GATE_H
#define CB_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/config.h"
#include "certbridge/error.h"
#include "certbridge/event.h"
#include "certbridge/outcome.h"
#include "certbridge/rules.h"    /* cb_intent_t */
#include "certbridge/schedule.h" /* cb_schedule_src_t */

/* policy.approval. */
typedef enum cb_gate_mode {
    CB_GATE_NONE = 0,
    CB_GATE_REVOKE, /* the default */
    CB_GATE_ALL
} cb_gate_mode_t;

/* "<agency code>-<YYYYMMDD>": the code (at most CB_ORG_CODE_MAX bytes),
 * '-', 8 digits, NUL. */
#define CB_GATE_REQUEST_ID_MAX (CB_ORG_CODE_MAX + 10)

/* Reads policy.approval. -1 with CB_ERR_CONFIG naming the key. */
int cb_gate_mode_from_config(const cb_config_t *cfg, cb_gate_mode_t *out, cb_error_t *err);

/* Whether intent in needs an approval under mode. */
bool cb_gate_needs(cb_gate_mode_t mode, const cb_intent_t *in);

/* How many intents of list need an approval under mode. */
size_t cb_gate_count(cb_gate_mode_t mode, const cb_intent_list_t *list);

/* The managing agency of ev (borrowed from ev; name may be NULL when the
 * event does not carry the parent's name). */
void cb_gate_agency(const cb_event_t *ev, const char **code, const char **name);

/* The request id of agency `code` for an action that started waiting at
 * epoch ms at_ms, its day taken in the zone tz_offset_min minutes east of
 * UTC, into buf[CB_GATE_REQUEST_ID_MAX]. Returns buf. */
char *cb_gate_request_id(const char *code, int64_t at_ms, int tz_offset_min,
                         char buf[CB_GATE_REQUEST_ID_MAX]);

/* The action id of intent i of event_id: "<event_id>/approval/<i>"
 * (malloc'd; NULL when memory ran out). */
char *cb_gate_action_id(const char *event_id, size_t i);

/* Which outcome of a gated action cb_gate_outcome makes. */
typedef enum cb_gate_kind {
    CB_GATE_AWAITING = 0, /* AWAITING_APPROVAL, final false */
    CB_GATE_APPROVED,     /* AWAITING_APPROVAL, final true: approved, the event ran */
    CB_GATE_REJECTED,     /* REJECTED, final true */
    CB_GATE_CANCELLED     /* CANCELLED, final true */
} cb_gate_kind_t;

/* The request an action waits in, and the decision that ended the wait
 * (document_number, approver, reason NULL when not decided). Borrowed. */
typedef struct cb_gate_ref {
    const char *request_id;
    const char *agency_code;
    const char *agency_name;
    const char *document_number; /* as printed: "1234/UBND-KGVX ngày 01/7/2025" */
    const char *approver;        /* "name, title" */
    const char *reason;          /* REJECTED: the approver's reason */
} cb_gate_ref_t;

/* The outcome of kind for intent i of ev into o (initialized here), stamped
 * processed_at = wall_ms. -1 when memory ran out (err; o cleared). */
int cb_gate_outcome(const cb_event_t *ev, const cb_intent_list_t *intents, size_t i,
                    const cb_schedule_src_t *src, const cb_gate_ref_t *ref, cb_gate_kind_t kind,
                    int64_t wall_ms, cb_outcome_t *o, cb_error_t *err);

#endif
