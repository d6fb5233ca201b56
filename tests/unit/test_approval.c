/*
 * test_approval.c: approvals (approval.h) decoded from JSON and plain Avro,
 * their canonical bytes, and the approver's signature (approval_verify.h):
 * a valid approval, another signer, a tampered payload, an expired and a
 * revoked certificate, with the exact message an operator reads; plus the
 * signing tool tests/tools/cbsign.c end to end.
 *
 * The PKI is made at test time with the reference CA's own X.509 code
 * (refca/pki.c): a root like the one `certbridge-refca` makes at first start,
 * approver certificates it issues with fixed serials and validity, and its
 * CRL. Nothing is precomputed.
 */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cb_test.h"
#include "certbridge/approval.h"
#include "certbridge/approval_verify.h"
#include "certbridge/event.h"
#include "pki.h"

extern const char cb_approval_schema[];
extern const size_t cb_approval_schema_len;

#define ROOT_DN                                                                                    \
    "CN=Reference CA for certbridge (not for production),O=Ban Cơ yếu Chính phủ (mô phỏng),C=VN"
#define ROOT_CN "Reference CA for certbridge (not for production)"
#define AN_DN   "CN=Nguyễn Văn An,title=Chủ tịch,O=Ủy ban nhân dân tỉnh Đồng Nai,L=Đồng Nai,C=VN"
#define BINH_DN "CN=Trần Thị Bình,title=Phó Chủ tịch,O=Ủy ban nhân dân tỉnh Đồng Nai,C=VN"

#define T_2024_01_01    1704067200LL
#define T_2025_01_01    1735689600LL
#define T_2025_06_20_08 1750406400LL /* 2025-06-20T08:00:00Z */
#define T_2025_06_30    1751241600LL
#define T_2035_01_01    2051222400LL
#define AT              1751335200LL /* 2025-07-01T02:00:00Z, the verification time */

/* One certificate with its key, as PEM. */
typedef struct cred {
    char *key_pem, *cert_pem;
} cred_t;

static struct pki {
    EVP_PKEY *root_key;
    X509 *root;
    char *root_pem;
    cred_t an, binh, an_expired, an_revoked, stranger;
    unsigned char *crl;
    size_t crl_len;
} P;

static const char APPROVAL_JSON[] =
    "{\"request_id\": \"REQ-2025-07-01-000.00.00.H19\", \"decision\": \"APPROVED\",\n"
    " \"approver_name\": \"Nguyễn Văn An\", \"approver_title\": \"Chủ tịch Ủy ban nhân dân "
    "tỉnh\",\n"
    " \"document_number\": \"1234/UBND-KGVX\", \"document_date\": \"2025-07-01\",\n"
    " \"reason\": \"Theo Tờ trình số 56/TTr-SNV \\\"sắp xếp\\\"\\n\", \"action_ids\": [\"a1\", "
    "\"a2\"],\n"
    " \"signed_at\": 1751335200000}";

/* The canonical bytes of APPROVAL_JSON, written out by hand from
 * docs/ARCHITECTURE.md §2 ("Approval signatures"). */
static const char APPROVAL_CANONICAL[] =
    "{\"action_ids\":[\"a1\",\"a2\"],\"approver_id\":null,\"approver_name\":\"Nguyễn Văn An\","
    "\"approver_title\":\"Chủ tịch Ủy ban nhân dân tỉnh\",\"decision\":\"APPROVED\","
    "\"document_date\":\"2025-07-01\",\"document_number\":\"1234/UBND-KGVX\","
    "\"reason\":\"Theo Tờ trình số 56/TTr-SNV \\\"sắp xếp\\\"\\n\","
    "\"request_id\":\"REQ-2025-07-01-000.00.00.H19\",\"signed_at\":1751335200000}";

#define PREFIX "approval of request REQ-2025-07-01-000.00.00.H19 by \"Nguyễn Văn An\": "

/* ---- the PKI ------------------------------------------------------------ */

static X509 *issue(const char *dn, EVP_PKEY *key, const char *serial, int64_t nb, int64_t na,
                   refca_cert_kind_t kind, X509 *issuer, EVP_PKEY *issuer_key)
{
    cb_error_t err;
    X509_NAME *name = refca_name_from_dn(dn, &err);
    refca_cert_spec_t spec = {.kind = kind,
                              .subject = name,
                              .public_key = key,
                              .issuer = issuer,
                              .issuer_key = issuer_key,
                              .serial_hex = serial,
                              .not_before_s = nb,
                              .not_after_s = na};
    X509 *x;

    assert_non_null(name);
    x = refca_cert_make(&spec, &err);
    assert_non_null(x);
    X509_NAME_free(name);
    return x;
}

