/* fuzz_codec.h: the codec shared by the event and outcome fuzz targets, made
 * once per process, with writer schemas preloaded under fixed ids so that
 * Confluent frames decode without a Schema Registry:
 *   1 = OrgEvent, 2 = PersonEvent, 3 = CertificateActionOutcome (certbridge's),
 *   4 = an evolved OrgEvent writer (extra map, fixed, double, bytes fields),
 *   5 = a recursive record (depth limit). */
#ifndef CB_FUZZ_CODEC_H
#define CB_FUZZ_CODEC_H

#include <stdlib.h>
#include <string.h>

#include "certbridge/codec.h"
#include "certbridge/codec_avro.h"
#include "certbridge/schema_registry.h"
#include "certbridge/schemas.h"

static const char fuzz_evolved_writer[] =
    "{\"type\":\"record\",\"name\":\"OrgEvent\",\"fields\":["
    "{\"name\":\"priority\",\"type\":\"int\"},"
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":\"T\","
    "\"symbols\":[\"SPLIT\",\"RENAMED\",\"MERGED\"]}},"
    "{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"effective_date\",\"type\":\"int\"},"
    "{\"name\":\"source_system\",\"type\":\"string\"},"
    "{\"name\":\"org\",\"type\":{\"type\":\"record\",\"name\":\"Org\",\"fields\":["
    "{\"name\":\"code\",\"type\":\"string\"},{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
    "{\"name\":\"province\",\"type\":\"string\"}]}},"
    "{\"name\":\"merged_orgs\",\"type\":{\"type\":\"array\",\"items\":\"Org\"}},"
    "{\"name\":\"blob\",\"type\":[\"null\",\"bytes\",\"float\"]},"
    "{\"name\":\"checksum\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}}]}";

static const char fuzz_recursive_writer[] =
    "{\"type\":\"record\",\"name\":\"OrgEvent\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"next\",\"type\":[\"null\",\"OrgEvent\"]},"
    "{\"name\":\"more\",\"type\":{\"type\":\"array\",\"items\":\"OrgEvent\"}}]}";

static cb_codec_t *fuzz_codec(void)
{
    static cb_codec_t *codec;
    cb_error_t err;
    size_t len;
    const char *t;
    int i;

    if (codec)
        return codec;
    codec = cb_codec_new(NULL, &err);
    if (!codec)
        abort();
    for (i = 0; i < CB_SCHEMA_COUNT; i++) {
        t = cb_schema_text((cb_schema_id_t)i, &len);
        if (cb_registry_preload(cb_codec_registry(codec), (uint32_t)i + 1, t, len, &err) < 0)
            abort();
    }
    if (cb_registry_preload(cb_codec_registry(codec), 4, fuzz_evolved_writer,
                            strlen(fuzz_evolved_writer), &err) < 0 ||
        cb_registry_preload(cb_codec_registry(codec), 5, fuzz_recursive_writer,
                            strlen(fuzz_recursive_writer), &err) < 0)
        abort();
    return codec;
}

#endif
