/*
 * demo.c: `certbridge demo` (see demo.h).
 */
#include "certbridge/demo.h"

#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certbridge/codec.h"
#include "certbridge/codec_json.h"
#include "certbridge/log.h"
#include "certbridge/pipeline.h"
#include "certbridge/subject.h"
#include "certbridge/table.h"

/* The sample reorganization, embedded from tests/data at build time. */
extern const char cb_demo_sample[];
extern const size_t cb_demo_sample_len;

#define ORG_TOPIC     "hr.org-events"
#define PERSON_TOPIC  "hr.person-events"
#define OUTCOME_TOPIC "pki.certificate-outcomes"
#define DLQ_TOPIC     "certbridge.dlq"
#define MAX_EVENTS    1000

typedef struct demo {
    char dir[64];
    pid_t ca_pid;
    char ca_url[256];
    rd_kafka_t *owner;
    rd_kafka_mock_cluster_t *mock;
    cb_event_t *events;
    char **lines; /* the sample's lines, as produced */
    size_t n_events;
    bool async; /* the CA answers PENDING and finishes later */
} demo_t;

static volatile sig_atomic_t demo_stop;

/* SIGINT/SIGTERM during the demo: only a flag, the pipeline notices it. */
static void on_signal(int sig)
{
    (void)sig;
    demo_stop = 1;
}

/* Splits the embedded sample into lines and decodes each event. */
static int load_sample(demo_t *d, cb_error_t *err)
{
    const char *p = cb_demo_sample, *end = cb_demo_sample + cb_demo_sample_len;

    d->events = calloc(MAX_EVENTS, sizeof(cb_event_t));
    d->lines = calloc(MAX_EVENTS, sizeof(char *));
    if (!d->events || !d->lines)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    while (p < end && d->n_events < MAX_EVENTS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len > 0) {
            if (cb_codec_json_decode_event(p, len, &d->events[d->n_events], err) < 0)
                return cb_error_prefix(err, "demo sample line %zu", d->n_events + 1);
            if (!(d->lines[d->n_events] = strndup(p, len)))
                return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            d->n_events++;
        }
        p += len + 1;
    }
    return 0;
}

/* Adds a holder to the inventory unless it is there already. */
static int add_holder(json_t *inv, json_t *seen, const char *type, const char *id,
                      const char *subject, const char *org_code)
{
    char device[64];
    json_t *h;

    if (!subject || json_object_get(seen, id))
        return 0;
    json_object_set_new(seen, id, json_true());
    snprintf(device, sizeof(device), "TK-%.40s", id);
    h = json_pack("{s:s, s:s, s:s, s:s}", "holder_type", type, "holder_id", id, "subject", subject,
                  "device_id", device);
    if (!h)
        return -1;
    if (org_code)
        json_object_set_new(h, "org_code", json_string(org_code));
    return json_array_append_new(inv, h);
}

/* The CA's inventory: every holder the sample names (a joining person
 * excepted: they have no certificate yet), with a certificate as it was
 * before the reorganization. */
