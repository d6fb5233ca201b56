/* test_report.c: the report's aggregation and writers on outcomes in memory
 * (no Kafka): exact counts by action, status and organization, duplicates,
 * the cascade and personal groups, open items, tokens, the ages of pending
 * actions in working time and the overdue set, the exact terminal table,
 * JSON, and an HTML page that escapes what it shows and loads nothing. */
#include "cb_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certbridge/report.h"
#include "certbridge/text.h"

#define T0 1767225600000LL /* 2026-01-01 00:00 UTC */

static char *sdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* One outcome; strings copied (the outcome owns them). */
static void mk(cb_outcome_t *o, const char *event, int idx, const char *type, cb_action_t a,
               cb_holder_type_t ht, const char *hid, const char *hname, cb_outcome_status_t st)
{
    char id[128];

    cb_outcome_init(o);
    snprintf(id, sizeof(id), "%s/%d", event, idx);
    o->outcome_id = sdup(id);
    o->source_event_id = sdup(event);
    o->source_event_type = sdup(type);
    o->source_topic = sdup("hr.org-events");
    o->action_index = idx;
    o->action = a;
    o->holder_type = ht;
    o->holder_id = sdup(hid);
    o->holder_name = sdup(hname);
    o->status = st;
    o->processed_at_ms = T0 + 60000;
    if (st != CB_STATUS_SKIPPED && st != CB_STATUS_NEEDS_REVIEW)
        o->http_status = 200;
}

#define ORG    CB_HOLDER_ORGANIZATION
#define PERSON CB_HOLDER_PERSON
#define N_FIX  15

/* A small reorganization: a merger, a dissolution that fails at the CA, a
 * rename with a cascaded personal certificate still pending, transfers, a
 * departure, a join, a duplicate outcome and a token recalled twice. */
static void fixture(cb_outcome_t *o)
{
    mk(&o[0], "e-org-1", 0, "MERGED", CB_ACTION_RETAIN, ORG, "000.00.01.H19", "Sở Tài chính",
       CB_STATUS_SUCCEEDED);
    mk(&o[1], "e-org-1", 1, "MERGED", CB_ACTION_REVOKE, ORG, "000.00.08.H19",
       "Sở Kế hoạch và Đầu tư", CB_STATUS_SUCCEEDED);
    mk(&o[2], "e-org-1", 2, "MERGED", CB_ACTION_RECALL_DEVICE, ORG, "000.00.08.H19",
       "Sở Kế hoạch và Đầu tư", CB_STATUS_SUCCEEDED);
    o[2].device_id = sdup("TK-08");
    mk(&o[3], "e-org-2", 0, "DISSOLVED", CB_ACTION_REVOKE, ORG, "000.00.09.H19", "Phòng Nội vụ",
       CB_STATUS_FAILED);
    o[3].http_status = 500;
    o[3].error_code = sdup("internal");
    o[3].error_message = sdup("database locked");
    mk(&o[4], "e-org-2", 1, "DISSOLVED", CB_ACTION_RECALL_DEVICE, ORG, "000.00.09.H19",
       "Phòng Nội vụ", CB_STATUS_REJECTED);
    o[4].device_id = sdup("TK-09");
    o[4].http_status = 404;
    o[4].error_code = sdup("device.unknown");
    o[4].error_message = sdup("no such token");
    mk(&o[5], "e-org-3", 0, "RENAMED", CB_ACTION_CHANGE_INFO, ORG, "000.00.10.H19",
       "Trung tâm Y tế", CB_STATUS_SUCCEEDED);
    /* cascade: a personal certificate of the renamed organization */
    mk(&o[6], "e-org-3", 1, "RENAMED", CB_ACTION_CHANGE_INFO, PERSON, "HR-1", "Nguyễn Văn An",
       CB_STATUS_PENDING);
    o[6].http_status = 202;
    o[6].ca_request_id = sdup("req-7");
    mk(&o[7], "e-p-1", 0, "TRANSFERRED", CB_ACTION_CHANGE_INFO, PERSON, "HR-2", "Trần Thị Bình",
       CB_STATUS_FAILED);
    o[7].http_status = 503;
    o[7].error_message = sdup("first attempt");
    mk(&o[8], "e-p-2", 0, "DEPARTED", CB_ACTION_REVOKE, PERSON, "HR-3", "Lê Hoàng Cường",
       CB_STATUS_SUCCEEDED);
    mk(&o[9], "e-p-2", 1, "DEPARTED", CB_ACTION_RECALL_DEVICE, PERSON, "HR-3", "Lê Hoàng Cường",
       CB_STATUS_ALREADY_DONE);
    o[9].device_id = sdup("TK-P3");
    mk(&o[10], "e-p-3", 0, "JOINED", CB_ACTION_REVIEW, PERSON, "HR-4", "Trịnh Gia Khang",
       CB_STATUS_NEEDS_REVIEW);
    mk(&o[11], "e-p-4", 0, "TRANSFERRED", CB_ACTION_CHANGE_INFO, PERSON, "HR-5", "Võ Thị Giang",
       CB_STATUS_SKIPPED);
    /* the same outcome id as o[7], later: it wins */
    mk(&o[12], "e-p-1", 0, "TRANSFERRED", CB_ACTION_CHANGE_INFO, PERSON, "HR-2", "Trần Thị Bình",
       CB_STATUS_SUCCEEDED);
    o[12].emergency_signing_allowed = true;
    /* another event recalls TK-08 again: one token to return */
    mk(&o[13], "e-org-4", 0, "DISSOLVED", CB_ACTION_RECALL_DEVICE, ORG, "000.00.08.H19",
       "Sở Kế hoạch và Đầu tư", CB_STATUS_ALREADY_DONE);
    o[13].device_id = sdup("TK-08");
    mk(&o[14], "e-org-4", 1, "DISSOLVED", CB_ACTION_REVOKE, ORG, "000.00.08.H19",
       "Sở Kế hoạch và Đầu tư", CB_STATUS_ALREADY_DONE);
}

static void clear(cb_outcome_t *o, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        cb_outcome_clear(&o[i]);
}

/* A finished report of o[0..n) with the pending ages measured at now_ms,
 * deadline_hours and UTC+7 (the defaults of ca.*); reg may be NULL. */
static cb_report_t *build_at(const cb_outcome_t *o, size_t n, int64_t now_ms, int deadline_hours,
                             const cb_orgreg_t *reg)
{
    cb_report_clock_t clock = {now_ms, deadline_hours, 420};
    cb_report_t *r = cb_report_new();
    cb_error_t err;
    size_t i;

    assert_non_null(r);
    for (i = 0; i < n; i++)
        assert_int_equal(cb_report_add(r, &o[i], &err), 0);
    cb_report_set_registry(r, reg);
    cb_report_set_clock(r, &clock);
    assert_int_equal(cb_report_finish(r, &err), 0);
    return r;
}

