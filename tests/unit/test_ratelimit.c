/* test_ratelimit.c — cmocka tests for llmgw_ratelimit: LLMGWRateLimit parsing and its
 * errors, windows (epoch-aligned seconds, calendar months across year ends and leap
 * years), applicability, counter keys, remaining counts, Retry-After and reset text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llmgw_ratelimit.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__}), \
    (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static llmgw_rl_rule parse_ok(const char *name, const char *const *argv, int argc)
{
    llmgw_rl_rule r;
    char err[256] = "";
    int rc = llmgw_rl_parse(name, argc, argv, &r, err, sizeof err);
    if (rc != 0)
        fail_msg("unexpected error: %s", err);
    return r;
}

static void expect_error(const char *name, const char *const *argv, int argc, const char *needle)
{
    llmgw_rl_rule r;
    char err[256] = "";
    assert_int_equal(llmgw_rl_parse(name, argc, argv, &r, err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_parse_spec_examples(void **state)
{
    llmgw_rl_rule r = parse_ok("global-user-limit", ARGS("per=user", "requests=1000", "window=1h"));
    assert_string_equal(r.name, "global-user-limit");
    assert_int_equal(r.per, LLMGW_RL_USER);
    assert_int_equal(r.kind, LLMGW_RL_REQUESTS);
    assert_int_equal(r.limit, 1000);
    assert_int_equal(r.seconds, 3600);
    assert_int_equal(r.months, 0);
    assert_null(r.route);
    assert_null(r.model);
    assert_string_equal(r.window_spec, "1h");

    r = parse_ok("openai-limit", ARGS("per=user", "route=openai", "requests=500", "window=1h"));
    assert_string_equal(r.route, "openai");

    r = parse_ok("team-tokens", ARGS("per=team", "tokens=2000000", "window=1d"));
    assert_int_equal(r.per, LLMGW_RL_TEAM);
    assert_int_equal(r.kind, LLMGW_RL_TOKENS);
    assert_int_equal(r.limit, 2000000);
    assert_int_equal(r.seconds, 86400);

    r = parse_ok("user-budget", ARGS("per=user", "dollars=50", "window=1mo"));
    assert_int_equal(r.kind, LLMGW_RL_DOLLARS);
    assert_int_equal(r.limit, (int64_t)50 * 1000000000000);
    assert_int_equal(r.months, 1);
    assert_int_equal(r.seconds, 0);
    assert_string_equal(r.window_spec, "1mo");

    r = parse_ok("k", ARGS("model=gpt-4*", "per=key", "window=30s", "requests=5"));
    assert_int_equal(r.per, LLMGW_RL_KEY);
    assert_string_equal(r.model, "gpt-4*");
    r = parse_ok("i", ARGS("per=ip", "requests=5", "window=5m"));
    assert_int_equal(r.per, LLMGW_RL_IP);
    r = parse_ok("g", ARGS("per=global", "requests=5", "window=5m"));
    assert_int_equal(r.per, LLMGW_RL_GLOBAL);
}

static void test_window_canonical(void **state)
{
    llmgw_rl_rule r = parse_ok("a", ARGS("per=user", "requests=1", "window=60s"));
    assert_string_equal(r.window_spec, "1m");
    r = parse_ok("a", ARGS("per=user", "requests=1", "window=90s"));
    assert_string_equal(r.window_spec, "90s");
    r = parse_ok("a", ARGS("per=user", "requests=1", "window=24h"));
    assert_string_equal(r.window_spec, "1d");
    r = parse_ok("a", ARGS("per=user", "requests=1", "window=012mo"));
    assert_string_equal(r.window_spec, "12mo");
}

static void test_parse_errors(void **state)
{
    expect_error("", ARGS("per=user", "requests=1", "window=1h"), "rule name");
    expect_error("a:b", ARGS("per=user", "requests=1", "window=1h"), "rule name");
    expect_error("a", ARGS("requests=1", "window=1h"), "per=");
    expect_error("a", ARGS("per=users", "requests=1", "window=1h"), "per=");
    expect_error("a", ARGS("per=user", "window=1h"), "exactly one");
    expect_error("a", ARGS("per=user", "requests=1", "tokens=5", "window=1h"), "exactly one");
    expect_error("a", ARGS("per=user", "requests=1"), "window=");
    expect_error("a", ARGS("per=user", "requests=-1", "window=1h"), "whole number");
    expect_error("a", ARGS("per=user", "requests=1.5", "window=1h"), "whole number");
    expect_error("a", ARGS("per=user", "requests=", "window=1h"), "whole number");
    expect_error("a", ARGS("per=user", "requests=1000000000001", "window=1h"), "whole number");
    expect_error("a", ARGS("per=user", "requests=1", "window=1w"), "window=");
    expect_error("a", ARGS("per=user", "requests=1", "window=0s"), "window=");
    expect_error("a", ARGS("per=user", "requests=1", "window=367d"), "window=");
    expect_error("a", ARGS("per=user", "requests=1", "window=13mo"), "window=");
    expect_error("a", ARGS("per=user", "requests=1", "window=h"), "window=");
    expect_error("a", ARGS("per=user", "dollars=1e3", "window=1h"), "dollars=");
    expect_error("a", ARGS("per=user", "dollars=1000001", "window=1h"), "dollars=");
    expect_error("a", ARGS("per=user", "dollars=0.0000000000001", "window=1h"), "dollars=");
    expect_error("a", ARGS("per=user", "requests=1", "window=1h", "burst=3"), "unknown");
    expect_error("a", ARGS("per=user", "requests=1", "window=1h", "route="), "route=");
    expect_error("a", ARGS("per=user", "requests=1", "window=1h", "model="), "model=");
}

static void test_dollars(void **state)
{
    int64_t p;
    assert_int_equal(llmgw_rl_parse_dollars("0.000000000001", &p), 0);
    assert_int_equal(p, 1);
    assert_int_equal(llmgw_rl_parse_dollars("1.5", &p), 0);
    assert_int_equal(p, 1500000000000);
    assert_int_equal(llmgw_rl_parse_dollars(".25", &p), 0);
    assert_int_equal(p, 250000000000);
    assert_int_equal(llmgw_rl_parse_dollars("1000000", &p), 0);
    assert_int_equal(p, LLMGW_RL_MAX_PICO);
    assert_int_equal(llmgw_rl_parse_dollars("1000000.000000000001", &p), -1);
    assert_int_equal(llmgw_rl_parse_dollars("", &p), -1);
    assert_int_equal(llmgw_rl_parse_dollars(".", &p), -1);
    assert_int_equal(llmgw_rl_parse_dollars("-1", &p), -1);
    assert_int_equal(llmgw_rl_parse_dollars("99999999999999999999", &p), -1);
}

static void test_windows_seconds(void **state)
{
    llmgw_rl_rule r = parse_ok("a", ARGS("per=user", "requests=1", "window=5m"));
    llmgw_rl_window w;
    llmgw_rl_window_at(&r, 1700000123, &w);       /* 2023-11-14T22:15:23Z */
    assert_int_equal(w.start, 1700000100);
    assert_int_equal(w.end, 1700000400);
    assert_int_equal(w.index, 1700000100 / 300);
    llmgw_rl_window_at(&r, 1700000100, &w);       /* a boundary belongs to the new window */
    assert_int_equal(w.start, 1700000100);
    llmgw_rl_window_at(&r, 1700000099, &w);
    assert_int_equal(w.end, 1700000100);
    llmgw_rl_window_at(&r, -1, &w);               /* floor, not truncation */
    assert_int_equal(w.start, -300);
    assert_int_equal(w.end, 0);

    r = parse_ok("d", ARGS("per=user", "requests=1", "window=1d"));
    llmgw_rl_window_at(&r, 1700000123, &w);
    assert_int_equal(w.start, 1699920000);        /* 2023-11-14T00:00:00Z */
    assert_int_equal(w.end, 1700006400);
}

