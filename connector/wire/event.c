/*
 * event.c: life cycle, and semantic validation of cb_event_t.
 */
#include "certbridge/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cb_event_init(cb_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->departure_reason = CB_DEPARTURE_NONE;
}

void cb_org_clear(cb_org_t *org)
{
    free(org->code);
    free(org->name);
    free(org->parent_code);
    free(org->parent_name);
    free(org->province);
    free(org->address);
    memset(org, 0, sizeof(*org));
}

void cb_event_clear(cb_event_t *ev)
{
    size_t i;

    free(ev->event_id);
    free(ev->source_system);
    cb_org_clear(&ev->org);
    for (i = 0; i < ev->merged_count; i++)
        cb_org_clear(&ev->merged_orgs[i]);
    free(ev->merged_orgs);
    free(ev->certificate_carrier);
    free(ev->person.person_id);
    free(ev->person.national_id);
    free(ev->person.full_name);
    free(ev->person.email);
    free(ev->person.title);
    if (ev->previous_org) {
        cb_org_clear(ev->previous_org);
        free(ev->previous_org);
    }
    cb_event_init(ev);
}

bool cb_org_code_valid(const char *code)
{
    size_t i, len;

    if (!code)
        return false;
    len = strlen(code);
    if (len == 0 || len > CB_ORG_CODE_MAX || code[0] == '.' || code[len - 1] == '.')
        return false;
    for (i = 0; i < len; i++) {
        char c = code[i];
        if (c == '.') {
            if (code[i + 1] == '.')
                return false; /* empty group */
        } else if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) {
            return false;
        }
    }
    return true;
}

bool cb_national_id_valid(const char *id)
{
    size_t i;

    if (!id || strlen(id) != CB_NATIONAL_ID_LEN)
        return false;
    for (i = 0; i < CB_NATIONAL_ID_LEN; i++)
        if (id[i] < '0' || id[i] > '9')
            return false;
    return true;
}

/* A required string: present and non-empty. */
static int check_required(const char *v, const char *path, cb_error_t *err)
{
    if (!v || !*v)
        return cb_error_set(err, CB_ERR_INVALID, "%s: required field is missing or empty", path);
    if (strlen(v) > CB_STRING_MAX_BYTES)
        return cb_error_set(err, CB_ERR_INVALID, "%s: longer than %d bytes", path,
                            CB_STRING_MAX_BYTES);
    return 0;
}

static int check_optional(const char *v, const char *path, cb_error_t *err)
{
    if (v && strlen(v) > CB_STRING_MAX_BYTES)
        return cb_error_set(err, CB_ERR_INVALID, "%s: longer than %d bytes", path,
                            CB_STRING_MAX_BYTES);
    return 0;
}

