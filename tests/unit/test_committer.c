/* test_committer.c: what of a dead letter fits into one record of the
 * dead-letter topic (cb_dead_letter_fit, docs/ARCHITECTURE.md §6). */
#include "cb_test.h"

#include "certbridge/committer.h"

/* The bytes a dead letter takes as cb_dead_letter_fit counts them. */
static size_t record_bytes(const cb_dead_letter_fit_t *f, size_t orig_hdr, size_t own_hdr)
{
    return CB_DEAD_LETTER_OVERHEAD + own_hdr + f->key_len + f->value_len +
           (f->keep_headers ? orig_hdr : 0);
}

static void test_fits_whole(void **state)
{
    cb_dead_letter_fit_t f;

    (void)state;
    /* 1000000 - 512 - 1000 = 998488 bytes of room: 8 + 998000 + 480, exactly
     * the limit, fit whole */
    cb_dead_letter_fit(1000000, 8, 998000, 480, 1000, &f);
    assert_int_equal(f.key_len, 8);
    assert_int_equal(f.value_len, 998000);
    assert_true(f.keep_headers);
    assert_int_equal(record_bytes(&f, 480, 1000), 1000000);
    /* one byte more of certbridge's headers: one byte of the value goes */
    cb_dead_letter_fit(1000000, 8, 998000, 480, 1001, &f);
    assert_int_equal(f.key_len, 8);
    assert_int_equal(f.value_len, 997999);
    assert_true(f.keep_headers);
    assert_int_equal(record_bytes(&f, 480, 1001), 1000000);
}

static void test_value_cut(void **state)
{
    cb_dead_letter_fit_t f;

    (void)state;
    /* a value of 1040000 bytes (just under the broker's 1048588) against the
     * producer's 1000000: the value is cut to the room left, to the byte */
    cb_dead_letter_fit(1000000, 6, 1040000, 100, 1500, &f);
    assert_int_equal(f.key_len, 6);
    assert_true(f.keep_headers);
    assert_int_equal(f.value_len, 1000000 - 512 - 1500 - 6 - 100);
    assert_int_equal(record_bytes(&f, 100, 1500), 1000000);
    /* one byte over: one byte cut */
    cb_dead_letter_fit(1000000, 6, 997883, 100, 1500, &f);
    assert_int_equal(f.value_len, 997882);
}

static void test_headers_dropped(void **state)
{
    cb_dead_letter_fit_t f;

    (void)state;
    /* original headers of 600000 bytes: more than half the room left, so
     * they go and the value keeps the room */
    cb_dead_letter_fit(1000000, 10, 900000, 600000, 1500, &f);
    assert_false(f.keep_headers);
    assert_int_equal(f.key_len, 10);
    assert_int_equal(f.value_len, 900000);
    assert_true(record_bytes(&f, 600000, 1500) <= 1000000);
    /* headers of 400000 bytes (under half): kept, the value is cut */
    cb_dead_letter_fit(1000000, 10, 900000, 400000, 1500, &f);
    assert_true(f.keep_headers);
    assert_int_equal(f.value_len, 1000000 - 512 - 1500 - 10 - 400000);
    assert_int_equal(record_bytes(&f, 400000, 1500), 1000000);
}

static void test_key_cut(void **state)
{
    cb_dead_letter_fit_t f;

    (void)state;
    /* a key larger than the whole limit (an input topic that allows more
     * than the dead-letter topic): the key keeps a quarter of the room */
    cb_dead_letter_fit(100000, 200000, 50, 0, 1488, &f);
    assert_int_equal(f.key_len, (100000 - 512 - 1488) / 4);
    assert_int_equal(f.value_len, 50);
    assert_true(record_bytes(&f, 0, 1488) <= 100000);
}

static void test_limit_below_own_headers(void **state)
{
    cb_dead_letter_fit_t f;

    (void)state;
    /* no room at all: nothing of the original is sent, the record is only
     * certbridge's headers (the produce then says what the broker thinks) */
    cb_dead_letter_fit(1000, 5, 700, 30, 900, &f);
    assert_int_equal(f.key_len, 0);
    assert_int_equal(f.value_len, 0);
    assert_false(f.keep_headers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_whole),
        cmocka_unit_test(test_value_cut),
        cmocka_unit_test(test_headers_dropped),
        cmocka_unit_test(test_key_cut),
        cmocka_unit_test(test_limit_below_own_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
