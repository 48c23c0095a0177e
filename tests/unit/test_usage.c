/* test_usage.c — cmocka tests for llmgw_usage: provider-shaped bodies and stream
 * events for OpenAI (chat, Responses, embeddings), Azure, openai-compatible,
 * Anthropic and Gemini; SPEC §7 semantics (cache in prompt, reasoning in completion,
 * repeated stream figures replace); the usage-only chunk; malformed input; and the
 * hot-path pre-filter (llmgw_json_scan and json_loadb are wrapped at link time to
 * count parses). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "llmgw_json_scan.h"
#include "llmgw_sse.h"
#include "llmgw_usage.h"

/* ---- parse counters (-Wl,--wrap= llmgw_json_scan, llmgw_json_scan_paths, json_loadb) ---
 * Usage texts are judged by the scanner and read in place; jansson only judges what
 * the scanner leaves undecided. parse_count counts both kinds of parse (a text the
 * pre-filter skips is parsed by neither), load_count the jansson ones alone. */

json_t *__real_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error);
json_t *__wrap_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error);
llmgw_json_verdict __real_llmgw_json_scan(const char *s, size_t n, int max_depth,
                                          const char *const *names, size_t nnames,
                                          llmgw_json_span *spans);
llmgw_json_verdict __wrap_llmgw_json_scan(const char *s, size_t n, int max_depth,
                                          const char *const *names, size_t nnames,
                                          llmgw_json_span *spans);

llmgw_json_verdict __real_llmgw_json_scan_paths(const char *s, size_t n, int max_depth,
                                                unsigned flags, const llmgw_json_paths *ps,
                                                llmgw_json_span *spans);
llmgw_json_verdict __wrap_llmgw_json_scan_paths(const char *s, size_t n, int max_depth,
                                                unsigned flags, const llmgw_json_paths *ps,
                                                llmgw_json_span *spans);

static int parse_count, load_count;

llmgw_json_verdict __wrap_llmgw_json_scan_paths(const char *s, size_t n, int max_depth,
                                                unsigned flags, const llmgw_json_paths *ps,
                                                llmgw_json_span *spans)
{
    parse_count++;
    return __real_llmgw_json_scan_paths(s, n, max_depth, flags, ps, spans);
}

json_t *__wrap_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error)
{
    parse_count++;
    load_count++;
    return __real_json_loadb(buffer, buflen, flags, error);
}

llmgw_json_verdict __wrap_llmgw_json_scan(const char *s, size_t n, int max_depth,
                                          const char *const *names, size_t nnames,
                                          llmgw_json_span *spans)
{
    parse_count++;
    return __real_llmgw_json_scan(s, n, max_depth, names, nnames, spans);
}

static void reset_counts(void)
{
    parse_count = load_count = 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

static int from_json(llmgw_ptype t, const char *body, llmgw_usage *u)
{
    return llmgw_usage_from_json(t, body, strlen(body), u);
}

static void from_event(llmgw_ptype t, const char *event, const char *data, llmgw_usage *u)
{
    llmgw_usage_from_event(t, event, event ? strlen(event) : 0, data, strlen(data), u);
}

static void expect_tokens(const llmgw_usage *u, int64_t prompt, int64_t completion,
                          int64_t cached, int64_t cache_write, int64_t reasoning)
{
    assert_int_equal(u->prompt, prompt);
    assert_int_equal(u->completion, completion);
    assert_int_equal(u->cached, cached);
    assert_int_equal(u->cache_write, cache_write);
    assert_int_equal(u->reasoning, reasoning);
    assert_int_equal(llmgw_usage_total(u), prompt + completion);
}

/* ---- non-streaming bodies ------------------------------------------------------------ */

static const char openai_chat_body[] =
    "{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion\","
    "\"created\":1741570283,\"model\":\"o3-mini-2025-01-31\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"The image "
    "shows a wooden boardwalk.\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":1117,\"completion_tokens\":346,\"total_tokens\":1463,"
    "\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":192,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
    "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_fc9f1d7035\"}";

static void test_openai_chat_body(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_OPENAI, openai_chat_body, &u), 0);
    assert_true(u.seen);
    assert_true(u.final);
    expect_tokens(&u, 1117, 346, 1024, 0, 192);
    assert_int_equal(u.cache_write_1h, 0);
    assert_string_equal(u.model, "o3-mini-2025-01-31");
    assert_string_equal(u.response_id, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
}

