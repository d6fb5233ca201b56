/*
 * test_kafka_transactions.c: proves the broker implements the transaction
 * semantics certbridge's exactly-once protocol relies on (docs/ARCHITECTURE.md §5).
 *
 * A transactional producer commits one transaction (two messages plus the
 * consumer offset 2 sent with send_offsets_to_transaction) and aborts a
 * second one (one message plus offset 3). Then:
 *   - a read_committed consumer sees exactly the two committed messages;
 *   - the group's committed offset is 2, the one sent in the committed
 *     transaction, not 3.
 *
 * Usage: test_kafka_transactions BOOTSTRAP_FILE     (the real broker)
 *        test_kafka_transactions --mock             (librdkafka's mock cluster,
 *        which ignores transactional offsets and aborts: expected to FAIL)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "../support/kafka_test.h"

static char bootstrap[256];
static rd_kafka_t *mock_owner; /* keeps the mock cluster alive in --mock mode */
static rd_kafka_mock_cluster_t *mock;

static rd_kafka_conf_t *conf_with(const char *k1, const char *v1, const char *k2, const char *v2)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];

    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    if (k1)
        assert_int_equal(rd_kafka_conf_set(conf, k1, v1, errstr, sizeof(errstr)), RD_KAFKA_CONF_OK);
    if (k2)
        assert_int_equal(rd_kafka_conf_set(conf, k2, v2, errstr, sizeof(errstr)), RD_KAFKA_CONF_OK);
    return conf;
}

static void check(rd_kafka_error_t *error, const char *what)
{
    if (error) {
        fail_msg("%s: %s", what, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

static void make_topic(const char *topic)
{
    char errstr[512];

    if (mock) {
        assert_int_equal(rd_kafka_mock_topic_create(mock, topic, 1, 1), 0);
        return;
    }
    if (kt_create_topic(bootstrap, topic, 1, errstr, sizeof(errstr)) != 0)
        fail_msg("create topic %s: %s", topic, errstr);
}

/* Produces value to topic inside the producer's open transaction. */
static void produce(rd_kafka_t *p, const char *topic, const char *value)
{
    rd_kafka_resp_err_t e =
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void send_offset(rd_kafka_t *p, const char *in_topic, const char *group, int64_t offset)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata_new(group);

    rd_kafka_topic_partition_list_add(offs, in_topic, 0)->offset = offset;
    check(rd_kafka_send_offsets_to_transaction(p, offs, cgmd, 30000),
          "send_offsets_to_transaction");
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    rd_kafka_topic_partition_list_destroy(offs);
}

/* Reads out_topic from the beginning with read_committed until the end of the
 * partition; returns the values seen, newline-joined, in buf. */
static int read_committed_values(const char *out_topic, char *buf, size_t size)
{
    char errstr[256], group[128];
    rd_kafka_conf_t *conf;
    rd_kafka_t *c;
    rd_kafka_topic_partition_list_t *assign;
    int count = 0, eof = 0, polls = 0;

    kt_unique_name("reader", group, sizeof(group));
    conf = conf_with("group.id", group, "isolation.level", "read_committed");
    assert_int_equal(
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    assert_non_null(c);
    assign = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(assign, out_topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, assign), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(assign);
    buf[0] = '\0';
    while (!eof && polls++ < 300) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof = 1;
        } else if (m->err) {
            fail_msg("consume: %s", rd_kafka_message_errstr(m));
        } else {
            size_t len = strlen(buf);
            snprintf(buf + len, size - len, "%.*s\n", (int)m->len, (const char *)m->payload);
            count++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    assert_true(eof);
    return count;
}

static int64_t committed_offset(const char *in_topic, const char *group)
{
    char errstr[256];
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf_with("group.id", group, NULL, NULL),
                                 errstr, sizeof(errstr));
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    int64_t off;

    assert_non_null(c);
    rd_kafka_topic_partition_list_add(parts, in_topic, 0);
    assert_int_equal(rd_kafka_committed(c, parts, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    off = parts->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(c);
    return off;
}

static void test_commit_and_abort(void **state)
{
    char in_topic[128], out_topic[128], group[128], txid[128], errstr[256], seen[1024];
    rd_kafka_t *p;
    int n;

    (void)state;
    kt_unique_name("eos-in", in_topic, sizeof(in_topic));
    kt_unique_name("eos-out", out_topic, sizeof(out_topic));
    kt_unique_name("eos-group", group, sizeof(group));
    kt_unique_name("eos-tx", txid, sizeof(txid));
    make_topic(in_topic);
    make_topic(out_topic);

    p = rd_kafka_new(RD_KAFKA_PRODUCER, conf_with("transactional.id", txid, NULL, NULL), errstr,
                     sizeof(errstr));
    assert_non_null(p);
    check(rd_kafka_init_transactions(p, 30000), "init_transactions");

    check(rd_kafka_begin_transaction(p), "begin 1");
    produce(p, out_topic, "committed-1");
    produce(p, out_topic, "committed-2");
    send_offset(p, in_topic, group, 2);
    check(rd_kafka_commit_transaction(p, 30000), "commit");

    check(rd_kafka_begin_transaction(p), "begin 2");
    produce(p, out_topic, "aborted-1");
    send_offset(p, in_topic, group, 3);
    assert_int_equal(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    check(rd_kafka_abort_transaction(p, 30000), "abort");
    rd_kafka_destroy(p);

    n = read_committed_values(out_topic, seen, sizeof(seen));
    assert_string_equal(seen, "committed-1\ncommitted-2\n");
    assert_int_equal(n, 2);
    assert_int_equal(committed_offset(in_topic, group), 2);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_commit_and_abort)};
    char errstr[256];
    int rc;

    if (argc < 2) {
        fprintf(stderr, "usage: %s BOOTSTRAP_FILE | --mock\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "--mock") == 0) {
        mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof(errstr));
        mock = rd_kafka_mock_cluster_new(mock_owner, 1);
        snprintf(bootstrap, sizeof(bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(mock));
    } else if (kt_read_bootstrap(argv[1], bootstrap, sizeof(bootstrap)) != 0) {
        fprintf(stderr, "cannot read bootstrap address from %s (is the broker up?)\n", argv[1]);
        return 1;
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (mock) {
        rd_kafka_mock_cluster_destroy(mock);
        rd_kafka_destroy(mock_owner);
    }
    return rc;
}
