/*
 * pipeline.c: the consume -> plan -> CA -> transactional produce loop.
 *
 * Batch life cycle:
 *   COLLECT  poll messages until pipeline.batch_max_events or
 *            pipeline.batch_max_ms; a rebalance drops the revoked partitions'
 *            messages (the new owner reads them from the committed offsets).
 *   PLAN     decode and plan every message: a permanent failure is a dead
 *            letter; a Schema Registry that is unavailable holds the batch
 *            here, before any CA call (partitions paused, the consumer
 *            polled), until it answers (docs/ARCHITECTURE.md §6).
 *   STATE    final outcomes of open requests found since the last batch
 *            close them; queued events whose holders are free run first;
 *            every work runs or waits in holder order (state.h,
 *            docs/ARCHITECTURE.md §5). A batch may have no message.
 *   EXECUTE  run the CA calls. Lookups answered are made durable by small
 *            transactions (W records) before the calls that depend on them.
 *            The consumer is polled so the group keeps the instance; after a
 *            second (or at once when the CA is unavailable: the batch is
 *            held) the assigned partitions are paused, and messages that
 *            still arrive are carried into the next batch.
 *   COMMIT   PENDING answers open requests; the batch, with its state
 *            records, is handed to the committer (committer.h), whose thread
 *            commits it in one transaction while this thread collects and
 *            executes the next batch; that batch is handed over only once
 *            this one settled, so at most two batches are in memory and
 *            transactions commit in order.
 * The state of newly assigned partitions is read from the state topic before
 * any of their messages is planned; open requests are checked between
 * batches and between executor slices (requests.h).
 * An aborted commit rewinds the consumer to the committed offsets, so the
 * batch is replayed, together with the batch that ran meanwhile (its CA
 * calls are replayed with the same idempotency keys and durable lookups, so
 * the CA applies nothing twice), and reads the state again. On a revocation the open batch is
 * finished and committed when it can be (it still owns the partitions inside the rebalance
 * callback: the committer commits it while the callback waits), else dropped
 * and the kept partitions rewound; on a lost assignment it is always
 * dropped. Everything here runs on the main (poll) thread; only the
 * committer's thread touches the producer.
 */
#include "certbridge/pipeline.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certbridge/approval.h"
#include "certbridge/approval_verify.h"
#include "certbridge/ca_client.h"
#include "certbridge/clock.h"
#include "certbridge/codec.h"
#include "certbridge/committer.h"
#include "certbridge/decisions.h"
#include "certbridge/executor.h"
#include "certbridge/gate.h"
#include "certbridge/log.h"
#include "certbridge/metrics.h"
#include "certbridge/requests.h"
#include "certbridge/rules.h"
#include "certbridge/cancel.h"
#include "certbridge/schedule.h"
#include "certbridge/secret.h"
#include "certbridge/state.h"
#include "certbridge/state_topic.h"

#define PAUSE_AFTER_MS      1000  /* a batch running longer pauses the assignment */
#define REBALANCE_FINISH_MS 10000 /* a revoked batch may finish its CA calls this long */
/* A batch held because a dependency is unavailable (docs/ARCHITECTURE.md §6):
 * the blocked decode is tried again after HOLD_RETRY_MIN_MS, doubling up to
 * HOLD_RETRY_MAX_MS; the consumer is polled every HOLD_POLL_MS meanwhile;
 * one error line per cause every HOLD_LOG_EVERY_MS while it lasts. */
#define HOLD_RETRY_MIN_MS 200
#define HOLD_RETRY_MAX_MS 5000
#define HOLD_POLL_MS      50
#define HOLD_LOG_EVERY_MS 60000
/* rd_kafka_committed and seek when rewinding: long enough for a group
 * coordinator that moves; when it passes, the main loop retries the rewind */
#define REWIND_TIMEOUT_MS 30000
/* rd_kafka_committed for the lag gauge, between batches: short, as it holds
 * up polling; when it passes, the lag of unread partitions stays unknown */
#define LAG_COMMITTED_TIMEOUT_MS 5000
#define LAG_INTERVAL_MS          500 /* lag and in-flight gauges refreshed this often */
/* One attempt of the CA readiness probe, at most (ca.timeout_ms caps it
 * too): it runs beside polling and never holds it up (cb_ca_probe_start) */
#define PROBE_TIMEOUT_MS 5000
/* Reading the state of newly assigned partitions: past the transaction
 * timeout, since an open transaction of another instance holds the end of a
 * state partition back until it is committed, aborted or timed out */
#define STATE_LOAD_TIMEOUT_MS  (CB_COMMITTER_TXN_TIMEOUT_MS + 30000)
#define STATE_TOPIC_TIMEOUT_MS 30000 /* making or checking the state topic */
/* Reading the approval gate's shared records to their end before an
 * approval is decided: an open transaction of another instance holds the
 * end back at most this long, then the batch is replayed */
#define DECISIONS_CATCH_UP_MS 20000
#define DECISIONS_POLL_MAX    1000 /* shared records read per housekeeping round */

/* What the committer is doing for this thread. */
typedef enum txn_kind { TXN_NONE = 0, TXN_BATCH, TXN_LOOKUPS } txn_kind_t;

/* An input partition this instance owns. */
typedef struct owned {
    char *topic;
    int32_t partition;
    int64_t position; /* the offset committed, or to be by the batch handed over; -1 unknown */
    bool loading;     /* its state is not loaded yet: no message of it is planned */
    bool bound;       /* paused: pipeline.queued_events_max reached and it holds queued events */
    bool paused;      /* paused at librdkafka now */
} owned_t;

/* PHASE_PLAN: decoding and planning, before any CA call; the consumer is
 * polled there only while a decode is held (hold_decode). */
typedef enum phase { PHASE_IDLE = 0, PHASE_COLLECT, PHASE_PLAN, PHASE_EXECUTE } phase_t;

/* One cause's hold: on from the first failure until the condition cleared. */
typedef struct hold {
    bool on;
    int64_t since_ms, since_unix_s, logged_ms; /* monotonic, wall clock, last error line */
    char reason[CB_ERRMSG_MAX];                /* the last failure */
} hold_t;

struct cb_pipeline {
    const cb_config_t *cfg;
    rd_kafka_t *consumer;
    cb_committer_t *committer; /* owns the producer and its thread */
    cb_codec_t *codec;         /* decoding; this thread's only */
    cb_ca_client_t *ca;
    cb_executor_t *ex;
    cb_metrics_t *metrics;
    int64_t last_lag_ms, last_probe_ms;
    int ca_reachable; /* the last probe's verdict: 1, 0, -1 before the first */
    int64_t batch_started_ms, batch_executed_ms; /* for the batch's debug line */
    int64_t lag;  /* messages not yet consumed on the assignment; -1 unknown */
    int assigned; /* partitions in the assignment */
    cb_policy_t policy;
    cb_schedule_policy_t dates; /* policy.effective_date, policy.timezone */
    const char *org_topic, *person_topic, *outcome_topic, *dlq_topic, *txn_id;
    cb_format_t org_format, person_format;
    int batch_max, batch_ms, shutdown_ms, probe_ms;

    phase_t phase;
    rd_kafka_message_t **msgs; /* the batch, owned */
    size_t n_msgs, cap_msgs;
    rd_kafka_message_t **carry; /* arrived while executing, owned */
    size_t n_carry, cap_carry;
    cb_work_t *works;
    size_t n_works;
    cb_dead_letter_t *dead;
    size_t n_dead;
    bool paused;                          /* the whole assignment is paused (a long batch) */
    bool batch_void;                      /* dropped by a rebalance */
    bool need_rewind;                     /* rewind the assignment to the committed offsets */
    uint64_t events_consumed, rebalances; /* the rest of the stats is the committer's */
    bool has_fatal; /* a commit inside the rebalance callback failed for good */
    cb_error_t fatal;
    hold_t holds[CB_HOLD_COUNT];

    /* CA requests that finish later (docs/ARCHITECTURE.md §5) */
    cb_state_t *state;             /* open requests, queued events, lookups of owned partitions */
    cb_state_topic_t *state_topic; /* its reader (and maker) */
    cb_requests_t *requests;       /* follows the open requests */
    const char *state_topic_name;
    const char *registry_topic; /* output.registry_topic; NULL when not maintained */
    int state_partitions;       /* of the state topic, once checked */
    int state_replication;
    size_t queued_max;
    bool at_bound;         /* pipeline.queued_events_max reached */
    bool maybe_runnable;   /* queued events may have become runnable */
    int64_t due_offered;   /* calendar ms: events due by then were offered to run */
    bool drain_leave_open; /* --drain-idle-ms ends even with open requests */
    owned_t *owned;
    size_t n_owned, cap_owned;

    /* the approval gate (docs/ARCHITECTURE.md §5, "The approval gate") */
    cb_gate_mode_t gate;              /* policy.approval */
    const char *approval_topic;       /* input.approval_topic, when gate != none */
    cb_approval_verifier_t *verifier; /* policy.approval_signature and its files */
    uint64_t verifier_stamp;          /* cb_approval_files_stamp when they were read */
    cb_decisions_t *decisions;        /* the shared K and A records, as read */
    cb_state_tail_t *tail;            /* their reader (state partition 0) */
    uint64_t decisions_gen;           /* cb_decisions_gen when the gate was last checked */
    cb_state_recs_t gate_recs;        /* the batch's K and A records */
    size_t n_run;                     /* works[0..n_run) run in this batch, the rest were queued */
    cb_outcome_t *finals;             /* final outcomes of the batch */
    size_t n_finals;
    txn_kind_t txn; /* the job handed to the committer */
};

/* ---- Kafka clients ---------------------------------------------------- */

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    cb_log(level <= 3   ? CB_LOG_ERROR
           : level <= 4 ? CB_LOG_WARN
                        : CB_LOG_DEBUG,
           "kafka", "%s: %s", fac, buf);
}

typedef struct conf_ctx {
    rd_kafka_conf_t *conf;
    cb_error_t *err;
    bool producer;
} conf_ctx_t;

/* Keys certbridge sets itself: a user value would break exactly-once. */
static const char *const owned_keys[] = {"enable.auto.commit", "isolation.level",
                                         "transactional.id", "enable.auto.offset.store", NULL};

static const char *const consumer_only[] = {"group.id",
                                            "auto.offset.reset",
                                            "partition.assignment.strategy",
                                            "session.timeout.ms",
                                            "max.poll.interval.ms",
                                            "group.instance.id",
                                            "heartbeat.interval.ms",
                                            "fetch.wait.max.ms",
                                            "fetch.min.bytes",
                                            "queued.max.messages.kbytes",
                                            "queued.min.messages",
                                            NULL};

static const char *const producer_only[] = {"linger.ms",
                                            "batch.num.messages",
                                            "transaction.timeout.ms",
                                            "compression.codec",
                                            "compression.type",
                                            "queue.buffering.max.ms",
                                            "queue.buffering.max.messages",
                                            "acks",
                                            NULL};

static bool in_list(const char *const *list, const char *key)
{
    for (; *list; list++)
        if (!strcmp(*list, key))
            return true;
    return false;
}

