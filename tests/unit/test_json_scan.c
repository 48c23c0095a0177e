/* test_json_scan.c — llmgw_json_scan must judge every text as json_loadb(…, 0) does
 * (checked differentially on every truncation and thousands of single-byte mutations
 * of real provider bodies), find the right root members, and llmgw_json_build must
 * give what jansson gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "llmgw_json.h"
#include "llmgw_json_scan.h"
#include "scan_paths_check.h"
#include "llmgw_usage.h"

static const char *const NAMES[] = {"usage", "model", "id", "response", "usageMetadata",
                                    "candidates"};
#define NNAMES (sizeof(NAMES) / sizeof(NAMES[0]))

static const char *const SAMPLES[] = {
    /* OpenAI chat completion: escapes, raw UTF-8, \u escapes, a surrogate pair, null */
    "{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion\","
    "\"created\":1741570283,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"Caf\xc3\xa9 \\u00e9 \\\"q\\\" "
    "\\ud83d\\ude00\\n\\tend\\/\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1117,\"completion_tokens\":46,"
    "\"total_tokens\":1163,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
    "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_fc9f1d7035\"}",
    /* Anthropic message, pretty-printed (whitespace everywhere) */
    "{\n  \"id\": \"msg_013Zva2CMHLNnXjNJJKqJ2EF\",\n  \"type\": \"message\",\n  \"role\": "
    "\"assistant\",\n  \"model\": \"claude-sonnet-4-20250514\",\n  \"content\": [ {\"type\": "
    "\"text\", \"text\": \"Hi! My name is Claude.\"} ],\n  \"stop_reason\": \"end_turn\",\n"
    "  \"stop_sequence\": null,\r\n  \"usage\": {\t\"input_tokens\": 2095, \"output_tokens\": "
    "503, \"cache_creation_input_tokens\": 2051, \"cache_read_input_tokens\": 0, "
    "\"cache_creation\": {\"ephemeral_5m_input_tokens\": 0, \"ephemeral_1h_input_tokens\": "
    "2051}}\n}\n",
    /* Gemini generateContent: camelCase, a real, negative and exponent numbers */
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hello\"}],\"role\":\"model\"},"
    "\"finishReason\":\"STOP\",\"avgLogprobs\":-0.0212e1,\"index\":0}],\"usageMetadata\":"
    "{\"promptTokenCount\":8,\"candidatesTokenCount\":12.0,\"totalTokenCount\":20,"
    "\"thoughtsTokenCount\":0,\"promptTokensDetails\":[{\"modality\":\"TEXT\","
    "\"tokenCount\":8}]},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"abc\","
    "\"flags\":[true,false,null,-0,0.5,1E+2,2e-3]}",
    /* a repeated member (jansson keeps the last) and a nested one of the same name */
    "{\"usage\":{\"prompt_tokens\":1},\"x\":{\"usage\":{\"prompt_tokens\":9}},"
    "\"usage\":{\"prompt_tokens\":2},\"model\":\"m\"}",
    /* array root (streamGenerateContent without alt=sse) */
    "[{\"usageMetadata\":{\"promptTokenCount\":1}},{\"usageMetadata\":{\"promptTokenCount\""
    ":2}}]",
    /* a chat request: the same names in sibling and nested objects, none repeated within
     * one object, and a long plain string crossing many 16-byte blocks */
    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
    "careful assistant; answer briefly and cite sources when you can.\"},{\"role\":\"user\","
    "\"content\":[{\"type\":\"text\",\"text\":\"hi\"},{\"type\":\"image_url\",\"image_url\":"
    "{\"url\":\"https://example.invalid/a.png\"}}]}],\"tools\":[{\"type\":\"function\","
    "\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"type\":"
    "{\"type\":\"string\"}}}}}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
    /* for paths: a repeated parent (its earlier members forgotten), four levels, an empty
     * name, members in arrays (never on a path) */
    "{\"usage\":{\"prompt_tokens\":1,\"details\":{\"cached\":2}},\"usage\":{\"details\":"
    "{\"x\":5},\"prompt_tokens\":3},\"a\":{\"a\":{\"a\":{\"a\":1,\"b\":[2]},\"a\":{\"b\":3}},"
    "\"b\":{\"\":4}},\"response\":{\"usage\":{\"prompt_tokens\":7}},\"\":{\"x\":1},"
    "\"b\":[{\"usage\":9}]}",
};
#define NSAMPLES (sizeof(SAMPLES) / sizeof(SAMPLES[0]))

