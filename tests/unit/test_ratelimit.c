/* test_ratelimit.c — cmocka tests for llmgw_ratelimit: LLMGWRateLimit parsing and its
 * errors, windows (epoch-aligned seconds, calendar months across year ends and leap
 * years), applicability, counter keys, remaining counts, Retry-After and reset text.
 * The hand-written texts (keys, amounts, reset, timestamps) are checked byte for byte
 * against the snprintf formulas they replaced, over many values and every buffer size. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "llmgw_keyfile.h"
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

/* --- the hand-written texts against the snprintf formulas they replaced ----------- */

/* The old ending of every text function: the length, or "" and 0 when cut. */
static size_t ref_finish(int n, char *buf, size_t cap)
{
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

static size_t ref_int(int64_t v, char *buf, size_t cap)
{
    return ref_finish(snprintf(buf, cap, "%lld", (long long)v), buf, cap);
}

static size_t ref_key(const llmgw_rl_rule *r, const llmgw_rl_window *w, const char *principal,
                      char *buf, size_t cap)
{
    char hashed[7 + 65];
    size_t pl = principal ? strnlen(principal, LLMGW_RL_PRINCIPAL_MAX + 1) : 0;
    if (pl > LLMGW_RL_PRINCIPAL_MAX) {
        memcpy(hashed, "sha256:", 7);
        llmgw_sha256_hex(principal, strlen(principal), hashed + 7);
        principal = hashed;
        pl = strlen(hashed);
    }
    return ref_finish(snprintf(buf, cap, "llmgw:rl:%s:%s:%lld:%.*s", r->name, r->window_spec,
                               (long long)w->index, (int)pl, principal ? principal : ""),
                      buf, cap);
}

static size_t ref_reset(const llmgw_rl_window *w, int64_t now_ms, char *buf, size_t cap)
{
    int64_t left = w->end * 1000 - now_ms;
    int n;
    if (left < 0)
        left = 0;
    if (left < 1000) {
        n = snprintf(buf, cap, "%lldms", (long long)left);
    } else {
        int64_t s = (left + 999) / 1000;
        int64_t h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
        if (h)
            n = snprintf(buf, cap, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)sec);
        else if (m)
            n = snprintf(buf, cap, "%lldm%llds", (long long)m, (long long)sec);
        else
            n = snprintf(buf, cap, "%llds", (long long)sec);
    }
    return ref_finish(n, buf, cap);
}

/* The old text through gmtime_r, an independent calendar. */
static size_t ref_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        fail_msg("gmtime_r(%lld)", (long long)t);
    return ref_finish(snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02dZ",
                               (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                               tm.tm_hour, tm.tm_min, tm.tm_sec), buf, cap);
}

/* What mod_llmgw_limits.c's amount_for_people did (a 40-byte buffer), then copied to
 * a buffer of cap bytes. */
static size_t ref_people(llmgw_rl_kind k, int64_t v, char *buf, size_t cap)
{
    char t[40];
    size_t n = k == LLMGW_RL_DOLLARS ? llmgw_rl_amount_text(k, v, t, sizeof t)
                                     : ref_int(v, t, sizeof t);
    if (k == LLMGW_RL_DOLLARS && n) {
        while (t[n - 1] == '0')
            t[--n] = '\0';
        if (t[n - 1] == '.')
            t[--n] = '\0';
    }
    return ref_finish(snprintf(buf, cap, "%s", t), buf, cap);
}

/* One text function against its reference at every capacity from 0 to the text's
 * length + 2: the same return, the same bytes, and nothing written at or past cap
 * (nothing at all when cap is 0). */
#define SAME_TEXT(call_new, call_ref) do {                                              \
        char want[600], got[600];                                                       \
        size_t cap = sizeof want, wn = (call_ref), gn = (call_new);                     \
        if (wn != gn || strcmp(want, got))                                              \
            fail_msg("'%s' (%zu) != '%s' (%zu)", got, gn, want, wn);                    \
        size_t full = wn;                                                               \
        for (cap = 0; cap <= full + 2; cap++) {                                         \
            memset(want, '#', sizeof want);                                             \
            memset(got, '#', sizeof got);                                               \
            wn = (call_ref);                                                            \
            gn = (call_new);                                                            \
            assert_int_equal(gn, wn);                                                   \
            assert_int_equal(gn, cap > full ? full : 0);                                \
            if (cap)                                                                    \
                assert_string_equal(got, cap > full ? want : "");                       \
            for (size_t i = cap; i < sizeof got; i++)                                   \
                assert_int_equal(got[i], '#');                                          \
        }                                                                               \
    } while (0)

