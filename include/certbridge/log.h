/*
 * log.h: structured log lines, one JSON object per line on standard error.
 *
 * {"ts":"2026-11-21T10:00:00.123Z","level":"info","module":"pipeline","msg":"..."}
 * Messages are JSON-escaped; 12-digit national ids and e-mail addresses in a
 * message are masked before the line is written. Thread-safe: a line is
 * written with one call.
 */
#ifndef CB_LOG_H
#define CB_LOG_H

#include <stddef.h>

typedef enum cb_log_level {
    CB_LOG_DEBUG = 0,
    CB_LOG_INFO,
    CB_LOG_WARN,
    CB_LOG_ERROR
} cb_log_level_t;

/* Sets the lowest level written. Returns -1 for an unknown name. */
int cb_log_set_level_name(const char *name);
void cb_log_set_level(cb_log_level_t level);

void cb_log(cb_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Masks national ids (12 digits in a row) and e-mail addresses in s, in
 * place: "079123456789" -> "0791*****789", "an.nv@dongnai.gov.vn" ->
 * "a***@dongnai.gov.vn". */
void cb_log_mask(char *s);

#endif
