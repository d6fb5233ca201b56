/*
 * reconcile_render.c: the writers of `certbridge reconcile` (reconcile.h):
 * a terminal table, a JSON document and a self-contained HTML page. They
 * read a finished reconciliation through reconcile.h's accessors only.
 */
#include "certbridge/reconcile.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certbridge/html.h"
#include "certbridge/table.h"
#include "certbridge/version.h"

#define CELL_MAX 600 /* bytes of one terminal cell */

/* Vietnamese, then English, of each kind of finding. */
static const char *const kind_vi[CB_FIND_COUNT] = {"tổ chức đã giải thể, sáp nhập",
                                                   "tổ chức không có trong danh mục",
                                                   "thông tin sai lệch",
                                                   "cá nhân thuộc tổ chức đã giải thể, sáp nhập",
                                                   "cá nhân đã chuyển công tác",
                                                   "cá nhân đã nghỉ việc",
                                                   "tổ chức chưa có chứng thư",
                                                   "thiết bị chưa nộp lại"};
static const char *const kind_en[CB_FIND_COUNT] = {
    "organization dissolved or merged away",
    "organization not in the registry",
    "subject out of date",
    "person of an organization dissolved or merged away",
    "person transferred",
    "person departed",
    "organization without a certificate",
    "token recalled, not returned"};

