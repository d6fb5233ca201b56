/* test_gate.c: the approval gate (gate.h, decisions.h): policy.approval,
 * which actions need approval, the managing agency, the request id across
 * the day boundary in the zone, the outcomes of a gated action, and the
 * decisions an approval makes against the shared K and A records (unknown,
 * not in the request, decided, duplicate, after a cancellation, read back
 * by another instance). */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/config.h"
#include "certbridge/decisions.h"
#include "certbridge/gate.h"

#define MS_2025_07_01_UTC 1751328000000LL

static void test_mode(void **state)
{
    static const struct {
        const char *value; /* NULL: unset */
        int rc;
        cb_gate_mode_t mode;
    } cases[] = {
        {NULL, 0, CB_GATE_REVOKE},
        {"none", 0, CB_GATE_NONE},
        {"revoke", 0, CB_GATE_REVOKE},
        {"all", 0, CB_GATE_ALL},
    };
    cb_error_t err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cb_config_t *cfg = cb_config_new();
        cb_gate_mode_t m = (cb_gate_mode_t)-1;
        if (cases[i].value)
            assert_int_equal(cb_config_set(cfg, "policy.approval", cases[i].value, &err), 0);
        assert_int_equal(cb_gate_mode_from_config(cfg, &m, &err), cases[i].rc);
        assert_int_equal(m, cases[i].mode);
        cb_config_destroy(cfg);
    }
    {
        cb_config_t *cfg = cb_config_new();
        /* the table refuses a value outside none|revoke|all */
        assert_int_equal(cb_config_set(cfg, "policy.approval", "some", &err), -1);
        assert_int_equal(err.code, CB_ERR_CONFIG);
        cb_config_destroy(cfg);
    }
}

static void test_needs(void **state)
{
    /* per action: needs approval under revoke, under all */
    static const struct {
        cb_action_t a;
        bool revoke, all;
    } cases[] = {
        {CB_ACTION_CHANGE_INFO, false, true}, {CB_ACTION_REVOKE, true, true},
        {CB_ACTION_RETAIN, false, false},     {CB_ACTION_RECALL_DEVICE, false, true},
        {CB_ACTION_ISSUE, false, true},       {CB_ACTION_REVIEW, false, false},
    };
    cb_intent_t items[6];
    cb_intent_list_t list = {items, 6};
    size_t i;

    (void)state;
    memset(items, 0, sizeof(items));
    for (i = 0; i < 6; i++) {
        cb_intent_t in = {.action = cases[i].a};
        items[i].action = cases[i].a;
        assert_int_equal(cb_gate_needs(CB_GATE_NONE, &in), false);
        assert_int_equal(cb_gate_needs(CB_GATE_REVOKE, &in), cases[i].revoke);
        assert_int_equal(cb_gate_needs(CB_GATE_ALL, &in), cases[i].all);
    }
    assert_int_equal(cb_gate_count(CB_GATE_NONE, &list), 0);
    assert_int_equal(cb_gate_count(CB_GATE_REVOKE, &list), 1);
    assert_int_equal(cb_gate_count(CB_GATE_ALL, &list), 4);
}

