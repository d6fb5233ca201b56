/* test_metrics.c: Prometheus exposition values and the /metrics and /healthz
 * endpoints over a real socket. */
#include "cb_test.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certbridge/metrics.h"

static void test_render_values(void **state)
{
    cb_metrics_t *m = cb_metrics_new();
    char *text;

    (void)state;
    cb_metrics_event(m, CB_EVENT_PERSON, CB_PERSON_DEPARTED);
    cb_metrics_event(m, CB_EVENT_PERSON, CB_PERSON_DEPARTED);
    cb_metrics_action(m, CB_ACTION_REVOKE, CB_STATUS_SUCCEEDED);
    cb_metrics_ca_call(m, 0.003); /* bucket le=0.005 */
    cb_metrics_ca_call(m, 20.0);  /* only +Inf */
    cb_metrics_txn(m, true);
    cb_metrics_txn(m, false);
    cb_metrics_dead_letter(m);
    cb_metrics_set_lag(m, 42);
    text = cb_metrics_render(m);
    assert_non_null(text);
    assert_non_null(
        strstr(text, "certbridge_events_consumed_total{topic=\"person\",type=\"DEPARTED\"} 2\n"));
    assert_non_null(
        strstr(text, "certbridge_events_consumed_total{topic=\"org\",type=\"MERGED\"} 0\n"));
    assert_non_null(
        strstr(text, "certbridge_actions_total{action=\"REVOKE\",status=\"SUCCEEDED\"} 1\n"));
    assert_non_null(
        strstr(text, "certbridge_ca_request_duration_seconds_bucket{le=\"0.0025\"} 0\n"));
    assert_non_null(
        strstr(text, "certbridge_ca_request_duration_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "certbridge_ca_request_duration_seconds_bucket{le=\"10\"} 1\n"));
    assert_non_null(strstr(text, "certbridge_ca_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "certbridge_ca_request_duration_seconds_count 2\n"));
    assert_non_null(strstr(text, "certbridge_transactions_total{result=\"aborted\"} 1\n"));
    assert_non_null(strstr(text, "certbridge_dead_letters_total 1\n"));
    assert_non_null(strstr(text, "certbridge_consumer_lag 42\n"));
    assert_non_null(strstr(text, "certbridge_ready 0\n"));
    free(text);
    cb_metrics_destroy(m);
}

/* GETs path from 127.0.0.1:port; returns the status code, body in buf. */
static int http_get(int port, const char *path, char *buf, size_t size)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), code = -1;
    char req[256];
    size_t got = 0;
    ssize_t n;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    sscanf(buf, "HTTP/1.%*d %d", &code);
    return code;
}

static void test_endpoints(void **state)
{
    cb_metrics_t *m = cb_metrics_new();
    cb_error_t err;
    char buf[65536];
    int port;

    (void)state;
    assert_int_equal(cb_metrics_serve(m, "127.0.0.1:0", &err), 0);
    port = cb_metrics_port(m);
    assert_true(port > 0);
    assert_int_equal(http_get(port, "/healthz", buf, sizeof(buf)), 503);
    assert_non_null(strstr(buf, "\"ready\":false"));
    cb_metrics_set_group_joined(m, true);
    assert_int_equal(http_get(port, "/healthz", buf, sizeof(buf)), 503);
    cb_metrics_set_ca_reachable(m, true);
    assert_int_equal(http_get(port, "/healthz", buf, sizeof(buf)), 200);
    assert_non_null(strstr(buf, "\"ready\":true"));
    cb_metrics_dead_letter(m);
    assert_int_equal(http_get(port, "/metrics", buf, sizeof(buf)), 200);
    assert_non_null(strstr(buf, "text/plain; version=0.0.4"));
    assert_non_null(strstr(buf, "certbridge_dead_letters_total 1\n"));
    assert_non_null(strstr(buf, "certbridge_ready 1\n"));
    cb_metrics_destroy(m);
}

/* A held batch (docs/ARCHITECTURE.md §6): the gauges by cause, readiness
 * lost while it lasts, the /healthz body naming the dependency and since
 * when, and all of it back to ready once the hold ended. */
static void test_held(void **state)
{
    cb_metrics_t *m = cb_metrics_new();
    char body[1024], *text;
    cb_error_t err;
    char buf[65536];
    int port;

    (void)state;
    cb_metrics_set_group_joined(m, true);
    cb_metrics_set_ca_reachable(m, true);
    assert_true(cb_metrics_health(m, 1795891200, body, sizeof(body)));
    assert_string_equal(
        body, "{\"ready\":true,\"group_joined\":true,\"ca_reachable\":true,\"held\":{}}\n");
    /* 2026-11-28T18:40:00Z, 42 s ago */
    cb_metrics_set_held(m, CB_HOLD_SCHEMA_REGISTRY, 1795891200);
    assert_int_equal(cb_metrics_held_since(m, CB_HOLD_SCHEMA_REGISTRY), 1795891200);
    assert_int_equal(cb_metrics_held_since(m, CB_HOLD_CA), 0);
    assert_false(cb_metrics_ready(m));
    assert_false(cb_metrics_health(m, 1795891242, body, sizeof(body)));
    assert_string_equal(body, "{\"ready\":false,\"group_joined\":true,\"ca_reachable\":true,"
                              "\"held\":{\"schema_registry\":\"2026-11-28T18:40:00Z\"},"
                              "\"reason\":\"not ready: schema_registry unavailable since "
                              "2026-11-28T18:40:00Z (held 42 s)\"}\n");
    text = cb_metrics_render(m);
    assert_non_null(strstr(text, "# TYPE certbridge_held gauge\n"));
    assert_non_null(strstr(text, "certbridge_held{cause=\"schema_registry\"} 1\n"));
    assert_non_null(strstr(text, "certbridge_held{cause=\"ca\"} 0\n"));
    assert_non_null(strstr(text, "certbridge_held{cause=\"kafka\"} 0\n"));
    assert_non_null(strstr(
        text, "certbridge_held_since_timestamp_seconds{cause=\"schema_registry\"} 1795891200\n"));
    assert_non_null(strstr(text, "certbridge_held_since_timestamp_seconds{cause=\"ca\"} 0\n"));
    assert_non_null(strstr(text, "certbridge_ready 0\n"));
    free(text);
    /* two causes and the group lost at once: every one named */
    cb_metrics_set_held(m, CB_HOLD_CA, 1795891230);
    cb_metrics_set_group_joined(m, false);
    assert_false(cb_metrics_health(m, 1795891242, body, sizeof(body)));
    assert_string_equal(body, "{\"ready\":false,\"group_joined\":false,\"ca_reachable\":true,"
                              "\"held\":{\"schema_registry\":\"2026-11-28T18:40:00Z\","
                              "\"ca\":\"2026-11-28T18:40:30Z\"},\"reason\":\"not ready: consumer "
                              "group not joined; schema_registry unavailable since "
                              "2026-11-28T18:40:00Z (held 42 s); ca unavailable since "
                              "2026-11-28T18:40:30Z (held 12 s)\"}\n");
    cb_metrics_set_group_joined(m, true);
    /* over the socket: 503 with the reason */
    assert_int_equal(cb_metrics_serve(m, "127.0.0.1:0", &err), 0);
    port = cb_metrics_port(m);
    assert_int_equal(http_get(port, "/healthz", buf, sizeof(buf)), 503);
    assert_non_null(strstr(buf, "\"reason\":\"not ready: schema_registry unavailable since "
                                "2026-11-28T18:40:00Z (held "));
    cb_metrics_set_held(m, CB_HOLD_SCHEMA_REGISTRY, 0);
    cb_metrics_set_held(m, CB_HOLD_CA, 0);
    assert_int_equal(http_get(port, "/healthz", buf, sizeof(buf)), 200);
    assert_true(cb_metrics_ready(m));
    cb_metrics_destroy(m);
}

static void test_bad_listen(void **state)
{
    cb_metrics_t *m = cb_metrics_new();
    cb_error_t err;

    (void)state;
    assert_int_equal(cb_metrics_serve(m, "nonsense", &err), -1);
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_string_equal(err.msg, "metrics.listen: \"nonsense\" is not HOST:PORT");
    cb_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_values),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_held),
        cmocka_unit_test(test_bad_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