#define FIXTURE_NOW (T0 + 3 * 86400000LL) /* Sunday 2026-01-04 00:00 UTC */

static cb_report_t *build_fixture(void)
{
    cb_outcome_t o[N_FIX];
    cb_report_t *r;

    fixture(o);
    r = build_at(o, N_FIX, FIXTURE_NOW, 72, NULL);
    clear(o, N_FIX);
    return r;
}

/* Renders with fmt (0 table, 1 json, 2 html) into a string; caller frees. */
static char *render(const cb_report_t *r, int fmt)
{
    cb_report_source_t src = {"pki.certificate-outcomes", 3, T0};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cb_error_t err;
    int rc;

    assert_non_null(f);
    rc = fmt == 0   ? cb_report_write_table(r, &src, f, &err)
         : fmt == 1 ? cb_report_write_json(r, &src, f, &err)
                    : cb_report_write_html(r, &src, f, &err);
    fclose(f);
    assert_int_equal(rc, 0);
    return buf;
}

static void test_counts(void **state)
{
    cb_report_t *r = build_fixture();

    (void)state;
    assert_int_equal(cb_report_count(r, -1, -1), 14);
    assert_int_equal(cb_report_duplicates(r), 1);
    assert_int_equal(cb_report_undecodable(r), 0);
    assert_int_equal(cb_report_event_count(r), 8);
    assert_int_equal(cb_report_count(r, CB_ACTION_CHANGE_INFO, -1), 4);
    assert_int_equal(cb_report_count(r, CB_ACTION_CHANGE_INFO, CB_STATUS_SUCCEEDED), 2);
    assert_int_equal(cb_report_count(r, CB_ACTION_CHANGE_INFO, CB_STATUS_PENDING), 1);
    assert_int_equal(cb_report_count(r, CB_ACTION_CHANGE_INFO, CB_STATUS_SKIPPED), 1);
    assert_int_equal(cb_report_count(r, CB_ACTION_CHANGE_INFO, CB_STATUS_FAILED), 0);
    assert_int_equal(cb_report_count(r, CB_ACTION_REVOKE, -1), 4);
    assert_int_equal(cb_report_count(r, CB_ACTION_REVOKE, CB_STATUS_FAILED), 1);
    assert_int_equal(cb_report_count(r, CB_ACTION_REVOKE, CB_STATUS_ALREADY_DONE), 1);
    assert_int_equal(cb_report_count(r, CB_ACTION_RECALL_DEVICE, -1), 4);
    assert_int_equal(cb_report_count(r, CB_ACTION_RECALL_DEVICE, CB_STATUS_REJECTED), 1);
    assert_int_equal(cb_report_count(r, CB_ACTION_RETAIN, CB_STATUS_SUCCEEDED), 1);
    assert_int_equal(cb_report_count(r, CB_ACTION_REVIEW, CB_STATUS_NEEDS_REVIEW), 1);
    assert_int_equal(cb_report_count(r, CB_ACTION_ISSUE, -1), 0);
    assert_int_equal(cb_report_count(r, -1, CB_STATUS_SUCCEEDED), 6);
    cb_report_destroy(r);
}

static void test_groups(void **state)
{
    cb_report_t *r = build_fixture();
    const cb_report_group_t *g;
    size_t n;

    (void)state;
    g = cb_report_groups(r, &n);
    assert_int_equal(n, 7);
    /* organizations by code */
    assert_string_equal(g[0].code, "000.00.01.H19");
    assert_string_equal(g[0].name, "Sở Tài chính");
    assert_int_equal(g[0].total, 1);
    assert_string_equal(g[1].code, "000.00.08.H19");
    assert_int_equal(g[1].total, 4);
    assert_int_equal(g[1].counts[CB_ACTION_RECALL_DEVICE][CB_STATUS_SUCCEEDED], 1);
    assert_int_equal(g[1].counts[CB_ACTION_RECALL_DEVICE][CB_STATUS_ALREADY_DONE], 1);
    assert_int_equal(g[1].counts[CB_ACTION_REVOKE][CB_STATUS_SUCCEEDED], 1);
    assert_int_equal(g[1].counts[CB_ACTION_REVOKE][CB_STATUS_ALREADY_DONE], 1);
    assert_string_equal(g[2].code, "000.00.09.H19");
    assert_int_equal(g[2].counts[CB_ACTION_REVOKE][CB_STATUS_FAILED], 1);
    assert_int_equal(g[2].counts[CB_ACTION_RECALL_DEVICE][CB_STATUS_REJECTED], 1);
    /* the cascaded personal certificate counts with its organization */
    assert_string_equal(g[3].code, "000.00.10.H19");
    assert_int_equal(g[3].total, 2);
    assert_int_equal(g[3].counts[CB_ACTION_CHANGE_INFO][CB_STATUS_SUCCEEDED], 1);
    assert_int_equal(g[3].counts[CB_ACTION_CHANGE_INFO][CB_STATUS_PENDING], 1);
    /* person events: by event type, in the contract's order */
    assert_null(g[4].code);
    assert_string_equal(g[4].event_type, "TRANSFERRED");
    assert_string_equal(g[4].name, "personal certificates: TRANSFERRED");
    assert_int_equal(g[4].total, 2);
    assert_int_equal(g[4].counts[CB_ACTION_CHANGE_INFO][CB_STATUS_SUCCEEDED], 1);
    assert_int_equal(g[4].counts[CB_ACTION_CHANGE_INFO][CB_STATUS_SKIPPED], 1);
    assert_int_equal(g[4].counts[CB_ACTION_CHANGE_INFO][CB_STATUS_FAILED], 0);
    assert_string_equal(g[5].event_type, "DEPARTED");
    assert_int_equal(g[5].total, 2);
    assert_string_equal(g[6].event_type, "JOINED");
    assert_int_equal(g[6].counts[CB_ACTION_REVIEW][CB_STATUS_NEEDS_REVIEW], 1);
    cb_report_destroy(r);
}

static void test_open_and_tokens(void **state)
{
    cb_report_t *r = build_fixture();
    const cb_report_item_t *const *it;
    size_t n;

    (void)state;
    it = cb_report_open(r, &n);
    assert_int_equal(n, 3); /* the duplicate's FAILED was replaced by SUCCEEDED */
    assert_string_equal(it[0]->outcome_id, "e-org-2/0");
    assert_int_equal(it[0]->status, CB_STATUS_FAILED);
    assert_string_equal(it[0]->error_message, "database locked");
    assert_string_equal(it[1]->outcome_id, "e-org-2/1");
    assert_int_equal(it[1]->status, CB_STATUS_REJECTED);
    assert_string_equal(it[1]->error_code, "device.unknown");
    assert_string_equal(it[2]->outcome_id, "e-org-3/1");
    assert_int_equal(it[2]->status, CB_STATUS_PENDING);
    assert_string_equal(it[2]->ca_request_id, "req-7");
    it = cb_report_tokens(r, &n);
    assert_int_equal(n, 2); /* TK-08 twice counts once; TK-09 was refused */
    assert_string_equal(it[0]->device_id, "TK-08");
    assert_string_equal(it[0]->holder_name, "Sở Kế hoạch và Đầu tư");
    assert_string_equal(it[1]->device_id, "TK-P3");
    assert_string_equal(it[1]->holder_id, "HR-3");
    cb_report_destroy(r);
}

