/* fuzz_registry_response.c: the Schema Registry's answer to GET
 * /schemas/ids/{id} ({"schema": "..."}), as parsed before Avro-C sees it. */
#include <stdint.h>
#include <stdlib.h>

#include "certbridge/schema_registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *schema = NULL;
    cb_error_t err;

    if (cb_registry_parse_schema_response((const char *)data, size, &schema, &err) == 0) {
        if (!schema)
            abort();
        free(schema);
    }
    return 0;
}
