/*
 * demo.c: `certbridge demo` (see demo.h).
 */
#include "certbridge/demo.h"

#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certbridge/approval.h"
#include "certbridge/approval_verify.h"
#include "certbridge/approvals.h"
#include "certbridge/codec.h"
#include "certbridge/codec_json.h"
#include "certbridge/gate.h"
#include "certbridge/html.h"
#include "certbridge/rules.h"
#include "certbridge/log.h"
#include "certbridge/pipeline.h"
#include "certbridge/subject.h"
#include "certbridge/table.h"

/* The sample reorganization, embedded from tests/data at build time. */
extern const char cb_demo_sample[];
extern const size_t cb_demo_sample_len;

#define ORG_TOPIC      "hr.org-events"
#define PERSON_TOPIC   "hr.person-events"
#define OUTCOME_TOPIC  "pki.certificate-outcomes"
#define DLQ_TOPIC      "certbridge.dlq"
#define APPROVAL_TOPIC "certbridge.approvals"
#define MAX_EVENTS     1000

/* The demo's agency head (a fictitious person): the reference CA issues her
 * a signing certificate, and she signs every approval request of the
 * sample (in production each managing agency's head signs its own). */
#define HEAD_NAME  "Nguyễn Thị Thanh Hương"
#define HEAD_TITLE "Chủ tịch Ủy ban nhân dân tỉnh Đồng Nai"
#define HEAD_ID    "DN-LD-000001"
#define HEAD_SUBJECT                                                                                       \
    "CN=" HEAD_NAME ",title=Chủ tịch Ủy ban nhân dân tỉnh,O=Ủy ban nhân dân tỉnh Đồng " \
    "Nai,L=Tỉnh Đồng Nai,C=VN"
#define SERIAL_COLUMNS 9           /* a serial number's last 8 digits after "…" */
#define DOCUMENT_FIRST 1501        /* the approvals' document numbers: 1501/UBND-NC, ... */
#define PEM_MAX        (64 * 1024) /* the head's key and certificate files */
#define APPROVAL_WAIT_S                                                                            \
    60 /* the approved actions must have run by then (a refused approval would                     \
        * leave them waiting for good) */

typedef struct demo {
    char dir[64];
    pid_t ca_pid;
    char ca_url[256];
    rd_kafka_t *owner;
    rd_kafka_mock_cluster_t *mock;
    cb_event_t *events;
    char **lines; /* the sample's lines, as produced */
    size_t n_events;
    bool async;      /* the CA answers PENDING and finishes later */
    bool gate;       /* policy.approval is not none: one approval round */
    char *head_key;  /* the head's private key (PEM) */
    char *head_cert; /* the head's certificate (PEM) */
    size_t head_key_len, head_cert_len;
} demo_t;

static volatile sig_atomic_t demo_stop, demo_timeout;

/* SIGINT/SIGTERM during the demo: only a flag, the pipeline notices it;
 * SIGALRM: the approved actions did not run in time. */
static void on_signal(int sig)
{
    if (sig == SIGALRM)
        demo_timeout = 1;
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

/* Runs argv to completion with its output into logf (NULL: silenced); 0
 * on exit status 0. */
static int run_logged(char *const argv[], const char *logf)
{
    pid_t pid;
    int st;

    fflush(NULL); /* a child must not write our buffered output again */
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!freopen(logf ? logf : "/dev/null", "a", stdout) ||
            !freopen(logf ? logf : "/dev/null", "a", stderr))
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
        if (run_logged(argv, NULL) < 0)
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

/* The whole of path, at most max bytes, NUL-terminated, into *out (caller
 * frees). */
static int slurp(const char *path, size_t max, char **out, size_t *len, cb_error_t *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(max + 1);

    *out = NULL;
    if (!f || !buf) {
        if (f)
            fclose(f);
        free(buf);
        return cb_error_set(err, f ? CB_ERR_NOMEM : CB_ERR_IO, "%s: %s", path,
                            f ? "out of memory" : strerror(errno));
    }
    *len = fread(buf, 1, max + 1, f);
    fclose(f);
    if (*len > max) {
        free(buf);
        return cb_error_set(err, CB_ERR_LIMIT, "%s: more than %zu bytes", path, max);
    }
    buf[*len] = '\0';
    *out = buf;
    return 0;
}

/* An ASN.1 time as "YYYY-MM-DD HH:MM UTC" into buf. */
static void format_asn1_time(const ASN1_TIME *t, char *buf, size_t size)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || !strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(buf, size, "?");
}

