/*
 * test_ca_faults.c: the CA client against reference CAs that misbehave.
 *
 *   test_ca_faults FAULTS_DIR DOWN_DIR ASYNC_DIR SLOW_DIR REJECT_DIR EXPIRE_DIR POLLS_DIR
 *
 * FAULTS_DIR: a CA answering a share of calls 503, dropping a share of
 * connections before applying anything and a share after applying the call:
 * every call must still succeed, and the ledger must show each applied
 * exactly once. DOWN_DIR: a CA answering every call 503 with Retry-After: 1.
 * ASYNC_DIR: a CA answering PENDING and completing later. SLOW_DIR: a CA
 * answering every call 200 ms late. REJECT_DIR, EXPIRE_DIR: asynchronous CAs
 * whose requests all end REJECTED, all end EXPIRED. POLLS_DIR: an
 * asynchronous CA whose requests stay PENDING through their first 3 polls.
 */
#include "../unit/cb_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../support/ca_test.h"
#include "certbridge/ca_client.h"

static const char *faults_dir, *down_dir, *async_dir, *slow_dir;
static const char *reject_dir, *expire_dir, *polls_dir;

typedef struct holder {
    cb_holder_type_t type;
    const char *id;
    char serial[64];
    char device[64];
} holder_t;

static holder_t holders[] = {
    {CB_HOLDER_ORGANIZATION, "000.00.00.H19", "", ""},
    {CB_HOLDER_ORGANIZATION, "000.00.01.H19", "", ""},
    {CB_HOLDER_ORGANIZATION, "000.00.02.H19", "", ""},
    {CB_HOLDER_ORGANIZATION, "000.00.15.H19", "", ""},
    {CB_HOLDER_ORGANIZATION, "000.00.16.H19", "", ""},
    {CB_HOLDER_ORGANIZATION, "000.00.17.H19", "", ""},
    {CB_HOLDER_PERSON, "HR-0001", "", ""},
    {CB_HOLDER_PERSON, "HR-0002", "", ""},
    {CB_HOLDER_PERSON, "HR-0003", "", ""},
    {CB_HOLDER_PERSON, "HR-0004", "", ""},
    {CB_HOLDER_PERSON, "HR-0005", "", ""},
};

#define HOLDERS   (int)(sizeof(holders) / sizeof(holders[0]))
#define CALLS_MAX (3 * HOLDERS)

