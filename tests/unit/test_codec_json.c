/* test_codec_json.c: JSON events: every type and symbol decodes, strings come
 * out NFC, dates and timestamps in both forms, defaults, schema evolution,
 * and one case per validation error with its exact message. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/codec.h"
#include "certbridge/codec_json.h"

#define COMMON                                                                                     \
    "\"event_id\":\"dn-2025-0001\",\"occurred_at\":\"2025-07-01T00:00:00+07:00\","                 \
    "\"effective_date\":\"2025-07-01\",\"source_system\":\"hrm.dongnai\""
#define ORG_SONV                                                                                          \
    "\"org\":{\"code\":\"000.00.05.H19\",\"name\":\"Sở Nội vụ\",\"parent_code\":"                   \
    "\"000.00.00.H19\",\"parent_name\":\"Ủy ban nhân dân tỉnh Đồng Nai\",\"province\":\"Tỉnh " \
    "Đồng Nai\"}"
/* ORG_SONV naming the event a CANCELLED event cancels in org.address */
#define ORG_SONV_CANCELS                                                                              \
    "\"org\":{\"code\":\"000.00.05.H19\",\"name\":\"Sở Nội vụ\",\"province\":\"Tỉnh Đồng " \
    "Nai\",\"address\":\"dn-2025-0000\"}"
#define ORG_MIN(code) "{\"code\":\"" code "\",\"name\":\"X\",\"province\":\"Đồng Nai\"}"
#define PERSON                                                                                     \
    "\"person\":{\"person_id\":\"HRM-1\",\"national_id\":\"075085001234\",\"full_name\":"          \
    "\"Nguyễn Văn An\"}"

static int decode(const char *json, cb_event_t *ev, cb_error_t *err)
{
    cb_error_clear(err);
    return cb_codec_json_decode_event(json, strlen(json), ev, err);
}

static void test_full_org_event(void **state)
{
    const char *json =
        "{" COMMON ",\"event_type\":\"MERGED\"," ORG_SONV ",\"merged_orgs\":[" ORG_MIN(
            "000.21.01.H19") "," ORG_MIN("000.21.02.H19") ",{\"code\":\"000.21.03.H19\",\"name\":"
                                                          "\"UBND xã Phú Hữu\",\"parent_code\":"
                                                          "null,\"province\":\"Tỉnh Đồng Nai\","
                                                          "\"address\":\"Nhơn Trạch\"}],"
                                                          "\"result_is_new\":true,"
                                                          "\"certificate_carrier\":\"000.21.02."
                                                          "H19\"}";
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    assert_int_equal(decode(json, &ev, &err), 0);
    assert_int_equal(ev.kind, CB_EVENT_ORG);
    assert_int_equal(ev.type, CB_ORG_MERGED);
    assert_string_equal(ev.event_id, "dn-2025-0001");
    assert_int_equal(ev.occurred_at_ms, 1751302800000LL);
    assert_int_equal(ev.effective_date, 20270);
    assert_string_equal(ev.source_system, "hrm.dongnai");
    assert_string_equal(ev.org.code, "000.00.05.H19");
    assert_string_equal(ev.org.name, "Sở Nội vụ");
    assert_string_equal(ev.org.parent_code, "000.00.00.H19");
    assert_string_equal(ev.org.parent_name, "Ủy ban nhân dân tỉnh Đồng Nai");
    assert_string_equal(ev.org.province, "Tỉnh Đồng Nai");
    assert_null(ev.org.address);
    assert_int_equal(ev.merged_count, 3);
    assert_string_equal(ev.merged_orgs[0].code, "000.21.01.H19");
    assert_string_equal(ev.merged_orgs[2].name, "UBND xã Phú Hữu");
    assert_null(ev.merged_orgs[2].parent_code);
    assert_string_equal(ev.merged_orgs[2].address, "Nhơn Trạch");
    assert_true(ev.result_is_new);
    assert_string_equal(ev.certificate_carrier, "000.21.02.H19");
    assert_null(ev.person.person_id);
    assert_null(ev.previous_org);
    assert_int_equal(ev.departure_reason, CB_DEPARTURE_NONE);
    cb_event_clear(&ev);
}

