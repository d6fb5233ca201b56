/*
 * ca_inventory.c: walking a CA's certificates or recalled tokens page by
 * page (ca_inventory.h).
 *
 * Two request slots alternate: the page the caller holds and the next one,
 * asked for as soon as the page before it arrived. Each slot owns a copy of
 * the cursor its request borrows.
 */
#include "certbridge/ca_inventory.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    cb_ca_req_t req;
    char cursor[CB_CA_CURSOR_MAX + 1];
    bool in_flight; /* submitted, not yet waited for */
    bool held;      /* answered to the caller, to be cleared on the next call */
} slot_t;

struct cb_ca_inventory {
    cb_ca_client_t *client;
    bool devices, any_holder_type, started, done;
    cb_holder_type_t holder_type;
    char *holder_id, *org_code, *province, *status, *key;
    int64_t changed_since_ms, total;
    int page_size;
    size_t pages, items;
    slot_t slot[2];
    int flight; /* the slot in flight, -1 when none */
};

/* A copy of an optional string; *ok turns false when out of memory. */
static char *dup_opt(const char *s, bool *ok)
{
    char *c;

    if (!s)
        return NULL;
    if (!(c = strdup(s)))
        *ok = false;
    return c;
}

cb_ca_inventory_t *cb_ca_inventory_new(cb_ca_client_t *c, const cb_ca_inventory_query_t *q,
                                       cb_error_t *err)
{
    cb_ca_inventory_t *it;
    bool ok = true;

    if (q->page_size < 0 || q->page_size > CB_CA_PAGE_SIZE_MAX) {
        cb_error_set(err, CB_ERR_INVALID, "page size %d: expected 1..%d", q->page_size,
                     CB_CA_PAGE_SIZE_MAX);
        return NULL;
    }
    if (q->idempotency_key && (!*q->idempotency_key || strlen(q->idempotency_key) > 64)) {
        cb_error_set(err, CB_ERR_INVALID, "Idempotency-Key: 1..64 characters");
        return NULL;
    }
    if (!(it = calloc(1, sizeof(*it)))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    it->client = c;
    it->devices = q->devices;
    it->any_holder_type = q->any_holder_type;
    it->holder_type = q->holder_type;
    it->holder_id = dup_opt(q->holder_id, &ok);
    it->org_code = dup_opt(q->org_code, &ok);
    it->province = dup_opt(q->province, &ok);
    it->status = dup_opt(q->status, &ok);
    it->key = dup_opt(q->idempotency_key, &ok);
    it->changed_since_ms = q->changed_since_ms;
    it->page_size = q->page_size ? q->page_size : CB_CA_PAGE_SIZE_DEFAULT;
    it->flight = -1;
    if (!ok) {
        cb_ca_inventory_destroy(it);
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return it;
}

/* Fills slot i's request for the page after cursor (NULL: the first) and
 * submits it. */
static int submit(cb_ca_inventory_t *it, int i, const char *cursor, cb_error_t *err)
{
    slot_t *s = &it->slot[i];
    cb_ca_req_t *r = &s->req;

    cb_ca_req_clear(r);
    memset(r, 0, sizeof(*r));
    if (cursor && cursor != s->cursor) {
        size_t len = strlen(cursor);
        if (len > CB_CA_CURSOR_MAX)
            return cb_error_set(err, CB_ERR_CA, "the CA's next_cursor has %zu bytes", len);
        memcpy(s->cursor, cursor, len + 1);
    }
    r->op = it->devices ? CB_CA_DEVICES : CB_CA_LOOKUP;
    r->holder_type = it->holder_type;
    r->any_holder_type = it->any_holder_type;
    r->holder_id = it->holder_id;
    r->org_code = it->org_code;
    r->province = it->province;
    r->status_filter = it->status;
    r->changed_since_ms = it->changed_since_ms;
    r->page_size = it->page_size;
    r->cursor = cursor ? s->cursor : NULL;
    if (it->key && !it->devices)
        memcpy(r->idempotency_key, it->key, strlen(it->key) + 1);
    if (cb_ca_submit(it->client, r, err) < 0)
        return -1;
    s->in_flight = true;
    it->flight = i;
    return 0;
}

/* Waits for the slot in flight; answers its index. */
static int wait_flight(cb_ca_inventory_t *it)
{
    int i = it->flight;

    cb_ca_wait(it->client, &it->slot[i].req);
    it->slot[i].in_flight = false;
    it->flight = -1;
    return i;
}

int cb_ca_inventory_next(cb_ca_inventory_t *it, const cb_ca_req_t **page, cb_error_t *err)
{
    int i, k;

    for (k = 0; k < 2; k++) {
        if (it->slot[k].held) {
            cb_ca_req_clear(&it->slot[k].req);
            it->slot[k].held = false;
        }
    }
    if (!it->started) {
        it->started = true;
        if (submit(it, 0, NULL, err) < 0) {
            it->done = true;
            return -1;
        }
    }
    if (it->flight < 0) {
        it->done = true;
        return 0;
    }
    for (;;) {
        cb_ca_req_t *r;
        i = wait_flight(it);
        r = &it->slot[i].req;
        if (r->klass == CB_CA_SUCCESS)
            break;
        if (r->klass == CB_CA_PERMANENT && r->error_code &&
            !strcmp(r->error_code, "body_too_large") && it->page_size > 1) {
            /* the same page again, smaller: the cursor stays in the slot */
            it->page_size /= 2;
            if (submit(it, i, r->cursor, err) < 0)
                return -1;
            continue;
        }
        it->done = true;
        cb_error_setf(err, r->klass == CB_CA_RETRY ? CB_ERR_TRANSPORT : CB_ERR_CA,
                      r->klass == CB_CA_RETRY ? CB_ERRF_RETRIABLE : 0,
                      "%s page %zu: %s%s%s (HTTP %ld, %d attempt%s)",
                      it->devices ? "tokens" : "certificates", it->pages + 1,
                      r->error_code ? r->error_code : "error", r->error_message ? ": " : "",
                      r->error_message ? r->error_message : "", r->http_status, r->attempts,
                      r->attempts == 1 ? "" : "s");
        cb_ca_req_clear(r);
        return -1;
    }
    /* ask for the next page at once, into the other slot */
    if (it->slot[i].req.next_cursor && submit(it, 1 - i, it->slot[i].req.next_cursor, err) < 0) {
        it->done = true;
        cb_ca_req_clear(&it->slot[i].req);
        return -1;
    }
    if (it->pages == 0)
        it->total = it->slot[i].req.total;
    it->pages++;
    it->items += it->devices ? it->slot[i].req.device_count : it->slot[i].req.cert_count;
    it->slot[i].held = true;
    *page = &it->slot[i].req;
    return 1;
}

int64_t cb_ca_inventory_total(const cb_ca_inventory_t *it)
{
    return it->total;
}

size_t cb_ca_inventory_pages(const cb_ca_inventory_t *it)
{
    return it->pages;
}

size_t cb_ca_inventory_items(const cb_ca_inventory_t *it)
{
    return it->items;
}

int cb_ca_inventory_page_size(const cb_ca_inventory_t *it)
{
    return it->page_size;
}

void cb_ca_inventory_destroy(cb_ca_inventory_t *it)
{
    int k;

    if (!it)
        return;
    if (it->flight >= 0)
        wait_flight(it);
    for (k = 0; k < 2; k++)
        cb_ca_req_clear(&it->slot[k].req);
    free(it->holder_id);
    free(it->org_code);
    free(it->province);
    free(it->status);
    free(it->key);
    free(it);
}
