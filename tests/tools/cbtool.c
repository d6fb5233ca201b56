/*
 * cbtool.c: Kafka chores for certbridge's integration tests and benchmarks.
 *
 *   cbtool produce BOOTSTRAP ORG_TOPIC PERSON_TOPIC FILE.jsonl
 *       Produces each line as it is (JSON wire format). The topic and key come
 *       from the line: a line with "person" goes to PERSON_TOPIC keyed by
 *       person.person_id, else to ORG_TOPIC keyed by org.code. A line that is
 *       not an event object (a poison message) goes to the topic named by its
 *       "_topic" field ("org"/"person"), or ORG_TOPIC, with key "poison".
 *       A "_key" member overrides the key (the events of a chain on one
 *       partition).
 *       Prints the number produced.
 *   cbtool outcomes BOOTSTRAP TOPIC
 *       Reads TOPIC from the beginning with read_committed until the end of
 *       every partition and prints one JSON object per outcome.
 *   cbtool dlq BOOTSTRAP TOPIC
 *       Same for dead letters: source topic/partition/offset, error class and
 *       message, the original value.
 *   cbtool create-topic BOOTSTRAP TOPIC PARTITIONS
 *       Creates a topic (replication factor 1).
 *   cbtool lag BOOTSTRAP GROUP TOPIC...
 *       Prints the group's total lag (end offset - committed offset) over the
 *       topics' partitions; exit 0.
 *   cbtool produce-raw BOOTSTRAP FILE.jsonl [PROPERTY=VALUE...]
 *       Produces records byte for byte (the poison corpus): each line is
 *       {"topic": T, "partition": P, "key": HEX|null, "value": HEX|null,
 *        "headers": [[HEX_NAME, HEX|null], ...]}. The properties are
 *       librdkafka producer settings (message.max.bytes=...,
 *       enable.idempotence=false). Prints one line per record, in order:
 *       {"partition": P, "offset": O} or {"error": "..."}; exit 1 when a
 *       record was not delivered.
 *   cbtool produce-outcomes BOOTSTRAP TOPIC FILE.jsonl
 *       Produces crafted outcome records (the approvals and report tests):
 *       each line is an outcome object with the fields `cbtool outcomes`
 *       prints (missing ones null or zero; "final" true unless given),
 *       encoded with certbridge's own encoder (plain Avro, as `run` writes
 *       without a Schema Registry), keyed by source_event_id. Prints the
 *       number produced.
 *   cbtool dump BOOTSTRAP TOPIC
 *       Reads TOPIC from the beginning with read_committed until the end of
 *       every partition; one line per record: {"partition", "offset",
 *       "key": HEX|null, "value": HEX|null, "headers": [[HEX_NAME, HEX|null]]}.
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certbridge/codec.h"
#include "certbridge/config.h"
#include "certbridge/outcome.h"

#include "../support/kafka_test.h"

#define LINE_MAX_BYTES     (1024 * 1024)
#define RAW_LINE_MAX_BYTES (8 * 1024 * 1024) /* a hex record of a value at the broker's limit */
#define RAW_RECORDS_MAX    100000

static rd_kafka_t *make_client(rd_kafka_type_t type, const char *bootstrap, const char *group)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    rd_kafka_t *rk;

    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    if (type == RD_KAFKA_CONSUMER) {
        rd_kafka_conf_set(conf, "group.id", group ? group : "cbtool", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "isolation.level", group ? "read_uncommitted" : "read_committed",
                          errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
    } else {
        rd_kafka_conf_set(conf, "linger.ms", "20", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
    }
    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "cbtool: %s\n", errstr);
        exit(1);
    }
    return rk;
}

