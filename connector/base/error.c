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
    err->klass = CB_ERRCLASS_PERMANENT;
    err->msg[0] = '\0';
}

static void error_vset(cb_error_t *err, cb_errcode_t code, cb_errclass_t klass, const char *fmt,
                       va_list ap)
{
    err->code = code;
    err->klass = klass;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int cb_error_set(cb_error_t *err, cb_errcode_t code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    va_start(ap, fmt);
    error_vset(err, code, CB_ERRCLASS_PERMANENT, fmt, ap);
    va_end(ap);
    return -1;
}

int cb_error_setc(cb_error_t *err, cb_errcode_t code, cb_errclass_t klass, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    va_start(ap, fmt);
    error_vset(err, code, klass, fmt, ap);
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

const char *cb_errclass_name(cb_errclass_t klass)
{
    switch (klass) {
    case CB_ERRCLASS_PERMANENT:
        return "permanent";
    case CB_ERRCLASS_RETRIABLE:
        return "retriable";
    case CB_ERRCLASS_ABORTABLE:
        return "abortable";
    case CB_ERRCLASS_FATAL:
        return "fatal";
    }
    return "unknown";
}
