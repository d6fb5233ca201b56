/*
 * test_ca_client.c: the CA client's answer classification, backoff,
 * Retry-After parsing and configuration checks (no server needed).
 */
#include "cb_test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certbridge/ca_client.h"

static void test_classify_http(void **state)
{
    static const struct {
        long status;
        const char *answer;
        cb_ca_class_t want;
    } cases[] = {
        {200, "SUCCEEDED", CB_CA_SUCCESS},
        {200, "REVOKED", CB_CA_SUCCESS},
        {201, "SUCCEEDED", CB_CA_SUCCESS},
        {200, NULL, CB_CA_SUCCESS},
        {200, "ALREADY_REVOKED", CB_CA_ALREADY},
        {200, "ALREADY_RECALLED", CB_CA_ALREADY},
        {200, "ALREADY_RETURNED", CB_CA_ALREADY},
        {200, "RETURNED", CB_CA_SUCCESS},
        {200, "ALREADY_DONE", CB_CA_ALREADY},
        {409, "ALREADY_REVOKED", CB_CA_ALREADY},
        {409, "CERTIFICATE_NOT_ACTIVE", CB_CA_PERMANENT},
        {202, "PENDING", CB_CA_PENDING},
        {200, "PENDING", CB_CA_PENDING},
        {200, "FAILED", CB_CA_PERMANENT},
        {400, "MALFORMED_BODY", CB_CA_PERMANENT},
        {401, NULL, CB_CA_PERMANENT},
        {403, NULL, CB_CA_PERMANENT},
        {404, "CERTIFICATE_NOT_FOUND", CB_CA_PERMANENT},
        {405, NULL, CB_CA_PERMANENT},
        {413, NULL, CB_CA_PERMANENT},
        {422, "INVALID_SUBJECT", CB_CA_PERMANENT},
        {408, NULL, CB_CA_RETRY},
        {425, NULL, CB_CA_RETRY},
        {429, NULL, CB_CA_RETRY},
        {500, "INTERNAL", CB_CA_RETRY},
        {502, NULL, CB_CA_RETRY},
        {503, "UNAVAILABLE", CB_CA_RETRY},
        {504, NULL, CB_CA_RETRY},
        {503, "ALREADY_REVOKED", CB_CA_RETRY},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cb_ca_class_t got = cb_ca_classify(0, NULL, cases[i].status, cases[i].answer);
        if (got != cases[i].want)
            fail_msg("HTTP %ld %s: class %d, want %d", cases[i].status,
                     cases[i].answer ? cases[i].answer : "(none)", got, cases[i].want);
    }
}

/* Parses one answer to a poll of a request (GET /v1/requests/{id}). */
static void parse_poll(cb_ca_req_t *r, long status, const char *body)
{
    memset(r, 0, sizeof(*r));
    r->op = CB_CA_REQUEST;
    r->request_id = "REQ-01";
    cb_ca_answer_parse(r, status, body, strlen(body));
    assert_int_equal(r->http_status, status);
}

/* Pages: next_cursor and total of a lookup page, the tokens of a devices
 * page, and answers that break the page's rules. */
