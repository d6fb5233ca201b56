/*
 * plan.c: `certbridge plan`: JSON Lines events in, the intents of each one out
 * as a table for people or as JSON Lines for programs (see plan.h).
 */
#include "certbridge/plan.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/codec.h"
#include "certbridge/codec_json.h"
#include "certbridge/effective.h"
#include "certbridge/event.h"
#include "certbridge/schedule.h"
#include "certbridge/table.h"

/* The table's columns; the EVENT cell only on an event's first intent. */
static const cb_table_column_t plan_columns[] = {
    {.title = "EVENT", .grouped = true},
    {.title = "ACTION"},
    {.title = "HOLDER"},
    {.title = "REASON"},
    {.title = "NOTE"},
};
/* With effective dates (cb_plan_file_dated): RUNS, when the action runs. */
static const cb_table_column_t dated_columns[] = {
    {.title = "EVENT", .grouped = true},
    {.title = "RUNS", .grouped = true},
    {.title = "ACTION"},
    {.title = "HOLDER"},
    {.title = "REASON"},
    {.title = "NOTE"},
};
#define HOLDER_COLUMN 2 /* where the "-> new subject" line under a row starts */

/* Everything one run of the planner keeps. */
typedef struct planner {
    const cb_policy_t *policy;
    const cb_schedule_policy_t *dates; /* NULL: no RUNS column */
    cb_plan_format_t format;
    FILE *out;
    cb_table_t *table; /* table only */
    size_t events, intents;
    char *line; /* CB_EVENT_MAX_BYTES + 1 */
} planner_t;

/* "table" or "json" (plan.h). */
int cb_plan_format_parse(const char *s)
{
    if (s && strcmp(s, "table") == 0)
        return CB_PLAN_TABLE;
    if (s && strcmp(s, "json") == 0)
        return CB_PLAN_JSON;
    return -1;
}

/* When ev's actions run: 00:00 of its effective date in policy.timezone
 * ("2025-07-01 00:00 +07:00"; certbridge run executes it then, or when it
 * reads it if that is later), or "when read" under
 * policy.effective_date=ignore. */
static void runs_at(const planner_t *pl, const cb_event_t *ev, char *buf, size_t size)
{
    if (pl->dates->ignore)
        snprintf(buf, size, "when read");
    else
        cb_effective_format(cb_schedule_start_ms(ev, pl->dates), pl->dates->tz_offset_min, buf,
                            size);
}

/* Appends the table row of intent `it` of event ev, and its new subject
 * under it; `first` marks the event's first intent (only that row names the
 * event). */
static int add_row(planner_t *pl, const cb_event_t *ev, const cb_intent_t *it, int first,
                   cb_error_t *err)
{
    const char *reason = cb_revocation_reason_name(it->reason);
    char event[CB_TABLE_CELL_MAX + 1], holder[CB_TABLE_CELL_MAX + 1], runs[CB_EFFECTIVE_TEXT_MAX];
    const char *cells[] = {event, cb_action_name(it->action), holder, reason ? reason : "-",
                           it->note};
    const char *dated[] = {event,   runs, cb_action_name(it->action), holder, reason ? reason : "-",
                           it->note};

    cb_table_cellf(event, sizeof(event), "%s %s", ev->event_id, cb_event_type_name(ev));
    if (it->cascade_org_code)
        cb_table_cellf(holder, sizeof(holder), "persons of %s %s", it->cascade_org_code,
                       it->holder_name ? it->holder_name : "");
    else
        cb_table_cellf(holder, sizeof(holder), "%s %s", it->holder_id ? it->holder_id : "",
                       it->holder_name ? it->holder_name : "");
    if (pl->dates)
        runs_at(pl, ev, runs, sizeof(runs));
    if (cb_table_add_row(pl->table, pl->dates ? dated : cells,
                         first ? CB_TABLE_ROW : CB_TABLE_CONTINUATION, err) < 0)
        return -1;
    if (it->new_subject) {
        char subject[CB_TABLE_CELL_MAX + 1];
        cb_table_cellf(subject, sizeof(subject), "-> %s", it->new_subject);
        return cb_table_add_span(pl->table, HOLDER_COLUMN + (pl->dates ? 1 : 0), subject, err);
    }
    return 0;
}

