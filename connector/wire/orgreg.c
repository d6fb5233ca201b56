/*
 * orgreg.c: the organization registry read from HR export files (orgreg.h).
 *
 * Both formats become the same thing first: a record of known fields, each
 * an NFC string (a JSON boolean becomes "true"/"false"). The record is then
 * checked and kept as an organization or a person.
 */
#include "certbridge/orgreg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "certbridge/event.h"
#include "certbridge/json.h"
#include "certbridge/text.h"

#define CSV_COLUMNS_MAX 64 /* columns of one CSV line */

/* The fields a record can have, organizations' and persons'. */
enum {
    F_CODE = 0,
    F_NAME,
    F_PARENT_CODE,
    F_PARENT_NAME,
    F_PROVINCE,
    F_STATUS,
    F_SUCCESSOR,
    F_PERSON_ID,
    F_NATIONAL_ID,
    F_FULL_NAME,
    F_EMAIL,
    F_TITLE,
    F_IS_LEADER,
    F_ORG_CODE,
    F_DEPARTURE_REASON,
    F_DEPARTED_ON,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "code",      "name",      "parent_code",      "parent_name", "province", "status",
    "successor", "person_id", "national_id",      "full_name",   "email",    "title",
    "is_leader", "org_code",  "departure_reason", "departed_on"};

static const char *const org_status_names[] = {"ACTIVE", "DISSOLVED", "MERGED"};
static const char *const staff_status_names[] = {"ACTIVE", "DEPARTED"};

/* One record as read: the NFC value of each field, NULL when absent. */
typedef struct record {
    char *v[F_COUNT];
} record_t;

typedef struct org_entry {
    cb_orgreg_org_t org;
    size_t seq;
    bool dropped;
} org_entry_t;

typedef struct person_entry {
    cb_orgreg_person_t person;
    size_t seq;
    bool dropped;
} person_entry_t;

struct cb_orgreg {
    org_entry_t *orgs;
    size_t n_orgs, cap_orgs;
    person_entry_t *persons;
    size_t n_persons, cap_persons;
    size_t seq;
    bool finished;
    const cb_orgreg_org_t **org_index; /* kept organizations by code */
    size_t n_org_index;
    const cb_orgreg_person_t **person_index;
    size_t n_person_index;
};

/* The reading of one file: its name, format and (CSV) the field of each
 * column, -1 for columns not read. */
typedef struct reader {
    cb_orgreg_t *reg;
    const char *name;
    cb_orgreg_format_t format;
    bool have_header;
    int columns[CSV_COLUMNS_MAX];
    size_t n_columns;
    size_t lineno;
} reader_t;

const char *cb_org_status_name(cb_org_status_t s)
{
    return (unsigned)s < 3 ? org_status_names[s] : NULL;
}

int cb_org_status_parse(const char *s)
{
    return cb_symbol_parse(s, org_status_names, 3);
}

cb_orgreg_t *cb_orgreg_new(void)
{
    return calloc(1, sizeof(cb_orgreg_t));
}

static void org_free(cb_orgreg_org_t *o)
{
    free(o->code);
    free(o->name);
    free(o->parent_code);
    free(o->parent_name);
    free(o->province);
    free(o->successor);
}

static void person_free(cb_orgreg_person_t *p)
{
    free(p->person_id);
    free(p->national_id);
    free(p->full_name);
    free(p->email);
    free(p->title);
    free(p->org_code);
}

void cb_orgreg_destroy(cb_orgreg_t *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->n_orgs; i++)
        org_free(&r->orgs[i].org);
    for (i = 0; i < r->n_persons; i++)
        person_free(&r->persons[i].person);
    free(r->orgs);
    free(r->persons);
    free(r->org_index);
    free(r->person_index);
    free(r);
}

static void record_clear(record_t *rec)
{
    int f;

    for (f = 0; f < F_COUNT; f++) {
        free(rec->v[f]);
        rec->v[f] = NULL;
    }
}

