/*
 * log.c: JSON log lines with masking of personal data (see log.h).
 */
#include "certbridge/log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "certbridge/clock.h"

#define LOG_MSG_MAX 2048

static cb_log_level_t min_level = CB_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cb_log_set_level(cb_log_level_t level)
{
    min_level = level;
}

int cb_log_set_level_name(const char *name)
{
    int i;

    for (i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            min_level = (cb_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

static void mask_national_ids(char *s)
{
    size_t i = 0, n = strlen(s);

    while (i < n) {
        size_t j = i;
        while (j < n && isdigit((unsigned char)s[j]))
            j++;
        if (j - i == 12)
            memset(s + i + 4, '*', 5);
        i = j > i ? j : i + 1;
    }
}

static int email_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || c == '+';
}

static void mask_emails(char *s)
{
    char *at = s;

    while ((at = strchr(at, '@')) != NULL) {
        char *start = at;
        while (start > s && email_char(start[-1]))
            start--;
        if (at - start >= 2 && email_char(at[1]))
            memset(start + 1, '*', (size_t)(at - start - 1));
        at++;
    }
}

/* A message cut at the line limit may end inside a national id, which then
 * has fewer than 12 digits and escapes mask_national_ids: hide a trailing
 * run of digits whole. */
static void mask_cut_digits(char *s)
{
    size_t n = strlen(s), i = n;

    while (i > 0 && isdigit((unsigned char)s[i - 1]))
        i--;
    if (n - i < 12)
        memset(s + i, '*', n - i);
}

void cb_log_mask(char *s)
{
    mask_national_ids(s);
    mask_emails(s);
}

/* Appends s to out as JSON string content, capped at cap. */
static size_t json_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;

    for (; *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

void cb_log(cb_log_level_t level, const char *module, const char *fmt, ...)
{
    char msg[LOG_MSG_MAX], esc[LOG_MSG_MAX * 2], ts[32];
    int64_t now_ms = cb_clock_wall_ms();
    time_t now_s = (time_t)(now_ms / 1000);
    struct tm tm;
    va_list ap;
    int full;

    if (level < min_level || level > CB_LOG_ERROR)
        return;
    va_start(ap, fmt);
    full = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (full >= (int)sizeof(msg))
        mask_cut_digits(msg);
    cb_log_mask(msg);
    json_escape(esc, sizeof(esc), msg);
    gmtime_r(&now_s, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"module\":\"%s\",\"msg\":\"%s\"}\n",
            ts, (int)(now_ms % 1000), level_names[level], module, esc);
}
