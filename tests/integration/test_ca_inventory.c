/*
 * test_ca_inventory.c: pages of the CA API (ca_client.h "Pages",
 * ca_inventory.h) against reference CAs this test starts.
 *
 *   test_ca_inventory REFCA_BIN
 *
 * The big CA holds 5,000 personal certificates of one organization (the
 * cascade of issue 17) and 300 with ids of 1,000 bytes; the small one
 * a few holders in two provinces, for filters, snapshots and tokens.
 */
#include "../unit/cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/refca_proc.h"
#include "certbridge/ca_client.h"
#include "certbridge/ca_inventory.h"
#include "certbridge/config.h"

#define BIG_ORG_PERSONS 5000
#define LONG_SUBJECTS   300

static const char *refca_bin;
static refca_proc_t big, small;

/* The big CA's inventory: 5,000 persons of 000.00.20.H54, then 300 of
 * 000.00.21.H54 whose holder and token ids are 1,000 bytes long (an X.509
 * name's attributes are short, ids are not), so that 500 of them do not fit
 * in one CB_CA_BODY_MAX answer. Caller frees. */
static char *big_inventory(void)
{
    size_t cap = (size_t)BIG_ORG_PERSONS * 400 + (size_t)LONG_SUBJECTS * 1800, len = 0;
    char *s = malloc(cap), longname[1400];
    int i, n;

    if (!s)
        return NULL;
    for (i = 0; i < 1000; i++)
        longname[i] = "Trung tam Hanh chinh cong "[i % 26];
    longname[1000] = '\0';
    for (i = 1; i <= BIG_ORG_PERSONS; i++) {
        n = snprintf(s + len, cap - len,
                     "{\"holder_type\":\"PERSON\",\"holder_id\":\"QT-BIG-%05d\",\"org_code\":"
                     "\"000.00.20.H54\",\"subject\":\"CN=Nguyễn Văn %d,title=Chuyên viên,"
                     "OU=Sở Giáo dục và Đào tạo tỉnh Quảng Trị,O=Ủy ban nhân dân tỉnh Quảng Trị,"
                     "L=Tỉnh Quảng Trị,C=VN\",\"device_id\":\"TK-BIG-%05d\"}\n",
                     i, i, i);
        if (n < 0 || (size_t)n >= cap - len)
            return free(s), NULL;
        len += (size_t)n;
    }
    for (i = 1; i <= LONG_SUBJECTS; i++) {
        n = snprintf(s + len, cap - len,
                     "{\"holder_type\":\"PERSON\",\"holder_id\":\"QT-LONG-%03d-%s\",\"org_code\":"
                     "\"000.00.21.H54\",\"subject\":\"CN=Người %d,OU=Phòng %d,"
                     "L=Tỉnh Quảng Trị,C=VN\",\"device_id\":\"TK-LONG-%03d-%s\"}\n",
                     i, longname, i, i, i, longname);
        if (n < 0 || (size_t)n >= cap - len)
            return free(s), NULL;
        len += (size_t)n;
    }
    return s;
}

static const char small_inventory[] =
    "{\"holder_type\":\"ORGANIZATION\",\"holder_id\":\"000.00.01.H54\",\"subject\":\"CN=Sở Nội vụ "
    "tỉnh Quảng Trị,O=Ủy ban nhân dân tỉnh Quảng Trị,L=Tỉnh Quảng Trị,C=VN\",\"device_id\":"
    "\"TK-S-1\"}\n"
    "{\"holder_type\":\"ORGANIZATION\",\"holder_id\":\"000.00.02.H54\",\"subject\":\"CN=Sở Y tế "
    "tỉnh Quảng Trị,O=Ủy ban nhân dân tỉnh Quảng Trị,L=Tỉnh Quảng Trị,C=VN\",\"device_id\":"
    "\"TK-S-2\"}\n"
    "{\"holder_type\":\"ORGANIZATION\",\"holder_id\":\"000.00.01.H19\",\"subject\":\"CN=Sở Nội vụ "
    "tỉnh Đồng Nai,O=Ủy ban nhân dân tỉnh Đồng Nai,L=Tỉnh Đồng Nai,C=VN\",\"device_id\":"
    "\"TK-S-3\"}\n"
    "{\"holder_type\":\"PERSON\",\"holder_id\":\"QT-1\",\"org_code\":\"000.00.01.H54\",\"subject\":"
    "\"CN=Lê Văn A,OU=Sở Nội vụ tỉnh Quảng Trị,L=Tỉnh Quảng Trị,C=VN\",\"device_id\":\"TK-S-4\"}\n"
    "{\"holder_type\":\"PERSON\",\"holder_id\":\"QT-2\",\"org_code\":\"000.00.01.H54\",\"subject\":"
    "\"CN=Lê Văn B,OU=Sở Nội vụ tỉnh Quảng Trị,L=Tỉnh Quảng Trị,C=VN\",\"device_id\":\"TK-S-5\"}\n"
    "{\"holder_type\":\"PERSON\",\"holder_id\":\"QT-3\",\"org_code\":\"000.00.02.H54\",\"subject\":"
    "\"CN=Lê Văn C,OU=Sở Y tế tỉnh Quảng Trị,L=Tỉnh Quảng Trị,C=VN\",\"device_id\":\"TK-S-6\"}\n"
    "{\"holder_type\":\"PERSON\",\"holder_id\":\"DN-1\",\"org_code\":\"000.00.01.H19\",\"subject\":"
    "\"CN=Trần Thị D,OU=Sở Nội vụ tỉnh Đồng Nai,L=Tỉnh Đồng Nai,C=VN\",\"device_id\":\"TK-S-7\"}\n";

