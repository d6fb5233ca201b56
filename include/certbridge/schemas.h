/*
 * schemas.h: certbridge's own Avro schemas, embedded in the binary.
 *
 * schemas/OrgEvent.avsc, PersonEvent.avsc and CertificateActionOutcome.avsc
 * are the single source: the build turns them into a generated C file
 * (scripts/embed-schemas.cmake), so the binary always carries exactly the
 * schemas in the repository. The texts are static and never freed.
 */
#ifndef CB_SCHEMAS_H
#define CB_SCHEMAS_H

#include <stddef.h>

typedef enum cb_schema_id {
    CB_SCHEMA_ORG_EVENT = 0, /* vn.gov.certbridge.OrgEvent */
    CB_SCHEMA_PERSON_EVENT,  /* vn.gov.certbridge.PersonEvent */
    CB_SCHEMA_OUTCOME,       /* vn.gov.certbridge.CertificateActionOutcome */
    CB_SCHEMA_COUNT
} cb_schema_id_t;

/* The schema's JSON text (NUL-terminated; *len set to its length without the
 * NUL when len is not NULL), or NULL for an unknown id. */
const char *cb_schema_text(cb_schema_id_t id, size_t *len);

/* The record's short name ("OrgEvent"), or NULL for an unknown id. */
const char *cb_schema_name(cb_schema_id_t id);

#endif
