/*
 * limiter.c: the adaptive bound on CA calls in flight (limiter.h).
 *
 * State: the limit, the current window's counts, the baseline (the smallest
 * served answer time per 4-second bucket over the last 8 buckets), the
 * plateau (the limit a decrease for overload set, which probes start from),
 * and the cooling slots (expiry times of slots an overloaded answer left).
 */
#include "certbridge/limiter.h"

#include <math.h>
#include <stdlib.h>

#define WINDOW_MIN_US      50000   /* shortest window */
#define WINDOW_SAMPLES_MAX 64      /* a window wants min(2 x limit, this) answers */
#define OVERLOAD_SAMPLES   16      /* served answers an overloaded window decides from */
#define INITIAL_LIMIT      8       /* slow start: from here, doubled per window */
#define HOLD_US            2000000 /* after an overload decrease, no increase for this long */
#define PROBE_CAP_PCT      15      /* a probe goes this far above the plateau... */
#define CONFIRM_US         500000  /* ...until it held this long: then it is the plateau */
#define COOL_DEFAULT_US    100000  /* cooling while no baseline is known */
#define BASE_BUCKETS       8       /* baseline: the smallest of 8 buckets... */
#define BASE_BUCKET_US     4000000 /* ...of 4 s each (about 30 s) */

struct cb_limiter {
    int max, limit;
    bool adaptive;

    /* the window */
    int64_t win_start;
    int win_ok;             /* served answers */
    int win_over;           /* overloaded answers of calls started after settled_since() */
    int64_t win_min_rtt;    /* the served answers' smallest time, -1 none */
    int win_served;         /* served answers since measure_from(): what the CA serves of
                             * what is offered under the current limit */
    int64_t win_served_rtt; /* the sum of their times */
    double win_offered;     /* calls in flight (cooling included) integrated over time
                             * since measure_from(), in call x microseconds */
    int64_t flight_t;       /* when the calls in flight last changed */
    int flight_n;           /* how many then, cooling included */
    int win_peak;           /* most calls in flight, cooling slots included */

    int64_t last_decrease; /* calls started before it were sent under an older limit */
    int64_t hold_until;    /* no increase before this time */
    int plateau;           /* the limit the last overload decrease set (or a probe held);
                            * 0 none yet */
    int probe_step;        /* the next probe's size after an overload; 0: +1 (Vegas) */
    bool slow_start;       /* no decrease yet: doubled per window */
    int64_t probe_since;   /* when the current probe level began, 0 not probing */

    int64_t base_min[BASE_BUCKETS]; /* smallest served time per bucket, -1 empty */
    int64_t base_epoch[BASE_BUCKETS];
    int64_t baseline; /* 0 unknown */

    int64_t *cool; /* expiry times of cooling slots (capacity max) */
    int n_cool;
    int64_t cool_min; /* the earliest expiry, valid when n_cool > 0 */
};

cb_limiter_t *cb_limiter_new(int max, bool adaptive, int64_t now_us)
{
    cb_limiter_t *l = calloc(1, sizeof(*l));
    int i;

    if (!l)
        return NULL;
    l->max = max < 1 ? 1 : max;
    l->limit = adaptive && l->max > INITIAL_LIMIT ? INITIAL_LIMIT : l->max;
    l->adaptive = adaptive;
    l->slow_start = adaptive;
    if (!(l->cool = calloc((size_t)l->max, sizeof(*l->cool)))) {
        free(l);
        return NULL;
    }
    l->win_start = now_us;
    l->win_min_rtt = -1;
    l->last_decrease = now_us;
    for (i = 0; i < BASE_BUCKETS; i++) {
        l->base_min[i] = -1;
        l->base_epoch[i] = -1;
    }
    return l;
}

void cb_limiter_destroy(cb_limiter_t *l)
{
    if (!l)
        return;
    free(l->cool);
    free(l);
}

int cb_limiter_limit(const cb_limiter_t *l)
{
    return l->limit;
}

int64_t cb_limiter_baseline_us(const cb_limiter_t *l)
{
    return l->baseline;
}

int cb_limiter_cooling(cb_limiter_t *l, int64_t now_us)
{
    int i, n = 0;

    if (!l->n_cool || now_us < l->cool_min)
        return l->n_cool;
    for (i = 0; i < l->n_cool; i++) {
        if (l->cool[i] <= now_us)
            continue;
        if (!n || l->cool[i] < l->cool_min)
            l->cool_min = l->cool[i];
        l->cool[n++] = l->cool[i];
    }
    l->n_cool = n;
    return n;
}

int64_t cb_limiter_next_free_us(const cb_limiter_t *l)
{
    return l->n_cool ? l->cool_min : -1;
}

bool cb_limiter_may_start(cb_limiter_t *l, int64_t now_us, int in_flight)
{
    return in_flight + cb_limiter_cooling(l, now_us) < l->limit;
}

/* Calls started from one baseline after the last decrease were offered
 * under the current limit (those before were sent under an older one, and
 * the calls in flight take that long to come down to a new one): only
 * their overloads count. */
