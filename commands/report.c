/*
 * report.c: `certbridge report` (see report.h): the aggregation of outcomes,
 * fed by the outcome topic's reader (outcome_read.h). The writers are in
 * report_render.c.
 */
#include "certbridge/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certbridge/clock.h"
#include "certbridge/event.h"
#include "certbridge/outcome_read.h"
#include "certbridge/requests.h"

/* The strings an entry keeps, in cb_report_item_t's order. */
enum {
    S_OUTCOME_ID = 0,
    S_EVENT_ID,
    S_EVENT_TYPE,
    S_HOLDER_ID,
    S_HOLDER_NAME,
    S_SERIAL,
    S_NEW_SERIAL,
    S_DEVICE,
    S_REQUEST,
    S_ERR_CODE,
    S_ERR_MSG,
    S_COUNT
};

#define PERSONAL_GROUP_PREFIX "personal certificates: " /* then the person event type */

/* A token the CA recorded as returned. */
typedef struct returned {
    char *device_id;
    int64_t at_ms;
} returned_t;

/* One outcome as added, with the copies of its strings. */
typedef struct entry {
    cb_report_item_t item;
    char *s[S_COUNT]; /* owned copies; item points at them */
    size_t seq;       /* order added */
    bool dropped;     /* a later outcome with the same id replaced it */
    bool final;       /* false: a PENDING record a later one supersedes */
} entry_t;

struct cb_report {
    entry_t *entries;
    size_t n, cap;
    bool finished;
    size_t undecodable, duplicates, events;
    size_t totals[CB_ACTION_COUNT][CB_STATUS_COUNT];
    cb_report_group_t *groups;
    char **labels; /* names of the personal groups, owned */
    size_t n_groups, n_labels;
    const cb_report_item_t **open, **tokens, **pending;
    size_t n_open, n_tokens, tokens_out, n_pending, n_overdue;
    cb_report_clock_t clock;
    const cb_orgreg_t *reg;
    returned_t *returned; /* tokens the CA has back, sorted at finish */
    size_t n_returned, cap_returned;
    bool returns_checked;
    cb_report_agency_t *agencies;
    size_t n_agencies;
    cb_report_event_type_t *types;
    size_t n_types;
};

/* Statuses still open for the report: waiting for the CA or for a retry. */
static bool status_open(cb_outcome_status_t s)
{
    return s == CB_STATUS_PENDING || s == CB_STATUS_FAILED || s == CB_STATUS_REJECTED;
}

/* ---- building --------------------------------------------------------- */

cb_report_t *cb_report_new(void)
{
    cb_report_t *r = calloc(1, sizeof(cb_report_t));

    if (r) {
        r->clock.deadline_hours = CB_REPORT_DEADLINE_HOURS_DEFAULT;
        r->clock.utc_offset_min = CB_REPORT_UTC_OFFSET_DEFAULT;
    }
    return r;
}

void cb_report_set_clock(cb_report_t *r, const cb_report_clock_t *clock)
{
    r->clock = *clock;
}

void cb_report_get_clock(const cb_report_t *r, cb_report_clock_t *clock)
{
    *clock = r->clock;
}

void cb_report_destroy(cb_report_t *r)
{
    size_t i, k;

    if (!r)
        return;
    for (i = 0; i < r->n; i++)
        for (k = 0; k < S_COUNT; k++)
            free(r->entries[i].s[k]);
    for (i = 0; i < r->n_labels; i++)
        free(r->labels[i]);
    for (i = 0; i < r->n_returned; i++)
        free(r->returned[i].device_id);
    free(r->returned);
    free(r->agencies);
    free(r->types);
    free(r->entries);
    free(r->labels);
    free(r->groups);
    free(r->open);
    free(r->tokens);
    free(r->pending);
    free(r);
}

