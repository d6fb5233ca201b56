/*
 * pki.c: keys, names, certificates and CRLs of the reference CA (pki.h).
 */
#include "pki.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certbridge/dn.h"

/* Fills err with what, followed by the oldest OpenSSL error of the queue,
 * and empties the queue. Returns -1. */
static int ssl_fail(cb_error_t *err, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    else
        snprintf(buf, sizeof(buf), "no OpenSSL error");
    ERR_clear_error();
    return cb_error_set(err, CB_ERR_INTERNAL, "%s: %s", what, buf);
}

EVP_PKEY *refca_key_new(cb_error_t *err)
{
    /* one key generation context, made once and reused: EVP_EC_gen fetches
     * the algorithm and sets the curve again for every key, which took most
     * of the time of loading a large inventory (the reference CA is
     * single-threaded, so a static context is safe) */
    static EVP_PKEY_CTX *gen;
    EVP_PKEY *key = NULL;

    if (!gen) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!c || EVP_PKEY_keygen_init(c) <= 0 || EVP_PKEY_CTX_set_group_name(c, "P-256") <= 0) {
            EVP_PKEY_CTX_free(c);
            ssl_fail(err, "EC P-256 key generation");
            return NULL;
        }
        gen = c;
    }
    if (EVP_PKEY_generate(gen, &key) <= 0) {
        ssl_fail(err, "EC P-256 key generation");
        return NULL;
    }
    return key;
}

/* Reads the whole of a memory BIO into a new NUL-terminated string. */
static char *bio_to_string(BIO *bio, cb_error_t *err)
{
    char *data, *out;
    long len = BIO_get_mem_data(bio, &data);

    if (len < 0 || !(out = malloc((size_t)len + 1))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(out, data, (size_t)len);
    out[len] = '\0';
    return out;
}

char *refca_key_private_pem(EVP_PKEY *key, cb_error_t *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;

    if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
        ssl_fail(err, "writing a private key");
    else
        out = bio_to_string(bio, err);
    BIO_free(bio);
    return out;
}

EVP_PKEY *refca_key_from_private_pem(const char *pem, cb_error_t *err)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = NULL;

    if (!bio || !(key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)))
        ssl_fail(err, "reading a private key");
    BIO_free(bio);
    return key;
}

/* Moves n bytes of DER that OpenSSL allocated at buf (n <= 0: the encoding
 * failed, what names it) into a malloc'd *der the caller frees. */
static int take_der(unsigned char *buf, int n, const char *what, unsigned char **der, size_t *len,
                    cb_error_t *err)
{
    if (n <= 0)
        return ssl_fail(err, what);
    *der = malloc((size_t)n);
    if (!*der) {
        OPENSSL_free(buf);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    memcpy(*der, buf, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(buf);
    return 0;
}

/* The DER SubjectPublicKeyInfo of an EC P-256 key (uncompressed point)
 * up to the point's 65 bytes. */
static const unsigned char p256_spki_prefix[26] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

int refca_key_public_der(EVP_PKEY *key, unsigned char **der, size_t *len, cb_error_t *err)
{
    unsigned char *buf = NULL, point[65];
    size_t plen = 0;
    char group[16];
    int n;

    /* a P-256 key: its uncompressed point after the fixed prefix, without
     * OpenSSL 3's encoder, which cost more than making the certificate */
    if (EVP_PKEY_is_a(key, "EC") &&
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       NULL) &&
        !strcmp(group, "prime256v1") &&
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
                                        &plen) &&
        plen == sizeof(point) && point[0] == 0x04) {
        if (!(*der = malloc(sizeof(p256_spki_prefix) + plen)))
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        memcpy(*der, p256_spki_prefix, sizeof(p256_spki_prefix));
        memcpy(*der + sizeof(p256_spki_prefix), point, plen);
        *len = sizeof(p256_spki_prefix) + plen;
        return 0;
    }
    n = i2d_PUBKEY(key, &buf);

    return take_der(buf, n, "encoding a public key", der, len, err);
}

