/* test_rules.c: the reorganization rules, one table row per case of
 * docs/DOMAIN.md §3.1 and per policy switch, with the exact intents expected. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/config.h"
#include "certbridge/rules.h"

#define PROVINCE "Tỉnh Đồng Nai"
#define UBND     "Ủy ban nhân dân tỉnh Đồng Nai"

/* Codes and names used by the cases. */
#define NEW_COMMUNE   "000.00.31.H19"
#define COMMUNE_A     "000.21.01.H19"
#define COMMUNE_B     "000.21.02.H19"
#define COMMUNE_C     "000.21.03.H19"
#define DEPT_EXISTING "000.00.05.H19"
#define PERSON_ID     "HRM-0001"

#define ORG_SUBJECT(name)   "CN=" name ",O=" UBND ",L=" PROVINCE ",C=VN"
#define NEW_COMMUNE_SUBJECT "CN=Ủy ban nhân dân xã Phước An,O=" UBND ",L=" PROVINCE ",C=VN"
#define PERSON_SUBJECT                                                                             \
    "CN=Nguyễn Văn An,title=Phó Giám đốc,OU=Sở Tài chính,O=" UBND ",L=" PROVINCE                   \
    ",C=VN,emailAddress=annv@dongnai.gov.vn"

static void set_org(cb_org_t *o, const char *code, const char *name, const char *parent_name)
{
    o->code = strdup(code);
    o->name = strdup(name);
    o->parent_code = parent_name ? strdup("000.00.00.H19") : NULL;
    o->parent_name = parent_name ? strdup(parent_name) : NULL;
    o->province = strdup(PROVINCE);
}

static void base(cb_event_t *ev, cb_event_kind_t kind, int type)
{
    cb_event_init(ev);
    ev->kind = kind;
    ev->type = type;
    ev->event_id = strdup("dn-2025-0001");
    ev->source_system = strdup("hrm.dongnai");
    ev->occurred_at_ms = 1751331600000LL;
    ev->effective_date = 20270;
}

/* Three communes merged; into a new commune or into an existing department. */
static void merged(cb_event_t *ev, bool is_new, const char *carrier, bool list_result_too)
{
    size_t n = list_result_too ? 4 : 3;

    base(ev, CB_EVENT_ORG, CB_ORG_MERGED);
    if (is_new)
        set_org(&ev->org, NEW_COMMUNE, "Ủy ban nhân dân xã Phước An", UBND);
    else
        set_org(&ev->org, DEPT_EXISTING, "Sở Nội vụ", UBND);
    ev->result_is_new = is_new;
    ev->merged_orgs = calloc(n, sizeof(cb_org_t));
    ev->merged_count = n;
    set_org(&ev->merged_orgs[0], COMMUNE_A, "UBND xã Phước Thiền", "UBND huyện Nhơn Trạch");
    set_org(&ev->merged_orgs[1], COMMUNE_B, "UBND xã Phú Hội", "UBND huyện Nhơn Trạch");
    if (list_result_too)
        set_org(&ev->merged_orgs[2], DEPT_EXISTING, "Sở Nội vụ", UBND);
    set_org(&ev->merged_orgs[n - 1], COMMUNE_C, "UBND xã Phú Hữu", "UBND huyện Nhơn Trạch");
    if (carrier)
        ev->certificate_carrier = strdup(carrier);
}

static void make_merged_new(cb_event_t *ev)
{
    merged(ev, true, NULL, false);
}

static void make_merged_new_carrier_b(cb_event_t *ev)
{
    merged(ev, true, COMMUNE_B, false);
}

static void make_merged_new_carrier_c(cb_event_t *ev)
{
    merged(ev, true, COMMUNE_C, false);
}

static void make_merged_existing(cb_event_t *ev)
{
    merged(ev, false, NULL, false);
}

static void make_merged_existing_listed(cb_event_t *ev)
{
    merged(ev, false, NULL, true);
}

static void org_event(cb_event_t *ev, int type)
{
    base(ev, CB_EVENT_ORG, type);
    set_org(&ev->org, DEPT_EXISTING, "Sở Nội vụ", UBND);
}