/* The field of a name (case and surrounding spaces ignored), or -1. */
static int field_of(const char *s, size_t len)
{
    int f;

    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        len--;
    for (f = 0; f < F_COUNT; f++)
        if (strlen(field_names[f]) == len && strncasecmp(field_names[f], s, len) == 0)
            return f;
    return -1;
}

/* Sets field f of rec to the NFC copy of s[0..len); an empty value stays
 * absent. A field given twice keeps the later value. */
static int record_set(record_t *rec, int f, const char *s, size_t len, cb_error_t *err)
{
    char *v;

    if (!len)
        return 0;
    if (!(v = cb_text_nfc(s, len, CB_STRING_MAX_BYTES, err)))
        return cb_error_prefix(err, "%s", field_names[f]);
    free(rec->v[f]);
    rec->v[f] = v;
    return 0;
}

/* ---- checking and keeping ------------------------------------------- */

/* A copy of field f moved out of rec (rec keeps NULL). */
static char *take(record_t *rec, int f)
{
    char *v = rec->v[f];

    rec->v[f] = NULL;
    return v;
}

static int keep_org(cb_orgreg_t *r, record_t *rec, size_t line, cb_error_t *err)
{
    org_entry_t *e;
    int st = CB_ORGST_ACTIVE;

    if (!rec->v[F_CODE])
        return cb_error_set(err, CB_ERR_INVALID, "code: required (or person_id for a person)");
    if (!cb_org_code_valid(rec->v[F_CODE]))
        return cb_error_set(err, CB_ERR_INVALID,
                            "code: \"%.64s\" is not an electronic "
                            "identification code ([0-9A-Z.], dot-separated, 35 at most)",
                            rec->v[F_CODE]);
    if (rec->v[F_PARENT_CODE] && !cb_org_code_valid(rec->v[F_PARENT_CODE]))
        return cb_error_set(err, CB_ERR_INVALID,
                            "parent_code: \"%.64s\" is not an electronic "
                            "identification code",
                            rec->v[F_PARENT_CODE]);
    if (rec->v[F_SUCCESSOR] && !cb_org_code_valid(rec->v[F_SUCCESSOR]))
        return cb_error_set(err, CB_ERR_INVALID,
                            "successor: \"%.64s\" is not an electronic "
                            "identification code",
                            rec->v[F_SUCCESSOR]);
    if (rec->v[F_STATUS] && (st = cb_org_status_parse(rec->v[F_STATUS])) < 0)
        return cb_error_set(err, CB_ERR_INVALID,
                            "status: \"%.64s\" is not ACTIVE, DISSOLVED or MERGED",
                            rec->v[F_STATUS]);
    if (st == CB_ORGST_ACTIVE && (!rec->v[F_NAME] || !rec->v[F_PROVINCE]))
        return cb_error_set(err, CB_ERR_INVALID, "%s: required for an ACTIVE organization",
                            rec->v[F_NAME] ? "province" : "name");
    if (st != CB_ORGST_MERGED && rec->v[F_SUCCESSOR])
        return cb_error_set(err, CB_ERR_INVALID, "successor: only a MERGED organization has one");
    if (rec->v[F_SUCCESSOR] && !strcmp(rec->v[F_SUCCESSOR], rec->v[F_CODE]))
        return cb_error_set(err, CB_ERR_INVALID, "successor: the organization itself");
    if (r->n_orgs + r->n_persons >= CB_ORGREG_RECORDS_MAX)
        return cb_error_set(err, CB_ERR_LIMIT, "more than %d records", CB_ORGREG_RECORDS_MAX);
    if (r->n_orgs == r->cap_orgs) {
        size_t cap = r->cap_orgs ? r->cap_orgs * 2 : 64;
        org_entry_t *n = realloc(r->orgs, cap * sizeof(*n));
        if (!n)
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        r->orgs = n;
        r->cap_orgs = cap;
    }
    e = &r->orgs[r->n_orgs++];
    memset(e, 0, sizeof(*e));
    e->seq = r->seq++;
    e->org.code = take(rec, F_CODE);
    e->org.name = take(rec, F_NAME);
    e->org.parent_code = take(rec, F_PARENT_CODE);
    e->org.parent_name = take(rec, F_PARENT_NAME);
    e->org.province = take(rec, F_PROVINCE);
    e->org.successor = take(rec, F_SUCCESSOR);
    e->org.status = (cb_org_status_t)st;
    e->org.line = line;
    return 0;
}

