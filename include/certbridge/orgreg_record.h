/*
 * orgreg_record.h: the organization registry as a compacted Kafka topic
 * (docs/ARCHITECTURE.md §5, "The registry topic"): the records an org event
 * makes, which `certbridge run` publishes in the transaction of the batch
 * that read the event, and which `certbridge reconcile --registry-topic`
 * reads back as a registry (orgreg.h).
 *
 * One record per organization, key = its code, value = one line of the
 * registry's JSONL format (orgreg.h) with the organization as the event
 * leaves it, plus the event that made it (event_id, effective_date,
 * occurred_at in ms: a MERGED event keyed by the resulting organization
 * writes the records of the merged ones, whose own events are keyed, and
 * so ordered, elsewhere; a reader may prefer the latest occurred_at):
 *   RENAMED, PARENT_CHANGED, INFO_CHANGED: the organization, ACTIVE;
 *   MERGED: the resulting organization, ACTIVE, and every merged one that
 *           is not it, MERGED with the result as its successor;
 *   DISSOLVED: the organization, DISSOLVED (not a tombstone: reconcile
 *           must still know that a certificate names a dissolved one);
 *   CANCELLED and person events: none.
 * A later record of a code replaces the earlier one, as compaction does.
 *
 * Threads: pure functions; the records belong to the caller.
 */
#ifndef CB_ORGREG_RECORD_H
#define CB_ORGREG_RECORD_H

#include <stddef.h>

#include "certbridge/error.h"
#include "certbridge/event.h"

typedef struct cb_orgreg_rec {
    char *key;   /* the organization's code */
    char *value; /* one JSON object, no line break */
    size_t value_len;
} cb_orgreg_rec_t;

typedef struct cb_orgreg_recs {
    cb_orgreg_rec_t *v;
    size_t n, cap;
} cb_orgreg_recs_t;

/* Appends the records of ev to out (grown as needed). 0, or -1 with
 * CB_ERR_NOMEM (out keeps what it had). */
int cb_orgreg_event_records(const cb_event_t *ev, cb_orgreg_recs_t *out, cb_error_t *err);

/* Frees every record of r and zeroes it. */
void cb_orgreg_recs_free(cb_orgreg_recs_t *r);

#endif
