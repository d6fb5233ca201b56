/*
 * test_ca_refca.c: the CA client against the real reference CA over mutual
 * TLS, for every call of the CA API; the certificates and the CRL checked
 * with the openssl command line.
 *
 *   test_ca_refca DIR      (DIR: the "refca" fixture's folder)
 */
#include "../unit/cb_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/ca_test.h"
#include "certbridge/ca_client.h"

static const char *dir;

/* A mutating request with a unique idempotency key. */
static void mreq(cb_ca_req_t *r, cb_ca_op_t op, const char *key)
{
    memset(r, 0, sizeof(*r));
    r->op = op;
    r->reason = CB_REASON_NONE;
    snprintf(r->idempotency_key, sizeof(r->idempotency_key), "test-%d-%s", (int)getpid(), key);
}

/* Writes the PEM of a certificate (GET /v1/certificates/{serial}) to a temp
 * file named in out. */
static void cert_file(const char *serial, char *out, size_t size)
{
    char path[256], *body = NULL;
    json_t *root;
    const char *pem;

    snprintf(path, sizeof(path), "/v1/certificates/%s", serial);
    assert_int_equal(ct_get(dir, path, &body, NULL), 200);
    root = json_loads(body, 0, NULL);
    assert_non_null(root);
    pem = json_string_value(json_object_get(root, "pem"));
    assert_non_null(pem);
    ct_write_temp(pem, strlen(pem), out, size);
    json_decref(root);
    free(body);
}

/* The ledger entry (GET /v1/ledger) written under an idempotency key: how
 * many there are (*count) and the document_number of the last (heap, NULL
 * when it has none). */
static char *ledger_document(const char *key, int *count)
{
    char *body = NULL, *doc = NULL;
    json_t *root, *it;
    size_t i;

    assert_int_equal(ct_get(dir, "/v1/ledger", &body, NULL), 200);
    root = json_loads(body, 0, NULL);
    assert_non_null(root);
    *count = 0;
    json_array_foreach(json_object_get(root, "entries"), i, it)
    {
        const char *k = json_string_value(json_object_get(it, "idempotency_key"));
        const char *d = json_string_value(json_object_get(it, "document_number"));
        if (k && !strcmp(k, key)) {
            (*count)++;
            free(doc);
            doc = d ? strdup(d) : NULL;
        }
    }
    json_decref(root);
    free(body);
    return doc;
}

/* `openssl crl -inform DER -text` of the CA's current CRL. */
static char *crl_text(void)
{
    char *der = NULL, path[64], cmd[256], *text;
    size_t len = 0;

    assert_int_equal(ct_get(dir, "/v1/crl", &der, &len), 200);
    assert_true(len > 100);
    ct_write_temp(der, len, path, sizeof(path));
    snprintf(cmd, sizeof(cmd), "openssl crl -inform DER -in %s -noout -text", path);
    text = ct_run(cmd);
    assert_non_null(text);
    unlink(path);
    free(der);
    return text;
}

/* The CRL entry block of a serial: the text from its "Serial Number" line to
 * the next entry. NULL when the serial is not listed. */
static char *crl_entry(const char *crl, const char *serial)
{
    char needle[128];
    const char *at, *next;

    snprintf(needle, sizeof(needle), "Serial Number: %s", serial);
    at = strstr(crl, needle);
    if (!at)
        return NULL;
    next = strstr(at + 1, "Serial Number:");
    if (!next)
        next = at + strlen(at);
    return strndup(at, (size_t)(next - at));
}

static void test_lookup_org(void **state)
{
    cb_ca_client_t *c = ct_client(dir, NULL);
    cb_ca_req_t r;

    (void)state;
    ct_lookup(c, CB_HOLDER_ORGANIZATION, "000.00.00.H19", &r);
    assert_int_equal(r.cert_count, 1);
    assert_string_equal(r.certs[0].subject, "CN=Ủy ban nhân dân tỉnh Đồng Nai,L=Đồng Nai,C=VN");
    assert_string_equal(r.certs[0].device_id, "TK-ORG-0001");
    assert_string_equal(r.certs[0].status, "active");
    assert_string_equal(r.certs[0].holder_id, "000.00.00.H19");
    assert_int_equal(strlen(r.certs[0].serial), 32);
    assert_true(r.certs[0].not_before_ms > 1700000000000LL);
    assert_true(r.certs[0].not_after_ms > r.certs[0].not_before_ms + 365LL * 86400000);
    assert_int_equal(r.attempts, 1);
    cb_ca_req_clear(&r);

    ct_lookup(c, CB_HOLDER_ORGANIZATION, "999.99.99.H99", &r);
    assert_int_equal(r.cert_count, 0);
    cb_ca_req_clear(&r);
    cb_ca_client_destroy(c);
}

