/*
 * subject.h: the certificate subjects certbridge asks the CA for, built
 * from an event's organization and person (the DN syntax: dn.h).
 */
#ifndef CB_SUBJECT_H
#define CB_SUBJECT_H

#include "certbridge/dn.h"
#include "certbridge/error.h"
#include "certbridge/event.h"

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
