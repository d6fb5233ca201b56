/*
 * clock.h: the two clocks certbridge reads, and nothing else reads a clock.
 *
 *   cb_clock_mono_*  CLOCK_MONOTONIC: durations, deadlines, backoff, timers.
 *                    Never goes back; meaningless across processes.
 *   cb_clock_wall_ms CLOCK_REALTIME: timestamps that leave the process
 *                    (outcomes' processed_at, reports, logs).
 * Thread-safe.
 */
#ifndef CB_CLOCK_H
#define CB_CLOCK_H

#include <stdint.h>

int64_t cb_clock_mono_ms(void);
int64_t cb_clock_mono_us(void);
int64_t cb_clock_wall_ms(void);

#endif