/* A subscriber certificate of the root, with a new key. */
static void make_cred(cred_t *c, const char *dn, const char *serial, int64_t nb, int64_t na)
{
    cb_error_t err;
    EVP_PKEY *key = refca_key_new(&err);
    X509 *x;

    assert_non_null(key);
    x = issue(dn, key, serial, nb, na, REFCA_CERT_SUBSCRIBER, P.root, P.root_key);
    c->key_pem = refca_key_private_pem(key, &err);
    c->cert_pem = refca_cert_pem(x, &err);
    assert_non_null(c->key_pem);
    assert_non_null(c->cert_pem);
    X509_free(x);
    EVP_PKEY_free(key);
}

static int setup_pki(void **state)
{
    cb_error_t err;
    EVP_PKEY *other_key;
    X509 *other_root;
    refca_crl_entry_t revoked = {"1A2B3C04", 1 /* keyCompromise */, T_2025_06_20_08};

    (void)state;
    P.root_key = refca_key_new(&err);
    assert_non_null(P.root_key);
    P.root = issue(ROOT_DN, P.root_key, "0100", T_2024_01_01, T_2035_01_01, REFCA_CERT_CA, NULL,
                   P.root_key);
    P.root_pem = refca_cert_pem(P.root, &err);
    assert_non_null(P.root_pem);
    make_cred(&P.an, AN_DN, "1A2B3C01", T_2025_01_01, T_2035_01_01);
    make_cred(&P.binh, BINH_DN, "1A2B3C02", T_2025_01_01, T_2035_01_01);
    make_cred(&P.an_expired, AN_DN, "1A2B3C03", T_2024_01_01, T_2025_06_30);
    make_cred(&P.an_revoked, AN_DN, "1A2B3C04", T_2025_01_01, T_2035_01_01);
    assert_int_equal(refca_crl_make(P.root, P.root_key, &revoked, 1, 7, &P.crl, &P.crl_len, &err),
                     0);
    /* A certificate of the same name from a root nobody configured. */
    other_key = refca_key_new(&err);
    other_root = issue("CN=Rogue CA,C=VN", other_key, "0200", T_2024_01_01, T_2035_01_01,
                       REFCA_CERT_CA, NULL, other_key);
    {
        EVP_PKEY *key = refca_key_new(&err);
        X509 *x = issue(AN_DN, key, "1A2B3C05", T_2025_01_01, T_2035_01_01, REFCA_CERT_SUBSCRIBER,
                        other_root, other_key);
        P.stranger.key_pem = refca_key_private_pem(key, &err);
        P.stranger.cert_pem = refca_cert_pem(x, &err);
        X509_free(x);
        EVP_PKEY_free(key);
    }
    X509_free(other_root);
    EVP_PKEY_free(other_key);
    return 0;
}

static void free_cred(cred_t *c)
{
    free(c->key_pem);
    free(c->cert_pem);
}

static int teardown_pki(void **state)
{
    (void)state;
    free_cred(&P.an);
    free_cred(&P.binh);
    free_cred(&P.an_expired);
    free_cred(&P.an_revoked);
    free_cred(&P.stranger);
    free(P.root_pem);
    free(P.crl);
    X509_free(P.root);
    EVP_PKEY_free(P.root_key);
    return 0;
}

/* A verifier trusting the root, with its CRL (or none). */
static cb_approval_verifier_t *verifier(bool with_crl)
{
    cb_error_t err;
    cb_approval_verifier_t *v = cb_approval_verifier_new(true, &err);

    assert_non_null(v);
    assert_int_equal(
        cb_approval_verifier_add_anchors(v, P.root_pem, strlen(P.root_pem), "root", &err), 0);
    if (with_crl)
        assert_int_equal(cb_approval_verifier_add_crl(v, P.crl, P.crl_len, "crl", &err), 0);
    return v;
}

static void decode_ok(const char *json, cb_approval_t *a)
{
    cb_error_t err;

    cb_error_clear(&err);
    if (cb_approval_decode(json, strlen(json), CB_APPROVAL_FORMAT_AUTO, a, &err) < 0)
        fail_msg("decode: %s", err.msg);
}

/* APPROVAL_JSON signed with c, sent through its JSON form and decoded again,
 * as the approval topic would carry it; the JSON text in *json when wanted. */