static int keep_person(cb_orgreg_t *r, record_t *rec, cb_error_t *err)
{
    person_entry_t *e;
    int st = CB_STAFF_ACTIVE, reason = CB_DEPARTURE_NONE;
    bool leader = false;
    int64_t days = 0;

    if (rec->v[F_NATIONAL_ID] && !cb_national_id_valid(rec->v[F_NATIONAL_ID]))
        return cb_error_set(err, CB_ERR_INVALID, "national_id: not 12 digits");
    if (rec->v[F_ORG_CODE] && !cb_org_code_valid(rec->v[F_ORG_CODE]))
        return cb_error_set(err, CB_ERR_INVALID,
                            "org_code: \"%.64s\" is not an electronic "
                            "identification code",
                            rec->v[F_ORG_CODE]);
    if (rec->v[F_STATUS] && (st = cb_symbol_parse(rec->v[F_STATUS], staff_status_names, 2)) < 0)
        return cb_error_set(err, CB_ERR_INVALID, "status: \"%.64s\" is not ACTIVE or DEPARTED",
                            rec->v[F_STATUS]);
    if (rec->v[F_DEPARTURE_REASON] &&
        (reason = cb_departure_reason_parse(rec->v[F_DEPARTURE_REASON])) < 0)
        return cb_error_set(err, CB_ERR_INVALID,
                            "departure_reason: \"%.64s\" is not RETIRED, RESIGNED, DECEASED, "
                            "DISMISSED or OTHER",
                            rec->v[F_DEPARTURE_REASON]);
    if (rec->v[F_IS_LEADER]) {
        if (!strcasecmp(rec->v[F_IS_LEADER], "true") || !strcmp(rec->v[F_IS_LEADER], "1"))
            leader = true;
        else if (strcasecmp(rec->v[F_IS_LEADER], "false") && strcmp(rec->v[F_IS_LEADER], "0"))
            return cb_error_set(err, CB_ERR_INVALID, "is_leader: expected true or false");
    }
    if (rec->v[F_DEPARTED_ON] && (strlen(rec->v[F_DEPARTED_ON]) != 10 ||
                                  cb_time_parse_date(rec->v[F_DEPARTED_ON], &days) < 0 ||
                                  days < CB_DATE_MIN_DAYS || days > CB_DATE_MAX_DAYS))
        return cb_error_set(err, CB_ERR_INVALID, "departed_on: \"%.64s\" is not a YYYY-MM-DD date",
                            rec->v[F_DEPARTED_ON]);
    if (st == CB_STAFF_ACTIVE && (reason != CB_DEPARTURE_NONE || rec->v[F_DEPARTED_ON]))
        return cb_error_set(err, CB_ERR_INVALID,
                            "departure_reason, departed_on: only for a DEPARTED person");
    if (r->n_orgs + r->n_persons >= CB_ORGREG_RECORDS_MAX)
        return cb_error_set(err, CB_ERR_LIMIT, "more than %d records", CB_ORGREG_RECORDS_MAX);
    if (r->n_persons == r->cap_persons) {
        size_t cap = r->cap_persons ? r->cap_persons * 2 : 64;
        person_entry_t *n = realloc(r->persons, cap * sizeof(*n));
        if (!n)
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        r->persons = n;
        r->cap_persons = cap;
    }
    e = &r->persons[r->n_persons++];
    memset(e, 0, sizeof(*e));
    e->seq = r->seq++;
    e->person.person_id = take(rec, F_PERSON_ID);
    e->person.national_id = take(rec, F_NATIONAL_ID);
    e->person.full_name = take(rec, F_FULL_NAME);
    e->person.email = take(rec, F_EMAIL);
    e->person.title = take(rec, F_TITLE);
    e->person.org_code = take(rec, F_ORG_CODE);
    e->person.is_leader = leader;
    e->person.status = (cb_staff_status_t)st;
    e->person.departure_reason = (cb_departure_reason_t)reason;
    e->person.has_departed_on = rec->v[F_DEPARTED_ON] != NULL;
    e->person.departed_on = (int32_t)days;
    return 0;
}