static void test_exactly_once_under_faults(void **state)
{
    const char *extra[] = {"ca.max_attempts=60", "ca.retry_base_ms=5",  "ca.retry_max_ms=100",
                           "ca.concurrency=4",   "ca.timeout_ms=10000", NULL};
    cb_ca_client_t *c = ct_client(faults_dir, extra);
    cb_ca_req_t look[HOLDERS], calls[CALLS_MAX], *done;
    char subjects[HOLDERS][256];
    cb_error_t err;
    int i, n = 0, finished = 0, attempts = 0, retried = 0;
    long total, with_key;

    (void)state;
    /* lookups, concurrently, through the faults */
    memset(look, 0, sizeof(look));
    for (i = 0; i < HOLDERS; i++) {
        look[i].op = CB_CA_LOOKUP;
        look[i].holder_type = holders[i].type;
        look[i].holder_id = holders[i].id;
        look[i].opaque = &holders[i];
        assert_int_equal(cb_ca_submit(c, &look[i], &err), 0);
    }
    for (i = 0; i < HOLDERS; i++) {
        holder_t *h;
        done = cb_ca_poll(c, 30000);
        assert_non_null(done);
        if (done->klass != CB_CA_SUCCESS)
            fail_msg("lookup %s: class %d after %d attempts (%s)", done->holder_id, done->klass,
                     done->attempts, done->error_message ? done->error_message : "");
        assert_int_equal(done->cert_count, 1);
        h = done->opaque;
        snprintf(h->serial, sizeof(h->serial), "%s", done->certs[0].serial);
        snprintf(h->device, sizeof(h->device), "%s", done->certs[0].device_id);
        attempts += done->attempts;
        cb_ca_req_clear(done);
    }

    /* organizations: revoke + recall; persons: change-info; all at once */
    memset(calls, 0, sizeof(calls));
    for (i = 0; i < HOLDERS; i++) {
        holder_t *h = &holders[i];
        cb_ca_req_t *r = &calls[n++];
        if (h->type == CB_HOLDER_ORGANIZATION) {
            r->op = CB_CA_REVOKE;
            r->serial = h->serial;
            r->reason = CB_REASON_CESSATION_OF_OPERATION;
            snprintf(r->idempotency_key, sizeof(r->idempotency_key), "faults-%d-revoke-%s",
                     (int)getpid(), h->id);
            r = &calls[n++];
            r->op = CB_CA_RECALL;
            r->device_id = h->device;
            snprintf(r->idempotency_key, sizeof(r->idempotency_key), "faults-%d-recall-%s",
                     (int)getpid(), h->id);
        } else {
            snprintf(subjects[i], sizeof(subjects[i]),
                     "CN=Người %s,OU=Sở Nội vụ,O=Ủy ban nhân dân tỉnh Đồng Nai,L=Đồng Nai,C=VN",
                     h->id);
            r->op = CB_CA_CHANGE_INFO;
            r->serial = h->serial;
            r->subject = subjects[i];
            snprintf(r->idempotency_key, sizeof(r->idempotency_key), "faults-%d-change-%s",
                     (int)getpid(), h->id);
        }
    }
    for (i = 0; i < n; i++)
        assert_int_equal(cb_ca_submit(c, &calls[i], &err), 0);
    while (finished < n) {
        done = cb_ca_poll(c, 60000);
        assert_non_null(done);
        if (done->klass != CB_CA_SUCCESS)
            fail_msg("call %s: class %d, HTTP %ld after %d attempts (%s)", done->idempotency_key,
                     done->klass, done->http_status, done->attempts,
                     done->error_message ? done->error_message : "");
        if (done->op == CB_CA_CHANGE_INFO)
            assert_non_null(done->new_serial);
        attempts += done->attempts;
        retried += done->attempts > 1;
        finished++;
    }
    assert_int_equal(cb_ca_pending(c), 0);
    /* faults really happened, and were retried */
    assert_true(attempts > HOLDERS + n);
    assert_true(retried > 0);

    /* the ledger: every call applied exactly once, nothing else */
    total = ct_ledger_count(faults_dir, NULL, NULL);
    assert_int_equal(total, n);
    for (i = 0; i < n; i++) {
        ct_ledger_count(faults_dir, calls[i].idempotency_key, &with_key);
        if (with_key != 1)
            fail_msg("%s applied %ld times", calls[i].idempotency_key, with_key);
    }

    /* the end state: organizations have no active certificate, each person
     * exactly one, the new one (lookups go through the faults too) */
    for (i = 0; i < HOLDERS; i++) {
        cb_ca_req_t r;
        int j;
        memset(&r, 0, sizeof(r));
        r.op = CB_CA_LOOKUP;
        r.holder_type = holders[i].type;
        r.holder_id = holders[i].id;
        assert_int_equal(cb_ca_call(c, &r, &err), 0);
        assert_int_equal(r.klass, CB_CA_SUCCESS);
        if (holders[i].type == CB_HOLDER_ORGANIZATION) {
            assert_int_equal(r.cert_count, 0);
        } else {
            assert_int_equal(r.cert_count, 1);
            assert_string_equal(r.certs[0].subject, subjects[i]);
            for (j = 0; j < n; j++)
                if (calls[j].op == CB_CA_CHANGE_INFO && calls[j].serial == holders[i].serial)
                    assert_string_equal(r.certs[0].serial, calls[j].new_serial);
        }
        cb_ca_req_clear(&r);
    }
    for (i = 0; i < n; i++)
        cb_ca_req_clear(&calls[i]);
    cb_ca_client_destroy(c);
}

/* Every call answered 503 with Retry-After: 1: the client waits the
 * Retry-After between attempts, gives up after ca.max_attempts with
 * CB_CA_RETRY, and nothing is applied. */