static void test_full_person_event(void **state)
{
    const char *json =
        "{\"event_id\":\"p-1\",\"event_type\":\"DEPARTED\",\"occurred_at\":"
        "1751347799987,\"effective_date\":-1,\"source_system\":\"hrm\","
        "\"person\":{\"person_id\":\"HRM-7\",\"national_id\":\"075085001234\","
        "\"full_name\":\"Trần Thị Bích\",\"email\":\"bichtt@dongnai.gov.vn\","
        "\"title\":\"Chánh Văn phòng\",\"is_leader\":true}," ORG_SONV
        ",\"previous_org\":" ORG_MIN("000.20.00.H19") ",\"departure_reason\":\"RETIRED\"}";
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    assert_int_equal(decode(json, &ev, &err), 0);
    assert_int_equal(ev.kind, CB_EVENT_PERSON);
    assert_int_equal(ev.type, CB_PERSON_DEPARTED);
    assert_int_equal(ev.occurred_at_ms, 1751347799987LL);
    assert_int_equal(ev.effective_date, -1);
    assert_string_equal(ev.person.person_id, "HRM-7");
    assert_string_equal(ev.person.national_id, "075085001234");
    assert_string_equal(ev.person.full_name, "Trần Thị Bích");
    assert_string_equal(ev.person.email, "bichtt@dongnai.gov.vn");
    assert_string_equal(ev.person.title, "Chánh Văn phòng");
    assert_true(ev.person.is_leader);
    assert_non_null(ev.previous_org);
    assert_string_equal(ev.previous_org->code, "000.20.00.H19");
    assert_int_equal(ev.departure_reason, CB_DEPARTURE_RETIRED);
    assert_int_equal(ev.merged_count, 0);
    assert_null(ev.merged_orgs);
    cb_event_clear(&ev);
}

static void test_every_symbol(void **state)
{
    char json[1024];
    cb_event_t ev;
    cb_error_t err;
    int t;

    (void)state;
    for (t = 0; t < CB_ORG_EVENT_TYPE_COUNT; t++) {
        snprintf(json, sizeof(json), "{" COMMON ",\"event_type\":\"%s\",%s%s}",
                 cb_org_event_type_name(t), t == CB_ORG_CANCELLED ? ORG_SONV_CANCELS : ORG_SONV,
                 t == CB_ORG_MERGED ? ",\"merged_orgs\":[" ORG_MIN("000.21.01.H19") "]" : "");
        assert_int_equal(decode(json, &ev, &err), 0);
        assert_int_equal(ev.kind, CB_EVENT_ORG);
        assert_int_equal(ev.type, t);
        cb_event_clear(&ev);
    }
    for (t = 0; t < CB_PERSON_EVENT_TYPE_COUNT; t++) {
        snprintf(json, sizeof(json), "{" COMMON ",\"event_type\":\"%s\"," PERSON ",%s}",
                 cb_person_event_type_name(t),
                 t == CB_PERSON_CANCELLED ? ORG_SONV_CANCELS : ORG_SONV);
        assert_int_equal(decode(json, &ev, &err), 0);
        assert_int_equal(ev.kind, CB_EVENT_PERSON);
        assert_int_equal(ev.type, t);
        cb_event_clear(&ev);
    }
    for (t = 0; t < CB_DEPARTURE_REASON_COUNT; t++) {
        snprintf(json, sizeof(json),
                 "{" COMMON ",\"event_type\":\"DEPARTED\"," PERSON "," ORG_SONV
                 ",\"departure_reason\":\"%s\"}",
                 cb_departure_reason_name(t));
        assert_int_equal(decode(json, &ev, &err), 0);
        assert_int_equal(ev.departure_reason, t);
        cb_event_clear(&ev);
    }
}

/* Decomposed input (base letter + combining marks, raw and as \u escapes)
 * comes out precomposed. */
