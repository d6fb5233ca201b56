/*
 * secret.h: secrets come from files, never from the command line.
 *
 * A password or passphrase is named by a configuration key ending in _file
 * (ca.tls.key_passphrase_file, kafka_secret.sasl_password_file,
 * kafka_secret.ssl_key_password_file, schema_registry.basic_auth_password_file);
 * the file's first line is the secret. Files holding a private key or a
 * secret should be readable by their owner only: cb_secret_check_files logs a
 * warning at start for each that group or others can read.
 */
#ifndef CB_SECRET_H
#define CB_SECRET_H

#include "certbridge/config.h"
#include "certbridge/error.h"

#define CB_SECRET_MAX 1024 /* longest secret, in bytes */

/* Reads the first line of path (without its line end) as a secret. key is
 * the configuration key, named in errors. Returns a malloc'd string the
 * caller frees with cb_secret_free(); NULL with CB_ERR_CONFIG when the file
 * cannot be read, its first line is empty, or longer than CB_SECRET_MAX. */
char *cb_secret_read_file(const char *key, const char *path, cb_error_t *err);

/* Overwrites s with zeros and frees it. Safe on NULL. */
void cb_secret_free(char *s);

/* For every kafka_secret.*_file key that is set, reads the file and calls
 * fn(librdkafka_property, secret, opaque) ("sasl.password",
 * "ssl.key.password"); the secret is wiped after the call (fn copies it).
 * Refuses (CB_ERR_CONFIG, naming the key) a secret set both ways, e.g.
 * kafka.sasl.password and kafka_secret.sasl_password_file. When fn returns
 * non-zero, stops and returns -1 (fn fills err itself). */
int cb_secret_foreach_kafka(const cb_config_t *cfg,
                            int (*fn)(const char *key, const char *value, void *opaque),
                            void *opaque, cb_error_t *err);

/* Logs a warning for every configured file holding a private key or a
 * secret (ca.tls.key, the *_file keys above, kafka.ssl.key.location) that
 * group or others may read, and for a password written into the
 * configuration itself (kafka.sasl.password, kafka.ssl.key.password).
 * Returns the number of warnings. Missing files are left to the module that
 * opens them. */
int cb_secret_check_files(const cb_config_t *cfg);

#endif
