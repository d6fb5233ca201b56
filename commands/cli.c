/*
 * cli.c: verbs, options and exit codes of the certbridge command.
 *
 * Each verb parses its own options here and calls one module function; the
 * modules return errors and this file turns them into messages and exit codes.
 */
#include "certbridge/cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certbridge/approvals.h"
#include "certbridge/ca_client.h"
#include "certbridge/ca_inventory.h"
#include "certbridge/clock.h"
#include "certbridge/demo.h"
#include "certbridge/event.h"
#include "certbridge/log.h"
#include "certbridge/pipeline.h"
#include "certbridge/orgreg.h"
#include "certbridge/outcome_read.h"
#include "certbridge/plan.h"
#include "certbridge/reconcile.h"
#include "certbridge/report.h"
#include "certbridge/rules.h"
#include "certbridge/secret.h"
#include "certbridge/version.h"

/* One option of a verb: the short letter (also what getopt_long returns for
 * it), the long name, the argument's placeholder (NULL for a flag) and its
 * help. The same table drives the parsing and the verb's --help, so they
 * never drift. */
typedef struct verb_option {
    char key;
    const char *name;
    const char *arg;
    const char *help;
} verb_option_t;

/* An exit code a verb can end with, and when. */
typedef struct verb_exit {
    int code;
    const char *when;
} verb_exit_t;

#define VERB_OPTIONS_MAX         8
#define RECONCILE_REGISTRIES_MAX 16 /* --registry files of reconcile and report */
#define VERB_EXITS_MAX           5

typedef struct verb verb_t;

struct verb {
    const char *name;
    int (*fn)(const verb_t *v, int argc, char **argv, char **envp);
    const char *usage;                       /* the synopsis after "certbridge " */
    const char *summary;                     /* one line, in `certbridge --help` */
    const char *about;                       /* a paragraph, in the verb's --help */
    verb_option_t options[VERB_OPTIONS_MAX]; /* until key 0; -h/--help is added */
    verb_exit_t exits[VERB_EXITS_MAX];       /* until when NULL */
};

static int verb_config(const verb_t *v, int argc, char **argv, char **envp);
static int verb_run(const verb_t *v, int argc, char **argv, char **envp);
static int verb_demo(const verb_t *v, int argc, char **argv, char **envp);
static int verb_plan(const verb_t *v, int argc, char **argv, char **envp);
static int verb_report(const verb_t *v, int argc, char **argv, char **envp);
static int verb_approvals(const verb_t *v, int argc, char **argv, char **envp);
static int verb_reconcile(const verb_t *v, int argc, char **argv, char **envp);
static int verb_version(const verb_t *v, int argc, char **argv, char **envp);

/* When every verb exits with CB_EXIT_USAGE. */
#define USAGE_EXIT_WHEN "bad usage or configuration (the message names the argument or key)"

