/*
 * approval_verify.c: the approver's detached CMS signature over an approval's
 * canonical bytes, checked with OpenSSL 3 (approval_verify.h states the
 * checks and the name rule).
 *
 * The checks are done one at a time rather than with one CMS_verify call
 * against a store holding the CRLs: OpenSSL then fails with one generic
 * "certificate verify error", and an operator needs to know whether the
 * approval was tampered with, the certificate expired, was revoked, or
 * belongs to someone else. The signature is checked over the bytes first
 * (CMS_NO_SIGNER_CERT_VERIFY), then the chain with X509_verify_cert at the
 * given time, then the CRL, then the name.
 */
#include "certbridge/approval_verify.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utf8proc.h>

#define FILE_MAX       (4 * 1024 * 1024) /* one anchors or CRL file */
#define NAME_MAX_BYTES 1024              /* a CN or UID compared */

struct cb_approval_verifier {
    bool required;
    X509_STORE *store;         /* the trust anchors */
    STACK_OF(X509_CRL) * crls; /* every CRL loaded */
    size_t anchors;
};

const char *cb_approval_fault_name(cb_approval_fault_t f)
{
    switch (f) {
    case CB_APPROVAL_FAULT_NONE:
        return "none";
    case CB_APPROVAL_FAULT_UNSIGNED:
        return "unsigned";
    case CB_APPROVAL_FAULT_MALFORMED:
        return "malformed_signature";
    case CB_APPROVAL_FAULT_BAD_SIGNATURE:
        return "bad_signature";
    case CB_APPROVAL_FAULT_UNTRUSTED:
        return "untrusted_certificate";
    case CB_APPROVAL_FAULT_EXPIRED:
        return "certificate_not_valid";
    case CB_APPROVAL_FAULT_NO_CRL:
        return "no_current_crl";
    case CB_APPROVAL_FAULT_REVOKED:
        return "certificate_revoked";
    case CB_APPROVAL_FAULT_WRONG_SIGNER:
        return "wrong_signer";
    }
    return "unknown";
}

/* The oldest OpenSSL error of the queue as text (or "no detail"), and an
 * empty queue. */
static const char *ssl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();

    if (!e)
        snprintf(buf, size, "no detail");
    else
        ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