int cb_report_add(cb_report_t *r, const cb_outcome_t *o, cb_error_t *err)
{
    const char *src[S_COUNT] = {
        o->outcome_id,    o->source_event_id,    o->source_event_type,      o->holder_id,
        o->holder_name,   o->certificate_serial, o->new_certificate_serial, o->device_id,
        o->ca_request_id, o->error_code,         o->error_message};
    entry_t *e;
    size_t k;

    if (r->finished)
        return cb_error_set(err, CB_ERR_INTERNAL, "report: outcome added after finish");
    if ((unsigned)o->action >= CB_ACTION_COUNT || (unsigned)o->status >= CB_STATUS_COUNT ||
        (unsigned)o->holder_type >= CB_HOLDER_TYPE_COUNT)
        return cb_error_set(err, CB_ERR_INVALID,
                            "outcome %.100s: action, status or holder type out of range",
                            o->outcome_id ? o->outcome_id : "(no id)");
    if (r->n >= CB_REPORT_MAX_OUTCOMES)
        return cb_error_set(err, CB_ERR_LIMIT, "more than %d outcomes in one report",
                            CB_REPORT_MAX_OUTCOMES);
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 256;
        entry_t *ne = realloc(r->entries, ncap * sizeof(*ne));
        if (!ne)
            return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        r->entries = ne;
        r->cap = ncap;
    }
    e = &r->entries[r->n];
    memset(e, 0, sizeof(*e));
    for (k = 0; k < S_COUNT; k++) {
        if (src[k] && !(e->s[k] = strdup(src[k]))) {
            while (k-- > 0)
                free(e->s[k]);
            return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        }
    }
    e->item.outcome_id = e->s[S_OUTCOME_ID];
    e->item.source_event_id = e->s[S_EVENT_ID];
    e->item.source_event_type = e->s[S_EVENT_TYPE];
    e->item.action = o->action;
    e->item.action_index = o->action_index;
    e->item.holder_type = o->holder_type;
    e->item.holder_id = e->s[S_HOLDER_ID];
    e->item.holder_name = e->s[S_HOLDER_NAME];
    e->item.certificate_serial = e->s[S_SERIAL];
    e->item.new_certificate_serial = e->s[S_NEW_SERIAL];
    e->item.device_id = e->s[S_DEVICE];
    e->item.status = o->status;
    e->item.ca_request_id = e->s[S_REQUEST];
    e->final = o->final;
    e->item.error_code = e->s[S_ERR_CODE];
    e->item.error_message = e->s[S_ERR_MSG];
    e->item.http_status = o->http_status;
    e->item.processed_at_ms = o->processed_at_ms;
    e->item.emergency_signing_allowed = o->emergency_signing_allowed;
    e->seq = r->n++;
    return 0;
}

void cb_report_add_undecodable(cb_report_t *r)
{
    r->undecodable++;
}

void cb_report_set_registry(cb_report_t *r, const cb_orgreg_t *reg)
{
    r->reg = reg;
}

void cb_report_set_returns_checked(cb_report_t *r)
{
    r->returns_checked = true;
}

bool cb_report_returns_checked(const cb_report_t *r)
{
    return r->returns_checked;
}

int cb_report_mark_returned(cb_report_t *r, const char *device_id, int64_t returned_at_ms,
                            cb_error_t *err)
{
    if (r->finished)
        return cb_error_set(err, CB_ERR_INTERNAL, "report: return marked after finish");
    if (r->n_returned == r->cap_returned) {
        size_t cap = r->cap_returned ? r->cap_returned * 2 : 64;
        returned_t *n = realloc(r->returned, cap * sizeof(*n));
        if (!n)
            return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        r->returned = n;
        r->cap_returned = cap;
    }
    if (!(r->returned[r->n_returned].device_id = strdup(device_id)))
        return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
    r->returned[r->n_returned++].at_ms = returned_at_ms;
    r->returns_checked = true;
    return 0;
}

