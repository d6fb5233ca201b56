/*
 * gate.c: the approval gate's pure parts (gate.h).
 */
#include "certbridge/gate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/approval.h" /* cb_approval_date_format */

int cb_gate_mode_from_config(const cb_config_t *cfg, cb_gate_mode_t *out, cb_error_t *err)
{
    const char *v = cb_config_get(cfg, "policy.approval");

    if (!v || !strcmp(v, "revoke"))
        *out = CB_GATE_REVOKE;
    else if (!strcmp(v, "none"))
        *out = CB_GATE_NONE;
    else if (!strcmp(v, "all"))
        *out = CB_GATE_ALL;
    else
        return cb_error_set(err, CB_ERR_CONFIG,
                            "policy.approval: expected none, revoke or all, got \"%.64s\"", v);
    return 0;
}

bool cb_gate_needs(cb_gate_mode_t mode, const cb_intent_t *in)
{
    switch (mode) {
    case CB_GATE_REVOKE:
        return in->action == CB_ACTION_REVOKE;
    case CB_GATE_ALL:
        /* every action that calls the CA; RETAIN and REVIEW call nothing */
        return in->action != CB_ACTION_RETAIN && in->action != CB_ACTION_REVIEW;
    default:
        return false;
    }
}

size_t cb_gate_count(cb_gate_mode_t mode, const cb_intent_list_t *list)
{
    size_t i, n = 0;

    for (i = 0; i < list->count; i++)
        n += cb_gate_needs(mode, &list->items[i]);
    return n;
}

void cb_gate_agency(const cb_event_t *ev, const char **code, const char **name)
{
    if (ev->kind == CB_EVENT_ORG && ev->org.parent_code && *ev->org.parent_code) {
        *code = ev->org.parent_code;
        *name = ev->org.parent_name;
    } else {
        /* a person's organization, or an organization without a superior */
        *code = ev->org.code ? ev->org.code : "";
        *name = ev->org.name;
    }
}

char *cb_gate_request_id(const char *code, int64_t at_ms, int tz_offset_min,
                         char buf[CB_GATE_REQUEST_ID_MAX])
{
    int64_t local = at_ms + (int64_t)tz_offset_min * 60000;
    int64_t days = local >= 0 ? local / 86400000 : -((-local + 86399999) / 86400000);
    char date[11];

    cb_approval_date_format((int32_t)days, date);
    snprintf(buf, CB_GATE_REQUEST_ID_MAX, "%.*s-%.4s%.2s%.2s", CB_ORG_CODE_MAX, code, date,
             date + 5, date + 8);
    return buf;
}

char *cb_gate_action_id(const char *event_id, size_t i)
{
    size_t n = strlen(event_id) + 32;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, "%s/approval/%zu", event_id, i);
    return s;
}

static int dup_to(char **dst, const char *s)
{
    if (!s)
        return 0;
    return (*dst = strdup(s)) ? 0 : -1;
}

int cb_gate_outcome(const cb_event_t *ev, const cb_intent_list_t *intents, size_t i,
                    const cb_schedule_src_t *src, const cb_gate_ref_t *ref, cb_gate_kind_t kind,
                    int64_t wall_ms, cb_outcome_t *o, cb_error_t *err)
{
    const cb_intent_t *it = &intents->items[i];
    const char *holder = it->holder_id ? it->holder_id : it->cascade_org_code;
    const char *agency = ref->agency_name ? ref->agency_name : ref->agency_code;
    char note[1024 + 2 * CB_GATE_REQUEST_ID_MAX + 2 * 256];
    int bad;

    cb_outcome_init(o);
    switch (kind) {
    case CB_GATE_AWAITING:
        snprintf(note, sizeof(note),
                 "Chờ phê duyệt của %.256s (yêu cầu %s). / Awaits the signed approval of %.256s "
                 "(request %s).",
                 agency, ref->request_id, agency, ref->request_id);
        o->status = CB_STATUS_AWAITING_APPROVAL;
        o->final = false;
        break;
    case CB_GATE_APPROVED:
        snprintf(note, sizeof(note),
                 "Đã được phê duyệt (yêu cầu %s); kết quả: %.64s/0... / Approved (request %s); "
                 "the actions' outcomes are %.64s/0 onwards.",
                 ref->request_id, ev->event_id, ref->request_id, ev->event_id);
        o->status = CB_STATUS_AWAITING_APPROVAL;
        break;
    case CB_GATE_REJECTED:
        snprintf(note, sizeof(note),
                 "Không được phê duyệt (yêu cầu %s): không thực hiện. / Rejected by the managing "
                 "agency (request %s): not executed.",
                 ref->request_id, ref->request_id);
        o->status = CB_STATUS_REJECTED;
        break;
    default:
        snprintf(note, sizeof(note),
                 "Đã hủy trước khi được phê duyệt (yêu cầu %s). / Cancelled while it awaited "
                 "approval (request %s).",
                 ref->request_id, ref->request_id);
        o->status = CB_STATUS_CANCELLED;
        break;
    }
    o->source_partition = src->partition;
    o->source_offset = src->offset;
    o->action_index = (int32_t)i;
    o->action_count = (int32_t)intents->count;
    o->action = it->action;
    o->holder_type = it->holder_type;
    o->revocation_reason = it->action == CB_ACTION_REVOKE ? it->reason : CB_REASON_NONE;
    o->emergency_signing_allowed = it->emergency_signing_allowed;
    o->processed_at_ms = wall_ms;
    o->outcome_id = cb_gate_action_id(ev->event_id, i);
    bad = (o->outcome_id ? 0 : -1) | dup_to(&o->source_event_id, ev->event_id) |
          dup_to(&o->source_event_type, cb_event_type_name(ev)) |
          dup_to(&o->source_topic, src->topic) | dup_to(&o->holder_id, holder ? holder : "") |
          dup_to(&o->holder_name, it->holder_name) | dup_to(&o->note, note) |
          dup_to(&o->approval_request_id, ref->request_id) |
          dup_to(&o->managing_agency_code, ref->agency_code) |
          dup_to(&o->managing_agency_name, ref->agency_name);
    if (kind == CB_GATE_APPROVED || kind == CB_GATE_REJECTED)
        bad |=
            dup_to(&o->document_number, ref->document_number) | dup_to(&o->approver, ref->approver);
    if (kind == CB_GATE_REJECTED)
        bad |= dup_to(&o->error_code, "approval_rejected") |
               dup_to(&o->error_message, ref->reason ? ref->reason : "rejected");
    if (bad) {
        cb_outcome_clear(o);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory making an approval outcome");
    }
    return 0;
}
