/*
 * report.h: `certbridge report`, the progress of a reorganization read back
 * from the outcome topic, for HR officers and reporting consumers.
 *
 * Two layers. The report itself takes outcomes (cb_report_add, no Kafka),
 * aggregates them and renders a terminal table, a JSON document or one
 * self-contained HTML page with an SVG progress chart. cb_report_read_kafka
 * is the thin layer that reads every partition of the outcome topic with
 * read_committed from the beginning to its end and feeds the report.
 *
 * Aggregation:
 *   - outcomes with the same outcome_id count once (the one added last wins:
 *     within a partition that is the latest); the others are counted as
 *     duplicates;
 *   - an ORGANIZATION outcome belongs to the group of its holder_id (the
 *     organization's code);
 *   - a PERSON outcome of an organization event (policy.cascade_personal)
 *     belongs to that event's organization: the holder of the event's first
 *     ORGANIZATION outcome; a PERSON outcome of a person event belongs to the
 *     group "personal certificates: <source_event_type>" (the outcome does not
 *     name the person's organization);
 *   - open: PENDING, FAILED and REJECTED outcomes (with their error);
 *   - pending at the CA: the actions whose latest record is PENDING (the CA
 *     has not finished; docs/ARCHITECTURE.md §5), each with its age: the
 *     working time (requests.h, cb_requests_working_ms: Monday to Friday in
 *     the working time zone) from its PENDING record's processed_at to the
 *     report's now; overdue when that age reaches the deadline, as
 *     ca.pending_deadline_hours counts it in `run`. Per group and per
 *     managing agency: how many, how many overdue, the oldest;
 *   - key tokens to return: RECALL_DEVICE outcomes SUCCEEDED or ALREADY_DONE,
 *     one per device_id; those the CA recorded as returned
 *     (cb_report_mark_returned) are no longer out;
 *   - by event type: every outcome under its source_event_type;
 *   - by managing agency (docs/DOMAIN.md §6), with a registry
 *     (cb_report_set_registry, orgreg.h): an ORGANIZATION outcome under its
 *     organization's parent (or itself at the top); a PERSON outcome of an
 *     organization event (a cascade) under the organization of that event's
 *     first ORGANIZATION outcome, as the person belongs to it (for a merger:
 *     the resulting or carrier organization, as it stands in the registry:
 *     its successor when it was merged away); a PERSON outcome of a person
 *     event under the organization the HR export lists the person in.
 *     Without a registry there is no agency view (an outcome does not name
 *     the parent or a person's organization).
 */
#ifndef CB_REPORT_H
#define CB_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "certbridge/config.h"
#include "certbridge/error.h"
#include "certbridge/orgreg.h"
#include "certbridge/outcome.h"

#define CB_REPORT_MAX_OUTCOMES 2000000 /* outcomes one report holds (CB_ERR_LIMIT beyond) */

typedef struct cb_report cb_report_t;

/* One outcome as the report keeps it. Strings are owned by the report; NULL
 * where the outcome had null. */
typedef struct cb_report_item {
    const char *outcome_id, *source_event_id, *source_event_type;
    cb_action_t action;
    int32_t action_index;
    cb_holder_type_t holder_type;
    const char *holder_id, *holder_name;
    const char *certificate_serial, *new_certificate_serial, *device_id;
    cb_outcome_status_t status;
    const char *ca_request_id, *error_code, *error_message;
    int32_t http_status; /* 0 = no CA answer */
    int64_t processed_at_ms;
    bool emergency_signing_allowed;
    size_t group;           /* index into cb_report_groups() */
    size_t agency;          /* index into cb_report_agencies(), when there are any */
    int64_t returned_at_ms; /* tokens: when the CA recorded its return; 0 = still out */
    /* PENDING items: the working time from processed_at_ms (the PENDING
     * record's time) to the report's now, and whether it reached the
     * deadline. 0 and false for other items, and for a PENDING item without
     * a processed_at (its age is unknown). */
    int64_t pending_working_ms;
    bool overdue;
} cb_report_item_t;

