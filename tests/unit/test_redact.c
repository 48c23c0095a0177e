/* test_redact.c — cmocka tests for llmgw_redact: pattern compilation (errors with the
 * user's offsets, leading verbs), rule names, one-text scans (redaction counts, several
 * matches and rules, empty matches, multi-byte text, blocks, invalid UTF-8), the limits
 * (a catastrophic pattern fails fast; a slow-everywhere pattern stops at the deadline),
 * every request shape of every provider with non-text parts untouched, and the
 * re-serialised body (numbers and key order kept); the search from the bytes a match
 * can start with (it misses nothing PCRE2 finds). */
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
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "llmgw_redact.h"
#include "unit_json.h"

/* ---- a malloc arena standing in for the request pool ---------------------------------- */

typedef struct {
    void **ptrs;
    size_t n, cap;
} arena;

static void *arena_fn(void *ctx, size_t n)
{
    arena *a = ctx;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->ptrs = realloc(a->ptrs, a->cap * sizeof *a->ptrs);
    }
    return a->ptrs[a->n++] = malloc(n ? n : 1);
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    free(a->ptrs);
    memset(a, 0, sizeof *a);
}

/* ---- rules: the spec's example plus an email rule -------------------------------------- */

typedef struct {
    llmgw_rx *rx[8];
    llmgw_content_rule redact[2], block[1];
    llmgw_content_rules rules;
    arena ar;
    llmgw_alloc alloc;
} fixture;

static llmgw_rx *compile(const char *p)
{
    char err[256];
    llmgw_rx *rx = llmgw_rx_compile(p, err, sizeof err);
    if (!rx)
        fail_msg("pattern %s: %s", p, err);
    return rx;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->rx[0] = compile("\\b\\d{3}-\\d{2}-\\d{4}\\b");
    f->rx[1] = compile("\\b\\d{16}\\b");
    f->rx[2] = compile("[a-z]+@example\\.com");
    f->rx[3] = compile("confidential");
    f->rx[4] = compile("(?i)internal only");
    f->redact[0] = (llmgw_content_rule){"pii-protection", f->rx, 2};
    f->redact[1] = (llmgw_content_rule){"email", f->rx + 2, 1};
    f->block[0] = (llmgw_content_rule){"block-sensitive-topics", f->rx + 3, 2};
    f->rules = (llmgw_content_rules){f->redact, 2, f->block, 1};
    f->alloc = (llmgw_alloc){arena_fn, &f->ar};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 8; i++)
        llmgw_rx_free(f->rx[i]);
    arena_free(&f->ar);
    free(f);
    return 0;
}

static void test_compile(void **state)
{
    char err[256];
    assert_null(llmgw_rx_compile("a(b", err, sizeof err));
    assert_non_null(strstr(err, "offset 3"));
    assert_null(llmgw_rx_compile("x{2,1}", err, sizeof err));
    assert_non_null(strstr(err, "offset"));
    /* leading verbs stay first; error offsets are the user's */
    llmgw_rx *rx = llmgw_rx_compile("(*UCP)(*LIMIT_MATCH=1000)\\w+", err, sizeof err);
    assert_non_null(rx);
    llmgw_rx_free(rx);
    assert_null(llmgw_rx_compile("(*UCP)ab(", err, sizeof err));
    assert_non_null(strstr(err, "offset 9"));
    rx = llmgw_rx_compile("plain", err, sizeof err);
    assert_true(llmgw_rx_is_jit(rx));
    llmgw_rx_free(rx);
    llmgw_rx_free(NULL);
}