static void test_lookup_by_org_code(void **state)
{
    cb_ca_client_t *c = ct_client(dir, NULL);
    cb_ca_req_t r;
    cb_error_t err;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_LOOKUP;
    r.holder_type = CB_HOLDER_PERSON;
    r.org_code = "000.00.01.H19";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_int_equal(r.cert_count, 2);
    assert_string_equal(r.certs[0].org_code, "000.00.01.H19");
    assert_true(
        (!strcmp(r.certs[0].holder_id, "HR-0001") && !strcmp(r.certs[1].holder_id, "HR-0002")) ||
        (!strcmp(r.certs[0].holder_id, "HR-0002") && !strcmp(r.certs[1].holder_id, "HR-0001")));
    cb_ca_req_clear(&r);
    cb_ca_client_destroy(c);
}

/* change-info: same public key, new subject (checked with openssl x509);
 * the old certificate is superseded on the CRL; the new one verifies
 * against the CA certificate. */
static void test_change_info(void **state)
{
    static const char *new_dn =
        "CN=Lê Hoàng Cường,title=Trưởng phòng,OU=Sở Khoa học và Công nghệ,"
        "O=Ủy ban nhân dân tỉnh Đồng Nai,L=Đồng Nai,C=VN,emailAddress=cuong.lh@dongnai.gov.vn";
    cb_ca_client_t *c = ct_client(dir, NULL);
    cb_ca_req_t look, r;
    cb_error_t err;
    char old_pem[64], new_pem[64], ca_pem[64], cmd[512], old_serial[64], *out, *key1, *key2;
    char *crl, *entry, *ca_body = NULL, *doc;
    int n;
    size_t ca_len;

    (void)state;
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0003", &look);
    assert_int_equal(look.cert_count, 1);
    snprintf(old_serial, sizeof(old_serial), "%s", look.certs[0].serial);

    mreq(&r, CB_CA_CHANGE_INFO, "change-HR-0003");
    r.serial = old_serial;
    r.subject = new_dn;
    r.document_number = "77/SKHCN-VP ngày 30/6/2025";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_int_equal(r.http_status, 200);
    assert_non_null(r.new_serial);
    assert_string_not_equal(r.new_serial, old_serial);
    /* the approving document travelled with the call into the CA's record
     * of it; cb_ca_req_clear leaves the caller's input alone */
    doc = ledger_document(r.idempotency_key, &n);
    assert_int_equal(n, 1);
    assert_non_null(doc);
    assert_string_equal(doc, "77/SKHCN-VP ngày 30/6/2025");
    free(doc);

    /* the holder's active certificate is now the new one */
    cb_ca_req_clear(&look);
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0003", &look);
    assert_int_equal(look.cert_count, 1);
    assert_string_equal(look.certs[0].serial, r.new_serial);
    assert_string_equal(look.certs[0].subject, new_dn);
    assert_string_equal(look.certs[0].device_id, "TK-PER-0003");

    /* openssl: the new subject, the same public key */
    cert_file(old_serial, old_pem, sizeof(old_pem));
    cert_file(r.new_serial, new_pem, sizeof(new_pem));
    snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -subject -nameopt RFC2253,-esc_msb",
             new_pem);
    out = ct_run(cmd);
    assert_non_null(out);
    assert_true(strncmp(out, "subject=", 8) == 0);
    out[strcspn(out, "\n")] = '\0';
    assert_string_equal(out + 8, new_dn);
    free(out);
    snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -pubkey", old_pem);
    key1 = ct_run(cmd);
    snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -pubkey", new_pem);
    key2 = ct_run(cmd);
    assert_non_null(key1);
    assert_non_null(key2);
    assert_non_null(strstr(key1, "BEGIN PUBLIC KEY"));
    assert_string_equal(key1, key2);
    free(key1);
    free(key2);

    /* the new certificate verifies against the CA certificate */
    assert_int_equal(ct_get(dir, "/v1/ca.pem", &ca_body, &ca_len), 200);
    ct_write_temp(ca_body, ca_len, ca_pem, sizeof(ca_pem));
    snprintf(cmd, sizeof(cmd), "openssl verify -CAfile %s %s", ca_pem, new_pem);
    out = ct_run(cmd);
    assert_non_null(out);
    assert_non_null(strstr(out, ": OK"));
    free(out);
    free(ca_body);

    /* the old serial is on the CRL as superseded */
    crl = crl_text();
    entry = crl_entry(crl, old_serial);
    assert_non_null(entry);
    assert_non_null(strstr(entry, "Superseded"));
    assert_null(crl_entry(crl, r.new_serial));
    free(entry);
    free(crl);

    /* change-info of the superseded certificate, with another key: refused */
    cb_ca_req_clear(&r);
    mreq(&r, CB_CA_CHANGE_INFO, "change-HR-0003-again");
    r.serial = old_serial;
    r.subject = new_dn;
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_int_equal(r.http_status, 409);
    assert_string_equal(r.error_code, "CERTIFICATE_NOT_ACTIVE");

    unlink(old_pem);
    unlink(new_pem);
    unlink(ca_pem);
    cb_ca_req_clear(&r);
    cb_ca_req_clear(&look);
    cb_ca_client_destroy(c);
}

