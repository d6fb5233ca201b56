/*
 * codec_avro.h: a bounded Avro binary reader driven by the writer's schema.
 *
 * Internal to the codec (codec.c): Avro values never travel further. The
 * reader walks bytes written with a writer schema (parsed by Avro-C) and
 * builds a small tree of values whose strings point into the input buffer.
 * Every varint, length prefix, block count, union branch and enum index is
 * checked against the bytes left and certbridge's limits before it is used;
 * no length from the input ever reaches an allocator unchecked.
 */
#ifndef CB_CODEC_AVRO_H
#define CB_CODEC_AVRO_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "certbridge/error.h"

#define CB_AVRO_DEPTH_MAX 32    /* nesting of records, arrays, maps, unions */
#define CB_AVRO_NODES_MAX 32768 /* values in one message */

/* One decoded value. type is never AVRO_UNION or AVRO_LINK: unions and links
 * are resolved to the branch or target actually written. */
typedef struct cb_avro_val {
    avro_type_t type;
    avro_schema_t schema;      /* the writer's schema of this value; borrowed */
    int64_t l;                 /* boolean (0/1), int, long, enum index */
    double d;                  /* float, double */
    const char *s;             /* string, bytes, fixed: into the input buffer */
    size_t n;                  /* length of s */
    const char *symbol;        /* enum: the writer's symbol (owned by schema) */
    const char *key;           /* map entries: the key, into the input buffer */
    size_t key_len;            /* length of key */
    struct cb_avro_val *items; /* record fields (writer order), array items,
                                * map values */
    size_t count;
} cb_avro_val_t;

/* A decoded message: the root value and the memory behind the tree. */
typedef struct cb_avro_doc {
    cb_avro_val_t root;
    void *chunks; /* allocation list; private */
    size_t nodes; /* values allocated so far */
} cb_avro_doc_t;

/* Reads exactly len bytes of buf as one value of writer schema ws into doc
 * (which the caller frees with cb_avro_doc_free, also after a failure). buf
 * must outlive doc. Strings longer than max_string bytes are refused
 * (CB_STRING_MAX_BYTES for events). Errors, each naming the field path:
 *   CB_ERR_DECODE  truncated input, trailing bytes, a malformed varint, a
 *                  negative length, an int out of range, a union branch or
 *                  enum index out of range
 *   CB_ERR_LIMIT   a string longer than max_string, an array or map
 *                  longer than CB_MERGED_ORGS_MAX, nesting deeper than
 *                  CB_AVRO_DEPTH_MAX, more than CB_AVRO_NODES_MAX values */
int cb_avro_doc_read(cb_avro_doc_t *doc, avro_schema_t ws, const void *buf, size_t len,
                     size_t max_string, cb_error_t *err);

void cb_avro_doc_free(cb_avro_doc_t *doc);

/* The field of a record value by name, or NULL when the writer's record has
 * no such field (or rec is not a record). */
const cb_avro_val_t *cb_avro_field(const cb_avro_val_t *rec, const char *name);

#endif
