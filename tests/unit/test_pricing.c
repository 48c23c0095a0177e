/* test_pricing.c — cmocka tests for llmgw_pricing: exact decimal parsing, LLMGWPrice
 * argument parsing and its errors, glob precedence, cache price fallbacks, exact
 * pico-dollar cost, overflow guard and cost formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llmgw_pricing.h"

/* ---- decimals --------------------------------------------------------------------- */

static int64_t dec(const char *s)
{
    int64_t v = -42;
    assert_int_equal(llmgw_price_parse_decimal(s, &v), 0);
    return v;
}

static void test_decimal_exact(void **state)
{
    assert_int_equal(dec("0.03"), 30000000);
    assert_int_equal(dec("0.0025"), 2500000);
    assert_int_equal(dec("0.00015"), 150000);
    assert_int_equal(dec("0"), 0);
    assert_int_equal(dec("0.0"), 0);
    assert_int_equal(dec("1"), 1000000000);
    assert_int_equal(dec("0.000000001"), 1);
    assert_int_equal(dec("0.123456789"), 123456789);
    assert_int_equal(dec("007.5"), 7500000000);
    assert_int_equal(dec("1000"), LLMGW_PRICE_MAX_UNITS);
    assert_int_equal(dec("999.999999999"), LLMGW_PRICE_MAX_UNITS - 1);
}

static void test_decimal_rejects(void **state)
{
    static const char *bad[] = {
        "", "-0.03", "-0", "+1", "abc", "1e-3", "0x10", " 1", "1 ", ".5", "5.",
        "1.2.3", "0.1234567891", "0.0000000001", "1000.000000001", "1001",
        "99999999999999999999999999", "1,5", "NaN", "inf", "0.03$",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 77;
        assert_int_equal(llmgw_price_parse_decimal(bad[i], &v), -1);
        assert_int_equal(v, 77);   /* untouched on error */
    }
    int64_t v;
    assert_int_equal(llmgw_price_parse_decimal(NULL, &v), -1);
}

/* ---- LLMGWPrice arguments ------------------------------------------------------------ */

static int parse(const char *glob, int argc, const char *const *argv, llmgw_price *out,
                 char *err)
{
    return llmgw_price_parse("openai", glob, argc, argv, out, err, 256);
}

static void test_parse_all_keys(void **state)
{
    const char *argv[] = {"output=0.015", "input=0.003", "cached_input=0.0003",
                          "cache_write=0.00375", "cache_write_1h=0.006"};
    llmgw_price p;
    char err[256] = "";
    assert_int_equal(parse("claude-sonnet-4*", 5, argv, &p, err), 0);
    assert_string_equal(p.provider, "openai");
    assert_string_equal(p.glob, "claude-sonnet-4*");
    assert_int_equal(p.literals, 15);
    assert_int_equal(p.units[LLMGW_PRICE_INPUT], 3000000);
    assert_int_equal(p.units[LLMGW_PRICE_OUTPUT], 15000000);
    assert_int_equal(p.units[LLMGW_PRICE_CACHED_INPUT], 300000);
    assert_int_equal(p.units[LLMGW_PRICE_CACHE_WRITE], 3750000);
    assert_int_equal(p.units[LLMGW_PRICE_CACHE_WRITE_1H], 6000000);
    for (int k = 0; k < LLMGW_PRICE_NKINDS; k++)
        assert_true(p.set[k]);
}

static void test_parse_minimal(void **state)
{
    const char *argv[] = {"input=0.03", "output=0.06"};
    llmgw_price p;
    char err[256];
    assert_int_equal(parse("gpt-4*", 2, argv, &p, err), 0);
    assert_true(p.set[LLMGW_PRICE_INPUT] && p.set[LLMGW_PRICE_OUTPUT]);
    assert_false(p.set[LLMGW_PRICE_CACHED_INPUT]);
    assert_false(p.set[LLMGW_PRICE_CACHE_WRITE]);
    assert_false(p.set[LLMGW_PRICE_CACHE_WRITE_1H]);
}

