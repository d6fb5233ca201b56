/*
 * html.h: what the command front-ends that show outside text share
 * (`certbridge report` and `reconcile`): text made safe for a terminal or a
 * page, and the frame of their self-contained HTML pages (UTF-8, inline CSS,
 * no script, no external resource).
 *
 * Outside text (CA answers, outcome fields, registry names) may hold
 * invalid UTF-8, control characters or bidirectional overrides; it is shown
 * only through cb_html_clean (terminals, JSON) or cb_html_put (pages).
 */
#ifndef CB_HTML_H
#define CB_HTML_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* A copy of s fit for a terminal or a page: invalid UTF-8 becomes U+FFFD,
 * control characters (C0, C1, DEL) and bidirectional overrides a space; at
 * most max bytes, cut at a character with "…" appended. NULL s gives "-".
 * Caller frees; NULL when out of memory. */
char *cb_html_clean(const char *s, size_t max);

/* A JSON string of a cleaned copy of s (cb_html_clean, no length cap: never
 * invalid UTF-8), or JSON null for NULL s; NULL when out of memory. */
json_t *cb_html_json_string(const char *s);

/* Writes s to a page: cleaned (cb_html_clean; NULL gives "-") and
 * HTML-escaped (& < > " '), so no string can open an element or an
 * attribute. */
void cb_html_put(FILE *out, const char *s);

/* The page's head and the start of its body: <!DOCTYPE>, the title (plain
 * text, escaped), the shared style sheet plus extra_css (trusted, may be
 * NULL), and an <h1> of heading with a <small> subheading (escaped), inside
 * a <header> the caller closes (after its own lines about the source). */
void cb_html_begin(FILE *out, const char *title, const char *heading, const char *subheading,
                   const char *extra_css);

/* The footer (escaped) and the end of the page. */
void cb_html_end(FILE *out, const char *footer);

#endif