/* Keeps a complete record: a person when it has person_id. */
static int keep(reader_t *rd, record_t *rec, cb_error_t *err)
{
    return rec->v[F_PERSON_ID] ? keep_person(rd->reg, rec, err)
                               : keep_org(rd->reg, rec, rd->lineno, err);
}

/* ---- JSONL ---------------------------------------------------------- */

static int jsonl_line(reader_t *rd, const char *line, size_t len, record_t *rec, cb_error_t *err)
{
    cb_json_t j;
    int m, f;
    uint32_t i;

    if (cb_json_parse(&j, line, len, err) < 0)
        return -1;
    if (cb_json_type(&j, 0) != CB_JSON_OBJECT) {
        cb_error_set(err, CB_ERR_INVALID, "expected a JSON object, got %s",
                     cb_json_type_name(&j, 0));
        cb_json_free(&j);
        return -1;
    }
    /* members: a name token, then its value */
    for (i = 0, m = 1; i < j.tok[0].count; i++, m = (int)j.tok[m + 1].end) {
        const char *raw;
        char *tmp = NULL;
        size_t rlen;
        int v = m + 1;
        if (!cb_json_raw(&j, m, &raw, &rlen) && !(raw = tmp = cb_json_strdup(&j, m, &rlen)))
            goto nomem;
        f = field_of(raw, rlen);
        free(tmp);
        tmp = NULL;
        if (f < 0 || cb_json_is_null(&j, v))
            continue;
        if (f == F_IS_LEADER &&
            (cb_json_type(&j, v) == CB_JSON_TRUE || cb_json_type(&j, v) == CB_JSON_FALSE)) {
            const char *b = cb_json_type(&j, v) == CB_JSON_TRUE ? "true" : "false";
            if (record_set(rec, f, b, strlen(b), err) < 0)
                goto fail;
            continue;
        }
        if (cb_json_type(&j, v) != CB_JSON_STRING) {
            cb_error_set(err, CB_ERR_INVALID, "%s: expected a string, got %s", field_names[f],
                         cb_json_type_name(&j, v));
            goto fail;
        }
        if (!cb_json_raw(&j, v, &raw, &rlen) && !(raw = tmp = cb_json_strdup(&j, v, &rlen)))
            goto nomem;
        if (record_set(rec, f, raw, rlen, err) < 0) {
            free(tmp);
            goto fail;
        }
        free(tmp);
    }
    cb_json_free(&j);
    return keep(rd, rec, err);
nomem:
    cb_error_set(err, CB_ERR_NOMEM, "out of memory");
fail:
    cb_json_free(&j);
    return -1;
}

/* ---- CSV ------------------------------------------------------------ */

/* Splits one CSV line into at most CSV_COLUMNS_MAX fields: starts[k] and
 * lens[k] point into buf, where quoted fields are unquoted in place. */
