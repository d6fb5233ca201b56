/* fuzz_orgreg.c: the organization registry reader (orgreg.h) on any bytes.
 * The first byte picks the format (AUTO, JSONL, CSV); the rest is the file.
 * Whatever loads must hold what orgreg.h promises: every kept organization
 * and person is found again by its key, every string is valid UTF-8 in NFC
 * within CB_STRING_MAX_BYTES, a successor chain ends on an organization
 * that is not MERGED. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/event.h"
#include "certbridge/orgreg.h"
#include "certbridge/text.h"

/* Aborts unless s is NULL or valid NFC UTF-8 within the string limit. */
static void check_text(const char *s)
{
    char *n;

    if (!s)
        return;
    if (strlen(s) > CB_STRING_MAX_BYTES || !cb_text_utf8_valid(s, strlen(s)))
        abort();
    n = cb_text_nfc(s, strlen(s), CB_STRING_MAX_BYTES, NULL);
    if (!n || strcmp(n, s))
        abort();
    free(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cb_orgreg_t *r;
    cb_error_t err;
    const cb_orgreg_org_t *const *orgs;
    size_t n, i;

    if (size < 1 || size > 256 * 1024)
        return 0;
    if (!(r = cb_orgreg_new()))
        return 0;
    if (cb_orgreg_load(r, "fuzz", (const char *)data + 1, size - 1,
                       (cb_orgreg_format_t)(data[0] % 3), &err) < 0 ||
        cb_orgreg_finish(r, &err) < 0) {
        if (!err.msg[0])
            abort(); /* a failure always says why */
        cb_orgreg_destroy(r);
        return 0;
    }
    orgs = cb_orgreg_orgs(r, &n);
    for (i = 0; i < n; i++) {
        const cb_orgreg_org_t *o = orgs[i], *s;
        if (cb_orgreg_org(r, o->code) != o || cb_orgreg_org_index(r, o) != i ||
            !cb_org_code_valid(o->code))
            abort();
        if (i && strcmp(orgs[i - 1]->code, o->code) >= 0)
            abort();
        if (o->status == CB_ORGST_ACTIVE && (!o->name || !o->province))
            abort();
        check_text(o->name);
        check_text(o->parent_name);
        check_text(o->province);
        if ((s = cb_orgreg_successor(r, o)) && (s->status == CB_ORGST_MERGED || s == o))
            abort();
    }
    if (cb_orgreg_person_count(r) > CB_ORGREG_RECORDS_MAX)
        abort();
    cb_orgreg_destroy(r);
    return 0;
}
