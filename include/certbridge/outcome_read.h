/*
 * outcome_read.h: reading a whole topic back: the outcome topic, for the
 * commands that show what became of the actions (`certbridge report`,
 * `certbridge approvals`), and the registry topic for `certbridge
 * reconcile --registry-topic` (cb_topic_read_kafka).
 *
 * One consumer that assigns every partition of output.outcome_topic itself
 * (a fresh group id, no commits, read_committed: aborted batches are never
 * seen) and reads from the beginning to the end each partition had when it
 * was reached. The caller's function gets each outcome in the order of its
 * partition; outcomes of one event are on one partition, so the last one
 * given for an action is its latest.
 *
 * Runs on the caller's thread and returns when done; nothing stays behind.
 */
#ifndef CB_OUTCOME_READ_H
#define CB_OUTCOME_READ_H

#include <stddef.h>
#include <stdint.h>

#include "certbridge/config.h"
#include "certbridge/error.h"
#include "certbridge/outcome.h"

/* Called once per record of a topic read by cb_topic_read_kafka: its key
 * and value (NULL and 0 when absent; the reader's, valid during the call),
 * partition and offset. Returns 0 to go on, or -1 with err set to stop. */
typedef int (*cb_topic_read_fn)(void *opaque, const void *key, size_t key_len, const void *value,
                                size_t len, int32_t partition, int64_t offset, cb_error_t *err);

/* Reads the topic configuration key key names (e.g. "output.outcome_topic",
 * "output.registry_topic") as cb_outcome_read_kafka does, and calls fn for
 * every record, undecoded. Same errors; CB_ERR_CONFIG when key is unset. */
int cb_topic_read_kafka(const cb_config_t *cfg, const char *key, const char *who,
                        cb_topic_read_fn fn, void *opaque, int timeout_ms, int *partitions,
                        cb_error_t *err);

/* Called once per message: o is the decoded outcome (the reader's, valid
 * during the call: copy what you keep), or NULL for a message that did not
 * decode as an outcome (logged at WARN with its partition and offset).
 * Returns 0 to go on, or -1 with err set to stop the reading with that
 * error. */
typedef int (*cb_outcome_read_fn)(void *opaque, const cb_outcome_t *o, cb_error_t *err);

/* Reads output.outcome_topic (kafka.* keys of cfg, with certbridge's Kafka
 * secrets; producer and group settings are ignored) and calls fn for every
 * message. who names the command in log lines ("report"). Fails with
 * CB_ERR_KAFKA when the topic does not exist or is not readable, or when
 * the end is not reached within timeout_ms; CB_ERR_CONFIG for a bad kafka.*
 * key; with fn's error when fn stops it. *partitions gets the partition
 * count (0 when unknown). */
int cb_outcome_read_kafka(const cb_config_t *cfg, const char *who, cb_outcome_read_fn fn,
                          void *opaque, int timeout_ms, int *partitions, cb_error_t *err);

#endif
