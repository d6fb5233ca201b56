/*
 * schedule.c: effective dates and the SCHEDULED outcomes (schedule.h).
 */
#include "certbridge/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/effective.h"

int cb_schedule_policy_from_config(const cb_config_t *cfg, cb_schedule_policy_t *out,
                                   cb_error_t *err)
{
    const char *mode = cb_config_get(cfg, "policy.effective_date");
    cb_schedule_policy_t p = {false, 0};

    if (mode && !strcmp(mode, "ignore"))
        p.ignore = true;
    else if (!mode || strcmp(mode, "honour") != 0)
        return cb_error_set(err, CB_ERR_CONFIG,
                            "policy.effective_date: expected honour or ignore, got \"%.64s\"",
                            mode ? mode : "(unset)");
    if (cb_effective_tz_parse(cb_config_get(cfg, "policy.timezone"), &p.tz_offset_min, err) < 0)
        return -1;
    *out = p;
    return 0;
}

int64_t cb_schedule_start_ms(const cb_event_t *ev, const cb_schedule_policy_t *policy)
{
    return cb_effective_start_ms(ev->effective_date, policy->tz_offset_min);
}

int64_t cb_schedule_due(const cb_event_t *ev, const cb_schedule_policy_t *policy, int64_t now_ms)
{
    int64_t start = cb_schedule_start_ms(ev, policy);

    return !policy->ignore && start > now_ms ? start : 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* One outcome of intent i into o (initialized); -1 when memory ran out. */
static int one(const cb_event_t *ev, const cb_intent_list_t *intents, size_t i,
               const cb_schedule_src_t *src, const char *when, bool ran, int64_t wall_ms,
               cb_outcome_t *o)
{
    const cb_intent_t *it = &intents->items[i];
    const char *holder = it->holder_id ? it->holder_id : it->cascade_org_code;
    char id[CB_STRING_MAX_BYTES + 32], note[384];

    snprintf(id, sizeof(id), "%s/scheduled/%zu", ev->event_id, i);
    if (ran)
        snprintf(note, sizeof(note),
                 "Đã thực hiện vào ngày hiệu lực %s; kết quả: %.64s/0... / Ran on its effective "
                 "date %s; its actions' outcomes are %.64s/0 onwards.",
                 when, ev->event_id, when, ev->event_id);
    else
        snprintf(note, sizeof(note),
                 "Chờ ngày hiệu lực, thực hiện lúc %s. / Waits for its effective date: runs at "
                 "%s.",
                 when, when);
    o->status = CB_STATUS_SCHEDULED;
    o->final = ran;
    o->source_partition = src->partition;
    o->source_offset = src->offset;
    o->action_index = (int32_t)i;
    o->action_count = (int32_t)intents->count;
    o->action = it->action;
    o->holder_type = it->holder_type;
    o->revocation_reason = it->reason;
    o->emergency_signing_allowed = it->emergency_signing_allowed;
    o->processed_at_ms = wall_ms;
    return (o->outcome_id = strdup(id)) && (o->source_event_id = strdup(ev->event_id)) &&
                   (o->source_event_type = strdup(cb_event_type_name(ev))) &&
                   (o->source_topic = strdup(src->topic)) &&
                   (o->holder_id = strdup(holder ? holder : "")) &&
                   (!it->holder_name || (o->holder_name = dup_or_null(it->holder_name))) &&
                   (o->note = strdup(note))
               ? 0
               : -1;
}

int cb_schedule_outcomes(const cb_event_t *ev, const cb_intent_list_t *intents,
                         const cb_schedule_src_t *src, int64_t due_ms, int tz_offset_min, bool ran,
                         int64_t wall_ms, cb_outcome_t **out, size_t *n, cb_error_t *err)
{
    char when[CB_EFFECTIVE_TEXT_MAX];
    cb_outcome_t *v;
    size_t i;

    *out = NULL;
    *n = 0;
    if (!intents->count)
        return 0;
    if (!(v = calloc(intents->count, sizeof(*v))))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory making SCHEDULED outcomes");
    cb_effective_format(due_ms, tz_offset_min, when, sizeof(when));
    for (i = 0; i < intents->count; i++) {
        cb_outcome_init(&v[i]);
        if (one(ev, intents, i, src, when, ran, wall_ms, &v[i]) < 0) {
            size_t j;
            for (j = 0; j <= i; j++)
                cb_outcome_clear(&v[j]);
            free(v);
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory making SCHEDULED outcomes");
        }
    }
    *out = v;
    *n = intents->count;
    return 0;
}