static void test_nfc(void **state)
{
    const char *json =
        "{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":0,\"effective_date\":0,"
        "\"source_system\":\"s\",\"org\":{\"code\":\"000.00.05.H19\",\"name\":"
        "\"S\\u01a1\\u0309 Ta\\u0300i chi\\u0301nh\",\"province\":\"T\xe1\xbb\x89nh "
        "\xc4\x90o\xcc\x82\xcc\x80ng Nai\"}}";
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    assert_int_equal(decode(json, &ev, &err), 0);
    assert_string_equal(ev.org.name, "Sở Tài chính");
    assert_string_equal(ev.org.name, "S\xe1\xbb\x9f T\xc3\xa0i ch\xc3\xadnh");
    assert_string_equal(ev.org.province, "Tỉnh Đồng Nai");
    cb_event_clear(&ev);
}

static void test_times_and_dates(void **state)
{
    static const struct {
        const char *occurred, *effective;
        long long ms;
        int days;
    } cases[] = {
        {"\"2025-07-01T00:00:00+07:00\"", "\"2025-07-01\"", 1751302800000LL, 20270},
        {"\"2025-06-30T17:00:00Z\"", "20270", 1751302800000LL, 20270},
        {"\"2025-06-30t17:00:00z\"", "\"1970-01-01\"", 1751302800000LL, 0},
        {"\"2025-06-30 17:00:00.5Z\"", "\"2024-02-29\"", 1751302800500LL, 19782},
        {"\"2025-06-30T23:59:59.987654-05:30\"", "\"1969-12-31\"", 1751347799987LL, -1},
        {"\"1970-01-01T00:00:00Z\"", "0", 0, 0},
        {"-1000", "-1", -1000, -1},
    };
    char json[512];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cb_event_t ev;
        cb_error_t err;

        snprintf(
            json, sizeof(json),
            "{\"event_id\":\"e\",\"event_type\":\"DISSOLVED\",\"occurred_at\":%s,"
            "\"effective_date\":%s,\"source_system\":\"s\",\"org\":" ORG_MIN("000.00.05.H19") "}",
            cases[i].occurred, cases[i].effective);
        if (decode(json, &ev, &err) != 0)
            fail_msg("case %zu: %s", i, err.msg);
        assert_int_equal(ev.occurred_at_ms, cases[i].ms);
        assert_int_equal(ev.effective_date, cases[i].days);
        cb_event_clear(&ev);
    }
}

/* Defaults, nulls, and fields this version does not know. */
static void test_defaults_and_evolution(void **state)
{
    const char *json =
        "{" COMMON ",\"event_type\":\"TRANSFERRED\",\"schema_version\":7,"
        "\"person\":{\"person_id\":\"HRM-1\",\"national_id\":\"075085001234\","
        "\"full_name\":\"A\",\"email\":null,\"title\":null,\"is_leader\":null,\"nickname\":\"x\"},"
        "\"org\":{\"code\":\"000.00.05.H19\",\"name\":\"S\",\"province\":\"P\",\"fax\":[1,2]},"
        "\"previous_org\":null,\"departure_reason\":null,\"merged_orgs\":\"ignored on persons\"}";
    const char *org_json = "{" COMMON ",\"event_type\":\"RENAMED\",\"person\":null," ORG_SONV
                           ",\"merged_orgs\":null,\"result_is_new\":null,"
                           "\"certificate_carrier\":null,\"departure_reason\":7}";
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    assert_int_equal(decode(json, &ev, &err), 0);
    assert_int_equal(ev.kind, CB_EVENT_PERSON);
    assert_null(ev.person.email);
    assert_null(ev.person.title);
    assert_false(ev.person.is_leader);
    assert_null(ev.previous_org);
    assert_int_equal(ev.departure_reason, CB_DEPARTURE_NONE);
    cb_event_clear(&ev);

    /* "person": null is an OrgEvent; person-only fields are ignored */
    assert_int_equal(decode(org_json, &ev, &err), 0);
    assert_int_equal(ev.kind, CB_EVENT_ORG);
    assert_int_equal(ev.type, CB_ORG_RENAMED);
    assert_int_equal(ev.merged_count, 0);
    assert_false(ev.result_is_new);
    assert_null(ev.certificate_carrier);
    cb_event_clear(&ev);
}

