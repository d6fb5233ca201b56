/*
 * effective.c: the start of an effective date in a fixed-offset zone
 * (effective.h).
 */
#include "certbridge/effective.h"

#include <stdio.h>
#include <string.h>

#define DAY_MS     86400000LL
#define OFFSET_MAX (14 * 60) /* UTC+14:00 (Kiribati) and UTC-12:00 bound real zones */

/* Zone names with a fixed offset and no daylight saving time. */
static const struct {
    const char *name;
    int offset_min;
} zones[] = {
    {"Asia/Ho_Chi_Minh", 7 * 60},
    {"Asia/Saigon", 7 * 60},
    {"Asia/Bangkok", 7 * 60},
    {"Asia/Jakarta", 7 * 60},
    {"UTC", 0},
    {"Etc/UTC", 0},
};

/* "+HH:MM", "-HH:MM", "+HH" or "-HH" at s (all of it) into minutes. */
static int parse_offset(const char *s, int *out)
{
    int sign, h, m = 0;
    size_t len = strlen(s);

    if ((len != 3 && len != 6) || (s[0] != '+' && s[0] != '-'))
        return -1;
    sign = s[0] == '-' ? -1 : 1;
    if (s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
        return -1;
    h = (s[1] - '0') * 10 + (s[2] - '0');
    if (len == 6) {
        if (s[3] != ':' || s[4] < '0' || s[4] > '5' || s[5] < '0' || s[5] > '9')
            return -1;
        m = (s[4] - '0') * 10 + (s[5] - '0');
    }
    if (h * 60 + m > OFFSET_MAX)
        return -1;
    *out = sign * (h * 60 + m);
    return 0;
}

int cb_effective_tz_parse(const char *zone, int *offset_min, cb_error_t *err)
{
    size_t i;

    for (i = 0; zone && i < sizeof(zones) / sizeof(zones[0]); i++)
        if (!strcmp(zone, zones[i].name)) {
            *offset_min = zones[i].offset_min;
            return 0;
        }
    if (zone && !strncmp(zone, "UTC", 3) && parse_offset(zone + 3, offset_min) == 0)
        return 0;
    if (zone && parse_offset(zone, offset_min) == 0)
        return 0;
    return cb_error_set(err, CB_ERR_CONFIG,
                        "policy.timezone: \"%.64s\" is not Asia/Ho_Chi_Minh, UTC or a fixed "
                        "offset such as UTC+07:00 or -03:30 (zones with daylight saving time "
                        "are not supported)",
                        zone ? zone : "");
}

int64_t cb_effective_start_ms(int32_t days, int offset_min)
{
    return (int64_t)days * DAY_MS - (int64_t)offset_min * 60000;
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void civil(int64_t z, int *y, unsigned *mo, unsigned *d)
{
    int64_t era, yy;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    yy = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *mo = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*mo <= 2));
}

char *cb_effective_format(int64_t ms, int offset_min, char *buf, size_t size)
{
    int64_t local = ms + (int64_t)offset_min * 60000, days, rem;
    int y, off = offset_min < 0 ? -offset_min : offset_min;
    unsigned mo, d;

    days = local >= 0 ? local / DAY_MS : -((-local + DAY_MS - 1) / DAY_MS);
    rem = local - days * DAY_MS;
    civil(days, &y, &mo, &d);
    snprintf(buf, size, "%04d-%02u-%02u %02d:%02d %c%02d:%02d", y, mo, d, (int)(rem / 3600000),
             (int)(rem / 60000 % 60), offset_min < 0 ? '-' : '+', off / 60, off % 60);
    return buf;
}
