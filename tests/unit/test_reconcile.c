/* test_reconcile.c: the reconciliation without a CA: certificates and
 * tokens fed one by one against an in-memory registry; the comparison of
 * names (NFC, case, spaces, RFC 4514 escapes), the kinds found, the managing
 * agencies, tokens' days, and the corrective events read back by the JSON
 * event codec (one MERGED event per 200 merged organizations). */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/codec_json.h"
#include "certbridge/reconcile.h"

#define DAY_MS 86400000LL
#define NOW_MS (20420 * DAY_MS + 3600000) /* 2025-11-28 01:00 UTC */

static const char registry[] =
    "{\"code\":\"000.00.00.H54\",\"name\":\"Ủy ban nhân dân tỉnh Quảng Trị\",\"province\":"
    "\"Tỉnh Quảng Trị\"}\n"
    "{\"code\":\"000.00.01.H54\",\"name\":\"Sở Nội vụ tỉnh Quảng Trị\",\"parent_code\":"
    "\"000.00.00.H54\",\"parent_name\":\"Ủy ban nhân dân tỉnh Quảng Trị\",\"province\":\"Tỉnh "
    "Quảng Trị\"}\n"
    "{\"code\":\"000.00.04.H54\",\"name\":\"Trung tâm Xúc tiến Đầu tư, Thương mại\","
    "\"parent_code\":\"000.00.00.H54\",\"parent_name\":\"Ủy ban nhân dân tỉnh Quảng Trị\","
    "\"province\":\"Tỉnh Quảng Trị\"}\n"
    "{\"code\":\"000.00.13.H54\",\"parent_code\":\"000.00.00.H54\",\"status\":\"DISSOLVED\"}\n"
    "{\"code\":\"000.00.15.H54\",\"status\":\"MERGED\",\"successor\":\"000.00.01.H54\"}\n"
    "{\"person_id\":\"P-1\",\"national_id\":\"045190000101\",\"full_name\":\"Lê Văn A\","
    "\"org_code\":\"000.00.01.H54\"}\n"
    "{\"person_id\":\"P-2\",\"national_id\":\"045190000102\",\"full_name\":\"Lê Văn B\","
    "\"org_code\":\"000.00.04.H54\",\"status\":\"DEPARTED\",\"departure_reason\":\"DECEASED\"}\n"
    "{\"person_id\":\"P-3\",\"full_name\":\"Lê Văn C\",\"org_code\":\"000.00.04.H54\"}\n";

static cb_orgreg_t *reg_of(const char *text)
{
    cb_orgreg_t *r = cb_orgreg_new();
    cb_error_t err;

    if (cb_orgreg_load(r, "reg", text, strlen(text), CB_ORGREG_JSONL, &err) < 0 ||
        cb_orgreg_finish(r, &err) < 0)
        fail_msg("registry: %s", err.msg);
    return r;
}

static cb_reconcile_t *rc_of(const cb_orgreg_t *r)
{
    cb_reconcile_options_t o = {.now_ms = NOW_MS};
    cb_error_t err;
    cb_reconcile_t *rc = cb_reconcile_new(r, &o, &err);

    assert_non_null(rc);
    return rc;
}

static void add(cb_reconcile_t *rc, const char *type, const char *holder, const char *org,
                const char *subject)
{
    static int serial;
    char s[40];
    cb_ca_cert_t c;
    cb_error_t err;

    memset(&c, 0, sizeof(c));
    snprintf(s, sizeof(s), "%032X", ++serial);
    c.serial = s;
    c.holder_type = (char *)type;
    c.holder_id = (char *)holder;
    c.org_code = (char *)org;
    c.subject = (char *)subject;
    if (cb_reconcile_add_cert(rc, &c, &err) < 0)
        fail_msg("add: %s", err.msg);
}

