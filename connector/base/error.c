/*
 * error.c: filling and naming cb_error_t values (see error.h).
 */
#include "certbridge/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cb_error_clear(cb_error_t *err)
{
    if (!err)
        return;
    err->code = CB_OK;
    err->flags = 0;
    err->msg[0] = '\0';
}

static void error_vset(cb_error_t *err, cb_errcode_t code, unsigned flags, const char *fmt,
                       va_list ap)
{
    err->code = code;
    err->flags = flags;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int cb_error_set(cb_error_t *err, cb_errcode_t code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    va_start(ap, fmt);
    error_vset(err, code, 0, fmt, ap);
    va_end(ap);
    return -1;
}

int cb_error_setf(cb_error_t *err, cb_errcode_t code, unsigned flags, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    va_start(ap, fmt);
    error_vset(err, code, flags, fmt, ap);
    va_end(ap);
    return -1;
}

int cb_error_prefix(cb_error_t *err, const char *fmt, ...)
{
    char buf[CB_ERRMSG_MAX];
    size_t plen, mlen;
    va_list ap;

    if (!err)
        return -1;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
    va_end(ap);
    plen = strlen(buf);
    memcpy(buf + plen, ": ", 2);
    plen += 2;
    mlen = strlen(err->msg);
    if (plen + mlen >= sizeof(buf))
        mlen = sizeof(buf) - 1 - plen;
    memcpy(buf + plen, err->msg, mlen);
    buf[plen + mlen] = '\0';
    memcpy(err->msg, buf, plen + mlen + 1);
    return -1;
}

bool cb_error_is_retriable(const cb_error_t *err)
{
    return err && (err->flags & CB_ERRF_RETRIABLE);
}

bool cb_error_is_abortable(const cb_error_t *err)
{
    return err && (err->flags & CB_ERRF_ABORTABLE);
}

bool cb_error_is_fatal(const cb_error_t *err)
{
    return err && (err->flags & CB_ERRF_FATAL);
}

const char *cb_errcode_name(cb_errcode_t code)
{
    switch (code) {
    case CB_OK:
        return "ok";
    case CB_ERR_INVALID:
        return "invalid";
    case CB_ERR_CONFIG:
        return "config";
    case CB_ERR_NOMEM:
        return "nomem";
    case CB_ERR_IO:
        return "io";
    case CB_ERR_LIMIT:
        return "limit";
    case CB_ERR_DECODE:
        return "decode";
    case CB_ERR_TRANSPORT:
        return "transport";
    case CB_ERR_CA:
        return "ca";
    case CB_ERR_KAFKA:
        return "kafka";
    case CB_ERR_NOTFOUND:
        return "notfound";
    case CB_ERR_INTERNAL:
        return "internal";
    }
    return "unknown";
}
