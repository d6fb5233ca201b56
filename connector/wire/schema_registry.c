/*
 * schema_registry.c: Confluent-compatible Schema Registry client over libcurl,
 * with a per-id cache of writer schemas parsed by Avro-C, references inlined
 * (cb_registry_inline_references), and compatibility levels.
 */
#include "certbridge/schema_registry.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certbridge/log.h"

#define INLINE_DEPTH_MAX 64 /* nesting of a schema walked while inlining */

typedef struct cache_entry {
    uint32_t id;
    avro_schema_t schema; /* one reference owned by the cache; NULL = free */
} cache_entry_t;

struct cb_registry {
    char *url; /* without trailing '/'; NULL = none */
    long timeout_ms;
    char *user, *password;
    char *cert, *key, *ca_bundle; /* TLS files; NULL = unset */
    CURL *curl;
    cache_entry_t cache[CB_REGISTRY_CACHE_MAX];
    size_t next_evict; /* round-robin victim when the cache is full */
    bool curl_inited;
};

/* A response body, capped at CB_REGISTRY_BODY_MAX. */
typedef struct body {
    char *data;
    size_t len;
    bool overflow;
} body_t;

/* libcurl write callback: appends to the body, aborting past the cap. */
static size_t body_write(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    body_t *b = opaque;
    size_t n = size * nmemb;
    char *nd;

    if (n > CB_REGISTRY_BODY_MAX - b->len) {
        b->overflow = true;
        return 0; /* aborts the transfer */
    }
    nd = realloc(b->data, b->len + n + 1);
    if (!nd)
        return 0;
    memcpy(nd + b->len, ptr, n);
    b->len += n;
    nd[b->len] = '\0';
    b->data = nd;
    return n;
}

/* Checks the URL scheme and copies the settings; the curl handle is made on
 * first use. */
cb_registry_t *cb_registry_new(const char *url, long timeout_ms, const char *user,
                               const char *password, cb_error_t *err)
{
    cb_registry_t *reg = calloc(1, sizeof(*reg));

    if (!reg)
        goto fail_nomem;
    /* reference-counted by libcurl; undone in cb_registry_destroy */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(reg);
        cb_error_set(err, CB_ERR_INTERNAL, "schema registry: curl_global_init failed");
        return NULL;
    }
    reg->curl_inited = true;
    reg->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    if (url && *url) {
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
            n--;
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            cb_error_set(err, CB_ERR_CONFIG,
                         "schema_registry.url: \"%.100s\" is not an http:// or https:// URL", url);
            goto fail;
        }
        if (!(reg->url = strndup(url, n)))
            goto fail_nomem;
    }
    if (user && *user && !(reg->user = strdup(user)))
        goto fail_nomem;
    if (password && !(reg->password = strdup(password)))
        goto fail_nomem;
    return reg;
fail_nomem:
    cb_error_set(err, CB_ERR_NOMEM, "schema registry: out of memory");
fail:
    cb_registry_destroy(reg);
    return NULL;
}

/* Drops the cached schemas and wipes the password before freeing it. */
void cb_registry_destroy(cb_registry_t *reg)
{
    size_t i;

    if (!reg)
        return;
    for (i = 0; i < CB_REGISTRY_CACHE_MAX; i++)
        if (reg->cache[i].schema)
            avro_schema_decref(reg->cache[i].schema);
    if (reg->curl)
        curl_easy_cleanup(reg->curl);
    if (reg->curl_inited)
        curl_global_cleanup();
    free(reg->url);
    free(reg->user);
    free(reg->cert);
    free(reg->key);
    free(reg->ca_bundle);
    if (reg->password) {
        memset(reg->password, 0, strlen(reg->password));
        free(reg->password);
    }
    free(reg);
}

/* Copies path into *dst after checking it can be read (NULL: unset). */
static int set_file(const char *key, const char *path, char **dst, cb_error_t *err)
{
    free(*dst);
    *dst = NULL;
    if (!path || !*path)
        return 0;
    if (access(path, R_OK) != 0)
        return cb_error_set(err, CB_ERR_CONFIG, "%s: cannot read \"%.200s\"", key, path);
    if (!(*dst = strdup(path)))
        return cb_error_set(err, CB_ERR_NOMEM, "schema registry: out of memory");
    return 0;
}

