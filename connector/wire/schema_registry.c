/*
 * schema_registry.c: Confluent-compatible Schema Registry client over libcurl,
 * with a per-id cache of writer schemas parsed by Avro-C.
 */
#include "certbridge/schema_registry.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cache_entry {
    uint32_t id;
    avro_schema_t schema; /* one reference owned by the cache; NULL = free */
} cache_entry_t;

struct cb_registry {
    char *url; /* without trailing '/'; NULL = none */
    long timeout_ms;
    char *user, *password;
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
    if (reg->password) {
        memset(reg->password, 0, strlen(reg->password));
        free(reg->password);
    }
    free(reg);
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

/* Parses {"schema": "..."} with jansson (duplicates refused). */
int cb_registry_parse_schema_response(const char *body, size_t len, char **schema_json,
                                      cb_error_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr), *s, *t;
    int rc = -1;

    *schema_json = NULL;
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
    if (!(*schema_json = strndup(json_string_value(s), json_string_length(s)))) {
        cb_error_set(err, CB_ERR_NOMEM, "schema registry: out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* One HTTP request to the registry: GET when post is NULL, else POST of post
 * (JSON). Fills *status and body; transport failures are retriable. */
static int http(cb_registry_t *reg, const char *path, const char *post, long *status, body_t *body,
                cb_error_t *err)
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

/* Whether a 404 body is the registry's own "schema not found" answer
 * ({"error_code": 40403, ...}, Confluent's and Karapace's code), as opposed
 * to a 404 of a proxy or of a wrong base URL, which every message would get
 * alike. */
static bool schema_not_found(const body_t *body)
{
    json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    json_t *code = json_object_get(root, "error_code");
    bool found = json_is_integer(code) && json_integer_value(code) == 40403;

    json_decref(root);
    return found;
}

/* Cache first; else GET /schemas/ids/{id}. Permanent (docs/ARCHITECTURE.md
 * §6): no registry configured (CB_ERR_CONFIG), the registry's 404 "schema
 * not found" (error_code 40403: CB_ERR_NOTFOUND), a schema that is not Avro
 * or does not parse (CB_ERR_DECODE). The first two are an operator's to
 * fix; their messages say what to do, and the pipeline adds where to
 * replay the message from. Every
 * other failure is retriable, the pipeline holds the batch: the registry
 * unreachable, timing out, 5xx, 429, 401/403 (credentials an operator
 * fixes; every framed message would fail alike), a 404 that is not the
 * registry's own. */
int cb_registry_get_schema(cb_registry_t *reg, uint32_t id, avro_schema_t *out, cb_error_t *err)
{
    avro_schema_t s = cache_find(reg, id);
    body_t body = {NULL, 0, false};
    char path[64], *text = NULL;
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
    if (http(reg, path, NULL, &status, &body, err) < 0)
        goto out;
    if (status == 404 && schema_not_found(&body)) {
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
    if (cb_registry_parse_schema_response(body.data ? body.data : "", body.len, &text, err) < 0) {
        cb_error_prefix(err, "schema id %u", id);
        goto out;
    }
    if (parse_schema(id, text, strlen(text), &s, err) < 0)
        goto out;
    cache_put(reg, id, s);
    *out = avro_schema_incref(s);
    rc = 0;
out:
    free(text);
    free(body.data);
    return rc;
}

/* POST /subjects/{subject}/versions {"schema": ...}: answers {"id": N}. */
int cb_registry_register(cb_registry_t *reg, const char *subject, const char *schema_json,
                         size_t len, uint32_t *id, cb_error_t *err)
{
    body_t body = {NULL, 0, false};
    json_t *req = NULL, *resp = NULL, *jid;
    char *post = NULL, *esc = NULL, path[CB_REGISTRY_SUBJECT_MAX * 3 + 32];
    avro_schema_t s = NULL;
    long status = 0;
    int rc = -1;

    if (!reg->url)
        return cb_error_set(err, CB_ERR_CONFIG, "schema_registry.url is not set");
    if (strlen(subject) > CB_REGISTRY_SUBJECT_MAX)
        return cb_error_set(err, CB_ERR_INVALID, "subject longer than %d bytes",
                            CB_REGISTRY_SUBJECT_MAX);
    if (parse_schema(0, schema_json, len, &s, err) < 0)
        goto out;
    if (!reg->curl && !(reg->curl = curl_easy_init())) {
        cb_error_set(err, CB_ERR_NOMEM, "schema registry: curl_easy_init failed");
        goto out;
    }
    if (!(esc = curl_easy_escape(reg->curl, subject, 0)) ||
        !(req = json_pack("{s:s%}", "schema", schema_json, len)) ||
        !(post = json_dumps(req, JSON_COMPACT))) {
        cb_error_set(err, CB_ERR_NOMEM, "schema registry: out of memory");
        goto out;
    }
    snprintf(path, sizeof(path), "/subjects/%s/versions", esc);
    if (http(reg, path, post, &status, &body, err) < 0)
        goto out;
    if (status == 409 || status == 422) {
        cb_error_set(err, CB_ERR_INVALID,
                     "subject %s: the Schema Registry refused the schema "
                     "(HTTP %ld): %.200s",
                     subject, status, body.data ? body.data : "");
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
    curl_free(esc);
    free(body.data);
    return rc;
}