static void test_azure_and_compatible_use_openai_parsing(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_AZURE, openai_chat_body, &u), 0);
    expect_tokens(&u, 1117, 346, 1024, 0, 192);
    /* Ollama-style: no details objects at all */
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_OPENAI_COMPAT,
        "{\"id\":\"chatcmpl-972\",\"object\":\"chat.completion\",\"created\":1733249483,"
        "\"model\":\"llama3.2\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":26,\"completion_tokens\":10,\"total_tokens\":36}}", &u), 0);
    expect_tokens(&u, 26, 10, 0, 0, 0);
    assert_string_equal(u.model, "llama3.2");
}

static void test_openai_responses_body(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_OPENAI,
        "{\"id\":\"resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41\",\"object\":\"response\","
        "\"created_at\":1741476777,\"status\":\"completed\",\"error\":null,"
        "\"incomplete_details\":null,\"instructions\":null,\"max_output_tokens\":null,"
        "\"model\":\"o4-mini-2025-04-16\",\"output\":[{\"type\":\"reasoning\",\"id\":\"rs_1\","
        "\"summary\":[]},{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"completed\","
        "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Done.\","
        "\"annotations\":[]}]}],\"parallel_tool_calls\":true,\"previous_response_id\":null,"
        "\"reasoning\":{\"effort\":\"medium\",\"summary\":null},\"store\":true,"
        "\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\","
        "\"tools\":[],\"top_p\":1.0,\"truncation\":\"disabled\","
        "\"usage\":{\"input_tokens\":2036,\"input_tokens_details\":{\"cached_tokens\":1920},"
        "\"output_tokens\":587,\"output_tokens_details\":{\"reasoning_tokens\":448},"
        "\"total_tokens\":2623},\"user\":null,\"metadata\":{}}", &u), 0);
    expect_tokens(&u, 2036, 587, 1920, 0, 448);
    assert_string_equal(u.model, "o4-mini-2025-04-16");
    assert_string_equal(u.response_id, "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41");
}

static void test_openai_embeddings_body(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_OPENAI,
        "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
        "\"embedding\":[-0.006929283,-0.005336422,0.00024047505,-0.0046635517]}],"
        "\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":8,"
        "\"total_tokens\":8}}", &u), 0);
    expect_tokens(&u, 8, 0, 0, 0, 0);
    assert_string_equal(u.model, "text-embedding-3-small");
    /* a server that reports only total_tokens */
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_OPENAI_COMPAT,
        "{\"object\":\"list\",\"data\":[],\"model\":\"bge-m3\",\"usage\":{\"total_tokens\":42}}",
        &u), 0);
    expect_tokens(&u, 42, 0, 0, 0, 0);
}

static void test_anthropic_body_with_cache(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_ANTHROPIC,
        "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-sonnet-4-20250514\",\"content\":[{\"type\":\"text\","
        "\"text\":\"Hello!\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":2048,"
        "\"cache_read_input_tokens\":4096,\"cache_creation\":{\"ephemeral_5m_input_tokens\":"
        "1536,\"ephemeral_1h_input_tokens\":512},\"output_tokens\":6,"
        "\"service_tier\":\"standard\"}}", &u), 0);
    /* prompt = input + cache writes + cache reads */
    expect_tokens(&u, 12 + 2048 + 4096, 6, 4096, 2048, 0);
    assert_int_equal(u.cache_write_1h, 512);
    assert_true(u.final);
    assert_string_equal(u.model, "claude-sonnet-4-20250514");
    assert_string_equal(u.response_id, "msg_01XFDUDYJgAACzvnptvVoYEL");
}