/* s, or "" for a field the outcome left null: for comparisons. */
static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* -1, 0 or 1 as a is below, equal to or above b (qsort without overflow). */
static int cmp_size(size_t a, size_t b)
{
    return a < b ? -1 : a > b;
}

/* By outcome id, then the order added. */
static int cmp_outcome_id(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    int c = strcmp(x->s[S_OUTCOME_ID], y->s[S_OUTCOME_ID]);

    return c ? c : cmp_size(x->seq, y->seq);
}

/* qsort order of C strings, for counting distinct event ids. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* By holder id (the organization's code), then the order added. */
static int cmp_holder(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    int c = strcmp(or_empty(x->item.holder_id), or_empty(y->item.holder_id));

    return c ? c : cmp_size(x->seq, y->seq);
}

/* By source event, then action index: the event's first org action first. */
static int cmp_event_action(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    int c = strcmp(or_empty(x->item.source_event_id), or_empty(y->item.source_event_id));

    if (c)
        return c;
    if (x->item.action_index != y->item.action_index)
        return x->item.action_index < y->item.action_index ? -1 : 1;
    return cmp_size(x->seq, y->seq);
}

/* Person event types in the contract's order; unknown ones after, by name. */
static int cmp_person_type(const char *a, const char *b)
{
    int ia = cb_person_event_type_parse(a), ib = cb_person_event_type_parse(b);

    ia = ia < 0 ? CB_PERSON_EVENT_TYPE_COUNT : ia;
    ib = ib < 0 ? CB_PERSON_EVENT_TYPE_COUNT : ib;
    return ia != ib ? (ia < ib ? -1 : 1) : strcmp(a, b);
}

/* Where an open status sorts: what failed first, what waits last. */
static int open_rank(cb_outcome_status_t s)
{
    return s == CB_STATUS_FAILED ? 0 : s == CB_STATUS_REJECTED ? 1 : 2;
}

/* Open items: FAILED, REJECTED, PENDING; then by group, event, action. */
static int cmp_open(const void *a, const void *b)
{
    const cb_report_item_t *x = *(const cb_report_item_t *const *)a;
    const cb_report_item_t *y = *(const cb_report_item_t *const *)b;
    int c;

    if (open_rank(x->status) != open_rank(y->status))
        return open_rank(x->status) < open_rank(y->status) ? -1 : 1;
    if (x->group != y->group)
        return cmp_size(x->group, y->group);
    if ((c = strcmp(or_empty(x->source_event_id), or_empty(y->source_event_id))))
        return c;
    return x->action_index < y->action_index ? -1 : x->action_index > y->action_index;
}

/* Tokens by device id, then outcome id: a device's outcomes side by side. */
static int cmp_device(const void *a, const void *b)
{
    const cb_report_item_t *x = *(const cb_report_item_t *const *)a;
    const cb_report_item_t *y = *(const cb_report_item_t *const *)b;
    int c = strcmp(x->device_id, y->device_id);

    return c ? c : strcmp(or_empty(x->outcome_id), or_empty(y->outcome_id));
}

/* Tokens to return by group, then device id: the order they are listed in. */
static int cmp_token(const void *a, const void *b)
{
    const cb_report_item_t *x = *(const cb_report_item_t *const *)a;
    const cb_report_item_t *y = *(const cb_report_item_t *const *)b;

    return x->group != y->group ? cmp_size(x->group, y->group) : strcmp(x->device_id, y->device_id);
}

/* The first org entry of event id in orgs[0..n) (sorted by cmp_event_action),
 * or NULL. */