static int apply_kafka_key(const char *key, const char *value, void *opaque)
{
    conf_ctx_t *c = opaque;
    char errstr[512];

    if (in_list(owned_keys, key))
        return cb_error_set(c->err, CB_ERR_CONFIG,
                            "kafka.%s: certbridge sets this itself for exactly-once; remove it",
                            key);
    if (in_list(c->producer ? consumer_only : producer_only, key))
        return 0;
    if (rd_kafka_conf_set(c->conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return cb_error_set(c->err, CB_ERR_CONFIG, "kafka.%s: %s", key, errstr);
    return 0;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, cb_error_t *err)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return cb_error_set(err, CB_ERR_CONFIG, "%s: %s", key, errstr);
    return 0;
}

/* A librdkafka configuration: certbridge's defaults, then kafka.* keys. */
static rd_kafka_conf_t *make_conf(cb_pipeline_t *p, bool producer, cb_error_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_ctx_t ctx = {conf, err, producer};
    char txn_timeout[24];

    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    snprintf(txn_timeout, sizeof(txn_timeout), "%d", CB_COMMITTER_TXN_TIMEOUT_MS);
    if (producer) {
        if (conf_set(conf, "transactional.id", p->txn_id, err) < 0 ||
            conf_set(conf, "transaction.timeout.ms", txn_timeout, err) < 0 ||
            conf_set(conf, "linger.ms", "5", err) < 0)
            goto fail;
    } else {
        if (conf_set(conf, "group.id", "certbridge", err) < 0 ||
            conf_set(conf, "isolation.level", "read_committed", err) < 0 ||
            conf_set(conf, "enable.auto.commit", "false", err) < 0 ||
            conf_set(conf, "auto.offset.reset", "earliest", err) < 0 ||
            /* range: an instance owns the same partitions of every input
             * topic, so the heavy org events spread like the person events
             * and one state partition has one reader (docs/ARCHITECTURE.md
             * §3 "Rebalances") */
            conf_set(conf, "partition.assignment.strategy", "range", err) < 0 ||
            /* prefetch a few MiB, not librdkafka's 64 MiB: a backlog stays
             * in Kafka instead of in memory (kafka.* keys override) */
            conf_set(conf, "queued.max.messages.kbytes", "4096", err) < 0 ||
            conf_set(conf, "queued.min.messages", "1000", err) < 0)
            goto fail;
    }
    if (cb_config_foreach_kafka(p->cfg, apply_kafka_key, &ctx) < 0 ||
        cb_secret_foreach_kafka(p->cfg, apply_kafka_key, &ctx, err) < 0)
        goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- owned partitions ------------------------------------------------ */

static owned_t *owned_find(cb_pipeline_t *p, const char *topic, int32_t partition)
{
    size_t i;

    for (i = 0; i < p->n_owned; i++)
        if (p->owned[i].partition == partition && !strcmp(p->owned[i].topic, topic))
            return &p->owned[i];
    return NULL;
}

/* Starts owning (topic, partition): its state is to be loaded before any
 * message of it is planned (the main loop loads it before it collects the
 * next batch; messages fetched meanwhile wait in the carry or in
 * librdkafka's queue). -1 when memory ran out. */
static int owned_add(cb_pipeline_t *p, const char *topic, int32_t partition)
{
    owned_t *o = owned_find(p, topic, partition);
    cb_error_t err;

    if (!o) {
        if (p->n_owned == p->cap_owned) {
            size_t cap = p->cap_owned ? p->cap_owned * 2 : 16;
            owned_t *a = realloc(p->owned, cap * sizeof(*a));
            if (!a)
                return -1;
            p->owned = a;
            p->cap_owned = cap;
        }
        o = &p->owned[p->n_owned];
        memset(o, 0, sizeof(*o));
        if (!(o->topic = strdup(topic)))
            return -1;
        o->partition = partition;
        p->n_owned++;
    }
    o->position = -1;
    o->loading = true;
    return cb_state_part_add(p->state, topic, partition, &err);
}

/* Stops owning (topic, partition): its state entries are dropped. */
static void owned_remove(cb_pipeline_t *p, const char *topic, int32_t partition)
{
    owned_t *o = owned_find(p, topic, partition);

    cb_state_part_drop(p->state, topic, partition);
    if (!o)
        return;
    free(o->topic);
    *o = p->owned[--p->n_owned];
}

/* Pauses exactly the owned partitions that must not deliver: all of them
 * while p->paused (a long or held batch), and at pipeline.queued_events_max
 * those that hold queued events. */
static void apply_pauses(cb_pipeline_t *p)
{
    rd_kafka_topic_partition_list_t *pause = rd_kafka_topic_partition_list_new(4),
                                    *resume = rd_kafka_topic_partition_list_new(4);
    size_t i;

    for (i = 0; i < p->n_owned; i++) {
        owned_t *o = &p->owned[i];
        bool want = p->paused || o->bound;
        if (want == o->paused)
            continue;
        rd_kafka_topic_partition_list_add(want ? pause : resume, o->topic, o->partition);
        o->paused = want;
    }
    if (pause->cnt)
        rd_kafka_pause_partitions(p->consumer, pause);
    if (resume->cnt)
        rd_kafka_resume_partitions(p->consumer, resume);
    rd_kafka_topic_partition_list_destroy(pause);
    rd_kafka_topic_partition_list_destroy(resume);
}

/* Pauses or resumes the whole assignment (loading and bound partitions stay
 * paused). */
static void set_paused(cb_pipeline_t *p, bool pause)
{
    p->paused = pause;
    apply_pauses(p);
}

/* pipeline.queued_events_max (docs/ARCHITECTURE.md §5): at the bound, the
 * owned partitions that hold queued events or open requests (whose next
 * events may have to wait) are paused until fewer events wait; the others
 * flow. */
static void queue_bound(cb_pipeline_t *p)
{
    size_t queued = cb_state_queued_count(p->state), i;
    bool at = queued >= p->queued_max;

    if (at != p->at_bound)
        cb_log(at ? CB_LOG_WARN : CB_LOG_INFO, "pipeline",
               at ? "%zu events wait behind open CA requests (pipeline.queued_events_max %zu): "
                    "pausing the partitions that hold them or open requests"
                  : "%zu events wait behind open CA requests (pipeline.queued_events_max %zu): "
                    "every partition flows again",
               queued, p->queued_max);
    p->at_bound = at;
    for (i = 0; i < p->n_owned; i++)
        p->owned[i].bound =
            at && cb_state_part_busy(p->state, p->owned[i].topic, p->owned[i].partition);
    apply_pauses(p);
}

/* The positions of the owned partitions whose state is loaded (the offsets
 * committed, or to be by the batch handed over), for a transaction's
 * offsets: every transaction is fenced by the group generation. NULL when
 * none is known. */
static rd_kafka_topic_partition_list_t *owned_positions(cb_pipeline_t *p)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    size_t i;

    for (i = 0; i < p->n_owned; i++) {
        if (p->owned[i].loading || p->owned[i].position < 0)
            continue;
        if (!l)
            l = rd_kafka_topic_partition_list_new((int)p->n_owned);
        rd_kafka_topic_partition_list_add(l, p->owned[i].topic, p->owned[i].partition)->offset =
            p->owned[i].position;
    }
    return l;
}

/* Sets the positions of the owned partitions in parts from their committed
 * offsets (parts as filled by rd_kafka_committed). */
static void positions_from(cb_pipeline_t *p, const rd_kafka_topic_partition_list_t *parts)
{
    int i;

    for (i = 0; i < parts->cnt; i++) {
        owned_t *o = owned_find(p, parts->elems[i].topic, parts->elems[i].partition);
        if (o && !parts->elems[i].err)
            o->position = parts->elems[i].offset >= 0 ? parts->elems[i].offset : -1;
    }
}

/* ---- batch bookkeeping ------------------------------------------------ */

static int push_msg(rd_kafka_message_t ***arr, size_t *n, size_t *cap, rd_kafka_message_t *m)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        rd_kafka_message_t **a = realloc(*arr, ncap * sizeof(*a));
        if (!a)
            return -1;
        *arr = a;
        *cap = ncap;
    }
    (*arr)[(*n)++] = m;
    return 0;
}

static void free_finals(cb_pipeline_t *p)
{
    size_t i;

    for (i = 0; i < p->n_finals; i++)
        cb_outcome_clear(&p->finals[i]);
    free(p->finals);
    p->finals = NULL;
    p->n_finals = 0;
}

static void free_works(cb_pipeline_t *p)
{
    size_t i;

    for (i = 0; i < p->n_works; i++)
        cb_work_clear(&p->works[i]);
    free(p->works);
    p->works = NULL;
    p->n_works = p->n_run = 0;
    free(p->dead);
    p->dead = NULL;
    p->n_dead = 0;
    free_finals(p);
}

/* After execution: every PENDING answer opens a request in the state (its
 * outcome published with final false), and the lookups of the works that
 * ran are no longer needed. -1 when memory ran out (err). */
static int record_requests(cb_pipeline_t *p, cb_error_t *err)
{
    int64_t now = cb_clock_wall_ms(), first = cb_requests_first_poll(p->requests);
    size_t i, j;

    for (i = 0; i < p->n_run; i++) {
        cb_work_t *w = &p->works[i];
        for (j = 0; j < w->outcome_count; j++) {
            cb_outcome_t *o = &w->outcomes[j];
            char *key;
            int rc;
            if (o->status != CB_STATUS_PENDING)
                continue;
            if (!o->ca_request_id || !*o->ca_request_id) {
                /* nothing to follow it by: it cannot stay PENDING for ever */
                o->status = CB_STATUS_FAILED;
                free(o->error_code);
                free(o->error_message);
                o->error_code = strdup("invalid_answer");
                o->error_message = strdup("the CA answered PENDING without a request id");
                continue;
            }
            if (!(key = cb_executor_holder_key(&w->intents.items[w->outcome_intent[j]])))
                return cb_error_set(err, CB_ERR_NOMEM, "out of memory opening a request");
            rc = cb_state_open(p->state, w->topic, w->partition, key, o, now, first, err);
            free(key);
            if (rc < 0)
                return -1;
            o->final = false;
        }
        cb_state_lookup_forget(p->state, w->topic, w->partition, w->offset);
    }
    return 0;
}

/* Moves the current, executed batch out of p into b: its outcomes, final
 * outcomes, dead letters, the state records of its changes and the
 * offsets; p starts the next one with nothing of it. The positions of the
 * owned partitions move past its messages. -1 when memory ran out (err): p
 * keeps the batch, which the caller drops. */
static int take_batch(cb_pipeline_t *p, cb_batch_t *b, cb_error_t *err)
{
    size_t i;

    cb_executor_reset(p->ex);
    memset(b, 0, sizeof(*b));
    if (record_requests(p, err) < 0 || cb_state_dirty_records(p->state, &b->recs, err) < 0 ||
        (cb_state_recs_move(&b->recs, &p->gate_recs) < 0 &&
         cb_error_set(err, CB_ERR_NOMEM, "out of memory taking a batch") < 0)) {
        cb_state_recs_free(&b->recs);
        return -1;
    }
    for (i = 0; i < p->n_msgs; i++) {
        owned_t *o = owned_find(p, rd_kafka_topic_name(p->msgs[i]->rkt), p->msgs[i]->partition);
        if (o && p->msgs[i]->offset + 1 > o->position)
            o->position = p->msgs[i]->offset + 1;
    }
    b->offsets = owned_positions(p);
    b->msgs = p->msgs;
    b->n_msgs = p->n_msgs;
    b->works = p->works;
    b->n_works = p->n_works;
    b->dead = p->dead;
    b->n_dead = p->n_dead;
    b->finals = p->finals;
    b->n_finals = p->n_finals;
    b->started_ms = p->batch_started_ms;
    b->executed_ms = p->batch_executed_ms;
    p->msgs = NULL;
    p->n_msgs = p->cap_msgs = 0;
    p->works = NULL;
    p->n_works = p->n_run = 0;
    p->dead = NULL;
    p->n_dead = 0;
    p->finals = NULL;
    p->n_finals = 0;
    p->phase = PHASE_IDLE;
    p->maybe_runnable = true; /* holders it ran for may let their next events go */
    return 0;
}

/* Forgets the batch: its messages, works, dead letters and final outcomes.
 * The state may hold changes of it: every caller rewinds (which reloads
 * the state) or stops. */
static void drop_batch(cb_pipeline_t *p)
{
    size_t i;

    cb_executor_reset(p->ex);
    free_works(p);
    cb_state_recs_free(&p->gate_recs);
    for (i = 0; i < p->n_msgs; i++)
        rd_kafka_message_destroy(p->msgs[i]);
    p->n_msgs = 0;
    p->phase = PHASE_IDLE;
}

static void drop_carry(cb_pipeline_t *p)
{
    size_t i;

    for (i = 0; i < p->n_carry; i++)
        rd_kafka_message_destroy(p->carry[i]);
    p->n_carry = 0;
}

/* Removes from arr the messages of the given partitions. */
static void filter_out(rd_kafka_message_t **arr, size_t *n,
                       const rd_kafka_topic_partition_list_t *parts)
{
    size_t i, o = 0;
    int k;

    for (i = 0; i < *n; i++) {
        bool gone = false;
        for (k = 0; k < parts->cnt && !gone; k++)
            gone = arr[i]->partition == parts->elems[k].partition &&
                   !strcmp(rd_kafka_topic_name(arr[i]->rkt), parts->elems[k].topic);
        if (gone)
            rd_kafka_message_destroy(arr[i]);
        else
            arr[o++] = arr[i];
    }
    *n = o;
}

/* Forgets the state of every owned partition and marks it loading (the
 * main loop reads it again before the next batch). */
static void state_reload_all(cb_pipeline_t *p)
{
    size_t i;

    for (i = 0; i < p->n_owned; i++) {
        cb_state_part_reset(p->state, p->owned[i].topic, p->owned[i].partition);
        p->owned[i].loading = true;
    }
    if (p->decisions) {
        /* the shared records of the transaction that aborted were applied
         * when made: read what was committed again */
        cb_error_t err;
        cb_decisions_reset(p->decisions);
        if (cb_state_tail_restart(p->tail, &err) < 0)
            cb_log(CB_LOG_WARN, "pipeline", "%s", err.msg);
    }
    apply_pauses(p);
}

/* Seeks every assigned partition back to its committed offset (or the
 * beginning when none is committed), as after an abort. */
