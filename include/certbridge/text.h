/*
 * text.h: UTF-8 validation, Unicode NFC normalization (utf8proc) and
 * bounding outside text at a code point boundary.
 *
 * Vietnamese names arrive both composed ("Đồng Nai" as precomposed letters)
 * and decomposed (base letter + combining marks); certbridge stores and
 * compares every string in NFC.
 */
#ifndef CB_TEXT_H
#define CB_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "certbridge/error.h"

/* True when s[0..len) is valid UTF-8 without NUL bytes. */
bool cb_text_utf8_valid(const char *s, size_t len);

/* Validates s[0..len) as UTF-8 (no NUL, at most max_bytes) and returns a new
 * NUL-terminated NFC-normalized copy, owned by the caller (free()). The NFC
 * form may be longer than the input; it is checked against max_bytes too.
 * On failure returns NULL with CB_ERR_INVALID ("invalid UTF-8 at byte N") or
 * CB_ERR_LIMIT. */
char *cb_text_nfc(const char *s, size_t len, size_t max_bytes, cb_error_t *err);

/* The longest marker cb_text_cut_utf8 appends (two 20-digit numbers). */
#define CB_TEXT_CUT_MARKER_MAX 80

/* Bounds a NUL-terminated string from outside (a CA answer) to max_bytes
 * bytes of valid UTF-8, for a field with a size limit. When s is valid
 * UTF-8 of at most max_bytes bytes, *out is a copy of it. Otherwise *out is
 * the longest prefix of s that is valid UTF-8, ends on a code point boundary
 * (a multi-byte sequence is never split) and leaves room for a marker that
 * says the text was cut and how long it was, e.g.
 *   "...the prefix\u2026 [cut to 1983 of 204800 bytes]"
 *   "ab\u2026 [cut to 2 of 5 bytes: not UTF-8]"   (byte 2 is not UTF-8)
 * so the result never exceeds max_bytes bytes. s NULL gives *out NULL.
 * *out is owned by the caller (free()). Returns 0, or -1 with CB_ERR_NOMEM,
 * or CB_ERR_INVALID when max_bytes < CB_TEXT_CUT_MARKER_MAX (no room to say
 * the text was cut). */
int cb_text_cut_utf8(const char *s, size_t max_bytes, char **out, cb_error_t *err);

/* strdup of an optional string: NULL for NULL; when the copy cannot be
 * allocated, NULL and *ok turns false (so a run of copies is checked once). */
char *cb_text_dup_opt(const char *s, bool *ok);

/* True when a and b (NUL-terminated UTF-8) are equal after NFC. */
bool cb_text_equal_nfc(const char *a, const char *b);

/* Columns a NUL-terminated UTF-8 string takes on a terminal (combining
 * marks take none), for aligning tables of Vietnamese names. */
size_t cb_text_width(const char *s);

/* Writes s to out padded with spaces to width display columns. */
void cb_text_put_padded(FILE *out, const char *s, size_t width);

#endif
