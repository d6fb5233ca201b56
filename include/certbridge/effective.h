/*
 * effective.h: when an event takes effect (docs/DOMAIN.md §4, "Effective
 * date"): 00:00 of its effective_date in policy.timezone, as epoch
 * milliseconds, and the zone names certbridge accepts.
 *
 * Zones are fixed UTC offsets: "Asia/Ho_Chi_Minh" (and its old name
 * "Asia/Saigon") is UTC+07:00, which has had no daylight saving time since
 * 1975, so every date certbridge acts on starts at 17:00 UTC the day before.
 * Other zones are written as offsets ("UTC", "UTC+07:00", "+07:00",
 * "-03:30"); zone names with daylight saving time are refused rather than
 * guessed. Pure functions; thread-safe.
 */
#ifndef CB_EFFECTIVE_H
#define CB_EFFECTIVE_H

#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"

#define CB_EFFECTIVE_TEXT_MAX 32 /* "YYYY-MM-DD 00:00 +07:00" and its NUL fit */

/* The UTC offset in minutes of a policy.timezone value: -1 with
 * CB_ERR_CONFIG naming it when it is neither a known zone nor an offset
 * within [-14:00, +14:00]. */
int cb_effective_tz_parse(const char *zone, int *offset_min, cb_error_t *err);

/* 00:00 of the day `days` (since 1970-01-01) in a zone offset_min minutes
 * east of UTC, as epoch milliseconds (UTC). */
int64_t cb_effective_start_ms(int32_t days, int offset_min);

/* The local date and time of epoch milliseconds ms in the zone, written as
 * "YYYY-MM-DD HH:MM +HH:MM" into buf (at least CB_EFFECTIVE_TEXT_MAX
 * bytes). Returns buf. */
char *cb_effective_format(int64_t ms, int offset_min, char *buf, size_t size);

#endif
