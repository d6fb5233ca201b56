/*
 * ca_test.c: see ca_test.h.
 */
#include "ca_test.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/cb_test.h"

cb_config_t *ct_config(const char *dir, const char *const *extra)
{
    char path[1024];
    cb_config_t *cfg = cb_config_new();
    cb_error_t err;

    cb_error_clear(&err);
    assert_non_null(cfg);
    snprintf(path, sizeof(path), "%s/certbridge.conf", dir);
    if (cb_config_load_file(cfg, path, &err) < 0)
        fail_msg("%s", err.msg);
    for (; extra && *extra; extra++) {
        char kv[1024], *eq;
        snprintf(kv, sizeof(kv), "%s", *extra);
        eq = strchr(kv, '=');
        assert_non_null(eq);
        *eq = '\0';
        if (cb_config_set(cfg, kv, eq + 1, &err) < 0)
            fail_msg("%s", err.msg);
    }
    return cfg;
}

cb_ca_client_t *ct_client(const char *dir, const char *const *extra)
{
    cb_config_t *cfg = ct_config(dir, extra);
    cb_error_t err;
    cb_ca_client_t *c;

    cb_error_clear(&err);
    c = cb_ca_client_new(cfg, &err);
    cb_config_destroy(cfg);
    if (!c)
        fail_msg("cb_ca_client_new: %s", err.msg);
    return c;
}

typedef struct buf {
    char *data;
    size_t len;
} buf_t;

static size_t on_data(char *p, size_t size, size_t n, void *opaque)
{
    buf_t *b = opaque;
    char *d = realloc(b->data, b->len + size * n + 1);

    if (!d)
        return 0;
    memcpy(d + b->len, p, size * n);
    b->data = d;
    b->len += size * n;
    d[b->len] = '\0';
    return size * n;
}

long ct_get(const char *dir, const char *path, char **body, size_t *len)
{
    cb_config_t *cfg = ct_config(dir, NULL);
    char url[2048];
    buf_t b = {calloc(1, 1), 0};
    long status = 0;
    CURL *e = curl_easy_init();

    assert_non_null(e);
    snprintf(url, sizeof(url), "%s%s", cb_config_get(cfg, "ca.url"), path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CAINFO, cb_config_get(cfg, "ca.tls.ca_bundle"));
    curl_easy_setopt(e, CURLOPT_SSLCERT, cb_config_get(cfg, "ca.tls.cert"));
    curl_easy_setopt(e, CURLOPT_SSLKEY, cb_config_get(cfg, "ca.tls.key"));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    cb_config_destroy(cfg);
    *body = b.data;
    if (len)
        *len = b.len;
    return status;
}

long ct_ledger_count(const char *dir, const char *key, long *with_key)
{
    char *body = NULL;
    json_t *root, *entries, *it;
    size_t i;
    long total;

    assert_int_equal(ct_get(dir, "/v1/ledger", &body, NULL), 200);
    root = json_loads(body, 0, NULL);
    assert_non_null(root);
    entries = json_object_get(root, "entries");
    total = (long)json_integer_value(json_object_get(root, "count"));
    assert_int_equal((long)json_array_size(entries), total);
    if (with_key) {
        *with_key = 0;
        json_array_foreach(entries, i, it)
        {
            const char *k = json_string_value(json_object_get(it, "idempotency_key"));
            if (key && k && !strcmp(k, key))
                (*with_key)++;
        }
    }
    json_decref(root);
    free(body);
    return total;
}

char *ct_run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    buf_t b = {calloc(1, 1), 0};
    char chunk[4096];
    size_t n;

    if (!p) {
        free(b.data);
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        on_data(chunk, 1, n, &b);
    if (pclose(p) != 0) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

void ct_write_temp(const char *data, size_t len, char *out, size_t size)
{
    int fd;

    snprintf(out, size, "/tmp/cb-ca-test-XXXXXX");
    fd = mkstemp(out);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

void ct_lookup(cb_ca_client_t *c, cb_holder_type_t type, const char *holder_id, cb_ca_req_t *req)
{
    cb_error_t err;

    cb_error_clear(&err);
    memset(req, 0, sizeof(*req));
    req->op = CB_CA_LOOKUP;
    req->holder_type = type;
    req->holder_id = holder_id;
    assert_int_equal(cb_ca_call(c, req, &err), 0);
    assert_int_equal(req->klass, CB_CA_SUCCESS);
    assert_int_equal(req->http_status, 200);
}