static void test_agency_and_request(void **state)
{
    cb_event_t ev;
    const char *code, *name;
    char rid[CB_GATE_REQUEST_ID_MAX], *id;

    (void)state;
    cb_event_init(&ev);
    ev.kind = CB_EVENT_ORG;
    ev.org.code = "000.00.12.H19";
    ev.org.name = "Sở Nông nghiệp";
    ev.org.parent_code = "000.00.00.H19";
    ev.org.parent_name = "UBND tỉnh Đồng Nai";
    cb_gate_agency(&ev, &code, &name);
    assert_string_equal(code, "000.00.00.H19");
    assert_string_equal(name, "UBND tỉnh Đồng Nai");
    ev.org.parent_code = NULL; /* no superior: its own */
    ev.org.parent_name = NULL;
    cb_gate_agency(&ev, &code, &name);
    assert_string_equal(code, "000.00.12.H19");
    assert_string_equal(name, "Sở Nông nghiệp");
    ev.kind = CB_EVENT_PERSON; /* a person: the organization it belongs to */
    ev.org.parent_code = "000.00.00.H19";
    cb_gate_agency(&ev, &code, &name);
    assert_string_equal(code, "000.00.12.H19");
    /* the day in the zone: 2025-06-30 17:00 UTC is 2025-07-01 00:00 +07:00 */
    assert_string_equal(
        cb_gate_request_id("000.00.12.H19", MS_2025_07_01_UTC - 7 * 3600000, 420, rid),
        "000.00.12.H19-20250701");
    assert_string_equal(
        cb_gate_request_id("000.00.12.H19", MS_2025_07_01_UTC - 7 * 3600000 - 1, 420, rid),
        "000.00.12.H19-20250630");
    assert_string_equal(cb_gate_request_id("X", MS_2025_07_01_UTC - 1, 0, rid), "X-20250630");
    assert_string_equal(cb_gate_request_id("X", -1, 0, rid), "X-19691231");
    assert_string_equal((id = cb_gate_action_id("evt-9", 3)), "evt-9/approval/3");
    free(id);
}

static void test_outcomes(void **state)
{
    cb_event_t ev;
    cb_intent_t items[2];
    cb_intent_list_t in = {items, 2};
    cb_schedule_src_t src = {"hr.person-events", 1, 42};
    cb_gate_ref_t ref = {
        "000.00.12.H19-20250701", "000.00.12.H19", "Sở Nông nghiệp", NULL, NULL, NULL};
    cb_outcome_t o;
    cb_error_t err;

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
    items[0].reason = CB_REASON_CESSATION_OF_OPERATION;
    items[1] = items[0];
    items[1].action = CB_ACTION_RECALL_DEVICE;
    assert_int_equal(cb_gate_outcome(&ev, &in, 0, &src, &ref, CB_GATE_AWAITING, 7, &o, &err), 0);
    assert_string_equal(o.outcome_id, "evt-9/approval/0");
    assert_int_equal(o.status, CB_STATUS_AWAITING_APPROVAL);
    assert_false(o.final);
    assert_int_equal(o.action, CB_ACTION_REVOKE);
    assert_int_equal(o.revocation_reason, CB_REASON_CESSATION_OF_OPERATION);
    assert_int_equal(o.action_count, 2);
    assert_int_equal(o.source_offset, 42);
    assert_string_equal(o.approval_request_id, "000.00.12.H19-20250701");
    assert_string_equal(o.managing_agency_code, "000.00.12.H19");
    assert_string_equal(o.managing_agency_name, "Sở Nông nghiệp");
    assert_null(o.document_number);
    assert_null(o.approver);
    assert_non_null(strstr(o.note, "Awaits the signed approval of Sở Nông nghiệp (request "
                                   "000.00.12.H19-20250701)"));
    cb_outcome_clear(&o);
    ref.document_number = "1234/UBND-KGVX ngày 01/7/2025";
    ref.approver = "Nguyễn Văn An, Phó Chủ tịch";
    ref.reason = "quyết định đã bị thu hồi";
    assert_int_equal(cb_gate_outcome(&ev, &in, 0, &src, &ref, CB_GATE_APPROVED, 7, &o, &err), 0);
    assert_int_equal(o.status, CB_STATUS_AWAITING_APPROVAL);
    assert_true(o.final);
    assert_string_equal(o.document_number, "1234/UBND-KGVX ngày 01/7/2025");
    assert_string_equal(o.approver, "Nguyễn Văn An, Phó Chủ tịch");
    assert_null(o.error_message);
    cb_outcome_clear(&o);
    assert_int_equal(cb_gate_outcome(&ev, &in, 0, &src, &ref, CB_GATE_REJECTED, 7, &o, &err), 0);
    assert_int_equal(o.status, CB_STATUS_REJECTED);
    assert_true(o.final);
    assert_string_equal(o.error_code, "approval_rejected");
    assert_string_equal(o.error_message, "quyết định đã bị thu hồi");
    assert_string_equal(o.approver, "Nguyễn Văn An, Phó Chủ tịch");
    cb_outcome_clear(&o);
    assert_int_equal(cb_gate_outcome(&ev, &in, 0, &src, &ref, CB_GATE_CANCELLED, 7, &o, &err), 0);
    assert_int_equal(o.status, CB_STATUS_CANCELLED);
    assert_true(o.final);
    assert_null(o.document_number);
    cb_outcome_clear(&o);
}

