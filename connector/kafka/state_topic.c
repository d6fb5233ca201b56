/*
 * state_topic.c: making, checking and reading the state topic (see
 * state_topic.h).
 */
#include "certbridge/state_topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/clock.h"
#include "certbridge/log.h"

#define LOAD_POLL_MS     100
#define DESCRIBE_WAIT_MS 2500 /* DescribeConfigs of the state topic, at most */

struct cb_state_topic {
    rd_kafka_t *rk;
    char *topic;
    const char *what, *key; /* in messages: "state topic", "output.state_topic" */
};

/* A consumer of conf (taken: freed also on failure) that reads committed
 * records only, tells the end of a partition and commits nothing; who names
 * it in errors. NULL with err on failure. */
static rd_kafka_t *reader_new(rd_kafka_conf_t *conf, const char *who, cb_error_t *err)
{
    char errstr[512];
    rd_kafka_t *rk;

    if (rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        cb_error_set(err, CB_ERR_CONFIG, "%s: %s", who, errstr);
        return NULL;
    }
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(conf);
        cb_error_set(err, CB_ERR_CONFIG, "%s: %s", who, errstr);
    }
    return rk;
}

cb_state_topic_t *cb_state_topic_new(rd_kafka_conf_t *conf, const char *topic, cb_error_t *err)
{
    cb_state_topic_t *t = calloc(1, sizeof(*t));

    if (!t || !(t->topic = strdup(topic))) {
        free(t);
        rd_kafka_conf_destroy(conf);
        cb_error_set(err, CB_ERR_NOMEM, "state topic: out of memory");
        return NULL;
    }
    t->what = "state topic";
    t->key = "output.state_topic";
    if (!(t->rk = reader_new(conf, "state topic reader", err)))
        goto fail;
    return t;
fail:
    free(t->topic);
    free(t);
    return NULL;
}

void cb_state_topic_destroy(cb_state_topic_t *t)
{
    if (!t)
        return;
    if (t->rk)
        rd_kafka_destroy(t->rk);
    free(t->topic);
    free(t);
}

void cb_state_topic_set_role(cb_state_topic_t *t, const char *what, const char *key)
{
    t->what = what;
    t->key = key;
}

/* The topic's partition count, 0 when it does not exist, -1 on failure. */
static int partition_count(cb_state_topic_t *t, int timeout_ms, cb_error_t *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->rk, t->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    int n = -1;

    if (!rkt)
        return cb_error_set(err, CB_ERR_NOMEM, "state topic: out of memory");
    e = rd_kafka_metadata(t->rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e) {
        return cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE, "%s %s: metadata: %s", t->what,
                             t->topic, rd_kafka_err2str(e));
    }
    if (md->topic_cnt == 1) {
        e = md->topics[0].err;
        if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
            n = 0;
        else if (e)
            cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE, "%s %s: metadata: %s", t->what,
                          t->topic, rd_kafka_err2str(e));
        else
            n = md->topics[0].partition_cnt;
    } else {
        cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE, "%s %s: no metadata", t->what,
                      t->topic);
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