static int cmd_produce(const char *bootstrap, const char *org_topic, const char *person_topic,
                       const char *path)
{
    rd_kafka_t *p = make_client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    FILE *f = fopen(path, "r");
    char *line = malloc(LINE_MAX_BYTES);
    long n = 0;

    if (!f || !line) {
        fprintf(stderr, "cbtool: cannot open %s\n", path);
        return 1;
    }
    while (fgets(line, LINE_MAX_BYTES, f)) {
        size_t len = strlen(line);
        json_t *root;
        const char *topic = org_topic, *key = "poison";
        rd_kafka_resp_err_t e;

        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len)
            continue;
        root = json_loadb(line, len, 0, NULL);
        if (root && json_is_object(root)) {
            json_t *person = json_object_get(root, "person");
            json_t *t = json_object_get(root, "_topic");
            if (t && json_is_string(t)) {
                topic = !strcmp(json_string_value(t), "person") ? person_topic : org_topic;
            } else if (person) {
                topic = person_topic;
                if (json_is_string(json_object_get(person, "person_id")))
                    key = json_string_value(json_object_get(person, "person_id"));
            } else if (json_is_string(json_object_get(json_object_get(root, "org"), "code"))) {
                key = json_string_value(json_object_get(json_object_get(root, "org"), "code"));
            }
            /* a chain's event keyed like the holder it follows (workload.py) */
            if (json_is_string(json_object_get(root, "_key")))
                key = json_string_value(json_object_get(root, "_key"));
        }
        do {
            e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                  RD_KAFKA_V_KEY((void *)key, strlen(key)),
                                  RD_KAFKA_V_VALUE(line, len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 100);
        } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        json_decref(root);
        if (e) {
            fprintf(stderr, "cbtool: produce: %s\n", rd_kafka_err2str(e));
            return 1;
        }
        n++;
    }
    fclose(f);
    free(line);
    if (rd_kafka_flush(p, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "cbtool: flush timed out\n");
        return 1;
    }
    rd_kafka_destroy(p);
    printf("%ld\n", n);
    return 0;
}

/* A string member of j, copied (NULL when absent or not a string). */
static char *jcopy(json_t *j, const char *name)
{
    const char *s = json_string_value(json_object_get(j, name));

    return s ? strdup(s) : NULL;
}

/* One crafted outcome from its JSON object (cbtool outcomes' fields).
 * Returns 0, or -1 for an unknown enum symbol. */
static int outcome_of_json(json_t *j, cb_outcome_t *o)
{
    const char *reason = json_string_value(json_object_get(j, "revocation_reason"));
    int action = cb_action_parse(json_string_value(json_object_get(j, "action")));
    int type = cb_holder_type_parse(json_string_value(json_object_get(j, "holder_type")));
    int status = cb_outcome_status_parse(json_string_value(json_object_get(j, "status")));
    json_t *final = json_object_get(j, "final");

    cb_outcome_init(o);
    if (action < 0 || type < 0 || status < 0)
        return -1;
    o->outcome_id = jcopy(j, "outcome_id");
    o->source_event_id = jcopy(j, "source_event_id");
    o->source_event_type = jcopy(j, "source_event_type");
    o->source_topic = jcopy(j, "source_topic");
    o->source_partition = (int32_t)json_integer_value(json_object_get(j, "source_partition"));
    o->source_offset = json_integer_value(json_object_get(j, "source_offset"));
    o->action_index = (int32_t)json_integer_value(json_object_get(j, "action_index"));
    o->action_count = (int32_t)json_integer_value(json_object_get(j, "action_count"));
    o->action = (cb_action_t)action;
    o->holder_type = (cb_holder_type_t)type;
    o->holder_id = jcopy(j, "holder_id");
    o->holder_name = jcopy(j, "holder_name");
    o->certificate_serial = jcopy(j, "certificate_serial");
    o->new_certificate_serial = jcopy(j, "new_certificate_serial");
    if (reason) {
        if (!strcmp(reason, "affiliationChanged"))
            o->revocation_reason = CB_REASON_AFFILIATION_CHANGED;
        else if (!strcmp(reason, "superseded"))
            o->revocation_reason = CB_REASON_SUPERSEDED;
        else if (!strcmp(reason, "cessationOfOperation"))
            o->revocation_reason = CB_REASON_CESSATION_OF_OPERATION;
        else
            return -1;
    }
    o->device_id = jcopy(j, "device_id");
    o->status = (cb_outcome_status_t)status;
    o->ca_request_id = jcopy(j, "ca_request_id");
    o->http_status = (int32_t)json_integer_value(json_object_get(j, "http_status"));
    o->error_code = jcopy(j, "error_code");
    o->error_message = jcopy(j, "error_message");
    o->attempts = (int32_t)json_integer_value(json_object_get(j, "attempts"));
    o->latency_ms = json_integer_value(json_object_get(j, "latency_ms"));
    o->processed_at_ms = json_integer_value(json_object_get(j, "processed_at"));
    o->emergency_signing_allowed = json_is_true(json_object_get(j, "emergency_signing_allowed"));
    o->final = final ? json_is_true(final) : true;
    o->note = jcopy(j, "note");
    o->approval_request_id = jcopy(j, "approval_request_id");
    o->managing_agency_code = jcopy(j, "managing_agency_code");
    o->managing_agency_name = jcopy(j, "managing_agency_name");
    o->document_number = jcopy(j, "document_number");
    o->approver = jcopy(j, "approver");
    return 0;
}

