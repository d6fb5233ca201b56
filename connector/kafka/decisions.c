/*
 * decisions.c: the view of the approval gate's shared records
 * (decisions.h). Jansson objects serve as the hash maps: a request's
 * actions, each action's first decision, the A records seen.
 */
#include "certbridge/decisions.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/log.h"

#define KEY_MAX 4096 /* as CB_STATE_KEY_MAX */

struct cb_decisions {
    json_t *requests; /* request id -> {action id -> true when cancelled} */
    json_t *decided;  /* action id -> index in decisions */
    json_t *seen;     /* A keys applied */
    json_t *dreqs;    /* request ids with a decision */
    cb_decision_t **decisions;
    size_t n, cap;
    uint64_t gen;
};

static void decision_free(cb_decision_t *c)
{
    if (!c)
        return;
    free(c->request_id);
    free(c->document_number);
    free(c->approver);
    free(c->reason);
    free(c);
}

cb_decisions_t *cb_decisions_new(void)
{
    cb_decisions_t *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    d->requests = json_object();
    d->decided = json_object();
    d->seen = json_object();
    d->dreqs = json_object();
    if (!d->requests || !d->decided || !d->seen || !d->dreqs) {
        cb_decisions_destroy(d);
        return NULL;
    }
    return d;
}

void cb_decisions_reset(cb_decisions_t *d)
{
    size_t i;

    json_object_clear(d->requests);
    json_object_clear(d->decided);
    json_object_clear(d->seen);
    json_object_clear(d->dreqs);
    for (i = 0; i < d->n; i++)
        decision_free(d->decisions[i]);
    d->n = 0;
    d->gen++;
}

void cb_decisions_destroy(cb_decisions_t *d)
{
    if (!d)
        return;
    if (d->requests && d->decided && d->seen && d->dreqs)
        cb_decisions_reset(d);
    json_decref(d->dreqs);
    json_decref(d->requests);
    json_decref(d->decided);
    json_decref(d->seen);
    free(d->decisions);
    free(d);
}

uint64_t cb_decisions_gen(const cb_decisions_t *d)
{
    return d->gen;
}

const cb_decision_t *cb_decisions_find(const cb_decisions_t *d, const char *action_id)
{
    json_t *i = json_object_get(d->decided, action_id);

    return i ? d->decisions[json_integer_value(i)] : NULL;
}

bool cb_decisions_request_decided(const cb_decisions_t *d, const char *request_id)
{
    return json_object_get(d->dreqs, request_id) != NULL;
}

bool cb_decisions_request_known(const cb_decisions_t *d, const char *request_id)
{
    return json_object_get(d->requests, request_id) != NULL;
}

/* Applies a K record's value: the request's actions, cancelled or not. */
static int apply_wait(cb_decisions_t *d, const char *request_id, const json_t *v)
{
    json_t *acts = json_object_get(v, "actions"), *a, *req;
    bool cancelled = json_is_true(json_object_get(v, "cancelled"));
    size_t i;

    if (!json_is_array(acts))
        return 1;
    if (!(req = json_object_get(d->requests, request_id))) {
        if (!(req = json_object()) || json_object_set_new(d->requests, request_id, req) < 0)
            return -1;
    }
    json_array_foreach(acts, i, a)
    {
        if (json_is_string(a) &&
            json_object_set_new(req, json_string_value(a), json_boolean(cancelled)) < 0)
            return -1;
    }
    return 0;
}