/* A subject with RFC 4514 escapes (a quote, a comma, a backslash) reaches
 * the CA intact: the request body escapes them for JSON. */
static void test_change_info_escapes(void **state)
{
    static const char *new_dn = "CN=Tổ \\\"Hợp tác\\\"\\, số 5 \\\\ Nhơn Trạch,OU=Sở Nội vụ,"
                                "O=Ủy ban nhân dân tỉnh Đồng Nai,L=Đồng Nai,C=VN";
    cb_ca_client_t *c = ct_client(dir, NULL);
    cb_ca_req_t look, r;
    cb_error_t err;
    char serial[64];

    (void)state;
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0005", &look);
    assert_int_equal(look.cert_count, 1);
    snprintf(serial, sizeof(serial), "%s", look.certs[0].serial);
    mreq(&r, CB_CA_CHANGE_INFO, "change-HR-0005-escapes");
    r.serial = serial;
    r.subject = new_dn;
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    cb_ca_req_clear(&look);
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0005", &look);
    assert_int_equal(look.cert_count, 1);
    assert_string_equal(look.certs[0].serial, r.new_serial);
    assert_string_equal(look.certs[0].subject, new_dn);
    cb_ca_req_clear(&look);
    cb_ca_req_clear(&r);
    cb_ca_client_destroy(c);
}

/* revoke: the serial on the CRL with its reason, the approving document
 * number in the CA's ledger (an empty one refused); revoking again answers
 * ALREADY_REVOKED, classified already-done. */
static void test_revoke(void **state)
{
    cb_ca_client_t *c = ct_client(dir, NULL);
    cb_ca_req_t look, r;
    cb_error_t err;
    char serial[64], *crl, *entry, *doc;
    int n;

    (void)state;
    ct_lookup(c, CB_HOLDER_ORGANIZATION, "000.00.02.H19", &look);
    assert_int_equal(look.cert_count, 1);
    snprintf(serial, sizeof(serial), "%s", look.certs[0].serial);

    crl = crl_text();
    assert_null(crl_entry(crl, serial));
    free(crl);

    /* an empty document number is refused (422), nothing applied */
    mreq(&r, CB_CA_REVOKE, "revoke-000.00.02.H19-empty-doc");
    r.serial = serial;
    r.reason = CB_REASON_CESSATION_OF_OPERATION;
    r.document_number = "";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_int_equal(r.http_status, 422);
    assert_string_equal(r.error_code, "INVALID_DOCUMENT_NUMBER");
    assert_null(ledger_document(r.idempotency_key, &n));
    assert_int_equal(n, 0);
    cb_ca_req_clear(&r);

    mreq(&r, CB_CA_REVOKE, "revoke-000.00.02.H19");
    r.serial = serial;
    r.reason = CB_REASON_CESSATION_OF_OPERATION;
    r.document_number = "1234/UBND-KGVX ngày 01/7/2025";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_int_equal(r.http_status, 200);
    /* the CA recorded the revocation with the document that approved it */
    doc = ledger_document(r.idempotency_key, &n);
    assert_int_equal(n, 1);
    assert_non_null(doc);
    assert_string_equal(doc, "1234/UBND-KGVX ngày 01/7/2025");
    free(doc);

    crl = crl_text();
    entry = crl_entry(crl, serial);
    assert_non_null(entry);
    assert_non_null(strstr(entry, "Cessation Of Operation"));
    free(entry);
    free(crl);

    /* again, under another key: already revoked */
    cb_ca_req_clear(&r);
    mreq(&r, CB_CA_REVOKE, "revoke-000.00.02.H19-again");
    r.serial = serial;
    r.reason = CB_REASON_AFFILIATION_CHANGED;
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_ALREADY);
    assert_int_equal(r.http_status, 200);

    /* the holder has no active certificate left */
    cb_ca_req_clear(&look);
    ct_lookup(c, CB_HOLDER_ORGANIZATION, "000.00.02.H19", &look);
    assert_int_equal(look.cert_count, 0);

    cb_ca_req_clear(&r);
    cb_ca_req_clear(&look);
    cb_ca_client_destroy(c);
}