EVP_PKEY *refca_key_from_public_der(const unsigned char *der, size_t len, cb_error_t *err)
{
    const unsigned char *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)len);

    if (!key)
        ssl_fail(err, "decoding a public key");
    return key;
}

int refca_serial_new(char out[REFCA_SERIAL_HEX_MAX], cb_error_t *err)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char raw[16];
    size_t i;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return ssl_fail(err, "random serial");
    /* positive, and 16 octets long: top bit clear, next bit set */
    raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x40);
    for (i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * sizeof(raw)] = '\0';
    return 0;
}

/* Adds one attribute, UTF-8, when value is set. */
static int name_add(X509_NAME *name, int nid, const char *value, cb_error_t *err)
{
    if (!value)
        return 0;
    if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const unsigned char *)value, -1, -1,
                                    0))
        return ssl_fail(err, "subject attribute");
    return 0;
}

X509_NAME *refca_name_from_dn(const char *dn, cb_error_t *err)
{
    cb_dn_t s;
    X509_NAME *name = NULL;

    memset(&s, 0, sizeof(s));
    if (cb_dn_parse(dn, &s, err) < 0)
        goto out;
    name = X509_NAME_new();
    if (!name) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* DER order is the reverse of the RFC 4514 string order CN,title,...,emailAddress */
    if (name_add(name, NID_pkcs9_emailAddress, s.email, err) < 0 ||
        name_add(name, NID_countryName, s.c, err) < 0 ||
        name_add(name, NID_stateOrProvinceName, s.st, err) < 0 ||
        name_add(name, NID_localityName, s.l, err) < 0 ||
        name_add(name, NID_organizationName, s.o, err) < 0 ||
        name_add(name, NID_organizationalUnitName, s.ou, err) < 0 ||
        name_add(name, NID_title, s.title, err) < 0 ||
        name_add(name, NID_commonName, s.cn, err) < 0) {
        X509_NAME_free(name);
        name = NULL;
    }
out:
    cb_dn_clear(&s);
    return name;
}

/* Adds an extension given in OpenSSL's configuration syntax. */
static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value, cb_error_t *err)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok;

    if (!ext)
        return ssl_fail(err, value);
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : ssl_fail(err, value);
}

/* The extensions of each kind of certificate. */
static int add_kind_exts(X509 *cert, X509V3_CTX *ctx, refca_cert_kind_t kind, cb_error_t *err)
{
    switch (kind) {
    case REFCA_CERT_CA:
        if (add_ext(cert, ctx, NID_basic_constraints, "critical,CA:TRUE", err) < 0 ||
            add_ext(cert, ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err) < 0)
            return -1;
        break;
    case REFCA_CERT_SUBSCRIBER:
        if (add_ext(cert, ctx, NID_basic_constraints, "critical,CA:FALSE", err) < 0 ||
            add_ext(cert, ctx, NID_key_usage, "critical,digitalSignature,nonRepudiation", err) < 0)
            return -1;
        break;
    case REFCA_CERT_TLS_SERVER:
        if (add_ext(cert, ctx, NID_basic_constraints, "critical,CA:FALSE", err) < 0 ||
            add_ext(cert, ctx, NID_key_usage, "critical,digitalSignature", err) < 0 ||
            add_ext(cert, ctx, NID_ext_key_usage, "serverAuth", err) < 0 ||
            add_ext(cert, ctx, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost", err) < 0)
            return -1;
        break;
    case REFCA_CERT_TLS_CLIENT:
        if (add_ext(cert, ctx, NID_basic_constraints, "critical,CA:FALSE", err) < 0 ||
            add_ext(cert, ctx, NID_key_usage, "critical,digitalSignature", err) < 0 ||
            add_ext(cert, ctx, NID_ext_key_usage, "clientAuth", err) < 0)
            return -1;
        break;
    }
    if (add_ext(cert, ctx, NID_subject_key_identifier, "hash", err) < 0)
        return -1;
    if (kind != REFCA_CERT_CA || ctx->issuer_cert != cert)
        return add_ext(cert, ctx, NID_authority_key_identifier, "keyid:always", err);
    return 0;
}

/* Puts a DER SubjectPublicKeyInfo into cert: a P-256 key by copying its
 * point, any other key by decoding it. */
static int set_public_der(X509 *cert, const unsigned char *der, size_t len, cb_error_t *err)
{
    unsigned char *point;
    EVP_PKEY *key;
    int ok;

    if (len == sizeof(p256_spki_prefix) + 65 &&
        memcmp(der, p256_spki_prefix, sizeof(p256_spki_prefix)) == 0) {
        if (!(point = OPENSSL_malloc(65)))
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        memcpy(point, der + sizeof(p256_spki_prefix), 65);
        if (!X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert),
                                    OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                                    OBJ_nid2obj(NID_X9_62_prime256v1), point, 65)) {
            OPENSSL_free(point);
            return ssl_fail(err, "setting a public key");
        }
        return 0;
    }
    if (!(key = refca_key_from_public_der(der, len, err)))
        return -1;
    ok = X509_set_pubkey(cert, key);
    EVP_PKEY_free(key);
    return ok ? 0 : ssl_fail(err, "setting a public key");
}

