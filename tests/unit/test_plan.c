/* test_plan.c: the plan module on in-memory streams: exact JSON Lines and
 * table output, blank lines and CRLF, the "FILE:LINE: reason" errors, the
 * line-length cap. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/plan.h"

#define DISSOLVED_LINE                                                                             \
    "{\"event_id\":\"e-1\",\"event_type\":\"DISSOLVED\",\"occurred_at\":0,\"effective_date\":0,"   \
    "\"source_system\":\"s\",\"org\":{\"code\":\"000.02.41.H19\",\"name\":\"Phòng Nội vụ\","  \
    "\"province\":\"Tỉnh Đồng Nai\"}}"
#define LEADER_LINE                                                                                \
    "{\"event_id\":\"e-2\",\"event_type\":\"TRANSFERRED\",\"occurred_at\":0,\"effective_date\":0," \
    "\"source_system\":\"s\",\"person\":{\"person_id\":\"P-1\",\"national_id\":\"075070001234\","  \
    "\"full_name\":\"Lê Ánh\",\"is_leader\":true},\"org\":{\"code\":\"000.00.07.H19\",\"name\":" \
    "\"Sở Tài chính\",\"province\":\"Tỉnh Đồng Nai\"}}"

#define RECALL_NOTE                                                                                                          \
    "Thu hồi thiết bị lưu khóa bí mật, gửi về Cục Chứng thực số và Bảo mật thông tin / Recall " \
    "the key token and return it to the Department of Digital Certification and Information "                                \
    "Security"
#define DISSOLVED_NOTE                                                                                        \
    "Thu hồi chứng thư số của cơ quan đã giải thể / Revoke the certificate of the dissolved " \
    "organization"
#define LEADER_NOTE                                                                                                              \
    "Thay đổi nội dung thông tin chứng thư số cá nhân; lãnh đạo được tiếp tục ký số bằng chứng " \
    "thư số hiện có cho đến khi thay đổi xong / Change the personal certificate's information; "                     \
    "as a leader, you may keep signing with the existing certificate until the change is done"

/* Runs the planner on input and returns what it wrote (caller frees). */
static char *run(const char *input, size_t len, cb_plan_format_t format, int *rc, cb_error_t *err)
{
    cb_policy_t policy = {false, false, false};
    FILE *in = fmemopen((void *)input, len, "r");
    char *out = NULL;
    size_t outlen = 0;
    FILE *o = open_memstream(&out, &outlen);

    assert_non_null(in);
    assert_non_null(o);
    cb_error_clear(err);
    *rc = cb_plan_stream(in, "events.jsonl", &policy, format, o, err);
    fclose(o);
    fclose(in);
    return out;
}

static void test_json_output(void **state)
{
    const char *input = "\n" DISSOLVED_LINE "\r\n  \t\r\n" LEADER_LINE; /* no final newline */
    const char *expected =
        "{\"event_id\":\"e-1\",\"event_type\":\"DISSOLVED\",\"action\":\"REVOKE\",\"holder_type\":"
        "\"ORGANIZATION\",\"holder_id\":\"000.02.41.H19\",\"holder_name\":\"Phòng Nội vụ\","
        "\"revocation_reason\":\"cessationOfOperation\",\"note\":\"" DISSOLVED_NOTE "\"}\n"
        "{\"event_id\":\"e-1\",\"event_type\":\"DISSOLVED\",\"action\":\"RECALL_DEVICE\","
        "\"holder_type\":\"ORGANIZATION\",\"holder_id\":\"000.02.41.H19\",\"holder_name\":\"Phòng "
        "Nội vụ\",\"note\":\"" RECALL_NOTE "\"}\n"
        "{\"event_id\":\"e-2\",\"event_type\":\"TRANSFERRED\",\"action\":\"CHANGE_INFO\","
        "\"holder_type\":\"PERSON\",\"holder_id\":\"P-1\",\"holder_name\":\"Lê Ánh\","
        "\"new_subject\":\"CN=Lê Ánh,OU=Sở Tài chính,L=Tỉnh Đồng Nai,C=VN\","
        "\"emergency_signing_allowed\":true,\"note\":\"" LEADER_NOTE "\"}\n";
    cb_error_t err;
    int rc;
    char *out = run(input, strlen(input), CB_PLAN_JSON, &rc, &err);

    (void)state;
    assert_int_equal(rc, 0);
    assert_string_equal(out, expected);
    free(out);
}

