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

#define B40 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* cb_text_cut_utf8: the input is `pad` ASCII 'a's then `tail`; the output
 * must be the first `kept` input bytes then `marker`, or a copy when marker
 * is NULL. The code point boundary cases put a 2-, 3- or 4-byte sequence
 * across the byte where the cut would fall without them (byte 72 for a
 * 100-byte limit and a 3-digit length: 72 + "… [cut to 72 of 1xx bytes]"). */
static void test_cut_utf8(void **state)
{
    static const struct {
        const char *name;
        size_t pad;
        const char *tail;
        size_t max;
        size_t kept;
        const char *marker;
    } cases[] = {
        {"empty", 0, "", 100, 0, NULL},
        {"short ASCII", 10, "", 100, 0, NULL},
        {"ASCII exactly at the limit", 100, "", 100, 0, NULL},
        {"ASCII one byte over", 101, "", 100, 72, "\xE2\x80\xA6 [cut to 72 of 101 bytes]"},
        {"3-byte sequence ending at the limit", 97, "\xE1\xBB\x93", 100, 0, NULL},
        {"4-byte sequence ending at the limit", 96, "\xF0\x9F\x94\x92", 100, 0, NULL},
        {"2-byte sequence across the cut", 71, "\xC3\xA9" B40, 100, 71,
         "\xE2\x80\xA6 [cut to 71 of 113 bytes]"},
        {"3-byte sequence across the cut", 70, "\xE1\xBB\x93" B40, 100, 70,
         "\xE2\x80\xA6 [cut to 70 of 113 bytes]"},
        {"4-byte sequence across the cut", 69, "\xF0\x9F\x94\x92" B40, 100, 69,
         "\xE2\x80\xA6 [cut to 69 of 113 bytes]"},
        {"4-byte sequence just before the cut", 68, "\xF0\x9F\x94\x92" B40, 100, 72,
         "\xE2\x80\xA6 [cut to 72 of 112 bytes]"},
        {"4-byte sequence across the limit", 98, "\xF0\x9F\x94\x92", 100, 72,
         "\xE2\x80\xA6 [cut to 72 of 102 bytes]"},
        {"invalid byte", 2,
         "\xFF"
         "cd",
         100, 2, "\xE2\x80\xA6 [cut to 2 of 5 bytes: not UTF-8]"},
        {"truncated sequence at the end", 2, "\xC3", 100, 2,
         "\xE2\x80\xA6 [cut to 2 of 3 bytes: not UTF-8]"},
        {"stray continuation byte", 2,
         "\x80"
         "cd",
         100, 2, "\xE2\x80\xA6 [cut to 2 of 5 bytes: not UTF-8]"},
        {"surrogate first", 0, "\xED\xA0\x80x", 100, 0,
         "\xE2\x80\xA6 [cut to 0 of 4 bytes: not UTF-8]"},
        {"invalid byte past the limit", 101, "\xFF", 100, 72,
         "\xE2\x80\xA6 [cut to 72 of 102 bytes]"},
        {"limit of the marker's size", 81, "", CB_TEXT_CUT_MARKER_MAX, 53,
         "\xE2\x80\xA6 [cut to 53 of 81 bytes]"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t tlen = strlen(cases[i].tail);
        char *in = malloc(cases[i].pad + tlen + 1), *out = NULL, *want;
        cb_error_t err;

        assert_non_null(in);
        memset(in, 'a', cases[i].pad);
        memcpy(in + cases[i].pad, cases[i].tail, tlen + 1);
        if (cases[i].marker) {
            size_t mlen = strlen(cases[i].marker);
            want = malloc(cases[i].kept + mlen + 1);
            assert_non_null(want);
            memcpy(want, in, cases[i].kept);
            memcpy(want + cases[i].kept, cases[i].marker, mlen + 1);
        } else {
            want = strdup(in);
        }
        if (cb_text_cut_utf8(in, cases[i].max, &out, &err) != 0)
            fail_msg("%s: %s", cases[i].name, err.msg);
        if (strcmp(out, want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, out, want);
        assert_true(strlen(out) <= cases[i].max);
        assert_true(cb_text_utf8_valid(out, strlen(out)));
        free(in);
        free(out);
        free(want);
    }
}

/* NULL stays NULL (an Avro null); a limit without room for the marker is
 * refused. */
static void test_cut_utf8_null_and_bad_limit(void **state)
{
    cb_error_t err;
    char *out = (char *)&err;

    (void)state;
    assert_int_equal(cb_text_cut_utf8(NULL, 100, &out, &err), 0);
    assert_null(out);
    assert_int_equal(cb_text_cut_utf8("abc", CB_TEXT_CUT_MARKER_MAX - 1, &out, &err), -1);
    assert_null(out);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_string_equal(err.msg, "a limit of 79 bytes leaves no room for the cut marker");
}

/* A 200 KiB Vietnamese text cut at every limit from the marker's size to
 * 300 bytes: always valid UTF-8, within the limit, a prefix of the text plus
 * the marker, and never more than one code point (4 bytes) plus the digits'
 * slack short of the limit. */
static void test_cut_utf8_long_text(void **state)
{
    static const char phrase[] = "\xF0\x9F\x94\x92 Y\xC3\xAAu c\xE1\xBA\xA7u b\xE1\xBB\x8B "
                                 "t\xE1\xBB\xAB ch\xE1\xBB\x91i; ";
    size_t n = 200 * 1024, len = 0, max;
    char *text = malloc(n + 1);

    (void)state;
    assert_non_null(text);
    while (len + sizeof(phrase) - 1 <= n) {
        memcpy(text + len, phrase, sizeof(phrase) - 1);
        len += sizeof(phrase) - 1;
    }
    text[len] = '\0';
    for (max = CB_TEXT_CUT_MARKER_MAX; max <= 300; max++) {
        char *out = NULL, tail[CB_TEXT_CUT_MARKER_MAX + 1];
        const char *ell;
        size_t kept;
        cb_error_t err;

        assert_int_equal(cb_text_cut_utf8(text, max, &out, &err), 0);
        assert_true(strlen(out) <= max);
        assert_true(cb_text_utf8_valid(out, strlen(out)));
        ell = strstr(out, "\xE2\x80\xA6 [cut to ");
        assert_non_null(ell);
        kept = (size_t)(ell - out);
        snprintf(tail, sizeof(tail), "\xE2\x80\xA6 [cut to %zu of %zu bytes]", kept, len);
        assert_string_equal(ell, tail);
        assert_memory_equal(out, text, kept);
        assert_true(kept + strlen(tail) + 4 >= max);
        free(out);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nfd_to_nfc),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_nfc_fast_path),
        cmocka_unit_test(test_cut_utf8),
        cmocka_unit_test(test_cut_utf8_null_and_bad_limit),
        cmocka_unit_test(test_cut_utf8_long_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
