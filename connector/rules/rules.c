/*
 * rules.c: the reorganization rules (docs/DOMAIN.md §3).
 *
 * One validated event and a policy in, an ordered list of holder-level
 * intents out. Pure: no I/O, no clock, no randomness, so a replay of the same
 * event under the same policy plans exactly the same intents. The order
 * follows docs/DOMAIN.md §3.1's table top to bottom; for a merger the resulting (or
 * carrier) intent comes first, then the cascade intents when
 * policy.cascade_personal is on, then REVOKE + RECALL_DEVICE per merged
 * organization in merged_orgs order.
 */
#include "certbridge/rules.h"

#include <stdlib.h>
#include <string.h>

#include "certbridge/subject.h"
#include "certbridge/text.h"

/* Notes: what people must do, Vietnamese then English. */
#define NOTE_RECALL                                                                                                   \
    "Thu hồi thiết bị lưu khóa bí mật, gửi về Cục Chứng thực số và Bảo mật thông tin / " \
    "Recall the key token and return it to the Department of Digital Certification and "                              \
    "Information Security"
#define NOTE_ORG_CHANGE                                                                                                  \
    "Thay đổi nội dung thông tin chứng thư số của cơ quan theo thông tin mới, không làm thủ tục " \
    "cấp mới / Change the organization certificate's information to the new information; do not "                    \
    "apply for a new certificate"
#define NOTE_CARRIER                                                                                                     \
    "Thay đổi thông tin chứng thư số của cơ quan này thành thông tin cơ quan mới sau sáp nhập và " \
    "tiếp tục sử dụng / Change this organization's certificate to the information of the new "                   \
    "merged organization and keep using it"
#define NOTE_RETAIN                                                                                                    \
    "Tiếp tục sử dụng chứng thư số hiện có của cơ quan, không cần thay đổi / Keep using the " \
    "organization's existing certificate; no change needed"
#define NOTE_REVOKE_MERGED                                                                                         \
    "Thu hồi chứng thư số của cơ quan đã sáp nhập vào cơ quan khác / Revoke the certificate of " \
    "the organization that was merged into another"
#define NOTE_REVOKE_DISSOLVED                                                                                 \
    "Thu hồi chứng thư số của cơ quan đã giải thể / Revoke the certificate of the dissolved " \
    "organization"
#define NOTE_PERSON_CHANGE                                                                                         \
    "Thay đổi nội dung thông tin chứng thư số cá nhân theo cơ quan, chức danh mới / Change the " \
    "personal certificate's information to the new agency and title"
#define NOTE_LEADER_CHANGE                                                                                                       \
    "Thay đổi nội dung thông tin chứng thư số cá nhân; lãnh đạo được tiếp tục ký số bằng chứng " \
    "thư số hiện có cho đến khi thay đổi xong / Change the personal certificate's information; "                     \
    "as a leader, you may keep signing with the existing certificate until the change is done"
#define NOTE_CASCADE                                                                                                         \
    "Thay đổi thông tin chứng thư số cá nhân của mọi cán bộ có tên cơ quan này trong chứng thư; "   \
    "lãnh đạo được tiếp tục ký số bằng chứng thư hiện có đến khi thay đổi xong / Change every " \
    "personal certificate that names this organization; leaders may keep signing with their "                                \
    "existing certificates until the change is done"
#define NOTE_RETIRED                                                                                      \
    "Thu hồi chứng thư số cá nhân do nghỉ hưu / Revoke the personal certificate: the holder " \
    "retired"
#define NOTE_RESIGNED                                                                                      \
    "Thu hồi chứng thư số cá nhân do thôi việc / Revoke the personal certificate: the holder " \
    "resigned"
#define NOTE_DECEASED                                                                                       \
    "Thu hồi chứng thư số cá nhân do người sử dụng đã từ trần / Revoke the personal " \
    "certificate: the holder died"
#define NOTE_DISMISSED                                                                                          \
    "Thu hồi chứng thư số cá nhân do bị buộc thôi việc / Revoke the personal certificate: the " \
    "holder was dismissed"
