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

#define MAX_FENCED_REBUILDS 3 /* rebuilds in a row without a commit before giving up */
#define TXN_RETRIES         1 /* extra calls of a step that failed retriably */

typedef enum thread_state { THREAD_STARTING = 0, THREAD_READY, THREAD_FAILED } thread_state_t;

struct cb_committer {
    /* set by cb_committer_new / cb_committer_start, read-only afterwards */
    rd_kafka_conf_t *conf; /* the producer template */
    rd_kafka_t *consumer;
    cb_metrics_t *metrics;
    const char *txn_id, *outcome_topic, *dlq_topic;
    cb_outcome_encoder_t *enc;

    /* the committer thread's own */
    rd_kafka_t *producer;
    int fenced_rebuilds;

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

/* ---- the batch --------------------------------------------------------- */

void cb_batch_free(cb_batch_t *b)
{
    size_t i;

    for (i = 0; i < b->n_works; i++)
        cb_work_clear(&b->works[i]);
    free(b->works);
    free(b->dead);
    for (i = 0; i < b->n_msgs; i++)
        rd_kafka_message_destroy(b->msgs[i]);
    free(b->msgs);
    memset(b, 0, sizeof(*b));
}

/* ---- the producer (committer thread) ----------------------------------- */

/* Creates the producer from a copy of the template and runs
 * init_transactions, which fences an older producer with the same
 * transactional id and finishes the transaction it left open. */
static int producer_create(cb_committer_t *c, cb_error_t *err)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(c->conf);
    rd_kafka_error_t *e;

    if (!conf)
        return cb_error_setf(err, CB_ERR_NOMEM, CB_ERRF_FATAL, "kafka producer: out of memory");
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
 * waiting while librdkafka's queue is full. hdrs is taken. */
static int produce_one(cb_committer_t *c, const char *topic, const void *key, size_t keylen,
                       void *val, size_t len, rd_kafka_headers_t *hdrs, cb_error_t *err)
{
    rd_kafka_resp_err_t e;

    for (;;) {
        e = rd_kafka_producev(c->producer, RD_KAFKA_V_TOPIC(topic),
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

/* A dead letter: the original key, value and headers, plus the reason and
 * where the message came from. */
static int produce_dead(cb_committer_t *c, const cb_dead_letter_t *d, cb_error_t *err)
{
    rd_kafka_headers_t *orig = NULL, *h;
    char num[32];
    const char *topic = rd_kafka_topic_name(d->msg->rkt);

    if (rd_kafka_message_headers(d->msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(6);
    rd_kafka_header_add(h, "certbridge.error.class", -1, cb_errcode_name(d->err.code), -1);
    rd_kafka_header_add(h, "certbridge.error.message", -1, d->err.msg, -1);
    rd_kafka_header_add(h, "certbridge.source.topic", -1, topic, -1);
    snprintf(num, sizeof(num), "%d", (int)d->msg->partition); /* at most 11 characters */
    rd_kafka_header_add(h, "certbridge.source.partition", -1, num, -1);
    snprintf(num, sizeof(num), "%lld", (long long)d->msg->offset); /* at most 20 */
    rd_kafka_header_add(h, "certbridge.source.offset", -1, num, -1);
    return produce_one(c, c->dlq_topic, d->msg->key, d->msg->key_len, d->msg->payload, d->msg->len,
                       h, err);
}

/* The offsets to commit: last offset + 1 of every partition in the batch. */
static rd_kafka_topic_partition_list_t *batch_offsets(const cb_batch_t *b)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(8);
    size_t i;

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
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(c->consumer);
    rd_kafka_error_t *e;
    int tries, rc = 0;

    for (tries = 0;; tries++) {
        e = rd_kafka_send_offsets_to_transaction(c->producer, offs, cgmd,
                                                 CB_COMMITTER_TXN_TIMEOUT_MS);
        if (!e)
            break;
        rc = cb_committer_kafka_error(err, e, "send_offsets_to_transaction");
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
        cb_committer_kafka_error(err, e, "commit_transaction");
        if (!step_retriable(err) || tries >= TXN_RETRIES)
            return -1;
        cb_log(CB_LOG_WARN, "committer", "%s; retrying", err->msg);
    }
}

/* Produces the batch's outcomes and dead letters and its offsets in one
 * transaction, and commits it. 0, or -1 with err flagged as librdkafka
 * judged the failing step (an outcome that cannot be encoded: no flag). */
static int transact(cb_committer_t *c, const cb_batch_t *b, cb_error_t *err)
{
    rd_kafka_error_t *e;
    size_t i, j;

    if ((e = rd_kafka_begin_transaction(c->producer)))
        return cb_committer_kafka_error(err, e, "begin_transaction");
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
    for (i = 0; i < b->n_dead; i++)
        if (produce_dead(c, &b->dead[i], err) < 0)
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
        cb_metrics_event(c->metrics, b->works[i].ev.kind, (int)b->works[i].ev.type);
        for (j = 0; j < b->works[i].outcome_count; j++)
            cb_metrics_action(c->metrics, b->works[i].outcomes[j].action,
                              b->works[i].outcomes[j].status);
    }
    for (i = 0; i < b->n_dead; i++)
        cb_metrics_dead_letter(c->metrics);
    cb_metrics_txn(c->metrics, true);
    d->dead_letters += b->n_dead;
    d->batches_committed++;
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
    if (!c->producer && producer_create(c, err) < 0) { /* a rebuild failed before */
        err->flags |= CB_ERRF_FATAL;
        rc = -1;
        goto out;
    }
    if (transact(c, b, &terr) == 0) {
        count_committed(c, b, d);
        c->fenced_rebuilds = 0;
        cb_log(CB_LOG_DEBUG, "committer",
               "committed a batch: %zu events, %llu outcomes, %zu dead; planned and executed in "
               "%lld ms, committed in %lld ms",
               b->n_msgs, (unsigned long long)d->outcomes, b->n_dead,
               (long long)(b->executed_ms - b->started_ms),
               (long long)(cb_clock_mono_ms() - b->executed_ms));
        rc = 1;
        goto out;
    }
    if (cb_error_is_fatal(&terr)) {
        /* fenced or broken: a new producer fences any zombie and starts clean */
        cb_log(CB_LOG_ERROR, "committer", "producer fatal error: %s; rebuilding it", terr.msg);
        rd_kafka_destroy(c->producer);
        c->producer = NULL;
        d->producer_rebuilds++;
        if (++c->fenced_rebuilds > MAX_FENCED_REBUILDS) {
            rc = cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_FATAL,
                               "producer fenced %d times in a row: another instance uses "
                               "transactional id \"%s\"",
                               c->fenced_rebuilds - 1, c->txn_id);
            goto out;
        }
        if (producer_create(c, err) < 0) {
            err->flags |= CB_ERRF_FATAL;
            rc = -1;
            goto out;
        }
    } else {
        /* abortable, a retriable step that kept failing, or anything else:
         * nothing of the batch may become visible */
        cb_log(CB_LOG_WARN, "committer", "transaction failed (%s): %s; aborting",
               cb_error_is_abortable(&terr) ? "abortable" : "not committed", terr.msg);
        if ((e = rd_kafka_abort_transaction(c->producer, CB_COMMITTER_TXN_TIMEOUT_MS))) {
            cb_committer_kafka_error(err, e, "abort_transaction");
            err->flags |= CB_ERRF_FATAL;
            rc = -1;
            goto out;
        }
    }
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
