/*
 * test_json.c: the bounded JSON reader. Every text of the table goes through
 * both cb_json_parse() and jansson (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES),
 * which must agree on accepting it; then the accessors, the escapes and the
 * limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "certbridge/json.h"

static const char *const texts[] = {
    /* accepted */
    "{}", "[]", "0", "-0", "1.5", "-12.5e-3", "1E+2", "true", "false", "null", "\"\"",
    " \t\r\n{ \"a\" : [ 1 , 2 , { } ] } \n", "9223372036854775807", "-9223372036854775808",
    "1e-400", "\"\\u00e9\\uD83D\\uDE00\\n\\t\\\"\\\\\\/\\b\\f\\r\"", "\"Nguy\xe1\xbb\x85n\"",
    "{\"a\":1,\"b\":{\"a\":2}}", "[[[[[[]]]]]]", "{\"\\u0061\":1,\"b\":2}",
    /* refused */
    "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "-", "1e",
    "+1", "tru", "nul", "[1 2]", "{} {}", "\"abc", "\"a\x01\"", "\"\\x\"", "\"\\u12\"",
    "\"\\u0000\"", "\"\\uDE00\"", "\"\\uD83D\"", "\"\\uD83Dx\"", "\"\\uD83D\\u0041\"",
    "\"\xc3\x28\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"",
    "9223372036854775808", "-9223372036854775809", "1e400", "{\"a\":1,\"a\":2}",
    "{\"a\":1,\"\\u0061\":2}", "[1]x", "\xef\xbb\xbf{}", "NaN", "Infinity", "'a'"};

static void test_agrees_with_jansson(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        cb_json_t j;
        cb_error_t err;
        json_error_t jerr;
        json_t *ref =
            json_loadb(texts[i], strlen(texts[i]), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        int rc = cb_json_parse(&j, texts[i], strlen(texts[i]), &err);

        if ((rc == 0) != (ref != NULL))
            fail_msg("text %zu (%s): cb_json %s, jansson %s (%s)", i, texts[i],
                     rc == 0 ? "accepts" : err.msg, ref ? "accepts" : "refuses", jerr.text);
        if (rc == 0)
            cb_json_free(&j);
        else
            assert_true(err.code == CB_ERR_DECODE);
        json_decref(ref);
    }
}

static void test_accessors(void **state)
{
    static const char text[] = "{\"s\":\"x\\u00e9y\",\"n\":-42,\"r\":0.5,\"t\":true,\"z\":null,"
                               "\"a\":[{\"k\":1},[2,3],\"e\"],\"o\":{\"s\":\"inner\"}}";
    cb_json_t j;
    cb_error_t err;
    const char *raw;
    size_t len;
    char *s;
    int a, o;

    (void)state;
    assert_int_equal(cb_json_parse(&j, text, strlen(text), &err), 0);
    assert_int_equal(cb_json_type(&j, 0), CB_JSON_OBJECT);
    assert_int_equal(j.tok[0].count, 7);
    assert_int_equal(cb_json_type(&j, cb_json_get(&j, 0, "s")), CB_JSON_STRING);
    s = cb_json_strdup(&j, cb_json_get(&j, 0, "s"), &len);
    assert_string_equal(s, "x\xc3\xa9y");
    assert_int_equal(len, 4);
    free(s);
    assert_false(cb_json_raw(&j, cb_json_get(&j, 0, "s"), &raw, &len));
    assert_true(cb_json_str_eq(&j, cb_json_get(&j, 0, "s"), "x\xc3\xa9y"));
    assert_int_equal(cb_json_integer(&j, cb_json_get(&j, 0, "n")), -42);
    assert_string_equal(cb_json_type_name(&j, cb_json_get(&j, 0, "r")), "real");
    assert_string_equal(cb_json_type_name(&j, cb_json_get(&j, 0, "t")), "boolean");
    assert_int_equal(cb_json_get(&j, 0, "missing"), -1);
    assert_true(cb_json_is_null(&j, cb_json_get(&j, 0, "z")));
    assert_true(cb_json_is_null(&j, -1));
    a = cb_json_get(&j, 0, "a");
    assert_int_equal(j.tok[a].count, 3);
    assert_int_equal(cb_json_integer(&j, cb_json_get(&j, cb_json_at(&j, a, 0), "k")), 1);
    assert_int_equal(cb_json_integer(&j, cb_json_at(&j, cb_json_at(&j, a, 1), 1)), 3);
    assert_true(cb_json_raw(&j, cb_json_at(&j, a, 2), &raw, &len));
    assert_int_equal(len, 1);
    assert_int_equal(cb_json_at(&j, a, 3), -1);
    assert_int_equal(cb_json_at(&j, 0, 0), -1); /* not an array */
    /* "s" inside "o" is not the top-level "s" */
    o = cb_json_get(&j, 0, "o");
    assert_true(cb_json_str_eq(&j, cb_json_get(&j, o, "s"), "inner"));
    assert_int_equal(cb_json_get(&j, cb_json_get(&j, 0, "n"), "s"), -1);
    cb_json_free(&j);
}

