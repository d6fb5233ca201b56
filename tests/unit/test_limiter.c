/*
 * test_limiter.c: the adaptive limit on CA calls in flight (limiter.h).
 *
 * Two tables. The first feeds the limiter synthetic windows of answers
 * (times, overloaded answers, how full the limit was) and checks the limit
 * it ends at, exactly. The second runs it against a simulated CA: a token
 * bucket (rate R, burst R/10, 429 answered at once) in front of a CA that
 * answers after L, or a single server whose answers slow down as calls queue,
 * with a caller that always has calls to make; simulated time, so the
 * figures do not depend on the machine. It checks that the limiter converges
 * (goodput, 429s), backs off, probes up after the rate comes back, and keeps
 * to [1, max].
 */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/limiter.h"

/* ---- synthetic answers ------------------------------------------------ */

/* `ms` milliseconds of answers: served ones at `served` per second taking
 * rtt_ms, overloaded ones at `over` per second (answered in 300 us), the
 * calls in flight at `fill` percent of the limit. */
typedef struct seg {
    int ms;
    int rtt_ms;
    int served, over; /* per second */
    int fill;         /* percent of the limit in flight */
} seg_t;

#define SEGS_MAX 6

static int play(cb_limiter_t *l, const seg_t *segs, int64_t *now)
{
    int i, t;

    for (i = 0; i < SEGS_MAX && segs[i].ms; i++) {
        const seg_t *s = &segs[i];
        double due_served = 0, due_over = 0;
        for (t = 0; t < s->ms; t++) {
            int in_flight = cb_limiter_limit(l) * s->fill / 100;
            *now += 1000;
            due_served += s->served / 1000.0;
            due_over += s->over / 1000.0;
            /* each answer frees a slot that a new call takes at once */
            for (; due_served >= 1; due_served -= 1) {
                cb_limiter_sample(l, *now, s->rtt_ms * 1000, CB_LIMITER_ANSWER, in_flight);
                cb_limiter_started(l, *now, in_flight);
            }
            for (; due_over >= 1; due_over -= 1) {
                cb_limiter_sample(l, *now, 300, CB_LIMITER_OVERLOAD, in_flight);
                cb_limiter_started(l, *now, in_flight);
            }
        }
    }
    return cb_limiter_limit(l);
}

/* Warm-ups: 1 s of a CA keeping up at 20 ms with the limit full, which
 * brings a limit of max to max (slow start from 8: 16, 32, 64...). */
// clang-format off
#define UP32 {1000, 20, 1600, 0, 100}
#define UP40 {1000, 20, 2000, 0, 100}
#define UP10 {1000, 20, 500, 0, 100}
/* 80 ms of a CA serving 20 calls in flight (1,000/s at 20 ms) of the 40
 * offered: 20 in flight, and 1,000 429s a second whose slots cool for the
 * 20 ms baseline, 20 more. One decision: to 40 x 20/40 = 20. */
#define OVER20 {80, 20, 1000, 1000, 50}
#define QUIET(ms) {ms, 20, 1000, 0, 100}
/* the same with the CA serving 24 of 40 (60%): no more than a quarter less */
#define OVER24 {80, 20, 1200, 800, 60}
// clang-format on