static void signed_approval(const cred_t *c, cb_approval_t *out, char **json)
{
    cb_approval_t a;
    cb_error_t err;
    char *text;
    size_t len;

    decode_ok(APPROVAL_JSON, &a);
    if (cb_approval_sign(&a, c->key_pem, strlen(c->key_pem), c->cert_pem, strlen(c->cert_pem),
                         &err) < 0)
        fail_msg("sign: %s", err.msg);
    assert_int_equal(cb_approval_encode_json(&a, &text, &len, &err), 0);
    cb_approval_clear(&a);
    decode_ok(text, out);
    assert_non_null(out->signature);
    if (json)
        *json = text;
    else
        free(text);
}

/* ---- decoding ----------------------------------------------------------- */

static void test_decode_json(void **state)
{
    cb_approval_t a;
    cb_error_t err;
    char doc[CB_APPROVAL_DOCUMENT_TEXT_MAX], *canon;
    size_t len;

    (void)state;
    decode_ok(APPROVAL_JSON, &a);
    assert_string_equal(a.request_id, "REQ-2025-07-01-000.00.00.H19");
    assert_int_equal(a.decision, CB_APPROVAL_APPROVED);
    assert_string_equal(a.approver_name, "Nguyễn Văn An");
    assert_null(a.approver_id);
    assert_int_equal(a.document_date, 20270);
    assert_int_equal(a.n_action_ids, 2);
    assert_string_equal(a.action_ids[1], "a2");
    assert_int_equal(a.signed_at_ms, 1751335200000LL);
    assert_null(a.signature);
    assert_string_equal(cb_approval_document_text(&a, doc, sizeof(doc)),
                        "1234/UBND-KGVX ngày 01/7/2025");
    assert_int_equal(cb_approval_canonical(&a, &canon, &len, &err), 0);
    assert_string_equal(canon, APPROVAL_CANONICAL);
    assert_int_equal(len, strlen(APPROVAL_CANONICAL));
    free(canon);
    /* Decree 30/2020: 05/02 and 15/12 */
    a.document_date = 20124; /* 2025-02-05 */
    assert_string_equal(cb_approval_document_text(&a, doc, sizeof(doc)),
                        "1234/UBND-KGVX ngày 05/02/2025");
    a.document_date = 20437; /* 2025-12-15 */
    assert_string_equal(cb_approval_document_text(&a, doc, sizeof(doc)),
                        "1234/UBND-KGVX ngày 15/12/2025");
    cb_approval_clear(&a);
}

/* Member order, white space, escapes and decomposed letters do not change
 * the canonical bytes: they are written from the values. */
static void test_canonical_from_values(void **state)
{
    static const char other[] =
        "{\"signed_at\":1751335200000,\"action_ids\":[\"a1\",\"\\u0061\\u0032\"],"
        "\"document_date\":\"2025-07-01\",\"document_number\":\"1234\\/UBND-KGVX\","
        "\"approver_title\":\"Chủ tịch Ủy ban nhân dân tỉnh\",\"decision\":\"APPROVED\","
        /* "Nguyễn" with e + U+0302 + U+0303 (decomposed) */
        "\"approver_name\":\"Nguye\\u0302\\u0303n Văn An\",\"approver_id\":null,"
        "\"reason\":\"Theo Tờ trình số 56/TTr-SNV \\\"sắp xếp\\\"\\u000a\","
        "\"request_id\":\"REQ-2025-07-01-000.00.00.H19\",\"signature\":null}";
    cb_approval_t a;
    cb_error_t err;
    char *canon;
    size_t len;

    (void)state;
    decode_ok(other, &a);
    assert_int_equal(cb_approval_canonical(&a, &canon, &len, &err), 0);
    assert_string_equal(canon, APPROVAL_CANONICAL);
    free(canon);
    cb_approval_clear(&a);
}

/* The same approval as plain Avro (schemas/Approval.avsc, written with
 * Avro-C) decodes to the same values and canonical bytes; the signature
 * travels as bytes. */