static int64_t settled_since(const cb_limiter_t *l)
{
    return l->last_decrease + l->baseline;
}

/* The window's calls: from the later of its start and settled_since(). */
static int64_t fresh_since(const cb_limiter_t *l)
{
    return l->win_start > settled_since(l) ? l->win_start : settled_since(l);
}

/* Served answers arriving from one baseline after that came from calls
 * offered under the current limit. */
static int64_t measure_from(const cb_limiter_t *l)
{
    return fresh_since(l) + l->baseline;
}

/* Notes the calls in flight (cooling slots count: they are offered load):
 * the window's peak, and the integral of the calls offered over time since
 * measure_from(); in_flight_after is how many remain once this event is
 * done (one less for an answer). */
static void note_flight(cb_limiter_t *l, int64_t now_us, int in_flight, int in_flight_after)
{
    int cooling = cb_limiter_cooling(l, now_us);
    int64_t from = measure_from(l);

    if (from < l->flight_t)
        from = l->flight_t;
    if (now_us > from)
        l->win_offered += (double)l->flight_n * (double)(now_us - from);
    l->flight_t = now_us;
    l->flight_n = in_flight_after + cooling;
    if (in_flight + cooling > l->win_peak)
        l->win_peak = in_flight + cooling;
}

void cb_limiter_started(cb_limiter_t *l, int64_t now_us, int in_flight)
{
    note_flight(l, now_us, in_flight, in_flight);
}

/* Adds a served answer's time to its baseline bucket and recomputes the
 * baseline: the smallest of the buckets of the last BASE_BUCKETS epochs. */
static void baseline_add(cb_limiter_t *l, int64_t now_us, int64_t rtt_us)
{
    int64_t epoch = now_us / BASE_BUCKET_US, best = -1;
    int b = (int)(epoch % BASE_BUCKETS), i;

    if (l->base_epoch[b] != epoch) {
        l->base_epoch[b] = epoch;
        l->base_min[b] = rtt_us;
    } else if (rtt_us < l->base_min[b]) {
        l->base_min[b] = rtt_us;
    }
    for (i = 0; i < BASE_BUCKETS; i++)
        if (l->base_epoch[i] > epoch - BASE_BUCKETS && l->base_min[i] >= 0 &&
            (best < 0 || l->base_min[i] < best))
            best = l->base_min[i];
    l->baseline = best > 0 ? best : 1; /* an answer within a microsecond still counts */
}

/* Vegas thresholds: calls queued at the CA below alpha let the limit grow,
 * above beta make it shrink. */
static double alpha_of(int limit)
{
    double a = 3.0 * log10((double)limit);
    return a > 3.0 ? a : 3.0;
}

static double beta_of(int limit)
{
    double b = 6.0 * log10((double)limit);
    return b > 6.0 ? b : 6.0;
}

static int64_t window_us(const cb_limiter_t *l)
{
    return 2 * l->baseline > WINDOW_MIN_US ? 2 * l->baseline : WINDOW_MIN_US;
}

/* One tenth of a limit, at least one call. */
static int tenth(int level)
{
    return level / 10 > 1 ? level / 10 : 1;
}

/* Overloaded answers in the window: the limit becomes the concurrency the
 * CA served of what it was offered. By Little's law the served answers'
 * times summed over the time they arrived in (from measure_from()) are the
 * calls it served in flight, S, whatever the answer times' spread; the
 * calls offered in flight meanwhile, integrated the same way, are O. The
 * next limit is limit x S/O: when the caller had fewer calls to make for a
 * while (the end of a batch), S and O fall together. At least one less
 * than offered; at most halved when too few answers were served to go by. */
static void decrease_for_overload(cb_limiter_t *l, int64_t now_us, int level)
{
    double served = 0, offered;
    int64_t span = now_us - measure_from(l);
    int next;

    note_flight(l, now_us, l->flight_n, l->flight_n); /* the integral up to now */
    offered = span > 0 ? l->win_offered / (double)span : 0;
    if (l->win_served > 0 && span > 0 && offered >= 1)
        served = (double)l->win_served_rtt / (double)span * (double)level / offered;
    next = (int)(served + 0.5);
    if (span > 0 && offered < level / 2.0) {
        /* the caller had few calls to make for most of the window (the end
         * of a batch, however few answers it got): what the CA served says
         * little, take one tenth */
        next = level - tenth(level);
    } else if (l->win_served < OVERLOAD_SAMPLES) {
        /* too few served answers to go by (a CA refusing most calls) */
        if (next < level / 2)
            next = level / 2;
    } else if (l->plateau > 0 && level > l->plateau && 4 * next >= 3 * l->plateau) {
        /* a probe above the plateau found the CA's limit: back to it,
         * unless what the CA served says it admits clearly less now (a
         * window measures a token bucket's rate to within ~20%: its burst
         * lends or withholds up to a tenth of a second's calls) */
        next = l->plateau;
    } else if (4 * next >= 3 * level) {
        /* a small excess: at most a tenth less at a time */
        if (next < level - tenth(level))
            next = level - tenth(level);
    } else if (2 * next > level) {
        /* a large one: at most a quarter at a time, unless the CA served
         * less than half, which no measuring error explains */
        next = level - level / 4;
    }
    if (next > level - 1)
        next = level - 1;
    if (next < 1)
        next = 1;
    l->limit = next;
    l->slow_start = false;
    l->plateau = next;
    l->last_decrease = now_us;
    l->hold_until = now_us + HOLD_US;
    l->probe_step = 1;
    l->probe_since = 0;
}