static const char expected_table[] =
    "certbridge report: topic pki.certificate-outcomes (3 partitions, read_committed), 2026-01-01 "
    "00:00 UTC\n"
    "14 outcomes of 8 events: 10 done (71.4%), 1 pending, 1 failed, 1 rejected, 1 need review\n"
    "(1 duplicate outcomes counted once, 0 messages that are not outcomes)\n"
    "\n"
    "By action and status\n"
    "ACTION         TOTAL  SUCCEEDED  ALREADY_DONE  PENDING  REJECTED  FAILED  SKIPPED  "
    "NEEDS_REVIEW  SCHEDULED  CANCELLED  AWAITING_APPROVAL\n"
    "CHANGE_INFO        4          2             -        1         -       -        1             "
    "-          -          -                  -\n"
    "REVOKE             4          2             1        -         -       1        -             "
    "-          -          -                  -\n"
    "RETAIN             1          1             -        -         -       -        -             "
    "-          -          -                  -\n"
    "RECALL_DEVICE      4          1             2        -         1       -        -             "
    "-          -          -                  -\n"
    "REVIEW             1          -             -        -         -       -        -             "
    "1          -          -                  -\n"
    "ALL               14          6             3        1         1       1        1             "
    "1          -          -                  -\n"
    "\n"
    "By organization (personal certificates of person events: by event type)\n"
    "ORGANIZATION                         ACTION         TOTAL  SUCCEEDED  ALREADY_DONE  PENDING  "
    "REJECTED  FAILED  SKIPPED  NEEDS_REVIEW  SCHEDULED  CANCELLED  AWAITING_APPROVAL\n"
    "000.00.01.H19 Sở Tài chính           RETAIN             1          1             -        -   "
    "      -       -        -             -          -          -                  -\n"
    "000.00.08.H19 Sở Kế hoạch và Đầu tư  REVOKE             2          1             1        -   "
    "      -       -        -             -          -          -                  -\n"
    "                                     RECALL_DEVICE      2          1             1        -   "
    "      -       -        -             -          -          -                  -\n"
    "000.00.09.H19 Phòng Nội vụ           REVOKE             1          -             -        -   "
    "      -       1        -             -          -          -                  -\n"
    "                                     RECALL_DEVICE      1          -             -        -   "
    "      1       -        -             -          -          -                  -\n"
    "000.00.10.H19 Trung tâm Y tế         CHANGE_INFO        2          1             -        1   "
    "      -       -        -             -          -          -                  -\n"
    "personal certificates: TRANSFERRED   CHANGE_INFO        2          1             -        -   "
    "      -       -        1             -          -          -                  -\n"
    "personal certificates: DEPARTED      REVOKE             1          1             -        -   "
    "      -       -        -             -          -          -                  -\n"
    "                                     RECALL_DEVICE      1          -             1        -   "
    "      -       -        -             -          -          -                  -\n"
    "personal certificates: JOINED        REVIEW             1          -             -        -   "
    "      -       -        -             1          -          -                  -\n"
    "\n"
    "By event type\n"
    "EVENT TYPE   ACTION         TOTAL  SUCCEEDED  ALREADY_DONE  PENDING  REJECTED  FAILED  "
    "SKIPPED  NEEDS_REVIEW  SCHEDULED  CANCELLED  AWAITING_APPROVAL\n"
    "MERGED       REVOKE             1          1             -        -         -       -        "
    "-             -          -          -                  -\n"
    "             RETAIN             1          1             -        -         -       -        "
    "-             -          -          -                  -\n"
    "             RECALL_DEVICE      1          1             -        -         -       -        "
    "-             -          -          -                  -\n"
    "RENAMED      CHANGE_INFO        2          1             -        1         -       -        "
    "-             -          -          -                  -\n"
    "DISSOLVED    REVOKE             2          -             1        -         -       1        "
    "-             -          -          -                  -\n"
    "             RECALL_DEVICE      2          -             1        -         1       -        "
    "-             -          -          -                  -\n"
    "TRANSFERRED  CHANGE_INFO        2          1             -        -         -       -        "
    "1             -          -          -                  -\n"
    "DEPARTED     REVOKE             1          1             -        -         -       -        "
    "-             -          -          -                  -\n"
    "             RECALL_DEVICE      1          -             1        -         -       -        "
    "-             -          -          -                  -\n"
    "JOINED       REVIEW             1          -             -        -         -       -        "
    "-             1          -          -                  -\n"
    "\n"
    "By managing agency: needs the organization registry (--registry FILE)\n"
    "\n"
    "Still open (PENDING, FAILED, REJECTED): 3\n"
    "STATUS    EVENT    ACTION         HOLDER                      ERROR                           "
    "   "
    "     PENDING FOR\n"
    "FAILED    e-org-2  REVOKE         000.00.09.H19 Phòng Nội vụ  HTTP 500 internal: database "
    "locked\n"
    "REJECTED  e-org-2  RECALL_DEVICE  000.00.09.H19 Phòng Nội vụ  HTTP 404 device.unknown: no "
    "such token\n"
    "PENDING   e-org-3  CHANGE_INFO    HR-1 Nguyễn Văn An          HTTP 202, CA request req-7     "
    "         1.7 working days (40 h)\n"
    "\n"
    "Pending at the CA: 1, 0 overdue (pending 72 working hours or more; working days Monday to "
    "Friday, UTC+07:00; ages at 2026-01-04 00:00 UTC)\n"
    "ORGANIZATION                  PENDING  OVERDUE  OLDEST SINCE (UTC)   OLDEST PENDING FOR\n"
    "000.00.10.H19 Trung tâm Y tế        1        -  2026-01-01 00:01:00  1.7 working days (40 h)\n"
    "\n"
    "Overdue at the CA (pending 72 working hours or more), oldest first: 0\n"
    "\n"
    "Key tokens to return to the Department of Digital Certification and Information Security: 2\n"
    "2 still out (returns not checked: --tokens-from-ca asks the CA)\n"
    "TOKEN  HOLDER                 MANAGING AGENCY  EVENT    DAYS OUT\n"
    "TK-08  Sở Kế hoạch và Đầu tư  -                e-org-1         0\n"
    "TK-P3  Lê Hoàng Cường         -                e-p-2           0\n";

