/*
 * outcome_read.c: the outcome topic read back from its beginning to its end
 * (outcome_read.h), for `certbridge report` and `certbridge approvals`.
 */
#include "certbridge/outcome_read.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certbridge/clock.h"
#include "certbridge/codec.h"
#include "certbridge/log.h"
#include "certbridge/secret.h"

typedef struct kconf {
    rd_kafka_conf_t *conf;
    cb_error_t *err;
} kconf_t;

/* kafka.* keys that make no sense for a reader that assigns partitions
 * itself and commits nothing (producer and group-membership settings). */
static const char *const reader_skips[] = {"transactional.id",
                                           "transaction.timeout.ms",
                                           "linger.ms",
                                           "batch.num.messages",
                                           "acks",
                                           "compression.codec",
                                           "compression.type",
                                           "queue.buffering.max.ms",
                                           "queue.buffering.max.messages",
                                           "enable.idempotence",
                                           "group.id",
                                           "group.instance.id",
                                           "partition.assignment.strategy",
                                           "session.timeout.ms",
                                           "heartbeat.interval.ms",
                                           "max.poll.interval.ms",
                                           "enable.auto.commit",
                                           "enable.auto.offset.store",
                                           "isolation.level",
                                           "auto.offset.reset",
                                           NULL};

/* Passes one kafka.* key to the reader's librdkafka configuration, unless
 * it is one a reader must not take (reader_skips). */
static int reader_key(const char *key, const char *value, void *opaque)
{
    kconf_t *k = opaque;
    char errstr[512];
    size_t i;

    for (i = 0; reader_skips[i]; i++)
        if (strcmp(reader_skips[i], key) == 0)
            return 0;
    if (rd_kafka_conf_set(k->conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return cb_error_set(k->err, CB_ERR_CONFIG, "kafka.%s: %s", key, errstr);
    return 0;
}

/* librdkafka's log lines through certbridge's log, at a matching level,
 * under the command's name (the client's opaque, a static string). */
static void reader_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const char *who = rd_kafka_opaque(rk);

    cb_log(level <= 3   ? CB_LOG_ERROR
           : level <= 4 ? CB_LOG_WARN
                        : CB_LOG_DEBUG,
           who ? who : "outcomes", "kafka %s: %s", fac, buf);
}

/* A consumer for reading: the user's kafka.* keys and secrets, then what a
 * reader needs (a fresh group id, read_committed, no commits, EOF events). */
static rd_kafka_t *reader_new(const cb_config_t *cfg, const char *who, cb_error_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    kconf_t k = {conf, err};
    char group[96], errstr[512];
    rd_kafka_t *rk;
    const char *fixed[][2] = {{"group.id", group},
                              {"isolation.level", "read_committed"},
                              {"enable.auto.commit", "false"},
                              {"enable.auto.offset.store", "false"},
                              {"enable.partition.eof", "true"},
                              {"auto.offset.reset", "earliest"}};
    size_t i;

    snprintf(group, sizeof(group), "certbridge-%.32s-%ld-%lld", who, (long)getpid(),
             (long long)cb_clock_wall_ms());
    rd_kafka_conf_set_opaque(conf, (void *)who);
    rd_kafka_conf_set_log_cb(conf, reader_log);
    if (cb_config_foreach_kafka(cfg, reader_key, &k) < 0 ||
        cb_secret_foreach_kafka(cfg, reader_key, &k, err) < 0)
        goto fail;
    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            cb_error_set(err, CB_ERR_CONFIG, "%s: %s", fixed[i][0], errstr);
            goto fail;
        }
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        cb_error_set(err, CB_ERR_CONFIG, "kafka consumer: %s", errstr);
        goto fail;
    }
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* The partition count of topic, or -1 with err. */
static int topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, cb_error_t *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    int n = -1;

    if (!rkt)
        return cb_error_set(err, CB_ERR_KAFKA, "output.outcome_topic: bad topic name \"%.200s\"",
                            topic);
    e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (e)
        cb_error_set(err, CB_ERR_KAFKA, "kafka metadata: %s", rd_kafka_err2str(e));
    else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0)
        cb_error_set(err, CB_ERR_KAFKA, "output.outcome_topic: topic \"%.200s\": %s", topic,
                     md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                             : "no partitions");
    else
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

int cb_outcome_read_kafka(const cb_config_t *cfg, const char *who, cb_outcome_read_fn fn,
                          void *opaque, int timeout_ms, int *partitions, cb_error_t *err)
{
    const char *topic = cb_config_get(cfg, "output.outcome_topic");
    rd_kafka_topic_partition_list_t *parts = NULL;
    cb_codec_t *codec = NULL;
    rd_kafka_t *rk;
    bool *at_end = NULL;
    int n, ends = 0, i, rc = -1;
    int64_t deadline = cb_clock_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t e;

    *partitions = 0;
    if (!(rk = reader_new(cfg, who, err)))
        return -1;
    if (!(codec = cb_codec_new(cfg, err)))
        goto out;
    if ((n = topic_partitions(rk, topic, timeout_ms, err)) < 0)
        goto out;
    *partitions = n;
    at_end = calloc((size_t)n, sizeof(bool));
    parts = rd_kafka_topic_partition_list_new(n);
    if (!at_end || !parts) {
        cb_error_set(err, CB_ERR_NOMEM, "%s: out of memory", who);
        goto out;
    }
    for (i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        /* an empty partition is at its end already */
        if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, timeout_ms) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            lo == hi) {
            at_end[i] = true;
            ends++;
        }
    }
    if ((e = rd_kafka_assign(rk, parts))) {
        cb_error_set(err, CB_ERR_KAFKA, "assign: %s", rd_kafka_err2str(e));
        goto out;
    }
    while (ends < n) {
        rd_kafka_message_t *m;
        if (cb_clock_mono_ms() > deadline) {
            cb_error_set(err, CB_ERR_KAFKA,
                         "%d of %d partitions of \"%.200s\" did not reach their end within %d ms",
                         n - ends, n, topic, timeout_ms);
            goto out;
        }
        if (!(m = rd_kafka_consumer_poll(rk, 200)))
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < n && !at_end[m->partition]) {
                at_end[m->partition] = true;
                ends++;
            }
        } else if (m->err) {
            cb_log(CB_LOG_WARN, who, "reading %s [%d]: %s", topic, (int)m->partition,
                   rd_kafka_message_errstr(m));
            if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
                cb_error_set(err, CB_ERR_KAFKA, "reading \"%.200s\": %s", topic,
                             rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                goto out;
            }
        } else {
            cb_outcome_t o;
            cb_error_t derr;
            int arc;
            if (cb_codec_decode_outcome(codec, m->payload, m->len, &o, &derr) < 0) {
                cb_log(CB_LOG_WARN, who, "%s [%d] offset %lld: not an outcome: %s", topic,
                       (int)m->partition, (long long)m->offset, derr.msg);
                arc = fn(opaque, NULL, err);
            } else {
                arc = fn(opaque, &o, err);
                cb_outcome_clear(&o);
            }
            if (arc < 0) {
                rd_kafka_message_destroy(m);
                goto out;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rc = 0;
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    free(at_end);
    cb_codec_destroy(codec);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
