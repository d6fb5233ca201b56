/* test_config.c: the property table, files with line numbers, environment. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certbridge/config.h"

static char *write_temp(const char *text)
{
    static char path[64];
    int fd;

    strcpy(path, "/tmp/cb-config-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    cb_config_t *cfg = cb_config_new();

    (void)state;
    assert_string_equal(cb_config_get(cfg, "input.org_topic"), "hr.org-events");
    assert_string_equal(cb_config_get(cfg, "output.dlq_topic"), "certbridge.dlq");
    assert_string_equal(cb_config_get(cfg, "policy.issue_new"), "review");
    assert_false(cb_config_get_bool(cfg, "policy.cascade_personal"));
    assert_null(cb_config_get(cfg, "no.such.key"));
    cb_config_destroy(cfg);
}

static void test_set_validates(void **state)
{
    static const struct {
        const char *key, *value;
        int ok;
        const char *msg;
    } cases[] = {
        {"policy.issue_new", "allow", 1, NULL},
        {"policy.issue_new", "maybe", 0, "policy.issue_new: \"maybe\" is not one of review|allow"},
        {"policy.cascade_personal", "yes", 1, NULL},
        {"policy.cascade_personal", "perhaps", 0,
         "policy.cascade_personal: \"perhaps\" is not true or false"},
        {"policy.issue_now", "allow", 0, "policy.issue_now: unknown configuration key"},
        {"kafka.bootstrap.servers", "127.0.0.1:9092", 1, NULL},
        {"kafka.", "x", 0, "kafka.: a kafka. key needs a librdkafka name"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cb_config_t *cfg = cb_config_new();
        cb_error_t err;
        int rc = cb_config_set(cfg, cases[i].key, cases[i].value, &err);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_string_equal(cb_config_get(cfg, cases[i].key), cases[i].value);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(err.code, CB_ERR_CONFIG);
            assert_string_equal(err.msg, cases[i].msg);
        }
        cb_config_destroy(cfg);
    }
}

static void test_file_ok(void **state)
{
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;
    char *path = write_temp("# comment\n\n  policy.issue_new = allow  \n"
                            "kafka.bootstrap.servers=127.0.0.1:1\n"
                            "policy.position_change=revoke\n");

    (void)state;
    assert_int_equal(cb_config_load_file(cfg, path, &err), 0);
    assert_string_equal(cb_config_get(cfg, "policy.issue_new"), "allow");
    assert_string_equal(cb_config_get(cfg, "policy.position_change"), "revoke");
    assert_string_equal(cb_config_get(cfg, "kafka.bootstrap.servers"), "127.0.0.1:1");
    unlink(path);
    cb_config_destroy(cfg);
}

static void test_file_errors_name_line(void **state)
{
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;
    char expect[256];
    char *path = write_temp("policy.issue_new=allow\n# ok\npolicy.colour=blue\n");

    (void)state;
    assert_int_equal(cb_config_load_file(cfg, path, &err), -1);
    snprintf(expect, sizeof(expect), "%s:3: policy.colour: unknown configuration key", path);
    assert_string_equal(err.msg, expect);
    unlink(path);

    path = write_temp("policy.issue_new\n");
    assert_int_equal(cb_config_load_file(cfg, path, &err), -1);
    snprintf(expect, sizeof(expect), "%s:1: expected key=value", path);
    assert_string_equal(err.msg, expect);
    unlink(path);

    assert_int_equal(cb_config_load_file(cfg, "/nonexistent/x.conf", &err), -1);
    assert_int_equal(err.code, CB_ERR_CONFIG);
    cb_config_destroy(cfg);
}

static void test_string_limits(void **state)
{
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;
    char *big = malloc(CB_CONFIG_LINE_MAX + 64);

    (void)state;
    assert_int_equal(cb_config_load_string(cfg, "s.conf", "policy.issue_new=allow", 22, &err), 0);
    assert_string_equal(cb_config_get(cfg, "policy.issue_new"), "allow");
    assert_int_equal(cb_config_load_string(cfg, "s.conf", "# a\nlog.level=debug\0x\n", 23, &err),
                     -1);
    assert_string_equal(err.msg, "s.conf:2: NUL byte in the line");
    memset(big, 'a', CB_CONFIG_LINE_MAX + 1);
    assert_int_equal(cb_config_load_string(cfg, "s.conf", big, CB_CONFIG_LINE_MAX + 1, &err), -1);
    assert_string_equal(err.msg, "s.conf:1: line longer than 4096 bytes");
    free(big);
    cb_config_destroy(cfg);
}

static int collect(const char *key, const char *value, void *opaque)
{
    char *buf = opaque;
    size_t n = strlen(buf);
    snprintf(buf + n, 256 - n, "%s=%s;", key, value);
    return 0;
}

static void test_env(void **state)
{
    char *env_ok[] = {"PATH=/bin", "CERTBRIDGE_POLICY_ISSUE_NEW=allow",
                      "CERTBRIDGE_KAFKA_BOOTSTRAP_SERVERS=h:1", "CERTBRIDGE_OUTPUT_DLQ_TOPIC=d",
                      NULL};
    char *env_bad[] = {"CERTBRIDGE_POLICY_ISSUE_NOW=allow", NULL};
    char *env_badval[] = {"CERTBRIDGE_POLICY_ISSUE_NEW=never", NULL};
    char buf[256] = "";
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;

    (void)state;
    assert_int_equal(cb_config_apply_env(cfg, env_ok, &err), 0);
    assert_string_equal(cb_config_get(cfg, "policy.issue_new"), "allow");
    assert_string_equal(cb_config_get(cfg, "output.dlq_topic"), "d");
    cb_config_foreach_kafka(cfg, collect, buf);
    assert_string_equal(buf, "bootstrap.servers=h:1;");
    assert_int_equal(cb_config_apply_env(cfg, env_bad, &err), -1);
    assert_string_equal(err.msg, "CERTBRIDGE_POLICY_ISSUE_NOW: unknown configuration key in "
                                 "the environment");
    assert_int_equal(cb_config_apply_env(cfg, env_badval, &err), -1);
    assert_string_equal(err.msg, "environment CERTBRIDGE_POLICY_ISSUE_NEW: policy.issue_new: "
                                 "\"never\" is not one of review|allow");
    cb_config_destroy(cfg);
}

static void test_table_is_complete(void **state)
{
    size_t n, i;
    const cb_config_prop_t *p = cb_config_props(&n);

    (void)state;
    assert_true(n > 0);
    for (i = 0; i < n; i++) {
        assert_non_null(p[i].name);
        assert_non_null(p[i].help);
        assert_true(strlen(p[i].help) > 10);
        if (p[i].type == CB_CONFIG_ENUM)
            assert_non_null(p[i].choices);
        if (p[i].type == CB_CONFIG_INT)
            assert_true(p[i].min <= p[i].max);
    }
}

/* The example file (certbridge config --example): every key of the table
 * appears once, commented out with its default; uncommented it loads and
 * changes nothing, and its kafka.* lines reach the pass-through. */
