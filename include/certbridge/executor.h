/*
 * executor.h: turns a batch of planned events into CA calls and outcomes.
 *
 * For every event of the batch and every holder its intents name, the
 * executor looks up the holder's active certificates at the CA (a live
 * lookup, without an Idempotency-Key: the CA's current state), expands each
 * intent into one action per certificate (resolution), makes the calls and
 * records one outcome per action. A replayed batch must make exactly the
 * calls of its first attempt, so a lookup is made durable before any call
 * that depends on it (cb_executor_set_durable_lookups: the pipeline writes
 * it to the state topic), and a replay gets it back instead of asking the CA
 * again (cb_work_t.lookups; docs/ARCHITECTURE.md §5). A lookup follows every
 * page of the CA's answer (GET /v1/certificates with page_size and cursor)
 * before the step acts on it: the whole answer is made durable at once, so
 * a lookup holds at most CB_EXECUTOR_LOOKUP_MAX certificates in memory (a
 * holder or an organization's persons listing more fails its step, FAILED
 * "lookup_too_large", without a call). Holders run concurrently (up
 * to ca.concurrency requests in flight); the steps of one holder run in
 * batch order. Retriable CA failures never fail the batch: the request is
 * tried again after a pause, and cb_executor_stalled() tells the pipeline to
 * pause its partitions meanwhile. Every string of the CA's answers reaches an
 * outcome bounded to CB_OUTSIDE_TEXT_MAX (outcome.h).
 *
 * Threads: an executor and its CA client are used from one thread. It never
 * exits or aborts the process: failures come back from cb_executor_start and
 * cb_executor_step (docs/ARCHITECTURE.md §6).
 */
#ifndef CB_EXECUTOR_H
#define CB_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/ca_client.h"
#include "certbridge/error.h"
#include "certbridge/event.h"
#include "certbridge/metrics.h"
#include "certbridge/outcome.h"
#include "certbridge/rules.h"

/* Certificates one lookup may list (a cascade over an organization's
 * persons included), and the page size it asks for. Beyond the limit the
 * step fails without a call: its certificates, their actions and their W
 * records are what the executor and the state topic hold for it
 * (docs/ARCHITECTURE.md §7). */
#define CB_EXECUTOR_LOOKUP_MAX 50000
#define CB_EXECUTOR_PAGE_SIZE  CB_CA_PAGE_SIZE_DEFAULT

/* What the lookup of one (event, holder) step answered: the holder's active
 * certificates. Owned by whoever holds it (cb_work_lookup_clear). */
typedef struct cb_work_lookup {
    char *holder_key; /* cb_executor_holder_key of the step's intents */
    cb_ca_cert_t *certs;
    size_t cert_count;
} cb_work_lookup_t;

/* Frees what l holds and zeroes it. */
void cb_work_lookup_clear(cb_work_lookup_t *l);

/* Deep copies n certificates into *out (malloc'd; NULL when n is 0). -1
 * when memory ran out (nothing kept). Free with cb_work_certs_free. */
int cb_work_certs_copy(const cb_ca_cert_t *certs, size_t n, cb_ca_cert_t **out);
void cb_work_certs_free(cb_ca_cert_t *certs, size_t n);

/* One planned event of a batch. The pipeline fills the input half; the
 * executor fills outcomes. Everything is owned by the work item and freed by
 * cb_work_clear(). */
typedef struct cb_work {
    cb_event_t ev;
    cb_intent_list_t intents;
    char *topic;
    int32_t partition;
    int64_t offset;
    /* lookups made durable by an earlier attempt of this event (a replay):
     * a step whose holder key is here uses them instead of asking the CA */
    cb_work_lookup_t *lookups;
    size_t n_lookups;
    cb_outcome_t *outcomes; /* in action_index order once done */
    size_t *outcome_intent; /* per outcome: the index of its intent in intents */
    size_t outcome_count;
    bool resumed;   /* taken from a holder's queue (its message was read before) */
    int64_t due_ms; /* the pipeline's: when its effective date starts, if it
                     * waited for it (SCHEDULED outcomes published), else 0 */
} cb_work_t;

void cb_work_clear(cb_work_t *w);

/* The key that orders one holder's steps, e.g. "P:hr-0042": "O:<org code>"
 * for an organization, "P:<person_id>" for a person, "C:<org code>" for a
 * cascade over the persons of an organization. Malloc'd; NULL when memory
 * ran out. */