static int jansson_ok_flags(const char *s, size_t n, size_t flags)
{
    json_error_t err;
    json_t *j = json_loadb(s, n, flags, &err);
    json_decref(j);
    return j != NULL;
}

static int jansson_ok(const char *s, size_t n)
{
    return jansson_ok_flags(s, n, 0);
}

/* With LLMGW_JSON_UNIQUE_KEYS the verdict is jansson's under JSON_REJECT_DUPLICATES;
 * the spans are those of the plain scan. */
static void check_unique(const char *s, size_t n, llmgw_json_verdict plain,
                         const llmgw_json_span *plain_sp)
{
    llmgw_json_span sp[NNAMES];
    llmgw_json_verdict v = llmgw_json_scan_flags(s, n, 2048, LLMGW_JSON_UNIQUE_KEYS, NAMES,
                                                 NNAMES, sp);
    if (plain == LLMGW_JSON_INVALID)
        assert_int_equal(v, LLMGW_JSON_INVALID);
    if (v == LLMGW_JSON_UNDECIDED)
        return;
    int ok = jansson_ok_flags(s, n, JSON_REJECT_DUPLICATES);
    if (ok != (v == LLMGW_JSON_VALID)) {
        fprintf(stderr, "unique scan says %d, jansson %d for [%.*s]\n", v, ok, (int)n, s);
        fail();
    }
    if (v == LLMGW_JSON_VALID)
        assert_memory_equal(sp, plain_sp, sizeof sp);
}

/* The scanner's verdict agrees with jansson; for VALID texts every span and the
 * builder agree with jansson's tree. Returns the verdict. */
static llmgw_json_verdict check_text(const char *s, size_t n)
{
    const char *paths = scan_paths_disagree(s, n, 2048);
    if (paths)
        fail_msg("paths: %s for [%.*s]", paths, (int)n, s);
    llmgw_json_span sp[NNAMES];
    llmgw_json_verdict v = llmgw_json_scan(s, n, 2048, NAMES, NNAMES, sp);
    check_unique(s, n, v, sp);
    if (v == LLMGW_JSON_UNDECIDED)
        return v;
    int ok = jansson_ok(s, n);
    if (ok != (v == LLMGW_JSON_VALID)) {
        fprintf(stderr, "scanner says %d, jansson %d for [%.*s]\n", v, ok, (int)n, s);
        fail();
    }
    if (v != LLMGW_JSON_VALID)
        return v;
    json_error_t err;
    json_t *full = json_loadb(s, n, 0, &err), *built = llmgw_json_build(s, n, 0);
    assert_non_null(built);
    assert_true(json_equal(full, built));
    json_decref(built);
    for (size_t i = 0; i < NNAMES; i++) {
        json_t *want = json_is_object(full) ? json_object_get(full, NAMES[i]) : NULL;
        if (!want) {
            assert_int_equal(sp[i].len, 0);
            continue;
        }
        assert_true(sp[i].len > 0);
        json_t *got = json_loadb(s + sp[i].off, sp[i].len, JSON_DECODE_ANY, &err);
        json_t *fast = llmgw_json_build(s + sp[i].off, sp[i].len, 0);
        assert_non_null(got);
        assert_true(json_equal(want, got));
        assert_true(json_equal(want, fast));
        json_decref(got);
        json_decref(fast);
    }
    json_decref(full);
    return v;
}

