/*
 * test_executor.c: the executor (executor.h) against real reference CAs
 * started by the test (a component test): resolution, per-holder order,
 * retries, the mapping of every CA answer class to an outcome status, the
 * bounding of the CA's strings, and failures that must come back as errors
 * instead of aborting the process, with allocation failures injected.
 *
 * Usage: test_executor PATH/TO/certbridge-refca
 *
 * Four CAs: `main` (refuses change-info and revoke of hr-huge with a
 * 5000-byte problem detail), `async` (every mutating call PENDING), `flaky`
 * (answers 503 to its first request, seeded) and `oom` (used only by the
 * allocation-failure sweep). Every test names its
 * own holders and event ids, so the tests do not depend on each other.
 *
 * Allocation failures: the test is linked with -Wl,--wrap for malloc,
 * calloc, realloc, strdup and strndup, which sends every call made by
 * certbridge's static libraries (executor, CA client, text, JSON reader)
 * through the __wrap_ functions below; libcurl, OpenSSL and jansson are
 * shared libraries and keep the real allocator.
 */
#include "cb_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/ca_client.h"
#include "certbridge/clock.h"
#include "certbridge/config.h"
#include "certbridge/executor.h"
#include "certbridge/subject.h"
#include "certbridge/text.h"

#include "../support/refca_proc.h"

/* ---- allocation failure injection ------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static long alloc_count; /* allocations counted since inject_at() */
static long alloc_fail;  /* the one that fails (1-based); 0 = none */
static bool alloc_failed;

/* From now on, allocation number n (1-based) fails; 0 turns injection off
 * (alloc_failed then still tells whether the failure happened). */
static void inject_at(long n)
{
    alloc_count = 0;
    alloc_fail = n;
    if (n)
        alloc_failed = false;
}

static bool alloc_fails(void)
{
    if (!alloc_fail || ++alloc_count != alloc_fail)
        return false;
    alloc_failed = true;
    return true;
}

void *__wrap_malloc(size_t n)
{
    return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return alloc_fails() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return alloc_fails() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return alloc_fails() ? NULL : __real_strndup(s, n);
}

/* ---- the reference CAs ------------------------------------------------ */

#define ORG_SUBJECT(name) "CN=" name ",O=Ủy ban nhân dân tỉnh Đồng Nai,L=Tỉnh Đồng Nai,C=VN"
#define PERSON_SUBJECT(name, ou)                                                                   \
    "CN=" name ",title=Chuyên viên,OU=" ou ",O=Ủy ban nhân dân tỉnh Đồng Nai,L=Tỉnh "   \
    "Đồng Nai,C=VN"
#define INV_ORG(code, name, dev)                                                                   \
    "{\"holder_type\":\"ORGANIZATION\",\"holder_id\":\"" code                                      \
    "\",\"subject\":\"" ORG_SUBJECT(name) "\",\"device_id\":\"" dev "\"}\n"
#define INV_PERSON(id, org, name, dev)                                                             \
    "{\"holder_type\":\"PERSON\",\"holder_id\":\"" id "\",\"org_code\":\"" org                     \
    "\",\"subject\":\"" PERSON_SUBJECT(name, "Sở Nội vụ") "\"" dev "}\n"
#define DEV(d) ",\"device_id\":\"" d "\""

#define RACE_ORG "000.00.75.H19"

static const char inventory[] =
    /* resolution */
    INV_PERSON("hr-10", "000.00.09.H19", "Nguyễn Văn An", DEV("TK-P-10"))
        INV_PERSON("hr-10", "000.00.09.H19", "Nguyễn Văn An", DEV("TK-P-10"))
            INV_PERSON("hr-11", "000.00.09.H19", "Trần Thị Bình", "")
                INV_PERSON("hr-20a", "000.00.20.H19", "Lê Hoàng Cường", DEV("TK-P-20a"))
                    INV_PERSON("hr-20b", "000.00.20.H19", "Phạm Thị Dung", DEV("TK-P-20b"))
    /* order */
    INV_ORG("000.00.30.H19", "Sở Ba Mươi", "TK-O-30")
        INV_ORG("000.00.31.H19", "Sở Ba Mốt", "TK-O-31")
    /* answer classes */
    INV_PERSON("hr-40", "000.00.09.H19", "Hoàng Văn Em", DEV("TK-P-40"))
        INV_PERSON("hr-huge", "000.00.09.H19", "Võ Thị Giang", DEV("TK-P-huge"))
            INV_PERSON("hr-50", "000.00.09.H19", "Đặng Quốc Huy", DEV("TK-P-50"))
    /* client refusal, allocation failures */
    INV_PERSON("hr-70", "000.00.09.H19", "Bùi Thị Lan", DEV("TK-P-70"))
        INV_PERSON("hr-80", "000.00.09.H19", "Nguyễn Văn Khoa", DEV("TK-P-80"))
    /* a cascade and a person of its organization in one batch */
    INV_PERSON("hr-75a", RACE_ORG, "Trịnh Văn Phúc", DEV("TK-P-75a"))
        INV_PERSON("hr-75b", RACE_ORG, "Mai Thị Quế", DEV("TK-P-75b"));

#define HUGE_BYTES 5000

/* lookups over several pages: the persons of PAGED_ORG, added to `main`'s
 * inventory by start_cas */
#define PAGED_ORG     "000.00.60.H19"
#define PAGED_PERSONS 23

static const char *refca_bin;
static refca_proc_t ca_main, ca_async, ca_flaky, ca_oom;

static int start_cas(void **state)
{
    const char *const huge[] = {"--huge-problem-holder", "hr-huge", "--huge-problem-bytes", "5000",
                                NULL};
    const char *const async[] = {"--async", "--async-delay-ms", "50", NULL};
    const char *const flaky[] = {"--fail-503", "0.5", "--seed", "1", "--retry-after", "0", NULL};
    char *inv = malloc(sizeof(inventory) + PAGED_PERSONS * 400), *at;
    size_t i;
    int rc;

    (void)state;
    if (!inv)
        return -1;
    at = inv + sprintf(inv, "%s", inventory);
    for (i = 0; i < PAGED_PERSONS; i++)
        at += sprintf(at,
                      "{\"holder_type\":\"PERSON\",\"holder_id\":\"hr-60-%02zu\",\"org_code\":"
                      "\"" PAGED_ORG "\",\"subject\":\"CN=Người số %zu,title=Chuyên viên,OU=Sở "
                      "Sáu Mươi,O=Ủy ban nhân dân tỉnh Đồng Nai,L=Tỉnh Đồng Nai,C=VN\","
                      "\"device_id\":\"TK-P-60-%02zu\"}\n",
                      i, i, i);
    rc = refca_proc_start(&ca_main, refca_bin, inv, huge);
    free(inv);
    if (rc < 0 || refca_proc_start(&ca_async, refca_bin, inventory, async) < 0 ||
        refca_proc_start(&ca_flaky, refca_bin, inventory, flaky) < 0 ||
        refca_proc_start(&ca_oom, refca_bin, inventory, NULL) < 0) {
        fprintf(stderr, "cannot start the reference CAs (%s)\n", refca_bin);
        return -1;
    }
    return 0;
}