/* The only finding of holder, or NULL. */
static const cb_finding_t *finding(const cb_reconcile_t *rc, const char *holder)
{
    size_t n, i;
    const cb_finding_t *const *fs = cb_reconcile_findings(rc, &n), *found = NULL;

    for (i = 0; i < n; i++) {
        if (fs[i]->holder_id && !strcmp(fs[i]->holder_id, holder)) {
            assert_null(found);
            found = fs[i];
        }
    }
    return found;
}

static void test_names(void **state)
{
    (void)state;
    assert_true(
        cb_reconcile_name_equal("Sở Nội vụ", "So\xCC\x9B\xCC\x89 No\xCC\xA3\xCC\x82i vu\xCC\xA3"));
    assert_true(cb_reconcile_name_equal("SỞ NỘI VỤ", "Sở Nội vụ"));
    assert_true(cb_reconcile_name_equal("  Sở   Nội\tvụ ", "Sở Nội vụ"));
    assert_true(cb_reconcile_name_equal("Đồng Nai", "đồng nai"));
    assert_false(cb_reconcile_name_equal("Sở Nội vụ", "Sở Nội vụ tỉnh"));
    assert_false(cb_reconcile_name_equal("Sở Nội vụ", "Sở Nôi vụ")); /* a mark differs */
    assert_false(cb_reconcile_name_equal("Sở Nội vụ", NULL));
    assert_true(cb_reconcile_name_equal(NULL, NULL));
}

