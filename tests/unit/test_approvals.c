/* test_approvals.c: `certbridge approvals` on outcomes in memory (no Kafka):
 * the latest outcome of an action wins (awaiting then approved, or then
 * rejected, is not listed), grouping by request and managing agency with
 * exact figures and order, the day of a request, the agency filter, the
 * page file names, the exact terminal table, the JSON fields, and HTML
 * letters that escape what they show and load nothing. */
#include "cb_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certbridge/approvals.h"

#define T0 1751335200000LL /* 2025-07-01 09:00 UTC+7 (02:00 UTC) */

#define ORG    CB_HOLDER_ORGANIZATION
#define PERSON CB_HOLDER_PERSON

#define AG_PROV      "000.00.00.H19"
#define AG_PROV_NAME "Ủy ban nhân dân tỉnh Đồng Nai"
#define AG_YTE       "000.00.14.H19"
#define AG_YTE_NAME  "Sở Y tế tỉnh Đồng Nai"
#define EVIL_NAME    "Lê \"Văn\" <Tâm> & Co"

static char *sdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* One outcome of an action; strings copied (the outcome owns them). The
 * approval fields are set when request is not NULL. */
static void mk(cb_outcome_t *o, const char *event, int idx, cb_action_t a, cb_holder_type_t ht,
               const char *hid, const char *hname, const char *serial, const char *device,
               cb_outcome_status_t st, const char *request, const char *agency,
               const char *agency_name)
{
    char id[128];

    cb_outcome_init(o);
    snprintf(id, sizeof(id), "%s/%d", event, idx);
    o->outcome_id = sdup(id);
    o->source_event_id = sdup(event);
    o->source_event_type = sdup(ht == ORG ? "DISSOLVED" : "DEPARTED");
    o->source_topic = sdup("hr.events");
    o->action_index = idx;
    o->action = a;
    o->holder_type = ht;
    o->holder_id = sdup(hid);
    o->holder_name = sdup(hname);
    o->certificate_serial = sdup(serial);
    o->device_id = sdup(device);
    o->status = st;
    o->processed_at_ms = T0 + idx * 1000;
    o->final = st != CB_STATUS_AWAITING_APPROVAL;
    if (a == CB_ACTION_REVOKE)
        o->revocation_reason =
            ht == ORG ? CB_REASON_CESSATION_OF_OPERATION : CB_REASON_AFFILIATION_CHANGED;
    o->note = sdup("Thu hồi theo đề nghị / revoke on request");
    o->approval_request_id = sdup(request);
    o->managing_agency_code = sdup(agency);
    o->managing_agency_name = sdup(agency_name);
}

#define AW    CB_STATUS_AWAITING_APPROVAL
#define REQ_A AG_PROV "-20250701"
#define REQ_B AG_YTE "-20250702"
#define REQ_C AG_YTE "-20250701"
#define N_FIX 16

/* Two agencies: the province's People's Committee (one request: a
 * dissolution and a departure, each a revocation and a token recall) and
 * the health department (two requests on two days). Around them: an action
 * awaiting then approved and done, one awaiting then rejected, one awaiting
 * twice (a replay), one done without approval, and one awaiting without a
 * request id. */
