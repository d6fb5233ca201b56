/*
 * committer.c: the committer thread and the transactional producer it owns
 * (committer.h).
 *
 * The thread sleeps on the hand-off's condition variable until the main
 * thread puts a batch into the slot (job), runs the batch's transaction,
 * stores the result and signals back. Error handling follows the flags of
 * cb_error_t (docs/ARCHITECTURE.md §6): a retriable step (send offsets,
 * commit) is called again up to TXN_RETRIES times; a fatal error destroys
 * and rebuilds the producer (init_transactions fences any zombie); anything
 * else aborts the transaction. A rebuilt or aborted batch is reported as
 * aborted, so the main thread rewinds and replays it.
 */
#include "certbridge/committer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/clock.h"
#include "certbridge/log.h"
#include "certbridge/orgreg_record.h"

#define METADATA_TIMEOUT_MS 5000  /* one metadata request after an aborted transaction */
#define MAX_FENCED_REBUILDS 3     /* rebuilds in a row without a commit before giving up */
#define TXN_RETRIES         1     /* extra calls of a step that failed retriably */
#define DESCRIBE_TIMEOUT_MS 10000 /* DescribeConfigs of the dead-letter topic, at start */
/* room kept for the headers a cut adds (certbridge.value.truncated,
 * .value.original_bytes, .headers.dropped, .key.original_bytes) */
#define CUT_HEADERS_BYTES 256

typedef enum thread_state { THREAD_STARTING = 0, THREAD_READY, THREAD_FAILED } thread_state_t;

struct cb_committer {
    /* set by cb_committer_new / cb_committer_start, read-only afterwards */
    rd_kafka_conf_t *conf; /* the producer template */
    rd_kafka_t *consumer;
    cb_metrics_t *metrics;
    const char *txn_id, *outcome_topic, *dlq_topic, *state_topic, *registry_topic;
    cb_outcome_encoder_t *enc;

    /* the committer thread's own */
    rd_kafka_t *producer;
    int fenced_rebuilds;
    size_t dlq_limit;             /* bytes one dead letter may take (cb_dead_letter_fit) */
    size_t producer_limit;        /* the producer's message.max.bytes */
    rd_kafka_queue_t *describe_q; /* the DescribeConfigs of the dead-letter topic, unanswered */
    /* a topic this instance cannot write (deleted, or not authorized), seen
     * in a delivery report of the open transaction: no replay can help */
    char unwritable_topic[256];
    char unwritable_why[256];
    char failed_topic[256];            /* the first topic a delivery failed on */
    char refused_topic[256];           /* the first topic the broker refused a write to */
    rd_kafka_resp_err_t last_txn_code; /* of the last failed transactional step */
    int refused_in_a_row;              /* aborts in a row on a write the broker refused */

    /* the main thread's own */
    pthread_t thread;
    bool started; /* the thread runs (start succeeded, stop not yet called) */
    bool busy;    /* a batch was handed over and its result not yet collected */

    /* the hand-off: under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    thread_state_t state;
    cb_error_t start_err;
    bool job, quit;
    cb_batch_t slot; /* owned by the committer thread while job is set */
    int result;
    cb_error_t result_err;
    cb_committer_stats_t stats;
};

/* ---- errors ------------------------------------------------------------ */