int cb_registry_set_tls(cb_registry_t *reg, const char *cert, const char *key,
                        const char *ca_bundle, cb_error_t *err)
{
    if (!(cert && *cert) != !(key && *key))
        return cb_error_set(err, CB_ERR_CONFIG,
                            "schema_registry.tls.key: schema_registry.tls.cert and "
                            "schema_registry.tls.key go together");
    if (set_file("schema_registry.tls.cert", cert, &reg->cert, err) < 0 ||
        set_file("schema_registry.tls.key", key, &reg->key, err) < 0 ||
        set_file("schema_registry.tls.ca_bundle", ca_bundle, &reg->ca_bundle, err) < 0)
        return -1;
    return 0;
}

/* The cached schema of id, or NULL (borrowed). */
static avro_schema_t cache_find(cb_registry_t *reg, uint32_t id)
{
    size_t i;

    for (i = 0; i < CB_REGISTRY_CACHE_MAX; i++)
        if (reg->cache[i].schema && reg->cache[i].id == id)
            return reg->cache[i].schema;
    return NULL;
}

/* Stores schema (taking over the caller's reference) under id, replacing an
 * entry with the same id, else a free slot, else a round-robin victim. */
static void cache_put(cb_registry_t *reg, uint32_t id, avro_schema_t schema)
{
    size_t i, slot = CB_REGISTRY_CACHE_MAX;

    for (i = 0; i < CB_REGISTRY_CACHE_MAX && slot == CB_REGISTRY_CACHE_MAX; i++)
        if (reg->cache[i].schema && reg->cache[i].id == id)
            slot = i;
    for (i = 0; i < CB_REGISTRY_CACHE_MAX && slot == CB_REGISTRY_CACHE_MAX; i++)
        if (!reg->cache[i].schema)
            slot = i;
    if (slot == CB_REGISTRY_CACHE_MAX) {
        slot = reg->next_evict;
        reg->next_evict = (reg->next_evict + 1) % CB_REGISTRY_CACHE_MAX;
    }
    if (reg->cache[slot].schema)
        avro_schema_decref(reg->cache[slot].schema);
    reg->cache[slot].id = id;
    reg->cache[slot].schema = schema;
}

/* Parses an Avro schema text; a failure is permanent (it will never parse). */
static int parse_schema(uint32_t id, const char *json, size_t len, avro_schema_t *out,
                        cb_error_t *err)
{
    if (avro_schema_from_json_length(json, len, out) != 0)
        return cb_error_set(err, CB_ERR_DECODE, "schema id %u: writer schema does not parse: %s",
                            id, avro_strerror());
    return 0;
}

/* Parses and caches a schema the caller already has. */
int cb_registry_preload(cb_registry_t *reg, uint32_t id, const char *schema_json, size_t len,
                        cb_error_t *err)
{
    avro_schema_t s;

    if (parse_schema(id, schema_json, len, &s, err) < 0)
        return -1;
    cache_put(reg, id, s);
    return 0;
}

/* Parses {"schema": "...", "references": [...]} with jansson (duplicates
 * refused). *refs (when refs is not NULL) receives the references array, a
 * new reference, or NULL when there is none or it is empty. */
static int parse_answer(const char *body, size_t len, char **schema_json, json_t **refs,
                        cb_error_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr), *s, *t, *r;
    size_t i;
    int rc = -1;

    *schema_json = NULL;
    if (refs)
        *refs = NULL;
    if (!root || !json_is_object(root)) {
        cb_error_set(err, CB_ERR_DECODE, "schema registry answer is not a JSON object%s%s",
                     root ? "" : ": ", root ? "" : jerr.text);
        goto out;
    }
    t = json_object_get(root, "schemaType");
    if (t && !(json_is_string(t) && strcmp(json_string_value(t), "AVRO") == 0)) {
        cb_error_set(err, CB_ERR_DECODE, "schema registry answer: schemaType %.32s is not AVRO",
                     json_is_string(t) ? json_string_value(t) : "(not a string)");
        goto out;
    }
    s = json_object_get(root, "schema");
    if (!json_is_string(s)) {
        cb_error_set(err, CB_ERR_DECODE, "schema registry answer has no \"schema\" string");
        goto out;
    }
    r = json_object_get(root, "references");
    if (r && !json_is_null(r)) {
        json_t *e;
        if (!json_is_array(r)) {
            cb_error_set(err, CB_ERR_DECODE,
                         "schema registry answer: \"references\" is not an "
                         "array");
            goto out;
        }
        json_array_foreach(r, i, e)
        {
            if (!json_is_string(json_object_get(e, "subject")) ||
                !json_is_integer(json_object_get(e, "version"))) {
                cb_error_set(err, CB_ERR_DECODE,
                             "schema registry answer: reference %zu has no subject and "
                             "version",
                             i);
                goto out;
            }
        }
        if (refs && json_array_size(r) > 0)
            *refs = json_incref(r);
    }
    if (!(*schema_json = strndup(json_string_value(s), json_string_length(s)))) {
        cb_error_set(err, CB_ERR_NOMEM, "schema registry: out of memory");
        goto out;
    }
    rc = 0;
