/* test_schema_registry.c: the codec against a real Schema Registry, Apicurio
 * Registry 2.4.2 started by harness/apicurio_harness.py (fixture
 * "apicurio": HTTP basic auth always on, and an HTTPS port that requires a
 * client certificate): register + encode + decode events and outcomes in
 * Confluent framing, the registry's ids and subjects, the subject strategies,
 * compatibility levels (set when a subject has none, kept when it has one, a
 * refusal naming the subject and the reason), writer schemas with
 * references, an unknown schema id, wrong credentials, a wrong base URL,
 * HTTPS with a pinned CA bundle and a client certificate, and the ways the
 * registry differs from Confluent's that matter to certbridge. One fault
 * needs no registry at all: a port nobody listens on (retriable, never a
 * dead letter).
 *
 * Usage: test_schema_registry STATE_DIR PASSWORD_FILE */
#include "../unit/cb_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "certbridge/codec.h"
#include "certbridge/config.h"
#include "certbridge/schema_registry.h"
#include "certbridge/schemas.h"

static char url[256], https_url[256], tls_dir[512];
static const char *password_file;

/* A configuration for the registry at u, with the harness's credentials
 * unless user is NULL. */
static cb_config_t *config_for(const char *u, const char *user)
{
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;

    assert_non_null(cfg);
    assert_int_equal(cb_config_set(cfg, "schema_registry.url", u, &err), 0);
    assert_int_equal(cb_config_set(cfg, "schema_registry.timeout_ms", "3000", &err), 0);
    assert_int_equal(cb_config_set(cfg, "input.org_topic", "it.org-events", &err), 0);
    assert_int_equal(cb_config_set(cfg, "input.person_topic", "it.person-events", &err), 0);
    if (user) {
        assert_int_equal(cb_config_set(cfg, "schema_registry.basic_auth_user", user, &err), 0);
        assert_int_equal(
            cb_config_set(cfg, "schema_registry.basic_auth_password_file", password_file, &err), 0);
    }
    return cfg;
}

static cb_codec_t *codec_for(const char *u, const char *user)
{
    cb_config_t *cfg = config_for(u, user);
    cb_error_t err;
    cb_codec_t *c = cb_codec_new(cfg, &err);

    assert_non_null(c);
    cb_config_destroy(cfg);
    return c;
}

