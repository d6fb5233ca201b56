/*
 * secret.c: secrets read from files, and the permission check of key files
 * (see secret.h).
 */
#include "certbridge/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certbridge/log.h"

/* kafka_secret.* keys and the librdkafka property each one sets. */
static const struct {
    const char *key;
    const char *property;
} kafka_secrets[] = {
    {"kafka_secret.sasl_password_file", "sasl.password"},
    {"kafka_secret.ssl_key_password_file", "ssl.key.password"},
};

#define KAFKA_SECRET_COUNT (sizeof(kafka_secrets) / sizeof(kafka_secrets[0]))

/* Wipes n bytes in a way the compiler keeps. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

void cb_secret_free(char *s)
{
    if (!s)
        return;
    wipe(s, strlen(s));
    free(s);
}

char *cb_secret_read_file(const char *key, const char *path, cb_error_t *err)
{
    char buf[CB_SECRET_MAX + 2];
    ssize_t n;
    size_t len;
    char *out = NULL;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cb_error_set(err, CB_ERR_CONFIG, "%s: cannot open \"%.200s\": %s", key, path,
                     strerror(errno));
        return NULL;
    }
    len = 0;
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cb_error_set(err, CB_ERR_CONFIG, "%s: cannot read \"%.200s\": %s", key, path,
                         strerror(errno));
            goto out;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) > CB_SECRET_MAX) {
        cb_error_set(err, CB_ERR_CONFIG, "%s: the first line of \"%.200s\" is longer than %d bytes",
                     key, path, CB_SECRET_MAX);
        goto out;
    }
    if (!buf[0]) {
        cb_error_set(err, CB_ERR_CONFIG, "%s: the first line of \"%.200s\" is empty", key, path);
        goto out;
    }
    if (!(out = strdup(buf)))
        cb_error_set(err, CB_ERR_NOMEM, "%s: out of memory", key);
out:
    wipe(buf, sizeof(buf));
    close(fd);
    return out;
}

int cb_secret_foreach_kafka(const cb_config_t *cfg,
                            int (*fn)(const char *key, const char *value, void *opaque),
                            void *opaque, cb_error_t *err)
{
    size_t i;

    for (i = 0; i < KAFKA_SECRET_COUNT; i++) {
        const char *path = cb_config_get(cfg, kafka_secrets[i].key);
        char direct[64];
        char *secret;
        int rc;

        if (!path || !*path)
            continue;
        snprintf(direct, sizeof(direct), "kafka.%s", kafka_secrets[i].property);
        if (cb_config_get(cfg, direct))
            return cb_error_set(err, CB_ERR_CONFIG,
                                "%s: %s is set too; keep the secret in the file only",
                                kafka_secrets[i].key, direct);
        if (!(secret = cb_secret_read_file(kafka_secrets[i].key, path, err)))
            return -1;
        rc = fn(kafka_secrets[i].property, secret, opaque);
        cb_secret_free(secret);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Warns when path may be read by group or others. */
static int check_one(const char *key, const char *path)
{
    struct stat st;

    if (!path || !*path || stat(path, &st) != 0)
        return 0;
    if (!(st.st_mode & (S_IRWXG | S_IRWXO)))
        return 0;
    cb_log(CB_LOG_WARN, "secret",
           "%s: \"%s\" may be read by group or others (mode %04o); make it readable by its "
           "owner only (chmod 600)",
           key, path, (unsigned)(st.st_mode & 07777));
    return 1;
}

int cb_secret_check_files(const cb_config_t *cfg)
{
    static const char *const file_keys[] = {
        "ca.tls.key",
        "ca.tls.key_passphrase_file",
        "kafka_secret.sasl_password_file",
        "kafka_secret.ssl_key_password_file",
        "schema_registry.basic_auth_password_file",
        "schema_registry.tls.key",
        "kafka.ssl.key.location",
    };
    static const char *const inline_keys[] = {"kafka.sasl.password", "kafka.ssl.key.password"};
    size_t i;
    int warnings = 0;

    for (i = 0; i < sizeof(file_keys) / sizeof(file_keys[0]); i++)
        warnings += check_one(file_keys[i], cb_config_get(cfg, file_keys[i]));
    for (i = 0; i < sizeof(inline_keys) / sizeof(inline_keys[0]); i++) {
        if (cb_config_get(cfg, inline_keys[i])) {
            cb_log(CB_LOG_WARN, "secret",
                   "%s is written in the configuration; put it in a file readable by the "
                   "service only and name that file with kafka_secret.%s_file",
                   inline_keys[i],
                   strcmp(inline_keys[i], "kafka.sasl.password") == 0 ? "sasl_password"
                                                                      : "ssl_key_password");
            warnings++;
        }
    }
    return warnings;
}
