/*
 * ca.c: the reference CA's operations (ca.h).
 */
#include "ca.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certbridge/clock.h"
#include "certbridge/dn.h"
#include "pki.h"

#define VALIDITY_S     (2 * 365 * 86400LL) /* a subscriber certificate's life */
#define LEDGER_MAX     100000              /* most ledger lines in one answer */
#define INVENTORY_LINE (16 * 1024)         /* longest inventory line */
#define CURSOR_MAX     96                  /* longest cursor refca makes or reads */
#define DOCUMENT_MAX   2048                /* longest document_number (ca-api.yaml) */
#define RECALL_NOTE                                                                                \
    "Return the token to the Department of Digital Certification and Information Security "        \
    "(Cục Chứng thực số và Bảo mật thông tin)."

/* The problems of the fates REJECTED and EXPIRED, in Vietnamese and English
 * like the CA's other human-facing texts (RECALL_NOTE). */
static const char subject_mismatch_detail[] =
    "Thông tin chủ thể không khớp với hồ sơ đăng ký / the subject does not match the "
    "registration file";
static const char expired_detail[] =
    "Yêu cầu đã hết hạn vì không được xác nhận kịp thời / the request expired: nobody "
    "confirmed it in time";

struct refca_ca {
    refca_store_t *store;
    EVP_PKEY *key;
    X509 *cert;
    char *pem;
    unsigned char *crl; /* cached DER; NULL = remake on next request */
    size_t crl_len;
    int64_t crl_made_s;    /* when the cached CRL was made (its thisUpdate) */
    int64_t crl_refresh_s; /* remade once older than this (refca_ca_set_crl_refresh) */
};

/* RFC 5280 CRLReason names, by code. */
static const char *const reason_names[] = {
    "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
    "superseded",    "cessationOfOperation", "certificateHold", NULL,
    "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};

#define REASON_COUNT (int)(sizeof(reason_names) / sizeof(reason_names[0]))

static const char *const op_names[] = {"change-info", "revoke", "recall", "issue", "returned"};

#define OP_COUNT (int)(sizeof(op_names) / sizeof(op_names[0]))

const char *refca_op_name(refca_op_t op)
{
    return (unsigned)op < (unsigned)OP_COUNT ? op_names[op] : "?";
}

int refca_op_parse(const char *name)
{
    int i;

    for (i = 0; i < OP_COUNT; i++)
        if (strcmp(op_names[i], name) == 0)
            return i;
    return -1;
}

/* The code of a reason name, or -1. */
static int reason_parse(const char *name)
{
    int i;

    for (i = 0; i < REASON_COUNT; i++)
        if (reason_names[i] && strcmp(reason_names[i], name) == 0)
            return i;
    return -1;
}

static const char *reason_name(int code)
{
    return code >= 0 && code < REASON_COUNT && reason_names[code] ? reason_names[code]
                                                                  : "unspecified";
}

void refca_answer_clear(refca_answer_t *ans)
{
    free(ans->body);
    ans->body = NULL;
    ans->status = 0;
}

/* Sets ans to status and the JSON text of obj (which is consumed). */
static int answer_json(refca_answer_t *ans, int status, json_t *obj, cb_error_t *err)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

    json_decref(obj);
    if (!text)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory building an answer");
    free(ans->body);
    ans->body = text;
    ans->status = status;
    return 0;
}

int refca_problem(refca_answer_t *ans, int status, const char *code, const char *detail)
{
    char type[160], *text;
    json_t *obj;
    size_t i;

    snprintf(type, sizeof(type), "https://certbridge.invalid/problems/%s", code);
    for (i = 0; type[i]; i++)
        if (type[i] == '_')
            type[i] = '-';
    for (i = 36; type[i]; i++)
        type[i] = (char)(type[i] >= 'A' && type[i] <= 'Z' ? type[i] + 32 : type[i]);
    obj = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", code, "status", status,
                    "detail", detail ? detail : "", "code", code);
    text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    free(ans->body);
    ans->body = text ? text : strdup("{}");
    ans->status = status;
    return 0;
}

/* RFC 3339 UTC text of Unix seconds. */
static void rfc3339(int64_t s, char out[32])
{
    time_t t = (time_t)s;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* An RFC 3339 date-time ("2025-07-01T08:00:00Z", fractions and an offset
 * allowed) as epoch milliseconds; -1 when it is not one. */
static int64_t parse_rfc3339(const char *s)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
    int64_t ms = 0, scale = 100;
    const char *p;

    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    p = s + n;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            ms += scale ? (*p - '0') * scale : 0;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 &&
               strlen(p) == 6) {
        if (*p == '-')
            oh = -oh, om = -om;
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return ((int64_t)timegm(&tm) - oh * 3600LL - om * 60LL) * 1000 + ms;
}

/* The canonical form of a subject string (parse + format), or NULL. With
 * province set, *province gets a heap copy of its L ("" when it has none). */
