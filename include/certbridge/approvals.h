/*
 * approvals.h: `certbridge approvals`, what awaits the approval of the
 * managing agency heads (docs/ARCHITECTURE.md §5, "The approval gate";
 * docs/DOMAIN.md §6, "The managing agency"), read back from the outcome
 * topic, and the request letters an HR officer prints for each agency.
 *
 * Two layers, as report.h. The set takes outcomes (cb_approvals_add, no
 * Kafka) and groups what awaits approval; the writers render a terminal
 * table, a JSON document, or printable HTML pages (one per agency and an
 * index). The command feeds it from the topic with outcome_read.h.
 *
 * Grouping:
 *   - an action is its source_event_id and action_index, in one of two
 *     namespaces: the gate's records ("<event_id>/approval/<i>", gate.h: i
 *     is the intent's index) and the actions' own outcomes
 *     ("<event_id>/<index>"); the outcome added last for an action is its
 *     latest (the reader gives a partition's records in order, and the
 *     outcomes of one event share a partition);
 *   - an action awaits approval when its latest outcome is
 *     AWAITING_APPROVAL with final false: approved (the gate's
 *     AWAITING_APPROVAL record with final true, or any later status:
 *     SUCCEEDED, PENDING, ...), rejected or cancelled, it is not listed;
 *   - awaiting actions are grouped by approval_request_id (one request per
 *     managing agency and day); one without a request id is only counted
 *     (cb_approvals_unassigned): no letter can name it;
 *   - a request's agency is managing_agency_code and _name of its first
 *     action; requests are grouped by agency (its code, else its name);
 *   - a request's day is the "-YYYYMMDD" ending of its id (the gate builds
 *     ids "<agency code>-<YYYYMMDD>"), else the date of its earliest
 *     action's processed_at in Vietnam's time (UTC+7);
 *   - certificates: the gate's records name the holder, not its
 *     certificates (they are looked up when the action runs); the command
 *     asks the CA for the holders' active certificates
 *     (cb_approvals_holders, cb_approvals_add_cert) when told to;
 *   - key tokens to return: the distinct device ids of its RECALL_DEVICE
 *     and REVOKE actions, their outcome's or their holder's certificates'
 *     (rule K1, docs/DOMAIN.md §3.2: every revocation recalls the token);
 *   - an agency filter (cb_approvals_set_agency) keeps the requests of one
 *     managing agency code.
 * Order: agencies by code (those known by name only after, by name), the
 * requests of an agency by day then id, a request's actions by event id
 * then action index.
 *
 * A set is used by one thread at a time.
 */
#ifndef CB_APPROVALS_H
#define CB_APPROVALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "certbridge/error.h"
#include "certbridge/outcome.h"

#define CB_APPROVALS_MAX_OUTCOMES 2000000 /* outcome records one set holds (CB_ERR_LIMIT) */

typedef struct cb_approvals cb_approvals_t;

/* An active certificate of a holder, as the CA listed it. */
typedef struct cb_approvals_cert {
    const char *serial;
    const char *device_id; /* may be NULL */
} cb_approvals_cert_t;

/* One action awaiting approval, from its latest outcome. Strings owned by
 * the set; NULL where the outcome had null. */
typedef struct cb_approvals_action {
    const char *outcome_id, *source_event_id, *source_event_type;
    int32_t action_index;
    cb_action_t action;
    cb_holder_type_t holder_type;
    const char *holder_id, *holder_name;
    const char *certificate_serial, *device_id;
    cb_revocation_reason_t revocation_reason; /* CB_REASON_NONE: none */
    const char *note;
    int64_t processed_at_ms; /* when it was published AWAITING_APPROVAL; 0 unknown */
    /* its holder's active certificates at the CA, when its outcome names
     * none and they were looked up (cb_approvals_add_cert) */
    const cb_approvals_cert_t *certs;
    size_t n_certs;
    bool certs_looked_up; /* the CA was asked (n_certs 0: it has none active) */
} cb_approvals_action_t;

/* One approval request: the actions one agency head approves in one
 * letter. Arrays owned by the set. */
