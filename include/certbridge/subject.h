/*
 * subject.h: certificate subjects as RFC 4514 DN strings.
 *
 * certbridge, the CA API and the reference CA exchange subjects as one
 * UTF-8 (NFC) string, most specific attribute first, with RFC 4514 escaping:
 *   organization: "CN=<agency>,O=<superior agency>,L=<province>,C=VN"
 *   person:       "CN=<full name>,title=<title>,OU=<unit>,O=<agency>,L=<province>,
 *                  C=VN,emailAddress=<email>"
 * Attributes absent from a subject are left out. Attribute types are the
 * OpenSSL short names CN, title, OU, O, L, ST, C, emailAddress.
 */
#ifndef CB_SUBJECT_H
#define CB_SUBJECT_H

#include "certbridge/error.h"
#include "certbridge/event.h"

typedef struct cb_subject {
    char *cn, *title, *ou, *o, *l, *st, *c, *email; /* owned; NULL = absent */
} cb_subject_t;

/* Formats s as an RFC 4514 string in the order CN,title,OU,O,L,ST,C,
 * emailAddress. Caller frees. NULL with err on failure (e.g. no CN). */
char *cb_subject_format(const cb_subject_t *s, cb_error_t *err);

/* Parses an RFC 4514 string of the attribute types above into out (which the
 * caller clears with cb_subject_clear). Unknown types, bad escapes, repeated
 * types or invalid UTF-8 are CB_ERR_INVALID with the position named. */
int cb_subject_parse(const char *dn, cb_subject_t *out, cb_error_t *err);

void cb_subject_clear(cb_subject_t *s);

/* The subject of an organization's certificate after an event:
 * CN=org name, O=parent name (when set), L=province, C=VN. Caller frees. */
char *cb_subject_for_org(const cb_org_t *org, cb_error_t *err);

/* The subject of a person's certificate: CN=full name, title, OU=org name,
 * O=org's parent name (when set), L=province, C=VN, emailAddress. */
char *cb_subject_for_person(const cb_person_t *p, const cb_org_t *org, cb_error_t *err);

/* A person's current subject with OU/O/L replaced from org (cascade of an
 * organization's CHANGE_INFO). Caller frees. */
char *cb_subject_replace_org(const char *person_dn, const cb_org_t *org, cb_error_t *err);

#endif