static void test_anthropic_body_thinking_tokens(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_ANTHROPIC,
        "{\"id\":\"msg_2\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\","
        "\"content\":[{\"type\":\"thinking\",\"thinking\":\"...\",\"signature\":\"EqQB\"},"
        "{\"type\":\"text\",\"text\":\"42\"}],\"stop_reason\":\"end_turn\","
        "\"usage\":{\"input_tokens\":50,\"output_tokens\":700,"
        "\"output_tokens_details\":{\"thinking_tokens\":650}}}", &u), 0);
    expect_tokens(&u, 50, 700, 0, 0, 650);
}

static const char gemini_body[] =
    "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"AI learns patterns from "
    "data.\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],"
    "\"usageMetadata\": {\"promptTokenCount\": 10,\"candidatesTokenCount\": 25,"
    "\"totalTokenCount\": 141,\"cachedContentTokenCount\": 4,\"toolUsePromptTokenCount\": 6,"
    "\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 10}],"
    "\"thoughtsTokenCount\": 100},"
    "\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"Jb3OaPz3Ie-vz7IPnbWJ6Qw\"}";

static void test_gemini_body(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_GEMINI, gemini_body, &u), 0);
    /* prompt includes tool-use prompt; completion includes thoughts */
    expect_tokens(&u, 16, 125, 4, 0, 100);
    assert_true(u.final);
    assert_string_equal(u.model, "gemini-2.5-flash");
    assert_string_equal(u.response_id, "Jb3OaPz3Ie-vz7IPnbWJ6Qw");
}

static void test_gemini_array_body_latest_wins(void **state)
{
    /* streamGenerateContent without alt=sse answers a JSON array of chunks */
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_GEMINI,
        "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}],\"role\":\"model\"}}],"
        "\"usageMetadata\":{\"promptTokenCount\":7,\"candidatesTokenCount\":1,"
        "\"totalTokenCount\":8},\"modelVersion\":\"gemini-2.0-flash\"},"
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"b\"}],\"role\":\"model\"},"
        "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":7,"
        "\"candidatesTokenCount\":9,\"totalTokenCount\":16},"
        "\"modelVersion\":\"gemini-2.0-flash\"}]", &u), 0);
    expect_tokens(&u, 7, 9, 0, 0, 0);
    assert_true(u.final);
}

static void test_missing_fields_are_zero(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    u.cached = 99;
    u.reasoning = 99;
    assert_int_equal(from_json(LLMGW_PT_OPENAI, "{\"usage\":{\"prompt_tokens\":5}}", &u), 0);
    expect_tokens(&u, 5, 0, 0, 0, 0);
    assert_string_equal(u.model, "");
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_ANTHROPIC, "{\"type\":\"message\",\"usage\":{}}", &u), 0);
    assert_true(u.seen);
    expect_tokens(&u, 0, 0, 0, 0, 0);
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_GEMINI, "{\"usageMetadata\":{\"promptTokenCount\":3}}",
                               &u), 0);
    expect_tokens(&u, 3, 0, 0, 0, 0);
}

static void test_body_without_usage(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_OPENAI,
        "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"param\":null,"
        "\"code\":\"rate_limit_exceeded\"}}", &u), 0);
    assert_false(u.seen);
    expect_tokens(&u, 0, 0, 0, 0, 0);
    assert_int_equal(from_json(LLMGW_PT_ANTHROPIC,
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
        &u), 0);
    assert_false(u.seen);
    assert_int_equal(from_json(LLMGW_PT_GEMINI,
        "{\"embedding\":{\"values\":[0.1,0.2]}}", &u), 0);
    assert_false(u.seen);
}

static void test_odd_numbers_clamped(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_OPENAI_COMPAT,
        "{\"usage\":{\"prompt_tokens\":12.0,\"completion_tokens\":-4,"
        "\"prompt_tokens_details\":{\"cached_tokens\":\"3\"}}}", &u), 0);
    expect_tokens(&u, 12, 0, 0, 0, 0);
    assert_int_equal(from_json(LLMGW_PT_OPENAI,
        "{\"usage\":{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":1e300}}", &u), 0);
    assert_int_equal(u.prompt, LLMGW_TOKENS_MAX);
    assert_int_equal(u.completion, LLMGW_TOKENS_MAX);
}