static void test_decode_avro(void **state)
{
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t rec, f, b, item;
    avro_writer_t w;
    char buf[4096], *canon;
    size_t len;
    cb_approval_t a;
    cb_error_t err;

    (void)state;
    assert_int_equal(
        avro_schema_from_json_length(cb_approval_schema, cb_approval_schema_len, &schema), 0);
    iface = avro_generic_class_from_schema(schema);
    assert_int_equal(avro_generic_value_new(iface, &rec), 0);
#define SET_STR(name, s)                                                                           \
    assert_int_equal(avro_value_get_by_name(&rec, name, &f, NULL), 0);                             \
    assert_int_equal(avro_value_set_string(&f, s), 0)
    SET_STR("request_id", "REQ-2025-07-01-000.00.00.H19");
    SET_STR("approver_name", "Nguyễn Văn An");
    SET_STR("approver_title", "Chủ tịch Ủy ban nhân dân tỉnh");
    SET_STR("document_number", "1234/UBND-KGVX");
#undef SET_STR
    assert_int_equal(avro_value_get_by_name(&rec, "decision", &f, NULL), 0);
    assert_int_equal(avro_value_set_enum(&f, 0), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "document_date", &f, NULL), 0);
    assert_int_equal(avro_value_set_int(&f, 20270), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "signed_at", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, 1751335200000LL), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "approver_id", &f, NULL), 0);
    assert_int_equal(avro_value_set_branch(&f, 0, &b), 0);
    assert_int_equal(avro_value_set_null(&b), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "reason", &f, NULL), 0);
    assert_int_equal(avro_value_set_branch(&f, 1, &b), 0);
    assert_int_equal(avro_value_set_string(&b, "Theo Tờ trình số 56/TTr-SNV \"sắp xếp\"\n"), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "action_ids", &f, NULL), 0);
    assert_int_equal(avro_value_set_branch(&f, 1, &b), 0);
    assert_int_equal(avro_value_append(&b, &item, NULL), 0);
    assert_int_equal(avro_value_set_string(&item, "a1"), 0);
    assert_int_equal(avro_value_append(&b, &item, NULL), 0);
    assert_int_equal(avro_value_set_string(&item, "a2"), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "signature", &f, NULL), 0);
    assert_int_equal(avro_value_set_branch(&f, 1, &b), 0);
    assert_int_equal(avro_value_set_bytes(&b, (void *)"\x30\x03\x02\x01\x00", 5), 0);
    w = avro_writer_memory(buf, sizeof(buf));
    assert_int_equal(avro_value_write(w, &rec), 0);
    len = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);

    if (cb_approval_decode(buf, len, CB_APPROVAL_FORMAT_AUTO, &a, &err) < 0)
        fail_msg("decode: %s", err.msg);
    assert_int_equal(a.signature_len, 5);
    assert_memory_equal(a.signature, "\x30\x03\x02\x01\x00", 5);
    assert_int_equal(cb_approval_canonical(&a, &canon, &len, &err), 0);
    assert_string_equal(canon, APPROVAL_CANONICAL);
    free(canon);
    cb_approval_clear(&a);
    /* truncated: the last byte missing */
    assert_int_equal(cb_approval_decode(buf, len - 1, CB_APPROVAL_FORMAT_AVRO, &a, &err), -1);
    assert_int_equal(err.code, CB_ERR_DECODE);
}