static int rewind_consumer(cb_pipeline_t *p, cb_error_t *err)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t e;
    rd_kafka_error_t *se;
    int i;

    drop_carry(p);
    e = rd_kafka_assignment(p->consumer, &parts);
    if (e || !parts || parts->cnt == 0) {
        if (parts)
            rd_kafka_topic_partition_list_destroy(parts);
        p->need_rewind = false;
        return 0;
    }
    e = rd_kafka_committed(p->consumer, parts, REWIND_TIMEOUT_MS);
    if (e) {
        rd_kafka_topic_partition_list_destroy(parts);
        return cb_committer_kafka_error(err, rd_kafka_error_new(e, "%s", rd_kafka_err2str(e)),
                                        "committed offsets");
    }
    positions_from(p, parts);
    for (i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0)
            parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    se = rd_kafka_seek_partitions(p->consumer, parts, REWIND_TIMEOUT_MS);
    rd_kafka_topic_partition_list_destroy(parts);
    if (se)
        return cb_committer_kafka_error(err, se, "seek");
    p->need_rewind = false;
    /* the state in memory held the changes of the batches replayed now: it
     * is read again from the state topic, as committed */
    state_reload_all(p);
    cb_log(CB_LOG_INFO, "pipeline", "rewound the consumer to the committed offsets");
    return 0;
}

/* ---- holds ------------------------------------------------------------- */

/* Records the state of one cause of hold: reason non-NULL while the
 * dependency is unavailable, NULL once it answered again. Visible within
 * one call: the certbridge_held gauges and /healthz (metrics.h); in the log,
 * one error line when the hold starts, one a minute while it lasts (never
 * one per attempt) and one info line when it clears. */
static void hold_set(cb_pipeline_t *p, cb_hold_cause_t cause, const char *reason)
{
    static const char *const what[CB_HOLD_COUNT] = {"schema registry unavailable", "CA unavailable",
                                                    "Kafka unavailable"};
    hold_t *h = &p->holds[cause];
    int64_t now = cb_clock_mono_ms();

    if (reason) {
        snprintf(h->reason, sizeof(h->reason), "%s", reason);
        if (!h->on) {
            h->on = true;
            h->since_ms = h->logged_ms = now;
            h->since_unix_s = cb_clock_wall_ms() / 1000;
            cb_metrics_set_held(p->metrics, cause, h->since_unix_s);
            cb_log(CB_LOG_ERROR, "pipeline",
                   "held: %s: %s; holding the batch (partitions paused) until it answers",
                   what[cause], h->reason);
        } else if (now - h->logged_ms >= HOLD_LOG_EVERY_MS) {
            h->logged_ms = now;
            cb_log(CB_LOG_ERROR, "pipeline", "held: %s for %lld s: %s", what[cause],
                   (long long)((now - h->since_ms) / 1000), h->reason);
        }
    } else if (h->on) {
        h->on = false;
        cb_metrics_set_held(p->metrics, cause, 0);
        cb_log(CB_LOG_INFO, "pipeline", "held: %s cleared after %lld s; the batch goes on",
               what[cause], (long long)((now - h->since_ms) / 1000));
    }
}

/* ---- decode and plan -------------------------------------------------- */

static void service_consumer(cb_pipeline_t *p);

/* Decodes message m into ev with its topic's format. */
static int decode(cb_pipeline_t *p, const rd_kafka_message_t *m, bool is_org, cb_event_t *ev,
                  cb_error_t *err)
{
    cb_error_clear(err);
    return cb_codec_decode_event(p->codec, is_org ? CB_EVENT_ORG : CB_EVENT_PERSON,
                                 is_org ? p->org_format : p->person_format, m->payload, m->len, ev,
                                 err);
}

/* Holds the batch while the decode of m fails retriably (the Schema
 * Registry is unavailable): pauses the assignment, keeps polling the
 * consumer (the group keeps the instance, rebalances are served), and
 * decodes again after a pause that doubles from HOLD_RETRY_MIN_MS to
 * HOLD_RETRY_MAX_MS. No CA call of the batch has been made (decode and plan
 * come first), and none is repeated: the batch goes on where it stopped.
 * Returns 0 once the decode succeeded or failed for good (rc and err say
 * which), 1 when the batch is gone: a rebalance dropped it (batch_void), or
 * a stop signal left it uncommitted (the next start replays it). */
static int hold_decode(cb_pipeline_t *p, volatile sig_atomic_t *stop, const rd_kafka_message_t *m,
                       bool is_org, cb_event_t *ev, int *rc, cb_error_t *err)
{
    int pause = HOLD_RETRY_MIN_MS;

    set_paused(p, true);
    while (*rc < 0 && cb_error_is_retriable(err)) {
        int64_t until = cb_clock_mono_ms() + pause;

        hold_set(p, CB_HOLD_SCHEMA_REGISTRY, err->msg);
        do {
            service_consumer(p);
            if (p->batch_void)
                return 1;
            if (*stop) {
                cb_log(CB_LOG_WARN, "pipeline",
                       "stopping: leaving the held batch uncommitted (no CA call was made for "
                       "it; the next start reads it again)");
                drop_batch(p);
                p->holds[CB_HOLD_SCHEMA_REGISTRY].on = false; /* ends, does not clear */
                cb_metrics_set_held(p->metrics, CB_HOLD_SCHEMA_REGISTRY, 0);
                return 1;
            }
            usleep(HOLD_POLL_MS * 1000);
        } while (cb_clock_mono_ms() < until);
        pause = pause * 2 > HOLD_RETRY_MAX_MS ? HOLD_RETRY_MAX_MS : pause * 2;
        *rc = decode(p, m, is_org, ev, err);
    }
    hold_set(p, CB_HOLD_SCHEMA_REGISTRY, NULL);
    return 0;
}

/* Adds a dead letter for message m with its message. */
static void dead_letter(cb_pipeline_t *p, rd_kafka_message_t *m, const cb_error_t *e)
{
    p->dead[p->n_dead].msg = m;
    p->dead[p->n_dead].err = *e;
    p->n_dead++;
    cb_log(CB_LOG_WARN, "pipeline", "dead letter %s[%d]@%lld: %s", rd_kafka_topic_name(m->rkt),
           (int)m->partition, (long long)m->offset, e->msg);
}

/* Reads the trust anchors and CRLs of the approvals again when their files
 * changed since they were read (a CRL fetched anew from the CA): checked
 * before each approval, a stat per file. When they cannot be read now, the
 * ones read before stay, and the error is logged. */
static void refresh_verifier(cb_pipeline_t *p)
{
    uint64_t stamp = cb_approval_files_stamp(p->cfg);
    cb_approval_verifier_t *v;
    cb_error_t e;

    if (stamp == p->verifier_stamp)
        return;
    p->verifier_stamp = stamp;
    if (!(v = cb_approval_verifier_from_config(p->cfg, &e))) {
        cb_log(CB_LOG_ERROR, "pipeline",
               "the approvals' trust anchors or CRL files changed but cannot be read: %s; "
               "keeping those read before",
               e.msg);
        return;
    }
    cb_approval_verifier_free(p->verifier);
    p->verifier = v;
    cb_log(CB_LOG_INFO, "pipeline",
           "read the approvals' trust anchors and CRLs again (policy.approval_trust_anchors, "
           "policy.approval_crl_file changed)");
}

/* One message of the approval topic (docs/ARCHITECTURE.md §5, "The
 * approval gate"): decoded and its signature verified here, whatever
 * instance owns the actions it decides; a bad one is a dead letter with the
 * verification's message. A good one is decided against the shared records
 * read to their end (cb_decisions_decide): its A record joins this batch's
 * transaction, with its offset; an unknown request, a duplicate, one that
 * only names cancelled actions is a dead letter saying so. -1 when memory
 * ran out or the shared records could not be read to their end (err: the
 * batch is replayed). */
static int plan_approval(cb_pipeline_t *p, rd_kafka_message_t *m, cb_error_t *err)
{
    cb_approval_t a;
    cb_approval_fault_t fault = CB_APPROVAL_FAULT_NONE;
    cb_decide_verdict_t verdict;
    cb_error_t aerr;
    char msg[CB_ERRMSG_MAX];
    int rc = 0;

    cb_approval_init(&a);
    if (cb_approval_decode(m->payload, m->len, CB_APPROVAL_FORMAT_AUTO, &a, &aerr) < 0) {
        char why[CB_ERRMSG_MAX];
        snprintf(why, sizeof(why), "%s", aerr.msg);
        cb_error_set(&aerr, CB_ERR_INVALID, "approval: %s", why);
        dead_letter(p, m, &aerr);
        return 0;
    }
    refresh_verifier(p);
    if (cb_approval_verifier_check(p->verifier, &a, cb_clock_wall_ms() / 1000, &fault, NULL,
                                   &aerr) < 0) {
        if (aerr.code == CB_ERR_NOMEM) {
            *err = aerr;
            rc = -1;
        } else {
            dead_letter(p, m, &aerr);
        }
        goto out;
    }
    if (cb_state_tail_catch_up(p->tail, p->decisions, DECISIONS_CATCH_UP_MS, err) < 0 ||
        cb_decisions_decide(p->decisions, &a, rd_kafka_topic_name(m->rkt), m->partition, m->offset,
                            &p->gate_recs, &verdict, msg, sizeof(msg), err) < 0) {
        rc = -1;
        goto out;
    }
    if (verdict == CB_DECIDE_OK) {
        cb_log(CB_LOG_INFO, "pipeline", "%s", msg);
        p->maybe_runnable = true;
    } else {
        cb_error_set(&aerr, CB_ERR_INVALID, "%s", msg);
        dead_letter(p, m, &aerr);
    }
out:
    cb_approval_clear(&a);
    return rc;
}

/* Decodes and plans every message of the batch into works or dead letters
 * (docs/ARCHITECTURE.md §6: every per-message failure is permanent, a dead
 * letter, or a condition of the environment, which holds the batch here
 * until it clears). Returns 0 when planned, 1 when the batch is gone while
 * held (see hold_decode), -1 when memory ran out (err). */
