/*
 * approvals_render.c: the writers of `certbridge approvals` (see
 * approvals.h): a terminal table, a JSON document, and the printable pages
 * of the request letters (one per managing agency, and an index). They read
 * a finished set through approvals.h's accessors only.
 */
#include "certbridge/approvals.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "certbridge/html.h"
#include "certbridge/table.h"
#include "certbridge/version.h"

#define CELL_MAX      400  /* bytes of one terminal table cell */
#define PAGE_CODE_MAX 64   /* bytes of the agency code kept in a page's file name */
#define PATH_MAX_LEN  4096 /* longest DIR/NAME.html.tmp */

/* The CA a request letter is addressed to. */
static const char CA_VI[] = "Cục Chứng thực số và Bảo mật thông tin, Ban Cơ yếu Chính phủ";
static const char CA_EN[] =
    "the Department of Digital Certification and Information Security, Government Cipher "
    "Committee";

/* Vietnamese names of the actions (the English ones are the symbols'
 * words, action_en). */
static const char *const action_vi[CB_ACTION_COUNT] = {
    "Thay đổi thông tin chứng thư số",  "Thu hồi chứng thư số", "Tiếp tục sử dụng",
    "Thu hồi thiết bị lưu khóa bí mật", "Cấp mới chứng thư số", "Rà soát"};
static const char *const action_en[CB_ACTION_COUNT] = {
    "change of information", "revocation", "retain", "key token recall", "new issuance", "review"};

int cb_approvals_format_parse(const char *s)
{
    if (s && strcmp(s, "table") == 0)
        return CB_APPROVALS_TABLE;
    if (s && strcmp(s, "json") == 0)
        return CB_APPROVALS_JSON;
    if (s && strcmp(s, "html") == 0)
        return CB_APPROVALS_HTML;
    return -1;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Epoch milliseconds as "2026-01-01T10:00:05Z" (UTC), "-" when unknown. */
static void fmt_rfc3339(char *buf, size_t size, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, size, "-");
}

/* ---- table ---------------------------------------------------------------- */

/* A cell of outside text: control characters out, at most CELL_MAX bytes. */
static int add_clean(char **cells, size_t i, const char *s)
{
    cells[i] = cb_html_clean(s, CELL_MAX);
    return cells[i] ? 0 : -1;
}

int cb_approvals_write_table(const cb_approvals_t *a, const cb_approvals_source_t *src, FILE *out,
                             cb_error_t *err)
{
    static const cb_table_column_t cols[] = {
        {"Request", CB_TABLE_LEFT, false, 0, CB_TABLE_ELIDE_END},
        {"Managing agency", CB_TABLE_LEFT, false, 60, CB_TABLE_ELIDE_END},
        {"Day", CB_TABLE_LEFT, false, 0, CB_TABLE_ELIDE_END},
        {"Actions", CB_TABLE_RIGHT, false, 0, CB_TABLE_ELIDE_END},
        {"Revocations", CB_TABLE_RIGHT, false, 0, CB_TABLE_ELIDE_END},
        {"Tokens to return", CB_TABLE_RIGHT, false, 0, CB_TABLE_ELIDE_END}};
    const cb_approvals_request_t *reqs;
    size_t n_reqs, n_ags, i, k;
    char *topic = cb_html_clean(src->topic, CELL_MAX), *filter = NULL;
    cb_table_t *t = NULL;
    int rc = -1;

    reqs = cb_approvals_requests(a, &n_reqs);
    cb_approvals_agencies(a, &n_ags);
    if (!topic || (cb_approvals_agency_filter(a) &&
                   !(filter = cb_html_clean(cb_approvals_agency_filter(a), CELL_MAX)))) {
        cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
        goto out;
    }
    fprintf(out,
            "Awaiting approval: %zu action%s in %zu request%s of %zu managing agenc%s%s%s%s\n"
            "(outcome topic %s, %d partition%s, read_committed; %zu outcomes of %zu actions)\n",
            cb_approvals_awaiting(a), cb_approvals_awaiting(a) == 1 ? "" : "s", n_reqs,
            n_reqs == 1 ? "" : "s", n_ags, n_ags == 1 ? "y" : "ies", filter ? " (agency " : "",
            filter ? filter : "", filter ? " only)" : "", topic, src->partitions,
            src->partitions == 1 ? "" : "s", cb_approvals_outcomes(a), cb_approvals_actions(a));
    if (n_reqs) {
        fputc('\n', out);
        if (!(t = cb_table_new(cols, sizeof(cols) / sizeof(cols[0]), err)))
            goto out;
        for (i = 0; i < n_reqs; i++) {
            const cb_approvals_request_t *r = &reqs[i];
            char agency[CELL_MAX + 80], nums[3][24], *cells[3] = {NULL, NULL, NULL};
            const char *row[6];
            int bad;
            cb_table_cellf(agency, sizeof(agency), "%s %s", r->agency_code ? r->agency_code : "-",
                           r->agency_name ? r->agency_name : "");
            bad = add_clean(cells, 0, r->id) | add_clean(cells, 1, agency) |
                  add_clean(cells, 2, r->day[0] ? r->day : "-");
            snprintf(nums[0], sizeof(nums[0]), "%zu", r->n_actions);
            snprintf(nums[1], sizeof(nums[1]), "%zu", r->revocations);
            snprintf(nums[2], sizeof(nums[2]), "%zu", r->n_tokens);
            row[0] = cells[0], row[1] = cells[1], row[2] = cells[2];
            row[3] = nums[0], row[4] = nums[1], row[5] = nums[2];
            if (!bad)
                bad = cb_table_add_row(t, row, CB_TABLE_ROW, err) < 0 ? -2 : 0;
            for (k = 0; k < 3; k++)
                free(cells[k]);
            if (bad == -1)
                cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
            if (bad)
                goto out;
        }
        if (cb_table_write(t, out, err) < 0)
            goto out;
    } else {
        fputs("\nNothing awaits approval.\n", out);
    }
    if (cb_approvals_unassigned(a))
        fprintf(out, "\n%zu action%s await%s approval without a request id (not listed).\n",
                cb_approvals_unassigned(a), cb_approvals_unassigned(a) == 1 ? "" : "s",
                cb_approvals_unassigned(a) == 1 ? "s" : "");
    if (cb_approvals_undecodable(a))
        fprintf(out, "%zu message%s of the topic did not decode as outcomes.\n",
                cb_approvals_undecodable(a), cb_approvals_undecodable(a) == 1 ? "" : "s");
    rc = ferror(out) ? cb_error_set(err, CB_ERR_IO, "write error") : 0;
out:
    cb_table_destroy(t);
    free(topic);
    free(filter);
    return rc;
}