X509 *refca_cert_make(const refca_cert_spec_t *spec, cb_error_t *err)
{
    X509 *cert = X509_new();
    BIGNUM *bn = NULL;
    X509V3_CTX ctx;

    if (!cert) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!X509_set_version(cert, 2) || !BN_hex2bn(&bn, spec->serial_hex) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) ||
        !ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)spec->not_before_s) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)spec->not_after_s) ||
        !X509_set_subject_name(cert, spec->subject) ||
        !X509_set_issuer_name(cert,
                              spec->issuer ? X509_get_subject_name(spec->issuer) : spec->subject) ||
        (spec->public_key && !X509_set_pubkey(cert, spec->public_key))) {
        ssl_fail(err, "building a certificate");
        goto fail;
    }
    if (!spec->public_key && set_public_der(cert, spec->public_der, spec->public_der_len, err) < 0)
        goto fail;
    X509V3_set_ctx(&ctx, spec->issuer ? spec->issuer : cert, cert, NULL, NULL, 0);
    if (add_kind_exts(cert, &ctx, spec->kind, err) < 0)
        goto fail;
    if (!X509_sign(cert, spec->issuer_key, EVP_sha256())) {
        ssl_fail(err, "signing a certificate");
        goto fail;
    }
    BN_free(bn);
    return cert;
fail:
    BN_free(bn);
    X509_free(cert);
    return NULL;
}

int refca_cert_der(X509 *cert, unsigned char **der, size_t *len, cb_error_t *err)
{
    unsigned char *buf = NULL;
    int n = i2d_X509(cert, &buf);

    return take_der(buf, n, "encoding a certificate", der, len, err);
}

char *refca_cert_pem(X509 *cert, cb_error_t *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;

    if (!bio || !PEM_write_bio_X509(bio, cert))
        ssl_fail(err, "writing a certificate");
    else
        out = bio_to_string(bio, err);
    BIO_free(bio);
    return out;
}

char *refca_cert_pem_from_der(const unsigned char *der, size_t len, cb_error_t *err)
{
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    char *pem;

    if (!cert) {
        ssl_fail(err, "decoding a certificate");
        return NULL;
    }
    pem = refca_cert_pem(cert, err);
    X509_free(cert);
    return pem;
}

