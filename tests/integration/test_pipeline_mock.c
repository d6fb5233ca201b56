/*
 * test_pipeline_mock.c: the pipeline's Kafka error paths, injected with
 * librdkafka's mock cluster (which can inject them; it does not implement
 * transaction semantics, so exactly-once itself is proven only against the
 * real broker in eos_test.py). Each case runs `certbridge run`'s pipeline in
 * a thread against a 3-broker mock cluster and the reference CA, injects a
 * failure, and checks that the pipeline took the error path (abort, producer
 * rebuild, ...), kept going, and produced every expected outcome at least
 * once.
 *
 * Usage: test_pipeline_mock PATH/TO/certbridge-refca
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certbridge/codec.h"
#include "certbridge/config.h"
#include "certbridge/pipeline.h"

#include "../support/refca_proc.h"

#define N_EVENTS 30

static const char *refca_bin;
static int case_no;

typedef struct fixture {
    rd_kafka_t *owner;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstrap;
    refca_proc_t ca;
    cb_config_t *cfg;
    cb_pipeline_t *p;
    volatile sig_atomic_t stop;
    int rc;
    cb_error_t err;
    char txn_id[64];
} fixture_t;

static void produce_events(fixture_t *f)
{
    char errstr[256], buf[1024], key[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *p;
    int i;

    rd_kafka_conf_set(conf, "bootstrap.servers", f->bootstrap, errstr, sizeof(errstr));
    p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(p);
    for (i = 0; i < N_EVENTS; i++) {
        snprintf(key, sizeof(key), "000.00.%02d.H19", i);
        snprintf(buf, sizeof(buf),
                 "{\"event_id\":\"mock-%d\",\"event_type\":\"RENAMED\",\"occurred_at\":0,"
                 "\"effective_date\":0,\"source_system\":\"test\",\"org\":{\"code\":\"%s\","
                 "\"name\":\"Sở %d mới\",\"province\":\"Tỉnh Đồng Nai\"}}",
                 i, key, i);
        assert_int_equal(
            rd_kafka_producev(p, RD_KAFKA_V_TOPIC("org"), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE(buf, strlen(buf)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
            RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

static void setup_case(fixture_t *f)
{
    char inv[N_EVENTS * 200], errstr[256], group[64];
    size_t off = 0;
    cb_error_t err;
    int i;

    memset(f, 0, sizeof(*f));
    f->owner = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof(errstr));
    f->mc = rd_kafka_mock_cluster_new(f->owner, 3);
    f->bootstrap = rd_kafka_mock_cluster_bootstraps(f->mc);
    rd_kafka_mock_topic_create(f->mc, "org", 2, 1);
    rd_kafka_mock_topic_create(f->mc, "person", 2, 1);
    rd_kafka_mock_topic_create(f->mc, "outcomes", 1, 1);
    rd_kafka_mock_topic_create(f->mc, "dlq", 1, 1);
    rd_kafka_mock_topic_create(f->mc, "state", 2, 1); /* the mock has no CreateTopics */
    for (i = 0; i < N_EVENTS; i++)
        off += (size_t)snprintf(inv + off, sizeof(inv) - off,
                                "{\"holder_type\":\"ORGANIZATION\",\"holder_id\":\"000.00.%02d."
                                "H19\",\"subject\":\"CN=Sở %d,L=Tỉnh Đồng Nai,C=VN\","
                                "\"device_id\":\"TK-%d\"}\n",
                                i, i, i);
    assert_int_equal(refca_proc_start(&f->ca, refca_bin, inv, NULL), 0);
    produce_events(f);

    snprintf(group, sizeof(group), "mock-group-%d", case_no);
    snprintf(f->txn_id, sizeof(f->txn_id), "mock-txn-%d", case_no++);
    f->cfg = cb_config_new();
#define SET(k, v) assert_int_equal(cb_config_set(f->cfg, k, v, &err), 0)
    SET("kafka.bootstrap.servers", f->bootstrap);
    SET("kafka.group.id", group);
    SET("pipeline.transactional_id", f->txn_id);
    SET("pipeline.batch_max_events", "5");
    SET("pipeline.batch_max_ms", "100");
    SET("input.org_topic", "org");
    SET("input.person_topic", "person");
    SET("output.outcome_topic", "outcomes");
    SET("output.dlq_topic", "dlq");
    SET("output.state_topic", "state");
    SET("ca.url", f->ca.url);
    SET("ca.tls.cert", f->ca.cert);
    SET("ca.tls.key", f->ca.key);
    SET("ca.tls.ca_bundle", f->ca.ca_bundle);
    SET("metrics.listen", "");
    SET("log.level", "warn");
    SET("policy.approval", "none"); /* not about approvals */
#undef SET
    f->p = cb_pipeline_new(f->cfg, &err);
    if (!f->p)
        fail_msg("pipeline: %s", err.msg);
}