static void check_month(const llmgw_rl_rule *r, int64_t now, const char *start, const char *end)
{
    llmgw_rl_window w;
    char a[32], b[32];
    llmgw_rl_window_at(r, now, &w);
    llmgw_rl_time_text(w.start, a, sizeof a);
    llmgw_rl_time_text(w.end, b, sizeof b);
    assert_string_equal(a, start);
    assert_string_equal(b, end);
    assert_true(w.start <= now && now < w.end);
}

static void test_windows_months(void **state)
{
    llmgw_rl_rule r = parse_ok("m", ARGS("per=user", "dollars=5", "window=1mo"));
    check_month(&r, 1700000123, "2023-11-01T00:00:00Z", "2023-12-01T00:00:00Z");
    check_month(&r, 1703980800 + 86399, "2023-12-01T00:00:00Z", "2024-01-01T00:00:00Z");
    check_month(&r, 1704067200, "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z");
    check_month(&r, 1709164800, "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"); /* 02-29 */
    check_month(&r, 1709251199, "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z");
    check_month(&r, 1709251200, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z");
    check_month(&r, 0, "1970-01-01T00:00:00Z", "1970-02-01T00:00:00Z");
    check_month(&r, -1, "1969-12-01T00:00:00Z", "1970-01-01T00:00:00Z");
    check_month(&r, 4102444800, "2100-01-01T00:00:00Z", "2100-02-01T00:00:00Z");
    check_month(&r, 4107542400 - 1, "2100-02-01T00:00:00Z", "2100-03-01T00:00:00Z"); /* not leap */

    r = parse_ok("q", ARGS("per=user", "dollars=5", "window=3mo"));
    check_month(&r, 1700000123, "2023-10-01T00:00:00Z", "2024-01-01T00:00:00Z");
    r = parse_ok("y", ARGS("per=user", "dollars=5", "window=12mo"));
    check_month(&r, 1700000123, "2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z");

    /* consecutive windows touch: every second of a year lies in exactly one month */
    r = parse_ok("m", ARGS("per=user", "dollars=5", "window=1mo"));
    llmgw_rl_window w, prev;
    llmgw_rl_window_at(&r, 1672531200, &prev);    /* 2023-01-01 */
    for (int i = 0; i < 24; i++) {
        llmgw_rl_window_at(&r, prev.end, &w);
        assert_int_equal(w.start, prev.end);
        assert_int_equal(w.index, prev.index + 1);
        assert_true(w.end - w.start >= 28 * 86400 && w.end - w.start <= 31 * 86400);
        prev = w;
    }
}

static void test_applies(void **state)
{
    llmgw_rl_rule any = parse_ok("a", ARGS("per=user", "requests=1", "window=1h"));
    llmgw_rl_rule route = parse_ok("b", ARGS("per=user", "route=openai", "requests=1", "window=1h"));
    llmgw_rl_rule prefix = parse_ok("c", ARGS("per=user", "route=/v1/", "requests=1", "window=1h"));
    llmgw_rl_rule model = parse_ok("d", ARGS("per=user", "model=gpt-4*", "requests=1", "window=1h"));
    assert_true(llmgw_rl_applies(&any, "openai", "/v1", ""));
    assert_true(llmgw_rl_applies(&route, "openai", "/v1", ""));
    assert_false(llmgw_rl_applies(&route, "anthropic", "/anthropic", ""));
    assert_true(llmgw_rl_applies(&prefix, "openai", "/v1", "x"));
    assert_false(llmgw_rl_applies(&prefix, "openai", "/v2", "x"));
    assert_false(llmgw_rl_applies(&prefix, "openai", NULL, "x"));
    assert_true(llmgw_rl_applies(&model, "openai", "/v1", "gpt-4o"));
    assert_false(llmgw_rl_applies(&model, "openai", "/v1", "gpt-3.5-turbo"));
    assert_false(llmgw_rl_applies(&model, "openai", "/v1", ""));    /* GET /v1/models */
    assert_false(llmgw_rl_applies(&model, "openai", "/v1", NULL));
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void test_keys(void **state)
{
    llmgw_rl_rule r = parse_ok("user-budget", ARGS("per=user", "dollars=50", "window=1mo"));
    llmgw_rl_window w;
    char buf[LLMGW_RL_KEY_MAX], small[16];
    llmgw_rl_window_at(&r, 1700000123, &w);
    size_t n = llmgw_rl_key(&r, &w, "alice", buf, sizeof buf);
    assert_string_equal(buf, "llmgw:rl:user-budget:1mo:646:alice");
    assert_int_equal(n, strlen(buf));
    assert_int_equal(llmgw_rl_key(&r, &w, "alice", small, sizeof small), 0);
    assert_string_equal(small, "");
    n = llmgw_rl_key(&r, &w, NULL, buf, sizeof buf);
    assert_string_equal(buf, "llmgw:rl:user-budget:1mo:646:");

    char longp[1000], other[LLMGW_RL_KEY_MAX];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    n = llmgw_rl_key(&r, &w, longp, buf, sizeof buf);
    assert_int_equal(n, strlen("llmgw:rl:user-budget:1mo:646:sha256:") + 64);
    longp[900] = 'y';               /* same 300-byte prefix, another principal */
    llmgw_rl_key(&r, &w, longp, other, sizeof other);
    assert_string_not_equal(buf, other);
    memset(longp, 'x', sizeof longp - 1);
    longp[LLMGW_RL_PRINCIPAL_MAX] = '\0';   /* exactly the maximum: kept as it is */
    n = llmgw_rl_key(&r, &w, longp, buf, sizeof buf);
    assert_int_equal(n, strlen("llmgw:rl:user-budget:1mo:646:") + LLMGW_RL_PRINCIPAL_MAX);

    uint64_t a = llmgw_rl_fingerprint("k1", 2), b = llmgw_rl_fingerprint("k2", 2);
    assert_true(a != b);
    assert_true(a >= 2 && b >= 2);
    assert_true(a == llmgw_rl_fingerprint("k1", 2));
    /* a million distinct keys, no fingerprint collision */
    enum { N = 1 << 20 };
    static uint64_t seen[N];
    for (int i = 0; i < N; i++) {
        char k[32];
        int kl = snprintf(k, sizeof k, "llmgw:rl:r:1h:1:u%d", i);
        seen[i] = llmgw_rl_fingerprint(k, (size_t)kl);
    }
    qsort(seen, N, sizeof seen[0], cmp_u64);
    for (int i = 0; i < N; i++) {
        assert_true(seen[i] >= 2);
        if (i)
            assert_true(seen[i] != seen[i - 1]);
    }
}

static void test_numbers(void **state)
{
    llmgw_rl_rule r = parse_ok("a", ARGS("per=user", "requests=10", "window=1h"));
    llmgw_rl_window w = {0, 3600, 7200};
    char buf[32];
    assert_int_equal(llmgw_rl_remaining(&r, 3), 7);
    assert_int_equal(llmgw_rl_remaining(&r, 10), 0);
    assert_int_equal(llmgw_rl_remaining(&r, 12), 0);
    assert_int_equal(llmgw_rl_retry_after(&w, 3600000), 3600);
    assert_int_equal(llmgw_rl_retry_after(&w, 7199001), 1);
    assert_int_equal(llmgw_rl_retry_after(&w, 7198999), 2);
    assert_int_equal(llmgw_rl_retry_after(&w, 7300000), 1);

    llmgw_rl_reset_text(&w, 7199150, buf, sizeof buf);
    assert_string_equal(buf, "850ms");
    llmgw_rl_reset_text(&w, 7188000, buf, sizeof buf);
    assert_string_equal(buf, "12s");
    llmgw_rl_reset_text(&w, 7200000 - 360000, buf, sizeof buf);
    assert_string_equal(buf, "6m0s");
    llmgw_rl_reset_text(&w, 3600000, buf, sizeof buf);
    assert_string_equal(buf, "1h0m0s");
    llmgw_rl_window d = {0, 0, 93600};
    llmgw_rl_reset_text(&d, 0, buf, sizeof buf);
    assert_string_equal(buf, "26h0m0s");
    llmgw_rl_reset_text(&w, 7300000, buf, sizeof buf);
    assert_string_equal(buf, "0ms");
    assert_int_equal(llmgw_rl_reset_text(&w, 3600000, buf, 3), 0);

    llmgw_rl_amount_text(LLMGW_RL_REQUESTS, 42, buf, sizeof buf);
    assert_string_equal(buf, "42");
    llmgw_rl_amount_text(LLMGW_RL_DOLLARS, 50 * 1000000000000LL + 1, buf, sizeof buf);
    assert_string_equal(buf, "50.000000000001");
    llmgw_rl_time_text(1700000123, buf, sizeof buf);
    assert_string_equal(buf, "2023-11-14T22:15:23Z");
    assert_string_equal(llmgw_rl_per_name(LLMGW_RL_GLOBAL), "global");
    assert_string_equal(llmgw_rl_kind_name(LLMGW_RL_DOLLARS), "dollars");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_spec_examples),
        cmocka_unit_test(test_window_canonical),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_dollars),
        cmocka_unit_test(test_windows_seconds),
        cmocka_unit_test(test_windows_months),
        cmocka_unit_test(test_applies),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