static void make_renamed(cb_event_t *ev)
{
    org_event(ev, CB_ORG_RENAMED);
}

static void make_parent_changed(cb_event_t *ev)
{
    org_event(ev, CB_ORG_PARENT_CHANGED);
}

static void make_org_info_changed(cb_event_t *ev)
{
    org_event(ev, CB_ORG_INFO_CHANGED);
}

static void make_dissolved(cb_event_t *ev)
{
    base(ev, CB_EVENT_ORG, CB_ORG_DISSOLVED);
    set_org(&ev->org, "000.20.00.H19", "Phòng Tài chính - Kế hoạch huyện Nhơn Trạch",
            "UBND huyện Nhơn Trạch");
}

static void person_event(cb_event_t *ev, int type, bool leader, int reason)
{
    base(ev, CB_EVENT_PERSON, type);
    set_org(&ev->org, "000.00.07.H19", "Sở Tài chính", UBND);
    ev->person.person_id = strdup(PERSON_ID);
    ev->person.national_id = strdup("075085001234");
    ev->person.full_name = strdup("Nguyễn Văn An");
    ev->person.email = strdup("annv@dongnai.gov.vn");
    ev->person.title = strdup("Phó Giám đốc");
    ev->person.is_leader = leader;
    ev->departure_reason = reason;
}

static void make_transferred(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_TRANSFERRED, false, CB_DEPARTURE_NONE);
}

static void make_transferred_leader(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_TRANSFERRED, true, CB_DEPARTURE_NONE);
}

static void make_position_changed(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_POSITION_CHANGED, false, CB_DEPARTURE_NONE);
}

static void make_position_changed_leader(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_POSITION_CHANGED, true, CB_DEPARTURE_NONE);
}

static void make_person_info_changed(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_INFO_CHANGED, false, CB_DEPARTURE_NONE);
}

static void make_retired(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_DEPARTED, true, CB_DEPARTURE_RETIRED);
}

static void make_resigned(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_DEPARTED, false, CB_DEPARTURE_RESIGNED);
}

static void make_deceased(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_DEPARTED, false, CB_DEPARTURE_DECEASED);
}

static void make_dismissed(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_DEPARTED, false, CB_DEPARTURE_DISMISSED);
}

static void make_departed_other(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_DEPARTED, false, CB_DEPARTURE_OTHER);
}

static void make_departed_no_reason(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_DEPARTED, false, CB_DEPARTURE_NONE);
}

static void make_not_needed(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_CERTIFICATE_NOT_NEEDED, false, CB_DEPARTURE_NONE);
}

static void make_joined(cb_event_t *ev)
{
    person_event(ev, CB_PERSON_JOINED, false, CB_DEPARTURE_NONE);
}

/* One expected intent. note: a substring the note must contain. */
typedef struct exp_intent {
    cb_action_t action;
    cb_holder_type_t holder_type;
    const char *holder_id;
    const char *holder_name;
    cb_revocation_reason_t reason;
    const char *new_subject;
    bool emergency;
    const char *cascade_org_code;
    const char *note;
} exp_intent_t;

typedef struct rule_case {
    const char *name;
    void (*make)(cb_event_t *);
    cb_policy_t policy;
    size_t count;
    exp_intent_t exp[12];
} rule_case_t;

#define DEFAULT_POLICY                                                                             \
    {                                                                                              \
        false, false, false                                                                        \
    }
#define CASCADE                                                                                    \
    {                                                                                              \
        false, false, true                                                                         \
    }
#define ALL_ON                                                                                     \
    {                                                                                              \
        true, true, true                                                                           \
    }

#define ORG  CB_HOLDER_ORGANIZATION
#define PERS CB_HOLDER_PERSON
#define NONE CB_REASON_NONE
#define CESS CB_REASON_CESSATION_OF_OPERATION
#define AFFL CB_REASON_AFFILIATION_CHANGED

#define RECALL(id, name)                                                                             \
    {                                                                                                \
        CB_ACTION_RECALL_DEVICE, ORG, id, name, NONE, NULL, false, NULL, "Cục Chứng thực số" \
    }
