/*
 * reconcile.h: `certbridge reconcile` (rà soát, docs/DOMAIN.md §6): the
 * certificates in use at the CA against the organization registry
 * (orgreg.h), per managing agency, with the corrective events for what the
 * rules can fix. It changes nothing at the CA.
 *
 * Two layers. The reconciliation takes certificates and recalled tokens one
 * at a time (cb_reconcile_add_cert, cb_reconcile_add_token; no I/O), so it
 * is tested without a CA; cb_reconcile_run is the thin layer that walks the
 * CA's active certificates and its recalled tokens page by page
 * (ca_inventory.h) and feeds them in. Memory: one page of certificates at a
 * time, plus what is found (bounded by CB_RECONCILE_FINDINGS_MAX), one
 * counter row per managing agency, and one bit per organization of the
 * registry; a compliant certificate leaves nothing behind but counts.
 *
 * What is found (cb_finding_kind_t), for active certificates:
 *   ORG_GONE        an organization's certificate of an organization the
 *                   registry lists as DISSOLVED or MERGED (with the
 *                   successor when known);
 *   ORG_UNKNOWN     a certificate whose organization (an organization's
 *                   code, a person's org_code at the CA) the registry does
 *                   not list at all (nothing is emitted: a person decides);
 *   SUBJECT         a subject whose organization name (an organization's CN,
 *                   a person's OU), parent (O) or province (L) no longer match
 *                   the registry's name, parent_name and province;
 *   PERSON_ORG_GONE a personal certificate naming an organization that was
 *                   dissolved or merged away;
 *   TRANSFERRED     a person the HR export lists in another organization
 *                   than the certificate's (org_code at the CA);
 *   DEPARTED        a person the HR export lists as DEPARTED;
 * and besides: NO_CERT, an ACTIVE organization of the registry without an
 * active organization certificate; TOKEN_OUT, a recalled token not yet
 * returned, with the days since its recall.
 *
 * Comparison: both sides in NFC (the CA's subjects are parsed with
 * dn.h, so RFC 4514 escapes such as "\," are undone), then compared
 * without regard to letter case and with runs of spaces as one space and
 * none at the ends, as X.500 names match (RFC 5280 §7.1, RFC 4518). A
 * subject that differs from the registry only in that way is compliant; it
 * is counted (case_only), never reported. An attribute the registry does
 * not give (e.g. no province) is not compared.
 *
 * The managing agency (cơ quan quản lý trực tiếp: the agency whose head
 * signs the requests to the CA, docs/DOMAIN.md §6) of a certificate: for a
 * person, the organization the person belongs to (the HR export's org_code,
 * else the CA's), or its successor when it was merged away, or its parent
 * when it was dissolved; for an organization, its parent (the registry's
 * parent_code, else the subject's O), or itself when it has none.
 *
 * Corrective events (cb_reconcile_write_events): certbridge's JSON event
 * format (codec_json.h), one per line, for `certbridge plan` to show and an
 * operator to publish: per organization, DISSOLVED, MERGED into the
 * successor (result_is_new false; merged organizations grouped by
 * successor), RENAMED, PARENT_CHANGED or INFO_CHANGED (the first that
 * applies: name, parent, province) with the registry's data; per person
 * (from the HR export, which must give the national id), DEPARTED,
 * TRANSFERRED (to the HR export's organization) or INFO_CHANGED. Event ids
 * are "rc-YYYYMMDD-" and the holder and type: deterministic for a day, so
 * publishing the same file twice applies nothing twice (the CA's
 * idempotency keys derive from the event id). What no rule can fix is
 * listed with a note instead.
 *
 * A reconciliation is used by one thread.
 */
#ifndef CB_RECONCILE_H
#define CB_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "certbridge/ca_client.h"
#include "certbridge/error.h"
#include "certbridge/orgreg.h"

#define CB_RECONCILE_FINDINGS_MAX 1000000 /* findings of one run (CB_ERR_LIMIT beyond) */
#define CB_RECONCILE_AGENCIES_MAX 1000000 /* managing agencies of one run */

typedef enum cb_finding_kind {
    CB_FIND_ORG_GONE = 0,
    CB_FIND_ORG_UNKNOWN,
    CB_FIND_SUBJECT,
    CB_FIND_PERSON_ORG_GONE,
    CB_FIND_TRANSFERRED,
    CB_FIND_DEPARTED,
    CB_FIND_NO_CERT,
    CB_FIND_TOKEN_OUT,
    CB_FIND_COUNT
} cb_finding_kind_t;

/* What differs in a SUBJECT finding (bits). */
#define CB_DIFF_NAME     1u /* organization name: an organization's CN, a person's OU */
#define CB_DIFF_PARENT   2u /* O */
#define CB_DIFF_PROVINCE 4u /* L */