static void fixture(cb_outcome_t *o)
{
    mk(&o[0], "e-dis-1", 0, CB_ACTION_REVOKE, ORG, "000.00.41.H19",
       "Ủy ban nhân dân huyện Nhơn Trạch", "5A1B2C3D4E5F6071", "TK-41", AW, REQ_A, AG_PROV,
       AG_PROV_NAME);
    mk(&o[1], "e-dis-1", 1, CB_ACTION_RECALL_DEVICE, ORG, "000.00.41.H19",
       "Ủy ban nhân dân huyện Nhơn Trạch", "5A1B2C3D4E5F6071", "TK-41", AW, REQ_A, AG_PROV,
       AG_PROV_NAME);
    mk(&o[2], "e-dep-1", 0, CB_ACTION_REVOKE, PERSON, "DN-CB-000007", "Trần Thị Bích Ngọc",
       "7C00FFEE12345678", "TK-P7", AW, REQ_A, AG_PROV, AG_PROV_NAME);
    mk(&o[3], "e-dep-1", 1, CB_ACTION_RECALL_DEVICE, PERSON, "DN-CB-000007", "Trần Thị Bích Ngọc",
       "7C00FFEE12345678", "TK-P7", AW, REQ_A, AG_PROV, AG_PROV_NAME);
    /* the health department, 2 July: a name to escape */
    mk(&o[4], "e-dep-2", 0, CB_ACTION_REVOKE, PERSON, "DN-CB-000009", EVIL_NAME, "9F9F9F9F00000001",
       NULL, AW, REQ_B, AG_YTE, AG_YTE_NAME);
    /* the health department, 1 July */
    mk(&o[5], "e-dep-3", 0, CB_ACTION_REVOKE, PERSON, "DN-CB-000010", "Phạm Minh Đức",
       "AA00000000000002", "TK-P10", AW, REQ_C, AG_YTE, AG_YTE_NAME);
    /* awaiting, then approved and done: not listed */
    mk(&o[6], "e-dep-4", 0, CB_ACTION_REVOKE, PERSON, "DN-CB-000011", "Võ Thị Hoa",
       "BB00000000000003", "TK-P11", AW, REQ_C, AG_YTE, AG_YTE_NAME);
    mk(&o[7], "e-dep-5", 0, CB_ACTION_REVOKE, PERSON, "DN-CB-000012", "Đặng Văn Hùng",
       "CC00000000000004", "TK-P12", AW, REQ_C, AG_YTE, AG_YTE_NAME);
    mk(&o[8], "e-dep-4", 0, CB_ACTION_REVOKE, PERSON, "DN-CB-000011", "Võ Thị Hoa",
       "BB00000000000003", "TK-P11", CB_STATUS_SUCCEEDED, REQ_C, AG_YTE, AG_YTE_NAME);
    /* awaiting, then rejected by the agency head: not listed */
    mk(&o[9], "e-dep-5", 0, CB_ACTION_REVOKE, PERSON, "DN-CB-000012", "Đặng Văn Hùng",
       "CC00000000000004", "TK-P12", CB_STATUS_REJECTED, REQ_C, AG_YTE, AG_YTE_NAME);
    /* awaiting twice (a replay of the same record): listed once */
    mk(&o[10], "e-dep-6", 0, CB_ACTION_CHANGE_INFO, PERSON, "DN-CB-000013", "Bùi Thu Trang",
       "DD00000000000005", NULL, AW, REQ_C, AG_YTE, AG_YTE_NAME);
    mk(&o[11], "e-dep-6", 0, CB_ACTION_CHANGE_INFO, PERSON, "DN-CB-000013", "Bùi Thu Trang",
       "DD00000000000005", NULL, AW, REQ_C, AG_YTE, AG_YTE_NAME);
    /* done without any approval */
    mk(&o[12], "e-chg-1", 0, CB_ACTION_CHANGE_INFO, ORG, "000.00.14.H19", AG_YTE_NAME,
       "EE00000000000006", NULL, CB_STATUS_SUCCEEDED, NULL, NULL, NULL);
    /* awaiting without a request id: counted, not listed */
    mk(&o[13], "e-x", 0, CB_ACTION_REVOKE, PERSON, "DN-CB-000099", "Không Số", "FF00000000000007",
       NULL, AW, NULL, AG_PROV, AG_PROV_NAME);
    /* approved first, then the (older) awaiting record replayed after it
     * on the topic: the later record is the latest, so it is listed */
    mk(&o[14], "e-dep-7", 0, CB_ACTION_REVOKE, PERSON, "DN-CB-000014", "Hồ Văn Lâm",
       "AB00000000000008", NULL, CB_STATUS_PENDING, REQ_B, AG_YTE, AG_YTE_NAME);
    mk(&o[15], "e-dep-7", 0, CB_ACTION_REVOKE, PERSON, "DN-CB-000014", "Hồ Văn Lâm",
       "AB00000000000008", NULL, AW, REQ_B, AG_YTE, AG_YTE_NAME);
}

static cb_approvals_t *build(const char *agency)
{
    cb_outcome_t o[N_FIX];
    cb_approvals_t *a;
    cb_error_t err;
    size_t i;

    fixture(o);
    a = cb_approvals_build(o, N_FIX, agency, &err);
    for (i = 0; i < N_FIX; i++)
        cb_outcome_clear(&o[i]);
    assert_non_null(a);
    return a;
}

/* The output of a writer: 0 json/table/agency page k (k >= 0: page of
 * agency k), as a heap string. */
static char *render(const cb_approvals_t *a, int what, int k)
{
    cb_approvals_source_t src = {"cb.outcomes", 3, T0 + 3600000, "Đồng Nai", false};
    const cb_approvals_agency_t *ags;
    char *buf = NULL;
    size_t len = 0, n;
    FILE *f = open_memstream(&buf, &len);
    cb_error_t err;

    assert_non_null(f);
    ags = cb_approvals_agencies(a, &n);
    if (what == 0)
        assert_int_equal(cb_approvals_write_table(a, &src, f, &err), 0);
    else if (what == 1)
        assert_int_equal(cb_approvals_write_json(a, &src, f, &err), 0);
    else if (what == 2)
        assert_int_equal(cb_approvals_write_agency_html(a, &src, &ags[k], f, &err), 0);
    else
        assert_int_equal(cb_approvals_write_index_html(a, &src, f, &err), 0);
    fclose(f);
    return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;

    for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle))
        n++;
    return n;
}

/* Grouping: the latest record of each action, three requests of two
 * agencies in order, with exact figures, actions and tokens. */
