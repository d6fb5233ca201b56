/* test_log.c: personal data never reaches the log. National ids (12 digits)
 * and e-mail addresses are masked on every way a line is written: every
 * level, inside JSON escapes, in long messages cut to the line limit, and
 * through cb_log_mask, which the command front-ends use for their own
 * error lines. The lines are read back from standard error. */
#include "cb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certbridge/log.h"

#define NATIONAL_ID "079123456789"
#define MASKED_ID   "0791*****789"
#define EMAIL       "an.nv@dongnai.gov.vn"
#define MASKED_MAIL "a****@dongnai.gov.vn"

/* Runs cb_log with stderr redirected to a file and returns what was
 * written (caller frees). */
static char *capture(cb_log_level_t level, const char *module, const char *msg)
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    long n;
    char *out;

    assert_non_null(tmp);
    fflush(stderr);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    cb_log(level, module, "%s", msg);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    n = ftell(tmp);
    assert_true(n >= 0);
    out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    rewind(tmp);
    assert_int_equal(fread(out, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return out;
}

/* Every level writes the masked message and never the original. */
static void test_every_level_masks(void **state)
{
    static const cb_log_level_t levels[] = {CB_LOG_DEBUG, CB_LOG_INFO, CB_LOG_WARN,
                                            CB_LOG_ERROR};
    size_t i;

    (void)state;
    cb_log_set_level(CB_LOG_DEBUG);
    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        char *line = capture(levels[i], "pipeline",
                             "dead letter: person " NATIONAL_ID " <" EMAIL "> refused");
        assert_non_null(strstr(line, "\"msg\":\"dead letter: person " MASKED_ID " <" MASKED_MAIL
                                     "> refused\""));
        assert_null(strstr(line, NATIONAL_ID));
        assert_null(strstr(line, "an.nv@"));
        free(line);
    }
    cb_log_set_level(CB_LOG_INFO);
}

/* A level below the threshold writes nothing at all. */
static void test_below_level_silent(void **state)
{
    char *line;

    (void)state;
    cb_log_set_level(CB_LOG_WARN);
    line = capture(CB_LOG_INFO, "x", NATIONAL_ID);
    assert_string_equal(line, "");
    free(line);
    cb_log_set_level(CB_LOG_INFO);
}

/* Quotes and control characters are escaped after masking; an id right
 * next to them is still found. */
static void test_escapes(void **state)
{
    char *line;

    (void)state;
    line = capture(CB_LOG_ERROR, "executor", "\"" NATIONAL_ID "\"\n" EMAIL "\t");
    assert_non_null(strstr(line, "\\\"" MASKED_ID "\\\"\\u000a" MASKED_MAIL "\\u0009"));
    assert_null(strstr(line, NATIONAL_ID));
    free(line);
}

/* A message longer than a log line is cut; an id that the cut splits must
 * not leave its first digits in the line. */
static void test_cut_message(void **state)
{
    size_t pad;

    (void)state;
    for (pad = 2030; pad < 2050; pad++) {
        char *msg = malloc(pad + sizeof(NATIONAL_ID) + 1);
        char *line, *p;
        size_t run = 0;

        assert_non_null(msg);
        memset(msg, 'x', pad);
        memcpy(msg + pad, NATIONAL_ID, sizeof(NATIONAL_ID));
        line = capture(CB_LOG_INFO, "x", msg);
        assert_null(strstr(line, NATIONAL_ID));
        /* no run of 5 or more digits of the id survives */
        for (p = line; *p; p++) {
            run = (*p >= '0' && *p <= '9') ? run + 1 : 0;
            if (run >= 5)
                fail_msg("pad %zu: %zu digits in a row left in %s", pad, run, p - run + 1);
        }
        free(line);
        free(msg);
    }
}

/* cb_log_mask itself: the table of what is and is not personal data. */
static void test_mask_table(void **state)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {NATIONAL_ID, MASKED_ID},
        {"id=" NATIONAL_ID ";", "id=" MASKED_ID ";"},
        {"ids " NATIONAL_ID "," NATIONAL_ID, "ids " MASKED_ID "," MASKED_ID},
        {"12345678901", "12345678901"},     /* 11 digits: not an id */
        {"1234567890123", "1234567890123"}, /* 13 digits: not an id */
        {"offset 42, partition 3", "offset 42, partition 3"},
        {EMAIL, MASKED_MAIL},
        {"to: " EMAIL ", cc: b.tt+x@hcm.gov.vn", "to: " MASKED_MAIL ", cc: b*****@hcm.gov.vn"},
        {"x@y", "x@y"}, /* one-character local part: nothing to hide */
        {"@ alone", "@ alone"},
        {"", ""},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char buf[256];
        strcpy(buf, rows[i].in);
        cb_log_mask(buf);
        if (strcmp(buf, rows[i].out) != 0)
            fail_msg("row %zu: \"%s\" -> \"%s\", expected \"%s\"", i, rows[i].in, buf,
                     rows[i].out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_level_masks), cmocka_unit_test(test_below_level_silent),
        cmocka_unit_test(test_escapes),           cmocka_unit_test(test_cut_message),
        cmocka_unit_test(test_mask_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
