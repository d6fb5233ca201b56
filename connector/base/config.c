/*
 * config.c: the property table and the key=value store behind config.h.
 */
#include "certbridge/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The table. Keep it sorted by section; README's reference is generated from
 * it (certbridge config --markdown). */
static const cb_config_prop_t props[] = {
    /* input */
    {"input.org_topic", CB_CONFIG_STRING, "hr.org-events", 0, 0, NULL,
     "Topic of organization events (OrgEvent)."},
    {"input.person_topic", CB_CONFIG_STRING, "hr.person-events", 0, 0, NULL,
     "Topic of person events (PersonEvent)."},
    {"input.org_format", CB_CONFIG_ENUM, "auto", 0, 0, "auto|confluent|avro|json",
     "Wire format of the org topic. auto tells them apart by the first byte: 0 is Confluent "
     "framing, '{' is JSON, anything else plain Avro with certbridge's schema."},
    {"input.person_format", CB_CONFIG_ENUM, "auto", 0, 0, "auto|confluent|avro|json",
     "Wire format of the person topic (as input.org_format)."},
    {"input.approval_topic", CB_CONFIG_STRING, "certbridge.approvals", 0, 0, NULL,
     "Topic of the managing agencies' signed approvals (schemas/Approval.avsc, "
     "schemas/approval.schema.json; JSON or plain Avro, key = request_id), read in the same "
     "consumer group as the event topics when policy.approval is not none."},
    /* output */
    {"output.outcome_topic", CB_CONFIG_STRING, "pki.certificate-outcomes", 0, 0, NULL,
     "Topic of outcome events, one per certificate action."},
    {"output.dlq_topic", CB_CONFIG_STRING, "certbridge.dlq", 0, 0, NULL,
     "Dead-letter topic for undecodable or invalid input."},
    {"output.state_topic", CB_CONFIG_STRING, "certbridge.state", 0, 0, NULL,
     "Compacted topic of certbridge's own state: CA requests answered PENDING and followed "
     "until final, events waiting behind them, lookups made durable before the calls that "
     "depend on them. Made at start when missing (cleanup.policy=compact, as many partitions "
     "as the larger input topic); refused when it exists not compacted or with fewer "
     "partitions."},
    {"output.registry_topic", CB_CONFIG_STRING, "", 0, 0, NULL,
     "Compacted topic of the organization registry that run maintains from the org events it "
     "reads, key = organization code, value = the organization as the event leaves it (JSONL "
     "line of the registry export format; DISSOLVED and MERGED with its successor kept), "
     "written in the batch's transaction; certbridge reconcile --registry-topic reads it. Made "
     "at start when missing (compacted, 1 partition); empty: not maintained."},
    {"output.state_replication_factor", CB_CONFIG_INT, "-1", -1, 32, NULL,
     "Replicas of the state topic when certbridge makes it; -1 = the broker's "
     "default.replication.factor."},
    /* Schema Registry */
    {"schema_registry.url", CB_CONFIG_STRING, "", 0, 0, NULL,
     "Confluent-compatible Schema Registry (http:// or https://); empty = none. Needed to read "
     "Confluent-framed events (writer schemas are fetched by id and cached) and to write "
     "outcomes Confluent-framed (the schema is registered under <topic>-value); without it "
     "outcomes are plain Avro, input.*_format=confluent is refused at start, and a framed value "
     "on an auto topic is a dead letter."},
    {"schema_registry.timeout_ms", CB_CONFIG_INT, "5000", 1, 600000, NULL,
     "Timeout of one Schema Registry request; an unreachable registry holds the batch until it "
     "answers, never a dead letter."},
    {"schema_registry.basic_auth_user", CB_CONFIG_STRING, "", 0, 0, NULL,
     "User for HTTP basic authentication to the Schema Registry; empty = none."},
    {"schema_registry.basic_auth_password_file", CB_CONFIG_STRING, "", 0, 0, NULL,
     "File whose first line is the basic-authentication password (the password itself is "
     "never a configuration value)."},
    {"schema_registry.tls.cert", CB_CONFIG_STRING, NULL, 0, 0, NULL,
     "PEM file with certbridge's client certificate for an https:// Schema Registry that asks "
     "for one."},
    {"schema_registry.tls.key", CB_CONFIG_STRING, NULL, 0, 0, NULL,
     "PEM file with the private key of schema_registry.tls.cert (not encrypted; never logged)."},
    {"schema_registry.tls.ca_bundle", CB_CONFIG_STRING, NULL, 0, 0, NULL,
     "PEM file with the CA certificates trusted for an https:// Schema Registry (pinned: the "
     "system store is not used when set)."},
    {"schema_registry.subject_name_strategy", CB_CONFIG_ENUM, "TopicNameStrategy", 0, 0,
     "TopicNameStrategy|RecordNameStrategy|TopicRecordNameStrategy",
     "Subject the outcome schema is registered under, as Confluent's serializers name it: "
     "<topic>-value, the record's full name (vn.gov.certbridge.CertificateActionOutcome), or "
     "<topic>-<full name>."},
    {"schema_registry.compatibility", CB_CONFIG_ENUM, "BACKWARD", 0, 0,
     "BACKWARD|BACKWARD_TRANSITIVE|FORWARD|FORWARD_TRANSITIVE|FULL|FULL_TRANSITIVE|NONE|keep",
     "Compatibility level certbridge gives the outcome subject at start when the subject has "
     "none of its own (a registry reporting the global level for it counts as none); keep = "
     "never set one. A registry refusing the outcome schema as incompatible stops certbridge "
     "at start with exit code 2, naming the subject and the registry's reason."},
    /* policy */
    {"policy.issue_new", CB_CONFIG_ENUM, "review", 0, 0, "review|allow",
     "JOINED: review plans a REVIEW (no CA call; new issuance is not performed during the "
     "reorganization); allow plans an ISSUE."},
    {"policy.position_change", CB_CONFIG_ENUM, "change_info", 0, 0, "change_info|revoke",
     "POSITION_CHANGED: change the certificate information, or revoke (affiliationChanged) "
     "and recall the token (Decree 68/2024 Art. 17 reading)."},
    {"policy.cascade_personal", CB_CONFIG_BOOL, "false", 0, 0, NULL,
     "An organization's CHANGE_INFO also changes the personal certificates whose subject "
     "names that organization."},
    {"policy.effective_date", CB_CONFIG_ENUM, "honour", 0, 0, "honour|ignore",
     "honour: an event whose effective_date (00:00 in policy.timezone) is still ahead is not "
     "executed when read: its actions are published as SCHEDULED outcomes with the time they "
     "run, the event is kept in the state topic, and it runs at that time (later events of "
     "its holders wait behind it). ignore: every event runs when read."},
    {"policy.timezone", CB_CONFIG_STRING, "Asia/Ho_Chi_Minh", 0, 0, NULL,
     "Zone of effective dates: Asia/Ho_Chi_Minh (UTC+07:00, no daylight saving time), UTC, or "
     "a fixed offset such as UTC+07:00."},
    {"policy.approval", CB_CONFIG_ENUM, "revoke", 0, 0, "none|revoke|all",
     "Which actions wait for the managing agency's signed approval (input.approval_topic) "
     "once their effective date has come: revoke (the default) gates every REVOKE, because a "
     "revocation cannot be undone while a wrong CHANGE_INFO can be corrected by another "
     "change; all gates every action that calls the CA; none gates nothing. A gated action "
     "is published as AWAITING_APPROVAL in a request per managing agency and day "
     "(<agency code>-<YYYYMMDD>); RETAIN and REVIEW never wait."},
    {"policy.approval_signature", CB_CONFIG_ENUM, "required", 0, 0, "required|off",
     "Approvals (input.approval_topic) must carry the approver's detached CMS signature over "
     "their canonical bytes, made with the approver's own certificate: checked against "
     "policy.approval_trust_anchors, valid at the time, not on the CA's CRL, its CN the "
     "approver named (README \"Approval signatures\"). off: signatures are not checked (tests "
     "and trials only: anyone who can write to the approval topic can then approve)."},
    {"policy.approval_trust_anchors", CB_CONFIG_STRING, "", 0, 0, NULL,
     "PEM file(s), comma-separated, with the CA certificates whose certificates may sign "
     "approvals (the root or the issuing CA; the reference CA's GET /v1/ca.pem). Required "
     "when policy.approval_signature=required."},
    {"policy.approval_crl_file", CB_CONFIG_STRING, "", 0, 0, NULL,
     "CRL file(s), comma-separated, PEM or DER, one current CRL per issuing CA (the CA's GET "
     "/v1/crl). An approval whose signer's issuer has no CRL here, or only one past its "
     "nextUpdate, is refused. Read again when a file changes (checked before each approval): "
     "replace it with a newer CRL, no restart. Required when "
     "policy.approval_signature=required."},
    /* CA client */
    {"ca.url", CB_CONFIG_STRING, "https://127.0.0.1:8443", 0, 0, NULL,
     "Base URL of the CA API v1 (schemas/ca-api.yaml), without the /v1 suffix."},
    {"ca.tls.cert", CB_CONFIG_STRING, NULL, 0, 0, NULL,
     "PEM file with certbridge's client certificate for mutual TLS."},
    {"ca.tls.key", CB_CONFIG_STRING, NULL, 0, 0, NULL,
     "PEM file with the private key of ca.tls.cert (never logged)."},
    {"ca.tls.key_passphrase_file", CB_CONFIG_STRING, "", 0, 0, NULL,
     "File whose first line is the passphrase of an encrypted ca.tls.key; empty = the key is "
     "not encrypted (the passphrase itself is never a configuration value)."},
    {"ca.tls.ca_bundle", CB_CONFIG_STRING, NULL, 0, 0, NULL,
     "PEM file with the CA certificates trusted for the CA server (pinned: the system store "
     "is not used when set)."},
    {"ca.concurrency", CB_CONFIG_INT, "8", 1, 1024, NULL,
     "Most CA calls in flight at once; more are queued and started as calls finish. With "
     "ca.concurrency_mode=adaptive, the ceiling of the limit the client finds."},
    {"ca.concurrency_mode", CB_CONFIG_ENUM, "adaptive", 0, 0, "adaptive|fixed",
     "adaptive: the calls in flight follow what the CA admits, within [1, ca.concurrency]: "
     "fewer on 429/503/504 answers and timeouts, and when answers slow down past their "
     "baseline; more while the CA keeps up (README \"Sizing for a CA's limits\"). fixed: "
     "always ca.concurrency."},
    {"ca.connect_timeout_ms", CB_CONFIG_INT, "5000", 1, 600000, NULL,
     "Time allowed to connect (TCP and TLS handshake) to the CA."},
    {"ca.timeout_ms", CB_CONFIG_INT, "30000", 1, 3600000, NULL,
     "Time allowed for one CA call attempt, from connect to the last byte of the answer."},
    {"ca.max_attempts", CB_CONFIG_INT, "5", 1, 100, NULL,
     "Attempts of one call on retriable failures (connect errors, timeouts, 408, 425, 429, "
     "5xx) before it is handed back as retry-later."},
    {"ca.retry_base_ms", CB_CONFIG_INT, "100", 1, 600000, NULL,
     "First backoff delay; doubled on every further attempt, with full jitter."},
    {"ca.retry_max_ms", CB_CONFIG_INT, "10000", 1, 3600000, NULL,
     "Longest backoff delay between two attempts (a longer Retry-After still wins, up to "
     "60 s)."},
    {"ca.poll_initial_ms", CB_CONFIG_INT, "2000", 10, 86400000, NULL,
     "A request the CA answered PENDING is first checked (GET /v1/requests/{id}) this long "
     "after; every further check waits twice as long, up to ca.poll_max_ms."},
    {"ca.poll_max_ms", CB_CONFIG_INT, "600000", 10, 86400000, NULL,
     "Longest wait between two checks of one PENDING request."},
    {"ca.poll_rate", CB_CONFIG_INT, "20", 1, 100000, NULL,
     "Most checks of PENDING requests per second, for the whole instance (a token bucket): "
     "thousands of open requests never turn into a burst against the CA."},
    {"ca.pending_deadline_hours", CB_CONFIG_INT, "72", 1, 87600, NULL,
     "Working hours (Monday to Friday, in ca.working_utc_offset_minutes) a PENDING request "
     "may stay open before it counts as overdue: a log line and the gauge "
     "certbridge_ca_requests_overdue. 72 = three working days."},
    {"ca.working_utc_offset_minutes", CB_CONFIG_INT, "420", -720, 840, NULL,
     "The CA's working time zone as minutes east of UTC (420 = UTC+7, Vietnam), for "
     "ca.pending_deadline_hours."},
    {"ca.insecure_http_url", CB_CONFIG_STRING, "", 0, 0, NULL,
     "Tests only: a plain http:// ca.url is refused unless this key names exactly the same "
     "URL (no TLS, no client certificate: never in production)."},
    /* Kafka secrets, from files (the other kafka.* keys are below) */
    {"kafka_secret.sasl_password_file", CB_CONFIG_STRING, "", 0, 0, NULL,
     "File whose first line is the SASL password: sets librdkafka's sasl.password (with "
     "kafka.security.protocol=SASL_SSL, kafka.sasl.mechanism, kafka.sasl.username). Setting "
     "kafka.sasl.password as well is refused."},
    {"kafka_secret.ssl_key_password_file", CB_CONFIG_STRING, "", 0, 0, NULL,
     "File whose first line is the passphrase of kafka.ssl.key.location: sets librdkafka's "
     "ssl.key.password."},
    /* pipeline */
    {"pipeline.transactional_id", CB_CONFIG_STRING, "certbridge-1", 0, 0, NULL,
     "Kafka transactional.id of this instance: stable across restarts, unique per instance "
     "(a second instance with the same id fences the first)."},
    {"pipeline.batch_max_events", CB_CONFIG_INT, "500", 1, 100000, NULL,
     "Most events in one batch (one Kafka transaction)."},
    {"pipeline.batch_max_ms", CB_CONFIG_INT, "500", 1, 600000, NULL,
     "Longest time a batch collects events after its first one, in milliseconds."},
    {"pipeline.queued_events_max", CB_CONFIG_INT, "10000", 1, 10000000, NULL,
     "Most events waiting behind open CA requests of their holder (an instance's total). At "
     "the bound, the input partitions that hold waiting events or open requests are paused "
     "until fewer wait; other partitions flow. A soft bound: the batches in flight when it is "
     "reached, and a batch of the partitions that still flow (a holder's next event behind the "
     "request its first opened), may queue more, up to about 3 x pipeline.batch_max_events."},
    {"pipeline.shutdown_timeout_ms", CB_CONFIG_INT, "15000", 0, 600000, NULL,
     "On SIGTERM/SIGINT, how long the open batch may still run before it is left "
     "uncommitted (it is replayed at the next start)."},
    /* metrics */
    {"metrics.listen", CB_CONFIG_STRING, "127.0.0.1:9464", 0, 0, NULL,
     "HOST:PORT of the Prometheus endpoint (/metrics) and readiness probe (/healthz); "
     "empty disables them; port 0 picks a free port."},
    {"metrics.ca_probe_interval_ms", CB_CONFIG_INT, "5000", 100, 3600000, NULL,
     "How often an idle instance checks that the CA answers (for /healthz)."},
    /* logging */
    {"log.level", CB_CONFIG_ENUM, "info", 0, 0, "debug|info|warn|error",
     "Lowest level of log lines written to standard error."},
};

