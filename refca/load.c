/*
 * load.c: certbridge-refca-load, a load generator for the reference CA that
 * drives it through certbridge's own CA client (ca_client.h).
 *
 *   certbridge-refca-load inventory N > inventory.jsonl
 *       N persons HR-000001.. (for `certbridge-refca serve --inventory`)
 *   certbridge-refca-load run -c certbridge.conf --holders N [--lookups M]
 *       [--concurrency C] [--keyed-lookups]
 *       M lookups, then one change-info and one revoke per holder, with C
 *       calls in flight; prints the calls per second of each phase.
 *       --keyed-lookups sends each lookup with an Idempotency-Key, as
 *       certbridge's executor does (the CA then stores its snapshot).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certbridge/ca_client.h"
#include "certbridge/clock.h"
#include "certbridge/config.h"

/* Prints an inventory of n persons. */
static int cmd_inventory(long n)
{
    long i;

    for (i = 1; i <= n; i++)
        printf("{\"holder_type\":\"PERSON\",\"holder_id\":\"HR-%06ld\",\"org_code\":"
               "\"000.00.%02ld.H19\",\"subject\":\"CN=Nguyễn Văn %ld,title=Chuyên viên,"
               "OU=Sở Nội vụ,O=Ủy ban nhân dân tỉnh Đồng Nai,L=Đồng Nai,C=VN\","
               "\"device_id\":\"TK-%06ld\"}\n",
               i, i % 100, i, i);
    return 0;
}

/* One request of a phase, with the strings it borrows. */
typedef struct slot {
    cb_ca_req_t req;
    char holder[32], serial[64], subject[256];
} slot_t;

/* Runs count requests prepared by the caller in slots, keeping the client
 * fed; answers how many failed and prints the phase's rate. */
static long run_phase(cb_ca_client_t *c, const char *name, slot_t *slots, long count)
{
    double t0 = ((double)cb_clock_mono_us() / 1e6), dt;
    long i, done = 0, failed = 0;
    cb_error_t err;
    cb_ca_req_t *r;

    for (i = 0; i < count; i++) {
        if (cb_ca_submit(c, &slots[i].req, &err) < 0) {
            fprintf(stderr, "%s: %s\n", name, err.msg);
            return count;
        }
    }
    while (done < count && (r = cb_ca_poll(c, 60000))) {
        if (r->klass != CB_CA_SUCCESS)
            failed++;
        done++;
    }
    dt = ((double)cb_clock_mono_us() / 1e6) - t0;
    printf("%-12s %7ld calls in %6.2f s: %8.0f calls/s (%ld failed)\n", name, count, dt,
           (double)count / dt, failed + (count - done));
    return failed + (count - done);
}

static int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"holders", required_argument, NULL, 'h'},
        {"lookups", required_argument, NULL, 'l'}, {"concurrency", required_argument, NULL, 'C'},
        {"keyed-lookups", no_argument, NULL, 'k'}, {NULL, 0, NULL, 0}};
    const char *conf = NULL, *concurrency = "32";
    long holders = 1000, lookups = -1, i, failed = 0;
    cb_config_t *cfg = cb_config_new();
    cb_ca_client_t *c = NULL;
    slot_t *slots = NULL;
    cb_error_t err;
    int opt, rc = 1, keyed = 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        if (opt == 'c')
            conf = optarg;
        else if (opt == 'h')
            holders = strtol(optarg, NULL, 10);
        else if (opt == 'l')
            lookups = strtol(optarg, NULL, 10);
        else if (opt == 'C')
            concurrency = optarg;
        else if (opt == 'k')
            keyed = 1;
        else
            goto out;
    }
    if (lookups < 0)
        lookups = holders;
    if (!cfg || !conf || holders < 1 || cb_config_load_file(cfg, conf, &err) < 0 ||
        cb_config_set(cfg, "ca.concurrency", concurrency, &err) < 0 ||
        !(c = cb_ca_client_new(cfg, &err))) {
        fprintf(stderr, "certbridge-refca-load: %s\n", conf ? err.msg : "-c FILE is required");
        goto out;
    }
    if (!(slots = calloc((size_t)(lookups > holders ? lookups : holders), sizeof(*slots))))
        goto out;
    for (i = 0; i < lookups; i++) {
        snprintf(slots[i].holder, sizeof(slots[i].holder), "HR-%06ld", i % holders + 1);
        slots[i].req.op = CB_CA_LOOKUP;
        slots[i].req.holder_type = CB_HOLDER_PERSON;
        slots[i].req.holder_id = slots[i].holder;
        if (keyed)
            snprintf(slots[i].req.idempotency_key, sizeof(slots[i].req.idempotency_key),
                     "load-%ld-lookup-%ld", (long)time(NULL), i);
    }
    failed += run_phase(c, "lookup", slots, lookups);
    /* the serials of the holders, from the first lookup of each */
    for (i = 0; i < holders; i++) {
        slot_t *s = &slots[i];
        if (i >= lookups || s->req.cert_count != 1) {
            fprintf(stderr, "holder HR-%06ld: no lookup answer with one certificate\n", i + 1);
            goto out;
        }
        snprintf(s->serial, sizeof(s->serial), "%s", s->req.certs[0].serial);
    }
    for (i = 0; i < lookups; i++)
        cb_ca_req_clear(&slots[i].req);
    for (i = 0; i < holders; i++) {
        slot_t *s = &slots[i];
        memset(&s->req, 0, sizeof(s->req));
        snprintf(s->subject, sizeof(s->subject),
                 "CN=Nguyễn Văn %ld,title=Chuyên viên,OU=Sở Nội vụ,O=Ủy ban nhân dân tỉnh "
                 "Đồng Nai,L=Đồng Nai,C=VN",
                 i + 1);
        s->req.op = CB_CA_CHANGE_INFO;
        s->req.serial = s->serial;
        s->req.subject = s->subject;
        snprintf(s->req.idempotency_key, sizeof(s->req.idempotency_key), "load-%ld-change-%ld",
                 (long)time(NULL), i);
    }
    failed += run_phase(c, "change-info", slots, holders);
    for (i = 0; i < holders; i++) {
        slot_t *s = &slots[i];
        snprintf(s->serial, sizeof(s->serial), "%s", s->req.new_serial ? s->req.new_serial : "");
        cb_ca_req_clear(&s->req);
        memset(&s->req, 0, sizeof(s->req));
        s->req.op = CB_CA_REVOKE;
        s->req.serial = s->serial;
        s->req.reason = CB_REASON_CESSATION_OF_OPERATION;
        snprintf(s->req.idempotency_key, sizeof(s->req.idempotency_key), "load-%ld-revoke-%ld",
                 (long)time(NULL), i);
    }
    failed += run_phase(c, "revoke", slots, holders);
    for (i = 0; i < holders; i++)
        cb_ca_req_clear(&slots[i].req);
    rc = failed ? 1 : 0;
out:
    free(slots);
    cb_ca_client_destroy(c);
    cb_config_destroy(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "inventory"))
        return cmd_inventory(strtol(argv[2], NULL, 10));
    if (argc >= 2 && !strcmp(argv[1], "run"))
        return cmd_run(argc - 1, argv + 1);
    fprintf(stderr, "usage: certbridge-refca-load inventory N\n"
                    "       certbridge-refca-load run -c FILE [--holders N] [--lookups M] "
                    "[--concurrency C] [--keyed-lookups]\n");
    return 2;
}