static void test_example(void **state)
{
    size_t n, i, len = 0;
    const cb_config_prop_t *p = cb_config_props(&n);
    cb_config_t *cfg = cb_config_new();
    char *text = NULL, *line, *save = NULL, *path;
    FILE *out = open_memstream(&text, &len), *f;
    cb_error_t err;
    int keys = 0;

    (void)state;
    cb_config_print_example(out);
    fclose(out);
    for (i = 0; i < n; i++) {
        char want[256];
        snprintf(want, sizeof(want), "\n#%s=%s\n", p[i].name, p[i].def ? p[i].def : "");
        assert_non_null(strstr(text, want));
    }
    path = write_temp("");
    f = fopen(path, "w");
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *eq = strchr(line, '=');
        if (line[0] == '#' && eq && !strchr(line, ' ') && line[1] >= 'a' && line[1] <= 'z') {
            fprintf(f, "%s\n", line + 1);
            keys++;
        }
    }
    fclose(f);
    assert_int_equal(keys, (int)n + 9); /* the table and nine kafka.* lines */
    assert_int_equal(cb_config_load_file(cfg, path, &err), 0);
    for (i = 0; i < n; i++)
        if (p[i].def)
            assert_string_equal(cb_config_get(cfg, p[i].name), p[i].def);
    assert_string_equal(cb_config_get(cfg, "kafka.sasl.mechanism"), "SCRAM-SHA-512");
    unlink(path);
    free(text);
    cb_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set_validates),
        cmocka_unit_test(test_file_ok),
        cmocka_unit_test(test_file_errors_name_line),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_string_limits),
        cmocka_unit_test(test_table_is_complete),
        cmocka_unit_test(test_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
