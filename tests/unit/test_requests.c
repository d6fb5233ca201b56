/* test_requests.c: the pure parts of following CA requests that finish
 * later (requests.h): the backoff between checks, working hours for the
 * pending deadline, and the final outcome made from the CA's answer. */
#include "cb_test.h"

#include <stdlib.h>
#include <string.h>

#include "certbridge/requests.h"

#define H 3600000LL
#define D (24 * H)
/* Monday 2024-01-01 00:00 in UTC+7 */
#define MON  (1704042000000LL)
#define UTC7 420

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(cb_requests_backoff_ms(0, 2000, 600000), 2000);
    assert_int_equal(cb_requests_backoff_ms(1, 2000, 600000), 4000);
    assert_int_equal(cb_requests_backoff_ms(5, 2000, 600000), 64000);
    assert_int_equal(cb_requests_backoff_ms(8, 2000, 600000), 512000);
    assert_int_equal(cb_requests_backoff_ms(9, 2000, 600000), 600000); /* the ceiling */
    assert_int_equal(cb_requests_backoff_ms(1000, 2000, 600000), 600000);
    assert_int_equal(cb_requests_backoff_ms(3, 300, 2000), 2000);
}

static void test_working_ms(void **state)
{
    (void)state;
    /* a Monday, whole */
    assert_int_equal(cb_requests_working_ms(MON, MON + D, UTC7), D);
    /* a week: five working days */
    assert_int_equal(cb_requests_working_ms(MON, MON + 7 * D, UTC7), 5 * D);
    /* Saturday and Sunday count nothing */
    assert_int_equal(cb_requests_working_ms(MON + 5 * D, MON + 7 * D, UTC7), 0);
    /* Friday noon to Monday noon: 12 + 12 hours */
    assert_int_equal(cb_requests_working_ms(MON + 4 * D + 12 * H, MON + 7 * D + 12 * H, UTC7),
                     24 * H);
    /* three working days from Friday 10:00 end on Wednesday 10:00, not on
     * Monday 10:00 */
    assert_int_equal(cb_requests_working_ms(MON + 4 * D + 10 * H, MON + 9 * D + 10 * H, UTC7),
                     72 * H);
    assert_true(cb_requests_working_ms(MON + 4 * D + 10 * H, MON + 9 * D + 10 * H - 1, UTC7) <
                72 * H);
    /* the zone matters: Monday 00:00 UTC+7 is Sunday 17:00 UTC */
    assert_int_equal(cb_requests_working_ms(MON, MON + H, 0), 0);
    assert_int_equal(cb_requests_working_ms(MON, MON + H, UTC7), H);
    /* nothing, or backwards */
    assert_int_equal(cb_requests_working_ms(MON, MON, UTC7), 0);
    assert_int_equal(cb_requests_working_ms(MON + H, MON, UTC7), 0);
}

static void open_req(cb_open_req_t *r)
{
    memset(r, 0, sizeof(*r));
    cb_outcome_init(&r->pending);
    r->pending.outcome_id = strdup("evt-1/0");
    r->pending.source_event_id = strdup("evt-1");
    r->pending.holder_id = strdup("hr-1");
    r->pending.certificate_serial = strdup("0A");
    r->pending.action = CB_ACTION_CHANGE_INFO;
    r->pending.holder_type = CB_HOLDER_PERSON;
    r->pending.status = CB_STATUS_PENDING;
    r->pending.ca_request_id = strdup("REQ-1");
    r->pending.http_status = 202;
    r->pending.attempts = 1;
    r->pending.latency_ms = 20;
    r->pending.final = false;
    r->opened_at_ms = MON;
}

/* The final outcome of r from an answer of class k (code, status). */
static cb_outcome_t *final_of(const cb_open_req_t *r, cb_ca_class_t k, long http, const char *code,
                              const char *serial, int *rc)
{
    cb_ca_req_t a;
    cb_outcome_t *o = NULL;

    memset(&a, 0, sizeof(a));
    a.op = CB_CA_REQUEST;
    a.klass = k;
    a.http_status = http;
    a.error_code = code ? strdup(code) : NULL;
    a.error_message = code ? strdup("the CA's words") : NULL;
    a.new_serial = serial ? strdup(serial) : NULL;
    *rc = cb_requests_final(r, &a, MON + 3 * H, &o);
    cb_ca_req_clear(&a);
    return o;
}

static void free_outcome(cb_outcome_t *o)
{
    if (o)
        cb_outcome_clear(o);
    free(o);
}

static void test_final(void **state)
{
    cb_open_req_t r;
    cb_outcome_t *o;
    int rc;

    (void)state;
    open_req(&r);
    /* still open */
    assert_null(final_of(&r, CB_CA_PENDING, 200, NULL, NULL, &rc));
    assert_int_equal(rc, 0);
    assert_null(final_of(&r, CB_CA_RETRY, 503, "http_503", NULL, &rc));
    assert_int_equal(rc, 0);
    /* done: the same outcome, final, with the new serial */
    o = final_of(&r, CB_CA_SUCCESS, 200, NULL, "0B", &rc);
    assert_int_equal(rc, 1);
    assert_string_equal(o->outcome_id, "evt-1/0");
    assert_string_equal(o->certificate_serial, "0A");
    assert_string_equal(o->new_certificate_serial, "0B");
    assert_string_equal(o->ca_request_id, "REQ-1");
    assert_int_equal(o->status, CB_STATUS_SUCCEEDED);
    assert_true(o->final);
    assert_int_equal(o->processed_at_ms, MON + 3 * H);
    assert_int_equal(o->latency_ms, 20 + 3 * H);
    assert_int_equal(o->attempts, 1);
    free_outcome(o);
    o = final_of(&r, CB_CA_ALREADY, 200, NULL, NULL, &rc);
    assert_int_equal(o->status, CB_STATUS_ALREADY_DONE);
    free_outcome(o);
    /* refused by the CA: REJECTED with its reason */
    o = final_of(&r, CB_CA_PERMANENT, 200, "INVALID_SUBJECT", NULL, &rc);
    assert_int_equal(o->status, CB_STATUS_REJECTED);
    assert_string_equal(o->error_code, "INVALID_SUBJECT");
    assert_string_equal(o->error_message, "the CA's words");
    assert_true(o->final);
    free_outcome(o);
    /* expired or cancelled by the CA, or a request it does not know: FAILED */
    o = final_of(&r, CB_CA_PERMANENT, 200, "EXPIRED", NULL, &rc);
    assert_int_equal(o->status, CB_STATUS_FAILED);
    assert_string_equal(o->error_code, "EXPIRED");
    free_outcome(o);
    o = final_of(&r, CB_CA_PERMANENT, 200, "CANCELLED", NULL, &rc);
    assert_int_equal(o->status, CB_STATUS_FAILED);
    free_outcome(o);
    o = final_of(&r, CB_CA_PERMANENT, 404, NULL, NULL, &rc);
    assert_int_equal(o->status, CB_STATUS_FAILED);
    assert_string_equal(o->error_code, "REQUEST_NOT_FOUND");
    free_outcome(o);
    cb_outcome_clear(&r.pending);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_working_ms),
        cmocka_unit_test(test_final),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
