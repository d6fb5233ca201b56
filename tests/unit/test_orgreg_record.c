/* test_orgreg_record.c: the registry topic's records of org events
 * (orgreg_record.h), read back by the registry's own JSONL reader the way
 * `certbridge reconcile --registry-topic` does: a rename, a merger of three
 * organizations into one of them, a dissolution, a later record of the same
 * code winning, and no record for a cancellation or a person event. */
#include "cb_test.h"

#include <stdlib.h>
#include <string.h>

#include "certbridge/orgreg.h"
#include "certbridge/orgreg_record.h"

static void org_set(cb_org_t *o, const char *code, const char *name, const char *parent)
{
    o->code = strdup(code);
    o->name = strdup(name);
    o->parent_code = parent ? strdup(parent) : NULL;
    o->parent_name = parent ? strdup("Ủy ban nhân dân tỉnh Đồng Nai") : NULL;
    o->province = strdup("Tỉnh Đồng Nai");
}

static void org_event(cb_event_t *ev, const char *id, int type, const char *code, const char *name)
{
    cb_event_init(ev);
    ev->kind = CB_EVENT_ORG;
    ev->type = type;
    ev->event_id = strdup(id);
    ev->effective_date = 20270; /* 2025-07-01 */
    ev->occurred_at_ms = 1751000000000;
    org_set(&ev->org, code, name, "000.00.00.H19");
}

/* Loads every record of recs, in order, into a new finished registry. */
static cb_orgreg_t *read_back(const cb_orgreg_recs_t *recs)
{
    cb_orgreg_t *r = cb_orgreg_new();
    cb_error_t err;
    size_t i;

    assert_non_null(r);
    for (i = 0; i < recs->n; i++)
        if (cb_orgreg_load(r, recs->v[i].key, recs->v[i].value, recs->v[i].value_len,
                           CB_ORGREG_JSONL, &err) < 0)
            fail_msg("record %zu (%s): %s", i, recs->v[i].value, err.msg);
    if (cb_orgreg_finish(r, &err) < 0)
        fail_msg("finish: %s", err.msg);
    return r;
}

static void test_records(void **state)
{
    cb_event_t ev[6];
    cb_orgreg_recs_t recs = {0};
    cb_orgreg_t *reg;
    const cb_orgreg_org_t *o;
    cb_error_t err;
    size_t i;

    (void)state;
    org_event(&ev[0], "e-1", CB_ORG_RENAMED, "000.00.11.H19", "Sở Mười Một Cũ");
    org_event(&ev[1], "e-2", CB_ORG_MERGED, "000.00.21.H19", "Sở Hai Mốt Mới");
    ev[1].merged_count = 3;
    ev[1].merged_orgs = calloc(3, sizeof(cb_org_t));
    org_set(&ev[1].merged_orgs[0], "000.00.21.H19", "Sở Hai Mốt", "000.00.00.H19");
    org_set(&ev[1].merged_orgs[1], "000.00.22.H19", "Sở Hai Hai", "000.00.00.H19");
    org_set(&ev[1].merged_orgs[2], "000.00.23.H19", "Sở \"Hai\" Ba", NULL);
    org_event(&ev[2], "e-3", CB_ORG_DISSOLVED, "000.00.31.H19", "Sở Ba Mốt");
    org_event(&ev[3], "e-4", CB_ORG_RENAMED, "000.00.11.H19", "Sở Mười Một Mới");
    org_event(&ev[4], "e-5", CB_ORG_CANCELLED, "000.00.11.H19", "Sở Mười Một Mới");
    cb_event_init(&ev[5]);
    ev[5].kind = CB_EVENT_PERSON;
    ev[5].type = CB_PERSON_TRANSFERRED;
    org_set(&ev[5].org, "000.00.41.H19", "Sở Bốn Mốt", NULL);
    for (i = 0; i < 6; i++)
        assert_int_equal(cb_orgreg_event_records(&ev[i], &recs, &err), 0);

    /* 1 + (2 merged away + the result) + 1 + 1; none for the last two */
    assert_int_equal(recs.n, 6);
    assert_string_equal(recs.v[0].key, "000.00.11.H19");
    assert_string_equal(recs.v[0].value,
                        "{\"code\":\"000.00.11.H19\",\"name\":\"Sở Mười Một Cũ\","
                        "\"parent_code\":\"000.00.00.H19\",\"parent_name\":\"Ủy ban nhân dân tỉnh "
                        "Đồng Nai\",\"province\":\"Tỉnh Đồng Nai\",\"status\":\"ACTIVE\","
                        "\"event_id\":\"e-1\",\"effective_date\":\"2025-07-01\","
                        "\"occurred_at\":1751000000000}");
    assert_string_equal(recs.v[1].key, "000.00.22.H19");
    assert_string_equal(recs.v[2].key, "000.00.23.H19");
    assert_string_equal(recs.v[3].key, "000.00.21.H19");

    reg = read_back(&recs);
    o = cb_orgreg_org(reg, "000.00.11.H19"); /* the later rename wins */
    assert_non_null(o);
    assert_string_equal(o->name, "Sở Mười Một Mới");
    assert_int_equal(o->status, CB_ORGST_ACTIVE);
    o = cb_orgreg_org(reg, "000.00.23.H19");
    assert_non_null(o);
    assert_int_equal(o->status, CB_ORGST_MERGED);
    assert_string_equal(o->successor, "000.00.21.H19");
    assert_string_equal(o->name, "Sở \"Hai\" Ba");
    assert_ptr_equal(cb_orgreg_successor(reg, o), cb_orgreg_org(reg, "000.00.21.H19"));
    o = cb_orgreg_org(reg, "000.00.21.H19");
    assert_non_null(o);
    assert_int_equal(o->status, CB_ORGST_ACTIVE);
    assert_string_equal(o->name, "Sở Hai Mốt Mới");
    o = cb_orgreg_org(reg, "000.00.31.H19");
    assert_non_null(o);
    assert_int_equal(o->status, CB_ORGST_DISSOLVED);
    assert_null(cb_orgreg_org(reg, "000.00.41.H19"));
    cb_orgreg_destroy(reg);
    cb_orgreg_recs_free(&recs);
    assert_int_equal(recs.n, 0);
    for (i = 0; i < 6; i++)
        cb_event_clear(&ev[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
