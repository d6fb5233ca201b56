/*
 * reconcile.c: `certbridge reconcile` (reconcile.h): the checks of each
 * certificate against the registry, the managing agencies, the corrective
 * events, and the walk over the CA. The writers are in reconcile_render.c.
 */
#define _GNU_SOURCE /* qsort_r */
#include "certbridge/reconcile.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "certbridge/ca_inventory.h"
#include "certbridge/clock.h"
#include "certbridge/dn.h"
#include "certbridge/event.h"
#include "certbridge/subject.h"
#include "certbridge/text.h"

/* A finding as kept: the public struct, whose strings it owns. */
typedef cb_finding_t rc_finding_t;

/* A string map: keys (owned copies) to indexes, open addressing. */
typedef struct rc_map {
    char **keys;
    size_t *vals;
    size_t cap, n;
} rc_map_t;

/* A corrective event to emit, by key: "O" + organization code, or "P" +
 * person id. Strings owned. */
typedef struct rc_fix {
    char *key;
    int prio; /* a fix of a higher priority replaces it */
    bool person;
    const char *type; /* the event type (a literal) */
    /* the organization: the event's org (the successor for MERGED is looked
     * up when written), or the person's organization after the event */
    char *code, *name, *parent_code, *parent_name, *province;
    char *successor; /* MERGED: the successor's code */
    /* persons */
    char *person_id, *full_name, *email, *title;
    char national_id[CB_NATIONAL_ID_LEN + 1];
    bool is_leader;
    cb_departure_reason_t departure_reason;
    bool has_departed_on;
    int32_t departed_on;
    char *prev_code, *prev_name, *prev_parent_code, *prev_parent_name, *prev_province;
} rc_fix_t;

struct cb_reconcile {
    const cb_orgreg_t *reg;
    cb_reconcile_options_t opts;
    bool finished;
    size_t certificates, compliant, case_only;
    size_t counts[CB_FIND_COUNT];
    int64_t elapsed_ms, drawn_ms; /* the walk's time; when the progress bar was drawn */
    rc_finding_t *findings;
    size_t n_findings, cap_findings;
    const cb_finding_t **sorted;
    cb_agency_t *agencies;
    char **agency_code, **agency_name; /* owned; agencies[i] points at them */
    size_t n_agencies, cap_agencies;
    rc_map_t agency_map;
    rc_fix_t *fixes;
    size_t n_fixes, cap_fixes;
    size_t *fix_order; /* organizations, merged ones by successor, persons */
    size_t n_events;
    rc_map_t fix_map;
    unsigned char *has_cert; /* a bit per registry organization */
};

#define MERGED_PER_EVENT 200 /* merged organizations of one MERGED event (rules: 512 intents) */

static const char *const kind_names[CB_FIND_COUNT] = {"ORG_GONE",        "ORG_UNKNOWN", "SUBJECT",
                                                      "PERSON_ORG_GONE", "TRANSFERRED", "DEPARTED",
                                                      "NO_CERT",         "TOKEN_OUT"};

const char *cb_finding_kind_name(cb_finding_kind_t k)
{
    return (unsigned)k < CB_FIND_COUNT ? kind_names[k] : "?";
}

/* ---- a string map (agencies, events) ------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The value of key, or (when absent) val stored under a copy of key;
 * *added tells which. -1 when out of memory. */
static int map_put(rc_map_t *m, const char *key, size_t val, size_t *out, bool *added)
{
    size_t i;

    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256, k;
        char **keys = calloc(cap, sizeof(*keys));
        size_t *vals = calloc(cap, sizeof(*vals));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return -1;
        }
        for (k = 0; k < m->cap; k++) {
            if (!m->keys[k])
                continue;
            for (i = hash_str(m->keys[k]) & (cap - 1); keys[i]; i = (i + 1) & (cap - 1))
                ;
            keys[i] = m->keys[k];
            vals[i] = m->vals[k];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    for (i = hash_str(key) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1)) {
        if (!strcmp(m->keys[i], key)) {
            *out = m->vals[i];
            *added = false;
            return 0;
        }
    }
    if (!(m->keys[i] = strdup(key)))
        return -1;
    m->vals[i] = val;
    m->n++;
    *out = val;
    *added = true;
    return 0;
}

