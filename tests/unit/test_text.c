/* test_text.c: UTF-8 validation and NFC normalization of Vietnamese text. */
#include "cb_test.h"

#include <stdlib.h>
#include <string.h>

#include "certbridge/text.h"

/* "Đồng Nai" composed, and decomposed: o + U+0302 (circumflex) + U+0300 (grave). */
#define NFC_DONG "\xC4\x90\xE1\xBB\x93ng Nai"
#define NFD_DONG "\xC4\x90o\xCC\x82\xCC\x80ng Nai"

static void test_nfd_to_nfc(void **state)
{
    cb_error_t err;
    char *s;

    (void)state;
    s = cb_text_nfc(NFD_DONG, strlen(NFD_DONG), 1024, &err);
    assert_non_null(s);
    assert_string_equal(s, NFC_DONG);
    free(s);
    s = cb_text_nfc(NFC_DONG, strlen(NFC_DONG), 1024, &err);
    assert_string_equal(s, NFC_DONG);
    free(s);
    assert_true(cb_text_equal_nfc(NFD_DONG, NFC_DONG));
    assert_false(cb_text_equal_nfc("Dong Nai", NFC_DONG));
}

static void test_invalid(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        const char *msg;
    } cases[] = {
        {"ab\xC3", 3, "invalid UTF-8 at byte 2"},
        {"\xFF", 1, "invalid UTF-8 at byte 0"},
        {"a\0b", 3, "invalid UTF-8 at byte 1"},
        {"\xED\xA0\x80", 3, "invalid UTF-8 at byte 0"}, /* a surrogate */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cb_error_t err;
        assert_false(cb_text_utf8_valid(cases[i].s, cases[i].len));
        assert_null(cb_text_nfc(cases[i].s, cases[i].len, 1024, &err));
        assert_int_equal(err.code, CB_ERR_INVALID);
        assert_string_equal(err.msg, cases[i].msg);
    }
}

static void test_limit(void **state)
{
    cb_error_t err;

    (void)state;
    assert_null(cb_text_nfc("abcdef", 6, 5, &err));
    assert_int_equal(err.code, CB_ERR_LIMIT);
    assert_string_equal(err.msg, "string of 6 bytes exceeds the limit of 5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nfd_to_nfc),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
