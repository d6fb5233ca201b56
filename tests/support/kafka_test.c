/*
 * kafka_test.c: see kafka_test.h.
 */
#include "kafka_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int kt_read_bootstrap(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return -1;
    if (!fgets(buf, (int)size, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return n > 0 ? 0 : -1;
}

void kt_unique_name(const char *prefix, char *buf, size_t size)
{
    static unsigned counter;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, size, "%s-%d-%u-%lx", prefix, (int)getpid(), counter++,
             (unsigned long)(ts.tv_nsec ^ ts.tv_sec));
}

int kt_create_topic(const char *bootstrap, const char *topic, int partitions, char *errstr,
                    size_t errsize)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_NewTopic_t *nt;
    rd_kafka_queue_t *q;
    rd_kafka_event_t *ev;
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **tr;
    size_t cnt;
    int rc = -1;

    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, errsize);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsize);
    if (!rk)
        return -1;
    nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, errsize);
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
        snprintf(errstr, errsize, "CreateTopics timed out");
        goto out;
    }
    res = rd_kafka_event_CreateTopics_result(ev);
    tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
    if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errsize, "%s", rd_kafka_event_error_string(ev));
    } else if (cnt != 1 || rd_kafka_topic_result_error(tr[0])) {
        snprintf(errstr, errsize, "%s",
                 cnt ? rd_kafka_topic_result_error_string(tr[0]) : "no result");
    } else {
        rc = 0;
    }
    rd_kafka_event_destroy(ev);
out:
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
