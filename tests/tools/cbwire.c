/*
 * cbwire.c: Kafka records byte for byte, for the tests of holds and dead
 * letters (eos_test.py registry_missing, registry_down, big_dead_letter).
 *
 *   cbwire register REGISTRY_URL TOPIC org|person TAG
 *       Registers certbridge's event schema of that kind under the subject
 *       "TOPIC-value", with "doc": "writer TAG" added to the record: the
 *       bytes it writes are the same, but each TAG is a writer schema of its
 *       own with an id of its own (a reader that cached one id must fetch
 *       the other). Prints the id.
 *   cbwire produce-confluent BOOTSTRAP ORG_TOPIC PERSON_TOPIC ORG_ID PERSON_ID FILE.jsonl
 *       Produces each JSON event of FILE Confluent-framed (magic 0, the
 *       given schema id of its kind, the Avro body written with certbridge's
 *       schema), to the topic and with the key cbtool produce uses. A line
 *       that is not a valid event (a poison message) is produced as it is,
 *       to ORG_TOPIC with key "poison". Prints the number produced.
 *   cbwire produce-value BOOTSTRAP TOPIC PARTITION KEY HEX|@FILE
 *       Produces one record whose value is the bytes of HEX, or of FILE,
 *       with a producer message.max.bytes large enough for anything the
 *       broker takes. Prints "PARTITION OFFSET".
 *   cbwire records BOOTSTRAP TOPIC
 *       Reads TOPIC from the beginning with read_committed to the end of
 *       every partition; one JSON line per record: partition, offset,
 *       key_len, value_len, value (hex) and headers (name: value as text,
 *       the last of each name).
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/codec.h"
#include "certbridge/codec_json.h"
#include "certbridge/config.h"
#include "certbridge/schema_registry.h"
#include "certbridge/schemas.h"

#define LINE_MAX_BYTES  (1024 * 1024)
#define VALUE_MAX_BYTES (16 * 1024 * 1024)

static void die(const char *what, const char *why)
{
    fprintf(stderr, "cbwire: %s: %s\n", what, why);
    exit(1);
}

static rd_kafka_t *producer(const char *bootstrap)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    rd_kafka_t *rk;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "message.max.bytes", "16777216", errstr, sizeof(errstr)))
        die("producer", errstr);
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))))
        die("producer", errstr);
    return rk;
}

static void produce(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
                    const void *val, size_t len)
{
    rd_kafka_resp_err_t e;

    do {
        e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_KEY((void *)key, strlen(key)),
                              RD_KAFKA_V_VALUE((void *)val, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 100);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (e)
        die("produce", rd_kafka_err2str(e));
}

static void flush(rd_kafka_t *p)
{
    if (rd_kafka_flush(p, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("flush", "timed out");
}

static int cmd_register(const char *url, const char *topic, const char *kind, const char *tag)
{
    cb_schema_id_t sid = !strcmp(kind, "org") ? CB_SCHEMA_ORG_EVENT : CB_SCHEMA_PERSON_EVENT;
    json_t *schema = json_loads(cb_schema_text(sid, NULL), 0, NULL);
    char subject[512], doc[128], *text;
    cb_registry_t *reg;
    cb_error_t err;
    uint32_t id;

    if (!schema)
        die("register", "the embedded schema does not parse");
    snprintf(doc, sizeof(doc), "writer %s", tag);
    json_object_set_new(schema, "doc", json_string(doc));
    text = json_dumps(schema, JSON_COMPACT);
    snprintf(subject, sizeof(subject), "%s-value", topic);
    if (!(reg = cb_registry_new(url, 5000, NULL, NULL, &err)) ||
        cb_registry_register(reg, subject, text, strlen(text), &id, &err) < 0)
        die("register", err.msg);
    printf("%u\n", id);
    cb_registry_destroy(reg);
    free(text);
    json_decref(schema);
    return 0;
}

static int cmd_produce_confluent(const char *bootstrap, const char *org_topic,
                                 const char *person_topic, uint32_t org_id, uint32_t person_id,
                                 const char *path)
{
    rd_kafka_t *p = producer(bootstrap);
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;
    cb_codec_t *codec = cb_codec_new(cfg, &err);
    FILE *f = fopen(path, "r");
    char *line = malloc(LINE_MAX_BYTES);
    long n = 0;

    if (!f || !line || !codec)
        die(path, "cannot open");
    while (fgets(line, LINE_MAX_BYTES, f)) {
        size_t len = strlen(line);
        cb_event_t ev;
        void *body = NULL;
        size_t blen = 0;

        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len)
            continue;
        if (cb_codec_json_decode_event(line, len, &ev, &err) == 0 &&
            cb_codec_encode_event(codec, CB_FORMAT_AVRO, &ev, &body, &blen, &err) == 0) {
            bool org = ev.kind == CB_EVENT_ORG;
            uint32_t id = org ? org_id : person_id;
            unsigned char *frame = malloc(blen + 5);
            const char *key = org ? ev.org.code : ev.person.person_id;
            if (!frame)
                die("produce", "out of memory");
            frame[0] = 0;
            frame[1] = (unsigned char)(id >> 24);
            frame[2] = (unsigned char)(id >> 16);
            frame[3] = (unsigned char)(id >> 8);
            frame[4] = (unsigned char)id;
            memcpy(frame + 5, body, blen);
            produce(p, org ? org_topic : person_topic, RD_KAFKA_PARTITION_UA, key ? key : "", frame,
                    blen + 5);
            free(frame);
            free(body);
            cb_event_clear(&ev);
        } else {
            produce(p, org_topic, RD_KAFKA_PARTITION_UA, "poison", line, len);
        }
        n++;
    }
    flush(p);
    printf("%ld\n", n);
    fclose(f);
    free(line);
    cb_codec_destroy(codec);
    cb_config_destroy(cfg);
    rd_kafka_destroy(p);
    return 0;
}

typedef struct delivery {
    int32_t partition;
    int64_t offset;
    rd_kafka_resp_err_t err;
} delivery_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    delivery_t *d = m->_private;

    (void)rk;
    (void)opaque;
    d->partition = m->partition;
    d->offset = m->offset;
    d->err = m->err;
}

static int cmd_produce_value(const char *bootstrap, const char *topic, int partition,
                             const char *key, const char *spec)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    unsigned char *val = malloc(VALUE_MAX_BYTES);
    delivery_t d = {-1, -1, RD_KAFKA_RESP_ERR__IN_PROGRESS};
    size_t len = 0;
    char errstr[512];
    rd_kafka_t *p;

    if (!val)
        die("produce-value", "out of memory");
    if (spec[0] == '@') {
        FILE *f = fopen(spec + 1, "rb");
        if (!f)
            die(spec + 1, "cannot open");
        len = fread(val, 1, VALUE_MAX_BYTES, f);
        fclose(f);
    } else {
        for (; spec[2 * len] && spec[2 * len + 1] && len < VALUE_MAX_BYTES; len++) {
            unsigned v;
            if (sscanf(spec + 2 * len, "%2x", &v) != 1)
                die("produce-value", "not hex");
            val[len] = (unsigned char)v;
        }
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "message.max.bytes", "16777216", errstr, sizeof(errstr)))
        die("produce-value", errstr);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (!(p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))))
        die("produce-value", errstr);
    if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_KEY((void *)key, strlen(key)), RD_KAFKA_V_VALUE(val, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&d),
                          RD_KAFKA_V_END))
        die("produce-value", "refused");
    flush(p);
    if (d.err)
        die("produce-value", rd_kafka_err2str(d.err));
    printf("%d %lld\n", (int)d.partition, (long long)d.offset);
    rd_kafka_destroy(p);
    free(val);
    return 0;
}

static json_t *hex(const void *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    char *s = malloc(2 * n + 1);
    json_t *j;
    size_t i;

    if (!s)
        die("records", "out of memory");
    for (i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    j = json_stringn(s, 2 * n);
    free(s);
    return j;
}

static int cmd_records(const char *bootstrap, const char *topic)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts;
    char errstr[512];
    rd_kafka_t *c;
    rd_kafka_topic_t *rkt;
    int i, n, eofs = 0, idle = 0;

    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", "cbwire", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
    if (!(c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr))))
        die("records", errstr);
    rkt = rd_kafka_topic_new(c, topic, NULL);
    if (rd_kafka_metadata(c, 0, rkt, &md, 10000) || md->topic_cnt != 1 || md->topics[0].err)
        die(topic, "no metadata");
    n = md->topics[0].partition_cnt;
    parts = rd_kafka_topic_partition_list_new(n);
    for (i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    while (eofs < n && idle < 300) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        rd_kafka_headers_t *h = NULL;
        json_t *j, *hs;
        const char *name;
        const void *v;
        size_t len, k;
        char *s;

        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (m->err) {
            eofs += m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
            rd_kafka_message_destroy(m);
            continue;
        }
        j = json_object();
        hs = json_object();
        json_object_set_new(j, "partition", json_integer(m->partition));
        json_object_set_new(j, "offset", json_integer(m->offset));
        json_object_set_new(j, "key_len", json_integer((json_int_t)m->key_len));
        /* a key that is not UTF-8 has no JSON string: null (key_len says) */
        {
            json_t *key = m->key ? json_stringn(m->key, m->key_len) : NULL;
            json_object_set_new(j, "key", key ? key : json_null());
        }
        json_object_set_new(j, "tombstone", json_boolean(!m->payload));
        json_object_set_new(j, "timestamp", json_integer(rd_kafka_message_timestamp(m, NULL)));
        json_object_set_new(j, "value_len", json_integer((json_int_t)m->len));
        json_object_set_new(j, "value", hex(m->payload, m->len));
        if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
            for (k = 0; rd_kafka_header_get_all(h, k, &name, &v, &len) == 0; k++)
                json_object_set_new(hs, name, json_stringn(v ? v : "", v ? len : 0));
        json_object_set_new(j, "headers", hs);
        s = json_dumps(j, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(j);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    if (eofs < n)
        die(topic, "did not reach the end");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "register"))
        return cmd_register(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 8 && !strcmp(argv[1], "produce-confluent"))
        return cmd_produce_confluent(argv[2], argv[3], argv[4],
                                     (uint32_t)strtoul(argv[5], NULL, 10),
                                     (uint32_t)strtoul(argv[6], NULL, 10), argv[7]);
    if (argc == 7 && !strcmp(argv[1], "produce-value"))
        return cmd_produce_value(argv[2], argv[3], atoi(argv[4]), argv[5], argv[6]);
    if (argc == 4 && !strcmp(argv[1], "records"))
        return cmd_records(argv[2], argv[3]);
    fprintf(stderr,
            "usage: cbwire register REGISTRY_URL TOPIC org|person TAG\n"
            "       cbwire produce-confluent BOOTSTRAP ORG_TOPIC PERSON_TOPIC ORG_ID PERSON_ID "
            "FILE.jsonl\n"
            "       cbwire produce-value BOOTSTRAP TOPIC PARTITION KEY HEX|@FILE\n"
            "       cbwire records BOOTSTRAP TOPIC\n");
    return 2;
}