static int cmd_produce_outcomes(const char *bootstrap, const char *topic, const char *path)
{
    rd_kafka_t *p = make_client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    cb_config_t *cfg = cb_config_new();
    cb_codec_t *codec;
    FILE *f = fopen(path, "r");
    char *line = malloc(LINE_MAX_BYTES);
    cb_error_t err;
    long n = 0;

    if (!f || !line || !cfg || !(codec = cb_codec_new(cfg, &err))) {
        fprintf(stderr, "cbtool: cannot open %s (or no codec)\n", path);
        return 1;
    }
    while (fgets(line, LINE_MAX_BYTES, f)) {
        json_t *root = json_loads(line, 0, NULL);
        cb_outcome_t o;
        void *buf = NULL;
        size_t len = 0;
        rd_kafka_resp_err_t e;
        const char *key;

        if (!root)
            continue; /* a blank line */
        if (outcome_of_json(root, &o) < 0 ||
            cb_codec_encode_outcome(codec, &o, &buf, &len, &err) < 0) {
            fprintf(stderr, "cbtool: line %ld: not an outcome\n", n + 1);
            return 1;
        }
        key = o.source_event_id ? o.source_event_id : "";
        do {
            e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                  RD_KAFKA_V_KEY((void *)key, strlen(key)),
                                  RD_KAFKA_V_VALUE(buf, len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 100);
        } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        free(buf);
        cb_outcome_clear(&o);
        json_decref(root);
        if (e) {
            fprintf(stderr, "cbtool: produce: %s\n", rd_kafka_err2str(e));
            return 1;
        }
        n++;
    }
    fclose(f);
    free(line);
    cb_codec_destroy(codec);
    cb_config_destroy(cfg);
    if (rd_kafka_flush(p, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "cbtool: flush timed out\n");
        return 1;
    }
    rd_kafka_destroy(p);
    printf("%ld\n", n);
    return 0;
}