#define PROP_COUNT (sizeof(props) / sizeof(props[0]))

typedef struct kv {
    char *key;
    char *value;
    struct kv *next;
} kv_t;

struct cb_config {
    char *values[PROP_COUNT]; /* NULL = unset; owned */
    kv_t *kafka;              /* kafka.* pass-through, in order set; owned */
    kv_t *kafka_tail;
};

const cb_config_prop_t *cb_config_props(size_t *count)
{
    if (count)
        *count = PROP_COUNT;
    return props;
}

static int prop_index(const char *key)
{
    size_t i;

    for (i = 0; i < PROP_COUNT; i++)
        if (strcmp(props[i].name, key) == 0)
            return (int)i;
    return -1;
}

cb_config_t *cb_config_new(void)
{
    cb_config_t *cfg = calloc(1, sizeof(*cfg));
    size_t i;

    if (!cfg)
        return NULL;
    for (i = 0; i < PROP_COUNT; i++) {
        if (props[i].def && !(cfg->values[i] = strdup(props[i].def))) {
            cb_config_destroy(cfg);
            return NULL;
        }
    }
    return cfg;
}

void cb_config_destroy(cb_config_t *cfg)
{
    size_t i;
    kv_t *kv, *next;

    if (!cfg)
        return;
    for (i = 0; i < PROP_COUNT; i++)
        free(cfg->values[i]);
    for (kv = cfg->kafka; kv; kv = next) {
        next = kv->next;
        free(kv->key);
        free(kv->value);
        free(kv);
    }
    free(cfg);
}

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "on"))
        *out = true;
    else if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "off"))
        *out = false;
    else
        return -1;
    return 0;
}