/* What the scanner cannot judge alone goes to jansson (one load), as before; what it
 * can is read in place, escapes included. */
static void test_undecided_texts_judged_by_jansson(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    reset_counts();
    assert_int_equal(from_json(LLMGW_PT_OPENAI,
        "{\"\\u0075sage\":{\"prompt_tokens\":5,\"completion_tokens\":1234567890123456789},"
        "\"model\":\"m\\u00e9\"}", &u), 0);
    assert_int_equal(load_count, 1);
    expect_tokens(&u, 5, LLMGW_TOKENS_MAX, 0, 0, 0);
    assert_string_equal(u.model, "m\xc3\xa9");
    /* out of jansson's range: not JSON, nothing changed */
    llmgw_usage before = u;
    assert_int_equal(from_json(LLMGW_PT_OPENAI, "{\"usage\":{\"prompt_tokens\":1e400}}", &u), -1);
    assert_int_equal(from_json(LLMGW_PT_OPENAI,
        "{\"usage\":{\"prompt_tokens\":99999999999999999999}}", &u), -1);
    assert_memory_equal(&u, &before, sizeof(u));
    /* a NUL after a literal: jansson's lexer loses it, so this is JSON */
    static const char nul[] = "{\"usage\":{\"prompt_tokens\":7,\"x\":true\0}}";
    llmgw_usage_init(&u);
    assert_int_equal(llmgw_usage_from_json(LLMGW_PT_OPENAI, nul, sizeof(nul) - 1, &u), 0);
    assert_int_equal(u.prompt, 7);
    /* escapes below the root need no jansson */
    reset_counts();
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_ANTHROPIC,
        "{\"id\":\"msg_\\\"1\\\"\",\"model\":\"claude\\/x\",\"usage\":{\"input\\u005ftokens\":3,"
        "\"output_tokens\":1.5e1,\"output_tokens\":16}}", &u), 0);
    assert_int_equal(load_count, 0);
    expect_tokens(&u, 3, 16, 0, 0, 0);
    assert_string_equal(u.model, "claude/x");
    assert_string_equal(u.response_id, "msg_\"1\"");
}

static void test_long_model_truncated(void **state)
{
    char body[512];
    char model[300];
    memset(model, 'm', sizeof(model) - 1);
    model[sizeof(model) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"model\":\"%s\",\"usage\":{\"prompt_tokens\":1}}", model);
    llmgw_usage u;
    llmgw_usage_init(&u);
    assert_int_equal(from_json(LLMGW_PT_OPENAI, body, &u), 0);
    assert_int_equal(strlen(u.model), sizeof(u.model) - 1);
}

static void test_malformed_json_untouched(void **state)
{
    static const char *bad[] = {
        "", "not json", "{\"usage\":{\"prompt_tokens\":5}", "{\"usage\":{}} trailing",
        "null", "42", "\"str\"", "{\"a\":\"\\u0000\"}", "<html>502 Bad Gateway</html>",
    };
    llmgw_usage u, before;
    llmgw_usage_init(&u);
    u.prompt = 7;
    u.completion = 3;
    strcpy(u.model, "keep");
    before = u;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (int t = 0; t < LLMGW_PT_HTTP; t++) {
            assert_int_equal(from_json((llmgw_ptype)t, bad[i], &u), -1);
            assert_memory_equal(&u, &before, sizeof(u));
        }
    }
    assert_int_equal(llmgw_usage_from_json(LLMGW_PT_OPENAI, NULL, 0, &u), -1);
}

static void test_deep_nesting_rejected(void **state)
{
    enum { D = 5000 };
    char *s = malloc(2 * D + 1);
    assert_non_null(s);
    memset(s, '[', D);
    memset(s + D, ']', D);
    s[2 * D] = '\0';
    llmgw_usage u;
    llmgw_usage_init(&u);
    reset_counts();
    assert_int_equal(from_json(LLMGW_PT_GEMINI, s, &u), -1);
    assert_int_equal(load_count, 0);      /* refused by the scan before jansson recursed */
    free(s);
    /* brackets inside strings do not count */
    char body[1024];
    char br[600];
    memset(br, '[', sizeof(br) - 1);
    br[sizeof(br) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"model\":\"%s\",\"usage\":{\"prompt_tokens\":2}}", br);
    assert_int_equal(from_json(LLMGW_PT_OPENAI, body, &u), 0);
    assert_int_equal(u.prompt, 2);
}

