/*
 * metrics.h: Prometheus counters, gauges and a histogram, served on
 * metrics.listen as text format (GET /metrics) with a readiness probe
 * (GET /healthz: 200 only when the consumer group is joined, the CA is
 * reachable and no batch is held for an unavailable dependency, else 503
 * with a body that names what is missing, and since when for a hold).
 *
 * Updates are lock-free atomics and may come from any thread; the HTTP
 * server runs on its own thread. One registry per process.
 */
#ifndef CB_METRICS_H
#define CB_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"
#include "certbridge/vocab.h"

typedef struct cb_metrics cb_metrics_t;

/* A registry with every series at zero. Caller frees with cb_metrics_destroy
 * (which stops the server first). NULL when out of memory. */
cb_metrics_t *cb_metrics_new(void);
void cb_metrics_destroy(cb_metrics_t *m);

/* A decoded event of the given kind and type (cb_org_event_type_t or
 * cb_person_event_type_t). */
void cb_metrics_event(cb_metrics_t *m, cb_event_kind_t kind, int type);
void cb_metrics_action(cb_metrics_t *m, cb_action_t a, cb_outcome_status_t s);
void cb_metrics_ca_call(cb_metrics_t *m, double seconds); /* latency of one CA call */
void cb_metrics_ca_retries(cb_metrics_t *m, uint64_t n);
void cb_metrics_txn(cb_metrics_t *m, bool committed); /* commit or abort */
void cb_metrics_dead_letter(cb_metrics_t *m);
void cb_metrics_set_lag(cb_metrics_t *m, int64_t lag);     /* consumer lag, messages */
void cb_metrics_set_in_flight(cb_metrics_t *m, int64_t n); /* CA calls in flight */
void cb_metrics_set_group_joined(cb_metrics_t *m, bool joined);
/* CA requests that finish later (docs/ARCHITECTURE.md §5): how many are
 * open, the oldest one's age, how many passed ca.pending_deadline_hours, and
 * the events queued behind them. */
void cb_metrics_set_requests(cb_metrics_t *m, int64_t open, int64_t oldest_age_s, int64_t overdue,
                             int64_t queued);
void cb_metrics_ca_poll(cb_metrics_t *m); /* one check of an open request */
void cb_metrics_set_ca_reachable(cb_metrics_t *m, bool reachable);
bool cb_metrics_ready(const cb_metrics_t *m);

/* Why the pipeline holds a batch (docs/ARCHITECTURE.md §6): a dependency of
 * the environment is unavailable, and the batch waits for it with its
 * partitions paused instead of being dead-lettered or replayed. */
typedef enum cb_hold_cause {
    CB_HOLD_SCHEMA_REGISTRY = 0, /* a writer schema cannot be fetched */
    CB_HOLD_CA,                  /* the CA answers 429/5xx or not at all */
    CB_HOLD_KAFKA,               /* the brokers refuse a rewind (committed offsets, seek) */
    CB_HOLD_COUNT
} cb_hold_cause_t;

/* Sets the hold of cause: since_unix_s is the wall-clock second it began,
 * 0 when it ended. Exposed as certbridge_held{cause} (0/1) and
 * certbridge_held_since_timestamp_seconds{cause}; a hold makes the instance
 * not ready. */
void cb_metrics_set_held(cb_metrics_t *m, cb_hold_cause_t cause, int64_t since_unix_s);

/* The second the hold of cause began, 0 when not held. */
int64_t cb_metrics_held_since(const cb_metrics_t *m, cb_hold_cause_t cause);

/* The readiness verdict as /healthz answers it: writes a JSON object into
 * buf (truncated to size) and returns whether ready. E.g.
 * {"ready":false,"group_joined":true,"ca_reachable":true,
 *  "held":{"schema_registry":"2026-11-28T18:40:00Z"},
 *  "reason":"schema_registry unavailable since 2026-11-28T18:40:00Z (held 42 s)"}
 * now_unix_s is the current wall-clock second (for "held N s"). */
bool cb_metrics_health(const cb_metrics_t *m, int64_t now_unix_s, char *buf, size_t size);

/* Writes the text exposition into a malloc'd, NUL-terminated buffer the
 * caller frees. NULL when out of memory. */
char *cb_metrics_render(const cb_metrics_t *m);

/* Starts serving on "HOST:PORT" (e.g. 127.0.0.1:9464; port 0 picks a free
 * one) in a background thread. Returns 0, or -1 with CB_ERR_CONFIG naming
 * metrics.listen when the address is bad or taken. */
int cb_metrics_serve(cb_metrics_t *m, const char *listen, cb_error_t *err);

/* The port actually bound (after cb_metrics_serve), 0 when not serving. */
int cb_metrics_port(const cb_metrics_t *m);

/* The CA client's adaptive concurrency (limiter.h): the limit of calls in
 * flight and the latency baseline (certbridge_ca_concurrency_limit,
 * certbridge_ca_latency_baseline_seconds), and one overloaded answer,
 * http_status 429, 503 or 504, or 0 for an attempt that timed out
 * (certbridge_ca_overloaded_total{answer}). */
void cb_metrics_set_ca_limit(cb_metrics_t *m, int64_t limit, int64_t baseline_us);
void cb_metrics_ca_overload(cb_metrics_t *m, int http_status);

#endif