static char *canonical_subject_l(const char *dn, char **province, cb_error_t *err)
{
    cb_dn_t s;
    char *out = NULL;

    memset(&s, 0, sizeof(s));
    if (cb_dn_parse(dn, &s, err) == 0)
        out = cb_dn_format(&s, err);
    if (out && province && !(*province = strdup(s.l ? s.l : ""))) {
        free(out);
        out = NULL;
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    cb_dn_clear(&s);
    return out;
}

static char *canonical_subject(const char *dn, cb_error_t *err)
{
    return canonical_subject_l(dn, NULL, err);
}

/* The province (L) of a stored subject, for refca_store_cert_provinces. */
static char *province_of(const char *subject, void *opaque)
{
    cb_dn_t s;
    char *out;
    cb_error_t err;

    (void)opaque;
    memset(&s, 0, sizeof(s));
    out = strdup(cb_dn_parse(subject, &s, &err) == 0 && s.l ? s.l : "");
    cb_dn_clear(&s);
    return out;
}

/* Issues a subscriber certificate for pubkey under subject dn and fills
 * row's serial, subject, der, validity (not_after 0 = the full validity).
 * The row's other fields are the caller's. */
static int issue_cert(refca_ca_t *ca, EVP_PKEY *pubkey, const unsigned char *pub_der,
                      size_t pub_der_len, const char *dn, int64_t not_after, refca_cert_row_t *row,
                      cb_error_t *err)
{
    char serial[REFCA_SERIAL_HEX_MAX];
    X509_NAME *name = NULL;
    X509 *cert = NULL;
    refca_cert_spec_t spec;
    int64_t now = (int64_t)time(NULL);
    int rc = -1;

    if (!(row->subject = canonical_subject_l(dn, &row->province, err)) ||
        !(name = refca_name_from_dn(row->subject, err)) || refca_serial_new(serial, err) < 0)
        goto out;
    if (not_after <= now + 86400)
        not_after = now + VALIDITY_S;
    spec = (refca_cert_spec_t){.kind = REFCA_CERT_SUBSCRIBER,
                               .subject = name,
                               .public_key = pubkey,
                               .issuer = ca->cert,
                               .issuer_key = ca->key,
                               .serial_hex = serial,
                               .not_before_s = now - 60,
                               .not_after_s = not_after,
                               .public_der = pub_der,
                               .public_der_len = pub_der_len};
    if (!(cert = refca_cert_make(&spec, err)) ||
        refca_cert_der(cert, &row->der, &row->der_len, err) < 0)
        goto out;
    if (!(row->serial = strdup(serial))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    row->not_before = now - 60;
    row->not_after = not_after;
    rc = 0;
out:
    X509_free(cert);
    X509_NAME_free(name);
    return rc;
}

/* Makes the CA key and self-signed certificate at first start, or loads
 * them from the store. */
static int load_identity(refca_ca_t *ca, cb_error_t *err)
{
    char *key_pem = NULL, *cert_pem = NULL, serial[REFCA_SERIAL_HEX_MAX];
    size_t len;
    X509_NAME *name = NULL;
    refca_cert_spec_t spec;
    int64_t now = (int64_t)time(NULL);
    int rc = -1, found;

    found = refca_store_meta_get(ca->store, "ca.key", &key_pem, &len, err);
    if (found < 0)
        goto out;
    if (found == 0) {
        if (refca_store_meta_get(ca->store, "ca.cert", &cert_pem, &len, err) != 0 ||
            !(ca->key = refca_key_from_private_pem(key_pem, err)) ||
            !(ca->cert = refca_cert_from_pem(cert_pem, err)))
            goto out;
        ca->pem = cert_pem;
        cert_pem = NULL;
        rc = 0;
        goto out;
    }
    if (!(ca->key = refca_key_new(err)) || refca_serial_new(serial, err) < 0 ||
        !(name = refca_name_from_dn("CN=Reference CA for certbridge (not for production),"
                                    "O=Ban Cơ yếu Chính phủ (mô phỏng),C=VN",
                                    err)))
        goto out;
    spec = (refca_cert_spec_t){.kind = REFCA_CERT_CA,
                               .subject = name,
                               .public_key = ca->key,
                               .issuer_key = ca->key,
                               .serial_hex = serial,
                               .not_before_s = now - 3600,
                               .not_after_s = now + 20 * 365 * 86400LL};
    if (!(ca->cert = refca_cert_make(&spec, err)) || !(ca->pem = refca_cert_pem(ca->cert, err)) ||
        !(key_pem = refca_key_private_pem(ca->key, err)))
        goto out;
    if (refca_store_begin(ca->store, err) < 0)
        goto out;
    if (refca_store_meta_set(ca->store, "ca.key", key_pem, strlen(key_pem), err) < 0 ||
        refca_store_meta_set(ca->store, "ca.cert", ca->pem, strlen(ca->pem), err) < 0 ||
        refca_store_commit(ca->store, err) < 0) {
        refca_store_rollback(ca->store);
        goto out;
    }
    rc = 0;
out:
    X509_NAME_free(name);
    free(key_pem);
    free(cert_pem);
    return rc;
}

/* A string member of obj, or NULL when absent or not a string. */
static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Issues the certificate of one inventory line: a fresh key pair (its
 * private half stays on the token, so only the public key is kept). */
static int inventory_line(refca_ca_t *ca, json_t *line, cb_error_t *err)
{
    const char *type = jstr(line, "holder_type"), *id = jstr(line, "holder_id");
    const char *dn = jstr(line, "subject");
    EVP_PKEY *key = NULL;
    refca_cert_row_t row;
    int rc = -1;

    memset(&row, 0, sizeof(row));
    if (!type || !id || !dn || (strcmp(type, "ORGANIZATION") && strcmp(type, "PERSON")))
        return cb_error_set(err, CB_ERR_INVALID,
                            "needs holder_type (ORGANIZATION|PERSON), holder_id and subject");
    /* the certificate is made from the public key's DER (pki.c copies a
     * P-256 point without OpenSSL's encoders) */
    if (!(key = refca_key_new(err)) ||
        refca_key_public_der(key, &row.pubkey, &row.pubkey_len, err) < 0 ||
        issue_cert(ca, NULL, row.pubkey, row.pubkey_len, dn, 0, &row, err) < 0)
        goto out;
    row.holder_type = (char *)type;
    row.holder_id = (char *)id;
    row.org_code = (char *)jstr(line, "org_code");
    row.device_id = (char *)jstr(line, "device_id");
    row.status = (char *)"active";
    row.revoke_reason = -1;
    rc = refca_store_cert_put(ca->store, &row, err);
    row.holder_type = row.holder_id = row.org_code = row.device_id = row.status = NULL;
out:
    refca_cert_row_clear(&row);
    EVP_PKEY_free(key);
    return rc;
}

int refca_ca_issue_signer(refca_ca_t *ca, const char *holder_id, const char *dn, char **key_pem,
                          char **cert_pem, cb_error_t *err)
{
    EVP_PKEY *key = NULL;
    refca_cert_row_t row;
    int rc = -1;

    *key_pem = *cert_pem = NULL;
    memset(&row, 0, sizeof(row));
    if (!holder_id || !*holder_id || !dn || !*dn)
        return cb_error_set(err, CB_ERR_INVALID, "a signer needs a holder id and a subject");
    if (!(key = refca_key_new(err)) ||
        refca_key_public_der(key, &row.pubkey, &row.pubkey_len, err) < 0 ||
        issue_cert(ca, NULL, row.pubkey, row.pubkey_len, dn, 0, &row, err) < 0 ||
        !(*key_pem = refca_key_private_pem(key, err)) ||
        !(*cert_pem = refca_cert_pem_from_der(row.der, row.der_len, err)))
        goto out;
    row.holder_type = (char *)"PERSON";
    row.holder_id = (char *)holder_id;
    row.status = (char *)"active";
    row.revoke_reason = -1;
    if (refca_store_begin(ca->store, err) < 0)
        goto out;
    if (refca_store_cert_put(ca->store, &row, err) < 0 || refca_store_commit(ca->store, err) < 0) {
        refca_store_rollback(ca->store);
        goto out;
    }
    rc = 0;
out:
    row.holder_type = row.holder_id = row.status = NULL;
    refca_cert_row_clear(&row);
    EVP_PKEY_free(key);
    if (rc < 0) {
        free(*key_pem);
        free(*cert_pem);
        *key_pem = *cert_pem = NULL;
    }
    return rc;
}

/* Loads the inventory file in one transaction. */
static int load_inventory(refca_ca_t *ca, const char *path, cb_error_t *err)
{
    char *line = malloc(INVENTORY_LINE + 2);
    FILE *f = fopen(path, "r");
    int lineno = 0, rc = -1;

    if (!line || !f) {
        cb_error_set(err, CB_ERR_IO, "%s: cannot open", path);
        goto out;
    }
    if (refca_store_begin(ca->store, err) < 0)
        goto out;
    while (fgets(line, INVENTORY_LINE + 2, f)) {
        json_error_t jerr;
        json_t *obj;
        size_t len = strlen(line);

        lineno++;
        if (len > INVENTORY_LINE) {
            cb_error_set(err, CB_ERR_LIMIT, "%s:%d: line too long", path, lineno);
            goto rollback;
        }
        if (strspn(line, " \t\r\n") == len)
            continue;
        if (!(obj = json_loads(line, 0, &jerr))) {
            cb_error_set(err, CB_ERR_INVALID, "%s:%d: %s", path, lineno, jerr.text);
            goto rollback;
        }
        if (inventory_line(ca, obj, err) < 0) {
            json_decref(obj);
            cb_error_prefix(err, "%s:%d", path, lineno);
            goto rollback;
        }
        json_decref(obj);
    }
    if (refca_store_commit(ca->store, err) < 0)
        goto rollback;
    rc = 0;
    goto out;
rollback:
    refca_store_rollback(ca->store);
out:
    if (f)
        fclose(f);
    free(line);
    return rc;
}

refca_ca_t *refca_ca_open(const char *state_dir, const char *inventory, cb_error_t *err)
{
    refca_ca_t *ca = calloc(1, sizeof(*ca));
    int64_t n;

    if (!ca) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ca->crl_refresh_s = REFCA_CRL_REFRESH_DEFAULT_S;
    if (!(ca->store = refca_store_open(state_dir, false, err)) || load_identity(ca, err) < 0 ||
        refca_store_cert_provinces(ca->store, province_of, NULL, err) < 0)
        goto fail;
    if (inventory) {
        if ((n = refca_store_cert_count(ca->store, err)) < 0)
            goto fail;
        if (n == 0 && load_inventory(ca, inventory, err) < 0)
            goto fail;
    }
    return ca;
fail:
    refca_ca_close(ca);
    return NULL;
}

void refca_ca_close(refca_ca_t *ca)
{
    if (!ca)
        return;
    refca_store_close(ca->store);
    EVP_PKEY_free(ca->key);
    X509_free(ca->cert);
    free(ca->pem);
    free(ca->crl);
    free(ca);
}

refca_store_t *refca_ca_store(refca_ca_t *ca)
{
    return ca->store;
}

const char *refca_ca_pem(refca_ca_t *ca)
{
    return ca->pem;
}

/* Parses a request body as a JSON object; an empty body is {}. NULL with
 * a 400 problem in ans when malformed. */
static json_t *parse_body(const char *body, refca_answer_t *ans)
{
    json_error_t jerr;
    json_t *obj;

    if (!body || !*body)
        return json_object();
    obj = json_loads(body, 0, &jerr);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        refca_problem(ans, 400, "MALFORMED_BODY", "the body is not a JSON object");
        return NULL;
    }
    return obj;
}

/* The optional document_number of a change-info or revoke body: absent, or
 * a non-empty string of at most DOCUMENT_MAX bytes. 0 when fine, 1 with the
 * problem in ans. */
static int check_document(json_t *obj, refca_answer_t *ans)
{
    json_t *v = json_object_get(obj, "document_number");
    size_t len;

    if (!v || json_is_null(v))
        return 0;
    len = json_is_string(v) ? json_string_length(v) : 0;
    if (len == 0 || len > DOCUMENT_MAX)
        return refca_problem(ans, 422, "INVALID_DOCUMENT_NUMBER",
                             "document_number must be a string of 1 to 2048 bytes"),
               1;
    return 0;
}

/* Checks what precheck and apply share. Returns 0 when fine, 1 with the
 * problem in ans, -1 on internal failure. row receives the target
 * certificate for change-info and revoke (the caller clears it). */
static int check(refca_ca_t *ca, refca_op_t op, const char *target, json_t *obj,
                 refca_cert_row_t *row, refca_answer_t *ans, cb_error_t *err)
{
    const char *s;
    char *canon;
    int rc;

    switch (op) {
    case REFCA_OP_CHANGE_INFO:
    case REFCA_OP_REVOKE:
        rc = refca_store_cert_get(ca->store, target, row, err);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return refca_problem(ans, 404, "CERTIFICATE_NOT_FOUND",
                                 "no certificate has this serial"),
                   1;
        if (check_document(obj, ans))
            return 1;
        if (op == REFCA_OP_REVOKE) {
            s = jstr(obj, "reason");
            if (!s || reason_parse(s) < 0)
                return refca_problem(ans, 422, "INVALID_REASON",
                                     "reason must be an RFC 5280 CRLReason name"),
                       1;
            return 0;
        }
        if (!(s = jstr(obj, "subject")))
            return refca_problem(ans, 422, "INVALID_SUBJECT", "subject is required"), 1;
        if (!(canon = canonical_subject(s, err)))
            return refca_problem(ans, 422, "INVALID_SUBJECT", err->msg), 1;
        free(canon);
        return 0;
    case REFCA_OP_RETURNED:
        s = jstr(obj, "returned_at");
        if (json_object_get(obj, "returned_at") && (!s || parse_rfc3339(s) < 0))
            return refca_problem(ans, 400, "MALFORMED_BODY",
                                 "returned_at must be an RFC 3339 date-time"),
                   1;
        /* the token must be known, as for a recall */
        __attribute__((fallthrough));
    case REFCA_OP_RECALL:
        rc = refca_store_device_known(ca->store, target, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return refca_problem(ans, 404, "DEVICE_NOT_FOUND", "no certificate names this token"),
                   1;
        return 0;
    case REFCA_OP_ISSUE:
        s = jstr(obj, "holder_type");
        if (!s || (strcmp(s, "ORGANIZATION") && strcmp(s, "PERSON")) || !jstr(obj, "holder_id"))
            return refca_problem(ans, 422, "INVALID_HOLDER",
                                 "holder_type (ORGANIZATION|PERSON) and holder_id are required"),
                   1;
        if (!(s = jstr(obj, "subject")))
            return refca_problem(ans, 422, "INVALID_SUBJECT", "subject is required"), 1;
        if (!(canon = canonical_subject(s, err)))
            return refca_problem(ans, 422, "INVALID_SUBJECT", err->msg), 1;
        free(canon);
        return 0;
    }
    return cb_error_set(err, CB_ERR_INTERNAL, "unknown operation");
}

int refca_ca_precheck(refca_ca_t *ca, refca_op_t op, const char *target, const char *body,
                      refca_answer_t *ans, cb_error_t *err)
{
    refca_cert_row_t row;
    json_t *obj = parse_body(body, ans);
    int rc;

    if (!obj)
        return 1;
    memset(&row, 0, sizeof(row));
    rc = check(ca, op, target, obj, &row, ans, err);
    refca_cert_row_clear(&row);
    json_decref(obj);
    return rc;
}

/* change-info: the same public key under the new subject; the old
 * certificate is superseded (reason 4) on the CRL. */
static int do_change_info(refca_ca_t *ca, refca_cert_row_t *old, json_t *obj, const char *key,
                          const char *request_id, refca_answer_t *ans, cb_error_t *err)
{
    refca_cert_row_t row;
    const char *org = jstr(obj, "org_code");
    char nb[32], na[32];
    int rc = -1;

    memset(&row, 0, sizeof(row));
    if (strcmp(old->status, "active") != 0) {
        rc = refca_problem(ans, 409, "CERTIFICATE_NOT_ACTIVE",
                           "the certificate is revoked or superseded");
        goto out;
    }
    if (issue_cert(ca, NULL, old->pubkey, old->pubkey_len, jstr(obj, "subject"), old->not_after,
                   &row, err) < 0)
        goto out;
    row.holder_type = old->holder_type;
    row.holder_id = old->holder_id;
    row.org_code = org ? (char *)org : old->org_code;
    row.device_id = old->device_id;
    row.pubkey = old->pubkey;
    row.pubkey_len = old->pubkey_len;
    row.status = (char *)"active";
    row.revoke_reason = -1;
    if (refca_store_cert_put(ca->store, &row, err) < 0 ||
        refca_store_cert_revoke(ca->store, old->serial, 4, (int64_t)time(NULL), row.serial, err) <
            0 ||
        refca_store_ledger_add(ca->store, "change-info", old->serial, row.serial, old->device_id, 4,
                               key, request_id, jstr(obj, "document_number"), err) < 0)
        goto unborrow;
    rfc3339(row.not_before, nb);
    rfc3339(row.not_after, na);
    rc = answer_json(ans, 200,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "status", "SUCCEEDED", "serial",
                               old->serial, "new_serial", row.serial, "subject", row.subject,
                               "not_before", nb, "not_after", na),
                     err);
    free(ca->crl);
    ca->crl = NULL;
unborrow:
    row.holder_type = row.holder_id = row.org_code = row.device_id = row.status = NULL;
    row.pubkey = NULL;
out:
    refca_cert_row_clear(&row);
    return rc;
}

/* revoke: puts the serial on the CRL; a revoked certificate answers
 * ALREADY_REVOKED with its first reason. */
static int do_revoke(refca_ca_t *ca, refca_cert_row_t *old, json_t *obj, const char *key,
                     const char *request_id, refca_answer_t *ans, cb_error_t *err)
{
    int reason = reason_parse(jstr(obj, "reason"));
    char at[32];

    if (strcmp(old->status, "active") != 0) {
        rfc3339(old->revoked_at, at);
        return answer_json(ans, 200,
                           json_pack("{s:s, s:s, s:s, s:s}", "status", "ALREADY_REVOKED", "serial",
                                     old->serial, "reason", reason_name(old->revoke_reason),
                                     "revoked_at", at),
                           err);
    }
    if (refca_store_cert_revoke(ca->store, old->serial, reason, (int64_t)time(NULL), NULL, err) <
            0 ||
        refca_store_ledger_add(ca->store, "revoke", old->serial, NULL, old->device_id, reason, key,
                               request_id, jstr(obj, "document_number"), err) < 0)
        return -1;
    free(ca->crl);
    ca->crl = NULL;
    rfc3339((int64_t)time(NULL), at);
    return answer_json(ans, 200,
                       json_pack("{s:s, s:s, s:s, s:s}", "status", "REVOKED", "serial", old->serial,
                                 "reason", reason_name(reason), "revoked_at", at),
                       err);
}

/* recall: records that the token must come back. */
static int do_recall(refca_ca_t *ca, const char *device, const char *key, const char *request_id,
                     refca_answer_t *ans, cb_error_t *err)
{
    int rc = refca_store_device_recall(ca->store, device, cb_clock_wall_ms(), err);

    if (rc < 0)
        return -1;
    if (rc == 0 && refca_store_ledger_add(ca->store, "recall", NULL, NULL, device, -1, key,
                                          request_id, NULL, err) < 0)
        return -1;
    return answer_json(ans, 200,
                       json_pack("{s:s, s:s, s:s}", "status", rc ? "ALREADY_RECALLED" : "RECALLED",
                                 "device_id", device, "note", RECALL_NOTE),
                       err);
}

/* returned: records that a recalled token came back to the Department;
 * a token never recalled is refused (409), one returned before answers
 * ALREADY_RETURNED with the first return's time. */
static int do_returned(refca_ca_t *ca, const char *device, json_t *obj, const char *key,
                       const char *request_id, refca_answer_t *ans, cb_error_t *err)
{
    const char *at_text = jstr(obj, "returned_at");
    int64_t at_ms = at_text ? parse_rfc3339(at_text) : cb_clock_wall_ms();
    int64_t recalled_ms = 0, returned_ms = 0;
    char rec[32], ret[32];
    int rc = refca_store_device_returned(ca->store, device, at_ms, &recalled_ms, &returned_ms, err);

    if (rc < 0)
        return -1;
    if (rc == 2)
        return refca_problem(ans, 409, "DEVICE_NOT_RECALLED",
                             "the token was never recalled: recall it first");
    if (rc == 0 && refca_store_ledger_add(ca->store, "returned", NULL, NULL, device, -1, key,
                                          request_id, NULL, err) < 0)
        return -1;
    rfc3339(recalled_ms / 1000, rec);
    rfc3339(returned_ms / 1000, ret);
    return answer_json(ans, 200,
                       json_pack("{s:s, s:s, s:s, s:s}", "status",
                                 rc ? "ALREADY_RETURNED" : "RETURNED", "device_id", device,
                                 "recalled_at", rec, "returned_at", ret),
                       err);
}

/* issue: a new key pair (a new token) and certificate for a holder. */
static int do_issue(refca_ca_t *ca, json_t *obj, const char *key, const char *request_id,
                    refca_answer_t *ans, cb_error_t *err)
{
    refca_cert_row_t row;
    EVP_PKEY *pk = NULL;
    char device[REFCA_SERIAL_HEX_MAX + 4];
    const char *dev = jstr(obj, "device_id");
    int rc = -1;

    memset(&row, 0, sizeof(row));
    if (!dev) {
        if (refca_serial_new(device + 3, err) < 0)
            goto out;
        memcpy(device, "TK-", 3);
        device[3 + 12] = '\0';
        dev = device;
    }
    if (!(pk = refca_key_new(err)) ||
        refca_key_public_der(pk, &row.pubkey, &row.pubkey_len, err) < 0 ||
        issue_cert(ca, NULL, row.pubkey, row.pubkey_len, jstr(obj, "subject"), 0, &row, err) < 0)
        goto out;
    row.holder_type = (char *)jstr(obj, "holder_type");
    row.holder_id = (char *)jstr(obj, "holder_id");
    row.org_code = (char *)jstr(obj, "org_code");
    row.device_id = (char *)dev;
    row.status = (char *)"active";
    row.revoke_reason = -1;
    if (refca_store_cert_put(ca->store, &row, err) < 0 ||
        refca_store_ledger_add(ca->store, "issue", NULL, row.serial, dev, -1, key, request_id, NULL,
                               err) < 0)
        goto unborrow;
    rc = answer_json(ans, 201,
                     json_pack("{s:s, s:s, s:s, s:s}", "status", "SUCCEEDED", "new_serial",
                               row.serial, "subject", row.subject, "device_id", dev),
                     err);
unborrow:
    row.holder_type = row.holder_id = row.org_code = row.device_id = row.status = NULL;
out:
    refca_cert_row_clear(&row);
    EVP_PKEY_free(pk);
    return rc;
}

int refca_ca_apply(refca_ca_t *ca, refca_op_t op, const char *target, const char *body,
                   const char *idem_key, const char *request_id, refca_answer_t *ans,
                   cb_error_t *err)
{
    refca_cert_row_t row;
    json_t *obj = parse_body(body, ans);
    int rc;

    if (!obj)
        return 0;
    memset(&row, 0, sizeof(row));
    rc = check(ca, op, target, obj, &row, ans, err);
    if (rc != 0)
        goto out;
    switch (op) {
    case REFCA_OP_CHANGE_INFO:
        rc = do_change_info(ca, &row, obj, idem_key, request_id, ans, err);
        break;
    case REFCA_OP_REVOKE:
        rc = do_revoke(ca, &row, obj, idem_key, request_id, ans, err);
        break;
    case REFCA_OP_RECALL:
        rc = do_recall(ca, target, idem_key, request_id, ans, err);
        break;
    case REFCA_OP_ISSUE:
        rc = do_issue(ca, obj, idem_key, request_id, ans, err);
        break;
    case REFCA_OP_RETURNED:
        rc = do_returned(ca, target, obj, idem_key, request_id, ans, err);
        break;
    }
out:
    refca_cert_row_clear(&row);
    json_decref(obj);
    return rc < 0 ? -1 : 0;
}

/* The JSON description of a certificate (lookup and single-certificate
 * answers). */
static json_t *cert_json(const refca_cert_row_t *row)
{
    char nb[32], na[32];

    rfc3339(row->not_before, nb);
    rfc3339(row->not_after, na);
    return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s?, s:s, s:s, s:s}", "serial", row->serial,
                     "holder_type", row->holder_type, "holder_id", row->holder_id, "org_code",
                     row->org_code, "subject", row->subject, "device_id", row->device_id, "status",
                     row->status, "not_before", nb, "not_after", na);
}