#define NOTE_DEPARTED                                                                                       \
    "Thu hồi chứng thư số cá nhân do không còn công tác tại cơ quan / Revoke the personal " \
    "certificate: the holder left the agency"
#define NOTE_POSITION_REVOKE                                                                                      \
    "Thu hồi chứng thư số do chức danh mới không còn phù hợp với chứng thư (Nghị định " \
    "68/2024/NĐ-CP) / Revoke the certificate: the new position no longer matches it (Decree "                    \
    "68/2024/ND-CP)"
#define NOTE_NOT_NEEDED                                                                                         \
    "Thu hồi chứng thư số không còn nhu cầu sử dụng / Revoke the certificate that is no longer " \
    "needed"
#define NOTE_REVIEW                                                                                                             \
    "Cán bộ mới: xem xét nhu cầu chứng thư số; không cấp mới trong thời gian sắp xếp tổ chức bộ " \
    "máy / New staff member: review the certificate need; no new issuance during the "                                         \
    "reorganization"
#define NOTE_ISSUE "Đề nghị cấp mới chứng thư số cá nhân / Request a new personal certificate"

/* Reads one enum key that must be one of two values; *flag is true for the
 * second. The config table already checks values, so an unexpected one here
 * means the table and this code disagree: refused with the key named. */
static int policy_choice(const cb_config_t *cfg, const char *key, const char *off, const char *on,
                         bool *flag, cb_error_t *err)
{
    const char *v = cb_config_get(cfg, key);

    if (v && strcmp(v, off) == 0)
        *flag = false;
    else if (v && strcmp(v, on) == 0)
        *flag = true;
    else
        return cb_error_set(err, CB_ERR_CONFIG, "%s: expected %s or %s, got \"%s\"", key, off, on,
                            v ? v : "(unset)");
    return 0;
}

/* Reads the three policy.* keys into *policy (left alone on failure). */
int cb_policy_from_config(const cb_config_t *cfg, cb_policy_t *policy, cb_error_t *err)
{
    cb_policy_t p;

    memset(&p, 0, sizeof(p));
    if (policy_choice(cfg, "policy.issue_new", "review", "allow", &p.issue_new_allow, err) < 0 ||
        policy_choice(cfg, "policy.position_change", "change_info", "revoke",
                      &p.position_change_revoke, err) < 0)
        return -1;
    p.cascade_personal = cb_config_get_bool(cfg, "policy.cascade_personal");
    *policy = p;
    return 0;
}

/* Frees what one intent owns (its note is static). */
static void intent_free(cb_intent_t *it)
{
    free(it->holder_id);
    free(it->holder_name);
    free(it->new_subject);
    free(it->cascade_org_code);
    if (it->cascade_org) {
        cb_org_clear(it->cascade_org);
        free(it->cascade_org);
    }
    if (it->approval) {
        free(it->approval->request_id);
        free(it->approval->agency_code);
        free(it->approval->agency_name);
        free(it->approval->document_number);
        free(it->approval->approver);
        free(it->approval);
    }
}

void cb_intent_clear(cb_intent_t *it)
{
    intent_free(it);
    memset(it, 0, sizeof(*it));
}