typedef struct bad_case {
    const char *json;
    cb_errcode_t code;
    const char *msg; /* exact message, or a prefix when prefix is set */
    int prefix;
} bad_case_t;

#define ORG_EV(type, rest) "{" COMMON ",\"event_type\":\"" type "\"," ORG_SONV rest "}"
#define PERSON_EV(type, rest)                                                                      \
    "{" COMMON ",\"event_type\":\"" type "\"," PERSON "," ORG_SONV rest "}"

static const bad_case_t bad_cases[] = {
    {ORG_EV("FOO", ""), CB_ERR_INVALID, "event_type: unknown symbol \"FOO\"", 0},
    {PERSON_EV("MERGED", ""), CB_ERR_INVALID, "event_type: unknown symbol \"MERGED\"", 0},
    {ORG_EV("TRANSFERRED", ""), CB_ERR_INVALID, "event_type: unknown symbol \"TRANSFERRED\"", 0},
    {"{\"event_id\":\"e\",\"event_type\":7}", CB_ERR_INVALID,
     "event_type: expected a string, got integer", 0},
    {"{\"event_id\":\"e\"}", CB_ERR_INVALID, "event_type: required field is missing", 0},
    {"{\"event_type\":\"RENAMED\"}", CB_ERR_INVALID, "event_id: required field is missing", 0},
    {"{\"event_id\":null}", CB_ERR_INVALID, "event_id: required field is null", 0},
    {"{\"event_id\":12}", CB_ERR_INVALID, "event_id: expected a string, got integer", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\"}", CB_ERR_INVALID,
     "occurred_at: required field is missing", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":1.5}", CB_ERR_INVALID,
     "occurred_at: expected an RFC 3339 string or epoch milliseconds, got real", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":\"2025-13-01T00:00:00Z\"}",
     CB_ERR_INVALID, "occurred_at: \"2025-13-01T00:00:00Z\" is not an RFC 3339 timestamp", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":\"2025-07-01T00:00:00\"}",
     CB_ERR_INVALID, "occurred_at: \"2025-07-01T00:00:00\" is not an RFC 3339 timestamp", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":\"2025-07-01T24:00:00Z\"}",
     CB_ERR_INVALID, "occurred_at: \"2025-07-01T24:00:00Z\" is not an RFC 3339 timestamp", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":\"2025-07-01T00:00:00.Z\"}",
     CB_ERR_INVALID, "occurred_at: \"2025-07-01T00:00:00.Z\" is not an RFC 3339 timestamp", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":0}", CB_ERR_INVALID,
     "effective_date: required field is missing", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":0,\"effective_date\":"
     "\"2025-02-29\"}",
     CB_ERR_INVALID, "effective_date: \"2025-02-29\" is not a YYYY-MM-DD date", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":0,\"effective_date\":"
     "\"2025-7-1\"}",
     CB_ERR_INVALID, "effective_date: \"2025-7-1\" is not a YYYY-MM-DD date", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":0,\"effective_date\":"
     "10000000000}",
     CB_ERR_INVALID, "effective_date: 10000000000 days is out of range", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":0,\"effective_date\":true}",
     CB_ERR_INVALID,
     "effective_date: expected a YYYY-MM-DD string or days since the epoch, got boolean", 0},
    {"{\"event_id\":\"e\",\"event_type\":\"RENAMED\",\"occurred_at\":0,\"effective_date\":0}",
     CB_ERR_INVALID, "source_system: required field is missing", 0},
    {"{" COMMON ",\"event_type\":\"RENAMED\"}", CB_ERR_INVALID, "org: required field is missing",
     0},
    {"{" COMMON ",\"event_type\":\"RENAMED\",\"org\":[]}", CB_ERR_INVALID,
     "org: expected an object, got array", 0},
    {"{" COMMON ",\"event_type\":\"RENAMED\",\"org\":{\"name\":\"x\"}}", CB_ERR_INVALID,
     "org.code: required field is missing", 0},
    {"{" COMMON ",\"event_type\":\"RENAMED\",\"org\":{\"code\":\"000.00.05.H19\",\"name\":\"x\","
     "\"province\":false}}",
     CB_ERR_INVALID, "org.province: expected a string, got boolean", 0},
    {ORG_EV("MERGED", ",\"merged_orgs\":{}"), CB_ERR_INVALID,
     "merged_orgs: expected an array, got object", 0},
    {ORG_EV("MERGED", ",\"merged_orgs\":[" ORG_MIN("000.21.01.H19") ",\"x\"]"), CB_ERR_INVALID,
     "merged_orgs[1]: expected an object, got string", 0},
    {ORG_EV("MERGED", ",\"merged_orgs\":[" ORG_MIN("000.21.01.H19") "," ORG_MIN(
                          "000.21.02.H19") ",{\"code\":\"000.21.03.H19\",\"name\":3}]"),
     CB_ERR_INVALID, "merged_orgs[2].name: expected a string, got integer", 0},
    {ORG_EV("MERGED", ",\"merged_orgs\":[],\"result_is_new\":\"yes\""), CB_ERR_INVALID,
     "result_is_new: expected a boolean, got string", 0},
    {ORG_EV("MERGED", ",\"certificate_carrier\":5"), CB_ERR_INVALID,
     "certificate_carrier: expected a string, got integer", 0},
    /* semantic checks of cb_event_validate */
    {ORG_EV("MERGED", ""), CB_ERR_INVALID,
     "merged_orgs: a MERGED event needs at least one merged organization", 0},
    {ORG_EV("MERGED", ",\"merged_orgs\":[" ORG_MIN(
                          "000.21.01.H19") "],\"certificate_carrier\":\"000.21.09.H19\""),
     CB_ERR_INVALID, "certificate_carrier: \"000.21.09.H19\" is not one of merged_orgs", 0},
    {ORG_EV("MERGED", ",\"merged_orgs\":[" ORG_MIN("000.21.01.h19") "]"), CB_ERR_INVALID,
     "merged_orgs[0].code: \"000.21.01.h19\" is not an electronic identification code", 1},
    {"{" COMMON ",\"event_type\":\"RENAMED\",\"org\":{\"code\":\"\",\"name\":\"x\","
     "\"province\":\"p\"}}",
     CB_ERR_INVALID, "org.code: required field is missing or empty", 0},
    {"{" COMMON ",\"event_type\":\"JOINED\",\"person\":5," ORG_SONV "}", CB_ERR_INVALID,
     "person: expected an object, got integer", 0},
    {"{" COMMON ",\"event_type\":\"JOINED\",\"person\":{\"person_id\":\"p\"}," ORG_SONV "}",
     CB_ERR_INVALID, "person.national_id: required field is missing", 0},
    {"{" COMMON ",\"event_type\":\"JOINED\",\"person\":{\"person_id\":\"p\",\"national_id\":"
     "\"0750850012\",\"full_name\":\"A\"}," ORG_SONV "}",
     CB_ERR_INVALID, "person.national_id: not 12 digits", 0},
    {"{" COMMON ",\"event_type\":\"JOINED\",\"person\":{\"person_id\":\"p\",\"national_id\":"
     "\"075085001234\",\"full_name\":\"A\",\"is_leader\":1}," ORG_SONV "}",
     CB_ERR_INVALID, "person.is_leader: expected a boolean, got integer", 0},
    {PERSON_EV("DEPARTED", ",\"departure_reason\":\"FIRED\""), CB_ERR_INVALID,
     "departure_reason: unknown symbol \"FIRED\"", 0},
    {PERSON_EV("DEPARTED", ",\"previous_org\":{\"code\":\"000.00.01.H19\",\"name\":\"x\"}"),
     CB_ERR_INVALID, "previous_org.province: required field is missing", 0},
    /* not an event at all */
    {"[1,2]", CB_ERR_INVALID, "event: expected an object, got array", 0},
    {"{\"event_id\":", CB_ERR_DECODE, "event: invalid JSON at byte ", 1},
    {"{\"event_id\":\"a\",\"event_id\":\"b\"}", CB_ERR_DECODE, "event: invalid JSON at byte ", 1},
    {"{\"event_id\":\"\xc3\x28\"}", CB_ERR_DECODE, "event: invalid JSON at byte ", 1},
    {"{\"event_id\":\"a\\u0000b\"}", CB_ERR_DECODE, "event: invalid JSON at byte ", 1},
    {"", CB_ERR_DECODE, "event: invalid JSON at byte ", 1},
};

