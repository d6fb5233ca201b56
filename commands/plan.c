/*
 * plan.c: `certbridge plan`: JSON Lines events in, the intents of each one out
 * as a table for people or as JSON Lines for programs (see plan.h).
 */
#include "certbridge/plan.h"

#include "certbridge/text.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "certbridge/codec.h"
#include "certbridge/codec_json.h"
#include "certbridge/event.h"

#define COL_COUNT 5 /* EVENT, ACTION, HOLDER, REASON, NOTE */

static const char *const col_titles[COL_COUNT] = {"EVENT", "ACTION", "HOLDER", "REASON", "NOTE"};

/* One table row: the cells (owned), and the new subject shown under it. */
typedef struct row {
    char *cell[COL_COUNT];
    char *subject;
} row_t;

/* Everything one run of the planner keeps. */
typedef struct planner {
    const cb_policy_t *policy;
    cb_plan_format_t format;
    FILE *out;
    row_t *rows; /* table only */
    size_t nrows, cap;
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

/* A malloc'd printf result, or NULL when out of memory. */
static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Frees the strings of one table row. */
static void row_free(row_t *r)
{
    size_t i;

    for (i = 0; i < COL_COUNT; i++)
        free(r->cell[i]);
    free(r->subject);
}

/* Appends the table row of intent `it` of event ev; `first` marks the
 * event's first intent (only that row names the event). */
static int add_row(planner_t *pl, const cb_event_t *ev, const cb_intent_t *it, int first,
                   cb_error_t *err)
{
    const char *reason = cb_revocation_reason_name(it->reason);
    row_t *r;

    if (pl->nrows == pl->cap) {
        size_t ncap = pl->cap ? pl->cap * 2 : 64;
        row_t *n = realloc(pl->rows, ncap * sizeof(*n));
        if (!n)
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        pl->rows = n;
        pl->cap = ncap;
    }
    r = &pl->rows[pl->nrows];
    memset(r, 0, sizeof(*r));
    pl->nrows++;
    r->cell[0] = first ? str_printf("%s %s", ev->event_id, cb_event_type_name(ev)) : strdup("");
    r->cell[1] = strdup(cb_action_name(it->action));
    if (it->cascade_org_code)
        r->cell[2] = str_printf("persons of %s %s", it->cascade_org_code,
                                it->holder_name ? it->holder_name : "");
    else
        r->cell[2] = str_printf("%s %s", it->holder_id, it->holder_name);
    r->cell[3] = strdup(reason ? reason : "-");
    r->cell[4] = strdup(it->note);
    if (it->new_subject)
        r->subject = str_printf("-> %s", it->new_subject);
    if (!r->cell[0] || !r->cell[1] || !r->cell[2] || !r->cell[3] || !r->cell[4] ||
        (it->new_subject && !r->subject))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    return 0;
}

/* Writes the header, the rows with every column but the last padded to its
 * widest cell, each new subject under its row, and the counts. */
static void print_table(const planner_t *pl)
{
    size_t width[COL_COUNT - 1], i, c;

    for (c = 0; c < COL_COUNT - 1; c++)
        width[c] = strlen(col_titles[c]);
    for (i = 0; i < pl->nrows; i++)
        for (c = 0; c < COL_COUNT - 1; c++) {
            size_t w = cb_text_width(pl->rows[i].cell[c]);
            if (w > width[c])
                width[c] = w;
        }
    for (c = 0; c < COL_COUNT - 1; c++) {
        cb_text_put_padded(pl->out, col_titles[c], width[c]);
        fputs("  ", pl->out);
    }
    fprintf(pl->out, "%s\n", col_titles[COL_COUNT - 1]);
    for (i = 0; i < pl->nrows; i++) {
        const row_t *r = &pl->rows[i];
        for (c = 0; c < COL_COUNT - 1; c++) {
            cb_text_put_padded(pl->out, r->cell[c], width[c]);
            fputs("  ", pl->out);
        }
        fprintf(pl->out, "%s\n", r->cell[COL_COUNT - 1]);
        if (r->subject) {
            cb_text_put_padded(pl->out, "", width[0] + 2 + width[1] + 2);
            fprintf(pl->out, "%s\n", r->subject);
        }
    }
    fprintf(pl->out, "%zu events, %zu intents\n", pl->events, pl->intents);
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

/* Reads lines until the end, planning each non-blank one; see plan.h. */
int cb_plan_stream(FILE *in, const char *name, const cb_policy_t *policy, cb_plan_format_t format,
                   FILE *out, cb_error_t *err)
{
    planner_t pl;
    size_t lineno = 0, len = 0, i;
    int rc = -1, got;

    memset(&pl, 0, sizeof(pl));
    pl.policy = policy;
    pl.format = format;
    pl.out = out;
    pl.line = malloc(CB_EVENT_MAX_BYTES + 1);
    if (!pl.line) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
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
    if (format == CB_PLAN_TABLE)
        print_table(&pl);
    if (fflush(out) != 0 || ferror(out)) {
        cb_error_set(err, CB_ERR_IO, "writing the plan: %s", strerror(errno));
        goto cleanup;
    }
    rc = 0;
cleanup:
    for (i = 0; i < pl.nrows; i++)
        row_free(&pl.rows[i]);
    free(pl.rows);
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