/* The head of agency's identity, from the running reference CA: a signing
 * certificate issued to HEAD_NAME with its private key, the CA certificate
 * (the trust anchor) and a CRL made now (`certbridge-refca signer`); loads
 * the key and certificate and prints who signs, with the CRL's validity. */
static int make_approver(demo_t *d, const char *bin, FILE *out, cb_error_t *err)
{
    char state[128], key[128], cert[128], anchors[128], crl[128], logf[128];
    char serial_buf[80], next[64], *crl_der = NULL;
    size_t crl_len = 0;
    const unsigned char *p;
    X509_CRL *x = NULL;
    X509 *c = NULL;
    BIO *bio = NULL;
    BIGNUM *bn = NULL;
    char *hex = NULL;
    int rc = -1;

    snprintf(state, sizeof(state), "%s/ca-state", d->dir);
    snprintf(key, sizeof(key), "%s/head.key", d->dir);
    snprintf(cert, sizeof(cert), "%s/head.pem", d->dir);
    snprintf(anchors, sizeof(anchors), "%s/trust-anchors.pem", d->dir);
    snprintf(crl, sizeof(crl), "%s/ca.crl", d->dir);
    snprintf(logf, sizeof(logf), "%s/signer.log", d->dir);
    {
        char *argv[] = {(char *)bin, "signer",     "--state", state, "--holder-id", HEAD_ID,
                        "--subject", HEAD_SUBJECT, "--key",   key,   "--cert",      cert,
                        "--ca-cert", anchors,      "--crl",   crl,   NULL};
        if (run_logged(argv, logf) < 0)
            return cb_error_set(err, CB_ERR_IO,
                                "the reference CA could not issue the agency head's certificate; "
                                "see %s",
                                logf);
    }
    if (slurp(key, PEM_MAX, &d->head_key, &d->head_key_len, err) < 0 ||
        slurp(cert, PEM_MAX, &d->head_cert, &d->head_cert_len, err) < 0 ||
        slurp(crl, CB_APPROVAL_SIGNATURE_MAX, &crl_der, &crl_len, err) < 0)
        goto out;
    p = (const unsigned char *)crl_der;
    bio = BIO_new_mem_buf(d->head_cert, (int)d->head_cert_len);
    if (!bio || !(c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) ||
        !(x = d2i_X509_CRL(NULL, &p, (long)crl_len)) ||
        !(bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL)) || !(hex = BN_bn2hex(bn))) {
        cb_error_set(err, CB_ERR_INTERNAL, "the reference CA's certificate or CRL does not parse");
        goto out;
    }
    format_asn1_time(X509_CRL_get0_nextUpdate(x), next, sizeof(next));
    fprintf(
        out,
        "  agency head: %s, %s: signing certificate %s from the reference CA;\n"
        "    approvals are verified against the CA's root and its CRL, made now (next "
        "update %s)\n",
        HEAD_NAME, HEAD_TITLE,
        cb_table_elide(hex, SERIAL_COLUMNS, CB_TABLE_ELIDE_START, serial_buf, sizeof(serial_buf)),
        next);
    rc = 0;
out:
    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(c);
    X509_CRL_free(x);
    BIO_free(bio);
    free(crl_der);
    return rc;
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
    static const char *const keep[] = {"policy.issue_new",
                                       "policy.position_change",
                                       "policy.cascade_personal",
                                       "policy.approval",
                                       "log.level",
                                       NULL};
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
    /* approvals signed by the demo's agency head: the trust anchor and the
     * CRL of the reference CA that issued her certificate */
    SET("input.approval_topic", APPROVAL_TOPIC);
    SET("policy.approval_signature", d->gate ? "required" : "off");
    snprintf(path, sizeof(path), "%s/trust-anchors.pem", d->dir);
    SET("policy.approval_trust_anchors", d->gate ? path : "");
    snprintf(path, sizeof(path), "%s/ca.crl", d->dir);
    SET("policy.approval_crl_file", d->gate ? path : "");
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
    bool gate;             /* the gate's record "<event_id>/approval/<i>" (gate.h) */
} row_t;