/* Assigns every partition of topic from the beginning; returns the count. */
static int assign_all(rd_kafka_t *c, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, topic, NULL);
    rd_kafka_topic_partition_list_t *parts;
    int i, n;

    if (rd_kafka_metadata(c, 0, rkt, &md, 10000) || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "cbtool: no metadata for %s\n", topic);
        exit(1);
    }
    n = md->topics[0].partition_cnt;
    parts = rd_kafka_topic_partition_list_new(n);
    for (i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void print_outcome(const cb_outcome_t *o, const rd_kafka_message_t *m)
{
    json_t *j = json_object();
    char *s;

    json_object_set_new(j, "outcome_id", jstr(o->outcome_id));
    json_object_set_new(j, "source_event_id", jstr(o->source_event_id));
    json_object_set_new(j, "source_event_type", jstr(o->source_event_type));
    json_object_set_new(j, "source_topic", jstr(o->source_topic));
    json_object_set_new(j, "source_partition", json_integer(o->source_partition));
    json_object_set_new(j, "source_offset", json_integer(o->source_offset));
    json_object_set_new(j, "action_index", json_integer(o->action_index));
    json_object_set_new(j, "action_count", json_integer(o->action_count));
    json_object_set_new(j, "action", jstr(cb_action_name(o->action)));
    json_object_set_new(j, "holder_type", jstr(cb_holder_type_name(o->holder_type)));
    json_object_set_new(j, "holder_id", jstr(o->holder_id));
    json_object_set_new(j, "holder_name", jstr(o->holder_name));
    json_object_set_new(j, "certificate_serial", jstr(o->certificate_serial));
    json_object_set_new(j, "new_certificate_serial", jstr(o->new_certificate_serial));
    json_object_set_new(j, "revocation_reason",
                        jstr(o->revocation_reason == CB_REASON_NONE
                                 ? NULL
                                 : cb_revocation_reason_name(o->revocation_reason)));
    json_object_set_new(j, "device_id", jstr(o->device_id));
    json_object_set_new(j, "status", jstr(cb_outcome_status_name(o->status)));
    json_object_set_new(j, "ca_request_id", jstr(o->ca_request_id));
    json_object_set_new(j, "http_status", json_integer(o->http_status));
    json_object_set_new(j, "error_code", jstr(o->error_code));
    json_object_set_new(j, "error_message", jstr(o->error_message));
    json_object_set_new(j, "attempts", json_integer(o->attempts));
    json_object_set_new(j, "latency_ms", json_integer(o->latency_ms));
    json_object_set_new(j, "processed_at", json_integer(o->processed_at_ms));
    json_object_set_new(j, "emergency_signing_allowed", json_boolean(o->emergency_signing_allowed));
    json_object_set_new(j, "final", json_boolean(o->final));
    json_object_set_new(j, "note", jstr(o->note));
    json_object_set_new(j, "approval_request_id", jstr(o->approval_request_id));
    json_object_set_new(j, "managing_agency_code", jstr(o->managing_agency_code));
    json_object_set_new(j, "managing_agency_name", jstr(o->managing_agency_name));
    json_object_set_new(j, "document_number", jstr(o->document_number));
    json_object_set_new(j, "approver", jstr(o->approver));
    json_object_set_new(j, "kafka_partition", json_integer(m->partition));
    json_object_set_new(j, "kafka_offset", json_integer(m->offset));
    json_object_set_new(j, "kafka_timestamp", json_integer(rd_kafka_message_timestamp(m, NULL)));
    s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    puts(s);
    free(s);
    json_decref(j);
}

static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t size)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;

    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &h) || !h || rd_kafka_header_get_last(h, name, &v, &len))
        return buf;
    snprintf(buf, size, "%.*s", (int)len, (const char *)v);
    return buf;
}

static void print_dead(rd_kafka_message_t *m)
{
    json_t *j = json_object();
    char b[2048], *s;

    json_object_set_new(j, "error_class",
                        json_string(header(m, "certbridge.error.class", b, sizeof(b))));
    json_object_set_new(j, "error_message",
                        json_string(header(m, "certbridge.error.message", b, sizeof(b))));
    json_object_set_new(j, "source_topic",
                        json_string(header(m, "certbridge.source.topic", b, sizeof(b))));
    json_object_set_new(j, "source_partition",
                        json_integer(atoi(header(m, "certbridge.source.partition", b, sizeof(b)))));
    json_object_set_new(j, "source_offset",
                        json_integer(atoll(header(m, "certbridge.source.offset", b, sizeof(b)))));
    json_object_set_new(j, "key", json_stringn(m->key ? m->key : "", m->key_len));
    json_object_set_new(j, "value", json_stringn(m->payload ? m->payload : "", m->len));
    s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    puts(s);
    free(s);
    json_decref(j);
}

