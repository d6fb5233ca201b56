/* test_idempotency.c: the CA's Idempotency-Keys (idempotency.h): known
 * answers, so a change of derivation cannot slip through, and every field
 * of the tuple mattering. */
#include "cb_test.h"

#include <string.h>

#include "certbridge/idempotency.h"

/* SHA-256 of the length-prefixed tuple of test_idempotency_key, computed
 * with Python's hashlib. */
#define IDEM_KNOWN_ANSWER "1e9f5e61c62174a2b62d4cdb25fae77119e2474c0b9a2dae314d39447da27870"

static void test_idempotency_key(void **state)
{
    char k[65], k2[65];
    size_t i;

    (void)state;
    /* Known answer: SHA-256 of the length-prefixed tuple (computed
     * independently); a change here would make replays after an upgrade
     * apply actions twice. */
    cb_idempotency_key("dn-2025-0001", CB_ACTION_REVOKE, CB_HOLDER_ORGANIZATION, "000.21.01.H19",
                       "1A2B", k);
    assert_int_equal(strlen(k), 64);
    for (i = 0; i < 64; i++)
        assert_true((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f'));
    assert_string_equal(k, IDEM_KNOWN_ANSWER);
    cb_idempotency_key("dn-2025-0001", CB_ACTION_REVOKE, CB_HOLDER_ORGANIZATION, "000.21.01.H19",
                       "1A2B", k2);
    assert_string_equal(k, k2);

    /* every field matters */
    {
        static const struct {
            const char *ev;
            cb_action_t a;
            cb_holder_type_t t;
            const char *id, *serial;
        } tuples[] = {
            {"dn-2025-0001", CB_ACTION_REVOKE, CB_HOLDER_ORGANIZATION, "000.21.01.H19", "1A2B"},
            {"dn-2025-0002", CB_ACTION_REVOKE, CB_HOLDER_ORGANIZATION, "000.21.01.H19", "1A2B"},
            {"dn-2025-0001", CB_ACTION_RECALL_DEVICE, CB_HOLDER_ORGANIZATION, "000.21.01.H19",
             "1A2B"},
            {"dn-2025-0001", CB_ACTION_REVOKE, CB_HOLDER_PERSON, "000.21.01.H19", "1A2B"},
            {"dn-2025-0001", CB_ACTION_REVOKE, CB_HOLDER_ORGANIZATION, "000.21.02.H19", "1A2B"},
            {"dn-2025-0001", CB_ACTION_REVOKE, CB_HOLDER_ORGANIZATION, "000.21.01.H19", "1A2C"},
            {"dn-2025-0001", CB_ACTION_REVOKE, CB_HOLDER_ORGANIZATION, "000.21.01.H19", NULL},
            {"dn-2025-0001", CB_ACTION_REVOKE, CB_HOLDER_ORGANIZATION, "000.21.01.H19", ""},
            /* length prefixes: moving a byte between fields changes the key */
            {"ab", CB_ACTION_REVOKE, CB_HOLDER_PERSON, "c", NULL},
            {"a", CB_ACTION_REVOKE, CB_HOLDER_PERSON, "bc", NULL},
            {"a", CB_ACTION_REVOKE, CB_HOLDER_PERSON, "b", "c"},
            {"a", CB_ACTION_REVOKE, CB_HOLDER_PERSON, "bc", ""},
        };
        const size_t n = sizeof(tuples) / sizeof(tuples[0]);
        char keys[sizeof(tuples) / sizeof(tuples[0])][65];
        size_t j;

        for (i = 0; i < n; i++)
            cb_idempotency_key(tuples[i].ev, tuples[i].a, tuples[i].t, tuples[i].id,
                               tuples[i].serial, keys[i]);
        for (i = 0; i < n; i++)
            for (j = i + 1; j < n; j++)
                if (strcmp(keys[i], keys[j]) == 0)
                    fail_msg("tuples %zu and %zu share a key", i, j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idempotency_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
