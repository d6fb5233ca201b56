/* test_orgreg.c: the organization registry read from HR exports: CSV (byte
 * order mark, quoted commas and quotes, CRLF, unknown columns, NFD), JSONL
 * (booleans, nulls, unknown members), the last record of a key winning,
 * successor chains, and each refusal with its "FILE:LINE: field" message. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certbridge/orgreg.h"

/* A finished registry of text in format; fails the test on an error. */
static cb_orgreg_t *load(const char *text, cb_orgreg_format_t format)
{
    cb_orgreg_t *r = cb_orgreg_new();
    cb_error_t err;

    assert_non_null(r);
    if (cb_orgreg_load(r, "t", text, strlen(text), format, &err) < 0 ||
        cb_orgreg_finish(r, &err) < 0)
        fail_msg("load: %s", err.msg);
    return r;
}

/* The error of loading text, as "code: message". */
static void load_fails(const char *text, cb_orgreg_format_t format, cb_errcode_t code,
                       const char *msg)
{
    cb_orgreg_t *r = cb_orgreg_new();
    cb_error_t err;

    assert_int_equal(cb_orgreg_load(r, "reg.csv", text, strlen(text), format, &err), -1);
    assert_int_equal(err.code, code);
    if (!strstr(err.msg, msg))
        fail_msg("expected \"%s\" in \"%s\"", msg, err.msg);
    cb_orgreg_destroy(r);
}

static void test_csv(void **state)
{
    /* "Sở Tài chính" written decomposed (NFD): o + combining horn + hook */
    const char *csv =
        "\xEF\xBB\xBF"
        " Code ,NAME,parent_code,parent_name,province,status,successor,ignored\r\n"
        "000.00.00.H54,Ủy ban nhân dân tỉnh Quảng Trị,,,Tỉnh Quảng Trị,,,x\r\n"
        "\r\n"
        "000.00.04.H54,\"Trung tâm Xúc tiến Đầu tư, Thương mại và Du lịch\",000.00.00.H54,"
        "\"Ủy ban nhân dân tỉnh Quảng Trị\",Tỉnh Quảng Trị,ACTIVE,,\"say \"\"hi\"\"\"\r\n"
        "000.00.02.H54,So\xCC\x9B\xCC\x89 Ta\xCC\x80i chi\xCC\x81nh,000.00.00.H54,,"
        "Tỉnh Quảng Trị,ACTIVE,,\r\n"
        "000.00.16.H54,,,,,MERGED,000.00.02.H54,\r\n"
        "000.00.13.H54,,,,,DISSOLVED,,\r\n";
    cb_orgreg_t *r = load(csv, CB_ORGREG_CSV);
    const cb_orgreg_org_t *o;
    size_t n;

    (void)state;
    cb_orgreg_orgs(r, &n);
    assert_int_equal(n, 5);
    o = cb_orgreg_org(r, "000.00.04.H54");
    assert_non_null(o);
    assert_string_equal(o->name, "Trung tâm Xúc tiến Đầu tư, Thương mại và Du lịch");
    assert_string_equal(o->parent_code, "000.00.00.H54");
    assert_int_equal(o->status, CB_ORGST_ACTIVE);
    assert_int_equal(o->line, 4);
    o = cb_orgreg_org(r, "000.00.02.H54");
    assert_string_equal(o->name, "Sở Tài chính"); /* NFC */
    assert_null(o->parent_name);
    o = cb_orgreg_org(r, "000.00.16.H54");
    assert_int_equal(o->status, CB_ORGST_MERGED);
    assert_string_equal(o->successor, "000.00.02.H54");
    assert_ptr_equal(cb_orgreg_successor(r, o), cb_orgreg_org(r, "000.00.02.H54"));
    assert_null(cb_orgreg_successor(r, cb_orgreg_org(r, "000.00.13.H54")));
    assert_null(cb_orgreg_org(r, "000.00.99.H54"));
    assert_int_equal(cb_orgreg_person_count(r), 0);
    cb_orgreg_destroy(r);
}

