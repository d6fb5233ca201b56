/*
 * cli.c: verbs, options and exit codes of the certbridge command.
 *
 * Each verb parses its own options here and calls one module function; the
 * modules return errors and this file turns them into messages and exit codes.
 */
#include "certbridge/cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "certbridge/clock.h"
#include "certbridge/demo.h"
#include "certbridge/log.h"
#include "certbridge/pipeline.h"
#include "certbridge/plan.h"
#include "certbridge/report.h"
#include "certbridge/rules.h"
#include "certbridge/secret.h"
#include "certbridge/version.h"

typedef struct verb {
    const char *name;
    int (*fn)(int argc, char **argv, char **envp);
    const char *usage;
    const char *summary;
} verb_t;

static int verb_config(int argc, char **argv, char **envp);
static int verb_run(int argc, char **argv, char **envp);
static int verb_demo(int argc, char **argv, char **envp);
static int verb_plan(int argc, char **argv, char **envp);
static int verb_report(int argc, char **argv, char **envp);

static const verb_t verbs[] = {
    {"run", verb_run, "run -c FILE",
     "the daemon: consume HR events, act at the CA, publish outcomes exactly once"},
    {"demo", verb_demo, "demo [-c FILE] [--refca PATH]",
     "the whole flow on embedded defaults: in-process Kafka, local reference CA, sample"},
    {"config", verb_config, "config [-c FILE] [--markdown]",
     "every key with its value, type, default, help (--example: a commented file)"},
    {"plan", verb_plan, "plan -i FILE [--format table|json]",
     "print the certificate actions each JSON event produces (offline; -c FILE for the policy)"},
    {"report", verb_report, "report [-c FILE] [--html FILE]",
     "progress read back from the outcome topic: a table (--format json), an HTML page"},
};

#define VERB_COUNT (sizeof(verbs) / sizeof(verbs[0]))

static void print_help(FILE *out)
{
    size_t i;

    fprintf(out,
            "certbridge %s: keeps public-service digital-signature certificates in step with\n"
            "a government reorganization (Kafka HR events in, CA actions, outcome events out).\n\n"
            "Usage:\n",
            CB_VERSION);
    for (i = 0; i < VERB_COUNT; i++)
        fprintf(out, "  certbridge %-34s %s\n", verbs[i].usage, verbs[i].summary);
    fprintf(out, "  certbridge %-34s %s\n", "--help", "this text");
    fprintf(out, "  certbridge %-34s %s\n\n", "--version", "print the version");
    fprintf(out, "Configuration: a key=value file given with -c; CERTBRIDGE_<KEY> environment\n"
                 "variables override it (e.g. CERTBRIDGE_POLICY_ISSUE_NEW=allow). kafka.* keys\n"
                 "go to librdkafka. `certbridge config` lists every key.\n\n"
                 "Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration,\n"
                 "3 bad input file.\n");
}

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

static int fail(const char *verb, const cb_error_t *err)
{
    fprintf(stderr, "certbridge %s: %s\n", verb, err->msg);
    return exit_code_for(err);
}