cb_approval_verifier_t *cb_approval_verifier_new(bool required, cb_error_t *err)
{
    cb_approval_verifier_t *v = calloc(1, sizeof(*v));

    if (!v || !(v->store = X509_STORE_new()) || !(v->crls = sk_X509_CRL_new_null())) {
        cb_approval_verifier_free(v);
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    v->required = required;
    return v;
}

void cb_approval_verifier_free(cb_approval_verifier_t *v)
{
    if (!v)
        return;
    X509_STORE_free(v->store);
    sk_X509_CRL_pop_free(v->crls, X509_CRL_free);
    free(v);
}

bool cb_approval_verifier_required(const cb_approval_verifier_t *v)
{
    return v->required;
}

int cb_approval_verifier_add_anchors(cb_approval_verifier_t *v, const void *pem, size_t len,
                                     const char *what, cb_error_t *err)
{
    BIO *bio;
    X509 *x;
    size_t n = 0;
    char why[256];

    if (len > FILE_MAX || len > INT32_MAX)
        return cb_error_set(err, CB_ERR_LIMIT, "%s: %zu bytes exceed the limit of %d", what, len,
                            FILE_MAX);
    if (!(bio = BIO_new_mem_buf(pem, (int)len)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (!X509_STORE_add_cert(v->store, x)) {
            X509_free(x);
            BIO_free(bio);
            return cb_error_set(err, CB_ERR_INVALID, "%s: certificate %zu not added: %s", what,
                                n + 1, ssl_reason(why, sizeof(why)));
        }
        X509_free(x);
        n++;
    }
    ERR_clear_error(); /* the end of the text reads as "no start line" */
    BIO_free(bio);
    if (n == 0)
        return cb_error_set(err, CB_ERR_INVALID, "%s: no PEM certificate in it", what);
    v->anchors += n;
    return 0;
}

int cb_approval_verifier_add_crl(cb_approval_verifier_t *v, const void *buf, size_t len,
                                 const char *what, cb_error_t *err)
{
    const unsigned char *p = buf;
    X509_CRL *crl;
    BIO *bio;
    size_t n = 0;
    char why[256];

    if (len > FILE_MAX || len > INT32_MAX)
        return cb_error_set(err, CB_ERR_LIMIT, "%s: %zu bytes exceed the limit of %d", what, len,
                            FILE_MAX);
    if (len > 0 && p[0] == 0x30) { /* DER: a SEQUENCE */
        if (!(crl = d2i_X509_CRL(NULL, &p, (long)len)) || p != (const unsigned char *)buf + len) {
            X509_CRL_free(crl);
            return cb_error_set(err, CB_ERR_INVALID, "%s: not a DER CRL: %s", what,
                                ssl_reason(why, sizeof(why)));
        }
        if (!sk_X509_CRL_push(v->crls, crl)) {
            X509_CRL_free(crl);
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        }
        return 0;
    }
    if (!(bio = BIO_new_mem_buf(buf, (int)len)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
        if (!sk_X509_CRL_push(v->crls, crl)) {
            X509_CRL_free(crl);
            BIO_free(bio);
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        }
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (n == 0)
        return cb_error_set(err, CB_ERR_INVALID, "%s: neither a DER CRL nor PEM X509 CRL blocks",
                            what);
    return 0;
}

/* Reads a whole file (at most FILE_MAX bytes) into *out (caller frees). */
static int read_file(const char *key, const char *path, char **out, size_t *len, cb_error_t *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    *out = NULL;
    if (!f)
        return cb_error_set(err, CB_ERR_IO, "%s: cannot open %s", key, path);
    if (!(buf = malloc(FILE_MAX + 1))) {
        fclose(f);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    n = fread(buf, 1, FILE_MAX + 1, f);
    if (ferror(f) || n > FILE_MAX) {
        fclose(f);
        free(buf);
        return cb_error_set(err, n > FILE_MAX ? CB_ERR_LIMIT : CB_ERR_IO,
                            "%s: %s is unreadable or over %d bytes", key, path, FILE_MAX);
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

/* The next path of a comma-separated list at *list into path (blanks
 * around it trimmed; "" for an empty item), moving *list past it. 1 when
 * one was taken, 0 at the end, -1 when it does not fit. */
static int next_path(const char **list, char *path, size_t size)
{
    const char *p = *list, *end;
    size_t n;

    if (!*p)
        return 0;
    end = strchr(p, ',');
    n = end ? (size_t)(end - p) : strlen(p);
    *list = end ? end + 1 : p + n;
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n >= size)
        return -1;
    memcpy(path, p, n);
    path[n] = '\0';
    return 1;
}

/* Loads every file of a comma-separated list with add(). */
static int load_files(cb_approval_verifier_t *v, const char *key, const char *list,
                      int (*add)(cb_approval_verifier_t *, const void *, size_t, const char *,
                                 cb_error_t *),
                      cb_error_t *err)
{
    char path[4096], what[4200];
    int got;

    while ((got = next_path(&list, path, sizeof(path))) != 0) {
        char *buf = NULL;
        size_t len = 0;
        int rc;
        if (got < 0)
            return cb_error_set(err, CB_ERR_CONFIG, "%s: a path is too long", key);
        if (!*path)
            continue;
        if (read_file(key, path, &buf, &len, err) < 0)
            return -1;
        snprintf(what, sizeof(what), "%s: %s", key, path);
        rc = add(v, buf, len, what, err);
        free(buf);
        if (rc < 0)
            return -1;
    }
    return 0;
}

uint64_t cb_approval_files_stamp(const cb_config_t *cfg)
{
    const char *keys[] = {"policy.approval_trust_anchors", "policy.approval_crl_file"};
    uint64_t stamp = 0; /* unsigned: the arithmetic below wraps, by definition */
    char path[4096];
    size_t k;

    for (k = 0; k < 2; k++) {
        const char *list = cb_config_get(cfg, keys[k]);
        int got;
        while (list && (got = next_path(&list, path, sizeof(path))) != 0) {
            struct stat st;
            uint64_t t;
            if (got < 0 || !*path || stat(path, &st) < 0)
                continue;
            t = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
            /* the size too: a file rewritten within the clock's tick */
            stamp = stamp * 31u + t + (uint64_t)st.st_size;
        }
    }
    return stamp;
}

cb_approval_verifier_t *cb_approval_verifier_from_config(const cb_config_t *cfg, cb_error_t *err)
{
    const char *mode = cb_config_get(cfg, "policy.approval_signature");
    const char *anchors = cb_config_get(cfg, "policy.approval_trust_anchors");
    const char *crls = cb_config_get(cfg, "policy.approval_crl_file");
    bool required = !mode || strcmp(mode, "off") != 0;
    cb_approval_verifier_t *v;

    if (required && (!anchors || !*anchors)) {
        cb_error_set(err, CB_ERR_CONFIG,
                     "policy.approval_signature=required needs policy.approval_trust_anchors "
                     "(the PEM certificates of the CAs whose certificates may sign approvals)");
        return NULL;
    }
    if (required && (!crls || !*crls)) {
        cb_error_set(err, CB_ERR_CONFIG,
                     "policy.approval_signature=required needs policy.approval_crl_file (the "
                     "issuing CA's CRL, e.g. from its GET /v1/crl)");
        return NULL;
    }
    if (!(v = cb_approval_verifier_new(required, err)))
        return NULL;
    if (required &&
        (load_files(v, "policy.approval_trust_anchors", anchors, cb_approval_verifier_add_anchors,
                    err) < 0 ||
         load_files(v, "policy.approval_crl_file", crls, cb_approval_verifier_add_crl, err) < 0)) {
        cb_approval_verifier_free(v);
        return NULL;
    }
    return v;
}

/* ---- names and times ---------------------------------------------------- */

/* The value of the only attribute nid of name as UTF-8 into buf; 0 when
 * absent, the number of such attributes when more than one, -1 on error. */
static int name_entry(const X509_NAME *name, int nid, char *buf, size_t size)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1), n;
    unsigned char *utf8 = NULL;

    buf[0] = '\0';
    if (i < 0)
        return 0;
    if (X509_NAME_get_index_by_NID(name, nid, i) >= 0) {
        for (n = 1; (i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0; n++)
            ;
        return n;
    }
    n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n < 0)
        return -1;
    snprintf(buf, size, "%.*s", n, (const char *)utf8);
    OPENSSL_free(utf8);
    return 1;
}

/* An ASN1_TIME as "YYYY-MM-DDTHH:MM:SSZ". */
static const char *asn1_time_text(const ASN1_TIME *t, char buf[32])
{
    struct tm tm;

    if (!t || !ASN1_TIME_to_tm(t, &tm))
        snprintf(buf, 32, "(unknown time)");
    else
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static const char *epoch_text(int64_t s, char buf[32])
{
    time_t t = (time_t)s;
    struct tm tm;

    if (!gmtime_r(&t, &tm))
        snprintf(buf, 32, "%lld", (long long)s);
    else
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* Fills who with the certificate's CN, serial and issuer's CN. */
static void describe(X509 *x, cb_approval_signer_t *who)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;

    if (name_entry(X509_get_subject_name(x), NID_commonName, who->cn, sizeof(who->cn)) != 1)
        who->cn[0] = '\0';
    if (name_entry(X509_get_issuer_name(x), NID_commonName, who->issuer, sizeof(who->issuer)) != 1)
        who->issuer[0] = '\0';
    snprintf(who->serial, sizeof(who->serial), "%s", hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
}

/* The comparison form of a name (approval_verify.h, step 6) into a new
 * string (caller frees); NULL when it is not valid UTF-8 or memory ran out. */
static char *name_fold(const char *s)
{
    utf8proc_uint8_t *folded = NULL;
    utf8proc_ssize_t n, i = 0;
    char *out;
    size_t o = 0;
    bool space = false;

    n = utf8proc_map((const utf8proc_uint8_t *)s, 0, &folded,
                     UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
    if (n < 0)
        return NULL;
    if (!(out = malloc((size_t)n * 2 + 1))) {
        free(folded);
        return NULL;
    }
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(folded + i, n - i, &cp);
        if (k <= 0)
            break;
        i += k;
        if (cp == '\t' || cp == '\n' || cp == '\v' || cp == '\f' || cp == '\r' ||
            utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS) {
            space = o > 0;
            continue;
        }
        if (cp == 0xF0) /* ð (Icelandic eth), typed for the Vietnamese đ */
            cp = 0x111;
        if (space)
            out[o++] = ' ';
        space = false;
        o += (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out + o);
    }
    out[o] = '\0';
    free(folded);
    return out;
}

/* Whether two names are the same person's name by the rule of step 6. */
static bool same_name(const char *a, const char *b)
{
    char *fa = name_fold(a), *fb = name_fold(b);
    bool same = fa && fb && strcmp(fa, fb) == 0;

    free(fa);
    free(fb);
    return same;
}

/* RFC 5280 CRLReason names, by code. */
static const char *crl_reason_name(long code)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", "7",
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};

    return code >= 0 && code < (long)(sizeof(names) / sizeof(names[0])) ? names[code] : "unknown";
}

/* ---- the check ----------------------------------------------------------- */

/* The check's context: what the messages name. */
typedef struct check {
    const cb_approval_t *a;
    cb_approval_fault_t *fault;
    cb_approval_signer_t *who;
    cb_error_t *err;
    char at[32];
} check_t;

/* Fails with fault f and "approval of request R by "A": <message>". */
__attribute__((format(printf, 3, 4))) static int refuse(check_t *c, cb_approval_fault_t f,
                                                        const char *fmt, ...)
{
    char msg[CB_ERRMSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    *c->fault = f;
    return cb_error_set(c->err, CB_ERR_INVALID, "approval of request %.128s by \"%.128s\": %s",
                        c->a->request_id ? c->a->request_id : "?",
                        c->a->approver_name ? c->a->approver_name : "?", msg);
}

/* Step 2: the signature's form; *signer gets the signer's certificate
 * (owned by cms). */
static int check_form(check_t *c, CMS_ContentInfo *cms, X509 **signer)
{
    STACK_OF(CMS_SignerInfo) * sis;
    CMS_SignerInfo *si;
    X509_ALGOR *dig = NULL;
    int nid, n;

    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
        return refuse(c, CB_APPROVAL_FAULT_MALFORMED, "the signature is a CMS %s, not a SignedData",
                      OBJ_nid2sn(OBJ_obj2nid(CMS_get0_type(cms))));
    if (!CMS_is_detached(cms))
        return refuse(c, CB_APPROVAL_FAULT_MALFORMED,
                      "the signature embeds its content; a detached signature over the "
                      "canonical bytes is required");
    if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data)
        return refuse(c, CB_APPROVAL_FAULT_MALFORMED,
                      "the signature's content type is %s, not id-data",
                      OBJ_nid2sn(OBJ_obj2nid(CMS_get0_eContentType(cms))));
    sis = CMS_get0_SignerInfos(cms);
    if ((n = sis ? sk_CMS_SignerInfo_num(sis) : 0) != 1)
        return refuse(c, CB_APPROVAL_FAULT_MALFORMED,
                      "the signature has %d signers; exactly one, the approver, is required", n);
    si = sk_CMS_SignerInfo_value(sis, 0);
    CMS_set1_signers_certs(cms, NULL, 0);
    ERR_clear_error();
    CMS_SignerInfo_get0_algs(si, NULL, signer, &dig, NULL);
    if (!*signer)
        return refuse(c, CB_APPROVAL_FAULT_MALFORMED,
                      "the signature does not include the signer's certificate");
    describe(*signer, c->who);
    nid = dig ? OBJ_obj2nid(dig->algorithm) : NID_undef;
    if (nid != NID_sha256 && nid != NID_sha384 && nid != NID_sha512)
        return refuse(c, CB_APPROVAL_FAULT_MALFORMED,
                      "the signature uses the digest %s; SHA-256, SHA-384 or SHA-512 is required",
                      nid == NID_undef ? "(unknown)" : OBJ_nid2sn(nid));
    return 0;
}

/* Step 3: the signature over the canonical bytes. */
static int check_bytes(check_t *c, CMS_ContentInfo *cms)
{
    char *canon = NULL;
    size_t len;
    BIO *content;
    int ok;

    if (cb_approval_canonical(c->a, &canon, &len, c->err) < 0)
        return -1;
    if (!(content = BIO_new_mem_buf(canon, (int)len))) {
        free(canon);
        return cb_error_set(c->err, CB_ERR_NOMEM, "out of memory");
    }
    ok = CMS_verify(cms, NULL, NULL, content, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY);
    ERR_clear_error();
    BIO_free(content);
    free(canon);
    if (ok != 1)
        return refuse(c, CB_APPROVAL_FAULT_BAD_SIGNATURE,
                      "the signature by \"%.128s\" (serial %s) does not match the approval's "
                      "content: the approval was changed after it was signed, or the signed "
                      "bytes were not its canonical form",
                      c->who->cn, c->who->serial);
    return 0;
}

/* Step 4: the chain at the verification time; *chain gets it (caller
 * frees), the signer first, the anchor last. */
static int check_chain(check_t *c, const cb_approval_verifier_t *v, CMS_ContentInfo *cms,
                       X509 *signer, int64_t at_s, STACK_OF(X509) * *chain)
{
    STACK_OF(X509) *untrusted = CMS_get1_certs(cms);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = -1, e, depth;
    X509 *bad;
    char nb[32], na[32];
    cb_approval_signer_t cert;

    *chain = NULL;
    if (!ctx || !X509_STORE_CTX_init(ctx, v->store, signer, untrusted)) {
        cb_error_set(c->err, CB_ERR_NOMEM, "out of memory verifying a certificate chain");
        goto out;
    }
    X509_STORE_CTX_set_time(ctx, 0, (time_t)at_s);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN);
    if (X509_verify_cert(ctx) == 1) {
        *chain = X509_STORE_CTX_get1_chain(ctx);
        rc = *chain ? 0 : cb_error_set(c->err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    e = X509_STORE_CTX_get_error(ctx);
    depth = X509_STORE_CTX_get_error_depth(ctx);
    bad = X509_STORE_CTX_get_current_cert(ctx);
    memset(&cert, 0, sizeof(cert));
    if (bad)
        describe(bad, &cert);
    if (depth == 0 && e == X509_V_ERR_CERT_HAS_EXPIRED)
        refuse(c, CB_APPROVAL_FAULT_EXPIRED,
               "the signer's certificate \"%.128s\" (serial %s) expired on %s; it is not valid "
               "at the verification time %s: an expired certificate cannot sign an approval",
               c->who->cn, c->who->serial, asn1_time_text(X509_get0_notAfter(signer), na), c->at);
    else if (depth == 0 && e == X509_V_ERR_CERT_NOT_YET_VALID)
        refuse(c, CB_APPROVAL_FAULT_EXPIRED,
               "the signer's certificate \"%.128s\" (serial %s) is valid only from %s, not at "
               "the verification time %s",
               c->who->cn, c->who->serial, asn1_time_text(X509_get0_notBefore(signer), nb), c->at);
    else if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)
        refuse(c, CB_APPROVAL_FAULT_EXPIRED,
               "the certificate \"%.128s\" (serial %s) of the signer's issuing CA is valid from "
               "%s to %s, not at the verification time %s",
               cert.cn, cert.serial, asn1_time_text(X509_get0_notBefore(bad), nb),
               asn1_time_text(X509_get0_notAfter(bad), na), c->at);
    else
        refuse(c, CB_APPROVAL_FAULT_UNTRUSTED,
               "the signer's certificate \"%.128s\" (serial %s, issued by \"%.128s\") is not "
               "trusted for signing approvals: %s (policy.approval_trust_anchors)",
               c->who->cn, c->who->serial, c->who->issuer, X509_verify_cert_error_string(e));
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(untrusted, X509_free);
    return rc;
}

/* Step 5: a current CRL of the signer's issuer, and the signer not on it. */
static int check_crl(check_t *c, const cb_approval_verifier_t *v, X509 *signer,
                     STACK_OF(X509) * chain, int64_t at_s)
{
    X509 *issuer = sk_X509_value(chain, sk_X509_num(chain) > 1 ? 1 : 0);
    EVP_PKEY *key = X509_get0_pubkey(issuer);
    X509_CRL *crl = NULL, *stale = NULL;
    X509_REVOKED *rev = NULL;
    ASN1_ENUMERATED *reason;
    bool named = false;
    time_t at = (time_t)at_s;
    char when[32];
    long code = -1;
    int i;

    for (i = 0; i < sk_X509_CRL_num(v->crls) && !crl; i++) {
        X509_CRL *x = sk_X509_CRL_value(v->crls, i);
        const ASN1_TIME *next = X509_CRL_get0_nextUpdate(x);
        if (X509_NAME_cmp(X509_CRL_get_issuer(x), X509_get_issuer_name(signer)) != 0)
            continue;
        named = true;
        if (!key || X509_CRL_verify(x, key) != 1)
            continue;
        if (next && X509_cmp_time(next, &at) < 0)
            stale = x;
        else
            crl = x;
    }
    ERR_clear_error();
    if (!crl && stale)
        return refuse(c, CB_APPROVAL_FAULT_NO_CRL,
                      "cannot check the signer's certificate \"%.128s\" (serial %s) for "
                      "revocation: the CRL of its issuer \"%.128s\" was valid until %s, before "
                      "the verification time %s; load a current CRL (the CA's GET /v1/crl, "
                      "policy.approval_crl_file)",
                      c->who->cn, c->who->serial, c->who->issuer,
                      asn1_time_text(X509_CRL_get0_nextUpdate(stale), when), c->at);
    if (!crl && named)
        return refuse(c, CB_APPROVAL_FAULT_NO_CRL,
                      "cannot check the signer's certificate \"%.128s\" (serial %s) for "
                      "revocation: the CRL loaded for its issuer \"%.128s\" is not signed by "
                      "that issuer's key (policy.approval_crl_file)",
                      c->who->cn, c->who->serial, c->who->issuer);
    if (!crl)
        return refuse(c, CB_APPROVAL_FAULT_NO_CRL,
                      "cannot check the signer's certificate \"%.128s\" (serial %s) for "
                      "revocation: no CRL of its issuer \"%.128s\" is loaded "
                      "(policy.approval_crl_file)",
                      c->who->cn, c->who->serial, c->who->issuer);
    if (X509_CRL_get0_by_cert(crl, &rev, signer) != 1)
        return 0;
    if ((reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL))) {
        code = ASN1_ENUMERATED_get(reason);
        ASN1_ENUMERATED_free(reason);
    }
    return refuse(c, CB_APPROVAL_FAULT_REVOKED,
                  "the signer's certificate \"%.128s\" (serial %s) was revoked on %s (reason "
                  "%s) and is on the CA's CRL: a revoked certificate cannot sign an approval",
                  c->who->cn, c->who->serial,
                  asn1_time_text(X509_REVOKED_get0_revocationDate(rev), when),
                  code < 0 ? "not given" : crl_reason_name(code));
}

/* Step 6: the signer is the approver named. */
static int check_signer(check_t *c, X509 *signer)
{
    const X509_NAME *subject = X509_get_subject_name(signer);
    char cn[NAME_MAX_BYTES + 1], uid[NAME_MAX_BYTES + 1];
    int n = name_entry(subject, NID_commonName, cn, sizeof(cn));
    size_t ul, il;

    if (n != 1)
        return refuse(c, CB_APPROVAL_FAULT_WRONG_SIGNER,
                      "the signer's certificate (serial %s) has %d CN attributes; exactly one, "
                      "the approver's name, is required",
                      c->who->serial, n < 0 ? 0 : n);
    if (!same_name(cn, c->a->approver_name))
        return refuse(c, CB_APPROVAL_FAULT_WRONG_SIGNER,
                      "signed by \"%.128s\" (certificate serial %s), not by the approver named: "
                      "the approver must sign with their own certificate (names are compared "
                      "ignoring case, Unicode composition and repeated spaces)",
                      cn, c->who->serial);
    if (!c->a->approver_id)
        return 0;
    n = name_entry(subject, NID_userId, uid, sizeof(uid));
    if (n != 1)
        return refuse(c, CB_APPROVAL_FAULT_WRONG_SIGNER,
                      "the signer's certificate \"%.128s\" (serial %s) carries %s, and the "
                      "approval names approver_id \"%.64s\"",
                      cn, c->who->serial, n > 1 ? "several UID attributes" : "no UID attribute",
                      c->a->approver_id);
    ul = strlen(uid);
    il = strlen(c->a->approver_id);
    if (strcmp(uid, c->a->approver_id) != 0 &&
        !(ul > il && uid[ul - il - 1] == ':' && !strcmp(uid + ul - il, c->a->approver_id)))
        return refuse(c, CB_APPROVAL_FAULT_WRONG_SIGNER,
                      "the signer's certificate \"%.128s\" (serial %s) carries UID \"%.64s\", "
                      "not the approval's approver_id \"%.64s\"",
                      cn, c->who->serial, uid, c->a->approver_id);
    return 0;
}

int cb_approval_verifier_check(const cb_approval_verifier_t *v, const cb_approval_t *a,
                               int64_t at_s, cb_approval_fault_t *fault,
                               cb_approval_signer_t *signer, cb_error_t *err)
{
    cb_approval_fault_t f_local;
    cb_approval_signer_t who_local;
    check_t c = {a, fault ? fault : &f_local, signer ? signer : &who_local, err, ""};
    const unsigned char *p;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(X509) *chain = NULL;
    X509 *x = NULL;
    char why[256];
    int rc = -1;

    *c.fault = CB_APPROVAL_FAULT_NONE;
    memset(c.who, 0, sizeof(*c.who));
    epoch_text(at_s, c.at);
    if (!v->required)
        return 0;
    if (!a->signature || a->signature_len == 0)
        return refuse(&c, CB_APPROVAL_FAULT_UNSIGNED,
                      "not signed, and policy.approval_signature=required: the approver must "
                      "sign its canonical bytes with a detached CMS signature");
    if (a->signature_len > CB_APPROVAL_SIGNATURE_MAX)
        return refuse(&c, CB_APPROVAL_FAULT_MALFORMED, "the signature of %zu bytes is over %d",
                      a->signature_len, CB_APPROVAL_SIGNATURE_MAX);
    p = a->signature;
    if (!(cms = d2i_CMS_ContentInfo(NULL, &p, (long)a->signature_len)))
        return refuse(&c, CB_APPROVAL_FAULT_MALFORMED,
                      "the signature is not a DER CMS SignedData (%s)",
                      ssl_reason(why, sizeof(why)));
    if (p != a->signature + a->signature_len) {
        refuse(&c, CB_APPROVAL_FAULT_MALFORMED,
               "the signature has %zu bytes after its DER CMS SignedData",
               (size_t)(a->signature + a->signature_len - p));
        goto out;
    }
    if (check_form(&c, cms, &x) < 0 || check_bytes(&c, cms) < 0 ||
        check_chain(&c, v, cms, x, at_s, &chain) < 0 || check_crl(&c, v, x, chain, at_s) < 0 ||
        check_signer(&c, x) < 0)
        goto out;
    rc = 0;
out:
    ERR_clear_error();
    sk_X509_pop_free(chain, X509_free);
    CMS_ContentInfo_free(cms);
    return rc;
}

/* ---- signing --------------------------------------------------------------- */

int cb_approval_sign(cb_approval_t *a, const char *key_pem, size_t key_len, const char *cert_pem,
                     size_t cert_len, cb_error_t *err)
{
    BIO *kb = NULL, *cb = NULL, *content = NULL, *out = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL, *x;
    STACK_OF(X509) *chain = sk_X509_new_null();
    CMS_ContentInfo *cms = NULL;
    char *canon = NULL, why[256];
    size_t len;
    BUF_MEM *mem;
    int rc = -1;

    if (!chain || key_len > FILE_MAX || cert_len > FILE_MAX) {
        cb_error_set(err, chain ? CB_ERR_LIMIT : CB_ERR_NOMEM,
                     "sign: key or certificate too "
                     "large, or out of memory");
        goto out;
    }
    if (!(kb = BIO_new_mem_buf(key_pem, (int)key_len)) ||
        !(key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL))) {
        cb_error_set(err, CB_ERR_INVALID, "sign: the key is not a PEM private key: %s",
                     ssl_reason(why, sizeof(why)));
        goto out;
    }
    if (!(cb = BIO_new_mem_buf(cert_pem, (int)cert_len)) ||
        !(cert = PEM_read_bio_X509(cb, NULL, NULL, NULL))) {
        cb_error_set(err, CB_ERR_INVALID, "sign: no PEM certificate: %s",
                     ssl_reason(why, sizeof(why)));
        goto out;
    }
    while ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL)))
        if (!sk_X509_push(chain, x)) {
            X509_free(x);
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            goto out;
        }
    ERR_clear_error();
    if (!X509_check_private_key(cert, key)) {
        cb_error_set(err, CB_ERR_INVALID, "sign: the key does not belong to the certificate");
        goto out;
    }
    if (cb_approval_canonical(a, &canon, &len, err) < 0)
        goto out;
    if (!(content = BIO_new_mem_buf(canon, (int)len)) ||
        !(cms = CMS_sign(cert, key, chain, content, CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP)) ||
        !(out = BIO_new(BIO_s_mem())) || i2d_CMS_bio(out, cms) != 1) {
        cb_error_set(err, CB_ERR_INTERNAL, "sign: CMS signing failed: %s",
                     ssl_reason(why, sizeof(why)));
        goto out;
    }
    BIO_get_mem_ptr(out, &mem);
    free(a->signature);
    a->signature_len = 0;
    if (!(a->signature = malloc(mem->length ? mem->length : 1))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(a->signature, mem->data, mem->length);
    a->signature_len = mem->length;
    rc = 0;
out:
    ERR_clear_error();
    BIO_free(kb);
    BIO_free(cb);
    BIO_free(content);
    BIO_free(out);
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    CMS_ContentInfo_free(cms);
    free(canon);
    return rc;
}
