/*
 * clock.h: the two clocks certbridge reads, and nothing else reads a clock.
 *
 *   cb_clock_mono_*  CLOCK_MONOTONIC: durations, deadlines, backoff, timers.
 *                    Never goes back; meaningless across processes.
 *   cb_clock_wall_ms CLOCK_REALTIME: timestamps that leave the process
 *                    (outcomes' processed_at, reports, logs).
 *   cb_clock_calendar_ms
 *                    CLOCK_REALTIME plus a test offset (0 unless set): the
 *                    time calendar rules compare with, i.e. whether an
 *                    event's effective date has come (effective.h).
 * Thread-safe.
 */
#ifndef CB_CLOCK_H
#define CB_CLOCK_H

#include <stdint.h>

int64_t cb_clock_mono_ms(void);
int64_t cb_clock_mono_us(void);
int64_t cb_clock_wall_ms(void);
int64_t cb_clock_calendar_ms(void);

/* Tests only: moves cb_clock_calendar_ms by offset_ms from the wall clock,
 * so a test can reach a date days ahead without waiting (the CLI reads
 * CB_TEST_CALENDAR_OFFSET_MS; README "Effective date"). */
void cb_clock_set_calendar_offset_ms(int64_t offset_ms);

#endif