/* One finding. Strings belong to the reconciliation; NULL when unknown. */
typedef struct cb_finding {
    cb_finding_kind_t kind;
    size_t agency; /* index into cb_reconcile_agencies() */
    cb_holder_type_t holder_type;
    const char *holder_id;   /* organization code or person id */
    const char *holder_name; /* the subject's CN, or the registry's name */
    const char *org_code;    /* the organization the finding is about */
    const char *serial, *device_id, *subject;
    unsigned diff;              /* SUBJECT: CB_DIFF_* */
    const char *expected;       /* SUBJECT: the subject the registry calls for */
    const char *successor_code; /* ORG_GONE, PERSON_ORG_GONE: where it went */
    const char *successor_name;
    int64_t days;     /* TOKEN_OUT: whole days since the recall */
    const char *fix;  /* the type of the event emitted for it, or NULL */
    const char *note; /* what it needs when no event fixes it, or a remark */
} cb_finding_t;

/* A managing agency and what was found under it. */
typedef struct cb_agency {
    const char *code; /* NULL when known by name only */
    const char *name;
    size_t org_certs, person_certs; /* active certificates */
    size_t compliant;               /* of those, nothing found */
    size_t case_only;               /* compliant, differing only in letter case or spaces */
    size_t counts[CB_FIND_COUNT];
} cb_agency_t;

typedef struct cb_reconcile_options {
    int page_size;        /* CA pages; 0 = CB_CA_PAGE_SIZE_DEFAULT */
    const char *province; /* walk only certificates whose L is this (NFC); NULL = all */
    FILE *progress;       /* a progress bar is drawn here (a terminal); NULL = none */
    int64_t now_ms;       /* the run's time: event ids and dates, days of tokens */
} cb_reconcile_options_t;

typedef struct cb_reconcile cb_reconcile_t;

/* A reconciliation against reg (borrowed, finished; it must outlive the
 * reconciliation). NULL with err when out of memory. */
cb_reconcile_t *cb_reconcile_new(const cb_orgreg_t *reg, const cb_reconcile_options_t *o,
                                 cb_error_t *err);
void cb_reconcile_destroy(cb_reconcile_t *rc);

/* Checks one active certificate (strings copied when kept). A subject that
 * does not parse is a SUBJECT finding with every bit set. CB_ERR_LIMIT past
 * CB_RECONCILE_FINDINGS_MAX or CB_RECONCILE_AGENCIES_MAX, CB_ERR_NOMEM. */
int cb_reconcile_add_cert(cb_reconcile_t *rc, const cb_ca_cert_t *cert, cb_error_t *err);

/* Notes one recalled token; one still out (returned_at_ms 0) is a
 * TOKEN_OUT finding. */
int cb_reconcile_add_token(cb_reconcile_t *rc, const cb_ca_device_t *dev, cb_error_t *err);

/* After the last add: the registry's ACTIVE organizations without an active
 * certificate (NO_CERT), the corrective events, the lists sorted (by
 * agency, kind, holder). Call once; the accessors and writers need it. */
int cb_reconcile_finish(cb_reconcile_t *rc, cb_error_t *err);

/* Walks c's active certificates (both holder types, opts' province and
 * page size) and its recalled tokens still out into rc, drawing the
 * progress bar when asked; then cb_reconcile_finish. */
int cb_reconcile_run(cb_reconcile_t *rc, cb_ca_client_t *c, cb_error_t *err);

/* Figures and lists of a finished reconciliation; arrays owned by it. */
const cb_finding_t *const *cb_reconcile_findings(const cb_reconcile_t *rc, size_t *n);
const cb_agency_t *cb_reconcile_agencies(const cb_reconcile_t *rc, size_t *n);
size_t cb_reconcile_certificates(const cb_reconcile_t *rc);    /* active certificates checked */
size_t cb_reconcile_count(const cb_reconcile_t *rc, int kind); /* -1 = every finding */
size_t cb_reconcile_compliant(const cb_reconcile_t *rc);
size_t cb_reconcile_events(const cb_reconcile_t *rc);    /* corrective events */
size_t cb_reconcile_case_only(const cb_reconcile_t *rc); /* compliant but for case or spaces */
const cb_reconcile_options_t *cb_reconcile_options(const cb_reconcile_t *rc);
int64_t cb_reconcile_elapsed_ms(const cb_reconcile_t *rc); /* cb_reconcile_run's walk */
const char *cb_finding_kind_name(cb_finding_kind_t k);     /* "ORG_GONE", ... */

typedef enum cb_reconcile_format {
    CB_RECONCILE_TABLE = 0,
    CB_RECONCILE_JSON,
    CB_RECONCILE_HTML
} cb_reconcile_format_t;

/* Parses "table|json|html"; -1 when unknown. */
int cb_reconcile_format_parse(const char *s);

/* The result: a terminal table (per agency, then the findings), one JSON
 * document, or one self-contained HTML page. CB_ERR_IO when writing fails. */
int cb_reconcile_write(const cb_reconcile_t *rc, cb_reconcile_format_t format, FILE *out,
                       cb_error_t *err);

/* The corrective events, one JSON object per line (codec_json.h), in a
 * stable order: organizations by code, then persons by id. */
int cb_reconcile_write_events(const cb_reconcile_t *rc, FILE *out, cb_error_t *err);

/* Names compared as reconcile compares them (see above): true when a and b
 * are equal after NFC, case folding and space folding. */
bool cb_reconcile_name_equal(const char *a, const char *b);

#endif
