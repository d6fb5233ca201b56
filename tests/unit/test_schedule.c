/* test_schedule.c: effective dates (effective.h, schedule.h): zone names and
 * offsets, the start of a date in a zone across the date boundary, whether
 * an event waits, and the SCHEDULED outcomes. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/config.h"
#include "certbridge/effective.h"
#include "certbridge/cancel.h"
#include "certbridge/schedule.h"

#define D_2025_07_01      20270 /* days from 1970-01-01 */
#define MS_2025_07_01_UTC 1751328000000LL

static void test_tz_parse(void **state)
{
    static const struct {
        const char *zone;
        int rc, offset;
    } cases[] = {
        {"Asia/Ho_Chi_Minh", 0, 420},
        {"Asia/Saigon", 0, 420},
        {"UTC", 0, 0},
        {"UTC+07:00", 0, 420},
        {"+07:00", 0, 420},
        {"-03:30", 0, -210},
        {"UTC-12", 0, -720},
        {"+14:00", 0, 840},
        {"+14:01", -1, 0},
        {"Europe/Paris", -1, 0},
        {"+7", -1, 0},
        {"07:00", -1, 0},
        {"", -1, 0},
        {"UTC+07:60", -1, 0},
    };
    cb_error_t err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int off = 12345;
        assert_int_equal(cb_effective_tz_parse(cases[i].zone, &off, &err), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(off, cases[i].offset);
        else
            assert_int_equal(err.code, CB_ERR_CONFIG);
    }
    assert_int_equal(cb_effective_tz_parse(NULL, &(int){0}, &err), -1);
}

/* 00:00 on 1 July 2025 in Hanoi is 17:00 UTC on 30 June. */
static void test_start_and_format(void **state)
{
    char buf[CB_EFFECTIVE_TEXT_MAX];

    (void)state;
    assert_int_equal(cb_effective_start_ms(D_2025_07_01, 0), MS_2025_07_01_UTC);
    assert_int_equal(cb_effective_start_ms(D_2025_07_01, 420), MS_2025_07_01_UTC - 7 * 3600000);
    assert_int_equal(cb_effective_start_ms(D_2025_07_01, -210), MS_2025_07_01_UTC + 210 * 60000);
    assert_int_equal(cb_effective_start_ms(0, 0), 0);
    assert_int_equal(cb_effective_start_ms(-1, 420), -86400000LL - 420 * 60000);
    assert_string_equal(cb_effective_format(MS_2025_07_01_UTC - 7 * 3600000, 420, buf, sizeof(buf)),
                        "2025-07-01 00:00 +07:00");
    /* the same instant seen from UTC is still 30 June */
    assert_string_equal(cb_effective_format(MS_2025_07_01_UTC - 7 * 3600000, 0, buf, sizeof(buf)),
                        "2025-06-30 17:00 +00:00");
    assert_string_equal(cb_effective_format(MS_2025_07_01_UTC - 1, -210, buf, sizeof(buf)),
                        "2025-06-30 20:29 -03:30");
    assert_string_equal(cb_effective_format(-1, 0, buf, sizeof(buf)), "1969-12-31 23:59 +00:00");
    assert_string_equal(cb_effective_format(951782400000LL, 0, buf, sizeof(buf)),
                        "2000-02-29 00:00 +00:00");
}

