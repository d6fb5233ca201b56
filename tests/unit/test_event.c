/* test_event.c: semantic validation of events, one case per rule. */
#include "cb_test.h"

#include <stdlib.h>
#include <string.h>

#include "certbridge/event.h"

static void fill_org(cb_org_t *o, const char *code, const char *name)
{
    o->code = strdup(code);
    o->name = strdup(name);
    o->province = strdup("Tỉnh Đồng Nai");
}

static void make_merged(cb_event_t *ev)
{
    cb_event_init(ev);
    ev->kind = CB_EVENT_ORG;
    ev->type = CB_ORG_MERGED;
    ev->event_id = strdup("evt-1");
    ev->source_system = strdup("hrm");
    fill_org(&ev->org, "000.00.00.H19", "Sở Nông nghiệp và Môi trường");
    ev->merged_orgs = calloc(2, sizeof(cb_org_t));
    ev->merged_count = 2;
    fill_org(&ev->merged_orgs[0], "000.01.00.H19", "Sở Nông nghiệp");
    fill_org(&ev->merged_orgs[1], "000.02.00.H19", "Sở Tài nguyên và Môi trường");
}

static void make_person(cb_event_t *ev)
{
    cb_event_init(ev);
    ev->kind = CB_EVENT_PERSON;
    ev->type = CB_PERSON_DEPARTED;
    ev->event_id = strdup("evt-2");
    ev->source_system = strdup("hrm");
    fill_org(&ev->org, "000.00.00.H19", "UBND tỉnh");
    ev->person.person_id = strdup("P1");
    ev->person.national_id = strdup("075123456789");
    ev->person.full_name = strdup("Nguyễn Văn An");
    ev->departure_reason = CB_DEPARTURE_RETIRED;
}

static void test_valid(void **state)
{
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    make_merged(&ev);
    assert_int_equal(cb_event_validate(&ev, &err), 0);
    cb_event_clear(&ev);
    make_person(&ev);
    assert_int_equal(cb_event_validate(&ev, &err), 0);
    cb_event_clear(&ev);
    assert_null(ev.event_id); /* clear re-initializes */
}