int cb_committer_kafka_error(cb_error_t *err, rd_kafka_error_t *e, const char *what)
{
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    unsigned flags = 0;

    if (rd_kafka_error_is_fatal(e) || code == RD_KAFKA_RESP_ERR__FATAL ||
        code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED)
        flags |= CB_ERRF_FATAL;
    if (rd_kafka_error_txn_requires_abort(e))
        flags |= CB_ERRF_ABORTABLE;
    if (rd_kafka_error_is_retriable(e))
        flags |= CB_ERRF_RETRIABLE;
    cb_error_setf(err, CB_ERR_KAFKA, flags, "%s: %s", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
}

/* A plain librdkafka error code (a produce call's), converted as above. */
static int code_error(cb_error_t *err, rd_kafka_resp_err_t code, const char *what,
                      const char *topic)
{
    return cb_committer_kafka_error(
        err, rd_kafka_error_new(code, "%s: %s", topic, rd_kafka_err2str(code)), what);
}

/* A failed transactional step: converted as cb_committer_kafka_error says,
 * its librdkafka code kept for the unwritable-topic check. */
static int txn_error(cb_committer_t *c, cb_error_t *err, rd_kafka_error_t *e, const char *what)
{
    c->last_txn_code = rd_kafka_error_code(e);
    return cb_committer_kafka_error(err, e, what);
}

/* Whether topic exists in the cluster's metadata: false only when the
 * broker says it does not (a metadata request that fails says nothing). */
static bool topic_gone(cb_committer_t *c, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(c->producer, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    bool gone = false;

    if (t &&
        rd_kafka_metadata(c->producer, 0, t, &md, METADATA_TIMEOUT_MS) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1)
        gone = md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
               md->topics[0].err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    return gone;
}

/* After an aborted transaction: whether a topic of it cannot be written by
 * this instance at all (deleted, or writes not authorized), so that every
 * replay would abort alike. Fills err (CB_ERR_CONFIG, fatal) naming the
 * topic; the batch had dead letters when dlq. */
static int check_unwritable(cb_committer_t *c, bool dlq, cb_error_t *err)
{
    const char *topic = NULL, *why = NULL;
    char both[600];

    if (c->unwritable_topic[0]) {
        topic = c->unwritable_topic;
        why = c->unwritable_why;
    } else if ((c->refused_topic[0] ||
                c->last_txn_code == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) &&
               ++c->refused_in_a_row >= 2) {
        /* the broker refused to add a partition to the transaction, twice
         * in a row (once may be an ACL change on its way): one of the
         * topics this batch wrote */
        if (dlq)
            snprintf(both, sizeof(both), "%s or %s", c->outcome_topic, c->dlq_topic);
        topic = c->refused_topic[0] ? c->refused_topic : dlq ? both : c->outcome_topic;
        why = "not authorized to write (TOPIC_AUTHORIZATION_FAILED)";
    } else if (c->failed_topic[0] || c->last_txn_code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        /* a delivery failed, or the coordinator could not add a partition:
         * the first failed delivery may be on another topic of the same
         * transaction (its messages purged when it aborted), so every topic
         * the transaction wrote is looked up */
        const char *written[5] = {c->failed_topic[0] ? c->failed_topic : NULL, c->outcome_topic,
                                  c->state_topic, dlq ? c->dlq_topic : NULL, c->registry_topic};
        size_t i;
        for (i = 0; i < 5 && !topic; i++)
            if (written[i] && *written[i] && topic_gone(c, written[i]))
                topic = written[i];
        why = "it no longer exists";
    }
    if (!topic)
        return 0;
    return cb_error_setf(err, CB_ERR_CONFIG, CB_ERRF_FATAL,
                         "topic %s cannot be written: %s; check that it exists and that "
                         "certbridge may write to it (nothing of the batch was committed)",
                         topic, why);
}

/* ---- the batch --------------------------------------------------------- */

void cb_batch_free(cb_batch_t *b)
{
    size_t i;

    for (i = 0; i < b->n_works; i++)
        cb_work_clear(&b->works[i]);
    free(b->works);
    free(b->dead);
    for (i = 0; i < b->n_finals; i++)
        cb_outcome_clear(&b->finals[i]);
    free(b->finals);
    cb_state_recs_free(&b->recs);
    if (b->offsets)
        rd_kafka_topic_partition_list_destroy(b->offsets);
    for (i = 0; i < b->n_msgs; i++)
        rd_kafka_message_destroy(b->msgs[i]);
    free(b->msgs);
    memset(b, 0, sizeof(*b));
}

/* ---- the producer (committer thread) ----------------------------------- */

/* Creates the producer from a copy of the template and runs
 * init_transactions, which fences an older producer with the same
 * transactional id and finishes the transaction it left open. */
/* Whether a delivery error says the topic cannot be written by this
 * instance at all: it does not exist (and is not created for us) or the
 * broker refuses our principal. A retry of the batch would fail alike. */
static bool unwritable(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
}

/* librdkafka's delivery report, served on the committer thread (inside
 * produce, flush and commit): remembers the first unwritable topic. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    cb_committer_t *c = opaque;

    (void)rk;
    if (m->err && !c->failed_topic[0])
        snprintf(c->failed_topic, sizeof(c->failed_topic), "%s", rd_kafka_topic_name(m->rkt));
    if (m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED && !c->refused_topic[0])
        snprintf(c->refused_topic, sizeof(c->refused_topic), "%s", rd_kafka_topic_name(m->rkt));
    if (m->err && unwritable(m->err) && !c->unwritable_topic[0]) {
        snprintf(c->unwritable_topic, sizeof(c->unwritable_topic), "%s",
                 rd_kafka_topic_name(m->rkt));
        snprintf(c->unwritable_why, sizeof(c->unwritable_why), "%s", rd_kafka_err2str(m->err));
    }
}

static int producer_create(cb_committer_t *c, cb_error_t *err)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(c->conf);
    rd_kafka_error_t *e;

    if (!conf)
        return cb_error_setf(err, CB_ERR_NOMEM, CB_ERRF_FATAL, "kafka producer: out of memory");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, c);
    c->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!c->producer) {
        rd_kafka_conf_destroy(conf);
        return cb_error_setf(err, CB_ERR_CONFIG, CB_ERRF_FATAL, "kafka producer: %s", errstr);
    }
    if ((e = rd_kafka_init_transactions(c->producer, CB_COMMITTER_TXN_TIMEOUT_MS))) {
        cb_committer_kafka_error(err, e, "init_transactions");
        rd_kafka_destroy(c->producer);
        c->producer = NULL;
        return -1;
    }
    return 0;
}

/* Produces one message into the open transaction (the payload is copied),
 * waiting while librdkafka's queue is full. hdrs is taken. partition
 * RD_KAFKA_PARTITION_UA lets the partitioner choose. */
static int produce_to(cb_committer_t *c, const char *topic, int32_t partition, const void *key,
                      size_t keylen, void *val, size_t len, rd_kafka_headers_t *hdrs,
                      cb_error_t *err)
{
    rd_kafka_resp_err_t e;

    for (;;) {
        e = rd_kafka_producev(c->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_KEY((void *)key, keylen), RD_KAFKA_V_VALUE(val, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                              RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(c->producer, 50);
    }
    if (e) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return code_error(err, e, "produce", topic);
    }
    return 0;
}

static int produce_one(cb_committer_t *c, const char *topic, const void *key, size_t keylen,
                       void *val, size_t len, rd_kafka_headers_t *hdrs, cb_error_t *err)
{
    return produce_to(c, topic, RD_KAFKA_PARTITION_UA, key, keylen, val, len, hdrs, err);
}

/* ---- dead letters that fit (committer.h) ------------------------------- */

void cb_dead_letter_fit(size_t limit, size_t key_len, size_t value_len, size_t orig_hdr_bytes,
                        size_t own_hdr_bytes, cb_dead_letter_fit_t *out)
{
    size_t fixed = CB_DEAD_LETTER_OVERHEAD + own_hdr_bytes;
    size_t room = limit > fixed ? limit - fixed : 0;

    out->key_len = key_len;
    out->value_len = value_len;
    out->keep_headers = true;
    if (key_len <= room && orig_hdr_bytes <= room - key_len &&
        value_len <= room - key_len - orig_hdr_bytes)
        return;
    if (out->key_len > room / 4)
        out->key_len = room / 4;
    room -= out->key_len;
    if (orig_hdr_bytes > room / 2)
        out->keep_headers = false;
    else
        room -= orig_hdr_bytes;
    if (out->value_len > room)
        out->value_len = room;
}

/* The bytes headers take in a record, as cb_dead_letter_fit counts them;
 * *count (may be NULL) receives how many there are. */
static size_t headers_bytes(const rd_kafka_headers_t *h, size_t *count)
{
    const char *name;
    const void *v;
    size_t len, i, total = 0;

    for (i = 0; h && rd_kafka_header_get_all(h, i, &name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++)
        total += strlen(name) + len + CB_DEAD_LETTER_HEADER_OVERHEAD;
    if (count)
        *count = i;
    return total;
}

/* Appends every header of from to to. */
static void headers_append(rd_kafka_headers_t *to, const rd_kafka_headers_t *from)
{
    const char *name;
    const void *v;
    size_t len, i;

    for (i = 0; rd_kafka_header_get_all(from, i, &name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++)
        rd_kafka_header_add(to, name, -1, v, (ssize_t)len);
}

/* A dead letter: the original key, value and headers, plus the reason and
 * where the message came from; cut to fit the dead-letter topic
 * (cb_dead_letter_fit), the cut said in headers and in the message. */
static int produce_dead(cb_committer_t *c, const cb_dead_letter_t *d, cb_error_t *err)
{
    rd_kafka_headers_t *orig = NULL, *own = rd_kafka_headers_new(8), *h;
    const rd_kafka_message_t *m = d->msg;
    const char *topic = rd_kafka_topic_name(m->rkt);
    char num[32], msg[CB_ERRMSG_MAX + 160];
    cb_dead_letter_fit_t fit;
    size_t n_orig = 0, orig_bytes;

    if (rd_kafka_message_headers(m, &orig) != RD_KAFKA_RESP_ERR_NO_ERROR)
        orig = NULL;
    orig_bytes = headers_bytes(orig, &n_orig);
    /* the message is counted as it may grow below (the cut's note) */
    snprintf(msg, sizeof(msg), "%s", d->err.msg);
    rd_kafka_header_add(own, "certbridge.error.class", -1, cb_errcode_name(d->err.code), -1);
    rd_kafka_header_add(own, "certbridge.source.topic", -1, topic, -1);
    snprintf(num, sizeof(num), "%d", (int)m->partition); /* at most 11 characters */
    rd_kafka_header_add(own, "certbridge.source.partition", -1, num, -1);
    snprintf(num, sizeof(num), "%lld", (long long)m->offset); /* at most 20 */
    rd_kafka_header_add(own, "certbridge.source.offset", -1, num, -1);
    cb_dead_letter_fit(c->dlq_limit, m->key_len, m->len, orig_bytes,
                       headers_bytes(own, NULL) + strlen("certbridge.error.message") + sizeof(msg) +
                           CB_DEAD_LETTER_HEADER_OVERHEAD + CUT_HEADERS_BYTES,
                       &fit);
    h = fit.keep_headers && orig ? rd_kafka_headers_copy(orig) : rd_kafka_headers_new(12);
    headers_append(h, own);
    rd_kafka_headers_destroy(own);
    if (fit.value_len < m->len) {
        size_t n = strlen(msg);
        snprintf(msg + n, sizeof(msg) - n,
                 " (value cut to %zu of %zu bytes to fit the dead-letter topic; the whole value "
                 "is at %s/%d@%lld)",
                 fit.value_len, m->len, topic, (int)m->partition, (long long)m->offset);
        rd_kafka_header_add(h, "certbridge.value.truncated", -1, "true", -1);
        snprintf(num, sizeof(num), "%zu", m->len);
        rd_kafka_header_add(h, "certbridge.value.original_bytes", -1, num, -1);
    }
    if (!fit.keep_headers && n_orig) {
        snprintf(num, sizeof(num), "%zu", n_orig);
        rd_kafka_header_add(h, "certbridge.headers.dropped", -1, num, -1);
    }
    if (fit.key_len < m->key_len) {
        snprintf(num, sizeof(num), "%zu", m->key_len);
        rd_kafka_header_add(h, "certbridge.key.original_bytes", -1, num, -1);
    }
    rd_kafka_header_add(h, "certbridge.error.message", -1, msg, -1);
    if (fit.value_len < m->len || fit.key_len < m->key_len || (!fit.keep_headers && n_orig))
        cb_log(CB_LOG_WARN, "committer",
               "dead letter %s[%d]@%lld cut to fit %zu bytes: value %zu of %zu bytes, key %zu of "
               "%zu, %zu original header(s) %s",
               topic, (int)m->partition, (long long)m->offset, c->dlq_limit, fit.value_len, m->len,
               fit.key_len, m->key_len, n_orig, fit.keep_headers ? "kept" : "dropped");
    return produce_one(c, c->dlq_topic, m->key, fit.key_len, m->payload, fit.value_len, h, err);
}

/* A size setting of the producer template, def when unset or unreadable. */
static size_t conf_size(const rd_kafka_conf_t *conf, const char *key, size_t def)
{
    char buf[32];
    size_t sz = sizeof(buf);

    if (rd_kafka_conf_get(conf, key, buf, &sz) != RD_KAFKA_CONF_OK)
        return def;
    return (size_t)strtoull(buf, NULL, 10) ? (size_t)strtoull(buf, NULL, 10) : def;
}

/* Asks the broker for the dead-letter topic's max.message.bytes
 * (DescribeConfigs) without waiting, so that a broker without a controller
 * (librdkafka's mock cluster) does not hold up the start: the answer is
 * picked up by dead_letter_limit_poll before a later batch. Until then, and
 * when no answer comes, the topic is assumed to take Kafka's default.
 * Committer thread, with a producer. */
static void dead_letter_limit_ask(cb_committer_t *c)
{
    rd_kafka_ConfigResource_t *res =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, c->dlq_topic);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(c->producer, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char errstr[256];

    c->producer_limit = conf_size(c->conf, "message.max.bytes", 1000000);
    if (!c->dlq_limit)
        c->dlq_limit = c->producer_limit < CB_DEAD_LETTER_TOPIC_DEFAULT
                           ? c->producer_limit
                           : CB_DEAD_LETTER_TOPIC_DEFAULT;
    c->describe_q = rd_kafka_queue_new(c->producer);
    rd_kafka_AdminOptions_set_request_timeout(opt, DESCRIBE_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_DescribeConfigs(c->producer, &res, 1, opt, c->describe_q);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_ConfigResource_destroy(res);
}

/* Forgets a DescribeConfigs still unanswered (before the producer goes). */
static void dead_letter_limit_drop(cb_committer_t *c)
{
    if (c->describe_q)
        rd_kafka_queue_destroy(c->describe_q);
    c->describe_q = NULL;
}

/* Picks up the answer of dead_letter_limit_ask, waiting for it up to
 * wait_ms (a batch with dead letters waits, once: its limit must be the
 * topic's): dlq_limit is then the smaller of the producer's
 * message.max.bytes and the topic's max.message.bytes (Kafka's default when
 * the broker did not tell). Committer thread. */
static void dead_letter_limit_poll(cb_committer_t *c, int wait_ms)
{
    rd_kafka_event_t *ev;
    size_t topic = 0, batch;
    char why[256];

    if (!c->describe_q || !(ev = rd_kafka_queue_poll(c->describe_q, wait_ms)))
        return;
    snprintf(why, sizeof(why), "no answer");
    if (rd_kafka_event_error(ev)) {
        snprintf(why, sizeof(why), "%s", rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_DescribeConfigs_result_t *r = rd_kafka_event_DescribeConfigs_result(ev);
        size_t n = 0, nc = 0, i;
        const rd_kafka_ConfigResource_t **rs =
            r ? rd_kafka_DescribeConfigs_result_resources(r, &n) : NULL;
        if (n == 1 && rd_kafka_ConfigResource_error(rs[0])) {
            snprintf(why, sizeof(why), "%s", rd_kafka_ConfigResource_error_string(rs[0]));
        } else if (n == 1) {
            const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rs[0], &nc);
            for (i = 0; i < nc; i++)
                if (!strcmp(rd_kafka_ConfigEntry_name(ce[i]), "max.message.bytes") &&
                    rd_kafka_ConfigEntry_value(ce[i]))
                    topic = (size_t)strtoull(rd_kafka_ConfigEntry_value(ce[i]), NULL, 10);
        }
    }
    rd_kafka_event_destroy(ev);
    dead_letter_limit_drop(c);
    if (!topic) /* an assumption, not a failure: info */
        cb_log(CB_LOG_INFO, "committer",
               "dead-letter topic %s: max.message.bytes unknown (%s); assuming Kafka's default "
               "of %d bytes",
               c->dlq_topic, why, CB_DEAD_LETTER_TOPIC_DEFAULT);
    if (!topic)
        topic = CB_DEAD_LETTER_TOPIC_DEFAULT;
    c->dlq_limit = c->producer_limit < topic ? c->producer_limit : topic;
    cb_log(CB_LOG_INFO, "committer",
           "dead letters: at most %zu bytes each (producer message.max.bytes %zu, topic %s "
           "max.message.bytes %zu); larger values are cut",
           c->dlq_limit, c->producer_limit, c->dlq_topic, topic);
    batch = conf_size(c->conf, "batch.size", 1000000);
    if (topic < batch)
        cb_log(CB_LOG_WARN, "committer",
               "dead-letter topic %s accepts batches of at most %zu bytes, the producer makes "
               "them up to %zu (batch.size): set kafka.batch.size=%zu",
               c->dlq_topic, topic, batch, topic);
}

/* The offsets to commit: last offset + 1 of every partition in the batch,
 * and the positions the pipeline added (the larger wins). */
static rd_kafka_topic_partition_list_t *batch_offsets(const cb_batch_t *b)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(8);
    size_t i;
    int k;

    for (k = 0; b->offsets && k < b->offsets->cnt; k++) {
        const rd_kafka_topic_partition_t *p = &b->offsets->elems[k];
        rd_kafka_topic_partition_t *tp;
        if (p->offset < 0)
            continue;
        tp = rd_kafka_topic_partition_list_find(offs, p->topic, p->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(offs, p->topic, p->partition);
        if (p->offset > tp->offset)
            tp->offset = p->offset;
    }

    for (i = 0; i < b->n_msgs; i++) {
        rd_kafka_message_t *m = b->msgs[i];
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(offs, rd_kafka_topic_name(m->rkt), m->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(offs, rd_kafka_topic_name(m->rkt), m->partition);
        if (m->offset + 1 > tp->offset)
            tp->offset = m->offset + 1;
    }
    return offs;
}

/* Whether a failed transactional step may simply be called again: retriable,
 * and neither requiring an abort nor fatal. */
static bool step_retriable(const cb_error_t *err)
{
    return cb_error_is_retriable(err) && !cb_error_is_abortable(err) && !cb_error_is_fatal(err);
}

/* Sends the batch's offsets with the group's metadata. A retriable failure
 * sends them again (TXN_RETRIES): committing without them would make the
 * outcomes visible and still replay the batch. */
static int send_offsets(cb_committer_t *c, const cb_batch_t *b, cb_error_t *err)
{
    rd_kafka_topic_partition_list_t *offs = batch_offsets(b);
    rd_kafka_consumer_group_metadata_t *cgmd;
    rd_kafka_error_t *e;
    int tries, rc = 0;

    if (!offs->cnt) { /* nothing read yet, nothing committed: no offsets to send */
        rd_kafka_topic_partition_list_destroy(offs);
        return 0;
    }
    cgmd = rd_kafka_consumer_group_metadata(c->consumer);
    for (tries = 0;; tries++) {
        e = rd_kafka_send_offsets_to_transaction(c->producer, offs, cgmd,
                                                 CB_COMMITTER_TXN_TIMEOUT_MS);
        if (!e)
            break;
        rc = txn_error(c, err, e, "send_offsets_to_transaction");
        if (!step_retriable(err) || tries >= TXN_RETRIES)
            break;
        cb_log(CB_LOG_WARN, "committer", "%s; retrying", err->msg);
        rc = 0;
    }
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    rd_kafka_topic_partition_list_destroy(offs);
    return rc;
}

/* Commits the open transaction; a retriable failure (e.g. a timeout)
 * commits again (TXN_RETRIES). */
static int commit_txn(cb_committer_t *c, cb_error_t *err)
{
    rd_kafka_error_t *e;
    int tries;

    for (tries = 0;; tries++) {
        if (!(e = rd_kafka_commit_transaction(c->producer, CB_COMMITTER_TXN_TIMEOUT_MS)))
            return 0;
        txn_error(c, err, e, "commit_transaction");
        if (!step_retriable(err) || tries >= TXN_RETRIES)
            return -1;
        cb_log(CB_LOG_WARN, "committer", "%s; retrying", err->msg);
    }
}

/* The registry topic's records of the org events read in this batch (a
 * resumed event's were written with the batch that read it), keyed by
 * organization code (orgreg_record.h). */
static int produce_registry(cb_committer_t *c, const cb_batch_t *b, cb_error_t *err)
{
    cb_orgreg_recs_t recs = {0};
    size_t i;
    int rc = 0;

    for (i = 0; i < b->n_works; i++)
        if (!b->works[i].resumed && cb_orgreg_event_records(&b->works[i].ev, &recs, err) < 0)
            return -1;
    for (i = 0; i < recs.n && rc == 0; i++)
        rc = produce_one(c, c->registry_topic, recs.v[i].key, strlen(recs.v[i].key),
                         recs.v[i].value, recs.v[i].value_len, NULL, err);
    cb_orgreg_recs_free(&recs);
    return rc;
}

/* Produces the batch's outcomes and dead letters and its offsets in one
 * transaction, and commits it. 0, or -1 with err flagged as librdkafka
 * judged the failing step (an outcome that cannot be encoded: no flag). */
static int transact(cb_committer_t *c, const cb_batch_t *b, cb_error_t *err)
{
    rd_kafka_error_t *e;
    size_t i, j;

    if ((e = rd_kafka_begin_transaction(c->producer)))
        return txn_error(c, err, e, "begin_transaction");
    for (i = 0; i < b->n_works; i++) {
        const cb_work_t *w = &b->works[i];
        for (j = 0; j < w->outcome_count; j++) {
            const cb_outcome_t *o = &w->outcomes[j];
            void *buf = NULL;
            size_t len = 0;
            int rc;
            if (cb_outcome_encoder_encode(c->enc, o, &buf, &len, err) < 0)
                return cb_error_prefix(err, "encode outcome %s", o->outcome_id);
            rc = produce_one(c, c->outcome_topic, o->holder_id, strlen(o->holder_id), buf, len,
                             NULL, err);
            free(buf);
            if (rc < 0)
                return -1;
        }
    }
    for (i = 0; i < b->n_finals; i++) {
        const cb_outcome_t *o = &b->finals[i];
        void *buf = NULL;
        size_t len = 0;
        int rc;
        if (cb_outcome_encoder_encode(c->enc, o, &buf, &len, err) < 0)
            return cb_error_prefix(err, "encode outcome %s", o->outcome_id);
        rc = produce_one(c, c->outcome_topic, o->holder_id, strlen(o->holder_id), buf, len, NULL,
                         err);
        free(buf);
        if (rc < 0)
            return -1;
    }
    for (i = 0; i < b->n_dead; i++)
        if (produce_dead(c, &b->dead[i], err) < 0)
            return -1;
    for (i = 0; i < b->recs.n; i++) {
        const cb_state_rec_t *r = &b->recs.v[i];
        if (produce_to(c, c->state_topic, r->partition, r->key, strlen(r->key), r->value, r->len,
                       NULL, err) < 0)
            return -1;
    }
    if (c->registry_topic && produce_registry(c, b, err) < 0)
        return -1;
    if (send_offsets(c, b, err) < 0)
        return -1;
    return commit_txn(c, err);
}

/* What a committed batch adds to the metrics and counters. */
static void count_committed(cb_committer_t *c, const cb_batch_t *b, cb_committer_stats_t *d)
{
    size_t i, j;

    for (i = 0; i < b->n_works; i++) {
        d->outcomes += b->works[i].outcome_count;
        if (!b->works[i].resumed) /* counted when its message was read */
            cb_metrics_event(c->metrics, b->works[i].ev.kind, (int)b->works[i].ev.type);
        for (j = 0; j < b->works[i].outcome_count; j++)
            cb_metrics_action(c->metrics, b->works[i].outcomes[j].action,
                              b->works[i].outcomes[j].status);
    }
    for (i = 0; i < b->n_finals; i++)
        cb_metrics_action(c->metrics, b->finals[i].action, b->finals[i].status);
    d->outcomes += b->n_finals;
    for (i = 0; i < b->n_dead; i++)
        cb_metrics_dead_letter(c->metrics);
    cb_metrics_txn(c->metrics, true);
    d->dead_letters += b->n_dead;
    if (!b->lookups_only)
        d->batches_committed++;
}

/* Replaces the producer: the new one's init_transactions fences the old and
 * aborts its open transaction. -1 (err, fatal) when it keeps being fenced
 * (MAX_FENCED_REBUILDS in a row without a commit) or cannot be made.
 * Committer thread. */
static int rebuild(cb_committer_t *c, cb_error_t *err, cb_committer_stats_t *d)
{
    dead_letter_limit_drop(c); /* the limit known so far stays */
    rd_kafka_destroy(c->producer);
    c->producer = NULL;
    d->producer_rebuilds++;
    if (++c->fenced_rebuilds > MAX_FENCED_REBUILDS)
        return cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_FATAL,
                             "producer fenced %d times in a row: another instance uses "
                             "transactional id \"%s\"",
                             c->fenced_rebuilds - 1, c->txn_id);
    if (producer_create(c, err) < 0) {
        err->flags |= CB_ERRF_FATAL;
        return -1;
    }
    return 0;
}

/* Commits batch b, deciding on the error's flags, and frees it. Returns 1
 * committed, 0 aborted (the producer rebuilt when it was fatal), -1 when
 * the producer cannot go on (err). d receives what changed in the counters.
 * Committer thread. */
static int commit_batch(cb_committer_t *c, cb_batch_t *b, cb_error_t *err, cb_committer_stats_t *d)
{
    cb_error_t terr;
    rd_kafka_error_t *e;
    int rc = 0;

    memset(d, 0, sizeof(*d));
    cb_error_clear(&terr);
    c->unwritable_topic[0] = c->failed_topic[0] = c->refused_topic[0] = '\0';
    c->last_txn_code = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!c->producer && producer_create(c, err) < 0) { /* a rebuild failed before */
        err->flags |= CB_ERRF_FATAL;
        rc = -1;
        goto out;
    }
    dead_letter_limit_poll(c, b->n_dead ? DESCRIBE_TIMEOUT_MS + 2000 : 0);
    if (transact(c, b, &terr) == 0) {
        count_committed(c, b, d);
        c->fenced_rebuilds = 0;
        c->refused_in_a_row = 0;
        if (b->lookups_only)
            cb_log(CB_LOG_DEBUG, "committer", "made %zu lookup record(s) durable in %lld ms",
                   b->recs.n, (long long)(cb_clock_mono_ms() - b->executed_ms));
        else
            cb_log(CB_LOG_DEBUG, "committer",
                   "committed a batch: %zu events, %llu outcomes, %zu dead, %zu state records; "
                   "planned and executed in %lld ms, committed in %lld ms",
                   b->n_msgs, (unsigned long long)d->outcomes, b->n_dead, b->recs.n,
                   (long long)(b->executed_ms - b->started_ms),
                   (long long)(cb_clock_mono_ms() - b->executed_ms));
        rc = 1;
        goto out;
    }
    rd_kafka_poll(c->producer, 0); /* delivery reports not served yet */
    if (cb_error_is_fatal(&terr)) {
        /* fenced or broken: a new producer fences any zombie and starts clean */
        cb_log(CB_LOG_ERROR, "committer", "producer fatal error: %s; rebuilding it", terr.msg);
        if ((rc = rebuild(c, err, d)) < 0)
            goto out;
    } else {
        /* abortable, a retriable step that kept failing, or anything else:
         * nothing of the batch may become visible */
        cb_log(CB_LOG_WARN, "committer", "transaction failed (%s): %s; aborting",
               cb_error_is_abortable(&terr) ? "abortable" : "not committed", terr.msg);
        if ((e = rd_kafka_abort_transaction(c->producer, CB_COMMITTER_TXN_TIMEOUT_MS))) {
            /* e.g. fenced while the broker was away and expired the
             * transaction: a new producer's init_transactions aborts
             * whatever is left open, so rebuilding is always safe */
            cb_committer_kafka_error(&terr, e, "abort_transaction");
            cb_log(CB_LOG_ERROR, "committer", "%s; rebuilding the producer", terr.msg);
            if ((rc = rebuild(c, err, d)) < 0)
                goto out;
        }
    }
    /* nothing was committed (aborted above); a replay that would fail alike
     * stops the instance instead */
    if ((rc = check_unwritable(c, b->n_dead > 0, err)) < 0)
        goto out;
    d->txn_aborts++;
    cb_metrics_txn(c->metrics, false);
out:
    cb_batch_free(b);
    return rc;
}

/* ---- the thread -------------------------------------------------------- */

static void *committer_main(void *arg)
{
    cb_committer_t *c = arg;
    cb_committer_stats_t d;
    cb_error_t err;
    int rc;

    cb_error_clear(&err);
    rc = producer_create(c, &err);
    if (rc == 0)
        dead_letter_limit_ask(c);
    pthread_mutex_lock(&c->mu);
    c->state = rc < 0 ? THREAD_FAILED : THREAD_READY;
    c->start_err = err;
    pthread_cond_broadcast(&c->cv);
    while (rc == 0) {
        while (!c->job && !c->quit)
            pthread_cond_wait(&c->cv, &c->mu);
        if (!c->job)
            break;
        pthread_mutex_unlock(&c->mu);
        cb_error_clear(&err);
        rc = commit_batch(c, &c->slot, &err, &d);
        pthread_mutex_lock(&c->mu);
        c->result = rc;
        c->result_err = err;
        c->stats.outcomes += d.outcomes;
        c->stats.dead_letters += d.dead_letters;
        c->stats.batches_committed += d.batches_committed;
        c->stats.txn_aborts += d.txn_aborts;
        c->stats.producer_rebuilds += d.producer_rebuilds;
        c->job = false;
        pthread_cond_broadcast(&c->cv);
        rc = 0; /* a fatal result is the main thread's to act on; keep serving until quit */
    }
    pthread_mutex_unlock(&c->mu);
    dead_letter_limit_drop(c);
    if (c->producer) {
        rd_kafka_destroy(c->producer);
        c->producer = NULL;
    }
    return NULL;
}

/* ---- the main thread's side -------------------------------------------- */

cb_committer_t *cb_committer_new(const cb_committer_conf_t *conf, cb_error_t *err)
{
    cb_committer_t *c = calloc(1, sizeof(*c));

    if (!c) {
        rd_kafka_conf_destroy(conf->producer_conf);
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->conf = conf->producer_conf;
    c->consumer = conf->consumer;
    c->metrics = conf->metrics;
    c->txn_id = conf->txn_id;
    c->outcome_topic = conf->outcome_topic;
    c->dlq_topic = conf->dlq_topic;
    c->state_topic = conf->state_topic;
    c->registry_topic = conf->registry_topic && *conf->registry_topic ? conf->registry_topic : NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    return c;
}

int cb_committer_start(cb_committer_t *c, cb_outcome_encoder_t *enc, cb_error_t *err)
{
    bool ready;

    if (c->started || c->enc) {
        cb_outcome_encoder_destroy(enc);
        return cb_error_set(err, CB_ERR_INTERNAL, "committer started twice");
    }
    c->enc = enc; /* before the thread exists: it only ever reads it */
    c->state = THREAD_STARTING;
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0)
        return cb_error_set(err, CB_ERR_INTERNAL, "cannot start the committer thread");
    pthread_mutex_lock(&c->mu);
    while (c->state == THREAD_STARTING)
        pthread_cond_wait(&c->cv, &c->mu);
    ready = c->state == THREAD_READY;
    if (!ready)
        *err = c->start_err;
    pthread_mutex_unlock(&c->mu);
    if (!ready) {
        pthread_join(c->thread, NULL);
        return -1;
    }
    c->started = true;
    return 0;
}

int cb_committer_submit(cb_committer_t *c, cb_batch_t *b, cb_error_t *err)
{
    if (!c->started || c->busy) {
        cb_batch_free(b);
        return cb_error_setf(err, CB_ERR_INTERNAL, CB_ERRF_FATAL,
                             "committer: a batch handed over while it was %s",
                             c->started ? "busy" : "not running");
    }
    pthread_mutex_lock(&c->mu);
    c->slot = *b;
    c->job = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    memset(b, 0, sizeof(*b));
    c->busy = true;
    return 0;
}

int cb_committer_settle(cb_committer_t *c, cb_error_t *err)
{
    int rc;

    if (!c->busy)
        return 1;
    pthread_mutex_lock(&c->mu);
    while (c->job)
        pthread_cond_wait(&c->cv, &c->mu);
    rc = c->result;
    if (rc < 0)
        *err = c->result_err;
    pthread_mutex_unlock(&c->mu);
    c->busy = false;
    return rc;
}

int cb_committer_commit(cb_committer_t *c, cb_batch_t *b, cb_error_t *err)
{
    if (cb_committer_submit(c, b, err) < 0)
        return -1;
    return cb_committer_settle(c, err);
}

bool cb_committer_busy(const cb_committer_t *c)
{
    return c->busy;
}

bool cb_committer_done(cb_committer_t *c)
{
    bool job;

    if (!c->busy)
        return true;
    pthread_mutex_lock(&c->mu);
    job = c->job;
    pthread_mutex_unlock(&c->mu);
    return !job;
}

void cb_committer_stop(cb_committer_t *c)
{
    if (!c || !c->started)
        return;
    pthread_mutex_lock(&c->mu);
    c->quit = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL); /* a batch still in the slot is committed first */
    c->started = false;
    c->busy = false;
}

void cb_committer_stats(cb_committer_t *c, cb_committer_stats_t *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    pthread_mutex_unlock(&c->mu);
}

void cb_committer_destroy(cb_committer_t *c)
{
    if (!c)
        return;
    cb_committer_stop(c);
    cb_batch_free(&c->slot);
    cb_outcome_encoder_destroy(c->enc);
    if (c->conf)
        rd_kafka_conf_destroy(c->conf);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
