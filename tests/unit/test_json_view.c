/* test_json_view.c — cmocka tests for llmgw_json_view (member lookup with the last
 * duplicate winning and escaped names decoded, strings decoded and cut like C strings,
 * arrays, counts rounded exactly as strtod then truncated, nothing read outside a
 * view), and a differential test of llmgw_usage against the jansson implementation it
 * replaced (tests/fuzz/usage_reference.h) on provider bodies, stream events, the fuzz
 * seed corpora and thousands of mutations of them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* memmem, in the reference */
#endif
#include <dirent.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "llmgw_json_view.h"
#include "llmgw_sse.h"
#include "llmgw_usage.h"
#include "usage_reference.h"

#define NAME(lit) ((llmgw_view_name)LLMGW_VIEW_NAME(lit))

static llmgw_json_view root(const char *s)
{
    return llmgw_view_of(s, strlen(s));
}

/* The text of a view, for comparisons. */
static void assert_view(llmgw_json_view v, const char *text)
{
    assert_int_equal(v.n, strlen(text));
    assert_memory_equal(v.p, text, v.n);
}

/* ---- types, members, arrays ----------------------------------------------------- */

static void test_types_and_root(void **state)
{
    static const struct {
        const char *text;
        llmgw_view_type t;
    } cases[] = {
        {" {\"a\":1} \n", LLMGW_VIEW_OBJECT}, {"[1]", LLMGW_VIEW_ARRAY},
        {"\"s\"", LLMGW_VIEW_STRING},         {"-0.5e3", LLMGW_VIEW_NUMBER},
        {"7", LLMGW_VIEW_NUMBER},             {"true", LLMGW_VIEW_TRUE},
        {"false", LLMGW_VIEW_FALSE},          {"null", LLMGW_VIEW_NULL},
        {"", LLMGW_VIEW_ABSENT},              {" \t\r\n", LLMGW_VIEW_ABSENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(llmgw_view_type_of(root(cases[i].text)), cases[i].t);
    assert_view(root(" {\"a\":1} \n"), "{\"a\":1}");
    assert_false(llmgw_view_present(llmgw_view_of(NULL, 3)));
    assert_false(llmgw_view_present(llmgw_view_at("abc", 1, 0)));
    assert_view(llmgw_view_at("abc", 1, 2), "bc");
}

static void test_members(void **state)
{
    static const llmgw_view_name names[] = {
        LLMGW_VIEW_NAME("a"), LLMGW_VIEW_NAME("b"), LLMGW_VIEW_NAME("ab"),
        LLMGW_VIEW_NAME("missing"), LLMGW_VIEW_NAME(""), LLMGW_VIEW_NAME("caf\xc3\xa9")};
    llmgw_json_view out[6];
    /* duplicates: the last wins; nested and in-string look-alikes are not members */
    llmgw_view_members(root("{ \"a\" : 1 , \"b\":{\"a\":9,\"ab\":[\"a\",{\"b\":2}]},"
                            "\"x\":\"\\\"ab\\\":3\", \"a\":\"two\",\"\":null,"
                            "\"caf\\u00e9\":true, \"a\\u0062\": [ ] }"),
                       names, 6, out);
    assert_view(out[0], "\"two\"");
    assert_view(out[1], "{\"a\":9,\"ab\":[\"a\",{\"b\":2}]}");
    assert_view(out[2], "[ ]");                  /* an escaped name is decoded */
    assert_false(llmgw_view_present(out[3]));
    assert_view(out[4], "null");
    assert_view(out[5], "true");
    /* nested lookups */
    llmgw_json_view ab = llmgw_view_get(out[1], NAME("ab"));
    llmgw_view_iter it = llmgw_view_items(ab);
    llmgw_json_view item;
    assert_true(llmgw_view_next(&it, &item));
    assert_true(llmgw_view_string_is(item, "a"));
    assert_true(llmgw_view_next(&it, &item));
    assert_view(llmgw_view_get(item, NAME("b")), "2");
    assert_false(llmgw_view_next(&it, &item));
    /* an escaped duplicate still follows the last-wins rule, in both directions */
    assert_view(llmgw_view_get(root("{\"n\":1,\"\\u006e\":2}"), NAME("n")), "2");
    assert_view(llmgw_view_get(root("{\"\\u006e\":1,\"n\":2}"), NAME("n")), "2");
    /* escapes that only look alike do not match */
    assert_false(llmgw_view_present(llmgw_view_get(root("{\"n\\n\":1}"), NAME("n"))));
    assert_false(llmgw_view_present(llmgw_view_get(root("{\"\\\\n\":1}"), NAME("n"))));
    assert_view(llmgw_view_get(root("{\"\\\\n\":1}"), NAME("\\n")), "1");
    /* lookups in what is not an object find nothing */
    static const char *const not_objects[] = {"[{\"a\":1}]", "\"a\"", "1", "null", ""};
    for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
        llmgw_view_members(root(not_objects[i]), names, 6, out);
        for (size_t j = 0; j < 6; j++)
            assert_false(llmgw_view_present(out[j]));
    }
    assert_false(llmgw_view_present(llmgw_view_get(root("{}"), NAME("a"))));
    assert_false(llmgw_view_present(llmgw_view_get(root("{ }"), NAME(""))));
}

static void test_arrays(void **state)
{
    static const char *const want[] = {"1", "\"]\"", "[2,[3]]", "{\"k\":[]}", "-1.5e-3",
                                       "null", "true", "false", "\"\\\"\""};
    llmgw_json_view arr = root("[ 1 ,\"]\",[2,[3]] ,{\"k\":[]},\n-1.5e-3,null,true,false,"
                               "\"\\\"\" ]");
    llmgw_view_iter it = llmgw_view_items(arr);
    llmgw_json_view item;
    size_t n = 0;
    while (llmgw_view_next(&it, &item)) {
        assert_true(n < sizeof want / sizeof want[0]);
        assert_view(item, want[n++]);
    }
    assert_int_equal(n, sizeof want / sizeof want[0]);
    assert_false(llmgw_view_next(&it, &item));  /* stays finished */
    it = llmgw_view_items(root("[ ]"));
    assert_false(llmgw_view_next(&it, &item));
    it = llmgw_view_items(root("{\"a\":[1]}"));
    assert_false(llmgw_view_next(&it, &item));
    it = llmgw_view_items(llmgw_view_of(NULL, 0));
    assert_false(llmgw_view_next(&it, &item));
}

/* Each object of an array read once: the items are those llmgw_view_next gives, and
 * each object's members those llmgw_view_members finds (absent for other items). */
static void test_array_of_objects(void **state)
{
    (void)state;
    static const llmgw_view_name names[] = {LLMGW_VIEW_NAME("content"), LLMGW_VIEW_NAME("r")};
    const char *text = "[{\"r\":\"u\",\"content\":\"hi\"} , \"s\", {}, {\"content\":[1,{\"content\":2}],"
                       "\"x\":{\"r\":1}, \"r\":null}, 7, {\"c\\u006fntent\":\"e\"}, [{\"r\":3}] ]";
    llmgw_view_iter a = llmgw_view_items(root(text)), b = a;
    llmgw_json_view item, want, out[2], ref[2];
    int n = 0;
    while (llmgw_view_next_members(&a, &item, names, 2, out)) {
        assert_true(llmgw_view_next(&b, &want));
        assert_true(item.p == want.p && item.n == want.n);
        llmgw_view_members(item, names, 2, ref);
        for (int i = 0; i < 2; i++)
            assert_true(out[i].p == ref[i].p && out[i].n == ref[i].n);
        n++;
    }
    assert_false(llmgw_view_next(&b, &want));
    assert_int_equal(n, 7);
    a = llmgw_view_items(root(text));
    assert_true(llmgw_view_next_members(&a, &item, names, 2, out));
    assert_view(out[0], "\"hi\"");
    assert_view(out[1], "\"u\"");
}

/* ---- strings ------------------------------------------------------------------------ */

static void test_strings(void **state)
{
    char buf[64];
    /* every escape, a \u in the BMP, a surrogate pair, raw UTF-8 */
    assert_true(llmgw_view_copy_string(root("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\\u00e9"
                                            "\\u20AC\\ud83d\\ude00\xc3\xa9\""),
                                       buf, sizeof buf));
    assert_string_equal(buf, "a\"b\\c/d\be\ff\ng\rh\ti\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                             "\xc3\xa9");
    assert_true(llmgw_view_string_is(root("\"msg\\u005fstart\""), "msg_start"));
    assert_false(llmgw_view_string_is(root("\"msg_start\""), "msg_star"));
    assert_false(llmgw_view_string_is(root("\"msg_sta\""), "msg_start"));
    assert_false(llmgw_view_string_is(root("7"), "7"));
    assert_true(llmgw_view_string_is(root("\"\""), ""));
    /* cut at cap - 1 bytes, even inside a character (as the jansson copy did) */
    assert_true(llmgw_view_copy_string(root("\"abcdef\""), buf, 4));
    assert_string_equal(buf, "abc");
    assert_true(llmgw_view_copy_string(root("\"ab\\u20ac\""), buf, 4));
    assert_int_equal(strlen(buf), 3);
    assert_memory_equal(buf, "ab\xe2", 3);
    assert_true(llmgw_view_copy_string(root("\"ab\\n\\n\""), buf, 4));
    assert_string_equal(buf, "ab\n");
    assert_true(llmgw_view_copy_string(root("\"abc\""), buf, 1));
    assert_string_equal(buf, "");
    /* a decoded U+0000 ends the C string (valid text never has one: jansson refuses) */
    assert_true(llmgw_view_copy_string(root("\"ab\\u0000cd\""), buf, sizeof buf));
    assert_string_equal(buf, "ab");
    /* not a string: untouched */
    strcpy(buf, "keep");
    assert_false(llmgw_view_copy_string(root("null"), buf, sizeof buf));
    assert_false(llmgw_view_copy_string(root("12"), buf, sizeof buf));
    assert_false(llmgw_view_copy_string(llmgw_view_of(NULL, 0), buf, sizeof buf));
    assert_string_equal(buf, "keep");
    assert_true(llmgw_view_copy_string(root("\"\""), buf, sizeof buf));
    assert_string_equal(buf, "");
    /* long strings: past the word-at-a-time start, escapes on both sides of it */
    char text[400], want[400];
    size_t n = 0, w = 0;
    text[n++] = '"';
    for (int i = 0; i < 60; i++) {
        n += (size_t)sprintf(text + n, i % 7 ? "xyz" : "\\\"");
        w += (size_t)sprintf(want + w, i % 7 ? "xyz" : "\"");
    }
    text[n++] = '"';
    text[n] = '\0';
    assert_true(llmgw_view_copy_string(root(text), buf, sizeof buf));
    assert_int_equal(strlen(buf), sizeof buf - 1);
    assert_memory_equal(buf, want, sizeof buf - 1);
    char big[512];
    llmgw_json_view obj = root(strcat(strcat(strcpy(big, "{\"t\":"), text), ",\"k\":5}"));
    assert_view(llmgw_view_get(obj, NAME("k")), "5");
}

/* ---- counts ----------------------------------------------------------------------- */

#define MAX LLMGW_TOKENS_MAX

static int64_t count(const char *s)
{
    int64_t v = -42;
    assert_true(llmgw_view_count(root(s), MAX, &v));
    return v;
}

static void test_counts(void **state)
{
    static const struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"0", 0}, {"-0", 0}, {"12", 12}, {"12.0", 12}, {"1.2e1", 12}, {"1.2E+1", 12},
        {"120e-1", 12}, {"12.999", 12}, {"-4", 0}, {"-0.5", 0}, {"0.5", 0}, {"-1e300", 0},
        {"1e300", MAX}, {"1e15", MAX}, {"1000000000000000", MAX},
        {"999999999999999", 999999999999999}, {"999999999999999.9", 999999999999999},
        {"999999999999999.99", MAX},       /* strtod rounds it to 1e15 */
        {"4.9999999999999999999", 5},      /* and this to 5.0 */
        {"4.9999999999999995", 4},         /* but this to the double below 5 */
        {"0.99999999999999999", 1}, {"0.9999999999999999", 0},
        {"9223372036854775807", MAX}, {"12345678901234567890123", MAX}, {"1E-400", 0},
        {"0.000000000000000000000000000000000000001e40", 10},
        {"123456789012345.6789", 123456789012345}, {"3e0", 3}, {"0e99999", 0},
        {"2.5e-99999999999999999999", 0}, {"1e99999999999999999999", MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = count(cases[i].text);
        if (got != cases[i].want)
            fail_msg("%s: %lld, want %lld", cases[i].text, (long long)got,
                     (long long)cases[i].want);
    }
    int64_t v = 7;
    assert_false(llmgw_view_count(root("\"12\""), MAX, &v));
    assert_false(llmgw_view_count(root("null"), MAX, &v));
    assert_false(llmgw_view_count(root("[1]"), MAX, &v));
    assert_false(llmgw_view_count(llmgw_view_of(NULL, 0), MAX, &v));
    assert_int_equal(v, 7);
    assert_true(llmgw_view_count(root("1e99"), 100, &v));
    assert_int_equal(v, 100);
}

/* llmgw_view_integer against jansson's own reading of the same token. */
static void test_integers(void **state)
{
    static const struct {
        const char *text;
        int rc;
        int64_t want;
    } cases[] = {
        {"0", 1, 0}, {"-0", 1, 0}, {"7", 1, 7}, {"-42", 1, -42},
        {"999999999999999999", 1, 999999999999999999LL},
        {"9223372036854775807", 1, INT64_MAX}, {"-9223372036854775808", 1, INT64_MIN},
        {"9223372036854775808", -1, 0}, {"-9223372036854775809", -1, 0},
        {"123456789012345678901234567890", -1, 0},
        {"1.0", 0, 0}, {"2e3", 0, 0}, {"-0.0", 0, 0}, {"1E2", 0, 0},
        {"99999999999999999999.5", 0, 0},     /* a real, however long its integer part */
        {"\"5\"", 0, 0}, {"null", 0, 0}, {"true", 0, 0}, {"[1]", 0, 0}, {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = 12345;
        int rc = llmgw_view_integer(root(cases[i].text), &got);
        if (rc != cases[i].rc || (rc == 1 && got != cases[i].want))
            fail_msg("%s: rc %d value %lld", cases[i].text, rc, (long long)got);
        if (rc != 1)
            assert_int_equal(got, 12345);       /* untouched */
        /* jansson agrees: an integer when rc is 1, a real when 0, a refusal when -1 */
        char doc[80];
        json_error_t err;
        snprintf(doc, sizeof doc, "[%s]", cases[i].text);
        json_t *j = json_loads(doc, 0, &err);
        json_t *x = json_array_get(j, 0);
        if (rc == 1)
            assert_true(json_is_integer(x) && json_integer_value(x) == got);
        else if (rc == -1)
            assert_null(j);
        else if (x)
            assert_false(json_is_integer(x));
        json_decref(j);
    }
    /* the view's bounds, not a NUL, end the token */
    int64_t v;
    assert_int_equal(llmgw_view_integer(llmgw_view_at("[123,4]", 1, 2), &v), 1);
    assert_int_equal(v, 12);
}

/* What the jansson-based code did with a number token: strtoll or strtod (in the C
 * locale), then truncation and the clamp. */
static int64_t strtod_count(const char *s)
{
    if (!strpbrk(s, ".eE")) {
        long long v = strtoll(s, NULL, 10);
        return v < 0 ? 0 : v > MAX ? MAX : v;
    }
    double d = strtod(s, NULL);
    return d <= 0 ? 0 : d >= (double)MAX ? MAX : (int64_t)d;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* A random number token, biased to where truncation is delicate: long runs of 9s
 * after the point, values next to integers and next to 1e15, exponents moving it. */
static void random_number(char *s)
{
    size_t n = 0;
    unsigned idigits = rnd(18), fdigits = rnd(4) ? rnd(30) : 0;
    if (!rnd(10))
        s[n++] = '-';
    if (!idigits)
        s[n++] = '0';
    for (unsigned i = 0; i < idigits; i++)
        s[n++] = (char)('0' + (i == 0 ? 1 + rnd(9) : rnd(4) ? 9 : rnd(10)));
    if (fdigits) {
        s[n++] = '.';
        unsigned nines = rnd(fdigits + 1);
        for (unsigned i = 0; i < fdigits; i++)
            s[n++] = (char)('0' + (i < nines ? 9 : rnd(10)));
    }
    if (!rnd(3))
        n += (size_t)sprintf(s + n, "e%s%u", rnd(2) ? "-" : rnd(2) ? "+" : "", rnd(20));
    s[n] = '\0';
    if (idigits > 15 && !strpbrk(s, ".eE"))
        s[15] = '\0';                     /* the integer path is tested above */
}

static void test_counts_match_strtod(void **state)
{
    char s[96];
    setlocale(LC_NUMERIC, "C");
    for (int i = 0; i < 100000; i++) {
        random_number(s);
        int64_t got = count(s), want = strtod_count(s);
        if (got != want)
            fail_msg("%s: %lld, strtod says %lld", s, (long long)got, (long long)want);
    }
    /* every integer next to a power of two, with fractions right at the midpoints */
    for (int k = 0; k <= 50; k++) {
        for (int d = -2; d <= 2; d++) {
            static const char *const fracs[] = {".9", ".99", ".999999", ".9999999999999999",
                                                ".99999999999999999999999999", ".5", ".0",
                                                ".9375", ".96875", ".937499999", ".9375000001"};
            for (size_t f = 0; f < sizeof fracs / sizeof fracs[0]; f++) {
                snprintf(s, sizeof s, "%lld%s", (long long)(((int64_t)1 << k) + d), fracs[f]);
                if (s[0] == '-')
                    continue;
                int64_t got = count(s), want = strtod_count(s);
                if (got != want)
                    fail_msg("%s: %lld, strtod says %lld", s, (long long)got, (long long)want);
            }
        }
    }
}

/* ---- bounds ----------------------------------------------------------------------- */

/* Every operation on every prefix of a text, each copied to an allocation of exactly
 * its size: under valgrind or ASan, a read past a view is an error. Prefixes are
 * not valid JSON; the answers do not matter, the bounds do. */
static void exercise(llmgw_json_view v)
{
    static const llmgw_view_name names[] = {LLMGW_VIEW_NAME("usage"), LLMGW_VIEW_NAME("id"),
                                            LLMGW_VIEW_NAME("a")};
    llmgw_json_view out[3], item;
    char buf[16];
    int64_t n;
    llmgw_view_members(v, names, 3, out);
    llmgw_view_iter it = llmgw_view_items(v);
    for (int i = 0; i < 64 && llmgw_view_next(&it, &item); i++)
        exercise(item);
    it = llmgw_view_items(v);
    for (int i = 0; i < 64 && llmgw_view_next_members(&it, &item, names, 3, out); i++)
        assert_true(item.p >= v.p && item.p + item.n <= v.p + v.n);
    llmgw_view_members(v, names, 3, out);
    for (int i = 0; i < 3; i++)
        if (llmgw_view_present(out[i]) && out[i].p != v.p)
            exercise(out[i]);
    llmgw_view_count(v, MAX, &n);
    llmgw_view_copy_string(v, buf, sizeof buf);
    llmgw_view_string_is(v, "abc");
}

static void test_never_reads_outside(void **state)
{
    static const char *const texts[] = {
        "{\"usage\":{\"a\":\"x\\u00e9\\ud83d\\ude00\\\"\",\"id\":[1,2.5e3,{\"a\":null}]},"
        "\"id\":\"abc\\\\\",\"a\":-0.9999e1}",
        "[\"\\\\\\\"\",{\"\\u0061\":true}, [ ] ,\"01234567890123456789012345678901234\"]",
    };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t len = strlen(texts[t]);
        for (size_t n = 1; n <= len; n++) {
            char *exact = malloc(n);
            assert_non_null(exact);
            memcpy(exact, texts[t], n);
            exercise(llmgw_view_of(exact, n));
            exercise(llmgw_view_of(exact + n - 1, 1));
            free(exact);
        }
    }
}

/* ---- differential: llmgw_usage against the jansson implementation it replaced --------- */

static const struct {
    llmgw_ptype t;
    const char *body;
} BODIES[] = {
    {LLMGW_PT_OPENAI,
     "{\"id\":\"chatcmpl-BENCH0000000000000000000001\",\"object\":\"chat.completion\","
     "\"created\":1732550000,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,"
     "\"message\":{\"role\":\"assistant\",\"content\":\"Check that the worker is really "
     "used.\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":"
     "{\"prompt_tokens\":231,\"completion_tokens\":58,\"total_tokens\":289,"
     "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
     "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
     "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
     "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_bench\"}"},
    {LLMGW_PT_OPENAI,
     "{\"id\":\"resp_67cc\",\"object\":\"response\",\"status\":\"completed\",\"model\":"
     "\"o4-mini\",\"output\":[{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}],"
     "\"temperature\":1.0,\"usage\":{\"input_tokens\":2036,\"input_tokens_details\":"
     "{\"cached_tokens\":1920},\"output_tokens\":587,\"output_tokens_details\":"
     "{\"reasoning_tokens\":448},\"total_tokens\":2623},\"user\":null,\"metadata\":{}}"},
    {LLMGW_PT_OPENAI,
     "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":"
     "[-0.006929283,-0.005336422,0.00024047505]}],\"model\":\"text-embedding-3-small\","
     "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}"},
    {LLMGW_PT_OPENAI_COMPAT,
     "{\"object\":\"list\",\"model\":\"bge\",\"usage\":{\"total_tokens\":42,"
     "\"completion_tokens\":2.5e1}}"},
    {LLMGW_PT_ANTHROPIC,
     "{\n  \"id\": \"msg_01XF\",\n  \"type\": \"message\",\n  \"model\": \"claude-sonnet-4\","
     "\n  \"content\": [{\"type\": \"text\", \"text\": \"Hi \\\"there\\\" \\u00e9\"}],\n"
     "  \"usage\": {\"input_tokens\": 12, \"cache_creation_input_tokens\": 2048,"
     " \"cache_read_input_tokens\": 4096, \"cache_creation\": {\"ephemeral_5m_input_tokens\":"
     " 1536, \"ephemeral_1h_input_tokens\": 512}, \"output_tokens\": 6,"
     " \"output_tokens_details\": {\"thinking_tokens\": 3}}\n}\n"},
    {LLMGW_PT_GEMINI,
     "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"AI learns.\"}],\"role\": "
     "\"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": "
     "{\"promptTokenCount\": 10,\"candidatesTokenCount\": 25,\"cachedContentTokenCount\": 4,"
     "\"toolUsePromptTokenCount\": 6,\"thoughtsTokenCount\": 100},\"modelVersion\": "
     "\"gemini-2.5-flash\",\"responseId\": \"Jb3O\"}"},
    {LLMGW_PT_GEMINI,
     "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}],\"usageMetadata\":"
     "{\"promptTokenCount\":7,\"candidatesTokenCount\":1},\"modelVersion\":\"g2\"},"
     "{\"candidates\":[{\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":7,"
     "\"candidatesTokenCount\":9},\"modelVersion\":\"g2\",\"responseId\":\"r\"}]"},
};
#define NBODIES (sizeof BODIES / sizeof BODIES[0])

typedef struct {
    size_t compared, json;
} tally;

/* Both implementations from the same starting state (zero, and one with every field
 * set, so keep-versus-replace rules show) must agree byte for byte. */
static void compare_body(llmgw_ptype t, const char *s, size_t n, tally *c)
{
    for (int dirty = 0; dirty < 2; dirty++) {
        llmgw_usage a, b;
        llmgw_usage_init(&a);
        if (dirty) {
            a.prompt = a.completion = a.cached = a.cache_write = a.cache_write_1h = 7;
            a.reasoning = a.raw_input = 7;
            a.seen = 1;
            strcpy(a.model, "keep");
            strcpy(a.response_id, "keep-id");
        }
        b = a;
        int ra = llmgw_usage_from_json(t, s, n, &a), rb = ref_usage_from_json(t, s, n, &b);
        if (ra != rb || memcmp(&a, &b, sizeof a))
            fail_msg("type %d, body [%.*s]: rc %d/%d prompt %lld/%lld completion %lld/%lld "
                     "model [%s]/[%s]", t, (int)n, s, ra, rb, (long long)a.prompt,
                     (long long)b.prompt, (long long)a.completion, (long long)b.completion,
                     a.model, b.model);
        c->compared++;
        c->json += ra == 0;
    }
}

static void compare_event(llmgw_ptype t, const char *ev, const char *s, size_t n, tally *c)
{
    llmgw_usage a, b;
    size_t elen = ev ? strlen(ev) : 0;
    llmgw_usage_init(&a);
    a.completion = 3;
    strcpy(a.model, "keep");
    b = a;
    llmgw_usage_from_event(t, ev, elen, s, n, &a);
    ref_usage_from_event(t, ev, elen, s, n, &b);
    if (memcmp(&a, &b, sizeof a))
        fail_msg("type %d, event %s, data [%.*s]: prompt %lld/%lld completion %lld/%lld",
                 t, ev ? ev : "-", (int)n, s, (long long)a.prompt, (long long)b.prompt,
                 (long long)a.completion, (long long)b.completion);
    if (llmgw_usage_is_usage_only_chunk(s, n) != ref_usage_is_usage_only_chunk(s, n))
        fail_msg("usage-only chunk verdicts differ on [%.*s]", (int)n, s);
    c->compared++;
}

/* Number tokens a provider or a mutation may put where a count goes. */
static const char *const NUMBERS[] = {
    "0", "-0", "12.0", "1.2e1", "-4", "0.5", "1e300", "1e400", "1e15", "999999999999999.99",
    "4.9999999999999999999", "9223372036854775807", "9223372036854775808", "-1e-5", "1E2",
    "\"12\"", "null", "true", "[]", "{}", "{\"cached_tokens\":5}",
};

/* Mutations of one text: every prefix; single bytes that matter to JSON replaced,
 * inserted, deleted; each number replaced by NUMBERS; each name letter escaped. */
static void mutate(const char *s, void (*check)(const char *, size_t, void *), void *ctx)
{
    static const unsigned char bytes[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', '9',
                                          '-', '.', 'e', 'u', ' ', 'x', 0x00, 0xc3, 0xff};
    size_t n = strlen(s);
    char *buf = malloc(n + 64);
    assert_non_null(buf);
    for (size_t len = 0; len < n; len++)
        check(s, len, ctx);
    for (size_t i = 0; i < n; i++) {
        for (size_t b = 0; b < sizeof bytes; b++) {
            memcpy(buf, s, n);
            buf[i] = (char)bytes[b];
            check(buf, n, ctx);
            memcpy(buf, s, i);
            buf[i] = (char)bytes[b];
            memcpy(buf + i + 1, s + i, n - i);
            check(buf, n + 1, ctx);
        }
        memcpy(buf, s, i);
        memcpy(buf + i, s + i + 1, n - i - 1);
        check(buf, n - 1, ctx);
        /* a number starts here: replace the whole token */
        if ((s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) && i && strchr(":[, ", s[i - 1])) {
            size_t end = i;
            while (end < n && strchr("0123456789+-.eE", s[end]))
                end++;
            for (size_t k = 0; k < sizeof NUMBERS / sizeof NUMBERS[0]; k++) {
                size_t l = strlen(NUMBERS[k]);
                memcpy(buf, s, i);
                memcpy(buf + i, NUMBERS[k], l);
                memcpy(buf + i + l, s + end, n - end);
                check(buf, i + l + n - end, ctx);
            }
        }
        /* a letter: written as \u00XX (in names and in values) */
        if ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_') {
            memcpy(buf, s, i);
            int l = sprintf(buf + i, "\\u%04x", (unsigned char)s[i]);
            memcpy(buf + i + l, s + i + 1, n - i - 1);
            check(buf, n - 1 + (size_t)l, ctx);
        }
    }
    free(buf);
}

typedef struct {
    llmgw_ptype t;
    const char *event;
    tally *c;
} target;

static void check_body(const char *s, size_t n, void *ctx)
{
    const target *tg = ctx;
    compare_body(tg->t, s, n, tg->c);
    /* every wire format reads every body differently: try another one too */
    compare_body((llmgw_ptype)((tg->t + 1 + n % 4) % LLMGW_PT_HTTP), s, n, tg->c);
}

static void check_event(const char *s, size_t n, void *ctx)
{
    const target *tg = ctx;
    compare_event(tg->t, tg->event, s, n, tg->c);
}

static void test_usage_bodies_match_reference(void **state)
{
    tally c = {0, 0};
    for (size_t i = 0; i < NBODIES; i++) {
        target tg = {BODIES[i].t, NULL, &c};
        mutate(BODIES[i].body, check_body, &tg);
    }
    print_message("%zu body comparisons, %zu of them JSON\n", c.compared, c.json);
    assert_true(c.json > c.compared / 10);
}

/* ---- the fuzz seed corpora --------------------------------------------------------- */

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* corpus/usage_json: [provider type] body. */
static void test_usage_corpus_matches_reference(void **state)
{
    DIR *d = opendir(CORPUS_DIR "/usage_json");
    struct dirent *de;
    tally c = {0, 0};
    size_t files = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t len;
        char *buf = de->d_name[0] == '.' ? NULL : read_file(CORPUS_DIR "/usage_json",
                                                            de->d_name, &len);
        if (!buf)
            continue;
        if (len > 1 && (unsigned char)buf[0] < LLMGW_PT_COUNT) {
            target tg = {(llmgw_ptype)buf[0], NULL, &c};
            files++;
            compare_body(tg.t, buf + 1, len - 1, &c);
            if (len < 4096 && !memchr(buf + 1, '\0', len - 1))
                mutate(buf + 1, check_body, &tg);
        }
        free(buf);
    }
    closedir(d);
    print_message("%zu corpus bodies, %zu comparisons\n", files, c.compared);
    assert_true(files >= 5);
}

