/* test_codec.c: Avro and Confluent codecs of events and outcomes: round trips
 * for every type and symbol, schema evolution both ways, one case per
 * validation error with its message, NFC normalization, format dispatch. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/codec.h"
#include "certbridge/codec_avro.h"
#include "certbridge/schema_registry.h"
#include "certbridge/schemas.h"

/* ---- a tiny Avro writer for hand-made messages ---- */
typedef struct bw {
    unsigned char b[4096];
    size_t n;
} bw_t;

static void bw_long(bw_t *w, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    do {
        unsigned char c = u & 0x7f;
        u >>= 7;
        w->b[w->n++] = c | (u ? 0x80 : 0);
    } while (u);
}

static void bw_raw(bw_t *w, const void *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void bw_str(bw_t *w, const char *s)
{
    bw_long(w, (int64_t)strlen(s));
    bw_raw(w, s, strlen(s));
}

/* ---- fixtures ---- */
static cb_codec_t *codec;

static int setup(void **state)
{
    cb_error_t err;
    (void)state;
    codec = cb_codec_new(NULL, &err);
    return codec ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cb_codec_destroy(codec);
    return 0;
}

static void fill_org(cb_org_t *o, const char *code, const char *name, bool full)
{
    o->code = strdup(code);
    o->name = strdup(name);
    o->province = strdup("Tỉnh Đồng Nai");
    if (full) {
        o->parent_code = strdup("000.00.00.H19");
        o->parent_name = strdup("Ủy ban nhân dân tỉnh Đồng Nai");
        o->address = strdup("Số 2 Nguyễn Văn Trị, Biên Hòa");
    }
}

static void make_org_event(cb_event_t *ev, cb_org_event_type_t type)
{
    cb_event_init(ev);
    ev->kind = CB_EVENT_ORG;
    ev->type = type;
    ev->event_id = strdup("org-evt-1");
    ev->occurred_at_ms = 1751328000123LL;
    ev->effective_date = 20270; /* 2025-07-01 */
    ev->source_system = strdup("hrm-dongnai");
    fill_org(&ev->org, "000.00.31.H19", "Sở Nông nghiệp và Môi trường", true);
    if (type == CB_ORG_MERGED) {
        ev->merged_orgs = calloc(2, sizeof(cb_org_t));
        ev->merged_count = 2;
        fill_org(&ev->merged_orgs[0], "000.00.12.H19", "Sở Nông nghiệp", false);
        fill_org(&ev->merged_orgs[1], "000.00.13.H19", "Sở Tài nguyên và Môi trường", true);
        ev->result_is_new = true;
        ev->certificate_carrier = strdup("000.00.13.H19");
    }
    if (type == CB_ORG_CANCELLED) { /* org.address names the event it cancels */
        free(ev->org.address);
        ev->org.address = strdup("org-evt-0");
    }
}

static void make_person_event(cb_event_t *ev, cb_person_event_type_t type)
{
    cb_event_init(ev);
    ev->kind = CB_EVENT_PERSON;
    ev->type = type;
    ev->event_id = strdup("person-evt-1");
    ev->occurred_at_ms = -86400000LL; /* negative times survive zigzag */
    ev->effective_date = -1;
    ev->source_system = strdup("hrm");
    fill_org(&ev->org, "000.00.31.H19", "Sở Nông nghiệp và Môi trường", false);
    ev->person.person_id = strdup("NV-0042");
    ev->person.national_id = strdup("075123456789");
    ev->person.full_name = strdup("Nguyễn Thị Bích Ngọc");
    ev->person.email = strdup("ngoc.ntb@dongnai.gov.vn");
    ev->person.title = strdup("Phó Giám đốc");
    ev->person.is_leader = true;
    if (type == CB_PERSON_TRANSFERRED) {
        ev->previous_org = calloc(1, sizeof(cb_org_t));
        fill_org(ev->previous_org, "000.00.12.H19", "Sở Nông nghiệp", true);
    }
    if (type == CB_PERSON_CANCELLED) /* org.address names the event it cancels */
        ev->org.address = strdup("person-evt-0");
}

static void assert_str_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_org_equal(const cb_org_t *a, const cb_org_t *b)
{
    assert_string_equal(a->code, b->code);
    assert_string_equal(a->name, b->name);
    assert_str_or_null(a->parent_code, b->parent_code);
    assert_str_or_null(a->parent_name, b->parent_name);
    assert_string_equal(a->province, b->province);
    assert_str_or_null(a->address, b->address);
}

static void assert_event_equal(const cb_event_t *a, const cb_event_t *b)
{
    size_t i;

    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->type, b->type);
    assert_string_equal(a->event_id, b->event_id);
    assert_int_equal(a->occurred_at_ms, b->occurred_at_ms);
    assert_int_equal(a->effective_date, b->effective_date);
    assert_string_equal(a->source_system, b->source_system);
    assert_org_equal(&a->org, &b->org);
    assert_int_equal(a->merged_count, b->merged_count);
    for (i = 0; i < a->merged_count; i++)
        assert_org_equal(&a->merged_orgs[i], &b->merged_orgs[i]);
    assert_int_equal(a->result_is_new, b->result_is_new);
    assert_str_or_null(a->certificate_carrier, b->certificate_carrier);
    assert_str_or_null(a->person.person_id, b->person.person_id);
    assert_str_or_null(a->person.national_id, b->person.national_id);
    assert_str_or_null(a->person.full_name, b->person.full_name);
    assert_str_or_null(a->person.email, b->person.email);
    assert_str_or_null(a->person.title, b->person.title);
    assert_int_equal(a->person.is_leader, b->person.is_leader);
    assert_int_equal(a->previous_org != NULL, b->previous_org != NULL);
    if (a->previous_org)
        assert_org_equal(a->previous_org, b->previous_org);
    assert_int_equal(a->departure_reason, b->departure_reason);
}