static void test_retry_after_honoured(void **state)
{
    const char *extra[] = {"ca.max_attempts=3", "ca.retry_base_ms=1", "ca.retry_max_ms=5", NULL};
    cb_ca_client_t *c = ct_client(down_dir, extra);
    cb_ca_req_t r;
    cb_error_t err;
    long with_key;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_LOOKUP;
    r.holder_type = CB_HOLDER_ORGANIZATION;
    r.holder_id = "000.00.00.H19";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_RETRY);
    assert_int_equal(r.http_status, 503);
    assert_int_equal(r.attempts, 3);
    assert_string_equal(r.error_code, "UNAVAILABLE");
    /* two waits of Retry-After: 1 s, though the backoff alone is <= 5 ms */
    assert_true(r.latency_ms >= 2000);
    assert_true(r.latency_ms < 10000);
    cb_ca_req_clear(&r);

    memset(&r, 0, sizeof(r));
    r.op = CB_CA_RECALL;
    r.device_id = "TK-ORG-0001";
    snprintf(r.idempotency_key, sizeof(r.idempotency_key), "down-%d-recall", (int)getpid());
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_RETRY);
    assert_int_equal(ct_ledger_count(down_dir, r.idempotency_key, &with_key), 0);
    assert_int_equal(with_key, 0);
    cb_ca_req_clear(&r);
    cb_ca_client_destroy(c);
}

/* Polls GET /v1/requests/{id} until the request is no longer pending. */
static void await_request(cb_ca_client_t *c, const char *id, cb_ca_req_t *r)
{
    cb_error_t err;
    int i;

    for (i = 0; i < 100; i++) {
        memset(r, 0, sizeof(*r));
        r->op = CB_CA_REQUEST;
        r->request_id = id;
        assert_int_equal(cb_ca_call(c, r, &err), 0);
        if (r->klass != CB_CA_PENDING)
            return;
        cb_ca_req_clear(r);
        usleep(50 * 1000);
    }
    fail_msg("request %s still pending after 5 s", id);
}

/* Async mode: PENDING with a request id, completed later; the same key
 * answers the same PENDING; the ledger holds the effect once. */
static void test_async(void **state)
{
    cb_ca_client_t *c = ct_client(async_dir, NULL);
    cb_ca_req_t look, r, q;
    cb_error_t err;
    char id[64], serial[64], path[128], *body = NULL;
    json_t *root;
    long with_key;

    (void)state;
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0002", &look);
    assert_int_equal(look.cert_count, 1);
    snprintf(serial, sizeof(serial), "%s", look.certs[0].serial);

    memset(&r, 0, sizeof(r));
    r.op = CB_CA_CHANGE_INFO;
    r.serial = serial;
    r.subject = "CN=Trần Thị Bình,title=Giám đốc,OU=Sở Khoa học và Công nghệ,L=Đồng Nai,C=VN";
    snprintf(r.idempotency_key, sizeof(r.idempotency_key), "async-%d-change", (int)getpid());
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PENDING);
    assert_int_equal(r.http_status, 202);
    assert_non_null(r.request_id_out);
    assert_null(r.new_serial);
    snprintf(id, sizeof(id), "%s", r.request_id_out);

    await_request(c, id, &q);
    assert_int_equal(q.klass, CB_CA_SUCCESS);
    assert_non_null(q.new_serial);
    assert_string_not_equal(q.new_serial, serial);
    cb_ca_req_clear(&look);
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0002", &look);
    assert_int_equal(look.cert_count, 1);
    assert_string_equal(look.certs[0].serial, q.new_serial);
    cb_ca_req_clear(&q);

    /* the same key again: the stored PENDING answer, nothing new applied */
    cb_ca_req_clear(&r);
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PENDING);
    assert_string_equal(r.request_id_out, id);
    usleep(300 * 1000);
    ct_ledger_count(async_dir, r.idempotency_key, &with_key);
    assert_int_equal(with_key, 1);
    cb_ca_req_clear(&r);

    /* revoke twice under two keys: the second completes as already-done */
    cb_ca_req_clear(&look);
    ct_lookup(c, CB_HOLDER_ORGANIZATION, "000.00.16.H19", &look);
    assert_int_equal(look.cert_count, 1);
    snprintf(serial, sizeof(serial), "%s", look.certs[0].serial);
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_REVOKE;
    r.serial = serial;
    r.reason = CB_REASON_CESSATION_OF_OPERATION;
    r.document_number = "1234/UBND-KGVX ngày 01/7/2025";
    snprintf(r.idempotency_key, sizeof(r.idempotency_key), "async-%d-revoke-1", (int)getpid());
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PENDING);
    await_request(c, r.request_id_out, &q);
    assert_int_equal(q.klass, CB_CA_SUCCESS);
    cb_ca_req_clear(&q);
    /* the request the CA kept answers the approving document it was given */
    snprintf(path, sizeof(path), "/v1/requests/%s", r.request_id_out);
    assert_int_equal(ct_get(async_dir, path, &body, NULL), 200);
    root = json_loads(body, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "state")), "COMPLETED");
    assert_non_null(json_string_value(json_object_get(root, "document_number")));
    assert_string_equal(json_string_value(json_object_get(root, "document_number")),
                        "1234/UBND-KGVX ngày 01/7/2025");
    json_decref(root);
    free(body);
    cb_ca_req_clear(&r);
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_REVOKE;
    r.serial = serial;
    r.reason = CB_REASON_CESSATION_OF_OPERATION;
    snprintf(r.idempotency_key, sizeof(r.idempotency_key), "async-%d-revoke-2", (int)getpid());
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PENDING);
    await_request(c, r.request_id_out, &q);
    assert_int_equal(q.klass, CB_CA_ALREADY);
    cb_ca_req_clear(&q);
    cb_ca_req_clear(&r);

    /* a bad request is refused at once, not accepted as PENDING */
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_REVOKE;
    r.serial = "00";
    r.reason = CB_REASON_CESSATION_OF_OPERATION;
    snprintf(r.idempotency_key, sizeof(r.idempotency_key), "async-%d-revoke-bad", (int)getpid());
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_int_equal(r.http_status, 404);
    cb_ca_req_clear(&r);
    cb_ca_req_clear(&look);
    cb_ca_client_destroy(c);
}