static void test_grouping(void **state)
{
    cb_approvals_t *a = build(NULL);
    const cb_approvals_request_t *r;
    const cb_approvals_agency_t *g;
    size_t n, ng;

    (void)state;
    assert_int_equal(cb_approvals_outcomes(a), N_FIX);
    assert_int_equal(cb_approvals_actions(a), 12); /* distinct (event, index) */
    assert_int_equal(cb_approvals_awaiting(a), 8);
    assert_int_equal(cb_approvals_unassigned(a), 1);
    assert_null(cb_approvals_agency_filter(a));
    r = cb_approvals_requests(a, &n);
    g = cb_approvals_agencies(a, &ng);
    assert_int_equal(n, 3);
    assert_int_equal(ng, 2);

    /* the province: one request, two revocations and two tokens */
    assert_string_equal(g[0].code, AG_PROV);
    assert_string_equal(g[0].name, AG_PROV_NAME);
    assert_int_equal(g[0].first, 0);
    assert_int_equal(g[0].n_requests, 1);
    assert_int_equal(g[0].n_actions, 4);
    assert_int_equal(g[0].revocations, 2);
    assert_int_equal(g[0].n_tokens, 2);
    assert_string_equal(r[0].id, REQ_A);
    assert_string_equal(r[0].day, "2025-07-01");
    assert_int_equal(r[0].n_actions, 4);
    assert_string_equal(r[0].actions[0]->outcome_id, "e-dep-1/0");
    assert_string_equal(r[0].actions[1]->outcome_id, "e-dep-1/1");
    assert_string_equal(r[0].actions[2]->outcome_id, "e-dis-1/0");
    assert_string_equal(r[0].actions[3]->outcome_id, "e-dis-1/1");
    assert_int_equal(r[0].actions[2]->revocation_reason, CB_REASON_CESSATION_OF_OPERATION);
    assert_int_equal(r[0].n_tokens, 2);
    assert_string_equal(r[0].tokens[0], "TK-41");
    assert_string_equal(r[0].tokens[1], "TK-P7");
    assert_int_equal(r[0].since_ms, T0);

    /* the health department: 1 July before 2 July; e-dep-4 (approved,
     * done) and e-dep-5 (rejected) are gone, e-dep-6 is there once */
    assert_string_equal(g[1].code, AG_YTE);
    assert_int_equal(g[1].first, 1);
    assert_int_equal(g[1].n_requests, 2);
    assert_int_equal(g[1].n_actions, 4);
    assert_int_equal(g[1].revocations, 3);
    assert_int_equal(g[1].n_tokens, 1);
    assert_string_equal(r[1].id, REQ_C);
    assert_string_equal(r[1].day, "2025-07-01");
    assert_int_equal(r[1].n_actions, 2);
    assert_string_equal(r[1].actions[0]->outcome_id, "e-dep-3/0");
    assert_string_equal(r[1].actions[1]->outcome_id, "e-dep-6/0");
    assert_int_equal(r[1].actions[1]->action, CB_ACTION_CHANGE_INFO);
    assert_int_equal(r[1].revocations, 1);
    assert_int_equal(r[1].n_tokens, 1);
    assert_string_equal(r[1].tokens[0], "TK-P10");
    assert_string_equal(r[2].id, REQ_B);
    assert_string_equal(r[2].day, "2025-07-02");
    assert_int_equal(r[2].n_actions, 2);
    assert_string_equal(r[2].actions[0]->holder_name, EVIL_NAME);
    assert_string_equal(r[2].actions[1]->outcome_id, "e-dep-7/0");
    assert_int_equal(r[2].n_tokens, 0);
    cb_approvals_destroy(a);
}

/* Latest wins, record by record: awaiting then SUCCEEDED, REJECTED or
 * CANCELLED is never listed; a request whose every action was decided
 * disappears with its agency. */
static void test_latest_wins(void **state)
{
    static const cb_outcome_status_t later[] = {CB_STATUS_SUCCEEDED, CB_STATUS_REJECTED,
                                                CB_STATUS_CANCELLED, CB_STATUS_PENDING,
                                                CB_STATUS_ALREADY_DONE};
    cb_outcome_t o[2];
    cb_approvals_t *a;
    cb_error_t err;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
        mk(&o[0], "e-1", 0, CB_ACTION_REVOKE, PERSON, "P-1", "Ngô Văn Một", "01", "TK-1", AW, REQ_A,
           AG_PROV, AG_PROV_NAME);
        mk(&o[1], "e-1", 0, CB_ACTION_REVOKE, PERSON, "P-1", "Ngô Văn Một", "01", "TK-1", later[i],
           REQ_A, AG_PROV, AG_PROV_NAME);
        a = cb_approvals_build(o, 2, NULL, &err);
        assert_non_null(a);
        assert_int_equal(cb_approvals_actions(a), 1);
        assert_int_equal(cb_approvals_awaiting(a), 0);
        cb_approvals_requests(a, &n);
        assert_int_equal(n, 0);
        cb_approvals_agencies(a, &n);
        assert_int_equal(n, 0);
        cb_approvals_destroy(a);
        /* only the first record: awaiting */
        a = cb_approvals_build(o, 1, NULL, &err);
        assert_non_null(a);
        assert_int_equal(cb_approvals_awaiting(a), 1);
        cb_approvals_destroy(a);
        cb_outcome_clear(&o[0]);
        cb_outcome_clear(&o[1]);
    }
}