extern char **environ;

static int cmd_read(const char *bootstrap, const char *topic, bool outcomes)
{
    rd_kafka_t *c = make_client(RD_KAFKA_CONSUMER, bootstrap, NULL);
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;
    /* CERTBRIDGE_SCHEMA_REGISTRY_URL: outcomes a registry framed */
    cb_codec_t *codec =
        cb_config_apply_env(cfg, environ, &err) < 0 ? NULL : cb_codec_new(cfg, &err);
    int parts = assign_all(c, topic), eofs = 0, idle = 0, bad = 0;

    if (!codec) {
        fprintf(stderr, "cbtool: %s\n", err.msg);
        return 1;
    }
    while (eofs < parts && idle < 300) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (m->err) {
            fprintf(stderr, "cbtool: %s\n", rd_kafka_message_errstr(m));
        } else if (outcomes) {
            cb_outcome_t o;
            if (cb_codec_decode_outcome(codec, m->payload, m->len, &o, &err) < 0) {
                fprintf(stderr, "cbtool: undecodable outcome at %d@%lld: %s\n", (int)m->partition,
                        (long long)m->offset, err.msg);
                bad++;
            } else {
                print_outcome(&o, m);
                cb_outcome_clear(&o);
            }
        } else {
            print_dead(m);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    cb_codec_destroy(codec);
    cb_config_destroy(cfg);
    if (eofs < parts) {
        fprintf(stderr, "cbtool: did not reach the end of %s\n", topic);
        return 1;
    }
    return bad ? 1 : 0;
}

static int cmd_lag(const char *bootstrap, const char *group, int ntopics, char **topics)
{
    /* read_uncommitted: an OffsetFetch that does not wait for the pending
     * offsets of a killed instance's open transaction (KIP-447) */
    rd_kafka_t *c = make_client(RD_KAFKA_CONSUMER, bootstrap, group);
    rd_kafka_resp_err_t e;
    int tries = 0;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    long long lag = 0;
    int t, i;

    for (t = 0; t < ntopics; t++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, topics[t], NULL);
        if (rd_kafka_metadata(c, 0, rkt, &md, 10000) == 0 && md->topic_cnt == 1)
            for (i = 0; i < md->topics[0].partition_cnt; i++)
                rd_kafka_topic_partition_list_add(parts, topics[t], md->topics[0].partitions[i].id);
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
    }
    /* a coordinator still loading answers at once: try for about 30 s */
    while ((e = rd_kafka_committed(c, parts, 10000)) && ++tries < 60)
        usleep(500 * 1000);
    if (e)
        fprintf(stderr, "cbtool: committed offsets unavailable: %s\n", rd_kafka_err2str(e));
    for (i = 0; !e && i < parts->cnt; i++) {
        int64_t lo, hi, committed = parts->elems[i].offset;
        if ((e = rd_kafka_query_watermark_offsets(c, parts->elems[i].topic,
                                                  parts->elems[i].partition, &lo, &hi, 10000)))
            fprintf(stderr, "cbtool: watermarks of %s[%d]: %s\n", parts->elems[i].topic,
                    (int)parts->elems[i].partition, rd_kafka_err2str(e));
        else
            lag += hi - (committed < 0 ? lo : committed);
    }
    if (!e)
        printf("%lld\n", lag);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(c);
    return e ? 1 : 0;
}

/* ---- raw records (produce-raw, dump) ---------------------------------- */

/* Decodes the hex string j into a new buffer (*out, *len); a JSON null gives
 * *out = NULL. Returns -1 on a malformed value. */
static int unhex(json_t *j, unsigned char **out, size_t *len)
{
    const char *s;
    size_t n, i;

    *out = NULL;
    *len = 0;
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_string(j))
        return -1;
    s = json_string_value(j);
    n = strlen(s);
    if (n % 2)
        return -1;
    *out = malloc(n / 2 + 1); /* never NULL for an empty value: "" is not null */
    if (!*out)
        return -1;
    for (i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            free(*out);
            *out = NULL;
            return -1;
        }
        (*out)[i] = (unsigned char)v;
    }
    *len = n / 2;
    return 0;
}