static void test_samples_valid_and_spans_right(void **state)
{
    for (size_t i = 0; i < NSAMPLES; i++)
        assert_int_equal(check_text(SAMPLES[i], strlen(SAMPLES[i])), LLMGW_JSON_VALID);
    /* the repeated member: the last one, not the nested one */
    const char *s = SAMPLES[3];
    llmgw_json_span sp[NNAMES];
    assert_int_equal(llmgw_json_scan(s, strlen(s), 64, NAMES, NNAMES, sp), LLMGW_JSON_VALID);
    assert_int_equal(sp[0].len, strlen("{\"prompt_tokens\":2}"));
    assert_memory_equal(s + sp[0].off, "{\"prompt_tokens\":2}", sp[0].len);
    assert_memory_equal(s + sp[1].off, "\"m\"", 3);
    /* names inside strings and in nested objects are not members */
    s = "{\"a\":\"\\\"usage\\\":{}\",\"b\":[{\"usage\":1}],\"c\":{\"model\":2}}";
    assert_int_equal(llmgw_json_scan(s, strlen(s), 64, NAMES, NNAMES, sp), LLMGW_JSON_VALID);
    for (size_t i = 0; i < NNAMES; i++)
        assert_int_equal(sp[i].len, 0);
}

/* Every prefix, and every single-byte replacement, insertion and deletion with bytes
 * that matter to a JSON lexer, of every sample. */
static void test_mutations_agree_with_jansson(void **state)
{
    static const unsigned char bytes[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', '1',
                                          '-', '+', 'e', '.', 'u', 't', 'n', ' ', '\n', 'x',
                                          0x00, 0x01, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc3,
                                          0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff};
    size_t checked = 0, undecided = 0;
    for (size_t k = 0; k < NSAMPLES; k++) {
        const char *s = SAMPLES[k];
        size_t n = strlen(s);
        char *buf = malloc(n + 2);
        assert_non_null(buf);
        for (size_t len = 0; len < n; len++)
            undecided += check_text(s, len) == LLMGW_JSON_UNDECIDED, checked++;
        for (size_t i = 0; i < n; i++) {
            for (size_t b = 0; b < sizeof bytes; b++) {
                memcpy(buf, s, n);
                buf[i] = (char)bytes[b];
                undecided += check_text(buf, n) == LLMGW_JSON_UNDECIDED;
                memcpy(buf, s, i);
                buf[i] = (char)bytes[b];
                memcpy(buf + i + 1, s + i, n - i);
                undecided += check_text(buf, n + 1) == LLMGW_JSON_UNDECIDED;
                checked += 2;
            }
            memcpy(buf, s, i);
            memcpy(buf + i, s + i + 1, n - i - 1);
            undecided += check_text(buf, n - 1) == LLMGW_JSON_UNDECIDED, checked++;
        }
        free(buf);
    }
    /* inserted digits make a few 19-digit integers; everything else is decided */
    assert_true(undecided * 100 < checked);
}