/* One line per refusal: the input, the code and the exact message. */
static void test_decode_errors(void **state)
{
    static const struct {
        const char *json;
        cb_errcode_t code;
        const char *msg;
    } cases[] = {
#define BASE                                                                                       \
    "\"request_id\":\"R1\",\"approver_name\":\"A\",\"approver_title\":\"T\","                      \
    "\"document_number\":\"1/UBND\",\"document_date\":\"2025-07-01\",\"signed_at\":1"
        {"", CB_ERR_DECODE, "approval: empty message"},
        {"{}", CB_ERR_INVALID, "request_id: required field is missing"},
        {"[]", CB_ERR_INVALID, "approval: expected a JSON object, got array"},
        {"{" BASE "}", CB_ERR_INVALID, "decision: required field is missing"},
        {"{" BASE ",\"decision\":\"MAYBE\"}", CB_ERR_INVALID,
         "decision: unknown symbol \"MAYBE\" (APPROVED|REJECTED)"},
        {"{" BASE ",\"decision\":\"REJECTED\"}", CB_ERR_INVALID,
         "reason: required for REJECTED (it becomes the actions' outcome reason)"},
        {"{" BASE ",\"decision\":\"REJECTED\",\"reason\":\"\"}", CB_ERR_INVALID,
         "reason: required for REJECTED (it becomes the actions' outcome reason)"},
        {"{" BASE ",\"decision\":\"APPROVED\",\"extra\":1}", CB_ERR_INVALID,
         "approval: unknown member \"extra\" (it would not be covered by the signature)"},
        {"{\"request_id\":\"R1\",\"approver_name\":\"A\",\"approver_title\":\"T\","
         "\"document_number\":\"1/UBND\",\"document_date\":\"2025-02-30\",\"signed_at\":1,"
         "\"decision\":\"APPROVED\"}",
         CB_ERR_INVALID, "document_date: \"2025-02-30\" is not a date YYYY-MM-DD"},
        {"{\"request_id\":\"R1\",\"approver_name\":\"A\",\"approver_title\":\"T\","
         "\"document_number\":\"1/UBND\",\"document_date\":\"2025-07-01\",\"signed_at\":"
         "\"2025-07-01T00:00:00Z\",\"decision\":\"APPROVED\"}",
         CB_ERR_INVALID, "signed_at: expected integer epoch milliseconds, got string"},
        {"{" BASE ",\"decision\":\"APPROVED\",\"action_ids\":[]}", CB_ERR_INVALID,
         "action_ids: empty; use null for every action of the request"},
        {"{" BASE ",\"decision\":\"APPROVED\",\"action_ids\":[\"a1\",\"a1\"]}", CB_ERR_INVALID,
         "action_ids[1]: \"a1\" repeats action_ids[0]"},
        {"{" BASE ",\"decision\":\"APPROVED\",\"action_ids\":[\"a1\",7]}", CB_ERR_INVALID,
         "action_ids[1]: expected a string, got integer"},
        {"{" BASE ",\"decision\":\"APPROVED\",\"signature\":\"abc\"}", CB_ERR_DECODE,
         "signature: base64 of 3 characters, not a multiple of 4"},
        {"{" BASE ",\"decision\":\"APPROVED\",\"signature\":\"ab$=\"}", CB_ERR_DECODE,
         "signature: character 2 is not base64 (RFC 4648, padded, no line breaks)"},
        {"{\"request_id\":\"R1\",\"approver_name\":\"A\",\"approver_title\":\"T\","
         "\"document_number\":\"\",\"document_date\":\"2025-07-01\",\"signed_at\":1,"
         "\"decision\":\"APPROVED\"}",
         CB_ERR_INVALID, "document_number: is empty"},
#undef BASE
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cb_approval_t a;
        cb_error_t err;
        cb_error_clear(&err);
        if (cb_approval_decode(cases[i].json, strlen(cases[i].json), CB_APPROVAL_FORMAT_JSON, &a,
                               &err) != -1)
            fail_msg("case %zu decoded: %s", i, cases[i].json);
        if (err.code != cases[i].code || strcmp(err.msg, cases[i].msg) != 0)
            fail_msg("case %zu: got %s \"%s\", expected %s \"%s\"", i, cb_errcode_name(err.code),
                     err.msg, cb_errcode_name(cases[i].code), cases[i].msg);
        assert_null(a.request_id); /* cleared */
    }
}

static void test_decode_limits(void **state)
{
    size_t n = CB_APPROVAL_MAX_BYTES + 1;
    char *big = malloc(n);
    cb_approval_t a;
    cb_error_t err;

    (void)state;
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    assert_int_equal(cb_approval_decode(big, n, CB_APPROVAL_FORMAT_AUTO, &a, &err), -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);
    assert_string_equal(err.msg, "approval: message of 262145 bytes exceeds the limit of 262144");
    free(big);
}

/* ---- signatures ----------------------------------------------------------- */

/* 1. Valid: signed by the approver named, certificate valid, not revoked. */
static void test_sign_valid(void **state)
{
    cb_approval_verifier_t *v = verifier(true);
    cb_approval_fault_t fault;
    cb_approval_signer_t who;
    cb_approval_t a;
    cb_error_t err;

    (void)state;
    signed_approval(&P.an, &a, NULL);
    cb_error_clear(&err);
    if (cb_approval_verifier_check(v, &a, AT, &fault, &who, &err) < 0)
        fail_msg("valid approval refused: %s", err.msg);
    assert_int_equal(fault, CB_APPROVAL_FAULT_NONE);
    assert_string_equal(who.cn, "Nguyễn Văn An");
    assert_string_equal(who.serial, "1A2B3C01");
    assert_string_equal(who.issuer, ROOT_CN);
    /* The name rule: case, composition and spaces do not count... */
    free(a.approver_name);
    a.approver_name = strdup("  nguye\xcc\x82\xcc\x83n   VĂN\tan ");
    assert_int_equal(cb_approval_verifier_check(v, &a, AT, &fault, NULL, &err), -1);
    assert_int_equal(fault, CB_APPROVAL_FAULT_BAD_SIGNATURE); /* the bytes changed */
    assert_int_equal(cb_approval_sign(&a, P.an.key_pem, strlen(P.an.key_pem), P.an.cert_pem,
                                      strlen(P.an.cert_pem), &err),
                     0);
    if (cb_approval_verifier_check(v, &a, AT, &fault, NULL, &err) < 0)
        fail_msg("name in another spelling refused: %s", err.msg);
    /* ... diacritics do */
    free(a.approver_name);
    a.approver_name = strdup("Nguyen Van An");
    assert_int_equal(cb_approval_sign(&a, P.an.key_pem, strlen(P.an.key_pem), P.an.cert_pem,
                                      strlen(P.an.cert_pem), &err),
                     0);
    assert_int_equal(cb_approval_verifier_check(v, &a, AT, &fault, NULL, &err), -1);
    assert_int_equal(fault, CB_APPROVAL_FAULT_WRONG_SIGNER);
    cb_approval_clear(&a);
    cb_approval_verifier_free(v);
}

