/*
 * approval_verify.h: the approver's signature on an approval (issue 16; README
 * "Approval signatures"; docs/ARCHITECTURE.md §2, "Approval signatures").
 *
 * An approval carries a detached CMS SignedData (RFC 5652, DER) over its
 * canonical bytes (cb_approval_canonical), made with the approver's own
 * certificate. cb_approval_verifier_check accepts it when, in this order:
 *   1. it is signed (unless policy.approval_signature=off: then nothing is
 *      checked and every approval passes);
 *   2. the signature is a DER CMS SignedData with detached id-data content,
 *      exactly one signer, the signer's certificate included, and a SHA-2
 *      digest (SHA-256, SHA-384 or SHA-512);
 *   3. the signature verifies over the canonical bytes (CMS_verify, binary);
 *   4. the signer's certificate chains to a configured trust anchor (an
 *      anchor may be a root or an issuing CA), every certificate of the
 *      chain is valid at the verification time, and the signer's
 *      certificate may sign S/MIME (keyUsage digitalSignature or
 *      nonRepudiation; extendedKeyUsage, if any, with emailProtection);
 *   5. a CRL of the signer's issuer is loaded, signed by that issuer's key,
 *      not past its nextUpdate at the verification time, and does not list
 *      the signer's certificate (whatever the revocation date: the current
 *      CRL is the CA's current word);
 *   6. the signer is the approver named: the certificate's one CN equals
 *      approver_name after both are normalized (NFC, Unicode case folding,
 *      U+00D0/U+00F0 read as the Vietnamese U+0110/U+0111, white space runs
 *      as one space, none at the ends; diacritics count: "Nguyen" is not
 *      "Nguyễn"); and when the approval names an approver_id, the
 *      certificate's UID attribute equals it, or ends in ":" followed by it
 *      ("CCCD:001085012345").
 * Each failure has its own fault and a message for an operator naming the
 * request, the approver, the certificate (CN, serial) and why.
 *
 * The verification time is a parameter (epoch seconds), so tests are
 * deterministic; the caller passes the time the approval is acted on.
 * Thread safety: a verifier is immutable once loaded; checks may run on any
 * number of threads at once. Loading (new, add_*) is single-threaded.
 */
#ifndef CB_APPROVAL_VERIFY_H
#define CB_APPROVAL_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/approval.h"
#include "certbridge/config.h"
#include "certbridge/error.h"

/* Why an approval's signature was refused. */
typedef enum cb_approval_fault {
    CB_APPROVAL_FAULT_NONE = 0,
    CB_APPROVAL_FAULT_UNSIGNED,      /* no signature, and signatures are required */
    CB_APPROVAL_FAULT_MALFORMED,     /* not a usable detached CMS SignedData (step 2) */
    CB_APPROVAL_FAULT_BAD_SIGNATURE, /* does not verify over the canonical bytes */
    CB_APPROVAL_FAULT_UNTRUSTED,     /* no chain to a trust anchor, or not for signing */
    CB_APPROVAL_FAULT_EXPIRED,       /* a certificate of the chain not valid at the time */
    CB_APPROVAL_FAULT_NO_CRL,        /* no current CRL of the issuer, or a forged one */
    CB_APPROVAL_FAULT_REVOKED,       /* the signer's certificate is on the CRL */
    CB_APPROVAL_FAULT_WRONG_SIGNER   /* signed by someone else than the approver named */
} cb_approval_fault_t;

/* Stable lower-case name of a fault ("revoked"), for logs and outcomes. */
const char *cb_approval_fault_name(cb_approval_fault_t f);

/* Who signed, as far as the check got (empty strings when it did not get
 * there). */
typedef struct cb_approval_signer {
    char cn[256];     /* the certificate's CN, UTF-8, cut to fit */
    char serial[72];  /* the certificate's serial, upper-case hex */
    char issuer[256]; /* the issuer's CN, UTF-8, cut to fit */
} cb_approval_signer_t;

typedef struct cb_approval_verifier cb_approval_verifier_t;

/* An empty verifier: required = false is policy.approval_signature=off.
 * Caller frees with cb_approval_verifier_free. */
cb_approval_verifier_t *cb_approval_verifier_new(bool required, cb_error_t *err);
void cb_approval_verifier_free(cb_approval_verifier_t *v);

/* Adds the trust anchors of a PEM text (one or more certificates); what
 * names the source in errors. CB_ERR_INVALID when it holds no certificate. */
int cb_approval_verifier_add_anchors(cb_approval_verifier_t *v, const void *pem, size_t len,
                                     const char *what, cb_error_t *err);

/* Adds the CRLs of a text: PEM (one or more X509 CRL blocks) or one DER CRL,
 * as the CA's GET /v1/crl serves it. CB_ERR_INVALID when it holds none. */
int cb_approval_verifier_add_crl(cb_approval_verifier_t *v, const void *buf, size_t len,
                                 const char *what, cb_error_t *err);

/* The verifier of a configuration: policy.approval_signature, and when it is
 * required, the comma-separated files of policy.approval_trust_anchors
 * (PEM) and policy.approval_crl_file (PEM or DER), read now (each at most
 * 4 MiB). CB_ERR_CONFIG when signatures are required and either key is
 * empty, CB_ERR_IO naming an unreadable file. Caller frees. */
cb_approval_verifier_t *cb_approval_verifier_from_config(const cb_config_t *cfg, cb_error_t *err);

/* A stamp of the files of policy.approval_trust_anchors and
 * policy.approval_crl_file as they are now (their modification times and
 * sizes; files that cannot be read count for nothing): when it changes, a
 * file was replaced, and the pipeline reads them again
 * (cb_approval_verifier_from_config), so a CRL fetched anew (the CA's GET
 * /v1/crl) takes effect without a restart. */
uint64_t cb_approval_files_stamp(const cb_config_t *cfg);

/* Whether the verifier requires signatures. */
bool cb_approval_verifier_required(const cb_approval_verifier_t *v);

/* Checks a's signature at at_s (epoch seconds). 0 when accepted (or when
 * signatures are off); -1 with CB_ERR_INVALID (CB_ERR_NOMEM, CB_ERR_INTERNAL
 * for failures of certbridge itself), *fault set (optional) and err's
 * message for an operator, e.g.
 *   approval of request R by "Nguyễn Văn An": the signer's certificate
 *   "Nguyễn Văn An" (serial 5A..) was revoked on 2025-06-20T08:00:00Z
 *   (reason keyCompromise) and is on the CA's CRL: a revoked certificate
 *   cannot sign an approval
 * signer (optional) gets who signed, also on failure as far as known. */
int cb_approval_verifier_check(const cb_approval_verifier_t *v, const cb_approval_t *a,
                               int64_t at_s, cb_approval_fault_t *fault,
                               cb_approval_signer_t *signer, cb_error_t *err);

/* Signs a: a detached CMS SignedData (SHA-256, binary, the signer's
 * certificate and the chain included) over cb_approval_canonical(a), into
 * a->signature (replacing any). key_pem: the signer's private key (PEM, not
 * encrypted); cert_pem: the signer's certificate first, then any
 * intermediate certificates. For the signing tool, tests and the demo. */
int cb_approval_sign(cb_approval_t *a, const char *key_pem, size_t key_len, const char *cert_pem,
                     size_t cert_len, cb_error_t *err);

#endif