/* The gate's records (gate.h): "<event_id>/approval/<i>", no certificate,
 * AWAITING_APPROVAL with final false while waiting and final true once
 * approved. Their namespace is apart from the actions' own outcomes
 * "<event_id>/<index>", whose indices count otherwise. */
static void gate_record(cb_outcome_t *o, const char *event, int i, cb_action_t act,
                        cb_holder_type_t ht, const char *holder, const char *name, bool final,
                        cb_outcome_status_t st)
{
    char id[128];

    mk(o, event, i, act, ht, holder, name, NULL, NULL, st, REQ_A, AG_PROV, AG_PROV_NAME);
    snprintf(id, sizeof(id), "%s/approval/%d", event, i);
    free(o->outcome_id);
    o->outcome_id = sdup(id);
    o->final = final;
}

static void test_gate_records(void **state)
{
    cb_outcome_t o[6];
    cb_approvals_t *a;
    const cb_approvals_request_t *r;
    cb_error_t err;
    size_t n, i;

    (void)state;
    /* g-1 waits; g-2 waited and was approved (AWAITING_APPROVAL, final) */
    gate_record(&o[0], "g-1", 0, CB_ACTION_REVOKE, PERSON, "P-1", "Một", false, AW);
    gate_record(&o[1], "g-2", 0, CB_ACTION_REVOKE, PERSON, "P-2", "Hai", false, AW);
    gate_record(&o[2], "g-2", 0, CB_ACTION_REVOKE, PERSON, "P-2", "Hai", true, AW);
    /* the approved event's own outcomes: indices 0 and 1 of the other namespace */
    mk(&o[3], "g-2", 0, CB_ACTION_REVOKE, PERSON, "P-2", "Hai", "02", "TK-2", CB_STATUS_SUCCEEDED,
       REQ_A, AG_PROV, AG_PROV_NAME);
    mk(&o[4], "g-2", 1, CB_ACTION_RECALL_DEVICE, PERSON, "P-2", "Hai", "02", "TK-2",
       CB_STATUS_SUCCEEDED, REQ_A, AG_PROV, AG_PROV_NAME);
    /* g-1's index 0 among the actions' outcomes does not decide g-1/approval/0 */
    mk(&o[5], "g-1", 0, CB_ACTION_RETAIN, PERSON, "P-1", "Một", "01", NULL, CB_STATUS_SUCCEEDED,
       NULL, NULL, NULL);
    a = cb_approvals_build(o, 6, NULL, &err);
    assert_non_null(a);
    /* g-1/approval/0, g-2/approval/0, g-1/0, g-2/0, g-2/1 */
    assert_int_equal(cb_approvals_actions(a), 5);
    assert_int_equal(cb_approvals_awaiting(a), 1);
    r = cb_approvals_requests(a, &n);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].n_actions, 1);
    assert_string_equal(r[0].actions[0]->outcome_id, "g-1/approval/0");
    assert_null(r[0].actions[0]->certificate_serial);
    assert_int_equal(r[0].revocations, 1); /* its certificate, not known yet */
    assert_int_equal(r[0].n_tokens, 0);
    cb_approvals_destroy(a);
    for (i = 0; i < 6; i++)
        cb_outcome_clear(&o[i]);
}

/* The holders to look up, and their certificates from the CA: the letters
 * then name every certificate to revoke and every token to return. */