/* ---- JSON ----------------------------------------------------------------- */

static json_t *jtext(const char *s)
{
    return cb_html_json_string(s);
}

/* One action as JSON. */
static json_t *action_json(const cb_approvals_action_t *act)
{
    json_t *o = json_object(), *certs = json_array();
    char when[40];
    size_t k;

    fmt_rfc3339(when, sizeof(when), act->processed_at_ms);
    json_object_set_new(o, "outcome_id", jtext(act->outcome_id));
    json_object_set_new(o, "source_event_id", jtext(act->source_event_id));
    json_object_set_new(o, "source_event_type", jtext(act->source_event_type));
    json_object_set_new(o, "action_index", json_integer(act->action_index));
    json_object_set_new(o, "action", json_string(cb_action_name(act->action)));
    json_object_set_new(o, "holder_type", json_string(cb_holder_type_name(act->holder_type)));
    json_object_set_new(o, "holder_id", jtext(act->holder_id));
    json_object_set_new(o, "holder_name", jtext(act->holder_name));
    json_object_set_new(o, "certificate_serial", jtext(act->certificate_serial));
    json_object_set_new(o, "device_id", jtext(act->device_id));
    json_object_set_new(o, "revocation_reason",
                        act->revocation_reason == CB_REASON_NONE
                            ? json_null()
                            : json_string(cb_revocation_reason_name(act->revocation_reason)));
    json_object_set_new(o, "note", jtext(act->note));
    for (k = 0; k < act->n_certs; k++) {
        json_t *c = json_object();
        json_object_set_new(c, "serial", jtext(act->certs[k].serial));
        json_object_set_new(c, "device_id", jtext(act->certs[k].device_id));
        json_array_append_new(certs, c);
    }
    json_object_set_new(o, "certificates", certs);
    json_object_set_new(o, "certificates_looked_up", json_boolean(act->certs_looked_up));
    json_object_set_new(o, "awaiting_since",
                        act->processed_at_ms > 0 ? json_string(when) : json_null());
    return o;
}