static void test_pages(void **state)
{
    cb_ca_req_t r;
    char body[600];

    (void)state;
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_LOOKUP;
    r.page_size = 2;
    snprintf(body, sizeof(body),
             "{\"certificates\":[{\"serial\":\"0A\",\"holder_type\":\"PERSON\",\"holder_id\":"
             "\"P-1\",\"subject\":\"CN=A,C=VN\",\"status\":\"active\"}],\"page_size\":2,"
             "\"next_cursor\":\"c1-7.900.0badcafe\",\"total\":901}");
    cb_ca_answer_parse(&r, 200, body, strlen(body));
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_int_equal(r.cert_count, 1);
    assert_string_equal(r.certs[0].holder_type, "PERSON");
    assert_string_equal(r.next_cursor, "c1-7.900.0badcafe");
    assert_int_equal(r.total, 901);
    cb_ca_req_clear(&r);
    assert_null(r.next_cursor);
    assert_int_equal(r.total, 0);

    /* the last page: no cursor */
    r.op = CB_CA_LOOKUP;
    snprintf(body, sizeof(body), "{\"certificates\":[],\"next_cursor\":null}");
    cb_ca_answer_parse(&r, 200, body, strlen(body));
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_null(r.next_cursor);
    cb_ca_req_clear(&r);

    /* a cursor that is not a string, or longer than CB_CA_CURSOR_MAX */
    r.op = CB_CA_LOOKUP;
    snprintf(body, sizeof(body), "{\"certificates\":[],\"next_cursor\":7}");
    cb_ca_answer_parse(&r, 200, body, strlen(body));
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_string_equal(r.error_code, "invalid_answer");
    cb_ca_req_clear(&r);
    r.op = CB_CA_LOOKUP;
    snprintf(body, sizeof(body), "{\"certificates\":[],\"next_cursor\":\"%0300d\"}", 1);
    cb_ca_answer_parse(&r, 200, body, strlen(body));
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    cb_ca_req_clear(&r);

    r.op = CB_CA_DEVICES;
    snprintf(
        body, sizeof(body),
        "{\"devices\":[{\"device_id\":\"TK-1\",\"status\":\"recalled\",\"recalled_at\":"
        "\"2025-07-01T00:00:00Z\",\"holder_type\":\"PERSON\",\"holder_id\":\"P-1\","
        "\"org_code\":\"000.00.01.H54\"},{\"device_id\":\"TK-2\",\"status\":\"returned\","
        "\"recalled_at\":\"2025-07-01T00:00:00Z\",\"returned_at\":\"2025-07-03T00:00:00Z\"}]}");
    cb_ca_answer_parse(&r, 200, body, strlen(body));
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_int_equal(r.device_count, 2);
    assert_string_equal(r.devices[0].org_code, "000.00.01.H54");
    assert_int_equal(r.devices[0].recalled_at_ms, 1751328000000LL);
    assert_int_equal(r.devices[0].returned_at_ms, 0);
    assert_int_equal(r.devices[1].returned_at_ms - r.devices[1].recalled_at_ms, 2 * 86400000LL);
    assert_null(r.devices[1].holder_id);
    cb_ca_req_clear(&r);
    r.op = CB_CA_DEVICES;
    snprintf(body, sizeof(body), "{\"devices\":[{\"status\":\"recalled\"}]}");
    cb_ca_answer_parse(&r, 200, body, strlen(body));
    assert_int_equal(r.klass, CB_CA_PERMANENT); /* a token without its id */
    cb_ca_req_clear(&r);
}

