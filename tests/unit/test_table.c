/* test_table.c: the terminal table module, table-driven, on exact output:
 * display widths of Vietnamese text composed and decomposed (combining
 * marks), alignment, continuation and span rows, elision, the byte caps and
 * the UTF-8-safe formatting of cells. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/table.h"
#include "certbridge/text.h"

/* "Đồng Nai" precomposed (Đ U+0110, ồ U+1ED3) and decomposed (o, U+0302
 * circumflex, U+0300 grave): 8 columns both, 11 and 13 bytes. */
#define DONG_NAI_NFC "\xC4\x90\xE1\xBB\x93ng Nai"
#define DONG_NAI_NFD "\xC4\x90o\xCC\x82\xCC\x80ng Nai"
#define ELL          "\xE2\x80\xA6" /* … */

#define MAX_ROWS 6

/* One row of a case: its kind, its cells, or (span_col >= 0) a span row. */
typedef struct case_row {
    cb_table_row_kind_t kind;
    const char *cells[4];
    int span_col; /* -1: a row of cells */
    const char *span;
} case_row_t;

typedef struct table_case {
    const char *name;
    size_t ncols;
    cb_table_column_t cols[4];
    size_t nrows;
    case_row_t rows[MAX_ROWS];
    const char *expected;
} table_case_t;

#define ROW(...)                                                                                   \
    {                                                                                              \
        CB_TABLE_ROW, {__VA_ARGS__}, -1, NULL                                                      \
    }
#define CONT(...)                                                                                  \
    {                                                                                              \
        CB_TABLE_CONTINUATION, {__VA_ARGS__}, -1, NULL                                             \
    }
#define SPAN(col, text)                                                                            \
    {                                                                                              \
        CB_TABLE_ROW, {NULL}, col, text                                                            \
    }

static const table_case_t cases[] = {
    {"widths in display columns, not bytes",
     3,
     {{.title = "CODE"}, {.title = "NAME"}, {.title = "N"}},
     3,
     {ROW("000.00.01.H19", DONG_NAI_NFC, "1"), ROW("x", DONG_NAI_NFD, "2"),
      ROW("y", "S\xE1\xBB\x9F T\xC3\xA0i ch\xC3\xADnh", "3")},
     "CODE           NAME          N\n"
     "000.00.01.H19  " DONG_NAI_NFC "      1\n"
     "x              " DONG_NAI_NFD "      2\n"
     "y              S\xE1\xBB\x9F T\xC3\xA0i ch\xC3\xADnh  3\n"},
    {"right alignment, header included",
     3,
     {{.title = "ACTION"},
      {.title = "TOTAL", .align = CB_TABLE_RIGHT},
      {.title = "OK", .align = CB_TABLE_RIGHT}},
     2,
     {ROW("REVOKE", "4", "-"), ROW("RECALL_DEVICE", "12", "123")},
     "ACTION         TOTAL   OK\n"
     "REVOKE             4    -\n"
     "RECALL_DEVICE     12  123\n"},
    {"continuation rows blank the grouped columns only",
     4,
     {{.title = "EVENT", .grouped = true},
      {.title = "TYPE", .grouped = true},
      {.title = "ACTION"},
      {.title = "HOLDER"}},
     4,
     {ROW("e-1", "MERGED", "RETAIN", DONG_NAI_NFC), CONT("e-1", "MERGED", "REVOKE", "Sở B"),
      CONT(NULL, NULL, "RECALL_DEVICE", "Sở B"), ROW("e-22", "DISSOLVED", "REVOKE", "C")},
     "EVENT  TYPE       ACTION         HOLDER\n"
     "e-1    MERGED     RETAIN         " DONG_NAI_NFC "\n"
     "                  REVOKE         Sở B\n"
     "                  RECALL_DEVICE  Sở B\n"
     "e-22   DISSOLVED  REVOKE         C\n"},
    {"no trailing spaces: empty last cells and an untitled note column",
     3,
     {{.title = "ACTION"}, {.title = "STATUS"}, {.title = NULL}},
     3,
     {ROW("CHANGE_INFO", "SUCCEEDED", "(leader may keep signing)"),
      ROW("REVIEW", "NEEDS_REVIEW", ""), ROW("RETAIN", "", NULL)},
     "ACTION       STATUS\n"
     "CHANGE_INFO  SUCCEEDED     (leader may keep signing)\n"
     "REVIEW       NEEDS_REVIEW\n"
     "RETAIN\n"},
    {"span rows start at their column and take no part in the widths",
     3,
     {{.title = "EVENT", .grouped = true}, {.title = "ACTION"}, {.title = "HOLDER"}},
     4,
     {ROW("e-1 RENAMED", "CHANGE_INFO", "P-1 L\xC3\xAA \xC3\x81nh"),
      SPAN(2, "-> CN=L\xC3\xAA \xC3\x81nh,OU=" DONG_NAI_NFD ",C=VN"), SPAN(1, ""),
      CONT(NULL, "REVOKE", "P-2")},
     "EVENT        ACTION       HOLDER\n"
     "e-1 RENAMED  CHANGE_INFO  P-1 L\xC3\xAA \xC3\x81nh\n"
     "                          -> CN=L\xC3\xAA \xC3\x81nh,OU=" DONG_NAI_NFD ",C=VN\n"
     "\n"
     "             REVOKE       P-2\n"},
    {"elided columns: a serial's end, a name's start",
     2,
     {{.title = "CERTIFICATE", .max_width = 9, .elide = CB_TABLE_ELIDE_START},
      {.title = "NAME", .max_width = 6, .elide = CB_TABLE_ELIDE_END}},
     3,
     {ROW("5A0E3F21DDE0206E", "S\xE1\xBB\x9F K\xE1\xBA\xBF ho\xE1\xBA\xA1\x63h"),
      ROW("DDE0206E", DONG_NAI_NFD), ROW("123456789", "Nai")},
     "CERTIFICATE  NAME\n" ELL "DDE0206E    S\xE1\xBB\x9F K\xE1\xBA\xBF" ELL "\n"
     "DDE0206E     \xC4\x90o\xCC\x82\xCC\x80ng " ELL "\n"
     "123456789    Nai\n"},
    {"no header when no column has a title",
     2,
     {{.title = NULL}, {.title = ""}},
     2,
     {ROW("a", "b"), ROW("\xE6\xBC\xA2\xE5\xAD\x97", "wide")},
     "a     b\n"
     "\xE6\xBC\xA2\xE5\xAD\x97  wide\n"},
};