static void expect_parse_error(int argc, const char *const *argv, const char *needle)
{
    llmgw_price p, before;
    char err[256] = "";
    memset(&p, 0xab, sizeof(p));
    before = p;
    assert_int_equal(parse("gpt-4*", argc, argv, &p, err), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
    assert_memory_equal(&p, &before, sizeof(p));   /* out untouched */
}

static void test_parse_errors(void **state)
{
    const char *no_input[] = {"output=0.06"};
    const char *no_output[] = {"input=0.03"};
    const char *unknown[] = {"input=0.03", "output=0.06", "cache_read=0.01"};
    const char *no_eq[] = {"input", "output=0.06"};
    const char *dup[] = {"input=0.03", "output=0.06", "input=0.04"};
    const char *neg[] = {"input=-0.03", "output=0.06"};
    const char *nan[] = {"input=0.03", "output=cheap"};
    const char *decs[] = {"input=0.0000000001", "output=0.06"};
    const char *big[] = {"input=0.03", "output=5000"};
    const char *empty[] = {"input=", "output=0.06"};
    const char *nul[] = {"input=0.03", NULL};
    expect_parse_error(1, no_input, "input= is required");
    expect_parse_error(1, no_output, "output= is required");
    expect_parse_error(3, unknown, "unknown key 'cache_read'");
    expect_parse_error(3, unknown, "expected input, output, cached_input, cache_write, cache_write_1h");
    expect_parse_error(2, no_eq, "expected key=value, got 'input'");
    expect_parse_error(3, dup, "input= given twice");
    expect_parse_error(2, neg, "negative");
    expect_parse_error(2, nan, "not a decimal number");
    expect_parse_error(2, decs, "more than 9 decimal places");
    expect_parse_error(2, big, "too large");
    expect_parse_error(2, empty, "empty price");
    expect_parse_error(2, nul, "missing argument");
    expect_parse_error(0, NULL, "input= is required");
}

static void test_parse_errors_provider_glob(void **state)
{
    const char *argv[] = {"input=0.03", "output=0.06"};
    llmgw_price p;
    char err[256];
    assert_int_equal(llmgw_price_parse("", "gpt*", 2, argv, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "missing provider"));
    assert_int_equal(llmgw_price_parse("openai", "", 2, argv, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "missing model pattern"));
    /* no error buffer, or a tiny one, is fine */
    assert_int_equal(llmgw_price_parse("openai", NULL, 2, argv, &p, NULL, 0), -1);
    char tiny[8];
    assert_int_equal(llmgw_price_parse(NULL, "x", 2, argv, &p, tiny, sizeof(tiny)), -1);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

/* ---- fallbacks and cost ---------------------------------------------------------------- */

static llmgw_price mk(const char *provider, const char *glob, const char *const *argv, int argc)
{
    llmgw_price p;
    char err[256];
    if (llmgw_price_parse(provider, glob, argc, argv, &p, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return p;
}

static void test_fallbacks(void **state)
{
    const char *only[] = {"input=0.003", "output=0.015"};
    llmgw_price p = mk("anthropic", "claude*", only, 2);
    assert_int_equal(llmgw_price_effective(&p, LLMGW_PRICE_CACHED_INPUT), 3000000);
    assert_int_equal(llmgw_price_effective(&p, LLMGW_PRICE_CACHE_WRITE), 3000000);
    assert_int_equal(llmgw_price_effective(&p, LLMGW_PRICE_CACHE_WRITE_1H), 3000000);

    const char *cw[] = {"input=0.003", "output=0.015", "cache_write=0.00375"};
    p = mk("anthropic", "claude*", cw, 3);
    assert_int_equal(llmgw_price_effective(&p, LLMGW_PRICE_CACHED_INPUT), 3000000);
    assert_int_equal(llmgw_price_effective(&p, LLMGW_PRICE_CACHE_WRITE), 3750000);
    assert_int_equal(llmgw_price_effective(&p, LLMGW_PRICE_CACHE_WRITE_1H), 3750000);

    const char *h1[] = {"input=0.003", "output=0.015", "cache_write_1h=0.006",
                        "cached_input=0.0003"};
    p = mk("anthropic", "claude*", h1, 4);
    assert_int_equal(llmgw_price_effective(&p, LLMGW_PRICE_CACHED_INPUT), 300000);
    assert_int_equal(llmgw_price_effective(&p, LLMGW_PRICE_CACHE_WRITE), 3000000);
    assert_int_equal(llmgw_price_effective(&p, LLMGW_PRICE_CACHE_WRITE_1H), 6000000);
}

static char fmtbuf[64];

static const char *cost_str(const llmgw_price *p, const llmgw_usage *u)
{
    int64_t pico = -1;
    assert_int_equal(llmgw_price_cost(p, u, &pico), 0);
    assert_true(llmgw_cost_format(pico, fmtbuf, sizeof(fmtbuf)) > 0);
    return fmtbuf;
}

static void test_cost_exact_simple(void **state)
{
    const char *argv[] = {"input=0.0025", "output=0.01"};
    llmgw_price p = mk("openai", "gpt-4o*", argv, 2);
    llmgw_usage u;
    llmgw_usage_init(&u);
    u.prompt = 1234;
    assert_string_equal(cost_str(&p, &u), "0.003085000000");
    u.completion = 1;
    assert_string_equal(cost_str(&p, &u), "0.003095000000");
    llmgw_usage_init(&u);
    assert_string_equal(cost_str(&p, &u), "0.000000000000");

    const char *tiny[] = {"input=0.000000001", "output=0.000000001"};
    p = mk("openai", "x", tiny, 2);
    u.prompt = 1;
    assert_string_equal(cost_str(&p, &u), "0.000000000001");
}

static void test_cost_all_terms(void **state)
{
    const char *argv[] = {"input=0.003", "output=0.015", "cached_input=0.0003",
                          "cache_write=0.00375", "cache_write_1h=0.006"};
    llmgw_price p = mk("anthropic", "claude*", argv, 5);
    llmgw_usage u;
    llmgw_usage_init(&u);
    u.prompt = 10000;         /* 3000 plain + 4000 read + 3000 written (1000 of them 1h) */
    u.cached = 4000;
    u.cache_write = 3000;
    u.cache_write_1h = 1000;
    u.completion = 500;
    u.reasoning = 200;        /* inside completion: not billed twice */
    /* 3000*3e6 + 4000*3e5 + 2000*3.75e6 + 1000*6e6 + 500*1.5e7 = 31.2e9 pico */
    assert_string_equal(cost_str(&p, &u), "0.031200000000");
}

static void test_cost_fallback_prices_used(void **state)
{
    const char *argv[] = {"input=0.001", "output=0.002"};
    llmgw_price p = mk("openai", "gpt*", argv, 2);
    llmgw_usage u;
    llmgw_usage_init(&u);
    u.prompt = 1000;
    u.cached = 600;
    u.cache_write = 100;
    u.cache_write_1h = 50;
    /* every input token at the input price whatever its cache state */
    assert_string_equal(cost_str(&p, &u), "0.001000000000");
}

static void test_cost_clamps_inconsistent_figures(void **state)
{
    const char *argv[] = {"input=1", "output=2", "cached_input=0.5", "cache_write=1.25",
                          "cache_write_1h=2"};
    llmgw_price p = mk("x", "*", argv, 5);
    llmgw_usage u;
    llmgw_usage_init(&u);
    u.prompt = 10;
    u.cached = 20;            /* more than prompt: the plain part clamps to 0 */
    assert_string_equal(cost_str(&p, &u), "0.010000000000");   /* 20 x 0.5/1K */
    llmgw_usage_init(&u);
    u.prompt = 10;
    u.cache_write = 4;
    u.cache_write_1h = 9;     /* more than cache_write: at most cache_write is 1h */
    /* 6 plain x 1 + 4 x 2 (1h) = 14 tokens-units of 1/1K USD */
    assert_string_equal(cost_str(&p, &u), "0.014000000000");
    llmgw_usage_init(&u);
    u.prompt = -5;
    u.completion = -3;
    assert_string_equal(cost_str(&p, &u), "0.000000000000");
}

static void test_cost_overflow_guard(void **state)
{
    const char *argv[] = {"input=1000", "output=1000"};
    llmgw_price p = mk("x", "*", argv, 2);
    llmgw_usage u;
    int64_t pico = 0;
    llmgw_usage_init(&u);
    u.completion = 9000000;   /* 9e6 x 1e12 = 9e18 < INT64_MAX */
    assert_int_equal(llmgw_price_cost(&p, &u, &pico), 0);
    assert_int_equal(pico, INT64_C(9000000000000000000));
    u.completion = 9300000;   /* 9.3e18: does not fit */
    assert_int_equal(llmgw_price_cost(&p, &u, &pico), -1);
    assert_int_equal(pico, INT64_MAX);
    u.completion = INT64_MAX;
    u.prompt = INT64_MAX;
    u.cache_write = INT64_MAX;
    assert_int_equal(llmgw_price_cost(&p, &u, &pico), -1);
    assert_int_equal(pico, INT64_MAX);
}

static void test_cost_format(void **state)
{
    char b[32];
    assert_int_equal(llmgw_cost_format(0, b, sizeof(b)), 14);
    assert_string_equal(b, "0.000000000000");
    llmgw_cost_format(123000000, b, sizeof(b));
    assert_string_equal(b, "0.000123000000");
    llmgw_cost_format(1000000000000, b, sizeof(b));
    assert_string_equal(b, "1.000000000000");
    llmgw_cost_format(12345678901234567, b, sizeof(b));
    assert_string_equal(b, "12345.678901234567");
    llmgw_cost_format(INT64_MAX, b, sizeof(b));
    assert_string_equal(b, "9223372.036854775807");
    llmgw_cost_format(-1500000000000, b, sizeof(b));
    assert_string_equal(b, "-1.500000000000");
    llmgw_cost_format(INT64_MIN, b, sizeof(b));
    assert_string_equal(b, "-9223372.036854775808");
    char small[14];   /* needs 15 with the NUL */
    assert_int_equal(llmgw_cost_format(0, small, sizeof(small)), 0);
    assert_string_equal(small, "");
    assert_int_equal(llmgw_cost_format(0, NULL, 0), 0);
}

/* ---- table and precedence ----------------------------------------------------------------- */

typedef struct {
    void *blocks[32];
    size_t sizes[32];
    int n;
    int fail;
} arena;

static void *arena_alloc(void *ctx, size_t n)
{
    arena *a = ctx;
    if (a->fail)
        return NULL;
    assert_true(a->n < 32);
    a->sizes[a->n] = n;
    return a->blocks[a->n++] = malloc(n);
}

static void arena_free(arena *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->blocks[i]);
}

static void add(llmgw_price_table *t, const char *provider, const char *glob,
                const char *input)
{
    char in[64];
    snprintf(in, sizeof(in), "input=%s", input);
    const char *argv[] = {in, "output=1"};
    llmgw_price p = mk(provider, glob, argv, 2);
    assert_int_equal(llmgw_price_table_add(t, &p), 0);
}

static int64_t input_of(const llmgw_price_table *t, const char *provider, const char *model)
{
    const llmgw_price *p = llmgw_price_lookup(t, provider, model);
    return p ? p->units[LLMGW_PRICE_INPUT] : -1;
}

static void test_lookup_precedence(void **state)
{
    arena a = {.n = 0};
    llmgw_price_table t;
    llmgw_price_table_init(&t, arena_alloc, &a);
    add(&t, "openai", "*", "0.001");
    add(&t, "openai", "gpt-4*", "0.03");
    add(&t, "openai", "gpt-4o-mini*", "0.00015");
    add(&t, "openai", "gpt-4o*", "0.0025");
    add(&t, "anthropic", "claude-3-opus*", "0.015");
    add(&t, "openai", "gpt-5?", "0.5");   /* 5 literals */
    add(&t, "openai", "gpt-5*", "0.6");   /* 5 literals too: the first one wins */
    add(&t, "openai", "gpt-?x", "0.7");   /* 5 literals, configured later */

    assert_int_equal(input_of(&t, "openai", "gpt-4o-mini-2024-07-18"), 150000);
    assert_int_equal(input_of(&t, "openai", "gpt-4o-2024-08-06"), 2500000);
    assert_int_equal(input_of(&t, "openai", "gpt-4-turbo"), 30000000);
    assert_int_equal(input_of(&t, "openai", "o3-mini"), 1000000);
    assert_int_equal(input_of(&t, "openai", "claude-3-opus-20240229"), 1000000);
    assert_int_equal(input_of(&t, "anthropic", "claude-3-opus-20240229"), 15000000);
    assert_int_equal(input_of(&t, "anthropic", "claude-3-haiku"), -1);
    assert_int_equal(input_of(&t, "gemini", "gpt-4o"), -1);
    assert_int_equal(input_of(&t, "openai", "gpt-5x"), 500000000);  /* ties → first */
    assert_int_equal(input_of(&t, "openai", "gpt-5-pro"), 600000000);
    assert_int_equal(input_of(&t, "OpenAI", "gpt-4o"), -1);          /* names are exact */
    assert_null(llmgw_price_lookup(&t, NULL, "x"));
    assert_null(llmgw_price_lookup(&t, "openai", NULL));
    arena_free(&a);
}

static void test_lookup_empty_table(void **state)
{
    llmgw_price_table t;
    llmgw_price_table_init(&t, NULL, NULL);
    assert_null(llmgw_price_lookup(&t, "openai", "gpt-4o"));
    const char *argv[] = {"input=1", "output=1"};
    llmgw_price p = mk("openai", "*", argv, 2);
    assert_int_equal(llmgw_price_table_add(&t, &p), -1);   /* no allocator */
    assert_null(llmgw_price_lookup(NULL, "openai", "gpt-4o"));
}

static void test_table_grows_in_order(void **state)
{
    arena a = {.n = 0};
    llmgw_price_table t;
    char globs[100][16];
    llmgw_price_table_init(&t, arena_alloc, &a);
    for (int i = 0; i < 100; i++) {
        char in[32];
        snprintf(globs[i], sizeof(globs[i]), "m%d-*", i);
        snprintf(in, sizeof(in), "0.%03d", i);
        add(&t, "p", globs[i], in);
    }
    assert_int_equal(t.n, 100);
    assert_int_equal(a.n, 4);                          /* 16, 32, 64, 128 */
    assert_int_equal(a.sizes[3], 128 * sizeof(llmgw_price));
    for (int i = 0; i < 100; i++) {
        char model[32];
        snprintf(model, sizeof(model), "m%d-x", i);
        assert_int_equal(input_of(&t, "p", model), (int64_t)i * 1000000);
        assert_string_equal(t.entries[i].glob, globs[i]);
    }
    a.fail = 1;
    for (int i = 100; i < 128; i++)
        add(&t, "p", "q", "1");
    const char *argv[] = {"input=1", "output=1"};
    llmgw_price p = mk("p", "z", argv, 2);
    assert_int_equal(llmgw_price_table_add(&t, &p), -1);   /* full and no memory */
    assert_int_equal(t.n, 128);
    arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_exact),
        cmocka_unit_test(test_decimal_rejects),
        cmocka_unit_test(test_parse_all_keys),
        cmocka_unit_test(test_parse_minimal),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_errors_provider_glob),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_cost_exact_simple),
        cmocka_unit_test(test_cost_all_terms),
        cmocka_unit_test(test_cost_fallback_prices_used),
        cmocka_unit_test(test_cost_clamps_inconsistent_figures),
        cmocka_unit_test(test_cost_overflow_guard),
        cmocka_unit_test(test_cost_format),
        cmocka_unit_test(test_lookup_precedence),
        cmocka_unit_test(test_lookup_empty_table),
        cmocka_unit_test(test_table_grows_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