static void test_http_type_no_accounting(void **state)
{
    llmgw_usage u, before;
    llmgw_usage_init(&u);
    before = u;
    assert_int_equal(from_json(LLMGW_PT_HTTP, openai_chat_body, &u), 0);
    assert_memory_equal(&u, &before, sizeof(u));
    from_event(LLMGW_PT_HTTP, "message", openai_chat_body, &u);
    assert_memory_equal(&u, &before, sizeof(u));
}

/* ---- OpenAI chat stream ----------------------------------------------------------------- */

#define CHUNK_HEAD "{\"id\":\"chatcmpl-AyPrTdhCgV5wQoD4ZPXDOEQ8Ul3Lw\",\"object\":" \
    "\"chat.completion.chunk\",\"created\":1738960615,\"model\":\"gpt-4o-mini-2024-07-18\"," \
    "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_72ed7ab54c\","

static const char *const chat_chunks[] = {
    CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The usage: {\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \\\"usage\\\":{x}\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":null}",
    CHUNK_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":2010,\"completion_tokens\":17,"
    "\"total_tokens\":2027,\"prompt_tokens_details\":{\"cached_tokens\":1920,"
    "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,"
    "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}",
    "[DONE]",
};

static void test_openai_chat_stream(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    reset_counts();
    for (size_t i = 0; i < sizeof(chat_chunks) / sizeof(chat_chunks[0]); i++) {
        from_event(LLMGW_PT_OPENAI, "message", chat_chunks[i], &u);
        if (i < 4)
            assert_false(u.seen);
    }
    assert_int_equal(parse_count, 1);     /* only the usage chunk was parsed */
    assert_int_equal(load_count, 0);      /* and read in place, without jansson */
    assert_true(u.seen);
    assert_true(u.final);
    expect_tokens(&u, 2010, 17, 1920, 0, 0);
    assert_string_equal(u.model, "gpt-4o-mini-2024-07-18");
}

static void test_usage_only_chunk_detection(void **state)
{
    const char *last = chat_chunks[4];
    assert_true(llmgw_usage_is_usage_only_chunk(last, strlen(last)));
    for (int i = 0; i < 4; i++)
        assert_false(llmgw_usage_is_usage_only_chunk(chat_chunks[i], strlen(chat_chunks[i])));
    assert_false(llmgw_usage_is_usage_only_chunk("[DONE]", 6));
    /* Azure's first chunk: empty choices, prompt filter results, no usage */
    const char *azure = "{\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
        "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{"
        "\"hate\":{\"filtered\":false,\"severity\":\"safe\"}}}]}";
    assert_false(llmgw_usage_is_usage_only_chunk(azure, strlen(azure)));
    const char *null_usage = "{\"choices\":[],\"usage\":null}";
    assert_false(llmgw_usage_is_usage_only_chunk(null_usage, strlen(null_usage)));
    /* usage riding on a content chunk (vLLM continuous stats) must not be hidden */
    const char *both = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}],"
        "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}";
    assert_false(llmgw_usage_is_usage_only_chunk(both, strlen(both)));
    const char *no_choices = "{\"usage\":{\"prompt_tokens\":1}}";
    assert_false(llmgw_usage_is_usage_only_chunk(no_choices, strlen(no_choices)));
    const char *broken = "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}";
    assert_false(llmgw_usage_is_usage_only_chunk(broken, strlen(broken)));
    const char *spaced = "{ \"choices\" : [ ] , \"usage\" :\n { \"prompt_tokens\" : 1 } }";
    assert_true(llmgw_usage_is_usage_only_chunk(spaced, strlen(spaced)));
    assert_false(llmgw_usage_is_usage_only_chunk(NULL, 0));
}

/* ---- OpenAI Responses stream -------------------------------------------------------------- */