#define SMALL_CERTS 7

static cb_ca_client_t *client_for(const refca_proc_t *ca)
{
    cb_config_t *cfg = cb_config_new();
    cb_ca_client_t *c;
    cb_error_t err;

    assert_non_null(cfg);
    assert_int_equal(cb_config_set(cfg, "ca.url", ca->url, &err), 0);
    assert_int_equal(cb_config_set(cfg, "ca.tls.cert", ca->cert, &err), 0);
    assert_int_equal(cb_config_set(cfg, "ca.tls.key", ca->key, &err), 0);
    assert_int_equal(cb_config_set(cfg, "ca.tls.ca_bundle", ca->ca_bundle, &err), 0);
    c = cb_ca_client_new(cfg, &err);
    cb_config_destroy(cfg);
    if (!c)
        fail_msg("cb_ca_client_new: %s", err.msg);
    return c;
}

/* Walks q over c: the number of items, each serial (or device id) added to
 * seen (a sorted check for duplicates at the end); largest page seen. */
typedef struct walk {
    size_t items, pages, largest;
    char **ids;
    int64_t total;
    int final_page_size;
} walk_t;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(cb_ca_client_t *c, const cb_ca_inventory_query_t *q, walk_t *w)
{
    cb_ca_inventory_t *it;
    const cb_ca_req_t *page;
    cb_error_t err;
    size_t i, cap = 8192;
    int r;

    memset(w, 0, sizeof(*w));
    w->ids = calloc(cap, sizeof(char *));
    assert_non_null(w->ids);
    it = cb_ca_inventory_new(c, q, &err);
    if (!it)
        fail_msg("inventory: %s", err.msg);
    while ((r = cb_ca_inventory_next(it, &page, &err)) == 1) {
        size_t n = q->devices ? page->device_count : page->cert_count;
        w->pages++;
        if (n > w->largest)
            w->largest = n;
        for (i = 0; i < n; i++) {
            assert_true(w->items < cap);
            w->ids[w->items++] =
                strdup(q->devices ? page->devices[i].device_id : page->certs[i].serial);
        }
    }
    if (r < 0)
        fail_msg("walk: %s", err.msg);
    w->total = cb_ca_inventory_total(it);
    w->final_page_size = cb_ca_inventory_page_size(it);
    assert_int_equal(cb_ca_inventory_items(it), w->items);
    cb_ca_inventory_destroy(it);
    qsort(w->ids, w->items, sizeof(char *), cmp_str);
    for (i = 1; i < w->items; i++)
        if (!strcmp(w->ids[i - 1], w->ids[i]))
            fail_msg("%s listed twice", w->ids[i]);
}

static void walk_free(walk_t *w)
{
    size_t i;

    for (i = 0; i < w->items; i++)
        free(w->ids[i]);
    free(w->ids);
}

static bool walk_has(const walk_t *w, const char *id)
{
    return bsearch(&id, w->ids, w->items, sizeof(char *), cmp_str) != NULL;
}

/* The issue's case: one organization with 5,000 personal certificates. The
 * first form of the lookup (one answer) fails with body_too_large; pages
 * list every one of them, at most a page at a time. */
static void test_cascade_5000(void **state)
{
    cb_ca_client_t *c = client_for(&big);
    cb_ca_inventory_query_t q = {.holder_type = CB_HOLDER_PERSON, .org_code = "000.00.20.H54"};
    cb_ca_req_t r;
    cb_error_t err;
    walk_t w;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_LOOKUP;
    r.holder_type = CB_HOLDER_PERSON;
    r.org_code = "000.00.20.H54";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_string_equal(r.error_code, "body_too_large");
    cb_ca_req_clear(&r);

    walk(c, &q, &w);
    assert_int_equal(w.items, BIG_ORG_PERSONS);
    assert_int_equal(w.total, BIG_ORG_PERSONS);
    assert_int_equal(w.largest, CB_CA_PAGE_SIZE_DEFAULT);
    assert_int_equal(w.pages, BIG_ORG_PERSONS / CB_CA_PAGE_SIZE_DEFAULT);
    walk_free(&w);
    cb_ca_client_destroy(c);
}