static void test_certificates(void **state)
{
    cb_outcome_t o[4];
    cb_approvals_t *a;
    const cb_approvals_holder_t *hs;
    const cb_approvals_request_t *r;
    const cb_approvals_agency_t *g;
    cb_error_t err;
    size_t n, i;
    char *h, *j;
    json_t *doc, *act;

    (void)state;
    gate_record(&o[0], "g-1", 0, CB_ACTION_REVOKE, PERSON, "P-1", "Ngô Thị Một", false, AW);
    gate_record(&o[1], "g-1", 1, CB_ACTION_RECALL_DEVICE, PERSON, "P-1", "Ngô Thị Một", false, AW);
    gate_record(&o[2], "g-2", 0, CB_ACTION_CHANGE_INFO, ORG, "000.00.41.H19", "Nhơn Trạch", false,
                AW);
    /* an outcome naming its certificate needs no lookup */
    mk(&o[3], "g-3", 0, CB_ACTION_REVOKE, PERSON, "P-3", "Ba", "03", "TK-3", AW, REQ_A, AG_PROV,
       AG_PROV_NAME);
    a = cb_approvals_build(o, 4, NULL, &err);
    assert_non_null(a);
    hs = cb_approvals_holders(a, &n);
    assert_int_equal(n, 2);
    assert_int_equal(hs[0].type, ORG);
    assert_string_equal(hs[0].id, "000.00.41.H19");
    assert_int_equal(hs[1].type, PERSON);
    assert_string_equal(hs[1].id, "P-1");
    assert_false(cb_approvals_certs_checked(a));
    r = cb_approvals_requests(a, &n);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].revocations, 2);
    assert_int_equal(r[0].n_tokens, 1);
    h = render(a, 2, 0);
    assert_non_null(strstr(h, "were not looked up at the CA"));
    free(h);

    /* P-1 has two certificates on two tokens; the organization none */
    assert_int_equal(cb_approvals_add_cert(a, 1, "C1", "TK-P1a", &err), 0);
    assert_int_equal(cb_approvals_add_cert(a, 1, "C2", "TK-P1b", &err), 0);
    cb_approvals_looked_up(a, 0);
    assert_true(cb_approvals_certs_checked(a));
    assert_int_equal(cb_approvals_add_cert(a, 2, "C3", NULL, &err), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    r = cb_approvals_requests(a, &n);
    assert_int_equal(r[0].revocations, 3); /* C1, C2 and 03 */
    assert_int_equal(r[0].n_tokens, 3);
    assert_string_equal(r[0].tokens[0], "TK-3");
    assert_string_equal(r[0].tokens[1], "TK-P1a");
    assert_string_equal(r[0].tokens[2], "TK-P1b");
    for (i = 0; i < r[0].n_actions; i++)
        if (!strcmp(r[0].actions[i]->outcome_id, "g-1/approval/1")) {
            assert_int_equal(r[0].actions[i]->n_certs, 2);
            assert_string_equal(r[0].actions[i]->certs[1].serial, "C2");
            assert_string_equal(r[0].actions[i]->certs[1].device_id, "TK-P1b");
        }
    g = cb_approvals_agencies(a, &n);
    assert_int_equal(g[0].revocations, 3);
    assert_int_equal(g[0].n_tokens, 3);
    h = render(a, 2, 0);
    assert_null(strstr(h, "were not looked up at the CA"));
    assert_non_null(strstr(h, "<code class=\"serial\">C1</code>"));
    assert_non_null(strstr(h, "<code class=\"serial\">C2</code>"));
    assert_non_null(strstr(h, "<code class=\"token\">TK-P1a</code><br><code class=\"token\">"
                              "TK-P1b</code>"));
    /* the organization the CA has no certificate for */
    assert_non_null(strstr(h, "không có chứng thư số hoạt động<small>no active certificate at "
                              "the CA</small>"));
    /* the recall's cell and the tokens' list */
    assert_int_equal(count_of(h, "<code class=\"token\">TK-P1b</code>"), 2);
    free(h);
    j = render(a, 1, 0);
    doc = json_loads(j, 0, NULL);
    assert_non_null(doc);
    act = json_array_get(
        json_object_get(json_array_get(json_object_get(doc, "requests"), 0), "actions"), 0);
    assert_string_equal(json_string_value(json_object_get(act, "outcome_id")), "g-1/approval/0");
    assert_true(json_is_null(json_object_get(act, "certificate_serial")));
    assert_true(json_is_true(json_object_get(act, "certificates_looked_up")));
    assert_int_equal(json_array_size(json_object_get(act, "certificates")), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(act, "certificates"), 0), "serial")),
                        "C1");
    json_decref(doc);
    free(j);
    cb_approvals_destroy(a);
    for (i = 0; i < 4; i++)
        cb_outcome_clear(&o[i]);
}

/* --agency: only that agency's requests; the unassigned action of another
 * agency is not counted; an unknown code lists nothing. */
static void test_filter(void **state)
{
    cb_approvals_t *a = build(AG_YTE);
    const cb_approvals_request_t *r;
    const cb_approvals_agency_t *g;
    size_t n, ng;

    (void)state;
    assert_string_equal(cb_approvals_agency_filter(a), AG_YTE);
    r = cb_approvals_requests(a, &n);
    g = cb_approvals_agencies(a, &ng);
    assert_int_equal(n, 2);
    assert_int_equal(ng, 1);
    assert_string_equal(g[0].code, AG_YTE);
    assert_int_equal(g[0].first, 0);
    assert_string_equal(r[0].id, REQ_C);
    assert_string_equal(r[1].id, REQ_B);
    assert_int_equal(cb_approvals_awaiting(a), 4);
    assert_int_equal(cb_approvals_unassigned(a), 0);
    assert_int_equal(cb_approvals_actions(a), 12);
    cb_approvals_destroy(a);

    a = build(AG_PROV);
    cb_approvals_requests(a, &n);
    assert_int_equal(n, 1);
    assert_int_equal(cb_approvals_awaiting(a), 4);
    assert_int_equal(cb_approvals_unassigned(a), 1);
    cb_approvals_destroy(a);

    a = build("000.99.99.H19");
    cb_approvals_requests(a, &n);
    assert_int_equal(n, 0);
    assert_int_equal(cb_approvals_awaiting(a), 0);
    cb_approvals_destroy(a);
}

/* A request id without a "-YYYYMMDD" ending takes the day of its earliest
 * action in Vietnam's time: 18:00 UTC on 30 June is 1 July there. */