static const verb_t verbs[] = {
    {"run",
     verb_run,
     "run -c FILE [--drain-idle-ms MS [--drain-leave-open]]",
     "the daemon: consume HR events, act at the CA, publish outcomes exactly once",
     "Consumes the HR organization and person events from Kafka, plans the certificate\n"
     "actions, calls the CA, and publishes one outcome per action in the Kafka transaction\n"
     "that commits the consumed offsets (exactly once). Runs until SIGINT or SIGTERM, then\n"
     "finishes or aborts the open batch and closes the consumer.",
     {{'c', "config", "FILE",
       "the configuration file (key=value); CERTBRIDGE_<KEY>\n"
       "variables override it"},
      {'d', "drain-idle-ms", "MS",
       "stop once no message arrived for MS milliseconds after\n"
       "the last committed batch and no CA request is open\n"
       "(0..86400000; 0, the default: run until a signal)"},
      {'L', "drain-leave-open", NULL,
       "with --drain-idle-ms: stop even while CA requests are\n"
       "open (the next run follows them)"}},
     {{CB_EXIT_OK, "stopped on SIGINT or SIGTERM, or drained (--drain-idle-ms)"},
      {CB_EXIT_RUNTIME, "runtime failure: a fatal Kafka error (e.g. fenced by another instance)"},
      {CB_EXIT_USAGE, USAGE_EXIT_WHEN}}},
    {"demo",
     verb_demo,
     "demo [-c FILE] [--refca PATH] [--async] [--approvals-html DIR] [--write-inventory FILE]",
     "the whole flow on embedded defaults: in-process Kafka, local reference CA, sample",
     "Runs the whole flow on embedded defaults: an in-process Kafka cluster (librdkafka's\n"
     "mock cluster), the reference CA started locally, the sample reorganization of Đồng Nai\n"
     "province (2025) through `run`'s pipeline, and the committed outcomes as a table.\n"
     "Under policy.approval=revoke (the default) it shows one approval round: the\n"
     "revocations wait AWAITING_APPROVAL, grouped by request and managing agency; the\n"
     "demo's agency head signs the approvals with a certificate from the reference CA;\n"
     "certbridge verifies them (CA root, fresh CRL) and the revocations run, citing the\n"
     "document. Everything it starts is stopped before it exits.",
     {{'c', "config", "FILE", "a configuration file whose policy.* and log.* keys apply"},
      {'r', "refca", "PATH",
       "the reference CA executable (default: next to\n"
       "certbridge, in its refca/ folder, then PATH)"},
      {'a', "async", NULL,
       "the CA answers every request PENDING and finishes\n"
       "it later: the table shows PENDING → SUCCEEDED"},
      {'A', "approvals-html", "DIR",
       "also write the approval request letters (as\n"
       "`certbridge approvals --format html`) and the\n"
       "signed approvals (signed.html) into DIR"},
      {'w', "write-inventory", "FILE",
       "only write the reference CA inventory of the\n"
       "sample's holders (JSON Lines), and exit"}},
     {{CB_EXIT_OK, "the outcome table was printed (or the inventory written)"},
      {CB_EXIT_RUNTIME, "runtime failure: the reference CA does not start, the pipeline fails,\n"
                        "interrupted"},
      {CB_EXIT_USAGE, USAGE_EXIT_WHEN}}},
    {"config",
     verb_config,
     "config [-c FILE] [--markdown | --example]",
     "every key with its value, type, default, help (--example: a commented file)",
     "Prints every configuration key with its value (the default, then the file, then\n"
     "CERTBRIDGE_<KEY> variables), its type, default and help.",
     {{'c', "config", "FILE", "the configuration file whose values to show"},
      {'m', "markdown", NULL, "the configuration reference as a Markdown table instead"},
      {'e', "example", NULL, "a commented example configuration file instead"}},
     {{CB_EXIT_OK, "printed"},
      {CB_EXIT_RUNTIME, "runtime failure (out of memory)"},
      {CB_EXIT_USAGE, USAGE_EXIT_WHEN}}},
    {"plan",
     verb_plan,
     "plan -i FILE [--format table|json] [-c FILE]",
     "print the certificate actions each JSON event produces (offline; -c FILE for the policy)",
     "Prints the certificate actions (intents) each event of a JSON Lines file produces,\n"
     "offline: no Kafka, no CA. The policy comes from the configuration: policy.* keys of\n"
     "the file, CERTBRIDGE_POLICY_* variables.",
     {{'i', "input", "FILE", "the events, one JSON object per line (required)"},
      {'f', "format", "table|json",
       "table for people (the default), or json: one JSON\n"
       "object per intent per line"},
      {'c', "config", "FILE", "a configuration file for the policy.* keys"}},
     {{CB_EXIT_OK, "the plan was printed"},
      {CB_EXIT_RUNTIME, "the file cannot be opened or read, or writing fails"},
      {CB_EXIT_USAGE, USAGE_EXIT_WHEN},
      {CB_EXIT_INPUT, "a bad event line (the message names the file and the line)"}}},
    {"report",
     verb_report,
     "report [-c FILE] [--format table|json] [--html FILE] [--timeout-ms MS]\n"
     "          [--registry FILE...] [--tokens-from-ca] [--now TIME]\n"
     "          [--pending-deadline-hours N]",
     "progress read back from the outcome topic: a table (--format json), an HTML page",
     "Reads the outcome topic (output.outcome_topic) from its beginning to its end with\n"
     "read_committed and prints the progress of the reorganization: totals by action and\n"
     "status, counts by organization, by event type and (with the organization registry)\n"
     "by managing agency, what is still open, the key tokens to return and those still out,\n"
     "and the actions the CA has not finished (PENDING): their age in working time (Monday\n"
     "to Friday in ca.working_utc_offset_minutes), per agency, and those overdue.\n"
     "Needs kafka.bootstrap.servers.",
     {{'c', "config", "FILE",
       "the configuration file (kafka.* keys,\n"
       "output.outcome_topic)"},
      {'f', "format", "table|json", "a table (the default) or one JSON document, on stdout"},
      {'H', "html", "FILE",
       "also write one self-contained HTML page to FILE\n"
       "(through FILE.tmp, renamed)"},
      {'t', "timeout-ms", "MS",
       "fail when the end of the topic is not reached within\n"
       "MS milliseconds (1..3600000, default 60000)"},
      {'r', "registry", "FILE",
       "the organization registry (HR exports, JSONL or CSV;\n"
       "repeat for several files): counts by managing agency"},
      {'T', "tokens-from-ca", NULL,
       "ask the CA (ca.* keys) which recalled tokens came\n"
       "back: the rest are listed as still out, with their days"},
      {'n', "now", "TIME",
       "measure ages at TIME (RFC 3339, e.g.\n"
       "2026-01-08T09:00:00+07:00) instead of the clock"},
      {'D', "pending-deadline-hours", "N",
       "a PENDING action is overdue after N working hours\n"
       "(1..87600; default ca.pending_deadline_hours, 72)"}},
     {{CB_EXIT_OK, "the report was printed (and the page written)"},
      {CB_EXIT_RUNTIME, "runtime failure: no broker, no such topic, the end not reached in\n"
                        "time, the page not written"},
      {CB_EXIT_USAGE, USAGE_EXIT_WHEN}}},
    {"approvals",
     verb_approvals,
     "approvals [-c FILE] [--format table|json|html] [--out DIR] [--agency CODE]\n"
     "          [--certificates-from-ca] [--now TIME] [--place NAME] [--timeout-ms MS]",
     "what awaits the managing agencies' approval, and the request letters to print",
     "Reads the outcome topic (output.outcome_topic) from its beginning to its end with\n"
     "read_committed, keeps the latest outcome of every action, and lists the actions\n"
     "awaiting approval (AWAITING_APPROVAL) by approval request and managing agency: a\n"
     "table, one JSON document, or (--format html --out DIR) one printable page per agency\n"
     "with its request letters (Vietnamese, English captions) and an index.html.\n"
     "Needs kafka.bootstrap.servers.",
     {{'c', "config", "FILE",
       "the configuration file (kafka.* keys,\n"
       "output.outcome_topic)"},
      {'f', "format", "table|json|html",
       "a table (the default), one JSON document on stdout,\n"
       "or the HTML pages (needs --out)"},
      {'o', "out", "DIR",
       "with --format html: the folder of the pages (made\n"
       "when missing): index.html and one page per agency"},
      {'a', "agency", "CODE", "only the requests of the managing agency with this code"},
      {'C', "certificates-from-ca", NULL,
       "ask the CA (ca.* keys) for the holders' active\n"
       "certificates: their serials and tokens in the letters"},
      {'n', "now", "TIME",
       "the time printed as generated (RFC 3339, e.g.\n"
       "2026-01-08T09:00:00+07:00) instead of the clock"},
      {'p', "place", "NAME",
       "the place in the signature block (e.g. \"Đồng Nai\");\n"
       "default: a dotted blank to fill in by hand"},
      {'t', "timeout-ms", "MS",
       "fail when the end of the topic is not reached within\n"
       "MS milliseconds (1..3600000, default 60000)"}},
     {{CB_EXIT_OK, "printed (or the pages written), whatever awaits approval"},
      {CB_EXIT_RUNTIME, "runtime failure: no broker, no such topic, the end not reached in\n"
                        "time, a page not written"},
      {CB_EXIT_USAGE, USAGE_EXIT_WHEN}}},
    {"reconcile",
     verb_reconcile,
     "reconcile -c FILE --registry FILE... [--registry-topic] [--format table|json|html]\n"
     "          [-o FILE] [--emit-events FILE] [--province NAME] [--page-size N]",
     "review (rà soát) the CA's certificates against the organization registry",
     "Walks the CA's active certificates page by page (ca.* keys) and compares them with\n"
     "the organization registry: certificates of organizations dissolved or merged away\n"
     "(with the successor), subjects whose organization name, parent or province no longer\n"
     "match, personal certificates of people the HR export lists as departed or moved,\n"
     "organizations without an active certificate, and recalled tokens not yet returned,\n"
     "with their days. Grouped by managing agency. Changes nothing at the CA; the corrective\n"
     "events (--emit-events) are for `certbridge plan -i` and for publishing.",
     {{'c', "config", "FILE", "the configuration file (ca.* keys)"},
      {'r', "registry", "FILE",
       "the registry: an HR export of organizations or of\n"
       "people, JSONL or CSV (repeat for several files)"},
      {'T', "registry-topic", NULL,
       "also the organizations of output.registry_topic, the\n"
       "compacted topic certbridge run maintains (kafka.*\n"
       "keys), read first: --registry files replace its records"},
      {'f', "format", "table|json|html", "a table (the default), one JSON document, one HTML page"},
      {'o', "output", "FILE",
       "write the result to FILE (through FILE.tmp, renamed)\n"
       "instead of stdout"},
      {'e', "emit-events", "FILE",
       "also write the corrective events to FILE, one JSON\n"
       "event per line (certbridge's JSON event format)"},
      {'p', "province", "NAME", "only certificates whose L (province) is NAME"},
      {'P', "page-size", "N", "certificates per CA page (1..500, default 250)"}},
     {{CB_EXIT_OK, "the result was printed (whatever was found)"},
      {CB_EXIT_RUNTIME, "runtime failure: the CA unavailable or refusing, a file not written"},
      {CB_EXIT_USAGE, USAGE_EXIT_WHEN},
      {CB_EXIT_INPUT, "a bad registry file (the message names the file and the line)"}}},
    {"version",
     verb_version,
     "version",
     "print the version (also: certbridge --version)",
     "Prints \"certbridge VERSION\".",
     {{0, NULL, NULL, NULL}},
     {{CB_EXIT_OK, "printed"}, {CB_EXIT_USAGE, USAGE_EXIT_WHEN}}},
};

