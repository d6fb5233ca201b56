/*
 * codec.c: wire formats of events and outcomes (codec.h).
 *
 * Decoding: the bytes are read against the WRITER's schema by the bounded
 * reader of codec_avro.c (certbridge's own schema for plain Avro, the Schema
 * Registry's for Confluent framing), then every field certbridge knows is
 * taken BY NAME from the writer's record. A field the writer lacks gets the
 * default of certbridge's schema (the .avsc files in schemas/, embedded), read from the
 * schema text itself because Avro-C 1.11 drops "default" when it parses; a
 * field the writer adds is ignored. Strings are NFC-normalized, symbols
 * mapped by name, and cb_event_validate() runs last.
 *
 * Encoding (trusted data: our own structs) of events uses Avro-C's generic
 * values and avro_value_write with certbridge's schema, so what we write is
 * what the reference implementation writes; outcomes, one per action, are
 * written directly (see outcome_write) and tested byte for byte
 * against Avro-C.
 */
#include "certbridge/codec.h"
#include "certbridge/codec_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/codec_avro.h"
#include "certbridge/schema_registry.h"
#include "certbridge/schemas.h"
#include "certbridge/secret.h"
#include "certbridge/text.h"

#define CONFLUENT_HEADER   5           /* magic byte 0 + 4-byte big-endian schema id */
#define OUTCOME_STRING_MAX (64 * 1024) /* one string of an outcome (error messages) */

/* The outcome's enum symbols, in the order of the schema and of rules.h. */
static const char *const action_symbols[CB_ACTION_COUNT] = {"CHANGE_INFO",   "REVOKE", "RETAIN",
                                                            "RECALL_DEVICE", "ISSUE",  "REVIEW"};
static const char *const holder_symbols[CB_HOLDER_TYPE_COUNT] = {"ORGANIZATION", "PERSON"};
static const char *const reason_symbols[] = {"affiliationChanged", "superseded",
                                             "cessationOfOperation"};
static const cb_revocation_reason_t reason_values[] = {
    CB_REASON_AFFILIATION_CHANGED, CB_REASON_SUPERSEDED, CB_REASON_CESSATION_OF_OPERATION};

/* One of certbridge's own schemas: parsed by Avro-C (to write), as JSON (to
 * read defaults), and its id once registered. */
typedef struct own_schema {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    json_t *json;
    json_t *r_org, *r_person; /* its Org and Person records (NULL if none) */
    uint32_t id;
    bool registered;
} own_schema_t;

/* How a schema's subject is named: Confluent's serializers' strategies. */
typedef enum subject_strategy {
    STRATEGY_TOPIC = 0,   /* TopicNameStrategy: "<topic>-value" */
    STRATEGY_RECORD,      /* RecordNameStrategy: "<record full name>" */
    STRATEGY_TOPIC_RECORD /* TopicRecordNameStrategy: "<topic>-<record full name>" */
} subject_strategy_t;

static const char *const strategy_names[] = {"TopicNameStrategy", "RecordNameStrategy",
                                             "TopicRecordNameStrategy"};

struct cb_codec {
    cb_registry_t *reg;
    bool has_registry;
    own_schema_t own[CB_SCHEMA_COUNT];
    avro_schema_t outcome_v1;     /* plain Avro outcomes of releases before `final` */
    avro_schema_t outcome_v2;     /* ... before the approval gate's fields */
    char *topic[CB_SCHEMA_COUNT]; /* the subject follows from it and the strategy */
    subject_strategy_t strategy;
    char compatibility[32]; /* level set on a subject without one; "" = leave them alone */
};