/* Runs the check that must fail and compares fault and message. */
static void expect_refusal(const cb_approval_verifier_t *v, const cb_approval_t *a, int64_t at,
                           cb_approval_fault_t fault, const char *msg)
{
    cb_approval_fault_t got;
    cb_error_t err;

    cb_error_clear(&err);
    assert_int_equal(cb_approval_verifier_check(v, a, at, &got, NULL, &err), -1);
    if (got != fault || (msg && strcmp(err.msg, msg) != 0))
        fail_msg("got %s \"%s\"\nexpected %s \"%s\"", cb_approval_fault_name(got), err.msg,
                 cb_approval_fault_name(fault), msg ? msg : "(any)");
    assert_int_equal(err.code, CB_ERR_INVALID);
}

/* 2. Another signer: a valid certificate of another person. */
static void test_sign_other_signer(void **state)
{
    cb_approval_verifier_t *v = verifier(true);
    cb_approval_t a;

    (void)state;
    signed_approval(&P.binh, &a, NULL);
    expect_refusal(v, &a, AT, CB_APPROVAL_FAULT_WRONG_SIGNER,
                   PREFIX "signed by \"Trần Thị Bình\" (certificate serial 1A2B3C02), not by the "
                          "approver named: the approver must sign with their own certificate "
                          "(names are compared ignoring case, Unicode composition and repeated "
                          "spaces)");
    cb_approval_clear(&a);
    cb_approval_verifier_free(v);
}

/* 3. A tampered payload: the document number changed after signing. */
static void test_sign_tampered(void **state)
{
    cb_approval_verifier_t *v = verifier(true);
    cb_approval_t a;
    cb_error_t err;
    char *json, *p;

    (void)state;
    signed_approval(&P.an, &a, &json);
    cb_approval_clear(&a);
    p = strstr(json, "1234/UBND-KGVX");
    assert_non_null(p);
    p[3] = '5';
    if (cb_approval_decode(json, strlen(json), CB_APPROVAL_FORMAT_JSON, &a, &err) < 0)
        fail_msg("decode: %s", err.msg);
    assert_string_equal(a.document_number, "1235/UBND-KGVX");
    expect_refusal(v, &a, AT, CB_APPROVAL_FAULT_BAD_SIGNATURE,
                   PREFIX "the signature by \"Nguyễn Văn An\" (serial 1A2B3C01) does not match "
                          "the approval's content: the approval was changed after it was signed, "
                          "or the signed bytes were not its canonical form");
    free(json);
    cb_approval_clear(&a);
    cb_approval_verifier_free(v);
}

/* 4. An expired certificate (valid until 2025-06-30, checked 2025-07-01). */
static void test_sign_expired(void **state)
{
    cb_approval_verifier_t *v = verifier(true);
    cb_approval_t a;

    (void)state;
    signed_approval(&P.an_expired, &a, NULL);
    expect_refusal(v, &a, AT, CB_APPROVAL_FAULT_EXPIRED,
                   PREFIX "the signer's certificate \"Nguyễn Văn An\" (serial 1A2B3C03) expired "
                          "on 2025-06-30T00:00:00Z; it is not valid at the verification time "
                          "2025-07-01T02:00:00Z: an expired certificate cannot sign an approval");
    /* the same signature was good before the certificate expired */
    assert_int_equal(cb_approval_verifier_check(v, &a, T_2025_06_30 - 86400, NULL, NULL, NULL), 0);
    cb_approval_clear(&a);
    cb_approval_verifier_free(v);
}