static bool enum_allows(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;

    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

static int check_value(const cb_config_prop_t *p, const char *v, cb_error_t *err)
{
    int64_t i;
    bool b;

    switch (p->type) {
    case CB_CONFIG_INT:
        if (parse_int(v, &i) < 0)
            return cb_error_set(err, CB_ERR_CONFIG, "%s: \"%.64s\" is not an integer", p->name, v);
        if (i < p->min || i > p->max)
            return cb_error_set(err, CB_ERR_CONFIG, "%s: %lld is out of range [%lld..%lld]",
                                p->name, (long long)i, (long long)p->min, (long long)p->max);
        return 0;
    case CB_CONFIG_BOOL:
        if (parse_bool(v, &b) < 0)
            return cb_error_set(err, CB_ERR_CONFIG, "%s: \"%.64s\" is not true or false", p->name,
                                v);
        return 0;
    case CB_CONFIG_ENUM:
        if (!enum_allows(p->choices, v))
            return cb_error_set(err, CB_ERR_CONFIG, "%s: \"%.64s\" is not one of %s", p->name, v,
                                p->choices);
        return 0;
    case CB_CONFIG_STRING:
    case CB_CONFIG_SECRET:
        return 0;
    }
    return 0;
}

static int kafka_set(cb_config_t *cfg, const char *key, const char *value, cb_error_t *err)
{
    kv_t *kv;
    char *nv;

    if (!key[6])
        return cb_error_set(err, CB_ERR_CONFIG, "%s: a kafka. key needs a librdkafka name", key);
    for (kv = cfg->kafka; kv; kv = kv->next) {
        if (strcmp(kv->key, key) == 0) {
            if (!(nv = strdup(value)))
                return cb_error_set(err, CB_ERR_NOMEM, "%s: out of memory", key);
            free(kv->value);
            kv->value = nv;
            return 0;
        }
    }
    kv = calloc(1, sizeof(*kv));
    if (!kv || !(kv->key = strdup(key)) || !(kv->value = strdup(value))) {
        if (kv) {
            free(kv->key);
            free(kv);
        }
        return cb_error_set(err, CB_ERR_NOMEM, "%s: out of memory", key);
    }
    if (cfg->kafka_tail)
        cfg->kafka_tail->next = kv;
    else
        cfg->kafka = kv;
    cfg->kafka_tail = kv;
    return 0;
}

int cb_config_set(cb_config_t *cfg, const char *key, const char *value, cb_error_t *err)
{
    int idx;
    char *nv;

    if (strlen(value) > CB_CONFIG_VALUE_MAX)
        return cb_error_set(err, CB_ERR_CONFIG, "%s: value longer than %d bytes", key,
                            CB_CONFIG_VALUE_MAX);
    if (strncmp(key, "kafka.", 6) == 0)
        return kafka_set(cfg, key, value, err);
    idx = prop_index(key);
    if (idx < 0)
        return cb_error_set(err, CB_ERR_CONFIG, "%s: unknown configuration key", key);
    if (check_value(&props[idx], value, err) < 0)
        return -1;
    if (!(nv = strdup(value)))
        return cb_error_set(err, CB_ERR_NOMEM, "%s: out of memory", key);
    free(cfg->values[idx]);
    cfg->values[idx] = nv;
    return 0;
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Applies one line of a configuration file (modified in place): comments
 * and blank lines are skipped; errors are prefixed with "name:lineno". */
static int config_line(cb_config_t *cfg, const char *name, int lineno, char *line, cb_error_t *err)
{
    char *eq, *key, *value;

    key = trim(line);
    if (!*key || *key == '#')
        return 0;
    eq = strchr(key, '=');
    if (!eq)
        return cb_error_set(err, CB_ERR_CONFIG, "%s:%d: expected key=value", name, lineno);
    *eq = '\0';
    value = trim(eq + 1);
    key = trim(key);
    if (cb_config_set(cfg, key, value, err) < 0)
        return cb_error_prefix(err, "%s:%d", name, lineno);
    return 0;
}

int cb_config_load_string(cb_config_t *cfg, const char *name, const char *text, size_t len,
                          cb_error_t *err)
{
    char line[CB_CONFIG_LINE_MAX + 1];
    size_t off = 0;
    int lineno = 0;

    while (off < len) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (text + off)) : len - off;

        lineno++;
        if (n > CB_CONFIG_LINE_MAX)
            return cb_error_set(err, CB_ERR_CONFIG, "%s:%d: line longer than %d bytes", name,
                                lineno, CB_CONFIG_LINE_MAX);
        if (memchr(text + off, '\0', n))
            return cb_error_set(err, CB_ERR_CONFIG, "%s:%d: NUL byte in the line", name, lineno);
        memcpy(line, text + off, n);
        line[n] = '\0';
        if (config_line(cfg, name, lineno, line, err) < 0)
            return -1;
        off += n + 1;
    }
    return 0;
}

