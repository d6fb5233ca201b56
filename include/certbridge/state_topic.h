/*
 * state_topic.h: the state topic on the brokers (docs/ARCHITECTURE.md §5):
 * made when missing, checked when it exists, and read back into the state
 * (state.h) for the input partitions an instance is assigned.
 *
 * It uses a consumer of its own (no group: partitions are assigned
 * explicitly, nothing is committed) reading with read_committed, so only
 * records of committed transactions are loaded.
 *
 * Threads: the main (poll) thread only.
 */
#ifndef CB_STATE_TOPIC_H
#define CB_STATE_TOPIC_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/decisions.h"
#include "certbridge/error.h"
#include "certbridge/state.h"

typedef struct cb_state_topic cb_state_topic_t;

/* A reader of topic with the consumer configuration conf (taken: freed
 * also on failure; isolation.level=read_committed and
 * enable.partition.eof=true are set here). NULL with err on failure. */
cb_state_topic_t *cb_state_topic_new(rd_kafka_conf_t *conf, const char *topic, cb_error_t *err);
void cb_state_topic_destroy(cb_state_topic_t *t);

/* Makes sure the topic can hold the state of min_partitions input
 * partitions: when missing, it is created (cleanup.policy=compact,
 * min_partitions partitions, replication_factor replicas, -1 for the
 * broker's default); when it exists it must be compacted
 * (cleanup.policy=compact) and have at least min_partitions partitions, or
 * this fails with CB_ERR_CONFIG naming the topic and the setting. A broker
 * that does not answer DescribeConfigs within 2.5 s (librdkafka's mock
 * cluster never does) leaves the policy unchecked, with a warning. Unreachable brokers:
 * CB_ERR_KAFKA, retriable. Returns the topic's partition count, or -1. */
int cb_state_topic_ensure(cb_state_topic_t *t, int min_partitions, int replication_factor,
                          int timeout_ms, cb_error_t *err);

/* Reads state partitions parts[0..n) from their beginning to their end as
 * it was when called (committed records only: an open transaction is
 * waited for) and offers every record to st (cb_state_load_record) for the
 * loading input partitions (topics[i], p) of each state partition p, then
 * finishes them (cb_state_load_finish). -1 with err when the brokers do
 * not answer within timeout_ms (retriable) or memory ran out. */
int cb_state_topic_load(cb_state_topic_t *t, cb_state_t *st, const char *const *topics,
                        size_t n_topics, const int32_t *parts, size_t n, int timeout_ms,
                        cb_error_t *err);

/* ---- the approval gate's shared records (decisions.h) ------------------ */

/* A reader that keeps state partition CB_DECISIONS_PARTITION of topic
 * assigned for the instance's life (its own consumer: no group,
 * read_committed, from the beginning) and feeds every record to a view.
 * Takes conf (freed also on failure). */
typedef struct cb_state_tail cb_state_tail_t;
cb_state_tail_t *cb_state_tail_new(rd_kafka_conf_t *conf, const char *topic, cb_error_t *err);
void cb_state_tail_destroy(cb_state_tail_t *t);

/* Reads the partition from its beginning again (after d was reset). */
int cb_state_tail_restart(cb_state_tail_t *t, cb_error_t *err);

/* Feeds d what has arrived, without waiting: at most max records. Returns
 * how many, or -1 when memory ran out. */
int cb_state_tail_poll(cb_state_tail_t *t, cb_decisions_t *d, size_t max, cb_error_t *err);

/* Feeds d everything committed before the call: waits until the reader
 * reached the partition's end as it was (its last stable offset; an open
 * transaction of another instance holds it back), at most timeout_ms. -1
 * with err: retriable when that end was not reached in time. */
int cb_state_tail_catch_up(cb_state_tail_t *t, cb_decisions_t *d, int timeout_ms, cb_error_t *err);

#endif