#define REVOKE_MERGED(id, name)                                                                    \
    {                                                                                              \
        CB_ACTION_REVOKE, ORG, id, name, CESS, NULL, false, NULL, "sáp nhập"                    \
    }
#define P_RECALL                                                                                   \
    {                                                                                              \
        CB_ACTION_RECALL_DEVICE, PERS, PERSON_ID, "Nguyễn Văn An", NONE, NULL, false, NULL,        \
            "return it to the Department of Digital Certification and Information Security"        \
    }
#define P_CHANGE(emerg, note)                                                                      \
    {                                                                                              \
        CB_ACTION_CHANGE_INFO, PERS, PERSON_ID, "Nguyễn Văn An", NONE, PERSON_SUBJECT, emerg,      \
            NULL, note                                                                             \
    }
#define P_REVOKE(reason, note)                                                                     \
    {                                                                                              \
        CB_ACTION_REVOKE, PERS, PERSON_ID, "Nguyễn Văn An", reason, NULL, false, NULL, note        \
    }
#define CASCADE_OF(code, name)                                                                     \
    {                                                                                              \
        CB_ACTION_CHANGE_INFO, PERS, NULL, name, NONE, NULL, false, code,                          \
            "leaders may keep signing"                                                             \
    }

#define A_NAME "UBND xã Phước Thiền"
#define B_NAME "UBND xã Phú Hội"
#define C_NAME "UBND xã Phú Hữu"