#define VERB_COUNT (sizeof(verbs) / sizeof(verbs[0]))

/* The getopt_long arguments of a verb: its options and -h/--help. */
typedef struct opt_spec {
    char shorts[3 * (VERB_OPTIONS_MAX + 1) + 1];
    struct option longs[VERB_OPTIONS_MAX + 2];
} opt_spec_t;

/* Fills spec from v's option table, then -h/--help. */
static void opt_spec_of(const verb_t *v, opt_spec_t *spec)
{
    size_t i, n = 0;

    memset(spec, 0, sizeof(*spec));
    for (i = 0; i < VERB_OPTIONS_MAX && v->options[i].key; i++) {
        const verb_option_t *o = &v->options[i];
        spec->shorts[n++] = o->key;
        if (o->arg)
            spec->shorts[n++] = ':';
        spec->longs[i] =
            (struct option){o->name, o->arg ? required_argument : no_argument, NULL, o->key};
    }
    spec->shorts[n++] = 'h';
    spec->longs[i] = (struct option){"help", no_argument, NULL, 'h'};
}

/* The next option of argv for verb v: getopt_long over the verb's table
 * (-1 at the end). The verb sets optind to 1 before the first call. */
static int next_option(const verb_t *v, int argc, char **argv)
{
    opt_spec_t spec;

    opt_spec_of(v, &spec);
    return getopt_long(argc, argv, spec.shorts, spec.longs, NULL);
}

/* Writes lines of text, each but the first indented by indent spaces. */
static void put_indented(FILE *out, const char *text, int indent)
{
    const char *p;

    for (p = text; *p; p++) {
        fputc(*p, out);
        if (*p == '\n')
            fprintf(out, "%*s", indent, "");
    }
}

/* A verb's --help: usage, what it does, options, exit codes. */
static int print_verb_help(const verb_t *v, FILE *out)
{
    char left[VERB_OPTIONS_MAX + 1][64];
    int width = 0, k;
    size_t i, n = 0;

    fprintf(out, "Usage: certbridge %s\n\n%s\n\nOptions:\n", v->usage, v->about);
    for (i = 0; i < VERB_OPTIONS_MAX && v->options[i].key; i++, n++)
        snprintf(left[n], sizeof(left[n]), "-%c, --%s%s%s", v->options[i].key, v->options[i].name,
                 v->options[i].arg ? " " : "", v->options[i].arg ? v->options[i].arg : "");
    snprintf(left[n++], sizeof(left[0]), "-h, --help");
    for (i = 0; i < n; i++)
        if ((int)strlen(left[i]) > width)
            width = (int)strlen(left[i]);
    for (i = 0; i < n; i++) {
        fprintf(out, "  %-*s  ", width, left[i]);
        put_indented(out, i + 1 < n ? v->options[i].help : "this text", width + 4);
        fputc('\n', out);
    }
    fputs("\nExit codes:\n", out);
    for (k = 0; k < VERB_EXITS_MAX && v->exits[k].when; k++) {
        fprintf(out, "  %d  ", v->exits[k].code);
        put_indented(out, v->exits[k].when, 5);
        fputc('\n', out);
    }
    return CB_EXIT_OK;
}

/* `certbridge --help`: every verb's synopsis and summary, configuration, exit
 * codes. */
