/*
 * state.h: the durable state of CA requests that finish later, of the
 * events that wait behind them, and of lookups made durable
 * (docs/ARCHITECTURE.md §5, "CA requests that finish later").
 *
 * The state lives in a compacted Kafka topic (output.state_topic). A record
 * about input partition k of either input topic is written to state
 * partition k, and its key starts with the kind, the input topic and k:
 *
 *   R|<topic>|<k>|<outcome_id>              an open request: the CA answered
 *                                           PENDING; the outcome to finish
 *   H|<topic>|<k>|<holder key>|<chunk>      a holder's queue: the events that
 *                                           wait for its open requests, in order
 *   Q|<topic>|<k>|<offset>|<chunk>          a queued event: its bytes (plain
 *                                           Avro, certbridge's schema), where it
 *                                           came from, the holders it names and,
 *                                           when it waits for its effective
 *                                           date, when that date starts ("due"),
 *                                           and when it needs an approval, the
 *                                           gate's state ("gate") and request
 *                                           ("request", docs/ARCHITECTURE.md §5,
 *                                           "The approval gate")
 *   W|<topic>|<k>|<offset>|<holder key>|<chunk>
 *                                           what the lookup of one (event,
 *                                           holder) answered, written before any
 *                                           call that depends on it
 *
 * Queued events and lookups are named by the event's offset in its input
 * partition (unique there, and the same on every replay); an open request
 * by its outcome id.
 *
 * Values are JSON objects with "v":1; a record of H, Q or W is cut into
 * chunks of at most CB_STATE_CHUNK_MAX bytes (every chunk names the count);
 * a null value (tombstone) deletes. No value is larger than
 * CB_STATE_VALUE_MAX.
 *
 * In memory, cb_state_t holds the entries of the input partitions this
 * instance owns: what the last committed transaction left, plus the changes
 * of the batch being executed, which cb_state_dirty_records turns into the
 * records of its transaction. When a transaction aborts, the caller drops
 * everything (cb_state_part_reset) and loads it again from the topic.
 *
 * Threads: the main (poll) thread only. Pure: no Kafka, no CA; the loading
 * is state_topic.h's.
 */
#ifndef CB_STATE_H
#define CB_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"
#include "certbridge/executor.h"
#include "certbridge/outcome.h"

#define CB_STATE_VALUE_MAX (512 * 1024) /* the largest state value written */
#define CB_STATE_CHUNK_MAX (256 * 1024) /* the JSON of one chunk, at most */
#define CB_STATE_KEY_MAX   4096         /* a longer key is refused */

typedef struct cb_state cb_state_t;

/* An open request: the CA answered PENDING and certbridge follows it until
 * the CA gives its final state. */
typedef struct cb_open_req {
    /* durable (R record) */
    char *holder_key;
    cb_outcome_t pending; /* as published: status PENDING, final false */
    int64_t opened_at_ms; /* wall clock: when the CA answered PENDING */
    /* this instance's, in memory only */
    const char *topic; /* the input partition's (owned by the state) */
    int32_t partition;
    int64_t next_poll_ms; /* monotonic; 0 = as soon as the rate allows */
    int polls;            /* polls answered PENDING since loaded or opened */
    bool polling;         /* a poll is in flight */
    bool overdue;         /* passed ca.pending_deadline (logged once) */
    cb_outcome_t *final;  /* the final outcome a poll found, not yet committed */
} cb_open_req_t;

/* A queued event, as a Q record keeps it. */
typedef struct cb_queued {
    char *event_id;
    char *topic;
    int32_t partition;
    int64_t offset;
    unsigned char *avro; /* the event, plain Avro with certbridge's own schema */
    size_t avro_len;
    char **holders; /* the holder keys its intents name, in order */
    size_t n_holders;
    int64_t due_ms;   /* 0, or when its effective date starts (calendar ms): it
                       * does not run before (docs/ARCHITECTURE.md §5) */
    int gate;         /* CB_GATE_STATE_*: whether it waits for an approval */
    char *request_id; /* CB_GATE_STATE_AWAITING: the approval request it is in */
} cb_queued_t;