static void test_table(void **state)
{
    static const struct {
        const char *text;
        llmgw_json_verdict want;
    } cases[] = {
        {"{}", LLMGW_JSON_VALID}, {"[]", LLMGW_JSON_VALID}, {" \t\r\n{} \n", LLMGW_JSON_VALID},
        {"", LLMGW_JSON_INVALID}, {"   ", LLMGW_JSON_INVALID}, {"1", LLMGW_JSON_INVALID},
        {"\"s\"", LLMGW_JSON_INVALID}, {"null", LLMGW_JSON_INVALID},
        {"{} {}", LLMGW_JSON_INVALID}, {"{}x", LLMGW_JSON_INVALID},
        {"{\"a\":1,}", LLMGW_JSON_INVALID}, {"[1,]", LLMGW_JSON_INVALID},
        {"[,1]", LLMGW_JSON_INVALID}, {"{,}", LLMGW_JSON_INVALID},
        {"{\"a\" 1}", LLMGW_JSON_INVALID}, {"{a:1}", LLMGW_JSON_INVALID},
        {"{'a':1}", LLMGW_JSON_INVALID}, {"[01]", LLMGW_JSON_INVALID},
        {"[-01]", LLMGW_JSON_INVALID}, {"[1.]", LLMGW_JSON_INVALID},
        {"[.5]", LLMGW_JSON_INVALID}, {"[1e]", LLMGW_JSON_INVALID},
        {"[1e+]", LLMGW_JSON_INVALID}, {"[-]", LLMGW_JSON_INVALID},
        {"[+1]", LLMGW_JSON_INVALID}, {"[-0, 0.0, 1E5, 1e-400]", LLMGW_JSON_VALID},
        {"[1e307]", LLMGW_JSON_VALID}, {"[123456789012345678]", LLMGW_JSON_VALID},
        {"[1234567890123456789]", LLMGW_JSON_UNDECIDED},
        {"[99999999999999999999]", LLMGW_JSON_UNDECIDED}, {"[1e309]", LLMGW_JSON_UNDECIDED},
        {"[tru]", LLMGW_JSON_INVALID}, {"[truex]", LLMGW_JSON_INVALID},
        {"[True]", LLMGW_JSON_INVALID}, {"[nul]", LLMGW_JSON_INVALID},
        {"[\"\\u0000\"]", LLMGW_JSON_INVALID}, {"{\"\\u0000\":1}", LLMGW_JSON_INVALID},
        {"[\"\\ud800\"]", LLMGW_JSON_INVALID}, {"[\"\\udc00\"]", LLMGW_JSON_INVALID},
        {"[\"\\ud800\\u0041\"]", LLMGW_JSON_INVALID}, {"[\"\\ud83d\\ude00\"]", LLMGW_JSON_VALID},
        {"[\"\\x41\"]", LLMGW_JSON_INVALID}, {"[\"\\u12G4\"]", LLMGW_JSON_INVALID},
        {"[\"a\nb\"]", LLMGW_JSON_INVALID}, {"[\"a\x7f\"]", LLMGW_JSON_VALID},
        {"[\"\xc3\xa9\"]", LLMGW_JSON_VALID}, {"[\"\xc3\"]", LLMGW_JSON_INVALID},
        {"[\"\xc0\xaf\"]", LLMGW_JSON_INVALID}, {"[\"\xed\xa0\x80\"]", LLMGW_JSON_INVALID},
        {"[\"\xf4\x90\x80\x80\"]", LLMGW_JSON_INVALID}, {"[\"\xf0\x9f\x98\x80\"]", LLMGW_JSON_VALID},
        {"\xef\xbb\xbf{}", LLMGW_JSON_INVALID}, {"{\"\\u0075sage\":1}", LLMGW_JSON_UNDECIDED},
        {"{\"a\\n\":1}", LLMGW_JSON_UNDECIDED},
    };
    llmgw_json_span sp[NNAMES];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].text;
        llmgw_json_verdict v = llmgw_json_scan(t, strlen(t), 64, NAMES, NNAMES, sp);
        if (v != cases[i].want)
            fprintf(stderr, "case %zu [%s]: got %d want %d\n", i, t, v, cases[i].want);
        assert_int_equal(v, cases[i].want);
        if (v != LLMGW_JSON_UNDECIDED)
            assert_int_equal(jansson_ok(t, strlen(t)), v == LLMGW_JSON_VALID);
    }
    /* a NUL byte is refused anywhere; the length, not the terminator, ends the text */
    assert_int_equal(llmgw_json_scan("{\"a\":\"\0\"}", 9, 64, NULL, 0, NULL), LLMGW_JSON_INVALID);
    assert_int_equal(llmgw_json_scan("{}\0", 3, 64, NULL, 0, NULL), LLMGW_JSON_INVALID);
    assert_int_equal(llmgw_json_scan("{}xyz", 2, 64, NULL, 0, NULL), LLMGW_JSON_VALID);
    /* jansson drops a NUL right after a number or literal: followed, but undecided */
    assert_int_equal(llmgw_json_scan("[1\0]", 4, 64, NULL, 0, NULL), LLMGW_JSON_UNDECIDED);
    assert_int_equal(jansson_ok("[1\0]", 4), 1);
    assert_int_equal(llmgw_json_scan("[true\0,\0]", 8, 64, NULL, 0, NULL), LLMGW_JSON_INVALID);
    assert_int_equal(jansson_ok("[true\0,\0]", 8), 0);
    assert_int_equal(llmgw_json_scan(NULL, 0, 64, NULL, 0, NULL), LLMGW_JSON_INVALID);
}

/* Repeated names, as JSON_REJECT_DUPLICATES sees them: within one object at any depth;
 * the same name in different objects is fine. */