static void test_kinds(void **state)
{
    cb_orgreg_t *r = reg_of(registry);
    cb_reconcile_t *rc = rc_of(r);
    const cb_finding_t *f;
    cb_error_t err;

    (void)state;
    /* compliant: escaped comma, letter case */
    add(rc, "ORGANIZATION", "000.00.04.H54", NULL,
        "CN=Trung tâm Xúc tiến Đầu tư\\, Thương mại,O=ỦY BAN NHÂN DÂN TỈNH QUẢNG TRỊ,"
        "L=Tỉnh Quảng Trị,C=VN");
    add(rc, "ORGANIZATION", "000.00.00.H54", NULL,
        "CN=Ủy ban nhân dân tỉnh Quảng Trị,L=Tỉnh Quảng Trị,C=VN");
    /* drifted */
    add(rc, "ORGANIZATION", "000.00.01.H54", NULL,
        "CN=Sở Nội vụ tỉnh Quảng Trị,O=Ủy ban nhân dân tỉnh Quảng Bình,L=Tỉnh Quảng Bình,C=VN");
    add(rc, "ORGANIZATION", "000.00.13.H54", NULL, "CN=Huyện X,L=Tỉnh Quảng Trị,C=VN");
    add(rc, "ORGANIZATION", "000.00.15.H54", NULL, "CN=Sở TT,L=Tỉnh Quảng Trị,C=VN");
    add(rc, "ORGANIZATION", "000.00.77.H54", NULL, "CN=Ban cũ,O=Cha,L=Tỉnh Quảng Trị,C=VN");
    add(rc, "PERSON", "P-2", "000.00.04.H54", "CN=Lê Văn B,OU=Trung tâm,L=Tỉnh Quảng Trị,C=VN");
    add(rc, "PERSON", "P-3", "000.00.04.H54",
        "CN=Lê Văn C,OU=Trung tâm khác,O=Ủy ban nhân dân tỉnh Quảng Trị,L=Tỉnh Quảng Trị,C=VN");
    add(rc, "PERSON", "P-4", "000.00.13.H54", "CN=Lê Văn D,OU=Huyện X,L=Tỉnh Quảng Trị,C=VN");
    add(rc, "PERSON", "P-5", "000.00.01.H54", "CN=not a dn,X=1");
    assert_int_equal(cb_reconcile_finish(rc, &err), 0);

    assert_int_equal(cb_reconcile_certificates(rc), 10);
    assert_int_equal(cb_reconcile_compliant(rc), 2);
    assert_int_equal(cb_reconcile_case_only(rc), 1);
    f = finding(rc, "000.00.01.H54");
    assert_int_equal(f->kind, CB_FIND_SUBJECT);
    assert_int_equal(f->diff, CB_DIFF_PARENT | CB_DIFF_PROVINCE);
    assert_string_equal(f->fix, "PARENT_CHANGED");
    assert_string_equal(f->expected, "CN=Sở Nội vụ tỉnh Quảng Trị,O=Ủy ban nhân dân tỉnh Quảng "
                                     "Trị,L=Tỉnh Quảng Trị,C=VN");
    f = finding(rc, "000.00.13.H54");
    assert_int_equal(f->kind, CB_FIND_ORG_GONE);
    assert_string_equal(f->fix, "DISSOLVED");
    assert_null(f->successor_code);
    f = finding(rc, "000.00.15.H54");
    assert_string_equal(f->fix, "MERGED");
    assert_string_equal(f->successor_code, "000.00.01.H54");
    assert_string_equal(f->successor_name, "Sở Nội vụ tỉnh Quảng Trị");
    f = finding(rc, "000.00.77.H54");
    assert_int_equal(f->kind, CB_FIND_ORG_UNKNOWN);
    assert_null(f->fix);
    assert_string_equal(cb_reconcile_agencies(rc, &(size_t){0})[f->agency].name, "Cha");
    f = finding(rc, "P-2");
    assert_int_equal(f->kind, CB_FIND_DEPARTED);
    assert_string_equal(f->fix, "DEPARTED");
    f = finding(rc, "P-3"); /* no national id in the HR export: listed, no event */
    assert_int_equal(f->kind, CB_FIND_SUBJECT);
    assert_int_equal(f->diff, CB_DIFF_NAME);
    assert_null(f->fix);
    assert_non_null(strstr(f->note, "national id"));
    f = finding(rc, "P-4"); /* dissolved, nothing in HR: review */
    assert_int_equal(f->kind, CB_FIND_PERSON_ORG_GONE);
    assert_null(f->fix);
    f = finding(rc, "P-5");
    assert_int_equal(f->kind, CB_FIND_SUBJECT);
    assert_int_equal(f->diff, CB_DIFF_NAME | CB_DIFF_PARENT | CB_DIFF_PROVINCE);
    assert_int_equal(cb_reconcile_count(rc, CB_FIND_NO_CERT), 0); /* 00, 01, 04 have one */
    /* organization events: 01, 13, 15 (into 01); person events: P-2 */
    assert_int_equal(cb_reconcile_events(rc), 4);
    cb_reconcile_destroy(rc);
    cb_orgreg_destroy(r);
}

static void test_tokens_and_no_cert(void **state)
{
    cb_orgreg_t *r = reg_of(registry);
    cb_reconcile_t *rc = rc_of(r);
    cb_ca_device_t d;
    cb_error_t err;
    const cb_finding_t *f;
    size_t n;
    const cb_agency_t *ag;

    (void)state;
    memset(&d, 0, sizeof(d));
    d.device_id = "TK-1";
    d.holder_type = "PERSON";
    d.holder_id = "P-1";
    d.org_code = "000.00.15.H54"; /* merged away: the agency is its successor */
    d.subject = "CN=Lê Văn A,OU=Sở TT,L=Tỉnh Quảng Trị,C=VN";
    d.recalled_at_ms = NOW_MS - 3 * DAY_MS - 5000;
    assert_int_equal(cb_reconcile_add_token(rc, &d, &err), 0);
    d.device_id = "TK-2";
    d.returned_at_ms = NOW_MS - DAY_MS;
    assert_int_equal(cb_reconcile_add_token(rc, &d, &err), 0);
    assert_int_equal(cb_reconcile_finish(rc, &err), 0);
    f = finding(rc, "P-1");
    assert_int_equal(f->kind, CB_FIND_TOKEN_OUT);
    assert_string_equal(f->device_id, "TK-1");
    assert_int_equal(f->days, 3);
    ag = cb_reconcile_agencies(rc, &n);
    /* the HR export puts P-1 in 000.00.01.H54 */
    assert_string_equal(ag[f->agency].code, "000.00.01.H54");
    /* no certificate at all: the three active organizations, under their agency */
    assert_int_equal(cb_reconcile_count(rc, CB_FIND_NO_CERT), 3);
    f = finding(rc, "000.00.01.H54");
    assert_int_equal(f->kind, CB_FIND_NO_CERT);
    assert_string_equal(ag[f->agency].code, "000.00.00.H54");
    f = finding(rc, "000.00.00.H54"); /* top level: its own agency */
    assert_string_equal(ag[f->agency].code, "000.00.00.H54");
    cb_reconcile_destroy(rc);
    cb_orgreg_destroy(r);
}