/* A spread of int64 values: small numbers, every power of ten and its neighbours,
 * both signs, the edges, and pseudo-random values of every magnitude. */
static size_t sample_values(int64_t *v, size_t max)
{
    size_t n = 0;
    assert_true(max >= 200);
    for (int64_t i = -120; i <= 1100 && n < max / 2; i++)
        v[n++] = i;
    v[n++] = INT64_MAX, v[n++] = INT64_MAX - 1, v[n++] = INT64_MIN, v[n++] = INT64_MIN + 1;
    for (int64_t p = 1000; n + 6 <= max; p *= 10) {
        v[n++] = p - 1, v[n++] = p, v[n++] = p + 1;
        v[n++] = -p + 1, v[n++] = -p, v[n++] = -p - 1;
        if (p > INT64_MAX / 10)
            break;
    }
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    while (n < max) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t r = (int64_t)(x >> (x % 63));
        v[n++] = (x & 1) ? -r : r;
    }
    return n;
}

static void test_int_and_amount_text(void **state)
{
    static int64_t v[4000];
    size_t n = sample_values(v, 4000);
    for (size_t i = 0; i < n; i++) {
        SAME_TEXT(llmgw_rl_int_text(v[i], got, cap), ref_int(v[i], want, cap));
        SAME_TEXT(llmgw_rl_amount_text(LLMGW_RL_REQUESTS, v[i], got, cap),
                  ref_int(v[i], want, cap));
        SAME_TEXT(llmgw_rl_amount_text(LLMGW_RL_TOKENS, v[i], got, cap),
                  ref_int(v[i], want, cap));
        for (int k = LLMGW_RL_REQUESTS; k <= LLMGW_RL_DOLLARS; k++)
            SAME_TEXT(llmgw_rl_people_text((llmgw_rl_kind)k, v[i], got, cap),
                      ref_people((llmgw_rl_kind)k, v[i], want, cap));
    }
    char buf[LLMGW_RL_TEXT_MAX];
    assert_int_equal(llmgw_rl_people_text(LLMGW_RL_DOLLARS, 50 * 1000000000000LL, buf,
                                          sizeof buf), 2);
    assert_string_equal(buf, "50");
    llmgw_rl_people_text(LLMGW_RL_DOLLARS, 250000000000LL, buf, sizeof buf);
    assert_string_equal(buf, "0.25");
    llmgw_rl_people_text(LLMGW_RL_DOLLARS, 0, buf, sizeof buf);
    assert_string_equal(buf, "0");
    llmgw_rl_people_text(LLMGW_RL_DOLLARS, INT64_MIN, buf, sizeof buf);  /* the widest */
    assert_string_equal(buf, "-9223372.036854775808");
    llmgw_rl_people_text(LLMGW_RL_TOKENS, INT64_MIN, buf, sizeof buf);
    assert_string_equal(buf, "-9223372036854775808");
}

/* Every window unit and count, at times around the epoch, today and far ahead. */
static const char *const window_specs[] = {"1s", "30s", "90s", "1m", "5m", "1h", "24h",
                                           "36h", "1d", "7d", "366d", "1mo", "2mo", "3mo",
                                           "5mo", "12mo"};