/* A queued event's approval gate (gate.h). */
enum {
    CB_GATE_STATE_NONE = 0, /* needs no approval */
    CB_GATE_STATE_NEEDED,   /* needs one; its request opens when its date has come */
    CB_GATE_STATE_AWAITING  /* its request is open (AWAITING_APPROVAL published) */
};

void cb_queued_free(cb_queued_t *q);

/* One record to write to the state topic. value NULL is a tombstone. */
typedef struct cb_state_rec {
    int32_t partition;
    char *key;
    char *value;
    size_t len;
} cb_state_rec_t;

/* A growing list of records; the holder frees it with cb_state_recs_free. */
typedef struct cb_state_recs {
    cb_state_rec_t *v;
    size_t n, cap;
} cb_state_recs_t;

void cb_state_recs_free(cb_state_recs_t *r);

/* Moves every record of from to the end of to (from comes back empty). -1
 * when memory ran out (both unchanged). */
int cb_state_recs_move(cb_state_recs_t *to, cb_state_recs_t *from);

/* An empty state. NULL when memory ran out. */
cb_state_t *cb_state_new(void);
void cb_state_destroy(cb_state_t *st);

/* ---- partitions -------------------------------------------------------- */

/* Starts owning input partition (topic, partition), empty and loading: its
 * records come with cb_state_load_record, then cb_state_load_finish. Adding
 * a partition already owned resets it (as cb_state_part_reset). */
int cb_state_part_add(cb_state_t *st, const char *topic, int32_t partition, cb_error_t *err);

/* Forgets every entry of the partition and its pending changes, and sets it
 * loading again (before a reload after an abort). */
void cb_state_part_reset(cb_state_t *st, const char *topic, int32_t partition);

/* Stops owning the partition: its entries are dropped (not deleted from the
 * topic: the next owner loads them). */
void cb_state_part_drop(cb_state_t *st, const char *topic, int32_t partition);

/* Whether the partition is owned, and whether it is still loading. */
bool cb_state_part_owned(const cb_state_t *st, const char *topic, int32_t partition);
bool cb_state_part_loading(const cb_state_t *st, const char *topic, int32_t partition);

/* Offers one record of state partition `partition` (in log order) to the
 * loading partition (topic, partition): kept when its key starts with one
 * of that partition's prefixes, else ignored. value NULL: a tombstone. */
int cb_state_load_record(cb_state_t *st, const char *topic, int32_t partition, const void *key,
                         size_t keylen, const void *value, size_t len, cb_error_t *err);

/* Turns the records kept into entries. A record that does not parse, or a
 * chunked record with chunks missing, is skipped with a warning (its key is
 * named). -1 only when memory ran out. */
int cb_state_load_finish(cb_state_t *st, const char *topic, int32_t partition, cb_error_t *err);

/* ---- holders and queued events ----------------------------------------- */

/* Whether the holder has an open request or queued events. */
bool cb_state_holder_busy(const cb_state_t *st, const char *topic, int32_t partition,
                          const char *holder_key);

/* The holder keys the intents of w name, without repeats, in order: *out is
 * a malloc'd array of malloc'd strings (free with cb_state_keys_free). */
int cb_state_work_holders(const cb_work_t *w, char ***out, size_t *n, cb_error_t *err);
void cb_state_keys_free(char **keys, size_t n);

/* Encodes an event for a Q record (the codec's plain Avro). */
typedef int (*cb_state_encode_fn)(void *opaque, const cb_event_t *ev, void **buf, size_t *len,
                                  cb_error_t *err);

/* Holder order (docs/ARCHITECTURE.md §5): decides, work by work in batch
 * order, whether works[i] runs in this batch (run[i] true) or waits (false).
 * The first n_resumed works were taken from queues (cb_state_take_runnable)
 * and always run. A later work waits when one of its holders has an open
 * request or queued events, or was named by a work before it in this batch;
 * it is then queued (encode makes its Q record; the holders' queues get its
 * event id). Works of a partition not owned always run. -1 when memory ran
 * out or encode failed (err); the state may then hold part of the batch's
 * changes: the caller reloads it. */