/* Outcomes in the sample's event order, then by action index, the action's
 * own records before the gate's, then as read. */
static int cmp_row(const void *a, const void *b)
{
    const row_t *x = a, *y = b;

    if (x->event != y->event)
        return x->event < y->event ? -1 : 1;
    if (x->o.action_index != y->o.action_index)
        return x->o.action_index - y->o.action_index;
    if (x->gate != y->gate)
        return x->gate ? 1 : -1;
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
                (*rows)[*n].gate = (*rows)[*n].o.outcome_id &&
                                   strstr((*rows)[*n].o.outcome_id, "/approval/") != NULL;
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

/* The columns of the outcome table: an event's id and type on its first row
 * only, and a last column without a title for the leader's note. */
static const cb_table_column_t demo_columns[] = {
    {.title = "EVENT", .grouped = true},
    {.title = "TYPE", .grouped = true},
    {.title = "ACTION"},
    {.title = "HOLDER"},
    {.title = "CERTIFICATE"},
    {.title = "STATUS"},
    {.title = "APPROVED BY DOCUMENT"},
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
    size_t i, k, counts[CB_STATUS_COUNT] = {0}, tokens = 0, followed = 0, still = 0, shown = 0;
    size_t prev_event = SIZE_MAX;
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
                               o->document_number ? o->document_number : "",
                               o->emergency_signing_allowed ? "(leader may keep signing)" : ""};
        if (rows[i].gate)
            continue; /* the approval itself: its document is on the action's row */
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
                             prev_event == rows[i].event ? CB_TABLE_CONTINUATION : CB_TABLE_ROW,
                             err) < 0)
            goto out;
        prev_event = rows[i].event;
        shown++;
        counts[o->status]++;
        if (o->action == CB_ACTION_RECALL_DEVICE && o->status == CB_STATUS_SUCCEEDED)
            tokens++;
    }
    if (cb_table_write(t, out, err) < 0)
        goto out;
    fprintf(out, "\n%zu events, %zu outcomes:", d->n_events, shown);
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
        if (!rows[i].gate && rows[i].o.action == CB_ACTION_RECALL_DEVICE &&
            rows[i].o.status == CB_STATUS_SUCCEEDED)
            fprintf(out, "  %s  %s\n", rows[i].o.device_id ? rows[i].o.device_id : "-",
                    rows[i].o.holder_name ? rows[i].o.holder_name
                    : rows[i].o.holder_id ? rows[i].o.holder_id
                                          : "-");
    rc = 0;
out:
    cb_table_destroy(t);
    return rc;
}

/* What awaits approval: the gate's records whose latest state is
 * AWAITING_APPROVAL, not final (gate.h). */
static bool awaiting(const row_t *r)
{
    return r->gate && r->o.status == CB_STATUS_AWAITING_APPROVAL && !r->o.final;
}

/* A string or "" for sorting and printing. */
static const char *nz(const char *s)
{
    return s ? s : "";
}

/* Awaiting actions by managing agency, then request, then sample order. */
static int cmp_awaiting(const void *a, const void *b)
{
    const row_t *x = *(const row_t *const *)a, *y = *(const row_t *const *)b;
    int c = strcmp(nz(x->o.managing_agency_code), nz(y->o.managing_agency_code));

    if (!c)
        c = strcmp(nz(x->o.approval_request_id), nz(y->o.approval_request_id));
    if (!c)
        c = cmp_row(x, y);
    return c;
}

static const cb_table_column_t awaiting_columns[] = {
    {.title = "MANAGING AGENCY", .grouped = true},
    {.title = "APPROVAL REQUEST", .grouped = true},
    {.title = "EVENT"},
    {.title = "ACTION"},
    {.title = "HOLDER"},
};

/* Prints what awaits approval, grouped by managing agency and request, and
 * returns the request ids (*ids: malloc'd array of strings borrowed from
 * rows, in the order printed). */
