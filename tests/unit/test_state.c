/* test_state.c: the durable state of open requests, queued events and
 * lookups (state.h): holder order in cb_state_schedule, the records of a
 * transaction and loading them back, chunks, tombstones. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/state.h"

#define TOPIC "hr.person-events"

/* A work of one event at offset with one intent per (action, holder id). */
static void make_work(cb_work_t *w, const char *event_id, int64_t offset, int n,
                      const cb_action_t *actions, const char *const *holders)
{
    int i;

    memset(w, 0, sizeof(*w));
    cb_event_init(&w->ev);
    w->ev.event_id = strdup(event_id);
    w->topic = strdup(TOPIC);
    w->partition = 2;
    w->offset = offset;
    w->intents.items = calloc((size_t)n, sizeof(cb_intent_t));
    w->intents.count = (size_t)n;
    for (i = 0; i < n; i++) {
        w->intents.items[i].action = actions[i];
        w->intents.items[i].holder_type = CB_HOLDER_PERSON;
        w->intents.items[i].holder_id = strdup(holders[i]);
        w->intents.items[i].note = "";
    }
}

/* The Q record's event bytes: the event id, so the test can check them. */
static int encode_id(void *opaque, const cb_event_t *ev, void **buf, size_t *len, cb_error_t *err)
{
    (void)err;
    (*(int *)opaque)++;
    *buf = strdup(ev->event_id);
    *len = strlen(ev->event_id);
    return 0;
}

static void pending_outcome(cb_outcome_t *o, const char *id, const char *holder)
{
    cb_outcome_init(o);
    o->outcome_id = strdup(id);
    o->source_event_id = strdup("evt-1");
    o->source_event_type = strdup("TRANSFERRED");
    o->source_topic = strdup(TOPIC);
    o->source_partition = 2;
    o->source_offset = 10;
    o->action = CB_ACTION_CHANGE_INFO;
    o->holder_type = CB_HOLDER_PERSON;
    o->holder_id = strdup(holder);
    o->holder_name = strdup("Nguyễn Văn An");
    o->certificate_serial = strdup("0A1B");
    o->status = CB_STATUS_PENDING;
    o->ca_request_id = strdup("REQ-1");
    o->http_status = 202;
    o->attempts = 1;
    o->latency_ms = 21;
    o->processed_at_ms = 1750000000000;
    o->note = strdup("note");
    o->final = false;
}

/* Loads every record of recs (in order) into a fresh state owning the
 * test's partition. */
static cb_state_t *reload(const cb_state_recs_t *const *logs, size_t n_logs)
{
    cb_state_t *st = cb_state_new();
    cb_error_t err;
    size_t i, j;

    assert_int_equal(cb_state_part_add(st, TOPIC, 2, &err), 0);
    assert_int_equal(cb_state_part_add(st, "hr.org-events", 2, &err), 0);
    for (j = 0; j < n_logs; j++)
        for (i = 0; i < logs[j]->n; i++) {
            const cb_state_rec_t *r = &logs[j]->v[i];
            assert_int_equal(r->partition, 2);
            assert_int_equal(
                cb_state_load_record(st, TOPIC, 2, r->key, strlen(r->key), r->value, r->len, &err),
                0);
            assert_int_equal(cb_state_load_record(st, "hr.org-events", 2, r->key, strlen(r->key),
                                                  r->value, r->len, &err),
                             0);
        }
    assert_int_equal(cb_state_load_finish(st, TOPIC, 2, &err), 0);
    assert_int_equal(cb_state_load_finish(st, "hr.org-events", 2, &err), 0);
    return st;
}

