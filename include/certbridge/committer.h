/*
 * committer.h: the committer thread, which commits executed batches in
 * Kafka transactions (docs/ARCHITECTURE.md §3, §5).
 *
 * Per batch, one transaction: every outcome (encoded with the outcome
 * encoder) and final outcome of a request that finished later, every dead
 * letter, the batch's records of the state topic, and the consumer offsets
 * (last offset + 1 of every partition in the batch, and the positions the
 * pipeline adds for the partitions it owns), then commit. It runs while the
 * main thread executes the next batch; one batch is handed over at a time,
 * so batches commit in order. A batch of lookups only (the W records that
 * must be durable before the calls that depend on them) is a transaction of
 * state records and offsets.
 *
 * Threads and ownership (docs/ARCHITECTURE.md §4):
 *   - The main (poll) thread calls every function of this header, and only
 *     it: new, start, submit, settle, commit, stop, destroy (stats: any
 *     thread). It never touches the producer.
 *   - The committer thread, started by cb_committer_start and ended by
 *     cb_committer_stop, is the only thread that touches the transactional
 *     producer: it creates it and runs init_transactions, runs every
 *     transaction, aborts, rebuilds the producer after it was fenced and
 *     destroys it. Between cb_committer_submit and the end of
 *     cb_committer_settle it owns the batch handed over.
 *   - Shared, and how: the hand-off (the batch slot, its result) and the
 *     statistics are under the committer's mutex; the outcome encoder is
 *     immutable once given to cb_committer_start (codec.h); of the consumer
 *     the committer thread only calls rd_kafka_consumer_group_metadata
 *     (thread-safe in librdkafka); metrics are atomics. Nothing else is used
 *     by both threads.
 *
 * The batch: cb_committer_submit moves it into the committer (the caller's
 * cb_batch_t comes back zeroed) and the committer frees it, messages, works
 * and dead letters, once it settled, whatever the result.
 *
 * The result of a batch (cb_committer_settle, cb_committer_commit):
 *    1  committed: its outcomes, dead letters and offsets are durable.
 *    0  aborted: nothing of it is visible. The caller rewinds the consumer
 *       to the committed offsets, so the batch, and whatever was read after
 *       it, is replayed (a fenced producer was rebuilt first).
 *   -1  fatal (err, CB_ERRF_FATAL): the producer could not be rebuilt, kept
 *       being fenced (another instance uses the transactional id), or an
 *       abort failed. The caller stops.
 * Decisions are taken on cb_error_t flags (error.h); librdkafka's error
 * objects are read only by cb_committer_kafka_error.
 */
#ifndef CB_COMMITTER_H
#define CB_COMMITTER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/codec.h"
#include "certbridge/error.h"
#include "certbridge/executor.h"
#include "certbridge/metrics.h"
#include "certbridge/state.h"

/* transaction.timeout.ms, and the timeout of every blocking transactional
 * call (init, send offsets, commit, abort). */
#define CB_COMMITTER_TXN_TIMEOUT_MS 60000

/* The dead letter's size (docs/ARCHITECTURE.md §6, "Dead letters that
 * fit"). A dead letter must fit into one record of the dead-letter topic:
 * the limit is the smaller of the producer's message.max.bytes (librdkafka's
 * default 1000000; kafka.message.max.bytes overrides it) and the topic's
 * max.message.bytes, read with DescribeConfigs when the committer starts
 * (CB_DEAD_LETTER_TOPIC_DEFAULT, Kafka's default, when the broker does not
 * answer or does not permit it). A dead letter over the limit carries its
 * value cut to what fits, with the headers certbridge.value.truncated=true
 * and certbridge.value.original_bytes=N; certbridge.source.* say where the
 * whole value is. Were it not so, the produce would fail, the transaction
 * abort and the batch replay for ever. */
#define CB_DEAD_LETTER_TOPIC_DEFAULT 1048588 /* Kafka's message.max.bytes default */
/* Bytes a record takes beyond its key, value and headers, generously: the
 * record batch header (61) and the record's own fields as varints. */
#define CB_DEAD_LETTER_OVERHEAD 512
/* Bytes one header takes beyond its name and value (two varint lengths). */
#define CB_DEAD_LETTER_HEADER_OVERHEAD 10

/* What of a dead letter is sent, from cb_dead_letter_fit. */
typedef struct cb_dead_letter_fit {
    size_t key_len;    /* bytes of the original key sent */
    size_t value_len;  /* bytes of the original value sent */
    bool keep_headers; /* the original headers go along */
} cb_dead_letter_fit_t;

/* Decides what fits into limit bytes: the original key (key_len bytes),
 * value (value_len) and headers (orig_hdr_bytes, each counted as name +
 * value + CB_DEAD_LETTER_HEADER_OVERHEAD), beside certbridge's own headers
 * (own_hdr_bytes, counted the same way, the truncation headers included) and
 * CB_DEAD_LETTER_OVERHEAD. When everything fits, everything is sent.
 * Otherwise the key keeps at most a quarter of the room left by
 * certbridge's headers, the original headers are dropped when they would
 * take more than half of what remains, and the value is cut to the rest.
 * Pure; any thread. */
void cb_dead_letter_fit(size_t limit, size_t key_len, size_t value_len, size_t orig_hdr_bytes,
                        size_t own_hdr_bytes, cb_dead_letter_fit_t *out);