int cb_config_load_file(cb_config_t *cfg, const char *path, cb_error_t *err)
{
    /* a configuration file is small: read it whole (capped), then parse */
    enum { FILE_MAX = 1024 * 1024 };
    char *text;
    size_t len;
    FILE *f;
    int rc;

    f = fopen(path, "r");
    if (!f)
        return cb_error_set(err, CB_ERR_CONFIG, "%s: cannot open: %s", path, strerror(errno));
    text = malloc(FILE_MAX + 1);
    if (!text) {
        fclose(f);
        return cb_error_set(err, CB_ERR_NOMEM, "%s: out of memory", path);
    }
    len = fread(text, 1, FILE_MAX + 1, f);
    if (ferror(f))
        rc = cb_error_set(err, CB_ERR_CONFIG, "%s: read error", path);
    else if (len > FILE_MAX)
        rc = cb_error_set(err, CB_ERR_CONFIG, "%s: larger than %d bytes", path, FILE_MAX);
    else
        rc = cb_config_load_string(cfg, path, text, len, err);
    fclose(f);
    free(text);
    return rc;
}

/* "policy.issue_new" -> "POLICY_ISSUE_NEW" into buf. */
static void env_name(const char *key, char *buf, size_t size)
{
    size_t i;

    for (i = 0; key[i] && i + 1 < size; i++) {
        char c = key[i];
        buf[i] = (c == '.' || c == '-') ? '_' : (char)toupper((unsigned char)c);
    }
    buf[i] = '\0';
}