static uint32_t frame_id(const void *buf)
{
    const unsigned char *p = buf;
    assert_int_equal(p[0], 0);
    return (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
}

static void fill_org(cb_org_t *o, const char *code, const char *name)
{
    o->code = strdup(code);
    o->name = strdup(name);
    o->province = strdup("Tỉnh Đồng Nai");
}

/* An HTTP request to url+path with the harness's credentials: GET when body
 * is NULL, else method with body (JSON). The answer's body into buf, its
 * Content-Type into ctype (when not NULL). Returns the HTTP status. */
static size_t collect(char *p, size_t s, size_t n, void *opaque)
{
    char *buf = opaque;
    size_t have = strlen(buf), add = s * n;
    if (have + add >= 65536)
        return 0;
    memcpy(buf + have, p, add);
    buf[have + add] = '\0';
    return add;
}

static long http_req(const char *method, const char *path, const char *body, char *buf, char *ctype)
{
    char full[1024], pw[128] = "";
    FILE *f = fopen(password_file, "r");
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    long status = 0;
    char *ct = NULL;

    assert_non_null(f);
    assert_non_null(fgets(pw, sizeof(pw), f));
    fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';
    snprintf(full, sizeof(full), "%s%s", url, path);
    buf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_USERNAME, "certbridge");
    curl_easy_setopt(c, CURLOPT_PASSWORD, pw);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, buf);
    /* the Accept header certbridge sends */
    h = curl_slist_append(h, "Accept: application/vnd.schemaregistry.v1+json, application/json");
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/vnd.schemaregistry.v1+json");
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (ctype) {
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(ctype, 128, "%s", ct ? ct : "");
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

static long http_get(const char *path, char *buf)
{
    return http_req("GET", path, NULL, buf, NULL);
}

/* Registers schema (a JSON text) under subject with references (a JSON array
 * text, or NULL) over the REST API, as a producer outside certbridge would;
 * returns the id. */
static uint32_t register_raw(const char *subject, const char *schema, const char *refs)
{
    json_t *req = json_pack("{s:s}", "schema", schema), *resp;
    char path[512], *body, answer[65536];
    uint32_t id;

    if (refs)
        json_object_set_new(req, "references", json_loads(refs, 0, NULL));
    body = json_dumps(req, JSON_COMPACT);
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    assert_int_equal(http_req("POST", path, body, answer, NULL), 200);
    resp = json_loads(answer, 0, NULL);
    assert_true(json_is_integer(json_object_get(resp, "id")));
    id = (uint32_t)json_integer_value(json_object_get(resp, "id"));
    json_decref(resp);
    json_decref(req);
    free(body);
    return id;
}

/* The compatibility level GET /config/{subject} answers (subject NULL: GET
 * /config, the global level). */
static void subject_level(const char *subject, char *level)
{
    char path[512], body[65536];
    json_t *j;

    snprintf(path, sizeof(path), "/config%s%s", subject ? "/" : "", subject ? subject : "");
    assert_int_equal(http_get(path, body), 200);
    j = json_loads(body, 0, NULL);
    assert_true(json_is_string(json_object_get(j, "compatibilityLevel")));
    strcpy(level, json_string_value(json_object_get(j, "compatibilityLevel")));
    json_decref(j);
}

static void test_events_round_trip(void **state)
{
    cb_codec_t *producer = codec_for(url, "certbridge");
    cb_codec_t *consumer = codec_for(url, "certbridge"); /* empty cache: fetches by id */
    cb_event_t ev, back;
    cb_error_t err;
    void *buf, *buf2;
    size_t len, len2;
    char body[65536];

    (void)state;
    cb_event_init(&ev);
    ev.kind = CB_EVENT_ORG;
    ev.type = CB_ORG_MERGED;
    ev.event_id = strdup("it-merge-1");
    ev.occurred_at_ms = 1751328000000LL;
    ev.effective_date = 20270;
    ev.source_system = strdup("hrm");
    fill_org(&ev.org, "000.00.31.H19", "Sở Nông nghiệp và Môi trường");
    ev.merged_orgs = calloc(1, sizeof(cb_org_t));
    ev.merged_count = 1;
    fill_org(&ev.merged_orgs[0], "000.00.12.H19", "Sở Nông nghiệp");
    assert_int_equal(cb_codec_encode_event(producer, CB_FORMAT_CONFLUENT, &ev, &buf, &len, &err),
                     0);
    assert_true(frame_id(buf) > 0);
    /* the consumer knows nothing yet: it asks the registry for the id */
    assert_int_equal(
        cb_codec_decode_event(consumer, CB_EVENT_ORG, CB_FORMAT_AUTO, buf, len, &back, &err), 0);
    assert_string_equal(back.event_id, "it-merge-1");
    assert_int_equal(back.type, CB_ORG_MERGED);
    assert_int_equal(back.merged_count, 1);
    assert_string_equal(back.merged_orgs[0].name, "Sở Nông nghiệp");
    cb_event_clear(&back);
    /* the same schema registered again answers the same id */
    assert_int_equal(cb_codec_encode_event(producer, CB_FORMAT_CONFLUENT, &ev, &buf2, &len2, &err),
                     0);
    assert_int_equal(frame_id(buf2), frame_id(buf));
    free(buf2);
    cb_event_clear(&ev);

    cb_event_init(&ev);
    ev.kind = CB_EVENT_PERSON;
    ev.type = CB_PERSON_DEPARTED;
    ev.event_id = strdup("it-person-1");
    ev.source_system = strdup("hrm");
    fill_org(&ev.org, "000.00.31.H19", "Sở Nội vụ");
    ev.person.person_id = strdup("P-9");
    ev.person.national_id = strdup("075123456789");
    ev.person.full_name = strdup("Lê Thị Hoa");
    ev.departure_reason = CB_DEPARTURE_DECEASED;
    assert_int_equal(cb_codec_encode_event(producer, CB_FORMAT_CONFLUENT, &ev, &buf2, &len2, &err),
                     0);
    assert_int_not_equal(frame_id(buf2), frame_id(buf));
    assert_int_equal(cb_codec_decode_event(consumer, CB_EVENT_PERSON, CB_FORMAT_CONFLUENT, buf2,
                                           len2, &back, &err),
                     0);
    assert_string_equal(back.person.full_name, "Lê Thị Hoa");
    assert_int_equal(back.departure_reason, CB_DEPARTURE_DECEASED);
    cb_event_clear(&back);
    cb_event_clear(&ev);

    /* the registry holds the subjects and the schemas under those ids */
    assert_int_equal(http_get("/subjects", body), 200);
    assert_non_null(strstr(body, "\"it.org-events-value\""));
    assert_non_null(strstr(body, "\"it.person-events-value\""));
    snprintf(body, sizeof(body), "/schemas/ids/%u", frame_id(buf2));
    {
        char ctype[128];
        /* to certbridge's Accept header the registry answers application/json
         * (Confluent: application/vnd.schemaregistry.v1+json), with a
         * "references" array: the consumer above decoded that answer */
        assert_int_equal(http_req("GET", body, NULL, body, ctype), 200);
        assert_string_equal(ctype, "application/json");
        assert_non_null(strstr(body, "\"references\":[]"));
    }
    assert_non_null(strstr(body, "PersonEvent"));
    free(buf);
    free(buf2);
    cb_codec_destroy(producer);
    cb_codec_destroy(consumer);
}

static void test_outcomes(void **state)
{
    cb_codec_t *c = codec_for(url, "certbridge"), *reader = codec_for(url, "certbridge");
    cb_outcome_encoder_t *enc;
    cb_outcome_t o, back;
    cb_error_t err;
    void *buf, *buf2;
    size_t len, len2;
    char body[65536];

    (void)state;
    enc = cb_outcome_encoder_new(c, "it.outcomes", &err);
    assert_non_null(enc);
    cb_outcome_init(&o);
    o.outcome_id = strdup("it-merge-1/0");
    o.source_event_id = strdup("it-merge-1");
    o.source_event_type = strdup("MERGED");
    o.source_topic = strdup("it.org-events");
    o.action = CB_ACTION_REVOKE;
    o.holder_type = CB_HOLDER_ORGANIZATION;
    o.holder_id = strdup("000.00.12.H19");
    o.revocation_reason = CB_REASON_CESSATION_OF_OPERATION;
    o.status = CB_STATUS_SUCCEEDED;
    o.http_status = 200;
    o.processed_at_ms = 1751328000999LL;
    assert_int_equal(cb_outcome_encoder_encode(enc, &o, &buf, &len, &err), 0);
    assert_true(frame_id(buf) > 0);
    /* the codec encodes the same bytes under the topic the encoder registered */
    assert_int_equal(cb_codec_encode_outcome(c, &o, &buf2, &len2, &err), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    free(buf2);
    cb_outcome_encoder_destroy(enc);
    assert_int_equal(cb_codec_decode_outcome(reader, buf, len, &back, &err), 0);
    assert_string_equal(back.outcome_id, "it-merge-1/0");
    assert_int_equal(back.revocation_reason, CB_REASON_CESSATION_OF_OPERATION);
    assert_int_equal(back.http_status, 200);
    cb_outcome_clear(&back);
    cb_outcome_clear(&o);
    free(buf);
    assert_int_equal(http_get("/subjects/it.outcomes-value/versions/latest", body), 200);
    assert_non_null(strstr(body, "CertificateActionOutcome"));
    cb_codec_destroy(c);
    cb_codec_destroy(reader);
}

static void test_unknown_id(void **state)
{
    cb_codec_t *c = codec_for(url, "certbridge");
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    assert_int_equal(cb_codec_decode_event(c, CB_EVENT_ORG, CB_FORMAT_AUTO,
                                           "\x00\x00\x0f\x42\x3f\x02", 6, &ev, &err),
                     -1);
    assert_int_equal(err.code, CB_ERR_NOTFOUND);
    assert_int_equal(err.flags, 0u); /* permanent */
    assert_string_equal(err.msg, "unknown schema id 999999 (the Schema Registry answered 404); "
                                 "register the writer schema");
    cb_codec_destroy(c);
}

/* A 404 that is not the registry's "schema not found" (error_code 40403):
 * a wrong base URL gives it for every message alike (Apicurio answers a path
 * it does not serve with 404 and error_code 0), so it holds the batch
 * (retriable) instead of dead-lettering every framed message. */
static void test_wrong_base_url(void **state)
{
    char wrong[300];
    cb_codec_t *c;
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    snprintf(wrong, sizeof(wrong), "%s/not-the-registry", url);
    c = codec_for(wrong, "certbridge");
    assert_int_equal(cb_codec_decode_event(c, CB_EVENT_ORG, CB_FORMAT_AUTO,
                                           "\x00\x00\x00\x00\x01\x02", 6, &ev, &err),
                     -1);
    assert_int_equal(err.code, CB_ERR_TRANSPORT);
    assert_int_equal(err.flags, CB_ERRF_RETRIABLE);
    assert_non_null(strstr(err.msg, "answered HTTP 404 without the registry's error_code 40403"));
    cb_codec_destroy(c);
}

static void test_wrong_credentials(void **state)
{
    cb_codec_t *c = codec_for(url, NULL);
    cb_event_t ev;
    cb_error_t err;

    (void)state;
    assert_int_equal(cb_codec_decode_event(c, CB_EVENT_ORG, CB_FORMAT_AUTO,
                                           "\x00\x00\x00\x00\x01\x02", 6, &ev, &err),
                     -1);
    assert_int_equal(err.code, CB_ERR_TRANSPORT);
    assert_int_equal(err.flags, CB_ERRF_RETRIABLE);
    assert_non_null(strstr(err.msg, "answered HTTP 401"));
    cb_codec_destroy(c);
}

/* No registry at all (a fault the real one cannot show while running): a
 * port with no listener; retriable, never a dead letter. */
static void test_registry_down_no_listener(void **state)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    char down[64];
    int s = socket(AF_INET, SOCK_STREAM, 0);
    cb_codec_t *c;
    cb_event_t ev;
    cb_outcome_t o;
    cb_error_t err;
    void *buf;
    size_t len;

    (void)state;
    /* a port that was free a moment ago and has no listener now */
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    close(s);
    snprintf(down, sizeof(down), "http://127.0.0.1:%u", ntohs(sa.sin_port));
    c = codec_for(down, NULL);
    assert_int_equal(cb_codec_decode_event(c, CB_EVENT_PERSON, CB_FORMAT_AUTO,
                                           "\x00\x00\x00\x00\x01\x02", 6, &ev, &err),
                     -1);
    assert_int_equal(err.code, CB_ERR_TRANSPORT);
    assert_int_equal(err.flags, CB_ERRF_RETRIABLE);
    assert_non_null(strstr(err.msg, "unreachable"));
    assert_null(cb_outcome_encoder_new(c, "it.outcomes", &err));
    assert_int_equal(err.flags, CB_ERRF_RETRIABLE);
    cb_outcome_init(&o);
    assert_int_equal(cb_codec_encode_outcome(c, &o, &buf, &len, &err), -1);
    assert_int_equal(err.code, CB_ERR_TRANSPORT);
    cb_codec_destroy(c);
}

/* A codec for the registry with extra configuration keys (NULL-ended
 * key, value pairs). */
static cb_codec_t *codec_with(const char *u, const char *const *kv)
{
    cb_config_t *cfg = config_for(u, "certbridge");
    cb_error_t err;
    cb_codec_t *c;

    for (; kv && kv[0]; kv += 2)
        assert_int_equal(cb_config_set(cfg, kv[0], kv[1], &err), 0);
    c = cb_codec_new(cfg, &err);
    if (!c)
        fail_msg("cb_codec_new: %s", err.msg);
    cb_config_destroy(cfg);
    return c;
}

/* The outcome schema registered under each subject strategy, with BACKWARD
 * set on a subject that had no level (Apicurio's global default is NONE,
 * and it reports the global level for such a subject). */
static void test_subject_strategies(void **state)
{
    static const struct {
        const char *strategy, *subject;
    } cases[] = {
        {"TopicNameStrategy", "it.strategy-value"},
        {"RecordNameStrategy", "vn.gov.certbridge.CertificateActionOutcome"},
        {"TopicRecordNameStrategy", "it.strategy-vn.gov.certbridge.CertificateActionOutcome"},
    };
    char body[65536], level[64], path[256];
    size_t i;

    (void)state;
    subject_level(NULL, level);
    assert_string_equal(level, "NONE"); /* Apicurio's default (Confluent's: BACKWARD) */
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *kv[] = {"schema_registry.subject_name_strategy", cases[i].strategy, NULL};
        cb_codec_t *c = codec_with(url, kv);
        cb_outcome_encoder_t *enc;
        cb_error_t err;

        enc = cb_outcome_encoder_new(c, "it.strategy", &err);
        if (!enc)
            fail_msg("%s: %s", cases[i].strategy, err.msg);
        cb_outcome_encoder_destroy(enc);
        snprintf(path, sizeof(path), "/subjects/%s/versions/latest", cases[i].subject);
        assert_int_equal(http_get(path, body), 200);
        assert_non_null(strstr(body, "CertificateActionOutcome"));
        subject_level(cases[i].subject, level);
        assert_string_equal(level, "BACKWARD");
        cb_codec_destroy(c);
    }
    /* the other subjects named by no strategy in use were not made */
    assert_int_equal(http_get("/subjects", body), 200);
    assert_null(strstr(body, "\"it.strategy\""));
}