static int stop_cas(void **state)
{
    (void)state;
    refca_proc_stop(&ca_main);
    refca_proc_stop(&ca_async);
    refca_proc_stop(&ca_flaky);
    refca_proc_stop(&ca_oom);
    return 0;
}

/* A CA client for ca with the given URL suffix ("" for the CA itself) and
 * extra "key=value" settings (NULL-terminated, may be NULL). */
static cb_ca_client_t *client(const refca_proc_t *ca, const char *url_suffix,
                              const char *const *extra)
{
    cb_config_t *cfg = cb_config_new();
    char url[300];
    cb_error_t err;
    cb_ca_client_t *c;

    assert_non_null(cfg);
    snprintf(url, sizeof(url), "%s%s", ca->url, url_suffix);
    assert_int_equal(cb_config_set(cfg, "ca.url", url, &err), 0);
    assert_int_equal(cb_config_set(cfg, "ca.tls.cert", ca->cert, &err), 0);
    assert_int_equal(cb_config_set(cfg, "ca.tls.key", ca->key, &err), 0);
    assert_int_equal(cb_config_set(cfg, "ca.tls.ca_bundle", ca->ca_bundle, &err), 0);
    for (; extra && *extra; extra += 2)
        if (cb_config_set(cfg, extra[0], extra[1], &err) < 0)
            fail_msg("%s", err.msg);
    c = cb_ca_client_new(cfg, &err);
    cb_config_destroy(cfg);
    if (!c)
        fail_msg("cb_ca_client_new: %s", err.msg);
    return c;
}

/* ---- building batches -------------------------------------------------- */

/* An empty work item for event `id` of the given kind and type. */
static void work_init(cb_work_t *w, const char *id, cb_event_kind_t kind, int type, int64_t offset)
{
    memset(w, 0, sizeof(*w));
    cb_event_init(&w->ev);
    w->ev.kind = kind;
    w->ev.type = type;
    w->ev.event_id = strdup(id);
    w->topic = strdup(kind == CB_EVENT_ORG ? "hr.org-events" : "hr.person-events");
    w->partition = 3;
    w->offset = offset;
}

/* Appends an intent; strings are copied. */
static cb_intent_t *add_intent(cb_work_t *w, cb_action_t action, cb_holder_type_t type,
                               const char *holder_id, const char *new_subject)
{
    cb_intent_t *in;

    w->intents.items = realloc(w->intents.items, (w->intents.count + 1) * sizeof(*in));
    assert_non_null(w->intents.items);
    in = &w->intents.items[w->intents.count++];
    memset(in, 0, sizeof(*in));
    in->action = action;
    in->holder_type = type;
    in->holder_id = holder_id ? strdup(holder_id) : NULL;
    in->holder_name = holder_id ? strdup("Tên của người giữ") : NULL;
    in->reason = action == CB_ACTION_REVOKE ? CB_REASON_CESSATION_OF_OPERATION : CB_REASON_NONE;
    in->new_subject = new_subject ? strdup(new_subject) : NULL;
    in->note = "ghi chú / note";
    return in;
}

static void works_clear(cb_work_t *works, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        cb_work_clear(&works[i]);
}

/* Steps ex until the batch is done. The deadline only guards against a
 * hang; nothing here depends on how fast the CA answers. */
static void run_batch(cb_executor_t *ex)
{
    int64_t deadline = cb_clock_mono_ms() + 120000;
    cb_error_t err;
    int rc;

    while ((rc = cb_executor_step(ex, 50, &err)) == 0)
        if (cb_clock_mono_ms() > deadline)
            fail_msg("the batch did not finish within 120 s");
    if (rc < 0)
        fail_msg("cb_executor_step: %s", err.msg);
}

/* Starts and runs works[0..n) to the end with a new executor on c. */
static void execute(cb_ca_client_t *c, cb_work_t *works, size_t n)
{
    cb_error_t err;
    cb_executor_t *ex = cb_executor_new(c, NULL, &err);

    assert_non_null(ex);
    if (cb_executor_start(ex, works, n, &err) < 0)
        fail_msg("cb_executor_start: %s", err.msg);
    run_batch(ex);
    cb_executor_destroy(ex);
}

static const char *status(const cb_outcome_t *o)
{
    return cb_outcome_status_name(o->status);
}

/* Asserts the numbering of a work's outcomes: "<event_id>/<k>",
 * action_index k, action_count n. */
static void expect_numbering(const cb_work_t *w, size_t n)
{
    size_t k;

    assert_int_equal(w->outcome_count, n);
    for (k = 0; k < n; k++) {
        char id[128];
        snprintf(id, sizeof(id), "%s/%zu", w->ev.event_id, k);
        assert_string_equal(w->outcomes[k].outcome_id, id);
        assert_int_equal(w->outcomes[k].action_index, (int32_t)k);
        assert_int_equal(w->outcomes[k].action_count, (int32_t)n);
        assert_string_equal(w->outcomes[k].source_event_id, w->ev.event_id);
        assert_string_equal(w->outcomes[k].source_topic, w->topic);
        assert_int_equal(w->outcomes[k].source_partition, 3);
        assert_int_equal(w->outcomes[k].source_offset, w->offset);
        assert_true(w->outcomes[k].processed_at_ms > 1700000000000LL);
    }
}

/* The active certificates of a holder now (an unkeyed lookup). */
static size_t lookup(cb_ca_client_t *c, cb_holder_type_t type, const char *holder_id,
                     const char *org_code, cb_ca_req_t *req)
{
    cb_error_t err;

    memset(req, 0, sizeof(*req));
    req->op = CB_CA_LOOKUP;
    req->holder_type = type;
    req->holder_id = holder_id;
    req->org_code = org_code;
    if (cb_ca_call(c, req, &err) < 0)
        fail_msg("lookup: %s", err.msg);
    assert_int_equal(req->klass, CB_CA_SUCCESS);
    return req->cert_count;
}

/* ---- resolution -------------------------------------------------------- */

/* One action per certificate; RECALL_DEVICE once per key token and SKIPPED
 * when the holder has no token; a holder without certificates yields one
 * SKIPPED outcome whatever its intents; REVIEW needs no call; a cascade
 * CHANGE_INFO changes every person certificate of the organization with
 * the organization's parts of the subject replaced. */
