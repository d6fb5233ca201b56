/* fuzz_json.c: the bounded JSON reader against jansson. Both must accept or
 * refuse the same texts (a refusal for one of cb_json's limits excepted, and
 * texts with a NUL byte, which jansson 2.14 skips between tokens where RFC
 * 8259 and cb_json refuse it);
 * on an accepted text every string unescapes to jansson's bytes and every
 * integer to jansson's value, walking both trees together. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/json.h"

/* Compares cb_json token i with jansson value v; aborts on a difference. */
static void same(const cb_json_t *j, int i, json_t *v)
{
    const char *key;
    json_t *m;
    size_t n, k;
    char *s;

    switch (cb_json_type(j, i)) {
    case CB_JSON_NULL:
        if (!json_is_null(v))
            abort();
        break;
    case CB_JSON_TRUE:
    case CB_JSON_FALSE:
        if (!json_is_boolean(v) || json_is_true(v) != (cb_json_type(j, i) == CB_JSON_TRUE))
            abort();
        break;
    case CB_JSON_INTEGER:
        if (!json_is_integer(v) || json_integer_value(v) != cb_json_integer(j, i))
            abort();
        break;
    case CB_JSON_REAL:
        if (!json_is_real(v))
            abort();
        break;
    case CB_JSON_STRING:
        s = cb_json_strdup(j, i, &n);
        if (!json_is_string(v) || !s || n != json_string_length(v) ||
            memcmp(s, json_string_value(v), n))
            abort();
        free(s);
        break;
    case CB_JSON_ARRAY:
        if (!json_is_array(v) || json_array_size(v) != j->tok[i].count)
            abort();
        for (k = 0; k < json_array_size(v); k++)
            same(j, cb_json_at(j, i, k), json_array_get(v, k));
        break;
    case CB_JSON_OBJECT:
        if (!json_is_object(v) || json_object_size(v) != j->tok[i].count)
            abort();
        json_object_foreach(v, key, m)
        {
            same(j, cb_json_get(j, i, key), m);
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cb_json_t j;
    cb_error_t err;
    json_error_t jerr;
    json_t *ref;
    int rc;

    if (size > 64 * 1024)
        return 0;
    ref = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    rc = cb_json_parse(&j, (const char *)data, size, &err);
    if (rc == 0) {
        if (!ref)
            abort();
        same(&j, 0, ref);
        cb_json_free(&j);
    } else if (ref && err.code != CB_ERR_LIMIT && !memchr(data, 0, size)) {
        abort();
    }
    json_decref(ref);
    return 0;
}