static void test_table_exact(void **state)
{
    cb_report_t *r = build_fixture();
    char *out = render(r, 0);

    (void)state;
    if (getenv("CB_DUMP"))
        fputs(out, stderr);
    assert_string_equal(out, expected_table);
    free(out);
    cb_report_destroy(r);
}

/* Every row of the organization table starts its ACTION column at the same
 * display column, whatever the bytes of the Vietnamese names. */
static void test_table_alignment(void **state)
{
    cb_report_t *r = build_fixture();
    char *out = render(r, 0), *line, *save = NULL;
    size_t col = 0, rows = 0;
    bool in_orgs = false;

    (void)state;
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        static const char *const acts[] = {"ACTION",        "RETAIN",      "REVOKE",
                                           "RECALL_DEVICE", "CHANGE_INFO", "REVIEW"};
        char *at = NULL, *hit;
        size_t k;
        if (strncmp(line, "ORGANIZATION", 12) == 0 && !rows) /* the first such table */
            in_orgs = true;
        else if (!*line || strncmp(line, "By event type", 13) == 0)
            in_orgs = false;
        if (!in_orgs)
            continue;
        for (k = 0; k < 6; k++) /* the first action name on the line */
            if ((hit = strstr(line, acts[k])) && (!at || hit < at))
                at = hit;
        assert_non_null(at);
        *at = '\0';
        if (!rows++)
            col = cb_text_width(line);
        assert_int_equal(cb_text_width(line), col);
        /* a byte count would differ: the names have diacritics */
    }
    assert_int_equal(rows, 11);
    assert_int_equal(col, 37);
    free(out);
    cb_report_destroy(r);
}

static void test_json(void **state)
{
    cb_report_t *r = build_fixture();
    char *out = render(r, 1);
    json_error_t je;
    json_t *doc = json_loads(out, 0, &je), *g, *o, *t;

    (void)state;
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "outcomes")), 14);
    assert_int_equal(json_integer_value(json_object_get(doc, "events")), 8);
    assert_int_equal(json_integer_value(json_object_get(doc, "done")), 10);
    assert_int_equal(json_integer_value(json_object_get(doc, "duplicates")), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "generated_at")),
                        "2026-01-01T00:00:00Z");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(doc, "by_action"), "RECALL_DEVICE"), "ALREADY_DONE")),
        2);
    g = json_object_get(doc, "organizations");
    assert_int_equal(json_array_size(g), 7);
    assert_string_equal(json_string_value(json_object_get(json_array_get(g, 3), "code")),
                        "000.00.10.H19");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(json_array_get(g, 3), "by_action"), "CHANGE_INFO"),
            "PENDING")),
        1);
    assert_true(json_is_null(json_object_get(json_array_get(g, 4), "code")));
    o = json_object_get(doc, "open");
    assert_int_equal(json_array_size(o), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(o, 0), "status")),
                        "FAILED");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(o, 0), "http_status")), 500);
    assert_string_equal(json_string_value(json_object_get(json_array_get(o, 2), "organization")),
                        "000.00.10.H19");
    t = json_object_get(doc, "tokens_to_return");
    assert_int_equal(json_array_size(t), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(t, 1), "device_id")),
                        "TK-P3");
    json_decref(doc);
    free(out);
    cb_report_destroy(r);
}

/* With a registry: the managing agency of each outcome (docs/DOMAIN.md §6);
 * with returns from the CA: tokens still out, per agency. */
static void test_agencies_and_returns(void **state)
{
    static const char reg_text[] =
        "{\"code\":\"000.00.00.H19\",\"name\":\"Ủy ban nhân dân tỉnh Đồng Nai\",\"province\":"
        "\"Tỉnh Đồng Nai\"}\n"
        "{\"code\":\"000.00.01.H19\",\"name\":\"Sở Tài chính\",\"parent_code\":\"000.00.00.H19\","
        "\"province\":\"Tỉnh Đồng Nai\"}\n"
        "{\"code\":\"000.00.08.H19\",\"status\":\"MERGED\",\"successor\":\"000.00.01.H19\","
        "\"parent_code\":\"000.00.00.H19\"}\n"
        "{\"code\":\"000.00.09.H19\",\"status\":\"DISSOLVED\",\"parent_code\":\"000.00.70.H19\","
        "\"parent_name\":\"UBND huyện Nhơn Trạch\"}\n"
        "{\"code\":\"000.00.10.H19\",\"name\":\"Trung tâm Y tế\",\"parent_code\":"
        "\"000.00.01.H19\",\"province\":\"Tỉnh Đồng Nai\"}\n"
        "{\"person_id\":\"HR-2\",\"org_code\":\"000.00.10.H19\"}\n"
        "{\"person_id\":\"HR-3\",\"org_code\":\"000.00.08.H19\"}\n";
    cb_outcome_t o[N_FIX];
    cb_orgreg_t *reg = cb_orgreg_new();
    cb_report_t *r = cb_report_new();
    const cb_report_agency_t *ag;
    const cb_report_event_type_t *ty;
    cb_error_t err;
    size_t n, i;
    char *out;

    (void)state;
    assert_int_equal(cb_orgreg_load(reg, "reg", reg_text, strlen(reg_text), CB_ORGREG_JSONL, &err),
                     0);
    assert_int_equal(cb_orgreg_finish(reg, &err), 0);
    fixture(o);
    for (i = 0; i < N_FIX; i++)
        assert_int_equal(cb_report_add(r, &o[i], &err), 0);
    clear(o, N_FIX);
    cb_report_set_registry(r, reg);
    assert_int_equal(cb_report_mark_returned(r, "TK-P3", T0 - 86400000, &err), 0);
    assert_int_equal(cb_report_finish(r, &err), 0);

    ag = cb_report_agencies(r, &n);
    /* 000.00.00.H19: Sở Tài chính (01) and Sở KH&ĐT (08) are its subordinates;
     * 000.00.01.H19: the Trung tâm Y tế (10), and HR-3, whose organization 08
     * merged into 01; 000.00.10.H19: HR-1 of its cascade, and HR-2;
     * 000.00.70.H19: the dissolved 09's parent; unknown: HR-4, HR-5 */
    assert_int_equal(n, 5);
    assert_string_equal(ag[0].code, "000.00.00.H19");
    assert_int_equal(ag[0].total, 5); /* 01 RETAIN, 08 x4 */
    assert_string_equal(ag[1].code, "000.00.01.H19");
    assert_string_equal(ag[1].name, "Sở Tài chính");
    assert_int_equal(ag[1].total, 3);      /* 10 CHANGE_INFO, HR-3 x2 */
    assert_int_equal(ag[1].tokens_out, 0); /* HR-3's TK-P3 came back */
    assert_string_equal(ag[2].code, "000.00.10.H19");
    assert_int_equal(ag[2].total, 2); /* HR-1, and HR-2 counted once */
    assert_string_equal(ag[3].code, "000.00.70.H19");
    assert_string_equal(ag[3].name, "UBND huyện Nhơn Trạch");
    assert_int_equal(ag[3].counts[CB_ACTION_REVOKE][CB_STATUS_FAILED], 1);
    assert_null(ag[4].code);
    assert_int_equal(ag[4].total, 2);
    assert_int_equal(ag[0].tokens_out, 1); /* TK-08 */
    assert_int_equal(cb_report_tokens_out(r), 1);
    assert_true(cb_report_returns_checked(r));
    ty = cb_report_event_types(r, &n);
    assert_int_equal(n, 6);
    assert_string_equal(ty[0].type, "MERGED");
    assert_string_equal(ty[5].type, "JOINED");
    assert_int_equal(ty[3].counts[CB_ACTION_CHANGE_INFO][CB_STATUS_SKIPPED], 1); /* TRANSFERRED */
    out = render(r, 0);
    assert_non_null(strstr(out, "By managing agency (the agency whose head signs the requests)\n"
                                "MANAGING AGENCY"));
    assert_non_null(strstr(out, "1 still out, returns as the CA recorded them\n"));
    assert_non_null(strstr(out, "TK-P3  Lê Hoàng Cường         000.00.01.H19 Sở Tài chính    "));
    assert_non_null(strstr(out, "e-p-2    returned\n"));
    free(out);
    out = render(r, 2);
    assert_non_null(strstr(out, "<table id=\"by-agency\">"));
    assert_non_null(strstr(out, "<tr data-returned=\"true\"><td><code>TK-P3</code>"));
    free(out);
    cb_report_destroy(r);
    cb_orgreg_destroy(reg);
}

