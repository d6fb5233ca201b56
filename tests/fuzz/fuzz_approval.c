/* fuzz_approval.c: approvals (cb_approval_decode, JSON and plain Avro by the
 * first byte). A success must validate, its canonical bytes and its JSON form
 * must be written, and the JSON form must decode to the same canonical bytes;
 * a signature, whatever its bytes, goes through the verifier's parsing (no
 * trust anchor is loaded, so none is ever accepted). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/approval.h"
#include "certbridge/approval_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cb_approval_verifier_t *v;
    cb_approval_t a, b;
    cb_error_t err;
    char *canon = NULL, *json = NULL, *canon2 = NULL;
    size_t clen, jlen, clen2;

    if (!v && !(v = cb_approval_verifier_new(true, &err)))
        abort();
    if (cb_approval_decode(data, size, CB_APPROVAL_FORMAT_AUTO, &a, &err) != 0)
        return 0;
    if (cb_approval_validate(&a, &err) != 0 ||
        cb_approval_canonical(&a, &canon, &clen, &err) != 0 ||
        cb_approval_encode_json(&a, &json, &jlen, &err) != 0)
        abort();
    if (cb_approval_decode(json, jlen, CB_APPROVAL_FORMAT_JSON, &b, &err) != 0 ||
        cb_approval_canonical(&b, &canon2, &clen2, &err) != 0 || clen != clen2 ||
        memcmp(canon, canon2, clen) != 0 || a.signature_len != b.signature_len ||
        (a.signature_len && memcmp(a.signature, b.signature, a.signature_len) != 0))
        abort();
    if (cb_approval_verifier_check(v, &a, 1751335200, NULL, NULL, &err) == 0)
        abort();
    cb_approval_clear(&b);
    cb_approval_clear(&a);
    free(canon);
    free(canon2);
    free(json);
    return 0;
}
