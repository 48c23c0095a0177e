/* test_record.c — cmocka tests for llmgw_record: the NDJSON usage line (SPEC §7) parsed
 * back with jansson (every field, its type and value, field order), cost formatting,
 * nulls, escaping, UTF-8-safe truncation, the single trailing newline, the worst-case
 * record against LLMGW_RECORD_MAX_LINE, too-small buffers, and llmgw_format_ts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>

#include "llmgw_record.h"

static const char *const spec_fields[] = {
    "timestamp", "request_id", "user", "email", "team", "roles", "provider", "model",
    "endpoint", "status", "stream", "prompt_tokens", "completion_tokens", "cached_tokens",
    "cache_write_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "latency_ms",
    "ttft_ms", "conversation_id", "client_ip", "blocked_rule", "redactions", "node",
};
#define NFIELDS (sizeof spec_fields / sizeof spec_fields[0])

static llmgw_record sample(void)
{
    llmgw_record r;
    memset(&r, 0, sizeof r);
    r.ts_ms = INT64_C(1795516200123);   /* 2026-11-24T10:30:00.123Z */
    r.request_id = "req-0001";
    r.user = "alice";
    r.email = "alice@example.com";
    r.team = "research";
    r.roles[0] = "premium";
    r.roles[1] = "developer";
    r.nroles = 2;
    r.provider = "openai";
    r.model = "gpt-4o";
    r.endpoint = "chat/completions";
    r.status = 200;
    r.stream = 1;
    r.prompt_tokens = 1200;
    r.completion_tokens = 345;
    r.cached_tokens = 1000;
    r.cache_write_tokens = 7;
    r.reasoning_tokens = 64;
    r.total_tokens = 1545;
    r.has_cost = 1;
    r.cost_pico = 1234567;
    r.latency_ms = 2500;
    r.ttft_ms = 310;
    r.conversation_id = "conv-9";
    r.client_ip = "203.0.113.7";
    r.blocked_rule = NULL;
    r.redactions = 3;
    r.node = "gw-1";
    return r;
}

/* Encodes into a fresh buffer, checks the line framing, parses it. */
static json_t *encode_parse(const llmgw_record *r, char *buf, size_t cap, size_t *len_out)
{
    size_t n = llmgw_record_encode(r, buf, cap);
    assert_true(n > 0);
    assert_int_equal(n, strlen(buf));
    assert_true(n < LLMGW_RECORD_MAX_LINE);
    assert_int_equal(buf[0], '{');
    assert_int_equal(buf[n - 1], '\n');
    assert_int_equal(buf[n - 2], '}');
    /* exactly one newline, and no raw control byte anywhere else */
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c < 0x20 || c == 0x7f)
            fail_msg("raw control byte 0x%02x at %zu", c, i);
    }
    json_error_t je;
    json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        fail_msg("not valid JSON: %s (line %d col %d)", je.text, je.line, je.column);
    assert_true(json_is_object(j));
    if (len_out)
        *len_out = n;
    return j;
}

static void assert_str_field(const json_t *j, const char *name, const char *want)
{
    const json_t *v = json_object_get(j, name);
    if (!v)
        fail_msg("field %s missing", name);
    if (!want) {
        if (!json_is_null(v))
            fail_msg("field %s should be null", name);
        return;
    }
    if (!json_is_string(v))
        fail_msg("field %s should be a string", name);
    assert_string_equal(json_string_value(v), want);
}

static void assert_int_field(const json_t *j, const char *name, json_int_t want)
{
    const json_t *v = json_object_get(j, name);
    if (!json_is_integer(v))
        fail_msg("field %s should be an integer", name);
    assert_true(json_integer_value(v) == want);
}