int cb_config_apply_env(cb_config_t *cfg, char *const *envp, cb_error_t *err)
{
    static const char prefix[] = "CERTBRIDGE_";
    char name[256], key[256];
    size_t i;

    for (; envp && *envp; envp++) {
        const char *var = *envp, *eq;
        size_t nlen;
        int found = -1;

        if (strncmp(var, prefix, sizeof(prefix) - 1) != 0)
            continue;
        eq = strchr(var, '=');
        if (!eq)
            continue;
        nlen = (size_t)(eq - var) - (sizeof(prefix) - 1);
        if (nlen >= sizeof(name))
            return cb_error_set(err, CB_ERR_CONFIG, "%.64s: environment variable name too long",
                                var);
        memcpy(name, var + sizeof(prefix) - 1, nlen);
        name[nlen] = '\0';
        for (i = 0; i < PROP_COUNT && found < 0; i++) {
            env_name(props[i].name, key, sizeof(key));
            if (strcmp(key, name) == 0)
                found = (int)i;
        }
        if (found >= 0) {
            if (cb_config_set(cfg, props[found].name, eq + 1, err) < 0)
                return cb_error_prefix(err, "environment CERTBRIDGE_%s", name);
            continue;
        }
        if (strncmp(name, "KAFKA_", 6) == 0 && name[6]) {
            for (i = 0; name[i]; i++)
                key[i] = name[i] == '_' ? '.' : (char)tolower((unsigned char)name[i]);
            key[i] = '\0';
            if (cb_config_set(cfg, key, eq + 1, err) < 0)
                return cb_error_prefix(err, "environment CERTBRIDGE_%s", name);
            continue;
        }
        return cb_error_set(err, CB_ERR_CONFIG,
                            "CERTBRIDGE_%s: unknown configuration key in the environment", name);
    }
    return 0;
}

