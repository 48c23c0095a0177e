/* test_metrics.c — cmocka tests for llmgw_metrics: label sanitizing (UTF-8, control
 * characters) and escaping, histogram bucket edges, exact decimal formatting, log-safe
 * encoding, line counts and the exact text of families, samples and histograms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llmgw_metrics.h"

typedef struct {
    char buf[8192];
    size_t len;
} sink;

static void sink_write(void *ctx, const char *s, size_t n)
{
    sink *k = ctx;
    assert_true(k->len + n < sizeof k->buf);
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    k->buf[k->len] = '\0';
}

static void test_bucket_edges(void **state)
{
    (void)state;
    assert_int_equal(llmgw_hist_bucket(0), 0);
    assert_int_equal(llmgw_hist_bucket(10000), 0);         /* le="0.01" includes 10 ms */
    assert_int_equal(llmgw_hist_bucket(10001), 1);
    assert_int_equal(llmgw_hist_bucket(25000), 1);
    assert_int_equal(llmgw_hist_bucket(999999), 6);
    assert_int_equal(llmgw_hist_bucket(1000000), 6);
    assert_int_equal(llmgw_hist_bucket(120000000), LLMGW_HIST_NBOUNDS - 1);
    assert_int_equal(llmgw_hist_bucket(120000001), LLMGW_HIST_NBOUNDS);
    assert_int_equal(llmgw_hist_bucket(UINT64_MAX), LLMGW_HIST_NBOUNDS);
    for (int i = 1; i < LLMGW_HIST_NBOUNDS; i++)
        assert_true(llmgw_hist_bounds_us[i] > llmgw_hist_bounds_us[i - 1]);
}

