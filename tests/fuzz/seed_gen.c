/* seed_gen.c: writes the seed corpora of the fuzz targets into
 * OUTDIR/<target>/: valid messages of every event type, departure reason,
 * outcome status and wire format (certbridge encodes them itself, so the
 * seeds follow the schemas). Usage: fuzz_seed_gen OUTDIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "certbridge/codec.h"
#include "certbridge/schemas.h"

static const char *outdir;

static void put(const char *target, int n, const void *buf, size_t len)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        exit(1);
    snprintf(path, sizeof(path), "%s/%s/seed-%02d", outdir, target, n);
    if (!(f = fopen(path, "wb")) || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        exit(1);
}

/* Writes buf plain to plain_target and framed with id to framed_target. */
static void put_both(const char *plain_target, const char *framed_target, int n, uint32_t id,
                     const void *buf, size_t len)
{
    unsigned char *f = malloc(len + 5);

    put(plain_target, n, buf, len);
    f[0] = 0;
    f[1] = (unsigned char)(id >> 24);
    f[2] = (unsigned char)(id >> 16);
    f[3] = (unsigned char)(id >> 8);
    f[4] = (unsigned char)id;
    memcpy(f + 5, buf, len);
    put(framed_target, n + 50, f, len + 5);
    free(f);
}

static void org(cb_org_t *o, const char *code, const char *name)
{
    o->code = strdup(code);
    o->name = strdup(name);
    o->province = strdup("Tỉnh Đồng Nai");
    o->parent_name = strdup("Ủy ban nhân dân tỉnh Đồng Nai");
}