/* Frees every intent and the array; leaves list empty. Safe on NULL. */
void cb_intent_list_clear(cb_intent_list_t *list)
{
    size_t i;

    if (!list)
        return;
    for (i = 0; i < list->count; i++)
        intent_free(&list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* The growing list plus its capacity, private to one cb_rules_plan call. */
typedef struct builder {
    cb_intent_list_t *out;
    size_t cap;
    const cb_event_t *ev;
    const cb_policy_t *policy;
    cb_error_t *err;
} builder_t;

/* Appends one intent with copies of holder_id and holder_name; takes
 * ownership of new_subject (freed on failure too). Returns the new intent or
 * NULL with err set. */
static cb_intent_t *add(builder_t *b, cb_action_t action, cb_holder_type_t holder_type,
                        const char *holder_id, const char *holder_name,
                        cb_revocation_reason_t reason, char *new_subject, const char *note)
{
    cb_intent_t *it;
    bool ok = true;

    if (b->out->count == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 8;
        cb_intent_t *n = realloc(b->out->items, ncap * sizeof(*n));
        if (!n)
            goto nomem;
        b->out->items = n;
        b->cap = ncap;
    }
    it = &b->out->items[b->out->count];
    memset(it, 0, sizeof(*it));
    it->action = action;
    it->holder_type = holder_type;
    it->reason = reason;
    it->note = note;
    it->holder_id = cb_text_dup_opt(holder_id, &ok);
    it->holder_name = cb_text_dup_opt(holder_name, &ok);
    it->new_subject = new_subject;
    b->out->count++;
    if (!ok) {
        cb_error_set(b->err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return it;
nomem:
    free(new_subject);
    cb_error_set(b->err, CB_ERR_NOMEM, "out of memory");
    return NULL;
}

/* Deep copy of an organization into a new heap cb_org_t. */
static cb_org_t *org_dup(const cb_org_t *src)
{
    cb_org_t *o = calloc(1, sizeof(*o));
    bool ok = true;

    if (!o)
        return NULL;
    o->code = cb_text_dup_opt(src->code, &ok);
    o->name = cb_text_dup_opt(src->name, &ok);
    o->parent_code = cb_text_dup_opt(src->parent_code, &ok);
    o->parent_name = cb_text_dup_opt(src->parent_name, &ok);
    o->province = cb_text_dup_opt(src->province, &ok);
    o->address = cb_text_dup_opt(src->address, &ok);
    if (!ok) {
        cb_org_clear(o);
        free(o);
        return NULL;
    }
    return o;
}

/* The cascade intent of policy.cascade_personal: CHANGE_INFO on every
 * personal certificate naming the organization `affected` (code and name),
 * whose organization parts become those of ev->org. No-op when the policy is
 * off. */
static int add_cascade(builder_t *b, const cb_org_t *affected)
{
    cb_intent_t *it;

    if (!b->policy->cascade_personal)
        return 0;
    it = add(b, CB_ACTION_CHANGE_INFO, CB_HOLDER_PERSON, NULL, affected->name, CB_REASON_NONE, NULL,
             NOTE_CASCADE);
    if (!it)
        return -1;
    it->cascade_org_code = strdup(affected->code);
    it->cascade_org = org_dup(&b->ev->org);
    if (!it->cascade_org_code || !it->cascade_org)
        return cb_error_set(b->err, CB_ERR_NOMEM, "out of memory");
    return 0;
}

/* REVOKE with reason + RECALL_DEVICE on one holder. */
static int add_revoke_recall(builder_t *b, cb_holder_type_t t, const char *id, const char *name,
                             cb_revocation_reason_t reason, const char *note)
{
    if (!add(b, CB_ACTION_REVOKE, t, id, name, reason, NULL, note) ||
        !add(b, CB_ACTION_RECALL_DEVICE, t, id, name, CB_REASON_NONE, NULL, NOTE_RECALL))
        return -1;
    return 0;
}

/* The carrier of a merger into a new organization: certificate_carrier, or
 * the first merged organization. */
static const cb_org_t *merger_carrier(const cb_event_t *ev)
{
    size_t i;

    if (ev->certificate_carrier)
        for (i = 0; i < ev->merged_count; i++)
            if (strcmp(ev->merged_orgs[i].code, ev->certificate_carrier) == 0)
                return &ev->merged_orgs[i];
    return &ev->merged_orgs[0];
}

/* MERGED: the carrier's CHANGE_INFO (new org) or the resulting org's RETAIN
 * (existing org) first, then one cascade intent per merged org, then REVOKE +
 * RECALL_DEVICE per merged org that does not carry on. */
static int plan_merged(builder_t *b)
{
    const cb_event_t *ev = b->ev;
    const cb_org_t *carrier = NULL;
    size_t i;

    if (ev->result_is_new) {
        char *subject = cb_subject_for_org(&ev->org, b->err);
        carrier = merger_carrier(ev);
        if (!subject || !add(b, CB_ACTION_CHANGE_INFO, CB_HOLDER_ORGANIZATION, carrier->code,
                             carrier->name, CB_REASON_NONE, subject, NOTE_CARRIER))
            return -1;
    } else if (!add(b, CB_ACTION_RETAIN, CB_HOLDER_ORGANIZATION, ev->org.code, ev->org.name,
                    CB_REASON_NONE, NULL, NOTE_RETAIN)) {
        return -1;
    }
    for (i = 0; i < ev->merged_count; i++) {
        const cb_org_t *m = &ev->merged_orgs[i];
        if (!ev->result_is_new && strcmp(m->code, ev->org.code) == 0)
            continue;
        if (add_cascade(b, m) < 0)
            return -1;
    }
    for (i = 0; i < ev->merged_count; i++) {
        const cb_org_t *m = &ev->merged_orgs[i];
        if (m == carrier || (!ev->result_is_new && strcmp(m->code, ev->org.code) == 0))
            continue;
        if (add_revoke_recall(b, CB_HOLDER_ORGANIZATION, m->code, m->name,
                              CB_REASON_CESSATION_OF_OPERATION, NOTE_REVOKE_MERGED) < 0)
            return -1;
    }
    return 0;
}

/* OrgEvent rows of docs/DOMAIN.md §3.1 (R1-R5). */
static int plan_org(builder_t *b)
{
    const cb_event_t *ev = b->ev;
    char *subject;

    switch ((cb_org_event_type_t)ev->type) {
    case CB_ORG_MERGED:
        return plan_merged(b);
    case CB_ORG_RENAMED:
    case CB_ORG_PARENT_CHANGED:
    case CB_ORG_INFO_CHANGED:
        subject = cb_subject_for_org(&ev->org, b->err);
        if (!subject || !add(b, CB_ACTION_CHANGE_INFO, CB_HOLDER_ORGANIZATION, ev->org.code,
                             ev->org.name, CB_REASON_NONE, subject, NOTE_ORG_CHANGE))
            return -1;
        return add_cascade(b, &ev->org);
    case CB_ORG_DISSOLVED:
        return add_revoke_recall(b, CB_HOLDER_ORGANIZATION, ev->org.code, ev->org.name,
                                 CB_REASON_CESSATION_OF_OPERATION, NOTE_REVOKE_DISSOLVED);
    case CB_ORG_CANCELLED: /* no action of its own: the pipeline cancels (cancel.h) */
        return 0;
    default:
        return cb_error_set(b->err, CB_ERR_INVALID, "event_type: not an OrgEvent type (%d)",
                            ev->type);
    }
}

/* A person's CHANGE_INFO to the subject of their current org; a leader keeps
 * signing with the existing certificate until it is done. */
static int add_person_change(builder_t *b)
{
    const cb_event_t *ev = b->ev;
    const cb_person_t *p = &ev->person;
    char *subject = cb_subject_for_person(p, &ev->org, b->err);
    cb_intent_t *it;

    if (!subject)
        return -1;
    it = add(b, CB_ACTION_CHANGE_INFO, CB_HOLDER_PERSON, p->person_id, p->full_name, CB_REASON_NONE,
             subject, p->is_leader ? NOTE_LEADER_CHANGE : NOTE_PERSON_CHANGE);
    if (!it)
        return -1;
    it->emergency_signing_allowed = p->is_leader;
    return 0;
}

/* DEPARTED: REVOKE + RECALL_DEVICE; the reason and note follow the
 * departure reason (a death is cessationOfOperation, the rest
 * affiliationChanged). */
static int plan_departed(builder_t *b)
{
    const cb_person_t *p = &b->ev->person;
    cb_revocation_reason_t reason = CB_REASON_AFFILIATION_CHANGED;
    const char *note;

    switch (b->ev->departure_reason) {
    case CB_DEPARTURE_RETIRED:
        note = NOTE_RETIRED;
        break;
    case CB_DEPARTURE_RESIGNED:
        note = NOTE_RESIGNED;
        break;
    case CB_DEPARTURE_DECEASED:
        note = NOTE_DECEASED;
        reason = CB_REASON_CESSATION_OF_OPERATION;
        break;
    case CB_DEPARTURE_DISMISSED:
        note = NOTE_DISMISSED;
        break;
    default:
        note = NOTE_DEPARTED;
        break;
    }
    return add_revoke_recall(b, CB_HOLDER_PERSON, p->person_id, p->full_name, reason, note);
}

/* PersonEvent rows of docs/DOMAIN.md §3.1 (R6-R13), with the issue_new and position_change
 * switches. */
static int plan_person(builder_t *b)
{
    const cb_event_t *ev = b->ev;
    const cb_person_t *p = &ev->person;
    char *subject;

    switch ((cb_person_event_type_t)ev->type) {
    case CB_PERSON_POSITION_CHANGED:
        if (b->policy->position_change_revoke)
            return add_revoke_recall(b, CB_HOLDER_PERSON, p->person_id, p->full_name,
                                     CB_REASON_AFFILIATION_CHANGED, NOTE_POSITION_REVOKE);
        return add_person_change(b);
    case CB_PERSON_TRANSFERRED:
    case CB_PERSON_INFO_CHANGED:
        return add_person_change(b);
    case CB_PERSON_DEPARTED:
        return plan_departed(b);
    case CB_PERSON_CERTIFICATE_NOT_NEEDED:
        return add_revoke_recall(b, CB_HOLDER_PERSON, p->person_id, p->full_name,
                                 CB_REASON_CESSATION_OF_OPERATION, NOTE_NOT_NEEDED);
    case CB_PERSON_JOINED:
        if (!b->policy->issue_new_allow)
            return add(b, CB_ACTION_REVIEW, CB_HOLDER_PERSON, p->person_id, p->full_name,
                       CB_REASON_NONE, NULL, NOTE_REVIEW)
                       ? 0
                       : -1;
        subject = cb_subject_for_person(p, &ev->org, b->err);
        if (!subject || !add(b, CB_ACTION_ISSUE, CB_HOLDER_PERSON, p->person_id, p->full_name,
                             CB_REASON_NONE, subject, NOTE_ISSUE))
            return -1;
        return 0;
    case CB_PERSON_CANCELLED: /* as CB_ORG_CANCELLED */
        return 0;
    default:
        return cb_error_set(b->err, CB_ERR_INVALID, "event_type: not a PersonEvent type (%d)",
                            ev->type);
    }
}

/* Plans ev under policy into the empty list out; on failure out is left
 * empty. */
int cb_rules_plan(const cb_event_t *ev, const cb_policy_t *policy, cb_intent_list_t *out,
                  cb_error_t *err)
{
    builder_t b;
    int rc;

    if (out->items || out->count)
        return cb_error_set(err, CB_ERR_INTERNAL, "rules: the output list is not empty");
    b.out = out;
    b.cap = 0;
    b.ev = ev;
    b.policy = policy;
    b.err = err;
    if (ev->kind == CB_EVENT_ORG)
        rc = plan_org(&b);
    else if (ev->kind == CB_EVENT_PERSON)
        rc = plan_person(&b);
    else
        rc = cb_error_set(err, CB_ERR_INVALID, "event: unknown kind %d", (int)ev->kind);
    if (rc == 0 && out->count > CB_EVENT_ACTIONS_MAX)
        rc = cb_error_set(err, CB_ERR_LIMIT, "event: %zu planned actions exceed the limit of %d",
                          out->count, CB_EVENT_ACTIONS_MAX);
    if (rc < 0)
        cb_intent_list_clear(out);
    return rc;
}