/* A message that failed decoding, validation or planning, bound for the
 * dead-letter topic with the reason. */
typedef struct cb_dead_letter {
    rd_kafka_message_t *msg; /* borrowed from the batch's msgs */
    cb_error_t err;
} cb_dead_letter_t;

/* An executed batch: every message read (they make the offsets), the
 * planned works with their outcomes, the dead letters. The pipeline builds
 * it; whoever holds it frees it with cb_batch_free. */
typedef struct cb_batch {
    rd_kafka_message_t **msgs;
    size_t n_msgs;
    cb_work_t *works; /* those queued have no outcomes */
    size_t n_works;
    cb_dead_letter_t *dead;
    size_t n_dead;
    cb_outcome_t *finals; /* final outcomes of requests that finished later */
    size_t n_finals;
    cb_state_recs_t recs; /* records of the state topic */
    /* offsets sent beside the messages' (the larger wins per partition):
     * the positions of owned partitions, so that every transaction, even
     * one without messages, is fenced by the group's generation; may be
     * NULL */
    rd_kafka_topic_partition_list_t *offsets;
    bool lookups_only;               /* a transaction of W records: not counted as a batch */
    int64_t started_ms, executed_ms; /* for the committed batch's debug line */
} cb_batch_t;

/* Frees everything b holds (messages, works, dead letters) and zeroes it. */
void cb_batch_free(cb_batch_t *b);

/* What the committer is made of. Pointers are borrowed and must outlive the
 * committer, except producer_conf. */
typedef struct cb_committer_conf {
    rd_kafka_conf_t *producer_conf; /* taken (freed by the committer, also on
                                     * failure): every producer is made from a
                                     * copy, with its transactional.id */
    rd_kafka_t *consumer;           /* its group metadata goes with the offsets */
    cb_metrics_t *metrics;          /* may be NULL */
    const char *txn_id;             /* named in the fatal error when fenced */
    const char *outcome_topic, *dlq_topic, *state_topic;
    /* the registry topic (orgreg_record.h): every org event read in a batch
     * (not resumed from the state) writes its records there, in the batch's
     * transaction; NULL or "": none */
    const char *registry_topic;
} cb_committer_conf_t;

typedef struct cb_committer cb_committer_t;

/* A committer; no thread and no producer yet. NULL with err on allocation
 * failure. Main thread. Free with cb_committer_destroy. */
cb_committer_t *cb_committer_new(const cb_committer_conf_t *conf, cb_error_t *err);

/* Starts the committer thread with enc (taken: freed by the committer, also
 * on failure; immutable from now on). The thread creates the producer and
 * runs init_transactions (fencing an older producer with the same id); this
 * call waits for that and returns 0, or -1 with err (the thread has ended).
 * Main thread, once. */
int cb_committer_start(cb_committer_t *c, cb_outcome_encoder_t *enc, cb_error_t *err);

/* Hands b over (moved: *b comes back zeroed) and returns at once; the
 * committer thread commits it. The committer must be idle: started, and
 * every batch handed over before has been settled. -1 (CB_ERR_INTERNAL,
 * CB_ERRF_FATAL) when it is not; b is then freed. Main thread. */
int cb_committer_submit(cb_committer_t *c, cb_batch_t *b, cb_error_t *err);

/* Waits until the batch handed over, if any, settled, and answers its
 * result: 1 committed (or nothing was pending), 0 aborted, -1 fatal (err).
 * Main thread. */
int cb_committer_settle(cb_committer_t *c, cb_error_t *err);

/* Submit, then settle: commits b on the committer thread while the caller
 * waits (inside a rebalance callback, where the batch must be committed
 * while the partitions are still ours). Same results as settle. Main
 * thread, with the committer idle. */
int cb_committer_commit(cb_committer_t *c, cb_batch_t *b, cb_error_t *err);

/* True between a submit and the settle that collects its result. Main
 * thread. */
bool cb_committer_busy(const cb_committer_t *c);

/* True when the batch handed over has settled (cb_committer_settle will
 * not wait), or when none is pending. Main thread. */
bool cb_committer_done(cb_committer_t *c);

/* Ends the committer thread once the batch handed over, if any, settled;
 * the thread destroys the producer. Idempotent. Main thread. */
void cb_committer_stop(cb_committer_t *c);

/* Counters since start. Any thread. */
typedef struct cb_committer_stats {
    uint64_t outcomes, dead_letters, batches_committed, txn_aborts, producer_rebuilds;
} cb_committer_stats_t;
void cb_committer_stats(cb_committer_t *c, cb_committer_stats_t *out);

/* Stops the thread (cb_committer_stop) and frees everything. Safe on NULL.
 * Main thread. */
void cb_committer_destroy(cb_committer_t *c);

/* Converts a librdkafka error into err (code CB_ERR_KAFKA, message "what:
 * librdkafka's text") with librdkafka's verdict as flags: fatal, or the
 * code _FATAL, _FENCED or PRODUCER_FENCED, is CB_ERRF_FATAL;
 * txn_requires_abort is CB_ERRF_ABORTABLE; retriable is CB_ERRF_RETRIABLE;
 * none of them leaves no flag. Takes e (destroys it). Returns -1. The one
 * place that interprets rd_kafka_error_t (a plain error code is wrapped
 * with rd_kafka_error_new first). */
int cb_committer_kafka_error(cb_error_t *err, rd_kafka_error_t *e, const char *what);

#endif