/* Writes one intent as a compact JSON object on its own line. */
static int print_json_intent(planner_t *pl, const cb_event_t *ev, const cb_intent_t *it,
                             cb_error_t *err)
{
    json_t *o = json_object();
    char *text = NULL;
    int rc = -1;

    if (!o)
        goto nomem;
    if (json_object_set_new(o, "event_id", json_string(ev->event_id)) ||
        json_object_set_new(o, "event_type", json_string(cb_event_type_name(ev))) ||
        json_object_set_new(o, "action", json_string(cb_action_name(it->action))) ||
        json_object_set_new(o, "holder_type", json_string(cb_holder_type_name(it->holder_type))) ||
        json_object_set_new(o, "holder_id",
                            it->holder_id ? json_string(it->holder_id) : json_null()) ||
        json_object_set_new(o, "holder_name",
                            it->holder_name ? json_string(it->holder_name) : json_null()))
        goto nomem;
    if (it->reason != CB_REASON_NONE &&
        json_object_set_new(o, "revocation_reason",
                            json_string(cb_revocation_reason_name(it->reason))))
        goto nomem;
    if (it->new_subject && json_object_set_new(o, "new_subject", json_string(it->new_subject)))
        goto nomem;
    if (it->holder_type == CB_HOLDER_PERSON && it->action == CB_ACTION_CHANGE_INFO &&
        json_object_set_new(o, "emergency_signing_allowed",
                            json_boolean(it->emergency_signing_allowed)))
        goto nomem;
    if (it->cascade_org_code &&
        json_object_set_new(o, "cascade_org_code", json_string(it->cascade_org_code)))
        goto nomem;
    if (json_object_set_new(o, "note", json_string(it->note)))
        goto nomem;
    if (pl->dates) {
        char runs[CB_EFFECTIVE_TEXT_MAX];
        runs_at(pl, ev, runs, sizeof(runs));
        if (json_object_set_new(o, "runs_at", json_string(runs)))
            goto nomem;
    }
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        goto nomem;
    fprintf(pl->out, "%s\n", text);
    rc = 0;
    goto cleanup;
nomem:
    cb_error_set(err, CB_ERR_NOMEM, "out of memory");
cleanup:
    free(text);
    json_decref(o);
    return rc;
}

/* A CANCELLED event has no action of its own: one row (table) or object
 * (JSON) saying which event it cancels; it acts when read, whatever its
 * effective date (docs/ARCHITECTURE.md §5, "Cancellation"). */