static void test_rule_names(void **state)
{
    assert_true(llmgw_rule_name_ok("pii-protection"));
    assert_true(llmgw_rule_name_ok("a.b_C-9"));
    assert_false(llmgw_rule_name_ok(""));
    assert_false(llmgw_rule_name_ok(NULL));
    assert_false(llmgw_rule_name_ok("has space"));
    assert_false(llmgw_rule_name_ok("quote\""));
    assert_false(llmgw_rule_name_ok("brack]et"));
    char longname[LLMGW_RULE_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(llmgw_rule_name_ok(longname));
    longname[LLMGW_RULE_NAME_MAX] = '\0';
    assert_true(llmgw_rule_name_ok(longname));
}

static const char *scan1(fixture *f, llmgw_scan *s, const char *text, llmgw_scan_status want)
{
    const char *out;
    size_t n;
    llmgw_scan_init(s, &f->rules, &f->alloc);
    assert_int_equal(llmgw_scan_text(s, text, strlen(text), &out, &n), want);
    if (want == LLMGW_SCAN_OK)
        assert_int_equal(strlen(out), n);
    return out;
}

static void test_redact_text(void **state)
{
    fixture *f = *state;
    llmgw_scan s;
    const char *in = "ssn 123-45-6789 and 987-65-4321, card 4111111111111111, "
                     "mail bob@example.com, not 1234-56-7890 or 41111111111111112";
    const char *out = scan1(f, &s, in, LLMGW_SCAN_OK);
    assert_string_equal(out, "ssn [REDACTED:pii-protection] and [REDACTED:pii-protection], "
                             "card [REDACTED:pii-protection], mail [REDACTED:email], "
                             "not 1234-56-7890 or 41111111111111112");
    assert_int_equal(s.redactions, 4);
    assert_int_equal(s.texts, 1);
    /* nothing to redact: the very same text comes back, nothing counted */
    in = "nothing to see here";
    assert_ptr_equal(scan1(f, &s, in, LLMGW_SCAN_OK), in);
    assert_int_equal(s.redactions, 0);
    /* at the edges, and multi-byte characters around */
    out = scan1(f, &s, "123-45-6789", LLMGW_SCAN_OK);
    assert_string_equal(out, "[REDACTED:pii-protection]");
    out = scan1(f, &s, "日本 123-45-6789 ü", LLMGW_SCAN_OK);
    assert_string_equal(out, "日本 [REDACTED:pii-protection] ü");
    out = scan1(f, &s, "", LLMGW_SCAN_OK);
    assert_string_equal(out, "");
}

/* Found by fuzz_redact: replacing the key gives the card number the word boundary it
 * lacked; the rules run again over their output, leaving their own tags alone. */
static void test_replacement_exposes_a_neighbour(void **state)
{
    fixture *f = *state;
    llmgw_rx *card = compile("\\b\\d{16}\\b"), *key = compile("(?i)sk-[a-z0-9]{8,}");
    llmgw_rx *word = compile("[A-Z]+");   /* would match inside every tag */
    llmgw_content_rule r[3] = {{"pii", &card, 1}, {"api-key", &key, 1}, {"caps", &word, 1}};
    llmgw_content_rules rules = {r, 2, NULL, 0};
    llmgw_scan s;
    const char *out;
    size_t n;
    const char *in = "card 4111111111111111sk-abcdefgh1 end";
    llmgw_scan_init(&s, &rules, &f->alloc);
    assert_int_equal(llmgw_scan_text(&s, in, strlen(in), &out, &n), LLMGW_SCAN_OK);
    assert_string_equal(out, "card [REDACTED:pii][REDACTED:api-key] end");
    assert_int_equal(s.redactions, 2);
    /* a rule matching inside tags redacts the text once, never its own tags */
    llmgw_content_rules caps = {&r[2], 1, NULL, 0};
    llmgw_scan_init(&s, &caps, &f->alloc);
    assert_int_equal(llmgw_scan_text(&s, "a B c", 5, &out, &n), LLMGW_SCAN_OK);
    assert_string_equal(out, "a [REDACTED:caps] c");
    assert_int_equal(s.redactions, 1);
    llmgw_rx_free(card);
    llmgw_rx_free(key);
    llmgw_rx_free(word);
}

static void test_empty_matches_replace_nothing(void **state)
{
    fixture *f = *state;
    llmgw_rx *rx = compile("x*");
    llmgw_content_rule r = {"xs", &rx, 1};
    llmgw_content_rules rules = {&r, 1, NULL, 0};
    llmgw_scan s;
    const char *out;
    size_t n;
    llmgw_scan_init(&s, &rules, &f->alloc);
    assert_int_equal(llmgw_scan_text(&s, "aé xx b", strlen("aé xx b"), &out, &n),
                     LLMGW_SCAN_OK);
    assert_string_equal(out, "aé [REDACTED:xs] b");
    assert_int_equal(s.redactions, 1);
    llmgw_rx_free(rx);
}

static void test_block(void **state)
{
    fixture *f = *state;
    llmgw_scan s;
    scan1(f, &s, "this is confidential, 123-45-6789", LLMGW_SCAN_BLOCKED);
    assert_string_equal(s.rule, "block-sensitive-topics");
    scan1(f, &s, "for INTERNAL ONLY use", LLMGW_SCAN_BLOCKED);
    assert_string_equal(s.rule, "block-sensitive-topics");
    scan1(f, &s, "Confidential", LLMGW_SCAN_OK);   /* case-sensitive unless (?i) */
}

static void test_invalid_utf8_fails(void **state)
{
    fixture *f = *state;
    llmgw_scan s;
    const char bad[] = "abc \xc3\x28 123-45-6789";
    const char *out;
    size_t n;
    llmgw_scan_init(&s, &f->rules, &f->alloc);
    assert_int_equal(llmgw_scan_text(&s, bad, sizeof bad - 1, &out, &n), LLMGW_SCAN_FAILED);
    assert_non_null(s.rule);
    assert_true(s.error < 0);
}

/* CPU time of this thread: what the scan's budget counts, unaffected by other load */
static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char *repeat(const char *unit, size_t len)
{
    char *s = malloc(len + 1);
    size_t k = strlen(unit);
    for (size_t i = 0; i < len; i++)
        s[i] = unit[i % k];
    s[len] = '\0';
    return s;
}

/* Exponential backtracking at one position: the per-position limit ends it at once. */
static void test_catastrophic_pattern_fails_fast(void **state)
{
    fixture *f = *state;
    llmgw_rx *rx = compile("(a+)+$");
    llmgw_content_rule r = {"evil", &rx, 1};
    llmgw_content_rules rules = {NULL, 0, &r, 1};
    char *text = repeat("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 100000);
    llmgw_scan s;
    const char *out;
    size_t n;
    llmgw_scan_init(&s, &rules, &f->alloc);
    double t = cpu_seconds();
    assert_int_equal(llmgw_scan_text(&s, text, strlen(text), &out, &n), LLMGW_SCAN_FAILED);
    assert_true(cpu_seconds() - t < 2.0);      /* in fact well under a millisecond */
    assert_string_equal(s.rule, "evil");
    char why[128];
    llmgw_rx_strerror(s.error, why, sizeof why);
    assert_non_null(strstr(why, "limit"));
    free(text);
    llmgw_rx_free(rx);
}

/* Below the per-position limit everywhere (2^15 paths per position): without the
 * deadline this needs about 13 s of CPU over 1 MB; with it, about the budget. */
static void test_slow_everywhere_pattern_hits_the_deadline(void **state)
{
    fixture *f = *state;
    llmgw_rx *rx = compile("(a+)+$");
    llmgw_content_rule r = {"slow", &rx, 1};
    llmgw_content_rules rules = {&r, 1, NULL, 0};
    char *text = repeat("aaaaaaaaaaaaaaab", 1000000);
    llmgw_scan s;
    const char *out;
    size_t n;
    llmgw_scan_init(&s, &rules, &f->alloc);
    double t = cpu_seconds();
    assert_int_equal(llmgw_scan_text(&s, text, strlen(text), &out, &n), LLMGW_SCAN_FAILED);
    /* budget: 50 ms + 1 MB x 100 ns = 150 ms, plus at most 32 positions of overrun */
    assert_true(cpu_seconds() - t < 3.0);
    assert_string_equal(s.rule, "slow");
    char why[128];
    llmgw_rx_strerror(s.error, why, sizeof why);
    assert_string_equal(why, "time budget exceeded");
    free(text);
    llmgw_rx_free(rx);
}

/* ---- whole requests ------------------------------------------------------------------- */

#define SSN "123-45-6789"
#define R "[REDACTED:pii-protection]"

static void request_case(fixture *f, llmgw_ptype t, const char *in, const char *out,
                         int redactions)
{
    llmgw_scan s;
    const char *got;
    size_t n;
    llmgw_scan_init(&s, &f->rules, &f->alloc);
    assert_int_equal(llmgw_scan_request(&s, t, in, strlen(in), &got, &n), LLMGW_SCAN_OK);
    assert_int_equal(strlen(got), n);
    json_t *j = load(got);
    assert_json(j, out);
    assert_int_equal(s.redactions, redactions);
    assert_true(redactions ? got != in : got == in);
    json_decref(j);
    /* the same walk from the root members a judging scan found on its way */
    static const char *const roots[] = LLMGW_TEXT_ROOTS;
    llmgw_json_span sp[LLMGW_TR_N];
    const char *again;
    size_t n2;
    assert_int_equal(llmgw_json_scan_flags(in, strlen(in), 64, LLMGW_JSON_UNIQUE_KEYS, roots,
                                           LLMGW_TR_N, sp), LLMGW_JSON_VALID);
    llmgw_scan_init(&s, &f->rules, &f->alloc);
    assert_int_equal(llmgw_scan_request_at(&s, t, in, strlen(in), sp, &again, &n2),
                     LLMGW_SCAN_OK);
    assert_int_equal(s.redactions, redactions);
    assert_int_equal(n2, n);
    assert_memory_equal(again, got, n);
}

/* Only the redacted string tokens change: whitespace, number spellings, escapes and
 * member order elsewhere reach the provider byte for byte; an escaped text is decoded
 * before the rules see it and encoded again after. */
static void test_request_text_rewritten_in_place(void **state)
{
    fixture *f = *state;
    static const char in[] =
        "{ \"model\" : \"gpt-4o\",\n  \"temperature\": 1.0E0, \"top_p\": 0.50,"
        " \"messages\": [ {\"role\":\"user\", \"content\": \"line\\none " SSN
        " \\u00e9\\\"q\\\"\"},\n {\"role\":\"user\",\"content\":\"\\u0031\\u0032\\u0033-45-6789\"},"
        " {\"role\":\"user\",\"content\":\"kept \\t as sent\"} ] }";
    static const char want[] =
        "{ \"model\" : \"gpt-4o\",\n  \"temperature\": 1.0E0, \"top_p\": 0.50,"
        " \"messages\": [ {\"role\":\"user\", \"content\": \"line\\none " R
        " \xc3\xa9\\\"q\\\"\"},\n {\"role\":\"user\",\"content\":\"" R "\"},"
        " {\"role\":\"user\",\"content\":\"kept \\t as sent\"} ] }";
    llmgw_scan s;
    const char *got;
    size_t n;
    llmgw_scan_init(&s, &f->rules, &f->alloc);
    assert_int_equal(llmgw_scan_request(&s, LLMGW_PT_OPENAI, in, strlen(in), &got, &n),
                     LLMGW_SCAN_OK);
    assert_int_equal(s.redactions, 2);
    assert_string_equal(got, want);
    assert_int_equal(n, strlen(want));
    /* control characters a redacted text keeps are escaped again */
    static const char ctl[] = "{\"input\":\"a\\u0001b\\u001f " SSN "\\r\"}";
    llmgw_scan_init(&s, &f->rules, &f->alloc);
    assert_int_equal(llmgw_scan_request(&s, LLMGW_PT_OPENAI, ctl, strlen(ctl), &got, &n),
                     LLMGW_SCAN_OK);
    assert_string_equal(got, "{\"input\":\"a\\u0001b\\u001f " R "\\r\"}");
}

static void test_openai_chat_shapes(void **state)
{
    request_case(*state, LLMGW_PT_OPENAI,
                 "{\"model\":\"gpt-4o\",\"messages\":["
                 "{\"role\":\"system\",\"content\":\"sys " SSN "\"},"
                 "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"part " SSN "\"},"
                 "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," SSN "\"}}]},"
                 "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\","
                 "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"" SSN "\"}}]},"
                 "{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"tool " SSN "\"}],"
                 "\"temperature\":0.7}",
                 "{\"model\":\"gpt-4o\",\"messages\":["
                 "{\"role\":\"system\",\"content\":\"sys " R "\"},"
                 "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"part " R "\"},"
                 "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," SSN "\"}}]},"
                 "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\","
                 "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"" SSN "\"}}]},"
                 "{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"tool " R "\"}],"
                 "\"temperature\":0.7}", 3);
}

static void test_openai_responses_shapes(void **state)
{
    request_case(*state, LLMGW_PT_OPENAI,
                 "{\"model\":\"gpt-4o\",\"instructions\":\"ins " SSN "\",\"input\":\"in " SSN "\"}",
                 "{\"model\":\"gpt-4o\",\"instructions\":\"ins " R "\",\"input\":\"in " R "\"}", 2);
    request_case(*state, LLMGW_PT_OPENAI,
                 "{\"input\":[{\"role\":\"user\",\"content\":\"s " SSN "\"},"
                 "{\"type\":\"message\",\"role\":\"user\",\"content\":["
                 "{\"type\":\"input_text\",\"text\":\"t " SSN "\"},"
                 "{\"type\":\"input_image\",\"image_url\":\"" SSN "\"}]},"
                 "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"" SSN "\"},"
                 "{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":\"o " SSN "\"}]}",
                 "{\"input\":[{\"role\":\"user\",\"content\":\"s " R "\"},"
                 "{\"type\":\"message\",\"role\":\"user\",\"content\":["
                 "{\"type\":\"input_text\",\"text\":\"t " R "\"},"
                 "{\"type\":\"input_image\",\"image_url\":\"" SSN "\"}]},"
                 "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"" SSN "\"},"
                 "{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":\"o " R "\"}]}", 3);
    /* embeddings and legacy completions */
    request_case(*state, LLMGW_PT_OPENAI_COMPAT,
                 "{\"input\":[\"a " SSN "\",\"b\",[1,2,3]],\"prompt\":[\"p " SSN "\"]}",
                 "{\"input\":[\"a " R "\",\"b\",[1,2,3]],\"prompt\":[\"p " R "\"]}", 2);
}

static void test_anthropic_shapes(void **state)
{
    request_case(*state, LLMGW_PT_ANTHROPIC,
                 "{\"model\":\"claude\",\"system\":\"sys " SSN "\",\"messages\":["
                 "{\"role\":\"user\",\"content\":\"plain " SSN "\"}]}",
                 "{\"model\":\"claude\",\"system\":\"sys " R "\",\"messages\":["
                 "{\"role\":\"user\",\"content\":\"plain " R "\"}]}", 2);
    request_case(*state, LLMGW_PT_ANTHROPIC,
                 "{\"system\":[{\"type\":\"text\",\"text\":\"s " SSN "\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
                 "\"messages\":[{\"role\":\"user\",\"content\":["
                 "{\"type\":\"text\",\"text\":\"b " SSN "\"},"
                 "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"" SSN "\"}},"
                 "{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":\"d " SSN "\"}}]},"
                 "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"" SSN "\",\"signature\":\"x\"},"
                 "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"q\":\"" SSN "\"}}]},"
                 "{\"role\":\"user\",\"content\":["
                 "{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":\"r " SSN "\"},"
                 "{\"type\":\"tool_result\",\"tool_use_id\":\"u\",\"content\":["
                 "{\"type\":\"text\",\"text\":\"rb " SSN "\"},{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"data\":\"" SSN "\"}}]}]}]}",
                 "{\"system\":[{\"type\":\"text\",\"text\":\"s " R "\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
                 "\"messages\":[{\"role\":\"user\",\"content\":["
                 "{\"type\":\"text\",\"text\":\"b " R "\"},"
                 "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"" SSN "\"}},"
                 "{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":\"d " R "\"}}]},"
                 "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"" SSN "\",\"signature\":\"x\"},"
                 "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"q\":\"" SSN "\"}}]},"
                 "{\"role\":\"user\",\"content\":["
                 "{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":\"r " R "\"},"
                 "{\"type\":\"tool_result\",\"tool_use_id\":\"u\",\"content\":["
                 "{\"type\":\"text\",\"text\":\"rb " R "\"},{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"data\":\"" SSN "\"}}]}]}]}",
                 5);
}

static void test_gemini_shapes(void **state)
{
    request_case(*state, LLMGW_PT_GEMINI,
                 "{\"systemInstruction\":{\"parts\":[{\"text\":\"si " SSN "\"}]},"
                 "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"c " SSN "\"},"
                 "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"" SSN "\"}}]},"
                 "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":\"" SSN "\"}}}]}],"
                 "\"generationConfig\":{\"temperature\":0.3}}",
                 "{\"systemInstruction\":{\"parts\":[{\"text\":\"si " R "\"}]},"
                 "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"c " R "\"},"
                 "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"" SSN "\"}}]},"
                 "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":\"" SSN "\"}}}]}],"
                 "\"generationConfig\":{\"temperature\":0.3}}", 2);
    request_case(*state, LLMGW_PT_GEMINI,
                 "{\"system_instruction\":{\"parts\":[{\"text\":\"si " SSN "\"}]},"
                 "\"content\":{\"parts\":[{\"text\":\"e " SSN "\"}]},"
                 "\"requests\":[{\"model\":\"m\",\"content\":{\"parts\":[{\"text\":\"b " SSN "\"}]}}],"
                 "\"generateContentRequest\":{\"contents\":[{\"parts\":[{\"text\":\"g " SSN "\"}]}]}}",
                 "{\"system_instruction\":{\"parts\":[{\"text\":\"si " R "\"}]},"
                 "\"content\":{\"parts\":[{\"text\":\"e " R "\"}]},"
                 "\"requests\":[{\"model\":\"m\",\"content\":{\"parts\":[{\"text\":\"b " R "\"}]}}],"
                 "\"generateContentRequest\":{\"contents\":[{\"parts\":[{\"text\":\"g " R "\"}]}]}}", 4);
}

static void test_request_block_stops(void **state)
{
    fixture *f = *state;
    const char *j = "{\"messages\":[{\"role\":\"user\",\"content\":\"" SSN "\"},"
                    "{\"role\":\"user\",\"content\":\"strictly confidential\"}]}";
    const char *out;
    size_t n;
    llmgw_scan s;
    llmgw_scan_init(&s, &f->rules, &f->alloc);
    assert_int_equal(llmgw_scan_request(&s, LLMGW_PT_OPENAI, j, strlen(j), &out, &n),
                     LLMGW_SCAN_BLOCKED);
    assert_string_equal(s.rule, "block-sensitive-topics");
    /* no rules: nothing is scanned, nothing allocated */
    llmgw_content_rules none = {0};
    size_t before = f->ar.n;
    j = "{\"messages\":[{\"role\":\"user\",\"content\":\"confidential\"}]}";
    llmgw_scan_init(&s, &none, &f->alloc);
    assert_int_equal(llmgw_scan_request(&s, LLMGW_PT_OPENAI, j, strlen(j), &out, &n),
                     LLMGW_SCAN_OK);
    assert_true(out == j);
    assert_int_equal(s.texts, 0);
    assert_int_equal(f->ar.n, before);
}

static void test_dump_keeps_numbers_and_order(void **state)
{
    fixture *f = *state;
    const char *in = "{\"model\":\"m\",\"temperature\":0.7,\"top_p\":0.1,\"n\":3,"
                     "\"big\":123456789012345678,\"tiny\":1e-300,\"third\":0.3333333333333333,"
                     "\"s\":\"\\u00e9\\n\\\"\",\"arr\":[1.5,null,true]}";
    json_t *j = load(in);
    size_t n;
    char *out = llmgw_json_dump_alloc(j, &f->alloc, 16, &n);
    assert_non_null(out);
    assert_int_equal(strlen(out), n);
    assert_int_equal(strncmp(out, "{\"model\":\"m\",\"temperature\":", 27), 0);
    json_t *back = load(out);
    assert_true(json_equal(j, back));     /* every number parses back to the same value */
    assert_true(json_real_value(json_object_get(back, "temperature")) == 0.7);
    assert_true(json_real_value(json_object_get(back, "third")) == 0.3333333333333333);
    json_decref(back);
    json_decref(j);
}

/* The text a single pass of PCRE2 alone makes of t: every match, left to right,
 * replaced by [REDACTED:r]; NULL when that text still holds a match (the rules would
 * then run again over their own output, which this reference does not). */
static char *reference_redaction(pcre2_code *ref, pcre2_match_data *md, const char *t, size_t n)
{
    char *out = malloc(16 * n + 32);
    size_t o = 0, start = 0, last = 0;
    assert_non_null(out);
    while (start <= n && pcre2_match(ref, (PCRE2_SPTR)t, n, start, 0, md, NULL) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] <= ov[0]) {           /* the module replaces no empty match either */
            start = ov[1] + 1;
            while (start < n && ((unsigned char)t[start] & 0xc0) == 0x80)
                start++;
            continue;
        }
        memcpy(out + o, t + last, ov[0] - last);
        o += ov[0] - last;
        memcpy(out + o, "[REDACTED:r]", 12);
        o += 12;
        last = start = ov[1];
    }
    memcpy(out + o, t + last, n - last);
    o += n - last;
    out[o] = '\0';
    if (pcre2_match(ref, (PCRE2_SPTR)out, o, 0, 0, md, NULL) >= 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* A rule finds in a text exactly what PCRE2 alone (no start search, no anchored tries,
 * no callout) finds: random texts of bytes that start matches and bytes that do not,
 * across the 16-byte blocks of the start search and past the number of anchored tries,
 * multi-byte characters included; one and two start ranges, \b before a word character
 * (with and without alternation), a byte every match holds, a lookbehind, an anchor, \G.
 * Blocking agrees on whether there is a match; redaction gives the reference's text. */
static void test_start_search_misses_nothing(void **state)
{
    fixture *f = *state;
    static const char *const patterns[] = {
        "\\b\\d{3}-\\d{2}-\\d{4}\\b", "\\b\\d{16}\\b", "[a-c0-2]x", "(?<=k)\\d+",
        "\\d{2}$", "(?i)sk-[a-z0-9]{8,}", "\\Gab", "\xc3\xa9\\d", "[A-Z][a-z]+",
        "\\b[a-c]x", "\\b\\d{2}|5x", "\\b\\d+@", "\\d-\\d", "\\b1\\d*\\b"};
    static const char *const pieces[] = {"1", "12", "123-45-6789", "4111111111111111", "a",
                                         "b", "cx", "x", "k", "-", " ", "\xc3\xa9", "S", "sk-",
                                         "abcdefgh1", "Ab", "z", "\xe6\x97\xa5", "5x", "@", "_"};
    uint32_t seed = 12345;
    for (size_t pi = 0; pi < sizeof patterns / sizeof patterns[0]; pi++) {
        int e;
        PCRE2_SIZE off;
        pcre2_code *ref = pcre2_compile((PCRE2_SPTR)patterns[pi], PCRE2_ZERO_TERMINATED,
                                        PCRE2_UTF, &e, &off, NULL);
        pcre2_match_data *md = pcre2_match_data_create(1, NULL);
        llmgw_rx *rx = compile(patterns[pi]);
        assert_non_null(ref);
        for (int t = 0; t < 3000; t++) {
            char text[400];
            size_t n;
            seed = seed * 1103515245u + 12345u;
            /* one text in eight is long: more candidates than the anchored tries */
            size_t want_len = (seed >> 16) % (t % 8 ? 72 : 300), pad = (seed >> 8) % 40;
            memset(text, ' ', pad);     /* no pattern starts with a space: the first start
                                         * falls in a later block */
            n = pad;
            want_len += pad;
            while (n < want_len) {
                seed = seed * 1103515245u + 12345u;
                const char *piece = pieces[(seed >> 16) % (sizeof pieces / sizeof pieces[0])];
                size_t k = strlen(piece);
                memcpy(text + n, piece, k);
                n += k;
            }
            int found = pcre2_match(ref, (PCRE2_SPTR)text, n, 0, 0, md, NULL) >= 0;
            char *want = reference_redaction(ref, md, text, n);
            for (int as_block = 0; as_block < 2; as_block++) {
                llmgw_content_rule r = {"r", &rx, 1};
                llmgw_content_rules rules = {as_block ? NULL : &r, !as_block,
                                             as_block ? &r : NULL, (size_t)as_block};
                llmgw_scan s;
                const char *out;
                size_t out_len;
                llmgw_scan_init(&s, &rules, &f->alloc);
                char body[512];         /* a request's text is searched as trusted UTF-8 */
                int blen = snprintf(body, sizeof body,
                                    "{\"messages\":[{\"role\":\"user\",\"content\":\"%.*s\"}]}",
                                    (int)n, text);
                assert_true(blen > 0 && (size_t)blen < sizeof body);
                llmgw_scan_status st = llmgw_scan_request(&s, LLMGW_PT_OPENAI, body,
                                                          (size_t)blen, &out, &out_len);
                int ours = as_block ? st == LLMGW_SCAN_BLOCKED
                                    : st == LLMGW_SCAN_OK && s.redactions > 0;
                if (ours != found)
                    fail_msg("pattern %s on \"%.*s\": PCRE2 %d, rule %d (%s)", patterns[pi],
                             (int)n, text, found, ours, as_block ? "block" : "redact");
                if (as_block || !want)
                    continue;
                json_t *root = json_loadb(out, out_len, 0, NULL);
                const char *got = json_string_value(json_object_get(
                    json_array_get(json_object_get(root, "messages"), 0), "content"));
                if (!got || strcmp(got, want))
                    fail_msg("pattern %s on \"%.*s\": redacted to \"%s\", PCRE2 alone \"%s\"",
                             patterns[pi], (int)n, text, got ? got : "(none)", want);
                json_decref(root);
            }
            free(want);
        }
        llmgw_rx_free(rx);
        pcre2_match_data_free(md);
        pcre2_code_free(ref);
    }
}

/* Past the anchored tries, PCRE2's own search takes over at the candidate not yet tried:
 * a match there, or just before or after the switch, is found, and a pattern that runs
 * out of backtracking in an anchored try fails the scan. */
static void test_many_candidates_then_a_match(void **state)
{
    fixture *f = *state;
    llmgw_rx *rx = compile("\\d{3}x");
    llmgw_content_rule r = {"r", &rx, 1};
    llmgw_content_rules rules = {&r, 1, NULL, 0};
    for (int k = 56; k <= 72; k++) {
        char text[512], body[700], want[600];
        size_t n = 0;
        for (int i = 0; i < k; i++)
            n += (size_t)snprintf(text + n, sizeof text - n, "%d ", i % 10);
        snprintf(want, sizeof want, "%s[REDACTED:r] 9", text);
        n += (size_t)snprintf(text + n, sizeof text - n, "123x 9");
        int blen = snprintf(body, sizeof body,
                            "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", text);
        llmgw_scan s;
        const char *out;
        size_t out_len;
        llmgw_scan_init(&s, &rules, &f->alloc);
        assert_int_equal(llmgw_scan_request(&s, LLMGW_PT_OPENAI, body, (size_t)blen, &out,
                                            &out_len), LLMGW_SCAN_OK);
        assert_int_equal(s.redactions, 1);
        json_t *root = json_loadb(out, out_len, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(json_array_get(
                                json_object_get(root, "messages"), 0), "content")), want);
        json_decref(root);
    }
    llmgw_rx_free(rx);
    rx = compile("a(a|a)*[bc]");                /* catastrophic at every 'a' */
    llmgw_content_rule evil = {"evil", &rx, 1};
    llmgw_content_rules brules = {NULL, 0, &evil, 1};
    char *many = repeat("a", 3000);
    char *body = malloc(strlen(many) + 64);
    assert_non_null(body);
    int blen = sprintf(body, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", many);
    llmgw_scan s;
    const char *out;
    size_t out_len;
    llmgw_scan_init(&s, &brules, &f->alloc);
    assert_int_equal(llmgw_scan_request(&s, LLMGW_PT_OPENAI, body, (size_t)blen, &out, &out_len),
                     LLMGW_SCAN_FAILED);
    assert_string_equal(s.rule, "evil");
    free(body);
    free(many);
    llmgw_rx_free(rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile),
        cmocka_unit_test(test_rule_names),
        cmocka_unit_test_setup_teardown(test_redact_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_matches_replace_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catastrophic_pattern_fails_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_everywhere_pattern_hits_the_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_openai_chat_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_responses_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anthropic_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gemini_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_text_rewritten_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_block_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replacement_exposes_a_neighbour, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_keeps_numbers_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_search_misses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_candidates_then_a_match, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
