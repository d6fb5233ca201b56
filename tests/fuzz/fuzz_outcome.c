/* fuzz_outcome.c: outcomes, plain Avro or Confluent-framed (ids 1..5 are
 * preloaded; 3 is the outcome schema). A decoded outcome must encode again. */
#include <stdint.h>

#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cb_codec_t *codec = fuzz_codec();
    cb_outcome_t o;
    cb_error_t err;
    void *buf;
    size_t len;

    if (cb_codec_decode_outcome(codec, data, size, &o, &err) == 0) {
        if (cb_codec_encode_outcome(codec, &o, &buf, &len, &err) != 0)
            abort();
        free(buf);
        cb_outcome_clear(&o);
    } else if (o.outcome_id || err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
