/*
 * pipeline.h: `certbridge run`, the exactly-once pipeline
 * (docs/ARCHITECTURE.md §3, §5).
 *
 * One consumer group on the org and person topics (read_committed, no
 * auto-commit), one transactional producer owned by the committer
 * (committer.h). Per batch: decode (bad input to the dead-letter topic),
 * plan, execute at the CA, then one transaction with every outcome, every
 * dead letter and the consumer offsets. A crash anywhere replays the batch;
 * the CA's idempotency keys make the replay harmless.
 *
 * Threads (docs/ARCHITECTURE.md §4): the thread that calls cb_pipeline_run
 * is the main (poll) thread: it owns the consumer, the codec, the CA client
 * and the executor. cb_pipeline_run starts the committer thread and ends it
 * before returning. cb_pipeline_new and cb_pipeline_destroy must not run
 * while cb_pipeline_run does.
 */
#ifndef CB_PIPELINE_H
#define CB_PIPELINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "certbridge/config.h"
#include "certbridge/error.h"

typedef struct cb_pipeline cb_pipeline_t;

/* Builds the consumer, the committer (with the producer's configuration),
 * the codec and the CA client from cfg (borrowed: must outlive the
 * pipeline). Nothing is consumed and no producer exists yet. NULL with err
 * (CB_ERR_CONFIG names a bad key) on failure. */
cb_pipeline_t *cb_pipeline_new(const cb_config_t *cfg, cb_error_t *err);

/* Registers the outcome schema (when a registry is configured), starts the
 * committer (its thread creates the producer and runs init_transactions),
 * makes or checks the state topic (output.state_topic; a wrong one is
 * CB_ERR_CONFIG), subscribes, and runs until *stop becomes non-zero (a
 * signal handler sets it) or, when drain_idle_ms > 0, until no message
 * arrived for that long after the last committed batch and no CA request
 * is open and no event queued on the owned partitions (see
 * cb_pipeline_set_drain_leave_open). Finishes or aborts the open batch,
 * stops the committer, closes the consumer. Returns 0, or -1 on a fatal
 * error. */
int cb_pipeline_run(cb_pipeline_t *p, volatile sig_atomic_t *stop, int drain_idle_ms,
                    cb_error_t *err);

/* With leave_open, drain_idle_ms ends the run even while CA requests are
 * open or events wait behind them (their state is in the state topic: the
 * next run follows them). Before cb_pipeline_run. */
void cb_pipeline_set_drain_leave_open(cb_pipeline_t *p, bool leave_open);

/* Counters since start (the demo's summary): from the main thread, or once
 * cb_pipeline_run returned. */
typedef struct cb_pipeline_stats {
    uint64_t events_consumed, dead_letters, outcomes, batches_committed, txn_aborts,
        producer_rebuilds, rebalances;
} cb_pipeline_stats_t;
void cb_pipeline_stats(const cb_pipeline_t *p, cb_pipeline_stats_t *out);

void cb_pipeline_destroy(cb_pipeline_t *p);

#endif