typedef struct cb_approvals_request {
    const char *id;          /* approval_request_id */
    const char *agency_code; /* may be NULL */
    const char *agency_name; /* may be NULL */
    char day[11];            /* "YYYY-MM-DD", "" when unknown */
    const cb_approvals_action_t *const *actions;
    size_t n_actions;
    size_t revocations;        /* certificates to revoke: a REVOKE action's
                                * certificate, or each of its holder's (at
                                * least 1 when none is known) */
    const char *const *tokens; /* key tokens to return, sorted */
    size_t n_tokens;
    int64_t since_ms; /* the earliest processed_at of its actions; 0 unknown */
} cb_approvals_request_t;

/* A managing agency with its requests: cb_approvals_requests()[first ..
 * first + n_requests). The sums add its requests up. */
typedef struct cb_approvals_agency {
    const char *code; /* NULL when known by name only (or not at all) */
    const char *name; /* NULL when unknown */
    size_t first, n_requests;
    size_t n_actions, revocations, n_tokens;
} cb_approvals_agency_t;

/* An empty set; NULL when out of memory. Caller frees with
 * cb_approvals_destroy(). */
cb_approvals_t *cb_approvals_new(void);
void cb_approvals_destroy(cb_approvals_t *a);

/* Copies what the set needs of o (o stays the caller's). CB_ERR_LIMIT past
 * CB_APPROVALS_MAX_OUTCOMES, CB_ERR_NOMEM, CB_ERR_INVALID for an action or
 * status out of range. Not after cb_approvals_finish. */
int cb_approvals_add(cb_approvals_t *a, const cb_outcome_t *o, cb_error_t *err);

/* Counts a message of the topic that did not decode as an outcome. */
void cb_approvals_add_undecodable(cb_approvals_t *a);

/* Keeps only the requests of the managing agency whose code is code
 * (copied; NULL: every agency). Before cb_approvals_finish; CB_ERR_NOMEM. */
int cb_approvals_set_agency(cb_approvals_t *a, const char *code, cb_error_t *err);

/* Keeps the latest outcome of each action, groups the awaiting ones, sorts.
 * Call once, after the last add; the accessors and writers need it. */
int cb_approvals_finish(cb_approvals_t *a, cb_error_t *err);

/* new + set_agency(agency) + add each of outcomes[0..n) + finish; NULL
 * with err on failure. */
cb_approvals_t *cb_approvals_build(const cb_outcome_t *outcomes, size_t n, const char *agency,
                                   cb_error_t *err);

/* Figures of a finished set: outcome records added, distinct actions,
 * actions awaiting approval (in the requests listed, after the filter),
 * awaiting ones without a request id (not listed; after the filter when
 * their agency code is known), undecodable messages. */
size_t cb_approvals_outcomes(const cb_approvals_t *a);
size_t cb_approvals_actions(const cb_approvals_t *a);
size_t cb_approvals_awaiting(const cb_approvals_t *a);
size_t cb_approvals_unassigned(const cb_approvals_t *a);
size_t cb_approvals_undecodable(const cb_approvals_t *a);
const char *cb_approvals_agency_filter(const cb_approvals_t *a); /* NULL: none */

/* The requests (grouped by agency, in the order above) and the agencies;
 * arrays owned by the set. */
const cb_approvals_request_t *cb_approvals_requests(const cb_approvals_t *a, size_t *n);
const cb_approvals_agency_t *cb_approvals_agencies(const cb_approvals_t *a, size_t *n);

/* A holder of listed CHANGE_INFO, REVOKE or RECALL_DEVICE actions whose
 * outcomes name no certificate: the ones to look up at the CA. */
typedef struct cb_approvals_holder {
    cb_holder_type_t type;
    const char *id;
    bool looked_up; /* cb_approvals_add_cert or cb_approvals_looked_up was called */
} cb_approvals_holder_t;

/* The holders to look up (after finish), by type then id; owned by the set. */
const cb_approvals_holder_t *cb_approvals_holders(const cb_approvals_t *a, size_t *n);

