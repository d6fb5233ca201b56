/*
 * state.c: open requests, queued events and durable lookups of the owned
 * input partitions, and their records in the state topic (see state.h).
 *
 * Per owned partition: holders (queue of offsets, open requests), queued
 * events by offset, lookups by "<offset>|<holder key>". Changes are kept as
 * pending records (R, Q and W records, whose content never changes once
 * written) and dirty holders (H records, written with their queue as it is
 * when the transaction is built). Records of H, Q and W are cut into chunks:
 * every chunk carries the entity's scalar fields and a slice of its lists,
 * so that no value passes CB_STATE_CHUNK_MAX.
 */
#include "certbridge/state.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/log.h"
#include "certbridge/vocab.h"

#define STATE_VERSION 1
#define AVRO_PIECE    (48 * 1024) /* base64 characters per piece of a Q record's "avro" */

/* ---- a string-keyed hash map ------------------------------------------ */

typedef struct sm_ent {
    char *key;
    void *val;
    struct sm_ent *next;
} sm_ent_t;

typedef struct smap {
    sm_ent_t **b;
    size_t nb, n;
} smap_t;

static uint64_t sm_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static sm_ent_t **sm_slot(const smap_t *m, const char *key)
{
    sm_ent_t **e;

    if (!m->nb)
        return NULL;
    for (e = &m->b[sm_hash(key) & (m->nb - 1)]; *e; e = &(*e)->next)
        if (!strcmp((*e)->key, key))
            return e;
    return e;
}

static void *sm_get(const smap_t *m, const char *key)
{
    sm_ent_t **e = sm_slot(m, key);

    return e && *e ? (*e)->val : NULL;
}