static void test_resolution(void **state)
{
    cb_ca_client_t *c = client(&ca_main, "", NULL);
    cb_work_t w[5];
    cb_org_t neworg = {0};
    cb_ca_req_t before, after;
    cb_intent_t *in;
    size_t k;

    (void)state;
    lookup(c, CB_HOLDER_PERSON, NULL, "000.00.20.H19", &before);
    assert_int_equal(before.cert_count, 2);

    work_init(&w[0], "e-res-1", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 100);
    add_intent(&w[0], CB_ACTION_REVOKE, CB_HOLDER_PERSON, "hr-10", NULL);
    add_intent(&w[0], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, "hr-10", NULL);
    work_init(&w[1], "e-res-2", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 101);
    add_intent(&w[1], CB_ACTION_REVOKE, CB_HOLDER_PERSON, "hr-11", NULL);
    add_intent(&w[1], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, "hr-11", NULL);
    work_init(&w[2], "e-res-3", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 102);
    add_intent(&w[2], CB_ACTION_REVOKE, CB_HOLDER_PERSON, "hr-nobody", NULL);
    add_intent(&w[2], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, "hr-nobody", NULL);
    work_init(&w[3], "e-res-4", CB_EVENT_PERSON, CB_PERSON_JOINED, 103);
    add_intent(&w[3], CB_ACTION_REVIEW, CB_HOLDER_PERSON, "hr-new", NULL);
    work_init(&w[4], "e-res-5", CB_EVENT_ORG, CB_ORG_RENAMED, 104);
    in = add_intent(&w[4], CB_ACTION_CHANGE_INFO, CB_HOLDER_PERSON, NULL, NULL);
    in->cascade_org_code = strdup("000.00.20.H19");
    in->cascade_org = calloc(1, sizeof(cb_org_t));
    in->cascade_org->code = strdup("000.00.20.H19");
    in->cascade_org->name = strdup("Sở Hai Mươi Mới");
    in->cascade_org->parent_name = strdup("Ủy ban nhân dân tỉnh Đồng Nai");
    in->cascade_org->province = strdup("Tỉnh Đồng Nai");
    execute(c, w, 5);

    /* hr-10: two certificates on one key token */
    expect_numbering(&w[0], 3);
    for (k = 0; k < 2; k++) {
        const cb_outcome_t *o = &w[0].outcomes[k];
        assert_int_equal(o->action, CB_ACTION_REVOKE);
        assert_string_equal(status(o), "SUCCEEDED");
        assert_int_equal(o->http_status, 200);
        assert_int_equal(o->attempts, 1);
        assert_non_null(o->certificate_serial);
        assert_string_equal(o->device_id, "TK-P-10");
        assert_string_equal(o->holder_id, "hr-10");
        assert_string_equal(o->holder_name, "Tên của người giữ");
        assert_string_equal(o->source_event_type, "DEPARTED");
        assert_int_equal(o->revocation_reason, CB_REASON_CESSATION_OF_OPERATION);
        assert_string_equal(o->note, "ghi chú / note");
        assert_null(o->error_code);
    }
    assert_string_not_equal(w[0].outcomes[0].certificate_serial,
                            w[0].outcomes[1].certificate_serial);
    assert_int_equal(w[0].outcomes[2].action, CB_ACTION_RECALL_DEVICE);
    assert_string_equal(status(&w[0].outcomes[2]), "SUCCEEDED");
    assert_string_equal(w[0].outcomes[2].device_id, "TK-P-10");
    assert_int_equal(w[0].outcomes[2].revocation_reason, CB_REASON_NONE);

    /* hr-11: a certificate without a key token */
    expect_numbering(&w[1], 2);
    assert_string_equal(status(&w[1].outcomes[0]), "SUCCEEDED");
    assert_int_equal(w[1].outcomes[1].action, CB_ACTION_RECALL_DEVICE);
    assert_string_equal(status(&w[1].outcomes[1]), "SKIPPED");
    assert_string_equal(w[1].outcomes[1].error_message,
                        "no key token recorded for the holder's certificates");
    assert_int_equal(w[1].outcomes[1].http_status, 0);

    /* a holder the CA does not know: one SKIPPED outcome for two intents */
    expect_numbering(&w[2], 1);
    assert_int_equal(w[2].outcomes[0].action, CB_ACTION_REVOKE);
    assert_string_equal(status(&w[2].outcomes[0]), "SKIPPED");
    assert_string_equal(w[2].outcomes[0].error_message, "the holder has no active certificate");
    assert_null(w[2].outcomes[0].certificate_serial);

    /* REVIEW: no call */
    expect_numbering(&w[3], 1);
    assert_string_equal(status(&w[3].outcomes[0]), "NEEDS_REVIEW");
    assert_int_equal(w[3].outcomes[0].http_status, 0);
    assert_int_equal(w[3].outcomes[0].attempts, 0);
    assert_string_equal(w[3].outcomes[0].source_event_type, "JOINED");

    /* the cascade: one CHANGE_INFO per person of the organization, named
     * by the person's id, with the organization's parts replaced */
    expect_numbering(&w[4], 2);
    lookup(c, CB_HOLDER_PERSON, NULL, "000.00.20.H19", &after);
    assert_int_equal(after.cert_count, 2);
    neworg = *in->cascade_org;
    for (k = 0; k < 2; k++) {
        const cb_outcome_t *o = &w[4].outcomes[k];
        size_t b, a;
        assert_string_equal(status(o), "SUCCEEDED");
        assert_int_equal(o->action, CB_ACTION_CHANGE_INFO);
        assert_true(!strcmp(o->holder_id, "hr-20a") || !strcmp(o->holder_id, "hr-20b"));
        assert_null(o->device_id);
        assert_non_null(o->new_certificate_serial);
        for (b = 0; b < 2 && strcmp(before.certs[b].serial, o->certificate_serial); b++)
            ;
        for (a = 0; a < 2 && strcmp(after.certs[a].serial, o->new_certificate_serial); a++)
            ;
        assert_true(b < 2 && a < 2);
        assert_string_equal(before.certs[b].holder_id, o->holder_id);
        {
            cb_error_t err;
            char *want = cb_subject_replace_org(before.certs[b].subject, &neworg, &err);
            assert_non_null(want);
            assert_non_null(strstr(want, "OU=Sở Hai Mươi Mới"));
            assert_non_null(strstr(want, "CN="));
            assert_string_equal(after.certs[a].subject, want);
            free(want);
        }
    }
    assert_string_not_equal(w[4].outcomes[0].holder_id, w[4].outcomes[1].holder_id);
    cb_ca_req_clear(&before);
    cb_ca_req_clear(&after);
    works_clear(w, 5);
    cb_ca_client_destroy(c);
}

/* ---- order ------------------------------------------------------------- */

/* Two events for one holder run in batch order, each resolving against the
 * CA's state after the one before: the REVOKE of e-ord-2 revokes the
 * certificate the CHANGE_INFO of e-ord-1 made. Different holders run
 * concurrently: with the CA stopped (SIGSTOP), the first step has one
 * request in flight per holder, and none yet for e-ord-2. */
