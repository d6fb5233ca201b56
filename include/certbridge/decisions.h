/*
 * decisions.h: the approval gate's shared records (docs/ARCHITECTURE.md §5,
 * "The approval gate"), which every instance reads from state partition 0
 * whatever input partitions it owns:
 *
 *   K|<request_id>|<topic>|<k>|<offset>
 *       an event of input partition (topic, k) at offset waits in the
 *       request: {"v":1,"event_id":..,"actions":["<event_id>/approval/<i>",..],
 *       "cancelled":false}; written again with "cancelled":true when a
 *       CANCELLED event stops it
 *   A|<request_id>|<approval topic>|<p>|<offset>
 *       a verified decision, written by the instance that consumed the
 *       approval at (approval topic, p, offset) in the transaction that
 *       commits that offset: {"v":1,"decision":"APPROVED"|"REJECTED",
 *       "document_number":..,"approver":..,"reason":..,"actions":[..]}, the
 *       actions it decided (never one decided before)
 *
 * Every key is unique and never deleted, so compaction keeps each record.
 * cb_decisions_t is one instance's view of them: the records read from the
 * topic plus those it made itself and has not read back yet (making one
 * applies it at once; reading it back is a no-op). After an aborted
 * transaction the caller resets the view and reads partition 0 again.
 *
 * Threads: the main (poll) thread only. Pure: no Kafka.
 */
#ifndef CB_DECISIONS_H
#define CB_DECISIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/approval.h"
#include "certbridge/error.h"
#include "certbridge/state.h" /* cb_state_recs_t */

/* The state partition the shared records live in. */
#define CB_DECISIONS_PARTITION 0

typedef struct cb_decisions cb_decisions_t;

/* One decision, as an A record keeps it. Owned by the view. */
typedef struct cb_decision {
    char *request_id;
    cb_approval_decision_t decision;
    char *document_number; /* as printed (cb_approval_document_text) */
    char *approver;        /* "name, title" */
    char *reason;          /* NULL when none */
} cb_decision_t;

cb_decisions_t *cb_decisions_new(void);
void cb_decisions_destroy(cb_decisions_t *d);

/* Forgets every record (before reading partition 0 again). */
void cb_decisions_reset(cb_decisions_t *d);

/* Applies one record of partition 0 (other kinds of keys are ignored, as
 * are tombstones and records that do not parse, with a warning). -1 only
 * when memory ran out. */
int cb_decisions_load_record(cb_decisions_t *d, const void *key, size_t keylen, const void *value,
                             size_t len, cb_error_t *err);

/* A number that changes whenever a decision was added. */
uint64_t cb_decisions_gen(const cb_decisions_t *d);

/* The first decision that covers action_id, or NULL. Borrowed. */
const cb_decision_t *cb_decisions_find(const cb_decisions_t *d, const char *action_id);

/* Whether some A record decided actions of request_id. */
bool cb_decisions_request_decided(const cb_decisions_t *d, const char *request_id);

/* Whether some K record names request_id. */
bool cb_decisions_request_known(const cb_decisions_t *d, const char *request_id);

/* Makes the K record of an event waiting in request_id (appended to out,
 * partition CB_DECISIONS_PARTITION) and applies it. action_ids: the ids of
 * its actions that need approval. -1 when memory ran out. */
int cb_decisions_wait_record(cb_decisions_t *d, const char *request_id, const char *topic,
                             int32_t partition, int64_t offset, const char *event_id,
                             char *const *action_ids, size_t n, bool cancelled,
                             cb_state_recs_t *out, cb_error_t *err);

/* What cb_decisions_decide found. */
typedef enum cb_decide_verdict {
    CB_DECIDE_OK = 0,         /* an A record was made */
    CB_DECIDE_UNKNOWN,        /* no event waits or waited in the request */
    CB_DECIDE_NOT_IN_REQUEST, /* action_ids names an action the request does not have */
    CB_DECIDE_DUPLICATE,      /* every action it names was decided before */
    CB_DECIDE_CANCELLED       /* every action it names not decided was cancelled */
} cb_decide_verdict_t;

/* Decides a verified approval a, read at (topic, partition, offset): the
 * actions it names (action_ids, or every action of the request) less those
 * decided before and those cancelled. When some are left, makes its A
 * record (appended to out) and applies it (CB_DECIDE_OK). msg gets the
 * sentence for a log line (OK) or a dead letter (the others), e.g.
 * "unknown approval request 000.00.12.H19-20250701". -1 when memory ran
 * out. */
int cb_decisions_decide(cb_decisions_t *d, const cb_approval_t *a, const char *topic,
                        int32_t partition, int64_t offset, cb_state_recs_t *out,
                        cb_decide_verdict_t *verdict, char *msg, size_t msgsize, cb_error_t *err);

#endif