out:
    if (rc < 0 && refs) {
        json_decref(*refs);
        *refs = NULL;
    }
    json_decref(root);
    return rc;
}

int cb_registry_parse_schema_response(const char *body, size_t len, char **schema_json,
                                      cb_error_t *err)
{
    return parse_answer(body, len, schema_json, NULL, err);
}

/* One HTTP request to the registry: GET when post is NULL, else method
 * ("POST" or "PUT") with post (JSON) as the body. Fills *status and body;
 * transport failures are retriable. */
static int http(cb_registry_t *reg, const char *method, const char *path, const char *post,
                long *status, body_t *body, cb_error_t *err)
{
    char url[2048];
    struct curl_slist *hdrs = NULL;
    CURLcode cc;
    int rc = -1;

    if ((size_t)snprintf(url, sizeof(url), "%s%s", reg->url, path) >= sizeof(url))
        return cb_error_set(err, CB_ERR_INVALID, "schema registry URL too long");
    if (!reg->curl && !(reg->curl = curl_easy_init()))
        return cb_error_set(err, CB_ERR_NOMEM, "schema registry: curl_easy_init failed");
    curl_easy_reset(reg->curl);
    curl_easy_setopt(reg->curl, CURLOPT_URL, url);
    curl_easy_setopt(reg->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(reg->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(reg->curl, CURLOPT_TIMEOUT_MS, reg->timeout_ms);
    curl_easy_setopt(reg->curl, CURLOPT_CONNECTTIMEOUT_MS, reg->timeout_ms);
    curl_easy_setopt(reg->curl, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(reg->curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(reg->curl, CURLOPT_USERAGENT, "certbridge");
    if (reg->ca_bundle) { /* pinned: only this bundle, not the system store */
        curl_easy_setopt(reg->curl, CURLOPT_CAINFO, reg->ca_bundle);
        curl_easy_setopt(reg->curl, CURLOPT_CAPATH, NULL);
    }
    if (reg->cert) {
        curl_easy_setopt(reg->curl, CURLOPT_SSLCERT, reg->cert);
        curl_easy_setopt(reg->curl, CURLOPT_SSLKEY, reg->key);
    }
    if (reg->user) {
        curl_easy_setopt(reg->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(reg->curl, CURLOPT_USERNAME, reg->user);
        curl_easy_setopt(reg->curl, CURLOPT_PASSWORD, reg->password ? reg->password : "");
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/vnd.schemaregistry.v1+json, "
                                   "application/json");
    if (post) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/vnd.schemaregistry.v1+json");
        curl_easy_setopt(reg->curl, CURLOPT_POSTFIELDS, post);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(reg->curl, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(reg->curl, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(reg->curl);
    if (body->overflow) {
        cb_error_setf(err, CB_ERR_TRANSPORT, CB_ERRF_RETRIABLE,
                      "schema registry %s: answer larger than %d bytes", reg->url,
                      CB_REGISTRY_BODY_MAX);
        goto out;
    }
    if (cc != CURLE_OK) {
        cb_error_setf(err, CB_ERR_TRANSPORT, CB_ERRF_RETRIABLE,
                      "schema registry %s unreachable: %s", reg->url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(reg->curl, CURLINFO_RESPONSE_CODE, status);
    rc = 0;
out:
    curl_easy_setopt(reg->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    return rc;
}

/* A non-2xx answer other than the caller's permanent ones: retriable. */
static int http_status_error(cb_registry_t *reg, long status, const body_t *body, cb_error_t *err)
{
    return cb_error_setf(err, CB_ERR_TRANSPORT, CB_ERRF_RETRIABLE,
                         "schema registry %s answered HTTP %ld: %.200s", reg->url, status,
                         body->data ? body->data : "");
}

/* The registry's own error code in an error answer ({"error_code": N,
 * ...}), or -1 when the body is not one (a proxy's or a wrong base URL's
 * answer, which every message would get alike). 40403 is "schema not found"
 * in Confluent, Karapace and Apicurio alike; Apicurio answers error_code 0
 * for a path it does not serve. */
static long registry_error_code(const body_t *body)
{
    json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    json_t *code = json_object_get(root, "error_code");
    long v = json_is_integer(code) ? (long)json_integer_value(code) : -1;

    json_decref(root);
    return v;
}

/* The "message" of a registry's error answer, else the body itself, into
 * buf (cut to fit). */
static const char *registry_message(const body_t *body, char *buf, size_t size)
{
    json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    json_t *m = json_object_get(root, "message");

    snprintf(buf, size, "%s",
             json_is_string(m) ? json_string_value(m)
             : body->data      ? body->data
                               : "");
    json_decref(root);
    return buf;
}

/* ---- references ---- */

/* One named type a reference defines: its full name and its JSON. */
typedef struct named_ref {
    char *fullname;
    json_t *json;
    bool placed; /* already defined in the schema being built */
} named_ref_t;

typedef struct inliner {
    named_ref_t *refs;
    size_t nrefs;
    cb_error_t *err;
} inliner_t;

static bool is_primitive(const char *s)
{
    static const char *const prim[] = {"null",  "boolean", "int",   "long",
                                       "float", "double",  "bytes", "string"};
    size_t i;

    for (i = 0; i < sizeof(prim) / sizeof(prim[0]); i++)
        if (!strcmp(s, prim[i]))
            return true;
    return false;
}

/* The full name of name in namespace ns (a dotted name is full already),
 * into buf; NULL when it does not fit. */
static const char *full_name(const char *name, const char *ns, char *buf, size_t size)
{
    int n = strchr(name, '.') || !ns || !*ns ? snprintf(buf, size, "%s", name)
                                             : snprintf(buf, size, "%s.%s", ns, name);
    return n >= 0 && (size_t)n < size ? buf : NULL;
}

/* The namespace a named type's definition gives the names inside it: the
 * part of a dotted name before its last dot, else its "namespace", else the
 * enclosing one. Into buf. */
static const char *inner_ns(json_t *def, const char *ns, char *buf, size_t size)
{
    const char *name = json_string_value(json_object_get(def, "name")) ?: "";
    const char *dot = strrchr(name, '.');
    json_t *jns = json_object_get(def, "namespace");

    if (dot)
        snprintf(buf, size, "%.*s", (int)(dot - name), name);
    else
        snprintf(buf, size, "%s", json_is_string(jns) ? json_string_value(jns) : ns ? ns : "");
    return buf;
}

static named_ref_t *find_ref(inliner_t *in, const char *fullname)
{
    size_t i;

    for (i = 0; i < in->nrefs; i++)
        if (!strcmp(in->refs[i].fullname, fullname))
            return &in->refs[i];
    return NULL;
}

static int walk(inliner_t *in, json_t **node, const char *ns, int depth);

/* Marks a named type defined in place (so that a reference to the same name
 * is not inlined a second time) and walks into it. */
static int walk_definition(inliner_t *in, json_t *def, const char *type, const char *ns, int depth)
{
    char full[512], inner[512];
    const char *name = json_string_value(json_object_get(def, "name"));
    named_ref_t *r;
    json_t *fields, *f;
    size_t i;

    if (name &&
        full_name(name, json_string_value(json_object_get(def, "namespace")) ?: ns, full,
                  sizeof(full)) &&
        (r = find_ref(in, full)))
        r->placed = true;
    if (strcmp(type, "record") != 0 && strcmp(type, "error") != 0)
        return 0;
    inner_ns(def, ns, inner, sizeof(inner));
    fields = json_object_get(def, "fields");
    json_array_foreach(fields, i, f)
    {
        json_t *t = json_incref(json_object_get(f, "type"));
        int rc = t ? walk(in, &t, inner, depth + 1) : 0;
        if (rc == 0 && t != json_object_get(f, "type") && json_object_set(f, "type", t) != 0)
            rc = cb_error_set(in->err, CB_ERR_NOMEM, "out of memory");
        json_decref(t);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Walks one type position. A name of a reference not yet placed is
 * replaced (*node) by a copy of the reference's definition, walked in turn. */
static int walk(inliner_t *in, json_t **node, const char *ns, int depth)
{
    json_t *n = *node, *t;
    char full[512];
    named_ref_t *r;
    size_t i;

    if (depth > INLINE_DEPTH_MAX)
        return cb_error_set(in->err, CB_ERR_DECODE, "schema nested deeper than %d levels",
                            INLINE_DEPTH_MAX);
    if (json_is_string(n)) {
        if (is_primitive(json_string_value(n)) ||
            !full_name(json_string_value(n), ns, full, sizeof(full)) || !(r = find_ref(in, full)) ||
            r->placed)
            return 0;
        r->placed = true;
        if (!(n = json_deep_copy(r->json)))
            return cb_error_set(in->err, CB_ERR_NOMEM, "out of memory");
        json_decref(*node);
        *node = n;
        /* the definition keeps its own namespace: made explicit where it
         * had one, a dotted name carries it anyway */
        return walk_definition(in, n, json_string_value(json_object_get(n, "type")) ?: "", "",
                               depth);
    }
    if (json_is_array(n)) { /* a union */
        for (i = 0; i < json_array_size(n); i++) {
            json_t *e = json_incref(json_array_get(n, i));
            int rc = walk(in, &e, ns, depth + 1);
            if (rc == 0 && e != json_array_get(n, i) && json_array_set(n, i, e) != 0)
                rc = cb_error_set(in->err, CB_ERR_NOMEM, "out of memory");
            json_decref(e);
            if (rc < 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_object(n))
        return 0;
    t = json_object_get(n, "type");
    if (json_is_string(t) &&
        (!strcmp(json_string_value(t), "record") || !strcmp(json_string_value(t), "error") ||
         !strcmp(json_string_value(t), "enum") || !strcmp(json_string_value(t), "fixed")))
        return walk_definition(in, n, json_string_value(t), ns, depth);
    if (json_is_string(t) && !strcmp(json_string_value(t), "array"))
        t = json_object_get(n, "items");
    else if (json_is_string(t) && !strcmp(json_string_value(t), "map"))
        t = json_object_get(n, "values");
    if (!t) /* {"type": "int"} and the like keep their key */
        return 0;
    {
        const char *key = t == json_object_get(n, "items")    ? "items"
                          : t == json_object_get(n, "values") ? "values"
                                                              : "type";
        json_t *c = json_incref(t);
        int rc = walk(in, &c, ns, depth + 1);
        if (rc == 0 && c != t && json_object_set(n, key, c) != 0)
            rc = cb_error_set(in->err, CB_ERR_NOMEM, "out of memory");
        json_decref(c);
        return rc;
    }
}

int cb_registry_inline_references(const char *schema_json, size_t len, const char *const *refs,
                                  size_t nrefs, char **out, cb_error_t *err)
{
    inliner_t in = {NULL, 0, err};
    json_t *root = NULL;
    size_t i;
    int rc = -1;

    *out = NULL;
    if (nrefs > CB_REGISTRY_REFS_MAX)
        return cb_error_set(err, CB_ERR_LIMIT, "more than %d schema references",
                            CB_REGISTRY_REFS_MAX);
    if (nrefs && !(in.refs = calloc(nrefs, sizeof(*in.refs)))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < nrefs; i++) {
        json_t *j = json_loads(refs[i], JSON_REJECT_DUPLICATES, NULL);
        const char *name = json_string_value(json_object_get(j, "name"));
        const char *ns = json_string_value(json_object_get(j, "namespace"));
        char full[512];

        in.refs[in.nrefs].json = j;
        in.nrefs++;
        if (!json_is_object(j) || !name || !full_name(name, ns, full, sizeof(full))) {
            cb_error_set(err, CB_ERR_DECODE,
                         "referenced schema %zu is not a named type (record, enum or fixed)", i);
            goto out;
        }
        if (!(in.refs[i].fullname = strdup(full))) {
            cb_error_set(err, CB_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if (!(root = json_loadb(schema_json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL))) {
        cb_error_set(err, CB_ERR_DECODE, "writer schema is not JSON");
        goto out;
    }
    if (walk(&in, &root, "", 0) < 0)
        goto out;
    if (!(*out = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY))) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = 0;
out:
    for (i = 0; i < in.nrefs; i++) {
        free(in.refs[i].fullname);
        json_decref(in.refs[i].json);
    }
    free(in.refs);
    json_decref(root);
    return rc;
}

/* GET /subjects/{subject}/versions/{version} of one reference: its schema
 * text and its own references. A 404 that is the registry's own answer
 * (Confluent: 40401 subject, 40402 version; Apicurio: 40402 for both) is
 * CB_ERR_NOTFOUND; any other failure is retriable. */
static int fetch_reference(cb_registry_t *reg, uint32_t id, const char *subject, json_int_t version,
                           char **text, json_t **refs, cb_error_t *err)
{
    body_t body = {NULL, 0, false};
    char path[CB_REGISTRY_SUBJECT_MAX * 3 + 64], *esc = NULL;
    long status = 0, code;
    int rc = -1;

    if (strlen(subject) > CB_REGISTRY_SUBJECT_MAX)
        return cb_error_set(err, CB_ERR_DECODE,
                            "schema id %u: reference subject longer than %d "
                            "bytes",
                            id, CB_REGISTRY_SUBJECT_MAX);
    if (!reg->curl && !(reg->curl = curl_easy_init()))
        return cb_error_set(err, CB_ERR_NOMEM, "schema registry: curl_easy_init failed");
    if (!(esc = curl_easy_escape(reg->curl, subject, 0)))
        return cb_error_set(err, CB_ERR_NOMEM, "schema registry: out of memory");
    snprintf(path, sizeof(path), "/subjects/%s/versions/%lld", esc, (long long)version);
    curl_free(esc);
    if (http(reg, "GET", path, NULL, &status, &body, err) < 0)
        goto out;
    code = status == 404 ? registry_error_code(&body) : -1;
    if (code >= 40401 && code <= 40403) {
        cb_error_set(err, CB_ERR_NOTFOUND,
                     "schema id %u references subject %.200s version %lld, which the Schema "
                     "Registry does not have (404, error_code %ld); register it",
                     id, subject, (long long)version, code);
        goto out;
    }
    if (status < 200 || status > 299) {
        http_status_error(reg, status, &body, err);
        goto out;
    }
    if (parse_answer(body.data ? body.data : "", body.len, text, refs, err) < 0) {
        cb_error_prefix(err, "schema id %u, reference %.200s version %lld", id, subject,
                        (long long)version);
        goto out;
    }
    rc = 0;
out:
    free(body.data);
    return rc;
}

/* The writer schema text with every reference (transitively, breadth first,
 * each subject/version once) fetched and inlined. Takes over refs. */
static int resolve_references(cb_registry_t *reg, uint32_t id, const char *text, json_t *refs,
                              char **out, cb_error_t *err)
{
    json_t *queue = json_array(), *seen = json_object(), *r;
    char *texts[CB_REGISTRY_REFS_MAX];
    size_t ntexts = 0, i, k;
    int rc = -1;

    if (!queue || !seen) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        goto out;
    }
    json_array_extend(queue, refs);
    for (i = 0; i < json_array_size(queue); i++) {
        const char *subject;
        json_int_t version;
        char key[CB_REGISTRY_SUBJECT_MAX + 32], *t = NULL;
        json_t *more = NULL;

        r = json_array_get(queue, i);
        subject = json_string_value(json_object_get(r, "subject"));
        version = json_integer_value(json_object_get(r, "version"));
        snprintf(key, sizeof(key), "%.*s#%lld", CB_REGISTRY_SUBJECT_MAX, subject,
                 (long long)version);
        if (json_object_get(seen, key))
            continue;
        if (ntexts == CB_REGISTRY_REFS_MAX) {
            cb_error_set(err, CB_ERR_LIMIT, "schema id %u: more than %d schema references", id,
                         CB_REGISTRY_REFS_MAX);
            goto out;
        }
        json_object_set_new(seen, key, json_true());
        if (fetch_reference(reg, id, subject, version, &t, &more, err) < 0)
            goto out;
        texts[ntexts++] = t;
        if (more) {
            json_array_extend(queue, more);
            json_decref(more);
        }
    }
    if (cb_registry_inline_references(text, strlen(text), (const char *const *)texts, ntexts, out,
                                      err) < 0) {
        cb_error_prefix(err, "schema id %u", id);
        goto out;
    }
    rc = 0;
out:
    for (k = 0; k < ntexts; k++)
        free(texts[k]);
    json_decref(queue);
    json_decref(seen);
    json_decref(refs);
    return rc;
}

/* Cache first; else GET /schemas/ids/{id} (and its references). Permanent
 * (docs/ARCHITECTURE.md §6): no registry configured (CB_ERR_CONFIG), the
 * registry's 404 "schema not found" (error_code 40403: CB_ERR_NOTFOUND), a
 * reference it does not have (CB_ERR_NOTFOUND), a schema that is not Avro or
 * does not parse (CB_ERR_DECODE). The not-found ones are an operator's to
 * fix; their messages say what to do, and the pipeline adds where to replay
 * the message from. Every other failure is retriable, the pipeline holds the
 * batch: the registry unreachable, timing out, 5xx, 429, 401/403
 * (credentials an operator fixes; every framed message would fail alike), a
 * 404 that is not the registry's own. */
int cb_registry_get_schema(cb_registry_t *reg, uint32_t id, avro_schema_t *out, cb_error_t *err)
{
    avro_schema_t s = cache_find(reg, id);
    body_t body = {NULL, 0, false};
    char path[64], *text = NULL, *full = NULL;
    json_t *refs = NULL;
    long status = 0;
    int rc = -1;

    if (s) {
        *out = avro_schema_incref(s);
        return 0;
    }
    if (!reg->url) /* no registry will ever answer: permanent for this message */
        return cb_error_set(err, CB_ERR_CONFIG,
                            "schema id %u: Confluent-framed value but no schema_registry.url "
                            "is configured; configure the registry",
                            id);
    snprintf(path, sizeof(path), "/schemas/ids/%u", id);
    if (http(reg, "GET", path, NULL, &status, &body, err) < 0)
        goto out;
    if (status == 404 && registry_error_code(&body) == 40403) {
        cb_error_set(err, CB_ERR_NOTFOUND,
                     "unknown schema id %u (the Schema Registry answered 404); register the "
                     "writer schema",
                     id);
        goto out;
    }
    if (status == 404) {
        cb_error_setf(err, CB_ERR_TRANSPORT, CB_ERRF_RETRIABLE,
                      "schema registry %s answered HTTP 404 without the registry's error_code "
                      "40403 (is schema_registry.url the registry's base URL?): %.120s",
                      reg->url, body.data ? body.data : "");
        goto out;
    }
    if (status < 200 || status > 299) {
        http_status_error(reg, status, &body, err);
        goto out;
    }
    if (parse_answer(body.data ? body.data : "", body.len, &text, &refs, err) < 0) {
        cb_error_prefix(err, "schema id %u", id);
        goto out;
    }
    if (refs && resolve_references(reg, id, text, refs, &full, err) < 0)
        goto out;
    if (parse_schema(id, full ? full : text, strlen(full ? full : text), &s, err) < 0)
        goto out;
    cache_put(reg, id, s);
    *out = avro_schema_incref(s);
    rc = 0;
out:
    free(text);
    free(full);
    free(body.data);
    return rc;
}

/* The subject's path segment, URL-escaped, into path after prefix. */
static int subject_path(cb_registry_t *reg, const char *prefix, const char *subject,
                        const char *suffix, char *path, size_t size, cb_error_t *err)
{
    char *esc;

    if (strlen(subject) > CB_REGISTRY_SUBJECT_MAX)
        return cb_error_set(err, CB_ERR_CONFIG, "subject longer than %d bytes",
                            CB_REGISTRY_SUBJECT_MAX);
    if (!reg->curl && !(reg->curl = curl_easy_init()))
        return cb_error_set(err, CB_ERR_NOMEM, "schema registry: curl_easy_init failed");
    if (!(esc = curl_easy_escape(reg->curl, subject, 0)))
        return cb_error_set(err, CB_ERR_NOMEM, "schema registry: out of memory");
    snprintf(path, size, "%s%s%s", prefix, esc, suffix);
    curl_free(esc);
    return 0;
}

/* POST /subjects/{subject}/versions {"schema": ...}: answers {"id": N}. */
int cb_registry_register(cb_registry_t *reg, const char *subject, const char *schema_json,
                         size_t len, uint32_t *id, cb_error_t *err)
{
    body_t body = {NULL, 0, false};
    json_t *req = NULL, *resp = NULL, *jid;
    char *post = NULL, path[CB_REGISTRY_SUBJECT_MAX * 3 + 32], reason[512];
    avro_schema_t s = NULL;
    long status = 0;
    int rc = -1;

    if (!reg->url)
        return cb_error_set(err, CB_ERR_CONFIG, "schema_registry.url is not set");
    if (subject_path(reg, "/subjects/", subject, "/versions", path, sizeof(path), err) < 0)
        return -1;
    if (parse_schema(0, schema_json, len, &s, err) < 0)
        goto out;
    if (!(req = json_pack("{s:s%}", "schema", schema_json, len)) ||
        !(post = json_dumps(req, JSON_COMPACT))) {
        cb_error_set(err, CB_ERR_NOMEM, "schema registry: out of memory");
        goto out;
    }
    if (http(reg, "POST", path, post, &status, &body, err) < 0)
        goto out;
    /* Confluent: 409 with error_code 409; Apicurio: 409 with error_code 0 */
    if (status == 409) {
        cb_error_set(err, CB_ERR_CONFIG,
                     "subject %s: the Schema Registry refused the schema as incompatible with "
                     "the subject's versions (HTTP 409): %.300s",
                     subject, registry_message(&body, reason, sizeof(reason)));
        goto out;
    }
    if (status == 422) {
        cb_error_set(err, CB_ERR_CONFIG,
                     "subject %s: the Schema Registry refused the schema (HTTP 422): %.300s",
                     subject, registry_message(&body, reason, sizeof(reason)));
        goto out;
    }
    if (status < 200 || status > 299) {
        http_status_error(reg, status, &body, err);
        goto out;
    }
    resp = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    jid = json_object_get(resp, "id");
    if (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
        json_integer_value(jid) > (json_int_t)UINT32_MAX) {
        cb_error_setf(err, CB_ERR_TRANSPORT, CB_ERRF_RETRIABLE,
                      "subject %s: the Schema Registry's answer has no id: %.200s", subject,
                      body.data ? body.data : "");
        goto out;
    }
    *id = (uint32_t)json_integer_value(jid);
    cache_put(reg, *id, s);
    s = NULL;
    rc = 0;
out:
    if (s)
        avro_schema_decref(s);
    json_decref(req);
    json_decref(resp);
    free(post);
    free(body.data);
    return rc;
}

/* GET path: the compatibility level it answers into level ("" when the
 * answer is the registry's own 404), 0; -1 on any other failure. Confluent
 * answers {"compatibilityLevel": L}, some versions {"compatibility": L}. */
static int get_level(cb_registry_t *reg, const char *path, char *level, size_t size,
                     cb_error_t *err)
{
    body_t body = {NULL, 0, false};
    json_t *root = NULL, *l;
    long status = 0;
    int rc = -1;

    level[0] = '\0';
    if (http(reg, "GET", path, NULL, &status, &body, err) < 0)
        goto out;
    if (status == 404 && registry_error_code(&body) >= 40400) {
        rc = 0; /* Confluent 40401/40408: no level of the subject's own */
        goto out;
    }
    if (status < 200 || status > 299) {
        http_status_error(reg, status, &body, err);
        goto out;
    }
    root = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    l = json_object_get(root, "compatibilityLevel");
    if (!l)
        l = json_object_get(root, "compatibility");
    if (!json_is_string(l)) {
        cb_error_setf(err, CB_ERR_TRANSPORT, CB_ERRF_RETRIABLE,
                      "schema registry %s: GET %.200s answered no compatibility level: %.200s",
                      reg->url, path, body.data ? body.data : "");
        goto out;
    }
    snprintf(level, size, "%s", json_string_value(l));
    rc = 0;
out:
    json_decref(root);
    free(body.data);
    return rc;
}

int cb_registry_ensure_compatibility(cb_registry_t *reg, const char *subject, const char *level,
                                     bool *changed, cb_error_t *err)
{
    char path[CB_REGISTRY_SUBJECT_MAX * 3 + 32], own[64], global[64], reason[512];
    body_t body = {NULL, 0, false};
    json_t *req = NULL;
    char *post = NULL;
    long status = 0;
    int rc = -1;

    *changed = false;
    if (!reg->url)
        return cb_error_set(err, CB_ERR_CONFIG, "schema_registry.url is not set");
    if (subject_path(reg, "/config/", subject, "", path, sizeof(path), err) < 0 ||
        get_level(reg, path, own, sizeof(own), err) < 0)
        return -1;
    if (*own) {
        /* Apicurio answers the global level for a subject without its own */
        if (get_level(reg, "/config", global, sizeof(global), err) < 0)
            return -1;
        if (strcmp(own, global) != 0 || !strcmp(own, level))
            return 0; /* a level of its own, or the one we would set */
    }
    if (!(req = json_pack("{s:s}", "compatibility", level)) ||
        !(post = json_dumps(req, JSON_COMPACT))) {
        cb_error_set(err, CB_ERR_NOMEM, "schema registry: out of memory");
        goto out;
    }
    if (http(reg, "PUT", path, post, &status, &body, err) < 0)
        goto out;
    /* a level the registry refuses: Confluent 422 (42203), Apicurio 500
     * with error_code 0; the level was checked against the valid ones */
    if (status == 422 || status == 400) {
        cb_error_set(err, CB_ERR_CONFIG,
                     "subject %s: the Schema Registry refused compatibility level %s (HTTP "
                     "%ld): %.300s",
                     subject, level, status, registry_message(&body, reason, sizeof(reason)));
        goto out;
    }
    if (status < 200 || status > 299) {
        http_status_error(reg, status, &body, err);
        goto out;
    }
    *changed = true;
    cb_log(CB_LOG_INFO, "schema_registry",
           "subject %s had no compatibility level of its own (%s); set %s", subject,
           *own ? own : "none", level);
    rc = 0;
out:
    json_decref(req);
    free(post);
    free(body.data);
    return rc;
}