/* Pages whose answer would exceed CB_CA_BODY_MAX are asked for again with
 * half the size; nothing is lost or listed twice. */
static void test_halving(void **state)
{
    cb_ca_client_t *c = client_for(&big);
    cb_ca_inventory_query_t q = {.any_holder_type = true, .page_size = CB_CA_PAGE_SIZE_MAX};
    walk_t w;

    (void)state;
    walk(c, &q, &w);
    assert_int_equal(w.items, BIG_ORG_PERSONS + LONG_SUBJECTS);
    assert_int_equal(w.total, BIG_ORG_PERSONS + LONG_SUBJECTS);
    /* 500 certificates with 2 KB of ids do not fit in 256 KiB; 125 do */
    assert_true(w.final_page_size < CB_CA_PAGE_SIZE_MAX);
    assert_true(w.final_page_size >= 62);
    assert_int_equal(w.largest, CB_CA_PAGE_SIZE_MAX); /* the small subjects' pages came whole */
    walk_free(&w);
    cb_ca_client_destroy(c);
}

/* Filters: holder type, organization, province, status. */
static void test_filters(void **state)
{
    cb_ca_client_t *c = client_for(&small);
    cb_ca_inventory_query_t all = {.any_holder_type = true, .page_size = 2};
    cb_ca_inventory_query_t persons = {.holder_type = CB_HOLDER_PERSON, .page_size = 2};
    cb_ca_inventory_query_t org = {.holder_type = CB_HOLDER_PERSON, .org_code = "000.00.01.H54"};
    cb_ca_inventory_query_t dn = {.any_holder_type = true, .province = "Tỉnh Đồng Nai"};
    cb_ca_inventory_query_t revoked = {.any_holder_type = true, .status = "revoked"};
    walk_t w;

    (void)state;
    walk(c, &all, &w);
    assert_int_equal(w.items, SMALL_CERTS);
    assert_int_equal(w.pages, 4); /* 2 + 2 + 2 + 1 */
    walk_free(&w);
    walk(c, &persons, &w);
    assert_int_equal(w.items, 4);
    walk_free(&w);
    walk(c, &org, &w);
    assert_int_equal(w.items, 2);
    walk_free(&w);
    walk(c, &dn, &w);
    assert_int_equal(w.items, 2);
    walk_free(&w);
    walk(c, &revoked, &w);
    assert_int_equal(w.items, 0);
    assert_int_equal(w.pages, 1); /* one empty page */
    walk_free(&w);
    cb_ca_client_destroy(c);
}

/* A walk never lists what was issued after its first page; a keyed walk
 * answers the same pages again after a certificate it listed was revoked. */
static void test_snapshots(void **state)
{
    cb_ca_client_t *c = client_for(&small);
    cb_ca_inventory_query_t q = {
        .any_holder_type = true, .page_size = 3, .idempotency_key = "reconcile-test-walk-1"};
    cb_ca_inventory_query_t fresh = {.any_holder_type = true, .page_size = 3};
    cb_ca_inventory_t *it;
    const cb_ca_req_t *page;
    cb_ca_req_t r;
    cb_error_t err;
    char first_serial[64], *issued;
    walk_t w;
    size_t n = 0;
    int rc;

    (void)state;
    it = cb_ca_inventory_new(c, &fresh, &err);
    assert_non_null(it);
    assert_int_equal(cb_ca_inventory_next(it, &page, &err), 1);
    n += page->cert_count;
    /* a certificate issued while the walk goes on */
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_ISSUE;
    r.holder_type = CB_HOLDER_PERSON;
    r.holder_id = "QT-NEW";
    r.subject = "CN=Người Mới,L=Tỉnh Quảng Trị,C=VN";
    memcpy(r.idempotency_key, "issue-during-walk", 18);
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    issued = strdup(r.new_serial);
    cb_ca_req_clear(&r);
    while ((rc = cb_ca_inventory_next(it, &page, &err)) == 1)
        for (size_t i = 0; i < page->cert_count; i++, n++)
            assert_string_not_equal(page->certs[i].serial, issued);
    assert_int_equal(rc, 0);
    assert_int_equal(n, SMALL_CERTS);
    cb_ca_inventory_destroy(it);
    walk(c, &fresh, &w); /* a new walk sees it */
    assert_int_equal(w.items, SMALL_CERTS + 1);
    assert_true(walk_has(&w, issued));
    walk_free(&w);

    /* keyed: the second walk with the same key answers the stored pages */
    walk(c, &q, &w);
    assert_int_equal(w.items, SMALL_CERTS + 1);
    snprintf(first_serial, sizeof(first_serial), "%s", w.ids[0]);
    walk_free(&w);
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_REVOKE;
    r.serial = first_serial;
    r.reason = CB_REASON_CESSATION_OF_OPERATION;
    memcpy(r.idempotency_key, "revoke-after-walk", 18);
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    cb_ca_req_clear(&r);
    walk(c, &q, &w);
    assert_int_equal(w.items, SMALL_CERTS + 1);
    assert_true(walk_has(&w, first_serial));
    walk_free(&w);
    walk(c, &fresh, &w);
    assert_int_equal(w.items, SMALL_CERTS);
    assert_false(walk_has(&w, first_serial));
    walk_free(&w);
    free(issued);
    cb_ca_client_destroy(c);
}

