/*
 * kafka_test.h: helpers shared by integration tests that talk to the real
 * broker started by harness/kafka_harness.py.
 */
#ifndef CB_KAFKA_TEST_H
#define CB_KAFKA_TEST_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Reads the bootstrap address ("127.0.0.1:PORT") from the harness's file into
 * buf. Returns 0, or -1 when the file is missing (broker not started). */
int kt_read_bootstrap(const char *path, char *buf, size_t size);

/* A unique name "prefix-<pid>-<counter>-<random>" for topics and groups. */
void kt_unique_name(const char *prefix, char *buf, size_t size);

/* Creates a topic with the given partition count (replication factor 1) and
 * waits for it. Returns 0 or -1 (message in errstr). */
int kt_create_topic(const char *bootstrap, const char *topic, int partitions, char *errstr,
                    size_t errsize);

#endif