static void test_windows(void **state)
{
    static const struct {
        const char *name;
        int max;
        bool adaptive;
        seg_t segs[SEGS_MAX];
        int want_limit;
        int64_t want_baseline_us;
    } cases[] = {
        {"keeps up: slow start to max", 32, true, {UP32}, 32, 20000},
        {"never above max", 8, true, {{3000, 20, 400, 0, 100}}, 8, 20000},
        /* Little's law: 1,000 served a second at 20 ms are 20 in flight */
        {"429s: down to what the CA served", 40, true, {UP40, OVER20, QUIET(300)}, 20, 20000},
        {"429s, 60% served: a quarter less", 40, true, {UP40, OVER24, QUIET(300)}, 30, 20000},
        /* 429s while the caller had few calls to make (8 in flight of 40,
         * the end of a batch): what the CA served says little about its
         * capacity, a tenth less (one decision: 429s for 30 ms) */
        {"429s, the caller stalled: a tenth less",
         40,
         true,
         {UP40, {200, 20, 400, 0, 20}, {30, 20, 400, 100, 20}, QUIET(300)},
         36,
         20000},
        /* the same with so few answers (30 a second, 2 in flight of 10)
         * that the window with the 429 closes on its time (10 x 50 ms)
         * with 15 served: the stalled caller, not the CA (was: halved) */
        {"429s, the caller stalled, few answers: a tenth less",
         10,
         true,
         {UP10, {1600, 20, 30, 1, 20}, QUIET(300)},
         9,
         20000},
        {"429s at the limit: one less",
         10,
         true,
         {UP10, {100, 20, 500, 20, 100}, QUIET(300)},
         9,
         20000},
        /* the CA refuses everything: a window of 10 x 50 ms, halved */
        {"429s only: halved", 40, true, {UP40, {510, 20, 0, 500, 100}, QUIET(100)}, 20, 20000},
        {"429s only, on and on: down to 1, no lower",
         40,
         true,
         {UP40, {6000, 20, 0, 500, 100}},
         1,
         20000},
        /* a window whose fastest answer took 60 ms against a baseline of
         * 20: 32 x (1 - 20/60) = 21 queued > 6 log10(32) = 9: 10% less */
        {"latency growth: 10% less", 32, true, {UP32, {300, 60, 533, 0, 100}}, 29, 20000},
        /* 21 ms against 20: 32 x 0.05 = 1.5 queued < beta: no change */
        {"latency within the noise: no change",
         32,
         true,
         {UP32, {2000, 21, 1500, 0, 100}},
         32,
         20000},
        {"after 429s: holds 2 s", 40, true, {UP40, OVER20, QUIET(1900)}, 20, 20000},
        /* then probes 1, 2, ... up to 15% above the plateau (20 + 3) */
        {"then probes, at most 15% above", 40, true, {UP40, OVER20, QUIET(2400)}, 23, 20000},
        /* 0.5 s at 23 without 429s: 23 is the plateau, the cap 26 */
        {"a probe held 0.5 s stays", 40, true, {UP40, OVER20, QUIET(3000)}, 26, 20000},
        /* the caller had only half the limit's calls to make: kept */
        {"an unused limit is not raised",
         40,
         true,
         {UP40, OVER20, {4000, 20, 500, 0, 50}},
         20,
         20000},
        {"fixed: 429s change nothing", 40, false, {UP40, {2000, 20, 1000, 500, 100}}, 40, 20000},
        {"fixed: latency changes nothing", 32, false, {UP32, {2000, 60, 533, 0, 100}}, 32, 20000},
    };
    size_t i;
    int failed = 0;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t now = 1000000;
        cb_limiter_t *l = cb_limiter_new(cases[i].max, cases[i].adaptive, now);
        int got;
        assert_non_null(l);
        got = play(l, cases[i].segs, &now);
        if (got != cases[i].want_limit || cb_limiter_baseline_us(l) != cases[i].want_baseline_us) {
            print_message("%s: limit %d, baseline %lld us; want %d, %lld us\n", cases[i].name, got,
                          (long long)cb_limiter_baseline_us(l), cases[i].want_limit,
                          (long long)cases[i].want_baseline_us);
            failed++;
        }
        assert_true(got >= 1 && got <= cases[i].max);
        cb_limiter_destroy(l);
    }
    assert_int_equal(failed, 0);
}

/* An overloaded answer keeps its slot until the baseline after its start,
 * then frees it; a new overload after a decrease is what counts. */