static char *dup_str(const json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* Applies an A record's value once (akey: its key). */
static int apply_decision(cb_decisions_t *d, const char *akey, const char *request_id,
                          const json_t *v)
{
    const char *dec = json_string_value(json_object_get(v, "decision"));
    json_t *acts = json_object_get(v, "actions"), *a;
    cb_decision_t *c;
    size_t i;

    if (json_object_get(d->seen, akey))
        return 0;
    if (!dec || !json_is_array(acts))
        return 1;
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 16;
        cb_decision_t **nv = realloc(d->decisions, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        d->decisions = nv;
        d->cap = ncap;
    }
    if (!(c = calloc(1, sizeof(*c))))
        return -1;
    c->decision = !strcmp(dec, "REJECTED") ? CB_APPROVAL_REJECTED : CB_APPROVAL_APPROVED;
    c->request_id = strdup(request_id);
    c->document_number = dup_str(json_object_get(v, "document_number"));
    c->approver = dup_str(json_object_get(v, "approver"));
    c->reason = dup_str(json_object_get(v, "reason"));
    if (!c->request_id || json_object_set_new(d->seen, akey, json_true()) < 0 ||
        json_object_set_new(d->dreqs, request_id, json_true()) < 0) {
        decision_free(c);
        return -1;
    }
    d->decisions[d->n] = c;
    json_array_foreach(acts, i, a)
    {
        /* the first decision of an action stands */
        if (json_is_string(a) && !json_object_get(d->decided, json_string_value(a)) &&
            json_object_set_new(d->decided, json_string_value(a), json_integer((json_int_t)d->n)) <
                0)
            return -1;
    }
    d->n++;
    d->gen++;
    return 0;
}

int cb_decisions_load_record(cb_decisions_t *d, const void *key, size_t keylen, const void *value,
                             size_t len, cb_error_t *err)
{
    char k[KEY_MAX + 1], *bar;
    json_t *v;
    int rc;

    if (!key || keylen < 3 || keylen > KEY_MAX || !value)
        return 0;
    memcpy(k, key, keylen);
    k[keylen] = '\0';
    if ((k[0] != 'K' && k[0] != 'A') || k[1] != '|')
        return 0;
    if (!(v = json_loadb(value, len, 0, NULL))) {
        cb_log(CB_LOG_WARN, "state", "shared record %s: not JSON; skipped", k);
        return 0;
    }
    /* the request id is the key's second field */
    bar = strchr(k + 2, '|');
    if (bar)
        *bar = '\0';
    if (k[0] == 'K') {
        rc = apply_wait(d, k + 2, v);
    } else {
        if (bar)
            *bar = '|';
        {
            char rid[KEY_MAX + 1];
            snprintf(rid, sizeof(rid), "%.*s", bar ? (int)(bar - (k + 2)) : (int)strlen(k + 2),
                     k + 2);
            rc = apply_decision(d, k, rid, v);
        }
    }
    json_decref(v);
    if (rc > 0)
        cb_log(CB_LOG_WARN, "state", "shared record %.200s: not understood; skipped", k);
    if (rc < 0)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory reading the approval records");
    return 0;
}

/* Appends (partition 0, key, JSON of v) to out. */
static int put_rec(cb_state_recs_t *out, const char *key, const json_t *v)
{
    cb_state_rec_t *r;
    char *text = json_dumps(v, JSON_COMPACT), *k = strdup(key);

    if (!text || !k)
        goto oom;
    if (out->n == out->cap) {
        size_t ncap = out->cap ? out->cap * 2 : 16;
        cb_state_rec_t *nv = realloc(out->v, ncap * sizeof(*nv));
        if (!nv)
            goto oom;
        out->v = nv;
        out->cap = ncap;
    }
    r = &out->v[out->n++];
    r->partition = CB_DECISIONS_PARTITION;
    r->key = k;
    r->value = text;
    r->len = strlen(text);
    return 0;
oom:
    free(text);
    free(k);
    return -1;
}

int cb_decisions_wait_record(cb_decisions_t *d, const char *request_id, const char *topic,
                             int32_t partition, int64_t offset, const char *event_id,
                             char *const *action_ids, size_t n, bool cancelled,
                             cb_state_recs_t *out, cb_error_t *err)
{
    json_t *v = json_pack("{s:i, s:s, s:[], s:b}", "v", 1, "event_id", event_id, "actions",
                          "cancelled", cancelled),
           *acts = v ? json_object_get(v, "actions") : NULL;
    char key[KEY_MAX];
    size_t i;
    int rc = -1;

    if (!acts)
        goto out;
    for (i = 0; i < n; i++)
        if (json_array_append_new(acts, json_string(action_ids[i])) < 0)
            goto out;
    snprintf(key, sizeof(key), "K|%s|%s|%d|%" PRId64, request_id, topic, (int)partition, offset);
    if (put_rec(out, key, v) < 0 || apply_wait(d, request_id, v) < 0)
        goto out;
    rc = 0;
out:
    json_decref(v);
    if (rc < 0)
        cb_error_set(err, CB_ERR_NOMEM, "out of memory writing an approval request");
    return rc;
}

int cb_decisions_decide(cb_decisions_t *d, const cb_approval_t *a, const char *topic,
                        int32_t partition, int64_t offset, cb_state_recs_t *out,
                        cb_decide_verdict_t *verdict, char *msg, size_t msgsize, cb_error_t *err)
{
    json_t *req = json_object_get(d->requests, a->request_id), *v = NULL, *acts, *c;
    char doc[CB_APPROVAL_DOCUMENT_TEXT_MAX], key[KEY_MAX], *approver = NULL;
    const char *aid, *first_doc = NULL;
    size_t i, n_dec = 0, n_can = 0, n_left = 0;
    int rc = -1;

    *verdict = CB_DECIDE_OK;
    if (!req) {
        *verdict = CB_DECIDE_UNKNOWN;
        snprintf(msg, msgsize, "unknown approval request %s", a->request_id);
        return 0;
    }
    for (i = 0; a->action_ids && i < a->n_action_ids; i++)
        if (!json_object_get(req, a->action_ids[i])) {
            *verdict = CB_DECIDE_NOT_IN_REQUEST;
            snprintf(msg, msgsize,
                     "approval of request %s names action %.200s, which is not in "
                     "the request; nothing was decided",
                     a->request_id, a->action_ids[i]);
            return 0;
        }
    if (!(v = json_pack("{s:i, s:s, s:s, s:s, s:[]}", "v", 1, "decision",
                        cb_approval_decision_name(a->decision), "document_number",
                        cb_approval_document_text(a, doc, sizeof(doc)), "approver", "", "actions")))
        goto out;
    {
        size_t len = strlen(a->approver_name) + strlen(a->approver_title) + 3;
        if (!(approver = malloc(len)))
            goto out;
        snprintf(approver, len, "%s, %s", a->approver_name, a->approver_title);
    }
    if (json_object_set_new(v, "approver", json_string(approver)) < 0 ||
        json_object_set_new(v, "reason", a->reason ? json_string(a->reason) : json_null()) < 0)
        goto out;
    acts = json_object_get(v, "actions");
    /* the actions named, or every action of the request */
    if (a->action_ids) {
        for (i = 0; i < a->n_action_ids; i++) {
            const cb_decision_t *prev = cb_decisions_find(d, a->action_ids[i]);
            if (prev) {
                n_dec++;
                first_doc = first_doc ? first_doc : prev->document_number;
            } else if (json_is_true(json_object_get(req, a->action_ids[i]))) {
                n_can++;
            } else if (json_array_append_new(acts, json_string(a->action_ids[i])) < 0) {
                goto out;
            } else {
                n_left++;
            }
        }
    } else {
        json_object_foreach(req, aid, c)
        {
            const cb_decision_t *prev = cb_decisions_find(d, aid);
            if (prev) {
                n_dec++;
                first_doc = first_doc ? first_doc : prev->document_number;
            } else if (json_is_true(c)) {
                n_can++;
            } else if (json_array_append_new(acts, json_string(aid)) < 0) {
                goto out;
            } else {
                n_left++;
            }
        }
    }
    if (!n_left) {
        if (n_dec) {
            *verdict = CB_DECIDE_DUPLICATE;
            snprintf(msg, msgsize,
                     "duplicate approval of request %s: its %zu action(s) were decided before "
                     "(document %.200s)%s; this one (%s, document %s) is ignored",
                     a->request_id, n_dec, first_doc ? first_doc : "?",
                     n_can ? ", the others cancelled" : "", cb_approval_decision_name(a->decision),
                     doc);
        } else {
            *verdict = CB_DECIDE_CANCELLED;
            snprintf(msg, msgsize,
                     "approval of request %s (%s, document %s) comes after its %zu action(s) were "
                     "cancelled by a CANCELLED event: they stay CANCELLED, nothing is executed",
                     a->request_id, cb_approval_decision_name(a->decision), doc, n_can);
        }
        rc = 0;
        goto out;
    }
    snprintf(key, sizeof(key), "A|%s|%s|%d|%" PRId64, a->request_id, topic, (int)partition, offset);
    if (put_rec(out, key, v) < 0 || apply_decision(d, key, a->request_id, v) < 0)
        goto out;
    snprintf(msg, msgsize, "approval of request %s: %s %zu action(s) (document %s, %s)%s%s",
             a->request_id, a->decision == CB_APPROVAL_APPROVED ? "approved" : "rejected", n_left,
             doc, approver, n_dec ? "; some were decided before and stay so" : "",
             n_can ? "; some were cancelled and stay CANCELLED" : "");
    rc = 0;
out:
    free(approver);
    json_decref(v);
    if (rc < 0)
        cb_error_set(err, CB_ERR_NOMEM, "out of memory deciding an approval");
    return rc;
}