static int print_awaiting(row_t *rows, size_t n, FILE *out, const char ***ids, size_t *n_ids,
                          cb_error_t *err)
{
    const row_t **sel = calloc(n ? n : 1, sizeof(*sel));
    cb_table_t *t =
        cb_table_new(awaiting_columns, sizeof(awaiting_columns) / sizeof(awaiting_columns[0]), err);
    size_t i, m = 0, agencies = 0;
    char agency[512];
    int rc = -1;

    *ids = NULL;
    *n_ids = 0;
    if (!sel || !t || !(*ids = calloc(n ? n : 1, sizeof(**ids)))) {
        if (t)
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++)
        if (awaiting(&rows[i]) && rows[i].o.approval_request_id)
            sel[m++] = &rows[i];
    qsort(sel, m, sizeof(*sel), cmp_awaiting);
    for (i = 0; i < m; i++) {
        const cb_outcome_t *o = &sel[i]->o;
        bool same = i && !strcmp(o->approval_request_id, sel[i - 1]->o.approval_request_id);
        const char *cells[] = {agency, o->approval_request_id, o->source_event_id,
                               cb_action_name(o->action),
                               o->holder_name ? o->holder_name : nz(o->holder_id)};
        cb_table_cellf(agency, sizeof(agency), "%s (%s)", nz(o->managing_agency_name),
                       nz(o->managing_agency_code));
        if (!same) {
            (*ids)[(*n_ids)++] = o->approval_request_id;
            if (!i || strcmp(nz(o->managing_agency_code), nz(sel[i - 1]->o.managing_agency_code)))
                agencies++;
        }
        if (cb_table_add_row(t, cells, same ? CB_TABLE_CONTINUATION : CB_TABLE_ROW, err) < 0)
            goto out;
    }
    fprintf(out,
            "  %zu actions await approval, in %zu approval requests of %zu managing agencies:\n\n",
            m, *n_ids, agencies);
    if (cb_table_write(t, out, err) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0) {
        free(*ids);
        *ids = NULL;
        *n_ids = 0;
    }
    free(sel);
    cb_table_destroy(t);
    return rc;
}

/* The page of the approvals the head signed (DIR/signed.html, next to the
 * request letters): opened before the first, one row each, closed after
 * the last. Written through "signed.html.tmp", renamed when complete. */
static FILE *signed_page_open(const char *dir, char *tmp, size_t size, cb_error_t *err)
{
    FILE *f;

    snprintf(tmp, size, "%s/signed.html.tmp", dir);
    if (!(f = fopen(tmp, "w"))) {
        cb_error_set(err, CB_ERR_IO, "%s: %s", tmp, strerror(errno));
        return NULL;
    }
    cb_html_begin(f, "certbridge demo: phê duyệt đã ký / signed approvals",
                  "Phê duyệt đề nghị thu hồi chứng thư số đã ký số",
                  "Approvals signed by the head of agency (certbridge demo)", NULL);
    fputs("<p class=\"src\">Người ký <span class=\"cap\">signer</span>: <b class=\"approver\">", f);
    cb_html_put(f, HEAD_NAME);
    fputs("</b>, ", f);
    cb_html_put(f, HEAD_TITLE);
    fputs(" · chữ ký số CMS tách rời <span class=\"cap\">detached CMS signature</span> · topic "
          "<code>" APPROVAL_TOPIC "</code></p>\n</header>\n<table>\n<thead><tr><th>Số đề nghị "
          "<small>request id</small></th><th>Quyết định <small>decision</small></th><th>Người "
          "phê duyệt <small>approver</small></th><th>Văn bản <small>document</small></th>"
          "</tr></thead>\n<tbody>\n",
          f);
    return f;
}

static void signed_page_row(FILE *f, const cb_approval_t *a, const char *doc)
{
    fputs("<tr><td class=\"request-id\">", f);
    cb_html_put(f, a->request_id);
    fputs("</td><td>", f);
    cb_html_put(f, cb_approval_decision_name(a->decision));
    fputs("</td><td>", f);
    cb_html_put(f, a->approver_name);
    fputs(", ", f);
    cb_html_put(f, a->approver_title);
    fputs("</td><td>", f);
    cb_html_put(f, doc);
    fputs("</td></tr>\n", f);
}

static int signed_page_close(FILE *f, const char *tmp, const char *dir, cb_error_t *err)
{
    char path[PATH_MAX];
    int bad;

    fputs("</tbody>\n</table>\n", f);
    cb_html_end(f, "certbridge demo");
    bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return cb_error_set(err, CB_ERR_IO, "%s: cannot write", tmp);
    snprintf(path, sizeof(path), "%s/signed.html", dir);
    if (rename(tmp, path) != 0)
        return cb_error_set(err, CB_ERR_IO, "%s: %s", path, strerror(errno));
    return 0;
}

