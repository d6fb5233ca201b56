/* test_vocab.c: the symbols of the domain's enums (vocab.h) round-trip and
 * match the schemas' spelling. */
#include "cb_test.h"

#include <string.h>

#include "certbridge/vocab.h"

static void test_names(void **state)
{
    int a;

    (void)state;
    for (a = 0; a < CB_ACTION_COUNT; a++)
        assert_int_equal(cb_action_parse(cb_action_name(a)), a);
    assert_string_equal(cb_action_name(CB_ACTION_CHANGE_INFO), "CHANGE_INFO");
    assert_string_equal(cb_action_name(CB_ACTION_RECALL_DEVICE), "RECALL_DEVICE");
    assert_null(cb_action_name(CB_ACTION_COUNT));
    assert_int_equal(cb_action_parse("change_info"), -1);
    assert_int_equal(cb_action_parse(NULL), -1);
    assert_string_equal(cb_holder_type_name(CB_HOLDER_ORGANIZATION), "ORGANIZATION");
    assert_string_equal(cb_holder_type_name(CB_HOLDER_PERSON), "PERSON");
    assert_int_equal(cb_holder_type_parse("PERSON"), CB_HOLDER_PERSON);
    assert_int_equal(cb_holder_type_parse("ORG"), -1);
    assert_string_equal(cb_revocation_reason_name(CB_REASON_AFFILIATION_CHANGED),
                        "affiliationChanged");
    assert_string_equal(cb_revocation_reason_name(CB_REASON_SUPERSEDED), "superseded");
    assert_string_equal(cb_revocation_reason_name(CB_REASON_CESSATION_OF_OPERATION),
                        "cessationOfOperation");
    assert_null(cb_revocation_reason_name(CB_REASON_NONE));
    for (a = 0; a < CB_STATUS_COUNT; a++)
        assert_int_equal(cb_outcome_status_parse(cb_outcome_status_name(a)), a);
    assert_string_equal(cb_outcome_status_name(CB_STATUS_NEEDS_REVIEW), "NEEDS_REVIEW");
    assert_null(cb_outcome_status_name(CB_STATUS_COUNT));
    for (a = 0; a < CB_ORG_EVENT_TYPE_COUNT; a++)
        assert_int_equal(cb_org_event_type_parse(cb_org_event_type_name(a)), a);
    for (a = 0; a < CB_PERSON_EVENT_TYPE_COUNT; a++)
        assert_int_equal(cb_person_event_type_parse(cb_person_event_type_name(a)), a);
    for (a = 0; a < CB_DEPARTURE_REASON_COUNT; a++)
        assert_int_equal(cb_departure_reason_parse(cb_departure_reason_name(a)), a);
    assert_string_equal(cb_person_event_type_name(CB_PERSON_CERTIFICATE_NOT_NEEDED),
                        "CERTIFICATE_NOT_NEEDED");
    assert_null(cb_departure_reason_name(CB_DEPARTURE_NONE));
    assert_int_equal(cb_symbol_parse("x", NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
