/*
 * html.c: display-safe text and the frame of the HTML pages (html.h).
 */
#include "certbridge/html.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Code points never written as they are: C0 and C1 controls, DEL, and the
 * bidirectional overrides that can make a terminal or a page show text in
 * another order than it is. */
static bool unsafe_cp(utf8proc_int32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

char *cb_html_clean(const char *s, size_t max)
{
    const utf8proc_uint8_t *p;
    size_t len, o = 0;
    char *out;

    if (!s)
        return strdup("-");
    len = strlen(s);
    out = malloc(len * 3 + 8);
    if (!out)
        return NULL;
    p = (const utf8proc_uint8_t *)s;
    while (*p) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
        const char *put;
        size_t put_len;
        if (n <= 0) {
            put = "\xEF\xBF\xBD";
            put_len = 3;
            n = 1;
        } else if (unsafe_cp(cp)) {
            put = " ";
            put_len = 1;
        } else {
            put = (const char *)p;
            put_len = (size_t)n;
        }
        if (o + put_len > max) {
            memcpy(out + o, "\xE2\x80\xA6", 3);
            o += 3;
            break;
        }
        memcpy(out + o, put, put_len);
        o += put_len;
        p += n;
    }
    out[o] = '\0';
    return out;
}

json_t *cb_html_json_string(const char *s)
{
    char *c;
    json_t *j;

    if (!s)
        return json_null();
    c = cb_html_clean(s, SIZE_MAX / 4);
    j = c ? json_string(c) : NULL;
    free(c);
    return j;
}

void cb_html_put(FILE *out, const char *s)
{
    char *c = cb_html_clean(s, SIZE_MAX / 4);
    const char *p;

    for (p = c ? c : "?"; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(*p, out);
        }
    }
    free(c);
}

static const char html_css[] =
    "body{font-family:\"Noto Sans\",\"DejaVu Sans\",\"Segoe UI\",Roboto,Arial,sans-serif;"
    "margin:24px auto;max-width:1140px;padding:0 16px;color:#1f2933;background:#fff}\n"
    "h1{font-size:24px;margin:0 0 4px}h1 small{display:block;font-size:15px;font-weight:400;"
    "color:#52606d}\n"
    "h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #e4e7eb;padding-bottom:4px}\n"
    "h2 small{font-weight:400;color:#52606d}\n"
    ".src{color:#52606d;font-size:13px}\n"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}\n"
    ".card{border:1px solid #e4e7eb;border-radius:8px;padding:10px 14px;min-width:120px;"
    "font-size:13px;color:#52606d}\n"
    ".card b{display:block;font-size:24px;color:#1f2933}.card.ok b{color:#2e7d32}"
    ".card.wait b{color:#1e88e5}.card.bad b{color:#c62828}\n"
    "table{border-collapse:collapse;width:100%;font-size:13px}\n"
    "th,td{border-bottom:1px solid #e4e7eb;padding:4px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f5f7fa;font-weight:600}th small{display:block;font-weight:400;color:#52606d}\n"
    ".n{text-align:right;font-variant-numeric:tabular-nums}.z{color:#b8c2cc}\n"
    ".st{display:inline-block;padding:1px 6px;border-radius:4px;color:#fff;font-size:12px}\n"
    ".none{color:#52606d;font-style:italic}\n"
    "svg text{font-family:inherit}\n"
    "footer{margin-top:32px;color:#9aa5b1;font-size:12px}\n";

void cb_html_begin(FILE *out, const char *title, const char *heading, const char *subheading,
                   const char *extra_css)
{
    fputs("<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          out);
    cb_html_put(out, title);
    fprintf(out, "</title>\n<style>\n%s%s</style>\n</head>\n<body>\n<header>\n<h1>", html_css,
            extra_css ? extra_css : "");
    cb_html_put(out, heading);
    fputs("<small>", out);
    cb_html_put(out, subheading);
    fputs("</small></h1>\n", out);
}

void cb_html_end(FILE *out, const char *footer)
{
    fputs("<footer>", out);
    cb_html_put(out, footer);
    fputs("</footer>\n</body>\n</html>\n", out);
}
