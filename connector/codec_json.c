/*
 * codec_json.c: events as JSON objects (DESIGN.md §2), the `plan` input and
 * a wire format.
 *
 * Same field names as the Avro schemas. occurred_at is an RFC 3339 string or
 * epoch milliseconds; effective_date is YYYY-MM-DD or days since the epoch;
 * null fields may be omitted; unknown fields are ignored (schema evolution);
 * an object with a non-null `person` field is a PersonEvent, otherwise an
 * OrgEvent. Every string is checked as UTF-8 and stored in NFC. Errors name
 * the field path first ("merged_orgs[2].name: ..."); the decoded event
 * finally passes cb_event_validate().
 */
#include "certbridge/codec.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/text.h"

#define PATH_MAX_LEN 96

/* A field's path: "key" at the top, "prefix.key" below. */
static void field_path(char *p, const char *prefix, const char *key)
{
    if (prefix && *prefix)
        snprintf(p, PATH_MAX_LEN, "%s.%s", prefix, key);
    else
        snprintf(p, PATH_MAX_LEN, "%s", key);
}

/* The JSON type of v as named in error messages. */
static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* Reads obj[key] as a string into *out (NFC copy, caller frees). Absent or
 * null leaves *out NULL, which is an error when required. */
static int get_string(const json_t *obj, const char *prefix, const char *key, int required,
                      char **out, cb_error_t *err)
{
    const json_t *v = json_object_get(obj, key);
    char p[PATH_MAX_LEN];

    *out = NULL;
    field_path(p, prefix, key);
    if (!v || json_is_null(v)) {
        if (required)
            return cb_error_set(err, CB_ERR_INVALID, "%s: required field is %s", p,
                                v ? "null" : "missing");
        return 0;
    }
    if (!json_is_string(v))
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected a string, got %s", p,
                            json_type_name(v));
    *out = cb_text_nfc(json_string_value(v), json_string_length(v), CB_STRING_MAX_BYTES, err);
    if (!*out)
        return cb_error_prefix(err, "%s", p);
    return 0;
}

/* Reads obj[key] as a boolean; absent or null keeps the default in *out. */
static int get_bool(const json_t *obj, const char *prefix, const char *key, bool *out,
                    cb_error_t *err)
{
    const json_t *v = json_object_get(obj, key);
    char p[PATH_MAX_LEN];

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        field_path(p, prefix, key);
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected a boolean, got %s", p,
                            json_type_name(v));
    }
    *out = json_is_true(v);
    return 0;
}

/* Reads an enum symbol with lookup(); required fields refuse absence. *out
 * keeps its value when the optional field is absent or null. */
static int get_symbol(const json_t *obj, const char *key, int required, int (*lookup)(const char *),
                      int *out, cb_error_t *err)
{
    const json_t *v = json_object_get(obj, key);
    int sym;

    if (!v || json_is_null(v)) {
        if (required)
            return cb_error_set(err, CB_ERR_INVALID, "%s: required field is %s", key,
                                v ? "null" : "missing");
        return 0;
    }
    if (!json_is_string(v))
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected a string, got %s", key,
                            json_type_name(v));
    sym = lookup(json_string_value(v));
    if (sym < 0)
        return cb_error_set(err, CB_ERR_INVALID, "%s: unknown symbol \"%.64s\"", key,
                            json_string_value(v));
    *out = sym;
    return 0;
}

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

/* "YYYY-MM-DD" at s (exactly 10 characters) to days since the epoch. */
static int parse_date10(const char *s, int64_t *days)
{
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);

    if (y < 0 || s[4] != '-' || m < 1 || m > 12 || s[7] != '-' || d < 1 || d > days_in_month(y, m))
        return -1;
    *days = days_from_civil(y, m, d);
    return 0;
}

/* RFC 3339 date-time ("2025-07-01T08:00:00.123+07:00", 'T' or ' ' between
 * date and time, 'Z' or an offset) to epoch milliseconds. Fractions beyond
 * milliseconds are truncated. */
