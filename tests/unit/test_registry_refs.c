/* test_registry_refs.c: cb_registry_inline_references, the part of reading a
 * writer schema with references that needs no registry: where each
 * referenced named type is put, names resolved in their namespace, a type
 * used twice defined once, references of references, and what is refused. */
#include "cb_test.h"

#include <avro.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/schema_registry.h"

/* Inlines and checks the result text, then that Avro-C parses it. */
static void expect_inlined(const char *schema, const char *const *refs, size_t n, const char *want)
{
    char *out = NULL;
    avro_schema_t s;
    cb_error_t err;

    if (cb_registry_inline_references(schema, strlen(schema), refs, n, &out, &err) < 0)
        fail_msg("inline: %s", err.msg);
    assert_string_equal(out, want);
    if (avro_schema_from_json_length(out, strlen(out), &s) != 0)
        fail_msg("Avro-C: %s", avro_strerror());
    avro_schema_decref(s);
    free(out);
}

#define ORG                                                                                        \
    "{\"type\":\"record\",\"name\":\"Org\",\"namespace\":\"vn.hr\",\"fields\":[{\"name\":"         \
    "\"code\",\"type\":\"string\"}]}"

/* The first use (a field), then a later use by name, in a union and an
 * array: the definition is placed once, where Avro needs it first. */
static void test_first_use_defines(void **state)
{
    const char *refs[] = {ORG};

    (void)state;
    expect_inlined("{\"type\":\"record\",\"name\":\"Ev\",\"namespace\":\"vn.hr\",\"fields\":["
                   "{\"name\":\"org\",\"type\":\"Org\"},"
                   "{\"name\":\"prev\",\"type\":[\"null\",\"vn.hr.Org\"]},"
                   "{\"name\":\"merged\",\"type\":{\"type\":\"array\",\"items\":\"Org\"}}]}",
                   refs, 1,
                   "{\"type\":\"record\",\"name\":\"Ev\",\"namespace\":\"vn.hr\",\"fields\":["
                   "{\"name\":\"org\",\"type\":" ORG "},"
                   "{\"name\":\"prev\",\"type\":[\"null\",\"vn.hr.Org\"]},"
                   "{\"name\":\"merged\",\"type\":{\"type\":\"array\",\"items\":\"Org\"}}]}");
}

/* First used inside a union: the union's branch becomes the definition. */
static void test_in_union(void **state)
{
    const char *refs[] = {ORG};

    (void)state;
    expect_inlined("{\"type\":\"record\",\"name\":\"Ev\",\"namespace\":\"x\",\"fields\":["
                   "{\"name\":\"prev\",\"type\":[\"null\",\"vn.hr.Org\"],\"default\":null}]}",
                   refs, 1,
                   "{\"type\":\"record\",\"name\":\"Ev\",\"namespace\":\"x\",\"fields\":["
                   "{\"name\":\"prev\",\"type\":[\"null\"," ORG "],\"default\":null}]}");
}

/* A reference of a reference (Org uses Province, given in either order); a
 * reference nobody uses is left out; a name of another namespace is not the
 * reference ("Org" in namespace x is x.Org). */
static void test_transitive_and_unused(void **state)
{
    const char *prov = "{\"type\":\"enum\",\"name\":\"vn.geo.Province\",\"symbols\":[\"DN\"]}";
    const char *org = "{\"type\":\"record\",\"name\":\"Org\",\"namespace\":\"vn.hr\",\"fields\":["
                      "{\"name\":\"p\",\"type\":\"vn.geo.Province\"}]}";
    const char *unused = "{\"type\":\"fixed\",\"name\":\"vn.Unused\",\"size\":4}";
    const char *refs[] = {prov, unused, org};
    char *out = NULL;
    cb_error_t err;

    (void)state;
    expect_inlined("{\"type\":\"record\",\"name\":\"Ev\",\"fields\":[{\"name\":\"o\",\"type\":"
                   "\"vn.hr.Org\"},{\"name\":\"q\",\"type\":\"vn.geo.Province\"}]}",
                   refs, 3,
                   "{\"type\":\"record\",\"name\":\"Ev\",\"fields\":[{\"name\":\"o\",\"type\":"
                   "{\"type\":\"record\",\"name\":\"Org\",\"namespace\":\"vn.hr\",\"fields\":["
                   "{\"name\":\"p\",\"type\":{\"type\":\"enum\",\"name\":\"vn.geo.Province\","
                   "\"symbols\":[\"DN\"]}}]}},{\"name\":\"q\",\"type\":\"vn.geo.Province\"}]}");
    /* "Org" inside namespace x names x.Org: not inlined, so Avro-C cannot
     * resolve it (the caller's CB_ERR_DECODE) */
    {
        const char *in_x = "{\"type\":\"record\",\"name\":\"Ev\",\"namespace\":\"x\","
                           "\"fields\":[{\"name\":\"o\",\"type\":\"Org\"}]}";
        assert_int_equal(cb_registry_inline_references(in_x, strlen(in_x), refs, 3, &out, &err), 0);
    }
    assert_null(strstr(out, "\"fields\":[{\"name\":\"code\""));
    assert_non_null(strstr(out, "{\"name\":\"o\",\"type\":\"Org\"}"));
    free(out);
}

/* A schema that defines the referenced type itself keeps its definition. */
static void test_defined_in_place(void **state)
{
    const char *refs[] = {ORG};
    const char *s = "{\"type\":\"record\",\"name\":\"Ev\",\"fields\":[{\"name\":\"a\",\"type\":" ORG
                    "},{\"name\":\"b\",\"type\":\"vn.hr.Org\"}]}";

    (void)state;
    expect_inlined(s, refs, 1, s);
}

static void test_refused(void **state)
{
    const char *not_named[] = {"[\"null\",\"string\"]"};
    const char *not_json[] = {"{\"type\":"};
    const char *ok[] = {ORG};
    char *out = (char *)1;
    cb_error_t err;

    (void)state;
    assert_int_equal(cb_registry_inline_references("\"vn.hr.Org\"", 11, not_named, 1, &out, &err),
                     -1);
    assert_int_equal(err.code, CB_ERR_DECODE);
    assert_string_equal(err.msg, "referenced schema 0 is not a named type (record, enum or fixed)");
    assert_null(out);
    assert_int_equal(cb_registry_inline_references("\"vn.hr.Org\"", 11, not_json, 1, &out, &err),
                     -1);
    assert_int_equal(err.code, CB_ERR_DECODE);
    assert_int_equal(cb_registry_inline_references("{\"type\":", 8, ok, 1, &out, &err), -1);
    assert_string_equal(err.msg, "writer schema is not JSON");
    assert_int_equal(cb_registry_inline_references("\"vn.hr.Org\"", 11, ok,
                                                   CB_REGISTRY_REFS_MAX + 1, &out, &err),
                     -1);
    assert_int_equal(err.code, CB_ERR_LIMIT);
    /* a bare name that is the whole schema */
    assert_int_equal(cb_registry_inline_references("\"vn.hr.Org\"", 11, ok, 1, &out, &err), 0);
    assert_string_equal(out, ORG);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_use_defines),
        cmocka_unit_test(test_in_union),
        cmocka_unit_test(test_transitive_and_unused),
        cmocka_unit_test(test_defined_in_place),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