/* Appends a certificate to the lookup's array. */
static int lookup_add(const refca_cert_row_t *row, void *opaque)
{
    json_t *item = cert_json(row);

    return !item || json_array_append_new((json_t *)opaque, item) < 0;
}

int refca_ca_lookup(refca_ca_t *ca, const char *holder_type, const char *holder_id,
                    const char *org_code, refca_answer_t *ans, cb_error_t *err)
{
    json_t *list;

    if (!holder_type || (strcmp(holder_type, "ORGANIZATION") && strcmp(holder_type, "PERSON")))
        return refca_problem(ans, 400, "INVALID_QUERY",
                             "holder_type must be ORGANIZATION or PERSON");
    if (!holder_id && !org_code)
        return refca_problem(ans, 400, "INVALID_QUERY", "holder_id or org_code is required");
    if (!(list = json_array()))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    if (refca_store_cert_active(ca->store, holder_type, holder_id, org_code, lookup_add, list,
                                err) < 0) {
        json_decref(list);
        return -1;
    }
    return answer_json(ans, 200, json_pack("{s:o}", "certificates", list), err);
}

/* FNV-1a of the parts, 32 bits: what a cursor was made for. */
static uint32_t query_hash(const char *const *parts, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;
    const unsigned char *p;

    for (i = 0; i < n; i++) {
        for (p = (const unsigned char *)(parts[i] ? parts[i] : "\x01"); *p; p++)
            h = (h ^ *p) * 16777619u;
        h = (h ^ 0x1f) * 16777619u;
    }
    return h;
}