/* Submits a mutating call r (op and target set by the caller) under a key
 * made of tag; it must be accepted PENDING. Its request id goes to id. */
static void submit_pending(cb_ca_client_t *c, cb_ca_req_t *r, const char *tag, char *id,
                           size_t size)
{
    cb_error_t err;

    snprintf(r->idempotency_key, sizeof(r->idempotency_key), "%s-%d", tag, (int)getpid());
    assert_int_equal(cb_ca_call(c, r, &err), 0);
    assert_int_equal(r->klass, CB_CA_PENDING);
    assert_int_equal(r->http_status, 202);
    assert_non_null(r->request_id_out);
    snprintf(id, size, "%s", r->request_id_out);
}

/* REJECTED (every request of REJECT_DIR): the poll is CB_CA_PERMANENT with
 * the CA's problem, nothing is applied (the certificate stays as it was),
 * and repeating the call answers the same request, REJECTED again. */
static void test_async_rejected(void **state)
{
    cb_ca_client_t *c = ct_client(reject_dir, NULL);
    cb_ca_req_t look, r, q;
    char id[64], serial[64], subject[512];
    cb_error_t err;
    long with_key;

    (void)state;
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0003", &look);
    assert_int_equal(look.cert_count, 1);
    snprintf(serial, sizeof(serial), "%s", look.certs[0].serial);
    snprintf(subject, sizeof(subject), "%s", look.certs[0].subject);
    cb_ca_req_clear(&look);

    memset(&r, 0, sizeof(r));
    r.op = CB_CA_CHANGE_INFO;
    r.serial = serial;
    r.subject = "CN=Lê Hoàng Cường,title=Trưởng phòng,OU=Sở Nội vụ,L=Đồng Nai,C=VN";
    submit_pending(c, &r, "reject-change", id, sizeof(id));
    await_request(c, id, &q);
    assert_int_equal(q.klass, CB_CA_PERMANENT);
    assert_int_equal(q.http_status, 200);
    assert_string_equal(q.error_code, "SUBJECT_MISMATCH");
    assert_non_null(strstr(q.error_message, "the subject does not match the registration file"));
    assert_non_null(strstr(q.error_message, "hồ sơ đăng ký"));
    assert_null(q.new_serial);
    cb_ca_req_clear(&q);

    /* nothing applied: the same certificate, the same subject, no effect */
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0003", &look);
    assert_int_equal(look.cert_count, 1);
    assert_string_equal(look.certs[0].serial, serial);
    assert_string_equal(look.certs[0].subject, subject);
    cb_ca_req_clear(&look);
    assert_int_equal(ct_ledger_count(reject_dir, r.idempotency_key, &with_key), 0);
    assert_int_equal(with_key, 0);

    /* the same key again: the same request, still REJECTED */
    cb_ca_req_clear(&r);
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PENDING);
    assert_string_equal(r.request_id_out, id);
    await_request(c, id, &q);
    assert_int_equal(q.klass, CB_CA_PERMANENT);
    assert_string_equal(q.error_code, "SUBJECT_MISMATCH");
    cb_ca_req_clear(&q);
    cb_ca_req_clear(&r);

    /* a revocation is rejected alike: the certificate stays active */
    ct_lookup(c, CB_HOLDER_ORGANIZATION, "000.00.02.H19", &look);
    assert_int_equal(look.cert_count, 1);
    snprintf(serial, sizeof(serial), "%s", look.certs[0].serial);
    cb_ca_req_clear(&look);
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_REVOKE;
    r.serial = serial;
    r.reason = CB_REASON_CESSATION_OF_OPERATION;
    submit_pending(c, &r, "reject-revoke", id, sizeof(id));
    await_request(c, id, &q);
    assert_int_equal(q.klass, CB_CA_PERMANENT);
    assert_string_equal(q.error_code, "SUBJECT_MISMATCH");
    cb_ca_req_clear(&q);
    cb_ca_req_clear(&r);
    ct_lookup(c, CB_HOLDER_ORGANIZATION, "000.00.02.H19", &look);
    assert_int_equal(look.cert_count, 1);
    assert_string_equal(look.certs[0].serial, serial);
    cb_ca_req_clear(&look);
    assert_int_equal(ct_ledger_count(reject_dir, NULL, NULL), 0);
    cb_ca_client_destroy(c);
}