/* A hex JSON string of p[0..n), or JSON null for p == NULL. */
static json_t *hexj(const void *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    char *s;
    json_t *j;
    size_t i;

    if (!p)
        return json_null();
    if (!(s = malloc(2 * n + 1)))
        return json_null();
    for (i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[2 * n] = '\0';
    j = json_stringn(s, 2 * n);
    free(s);
    return j;
}

typedef struct raw_result {
    int partition;
    long long offset;
    rd_kafka_resp_err_t err;
    bool done;
} raw_result_t;

static void raw_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    raw_result_t *r = m->_private;

    (void)rk;
    (void)opaque;
    r->partition = (int)m->partition;
    r->offset = (long long)m->offset;
    r->err = m->err;
    r->done = true;
}

static int cmd_produce_raw(const char *bootstrap, const char *path, int nprops, char **props)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    raw_result_t *res = calloc(RAW_RECORDS_MAX, sizeof(*res));
    char *line = malloc(RAW_LINE_MAX_BYTES), errstr[512];
    FILE *f = fopen(path, "r");
    rd_kafka_t *p;
    long n = 0, i, failed = 0;
    int k;

    if (!f || !line || !res) {
        fprintf(stderr, "cbtool: cannot open %s\n", path);
        return 1;
    }
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "linger.ms", "20", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
    for (k = 0; k < nprops; k++) {
        char *eq = strchr(props[k], '=');
        if (!eq) {
            fprintf(stderr, "cbtool: %s: expected PROPERTY=VALUE\n", props[k]);
            return 2;
        }
        *eq = '\0';
        if (rd_kafka_conf_set(conf, props[k], eq + 1, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "cbtool: %s: %s\n", props[k], errstr);
            return 2;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, raw_dr);
    if (!(p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
        fprintf(stderr, "cbtool: %s\n", errstr);
        return 1;
    }
    while (fgets(line, RAW_LINE_MAX_BYTES, f)) {
        json_t *root, *h, *pair;
        unsigned char *key = NULL, *val = NULL;
        size_t klen = 0, vlen = 0, hi;
        rd_kafka_headers_t *hdrs = NULL;
        rd_kafka_resp_err_t e;
        json_error_t jerr;

        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        if (n == RAW_RECORDS_MAX || !(root = json_loads(line, 0, &jerr)) ||
            !json_is_string(json_object_get(root, "topic")) ||
            unhex(json_object_get(root, "key"), &key, &klen) < 0 ||
            unhex(json_object_get(root, "value"), &val, &vlen) < 0) {
            fprintf(stderr, "cbtool: %s: record %ld is malformed (or past %d records)\n", path,
                    n + 1, RAW_RECORDS_MAX);
            return 1;
        }
        h = json_object_get(root, "headers");
        if (json_array_size(h)) {
            hdrs = rd_kafka_headers_new(json_array_size(h));
            json_array_foreach(h, hi, pair)
            {
                unsigned char *hn = NULL, *hv = NULL;
                size_t hnl = 0, hvl = 0;
                if (unhex(json_array_get(pair, 0), &hn, &hnl) < 0 || !hn ||
                    unhex(json_array_get(pair, 1), &hv, &hvl) < 0) {
                    fprintf(stderr, "cbtool: %s: record %ld: a malformed header\n", path, n + 1);
                    return 1;
                }
                rd_kafka_header_add(hdrs, (const char *)hn, (ssize_t)hnl, hv, (ssize_t)hvl);
                free(hn);
                free(hv);
            }
        }
        do {
            e = rd_kafka_producev(
                p, RD_KAFKA_V_TOPIC(json_string_value(json_object_get(root, "topic"))),
                RD_KAFKA_V_PARTITION(
                    (int32_t)json_integer_value(json_object_get(root, "partition"))),
                RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE(val, vlen),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&res[n]),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 100);
        } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (e) { /* refused before sending: reported like a failed delivery */
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            res[n].err = e;
            res[n].done = true;
        }
        free(key);
        free(val);
        json_decref(root);
        n++;
    }
    fclose(f);
    free(line);
    rd_kafka_flush(p, 60000);
    for (i = 0; i < n; i++) {
        if (!res[i].done || res[i].err) {
            failed++;
            printf("{\"error\": \"%s\"}\n",
                   res[i].done ? rd_kafka_err2str(res[i].err) : "not delivered within 60 s");
        } else {
            printf("{\"partition\": %d, \"offset\": %lld}\n", res[i].partition, res[i].offset);
        }
    }
    rd_kafka_destroy(p);
    free(res);
    return failed ? 1 : 0;
}