int cb_state_schedule(cb_state_t *st, cb_work_t *works, size_t n, size_t n_resumed, bool *run,
                      cb_state_encode_fn encode, void *opaque, cb_error_t *err);

/* The same, with effective dates: a work i >= n_resumed with due[i] > 0
 * (when its effective date starts, calendar ms) waits whatever its holders
 * do: it is queued with that due time, its holders' queues get it (their
 * later events wait behind it), and it is taken no earlier than due[i]
 * (cb_state_set_now). due NULL: as cb_state_schedule. */
int cb_state_schedule_due(cb_state_t *st, cb_work_t *works, size_t n, size_t n_resumed, bool *run,
                          const int64_t *due, cb_state_encode_fn encode, void *opaque,
                          cb_error_t *err);

/* The same, with the approval gate: a work i >= n_resumed with gated[i]
 * waits whatever its date and holders (queued with CB_GATE_STATE_NEEDED):
 * it is not taken before cb_state_gate_open opened its request and the
 * gate check (cb_state_set_gate_check) says it is decided. gated NULL: as
 * cb_state_schedule_due. */
int cb_state_schedule_gated(cb_state_t *st, cb_work_t *works, size_t n, size_t n_resumed, bool *run,
                            const int64_t *due, const bool *gated, cb_state_encode_fn encode,
                            void *opaque, cb_error_t *err);

/* Whether a queued event in CB_GATE_STATE_AWAITING has every decision it
 * needs (it may then be taken). Without a check none is taken. */
typedef bool (*cb_state_gate_fn)(void *opaque, const cb_queued_t *q);
void cb_state_set_gate_check(cb_state_t *st, cb_state_gate_fn fn, void *opaque);

/* The queued events of loaded partitions in CB_GATE_STATE_NEEDED whose
 * date has come (cb_state_set_now): their request is to be opened. *out is
 * a malloc'd array of borrowed pointers (valid until the state changes;
 * the caller frees the array), in (topic, partition, offset) order. */
int cb_state_gate_due(cb_state_t *st, const cb_queued_t ***out, size_t *n, cb_error_t *err);

/* Opens the request of the queued event at (topic, partition, offset):
 * CB_GATE_STATE_AWAITING in request_id, its Q record written again (a
 * pending change). -1 when memory ran out or no such event waits (err). */
int cb_state_gate_open(cb_state_t *st, const char *topic, int32_t partition, int64_t offset,
                       const char *request_id, cb_error_t *err);

/* The calendar time (cb_clock_calendar_ms) cb_state_take_runnable compares
 * due times with: an event whose due time is later is not taken. 0 until
 * set. */
void cb_state_set_now(cb_state_t *st, int64_t calendar_ms);

/* The earliest due time above after_ms of the queued events of owned,
 * loaded partitions, or 0 when none. */
int64_t cb_state_next_due(const cb_state_t *st, int64_t after_ms);

/* Takes up to max queued events that can run now: their due time, if any,
 * is not after the time of cb_state_set_now, and every holder they name
 * has no open request and has them first in its queue. They leave their
 * holders' queues and their Q records are deleted (pending changes). *out
 * is a malloc'd array the caller frees, with each event (cb_queued_free),
 * in (topic, partition, offset) order. */
int cb_state_take_runnable(cb_state_t *st, size_t max, cb_queued_t ***out, size_t *n,
                           cb_error_t *err);

/* Cancellation (docs/ARCHITECTURE.md §5, "Cancellation"): takes out of the
 * loaded partition (topic, partition) one queued event whose event_id is
 * event_id and whose offset is below before_offset (a cancellation only
 * cancels what was read before it, so the answer does not depend on where
 * batches were cut). A queued event was never sent to the CA, whether it
 * waits for its effective date or behind an open request. Its Q record is
 * deleted and it leaves its holders' queues wherever it stands in them
 * (pending changes: the events behind it may then run). *out receives it
 * (malloc'd: cb_queued_free, then free), or NULL when no such event waits
 * there; call again until NULL to take repeats of one id. -1 when memory ran
 * out (err). */