/* A page size from the query: absent gives def; 0 with a problem in ans
 * when it is not 1..REFCA_PAGE_MAX. */
static int page_size_of(const char *text, int def, refca_answer_t *ans)
{
    char *end;
    long n;

    if (!text)
        return def;
    n = strtol(text, &end, 10);
    if (end == text || *end || n < 1 || n > REFCA_PAGE_MAX) {
        refca_problem(ans, 400, "INVALID_QUERY", "page_size must be 1..1000");
        return 0;
    }
    return (int)n;
}

/* One certificate of a page: appended to the list while it holds fewer
 * than limit; the row after the last one only tells that there are more. */
typedef struct page_acc {
    json_t *list;
    int limit, count;
    int64_t last_rowid;
    bool more;
} page_acc_t;

static int page_add(const refca_cert_row_t *row, int64_t rowid, void *opaque)
{
    page_acc_t *acc = opaque;
    json_t *item;

    if (acc->count == acc->limit) {
        acc->more = true;
        return 0;
    }
    if (!(item = cert_json(row)) || json_array_append_new(acc->list, item) < 0)
        return 1;
    acc->count++;
    acc->last_rowid = rowid;
    return 0;
}

int refca_ca_list(refca_ca_t *ca, const refca_list_params_t *p, refca_answer_t *ans,
                  cb_error_t *err)
{
    refca_cert_query_t q;
    page_acc_t acc;
    const char *status = p->status ? p->status : "active";
    const char *parts[6];
    char cursor[CURSOR_MAX], changed[24];
    json_t *doc;
    uint32_t hash;
    int64_t changed_ms = 0, total = -1;
    int size;

    if (p->holder_type && strcmp(p->holder_type, "ORGANIZATION") &&
        strcmp(p->holder_type, "PERSON"))
        return refca_problem(ans, 400, "INVALID_QUERY",
                             "holder_type must be ORGANIZATION or PERSON");
    if (strcmp(status, "active") && strcmp(status, "revoked") && strcmp(status, "any"))
        return refca_problem(ans, 400, "INVALID_QUERY", "status must be active, revoked or any");
    if (p->changed_since && (changed_ms = parse_rfc3339(p->changed_since)) < 0)
        return refca_problem(ans, 400, "INVALID_QUERY",
                             "changed_since must be an RFC 3339 date-time");
    if (!p->page_size && !p->cursor) {
        /* the first form of the call: one answer with every certificate */
        if (!p->holder_type)
            return refca_problem(ans, 400, "INVALID_QUERY",
                                 "holder_type must be ORGANIZATION or PERSON");
        if (p->province || p->changed_since || strcmp(status, "active"))
            return refca_problem(ans, 400, "INVALID_QUERY",
                                 "province, changed_since and status other than active need "
                                 "page_size");
        return refca_ca_lookup(ca, p->holder_type, p->holder_id, p->org_code, ans, err);
    }
    if (!(size = page_size_of(p->page_size, REFCA_PAGE_DEFAULT, ans)))
        return 0;
    memset(&q, 0, sizeof(q));
    q.holder_type = p->holder_type;
    q.holder_id = p->holder_id;
    q.org_code = p->org_code;
    q.province = p->province;
    q.status = strcmp(status, "any") ? status : NULL;
    q.changed_since_ms = changed_ms;
    snprintf(changed, sizeof(changed), "%lld", (long long)changed_ms);
    parts[0] = p->holder_type, parts[1] = p->holder_id, parts[2] = p->org_code;
    parts[3] = p->province, parts[4] = status, parts[5] = changed;
    hash = query_hash(parts, 6);
    if (p->cursor) {
        long long after, snap;
        unsigned h;
        int n = 0;
        if (strlen(p->cursor) >= CURSOR_MAX ||
            sscanf(p->cursor, "c1-%lld.%lld.%8x%n", &after, &snap, &h, &n) != 3 ||
            (size_t)n != strlen(p->cursor) || after < 0 || snap < after)
            return refca_problem(ans, 400, "INVALID_CURSOR", "the cursor is not one of this CA's");
        if (h != hash)
            return refca_problem(ans, 400, "INVALID_CURSOR",
                                 "the cursor belongs to a query with other filters");
        q.after_rowid = after;
        q.snap_rowid = snap;
    } else {
        /* the first page: the walk's bound, and how many it will meet */
        if ((q.snap_rowid = refca_store_cert_max_rowid(ca->store, err)) < 0 ||
            (total = refca_store_cert_page_count(ca->store, &q, err)) < 0)
            return -1;
    }
    q.limit = size + 1;
    memset(&acc, 0, sizeof(acc));
    acc.limit = size;
    if (!(acc.list = json_array()))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    if (refca_store_cert_page(ca->store, &q, page_add, &acc, err) < 0) {
        json_decref(acc.list);
        return -1;
    }
    doc = json_pack("{s:o, s:i}", "certificates", acc.list, "page_size", size);
    if (doc && acc.more) {
        snprintf(cursor, sizeof(cursor), "c1-%lld.%lld.%08x", (long long)acc.last_rowid,
                 (long long)q.snap_rowid, hash);
        json_object_set_new(doc, "next_cursor", json_string(cursor));
    }
    if (doc && total >= 0)
        json_object_set_new(doc, "total", json_integer((json_int_t)total));
    return answer_json(ans, 200, doc, err);
}

