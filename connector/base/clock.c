/*
 * clock.c: monotonic and wall clocks in milliseconds (clock.h).
 */
#include "certbridge/clock.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t calendar_offset_ms; /* tests only; 0 in production */

/* ts in microseconds. */
static int64_t read_us(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t cb_clock_mono_ms(void)
{
    return read_us(CLOCK_MONOTONIC) / 1000;
}

int64_t cb_clock_mono_us(void)
{
    return read_us(CLOCK_MONOTONIC);
}

int64_t cb_clock_wall_ms(void)
{
    return read_us(CLOCK_REALTIME) / 1000;
}

int64_t cb_clock_calendar_ms(void)
{
    return cb_clock_wall_ms() + atomic_load(&calendar_offset_ms);
}

void cb_clock_set_calendar_offset_ms(int64_t offset_ms)
{
    atomic_store(&calendar_offset_ms, offset_ms);
}