/* The format named by an input.*_format value. */
int cb_format_parse(const char *s)
{
    static const char *const names[] = {"auto", "confluent", "avro", "json"};
    int i;

    for (i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* The registry client the codec owns (tests and fuzz targets preload it). */
struct cb_registry *cb_codec_registry(cb_codec_t *codec)
{
    return codec->reg;
}

static json_t *find_record(json_t *node, const char *name);
static int check_outcome_schema(avro_schema_t rec, cb_error_t *err);

/* A configuration string, or def when cfg is NULL or the key unset. */
static const char *cfg_get(const cb_config_t *cfg, const char *key, const char *def)
{
    const char *v = cfg ? cb_config_get(cfg, key) : NULL;
    return v ? v : def;
}

/* The fields added to the outcome since each earlier layout, at the end,
 * each with a default: v1 had no `final`, v2 none of the approval gate's. */
static const char *const outcome_added_since_v1[] = {"final",
                                                     "approval_request_id",
                                                     "managing_agency_code",
                                                     "managing_agency_name",
                                                     "document_number",
                                                     "approver",
                                                     NULL};
static const char *const outcome_added_since_v2[] = {"approval_request_id",
                                                     "managing_agency_code",
                                                     "managing_agency_name",
                                                     "document_number",
                                                     "approver",
                                                     NULL};

/* Plain Avro carries no schema id, so an outcome written by an earlier
 * release has to be read with the layout it was written in: the fields
 * added since (added_since, NULL-terminated) are left out of the current
 * schema. Enum symbols added since (OutcomeStatus's SCHEDULED, CANCELLED and
 * AWAITING_APPROVAL) are appended last: an earlier outcome's enum indices
 * mean the same symbols in the current layout, so they need no older layout.
 * Returns the older layout, or NULL with err. */
static avro_schema_t outcome_schema_older(const json_t *current, const char *const *added_since,
                                          cb_error_t *err)
{
    json_t *copy = json_deep_copy(current), *fields;
    avro_schema_t s = NULL;
    char *text = NULL;
    size_t i, k;

    fields = copy ? json_object_get(copy, "fields") : NULL;
    for (k = 0; fields && added_since[k]; k++)
        for (i = json_array_size(fields); i-- > 0;)
            if (!strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")) ?: "",
                        added_since[k]))
                json_array_remove(fields, i);
    if (!fields || !(text = json_dumps(copy, JSON_COMPACT)) ||
        avro_schema_from_json_length(text, strlen(text), &s) != 0) {
        cb_error_set(err, CB_ERR_INTERNAL, "codec: the earlier outcome layout does not load: %s",
                     avro_strerror());
        s = NULL;
    }
    free(text);
    json_decref(copy);
    return s;
}

/* The subject strategy and compatibility level of the configuration. */
static int registry_policy(cb_codec_t *c, const cb_config_t *cfg, cb_error_t *err)
{
    const char *strategy = cfg_get(cfg, "schema_registry.subject_name_strategy", "");
    const char *level = cfg_get(cfg, "schema_registry.compatibility", "BACKWARD");
    size_t i;

    c->strategy = STRATEGY_TOPIC;
    for (i = 0; i < sizeof(strategy_names) / sizeof(strategy_names[0]); i++)
        if (!strcmp(strategy, strategy_names[i]))
            c->strategy = (subject_strategy_t)i;
    if (*strategy && strcmp(strategy, strategy_names[c->strategy]) != 0)
        return cb_error_set(err, CB_ERR_CONFIG,
                            "schema_registry.subject_name_strategy: \"%.64s\" is not "
                            "TopicNameStrategy, RecordNameStrategy or TopicRecordNameStrategy",
                            strategy);
    if (strlen(level) >= sizeof(c->compatibility))
        return cb_error_set(err, CB_ERR_CONFIG, "schema_registry.compatibility: too long");
    snprintf(c->compatibility, sizeof(c->compatibility), "%s", strcmp(level, "keep") ? level : "");
    return 0;
}

/* Parses the embedded schemas (Avro-C, and jansson for their defaults), reads
 * the registry settings and password file; no network I/O until first use. */
cb_codec_t *cb_codec_new(const cb_config_t *cfg, cb_error_t *err)
{
    cb_codec_t *c = calloc(1, sizeof(*c));
    const char *url = cfg_get(cfg, "schema_registry.url", "");
    const char *user = cfg_get(cfg, "schema_registry.basic_auth_user", "");
    const char *pwfile = cfg_get(cfg, "schema_registry.basic_auth_password_file", "");
    long timeout = cfg ? (long)cb_config_get_int(cfg, "schema_registry.timeout_ms") : 0;
    char *password = NULL;
    int i;

    if (!c) {
        cb_error_set(err, CB_ERR_NOMEM, "codec: out of memory");
        return NULL;
    }
    if (*pwfile &&
        !(password = cb_secret_read_file("schema_registry.basic_auth_password_file", pwfile, err)))
        goto fail;
    c->has_registry = *url != '\0';
    if (!(c->reg = cb_registry_new(url, timeout, user, password, err)) ||
        cb_registry_set_tls(c->reg, cfg_get(cfg, "schema_registry.tls.cert", NULL),
                            cfg_get(cfg, "schema_registry.tls.key", NULL),
                            cfg_get(cfg, "schema_registry.tls.ca_bundle", NULL), err) < 0 ||
        registry_policy(c, cfg, err) < 0)
        goto fail;
    for (i = 0; i < CB_SCHEMA_COUNT; i++) {
        size_t len;
        const char *text = cb_schema_text((cb_schema_id_t)i, &len);
        own_schema_t *o = &c->own[i];
        if (avro_schema_from_json_length(text, len, &o->schema) != 0 ||
            !(o->iface = avro_generic_class_from_schema(o->schema)) ||
            !(o->json = json_loadb(text, len, 0, NULL))) {
            cb_error_set(err, CB_ERR_INTERNAL, "codec: embedded schema %s does not load: %s",
                         cb_schema_name((cb_schema_id_t)i), avro_strerror());
            goto fail;
        }
        o->r_org = find_record(o->json, "Org");
        o->r_person = find_record(o->json, "Person");
    }
    if (check_outcome_schema(c->own[CB_SCHEMA_OUTCOME].schema, err) < 0 ||
        !(c->outcome_v1 =
              outcome_schema_older(c->own[CB_SCHEMA_OUTCOME].json, outcome_added_since_v1, err)) ||
        !(c->outcome_v2 =
              outcome_schema_older(c->own[CB_SCHEMA_OUTCOME].json, outcome_added_since_v2, err)))
        goto fail;
    c->topic[CB_SCHEMA_ORG_EVENT] = strdup(cfg_get(cfg, "input.org_topic", "hr.org-events"));
    c->topic[CB_SCHEMA_PERSON_EVENT] =
        strdup(cfg_get(cfg, "input.person_topic", "hr.person-events"));
    c->topic[CB_SCHEMA_OUTCOME] =
        strdup(cfg_get(cfg, "output.outcome_topic", "pki.certificate-outcomes"));
    for (i = 0; i < CB_SCHEMA_COUNT; i++)
        if (!c->topic[i]) {
            cb_error_set(err, CB_ERR_NOMEM, "codec: out of memory");
            goto fail;
        }
    cb_secret_free(password);
    return c;
fail:
    cb_secret_free(password);
    cb_codec_destroy(c);
    return NULL;
}

/* Frees the schemas, topic names and the registry client (with its cache). */
void cb_codec_destroy(cb_codec_t *codec)
{
    int i;

    if (!codec)
        return;
    if (codec->outcome_v1)
        avro_schema_decref(codec->outcome_v1);
    if (codec->outcome_v2)
        avro_schema_decref(codec->outcome_v2);
    for (i = 0; i < CB_SCHEMA_COUNT; i++) {
        if (codec->own[i].iface)
            avro_value_iface_decref(codec->own[i].iface);
        if (codec->own[i].schema)
            avro_schema_decref(codec->own[i].schema);
        json_decref(codec->own[i].json);
        free(codec->topic[i]);
    }
    cb_registry_destroy(codec->reg);
    free(codec);
}

/* ---- reader side: certbridge's schema as JSON, for defaults ---- */

/* Finds the record named name (short name) anywhere inside a schema JSON. */
static json_t *find_record(json_t *node, const char *name)
{
    json_t *v, *r;
    size_t i;
    const char *key;

    if (json_is_array(node)) {
        json_array_foreach(node, i, v) if ((r = find_record(v, name))) return r;
        return NULL;
    }
    if (!json_is_object(node))
        return NULL;
    if (json_is_string(json_object_get(node, "name")) &&
        strcmp(json_string_value(json_object_get(node, "name")), name) == 0 &&
        json_is_string(json_object_get(node, "type")) &&
        strcmp(json_string_value(json_object_get(node, "type")), "record") == 0)
        return node;
    json_object_foreach(node, key, v)
    {
        if (strcmp(key, "type") == 0 || strcmp(key, "fields") == 0 || strcmp(key, "items") == 0)
            if ((r = find_record(v, name)))
                return r;
    }
    return NULL;
}

/* A record field of the reader schema rrec: the writer's value when the
 * writer has the field, else the reader's default synthesized into *tmp,
 * else NULL (a required field the writer lacks). */
static const cb_avro_val_t *field(const cb_avro_val_t *w, json_t *rrec, const char *name,
                                  cb_avro_val_t *tmp)
{
    const cb_avro_val_t *v = cb_avro_field(w, name);
    json_t *f, *def = NULL;
    size_t i;

    if (v)
        return v;
    json_array_foreach(json_object_get(rrec, "fields"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
            def = json_object_get(f, "default");
    }
    if (!def)
        return NULL;
    memset(tmp, 0, sizeof(*tmp));
    if (json_is_null(def)) {
        tmp->type = AVRO_NULL;
    } else if (json_is_boolean(def)) {
        tmp->type = AVRO_BOOLEAN;
        tmp->l = json_is_true(def);
    } else if (json_is_integer(def)) {
        tmp->type = AVRO_INT64;
        tmp->l = json_integer_value(def);
    } else if (json_is_string(def)) {
        tmp->type = AVRO_STRING;
        tmp->s = json_string_value(def);
        tmp->n = json_string_length(def);
    } else if (json_is_array(def) && json_array_size(def) == 0) {
        tmp->type = AVRO_ARRAY;
    } else {
        return NULL; /* a default certbridge's schemas never use */
    }
    return tmp;
}

/* The writer type of v for messages ("default" for a synthesized default). */
static const char *type_name(const cb_avro_val_t *v)
{
    return v->schema ? avro_schema_type_name(v->schema) : "default";
}

/* A string field: NFC copy into *out; NULL for null when optional. */
static int get_string(const cb_avro_val_t *v, const char *path, bool required, size_t max,
                      char **out, cb_error_t *err)
{
    *out = NULL;
    if (!v || v->type == AVRO_NULL) {
        if (required)
            return cb_error_set(err, CB_ERR_INVALID, "%s: required field is %s", path,
                                v ? "null" : "missing");
        return 0;
    }
    if (v->type != AVRO_STRING && v->type != AVRO_BYTES) /* bytes promote to string */
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected a string, got %s", path,
                            type_name(v));
    if (!(*out = cb_text_nfc(v->s, v->n, max, err)))
        return cb_error_prefix(err, "%s", path);
    return 0;
}

/* An int or long field (required). */
static int get_long(const cb_avro_val_t *v, const char *path, int64_t min, int64_t max,
                    int64_t *out, cb_error_t *err)
{
    if (!v || v->type == AVRO_NULL)
        return cb_error_set(err, CB_ERR_INVALID, "%s: required field is %s", path,
                            v ? "null" : "missing");
    if (v->type != AVRO_INT32 && v->type != AVRO_INT64)
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected an int or long, got %s", path,
                            type_name(v));
    if (v->l < min || v->l > max)
        return cb_error_set(err, CB_ERR_INVALID, "%s: %lld is out of range", path, (long long)v->l);
    *out = v->l;
    return 0;
}