char *cb_executor_holder_key(const cb_intent_t *in);

typedef struct cb_executor cb_executor_t;

/* An executor using ca and metrics (both borrowed, must outlive the
 * executor; metrics may be NULL). */
cb_executor_t *cb_executor_new(cb_ca_client_t *ca, cb_metrics_t *metrics, cb_error_t *err);
void cb_executor_destroy(cb_executor_t *ex);

/* Plans the execution of works[0..n) (borrowed until the executor is done
 * or reset); the first cb_executor_step makes the first CA calls. Returns -1
 * with CB_ERR_NOMEM when memory ran out: nothing of the batch is kept. */
int cb_executor_start(cb_executor_t *ex, cb_work_t *works, size_t n, cb_error_t *err);

/* Drives the CA calls for at most timeout_ms. Returns 1 when every work item
 * has its outcomes, 0 while work remains, and -1 when the batch failed: err
 * (may be NULL) says why, flagged CB_ERRF_ABORTABLE; today the only cause
 * is memory running out (CB_ERR_NOMEM). A CA call the client refuses to form
 * is not a batch failure: its action gets a FAILED outcome (error_code
 * "client").
 *
 * After -1 the batch has no outcomes (the work items keep none) and every
 * later call answers -1 again until cb_executor_reset() or the next
 * cb_executor_start() (which resets). The caller must not commit the batch:
 * it calls cb_executor_reset() (which waits for the requests still in
 * flight), drops the batch and either replays it, rewinding its partitions
 * to the last committed offsets (the CA calls already made are idempotent,
 * so a replay repeats none of their effects), or stops the instance. */
int cb_executor_step(cb_executor_t *ex, int timeout_ms, cb_error_t *err);

/* The page size of lookups (1..CB_CA_PAGE_SIZE_MAX; a page the CA answers
 * with more than CB_CA_BODY_MAX is asked for again, halved) and the
 * certificates one lookup may list (1..CB_EXECUTOR_LOOKUP_MAX). The
 * defaults are CB_EXECUTOR_PAGE_SIZE and CB_EXECUTOR_LOOKUP_MAX; tests set
 * smaller ones. Out-of-range values are clamped. Takes effect at the next
 * cb_executor_start. */
void cb_executor_set_lookup_limits(cb_executor_t *ex, int page_size, size_t max_certs);

/* Durable lookups (off by default): with on, a step whose lookup the CA
 * answered makes no call until the caller said the answer is durable. The
 * caller takes the answers with cb_executor_lookups_to_persist, writes them
 * (the state topic's W records) and calls cb_executor_lookups_persisted.
 * Lookups given in cb_work_t.lookups are durable already. */
void cb_executor_set_durable_lookups(cb_executor_t *ex, bool on);

/* One lookup answer waiting to be made durable; views into the batch, valid
 * until the next cb_executor_step, reset or start. */
typedef struct cb_executor_lookup {
    const cb_work_t *work;
    const char *holder_key;
    const cb_ca_cert_t *certs;
    size_t cert_count;
} cb_executor_lookup_t;

/* The lookups answered since the last call, handed to the caller to be made
 * durable: *out points at an array owned by the executor (valid as above).
 * Returns how many; 0 when none waits. Calling it again before
 * cb_executor_lookups_persisted hands over the newer ones only. */
size_t cb_executor_lookups_to_persist(cb_executor_t *ex, const cb_executor_lookup_t **out);

/* Every lookup handed over so far is durable: the next cb_executor_step
 * makes the calls that depend on them. */
void cb_executor_lookups_persisted(cb_executor_t *ex);

/* True while some request waits to be retried because the CA is unavailable. */
bool cb_executor_stalled(const cb_executor_t *ex);

/* While the CA's last answer in this batch said it is unavailable (a request
 * held for a retry, and no other answer since): why ("error_code: message",
 * borrowed, valid until the next step or reset), else NULL. Unlike
 * cb_executor_stalled it stays set while the retried request is in flight,
 * so the pipeline can tell a hold from its end (docs/ARCHITECTURE.md §6). */
const char *cb_executor_ca_down(const cb_executor_t *ex);

/* Waits for requests in flight to finish and forgets the batch (after a
 * rebalance or shutdown). Outcomes already filled stay in the work items. */
void cb_executor_reset(cb_executor_t *ex);

#endif