static void test_sanitize(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(llmgw_label_sanitize("gpt-4o", out, sizeof out), 6);
    assert_string_equal(out, "gpt-4o");
    /* valid UTF-8 is kept: é (2 bytes), € (3), 😀 (4) */
    assert_int_equal(llmgw_label_sanitize("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", out,
                                          sizeof out), 14);
    assert_string_equal(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* control characters, stray continuation bytes, overlong forms, surrogates,
     * truncated sequences and code points above U+10FFFF all become '?' */
    llmgw_label_sanitize("a\nb\tc\x7f", out, sizeof out);
    assert_string_equal(out, "a?b?c?");
    llmgw_label_sanitize("\x80x\xc0\xaf", out, sizeof out);
    assert_string_equal(out, "?x??");
    llmgw_label_sanitize("\xed\xa0\x80", out, sizeof out);
    assert_string_equal(out, "???");
    llmgw_label_sanitize("ab\xe2\x82", out, sizeof out);
    assert_string_equal(out, "ab??");
    llmgw_label_sanitize("\xf4\x90\x80\x80", out, sizeof out);
    assert_string_equal(out, "????");
    llmgw_label_sanitize("", out, sizeof out);
    assert_string_equal(out, "");
    /* too long for the buffer: refused, not cut */
    assert_true(llmgw_label_sanitize("abcd", out, 4) == (size_t)-1);
    assert_int_equal(llmgw_label_sanitize("abc", out, 4), 3);
    assert_true(llmgw_label_sanitize("ab\xc3\xa9", out, 4) == (size_t)-1);
}

static void test_escape(void **state)
{
    char out[64];
    (void)state;
    const char *v = "a\\b\"c\nd";
    assert_int_equal(llmgw_label_escape(v, strlen(v), out, sizeof out), 10);
    assert_string_equal(out, "a\\\\b\\\"c\\nd");
    assert_true(llmgw_label_escape("\"\"", 2, out, 4) == (size_t)-1);
    assert_int_equal(llmgw_label_escape("\"\"", 2, out, 5), 4);
}

static void test_log_encode(void **state)
{
    char out[64];
    (void)state;
    assert_true(llmgw_log_is_safe("gpt-4o-mini"));
    assert_true(llmgw_log_is_safe("a \"quoted\" \\ value"));  /* mod_log_config escapes these */
    assert_false(llmgw_log_is_safe("caf\xc3\xa9"));
    assert_false(llmgw_log_is_safe("100%"));
    assert_false(llmgw_log_is_safe("a\tb"));
    assert_int_equal(llmgw_log_encode("caf\xc3\xa9 100%\n", out, sizeof out), 19);
    assert_string_equal(out, "caf%C3%A9 100%25%0A");
    assert_true(llmgw_log_encode("\xff", out, 3) == (size_t)-1);
    assert_int_equal(llmgw_log_encode("\xff", out, 4), 3);
}

static void test_count_lines(void **state)
{
    (void)state;
    assert_int_equal(llmgw_count_lines("", 0), 0);
    assert_int_equal(llmgw_count_lines("{}\n", 3), 1);
    assert_int_equal(llmgw_count_lines("{}\n{}\n{}\n", 9), 3);
    assert_int_equal(llmgw_count_lines("{}\n{}", 5), 1);
    /* only the given length is looked at */
    assert_int_equal(llmgw_count_lines("{}\n{}\n", 3), 1);
}

static void test_format_numbers(void **state)
{
    char b[40];
    (void)state;
    assert_int_equal(llmgw_format_pico(0, b, sizeof b), 14);
    assert_string_equal(b, "0.000000000000");
    llmgw_format_pico(1, b, sizeof b);
    assert_string_equal(b, "0.000000000001");
    llmgw_format_pico(UINT64_C(302500000), b, sizeof b);
    assert_string_equal(b, "0.000302500000");
    llmgw_format_pico(UINT64_C(12000000000000), b, sizeof b);
    assert_string_equal(b, "12.000000000000");
    llmgw_format_pico(UINT64_MAX, b, sizeof b);
    assert_string_equal(b, "18446744.073709551615");
    assert_int_equal(llmgw_format_pico(1, b, 5), 0);
    llmgw_format_us(1500, b, sizeof b);
    assert_string_equal(b, "0.001500");
    llmgw_format_us(UINT64_C(120000000), b, sizeof b);
    assert_string_equal(b, "120.000000");
}

static void test_family_and_samples(void **state)
{
    sink k = {.len = 0};
    llmgw_emitter em = {sink_write, &k};
    llmgw_label l[3] = {{"provider", "openai"}, {"model", "a\"b\\c\nd"}, {"status", "200"}};
    (void)state;
    llmgw_expose_family(&em, "llmgw_x_total", "counter", "Line one\\two\nthree.");
    llmgw_expose_u64(&em, "llmgw_x_total", l, 3, 42);
    llmgw_expose_u64(&em, "llmgw_y", NULL, 0, UINT64_MAX);
    llmgw_expose_sample(&em, "llmgw_z", l, 1, "1.5");
    llmgw_label empty = {"team", NULL};
    llmgw_expose_u64(&em, "llmgw_w", &empty, 1, 0);
    assert_string_equal(k.buf,
        "# HELP llmgw_x_total Line one\\\\two\\nthree.\n"
        "# TYPE llmgw_x_total counter\n"
        "llmgw_x_total{provider=\"openai\",model=\"a\\\"b\\\\c\\nd\",status=\"200\"} 42\n"
        "llmgw_y 18446744073709551615\n"
        "llmgw_z{provider=\"openai\"} 1.5\n"
        "llmgw_w{team=\"\"} 0\n");
}

static void test_histogram_text(void **state)
{
    sink k = {.len = 0};
    llmgw_emitter em = {sink_write, &k};
    llmgw_label l[1] = {{"provider", "p"}};
    uint64_t b[LLMGW_HIST_NBUCKETS] = {0};
    (void)state;
    b[llmgw_hist_bucket(5000)]++;         /* 5 ms */
    b[llmgw_hist_bucket(300000)]++;       /* 0.3 s */
    b[llmgw_hist_bucket(300000)]++;
    b[llmgw_hist_bucket(200000000)]++;    /* 200 s: only +Inf */
    llmgw_expose_histogram(&em, "h_seconds", l, 1, b, 200605000);
    assert_string_equal(k.buf,
        "h_seconds_bucket{provider=\"p\",le=\"0.01\"} 1\n"
        "h_seconds_bucket{provider=\"p\",le=\"0.025\"} 1\n"
        "h_seconds_bucket{provider=\"p\",le=\"0.05\"} 1\n"
        "h_seconds_bucket{provider=\"p\",le=\"0.1\"} 1\n"
        "h_seconds_bucket{provider=\"p\",le=\"0.25\"} 1\n"
        "h_seconds_bucket{provider=\"p\",le=\"0.5\"} 3\n"
        "h_seconds_bucket{provider=\"p\",le=\"1\"} 3\n"
        "h_seconds_bucket{provider=\"p\",le=\"2.5\"} 3\n"
        "h_seconds_bucket{provider=\"p\",le=\"5\"} 3\n"
        "h_seconds_bucket{provider=\"p\",le=\"10\"} 3\n"
        "h_seconds_bucket{provider=\"p\",le=\"20\"} 3\n"
        "h_seconds_bucket{provider=\"p\",le=\"30\"} 3\n"
        "h_seconds_bucket{provider=\"p\",le=\"60\"} 3\n"
        "h_seconds_bucket{provider=\"p\",le=\"120\"} 3\n"
        "h_seconds_bucket{provider=\"p\",le=\"+Inf\"} 4\n"
        "h_seconds_sum{provider=\"p\"} 200.605000\n"
        "h_seconds_count{provider=\"p\"} 4\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_edges),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_log_encode),
        cmocka_unit_test(test_count_lines),
        cmocka_unit_test(test_format_numbers),
        cmocka_unit_test(test_family_and_samples),
        cmocka_unit_test(test_histogram_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