static void print_help(FILE *out)
{
    size_t i;

    fprintf(out,
            "certbridge %s: keeps public-service digital-signature certificates in step with\n"
            "a government reorganization (Kafka HR events in, CA actions, outcome events out).\n\n"
            "Usage:\n",
            CB_VERSION);
    for (i = 0; i < VERB_COUNT; i++)
        fprintf(out, "  certbridge %s\n      %s\n", verbs[i].usage, verbs[i].summary);
    fprintf(out, "  certbridge --help | --version\n\n"
                 "`certbridge VERB --help` prints a verb's options and exit codes.\n\n");
    fprintf(out, "Configuration: a key=value file given with -c; CERTBRIDGE_<KEY> environment\n"
                 "variables override it (e.g. CERTBRIDGE_POLICY_ISSUE_NEW=allow). kafka.* keys\n"
                 "go to librdkafka. `certbridge config` lists every key.\n\n"
                 "Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration,\n"
                 "3 bad input file.\n");
}

/* The exit code of a module's error: configuration 2, bad input 3, else 1. */
static int exit_code_for(const cb_error_t *err)
{
    switch (err->code) {
    case CB_ERR_CONFIG:
        return CB_EXIT_USAGE;
    case CB_ERR_INVALID:
    case CB_ERR_DECODE:
    case CB_ERR_LIMIT:
        return CB_EXIT_INPUT;
    default:
        return CB_EXIT_RUNTIME;
    }
}

/* Prints "certbridge VERB: message" on stderr, with national ids and e-mail
 * addresses masked as in every log line (log.h): an error may quote input. */
static void print_error(const char *verb, const cb_error_t *err)
{
    char msg[CB_ERRMSG_MAX];

    snprintf(msg, sizeof(msg), "%s", err->msg);
    cb_log_mask(msg);
    fprintf(stderr, "certbridge %s: %s\n", verb, msg);
}

/* Prints the error (print_error) and returns its exit code. */
static int fail(const char *verb, const cb_error_t *err)
{
    print_error(verb, err);
    return exit_code_for(err);
}

/* A whole number of milliseconds in [lo, hi] from an option's argument:
 * 0, or -1 when it is not one. */
static int parse_ms(const char *arg, long lo, long hi, int *out)
{
    char *end;
    long ms = strtol(arg, &end, 10);

    if (*end || end == arg || ms < lo || ms > hi)
        return -1;
    *out = (int)ms;
    return 0;
}

/* Prints a usage error pointing at the verb's --help; returns CB_EXIT_USAGE. */
static int usage_error(const char *verb, const char *msg)
{
    fprintf(stderr, "certbridge %s: %s (see certbridge %s --help)\n", verb, msg, verb);
    return CB_EXIT_USAGE;
}

cb_config_t *cb_cli_load_config(const char *path, char **envp, cb_error_t *err)
{
    cb_config_t *cfg = cb_config_new();

    if (!cfg) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if ((path && cb_config_load_file(cfg, path, err) < 0) ||
        cb_config_apply_env(cfg, envp, err) < 0) {
        cb_config_destroy(cfg);
        return NULL;
    }
    if (cb_log_set_level_name(cb_config_get(cfg, "log.level")) < 0) {
        cb_error_set(err, CB_ERR_CONFIG, "log.level: unknown level");
        cb_config_destroy(cfg);
        return NULL;
    }
    return cfg;
}

/* config: the keys and values, or the Markdown reference, or an example. */
static int verb_config(const verb_t *v, int argc, char **argv, char **envp)
{
    const char *path = NULL;
    int markdown = 0, example = 0, c;
    cb_config_t *cfg;
    cb_error_t err;

    cb_error_clear(&err);
    optind = 1;
    while ((c = next_option(v, argc, argv)) != -1) {
        if (c == 'c')
            path = optarg;
        else if (c == 'm')
            markdown = 1;
        else if (c == 'e')
            example = 1;
        else if (c == 'h')
            return print_verb_help(v, stdout);
        else
            return usage_error(v->name, "unknown option");
    }
    if (optind < argc)
        return usage_error("config", "unexpected argument");
    if (markdown) {
        cb_config_print_markdown(stdout);
        return CB_EXIT_OK;
    }
    if (example) {
        cb_config_print_example(stdout);
        return CB_EXIT_OK;
    }
    cfg = cb_cli_load_config(path, envp, &err);
    if (!cfg)
        return fail("config", &err);
    cb_config_print(cfg, stdout);
    cb_config_destroy(cfg);
    return CB_EXIT_OK;
}

/* plan: -i FILE (required), --format table|json (default table), -c FILE.
 * The policy comes from the configuration, so CERTBRIDGE_POLICY_* apply. */
static int verb_plan(const verb_t *v, int argc, char **argv, char **envp)
{
    const char *input = NULL, *path = NULL;
    int format = CB_PLAN_TABLE, c, code = CB_EXIT_OK;
    cb_config_t *cfg;
    cb_policy_t policy;
    cb_schedule_policy_t dates;
    cb_error_t err;

    cb_error_clear(&err);
    optind = 1;
    while ((c = next_option(v, argc, argv)) != -1) {
        if (c == 'i') {
            input = optarg;
        } else if (c == 'c') {
            path = optarg;
        } else if (c == 'f') {
            format = cb_plan_format_parse(optarg);
            if (format < 0)
                return usage_error("plan", "--format: expected table or json");
        } else if (c == 'h') {
            return print_verb_help(v, stdout);
        } else {
            return usage_error(v->name, "unknown option");
        }
    }
    if (optind < argc)
        return usage_error("plan", "unexpected argument");
    if (!input)
        return usage_error("plan", "-i FILE is required");
    cfg = cb_cli_load_config(path, envp, &err);
    if (!cfg)
        return fail("plan", &err);
    if (cb_policy_from_config(cfg, &policy, &err) < 0 ||
        cb_schedule_policy_from_config(cfg, &dates, &err) < 0 ||
        cb_plan_file_dated(input, &policy, &dates, (cb_plan_format_t)format, stdout, &err) < 0)
        code = fail("plan", &err);
    cb_config_destroy(cfg);
    return code;
}