/* A subject with a level of its own keeps it; schema_registry.compatibility
 * =keep sets none. */
static void test_compatibility_kept(void **state)
{
    const char *keep[] = {"schema_registry.compatibility", "keep", NULL};
    cb_codec_t *c = codec_for(url, "certbridge"), *k = codec_with(url, keep);
    cb_outcome_encoder_t *enc;
    char body[65536], level[64], global[64];
    cb_error_t err;

    (void)state;
    assert_int_equal(http_req("PUT", "/config/it.own-level-value",
                              "{\"compatibility\":\"FORWARD\"}", body, NULL),
                     200);
    assert_non_null(enc = cb_outcome_encoder_new(c, "it.own-level", &err));
    cb_outcome_encoder_destroy(enc);
    subject_level("it.own-level-value", level);
    assert_string_equal(level, "FORWARD");

    subject_level(NULL, global);
    assert_non_null(enc = cb_outcome_encoder_new(k, "it.never-set", &err));
    cb_outcome_encoder_destroy(enc);
    subject_level("it.never-set-value", level);
    assert_string_equal(level, global);
    assert_string_not_equal(level, "BACKWARD");
    cb_codec_destroy(c);
    cb_codec_destroy(k);
}

/* An incompatible schema registered first under the outcome subject: with
 * BACKWARD set, the registry refuses certbridge's schema (409, error_code 0
 * on Apicurio, 409 on Confluent) and the encoder fails with CB_ERR_CONFIG
 * (exit code 2 at start) naming the subject and the registry's reason. */