static void test_outcome_json(void **state)
{
    cb_outcome_t o, back;
    cb_error_t err;
    char *j;

    (void)state;
    pending_outcome(&o, "evt-1/0", "hr-1");
    o.revocation_reason = CB_REASON_AFFILIATION_CHANGED;
    o.emergency_signing_allowed = true;
    j = cb_state_outcome_json(&o);
    assert_non_null(j);
    assert_int_equal(cb_state_outcome_parse(j, strlen(j), &back, &err), 0);
    assert_string_equal(back.outcome_id, "evt-1/0");
    assert_string_equal(back.holder_name, "Nguyễn Văn An");
    assert_string_equal(back.ca_request_id, "REQ-1");
    assert_int_equal(back.status, CB_STATUS_PENDING);
    assert_int_equal(back.revocation_reason, CB_REASON_AFFILIATION_CHANGED);
    assert_int_equal(back.source_offset, 10);
    assert_int_equal(back.processed_at_ms, 1750000000000);
    assert_true(back.emergency_signing_allowed);
    assert_false(back.final);
    assert_null(back.new_certificate_serial);
    cb_outcome_clear(&back);
    assert_int_equal(cb_state_outcome_parse("{\"outcome_id\":1}", 16, &back, &err), -1);
    free(j);
    cb_outcome_clear(&o);
    cb_outcome_clear(&back);
}

/* Holder order: a work waits behind an open request, behind queued events,
 * and behind an earlier work of the batch naming the same holder; others
 * run. The waiting ones run, in order, once their holders are free. */