static void map_free(rc_map_t *m)
{
    size_t i;

    for (i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* ---- names ---------------------------------------------------------- */

/* s in NFC, case-folded, runs of white space as one space and none at the
 * ends; NULL when s is not valid UTF-8 or memory ran out. Caller frees. */
static char *fold(const char *s)
{
    utf8proc_uint8_t *f = NULL;
    char *out;
    size_t i, o = 0;
    bool space = false;

    if (utf8proc_map((const utf8proc_uint8_t *)s, 0, &f,
                     UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD) <
        0)
        return NULL;
    out = (char *)f;
    for (i = 0; out[i]; i++) {
        char c = out[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

bool cb_reconcile_name_equal(const char *a, const char *b)
{
    char *fa, *fb;
    bool eq;

    if (!a || !b)
        return a == b;
    fa = fold(a);
    fb = fold(b);
    eq = fa && fb && !strcmp(fa, fb);
    free(fa);
    free(fb);
    return eq;
}

/* How a certificate's value compares with the registry's: SAME (byte for
 * byte in NFC), CASE (equal only as names compare), or DIFF. A value the
 * registry does not give is SAME. */
typedef enum { CMP_SAME = 0, CMP_CASE, CMP_DIFF } cmp_t;

static cmp_t compare(const char *cert, const char *reg)
{
    if (!reg)
        return CMP_SAME;
    if (!cert)
        return CMP_DIFF;
    if (!strcmp(cert, reg)) /* both NFC already (dn.c, orgreg.c) */
        return CMP_SAME;
    return cb_reconcile_name_equal(cert, reg) ? CMP_CASE : CMP_DIFF;
}

/* ---- building ------------------------------------------------------- */

cb_reconcile_t *cb_reconcile_new(const cb_orgreg_t *reg, const cb_reconcile_options_t *o,
                                 cb_error_t *err)
{
    cb_reconcile_t *rc = calloc(1, sizeof(*rc));
    size_t n;

    if (!rc) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    rc->reg = reg;
    rc->opts = *o;
    if (!rc->opts.now_ms)
        rc->opts.now_ms = cb_clock_wall_ms();
    cb_orgreg_orgs(reg, &n);
    if (!(rc->has_cert = calloc(n / 8 + 1, 1))) {
        free(rc);
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return rc;
}

static void finding_free(rc_finding_t *f)
{
    free((char *)f->holder_id);
    free((char *)f->holder_name);
    free((char *)f->org_code);
    free((char *)f->serial);
    free((char *)f->device_id);
    free((char *)f->subject);
    free((char *)f->expected);
    free((char *)f->successor_code);
    free((char *)f->successor_name);
}

static void fix_free(rc_fix_t *x)
{
    free(x->key);
    free(x->code);
    free(x->name);
    free(x->parent_code);
    free(x->parent_name);
    free(x->province);
    free(x->successor);
    free(x->person_id);
    free(x->full_name);
    free(x->email);
    free(x->title);
    free(x->prev_code);
    free(x->prev_name);
    free(x->prev_parent_code);
    free(x->prev_parent_name);
    free(x->prev_province);
}

void cb_reconcile_destroy(cb_reconcile_t *rc)
{
    size_t i;

    if (!rc)
        return;
    for (i = 0; i < rc->n_findings; i++)
        finding_free(&rc->findings[i]);
    for (i = 0; i < rc->n_agencies; i++) {
        free(rc->agency_code[i]);
        free(rc->agency_name[i]);
    }
    for (i = 0; i < rc->n_fixes; i++)
        fix_free(&rc->fixes[i]);
    free(rc->findings);
    free(rc->sorted);
    free(rc->agencies);
    free(rc->agency_code);
    free(rc->agency_name);
    free(rc->fixes);
    free(rc->fix_order);
    free(rc->has_cert);
    map_free(&rc->agency_map);
    map_free(&rc->fix_map);
    free(rc);
}

/* The agency of code (and name, when the registry does not name it), or
 * of name alone when code is NULL; made on first use. -1 with err. */
static long agency_of(cb_reconcile_t *rc, const char *code, const char *name, cb_error_t *err)
{
    const cb_orgreg_org_t *org = code ? cb_orgreg_org(rc->reg, code) : NULL;
    char key[CB_STRING_MAX_BYTES + 8];
    size_t idx;
    bool added;

    if (org && org->name)
        name = org->name;
    if (!code && !name)
        name = "(không rõ / unknown)";
    snprintf(key, sizeof(key), "%c%s", code ? 'C' : 'N', code ? code : name);
    if (map_put(&rc->agency_map, key, rc->n_agencies, &idx, &added) < 0)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    if (!added)
        return (long)idx;
    if (rc->n_agencies >= CB_RECONCILE_AGENCIES_MAX)
        return cb_error_set(err, CB_ERR_LIMIT, "more than %d managing agencies",
                            CB_RECONCILE_AGENCIES_MAX);
    if (rc->n_agencies == rc->cap_agencies) {
        size_t cap = rc->cap_agencies ? rc->cap_agencies * 2 : 64;
        cb_agency_t *a = realloc(rc->agencies, cap * sizeof(*a));
        char **c = a ? realloc(rc->agency_code, cap * sizeof(*c)) : NULL;
        char **nm = c ? realloc(rc->agency_name, cap * sizeof(*nm)) : NULL;
        if (a)
            rc->agencies = a;
        if (c)
            rc->agency_code = c;
        if (nm)
            rc->agency_name = nm;
        if (!a || !c || !nm)
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        rc->cap_agencies = cap;
    }
    memset(&rc->agencies[idx], 0, sizeof(cb_agency_t));
    rc->agency_code[idx] = code ? strdup(code) : NULL;
    rc->agency_name[idx] = name ? strdup(name) : NULL;
    if ((code && !rc->agency_code[idx]) || (name && !rc->agency_name[idx])) {
        free(rc->agency_code[idx]);
        free(rc->agency_name[idx]);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    rc->agencies[idx].code = rc->agency_code[idx];
    rc->agencies[idx].name = rc->agency_name[idx];
    rc->n_agencies++;
    return (long)idx;
}

/* The managing agency of an organization (orgreg.h); subject_o names the
 * parent when the registry does not know the organization. */
static long agency_of_org(cb_reconcile_t *rc, const char *code, const char *subject_o,
                          const char *self_name, cb_error_t *err)
{
    cb_orgreg_agency_t a = cb_orgreg_agency_of_org(rc->reg, code, subject_o, self_name);

    return agency_of(rc, a.code, a.name, err);
}

/* The managing agency of a person (orgreg.h); subject_ou names the
 * organization when no code is known. */
static long agency_of_person(cb_reconcile_t *rc, const char *person_id, const char *code,
                             const char *subject_ou, cb_error_t *err)
{
    cb_orgreg_agency_t a = cb_orgreg_agency_of_person(rc->reg, person_id, code, subject_ou);

    return agency_of(rc, a.code, a.name, err);
}

/* A new finding of kind for agency, its strings empty; NULL with err. */
static rc_finding_t *finding_new(cb_reconcile_t *rc, cb_finding_kind_t kind, long agency,
                                 cb_error_t *err)
{
    rc_finding_t *f;

    if (rc->n_findings >= CB_RECONCILE_FINDINGS_MAX) {
        cb_error_set(err, CB_ERR_LIMIT, "more than %d findings", CB_RECONCILE_FINDINGS_MAX);
        return NULL;
    }
    if (rc->n_findings == rc->cap_findings) {
        size_t cap = rc->cap_findings ? rc->cap_findings * 2 : 256;
        rc_finding_t *nf = realloc(rc->findings, cap * sizeof(*nf));
        if (!nf) {
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            return NULL;
        }
        rc->findings = nf;
        rc->cap_findings = cap;
    }
    f = &rc->findings[rc->n_findings++];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->agency = (size_t)agency;
    rc->agencies[agency].counts[kind]++;
    rc->counts[kind]++;
    return f;
}

/* Copies the certificate's strings into f; false when out of memory. */
static bool finding_cert(rc_finding_t *f, const cb_ca_cert_t *c, cb_holder_type_t type,
                         const char *cn)
{
    bool ok = true;

    f->holder_type = type;
    f->holder_id = cb_text_dup_opt(c->holder_id, &ok);
    f->holder_name = cb_text_dup_opt(cn, &ok);
    f->serial = cb_text_dup_opt(c->serial, &ok);
    f->device_id = cb_text_dup_opt(c->device_id, &ok);
    f->subject = cb_text_dup_opt(c->subject, &ok);
    return ok;
}

/* The fix of key (made when absent, with priority prio); NULL with err.
 * An existing fix of a lower priority is emptied and taken over (*fresh
 * true); of a higher or equal one it is answered as is (*fresh false). */
static rc_fix_t *fix_for(cb_reconcile_t *rc, const char *key, int prio, bool *fresh,
                         cb_error_t *err)
{
    size_t idx;
    bool added;
    rc_fix_t *x;

    if (map_put(&rc->fix_map, key, rc->n_fixes, &idx, &added) < 0) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (added) {
        if (rc->n_fixes == rc->cap_fixes) {
            size_t cap = rc->cap_fixes ? rc->cap_fixes * 2 : 64;
            rc_fix_t *nx = realloc(rc->fixes, cap * sizeof(*nx));
            if (!nx) {
                cb_error_set(err, CB_ERR_NOMEM, "out of memory");
                return NULL;
            }
            rc->fixes = nx;
            rc->cap_fixes = cap;
        }
        x = &rc->fixes[rc->n_fixes++];
        memset(x, 0, sizeof(*x));
        if (!(x->key = strdup(key))) {
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            return NULL;
        }
        x->prio = prio;
        *fresh = true;
        return x;
    }
    x = &rc->fixes[idx];
    if (x->prio >= prio) {
        *fresh = false;
        return x;
    }
    {
        char *k = x->key;
        x->key = NULL;
        fix_free(x);
        memset(x, 0, sizeof(*x));
        x->key = k;
    }
    x->prio = prio;
    *fresh = true;
    return x;
}

/* Fills the organization part of a fix (code, name, parent, province)
 * from the registry, and from the certificate where the registry is
 * silent. */
static bool fix_org(rc_fix_t *x, const char *code, const cb_orgreg_org_t *org, const char *name,
                    const char *parent_name, const char *province)
{
    bool ok = true;

    x->code = cb_text_dup_opt(code, &ok);
    x->name = cb_text_dup_opt(org && org->name ? org->name : name, &ok);
    x->parent_code = cb_text_dup_opt(org ? org->parent_code : NULL, &ok);
    x->parent_name = cb_text_dup_opt(org && org->parent_name ? org->parent_name : parent_name, &ok);
    x->province = cb_text_dup_opt(org && org->province ? org->province : province, &ok);
    return ok;
}

/* Fixes with their priorities: a gone organization over a renaming over a
 * new parent over other information; a departure over a transfer over a
 * change of information. */
enum {
    PRIO_INFO = 1,
    PRIO_PARENT,
    PRIO_RENAMED,
    PRIO_GONE,
    PRIO_P_INFO = 1,
    PRIO_P_TRANSFERRED,
    PRIO_P_DEPARTED
};

/* The organization event for an org code, when none of a higher priority
 * is there yet; NULL fix means nothing to record (not an error). */
static int org_fix(cb_reconcile_t *rc, const char *type, int prio, const char *code,
                   const cb_orgreg_org_t *org, const cb_dn_t *dn, bool person_dn,
                   const char *successor, cb_error_t *err)
{
    char key[CB_ORG_CODE_MAX + 4];
    bool fresh;
    rc_fix_t *x;

    snprintf(key, sizeof(key), "O%s", code);
    if (!(x = fix_for(rc, key, prio, &fresh, err)))
        return -1;
    if (!fresh)
        return 0;
    x->person = false;
    x->type = type;
    if (!fix_org(x, code, org, dn ? (person_dn ? dn->ou : dn->cn) : NULL, dn ? dn->o : NULL,
                 dn ? dn->l : NULL) ||
        (successor && !(x->successor = strdup(successor))))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    return 0;
}

/* The person event for hr (which must give a national id), moving them to
 * org (for INFO_CHANGED and TRANSFERRED) from the certificate's org. */
static int person_fix(cb_reconcile_t *rc, const char *type, int prio, const cb_orgreg_person_t *hr,
                      const cb_dn_t *dn, const char *org_code, const cb_orgreg_org_t *org,
                      const char *prev_code, const cb_orgreg_org_t *prev, cb_error_t *err)
{
    char key[CB_STRING_MAX_BYTES + 4];
    bool fresh, ok = true;
    rc_fix_t *x;

    snprintf(key, sizeof(key), "P%s", hr->person_id);
    if (!(x = fix_for(rc, key, prio, &fresh, err)))
        return -1;
    if (!fresh)
        return 0;
    x->person = true;
    x->type = type;
    x->person_id = cb_text_dup_opt(hr->person_id, &ok);
    memcpy(x->national_id, hr->national_id, CB_NATIONAL_ID_LEN);
    x->full_name = cb_text_dup_opt(hr->full_name ? hr->full_name : dn->cn, &ok);
    x->email = cb_text_dup_opt(hr->email ? hr->email : dn->email, &ok);
    x->title = cb_text_dup_opt(hr->title ? hr->title : dn->title, &ok);
    x->is_leader = hr->is_leader;
    x->departure_reason = hr->departure_reason;
    x->has_departed_on = hr->has_departed_on;
    x->departed_on = hr->departed_on;
    ok = ok && fix_org(x, org_code, org, dn->ou, dn->o, dn->l);
    if (ok && prev_code) {
        x->prev_code = cb_text_dup_opt(prev_code, &ok);
        x->prev_name = cb_text_dup_opt(prev && prev->name ? prev->name : dn->ou, &ok);
        x->prev_parent_code = cb_text_dup_opt(prev ? prev->parent_code : NULL, &ok);
        x->prev_parent_name =
            cb_text_dup_opt(prev && prev->parent_name ? prev->parent_name : dn->o, &ok);
        x->prev_province = cb_text_dup_opt(prev && prev->province ? prev->province : dn->l, &ok);
    }
    return ok ? 0 : cb_error_set(err, CB_ERR_NOMEM, "out of memory");
}

/* A cb_org_t view of a registry organization (borrowed strings). */
static cb_org_t org_view(const cb_orgreg_org_t *o)
{
    cb_org_t v;

    memset(&v, 0, sizeof(v));
    v.code = o->code;
    v.name = o->name;
    v.parent_code = o->parent_code;
    v.parent_name = o->parent_name;
    v.province = o->province;
    return v;
}

/* Whether hr can make a person event (it needs the national id). */
static bool hr_usable(const cb_orgreg_person_t *hr)
{
    return hr && hr->national_id && hr->full_name;
}

static const char NOTE_NO_HR[] =
    "cần hồ sơ nhân sự có số CCCD để lập sự kiện / needs the HR export's record with the "
    "national id to make an event";
static const char NOTE_UNKNOWN[] =
    "tổ chức không có trong danh mục: cần xem xét / the organization is not in the registry: "
    "review";
static const char NOTE_NO_SUCCESSOR[] =
    "đã sáp nhập nhưng không rõ đơn vị tiếp nhận: cần xem xét / merged away, successor "
    "unknown: review";
static const char NOTE_CASCADE[] =
    "chứng thư cá nhân được cập nhật khi policy.cascade_personal=true / personal certificates "
    "follow with policy.cascade_personal=true";
static const char NOTE_DISSOLVED_PERSON[] =
    "tổ chức đã giải thể: hồ sơ nhân sự cần ghi nơi công tác mới hoặc nghỉ việc / dissolved: "
    "the HR export should say where the person went or that they left";
static const char NOTE_NO_CERT[] =
    "tổ chức chưa có chứng thư số: rà soát nhu cầu / no certificate: review the need (no "
    "new issuance during the reorganization)";
static const char NOTE_TOKEN[] =
    "nộp lại Cục Chứng thực số và Bảo mật thông tin / return it to the Department of Digital "
    "Certification and Information Security";
static const char NOTE_BAD_SUBJECT[] = "the subject does not parse as RFC 4514";

/* An organization's certificate. */
static int check_org_cert(cb_reconcile_t *rc, const cb_ca_cert_t *c, const cb_dn_t *dn,
                          cb_error_t *err)
{
    const char *code = c->holder_id;
    const cb_orgreg_org_t *org = cb_orgreg_org(rc->reg, code), *succ;
    long ag = agency_of_org(rc, code, dn->o, dn->cn, err);
    rc_finding_t *f;
    cmp_t cn, o, l;

    if (ag < 0)
        return -1;
    rc->agencies[ag].org_certs++;
    if (org)
        rc->has_cert[cb_orgreg_org_index(rc->reg, org) / 8] |=
            (unsigned char)(1u << (cb_orgreg_org_index(rc->reg, org) % 8));
    if (!org) {
        if (!(f = finding_new(rc, CB_FIND_ORG_UNKNOWN, ag, err)))
            return -1;
        f->note = NOTE_UNKNOWN;
        return finding_cert(f, c, CB_HOLDER_ORGANIZATION, dn->cn) && (f->org_code = strdup(code))
                   ? 0
                   : cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    if (org->status != CB_ORGST_ACTIVE) {
        succ = cb_orgreg_successor(rc->reg, org);
        if (!(f = finding_new(rc, CB_FIND_ORG_GONE, ag, err)))
            return -1;
        if (!finding_cert(f, c, CB_HOLDER_ORGANIZATION, dn->cn) || !(f->org_code = strdup(code)) ||
            (succ && (!(f->successor_code = strdup(succ->code)) ||
                      !(f->successor_name = cb_text_dup_opt(succ->name, &(bool){true})))))
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        if (org->status == CB_ORGST_DISSOLVED) {
            f->fix = "DISSOLVED";
            return org_fix(rc, "DISSOLVED", PRIO_GONE, code, org, dn, false, NULL, err);
        }
        if (!succ) {
            f->note = NOTE_NO_SUCCESSOR;
            return 0;
        }
        f->fix = "MERGED";
        return org_fix(rc, "MERGED", PRIO_GONE, code, org, dn, false, succ->code, err);
    }
    cn = compare(dn->cn, org->name);
    o = compare(dn->o, org->parent_name);
    l = compare(dn->l, org->province);
    if (cn != CMP_DIFF && o != CMP_DIFF && l != CMP_DIFF) {
        rc->agencies[ag].compliant++;
        rc->compliant++;
        if (cn == CMP_CASE || o == CMP_CASE || l == CMP_CASE) {
            rc->agencies[ag].case_only++;
            rc->case_only++;
        }
        return 0;
    }
    if (!(f = finding_new(rc, CB_FIND_SUBJECT, ag, err)))
        return -1;
    f->diff = (cn == CMP_DIFF ? CB_DIFF_NAME : 0) | (o == CMP_DIFF ? CB_DIFF_PARENT : 0) |
              (l == CMP_DIFF ? CB_DIFF_PROVINCE : 0);
    {
        cb_org_t v = org_view(org);
        if (!finding_cert(f, c, CB_HOLDER_ORGANIZATION, dn->cn) || !(f->org_code = strdup(code)) ||
            !(f->expected = cb_subject_for_org(&v, err)))
            return err && err->msg[0] ? -1 : cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    f->fix = f->diff & CB_DIFF_NAME     ? "RENAMED"
             : f->diff & CB_DIFF_PARENT ? "PARENT_CHANGED"
                                        : "INFO_CHANGED";
    return org_fix(rc, f->fix,
                   f->diff & CB_DIFF_NAME     ? PRIO_RENAMED
                   : f->diff & CB_DIFF_PARENT ? PRIO_PARENT
                                              : PRIO_INFO,
                   code, org, dn, false, NULL, err);
}

/* A personal certificate. */
static int check_person_cert(cb_reconcile_t *rc, const cb_ca_cert_t *c, const cb_dn_t *dn,
                             cb_error_t *err)
{
    const cb_orgreg_person_t *hr = cb_orgreg_person(rc->reg, c->holder_id);
    const char *cert_code = c->org_code;
    const cb_orgreg_org_t *org = cert_code ? cb_orgreg_org(rc->reg, cert_code) : NULL, *target;
    long ag = agency_of_person(rc, c->holder_id, cert_code, dn->ou, err);
    rc_finding_t *f;
    cmp_t ou, o, l;

    if (ag < 0)
        return -1;
    rc->agencies[ag].person_certs++;
    if (hr && hr->status == CB_STAFF_DEPARTED) {
        const char *code = hr->org_code ? hr->org_code : cert_code;
        const cb_orgreg_org_t *at = code ? cb_orgreg_org(rc->reg, code) : NULL;
        if (!(f = finding_new(rc, CB_FIND_DEPARTED, ag, err)))
            return -1;
        if (!finding_cert(f, c, CB_HOLDER_PERSON, dn->cn) ||
            (code && !(f->org_code = strdup(code))))
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        if (!hr_usable(hr) || !code || !cb_org_code_valid(code) || (!(at && at->name) && !dn->ou) ||
            (!(at && at->province) && !dn->l)) {
            f->note = NOTE_NO_HR;
            return 0;
        }
        f->fix = "DEPARTED";
        return person_fix(rc, "DEPARTED", PRIO_P_DEPARTED, hr, dn, code, at, NULL, NULL, err);
    }
    if (hr && hr->org_code && cert_code && strcmp(hr->org_code, cert_code) &&
        (target = cb_orgreg_org(rc->reg, hr->org_code)) && target->status == CB_ORGST_ACTIVE) {
        cb_org_t v = org_view(target);
        if (!(f = finding_new(rc, CB_FIND_TRANSFERRED, ag, err)))
            return -1;
        if (!finding_cert(f, c, CB_HOLDER_PERSON, dn->cn) ||
            !(f->org_code = strdup(hr->org_code)) ||
            !(f->expected = cb_subject_replace_org(c->subject, &v, err)))
            return err && err->msg[0] ? -1 : cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        if (!hr_usable(hr)) {
            f->note = NOTE_NO_HR;
            return 0;
        }
        f->fix = "TRANSFERRED";
        return person_fix(rc, "TRANSFERRED", PRIO_P_TRANSFERRED, hr, dn, target->code, target,
                          cert_code, org, err);
    }
    if (!org) {
        if (!(f = finding_new(rc, CB_FIND_ORG_UNKNOWN, ag, err)))
            return -1;
        f->note = NOTE_UNKNOWN;
        return finding_cert(f, c, CB_HOLDER_PERSON, dn->cn) &&
                       (!cert_code || (f->org_code = strdup(cert_code)))
                   ? 0
                   : cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    if (org->status != CB_ORGST_ACTIVE) {
        const cb_orgreg_org_t *succ = cb_orgreg_successor(rc->reg, org);
        if (!(f = finding_new(rc, CB_FIND_PERSON_ORG_GONE, ag, err)))
            return -1;
        if (!finding_cert(f, c, CB_HOLDER_PERSON, dn->cn) || !(f->org_code = strdup(cert_code)) ||
            (succ && (!(f->successor_code = strdup(succ->code)) ||
                      !(f->successor_name = cb_text_dup_opt(succ->name, &(bool){true})))))
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        if (succ) {
            cb_org_t v = org_view(succ);
            if (!(f->expected = cb_subject_replace_org(c->subject, &v, err)))
                return -1;
            f->fix = "MERGED";
            f->note = NOTE_CASCADE;
            return org_fix(rc, "MERGED", PRIO_GONE, cert_code, org, dn, true, succ->code, err);
        }
        f->note = org->status == CB_ORGST_DISSOLVED ? NOTE_DISSOLVED_PERSON : NOTE_NO_SUCCESSOR;
        return 0;
    }
    ou = compare(dn->ou, org->name);
    o = compare(dn->o, org->parent_name);
    l = compare(dn->l, org->province);
    if (ou != CMP_DIFF && o != CMP_DIFF && l != CMP_DIFF) {
        rc->agencies[ag].compliant++;
        rc->compliant++;
        if (ou == CMP_CASE || o == CMP_CASE || l == CMP_CASE) {
            rc->agencies[ag].case_only++;
            rc->case_only++;
        }
        return 0;
    }
    if (!(f = finding_new(rc, CB_FIND_SUBJECT, ag, err)))
        return -1;
    f->diff = (ou == CMP_DIFF ? CB_DIFF_NAME : 0) | (o == CMP_DIFF ? CB_DIFF_PARENT : 0) |
              (l == CMP_DIFF ? CB_DIFF_PROVINCE : 0);
    {
        cb_org_t v = org_view(org);
        if (!finding_cert(f, c, CB_HOLDER_PERSON, dn->cn) || !(f->org_code = strdup(cert_code)) ||
            !(f->expected = cb_subject_replace_org(c->subject, &v, err)))
            return err && err->msg[0] ? -1 : cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    if (!hr_usable(hr)) {
        f->note = NOTE_NO_HR;
        return 0;
    }
    f->fix = "INFO_CHANGED";
    return person_fix(rc, "INFO_CHANGED", PRIO_P_INFO, hr, dn, cert_code, org, NULL, NULL, err);
}

int cb_reconcile_add_cert(cb_reconcile_t *rc, const cb_ca_cert_t *c, cb_error_t *err)
{
    cb_dn_t dn;
    cb_error_t perr;
    bool person = c->holder_type && !strcmp(c->holder_type, "PERSON");
    int r;

    if (rc->finished)
        return cb_error_set(err, CB_ERR_INTERNAL, "reconcile: certificate added after finish");
    if (!c->holder_id || !c->serial || !c->subject)
        return cb_error_set(err, CB_ERR_INVALID, "certificate %.64s: no holder, serial or subject",
                            c->serial ? c->serial : "?");
    rc->certificates++;
    memset(&dn, 0, sizeof(dn));
    if (cb_dn_parse(c->subject, &dn, &perr) < 0) {
        long ag = person ? agency_of_person(rc, c->holder_id, c->org_code, NULL, err)
                         : agency_of(rc, c->holder_id, NULL, err);
        rc_finding_t *f;
        if (ag < 0 || !(f = finding_new(rc, CB_FIND_SUBJECT, ag, err)))
            return -1;
        f->diff = CB_DIFF_NAME | CB_DIFF_PARENT | CB_DIFF_PROVINCE;
        f->note = NOTE_BAD_SUBJECT;
        if (person)
            rc->agencies[ag].person_certs++;
        else
            rc->agencies[ag].org_certs++;
        return finding_cert(f, c, person ? CB_HOLDER_PERSON : CB_HOLDER_ORGANIZATION, NULL)
                   ? 0
                   : cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    r = person ? check_person_cert(rc, c, &dn, err) : check_org_cert(rc, c, &dn, err);
    cb_dn_clear(&dn);
    return r;
}

int cb_reconcile_add_token(cb_reconcile_t *rc, const cb_ca_device_t *d, cb_error_t *err)
{
    cb_dn_t dn;
    cb_error_t perr;
    bool person = d->holder_type && !strcmp(d->holder_type, "PERSON"), ok = true;
    rc_finding_t *f;
    long ag;

    if (rc->finished)
        return cb_error_set(err, CB_ERR_INTERNAL, "reconcile: token added after finish");
    if (d->returned_at_ms > 0)
        return 0;
    memset(&dn, 0, sizeof(dn));
    if (!d->subject || cb_dn_parse(d->subject, &dn, &perr) < 0)
        memset(&dn, 0, sizeof(dn));
    if (person)
        ag = agency_of_person(rc, d->holder_id, d->org_code, dn.ou, err);
    else if (d->holder_id)
        ag = agency_of_org(rc, d->holder_id, dn.o, dn.cn, err);
    else
        ag = agency_of(rc, NULL, NULL, err);
    if (ag < 0 || !(f = finding_new(rc, CB_FIND_TOKEN_OUT, ag, err))) {
        cb_dn_clear(&dn);
        return -1;
    }
    f->holder_type = person ? CB_HOLDER_PERSON : CB_HOLDER_ORGANIZATION;
    f->holder_id = cb_text_dup_opt(d->holder_id, &ok);
    f->holder_name = cb_text_dup_opt(dn.cn, &ok);
    f->device_id = cb_text_dup_opt(d->device_id, &ok);
    f->org_code = cb_text_dup_opt(person ? d->org_code : d->holder_id, &ok);
    f->days = d->recalled_at_ms > 0 && rc->opts.now_ms > d->recalled_at_ms
                  ? (rc->opts.now_ms - d->recalled_at_ms) / 86400000
                  : 0;
    f->note = NOTE_TOKEN;
    cb_dn_clear(&dn);
    return ok ? 0 : cb_error_set(err, CB_ERR_NOMEM, "out of memory");
}

/* ---- finishing ------------------------------------------------------ */

/* Agencies by code (named ones after, by name). */
static int cmp_agency(const void *a, const void *b, void *ctx)
{
    const cb_reconcile_t *rc = ctx;
    const cb_agency_t *x = &rc->agencies[*(const size_t *)a],
                      *y = &rc->agencies[*(const size_t *)b];

    if (!x->code != !y->code)
        return x->code ? -1 : 1;
    if (x->code)
        return strcmp(x->code, y->code);
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static int cmp_finding(const void *a, const void *b)
{
    const cb_finding_t *x = *(const cb_finding_t *const *)a, *y = *(const cb_finding_t *const *)b;
    int c;

    if (x->agency != y->agency)
        return x->agency < y->agency ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if ((c = strcmp(or_empty(x->holder_id), or_empty(y->holder_id))))
        return c;
    if ((c = strcmp(or_empty(x->serial), or_empty(y->serial))))
        return c;
    return strcmp(or_empty(x->device_id), or_empty(y->device_id));
}

/* The group of a fix in the events' order: organizations, merged ones,
 * persons. */
static int fix_group(const rc_fix_t *x)
{
    return x->person ? 2 : !strcmp(x->type, "MERGED") ? 1 : 0;
}

/* Events: organizations by code, the merged ones by successor then code,
 * then persons by id. */
static int cmp_fix(const void *a, const void *b, void *ctx)
{
    const cb_reconcile_t *rc = ctx;
    const rc_fix_t *x = &rc->fixes[*(const size_t *)a], *y = &rc->fixes[*(const size_t *)b];
    int gx = fix_group(x), gy = fix_group(y), c;

    if (gx != gy)
        return gx < gy ? -1 : 1;
    if (gx == 1 && (c = strcmp(x->successor, y->successor)))
        return c;
    return strcmp(x->key, y->key);
}

int cb_reconcile_finish(cb_reconcile_t *rc, cb_error_t *err)
{
    const cb_orgreg_org_t *const *orgs;
    size_t n_orgs, i, *order = NULL, *rank = NULL;
    cb_agency_t *sorted_agencies = NULL;
    int rcode = -1;

    if (rc->finished)
        return 0;
    orgs = cb_orgreg_orgs(rc->reg, &n_orgs);
    for (i = 0; i < n_orgs; i++) {
        const cb_orgreg_org_t *o = orgs[i];
        rc_finding_t *f;
        long ag;
        if (o->status != CB_ORGST_ACTIVE || (rc->has_cert[i / 8] & (1u << (i % 8))))
            continue;
        if (rc->opts.province && !cb_reconcile_name_equal(o->province, rc->opts.province))
            continue;
        if ((ag = agency_of_org(rc, o->code, NULL, o->name, err)) < 0 ||
            !(f = finding_new(rc, CB_FIND_NO_CERT, ag, err)))
            return -1;
        f->holder_type = CB_HOLDER_ORGANIZATION;
        f->note = NOTE_NO_CERT;
        if (!(f->holder_id = strdup(o->code)) || !(f->org_code = strdup(o->code)) ||
            !(f->holder_name = cb_text_dup_opt(o->name, &(bool){true})))
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    /* agencies sorted, findings renumbered to them */
    order = malloc((rc->n_agencies + 1) * sizeof(*order));
    rank = malloc((rc->n_agencies + 1) * sizeof(*rank));
    sorted_agencies = malloc((rc->n_agencies + 1) * sizeof(*sorted_agencies));
    rc->sorted = malloc((rc->n_findings + 1) * sizeof(*rc->sorted));
    rc->fix_order = malloc((rc->n_fixes + 1) * sizeof(*rc->fix_order));
    if (!order || !rank || !sorted_agencies || !rc->sorted || !rc->fix_order) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < rc->n_agencies; i++)
        order[i] = i;
    qsort_r(order, rc->n_agencies, sizeof(*order), cmp_agency, rc);
    for (i = 0; i < rc->n_agencies; i++) {
        rank[order[i]] = i;
        sorted_agencies[i] = rc->agencies[order[i]];
    }
    memcpy(rc->agencies, sorted_agencies, rc->n_agencies * sizeof(*sorted_agencies));
    for (i = 0; i < rc->n_findings; i++) {
        rc->findings[i].agency = rank[rc->findings[i].agency];
        rc->sorted[i] = (const cb_finding_t *)&rc->findings[i];
    }
    qsort(rc->sorted, rc->n_findings, sizeof(*rc->sorted), cmp_finding);
    for (i = 0; i < rc->n_fixes; i++)
        rc->fix_order[i] = i;
    qsort_r(rc->fix_order, rc->n_fixes, sizeof(*rc->fix_order), cmp_fix, rc);
    /* one event per fix, but one per MERGED_PER_EVENT merged organizations
     * of a successor */
    for (i = 0; i < rc->n_fixes; i++) {
        const rc_fix_t *x = &rc->fixes[rc->fix_order[i]];
        size_t run = 1;
        if (fix_group(x) == 1) {
            while (i + run < rc->n_fixes && fix_group(&rc->fixes[rc->fix_order[i + run]]) == 1 &&
                   !strcmp(rc->fixes[rc->fix_order[i + run]].successor, x->successor))
                run++;
            rc->n_events += (run + MERGED_PER_EVENT - 1) / MERGED_PER_EVENT;
            i += run - 1;
        } else {
            rc->n_events++;
        }
    }
    rc->finished = true;
    rcode = 0;
out:
    free(order);
    free(rank);
    free(sorted_agencies);
    return rcode;
}

/* ---- the walk ------------------------------------------------------- */

/* Draws the progress bar: done of total (0: unknown), and the rate. */
static void progress(const cb_reconcile_t *rc, size_t done, int64_t total, int64_t t0_ms, bool last)
{
    FILE *out = rc->opts.progress;
    double secs = (double)(cb_clock_mono_ms() - t0_ms) / 1000.0;
    int width = 30, fill, i;

    if (!out)
        return;
    fill = total > 0 ? (int)((double)width * (double)done / (double)total) : 0;
    if (fill > width)
        fill = width;
    fputs("\rreconcile [", out);
    for (i = 0; i < width; i++)
        fputs(i < fill ? "█" : "·", out);
    if (total > 0)
        fprintf(out, "] %3.0f%% %zu/%lld certificates, %.1f s",
                100.0 * (double)done / (double)total, done, (long long)total, secs);
    else
        fprintf(out, "] %zu certificates, %.1f s", done, secs);
    fputs(last ? "\n" : "\033[K", out);
    fflush(out);
}

int cb_reconcile_run(cb_reconcile_t *rc, cb_ca_client_t *c, cb_error_t *err)
{
    cb_ca_inventory_query_t q;
    cb_ca_inventory_t *it = NULL;
    const cb_ca_req_t *page;
    int64_t t0 = cb_clock_mono_ms();
    size_t i, done = 0;
    int r;

    memset(&q, 0, sizeof(q));
    q.any_holder_type = true;
    q.province = rc->opts.province;
    q.page_size = rc->opts.page_size;
    if (!(it = cb_ca_inventory_new(c, &q, err)))
        return -1;
    while ((r = cb_ca_inventory_next(it, &page, err)) == 1) {
        for (i = 0; i < page->cert_count; i++)
            if (cb_reconcile_add_cert(rc, &page->certs[i], err) < 0)
                goto fail;
        done += page->cert_count;
        progress(rc, done, cb_ca_inventory_total(it), t0, false);
    }
    if (r < 0)
        goto fail;
    progress(rc, done, cb_ca_inventory_total(it), t0, true);
    cb_ca_inventory_destroy(it);
    memset(&q, 0, sizeof(q));
    q.devices = true;
    q.page_size = rc->opts.page_size;
    if (!(it = cb_ca_inventory_new(c, &q, err)))
        return -1;
    while ((r = cb_ca_inventory_next(it, &page, err)) == 1)
        for (i = 0; i < page->device_count; i++)
            if (cb_reconcile_add_token(rc, &page->devices[i], err) < 0)
                goto fail;
    if (r < 0)
        goto fail;
    cb_ca_inventory_destroy(it);
    rc->elapsed_ms = cb_clock_mono_ms() - t0;
    return cb_reconcile_finish(rc, err);
fail:
    if (rc->opts.progress)
        fputc('\n', rc->opts.progress);
    cb_ca_inventory_destroy(it);
    return -1;
}

/* ---- figures -------------------------------------------------------- */

const cb_finding_t *const *cb_reconcile_findings(const cb_reconcile_t *rc, size_t *n)
{
    *n = rc->n_findings;
    return rc->sorted;
}

const cb_agency_t *cb_reconcile_agencies(const cb_reconcile_t *rc, size_t *n)
{
    *n = rc->n_agencies;
    return rc->agencies;
}

size_t cb_reconcile_certificates(const cb_reconcile_t *rc)
{
    return rc->certificates;
}

size_t cb_reconcile_count(const cb_reconcile_t *rc, int kind)
{
    size_t n = 0;
    int k;

    if (kind >= 0)
        return kind < CB_FIND_COUNT ? rc->counts[kind] : 0;
    for (k = 0; k < CB_FIND_COUNT; k++)
        n += rc->counts[k];
    return n;
}

size_t cb_reconcile_compliant(const cb_reconcile_t *rc)
{
    return rc->compliant;
}

size_t cb_reconcile_events(const cb_reconcile_t *rc)
{
    return rc->n_events;
}

size_t cb_reconcile_case_only(const cb_reconcile_t *rc)
{
    return rc->case_only;
}

const cb_reconcile_options_t *cb_reconcile_options(const cb_reconcile_t *rc)
{
    return &rc->opts;
}

int64_t cb_reconcile_elapsed_ms(const cb_reconcile_t *rc)
{
    return rc->elapsed_ms;
}

/* ---- corrective events ---------------------------------------------- */

/* Epoch ms as "YYYY-MM-DD" (days 0: the day of ms) or RFC 3339 UTC. */
static void day_text(int64_t ms, char *buf, size_t size, bool with_time)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (!gmtime_r(&t, &tm) ||
        !strftime(buf, size, with_time ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d", &tm))
        snprintf(buf, size, "1970-01-01");
}

/* Sets key to a string when s is not NULL. */
static void set_opt(json_t *o, const char *key, const char *s)
{
    if (s)
        json_object_set_new(o, key, json_string(s));
}

/* {"code","name","parent_code","parent_name","province"} with what is known. */
static json_t *org_json(const char *code, const char *name, const char *parent_code,
                        const char *parent_name, const char *province)
{
    json_t *o = json_object();

    set_opt(o, "code", code);
    set_opt(o, "name", name);
    set_opt(o, "parent_code", parent_code);
    set_opt(o, "parent_name", parent_name);
    set_opt(o, "province", province);
    return o;
}

/* The common members of an event, in the order of the sample files. */
static json_t *event_head(const cb_reconcile_t *rc, const char *kind, const char *id,
                          const char *type, int64_t effective_ms)
{
    char id_text[CB_STRING_MAX_BYTES + 64], day[16], now[32], when[16];
    json_t *e = json_object();

    day_text(rc->opts.now_ms, day, sizeof(day), false);
    day_text(rc->opts.now_ms, now, sizeof(now), true);
    day_text(effective_ms, when, sizeof(when), false);
    /* rc-YYYYMMDD-...: the day without dashes */
    snprintf(id_text, sizeof(id_text), "rc-%.4s%.2s%.2s-%s-%s-%s", day, day + 5, day + 8, kind, id,
             type);
    json_object_set_new(e, "event_id", json_string(id_text));
    json_object_set_new(e, "event_type", json_string(type));
    json_object_set_new(e, "occurred_at", json_string(now));
    json_object_set_new(e, "effective_date", json_string(when));
    json_object_set_new(e, "source_system", json_string("certbridge-reconcile"));
    return e;
}

/* Writes one event as a line; -1 when it cannot be built or written. */
static int put_event(json_t *e, FILE *out)
{
    int rc = e ? json_dumpf(e, out, JSON_COMPACT | JSON_PRESERVE_ORDER) : -1;

    json_decref(e);
    if (rc < 0 || fputc('\n', out) == EOF)
        return -1;
    return 0;
}

static json_t *person_event(const cb_reconcile_t *rc, const rc_fix_t *x)
{
    json_t *e =
        event_head(rc, "PER", x->person_id, x->type,
                   x->has_departed_on ? (int64_t)x->departed_on * 86400000 : rc->opts.now_ms);
    json_t *p = json_object();

    json_object_set_new(p, "person_id", json_string(x->person_id));
    json_object_set_new(p, "national_id", json_string(x->national_id));
    json_object_set_new(p, "full_name", json_string(x->full_name));
    set_opt(p, "email", x->email);
    set_opt(p, "title", x->title);
    json_object_set_new(p, "is_leader", json_boolean(x->is_leader));
    json_object_set_new(e, "person", p);
    json_object_set_new(e, "org",
                        org_json(x->code, x->name, x->parent_code, x->parent_name, x->province));
    if (x->prev_code)
        json_object_set_new(e, "previous_org",
                            org_json(x->prev_code, x->prev_name, x->prev_parent_code,
                                     x->prev_parent_name, x->prev_province));
    if (!strcmp(x->type, "DEPARTED") && x->departure_reason != CB_DEPARTURE_NONE)
        json_object_set_new(e, "departure_reason",
                            json_string(cb_departure_reason_name(x->departure_reason)));
    return e;
}

int cb_reconcile_write_events(const cb_reconcile_t *rc, FILE *out, cb_error_t *err)
{
    size_t i, k;

    if (!rc->finished)
        return cb_error_set(err, CB_ERR_INTERNAL, "reconcile: events before finish");
    for (i = 0; i < rc->n_fixes; i++) {
        const rc_fix_t *x = &rc->fixes[rc->fix_order[i]];
        json_t *e;
        if (fix_group(x) == 0) {
            e = event_head(rc, "ORG", x->code, x->type, rc->opts.now_ms);
            json_object_set_new(
                e, "org", org_json(x->code, x->name, x->parent_code, x->parent_name, x->province));
        } else if (fix_group(x) == 1) {
            /* the run of organizations merged into one successor, in chunks */
            const cb_orgreg_org_t *succ = cb_orgreg_org(rc->reg, x->successor);
            size_t run = 1, chunk = 0;
            while (i + run < rc->n_fixes && fix_group(&rc->fixes[rc->fix_order[i + run]]) == 1 &&
                   !strcmp(rc->fixes[rc->fix_order[i + run]].successor, x->successor))
                run++;
            for (k = 0; k < run; k += MERGED_PER_EVENT, chunk++) {
                json_t *list = json_array();
                size_t m;
                char id[CB_ORG_CODE_MAX + 16];
                snprintf(id, sizeof(id), chunk ? "%s-%zu" : "%s", x->successor, chunk + 1);
                e = event_head(rc, "ORG", id, "MERGED", rc->opts.now_ms);
                json_object_set_new(e, "org",
                                    org_json(succ->code, succ->name, succ->parent_code,
                                             succ->parent_name, succ->province));
                for (m = k; m < run && m < k + MERGED_PER_EVENT; m++) {
                    const rc_fix_t *y = &rc->fixes[rc->fix_order[i + m]];
                    json_array_append_new(list, org_json(y->code, y->name, y->parent_code,
                                                         y->parent_name, y->province));
                }
                json_object_set_new(e, "merged_orgs", list);
                json_object_set_new(e, "result_is_new", json_false());
                if (put_event(e, out) < 0)
                    return cb_error_set(err, CB_ERR_IO, "writing the events failed");
            }
            i += run - 1;
            continue;
        } else {
            e = person_event(rc, x);
        }
        if (put_event(e, out) < 0)
            return cb_error_set(err, CB_ERR_IO, "writing the events failed");
    }
    return ferror(out) ? cb_error_set(err, CB_ERR_IO, "writing the events failed") : 0;
}