/* Events read back by certbridge's JSON event codec; MERGED in chunks. */
static void test_events(void **state)
{
    size_t cap = 512 * 200, len = 0, i, lines = 0;
    char *text = malloc(cap), *out = NULL, *line, *save = NULL;
    size_t out_len = 0;
    cb_orgreg_t *r;
    cb_reconcile_t *rc;
    cb_error_t err;
    FILE *f;
    int merged = 0, departed = 0;

    (void)state;
    len += (size_t)snprintf(text + len, cap - len, "%s", registry);
    for (i = 0; i < 450; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "{\"code\":\"000.%02zu.%02zu.H55\",\"status\":\"MERGED\","
                                "\"successor\":\"000.00.04.H54\"}\n",
                                i / 100, i % 100);
    r = reg_of(text);
    rc = rc_of(r);
    for (i = 0; i < 450; i++) {
        char code[32], subject[96];
        snprintf(code, sizeof(code), "000.%02zu.%02zu.H55", i / 100, i % 100);
        snprintf(subject, sizeof(subject), "CN=Xã %zu,L=Tỉnh Quảng Trị,C=VN", i);
        add(rc, "ORGANIZATION", code, NULL, subject);
    }
    add(rc, "PERSON", "P-2", "000.00.04.H54", "CN=Lê Văn B,OU=Trung tâm,L=Tỉnh Quảng Trị,C=VN");
    assert_int_equal(cb_reconcile_finish(rc, &err), 0);
    assert_int_equal(cb_reconcile_events(rc), 4);
    f = open_memstream(&out, &out_len);
    assert_int_equal(cb_reconcile_write_events(rc, f, &err), 0);
    fclose(f);
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cb_event_t ev;
        if (cb_codec_json_decode_event(line, strlen(line), &ev, &err) < 0)
            fail_msg("event %zu does not decode: %s", lines, err.msg);
        lines++;
        if (ev.kind == CB_EVENT_ORG) {
            assert_int_equal(ev.type, CB_ORG_MERGED);
            assert_string_equal(ev.org.code, "000.00.04.H54");
            assert_false(ev.result_is_new);
            assert_int_equal(ev.merged_count, merged < 2 ? 200 : 50);
            merged++;
        } else {
            assert_int_equal(ev.type, CB_PERSON_DEPARTED);
            assert_int_equal(ev.departure_reason, CB_DEPARTURE_DECEASED);
            assert_string_equal(ev.person.national_id, "045190000102");
            assert_string_equal(ev.org.code, "000.00.04.H54");
            assert_string_equal(ev.event_id, "rc-20251128-PER-P-2-DEPARTED");
            departed++;
        }
        cb_event_clear(&ev);
    }
    assert_int_equal(lines, 4);
    assert_int_equal(merged, 3);
    assert_int_equal(departed, 1);
    free(out);
    free(text);
    cb_reconcile_destroy(rc);
    cb_orgreg_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_tokens_and_no_cert),
        cmocka_unit_test(test_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
