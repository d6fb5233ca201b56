/*
 * orgreg.h: the organization registry (docs/DOMAIN.md §6): the
 * authoritative list of organizations after the reorganization, and the
 * staff an HR system lists, read from the export files of the HR system, for
 * `certbridge reconcile` and the per-agency views of `certbridge report`.
 *
 * Two formats, one record per line (the format comes from the file name's
 * ending, .csv or .jsonl/.ndjson/.json, or else from the first character):
 *   JSONL  one JSON object per line;
 *   CSV    RFC 4180 fields (quoted fields may hold commas and doubled
 *          quotes, not line breaks), a header line naming the columns
 *          (case and surrounding spaces ignored; unknown columns ignored),
 *          an optional UTF-8 byte order mark.
 * Each record is an organization or a person, by its fields (a CSV file
 * holds one kind, by its header):
 *   organization: code (required, an electronic identification code), name,
 *     parent_code, parent_name, province, status (ACTIVE, the default;
 *     DISSOLVED; MERGED), successor (the code of the organization it was
 *     merged into). An ACTIVE organization needs name and province.
 *   person: person_id (required), national_id (12 digits), full_name,
 *     email, title, is_leader (true/false), org_code (the organization the
 *     person belongs to now), status (ACTIVE, the default; DEPARTED),
 *     departure_reason (RETIRED, RESIGNED, DECEASED, DISMISSED, OTHER),
 *     departed_on (YYYY-MM-DD).
 * Empty and null values are absent. Every string is checked as UTF-8 and
 * stored in NFC, at most CB_STRING_MAX_BYTES bytes (event.h). A code or
 * person id that appears again replaces the earlier record, as a later
 * message of a compacted topic does.
 *
 * Limits: lines of CB_ORGREG_LINE_MAX bytes, CB_ORGREG_RECORDS_MAX records
 * in one registry (files added up). A bad line stops the load with
 * CB_ERR_INVALID ("FILE:LINE: field: reason"), a limit with CB_ERR_LIMIT.
 *
 * Use: cb_orgreg_new, cb_orgreg_load_file (or cb_orgreg_load) once per
 * file, cb_orgreg_finish, then the lookups. A registry is used by one
 * thread at a time; the records belong to it.
 */
#ifndef CB_ORGREG_H
#define CB_ORGREG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"
#include "certbridge/vocab.h"

#define CB_ORGREG_LINE_MAX       (16 * 1024)
#define CB_ORGREG_RECORDS_MAX    2000000
#define CB_ORGREG_SUCCESSOR_HOPS 16 /* longest chain of mergers followed */

typedef enum cb_org_status {
    CB_ORGST_ACTIVE = 0,
    CB_ORGST_DISSOLVED,
    CB_ORGST_MERGED
} cb_org_status_t;
typedef enum cb_staff_status { CB_STAFF_ACTIVE = 0, CB_STAFF_DEPARTED } cb_staff_status_t;

typedef struct cb_orgreg_org {
    char *code;
    char *name, *parent_code, *parent_name, *province; /* NULL when absent */
    cb_org_status_t status;
    char *successor; /* MERGED: the code it was merged into; NULL when unknown */
    size_t line;     /* where it was read (for messages) */
} cb_orgreg_org_t;

typedef struct cb_orgreg_person {
    char *person_id;
    char *national_id, *full_name, *email, *title, *org_code; /* NULL when absent */
    bool is_leader;
    cb_staff_status_t status;
    cb_departure_reason_t departure_reason; /* CB_DEPARTURE_NONE when absent */
    bool has_departed_on;
    int32_t departed_on; /* days since 1970-01-01 */
} cb_orgreg_person_t;

typedef enum cb_orgreg_format {
    CB_ORGREG_AUTO = 0, /* the first character: '{' JSONL, else CSV */
    CB_ORGREG_JSONL,
    CB_ORGREG_CSV
} cb_orgreg_format_t;

typedef struct cb_orgreg cb_orgreg_t;

/* An empty registry; NULL when out of memory. */
cb_orgreg_t *cb_orgreg_new(void);
void cb_orgreg_destroy(cb_orgreg_t *r);

/* Reads the records of len bytes at data (name is used in messages). Not
 * after cb_orgreg_finish. */
int cb_orgreg_load(cb_orgreg_t *r, const char *name, const char *data, size_t len,
                   cb_orgreg_format_t format, cb_error_t *err);

/* As cb_orgreg_load on a file, read line by line (never whole); the format
 * from the name's ending, else AUTO. CB_ERR_IO when it cannot be read. */
int cb_orgreg_load_file(cb_orgreg_t *r, const char *path, cb_error_t *err);

/* Keeps the last record of each code and person id and sorts them. Call
 * once, after the last load; the lookups need it. */
int cb_orgreg_finish(cb_orgreg_t *r, cb_error_t *err);

/* The organization with this code, or NULL. */
const cb_orgreg_org_t *cb_orgreg_org(const cb_orgreg_t *r, const char *code);
/* Every organization, sorted by code; *n gets their number. */
const cb_orgreg_org_t *const *cb_orgreg_orgs(const cb_orgreg_t *r, size_t *n);
/* The index of an organization of the registry in cb_orgreg_orgs' order. */
size_t cb_orgreg_org_index(const cb_orgreg_t *r, const cb_orgreg_org_t *org);
/* Where a merged organization went: its successor's successor, and so on,
 * to the first one that is not MERGED (at most CB_ORGREG_SUCCESSOR_HOPS
 * hops); NULL when org is not MERGED, has no successor, or the chain
 * leaves the registry or loops. */
const cb_orgreg_org_t *cb_orgreg_successor(const cb_orgreg_t *r, const cb_orgreg_org_t *org);

/* A managing agency (docs/DOMAIN.md §6): the agency whose head signs the
 * requests to the CA for a certificate. code NULL: known by name only; both
 * NULL: unknown. Strings borrowed from the registry or the caller. */
typedef struct cb_orgreg_agency {
    const char *code, *name;
} cb_orgreg_agency_t;

/* The managing agency of an organization's certificate: its parent (the
 * registry's parent_code, or parent_name), or itself when the registry
 * lists it without a parent. An organization the registry does not list:
 * fallback_parent (the subject's O) by name, else itself by code and
 * fallback_name. r may be NULL (no registry). */
cb_orgreg_agency_t cb_orgreg_agency_of_org(const cb_orgreg_t *r, const char *code,
                                           const char *fallback_parent, const char *fallback_name);

/* The managing agency of a person's certificate: the organization the
 * person belongs to (the HR export's org_code for person_id, else org_code),
 * its successor when it was merged away, its parent when it was dissolved.
 * Without any code, fallback_org (the subject's OU) by name. r may be NULL. */
cb_orgreg_agency_t cb_orgreg_agency_of_person(const cb_orgreg_t *r, const char *person_id,
                                              const char *org_code, const char *fallback_org);

/* The person with this id, or NULL; the number of persons. */
const cb_orgreg_person_t *cb_orgreg_person(const cb_orgreg_t *r, const char *person_id);
size_t cb_orgreg_person_count(const cb_orgreg_t *r);

/* "ACTIVE", "DISSOLVED", "MERGED"; and the parser (-1 when unknown). */
const char *cb_org_status_name(cb_org_status_t s);
int cb_org_status_parse(const char *s);

#endif
