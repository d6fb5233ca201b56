/* fuzz_confluent_event.c: Confluent-framed events through the auto format
 * (magic byte, schema id, then the writer schemas preloaded in fuzz_codec.h:
 * certbridge's, an evolved writer and a recursive one), both kinds. */
#include <stdint.h>

#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cb_codec_t *codec = fuzz_codec();
    cb_event_t ev;
    cb_error_t err;
    int k;

    for (k = 0; k < 2; k++) {
        if (cb_codec_decode_event(codec, (cb_event_kind_t)k, CB_FORMAT_CONFLUENT, data, size, &ev,
                                  &err) == 0) {
            if (cb_event_validate(&ev, &err) != 0)
                abort();
            cb_event_clear(&ev);
        } else if (ev.event_id || err.msg[0] == '\0') {
            abort();
        }
    }
    return 0;
}