static void test_day_fallback(void **state)
{
    cb_outcome_t o[2];
    cb_approvals_t *a;
    const cb_approvals_request_t *r;
    cb_error_t err;
    size_t n;

    (void)state;
    mk(&o[0], "e-1", 0, CB_ACTION_REVOKE, PERSON, "P-1", "Một", "01", NULL, AW, "REQ-X", "A", NULL);
    mk(&o[1], "e-1", 1, CB_ACTION_REVOKE, PERSON, "P-1", "Một", "02", NULL, AW, "REQ-X-20251399",
       "A", NULL);
    o[0].processed_at_ms = 1751306400000LL; /* 2025-06-30T18:00:00Z */
    o[1].processed_at_ms = 1751306400000LL;
    a = cb_approvals_build(o, 2, NULL, &err);
    assert_non_null(a);
    r = cb_approvals_requests(a, &n);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].day, "2025-07-01");
    assert_string_equal(r[0].id, "REQ-X");
    assert_string_equal(r[1].day, "2025-07-01"); /* month 13: not a date */
    cb_approvals_destroy(a);
    cb_outcome_clear(&o[0]);
    cb_outcome_clear(&o[1]);
}

/* Page names: the code when it is a safe file name, else sanitized with a
 * hash, so different codes never share a file and none is index.html. */
static void test_page_names(void **state)
{
    cb_approvals_agency_t g;
    char a[CB_APPROVALS_PAGE_NAME_MAX], b[CB_APPROVALS_PAGE_NAME_MAX];

    (void)state;
    memset(&g, 0, sizeof(g));
    g.code = AG_YTE;
    cb_approvals_page_name(&g, a, sizeof(a));
    assert_string_equal(a, "000.00.14.H19.html");
    g.code = "../../etc/passwd";
    cb_approvals_page_name(&g, a, sizeof(a));
    assert_int_equal(strlen(a), strlen("_._.._etc_passwd-12345678.html"));
    assert_memory_equal(a, "_._.._etc_passwd-", 17);
    assert_null(strchr(a, '/'));
    g.code = "A/B";
    cb_approvals_page_name(&g, a, sizeof(a));
    g.code = "A_B";
    cb_approvals_page_name(&g, b, sizeof(b));
    assert_string_equal(b, "A_B.html");
    assert_int_equal(strlen(a), strlen("A_B-12345678.html"));
    assert_string_not_equal(a, b);
    g.code = "index";
    cb_approvals_page_name(&g, a, sizeof(a));
    assert_string_not_equal(a, "index.html");
    assert_memory_equal(a, "index-", 6);
    g.code = NULL;
    g.name = "Sở Nội vụ";
    cb_approvals_page_name(&g, a, sizeof(a));
    g.name = "Sở Tư pháp";
    cb_approvals_page_name(&g, b, sizeof(b));
    assert_memory_equal(a, "agency-", 7);
    assert_string_not_equal(a, b);
}

/* The terminal table, byte for byte. */
static void test_table(void **state)
{
    cb_approvals_t *a = build(NULL);
    char *t = render(a, 0, 0);

    (void)state;
    assert_string_equal(
        t, "Awaiting approval: 8 actions in 3 requests of 2 managing agencies\n"
           "(outcome topic cb.outcomes, 3 partitions, read_committed; 16 outcomes of 12 "
           "actions)\n"
           "\n"
           "Request                 Managing agency                              Day         "
           "Actions  Revocations  Tokens to return\n"
           "000.00.00.H19-20250701  000.00.00.H19 Ủy ban nhân dân tỉnh Đồng Nai  2025-07-01  "
           "      4            2                 2\n"
           "000.00.14.H19-20250701  000.00.14.H19 Sở Y tế tỉnh Đồng Nai          2025-07-01  "
           "      2            1                 1\n"
           "000.00.14.H19-20250702  000.00.14.H19 Sở Y tế tỉnh Đồng Nai          2025-07-02  "
           "      2            2                 0\n"
           "\n"
           "1 action awaits approval without a request id (not listed).\n");
    free(t);
    cb_approvals_destroy(a);

    a = build("000.99.99.H19");
    t = render(a, 0, 0);
    assert_non_null(strstr(t, "(agency 000.99.99.H19 only)"));
    assert_non_null(strstr(t, "\nNothing awaits approval.\n"));
    free(t);
    cb_approvals_destroy(a);
}