static int plan_batch(cb_pipeline_t *p, volatile sig_atomic_t *stop, cb_error_t *err)
{
    size_t i;

    p->phase = PHASE_PLAN;
    p->works = calloc(p->n_msgs ? p->n_msgs : 1, sizeof(cb_work_t));
    p->dead = calloc(p->n_msgs ? p->n_msgs : 1, sizeof(cb_dead_letter_t));
    if (!p->works || !p->dead)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory planning a batch");
    for (i = 0; i < p->n_msgs; i++) {
        rd_kafka_message_t *m = p->msgs[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        bool is_org = !strcmp(topic, p->org_topic);
        cb_work_t *w = &p->works[p->n_works];
        cb_error_t derr;
        int rc;

        if (p->approval_topic && !strcmp(topic, p->approval_topic)) {
            if (plan_approval(p, m, err) < 0)
                return -1;
            continue;
        }
        cb_event_init(&w->ev);
        rc = decode(p, m, is_org, &w->ev, &derr);
        if (rc < 0 && cb_error_is_retriable(&derr) &&
            hold_decode(p, stop, m, is_org, &w->ev, &rc, &derr))
            return 1;
        if (rc == 0 && w->ev.kind != (is_org ? CB_EVENT_ORG : CB_EVENT_PERSON)) {
            rc = cb_error_set(&derr, CB_ERR_INVALID, "event: a %s event on the %s topic",
                              w->ev.kind == CB_EVENT_ORG ? "OrgEvent" : "PersonEvent",
                              is_org ? "org" : "person");
        }
        if (rc == 0 && cb_rules_plan(&w->ev, &p->policy, &w->intents, &derr) < 0)
            rc = -1;
        if (rc < 0) {
            cb_work_clear(w);
            if (derr.code == CB_ERR_CONFIG || derr.code == CB_ERR_NOTFOUND) {
                /* an operator's to fix (no registry, an unknown schema id):
                 * the dead letter says where to replay the message from */
                char msg[CB_ERRMSG_MAX];
                snprintf(msg, sizeof(msg), "%s", derr.msg);
                cb_error_setf(&derr, derr.code, derr.flags,
                              "%s and replay this message from %s/%d@%lld", msg, topic,
                              (int)m->partition, (long long)m->offset);
            }
            p->dead[p->n_dead].msg = m;
            p->dead[p->n_dead].err = derr;
            p->n_dead++;
            cb_log(CB_LOG_WARN, "pipeline", "dead letter %s[%d]@%lld: %s", topic, (int)m->partition,
                   (long long)m->offset, derr.msg);
            continue;
        }
        w->topic = strdup(topic);
        w->partition = m->partition;
        w->offset = m->offset;
        if (!w->topic)
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory planning a batch");
        p->n_works++;
    }
    return 0;
}

/* ---- the state phase: finals, resumed events, holder order ------------- */

/* Plain Avro with certbridge's schema: how a queued event is kept. */
static int encode_queued(void *opaque, const cb_event_t *ev, void **buf, size_t *len,
                         cb_error_t *err)
{
    return cb_codec_encode_event(((cb_pipeline_t *)opaque)->codec, CB_FORMAT_AVRO, ev, buf, len,
                                 err);
}

/* A queued event taken to run: decoded and planned again into w. -1 when it
 * does not decode or plan (err): it is dropped with an error line. */
static int resume_work(cb_pipeline_t *p, const cb_queued_t *q, cb_work_t *w, cb_error_t *err)
{
    bool is_org = !strcmp(q->topic, p->org_topic);

    memset(w, 0, sizeof(*w));
    cb_event_init(&w->ev);
    if (cb_codec_decode_event(p->codec, is_org ? CB_EVENT_ORG : CB_EVENT_PERSON, CB_FORMAT_AVRO,
                              q->avro, q->avro_len, &w->ev, err) < 0 ||
        cb_rules_plan(&w->ev, &p->policy, &w->intents, err) < 0 || !(w->topic = strdup(q->topic))) {
        cb_work_clear(w);
        return -1;
    }
    w->partition = q->partition;
    w->offset = q->offset;
    w->resumed = true;
    w->due_ms = q->due_ms;
    return 0;
}

/* The lookups an earlier attempt of w made durable (a replay): copied into
 * w->lookups, so its steps make exactly the calls of that attempt. */
static int attach_lookups(cb_pipeline_t *p, cb_work_t *w, cb_error_t *err)
{
    char **keys = NULL;
    size_t nk = 0, i;
    int rc = 0;

    if (cb_state_work_holders(w, &keys, &nk, err) < 0)
        return -1;
    for (i = 0; i < nk && rc == 0; i++) {
        const cb_work_lookup_t *l =
            cb_state_lookup(p->state, w->topic, w->partition, w->offset, keys[i]);
        cb_work_lookup_t *a, *dst;
        if (!l)
            continue;
        if (!(a = realloc(w->lookups, (w->n_lookups + 1) * sizeof(*a)))) {
            rc = cb_error_set(err, CB_ERR_NOMEM, "out of memory attaching a lookup");
            break;
        }
        w->lookups = a;
        dst = &a[w->n_lookups];
        memset(dst, 0, sizeof(*dst));
        if (!(dst->holder_key = strdup(keys[i])) ||
            cb_work_certs_copy(l->certs, l->cert_count, &dst->certs) < 0) {
            free(dst->holder_key);
            rc = cb_error_set(err, CB_ERR_NOMEM, "out of memory attaching a lookup");
            break;
        }
        dst->cert_count = l->cert_count;
        w->n_lookups++;
    }
    cb_state_keys_free(keys, nk);
    return rc;
}

/* The SCHEDULED outcomes (schedule.h): a work that waits for its effective
 * date gets them as its outcomes (final false); a work that waited and runs
 * now adds them, final true, to the batch's finals. -1 when memory ran out
 * (err). */
static int scheduled_outcomes(cb_pipeline_t *p, cb_error_t *err)
{
    int64_t wall = cb_clock_wall_ms();
    size_t i, j;

    for (i = 0; i < p->n_works; i++) {
        cb_work_t *w = &p->works[i];
        cb_schedule_src_t src = {w->topic, w->partition, w->offset};
        cb_outcome_t *o = NULL, *all;
        size_t n = 0;
        bool ran = i < p->n_run;
        if (!w->due_ms)
            continue;
        if (cb_schedule_outcomes(&w->ev, &w->intents, &src, w->due_ms, p->dates.tz_offset_min, ran,
                                 wall, &o, &n, err) < 0)
            return -1;
        if (!ran) {
            w->outcomes = o;
            w->outcome_count = n;
            continue;
        }
        if (!(all = realloc(p->finals, (p->n_finals + n + 1) * sizeof(*all)))) {
            for (j = 0; j < n; j++)
                cb_outcome_clear(&o[j]);
            free(o);
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory making SCHEDULED outcomes");
        }
        memcpy(all + p->n_finals, o, n * sizeof(*o));
        p->finals = all;
        p->n_finals += n;
        free(o);
    }
    return 0;
}

/* Appends the n outcomes of o (taken, o freed) to the batch's finals: they
 * are published after the works' outcomes, in the same transaction. -1
 * when memory ran out (err; o cleared and freed). */
static int finals_append(cb_pipeline_t *p, cb_outcome_t *o, size_t n, cb_error_t *err)
{
    cb_outcome_t *all;
    size_t j;

    if (!n) {
        free(o);
        return 0;
    }
    if (!(all = realloc(p->finals, (p->n_finals + n + 1) * sizeof(*all)))) {
        for (j = 0; j < n; j++)
            cb_outcome_clear(&o[j]);
        free(o);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory adding outcomes");
    }
    memcpy(all + p->n_finals, o, n * sizeof(*o));
    p->finals = all;
    p->n_finals += n;
    free(o);
    return 0;
}

/* ---- the approval gate (docs/ARCHITECTURE.md §5, "The approval gate") -- */

/* The request a queued event waits in, with its managing agency. */
static cb_gate_ref_t gate_ref(const cb_work_t *w, const char *request_id)
{
    cb_gate_ref_t ref;

    memset(&ref, 0, sizeof(ref));
    ref.request_id = request_id;
    cb_gate_agency(&w->ev, &ref.agency_code, &ref.agency_name);
    return ref;
}

/* The state's gate check: an awaiting event may run once every action of
 * it that needs approval has a decision. Decodes the event only when its
 * request has some decision. */
static bool gate_decided(void *opaque, const cb_queued_t *q)
{
    cb_pipeline_t *p = opaque;
    cb_work_t w;
    cb_error_t err;
    bool all = true;
    size_t i;

    if (!q->request_id || !cb_decisions_request_decided(p->decisions, q->request_id) ||
        resume_work(p, q, &w, &err) < 0)
        return false;
    for (i = 0; i < w.intents.count && all; i++) {
        char *id;
        if (!cb_gate_needs(p->gate, &w.intents.items[i]))
            continue;
        if (!(id = cb_gate_action_id(w.ev.event_id, i)))
            all = false;
        else
            all = cb_decisions_find(p->decisions, id) != NULL;
        free(id);
    }
    cb_work_clear(&w);
    return all;
}

/* The action ids of the intents of w that need approval (*ids malloc'd,
 * each id malloc'd: cb_state_keys_free). */
static int gate_ids(cb_pipeline_t *p, const cb_work_t *w, char ***ids, size_t *n, cb_error_t *err)
{
    size_t i;

    *n = 0;
    if (!(*ids = calloc(w->intents.count + 1, sizeof(char *))))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory opening an approval request");
    for (i = 0; i < w->intents.count; i++) {
        if (!cb_gate_needs(p->gate, &w->intents.items[i]))
            continue;
        if (!((*ids)[*n] = cb_gate_action_id(w->ev.event_id, i))) {
            cb_state_keys_free(*ids, *n);
            *ids = NULL;
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory opening an approval request");
        }
        (*n)++;
    }
    return 0;
}

/* Opens the approval requests of the queued events that need one and whose
 * effective date has come: each joins "<agency>-<day>" (today in
 * policy.timezone), its Q record says so, the shared K record names its
 * actions, and its actions are published AWAITING_APPROVAL (final false):
 * all in this batch's transaction. -1 when memory ran out (err). */
static int open_gates(cb_pipeline_t *p, cb_error_t *err)
{
    const cb_queued_t **due = NULL;
    int64_t wall = cb_clock_wall_ms(), now = cb_clock_calendar_ms();
    size_t n = 0, i, j;
    int rc = -1;

    if (p->gate == CB_GATE_NONE)
        return 0;
    if (cb_state_gate_due(p->state, &due, &n, err) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        const cb_queued_t *q = due[i];
        cb_schedule_src_t src = {q->topic, q->partition, q->offset};
        char rid[CB_GATE_REQUEST_ID_MAX], **ids = NULL;
        size_t n_ids = 0;
        cb_gate_ref_t ref;
        cb_work_t w;
        cb_error_t rerr;

        if (resume_work(p, q, &w, &rerr) < 0) {
            cb_log(CB_LOG_ERROR, "pipeline",
                   "queued event %s (%s[%d]@%lld) does not decode again: %s; it keeps waiting",
                   q->event_id, q->topic, (int)q->partition, (long long)q->offset, rerr.msg);
            continue;
        }
        ref = gate_ref(&w, NULL);
        ref.request_id = cb_gate_request_id(ref.agency_code, now, p->dates.tz_offset_min, rid);
        if (gate_ids(p, &w, &ids, &n_ids, err) < 0 ||
            cb_decisions_wait_record(p->decisions, rid, q->topic, q->partition, q->offset,
                                     q->event_id, ids, n_ids, false, &p->gate_recs, err) < 0) {
            cb_state_keys_free(ids, n_ids);
            cb_work_clear(&w);
            goto out;
        }
        cb_state_keys_free(ids, n_ids);
        for (j = 0; j < w.intents.count; j++) {
            cb_outcome_t *o;
            if (!cb_gate_needs(p->gate, &w.intents.items[j]))
                continue;
            if (!(o = calloc(1, sizeof(*o)))) {
                cb_error_set(err, CB_ERR_NOMEM, "out of memory opening an approval request");
                cb_work_clear(&w);
                goto out;
            }
            if (cb_gate_outcome(&w.ev, &w.intents, j, &src, &ref, CB_GATE_AWAITING, wall, o, err) <
                0) {
                free(o);
                cb_work_clear(&w);
                goto out;
            }
            if (finals_append(p, o, 1, err) < 0) { /* o freed */
                cb_work_clear(&w);
                goto out;
            }
        }
        cb_log(CB_LOG_INFO, "pipeline", "event %s (%s[%d]@%lld) awaits approval in request %s",
               q->event_id, q->topic, (int)q->partition, (long long)q->offset, rid);
        cb_work_clear(&w);
        /* last: q's strings belong to the entry this rewrites */
        if (cb_state_gate_open(p->state, src.topic, src.partition, src.offset, rid, err) < 0)
            goto out;
    }
    rc = 0;
out:
    free(due);
    return rc;
}

/* An awaiting event taken to run (all its actions decided): each action
 * that needed approval ends its wait in this batch's transaction, approved
 * (AWAITING_APPROVAL, final true; the intent runs carrying the approval,
 * which its outcomes and CA calls name) or rejected (REJECTED with the
 * reason; the intent is taken out of w). -1 when memory ran out (err). */
static int gate_apply(cb_pipeline_t *p, const cb_queued_t *q, cb_work_t *w, cb_error_t *err)
{
    cb_schedule_src_t src = {w->topic, w->partition, w->offset};
    cb_gate_ref_t ref = gate_ref(w, q->request_id);
    int64_t wall = cb_clock_wall_ms();
    size_t i, k;
    bool *drop = calloc(w->intents.count + 1, sizeof(*drop));

    if (!drop)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory applying an approval");
    for (i = 0; i < w->intents.count; i++) {
        cb_intent_t *in = &w->intents.items[i];
        const cb_decision_t *d;
        cb_outcome_t *o;
        char *id;
        if (!cb_gate_needs(p->gate, in))
            continue;
        if (!(id = cb_gate_action_id(w->ev.event_id, i)))
            goto oom;
        d = cb_decisions_find(p->decisions, id);
        free(id);
        if (!d) { /* the gate check saw every decision: a broken invariant */
            free(drop);
            return cb_error_set(err, CB_ERR_INTERNAL,
                                "event %s: an action taken to run has no "
                                "decision",
                                w->ev.event_id);
        }
        ref.document_number = d->document_number;
        ref.approver = d->approver;
        ref.reason = d->reason;
        if (!(o = calloc(1, sizeof(*o))))
            goto oom;
        if (cb_gate_outcome(&w->ev, &w->intents, i, &src, &ref,
                            d->decision == CB_APPROVAL_APPROVED ? CB_GATE_APPROVED
                                                                : CB_GATE_REJECTED,
                            wall, o, err) < 0) {
            free(o);
            free(drop);
            return -1;
        }
        if (finals_append(p, o, 1, err) < 0) {
            free(drop);
            return -1;
        }
        if (d->decision == CB_APPROVAL_REJECTED) {
            drop[i] = true;
            continue;
        }
        if (!(in->approval = calloc(1, sizeof(*in->approval))) ||
            !(in->approval->request_id = strdup(q->request_id)) ||
            (ref.agency_code && !(in->approval->agency_code = strdup(ref.agency_code))) ||
            (ref.agency_name && !(in->approval->agency_name = strdup(ref.agency_name))) ||
            (d->document_number && !(in->approval->document_number = strdup(d->document_number))) ||
            (d->approver && !(in->approval->approver = strdup(d->approver))))
            goto oom;
    }
    for (i = k = 0; i < w->intents.count; i++) {
        if (drop[i])
            cb_intent_clear(&w->intents.items[i]);
        else
            w->intents.items[k++] = w->intents.items[i];
    }
    w->intents.count = k;
    free(drop);
    cb_log(CB_LOG_INFO, "pipeline", "event %s (%s[%d]@%lld): approval request %s decided",
           w->ev.event_id, w->topic, (int)w->partition, (long long)w->offset, q->request_id);
    return 0;
oom:
    free(drop);
    return cb_error_set(err, CB_ERR_NOMEM, "out of memory applying an approval");
}

/* A CANCELLED event took out an event whose request was open: the K record
 * says its actions were cancelled, and each action that awaited approval
 * ends CANCELLED under its approval id, instead of the id
 * "<event_id>/cancelled/<i>" (kept when it also waited for its date: that
 * SCHEDULED record ends too). o[0..*n): the cancellation's outcomes of c,
 * edited in place. -1 when memory ran out (err). */
static int gate_cancel(cb_pipeline_t *p, const cb_queued_t *q, const cb_work_t *c, cb_outcome_t *o,
                       size_t *n, const cb_event_t *by, cb_error_t *err)
{
    cb_schedule_src_t src = {q->topic, q->partition, q->offset};
    cb_gate_ref_t ref = gate_ref(c, q->request_id);
    int64_t wall = cb_clock_wall_ms();
    char **ids = NULL;
    size_t n_ids = 0, i, j, k;

    (void)by;
    if (q->gate != CB_GATE_STATE_AWAITING || !q->request_id)
        return 0;
    if (gate_ids(p, c, &ids, &n_ids, err) < 0 ||
        cb_decisions_wait_record(p->decisions, q->request_id, q->topic, q->partition, q->offset,
                                 q->event_id, ids, n_ids, true, &p->gate_recs, err) < 0) {
        cb_state_keys_free(ids, n_ids);
        return -1;
    }
    cb_state_keys_free(ids, n_ids);
    for (i = 0; i < c->intents.count; i++) {
        cb_outcome_t *g;
        if (!cb_gate_needs(p->gate, &c->intents.items[i]))
            continue;
        if (q->due_ms <= 0)
            for (j = k = 0; j < *n; j++) {
                if (o[j].action_index == (int32_t)i)
                    cb_outcome_clear(&o[j]);
                else
                    o[k++] = o[j];
            }
        else
            k = *n;
        *n = k;
        if (!(g = calloc(1, sizeof(*g))))
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory cancelling");
        if (cb_gate_outcome(&c->ev, &c->intents, i, &src, &ref, CB_GATE_CANCELLED, wall, g, err) <
            0) {
            free(g);
            return -1;
        }
        if (finals_append(p, g, 1, err) < 0)
            return -1;
    }
    return 0;
}

/* Whether a work that runs in this batch, read before `before` in its
 * partition, is event_id: it is being sent to the CA now. */
static bool runs_now(const cb_pipeline_t *p, const cb_work_t *before, const char *event_id)
{
    size_t i;

    for (i = 0; i < p->n_run; i++) {
        const cb_work_t *w = &p->works[i];
        if (w != before && w->offset < before->offset && w->partition == before->partition &&
            !strcmp(w->topic, before->topic) && !strcmp(w->ev.event_id, event_id))
            return true;
    }
    return false;
}

/* The cancellations of the batch (cancel.h; docs/ARCHITECTURE.md §5,
 * "Cancellation"): each takes the event it names, read before it in its
 * partition, out of the state (cb_state_cancel) if it still waits there,
 * and adds to the finals the CANCELLED outcomes of its actions and the
 * cancellation's own outcome: all in this batch's transaction, with the
 * state change. A cancellation has no intents: it always runs, and after
 * the holder order was decided, so an event queued earlier in this batch is
 * found. -1 when memory ran out (err). */
static int cancel_works(cb_pipeline_t *p, cb_error_t *err)
{
    int64_t wall = cb_clock_wall_ms();
    size_t i;

    for (i = 0; i < p->n_run; i++) {
        cb_work_t *w = &p->works[i];
        const char *ref = cb_event_cancels(&w->ev);
        cb_schedule_src_t src = {w->topic, w->partition, w->offset};
        size_t n_events = 0, n_actions = 0;
        cb_cancel_verdict_t verdict;
        cb_outcome_t *own;

        if (!ref || w->resumed)
            continue;
        for (;;) {
            cb_queued_t *q = NULL;
            cb_work_t c;
            cb_error_t rerr;
            if (cb_state_cancel(p->state, w->topic, w->partition, ref, w->offset, &q, err) < 0)
                return -1;
            if (!q)
                break;
            n_events++;
            p->maybe_runnable = true; /* the events behind it may run now */
            if (resume_work(p, q, &c, &rerr) == 0) {
                cb_schedule_src_t qsrc = {q->topic, q->partition, q->offset};
                cb_outcome_t *o = NULL;
                size_t n = 0;
                int rc = cb_cancel_outcomes(&c.ev, &c.intents, &qsrc, q->due_ms > 0, &w->ev, wall,
                                            &o, &n, err);
                if (rc == 0 && gate_cancel(p, q, &c, o, &n, &w->ev, err) < 0) {
                    size_t j;
                    for (j = 0; j < n; j++)
                        cb_outcome_clear(&o[j]);
                    free(o);
                    rc = -1;
                }
                cb_work_clear(&c);
                if (rc < 0 || finals_append(p, o, n, err) < 0) {
                    cb_queued_free(q);
                    free(q);
                    return -1;
                }
                n_actions += n;
            } else {
                cb_log(CB_LOG_ERROR, "pipeline",
                       "cancelled event %s (%s[%d]@%lld) does not decode again: %s; its Q record "
                       "is deleted all the same",
                       q->event_id, q->topic, (int)q->partition, (long long)q->offset, rerr.msg);
            }
            cb_queued_free(q);
            free(q);
        }
        if (n_events)
            verdict = CB_CANCEL_DONE;
        else if (runs_now(p, w, ref) || cb_state_event_open(p->state, w->topic, w->partition, ref))
            verdict = CB_CANCEL_SENT;
        else
            verdict = CB_CANCEL_NOT_WAITING;
        if (!(own = calloc(1, sizeof(*own))))
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory cancelling");
        if (cb_cancel_own_outcome(&w->ev, &src, verdict, n_events, n_actions, wall, own, err) < 0) {
            free(own);
            return -1;
        }
        if (finals_append(p, own, 1, err) < 0)
            return -1;
        cb_log(verdict == CB_CANCEL_DONE ? CB_LOG_INFO : CB_LOG_WARN, "pipeline",
               "cancellation %s (%s[%d]@%lld) of %s: %s", w->ev.event_id, w->topic,
               (int)w->partition, (long long)w->offset, ref,
               verdict == CB_CANCEL_DONE   ? "cancelled its actions not yet sent to the CA"
               : verdict == CB_CANCEL_SENT ? "not cancellable, already sent to the CA"
                                           : "not cancellable, not waiting in this partition");
    }
    return 0;
}

/* Between PLAN and EXECUTE (docs/ARCHITECTURE.md §5): the final outcomes
 * found since the last batch close their requests; queued events whose
 * holders are free now run first (resumed works); every work then runs or
 * waits in holder order (cb_state_schedule), the runners first in
 * p->works; a replayed work gets its durable lookups. Returns 0, 1 when the
 * batch has nothing to do (no message, final or resumed event), -1 when
 * memory ran out (err: the caller drops the batch and reloads the state). */
static int prepare_state(cb_pipeline_t *p, cb_error_t *err)
{
    cb_queued_t **q = NULL;
    size_t n_q = 0, i, k;
    cb_work_t *works;
    bool *run, *gated;
    int64_t now = cb_clock_calendar_ms(), *due, next;

    if (cb_state_take_finals(p->state, &p->finals, &p->n_finals, err) < 0)
        return -1;
    if (p->n_finals)
        p->maybe_runnable = true;
    cb_state_set_now(p->state, now);
    if ((next = cb_state_next_due(p->state, p->due_offered)) > 0 && next <= now) {
        p->maybe_runnable = true; /* an effective date came */
        p->due_offered = now;
    }
    /* the events whose date came and need an approval open their request */
    if (open_gates(p, err) < 0)
        return -1;
    if (p->maybe_runnable) {
        if (cb_state_take_runnable(p->state, (size_t)p->batch_max, &q, &n_q, err) < 0)
            return -1;
        p->maybe_runnable = n_q > 0;
    }
    if (!p->n_msgs && !p->n_finals && !n_q) {
        free(q);
        return 1;
    }
    works = calloc(n_q + p->n_works + 1, sizeof(*works));
    run = calloc(n_q + p->n_works + 1, sizeof(*run));
    if (!works || !run) {
        free(works);
        free(run);
        for (i = 0; i < n_q; i++) {
            cb_queued_free(q[i]);
            free(q[i]);
        }
        free(q);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory resuming events");
    }
    for (i = k = 0; i < n_q; i++) {
        cb_error_t rerr;
        if (resume_work(p, q[i], &works[k], &rerr) == 0) {
            if (q[i]->gate == CB_GATE_STATE_AWAITING && gate_apply(p, q[i], &works[k], err) < 0) {
                size_t j;
                for (j = 0; j <= k; j++)
                    cb_work_clear(&works[j]);
                for (j = i; j < n_q; j++) {
                    cb_queued_free(q[j]);
                    free(q[j]);
                }
                free(q);
                free(works);
                free(run);
                return -1;
            }
            k++;
        } else
            cb_log(CB_LOG_ERROR, "pipeline",
                   "queued event %s (%s[%d]@%lld) does not decode again: %s; dropped",
                   q[i]->event_id, q[i]->topic, (int)q[i]->partition, (long long)q[i]->offset,
                   rerr.msg);
        cb_queued_free(q[i]);
        free(q[i]);
    }
    free(q);
    n_q = k;
    memcpy(works + n_q, p->works, p->n_works * sizeof(*works));
    free(p->works);
    p->works = works;
    p->n_works += n_q;
    if (!(due = calloc(p->n_works + 1, sizeof(*due)))) {
        free(run);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory scheduling");
    }
    if (!(gated = calloc(p->n_works + 1, sizeof(*gated)))) {
        free(due);
        free(run);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory scheduling");
    }
    for (i = n_q; i < p->n_works; i++) {
        due[i] = cb_schedule_due(&p->works[i].ev, &p->dates, now);
        gated[i] = cb_gate_count(p->gate, &p->works[i].intents) > 0;
    }
    if (cb_state_schedule_gated(p->state, p->works, p->n_works, n_q, run, due, gated, encode_queued,
                                p, err) < 0) {
        free(gated);
        free(due);
        free(run);
        return -1;
    }
    free(gated);
    for (i = n_q; i < p->n_works; i++)
        if (!run[i] && due[i] > 0)
            p->works[i].due_ms = due[i];
    free(due);
    /* the runners first, in batch order: the executor takes works[0..n_run) */
    {
        cb_work_t *sorted = calloc(p->n_works + 1, sizeof(*sorted));
        size_t r = 0, w = 0;
        if (!sorted) {
            free(run);
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory scheduling");
        }
        for (i = 0; i < p->n_works; i++)
            if (run[i])
                sorted[r++] = p->works[i];
        p->n_run = r;
        for (i = 0; i < p->n_works; i++)
            if (!run[i])
                sorted[r + w++] = p->works[i];
        free(p->works);
        p->works = sorted;
    }
    free(run);
    for (i = 0; i < p->n_run; i++)
        if (attach_lookups(p, &p->works[i], err) < 0)
            return -1;
    if (scheduled_outcomes(p, err) < 0 || cancel_works(p, err) < 0 || open_gates(p, err) < 0)
        return -1;
    if (p->n_works > p->n_run)
        cb_log(CB_LOG_DEBUG, "pipeline", "%zu event(s) wait behind their holders' open requests",
               p->n_works - p->n_run);
    return 0;
}

/* Whether the state gives a batch something to do without a message. */
static bool state_has_work(const cb_pipeline_t *p)
{
    int64_t next = cb_state_next_due(p->state, p->due_offered);

    return cb_state_finals_count(p->state) > 0 ||
           (p->maybe_runnable && cb_state_queued_count(p->state) > 0) ||
           (next > 0 && next <= cb_clock_calendar_ms());
}

/* ---- the hand-off to the committer ------------------------------------ */

/* Hands the current, executed batch to the committer (which is idle:
 * settle() ran). A refusal is a broken invariant: stop. */
static void commit_async(cb_pipeline_t *p)
{
    cb_batch_t b;
    cb_error_t err;

    if (take_batch(p, &b, &err) < 0) {
        cb_log(CB_LOG_WARN, "pipeline", "%s; replaying the batch", err.msg);
        drop_batch(p);
        p->need_rewind = true;
        return;
    }
    if (cb_committer_submit(p->committer, &b, &err) < 0) {
        p->fatal = err;
        p->has_fatal = true;
        return;
    }
    p->txn = TXN_BATCH;
}

/* Applies a settled batch's result: when it was aborted, whatever was read
 * after it is dropped and the consumer rewound, so both are replayed. */
static int settled(cb_pipeline_t *p, int rc)
{
    if (rc == 0) {
        if (p->phase != PHASE_IDLE) {
            drop_batch(p);
            p->batch_void = true;
        }
        drop_carry(p);
        p->need_rewind = true;
    }
    return rc;
}

/* Waits until the handed-over batch or lookups, if any, are committed or
 * aborted. Committed lookups let their calls go. Returns 1 (nothing
 * pending, or committed), 0 when it was aborted (see settled()), -1 on a
 * fatal failure (err). */
static int settle(cb_pipeline_t *p, cb_error_t *err)
{
    txn_kind_t kind = p->txn;
    int rc;

    if (!p->committer) /* destroyed: a revocation from rd_kafka_destroy */
        return 1;
    rc = cb_committer_settle(p->committer, err);
    p->txn = TXN_NONE;
    if (kind == TXN_LOOKUPS && rc == 1)
        cb_executor_lookups_persisted(p->ex);
    return settled(p, rc);
}

/* Makes the lookups the executor answered durable: one transaction of W
 * records (and the owned positions, so that it is fenced like any other),
 * before any call that depends on them (docs/ARCHITECTURE.md §5). Nothing
 * happens while the committer is busy. With wait, the transaction is
 * committed before returning (inside the rebalance callback); else
 * settle() picks its result up. Returns -1 when memory ran out or the
 * commit failed for good (the caller drops the batch; err), 0 otherwise. */
static int persist_lookups(cb_pipeline_t *p, bool wait, cb_error_t *err)
{
    const cb_executor_lookup_t *ls;
    cb_batch_t b;
    size_t n, i;

    if (cb_committer_busy(p->committer))
        return 0;
    if (!(n = cb_executor_lookups_to_persist(p->ex, &ls)))
        return 0;
    memset(&b, 0, sizeof(b));
    b.lookups_only = true;
    b.started_ms = b.executed_ms = cb_clock_mono_ms();
    for (i = 0; i < n; i++) {
        const cb_work_t *w = ls[i].work;
        if (cb_state_lookup_put(p->state, w->topic, w->partition, w->offset, w->ev.event_id,
                                ls[i].holder_key, ls[i].certs, ls[i].cert_count, &b.recs,
                                err) < 0) {
            cb_batch_free(&b);
            return -1;
        }
    }
    b.offsets = owned_positions(p);
    if (cb_committer_submit(p->committer, &b, err) < 0) {
        p->fatal = *err;
        p->has_fatal = true;
        return -1;
    }
    p->txn = TXN_LOOKUPS;
    if (wait && settle(p, err) < 0) {
        p->fatal = *err;
        p->has_fatal = true;
        return -1;
    }
    return 0;
}

/* ---- consumer polling while a batch runs ------------------------------ */

/* Polls the consumer without taking new work: keeps the group membership,
 * serves rebalances, carries messages that still arrive (up to a batch). */
static void service_consumer(cb_pipeline_t *p)
{
    rd_kafka_message_t *m;

    /* A next batch is carried already: leave the rest in librdkafka's
     * bounded queue, or a backlog would move into memory of our own. Once
     * the partitions are paused, polls bring no messages and serve the group
     * again. */
    if (!p->paused && p->n_carry >= (size_t)p->batch_max)
        return;
    m = rd_kafka_consumer_poll(p->consumer, 0);
    while (m) {
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                cb_log(CB_LOG_WARN, "pipeline", "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        } else if (push_msg(&p->carry, &p->n_carry, &p->cap_carry, m) < 0) {
            rd_kafka_message_destroy(m);
            p->need_rewind = true; /* cannot keep it: read it again later */
        }
        if (!p->paused && p->n_carry >= (size_t)p->batch_max)
            break;
        m = rd_kafka_consumer_poll(p->consumer, 0);
    }
}

/* Runs the executor until the batch is done. Returns 1 when done, 0 when the
 * batch was dropped by a rebalance. */
static int execute_batch(cb_pipeline_t *p, volatile sig_atomic_t *stop)
{
    int64_t start = cb_clock_mono_ms();
    int64_t last_service = start;

    int64_t stop_seen = 0;
    cb_error_t err;
    int rc;

    p->phase = PHASE_EXECUTE;
    while (!(rc = cb_executor_step(p->ex, cb_committer_busy(p->committer) ? 5 : 50, &err))) {
        int64_t now = cb_clock_mono_ms();
        /* the previous batch's commit, or lookups made durable: their
         * result first, then the lookups answered since */
        if (cb_committer_busy(p->committer) && cb_committer_done(p->committer)) {
            cb_error_t serr;
            if (settle(p, &serr) < 0) {
                p->fatal = serr;
                p->has_fatal = true;
                drop_batch(p);
                return 0;
            }
            if (p->batch_void) /* aborted: dropped, both are replayed */
                return 0;
        }
        if (persist_lookups(p, false, &err) < 0) {
            cb_log(CB_LOG_WARN, "pipeline", "%s; replaying the batch", err.msg);
            drop_batch(p);
            p->need_rewind = true;
            return 0;
        }
        cb_requests_step(p->requests);
        hold_set(p, CB_HOLD_CA, cb_executor_ca_down(p->ex));
        if (!p->paused && (cb_executor_stalled(p->ex) || now - start > PAUSE_AFTER_MS))
            set_paused(p, true);
        if (now - last_service >= 100) {
            service_consumer(p);
            last_service = now;
        }
        if (p->batch_void) {
            hold_set(p, CB_HOLD_CA, NULL);
            return 0;
        }
        if (*stop && !stop_seen)
            stop_seen = now;
        if (stop_seen && (cb_executor_stalled(p->ex) || now - stop_seen > p->shutdown_ms)) {
            /* stopping and the CA does not let the batch finish: leave it
             * uncommitted; the next start replays it */
            cb_log(CB_LOG_WARN, "pipeline", "stopping: leaving the open batch uncommitted");
            drop_batch(p);
            hold_set(p, CB_HOLD_CA, NULL);
            return 0;
        }
    }
    hold_set(p, CB_HOLD_CA, NULL);
    if (rc < 0) { /* the executor failed the batch: replay it */
        cb_log(CB_LOG_WARN, "pipeline", "%s; replaying the batch", err.msg);
        drop_batch(p);
        p->need_rewind = true;
        return 0;
    }
    return !p->batch_void;
}

/* ---- rebalance -------------------------------------------------------- */

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    cb_pipeline_t *p = opaque;
    rd_kafka_error_t *re = NULL;
    rd_kafka_resp_err_t ae = RD_KAFKA_RESP_ERR_NO_ERROR;
    /* range and roundrobin (eager): every rebalance revokes the whole
     * assignment and assigns the whole new one; cooperative-sticky hands
     * over only the partitions that move (docs/ARCHITECTURE.md §3) */
    bool eager = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") != 0;
    cb_error_t err;

    p->rebalances++;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        int k;
        cb_log(CB_LOG_INFO, "pipeline", "assigned %d partition(s)", parts->cnt);
        if (eager)
            ae = rd_kafka_assign(rk, parts);
        else
            re = rd_kafka_incremental_assign(rk, parts);
        cb_metrics_set_group_joined(p->metrics, true);
        /* librdkafka keeps a partition's pause across an unassign and a new
         * assign (a partition lost while the batch held everything paused
         * came back paused and silent): say which it is, every time */
        if (parts->cnt)
            (p->paused ? rd_kafka_pause_partitions : rd_kafka_resume_partitions)(rk, parts);
        /* their state is loaded by the main loop before the next batch */
        for (k = 0; k < parts->cnt; k++) {
            owned_t *o;
            if (owned_add(p, parts->elems[k].topic, parts->elems[k].partition) < 0) {
                cb_error_set(&p->fatal, CB_ERR_NOMEM, "out of memory taking partitions");
                p->has_fatal = true;
            } else if ((o = owned_find(p, parts->elems[k].topic, parts->elems[k].partition))) {
                o->paused = p->paused;
            }
        }
    } else {
        bool lost = rd_kafka_assignment_lost(rk);
        cb_log(CB_LOG_INFO, "pipeline", "%s %d partition(s)", lost ? "lost" : "revoked",
               parts->cnt);
        if (lost)
            cb_metrics_set_group_joined(p->metrics, false);
        /* the batch being committed finishes while the partitions are ours */
        if (settle(p, &err) < 0) {
            cb_log(CB_LOG_ERROR, "pipeline", "commit on revoke: %s", err.msg);
            p->fatal = err;
            p->has_fatal = true;
        }
        if (p->phase == PHASE_EXECUTE && !p->batch_void) {
            int64_t deadline = cb_clock_mono_ms() + REBALANCE_FINISH_MS;
            int done = 0;
            while (!lost && p->phase == PHASE_EXECUTE && !p->batch_void &&
                   !(done = cb_executor_step(p->ex, 5, NULL)) && cb_clock_mono_ms() < deadline &&
                   !cb_executor_stalled(p->ex))
                if (persist_lookups(p, true, &err) < 0) /* the calls wait for them */
                    break;
            if (done == 1 && !lost && p->phase == PHASE_EXECUTE && !p->batch_void) {
                /* still the owner inside the callback: the committer (idle
                 * after settle()) commits what is done while we wait */
                cb_batch_t b;
                int rc;
                p->batch_executed_ms = cb_clock_mono_ms();
                if (take_batch(p, &b, &err) < 0) {
                    drop_batch(p);
                    p->batch_void = true;
                    p->need_rewind = true;
                    goto revoked;
                }
                rc = cb_committer_commit(p->committer, &b, &err);
                if (rc < 0) {
                    cb_log(CB_LOG_ERROR, "pipeline", "commit on revoke: %s", err.msg);
                    p->fatal = err;
                    p->has_fatal = true;
                } else if (rc == 0) {
                    p->need_rewind = true;
                } else {
                    cb_log(CB_LOG_INFO, "pipeline",
                           "committed the open batch before the revocation");
                }
                p->batch_void = true; /* tells execute_batch the batch is gone */
            } else if (p->phase != PHASE_IDLE) {
                drop_batch(p);
                p->batch_void = true;
                p->need_rewind = true;
            }
        } else if (p->phase == PHASE_PLAN && !p->batch_void) {
            /* a batch held in decode (hold_decode): no CA call was made for
             * it, so it is dropped and read again from the committed
             * offsets of the partitions kept */
            drop_batch(p);
            p->batch_void = true;
            p->need_rewind = true;
        } else if (p->phase == PHASE_COLLECT) {
            filter_out(p->msgs, &p->n_msgs, parts);
        }
    revoked:
        filter_out(p->carry, &p->n_carry, parts);
        {
            /* the requests and queued events move with their partitions:
             * the next owner loads them from the state topic */
            int k;
            for (k = 0; k < parts->cnt; k++)
                owned_remove(p, parts->elems[k].topic, parts->elems[k].partition);
        }
        if (eager)
            ae = rd_kafka_assign(rk, NULL);
        else
            re = rd_kafka_incremental_unassign(rk, parts);
    }
    if (re) {
        cb_committer_kafka_error(&err, re, "rebalance");
        cb_log(CB_LOG_ERROR, "pipeline", "%s", err.msg);
    } else if (ae) {
        cb_log(CB_LOG_ERROR, "pipeline", "rebalance: assign: %s", rd_kafka_err2str(ae));
    }
}