/* An approval of request rid (APPROVED unless reason), naming ids when n. */
static void approval(cb_approval_t *a, const char *rid, const char *doc, const char *reason,
                     char **ids, size_t n)
{
    cb_approval_init(a);
    a->request_id = strdup(rid);
    a->decision = reason ? CB_APPROVAL_REJECTED : CB_APPROVAL_APPROVED;
    a->approver_name = strdup("Nguyễn Văn An");
    a->approver_title = strdup("Phó Chủ tịch");
    a->document_number = strdup(doc);
    a->document_date = 20270;
    a->reason = reason ? strdup(reason) : NULL;
    if (n) {
        size_t i;
        a->action_ids = calloc(n, sizeof(char *));
        for (i = 0; i < n; i++)
            a->action_ids[i] = strdup(ids[i]);
        a->n_action_ids = n;
    }
}

/* Decides a; returns the verdict and the message in msg. */
static cb_decide_verdict_t decide(cb_decisions_t *d, cb_approval_t *a, int64_t offset,
                                  cb_state_recs_t *out, char *msg, size_t size)
{
    cb_decide_verdict_t v = (cb_decide_verdict_t)-1;
    cb_error_t err;

    assert_int_equal(
        cb_decisions_decide(d, a, "certbridge.approvals", 0, offset, out, &v, msg, size, &err), 0);
    cb_approval_clear(a);
    return v;
}

