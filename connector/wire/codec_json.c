/*
 * codec_json.c: events as JSON objects (docs/DOMAIN.md §2), the `plan` input and
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
#include "certbridge/codec_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/json.h"
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

/* Reads obj[key] as a string into *out (NFC copy, caller frees). Absent or
 * null leaves *out NULL, which is an error when required. */
static int get_string(const cb_json_t *j, int obj, const char *prefix, const char *key,
                      int required, char **out, cb_error_t *err)
{
    int v = cb_json_get(j, obj, key);
    char p[PATH_MAX_LEN], *tmp = NULL;
    const char *s;
    size_t len;

    *out = NULL;
    field_path(p, prefix, key);
    if (cb_json_is_null(j, v)) {
        if (required)
            return cb_error_set(err, CB_ERR_INVALID, "%s: required field is %s", p,
                                v >= 0 ? "null" : "missing");
        return 0;
    }
    if (cb_json_type(j, v) != CB_JSON_STRING)
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected a string, got %s", p,
                            cb_json_type_name(j, v));
    if (!cb_json_raw(j, v, &s, &len) && !(s = tmp = cb_json_strdup(j, v, &len)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    *out = cb_text_nfc(s, len, CB_STRING_MAX_BYTES, err);
    free(tmp);
    if (!*out)
        return cb_error_prefix(err, "%s", p);
    return 0;
}

/* Reads obj[key] as a boolean; absent or null keeps the default in *out. */
static int get_bool(const cb_json_t *j, int obj, const char *prefix, const char *key, bool *out,
                    cb_error_t *err)
{
    int v = cb_json_get(j, obj, key);
    cb_json_type_t t = cb_json_type(j, v);
    char p[PATH_MAX_LEN];

    if (t == CB_JSON_NULL)
        return 0;
    if (t != CB_JSON_TRUE && t != CB_JSON_FALSE) {
        field_path(p, prefix, key);
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected a boolean, got %s", p,
                            cb_json_type_name(j, v));
    }
    *out = t == CB_JSON_TRUE;
    return 0;
}

/* Reads an enum symbol with lookup(); required fields refuse absence. *out
 * keeps its value when the optional field is absent or null. */