/* ---- life cycle ------------------------------------------------------- */

/* A string key's value, "" when unset. */
static const char *cfg_str(const cb_config_t *cfg, const char *key)
{
    const char *v = cb_config_get(cfg, key);

    return v ? v : "";
}

static int parse_format(const cb_config_t *cfg, const char *key, cb_format_t *out, cb_error_t *err)
{
    int f = cb_format_parse(cb_config_get(cfg, key));

    if (f < 0)
        return cb_error_set(err, CB_ERR_CONFIG, "%s: unknown format", key);
    *out = (cb_format_t)f;
    return 0;
}

cb_pipeline_t *cb_pipeline_new(const cb_config_t *cfg, cb_error_t *err)
{
    cb_pipeline_t *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = NULL;
    char errstr[512];

    if (!p) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->cfg = cfg;
    p->lag = -1;
    p->ca_reachable = -1;
    p->org_topic = cb_config_get(cfg, "input.org_topic");
    p->person_topic = cb_config_get(cfg, "input.person_topic");
    p->outcome_topic = cb_config_get(cfg, "output.outcome_topic");
    p->dlq_topic = cb_config_get(cfg, "output.dlq_topic");
    p->state_topic_name = cb_config_get(cfg, "output.state_topic");
    p->registry_topic = cb_config_get(cfg, "output.registry_topic");
    if (p->registry_topic && !*p->registry_topic)
        p->registry_topic = NULL;
    p->state_replication = (int)cb_config_get_int(cfg, "output.state_replication_factor");
    p->queued_max = (size_t)cb_config_get_int(cfg, "pipeline.queued_events_max");
    p->txn_id = cb_config_get(cfg, "pipeline.transactional_id");
    p->batch_max = (int)cb_config_get_int(cfg, "pipeline.batch_max_events");
    p->batch_ms = (int)cb_config_get_int(cfg, "pipeline.batch_max_ms");
    p->shutdown_ms = (int)cb_config_get_int(cfg, "pipeline.shutdown_timeout_ms");
    p->probe_ms = (int)cb_config_get_int(cfg, "metrics.ca_probe_interval_ms");
    if (!cb_config_get(cfg, "kafka.bootstrap.servers")) {
        cb_error_set(err, CB_ERR_CONFIG, "kafka.bootstrap.servers: required by `run`");
        goto fail;
    }
    if (parse_format(cfg, "input.org_format", &p->org_format, err) < 0 ||
        parse_format(cfg, "input.person_format", &p->person_format, err) < 0 ||
        cb_policy_from_config(cfg, &p->policy, err) < 0 ||
        cb_schedule_policy_from_config(cfg, &p->dates, err) < 0 ||
        cb_gate_mode_from_config(cfg, &p->gate, err) < 0)
        goto fail;
    if (p->gate != CB_GATE_NONE) {
        /* signatures required without trust anchors or CRL: refused at
         * start, not approval by approval (CB_ERR_CONFIG) */
        p->approval_topic = cb_config_get(cfg, "input.approval_topic");
        if (!p->approval_topic || !*p->approval_topic) {
            cb_error_set(err, CB_ERR_CONFIG,
                         "input.approval_topic: required when policy.approval is not none");
            goto fail;
        }
        p->verifier_stamp = cb_approval_files_stamp(cfg);
        if (!(p->verifier = cb_approval_verifier_from_config(cfg, err))) {
            if (err->code == CB_ERR_IO) /* a file the configuration names: the operator's */
                err->code = CB_ERR_CONFIG;
            goto fail;
        }
        if (!(p->decisions = cb_decisions_new())) {
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    if ((p->org_format == CB_FORMAT_CONFLUENT || p->person_format == CB_FORMAT_CONFLUENT) &&
        !*cfg_str(cfg, "schema_registry.url")) {
        /* every message of that topic would fail alike: refused here rather
         * than dead-lettered one by one (docs/ARCHITECTURE.md §6); auto
         * stays allowed, framed values then become dead letters */
        cb_error_set(err, CB_ERR_CONFIG,
                     "input.%s_format=confluent needs schema_registry.url: set "
                     "schema_registry.url, or input.org_format/input.person_format to auto, "
                     "avro or json",
                     p->org_format == CB_FORMAT_CONFLUENT ? "org" : "person");
        goto fail;
    }
    if (!(p->metrics = cb_metrics_new())) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!p->state_topic_name || !*p->state_topic_name) {
        cb_error_set(err, CB_ERR_CONFIG, "output.state_topic: required");
        goto fail;
    }
    if (!(p->state = cb_state_new())) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!(p->codec = cb_codec_new(cfg, err)) || !(p->ca = cb_ca_client_new(cfg, err)) ||
        !(p->ex = cb_executor_new(p->ca, p->metrics, err)) ||
        !(p->requests = cb_requests_new(cfg, p->state, p->metrics, err)))
        goto fail;
    cb_ca_client_set_metrics(p->ca, p->metrics);
    cb_executor_set_durable_lookups(p->ex, true);
    if (!(conf = make_conf(p, false, err)) ||
        !(p->state_topic = cb_state_topic_new(conf, p->state_topic_name, err)))
        goto fail;
    conf = NULL;
    if (p->decisions) {
        if (!(conf = make_conf(p, false, err)) ||
            !(p->tail = cb_state_tail_new(conf, p->state_topic_name, err)))
            goto fail;
        conf = NULL;
        cb_state_set_gate_check(p->state, gate_decided, p);
    }
    if (!(conf = make_conf(p, false, err)))
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!p->consumer) {
        rd_kafka_conf_destroy(conf);
        cb_error_set(err, CB_ERR_CONFIG, "kafka consumer: %s", errstr);
        goto fail;
    }
    rd_kafka_poll_set_consumer(p->consumer);
    {
        cb_committer_conf_t cc = {
            NULL,         p->consumer,         p->metrics,       p->txn_id, p->outcome_topic,
            p->dlq_topic, p->state_topic_name, p->registry_topic};
        if (!(cc.producer_conf = make_conf(p, true, err)) ||
            !(p->committer = cb_committer_new(&cc, err)))
            goto fail;
    }
    return p;
