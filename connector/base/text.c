/*
 * text.c: UTF-8 validation and NFC normalization over utf8proc, and cuts
 * at a code point boundary.
 */
#include "certbridge/text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* True for a code point that is NFC whatever surrounds it and assigned:
 * everything below U+0300 (where the combining marks begin) and the
 * precomposed letters of Latin Extended Additional (U+1E00..U+1EFF, the
 * Vietnamese letters with their tone marks). test_text checks every one of
 * them against utf8proc. */
static bool nfc_inert(utf8proc_int32_t cp)
{
    return cp < 0x300 || (cp >= 0x1E00 && cp <= 0x1EFF);
}

/* Returns the offset of the first invalid byte, or len when all is valid;
 * *inert (when not NULL) tells whether every code point is nfc_inert, so
 * that the string is its own NFC. */
static size_t utf8_first_invalid(const char *s, size_t len, bool *inert)
{
    size_t off = 0;
    bool all = true;

    while (off < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n;

        if ((unsigned char)s[off] < 0x80 && s[off]) { /* ASCII, the common case */
            off++;
            continue;
        }
        n = utf8proc_iterate((const utf8proc_uint8_t *)s + off, (utf8proc_ssize_t)(len - off), &cp);
        if (n <= 0 || cp == 0)
            return off;
        all = all && nfc_inert(cp);
        off += (size_t)n;
    }
    if (inert)
        *inert = all;
    return len;
}

bool cb_text_utf8_valid(const char *s, size_t len)
{
    return utf8_first_invalid(s, len, NULL) == len;
}

char *cb_text_nfc(const char *s, size_t len, size_t max_bytes, cb_error_t *err)
{
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t n;
    size_t bad;
    bool inert = false;

    if (len > max_bytes) {
        cb_error_set(err, CB_ERR_LIMIT, "string of %zu bytes exceeds the limit of %zu", len,
                     max_bytes);
        return NULL;
    }
    bad = utf8_first_invalid(s, len, &inert);
    if (bad != len) {
        cb_error_set(err, CB_ERR_INVALID, "invalid UTF-8 at byte %zu", bad);
        return NULL;
    }
    if (inert) { /* already NFC: a copy, without utf8proc's decompose/compose */
        if (!(out = malloc(len + 1))) {
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            return NULL;
        }
        memcpy(out, s, len);
        out[len] = '\0';
        return (char *)out;
    }
    n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &out,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0) {
        cb_error_set(err, n == UTF8PROC_ERROR_NOMEM ? CB_ERR_NOMEM : CB_ERR_INVALID, "%s",
                     utf8proc_errmsg(n));
        return NULL;
    }
    if ((size_t)n > max_bytes) {
        free(out);
        cb_error_set(err, CB_ERR_LIMIT, "string of %zd bytes (NFC) exceeds the limit of %zu", n,
                     max_bytes);
        return NULL;
    }
    return (char *)out;
}

/* The marker of a cut: "\u2026 [cut to K of N bytes]", with ": not UTF-8"
 * when the text stopped at a byte that is not UTF-8. Returns its length. */
static size_t cut_marker(char *buf, size_t size, size_t kept, size_t len, bool invalid)
{
    int n = snprintf(buf, size, "\xE2\x80\xA6 [cut to %zu of %zu bytes%s]", kept, len,
                     invalid ? ": not UTF-8" : "");

    return n < 0 ? 0 : (size_t)n;
}

static size_t decimal_digits(size_t v)
{
    size_t d = 1;

    for (; v >= 10; v /= 10)
        d++;
    return d;
}

int cb_text_cut_utf8(const char *s, size_t max_bytes, char **out, cb_error_t *err)
{
    char marker[CB_TEXT_CUT_MARKER_MAX + 1];
    size_t len, window, valid, keep, mlen = 0, base;
    bool invalid;

    *out = NULL;
    if (max_bytes < CB_TEXT_CUT_MARKER_MAX)
        return cb_error_set(err, CB_ERR_INVALID,
                            "a limit of %zu bytes leaves no room for the cut marker", max_bytes);
    if (!s)
        return 0;
    len = strlen(s);
    /* Only the bytes that could be kept need checking, plus 4 so that a
     * sequence straddling max_bytes is seen whole: valid is where the text
     * stops being UTF-8 (or the end of what was checked). */
    window = max_bytes < SIZE_MAX - 4 && len > max_bytes + 4 ? max_bytes + 4 : len;
    valid = utf8_first_invalid(s, window, NULL);
    invalid = valid < len && valid < max_bytes;
    keep = len;
    if (invalid || len > max_bytes) {
        /* the most bytes that fit with the marker, whose length depends on
         * the kept count's digits (base: the marker without them) */
        base = cut_marker(marker, sizeof(marker), 0, len, invalid) - 1;
        keep = valid < max_bytes - base ? valid : max_bytes - base;
        while (keep + base + decimal_digits(keep) > max_bytes)
            keep--;
        /* back to the start of the code point holding byte keep: s[0..valid)
         * is valid UTF-8, so its lead byte is at most 3 bytes back */
        while (keep > 0 && keep < valid && ((unsigned char)s[keep] & 0xC0) == 0x80)
            keep--;
        mlen = cut_marker(marker, sizeof(marker), keep, len, invalid);
    }
    if (!(*out = malloc(keep + mlen + 1)))
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    memcpy(*out, s, keep);
    memcpy(*out + keep, marker, mlen);
    (*out)[keep + mlen] = '\0';
    return 0;
}

bool cb_text_equal_nfc(const char *a, const char *b)
{
    char *na, *nb;
    bool eq;

    if (strcmp(a, b) == 0)
        return true;
    na = cb_text_nfc(a, strlen(a), SIZE_MAX, NULL);
    nb = cb_text_nfc(b, strlen(b), SIZE_MAX, NULL);
    eq = na && nb && strcmp(na, nb) == 0;
    free(na);
    free(nb);
    return eq;
}

size_t cb_text_width(const char *s)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t w = 0;

    while (*p) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
        int cw;
        if (n <= 0) { /* invalid UTF-8: count the byte */
            w++;
            p++;
            continue;
        }
        cw = utf8proc_charwidth(cp);
        w += cw > 0 ? (size_t)cw : 0;
        p += n;
    }
    return w;
}

void cb_text_put_padded(FILE *out, const char *s, size_t width)
{
    size_t w = cb_text_width(s);

    fputs(s, out);
    for (; w < width; w++)
        fputc(' ', out);
}

char *cb_text_dup_opt(const char *s, bool *ok)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}