int cb_approvals_write_json(const cb_approvals_t *a, const cb_approvals_source_t *src, FILE *out,
                            cb_error_t *err)
{
    const cb_approvals_request_t *reqs;
    const cb_approvals_agency_t *ags;
    size_t n_reqs, n_ags, i, k;
    json_t *doc = json_object(), *agencies = json_array(), *requests = json_array();
    char when[40], page[CB_APPROVALS_PAGE_NAME_MAX];
    int rc;

    reqs = cb_approvals_requests(a, &n_reqs);
    ags = cb_approvals_agencies(a, &n_ags);
    fmt_rfc3339(when, sizeof(when), src->generated_at_ms);
    json_object_set_new(doc, "topic", jtext(src->topic));
    json_object_set_new(doc, "partitions", json_integer(src->partitions));
    json_object_set_new(doc, "generated_at", json_string(when));
    json_object_set_new(doc, "agency_filter", jtext(cb_approvals_agency_filter(a)));
    json_object_set_new(doc, "outcomes", json_integer((json_int_t)cb_approvals_outcomes(a)));
    json_object_set_new(doc, "actions", json_integer((json_int_t)cb_approvals_actions(a)));
    json_object_set_new(doc, "awaiting", json_integer((json_int_t)cb_approvals_awaiting(a)));
    json_object_set_new(doc, "without_request",
                        json_integer((json_int_t)cb_approvals_unassigned(a)));
    json_object_set_new(doc, "undecodable", json_integer((json_int_t)cb_approvals_undecodable(a)));
    json_object_set_new(doc, "certificates_from_ca", json_boolean(src->certificates_from_ca));
    for (i = 0; i < n_ags; i++) {
        const cb_approvals_agency_t *g = &ags[i];
        json_t *o = json_object();
        cb_approvals_page_name(g, page, sizeof(page));
        json_object_set_new(o, "code", jtext(g->code));
        json_object_set_new(o, "name", jtext(g->name));
        json_object_set_new(o, "requests", json_integer((json_int_t)g->n_requests));
        json_object_set_new(o, "actions", json_integer((json_int_t)g->n_actions));
        json_object_set_new(o, "revocations", json_integer((json_int_t)g->revocations));
        json_object_set_new(o, "tokens_to_return", json_integer((json_int_t)g->n_tokens));
        json_object_set_new(o, "page", json_string(page));
        json_array_append_new(agencies, o);
    }
    for (i = 0; i < n_reqs; i++) {
        const cb_approvals_request_t *r = &reqs[i];
        json_t *o = json_object(), *acts = json_array(), *toks = json_array();
        fmt_rfc3339(when, sizeof(when), r->since_ms);
        json_object_set_new(o, "request_id", jtext(r->id));
        json_object_set_new(o, "agency_code", jtext(r->agency_code));
        json_object_set_new(o, "agency_name", jtext(r->agency_name));
        json_object_set_new(o, "day", r->day[0] ? json_string(r->day) : json_null());
        json_object_set_new(o, "awaiting_since", r->since_ms > 0 ? json_string(when) : json_null());
        json_object_set_new(o, "action_count", json_integer((json_int_t)r->n_actions));
        json_object_set_new(o, "revocations", json_integer((json_int_t)r->revocations));
        for (k = 0; k < r->n_tokens; k++)
            json_array_append_new(toks, jtext(r->tokens[k]));
        json_object_set_new(o, "tokens_to_return", toks);
        for (k = 0; k < r->n_actions; k++)
            json_array_append_new(acts, action_json(r->actions[k]));
        json_object_set_new(o, "actions", acts);
        json_array_append_new(requests, o);
    }
    json_object_set_new(doc, "agencies", agencies);
    json_object_set_new(doc, "requests", requests);
    rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (rc < 0 || fputc('\n', out) == EOF || ferror(out))
        return cb_error_set(err, CB_ERR_IO, "write error (or out of memory building the JSON)");
    return 0;
}

/* ---- pages ---------------------------------------------------------------- */