/* The states of a polled request (ca_client.h, "Polling a request"). */
static void test_request_states(void **state)
{
    cb_ca_req_t r;

    (void)state;
    parse_poll(&r, 200, "{\"request_id\":\"REQ-01\",\"state\":\"PENDING\",\"op\":\"revoke\"}");
    assert_int_equal(r.klass, CB_CA_PENDING);
    assert_string_equal(r.request_id_out, "REQ-01");
    assert_null(r.new_serial);
    assert_null(r.error_code);
    cb_ca_req_clear(&r);

    /* COMPLETED: the result's fields */
    parse_poll(&r, 200,
               "{\"request_id\":\"REQ-01\",\"state\":\"COMPLETED\",\"op\":\"change-info\","
               "\"http_status\":200,\"result\":{\"status\":\"SUCCEEDED\",\"serial\":\"0A1B\","
               "\"new_serial\":\"0C2D\"}}");
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_string_equal(r.new_serial, "0C2D");
    assert_string_equal(r.request_id_out, "REQ-01");
    assert_null(r.error_code);
    cb_ca_req_clear(&r);

    parse_poll(&r, 200,
               "{\"request_id\":\"REQ-01\",\"state\":\"COMPLETED\",\"op\":\"revoke\","
               "\"result\":{\"status\":\"ALREADY_REVOKED\",\"serial\":\"0A1B\"}}");
    assert_int_equal(r.klass, CB_CA_ALREADY);
    cb_ca_req_clear(&r);

    /* REJECTED: the result's problem, nothing applied */
    parse_poll(
        &r, 200,
        "{\"request_id\":\"REQ-01\",\"state\":\"REJECTED\",\"op\":\"change-info\","
        "\"http_status\":422,\"result\":{\"type\":\"https://certbridge.invalid/problems/"
        "subject-mismatch\",\"title\":\"SUBJECT_MISMATCH\",\"status\":422,\"detail\":"
        "\"the subject does not match the registration file\",\"code\":\"SUBJECT_MISMATCH\"}}");
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_string_equal(r.error_code, "SUBJECT_MISMATCH");
    assert_string_equal(r.error_message, "the subject does not match the registration file");
    assert_null(r.new_serial);
    cb_ca_req_clear(&r);

    /* a refusal met when the call was finally applied */
    parse_poll(&r, 200,
               "{\"request_id\":\"REQ-01\",\"state\":\"REJECTED\",\"op\":\"change-info\","
               "\"result\":{\"status\":409,\"code\":\"CERTIFICATE_NOT_ACTIVE\"}}");
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_string_equal(r.error_code, "CERTIFICATE_NOT_ACTIVE");
    assert_string_equal(r.error_message, "the CA rejected the request");
    cb_ca_req_clear(&r);

    /* REJECTED without a result: the state names the refusal */
    parse_poll(&r, 200, "{\"request_id\":\"REQ-01\",\"state\":\"REJECTED\"}");
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_string_equal(r.error_code, "REJECTED");
    assert_string_equal(r.error_message, "the CA rejected the request");
    cb_ca_req_clear(&r);

    /* EXPIRED: error_code EXPIRED whatever the problem's code */
    parse_poll(&r, 200,
               "{\"request_id\":\"REQ-01\",\"state\":\"EXPIRED\",\"op\":\"revoke\","
               "\"http_status\":410,\"result\":{\"status\":410,\"code\":\"TIMED_OUT\","
               "\"detail\":\"nobody confirmed it in time\"}}");
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_string_equal(r.error_code, "EXPIRED");
    assert_string_equal(r.error_message, "nobody confirmed it in time");
    cb_ca_req_clear(&r);
    parse_poll(&r, 200, "{\"request_id\":\"REQ-01\",\"state\":\"EXPIRED\"}");
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_string_equal(r.error_code, "EXPIRED");
    assert_non_null(strstr(r.error_message, "expire"));
    cb_ca_req_clear(&r);

    /* a state this client does not know, or the spellings of earlier
     * reference CAs, or none: not final */
    parse_poll(&r, 200,
               "{\"request_id\":\"REQ-01\",\"state\":\"AWAITING_SIGNATURE\",\"result\":"
               "{\"status\":\"SUCCEEDED\",\"new_serial\":\"0C2D\"}}");
    assert_int_equal(r.klass, CB_CA_RETRY);
    assert_string_equal(r.error_code, "UNKNOWN_STATE");
    assert_non_null(strstr(r.error_message, "\"AWAITING_SIGNATURE\""));
    assert_null(r.new_serial);
    cb_ca_req_clear(&r);
    parse_poll(&r, 200,
               "{\"request_id\":\"REQ-01\",\"state\":\"SUCCEEDED\",\"result\":"
               "{\"status\":\"SUCCEEDED\",\"new_serial\":\"0C2D\"}}");
    assert_int_equal(r.klass, CB_CA_RETRY);
    assert_string_equal(r.error_code, "UNKNOWN_STATE");
    cb_ca_req_clear(&r);
    parse_poll(&r, 200, "{\"request_id\":\"REQ-01\",\"state\":\"FAILED\"}");
    assert_int_equal(r.klass, CB_CA_RETRY);
    assert_string_equal(r.error_code, "UNKNOWN_STATE");
    cb_ca_req_clear(&r);
    parse_poll(&r, 200, "{\"request_id\":\"REQ-01\",\"status\":\"SUCCEEDED\"}");
    assert_int_equal(r.klass, CB_CA_RETRY);
    assert_string_equal(r.error_code, "UNKNOWN_STATE");
    assert_non_null(strstr(r.error_message, "(none)"));
    cb_ca_req_clear(&r);
    parse_poll(&r, 200, "{\"request_id\":\"REQ-01\",\"state\":7}");
    assert_int_equal(r.klass, CB_CA_RETRY);
    assert_string_equal(r.error_code, "UNKNOWN_STATE");
    cb_ca_req_clear(&r);

    /* not JSON; an unknown id; a CA that is busy */
    parse_poll(&r, 200, "COMPLETED");
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_string_equal(r.error_code, "invalid_answer");
    cb_ca_req_clear(&r);
    parse_poll(&r, 404, "{\"status\":404,\"code\":\"REQUEST_NOT_FOUND\"}");
    assert_int_equal(r.klass, CB_CA_PERMANENT);
    assert_string_equal(r.error_code, "REQUEST_NOT_FOUND");
    cb_ca_req_clear(&r);
    parse_poll(&r, 429, "{\"status\":429,\"code\":\"RATE_LIMITED\"}");
    assert_int_equal(r.klass, CB_CA_RETRY);
    assert_string_equal(r.error_code, "RATE_LIMITED");
    cb_ca_req_clear(&r);

    /* the state decides only for a poll: a change-info answer with a
     * "state" member is classified by its status */
    memset(&r, 0, sizeof(r));
    r.op = CB_CA_CHANGE_INFO;
    cb_ca_answer_parse(
        &r, 200, "{\"status\":\"SUCCEEDED\",\"state\":\"REJECTED\",\"new_serial\":\"0C2D\"}",
        strlen("{\"status\":\"SUCCEEDED\",\"state\":\"REJECTED\",\"new_serial\":\"0C2D\"}"));
    assert_int_equal(r.klass, CB_CA_SUCCESS);
    assert_string_equal(r.new_serial, "0C2D");
    cb_ca_req_clear(&r);
}

