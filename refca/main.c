/*
 * main.c: certbridge-refca, the reference CA of the CA API v1
 * (schemas/ca-api.yaml), for development, the demo, tests and benchmarks.
 *
 *   certbridge-refca serve --state DIR --pki DIR [--inventory FILE] [options]
 *   certbridge-refca pki-init DIR
 *   certbridge-refca ledger --state DIR [--after SEQ]
 *   certbridge-refca signer --state DIR --holder-id ID --subject DN --key FILE --cert FILE
 *       [--ca-cert FILE] [--crl FILE]
 *
 * Only this file prints and exits; the modules return errors.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca.h"
#include "certbridge/log.h"
#include "pki.h"
#include "server.h"

static const char usage[] =
    "certbridge-refca: the reference CA of certbridge's CA API v1 (not for production)\n"
    "\n"
    "Usage:\n"
    "  certbridge-refca serve --state DIR --pki DIR [options]\n"
    "      --listen HOST:PORT    address (default 127.0.0.1:8443; port 0 = any free port)\n"
    "      --url-file FILE       write https://HOST:PORT here once listening\n"
    "      --inventory FILE      JSONL holders issued at first start\n"
    "      --pki DIR             TLS files made by pki-init (server.pem, server.key,\n"
    "                            client-ca.pem); or each with --tls-cert, --tls-key,\n"
    "                            --client-ca\n"
    "      --latency-ms N        answer every call N ms after it arrived (timers: other calls go "
    "on)\n"
    "      --fail-503 RATIO      answer this share of calls 503 with Retry-After\n"
    "      --retry-after S       the Retry-After of those answers (default 1)\n"
    "      --drop RATIO          close this share of connections unanswered, nothing applied\n"
    "      --drop-after RATIO    apply this share of mutating calls, then close unanswered\n"
    "      --async               mutating calls answer 202 PENDING, finish later\n"
    "      --async-delay-ms MIN[:MAX]  a request's time comes after a delay drawn uniformly\n"
    "                            in [MIN, MAX] ms (default 200)\n"
    "      --async-reject RATIO  this share of requests ends REJECTED (SUBJECT_MISMATCH),\n"
    "                            nothing applied\n"
    "      --async-expire RATIO  this share ends EXPIRED (nobody confirmed it), nothing\n"
    "                            applied\n"
    "      --async-min-polls N   a request stays PENDING through at least its first N polls,\n"
    "                            even when its time has come (default 0)\n"
    "      --async-min-polls-share RATIO  the share of requests --async-min-polls applies to\n"
    "                            (default 1)\n"
    "      --rate-limit R        at most R calls per second (a token bucket; /v1/ca.pem,\n"
    "                            /v1/ledger and /v1/admin/ exempt), beyond it 429 with\n"
    "                            Retry-After; POST /v1/admin/rate-limit {\"rate\":R} changes it\n"
    "      --rate-burst B        the bucket's size in calls (default R/10, at least 1)\n"
    "      --live-lookups        lookups ignore Idempotency-Key: always the live state, never a\n"
    "                            stored snapshot\n"
    "      --seed N              fault injection's random sequence and the async decisions\n"
    "      --huge-problem-holder ID  refuse change-info and revoke of ID's certificates with a\n"
    "                            422 problem+json whose detail is --huge-problem-bytes long\n"
    "                            (repeatable, up to 8 holders)\n"
    "      --huge-problem-bytes N  that detail's length in bytes of UTF-8 (default 204800)\n"
    "  certbridge-refca pki-init DIR\n"
    "      make a development PKI: TLS CA, server cert for 127.0.0.1/localhost, client CA,\n"
    "      certbridge's client cert and key, and a rogue client cert from another CA\n"
    "  certbridge-refca ledger --state DIR [--after SEQ]\n"
    "      print every applied operation as JSON\n"
    "  certbridge-refca signer --state DIR --holder-id ID --subject DN --key FILE --cert FILE\n"
    "                          [--ca-cert FILE] [--crl FILE]\n"
    "      issue a signing certificate to a person who keeps its key (an agency head who\n"
    "      signs approvals), recorded as ID's; write its key (mode 0600) and certificate\n"
    "      (PEM), and with --ca-cert the CA certificate (PEM, the trust anchor), with --crl\n"
    "      a CRL made now (DER); the server may be running on DIR\n";

/* Joins dir and name into buf. */
static const char *path_in(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

/* Parses a ratio in [0, 1]; exits with usage on a bad value. */
static double ratio(const char *opt, const char *v)
{
    char *end;
    double d = strtod(v, &end);

    if (end == v || *end || d < 0 || d > 1) {
        fprintf(stderr, "certbridge-refca: %s: \"%s\" is not a ratio in [0, 1]\n", opt, v);
        exit(2);
    }
    return d;
}

/* Parses a non-negative integer; exits with usage on a bad value. */
static long count(const char *opt, const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (end == v || *end || n < 0 || n > 86400000) {
        fprintf(stderr, "certbridge-refca: %s: \"%s\" is not a non-negative integer\n", opt, v);
        exit(2);
    }
    return n;
}

/* Parses a rate in calls per second, 0..1e6; exits with usage on a bad
 * value. */
static double rate(const char *opt, const char *v)
{
    char *end;
    double d = strtod(v, &end);

    if (end == v || *end || !(d >= 0 && d <= 1e6)) {
        fprintf(stderr, "certbridge-refca: %s: \"%s\" is not a number in [0, 1000000]\n", opt, v);
        exit(2);
    }
    return d;
}

/* Parses --async-delay-ms MIN[:MAX] into o; exits with usage on a bad value. */
static void delay_range(const char *v, refca_server_opts_t *o)
{
    char buf[64], *colon;

    snprintf(buf, sizeof(buf), "%s", v);
    colon = strchr(buf, ':');
    if (colon)
        *colon = '\0';
    o->async_delay_min_ms = (int)count("--async-delay-ms", buf);
    o->async_delay_max_ms =
        colon ? (int)count("--async-delay-ms", colon + 1) : o->async_delay_min_ms;
    if (o->async_delay_max_ms < o->async_delay_min_ms) {
        fprintf(stderr, "certbridge-refca: --async-delay-ms: \"%s\": MAX is below MIN\n", v);
        exit(2);
    }
}

/* serve: open the CA and run the server until a signal. */
static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"pki", required_argument, NULL, 'p'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"url-file", required_argument, NULL, 'u'},
                                         {"inventory", required_argument, NULL, 'i'},
                                         {"tls-cert", required_argument, NULL, 'C'},
                                         {"tls-key", required_argument, NULL, 'K'},
                                         {"client-ca", required_argument, NULL, 'A'},
                                         {"latency-ms", required_argument, NULL, 'L'},
                                         {"fail-503", required_argument, NULL, 'F'},
                                         {"retry-after", required_argument, NULL, 'R'},
                                         {"drop", required_argument, NULL, 'D'},
                                         {"drop-after", required_argument, NULL, 'E'},
                                         {"async", no_argument, NULL, 'a'},
                                         {"async-delay-ms", required_argument, NULL, 'd'},
                                         {"async-reject", required_argument, NULL, 'j'},
                                         {"async-expire", required_argument, NULL, 'x'},
                                         {"async-min-polls", required_argument, NULL, 'm'},
                                         {"async-min-polls-share", required_argument, NULL, 'M'},
                                         {"rate-limit", required_argument, NULL, 'r'},
                                         {"rate-burst", required_argument, NULL, 'b'},
                                         {"live-lookups", no_argument, NULL, 'V'},
                                         {"seed", required_argument, NULL, 'S'},
                                         {"huge-problem-holder", required_argument, NULL, 'H'},
                                         {"huge-problem-bytes", required_argument, NULL, 'B'},
                                         {"crl-refresh-s", required_argument, NULL, 'U'},
                                         {NULL, 0, NULL, 0}};
    refca_server_opts_t o;
    const char *state = NULL, *pki = NULL, *inventory = NULL;
    char host[256] = "127.0.0.1", cert[4096], key[4096], cca[4096], *colon;
    refca_ca_t *ca;
    cb_error_t err;
    long crl_refresh = REFCA_CRL_REFRESH_DEFAULT_S;
    int c, rc;

    memset(&o, 0, sizeof(o));
    o.port = 8443;
    o.retry_after_s = 1;
    o.async_delay_min_ms = o.async_delay_max_ms = 200;
    o.async_min_polls_share = 1;
    o.huge_problem_bytes = 200 * 1024;
    cb_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            state = optarg;
            break;
        case 'p':
            pki = optarg;
            break;
        case 'l':
            snprintf(host, sizeof(host), "%s", optarg);
            if (!(colon = strrchr(host, ':'))) {
                fprintf(stderr, "certbridge-refca: --listen wants HOST:PORT\n");
                return 2;
            }
            *colon = '\0';
            o.port = (int)count("--listen", colon + 1);
            break;
        case 'u':
            o.url_file = optarg;
            break;
        case 'i':
            inventory = optarg;
            break;
        case 'C':
            o.tls_cert = optarg;
            break;
        case 'K':
            o.tls_key = optarg;
            break;
        case 'A':
            o.client_ca = optarg;
            break;
        case 'L':
            o.latency_ms = (int)count("--latency-ms", optarg);
            break;
        case 'F':
            o.fail_503 = ratio("--fail-503", optarg);
            break;
        case 'R':
            o.retry_after_s = (int)count("--retry-after", optarg);
            break;
        case 'D':
            o.drop = ratio("--drop", optarg);
            break;
        case 'E':
            o.drop_after = ratio("--drop-after", optarg);
            break;
        case 'a':
            o.async = true;
            break;
        case 'd':
            delay_range(optarg, &o);
            break;
        case 'j':
            o.async_reject = ratio("--async-reject", optarg);
            break;
        case 'x':
            o.async_expire = ratio("--async-expire", optarg);
            break;
        case 'm':
            o.async_min_polls = (int)count("--async-min-polls", optarg);
            break;
        case 'M':
            o.async_min_polls_share = ratio("--async-min-polls-share", optarg);
            break;
        case 'r':
            o.rate_limit = rate("--rate-limit", optarg);
            break;
        case 'b':
            o.rate_burst = rate("--rate-burst", optarg);
            if (o.rate_burst < 1) {
                fprintf(stderr, "certbridge-refca: --rate-burst: at least 1 call\n");
                return 2;
            }
            break;
        case 'V':
            o.live_lookups = true;
            break;
        case 'S':
            o.seed = (uint64_t)strtoull(optarg, NULL, 10);
            break;
        case 'H':
            if (o.n_huge_problem_holders == REFCA_HUGE_HOLDERS_MAX) {
                fprintf(stderr, "certbridge-refca: --huge-problem-holder: at most %d holders\n",
                        REFCA_HUGE_HOLDERS_MAX);
                return 2;
            }
            o.huge_problem_holders[o.n_huge_problem_holders++] = optarg;
            break;
        case 'B':
            o.huge_problem_bytes = (size_t)count("--huge-problem-bytes", optarg);
            break;
        case 'U':
            crl_refresh = count("--crl-refresh-s", optarg);
            break;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (pki) {
        if (!o.tls_cert)
            o.tls_cert = path_in(cert, sizeof(cert), pki, "server.pem");
        if (!o.tls_key)
            o.tls_key = path_in(key, sizeof(key), pki, "server.key");
        if (!o.client_ca)
            o.client_ca = path_in(cca, sizeof(cca), pki, "client-ca.pem");
    }
    if (!state || !o.tls_cert || !o.tls_key || !o.client_ca || optind < argc) {
        fprintf(stderr,
                "certbridge-refca serve: needs --state and --pki (or the three TLS "
                "files)\n\n%s",
                usage);
        return 2;
    }
    if (o.async_reject + o.async_expire > 1) {
        fprintf(stderr, "certbridge-refca: --async-reject and --async-expire add up to more "
                        "than 1\n");
        return 2;
    }
    o.host = host;
    if (mkdir(state, 0755) < 0 && access(state, W_OK) != 0) {
        fprintf(stderr, "certbridge-refca: %s: cannot create the state folder\n", state);
        return 1;
    }
    if (!(ca = refca_ca_open(state, inventory, &err))) {
        fprintf(stderr, "certbridge-refca: %s\n", err.msg);
        return 1;
    }
    refca_ca_set_crl_refresh(ca, crl_refresh);
    rc = refca_server_run(ca, &o, &err);
    refca_ca_close(ca);
    if (rc < 0) {
        fprintf(stderr, "certbridge-refca: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* pki-init DIR */
static int cmd_pki_init(int argc, char **argv)
{
    cb_error_t err;

    cb_error_clear(&err);
    if (argc != 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (refca_pki_init(argv[1], &err) < 0) {
        fprintf(stderr, "certbridge-refca pki-init: %s\n", err.msg);
        return 1;
    }
    printf("development PKI in %s\n", argv[1]);
    return 0;
}

/* Prints one ledger line as JSON. */
static int print_ledger_line(const refca_ledger_row_t *r, void *opaque)
{
    (void)opaque;
    printf("{\"seq\":%lld,\"at_ms\":%lld,\"op\":\"%s\",\"serial\":\"%s\",\"new_serial\":\"%s\","
           "\"device_id\":\"%s\",\"reason\":%d,\"idempotency_key\":\"%s\"}\n",
           (long long)r->seq, (long long)r->at_ms, r->op, r->serial ? r->serial : "",
           r->new_serial ? r->new_serial : "", r->device_id ? r->device_id : "", r->reason,
           r->idem_key ? r->idem_key : "");
    return 0;
}

/* ledger --state DIR: reads the store directly (the server may be running). */
static int cmd_ledger(int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"after", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    const char *state = NULL;
    long long after = 0;
    refca_store_t *st;
    cb_error_t err;
    int c, rc;

    cb_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            state = optarg;
        else if (c == 'a')
            after = strtoll(optarg, NULL, 10);
        else
            return 2;
    }
    if (!state) {
        fputs(usage, stderr);
        return 2;
    }
    if (!(st = refca_store_open(state, true, &err))) {
        fprintf(stderr, "certbridge-refca ledger: %s\n", err.msg);
        return 1;
    }
    rc = refca_store_ledger_each(st, after, INT64_MAX, print_ledger_line, NULL, &err);
    refca_store_close(st);
    if (rc < 0) {
        fprintf(stderr, "certbridge-refca ledger: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* Writes len bytes to path with the given mode (a key: 0600). */
static int write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
    FILE *f;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    int ok;

    if (fd < 0 || !(f = fdopen(fd, "wb"))) {
        fprintf(stderr, "certbridge-refca signer: %s: cannot write\n", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ok = fwrite(buf, 1, len, f) == len;
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "certbridge-refca signer: %s: cannot write\n", path);
        return -1;
    }
    return 0;
}

/* signer: a signing certificate and its key for an approver, and the trust
 * anchor and a fresh CRL to verify its signatures with. */
static int cmd_signer(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},   {"holder-id", required_argument, NULL, 'i'},
        {"subject", required_argument, NULL, 'S'}, {"key", required_argument, NULL, 'k'},
        {"cert", required_argument, NULL, 'c'},    {"ca-cert", required_argument, NULL, 'a'},
        {"crl", required_argument, NULL, 'r'},     {NULL, 0, NULL, 0}};
    const char *state = NULL, *holder = NULL, *dn = NULL, *key_out = NULL, *cert_out = NULL;
    const char *ca_out = NULL, *crl_out = NULL;
    char *key = NULL, *cert = NULL;
    const unsigned char *crl;
    size_t crl_len;
    refca_ca_t *ca = NULL;
    cb_error_t err;
    int c, rc = 1;

    cb_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            state = optarg;
            break;
        case 'i':
            holder = optarg;
            break;
        case 'S':
            dn = optarg;
            break;
        case 'k':
            key_out = optarg;
            break;
        case 'c':
            cert_out = optarg;
            break;
        case 'a':
            ca_out = optarg;
            break;
        case 'r':
            crl_out = optarg;
            break;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!state || !holder || !dn || !key_out || !cert_out || optind < argc) {
        fprintf(stderr,
                "certbridge-refca signer: needs --state, --holder-id, --subject, --key "
                "and --cert\n\n%s",
                usage);
        return 2;
    }
    if (!(ca = refca_ca_open(state, NULL, &err)) ||
        refca_ca_issue_signer(ca, holder, dn, &key, &cert, &err) < 0 ||
        (crl_out && refca_ca_crl(ca, &crl, &crl_len, &err) < 0)) {
        fprintf(stderr, "certbridge-refca signer: %s\n", err.msg);
        goto out;
    }
    if (write_file(key_out, key, strlen(key), 0600) < 0 ||
        write_file(cert_out, cert, strlen(cert), 0644) < 0 ||
        (ca_out && write_file(ca_out, refca_ca_pem(ca), strlen(refca_ca_pem(ca)), 0644) < 0) ||
        (crl_out && write_file(crl_out, crl, crl_len, 0644) < 0))
        goto out;
    rc = 0;
out:
    free(key);
    free(cert);
    refca_ca_close(ca);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "serve"))
        return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "pki-init"))
        return cmd_pki_init(argc - 1, argv + 1);
    if (!strcmp(argv[1], "ledger"))
        return cmd_ledger(argc - 1, argv + 1);
    if (!strcmp(argv[1], "signer"))
        return cmd_signer(argc - 1, argv + 1);
    fprintf(stderr, "certbridge-refca: unknown command \"%s\"\n\n%s", argv[1], usage);
    return 2;
}