static const rule_case_t cases[] = {
    /* MERGED into a new organization: the first merged org carries */
    {"merged_new_default_carrier",
     make_merged_new,
     DEFAULT_POLICY,
     5,
     {{CB_ACTION_CHANGE_INFO, ORG, COMMUNE_A, A_NAME, NONE, NEW_COMMUNE_SUBJECT, false, NULL,
       "new merged organization"},
      REVOKE_MERGED(COMMUNE_B, B_NAME),
      RECALL(COMMUNE_B, B_NAME),
      REVOKE_MERGED(COMMUNE_C, C_NAME),
      RECALL(COMMUNE_C, C_NAME)}},
    {"merged_new_explicit_carrier",
     make_merged_new_carrier_b,
     DEFAULT_POLICY,
     5,
     {{CB_ACTION_CHANGE_INFO, ORG, COMMUNE_B, B_NAME, NONE, NEW_COMMUNE_SUBJECT, false, NULL,
       "Thay đổi thông tin"},
      REVOKE_MERGED(COMMUNE_A, A_NAME),
      RECALL(COMMUNE_A, A_NAME),
      REVOKE_MERGED(COMMUNE_C, C_NAME),
      RECALL(COMMUNE_C, C_NAME)}},
    {"merged_new_last_carrier",
     make_merged_new_carrier_c,
     DEFAULT_POLICY,
     5,
     {{CB_ACTION_CHANGE_INFO, ORG, COMMUNE_C, C_NAME, NONE, NEW_COMMUNE_SUBJECT, false, NULL,
       "keep using it"},
      REVOKE_MERGED(COMMUNE_A, A_NAME),
      RECALL(COMMUNE_A, A_NAME),
      REVOKE_MERGED(COMMUNE_B, B_NAME),
      RECALL(COMMUNE_B, B_NAME)}},
    /* MERGED into an existing organization: it keeps its certificate */
    {"merged_existing",
     make_merged_existing,
     DEFAULT_POLICY,
     7,
     {{CB_ACTION_RETAIN, ORG, DEPT_EXISTING, "Sở Nội vụ", NONE, NULL, false, NULL,
       "Keep using the organization's existing certificate"},
      REVOKE_MERGED(COMMUNE_A, A_NAME),
      RECALL(COMMUNE_A, A_NAME),
      REVOKE_MERGED(COMMUNE_B, B_NAME),
      RECALL(COMMUNE_B, B_NAME),
      REVOKE_MERGED(COMMUNE_C, C_NAME),
      RECALL(COMMUNE_C, C_NAME)}},
    /* the resulting org listed among merged_orgs is not revoked */
    {"merged_existing_listed_itself",
     make_merged_existing_listed,
     DEFAULT_POLICY,
     7,
     {{CB_ACTION_RETAIN, ORG, DEPT_EXISTING, "Sở Nội vụ", NONE, NULL, false, NULL, "Tiếp tục"},
      REVOKE_MERGED(COMMUNE_A, A_NAME),
      RECALL(COMMUNE_A, A_NAME),
      REVOKE_MERGED(COMMUNE_B, B_NAME),
      RECALL(COMMUNE_B, B_NAME),
      REVOKE_MERGED(COMMUNE_C, C_NAME),
      RECALL(COMMUNE_C, C_NAME)}},
    {"renamed",
     make_renamed,
     DEFAULT_POLICY,
     1,
     {{CB_ACTION_CHANGE_INFO, ORG, DEPT_EXISTING, "Sở Nội vụ", NONE, ORG_SUBJECT("Sở Nội vụ"),
       false, NULL, "do not apply for a new certificate"}}},
    {"parent_changed",
     make_parent_changed,
     DEFAULT_POLICY,
     1,
     {{CB_ACTION_CHANGE_INFO, ORG, DEPT_EXISTING, "Sở Nội vụ", NONE, ORG_SUBJECT("Sở Nội vụ"),
       false, NULL, "Thay đổi nội dung thông tin"}}},
    {"org_info_changed",
     make_org_info_changed,
     DEFAULT_POLICY,
     1,
     {{CB_ACTION_CHANGE_INFO, ORG, DEPT_EXISTING, "Sở Nội vụ", NONE, ORG_SUBJECT("Sở Nội vụ"),
       false, NULL, "new information"}}},
    {"dissolved",
     make_dissolved,
     DEFAULT_POLICY,
     2,
     {{CB_ACTION_REVOKE, ORG, "000.20.00.H19", "Phòng Tài chính - Kế hoạch huyện Nhơn Trạch", CESS,
       NULL, false, NULL, "giải thể"},
      RECALL("000.20.00.H19", "Phòng Tài chính - Kế hoạch huyện Nhơn Trạch")}},
    {"transferred", make_transferred, DEFAULT_POLICY, 1, {P_CHANGE(false, "new agency and title")}},
    {"transferred_leader",
     make_transferred_leader,
     DEFAULT_POLICY,
     1,
     {P_CHANGE(true, "may keep signing with the existing certificate until the change is done")}},
    {"position_changed_change_info",
     make_position_changed,
     DEFAULT_POLICY,
     1,
     {P_CHANGE(false, "Thay đổi nội dung thông tin chứng thư số cá nhân")}},
    {"position_changed_leader",
     make_position_changed_leader,
     DEFAULT_POLICY,
     1,
     {P_CHANGE(true, "lãnh đạo được tiếp tục ký số")}},
    {"position_changed_revoke",
     make_position_changed,
     {false, true, false},
     2,
     {P_REVOKE(AFFL, "no longer matches"), P_RECALL}},
    {"person_info_changed",
     make_person_info_changed,
     DEFAULT_POLICY,
     1,
     {P_CHANGE(false, "personal certificate's information")}},
    {"retired", make_retired, DEFAULT_POLICY, 2, {P_REVOKE(AFFL, "nghỉ hưu"), P_RECALL}},
    {"resigned", make_resigned, DEFAULT_POLICY, 2, {P_REVOKE(AFFL, "resigned"), P_RECALL}},
    {"deceased", make_deceased, DEFAULT_POLICY, 2, {P_REVOKE(CESS, "từ trần"), P_RECALL}},
    {"dismissed", make_dismissed, DEFAULT_POLICY, 2, {P_REVOKE(AFFL, "dismissed"), P_RECALL}},
    {"departed_other", make_departed_other, DEFAULT_POLICY, 2, {P_REVOKE(AFFL, "left"), P_RECALL}},
    {"departed_no_reason",
     make_departed_no_reason,
     DEFAULT_POLICY,
     2,
     {P_REVOKE(AFFL, "left the agency"), P_RECALL}},
    {"certificate_not_needed",
     make_not_needed,
     DEFAULT_POLICY,
     2,
     {P_REVOKE(CESS, "no longer needed"), P_RECALL}},
    {"joined_review",
     make_joined,
     DEFAULT_POLICY,
     1,
     {{CB_ACTION_REVIEW, PERS, PERSON_ID, "Nguyễn Văn An", NONE, NULL, false, NULL,
       "no new issuance during the reorganization"}}},
    {"joined_allow",
     make_joined,
     {true, false, false},
     1,
     {{CB_ACTION_ISSUE, PERS, PERSON_ID, "Nguyễn Văn An", NONE, PERSON_SUBJECT, false, NULL,
       "cấp mới"}}},
    /* policy.cascade_personal */
    {"renamed_cascade",
     make_renamed,
     CASCADE,
     2,
     {{CB_ACTION_CHANGE_INFO, ORG, DEPT_EXISTING, "Sở Nội vụ", NONE, ORG_SUBJECT("Sở Nội vụ"),
       false, NULL, "Change the organization"},
      CASCADE_OF(DEPT_EXISTING, "Sở Nội vụ")}},
    {"parent_changed_cascade",
     make_parent_changed,
     CASCADE,
     2,
     {{CB_ACTION_CHANGE_INFO, ORG, DEPT_EXISTING, "Sở Nội vụ", NONE, ORG_SUBJECT("Sở Nội vụ"),
       false, NULL, "Change the organization"},
      CASCADE_OF(DEPT_EXISTING, "Sở Nội vụ")}},
    {"merged_new_cascade",
     make_merged_new_carrier_b,
     CASCADE,
     8,
     {{CB_ACTION_CHANGE_INFO, ORG, COMMUNE_B, B_NAME, NONE, NEW_COMMUNE_SUBJECT, false, NULL,
       "merged"},
      CASCADE_OF(COMMUNE_A, A_NAME),
      CASCADE_OF(COMMUNE_B, B_NAME),
      CASCADE_OF(COMMUNE_C, C_NAME),
      REVOKE_MERGED(COMMUNE_A, A_NAME),
      RECALL(COMMUNE_A, A_NAME),
      REVOKE_MERGED(COMMUNE_C, C_NAME),
      RECALL(COMMUNE_C, C_NAME)}},
    {"merged_existing_cascade",
     make_merged_existing_listed,
     CASCADE,
     10,
     {{CB_ACTION_RETAIN, ORG, DEPT_EXISTING, "Sở Nội vụ", NONE, NULL, false, NULL,
       "Tiếp tục sử dụng"},
      CASCADE_OF(COMMUNE_A, A_NAME),
      CASCADE_OF(COMMUNE_B, B_NAME),
      CASCADE_OF(COMMUNE_C, C_NAME),
      REVOKE_MERGED(COMMUNE_A, A_NAME),
      RECALL(COMMUNE_A, A_NAME),
      REVOKE_MERGED(COMMUNE_B, B_NAME),
      RECALL(COMMUNE_B, B_NAME),
      REVOKE_MERGED(COMMUNE_C, C_NAME),
      RECALL(COMMUNE_C, C_NAME)}},
    /* switches that do not apply leave other events alone */
    {"dissolved_all_switches",
     make_dissolved,
     ALL_ON,
     2,
     {{CB_ACTION_REVOKE, ORG, "000.20.00.H19", "Phòng Tài chính - Kế hoạch huyện Nhơn Trạch", CESS,
       NULL, false, NULL, "dissolved"},
      RECALL("000.20.00.H19", "Phòng Tài chính - Kế hoạch huyện Nhơn Trạch")}},
    {"transferred_leader_all_switches",
     make_transferred_leader,
     ALL_ON,
     1,
     {P_CHANGE(true, "keep signing")}},
};

