/* test_error.c: cb_error_t filling, prefixing, truncation and names. */
#include "cb_test.h"

#include <string.h>

#include "certbridge/error.h"

static void test_set_and_prefix(void **state)
{
    cb_error_t err;

    (void)state;
    cb_error_clear(&err);
    assert_int_equal(err.code, CB_OK);
    assert_int_equal(cb_error_set(&err, CB_ERR_INVALID, "bad %s", "thing"), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_int_equal(err.klass, CB_ERRCLASS_PERMANENT);
    assert_string_equal(err.msg, "bad thing");
    cb_error_prefix(&err, "%s:%d", "f.conf", 7);
    assert_string_equal(err.msg, "f.conf:7: bad thing");
    assert_int_equal(err.code, CB_ERR_INVALID);
    cb_error_setc(&err, CB_ERR_TRANSPORT, CB_ERRCLASS_RETRIABLE, "timeout");
    assert_int_equal(err.klass, CB_ERRCLASS_RETRIABLE);
    assert_string_equal(cb_errclass_name(err.klass), "retriable");
    assert_string_equal(cb_errcode_name(CB_ERR_DECODE), "decode");
    assert_int_equal(cb_error_set(NULL, CB_ERR_IO, "ignored"), -1);
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
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
