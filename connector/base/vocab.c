/*
 * vocab.c: the symbols of the domain's enums (vocab.h).
 */
#include "certbridge/vocab.h"

#include <stddef.h>
#include <string.h>

static const char *const org_event_names[CB_ORG_EVENT_TYPE_COUNT] = {
    "MERGED", "RENAMED", "PARENT_CHANGED", "INFO_CHANGED", "DISSOLVED", "CANCELLED"};

static const char *const person_event_names[CB_PERSON_EVENT_TYPE_COUNT] = {
    "TRANSFERRED", "POSITION_CHANGED",       "INFO_CHANGED", "DEPARTED",
    "JOINED",      "CERTIFICATE_NOT_NEEDED", "CANCELLED"};

static const char *const departure_names[CB_DEPARTURE_REASON_COUNT] = {
    "RETIRED", "RESIGNED", "DECEASED", "DISMISSED", "OTHER"};

static const char *const action_names[CB_ACTION_COUNT] = {"CHANGE_INFO",   "REVOKE", "RETAIN",
                                                          "RECALL_DEVICE", "ISSUE",  "REVIEW"};

static const char *const holder_type_names[CB_HOLDER_TYPE_COUNT] = {"ORGANIZATION", "PERSON"};

static const char *const status_names[CB_STATUS_COUNT] = {
    "SUCCEEDED", "ALREADY_DONE", "PENDING",   "REJECTED",  "FAILED",
    "SKIPPED",   "NEEDS_REVIEW", "SCHEDULED", "CANCELLED", "AWAITING_APPROVAL"};

/* names[v] when 0 <= v < n, else NULL. */
static const char *name_of(int v, const char *const *names, int n)
{
    return (v >= 0 && v < n) ? names[v] : NULL;
}

const char *cb_org_event_type_name(cb_org_event_type_t t)
{
    return name_of((int)t, org_event_names, CB_ORG_EVENT_TYPE_COUNT);
}

const char *cb_person_event_type_name(cb_person_event_type_t t)
{
    return name_of((int)t, person_event_names, CB_PERSON_EVENT_TYPE_COUNT);
}

const char *cb_departure_reason_name(cb_departure_reason_t r)
{
    return name_of((int)r, departure_names, CB_DEPARTURE_REASON_COUNT);
}

const char *cb_action_name(cb_action_t a)
{
    return name_of((int)a, action_names, CB_ACTION_COUNT);
}

const char *cb_holder_type_name(cb_holder_type_t t)
{
    return name_of((int)t, holder_type_names, CB_HOLDER_TYPE_COUNT);
}

const char *cb_outcome_status_name(cb_outcome_status_t s)
{
    return name_of((int)s, status_names, CB_STATUS_COUNT);
}

const char *cb_revocation_reason_name(cb_revocation_reason_t r)
{
    switch (r) {
    case CB_REASON_AFFILIATION_CHANGED:
        return "affiliationChanged";
    case CB_REASON_SUPERSEDED:
        return "superseded";
    case CB_REASON_CESSATION_OF_OPERATION:
        return "cessationOfOperation";
    default:
        return NULL;
    }
}

int cb_symbol_parse(const char *s, const char *const *names, int n)
{
    int i;

    if (!s)
        return -1;
    for (i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int cb_org_event_type_parse(const char *s)
{
    return cb_symbol_parse(s, org_event_names, CB_ORG_EVENT_TYPE_COUNT);
}

int cb_person_event_type_parse(const char *s)
{
    return cb_symbol_parse(s, person_event_names, CB_PERSON_EVENT_TYPE_COUNT);
}

int cb_departure_reason_parse(const char *s)
{
    return cb_symbol_parse(s, departure_names, CB_DEPARTURE_REASON_COUNT);
}

int cb_action_parse(const char *s)
{
    return cb_symbol_parse(s, action_names, CB_ACTION_COUNT);
}

int cb_holder_type_parse(const char *s)
{
    return cb_symbol_parse(s, holder_type_names, CB_HOLDER_TYPE_COUNT);
}

int cb_outcome_status_parse(const char *s)
{
    return cb_symbol_parse(s, status_names, CB_STATUS_COUNT);
}