static void test_all_fields(void **state)
{
    llmgw_record r = sample();
    char buf[LLMGW_RECORD_MAX_LINE];
    json_t *j = encode_parse(&r, buf, sizeof buf, NULL);

    /* exactly the spec's fields, in the spec's order */
    assert_int_equal(json_object_size(j), NFIELDS);
    size_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach(j, key, val) {
        assert_true(i < NFIELDS);
        assert_string_equal(key, spec_fields[i]);
        i++;
    }

    assert_str_field(j, "timestamp", "2026-11-24T10:30:00.123Z");
    assert_str_field(j, "request_id", "req-0001");
    assert_str_field(j, "user", "alice");
    assert_str_field(j, "email", "alice@example.com");
    assert_str_field(j, "team", "research");
    const json_t *roles = json_object_get(j, "roles");
    assert_true(json_is_array(roles));
    assert_int_equal(json_array_size(roles), 2);
    assert_string_equal(json_string_value(json_array_get(roles, 0)), "premium");
    assert_string_equal(json_string_value(json_array_get(roles, 1)), "developer");
    assert_str_field(j, "provider", "openai");
    assert_str_field(j, "model", "gpt-4o");
    assert_str_field(j, "endpoint", "chat/completions");
    assert_int_field(j, "status", 200);
    assert_true(json_is_true(json_object_get(j, "stream")));
    assert_int_field(j, "prompt_tokens", 1200);
    assert_int_field(j, "completion_tokens", 345);
    assert_int_field(j, "cached_tokens", 1000);
    assert_int_field(j, "cache_write_tokens", 7);
    assert_int_field(j, "reasoning_tokens", 64);
    assert_int_field(j, "total_tokens", 1545);
    const json_t *cost = json_object_get(j, "cost_usd");
    assert_true(json_is_real(cost));
    assert_true(json_real_value(cost) == 0.000001234567);
    assert_int_field(j, "latency_ms", 2500);
    assert_int_field(j, "ttft_ms", 310);
    assert_str_field(j, "conversation_id", "conv-9");
    assert_str_field(j, "client_ip", "203.0.113.7");
    assert_str_field(j, "blocked_rule", NULL);
    assert_int_field(j, "redactions", 3);
    assert_str_field(j, "node", "gw-1");
    json_decref(j);

    /* the exact text of the number: 12 decimals, no exponent */
    assert_non_null(strstr(buf, ",\"cost_usd\":0.000001234567,\"latency_ms\":"));
    assert_non_null(strstr(buf, "{\"timestamp\":\"2026-11-24T10:30:00.123Z\",\"request_id\":"));
    assert_non_null(strstr(buf, "\"stream\":true,"));
}

static void test_nulls_and_empty(void **state)
{
    llmgw_record r;
    memset(&r, 0, sizeof r);
    char buf[LLMGW_RECORD_MAX_LINE];
    json_t *j = encode_parse(&r, buf, sizeof buf, NULL);
    assert_int_equal(json_object_size(j), NFIELDS);
    assert_str_field(j, "timestamp", "1970-01-01T00:00:00.000Z");
    static const char *const strs[] = {"request_id", "user", "email", "team", "provider",
                                       "model", "endpoint", "conversation_id", "client_ip",
                                       "blocked_rule", "node"};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        assert_str_field(j, strs[i], NULL);
    assert_true(json_is_array(json_object_get(j, "roles")));
    assert_int_equal(json_array_size(json_object_get(j, "roles")), 0);
    assert_true(json_is_false(json_object_get(j, "stream")));
    assert_true(json_is_null(json_object_get(j, "cost_usd")));
    assert_int_field(j, "status", 0);
    assert_int_field(j, "prompt_tokens", 0);
    assert_int_field(j, "redactions", 0);
    json_decref(j);
    assert_non_null(strstr(buf, ",\"cost_usd\":null,"));
    assert_non_null(strstr(buf, ",\"roles\":[],"));

    /* empty strings stay empty strings, not null */
    r.user = "";
    r.node = "";
    j = encode_parse(&r, buf, sizeof buf, NULL);
    assert_str_field(j, "user", "");
    assert_str_field(j, "node", "");
    json_decref(j);

    /* has_cost=0 wins over a non-zero cost_pico */
    r = sample();
    r.has_cost = 0;
    r.cost_pico = 999;
    j = encode_parse(&r, buf, sizeof buf, NULL);
    assert_true(json_is_null(json_object_get(j, "cost_usd")));
    json_decref(j);
}