/* A lookup with an Idempotency-Key is a snapshot: after the holder's
 * certificate was revoked, the same key still answers the certificate as it
 * was, while an unkeyed lookup shows the truth; the same key with another
 * query is refused. This is what makes certbridge's replays repeat exactly
 * the same calls. */
static void test_keyed_lookup_snapshot(void **state)
{
    cb_ca_client_t *c = ct_client(dir, NULL);
    cb_ca_req_t look, r;
    cb_error_t err;
    char serial[64], key[65];

    (void)state;
    snprintf(key, sizeof(key), "snapshot-%d", (int)getpid());
    memset(&look, 0, sizeof(look));
    look.op = CB_CA_LOOKUP;
    look.holder_type = CB_HOLDER_ORGANIZATION;
    look.holder_id = "000.00.17.H19";
    memcpy(look.idempotency_key, key, strlen(key) + 1);
    assert_int_equal(cb_ca_call(c, &look, &err), 0);
    assert_int_equal(look.klass, CB_CA_SUCCESS);
    assert_int_equal(look.cert_count, 1);
    snprintf(serial, sizeof(serial), "%s", look.certs[0].serial);
    cb_ca_req_clear(&look);

    mreq(&r, CB_CA_REVOKE, "revoke-000.00.17.H19");
    r.serial = serial;
    r.reason = CB_REASON_CESSATION_OF_OPERATION;
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    cb_ca_req_clear(&r);

    /* the same key: the snapshot from before the revocation */
    assert_int_equal(cb_ca_call(c, &look, &err), 0);
    assert_int_equal(look.klass, CB_CA_SUCCESS);
    assert_int_equal(look.cert_count, 1);
    assert_string_equal(look.certs[0].serial, serial);
    cb_ca_req_clear(&look);

    /* no key: the holder has nothing active any more */
    ct_lookup(c, CB_HOLDER_ORGANIZATION, "000.00.17.H19", &r);
    assert_int_equal(r.cert_count, 0);
    cb_ca_req_clear(&r);

    /* the key with another query */
    look.holder_id = "000.00.02.H19";
    assert_int_equal(cb_ca_call(c, &look, &err), 0);
    assert_int_equal(look.klass, CB_CA_PERMANENT);
    assert_int_equal(look.http_status, 422);
    cb_ca_req_clear(&look);
    cb_ca_client_destroy(c);
}