const char *cb_config_get(const cb_config_t *cfg, const char *key)
{
    int idx;
    kv_t *kv;

    if (strncmp(key, "kafka.", 6) == 0) {
        for (kv = cfg->kafka; kv; kv = kv->next)
            if (strcmp(kv->key, key) == 0)
                return kv->value;
        return NULL;
    }
    idx = prop_index(key);
    return idx < 0 ? NULL : cfg->values[idx];
}

int64_t cb_config_get_int(const cb_config_t *cfg, const char *key)
{
    const char *v = cb_config_get(cfg, key);
    int64_t i = 0;

    if (!v || parse_int(v, &i) < 0)
        return 0;
    return i;
}

bool cb_config_get_bool(const cb_config_t *cfg, const char *key)
{
    const char *v = cb_config_get(cfg, key);
    bool b = false;

    if (!v || parse_bool(v, &b) < 0)
        return false;
    return b;
}

int cb_config_foreach_kafka(const cb_config_t *cfg,
                            int (*fn)(const char *key, const char *value, void *opaque),
                            void *opaque)
{
    kv_t *kv;

    for (kv = cfg->kafka; kv; kv = kv->next)
        if (fn(kv->key + 6, kv->value, opaque) != 0)
            return -1;
    return 0;
}

static const char *type_name(const cb_config_prop_t *p)
{
    switch (p->type) {
    case CB_CONFIG_STRING:
        return "string";
    case CB_CONFIG_INT:
        return "integer";
    case CB_CONFIG_BOOL:
        return "boolean";
    case CB_CONFIG_ENUM:
        return p->choices;
    case CB_CONFIG_SECRET:
        return "secret";
    }
    return "?";
}