int cb_reconcile_format_parse(const char *s)
{
    if (s && !strcmp(s, "table"))
        return CB_RECONCILE_TABLE;
    if (s && !strcmp(s, "json"))
        return CB_RECONCILE_JSON;
    if (s && !strcmp(s, "html"))
        return CB_RECONCILE_HTML;
    return -1;
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* "CODE Name" of an agency. */
static void agency_label(const cb_agency_t *a, char *buf, size_t size)
{
    if (a->code)
        cb_table_cellf(buf, size, "%s %s", a->code, a->name ? a->name : "");
    else
        cb_table_cellf(buf, size, "%s", or_dash(a->name));
}

/* "name, parent, province" of a SUBJECT finding's differences. */
static void diff_text(unsigned diff, char *buf, size_t size)
{
    cb_table_cellf(buf, size, "%s%s%s%s%s", diff & CB_DIFF_NAME ? "name" : "",
                   diff & CB_DIFF_NAME && diff & (CB_DIFF_PARENT | CB_DIFF_PROVINCE) ? ", " : "",
                   diff & CB_DIFF_PARENT ? "parent" : "",
                   diff & CB_DIFF_PARENT && diff & CB_DIFF_PROVINCE ? ", " : "",
                   diff & CB_DIFF_PROVINCE ? "province" : "");
}

/* What a finding says, in a line. */
static void detail_text(const cb_finding_t *f, char *buf, size_t size)
{
    char d[64];

    switch (f->kind) {
    case CB_FIND_ORG_GONE:
    case CB_FIND_PERSON_ORG_GONE:
        if (f->successor_code)
            cb_table_cellf(buf, size, "%s merged into %s %s", or_dash(f->org_code),
                           f->successor_code, f->successor_name ? f->successor_name : "");
        else if (f->fix && !strcmp(f->fix, "DISSOLVED"))
            cb_table_cellf(buf, size, "%s dissolved", or_dash(f->org_code));
        else
            cb_table_cellf(buf, size, "%s dissolved, or merged away to an unknown successor",
                           or_dash(f->org_code));
        break;
    case CB_FIND_ORG_UNKNOWN:
        cb_table_cellf(buf, size, "%s not in the registry", or_dash(f->org_code));
        break;
    case CB_FIND_SUBJECT:
        diff_text(f->diff, d, sizeof(d));
        cb_table_cellf(buf, size, "differs: %s", d);
        break;
    case CB_FIND_TRANSFERRED:
        cb_table_cellf(buf, size, "HR export: now at %s", or_dash(f->org_code));
        break;
    case CB_FIND_DEPARTED:
        cb_table_cellf(buf, size, "HR export: departed");
        break;
    case CB_FIND_NO_CERT:
        cb_table_cellf(buf, size, "no active certificate");
        break;
    case CB_FIND_TOKEN_OUT:
        cb_table_cellf(buf, size, "recalled %lld day%s ago, not returned", (long long)f->days,
                       f->days == 1 ? "" : "s");
        break;
    default:
        cb_table_cellf(buf, size, "-");
    }
}

/* The run's time as text. */
static void when_text(const cb_reconcile_t *rc, char *buf, size_t size, bool iso)
{
    int64_t ms = cb_reconcile_options(rc)->now_ms;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (!gmtime_r(&t, &tm) ||
        !strftime(buf, size, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(buf, size, "-");
}

/* Appends a row of cleaned cells. */
static int add_row(cb_table_t *t, const char *const *cells, size_t n, cb_table_row_kind_t kind,
                   cb_error_t *err)
{
    char *c[CB_TABLE_MAX_COLS] = {NULL};
    size_t k;
    int rc = -1;

    for (k = 0; k < n; k++)
        if (!(c[k] = cb_html_clean(cells[k] ? cells[k] : "", CELL_MAX))) {
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            goto out;
        }
    rc = cb_table_add_row(t, (const char *const *)c, kind, err);
out:
    for (k = 0; k < n; k++)
        free(c[k]);
    return rc;
}

/* ---- table ------------------------------------------------------------ */

static int text_agencies(const cb_reconcile_t *rc, FILE *out, cb_error_t *err)
{
    cb_table_column_t cols[CB_TABLE_MAX_COLS] = {{.title = "MANAGING AGENCY"},
                                                 {.title = "ORG", .align = CB_TABLE_RIGHT},
                                                 {.title = "PERSON", .align = CB_TABLE_RIGHT},
                                                 {.title = "COMPLIANT", .align = CB_TABLE_RIGHT}};
    size_t n, i, ncols = 4;
    const cb_agency_t *ag = cb_reconcile_agencies(rc, &n);
    cb_table_t *t;
    int k;

    for (k = 0; k < CB_FIND_COUNT; k++)
        cols[ncols++] = (cb_table_column_t){.title = cb_finding_kind_name((cb_finding_kind_t)k),
                                            .align = CB_TABLE_RIGHT};
    if (!(t = cb_table_new(cols, ncols, err)))
        return -1;
    for (i = 0; i < n; i++) {
        char label[1200], num[3 + CB_FIND_COUNT][24];
        const char *cells[CB_TABLE_MAX_COLS];
        size_t c = 0;
        agency_label(&ag[i], label, sizeof(label));
        cells[c++] = label;
        snprintf(num[0], sizeof(num[0]), "%zu", ag[i].org_certs);
        snprintf(num[1], sizeof(num[1]), "%zu", ag[i].person_certs);
        snprintf(num[2], sizeof(num[2]), "%zu", ag[i].compliant);
        cells[c++] = num[0];
        cells[c++] = num[1];
        cells[c++] = num[2];
        for (k = 0; k < CB_FIND_COUNT; k++) {
            if (ag[i].counts[k])
                snprintf(num[3 + k], sizeof(num[3 + k]), "%zu", ag[i].counts[k]);
            else
                snprintf(num[3 + k], sizeof(num[3 + k]), "-");
            cells[c++] = num[3 + k];
        }
        if (add_row(t, cells, c, CB_TABLE_ROW, err) < 0)
            goto fail;
    }
    fputs("\nBy managing agency (the agency whose head signs the requests)\n", out);
    if (cb_table_write(t, out, err) < 0)
        goto fail;
    cb_table_destroy(t);
    return 0;
fail:
    cb_table_destroy(t);
    return -1;
}

static int text_findings(const cb_reconcile_t *rc, FILE *out, cb_error_t *err)
{
    static const cb_table_column_t cols[] = {
        {.title = "MANAGING AGENCY", .grouped = true, .max_width = 40},
        {.title = "FINDING"},
        {.title = "HOLDER", .max_width = 48},
        {.title = "CERTIFICATE", .max_width = 14, .elide = CB_TABLE_ELIDE_START},
        {.title = "WHAT", .max_width = 70},
        {.title = "EVENT"}};
    size_t n, n_ag, i, prev = (size_t)-1;
    const cb_finding_t *const *fs = cb_reconcile_findings(rc, &n);
    const cb_agency_t *ag = cb_reconcile_agencies(rc, &n_ag);
    cb_table_t *t = cb_table_new(cols, sizeof(cols) / sizeof(cols[0]), err);

    if (!t)
        return -1;
    for (i = 0; i < n; i++) {
        const cb_finding_t *f = fs[i];
        char label[1200], holder[1200], what[1400], cert[200];
        const char *cells[6] = {label, cb_finding_kind_name(f->kind), holder, cert,
                                what,  f->fix ? f->fix : "review"};
        agency_label(&ag[f->agency], label, sizeof(label));
        cb_table_cellf(holder, sizeof(holder), "%s %s", or_dash(f->holder_id),
                       f->holder_name ? f->holder_name : "");
        if (f->kind == CB_FIND_TOKEN_OUT)
            cb_table_cellf(cert, sizeof(cert), "token %s", or_dash(f->device_id));
        else
            cb_table_cellf(cert, sizeof(cert), "%s", or_dash(f->serial));
        detail_text(f, what, sizeof(what));
        if (add_row(t, cells, 6, f->agency == prev ? CB_TABLE_CONTINUATION : CB_TABLE_ROW, err) < 0)
            goto fail;
        prev = f->agency;
        if (f->expected) {
            char *c = cb_html_clean(f->expected, CELL_MAX), span[CELL_MAX + 8];
            if (!c) {
                cb_error_set(err, CB_ERR_NOMEM, "out of memory");
                goto fail;
            }
            cb_table_cellf(span, sizeof(span), "→ %s", c);
            free(c);
            if (cb_table_add_span(t, 2, span, err) < 0)
                goto fail;
        }
    }
    fprintf(out, "\nFindings: %zu\n", n);
    if (n && cb_table_write(t, out, err) < 0)
        goto fail;
    cb_table_destroy(t);
    return 0;
fail:
    cb_table_destroy(t);
    return -1;
}

static int write_table(const cb_reconcile_t *rc, FILE *out, cb_error_t *err)
{
    char when[64];
    size_t certs = cb_reconcile_certificates(rc);
    const cb_reconcile_options_t *o = cb_reconcile_options(rc);

    when_text(rc, when, sizeof(when), false);
    fprintf(out,
            "certbridge reconcile: %zu active certificates%s%s checked against the registry, "
            "%s\n",
            certs, o->province ? " of " : "", o->province ? o->province : "", when);
    fprintf(out,
            "%zu compliant (%zu differ only in letter case or spacing), %zu findings, %zu "
            "corrective events; %zu tokens recalled and not returned\n",
            cb_reconcile_compliant(rc), cb_reconcile_case_only(rc), cb_reconcile_count(rc, -1),
            cb_reconcile_events(rc), cb_reconcile_count(rc, CB_FIND_TOKEN_OUT));
    if (text_agencies(rc, out, err) < 0 || text_findings(rc, out, err) < 0)
        return -1;
    return ferror(out) ? cb_error_set(err, CB_ERR_IO, "write error") : 0;
}

/* ---- JSON ------------------------------------------------------------- */

static int write_json(const cb_reconcile_t *rc, FILE *out, cb_error_t *err)
{
    size_t n, n_ag, i;
    const cb_finding_t *const *fs = cb_reconcile_findings(rc, &n);
    const cb_agency_t *ag = cb_reconcile_agencies(rc, &n_ag);
    json_t *doc = json_object(), *by_kind = json_object(), *agencies = json_array(),
           *items = json_array();
    char when[64];
    int k, r;

    when_text(rc, when, sizeof(when), true);
    json_object_set_new(doc, "generated_at", json_string(when));
    json_object_set_new(doc, "province", cb_html_json_string(cb_reconcile_options(rc)->province));
    json_object_set_new(doc, "certificates",
                        json_integer((json_int_t)cb_reconcile_certificates(rc)));
    json_object_set_new(doc, "compliant", json_integer((json_int_t)cb_reconcile_compliant(rc)));
    json_object_set_new(doc, "case_only", json_integer((json_int_t)cb_reconcile_case_only(rc)));
    json_object_set_new(doc, "findings", json_integer((json_int_t)n));
    json_object_set_new(doc, "events", json_integer((json_int_t)cb_reconcile_events(rc)));
    for (k = 0; k < CB_FIND_COUNT; k++)
        json_object_set_new(by_kind, cb_finding_kind_name((cb_finding_kind_t)k),
                            json_integer((json_int_t)cb_reconcile_count(rc, k)));
    json_object_set_new(doc, "by_kind", by_kind);
    for (i = 0; i < n_ag; i++) {
        json_t *a = json_object(), *c = json_object();
        json_object_set_new(a, "code", cb_html_json_string(ag[i].code));
        json_object_set_new(a, "name", cb_html_json_string(ag[i].name));
        json_object_set_new(a, "org_certificates", json_integer((json_int_t)ag[i].org_certs));
        json_object_set_new(a, "person_certificates", json_integer((json_int_t)ag[i].person_certs));
        json_object_set_new(a, "compliant", json_integer((json_int_t)ag[i].compliant));
        json_object_set_new(a, "case_only", json_integer((json_int_t)ag[i].case_only));
        for (k = 0; k < CB_FIND_COUNT; k++)
            if (ag[i].counts[k])
                json_object_set_new(c, cb_finding_kind_name((cb_finding_kind_t)k),
                                    json_integer((json_int_t)ag[i].counts[k]));
        json_object_set_new(a, "findings", c);
        json_array_append_new(agencies, a);
    }
    json_object_set_new(doc, "agencies", agencies);
    for (i = 0; i < n; i++) {
        const cb_finding_t *f = fs[i];
        json_t *o = json_object(), *d = json_array();
        json_object_set_new(o, "kind", json_string(cb_finding_kind_name(f->kind)));
        json_object_set_new(o, "agency_code", cb_html_json_string(ag[f->agency].code));
        json_object_set_new(o, "agency_name", cb_html_json_string(ag[f->agency].name));
        json_object_set_new(o, "holder_type", json_string(cb_holder_type_name(f->holder_type)));
        json_object_set_new(o, "holder_id", cb_html_json_string(f->holder_id));
        json_object_set_new(o, "holder_name", cb_html_json_string(f->holder_name));
        json_object_set_new(o, "org_code", cb_html_json_string(f->org_code));
        json_object_set_new(o, "serial", cb_html_json_string(f->serial));
        json_object_set_new(o, "device_id", cb_html_json_string(f->device_id));
        json_object_set_new(o, "subject", cb_html_json_string(f->subject));
        if (f->diff & CB_DIFF_NAME)
            json_array_append_new(d, json_string("name"));
        if (f->diff & CB_DIFF_PARENT)
            json_array_append_new(d, json_string("parent"));
        if (f->diff & CB_DIFF_PROVINCE)
            json_array_append_new(d, json_string("province"));
        json_object_set_new(o, "differs", d);
        json_object_set_new(o, "expected_subject", cb_html_json_string(f->expected));
        json_object_set_new(o, "successor_code", cb_html_json_string(f->successor_code));
        json_object_set_new(o, "successor_name", cb_html_json_string(f->successor_name));
        if (f->kind == CB_FIND_TOKEN_OUT)
            json_object_set_new(o, "days_out", json_integer((json_int_t)f->days));
        json_object_set_new(o, "fix", cb_html_json_string(f->fix));
        json_object_set_new(o, "note", cb_html_json_string(f->note));
        json_array_append_new(items, o);
    }
    json_object_set_new(doc, "items", items);
    r = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (r < 0 || fputc('\n', out) == EOF || ferror(out))
        return cb_error_set(err, CB_ERR_IO, "write error");
    return 0;
}

/* ---- HTML ------------------------------------------------------------- */

static const char reconcile_css[] =
    ".k{display:inline-block;padding:1px 6px;border-radius:4px;font-size:12px;color:#fff;"
    "background:#c62828}.k.TOKEN_OUT{background:#ef6c00}.k.NO_CERT{background:#52606d}"
    ".k.ORG_UNKNOWN{background:#8e24aa}\n"
    ".exp{color:#2e7d32;font-size:12px}.note{color:#52606d;font-size:12px}\n"
    "tr.agency td{background:#f5f7fa;font-weight:600}\n"
    ".wide{overflow-x:auto}#reconcile-agencies th,#reconcile-agencies td{padding:4px 5px}"
    "#reconcile-agencies td:first-child{min-width:220px}\n";

static void html_agencies(const cb_reconcile_t *rc, FILE *out)
{
    size_t n, i;
    const cb_agency_t *ag = cb_reconcile_agencies(rc, &n);
    int k;

    fputs("<section>\n<h2>Theo cơ quan quản lý <small>· by managing agency (the agency whose "
          "head signs the requests)</small></h2>\n<div class=\"wide\">\n"
          "<table id=\"reconcile-agencies\">\n<thead><tr>"
          "<th>Cơ quan quản lý<small>managing agency</small></th>"
          "<th class=\"n\">Tổ chức<small>org certificates</small></th>"
          "<th class=\"n\">Cá nhân<small>personal</small></th>"
          "<th class=\"n\">Đúng<small>compliant</small></th>",
          out);
    for (k = 0; k < CB_FIND_COUNT; k++)
        fprintf(out, "<th class=\"n\">%s<small>%s</small></th>",
                cb_finding_kind_name((cb_finding_kind_t)k), kind_vi[k]);
    fputs("</tr></thead>\n<tbody>\n", out);
    for (i = 0; i < n; i++) {
        fputs("<tr><td>", out);
        if (ag[i].code) {
            fputs("<code>", out);
            cb_html_put(out, ag[i].code);
            fputs("</code> ", out);
        }
        cb_html_put(out, ag[i].name);
        fprintf(out,
                "</td><td class=\"n\">%zu</td><td class=\"n\">%zu</td><td class=\"n\">%zu</td>",
                ag[i].org_certs, ag[i].person_certs, ag[i].compliant);
        for (k = 0; k < CB_FIND_COUNT; k++) {
            if (ag[i].counts[k])
                fprintf(out, "<td class=\"n\">%zu</td>", ag[i].counts[k]);
            else
                fputs("<td class=\"n z\">0</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</tbody>\n</table>\n</div>\n</section>\n", out);
}

static void html_findings(const cb_reconcile_t *rc, FILE *out)
{
    size_t n, n_ag, i, prev = (size_t)-1;
    const cb_finding_t *const *fs = cb_reconcile_findings(rc, &n);
    const cb_agency_t *ag = cb_reconcile_agencies(rc, &n_ag);
    char what[1400];

    fprintf(out,
            "<section>\n<h2>Kết quả rà soát <small>· findings (%zu), by managing agency</small>"
            "</h2>\n",
            n);
    if (!n) {
        fputs("<p class=\"none\">Không có sai lệch · nothing found</p>\n</section>\n", out);
        return;
    }
    fputs("<table id=\"reconcile-findings\">\n<thead><tr><th>Loại<small>finding</small></th>"
          "<th>Chủ thể<small>holder</small></th><th>Chứng thư, thiết bị<small>certificate, "
          "token</small></th><th>Nội dung<small>what</small></th><th>Sự kiện<small>corrective "
          "event</small></th></tr></thead>\n<tbody>\n",
          out);
    for (i = 0; i < n; i++) {
        const cb_finding_t *f = fs[i];
        if (f->agency != prev) {
            fputs("<tr class=\"agency\"><td colspan=\"5\">", out);
            if (ag[f->agency].code) {
                fputs("<code>", out);
                cb_html_put(out, ag[f->agency].code);
                fputs("</code> ", out);
            }
            cb_html_put(out, ag[f->agency].name);
            fputs("</td></tr>\n", out);
            prev = f->agency;
        }
        fprintf(out,
                "<tr data-kind=\"%s\"><td><span class=\"k %s\">%s</span><br><small>%s</small>"
                "</td><td>",
                cb_finding_kind_name(f->kind), cb_finding_kind_name(f->kind),
                cb_finding_kind_name(f->kind), kind_en[f->kind]);
        cb_html_put(out, f->holder_id);
        fputs(" ", out);
        cb_html_put(out, f->holder_name ? f->holder_name : "");
        fputs("</td><td><code>", out);
        cb_html_put(out, f->kind == CB_FIND_TOKEN_OUT ? f->device_id : f->serial);
        fputs("</code></td><td>", out);
        detail_text(f, what, sizeof(what));
        cb_html_put(out, what);
        if (f->expected) {
            fputs("<br><span class=\"exp\">→ ", out);
            cb_html_put(out, f->expected);
            fputs("</span>", out);
        }
        if (f->note) {
            fputs("<br><span class=\"note\">", out);
            cb_html_put(out, f->note);
            fputs("</span>", out);
        }
        fputs("</td><td>", out);
        cb_html_put(out, f->fix ? f->fix : "xem xét · review");
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody>\n</table>\n</section>\n", out);
}

static int write_html(const cb_reconcile_t *rc, FILE *out, cb_error_t *err)
{
    char when[64];
    size_t certs = cb_reconcile_certificates(rc), ok = cb_reconcile_compliant(rc);
    const cb_reconcile_options_t *o = cb_reconcile_options(rc);

    when_text(rc, when, sizeof(when), false);
    cb_html_begin(out, "certbridge: rà soát chứng thư số / certificate reconciliation",
                  "Rà soát chứng thư số chuyên dùng công vụ",
                  "Certificates in use against the organization registry", reconcile_css);
    fputs("<p class=\"src\">", out);
    if (o->province) {
        fputs("tỉnh / province ", out);
        cb_html_put(out, o->province);
        fputs(" · ", out);
    }
    fprintf(out, "%s · certbridge %s · nothing was changed at the CA</p>\n</header>\n", when,
            CB_VERSION);
    fprintf(out,
            "<section class=\"cards\">\n"
            "<div class=\"card\"><b>%zu</b>chứng thư đang hiệu lực · active certificates</div>\n"
            "<div class=\"card ok\"><b>%.1f%%</b>đúng · compliant (%zu)</div>\n"
            "<div class=\"card bad\"><b>%zu</b>sai lệch · findings</div>\n"
            "<div class=\"card\"><b>%zu</b>sự kiện khắc phục · corrective events</div>\n"
            "<div class=\"card wait\"><b>%zu</b>thiết bị chưa nộp lại · tokens still out</div>\n"
            "</section>\n",
            certs, certs ? 100.0 * (double)ok / (double)certs : 0.0, ok, cb_reconcile_count(rc, -1),
            cb_reconcile_events(rc), cb_reconcile_count(rc, CB_FIND_TOKEN_OUT));
    html_agencies(rc, out);
    html_findings(rc, out);
    cb_html_end(out, "certbridge reconcile · compliant = the subject matches the registry "
                     "(NFC, RFC 4514 escapes undone, letter case and spacing ignored); "
                     "corrective events: certbridge plan -i FILE shows their actions");
    return ferror(out) ? cb_error_set(err, CB_ERR_IO, "write error") : 0;
}

int cb_reconcile_write(const cb_reconcile_t *rc, cb_reconcile_format_t format, FILE *out,
                       cb_error_t *err)
{
    switch (format) {
    case CB_RECONCILE_JSON:
        return write_json(rc, out, err);
    case CB_RECONCILE_HTML:
        return write_html(rc, out, err);
    default:
        return write_table(rc, out, err);
    }
}