/* One recalled token of a page of GET /v1/devices. */
static int device_add(const refca_device_row_t *r, void *opaque)
{
    page_acc_t *acc = opaque;
    char rec[32], ret[32];
    json_t *item;

    if (acc->count == acc->limit) {
        acc->more = true;
        return 0;
    }
    rfc3339(r->recalled_ms / 1000, rec);
    rfc3339(r->returned_ms / 1000, ret);
    item = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "device_id", r->device_id, "status",
                     r->returned_ms ? "returned" : "recalled", "recalled_at", rec, "holder_type",
                     r->holder_type, "holder_id", r->holder_id, "org_code", r->org_code, "subject",
                     r->subject);
    if (item && r->returned_ms)
        json_object_set_new(item, "returned_at", json_string(ret));
    if (!item || json_array_append_new(acc->list, item) < 0)
        return 1;
    acc->count++;
    acc->last_rowid = r->rowid;
    return 0;
}

int refca_ca_devices(refca_ca_t *ca, const char *status, const char *org_code,
                     const char *page_size, const char *cursor, refca_answer_t *ans,
                     cb_error_t *err)
{
    const char *parts[2];
    char next[CURSOR_MAX];
    page_acc_t acc;
    json_t *doc;
    uint32_t hash;
    long long after = 0;
    int size;

    status = status ? status : "recalled";
    if (strcmp(status, "recalled") && strcmp(status, "returned") && strcmp(status, "any"))
        return refca_problem(ans, 400, "INVALID_QUERY", "status must be recalled, returned or any");
    if (!(size = page_size_of(page_size, REFCA_PAGE_DEFAULT, ans)))
        return 0;
    parts[0] = status, parts[1] = org_code;
    hash = query_hash(parts, 2);
    if (cursor) {
        unsigned h;
        int n = 0;
        if (strlen(cursor) >= CURSOR_MAX || sscanf(cursor, "d1-%lld.%8x%n", &after, &h, &n) != 2 ||
            (size_t)n != strlen(cursor) || after < 0)
            return refca_problem(ans, 400, "INVALID_CURSOR", "the cursor is not one of this CA's");
        if (h != hash)
            return refca_problem(ans, 400, "INVALID_CURSOR",
                                 "the cursor belongs to a query with other filters");
    }
    memset(&acc, 0, sizeof(acc));
    acc.limit = size;
    if (!(acc.list = json_array()))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    if (refca_store_device_page(ca->store, status, org_code, after, size + 1, device_add, &acc,
                                err) < 0) {
        json_decref(acc.list);
        return -1;
    }
    doc = json_pack("{s:o, s:i}", "devices", acc.list, "page_size", size);
    if (doc && acc.more) {
        snprintf(next, sizeof(next), "d1-%lld.%08x", (long long)acc.last_rowid, hash);
        json_object_set_new(doc, "next_cursor", json_string(next));
    }
    return answer_json(ans, 200, doc, err);
}

