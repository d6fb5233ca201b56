/*
 * cancel.h: the outcomes of a cancellation (docs/DOMAIN.md §4,
 * "Cancellation"; docs/ARCHITECTURE.md §5, "Cancellation").
 *
 * A CANCELLED event (event.h: the event_id it cancels is in org.address)
 * stops the actions of an earlier event of its input partition that have not
 * been sent to the CA: the event still waits in the state topic, for its
 * effective date or behind an open request of one of its holders. Each
 * action it stopped is published as one outcome, status CANCELLED, final
 * true:
 *   "<event_id>/scheduled/<i>"  when it waited for its effective date (the
 *                               id its SCHEDULED outcome was published with)
 *   "<event_id>/cancelled/<i>"  when it waited behind an open request
 *                               (nothing was published for it before)
 * The cancellation gets one outcome of its own, "<its event_id>/0", action
 * REVIEW (no CA call of its own): SUCCEEDED naming what it cancelled, or
 * NEEDS_REVIEW when nothing could be cancelled, with what a person must do.
 *
 * Pure; thread-safe.
 */
#ifndef CB_CANCEL_H
#define CB_CANCEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"
#include "certbridge/event.h"
#include "certbridge/outcome.h"
#include "certbridge/rules.h"    /* cb_intent_list_t */
#include "certbridge/schedule.h" /* cb_schedule_src_t */

/* What a cancellation found. */
typedef enum cb_cancel_verdict {
    CB_CANCEL_DONE = 0,    /* it took waiting events out: their actions end CANCELLED */
    CB_CANCEL_SENT,        /* the event was sent to the CA already (ran, or an open request) */
    CB_CANCEL_NOT_WAITING, /* nothing of it waits in this partition: sent earlier, or unknown */
} cb_cancel_verdict_t;

/* The CANCELLED outcomes of the actions of ev (planned into intents), which
 * the cancellation `by` stopped; scheduled: ev waited for its effective date.
 * Stamped processed_at = wall_ms. *out is a malloc'd array of *n outcomes
 * the caller clears and frees (NULL when there are no intents). -1 when
 * memory ran out (err; nothing kept). */
int cb_cancel_outcomes(const cb_event_t *ev, const cb_intent_list_t *intents,
                       const cb_schedule_src_t *src, bool scheduled, const cb_event_t *by,
                       int64_t wall_ms, cb_outcome_t **out, size_t *n, cb_error_t *err);

/* The cancellation's own outcome into o (initialized by it): SUCCEEDED for
 * CB_CANCEL_DONE (n_events events, n_actions actions cancelled), else
 * NEEDS_REVIEW with the note "not cancellable: ...". src is where `by` came
 * from. -1 when memory ran out (err; o cleared). */
int cb_cancel_own_outcome(const cb_event_t *by, const cb_schedule_src_t *src,
                          cb_cancel_verdict_t verdict, size_t n_events, size_t n_actions,
                          int64_t wall_ms, cb_outcome_t *o, cb_error_t *err);

#endif
