/*
 * config.h: certbridge's configuration, driven by one table of properties.
 *
 * Every key certbridge understands is a row of the table in config.c: name,
 * type, default, range or allowed values, help text. The same table checks
 * values when they are set, prints `certbridge config` and generates the
 * README's configuration reference. Keys starting with "kafka." are passed to
 * librdkafka untouched (librdkafka validates them when the client is made).
 *
 * Sources, later ones winning: the table's defaults, a key=value file (-c),
 * environment variables CERTBRIDGE_<KEY> (key upper-cased, '.' and '-' as
 * '_'). An unknown or invalid key is refused with the key named.
 */
#ifndef CB_CONFIG_H
#define CB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "certbridge/error.h"

#define CB_CONFIG_LINE_MAX  4096 /* longest accepted line in a config file */
#define CB_CONFIG_VALUE_MAX 2048 /* longest accepted value */

typedef enum cb_config_type {
    CB_CONFIG_STRING = 0,
    CB_CONFIG_INT,
    CB_CONFIG_BOOL,
    CB_CONFIG_ENUM,
    CB_CONFIG_SECRET /* a string that is never printed */
} cb_config_type_t;

typedef struct cb_config_prop {
    const char *name;
    cb_config_type_t type;
    const char *def;     /* default, as text; NULL = unset */
    int64_t min, max;    /* CB_CONFIG_INT range, inclusive */
    const char *choices; /* CB_CONFIG_ENUM: "a|b|c" */
    const char *help;
} cb_config_prop_t;

typedef struct cb_config cb_config_t;

/* The property table and its length (static storage, never freed). */
const cb_config_prop_t *cb_config_props(size_t *count);

/* A new configuration holding the defaults. Caller frees with
 * cb_config_destroy(). Returns NULL only when out of memory. */
cb_config_t *cb_config_new(void);
void cb_config_destroy(cb_config_t *cfg);

/* Sets one key after checking it against the table (or storing it as a
 * kafka.* pass-through). Copies key and value. On failure: -1 with
 * CB_ERR_CONFIG and a message naming the key. */
int cb_config_set(cb_config_t *cfg, const char *key, const char *value, cb_error_t *err);

/* Reads a key=value file: '#' starts a comment line, blank lines are skipped,
 * spaces around key and value are trimmed. Errors name "path:line". */
int cb_config_load_file(cb_config_t *cfg, const char *path, cb_error_t *err);

/* The same for text already in memory (len bytes, need not be
 * NUL-terminated); name stands for the file in messages. A NUL byte or a line
 * over CB_CONFIG_LINE_MAX is an error naming the line. */
int cb_config_load_string(cb_config_t *cfg, const char *name, const char *text, size_t len,
                          cb_error_t *err);

/* Applies CERTBRIDGE_* variables from envp (NULL-terminated "NAME=value"
 * strings, e.g. environ). An unknown CERTBRIDGE_ variable is refused with its
 * name. CERTBRIDGE_KAFKA_X_Y sets kafka.x.y. */
int cb_config_apply_env(cb_config_t *cfg, char *const *envp, cb_error_t *err);

/* Values. get returns NULL for an unset string; get_int/get_bool return the
 * parsed value (keys must be of that type: a wrong type is a bug and
 * returns 0/false). Returned strings are owned by cfg. */
const char *cb_config_get(const cb_config_t *cfg, const char *key);
int64_t cb_config_get_int(const cb_config_t *cfg, const char *key);
bool cb_config_get_bool(const cb_config_t *cfg, const char *key);

/* Calls fn(key-without-"kafka.", value, opaque) for every kafka.* key, in the
 * order set. Stops early and returns -1 when fn returns non-zero. */
int cb_config_foreach_kafka(const cb_config_t *cfg,
                            int (*fn)(const char *key, const char *value, void *opaque),
                            void *opaque);

/* Writes the table as text (`certbridge config`): each key with its current
 * value (secrets masked), type, default and help. */
void cb_config_print(const cb_config_t *cfg, FILE *out);

/* Writes the table as a Markdown reference (README's configuration section). */
void cb_config_print_markdown(FILE *out);

/* Writes a commented example configuration file: every key commented out
 * with its help, type and default, then the usual kafka.* keys
 * (packaging/certbridge.conf.example). */
void cb_config_print_example(FILE *out);

#endif