/* Fails with the case and index named when got differs from exp (NULL
 * meaning absent). */
static void expect_str(const char *where, const char *field, const char *got, const char *exp)
{
    if ((got == NULL) != (exp == NULL) || (got && strcmp(got, exp) != 0))
        fail_msg("%s: %s \"%s\", expected \"%s\"", where, field, got ? got : "(null)",
                 exp ? exp : "(null)");
}

static void check_intent(const char *name, size_t i, const cb_intent_t *it, const exp_intent_t *e,
                         const cb_event_t *ev)
{
    char where[160];

    snprintf(where, sizeof(where), "%s[%zu]", name, i);
    if (it->action != e->action)
        fail_msg("%s: action %s, expected %s", where, cb_action_name(it->action),
                 cb_action_name(e->action));
    if (it->holder_type != e->holder_type)
        fail_msg("%s: holder_type %d, expected %d", where, it->holder_type, e->holder_type);
    expect_str(where, "holder_id", it->holder_id, e->holder_id);
    expect_str(where, "holder_name", it->holder_name, e->holder_name);
    if (it->reason != e->reason)
        fail_msg("%s: reason %d, expected %d", where, it->reason, e->reason);
    expect_str(where, "new_subject", it->new_subject, e->new_subject);
    if (it->emergency_signing_allowed != e->emergency)
        fail_msg("%s: emergency_signing_allowed %d", where, it->emergency_signing_allowed);
    assert_non_null(it->note);
    if (!strstr(it->note, e->note))
        fail_msg("%s: note \"%s\" lacks \"%s\"", where, it->note, e->note);
    if (e->cascade_org_code) {
        assert_string_equal(it->cascade_org_code, e->cascade_org_code);
        assert_non_null(it->cascade_org);
        assert_string_equal(it->cascade_org->code, ev->org.code);
        assert_string_equal(it->cascade_org->name, ev->org.name);
        assert_string_equal(it->cascade_org->parent_name, ev->org.parent_name);
        assert_string_equal(it->cascade_org->province, ev->org.province);
        assert_ptr_not_equal(it->cascade_org->name, ev->org.name); /* a copy */
    } else {
        assert_null(it->cascade_org_code);
        assert_null(it->cascade_org);
    }
}