void cb_config_print(const cb_config_t *cfg, FILE *out)
{
    size_t i;
    kv_t *kv;

    for (i = 0; i < PROP_COUNT; i++) {
        const cb_config_prop_t *p = &props[i];
        const char *v = cfg->values[i];

        if (p->type == CB_CONFIG_SECRET && v)
            v = "(set, hidden)";
        fprintf(out, "%s=%s\n    %s; default %s", p->name, v ? v : "", type_name(p),
                p->def ? (*p->def ? p->def : "(empty)") : "(unset)");
        if (p->type == CB_CONFIG_INT)
            fprintf(out, "; range %lld..%lld", (long long)p->min, (long long)p->max);
        fprintf(out, "\n    %s\n", p->help);
    }
    for (kv = cfg->kafka; kv; kv = kv->next) {
        bool secret =
            strstr(kv->key, "password") || strstr(kv->key, "secret") || strstr(kv->key, "key.pem");
        fprintf(out, "%s=%s\n    passed to librdkafka\n", kv->key,
                secret ? "(set, hidden)" : kv->value);
    }
}

void cb_config_print_markdown(FILE *out)
{
    size_t i;

    fprintf(out, "| key | type | default | description |\n|---|---|---|---|\n");
    for (i = 0; i < PROP_COUNT; i++) {
        const cb_config_prop_t *p = &props[i];
        const char *t = type_name(p);

        fprintf(out, "| `%s` | ", p->name);
        if (p->type == CB_CONFIG_ENUM) {
            const char *c;
            for (c = t; *c; c++)
                fputs(*c == '|' ? " \\| " : (char[]){*c, 0}, out);
        } else {
            fputs(t, out);
        }
        if (p->type == CB_CONFIG_INT)
            fprintf(out, " (%lld..%lld)", (long long)p->min, (long long)p->max);
        fprintf(out, " | %s%s%s | %s |\n", p->def && *p->def ? "`" : "",
                p->def ? (*p->def ? p->def : "(empty)") : "(unset)", p->def && *p->def ? "`" : "",
                p->help);
    }
    fprintf(out, "| `kafka.*` | string | | Passed to librdkafka untouched, without the "
                 "`kafka.` prefix (see librdkafka's CONFIGURATION.md). |\n");
}