static void test_key_text(void **state)
{
    static const int64_t times[] = {0, 1, -1, 59, 60, 3599, 3600, 86399, 86400,
                                    1700000123, 1709251199, 1709251200, -86401,
                                    4102444800, 253402300799, -62135596800};
    const char *principals[] = {NULL, "", "a", "alice", "user:bob", "0123456789abcdef0123"
                                "456789abcdef", "127.0.0.1", "2001:db8::1", "é ü\t"};
    char p300[LLMGW_RL_PRINCIPAL_MAX + 1], p301[LLMGW_RL_PRINCIPAL_MAX + 2];
    memset(p300, 'p', sizeof p300 - 1);
    p300[sizeof p300 - 1] = '\0';
    memset(p301, 'q', sizeof p301 - 1);
    p301[sizeof p301 - 1] = '\0';
    char name63[LLMGW_RL_NAME_MAX];
    memset(name63, 'n', sizeof name63 - 1);
    name63[sizeof name63 - 1] = '\0';
    const char *names[] = {"a", "user-budget", "global.req_1", name63};
    for (size_t ni = 0; ni < sizeof names / sizeof *names; ni++)
        for (size_t wi = 0; wi < sizeof window_specs / sizeof *window_specs; wi++) {
            char win[32];
            snprintf(win, sizeof win, "window=%s", window_specs[wi]);
            llmgw_rl_rule r = parse_ok(names[ni], ARGS("per=user", "requests=7", win));
            char pre[128];
            snprintf(pre, sizeof pre, "llmgw:rl:%s:%s:", r.name, r.window_spec);
            assert_string_equal(r.key_prefix, pre);
            assert_int_equal(r.key_prefix_len, strlen(pre));
            for (size_t ti = 0; ti < sizeof times / sizeof *times; ti++) {
                llmgw_rl_window w;
                llmgw_rl_window_at(&r, times[ti], &w);
                for (size_t pi = 0; pi < sizeof principals / sizeof *principals; pi++)
                    SAME_TEXT(llmgw_rl_key(&r, &w, principals[pi], got, cap),
                              ref_key(&r, &w, principals[pi], want, cap));
                SAME_TEXT(llmgw_rl_key(&r, &w, p300, got, cap), ref_key(&r, &w, p300, want, cap));
                SAME_TEXT(llmgw_rl_key(&r, &w, p301, got, cap), ref_key(&r, &w, p301, want, cap));
            }
        }
}

/* Window indexes at the int64 edges, and rules nobody prepared (built by hand, or
 * with a name too long for the prefix) write the same keys. */
