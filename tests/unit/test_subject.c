/* test_subject.c: RFC 4514 subjects: format, parse, escaping, the org and
 * person subjects of the rules, and the cascade replacement. */
#include "cb_test.h"

#include <stdlib.h>
#include <string.h>

#include "certbridge/dn.h"
#include "certbridge/subject.h"

/* Table: a subject's fields and the exact string it formats to. */
typedef struct fmt_case {
    const char *cn, *title, *ou, *o, *l, *st, *c, *email;
    const char *dn;
} fmt_case_t;

static const fmt_case_t fmt_cases[] = {
    {"Sở Tài chính", NULL, NULL, "Ủy ban nhân dân tỉnh Đồng Nai", "Tỉnh Đồng Nai", NULL, "VN", NULL,
     "CN=Sở Tài chính,O=Ủy ban nhân dân tỉnh Đồng Nai,L=Tỉnh Đồng Nai,C=VN"},
    {"Nguyễn Văn An", "Giám đốc", "Sở Tài chính", "UBND tỉnh Đồng Nai", "Tỉnh Đồng Nai", NULL, "VN",
     "an.nv@dongnai.gov.vn",
     "CN=Nguyễn Văn An,title=Giám đốc,OU=Sở Tài chính,O=UBND tỉnh Đồng Nai,L=Tỉnh Đồng "
     "Nai,C=VN,emailAddress=an.nv@dongnai.gov.vn"},
    /* every special character, escaped */
    {"a,b+c\"d\\e<f>g;h", NULL, NULL, NULL, NULL, "ST", NULL, NULL,
     "CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h,ST=ST"},
    /* leading space and '#', trailing space */
    {" #x ", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "CN=\\ #x\\ "},
    {"#1", NULL, NULL, NULL, NULL, NULL, NULL, NULL, "CN=\\#1"},
    /* '#' and space in the middle and '=' need no escape */
    {"a # b=c", NULL, "", NULL, NULL, NULL, NULL, NULL, "CN=a # b=c"},
};

static void test_format_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
        const fmt_case_t *fc = &fmt_cases[i];
        cb_dn_t s = {(char *)fc->cn, (char *)fc->title, (char *)fc->ou, (char *)fc->o,
                          (char *)fc->l,  (char *)fc->st,    (char *)fc->c,  (char *)fc->email};
        cb_dn_t back;
        cb_error_t err;
        char *dn = cb_dn_format(&s, &err);

        assert_non_null(dn);
        assert_string_equal(dn, fc->dn);
        /* parse gives the same fields back (empty strings come back absent) */
        assert_int_equal(cb_dn_parse(dn, &back, &err), 0);
        assert_string_equal(back.cn, fc->cn);
#define SAME(f)                                                                                    \
    do {                                                                                           \
        if (fc->f && *fc->f)                                                                       \
            assert_string_equal(back.f, fc->f);                                                    \
        else                                                                                       \
            assert_null(back.f);                                                                   \
    } while (0)
        SAME(title);
        SAME(ou);
        SAME(o);
        SAME(l);
        SAME(st);
        SAME(c);
        SAME(email);
#undef SAME
        cb_dn_clear(&back);
        free(dn);
    }
}

static void test_format_needs_cn(void **state)
{
    cb_dn_t s;
    cb_error_t err;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.o = (char *)"x";
    assert_null(cb_dn_format(&s, &err));
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_string_equal(err.msg, "subject: CN is required");
}

static void test_parse_lenient_forms(void **state)
{
    cb_dn_t s;
    cb_error_t err;

    (void)state;
    /* spaces after commas, lower-case types, hex pairs, NFD input */
    assert_int_equal(cb_dn_parse("cn=Tr\\E1\\BA\\A7n B, o=\\41B, EMAILADDRESS=x@y.vn,"
                                      "C=VN,L=Đo\xcc\x82\xcc\x80ng Nai",
                                      &s, &err),
                     0);
    assert_string_equal(s.cn, "Trần B");
    assert_string_equal(s.o, "AB");
    assert_string_equal(s.email, "x@y.vn");
    assert_string_equal(s.c, "VN");
    assert_string_equal(s.l, "Đồng Nai"); /* NFC */
    assert_null(s.ou);
    cb_dn_clear(&s);
    /* escaped '=' and space in the middle */
    assert_int_equal(cb_dn_parse("CN=a\\=b\\ c", &s, &err), 0);
    assert_string_equal(s.cn, "a=b c");
    cb_dn_clear(&s);
}

typedef struct bad_case {
    const char *dn;
    cb_errcode_t code;
    const char *msg;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"", CB_ERR_INVALID, "subject: empty"},
    {"CN=a,XX=b", CB_ERR_INVALID, "subject: unknown attribute type \"XX\" at byte 5"},
    {"CN=a,cn=b", CB_ERR_INVALID, "subject: repeated attribute type \"cn\" at byte 5"},
    {"CN=a\\qb", CB_ERR_INVALID, "subject: bad escape at byte 4"},
    {"CN=a\\", CB_ERR_INVALID, "subject: bad escape at byte 4"},
    {"CN=a\\4", CB_ERR_INVALID, "subject: bad escape at byte 4"},
    {"CN=a+O=b", CB_ERR_INVALID, "subject: multi-valued RDN ('+') is not supported at byte 4"},
    {"CN=#0403", CB_ERR_INVALID, "subject: #hexstring values are not supported at byte 3"},
    {"CN=a;b", CB_ERR_INVALID, "subject: unescaped ';' at byte 4"},
    {"CN=a,", CB_ERR_INVALID, "subject: expected \"type=value\" at byte 5"},
    {"CN", CB_ERR_INVALID, "subject: expected \"type=value\" at byte 0"},
    {"=a", CB_ERR_INVALID, "subject: expected \"type=value\" at byte 0"},
    {"CN=,O=b", CB_ERR_INVALID, "subject: empty value at byte 3"},
    {"CN=\\C3\\28", CB_ERR_INVALID, "subject: value at byte 3: invalid UTF-8 at byte 0"},
    {"CN=a\\00b", CB_ERR_INVALID, "subject: value at byte 3: invalid UTF-8 at byte 1"},
    {"CN=\xff", CB_ERR_INVALID, "subject: value at byte 3: invalid UTF-8 at byte 0"},
};