/* Waits for one admin result event on q. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, int timeout_ms)
{
    return rd_kafka_queue_poll(q, timeout_ms + 2000);
}

/* CreateTopics. 0 made (or made meanwhile by another instance), -1 err. */
static int create(cb_state_topic_t *t, int partitions, int replication, int timeout_ms,
                  cb_error_t *err)
{
    char errstr[256];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(t->topic, partitions, replication, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(t->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(t->rk);
    rd_kafka_event_t *ev = NULL;
    int rc = -1;

    if (!nt) {
        cb_error_set(err, CB_ERR_CONFIG, "%s %s: %s", t->what, t->topic, errstr);
        goto out;
    }
    /* compacted, and compacted soon: segments roll every 10 minutes so the
     * log cleaner can drop superseded records and tombstones (the state is
     * read from the beginning whenever partitions are assigned); a
     * tombstone stays an hour, far longer than any load takes */
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_NewTopic_set_config(nt, "segment.ms", "600000");
    rd_kafka_NewTopic_set_config(nt, "min.cleanable.dirty.ratio", "0.1");
    rd_kafka_NewTopic_set_config(nt, "delete.retention.ms", "3600000");
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_operation_timeout(opt, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(t->rk, &nt, 1, opt, q);
    if (!(ev = admin_wait(q, timeout_ms))) {
        cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE, "%s %s: CreateTopics: no answer",
                      t->what, t->topic);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE, "%s %s: CreateTopics: %s", t->what,
                      t->topic, rd_kafka_event_error_string(ev));
        goto out;
    }
    {
        size_t n = 0;
        const rd_kafka_topic_result_t **r =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t e =
            n == 1 ? rd_kafka_topic_result_error(r[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            cb_error_set(err, CB_ERR_KAFKA, "%s %s: CreateTopics: %s", t->what, t->topic,
                         rd_kafka_topic_result_error_string(r[0])
                             ? rd_kafka_topic_result_error_string(r[0])
                             : rd_kafka_err2str(e));
            goto out;
        }
    }
    cb_log(CB_LOG_INFO, "state",
           "made the %s %s: %d partitions, cleanup.policy=compact, segment.ms=600000, "
           "min.cleanable.dirty.ratio=0.1, delete.retention.ms=3600000",
           t->what, t->topic, partitions);
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* The topic's cleanup.policy into buf; 1 when known, 0 when the broker did
 * not tell (unsupported), -1 err. */
static int cleanup_policy(cb_state_topic_t *t, char *buf, size_t size, int timeout_ms,
                          cb_error_t *err)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t->topic);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(t->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_queue_t *q = rd_kafka_queue_new(t->rk);
    rd_kafka_event_t *ev;
    char errstr[256];
    int rc = 0;

    /* a broker answers at once; librdkafka's mock cluster never does, and
     * must not hold up the demo's start */
    if (timeout_ms > DESCRIBE_WAIT_MS)
        timeout_ms = DESCRIBE_WAIT_MS;
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_DescribeConfigs(t->rk, &res, 1, opt, q);
    ev = rd_kafka_queue_poll(q, timeout_ms);
    if (ev && !rd_kafka_event_error(ev)) {
        size_t n = 0, nc = 0, i;
        const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &n);
        if (n == 1 && !rd_kafka_ConfigResource_error(rs[0])) {
            const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rs[0], &nc);
            for (i = 0; i < nc; i++)
                if (!strcmp(rd_kafka_ConfigEntry_name(ce[i]), "cleanup.policy") &&
                    rd_kafka_ConfigEntry_value(ce[i])) {
                    snprintf(buf, size, "%s", rd_kafka_ConfigEntry_value(ce[i]));
                    rc = 1;
                }
        }
    } else {
        cb_log(CB_LOG_WARN, "state", "%s %s: DescribeConfigs: %s; cleanup.policy not checked",
               t->what, t->topic, ev ? rd_kafka_event_error_string(ev) : "no answer");
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_queue_destroy(q);
    (void)err;
    return rc;
}

int cb_state_topic_ensure(cb_state_topic_t *t, int min_partitions, int replication_factor,
                          int timeout_ms, cb_error_t *err)
{
    char policy[128] = "";
    int n = partition_count(t, timeout_ms, err);

    if (n < 0)
        return -1;
    if (n == 0) {
        if (create(t, min_partitions, replication_factor, timeout_ms, err) < 0)
            return -1;
        n = partition_count(t, timeout_ms, err);
        if (n < 0)
            return -1;
        if (n == 0)
            return cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE,
                                 "%s %s: made, but not in the metadata yet", t->what, t->topic);
    }
    if (n < min_partitions)
        return cb_error_set(err, CB_ERR_CONFIG,
                            "%s %s has %d partitions, fewer than the %d of the input "
                            "topics: every input partition k keeps its state in partition k; add "
                            "partitions (kafka-topics --alter --partitions %d) or set "
                            "%s to another topic",
                            t->what, t->topic, n, min_partitions, min_partitions, t->key);
    if (cleanup_policy(t, policy, sizeof(policy), timeout_ms, err) == 1 &&
        strcmp(policy, "compact") != 0)
        return cb_error_set(err, CB_ERR_CONFIG,
                            "%s %s has cleanup.policy=%s: it must be compact (and only "
                            "compact: deleting old records would lose open requests); set it "
                            "with kafka-configs --alter --add-config cleanup.policy=compact, or "
                            "set %s to another topic",
                            t->what, t->topic, policy, t->key);
    return n;
}

