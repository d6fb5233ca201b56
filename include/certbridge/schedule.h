/*
 * schedule.h: effective dates (docs/DOMAIN.md §4, "Effective date"): whether
 * an event runs when it is read or waits until 00:00 of its effective_date
 * in policy.timezone, and the SCHEDULED outcomes published meanwhile.
 *
 * While an event waits, each of its intents is published as one outcome
 * "<event_id>/scheduled/<i>" (action_index i of action_count intents),
 * status SCHEDULED, final false, the time it runs in note. When the event
 * runs, the same ids are published again with final true (status SCHEDULED:
 * the date came; the actions' own outcomes are "<event_id>/0..n-1", whose
 * number is only known after the CA lookups). So a reader that keeps the
 * latest record per outcome_id sees every wait end exactly once.
 *
 * Pure; thread-safe.
 */
#ifndef CB_SCHEDULE_H
#define CB_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/config.h"
#include "certbridge/error.h"
#include "certbridge/event.h"
#include "certbridge/outcome.h"
#include "certbridge/rules.h" /* cb_intent_list_t */

/* policy.effective_date and policy.timezone. */
typedef struct cb_schedule_policy {
    bool ignore;       /* policy.effective_date=ignore: every event runs when read */
    int tz_offset_min; /* policy.timezone, minutes east of UTC */
} cb_schedule_policy_t;

/* Reads the two keys. -1 with CB_ERR_CONFIG naming the key. */
int cb_schedule_policy_from_config(const cb_config_t *cfg, cb_schedule_policy_t *out,
                                   cb_error_t *err);

/* When ev takes effect (00:00 of its effective_date in the policy's zone,
 * epoch ms), whatever the time now. */
int64_t cb_schedule_start_ms(const cb_event_t *ev, const cb_schedule_policy_t *policy);

/* The due time of ev read at calendar time now_ms: its start when that is
 * later than now_ms and policy.effective_date=honour, else 0 (it runs now). */
int64_t cb_schedule_due(const cb_event_t *ev, const cb_schedule_policy_t *policy, int64_t now_ms);

/* Where the event came from, for the outcomes. */
typedef struct cb_schedule_src {
    const char *topic;
    int32_t partition;
    int64_t offset;
} cb_schedule_src_t;

/* The SCHEDULED outcomes of an event that waits until due_ms (final false),
 * or that ran at its date (ran true: final true), one per intent, stamped
 * processed_at = wall_ms. *out is a malloc'd array of *n outcomes the caller
 * clears and frees (NULL when there are no intents). -1 when memory ran out
 * (err; nothing kept). */
int cb_schedule_outcomes(const cb_event_t *ev, const cb_intent_list_t *intents,
                         const cb_schedule_src_t *src, int64_t due_ms, int tz_offset_min, bool ran,
                         int64_t wall_ms, cb_outcome_t **out, size_t *n, cb_error_t *err);

#endif