static void test_table(void **state)
{
    size_t c, i;

    (void)state;
    for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const rule_case_t *rc = &cases[c];
        cb_intent_list_t out = {NULL, 0};
        cb_error_t err;
        cb_event_t ev;

        rc->make(&ev);
        cb_error_clear(&err);
        assert_int_equal(cb_event_validate(&ev, &err), 0);
        if (cb_rules_plan(&ev, &rc->policy, &out, &err) != 0)
            fail_msg("%s: %s", rc->name, err.msg);
        if (out.count != rc->count)
            fail_msg("%s: %zu intents, expected %zu", rc->name, out.count, rc->count);
        for (i = 0; i < out.count; i++)
            check_intent(rc->name, i, &out.items[i], &rc->exp[i], &ev);
        cb_intent_list_clear(&out);
        assert_null(out.items);
        assert_int_equal(out.count, 0);
        cb_event_clear(&ev);
    }
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Planning the same event twice gives the same list, field by field. */
static void test_deterministic(void **state)
{
    size_t c, i;

    (void)state;
    for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        cb_intent_list_t a = {NULL, 0}, b = {NULL, 0};
        cb_error_t err;
        cb_event_t ev;

        cases[c].make(&ev);
        assert_int_equal(cb_rules_plan(&ev, &cases[c].policy, &a, &err), 0);
        assert_int_equal(cb_rules_plan(&ev, &cases[c].policy, &b, &err), 0);
        assert_int_equal(a.count, b.count);
        for (i = 0; i < a.count; i++) {
            assert_int_equal(a.items[i].action, b.items[i].action);
            assert_int_equal(a.items[i].holder_type, b.items[i].holder_type);
            assert_true(same_str(a.items[i].holder_id, b.items[i].holder_id));
            assert_true(same_str(a.items[i].new_subject, b.items[i].new_subject));
            assert_true(same_str(a.items[i].cascade_org_code, b.items[i].cascade_org_code));
            assert_int_equal(a.items[i].reason, b.items[i].reason);
            assert_ptr_equal(a.items[i].note, b.items[i].note);
        }
        cb_intent_list_clear(&a);
        cb_intent_list_clear(&b);
        cb_event_clear(&ev);
    }
}