static void test_order(void **state)
{
    cb_ca_client_t *c = client(&ca_main, "", NULL);
    cb_executor_t *ex;
    cb_work_t w[3];
    cb_error_t err;
    cb_ca_req_t now;

    (void)state;
    work_init(&w[0], "e-ord-1", CB_EVENT_ORG, CB_ORG_RENAMED, 200);
    add_intent(&w[0], CB_ACTION_CHANGE_INFO, CB_HOLDER_ORGANIZATION, "000.00.30.H19",
               ORG_SUBJECT("Sở Ba Mươi Mới"));
    work_init(&w[1], "e-ord-2", CB_EVENT_ORG, CB_ORG_DISSOLVED, 201);
    add_intent(&w[1], CB_ACTION_REVOKE, CB_HOLDER_ORGANIZATION, "000.00.30.H19", NULL);
    work_init(&w[2], "e-ord-3", CB_EVENT_ORG, CB_ORG_DISSOLVED, 202);
    add_intent(&w[2], CB_ACTION_REVOKE, CB_HOLDER_ORGANIZATION, "000.00.31.H19", NULL);

    ex = cb_executor_new(c, NULL, &err);
    assert_non_null(ex);
    assert_int_equal(cb_executor_start(ex, w, 3, &err), 0);
    assert_int_equal(kill(ca_main.pid, SIGSTOP), 0);
    assert_int_equal(cb_executor_step(ex, 0, &err), 0);
    assert_int_equal(cb_ca_pending(c), 2); /* the lookups of 000.00.30 and 000.00.31 */
    assert_false(cb_executor_stalled(ex));
    assert_int_equal(kill(ca_main.pid, SIGCONT), 0);
    run_batch(ex);
    cb_executor_destroy(ex);

    expect_numbering(&w[0], 1);
    expect_numbering(&w[1], 1);
    expect_numbering(&w[2], 1);
    assert_string_equal(status(&w[0].outcomes[0]), "SUCCEEDED");
    assert_non_null(w[0].outcomes[0].new_certificate_serial);
    assert_string_equal(status(&w[1].outcomes[0]), "SUCCEEDED");
    assert_string_equal(w[1].outcomes[0].certificate_serial,
                        w[0].outcomes[0].new_certificate_serial);
    assert_string_equal(w[1].outcomes[0].device_id, "TK-O-30");
    assert_string_equal(status(&w[2].outcomes[0]), "SUCCEEDED");
    assert_int_equal(lookup(c, CB_HOLDER_ORGANIZATION, "000.00.30.H19", NULL, &now), 0);
    cb_ca_req_clear(&now);
    works_clear(w, 3);
    cb_ca_client_destroy(c);
}

/* ---- answer classes ---------------------------------------------------- */

/* SUCCESS -> SUCCEEDED, ALREADY -> ALREADY_DONE (a second recall of a key
 * token), PERMANENT -> REJECTED (the 5000-byte problem of hr-huge, cut to
 * CB_OUTSIDE_TEXT_MAX at a code point boundary and marked as cut). */
static void test_answers(void **state)
{
    cb_ca_client_t *c = client(&ca_main, "", NULL);
    const cb_outcome_t *o;
    cb_work_t w[3];
    const char *mark;
    size_t len;

    (void)state;
    work_init(&w[0], "e-cls-1", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 300);
    add_intent(&w[0], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, "hr-40", NULL);
    work_init(&w[1], "e-cls-2", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 301);
    add_intent(&w[1], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, "hr-40", NULL);
    work_init(&w[2], "e-cls-3", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 302);
    add_intent(&w[2], CB_ACTION_REVOKE, CB_HOLDER_PERSON, "hr-huge", NULL);
    add_intent(&w[2], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, "hr-huge", NULL);
    execute(c, w, 3);

    expect_numbering(&w[0], 1);
    assert_string_equal(status(&w[0].outcomes[0]), "SUCCEEDED");
    expect_numbering(&w[1], 1);
    assert_string_equal(status(&w[1].outcomes[0]), "ALREADY_DONE");
    assert_int_equal(w[1].outcomes[0].http_status, 200);
    assert_string_equal(w[1].outcomes[0].device_id, "TK-P-40");

    expect_numbering(&w[2], 2);
    o = &w[2].outcomes[0];
    assert_string_equal(status(o), "REJECTED");
    assert_int_equal(o->http_status, 422);
    assert_string_equal(o->error_code, "INVALID_REASON");
    len = strlen(o->error_message);
    assert_true(len <= CB_OUTSIDE_TEXT_MAX && len > CB_OUTSIDE_TEXT_MAX - 8);
    assert_true(cb_text_utf8_valid(o->error_message, len));
    mark = strstr(o->error_message, "\xE2\x80\xA6 [cut to ");
    assert_non_null(mark);
    {
        char tail[80];
        snprintf(tail, sizeof(tail), "\xE2\x80\xA6 [cut to %zu of %d bytes]",
                 (size_t)(mark - o->error_message), HUGE_BYTES);
        assert_string_equal(mark, tail);
    }
    assert_memory_equal(o->error_message, "\xF0\x9F\x94\x92 Y\xC3\xAAu c\xE1\xBA\xA7u", 14);
    /* the refusal stops nothing else of the step */
    assert_string_equal(status(&w[2].outcomes[1]), "SUCCEEDED");
    assert_null(w[2].outcomes[1].error_message);
    works_clear(w, 3);
    cb_ca_client_destroy(c);
}

/* PENDING: an asynchronous CA accepts the call; the outcome carries the
 * CA's request id. */
static void test_pending(void **state)
{
    cb_ca_client_t *c = client(&ca_async, "", NULL);
    cb_work_t w[1];

    (void)state;
    work_init(&w[0], "e-pnd-1", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 400);
    add_intent(&w[0], CB_ACTION_REVOKE, CB_HOLDER_PERSON, "hr-50", NULL);
    execute(c, w, 1);
    expect_numbering(&w[0], 1);
    assert_string_equal(status(&w[0].outcomes[0]), "PENDING");
    assert_int_equal(w[0].outcomes[0].http_status, 202);
    assert_non_null(w[0].outcomes[0].ca_request_id);
    assert_memory_equal(w[0].outcomes[0].ca_request_id, "REQ-", 4);
    assert_null(w[0].outcomes[0].new_certificate_serial);
    works_clear(w, 1);
    cb_ca_client_destroy(c);
}

/* A lookup refused for good (every path under a wrong URL prefix answers
 * 404): every intent of the step fails with the CA's answer, one outcome
 * per intent; an ISSUE (no lookup) is REJECTED; a REVIEW needs no call. */