/* Counts the occurrences of needle in hay. */
static size_t occurrences(const char *hay, const char *needle)
{
    size_t n = 0;

    while ((hay = strstr(hay, needle))) {
        n++;
        hay += strlen(needle);
    }
    return n;
}

static void test_html(void **state)
{
    cb_outcome_t o[N_FIX + 1];
    cb_report_t *r;
    cb_error_t err;
    char *out, *p;
    size_t segs = 0;

    (void)state;
    fixture(o);
    /* what a forged outcome could carry */
    mk(&o[N_FIX], "e-org-9\"><script>alert(1)</script>", 0, "DISSOLVED", CB_ACTION_REVOKE, ORG,
       "000.00.99.H19", "<script>alert('x')</script> & <img src=x onerror=alert(2)>",
       CB_STATUS_FAILED);
    o[N_FIX].error_message = sdup("</td></tr></table><script>alert(3)</script>");
    r = cb_report_build(o, N_FIX + 1, &err);
    clear(o, N_FIX + 1);
    assert_non_null(r);
    out = render(r, 2);
    assert_memory_equal(out, "<!DOCTYPE html>\n<html lang=\"vi\">", 31);
    assert_non_null(strstr(out, "<meta charset=\"utf-8\">"));
    /* escaped, never markup */
    assert_null(strstr(out, "<script"));
    assert_null(strstr(out, "<img"));
    assert_non_null(strstr(out, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
                                "&lt;img src=x onerror=alert(2)&gt;"));
    assert_non_null(strstr(out, "e-org-9&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(out, "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;alert(3)"));
    /* self-contained: nothing to fetch (the SVG namespace is a name, not a fetch) */
    assert_null(strstr(out, "src=\""));
    assert_null(strstr(out, "href=\""));
    assert_null(strstr(out, "url("));
    assert_null(strstr(out, "@import"));
    assert_int_equal(occurrences(out, "http"), 1);
    assert_non_null(strstr(out, "xmlns=\"http://www.w3.org/2000/svg\""));
    assert_int_equal(occurrences(out, "<style>"), 1);
    /* the chart: one track per action present plus ALL, segments that fill it */
    assert_int_equal(occurrences(out, "<svg id=\"progress-chart\""), 1);
    assert_int_equal(occurrences(out, "<rect class=\"track\""), 6);
    assert_non_null(strstr(out, "data-action=\"RETAIN\" data-status=\"SUCCEEDED\" x=\"170.00\" "
                                "y=\"120\" width=\"620.00\""));
    for (p = out; (p = strstr(p, "<rect class=\"seg\"")); p++) {
        const char *w = strstr(p, " width=\"");
        assert_non_null(w);
        assert_true(strtod(w + 8, NULL) >= 1.0);
        segs++;
    }
    assert_int_equal(segs, 7 + 3 + 3 + 1 + 3 + 1); /* ALL, CHANGE_INFO, REVOKE, ... */
    /* the lists */
    assert_non_null(strstr(out, "TK-P3"));
    assert_non_null(strstr(out, "req-7"));
    assert_non_null(strstr(out, "Chứng thư số cá nhân"));
    assert_non_null(strstr(out, "</html>\n"));
    free(out);
    cb_report_destroy(r);
}

/* Terminal control sequences, bidirectional overrides and invalid UTF-8 in
 * an outcome never reach the terminal or the page as they are. */
static void test_unsafe_text(void **state)
{
    cb_outcome_t o;
    cb_report_t *r;
    cb_error_t err;
    char *table, *html;

    (void)state;
    mk(&o, "e-1", 0, "DISSOLVED", CB_ACTION_REVOKE, ORG, "000.00.01.H19",
       "A\x1b[2J\x1b]0;owned\x07 B\xE2\x80\xAE"
       "C\xFF"
       "D",
       CB_STATUS_FAILED);
    o.error_message = sdup("line1\nline2\r\x9b");
    r = cb_report_build(&o, 1, &err);
    cb_outcome_clear(&o);
    assert_non_null(r);
    table = render(r, 0);
    html = render(r, 2);
    assert_null(strchr(table, '\x1b'));
    assert_null(strchr(table, '\x07'));
    assert_null(strchr(table, '\r'));
    assert_null(strstr(table, "\xE2\x80\xAE"));
    assert_null(strstr(table, "\xFF"));
    assert_non_null(strstr(table, "A [2J ]0;owned  B C\xEF\xBF\xBD"
                                  "D"));
    assert_non_null(strstr(table, "line1 line2"));
    assert_null(strchr(html, '\x1b'));
    assert_null(strstr(html, "\xE2\x80\xAE"));
    assert_non_null(strstr(html, "A [2J ]0;owned  B C\xEF\xBF\xBD"
                                 "D"));
    free(table);
    free(html);
    cb_report_destroy(r);
}

/* A message longer than the labels hold is cut at a character and marked
 * with "…", on the page and in the table: never half a UTF-8 sequence
 * (which would show as U+FFFD). "HTTP 500 internal: " is 19 bytes and "ễ"
 * 3, so a byte count alone would cut inside one. */
static void test_long_error(void **state)
{
    cb_outcome_t o;
    cb_report_t *r;
    cb_error_t err;
    char *msg = malloc(3 * 700 + 1), *table, *html, *cell;
    size_t i;

    (void)state;
    assert_non_null(msg);
    for (i = 0; i < 700; i++)
        memcpy(msg + 3 * i, "\xE1\xBB\x85", 3);
    msg[3 * 700] = '\0';
    mk(&o, "e-1", 0, "DISSOLVED", CB_ACTION_REVOKE, ORG, "000.00.01.H19", "X", CB_STATUS_FAILED);
    o.http_status = 500;
    o.error_code = sdup("internal");
    o.error_message = msg;
    r = cb_report_build(&o, 1, &err);
    cb_outcome_clear(&o);
    assert_non_null(r);
    table = render(r, 0);
    html = render(r, 2);
    assert_null(strstr(table, "\xEF\xBF\xBD"));
    assert_null(strstr(html, "\xEF\xBF\xBD"));
    /* the page: the whole "ễ" that fit in the label, then "…" */
    cell = strstr(html, "HTTP 500 internal: \xE1\xBB\x85");
    assert_non_null(cell);
    assert_non_null(strstr(cell, "\xE1\xBB\x85\xE2\x80\xA6</td>"));
    assert_true(cb_text_utf8_valid(html, strlen(html)));
    /* the table: the cell's cap, also at a character */
    cell = strstr(table, "HTTP 500 internal: \xE1\xBB\x85");
    assert_non_null(cell);
    assert_non_null(strstr(cell, "\xE1\xBB\x85\xE2\x80\xA6\n"));
    assert_true(cb_text_utf8_valid(table, strlen(table)));
    free(table);
    free(html);
    cb_report_destroy(r);
}

static void test_empty_and_errors(void **state)
{
    cb_report_t *r = cb_report_new();
    cb_outcome_t o;
    cb_error_t err;
    char *out;

    (void)state;
    mk(&o, "e-1", 0, "DISSOLVED", CB_ACTION_REVOKE, ORG, "000.00.01.H19", "X", CB_STATUS_FAILED);
    o.status = (cb_outcome_status_t)CB_STATUS_COUNT;
    assert_int_equal(cb_report_add(r, &o, &err), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    cb_outcome_clear(&o);
    cb_report_add_undecodable(r);
    assert_int_equal(cb_report_finish(r, &err), 0);
    assert_int_equal(cb_report_count(r, -1, -1), 0);
    assert_int_equal(cb_report_undecodable(r), 1);
    out = render(r, 0);
    assert_non_null(strstr(out, "0 outcomes of 0 events: 0 done (0.0%)"));
    assert_non_null(strstr(out, "(0 duplicate outcomes counted once, 1 messages that are not "
                                "outcomes)"));
    assert_non_null(strstr(out, "  (no outcomes)\n"));
    assert_non_null(strstr(out, "Key tokens to return to the Department of Digital "
                                "Certification and Information Security: 0\n"));
    free(out);
    out = render(r, 2);
    assert_non_null(strstr(out, "no outcomes yet"));
    assert_int_equal(occurrences(out, "<rect class=\"track\""), 1);
    assert_null(strstr(out, "<rect class=\"seg\""));
    free(out);
    assert_int_equal(cb_report_format_parse("table"), CB_REPORT_TABLE);
    assert_int_equal(cb_report_format_parse("json"), CB_REPORT_JSON);
    assert_int_equal(cb_report_format_parse("xml"), -1);
    cb_report_destroy(r);
}

static void test_save_html(void **state)
{
    cb_report_t *r = build_fixture();
    cb_report_source_t src = {"t", 1, T0};
    char dir[] = "/tmp/cb-report-XXXXXX", path[128], buf[64];
    cb_error_t err;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/report.html", dir);
    assert_int_equal(cb_report_save_html(r, &src, path, &err), 0);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    assert_string_equal(buf, "<!DOCTYPE html>\n");
    fclose(f);
    unlink(path);
    rmdir(dir);
    /* a folder that does not exist: an I/O error naming the file */
    assert_int_equal(cb_report_save_html(r, &src, "/nonexistent-dir/r.html", &err), -1);
    assert_int_equal(err.code, CB_ERR_IO);
    assert_non_null(strstr(err.msg, "--html /nonexistent-dir/r.html"));
    cb_report_destroy(r);
}

/* The outcome topic read as a table (issue 15): a PENDING record (final
 * false) and the final record with the same outcome_id later are one
 * action, in its final state, and not a duplicate; a second final record
 * is one. */
static void test_pending_then_final(void **state)
{
    cb_outcome_t o[4];
    cb_report_t *r;
    cb_error_t err;

    (void)state;
    mk(&o[0], "e-p-9", 0, "TRANSFERRED", CB_ACTION_CHANGE_INFO, PERSON, "HR-9", "Bùi Thị Lan",
       CB_STATUS_PENDING);
    o[0].final = false;
    o[0].ca_request_id = sdup("req-9");
    mk(&o[1], "e-p-8", 0, "DEPARTED", CB_ACTION_REVOKE, PERSON, "HR-8", "Đặng Quốc Huy",
       CB_STATUS_PENDING);
    o[1].final = false;
    mk(&o[2], "e-p-9", 0, "TRANSFERRED", CB_ACTION_CHANGE_INFO, PERSON, "HR-9", "Bùi Thị Lan",
       CB_STATUS_SUCCEEDED);
    o[2].new_certificate_serial = sdup("0B9");
    mk(&o[3], "e-p-8", 0, "DEPARTED", CB_ACTION_REVOKE, PERSON, "HR-8", "Đặng Quốc Huy",
       CB_STATUS_REJECTED);
    r = cb_report_build(o, 4, &err);
    assert_non_null(r);
    assert_int_equal(cb_report_count(r, -1, -1), 2);
    assert_int_equal(cb_report_duplicates(r), 0);
    assert_int_equal(cb_report_count(r, -1, CB_STATUS_PENDING), 0);
    assert_int_equal(cb_report_count(r, CB_ACTION_CHANGE_INFO, CB_STATUS_SUCCEEDED), 1);
    assert_int_equal(cb_report_count(r, CB_ACTION_REVOKE, CB_STATUS_REJECTED), 1);
    cb_report_destroy(r);
    /* a final record twice is a duplicate, counted once */
    cb_outcome_clear(&o[0]);
    mk(&o[0], "e-p-9", 0, "TRANSFERRED", CB_ACTION_CHANGE_INFO, PERSON, "HR-9", "Bùi Thị Lan",
       CB_STATUS_SUCCEEDED);
    r = cb_report_build(o, 4, &err);
    assert_non_null(r);
    assert_int_equal(cb_report_count(r, -1, -1), 2);
    assert_int_equal(cb_report_duplicates(r), 1);
    cb_report_destroy(r);
    clear(o, 4);
}

/* Pending at the CA (issue 15): ages in working time (Monday to Friday,
 * UTC+7) from each PENDING record to the report's now, oldest first, the
 * overdue set at the deadline, per organization and per managing agency.
 * T0 is Thursday 2026-01-01 07:00 at UTC+7; now is Wednesday 2026-01-07
 * 12:00 there. Calendar hours would make B overdue (113 h) and F 105 h. */
#define H           3600000LL
#define PENDING_NOW (T0 + 6 * 24 * H + 5 * H)
static void pending_fixture(cb_outcome_t *o)
{
    /* A: since Thu 07:00 local: Thu 17 + Fri 24 + Mon 24 + Tue 24 + Wed 12 = 101 h */
    mk(&o[0], "e-org-3", 0, "RENAMED", CB_ACTION_CHANGE_INFO, ORG, "000.00.10.H19",
       "Trung tâm Y tế", CB_STATUS_PENDING);
    o[0].processed_at_ms = T0;
    o[0].ca_request_id = sdup("req-A");
    /* B: cascade of A's event, since Fri 19:00 local: Fri 5 + 24 + 24 + 12 = 65 h */
    mk(&o[1], "e-org-3", 1, "RENAMED", CB_ACTION_CHANGE_INFO, PERSON, "HR-1", "Nguyễn Văn An",
       CB_STATUS_PENDING);
    o[1].processed_at_ms = T0 + 36 * H;
    o[1].ca_request_id = sdup("req-B");
    /* C: since Mon 07:00 local: 17 + 24 + 12 = 53 h */
    mk(&o[2], "e-p-1", 0, "TRANSFERRED", CB_ACTION_CHANGE_INFO, PERSON, "HR-2", "Trần Thị Bình",
       CB_STATUS_PENDING);
    o[2].processed_at_ms = T0 + 96 * H;
    o[2].ca_request_id = sdup("req-C");
    /* F: since Fri 20:00 UTC = Sat 03:00 local: 24 + 24 + 12 = 60 h (57 h in UTC) */
    mk(&o[3], "e-p-2", 0, "DEPARTED", CB_ACTION_REVOKE, PERSON, "HR-3", "Lê Hoàng Cường",
       CB_STATUS_PENDING);
    o[3].processed_at_ms = T0 + 44 * H;
    o[3].ca_request_id = sdup("req-F");
    /* E: no processed_at: its age is unknown, never overdue, listed last */
    mk(&o[4], "e-org-5", 0, "DISSOLVED", CB_ACTION_REVOKE, ORG, "000.00.09.H19", "Phòng Nội vụ",
       CB_STATUS_PENDING);
    o[4].processed_at_ms = 0;
    /* the oldest PENDING record of all, but final since: not pending */
    mk(&o[5], "e-p-6", 0, "DEPARTED", CB_ACTION_REVOKE, PERSON, "HR-6", "Đặng Quốc Huy",
       CB_STATUS_PENDING);
    o[5].processed_at_ms = T0 - 24 * H;
    mk(&o[6], "e-p-6", 0, "DEPARTED", CB_ACTION_REVOKE, PERSON, "HR-6", "Đặng Quốc Huy",
       CB_STATUS_SUCCEEDED);
    {
        size_t i;
        for (i = 0; i < 6; i++)
            o[i].final = false;
        for (i = 0; i < 5; i++)
            o[i].http_status = 202;
    }
}

/* The group named name (a code, or a personal group's label). */
static const cb_report_group_t *group_named(const cb_report_t *r, const char *name)
{
    size_t n, i;
    const cb_report_group_t *g = cb_report_groups(r, &n);

    for (i = 0; i < n; i++)
        if ((g[i].code && strcmp(g[i].code, name) == 0) || strcmp(g[i].name, name) == 0)
            return &g[i];
    fail_msg("no group %s", name);
    return NULL;
}

static void test_pending_ages(void **state)
{
    static const char *const order[] = {"000.00.10.H19", "HR-1", "HR-3", "HR-2", "000.00.09.H19"};
    static const int64_t hours[] = {101, 65, 60, 53, 0};
    cb_outcome_t o[7];
    cb_report_t *r;
    cb_report_clock_t clock;
    const cb_report_item_t *const *p;
    const cb_report_group_t *g;
    size_t n, i;

    (void)state;
    pending_fixture(o);
    r = build_at(o, 7, PENDING_NOW, 72, NULL);
    cb_report_get_clock(r, &clock);
    assert_int_equal(clock.now_ms, PENDING_NOW);
    p = cb_report_pending(r, &n);
    assert_int_equal(n, 5);
    for (i = 0; i < n; i++) {
        assert_string_equal(p[i]->holder_id, order[i]);
        assert_int_equal(p[i]->pending_working_ms / H, hours[i]);
        assert_int_equal(p[i]->overdue, i == 0);
    }
    assert_int_equal(p[0]->pending_working_ms, 101 * H); /* to the millisecond */
    cb_report_overdue(r, &n);
    assert_int_equal(n, 1);
    /* per organization: A and its cascade B together */
    g = group_named(r, "000.00.10.H19");
    assert_int_equal(g->pending.pending, 2);
    assert_int_equal(g->pending.overdue, 1);
    assert_int_equal(g->pending.oldest_since_ms, T0);
    assert_int_equal(g->pending.oldest_working_ms, 101 * H);
    g = group_named(r, "personal certificates: DEPARTED"); /* HR-3; HR-6 is final */
    assert_int_equal(g->pending.pending, 1);
    assert_int_equal(g->pending.overdue, 0);
    assert_int_equal(g->pending.oldest_since_ms, T0 + 44 * H);
    assert_int_equal(g->pending.oldest_working_ms, 60 * H);
    g = group_named(r, "000.00.09.H19"); /* E: counted, no age */
    assert_int_equal(g->pending.pending, 1);
    assert_int_equal(g->pending.oldest_since_ms, 0);
    cb_report_destroy(r);

    /* a deadline of 60 working hours: F (exactly 60) and B join A */
    r = build_at(o, 7, PENDING_NOW, 60, NULL);
    p = cb_report_overdue(r, &n);
    assert_int_equal(n, 3);
    assert_string_equal(p[0]->holder_id, "000.00.10.H19");
    assert_string_equal(p[1]->holder_id, "HR-1");
    assert_string_equal(p[2]->holder_id, "HR-3");
    assert_false(cb_report_pending(r, &n)[3]->overdue); /* HR-2, 53 h */
    cb_report_destroy(r);

    /* the working week in UTC instead: F is 57 h */
    {
        cb_report_clock_t utc = {PENDING_NOW, 72, 0};
        cb_error_t err;
        r = cb_report_new();
        for (i = 0; i < 7; i++)
            assert_int_equal(cb_report_add(r, &o[i], &err), 0);
        cb_report_set_clock(r, &utc);
        assert_int_equal(cb_report_finish(r, &err), 0);
        p = cb_report_pending(r, &n);
        assert_string_equal(p[2]->holder_id, "HR-3");
        assert_int_equal(p[2]->pending_working_ms, 57 * H);
        cb_report_destroy(r);
    }
    clear(o, 7);
}

/* The pending section of the table, the JSON and the page; with a registry,
 * per managing agency. */
static void test_pending_render(void **state)
{
    static const char reg_text[] =
        "{\"code\":\"000.00.00.H19\",\"name\":\"Ủy ban nhân dân tỉnh Đồng "
        "Nai\",\"province\":\"Tỉnh Đồng Nai\"}\n"
        "{\"code\":\"000.00.09.H19\",\"name\":\"Phòng Nội "
        "vụ\",\"parent_code\":\"000.00.00.H19\",\"province\":\"Tỉnh Đồng Nai\"}\n"
        "{\"code\":\"000.00.10.H19\",\"name\":\"Trung tâm Y tế\",\"parent_code\":"
        "\"000.00.00.H19\",\"province\":\"Tỉnh Đồng Nai\"}\n"
        "{\"person_id\":\"HR-2\",\"org_code\":\"000.00.10.H19\"}\n"
        "{\"person_id\":\"HR-3\",\"org_code\":\"000.00.10.H19\"}\n";
    cb_outcome_t o[7];
    cb_orgreg_t *reg = cb_orgreg_new();
    cb_report_t *r;
    const cb_report_agency_t *ag;
    cb_error_t err;
    json_t *doc, *pend, *od;
    json_error_t jerr;
    char *out;
    size_t n;

    (void)state;
    pending_fixture(o);
    r = build_at(o, 7, PENDING_NOW, 72, NULL);
    out = render(r, 0);
    if (getenv("CB_DUMP"))
        fputs(out, stderr);
    assert_non_null(strstr(
        out, "Pending at the CA: 5, 1 overdue (pending 72 working hours or more; working days "
             "Monday to Friday, UTC+07:00; ages at 2026-01-07 05:00 UTC)\n"
             "ORGANIZATION                        PENDING  OVERDUE  OLDEST SINCE (UTC)   OLDEST "
             "PENDING FOR\n"
             "000.00.09.H19 Phòng Nội vụ                1        -  -                    -\n"
             "000.00.10.H19 Trung tâm Y tế              2        1  2026-01-01 00:00:00  4.2 "
             "working days (101 h)\n"
             "personal certificates: TRANSFERRED        1        -  2026-01-05 00:00:00  2.2 "
             "working days (53 h)\n"
             "personal certificates: DEPARTED           1        -  2026-01-02 20:00:00  2.5 "
             "working days (60 h)\n"
             "\n"
             "Overdue at the CA (pending 72 working hours or more), oldest first: 1\n"
             "ORGANIZATION                  HOLDER                        ACTION       EVENT    "
             "CA REQUEST  SINCE (UTC)          PENDING FOR\n"
             "000.00.10.H19 Trung tâm Y tế  000.00.10.H19 Trung tâm Y tế  CHANGE_INFO  e-org-3  "
             "req-A       2026-01-01 00:00:00  4.2 working days (101 h)\n"));
    /* each pending action's age in the open list */
    assert_non_null(strstr(out, "HR-1 Nguyễn Văn An"));
    assert_non_null(strstr(out, "CA request req-B  2.7 working days (65 h)\n"));
    free(out);

    out = render(r, 1);
    doc = json_loads(out, 0, &jerr);
    assert_non_null(doc);
    pend = json_object_get(doc, "pending");
    assert_string_equal(json_string_value(json_object_get(pend, "now")), "2026-01-07T05:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(pend, "deadline_working_hours")), 72);
    assert_int_equal(json_integer_value(json_object_get(pend, "count")), 5);
    assert_int_equal(json_integer_value(json_object_get(pend, "overdue_count")), 1);
    od = json_object_get(pend, "overdue");
    assert_int_equal(json_array_size(od), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(od, 0), "ca_request_id")),
                        "req-A");
    assert_string_equal(json_string_value(json_object_get(json_array_get(od, 0), "pending_since")),
                        "2026-01-01T00:00:00Z");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(od, 0), "pending_working_hours")), 101);
    assert_int_equal(json_array_size(json_object_get(pend, "by_organization")), 4);
    assert_int_equal(json_array_size(json_object_get(pend, "by_agency")), 0); /* no registry */
    json_decref(doc);
    free(out);

    out = render(r, 2);
    assert_non_null(strstr(out, "<table id=\"overdue\">"));
    assert_non_null(strstr(out, "<code>req-A</code></td><td>2026-01-01 00:00:00</td><td>4.2 "
                                "working days (101 h)</td></tr>"));
    assert_null(strstr(out, "<code>req-B</code></td><td>")); /* B is not overdue */
    assert_true(cb_text_utf8_valid(out, strlen(out)));
    free(out);
    cb_report_destroy(r);

    /* per managing agency: A and E under the province's committee; B, C, F
     * under the Trung tâm Y tế (HR-1 by its cascade, HR-2 and HR-3 by the
     * export) */
    if (cb_orgreg_load(reg, "reg", reg_text, strlen(reg_text), CB_ORGREG_JSONL, &err) < 0)
        fail_msg("registry: %s", err.msg);
    assert_int_equal(cb_orgreg_finish(reg, &err), 0);
    r = build_at(o, 7, PENDING_NOW, 72, reg);
    ag = cb_report_agencies(r, &n);
    assert_int_equal(n, 3); /* and HR-6's, not in the registry: nothing pending */
    assert_null(ag[2].code);
    assert_int_equal(ag[2].pending.pending, 0);
    assert_string_equal(ag[0].code, "000.00.00.H19");
    assert_int_equal(ag[0].pending.pending, 2);
    assert_int_equal(ag[0].pending.overdue, 1);
    assert_int_equal(ag[0].pending.oldest_working_ms, 101 * H);
    assert_string_equal(ag[1].code, "000.00.10.H19");
    assert_int_equal(ag[1].pending.pending, 3);
    assert_int_equal(ag[1].pending.overdue, 0);
    assert_int_equal(ag[1].pending.oldest_since_ms, T0 + 36 * H);
    assert_int_equal(ag[1].pending.oldest_working_ms, 65 * H);
    out = render(r, 0);
    assert_non_null(strstr(out, "MANAGING AGENCY                              PENDING"));
    assert_non_null(strstr(out, "000.00.00.H19 Ủy ban nhân dân tỉnh Đồng Nai        2        1"));
    free(out);
    cb_report_destroy(r);
    cb_orgreg_destroy(reg);
    clear(o, 7);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_pending_then_final),
        cmocka_unit_test(test_pending_ages),
        cmocka_unit_test(test_pending_render),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_open_and_tokens),
        cmocka_unit_test(test_table_exact),
        cmocka_unit_test(test_table_alignment),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_agencies_and_returns),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_unsafe_text),
        cmocka_unit_test(test_long_error),
        cmocka_unit_test(test_empty_and_errors),
        cmocka_unit_test(test_save_html),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