/* Columns are aligned by display width: "Phòng Nội vụ" is 12 columns but
 * more bytes. */
static void test_table_output(void **state)
{
    const char *input = DISSOLVED_LINE "\n" LEADER_LINE "\n";
    const char *expected =
        "EVENT            ACTION         HOLDER                      REASON                NOTE\n"
        "e-1 DISSOLVED    REVOKE         000.02.41.H19 Phòng Nội vụ  cessationOfOperation  "
        "" DISSOLVED_NOTE "\n"
        "                 RECALL_DEVICE  000.02.41.H19 Phòng Nội vụ  -                     "
        "" RECALL_NOTE "\n"
        "e-2 TRANSFERRED  CHANGE_INFO    P-1 Lê Ánh                  -                     "
        "" LEADER_NOTE "\n"
        "                                -> CN=Lê Ánh,OU=Sở Tài chính,L=Tỉnh Đồng Nai,C=VN\n"
        "2 events, 3 intents\n";
    cb_error_t err;
    int rc;
    char *out = run(input, strlen(input), CB_PLAN_TABLE, &rc, &err);

    (void)state;
    assert_int_equal(rc, 0);
    assert_string_equal(out, expected);
    free(out);
}

/* A CANCELLED event: no action of its own, one row (object) naming the
 * event it cancels; a CANCELLED event without it is a bad line. */
static void test_cancellation(void **state)
{
    const char *input =
        "{\"event_id\":\"e-3\",\"event_type\":\"CANCELLED\",\"occurred_at\":0,"
        "\"effective_date\":0,\"source_system\":\"s\",\"person\":{\"person_id\":\"P-1\","
        "\"national_id\":\"075070001234\",\"full_name\":\"Lê Ánh\"},\"org\":{\"code\":"
        "\"000.00.07.H19\",\"name\":\"Sở Tài chính\",\"province\":\"Tỉnh Đồng Nai\","
        "\"address\":\"e-2\"}}\n";
    const char *note = "cancels e-2: its actions not yet sent to the CA end CANCELLED; an action "
                       "already sent cannot be cancelled";
    char expected[1024], *bad, *at;
    cb_error_t err;
    int rc;
    char *out = run(input, strlen(input), CB_PLAN_JSON, &rc, &err);

    (void)state;
    assert_int_equal(rc, 0);
    snprintf(expected, sizeof(expected),
             "{\"event_id\":\"e-3\",\"event_type\":\"CANCELLED\",\"cancels\":\"e-2\","
             "\"holder_id\":\"P-1\",\"note\":\"%s\"}\n",
             note);
    assert_string_equal(out, expected);
    free(out);
    out = run(input, strlen(input), CB_PLAN_TABLE, &rc, &err);
    assert_int_equal(rc, 0);
    snprintf(expected, sizeof(expected),
             "EVENT          ACTION  HOLDER      REASON  NOTE\n"
             "e-3 CANCELLED  -       P-1 Lê Ánh  -       %s\n"
             "1 events, 0 intents\n",
             note);
    assert_string_equal(out, expected);
    free(out);
    bad = strdup(input);
    at = strstr(bad, ",\"address\":\"e-2\"");
    memmove(at, at + strlen(",\"address\":\"e-2\""),
            strlen(at + strlen(",\"address\":\"e-2\"")) + 1);
    out = run(bad, strlen(bad), CB_PLAN_JSON, &rc, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_non_null(strstr(err.msg, "events.jsonl:1: org.address: a CANCELLED event carries"));
    free(out);
    free(bad);
}

static void test_empty_input(void **state)
{
    cb_error_t err;
    int rc;
    char *out = run("\n\n", 2, CB_PLAN_TABLE, &rc, &err);

    (void)state;
    assert_int_equal(rc, 0);
    assert_string_equal(out, "EVENT  ACTION  HOLDER  REASON  NOTE\n0 events, 0 intents\n");
    free(out);
    out = run("", 0, CB_PLAN_JSON, &rc, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    free(out);
}

typedef struct bad_case {
    const char *input;
    const char *msg;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {DISSOLVED_LINE "\n\n{\"event_id\":", "events.jsonl:3: event: invalid JSON at byte 12: "},
    {"[]\n", "events.jsonl:1: event: expected an object, got array"},
    {DISSOLVED_LINE "\n" LEADER_LINE "\n{\"event_id\":\"x\",\"event_type\":\"SPLIT\"}\n",
     "events.jsonl:3: event_type: unknown symbol \"SPLIT\""},
    {"\n\n\n\n{\"event_id\":\"x\",\"event_type\":\"RENAMED\",\"occurred_at\":0,"
     "\"effective_date\":0,\"source_system\":\"s\",\"org\":{\"code\":\"bad\",\"name\":\"n\","
     "\"province\":\"p\"}}",
     "events.jsonl:5: org.code: \"bad\" is not an electronic identification code"},
};

/* A bad line stops with CB_ERR_INVALID naming the line; the table prints
 * nothing, JSON keeps what came before. */
static void test_bad_lines(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        cb_error_t err;
        int rc;
        char *out = run(bad_cases[i].input, strlen(bad_cases[i].input), CB_PLAN_TABLE, &rc, &err);

        assert_int_equal(rc, -1);
        assert_int_equal(err.code, CB_ERR_INVALID);
        if (strncmp(err.msg, bad_cases[i].msg, strlen(bad_cases[i].msg)) != 0)
            fail_msg("case %zu: \"%s\" does not start with \"%s\"", i, err.msg, bad_cases[i].msg);
        assert_string_equal(out, "");
        free(out);
    }
    {
        cb_error_t err;
        int rc;
        char *out = run(bad_cases[2].input, strlen(bad_cases[2].input), CB_PLAN_JSON, &rc, &err);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(out, "\"event_id\":\"e-2\""));
        free(out);
    }
}