int refca_ca_cert(refca_ca_t *ca, const char *serial, refca_answer_t *ans, cb_error_t *err)
{
    refca_cert_row_t row;
    json_t *obj;
    char *pem = NULL;
    int rc;

    rc = refca_store_cert_get(ca->store, serial, &row, err);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return refca_problem(ans, 404, "CERTIFICATE_NOT_FOUND", "no certificate has this serial");
    obj = cert_json(&row);
    if (obj && row.status && strcmp(row.status, "active"))
        json_object_set_new(obj, "revocation_reason", json_string(reason_name(row.revoke_reason)));
    if (obj && row.replaced_by)
        json_object_set_new(obj, "replaced_by", json_string(row.replaced_by));
    if (obj && (pem = refca_cert_pem_from_der(row.der, row.der_len, err)))
        json_object_set_new(obj, "pem", json_string(pem));
    refca_cert_row_clear(&row);
    free(pem);
    return answer_json(ans, 200, obj, err);
}

int refca_ca_finish(refca_ca_t *ca, const refca_request_row_t *row, const char **state,
                    refca_answer_t *ans, cb_error_t *err)
{
    int op;

    if (!strcmp(row->fate, REFCA_REQ_REJECTED)) {
        *state = REFCA_REQ_REJECTED;
        return refca_problem(ans, 422, "SUBJECT_MISMATCH", subject_mismatch_detail);
    }
    if (!strcmp(row->fate, REFCA_REQ_EXPIRED)) {
        *state = REFCA_REQ_EXPIRED;
        return refca_problem(ans, 410, "EXPIRED", expired_detail);
    }
    if ((op = refca_op_parse(row->op)) < 0)
        return cb_error_set(err, CB_ERR_INTERNAL, "request %s: unknown operation %s", row->id,
                            row->op);
    if (refca_ca_apply(ca, (refca_op_t)op, row->target, row->params, row->idem_key, row->id, ans,
                       err) < 0)
        return -1;
    *state = ans->status < 300 ? REFCA_REQ_COMPLETED : REFCA_REQ_REJECTED;
    return 0;
}