static void test_policy_and_due(void **state)
{
    cb_config_t *cfg = cb_config_new();
    cb_schedule_policy_t pol;
    cb_event_t ev;
    cb_error_t err;
    int64_t start = MS_2025_07_01_UTC - 7 * 3600000;

    (void)state;
    assert_int_equal(cb_schedule_policy_from_config(cfg, &pol, &err), 0);
    assert_false(pol.ignore);
    assert_int_equal(pol.tz_offset_min, 420);
    cb_event_init(&ev);
    ev.effective_date = D_2025_07_01;
    assert_int_equal(cb_schedule_start_ms(&ev, &pol), start);
    /* the last millisecond of 30 June in Hanoi waits; 00:00 runs */
    assert_int_equal(cb_schedule_due(&ev, &pol, start - 1), start);
    assert_int_equal(cb_schedule_due(&ev, &pol, start), 0);
    assert_int_equal(cb_schedule_due(&ev, &pol, start + 86400000), 0);
    /* 18:00 UTC on 30 June is already 1 July in Hanoi, not in UTC */
    assert_int_equal(cb_schedule_due(&ev, &pol, start + 3600000), 0);
    assert_int_equal(cb_config_set(cfg, "policy.timezone", "UTC", &err), 0);
    assert_int_equal(cb_schedule_policy_from_config(cfg, &pol, &err), 0);
    assert_int_equal(cb_schedule_due(&ev, &pol, start + 3600000), MS_2025_07_01_UTC);
    assert_int_equal(cb_config_set(cfg, "policy.effective_date", "ignore", &err), 0);
    assert_int_equal(cb_schedule_policy_from_config(cfg, &pol, &err), 0);
    assert_true(pol.ignore);
    assert_int_equal(cb_schedule_due(&ev, &pol, 0), 0);
    assert_int_equal(cb_config_set(cfg, "policy.timezone", "Europe/Paris", &err), 0);
    assert_int_equal(cb_schedule_policy_from_config(cfg, &pol, &err), -1);
    assert_non_null(strstr(err.msg, "policy.timezone"));
    assert_int_equal(cb_config_set(cfg, "policy.effective_date", "later", &err), -1);
    cb_config_destroy(cfg);
}