#define RESP_BASE(status, usage) "{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec\"," \
    "\"object\":\"response\",\"created_at\":1741290958,\"status\":\"" status "\"," \
    "\"error\":null,\"incomplete_details\":null,\"model\":\"gpt-4.1-2025-04-14\"," \
    "\"output\":[],\"parallel_tool_calls\":true,\"usage\":" usage ",\"user\":null," \
    "\"metadata\":{}}"

static void test_openai_responses_stream(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    reset_counts();
    from_event(LLMGW_PT_OPENAI, "response.created",
               "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
               RESP_BASE("in_progress", "null") "}", &u);
    from_event(LLMGW_PT_OPENAI, "response.in_progress",
               "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":"
               RESP_BASE("in_progress", "null") "}", &u);
    from_event(LLMGW_PT_OPENAI, "response.output_text.delta",
               "{\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":"
               "\"msg_67c9fdcf37fc8190ba82116e33fb28c5\",\"output_index\":0,\"content_index\":0,"
               "\"delta\":\"Hi\"}", &u);
    assert_false(u.seen);
    assert_int_equal(parse_count, 0);
    from_event(LLMGW_PT_OPENAI, "response.completed",
               "{\"type\":\"response.completed\",\"sequence_number\":8,\"response\":"
               RESP_BASE("completed", "{\"input_tokens\":37,\"input_tokens_details\":"
               "{\"cached_tokens\":0},\"output_tokens\":311,\"output_tokens_details\":"
               "{\"reasoning_tokens\":256},\"total_tokens\":348}") "}", &u);
    assert_int_equal(parse_count, 1);
    assert_true(u.seen);
    assert_true(u.final);
    expect_tokens(&u, 37, 311, 0, 0, 256);
    assert_string_equal(u.model, "gpt-4.1-2025-04-14");
    assert_string_equal(u.response_id, "resp_67c9fdcecf488190bdd9a0409de3a1ec");
}

static void test_openai_responses_incomplete_and_failed(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    from_event(LLMGW_PT_OPENAI, "response.incomplete",
               "{\"type\":\"response.incomplete\",\"sequence_number\":20,\"response\":"
               RESP_BASE("incomplete", "{\"input_tokens\":100,\"input_tokens_details\":"
               "{\"cached_tokens\":64},\"output_tokens\":16,\"output_tokens_details\":"
               "{\"reasoning_tokens\":0},\"total_tokens\":116}") "}", &u);
    expect_tokens(&u, 100, 16, 64, 0, 0);
    llmgw_usage_init(&u);
    from_event(LLMGW_PT_AZURE, "response.failed",
               "{\"type\":\"response.failed\",\"sequence_number\":3,\"response\":"
               RESP_BASE("failed", "{\"input_tokens\":5,\"output_tokens\":0,"
               "\"total_tokens\":5}") "}", &u);
    expect_tokens(&u, 5, 0, 0, 0, 0);
}

/* ---- Anthropic stream ------------------------------------------------------------------------ */

static const char anthropic_stream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\","
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-opus-4-1-20250805\","
    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,"
    "\"cache_creation_input_tokens\":1500,\"cache_read_input_tokens\":3000,"
    "\"cache_creation\":{\"ephemeral_5m_input_tokens\":1000,\"ephemeral_1h_input_tokens\":500},"
    "\"output_tokens\":2,\"service_tier\":\"standard\"}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"The \\\"usage\\\": {} field\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":89}}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":120}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

typedef struct {
    llmgw_ptype t;
    llmgw_usage u;
} usage_baton;

static void usage_on_event(void *baton, const char *event, size_t elen, const char *data,
                           size_t dlen, uint64_t start, uint64_t end)
{
    usage_baton *b = baton;
    llmgw_usage_from_event(b->t, event, elen, data, dlen, &b->u);
}

typedef struct {
    void *blocks[32];
    int n;
} blocks;

static void *test_alloc(void *ctx, size_t n)
{
    blocks *b = ctx;   /* the parser abandons old blocks; keep them for freeing */
    assert_true(b->n < 32);
    return b->blocks[b->n++] = malloc(n);
}