int refca_ca_request(refca_ca_t *ca, const char *id, refca_answer_t *ans, cb_error_t *err)
{
    refca_request_row_t row;
    json_t *obj, *result = NULL, *params = NULL;
    int rc = refca_store_request_get(ca->store, id, &row, err);

    if (rc < 0)
        return -1;
    if (rc == 1)
        return refca_problem(ans, 404, "REQUEST_NOT_FOUND", "no request has this id");
    if (row.body)
        result = json_loads(row.body, 0, NULL);
    obj = json_pack("{s:s, s:s, s:s, s:s?}", "request_id", row.id, "state", row.state, "op", row.op,
                    "target", row.target);
    /* the approving document the call named, kept in its stored body */
    if (obj && row.params && (params = json_loads(row.params, 0, NULL)) &&
        jstr(params, "document_number"))
        json_object_set(obj, "document_number", json_object_get(params, "document_number"));
    json_decref(params);
    if (obj && result) {
        json_object_set_new(obj, "http_status", json_integer(row.status));
        json_object_set_new(obj, "result", result);
        result = NULL;
    }
    json_decref(result);
    refca_request_row_clear(&row);
    return answer_json(ans, 200, obj, err);
}

/* Collects revoked certificates for the CRL. */
typedef struct crl_acc {
    refca_crl_entry_t *items;
    char **serials;
    size_t count, cap;
} crl_acc_t;