static void test_classify_transport(void **state)
{
    static const struct {
        int code;
        const char *msg;
        cb_ca_class_t want;
    } cases[] = {
        {CURLE_COULDNT_CONNECT, "Failed to connect", CB_CA_RETRY},
        {CURLE_COULDNT_RESOLVE_HOST, NULL, CB_CA_RETRY},
        {CURLE_OPERATION_TIMEDOUT, "Operation timed out", CB_CA_RETRY},
        {CURLE_GOT_NOTHING, "Empty reply from server", CB_CA_RETRY},
        {CURLE_RECV_ERROR, "OpenSSL SSL_read: unexpected eof while reading", CB_CA_RETRY},
        {CURLE_SEND_ERROR, "Connection reset by peer", CB_CA_RETRY},
        {CURLE_PARTIAL_FILE, NULL, CB_CA_RETRY},
        {CURLE_SSL_CONNECT_ERROR, "Connection reset by peer", CB_CA_RETRY},
        /* the server refusing our certificate: final */
        {CURLE_RECV_ERROR, "OpenSSL SSL_read: tlsv13 alert certificate required", CB_CA_PERMANENT},
        {CURLE_SSL_CONNECT_ERROR, "tlsv1 alert unknown ca", CB_CA_PERMANENT},
        /* our side's configuration or the server's identity: final */
        {CURLE_PEER_FAILED_VERIFICATION, NULL, CB_CA_PERMANENT},
        {CURLE_SSL_CERTPROBLEM, NULL, CB_CA_PERMANENT},
        {CURLE_SSL_CACERT_BADFILE, NULL, CB_CA_PERMANENT},
        {CURLE_URL_MALFORMAT, NULL, CB_CA_PERMANENT},
        {CURLE_UNSUPPORTED_PROTOCOL, NULL, CB_CA_PERMANENT},
        {CURLE_WRITE_ERROR, NULL, CB_CA_PERMANENT}, /* answer over CB_CA_BODY_MAX */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cb_ca_class_t got = cb_ca_classify(cases[i].code, cases[i].msg, 0, NULL);
        if (got != cases[i].want)
            fail_msg("curl %d (%s): class %d, want %d", cases[i].code,
                     cases[i].msg ? cases[i].msg : "", got, cases[i].want);
    }
}

