/* fuzz_json_event.c: JSON events (cb_codec_json_decode_event, the `plan`
 * input and a wire format). A success must validate. */
#include <stdint.h>
#include <stdlib.h>

#include "certbridge/codec.h"
#include "certbridge/codec_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cb_event_t ev;
    cb_error_t err;

    if (cb_codec_json_decode_event((const char *)data, size, &ev, &err) == 0) {
        if (cb_event_validate(&ev, &err) != 0)
            abort();
        cb_event_clear(&ev);
    }
    return 0;
}