fail:
    cb_pipeline_destroy(p);
    return NULL;
}

static int subscribe(cb_pipeline_t *p, cb_error_t *err)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(2);
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(topics, p->org_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, p->person_topic, RD_KAFKA_PARTITION_UA);
    if (p->approval_topic) /* the third input, in the same group */
        rd_kafka_topic_partition_list_add(topics, p->approval_topic, RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(p->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        return cb_error_set(err, CB_ERR_KAFKA, "subscribe: %s", rd_kafka_err2str(e));
    return 0;
}

/* Takes the next message: carried ones first, then the consumer. */
static rd_kafka_message_t *next_message(cb_pipeline_t *p, int timeout_ms)
{
    rd_kafka_message_t *m;

    if (p->n_carry) {
        m = p->carry[0];
        memmove(p->carry, p->carry + 1, (p->n_carry - 1) * sizeof(*p->carry));
        p->n_carry--;
        return m;
    }
    return rd_kafka_consumer_poll(p->consumer, timeout_ms);
}

/* Whether m belongs to a partition whose state is not loaded yet. */
static bool loading_msg(cb_pipeline_t *p, const rd_kafka_message_t *m)
{
    owned_t *o = owned_find(p, rd_kafka_topic_name(m->rkt), m->partition);

    return o && o->loading;
}

/* Collects one batch. Returns the number of messages. */
static size_t collect_batch(cb_pipeline_t *p, volatile sig_atomic_t *stop)
{
    int64_t first = 0;

    p->phase = PHASE_COLLECT;
    while (!*stop && (int)p->n_msgs < p->batch_max) {
        int wait = 100;
        rd_kafka_message_t *m;

        if (first) {
            int64_t left = first + p->batch_ms - cb_clock_mono_ms();
            if (left <= 0)
                break;
            wait = left < 100 ? (int)left : 100;
        }
        m = next_message(p, wait);
        if (!m) {
            if (!first)
                break; /* idle: let the caller check stop and drain */
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                cb_log(CB_LOG_WARN, "pipeline", "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (loading_msg(p, m)) {
            /* assigned during this poll: its state is read before any of its
             * messages is planned (the main loop loads it, then collects
             * again starting with this message) */
            if (push_msg(&p->carry, &p->n_carry, &p->cap_carry, m) < 0) {
                rd_kafka_message_destroy(m);
                p->need_rewind = true;
            } else {
                memmove(p->carry + 1, p->carry, (p->n_carry - 1) * sizeof(*p->carry));
                p->carry[0] = m;
            }
            break;
        }
        if (push_msg(&p->msgs, &p->n_msgs, &p->cap_msgs, m) < 0) {
            rd_kafka_message_destroy(m);
            p->need_rewind = true;
            break;
        }
        if (!first)
            first = cb_clock_mono_ms();
    }
    return p->n_msgs;
}

/* The CA readiness probe (GET /v1/ca.pem), so /healthz notices a CA that
 * went away while idle: every metrics.ca_probe_interval_ms one attempt is
 * started on the CA client's multi handle, and its completion is picked up
 * by a later call; nothing here waits for the CA (a CA that accepts
 * connections and never answers must not stop this thread from polling the
 * consumer). The verdict is logged when it changes. */
static void probe_ca(cb_pipeline_t *p, int64_t now)
{
    const cb_ca_req_t *r = cb_ca_probe_poll(p->ca);
    cb_error_t err;

    if (r) {
        int ok = r->klass == CB_CA_SUCCESS;
        if (ok != p->ca_reachable) {
            if (ok)
                cb_log(CB_LOG_INFO, "pipeline", "CA probe: reachable");
            else
                cb_log(CB_LOG_WARN, "pipeline", "CA probe: unreachable (HTTP %ld, %s: %s)",
                       r->http_status, r->error_code ? r->error_code : "-",
                       r->error_message ? r->error_message : "-");
        }
        p->ca_reachable = ok;
        cb_metrics_set_ca_reachable(p->metrics, ok);
    }
    if (now - p->last_probe_ms >= p->probe_ms) {
        p->last_probe_ms = now;
        if (cb_ca_probe_start(p->ca, PROBE_TIMEOUT_MS, &err) < 0) {
            cb_log(CB_LOG_WARN, "pipeline", "CA probe: %s", err.msg);
            cb_metrics_set_ca_reachable(p->metrics, false);
        }
    }
}

/* Between batches: consumer lag and CA calls in flight (every
 * LAG_INTERVAL_MS), and the CA probe. */
static void housekeeping(cb_pipeline_t *p)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t now = cb_clock_mono_ms(), lag = 0;
    int i;

    if (now - p->last_lag_ms >= LAG_INTERVAL_MS) {
        bool known = true;

        p->last_lag_ms = now;
        p->assigned = 0;
        if (rd_kafka_assignment(p->consumer, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
            p->assigned = parts->cnt;
            rd_kafka_position(p->consumer, parts);
            for (i = 0; i < parts->cnt; i++)
                if (parts->elems[i].offset < 0)
                    break;
            /* a partition nothing was read from yet: its committed offset
             * tells where it stands */
            if (i < parts->cnt) {
                rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(parts);
                if (rd_kafka_committed(p->consumer, c, LAG_COMMITTED_TIMEOUT_MS) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR)
                    for (i = 0; i < parts->cnt; i++)
                        if (parts->elems[i].offset < 0)
                            parts->elems[i].offset = c->elems[i].offset;
                rd_kafka_topic_partition_list_destroy(c);
            }
            for (i = 0; i < parts->cnt; i++) {
                int64_t lo = -1, hi = -1;
                if (rd_kafka_get_watermark_offsets(p->consumer, parts->elems[i].topic,
                                                   parts->elems[i].partition, &lo,
                                                   &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                    hi < 0 || lo < 0) {
                    known = false;
                    continue;
                }
                if (parts->elems[i].offset >= 0)
                    lag += hi - parts->elems[i].offset;
                else if (hi > lo) /* nothing committed: all of it is lag */
                    lag += hi - lo;
            }
            rd_kafka_topic_partition_list_destroy(parts);
        }
        p->lag = known ? (lag < 0 ? 0 : lag) : -1;
        cb_metrics_set_lag(p->metrics, p->lag);
    }
    probe_ca(p, now);
    cb_requests_step(p->requests);
    queue_bound(p);
    if (p->tail) {
        /* decisions other instances wrote: awaiting events may run now */
        cb_error_t err;
        if (cb_state_tail_poll(p->tail, p->decisions, DECISIONS_POLL_MAX, &err) < 0)
            cb_log(CB_LOG_WARN, "pipeline", "%s", err.msg);
        if (cb_decisions_gen(p->decisions) != p->decisions_gen) {
            p->decisions_gen = cb_decisions_gen(p->decisions);
            p->maybe_runnable = true;
        }
    }
}

/* ---- the state topic --------------------------------------------------- */

/* The most partitions of the two input topics (a missing topic counts 0);
 * -1 when the brokers do not answer (err, retriable). */
static int input_partitions(cb_pipeline_t *p, cb_error_t *err)
{
    const char *topics[3] = {p->org_topic, p->person_topic, p->approval_topic};
    int most = 0, i, k;

    for (i = 0; i < (p->approval_topic ? 3 : 2); i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->consumer, topics[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(p->consumer, 0, rkt, &md, 10000)
                                    : RD_KAFKA_RESP_ERR__INVALID_ARG;
        if (rkt)
            rd_kafka_topic_destroy(rkt);
        if (e)
            return cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE, "metadata of %s: %s",
                                 topics[i], rd_kafka_err2str(e));
        for (k = 0; k < md->topic_cnt; k++)
            if (!md->topics[k].err && md->topics[k].partition_cnt > most)
                most = md->topics[k].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    return most;
}

/* Makes or checks the state topic before anything is consumed
 * (docs/ARCHITECTURE.md §5): compacted, with at least as many partitions as
 * the larger input topic. Waits for the brokers while they do not answer;
 * -1 with err (CB_ERR_CONFIG) when the topic is wrong, or when stopped. */
static int ensure_state_topic(cb_pipeline_t *p, volatile sig_atomic_t *stop, cb_error_t *err)
{
    int64_t logged = 0;

    while (!*stop) {
        int most = input_partitions(p, err), n = -1;
        if (most >= 0) {
            if (most == 0) {
                cb_log(CB_LOG_WARN, "pipeline",
                       "input topics %s and %s do not exist yet: the state topic gets 1 "
                       "partition",
                       p->org_topic, p->person_topic);
                most = 1;
            }
            n = cb_state_topic_ensure(p->state_topic, most, p->state_replication,
                                      STATE_TOPIC_TIMEOUT_MS, err);
            if (n > 0) {
                p->state_partitions = n;
                hold_set(p, CB_HOLD_KAFKA, NULL);
                return 0;
            }
        }
        if (!cb_error_is_retriable(err))
            return -1;
        if (cb_clock_mono_ms() - logged >= HOLD_LOG_EVERY_MS) {
            logged = cb_clock_mono_ms();
            cb_log(CB_LOG_WARN, "pipeline", "state topic %s: %s; trying again", p->state_topic_name,
                   err->msg);
        }
        usleep(1000 * 1000);
    }
    return cb_error_set(err, CB_ERR_KAFKA, "stopped before the state topic was ready");
}

/* Makes the registry topic (output.registry_topic) when missing, compacted,
 * or checks it is compacted, before any batch writes it; waits while the
 * brokers do not answer. 0 also when none is configured. */
static int ensure_registry_topic(cb_pipeline_t *p, volatile sig_atomic_t *stop, cb_error_t *err)
{
    rd_kafka_conf_t *conf;
    cb_state_topic_t *t;
    int64_t logged = 0;
    int n = -1;

    if (!p->registry_topic)
        return 0;
    if (!(conf = make_conf(p, false, err)) ||
        !(t = cb_state_topic_new(conf, p->registry_topic, err)))
        return -1;
    cb_state_topic_set_role(t, "registry topic", "output.registry_topic");
    while (!*stop &&
           (n = cb_state_topic_ensure(t, 1, p->state_replication, STATE_TOPIC_TIMEOUT_MS, err)) <
               0 &&
           cb_error_is_retriable(err)) {
        if (cb_clock_mono_ms() - logged >= HOLD_LOG_EVERY_MS) {
            logged = cb_clock_mono_ms();
            cb_log(CB_LOG_WARN, "pipeline", "%s; trying again", err->msg);
        }
        usleep(1000 * 1000);
    }
    cb_state_topic_destroy(t);
    if (n > 0)
        return 0;
    if (*stop)
        return cb_error_set(err, CB_ERR_KAFKA, "stopped before the registry topic was ready");
    return -1;
}

/* Whether some owned partition waits for its state. */
static bool state_loading(const cb_pipeline_t *p)
{
    size_t i;

    for (i = 0; i < p->n_owned; i++)
        if (p->owned[i].loading)
            return true;
    return false;
}

/* Reads the state of every owned partition that is loading (assigned, or
 * reset after an abort) from the state topic, with the partitions' committed
 * offsets, then lets them deliver. -1 with err: retriable when the brokers
 * do not answer (the caller holds and tries again), CB_ERRF_FATAL when an
 * input partition has no state partition. */
static int load_state(cb_pipeline_t *p, cb_error_t *err)
{
    const char *topics[3] = {p->org_topic, p->person_topic, p->approval_topic};
    int32_t *parts = calloc(p->n_owned + 1, sizeof(*parts));
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_new(4);
    size_t n = 0, i, j, open0 = cb_state_open_count(p->state),
           queued0 = cb_state_queued_count(p->state);
    rd_kafka_resp_err_t e;
    int rc = -1;

    if (!parts) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory loading the state");
        goto out;
    }
    for (i = 0; i < p->n_owned; i++) {
        owned_t *o = &p->owned[i];
        bool seen = false;
        if (!o->loading)
            continue;
        if (o->partition >= p->state_partitions) {
            cb_error_setf(err, CB_ERR_CONFIG, CB_ERRF_FATAL,
                          "input partition %s[%d] has no state partition: the state topic %s has "
                          "%d; give it as many partitions as the input topics",
                          o->topic, (int)o->partition, p->state_topic_name, p->state_partitions);
            goto out;
        }
        rd_kafka_topic_partition_list_add(committed, o->topic, o->partition);
        for (j = 0; j < n && !seen; j++)
            seen = parts[j] == o->partition;
        if (!seen)
            parts[n++] = o->partition;
    }
    if (!n) {
        rc = 0;
        goto out;
    }
    if (cb_state_topic_load(p->state_topic, p->state, topics, p->approval_topic ? 3 : 2, parts, n,
                            STATE_LOAD_TIMEOUT_MS, err) < 0)
        goto out;
    if ((e = rd_kafka_committed(p->consumer, committed, REWIND_TIMEOUT_MS))) {
        cb_error_setf(err, CB_ERR_KAFKA, CB_ERRF_RETRIABLE, "committed offsets: %s",
                      rd_kafka_err2str(e));
        goto out;
    }
    positions_from(p, committed);
    for (i = 0; i < p->n_owned; i++)
        if (p->owned[i].loading &&
            !cb_state_part_loading(p->state, p->owned[i].topic, p->owned[i].partition))
            p->owned[i].loading = false;
    cb_log(CB_LOG_INFO, "pipeline",
           "loaded the state of %d partition(s) from %s: %zu open CA request(s), %zu queued "
           "event(s) (now %zu and %zu)",
           committed->cnt, p->state_topic_name, cb_state_open_count(p->state) - open0,
           cb_state_queued_count(p->state) - queued0, cb_state_open_count(p->state),
           cb_state_queued_count(p->state));
    p->maybe_runnable = true;
    p->due_offered = 0; /* loaded events may be due already */
    apply_pauses(p);
    rc = 0;
out:
    free(parts);
    rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}

/* Whether --drain-idle-ms may end the run: nothing open, nothing queued
 * (unless told to leave them), nothing waiting for its state. */
static bool drained_state(const cb_pipeline_t *p)
{
    if (state_loading(p))
        return false;
    return p->drain_leave_open ||
           (cb_state_open_count(p->state) == 0 && cb_state_queued_count(p->state) == 0 &&
            cb_state_finals_count(p->state) == 0);
}

void cb_pipeline_set_drain_leave_open(cb_pipeline_t *p, bool leave_open)
{
    p->drain_leave_open = leave_open;
}

int cb_pipeline_run(cb_pipeline_t *p, volatile sig_atomic_t *stop, int drain_idle_ms,
                    cb_error_t *err)
{
    int64_t idle_since = cb_clock_mono_ms();
    cb_outcome_encoder_t *enc;
    int rc = 0;

    const char *listen = cb_config_get(p->cfg, "metrics.listen");

    if (listen && *listen) {
        if (cb_metrics_serve(p->metrics, listen, err) < 0)
            return -1;
        cb_log(CB_LOG_INFO, "pipeline", "metrics on http://%.*s:%d/metrics, readiness on /healthz",
               (int)(strrchr(listen, ':') - listen), listen, cb_metrics_port(p->metrics));
    }
    /* the outcome schema is registered here, with this thread's codec; the
     * committer thread gets an immutable encoder and never sees the codec */
    if (!(enc = cb_outcome_encoder_new(p->codec, p->outcome_topic, err)))
        return -1;
    if (cb_committer_start(p->committer, enc, err) < 0 || ensure_state_topic(p, stop, err) < 0 ||
        ensure_registry_topic(p, stop, err) < 0 || subscribe(p, err) < 0)
        return -1;
    cb_log(CB_LOG_INFO, "pipeline", "running: topics %s, %s -> %s (dead letters: %s)", p->org_topic,
           p->person_topic, p->outcome_topic, p->dlq_topic);
    while (!*stop) {
        if (p->has_fatal) {
            *err = p->fatal;
            rc = -1;
            break;
        }
        if (p->need_rewind) {
            /* the committed offsets must include a batch still committing */
            if ((rc = settle(p, err)) < 0)
                break;
            rc = 0;
            if (rewind_consumer(p, err) < 0) {
                hold_set(p, CB_HOLD_KAFKA, err->msg); /* logged once a minute */
                usleep(500 * 1000);
                continue;
            }
            hold_set(p, CB_HOLD_KAFKA, NULL);
        }
        if (state_loading(p)) {
            if (load_state(p, err) < 0) {
                if (cb_error_is_fatal(err) || !cb_error_is_retriable(err)) {
                    rc = -1;
                    break;
                }
                hold_set(p, CB_HOLD_KAFKA, err->msg);
                service_consumer(p);
                usleep(500 * 1000);
                continue;
            }
            hold_set(p, CB_HOLD_KAFKA, NULL);
        }
        p->batch_void = false;
        housekeeping(p);
        if (collect_batch(p, stop) == 0 && !state_has_work(p)) {
            p->phase = PHASE_IDLE;
            if (cb_committer_busy(p->committer)) { /* idle: settle the last batch first */
                if ((rc = settle(p, err)) < 0)
                    break;
                rc = 0;
                continue;
            }
            /* drained: idle long enough with partitions assigned and no
             * lag, and no CA request open */
            if (drain_idle_ms > 0 && cb_clock_mono_ms() - idle_since >= drain_idle_ms &&
                p->assigned > 0 && p->lag == 0 && drained_state(p))
                break;
            continue;
        }
        if (p->batch_void) {
            /* a rebalance during the collection aborted the batch being
             * committed: what was read since is replayed after the rewind */
            drop_batch(p);
            continue;
        }
        p->events_consumed += p->n_msgs;
        p->batch_started_ms = cb_clock_mono_ms();
        if ((rc = plan_batch(p, stop, err)) != 0) {
            if (rc < 0) { /* out of memory: read the batch again later */
                cb_log(CB_LOG_WARN, "pipeline", "%s; replaying the batch", err->msg);
                drop_batch(p);
                p->need_rewind = true;
            }
            rc = 0; /* else dropped while held: stopping, or a rebalance took it */
            set_paused(p, false);
            continue;
        }
        if ((rc = prepare_state(p, err)) != 0) {
            if (rc < 0) { /* out of memory: read the batch and the state again */
                cb_log(CB_LOG_WARN, "pipeline", "%s; replaying the batch", err->msg);
                p->need_rewind = true;
            }
            drop_batch(p); /* or nothing to do */
            rc = 0;
            set_paused(p, false);
            continue;
        }
        if (cb_executor_start(p->ex, p->works, p->n_run, err) < 0) {
            rc = -1;
            break;
        }
        if (!execute_batch(p, stop)) {
            if (p->phase != PHASE_IDLE) /* still ours: dropped, not yet freed */
                drop_batch(p);
            set_paused(p, false);
            continue; /* dropped or committed by a rebalance */
        }
        p->batch_executed_ms = cb_clock_mono_ms();
        /* the previous batch must be committed before this one is handed
         * over; when it was aborted, this one is dropped and both replayed */
        if ((rc = settle(p, err)) < 0)
            break;
        if (rc == 1)
            commit_async(p);
        rc = 0;
        set_paused(p, false);
        idle_since = cb_clock_mono_ms();
    }
    {
        cb_error_t serr;
        if (settle(p, &serr) < 0 && rc == 0) {
            *err = serr;
            rc = -1;
        }
    }
    cb_committer_stop(p->committer);
    if (p->phase != PHASE_IDLE)
        drop_batch(p);
    drop_carry(p);
    rd_kafka_consumer_close(p->consumer);
    return rc;
}

void cb_pipeline_stats(const cb_pipeline_t *p, cb_pipeline_stats_t *out)
{
    cb_committer_stats_t cs;

    memset(out, 0, sizeof(*out));
    out->events_consumed = p->events_consumed;
    out->rebalances = p->rebalances;
    if (!p->committer)
        return;
    cb_committer_stats(p->committer, &cs);
    out->dead_letters = cs.dead_letters;
    out->outcomes = cs.outcomes;
    out->batches_committed = cs.batches_committed;
    out->txn_aborts = cs.txn_aborts;
    out->producer_rebuilds = cs.producer_rebuilds;
}

void cb_pipeline_destroy(cb_pipeline_t *p)
{
    size_t i;

    if (!p)
        return;
    cb_committer_destroy(p->committer); /* its thread first: it uses the consumer */
    p->committer = NULL;
    if (p->ex)
        drop_batch(p);
    drop_carry(p);
    free(p->msgs);
    free(p->carry);
    if (p->consumer)
        rd_kafka_destroy(p->consumer);
    cb_requests_destroy(p->requests);
    cb_state_topic_destroy(p->state_topic);
    cb_state_tail_destroy(p->tail);
    cb_decisions_destroy(p->decisions);
    cb_approval_verifier_free(p->verifier);
    cb_state_destroy(p->state);
    for (i = 0; i < p->n_owned; i++)
        free(p->owned[i].topic);
    free(p->owned);
    cb_executor_destroy(p->ex);
    cb_ca_client_destroy(p->ca);
    cb_codec_destroy(p->codec);
    cb_metrics_destroy(p->metrics);
    free(p);
}