static int sm_grow(smap_t *m)
{
    size_t nb = m->nb ? m->nb * 2 : 64, i;
    sm_ent_t **b = calloc(nb, sizeof(*b));

    if (!b)
        return -1;
    for (i = 0; i < m->nb; i++) {
        sm_ent_t *e = m->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[sm_hash(e->key) & (nb - 1)];
            b[sm_hash(e->key) & (nb - 1)] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return 0;
}

/* Sets key (copied) to val; *old receives a value it replaced (may be
 * NULL). -1 when memory ran out (nothing changed). */
static int sm_put(smap_t *m, const char *key, void *val, void **old)
{
    sm_ent_t **slot, *e;

    if (old)
        *old = NULL;
    if ((m->n + 1) * 2 > m->nb && sm_grow(m) < 0)
        return -1;
    slot = sm_slot(m, key);
    if (*slot) {
        if (old)
            *old = (*slot)->val;
        (*slot)->val = val;
        return 0;
    }
    if (!(e = calloc(1, sizeof(*e))) || !(e->key = strdup(key))) {
        free(e);
        return -1;
    }
    e->val = val;
    *slot = e;
    m->n++;
    return 0;
}

/* Removes key; returns its value (NULL when absent). */
static void *sm_del(smap_t *m, const char *key)
{
    sm_ent_t **slot = sm_slot(m, key), *e;
    void *v;

    if (!slot || !*slot)
        return NULL;
    e = *slot;
    *slot = e->next;
    v = e->val;
    free(e->key);
    free(e);
    m->n--;
    return v;
}

/* Calls fn on every entry; fn may not change the map. */
static void sm_each(const smap_t *m, void (*fn)(const char *key, void *val, void *opaque),
                    void *opaque)
{
    size_t i;
    sm_ent_t *e;

    for (i = 0; i < m->nb; i++)
        for (e = m->b[i]; e; e = e->next)
            fn(e->key, e->val, opaque);
}

/* Frees the map, calling free_val on every value (may be NULL). */
static void sm_free(smap_t *m, void (*free_val)(void *))
{
    size_t i;
    sm_ent_t *e, *next;

    for (i = 0; i < m->nb; i++)
        for (e = m->b[i]; e; e = next) {
            next = e->next;
            if (free_val)
                free_val(e->val);
            free(e->key);
            free(e);
        }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

/* The values of the map in an array (malloc'd), or NULL when memory ran out
 * or it is empty (*n is 0 then). */
static void **sm_values(const smap_t *m, size_t *n)
{
    void **v = m->n ? malloc(m->n * sizeof(*v)) : NULL;
    size_t i, k = 0;
    sm_ent_t *e;

    *n = 0;
    if (!v)
        return NULL;
    for (i = 0; i < m->nb; i++)
        for (e = m->b[i]; e; e = e->next)
            v[k++] = e->val;
    *n = k;
    return v;
}

/* ---- entries ----------------------------------------------------------- */

typedef struct req_node {
    cb_open_req_t r; /* first: a cb_open_req_t * is a req_node_t * */
    size_t idx;      /* in st->reqs */
} req_node_t;

typedef struct holder {
    char *key;
    req_node_t **open;
    size_t n_open, cap_open;
    int64_t *queue; /* offsets of queued events, in order */
    size_t n_queue, cap_queue;
    int chunks;         /* H chunks in the topic (0: none) */
    bool dirty;         /* its H record must be written */
    uint64_t claim_gen; /* named by a running work of schedule number claim_gen */
} holder_t;

typedef struct qentry {
    cb_queued_t q;
    int chunks; /* Q chunks in the topic */
} qentry_t;

typedef struct wentry {
    cb_work_lookup_t l;
    int64_t offset;
    int chunks;
} wentry_t;

typedef struct rawval {
    char *val;
    size_t len;
} rawval_t;

typedef struct part {
    char *topic;
    int32_t partition;
    bool loading;
    smap_t raw;              /* loading: key -> rawval_t */
    smap_t holders;          /* holder key -> holder_t */
    smap_t queued;           /* offset (decimal) -> qentry_t */
    smap_t lookups;          /* "<offset>|<holder key>" -> wentry_t */
    cb_state_recs_t pending; /* records of changes, in order */
    holder_t **dirty;        /* holders whose H record must be written */
    size_t n_dirty, cap_dirty;
} part_t;

struct cb_state {
    part_t **parts;
    size_t n_parts, cap_parts;
    req_node_t **reqs; /* every open request of owned partitions */
    size_t n_reqs, cap_reqs;
    size_t n_finals;
    uint64_t gen;                /* schedule number, for holder claims */
    int64_t now_ms;              /* calendar time due events are compared with (cb_state_set_now) */
    cb_state_gate_fn gate_check; /* whether an awaiting event is decided */
    void *gate_opaque;
};

/* ---- small helpers ---------------------------------------------------- */

static int nomem(cb_error_t *err, const char *what)
{
    return cb_error_set(err, CB_ERR_NOMEM, "state: out of memory %s", what);
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void cb_queued_free(cb_queued_t *q)
{
    size_t i;

    if (!q)
        return;
    free(q->event_id);
    free(q->topic);
    free(q->avro);
    for (i = 0; i < q->n_holders; i++)
        free(q->holders[i]);
    free(q->holders);
    free(q->request_id);
    memset(q, 0, sizeof(*q));
}

void cb_state_recs_free(cb_state_recs_t *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        free(r->v[i].key);
        free(r->v[i].value);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static int recs_reserve(cb_state_recs_t *r, size_t more)
{
    if (r->n + more > r->cap) {
        size_t cap = r->cap ? r->cap : 16;
        cb_state_rec_t *v;
        while (cap < r->n + more)
            cap *= 2;
        if (!(v = realloc(r->v, cap * sizeof(*v))))
            return -1;
        r->v = v;
        r->cap = cap;
    }
    return 0;
}

int cb_state_recs_move(cb_state_recs_t *to, cb_state_recs_t *from)
{
    if (!from->n)
        return 0;
    if (recs_reserve(to, from->n) < 0)
        return -1;
    memcpy(to->v + to->n, from->v, from->n * sizeof(*from->v));
    to->n += from->n;
    free(from->v);
    memset(from, 0, sizeof(*from));
    return 0;
}

/* Appends a record; key and value are taken (freed on failure too). */
static int recs_add(cb_state_recs_t *r, int32_t partition, char *key, char *value, size_t len)
{
    if (recs_reserve(r, 1) < 0) {
        free(key);
        free(value);
        return -1;
    }
    r->v[r->n].partition = partition;
    r->v[r->n].key = key;
    r->v[r->n].value = value;
    r->v[r->n].len = len;
    r->n++;
    return 0;
}

/* A malloc'd key "<kind>|<topic>|<partition>|<rest>". */
static char *key_make(char kind, const part_t *p, const char *rest)
{
    size_t n = strlen(p->topic) + strlen(rest) + 32;
    char *k = malloc(n);

    if (k)
        snprintf(k, n, "%c|%s|%d|%s", kind, p->topic, (int)p->partition, rest);
    return k;
}

/* Tombstones for chunks [from, to) of the record "<kind>|...|<rest>|<i>". */
static int tombstones(part_t *p, cb_state_recs_t *out, char kind, const char *rest, int from,
                      int to)
{
    char *r = malloc(strlen(rest) + 16);
    int i;

    if (!r)
        return -1;
    for (i = from; i < to; i++) {
        char *k;
        snprintf(r, strlen(rest) + 16, "%s|%d", rest, i);
        if (!(k = key_make(kind, p, r)) || recs_add(out, p->partition, k, NULL, 0) < 0) {
            free(r);
            return -1;
        }
    }
    free(r);
    return 0;
}

/* ---- base64 ------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *in, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    size_t i;

    if (!out)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        *o++ = b64[in[i] >> 2];
        *o++ = b64[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        *o++ = b64[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
        *o++ = b64[in[i + 2] & 63];
    }
    if (i < len) {
        *o++ = b64[in[i] >> 2];
        if (i + 1 < len) {
            *o++ = b64[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
            *o++ = b64[(in[i + 1] & 15) << 2];
        } else {
            *o++ = b64[(in[i] & 3) << 4];
            *o++ = '=';
        }
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;

    return p ? (int)(p - b64) : -1;
}

/* Decodes text (length a multiple of 4) into a malloc'd buffer. -1 when it
 * is not base64 or memory ran out. */
static int b64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    unsigned char *o;
    size_t i, n = 0;

    *out = NULL;
    *outlen = 0;
    if (len % 4)
        return -1;
    if (!(o = malloc(len / 4 * 3 + 1)))
        return -1;
    for (i = 0; i < len; i += 4) {
        int a = b64_val(in[i]), b = b64_val(in[i + 1]),
            c = in[i + 2] == '=' ? 0 : b64_val(in[i + 2]),
            d = in[i + 3] == '=' ? 0 : b64_val(in[i + 3]);
        bool last = i + 4 == len;
        if (a < 0 || b < 0 || c < 0 || d < 0 || (!last && (in[i + 2] == '=' || in[i + 3] == '=')) ||
            (in[i + 2] == '=' && in[i + 3] != '=')) {
            free(o);
            return -1;
        }
        o[n++] = (unsigned char)((a << 2) | (b >> 4));
        if (in[i + 2] != '=')
            o[n++] = (unsigned char)(((b & 15) << 4) | (c >> 2));
        if (in[i + 3] != '=')
            o[n++] = (unsigned char)(((c & 3) << 6) | d);
    }
    *out = o;
    *outlen = n;
    return 0;
}

/* ---- JSON of outcomes and certificates ---------------------------------- */

static int set_str(json_t *o, const char *k, const char *v)
{
    return json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static json_t *outcome_to_json(const cb_outcome_t *o)
{
    json_t *j = json_object();
    int bad = 0;

    if (!j)
        return NULL;
    bad |= set_str(j, "outcome_id", o->outcome_id) |
           set_str(j, "source_event_id", o->source_event_id) |
           set_str(j, "source_event_type", o->source_event_type) |
           set_str(j, "source_topic", o->source_topic) |
           json_object_set_new(j, "source_partition", json_integer(o->source_partition)) |
           json_object_set_new(j, "source_offset", json_integer(o->source_offset)) |
           json_object_set_new(j, "action_index", json_integer(o->action_index)) |
           json_object_set_new(j, "action_count", json_integer(o->action_count)) |
           set_str(j, "action", cb_action_name(o->action)) |
           set_str(j, "holder_type", cb_holder_type_name(o->holder_type)) |
           set_str(j, "holder_id", o->holder_id) | set_str(j, "holder_name", o->holder_name) |
           set_str(j, "certificate_serial", o->certificate_serial) |
           set_str(j, "new_certificate_serial", o->new_certificate_serial) |
           set_str(j, "revocation_reason",
                   o->revocation_reason == CB_REASON_NONE
                       ? NULL
                       : cb_revocation_reason_name(o->revocation_reason)) |
           set_str(j, "device_id", o->device_id) |
           set_str(j, "status", cb_outcome_status_name(o->status)) |
           set_str(j, "ca_request_id", o->ca_request_id) |
           json_object_set_new(j, "http_status", json_integer(o->http_status)) |
           set_str(j, "error_code", o->error_code) | set_str(j, "error_message", o->error_message) |
           json_object_set_new(j, "attempts", json_integer(o->attempts)) |
           json_object_set_new(j, "latency_ms", json_integer(o->latency_ms)) |
           json_object_set_new(j, "processed_at_ms", json_integer(o->processed_at_ms)) |
           json_object_set_new(j, "emergency_signing_allowed",
                               json_boolean(o->emergency_signing_allowed)) |
           set_str(j, "note", o->note) | json_object_set_new(j, "final", json_boolean(o->final)) |
           set_str(j, "approval_request_id", o->approval_request_id) |
           set_str(j, "managing_agency_code", o->managing_agency_code) |
           set_str(j, "managing_agency_name", o->managing_agency_name) |
           set_str(j, "document_number", o->document_number) | set_str(j, "approver", o->approver);
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A string member of j copied into *dst (NULL when null or absent); -1 when
 * it has another type or memory ran out. */
static int get_str(const json_t *j, const char *k, char **dst)
{
    const json_t *v = json_object_get(j, k);

    *dst = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || !(*dst = strdup(json_string_value(v))))
        return -1;
    return 0;
}

static int get_int(const json_t *j, const char *k, int64_t *dst)
{
    const json_t *v = json_object_get(j, k);

    if (!json_is_integer(v))
        return -1;
    *dst = json_integer_value(v);
    return 0;
}

static int reason_parse(const char *s)
{
    int r;

    for (r = 0; r <= CB_REASON_CESSATION_OF_OPERATION; r++)
        if (cb_revocation_reason_name((cb_revocation_reason_t)r) &&
            !strcmp(cb_revocation_reason_name((cb_revocation_reason_t)r), s))
            return r;
    return -1;
}

static int outcome_from_json(const json_t *j, cb_outcome_t *o)
{
    const char *action = json_string_value(json_object_get(j, "action")),
               *htype = json_string_value(json_object_get(j, "holder_type")),
               *status = json_string_value(json_object_get(j, "status")),
               *reason = json_string_value(json_object_get(j, "revocation_reason"));
    int64_t v[8] = {0};
    int a, h, s, r = CB_REASON_NONE, bad;

    cb_outcome_init(o);
    if (!json_is_object(j) || !action || !htype || !status || (a = cb_action_parse(action)) < 0 ||
        (h = cb_holder_type_parse(htype)) < 0 || (s = cb_outcome_status_parse(status)) < 0 ||
        (reason && (r = reason_parse(reason)) < 0))
        return -1;
    bad =
        get_str(j, "outcome_id", &o->outcome_id) |
        get_str(j, "source_event_id", &o->source_event_id) |
        get_str(j, "source_event_type", &o->source_event_type) |
        get_str(j, "source_topic", &o->source_topic) | get_str(j, "holder_id", &o->holder_id) |
        get_str(j, "holder_name", &o->holder_name) |
        get_str(j, "certificate_serial", &o->certificate_serial) |
        get_str(j, "new_certificate_serial", &o->new_certificate_serial) |
        get_str(j, "device_id", &o->device_id) | get_str(j, "ca_request_id", &o->ca_request_id) |
        get_str(j, "error_code", &o->error_code) | get_str(j, "error_message", &o->error_message) |
        get_str(j, "note", &o->note) | get_str(j, "approval_request_id", &o->approval_request_id) |
        get_str(j, "managing_agency_code", &o->managing_agency_code) |
        get_str(j, "managing_agency_name", &o->managing_agency_name) |
        get_str(j, "document_number", &o->document_number) | get_str(j, "approver", &o->approver) |
        get_int(j, "source_partition", &v[0]) | get_int(j, "source_offset", &v[1]) |
        get_int(j, "action_index", &v[2]) | get_int(j, "action_count", &v[3]) |
        get_int(j, "http_status", &v[4]) | get_int(j, "attempts", &v[5]) |
        get_int(j, "latency_ms", &v[6]) | get_int(j, "processed_at_ms", &v[7]);
    if (bad || !o->outcome_id || !o->source_event_id || !o->holder_id) {
        cb_outcome_clear(o);
        return -1;
    }
    o->source_partition = (int32_t)v[0];
    o->source_offset = v[1];
    o->action_index = (int32_t)v[2];
    o->action_count = (int32_t)v[3];
    o->http_status = (int32_t)v[4];
    o->attempts = (int32_t)v[5];
    o->latency_ms = v[6];
    o->processed_at_ms = v[7];
    o->action = (cb_action_t)a;
    o->holder_type = (cb_holder_type_t)h;
    o->status = (cb_outcome_status_t)s;
    o->revocation_reason = (cb_revocation_reason_t)r;
    o->emergency_signing_allowed = json_is_true(json_object_get(j, "emergency_signing_allowed"));
    o->final = !json_is_false(json_object_get(j, "final"));
    return 0;
}

char *cb_state_outcome_json(const cb_outcome_t *o)
{
    json_t *j = outcome_to_json(o);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    return s;
}

int cb_state_outcome_parse(const char *json, size_t len, cb_outcome_t *out, cb_error_t *err)
{
    json_t *j = json_loadb(json, len, 0, NULL);
    int rc = j && outcome_from_json(j, out) == 0 ? 0 : -1;

    json_decref(j);
    if (rc < 0)
        cb_error_set(err, CB_ERR_DECODE, "state: not an outcome");
    return rc;
}

static json_t *cert_to_json(const cb_ca_cert_t *c)
{
    json_t *j = json_object();

    if (!j || set_str(j, "serial", c->serial) | set_str(j, "subject", c->subject) |
                  set_str(j, "device_id", c->device_id) | set_str(j, "status", c->status) |
                  json_object_set_new(j, "not_before_ms", json_integer(c->not_before_ms)) |
                  json_object_set_new(j, "not_after_ms", json_integer(c->not_after_ms)) |
                  set_str(j, "holder_id", c->holder_id) | set_str(j, "org_code", c->org_code)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int cert_from_json(const json_t *j, cb_ca_cert_t *c)
{
    memset(c, 0, sizeof(*c));
    if (!json_is_object(j) ||
        (get_str(j, "serial", &c->serial) | get_str(j, "subject", &c->subject) |
         get_str(j, "device_id", &c->device_id) | get_str(j, "status", &c->status) |
         get_str(j, "holder_id", &c->holder_id) | get_str(j, "org_code", &c->org_code) |
         get_int(j, "not_before_ms", &c->not_before_ms) |
         get_int(j, "not_after_ms", &c->not_after_ms)) ||
        !c->serial) {
        free(c->serial);
        free(c->subject);
        free(c->device_id);
        free(c->status);
        free(c->holder_id);
        free(c->org_code);
        memset(c, 0, sizeof(*c));
        return -1;
    }
    return 0;
}

/* ---- chunked records ---------------------------------------------------- */

/* The entity as one chunk, when it fits: appends its record to out and
 * answers 1; 0 when it does not fit (nothing appended); -1 on failure. */
static int chunk_single(part_t *p, char kind, const char *rest, json_t *base,
                        const char *const *names, json_t *const *lists, size_t n_lists,
                        cb_state_recs_t *out, cb_error_t *err)
{
    json_t *c = json_copy(base); /* shallow: the lists are borrowed */
    char *v = NULL, *r = NULL, *k = NULL;
    size_t i, n = strlen(rest) + 3;
    int rc = -1;

    if (!c)
        return nomem(err, "writing a record");
    for (i = 0; i < n_lists; i++)
        if (json_object_set(c, names[i], lists[i]) < 0)
            goto oom;
    if (json_object_set_new(c, "chunk", json_integer(0)) < 0 ||
        json_object_set_new(c, "chunks", json_integer(1)) < 0 || !(v = json_dumps(c, JSON_COMPACT)))
        goto oom;
    if (strlen(v) > CB_STATE_CHUNK_MAX) {
        rc = 0;
        goto done;
    }
    if (!(r = malloc(n)))
        goto oom;
    snprintf(r, n, "%s|0", rest);
    if (!(k = key_make(kind, p, r)))
        goto oom;
    if (strlen(k) > CB_STATE_KEY_MAX) {
        rc = cb_error_set(err, CB_ERR_LIMIT, "state: record key %.80s too long", k);
        goto done;
    }
    if (recs_add(out, p->partition, k, v, strlen(v)) < 0) {
        k = v = NULL; /* taken and freed */
        goto oom;
    }
    k = v = NULL;
    rc = 1;
    goto done;
oom:
    rc = nomem(err, "writing a record");
done:
    free(r);
    free(k);
    free(v);
    json_decref(c);
    return rc;
}

/* Writes entity `base` (an object of scalar fields, borrowed) with its lists
 * (names[i] -> lists[i], borrowed arrays) as chunks of at most
 * CB_STATE_CHUNK_MAX bytes: keys "<kind>|<topic>|<k>|<rest>|<i>". Appends
 * the records to out and answers the number of chunks, -1 on failure (err). */
static int chunks_write(part_t *p, char kind, const char *rest, json_t *base,
                        const char *const *names, json_t *const *lists, size_t n_lists,
                        cb_state_recs_t *out, cb_error_t *err)
{
    char *text;
    size_t fixed, li = 0, ii = 0, chunk = 0, first = out->n, i;
    json_t **cur = NULL;
    int rc = -1;

    /* the usual case, one chunk: one object, one dump */
    if ((rc = chunk_single(p, kind, rest, base, names, lists, n_lists, out, err)) != 0)
        return rc;
    rc = -1;
    if (!(text = json_dumps(base, JSON_COMPACT)))
        return nomem(err, "writing a record");
    fixed = strlen(text) + 64 + 8 * n_lists;
    for (i = 0; i < n_lists; i++)
        fixed += strlen(names[i]) + 6;
    free(text);
    if (!(cur = calloc(n_lists ? n_lists : 1, sizeof(*cur))))
        return nomem(err, "writing a record");
    do {
        json_t *c = json_deep_copy(base);
        size_t size = fixed;
        char suffix[32], *r = NULL, *k = NULL, *v = NULL;

        if (!c)
            goto oom;
        for (i = 0; i < n_lists; i++)
            if (!(cur[i] = json_array()) || json_object_set_new(c, names[i], cur[i]) < 0) {
                json_decref(c);
                goto oom;
            }
        /* fill with the next items while they fit; one item always goes in */
        while (li < n_lists) {
            json_t *item = json_array_get(lists[li], ii);
            char *t;
            size_t len;
            if (!item) {
                li++;
                ii = 0;
                continue;
            }
            if (!(t = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY))) {
                json_decref(c);
                goto oom;
            }
            len = strlen(t) + 1;
            free(t);
            if (size + len > CB_STATE_CHUNK_MAX && size > fixed)
                break;
            if (fixed + len > CB_STATE_CHUNK_MAX) {
                json_decref(c);
                cb_error_set(err, CB_ERR_LIMIT, "state: an item of %zu bytes does not fit a record",
                             len);
                goto fail;
            }
            json_array_append(cur[li], item);
            size += len;
            ii++;
        }
        json_object_set_new(c, "chunk", json_integer((json_int_t)chunk));
        snprintf(suffix, sizeof(suffix), "|%zu", chunk);
        r = malloc(strlen(rest) + sizeof(suffix));
        if (r)
            snprintf(r, strlen(rest) + sizeof(suffix), "%s%s", rest, suffix);
        v = json_dumps(c, JSON_COMPACT);
        json_decref(c);
        if (!r || !v || !(k = key_make(kind, p, r))) {
            free(r);
            free(v);
            goto oom;
        }
        free(r);
        if (strlen(v) > CB_STATE_VALUE_MAX || strlen(k) > CB_STATE_KEY_MAX) {
            cb_error_set(err, CB_ERR_LIMIT, "state: record %.80s too large", k);
            free(k);
            free(v);
            goto fail;
        }
        if (recs_add(out, p->partition, k, v, strlen(v)) < 0)
            goto oom;
        chunk++;
    } while (li < n_lists);
    /* every chunk names the count: rewrite the values with "chunks" */
    for (i = first; i < out->n; i++) {
        json_t *c = json_loadb(out->v[i].value, out->v[i].len, 0, NULL);
        char *v;
        if (!c || json_object_set_new(c, "chunks", json_integer((json_int_t)chunk)) < 0 ||
            !(v = json_dumps(c, JSON_COMPACT))) {
            json_decref(c);
            goto oom;
        }
        json_decref(c);
        free(out->v[i].value);
        out->v[i].value = v;
        out->v[i].len = strlen(v);
    }
    rc = (int)chunk;
    goto done;
oom:
    nomem(err, "writing a record");
fail:
    while (out->n > first) { /* nothing of the entity stays */
        out->n--;
        free(out->v[out->n].key);
        free(out->v[out->n].value);
    }
done:
    free(cur);
    return rc;
}

/* An object with "v" and the given scalar members. */
static json_t *base_obj(void)
{
    json_t *o = json_object();

    if (o && json_object_set_new(o, "v", json_integer(STATE_VERSION)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- partitions -------------------------------------------------------- */

cb_state_t *cb_state_new(void)
{
    return calloc(1, sizeof(cb_state_t));
}

static part_t *part_find(const cb_state_t *st, const char *topic, int32_t partition)
{
    size_t i;

    for (i = 0; i < st->n_parts; i++)
        if (st->parts[i]->partition == partition && !strcmp(st->parts[i]->topic, topic))
            return st->parts[i];
    return NULL;
}

static void rawval_free(void *v)
{
    rawval_t *r = v;

    if (r)
        free(r->val);
    free(r);
}

static void req_remove(cb_state_t *st, req_node_t *n)
{
    st->reqs[n->idx] = st->reqs[--st->n_reqs];
    st->reqs[n->idx]->idx = n->idx;
    if (n->r.final) {
        cb_outcome_clear(n->r.final);
        free(n->r.final);
        st->n_finals--;
    }
    free(n->r.holder_key);
    cb_outcome_clear(&n->r.pending);
    free(n);
}

static void holder_free_cb(void *v)
{
    holder_t *h = v;

    if (!h)
        return;
    free(h->key);
    free(h->open); /* the requests are freed by the caller */
    free(h->queue);
    free(h);
}

static void qentry_free(void *v)
{
    qentry_t *q = v;

    if (q)
        cb_queued_free(&q->q);
    free(q);
}

static void wentry_free(void *v)
{
    wentry_t *w = v;

    if (w)
        cb_work_lookup_clear(&w->l);
    free(w);
}

/* Frees every open request of the part's holders. */
static void part_free_reqs(cb_state_t *st, part_t *p)
{
    size_t n, i, j;
    void **hs = sm_values(&p->holders, &n);

    for (i = 0; i < n; i++) {
        holder_t *h = hs[i];
        for (j = 0; j < h->n_open; j++)
            req_remove(st, h->open[j]);
        h->n_open = 0;
    }
    free(hs);
}

/* Empties the part (entries, pending changes), keeping its identity. */
static void part_clear(cb_state_t *st, part_t *p)
{
    part_free_reqs(st, p);
    sm_free(&p->raw, rawval_free);
    sm_free(&p->holders, holder_free_cb);
    sm_free(&p->queued, qentry_free);
    sm_free(&p->lookups, wentry_free);
    cb_state_recs_free(&p->pending);
    free(p->dirty);
    p->dirty = NULL;
    p->n_dirty = p->cap_dirty = 0;
}

int cb_state_part_add(cb_state_t *st, const char *topic, int32_t partition, cb_error_t *err)
{
    part_t *p = part_find(st, topic, partition);

    if (p) {
        cb_state_part_reset(st, topic, partition);
        return 0;
    }
    if (st->n_parts == st->cap_parts) {
        size_t cap = st->cap_parts ? st->cap_parts * 2 : 8;
        part_t **a = realloc(st->parts, cap * sizeof(*a));
        if (!a)
            return nomem(err, "adding a partition");
        st->parts = a;
        st->cap_parts = cap;
    }
    if (!(p = calloc(1, sizeof(*p))) || !(p->topic = strdup(topic))) {
        free(p);
        return nomem(err, "adding a partition");
    }
    p->partition = partition;
    p->loading = true;
    st->parts[st->n_parts++] = p;
    return 0;
}

void cb_state_part_reset(cb_state_t *st, const char *topic, int32_t partition)
{
    part_t *p = part_find(st, topic, partition);

    if (!p)
        return;
    part_clear(st, p);
    p->loading = true;
}

void cb_state_part_drop(cb_state_t *st, const char *topic, int32_t partition)
{
    size_t i;

    for (i = 0; i < st->n_parts; i++) {
        part_t *p = st->parts[i];
        if (p->partition != partition || strcmp(p->topic, topic))
            continue;
        part_clear(st, p);
        free(p->topic);
        free(p);
        st->parts[i] = st->parts[--st->n_parts];
        return;
    }
}

bool cb_state_part_owned(const cb_state_t *st, const char *topic, int32_t partition)
{
    return part_find(st, topic, partition) != NULL;
}

bool cb_state_part_loading(const cb_state_t *st, const char *topic, int32_t partition)
{
    const part_t *p = part_find(st, topic, partition);

    return p && p->loading;
}

void cb_state_destroy(cb_state_t *st)
{
    if (!st)
        return;
    while (st->n_parts)
        cb_state_part_drop(st, st->parts[0]->topic, st->parts[0]->partition);
    free(st->parts);
    free(st->reqs);
    free(st);
}

/* ---- holders ------------------------------------------------------------- */

static holder_t *holder_get(part_t *p, const char *key, bool create)
{
    holder_t *h = sm_get(&p->holders, key);

    if (h || !create)
        return h;
    if (!(h = calloc(1, sizeof(*h))) || !(h->key = strdup(key))) {
        free(h);
        return NULL;
    }
    if (sm_put(&p->holders, key, h, NULL) < 0) {
        holder_free_cb(h);
        return NULL;
    }
    return h;
}

static int holder_dirty(part_t *p, holder_t *h)
{
    if (h->dirty)
        return 0;
    if (p->n_dirty == p->cap_dirty) {
        size_t cap = p->cap_dirty ? p->cap_dirty * 2 : 16;
        holder_t **a = realloc(p->dirty, cap * sizeof(*a));
        if (!a)
            return -1;
        p->dirty = a;
        p->cap_dirty = cap;
    }
    p->dirty[p->n_dirty++] = h;
    h->dirty = true;
    return 0;
}

static int holder_push_open(holder_t *h, req_node_t *n)
{
    if (h->n_open == h->cap_open) {
        size_t cap = h->cap_open ? h->cap_open * 2 : 4;
        req_node_t **a = realloc(h->open, cap * sizeof(*a));
        if (!a)
            return -1;
        h->open = a;
        h->cap_open = cap;
    }
    h->open[h->n_open++] = n;
    return 0;
}

static int holder_push_queue(holder_t *h, int64_t offset)
{
    if (h->n_queue == h->cap_queue) {
        size_t cap = h->cap_queue ? h->cap_queue * 2 : 4;
        int64_t *a = realloc(h->queue, cap * sizeof(*a));
        if (!a)
            return -1;
        h->queue = a;
        h->cap_queue = cap;
    }
    h->queue[h->n_queue++] = offset;
    return 0;
}

static bool holder_busy(const holder_t *h)
{
    return h && (h->n_open || h->n_queue);
}

bool cb_state_holder_busy(const cb_state_t *st, const char *topic, int32_t partition,
                          const char *holder_key)
{
    part_t *p = part_find(st, topic, partition);

    return p && holder_busy(sm_get(&p->holders, holder_key));
}

void cb_state_keys_free(char **keys, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

int cb_state_work_holders(const cb_work_t *w, char ***out, size_t *n, cb_error_t *err)
{
    char **keys = calloc(w->intents.count ? w->intents.count : 1, sizeof(*keys));
    size_t i, j, k = 0;

    *out = NULL;
    *n = 0;
    if (!keys)
        return nomem(err, "listing holders");
    for (i = 0; i < w->intents.count; i++) {
        char *key = cb_executor_holder_key(&w->intents.items[i]);
        bool seen = false;
        if (!key) {
            cb_state_keys_free(keys, k);
            return nomem(err, "listing holders");
        }
        for (j = 0; j < k && !seen; j++)
            seen = !strcmp(keys[j], key);
        if (seen)
            free(key);
        else
            keys[k++] = key;
    }
    *out = keys;
    *n = k;
    return 0;
}

/* ---- queued events ------------------------------------------------------- */

static void offset_key(char *buf, size_t size, int64_t offset)
{
    snprintf(buf, size, "%" PRId64, offset);
}

/* The Q records of q (appended to out); q's chunk count is set. */
static int queued_write(part_t *p, qentry_t *qe, cb_state_recs_t *out, cb_error_t *err)
{
    const cb_queued_t *q = &qe->q;
    json_t *base = base_obj(), *holders = json_array(), *avro = json_array();
    const char *names[] = {"holders", "avro"};
    json_t *lists[2];
    char *text = NULL, rest[32];
    size_t i, len;
    int rc = -1;

    if (!base || !holders || !avro || !(text = b64_encode(q->avro, q->avro_len)))
        goto oom;
    if (set_str(base, "event_id", q->event_id) < 0 || set_str(base, "topic", q->topic) < 0 ||
        json_object_set_new(base, "partition", json_integer(q->partition)) < 0 ||
        json_object_set_new(base, "offset", json_integer(q->offset)) < 0 ||
        (q->due_ms > 0 && json_object_set_new(base, "due", json_integer(q->due_ms)) < 0) ||
        (q->gate && json_object_set_new(base, "gate", json_integer(q->gate)) < 0) ||
        (q->request_id && set_str(base, "request", q->request_id) < 0))
        goto oom;
    for (i = 0; i < q->n_holders; i++)
        if (json_array_append_new(holders, json_string(q->holders[i])) < 0)
            goto oom;
    len = strlen(text);
    for (i = 0; i < len; i += AVRO_PIECE)
        if (json_array_append_new(
                avro, json_stringn(text + i, len - i < AVRO_PIECE ? len - i : AVRO_PIECE)) < 0)
            goto oom;
    lists[0] = holders;
    lists[1] = avro;
    offset_key(rest, sizeof(rest), q->offset);
    rc = chunks_write(p, 'Q', rest, base, names, lists, 2, out, err);
    if (rc >= 0) {
        qe->chunks = rc;
        rc = 0;
    }
    goto done;
oom:
    nomem(err, "writing a queued event");
done:
    free(text);
    json_decref(base);
    json_decref(holders);
    json_decref(avro);
    return rc;
}

int cb_state_schedule(cb_state_t *st, cb_work_t *works, size_t n, size_t n_resumed, bool *run,
                      cb_state_encode_fn encode, void *opaque, cb_error_t *err)
{
    return cb_state_schedule_due(st, works, n, n_resumed, run, NULL, encode, opaque, err);
}

int cb_state_schedule_due(cb_state_t *st, cb_work_t *works, size_t n, size_t n_resumed, bool *run,
                          const int64_t *due, cb_state_encode_fn encode, void *opaque,
                          cb_error_t *err)
{
    return cb_state_schedule_gated(st, works, n, n_resumed, run, due, NULL, encode, opaque, err);
}

int cb_state_schedule_gated(cb_state_t *st, cb_work_t *works, size_t n, size_t n_resumed, bool *run,
                            const int64_t *due, const bool *gated, cb_state_encode_fn encode,
                            void *opaque, cb_error_t *err)
{
    size_t i, j;

    st->gen++;
    for (i = 0; i < n; i++) {
        cb_work_t *w = &works[i];
        part_t *p = part_find(st, w->topic, w->partition);
        char **keys = NULL;
        size_t nk = 0;
        bool gate = i >= n_resumed && gated && gated[i];
        /* its effective date is ahead, or it waits for an approval */
        bool wait = (i >= n_resumed && due && due[i] > 0) || gate;

        run[i] = true;
        if (!p || !w->intents.count)
            continue;
        if (cb_state_work_holders(w, &keys, &nk, err) < 0)
            return -1;
        for (j = 0; i >= n_resumed && j < nk && !wait; j++) {
            holder_t *h = sm_get(&p->holders, keys[j]);
            wait = holder_busy(h) || (h && h->claim_gen == st->gen);
        }
        if (!wait) {
            for (j = 0; j < nk; j++) {
                holder_t *h = holder_get(p, keys[j], true);
                if (!h) {
                    cb_state_keys_free(keys, nk);
                    return nomem(err, "claiming a holder");
                }
                h->claim_gen = st->gen;
            }
            cb_state_keys_free(keys, nk);
            continue;
        }
        /* holder order: behind the open request or the queued events */
        {
            qentry_t *qe = calloc(1, sizeof(*qe));
            char ok[32];
            void *buf = NULL;
            size_t len = 0;
            if (!qe) {
                cb_state_keys_free(keys, nk);
                return nomem(err, "queueing an event");
            }
            if (encode(opaque, &w->ev, &buf, &len, err) < 0) {
                free(qe);
                cb_state_keys_free(keys, nk);
                return -1;
            }
            qe->q.avro = buf;
            qe->q.avro_len = len;
            qe->q.holders = keys;
            qe->q.n_holders = nk;
            qe->q.topic = xstrdup(w->topic);
            qe->q.event_id = xstrdup(w->ev.event_id);
            qe->q.partition = w->partition;
            qe->q.offset = w->offset;
            qe->q.due_ms = i >= n_resumed && due ? due[i] : 0;
            qe->q.gate = gate ? CB_GATE_STATE_NEEDED : CB_GATE_STATE_NONE;
            offset_key(ok, sizeof(ok), w->offset);
            if (!qe->q.topic || !qe->q.event_id || sm_put(&p->queued, ok, qe, NULL) < 0) {
                qentry_free(qe);
                return nomem(err, "queueing an event");
            }
            if (queued_write(p, qe, &p->pending, err) < 0)
                return -1;
            for (j = 0; j < nk; j++) {
                holder_t *h = holder_get(p, keys[j], true);
                if (!h || holder_push_queue(h, w->offset) < 0 || holder_dirty(p, h) < 0)
                    return nomem(err, "queueing an event");
            }
            run[i] = false;
        }
    }
    return 0;
}

static int cmp_queued(const void *a, const void *b)
{
    const cb_queued_t *x = *(cb_queued_t *const *)a, *y = *(cb_queued_t *const *)b;
    int c = strcmp(x->topic, y->topic);

    if (c)
        return c;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Whether qe can run: its effective date has come (now_ms), it needs no
 * approval or has every decision (st's gate check), and each holder has no
 * open request and qe first. */
static bool queued_runnable(const cb_state_t *st, part_t *p, const qentry_t *qe, int64_t now_ms)
{
    size_t j;

    if (qe->q.due_ms > now_ms || qe->q.gate == CB_GATE_STATE_NEEDED)
        return false;
    if (qe->q.gate == CB_GATE_STATE_AWAITING &&
        (!st->gate_check || !st->gate_check(st->gate_opaque, &qe->q)))
        return false;
    for (j = 0; j < qe->q.n_holders; j++) {
        const holder_t *h = sm_get(&p->holders, qe->q.holders[j]);
        if (!h || h->n_open || !h->n_queue || h->queue[0] != qe->q.offset)
            return false;
    }
    return true;
}

int cb_state_take_runnable(cb_state_t *st, size_t max, cb_queued_t ***out, size_t *n,
                           cb_error_t *err)
{
    cb_queued_t **res = NULL;
    size_t i, k = 0, cap = 0;

    *out = NULL;
    *n = 0;
    for (i = 0; i < st->n_parts && k < max; i++) {
        part_t *p = st->parts[i];
        size_t nq, q, j;
        void **qs;
        if (p->loading || !p->queued.n)
            continue;
        if (!(qs = sm_values(&p->queued, &nq)))
            goto oom;
        /* decided on the queues as they are, before any is taken: two
         * events of one holder never run in the same batch */
        for (q = 0, j = 0; q < nq; q++)
            if (queued_runnable(st, p, qs[q], st->now_ms))
                qs[j++] = qs[q];
        nq = j;
        for (q = 0; q < nq && k < max; q++) {
            qentry_t *qe = qs[q];
            char ok[32];
            cb_queued_t *taken;
            if (k == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                cb_queued_t **a = realloc(res, ncap * sizeof(*a));
                if (!a) {
                    free(qs);
                    goto oom;
                }
                res = a;
                cap = ncap;
            }
            if (!(taken = malloc(sizeof(*taken)))) {
                free(qs);
                goto oom;
            }
            offset_key(ok, sizeof(ok), qe->q.offset);
            if (tombstones(p, &p->pending, 'Q', ok, 0, qe->chunks) < 0) {
                free(taken);
                free(qs);
                goto oom;
            }
            for (j = 0; j < qe->q.n_holders; j++) {
                holder_t *h = sm_get(&p->holders, qe->q.holders[j]);
                memmove(h->queue, h->queue + 1, (h->n_queue - 1) * sizeof(*h->queue));
                h->n_queue--;
                if (holder_dirty(p, h) < 0) {
                    free(taken);
                    free(qs);
                    goto oom;
                }
            }
            *taken = qe->q;
            memset(&qe->q, 0, sizeof(qe->q));
            qentry_free(sm_del(&p->queued, ok));
            res[k++] = taken;
        }
        free(qs);
    }
    if (k)
        qsort(res, k, sizeof(*res), cmp_queued);
    *out = res;
    *n = k;
    return 0;
oom:
    for (i = 0; i < k; i++) {
        cb_queued_free(res[i]);
        free(res[i]);
    }
    free(res);
    return nomem(err, "taking queued events");
}

int cb_state_cancel(cb_state_t *st, const char *topic, int32_t partition, const char *event_id,
                    int64_t before_offset, cb_queued_t **out, cb_error_t *err)
{
    part_t *p = part_find(st, topic, partition);
    qentry_t *qe = NULL;
    cb_queued_t *taken;
    char ok[32];
    size_t nq, i, j, k;
    void **qs;

    *out = NULL;
    if (!p || p->loading || !p->queued.n)
        return 0;
    if (!(qs = sm_values(&p->queued, &nq)))
        return nomem(err, "cancelling a queued event");
    for (i = 0; i < nq; i++) {
        qentry_t *c = qs[i];
        /* the lowest offset first: repeats of an id go in log order */
        if (c->q.offset < before_offset && !strcmp(c->q.event_id, event_id) &&
            (!qe || c->q.offset < qe->q.offset))
            qe = c;
    }
    free(qs);
    if (!qe)
        return 0;
    if (!(taken = malloc(sizeof(*taken))))
        return nomem(err, "cancelling a queued event");
    offset_key(ok, sizeof(ok), qe->q.offset);
    if (tombstones(p, &p->pending, 'Q', ok, 0, qe->chunks) < 0) {
        free(taken);
        return nomem(err, "cancelling a queued event");
    }
    for (j = 0; j < qe->q.n_holders; j++) {
        holder_t *h = sm_get(&p->holders, qe->q.holders[j]);
        if (!h)
            continue;
        for (i = k = 0; i < h->n_queue; i++)
            if (h->queue[i] != qe->q.offset)
                h->queue[k++] = h->queue[i];
        h->n_queue = k;
        if (holder_dirty(p, h) < 0) {
            free(taken);
            return nomem(err, "cancelling a queued event");
        }
    }
    *taken = qe->q;
    memset(&qe->q, 0, sizeof(qe->q));
    qentry_free(sm_del(&p->queued, ok));
    *out = taken;
    return 0;
}

void cb_state_set_gate_check(cb_state_t *st, cb_state_gate_fn fn, void *opaque)
{
    st->gate_check = fn;
    st->gate_opaque = opaque;
}

int cb_state_gate_due(cb_state_t *st, const cb_queued_t ***out, size_t *n, cb_error_t *err)
{
    const cb_queued_t **res = NULL;
    size_t i, k = 0, cap = 0;

    *out = NULL;
    *n = 0;
    for (i = 0; i < st->n_parts; i++) {
        part_t *p = st->parts[i];
        size_t nq, q;
        void **qs;
        if (p->loading || !p->queued.n)
            continue;
        if (!(qs = sm_values(&p->queued, &nq)))
            goto oom;
        for (q = 0; q < nq; q++) {
            const qentry_t *qe = qs[q];
            if (qe->q.gate != CB_GATE_STATE_NEEDED || qe->q.due_ms > st->now_ms)
                continue;
            if (k == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                const cb_queued_t **a = realloc(res, ncap * sizeof(*a));
                if (!a) {
                    free(qs);
                    goto oom;
                }
                res = a;
                cap = ncap;
            }
            res[k++] = &qe->q;
        }
        free(qs);
    }
    if (k)
        qsort(res, k, sizeof(*res), cmp_queued);
    *out = res;
    *n = k;
    return 0;
oom:
    free(res);
    return nomem(err, "listing the events whose approval request opens");
}

int cb_state_gate_open(cb_state_t *st, const char *topic, int32_t partition, int64_t offset,
                       const char *request_id, cb_error_t *err)
{
    part_t *p = part_find(st, topic, partition);
    qentry_t *qe;
    char ok[32], *rid;
    int old;

    offset_key(ok, sizeof(ok), offset);
    if (!p || !(qe = sm_get(&p->queued, ok)))
        return cb_error_set(err, CB_ERR_INTERNAL, "state: no queued event at %s[%d]@%lld", topic,
                            (int)partition, (long long)offset);
    if (!(rid = strdup(request_id)))
        return nomem(err, "opening an approval request");
    free(qe->q.request_id);
    qe->q.request_id = rid;
    qe->q.gate = CB_GATE_STATE_AWAITING;
    old = qe->chunks;
    if (queued_write(p, qe, &p->pending, err) < 0)
        return -1;
    /* fewer chunks than before: the rest are deleted */
    if (qe->chunks < old && tombstones(p, &p->pending, 'Q', ok, qe->chunks, old) < 0)
        return nomem(err, "opening an approval request");
    return 0;
}

bool cb_state_event_open(const cb_state_t *st, const char *topic, int32_t partition,
                         const char *event_id)
{
    size_t i;

    for (i = 0; i < st->n_reqs; i++) {
        const cb_open_req_t *r = &st->reqs[i]->r;
        if (r->partition == partition && r->topic && !strcmp(r->topic, topic) &&
            r->pending.source_event_id && !strcmp(r->pending.source_event_id, event_id))
            return true;
    }
    return false;
}

size_t cb_state_queued_count(const cb_state_t *st)
{
    size_t i, n = 0;

    for (i = 0; i < st->n_parts; i++)
        n += st->parts[i]->queued.n;
    return n;
}

void cb_state_set_now(cb_state_t *st, int64_t calendar_ms)
{
    st->now_ms = calendar_ms;
}

/* Adds the smallest due time above after_ms of a partition's events. */
typedef struct due_ctx {
    int64_t after, best;
} due_ctx_t;

static void due_min(const char *key, void *val, void *opaque)
{
    const qentry_t *qe = val;
    due_ctx_t *c = opaque;

    (void)key;
    if (qe->q.due_ms > c->after && (c->best == 0 || qe->q.due_ms < c->best))
        c->best = qe->q.due_ms;
}

int64_t cb_state_next_due(const cb_state_t *st, int64_t after_ms)
{
    due_ctx_t c = {after_ms, 0};
    size_t i;

    for (i = 0; i < st->n_parts; i++)
        if (!st->parts[i]->loading)
            sm_each(&st->parts[i]->queued, due_min, &c);
    return c.best;
}

bool cb_state_part_has_queued(const cb_state_t *st, const char *topic, int32_t partition)
{
    const part_t *p = part_find(st, topic, partition);

    return p && p->queued.n > 0;
}

bool cb_state_part_busy(const cb_state_t *st, const char *topic, int32_t partition)
{
    const part_t *p = part_find(st, topic, partition);
    size_t i;

    if (!p)
        return false;
    if (p->queued.n)
        return true;
    for (i = 0; i < st->n_reqs; i++)
        if (st->reqs[i]->r.topic == p->topic && st->reqs[i]->r.partition == partition)
            return true;
    return false;
}

/* ---- open requests -------------------------------------------------------- */

/* Adds a request node for the part's holder (created when needed). */
static req_node_t *req_add(cb_state_t *st, part_t *p, const char *holder_key,
                           const cb_outcome_t *pending, int64_t opened_at_ms)
{
    req_node_t *n = calloc(1, sizeof(*n));
    holder_t *h = holder_get(p, holder_key, true);
    char *s;

    if (!n || !h)
        goto fail;
    if (st->n_reqs == st->cap_reqs) {
        size_t cap = st->cap_reqs ? st->cap_reqs * 2 : 64;
        req_node_t **a = realloc(st->reqs, cap * sizeof(*a));
        if (!a)
            goto fail;
        st->reqs = a;
        st->cap_reqs = cap;
    }
    /* a deep copy through JSON: every string, the same bounds */
    if (!(s = cb_state_outcome_json(pending)))
        goto fail;
    if (cb_state_outcome_parse(s, strlen(s), &n->r.pending, NULL) < 0) {
        free(s);
        goto fail;
    }
    free(s);
    if (!(n->r.holder_key = strdup(holder_key)) || holder_push_open(h, n) < 0) {
        cb_outcome_clear(&n->r.pending);
        free(n->r.holder_key);
        goto fail;
    }
    n->r.opened_at_ms = opened_at_ms;
    n->r.topic = p->topic;
    n->r.partition = p->partition;
    n->idx = st->n_reqs;
    st->reqs[st->n_reqs++] = n;
    return n;
fail:
    free(n);
    return NULL;
}

static char *req_json(const cb_open_req_t *r)
{
    json_t *o = base_obj(), *out = outcome_to_json(&r->pending);
    char *s = NULL;

    if (o && out && set_str(o, "holder", r->holder_key) == 0 &&
        json_object_set_new(o, "opened_at_ms", json_integer(r->opened_at_ms)) == 0 &&
        json_object_set(o, "outcome", out) == 0)
        s = json_dumps(o, JSON_COMPACT);
    json_decref(out);
    json_decref(o);
    return s;
}

int cb_state_open(cb_state_t *st, const char *topic, int32_t partition, const char *holder_key,
                  const cb_outcome_t *pending, int64_t opened_at_ms, int64_t first_poll_ms,
                  cb_error_t *err)
{
    part_t *p = part_find(st, topic, partition);
    req_node_t *n;
    char *k, *v;

    if (!p)
        return cb_error_set(err, CB_ERR_INTERNAL, "state: %s[%d] is not owned", topic,
                            (int)partition);
    if (!pending->outcome_id)
        return cb_error_set(err, CB_ERR_INTERNAL, "state: an open request without outcome id");
    if (!(n = req_add(st, p, holder_key, pending, opened_at_ms)))
        return nomem(err, "opening a request");
    n->r.pending.final = false;
    n->r.next_poll_ms = first_poll_ms;
    if (!(v = req_json(&n->r)) || !(k = key_make('R', p, n->r.pending.outcome_id))) {
        free(v);
        return nomem(err, "opening a request");
    }
    if (strlen(v) > CB_STATE_VALUE_MAX || strlen(k) > CB_STATE_KEY_MAX) {
        free(k);
        free(v);
        return cb_error_set(err, CB_ERR_LIMIT, "state: the open request of %s is too large",
                            pending->outcome_id);
    }
    if (recs_add(&p->pending, p->partition, k, v, strlen(v)) < 0)
        return nomem(err, "opening a request");
    return 0;
}

size_t cb_state_requests(cb_state_t *st, cb_open_req_t *const **out)
{
    *out = (cb_open_req_t *const *)st->reqs;
    return st->n_reqs;
}

cb_open_req_t *cb_state_request_find(cb_state_t *st, const char *topic, int32_t partition,
                                     const char *outcome_id)
{
    part_t *p = part_find(st, topic, partition);
    size_t i;

    if (!p)
        return NULL;
    /* the requests of one partition are few compared to a scan's cost here;
     * callers find one request per poll answer */
    for (i = 0; i < st->n_reqs; i++) {
        cb_open_req_t *r = &st->reqs[i]->r;
        if (r->partition == partition && r->topic == p->topic &&
            !strcmp(r->pending.outcome_id, outcome_id))
            return r;
    }
    return NULL;
}

void cb_state_request_final(cb_state_t *st, cb_open_req_t *r, cb_outcome_t *final)
{
    if (r->final) {
        cb_outcome_clear(r->final);
        free(r->final);
        st->n_finals--;
    }
    r->final = final;
    if (final)
        st->n_finals++;
}

int cb_state_take_finals(cb_state_t *st, cb_outcome_t **out, size_t *n, cb_error_t *err)
{
    cb_outcome_t *res;
    size_t i, k = 0;

    *out = NULL;
    *n = 0;
    if (!st->n_finals)
        return 0;
    if (!(res = calloc(st->n_finals, sizeof(*res))))
        return nomem(err, "taking final outcomes");
    for (i = 0; i < st->n_reqs;) {
        req_node_t *node = st->reqs[i];
        part_t *p = part_find(st, node->r.topic, node->r.partition);
        holder_t *h;
        size_t j;
        char *key;
        if (!node->r.final || !p) {
            i++;
            continue;
        }
        if (!(key = key_make('R', p, node->r.pending.outcome_id)) ||
            recs_add(&p->pending, p->partition, key, NULL, 0) < 0) {
            /* the finals taken so far stay taken; the rest waits */
            *out = res;
            *n = k;
            return nomem(err, "closing a request");
        }
        res[k++] = *node->r.final;
        free(node->r.final);
        node->r.final = NULL;
        st->n_finals--;
        h = sm_get(&p->holders, node->r.holder_key);
        for (j = 0; h && j < h->n_open; j++)
            if (h->open[j] == node) {
                h->open[j] = h->open[--h->n_open];
                break;
            }
        req_remove(st, node); /* st->reqs[i] is now another node: look at it */
    }
    *out = res;
    *n = k;
    return 0;
}

size_t cb_state_open_count(const cb_state_t *st)
{
    return st->n_reqs;
}

size_t cb_state_finals_count(const cb_state_t *st)
{
    return st->n_finals;
}

/* ---- lookups ---------------------------------------------------------------- */

static void lookup_key(char *buf, size_t size, int64_t offset, const char *holder_key)
{
    snprintf(buf, size, "%" PRId64 "|%s", offset, holder_key);
}

const cb_work_lookup_t *cb_state_lookup(const cb_state_t *st, const char *topic, int32_t partition,
                                        int64_t offset, const char *holder_key)
{
    part_t *p = part_find(st, topic, partition);
    char key[CB_STATE_KEY_MAX];
    wentry_t *w;

    if (!p || strlen(holder_key) > CB_STATE_KEY_MAX - 32)
        return NULL;
    lookup_key(key, sizeof(key), offset, holder_key);
    w = sm_get(&p->lookups, key);
    return w ? &w->l : NULL;
}

int cb_state_lookup_put(cb_state_t *st, const char *topic, int32_t partition, int64_t offset,
                        const char *event_id, const char *holder_key, const cb_ca_cert_t *certs,
                        size_t n, cb_state_recs_t *out, cb_error_t *err)
{
    part_t *p = part_find(st, topic, partition);
    json_t *base = base_obj(), *list = json_array();
    const char *names[] = {"certs"};
    char key[CB_STATE_KEY_MAX];
    wentry_t *w = NULL;
    void *old = NULL;
    size_t i;
    int rc = -1;

    if (!p) {
        cb_error_set(err, CB_ERR_INTERNAL, "state: %s[%d] is not owned", topic, (int)partition);
        goto done;
    }
    if (strlen(holder_key) > CB_STATE_KEY_MAX - 64) {
        cb_error_set(err, CB_ERR_LIMIT, "state: holder key too long");
        goto done;
    }
    if (!base || !list || set_str(base, "event_id", event_id) < 0 ||
        set_str(base, "holder", holder_key) < 0 ||
        json_object_set_new(base, "offset", json_integer(offset)) < 0)
        goto oom;
    for (i = 0; i < n; i++)
        if (json_array_append_new(list, cert_to_json(&certs[i])) < 0)
            goto oom;
    lookup_key(key, sizeof(key), offset, holder_key);
    if (!(w = calloc(1, sizeof(*w))) || !(w->l.holder_key = strdup(holder_key)) ||
        cb_work_certs_copy(certs, n, &w->l.certs) < 0)
        goto oom;
    w->l.cert_count = n;
    w->offset = offset;
    rc = chunks_write(p, 'W', key, base, names, &list, 1, out, err);
    if (rc < 0)
        goto done;
    w->chunks = rc;
    if (sm_put(&p->lookups, key, w, &old) < 0)
        goto oom;
    wentry_free(old);
    w = NULL;
    rc = 0;
    goto done;
oom:
    rc = nomem(err, "making a lookup durable");
done:
    wentry_free(w);
    json_decref(base);
    json_decref(list);
    return rc;
}

typedef struct forget_ctx {
    int64_t offset;
    char **keys;
    size_t n;
} forget_ctx_t;

static void forget_collect(const char *key, void *val, void *opaque)
{
    forget_ctx_t *c = opaque;

    if (((wentry_t *)val)->offset == c->offset && c->keys)
        c->keys[c->n++] = (char *)key;
}

void cb_state_lookup_forget(cb_state_t *st, const char *topic, int32_t partition, int64_t offset)
{
    part_t *p = part_find(st, topic, partition);
    forget_ctx_t c = {offset, NULL, 0};
    size_t i;

    if (!p || !p->lookups.n)
        return;
    if (!(c.keys = malloc(p->lookups.n * sizeof(char *))))
        return; /* the W records stay: harmless, deleted by a later forget */
    sm_each(&p->lookups, forget_collect, &c);
    for (i = 0; i < c.n; i++) {
        char *k = strdup(c.keys[i]);
        wentry_t *w = k ? sm_get(&p->lookups, k) : NULL;
        if (!w || tombstones(p, &p->pending, 'W', k, 0, w->chunks) < 0) {
            free(k);
            break;
        }
        wentry_free(sm_del(&p->lookups, k));
        free(k);
    }
    free(c.keys);
}

/* ---- the transaction's records -------------------------------------------- */

/* The H records of a dirty holder: its queue, or tombstones when empty. */
static int holder_write(part_t *p, holder_t *h, cb_state_recs_t *out, cb_error_t *err)
{
    json_t *base, *queue;
    const char *names[] = {"queue"};
    size_t i;
    int rc;

    if (!h->n_queue) {
        if (tombstones(p, out, 'H', h->key, 0, h->chunks) < 0)
            return nomem(err, "writing a holder");
        h->chunks = 0;
        return 0;
    }
    base = base_obj();
    queue = json_array();
    if (!base || !queue || set_str(base, "holder", h->key) < 0) {
        json_decref(base);
        json_decref(queue);
        return nomem(err, "writing a holder");
    }
    for (i = 0; i < h->n_queue; i++)
        json_array_append_new(queue, json_integer(h->queue[i]));
    rc = chunks_write(p, 'H', h->key, base, names, &queue, 1, out, err);
    json_decref(base);
    json_decref(queue);
    if (rc < 0)
        return -1;
    if (rc < h->chunks && tombstones(p, out, 'H', h->key, rc, h->chunks) < 0)
        return nomem(err, "writing a holder");
    h->chunks = rc;
    return 0;
}

/* Frees the part's holders that hold nothing and are in no record. */
static void holders_sweep(part_t *p)
{
    size_t n, i;
    void **hs;

    if (!p->holders.n || !(hs = sm_values(&p->holders, &n)))
        return;
    for (i = 0; i < n; i++) {
        holder_t *h = hs[i];
        if (!h->n_open && !h->n_queue && !h->chunks && !h->dirty)
            holder_free_cb(sm_del(&p->holders, h->key));
    }
    free(hs);
}

int cb_state_dirty_records(cb_state_t *st, cb_state_recs_t *out, cb_error_t *err)
{
    size_t i, j, first = out->n;

    for (i = 0; i < st->n_parts; i++) {
        part_t *p = st->parts[i];
        cb_state_recs_t hrecs = {NULL, 0, 0};
        for (j = 0; j < p->n_dirty; j++)
            if (holder_write(p, p->dirty[j], &hrecs, err) < 0) {
                cb_state_recs_free(&hrecs);
                goto fail;
            }
        if (cb_state_recs_move(out, &p->pending) < 0 || cb_state_recs_move(out, &hrecs) < 0) {
            cb_state_recs_free(&hrecs);
            nomem(err, "collecting records");
            goto fail;
        }
        for (j = 0; j < p->n_dirty; j++)
            p->dirty[j]->dirty = false;
        p->n_dirty = 0;
        holders_sweep(p);
    }
    return 0;
fail:
    /* the records of parts done so far are in out: keep them (they are
     * this batch's), the caller fails the batch and reloads anyway */
    (void)first;
    return -1;
}

/* ---- loading ------------------------------------------------------------ */

int cb_state_load_record(cb_state_t *st, const char *topic, int32_t partition, const void *key,
                         size_t keylen, const void *value, size_t len, cb_error_t *err)
{
    part_t *p = part_find(st, topic, partition);
    char prefix[300], *k;
    size_t plen;
    rawval_t *rv;
    void *old = NULL;

    if (!p || !p->loading || !key || keylen < 2 || keylen > CB_STATE_KEY_MAX ||
        memchr(key, '\0', keylen))
        return 0;
    plen = (size_t)snprintf(prefix, sizeof(prefix), "?|%s|%d|", topic, (int)partition);
    if (plen >= sizeof(prefix) || keylen <= plen ||
        memcmp((const char *)key + 1, prefix + 1, plen - 1) || !strchr("RHQW", *(const char *)key))
        return 0;
    if (!(k = strndup(key, keylen)))
        return nomem(err, "loading");
    if (!value) {
        rawval_free(sm_del(&p->raw, k));
        free(k);
        return 0;
    }
    if (!(rv = calloc(1, sizeof(*rv))) || !(rv->val = malloc(len + 1))) {
        free(rv);
        free(k);
        return nomem(err, "loading");
    }
    memcpy(rv->val, value, len);
    rv->val[len] = '\0';
    rv->len = len;
    if (sm_put(&p->raw, k, rv, &old) < 0) {
        rawval_free(rv);
        free(k);
        return nomem(err, "loading");
    }
    rawval_free(old);
    free(k);
    return 0;
}

/* One chunked entity being assembled. */
typedef struct group {
    char kind;
    json_t **chunks; /* by index */
    int n;           /* "chunks" */
    bool bad;
    char *key; /* a key of it, for messages */
} group_t;

static void group_free(void *v)
{
    group_t *g = v;
    int i;

    if (!g)
        return;
    for (i = 0; g->chunks && i < g->n; i++)
        json_decref(g->chunks[i]);
    free(g->chunks);
    free(g->key);
    free(g);
}

typedef struct load_ctx {
    cb_state_t *st;
    part_t *p;
    smap_t groups;
    bool oom;
} load_ctx_t;

static void load_warn(const char *key, const char *why)
{
    cb_log(CB_LOG_WARN, "state", "state record %.200s skipped: %s", key, why);
}

/* Sorts one raw record: R records become requests; chunks go to groups. */
static void load_raw(const char *key, void *val, void *opaque)
{
    load_ctx_t *c = opaque;
    rawval_t *rv = val;
    json_t *j;
    char *base, *bar;
    group_t *g;
    int64_t idx, cnt;

    if (c->oom)
        return;
    if (!(j = json_loadb(rv->val, rv->len, 0, NULL)) || !json_is_object(j) ||
        json_integer_value(json_object_get(j, "v")) != STATE_VERSION) {
        json_decref(j);
        load_warn(key, "not a state value of version 1");
        return;
    }
    if (key[0] == 'R') {
        cb_outcome_t o;
        const char *holder = json_string_value(json_object_get(j, "holder"));
        int64_t at = 0;
        if (!holder || get_int(j, "opened_at_ms", &at) < 0 ||
            outcome_from_json(json_object_get(j, "outcome"), &o) < 0) {
            load_warn(key, "not an open request");
        } else {
            if (!req_add(c->st, c->p, holder, &o, at))
                c->oom = true;
            cb_outcome_clear(&o);
        }
        json_decref(j);
        return;
    }
    if (get_int(j, "chunk", &idx) < 0 || get_int(j, "chunks", &cnt) < 0 || idx < 0 || cnt < 1 ||
        idx >= cnt || cnt > 100000 || !(bar = strrchr(key, '|'))) {
        load_warn(key, "no chunk number");
        json_decref(j);
        return;
    }
    if (!(base = strndup(key, (size_t)(bar - key)))) {
        c->oom = true;
        json_decref(j);
        return;
    }
    g = sm_get(&c->groups, base);
    if (!g) {
        if (!(g = calloc(1, sizeof(*g))) || !(g->chunks = calloc((size_t)cnt, sizeof(json_t *))) ||
            !(g->key = strdup(key)) || sm_put(&c->groups, base, g, NULL) < 0) {
            group_free(g);
            c->oom = true;
            free(base);
            json_decref(j);
            return;
        }
        g->kind = key[0];
        g->n = (int)cnt;
    }
    free(base);
    if (g->n != cnt || g->chunks[idx]) {
        g->bad = true;
        json_decref(j);
        return;
    }
    g->chunks[idx] = j;
}

/* The items of list `name` over every chunk of g, in order (new array). */
static json_t *group_list(const group_t *g, const char *name)
{
    json_t *all = json_array();
    int i;

    for (i = 0; all && i < g->n; i++)
        if (json_array_extend(all, json_object_get(g->chunks[i], name)) < 0) {
            json_decref(all);
            return NULL;
        }
    return all;
}

static void load_group(const char *base, void *val, void *opaque)
{
    load_ctx_t *c = opaque;
    group_t *g = val;
    json_t *first, *list = NULL;
    size_t i;
    int k;

    (void)base;
    if (c->oom)
        return;
    for (k = 0; k < g->n && !g->bad; k++)
        g->bad = !g->chunks[k];
    if (g->bad) {
        load_warn(g->key, "chunks missing or inconsistent");
        return;
    }
    first = g->chunks[0];
    if (g->kind == 'H') {
        const char *key = json_string_value(json_object_get(first, "holder"));
        holder_t *h = key ? holder_get(c->p, key, true) : NULL;
        if (!key) {
            load_warn(g->key, "no holder");
            return;
        }
        if (!h || !(list = group_list(g, "queue"))) {
            c->oom = true;
            json_decref(list);
            return;
        }
        for (i = 0; i < json_array_size(list); i++)
            if (!json_is_integer(json_array_get(list, i)) ||
                holder_push_queue(h, json_integer_value(json_array_get(list, i))) < 0)
                break;
        h->chunks = g->n;
    } else if (g->kind == 'Q') {
        qentry_t *qe = calloc(1, sizeof(*qe));
        json_t *holders = group_list(g, "holders"), *avro = group_list(g, "avro");
        char *text = NULL, ok[32];
        size_t len = 0;
        int64_t part = 0, off = 0;
        bool bad = !qe || !holders || !avro;
        for (i = 0; !bad && i < json_array_size(avro); i++)
            bad = !json_is_string(json_array_get(avro, i));
        for (i = 0; !bad && i < json_array_size(avro); i++)
            len += json_string_length(json_array_get(avro, i));
        if (!bad && (text = malloc(len + 1))) {
            size_t at = 0;
            for (i = 0; i < json_array_size(avro); i++) {
                size_t l = json_string_length(json_array_get(avro, i));
                memcpy(text + at, json_string_value(json_array_get(avro, i)), l);
                at += l;
            }
            text[len] = '\0';
        }
        if (bad || !text || get_str(first, "event_id", &qe->q.event_id) < 0 ||
            get_str(first, "topic", &qe->q.topic) < 0 || get_int(first, "partition", &part) < 0 ||
            get_int(first, "offset", &off) < 0 || !qe->q.event_id || !qe->q.topic ||
            b64_decode(text, len, &qe->q.avro, &qe->q.avro_len) < 0 ||
            !(qe->q.holders = calloc(json_array_size(holders) + 1, sizeof(char *)))) {
            load_warn(g->key, "not a queued event");
            qentry_free(qe);
        } else {
            qe->q.partition = (int32_t)part;
            qe->q.offset = off;
            if (get_int(first, "due", &qe->q.due_ms) < 0) /* absent: not waiting for a date */
                qe->q.due_ms = 0;
            {
                int64_t gate = 0;
                if (get_int(first, "gate", &gate) == 0 && gate > 0 &&
                    gate <= CB_GATE_STATE_AWAITING)
                    qe->q.gate = (int)gate;
                if (get_str(first, "request", &qe->q.request_id) < 0)
                    qe->q.request_id = NULL;
            }
            for (i = 0; i < json_array_size(holders); i++)
                if (json_is_string(json_array_get(holders, i)) &&
                    (qe->q.holders[qe->q.n_holders] =
                         strdup(json_string_value(json_array_get(holders, i)))))
                    qe->q.n_holders++;
            qe->chunks = g->n;
            offset_key(ok, sizeof(ok), off);
            if (sm_put(&c->p->queued, ok, qe, NULL) < 0) {
                qentry_free(qe);
                c->oom = true;
            }
        }
        free(text);
        json_decref(holders);
        json_decref(avro);
    } else if (g->kind == 'W') {
        wentry_t *w = calloc(1, sizeof(*w));
        char key[CB_STATE_KEY_MAX];
        int64_t off = 0;
        size_t n;
        list = group_list(g, "certs");
        if (!w || !list || get_str(first, "holder", &w->l.holder_key) < 0 || !w->l.holder_key ||
            get_int(first, "offset", &off) < 0 || strlen(w->l.holder_key) > CB_STATE_KEY_MAX - 64) {
            load_warn(g->key, "not a lookup");
            wentry_free(w);
        } else {
            n = json_array_size(list);
            w->l.certs = n ? calloc(n, sizeof(cb_ca_cert_t)) : NULL;
            if (n && !w->l.certs) {
                wentry_free(w);
                c->oom = true;
                json_decref(list);
                return;
            }
            for (i = 0; i < n; i++) {
                if (cert_from_json(json_array_get(list, i), &w->l.certs[i]) < 0)
                    break;
                w->l.cert_count++;
            }
            w->offset = off;
            w->chunks = g->n;
            lookup_key(key, sizeof(key), off, w->l.holder_key);
            if (w->l.cert_count != n) {
                load_warn(g->key, "a certificate does not parse");
                wentry_free(w);
            } else if (sm_put(&c->p->lookups, key, w, NULL) < 0) {
                wentry_free(w);
                c->oom = true;
            }
        }
    }
    json_decref(list);
}

/* Drops queue entries whose event is missing, and events in no queue. */
static void load_check(part_t *p)
{
    size_t n, i, j, k;
    void **hs = sm_values(&p->holders, &n);
    char ok[32];

    for (i = 0; i < n; i++) {
        holder_t *h = hs[i];
        for (j = k = 0; j < h->n_queue; j++) {
            offset_key(ok, sizeof(ok), h->queue[j]);
            if (sm_get(&p->queued, ok))
                h->queue[k++] = h->queue[j];
            else
                cb_log(CB_LOG_WARN, "state", "holder %s of %s[%d]: queued offset %s has no event",
                       h->key, p->topic, (int)p->partition, ok);
        }
        if (k != h->n_queue) {
            h->n_queue = k;
            holder_dirty(p, h);
        }
    }
    free(hs);
}

int cb_state_load_finish(cb_state_t *st, const char *topic, int32_t partition, cb_error_t *err)
{
    part_t *p = part_find(st, topic, partition);
    load_ctx_t c;

    if (!p)
        return 0;
    memset(&c, 0, sizeof(c));
    c.st = st;
    c.p = p;
    sm_each(&p->raw, load_raw, &c);
    if (!c.oom)
        sm_each(&c.groups, load_group, &c);
    sm_free(&c.groups, group_free);
    sm_free(&p->raw, rawval_free);
    if (c.oom) {
        part_clear(st, p);
        return nomem(err, "loading");
    }
    load_check(p);
    p->loading = false;
    cb_log(CB_LOG_DEBUG, "state", "%s[%d]: %zu holder(s), %zu queued event(s), %zu lookup(s)",
           p->topic, (int)p->partition, p->holders.n, p->queued.n, p->lookups.n);
    return 0;
}