/* The pending actions of a group or managing agency: how many, how many
 * overdue, and the oldest (its PENDING record's time and working age; 0
 * when none has a known age). */
typedef struct cb_report_pending_sum {
    size_t pending, overdue;
    int64_t oldest_since_ms, oldest_working_ms;
} cb_report_pending_sum_t;

/* A managing agency, or a source event type, with its outcomes' counts. */
typedef struct cb_report_agency {
    const char *code; /* NULL when known by name only */
    const char *name;
    size_t counts[CB_ACTION_COUNT][CB_STATUS_COUNT];
    size_t total;
    size_t tokens_out; /* key tokens recalled and not returned */
    cb_report_pending_sum_t pending;
} cb_report_agency_t;

typedef struct cb_report_event_type {
    const char *type; /* source_event_type, e.g. MERGED, DEPARTED */
    size_t counts[CB_ACTION_COUNT][CB_STATUS_COUNT];
    size_t total;
} cb_report_event_type_t;

/* A row group: one organization, or the personal certificates of one kind
 * of person event. */
typedef struct cb_report_group {
    const char *code;       /* the organization's code; NULL for a personal group */
    const char *name;       /* organization name, or "personal certificates: TYPE" */
    const char *event_type; /* personal groups: the person event type; else NULL */
    size_t counts[CB_ACTION_COUNT][CB_STATUS_COUNT];
    size_t total;
    cb_report_pending_sum_t pending;
} cb_report_group_t;

/* An empty report; NULL when out of memory. Caller frees with
 * cb_report_destroy(). */
cb_report_t *cb_report_new(void);
void cb_report_destroy(cb_report_t *r);

/* Copies what the report needs of o (o stays the caller's). Fails with
 * CB_ERR_LIMIT past CB_REPORT_MAX_OUTCOMES, CB_ERR_NOMEM, or CB_ERR_INVALID
 * for an action or status out of range. Not after cb_report_finish. */
int cb_report_add(cb_report_t *r, const cb_outcome_t *o, cb_error_t *err);

/* The registry the managing agencies come from (borrowed, finished; it
 * must outlive the report). Before cb_report_finish; NULL = none. */
void cb_report_set_registry(cb_report_t *r, const cb_orgreg_t *reg);

/* Records that the CA has the token device_id back (at returned_at_ms):
 * the tokens' list then shows it returned and no longer counts it out. Also
 * notes that returns were asked for (cb_report_returns_checked). Before
 * cb_report_finish; CB_ERR_NOMEM. */
int cb_report_mark_returned(cb_report_t *r, const char *device_id, int64_t returned_at_ms,
                            cb_error_t *err);
/* Notes that the CA was asked for returned tokens (even when it had none). */
void cb_report_set_returns_checked(cb_report_t *r);
bool cb_report_returns_checked(const cb_report_t *r);

/* How the ages of pending actions are measured. */
#define CB_REPORT_DEADLINE_HOURS_DEFAULT 72  /* ca.pending_deadline_hours' default */
#define CB_REPORT_UTC_OFFSET_DEFAULT     420 /* ca.working_utc_offset_minutes' (UTC+7) */
typedef struct cb_report_clock {
    int64_t now_ms;     /* the report's now, epoch ms; 0 = the wall clock at finish */
    int deadline_hours; /* working hours a PENDING action may wait; 1..87600 */
    int utc_offset_min; /* the working week's time zone, minutes east of UTC */
} cb_report_clock_t;

/* Sets the clock of the pending ages (default: the wall clock at finish,
 * CB_REPORT_DEADLINE_HOURS_DEFAULT, CB_REPORT_UTC_OFFSET_DEFAULT). Before
 * cb_report_finish. */
void cb_report_set_clock(cb_report_t *r, const cb_report_clock_t *clock);
/* The clock used (now_ms filled in by cb_report_finish). */
void cb_report_get_clock(const cb_report_t *r, cb_report_clock_t *clock);

/* Counts a message of the topic that did not decode as an outcome. */
void cb_report_add_undecodable(cb_report_t *r);

/* Drops duplicates, assigns groups, sorts the lists. Call once, after the
 * last cb_report_add; the accessors and writers need it. */