static void test_unique_keys(void **state)
{
    static const struct {
        const char *text;
        llmgw_json_verdict want;
    } cases[] = {
        {"{\"a\":1,\"a\":2}", LLMGW_JSON_INVALID},
        {"{\"a\":1,\"b\":{\"a\":2},\"c\":[{\"a\":3},{\"a\":4}]}", LLMGW_JSON_VALID},
        {"{\"a\":{\"a\":{\"a\":1}}}", LLMGW_JSON_VALID},
        {"{\"m\":[{\"b\":1,\"b\":2}]}", LLMGW_JSON_INVALID},
        {"{\"x\":{\"y\":{}},\"x\":1}", LLMGW_JSON_INVALID},      /* after a closed child */
        {"[{\"a\":1},{\"a\":1}]", LLMGW_JSON_VALID},
        {"{\"ab\":1,\"a\":2,\"b\":3,\"\":4}", LLMGW_JSON_VALID},
        {"{\"\":1,\"\":2}", LLMGW_JSON_INVALID},
        {"{\"a\":1,\"\\u0061\":2}", LLMGW_JSON_UNDECIDED},  /* an escape may spell a repeat */
        {"{\"a\":1,\"a\":2,\"a\\n\":3}", LLMGW_JSON_INVALID}, /* the repeat came first */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].text;
        llmgw_json_verdict v = llmgw_json_scan_flags(t, strlen(t), 64, LLMGW_JSON_UNIQUE_KEYS,
                                                     NULL, 0, NULL);
        if (v != cases[i].want)
            fprintf(stderr, "case %zu [%s]: got %d want %d\n", i, t, v, cases[i].want);
        assert_int_equal(v, cases[i].want);
        /* without the flag a repeat is fine, as jansson's plain load keeps the last */
        assert_int_not_equal(llmgw_json_scan(t, strlen(t), 64, NULL, 0, NULL),
                             LLMGW_JSON_INVALID);
    }
    /* an object of many members is left to jansson's hash table, as is deep nesting */
    char many[1024] = "{", *p = many + 1;
    for (int i = 0; i < 40; i++)
        p += sprintf(p, "%s\"k%d\":%d", i ? "," : "", i, i);
    strcpy(p, "}");
    assert_int_equal(llmgw_json_scan_flags(many, strlen(many), 64, LLMGW_JSON_UNIQUE_KEYS,
                                           NULL, 0, NULL), LLMGW_JSON_UNDECIDED);
    assert_int_equal(llmgw_json_scan(many, strlen(many), 64, NULL, 0, NULL), LLMGW_JSON_VALID);
    char deep[2 * 130 * 6];
    size_t n = 0;
    for (int i = 0; i < 130; i++)
        n += (size_t)sprintf(deep + n, "{\"a\":");
    deep[n++] = '1';
    memset(deep + n, '}', 130);
    n += 130;
    assert_int_equal(llmgw_json_scan_flags(deep, n, 2048, LLMGW_JSON_UNIQUE_KEYS, NULL, 0,
                                           NULL), LLMGW_JSON_UNDECIDED);
    assert_int_equal(llmgw_json_scan(deep, n, 2048, NULL, 0, NULL), LLMGW_JSON_VALID);
}

/* The SSE2 run finder: a special byte at every offset of a long string, and strings
 * ending at every offset near the end of the text (no read past it: ASan checks). */
/* ["<bytes>"] is VALID exactly when the bytes are one well-formed UTF-8 sequence as
 * llmgw_utf8_seq (jansson's rule) reads them: every lead and second byte, every third
 * byte of three-byte sequences, the edges of the fourth; alone, after ASCII, and in a
 * run of its own copies (the scanner takes runs of non-ASCII in one loop). */
static int utf8_valid_alone(const unsigned char *b, size_t n)
{
    return llmgw_utf8_seq(b, n) == n;
}

