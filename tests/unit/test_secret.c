/* test_secret.c: secrets read from files (first line, limits, errors naming
 * the key), the kafka_secret.* keys handed to librdkafka, and the warning for
 * key files that group or others may read. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certbridge/config.h"
#include "certbridge/secret.h"

static char dir[] = "/tmp/cb-secret-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[64];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

/* Writes content to dir/name with mode; returns the path (static buffer). */
static const char *file(const char *name, const char *content, size_t len, mode_t mode)
{
    static char path[4][128];
    static int turn;
    char *p = path[turn++ % 4];
    FILE *f;

    snprintf(p, 128, "%s/%s", dir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(p, mode), 0);
    return p;
}

static void test_read_file(void **state)
{
    static const struct {
        const char *content;
        const char *want;
    } ok[] = {
        {"s3cret\n", "s3cret"},
        {"s3cret\r\nsecond line\n", "s3cret"},
        {"no newline", "no newline"},
        {"  spaces kept  \n", "  spaces kept  "},
    };
    cb_error_t err;
    size_t i;
    char *s, *big;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const char *p = file("pw", ok[i].content, strlen(ok[i].content), 0600);
        s = cb_secret_read_file("ca.tls.key_passphrase_file", p, &err);
        assert_non_null(s);
        assert_string_equal(s, ok[i].want);
        cb_secret_free(s);
    }
    /* empty first line */
    assert_null(cb_secret_read_file("kafka_secret.sasl_password_file",
                                    file("pw", "\nlater\n", 7, 0600), &err));
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "kafka_secret.sasl_password_file: the first line of"));
    assert_non_null(strstr(err.msg, "is empty"));
    /* longer than CB_SECRET_MAX */
    big = malloc(CB_SECRET_MAX + 2);
    memset(big, 'x', CB_SECRET_MAX + 1);
    big[CB_SECRET_MAX + 1] = '\n';
    assert_null(cb_secret_read_file("k", file("big", big, CB_SECRET_MAX + 2, 0600), &err));
    assert_non_null(strstr(err.msg, "longer than 1024 bytes"));
    /* exactly CB_SECRET_MAX is fine */
    s = cb_secret_read_file("k", file("max", big, CB_SECRET_MAX, 0600), &err);
    assert_non_null(s);
    assert_int_equal(strlen(s), CB_SECRET_MAX);
    cb_secret_free(s);
    free(big);
    /* missing */
    assert_null(cb_secret_read_file("ca.tls.key_passphrase_file", "/nonexistent/pw", &err));
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_string_equal(err.msg, "ca.tls.key_passphrase_file: cannot open \"/nonexistent/pw\": "
                                 "No such file or directory");
}

typedef struct seen {
    char keys[4][64], values[4][64];
    int n;
} seen_t;

static int collect(const char *key, const char *value, void *opaque)
{
    seen_t *s = opaque;

    snprintf(s->keys[s->n], 64, "%s", key);
    snprintf(s->values[s->n], 64, "%s", value);
    s->n++;
    return 0;
}

static void test_kafka_secrets(void **state)
{
    cb_config_t *cfg = cb_config_new();
    seen_t seen = {0};
    cb_error_t err;

    (void)state;
    /* none set: nothing passed */
    assert_int_equal(cb_secret_foreach_kafka(cfg, collect, &seen, &err), 0);
    assert_int_equal(seen.n, 0);
    assert_int_equal(cb_config_set(cfg, "kafka_secret.sasl_password_file",
                                   file("sasl", "sasl-pw\n", 8, 0600), &err),
                     0);
    assert_int_equal(cb_config_set(cfg, "kafka_secret.ssl_key_password_file",
                                   file("sslkey", "key-pw\n", 7, 0600), &err),
                     0);
    assert_int_equal(cb_secret_foreach_kafka(cfg, collect, &seen, &err), 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.keys[0], "sasl.password");
    assert_string_equal(seen.values[0], "sasl-pw");
    assert_string_equal(seen.keys[1], "ssl.key.password");
    assert_string_equal(seen.values[1], "key-pw");
    /* the same secret both ways is refused, naming both keys */
    assert_int_equal(cb_config_set(cfg, "kafka.sasl.password", "inline", &err), 0);
    seen.n = 0;
    assert_int_equal(cb_secret_foreach_kafka(cfg, collect, &seen, &err), -1);
    assert_int_equal(err.code, CB_ERR_CONFIG);
    assert_string_equal(err.msg, "kafka_secret.sasl_password_file: kafka.sasl.password is set "
                                 "too; keep the secret in the file only");
    cb_config_destroy(cfg);
    /* an unreadable file is an error naming the key */
    cfg = cb_config_new();
    assert_int_equal(cb_config_set(cfg, "kafka_secret.sasl_password_file", "/nonexistent", &err),
                     0);
    assert_int_equal(cb_secret_foreach_kafka(cfg, collect, &seen, &err), -1);
    assert_non_null(strstr(err.msg, "kafka_secret.sasl_password_file: cannot open"));
    cb_config_destroy(cfg);
}

static void test_permissions(void **state)
{
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;
    const char *key, *pw;

    (void)state;
    assert_int_equal(cb_secret_check_files(cfg), 0);
    key = file("client.key", "-----BEGIN PRIVATE KEY-----\n", 28, 0600);
    pw = file("pass", "pw\n", 3, 0600);
    assert_int_equal(cb_config_set(cfg, "ca.tls.key", key, &err), 0);
    assert_int_equal(cb_config_set(cfg, "ca.tls.key_passphrase_file", pw, &err), 0);
    assert_int_equal(cb_secret_check_files(cfg), 0);
    assert_int_equal(chmod(key, 0644), 0); /* readable by others */
    assert_int_equal(cb_secret_check_files(cfg), 1);
    assert_int_equal(chmod(pw, 0640), 0); /* readable by group */
    assert_int_equal(cb_secret_check_files(cfg), 2);
    assert_int_equal(chmod(key, 0400), 0);
    assert_int_equal(chmod(pw, 0600), 0);
    assert_int_equal(cb_secret_check_files(cfg), 0);
    /* Kafka's key file, and a password written into the configuration */
    assert_int_equal(cb_config_set(cfg, "kafka.ssl.key.location", key, &err), 0);
    assert_int_equal(chmod(key, 0604), 0);
    assert_int_equal(cb_secret_check_files(cfg), 2); /* ca.tls.key and kafka.ssl.key.location */
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(cb_config_set(cfg, "kafka.sasl.password", "inline", &err), 0);
    assert_int_equal(cb_secret_check_files(cfg), 1);
    cb_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_kafka_secrets),
        cmocka_unit_test(test_permissions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