/* Encodes ev as plain Avro, and as a Confluent frame with id 7 (the writer
 * schema preloaded under 7, as the registry would answer it), and decodes
 * both (and through auto) back. */
static void round_trip(const cb_event_t *ev)
{
    cb_schema_id_t sid = ev->kind == CB_EVENT_ORG ? CB_SCHEMA_ORG_EVENT : CB_SCHEMA_PERSON_EVENT;
    cb_event_t back;
    cb_error_t err;
    void *buf;
    size_t len, slen;
    unsigned char *framed;
    const char *text = cb_schema_text(sid, &slen);

    assert_int_equal(cb_codec_encode_event(codec, CB_FORMAT_AVRO, ev, &buf, &len, &err), 0);
    assert_true(((unsigned char *)buf)[0] != 0 && ((unsigned char *)buf)[0] != '{');
    assert_int_equal(cb_codec_decode_event(codec, ev->kind, CB_FORMAT_AVRO, buf, len, &back, &err),
                     0);
    assert_event_equal(ev, &back);
    cb_event_clear(&back);
    assert_int_equal(cb_codec_decode_event(codec, ev->kind, CB_FORMAT_AUTO, buf, len, &back, &err),
                     0);
    assert_event_equal(ev, &back);
    cb_event_clear(&back);

    assert_int_equal(cb_registry_preload(cb_codec_registry(codec), 7 + sid, text, slen, &err), 0);
    framed = malloc(len + 5);
    framed[0] = 0;
    framed[1] = framed[2] = framed[3] = 0;
    framed[4] = (unsigned char)(7 + sid);
    memcpy(framed + 5, buf, len);
    assert_int_equal(
        cb_codec_decode_event(codec, ev->kind, CB_FORMAT_CONFLUENT, framed, len + 5, &back, &err),
        0);
    assert_event_equal(ev, &back);
    cb_event_clear(&back);
    assert_int_equal(
        cb_codec_decode_event(codec, ev->kind, CB_FORMAT_AUTO, framed, len + 5, &back, &err), 0);
    assert_event_equal(ev, &back);
    cb_event_clear(&back);
    free(framed);
    free(buf);
}

static void test_org_round_trip(void **state)
{
    cb_event_t ev;
    int t;

    (void)state;
    for (t = 0; t < CB_ORG_EVENT_TYPE_COUNT; t++) {
        make_org_event(&ev, (cb_org_event_type_t)t);
        round_trip(&ev);
        cb_event_clear(&ev);
    }
    /* MERGED into an existing organization, carrier left to its default */
    make_org_event(&ev, CB_ORG_MERGED);
    ev.result_is_new = false;
    free(ev.certificate_carrier);
    ev.certificate_carrier = NULL;
    round_trip(&ev);
    cb_event_clear(&ev);
}

static void test_person_round_trip(void **state)
{
    cb_event_t ev;
    int t, r;

    (void)state;
    for (t = 0; t < CB_PERSON_EVENT_TYPE_COUNT; t++) {
        make_person_event(&ev, (cb_person_event_type_t)t);
        round_trip(&ev);
        cb_event_clear(&ev);
    }
    for (r = 0; r < CB_DEPARTURE_REASON_COUNT; r++) {
        make_person_event(&ev, CB_PERSON_DEPARTED);
        ev.departure_reason = (cb_departure_reason_t)r;
        free(ev.person.email);
        ev.person.email = NULL;
        ev.person.is_leader = false;
        round_trip(&ev);
        cb_event_clear(&ev);
    }
}

/* The outcome encoder writes what Avro-C writes: Avro-C reads the bytes
 * with the embedded schema and writes the same bytes back. */