static void check_utf8(const unsigned char *b, size_t n)
{
    char text[64];
    int want = utf8_valid_alone(b, n);
    for (int form = 0; form < 3; form++) {
        size_t k = 0;
        text[k++] = '[';
        text[k++] = '"';
        if (form == 1)
            text[k++] = 'a';
        for (int copies = form == 2 ? 3 : 1; copies > 0; copies--) {
            memcpy(text + k, b, n);
            k += n;
        }
        text[k++] = '"';
        text[k++] = ']';
        llmgw_json_verdict v = llmgw_json_scan(text, k, 8, NULL, 0, NULL);
        if (v != (want ? LLMGW_JSON_VALID : LLMGW_JSON_INVALID))
            fail_msg("%02x %02x %02x %02x (%zu bytes, form %d): verdict %d", b[0],
                     n > 1 ? b[1] : 0, n > 2 ? b[2] : 0, n > 3 ? b[3] : 0, n, form, (int)v);
    }
}

static void test_utf8_every_sequence(void **state)
{
    (void)state;
    static const unsigned char edges[] = {0x00, 0x22, 0x5c, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                          0xa0, 0xbf, 0xc0, 0xff};
    unsigned char b[4];
    for (unsigned b0 = 0x80; b0 < 0x100; b0++) {
        b[0] = (unsigned char)b0;
        check_utf8(b, 1);
        for (unsigned b1 = 0; b1 < 0x100; b1++) {
            b[1] = (unsigned char)b1;
            if (b1 != '"' && b1 != '\\' && b1 >= 0x20)
                check_utf8(b, 2);
            if (b0 < 0xE0)
                continue;
            for (unsigned b2 = 0; b2 < 0x100; b2 += b0 < 0xF0 ? 1 : 0x10) {
                b[2] = (unsigned char)b2;
                if (b2 == '"' || b2 == '\\' || b2 < 0x20)
                    continue;
                check_utf8(b, 3);
                if (b0 < 0xF0)
                    continue;
                for (size_t i = 0; i < sizeof edges; i++) {
                    b[3] = edges[i];
                    if (b[3] != '"' && b[3] != '\\' && b[3] >= 0x20)
                        check_utf8(b, 4);
                }
            }
        }
    }
}

static void test_long_strings_every_offset(void **state)
{
    char buf[80];
    for (size_t len = 0; len < 60; len++) {
        for (size_t at = 0; at <= len; at++) {
            static const char specials[] = {'"', '\\', '\n', (char)0xc3, (char)0x80, 0x1f};
            for (size_t k = 0; k < sizeof specials; k++) {
                buf[0] = '[';
                buf[1] = '"';
                memset(buf + 2, 'a', len);
                if (at < len)
                    buf[2 + at] = specials[k];
                buf[2 + len] = '"';
                buf[3 + len] = ']';
                char *t = malloc(4 + len);   /* exact size: a read past it is caught */
                assert_non_null(t);
                memcpy(t, buf, 4 + len);
                check_text(t, 4 + len);
                check_text(t, 3 + len);
                free(t);
            }
        }
    }
}

/* Every path of a full set found where names share hash slots: names of one length and
 * the same end bytes in each object, the same names in objects 0 and 16 (whose parent
 * terms of the hash are alike), and unwanted names of the same shape beside them. */