X509 *refca_cert_from_pem(const char *pem, cb_error_t *err)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = NULL;

    if (!bio || !(cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        ssl_fail(err, "reading a certificate");
    BIO_free(bio);
    return cert;
}

/* Appends one revoked entry with its reason code to crl. */
static int crl_add(X509_CRL *crl, const refca_crl_entry_t *e, cb_error_t *err)
{
    X509_REVOKED *r = X509_REVOKED_new();
    ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)e->revoked_at_s);
    ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    int rc = -1;

    if (!r || !when || !reason || !BN_hex2bn(&bn, e->serial_hex) ||
        !(serial = BN_to_ASN1_INTEGER(bn, NULL)) || !X509_REVOKED_set_serialNumber(r, serial) ||
        !X509_REVOKED_set_revocationDate(r, when) || !ASN1_ENUMERATED_set(reason, e->reason) ||
        !X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0)) {
        ssl_fail(err, "CRL entry");
        goto out;
    }
    if (!X509_CRL_add0_revoked(crl, r)) {
        ssl_fail(err, "CRL entry");
        goto out;
    }
    r = NULL; /* owned by crl */
    rc = 0;
out:
    X509_REVOKED_free(r);
    ASN1_TIME_free(when);
    ASN1_ENUMERATED_free(reason);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return rc;
}

int refca_crl_make(X509 *issuer, EVP_PKEY *issuer_key, const refca_crl_entry_t *entries,
                   size_t count, int64_t crl_number, unsigned char **der, size_t *len,
                   cb_error_t *err)
{
    X509_CRL *crl = X509_CRL_new();
    time_t now = time(NULL);
    ASN1_TIME *this_update = ASN1_TIME_set(NULL, now);
    ASN1_TIME *next_update = ASN1_TIME_set(NULL, now + 86400);
    ASN1_INTEGER *number = ASN1_INTEGER_new();
    unsigned char *buf = NULL;
    size_t i;
    int n, rc = -1;

    if (!crl || !this_update || !next_update || !number || !X509_CRL_set_version(crl, 1) ||
        !X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) ||
        !X509_CRL_set1_lastUpdate(crl, this_update) ||
        !X509_CRL_set1_nextUpdate(crl, next_update) ||
        !ASN1_INTEGER_set_int64(number, crl_number) ||
        !X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0)) {
        ssl_fail(err, "building the CRL");
        goto out;
    }
    for (i = 0; i < count; i++)
        if (crl_add(crl, &entries[i], err) < 0)
            goto out;
    X509_CRL_sort(crl);
    if (!X509_CRL_sign(crl, issuer_key, EVP_sha256())) {
        ssl_fail(err, "signing the CRL");
        goto out;
    }
    n = i2d_X509_CRL(crl, &buf);
    if (n <= 0) {
        ssl_fail(err, "encoding the CRL");
        goto out;
    }
    if (!(*der = malloc((size_t)n))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(*der, buf, (size_t)n);
    *len = (size_t)n;
    rc = 0;
out:
    OPENSSL_free(buf);
    ASN1_INTEGER_free(number);
    ASN1_TIME_free(this_update);
    ASN1_TIME_free(next_update);
    X509_CRL_free(crl);
    return rc;
}

/* Writes text to dir/name with the given mode unless the file exists. */
static int write_file(const char *dir, const char *name, const char *text, mode_t mode,
                      cb_error_t *err)
{
    char path[4096];
    size_t len = strlen(text);
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return cb_error_set(err, CB_ERR_IO, "%s: %s", path, strerror(errno));
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return cb_error_set(err, CB_ERR_IO, "%s: short write", path);
    }
    close(fd);
    return 0;
}

/* One certificate and key of the development PKI, written as base.pem and
 * base.key (when key_name is set). Returns the cert and its key through
 * out_cert/out_key when those are non-NULL (caller frees). */