/* Records an active certificate the CA holds for holder h (an index of
 * cb_approvals_holders; strings copied, device_id may be NULL): the holder's
 * actions list it, and its token counts as to return for its REVOKE and
 * RECALL_DEVICE actions. cb_approvals_looked_up(a, h) marks a holder the CA
 * has no certificate for. After finish; CB_ERR_NOMEM, CB_ERR_INVALID for a
 * bad index or a NULL serial. */
int cb_approvals_add_cert(cb_approvals_t *a, size_t h, const char *serial, const char *device_id,
                          cb_error_t *err);
void cb_approvals_looked_up(cb_approvals_t *a, size_t h);

/* Whether the CA was asked (cb_approvals_looked_up or add_cert for every
 * holder of cb_approvals_holders; true when there is none). */
bool cb_approvals_certs_checked(const cb_approvals_t *a);

/* ---- writers (approvals_render.c) --------------------------------------- */

/* Where the outcomes came from, and what the pages print. */
typedef struct cb_approvals_source {
    const char *topic;
    int partitions;
    int64_t generated_at_ms;   /* epoch ms: --now, or the clock */
    const char *place;         /* the signature block's place; NULL: a dotted blank */
    bool certificates_from_ca; /* the holders' certificates were asked of the CA */
} cb_approvals_source_t;

typedef enum cb_approvals_format {
    CB_APPROVALS_TABLE = 0,
    CB_APPROVALS_JSON,
    CB_APPROVALS_HTML
} cb_approvals_format_t;

/* Parses "table|json|html"; -1 when unknown. */
int cb_approvals_format_parse(const char *s);

/* A terminal table, one row per request: id, agency, day, actions,
 * revocations, tokens to return; then the totals. Control characters of
 * outcome strings are never written. */
int cb_approvals_write_table(const cb_approvals_t *a, const cb_approvals_source_t *src, FILE *out,
                             cb_error_t *err);

/* Everything as one JSON document (README "Approvals" documents its
 * fields): the figures, the agencies with their page's file name, and every
 * request with its actions and tokens. */
int cb_approvals_write_json(const cb_approvals_t *a, const cb_approvals_source_t *src, FILE *out,
                            cb_error_t *err);

/* The file name of an agency's page (no folder): its code with every byte
 * outside [A-Za-z0-9._-] made '_' and a leading '.' made '_' (at most 64
 * bytes of it), then ".html"; when that changed the code, or the code is
 * missing (then "agency" and the name stand for it) or would give
 * "index.html", "-" and 8 hex digits of a hash of code and name are added
 * before ".html" so two agencies never share a file. buf of at least
 * CB_APPROVALS_PAGE_NAME_MAX bytes. */
#define CB_APPROVALS_PAGE_NAME_MAX 96
void cb_approvals_page_name(const cb_approvals_agency_t *ag, char *buf, size_t size);

/* The printable page of one agency (UTF-8, inline CSS, no script, nothing
 * loaded from outside): for each of its requests a letter to the CA in
 * Vietnamese with English captions: the agency, the request id and day,
 * the holders, the certificates to revoke with their reasons, the other
 * actions, the key tokens to return, and the head of agency's signature
 * block. @page A4; each request starts a new printed page. On screen a
 * line of links to the letters (anchors "letter-1", ...; hidden on paper).
 * Every string is HTML-escaped. */
int cb_approvals_write_agency_html(const cb_approvals_t *a, const cb_approvals_source_t *src,
                                   const cb_approvals_agency_t *ag, FILE *out, cb_error_t *err);

/* The index page: one row per agency with its figures and a link to its
 * page. */
int cb_approvals_write_index_html(const cb_approvals_t *a, const cb_approvals_source_t *src,
                                  FILE *out, cb_error_t *err);

/* Writes dir/index.html and one page per agency (cb_approvals_page_name)
 * into dir, which must exist; each through "NAME.tmp", renamed when
 * complete. CB_ERR_IO naming the file on failure. */
int cb_approvals_save_html(const cb_approvals_t *a, const cb_approvals_source_t *src,
                           const char *dir, cb_error_t *err);

#endif