static void test_schedule_and_resume(void **state)
{
    static const cb_action_t ci[] = {CB_ACTION_CHANGE_INFO},
                             rv[] = {CB_ACTION_REVOKE, CB_ACTION_RECALL_DEVICE},
                             two[] = {CB_ACTION_REVOKE, CB_ACTION_REVOKE};
    static const char *const a[] = {"hr-A"}, *const aa[] = {"hr-A", "hr-A"}, *const b[] = {"hr-B"},
                             *const ab[] = {"hr-A", "hr-B"}, *const c[] = {"hr-C"};
    cb_state_t *st = cb_state_new();
    cb_state_recs_t recs = {NULL, 0, 0}, recs2 = {NULL, 0, 0};
    const cb_state_recs_t *logs[2];
    cb_work_t w[5];
    bool run[5];
    cb_outcome_t o, *finals;
    cb_queued_t **q;
    size_t n, i;
    cb_error_t err;
    int encoded = 0;

    (void)state;
    assert_int_equal(cb_state_part_add(st, TOPIC, 2, &err), 0);
    assert_int_equal(cb_state_load_finish(st, TOPIC, 2, &err), 0);
    /* hr-A has an open request */
    pending_outcome(&o, "evt-0/0", "hr-A");
    assert_int_equal(cb_state_open(st, TOPIC, 2, "P:hr-A", &o, 1000, 0, &err), 0);
    cb_outcome_clear(&o);
    assert_true(cb_state_holder_busy(st, TOPIC, 2, "P:hr-A"));
    assert_false(cb_state_holder_busy(st, TOPIC, 2, "P:hr-B"));
    make_work(&w[0], "evt-1", 11, 2, rv, aa);  /* A: waits for the request */
    make_work(&w[1], "evt-2", 12, 1, ci, b);   /* B: runs */
    make_work(&w[2], "evt-3", 13, 2, two, ab); /* A and B: A is busy, waits */
    make_work(&w[3], "evt-4", 14, 1, ci, b);   /* B: behind evt-3, waits */
    make_work(&w[4], "evt-5", 15, 1, ci, c);   /* C: runs */
    assert_int_equal(cb_state_schedule(st, w, 5, 0, run, encode_id, &encoded, &err), 0);
    assert_false(run[0]);
    assert_true(run[1]);
    assert_false(run[2]);
    assert_false(run[3]);
    assert_true(run[4]);
    assert_int_equal(encoded, 3);
    assert_int_equal(cb_state_queued_count(st), 3);
    assert_true(cb_state_part_has_queued(st, TOPIC, 2));
    /* nothing runnable while A's request is open */
    assert_int_equal(cb_state_take_runnable(st, 100, &q, &n, &err), 0);
    assert_int_equal(n, 0);
    free(q);
    assert_int_equal(cb_state_dirty_records(st, &recs, &err), 0);
    /* R, three Q, and H for A and B */
    for (i = 0, n = 0; i < recs.n; i++)
        n += recs.v[i].key[0] == 'H';
    assert_int_equal(n, 2);
    assert_string_equal(recs.v[0].key, "R|" TOPIC "|2|evt-0/0");

    /* what was written loads back to the same state */
    logs[0] = &recs;
    {
        cb_state_t *st2 = reload(logs, 1);
        assert_int_equal(cb_state_open_count(st2), 1);
        assert_int_equal(cb_state_queued_count(st2), 3);
        assert_true(cb_state_holder_busy(st2, TOPIC, 2, "P:hr-A"));
        assert_true(cb_state_holder_busy(st2, TOPIC, 2, "P:hr-B"));
        assert_false(cb_state_holder_busy(st2, TOPIC, 2, "P:hr-C"));
        assert_false(cb_state_part_has_queued(st2, "hr.org-events", 2));
        assert_int_equal(cb_state_open_count(st2), 1);
        cb_state_destroy(st2);
    }

    /* the request finishes: evt-1 can run (A's queue head); evt-3 waits
     * for evt-1 (second in A's queue), evt-4 for evt-3 */
    {
        cb_open_req_t *const *reqs;
        cb_outcome_t *fin = calloc(1, sizeof(*fin));
        assert_int_equal(cb_state_requests(st, &reqs), 1);
        assert_ptr_equal(cb_state_request_find(st, TOPIC, 2, "evt-0/0"), reqs[0]);
        assert_null(cb_state_request_find(st, TOPIC, 2, "evt-0/1"));
        pending_outcome(fin, "evt-0/0", "hr-A");
        fin->status = CB_STATUS_SUCCEEDED;
        fin->final = true;
        cb_state_request_final(st, reqs[0], fin);
        assert_int_equal(cb_state_finals_count(st), 1);
    }
    assert_int_equal(cb_state_take_finals(st, &finals, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(finals[0].status, CB_STATUS_SUCCEEDED);
    cb_outcome_clear(&finals[0]);
    free(finals);
    assert_int_equal(cb_state_open_count(st), 0);
    assert_int_equal(cb_state_take_runnable(st, 100, &q, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(q[0]->event_id, "evt-1");
    assert_int_equal(q[0]->offset, 11);
    assert_int_equal(q[0]->avro_len, 5);
    assert_memory_equal(q[0]->avro, "evt-1", 5);
    assert_int_equal(q[0]->n_holders, 1);
    assert_string_equal(q[0]->holders[0], "P:hr-A");
    cb_queued_free(q[0]);
    free(q[0]);
    free(q);
    /* evt-1 ran without a PENDING answer: evt-3 is next for A and first for B */
    assert_int_equal(cb_state_take_runnable(st, 100, &q, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(q[0]->event_id, "evt-3");
    assert_int_equal(q[0]->n_holders, 2);
    cb_queued_free(q[0]);
    free(q[0]);
    free(q);
    assert_int_equal(cb_state_take_runnable(st, 100, &q, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(q[0]->event_id, "evt-4");
    cb_queued_free(q[0]);
    free(q[0]);
    free(q);
    assert_int_equal(cb_state_queued_count(st), 0);
    assert_int_equal(cb_state_dirty_records(st, &recs2, &err), 0);
    /* everything written before is deleted now: the log loads empty */
    for (i = 0; i < recs2.n; i++)
        assert_null(recs2.v[i].value);
    logs[1] = &recs2;
    {
        cb_state_t *st2 = reload(logs, 2);
        assert_int_equal(cb_state_open_count(st2), 0);
        assert_int_equal(cb_state_queued_count(st2), 0);
        assert_false(cb_state_holder_busy(st2, TOPIC, 2, "P:hr-A"));
        assert_false(cb_state_holder_busy(st2, TOPIC, 2, "P:hr-B"));
        cb_state_destroy(st2);
    }
    /* a resumed work runs and claims its holders: a new work for the same
     * holder in the batch waits */
    cb_work_clear(&w[0]);
    cb_work_clear(&w[1]);
    make_work(&w[0], "evt-6", 16, 1, ci, a);
    make_work(&w[1], "evt-7", 17, 1, ci, a);
    assert_int_equal(cb_state_schedule(st, w, 2, 1, run, encode_id, &encoded, &err), 0);
    assert_true(run[0]);
    assert_false(run[1]);
    for (i = 0; i < 5; i++)
        cb_work_clear(&w[i]);
    cb_state_recs_free(&recs);
    cb_state_recs_free(&recs2);
    cb_state_destroy(st);
}

/* Effective dates: a work whose date is ahead waits though its holder is
 * free, its holder's later events wait behind it, its Q record keeps the
 * due time (loaded back), and it is taken no earlier than its due time;
 * then the holder's next event follows. */
static void test_schedule_due(void **state)
{
    static const cb_action_t rv[] = {CB_ACTION_REVOKE}, ci[] = {CB_ACTION_CHANGE_INFO};
    static const char *const a[] = {"hr-A"}, *const b[] = {"hr-B"};
    const int64_t due_at = 1751302800000; /* 2025-07-01 00:00 +07:00 */
    cb_state_t *st = cb_state_new(), *st2;
    cb_state_recs_t recs = {NULL, 0, 0};
    const cb_state_recs_t *logs[1] = {&recs};
    cb_work_t w[3];
    bool run[3];
    int64_t due[3] = {due_at, 0, 0};
    cb_queued_t **q;
    size_t n, i;
    cb_error_t err;
    int encoded = 0, with_due = 0;

    (void)state;
    assert_int_equal(cb_state_part_add(st, TOPIC, 2, &err), 0);
    assert_int_equal(cb_state_load_finish(st, TOPIC, 2, &err), 0);
    make_work(&w[0], "evt-d", 20, 1, rv, a); /* A, dated: waits */
    make_work(&w[1], "evt-e", 21, 1, ci, a); /* A, due now: behind evt-d */
    make_work(&w[2], "evt-f", 22, 1, ci, b); /* B: runs */
    assert_int_equal(cb_state_schedule_due(st, w, 3, 0, run, due, encode_id, &encoded, &err), 0);
    assert_false(run[0]);
    assert_false(run[1]);
    assert_true(run[2]);
    assert_int_equal(cb_state_next_due(st, 0), due_at);
    assert_int_equal(cb_state_next_due(st, due_at), 0);
    assert_int_equal(cb_state_dirty_records(st, &recs, &err), 0);
    for (i = 0; i < recs.n; i++)
        if (recs.v[i].key[0] == 'Q' && recs.v[i].value &&
            strstr(recs.v[i].value, "\"due\":1751302800000"))
            with_due++;
    assert_int_equal(with_due, 1); /* evt-d only: evt-e waits for its holder */
    cb_state_destroy(st);

    /* loaded back: nothing runs one millisecond before the date */
    st2 = reload(logs, 1);
    assert_int_equal(cb_state_next_due(st2, 0), due_at);
    cb_state_set_now(st2, due_at - 1);
    assert_int_equal(cb_state_take_runnable(st2, 100, &q, &n, &err), 0);
    assert_int_equal(n, 0);
    free(q);
    /* at the date: evt-d runs, with its due time; evt-e still behind it */
    cb_state_set_now(st2, due_at);
    assert_int_equal(cb_state_take_runnable(st2, 100, &q, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(q[0]->event_id, "evt-d");
    assert_int_equal(q[0]->due_ms, due_at);
    cb_queued_free(q[0]);
    free(q[0]);
    free(q);
    assert_int_equal(cb_state_take_runnable(st2, 100, &q, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(q[0]->event_id, "evt-e");
    assert_int_equal(q[0]->due_ms, 0);
    cb_queued_free(q[0]);
    free(q[0]);
    free(q);
    assert_int_equal(cb_state_queued_count(st2), 0);
    assert_int_equal(cb_state_next_due(st2, 0), 0);
    cb_state_destroy(st2);
    cb_state_recs_free(&recs);
    for (i = 0; i < 3; i++)
        cb_work_clear(&w[i]);
}

/* Cancellation: a scheduled event and one queued behind it (never sent to
 * the CA) are taken out, wherever they stand in their holders' queues;
 * only events read before the cancellation are found; what is left, and
 * only that, loads back from the records (a cancelled event never comes
 * back); an open request names the event sent to the CA. */
static void test_cancel(void **state)
{
    static const cb_action_t rv[] = {CB_ACTION_REVOKE}, ci[] = {CB_ACTION_CHANGE_INFO};
    static const char *const a[] = {"hr-A"}, *const b[] = {"hr-B"};
    const int64_t due_at = 1751302800000; /* 2025-07-01 00:00 +07:00 */
    cb_state_t *st = cb_state_new(), *st2;
    cb_state_recs_t recs = {NULL, 0, 0};
    const cb_state_recs_t *logs[1] = {&recs};
    cb_work_t w[4];
    bool run[4];
    int64_t due[4] = {due_at, 0, due_at, 0};
    cb_queued_t *c, **q;
    cb_outcome_t pend;
    char *key_a;
    size_t n, i, q_tombstones = 0;
    cb_error_t err;
    int encoded = 0;

    (void)state;
    assert_int_equal(cb_state_part_add(st, TOPIC, 2, &err), 0);
    assert_int_equal(cb_state_load_finish(st, TOPIC, 2, &err), 0);
    make_work(&w[0], "evt-d", 20, 1, rv, a); /* A, dated: waits */
    make_work(&w[1], "evt-e", 21, 1, ci, a); /* A: behind evt-d */
    make_work(&w[2], "evt-g", 22, 1, ci, b); /* B, dated: waits */
    make_work(&w[3], "evt-h", 23, 1, ci, a); /* A: behind evt-e */
    assert_int_equal(cb_state_schedule_due(st, w, 4, 0, run, due, encode_id, &encoded, &err), 0);
    for (i = 0; i < 4; i++)
        assert_false(run[i]);
    assert_int_equal(cb_state_queued_count(st), 4);

    /* evt-e is read at 21: a cancellation read at 21 or before does not see it */
    assert_int_equal(cb_state_cancel(st, TOPIC, 2, "evt-e", 21, &c, &err), 0);
    assert_null(c);
    assert_int_equal(cb_state_cancel(st, TOPIC, 2, "evt-unknown", 99, &c, &err), 0);
    assert_null(c);
    assert_int_equal(cb_state_cancel(st, "hr.org-events", 2, "evt-e", 99, &c, &err), 0);
    assert_null(c); /* another input topic: not there */
    /* evt-e, in the middle of A's queue (behind evt-d, before evt-h) */
    assert_int_equal(cb_state_cancel(st, TOPIC, 2, "evt-e", 30, &c, &err), 0);
    assert_non_null(c);
    assert_string_equal(c->event_id, "evt-e");
    assert_int_equal(c->offset, 21);
    assert_int_equal(c->due_ms, 0);
    assert_int_equal(c->avro_len, 5);
    assert_memory_equal(c->avro, "evt-e", 5);
    assert_int_equal(c->n_holders, 1);
    key_a = strdup(c->holders[0]);
    cb_queued_free(c);
    free(c);
    assert_int_equal(cb_state_cancel(st, TOPIC, 2, "evt-e", 30, &c, &err), 0);
    assert_null(c); /* once */
    /* evt-d, first in A's queue, scheduled */
    assert_int_equal(cb_state_cancel(st, TOPIC, 2, "evt-d", 30, &c, &err), 0);
    assert_non_null(c);
    assert_int_equal(c->offset, 20);
    assert_int_equal(c->due_ms, due_at);
    cb_queued_free(c);
    free(c);
    assert_int_equal(cb_state_queued_count(st), 2);
    assert_true(cb_state_holder_busy(st, TOPIC, 2, key_a)); /* evt-h is still queued */

    /* an open request names its event: sent to the CA */
    pending_outcome(&pend, "evt-1/0", "hr-C");
    assert_int_equal(cb_state_open(st, TOPIC, 2, "P:hr-C", &pend, 1, 1, &err), 0);
    assert_true(cb_state_event_open(st, TOPIC, 2, "evt-1"));
    assert_false(cb_state_event_open(st, TOPIC, 2, "evt-h"));
    assert_false(cb_state_event_open(st, "hr.org-events", 2, "evt-1"));
    cb_outcome_clear(&pend);

    assert_int_equal(cb_state_dirty_records(st, &recs, &err), 0);
    for (i = 0; i < recs.n; i++)
        if (recs.v[i].key[0] == 'Q' && !recs.v[i].value)
            q_tombstones++;
    assert_int_equal(q_tombstones, 2); /* the Q records of evt-d and evt-e, after them */
    cb_state_destroy(st);

    /* loaded back from the same records: evt-g and evt-h only; evt-h, now
     * first in A's queue, runs at once; evt-g at its date */
    st2 = reload(logs, 1);
    assert_int_equal(cb_state_queued_count(st2), 2);
    assert_int_equal(cb_state_next_due(st2, 0), due_at);
    assert_true(cb_state_event_open(st2, TOPIC, 2, "evt-1"));
    cb_state_set_now(st2, due_at - 1);
    assert_int_equal(cb_state_take_runnable(st2, 100, &q, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(q[0]->event_id, "evt-h");
    cb_queued_free(q[0]);
    free(q[0]);
    free(q);
    assert_false(cb_state_holder_busy(st2, TOPIC, 2, key_a));
    cb_state_set_now(st2, due_at);
    assert_int_equal(cb_state_take_runnable(st2, 100, &q, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(q[0]->event_id, "evt-g");
    cb_queued_free(q[0]);
    free(q[0]);
    free(q);
    assert_int_equal(cb_state_cancel(st2, TOPIC, 2, "evt-g", 99, &c, &err), 0);
    assert_null(c); /* taken to run: no longer cancellable */
    cb_state_destroy(st2);
    cb_state_recs_free(&recs);
    free(key_a);
    for (i = 0; i < 4; i++)
        cb_work_clear(&w[i]);
}

/* A cascade's lookup of 5,000 certificates (issue 17: over 1 MiB of JSON)
 * takes several chunks; loaded back, every certificate is the same, in the
 * same order; forgetting it deletes every chunk. */
#define CHUNKED_CERTS 5000
static void test_lookup_chunks(void **state)
{
    cb_state_t *st = cb_state_new(), *st2;
    cb_state_recs_t w = {NULL, 0, 0}, del = {NULL, 0, 0};
    const cb_state_recs_t *logs[2];
    cb_ca_cert_t *certs = calloc(CHUNKED_CERTS, sizeof(*certs));
    const cb_work_lookup_t *l;
    cb_error_t err;
    char buf[200];
    size_t i, bytes = 0;

    (void)state;
    assert_int_equal(cb_state_part_add(st, TOPIC, 2, &err), 0);
    assert_int_equal(cb_state_load_finish(st, TOPIC, 2, &err), 0);
    for (i = 0; i < CHUNKED_CERTS; i++) {
        snprintf(buf, sizeof(buf), "%040zX", i);
        certs[i].serial = strdup(buf);
        snprintf(buf, sizeof(buf),
                 "CN=Người số %zu,title=Chuyên viên,OU=Sở Nội vụ,O=Ủy ban nhân dân tỉnh Đồng "
                 "Nai,L=Tỉnh Đồng Nai,C=VN",
                 i);
        certs[i].subject = strdup(buf);
        snprintf(buf, sizeof(buf), "TK-%zu", i);
        certs[i].device_id = strdup(buf);
        certs[i].status = strdup("active");
        certs[i].holder_id = strdup(buf);
        certs[i].not_before_ms = (int64_t)i;
        certs[i].not_after_ms = 1;
    }
    assert_int_equal(cb_state_lookup_put(st, TOPIC, 2, 42, "evt-42", "C:000.01.01.H19", certs,
                                         CHUNKED_CERTS, &w, &err),
                     0);
    assert_true(w.n >= 5);
    for (i = 0; i < w.n; i++) {
        char want[128];
        snprintf(want, sizeof(want), "W|" TOPIC "|2|42|C:000.01.01.H19|%zu", i);
        assert_string_equal(w.v[i].key, want);
        assert_true(w.v[i].len <= CB_STATE_CHUNK_MAX);
        bytes += w.v[i].len;
    }
    assert_true(bytes > 1024 * 1024);
    logs[0] = &w;
    st2 = reload(logs, 1);
    l = cb_state_lookup(st2, TOPIC, 2, 42, "C:000.01.01.H19");
    assert_non_null(l);
    assert_null(cb_state_lookup(st2, TOPIC, 2, 43, "C:000.01.01.H19"));
    assert_null(cb_state_lookup(st2, "hr.org-events", 2, 42, "C:000.01.01.H19"));
    assert_int_equal(l->cert_count, CHUNKED_CERTS);
    for (i = 0; i < CHUNKED_CERTS; i++) {
        assert_string_equal(l->certs[i].serial, certs[i].serial);
        assert_string_equal(l->certs[i].subject, certs[i].subject);
        assert_string_equal(l->certs[i].device_id, certs[i].device_id);
        assert_string_equal(l->certs[i].holder_id, certs[i].holder_id);
        assert_string_equal(l->certs[i].status, "active");
        assert_int_equal(l->certs[i].not_before_ms, (int64_t)i);
        assert_int_equal(l->certs[i].not_after_ms, 1);
        assert_null(l->certs[i].org_code);
    }
    assert_string_equal(l->certs[7].device_id, "TK-7");
    /* forgetting deletes every chunk */
    cb_state_lookup_forget(st2, TOPIC, 2, 42);
    assert_null(cb_state_lookup(st2, TOPIC, 2, 42, "C:000.01.01.H19"));
    assert_int_equal(cb_state_dirty_records(st2, &del, &err), 0);
    assert_int_equal(del.n, w.n);
    for (i = 0; i < del.n; i++) {
        assert_string_equal(del.v[i].key, w.v[i].key);
        assert_null(del.v[i].value);
    }
    cb_state_destroy(st2);
    logs[1] = &del;
    st2 = reload(logs, 2);
    assert_null(cb_state_lookup(st2, TOPIC, 2, 42, "C:000.01.01.H19"));
    cb_state_destroy(st2);
    cb_work_certs_free(certs, CHUNKED_CERTS);
    cb_state_recs_free(&w);
    cb_state_recs_free(&del);
    cb_state_destroy(st);
}

/* A chunked record with a chunk missing, or a value of another version, is
 * skipped; the rest loads. */
static void test_load_damaged(void **state)
{
    cb_state_t *st = cb_state_new();
    cb_error_t err;
    const char *k1 = "W|" TOPIC "|2|5|P:x|0",
               *v1 = "{\"v\":1,\"holder\":\"P:x\",\"offset\":5,\"event_id\":\"e\",\"chunk\":0,"
                     "\"chunks\":2,\"certs\":[]}",
               *k2 = "H|" TOPIC "|2|P:y|0",
               *v2 = "{\"v\":2,\"holder\":\"P:y\",\"chunk\":0,\"chunks\":1,\"queue\":[]}",
               *k3 = "W|" TOPIC "|2|6|P:z|0",
               *v3 = "{\"v\":1,\"holder\":\"P:z\",\"offset\":6,\"event_id\":\"e\",\"chunk\":0,"
                     "\"chunks\":1,\"certs\":[{\"serial\":\"AB\",\"subject\":\"CN=z\","
                     "\"not_before_ms\":1,\"not_after_ms\":2}]}";

    (void)state;
    assert_int_equal(cb_state_part_add(st, TOPIC, 2, &err), 0);
    assert_true(cb_state_part_loading(st, TOPIC, 2));
    assert_int_equal(cb_state_load_record(st, TOPIC, 2, k1, strlen(k1), v1, strlen(v1), &err), 0);
    assert_int_equal(cb_state_load_record(st, TOPIC, 2, k2, strlen(k2), v2, strlen(v2), &err), 0);
    assert_int_equal(cb_state_load_record(st, TOPIC, 2, k3, strlen(k3), v3, strlen(v3), &err), 0);
    /* another partition's record is not kept */
    assert_int_equal(
        cb_state_load_record(st, TOPIC, 2, "W|" TOPIC "|3|6|P:w|0", 24, v3, strlen(v3), &err), 0);
    assert_int_equal(cb_state_load_finish(st, TOPIC, 2, &err), 0);
    assert_false(cb_state_part_loading(st, TOPIC, 2));
    assert_null(cb_state_lookup(st, TOPIC, 2, 5, "P:x"));
    assert_non_null(cb_state_lookup(st, TOPIC, 2, 6, "P:z"));
    assert_string_equal(cb_state_lookup(st, TOPIC, 2, 6, "P:z")->certs[0].subject, "CN=z");
    assert_null(cb_state_lookup(st, TOPIC, 2, 6, "P:w"));
    assert_false(cb_state_holder_busy(st, TOPIC, 2, "P:y"));
    cb_state_part_drop(st, TOPIC, 2);
    assert_false(cb_state_part_owned(st, TOPIC, 2));
    cb_state_destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcome_json),  cmocka_unit_test(test_schedule_and_resume),
        cmocka_unit_test(test_schedule_due),  cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_lookup_chunks), cmocka_unit_test(test_load_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