static int dev_cert(const char *dir, refca_cert_kind_t kind, const char *dn, X509 *issuer,
                    EVP_PKEY *issuer_key, const char *cert_name, const char *key_name,
                    X509 **out_cert, EVP_PKEY **out_key, cb_error_t *err)
{
    EVP_PKEY *key = refca_key_new(err);
    X509_NAME *name = NULL;
    X509 *cert = NULL;
    char serial[REFCA_SERIAL_HEX_MAX], *pem = NULL, *kpem = NULL;
    int64_t now = (int64_t)time(NULL);
    refca_cert_spec_t spec;
    int rc = -1;

    if (!key || refca_serial_new(serial, err) < 0)
        goto out;
    if (!(name = X509_NAME_new()) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)dn, -1, -1,
                                    0) ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                    (const unsigned char *)"certbridge development", -1, -1, 0)) {
        ssl_fail(err, "development PKI name");
        goto out;
    }
    spec = (refca_cert_spec_t){.kind = kind,
                               .subject = name,
                               .public_key = key,
                               .issuer = issuer,
                               .issuer_key = issuer ? issuer_key : key,
                               .serial_hex = serial,
                               .not_before_s = now - 3600,
                               .not_after_s = now + 10 * 365 * 86400LL};
    if (!(cert = refca_cert_make(&spec, err)) || !(pem = refca_cert_pem(cert, err)))
        goto out;
    if (write_file(dir, cert_name, pem, 0644, err) < 0)
        goto out;
    if (key_name) {
        if (!(kpem = refca_key_private_pem(key, err)) ||
            write_file(dir, key_name, kpem, 0600, err) < 0)
            goto out;
    }
    if (out_cert) {
        *out_cert = cert;
        cert = NULL;
    }
    if (out_key) {
        *out_key = key;
        key = NULL;
    }
    rc = 0;
out:
    free(pem);
    free(kpem);
    X509_free(cert);
    X509_NAME_free(name);
    EVP_PKEY_free(key);
    return rc;
}

int refca_pki_init(const char *dir, cb_error_t *err)
{
    X509 *tls_ca = NULL, *client_ca = NULL, *rogue_ca = NULL;
    EVP_PKEY *tls_key = NULL, *client_key = NULL, *rogue_key = NULL;
    char marker[4096];
    int rc = -1;

    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return cb_error_set(err, CB_ERR_IO, "%s: %s", dir, strerror(errno));
    snprintf(marker, sizeof(marker), "%s/rogue.key", dir);
    if (access(marker, F_OK) == 0)
        return 0; /* made before */
    if (dev_cert(dir, REFCA_CERT_CA, "certbridge dev TLS CA", NULL, NULL, "tls-ca.pem", NULL,
                 &tls_ca, &tls_key, err) < 0 ||
        dev_cert(dir, REFCA_CERT_TLS_SERVER, "localhost", tls_ca, tls_key, "server.pem",
                 "server.key", NULL, NULL, err) < 0 ||
        dev_cert(dir, REFCA_CERT_CA, "certbridge dev client CA", NULL, NULL, "client-ca.pem", NULL,
                 &client_ca, &client_key, err) < 0 ||
        dev_cert(dir, REFCA_CERT_TLS_CLIENT, "certbridge", client_ca, client_key, "client.pem",
                 "client.key", NULL, NULL, err) < 0 ||
        dev_cert(dir, REFCA_CERT_CA, "rogue CA", NULL, NULL, "rogue-ca.pem", NULL, &rogue_ca,
                 &rogue_key, err) < 0 ||
        dev_cert(dir, REFCA_CERT_TLS_CLIENT, "certbridge", rogue_ca, rogue_key, "rogue.pem",
                 "rogue.key", NULL, NULL, err) < 0)
        goto out;
    rc = 0;
out:
    X509_free(tls_ca);
    X509_free(client_ca);
    X509_free(rogue_ca);
    EVP_PKEY_free(tls_key);
    EVP_PKEY_free(client_key);
    EVP_PKEY_free(rogue_key);
    return rc;
}