static void test_compatibility_refused(void **state)
{
    cb_codec_t *c = codec_for(url, "certbridge");
    cb_error_t err;
    char level[64];

    (void)state;
    register_raw("it.incompatible-value",
                 "{\"type\":\"record\",\"name\":\"CertificateActionOutcome\",\"namespace\":"
                 "\"vn.gov.certbridge\",\"fields\":[{\"name\":\"legacy_id\",\"type\":\"long\"}]}",
                 NULL);
    assert_null(cb_outcome_encoder_new(c, "it.incompatible", &err));
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_int_equal(err.flags, 0u);
    assert_non_null(strstr(err.msg, "subject it.incompatible-value: the Schema Registry refused "
                                    "the schema as incompatible with the subject's versions "
                                    "(HTTP 409): "));
    assert_non_null(strstr(err.msg, "Incompatible artifact: it.incompatible-value")); /* reason */
    subject_level("it.incompatible-value", level);
    assert_string_equal(level, "BACKWARD");
    cb_codec_destroy(c);
}

/* A compatibility level that is not one is refused by the configuration:
 * the registry would answer 500 with error_code 0 (Confluent 422, 42203). */
static void test_compatibility_level_checked(void **state)
{
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;

    (void)state;
    assert_int_equal(cb_config_set(cfg, "schema_registry.compatibility", "FOO", &err), -1);
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "schema_registry.compatibility: \"FOO\" is not one of"));
    cb_config_destroy(cfg);
}