static int write_inventory(demo_t *d, const char *path, cb_error_t *err)
{
    json_t *inv = json_array(), *seen = json_object();
    size_t i, k;
    FILE *f;
    int rc = -1;

    for (i = 0; i < d->n_events; i++) {
        const cb_event_t *ev = &d->events[i];
        char *subj = NULL;
        cb_error_t e;

        if (ev->kind == CB_EVENT_ORG) {
            for (k = 0; k < ev->merged_count; k++) {
                subj = cb_subject_for_org(&ev->merged_orgs[k], &e);
                add_holder(inv, seen, "ORGANIZATION", ev->merged_orgs[k].code, subj, NULL);
                free(subj);
            }
            if (ev->type != CB_ORG_MERGED || !ev->result_is_new) {
                subj = cb_subject_for_org(&ev->org, &e);
                add_holder(inv, seen, "ORGANIZATION", ev->org.code, subj, NULL);
                free(subj);
            }
        } else if (ev->type != CB_PERSON_JOINED) {
            const cb_org_t *before = ev->previous_org ? ev->previous_org : &ev->org;
            subj = cb_subject_for_person(&ev->person, before, &e);
            add_holder(inv, seen, "PERSON", ev->person.person_id, subj, before->code);
            free(subj);
        }
    }
    f = fopen(path, "w");
    if (!f) {
        cb_error_set(err, CB_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    for (i = 0; i < json_array_size(inv); i++) {
        char *line = json_dumps(json_array_get(inv, i), JSON_COMPACT);
        if (line)
            fprintf(f, "%s\n", line);
        free(line);
    }
    fclose(f);
    rc = 0;
out:
    json_decref(inv);
    json_decref(seen);
    return rc;
}

/* Finds the reference CA executable next to this one, in its refca/
 * folder, or returns the bare name for a PATH search. */
static void find_refca(char *out, size_t size)
{
    char self[PATH_MAX], cand[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    snprintf(out, size, "certbridge-refca");
    if (n <= 0)
        return;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return;
    *slash = '\0';
    snprintf(cand, sizeof(cand), "%s/certbridge-refca", self);
    if (access(cand, X_OK) != 0)
        snprintf(cand, sizeof(cand), "%s/refca/certbridge-refca", self);
    if (access(cand, X_OK) == 0 && strlen(cand) < size)
        memcpy(out, cand, strlen(cand) + 1);
}

/* Runs argv to completion with its output silenced; 0 on exit status 0. */
static int run_quiet(char *const argv[])
{
    pid_t pid;
    int st;

    fflush(NULL); /* a child must not write our buffered output again */
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Writes the inventory, creates the PKI and starts the reference CA on a
 * free port in d->dir; waits (up to 15 s) for the URL it writes. */
static int start_ca(demo_t *d, const char *bin, cb_error_t *err)
{
    char pki[128], state[128], inv[128], urlf[128], logf[128];
    int i;

    snprintf(pki, sizeof(pki), "%s/pki", d->dir);
    snprintf(state, sizeof(state), "%s/ca-state", d->dir);
    snprintf(inv, sizeof(inv), "%s/inventory.jsonl", d->dir);
    snprintf(urlf, sizeof(urlf), "%s/ca-url", d->dir);
    snprintf(logf, sizeof(logf), "%s/ca.log", d->dir);
    if (write_inventory(d, inv, err) < 0)
        return -1;
    {
        char *argv[] = {(char *)bin, "pki-init", pki, NULL};
        if (run_quiet(argv) < 0)
            return cb_error_set(err, CB_ERR_IO,
                                "cannot run the reference CA \"%s\" (build it, or put "
                                "certbridge-refca next to certbridge or in PATH)",
                                bin);
    }
    fflush(NULL);
    d->ca_pid = fork();
    if (d->ca_pid < 0)
        return cb_error_set(err, CB_ERR_IO, "fork: %s", strerror(errno));
    if (d->ca_pid == 0) {
        char *argv[] = {(char *)bin, "serve", "--state", state, "--pki", pki, "--inventory", inv,
                        "--listen", "127.0.0.1:0", "--url-file", urlf,
                        /* async: PENDING, final 0.3 to 1.5 s later
                         * (without async the list ends here) */
                        d->async ? "--async" : NULL, "--async-delay-ms", "300:1500", NULL};
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (!freopen(logf, "w", stdout) || !freopen(logf, "a", stderr))
            _exit(126);
        execvp(bin, argv);
        _exit(127);
    }
    for (i = 0; i < 300; i++) {
        FILE *f = fopen(urlf, "r");
        if (f) {
            int ok = fgets(d->ca_url, sizeof(d->ca_url), f) && strlen(d->ca_url) > 8;
            fclose(f);
            if (ok) {
                d->ca_url[strcspn(d->ca_url, "\r\n")] = '\0';
                return 0;
            }
        }
        if (waitpid(d->ca_pid, NULL, WNOHANG) == d->ca_pid) {
            d->ca_pid = 0;
            return cb_error_set(err, CB_ERR_IO, "the reference CA exited; see %s", logf);
        }
        usleep(50 * 1000);
    }
    return cb_error_set(err, CB_ERR_IO, "the reference CA did not start; see %s", logf);
}

/* Produces the sample's lines to the org and person topics, keyed by code
 * or person id as HR would. */
static int produce_sample(demo_t *d, const char *bootstrap, cb_error_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_t *p;
    size_t i;

    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set_log_cb(conf, NULL);
    p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p)
        return cb_error_set(err, CB_ERR_KAFKA, "producer: %s", errstr);
    for (i = 0; i < d->n_events; i++) {
        const cb_event_t *ev = &d->events[i];
        const char *key = ev->kind == CB_EVENT_ORG ? ev->org.code : ev->person.person_id;
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(ev->kind == CB_EVENT_ORG ? ORG_TOPIC : PERSON_TOPIC),
                          RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE(d->lines[i], strlen(d->lines[i])),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    }
    rd_kafka_flush(p, 10000);
    rd_kafka_destroy(p);
    return 0;
}

/* Copies the policy and logging keys the user set into the demo's own
 * configuration. */
static int demo_config(const cb_config_t *user, demo_t *d, const char *bootstrap, cb_config_t **out,
                       cb_error_t *err)
{
    static const char *const keep[] = {"policy.issue_new", "policy.position_change",
                                       "policy.cascade_personal", "log.level", NULL};
    char path[160];
    cb_config_t *cfg = cb_config_new();
    size_t i;

    if (!cfg)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    for (i = 0; keep[i]; i++)
        if (cb_config_set(cfg, keep[i], cb_config_get(user, keep[i]), err) < 0)
            goto fail;
#define SET(k, v)                                                                                  \
    if (cb_config_set(cfg, k, v, err) < 0)                                                         \
    goto fail
    SET("kafka.bootstrap.servers", bootstrap);
    SET("kafka.group.id", "certbridge-demo");
    SET("pipeline.transactional_id", "certbridge-demo");
    SET("pipeline.batch_max_events", "50");
    SET("pipeline.batch_max_ms", "200");
    SET("metrics.listen", "");
    /* the demo has no approver: nothing waits for an approval */
    SET("policy.approval", "none");
    SET("ca.url", d->ca_url);
    snprintf(path, sizeof(path), "%s/pki/client.pem", d->dir);
    SET("ca.tls.cert", path);
    snprintf(path, sizeof(path), "%s/pki/client.key", d->dir);
    SET("ca.tls.key", path);
    snprintf(path, sizeof(path), "%s/pki/tls-ca.pem", d->dir);
    SET("ca.tls.ca_bundle", path);
    if (d->async) {
        /* the CA finishes within 1.5 s: check soon, and at least every second */
        SET("ca.poll_initial_ms", "250");
        SET("ca.poll_max_ms", "1000");
    }
#undef SET
    *out = cfg;
    return 0;
fail:
    cb_config_destroy(cfg);
    return -1;
}

typedef struct row {
    size_t event; /* index in the sample */
    cb_outcome_t o;
    size_t seq;            /* order read from the topic */
    int64_t pending_at_ms; /* when a PENDING record came before o; 0 = none */
} row_t;

/* Outcomes in the sample's event order, then by action index, then as read. */
static int cmp_row(const void *a, const void *b)
{
    const row_t *x = a, *y = b;

    if (x->event != y->event)
        return x->event < y->event ? -1 : 1;
    if (x->o.action_index != y->o.action_index)
        return x->o.action_index - y->o.action_index;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The outcome topic read as a table (docs/ARCHITECTURE.md §5): the latest
 * record per outcome_id is the action's state; one that replaces a PENDING
 * record remembers when that was. rows is sorted by cmp_row, so the records
 * of an action are side by side, in the order read; keeps the latest of
 * each and returns their count. */
static size_t latest_per_action(row_t *rows, size_t n)
{
    size_t i, m = 0;

    for (i = 0; i < n; i++) {
        row_t *prev = m ? &rows[m - 1] : NULL;
        if (prev && prev->o.outcome_id && rows[i].o.outcome_id &&
            !strcmp(prev->o.outcome_id, rows[i].o.outcome_id)) {
            int64_t pending_at = prev->pending_at_ms                   ? prev->pending_at_ms
                                 : prev->o.status == CB_STATUS_PENDING ? prev->o.processed_at_ms
                                                                       : 0;
            cb_outcome_clear(&prev->o);
            *prev = rows[i];
            prev->pending_at_ms = pending_at;
            continue;
        }
        rows[m++] = rows[i];
    }
    return m;
}

/* Reads the committed outcomes back from the in-process cluster. */
static int read_outcomes(demo_t *d, const char *bootstrap, row_t **rows, size_t *n, cb_error_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    cb_config_t *cfg = cb_config_new();
    cb_codec_t *codec = cfg ? cb_codec_new(cfg, err) : NULL;
    char errstr[256];
    rd_kafka_t *c;
    size_t cap = 256;
    int eof = 0, idle = 0;

    *n = 0;
    *rows = calloc(cap, sizeof(row_t));
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", "certbridge-demo-reader", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
    c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!c || !codec || !*rows) {
        cb_error_set(err, CB_ERR_KAFKA, "outcome reader: %s", c ? "out of memory" : errstr);
        goto out;
    }
    rd_kafka_topic_partition_list_add(parts, OUTCOME_TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    while (!eof && idle < 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        size_t i;
        if (!m) {
            idle++;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof = 1;
        } else if (!m->err) {
            if (*n == cap) {
                row_t *r = realloc(*rows, cap * 2 * sizeof(row_t));
                if (!r) {
                    rd_kafka_message_destroy(m);
                    break;
                }
                *rows = r;
                cap *= 2;
            }
            if (cb_codec_decode_outcome(codec, m->payload, m->len, &(*rows)[*n].o, err) == 0) {
                for (i = 0; i < d->n_events; i++)
                    if (!strcmp(d->events[i].event_id, (*rows)[*n].o.source_event_id))
                        break;
                (*rows)[*n].event = i;
                (*rows)[*n].seq = *n;
                (*rows)[*n].pending_at_ms = 0;
                (*n)++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    qsort(*rows, *n, sizeof(row_t), cmp_row);
    *n = latest_per_action(*rows, *n);
out:
    rd_kafka_topic_partition_list_destroy(parts);
    if (c) {
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
    }
    cb_codec_destroy(codec);
    cb_config_destroy(cfg);
    return err->code ? -1 : 0;
}

#define SERIAL_COLUMNS 9 /* a serial number's last 8 digits after "…" */

/* The columns of the outcome table: an event's id and type on its first row
 * only, and a last column without a title for the leader's note. */
static const cb_table_column_t demo_columns[] = {
    {.title = "EVENT", .grouped = true},
    {.title = "TYPE", .grouped = true},
    {.title = "ACTION"},
    {.title = "HOLDER"},
    {.title = "CERTIFICATE"},
    {.title = "STATUS"},
    {.title = NULL},
};

/* A serial number as the table shows it: its last digits after "…", or "-"
 * when there is none. */
static const char *short_serial(const char *s, char *buf, size_t size)
{
    if (!s || !*s)
        return "-";
    return cb_table_elide(s, SERIAL_COLUMNS, CB_TABLE_ELIDE_START, buf, size);
}

/* The CERTIFICATE cell of an outcome: old → new serial for an action that
 * issues one, the token for a recall, else the serial acted on. */
static void certificate_cell(const cb_outcome_t *o, char *buf, size_t size)
{
    char a[64], b[64];

    if (o->action == CB_ACTION_CHANGE_INFO || o->action == CB_ACTION_ISSUE)
        cb_table_cellf(buf, size, "%s → %s", short_serial(o->certificate_serial, a, sizeof(a)),
                       short_serial(o->new_certificate_serial, b, sizeof(b)));
    else if (o->action == CB_ACTION_RECALL_DEVICE)
        cb_table_cellf(buf, size, "token %s", o->device_id ? o->device_id : "-");
    else
        cb_table_cellf(buf, size, "%s", short_serial(o->certificate_serial, a, sizeof(a)));
}

/* Prints the outcome table, then the counts and the tokens to return. An
 * action that went through PENDING shows "PENDING → " before its state. */
static int print_table(demo_t *d, row_t *rows, size_t n, FILE *out, cb_error_t *err)
{
    size_t i, k, counts[CB_STATUS_COUNT] = {0}, tokens = 0, followed = 0, still = 0;
    int64_t fastest = -1, slowest = -1;
    cb_table_t *t = cb_table_new(demo_columns, sizeof(demo_columns) / sizeof(demo_columns[0]), err);
    char cert[160], status[64];
    int rc = -1;

    if (!t)
        return -1;
    for (i = 0; i < n; i++) {
        const cb_outcome_t *o = &rows[i].o;
        const char *cells[] = {o->source_event_id,
                               o->source_event_type,
                               cb_action_name(o->action),
                               o->holder_name ? o->holder_name : o->holder_id,
                               cert,
                               status,
                               o->emergency_signing_allowed ? "(leader may keep signing)" : ""};
        certificate_cell(o, cert, sizeof(cert));
        if (rows[i].pending_at_ms) {
            int64_t took = o->processed_at_ms - rows[i].pending_at_ms;
            snprintf(status, sizeof(status), "PENDING → %s", cb_outcome_status_name(o->status));
            followed++;
            if (fastest < 0 || took < fastest)
                fastest = took;
            if (took > slowest)
                slowest = took;
        } else {
            snprintf(status, sizeof(status), "%s", cb_outcome_status_name(o->status));
        }
        if (o->status == CB_STATUS_PENDING)
            still++;
        if (cb_table_add_row(t, cells,
                             i && rows[i - 1].event == rows[i].event ? CB_TABLE_CONTINUATION
                                                                     : CB_TABLE_ROW,
                             err) < 0)
            goto out;
        counts[o->status]++;
        if (o->action == CB_ACTION_RECALL_DEVICE && o->status == CB_STATUS_SUCCEEDED)
            tokens++;
    }
    if (cb_table_write(t, out, err) < 0)
        goto out;
    fprintf(out, "\n%zu events, %zu outcomes:", d->n_events, n);
    for (k = 0; k < CB_STATUS_COUNT; k++)
        if (counts[k])
            fprintf(out, " %s %zu", cb_outcome_status_name((cb_outcome_status_t)k), counts[k]);
    if (d->async)
        fprintf(out,
                "\n%zu actions answered PENDING by the CA and followed until final: %zu final "
                "(%.1f to %.1f s after the PENDING answer; the real CA takes up to three working "
                "days), %zu still PENDING\n",
                followed + still, followed, fastest < 0 ? 0.0 : (double)fastest / 1000.0,
                slowest < 0 ? 0.0 : (double)slowest / 1000.0, still);
    fprintf(out,
            "\n%zu key tokens to return to the Department of Digital Certification and "
            "Information Security:\n",
            tokens);
    for (i = 0; i < n; i++)
        if (rows[i].o.action == CB_ACTION_RECALL_DEVICE && rows[i].o.status == CB_STATUS_SUCCEEDED)
            fprintf(out, "  %s  %s\n", rows[i].o.device_id ? rows[i].o.device_id : "-",
                    rows[i].o.holder_name ? rows[i].o.holder_name
                    : rows[i].o.holder_id ? rows[i].o.holder_id
                                          : "-");
    rc = 0;
out:
    cb_table_destroy(t);
    return rc;
}

/* Stops the CA and the mock cluster, frees the sample, removes d->dir. */
static void cleanup(demo_t *d)
{
    size_t i;
    char cmd[128];

    if (d->ca_pid > 0) {
        kill(d->ca_pid, SIGTERM);
        waitpid(d->ca_pid, NULL, 0);
    }
    if (d->mock)
        rd_kafka_mock_cluster_destroy(d->mock);
    if (d->owner)
        rd_kafka_destroy(d->owner);
    for (i = 0; i < d->n_events; i++) {
        cb_event_clear(&d->events[i]);
        free(d->lines[i]);
    }
    free(d->events);
    free(d->lines);
    if (d->dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        if (system(cmd) != 0)
            cb_log(CB_LOG_WARN, "demo", "could not remove %s", d->dir);
    }
}

int cb_demo_write_inventory(const char *path, cb_error_t *err)
{
    demo_t d;
    int rc;

    memset(&d, 0, sizeof(d));
    rc = load_sample(&d, err) < 0 ? -1 : write_inventory(&d, path, err);
    cleanup(&d);
    return rc;
}

int cb_demo_run(const cb_config_t *user, const char *refca_path, bool async, FILE *out,
                cb_error_t *err)
{
    demo_t d;
    char bin[PATH_MAX], errstr[256], bootstrap[256];
    cb_config_t *cfg = NULL;
    cb_pipeline_t *p = NULL;
    cb_pipeline_stats_t st;
    row_t *rows = NULL;
    size_t n = 0, i;
    struct sigaction sa;
    int rc = -1;

    memset(&d, 0, sizeof(d));
    d.async = async;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    snprintf(d.dir, sizeof(d.dir), "/tmp/certbridge-demo-XXXXXX");
    if (!mkdtemp(d.dir)) {
        d.dir[0] = '\0';
        cb_error_set(err, CB_ERR_IO, "mkdtemp: %s", strerror(errno));
        goto out;
    }
    if (load_sample(&d, err) < 0)
        goto out;
    if (refca_path) {
        /* a cut path would run another program, or none */
        if (strlen(refca_path) >= sizeof(bin)) {
            cb_error_set(err, CB_ERR_CONFIG, "--refca: a path of more than %zu bytes",
                         sizeof(bin) - 1);
            goto out;
        }
        memcpy(bin, refca_path, strlen(refca_path) + 1);
    } else {
        find_refca(bin, sizeof(bin));
    }
    fprintf(out, "certbridge demo: %zu sample events of Đồng Nai's 2025 reorganization\n",
            d.n_events);
    if (start_ca(&d, bin, err) < 0)
        goto out;
    fprintf(out, "  reference CA (%s) at %s%s\n", bin, d.ca_url,
            async ? ", asynchronous: every request PENDING, final 0.3 to 1.5 s later" : "");
    {
        /* the handle that owns the mock cluster talks to no broker itself */
        rd_kafka_conf_t *oconf = rd_kafka_conf_new();
        rd_kafka_conf_set(oconf, "log_level", "3", errstr, sizeof(errstr));
        d.owner = rd_kafka_new(RD_KAFKA_PRODUCER, oconf, errstr, sizeof(errstr));
    }
    d.mock = d.owner ? rd_kafka_mock_cluster_new(d.owner, 1) : NULL;
    if (!d.mock) {
        cb_error_set(err, CB_ERR_KAFKA, "in-process Kafka: %s", errstr);
        goto out;
    }
    snprintf(bootstrap, sizeof(bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(d.mock));
    rd_kafka_mock_topic_create(d.mock, ORG_TOPIC, 2, 1);
    rd_kafka_mock_topic_create(d.mock, PERSON_TOPIC, 2, 1);
    rd_kafka_mock_topic_create(d.mock, OUTCOME_TOPIC, 1, 1);
    rd_kafka_mock_topic_create(d.mock, DLQ_TOPIC, 1, 1);
    /* the mock has no CreateTopics: the state topic is made here, with the
     * input topics' partitions (config default output.state_topic) */
    rd_kafka_mock_topic_create(d.mock, "certbridge.state", 2, 1);
    fprintf(out, "  in-process Kafka (librdkafka mock cluster) at %s\n", bootstrap);
    if (produce_sample(&d, bootstrap, err) < 0 || demo_config(user, &d, bootstrap, &cfg, err) < 0)
        goto out;
    p = cb_pipeline_new(cfg, err);
    if (!p)
        goto out;
    fprintf(out, "  running the pipeline until the input is drained%s...\n\n",
            async ? " and every CA request is final" : "");
    fflush(out);
    if (cb_pipeline_run(p, &demo_stop, 1500, err) < 0)
        goto out;
    cb_pipeline_stats(p, &st);
    if (demo_stop) {
        cb_error_set(err, CB_ERR_IO, "interrupted");
        goto out;
    }
    if (read_outcomes(&d, bootstrap, &rows, &n, err) < 0)
        goto out;
    if (print_table(&d, rows, n, out, err) < 0)
        goto out;
    fprintf(out, "\nKafka transactions committed: %llu; dead letters: %llu; everything stopped.\n",
            (unsigned long long)st.batches_committed, (unsigned long long)st.dead_letters);
    rc = 0;
out:
    for (i = 0; i < n; i++)
        cb_outcome_clear(&rows[i].o);
    free(rows);
    cb_pipeline_destroy(p);
    cb_config_destroy(cfg);
    cleanup(&d);
    return rc;
}
