/* test_text.c — cmocka tests for llmgw_text: hex and decimal digits written by hand
 * (compared with snprintf), floor division, and the era arithmetic between days and
 * proleptic Gregorian dates (round trips, and gmtime_r where time_t reaches); the
 * short Content-Length reader (against strtoll). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "llmgw_text.h"

static void test_hex(void **state)
{
    (void)state;
    unsigned char in[256];
    char out[2 * sizeof in + 1], want[2 * sizeof in + 1];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)i;
    for (size_t n = 0; n <= sizeof in; n++) {
        memset(out, 'x', sizeof out);
        llmgw_hex(in, n, out);
        for (size_t i = 0; i < n; i++)
            snprintf(want + 2 * i, 3, "%02x", in[i]);
        want[2 * n] = '\0';
        assert_string_equal(out, want);
    }
}

static void expect_dec(int64_t v)
{
    char buf[24], want[24], *end = buf + sizeof buf;
    char *s = llmgw_dec_back(end, v);
    snprintf(want, sizeof want, "%lld", (long long)v);
    assert_int_equal((size_t)(end - s), strlen(want));
    assert_memory_equal(s, want, strlen(want));
}

static void test_dec_back(void **state)
{
    (void)state;
    static const int64_t edge[] = {0, 1, -1, 9, 10, -10, 99, 100, 123456789, INT64_MAX,
                                   INT64_MIN, INT64_MIN + 1, 1000000000000000000LL};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
        expect_dec(edge[i]);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        expect_dec((int64_t)x >> (x % 64));
    }
}

static void test_floordiv(void **state)
{
    (void)state;
    assert_int_equal(llmgw_floordiv(7, 2), 3);
    assert_int_equal(llmgw_floordiv(-7, 2), -4);
    assert_int_equal(llmgw_floordiv(-8, 2), -4);
    assert_int_equal(llmgw_floordiv(7, -2), -4);
    assert_int_equal(llmgw_floordiv(-7, -2), 3);
    assert_int_equal(llmgw_floordiv(0, 5), 0);
    assert_int_equal(llmgw_floordiv(-1, 86400), -1);
}

static void test_days_and_dates(void **state)
{
    (void)state;
    int64_t y;
    int m, d;
    assert_int_equal(llmgw_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(llmgw_days_from_civil(2000, 3, 1), 11017);
    llmgw_civil_from_days(-1, &y, &m, &d);
    assert_true(y == 1969 && m == 12 && d == 31);
    llmgw_civil_from_days(llmgw_days_from_civil(2024, 2, 29), &y, &m, &d);
    assert_true(y == 2024 && m == 2 && d == 29);
    /* every day of years 0000-9999 round trips and follows the day before */
    int64_t first = llmgw_days_from_civil(0, 1, 1), last = llmgw_days_from_civil(9999, 12, 31);
    int64_t py = -1;
    int pm = 12, pd = 31;
    for (int64_t day = first; day <= last; day++) {
        llmgw_civil_from_days(day, &y, &m, &d);
        assert_int_equal(llmgw_days_from_civil(y, m, d), day);
        assert_true((y == py && m == pm && d == pd + 1) ||
                    (y == py && m == pm + 1 && d == 1) || (y == py + 1 && m == 1 && d == 1));
        py = y, pm = m, pd = d;
    }
    /* and agrees with gmtime_r */
    for (time_t t = -86400LL * 365 * 200; t < 86400LL * 365 * 300; t += 86400 * 7 + 3601) {
        struct tm tm;
        gmtime_r(&t, &tm);
        llmgw_civil_from_days(llmgw_floordiv((int64_t)t, 86400), &y, &m, &d);
        assert_true(y == tm.tm_year + 1900 && m == tm.tm_mon + 1 && d == tm.tm_mday);
    }
}

static void test_dec_parse_short(void **state)
{
    (void)state;
    static const char *const good[] = {"0", "7", "1088", "000123", "999999999999999999"};
    static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1x", "0x10",
                                      "1234567890123456789", "12.5"};
    int64_t v;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_true(llmgw_dec_parse_short(good[i], &v));
        assert_true(v == strtoll(good[i], NULL, 10));
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (llmgw_dec_parse_short(bad[i], &v))
            fail_msg("took \"%s\"", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_dec_back),
        cmocka_unit_test(test_floordiv),
        cmocka_unit_test(test_days_and_dates),
        cmocka_unit_test(test_dec_parse_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