static void *run_thread(void *arg)
{
    fixture_t *f = arg;

    f->rc = cb_pipeline_run(f->p, &f->stop, 4000, &f->err);
    return NULL;
}

/* Reads every outcome on the mock topic; asserts each event has one. */
static void expect_every_outcome(fixture_t *f)
{
    char errstr[256];
    bool seen[N_EVENTS] = {false};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *c;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;
    cb_codec_t *codec = cb_codec_new(cfg, &err);
    int eof = 0, polls = 0, i;

    rd_kafka_conf_set(conf, "bootstrap.servers", f->bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", "reader", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
    c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    rd_kafka_topic_partition_list_add(parts, "outcomes", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    while (!eof && polls++ < 200) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        cb_outcome_t o;
        int n;
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof = 1;
        } else if (!m->err) {
            assert_int_equal(cb_codec_decode_outcome(codec, m->payload, m->len, &o, &err), 0);
            assert_int_equal(sscanf(o.source_event_id, "mock-%d", &n), 1);
            assert_true(n >= 0 && n < N_EVENTS);
            assert_string_equal(cb_outcome_status_name(o.status), "SUCCEEDED");
            seen[n] = true;
            cb_outcome_clear(&o);
        }
        rd_kafka_message_destroy(m);
    }
    for (i = 0; i < N_EVENTS; i++)
        if (!seen[i])
            fail_msg("no outcome for mock-%d", i);
    rd_kafka_destroy(c);
    cb_codec_destroy(codec);
    cb_config_destroy(cfg);
}

static void teardown_case(fixture_t *f)
{
    cb_pipeline_destroy(f->p);
    cb_config_destroy(f->cfg);
    refca_proc_stop(&f->ca);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->owner);
}

static void run_to_drain(fixture_t *f, void (*mid_run)(fixture_t *))
{
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, run_thread, f), 0);
    if (mid_run)
        mid_run(f);
    pthread_join(t, NULL);
    if (f->rc != 0)
        fail_msg("pipeline: %s", f->err.msg);
}

/* An abortable error: the first produce is refused (not retriable), so the
 * commit fails with "requires abort"; the pipeline aborts, rewinds and
 * replays. */
static void test_abortable_commit(void **state)
{
    fixture_t f;
    cb_pipeline_stats_t st;

    (void)state;
    setup_case(&f);
    rd_kafka_mock_push_request_errors(f.mc, 0 /* Produce */, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    run_to_drain(&f, NULL);
    cb_pipeline_stats(f.p, &st);
    assert_true(st.txn_aborts >= 1);
    assert_true(st.batches_committed >= N_EVENTS / 5);
    expect_every_outcome(&f);
    teardown_case(&f);
}

/* A fatal error: the transaction coordinator answers EndTxn with
 * PRODUCER_FENCED; the pipeline rebuilds the producer and goes on. */
static void test_fatal_commit(void **state)
{
    fixture_t f;
    cb_pipeline_stats_t st;

    (void)state;
    setup_case(&f);
    rd_kafka_mock_push_request_errors(f.mc, 26 /* EndTxn */, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    run_to_drain(&f, NULL);
    cb_pipeline_stats(f.p, &st);
    assert_true(st.producer_rebuilds >= 1);
    assert_true(st.txn_aborts >= 1);
    expect_every_outcome(&f);
    teardown_case(&f);
}

static void move_coordinator(fixture_t *f)
{
    usleep(800 * 1000);
    rd_kafka_mock_coordinator_set(f->mc, "transaction", f->txn_id, 2);
    usleep(800 * 1000);
    rd_kafka_mock_coordinator_set(f->mc, "transaction", f->txn_id, 3);
}

/* The transaction coordinator moves twice mid-run. */
static void test_coordinator_moves(void **state)
{
    fixture_t f;
    cb_pipeline_stats_t st;

    (void)state;
    setup_case(&f);
    run_to_drain(&f, move_coordinator);
    cb_pipeline_stats(f.p, &st);
    assert_true(st.batches_committed >= N_EVENTS / 5);
    expect_every_outcome(&f);
    teardown_case(&f);
}

static void broker_down(fixture_t *f)
{
    usleep(500 * 1000);
    rd_kafka_mock_broker_set_down(f->mc, 1);
    sleep(3);
    rd_kafka_mock_broker_set_up(f->mc, 1);
}

/* A broker goes down for 3 s mid-run and comes back. */
static void test_broker_down(void **state)
{
    fixture_t f;

    (void)state;
    setup_case(&f);
    run_to_drain(&f, broker_down);
    expect_every_outcome(&f);
    teardown_case(&f);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abortable_commit),
        cmocka_unit_test(test_fatal_commit),
        cmocka_unit_test(test_coordinator_moves),
        cmocka_unit_test(test_broker_down),
    };

    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/certbridge-refca\n", argv[0]);
        return 2;
    }
    refca_bin = argv[1];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