/* The same schema with other whitespace: Apicurio gives it an id of its
 * own (Confluent the same id); certbridge encodes with the id its own
 * registration answered and every reader decodes either. */
static void test_other_whitespace_other_id(void **state)
{
    const char *kv[] = {"schema_registry.compatibility", "keep", NULL};
    cb_codec_t *c = codec_with(url, kv), *reader = codec_for(url, "certbridge");
    cb_outcome_encoder_t *enc;
    cb_outcome_t o, back;
    cb_error_t err;
    size_t len;
    const char *text = cb_schema_text(CB_SCHEMA_OUTCOME, &len);
    json_t *j = json_loadb(text, len, 0, NULL);
    char *compact = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    uint32_t other;
    void *buf;

    (void)state;
    other = register_raw("it.whitespace-value", compact, NULL);
    assert_non_null(enc = cb_outcome_encoder_new(c, "it.whitespace", &err));
    cb_outcome_init(&o);
    o.outcome_id = strdup("ws/0");
    o.source_event_id = strdup("ws");
    o.source_event_type = strdup("MERGED");
    o.source_topic = strdup("it.org-events");
    o.action = CB_ACTION_RETAIN;
    o.holder_type = CB_HOLDER_ORGANIZATION;
    o.holder_id = strdup("000.00.12.H19");
    o.status = CB_STATUS_SUCCEEDED;
    assert_int_equal(cb_outcome_encoder_encode(enc, &o, &buf, &len, &err), 0);
    assert_int_not_equal(frame_id(buf), other);
    assert_int_equal(cb_codec_decode_outcome(reader, buf, len, &back, &err), 0);
    assert_string_equal(back.outcome_id, "ws/0");
    cb_outcome_clear(&back);
    /* the same bytes framed with the other id decode alike */
    ((unsigned char *)buf)[1] = (unsigned char)(other >> 24);
    ((unsigned char *)buf)[2] = (unsigned char)(other >> 16);
    ((unsigned char *)buf)[3] = (unsigned char)(other >> 8);
    ((unsigned char *)buf)[4] = (unsigned char)other;
    assert_int_equal(cb_codec_decode_outcome(reader, buf, len, &back, &err), 0);
    assert_string_equal(back.outcome_id, "ws/0");
    cb_outcome_clear(&back);
    cb_outcome_clear(&o);
    cb_outcome_encoder_destroy(enc);
    free(buf);
    free(compact);
    json_decref(j);
    cb_codec_destroy(c);
    cb_codec_destroy(reader);
}

