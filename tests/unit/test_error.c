/* test_error.c: cb_error_t filling, prefixing, truncation, flags and names. */
#include "cb_test.h"

#include <string.h>

#include "certbridge/error.h"

static void test_set_and_prefix(void **state)
{
    cb_error_t err;

    (void)state;
    cb_error_clear(&err);
    assert_int_equal(err.code, CB_OK);
    assert_int_equal(err.flags, 0u);
    assert_string_equal(err.msg, "");
    assert_int_equal(cb_error_set(&err, CB_ERR_INVALID, "bad %s", "thing"), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_int_equal(err.flags, 0u);
    assert_string_equal(err.msg, "bad thing");
    cb_error_prefix(&err, "%s:%d", "f.conf", 7);
    assert_string_equal(err.msg, "f.conf:7: bad thing");
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_int_equal(cb_error_set(NULL, CB_ERR_IO, "ignored"), -1);
    assert_int_equal(cb_error_setf(NULL, CB_ERR_IO, CB_ERRF_FATAL, "ignored"), -1);
}

/* Every combination of flags: what cb_error_setf stores, what each
 * predicate answers, and that cb_error_prefix and cb_error_set keep or
 * reset them. */
static void test_flags(void **state)
{
    static const struct {
        unsigned flags;
        bool retriable, abortable, fatal;
    } cases[] = {
        {0, false, false, false},
        {CB_ERRF_RETRIABLE, true, false, false},
        {CB_ERRF_ABORTABLE, false, true, false},
        {CB_ERRF_FATAL, false, false, true},
        {CB_ERRF_RETRIABLE | CB_ERRF_ABORTABLE, true, true, false},
        {CB_ERRF_ABORTABLE | CB_ERRF_FATAL, false, true, true},
        {CB_ERRF_RETRIABLE | CB_ERRF_FATAL, true, false, true},
        {CB_ERRF_RETRIABLE | CB_ERRF_ABORTABLE | CB_ERRF_FATAL, true, true, true},
    };
    cb_error_t err;
    size_t i;

    (void)state;
    /* the flags are distinct bits */
    assert_int_equal(CB_ERRF_RETRIABLE & CB_ERRF_ABORTABLE, 0u);
    assert_int_equal(CB_ERRF_RETRIABLE & CB_ERRF_FATAL, 0u);
    assert_int_equal(CB_ERRF_ABORTABLE & CB_ERRF_FATAL, 0u);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(cb_error_setf(&err, CB_ERR_KAFKA, cases[i].flags, "case %zu", i), -1);
        assert_int_equal(err.code, CB_ERR_KAFKA);
        assert_int_equal(err.flags, cases[i].flags);
        assert_int_equal(cb_error_is_retriable(&err), cases[i].retriable);
        assert_int_equal(cb_error_is_abortable(&err), cases[i].abortable);
        assert_int_equal(cb_error_is_fatal(&err), cases[i].fatal);
        cb_error_prefix(&err, "commit");
        assert_int_equal(err.flags, cases[i].flags);
        assert_int_equal(err.code, CB_ERR_KAFKA);
        cb_error_set(&err, CB_ERR_IO, "permanent again");
        assert_int_equal(err.flags, 0u);
        assert_false(cb_error_is_retriable(&err) || cb_error_is_abortable(&err) ||
                     cb_error_is_fatal(&err));
        cb_error_setf(&err, CB_ERR_KAFKA, cases[i].flags, "again");
        cb_error_clear(&err);
        assert_int_equal(err.flags, 0u);
    }
    assert_false(cb_error_is_retriable(NULL));
    assert_false(cb_error_is_abortable(NULL));
    assert_false(cb_error_is_fatal(NULL));
}

/* The code names are a contract (dead-letter header certbridge.error.class). */
static void test_code_names(void **state)
{
    static const struct {
        cb_errcode_t code;
        const char *name;
    } names[] = {
        {CB_OK, "ok"},
        {CB_ERR_INVALID, "invalid"},
        {CB_ERR_CONFIG, "config"},
        {CB_ERR_NOMEM, "nomem"},
        {CB_ERR_IO, "io"},
        {CB_ERR_LIMIT, "limit"},
        {CB_ERR_DECODE, "decode"},
        {CB_ERR_TRANSPORT, "transport"},
        {CB_ERR_CA, "ca"},
        {CB_ERR_KAFKA, "kafka"},
        {CB_ERR_NOTFOUND, "notfound"},
        {CB_ERR_INTERNAL, "internal"},
        {(cb_errcode_t)(CB_ERR_INTERNAL + 1), "unknown"},
        {(cb_errcode_t)-1, "unknown"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_string_equal(cb_errcode_name(names[i].code), names[i].name);
}

static void test_truncation(void **state)
{
    char big[CB_ERRMSG_MAX * 2];
    cb_error_t err;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cb_error_set(&err, CB_ERR_LIMIT, "%s", big);
    assert_int_equal(strlen(err.msg), CB_ERRMSG_MAX - 1);
    cb_error_prefix(&err, "p");
    assert_int_equal(strlen(err.msg), CB_ERRMSG_MAX - 1);
    assert_memory_equal(err.msg, "p: xx", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_prefix),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_code_names),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
