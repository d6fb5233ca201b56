/*
 * error.h: the error value every certbridge module returns.
 *
 * Modules never print and never exit: a function that can fail takes a
 * cb_error_t * as its last argument, fills it on failure and returns -1 (or
 * NULL). The caller decides what to do from the class, which drives the
 * pipeline's correctness (DESIGN.md §5):
 *   CB_ERRCLASS_PERMANENT  the input or request is wrong; retrying will not help
 *                          (an undecodable event goes to the dead-letter topic).
 *   CB_ERRCLASS_RETRIABLE  try the same operation again later (CA down, timeout).
 *   CB_ERRCLASS_ABORTABLE  abort the open Kafka transaction and replay the batch.
 *   CB_ERRCLASS_FATAL      the instance cannot go on as it is (producer fenced):
 *                          rebuild it, or stop.
 * The value lives on the caller's stack; it owns no heap memory.
 */
#ifndef CB_ERROR_H
#define CB_ERROR_H

#include <stddef.h>

#define CB_ERRMSG_MAX 512

typedef enum cb_errcode {
    CB_OK = 0,
    CB_ERR_INVALID,   /* invalid input: event, file, argument, config value */
    CB_ERR_CONFIG,    /* unknown or invalid configuration key */
    CB_ERR_NOMEM,     /* allocation failed */
    CB_ERR_IO,        /* file or socket I/O */
    CB_ERR_LIMIT,     /* a size or count limit was exceeded */
    CB_ERR_DECODE,    /* undecodable bytes (wire format) */
    CB_ERR_TRANSPORT, /* network, TLS, timeout */
    CB_ERR_CA,        /* the CA answered with an error */
    CB_ERR_KAFKA,     /* a Kafka client error */
    CB_ERR_NOTFOUND,  /* a looked-up thing does not exist */
    CB_ERR_INTERNAL   /* a bug: an invariant did not hold */
} cb_errcode_t;

typedef enum cb_errclass {
    CB_ERRCLASS_PERMANENT = 0,
    CB_ERRCLASS_RETRIABLE,
    CB_ERRCLASS_ABORTABLE,
    CB_ERRCLASS_FATAL
} cb_errclass_t;

typedef struct cb_error {
    cb_errcode_t code;
    cb_errclass_t klass;
    char msg[CB_ERRMSG_MAX];
} cb_error_t;

/* Resets err to "no error". Safe on NULL. */
void cb_error_clear(cb_error_t *err);

/* Fills err with a permanent error of the given code and a printf-style
 * message (truncated to CB_ERRMSG_MAX). Safe on NULL. Always returns -1 so
 * callers can write `return cb_error_set(err, ...);`. */
int cb_error_set(cb_error_t *err, cb_errcode_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As cb_error_set, with an explicit class. */
int cb_error_setc(cb_error_t *err, cb_errcode_t code, cb_errclass_t klass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prepends "prefix: " to err's message, e.g. a field path or "file:line".
 * Keeps code and class. Safe on NULL. Returns -1. */
int cb_error_prefix(cb_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Stable lower-case names, used in logs and dead-letter headers. */
const char *cb_errcode_name(cb_errcode_t code);
const char *cb_errclass_name(cb_errclass_t klass);

#endif
