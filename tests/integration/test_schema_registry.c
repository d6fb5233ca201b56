/* test_schema_registry.c: the codec against a Schema Registry started by
 * harness/registry_harness.py (fixture "registry", HTTP basic auth on):
 * register + encode + decode events and outcomes in Confluent framing, the
 * registry's ids and subjects, an unknown schema id, wrong credentials, and a
 * registry that is down (retriable, never a dead letter).
 *
 * Usage: test_schema_registry URL_FILE PASSWORD_FILE */
#include "../unit/cb_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "certbridge/codec.h"
#include "certbridge/config.h"

static char url[256];
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

/* GET url+path with the harness's credentials; the body into buf. */
static size_t collect(char *p, size_t s, size_t n, void *opaque)
{
    char *buf = opaque;
    size_t have = strlen(buf), add = s * n;
    if (have + add >= 16384)
        return 0;
    memcpy(buf + have, p, add);
    buf[have + add] = '\0';
    return add;
}

static long http_get(const char *path, char *buf)
{
    char full[512], pw[128] = "";
    FILE *f = fopen(password_file, "r");
    CURL *c = curl_easy_init();
    long status = 0;

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
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static void test_events_round_trip(void **state)
{
    cb_codec_t *producer = codec_for(url, "certbridge");
    cb_codec_t *consumer = codec_for(url, "certbridge"); /* empty cache: fetches by id */
    cb_event_t ev, back;
    cb_error_t err;
    void *buf, *buf2;
    size_t len, len2;
    char body[16384];

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
    assert_int_equal(http_get(body, body), 200);
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
    char body[16384];

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
 * a wrong base URL gives it for every message alike, so it holds the batch
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

static void test_registry_down(void **state)
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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_round_trip), cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_unknown_id),        cmocka_unit_test(test_wrong_credentials),
        cmocka_unit_test(test_wrong_base_url),    cmocka_unit_test(test_registry_down),
    };
    FILE *f;

    if (argc != 3) {
        fprintf(stderr, "usage: %s URL_FILE PASSWORD_FILE\n", argv[0]);
        return 2;
    }
    if (!(f = fopen(argv[1], "r")) || !fgets(url, sizeof(url), f)) {
        fprintf(stderr, "%s: no registry URL (fixture not started?)\n", argv[1]);
        return 1;
    }
    fclose(f);
    url[strcspn(url, "\r\n")] = '\0';
    password_file = argv[2];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