static int crl_collect(const char *serial, int reason, int64_t at, void *opaque)
{
    crl_acc_t *acc = opaque;

    if (acc->count == acc->cap) {
        size_t cap = acc->cap ? acc->cap * 2 : 64;
        refca_crl_entry_t *items = realloc(acc->items, cap * sizeof(*items));
        char **serials;
        if (!items)
            return 1;
        acc->items = items;
        serials = realloc(acc->serials, cap * sizeof(*serials));
        if (!serials)
            return 1;
        acc->serials = serials;
        acc->cap = cap;
    }
    if (!(acc->serials[acc->count] = strdup(serial)))
        return 1;
    acc->items[acc->count] = (refca_crl_entry_t){acc->serials[acc->count], reason, at};
    acc->count++;
    return 0;
}

void refca_ca_set_crl_refresh(refca_ca_t *ca, int64_t seconds)
{
    ca->crl_refresh_s = seconds < 0 ? 0 : seconds;
}

int refca_ca_crl(refca_ca_t *ca, const unsigned char **der, size_t *len, cb_error_t *err)
{
    crl_acc_t acc = {NULL, NULL, 0, 0};
    char *num = NULL;
    size_t nlen, i;
    int64_t number = 1;
    char buf[32];
    int rc = -1, found;

    if (ca->crl && (int64_t)time(NULL) - ca->crl_made_s < ca->crl_refresh_s)
        goto done;
    /* none yet, or old enough that its nextUpdate (a day after it was made)
     * comes close: a relying party must never hold only an expired CRL */
    free(ca->crl);
    ca->crl = NULL;
    ca->crl_made_s = (int64_t)time(NULL);
    if ((found = refca_store_meta_get(ca->store, "crl.number", &num, &nlen, err)) < 0)
        goto out;
    if (found == 0)
        number = strtoll(num, NULL, 10) + 1;
    if (refca_store_cert_revoked(ca->store, crl_collect, &acc, err) < 0) {
        if (err && !err->msg[0])
            cb_error_set(err, CB_ERR_NOMEM, "out of memory collecting the CRL");
        goto out;
    }
    if (refca_crl_make(ca->cert, ca->key, acc.items, acc.count, number, &ca->crl, &ca->crl_len,
                       err) < 0)
        goto out;
    snprintf(buf, sizeof(buf), "%lld", (long long)number);
    if (refca_store_meta_set(ca->store, "crl.number", buf, strlen(buf), err) < 0)
        goto out;
done:
    *der = ca->crl;
    *len = ca->crl_len;
    rc = 0;
out:
    for (i = 0; i < acc.count; i++)
        free(acc.serials[i]);
    free(acc.serials);
    free(acc.items);
    free(num);
    return rc;
}

/* Appends one ledger line to the answer's array. */
static int ledger_add_json(const refca_ledger_row_t *r, void *opaque)
{
    json_t *item = json_pack(
        "{s:I, s:I, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "seq", (json_int_t)r->seq, "at_ms",
        (json_int_t)r->at_ms, "op", r->op, "serial", r->serial, "new_serial", r->new_serial,
        "device_id", r->device_id, "idempotency_key", r->idem_key, "request_id", r->request_id);

    if (item && r->reason >= 0)
        json_object_set_new(item, "reason", json_string(reason_name(r->reason)));
    if (item && r->document_number)
        json_object_set_new(item, "document_number", json_string(r->document_number));
    return !item || json_array_append_new((json_t *)opaque, item) < 0;
}

int refca_ca_ledger(refca_ca_t *ca, int64_t after, int64_t limit, refca_answer_t *ans,
                    cb_error_t *err)
{
    json_t *list = json_array();
    int64_t total;

    if (!list)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    if (limit <= 0 || limit > LEDGER_MAX)
        limit = LEDGER_MAX;
    if ((total = refca_store_ledger_count(ca->store, err)) < 0 ||
        refca_store_ledger_each(ca->store, after, limit, ledger_add_json, list, err) < 0) {
        json_decref(list);
        if (err && !err->msg[0])
            cb_error_set(err, CB_ERR_NOMEM, "out of memory listing the ledger");
        return -1;
    }
    return answer_json(ans, 200,
                       json_pack("{s:I, s:o}", "count", (json_int_t)total, "entries", list), err);
}