/* EXPIRED (every request of EXPIRE_DIR): CB_CA_PERMANENT with error_code
 * EXPIRED, nothing applied. */
static void test_async_expired(void **state)
{
    cb_ca_client_t *c = ct_client(expire_dir, NULL);
    cb_ca_req_t look, r, q;
    char id[64], serial[64], device[64];

    (void)state;
    ct_lookup(c, CB_HOLDER_ORGANIZATION, "000.00.17.H19", &look);
    assert_int_equal(look.cert_count, 1);
    snprintf(serial, sizeof(serial), "%s", look.certs[0].serial);
    snprintf(device, sizeof(device), "%s", look.certs[0].device_id);
    cb_ca_req_clear(&look);

    memset(&r, 0, sizeof(r));
    r.op = CB_CA_REVOKE;
    r.serial = serial;
    r.reason = CB_REASON_CESSATION_OF_OPERATION;
    submit_pending(c, &r, "expire-revoke", id, sizeof(id));
    await_request(c, id, &q);
    assert_int_equal(q.klass, CB_CA_PERMANENT);
    assert_int_equal(q.http_status, 200);
    assert_string_equal(q.error_code, "EXPIRED");
    assert_non_null(strstr(q.error_message, "nobody confirmed it in time"));
    assert_null(q.new_serial);
    cb_ca_req_clear(&q);
    cb_ca_req_clear(&r);

    memset(&r, 0, sizeof(r));
    r.op = CB_CA_RECALL;
    r.device_id = device;
    submit_pending(c, &r, "expire-recall", id, sizeof(id));
    await_request(c, id, &q);
    assert_int_equal(q.klass, CB_CA_PERMANENT);
    assert_string_equal(q.error_code, "EXPIRED");
    cb_ca_req_clear(&q);
    cb_ca_req_clear(&r);

    /* nothing applied */
    ct_lookup(c, CB_HOLDER_ORGANIZATION, "000.00.17.H19", &look);
    assert_int_equal(look.cert_count, 1);
    assert_string_equal(look.certs[0].serial, serial);
    cb_ca_req_clear(&look);
    assert_int_equal(ct_ledger_count(expire_dir, NULL, NULL), 0);
    cb_ca_client_destroy(c);
}

/* POLLS_DIR: due at once, a request stays PENDING through exactly its first
 * three polls, unapplied until the third; the fourth poll finds it
 * COMPLETED. */
