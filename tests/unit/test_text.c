/* test_text.c: UTF-8 validation and NFC normalization of Vietnamese text. */
#include "cb_test.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

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

/* utf8proc's NFC of s, the reference the fast path must agree with. */
static char *reference_nfc(const char *s)
{
    utf8proc_uint8_t *out = NULL;

    assert_true(utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)strlen(s), &out,
                             UTF8PROC_STABLE | UTF8PROC_COMPOSE) >= 0);
    return (char *)out;
}

/* cb_text_nfc copies strings made only of code points below U+0300 and of
 * U+1E00..U+1EFF without asking utf8proc: every such code point, alone and
 * between neighbours of the same ranges, must be its own NFC. */
static void test_nfc_fast_path(void **state)
{
    static const utf8proc_int32_t partners[] = {'a',   'A',    0xC2,   0x110,  0x1A1, 0x1B0,
                                                0x2FF, 0x1E00, 0x1EA1, 0x1EC7, 0x1EFF};
    utf8proc_int32_t cp;
    size_t p;

    (void)state;
    for (cp = 1; cp < 0x1F00; cp = cp == 0x2FF ? 0x1E00 : cp + 1) {
        for (p = 0; p <= sizeof(partners) / sizeof(partners[0]); p++) {
            utf8proc_uint8_t buf[16];
            utf8proc_ssize_t n = 0;
            char *fast, *ref;
            cb_error_t err;

            if (p < sizeof(partners) / sizeof(partners[0]))
                n += utf8proc_encode_char(partners[p], buf + n);
            n += utf8proc_encode_char(cp, buf + n);
            if (p < sizeof(partners) / sizeof(partners[0]))
                n += utf8proc_encode_char(partners[p], buf + n);
            buf[n] = 0;
            fast = cb_text_nfc((const char *)buf, (size_t)n, 1024, &err);
            ref = reference_nfc((const char *)buf);
            assert_non_null(fast);
            if (strcmp(fast, ref) != 0 || strcmp(fast, (const char *)buf) != 0)
                fail_msg("U+%04X (partner %zu) is not its own NFC", (unsigned)cp, p);
            free(fast);
            free(ref);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nfd_to_nfc),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_nfc_fast_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
