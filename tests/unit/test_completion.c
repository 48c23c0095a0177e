/* test_completion.c — assistant text extraction per provider, whole and streamed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "llmgw_completion.h"

static char buf[256];

static void feed(llmgw_ptype t, llmgw_text *out, const char *event, const char *data)
{
    llmgw_completion_from_event(t, event, event ? strlen(event) : 0, data, strlen(data), out);
}

static void test_openai_chat(void **st)
{
    llmgw_text t;
    llmgw_text_init(&t, buf, sizeof buf);
    const char *body = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hi \\\"you\\\"\"}}],"
                       "\"usage\":{\"prompt_tokens\":1}}";
    assert_int_equal(llmgw_completion_from_json(LLMGW_PT_OPENAI, body, strlen(body), &t), 0);
    assert_string_equal(t.buf, "Hi \"you\"");
    llmgw_text_init(&t, buf, sizeof buf);
    feed(LLMGW_PT_OPENAI, &t, NULL, "{\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}");
    feed(LLMGW_PT_OPENAI, &t, NULL, "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}");
    feed(LLMGW_PT_OPENAI, &t, NULL, "{\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}");
    feed(LLMGW_PT_OPENAI, &t, NULL, "{\"choices\":[],\"usage\":{\"total_tokens\":3}}");
    feed(LLMGW_PT_OPENAI, &t, NULL, "[DONE]");
    assert_string_equal(t.buf, "Hello");
    assert_false(t.truncated);
}

static void test_responses(void **st)
{
    llmgw_text t;
    llmgw_text_init(&t, buf, sizeof buf);
    const char *body = "{\"object\":\"response\",\"output\":[{\"type\":\"reasoning\",\"content\":[]},"
                       "{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"A\"},"
                       "{\"type\":\"refusal\",\"refusal\":\"no\"},{\"type\":\"output_text\",\"text\":\"B\"}]}]}";
    assert_int_equal(llmgw_completion_from_json(LLMGW_PT_OPENAI, body, strlen(body), &t), 0);
    assert_string_equal(t.buf, "AB");
    llmgw_text_init(&t, buf, sizeof buf);
    feed(LLMGW_PT_OPENAI, &t, "response.created", "{\"type\":\"response.created\",\"response\":{}}");
    feed(LLMGW_PT_OPENAI, &t, "response.output_text.delta",
         "{\"type\":\"response.output_text.delta\",\"delta\":\"x\"}");
    feed(LLMGW_PT_OPENAI, &t, "response.output_text.delta",
         "{\"type\":\"response.output_text.delta\",\"delta\":\"y\"}");
    feed(LLMGW_PT_OPENAI, &t, "response.output_text.done",
         "{\"type\":\"response.output_text.done\",\"text\":\"xy\"}");
    assert_string_equal(t.buf, "xy");
}

static void test_anthropic(void **st)
{
    llmgw_text t;
    llmgw_text_init(&t, buf, sizeof buf);
    const char *body = "{\"type\":\"message\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hm\"},"
                       "{\"type\":\"text\",\"text\":\"One\"},{\"type\":\"tool_use\",\"name\":\"x\"},"
                       "{\"type\":\"text\",\"text\":\" two\"}]}";
    assert_int_equal(llmgw_completion_from_json(LLMGW_PT_ANTHROPIC, body, strlen(body), &t), 0);
    assert_string_equal(t.buf, "One two");
    llmgw_text_init(&t, buf, sizeof buf);
    feed(LLMGW_PT_ANTHROPIC, &t, "message_start", "{\"type\":\"message_start\",\"message\":{}}");
    feed(LLMGW_PT_ANTHROPIC, &t, "content_block_delta",
         "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}");
    feed(LLMGW_PT_ANTHROPIC, &t, "content_block_delta",
         "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}");
    feed(LLMGW_PT_ANTHROPIC, &t, "content_block_delta",
         "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"!\"}}");
    assert_string_equal(t.buf, "Hi!");
}

static void test_gemini(void **st)
{
    llmgw_text t;
    llmgw_text_init(&t, buf, sizeof buf);
    const char *chunk1 = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Good \"}],\"role\":\"model\"}}]}";
    const char *chunk2 = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"day\"}]}}],"
                         "\"usageMetadata\":{\"promptTokenCount\":3}}";
    feed(LLMGW_PT_GEMINI, &t, NULL, chunk1);
    feed(LLMGW_PT_GEMINI, &t, NULL, chunk2);
    assert_string_equal(t.buf, "Good day");
    llmgw_text_init(&t, buf, sizeof buf);
    assert_int_equal(llmgw_completion_from_json(LLMGW_PT_GEMINI, chunk2, strlen(chunk2), &t), 0);
    assert_string_equal(t.buf, "day");
}

static void test_bounded_and_utf8_safe(void **st)
{
    char small[8];
    llmgw_text t;
    llmgw_text_init(&t, small, sizeof small);
    llmgw_text_append(&t, "abcde", 5);
    llmgw_text_append(&t, "\xc3\xa9\xc3\xa9", 4);    /* "éé": only one fits whole */
    assert_string_equal(t.buf, "abcde\xc3\xa9");
    assert_true(t.truncated);
    llmgw_text_append(&t, "z", 1);
    assert_int_equal(t.len, 7);
}

static void test_not_json(void **st)
{
    llmgw_text t;
    llmgw_text_init(&t, buf, sizeof buf);
    assert_int_equal(llmgw_completion_from_json(LLMGW_PT_OPENAI, "nope", 4, &t), -1);
    feed(LLMGW_PT_OPENAI, &t, NULL, "{broken");
    assert_int_equal(t.len, 0);
    char deep[300];
    memset(deep, '[', sizeof deep);
    assert_int_equal(llmgw_completion_from_json(LLMGW_PT_OPENAI, deep, sizeof deep, &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_chat),   cmocka_unit_test(test_responses),
        cmocka_unit_test(test_anthropic),     cmocka_unit_test(test_gemini),
        cmocka_unit_test(test_bounded_and_utf8_safe), cmocka_unit_test(test_not_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