static void expect_cost(int64_t pico, const char *text, double value)
{
    llmgw_record r = sample();
    r.cost_pico = pico;
    char buf[LLMGW_RECORD_MAX_LINE], want[96];
    json_t *j = encode_parse(&r, buf, sizeof buf, NULL);
    snprintf(want, sizeof want, ",\"cost_usd\":%s,", text);
    if (!strstr(buf, want))
        fail_msg("cost %lld: want %s in %s", (long long)pico, want, buf);
    const json_t *c = json_object_get(j, "cost_usd");
    assert_true(json_is_real(c));
    assert_true(json_real_value(c) == value);
    json_decref(j);
}

static void test_cost_format(void **state)
{
    expect_cost(1234567, "0.000001234567", 0.000001234567);
    expect_cost(0, "0.000000000000", 0.0);
    expect_cost(1, "0.000000000001", 1e-12);
    expect_cost(-5, "-0.000000000005", -5e-12);
    expect_cost(INT64_C(1000000000000), "1.000000000000", 1.0);
    expect_cost(INT64_C(12345678901234567), "12345.678901234567", 12345.678901234567);
    expect_cost(INT64_C(-2500000000000), "-2.500000000000", -2.5);
    expect_cost(INT64_MAX, "9223372.036854775807", 9223372.036854775807);
    expect_cost(INT64_MIN, "-9223372.036854775808", -9223372.036854775808);
}

static void test_integer_extremes(void **state)
{
    llmgw_record r = sample();
    r.prompt_tokens = INT64_MAX;
    r.completion_tokens = INT64_MIN;
    r.latency_ms = -1;
    r.status = 599;
    r.redactions = 2147483647;
    char buf[LLMGW_RECORD_MAX_LINE];
    json_t *j = encode_parse(&r, buf, sizeof buf, NULL);
    assert_int_field(j, "prompt_tokens", INT64_MAX);
    assert_int_field(j, "completion_tokens", INT64_MIN);
    assert_int_field(j, "latency_ms", -1);
    assert_int_field(j, "status", 599);
    assert_int_field(j, "redactions", 2147483647);
    json_decref(j);
}

static void test_escaping(void **state)
{
    static const char nasty[] =
        "q\"uote b\\ackslash \n nl \r cr \t tab \x01\x02\x1f\x7f del "
        "/slash \xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 </script>";
    llmgw_record r = sample();
    r.user = nasty;
    r.model = "gpt-\"4o\"";
    r.blocked_rule = "rule\\1";
    r.roles[0] = "r\"ole\n";
    r.roles[1] = "\xe2\x82\xac";
    char buf[LLMGW_RECORD_MAX_LINE];
    json_t *j = encode_parse(&r, buf, sizeof buf, NULL);
    assert_str_field(j, "user", nasty);
    assert_str_field(j, "model", "gpt-\"4o\"");
    assert_str_field(j, "blocked_rule", "rule\\1");
    const json_t *roles = json_object_get(j, "roles");
    assert_string_equal(json_string_value(json_array_get(roles, 0)), "r\"ole\n");
    assert_string_equal(json_string_value(json_array_get(roles, 1)), "\xe2\x82\xac");
    json_decref(j);
    /* the escapes used on the wire */
    assert_non_null(strstr(buf, "q\\\"uote b\\\\ackslash \\n nl \\r cr \\t tab "
                                "\\u0001\\u0002\\u001f\\u007f del "));
    /* UTF-8 passes through unescaped */
    assert_non_null(strstr(buf, "\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"));
}