/* report --tokens-from-ca: marks the tokens the CA has back as returned. */
static int report_returns(const cb_config_t *cfg, cb_report_t *r, cb_error_t *err)
{
    cb_ca_inventory_query_t q = {.devices = true, .status = "returned"};
    cb_ca_client_t *ca = cb_ca_client_new(cfg, err);
    cb_ca_inventory_t *it = ca ? cb_ca_inventory_new(ca, &q, err) : NULL;
    const cb_ca_req_t *page;
    size_t i;
    int rc = -1, got;

    if (!it)
        goto out;
    while ((got = cb_ca_inventory_next(it, &page, err)) == 1)
        for (i = 0; i < page->device_count; i++)
            if (cb_report_mark_returned(r, page->devices[i].device_id,
                                        page->devices[i].returned_at_ms, err) < 0)
                goto out;
    if (got < 0)
        goto out;
    cb_report_set_returns_checked(r);
    rc = 0;
out:
    cb_ca_inventory_destroy(it);
    cb_ca_client_destroy(ca);
    return rc;
}

/* report: reads output.outcome_topic to its end and prints the progress
 * (--format table|json on stdout; --html FILE for one self-contained page). */
static int verb_report(const verb_t *v, int argc, char **argv, char **envp)
{
    const char *path = NULL, *html = NULL;
    int format = CB_REPORT_TABLE, timeout_ms = 60000, partitions = 0, c, code = CB_EXIT_OK;
    cb_report_source_t src;
    cb_report_t *r = NULL;
    cb_orgreg_t *reg = NULL;
    cb_config_t *cfg;
    cb_error_t err;
    const char *regs[RECONCILE_REGISTRIES_MAX];
    size_t n_regs = 0, i;
    bool tokens_from_ca = false;
    int64_t now_ms = 0;
    int deadline_hours = 0;
    cb_report_clock_t clock;

    cb_error_clear(&err);
    optind = 1;
    while ((c = next_option(v, argc, argv)) != -1) {
        if (c == 'c') {
            path = optarg;
        } else if (c == 'r') {
            if (n_regs == RECONCILE_REGISTRIES_MAX)
                return usage_error("report", "--registry: at most 16 files");
            regs[n_regs++] = optarg;
        } else if (c == 'T') {
            tokens_from_ca = true;
        } else if (c == 'n') {
            if (cb_time_parse_rfc3339(optarg, &now_ms) < 0 || now_ms <= 0)
                return usage_error("report", "--now: expected an RFC 3339 time after 1970, e.g. "
                                             "2026-01-08T09:00:00+07:00");
        } else if (c == 'D') {
            if (parse_ms(optarg, 1, 87600, &deadline_hours) < 0)
                return usage_error("report", "--pending-deadline-hours: expected hours, 1..87600");
        } else if (c == 'H') {
            html = optarg;
        } else if (c == 'f') {
            format = cb_report_format_parse(optarg);
            if (format < 0)
                return usage_error("report", "--format: expected table or json");
        } else if (c == 't') {
            if (parse_ms(optarg, 1, 3600000, &timeout_ms) < 0)
                return usage_error("report", "--timeout-ms: expected milliseconds, 1..3600000");
        } else if (c == 'h') {
            return print_verb_help(v, stdout);
        } else {
            return usage_error(v->name, "unknown option");
        }
    }
    if (optind < argc)
        return usage_error("report", "unexpected argument");
    cfg = cb_cli_load_config(path, envp, &err);
    if (!cfg)
        return fail("report", &err);
    if (!cb_config_get(cfg, "kafka.bootstrap.servers")) {
        cb_config_destroy(cfg);
        return usage_error("report", "kafka.bootstrap.servers: required by `report`");
    }
    if (!(r = cb_report_new())) {
        cb_error_set(&err, CB_ERR_NOMEM, "out of memory");
        goto failed;
    }
    if (n_regs) {
        if (!(reg = cb_orgreg_new())) {
            cb_error_set(&err, CB_ERR_NOMEM, "out of memory");
            goto failed;
        }
        for (i = 0; i < n_regs; i++)
            if (cb_orgreg_load_file(reg, regs[i], &err) < 0)
                goto failed;
        if (cb_orgreg_finish(reg, &err) < 0)
            goto failed;
        cb_report_set_registry(r, reg);
    }
    clock.now_ms = now_ms;
    clock.deadline_hours =
        deadline_hours ? deadline_hours : (int)cb_config_get_int(cfg, "ca.pending_deadline_hours");
    clock.utc_offset_min = (int)cb_config_get_int(cfg, "ca.working_utc_offset_minutes");
    cb_report_set_clock(r, &clock);
    if (cb_report_read_kafka(cfg, r, timeout_ms, &partitions, &err) < 0 ||
        (tokens_from_ca && report_returns(cfg, r, &err) < 0) || cb_report_finish(r, &err) < 0)
        goto failed;
    src.topic = cb_config_get(cfg, "output.outcome_topic");
    src.partitions = partitions;
    cb_report_get_clock(r, &clock); /* --now, or the clock when the report was finished */
    src.generated_at_ms = clock.now_ms;
    if ((format == CB_REPORT_JSON ? cb_report_write_json(r, &src, stdout, &err)
                                  : cb_report_write_table(r, &src, stdout, &err)) < 0 ||
        (html && cb_report_save_html(r, &src, html, &err) < 0))
        goto failed;
    goto out;
failed:
    print_error("report", &err);
    code = err.code == CB_ERR_CONFIG                                            ? CB_EXIT_USAGE
           : n_regs && (err.code == CB_ERR_INVALID || err.code == CB_ERR_LIMIT) ? CB_EXIT_INPUT
                                                                                : CB_EXIT_RUNTIME;
out:
    cb_report_destroy(r);
    cb_orgreg_destroy(reg);
    cb_config_destroy(cfg);
    return code;
}

/* One message of the outcome topic into the approvals (NULL: undecodable). */
static int approvals_take(void *opaque, const cb_outcome_t *o, cb_error_t *err)
{
    if (!o) {
        cb_approvals_add_undecodable(opaque);
        return 0;
    }
    return cb_approvals_add(opaque, o, err);
}

/* The active certificates of every holder the approvals must name, page
 * by page from the CA (ca.* keys). */