/* An OrgEvent writer schema whose Org record is registered as a subject of
 * its own and referenced (org, merged_orgs), its union of org's address
 * widened with a long: certbridge fetches the reference and decodes. */
static void test_references(void **state)
{
    cb_codec_t *plain = codec_for(url, "certbridge"), *consumer = codec_for(url, "certbridge");
    size_t len, i;
    const char *text = cb_schema_text(CB_SCHEMA_ORG_EVENT, &len);
    json_t *ev = json_loadb(text, len, 0, NULL), *fields = json_object_get(ev, "fields"), *f;
    json_t *org = NULL;
    char *org_text, *ev_text, refs[256];
    cb_event_t in, back;
    cb_error_t err;
    uint32_t id;
    void *buf;
    unsigned char *framed;

    (void)state;
    json_array_foreach(fields, i, f)
    {
        if (!strcmp(json_string_value(json_object_get(f, "name")), "org")) {
            org = json_deep_copy(json_object_get(f, "type"));
            json_object_set_new(f, "type", json_string("vn.gov.certbridge.Org"));
        }
    }
    assert_non_null(org);
    /* the referenced Org itself widened: address is ["null", "string", "long"] */
    json_array_foreach(json_object_get(org, "fields"), i, f)
    {
        if (!strcmp(json_string_value(json_object_get(f, "name")), "address"))
            json_array_append_new(json_object_get(f, "type"), json_string("long"));
    }
    json_object_set_new(org, "namespace", json_string("vn.gov.certbridge"));
    org_text = json_dumps(org, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ev_text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    register_raw("it.ref.vn.gov.certbridge.Org", org_text, NULL);
    snprintf(refs, sizeof(refs),
             "[{\"name\":\"vn.gov.certbridge.Org\",\"subject\":\"it.ref.vn.gov.certbridge.Org\","
             "\"version\":1}]");
    id = register_raw("it.ref-value", ev_text, refs);

    cb_event_init(&in);
    in.kind = CB_EVENT_ORG;
    in.type = CB_ORG_MERGED;
    in.event_id = strdup("ref-1");
    in.occurred_at_ms = 1751328000000LL;
    in.effective_date = 20270;
    in.source_system = strdup("hrm");
    fill_org(&in.org, "000.00.31.H19", "Sở Nông nghiệp và Môi trường");
    in.org.address = strdup("Biên Hòa");
    in.merged_orgs = calloc(2, sizeof(cb_org_t));
    in.merged_count = 2;
    fill_org(&in.merged_orgs[0], "000.00.12.H19", "Sở Nông nghiệp");
    fill_org(&in.merged_orgs[1], "000.00.13.H19", "Sở Tài nguyên và Môi trường");
    /* certbridge's own layout writes the same bytes: the union branches
     * null and string keep their indexes */
    assert_int_equal(cb_codec_encode_event(plain, CB_FORMAT_AVRO, &in, &buf, &len, &err), 0);
    framed = malloc(len + 5);
    framed[0] = 0;
    framed[1] = (unsigned char)(id >> 24);
    framed[2] = (unsigned char)(id >> 16);
    framed[3] = (unsigned char)(id >> 8);
    framed[4] = (unsigned char)id;
    memcpy(framed + 5, buf, len);
    if (cb_codec_decode_event(consumer, CB_EVENT_ORG, CB_FORMAT_AUTO, framed, len + 5, &back,
                              &err) < 0)
        fail_msg("decode: %s", err.msg);
    assert_string_equal(back.org.name, "Sở Nông nghiệp và Môi trường");
    assert_string_equal(back.org.address, "Biên Hòa");
    assert_int_equal(back.merged_count, 2);
    assert_string_equal(back.merged_orgs[1].name, "Sở Tài nguyên và Môi trường");
    cb_event_clear(&back);
    cb_event_clear(&in);
    free(buf);
    free(framed);
    free(org_text);
    free(ev_text);
    json_decref(org);
    json_decref(ev);
    cb_codec_destroy(plain);
    cb_codec_destroy(consumer);
}

/* HTTPS with a pinned CA bundle and a client certificate (and basic auth):
 * round trip; no client certificate, a client certificate of another CA, or
 * a bundle without the registry's CA: retriable transport errors. */
static void test_tls(void **state)
{
    char ca[600], cert[600], key[600], ocert[600], okey[600], oca[600];
    const char *ok[] = {"schema_registry.tls.ca_bundle",
                        ca,
                        "schema_registry.tls.cert",
                        cert,
                        "schema_registry.tls.key",
                        key,
                        NULL};
    const char *nocert[] = {"schema_registry.tls.ca_bundle", ca, NULL};
    const char *othercert[] = {"schema_registry.tls.ca_bundle",
                               ca,
                               "schema_registry.tls.cert",
                               ocert,
                               "schema_registry.tls.key",
                               okey,
                               NULL};
    const char *otherca[] = {"schema_registry.tls.ca_bundle",
                             oca,
                             "schema_registry.tls.cert",
                             cert,
                             "schema_registry.tls.key",
                             key,
                             NULL};
    const char *const *bad[] = {nocert, othercert, otherca};
    cb_codec_t *c;
    cb_outcome_encoder_t *enc;
    cb_event_t ev, back;
    cb_error_t err;
    void *buf;
    size_t len, i;

    (void)state;
    snprintf(ca, sizeof(ca), "%s/ca.pem", tls_dir);
    snprintf(cert, sizeof(cert), "%s/client.pem", tls_dir);
    snprintf(key, sizeof(key), "%s/client.key", tls_dir);
    snprintf(ocert, sizeof(ocert), "%s/other-client.pem", tls_dir);
    snprintf(okey, sizeof(okey), "%s/other-client.key", tls_dir);
    snprintf(oca, sizeof(oca), "%s/other-ca.pem", tls_dir);
    assert_int_equal(strncmp(https_url, "https://127.0.0.1:", 18), 0);
    c = codec_with(https_url, ok);
    assert_non_null(enc = cb_outcome_encoder_new(c, "it.tls", &err));
    cb_outcome_encoder_destroy(enc);
    cb_event_init(&ev);
    ev.kind = CB_EVENT_ORG;
    ev.type = CB_ORG_RENAMED;
    ev.event_id = strdup("tls-1");
    ev.source_system = strdup("hrm");
    fill_org(&ev.org, "000.00.31.H19", "Sở Xây dựng");
    assert_int_equal(cb_codec_encode_event(c, CB_FORMAT_CONFLUENT, &ev, &buf, &len, &err), 0);
    cb_codec_destroy(c);
    c = codec_with(https_url, ok); /* an empty cache: fetched over HTTPS */
    assert_int_equal(
        cb_codec_decode_event(c, CB_EVENT_ORG, CB_FORMAT_CONFLUENT, buf, len, &back, &err), 0);
    assert_string_equal(back.org.name, "Sở Xây dựng");
    cb_event_clear(&back);
    cb_codec_destroy(c);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = codec_with(https_url, bad[i]);
        assert_int_equal(
            cb_codec_decode_event(c, CB_EVENT_ORG, CB_FORMAT_CONFLUENT, buf, len, &back, &err), -1);
        assert_int_equal(err.code, CB_ERR_TRANSPORT);
        assert_int_equal(err.flags, CB_ERRF_RETRIABLE);
        assert_non_null(strstr(err.msg, "unreachable"));
        cb_codec_destroy(c);
    }
    /* a key without its certificate, and an unreadable file: configuration */
    {
        cb_config_t *cfg = config_for(https_url, "certbridge");
        assert_int_equal(cb_config_set(cfg, "schema_registry.tls.key", key, &err), 0);
        assert_null(cb_codec_new(cfg, &err));
        assert_int_equal(err.code, CB_ERR_CONFIG);
        assert_string_equal(err.msg, "schema_registry.tls.key: schema_registry.tls.cert and "
                                     "schema_registry.tls.key go together");
        assert_int_equal(cb_config_set(cfg, "schema_registry.tls.cert", "/nonexistent.pem", &err),
                         0);
        assert_null(cb_codec_new(cfg, &err));
        assert_string_equal(err.msg, "schema_registry.tls.cert: cannot read \"/nonexistent.pem\"");
        cb_config_destroy(cfg);
    }
    cb_event_clear(&ev);
    free(buf);
}

