/* fuzz_config.c: the key=value configuration file parser (cb_config_load_string,
 * which cb_config_load_file uses). Whatever it accepts must print. */
#include <stdint.h>
#include <stdio.h>

#include "certbridge/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;
    FILE *devnull;

    if (!cfg)
        return 0;
    if (cb_config_load_string(cfg, "fuzz.conf", (const char *)data, size, &err) == 0) {
        devnull = fopen("/dev/null", "w");
        if (devnull) {
            cb_config_print(cfg, devnull);
            fclose(devnull);
        }
    }
    cb_config_destroy(cfg);
    return 0;
}