static void test_backoff(void **state)
{
    int retry;
    uint64_t rnd;

    (void)state;
    /* rnd = 0 gives the lower bound (half the cap), a large rnd the cap */
    assert_int_equal(cb_ca_backoff_ms(1, 100, 10000, 0, 0), 50);
    assert_int_equal(cb_ca_backoff_ms(1, 100, 10000, 0, 50), 100);
    assert_int_equal(cb_ca_backoff_ms(2, 100, 10000, 0, 0), 100);
    assert_int_equal(cb_ca_backoff_ms(3, 100, 10000, 0, 0), 200);
    assert_int_equal(cb_ca_backoff_ms(4, 100, 10000, 0, 400), 800);
    /* capped at max_ms */
    assert_int_equal(cb_ca_backoff_ms(10, 100, 10000, 0, 0), 5000);
    assert_int_equal(cb_ca_backoff_ms(10, 100, 10000, 0, 5000), 10000);
    assert_int_equal(cb_ca_backoff_ms(60, 100, 10000, 0, 5000), 10000);
    /* Retry-After wins when longer, up to 60 s */
    assert_int_equal(cb_ca_backoff_ms(1, 100, 10000, 3000, 0), 3000);
    assert_int_equal(cb_ca_backoff_ms(10, 100, 10000, 3000, 5000), 10000);
    assert_int_equal(cb_ca_backoff_ms(1, 100, 10000, 3600000, 0), 60000);
    /* every draw stays in [cap/2, cap] */
    for (retry = 1; retry <= 8; retry++) {
        int64_t cap = 100LL << (retry - 1);
        if (cap > 10000)
            cap = 10000;
        for (rnd = 0; rnd < 5000; rnd += 37) {
            int64_t d = cb_ca_backoff_ms(retry, 100, 10000, 0, rnd * 0x9E3779B97F4A7C15ULL);
            assert_true(d >= cap / 2 && d <= cap);
        }
    }
}