/* Encodes a record whose user is s and returns the decoded user string (malloc'd). */
static char *roundtrip_user(const char *s, size_t *len)
{
    llmgw_record r = sample();
    r.user = s;
    char *buf = malloc(LLMGW_RECORD_MAX_LINE);
    assert_non_null(buf);
    json_t *j = encode_parse(&r, buf, LLMGW_RECORD_MAX_LINE, NULL);
    const json_t *u = json_object_get(j, "user");
    assert_true(json_is_string(u));
    *len = json_string_length(u);
    char *out = malloc(*len + 1);
    assert_non_null(out);
    memcpy(out, json_string_value(u), *len + 1);
    json_decref(j);
    free(buf);
    return out;
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
    size_t ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(ul * times + tl + 1);
    assert_non_null(s);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * ul, unit, ul);
    memcpy(s + ul * times, tail, tl + 1);
    return s;
}

static void expect_trunc(const char *unit, size_t times, const char *tail, size_t want_len)
{
    char *s = repeat(unit, times, tail);
    size_t n;
    char *u = roundtrip_user(s, &n);
    if (n != want_len)
        fail_msg("%zu x '%s' + '%s': decoded %zu bytes, want %zu", times, unit, tail, n,
                 want_len);
    assert_memory_equal(u, s, n);   /* a prefix of the input */
    free(u);
    free(s);
}

static void test_truncation_utf8(void **state)
{
    /* string fields keep at most 256 bytes, never splitting a UTF-8 sequence */
    expect_trunc("a", 256, "", 256);
    expect_trunc("a", 257, "", 256);
    expect_trunc("a", 5000, "", 256);
    expect_trunc("a", 254, "\xc3\xa9", 256);           /* 2-byte char ends at 256 */
    expect_trunc("a", 255, "\xc3\xa9", 255);           /* would straddle 256 */
    expect_trunc("a", 253, "\xe6\x97\xa5", 256);
    expect_trunc("a", 254, "\xe6\x97\xa5", 254);
    expect_trunc("a", 255, "\xe6\x97\xa5", 255);
    expect_trunc("a", 252, "\xf0\x9f\x98\x80", 256);
    expect_trunc("a", 253, "\xf0\x9f\x98\x80", 253);
    expect_trunc("a", 255, "\xf0\x9f\x98\x80", 255);
    expect_trunc("\xe6\x97\xa5", 300, "", 255);          /* 85 whole characters */
    expect_trunc("\xf0\x9f\x98\x80", 100, "", 256);      /* 64 whole characters */
    expect_trunc("\xc3\xa9", 200, "", 256);
    expect_trunc("\"", 1000, "", 256);                   /* counted before escaping */
    expect_trunc("\x01", 1000, "", 256);

    /* roles are cut at 64 bytes, also on a boundary */
    llmgw_record r = sample();
    char *role1 = repeat("a", 63, "\xc3\xa9");
    char *role2 = repeat("\xe2\x82\xac", 40, "");
    r.roles[0] = role1;
    r.roles[1] = role2;
    char buf[LLMGW_RECORD_MAX_LINE];
    json_t *j = encode_parse(&r, buf, sizeof buf, NULL);
    const json_t *roles = json_object_get(j, "roles");
    assert_int_equal(json_string_length(json_array_get(roles, 0)), 63);
    assert_int_equal(json_string_length(json_array_get(roles, 1)), 63);   /* 21 x 3 */
    assert_memory_equal(json_string_value(json_array_get(roles, 1)), role2, 63);
    json_decref(j);
    free(role1);
    free(role2);
}