static void test_errors(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *bc = &bad_cases[i];
        cb_event_t ev;
        cb_error_t err;

        if (decode(bc->json, &ev, &err) != -1)
            fail_msg("case %zu decoded: %s", i, bc->json);
        if (err.code != bc->code || (bc->prefix ? strncmp(err.msg, bc->msg, strlen(bc->msg)) != 0
                                                : strcmp(err.msg, bc->msg) != 0))
            fail_msg("case %zu: got %s \"%s\", expected %s \"%s\"", i, cb_errcode_name(err.code),
                     err.msg, cb_errcode_name(bc->code), bc->msg);
        assert_null(ev.event_id); /* cleared on failure */
        assert_null(ev.org.code);
    }
}

/* Size limits: one string, the merged_orgs count, the whole event. */
static void test_limits(void **state)
{
    size_t n = CB_STRING_MAX_BYTES + 1, i;
    char *name = malloc(n + 1), *json = malloc(CB_EVENT_MAX_BYTES + 2);
    size_t len;
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    memset(name, 'a', n);
    name[n] = '\0';
    snprintf(json, CB_EVENT_MAX_BYTES,
             "{" COMMON ",\"event_type\":\"RENAMED\",\"org\":{\"code\":\"000.00.05.H19\","
             "\"name\":\"%s\",\"province\":\"p\"}}",
             name);
    assert_int_equal(decode(json, &ev, &err), -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);
    assert_string_equal(err.msg, "org.name: string of 1025 bytes exceeds the limit of 1024");
    name[n - 1] = '\0'; /* exactly the limit is fine */
    snprintf(json, CB_EVENT_MAX_BYTES,
             "{" COMMON ",\"event_type\":\"RENAMED\",\"org\":{\"code\":\"000.00.05.H19\","
             "\"name\":\"%s\",\"province\":\"p\"}}",
             name);
    assert_int_equal(decode(json, &ev, &err), 0);
    assert_int_equal(strlen(ev.org.name), CB_STRING_MAX_BYTES);
    cb_event_clear(&ev);

    /* 257 merged organizations */
    len = (size_t)snprintf(json, CB_EVENT_MAX_BYTES,
                           "{" COMMON ",\"event_type\":\"MERGED\"," ORG_SONV ",\"merged_orgs\":[");
    for (i = 0; i <= CB_MERGED_ORGS_MAX; i++)
        len += (size_t)snprintf(json + len, CB_EVENT_MAX_BYTES - len, "%s" ORG_MIN("000.21.01.H19"),
                                i ? "," : "");
    memcpy(json + len, "]}", 3);
    assert_int_equal(decode(json, &ev, &err), -1);
    assert_string_equal(err.msg, "merged_orgs: 257 entries exceed the limit of 256");

    /* one byte over the event limit, whatever it contains */
    memset(json, ' ', CB_EVENT_MAX_BYTES + 1);
    assert_int_equal(cb_codec_json_decode_event(json, CB_EVENT_MAX_BYTES + 1, &ev, &err), -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);
    assert_string_equal(err.msg, "event: 1048577 bytes exceed the limit of 1048576");
    free(name);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_org_event),  cmocka_unit_test(test_full_person_event),
        cmocka_unit_test(test_every_symbol),    cmocka_unit_test(test_nfc),
        cmocka_unit_test(test_times_and_dates), cmocka_unit_test(test_defaults_and_evolution),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