static void test_cooling(void **state)
{
    int64_t now = 0;
    cb_limiter_t *l = cb_limiter_new(4, true, now);
    int i;

    (void)state;
    for (i = 0; i < 4; i++) { /* a baseline of 20 ms */
        now += 20000;
        cb_limiter_started(l, now - 20000, 4);
        cb_limiter_sample(l, now, 20000, CB_LIMITER_ANSWER, 4);
    }
    assert_int_equal(cb_limiter_baseline_us(l), 20000);
    assert_true(cb_limiter_may_start(l, now, 3));
    cb_limiter_sample(l, now + 300, 300, CB_LIMITER_OVERLOAD, 4);
    assert_int_equal(cb_limiter_cooling(l, now + 300), 1);
    assert_int_equal(cb_limiter_next_free_us(l), now + 20000);
    assert_false(cb_limiter_may_start(l, now + 300, 3)); /* 3 running + 1 cooling */
    assert_true(cb_limiter_may_start(l, now + 20000, 3));
    assert_int_equal(cb_limiter_cooling(l, now + 20000), 0);
    assert_int_equal(cb_limiter_next_free_us(l), -1);
    cb_limiter_destroy(l);

    /* fixed mode: nothing cools */
    l = cb_limiter_new(4, false, 0);
    cb_limiter_sample(l, 300, 300, CB_LIMITER_OVERLOAD, 4);
    assert_int_equal(cb_limiter_cooling(l, 300), 0);
    assert_true(cb_limiter_may_start(l, 300, 3));
    assert_false(cb_limiter_may_start(l, 300, 4));
    cb_limiter_destroy(l);
}

/* ---- the simulated CA ---------------------------------------------------- */

#define SIM_BIN_US 100000 /* statistics per 100 ms */
#define SIM_BINS   1200   /* at most 120 s */
#define SIM_STEPS  4
#define SIM_EVENTS 4096
#define REFUSE_US  300 /* a 429 is answered at once */

typedef struct sim_conf {
    const char *name;
    int max;
    bool adaptive;
    int64_t duration_us;
    double rate;        /* admitted calls per second; 0 = no rate limit */
    int64_t latency_us; /* a served answer's time */
    int64_t jitter_us;  /* plus up to this much */
    int64_t service_us; /* > 0: one server, calls queue (latency grows with concurrency) */
    int demand;         /* the caller's calls at most in flight; 0 = always more */
    double fail_share;  /* that share answered 503 whatever the load */
    struct {
        int64_t at_us;
        double rate;
    } steps[SIM_STEPS]; /* rate changes */
} sim_conf_t;

typedef struct sim_out {
    int served[SIM_BINS], over[SIM_BINS], limit[SIM_BINS];
    int64_t lat_sum[SIM_BINS];
    int min_limit, max_limit;
} sim_out_t;

typedef struct sim_ev {
    int64_t end, start;
    bool over;
} sim_ev_t;

static uint64_t sim_seed = 88172645463325252ULL, sim_rng;

static uint64_t sim_rand(void)
{
    sim_rng ^= sim_rng << 13;
    sim_rng ^= sim_rng >> 7;
    sim_rng ^= sim_rng << 17;
    return sim_rng;
}