#define SLOT_OBJECTS 17
static void test_paths_sharing_slots(void **state)
{
    (void)state;
    static char names[LLMGW_JSON_PATHS_MAX][4];
    llmgw_json_path paths[LLMGW_JSON_PATHS_MAX];
    llmgw_json_paths ps;
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < LLMGW_JSON_PATHS_MAX; i++) {
        int j = i - SLOT_OBJECTS;
        if (j < 0) {
            snprintf(names[i], sizeof names[i], "o%d", i);
            paths[i] = (llmgw_json_path){names[i], 0, LLMGW_JSON_ROOT};
        } else {
            snprintf(names[i], sizeof names[i], "k%ck", 'a' + j / SLOT_OBJECTS);
            paths[i] = (llmgw_json_path){names[i], 0, j % SLOT_OBJECTS};
        }
    }
    assert_int_equal(llmgw_json_paths_init(&ps, paths, LLMGW_JSON_PATHS_MAX), 0);
    n += (size_t)snprintf(text + n, sizeof text - n, "{\"oX\":1");
    for (int o = SLOT_OBJECTS - 1; o >= 0; o--) {   /* objects, and names in them, reversed */
        n += (size_t)snprintf(text + n, sizeof text - n, ",\"o%d\":{\"kzk\":-1", o);
        for (int i = LLMGW_JSON_PATHS_MAX - 1; i >= SLOT_OBJECTS; i--)
            if ((i - SLOT_OBJECTS) % SLOT_OBJECTS == o)
                n += (size_t)snprintf(text + n, sizeof text - n, ",\"%s\":%d", names[i], i);
        n += (size_t)snprintf(text + n, sizeof text - n, ",\"kk\":-2}");
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "}");
    assert_true(n < sizeof text);
    llmgw_json_span sp[LLMGW_JSON_PATHS_MAX];
    assert_int_equal(llmgw_json_scan_paths(text, n, 64, LLMGW_JSON_UNIQUE_KEYS, &ps, sp),
                     LLMGW_JSON_VALID);
    for (int i = SLOT_OBJECTS; i < LLMGW_JSON_PATHS_MAX; i++) {
        char want[8];
        snprintf(want, sizeof want, "%d", i);
        assert_int_equal(sp[i].len, strlen(want));
        assert_memory_equal(text + sp[i].off, want, strlen(want));
    }
    for (int i = 0; i < SLOT_OBJECTS; i++)
        assert_true(sp[i].len > 0 && text[sp[i].off] == '{');
}

static void test_depth_limit_and_no_recursion(void **state)
{
    enum { D = 200000 };
    char *s = malloc(2 * D);
    assert_non_null(s);
    memset(s, '[', D);
    memset(s + D, ']', D);
    /* exactly max deep is fine, one more is not (as llmgw_json_depth_ok counts) */
    char ok[2 * 64], deep[2 * 65];
    memset(ok, '[', 64);
    memset(ok + 64, ']', 64);
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    assert_int_equal(llmgw_json_scan(ok, sizeof ok, 64, NULL, 0, NULL), LLMGW_JSON_VALID);
    assert_int_equal(llmgw_json_scan(deep, sizeof deep, 64, NULL, 0, NULL), LLMGW_JSON_INVALID);
    /* hostile nesting: refused without recursion, at any max */
    assert_int_equal(llmgw_json_scan(s, 2 * D, 1 << 30, NULL, 0, NULL), LLMGW_JSON_INVALID);
    free(s);
}

static void test_build_values(void **state)
{
    static const char *const vals[] = {
        "0", "-17", "9223372036854775807", "12.0", "-1.5e-3", "true", "false", "null",
        "\"\"", "\"plain\"", "\"esc \\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00\"",
        "{}", "[]", "{\"a\\u0062\":[1,{\"c\":null}],\"a\":2, \"a\" : 3}",
        " [ 1 , \"x\" , [ ] , { } ] ",
    };
    json_error_t err;
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        json_t *want = json_loadb(vals[i], strlen(vals[i]), JSON_DECODE_ANY, &err);
        json_t *got = llmgw_json_build(vals[i], strlen(vals[i]), 0);
        assert_non_null(want);
        assert_non_null(got);
        if (!json_equal(want, got))
            fprintf(stderr, "build differs for %s\n", vals[i]);
        assert_true(json_equal(want, got));
        json_decref(want);
        json_decref(got);
    }
    assert_null(llmgw_json_build(NULL, 0, 0));
    /* JSON_REJECT_DUPLICATES as jansson: a repeated key, also spelled with escapes */
    static const char *const dup[] = {"{\"a\":1,\"a\":2}", "{\"x\":{\"a\":1,\"\\u0061\":2}}"};
    for (size_t i = 0; i < 2; i++) {
        assert_null(json_loadb(dup[i], strlen(dup[i]), JSON_REJECT_DUPLICATES, &err));
        assert_null(llmgw_json_build(dup[i], strlen(dup[i]), JSON_REJECT_DUPLICATES));
        json_t *last = llmgw_json_build(dup[i], strlen(dup[i]), 0);
        assert_non_null(last);
        json_decref(last);
    }
    json_t *uniq = llmgw_json_build(SAMPLES[0], strlen(SAMPLES[0]), JSON_REJECT_DUPLICATES);
    assert_non_null(uniq);
    json_decref(uniq);
}