/* A repeated Idempotency-Key answers the first answer and changes nothing. */
static void test_idempotency(void **state)
{
    cb_ca_client_t *c = ct_client(dir, NULL);
    cb_ca_req_t look, r;
    cb_error_t err;
    char serial[64];
    long before, after, with_key;

    (void)state;
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0004", &look);
    assert_int_equal(look.cert_count, 1);
    snprintf(serial, sizeof(serial), "%s", look.certs[0].serial);

    /* change-info twice with one key: one new certificate */
    mreq(&r, CB_CA_CHANGE_INFO, "idem-change-HR-0004");
    r.serial = serial;
    r.subject = "CN=Phạm Thị Dung,title=Chủ tịch,OU=Ủy ban nhân dân xã Phước An,"
                "O=Ủy ban nhân dân tỉnh Đồng Nai,L=Đồng Nai,C=VN";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    before = ct_ledger_count(dir, r.idempotency_key, &with_key);
    assert_int_equal(with_key, 1);
    {
        char first[64];
        snprintf(first, sizeof(first), "%s", r.new_serial);
        cb_ca_req_clear(&r);
        assert_int_equal(cb_ca_call(c, &r, &err), 0);
        assert_int_equal(r.klass, CB_CA_SUCCESS);
        assert_string_equal(r.new_serial, first); /* the same answer */
    }
    after = ct_ledger_count(dir, r.idempotency_key, &with_key);
    assert_int_equal(after, before);
    assert_int_equal(with_key, 1);
    cb_ca_req_clear(&look);
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0004", &look);
    assert_int_equal(look.cert_count, 1);
    assert_string_equal(look.certs[0].serial, r.new_serial);
    cb_ca_req_clear(&r);

    /* recall twice with one key, then with another key */
    mreq(&r, CB_CA_RECALL, "idem-recall-TK-PER-0004");
    r.device_id = "TK-PER-0004";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    before = ct_ledger_count(dir, NULL, NULL);
    cb_ca_req_clear(&r);
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS); /* the stored first answer */
    assert_int_equal(ct_ledger_count(dir, r.idempotency_key, &with_key), before);
    assert_int_equal(with_key, 1);
    cb_ca_req_clear(&r);
    mreq(&r, CB_CA_RECALL, "idem-recall-TK-PER-0004-other");
    r.device_id = "TK-PER-0004";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_ALREADY);
    assert_int_equal(ct_ledger_count(dir, NULL, NULL), before);

    cb_ca_req_clear(&r);
    cb_ca_req_clear(&look);
    cb_ca_client_destroy(c);
}