/* 5. A revoked certificate, on the CA's CRL. */
static void test_sign_revoked(void **state)
{
    cb_approval_verifier_t *v = verifier(true);
    cb_approval_t a;

    (void)state;
    signed_approval(&P.an_revoked, &a, NULL);
    expect_refusal(v, &a, AT, CB_APPROVAL_FAULT_REVOKED,
                   PREFIX "the signer's certificate \"Nguyễn Văn An\" (serial 1A2B3C04) was "
                          "revoked on 2025-06-20T08:00:00Z (reason keyCompromise) and is on the "
                          "CA's CRL: a revoked certificate cannot sign an approval");
    cb_approval_clear(&a);
    cb_approval_verifier_free(v);
}

/* The other refusals: unsigned, an untrusted root, no CRL, a stale CRL,
 * garbage; and policy off. */
static void test_sign_other_faults(void **state)
{
    cb_approval_verifier_t *v = verifier(true), *no_crl = verifier(false), *off;
    cb_approval_t a;
    cb_error_t err;

    (void)state;
    decode_ok(APPROVAL_JSON, &a);
    expect_refusal(v, &a, AT, CB_APPROVAL_FAULT_UNSIGNED,
                   PREFIX "not signed, and policy.approval_signature=required: the approver must "
                          "sign its canonical bytes with a detached CMS signature");
    assert_non_null(off = cb_approval_verifier_new(false, &err));
    assert_int_equal(cb_approval_verifier_check(off, &a, AT, NULL, NULL, &err), 0);
    a.signature = (unsigned char *)strdup("not DER");
    a.signature_len = 7;
    expect_refusal(v, &a, AT, CB_APPROVAL_FAULT_MALFORMED, NULL);
    cb_approval_clear(&a);

    signed_approval(&P.stranger, &a, NULL);
    expect_refusal(v, &a, AT, CB_APPROVAL_FAULT_UNTRUSTED,
                   PREFIX "the signer's certificate \"Nguyễn Văn An\" (serial 1A2B3C05, issued "
                          "by \"Rogue CA\") is not trusted for signing approvals: unable to get "
                          "local issuer certificate (policy.approval_trust_anchors)");
    cb_approval_clear(&a);

    signed_approval(&P.an, &a, NULL);
    expect_refusal(no_crl, &a, AT, CB_APPROVAL_FAULT_NO_CRL,
                   PREFIX "cannot check the signer's certificate \"Nguyễn Văn An\" (serial "
                          "1A2B3C01) for revocation: no CRL of its issuer \"" ROOT_CN
                          "\" is loaded (policy.approval_crl_file)");
    /* the CRL's nextUpdate is a day after it was made: three days on it is stale */
    expect_refusal(v, &a, (int64_t)time(NULL) + 3 * 86400, CB_APPROVAL_FAULT_NO_CRL, NULL);
    cb_approval_clear(&a);
    cb_approval_verifier_free(off);
    cb_approval_verifier_free(no_crl);
    cb_approval_verifier_free(v);
}

/* ---- the signing tool ------------------------------------------------------ */

static void write_text(const char *path, const void *text, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 1 << 20);

    assert_non_null(f);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

/* cbsign reads the approval, key and certificate from files and writes the
 * signed JSON, which certbridge accepts from the config-loaded verifier. */