static void assert_avro_c_bytes(const void *buf, size_t len)
{
    size_t tlen, size = 0;
    const char *text = cb_schema_text(CB_SCHEMA_OUTCOME, &tlen);
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t v;
    avro_reader_t r;
    avro_writer_t w;
    char *out;

    assert_int_equal(avro_schema_from_json_length(text, tlen, &schema), 0);
    assert_non_null(iface = avro_generic_class_from_schema(schema));
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    assert_non_null(r = avro_reader_memory(buf, (int64_t)len));
    assert_int_equal(avro_value_read(r, &v), 0);
    assert_int_equal(avro_value_sizeof(&v, &size), 0);
    assert_int_equal(size, len);
    assert_non_null(out = malloc(size));
    assert_non_null(w = avro_writer_memory(out, (int64_t)size));
    assert_int_equal(avro_value_write(w, &v), 0);
    assert_memory_equal(out, buf, len);
    free(out);
    avro_writer_free(w);
    avro_reader_free(r);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static void test_outcome_round_trip(void **state)
{
    cb_outcome_t o, back;
    cb_error_t err;
    void *buf;
    size_t len;
    int s;

    (void)state;
    for (s = 0; s < CB_STATUS_COUNT; s++) {
        cb_outcome_init(&o);
        o.outcome_id = strdup("org-evt-1/3");
        o.source_event_id = strdup("org-evt-1");
        o.source_event_type = strdup("MERGED");
        o.source_topic = strdup("hr.org-events");
        o.source_partition = 2;
        o.source_offset = 123456789012LL;
        o.action_index = 3;
        o.action_count = 4;
        o.action = (cb_action_t)(s % CB_ACTION_COUNT);
        o.holder_type = (cb_holder_type_t)(s % 2);
        o.holder_id = strdup("000.00.12.H19");
        o.holder_name = s == 0 ? NULL : strdup("Sở Nông nghiệp");
        o.certificate_serial = strdup("5A0F");
        o.new_certificate_serial = s == 1 ? strdup("5A10") : NULL;
        o.revocation_reason = s == 2   ? CB_REASON_AFFILIATION_CHANGED
                              : s == 3 ? CB_REASON_SUPERSEDED
                              : s == 4 ? CB_REASON_CESSATION_OF_OPERATION
                                       : CB_REASON_NONE;
        o.device_id = strdup("TOKEN-77");
        o.status = (cb_outcome_status_t)s;
        o.ca_request_id = s == CB_STATUS_PENDING ? strdup("req-9") : NULL;
        o.http_status = s == CB_STATUS_SKIPPED ? 0 : 200 + s;
        o.error_code = s == CB_STATUS_REJECTED ? strdup("CERT_NOT_FOUND") : NULL;
        o.error_message = s == CB_STATUS_REJECTED ? strdup("không tìm thấy") : NULL;
        o.attempts = s;
        o.latency_ms = 1000 + s;
        o.processed_at_ms = 1751328000999LL;
        o.emergency_signing_allowed = s == 0;
        o.note = strdup("Nộp lại thiết bị lưu khóa bí mật / return the token");
        o.final = s != CB_STATUS_PENDING;
        if (s % 2) { /* the approval gate's fields on every other status */
            o.approval_request_id = strdup("000.00.12.H19-20250701");
            o.managing_agency_code = strdup("000.00.12.H19");
            o.managing_agency_name = strdup("UBND tỉnh Đồng Nai");
            o.document_number = strdup("1234/UBND-KGVX ngày 01/7/2025");
            o.approver = strdup("Nguyễn Văn A, Phó Chủ tịch");
        }
        assert_int_equal(cb_codec_encode_outcome(codec, &o, &buf, &len, &err), 0);
        assert_avro_c_bytes(buf, len);
        assert_int_equal(cb_codec_decode_outcome(codec, buf, len, &back, &err), 0);
        assert_string_equal(back.outcome_id, o.outcome_id);
        assert_string_equal(back.source_event_id, o.source_event_id);
        assert_string_equal(back.source_event_type, o.source_event_type);
        assert_string_equal(back.source_topic, o.source_topic);
        assert_int_equal(back.source_partition, 2);
        assert_int_equal(back.source_offset, 123456789012LL);
        assert_int_equal(back.action_index, 3);
        assert_int_equal(back.action_count, 4);
        assert_int_equal(back.action, o.action);
        assert_int_equal(back.holder_type, o.holder_type);
        assert_string_equal(back.holder_id, o.holder_id);
        assert_str_or_null(back.holder_name, o.holder_name);
        assert_string_equal(back.certificate_serial, "5A0F");
        assert_str_or_null(back.new_certificate_serial, o.new_certificate_serial);
        assert_int_equal(back.revocation_reason, o.revocation_reason);
        assert_string_equal(back.device_id, "TOKEN-77");
        assert_int_equal(back.status, s);
        assert_str_or_null(back.ca_request_id, o.ca_request_id);
        assert_int_equal(back.http_status, o.http_status);
        assert_str_or_null(back.error_code, o.error_code);
        assert_str_or_null(back.error_message, o.error_message);
        assert_int_equal(back.attempts, s);
        assert_int_equal(back.latency_ms, 1000 + s);
        assert_int_equal(back.processed_at_ms, 1751328000999LL);
        assert_int_equal(back.emergency_signing_allowed, s == 0);
        assert_string_equal(back.note, o.note);
        assert_int_equal(back.final, s != CB_STATUS_PENDING);
        assert_str_or_null(back.approval_request_id, o.approval_request_id);
        assert_str_or_null(back.managing_agency_code, o.managing_agency_code);
        assert_str_or_null(back.managing_agency_name, o.managing_agency_name);
        assert_str_or_null(back.document_number, o.document_number);
        assert_str_or_null(back.approver, o.approver);
        cb_outcome_clear(&back);
        if (s % 2) {
            free(buf);
            cb_outcome_clear(&o);
            continue;
        }
        /* the same record as a release before the approval gate wrote it:
         * the five trailing nulls (one 0 byte each) left out */
        assert_int_equal(cb_codec_decode_outcome(codec, buf, len - 5, &back, &err), 0);
        assert_string_equal(back.note, o.note);
        assert_int_equal(back.final, s != CB_STATUS_PENDING);
        assert_null(back.approval_request_id);
        assert_null(back.approver);
        cb_outcome_clear(&back);
        /* ... and as a release before `final` wrote it (plain Avro has no
         * schema id): the layout without the trailing boolean either */
        assert_int_equal(cb_codec_decode_outcome(codec, buf, len - 6, &back, &err), 0);
        assert_string_equal(back.outcome_id, o.outcome_id);
        assert_string_equal(back.note, o.note);
        assert_int_equal(back.status, s);
        assert_true(back.final);
        cb_outcome_clear(&back);
        free(buf);
        cb_outcome_clear(&o);
    }
    /* every action and holder type */
    for (s = 0; s < CB_ACTION_COUNT; s++) {
        cb_outcome_init(&o);
        o.outcome_id = strdup("e/0");
        o.source_event_id = strdup("e");
        o.source_event_type = strdup("DEPARTED");
        o.source_topic = strdup("t");
        o.holder_id = strdup("P1");
        o.action = (cb_action_t)s;
        o.holder_type = CB_HOLDER_PERSON;
        o.status = CB_STATUS_NEEDS_REVIEW;
        assert_int_equal(cb_codec_encode_outcome(codec, &o, &buf, &len, &err), 0);
        assert_avro_c_bytes(buf, len);
        assert_int_equal(cb_codec_decode_outcome(codec, buf, len, &back, &err), 0);
        assert_int_equal(back.action, s);
        assert_int_equal(back.holder_type, CB_HOLDER_PERSON);
        assert_null(back.holder_name);
        assert_int_equal(back.http_status, 0);
        assert_int_equal(back.revocation_reason, CB_REASON_NONE);
        free(buf);
        cb_outcome_clear(&back);
        cb_outcome_clear(&o);
    }
}

static void test_outcome_names(void **state)
{
    int s;

    (void)state;
    for (s = 0; s < CB_STATUS_COUNT; s++)
        assert_int_equal(cb_outcome_status_parse(cb_outcome_status_name((cb_outcome_status_t)s)),
                         s);
    assert_string_equal(cb_outcome_status_name(CB_STATUS_NEEDS_REVIEW), "NEEDS_REVIEW");
    assert_null(cb_outcome_status_name(CB_STATUS_COUNT));
    assert_int_equal(cb_outcome_status_parse("DONE"), -1);
    assert_int_equal(cb_format_parse("auto"), CB_FORMAT_AUTO);
    assert_int_equal(cb_format_parse("confluent"), CB_FORMAT_CONFLUENT);
    assert_int_equal(cb_format_parse("avro"), CB_FORMAT_AVRO);
    assert_int_equal(cb_format_parse("json"), CB_FORMAT_JSON);
    assert_int_equal(cb_format_parse("protobuf"), -1);
}

/* Decodes a Confluent frame of body under writer schema json (id 100+). */
static int decode_with_writer(const char *schema, const bw_t *body, cb_event_kind_t kind,
                              cb_event_t *ev, cb_error_t *err)
{
    static uint32_t next_id = 100;
    unsigned char framed[4200];
    uint32_t id = next_id++;
    cb_error_t perr;

    assert_int_equal(
        cb_registry_preload(cb_codec_registry(codec), id, schema, strlen(schema), &perr), 0);
    framed[0] = 0;
    framed[1] = (unsigned char)(id >> 24);
    framed[2] = (unsigned char)(id >> 16);
    framed[3] = (unsigned char)(id >> 8);
    framed[4] = (unsigned char)id;
    memcpy(framed + 5, body->b, body->n);
    return cb_codec_decode_event(codec, kind, CB_FORMAT_CONFLUENT, framed, body->n + 5, ev, err);
}

/* A writer that adds fields (an int, a map of doubles inside Org, a nullable
 * array of bytes written in a sized block, a fixed), orders fields
 * differently, has an extra enum symbol, and writes source_system as bytes
 * (which Avro promotes to string). */
static const char evolved_writer[] =
    "{\"type\":\"record\",\"name\":\"OrgEvent\",\"namespace\":\"other.ns\",\"fields\":["
    "{\"name\":\"priority\",\"type\":\"int\"},"
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":\"T\","
    "\"symbols\":[\"SPLIT\",\"RENAMED\",\"MERGED\"]}},"
    "{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"effective_date\",\"type\":\"int\"},"
    "{\"name\":\"source_system\",\"type\":\"bytes\"},"
    "{\"name\":\"org\",\"type\":{\"type\":\"record\",\"name\":\"Org\",\"fields\":["
    "{\"name\":\"code\",\"type\":\"string\"},{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
    "{\"name\":\"parent_code\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"parent_name\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"province\",\"type\":\"string\"},"
    "{\"name\":\"address\",\"type\":[\"null\",\"string\"]}]}},"
    "{\"name\":\"merged_orgs\",\"type\":{\"type\":\"array\",\"items\":\"Org\"}},"
    "{\"name\":\"result_is_new\",\"type\":\"boolean\"},"
    "{\"name\":\"certificate_carrier\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"attachments\",\"type\":[\"null\",{\"type\":\"array\",\"items\":\"bytes\"}]},"
    "{\"name\":\"checksum\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}}]}";

/* A message of evolved_writer with the writer's enum index type_idx. */
static void evolved_body(bw_t *w, int type_idx)
{
    double d = 2.5;

    w->n = 0;
    bw_long(w, 7);              /* priority */
    bw_str(w, "evt-evolved");   /* event_id */
    bw_long(w, type_idx);       /* event_type in the writer's order */
    bw_long(w, 1751328000000);  /* occurred_at */
    bw_long(w, 20270);          /* effective_date */
    bw_str(w, "hrm-v2");        /* source_system */
    bw_str(w, "000.00.31.H19"); /* org.code */
    bw_str(w, "Sở Nội vụ");     /* org.name */
    bw_long(w, 1);              /* org.tags: one entry */
    bw_str(w, "weight");
    bw_raw(w, &d, 8);
    bw_long(w, 0);
    bw_long(w, 0); /* parent_code null */
    bw_long(w, 1); /* parent_name */
    bw_str(w, "UBND tỉnh Đồng Nai");
    bw_str(w, "Tỉnh Đồng Nai"); /* province */
    bw_long(w, 0);              /* address null */
    bw_long(w, 0);              /* merged_orgs [] */
    w->b[w->n++] = 0;           /* result_is_new false */
    bw_long(w, 0);              /* certificate_carrier null */
    bw_long(w, 1);              /* attachments: an array in one sized block */
    bw_long(w, -2);
    bw_long(w, 6);
    bw_str(w, "ab");
    bw_str(w, "cd");
    bw_long(w, 0);
    bw_raw(w, "\x01\x02\x03\x04", 4); /* checksum */
}

static void test_evolution_added_fields(void **state)
{
    cb_event_t ev;
    cb_error_t err;
    bw_t w = {{0}, 0};

    (void)state;
    evolved_body(&w, 1); /* RENAMED */
    assert_int_equal(decode_with_writer(evolved_writer, &w, CB_EVENT_ORG, &ev, &err), 0);
    assert_int_equal(ev.type, CB_ORG_RENAMED);
    assert_string_equal(ev.event_id, "evt-evolved");
    assert_int_equal(ev.occurred_at_ms, 1751328000000);
    assert_int_equal(ev.effective_date, 20270);
    assert_string_equal(ev.source_system, "hrm-v2");
    assert_string_equal(ev.org.name, "Sở Nội vụ");
    assert_null(ev.org.parent_code);
    assert_string_equal(ev.org.parent_name, "UBND tỉnh Đồng Nai");
    assert_int_equal(ev.merged_count, 0);
    cb_event_clear(&ev);

    /* the same writer using its extra symbol: named in the error */
    evolved_body(&w, 0); /* SPLIT */
    assert_int_equal(decode_with_writer(evolved_writer, &w, CB_EVENT_ORG, &ev, &err), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_string_equal(err.msg, "event_type: unknown symbol \"SPLIT\"");
}

/* A writer lacking every field that has a default (an older producer). */
static void test_evolution_missing_defaulted_fields(void **state)
{
    static const char old_writer[] =
        "{\"type\":\"record\",\"name\":\"PersonEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":\"T\","
        "\"symbols\":[\"TRANSFERRED\",\"DEPARTED\"]}},"
        "{\"name\":\"occurred_at\",\"type\":\"long\"},"
        "{\"name\":\"effective_date\",\"type\":\"int\"},"
        "{\"name\":\"source_system\",\"type\":\"string\"},"
        "{\"name\":\"person\",\"type\":{\"type\":\"record\",\"name\":\"P\",\"fields\":["
        "{\"name\":\"person_id\",\"type\":\"string\"},{\"name\":\"national_id\",\"type\":"
        "\"string\"},"
        "{\"name\":\"full_name\",\"type\":\"string\"}]}},"
        "{\"name\":\"org\",\"type\":{\"type\":\"record\",\"name\":\"Org\",\"fields\":["
        "{\"name\":\"code\",\"type\":\"string\"},{\"name\":\"name\",\"type\":\"string\"},"
        "{\"name\":\"province\",\"type\":\"string\"}]}}]}";
    cb_event_t ev;
    cb_error_t err;
    bw_t w = {{0}, 0};

    (void)state;
    bw_str(&w, "evt-old");
    bw_long(&w, 1); /* DEPARTED */
    bw_long(&w, 5);
    bw_long(&w, 6);
    bw_str(&w, "hrm-v1");
    bw_str(&w, "P-1");
    bw_str(&w, "001203004005");
    bw_str(&w, "Trần Văn Bình");
    bw_str(&w, "000.00.31.H19");
    bw_str(&w, "Sở Nội vụ");
    bw_str(&w, "Tỉnh Đồng Nai");
    assert_int_equal(decode_with_writer(old_writer, &w, CB_EVENT_PERSON, &ev, &err), 0);
    assert_int_equal(ev.kind, CB_EVENT_PERSON);
    assert_int_equal(ev.type, CB_PERSON_DEPARTED);
    assert_string_equal(ev.person.full_name, "Trần Văn Bình");
    assert_null(ev.person.email);
    assert_null(ev.person.title);
    assert_false(ev.person.is_leader);
    assert_null(ev.org.parent_code);
    assert_null(ev.org.address);
    assert_null(ev.previous_org);
    assert_int_equal(ev.departure_reason, CB_DEPARTURE_NONE);
    cb_event_clear(&ev);

    /* an old OrgEvent writer without merged_orgs, result_is_new, carrier */
    {
        static const char old_org[] =
            "{\"type\":\"record\",\"name\":\"OrgEvent\",\"fields\":["
            "{\"name\":\"event_id\",\"type\":\"string\"},"
            "{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":\"T\","
            "\"symbols\":[\"DISSOLVED\"]}},"
            "{\"name\":\"occurred_at\",\"type\":\"long\"},"
            "{\"name\":\"effective_date\",\"type\":\"int\"},"
            "{\"name\":\"source_system\",\"type\":\"string\"},"
            "{\"name\":\"org\",\"type\":{\"type\":\"record\",\"name\":\"Org\",\"fields\":["
            "{\"name\":\"code\",\"type\":\"string\"},{\"name\":\"name\",\"type\":\"string\"},"
            "{\"name\":\"province\",\"type\":\"string\"}]}}]}";
        w.n = 0;
        bw_str(&w, "evt-old-org");
        bw_long(&w, 0);
        bw_long(&w, 5);
        bw_long(&w, 6);
        bw_str(&w, "hrm-v1");
        bw_str(&w, "000.00.40.H19");
        bw_str(&w, "Phòng Tư pháp");
        bw_str(&w, "Tỉnh Đồng Nai");
        assert_int_equal(decode_with_writer(old_org, &w, CB_EVENT_ORG, &ev, &err), 0);
        assert_int_equal(ev.type, CB_ORG_DISSOLVED);
        assert_int_equal(ev.merged_count, 0);
        assert_false(ev.result_is_new);
        assert_null(ev.certificate_carrier);
        cb_event_clear(&ev);
    }
}

/* ---- validation: one case per error, each asserting its message ---- */

/* The plain Avro encoding of a valid DISSOLVED event. */
static void valid_bytes(void **buf, size_t *len)
{
    cb_event_t ev;
    cb_error_t err;

    make_org_event(&ev, CB_ORG_DISSOLVED);
    assert_int_equal(cb_codec_encode_event(codec, CB_FORMAT_AVRO, &ev, buf, len, &err), 0);
    cb_event_clear(&ev);
}

static void expect_error(cb_format_t fmt, const void *buf, size_t len, cb_errcode_t code,
                         const char *msg)
{
    cb_event_t ev;
    cb_error_t err;

    assert_int_equal(cb_codec_decode_event(codec, CB_EVENT_ORG, fmt, buf, len, &ev, &err), -1);
    assert_string_equal(err.msg, msg);
    assert_int_equal(err.code, code);
    assert_int_equal(err.flags, 0u); /* permanent */
    assert_null(ev.event_id);        /* nothing leaks out of a failed decode */
}

static void test_truncated_and_trailing(void **state)
{
    void *buf;
    size_t len;
    unsigned char *big;
    char msg[128];

    (void)state;
    valid_bytes(&buf, &len);
    /* the last three bytes are merged_orgs [], result_is_new, carrier null */
    snprintf(msg, sizeof(msg), "merged_orgs: truncated: varint at byte %zu runs past the end",
             len - 3);
    expect_error(CB_FORMAT_AVRO, buf, len - 3, CB_ERR_DECODE, msg);
    expect_error(CB_FORMAT_AVRO, buf, 5, CB_ERR_DECODE,
                 "event_id: truncated: string length 9 at byte 0 exceeds the 4 bytes left");
    big = malloc(len + 2);
    memcpy(big, buf, len);
    big[len] = 0x02;
    big[len + 1] = 0x00;
    snprintf(msg, sizeof(msg), "2 trailing bytes after the OrgEvent at byte %zu", len);
    expect_error(CB_FORMAT_AVRO, big, len + 2, CB_ERR_DECODE, msg);
    free(big);
    free(buf);
    expect_error(CB_FORMAT_AVRO, "", 0, CB_ERR_DECODE, "empty message");
}

static void test_confluent_header(void **state)
{
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    expect_error(CB_FORMAT_CONFLUENT, "\x00\x00\x01", 3, CB_ERR_DECODE,
                 "truncated: a Confluent frame needs 5 header bytes, got 3");
    expect_error(CB_FORMAT_CONFLUENT, "\x01\x00\x00\x00\x07\x02", 6, CB_ERR_DECODE,
                 "wrong magic byte 0x01 (Confluent framing starts with 0x00)");
    /* an id nobody preloaded, and no registry configured: no registry will
     * ever answer for this message, so it is permanent (a dead letter the
     * operator replays once the registry is configured), never retried: a
     * retriable error here held up its partition for ever */
    assert_int_equal(cb_codec_decode_event(codec, CB_EVENT_ORG, CB_FORMAT_AUTO,
                                           "\x00\x00\x00\x30\x39\x02", 6, &ev, &err),
                     -1);
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_int_equal(err.flags, 0u);
    assert_string_equal(err.msg, "schema id 12345: Confluent-framed value but no "
                                 "schema_registry.url is configured; configure the registry");
}

static void test_length_prefixes(void **state)
{
    bw_t w = {{0}, 0};
    static char huge[1500];

    (void)state;
    bw_long(&w, -1); /* event_id of length -1 */
    expect_error(CB_FORMAT_AVRO, w.b, w.n, CB_ERR_DECODE,
                 "event_id: negative string length -1 at byte 0");
    w.n = 0;
    bw_long(&w, INT64_MAX); /* what Avro-C would hand to malloc */
    bw_raw(&w, "abc", 3);
    expect_error(CB_FORMAT_AVRO, w.b, w.n, CB_ERR_DECODE,
                 "event_id: truncated: string length 9223372036854775807 at byte 0 exceeds the 3 "
                 "bytes left");
    w.n = 0;
    memset(huge, 'x', sizeof(huge));
    bw_long(&w, sizeof(huge));
    bw_raw(&w, huge, sizeof(huge));
    bw_long(&w, 0);
    expect_error(CB_FORMAT_AVRO, w.b, w.n, CB_ERR_LIMIT,
                 "event_id: string of 1500 bytes exceeds the limit of 1024");
    w.n = 0;
    bw_str(&w, "e1");
    bw_raw(&w, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11); /* 11-byte varint */
    expect_error(CB_FORMAT_AVRO, w.b, w.n, CB_ERR_DECODE,
                 "event_type: malformed varint at byte 3 (longer than 64 bits)");
}

/* Bytes of an OrgEvent up to (not including) the given field. */
static void head(bw_t *w, int upto)
{
    w->n = 0;
    bw_str(w, "e1");
    if (upto == 1)
        return;
    bw_long(w, 4); /* DISSOLVED */
    bw_long(w, 1);
    bw_long(w, 2);
    bw_str(w, "hrm");
    if (upto == 5)
        return;
    bw_str(w, "000.00.31.H19");
    bw_str(w, "Sở Nội vụ");
    bw_long(w, 0);
    bw_long(w, 0);
    bw_str(w, "Tỉnh Đồng Nai");
    bw_long(w, 0);
}

static void test_indexes(void **state)
{
    bw_t w;

    (void)state;
    head(&w, 1);
    bw_long(&w, 6); /* OrgEventType has 6 symbols */
    expect_error(CB_FORMAT_AVRO, w.b, w.n, CB_ERR_DECODE,
                 "event_type: enum index 6 out of range (6 symbols)");
    head(&w, 5);
    bw_str(&w, "000.00.31.H19");
    bw_str(&w, "Sở Nội vụ");
    bw_long(&w, 2); /* parent_code: ["null","string"] */
    expect_error(CB_FORMAT_AVRO, w.b, w.n, CB_ERR_DECODE,
                 "org.parent_code: union branch 2 out of range (2 branches)");
    head(&w, 99);
    bw_long(&w, 300); /* merged_orgs block of 300 */
    expect_error(CB_FORMAT_AVRO, w.b, w.n, CB_ERR_LIMIT,
                 "merged_orgs: array of more than 256 items");
    head(&w, 99);
    bw_long(&w, 0);
    w.b[w.n++] = 2; /* result_is_new */
    expect_error(CB_FORMAT_AVRO, w.b, w.n, CB_ERR_DECODE,
                 "result_is_new: boolean byte 2 is neither 0 nor 1");
}

static void test_utf8_and_nfc(void **state)
{
    bw_t w;
    cb_event_t ev;
    cb_error_t err;
    /* "Sở Nội vụ" decomposed: o + horn + hook above, o + circumflex + dot
     * below, u + dot below */
    static const char nfd[] = "So\xcc\x9b\xcc\x89 No\xcc\x82\xcc\xa3i vu\xcc\xa3";

    (void)state;
    head(&w, 5);
    bw_str(&w, "000.00.31.H19");
    bw_str(&w, "S\xff");
    bw_long(&w, 0);
    bw_long(&w, 0);
    bw_str(&w, "Tỉnh Đồng Nai");
    bw_long(&w, 0);
    bw_long(&w, 0);
    w.b[w.n++] = 0;
    bw_long(&w, 0);
    expect_error(CB_FORMAT_AVRO, w.b, w.n, CB_ERR_INVALID, "org.name: invalid UTF-8 at byte 1");

    head(&w, 5);
    bw_str(&w, "000.00.31.H19");
    bw_str(&w, nfd);
    bw_long(&w, 0);
    bw_long(&w, 0);
    bw_str(&w, "Tỉnh Đồng Nai");
    bw_long(&w, 0);
    bw_long(&w, 0);
    w.b[w.n++] = 0;
    bw_long(&w, 0);
    assert_int_equal(
        cb_codec_decode_event(codec, CB_EVENT_ORG, CB_FORMAT_AVRO, w.b, w.n, &ev, &err), 0);
    assert_string_equal(ev.org.name, "Sở Nội vụ");
    assert_int_equal(strlen(ev.org.name), strlen("Sở Nội vụ"));
    cb_event_clear(&ev);
}

static void test_semantic_errors(void **state)
{
    cb_event_t ev, back;
    cb_error_t err;
    void *buf;
    size_t len;

    (void)state;
    /* org code */
    make_org_event(&ev, CB_ORG_RENAMED);
    free(ev.org.code);
    ev.org.code = strdup("000.00.31.h19");
    assert_int_equal(cb_codec_encode_event(codec, CB_FORMAT_AVRO, &ev, &buf, &len, &err), 0);
    expect_error(CB_FORMAT_AVRO, buf, len, CB_ERR_INVALID,
                 "org.code: \"000.00.31.h19\" is not an electronic identification code "
                 "([0-9A-Z.]{1,35}, dot-separated groups)");
    free(buf);
    cb_event_clear(&ev);
    /* MERGED without merged_orgs */
    make_org_event(&ev, CB_ORG_MERGED);
    for (size_t i = 0; i < ev.merged_count; i++)
        cb_org_clear(&ev.merged_orgs[i]);
    free(ev.merged_orgs);
    ev.merged_orgs = NULL;
    ev.merged_count = 0;
    free(ev.certificate_carrier);
    ev.certificate_carrier = NULL;
    assert_int_equal(cb_codec_encode_event(codec, CB_FORMAT_AVRO, &ev, &buf, &len, &err), 0);
    expect_error(CB_FORMAT_AVRO, buf, len, CB_ERR_INVALID,
                 "merged_orgs: a MERGED event needs at least one merged organization");
    free(buf);
    cb_event_clear(&ev);
    /* national id */
    make_person_event(&ev, CB_PERSON_POSITION_CHANGED);
    free(ev.person.national_id);
    ev.person.national_id = strdup("07512345678");
    assert_int_equal(cb_codec_encode_event(codec, CB_FORMAT_AVRO, &ev, &buf, &len, &err), 0);
    assert_int_equal(
        cb_codec_decode_event(codec, CB_EVENT_PERSON, CB_FORMAT_AVRO, buf, len, &back, &err), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_string_equal(err.msg, "person.national_id: not 12 digits");
    free(buf);
    cb_event_clear(&ev);
}

static void test_missing_required_field(void **state)
{
    static const char writer[] =
        "{\"type\":\"record\",\"name\":\"OrgEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":\"T\","
        "\"symbols\":[\"RENAMED\"]}},"
        "{\"name\":\"occurred_at\",\"type\":\"long\"},"
        "{\"name\":\"effective_date\",\"type\":\"int\"}]}";
    static const char writer_null[] = "{\"type\":\"record\",\"name\":\"OrgEvent\",\"fields\":["
                                      "{\"name\":\"event_id\",\"type\":[\"null\",\"string\"]}]}";
    cb_event_t ev;
    cb_error_t err;
    bw_t w = {{0}, 0};

    (void)state;
    bw_str(&w, "e1");
    bw_long(&w, 0);
    bw_long(&w, 1);
    bw_long(&w, 2);
    assert_int_equal(decode_with_writer(writer, &w, CB_EVENT_ORG, &ev, &err), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_string_equal(err.msg, "source_system: required field is missing");
    w.n = 0;
    bw_long(&w, 0);
    assert_int_equal(decode_with_writer(writer_null, &w, CB_EVENT_ORG, &ev, &err), -1);
    assert_string_equal(err.msg, "event_id: required field is null");
}

static void test_limits(void **state)
{
    static const char recursive[] = "{\"type\":\"record\",\"name\":\"OrgEvent\",\"fields\":["
                                    "{\"name\":\"next\",\"type\":[\"null\",\"OrgEvent\"]}]}";
    unsigned char *big;
    cb_event_t ev;
    cb_error_t err;
    bw_t w = {{0}, 0};
    int i;

    (void)state;
    big = calloc(1, CB_EVENT_MAX_BYTES + 1);
    big[0] = 2;
    expect_error(CB_FORMAT_AUTO, big, CB_EVENT_MAX_BYTES + 1, CB_ERR_LIMIT,
                 "message of 1048577 bytes exceeds the limit of 1048576");
    free(big);
    for (i = 0; i < 40; i++)
        bw_long(&w, 1);
    bw_long(&w, 0);
    assert_int_equal(decode_with_writer(recursive, &w, CB_EVENT_ORG, &ev, &err), -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);
    assert_string_equal(err.msg, "next.next.next.next.next.next.next.next.next.next.next.next.next."
                                 "next.next.next: nested deeper than 32 levels");
}

static void test_json_dispatch(void **state)
{
    static const char json[] =
        "{\"event_id\":\"j1\",\"event_type\":\"RENAMED\",\"occurred_at\":1751328000000,"
        "\"effective_date\":\"2025-07-01\",\"source_system\":\"hrm\",\"org\":{\"code\":"
        "\"000.00.31.H19\",\"name\":\"Sở Nội vụ\",\"province\":\"Tỉnh Đồng Nai\"}}";
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    assert_int_equal(
        cb_codec_decode_event(codec, CB_EVENT_ORG, CB_FORMAT_AUTO, json, strlen(json), &ev, &err),
        0);
    assert_string_equal(ev.event_id, "j1");
    assert_int_equal(ev.type, CB_ORG_RENAMED);
    assert_int_equal(ev.effective_date, 20270);
    cb_event_clear(&ev);
    assert_int_equal(cb_codec_decode_event(codec, CB_EVENT_PERSON, CB_FORMAT_JSON, json,
                                           strlen(json), &ev, &err),
                     -1);
    assert_string_equal(err.msg, "event: is an OrgEvent, expected a PersonEvent");
}

static void test_codec_config(void **state)
{
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;
    cb_event_t ev;
    bw_t w = {{0}, 0};

    (void)state;
    assert_int_equal(cb_config_set(cfg, "schema_registry.url", "ftp://registry:21", &err), 0);
    assert_null(cb_codec_new(cfg, &err));
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_string_equal(
        err.msg, "schema_registry.url: \"ftp://registry:21\" is not an http:// or https:// URL");
    assert_int_equal(cb_config_set(cfg, "schema_registry.url", "http://127.0.0.1:1/", &err), 0);
    assert_int_equal(cb_config_set(cfg, "schema_registry.basic_auth_password_file",
                                   "/nonexistent/certbridge-pw", &err),
                     0);
    assert_null(cb_codec_new(cfg, &err));
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_string_equal(err.msg, "schema_registry.basic_auth_password_file: cannot open "
                                 "\"/nonexistent/certbridge-pw\": No such file or directory");
    cb_config_destroy(cfg);

    /* a writer schema that is not a record */
    bw_str(&w, "hello");
    assert_int_equal(decode_with_writer("\"string\"", &w, CB_EVENT_ORG, &ev, &err), -1);
    assert_string_equal(err.msg, "event: the writer schema is a string, not a record");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_org_round_trip),
        cmocka_unit_test(test_person_round_trip),
        cmocka_unit_test(test_outcome_round_trip),
        cmocka_unit_test(test_outcome_names),
        cmocka_unit_test(test_evolution_added_fields),
        cmocka_unit_test(test_evolution_missing_defaulted_fields),
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_confluent_header),
        cmocka_unit_test(test_length_prefixes),
        cmocka_unit_test(test_indexes),
        cmocka_unit_test(test_utf8_and_nfc),
        cmocka_unit_test(test_semantic_errors),
        cmocka_unit_test(test_missing_required_field),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_json_dispatch),
        cmocka_unit_test(test_codec_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