static void test_lookup_refused(void **state)
{
    cb_ca_client_t *c = client(&ca_main, "/wrong-prefix", NULL);
    cb_work_t w[2];
    size_t k;

    (void)state;
    work_init(&w[0], "e-ref-1", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 500);
    add_intent(&w[0], CB_ACTION_REVOKE, CB_HOLDER_PERSON, "hr-70", NULL);
    add_intent(&w[0], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, "hr-70", NULL);
    work_init(&w[1], "e-ref-2", CB_EVENT_PERSON, CB_PERSON_JOINED, 501);
    add_intent(&w[1], CB_ACTION_ISSUE, CB_HOLDER_PERSON, "hr-71",
               PERSON_SUBJECT("Ngô Văn Mới", "Sở Nội vụ"));
    add_intent(&w[1], CB_ACTION_REVIEW, CB_HOLDER_PERSON, "hr-71", NULL);
    execute(c, w, 2);

    expect_numbering(&w[0], 2);
    for (k = 0; k < 2; k++) {
        const cb_outcome_t *o = &w[0].outcomes[k];
        assert_int_equal(o->action, k ? CB_ACTION_RECALL_DEVICE : CB_ACTION_REVOKE);
        assert_string_equal(status(o), "FAILED");
        assert_int_equal(o->http_status, 404);
        assert_string_equal(o->error_code, "NOT_FOUND");
        assert_string_equal(o->error_message, "no such resource");
        assert_null(o->certificate_serial);
    }
    expect_numbering(&w[1], 2);
    assert_string_equal(status(&w[1].outcomes[0]), "REJECTED");
    assert_int_equal(w[1].outcomes[0].http_status, 404);
    assert_string_equal(status(&w[1].outcomes[1]), "NEEDS_REVIEW");
    works_clear(w, 2);
    cb_ca_client_destroy(c);
}

/* ---- retries ----------------------------------------------------------- */

/* The CA is unavailable for the first call (`flaky` answers 503 to its
 * first request and not to the next two: its fault dice are seeded; the
 * client makes one attempt per request): the request is kept, the executor
 * is stalled and the batch not done; later the same request is resubmitted
 * and succeeds, its outcome counting both attempts. The next call of the
 * same step counts only its own. (Two ISSUEs for one holder share their
 * Idempotency-Key, so the second gets the first one's answer again.) */
static void test_retry(void **state)
{
    const char *const extra[] = {"ca.max_attempts", "1", NULL};
    cb_ca_client_t *c = client(&ca_flaky, "", extra);
    int64_t deadline = cb_clock_mono_ms() + 60000;
    cb_executor_t *ex;
    cb_work_t w[1];
    cb_error_t err;

    (void)state;
    work_init(&w[0], "e-rty-1", CB_EVENT_PERSON, CB_PERSON_JOINED, 600);
    add_intent(&w[0], CB_ACTION_ISSUE, CB_HOLDER_PERSON, "hr-61",
               PERSON_SUBJECT("Lý Thị Mai", "Sở Nội vụ"));
    add_intent(&w[0], CB_ACTION_ISSUE, CB_HOLDER_PERSON, "hr-61",
               PERSON_SUBJECT("Lý Thị Mai", "Sở Nội vụ"));
    ex = cb_executor_new(c, NULL, &err);
    assert_non_null(ex);
    assert_int_equal(cb_executor_start(ex, w, 1, &err), 0);
    assert_false(cb_executor_stalled(ex));
    while (!cb_executor_stalled(ex)) {
        assert_int_equal(cb_executor_step(ex, 50, &err), 0);
        if (cb_clock_mono_ms() > deadline)
            fail_msg("the executor never stalled");
    }
    assert_int_equal(w[0].outcome_count, 0);
    run_batch(ex);
    assert_false(cb_executor_stalled(ex));
    cb_executor_destroy(ex);

    expect_numbering(&w[0], 2);
    assert_string_equal(status(&w[0].outcomes[0]), "SUCCEEDED");
    assert_int_equal(w[0].outcomes[0].attempts, 2);
    assert_int_equal(w[0].outcomes[0].http_status, 201);
    assert_non_null(w[0].outcomes[0].new_certificate_serial);
    assert_string_equal(status(&w[0].outcomes[1]), "SUCCEEDED");
    assert_int_equal(w[0].outcomes[1].attempts, 1);
    assert_string_equal(w[0].outcomes[1].new_certificate_serial,
                        w[0].outcomes[0].new_certificate_serial);
    works_clear(w, 1);
    cb_ca_client_destroy(c);
}

/* ---- failures that must not abort -------------------------------------- */

/* A request the CA client refuses to form (a holder id whose URL exceeds
 * the client's limit; longer than event validation allows, so only a bug
 * upstream could send it) fails its step's actions with error_code
 * "client": the batch goes on, the other work item succeeds. The old
 * executor called abort() here. */
static void test_client_refusal(void **state)
{
    cb_ca_client_t *c = client(&ca_main, "", NULL);
    char id[1500 * 2 + 1];
    cb_work_t w[2];
    size_t i;

    (void)state;
    for (i = 0; i < 1500; i++)
        memcpy(id + 2 * i, "\xC4\x90", 2); /* "Đ": 6 characters in a URL */
    id[3000] = '\0';
    work_init(&w[0], "e-cli-1", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 700);
    add_intent(&w[0], CB_ACTION_REVOKE, CB_HOLDER_PERSON, id, NULL);
    add_intent(&w[0], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, id, NULL);
    work_init(&w[1], "e-cli-2", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 701);
    add_intent(&w[1], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, "hr-70", NULL);
    execute(c, w, 2);

    expect_numbering(&w[0], 2);
    for (i = 0; i < 2; i++) {
        assert_string_equal(status(&w[0].outcomes[i]), "FAILED");
        assert_int_equal(w[0].outcomes[i].http_status, 0);
        assert_string_equal(w[0].outcomes[i].error_code, "client");
        assert_non_null(strstr(w[0].outcomes[i].error_message, "URL too long"));
    }
    expect_numbering(&w[1], 1);
    assert_string_equal(status(&w[1].outcomes[0]), "SUCCEEDED");
    works_clear(w, 2);
    cb_ca_client_destroy(c);
}

/* The batch of the allocation-failure sweep: a revoke and recall of hr-80,
 * a review, a holder without certificates, and a recall of hr-70 (which
 * leaves its certificate active, so a live lookup finds it again). */