static void test_cbsign_tool(void **state)
{
    char dir[] = "/tmp/cb-approval-XXXXXX", path[6][256], cmd[2048], *out;
    cb_config_t *cfg = cb_config_new();
    cb_approval_verifier_t *v;
    cb_approval_t a;
    cb_error_t err;
    size_t len;
    int i;

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (i = 0; i < 6; i++)
        snprintf(path[i], sizeof(path[i]), "%s/%s", dir,
                 (const char *[]){"approval.json", "an.key", "an.pem", "root.pem", "crl.der",
                                  "signed.json"}[i]);
    write_text(path[0], APPROVAL_JSON, strlen(APPROVAL_JSON));
    write_text(path[1], P.an.key_pem, strlen(P.an.key_pem));
    write_text(path[2], P.an.cert_pem, strlen(P.an.cert_pem));
    write_text(path[3], P.root_pem, strlen(P.root_pem));
    write_text(path[4], P.crl, P.crl_len);
    snprintf(cmd, sizeof(cmd), "%s --key %s --cert %s %s > %s", CB_CBSIGN, path[1], path[2],
             path[0], path[5]);
    assert_int_equal(system(cmd), 0);
    out = read_text(path[5], &len);
    if (cb_approval_decode(out, len, CB_APPROVAL_FORMAT_AUTO, &a, &err) < 0)
        fail_msg("cbsign output: %s", err.msg);
    assert_int_equal(cb_config_set(cfg, "policy.approval_trust_anchors", path[3], &err), 0);
    assert_int_equal(cb_config_set(cfg, "policy.approval_crl_file", path[4], &err), 0);
    if (!(v = cb_approval_verifier_from_config(cfg, &err)))
        fail_msg("verifier: %s", err.msg);
    if (cb_approval_verifier_check(v, &a, AT, NULL, NULL, &err) < 0)
        fail_msg("cbsign's approval refused: %s", err.msg);
    /* a key that is not the certificate's */
    snprintf(cmd, sizeof(cmd), "%s --key %s --cert %s %s > %s 2>/dev/null", CB_CBSIGN, path[1],
             path[3], path[0], path[5]);
    assert_int_not_equal(system(cmd), 0);
    cb_approval_clear(&a);
    cb_approval_verifier_free(v);
    free(out);
    for (i = 0; i < 6; i++)
        unlink(path[i]);
    rmdir(dir);
    cb_config_destroy(cfg);
}

static void test_config_required(void **state)
{
    cb_config_t *cfg = cb_config_new();
    cb_approval_verifier_t *v;
    cb_error_t err;

    (void)state;
    assert_string_equal(cb_config_get(cfg, "policy.approval_signature"), "required");
    assert_null(cb_approval_verifier_from_config(cfg, &err));
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_string_equal(err.msg, "policy.approval_signature=required needs "
                                 "policy.approval_trust_anchors (the PEM certificates of the CAs "
                                 "whose certificates may sign approvals)");
    assert_int_equal(cb_config_set(cfg, "policy.approval_signature", "off", &err), 0);
    assert_non_null(v = cb_approval_verifier_from_config(cfg, &err));
    assert_false(cb_approval_verifier_required(v));
    cb_approval_verifier_free(v);
    assert_int_equal(cb_config_set(cfg, "policy.approval_signature", "sometimes", &err), -1);
    cb_config_destroy(cfg);
}

/* The stamp of the trust anchor and CRL files changes when a file is
 * replaced (a CRL fetched anew), stays when nothing changed, and a file
 * that cannot be read counts for nothing. */
static void test_files_stamp(void **state)
{
    char crl[] = "/tmp/cb-stamp-crl-XXXXXX", anchors[] = "/tmp/cb-stamp-ca-XXXXXX", list[128];
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;
    uint64_t before, after;
    int fd;
    FILE *f;

    (void)state;
    assert_true((fd = mkstemp(crl)) >= 0);
    assert_int_equal(write(fd, "first", 5), 5);
    close(fd);
    assert_true((fd = mkstemp(anchors)) >= 0);
    close(fd);
    snprintf(list, sizeof(list), "%s, /nonexistent/ca.pem", anchors);
    assert_int_equal(cb_config_set(cfg, "policy.approval_trust_anchors", list, &err), 0);
    assert_int_equal(cb_config_set(cfg, "policy.approval_crl_file", crl, &err), 0);
    before = cb_approval_files_stamp(cfg);
    assert_true(before != 0);
    assert_true(cb_approval_files_stamp(cfg) == before);
    assert_non_null(f = fopen(crl, "w")); /* replaced: another length */
    fputs("the next CRL, longer", f);
    fclose(f);
    after = cb_approval_files_stamp(cfg);
    assert_true(after != before);
    assert_true(cb_approval_files_stamp(cfg) == after);
    unlink(crl);
    unlink(anchors);
    assert_true(cb_approval_files_stamp(cfg) == 0);
    cb_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_json),       cmocka_unit_test(test_canonical_from_values),
        cmocka_unit_test(test_decode_avro),       cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_decode_limits),     cmocka_unit_test(test_sign_valid),
        cmocka_unit_test(test_sign_other_signer), cmocka_unit_test(test_sign_tampered),
        cmocka_unit_test(test_sign_expired),      cmocka_unit_test(test_sign_revoked),
        cmocka_unit_test(test_sign_other_faults), cmocka_unit_test(test_cbsign_tool),
        cmocka_unit_test(test_config_required),   cmocka_unit_test(test_files_stamp),
    };
    return cmocka_run_group_tests(tests, setup_pki, teardown_pki);
}