static int get_symbol(const cb_json_t *j, int obj, const char *key, int required,
                      int (*lookup)(const char *), int *out, cb_error_t *err)
{
    int v = cb_json_get(j, obj, key), sym;
    char *s;

    if (cb_json_is_null(j, v)) {
        if (required)
            return cb_error_set(err, CB_ERR_INVALID, "%s: required field is %s", key,
                                v >= 0 ? "null" : "missing");
        return 0;
    }
    if (cb_json_type(j, v) != CB_JSON_STRING)
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected a string, got %s", key,
                            cb_json_type_name(j, v));
    if (!(s = cb_json_strdup(j, v, NULL)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    sym = lookup(s);
    if (sym < 0)
        cb_error_set(err, CB_ERR_INVALID, "%s: unknown symbol \"%.64s\"", key, s);
    else
        *out = sym;
    free(s);
    return sym < 0 ? -1 : 0;
}

/* occurred_at: an RFC 3339 string or epoch milliseconds (required). */
static int get_occurred_at(const cb_json_t *j, int root, int64_t *out, cb_error_t *err)
{
    int v = cb_json_get(j, root, "occurred_at"), rc = 0;
    char *s;

    if (cb_json_is_null(j, v))
        return cb_error_set(err, CB_ERR_INVALID, "occurred_at: required field is %s",
                            v >= 0 ? "null" : "missing");
    if (cb_json_type(j, v) == CB_JSON_INTEGER) {
        *out = cb_json_integer(j, v);
        return 0;
    }
    if (cb_json_type(j, v) != CB_JSON_STRING)
        return cb_error_set(err, CB_ERR_INVALID,
                            "occurred_at: expected an RFC 3339 string or epoch milliseconds, "
                            "got %s",
                            cb_json_type_name(j, v));
    if (!(s = cb_json_strdup(j, v, NULL)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    if (cb_time_parse_rfc3339(s, out) < 0)
        rc = cb_error_set(err, CB_ERR_INVALID,
                          "occurred_at: \"%.64s\" is not an RFC 3339 "
                          "timestamp",
                          s);
    free(s);
    return rc;
}

/* effective_date: YYYY-MM-DD or days since the epoch (required). */
static int get_effective_date(const cb_json_t *j, int root, int32_t *out, cb_error_t *err)
{
    int v = cb_json_get(j, root, "effective_date"), rc = 0;
    int64_t days;
    size_t len = 0;
    char *s;

    if (cb_json_is_null(j, v))
        return cb_error_set(err, CB_ERR_INVALID, "effective_date: required field is %s",
                            v >= 0 ? "null" : "missing");
    if (cb_json_type(j, v) == CB_JSON_INTEGER) {
        int64_t d = cb_json_integer(j, v);
        if (d < INT32_MIN || d > INT32_MAX)
            return cb_error_set(err, CB_ERR_INVALID, "effective_date: %lld days is out of range",
                                (long long)d);
        *out = (int32_t)d;
        return 0;
    }
    if (cb_json_type(j, v) != CB_JSON_STRING)
        return cb_error_set(err, CB_ERR_INVALID,
                            "effective_date: expected a YYYY-MM-DD string or days since the "
                            "epoch, got %s",
                            cb_json_type_name(j, v));
    if (!(s = cb_json_strdup(j, v, &len)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    if (len != 10 || cb_time_parse_date(s, &days) < 0)
        rc = cb_error_set(err, CB_ERR_INVALID,
                          "effective_date: \"%.64s\" is not a YYYY-MM-DD "
                          "date",
                          s);
    else
        *out = (int32_t)days;
    free(s);
    return rc;
}

/* Decodes the Org object v (path names it in errors) into out. */
static int decode_org(const cb_json_t *j, int v, const char *path, cb_org_t *out, cb_error_t *err)
{
    if (cb_json_type(j, v) != CB_JSON_OBJECT)
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected an object, got %s", path,
                            cb_json_type_name(j, v));
    if (get_string(j, v, path, "code", 1, &out->code, err) < 0 ||
        get_string(j, v, path, "name", 1, &out->name, err) < 0 ||
        get_string(j, v, path, "parent_code", 0, &out->parent_code, err) < 0 ||
        get_string(j, v, path, "parent_name", 0, &out->parent_name, err) < 0 ||
        get_string(j, v, path, "province", 1, &out->province, err) < 0 ||
        get_string(j, v, path, "address", 0, &out->address, err) < 0)
        return -1;
    return 0;
}

/* The required object field `key` as an Org. */
static int get_org(const cb_json_t *j, int root, const char *key, int required, cb_org_t *out,
                   cb_error_t *err)
{
    int v = cb_json_get(j, root, key);

    if (cb_json_is_null(j, v)) {
        if (required)
            return cb_error_set(err, CB_ERR_INVALID, "%s: required field is %s", key,
                                v >= 0 ? "null" : "missing");
        return 0;
    }
    return decode_org(j, v, key, out, err);
}

/* merged_orgs: absent or null is [], at most CB_MERGED_ORGS_MAX entries. */
static int decode_merged_orgs(const cb_json_t *j, int root, cb_event_t *ev, cb_error_t *err)
{
    int v = cb_json_get(j, root, "merged_orgs"), e;
    char p[PATH_MAX_LEN];
    size_t i, n;

    if (cb_json_is_null(j, v))
        return 0;
    if (cb_json_type(j, v) != CB_JSON_ARRAY)
        return cb_error_set(err, CB_ERR_INVALID, "merged_orgs: expected an array, got %s",
                            cb_json_type_name(j, v));
    n = j->tok[v].count;
    if (n > CB_MERGED_ORGS_MAX)
        return cb_error_set(err, CB_ERR_INVALID, "merged_orgs: %zu entries exceed the limit of %d",
                            n, CB_MERGED_ORGS_MAX);
    if (n == 0)
        return 0;
    ev->merged_orgs = calloc(n, sizeof(cb_org_t));
    if (!ev->merged_orgs)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    ev->merged_count = n;
    for (i = 0, e = v + 1; i < n; i++, e = (int)j->tok[e].end) {
        snprintf(p, sizeof(p), "merged_orgs[%zu]", i);
        if (decode_org(j, e, p, &ev->merged_orgs[i], err) < 0)
            return -1;
    }
    return 0;
}

/* The person object of a PersonEvent. */
static int decode_person(const cb_json_t *j, int v, cb_person_t *p, cb_error_t *err)
{
    if (cb_json_type(j, v) != CB_JSON_OBJECT)
        return cb_error_set(err, CB_ERR_INVALID, "person: expected an object, got %s",
                            cb_json_type_name(j, v));
    if (get_string(j, v, "person", "person_id", 1, &p->person_id, err) < 0 ||
        get_string(j, v, "person", "national_id", 1, &p->national_id, err) < 0 ||
        get_string(j, v, "person", "full_name", 1, &p->full_name, err) < 0 ||
        get_string(j, v, "person", "email", 0, &p->email, err) < 0 ||
        get_string(j, v, "person", "title", 0, &p->title, err) < 0 ||
        get_bool(j, v, "person", "is_leader", &p->is_leader, err) < 0)
        return -1;
    return 0;
}

/* The fields only a PersonEvent carries. */
static int decode_person_event(const cb_json_t *j, int root, int person, cb_event_t *ev,
                               cb_error_t *err)
{
    int prev = cb_json_get(j, root, "previous_org");
    int reason = CB_DEPARTURE_NONE;

    if (decode_person(j, person, &ev->person, err) < 0)
        return -1;
    if (!cb_json_is_null(j, prev)) {
        ev->previous_org = calloc(1, sizeof(cb_org_t));
        if (!ev->previous_org)
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        if (decode_org(j, prev, "previous_org", ev->previous_org, err) < 0)
            return -1;
    }
    if (get_symbol(j, root, "departure_reason", 0, cb_departure_reason_parse, &reason, err) < 0)
        return -1;
    ev->departure_reason = (cb_departure_reason_t)reason;
    return 0;
}

/* The fields only an OrgEvent carries. */
static int decode_org_event(const cb_json_t *j, int root, cb_event_t *ev, cb_error_t *err)
{
    if (decode_merged_orgs(j, root, ev, err) < 0 ||
        get_bool(j, root, NULL, "result_is_new", &ev->result_is_new, err) < 0 ||
        get_string(j, root, NULL, "certificate_carrier", 0, &ev->certificate_carrier, err) < 0)
        return -1;
    return 0;
}

/* Decodes one JSON event into out (see codec.h); out is empty on failure.
 * Fields are read in schema order, so the first bad one is reported. */
int cb_codec_json_decode_event(const char *buf, size_t len, cb_event_t *out, cb_error_t *err)
{
    cb_json_t j;
    int person, type = -1, rc = -1;
    const int root = 0;

    cb_event_init(out);
    if (len > CB_EVENT_MAX_BYTES) {
        cb_error_set(err, CB_ERR_LIMIT, "event: %zu bytes exceed the limit of %d", len,
                     CB_EVENT_MAX_BYTES);
        return -1;
    }
    if (cb_json_parse(&j, buf, len, err) < 0)
        return cb_error_prefix(err, "event");
    if (cb_json_type(&j, root) != CB_JSON_OBJECT) {
        cb_error_set(err, CB_ERR_INVALID, "event: expected an object, got %s",
                     cb_json_type_name(&j, root));
        goto done;
    }
    person = cb_json_get(&j, root, "person");
    out->kind = !cb_json_is_null(&j, person) ? CB_EVENT_PERSON : CB_EVENT_ORG;
    if (get_string(&j, root, NULL, "event_id", 1, &out->event_id, err) < 0 ||
        get_symbol(&j, root, "event_type", 1,
                   out->kind == CB_EVENT_ORG ? cb_org_event_type_parse : cb_person_event_type_parse,
                   &type, err) < 0 ||
        get_occurred_at(&j, root, &out->occurred_at_ms, err) < 0 ||
        get_effective_date(&j, root, &out->effective_date, err) < 0 ||
        get_string(&j, root, NULL, "source_system", 1, &out->source_system, err) < 0 ||
        get_org(&j, root, "org", 1, &out->org, err) < 0)
        goto done;
    out->type = type;
    if (out->kind == CB_EVENT_ORG ? decode_org_event(&j, root, out, err) < 0
                                  : decode_person_event(&j, root, person, out, err) < 0)
        goto done;
    if (cb_event_validate(out, err) < 0)
        goto done;
    rc = 0;
done:
    cb_json_free(&j);
    if (rc < 0)
        cb_event_clear(out);
    return rc;
}