static int csv_split(char *buf, size_t len, char **starts, size_t *lens, size_t *n, cb_error_t *err)
{
    size_t i = 0, k = 0;

    for (;;) {
        char *out;
        if (k == CSV_COLUMNS_MAX)
            return cb_error_set(err, CB_ERR_LIMIT, "more than %d columns", CSV_COLUMNS_MAX);
        if (i < len && buf[i] == '"') {
            size_t o = ++i;
            out = buf + o;
            starts[k] = out;
            for (;;) {
                if (i >= len)
                    return cb_error_set(err, CB_ERR_INVALID,
                                        "column %zu: a quoted field does not end on this line",
                                        k + 1);
                if (buf[i] == '"') {
                    if (i + 1 < len && buf[i + 1] == '"') {
                        buf[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                buf[o++] = buf[i++];
            }
            lens[k] = (size_t)(buf + o - out);
            if (i < len && buf[i] != ',')
                return cb_error_set(err, CB_ERR_INVALID, "column %zu: text after the closing quote",
                                    k + 1);
        } else {
            starts[k] = buf + i;
            while (i < len && buf[i] != ',') {
                if (buf[i] == '"')
                    return cb_error_set(err, CB_ERR_INVALID,
                                        "column %zu: a quote inside an unquoted field", k + 1);
                i++;
            }
            lens[k] = (size_t)(buf + i - starts[k]);
        }
        k++;
        if (i >= len)
            break;
        i++; /* the comma */
    }
    *n = k;
    return 0;
}

static int csv_line(reader_t *rd, const char *line, size_t len, record_t *rec, cb_error_t *err)
{
    char *buf = malloc(len + 1), *starts[CSV_COLUMNS_MAX];
    size_t lens[CSV_COLUMNS_MAX], n = 0, k;
    int rc = -1;
    bool any_org = false, any_person = false;

    if (!buf)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (csv_split(buf, len, starts, lens, &n, err) < 0)
        goto out;
    if (!rd->have_header) {
        for (k = 0; k < n; k++) {
            rd->columns[k] = field_of(starts[k], lens[k]);
            any_org |= rd->columns[k] == F_CODE;
            any_person |= rd->columns[k] == F_PERSON_ID;
        }
        if (!any_org && !any_person) {
            cb_error_set(err, CB_ERR_INVALID,
                         "the header names neither a code nor a person_id column");
            goto out;
        }
        rd->n_columns = n;
        rd->have_header = true;
        rc = 0;
        goto out;
    }
    if (n != rd->n_columns) {
        cb_error_set(err, CB_ERR_INVALID, "%zu columns, the header has %zu", n, rd->n_columns);
        goto out;
    }
    for (k = 0; k < n; k++) {
        /* unquoted cells lose surrounding spaces; a trailing CR is gone */
        const char *s = starts[k];
        size_t l = lens[k];
        if (rd->columns[k] < 0)
            continue;
        while (l && (s[l - 1] == '\r'))
            l--;
        if (record_set(rec, rd->columns[k], s, l, err) < 0)
            goto out;
    }
    rc = keep(rd, rec, err);
out:
    free(buf);
    return rc;
}

/* ---- lines ---------------------------------------------------------- */

/* The spaces and tabs at the start of line[0..len) (it may not end in a
 * NUL). */
static size_t blanks(const char *line, size_t len)
{
    size_t i = 0;

    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i;
}

/* One line (without its '\n'): blank lines are skipped; the first decides
 * an AUTO format. */
static int load_line(reader_t *rd, const char *line, size_t len, cb_error_t *err)
{
    record_t rec;
    size_t skip = 0;
    int rc;

    rd->lineno++;
    if (rd->lineno == 1 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3))
        skip = 3; /* a byte order mark */
    line += skip;
    len -= skip;
    while (len && line[len - 1] == '\r')
        len--;
    if (blanks(line, len) >= len)
        return 0;
    if (memchr(line, '\0', len))
        return cb_error_set(err, CB_ERR_INVALID, "%s:%zu: a NUL byte", rd->name, rd->lineno);
    if (rd->format == CB_ORGREG_AUTO)
        rd->format = line[blanks(line, len)] == '{' ? CB_ORGREG_JSONL : CB_ORGREG_CSV;
    memset(&rec, 0, sizeof(rec));
    rc = rd->format == CB_ORGREG_JSONL ? jsonl_line(rd, line, len, &rec, err)
                                       : csv_line(rd, line, len, &rec, err);
    record_clear(&rec);
    if (rc < 0)
        cb_error_prefix(err, "%s:%zu", rd->name, rd->lineno);
    return rc;
}

int cb_orgreg_load(cb_orgreg_t *r, const char *name, const char *data, size_t len,
                   cb_orgreg_format_t format, cb_error_t *err)
{
    reader_t rd;
    size_t pos = 0;

    if (r->finished)
        return cb_error_set(err, CB_ERR_INTERNAL, "registry: loaded after finish");
    memset(&rd, 0, sizeof(rd));
    rd.reg = r;
    rd.name = name;
    rd.format = format;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - (data + pos)) : len - pos;
        if (l > CB_ORGREG_LINE_MAX)
            return cb_error_set(err, CB_ERR_LIMIT, "%s:%zu: line longer than %d bytes", name,
                                rd.lineno + 1, CB_ORGREG_LINE_MAX);
        if (load_line(&rd, data + pos, l, err) < 0)
            return -1;
        pos += l + 1;
    }
    return 0;
}