static void test_jsonl_people(void **state)
{
    const char *jsonl =
        "{\"person_id\":\"QT-1\",\"national_id\":\"045190000101\",\"full_name\":\"Nguyễn Thị "
        "Hoa\",\"is_leader\":true,\"org_code\":\"000.00.01.H54\",\"email\":null,\"extra\":[1]}\n"
        "{\"person_id\":\"QT-2\",\"full_name\":\"Võ Thị Mai\",\"status\":\"DEPARTED\","
        "\"departure_reason\":\"RETIRED\",\"departed_on\":\"2025-06-30\",\"is_leader\":\"0\"}\n"
        "{\"person_id\":\"QT-1\",\"national_id\":\"045190000101\",\"full_name\":\"Nguyễn Thị "
        "Hoa\",\"org_code\":\"000.00.03.H54\"}\n";
    cb_orgreg_t *r = load(jsonl, CB_ORGREG_AUTO);
    const cb_orgreg_person_t *p;

    (void)state;
    assert_int_equal(cb_orgreg_person_count(r), 2);
    p = cb_orgreg_person(r, "QT-1"); /* the later record of the same person wins */
    assert_string_equal(p->org_code, "000.00.03.H54");
    assert_false(p->is_leader);
    assert_null(p->email);
    p = cb_orgreg_person(r, "QT-2");
    assert_int_equal(p->status, CB_STAFF_DEPARTED);
    assert_int_equal(p->departure_reason, CB_DEPARTURE_RETIRED);
    assert_true(p->has_departed_on);
    assert_int_equal(p->departed_on, 20269); /* 2025-06-30 */
    assert_null(p->national_id);
    cb_orgreg_destroy(r);
}

static void test_chains(void **state)
{
    const char *jsonl =
        "{\"code\":\"000.00.01.H54\",\"status\":\"MERGED\",\"successor\":\"000.00.02.H54\"}\n"
        "{\"code\":\"000.00.02.H54\",\"status\":\"MERGED\",\"successor\":\"000.00.03.H54\"}\n"
        "{\"code\":\"000.00.03.H54\",\"name\":\"Sở\",\"province\":\"Tỉnh\"}\n"
        "{\"code\":\"000.00.04.H54\",\"status\":\"MERGED\",\"successor\":\"000.00.05.H54\"}\n"
        "{\"code\":\"000.00.05.H54\",\"status\":\"MERGED\",\"successor\":\"000.00.04.H54\"}\n"
        "{\"code\":\"000.00.06.H54\",\"status\":\"MERGED\",\"successor\":\"000.00.77.H54\"}\n";
    cb_orgreg_t *r = load(jsonl, CB_ORGREG_JSONL);

    (void)state;
    assert_ptr_equal(cb_orgreg_successor(r, cb_orgreg_org(r, "000.00.01.H54")),
                     cb_orgreg_org(r, "000.00.03.H54"));
    assert_null(cb_orgreg_successor(r, cb_orgreg_org(r, "000.00.04.H54"))); /* a loop */
    assert_null(cb_orgreg_successor(r, cb_orgreg_org(r, "000.00.06.H54"))); /* not listed */
    assert_null(cb_orgreg_successor(r, cb_orgreg_org(r, "000.00.03.H54"))); /* active */
    cb_orgreg_destroy(r);
}