int cb_state_cancel(cb_state_t *st, const char *topic, int32_t partition, const char *event_id,
                    int64_t before_offset, cb_queued_t **out, cb_error_t *err);

/* Whether an open request of (topic, partition) belongs to event_id: that
 * event was sent to the CA, which has not answered for good yet. */
bool cb_state_event_open(const cb_state_t *st, const char *topic, int32_t partition,
                         const char *event_id);

/* Queued events in all owned partitions, and whether the partition holds
 * any. */
size_t cb_state_queued_count(const cb_state_t *st);
bool cb_state_part_has_queued(const cb_state_t *st, const char *topic, int32_t partition);

/* Whether the partition holds queued events or open requests: its next
 * events may have to wait. */
bool cb_state_part_busy(const cb_state_t *st, const char *topic, int32_t partition);

/* ---- open requests ------------------------------------------------------ */

/* Opens a request for a PENDING outcome (copied; its ca_request_id names
 * the request) of the holder, first checked at first_poll_ms (monotonic). A
 * pending change. Requests loaded from the topic are checked at once. */
int cb_state_open(cb_state_t *st, const char *topic, int32_t partition, const char *holder_key,
                  const cb_outcome_t *pending, int64_t opened_at_ms, int64_t first_poll_ms,
                  cb_error_t *err);

/* Every open request of owned partitions, loaded ones included; *out is
 * owned by the state and valid until its next change. */
size_t cb_state_requests(cb_state_t *st, cb_open_req_t *const **out);

/* The open request of (topic, partition) whose outcome is outcome_id, or
 * NULL (closed, or its partition is no longer owned). */
cb_open_req_t *cb_state_request_find(cb_state_t *st, const char *topic, int32_t partition,
                                     const char *outcome_id);

/* Records the final outcome a poll found (taken: malloc'd, cleared and
 * freed by the state). */
void cb_state_request_final(cb_state_t *st, cb_open_req_t *r, cb_outcome_t *final);

/* Takes every final outcome found: their requests close (pending changes:
 * the R record is deleted). *out is a malloc'd array of outcomes the caller
 * clears and frees; their holders may then let queued events run. */
int cb_state_take_finals(cb_state_t *st, cb_outcome_t **out, size_t *n, cb_error_t *err);

/* Open requests in all owned partitions, and how many of them have a final
 * outcome waiting for the next transaction. */
size_t cb_state_open_count(const cb_state_t *st);
size_t cb_state_finals_count(const cb_state_t *st);

/* ---- lookups made durable ---------------------------------------------- */

/* The lookup an earlier attempt made durable for the event at offset of
 * (topic, partition) and the holder, or NULL. Borrowed: valid until the
 * state changes. */
const cb_work_lookup_t *cb_state_lookup(const cb_state_t *st, const char *topic, int32_t partition,
                                        int64_t offset, const char *holder_key);

/* Makes the W records of one lookup (appended to out) and remembers the
 * lookup, so that cb_state_lookup_forget can delete them later. */
int cb_state_lookup_put(cb_state_t *st, const char *topic, int32_t partition, int64_t offset,
                        const char *event_id, const char *holder_key, const cb_ca_cert_t *certs,
                        size_t n, cb_state_recs_t *out, cb_error_t *err);

/* The lookups of the event at offset are no longer needed (its outcomes
 * are committed with this batch): a pending change deletes their W records. */
void cb_state_lookup_forget(cb_state_t *st, const char *topic, int32_t partition, int64_t offset);

/* ---- the transaction's records ------------------------------------------ */

/* Appends the records of every pending change (R records opened or deleted,
 * H records changed, Q records made or deleted, W records deleted) to out,
 * and forgets the changes. -1 when memory ran out (the changes stay). */
int cb_state_dirty_records(cb_state_t *st, cb_state_recs_t *out, cb_error_t *err);

/* ---- JSON of outcomes and certificates (shared with the tests) ---------- */

/* An outcome as a JSON object text (malloc'd), and back. */
char *cb_state_outcome_json(const cb_outcome_t *o);
int cb_state_outcome_parse(const char *json, size_t len, cb_outcome_t *out, cb_error_t *err);

#endif