static int plan_cancellation(planner_t *pl, const cb_event_t *ev, cb_error_t *err)
{
    const char *ref = cb_event_cancels(ev);
    const char *holder_id = ev->kind == CB_EVENT_ORG ? ev->org.code : ev->person.person_id;
    const char *holder_name = ev->kind == CB_EVENT_ORG ? ev->org.name : ev->person.full_name;
    char event[CB_TABLE_CELL_MAX + 1], holder[CB_TABLE_CELL_MAX + 1], note[CB_TABLE_CELL_MAX + 1];
    json_t *o;
    char *text;

    snprintf(note, sizeof(note),
             "cancels %.200s: its actions not yet sent to the CA end CANCELLED; an action "
             "already sent cannot be cancelled",
             ref);
    if (pl->format == CB_PLAN_TABLE) {
        const char *cells[] = {event, "-", holder, "-", note};
        const char *dated[] = {event, "when read", "-", holder, "-", note};
        cb_table_cellf(event, sizeof(event), "%s %s", ev->event_id, cb_event_type_name(ev));
        cb_table_cellf(holder, sizeof(holder), "%s %s", holder_id ? holder_id : "",
                       holder_name ? holder_name : "");
        return cb_table_add_row(pl->table, pl->dates ? dated : cells, CB_TABLE_ROW, err);
    }
    if (!(o = json_object()) || json_object_set_new(o, "event_id", json_string(ev->event_id)) ||
        json_object_set_new(o, "event_type", json_string(cb_event_type_name(ev))) ||
        json_object_set_new(o, "cancels", json_string(ref)) ||
        json_object_set_new(o, "holder_id", json_string(holder_id ? holder_id : "")) ||
        json_object_set_new(o, "note", json_string(note)) ||
        (pl->dates && json_object_set_new(o, "runs_at", json_string("when read"))) ||
        !(text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
        json_decref(o);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    fprintf(pl->out, "%s\n", text);
    free(text);
    json_decref(o);
    return 0;
}

/* Decodes and plans one line; bad input is CB_ERR_INVALID. */
static int plan_line(planner_t *pl, const char *buf, size_t len, cb_error_t *err)
{
    cb_intent_list_t list = {NULL, 0};
    cb_event_t ev;
    size_t i;
    int rc = -1;

    if (cb_codec_json_decode_event(buf, len, &ev, err) < 0) {
        if (err && (err->code == CB_ERR_DECODE || err->code == CB_ERR_LIMIT))
            err->code = CB_ERR_INVALID;
        return -1;
    }
    if (cb_rules_plan(&ev, pl->policy, &list, err) < 0)
        goto cleanup_event;
    if (cb_event_is_cancellation(&ev) && plan_cancellation(pl, &ev, err) < 0)
        goto cleanup_list;
    for (i = 0; i < list.count; i++) {
        if (pl->format == CB_PLAN_JSON ? print_json_intent(pl, &ev, &list.items[i], err) < 0
                                       : add_row(pl, &ev, &list.items[i], i == 0, err) < 0)
            goto cleanup_list;
    }
    pl->events++;
    pl->intents += list.count;
    rc = 0;
cleanup_list:
    cb_intent_list_clear(&list);
cleanup_event:
    cb_event_clear(&ev);
    return rc;
}

/* Reads one line (without its '\n', and without a '\r' before it) into
 * pl->line. Returns 1 with *len set, 0 at the end of input, -1 when the line
 * is longer than CB_EVENT_MAX_BYTES (the rest of it is not read). */
static int read_line(planner_t *pl, FILE *in, size_t *len)
{
    size_t n = 0;
    int c;

    while ((c = getc(in)) != EOF && c != '\n') {
        if (n == CB_EVENT_MAX_BYTES)
            return -1;
        pl->line[n++] = (char)c;
    }
    if (c == EOF && n == 0)
        return 0;
    if (n > 0 && pl->line[n - 1] == '\r')
        n--;
    pl->line[n] = '\0';
    *len = n;
    return 1;
}

/* True for a line of only spaces and tabs (skipped). */
static int blank(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

static int plan_stream(FILE *in, const char *name, const cb_policy_t *policy,
                       const cb_schedule_policy_t *dates, cb_plan_format_t format, FILE *out,
                       cb_error_t *err);

int cb_plan_stream(FILE *in, const char *name, const cb_policy_t *policy, cb_plan_format_t format,
                   FILE *out, cb_error_t *err)
{
    return plan_stream(in, name, policy, NULL, format, out, err);
}

/* Reads lines until the end, planning each non-blank one; see plan.h. */
static int plan_stream(FILE *in, const char *name, const cb_policy_t *policy,
                       const cb_schedule_policy_t *dates, cb_plan_format_t format, FILE *out,
                       cb_error_t *err)
{
    planner_t pl;
    size_t lineno = 0, len = 0;
    int rc = -1, got;

    memset(&pl, 0, sizeof(pl));
    pl.policy = policy;
    pl.dates = dates;
    pl.format = format;
    pl.out = out;
    pl.line = malloc(CB_EVENT_MAX_BYTES + 1);
    if (!pl.line) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    if (format == CB_PLAN_TABLE &&
        !(pl.table = dates ? cb_table_new(dated_columns,
                                          sizeof(dated_columns) / sizeof(dated_columns[0]), err)
                           : cb_table_new(plan_columns,
                                          sizeof(plan_columns) / sizeof(plan_columns[0]), err)))
        goto cleanup;
    while ((got = read_line(&pl, in, &len)) != 0) {
        lineno++;
        if (got < 0) {
            cb_error_set(err, CB_ERR_INVALID, "%s:%zu: line longer than %d bytes", name, lineno,
                         CB_EVENT_MAX_BYTES);
            goto cleanup;
        }
        if (blank(pl.line, len))
            continue;
        if (plan_line(&pl, pl.line, len, err) < 0) {
            cb_error_prefix(err, "%s:%zu", name, lineno);
            goto cleanup;
        }
    }
    if (ferror(in)) {
        cb_error_set(err, CB_ERR_IO, "%s: read error", name);
        goto cleanup;
    }
    /* the whole table at the end: a bad line prints none of it */
    if (format == CB_PLAN_TABLE) {
        if (cb_table_write(pl.table, out, err) < 0)
            goto cleanup;
        fprintf(out, "%zu events, %zu intents\n", pl.events, pl.intents);
    }
    if (fflush(out) != 0 || ferror(out)) {
        cb_error_set(err, CB_ERR_IO, "writing the plan: %s", strerror(errno));
        goto cleanup;
    }
    rc = 0;
cleanup:
    cb_table_destroy(pl.table);
    free(pl.line);
    return rc;
}

/* Opens path and plans it with cb_plan_stream. */
int cb_plan_file(const char *path, const cb_policy_t *policy, cb_plan_format_t format, FILE *out,
                 cb_error_t *err)
{
    FILE *in = fopen(path, "rb");
    int rc;

    if (!in)
        return cb_error_set(err, CB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    rc = cb_plan_stream(in, path, policy, format, out, err);
    fclose(in);
    return rc;
}

int cb_plan_file_dated(const char *path, const cb_policy_t *policy,
                       const cb_schedule_policy_t *dates, cb_plan_format_t format, FILE *out,
                       cb_error_t *err)
{
    FILE *in = fopen(path, "rb");
    int rc;

    if (!in)
        return cb_error_set(err, CB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    rc = plan_stream(in, path, policy, dates, format, out, err);
    fclose(in);
    return rc;
}
