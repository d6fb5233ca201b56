/*
 * subject.c: the subjects certbridge asks the CA for, built from events
 * (subject.h); the DN syntax itself is dn.c's.
 */
#include "certbridge/subject.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/text.h"

/* Formats a subject built from borrowed strings (no copies needed). */
static char *format_borrowed(const char *cn, const char *title, const char *ou, const char *o,
                             const char *l, const char *email, cb_error_t *err)
{
    cb_dn_t s;

    memset(&s, 0, sizeof(s));
    s.cn = (char *)cn;
    s.title = (char *)title;
    s.ou = (char *)ou;
    s.o = (char *)o;
    s.l = (char *)l;
    s.c = (char *)"VN";
    s.email = (char *)email;
    return cb_dn_format(&s, err);
}

/* CN=name, O=parent name, L=province, C=VN (see subject.h). */
char *cb_subject_for_org(const cb_org_t *org, cb_error_t *err)
{
    return format_borrowed(org->name, NULL, NULL, org->parent_name, org->province, NULL, err);
}

/* CN=full name, title, OU=org, O=parent, L=province, C=VN, emailAddress. */
char *cb_subject_for_person(const cb_person_t *p, const cb_org_t *org, cb_error_t *err)
{
    return format_borrowed(p->full_name, p->title, org->name, org->parent_name, org->province,
                           p->email, err);
}

/* Parses person_dn, replaces OU, O and L with the organization's name,
 * parent name (absent when the org has none) and province, keeps the other
 * attributes, and formats the result. Caller frees. */
char *cb_subject_replace_org(const char *person_dn, const cb_org_t *org, cb_error_t *err)
{
    cb_dn_t s;
    char *out = NULL;
    bool ok = true;

    if (cb_dn_parse(person_dn, &s, err) < 0)
        return NULL;
    free(s.ou);
    free(s.o);
    free(s.l);
    s.ou = cb_text_dup_opt(org->name, &ok);
    s.o = cb_text_dup_opt(org->parent_name, &ok);
    s.l = cb_text_dup_opt(org->province, &ok);
    if (!ok) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto cleanup_subject;
    }
    out = cb_dn_format(&s, err);
cleanup_subject:
    cb_dn_clear(&s);
    return out;
}