int main(int argc, char **argv)
{
    cb_codec_t *codec;
    cb_error_t err;
    cb_event_t ev;
    cb_outcome_t o;
    void *buf;
    size_t len;
    int t, n = 0;

    if (argc != 2)
        return 2;
    outdir = argv[1];
    if (!(codec = cb_codec_new(NULL, &err)))
        return 1;
    for (t = 0; t < CB_ORG_EVENT_TYPE_COUNT; t++, n++) {
        cb_event_init(&ev);
        ev.kind = CB_EVENT_ORG;
        ev.type = t;
        ev.event_id = strdup("org-1");
        ev.occurred_at_ms = 1751328000000LL;
        ev.effective_date = 20270;
        ev.source_system = strdup("hrm");
        org(&ev.org, "000.00.31.H19", "Sở Nông nghiệp và Môi trường");
        if (t == CB_ORG_MERGED) {
            ev.merged_orgs = calloc(2, sizeof(cb_org_t));
            ev.merged_count = 2;
            org(&ev.merged_orgs[0], "000.00.12.H19", "Sở Nông nghiệp");
            org(&ev.merged_orgs[1], "000.00.13.H19", "Sở Tài nguyên và Môi trường");
            ev.result_is_new = true;
            ev.certificate_carrier = strdup("000.00.13.H19");
        }
        if (cb_codec_encode_event(codec, CB_FORMAT_AVRO, &ev, &buf, &len, &err) < 0)
            return 1;
        put_both("fuzz_avro_event", "fuzz_confluent_event", n, 1, buf, len);
        free(buf);
        cb_event_clear(&ev);
    }
    for (t = 0; t < CB_PERSON_EVENT_TYPE_COUNT; t++, n++) {
        cb_event_init(&ev);
        ev.kind = CB_EVENT_PERSON;
        ev.type = t;
        ev.event_id = strdup("person-1");
        ev.source_system = strdup("hrm");
        org(&ev.org, "000.00.31.H19", "Sở Nội vụ");
        ev.person.person_id = strdup("P-1");
        ev.person.national_id = strdup("075123456789");
        ev.person.full_name = strdup("Nguyễn Văn An");
        ev.person.email = strdup("an.nv@dongnai.gov.vn");
        ev.person.is_leader = t % 2;
        if (t == CB_PERSON_TRANSFERRED) {
            ev.previous_org = calloc(1, sizeof(cb_org_t));
            org(ev.previous_org, "000.00.12.H19", "Sở Nông nghiệp");
        }
        if (t == CB_PERSON_DEPARTED)
            ev.departure_reason = CB_DEPARTURE_DECEASED;
        if (cb_codec_encode_event(codec, CB_FORMAT_AVRO, &ev, &buf, &len, &err) < 0)
            return 1;
        put_both("fuzz_avro_event", "fuzz_confluent_event", n, 2, buf, len);
        free(buf);
        cb_event_clear(&ev);
    }
    /* writer 4 (evolved) and 5 (recursive) of fuzz_codec.h */
    {
        /* priority 7, "e1", RENAMED, 1, 2, "hrm", org {code, "SO", tags {"k": 1.0}, "T"},
         * merged_orgs [], blob bytes "AA", checksum 01020304 */
        static const char evolved[] = "\x00\x00\x00\x00\x04\x0e\x04\x65\x31\x02\x02\x04\x06"
                                      "hrm\x1a"
                                      "000.00.31.H19\x04"
                                      "SO\x02\x02"
                                      "k\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x02"
                                      "T\x00\x02\x04"
                                      "AA\x01\x02\x03\x04";
        /* "a", next = {"b", null, []}, more = [] */
        static const char recursive[] = "\x00\x00\x00\x00\x05\x02"
                                        "a\x02\x02"
                                        "b\x00\x00\x00";
        put("fuzz_confluent_event", n++, evolved, sizeof(evolved) - 1);
        put("fuzz_confluent_event", n++, recursive, sizeof(recursive) - 1);
    }
    for (t = 0; t < CB_STATUS_COUNT; t++) {
        cb_outcome_init(&o);
        o.outcome_id = strdup("org-1/0");
        o.source_event_id = strdup("org-1");
        o.source_event_type = strdup("MERGED");
        o.source_topic = strdup("hr.org-events");
        o.action = (cb_action_t)(t % CB_ACTION_COUNT);
        o.holder_type = (cb_holder_type_t)(t % 2);
        o.holder_id = strdup("000.00.12.H19");
        o.holder_name = strdup("Sở Nông nghiệp");
        o.certificate_serial = strdup("5A0F");
        o.revocation_reason = t == 1 ? CB_REASON_CESSATION_OF_OPERATION : CB_REASON_NONE;
        o.status = (cb_outcome_status_t)t;
        o.http_status = t ? 200 : 0;
        o.note = strdup("Nộp lại thiết bị lưu khóa bí mật");
        if (cb_codec_encode_outcome(codec, &o, &buf, &len, &err) < 0)
            return 1;
        put_both("fuzz_outcome", "fuzz_outcome", t, 3, buf, len);
        free(buf);
        cb_outcome_clear(&o);
    }
    {
        static const char j0[] =
            "{\"event_id\":\"j1\",\"event_type\":\"MERGED\",\"occurred_at\":\"2025-07-01T00:00:"
            "00Z\","
            "\"effective_date\":\"2025-07-01\",\"source_system\":\"hrm\",\"org\":{\"code\":"
            "\"000.00.31.H19\",\"name\":\"Sở Nội vụ\",\"province\":\"Tỉnh Đồng Nai\"},"
            "\"merged_orgs\":[{\"code\":\"000.00.12.H19\",\"name\":\"A\",\"province\":\"B\"}],"
            "\"result_is_new\":true,\"certificate_carrier\":\"000.00.12.H19\"}";
        static const char j1[] =
            "{\"event_id\":\"j2\",\"event_type\":\"DEPARTED\",\"occurred_at\":1751328000000,"
            "\"effective_date\":20270,\"source_system\":\"hrm\",\"person\":{\"person_id\":\"P1\","
            "\"national_id\":\"075123456789\",\"full_name\":\"Nguyễn Văn An\",\"is_leader\":true},"
            "\"org\":{\"code\":\"000.00.31.H19\",\"name\":\"Sở Nội vụ\",\"province\":\"X\"},"
            "\"departure_reason\":\"RETIRED\",\"previous_org\":null}";
        static const char *const json[] = {j0, j1};
        for (t = 0; t < 2; t++)
            put("fuzz_json_event", t, json[t], strlen(json[t]));
    }
    {
        static const char r0[] = "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":"
                                 "\\\"X\\\",\\\"fields\\\":[]}\"}";
        static const char *const resp[] = {
            r0,
            "{\"schemaType\":\"AVRO\",\"schema\":\"\\\"string\\\"\",\"references\":[]}",
            "{\"schemaType\":\"PROTOBUF\",\"schema\":\"syntax = \\\"proto3\\\";\"}",
            "{\"error_code\":40403,\"message\":\"Schema 7 not found\"}",
        };
        for (t = 0; t < 4; t++)
            put("fuzz_registry_response", t, resp[t], strlen(resp[t]));
    }
    cb_codec_destroy(codec);
    return 0;
}
