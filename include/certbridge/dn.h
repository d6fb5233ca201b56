/*
 * dn.h: certificate subjects as RFC 4514 distinguished-name strings.
 *
 * certbridge, the CA API and the reference CA exchange subjects as one
 * UTF-8 (NFC) string, most specific attribute first, with RFC 4514 escaping:
 *   organization: "CN=<agency>,O=<superior agency>,L=<province>,C=VN"
 *   person:       "CN=<full name>,title=<title>,OU=<unit>,O=<agency>,L=<province>,
 *                  C=VN,emailAddress=<email>"
 * Attributes absent from a subject are left out. Attribute types are the
 * OpenSSL short names CN, title, OU, O, L, ST, C, emailAddress.
 */
#ifndef CB_DN_H
#define CB_DN_H

#include "certbridge/error.h"

#define CB_DN_VALUE_MAX 1024 /* longest attribute value, in bytes */

typedef struct cb_dn {
    char *cn, *title, *ou, *o, *l, *st, *c, *email; /* owned; NULL = absent */
} cb_dn_t;

/* Formats s as an RFC 4514 string in the order CN,title,OU,O,L,ST,C,
 * emailAddress. Caller frees. NULL with err on failure (e.g. no CN). */
char *cb_dn_format(const cb_dn_t *s, cb_error_t *err);

/* Parses an RFC 4514 string of the attribute types above into out (which the
 * caller clears with cb_dn_clear). Unknown types, bad escapes, repeated
 * types or invalid UTF-8 are CB_ERR_INVALID with the position named. */
int cb_dn_parse(const char *dn, cb_dn_t *out, cb_error_t *err);

void cb_dn_clear(cb_dn_t *s);

#endif