/* issue, recall, request state, health, and permanent refusals. */
static void test_other_calls(void **state)
{
    cb_ca_client_t *c = ct_client(dir, NULL);
    cb_ca_req_t r, look;
    cb_error_t err;
    long before, with_key;
    int n;

    (void)state;
    mreq(&r, CB_CA_ISSUE, "issue-HR-0100");
    r.holder_type = CB_HOLDER_PERSON;
    r.holder_id = "HR-0100";
    r.org_code = "000.00.17.H19";
    r.subject = "CN=Đặng Văn Giàu,OU=Ủy ban nhân dân xã Hiệp Phước,L=Đồng Nai,C=VN";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_int_equal(r.http_status, 201);
    assert_non_null(r.new_serial);
    ct_lookup(c, CB_HOLDER_PERSON, "HR-0100", &look);
    assert_int_equal(look.cert_count, 1);
    assert_string_equal(look.certs[0].serial, r.new_serial);
    assert_string_equal(look.certs[0].org_code, "000.00.17.H19");
    cb_ca_req_clear(&look);
    cb_ca_req_clear(&r);

    before = ct_ledger_count(dir, NULL, NULL);
    mreq(&r, CB_CA_RECALL, "recall-TK-PER-0005");
    r.device_id = "TK-PER-0005";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_int_equal(ct_ledger_count(dir, r.idempotency_key, &with_key), before + 1);
    assert_int_equal(with_key, 1);
    /* a call without a document number records none */
    assert_null(ledger_document(r.idempotency_key, &n));
    assert_int_equal(n, 1);
    cb_ca_req_clear(&r);

    /* unknown things are permanent refusals with the problem's code */
    mreq(&r, CB_CA_RECALL, "recall-unknown");
    r.device_id = "TK-NONE";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_int_equal(r.http_status, 404);
    assert_string_equal(r.error_code, "DEVICE_NOT_FOUND");
    assert_int_equal(r.attempts, 1);
    cb_ca_req_clear(&r);

    mreq(&r, CB_CA_REVOKE, "revoke-unknown");
    r.serial = "0123456789ABCDEF";
    r.reason = CB_REASON_CESSATION_OF_OPERATION;
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_int_equal(r.http_status, 404);
    assert_string_equal(r.error_code, "CERTIFICATE_NOT_FOUND");
    cb_ca_req_clear(&r);

    memset(&r, 0, sizeof(r));
    r.op = CB_CA_REQUEST;
    r.request_id = "REQ-UNKNOWN";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_int_equal(r.http_status, 404);
    assert_string_equal(r.error_code, "REQUEST_NOT_FOUND");
    cb_ca_req_clear(&r);

    memset(&r, 0, sizeof(r));
    r.op = CB_CA_HEALTH;
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_int_equal(r.http_status, 200);
    cb_ca_req_clear(&r);

    /* a mutating call without an idempotency key is refused locally */
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_RECALL;
    r.device_id = "TK-PER-0005";
    assert_int_equal(cb_ca_submit(c, &r, &err), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_int_equal(cb_ca_pending(c), 0);
    cb_ca_client_destroy(c);
}

/* Clients without an accepted certificate are refused at the TLS layer. */
static void test_refused_clients(void **state)
{
    char rogue_cert[512], rogue_key[512];
    const char *rogue[] = {rogue_cert, rogue_key, "ca.max_attempts=3", "ca.retry_base_ms=1", NULL};
    cb_ca_client_t *c;
    cb_ca_req_t r;
    cb_error_t err;
    cb_config_t *cfg;

    (void)state;
    snprintf(rogue_cert, sizeof(rogue_cert), "ca.tls.cert=%s/pki/rogue.pem", dir);
    snprintf(rogue_key, sizeof(rogue_key), "ca.tls.key=%s/pki/rogue.key", dir);
    c = ct_client(dir, rogue);
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_HEALTH;
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    /* TLS 1.3: the server's alert may arrive as the alert (final at once)
     * or as a closed connection (retried, then handed back as retry-later);
     * either way the server never answered */
    assert_int_not_equal(r.klass, CB_CA_SUCCESS);
    assert_true(r.klass == CB_CA_PERMANENT || (r.klass == CB_CA_RETRY && r.attempts == 3));
    assert_int_equal(r.http_status, 0);
    assert_string_equal(r.error_code, "transport");
    cb_ca_req_clear(&r);
    cb_ca_client_destroy(c);

    /* no client certificate at all */
    cfg = ct_config(dir, NULL);
    {
        const char *conf_url = cb_config_get(cfg, "ca.url");
        const char *bundle = cb_config_get(cfg, "ca.tls.ca_bundle");
        cb_config_t *bare = cb_config_new();
        assert_int_equal(cb_config_set(bare, "ca.url", conf_url, &err), 0);
        assert_int_equal(cb_config_set(bare, "ca.tls.ca_bundle", bundle, &err), 0);
        assert_int_equal(cb_config_set(bare, "ca.max_attempts", "2", &err), 0);
        assert_int_equal(cb_config_set(bare, "ca.retry_base_ms", "1", &err), 0);
        c = cb_ca_client_new(bare, &err);
        assert_non_null(c);
        cb_config_destroy(bare);
    }
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_HEALTH;
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_not_equal(r.klass, CB_CA_SUCCESS);
    assert_int_equal(r.http_status, 0);
    cb_ca_req_clear(&r);
    cb_ca_client_destroy(c);
    cb_config_destroy(cfg);
}

/* The server's certificate names 127.0.0.1 and localhost (SAN); with
 * host name verification on, both URLs work. */
static void test_server_name_checked(void **state)
{
    char url[512], *p;
    const char *extra[] = {url, "ca.max_attempts=1", NULL};
    cb_config_t *cfg = ct_config(dir, NULL);
    cb_ca_client_t *c;
    cb_ca_req_t r;
    cb_error_t err;

    (void)state;
    /* localhost is in the SAN: accepted */
    p = strstr(cb_config_get(cfg, "ca.url"), "127.0.0.1");
    assert_non_null(p);
    snprintf(url, sizeof(url), "ca.url=https://localhost%s", p + strlen("127.0.0.1"));
    c = ct_client(dir, extra);
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_HEALTH;
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    cb_ca_req_clear(&r);
    cb_ca_client_destroy(c);

    cb_config_destroy(cfg);
}

/* Many more requests than ca.concurrency: all queued, all answered. */
static void test_queue_beyond_concurrency(void **state)
{
    const char *extra[] = {"ca.concurrency=2", NULL};
    static const char *const holders[] = {"000.00.00.H19", "000.00.01.H19", "000.00.15.H19",
                                          "000.00.16.H19"};
    enum { N = 200 };
    cb_ca_client_t *c = ct_client(dir, extra);
    cb_ca_req_t *reqs = calloc(N, sizeof(*reqs)), *done;
    cb_error_t err;
    int i, seen = 0, max_attempts = 0;

    (void)state;
    assert_non_null(reqs);
    for (i = 0; i < N; i++) {
        reqs[i].op = CB_CA_LOOKUP;
        reqs[i].holder_type = CB_HOLDER_ORGANIZATION;
        reqs[i].holder_id = holders[i % 4];
        reqs[i].opaque = &reqs[i];
        assert_int_equal(cb_ca_submit(c, &reqs[i], &err), 0);
    }
    assert_int_equal(cb_ca_pending(c), N);
    while (seen < N) {
        done = cb_ca_poll(c, 5000);
        assert_non_null(done);
        assert_ptr_equal(done->opaque, done);
        assert_int_equal(done->klass, CB_CA_SUCCESS);
        assert_int_equal(done->cert_count, 1);
        assert_string_equal(done->certs[0].holder_id, done->holder_id);
        if (done->attempts > max_attempts)
            max_attempts = done->attempts;
        cb_ca_req_clear(done);
        seen++;
    }
    assert_int_equal(max_attempts, 1);
    assert_int_equal(cb_ca_pending(c), 0);
    assert_null(cb_ca_poll(c, 0));
    cb_ca_client_destroy(c);
    free(reqs);
}

/* An answer larger than CB_CA_BODY_MAX is cut off and refused: 700 persons
 * of one organization make a lookup answer of about 300 KiB. */
static void test_body_cap(void **state)
{
    enum { N = 700 };
    const char *extra[] = {"ca.concurrency=32", NULL};
    cb_ca_client_t *c = ct_client(dir, extra);
    cb_ca_req_t *reqs = calloc(N, sizeof(*reqs)), r, *done;
    char(*ids)[32] = calloc(N, sizeof(*ids));
    cb_error_t err;
    int i;

    (void)state;
    assert_non_null(reqs);
    assert_non_null(ids);
    for (i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "HR-CAP-%04d", i);
        reqs[i].op = CB_CA_ISSUE;
        reqs[i].holder_type = CB_HOLDER_PERSON;
        reqs[i].holder_id = ids[i];
        reqs[i].org_code = "000.99.99.H19";
        reqs[i].subject = "CN=Nguyễn Thị Hạnh Phúc,title=Chuyên viên chính,OU=Văn phòng Ủy ban "
                          "nhân dân tỉnh Đồng Nai,O=Ủy ban nhân dân tỉnh Đồng Nai,L=Đồng Nai,"
                          "C=VN,emailAddress=hanhphuc.nt@dongnai.gov.vn";
        snprintf(reqs[i].idempotency_key, sizeof(reqs[i].idempotency_key), "cap-%d-%d",
                 (int)getpid(), i);
        assert_int_equal(cb_ca_submit(c, &reqs[i], &err), 0);
    }
    for (i = 0; i < N; i++) {
        done = cb_ca_poll(c, 30000);
        assert_non_null(done);
        assert_int_equal(done->klass, CB_CA_SUCCESS);
        cb_ca_req_clear(done);
    }
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_LOOKUP;
    r.holder_type = CB_HOLDER_PERSON;
    r.org_code = "000.99.99.H19";
    assert_int_equal(cb_ca_call(c, &r, &err), 0);
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_int_equal(r.http_status, 200);
    assert_string_equal(r.error_code, "body_too_large");
    assert_int_equal(r.cert_count, 0);
    assert_int_equal(r.attempts, 1);
    cb_ca_req_clear(&r);

    /* the same holders one by one are fine */
    ct_lookup(c, CB_HOLDER_PERSON, ids[N - 1], &r);
    assert_int_equal(r.cert_count, 1);
    assert_string_equal(r.certs[0].org_code, "000.99.99.H19");
    cb_ca_req_clear(&r);
    cb_ca_client_destroy(c);
    free(reqs);
    free(ids);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_org),
        cmocka_unit_test(test_lookup_by_org_code),
        cmocka_unit_test(test_change_info),
        cmocka_unit_test(test_change_info_escapes),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_keyed_lookup_snapshot),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_other_calls),
        cmocka_unit_test(test_refused_clients),
        cmocka_unit_test(test_server_name_checked),
        cmocka_unit_test(test_queue_beyond_concurrency),
        cmocka_unit_test(test_body_cap),
    };

    if (argc < 2) {
        fprintf(stderr, "usage: %s REFCA_DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