/* An int field (or a long within int range). */
static int get_int(const cb_avro_val_t *v, const char *path, int32_t *out, cb_error_t *err)
{
    int64_t l;

    if (get_long(v, path, INT32_MIN, INT32_MAX, &l, err) < 0)
        return -1;
    *out = (int32_t)l;
    return 0;
}

/* A boolean field (required; a missing one has had its default applied). */
static int get_bool(const cb_avro_val_t *v, const char *path, bool *out, cb_error_t *err)
{
    if (!v)
        return cb_error_set(err, CB_ERR_INVALID, "%s: required field is missing", path);
    if (v->type != AVRO_BOOLEAN)
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected a boolean, got %s", path,
                            type_name(v));
    *out = v->l != 0;
    return 0;
}

/* An enum field, mapped by symbol name onto names[0..n). *out = -1 for null
 * when nullable. */
static int get_enum(const cb_avro_val_t *v, const char *path, bool nullable,
                    const char *const *names, int n, int *out, cb_error_t *err)
{
    const char *sym;
    int i;

    *out = -1;
    if (!v || v->type == AVRO_NULL) {
        if (nullable)
            return 0;
        return cb_error_set(err, CB_ERR_INVALID, "%s: required field is %s", path,
                            v ? "null" : "missing");
    }
    if (v->type == AVRO_ENUM)
        sym = v->symbol;
    else if (v->type == AVRO_STRING && !v->schema)
        sym = v->s; /* a default from certbridge's schema */
    else
        return cb_error_set(err, CB_ERR_INVALID, "%s: expected an enum, got %s", path,
                            type_name(v));
    for (i = 0; sym && i < n; i++)
        if (strcmp(sym, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return cb_error_set(err, CB_ERR_INVALID, "%s: unknown symbol \"%.64s\"", path, sym ? sym : "");
}

/* ---- events ---- */

typedef struct event_map {
    cb_codec_t *codec;
    json_t *r_top, *r_org, *r_person; /* reader records */
    cb_error_t *err;
} event_map_t;

/* Maps an Org record of the writer onto org, path naming it in errors. */
static int map_org(event_map_t *m, const cb_avro_val_t *w, const char *path, cb_org_t *org)
{
    cb_avro_val_t tmp;
    char p[96];
    static const struct {
        const char *name;
        bool required;
        size_t off;
    } fields[] = {
        {"code", true, offsetof(cb_org_t, code)},
        {"name", true, offsetof(cb_org_t, name)},
        {"parent_code", false, offsetof(cb_org_t, parent_code)},
        {"parent_name", false, offsetof(cb_org_t, parent_name)},
        {"province", true, offsetof(cb_org_t, province)},
        {"address", false, offsetof(cb_org_t, address)},
    };
    size_t i;

    if (w->type != AVRO_RECORD)
        return cb_error_set(m->err, CB_ERR_INVALID, "%s: expected a record, got %s", path,
                            type_name(w));
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        snprintf(p, sizeof(p), "%s.%s", path, fields[i].name);
        if (get_string(field(w, m->r_org, fields[i].name, &tmp), p, fields[i].required,
                       CB_STRING_MAX_BYTES, (char **)((char *)org + fields[i].off), m->err) < 0)
            return -1;
    }
    return 0;
}

/* A required record field, mapped with map_org. */
static int get_org(event_map_t *m, const cb_avro_val_t *root, const char *name, cb_org_t *org)
{
    cb_avro_val_t tmp;
    const cb_avro_val_t *v = field(root, m->r_top, name, &tmp);

    if (!v || v->type == AVRO_NULL)
        return cb_error_set(m->err, CB_ERR_INVALID, "%s: required field is %s", name,
                            v ? "null" : "missing");
    return map_org(m, v, name, org);
}

/* The OrgEvent-only fields: org, merged_orgs, result_is_new, carrier. */
static int map_org_event(event_map_t *m, const cb_avro_val_t *root, cb_event_t *ev)
{
    cb_avro_val_t tmp;
    const cb_avro_val_t *v;
    char p[48];
    size_t i;

    if (get_org(m, root, "org", &ev->org) < 0)
        return -1;
    v = field(root, m->r_top, "merged_orgs", &tmp);
    if (!v)
        return cb_error_set(m->err, CB_ERR_INVALID, "merged_orgs: required field is missing");
    if (v->type != AVRO_ARRAY)
        return cb_error_set(m->err, CB_ERR_INVALID, "merged_orgs: expected an array, got %s",
                            type_name(v));
    if (v->count > CB_MERGED_ORGS_MAX)
        return cb_error_set(m->err, CB_ERR_LIMIT, "merged_orgs: more than %d items",
                            CB_MERGED_ORGS_MAX);
    if (v->count) {
        if (!(ev->merged_orgs = calloc(v->count, sizeof(cb_org_t))))
            return cb_error_set(m->err, CB_ERR_NOMEM, "merged_orgs: out of memory");
        ev->merged_count = v->count;
        for (i = 0; i < v->count; i++) {
            snprintf(p, sizeof(p), "merged_orgs[%zu]", i);
            if (map_org(m, &v->items[i], p, &ev->merged_orgs[i]) < 0)
                return -1;
        }
    }
    if (get_bool(field(root, m->r_top, "result_is_new", &tmp), "result_is_new", &ev->result_is_new,
                 m->err) < 0)
        return -1;
    return get_string(field(root, m->r_top, "certificate_carrier", &tmp), "certificate_carrier",
                      false, CB_STRING_MAX_BYTES, &ev->certificate_carrier, m->err);
}

/* The PersonEvent-only fields: person, org, previous_org, departure_reason. */
static int map_person_event(event_map_t *m, const cb_avro_val_t *root, cb_event_t *ev)
{
    static const char *const dep_names[CB_DEPARTURE_REASON_COUNT] = {
        "RETIRED", "RESIGNED", "DECEASED", "DISMISSED", "OTHER"};
    cb_avro_val_t tmp;
    const cb_avro_val_t *v, *pv;
    cb_person_t *p = &ev->person;
    int e;

    pv = field(root, m->r_top, "person", &tmp);
    if (!pv || pv->type == AVRO_NULL)
        return cb_error_set(m->err, CB_ERR_INVALID, "person: required field is %s",
                            pv ? "null" : "missing");
    if (pv->type != AVRO_RECORD)
        return cb_error_set(m->err, CB_ERR_INVALID, "person: expected a record, got %s",
                            type_name(pv));
    if (get_string(field(pv, m->r_person, "person_id", &tmp), "person.person_id", true,
                   CB_STRING_MAX_BYTES, &p->person_id, m->err) < 0 ||
        get_string(field(pv, m->r_person, "national_id", &tmp), "person.national_id", true,
                   CB_STRING_MAX_BYTES, &p->national_id, m->err) < 0 ||
        get_string(field(pv, m->r_person, "full_name", &tmp), "person.full_name", true,
                   CB_STRING_MAX_BYTES, &p->full_name, m->err) < 0 ||
        get_string(field(pv, m->r_person, "email", &tmp), "person.email", false,
                   CB_STRING_MAX_BYTES, &p->email, m->err) < 0 ||
        get_string(field(pv, m->r_person, "title", &tmp), "person.title", false,
                   CB_STRING_MAX_BYTES, &p->title, m->err) < 0 ||
        get_bool(field(pv, m->r_person, "is_leader", &tmp), "person.is_leader", &p->is_leader,
                 m->err) < 0)
        return -1;
    if (get_org(m, root, "org", &ev->org) < 0)
        return -1;
    v = field(root, m->r_top, "previous_org", &tmp);
    if (!v)
        return cb_error_set(m->err, CB_ERR_INVALID, "previous_org: required field is missing");
    if (v->type != AVRO_NULL) {
        if (!(ev->previous_org = calloc(1, sizeof(cb_org_t))))
            return cb_error_set(m->err, CB_ERR_NOMEM, "previous_org: out of memory");
        if (map_org(m, v, "previous_org", ev->previous_org) < 0)
            return -1;
    }
    if (get_enum(field(root, m->r_top, "departure_reason", &tmp), "departure_reason", true,
                 dep_names, CB_DEPARTURE_REASON_COUNT, &e, m->err) < 0)
        return -1;
    ev->departure_reason = (cb_departure_reason_t)e;
    return 0;
}

/* Maps a decoded writer record onto ev (kind given), then validates it. */
static int map_event(cb_codec_t *codec, cb_event_kind_t kind, const cb_avro_val_t *root,
                     cb_event_t *ev, cb_error_t *err)
{
    static const char *const org_types[CB_ORG_EVENT_TYPE_COUNT] = {
        "MERGED", "RENAMED", "PARENT_CHANGED", "INFO_CHANGED", "DISSOLVED", "CANCELLED"};
    static const char *const person_types[CB_PERSON_EVENT_TYPE_COUNT] = {
        "TRANSFERRED", "POSITION_CHANGED",       "INFO_CHANGED", "DEPARTED",
        "JOINED",      "CERTIFICATE_NOT_NEEDED", "CANCELLED"};
    cb_schema_id_t sid = kind == CB_EVENT_ORG ? CB_SCHEMA_ORG_EVENT : CB_SCHEMA_PERSON_EVENT;
    event_map_t m = {codec, NULL, NULL, NULL, err};
    cb_avro_val_t tmp;
    int64_t l;
    int32_t day;

    m.r_top = codec->own[sid].json;
    m.r_org = codec->own[sid].r_org;
    m.r_person = codec->own[sid].r_person;
    if (root->type != AVRO_RECORD)
        return cb_error_set(err, CB_ERR_INVALID, "event: the writer schema is a %s, not a record",
                            type_name(root));
    ev->kind = kind;
    if (get_string(field(root, m.r_top, "event_id", &tmp), "event_id", true, CB_STRING_MAX_BYTES,
                   &ev->event_id, err) < 0 ||
        get_enum(field(root, m.r_top, "event_type", &tmp), "event_type", false,
                 kind == CB_EVENT_ORG ? org_types : person_types,
                 kind == CB_EVENT_ORG ? CB_ORG_EVENT_TYPE_COUNT : CB_PERSON_EVENT_TYPE_COUNT,
                 &ev->type, err) < 0 ||
        get_long(field(root, m.r_top, "occurred_at", &tmp), "occurred_at", INT64_MIN, INT64_MAX, &l,
                 err) < 0 ||
        get_int(field(root, m.r_top, "effective_date", &tmp), "effective_date", &day, err) < 0 ||
        get_string(field(root, m.r_top, "source_system", &tmp), "source_system", true,
                   CB_STRING_MAX_BYTES, &ev->source_system, err) < 0)
        return -1;
    ev->occurred_at_ms = l;
    ev->effective_date = day;
    if (kind == CB_EVENT_ORG ? map_org_event(&m, root, ev) < 0 : map_person_event(&m, root, ev) < 0)
        return -1;
    return cb_event_validate(ev, err);
}

/* The schema id of a Confluent frame, after checking its header. */
static int confluent_header(const unsigned char *p, size_t len, uint32_t *id, cb_error_t *err)
{
    if (len < CONFLUENT_HEADER)
        return cb_error_set(err, CB_ERR_DECODE,
                            "truncated: a Confluent frame needs %d header bytes, got %zu",
                            CONFLUENT_HEADER, len);
    if (p[0] != 0)
        return cb_error_set(err, CB_ERR_DECODE,
                            "wrong magic byte 0x%02x (Confluent framing starts with 0x00)", p[0]);
    *id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    return 0;
}

/* Picks the format (auto: by the first byte), finds the writer schema, reads
 * the bytes with the bounded reader and maps them onto out; out is cleared
 * again on any failure. */
int cb_codec_decode_event(cb_codec_t *codec, cb_event_kind_t expected, cb_format_t format,
                          const void *buf, size_t len, cb_event_t *out, cb_error_t *err)
{
    const unsigned char *p = buf;
    cb_schema_id_t sid = expected == CB_EVENT_ORG ? CB_SCHEMA_ORG_EVENT : CB_SCHEMA_PERSON_EVENT;
    avro_schema_t ws = NULL;
    cb_avro_doc_t doc = {0};
    uint32_t id = 0;
    int rc = -1;

    cb_event_init(out);
    if (expected != CB_EVENT_ORG && expected != CB_EVENT_PERSON)
        return cb_error_set(err, CB_ERR_INTERNAL, "decode: unknown event kind %d", (int)expected);
    if (len == 0)
        return cb_error_set(err, CB_ERR_DECODE, "empty message");
    if (len > CB_EVENT_MAX_BYTES)
        return cb_error_set(err, CB_ERR_LIMIT, "message of %zu bytes exceeds the limit of %d", len,
                            CB_EVENT_MAX_BYTES);
    if (format == CB_FORMAT_AUTO)
        format = p[0] == 0 ? CB_FORMAT_CONFLUENT : p[0] == '{' ? CB_FORMAT_JSON : CB_FORMAT_AVRO;
    switch (format) {
    case CB_FORMAT_JSON:
        if (cb_codec_json_decode_event(buf, len, out, err) < 0)
            goto out;
        if (out->kind != expected) {
            cb_error_set(err, CB_ERR_INVALID, "event: is %s, expected %s",
                         out->kind == CB_EVENT_PERSON ? "a PersonEvent" : "an OrgEvent",
                         expected == CB_EVENT_PERSON ? "a PersonEvent" : "an OrgEvent");
            goto out;
        }
        rc = 0;
        goto out;
    case CB_FORMAT_CONFLUENT:
        if (confluent_header(p, len, &id, err) < 0 ||
            cb_registry_get_schema(codec->reg, id, &ws, err) < 0)
            goto out;
        p += CONFLUENT_HEADER;
        len -= CONFLUENT_HEADER;
        break;
    case CB_FORMAT_AVRO:
        ws = avro_schema_incref(codec->own[sid].schema);
        break;
    default:
        cb_error_set(err, CB_ERR_INTERNAL, "decode: unknown format %d", (int)format);
        goto out;
    }
    if (cb_avro_doc_read(&doc, ws, p, len, CB_STRING_MAX_BYTES, err) < 0 ||
        map_event(codec, expected, &doc.root, out, err) < 0)
        goto out;
    rc = 0;
out:
    cb_avro_doc_free(&doc);
    if (ws)
        avro_schema_decref(ws);
    if (rc < 0)
        cb_event_clear(out);
    return rc;
}

/* ---- encoding with Avro-C ---- */

/* Finds field name of record rec in *f. For a ["null", X] union it selects
 * the X branch when present, else sets the field to null. Returns 1 when the
 * field took null (nothing left to set), 0 when *f awaits a value (also for
 * a non-union field, whatever present says), -1 on error. */
static int field_for(avro_value_t *rec, const char *name, bool present, avro_value_t *f,
                     cb_error_t *err)
{
    avro_value_t b;

    if (avro_value_get_by_name(rec, name, f, NULL) != 0)
        return cb_error_set(err, CB_ERR_INTERNAL, "%s: not in the schema", name);
    if (avro_value_get_type(f) != AVRO_UNION)
        return 0;
    if (avro_value_set_branch(f, present ? 1 : 0, &b) != 0)
        return cb_error_set(err, CB_ERR_INTERNAL, "%s: %s", name, avro_strerror());
    *f = b;
    if (present)
        return 0;
    return avro_value_set_null(f) == 0 ? 1 : cb_error_set(err, CB_ERR_INTERNAL, "%s", name);
}

/* Sets field name of record rec: a string, or null through a ["null", X]
 * union. A NULL for a required (non-union) field is refused. */
static int put_string(avro_value_t *rec, const char *name, const char *s, cb_error_t *err)
{
    avro_value_t f;
    int rc = field_for(rec, name, s != NULL, &f, err);

    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (!s)
        return cb_error_set(err, CB_ERR_INVALID, "%s: required field is missing", name);
    if (avro_value_set_string_len(&f, s, strlen(s) + 1) != 0)
        return cb_error_set(err, CB_ERR_INTERNAL, "%s: %s", name, avro_strerror());
    return 0;
}

/* Sets an int, long or boolean field (type taken from the schema), or, for a
 * ["null", int] union, null when is_null. */
static int put_number(avro_value_t *rec, const char *name, int64_t v, bool is_null, cb_error_t *err)
{
    avro_value_t f;
    int rc = field_for(rec, name, !is_null, &f, err);

    if (rc != 0)
        return rc < 0 ? -1 : 0;
    switch (avro_value_get_type(&f)) {
    case AVRO_INT32:
        rc = avro_value_set_int(&f, (int32_t)v);
        break;
    case AVRO_INT64:
        rc = avro_value_set_long(&f, v);
        break;
    case AVRO_BOOLEAN:
        rc = avro_value_set_boolean(&f, v != 0);
        break;
    default:
        rc = -1;
    }
    return rc == 0 ? 0 : cb_error_set(err, CB_ERR_INTERNAL, "%s: cannot set a number", name);
}

/* Sets an enum field by index, or null (index < 0) through a union. */
static int put_enum(avro_value_t *rec, const char *name, int idx, int count, cb_error_t *err)
{
    avro_value_t f;
    int rc = field_for(rec, name, idx >= 0, &f, err);

    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (idx < 0 || idx >= count)
        return cb_error_set(err, CB_ERR_INVALID, "%s: value %d is not a symbol", name, idx);
    return avro_value_set_enum(&f, idx) == 0 ? 0 : cb_error_set(err, CB_ERR_INTERNAL, "%s", name);
}

/* Fills an Org record value from org. */
static int put_org(avro_value_t *rec, const cb_org_t *org, cb_error_t *err)
{
    return put_string(rec, "code", org->code, err) < 0 ||
                   put_string(rec, "name", org->name, err) < 0 ||
                   put_string(rec, "parent_code", org->parent_code, err) < 0 ||
                   put_string(rec, "parent_name", org->parent_name, err) < 0 ||
                   put_string(rec, "province", org->province, err) < 0 ||
                   put_string(rec, "address", org->address, err) < 0
               ? -1
               : 0;
}

/* Sets a record field (or its record branch of a ["null", record] union). */
static int put_org_field(avro_value_t *rec, const char *name, const cb_org_t *org, cb_error_t *err)
{
    avro_value_t f;
    int rc = field_for(rec, name, org != NULL, &f, err);

    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (put_org(&f, org, err) < 0)
        return cb_error_prefix(err, "%s", name);
    return 0;
}

/* Serializes val, with a Confluent header for schema id when framed. */
static int write_value(avro_value_t *val, bool framed, uint32_t id, void **buf, size_t *len,
                       cb_error_t *err)
{
    size_t size = 0, off = framed ? CONFLUENT_HEADER : 0;
    avro_writer_t w = NULL;
    unsigned char *out = NULL;
    int rc = -1;

    if (avro_value_sizeof(val, &size) != 0) {
        cb_error_set(err, CB_ERR_INTERNAL, "encode: %s", avro_strerror());
        goto out;
    }
    if (size + off > CB_EVENT_MAX_BYTES * 4 || !(out = malloc(size + off))) {
        cb_error_set(err, CB_ERR_LIMIT, "encode: %zu bytes is too large", size);
        goto out;
    }
    if (framed) {
        out[0] = 0;
        out[1] = (unsigned char)(id >> 24);
        out[2] = (unsigned char)(id >> 16);
        out[3] = (unsigned char)(id >> 8);
        out[4] = (unsigned char)id;
    }
    if (!(w = avro_writer_memory((char *)out + off, (int64_t)size)) ||
        avro_value_write(w, val) != 0) {
        cb_error_set(err, CB_ERR_INTERNAL, "encode: %s", avro_strerror());
        goto out;
    }
    *buf = out;
    *len = size + off;
    out = NULL;
    rc = 0;
out:
    if (w)
        avro_writer_free(w);
    free(out);
    return rc;
}

/* The subject of own schema sid under the configured strategy, into buf. */
static int subject_of(const cb_codec_t *codec, cb_schema_id_t sid, char *buf, size_t size,
                      cb_error_t *err)
{
    const json_t *j = codec->own[sid].json;
    const char *ns = json_string_value(json_object_get(j, "namespace"));
    const char *name = json_string_value(json_object_get(j, "name"));
    char record[256];
    int n;

    snprintf(record, sizeof(record), "%s%s%s", ns ? ns : "", ns ? "." : "", name ? name : "");
    switch (codec->strategy) {
    case STRATEGY_RECORD:
        n = snprintf(buf, size, "%s", record);
        break;
    case STRATEGY_TOPIC_RECORD:
        n = snprintf(buf, size, "%s-%s", codec->topic[sid], record);
        break;
    default:
        n = snprintf(buf, size, "%s-value", codec->topic[sid]);
    }
    if (n < 0 || (size_t)n >= size)
        return cb_error_set(err, CB_ERR_CONFIG, "topic name too long for a subject");
    return 0;
}

/* Registers own schema sid once, under the subject the strategy names, after
 * giving the subject the configured compatibility level when it has none (so
 * that the registry checks this schema against the subject's versions). */
static int ensure_registered(cb_codec_t *codec, cb_schema_id_t sid, cb_error_t *err)
{
    own_schema_t *o = &codec->own[sid];
    char subject[CB_REGISTRY_SUBJECT_MAX + 1];
    const char *text;
    bool changed;
    size_t len;

    if (o->registered)
        return 0;
    if (!codec->has_registry)
        return cb_error_set(err, CB_ERR_CONFIG,
                            "Confluent framing needs schema_registry.url to be set");
    if (subject_of(codec, sid, subject, sizeof(subject), err) < 0)
        return -1;
    if (*codec->compatibility && cb_registry_ensure_compatibility(
                                     codec->reg, subject, codec->compatibility, &changed, err) < 0)
        return -1;
    text = cb_schema_text(sid, &len);
    if (cb_registry_register(codec->reg, subject, text, len, &o->id, err) < 0)
        return -1;
    o->registered = true;
    return 0;
}

/* Fills an OrgEvent or PersonEvent record value from ev (no semantic
 * checks: test producers may encode invalid events on purpose). */
static int fill_event(avro_value_t *v, const cb_event_t *ev, cb_error_t *err)
{
    avro_value_t arr, item, pv;
    size_t i;

    if (put_string(v, "event_id", ev->event_id, err) < 0 ||
        put_enum(v, "event_type", ev->type,
                 ev->kind == CB_EVENT_ORG ? CB_ORG_EVENT_TYPE_COUNT : CB_PERSON_EVENT_TYPE_COUNT,
                 err) < 0 ||
        put_number(v, "occurred_at", ev->occurred_at_ms, false, err) < 0 ||
        put_number(v, "effective_date", ev->effective_date, false, err) < 0 ||
        put_string(v, "source_system", ev->source_system, err) < 0 ||
        put_org_field(v, "org", &ev->org, err) < 0)
        return -1;
    if (ev->kind == CB_EVENT_ORG) {
        if (avro_value_get_by_name(v, "merged_orgs", &arr, NULL) != 0)
            return cb_error_set(err, CB_ERR_INTERNAL, "merged_orgs: not in the schema");
        for (i = 0; i < ev->merged_count; i++) {
            if (avro_value_append(&arr, &item, NULL) != 0 ||
                put_org(&item, &ev->merged_orgs[i], err) < 0)
                return cb_error_prefix(err, "merged_orgs[%zu]", i);
        }
        return put_number(v, "result_is_new", ev->result_is_new, false, err) < 0 ||
                       put_string(v, "certificate_carrier", ev->certificate_carrier, err) < 0
                   ? -1
                   : 0;
    }
    if (avro_value_get_by_name(v, "person", &pv, NULL) != 0)
        return cb_error_set(err, CB_ERR_INTERNAL, "person: not in the schema");
    if (put_string(&pv, "person_id", ev->person.person_id, err) < 0 ||
        put_string(&pv, "national_id", ev->person.national_id, err) < 0 ||
        put_string(&pv, "full_name", ev->person.full_name, err) < 0 ||
        put_string(&pv, "email", ev->person.email, err) < 0 ||
        put_string(&pv, "title", ev->person.title, err) < 0 ||
        put_number(&pv, "is_leader", ev->person.is_leader, false, err) < 0)
        return cb_error_prefix(err, "person");
    return put_org_field(v, "previous_org", ev->previous_org, err) < 0 ||
                   put_enum(v, "departure_reason", ev->departure_reason, CB_DEPARTURE_REASON_COUNT,
                            err) < 0
               ? -1
               : 0;
}

/* Encodes ev with certbridge's schema, plain or Confluent-framed (registering
 * the schema under the input topic's subject first). */
int cb_codec_encode_event(cb_codec_t *codec, cb_format_t format, const cb_event_t *ev, void **buf,
                          size_t *len, cb_error_t *err)
{
    cb_schema_id_t sid = ev->kind == CB_EVENT_PERSON ? CB_SCHEMA_PERSON_EVENT : CB_SCHEMA_ORG_EVENT;
    avro_value_t v;
    int rc = -1;

    *buf = NULL;
    *len = 0;
    if (format != CB_FORMAT_AVRO && format != CB_FORMAT_CONFLUENT)
        return cb_error_set(err, CB_ERR_INVALID, "encode: events are encoded as avro or confluent");
    if (format == CB_FORMAT_CONFLUENT && ensure_registered(codec, sid, err) < 0)
        return -1;
    if (avro_generic_value_new(codec->own[sid].iface, &v) != 0)
        return cb_error_set(err, CB_ERR_NOMEM, "encode: %s", avro_strerror());
    if (fill_event(&v, ev, err) < 0 ||
        write_value(&v, format == CB_FORMAT_CONFLUENT, codec->own[sid].id, buf, len, err) < 0)
        goto out;
    rc = 0;
out:
    avro_value_decref(&v);
    return rc;
}

/* ---- outcomes ---- */

/* An outcome encoder: whether outcomes are Confluent-framed, and with
 * which schema id. Nothing else, so it never changes once made. */
struct cb_outcome_encoder {
    bool framed;
    uint32_t schema_id;
};

cb_outcome_encoder_t *cb_outcome_encoder_new(cb_codec_t *codec, const char *topic, cb_error_t *err)
{
    cb_outcome_encoder_t *enc;
    char *t;

    if (codec->has_registry) {
        if (topic && strcmp(topic, codec->topic[CB_SCHEMA_OUTCOME]) != 0) {
            if (!(t = strdup(topic))) {
                cb_error_set(err, CB_ERR_NOMEM, "out of memory");
                return NULL;
            }
            free(codec->topic[CB_SCHEMA_OUTCOME]);
            codec->topic[CB_SCHEMA_OUTCOME] = t;
            codec->own[CB_SCHEMA_OUTCOME].registered = false;
        }
        if (ensure_registered(codec, CB_SCHEMA_OUTCOME, err) < 0)
            return NULL;
    }
    if (!(enc = calloc(1, sizeof(*enc)))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    enc->framed = codec->has_registry;
    enc->schema_id = codec->own[CB_SCHEMA_OUTCOME].id;
    return enc;
}

void cb_outcome_encoder_destroy(cb_outcome_encoder_t *enc)
{
    free(enc);
}

/* The RevocationReason symbol index of r, or -1 (CB_REASON_NONE included). */
static int reason_index(cb_revocation_reason_t r)
{
    size_t i;

    for (i = 0; i < sizeof(reason_values) / sizeof(reason_values[0]); i++)
        if (reason_values[i] == r)
            return (int)i;
    return -1;
}

/* ---- the outcome, written directly ---- */

/* The outcome is certbridge's hottest encoding (one per action), so it is
 * written straight into one buffer in the schema's field order instead of
 * through Avro-C's generic values (a fifth of the instructions of an action
 * at L=0 went there). outcome_fields[] is that order; cb_codec_new() checks
 * it against the embedded schema, and test_codec decodes every encoding with
 * Avro-C and re-encodes it to the same bytes. Kinds: 's' string, 'S'
 * ["null", string], 'i' int, 'I' ["null", int], 'l' long, 'e' enum, 'E'
 * ["null", enum], 'b' boolean. */
static const struct {
    const char *name;
    char kind;
} outcome_fields[] = {
    {"outcome_id", 's'},
    {"source_event_id", 's'},
    {"source_event_type", 's'},
    {"source_topic", 's'},
    {"source_partition", 'i'},
    {"source_offset", 'l'},
    {"action_index", 'i'},
    {"action_count", 'i'},
    {"action", 'e'},
    {"holder_type", 'e'},
    {"holder_id", 's'},
    {"holder_name", 'S'},
    {"certificate_serial", 'S'},
    {"new_certificate_serial", 'S'},
    {"revocation_reason", 'E'},
    {"device_id", 'S'},
    {"status", 'e'},
    {"ca_request_id", 'S'},
    {"http_status", 'I'},
    {"error_code", 'S'},
    {"error_message", 'S'},
    {"attempts", 'i'},
    {"latency_ms", 'l'},
    {"processed_at", 'l'},
    {"emergency_signing_allowed", 'b'},
    {"note", 'S'},
    {"final", 'b'},
    {"approval_request_id", 'S'},
    {"managing_agency_code", 'S'},
    {"managing_agency_name", 'S'},
    {"document_number", 'S'},
    {"approver", 'S'},
};
#define OUTCOME_FIELDS (sizeof(outcome_fields) / sizeof(outcome_fields[0]))

/* The kind letter of Avro-C schema t (see outcome_fields), or 0. */
static char schema_kind(avro_schema_t t)
{
    avro_schema_t b;

    switch (avro_typeof(t)) {
    case AVRO_STRING:
        return 's';
    case AVRO_INT32:
        return 'i';
    case AVRO_INT64:
        return 'l';
    case AVRO_ENUM:
        return 'e';
    case AVRO_BOOLEAN:
        return 'b';
    case AVRO_UNION:
        if (avro_schema_union_size(t) != 2 ||
            avro_typeof(avro_schema_union_branch(t, 0)) != AVRO_NULL)
            return 0;
        b = avro_schema_union_branch(t, 1);
        return avro_typeof(b) == AVRO_STRING  ? 'S'
               : avro_typeof(b) == AVRO_INT32 ? 'I'
               : avro_typeof(b) == AVRO_ENUM  ? 'E'
                                              : 0;
    default:
        return 0;
    }
}

/* Whether the embedded outcome schema has exactly outcome_fields[]. */
static int check_outcome_schema(avro_schema_t rec, cb_error_t *err)
{
    size_t i;

    if (avro_schema_record_size(rec) != OUTCOME_FIELDS)
        return cb_error_set(err, CB_ERR_INTERNAL,
                            "codec: the outcome schema has %zu fields, the "
                            "encoder %zu",
                            avro_schema_record_size(rec), OUTCOME_FIELDS);
    for (i = 0; i < OUTCOME_FIELDS; i++) {
        const char *name = avro_schema_record_field_name(rec, (int)i);
        avro_schema_t t = avro_schema_record_field_get_by_index(rec, (int)i);
        if (!name || strcmp(name, outcome_fields[i].name) ||
            schema_kind(t) != outcome_fields[i].kind)
            return cb_error_set(err, CB_ERR_INTERNAL,
                                "codec: outcome field %zu is not %s as the "
                                "encoder writes it",
                                i, outcome_fields[i].name);
    }
    return 0;
}

typedef struct obuf {
    unsigned char *p;
    size_t len;
} obuf_t;

/* A zig-zag varint (Avro int and long alike). */
static void ob_long(obuf_t *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

    while (z >= 0x80) {
        b->p[b->len++] = (unsigned char)(z | 0x80);
        z >>= 7;
    }
    b->p[b->len++] = (unsigned char)z;
}

static void ob_string(obuf_t *b, const char *s, size_t n)
{
    ob_long(b, (int64_t)n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* A ["null", string] union. */
static void ob_opt_string(obuf_t *b, const char *s)
{
    ob_long(b, s ? 1 : 0);
    if (s)
        ob_string(b, s, strlen(s));
}

/* Encodes o plain, or Confluent-framed with schema id `id` when framed.
 * holder_id and source_topic are written as "" when NULL (a cascade with no
 * holder, an outcome not read from a topic): an outcome that cannot be
 * encoded would stall the pipeline's batch. Reads nothing but its arguments
 * and constant tables, so any thread may call it. */
static int outcome_write(bool framed, uint32_t id, const cb_outcome_t *o, void **buf, size_t *len,
                         cb_error_t *err)
{
    const char *strs[] = {o->outcome_id,
                          o->source_event_id,
                          o->source_event_type,
                          o->source_topic,
                          o->holder_id,
                          o->holder_name,
                          o->certificate_serial,
                          o->new_certificate_serial,
                          o->device_id,
                          o->ca_request_id,
                          o->error_code,
                          o->error_message,
                          o->note,
                          o->approval_request_id,
                          o->managing_agency_code,
                          o->managing_agency_name,
                          o->document_number,
                          o->approver};
    int ri = reason_index(o->revocation_reason);
    size_t cap = CONFLUENT_HEADER + OUTCOME_FIELDS * 12, i; /* tag + varint <= 11 */
    obuf_t b;

    *buf = NULL;
    *len = 0;
    if (!o->outcome_id || !o->source_event_id || !o->source_event_type)
        return cb_error_set(err, CB_ERR_INVALID, "%s: required field is missing",
                            !o->outcome_id        ? "outcome_id"
                            : !o->source_event_id ? "source_event_id"
                                                  : "source_event_type");
    if ((unsigned)o->action >= CB_ACTION_COUNT ||
        (unsigned)o->holder_type >= CB_HOLDER_TYPE_COUNT || (unsigned)o->status >= CB_STATUS_COUNT)
        return cb_error_set(err, CB_ERR_INVALID,
                            "outcome %s: an action, holder type or status "
                            "out of range",
                            o->outcome_id);
    if (o->revocation_reason != CB_REASON_NONE && ri < 0)
        return cb_error_set(err, CB_ERR_INVALID, "revocation_reason: %d is not a symbol",
                            (int)o->revocation_reason);
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        size_t n = strs[i] ? strlen(strs[i]) : 0;
        if (n > OUTCOME_STRING_MAX)
            return cb_error_set(err, CB_ERR_LIMIT,
                                "outcome %s: a string of %zu bytes exceeds "
                                "the limit of %d",
                                o->outcome_id, n, OUTCOME_STRING_MAX);
        cap += n;
    }
    if (!(b.p = malloc(cap)))
        return cb_error_set(err, CB_ERR_NOMEM, "encode: out of memory");
    b.len = 0;
    if (framed) {
        b.p[0] = 0;
        b.p[1] = (unsigned char)(id >> 24);
        b.p[2] = (unsigned char)(id >> 16);
        b.p[3] = (unsigned char)(id >> 8);
        b.p[4] = (unsigned char)id;
        b.len = CONFLUENT_HEADER;
    }
    ob_string(&b, o->outcome_id, strlen(o->outcome_id));
    ob_string(&b, o->source_event_id, strlen(o->source_event_id));
    ob_string(&b, o->source_event_type, strlen(o->source_event_type));
    ob_string(&b, o->source_topic ? o->source_topic : "",
              o->source_topic ? strlen(o->source_topic) : 0);
    ob_long(&b, (int32_t)o->source_partition);
    ob_long(&b, o->source_offset);
    ob_long(&b, (int32_t)o->action_index);
    ob_long(&b, (int32_t)o->action_count);
    ob_long(&b, (int64_t)o->action);
    ob_long(&b, (int64_t)o->holder_type);
    ob_string(&b, o->holder_id ? o->holder_id : "", o->holder_id ? strlen(o->holder_id) : 0);
    ob_opt_string(&b, o->holder_name);
    ob_opt_string(&b, o->certificate_serial);
    ob_opt_string(&b, o->new_certificate_serial);
    ob_long(&b, ri >= 0 ? 1 : 0);
    if (ri >= 0)
        ob_long(&b, ri);
    ob_opt_string(&b, o->device_id);
    ob_long(&b, (int64_t)o->status);
    ob_opt_string(&b, o->ca_request_id);
    ob_long(&b, o->http_status != 0 ? 1 : 0);
    if (o->http_status != 0)
        ob_long(&b, (int32_t)o->http_status);
    ob_opt_string(&b, o->error_code);
    ob_opt_string(&b, o->error_message);
    ob_long(&b, (int32_t)o->attempts);
    ob_long(&b, o->latency_ms);
    ob_long(&b, o->processed_at_ms);
    b.p[b.len++] = o->emergency_signing_allowed ? 1 : 0;
    ob_opt_string(&b, o->note);
    b.p[b.len++] = o->final ? 1 : 0;
    ob_opt_string(&b, o->approval_request_id);
    ob_opt_string(&b, o->managing_agency_code);
    ob_opt_string(&b, o->managing_agency_name);
    ob_opt_string(&b, o->document_number);
    ob_opt_string(&b, o->approver);
    *buf = b.p;
    *len = b.len;
    return 0;
}

int cb_outcome_encoder_encode(const cb_outcome_encoder_t *enc, const cb_outcome_t *o, void **buf,
                              size_t *len, cb_error_t *err)
{
    return outcome_write(enc->framed, enc->schema_id, o, buf, len, err);
}

/* Registers the outcome schema on first use when a registry is configured,
 * then encodes as an encoder would. */
int cb_codec_encode_outcome(cb_codec_t *codec, const cb_outcome_t *o, void **buf, size_t *len,
                            cb_error_t *err)
{
    *buf = NULL;
    *len = 0;
    if (codec->has_registry && ensure_registered(codec, CB_SCHEMA_OUTCOME, err) < 0)
        return -1;
    return outcome_write(codec->has_registry, codec->own[CB_SCHEMA_OUTCOME].id, o, buf, len, err);
}

/* Maps a writer's CertificateActionOutcome record onto o. */
static int map_outcome(cb_codec_t *codec, const cb_avro_val_t *w, cb_outcome_t *o, cb_error_t *err)
{
    static const struct {
        const char *name;
        bool required;
        size_t off;
    } strings[] = {
        {"outcome_id", true, offsetof(cb_outcome_t, outcome_id)},
        {"source_event_id", true, offsetof(cb_outcome_t, source_event_id)},
        {"source_event_type", true, offsetof(cb_outcome_t, source_event_type)},
        {"source_topic", true, offsetof(cb_outcome_t, source_topic)},
        {"holder_id", true, offsetof(cb_outcome_t, holder_id)},
        {"holder_name", false, offsetof(cb_outcome_t, holder_name)},
        {"certificate_serial", false, offsetof(cb_outcome_t, certificate_serial)},
        {"new_certificate_serial", false, offsetof(cb_outcome_t, new_certificate_serial)},
        {"device_id", false, offsetof(cb_outcome_t, device_id)},
        {"ca_request_id", false, offsetof(cb_outcome_t, ca_request_id)},
        {"error_code", false, offsetof(cb_outcome_t, error_code)},
        {"error_message", false, offsetof(cb_outcome_t, error_message)},
        {"note", false, offsetof(cb_outcome_t, note)},
        {"approval_request_id", false, offsetof(cb_outcome_t, approval_request_id)},
        {"managing_agency_code", false, offsetof(cb_outcome_t, managing_agency_code)},
        {"managing_agency_name", false, offsetof(cb_outcome_t, managing_agency_name)},
        {"document_number", false, offsetof(cb_outcome_t, document_number)},
        {"approver", false, offsetof(cb_outcome_t, approver)},
    };
    static const char *const status_symbols[CB_STATUS_COUNT] = {
        "SUCCEEDED", "ALREADY_DONE", "PENDING",   "REJECTED",  "FAILED",
        "SKIPPED",   "NEEDS_REVIEW", "SCHEDULED", "CANCELLED", "AWAITING_APPROVAL"};
    json_t *r = codec->own[CB_SCHEMA_OUTCOME].json;
    const cb_avro_val_t *v;
    cb_avro_val_t tmp;
    int64_t l;
    int e;
    size_t i;

    if (w->type != AVRO_RECORD)
        return cb_error_set(err, CB_ERR_INVALID, "outcome: the writer schema is not a record");
    for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if (get_string(field(w, r, strings[i].name, &tmp), strings[i].name, strings[i].required,
                       OUTCOME_STRING_MAX, (char **)((char *)o + strings[i].off), err) < 0)
            return -1;
    if (get_int(field(w, r, "source_partition", &tmp), "source_partition", &o->source_partition,
                err) < 0 ||
        get_long(field(w, r, "source_offset", &tmp), "source_offset", INT64_MIN, INT64_MAX,
                 &o->source_offset, err) < 0 ||
        get_int(field(w, r, "action_index", &tmp), "action_index", &o->action_index, err) < 0 ||
        get_int(field(w, r, "action_count", &tmp), "action_count", &o->action_count, err) < 0 ||
        get_int(field(w, r, "attempts", &tmp), "attempts", &o->attempts, err) < 0 ||
        get_long(field(w, r, "latency_ms", &tmp), "latency_ms", INT64_MIN, INT64_MAX,
                 &o->latency_ms, err) < 0 ||
        get_long(field(w, r, "processed_at", &tmp), "processed_at", INT64_MIN, INT64_MAX,
                 &o->processed_at_ms, err) < 0 ||
        get_bool(field(w, r, "emergency_signing_allowed", &tmp), "emergency_signing_allowed",
                 &o->emergency_signing_allowed, err) < 0 ||
        get_bool(field(w, r, "final", &tmp), "final", &o->final, err) < 0)
        return -1;
    if (get_enum(field(w, r, "action", &tmp), "action", false, action_symbols, CB_ACTION_COUNT, &e,
                 err) < 0)
        return -1;
    o->action = (cb_action_t)e;
    if (get_enum(field(w, r, "holder_type", &tmp), "holder_type", false, holder_symbols,
                 CB_HOLDER_TYPE_COUNT, &e, err) < 0)
        return -1;
    o->holder_type = (cb_holder_type_t)e;
    if (get_enum(field(w, r, "status", &tmp), "status", false, status_symbols, CB_STATUS_COUNT, &e,
                 err) < 0)
        return -1;
    o->status = (cb_outcome_status_t)e;
    if (get_enum(field(w, r, "revocation_reason", &tmp), "revocation_reason", true, reason_symbols,
                 3, &e, err) < 0)
        return -1;
    o->revocation_reason = e < 0 ? CB_REASON_NONE : reason_values[e];
    v = field(w, r, "http_status", &tmp);
    if (v && v->type != AVRO_NULL) {
        if (get_long(v, "http_status", 0, INT32_MAX, &l, err) < 0)
            return -1;
        o->http_status = (int32_t)l;
    }
    return 0;
}

/* Decodes an outcome: Confluent-framed when the first byte is 0, else plain. */
int cb_codec_decode_outcome(cb_codec_t *codec, const void *buf, size_t len, cb_outcome_t *out,
                            cb_error_t *err)
{
    const unsigned char *p = buf;
    avro_schema_t ws = NULL;
    cb_avro_doc_t doc = {0};
    uint32_t id = 0;
    int rc = -1;

    cb_outcome_init(out);
    if (len == 0)
        return cb_error_set(err, CB_ERR_DECODE, "empty message");
    if (len > CB_EVENT_MAX_BYTES)
        return cb_error_set(err, CB_ERR_LIMIT, "message of %zu bytes exceeds the limit of %d", len,
                            CB_EVENT_MAX_BYTES);
    if (p[0] == 0) {
        /* outcome_id is never empty, so plain Avro never starts with 0 */
        if (confluent_header(p, len, &id, err) < 0 ||
            cb_registry_get_schema(codec->reg, id, &ws, err) < 0)
            goto out;
        p += CONFLUENT_HEADER;
        len -= CONFLUENT_HEADER;
    } else {
        ws = avro_schema_incref(codec->own[CB_SCHEMA_OUTCOME].schema);
    }
    if (cb_avro_doc_read(&doc, ws, p, len, OUTCOME_STRING_MAX, err) < 0) {
        cb_error_t olderr;
        /* plain Avro of an earlier release: its own layout, or the first error */
        cb_avro_doc_free(&doc);
        memset(&doc, 0, sizeof(doc));
        if (id != 0)
            goto out;
        if (cb_avro_doc_read(&doc, codec->outcome_v2, p, len, OUTCOME_STRING_MAX, &olderr) < 0) {
            cb_avro_doc_free(&doc);
            memset(&doc, 0, sizeof(doc));
            if (cb_avro_doc_read(&doc, codec->outcome_v1, p, len, OUTCOME_STRING_MAX, &olderr) < 0)
                goto out;
        }
    }
    if (map_outcome(codec, &doc.root, out, err) < 0)
        goto out;
    rc = 0;
out:
    cb_avro_doc_free(&doc);
    if (ws)
        avro_schema_decref(ws);
    if (rc < 0)
        cb_outcome_clear(out);
    return rc;
}
