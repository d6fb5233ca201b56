/*
 * outcome_read.h: reading the whole outcome topic back, for the commands
 * that show what became of the actions (`certbridge report`, `certbridge
 * approvals`).
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

#include "certbridge/config.h"
#include "certbridge/error.h"
#include "certbridge/outcome.h"

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
