/*
 * pki.h: the reference CA's X.509 work over OpenSSL: keys, names, serials,
 * certificates, CRLs, and the development PKI used by tests and the demo.
 *
 * Every returned OpenSSL object or heap buffer belongs to the caller (free
 * with the matching OpenSSL *_free or free()). Failures return NULL or -1
 * with err filled; OpenSSL's error queue is drained into the message.
 */
#ifndef REFCA_PKI_H
#define REFCA_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"

#define REFCA_SERIAL_HEX_MAX 41 /* 20 octets as hex + NUL (RFC 5280 limit) */

/* What kind of certificate refca_cert_make produces. */
typedef enum refca_cert_kind {
    REFCA_CERT_CA = 0,     /* a CA: basicConstraints CA:TRUE, keyCertSign, cRLSign */
    REFCA_CERT_SUBSCRIBER, /* a signing certificate: digitalSignature, nonRepudiation */
    REFCA_CERT_TLS_SERVER, /* serverAuth with SAN IP:127.0.0.1, DNS:localhost */
    REFCA_CERT_TLS_CLIENT  /* clientAuth */
} refca_cert_kind_t;

typedef struct refca_cert_spec {
    refca_cert_kind_t kind;
    X509_NAME *subject;     /* borrowed */
    EVP_PKEY *public_key;   /* borrowed: the key certified */
    X509 *issuer;           /* borrowed; NULL = self-signed */
    EVP_PKEY *issuer_key;   /* borrowed: signs the certificate */
    const char *serial_hex; /* upper-case hex */
    int64_t not_before_s;   /* Unix seconds */
    int64_t not_after_s;    /* Unix seconds */
    /* Instead of public_key (when it is NULL): the key as DER
     * SubjectPublicKeyInfo. An EC P-256 key is copied as is, without
     * decoding it (OpenSSL 3's decoders cost more than the signature). */
    const unsigned char *public_der;
    size_t public_der_len;
} refca_cert_spec_t;

/* One revoked certificate, for refca_crl_make. */
typedef struct refca_crl_entry {
    const char *serial_hex;
    int reason; /* RFC 5280 CRLReason code */
    int64_t revoked_at_s;
} refca_crl_entry_t;

/* A new EC P-256 key pair. */
EVP_PKEY *refca_key_new(cb_error_t *err);

/* PEM (PKCS#8, unencrypted) text of a private key; caller frees. */
char *refca_key_private_pem(EVP_PKEY *key, cb_error_t *err);
/* A private key from PEM text. */
EVP_PKEY *refca_key_from_private_pem(const char *pem, cb_error_t *err);

/* DER SubjectPublicKeyInfo of a key's public half, into *der (caller frees)
 * and *len; and back. */
int refca_key_public_der(EVP_PKEY *key, unsigned char **der, size_t *len, cb_error_t *err);
EVP_PKEY *refca_key_from_public_der(const unsigned char *der, size_t len, cb_error_t *err);

/* A fresh random positive serial of 16 octets as upper-case hex (32
 * characters) into out. */
int refca_serial_new(char out[REFCA_SERIAL_HEX_MAX], cb_error_t *err);

/* An X509_NAME from an RFC 4514 subject string (subject.h), UTF-8 values
 * kept as UTF8String (MBSTRING_UTF8). The DER order is the reverse of the
 * string's, as RFC 4514 prescribes. */
X509_NAME *refca_name_from_dn(const char *dn, cb_error_t *err);

/* Makes and signs a certificate (SHA-256). */
X509 *refca_cert_make(const refca_cert_spec_t *spec, cb_error_t *err);

/* DER and PEM encodings of a certificate, and back from DER. */
int refca_cert_der(X509 *cert, unsigned char **der, size_t *len, cb_error_t *err);
char *refca_cert_pem(X509 *cert, cb_error_t *err);
char *refca_cert_pem_from_der(const unsigned char *der, size_t len, cb_error_t *err);
X509 *refca_cert_from_pem(const char *pem, cb_error_t *err);

/* A CRL (v2) of the given entries signed by issuer_key, with a CRL number,
 * thisUpdate now and nextUpdate a day later; DER into *der (caller frees). */
int refca_crl_make(X509 *issuer, EVP_PKEY *issuer_key, const refca_crl_entry_t *entries,
                   size_t count, int64_t crl_number, unsigned char **der, size_t *len,
                   cb_error_t *err);

/* Writes the development PKI into dir (created when missing): tls-ca.pem,
 * server.pem/server.key (SAN IP:127.0.0.1, DNS:localhost), client-ca.pem,
 * client.pem/client.key (certbridge's mTLS identity), rogue-ca.pem,
 * rogue.pem/rogue.key (a client certificate from a CA the server does not
 * trust). Keys are written with mode 0600. Existing files are kept. */
int refca_pki_init(const char *dir, cb_error_t *err);

#endif