static void test_retry_after(void **state)
{
    const int64_t now = 1784000000; /* 2026-07-14 */
    char date[64];
    time_t t = (time_t)(now + 30);
    struct tm tm;

    (void)state;
    assert_int_equal(cb_ca_retry_after_ms("1", now), 1000);
    assert_int_equal(cb_ca_retry_after_ms(" 7\r\n", now), 7000);
    assert_int_equal(cb_ca_retry_after_ms("0", now), 0);
    assert_int_equal(cb_ca_retry_after_ms("100000", now), 60000);
    assert_int_equal(cb_ca_retry_after_ms("soon", now), 0);
    assert_int_equal(cb_ca_retry_after_ms("5x", now), 0);
    assert_int_equal(cb_ca_retry_after_ms(NULL, now), 0);
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    assert_int_equal(cb_ca_retry_after_ms(date, now), 30000);
    /* a date in the past: no wait */
    assert_int_equal(cb_ca_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", now), 0);
}

/* Builds a client from key=value pairs; answers it or NULL with err. */
static cb_ca_client_t *client_from(const char *const *kv, cb_error_t *err)
{
    cb_config_t *cfg = cb_config_new();
    cb_ca_client_t *c;

    for (; *kv; kv += 2)
        assert_int_equal(cb_config_set(cfg, kv[0], kv[1], err), 0);
    c = cb_ca_client_new(cfg, err);
    cb_config_destroy(cfg);
    return c;
}

static void test_config_checks(void **state)
{
    const char *plain[] = {"ca.url", "http://127.0.0.1:1", NULL};
    const char *plain_ok[] = {"ca.url", "http://127.0.0.1:1", "ca.insecure_http_url",
                              "http://127.0.0.1:1", NULL};
    const char *plain_other[] = {"ca.url", "http://127.0.0.1:1", "ca.insecure_http_url",
                                 "http://127.0.0.1:2", NULL};
    const char *missing[] = {"ca.tls.cert", "/nonexistent/client.pem", "ca.tls.key",
                             "/nonexistent/client.key", NULL};
    const char *ftp[] = {"ca.url", "ftp://127.0.0.1", NULL};
    cb_ca_client_t *c;
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;

    (void)state;
    cb_error_clear(&err);
    assert_null(client_from(plain, &err));
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "ca.url"));
    assert_non_null(strstr(err.msg, "ca.insecure_http_url"));
    /* the insecure setting must name this very URL */
    assert_null(client_from(plain_other, &err));
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "ca.insecure_http_url"));

    c = client_from(plain_ok, &err);
    assert_non_null(c);
    cb_ca_client_destroy(c);

    assert_null(client_from(missing, &err));
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "ca.tls.cert"));

    assert_null(client_from(ftp, &err));
    assert_non_null(strstr(err.msg, "ca.url"));

    /* the defaults and ranges of the ca.* keys */
    assert_string_equal(cb_config_get(cfg, "ca.url"), "https://127.0.0.1:8443");
    assert_int_equal(cb_config_get_int(cfg, "ca.concurrency"), 8);
    assert_string_equal(cb_config_get(cfg, "ca.insecure_http_url"), "");
    assert_int_equal(cb_config_set(cfg, "ca.concurrency", "0", &err), -1);
    assert_non_null(strstr(err.msg, "ca.concurrency"));
    assert_int_equal(cb_config_set(cfg, "ca.concurrency", "1025", &err), -1);
    assert_int_equal(cb_config_set(cfg, "ca.concurrency", "1024", &err), 0);
    cb_config_destroy(cfg);
}

/* A transfer to a closed port fails as retriable, is retried up to
 * ca.max_attempts with backoff, and completes as CB_CA_RETRY; requests
 * beyond the concurrency wait their turn. */