static void test_decisions(void **state)
{
    cb_decisions_t *d = cb_decisions_new(), *other = cb_decisions_new();
    char *e1[] = {"e1/approval/0", "e1/approval/2"}, *e2[] = {"e2/approval/0"},
         *e3[] = {"e3/approval/0"}, *x[] = {"zz/approval/0"}, msg[CB_ERRMSG_MAX];
    const char *r = "000.00.00.H19-20250701";
    cb_state_recs_t out = {0};
    cb_approval_t a;
    cb_error_t err;
    size_t i;

    (void)state;
    assert_non_null(d);
    /* unknown until an event waits in it */
    approval(&a, r, "1/UBND", NULL, NULL, 0);
    assert_int_equal(decide(d, &a, 1, &out, msg, sizeof(msg)), CB_DECIDE_UNKNOWN);
    assert_string_equal(msg, "unknown approval request 000.00.00.H19-20250701");
    assert_int_equal(out.n, 0);
    assert_int_equal(
        cb_decisions_wait_record(d, r, "hr.org", 1, 10, "e1", e1, 2, false, &out, &err), 0);
    assert_int_equal(
        cb_decisions_wait_record(d, r, "hr.org", 0, 11, "e2", e2, 1, false, &out, &err), 0);
    assert_int_equal(
        cb_decisions_wait_record(d, r, "hr.org", 0, 12, "e3", e3, 1, false, &out, &err), 0);
    /* e3 cancelled: its K record written again */
    assert_int_equal(cb_decisions_wait_record(d, r, "hr.org", 0, 12, "e3", e3, 1, true, &out, &err),
                     0);
    assert_int_equal(out.n, 4);
    assert_int_equal(out.v[0].partition, CB_DECISIONS_PARTITION);
    assert_string_equal(out.v[0].key, "K|000.00.00.H19-20250701|hr.org|1|10");
    assert_true(cb_decisions_request_known(d, r));
    assert_false(cb_decisions_request_decided(d, r));
    /* an action the request does not have */
    approval(&a, r, "2/UBND", NULL, x, 1);
    assert_int_equal(decide(d, &a, 2, &out, msg, sizeof(msg)), CB_DECIDE_NOT_IN_REQUEST);
    assert_non_null(strstr(msg, "names action zz/approval/0, which is not in the request"));
    /* the cancelled action alone: it stays cancelled */
    approval(&a, r, "3/UBND", NULL, e3, 1);
    assert_int_equal(decide(d, &a, 3, &out, msg, sizeof(msg)), CB_DECIDE_CANCELLED);
    assert_non_null(strstr(msg, "comes after its 1 action(s) were cancelled"));
    assert_int_equal(out.n, 4);
    /* a subset: e2 rejected */
    approval(&a, r, "4/UBND", "sai đối tượng", e2, 1);
    assert_int_equal(decide(d, &a, 4, &out, msg, sizeof(msg)), CB_DECIDE_OK);
    assert_int_equal(out.n, 5);
    assert_string_equal(out.v[4].key, "A|000.00.00.H19-20250701|certbridge.approvals|0|4");
    assert_int_equal(cb_decisions_find(d, "e2/approval/0")->decision, CB_APPROVAL_REJECTED);
    assert_string_equal(cb_decisions_find(d, "e2/approval/0")->reason, "sai đối tượng");
    assert_null(cb_decisions_find(d, "e1/approval/0"));
    /* the whole request: only e1's two actions are left to decide */
    approval(&a, r, "5/UBND", NULL, NULL, 0);
    assert_int_equal(decide(d, &a, 5, &out, msg, sizeof(msg)), CB_DECIDE_OK);
    assert_non_null(strstr(msg, "approved 2 action(s) (document 5/UBND ngày 01/7/2025, Nguyễn "
                                "Văn An, Phó Chủ tịch)"));
    assert_string_equal(cb_decisions_find(d, "e1/approval/2")->document_number,
                        "5/UBND ngày 01/7/2025");
    assert_string_equal(cb_decisions_find(d, "e1/approval/2")->approver,
                        "Nguyễn Văn An, Phó Chủ tịch");
    assert_int_equal(cb_decisions_find(d, "e2/approval/0")->decision, CB_APPROVAL_REJECTED);
    assert_null(cb_decisions_find(d, "e3/approval/0"));
    /* again: a duplicate, nothing written */
    approval(&a, r, "6/UBND", NULL, NULL, 0);
    assert_int_equal(decide(d, &a, 6, &out, msg, sizeof(msg)), CB_DECIDE_DUPLICATE);
    assert_non_null(strstr(msg, "duplicate approval of request 000.00.00.H19-20250701: its 3 "
                                "action(s) were decided before"));
    assert_int_equal(out.n, 6);
    /* another instance reads the records back: the same view; reading a
     * record twice changes nothing */
    for (i = 0; i < out.n; i++)
        assert_int_equal(cb_decisions_load_record(other, out.v[i].key, strlen(out.v[i].key),
                                                  out.v[i].value, out.v[i].len, &err),
                         0);
    assert_int_equal(cb_decisions_load_record(other, out.v[5].key, strlen(out.v[5].key),
                                              out.v[5].value, out.v[5].len, &err),
                     0);
    assert_true(cb_decisions_request_decided(other, r));
    assert_int_equal(cb_decisions_find(other, "e2/approval/0")->decision, CB_APPROVAL_REJECTED);
    assert_string_equal(cb_decisions_find(other, "e1/approval/0")->document_number,
                        "5/UBND ngày 01/7/2025");
    assert_null(cb_decisions_find(other, "e3/approval/0"));
    approval(&a, r, "7/UBND", NULL, e3, 1);
    assert_int_equal(decide(other, &a, 7, &out, msg, sizeof(msg)), CB_DECIDE_CANCELLED);
    /* other state records and garbage are ignored */
    assert_int_equal(cb_decisions_load_record(other, "Q|hr.org|0|5|0", 14, "{}", 2, &err), 0);
    assert_int_equal(cb_decisions_load_record(other, "A|r|t|0|1", 9, "not json", 8, &err), 0);
    assert_false(cb_decisions_request_decided(other, "r"));
    cb_decisions_reset(other);
    assert_null(cb_decisions_find(other, "e2/approval/0"));
    assert_false(cb_decisions_request_known(other, r));
    cb_state_recs_free(&out);
    cb_decisions_destroy(d);
    cb_decisions_destroy(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode),
        cmocka_unit_test(test_needs),
        cmocka_unit_test(test_agency_and_request),
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