/* llmgw_usage_from_json reads whole bodies through the scanner: the same figures,
 * the same "not JSON" answers, and the full parse where the scanner is undecided. */
static void test_usage_through_the_scanner(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(llmgw_usage_from_json(LLMGW_PT_OPENAI, SAMPLES[0], strlen(SAMPLES[0]), &u), 0);
    assert_true(u.seen);
    assert_int_equal(u.prompt, 1117);
    assert_int_equal(u.completion, 46);
    assert_string_equal(u.model, "gpt-4o-2024-08-06");
    assert_string_equal(u.response_id, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
    llmgw_usage_init(&u);
    assert_int_equal(llmgw_usage_from_json(LLMGW_PT_ANTHROPIC, SAMPLES[1], strlen(SAMPLES[1]), &u), 0);
    assert_int_equal(u.prompt, 2095 + 2051);
    assert_int_equal(u.cache_write_1h, 2051);
    assert_int_equal(u.completion, 503);
    assert_true(u.final);
    llmgw_usage_init(&u);
    assert_int_equal(llmgw_usage_from_json(LLMGW_PT_GEMINI, SAMPLES[2], strlen(SAMPLES[2]), &u), 0);
    assert_int_equal(u.prompt, 8);
    assert_int_equal(u.completion, 12);
    assert_true(u.final);                   /* finishReason, read inside "candidates" */
    assert_string_equal(u.model, "gemini-2.5-flash");
    llmgw_usage_init(&u);
    assert_int_equal(llmgw_usage_from_json(LLMGW_PT_OPENAI, SAMPLES[3], strlen(SAMPLES[3]), &u), 0);
    assert_int_equal(u.prompt, 2);          /* the last "usage", as jansson keeps */
    llmgw_usage_init(&u);
    assert_int_equal(llmgw_usage_from_json(LLMGW_PT_GEMINI, SAMPLES[4], strlen(SAMPLES[4]), &u), 0);
    assert_int_equal(u.prompt, 2);          /* array form: the full parse, last chunk wins */
    /* undecided texts (an escaped member name, a 19-digit integer) take the full parse */
    static const char esc[] = "{\"\\u0075sage\":{\"prompt_tokens\":5}}";
    llmgw_usage_init(&u);
    assert_int_equal(llmgw_usage_from_json(LLMGW_PT_OPENAI, esc, strlen(esc), &u), 0);
    assert_int_equal(u.prompt, 5);
    static const char big[] = "{\"n\":1234567890123456789,\"usage\":{\"prompt_tokens\":6}}";
    llmgw_usage_init(&u);
    assert_int_equal(llmgw_usage_from_json(LLMGW_PT_OPENAI, big, strlen(big), &u), 0);
    assert_int_equal(u.prompt, 6);
    /* not JSON, wherever the fault is; an array root is JSON without usage */
    static const char *const bad[] = {"{\"usage\":{\"prompt_tokens\":5}} x",
                                      "{\"usage\":{\"prompt_tokens\":5},\"c\":[1,]}",
                                      "{\"usage\":{\"prompt_tokens\":5},\"c\":\"\\x\"}",
                                      "<html>502</html>", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        llmgw_usage_init(&u);
        assert_int_equal(llmgw_usage_from_json(LLMGW_PT_OPENAI, bad[i], strlen(bad[i]), &u), -1);
        assert_false(u.seen);
    }
    llmgw_usage_init(&u);
    assert_int_equal(llmgw_usage_from_json(LLMGW_PT_OPENAI, "[1]", 3, &u), 0);
    assert_false(u.seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_valid_and_spans_right),
        cmocka_unit_test(test_mutations_agree_with_jansson),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_depth_limit_and_no_recursion),
        cmocka_unit_test(test_unique_keys),
        cmocka_unit_test(test_long_strings_every_offset),
        cmocka_unit_test(test_paths_sharing_slots),
        cmocka_unit_test(test_utf8_every_sequence),
        cmocka_unit_test(test_build_values),
        cmocka_unit_test(test_usage_through_the_scanner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