/* FNV-1a, 32 bits, of s (NULL as empty), continuing from h. */
static uint32_t fnv1a(uint32_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void cb_approvals_page_name(const cb_approvals_agency_t *ag, char *buf, size_t size)
{
    char base[PAGE_CODE_MAX + 1];
    const char *code = ag->code && *ag->code ? ag->code : NULL;
    bool changed = !code;
    size_t i, n = 0;
    uint32_t h;

    if (code) {
        for (i = 0; code[i] && n < PAGE_CODE_MAX; i++) {
            unsigned char c = (unsigned char)code[i];
            bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || (c == '.' && n > 0);
            base[n++] = ok ? (char)c : '_';
            changed |= !ok;
        }
        changed |= code[i] != '\0'; /* cut */
    } else {
        memcpy(base, "agency", 6);
        n = 6;
    }
    base[n] = '\0';
    if (strcasecmp(base, "index") == 0)
        changed = true;
    if (!changed) {
        snprintf(buf, size, "%s.html", base);
        return;
    }
    h = fnv1a(fnv1a(2166136261u, code), "\n");
    h = fnv1a(h, ag->name);
    snprintf(buf, size, "%s-%08x.html", base, (unsigned)h);
}

/* "ngày 01 tháng 7 năm 2025" of a "YYYY-MM-DD" day, as Vietnamese
 * administrative documents write dates (a leading zero for days below 10
 * and for the months 1 and 2); dotted blanks for an unknown day. */
static void date_vi(const char *day, char *buf, size_t size)
{
    int y, m, d;

    if (!day || sscanf(day, "%4d-%2d-%2d", &y, &m, &d) != 3)
        snprintf(buf, size, "ngày …… tháng …… năm ……");
    else
        snprintf(buf, size, "ngày %02d tháng %s%d năm %d", d, m <= 2 ? "0" : "", m, y);
}

static const char *reason_vi(cb_revocation_reason_t r)
{
    switch (r) {
    case CB_REASON_AFFILIATION_CHANGED:
        return "Thay đổi quan hệ công tác (chuyển công tác, nghỉ việc)";
    case CB_REASON_CESSATION_OF_OPERATION:
        return "Chấm dứt hoạt động, không còn nhu cầu sử dụng";
    case CB_REASON_SUPERSEDED:
        return "Được thay thế";
    default:
        return NULL;
    }
}

/* The print style: A4, one request a printed page, the screen-only parts
 * hidden on paper. */
static const char page_css[] =
    "@page{size:A4;margin:14mm 14mm 16mm}\n"
    ".letter{margin:28px 0;padding-top:20px;border-top:3px double #9aa5b1}\n"
    ".letter+.letter{break-before:page;page-break-before:always}\n"
    ".letterhead{width:100%;border:0;margin-bottom:6px}\n"
    ".letterhead td{border:0;text-align:center;vertical-align:top;width:50%;font-size:13px}\n"
    ".cap{display:block;font-weight:400;font-style:italic;color:#52606d;font-size:11px}"
    ".cap.i{display:inline}\n"
    "h2.title{text-align:center;border:0;font-size:16px;margin:12px 0 2px;padding:0}\n"
    "h3{font-size:14px;margin:12px 0 4px}td small{display:block;color:#52606d}\n"
    ".to{text-align:center;margin:2px 0 8px}\n"
    ".meta{font-size:13px;margin:4px 0}\n"
    ".sign{width:55%;margin:16px 0 0 45%;text-align:center;break-inside:avoid;"
    "page-break-inside:avoid}\n"
    ".sign p{margin:2px 0}.sign .role{font-weight:700;margin-top:6px}\n"
    ".sign .space{height:24mm}\n"
    "@media print{body{margin:0;padding:0;max-width:none;font-size:12px}"
    "body>header,footer,.screen{display:none}"
    ".letter{border:0;margin:0;padding:0}thead{display:table-header-group}"
    "th,td{padding:2px 6px}tr{break-inside:avoid;page-break-inside:avoid}}\n";

/* A heading (tag h2 or h3, of class cls when not NULL) in Vietnamese with
 * its English caption under it. */
static void heading(FILE *out, const char *tag, const char *cls, const char *vi, const char *en)
{
    fprintf(out, "<%s%s%s%s>", tag, cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    cb_html_put(out, vi);
    fputs("<small class=\"cap\">", out);
    cb_html_put(out, en);
    fprintf(out, "</small></%s>\n", tag);
}

/* A table header cell in Vietnamese with its English caption. */
static void th(FILE *out, const char *vi, const char *en)
{
    fputs("<th>", out);
    cb_html_put(out, vi);
    fputs("<small>", out);
    cb_html_put(out, en);
    fputs("</small></th>", out);
}

static void holder_type_cell(FILE *out, cb_holder_type_t t)
{
    fputs(t == CB_HOLDER_PERSON ? "Cá nhân<small>person</small>"
                                : "Tổ chức<small>organization</small>",
          out);
}

/* "Name" (id) of a holder, escaped. */
static void holder_cell(FILE *out, const cb_approvals_action_t *act)
{
    cb_html_put(out, act->holder_name ? act->holder_name : act->holder_id);
    if (act->holder_name && act->holder_id) {
        fputs("<br><small>", out);
        cb_html_put(out, act->holder_id);
        fputs("</small>", out);
    }
}

/* By holder type, then holder id (NULL first). */
static int cmp_holder(const void *x, const void *y)
{
    const cb_approvals_action_t *a = *(const cb_approvals_action_t *const *)x;
    const cb_approvals_action_t *b = *(const cb_approvals_action_t *const *)y;

    if (a->holder_type != b->holder_type)
        return a->holder_type < b->holder_type ? -1 : 1;
    return strcmp(or_empty(a->holder_id), or_empty(b->holder_id));
}

/* "-", or for a holder the CA has no active certificate for, that. */
static void no_target(FILE *out, const cb_approvals_action_t *act)
{
    if (act->certs_looked_up)
        fputs("<span class=\"none\">không có chứng thư số hoạt động<small>no active "
              "certificate at the CA</small></span>",
              out);
    else
        cb_html_put(out, NULL);
}

/* What an action acts on: a token recall its token(s), another action its
 * certificate(s): the outcome's, else its holder's as the CA listed them
 * ("-" when not known). */
static void targets_cell(FILE *out, const cb_approvals_action_t *act)
{
    bool recall = act->action == CB_ACTION_RECALL_DEVICE;
    const char *own = recall ? act->device_id : act->certificate_serial;
    size_t k, shown = 0;

    if (!own && !act->n_certs) {
        no_target(out, act);
        return;
    }
    if (own) {
        fprintf(out, "<code class=\"%s\">", recall ? "token" : "serial");
        cb_html_put(out, own);
        fputs("</code>", out);
        return;
    }
    for (k = 0; k < act->n_certs; k++) {
        const char *t = recall ? act->certs[k].device_id : act->certs[k].serial;
        if (!t)
            continue;
        fprintf(out, "%s<code class=\"%s\">", shown++ ? "<br>" : "", recall ? "token" : "serial");
        cb_html_put(out, t);
        fputs("</code>", out);
    }
    if (!shown)
        cb_html_put(out, NULL);
}

/* Whether an action names token t (its outcome's or its certificates'). */
static bool names_token(const cb_approvals_action_t *act, const char *t)
{
    size_t k;

    if (act->device_id && !strcmp(act->device_id, t))
        return true;
    for (k = 0; k < act->n_certs; k++)
        if (act->certs[k].device_id && !strcmp(act->certs[k].device_id, t))
            return true;
    return false;
}

/* Section 1: the holders the request names, once each. */
static int letter_holders(FILE *out, const cb_approvals_request_t *r, cb_error_t *err)
{
    const cb_approvals_action_t **v = malloc((r->n_actions ? r->n_actions : 1) * sizeof(*v));
    size_t i, no = 0;

    if (!v)
        return cb_error_set(err, CB_ERR_NOMEM, "approvals: out of memory");
    memcpy(v, r->actions, r->n_actions * sizeof(*v));
    qsort(v, r->n_actions, sizeof(*v), cmp_holder);
    heading(out, "h3", NULL, "1. Danh sách thuê bao", "Holders");
    fputs("<table class=\"holders\">\n<thead><tr>", out);
    th(out, "STT", "No.");
    th(out, "Họ và tên / Tên cơ quan, tổ chức", "Name");
    th(out, "Loại thuê bao", "Holder type");
    th(out, "Mã định danh", "Holder id");
    fputs("</tr></thead>\n<tbody>\n", out);
    for (i = 0; i < r->n_actions; i++) {
        if (i && !cmp_holder(&v[i - 1], &v[i]))
            continue;
        fprintf(out, "<tr><td class=\"n\">%zu</td><td class=\"holder-name\">", ++no);
        cb_html_put(out, v[i]->holder_name);
        fputs("</td><td>", out);
        holder_type_cell(out, v[i]->holder_type);
        fputs("</td><td><code>", out);
        cb_html_put(out, v[i]->holder_id);
        fputs("</code></td></tr>\n", out);
    }
    fputs("</tbody>\n</table>\n", out);
    free(v);
    return 0;
}

/* Section 2: the certificates to revoke, with their reasons. */
static void letter_revocations(FILE *out, const cb_approvals_request_t *r)
{
    size_t i, no = 0;

    heading(out, "h3", NULL, "2. Danh sách chứng thư số đề nghị thu hồi",
            "Certificates to be revoked");
    if (!r->revocations) {
        fputs("<p class=\"none\">Không có · none</p>\n", out);
        return;
    }
    fputs("<table class=\"revocations\">\n<thead><tr>", out);
    th(out, "STT", "No.");
    th(out, "Thuê bao", "Holder");
    th(out, "Số hiệu chứng thư số", "Certificate serial");
    th(out, "Lý do thu hồi", "Revocation reason");
    th(out, "Ghi chú", "Note");
    fputs("</tr></thead>\n<tbody>\n", out);
    for (i = 0; i < r->n_actions; i++) {
        const cb_approvals_action_t *act = r->actions[i];
        const char *vi = reason_vi(act->revocation_reason);
        size_t k, rows = !act->certificate_serial && act->n_certs ? act->n_certs : 1;
        if (act->action != CB_ACTION_REVOKE)
            continue;
        for (k = 0; k < rows; k++) {
            fprintf(out, "<tr><td class=\"n\">%zu</td><td>", ++no);
            holder_cell(out, act);
            fputs("</td><td>", out);
            if (act->certificate_serial || act->n_certs) {
                fputs("<code class=\"serial\">", out);
                cb_html_put(out, act->certificate_serial ? act->certificate_serial
                                                         : act->certs[k].serial);
                fputs("</code>", out);
            } else {
                no_target(out, act);
            }
            fputs("</td><td>", out);
            if (vi) {
                cb_html_put(out, vi);
                fputs("<small>", out);
                cb_html_put(out, cb_revocation_reason_name(act->revocation_reason));
                fputs("</small>", out);
            } else {
                cb_html_put(out, NULL);
            }
            fputs("</td><td>", out);
            cb_html_put(out, act->note);
            fputs("</td></tr>\n", out);
        }
    }
    fputs("</tbody>\n</table>\n", out);
}

/* Section 3: the other actions (changes of information, token recalls, ...). */
static void letter_others(FILE *out, const cb_approvals_request_t *r)
{
    size_t i, no = 0;

    heading(out, "h3", NULL, "3. Các thao tác khác đề nghị thực hiện", "Other actions requested");
    if (r->n_actions == r->revocations) {
        fputs("<p class=\"none\">Không có · none</p>\n", out);
        return;
    }
    fputs("<table class=\"others\">\n<thead><tr>", out);
    th(out, "STT", "No.");
    th(out, "Thao tác", "Action");
    th(out, "Thuê bao", "Holder");
    th(out, "Số hiệu chứng thư số / thiết bị", "Certificate serial / token");
    th(out, "Ghi chú", "Note");
    fputs("</tr></thead>\n<tbody>\n", out);
    for (i = 0; i < r->n_actions; i++) {
        const cb_approvals_action_t *act = r->actions[i];
        if (act->action == CB_ACTION_REVOKE)
            continue;
        fprintf(out, "<tr><td class=\"n\">%zu</td><td>", ++no);
        cb_html_put(out, action_vi[act->action]);
        fputs("<small>", out);
        cb_html_put(out, action_en[act->action]);
        fputs("</small></td><td>", out);
        holder_cell(out, act);
        fputs("</td><td>", out);
        targets_cell(out, act);
        fputs("</td><td>", out);
        cb_html_put(out, act->note);
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody>\n</table>\n", out);
}

/* Section 4: the key tokens to return, each with the holder of its first
 * action. */
static void letter_tokens(FILE *out, const cb_approvals_request_t *r)
{
    size_t i, k;

    heading(out, "h3", NULL, "4. Thiết bị lưu khóa bí mật cần bàn giao lại",
            "Key tokens to return");
    if (!r->n_tokens) {
        fputs("<p class=\"none\">Không có · none</p>\n", out);
        return;
    }
    fputs("<table class=\"tokens\">\n<thead><tr>", out);
    th(out, "STT", "No.");
    th(out, "Mã thiết bị", "Token (device id)");
    th(out, "Thuê bao", "Holder");
    fputs("</tr></thead>\n<tbody>\n", out);
    for (i = 0; i < r->n_tokens; i++) {
        fprintf(out, "<tr><td class=\"n\">%zu</td><td><code class=\"token\">", i + 1);
        cb_html_put(out, r->tokens[i]);
        fputs("</code></td><td>", out);
        for (k = 0; k < r->n_actions; k++)
            if (names_token(r->actions[k], r->tokens[i]))
                break;
        if (k < r->n_actions)
            holder_cell(out, r->actions[k]);
        else
            cb_html_put(out, NULL);
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody>\n</table>\n", out);
}

/* Whether every action of r that acts on a certificate names it: its
 * outcome's serial, or its holder's certificates from the CA. */
static bool certs_known(const cb_approvals_request_t *r)
{
    size_t i;

    for (i = 0; i < r->n_actions; i++) {
        const cb_approvals_action_t *act = r->actions[i];
        bool acts_on_cert = act->action == CB_ACTION_CHANGE_INFO ||
                            act->action == CB_ACTION_REVOKE ||
                            act->action == CB_ACTION_RECALL_DEVICE;
        if (acts_on_cert && !act->certificate_serial && !act->certs_looked_up &&
            !(act->action == CB_ACTION_RECALL_DEVICE && act->device_id))
            return false;
    }
    return true;
}

/* One request letter, the no-th of its page (its anchor "letter-NO"). */
static int letter(FILE *out, const cb_approvals_source_t *src, const cb_approvals_agency_t *ag,
                  const cb_approvals_request_t *r, size_t no, cb_error_t *err)
{
    char date[96];
    const char *name = ag->name ? ag->name : r->agency_name;

    date_vi(r->day, date, sizeof(date));
    fprintf(out, "<article class=\"letter\" id=\"letter-%zu\" data-request=\"", no);
    cb_html_put(out, r->id);
    fputs("\">\n<table class=\"letterhead\"><tr><td><b class=\"agency\">", out);
    cb_html_put(out, name ? name : "……………………");
    fputs("</b><span class=\"cap\">Cơ quan quản lý trực tiếp · managing agency</span>"
          "<span class=\"cap\">Mã · code: ",
          out);
    cb_html_put(out, ag->code);
    fputs("</span></td><td><b>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</b><br>"
          "<b>Độc lập - Tự do - Hạnh phúc</b>"
          "<span class=\"cap\">Socialist Republic of Viet Nam · Independence - Freedom - "
          "Happiness</span></td></tr></table>\n<p class=\"meta\">Số đề nghị "
          "<span class=\"cap i\">request id</span>: <b class=\"request-id\">",
          out);
    cb_html_put(out, r->id);
    fputs("</b> · Ngày <span class=\"cap i\">day</span>: <b>", out);
    cb_html_put(out, r->day[0] ? r->day : NULL);
    fputs("</b></p>\n", out);
    heading(out, "h2", "title", "GIẤY ĐỀ NGHỊ THU HỒI, THAY ĐỔI THÔNG TIN CHỨNG THƯ SỐ",
            "Request to revoke or change digital certificates");
    fputs("<p class=\"to\">Kính gửi: ", out);
    cb_html_put(out, CA_VI);
    fputs("<span class=\"cap\">To: ", out);
    cb_html_put(out, CA_EN);
    fputs("</span></p>\n<p>", out);
    cb_html_put(out, name ? name : "Cơ quan");
    fprintf(out,
            " đề nghị Quý Cục thực hiện %zu thao tác dưới đây đối với chứng thư số chuyên dùng "
            "công vụ của các thuê bao do cơ quan quản lý trực tiếp (%zu chứng thư số đề nghị thu "
            "hồi, %zu thiết bị lưu khóa bí mật cần bàn giao lại).<span class=\"cap\">The agency "
            "asks for the %zu action%s below on the public-service certificates of the holders it "
            "directly manages (%zu revocation%s, %zu key token%s to return).</span></p>\n",
            r->n_actions, r->revocations, r->n_tokens, r->n_actions, r->n_actions == 1 ? "" : "s",
            r->revocations, r->revocations == 1 ? "" : "s", r->n_tokens,
            r->n_tokens == 1 ? "" : "s");
    if (letter_holders(out, r, err) < 0)
        return -1;
    if (!certs_known(r))
        fputs("<p class=\"src unknown-certs\">Số hiệu chứng thư số và mã thiết bị của thuê bao "
              "chưa được tra cứu tại CA (“-”).<span class=\"cap\">The holders' certificate "
              "serials and tokens were not looked up at the CA (“-”): certbridge approvals "
              "--certificates-from-ca.</span></p>\n",
              out);
    letter_revocations(out, r);
    letter_others(out, r);
    letter_tokens(out, r);
    fputs("<div class=\"sign\"><p class=\"place\">", out);
    cb_html_put(out, src->place && *src->place ? src->place : "……………………");
    fputs(", ", out);
    cb_html_put(out, date);
    fputs("<span class=\"cap\">Place, date</span></p><p class=\"role\">THỦ TRƯỞNG CƠ QUAN"
          "<span class=\"cap\">Head of agency</span></p><p class=\"how\">(Ký, ghi rõ họ tên, "
          "đóng dấu)<span class=\"cap\">Signature, full name and seal</span></p>"
          "<div class=\"space\"></div></div>\n</article>\n",
          out);
    return 0;
}

int cb_approvals_write_agency_html(const cb_approvals_t *a, const cb_approvals_source_t *src,
                                   const cb_approvals_agency_t *ag, FILE *out, cb_error_t *err)
{
    const cb_approvals_request_t *reqs;
    size_t n, i;
    char sub[512], when[40];

    reqs = cb_approvals_requests(a, &n);
    if (ag->first + ag->n_requests > n)
        return cb_error_set(err, CB_ERR_INTERNAL, "approvals: agency out of range");
    snprintf(sub, sizeof(sub),
             "Approval requests awaiting the head of agency: %zu request%s, %zu "
             "action%s",
             ag->n_requests, ag->n_requests == 1 ? "" : "s", ag->n_actions,
             ag->n_actions == 1 ? "" : "s");
    cb_html_begin(out, ag->name ? ag->name : or_empty(ag->code), "Đề nghị chờ phê duyệt", sub,
                  page_css);
    fmt_rfc3339(when, sizeof(when), src->generated_at_ms);
    fputs("<p class=\"src\">", out);
    cb_html_put(out, ag->name);
    fputs(" · ", out);
    cb_html_put(out, ag->code);
    fputs(" · topic <code>", out);
    cb_html_put(out, src->topic);
    fprintf(out, "</code> · %s · certbridge %s</p>\n</header>\n<main>\n", when, CB_VERSION);
    /* on screen only: the letters of the page, each a link to its anchor */
    fputs("<nav class=\"screen\"><p>Đề nghị <span class=\"cap i\">requests</span>:", out);
    for (i = 0; i < ag->n_requests; i++) {
        fprintf(out, " <a href=\"#letter-%zu\">", i + 1);
        cb_html_put(out, reqs[ag->first + i].id);
        fputs("</a>", out);
    }
    fputs("</p></nav>\n", out);
    for (i = 0; i < ag->n_requests; i++)
        if (letter(out, src, ag, &reqs[ag->first + i], i + 1, err) < 0)
            return -1;
    fputs("</main>\n", out);
    cb_html_end(out, "certbridge approvals · the actions whose latest outcome is "
                     "AWAITING_APPROVAL (read_committed); print with the browser (A4)");
    if (ferror(out))
        return cb_error_set(err, CB_ERR_IO, "write error");
    return 0;
}

int cb_approvals_write_index_html(const cb_approvals_t *a, const cb_approvals_source_t *src,
                                  FILE *out, cb_error_t *err)
{
    const cb_approvals_agency_t *ags;
    size_t n, i;
    char sub[256], when[40], page[CB_APPROVALS_PAGE_NAME_MAX];

    ags = cb_approvals_agencies(a, &n);
    snprintf(sub, sizeof(sub), "Approval requests per managing agency: %zu action%s awaiting",
             cb_approvals_awaiting(a), cb_approvals_awaiting(a) == 1 ? "" : "s");
    cb_html_begin(out, "certbridge: đề nghị chờ phê duyệt / approval requests",
                  "Đề nghị chờ phê duyệt theo cơ quan quản lý", sub, NULL);
    fmt_rfc3339(when, sizeof(when), src->generated_at_ms);
    fputs("<p class=\"src\">topic <code>", out);
    cb_html_put(out, src->topic);
    fprintf(out, "</code> · %d partition%s · read_committed · %s · certbridge %s</p>\n</header>\n",
            src->partitions, src->partitions == 1 ? "" : "s", when, CB_VERSION);
    fputs("<section>\n", out);
    heading(out, "h2", NULL, "Cơ quan quản lý", "Managing agencies: open a page and print it");
    if (!n) {
        fputs("<p class=\"none\">Không có đề nghị nào chờ phê duyệt · nothing awaits "
              "approval</p>\n",
              out);
    } else {
        fputs("<table id=\"agencies\">\n<thead><tr>", out);
        th(out, "Cơ quan quản lý", "Managing agency");
        th(out, "Mã", "Code");
        th(out, "Số đề nghị", "Requests");
        th(out, "Thao tác", "Actions");
        th(out, "Thu hồi", "Revocations");
        th(out, "Thiết bị cần bàn giao", "Tokens to return");
        fputs("</tr></thead>\n<tbody>\n", out);
        for (i = 0; i < n; i++) {
            cb_approvals_page_name(&ags[i], page, sizeof(page));
            fputs("<tr><td><a href=\"", out);
            cb_html_put(out, page);
            fputs("\">", out);
            cb_html_put(out, ags[i].name);
            fputs("</a></td><td><code>", out);
            cb_html_put(out, ags[i].code);
            fprintf(out,
                    "</code></td><td class=\"n\">%zu</td><td class=\"n\">%zu</td>"
                    "<td class=\"n\">%zu</td><td class=\"n\">%zu</td></tr>\n",
                    ags[i].n_requests, ags[i].n_actions, ags[i].revocations, ags[i].n_tokens);
        }
        fputs("</tbody>\n</table>\n", out);
    }
    if (cb_approvals_unassigned(a))
        fprintf(out,
                "<p class=\"src\">%zu thao tác chờ phê duyệt chưa có số đề nghị · actions "
                "awaiting approval without a request id (not listed)</p>\n",
                cb_approvals_unassigned(a));
    fputs("</section>\n", out);
    cb_html_end(out, "certbridge approvals · the actions whose latest outcome is "
                     "AWAITING_APPROVAL (read_committed)");
    if (ferror(out))
        return cb_error_set(err, CB_ERR_IO, "write error");
    return 0;
}

/* Writes one page to dir/name through dir/name.tmp: the agency's (ag set)
 * or the index. */
static int save_page(const cb_approvals_t *a, const cb_approvals_source_t *src, const char *dir,
                     const char *name, const cb_approvals_agency_t *ag, cb_error_t *err)
{
    char path[PATH_MAX_LEN], tmp[PATH_MAX_LEN + 8];
    FILE *f;
    int rc, n = snprintf(path, sizeof(path), "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= sizeof(path))
        return cb_error_set(err, CB_ERR_IO, "--out %.200s: path too long", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        return cb_error_set(err, CB_ERR_IO, "%s: %s", tmp, strerror(errno));
    rc = ag ? cb_approvals_write_agency_html(a, src, ag, f, err)
            : cb_approvals_write_index_html(a, src, f, err);
    if (fclose(f) != 0 && rc == 0)
        rc = cb_error_set(err, CB_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = cb_error_set(err, CB_ERR_IO, "%s: %s", path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int cb_approvals_save_html(const cb_approvals_t *a, const cb_approvals_source_t *src,
                           const char *dir, cb_error_t *err)
{
    const cb_approvals_agency_t *ags;
    char page[CB_APPROVALS_PAGE_NAME_MAX];
    size_t n, i;

    ags = cb_approvals_agencies(a, &n);
    for (i = 0; i < n; i++) {
        cb_approvals_page_name(&ags[i], page, sizeof(page));
        if (save_page(a, src, dir, page, &ags[i], err) < 0)
            return -1;
    }
    return save_page(a, src, dir, "index.html", NULL, err);
}
