/*
 * orgreg_record.c: the registry topic's records of an org event (see
 * orgreg_record.h).
 */
#include "certbridge/orgreg_record.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certbridge/vocab.h"

/* Sets key to s when s is set; false when memory ran out. */
static bool put(json_t *o, const char *key, const char *s)
{
    return !s || !*s || json_object_set_new(o, key, json_string(s)) == 0;
}

/* Appends the record of org with status and successor (may be NULL). */
static int append(const cb_event_t *ev, const cb_org_t *org, const char *status,
                  const char *successor, cb_orgreg_recs_t *out, cb_error_t *err)
{
    json_t *o = json_object();
    char date[16], *value = NULL, *key = NULL;
    time_t t = (time_t)ev->effective_date * 86400;
    struct tm tm;
    bool ok;

    if (!org->code || !*org->code) {
        json_decref(o);
        return 0; /* a decoded event always has one; nothing to key a record by */
    }
    ok = o && gmtime_r(&t, &tm) && strftime(date, sizeof(date), "%Y-%m-%d", &tm) > 0;
    ok = ok && put(o, "code", org->code) && put(o, "name", org->name) &&
         put(o, "parent_code", org->parent_code) && put(o, "parent_name", org->parent_name) &&
         put(o, "province", org->province) && put(o, "status", status) &&
         put(o, "successor", successor) && put(o, "event_id", ev->event_id) &&
         put(o, "effective_date", date) &&
         json_object_set_new(o, "occurred_at", json_integer(ev->occurred_at_ms)) == 0;
    if (ok && out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 8;
        cb_orgreg_rec_t *v = realloc(out->v, cap * sizeof(*v));
        if (!v)
            ok = false;
        else
            out->v = v, out->cap = cap;
    }
    if (ok)
        ok = (value = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) &&
             (key = strdup(org->code));
    json_decref(o);
    if (!ok) {
        free(value);
        free(key);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory making registry records");
    }
    out->v[out->n].key = key;
    out->v[out->n].value = value;
    out->v[out->n].value_len = strlen(value);
    out->n++;
    return 0;
}

int cb_orgreg_event_records(const cb_event_t *ev, cb_orgreg_recs_t *out, cb_error_t *err)
{
    size_t i, before = out->n;

    if (ev->kind != CB_EVENT_ORG)
        return 0;
    switch ((cb_org_event_type_t)ev->type) {
    case CB_ORG_RENAMED:
    case CB_ORG_PARENT_CHANGED:
    case CB_ORG_INFO_CHANGED:
        return append(ev, &ev->org, "ACTIVE", NULL, out, err);
    case CB_ORG_DISSOLVED:
        return append(ev, &ev->org, "DISSOLVED", NULL, out, err);
    case CB_ORG_MERGED:
        for (i = 0; i < ev->merged_count; i++) {
            const cb_org_t *m = &ev->merged_orgs[i];
            if (m->code && ev->org.code && !strcmp(m->code, ev->org.code))
                continue; /* merged into itself: it stays, with the result's record */
            if (append(ev, m, "MERGED", ev->org.code, out, err) < 0)
                goto fail;
        }
        if (append(ev, &ev->org, "ACTIVE", NULL, out, err) < 0)
            goto fail;
        return 0;
    default:
        return 0;
    }
fail:
    while (out->n > before) {
        out->n--;
        free(out->v[out->n].key);
        free(out->v[out->n].value);
    }
    return -1;
}

void cb_orgreg_recs_free(cb_orgreg_recs_t *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        free(r->v[i].key);
        free(r->v[i].value);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
}