/* A binary heap of answers by end time. */
static void heap_push(sim_ev_t *h, int *n, sim_ev_t e)
{
    int i = (*n)++;

    while (i > 0 && h[(i - 1) / 2].end > e.end) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static sim_ev_t heap_pop(sim_ev_t *h, int *n)
{
    sim_ev_t top = h[0], last = h[--(*n)];
    int i = 0, c;

    while ((c = 2 * i + 1) < *n) {
        if (c + 1 < *n && h[c + 1].end < h[c].end)
            c++;
        if (h[c].end >= last.end)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

static void simulate(const sim_conf_t *c, sim_out_t *o)
{
    static sim_ev_t heap[SIM_EVENTS];
    cb_limiter_t *l = cb_limiter_new(c->max, c->adaptive, 0);
    int n = 0, in_flight = 0, step = 0;
    double rate = c->rate, tokens = c->rate / 10, burst = c->rate / 10;
    int64_t t = 0, refilled = 0, server_free = 0;

    assert_non_null(l);
    memset(o, 0, sizeof(*o));
    o->min_limit = o->max_limit = cb_limiter_limit(l);
    sim_rng = sim_seed;
    while (t < c->duration_us) {
        int64_t next;
        /* rate changes (the tokens kept, up to the new burst) */
        while (step < SIM_STEPS && c->steps[step].at_us && c->steps[step].at_us <= t) {
            rate = c->steps[step++].rate;
            burst = rate / 10;
            if (tokens > burst)
                tokens = burst;
        }
        /* the caller starts what the limiter lets it */
        while ((!c->demand || in_flight < c->demand) && cb_limiter_may_start(l, t, in_flight)) {
            sim_ev_t e = {0, t, false};
            if (rate > 0) {
                tokens += (double)(t - refilled) / 1e6 * rate;
                if (tokens > burst)
                    tokens = burst;
            }
            refilled = t;
            if ((rate > 0 && tokens < 1) ||
                (c->fail_share > 0 && (double)(sim_rand() % 10000) < c->fail_share * 10000)) {
                e.over = true;
                e.end = t + REFUSE_US;
            } else {
                if (rate > 0)
                    tokens -= 1;
                if (c->service_us) {
                    server_free = (server_free > t ? server_free : t) + c->service_us;
                    e.end = server_free + c->latency_us;
                } else {
                    e.end = t + c->latency_us +
                            (c->jitter_us ? (int64_t)(sim_rand() % (uint64_t)c->jitter_us) : 0);
                }
            }
            assert_true(n < SIM_EVENTS);
            heap_push(heap, &n, e);
            in_flight++;
            cb_limiter_started(l, t, in_flight);
        }
        next = n ? heap[0].end : c->duration_us;
        if (cb_limiter_next_free_us(l) > t && cb_limiter_next_free_us(l) < next)
            next = cb_limiter_next_free_us(l);
        if (step < SIM_STEPS && c->steps[step].at_us && c->steps[step].at_us < next)
            next = c->steps[step].at_us;
        if (next <= t)
            next = t + 1;
        t = next;
        while (n && heap[0].end <= t) {
            sim_ev_t e = heap_pop(heap, &n);
            int bin = (int)(e.end / SIM_BIN_US);
            cb_limiter_sample(l, e.end, e.end - e.start,
                              e.over ? CB_LIMITER_OVERLOAD : CB_LIMITER_ANSWER, in_flight);
            in_flight--;
            if (bin < SIM_BINS) {
                if (e.over) {
                    o->over[bin]++;
                } else {
                    o->served[bin]++;
                    o->lat_sum[bin] += e.end - e.start;
                }
            }
        }
        if (t / SIM_BIN_US < SIM_BINS)
            o->limit[t / SIM_BIN_US] = cb_limiter_limit(l);
        if (cb_limiter_limit(l) < o->min_limit)
            o->min_limit = cb_limiter_limit(l);
        if (cb_limiter_limit(l) > o->max_limit)
            o->max_limit = cb_limiter_limit(l);
    }
    cb_limiter_destroy(l);
    if (getenv("CB_LIMITER_TRACE")) { /* time, served/s, 429/s, limit: for a plot */
        int b;
        for (b = 0; b < SIM_BINS && (int64_t)b * SIM_BIN_US < c->duration_us; b++)
            printf("%s %.1f %d %d %d\n", c->name, b / 10.0, o->served[b] * 10, o->over[b] * 10,
                   o->limit[b]);
    }
}

/* Served calls per second over [from_s, to_s). */
static double goodput(const sim_out_t *o, double from_s, double to_s)
{
    int b, from = (int)(from_s * 10), to = (int)(to_s * 10);
    long sum = 0;

    for (b = from; b < to && b < SIM_BINS; b++)
        sum += o->served[b];
    return (double)sum / (to_s - from_s);
}

/* Overloaded answers' share of all answers over [from_s, to_s). */
static double overload_share(const sim_out_t *o, double from_s, double to_s)
{
    int b;
    long s = 0, v = 0;

    for (b = (int)(from_s * 10); b < (int)(to_s * 10) && b < SIM_BINS; b++) {
        s += o->served[b];
        v += o->over[b];
    }
    return s + v ? (double)v / (double)(s + v) : 0;
}

/* The first second from `from_s` after which every 1-second goodput until
 * to_s lies within [lo, hi] calls/s, as seconds after from_s; -1 never. */
static double settle_s(const sim_out_t *o, double from_s, double to_s, double lo, double hi)
{
    double t, settled = -1;

    for (t = from_s; t + 1 <= to_s + 1e-9; t += 0.1) {
        double g = goodput(o, t, t + 1);
        if (g < lo || g > hi)
            settled = -1;
        else if (settled < 0)
            settled = t - from_s;
    }
    return settled;
}

static double mean_latency_ms(const sim_out_t *o, double from_s, double to_s)
{
    int b;
    long n = 0;
    int64_t sum = 0;

    for (b = (int)(from_s * 10); b < (int)(to_s * 10) && b < SIM_BINS; b++) {
        n += o->served[b];
        sum += o->lat_sum[b];
    }
    return n ? (double)sum / (double)n / 1000.0 : 0;
}

static sim_out_t sim_result;

/* The rate-limited CA of the benchmark: R = 500/s and 2,000/s at L = 20 ms
 * (1 ms jitter), ca.concurrency 128: from 5 s on at least 95% of R served
 * and at most 2% of answers 429. */
static void test_sim_rate_limit(void **state)
{
    static const double rates[] = {500, 2000};
    double g[2], share[2];
    int lo[2], hi[2];
    size_t i;

    (void)state;
    for (i = 0; i < 2; i++) {
        sim_conf_t c = {"rate", 128, true, 60000000, rates[i], 20000, 1000, 0, 0, 0, {{0, 0}}};
        simulate(&c, &sim_result);
        g[i] = goodput(&sim_result, 5, 60);
        share[i] = overload_share(&sim_result, 0, 60);
        lo[i] = sim_result.min_limit;
        hi[i] = sim_result.max_limit;
        printf("# R=%.0f/s: goodput %.1f/s (%.1f%%), 429s %.2f%% (%.2f%% after 5 s), limit "
               "%d..%d\n",
               rates[i], g[i], 100 * g[i] / rates[i], 100 * share[i],
               100 * overload_share(&sim_result, 5, 60), lo[i], hi[i]);
    }
    for (i = 0; i < 2; i++) {
        assert_true(g[i] >= 0.95 * rates[i]);
        assert_true(g[i] <= 1.10 * rates[i]); /* burst R/10 at most */
        assert_true(share[i] <= 0.02);
        assert_true(lo[i] >= 1 && hi[i] <= 128);
    }
}

/* The same CA with fixed limits: 128 floods it with 429s (they come back at
 * once, so the slots turn over fast), 32 at 2,000/s leaves capacity unused. */
static void test_sim_fixed(void **state)
{
    sim_conf_t c = {"fixed", 128, false, 20000000, 500, 20000, 1000, 0, 0, 0, {{0, 0}}};

    (void)state;
    simulate(&c, &sim_result);
    printf("# fixed 128 at 500/s: 429s %.1f%%\n", 100 * overload_share(&sim_result, 0, 20));
    assert_true(overload_share(&sim_result, 0, 20) > 0.5);
    assert_int_equal(sim_result.min_limit, 128);
    c.max = 32;
    c.rate = 2000;
    simulate(&c, &sim_result);
    printf("# fixed 32 at 2000/s: goodput %.0f/s\n", goodput(&sim_result, 5, 20));
    assert_true(goodput(&sim_result, 5, 20) < 0.82 * 2000); /* 32 / 20.5 ms = 1,560/s */
    assert_true(overload_share(&sim_result, 0, 20) == 0);
}

/* R halves at 20 s and comes back at 40 s: each time the 1-second goodput
 * is within [90%, 110%] of the new R and stays there within 5 s. */
static void test_sim_step(void **state)
{
    static const double rates[] = {500, 2000};
    double down[2], up[2];
    size_t i;

    (void)state;
    for (i = 0; i < 2; i++) {
        double r = rates[i];
        sim_conf_t c = {"step",
                        128,
                        true,
                        60000000,
                        r,
                        20000,
                        1000,
                        0,
                        0,
                        0,
                        {{20000000, r / 2}, {40000000, r}}};
        simulate(&c, &sim_result);
        down[i] = settle_s(&sim_result, 20, 40, 0.9 * r / 2, 1.2 * r / 2);
        up[i] = settle_s(&sim_result, 40, 60, 0.9 * r, 1.2 * r);
        printf("# step %.0f -> %.0f -> %.0f: settled in %.1f s and %.1f s, 429s %.2f%%\n", r, r / 2,
               r, down[i], up[i], 100 * overload_share(&sim_result, 0, 60));
    }
    for (i = 0; i < 2; i++) {
        assert_true(down[i] >= 0 && down[i] <= 5);
        assert_true(up[i] >= 0 && up[i] <= 5);
    }
}

/* A CA whose answers slow down as calls queue in it (one server, 200 us a
 * call, so 5,000 calls/s at most, plus 2 ms): the limit comes down from 128
 * to a few calls queued, the CA still kept busy, its latency a fraction of
 * what 128 in flight make it. */
static void test_sim_latency(void **state)
{
    sim_conf_t c = {"queue", 128, true, 30000000, 0, 2000, 0, 200, 0, 0, {{0, 0}}};
    double g, lat, lat_fixed;

    (void)state;
    simulate(&c, &sim_result);
    g = goodput(&sim_result, 5, 30);
    lat = mean_latency_ms(&sim_result, 5, 30);
    c.adaptive = false;
    simulate(&c, &sim_result);
    lat_fixed = mean_latency_ms(&sim_result, 5, 30);
    printf("# queueing CA: %.0f calls/s, latency %.1f ms (fixed 128: %.1f ms)\n", g, lat,
           lat_fixed);
    assert_true(g >= 0.9 * 5000);
    assert_true(lat < lat_fixed / 3);
}

/* The bounds: a CA that keeps up leaves the limit at max; one that answers
 * 503 to everything brings it to 1 and no lower; a caller with few calls
 * to make leaves it alone. */
static void test_sim_bounds(void **state)
{
    sim_conf_t keeps_up = {"fast", 32, true, 20000000, 0, 20000, 1000, 0, 0, 0, {{0, 0}}};
    sim_conf_t down = {"down", 32, true, 20000000, 0, 20000, 1000, 0, 0, 1.0, {{0, 0}}};
    sim_conf_t few = {"few", 32, true, 20000000, 0, 20000, 1000, 0, 4, 0, {{0, 0}}};

    (void)state;
    simulate(&keeps_up, &sim_result);
    assert_int_equal(sim_result.min_limit, 8); /* slow start */
    assert_int_equal(sim_result.max_limit, 32);
    assert_int_equal(sim_result.limit[2], 32); /* within 300 ms */
    assert_true(goodput(&sim_result, 1, 20) >= 0.95 * 32 / 0.0205);
    simulate(&down, &sim_result);
    assert_int_equal(sim_result.min_limit, 1);
    assert_int_equal(sim_result.limit[199], 1);
    simulate(&few, &sim_result); /* 4 calls at a time: the start limit, kept */
    assert_int_equal(sim_result.min_limit, 8);
    assert_int_equal(sim_result.max_limit, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows),        cmocka_unit_test(test_cooling),
        cmocka_unit_test(test_sim_rate_limit), cmocka_unit_test(test_sim_fixed),
        cmocka_unit_test(test_sim_step),       cmocka_unit_test(test_sim_latency),
        cmocka_unit_test(test_sim_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