/* Reads FILE's first line into buf; 0 when it has none. */
static int first_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    int ok = f && fgets(buf, (int)size, f);

    if (f)
        fclose(f);
    if (ok)
        buf[strcspn(buf, "\r\n")] = '\0';
    return ok;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_round_trip),
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_unknown_id),
        cmocka_unit_test(test_wrong_credentials),
        cmocka_unit_test(test_wrong_base_url),
        cmocka_unit_test(test_subject_strategies),
        cmocka_unit_test(test_compatibility_kept),
        cmocka_unit_test(test_compatibility_refused),
        cmocka_unit_test(test_compatibility_level_checked),
        cmocka_unit_test(test_other_whitespace_other_id),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_registry_down_no_listener),
    };
    char path[600];

    if (argc != 3) {
        fprintf(stderr, "usage: %s STATE_DIR PASSWORD_FILE\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof(path), "%s/url", argv[1]);
    if (!first_line(path, url, sizeof(url))) {
        fprintf(stderr, "%s: no registry URL (fixture not started?)\n", path);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/https_url", argv[1]);
    if (!first_line(path, https_url, sizeof(https_url))) {
        fprintf(stderr, "%s: no HTTPS URL (fixture started without --tls?)\n", path);
        return 1;
    }
    snprintf(tls_dir, sizeof(tls_dir), "%s/tls", argv[1]);
    password_file = argv[2];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