static int approvals_certificates(const cb_config_t *cfg, cb_approvals_t *a, cb_error_t *err)
{
    const cb_approvals_holder_t *hs;
    cb_ca_client_t *ca = NULL;
    size_t n, h, i;
    int rc = -1;

    hs = cb_approvals_holders(a, &n);
    if (n && !(ca = cb_ca_client_new(cfg, err)))
        return -1;
    for (h = 0; h < n; h++) {
        cb_ca_inventory_query_t q = {.holder_type = hs[h].type, .holder_id = hs[h].id};
        cb_ca_inventory_t *it = cb_ca_inventory_new(ca, &q, err);
        const cb_ca_req_t *page;
        int got = -1;
        if (!it)
            goto out;
        while ((got = cb_ca_inventory_next(it, &page, err)) == 1)
            for (i = 0; i < page->cert_count; i++)
                if (cb_approvals_add_cert(a, h, page->certs[i].serial, page->certs[i].device_id,
                                          err) < 0) {
                    got = -1;
                    break;
                }
        cb_ca_inventory_destroy(it);
        if (got < 0) {
            cb_error_prefix(err, "certificates of %s %s", cb_holder_type_name(hs[h].type),
                            hs[h].id);
            goto out;
        }
        cb_approvals_looked_up(a, h);
    }
    rc = 0;
out:
    cb_ca_client_destroy(ca);
    return rc;
}

/* approvals: the outcome topic, what awaits approval, the pages. */
static int verb_approvals(const verb_t *v, int argc, char **argv, char **envp)
{
    const char *path = NULL, *dir = NULL, *agency = NULL;
    int format = CB_APPROVALS_TABLE, timeout_ms = 60000, partitions = 0, c, code = CB_EXIT_OK;
    cb_approvals_source_t src = {NULL, 0, 0, NULL, false};
    cb_approvals_t *a = NULL;
    cb_config_t *cfg;
    cb_error_t err;
    int64_t now_ms = 0;

    cb_error_clear(&err);
    optind = 1;
    while ((c = next_option(v, argc, argv)) != -1) {
        if (c == 'c') {
            path = optarg;
        } else if (c == 'f') {
            if ((format = cb_approvals_format_parse(optarg)) < 0)
                return usage_error("approvals", "--format: expected table, json or html");
        } else if (c == 'o') {
            dir = optarg;
        } else if (c == 'a') {
            if (!*optarg)
                return usage_error("approvals", "--agency: expected an agency code");
            agency = optarg;
        } else if (c == 'n') {
            if (cb_time_parse_rfc3339(optarg, &now_ms) < 0 || now_ms <= 0)
                return usage_error("approvals", "--now: expected an RFC 3339 time after 1970, "
                                                "e.g. 2026-01-08T09:00:00+07:00");
        } else if (c == 'p') {
            src.place = optarg;
        } else if (c == 'C') {
            src.certificates_from_ca = true;
        } else if (c == 't') {
            if (parse_ms(optarg, 1, 3600000, &timeout_ms) < 0)
                return usage_error("approvals", "--timeout-ms: expected milliseconds, 1..3600000");
        } else if (c == 'h') {
            return print_verb_help(v, stdout);
        } else {
            return usage_error(v->name, "unknown option");
        }
    }
    if (optind < argc)
        return usage_error("approvals", "unexpected argument");
    if (format == CB_APPROVALS_HTML && !dir)
        return usage_error("approvals", "--format html needs --out DIR");
    if (format != CB_APPROVALS_HTML && dir)
        return usage_error("approvals", "--out DIR goes with --format html");
    if (!(cfg = cb_cli_load_config(path, envp, &err)))
        return fail("approvals", &err);
    if (!cb_config_get(cfg, "kafka.bootstrap.servers")) {
        cb_config_destroy(cfg);
        return usage_error("approvals", "kafka.bootstrap.servers: required by `approvals`");
    }
    if (dir && mkdir(dir, 0777) != 0 && errno != EEXIST) {
        cb_error_set(&err, CB_ERR_IO, "--out %s: %s", dir, strerror(errno));
        goto failed;
    }
    if (!(a = cb_approvals_new())) {
        cb_error_set(&err, CB_ERR_NOMEM, "out of memory");
        goto failed;
    }
    if (cb_approvals_set_agency(a, agency, &err) < 0 ||
        cb_outcome_read_kafka(cfg, "approvals", approvals_take, a, timeout_ms, &partitions, &err) <
            0 ||
        cb_approvals_finish(a, &err) < 0 ||
        (src.certificates_from_ca && approvals_certificates(cfg, a, &err) < 0))
        goto failed;
    src.topic = cb_config_get(cfg, "output.outcome_topic");
    src.partitions = partitions;
    src.generated_at_ms = now_ms ? now_ms : cb_clock_wall_ms();
    if ((format == CB_APPROVALS_JSON   ? cb_approvals_write_json(a, &src, stdout, &err)
         : format == CB_APPROVALS_HTML ? cb_approvals_save_html(a, &src, dir, &err)
                                       : cb_approvals_write_table(a, &src, stdout, &err)) < 0)
        goto failed;
    if (format == CB_APPROVALS_HTML) {
        size_t n;
        cb_approvals_agencies(a, &n);
        printf("%s/index.html and %zu agency page%s: %zu action%s awaiting approval\n", dir, n,
               n == 1 ? "" : "s", cb_approvals_awaiting(a),
               cb_approvals_awaiting(a) == 1 ? "" : "s");
    }
    goto out;
failed:
    print_error("approvals", &err);
    code = err.code == CB_ERR_CONFIG ? CB_EXIT_USAGE : CB_EXIT_RUNTIME;
out:
    cb_approvals_destroy(a);
    cb_config_destroy(cfg);
    return code;
}

/* Opens path for writing through path.tmp (*tmp gets that name, caller
 * frees); NULL with err. */