static entry_t *first_org_of_event(entry_t **orgs, size_t n, const char *id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(or_empty(orgs[mid]->item.source_event_id), id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && strcmp(or_empty(orgs[lo]->item.source_event_id), id) == 0 ? orgs[lo] : NULL;
}

/* Marks all but the last-added outcome of each id as dropped: the topic
 * read as a table, the latest record per outcome_id is the action's state.
 * A PENDING record (final false) superseded by its final one is not a
 * duplicate. */
static int drop_duplicates(cb_report_t *r, entry_t **v)
{
    size_t i, m = 0;

    for (i = 0; i < r->n; i++)
        if (r->entries[i].s[S_OUTCOME_ID])
            v[m++] = &r->entries[i];
    qsort(v, m, sizeof(*v), cmp_outcome_id);
    for (i = 0; i + 1 < m; i++) {
        if (strcmp(v[i]->s[S_OUTCOME_ID], v[i + 1]->s[S_OUTCOME_ID]) == 0) {
            v[i]->dropped = true;
            r->duplicates += v[i]->final;
        }
    }
    return 0;
}

/* Counts the distinct source event ids of the outcomes kept (ids: room for
 * one pointer per outcome). */
static void count_events(cb_report_t *r, const char **ids)
{
    size_t i, m = 0;

    for (i = 0; i < r->n; i++)
        if (!r->entries[i].dropped && r->entries[i].s[S_EVENT_ID])
            ids[m++] = r->entries[i].s[S_EVENT_ID];
    qsort(ids, m, sizeof(*ids), cmp_str);
    for (i = 0; i < m; i++)
        if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
            r->events++;
}

/* Makes one group per organization code of the ORGANIZATION outcomes, and
 * assigns those outcomes to them. orgs gets the org entries sorted by event
 * and action (for the cascade lookup); returns their count. */
static size_t group_orgs(cb_report_t *r, entry_t **orgs)
{
    size_t i, m = 0;

    for (i = 0; i < r->n; i++)
        if (!r->entries[i].dropped && r->entries[i].item.holder_type == CB_HOLDER_ORGANIZATION)
            orgs[m++] = &r->entries[i];
    qsort(orgs, m, sizeof(*orgs), cmp_holder);
    for (i = 0; i < m; i++) {
        const char *code = or_empty(orgs[i]->item.holder_id);
        cb_report_group_t *g;
        if (i > 0 && strcmp(code, or_empty(orgs[i - 1]->item.holder_id)) == 0) {
            g = &r->groups[r->n_groups - 1];
            if (!g->name && orgs[i]->item.holder_name)
                g->name = orgs[i]->item.holder_name;
        } else {
            g = &r->groups[r->n_groups++];
            memset(g, 0, sizeof(*g));
            g->code = code;
            g->name = orgs[i]->item.holder_name;
        }
        orgs[i]->item.group = r->n_groups - 1;
    }
    qsort(orgs, m, sizeof(*orgs), cmp_event_action);
    return m;
}

/* Assigns each PERSON outcome to the organization of its (org) event, or
 * to the personal group of its event type. */
static int group_persons(cb_report_t *r, entry_t **orgs, size_t n_orgs, cb_error_t *err)
{
    size_t i, k, first_personal = r->n_groups;

    for (i = 0; i < r->n; i++) {
        entry_t *e = &r->entries[i];
        const char *type = e->item.source_event_type ? e->item.source_event_type : "UNKNOWN";
        entry_t *org;
        if (e->dropped || e->item.holder_type != CB_HOLDER_PERSON)
            continue;
        org = e->item.source_event_id ? first_org_of_event(orgs, n_orgs, e->item.source_event_id)
                                      : NULL;
        if (org) {
            e->item.group = org->item.group;
            continue;
        }
        for (k = first_personal; k < r->n_groups; k++)
            if (strcmp(r->groups[k].event_type, type) == 0)
                break;
        if (k == r->n_groups) {
            /* sized for the prefix, the type and the NUL; a shorter result
             * would be a bug */
            size_t size = sizeof(PERSONAL_GROUP_PREFIX) + strlen(type);
            char *label = malloc(size);
            int n;
            if (!label)
                return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
            n = snprintf(label, size, "%s%s", PERSONAL_GROUP_PREFIX, type);
            if (n < 0 || (size_t)n != size - 1) {
                free(label);
                return cb_error_set(err, CB_ERR_INTERNAL, "report: group label of %zu bytes", size);
            }
            r->labels[r->n_labels++] = label;
            memset(&r->groups[k], 0, sizeof(r->groups[k]));
            r->groups[k].name = label;
            r->groups[k].event_type = label + sizeof(PERSONAL_GROUP_PREFIX) - 1;
            r->n_groups++;
        }
        e->item.group = k;
    }
    /* personal groups in the order of the person event types; a small
     * insertion sort that renumbers the entries' groups after */
    {
        size_t n_p = r->n_groups - first_personal, *map = calloc(n_p + 1, sizeof(size_t));
        cb_report_group_t *g = r->groups + first_personal;
        size_t *order = calloc(n_p + 1, sizeof(size_t));
        if (!map || !order) {
            free(map);
            free(order);
            return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        }
        for (i = 0; i < n_p; i++) {
            size_t j = i;
            while (j > 0 && cmp_person_type(g[order[j - 1]].event_type, g[i].event_type) > 0) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
        for (i = 0; i < n_p; i++)
            map[order[i]] = i;
        {
            cb_report_group_t *copy = malloc((n_p + 1) * sizeof(*copy));
            if (!copy) {
                free(map);
                free(order);
                return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
            }
            for (i = 0; i < n_p; i++)
                copy[map[i]] = g[i];
            memcpy(g, copy, n_p * sizeof(*g));
            free(copy);
        }
        for (i = 0; i < r->n; i++) {
            entry_t *e = &r->entries[i];
            if (!e->dropped && e->item.group >= first_personal)
                e->item.group = first_personal + map[e->item.group - first_personal];
        }
        free(map);
        free(order);
    }
    return 0;
}

static int cmp_returned(const void *a, const void *b)
{
    return strcmp(((const returned_t *)a)->device_id, ((const returned_t *)b)->device_id);
}

/* Where an event type sorts: organization types, person types, others. */
static int type_rank(const char *t)
{
    int k = cb_org_event_type_parse(t);

    if (k >= 0)
        return k;
    k = cb_person_event_type_parse(t);
    return k >= 0 ? CB_ORG_EVENT_TYPE_COUNT + k : CB_ORG_EVENT_TYPE_COUNT + 100;
}

static int cmp_type(const void *a, const void *b)
{
    const cb_report_item_t *x = *(const cb_report_item_t *const *)a;
    const cb_report_item_t *y = *(const cb_report_item_t *const *)b;
    const char *tx = x->source_event_type ? x->source_event_type : "UNKNOWN";
    const char *ty = y->source_event_type ? y->source_event_type : "UNKNOWN";
    int rx = type_rank(tx), ry = type_rank(ty);

    return rx != ry ? (rx < ry ? -1 : 1) : strcmp(tx, ty);
}

/* An outcome with the managing agency it belongs to. */
typedef struct placed {
    cb_report_item_t *item;
    cb_orgreg_agency_t agency;
} placed_t;

/* Agencies by code; named ones after, by name. */
static int cmp_placed(const void *a, const void *b)
{
    const cb_orgreg_agency_t *x = &((const placed_t *)a)->agency;
    const cb_orgreg_agency_t *y = &((const placed_t *)b)->agency;

    if (!x->code != !y->code)
        return x->code ? -1 : 1;
    return strcmp(x->code ? x->code : or_empty(x->name), y->code ? y->code : or_empty(y->name));
}

/* The kept outcomes by source event type. */
static int by_event_type(cb_report_t *r, const cb_report_item_t **v, size_t m, cb_error_t *err)
{
    size_t i;

    qsort(v, m, sizeof(*v), cmp_type);
    if (!(r->types = calloc(m + 1, sizeof(*r->types))))
        return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
    for (i = 0; i < m; i++) {
        cb_report_event_type_t *t;
        if (i == 0 || cmp_type(&v[i - 1], &v[i]) != 0) {
            t = &r->types[r->n_types++];
            t->type = v[i]->source_event_type ? v[i]->source_event_type : "UNKNOWN";
        }
        t = &r->types[r->n_types - 1];
        t->counts[v[i]->action][v[i]->status]++;
        t->total++;
    }
    return 0;
}

/* The kept outcomes by managing agency (with a registry). */
static int by_agency(cb_report_t *r, cb_report_item_t **v, size_t m, cb_error_t *err)
{
    placed_t *p;
    size_t i;

    if (!r->reg || !m)
        return 0;
    if (!(p = malloc(m * sizeof(*p))) || !(r->agencies = calloc(m, sizeof(*r->agencies)))) {
        free(p);
        return cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
    }
    for (i = 0; i < m; i++) {
        cb_report_item_t *it = v[i];
        const cb_report_group_t *g = &r->groups[it->group];
        p[i].item = it;
        if (it->holder_type == CB_HOLDER_ORGANIZATION)
            p[i].agency = cb_orgreg_agency_of_org(r->reg, it->holder_id, NULL, it->holder_name);
        else
            p[i].agency = cb_orgreg_agency_of_person(r->reg, it->holder_id,
                                                     g->event_type ? NULL : g->code, NULL);
        if (!p[i].agency.code && !p[i].agency.name)
            p[i].agency.name = "(không rõ / unknown)";
    }
    qsort(p, m, sizeof(*p), cmp_placed);
    for (i = 0; i < m; i++) {
        cb_report_agency_t *a;
        if (i == 0 || cmp_placed(&p[i - 1], &p[i]) != 0) {
            a = &r->agencies[r->n_agencies++];
            a->code = p[i].agency.code;
            a->name = p[i].agency.name;
        }
        a = &r->agencies[r->n_agencies - 1];
        p[i].item->agency = r->n_agencies - 1;
        a->counts[p[i].item->action][p[i].item->status]++;
        a->total++;
    }
    free(p);
    return 0;
}

/* Oldest pending first: the larger working age, then the earlier PENDING
 * record, then the outcome id; those without a known time last. */
static int cmp_pending(const void *a, const void *b)
{
    const cb_report_item_t *x = *(const cb_report_item_t *const *)a;
    const cb_report_item_t *y = *(const cb_report_item_t *const *)b;
    bool kx = x->processed_at_ms > 0, ky = y->processed_at_ms > 0;

    if (kx != ky)
        return kx ? -1 : 1;
    if (x->pending_working_ms != y->pending_working_ms)
        return x->pending_working_ms > y->pending_working_ms ? -1 : 1;
    if (x->processed_at_ms != y->processed_at_ms)
        return x->processed_at_ms < y->processed_at_ms ? -1 : 1;
    return strcmp(or_empty(x->outcome_id), or_empty(y->outcome_id));
}

/* Adds a pending item to a group's or agency's summary. */
static void sum_pending(cb_report_pending_sum_t *s, const cb_report_item_t *it)
{
    s->pending++;
    s->overdue += it->overdue;
    if (it->processed_at_ms > 0 &&
        (!s->oldest_since_ms || it->pending_working_ms > s->oldest_working_ms ||
         (it->pending_working_ms == s->oldest_working_ms &&
          it->processed_at_ms < s->oldest_since_ms))) {
        s->oldest_since_ms = it->processed_at_ms;
        s->oldest_working_ms = it->pending_working_ms;
    }
}

/* The ages of the pending items at the report's now (working time, as
 * `run` counts ca.pending_deadline_hours: requests.h), the list oldest
 * first, and the summaries of their groups and agencies. */
static void pending_ages(cb_report_t *r)
{
    int64_t deadline_ms = (int64_t)r->clock.deadline_hours * 3600000;
    size_t i;

    if (r->clock.now_ms <= 0)
        r->clock.now_ms = cb_clock_wall_ms();
    for (i = 0; i < r->n; i++) {
        cb_report_item_t *it = &r->entries[i].item;
        if (r->entries[i].dropped || it->status != CB_STATUS_PENDING)
            continue;
        if (it->processed_at_ms > 0) {
            it->pending_working_ms = cb_requests_working_ms(it->processed_at_ms, r->clock.now_ms,
                                                            r->clock.utc_offset_min);
            it->overdue = it->pending_working_ms >= deadline_ms;
        }
        r->pending[r->n_pending++] = it;
        r->n_overdue += it->overdue;
        sum_pending(&r->groups[it->group].pending, it);
        if (r->agencies)
            sum_pending(&r->agencies[it->agency].pending, it);
    }
    qsort(r->pending, r->n_pending, sizeof(*r->pending), cmp_pending);
}

int cb_report_finish(cb_report_t *r, cb_error_t *err)
{
    entry_t **v = NULL;
    const char **ids = NULL;
    size_t i, n_orgs, n_tok = 0;
    int rc = -1;

    if (r->finished)
        return 0;
    v = malloc((r->n + 1) * sizeof(*v));
    ids = malloc((r->n + 1) * sizeof(*ids));
    r->groups = calloc(r->n + 1, sizeof(*r->groups));
    r->labels = calloc(r->n + 1, sizeof(*r->labels));
    r->open = calloc(r->n + 1, sizeof(*r->open));
    r->tokens = calloc(r->n + 1, sizeof(*r->tokens));
    r->pending = calloc(r->n + 1, sizeof(*r->pending));
    if (!v || !ids || !r->groups || !r->labels || !r->open || !r->tokens || !r->pending) {
        cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        goto out;
    }
    drop_duplicates(r, v);
    count_events(r, ids);
    n_orgs = group_orgs(r, v);
    if (group_persons(r, v, n_orgs, err) < 0)
        goto out;
    for (i = 0; i < r->n; i++) {
        cb_report_item_t *it = &r->entries[i].item;
        if (r->entries[i].dropped)
            continue;
        r->groups[it->group].counts[it->action][it->status]++;
        r->groups[it->group].total++;
        r->totals[it->action][it->status]++;
        if (status_open(it->status))
            r->open[r->n_open++] = it;
        if (it->action == CB_ACTION_RECALL_DEVICE && it->device_id &&
            (it->status == CB_STATUS_SUCCEEDED || it->status == CB_STATUS_ALREADY_DONE))
            r->tokens[n_tok++] = it;
    }
    qsort(r->open, r->n_open, sizeof(*r->open), cmp_open);
    /* one line per token, however many outcomes recalled it */
    qsort(r->tokens, n_tok, sizeof(*r->tokens), cmp_device);
    for (i = 0; i < n_tok; i++)
        if (i == 0 || strcmp(r->tokens[i]->device_id, r->tokens[r->n_tokens - 1]->device_id))
            r->tokens[r->n_tokens++] = r->tokens[i];
    qsort(r->tokens, r->n_tokens, sizeof(*r->tokens), cmp_token);
    /* what the CA has back */
    if (r->n_returned) /* no array at all when nothing came back */
        qsort(r->returned, r->n_returned, sizeof(*r->returned), cmp_returned);
    for (i = 0; i < r->n_tokens; i++) {
        returned_t key = {(char *)r->tokens[i]->device_id, 0}, *hit = NULL;
        if (r->n_returned)
            hit = bsearch(&key, r->returned, r->n_returned, sizeof(*r->returned), cmp_returned);
        if (hit)
            ((cb_report_item_t *)r->tokens[i])->returned_at_ms = hit->at_ms;
        else
            r->tokens_out++;
    }
    /* by event type, by managing agency */
    {
        size_t m = 0;
        cb_report_item_t **items = malloc((r->n + 1) * sizeof(*items));
        if (!items) {
            cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
            goto out;
        }
        for (i = 0; i < r->n; i++)
            if (!r->entries[i].dropped)
                items[m++] = &r->entries[i].item;
        if (by_event_type(r, (const cb_report_item_t **)items, m, err) < 0 ||
            by_agency(r, items, m, err) < 0) {
            free(items);
            goto out;
        }
        free(items);
        for (i = 0; i < r->n_tokens; i++)
            if (r->agencies && !r->tokens[i]->returned_at_ms)
                r->agencies[r->tokens[i]->agency].tokens_out++;
    }
    pending_ages(r);
    r->finished = true;
    rc = 0;
out:
    free(v);
    free(ids);
    return rc;
}

cb_report_t *cb_report_build(const cb_outcome_t *outcomes, size_t n, cb_error_t *err)
{
    cb_report_t *r = cb_report_new();
    size_t i;

    if (!r) {
        cb_error_set(err, CB_ERR_NOMEM, "report: out of memory");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (cb_report_add(r, &outcomes[i], err) < 0) {
            cb_report_destroy(r);
            return NULL;
        }
    }
    if (cb_report_finish(r, err) < 0) {
        cb_report_destroy(r);
        return NULL;
    }
    return r;
}

/* ---- figures ---------------------------------------------------------- */

size_t cb_report_count(const cb_report_t *r, int action, int status)
{
    size_t n = 0;
    int a, s;

    for (a = 0; a < CB_ACTION_COUNT; a++)
        for (s = 0; s < CB_STATUS_COUNT; s++)
            if ((action < 0 || action == a) && (status < 0 || status == s))
                n += r->totals[a][s];
    return n;
}

size_t cb_report_event_count(const cb_report_t *r)
{
    return r->events;
}

size_t cb_report_duplicates(const cb_report_t *r)
{
    return r->duplicates;
}

size_t cb_report_undecodable(const cb_report_t *r)
{
    return r->undecodable;
}

const cb_report_group_t *cb_report_groups(const cb_report_t *r, size_t *n)
{
    *n = r->n_groups;
    return r->groups;
}

const cb_report_item_t *const *cb_report_open(const cb_report_t *r, size_t *n)
{
    *n = r->n_open;
    return r->open;
}

const cb_report_item_t *const *cb_report_tokens(const cb_report_t *r, size_t *n)
{
    *n = r->n_tokens;
    return r->tokens;
}

const cb_report_item_t *const *cb_report_pending(const cb_report_t *r, size_t *n)
{
    *n = r->n_pending;
    return r->pending;
}

const cb_report_item_t *const *cb_report_overdue(const cb_report_t *r, size_t *n)
{
    *n = r->n_overdue;
    return r->pending;
}

size_t cb_report_tokens_out(const cb_report_t *r)
{
    return r->tokens_out;
}

const cb_report_agency_t *cb_report_agencies(const cb_report_t *r, size_t *n)
{
    *n = r->n_agencies;
    return r->agencies;
}

const cb_report_event_type_t *cb_report_event_types(const cb_report_t *r, size_t *n)
{
    *n = r->n_types;
    return r->types;
}

/* ---- Kafka ------------------------------------------------------------ */

/* One message of the topic: an outcome into the report, or counted
 * undecodable. */
static int report_take(void *opaque, const cb_outcome_t *o, cb_error_t *err)
{
    cb_report_t *r = opaque;

    if (!o) {
        cb_report_add_undecodable(r);
        return 0;
    }
    return cb_report_add(r, o, err);
}

int cb_report_read_kafka(const cb_config_t *cfg, cb_report_t *r, int timeout_ms, int *partitions,
                         cb_error_t *err)
{
    return cb_outcome_read_kafka(cfg, "report", report_take, r, timeout_ms, partitions, err);
}