static void test_nonempty_output_refused(void **state)
{
    cb_intent_list_t out = {NULL, 0};
    cb_policy_t policy = DEFAULT_POLICY;
    cb_error_t err;
    cb_event_t ev;

    (void)state;
    make_dissolved(&ev);
    assert_int_equal(cb_rules_plan(&ev, &policy, &out, &err), 0);
    assert_int_equal(cb_rules_plan(&ev, &policy, &out, &err), -1);
    assert_int_equal(err.code, CB_ERR_INTERNAL);
    assert_int_equal(out.count, 2); /* left alone */
    cb_intent_list_clear(&out);
    cb_event_clear(&ev);
}

/* A merger of n communes into a new one. */
static void merger_of(cb_event_t *ev, size_t n)
{
    char code[32];
    size_t i;

    base(ev, CB_EVENT_ORG, CB_ORG_MERGED);
    set_org(&ev->org, NEW_COMMUNE, "Ủy ban nhân dân xã Phước An", UBND);
    ev->result_is_new = true;
    ev->merged_orgs = calloc(n, sizeof(cb_org_t));
    ev->merged_count = n;
    for (i = 0; i < n; i++) {
        snprintf(code, sizeof(code), "000.%02zu.%02zu.H19", i / 100, i % 100);
        set_org(&ev->merged_orgs[i], code, "UBND xã", UBND);
    }
}

/* The actions of one event are capped. A merger into a new organization
 * plans a carrier change, then per other merged organization a revocation
 * and a recall (2n - 1), plus a cascade per merged organization with
 * policy.cascade_personal (3n - 1): 171 organizations fit, 172 do not. */
static void test_actions_per_event_limit(void **state)
{
    cb_intent_list_t out = {NULL, 0};
    cb_policy_t plain = DEFAULT_POLICY, cascade = CASCADE;
    cb_error_t err;
    cb_event_t ev;

    (void)state;
    merger_of(&ev, CB_MERGED_ORGS_MAX);
    assert_int_equal(cb_rules_plan(&ev, &plain, &out, &err), 0);
    assert_int_equal(out.count, 2 * CB_MERGED_ORGS_MAX - 1);
    cb_intent_list_clear(&out);
    cb_event_clear(&ev);
    merger_of(&ev, 171);
    assert_int_equal(cb_rules_plan(&ev, &cascade, &out, &err), 0);
    assert_int_equal(out.count, CB_EVENT_ACTIONS_MAX);
    cb_intent_list_clear(&out);
    cb_event_clear(&ev);
    merger_of(&ev, 172);
    assert_int_equal(cb_rules_plan(&ev, &cascade, &out, &err), -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);
    assert_string_equal(err.msg, "event: 515 planned actions exceed the limit of 512");
    assert_null(out.items);
    assert_int_equal(out.count, 0);
    cb_event_clear(&ev);
}

static void test_policy_from_config(void **state)
{
    cb_config_t *cfg = cb_config_new();
    cb_policy_t p;
    cb_error_t err;

    (void)state;
    assert_int_equal(cb_policy_from_config(cfg, &p, &err), 0);
    assert_false(p.issue_new_allow);
    assert_false(p.position_change_revoke);
    assert_false(p.cascade_personal);
    assert_int_equal(cb_config_set(cfg, "policy.issue_new", "allow", &err), 0);
    assert_int_equal(cb_policy_from_config(cfg, &p, &err), 0);
    assert_true(p.issue_new_allow);
    assert_false(p.position_change_revoke);
    assert_int_equal(cb_config_set(cfg, "policy.position_change", "revoke", &err), 0);
    assert_int_equal(cb_config_set(cfg, "policy.cascade_personal", "true", &err), 0);
    assert_int_equal(cb_policy_from_config(cfg, &p, &err), 0);
    assert_true(p.issue_new_allow);
    assert_true(p.position_change_revoke);
    assert_true(p.cascade_personal);
    assert_int_equal(cb_config_set(cfg, "policy.issue_new", "review", &err), 0);
    assert_int_equal(cb_policy_from_config(cfg, &p, &err), 0);
    assert_false(p.issue_new_allow);
    cb_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_nonempty_output_refused),
        cmocka_unit_test(test_actions_per_event_limit),
        cmocka_unit_test(test_policy_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
