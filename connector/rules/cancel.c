/*
 * cancel.c: the outcomes of a cancellation (cancel.h).
 */
#include "certbridge/cancel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills the fields every outcome of this file shares; -1 when memory ran
 * out. */
static int common(cb_outcome_t *o, const char *id, const char *event_id, const char *event_type,
                  const cb_schedule_src_t *src, const char *holder, const char *holder_name,
                  const char *note, int64_t wall_ms)
{
    o->final = true;
    o->source_partition = src->partition;
    o->source_offset = src->offset;
    o->processed_at_ms = wall_ms;
    return (o->outcome_id = strdup(id)) && (o->source_event_id = strdup(event_id)) &&
                   (o->source_event_type = strdup(event_type)) &&
                   (o->source_topic = strdup(src->topic)) &&
                   (o->holder_id = strdup(holder ? holder : "")) &&
                   (!holder_name || (o->holder_name = strdup(holder_name))) &&
                   (o->note = strdup(note))
               ? 0
               : -1;
}

int cb_cancel_outcomes(const cb_event_t *ev, const cb_intent_list_t *intents,
                       const cb_schedule_src_t *src, bool scheduled, const cb_event_t *by,
                       int64_t wall_ms, cb_outcome_t **out, size_t *n, cb_error_t *err)
{
    char id[CB_STRING_MAX_BYTES + 32], note[CB_STRING_MAX_BYTES + 256];
    cb_outcome_t *v;
    size_t i, j;

    *out = NULL;
    *n = 0;
    if (!intents->count)
        return 0;
    if (!(v = calloc(intents->count, sizeof(*v))))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory making CANCELLED outcomes");
    snprintf(note, sizeof(note),
             "Đã hủy theo sự kiện %.200s trước khi gửi tới CA. / Cancelled by event %.200s "
             "before it was sent to the CA.",
             by->event_id, by->event_id);
    for (i = 0; i < intents->count; i++) {
        const cb_intent_t *it = &intents->items[i];
        cb_outcome_t *o = &v[i];
        cb_outcome_init(o);
        snprintf(id, sizeof(id), "%s/%s/%zu", ev->event_id, scheduled ? "scheduled" : "cancelled",
                 i);
        o->status = CB_STATUS_CANCELLED;
        o->action_index = (int32_t)i;
        o->action_count = (int32_t)intents->count;
        o->action = it->action;
        o->holder_type = it->holder_type;
        o->revocation_reason = it->reason;
        o->emergency_signing_allowed = it->emergency_signing_allowed;
        if (common(o, id, ev->event_id, cb_event_type_name(ev), src,
                   it->holder_id ? it->holder_id : it->cascade_org_code, it->holder_name, note,
                   wall_ms) < 0) {
            for (j = 0; j <= i; j++)
                cb_outcome_clear(&v[j]);
            free(v);
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory making CANCELLED outcomes");
        }
    }
    *out = v;
    *n = intents->count;
    return 0;
}

int cb_cancel_own_outcome(const cb_event_t *by, const cb_schedule_src_t *src,
                          cb_cancel_verdict_t verdict, size_t n_events, size_t n_actions,
                          int64_t wall_ms, cb_outcome_t *o, cb_error_t *err)
{
    const char *ref = cb_event_cancels(by) ? cb_event_cancels(by) : "";
    bool org = by->kind == CB_EVENT_ORG;
    char id[CB_STRING_MAX_BYTES + 8], note[CB_STRING_MAX_BYTES + 640];

    cb_outcome_init(o);
    snprintf(id, sizeof(id), "%s/0", by->event_id);
    switch (verdict) {
    case CB_CANCEL_DONE:
        o->status = CB_STATUS_SUCCEEDED;
        snprintf(note, sizeof(note),
                 "Đã hủy sự kiện %.200s: %zu hành động chưa gửi tới CA sẽ không được thực hiện. "
                 "/ Cancelled event %.200s: %zu action(s) not yet sent to the CA will not run "
                 "(their outcomes end CANCELLED)%s.",
                 ref, n_actions, ref, n_actions,
                 n_events > 1 ? "; it was queued more than once" : "");
        break;
    case CB_CANCEL_SENT:
        o->status = CB_STATUS_NEEDS_REVIEW;
        snprintf(note, sizeof(note),
                 "Không thể hủy: sự kiện %.200s đã được gửi tới CA; đề nghị CA khôi phục hoặc cấp "
                 "lại chứng thư. / not cancellable: event %.200s was already sent to the CA; ask "
                 "the CA to restore or reissue the certificate.",
                 ref, ref);
        break;
    default:
        o->status = CB_STATUS_NEEDS_REVIEW;
        snprintf(note, sizeof(note),
                 "Không thể hủy: sự kiện %.200s không còn chờ trong phân vùng này (đã gửi tới CA, "
                 "hoặc không rõ). / not cancellable: event %.200s does not wait here: either it "
                 "was already sent to the CA (ask the CA to restore or reissue the certificate), "
                 "or it is an unknown event (a cancellation must be keyed like the event it "
                 "cancels, and published after it).",
                 ref, ref);
        break;
    }
    o->action_index = 0;
    o->action_count = 1;
    o->action = CB_ACTION_REVIEW;
    o->holder_type = org ? CB_HOLDER_ORGANIZATION : CB_HOLDER_PERSON;
    o->revocation_reason = CB_REASON_NONE;
    if (common(o, id, by->event_id, cb_event_type_name(by), src,
               org ? by->org.code : by->person.person_id, org ? by->org.name : by->person.full_name,
               note, wall_ms) < 0) {
        cb_outcome_clear(o);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory making a cancellation's outcome");
    }
    return 0;
}
