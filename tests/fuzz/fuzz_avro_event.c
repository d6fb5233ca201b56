/* fuzz_avro_event.c: plain Avro events (certbridge's own writer schema), both
 * kinds. Any input must decode or fail cleanly; a success must validate. */
#include <stdint.h>

#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cb_codec_t *codec = fuzz_codec();
    cb_event_t ev;
    cb_error_t err;
    int k;

    for (k = 0; k < 2; k++) {
        if (cb_codec_decode_event(codec, (cb_event_kind_t)k, CB_FORMAT_AVRO, data, size, &ev,
                                  &err) == 0) {
            if (cb_event_validate(&ev, &err) != 0)
                abort();
            cb_event_clear(&ev);
        } else if (ev.event_id || err.msg[0] == '\0') {
            abort(); /* a failure leaves nothing behind and says why */
        }
    }
    return 0;
}