static int parse_rfc3339(const char *s, int64_t *ms)
{
    int64_t days, secs;
    int hh, mi, ss, frac = 0, off = 0, i;
    const char *p;

    if (strlen(s) < 20 || parse_date10(s, &days) < 0 ||
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

/* occurred_at: an RFC 3339 string or epoch milliseconds (required). */
static int get_occurred_at(const json_t *root, int64_t *out, cb_error_t *err)
{
    const json_t *v = json_object_get(root, "occurred_at");

    if (!v || json_is_null(v))
        return cb_error_set(err, CB_ERR_INVALID, "occurred_at: required field is %s",
                            v ? "null" : "missing");
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return cb_error_set(err, CB_ERR_INVALID,
                            "occurred_at: expected an RFC 3339 string or epoch milliseconds, "
                            "got %s",
                            json_type_name(v));
    if (parse_rfc3339(json_string_value(v), out) < 0)
        return cb_error_set(err, CB_ERR_INVALID,
                            "occurred_at: \"%.64s\" is not an RFC 3339 "
                            "timestamp",
                            json_string_value(v));
    return 0;
}

/* effective_date: YYYY-MM-DD or days since the epoch (required). */
static int get_effective_date(const json_t *root, int32_t *out, cb_error_t *err)
{
    const json_t *v = json_object_get(root, "effective_date");
    int64_t days;

    if (!v || json_is_null(v))
        return cb_error_set(err, CB_ERR_INVALID, "effective_date: required field is %s",
                            v ? "null" : "missing");
    if (json_is_integer(v)) {
        json_int_t d = json_integer_value(v);
        if (d < INT32_MIN || d > INT32_MAX)
            return cb_error_set(err, CB_ERR_INVALID, "effective_date: %lld days is out of range",
                                (long long)d);
        *out = (int32_t)d;
        return 0;
    }
    if (!json_is_string(v))
        return cb_error_set(err, CB_ERR_INVALID,
                            "effective_date: expected a YYYY-MM-DD string or days since the "
                            "epoch, got %s",
                            json_type_name(v));
    if (json_string_length(v) != 10 || parse_date10(json_string_value(v), &days) < 0)
        return cb_error_set(err, CB_ERR_INVALID,
                            "effective_date: \"%.64s\" is not a YYYY-MM-DD "
                            "date",
                            json_string_value(v));
    *out = (int32_t)days;
    return 0;
}

/* Decodes the Org object v (path names it in errors) into out. */
static int decode_org(const json_t *v, const char *path, cb_org_t *out, cb_error_t *err)
{
    if (!json_is_object(v))
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected an object, got %s", path,
                            json_type_name(v));
    if (get_string(v, path, "code", 1, &out->code, err) < 0 ||
        get_string(v, path, "name", 1, &out->name, err) < 0 ||
        get_string(v, path, "parent_code", 0, &out->parent_code, err) < 0 ||
        get_string(v, path, "parent_name", 0, &out->parent_name, err) < 0 ||
        get_string(v, path, "province", 1, &out->province, err) < 0 ||
        get_string(v, path, "address", 0, &out->address, err) < 0)
        return -1;
    return 0;
}

/* The required object field `key` as an Org. */
static int get_org(const json_t *root, const char *key, int required, cb_org_t *out,
                   cb_error_t *err)
{
    const json_t *v = json_object_get(root, key);

    if (!v || json_is_null(v)) {
        if (required)
            return cb_error_set(err, CB_ERR_INVALID, "%s: required field is %s", key,
                                v ? "null" : "missing");
        return 0;
    }
    return decode_org(v, key, out, err);
}

/* merged_orgs: absent or null is [], at most CB_MERGED_ORGS_MAX entries. */
static int decode_merged_orgs(const json_t *root, cb_event_t *ev, cb_error_t *err)
{
    const json_t *v = json_object_get(root, "merged_orgs");
    char p[PATH_MAX_LEN];
    size_t i, n;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return cb_error_set(err, CB_ERR_INVALID, "merged_orgs: expected an array, got %s",
                            json_type_name(v));
    n = json_array_size(v);
    if (n > CB_MERGED_ORGS_MAX)
        return cb_error_set(err, CB_ERR_INVALID, "merged_orgs: %zu entries exceed the limit of %d",
                            n, CB_MERGED_ORGS_MAX);
    if (n == 0)
        return 0;
    ev->merged_orgs = calloc(n, sizeof(cb_org_t));
    if (!ev->merged_orgs)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    ev->merged_count = n;
    for (i = 0; i < n; i++) {
        snprintf(p, sizeof(p), "merged_orgs[%zu]", i);
        if (decode_org(json_array_get(v, i), p, &ev->merged_orgs[i], err) < 0)
            return -1;
    }
    return 0;
}

/* The person object of a PersonEvent. */
static int decode_person(const json_t *v, cb_person_t *p, cb_error_t *err)
{
    if (!json_is_object(v))
        return cb_error_set(err, CB_ERR_INVALID, "person: expected an object, got %s",
                            json_type_name(v));
    if (get_string(v, "person", "person_id", 1, &p->person_id, err) < 0 ||
        get_string(v, "person", "national_id", 1, &p->national_id, err) < 0 ||
        get_string(v, "person", "full_name", 1, &p->full_name, err) < 0 ||
        get_string(v, "person", "email", 0, &p->email, err) < 0 ||
        get_string(v, "person", "title", 0, &p->title, err) < 0 ||
        get_bool(v, "person", "is_leader", &p->is_leader, err) < 0)
        return -1;
    return 0;
}

/* The fields only a PersonEvent carries. */
static int decode_person_event(const json_t *root, const json_t *person, cb_event_t *ev,
                               cb_error_t *err)
{
    const json_t *prev = json_object_get(root, "previous_org");
    int reason = CB_DEPARTURE_NONE;

    if (decode_person(person, &ev->person, err) < 0)
        return -1;
    if (prev && !json_is_null(prev)) {
        ev->previous_org = calloc(1, sizeof(cb_org_t));
        if (!ev->previous_org)
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        if (decode_org(prev, "previous_org", ev->previous_org, err) < 0)
            return -1;
    }
    if (get_symbol(root, "departure_reason", 0, cb_departure_reason_parse, &reason, err) < 0)
        return -1;
    ev->departure_reason = (cb_departure_reason_t)reason;
    return 0;
}

/* The fields only an OrgEvent carries. */
static int decode_org_event(const json_t *root, cb_event_t *ev, cb_error_t *err)
{
    if (decode_merged_orgs(root, ev, err) < 0 ||
        get_bool(root, NULL, "result_is_new", &ev->result_is_new, err) < 0 ||
        get_string(root, NULL, "certificate_carrier", 0, &ev->certificate_carrier, err) < 0)
        return -1;
    return 0;
}

/* Decodes one JSON event into out (see codec.h); out is empty on failure.
 * Fields are read in schema order, so the first bad one is reported. */
int cb_codec_json_decode_event(const char *buf, size_t len, cb_event_t *out, cb_error_t *err)
{
    json_t *root = NULL;
    const json_t *person;
    json_error_t jerr;
    int type = -1, rc = -1;

    cb_event_init(out);
    if (len > CB_EVENT_MAX_BYTES) {
        cb_error_set(err, CB_ERR_LIMIT, "event: %zu bytes exceed the limit of %d", len,
                     CB_EVENT_MAX_BYTES);
        goto done;
    }
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        cb_error_set(err, CB_ERR_DECODE, "event: invalid JSON at byte %d: %s", jerr.position,
                     jerr.text);
        goto done;
    }
    if (!json_is_object(root)) {
        cb_error_set(err, CB_ERR_INVALID, "event: expected an object, got %s",
                     json_type_name(root));
        goto done;
    }
    person = json_object_get(root, "person");
    out->kind = person && !json_is_null(person) ? CB_EVENT_PERSON : CB_EVENT_ORG;
    if (get_string(root, NULL, "event_id", 1, &out->event_id, err) < 0 ||
        get_symbol(root, "event_type", 1,
                   out->kind == CB_EVENT_ORG ? cb_org_event_type_parse : cb_person_event_type_parse,
                   &type, err) < 0 ||
        get_occurred_at(root, &out->occurred_at_ms, err) < 0 ||
        get_effective_date(root, &out->effective_date, err) < 0 ||
        get_string(root, NULL, "source_system", 1, &out->source_system, err) < 0 ||
        get_org(root, "org", 1, &out->org, err) < 0)
        goto done;
    out->type = type;
    if (out->kind == CB_EVENT_ORG ? decode_org_event(root, out, err) < 0
                                  : decode_person_event(root, person, out, err) < 0)
        goto done;
    if (cb_event_validate(out, err) < 0)
        goto done;
    rc = 0;
done:
    json_decref(root);
    if (rc < 0)
        cb_event_clear(out);
    return rc;
}