/* A line longer than CB_EVENT_MAX_BYTES is refused without reading it all
 * into memory; one of exactly the limit reaches the decoder. */
static void test_line_cap(void **state)
{
    size_t n = CB_EVENT_MAX_BYTES + 1;
    char *input = malloc(n + 2);
    cb_error_t err;
    int rc;
    char *out;

    (void)state;
    input[0] = '\n';
    memset(input + 1, ' ', n);
    input[n + 1] = '\n';
    out = run(input, n + 2, CB_PLAN_JSON, &rc, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_string_equal(err.msg, "events.jsonl:2: line longer than 1048576 bytes");
    free(out);
    /* exactly the limit: a blank line of spaces, skipped */
    out = run(input, n, CB_PLAN_JSON, &rc, &err);
    assert_int_equal(rc, 0);
    free(out);
    input[1] = '[';
    input[n - 1] = ']';
    out = run(input, n, CB_PLAN_JSON, &rc, &err);
    assert_int_equal(rc, -1);
    assert_string_equal(err.msg, "events.jsonl:2: event: expected an object, got array");
    free(out);
    free(input);
}

static void test_format_and_file(void **state)
{
    cb_policy_t policy = {false, false, false};
    cb_error_t err;

    (void)state;
    assert_int_equal(cb_plan_format_parse("table"), CB_PLAN_TABLE);
    assert_int_equal(cb_plan_format_parse("json"), CB_PLAN_JSON);
    assert_int_equal(cb_plan_format_parse("JSON"), -1);
    assert_int_equal(cb_plan_format_parse(NULL), -1);
    assert_int_equal(cb_plan_file("/nonexistent/x.jsonl", &policy, CB_PLAN_JSON, stdout, &err), -1);
    assert_int_equal(err.code, CB_ERR_IO);
    assert_string_equal(err.msg, "/nonexistent/x.jsonl: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_output),  cmocka_unit_test(test_table_output),
        cmocka_unit_test(test_empty_input),  cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_line_cap),     cmocka_unit_test(test_format_and_file),
        cmocka_unit_test(test_cancellation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