static void test_key_edges(void **state)
{
    llmgw_rl_rule r = parse_ok("edge", ARGS("per=user", "tokens=7", "window=1s"));
    static int64_t v[600];
    size_t n = sample_values(v, 600);
    for (size_t i = 0; i < n; i++) {
        llmgw_rl_window w = {v[i], 0, 0};
        SAME_TEXT(llmgw_rl_key(&r, &w, "alice", got, cap), ref_key(&r, &w, "alice", want, cap));
    }
    llmgw_rl_rule hand;
    memset(&hand, 0, sizeof hand);
    hand.name = "by-hand";
    strcpy(hand.window_spec, "1mo");
    llmgw_rl_window w = {646, 0, 0};
    SAME_TEXT(llmgw_rl_key(&hand, &w, "alice", got, cap), ref_key(&hand, &w, "alice", want, cap));
    char longname[200];
    memset(longname, 'L', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    hand.name = longname;
    llmgw_rl_prepare(&hand);
    assert_int_equal(hand.key_prefix_len, 0);
    SAME_TEXT(llmgw_rl_key(&hand, &w, "alice", got, cap), ref_key(&hand, &w, "alice", want, cap));
}

static void test_prepare(void **state)
{
    llmgw_rl_rule r = parse_ok("b", ARGS("per=user", "dollars=49.990000000001", "window=1mo"));
    assert_string_equal(r.limit_text, "49.990000000001");
    r = parse_ok("b", ARGS("per=user", "dollars=50.000", "window=1mo"));
    assert_string_equal(r.limit_text, "50");
    r = parse_ok("b", ARGS("per=user", "dollars=1000000", "window=1mo"));
    assert_string_equal(r.limit_text, "1000000");
    r = parse_ok("b", ARGS("per=user", "dollars=0.000000000001", "window=1mo"));
    assert_string_equal(r.limit_text, "0.000000000001");
    r = parse_ok("b", ARGS("per=user", "tokens=1000000000000000", "window=1d"));
    assert_string_equal(r.limit_text, "1000000000000000");
    r = parse_ok("b", ARGS("per=user", "requests=0", "window=1d"));
    assert_string_equal(r.limit_text, "0");
    /* a change of limit or name is picked up by preparing again */
    r.limit = 12;
    r.name = "renamed";
    llmgw_rl_prepare(&r);
    assert_string_equal(r.limit_text, "12");
    assert_string_equal(r.key_prefix, "llmgw:rl:renamed:1d:");
}

static void test_reset_text_matches(void **state)
{
    /* windows of every unit, now at every millisecond near the end and at steps
     * across the whole window (and after its end) */
    for (size_t wi = 0; wi < sizeof window_specs / sizeof *window_specs; wi++) {
        char win[32];
        snprintf(win, sizeof win, "window=%s", window_specs[wi]);
        llmgw_rl_rule r = parse_ok("x", ARGS("per=user", "requests=7", win));
        llmgw_rl_window w;
        llmgw_rl_window_at(&r, 1700000123, &w);
        int64_t end = w.end * 1000, len = (w.end - w.start) * 1000;
        for (int64_t back = -2000; back <= 4000; back++)
            SAME_TEXT(llmgw_rl_reset_text(&w, end - back, got, cap),
                      ref_reset(&w, end - back, want, cap));
        for (int64_t back = 0; back <= len; back += len / 997 + 1)
            SAME_TEXT(llmgw_rl_reset_text(&w, end - back, got, cap),
                      ref_reset(&w, end - back, want, cap));
        for (int64_t s = 1; s < 4 * 86400; s += 59)     /* every h/m/s shape */
            SAME_TEXT(llmgw_rl_reset_text(&w, end - s * 1000, got, cap),
                      ref_reset(&w, end - s * 1000, want, cap));
    }
    /* far from any real window: large hour counts, and a "now" long past */
    llmgw_rl_window w = {0, 0, (int64_t)1 << 50};
    SAME_TEXT(llmgw_rl_reset_text(&w, 0, got, cap), ref_reset(&w, 0, want, cap));
    SAME_TEXT(llmgw_rl_reset_text(&w, INT64_MIN / 2, got, cap),
              ref_reset(&w, INT64_MIN / 2, want, cap));
    w.end = -((int64_t)1 << 50);     /* (end·1000 − now must not overflow: UB in both) */
    SAME_TEXT(llmgw_rl_reset_text(&w, INT64_MAX / 2, got, cap),
              ref_reset(&w, INT64_MAX / 2, want, cap));
}

static void test_time_text_matches(void **state)
{
    /* every window end the rules above produce, then a sweep from year -9999 to
     * 99999 (negative years are padded with their sign: "-001") */
    for (size_t wi = 0; wi < sizeof window_specs / sizeof *window_specs; wi++) {
        char win[32];
        snprintf(win, sizeof win, "window=%s", window_specs[wi]);
        llmgw_rl_rule r = parse_ok("x", ARGS("per=user", "requests=7", win));
        for (int64_t t = -86400 * 800; t < 4102444800; t += 86400 * 37 + 3607) {
            llmgw_rl_window w;
            llmgw_rl_window_at(&r, t, &w);
            SAME_TEXT(llmgw_rl_time_text(w.end, got, cap), ref_time(w.end, want, cap));
        }
    }
    const int64_t lo = -377705116800, hi = 3093527980799;  /* -9999-01-01 .. 99999-12-31 */
    for (int64_t t = lo; t < hi; t += 7919LL * 3607)
        SAME_TEXT(llmgw_rl_time_text(t, got, cap), ref_time(t, want, cap));
    static const int64_t edges[] = {-62167219200, -62167219201, -62198755200,
                                    -62198755201, -62135596800, 253402300799,
                                    253402300800, 0, -1, 951782400, 4107542399};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        SAME_TEXT(llmgw_rl_time_text(edges[i], got, cap), ref_time(edges[i], want, cap));
    char buf[32];
    llmgw_rl_time_text(-62167219201, buf, sizeof buf);      /* the second before year 0 */
    assert_string_equal(buf, "-001-12-31T23:59:59Z");
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
        cmocka_unit_test(test_int_and_amount_text),
        cmocka_unit_test(test_key_text),
        cmocka_unit_test(test_key_edges),
        cmocka_unit_test(test_prepare),
        cmocka_unit_test(test_reset_text_matches),
        cmocka_unit_test(test_time_text_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
