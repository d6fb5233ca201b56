/*
 * requests.h: following CA requests that finish later (docs/ARCHITECTURE.md
 * §5, "CA requests that finish later").
 *
 * Every open request of the state (state.h) is checked with GET
 * /v1/requests/{id} until the CA gives its final state: the first check
 * ca.poll_initial_ms after the PENDING answer, each further one twice as
 * late, up to ca.poll_max_ms, and never more than ca.poll_rate checks per
 * second for the whole instance (a token bucket). A final state becomes the
 * request's final outcome (cb_state_request_final): the same outcome_id,
 * final true, status SUCCEEDED (with the new serial), ALREADY_DONE,
 * REJECTED (the CA's reason in error_code and error_message), or FAILED
 * with error_code EXPIRED or CANCELLED when the CA expired or cancelled it.
 * The pipeline publishes it in its next transaction, the one that closes
 * the request. Requests past ca.pending_deadline_hours working hours are
 * logged once and counted.
 *
 * The checks use a CA client of their own (same ca.* configuration), so
 * they never mix with a batch's calls. Threads: the main (poll) thread only.
 */
#ifndef CB_REQUESTS_H
#define CB_REQUESTS_H

#include <stddef.h>
#include <stdint.h>

#include "certbridge/ca_client.h"
#include "certbridge/config.h"
#include "certbridge/error.h"
#include "certbridge/metrics.h"
#include "certbridge/state.h"

typedef struct cb_requests cb_requests_t;

/* A follower of st's open requests (st and metrics borrowed, metrics may be
 * NULL). NULL with err (a bad ca.* key, memory). */
cb_requests_t *cb_requests_new(const cb_config_t *cfg, cb_state_t *st, cb_metrics_t *metrics,
                               cb_error_t *err);

/* Waits for the checks in flight (their answers are dropped) and frees. */
void cb_requests_destroy(cb_requests_t *rq);

/* Applies the answers that came back, starts the checks that are due (as
 * the rate allows) and, at most once a second, refreshes the gauges and
 * logs requests that passed the deadline. Never waits. */
void cb_requests_step(cb_requests_t *rq);

/* When a request opened now is first checked (monotonic ms). */
int64_t cb_requests_first_poll(const cb_requests_t *rq);

/* Checks in flight. */
size_t cb_requests_in_flight(const cb_requests_t *rq);

/* Pure parts, for the tests. */

/* The wait after the polls-th check that found the request still open:
 * min(max_ms, initial_ms * 2^polls). */
int64_t cb_requests_backoff_ms(int polls, int64_t initial_ms, int64_t max_ms);

/* Milliseconds of [from_ms, to_ms) (Unix ms) that fall on a Monday to
 * Friday in the time zone utc_offset_min minutes east of UTC. */
int64_t cb_requests_working_ms(int64_t from_ms, int64_t to_ms, int utc_offset_min);

/* The final outcome of r from a check's answer a: 1 with *out (malloc'd:
 * the caller clears and frees it) when the CA gave a final state, 0 when
 * the request is still open (PENDING, or the CA unavailable), -1 when
 * memory ran out. now_ms is the wall clock. */
int cb_requests_final(const cb_open_req_t *r, const cb_ca_req_t *a, int64_t now_ms,
                      cb_outcome_t **out);

#endif