int cb_report_finish(cb_report_t *r, cb_error_t *err);

/* new + add each of outcomes[0..n) + finish; NULL with err on failure. */
cb_report_t *cb_report_build(const cb_outcome_t *outcomes, size_t n, cb_error_t *err);

/* Figures of a finished report. action or status -1 = any. */
size_t cb_report_count(const cb_report_t *r, int action, int status);
size_t cb_report_event_count(const cb_report_t *r); /* distinct source_event_id */
size_t cb_report_duplicates(const cb_report_t *r);
size_t cb_report_undecodable(const cb_report_t *r);

/* The groups (organizations by code, then personal groups by event type),
 * and the items of the lists, sorted; arrays owned by the report. */
const cb_report_group_t *cb_report_groups(const cb_report_t *r, size_t *n);
const cb_report_item_t *const *cb_report_open(const cb_report_t *r, size_t *n);
const cb_report_item_t *const *cb_report_tokens(const cb_report_t *r, size_t *n);
/* The pending items, oldest first (by working age, then PENDING time, then
 * outcome id; those without a known age last), and the overdue ones: the
 * first *n of the same list. Arrays owned by the report. */
const cb_report_item_t *const *cb_report_pending(const cb_report_t *r, size_t *n);
const cb_report_item_t *const *cb_report_overdue(const cb_report_t *r, size_t *n);
/* Tokens of cb_report_tokens not returned (all of them unless returns were
 * marked). */
size_t cb_report_tokens_out(const cb_report_t *r);
/* The managing agencies (by code, then named ones by name; none without a
 * registry) and the source event types (organization types, then person
 * types, in the contract's order). */
const cb_report_agency_t *cb_report_agencies(const cb_report_t *r, size_t *n);
const cb_report_event_type_t *cb_report_event_types(const cb_report_t *r, size_t *n);

/* Where the outcomes came from, printed in the headings. */
typedef struct cb_report_source {
    const char *topic;
    int partitions;
    int64_t generated_at_ms; /* wall clock, epoch milliseconds */
} cb_report_source_t;

typedef enum cb_report_format { CB_REPORT_TABLE = 0, CB_REPORT_JSON } cb_report_format_t;

/* Parses "table|json"; -1 when unknown. */
int cb_report_format_parse(const char *s);

/* A terminal table: totals by action and status, counts by organization,
 * what is still open, the key tokens to return. Vietnamese names aligned by
 * display width; control characters of outcome strings are never written. */
int cb_report_write_table(const cb_report_t *r, const cb_report_source_t *src, FILE *out,
                          cb_error_t *err);

/* The same content as one JSON document (for reporting consumers). */
int cb_report_write_json(const cb_report_t *r, const cb_report_source_t *src, FILE *out,
                         cb_error_t *err);

/* One self-contained HTML page (UTF-8, inline CSS and SVG, no external
 * resource, no script): the summary, a stacked-bar progress chart of the
 * statuses of every action, the tables. Every string is HTML-escaped. */
int cb_report_write_html(const cb_report_t *r, const cb_report_source_t *src, FILE *out,
                         cb_error_t *err);

/* Writes the HTML page to path: to "path.tmp" first, renamed over path when
 * complete, so a web server never serves half a page. CB_ERR_IO naming the
 * file on failure. */
int cb_report_save_html(const cb_report_t *r, const cb_report_source_t *src, const char *path,
                        cb_error_t *err);

/* Reads the whole outcome topic (output.outcome_topic; kafka.* keys of cfg,
 * with certbridge's Kafka secrets) into r: every partition assigned,
 * read_committed, from the beginning to the end each partition had when it
 * was reached, a fresh group id and no commits. Messages that do not decode
 * are counted. Fails with CB_ERR_KAFKA when the topic does not exist or the
 * end is not reached within timeout_ms; *partitions gets the partition
 * count. Does not call cb_report_finish. */
int cb_report_read_kafka(const cb_config_t *cfg, cb_report_t *r, int timeout_ms, int *partitions,
                         cb_error_t *err);

#endif