/* Runs a raw stream through the SSE parser in chunks of the given size. */
static void run_stream(llmgw_ptype t, const char *st, size_t chunk, llmgw_usage *out)
{
    usage_baton b = {.t = t};
    blocks mem = {.n = 0};
    llmgw_sse p;
    size_t len = strlen(st);
    llmgw_usage_init(&b.u);
    llmgw_sse_init(&p, 65536, test_alloc, &mem, usage_on_event, &b);
    for (size_t i = 0; i < len; i += chunk)
        llmgw_sse_feed(&p, st + i, len - i < chunk ? len - i : chunk);
    llmgw_sse_finish(&p);
    for (int i = 0; i < mem.n; i++)
        free(mem.blocks[i]);
    *out = b.u;
}

static void test_anthropic_stream_cumulative(void **state)
{
    static const size_t chunks[] = {1, 2, 7, 64, 100000};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        llmgw_usage u;
        reset_counts();
        run_stream(LLMGW_PT_ANTHROPIC, anthropic_stream, chunks[i], &u);
        assert_int_equal(parse_count, 3);  /* message_start + two message_delta */
        assert_int_equal(load_count, 0);
        /* output_tokens 120 (the latest running total), not 2 + 89 + 120 */
        expect_tokens(&u, 472 + 1500 + 3000, 120, 3000, 1500, 0);
        assert_int_equal(u.cache_write_1h, 500);
        assert_true(u.final);
        assert_string_equal(u.model, "claude-opus-4-1-20250805");
        assert_string_equal(u.response_id, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
    }
}

static void test_anthropic_delta_replaces_input_fields(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    from_event(LLMGW_PT_ANTHROPIC, "message_start",
               "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_9\",\"type\":\"message\","
               "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\","
               "\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,"
               "\"cache_read_input_tokens\":0,\"output_tokens\":1}}}", &u);
    expect_tokens(&u, 10, 1, 0, 0, 0);
    assert_false(u.final);
    /* newer API: the final delta repeats (and may correct) the input-side figures */
    from_event(LLMGW_PT_ANTHROPIC, "message_delta",
               "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
               "\"stop_sequence\":null},\"usage\":{\"input_tokens\":12,"
               "\"cache_creation_input_tokens\":300,\"cache_read_input_tokens\":700,"
               "\"output_tokens\":55,\"server_tool_use\":{\"web_search_requests\":1}}}", &u);
    expect_tokens(&u, 12 + 300 + 700, 55, 700, 300, 0);
    /* a delta with only output_tokens keeps the input side */
    from_event(LLMGW_PT_ANTHROPIC, "message_delta",
               "{\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":60}}", &u);
    expect_tokens(&u, 1012, 60, 700, 300, 0);
    /* null fields do not wipe known figures */
    from_event(LLMGW_PT_ANTHROPIC, "message_delta",
               "{\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"input_tokens\":null,"
               "\"output_tokens\":61}}", &u);
    expect_tokens(&u, 1012, 61, 700, 300, 0);
    assert_true(u.final);
}

static void test_anthropic_prefilter(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    reset_counts();
    from_event(LLMGW_PT_ANTHROPIC, "content_block_delta",
               "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
               "\"input_json_delta\",\"partial_json\":\"{\\\"usage\\\": {\"}}", &u);
    from_event(LLMGW_PT_ANTHROPIC, "ping", "{\"type\": \"ping\"}", &u);
    from_event(LLMGW_PT_ANTHROPIC, "error",
               "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
               "\"message\":\"Overloaded\"}}", &u);
    assert_int_equal(parse_count, 0);
    assert_false(u.seen);
    /* a relay that dropped the event: lines; the data's type decides */
    from_event(LLMGW_PT_ANTHROPIC, "message",
               "{\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":5}}", &u);
    assert_int_equal(u.completion, 5);
    /* malformed data on a usage event: ignored */
    from_event(LLMGW_PT_ANTHROPIC, "message_delta", "{\"type\":\"message_delta\",\"usa", &u);
    assert_int_equal(u.completion, 5);
}

/* ---- Gemini stream --------------------------------------------------------------------------- */