static void test_refusals(void **state)
{
    static const char hdr[] = "code,name,province,status,successor\n";
    char buf[CB_ORGREG_LINE_MAX + 200];

    (void)state;
    load_fails("code,name,province\n000.00.01.h54,Sở,Tỉnh\n", CB_ORGREG_CSV, CB_ERR_INVALID,
               "reg.csv:2: code: \"000.00.01.h54\" is not an electronic identification code");
    load_fails("code,name,province\n000.00.01.H54,,Tỉnh\n", CB_ORGREG_CSV, CB_ERR_INVALID,
               "reg.csv:2: name: required for an ACTIVE organization");
    snprintf(buf, sizeof(buf), "%s000.00.01.H54,Sở,Tỉnh,ACTIVE,000.00.02.H54\n", hdr);
    load_fails(buf, CB_ORGREG_CSV, CB_ERR_INVALID, "reg.csv:2: successor: only a MERGED");
    snprintf(buf, sizeof(buf), "%s000.00.01.H54,Sở,Tỉnh,CLOSED,\n", hdr);
    load_fails(buf, CB_ORGREG_CSV, CB_ERR_INVALID,
               "status: \"CLOSED\" is not ACTIVE, DISSOLVED or MERGED");
    snprintf(buf, sizeof(buf), "%s000.00.01.H54,\"Sở,Tỉnh,ACTIVE,\n", hdr);
    load_fails(buf, CB_ORGREG_CSV, CB_ERR_INVALID, "a quoted field does not end on this line");
    snprintf(buf, sizeof(buf), "%s000.00.01.H54,Sở,Tỉnh\n", hdr);
    load_fails(buf, CB_ORGREG_CSV, CB_ERR_INVALID, "reg.csv:2: 3 columns, the header has 5");
    load_fails("name,province\nSở,Tỉnh\n", CB_ORGREG_CSV, CB_ERR_INVALID,
               "reg.csv:1: the header names neither a code nor a person_id column");
    load_fails("{\"person_id\":\"P\",\"national_id\":\"12345\"}\n", CB_ORGREG_JSONL, CB_ERR_INVALID,
               "reg.csv:1: national_id: not 12 digits");
    load_fails("{\"person_id\":\"P\",\"departure_reason\":\"RETIRED\"}\n", CB_ORGREG_JSONL,
               CB_ERR_INVALID, "only for a DEPARTED person");
    load_fails("{\"person_id\":\"P\",\"status\":\"DEPARTED\",\"departed_on\":\"2025-02-30\"}\n",
               CB_ORGREG_JSONL, CB_ERR_INVALID, "departed_on: \"2025-02-30\" is not a YYYY-MM-DD");
    load_fails("{\"code\":\"000.00.01.H54\",\"name\":7}\n", CB_ORGREG_JSONL, CB_ERR_INVALID,
               "reg.csv:1: name: expected a string, got integer");
    load_fails("[1]\n", CB_ORGREG_JSONL, CB_ERR_INVALID, "expected a JSON object, got array");
    load_fails("{\"code\":\"000.00.01.H54\",\"name\":\"\xC3\",\"province\":\"T\"}\n",
               CB_ORGREG_JSONL, CB_ERR_DECODE, "reg.csv:1: invalid JSON");
    memset(buf, 'a', CB_ORGREG_LINE_MAX + 1);
    buf[CB_ORGREG_LINE_MAX + 1] = '\0';
    load_fails(buf, CB_ORGREG_CSV, CB_ERR_LIMIT, "reg.csv:1: line longer than 16384 bytes");
}

static void test_file(void **state)
{
    char path[] = "/tmp/cb-orgreg-XXXXXX.jsonl";
    cb_orgreg_t *r = cb_orgreg_new();
    cb_error_t err;
    int fd = mkstemps(path, 6);
    FILE *f = fdopen(fd, "w");

    (void)state;
    assert_non_null(f);
    /* a .jsonl name: JSONL, whatever the first character */
    fputs("  {\"code\":\"000.00.01.H54\",\"name\":\"Sở\",\"province\":\"Tỉnh\"}\n", f);
    fclose(f);
    assert_int_equal(cb_orgreg_load_file(r, path, &err), 0);
    assert_int_equal(cb_orgreg_finish(r, &err), 0);
    assert_non_null(cb_orgreg_org(r, "000.00.01.H54"));
    assert_int_equal(cb_orgreg_load_file(r, path, &err), -1); /* after finish */
    unlink(path);
    cb_orgreg_destroy(r);
    r = cb_orgreg_new();
    assert_int_equal(cb_orgreg_load_file(r, "/nonexistent/reg.csv", &err), -1);
    assert_int_equal(err.code, CB_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/reg.csv: cannot open"));
    cb_orgreg_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv),    cmocka_unit_test(test_jsonl_people),
        cmocka_unit_test(test_chains), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