static void test_unreachable_retries(void **state)
{
    const char *kv[] = {"ca.url",
                        "http://127.0.0.1:9",
                        "ca.insecure_http_url",
                        "http://127.0.0.1:9",
                        "ca.max_attempts",
                        "3",
                        "ca.retry_base_ms",
                        "20",
                        "ca.retry_max_ms",
                        "40",
                        "ca.concurrency",
                        "1",
                        NULL};
    cb_ca_req_t reqs[3], *done;
    cb_ca_client_t *c;
    cb_error_t err;
    int i, n = 0;

    (void)state;
    c = client_from(kv, &err);
    assert_non_null(c);
    memset(reqs, 0, sizeof(reqs));
    for (i = 0; i < 3; i++) {
        reqs[i].op = CB_CA_LOOKUP;
        reqs[i].holder_id = "000.00.00.H19";
        assert_int_equal(cb_ca_submit(c, &reqs[i], &err), 0);
    }
    assert_int_equal(cb_ca_pending(c), 3);
    while (n < 3 && (done = cb_ca_poll(c, 5000))) {
        assert_int_equal(done->klass, CB_CA_RETRY);
        assert_int_equal(done->attempts, 3);
        assert_int_equal(done->http_status, 0);
        assert_string_equal(done->error_code, "transport");
        /* two backoffs of at least 10 and 20 ms */
        assert_true(done->latency_ms >= 30);
        cb_ca_req_clear(done);
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(cb_ca_pending(c), 0);
    cb_ca_client_destroy(c);
}

/* The readiness probe completes apart from submitted requests: cb_ca_poll
 * hands back only the lookup, cb_ca_pending never counts the probe, and the
 * probe makes one attempt (the lookup three) whose result cb_ca_probe_poll
 * returns once. */
static void test_probe_apart(void **state)
{
    const char *kv[] = {"ca.url",
                        "http://127.0.0.1:9",
                        "ca.insecure_http_url",
                        "http://127.0.0.1:9",
                        "ca.max_attempts",
                        "3",
                        "ca.retry_base_ms",
                        "20",
                        "ca.retry_max_ms",
                        "40",
                        NULL};
    const cb_ca_req_t *probe;
    cb_ca_req_t look, *done;
    cb_ca_client_t *c;
    cb_error_t err;

    (void)state;
    c = client_from(kv, &err);
    assert_non_null(c);
    assert_null(cb_ca_probe_poll(c)); /* none started */
    memset(&look, 0, sizeof(look));
    look.op = CB_CA_LOOKUP;
    look.holder_id = "000.00.00.H19";
    assert_int_equal(cb_ca_submit(c, &look, &err), 0);
    assert_int_equal(cb_ca_probe_start(c, 1000, &err), 1);
    assert_int_equal(cb_ca_probe_start(c, 1000, &err), 0); /* one at a time */
    assert_int_equal(cb_ca_pending(c), 1);
    done = cb_ca_poll(c, 10000);
    assert_ptr_equal(done, &look);
    assert_int_equal(look.attempts, 3);
    assert_int_equal(cb_ca_pending(c), 0);
    /* the probe (refused at once, never retried) is not handed to cb_ca_poll */
    assert_null(cb_ca_poll(c, 100));
    probe = cb_ca_probe_poll(c);
    assert_non_null(probe);
    assert_int_equal(probe->op, CB_CA_HEALTH);
    assert_int_equal(probe->klass, CB_CA_RETRY);
    assert_int_equal(probe->attempts, 1);
    assert_string_equal(probe->error_code, "transport");
    assert_null(cb_ca_probe_poll(c));                      /* returned once */
    assert_int_equal(cb_ca_probe_start(c, 1000, &err), 1); /* the next one */
    cb_ca_req_clear(&look);
    cb_ca_client_destroy(c); /* with a probe in flight */
}

/* A CA that accepts connections and never answers (a listening socket
 * nobody accepts from: the kernel completes the handshake): the probe gives
 * up after its own timeout, in one attempt, not after the client's 30 s x 5
 * attempts. */
static void test_probe_hanging_ca(void **state)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    char url[64];
    const char *kv[] = {
        "ca.url", url, "ca.insecure_http_url", url, "ca.timeout_ms", "30000", "ca.max_attempts",
        "5",      NULL};
    const cb_ca_req_t *probe = NULL;
    cb_ca_client_t *c;
    cb_error_t err;
    int s = socket(AF_INET, SOCK_STREAM, 0);

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s, 8), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sa.sin_port));
    c = client_from(kv, &err);
    assert_non_null(c);
    assert_int_equal(cb_ca_probe_start(c, 200, &err), 1);
    while (!(probe = cb_ca_probe_poll(c)))
        assert_null(cb_ca_poll(c, 50)); /* drives it, as the executor would */
    assert_int_equal(probe->klass, CB_CA_RETRY);
    assert_int_equal(probe->attempts, 1);
    assert_int_equal(probe->http_status, 0);
    assert_true(probe->latency_ms >= 200);
    assert_true(probe->latency_ms < 30000); /* its own timeout, not ca.timeout_ms */
    cb_ca_client_destroy(c);
    close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_http),       cmocka_unit_test(test_request_states),
        cmocka_unit_test(test_classify_transport),  cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_retry_after),         cmocka_unit_test(test_config_checks),
        cmocka_unit_test(test_unreachable_retries), cmocka_unit_test(test_probe_apart),
        cmocka_unit_test(test_probe_hanging_ca),    cmocka_unit_test(test_pages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