/* The format a file name's ending names; AUTO when none. */
static cb_orgreg_format_t format_of(const char *path)
{
    const char *dot = strrchr(path, '.');

    if (!dot)
        return CB_ORGREG_AUTO;
    if (!strcasecmp(dot, ".csv"))
        return CB_ORGREG_CSV;
    if (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson") || !strcasecmp(dot, ".json"))
        return CB_ORGREG_JSONL;
    return CB_ORGREG_AUTO;
}

int cb_orgreg_load_file(cb_orgreg_t *r, const char *path, cb_error_t *err)
{
    char *line = malloc(CB_ORGREG_LINE_MAX + 2);
    FILE *f = fopen(path, "r");
    reader_t rd;
    int rc = -1;

    if (r->finished) {
        rc = cb_error_set(err, CB_ERR_INTERNAL, "registry: loaded after finish");
        goto out;
    }
    if (!f) {
        rc = cb_error_set(err, CB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (!line) {
        rc = cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    memset(&rd, 0, sizeof(rd));
    rd.reg = r;
    rd.name = path;
    rd.format = format_of(path);
    while (fgets(line, CB_ORGREG_LINE_MAX + 2, f)) {
        size_t len = strlen(line);
        bool nl = len && line[len - 1] == '\n';
        if (nl)
            len--;
        if (len > CB_ORGREG_LINE_MAX || (!nl && !feof(f))) {
            rc = cb_error_set(err, CB_ERR_LIMIT,
                              "%s:%zu: line longer than %d bytes (or a NUL "
                              "byte)",
                              path, rd.lineno + 1, CB_ORGREG_LINE_MAX);
            goto out;
        }
        if (load_line(&rd, line, len, err) < 0)
            goto out;
    }
    if (ferror(f)) {
        rc = cb_error_set(err, CB_ERR_IO, "%s: read error", path);
        goto out;
    }
    rc = 0;
out:
    if (f)
        fclose(f);
    free(line);
    return rc;
}

/* ---- the index ------------------------------------------------------ */

static int cmp_org_entry(const void *a, const void *b)
{
    const org_entry_t *x = *(org_entry_t *const *)a, *y = *(org_entry_t *const *)b;
    int c = strcmp(x->org.code, y->org.code);

    return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static int cmp_person_entry(const void *a, const void *b)
{
    const person_entry_t *x = *(person_entry_t *const *)a, *y = *(person_entry_t *const *)b;
    int c = strcmp(x->person.person_id, y->person.person_id);

    return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

int cb_orgreg_finish(cb_orgreg_t *r, cb_error_t *err)
{
    org_entry_t **ov = NULL;
    person_entry_t **pv = NULL;
    size_t i;

    if (r->finished)
        return 0;
    ov = malloc((r->n_orgs + 1) * sizeof(*ov));
    pv = malloc((r->n_persons + 1) * sizeof(*pv));
    r->org_index = malloc((r->n_orgs + 1) * sizeof(*r->org_index));
    r->person_index = malloc((r->n_persons + 1) * sizeof(*r->person_index));
    if (!ov || !pv || !r->org_index || !r->person_index) {
        free(ov);
        free(pv);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < r->n_orgs; i++)
        ov[i] = &r->orgs[i];
    qsort(ov, r->n_orgs, sizeof(*ov), cmp_org_entry);
    for (i = 0; i < r->n_orgs; i++) {
        if (i + 1 < r->n_orgs && !strcmp(ov[i]->org.code, ov[i + 1]->org.code))
            ov[i]->dropped = true; /* a later record replaces it */
        else
            r->org_index[r->n_org_index++] = &ov[i]->org;
    }
    for (i = 0; i < r->n_persons; i++)
        pv[i] = &r->persons[i];
    qsort(pv, r->n_persons, sizeof(*pv), cmp_person_entry);
    for (i = 0; i < r->n_persons; i++) {
        if (i + 1 < r->n_persons && !strcmp(pv[i]->person.person_id, pv[i + 1]->person.person_id))
            pv[i]->dropped = true;
        else
            r->person_index[r->n_person_index++] = &pv[i]->person;
    }
    free(ov);
    free(pv);
    r->finished = true;
    return 0;
}

const cb_orgreg_org_t *cb_orgreg_org(const cb_orgreg_t *r, const char *code)
{
    size_t lo = 0, hi = r->n_org_index;

    if (!code)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->org_index[mid]->code, code);
        if (c == 0)
            return r->org_index[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const cb_orgreg_org_t *const *cb_orgreg_orgs(const cb_orgreg_t *r, size_t *n)
{
    *n = r->n_org_index;
    return r->org_index;
}

size_t cb_orgreg_org_index(const cb_orgreg_t *r, const cb_orgreg_org_t *org)
{
    size_t lo = 0, hi = r->n_org_index;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->org_index[mid]->code, org->code);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return r->n_org_index;
}

const cb_orgreg_org_t *cb_orgreg_successor(const cb_orgreg_t *r, const cb_orgreg_org_t *org)
{
    int hops;

    if (!org || org->status != CB_ORGST_MERGED)
        return NULL;
    for (hops = 0; hops < CB_ORGREG_SUCCESSOR_HOPS; hops++) {
        if (!org->successor || !(org = cb_orgreg_org(r, org->successor)))
            return NULL;
        if (org->status != CB_ORGST_MERGED)
            return org;
    }
    return NULL;
}

const cb_orgreg_person_t *cb_orgreg_person(const cb_orgreg_t *r, const char *person_id)
{
    size_t lo = 0, hi = r->n_person_index;

    if (!person_id)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->person_index[mid]->person_id, person_id);
        if (c == 0)
            return r->person_index[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t cb_orgreg_person_count(const cb_orgreg_t *r)
{
    return r->n_person_index;
}

cb_orgreg_agency_t cb_orgreg_agency_of_org(const cb_orgreg_t *r, const char *code,
                                           const char *fallback_parent, const char *fallback_name)
{
    const cb_orgreg_org_t *org = r && code ? cb_orgreg_org(r, code) : NULL, *parent;
    cb_orgreg_agency_t a = {NULL, NULL};

    if (org && org->parent_code) {
        parent = cb_orgreg_org(r, org->parent_code);
        a.code = org->parent_code;
        a.name = parent && parent->name ? parent->name : org->parent_name;
    } else if (org && org->parent_name) {
        a.name = org->parent_name;
    } else if (!org && fallback_parent) {
        a.name = fallback_parent;
    } else {
        a.code = code;
        a.name = org && org->name ? org->name : fallback_name;
    }
    return a;
}

cb_orgreg_agency_t cb_orgreg_agency_of_person(const cb_orgreg_t *r, const char *person_id,
                                              const char *org_code, const char *fallback_org)
{
    const cb_orgreg_person_t *hr = r && person_id ? cb_orgreg_person(r, person_id) : NULL;
    const char *code = hr && hr->org_code ? hr->org_code : org_code;
    const cb_orgreg_org_t *org = r && code ? cb_orgreg_org(r, code) : NULL, *to;
    cb_orgreg_agency_t a = {NULL, NULL};

    if (org && org->status == CB_ORGST_MERGED && (to = cb_orgreg_successor(r, org))) {
        a.code = to->code;
        a.name = to->name;
    } else if (org && org->status == CB_ORGST_DISSOLVED && org->parent_code) {
        to = cb_orgreg_org(r, org->parent_code);
        a.code = org->parent_code;
        a.name = to && to->name ? to->name : org->parent_name;
    } else {
        a.code = code;
        a.name = org && org->name ? org->name : fallback_org;
    }
    return a;
}
