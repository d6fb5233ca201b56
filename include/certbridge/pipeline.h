/*
 * pipeline.h: `certbridge run`, the exactly-once pipeline (DESIGN.md §5).
 *
 * One consumer group on the org and person topics (read_committed, no
 * auto-commit), one transactional producer. Per batch: decode (bad input to
 * the dead-letter topic), plan, execute at the CA, then one transaction with
 * every outcome, every dead letter and the consumer offsets. A crash anywhere
 * replays the batch; the CA's idempotency keys make the replay harmless.
 */
#ifndef CB_PIPELINE_H
#define CB_PIPELINE_H

#include <signal.h>
#include <stdint.h>

#include "certbridge/config.h"
#include "certbridge/error.h"

typedef struct cb_pipeline cb_pipeline_t;

/* Builds the Kafka clients, the codec and the CA client from cfg (borrowed:
 * must outlive the pipeline). Nothing is consumed yet. NULL with err
 * (CB_ERR_CONFIG names a bad key) on failure. */
cb_pipeline_t *cb_pipeline_new(const cb_config_t *cfg, cb_error_t *err);

/* Runs until *stop becomes non-zero (a signal handler sets it) or, when
 * drain_idle_ms > 0, until no message arrived for that long after the last
 * committed batch. Finishes or aborts the open batch, closes the consumer.
 * Returns 0, or -1 on a fatal error. */
int cb_pipeline_run(cb_pipeline_t *p, volatile sig_atomic_t *stop, int drain_idle_ms,
                    cb_error_t *err);

/* Counters since start (metrics and the demo's summary). */
typedef struct cb_pipeline_stats {
    uint64_t events_consumed, dead_letters, outcomes, batches_committed, txn_aborts,
        producer_rebuilds, rebalances;
} cb_pipeline_stats_t;
void cb_pipeline_stats(const cb_pipeline_t *p, cb_pipeline_stats_t *out);

void cb_pipeline_destroy(cb_pipeline_t *p);

#endif