/* Writes t to a string; caller frees. */
static char *render(const cb_table_t *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cb_error_t err;

    assert_non_null(f);
    assert_int_equal(cb_table_write(t, f, &err), 0);
    fclose(f);
    return buf;
}

static void test_cases(void **state)
{
    size_t i, r;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const table_case_t *c = &cases[i];
        cb_error_t err;
        cb_table_t *t = cb_table_new(c->cols, c->ncols, &err);
        char *out;

        assert_non_null(t);
        for (r = 0; r < c->nrows; r++) {
            const case_row_t *row = &c->rows[r];
            int rc = row->span_col >= 0
                         ? cb_table_add_span(t, (size_t)row->span_col, row->span, &err)
                         : cb_table_add_row(t, row->cells, row->kind, &err);
            assert_int_equal(rc, 0);
        }
        assert_int_equal(cb_table_rows(t), c->nrows);
        out = render(t);
        if (strcmp(out, c->expected) != 0)
            fail_msg("case \"%s\":\n--- got ---\n%s--- expected ---\n%s", c->name, out,
                     c->expected);
        free(out);
        cb_table_destroy(t);
    }
}

typedef struct elide_case {
    const char *in;
    size_t max_width;
    cb_table_elide_t where;
    size_t size;
    const char *expected;
} elide_case_t;

static const elide_case_t elide_cases[] = {
    /* a serial number's last 8 digits, as the demo shows them */
    {"5A0E3F21DDE0206E", 9, CB_TABLE_ELIDE_START, 64, ELL "DDE0206E"},
    {"DDE0206E", 9, CB_TABLE_ELIDE_START, 64, "DDE0206E"},
    {"123456789", 9, CB_TABLE_ELIDE_START, 64, "123456789"}, /* fits exactly */
    {"1234567890", 9, CB_TABLE_ELIDE_END, 64, "12345678" ELL},
    /* precomposed: "Sở Kế hoạch" to 6 columns keeps "Sở Kế" */
    {"S\xE1\xBB\x9F K\xE1\xBA\xBF ho\xE1\xBA\xA1\x63h", 6, CB_TABLE_ELIDE_END, 64,
     "S\xE1\xBB\x9F K\xE1\xBA\xBF" ELL},
    /* decomposed: the marks of the last letter kept stay with it */
    {"Ke\xCC\x82\xCC\x81 hoa\xCC\xA3\x63h", 3, CB_TABLE_ELIDE_END, 64, "Ke\xCC\x82\xCC\x81" ELL},
    /* decomposed, from the end: the marks of a dropped letter go with it */
    {DONG_NAI_NFD, 6, CB_TABLE_ELIDE_START, 64, ELL "g Nai"},
    {"\xC4\x90o\xCC\x82\xCC\x80ng", 3, CB_TABLE_ELIDE_START, 64, ELL "ng"},
    /* a wide character is never split: 5 columns from "漢字漢字" */
    {"\xE6\xBC\xA2\xE5\xAD\x97\xE6\xBC\xA2\xE5\xAD\x97", 5, CB_TABLE_ELIDE_END, 64,
     "\xE6\xBC\xA2\xE5\xAD\x97" ELL},
    {"abc", 0, CB_TABLE_ELIDE_END, 64, ELL}, /* 0 counts as 1 */
    /* a buffer too small for the elided text: cut at a character, "…" kept */
    {"abcdef", 4, CB_TABLE_ELIDE_END, 5, "a" ELL},
};