static int usage_error(const char *verb, const char *msg)
{
    fprintf(stderr, "certbridge %s: %s (see certbridge --help)\n", verb, msg);
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

static int verb_config(int argc, char **argv, char **envp)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"markdown", no_argument, NULL, 'm'},
                                         {"example", no_argument, NULL, 'e'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int markdown = 0, example = 0, c;
    cb_config_t *cfg;
    cb_error_t err;

    cb_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:me", opts, NULL)) != -1) {
        if (c == 'c')
            path = optarg;
        else if (c == 'm')
            markdown = 1;
        else if (c == 'e')
            example = 1;
        else
            return usage_error("config", "unknown option");
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
static int verb_plan(int argc, char **argv, char **envp)
{
    static const struct option opts[] = {{"input", required_argument, NULL, 'i'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"config", required_argument, NULL, 'c'},
                                         {NULL, 0, NULL, 0}};
    const char *input = NULL, *path = NULL;
    int format = CB_PLAN_TABLE, c, code = CB_EXIT_OK;
    cb_config_t *cfg;
    cb_policy_t policy;
    cb_error_t err;

    cb_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:f:c:", opts, NULL)) != -1) {
        if (c == 'i') {
            input = optarg;
        } else if (c == 'c') {
            path = optarg;
        } else if (c == 'f') {
            format = cb_plan_format_parse(optarg);
            if (format < 0)
                return usage_error("plan", "--format: expected table or json");
        } else {
            return usage_error("plan", "unknown option");
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
        cb_plan_file(input, &policy, (cb_plan_format_t)format, stdout, &err) < 0)
        code = fail("plan", &err);
    cb_config_destroy(cfg);
    return code;
}

/* report: reads output.outcome_topic to its end and prints the progress
 * (--format table|json on stdout; --html FILE for one self-contained page). */
static int verb_report(int argc, char **argv, char **envp)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"html", required_argument, NULL, 'H'},
                                         {"timeout-ms", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL, *html = NULL;
    int format = CB_REPORT_TABLE, timeout_ms = 60000, partitions = 0, c, code = CB_EXIT_OK;
    cb_report_source_t src;
    cb_report_t *r = NULL;
    cb_config_t *cfg;
    cb_error_t err;
    char *end;
    long v;

    cb_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:f:H:t:", opts, NULL)) != -1) {
        if (c == 'c') {
            path = optarg;
        } else if (c == 'H') {
            html = optarg;
        } else if (c == 'f') {
            format = cb_report_format_parse(optarg);
            if (format < 0)
                return usage_error("report", "--format: expected table or json");
        } else if (c == 't') {
            v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 1 || v > 3600000)
                return usage_error("report", "--timeout-ms: expected milliseconds, 1..3600000");
            timeout_ms = (int)v;
        } else {
            return usage_error("report", "unknown option");
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
    if (cb_report_read_kafka(cfg, r, timeout_ms, &partitions, &err) < 0 ||
        cb_report_finish(r, &err) < 0)
        goto failed;
    src.topic = cb_config_get(cfg, "output.outcome_topic");
    src.partitions = partitions;
    src.generated_at_ms = cb_clock_wall_ms();
    if ((format == CB_REPORT_JSON ? cb_report_write_json(r, &src, stdout, &err)
                                  : cb_report_write_table(r, &src, stdout, &err)) < 0 ||
        (html && cb_report_save_html(r, &src, html, &err) < 0))
        goto failed;
    goto out;
failed:
    fprintf(stderr, "certbridge report: %s\n", err.msg);
    code = err.code == CB_ERR_CONFIG ? CB_EXIT_USAGE : CB_EXIT_RUNTIME;
out:
    cb_report_destroy(r);
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

static int verb_run(int argc, char **argv, char **envp)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"drain-idle-ms", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int drain_idle_ms = 0, c, rc;
    cb_config_t *cfg;
    cb_pipeline_t *p;
    cb_error_t err;

    cb_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:d:", opts, NULL)) != -1) {
        if (c == 'c')
            path = optarg;
        else if (c == 'd')
            drain_idle_ms = atoi(optarg);
        else
            return usage_error("run", "unknown option");
    }
    if (optind < argc)
        return usage_error("run", "unexpected argument");
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
    rc = cb_pipeline_run(p, &stop_requested, drain_idle_ms, &err);
    cb_pipeline_destroy(p);
    cb_config_destroy(cfg);
    if (rc < 0) {
        cb_log(CB_LOG_ERROR, "run", "%s", err.msg);
        fprintf(stderr, "certbridge run: %s\n", err.msg);
        return err.code == CB_ERR_CONFIG ? CB_EXIT_USAGE : CB_EXIT_RUNTIME;
    }
    cb_log(CB_LOG_INFO, "run", "stopped");
    return CB_EXIT_OK;
}

static int verb_demo(int argc, char **argv, char **envp)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"refca", required_argument, NULL, 'r'},
                                         {"write-inventory", required_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL, *refca = NULL, *inventory = NULL;
    cb_config_t *cfg;
    cb_error_t err;
    int c, rc;

    cb_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:w:", opts, NULL)) != -1) {
        if (c == 'c')
            path = optarg;
        else if (c == 'r')
            refca = optarg;
        else if (c == 'w')
            inventory = optarg;
        else
            return usage_error("demo", "unknown option");
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
    rc = cb_demo_run(cfg, refca, stdout, &err);
    cb_config_destroy(cfg);
    if (rc < 0) {
        fprintf(stderr, "certbridge demo: %s\n", err.msg);
        return err.code == CB_ERR_CONFIG ? CB_EXIT_USAGE : CB_EXIT_RUNTIME;
    }
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
            return verbs[i].fn(argc - 1, argv + 1, envp);
    fprintf(stderr, "certbridge: unknown command \"%s\" (see certbridge --help)\n", argv[1]);
    return CB_EXIT_USAGE;
}