static void test_outcomes(void **state)
{
    cb_intent_t items[2];
    cb_intent_list_t in = {items, 2};
    cb_schedule_src_t src = {"hr.person-events", 3, 42};
    cb_event_t ev;
    cb_outcome_t *o;
    size_t n, i;
    cb_error_t err;
    int64_t due = MS_2025_07_01_UTC - 7 * 3600000;

    (void)state;
    cb_event_init(&ev);
    ev.kind = CB_EVENT_PERSON;
    ev.type = CB_PERSON_DEPARTED;
    ev.event_id = "evt-9";
    memset(items, 0, sizeof(items));
    items[0].action = CB_ACTION_REVOKE;
    items[0].holder_type = CB_HOLDER_PERSON;
    items[0].holder_id = "hr-9";
    items[0].holder_name = "Trần Thị Bình";
    items[0].reason = CB_REASON_AFFILIATION_CHANGED;
    items[0].note = "";
    items[1] = items[0];
    items[1].action = CB_ACTION_RECALL_DEVICE;
    items[1].reason = CB_REASON_NONE;
    assert_int_equal(
        cb_schedule_outcomes(&ev, &in, &src, due, 420, false, 1750000000000, &o, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(o[0].outcome_id, "evt-9/scheduled/0");
    assert_string_equal(o[1].outcome_id, "evt-9/scheduled/1");
    assert_int_equal(o[1].action, CB_ACTION_RECALL_DEVICE);
    assert_int_equal(o[0].status, CB_STATUS_SCHEDULED);
    assert_false(o[0].final);
    assert_int_equal(o[0].action_count, 2);
    assert_int_equal(o[0].revocation_reason, CB_REASON_AFFILIATION_CHANGED);
    assert_string_equal(o[0].source_event_type, "DEPARTED");
    assert_string_equal(o[0].source_topic, "hr.person-events");
    assert_int_equal(o[0].source_offset, 42);
    assert_string_equal(o[0].holder_id, "hr-9");
    assert_string_equal(o[0].holder_name, "Trần Thị Bình");
    assert_null(o[0].certificate_serial);
    assert_non_null(strstr(o[0].note, "runs at 2025-07-01 00:00 +07:00"));
    for (i = 0; i < n; i++)
        cb_outcome_clear(&o[i]);
    free(o);
    assert_int_equal(cb_schedule_outcomes(&ev, &in, &src, due, 420, true, 1, &o, &n, &err), 0);
    assert_true(o[0].final);
    assert_int_equal(o[0].status, CB_STATUS_SCHEDULED);
    assert_non_null(strstr(o[0].note, "outcomes are evt-9/0"));
    for (i = 0; i < n; i++)
        cb_outcome_clear(&o[i]);
    free(o);
    in.count = 0;
    assert_int_equal(cb_schedule_outcomes(&ev, &in, &src, due, 420, false, 1, &o, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(o);
}

/* cancel.h: a cancelled scheduled event's outcomes reuse its SCHEDULED
 * ids, one queued behind an open request gets /cancelled/ ids; both
 * CANCELLED and final. The cancellation's own outcome says what it did. */
static void test_cancel_outcomes(void **state)
{
    cb_intent_t items[2];
    cb_intent_list_t in = {items, 2};
    cb_schedule_src_t src = {"hr.person-events", 3, 42}, by_src = {"hr.person-events", 3, 50};
    cb_event_t ev, by;
    cb_outcome_t *o, own;
    size_t n, i;
    cb_error_t err;

    (void)state;
    cb_event_init(&ev);
    ev.kind = CB_EVENT_PERSON;
    ev.type = CB_PERSON_DEPARTED;
    ev.event_id = "evt-9";
    cb_event_init(&by);
    by.kind = CB_EVENT_PERSON;
    by.type = CB_PERSON_CANCELLED;
    by.event_id = "evt-10";
    by.org.address = "evt-9";
    by.person.person_id = "hr-9";
    by.person.full_name = "Trần Thị Bình";
    memset(items, 0, sizeof(items));
    items[0].action = CB_ACTION_REVOKE;
    items[0].holder_type = CB_HOLDER_PERSON;
    items[0].holder_id = "hr-9";
    items[0].reason = CB_REASON_AFFILIATION_CHANGED;
    items[0].note = "";
    items[1] = items[0];
    items[1].action = CB_ACTION_RECALL_DEVICE;
    items[1].reason = CB_REASON_NONE;
    assert_int_equal(cb_cancel_outcomes(&ev, &in, &src, true, &by, 7, &o, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(o[0].outcome_id, "evt-9/scheduled/0");
    assert_string_equal(o[1].outcome_id, "evt-9/scheduled/1");
    assert_int_equal(o[0].status, CB_STATUS_CANCELLED);
    assert_true(o[0].final);
    assert_int_equal(o[0].action, CB_ACTION_REVOKE);
    assert_int_equal(o[1].action, CB_ACTION_RECALL_DEVICE);
    assert_int_equal(o[0].action_count, 2);
    assert_string_equal(o[0].source_event_id, "evt-9");
    assert_int_equal(o[0].source_offset, 42);
    assert_int_equal(o[0].processed_at_ms, 7);
    assert_non_null(strstr(o[0].note, "Cancelled by event evt-10"));
    for (i = 0; i < n; i++)
        cb_outcome_clear(&o[i]);
    free(o);
    assert_int_equal(cb_cancel_outcomes(&ev, &in, &src, false, &by, 7, &o, &n, &err), 0);
    assert_string_equal(o[1].outcome_id, "evt-9/cancelled/1");
    for (i = 0; i < n; i++)
        cb_outcome_clear(&o[i]);
    free(o);

    assert_int_equal(cb_cancel_own_outcome(&by, &by_src, CB_CANCEL_DONE, 1, 2, 7, &own, &err), 0);
    assert_string_equal(own.outcome_id, "evt-10/0");
    assert_int_equal(own.status, CB_STATUS_SUCCEEDED);
    assert_true(own.final);
    assert_int_equal(own.action, CB_ACTION_REVIEW);
    assert_int_equal(own.holder_type, CB_HOLDER_PERSON);
    assert_string_equal(own.holder_id, "hr-9");
    assert_string_equal(own.source_event_type, "CANCELLED");
    assert_int_equal(own.source_offset, 50);
    assert_non_null(strstr(own.note, "Cancelled event evt-9: 2 action(s)"));
    cb_outcome_clear(&own);
    assert_int_equal(cb_cancel_own_outcome(&by, &by_src, CB_CANCEL_SENT, 0, 0, 7, &own, &err), 0);
    assert_int_equal(own.status, CB_STATUS_NEEDS_REVIEW);
    assert_non_null(strstr(own.note, "not cancellable: event evt-9 was already sent to the CA; "
                                     "ask the CA to restore or reissue the certificate"));
    cb_outcome_clear(&own);
    assert_int_equal(
        cb_cancel_own_outcome(&by, &by_src, CB_CANCEL_NOT_WAITING, 0, 0, 7, &own, &err), 0);
    assert_int_equal(own.status, CB_STATUS_NEEDS_REVIEW);
    assert_non_null(strstr(own.note, "not cancellable: event evt-9 does not wait here"));
    assert_non_null(strstr(own.note, "unknown event"));
    cb_outcome_clear(&own);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tz_parse),        cmocka_unit_test(test_start_and_format),
        cmocka_unit_test(test_policy_and_due),  cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_cancel_outcomes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