static void test_elide(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(elide_cases) / sizeof(elide_cases[0]); i++) {
        const elide_case_t *c = &elide_cases[i];
        char buf[64];
        char *got = cb_table_elide(c->in, c->max_width, c->where, buf, c->size);

        assert_ptr_equal(got, buf);
        if (strcmp(buf, c->expected) != 0)
            fail_msg("elide case %zu: \"%s\" (expected \"%s\")", i, buf, c->expected);
        assert_true(cb_text_utf8_valid(buf, strlen(buf)));
        assert_true(cb_text_width(buf) <= (c->max_width ? c->max_width : 1));
    }
}

typedef struct cellf_case {
    size_t size;
    const char *arg;
    const char *expected;
} cellf_case_t;

/* "ễ" is 3 bytes (E1 BB 85). */
static const cellf_case_t cellf_cases[] = {
    {16, "abc", "abc"},
    {4, "abc", "abc"},                                               /* exactly fits */
    {8, "\xE1\xBB\x85\xE1\xBB\x85\xE1\xBB\x85", "\xE1\xBB\x85" ELL}, /* not "ễ" + half of one */
    {10, "\xE1\xBB\x85\xE1\xBB\x85\xE1\xBB\x85", "\xE1\xBB\x85\xE1\xBB\x85\xE1\xBB\x85"},
    {9, "\xE1\xBB\x85\xE1\xBB\x85\xE1\xBB\x85", "\xE1\xBB\x85" ELL},
    {5, "abcdef", "a" ELL},
    {4, "abcdef", "abc"},    /* no room for the ellipsis */
    {3, "\xE1\xBB\x85", ""}, /* the lead and one more byte: left out */
    {3, "a\xE1\xBB\x85", "a"},
    {1, "abc", ""},
};

static void test_cellf(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cellf_cases) / sizeof(cellf_cases[0]); i++) {
        char buf[32];
        memset(buf, 'x', sizeof(buf));
        cb_table_cellf(buf, cellf_cases[i].size, "%s", cellf_cases[i].arg);
        if (strcmp(buf, cellf_cases[i].expected) != 0)
            fail_msg("cellf case %zu: \"%s\" (expected \"%s\")", i, buf, cellf_cases[i].expected);
        assert_true(strlen(buf) < cellf_cases[i].size);
        assert_true(cb_text_utf8_valid(buf, strlen(buf)));
    }
}

/* A cell past CB_TABLE_CELL_MAX bytes is cut at a character and ends in
 * "…"; so is a span; the table keeps valid UTF-8. */
static void test_cell_cap(void **state)
{
    static const cb_table_column_t cols[] = {{.title = NULL}};
    size_t n = CB_TABLE_CELL_MAX / 3 + 10, i;
    char *big = malloc(n * 3 + 1), *out;
    const char *cells[1] = {big};
    cb_error_t err;
    cb_table_t *t = cb_table_new(cols, 1, &err);

    (void)state;
    assert_non_null(big);
    assert_non_null(t);
    for (i = 0; i < n; i++)
        memcpy(big + 3 * i, "\xE1\xBB\x85", 3);
    big[n * 3] = '\0';
    assert_int_equal(cb_table_add_row(t, cells, CB_TABLE_ROW, &err), 0);
    assert_int_equal(cb_table_add_span(t, 0, big, &err), 0);
    out = render(t);
    {
        /* two lines, each the most whole "ễ" that fit with the ellipsis */
        size_t keep = (CB_TABLE_CELL_MAX - 3) / 3, line = keep * 3 + 3 + 1;
        assert_int_equal(strlen(out), 2 * line);
        assert_memory_equal(out + keep * 3, ELL "\n", 4);
        assert_memory_equal(out + line + keep * 3, ELL "\n", 4);
        assert_true(cb_text_utf8_valid(out, strlen(out)));
    }
    free(out);
    free(big);
    cb_table_destroy(t);
}

/* Bad arguments are errors, not crashes. */
static void test_errors(void **state)
{
    static const cb_table_column_t cols[CB_TABLE_MAX_COLS + 1] = {{.title = "A"}};
    cb_error_t err;
    cb_table_t *t;

    (void)state;
    assert_null(cb_table_new(cols, 0, &err));
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_null(cb_table_new(cols, CB_TABLE_MAX_COLS + 1, &err));
    assert_int_equal(err.code, CB_ERR_INVALID);
    t = cb_table_new(cols, 2, &err);
    assert_non_null(t);
    assert_int_equal(cb_table_add_span(t, 2, "x", &err), -1);
    assert_int_equal(err.code, CB_ERR_INVALID);
    assert_string_equal(err.msg, "table: span at column 2 of 2");
    assert_int_equal(cb_table_rows(t), 0);
    cb_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),  cmocka_unit_test(test_elide),
        cmocka_unit_test(test_cellf),  cmocka_unit_test(test_cell_cap),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