static void test_async_min_polls(void **state)
{
    cb_ca_client_t *c = ct_client(polls_dir, NULL);
    cb_ca_req_t look, r, q;
    char id[64], serial[64];
    cb_error_t err;
    int i;

    (void)state;
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0004", &look);
    assert_int_equal(look.cert_count, 1);
    snprintf(serial, sizeof(serial), "%s", look.certs[0].serial);
    cb_ca_req_clear(&look);

    memset(&r, 0, sizeof(r));
    r.op = CB_CA_CHANGE_INFO;
    r.serial = serial;
    r.subject = "CN=Phạm Thị Dung,title=Phó Chủ tịch,OU=Ủy ban nhân dân xã Phước Thiền,C=VN";
    submit_pending(c, &r, "polls-change", id, sizeof(id));
    for (i = 1; i <= 4; i++) {
        memset(&q, 0, sizeof(q));
        q.op = CB_CA_REQUEST;
        q.request_id = id;
        assert_int_equal(cb_ca_call(c, &q, &err), 0);
        if (i <= 3) {
            if (q.klass != CB_CA_PENDING)
                fail_msg("poll %d: class %d, want PENDING", i, q.klass);
            assert_string_equal(q.request_id_out, id);
            if (i < 3) {
                /* not applied yet; after the third poll the completion
                 * timer may apply it at any moment (it is due) */
                ct_lookup(c, CB_HOLDER_PERSON, "HR-0004", &look);
                assert_int_equal(look.cert_count, 1);
                assert_string_equal(look.certs[0].serial, serial);
                cb_ca_req_clear(&look);
            }
        } else {
            assert_int_equal(q.klass, CB_CA_SUCCESS);
            assert_non_null(q.new_serial);
            ct_lookup(c, CB_HOLDER_PERSON, "HR-0004", &look);
            assert_int_equal(look.cert_count, 1);
            assert_string_equal(look.certs[0].serial, q.new_serial);
            cb_ca_req_clear(&look);
        }
        cb_ca_req_clear(&q);
    }
    cb_ca_req_clear(&r);
    cb_ca_client_destroy(c);
}

/* Latency injection delays each answer on a timer: 16 calls in flight all
 * finish in about one latency, not sixteen. */
static void test_latency_overlaps(void **state)
{
    const char *extra[] = {"ca.concurrency=16", NULL};
    cb_ca_client_t *c = ct_client(slow_dir, extra);
    cb_ca_req_t reqs[16], *done;
    cb_error_t err;
    struct timespec t0, t1;
    int64_t wall_ms;
    int i;

    (void)state;
    /* warm the connections up first, so only the latency is measured */
    memset(reqs, 0, sizeof(reqs));
    for (i = 0; i < 16; i++) {
        reqs[i].op = CB_CA_HEALTH;
        assert_int_equal(cb_ca_submit(c, &reqs[i], &err), 0);
    }
    for (i = 0; i < 16; i++)
        assert_non_null(cb_ca_poll(c, 10000));
    memset(reqs, 0, sizeof(reqs));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < 16; i++) {
        reqs[i].op = CB_CA_LOOKUP;
        reqs[i].holder_type = CB_HOLDER_ORGANIZATION;
        reqs[i].holder_id = "000.00.00.H19";
        assert_int_equal(cb_ca_submit(c, &reqs[i], &err), 0);
    }
    for (i = 0; i < 16; i++) {
        done = cb_ca_poll(c, 10000);
        assert_non_null(done);
        assert_int_equal(done->klass, CB_CA_SUCCESS);
        assert_int_equal(done->cert_count, 1);
        assert_true(done->latency_ms >= 200);
        cb_ca_req_clear(done);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    wall_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(wall_ms >= 200);
    assert_true(wall_ms < 1000); /* serial answers would take 3.2 s */
    cb_ca_client_destroy(c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_once_under_faults),
        cmocka_unit_test(test_retry_after_honoured),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_latency_overlaps),
        cmocka_unit_test(test_async_rejected),
        cmocka_unit_test(test_async_expired),
        cmocka_unit_test(test_async_min_polls),
    };

    if (argc < 8) {
        fprintf(stderr,
                "usage: %s FAULTS_DIR DOWN_DIR ASYNC_DIR SLOW_DIR REJECT_DIR EXPIRE_DIR "
                "POLLS_DIR\n",
                argv[0]);
        return 2;
    }
    faults_dir = argv[1];
    down_dir = argv[2];
    async_dir = argv[3];
    slow_dir = argv[4];
    reject_dir = argv[5];
    expire_dir = argv[6];
    polls_dir = argv[7];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