static void print_raw(rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    json_t *j = json_object(), *hs = json_array();
    const char *name;
    const void *v;
    size_t len, i;
    char *s;

    json_object_set_new(j, "partition", json_integer(m->partition));
    json_object_set_new(j, "offset", json_integer(m->offset));
    json_object_set_new(j, "key", hexj(m->key, m->key_len));
    json_object_set_new(j, "value", hexj(m->payload, m->len));
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
        for (i = 0; rd_kafka_header_get_all(h, i, &name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
            json_t *pair = json_array();
            json_array_append_new(pair, hexj(name, strlen(name)));
            json_array_append_new(pair, hexj(v, len));
            json_array_append_new(hs, pair);
        }
    json_object_set_new(j, "headers", hs);
    s = json_dumps(j, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(j);
}

static int cmd_dump(const char *bootstrap, const char *topic)
{
    rd_kafka_t *c = make_client(RD_KAFKA_CONSUMER, bootstrap, NULL);
    int parts = assign_all(c, topic), eofs = 0, idle = 0;

    while (eofs < parts && idle < 300) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (m->err)
            fprintf(stderr, "cbtool: %s\n", rd_kafka_message_errstr(m));
        else
            print_raw(m);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    if (eofs < parts) {
        fprintf(stderr, "cbtool: did not reach the end of %s\n", topic);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "produce"))
        return cmd_produce(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 4 && !strcmp(argv[1], "outcomes"))
        return cmd_read(argv[2], argv[3], true);
    if (argc == 4 && !strcmp(argv[1], "dlq"))
        return cmd_read(argv[2], argv[3], false);
    if (argc == 5 && !strcmp(argv[1], "create-topic")) {
        char errstr[512];
        if (kt_create_topic(argv[2], argv[3], atoi(argv[4]), errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "cbtool: create-topic %s: %s\n", argv[3], errstr);
            return 1;
        }
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "lag"))
        return cmd_lag(argv[2], argv[3], argc - 4, argv + 4);
    if (argc >= 4 && !strcmp(argv[1], "produce-raw"))
        return cmd_produce_raw(argv[2], argv[3], argc - 4, argv + 4);
    if (argc == 4 && !strcmp(argv[1], "dump"))
        return cmd_dump(argv[2], argv[3]);
    if (argc == 5 && !strcmp(argv[1], "produce-outcomes"))
        return cmd_produce_outcomes(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: cbtool produce BOOTSTRAP ORG_TOPIC PERSON_TOPIC FILE.jsonl\n"
                    "       cbtool outcomes|dlq BOOTSTRAP TOPIC\n"
                    "       cbtool create-topic BOOTSTRAP TOPIC PARTITIONS\n"
                    "       cbtool lag BOOTSTRAP GROUP TOPIC...\n"
                    "       cbtool produce-raw BOOTSTRAP FILE.jsonl [PROPERTY=VALUE...]\n"
                    "       cbtool dump BOOTSTRAP TOPIC\n"
                    "       cbtool produce-outcomes BOOTSTRAP TOPIC FILE.jsonl\n");
    return 2;
}
