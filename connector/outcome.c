/*
 * outcome.c: life cycle and status names of cb_outcome_t (DESIGN.md §4).
 */
#include "certbridge/outcome.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[CB_STATUS_COUNT] = {
    "SUCCEEDED", "ALREADY_DONE", "PENDING", "REJECTED", "FAILED", "SKIPPED", "NEEDS_REVIEW"};

/* Empties o: NULL strings, zero numbers, no revocation reason. */
void cb_outcome_init(cb_outcome_t *o)
{
    memset(o, 0, sizeof(*o));
    o->revocation_reason = CB_REASON_NONE;
}

/* Frees every string o owns and re-initializes it. */
void cb_outcome_clear(cb_outcome_t *o)
{
    free(o->outcome_id);
    free(o->source_event_id);
    free(o->source_event_type);
    free(o->source_topic);
    free(o->holder_id);
    free(o->holder_name);
    free(o->certificate_serial);
    free(o->new_certificate_serial);
    free(o->device_id);
    free(o->ca_request_id);
    free(o->error_code);
    free(o->error_message);
    free(o->note);
    cb_outcome_init(o);
}

/* The schema symbol of s, or NULL when out of range. */
const char *cb_outcome_status_name(cb_outcome_status_t s)
{
    return ((int)s >= 0 && s < CB_STATUS_COUNT) ? status_names[s] : NULL;
}

/* The status of a schema symbol, or -1. */
int cb_outcome_status_parse(const char *s)
{
    int i;

    if (!s)
        return -1;
    for (i = 0; i < CB_STATUS_COUNT; i++)
        if (strcmp(s, status_names[i]) == 0)
            return i;
    return -1;
}