/* The JSON document: stable field names and exact values. */
static void test_json(void **state)
{
    cb_approvals_t *a = build(NULL);
    char *s = render(a, 1, 0);
    json_t *doc = json_loads(s, 0, NULL), *req, *act, *ag;

    (void)state;
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "topic")), "cb.outcomes");
    assert_int_equal(json_integer_value(json_object_get(doc, "partitions")), 3);
    assert_string_equal(json_string_value(json_object_get(doc, "generated_at")),
                        "2025-07-01T03:00:00Z");
    assert_true(json_is_null(json_object_get(doc, "agency_filter")));
    assert_int_equal(json_integer_value(json_object_get(doc, "outcomes")), 16);
    assert_int_equal(json_integer_value(json_object_get(doc, "actions")), 12);
    assert_int_equal(json_integer_value(json_object_get(doc, "awaiting")), 8);
    assert_int_equal(json_integer_value(json_object_get(doc, "without_request")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "undecodable")), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "agencies")), 2);
    ag = json_array_get(json_object_get(doc, "agencies"), 1);
    assert_string_equal(json_string_value(json_object_get(ag, "code")), AG_YTE);
    assert_string_equal(json_string_value(json_object_get(ag, "name")), AG_YTE_NAME);
    assert_int_equal(json_integer_value(json_object_get(ag, "requests")), 2);
    assert_int_equal(json_integer_value(json_object_get(ag, "actions")), 4);
    assert_int_equal(json_integer_value(json_object_get(ag, "revocations")), 3);
    assert_int_equal(json_integer_value(json_object_get(ag, "tokens_to_return")), 1);
    assert_string_equal(json_string_value(json_object_get(ag, "page")), "000.00.14.H19.html");
    assert_int_equal(json_array_size(json_object_get(doc, "requests")), 3);
    req = json_array_get(json_object_get(doc, "requests"), 0);
    assert_string_equal(json_string_value(json_object_get(req, "request_id")), REQ_A);
    assert_string_equal(json_string_value(json_object_get(req, "agency_code")), AG_PROV);
    assert_string_equal(json_string_value(json_object_get(req, "agency_name")), AG_PROV_NAME);
    assert_string_equal(json_string_value(json_object_get(req, "day")), "2025-07-01");
    assert_string_equal(json_string_value(json_object_get(req, "awaiting_since")),
                        "2025-07-01T02:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(req, "action_count")), 4);
    assert_int_equal(json_integer_value(json_object_get(req, "revocations")), 2);
    assert_int_equal(json_array_size(json_object_get(req, "tokens_to_return")), 2);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(req, "tokens_to_return"), 1)), "TK-P7");
    assert_int_equal(json_array_size(json_object_get(req, "actions")), 4);
    act = json_array_get(json_object_get(req, "actions"), 2);
    assert_string_equal(json_string_value(json_object_get(act, "outcome_id")), "e-dis-1/0");
    assert_string_equal(json_string_value(json_object_get(act, "source_event_id")), "e-dis-1");
    assert_string_equal(json_string_value(json_object_get(act, "source_event_type")), "DISSOLVED");
    assert_int_equal(json_integer_value(json_object_get(act, "action_index")), 0);
    assert_string_equal(json_string_value(json_object_get(act, "action")), "REVOKE");
    assert_string_equal(json_string_value(json_object_get(act, "holder_type")), "ORGANIZATION");
    assert_string_equal(json_string_value(json_object_get(act, "holder_id")), "000.00.41.H19");
    assert_string_equal(json_string_value(json_object_get(act, "holder_name")),
                        "Ủy ban nhân dân huyện Nhơn Trạch");
    assert_string_equal(json_string_value(json_object_get(act, "certificate_serial")),
                        "5A1B2C3D4E5F6071");
    assert_string_equal(json_string_value(json_object_get(act, "device_id")), "TK-41");
    assert_string_equal(json_string_value(json_object_get(act, "revocation_reason")),
                        "cessationOfOperation");
    assert_string_equal(json_string_value(json_object_get(act, "note")),
                        "Thu hồi theo đề nghị / revoke on request");
    assert_string_equal(json_string_value(json_object_get(act, "awaiting_since")),
                        "2025-07-01T02:00:00Z");
    act = json_array_get(json_object_get(req, "actions"), 3);
    assert_true(json_is_null(json_object_get(act, "revocation_reason")));
    req = json_array_get(json_object_get(doc, "requests"), 2);
    act = json_array_get(json_object_get(req, "actions"), 0);
    assert_string_equal(json_string_value(json_object_get(act, "holder_name")), EVIL_NAME);
    assert_true(json_is_null(json_object_get(act, "device_id")));
    json_decref(doc);
    free(s);
    cb_approvals_destroy(a);
}

/* The health department's page: two letters, the Vietnamese headings with
 * their English captions, the holders, serials, reasons and tokens, the
 * signature block with the place and the date, the hostile name escaped,
 * nothing loaded from outside, A4 and a page break per letter. */