#define OOM_WORKS 4
static void oom_batch(cb_work_t *w)
{
    work_init(&w[0], "e-oom-1", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 800);
    add_intent(&w[0], CB_ACTION_REVOKE, CB_HOLDER_PERSON, "hr-80", NULL);
    add_intent(&w[0], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, "hr-80", NULL);
    work_init(&w[1], "e-oom-2", CB_EVENT_PERSON, CB_PERSON_JOINED, 801);
    add_intent(&w[1], CB_ACTION_REVIEW, CB_HOLDER_PERSON, "hr-81", NULL);
    work_init(&w[2], "e-oom-3", CB_EVENT_PERSON, CB_PERSON_DEPARTED, 802);
    add_intent(&w[2], CB_ACTION_REVOKE, CB_HOLDER_PERSON, "hr-nobody-80", NULL);
    work_init(&w[3], "e-oom-4", CB_EVENT_PERSON, CB_PERSON_CERTIFICATE_NOT_NEEDED, 803);
    add_intent(&w[3], CB_ACTION_RECALL_DEVICE, CB_HOLDER_PERSON, "hr-70", NULL);
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Asserts that two runs of the oom batch gave the same outcomes. */
static void expect_same_outcomes(const cb_work_t *a, const cb_work_t *b, long at)
{
    size_t i, k;

    for (i = 0; i < OOM_WORKS; i++) {
        if (a[i].outcome_count != b[i].outcome_count)
            fail_msg("allocation %ld: work %zu has %zu outcomes, the reference %zu", at, i,
                     b[i].outcome_count, a[i].outcome_count);
        for (k = 0; k < a[i].outcome_count; k++) {
            const cb_outcome_t *x = &a[i].outcomes[k], *y = &b[i].outcomes[k];
            if (x->status != y->status || x->action != y->action ||
                x->http_status != y->http_status || !same_str(x->outcome_id, y->outcome_id) ||
                !same_str(x->certificate_serial, y->certificate_serial) ||
                !same_str(x->device_id, y->device_id) || !same_str(x->error_code, y->error_code))
                fail_msg("allocation %ld: outcome %s is %s (%s: %s), the reference %s", at,
                         y->outcome_id, status(y), y->error_code ? y->error_code : "-",
                         y->error_message ? y->error_message : "-", status(x));
        }
    }
}

/* The lookups a run made durable, as the pipeline keeps them in the state
 * topic's W records: (work index, lookup). Copied with injection paused:
 * they stand for Kafka, not for the executor's memory. */
typedef struct durable {
    size_t work;
    cb_work_lookup_t l;
} durable_t;

static durable_t durables[16];
static size_t n_durables;
/* hr-80's lookup of the reference run: its certificate was revoked there,
 * so every later run is a replay that must get it back */
static cb_work_lookup_t first_lookup;

static void durables_clear(void)
{
    size_t i;

    for (i = 0; i < n_durables; i++)
        cb_work_lookup_clear(&durables[i].l);
    n_durables = 0;
}

static void attach_copy(cb_work_lookup_t *l, const cb_work_lookup_t *from)
{
    l->holder_key = strdup(from->holder_key);
    assert_int_equal(cb_work_certs_copy(from->certs, from->cert_count, &l->certs), 0);
    l->cert_count = from->cert_count;
}

static void attach(cb_work_t *x, const cb_work_lookup_t *from)
{
    cb_work_lookup_t *l;

    x->lookups = realloc(x->lookups, (x->n_lookups + 1) * sizeof(*x->lookups));
    l = &x->lookups[x->n_lookups++];
    l->holder_key = strdup(from->holder_key);
    assert_int_equal(cb_work_certs_copy(from->certs, from->cert_count, &l->certs), 0);
    l->cert_count = from->cert_count;
}

/* Takes the lookups the executor waits to have made durable, keeps copies,
 * and lets their calls go. */
static void durables_take(cb_executor_t *ex, const cb_work_t *w)
{
    const cb_executor_lookup_t *ls;
    size_t n = cb_executor_lookups_to_persist(ex, &ls), i;
    long saved = alloc_fail;

    alloc_fail = 0;
    for (i = 0; i < n; i++) {
        durable_t *d = &durables[n_durables++];
        assert_true(n_durables <= 16);
        d->work = (size_t)(ls[i].work - w);
        d->l.holder_key = strdup(ls[i].holder_key);
        assert_int_equal(cb_work_certs_copy(ls[i].certs, ls[i].cert_count, &d->l.certs), 0);
        d->l.cert_count = ls[i].cert_count;
    }
    alloc_fail = saved;
    if (n)
        cb_executor_lookups_persisted(ex);
}

/* A replay gets the durable lookups of the run before it. */
static void durables_attach(cb_work_t *w)
{
    size_t i;

    for (i = 0; i < n_durables; i++)
        if (durables[i].work != 0) /* hr-80: first_lookup, attached by oom_run */
            attach(&w[durables[i].work], &durables[i].l);
}

/* A run of the oom batch as the pipeline makes one: durable lookups, the
 * reference run's lookup of hr-80 given. */
static void oom_prepare(cb_work_t *w)
{
    oom_batch(w);
    attach(&w[0], &first_lookup);
}

/* Every allocation of a batch's run, from cb_executor_start to the end,
 * fails in turn (one per run). Each run must end in one of three ways, and
 * never abort: cb_executor_start answers -1 (CB_ERR_NOMEM); or
 * cb_executor_step answers -1 (CB_ERR_NOMEM, class ABORTABLE), again on the
 * next call, with no outcome left in the work items; or the failure hit the
 * CA client, which absorbed it (an answer it could not read), and the batch
 * finished. After each run the same executor, reset, replays the batch
 * without failures and must give exactly the outcomes of the reference run:
 * lookups are durable (the executor makes no call before its lookup was
 * taken to be made durable), the replay gets them back instead of a live
 * lookup, so it makes the same calls, and the CA answers replayed
 * Idempotency-Keys with their first answer. */
static void test_allocation_failures(void **state)
{
    cb_ca_client_t *c = client(&ca_oom, "", NULL);
    cb_work_t ref[OOM_WORKS], w[OOM_WORKS];
    cb_executor_t *ex;
    cb_error_t err;
    long at, start_failed = 0, step_failed = 0, absorbed = 0;
    int rc0;

    (void)state;
    oom_batch(ref);
    ex = cb_executor_new(c, NULL, &err);
    assert_non_null(ex);
    cb_executor_set_durable_lookups(ex, true);
    assert_int_equal(cb_executor_start(ex, ref, OOM_WORKS, &err), 0);
    while ((rc0 = cb_executor_step(ex, 5, &err)) == 0)
        durables_take(ex, ref);
    assert_int_equal(rc0, 1);
    /* two live lookups with calls, made durable before their calls: hr-80's
     * and hr-70's (hr-nobody-80 has no certificate, so no call waits) */
    assert_int_equal(n_durables, 2);
    {
        size_t k = durables[0].work == 0 ? 0 : 1;
        assert_int_equal(durables[k].work, 0);
        assert_int_equal(durables[1 - k].work, 3);
        assert_string_equal(durables[k].l.holder_key, "P:hr-80");
        assert_int_equal(durables[k].l.cert_count, 1);
        attach_copy(&first_lookup, &durables[k].l);
    }
    durables_clear();
    expect_numbering(&ref[0], 2);
    assert_string_equal(status(&ref[0].outcomes[0]), "SUCCEEDED");
    assert_string_equal(status(&ref[3].outcomes[0]), "SUCCEEDED");
    for (at = 1;; at++) {
        int rc;
        size_t i;

        oom_prepare(w);
        durables_clear();
        inject_at(at);
        rc = cb_executor_start(ex, w, OOM_WORKS, &err);
        if (rc < 0) {
            inject_at(0);
            assert_int_equal(err.code, CB_ERR_NOMEM);
            start_failed++;
        } else {
            int64_t deadline = cb_clock_mono_ms() + 120000;
            while ((rc = cb_executor_step(ex, 5, &err)) == 0) {
                durables_take(ex, w);
                if (cb_clock_mono_ms() > deadline)
                    fail_msg("allocation %ld: the batch did not finish", at);
            }
            inject_at(0);
            if (rc < 0) {
                step_failed++;
                assert_int_equal(err.code, CB_ERR_NOMEM);
                assert_int_equal(err.flags, CB_ERRF_ABORTABLE);
                assert_int_equal(cb_executor_step(ex, 0, &err), -1);
                assert_int_equal(err.code, CB_ERR_NOMEM);
                for (i = 0; i < OOM_WORKS; i++)
                    assert_int_equal(w[i].outcome_count, 0);
            } else if (!alloc_failed) {
                /* every allocation of the run was passed: the sweep is over */
                expect_same_outcomes(ref, w, at);
                works_clear(w, OOM_WORKS);
                break;
            } else {
                absorbed++;
                for (i = 0; i < OOM_WORKS; i++)
                    assert_int_equal(w[i].outcome_count, ref[i].outcome_count);
            }
        }
        /* the replay */
        cb_executor_reset(ex);
        works_clear(w, OOM_WORKS);
        oom_prepare(w);
        durables_attach(w);
        assert_int_equal(cb_executor_start(ex, w, OOM_WORKS, &err), 0);
        {
            int64_t deadline = cb_clock_mono_ms() + 120000;
            while ((rc = cb_executor_step(ex, 5, &err)) == 0) {
                durables_take(ex, w);
                if (cb_clock_mono_ms() > deadline)
                    fail_msg("allocation %ld: the replay did not finish", at);
            }
            if (rc < 0)
                fail_msg("allocation %ld: the replay failed: %s", at, err.msg);
        }
        expect_same_outcomes(ref, w, at);
        works_clear(w, OOM_WORKS);
    }
    durables_clear();
    cb_work_lookup_clear(&first_lookup);
    print_message("allocation failures: %ld runs; cb_executor_start failed %ld, "
                  "cb_executor_step failed %ld, absorbed by the CA client %ld\n",
                  at, start_failed, step_failed, absorbed);
    assert_true(start_failed > 0 && step_failed > 0);
    cb_executor_destroy(ex);
    works_clear(ref, OOM_WORKS);
    cb_ca_client_destroy(c);
}

/* ---- lookups over several pages ----------------------------------------- */

/* An organization-rename cascade over org's persons (offset `at`), the
 * organization's new name `name`. */
static void cascade_over(cb_work_t *w, const char *id, int64_t at, const char *org,
                         const char *name)
{
    cb_intent_t *in;

    work_init(w, id, CB_EVENT_ORG, CB_ORG_RENAMED, at);
    in = add_intent(w, CB_ACTION_CHANGE_INFO, CB_HOLDER_PERSON, NULL, NULL);
    in->cascade_org_code = strdup(org);
    in->cascade_org = calloc(1, sizeof(cb_org_t));
    in->cascade_org->code = strdup(org);
    in->cascade_org->name = strdup(name);
    in->cascade_org->parent_name = strdup("Ủy ban nhân dân tỉnh Đồng Nai");
    in->cascade_org->province = strdup("Tỉnh Đồng Nai");
}

/* An organization-rename cascade over PAGED_ORG's persons (offset `at`). */
static void cascade_work(cb_work_t *w, const char *id, int64_t at)
{
    cascade_over(w, id, at, PAGED_ORG, "Sở Sáu Mươi Mới");
}

/* A cascade over RACE_ORG and a person joining RACE_ORG in the same batch,
 * the cascade first in batch order: the cascade's lookup waits until the
 * person's certificate is issued (with RACE_ORG as its organization), so
 * the walk lists it and renames it with the two others. Before, both went
 * at once (two requests in flight) and the new certificate kept the old
 * name. */
static void test_cascade_after_persons(void **state)
{
    cb_ca_client_t *c = client(&ca_main, "", NULL);
    cb_executor_t *ex;
    cb_work_t w[2];
    cb_error_t err;
    size_t k, renamed_new = 0;

    (void)state;
    cascade_over(&w[0], "e-race-1", 750, RACE_ORG, "Sở Bảy Lăm Mới");
    work_init(&w[1], "e-race-2", CB_EVENT_PERSON, CB_PERSON_JOINED, 751);
    w[1].ev.org.code = strdup(RACE_ORG);
    add_intent(&w[1], CB_ACTION_ISSUE, CB_HOLDER_PERSON, "hr-75c",
               PERSON_SUBJECT("Lưu Văn Sơn", "Sở Bảy Lăm"));

    ex = cb_executor_new(c, NULL, &err);
    assert_non_null(ex);
    assert_int_equal(cb_executor_start(ex, w, 2, &err), 0);
    assert_int_equal(kill(ca_main.pid, SIGSTOP), 0);
    assert_int_equal(cb_executor_step(ex, 0, &err), 0);
    assert_int_equal(cb_ca_pending(c), 1); /* the issue only: the cascade waits for it */
    assert_int_equal(kill(ca_main.pid, SIGCONT), 0);
    run_batch(ex);
    cb_executor_destroy(ex);

    expect_numbering(&w[1], 1);
    assert_string_equal(status(&w[1].outcomes[0]), "SUCCEEDED");
    expect_numbering(&w[0], 3);
    for (k = 0; k < 3; k++) {
        const cb_outcome_t *o = &w[0].outcomes[k];
        assert_int_equal(o->action, CB_ACTION_CHANGE_INFO);
        assert_string_equal(status(o), "SUCCEEDED");
        if (!strcmp(o->holder_id, "hr-75c")) {
            assert_string_equal(o->certificate_serial, w[1].outcomes[0].new_certificate_serial);
            renamed_new++;
        }
    }
    assert_int_equal(renamed_new, 1);
    works_clear(w, 2);
    cb_ca_client_destroy(c);
}

/* Runs works[0..n) on ex to the end, taking the lookups it hands over to be
 * made durable (durables_take). */
static void run_durable(cb_executor_t *ex, cb_work_t *w, size_t n)
{
    int64_t deadline = cb_clock_mono_ms() + 120000;
    cb_error_t err;
    int rc;

    assert_int_equal(cb_executor_start(ex, w, n, &err), 0);
    while ((rc = cb_executor_step(ex, 5, &err)) == 0) {
        durables_take(ex, w);
        if (cb_clock_mono_ms() > deadline)
            fail_msg("the batch did not finish within 120 s");
    }
    if (rc < 0)
        fail_msg("cb_executor_step: %s", err.msg);
}

/* The index of the person hr-60-NN an outcome names. */
static size_t paged_person(const cb_outcome_t *o)
{
    unsigned i = PAGED_PERSONS;

    assert_non_null(o->holder_id);
    assert_int_equal(sscanf(o->holder_id, "hr-60-%u", &i), 1);
    assert_true(i < PAGED_PERSONS);
    return i;
}

/* A cascade over an organization whose persons take several pages (23
 * certificates at 5 a page: 5 pages). With a limit of 22 certificates per
 * lookup the step fails lookup_too_large, no call made. Without it, the
 * lookup follows every page before any call and hands the whole answer
 * over to be made durable at once; every certificate gets exactly one
 * CHANGE_INFO. A replay given that lookup makes the same calls with the
 * same keys: the CA answers them with their first answers and changes
 * nothing more. */
static void test_cascade_pages(void **state)
{
    cb_ca_client_t *c = client(&ca_main, "", NULL);
    cb_work_t w[1], replay[1];
    cb_work_lookup_t given;
    cb_ca_req_t before, after, again;
    cb_executor_t *ex;
    cb_error_t err;
    size_t k, j, seen[PAGED_PERSONS] = {0};

    (void)state;
    lookup(c, CB_HOLDER_PERSON, NULL, PAGED_ORG, &before);
    assert_int_equal(before.cert_count, PAGED_PERSONS);
    ex = cb_executor_new(c, NULL, &err);
    assert_non_null(ex);
    cb_executor_set_durable_lookups(ex, true);

    /* over the limit: one FAILED outcome, nothing handed over, no call */
    durables_clear();
    cb_executor_set_lookup_limits(ex, 5, PAGED_PERSONS - 1);
    cascade_work(&w[0], "e-pages-0", 900);
    run_durable(ex, w, 1);
    assert_int_equal(n_durables, 0);
    expect_numbering(&w[0], 1);
    assert_int_equal(w[0].outcomes[0].action, CB_ACTION_CHANGE_INFO);
    assert_string_equal(status(&w[0].outcomes[0]), "FAILED");
    assert_string_equal(w[0].outcomes[0].error_code, "lookup_too_large");
    assert_string_equal(w[0].outcomes[0].error_message,
                        "the CA lists 23 active certificates for C:" PAGED_ORG
                        "; one lookup takes at most 22 (docs/ARCHITECTURE.md §7)");
    assert_string_equal(w[0].outcomes[0].holder_id, PAGED_ORG);
    assert_null(w[0].outcomes[0].certificate_serial);
    works_clear(w, 1);
    lookup(c, CB_HOLDER_PERSON, NULL, PAGED_ORG, &after);
    for (k = 0; k < PAGED_PERSONS; k++)
        assert_string_equal(after.certs[k].serial, before.certs[k].serial);
    cb_ca_req_clear(&after);

    /* every page, then the calls */
    cb_executor_set_lookup_limits(ex, 5, CB_EXECUTOR_LOOKUP_MAX);
    cascade_work(&w[0], "e-pages-1", 901);
    run_durable(ex, w, 1);
    assert_int_equal(n_durables, 1);
    assert_string_equal(durables[0].l.holder_key, "C:" PAGED_ORG);
    assert_int_equal(durables[0].l.cert_count, PAGED_PERSONS);
    for (k = 0; k < PAGED_PERSONS; k++)
        for (j = 0; j < k; j++)
            assert_string_not_equal(durables[0].l.certs[k].serial, durables[0].l.certs[j].serial);
    attach_copy(&given, &durables[0].l);
    durables_clear();
    expect_numbering(&w[0], PAGED_PERSONS);
    lookup(c, CB_HOLDER_PERSON, NULL, PAGED_ORG, &after);
    assert_int_equal(after.cert_count, PAGED_PERSONS);
    for (k = 0; k < PAGED_PERSONS; k++) {
        const cb_outcome_t *o = &w[0].outcomes[k];
        size_t p = paged_person(o), b, a;
        assert_int_equal(o->action, CB_ACTION_CHANGE_INFO);
        assert_string_equal(status(o), "SUCCEEDED");
        seen[p]++;
        for (b = 0; b < PAGED_PERSONS && strcmp(before.certs[b].serial, o->certificate_serial); b++)
            ;
        for (a = 0; a < PAGED_PERSONS && strcmp(after.certs[a].serial, o->new_certificate_serial);
             a++)
            ;
        assert_true(b < PAGED_PERSONS && a < PAGED_PERSONS);
        assert_string_equal(before.certs[b].holder_id, o->holder_id);
        assert_string_equal(after.certs[a].holder_id, o->holder_id);
        assert_non_null(strstr(after.certs[a].subject, "OU=Sở Sáu Mươi Mới,"));
    }
    for (k = 0; k < PAGED_PERSONS; k++)
        assert_int_equal(seen[k], 1);

    /* the replay, given the durable lookup: the same calls and answers */
    cascade_work(&replay[0], "e-pages-1", 901);
    attach(&replay[0], &given);
    run_durable(ex, replay, 1);
    assert_int_equal(n_durables, 0);
    expect_numbering(&replay[0], PAGED_PERSONS);
    for (k = 0; k < PAGED_PERSONS; k++) {
        const cb_outcome_t *x = &w[0].outcomes[k], *y = &replay[0].outcomes[k];
        assert_string_equal(status(y), "SUCCEEDED");
        assert_string_equal(y->holder_id, x->holder_id);
        assert_string_equal(y->certificate_serial, x->certificate_serial);
        assert_string_equal(y->new_certificate_serial, x->new_certificate_serial);
    }
    lookup(c, CB_HOLDER_PERSON, NULL, PAGED_ORG, &again);
    assert_int_equal(again.cert_count, PAGED_PERSONS);
    for (k = 0; k < PAGED_PERSONS; k++)
        assert_string_equal(again.certs[k].serial, after.certs[k].serial);
    cb_work_lookup_clear(&given);
    cb_ca_req_clear(&before);
    cb_ca_req_clear(&after);
    cb_ca_req_clear(&again);
    works_clear(w, 1);
    works_clear(replay, 1);
    cb_executor_destroy(ex);
    cb_ca_client_destroy(c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolution),     cmocka_unit_test(test_order),
        cmocka_unit_test(test_answers),        cmocka_unit_test(test_pending),
        cmocka_unit_test(test_lookup_refused), cmocka_unit_test(test_retry),
        cmocka_unit_test(test_client_refusal), cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_cascade_pages),  cmocka_unit_test(test_cascade_after_persons),
    };

    if (argc != 2) {
        fprintf(stderr, "usage: test_executor PATH/TO/certbridge-refca\n");
        return 2;
    }
    refca_bin = argv[1];
    return cmocka_run_group_tests(tests, start_cas, stop_cas);
}