static void test_parse_errors(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        cb_dn_t s;
        cb_error_t err;

        assert_int_equal(cb_dn_parse(bad_cases[i].dn, &s, &err), -1);
        assert_int_equal(err.code, bad_cases[i].code);
        assert_string_equal(err.msg, bad_cases[i].msg);
        assert_null(s.cn); /* cleared on failure */
    }
}

static void test_parse_limits(void **state)
{
    size_t n = 200000;
    char *dn = malloc(n + 1);
    cb_dn_t s;
    cb_error_t err;

    (void)state;
    memset(dn, 'a', n);
    memcpy(dn, "CN=", 3);
    dn[n] = '\0';
    assert_int_equal(cb_dn_parse(dn, &s, &err), -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);
    /* a value over CB_STRING_MAX_BYTES but inside the DN limit */
    dn[3 + CB_STRING_MAX_BYTES + 1] = '\0';
    assert_int_equal(cb_dn_parse(dn, &s, &err), -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);
    dn[3 + CB_STRING_MAX_BYTES] = '\0';
    assert_int_equal(cb_dn_parse(dn, &s, &err), 0);
    assert_int_equal(strlen(s.cn), CB_STRING_MAX_BYTES);
    cb_dn_clear(&s);
    free(dn);
}

static cb_org_t make_org(const char *name, const char *parent_name)
{
    cb_org_t o;

    memset(&o, 0, sizeof(o));
    o.code = (char *)"000.01.00.H19";
    o.name = (char *)name;
    o.parent_name = (char *)parent_name;
    o.province = (char *)"Tỉnh Đồng Nai";
    return o;
}

static void test_for_org_and_person(void **state)
{
    cb_org_t org = make_org("Sở Khoa học và Công nghệ", "Ủy ban nhân dân tỉnh Đồng Nai");
    cb_org_t top = make_org("Ủy ban nhân dân tỉnh Đồng Nai", NULL);
    cb_person_t p;
    cb_error_t err;
    char *dn;

    (void)state;
    dn = cb_subject_for_org(&org, &err);
    assert_string_equal(dn, "CN=Sở Khoa học và Công nghệ,O=Ủy ban nhân dân tỉnh Đồng "
                            "Nai,L=Tỉnh Đồng Nai,C=VN");
    free(dn);
    dn = cb_subject_for_org(&top, &err);
    assert_string_equal(dn, "CN=Ủy ban nhân dân tỉnh Đồng Nai,L=Tỉnh Đồng Nai,C=VN");
    free(dn);

    memset(&p, 0, sizeof(p));
    p.full_name = (char *)"Lê Thị Hoa";
    p.title = (char *)"Phó Giám đốc";
    p.email = (char *)"hoalt@dongnai.gov.vn";
    dn = cb_subject_for_person(&p, &org, &err);
    assert_string_equal(dn, "CN=Lê Thị Hoa,title=Phó Giám đốc,OU=Sở Khoa học và Công nghệ,"
                            "O=Ủy ban nhân dân tỉnh Đồng Nai,L=Tỉnh Đồng Nai,C=VN,"
                            "emailAddress=hoalt@dongnai.gov.vn");
    free(dn);
    p.title = NULL;
    p.email = NULL;
    dn = cb_subject_for_person(&p, &top, &err);
    assert_string_equal(dn, "CN=Lê Thị Hoa,OU=Ủy ban nhân dân tỉnh Đồng Nai,L=Tỉnh Đồng Nai,C=VN");
    free(dn);
}

static void test_replace_org(void **state)
{
    cb_org_t org = make_org("Sở Nông nghiệp và Môi trường", "Ủy ban nhân dân tỉnh Đồng Nai");
    cb_org_t top = make_org("Đảng ủy, UBND", NULL);
    cb_error_t err;
    char *dn;

    (void)state;
    dn = cb_subject_replace_org("CN=Trần Văn Bình,title=Chuyên viên,OU=Sở Tài nguyên và Môi "
                                "trường,O=UBND tỉnh,L=Tỉnh Đồng Nai,C=VN,emailAddress=b@x.vn",
                                &org, &err);
    assert_string_equal(dn, "CN=Trần Văn Bình,title=Chuyên viên,OU=Sở Nông nghiệp và Môi trường,"
                            "O=Ủy ban nhân dân tỉnh Đồng Nai,L=Tỉnh Đồng Nai,C=VN,"
                            "emailAddress=b@x.vn");
    free(dn);
    /* the O part disappears when the new org has no parent; escaping kept */
    dn = cb_subject_replace_org("CN=B,OU=x,O=y,L=z", &top, &err);
    assert_string_equal(dn, "CN=B,OU=Đảng ủy\\, UBND,L=Tỉnh Đồng Nai");
    free(dn);
    assert_null(cb_subject_replace_org("CN=B,X=1", &org, &err));
    assert_int_equal(err.code, CB_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_table),        cmocka_unit_test(test_format_needs_cn),
        cmocka_unit_test(test_parse_lenient_forms), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_limits),        cmocka_unit_test(test_for_org_and_person),
        cmocka_unit_test(test_replace_org),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