static FILE *open_tmp(const char *path, char **tmp, cb_error_t *err)
{
    size_t len = strlen(path);
    FILE *f;

    if (!(*tmp = malloc(len + 5))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(*tmp, path, len);
    memcpy(*tmp + len, ".tmp", 5);
    if (!(f = fopen(*tmp, "w")))
        cb_error_set(err, CB_ERR_IO, "%s: %s", *tmp, strerror(errno));
    return f;
}

/* Closes f and renames tmp over path when ok; removes tmp otherwise. */
static int close_tmp(FILE *f, char *tmp, const char *path, bool ok, cb_error_t *err)
{
    int rc = 0;

    if (fclose(f) != 0 && ok)
        rc = cb_error_set(err, CB_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (ok && rc == 0 && rename(tmp, path) != 0)
        rc = cb_error_set(err, CB_ERR_IO, "%s: %s", path, strerror(errno));
    if (!ok || rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* One record of the registry topic into the registry (orgreg_record.h:
 * one JSONL line each); a record without a value is skipped. */
static int registry_record(void *opaque, const void *key, size_t key_len, const void *value,
                           size_t len, int32_t partition, int64_t offset, cb_error_t *err)
{
    char name[64];

    (void)key;
    (void)key_len;
    if (!value || !len)
        return 0;
    snprintf(name, sizeof(name), "registry topic [%d]@%lld", (int)partition, (long long)offset);
    return cb_orgreg_load((cb_orgreg_t *)opaque, name, value, len, CB_ORGREG_JSONL, err);
}

/* reconcile --registry-topic: the organizations of output.registry_topic. */
static int load_registry_topic(const cb_config_t *cfg, cb_orgreg_t *reg, cb_error_t *err)
{
    int partitions = 0;

    return cb_topic_read_kafka(cfg, "output.registry_topic", "reconcile", registry_record, reg,
                               60000, &partitions, err);
}

/* reconcile: the registry files, the CA's certificates, the result and the
 * corrective events. */
static int verb_reconcile(const verb_t *v, int argc, char **argv, char **envp)
{
    const char *path = NULL, *output = NULL, *events = NULL, *regs[RECONCILE_REGISTRIES_MAX];
    int format = CB_RECONCILE_TABLE, page = 0, c, code = CB_EXIT_OK;
    size_t n_regs = 0, i;
    bool reg_topic = false;
    cb_reconcile_options_t opts;
    cb_reconcile_t *rc = NULL;
    cb_orgreg_t *reg = NULL;
    cb_ca_client_t *ca = NULL;
    cb_config_t *cfg = NULL;
    cb_error_t err;
    FILE *out = stdout, *ev = NULL;
    char *out_tmp = NULL, *ev_tmp = NULL;

    cb_error_clear(&err);
    memset(&opts, 0, sizeof(opts));
    optind = 1;
    while ((c = next_option(v, argc, argv)) != -1) {
        if (c == 'c') {
            path = optarg;
        } else if (c == 'r') {
            if (n_regs == RECONCILE_REGISTRIES_MAX)
                return usage_error("reconcile", "--registry: at most 16 files");
            regs[n_regs++] = optarg;
        } else if (c == 'T') {
            reg_topic = true;
        } else if (c == 'f') {
            if ((format = cb_reconcile_format_parse(optarg)) < 0)
                return usage_error("reconcile", "--format: expected table, json or html");
        } else if (c == 'o') {
            output = optarg;
        } else if (c == 'e') {
            events = optarg;
        } else if (c == 'p') {
            opts.province = optarg;
        } else if (c == 'P') {
            if (parse_ms(optarg, 1, CB_CA_PAGE_SIZE_MAX, &page) < 0)
                return usage_error("reconcile", "--page-size: expected 1..500");
        } else if (c == 'h') {
            return print_verb_help(v, stdout);
        } else {
            return usage_error(v->name, "unknown option");
        }
    }
    if (optind < argc)
        return usage_error("reconcile", "unexpected argument");
    if (!n_regs && !reg_topic)
        return usage_error("reconcile", "--registry FILE or --registry-topic is required");
    if (!(cfg = cb_cli_load_config(path, envp, &err)))
        return fail("reconcile", &err);
    if (!(reg = cb_orgreg_new())) {
        cb_error_set(&err, CB_ERR_NOMEM, "out of memory");
        goto failed;
    }
    if (reg_topic && load_registry_topic(cfg, reg, &err) < 0)
        goto failed;
    for (i = 0; i < n_regs; i++)
        if (cb_orgreg_load_file(reg, regs[i], &err) < 0)
            goto failed;
    if (cb_orgreg_finish(reg, &err) < 0 || !(ca = cb_ca_client_new(cfg, &err)))
        goto failed;
    opts.page_size = page;
    opts.now_ms = cb_clock_wall_ms();
    opts.progress = isatty(STDERR_FILENO) ? stderr : NULL;
    if (!(rc = cb_reconcile_new(reg, &opts, &err)) || cb_reconcile_run(rc, ca, &err) < 0)
        goto failed;
    if (output && !(out = open_tmp(output, &out_tmp, &err)))
        goto failed;
    if (events && !(ev = open_tmp(events, &ev_tmp, &err)))
        goto failed;
    {
        bool ok = cb_reconcile_write(rc, (cb_reconcile_format_t)format, out, &err) == 0 &&
                  (!ev || cb_reconcile_write_events(rc, ev, &err) == 0);
        int r1 = output ? close_tmp(out, out_tmp, output, ok, &err) : 0;
        int r2 = ev ? close_tmp(ev, ev_tmp, events, ok && r1 == 0, &err) : 0;
        out = stdout;
        ev = NULL;
        out_tmp = ev_tmp = NULL;
        if (!ok || r1 < 0 || r2 < 0)
            goto failed;
    }
    if (events)
        fprintf(stderr, "certbridge reconcile: %zu corrective events written to %s\n",
                cb_reconcile_events(rc), events);
    goto done;
failed:
    code = fail("reconcile", &err);
    if (out != stdout)
        close_tmp(out, out_tmp, output, false, &err);
    if (ev)
        close_tmp(ev, ev_tmp, events, false, &err);
done:
    cb_reconcile_destroy(rc);
    cb_ca_client_destroy(ca);
    cb_orgreg_destroy(reg);
    cb_config_destroy(cfg);
    return code;
}

static volatile sig_atomic_t stop_requested;

/* Signal handlers only set a flag; the pipeline notices it between steps. */
static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* SIGINT and SIGTERM ask the pipeline to stop; SIGPIPE is ignored (a closed
 * socket is an error return, not a death). */
static void install_stop_handlers(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Tests only: CB_TEST_CALENDAR_OFFSET_MS moves the calendar clock (the
 * effective dates' clock.h cb_clock_calendar_ms) by that many milliseconds,
 * so an integration test reaches a date days ahead by restarting an instance
 * with a larger offset. Not a configuration key on purpose: nobody should
 * set it in production. -1 when it is set and not an integer. */
static int test_calendar_offset(void)
{
    const char *s = getenv("CB_TEST_CALENDAR_OFFSET_MS");
    char *end;
    long long v;

    if (!s || !*s)
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    cb_clock_set_calendar_offset_ms((int64_t)v);
    cb_log(CB_LOG_WARN, "cli",
           "CB_TEST_CALENDAR_OFFSET_MS=%lld: effective dates are compared with "
           "a clock moved for tests",
           v);
    return 0;
}

/* run: the pipeline until a signal (or drained, with --drain-idle-ms). */
static int verb_run(const verb_t *v, int argc, char **argv, char **envp)
{
    const char *path = NULL;
    int drain_idle_ms = 0, c, rc;
    bool leave_open = false;
    cb_config_t *cfg;
    cb_pipeline_t *p;
    cb_error_t err;

    cb_error_clear(&err);
    optind = 1;
    while ((c = next_option(v, argc, argv)) != -1) {
        if (c == 'c') {
            path = optarg;
        } else if (c == 'd') {
            if (parse_ms(optarg, 0, 86400000, &drain_idle_ms) < 0)
                return usage_error("run", "--drain-idle-ms: expected milliseconds, 0..86400000");
        } else if (c == 'L') {
            leave_open = true;
        } else if (c == 'h') {
            return print_verb_help(v, stdout);
        } else {
            return usage_error(v->name, "unknown option");
        }
    }
    if (optind < argc)
        return usage_error("run", "unexpected argument");
    if (test_calendar_offset() < 0)
        return usage_error("run",
                           "CB_TEST_CALENDAR_OFFSET_MS: expected an integer of milliseconds");
    cfg = cb_cli_load_config(path, envp, &err);
    if (!cfg)
        return fail("run", &err);
    cb_secret_check_files(cfg);
    p = cb_pipeline_new(cfg, &err);
    if (!p) {
        cb_config_destroy(cfg);
        return fail("run", &err);
    }
    install_stop_handlers();
    cb_pipeline_set_drain_leave_open(p, leave_open);
    rc = cb_pipeline_run(p, &stop_requested, drain_idle_ms, &err);
    cb_pipeline_destroy(p);
    cb_config_destroy(cfg);
    if (rc < 0) {
        cb_log(CB_LOG_ERROR, "run", "%s", err.msg);
        print_error("run", &err);
        return err.code == CB_ERR_CONFIG ? CB_EXIT_USAGE : CB_EXIT_RUNTIME;
    }
    cb_log(CB_LOG_INFO, "run", "stopped");
    return CB_EXIT_OK;
}

/* demo: the whole flow on embedded defaults, or only the CA inventory. */
static int verb_demo(const verb_t *v, int argc, char **argv, char **envp)
{
    const char *path = NULL, *refca = NULL, *inventory = NULL, *html = NULL;
    cb_config_t *cfg;
    cb_error_t err;
    int c, rc;
    bool async = false;

    cb_error_clear(&err);
    optind = 1;
    while ((c = next_option(v, argc, argv)) != -1) {
        if (c == 'c')
            path = optarg;
        else if (c == 'r')
            refca = optarg;
        else if (c == 'w')
            inventory = optarg;
        else if (c == 'a')
            async = true;
        else if (c == 'A')
            html = optarg;
        else if (c == 'h')
            return print_verb_help(v, stdout);
        else
            return usage_error(v->name, "unknown option");
    }
    if (optind < argc)
        return usage_error("demo", "unexpected argument");
    /* --write-inventory FILE: only the CA inventory of the sample's holders */
    if (inventory)
        return cb_demo_write_inventory(inventory, &err) < 0 ? fail("demo", &err) : CB_EXIT_OK;
    cfg = cb_cli_load_config(path, envp, &err);
    if (!cfg)
        return fail("demo", &err);
    /* the demo's own log lines would drown its table: warnings and up */
    if (!getenv("CERTBRIDGE_LOG_LEVEL") && !path)
        cb_log_set_level(CB_LOG_WARN);
    rc = cb_demo_run(cfg, refca, async, html, stdout, &err);
    cb_config_destroy(cfg);
    if (rc < 0) {
        print_error("demo", &err);
        return err.code == CB_ERR_CONFIG ? CB_EXIT_USAGE : CB_EXIT_RUNTIME;
    }
    return CB_EXIT_OK;
}

/* version: the same line as `certbridge --version`. */
static int verb_version(const verb_t *v, int argc, char **argv, char **envp)
{
    int c;

    (void)envp;
    optind = 1;
    while ((c = next_option(v, argc, argv)) != -1) {
        if (c == 'h')
            return print_verb_help(v, stdout);
        return usage_error(v->name, "unknown option");
    }
    if (optind < argc)
        return usage_error(v->name, "unexpected argument");
    printf("certbridge %s\n", CB_VERSION);
    return CB_EXIT_OK;
}

int cb_cli_main(int argc, char **argv, char **envp)
{
    size_t i;

    if (argc < 2) {
        print_help(stderr);
        return CB_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_help(stdout);
        return CB_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("certbridge %s\n", CB_VERSION);
        return CB_EXIT_OK;
    }
    for (i = 0; i < VERB_COUNT; i++)
        if (!strcmp(argv[1], verbs[i].name))
            return verbs[i].fn(&verbs[i], argc - 1, argv + 1, envp);
    fprintf(stderr, "certbridge: unknown command \"%s\" (see certbridge --help)\n", argv[1]);
    return CB_EXIT_USAGE;
}
