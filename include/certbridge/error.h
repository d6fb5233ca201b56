/*
 * error.h: the error value every certbridge module returns.
 *
 * Modules never print and never exit: a function that can fail takes a
 * cb_error_t * as its last argument, fills it on failure and returns -1 (or
 * NULL). The error carries a code (what went wrong, named in logs and
 * dead-letter headers), a message, and flags saying what the caller may do
 * about it, as librdkafka's error objects do (docs/ARCHITECTURE.md §6):
 *   no flag            permanent: the input or request is wrong; retrying
 *                      will not help (an undecodable event is a dead letter).
 *   CB_ERRF_RETRIABLE  the same operation may succeed later (a registry or
 *                      broker unreachable, a timeout): try again.
 *   CB_ERRF_ABORTABLE  the open Kafka transaction cannot commit: abort it and
 *                      replay its batch (librdkafka's txn_requires_abort).
 *   CB_ERRF_FATAL      the object that failed cannot go on (a fenced
 *                      producer): rebuild it, or stop.
 * Flags combine (a retriable error that also requires an abort); callers
 * test them with the cb_error_is_* predicates. The value lives on the
 * caller's stack; it owns no heap memory.
 */
#ifndef CB_ERROR_H
#define CB_ERROR_H

#include <stdbool.h>
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

#define CB_ERRF_RETRIABLE 0x1u /* try the same operation again later */
#define CB_ERRF_ABORTABLE 0x2u /* abort the open transaction, replay its batch */
#define CB_ERRF_FATAL     0x4u /* the failing object cannot go on: rebuild or stop */

typedef struct cb_error {
    cb_errcode_t code;
    unsigned flags; /* CB_ERRF_*; 0 = permanent */
    char msg[CB_ERRMSG_MAX];
} cb_error_t;

/* Resets err to "no error" (code CB_OK, no flags, empty message). Safe on
 * NULL. */
void cb_error_clear(cb_error_t *err);

/* Fills err with a permanent error (no flags) of the given code and a
 * printf-style message (truncated to CB_ERRMSG_MAX). Safe on NULL. Always
 * returns -1 so callers can write `return cb_error_set(err, ...);`. */
int cb_error_set(cb_error_t *err, cb_errcode_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As cb_error_set, with flags (CB_ERRF_* or'ed together). */
int cb_error_setf(cb_error_t *err, cb_errcode_t code, unsigned flags, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prepends "prefix: " to err's message, e.g. a field path or "file:line".
 * Keeps code and flags. Safe on NULL. Returns -1. */
int cb_error_prefix(cb_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The flags, one at a time; false for NULL. */
bool cb_error_is_retriable(const cb_error_t *err);
bool cb_error_is_abortable(const cb_error_t *err);
bool cb_error_is_fatal(const cb_error_t *err);

/* Stable lower-case name of a code, used in logs and in the dead-letter
 * header certbridge.error.class; "unknown" for a value outside the enum. */
const char *cb_errcode_name(cb_errcode_t code);

#endif