/* The head signs one approval per request (APPROVED, every action of it,
 * document number DOCUMENT_FIRST + k, today's date in Vietnam): a detached
 * CMS signature over the canonical bytes (approval.h, approval_verify.h),
 * published in JSON to the approval topic, keyed by request id. */
static int publish_approvals(demo_t *d, const char *bootstrap, const char *const *ids, size_t n,
                             const char *html_dir, FILE *out, cb_error_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char tmp[PATH_MAX];
    FILE *page = NULL;
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    char errstr[256], number[64], doc[CB_APPROVAL_DOCUMENT_TEXT_MAX];
    rd_kafka_t *p;
    size_t i;
    int rc = -1;

    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set_log_cb(conf, NULL);
    p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p)
        return cb_error_set(err, CB_ERR_KAFKA, "producer: %s", errstr);
    if (html_dir && !(page = signed_page_open(html_dir, tmp, sizeof(tmp), err)))
        goto out;
    for (i = 0; i < n; i++) {
        cb_approval_t a;
        char *json = NULL;
        size_t len;
        int ok;

        cb_approval_init(&a);
        snprintf(number, sizeof(number), "%zu/UBND-NC", DOCUMENT_FIRST + i);
        a.decision = CB_APPROVAL_APPROVED;
        /* the day in Vietnam (UTC+7) */
        a.document_date = (int32_t)((now_ms / 1000 + 7 * 3600) / 86400);
        a.signed_at_ms = now_ms;
        ok = (a.request_id = strdup(ids[i])) && (a.approver_name = strdup(HEAD_NAME)) &&
             (a.approver_title = strdup(HEAD_TITLE)) && (a.document_number = strdup(number));
        if (!ok)
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        else
            ok = cb_approval_sign(&a, d->head_key, d->head_key_len, d->head_cert, d->head_cert_len,
                                  err) == 0 &&
                 cb_approval_encode_json(&a, &json, &len, err) == 0;
        if (ok && rd_kafka_producev(
                      p, RD_KAFKA_V_TOPIC(APPROVAL_TOPIC), RD_KAFKA_V_KEY(ids[i], strlen(ids[i])),
                      RD_KAFKA_V_VALUE(json, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            cb_error_set(err, CB_ERR_KAFKA, "cannot publish the approval of %s", ids[i]);
            ok = 0;
        }
        if (ok) {
            cb_approval_document_text(&a, doc, sizeof(doc));
            fprintf(out, "    %s  APPROVED  %s  (signature: %zu bytes of CMS)\n", ids[i], doc,
                    a.signature_len);
            if (page)
                signed_page_row(page, &a, doc);
        }
        free(json);
        cb_approval_clear(&a);
        if (!ok)
            goto out;
    }
    if (rd_kafka_flush(p, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cb_error_set(err, CB_ERR_KAFKA, "the approvals were not delivered");
        goto out;
    }
    if (page) {
        rc = signed_page_close(page, tmp, html_dir, err);
        page = NULL;
        if (rc < 0)
            goto out;
        fprintf(out, "  the signed approvals as a page: %s/signed.html\n", html_dir);
    }
    rc = 0;
out:
    if (page) {
        fclose(page);
        unlink(tmp);
    }
    rd_kafka_destroy(p);
    return rc;
}

/* The request letters an HR officer prints (`certbridge approvals --format
 * html`, approvals.h): an index and one page per managing agency, written
 * into dir (made when missing) from the outcomes read at step 1. The
 * holders' certificates are not asked of the CA (the letters say so). */
static int write_approvals_html(const row_t *rows, size_t n, const char *dir, FILE *out,
                                cb_error_t *err)
{
    cb_approvals_source_t src = {.topic = OUTCOME_TOPIC,
                                 .partitions = 1,
                                 .generated_at_ms = (int64_t)time(NULL) * 1000,
                                 .place = "Đồng Nai",
                                 .certificates_from_ca = false};
    cb_approvals_t *a = cb_approvals_new();
    size_t i, agencies = 0;
    int rc = -1;

    if (!a)
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    /* rows hold the latest outcome of each action, which is all the set
     * keeps of an action */
    for (i = 0; i < n; i++)
        if (cb_approvals_add(a, &rows[i].o, err) < 0)
            goto out;
    if (cb_approvals_finish(a, err) < 0)
        goto out;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        cb_error_set(err, CB_ERR_IO, "%s: %s", dir, strerror(errno));
        goto out;
    }
    if (cb_approvals_save_html(a, &src, dir, err) < 0)
        goto out;
    cb_approvals_agencies(a, &agencies);
    fprintf(out,
            "\n  the approval request letters: %s/index.html and a page for each of the %zu "
            "agencies\n",
            dir, agencies);
    rc = 0;
out:
    cb_approvals_destroy(a);
    return rc;
}

/* How many actions of the sample need an approval under cfg's policy
 * (gate.h): the gate records the first part of the run publishes
 * AWAITING_APPROVAL, one per such intent of each event. */
static int expected_awaiting(const demo_t *d, const cb_config_t *cfg, size_t *count,
                             cb_error_t *err)
{
    cb_policy_t policy;
    cb_gate_mode_t mode;
    size_t i;

    *count = 0;
    if (cb_policy_from_config(cfg, &policy, err) < 0 ||
        cb_gate_mode_from_config(cfg, &mode, err) < 0)
        return -1;
    for (i = 0; i < d->n_events; i++) {
        cb_intent_list_t list = {NULL, 0};
        if (cb_rules_plan(&d->events[i], &policy, &list, err) < 0)
            return cb_error_prefix(err, "demo sample event %s", d->events[i].event_id);
        *count += cb_gate_count(mode, &list);
        cb_intent_list_clear(&list);
    }
    return 0;
}

/* The pipeline's own thread: `certbridge run` until the input is drained
 * (nothing queued, nothing open), while the demo's thread reads the
 * outcomes and publishes the approvals. One run only: librdkafka's mock
 * cluster ignores transactional offset commits, so a second run would read
 * the input again. */
typedef struct runner {
    cb_pipeline_t *p;
    cb_error_t err;
    int rc;
    atomic_int done; /* set (after rc and err) when the run returned */
} runner_t;

static void *run_thread(void *arg)
{
    runner_t *r = arg;

    r->rc = cb_pipeline_run(r->p, &demo_stop, 1500, &r->err);
    atomic_store(&r->done, 1);
    return NULL;
}

/* Reads the outcome topic until every action that needs approval is
 * published AWAITING_APPROVAL (expected of them), and returns the outcomes
 * then (read_outcomes). Fails when the pipeline stopped first. */
static int wait_awaiting(demo_t *d, const char *bootstrap, runner_t *r, size_t expected,
                         row_t **rows, size_t *n, cb_error_t *err)
{
    for (;;) {
        size_t i, seen = 0;

        if (read_outcomes(d, bootstrap, rows, n, err) < 0)
            return -1;
        for (i = 0; i < *n; i++)
            seen += awaiting(&(*rows)[i]);
        if (seen >= expected)
            return 0;
        for (i = 0; i < *n; i++)
            cb_outcome_clear(&(*rows)[i].o);
        free(*rows);
        *rows = NULL;
        *n = 0;
        if (demo_timeout)
            return cb_error_set(err, CB_ERR_IO,
                                "fewer than %zu actions awaited approval after %d s", expected,
                                APPROVAL_WAIT_S);
        if (atomic_load(&r->done) || demo_stop)
            return r->rc < 0 ? (*err = r->err, -1)
                             : cb_error_set(err, CB_ERR_IO,
                                            "the pipeline stopped before %zu actions awaited "
                                            "approval",
                                            expected);
        usleep(200 * 1000);
    }
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
    free(d->head_key);
    free(d->head_cert);
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

int cb_demo_run(const cb_config_t *user, const char *refca_path, bool async,
                const char *approvals_html, FILE *out, cb_error_t *err)
{
    demo_t d;
    char bin[PATH_MAX], errstr[256], bootstrap[256];
    cb_config_t *cfg = NULL;
    row_t *rows = NULL;
    const char **ids = NULL;
    size_t n = 0, n_ids = 0, expected = 0, i;
    struct sigaction sa;
    runner_t r;
    pthread_t thread;
    bool started = false;
    cb_pipeline_stats_t st;
    int rc = -1;

    memset(&r, 0, sizeof(r));
    memset(&d, 0, sizeof(d));
    d.async = async;
    d.gate = strcmp(cb_config_get(user, "policy.approval"), "none") != 0;
    demo_stop = demo_timeout = 0;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
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
    if (d.gate && make_approver(&d, bin, out, err) < 0)
        goto out;
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
    rd_kafka_mock_topic_create(d.mock, APPROVAL_TOPIC, 1, 1);
    /* the mock has no CreateTopics: the state topic is made here, with the
     * input topics' partitions (config default output.state_topic) */
    rd_kafka_mock_topic_create(d.mock, "certbridge.state", 2, 1);
    fprintf(out, "  in-process Kafka (librdkafka mock cluster) at %s\n", bootstrap);
    if (produce_sample(&d, bootstrap, err) < 0 || demo_config(user, &d, bootstrap, &cfg, err) < 0 ||
        (d.gate && expected_awaiting(&d, cfg, &expected, err) < 0))
        goto out;
    if (!(r.p = cb_pipeline_new(cfg, err)))
        goto out;
    if (d.gate)
        fprintf(out,
                "\nStep 1. The pipeline reads the sample. Revocation cannot be undone, so "
                "(policy.approval=%s)\n"
                "  an event that revokes waits, whole, for its managing agency's signed "
                "approval...\n\n",
                cb_config_get(cfg, "policy.approval"));
    else
        fprintf(out, "  running the pipeline until the input is drained%s...\n\n",
                async ? " and every CA request is final" : "");
    fflush(out);
    /* the approved actions must have run by then: a refused approval would
     * leave its actions waiting for good */
    alarm(APPROVAL_WAIT_S);
    if (pthread_create(&thread, NULL, run_thread, &r) != 0) {
        cb_error_set(err, CB_ERR_INTERNAL, "cannot start the pipeline's thread");
        goto out;
    }
    started = true;
    if (d.gate) {
        if (wait_awaiting(&d, bootstrap, &r, expected, &rows, &n, err) < 0 ||
            print_awaiting(rows, n, out, &ids, &n_ids, err) < 0 ||
            (approvals_html && write_approvals_html(rows, n, approvals_html, out, err) < 0))
            goto out;
        fprintf(out,
                "\nStep 2. %s, %s, signs one approval per request with her\n"
                "  certificate (CMS detached signature over the approval's canonical bytes); "
                "published to %s:\n",
                HEAD_NAME, HEAD_TITLE, APPROVAL_TOPIC);
        if (publish_approvals(&d, bootstrap, ids, n_ids, approvals_html, out, err) < 0)
            goto out;
        fprintf(out,
                "\nStep 3. The pipeline checks each approval (signature, certificate chained to "
                "the CA's root,\n"
                "  not on its CRL, signer = the approver named) and runs the approved "
                "actions%s...\n\n",
                async ? " until every CA request is final" : "");
        fflush(out);
        for (i = 0; i < n; i++)
            cb_outcome_clear(&rows[i].o);
        free(rows);
        rows = NULL;
        n = 0;
    }
    pthread_join(thread, NULL);
    started = false;
    alarm(0);
    if (r.rc < 0) {
        *err = r.err;
        goto out;
    }
    if (demo_timeout) {
        cb_error_set(err, CB_ERR_IO,
                     "the approved actions did not all run within %d s (an approval refused? "
                     "run with -c FILE setting log.level=info)",
                     APPROVAL_WAIT_S);
        goto out;
    }
    if (demo_stop) {
        cb_error_set(err, CB_ERR_IO, "interrupted");
        goto out;
    }
    cb_pipeline_stats(r.p, &st);
    if (read_outcomes(&d, bootstrap, &rows, &n, err) < 0)
        goto out;
    if (print_table(&d, rows, n, out, err) < 0)
        goto out;
    fprintf(out, "\nKafka transactions committed: %llu; dead letters: %llu; everything stopped.\n",
            (unsigned long long)st.batches_committed, (unsigned long long)st.dead_letters);
    rc = 0;
out:
    if (started) { /* a failure on this thread: stop the pipeline first */
        demo_stop = 1;
        pthread_join(thread, NULL);
    }
    alarm(0);
    cb_pipeline_destroy(r.p);
    for (i = 0; i < n; i++)
        cb_outcome_clear(&rows[i].o);
    free(rows);
    free(ids);
    cb_config_destroy(cfg);
    cleanup(&d);
    return rc;
}