/* No overload, the CA keeps up and the window used its limit: doubled
 * before any decrease (slow start), one more after a decrease for latency,
 * and after an overload (once the hold is over) a probe of 1, 2, 4, ... at
 * most PROBE_CAP_PCT above the plateau; a probe level held CONFIRM_US
 * becomes the plateau. */
static void increase(cb_limiter_t *l, int64_t now_us)
{
    int cap, next;

    if (now_us < l->hold_until)
        return;
    if (l->slow_start) {
        l->limit = 2 * l->limit < l->max ? 2 * l->limit : l->max;
        return;
    }
    if (!l->probe_step) {
        if (l->limit < l->max)
            l->limit++;
        return;
    }
    if (!l->probe_since)
        l->probe_since = now_us;
    else if (now_us - l->probe_since >= CONFIRM_US) {
        l->plateau = l->limit;
        l->probe_since = now_us;
    }
    cap =
        l->plateau + (l->plateau * PROBE_CAP_PCT / 100 > 1 ? l->plateau * PROBE_CAP_PCT / 100 : 1);
    next = l->limit + l->probe_step;
    if (next > cap)
        next = cap;
    if (next > l->max)
        next = l->max;
    if (next > l->limit) {
        l->limit = next;
        l->probe_step *= 2;
        if (l->probe_step > l->limit / 4)
            l->probe_step = l->limit / 4 > 1 ? l->limit / 4 : 1;
    }
}

/* Ends the window at now_us: decides the next limit and starts a new one. */
static void close_window(cb_limiter_t *l, int64_t now_us)
{
    int level = l->win_peak > 0 && l->win_peak < l->limit ? l->win_peak : l->limit;
    bool used = (int64_t)l->win_peak * 10 >= (int64_t)l->limit * 9;

    if (!l->adaptive) {
        /* fixed: the limit stays */
    } else if (l->win_over > 0) {
        decrease_for_overload(l, now_us, l->limit);
    } else if (l->win_ok > 0 && l->baseline > 0) {
        double queue = level * (1.0 - (double)l->baseline / (double)l->win_min_rtt);
        if (queue > beta_of(l->limit)) {
            int cut = l->limit / 10 > 1 ? l->limit / 10 : 1;
            l->limit = l->limit - cut > 1 ? l->limit - cut : 1;
            l->last_decrease = now_us;
            l->slow_start = false;
            l->probe_step = 0;
            l->probe_since = 0;
        } else if (used && queue < alpha_of(l->limit)) {
            increase(l, now_us);
        }
    }
    l->win_start = now_us;
    l->win_ok = l->win_over = l->win_served = 0;
    l->win_served_rtt = 0;
    l->win_offered = 0;
    l->win_min_rtt = -1;
    l->win_peak = 0;
}

void cb_limiter_sample(cb_limiter_t *l, int64_t now_us, int64_t rtt_us, cb_limiter_signal_t s,
                       int in_flight)
{
    int64_t start = now_us - (rtt_us > 0 ? rtt_us : 0), elapsed;
    int want;

    if (rtt_us < 0)
        rtt_us = 0;
    note_flight(l, now_us, in_flight, in_flight > 0 ? in_flight - 1 : 0);
    if (s == CB_LIMITER_ANSWER) {
        baseline_add(l, now_us, rtt_us);
        l->win_ok++;
        if (now_us >= measure_from(l)) {
            l->win_served++;
            l->win_served_rtt += rtt_us;
        }
        if (l->win_min_rtt < 0 || rtt_us < l->win_min_rtt)
            l->win_min_rtt = rtt_us;
    } else if (s == CB_LIMITER_OVERLOAD) {
        int64_t until = start + (l->baseline ? l->baseline : COOL_DEFAULT_US);
        if (l->adaptive && until > now_us && l->n_cool < l->max) {
            if (!l->n_cool || until < l->cool_min)
                l->cool_min = until;
            l->cool[l->n_cool++] = until;
        }
        if (start >= settled_since(l))
            l->win_over++;
    }
    elapsed = now_us - l->win_start;
    if (elapsed < window_us(l))
        return;
    /* an overloaded window measures what the CA serves for a window's
     * time, with at least OVERLOAD_SAMPLES answers, and decides from it */
    want = 2 * l->limit < WINDOW_SAMPLES_MAX ? 2 * l->limit : WINDOW_SAMPLES_MAX;
    if (l->win_over > 0
            ? l->win_served >= OVERLOAD_SAMPLES && now_us - measure_from(l) >= window_us(l)
            : l->win_ok + l->win_over >= want)
        close_window(l, now_us);
    else if (elapsed >= 10 * window_us(l))
        close_window(l, now_us);
}