/* corpus/sse_usage: [type][cap][seed][seed] stream. Events come from the real parser. */
typedef struct {
    llmgw_ptype t;
    int own;                /* the stream's own provider type: mutate its events */
    tally *c;
    void *blocks[64];
    int nblocks;
} stream_ctx;

static void *stream_alloc(void *ctx, size_t n)
{
    stream_ctx *s = ctx;
    assert_true(s->nblocks < 64);
    return s->blocks[s->nblocks++] = malloc(n);
}

static void on_event(void *baton, const char *event, size_t elen, const char *data,
                     size_t dlen, uint64_t start, uint64_t end)
{
    stream_ctx *s = baton;
    char ev[64], *copy = malloc(dlen + 1);
    assert_non_null(copy);
    snprintf(ev, sizeof ev, "%.*s", (int)elen, event);
    memcpy(copy, data, dlen);
    copy[dlen] = '\0';
    static const char *const names[] = {NULL, "message", "message_start", "message_delta"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        compare_event(s->t, i ? names[i] : ev, copy, dlen, s->c);
    if (s->own && dlen < 2048 && !memchr(copy, '\0', dlen)) {
        target tg = {s->t, ev, s->c};
        mutate(copy, check_event, &tg);
    }
    free(copy);
}

static void test_event_corpus_matches_reference(void **state)
{
    DIR *d = opendir(CORPUS_DIR "/sse_usage");
    struct dirent *de;
    tally c = {0, 0};
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t len;
        char *buf = de->d_name[0] == '.' ? NULL : read_file(CORPUS_DIR "/sse_usage",
                                                            de->d_name, &len);
        if (!buf)
            continue;
        for (int t = 0; t < LLMGW_PT_HTTP && len > 4; t++) {
            stream_ctx s = {(llmgw_ptype)t, (unsigned char)buf[0] % LLMGW_PT_COUNT == t, &c,
                            {0}, 0};
            llmgw_sse p;
            llmgw_sse_init(&p, 65536, stream_alloc, &s, on_event, &s);
            llmgw_sse_feed(&p, buf + 4, len - 4);
            llmgw_sse_finish(&p);
            for (int i = 0; i < s.nblocks; i++)
                free(s.blocks[i]);
        }
        free(buf);
    }
    closedir(d);
    print_message("%zu event comparisons\n", c.compared);
    assert_true(c.compared > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_root),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_array_of_objects),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_counts_match_strtod),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_never_reads_outside),
        cmocka_unit_test(test_usage_bodies_match_reference),
        cmocka_unit_test(test_usage_corpus_matches_reference),
        cmocka_unit_test(test_event_corpus_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