static void test_worst_case_fits(void **state)
{
    /* every string 10 KB of control characters (6 bytes each once escaped), 32 roles,
     * every number at its widest: still one line within LLMGW_RECORD_MAX_LINE */
    const char *units[] = {"\x01", "\"", "\xe6\x97\xa5", "\x7f"};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        char *big = repeat(units[u], 10240 / strlen(units[u]), "");
        llmgw_record r;
        memset(&r, 0, sizeof r);
        r.ts_ms = INT64_C(253402300799999);   /* 9999-12-31T23:59:59.999Z */
        r.request_id = r.user = r.email = r.team = big;
        r.provider = r.model = r.endpoint = big;
        r.conversation_id = r.client_ip = r.blocked_rule = r.node = big;
        for (int i = 0; i < LLMGW_RECORD_MAX_ROLES; i++)
            r.roles[i] = big;
        r.nroles = LLMGW_RECORD_MAX_ROLES;
        r.status = -2147483647 - 1;
        r.redactions = -2147483647 - 1;
        r.stream = 1;
        r.prompt_tokens = r.completion_tokens = r.cached_tokens = INT64_MIN;
        r.cache_write_tokens = r.reasoning_tokens = r.total_tokens = INT64_MIN;
        r.latency_ms = r.ttft_ms = INT64_MIN;
        r.has_cost = 1;
        r.cost_pico = INT64_MIN;
        char *buf = malloc(LLMGW_RECORD_MAX_LINE);
        assert_non_null(buf);
        size_t n;
        json_t *j = encode_parse(&r, buf, LLMGW_RECORD_MAX_LINE, &n);
        assert_true(n < LLMGW_RECORD_MAX_LINE);
        assert_int_equal(json_object_size(j), NFIELDS);
        assert_int_equal(json_array_size(json_object_get(j, "roles")), LLMGW_RECORD_MAX_ROLES);
        assert_str_field(j, "timestamp", "9999-12-31T23:59:59.999Z");
        json_decref(j);
        free(buf);
        free(big);
    }
}

static void test_nroles_bounded(void **state)
{
    /* nroles beyond the array is clamped; negative means none */
    llmgw_record r = sample();
    for (int i = 0; i < LLMGW_RECORD_MAX_ROLES; i++)
        r.roles[i] = "r";
    r.nroles = 1000;
    char buf[LLMGW_RECORD_MAX_LINE];
    json_t *j = encode_parse(&r, buf, sizeof buf, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "roles")), LLMGW_RECORD_MAX_ROLES);
    json_decref(j);
    r.nroles = -3;
    j = encode_parse(&r, buf, sizeof buf, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "roles")), 0);
    json_decref(j);
}

static void test_small_cap(void **state)
{
    llmgw_record r = sample();
    char ref[LLMGW_RECORD_MAX_LINE];
    size_t full = llmgw_record_encode(&r, ref, sizeof ref);
    assert_true(full > 100);

    /* every cap below full+1 fails without writing past cap; full+1 succeeds */
    char *buf = malloc(full + 64);
    assert_non_null(buf);
    for (size_t cap = 0; cap <= full + 1; cap++) {
        memset(buf, 0xAA, full + 64);
        size_t n = llmgw_record_encode(&r, buf, cap);
        for (size_t i = cap; i < full + 64; i++)
            if ((unsigned char)buf[i] != 0xAA)
                fail_msg("cap %zu: byte %zu written", cap, i);
        if (cap <= full) {
            if (n != 0)
                fail_msg("cap %zu: returned %zu, want 0", cap, n);
            if (cap)
                assert_int_equal(buf[0], '\0');
        } else {
            assert_int_equal(n, full);
            assert_memory_equal(buf, ref, full + 1);
        }
    }
    free(buf);
}