/* One state partition being read. */
typedef struct loading {
    int32_t partition;
    int64_t end; /* the high watermark when the load started */
    bool done;
} loading_t;

int cb_state_topic_load(cb_state_topic_t *t, cb_state_t *st, const char *const *topics,
                        size_t n_topics, const int32_t *parts, size_t n, int timeout_ms,
                        cb_error_t *err)
{
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new((int)n);
    loading_t *ld = calloc(n ? n : 1, sizeof(*ld));
    int64_t deadline = cb_clock_mono_ms() + timeout_ms, records = 0;
    size_t i, j, left = 0;
    rd_kafka_resp_err_t e;
    int rc = -1;

    if (!ld || !assign) {
        cb_error_set(err, CB_ERR_NOMEM, "state topic: out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        ld[i].partition = parts[i];
        e = rd_kafka_query_watermark_offsets(t->rk, t->topic, parts[i], &lo, &hi, timeout_ms);
        if (e) {
            cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE,
                          "state topic %s[%d]: watermarks: %s", t->topic, (int)parts[i],
                          rd_kafka_err2str(e));
            goto out;
        }
        ld[i].end = hi;
        ld[i].done = hi <= lo;
        if (!ld[i].done) {
            rd_kafka_topic_partition_list_add(assign, t->topic, parts[i])->offset =
                RD_KAFKA_OFFSET_BEGINNING;
            left++;
        }
    }
    if (left && (e = rd_kafka_assign(t->rk, assign))) {
        cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE, "state topic %s: assign: %s", t->topic,
                      rd_kafka_err2str(e));
        goto out;
    }
    while (left) {
        rd_kafka_message_t *m;
        loading_t *l = NULL;
        if (cb_clock_mono_ms() > deadline) {
            cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE,
                          "state topic %s: not read to its end within %d ms (%zu partition(s) "
                          "left)",
                          t->topic, timeout_ms, left);
            goto unassign;
        }
        if (!(m = rd_kafka_consumer_poll(t->rk, LOAD_POLL_MS)))
            continue;
        for (i = 0; i < n && !l; i++)
            if (ld[i].partition == m->partition)
                l = &ld[i];
        if (!l || l->done) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* read_committed: the end is the last stable offset, which an
             * open transaction holds back; wait until it passes our end */
            if (m->offset >= l->end) {
                l->done = true;
                left--;
            }
        } else if (m->err) {
            cb_log(CB_LOG_WARN, "state", "state topic %s[%d]: %s", t->topic, (int)m->partition,
                   rd_kafka_message_errstr(m));
        } else {
            records++;
            for (j = 0; j < n_topics; j++)
                if (cb_state_load_record(st, topics[j], m->partition, m->key, m->key_len,
                                         m->payload, m->payload ? m->len : 0, err) < 0) {
                    rd_kafka_message_destroy(m);
                    goto unassign;
                }
            if (m->offset + 1 >= l->end) {
                l->done = true;
                left--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    for (i = 0; i < n; i++)
        for (j = 0; j < n_topics; j++)
            if (cb_state_part_loading(st, topics[j], parts[i]) &&
                cb_state_load_finish(st, topics[j], parts[i], err) < 0)
                goto unassign;
    cb_log(CB_LOG_DEBUG, "state", "read %lld state record(s) of %zu partition(s)",
           (long long)records, n);
    rc = 0;
unassign:
    rd_kafka_assign(t->rk, NULL);
out:
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    free(ld);
    return rc;
}

/* ---- the approval gate's shared records -------------------------------- */

struct cb_state_tail {
    rd_kafka_t *rk;
    char *topic;
    int64_t eof_at; /* the offset of the last end reached; -1 none since the last record */
};

cb_state_tail_t *cb_state_tail_new(rd_kafka_conf_t *conf, const char *topic, cb_error_t *err)
{
    cb_state_tail_t *t = calloc(1, sizeof(*t));

    if (!t || !(t->topic = strdup(topic))) {
        free(t);
        rd_kafka_conf_destroy(conf);
        cb_error_set(err, CB_ERR_NOMEM, "state topic: out of memory");
        return NULL;
    }
    t->eof_at = -1;
    if (!(t->rk = reader_new(conf, "approval record reader", err)))
        goto fail;
    if (cb_state_tail_restart(t, err) < 0)
        goto fail;
    return t;
fail:
    cb_state_tail_destroy(t);
    return NULL;
}

void cb_state_tail_destroy(cb_state_tail_t *t)
{
    if (!t)
        return;
    if (t->rk) {
        rd_kafka_assign(t->rk, NULL);
        rd_kafka_destroy(t->rk);
    }
    free(t->topic);
    free(t);
}

int cb_state_tail_restart(cb_state_tail_t *t, cb_error_t *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(l, t->topic, CB_DECISIONS_PARTITION)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    e = rd_kafka_assign(t->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    t->eof_at = -1;
    if (e)
        return cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE, "state topic %s: assign: %s",
                             t->topic, rd_kafka_err2str(e));
    return 0;
}

/* Handles one message of the reader: 1 a record fed to d, 0 otherwise. */
static int tail_one(cb_state_tail_t *t, cb_decisions_t *d, rd_kafka_message_t *m, cb_error_t *err)
{
    int rc = 0;

    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        t->eof_at = m->offset;
    } else if (m->err) {
        cb_log(CB_LOG_WARN, "state", "state topic %s[%d]: %s", t->topic, (int)m->partition,
               rd_kafka_message_errstr(m));
    } else {
        t->eof_at = -1;
        rc = cb_decisions_load_record(d, m->key, m->key_len, m->payload, m->payload ? m->len : 0,
                                      err) < 0
                 ? -1
                 : 1;
    }
    rd_kafka_message_destroy(m);
    return rc;
}