/* Writes help as '#' comment lines of at most 80 columns. */
static void print_comment(FILE *out, const char *text)
{
    const char *p = text;

    while (*p) {
        size_t len = strlen(p), cut = len;
        if (len > 77) {
            cut = 77;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = 77;
        }
        fprintf(out, "# %.*s\n", (int)cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

void cb_config_print_example(FILE *out)
{
    size_t i, sect_len = 0;
    const char *sect = NULL;

    fputs("# certbridge configuration (certbridge run -c FILE, also report and demo).\n"
          "# key=value lines; '#' starts a comment. Generated from the property table by\n"
          "# `certbridge config --example`: every key is shown commented out with its\n"
          "# default. CERTBRIDGE_<KEY> environment variables override this file (the key\n"
          "# upper-cased, dots as underscores). Secrets are never written here: name a\n"
          "# file readable by the service only (*_file keys).\n",
          out);
    for (i = 0; i < PROP_COUNT; i++) {
        const cb_config_prop_t *p = &props[i];
        const char *dot = strchr(p->name, '.');
        size_t len = dot ? (size_t)(dot - p->name) : strlen(p->name);

        if (!sect || len != sect_len || strncmp(sect, p->name, len) != 0) {
            fprintf(out, "\n# ---- %.*s ----\n", (int)len, p->name);
            sect = p->name;
            sect_len = len;
        }
        fputs("\n", out);
        print_comment(out, p->help);
        fprintf(out, "# (%s", type_name(p));
        if (p->type == CB_CONFIG_INT)
            fprintf(out, ", %lld..%lld", (long long)p->min, (long long)p->max);
        fprintf(out, "%s)\n#%s=%s\n", p->def ? "" : ", no default", p->name, p->def ? p->def : "");
    }
    fputs("\n# ---- kafka ----\n\n"
          "# kafka.* keys go to librdkafka untouched, without the \"kafka.\" prefix (see\n"
          "# librdkafka's CONFIGURATION.md). run and report need the brokers; run also a\n"
          "# group id. certbridge sets isolation.level, enable.auto.commit and\n"
          "# transactional.id itself.\n"
          "#kafka.bootstrap.servers=kafka-1.example:9092,kafka-2.example:9092\n"
          "#kafka.group.id=certbridge\n"
          "# static membership: a restarted instance takes its partitions back at once\n"
          "#kafka.group.instance.id=certbridge-1\n"
          "# TLS with a client certificate, and SASL (password in kafka_secret.*_file):\n"
          "#kafka.security.protocol=SASL_SSL\n"
          "#kafka.ssl.ca.location=/etc/certbridge/kafka-ca.pem\n"
          "#kafka.ssl.certificate.location=/etc/certbridge/kafka-client.pem\n"
          "#kafka.ssl.key.location=/etc/certbridge/kafka-client.key\n"
          "#kafka.sasl.mechanism=SCRAM-SHA-512\n"
          "#kafka.sasl.username=certbridge\n",
          out);
}