static const char gemini_stream[] =
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The\"}],\"role\": \"model\"},"
    "\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"candidatesTokenCount\": 1,"
    "\"totalTokenCount\": 9,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 8}]},"
    "\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"mIrOaJ2sLvGt1dkP\"}\r\n\r\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" quick brown\"}],"
    "\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,"
    "\"candidatesTokenCount\": 13,\"totalTokenCount\": 21,\"thoughtsTokenCount\": 40},"
    "\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"mIrOaJ2sLvGt1dkP\"}\r\n\r\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" fox.\"}],\"role\": \"model\"},"
    "\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,"
    "\"candidatesTokenCount\": 20,\"totalTokenCount\": 70,\"cachedContentTokenCount\": 2,"
    "\"thoughtsTokenCount\": 42},\"modelVersion\": \"gemini-2.5-pro\","
    "\"responseId\": \"mIrOaJ2sLvGt1dkP\"}\r\n\r\n";

static void test_gemini_stream_latest_replaces(void **state)
{
    static const size_t chunks[] = {1, 3, 50, 100000};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        llmgw_usage u;
        run_stream(LLMGW_PT_GEMINI, gemini_stream, chunks[i], &u);
        /* the last chunk's figures, not a sum of the three */
        expect_tokens(&u, 8, 62, 2, 0, 42);
        assert_true(u.final);
        assert_string_equal(u.model, "gemini-2.5-pro");
        assert_string_equal(u.response_id, "mIrOaJ2sLvGt1dkP");
    }
}

static void test_gemini_chunk_without_usage_keeps_figures(void **state)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    from_event(LLMGW_PT_GEMINI, "message",
               "{\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2}}", &u);
    reset_counts();
    from_event(LLMGW_PT_GEMINI, "message",
               "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"usageMetadata\"}]}}]}", &u);
    assert_int_equal(parse_count, 0);
    expect_tokens(&u, 4, 2, 0, 0, 0);
    assert_false(u.final);
}

static void test_openai_stream_through_sse(void **state)
{
    char st[8192];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(chat_chunks) / sizeof(chat_chunks[0]); i++)
        n += (size_t)snprintf(st + n, sizeof(st) - n, "data: %s\n\n", chat_chunks[i]);
    for (size_t chunk = 1; chunk < 40; chunk += 13) {
        llmgw_usage u;
        run_stream(LLMGW_PT_OPENAI, st, chunk, &u);
        expect_tokens(&u, 2010, 17, 1920, 0, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_chat_body),
        cmocka_unit_test(test_azure_and_compatible_use_openai_parsing),
        cmocka_unit_test(test_openai_responses_body),
        cmocka_unit_test(test_openai_embeddings_body),
        cmocka_unit_test(test_anthropic_body_with_cache),
        cmocka_unit_test(test_anthropic_body_thinking_tokens),
        cmocka_unit_test(test_gemini_body),
        cmocka_unit_test(test_gemini_array_body_latest_wins),
        cmocka_unit_test(test_missing_fields_are_zero),
        cmocka_unit_test(test_body_without_usage),
        cmocka_unit_test(test_odd_numbers_clamped),
        cmocka_unit_test(test_undecided_texts_judged_by_jansson),
        cmocka_unit_test(test_long_model_truncated),
        cmocka_unit_test(test_malformed_json_untouched),
        cmocka_unit_test(test_deep_nesting_rejected),
        cmocka_unit_test(test_http_type_no_accounting),
        cmocka_unit_test(test_openai_chat_stream),
        cmocka_unit_test(test_usage_only_chunk_detection),
        cmocka_unit_test(test_openai_responses_stream),
        cmocka_unit_test(test_openai_responses_incomplete_and_failed),
        cmocka_unit_test(test_anthropic_stream_cumulative),
        cmocka_unit_test(test_anthropic_delta_replaces_input_fields),
        cmocka_unit_test(test_anthropic_prefilter),
        cmocka_unit_test(test_gemini_stream_latest_replaces),
        cmocka_unit_test(test_gemini_chunk_without_usage_keeps_figures),
        cmocka_unit_test(test_openai_stream_through_sse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