int cb_state_tail_poll(cb_state_tail_t *t, cb_decisions_t *d, size_t max, cb_error_t *err)
{
    rd_kafka_message_t *m;
    int n = 0, rc;

    while ((size_t)n < max && (m = rd_kafka_consumer_poll(t->rk, 0))) {
        if ((rc = tail_one(t, d, m, err)) < 0)
            return -1;
        n += rc;
    }
    return n;
}

int cb_state_tail_catch_up(cb_state_tail_t *t, cb_decisions_t *d, int timeout_ms, cb_error_t *err)
{
    int64_t lo = 0, hi = 0, deadline = cb_clock_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t e;

    e = rd_kafka_query_watermark_offsets(t->rk, t->topic, CB_DECISIONS_PARTITION, &lo, &hi,
                                         timeout_ms);
    if (e)
        return cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE, "state topic %s[%d]: %s",
                             t->topic, CB_DECISIONS_PARTITION, rd_kafka_err2str(e));
    /* the end a read_committed reader reaches is the last stable offset:
     * at hi once the transactions open now have ended */
    while (!(t->eof_at >= hi || hi <= lo)) {
        rd_kafka_message_t *m;
        if (cb_clock_mono_ms() > deadline)
            return cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE,
                                 "state topic %s[%d]: not read to offset %lld within %d ms",
                                 t->topic, CB_DECISIONS_PARTITION, (long long)hi, timeout_ms);
        if ((m = rd_kafka_consumer_poll(t->rk, 100)) && tail_one(t, d, m, err) < 0)
            return -1;
    }
    return 0;
}