static int validate_org(const cb_org_t *org, const char *path, cb_error_t *err)
{
    char p[96];

    snprintf(p, sizeof(p), "%s.code", path);
    if (check_required(org->code, p, err) < 0)
        return -1;
    if (!cb_org_code_valid(org->code))
        return cb_error_set(err, CB_ERR_INVALID,
                            "%s: \"%.40s\" is not an electronic identification code "
                            "([0-9A-Z.]{1,35}, dot-separated groups)",
                            p, org->code);
    snprintf(p, sizeof(p), "%s.name", path);
    if (check_required(org->name, p, err) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s.province", path);
    if (check_required(org->province, p, err) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s.parent_code", path);
    if (check_optional(org->parent_code, p, err) < 0)
        return -1;
    if (org->parent_code && !cb_org_code_valid(org->parent_code))
        return cb_error_set(err, CB_ERR_INVALID,
                            "%s: \"%.40s\" is not an electronic identification code", p,
                            org->parent_code);
    snprintf(p, sizeof(p), "%s.parent_name", path);
    if (check_optional(org->parent_name, p, err) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s.address", path);
    return check_optional(org->address, p, err);
}

/* The codes of a merger: no organization twice; the resulting organization
 * among the merged ones only when it existed before (result_is_new=false,
 * docs/DOMAIN.md §3.1 R2) and never alone: a merger of an organization with
 * itself is not a merger. */
static int validate_merged_codes(const cb_event_t *ev, cb_error_t *err)
{
    size_t i, j;
    bool self = false;

    for (i = 0; i < ev->merged_count; i++) {
        const char *code = ev->merged_orgs[i].code;
        for (j = 0; j < i; j++)
            if (strcmp(ev->merged_orgs[j].code, code) == 0)
                return cb_error_set(err, CB_ERR_INVALID,
                                    "merged_orgs[%zu].code: \"%.40s\" is listed twice", i, code);
        if (strcmp(code, ev->org.code) == 0) {
            if (ev->result_is_new)
                return cb_error_set(err, CB_ERR_INVALID,
                                    "merged_orgs[%zu].code: \"%.40s\" is the new organization "
                                    "itself (result_is_new=true)",
                                    i, code);
            self = true;
        }
    }
    if (self && ev->merged_count == 1)
        return cb_error_set(err, CB_ERR_INVALID,
                            "merged_orgs: the organization \"%.40s\" is merged into itself and "
                            "nothing else",
                            ev->org.code);
    return 0;
}

bool cb_event_is_cancellation(const cb_event_t *ev)
{
    return ev->kind == CB_EVENT_ORG
               ? ev->type == CB_ORG_CANCELLED
               : ev->kind == CB_EVENT_PERSON && ev->type == CB_PERSON_CANCELLED;
}

const char *cb_event_cancels(const cb_event_t *ev)
{
    return cb_event_is_cancellation(ev) ? ev->org.address : NULL;
}

/* A CANCELLED event names the event it cancels in org.address (event.h). */
static int validate_cancellation(const cb_event_t *ev, cb_error_t *err)
{
    if (!ev->org.address || !*ev->org.address)
        return cb_error_set(err, CB_ERR_INVALID,
                            "org.address: a CANCELLED event carries the event_id of the event it "
                            "cancels there");
    if (!strcmp(ev->org.address, ev->event_id))
        return cb_error_set(err, CB_ERR_INVALID,
                            "org.address: a CANCELLED event cannot cancel itself (\"%.64s\")",
                            ev->event_id);
    return 0;
}

static int validate_org_event(const cb_event_t *ev, cb_error_t *err)
{
    size_t i;
    char p[48];

    if (ev->type < 0 || ev->type >= CB_ORG_EVENT_TYPE_COUNT)
        return cb_error_set(err, CB_ERR_INVALID, "event_type: not an OrgEvent type (%d)", ev->type);
    if (ev->merged_count > CB_MERGED_ORGS_MAX)
        return cb_error_set(err, CB_ERR_INVALID, "merged_orgs: %zu entries exceed the limit of %d",
                            ev->merged_count, CB_MERGED_ORGS_MAX);
    if (ev->type == CB_ORG_MERGED && ev->merged_count == 0)
        return cb_error_set(err, CB_ERR_INVALID,
                            "merged_orgs: a MERGED event needs at least one merged organization");
    if (ev->type != CB_ORG_MERGED && ev->merged_count > 0)
        return cb_error_set(err, CB_ERR_INVALID, "merged_orgs: only MERGED events carry them");
    for (i = 0; i < ev->merged_count; i++) {
        snprintf(p, sizeof(p), "merged_orgs[%zu]", i);
        if (validate_org(&ev->merged_orgs[i], p, err) < 0)
            return -1;
    }
    if (validate_merged_codes(ev, err) < 0)
        return -1;
    if (ev->certificate_carrier) {
        bool found = false;
        for (i = 0; i < ev->merged_count && !found; i++)
            found = strcmp(ev->merged_orgs[i].code, ev->certificate_carrier) == 0;
        if (!found)
            return cb_error_set(err, CB_ERR_INVALID,
                                "certificate_carrier: \"%.40s\" is not one of merged_orgs",
                                ev->certificate_carrier);
    }
    return 0;
}

static int validate_person_event(const cb_event_t *ev, cb_error_t *err)
{
    const cb_person_t *p = &ev->person;

    if (ev->type < 0 || ev->type >= CB_PERSON_EVENT_TYPE_COUNT)
        return cb_error_set(err, CB_ERR_INVALID, "event_type: not a PersonEvent type (%d)",
                            ev->type);
    if (check_required(p->person_id, "person.person_id", err) < 0 ||
        check_required(p->national_id, "person.national_id", err) < 0 ||
        check_required(p->full_name, "person.full_name", err) < 0 ||
        check_optional(p->email, "person.email", err) < 0 ||
        check_optional(p->title, "person.title", err) < 0)
        return -1;
    if (!cb_national_id_valid(p->national_id))
        return cb_error_set(err, CB_ERR_INVALID, "person.national_id: not 12 digits");
    if (ev->previous_org && validate_org(ev->previous_org, "previous_org", err) < 0)
        return -1;
    if (ev->departure_reason != CB_DEPARTURE_NONE &&
        (ev->departure_reason < 0 || ev->departure_reason >= CB_DEPARTURE_REASON_COUNT))
        return cb_error_set(err, CB_ERR_INVALID, "departure_reason: out of range");
    if (ev->departure_reason != CB_DEPARTURE_NONE && ev->type != CB_PERSON_DEPARTED)
        return cb_error_set(err, CB_ERR_INVALID, "departure_reason: only DEPARTED events carry it");
    return 0;
}

int cb_event_validate(const cb_event_t *ev, cb_error_t *err)
{
    if (check_required(ev->event_id, "event_id", err) < 0 ||
        check_required(ev->source_system, "source_system", err) < 0)
        return -1;
    if (ev->effective_date < CB_DATE_MIN_DAYS || ev->effective_date > CB_DATE_MAX_DAYS)
        return cb_error_set(err, CB_ERR_INVALID,
                            "effective_date: %ld days from 1970-01-01 is outside 0001-01-01 to "
                            "9999-12-31",
                            (long)ev->effective_date);
    if (ev->occurred_at_ms < CB_DATE_MIN_DAYS * 86400000LL ||
        ev->occurred_at_ms >= (CB_DATE_MAX_DAYS + 1) * 86400000LL)
        return cb_error_set(err, CB_ERR_INVALID,
                            "occurred_at: %lld ms from the epoch is outside 0001-01-01 to "
                            "9999-12-31",
                            (long long)ev->occurred_at_ms);
    if (validate_org(&ev->org, "org", err) < 0)
        return -1;
    if (cb_event_is_cancellation(ev) && validate_cancellation(ev, err) < 0)
        return -1;
    if (ev->kind == CB_EVENT_ORG)
        return validate_org_event(ev, err);
    if (ev->kind == CB_EVENT_PERSON)
        return validate_person_event(ev, err);
    return cb_error_set(err, CB_ERR_INVALID, "event: unknown kind %d", (int)ev->kind);
}

const char *cb_event_type_name(const cb_event_t *ev)
{
    return ev->kind == CB_EVENT_ORG ? cb_org_event_type_name(ev->type)
                                    : cb_person_event_type_name(ev->type);
}

/* ---- dates ------------------------------------------------------------ */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar: count
 * years from March so that the leap day is the last day of a year. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Days in month m (1-12) of year y, Gregorian leap years. */
static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Reads exactly n decimal digits at s; -1 when any is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int cb_time_parse_date(const char *s, int64_t *days)
{
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);

    if (y < 0 || s[4] != '-' || m < 1 || m > 12 || s[7] != '-' || d < 1 || d > days_in_month(y, m))
        return -1;
    *days = days_from_civil(y, m, d);
    return 0;
}

int cb_time_parse_rfc3339(const char *s, int64_t *ms)
{
    int64_t days, secs;
    int hh, mi, ss, frac = 0, off = 0, i;
    const char *p;

    if (strlen(s) < 20 || cb_time_parse_date(s, &days) < 0 ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        return -1;
    hh = digits(s + 11, 2);
    mi = digits(s + 14, 2);
    ss = digits(s + 17, 2);
    if (hh < 0 || hh > 23 || s[13] != ':' || mi < 0 || mi > 59 || s[16] != ':' || ss < 0 || ss > 60)
        return -1;
    p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (i = 0; *p >= '0' && *p <= '9'; i++, p++)
            if (i < 3)
                frac = frac * 10 + (*p - '0');
        for (; i < 3; i++)
            frac *= 10;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = digits(p + 1, 2), om = digits(p + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
    } else {
        return -1;
    }
    secs = days * 86400 + hh * 3600 + mi * 60 + ss - off;
    *ms = secs * 1000 + frac;
    return 0;
}