static void test_errors_name_the_byte(void **state)
{
    cb_json_t j;
    cb_error_t err;

    (void)state;
    assert_int_equal(cb_json_parse(&j, "{\"event_id\":", 12, &err), -1);
    assert_string_equal(err.msg, "invalid JSON at byte 12: unexpected end of input");
    assert_int_equal(cb_json_parse(&j, "{\"a\":1,\"a\":2}", 13, &err), -1);
    assert_string_equal(err.msg, "invalid JSON at byte 7: duplicate member name");
    assert_int_equal(cb_json_parse(&j, "[1,\"\\q\"]", 8, &err), -1);
    assert_string_equal(err.msg, "invalid JSON at byte 4: invalid escape");
    /* a NUL byte between tokens (jansson 2.14 skips it; RFC 8259 does not) */
    assert_int_equal(cb_json_parse(&j, "[null\0]", 7, &err), -1);
    assert_string_equal(err.msg, "invalid JSON at byte 5: expected ',' or ']'");
}

/* Many values in the heap array; then the token, depth and member limits. */
static void test_limits(void **state)
{
    size_t n = CB_JSON_TOKENS_MAX + 10, i, len = 0;
    char *big = malloc(n * 2 + 2);
    cb_json_t j;
    cb_error_t err;

    (void)state;
    assert_non_null(big);
    big[len++] = '[';
    for (i = 0; i < CB_JSON_TOKENS_MAX - 1; i++) {
        big[len++] = '0';
        big[len++] = ',';
    }
    big[len - 1] = ']';
    assert_int_equal(cb_json_parse(&j, big, len, &err), 0);
    assert_int_equal(j.n, CB_JSON_TOKENS_MAX);
    assert_int_equal(cb_json_at(&j, 0, CB_JSON_TOKENS_MAX - 2), CB_JSON_TOKENS_MAX - 1);
    cb_json_free(&j);
    big[len - 1] = ',';
    big[len++] = '0';
    big[len++] = ']';
    assert_int_equal(cb_json_parse(&j, big, len, &err), -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);

    len = 0;
    for (i = 0; i < CB_JSON_DEPTH_MAX; i++)
        big[len++] = '[';
    for (i = 0; i < CB_JSON_DEPTH_MAX; i++)
        big[len++] = ']';
    assert_int_equal(cb_json_parse(&j, big, len, &err), 0);
    cb_json_free(&j);
    memmove(big + 1, big, len);
    big[0] = '[';
    big[++len] = ']';
    len++;
    assert_int_equal(cb_json_parse(&j, big, len, &err), -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);
    free(big);

    big = malloc(16 * (CB_JSON_MEMBERS_MAX + 1) + 2);
    assert_non_null(big);
    len = 0;
    big[len++] = '{';
    for (i = 0; i <= CB_JSON_MEMBERS_MAX; i++)
        len += (size_t)sprintf(big + len, "\"k%zu\":0,", i);
    big[len - 1] = '}';
    assert_int_equal(cb_json_parse(&j, big, len, &err), -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agrees_with_jansson),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_errors_name_the_byte),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
