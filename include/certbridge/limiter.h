/*
 * limiter.h: how many CA calls may be in flight (docs/ARCHITECTURE.md §7).
 *
 * A CA, or the gateway in front of it, admits only so many calls: beyond its
 * rate it answers 429 (or 503), and before that its answers slow down as
 * calls queue inside it. The limiter finds that capacity by itself within
 * [1, max] (max is ca.concurrency) from what the answers tell, as TCP Vegas
 * and Netflix's concurrency-limits do, so an operator need not know the right
 * ca.concurrency in advance (ca.concurrency_mode=adaptive). In fixed mode the
 * limit is max, always.
 *
 * It starts at 8 (or max when lower) and decides at the end of each window
 * (at least 50 ms and two baselines, and min(2 x limit, 64) answers):
 *   - overloaded answers (429, 503, 504, timeouts) of calls sent under the
 *     current limit: the limit becomes limit x S/O, S the calls the CA served
 *     in flight meanwhile (Little's law: the served answers' times summed over
 *     the time they came in) and O the calls offered in flight (integrated
 *     over the same time), so the end of a batch, when the caller has fewer
 *     calls to make, lowers both. At least one less; and because a window
 *     measures a token bucket's rate only to within ~20% (its burst lends or
 *     withholds a tenth of a second's calls): a probe that overshot goes back
 *     to the plateau, a small excess (S/O >= 75%) costs at most a tenth, a
 *     larger one a quarter, and only below half (R halved) the whole cut; a
 *     window whose caller offered less than half the limit, or with fewer
 *     than 16 served answers, at most a tenth or a half. No increase follows
 *     for 2 s (the plateau), then probes of 1, 2, 4, ... at most 15% above
 *     the plateau until a level has held 0.5 s without overload, which
 *     becomes the plateau;
 *   - else latency: with B the baseline (the smallest served answer time of
 *     the last ~30 s) and m the window's smallest, about q = concurrency x
 *     (1 - B/m) calls queue at the CA (Vegas). q > max(6, 6 log10 limit): 10%
 *     less. q < max(3, 3 log10 limit) and the window used its limit (calls in
 *     flight reached 90% of it): more (doubled until the first decrease; then
 *     one more, or the probes above);
 *   - a window that did not use its limit (the caller had fewer calls to
 *     make) changes nothing: an unused limit is never raised.
 * A token bucket (the usual gateway) hides a small excess until its burst is
 * spent, which is why probes wait and stay small, and why a limit held
 * without 429s for half a second is trusted.
 *
 * An overloaded answer arrives at once where a served one takes the CA's
 * latency, so its slot would otherwise be reused at once and hit the limit
 * again, many times per served call: such a slot stays taken ("cooling")
 * until the baseline after its call started (100 ms while no baseline is
 * known). The calls offered per second are then limit/latency whatever the
 * CA answers.
 *
 * What it cannot do: keep a CA whose rate R admits less than one call per
 * latency (R x L < 1) below its rate (the limit stops at 1), or hit R
 * exactly when R x L is small (the limit is a whole number of calls: at R x
 * L = 2.5, 2 calls give 80% of R and 3 exceed it).
 *
 * Pure: no clock, no I/O (the caller passes the time, in microseconds of a
 * monotonic clock). Not thread-safe: one limiter per CA client, used from
 * its thread. test_limiter checks it against synthetic answers and a
 * simulated rate-limited CA.
 */
#ifndef CB_LIMITER_H
#define CB_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cb_limiter cb_limiter_t;

/* What one finished attempt tells the limiter. */
typedef enum cb_limiter_signal {
    CB_LIMITER_ANSWER = 0, /* a served answer (2xx, 409 ALREADY_*): its time is a sample */
    CB_LIMITER_OVERLOAD,   /* 429, 503, 504 or a timeout: the CA asks for less */
    CB_LIMITER_NONE        /* tells nothing about load (a refusal, a dropped connection) */
} cb_limiter_signal_t;

/* A limiter of at most max (>= 1) calls in flight, starting at max (a CA
 * that cannot take them says so within the first window). adaptive false:
 * the limit stays max (ca.concurrency_mode=fixed); the baseline is still
 * measured. NULL when out of memory; free with cb_limiter_destroy. */
cb_limiter_t *cb_limiter_new(int max, bool adaptive, int64_t now_us);
void cb_limiter_destroy(cb_limiter_t *l);

/* Whether one more call may start while in_flight calls run (calls whose
 * answer has not arrived): in_flight plus the cooling slots stay below the
 * limit. */
bool cb_limiter_may_start(cb_limiter_t *l, int64_t now_us, int in_flight);

/* A call started; in_flight counts it. */
void cb_limiter_started(cb_limiter_t *l, int64_t now_us, int in_flight);

/* A call's attempt finished after rtt_us with what it tells; in_flight
 * counts it (the calls in flight just before it ended). */
void cb_limiter_sample(cb_limiter_t *l, int64_t now_us, int64_t rtt_us, cb_limiter_signal_t s,
                       int in_flight);

/* The current limit, in [1, max]. */
int cb_limiter_limit(const cb_limiter_t *l);

/* The latency baseline in microseconds (0 until a served answer). */
int64_t cb_limiter_baseline_us(const cb_limiter_t *l);

/* Slots cooling at now_us. */
int cb_limiter_cooling(cb_limiter_t *l, int64_t now_us);

/* When the next cooling slot frees (microseconds), -1 when none cools: a
 * caller with calls waiting wakes up then. */
int64_t cb_limiter_next_free_us(const cb_limiter_t *l);

#endif