static void test_agency_html(void **state)
{
    cb_approvals_t *a = build(NULL);
    char *h = render(a, 2, 1);

    (void)state;
    assert_int_equal(count_of(h, "<article class=\"letter\""), 2);
    assert_non_null(strstr(h, "<article class=\"letter\" id=\"letter-1\" data-request=\"" REQ_C));
    assert_non_null(strstr(h, "<article class=\"letter\" id=\"letter-2\" data-request=\"" REQ_B));
    /* the only links: to the letters of the page */
    assert_non_null(
        strstr(h, "<a href=\"#letter-1\">" REQ_C "</a> <a href=\"#letter-2\">" REQ_B "</a>"));
    assert_int_equal(count_of(h, "href="), 2);
    assert_non_null(strstr(h, "Danh sách chứng thư số đề nghị thu hồi<small class=\"cap\">"
                              "Certificates to be revoked</small>"));
    assert_non_null(strstr(h, "Danh sách thuê bao<small class=\"cap\">Holders</small>"));
    assert_non_null(strstr(h, "Thiết bị lưu khóa bí mật cần bàn giao lại<small class=\"cap\">"
                              "Key tokens to return</small>"));
    assert_int_equal(count_of(h, "THỦ TRƯỞNG CƠ QUAN<span class=\"cap\">Head of agency</span>"), 2);
    assert_int_equal(count_of(h, "(Ký, ghi rõ họ tên, đóng dấu)"), 2);
    assert_non_null(strstr(h, "Đồng Nai, ngày 01 tháng 7 năm 2025"));
    assert_non_null(strstr(h, "Đồng Nai, ngày 02 tháng 7 năm 2025"));
    assert_non_null(strstr(h, "Lê &quot;Văn&quot; &lt;Tâm&gt; &amp; Co"));
    assert_null(strstr(h, "<Tâm>"));
    assert_null(strstr(h, "\"Văn\""));
    assert_non_null(strstr(h, "Phạm Minh Đức"));
    assert_non_null(strstr(h, "AA00000000000002"));
    assert_non_null(strstr(h, "9F9F9F9F00000001"));
    assert_non_null(strstr(h, "<code class=\"token\">TK-P10</code>"));
    assert_non_null(strstr(h, "Thay đổi quan hệ công tác"));
    assert_non_null(strstr(h, "affiliationChanged"));
    assert_non_null(strstr(h, "Thay đổi thông tin chứng thư số<small>change of information"));
    /* what was approved or rejected is not in the letter */
    assert_null(strstr(h, "Võ Thị Hoa"));
    assert_null(strstr(h, "Đặng Văn Hùng"));
    /* the other agency's letter is not on this page */
    assert_null(strstr(h, "Trần Thị Bích Ngọc"));
    assert_non_null(strstr(h, "@page{size:A4"));
    assert_non_null(strstr(h, ".letter+.letter{break-before:page"));
    assert_null(strstr(h, "src="));
    assert_null(strstr(h, "url("));
    assert_null(strstr(h, "@import"));
    assert_null(strstr(h, "<script"));
    assert_null(strstr(h, "<link"));
    free(h);

    /* the index: one row per agency linking its page */
    h = render(a, 3, 0);
    assert_int_equal(count_of(h, "<tr><td><a href=\""), 2);
    assert_non_null(strstr(h, "<a href=\"000.00.00.H19.html\">" AG_PROV_NAME "</a>"));
    assert_non_null(strstr(h, "<a href=\"000.00.14.H19.html\">" AG_YTE_NAME "</a>"));
    assert_non_null(strstr(h, "1 thao tác chờ phê duyệt chưa có số đề nghị"));
    free(h);
    cb_approvals_destroy(a);
}

/* save_html: index.html and one page per agency in the folder, no .tmp
 * left behind; a missing folder is an I/O error naming it. */
static void test_save(void **state)
{
    cb_approvals_t *a = build(NULL);
    cb_approvals_source_t src = {"cb.outcomes", 1, T0, NULL, false};
    char dir[] = "/tmp/cb-approvals-XXXXXX", path[256];
    struct stat st;
    cb_error_t err;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(cb_approvals_save_html(a, &src, dir, &err), 0);
    snprintf(path, sizeof(path), "%s/index.html", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 500);
    unlink(path);
    snprintf(path, sizeof(path), "%s/000.00.00.H19.html", dir);
    assert_int_equal(stat(path, &st), 0);
    unlink(path);
    snprintf(path, sizeof(path), "%s/000.00.14.H19.html", dir);
    assert_int_equal(stat(path, &st), 0);
    unlink(path);
    assert_int_equal(rmdir(dir), 0); /* nothing else was left in it */
    assert_int_equal(cb_approvals_save_html(a, &src, dir, &err), -1);
    assert_int_equal(err.code, CB_ERR_IO);
    assert_non_null(strstr(err.msg, dir));
    cb_approvals_destroy(a);
}

/* Bad input: an action out of range, a record without an event id. */
static void test_bad_input(void **state)
{
    cb_outcome_t o;
    cb_approvals_t *a = cb_approvals_new();
    cb_error_t err;

    (void)state;
    assert_non_null(a);
    mk(&o, "e-1", 0, CB_ACTION_REVOKE, PERSON, "P", "N", "01", NULL, AW, REQ_A, AG_PROV, NULL);
    o.status = CB_STATUS_COUNT;
    assert_int_equal(cb_approvals_add(a, &o, &err), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    o.status = AW;
    free(o.source_event_id);
    o.source_event_id = NULL;
    assert_int_equal(cb_approvals_add(a, &o, &err), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    cb_outcome_clear(&o);
    cb_approvals_add_undecodable(a);
    assert_int_equal(cb_approvals_finish(a, &err), 0);
    assert_int_equal(cb_approvals_undecodable(a), 1);
    assert_int_equal(cb_approvals_outcomes(a), 0);
    cb_approvals_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouping),     cmocka_unit_test(test_latest_wins),
        cmocka_unit_test(test_filter),       cmocka_unit_test(test_day_fallback),
        cmocka_unit_test(test_page_names),   cmocka_unit_test(test_table),
        cmocka_unit_test(test_json),         cmocka_unit_test(test_agency_html),
        cmocka_unit_test(test_save),         cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_gate_records), cmocka_unit_test(test_certificates),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