static void expect_ts(int64_t ms, const char *want)
{
    char buf[32];
    memset(buf, 'Z', sizeof buf);
    llmgw_format_ts(ms, buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("ts %lld: got %s want %s", (long long)ms, buf, want);
    /* cap 25 (the documented minimum) is enough */
    char small[25];
    llmgw_format_ts(ms, small, sizeof small);
    assert_string_equal(small, want);
}

static void test_format_ts(void **state)
{
    expect_ts(0, "1970-01-01T00:00:00.000Z");
    expect_ts(1, "1970-01-01T00:00:00.001Z");
    expect_ts(999, "1970-01-01T00:00:00.999Z");
    expect_ts(1000, "1970-01-01T00:00:01.000Z");
    expect_ts(-1, "1969-12-31T23:59:59.999Z");
    expect_ts(-999, "1969-12-31T23:59:59.001Z");
    expect_ts(-1000, "1969-12-31T23:59:59.000Z");
    expect_ts(-1001, "1969-12-31T23:59:58.999Z");
    expect_ts(INT64_C(1795516200123), "2026-11-24T10:30:00.123Z");
    /* leap days: 2000 (divisible by 400), 2024; 2100 is not a leap year */
    expect_ts(INT64_C(951782400000) - 1, "2000-02-28T23:59:59.999Z");
    expect_ts(INT64_C(951782400000), "2000-02-29T00:00:00.000Z");
    expect_ts(INT64_C(951782400000) + 86400000, "2000-03-01T00:00:00.000Z");
    expect_ts(INT64_C(1709251199999), "2024-02-29T23:59:59.999Z");
    expect_ts(INT64_C(1709251200000), "2024-03-01T00:00:00.000Z");
    expect_ts(INT64_C(4107542399999), "2100-02-28T23:59:59.999Z");
    expect_ts(INT64_C(4107542400000), "2100-03-01T00:00:00.000Z");
    /* past 2038 and before 1970 */
    expect_ts(INT64_C(2147483648000), "2038-01-19T03:14:08.000Z");
    expect_ts(INT64_C(-310476304000) + 42, "1960-02-29T12:34:56.042Z");
    expect_ts(INT64_C(-2203891200000) - 1, "1900-02-28T23:59:59.999Z");
    expect_ts(INT64_C(253402300799999), "9999-12-31T23:59:59.999Z");

    /* the date arithmetic agrees with gmtime_r over years 0000-9999 */
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t ms = (int64_t)(x % UINT64_C(315537897600000)) - INT64_C(62167219200000);
        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        char want[96], got[32];
        assert_non_null(gmtime_r(&secs, &tm));
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms - (int64_t)secs * 1000));
        llmgw_format_ts(ms, got, sizeof got);
        if (strcmp(got, want) != 0)
            fail_msg("ts %lld: got %s want %s", (long long)ms, got, want);
    }

    /* a short buffer is truncated, still NUL-terminated */
    char tiny[11];
    memset(tiny, 'Z', sizeof tiny);
    llmgw_format_ts(0, tiny, sizeof tiny);
    assert_string_equal(tiny, "1970-01-01");
}

/* A client controls X-Conversation-Id: bytes that are not UTF-8 must still give valid
 * JSON (U+FFFD), or auditd would reject the whole record. */
static void test_invalid_utf8_replaced(void **state)
{
    static char buf[LLMGW_RECORD_MAX_LINE];
    llmgw_record r = sample();
    r.conversation_id = "conv-\xff\xfe";
    r.model = "m\xc3";                       /* a sequence cut short */
    r.user = "\xed\xa0\x80x";               /* an encoded surrogate */
    r.team = "\xc0\xafy";                    /* an overlong form */
    json_t *j = encode_parse(&r, buf, sizeof buf, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "conversation_id")),
                        "conv-\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(j, "model")), "m\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(j, "user")),
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
    assert_string_equal(json_string_value(json_object_get(j, "team")),
                        "\xef\xbf\xbd\xef\xbf\xbdy");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_fields),
        cmocka_unit_test(test_nulls_and_empty),
        cmocka_unit_test(test_cost_format),
        cmocka_unit_test(test_integer_extremes),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_truncation_utf8),
        cmocka_unit_test(test_worst_case_fits),
        cmocka_unit_test(test_nroles_bounded),
        cmocka_unit_test(test_small_cap),
        cmocka_unit_test(test_format_ts),
        cmocka_unit_test(test_invalid_utf8_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
