/* fuzz_ca_answer.c: the CA client's answer parser (cb_ca_answer_parse):
 * byte 0 picks the call, bytes 1-2 the HTTP status, the rest is the body.
 * A lookup that succeeds must hand back certificates with a serial and a
 * subject. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/ca_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cb_ca_req_t r;
    long status;
    size_t i;

    if (size < 3 || size - 3 > CB_CA_BODY_MAX)
        return 0;
    memset(&r, 0, sizeof(r));
    r.op = (cb_ca_op_t)(data[0] % CB_CA_OP_COUNT);
    r.reason = CB_REASON_NONE;
    status = 100 + ((data[1] << 8 | data[2]) % 500);
    cb_ca_answer_parse(&r, status, (const char *)data + 3, size - 3);
    if (r.http_status != status)
        abort();
    if (r.op == CB_CA_LOOKUP && r.klass == CB_CA_SUCCESS)
        for (i = 0; i < r.cert_count; i++)
            if (!r.certs[i].serial || !r.certs[i].subject)
                abort();
    cb_ca_req_clear(&r);
    return 0;
}