static void expect_invalid(cb_event_t *ev, const char *msg)
{
    cb_error_t err;

    assert_int_equal(cb_event_validate(ev, &err), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_string_equal(err.msg, msg);
    cb_event_clear(ev);
}

static void test_invalid(void **state)
{
    cb_event_t ev;

    (void)state;
    make_merged(&ev);
    free(ev.org.code);
    ev.org.code = strdup("000.00.00.h19");
    expect_invalid(&ev, "org.code: \"000.00.00.h19\" is not an electronic identification code "
                        "([0-9A-Z.]{1,35}, dot-separated groups)");

    make_merged(&ev);
    free(ev.merged_orgs[1].name);
    ev.merged_orgs[1].name = NULL;
    expect_invalid(&ev, "merged_orgs[1].name: required field is missing or empty");

    make_merged(&ev);
    cb_org_clear(&ev.merged_orgs[0]);
    cb_org_clear(&ev.merged_orgs[1]);
    free(ev.merged_orgs);
    ev.merged_orgs = NULL;
    ev.merged_count = 0;
    expect_invalid(&ev, "merged_orgs: a MERGED event needs at least one merged organization");

    make_merged(&ev);
    ev.certificate_carrier = strdup("999.99.99.H19");
    expect_invalid(&ev, "certificate_carrier: \"999.99.99.H19\" is not one of merged_orgs");

    make_person(&ev);
    free(ev.person.national_id);
    ev.person.national_id = strdup("07512345678");
    expect_invalid(&ev, "person.national_id: not 12 digits");

    make_person(&ev);
    free(ev.event_id);
    ev.event_id = NULL;
    expect_invalid(&ev, "event_id: required field is missing or empty");

    /* mergers that are not mergers */
    make_merged(&ev);
    free(ev.merged_orgs[1].code);
    ev.merged_orgs[1].code = strdup("000.01.00.H19");
    expect_invalid(&ev, "merged_orgs[1].code: \"000.01.00.H19\" is listed twice");
    make_merged(&ev);
    ev.result_is_new = true;
    free(ev.merged_orgs[1].code);
    ev.merged_orgs[1].code = strdup("000.00.00.H19");
    expect_invalid(&ev, "merged_orgs[1].code: \"000.00.00.H19\" is the new organization itself "
                        "(result_is_new=true)");
    make_merged(&ev);
    cb_org_clear(&ev.merged_orgs[1]);
    ev.merged_count = 1;
    free(ev.merged_orgs[0].code);
    ev.merged_orgs[0].code = strdup("000.00.00.H19");
    expect_invalid(&ev, "merged_orgs: the organization \"000.00.00.H19\" is merged into itself "
                        "and nothing else");

    /* dates a calendar cannot write */
    make_person(&ev);
    ev.effective_date = 2932897; /* 10000-01-01 */
    expect_invalid(&ev, "effective_date: 2932897 days from 1970-01-01 is outside 0001-01-01 to "
                        "9999-12-31");
    make_person(&ev);
    ev.occurred_at_ms = INT64_MIN;
    expect_invalid(&ev, "occurred_at: -9223372036854775808 ms from the epoch is outside "
                        "0001-01-01 to 9999-12-31");

    make_person(&ev);
    ev.type = CB_PERSON_TRANSFERRED;
    expect_invalid(&ev, "departure_reason: only DEPARTED events carry it");
}

/* A CANCELLED event names the event it cancels in org.address: required,
 * not its own id; the other rules still hold. */
static void test_cancelled(void **state)
{
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    make_person(&ev);
    ev.type = CB_PERSON_CANCELLED;
    ev.departure_reason = CB_DEPARTURE_NONE;
    ev.org.address = strdup("evt-1");
    assert_int_equal(cb_event_validate(&ev, &err), 0);
    assert_true(cb_event_is_cancellation(&ev));
    assert_string_equal(cb_event_cancels(&ev), "evt-1");
    assert_string_equal(cb_event_type_name(&ev), "CANCELLED");
    cb_event_clear(&ev);

    make_person(&ev);
    ev.type = CB_PERSON_CANCELLED;
    ev.departure_reason = CB_DEPARTURE_NONE;
    expect_invalid(&ev, "org.address: a CANCELLED event carries the event_id of the event it "
                        "cancels there");
    make_person(&ev);
    ev.type = CB_PERSON_CANCELLED;
    ev.departure_reason = CB_DEPARTURE_NONE;
    ev.org.address = strdup("");
    expect_invalid(&ev, "org.address: a CANCELLED event carries the event_id of the event it "
                        "cancels there");
    make_person(&ev);
    ev.type = CB_PERSON_CANCELLED;
    ev.departure_reason = CB_DEPARTURE_NONE;
    ev.org.address = strdup("evt-2");
    expect_invalid(&ev, "org.address: a CANCELLED event cannot cancel itself (\"evt-2\")");
    make_person(&ev); /* departure_reason stays DEPARTED's */
    ev.type = CB_PERSON_CANCELLED;
    ev.org.address = strdup("evt-1");
    expect_invalid(&ev, "departure_reason: only DEPARTED events carry it");

    make_merged(&ev);
    ev.type = CB_ORG_CANCELLED;
    ev.org.address = strdup("evt-0");
    expect_invalid(&ev, "merged_orgs: only MERGED events carry them");
    make_merged(&ev);
    for (size_t i = 0; i < ev.merged_count; i++)
        cb_org_clear(&ev.merged_orgs[i]);
    free(ev.merged_orgs);
    ev.merged_orgs = NULL;
    ev.merged_count = 0;
    ev.type = CB_ORG_CANCELLED;
    expect_invalid(&ev, "org.address: a CANCELLED event carries the event_id of the event it "
                        "cancels there");
    make_merged(&ev);
    for (size_t i = 0; i < ev.merged_count; i++)
        cb_org_clear(&ev.merged_orgs[i]);
    free(ev.merged_orgs);
    ev.merged_orgs = NULL;
    ev.merged_count = 0;
    ev.type = CB_ORG_CANCELLED;
    ev.org.address = strdup("evt-0");
    assert_int_equal(cb_event_validate(&ev, &err), 0);
    assert_string_equal(cb_event_cancels(&ev), "evt-0");
    ev.type = CB_ORG_DISSOLVED; /* the address of any other event is an address */
    assert_false(cb_event_is_cancellation(&ev));
    assert_null(cb_event_cancels(&ev));
    cb_event_clear(&ev);
}

/* The edges that are still valid: an existing organization listed among
 * those merged into it (R2), the first and last days of the calendar. */
static void test_valid_edges(void **state)
{
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    make_merged(&ev);
    free(ev.merged_orgs[1].code);
    ev.merged_orgs[1].code = strdup("000.00.00.H19");
    assert_int_equal(cb_event_validate(&ev, &err), 0);
    cb_event_clear(&ev);
    make_person(&ev);
    ev.effective_date = CB_DATE_MIN_DAYS;
    ev.occurred_at_ms = (int64_t)(CB_DATE_MAX_DAYS + 1) * 86400000 - 1;
    assert_int_equal(cb_event_validate(&ev, &err), 0);
    cb_event_clear(&ev);
}

static void test_codes_and_names(void **state)
{
    static const struct {
        const char *code;
        bool ok;
    } codes[] = {
        {"000.00.00.H19", true},
        {"H19", true},
        {"A", true},
        {"", false},
        {".H19", false},
        {"H19.", false},
        {"000..H19", false},
        {"000.00.00.h19", false},
        {"000-00", false},
        {"123456789012345678901234567890123456", false}, /* 36 chars */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        assert_int_equal(cb_org_code_valid(codes[i].code), codes[i].ok);
    assert_true(cb_national_id_valid("000000000000"));
    assert_false(cb_national_id_valid("00000000000a"));
    assert_string_equal(cb_org_event_type_name(CB_ORG_PARENT_CHANGED), "PARENT_CHANGED");
    assert_int_equal(cb_person_event_type_parse("CERTIFICATE_NOT_NEEDED"),
                     CB_PERSON_CERTIFICATE_NOT_NEEDED);
    assert_int_equal(cb_person_event_type_parse("FIRED"), -1);
    assert_int_equal(cb_departure_reason_parse("DECEASED"), CB_DEPARTURE_DECEASED);
    assert_null(cb_departure_reason_name(CB_DEPARTURE_NONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),           cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_valid_edges),     cmocka_unit_test(test_cancelled),
        cmocka_unit_test(test_codes_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