/* Calls op on device with a key; answers the class and copies the error. */
static cb_ca_class_t device_call(cb_ca_client_t *c, cb_ca_op_t op, const char *device,
                                 const char *key, char *code, size_t size)
{
    cb_ca_req_t r;
    cb_error_t err;
    cb_ca_class_t k;

    memset(&r, 0, sizeof(r));
    r.op = op;
    r.device_id = device;
    snprintf(r.idempotency_key, sizeof(r.idempotency_key), "%s", key);
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    k = r.klass;
    snprintf(code, size, "%s", r.error_code ? r.error_code : "");
    cb_ca_req_clear(&r);
    return k;
}

/* Recalled tokens, their return, and the list of those still out. */
static void test_tokens(void **state)
{
    cb_ca_client_t *c = client_for(&small);
    cb_ca_inventory_query_t out = {.devices = true, .page_size = 1};
    cb_ca_inventory_query_t back = {.devices = true, .status = "returned"};
    cb_ca_inventory_query_t any = {.devices = true, .status = "any"};
    char code[64];
    walk_t w;

    (void)state;
    assert_int_equal(device_call(c, CB_CA_RETURNED, "TK-S-4", "ret-0", code, sizeof(code)),
                     CB_CA_PERMANENT);
    assert_string_equal(code, "DEVICE_NOT_RECALLED");
    assert_int_equal(device_call(c, CB_CA_RECALL, "TK-S-4", "rec-1", code, sizeof(code)),
                     CB_CA_SUCCESS);
    assert_int_equal(device_call(c, CB_CA_RECALL, "TK-S-5", "rec-2", code, sizeof(code)),
                     CB_CA_SUCCESS);
    assert_int_equal(device_call(c, CB_CA_RECALL, "TK-S-6", "rec-3", code, sizeof(code)),
                     CB_CA_SUCCESS);
    assert_int_equal(device_call(c, CB_CA_RETURNED, "TK-S-5", "ret-1", code, sizeof(code)),
                     CB_CA_SUCCESS);
    assert_int_equal(device_call(c, CB_CA_RETURNED, "TK-S-5", "ret-2", code, sizeof(code)),
                     CB_CA_ALREADY);
    assert_int_equal(device_call(c, CB_CA_RETURNED, "TK-NOPE", "ret-3", code, sizeof(code)),
                     CB_CA_PERMANENT);
    assert_string_equal(code, "DEVICE_NOT_FOUND");
    walk(c, &out, &w);
    assert_int_equal(w.items, 2);
    assert_true(walk_has(&w, "TK-S-4"));
    assert_true(walk_has(&w, "TK-S-6"));
    assert_int_equal(w.pages, 2);
    walk_free(&w);
    walk(c, &back, &w);
    assert_int_equal(w.items, 1);
    assert_true(walk_has(&w, "TK-S-5"));
    walk_free(&w);
    walk(c, &any, &w);
    assert_int_equal(w.items, 3);
    walk_free(&w);
    cb_ca_client_destroy(c);
}

static int setup(void **state)
{
    char *inv = big_inventory();

    (void)state;
    if (!inv || refca_proc_start(&big, refca_bin, inv, NULL) < 0 ||
        refca_proc_start(&small, refca_bin, small_inventory, NULL) < 0) {
        free(inv);
        return -1;
    }
    free(inv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    refca_proc_stop(&big);
    refca_proc_stop(&small);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cascade_5000), cmocka_unit_test(test_halving),
        cmocka_unit_test(test_filters),      cmocka_unit_test(test_snapshots),
        cmocka_unit_test(test_tokens),
    };

    if (argc < 2) {
        fprintf(stderr, "usage: %s REFCA_BIN\n", argv[0]);
        return 2;
    }
    refca_bin = argv[1];
    return cmocka_run_group_tests(tests, setup, teardown);
}
