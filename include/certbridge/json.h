/*
 * json.h: a small, bounded JSON reader for the two hot paths, JSON events
 * and the CA's answers.
 *
 * cb_json_parse() checks the whole text once (RFC 8259: UTF-8, escapes,
 * surrogate pairs, no "\u0000", no duplicate member names, nothing after
 * the value) and leaves a flat array of tokens, one per value and one per
 * member name, in document order. Nothing is copied or unescaped until a
 * caller asks for a string. It replaced jansson there: a third of
 * certbridge's instructions per action went to building and freeing
 * jansson's trees (bench/RESULTS.md). Other JSON (configuration, Schema
 * Registry answers, reports) still uses jansson.
 *
 * Limits: CB_JSON_DEPTH_MAX nesting levels, CB_JSON_TOKENS_MAX values per
 * text, CB_JSON_MEMBERS_MAX members per object, texts shorter than 4 GiB. Ownership: the cb_json_t
 * points into the caller's text, which must outlive it; cb_json_free() releases the token array
 * when the text needed more than the inline ones.
 */
#ifndef CB_JSON_H
#define CB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"

#define CB_JSON_DEPTH_MAX   64
#define CB_JSON_TOKENS_MAX  16384
#define CB_JSON_MEMBERS_MAX 1024 /* per object: bounds the duplicate-name check */
#define CB_JSON_INLINE      96

typedef enum cb_json_type {
    CB_JSON_NULL,
    CB_JSON_FALSE,
    CB_JSON_TRUE,
    CB_JSON_INTEGER, /* a number without fraction or exponent, fits int64 */
    CB_JSON_REAL,
    CB_JSON_STRING,
    CB_JSON_ARRAY,
    CB_JSON_OBJECT
} cb_json_type_t;

typedef struct cb_json_tok {
    uint8_t type;    /* cb_json_type_t */
    uint8_t escaped; /* a string with backslash escapes */
    uint32_t start;  /* the value's first byte (a string's: after the quote) */
    uint32_t len;    /* its bytes (a string's: between the quotes, raw) */
    uint32_t end;    /* index of the first token after the value and its children */
    uint32_t count;  /* members of an object, elements of an array */
} cb_json_tok_t;

typedef struct cb_json {
    const char *text;
    size_t len;
    cb_json_tok_t *tok; /* tok[0] is the top-level value */
    uint32_t n, cap;
    cb_json_tok_t inline_tok[CB_JSON_INLINE];
} cb_json_t;

/* Parses text. On failure (CB_ERR_DECODE "invalid JSON at byte N: why", or
 * CB_ERR_LIMIT) returns -1 and j holds nothing to free. */
int cb_json_parse(cb_json_t *j, const char *text, size_t len, cb_error_t *err);
void cb_json_free(cb_json_t *j);

/* The value of member `key` of object token obj, or -1 (absent, or obj is
 * not an object). */
int cb_json_get(const cb_json_t *j, int obj, const char *key);
/* Element i of array token arr, or -1. */
int cb_json_at(const cb_json_t *j, int arr, size_t i);

cb_json_type_t cb_json_type(const cb_json_t *j, int i);
/* "object", "array", "string", "integer", "real", "boolean", "null" */
const char *cb_json_type_name(const cb_json_t *j, int i);
bool cb_json_is_null(const cb_json_t *j, int i);    /* true for -1 too */
int64_t cb_json_integer(const cb_json_t *j, int i); /* 0 unless an integer */

/* A string token's text, unescaped, NUL-terminated, in a new allocation
 * (caller frees); *len (optional) gets its length. NULL when i is not a
 * string or memory ran out. */
char *cb_json_strdup(const cb_json_t *j, int i, size_t *len);
/* Points *s at a string token's raw bytes when it has no escapes (no copy)
 * and returns true; false for other tokens and escaped strings. */
bool cb_json_raw(const cb_json_t *j, int i, const char **s, size_t *len);
/* Whether string token i equals s (compared unescaped). */
bool cb_json_str_eq(const cb_json_t *j, int i, const char *s);

#endif
