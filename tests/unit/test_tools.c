/* test_tools.c — cmocka tests for llmgw_tools: the declared tool names in every shape
 * (OpenAI Chat Completions tools/functions/custom, Responses function and built-in
 * tools, Anthropic client and server tools, Gemini function declarations and built-ins
 * in camelCase and snake_case), the first forbidden tool, and stripping with the
 * request kept valid (tool_choice, function_call, allowedFunctionNames, empty arrays). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "llmgw_tools.h"
#include "unit_json.h"

static const char *const alice_roles[] = {"premium", "developer"};
static const llmgw_subject alice = {"alice", "research", alice_roles, 2};
static const char *const bob_roles[] = {"standard"};
static const llmgw_subject bob = {"bob", "sales", bob_roles, 1};

/* LLMGWAllowTools * web-search get_weather googleSearch
 * LLMGWAllowTools role:developer code-interpreter code_interpreter codeExecution run_* */
static const char *const everyone[] = {"web-search", "get_weather", "googleSearch"};
static const char *const developers[] = {"code-interpreter", "code_interpreter",
                                         "codeExecution", "run_*"};
static llmgw_allow_rule rules[2];
static llmgw_allow_list list = {rules, 2};

static int setup(void **state)
{
    llmgw_principal_parse("*", &rules[0].who);
    rules[0].globs = everyone;
    rules[0].nglobs = 3;
    llmgw_principal_parse("role:developer", &rules[1].who);
    rules[1].globs = developers;
    rules[1].nglobs = 4;
    return 0;
}

static void assert_names(llmgw_ptype t, const char *body, const char *expect)
{
    json_t *j = load(body);
    const char *names[16];
    char got[512] = "";
    size_t n = llmgw_tools_names(t, j, names, 16);
    for (size_t i = 0; i < n && i < 16; i++) {
        if (i)
            strcat(got, ",");
        strcat(got, names[i]);
    }
    assert_string_equal(got, expect);
    json_decref(j);
}

static void test_names_openai_chat(void **state)
{
    assert_names(LLMGW_PT_OPENAI,
                 "{\"model\":\"gpt-4o\",\"tools\":["
                 "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{}}},"
                 "{\"type\":\"custom\",\"custom\":{\"name\":\"run_sql\"}},"
                 "{\"type\":\"function\"}],"
                 "\"functions\":[{\"name\":\"legacy_fn\"},{}]}",
                 "get_weather,run_sql,function,legacy_fn,(unnamed)");
    assert_names(LLMGW_PT_OPENAI, "{\"model\":\"gpt-4o\",\"messages\":[]}", "");
    assert_names(LLMGW_PT_AZURE,
                 "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}]}", "a");
}

static void test_names_openai_responses(void **state)
{
    assert_names(LLMGW_PT_OPENAI,
                 "{\"model\":\"gpt-4o\",\"tools\":["
                 "{\"type\":\"function\",\"name\":\"get_weather\",\"parameters\":{}},"
                 "{\"type\":\"web_search_preview\"},{\"type\":\"code_interpreter\","
                 "\"container\":{\"type\":\"auto\"}},{\"type\":\"mcp\",\"server_label\":\"x\"},"
                 "{}]}",
                 "get_weather,web_search_preview,code_interpreter,mcp,(unnamed)");
}

static void test_names_anthropic(void **state)
{
    assert_names(LLMGW_PT_ANTHROPIC,
                 "{\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{}},"
                 "{\"type\":\"web_search_20250305\",\"name\":\"web_search\"},"
                 "{\"type\":\"bash_20250124\"}]}",
                 "get_weather,web_search,bash_20250124");
}

static void test_names_gemini(void **state)
{
    assert_names(LLMGW_PT_GEMINI,
                 "{\"tools\":[{\"functionDeclarations\":[{\"name\":\"get_weather\"},"
                 "{\"name\":\"run_sql\"}]},{\"googleSearch\":{}},"
                 "{\"function_declarations\":[{\"name\":\"snake_fn\"}],\"code_execution\":{}},"
                 "{\"someFutureTool\":{}},\"junk\"]}",
                 "get_weather,run_sql,googleSearch,snake_fn,codeExecution,someFutureTool,"
                 "(unnamed)");
}

static void test_denied(void **state)
{
    json_t *j = load("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
                     "{\"type\":\"function\",\"function\":{\"name\":\"run_sql\"}},"
                     "{\"type\":\"function\",\"function\":{\"name\":\"delete_all\"}}]}");
    assert_string_equal(llmgw_tools_denied(LLMGW_PT_OPENAI, j, &list, &bob), "run_sql");
    assert_string_equal(llmgw_tools_denied(LLMGW_PT_OPENAI, j, &list, &alice), "delete_all");
    llmgw_allow_list none = {NULL, 0};
    assert_null(llmgw_tools_denied(LLMGW_PT_OPENAI, j, &none, &bob));
    json_decref(j);
    j = load("{\"tools\":[{\"googleSearch\":{}},{\"codeExecution\":{}}]}");
    assert_string_equal(llmgw_tools_denied(LLMGW_PT_GEMINI, j, &list, &bob), "codeExecution");
    assert_null(llmgw_tools_denied(LLMGW_PT_GEMINI, j, &list, &alice));
    json_decref(j);
    j = load("{\"tools\":[{\"google_search\":{}},{\"code_execution\":{}}]}");
    assert_string_equal(llmgw_tools_denied(LLMGW_PT_GEMINI, j, &list, &bob), "codeExecution");
    json_decref(j);
    /* HTTP plugin bodies are not model requests */
    j = load("{\"tools\":[{\"name\":\"x\"}]}");
    assert_null(llmgw_tools_denied(LLMGW_PT_HTTP, j, &list, &bob));
    json_decref(j);
}

static void strip_case(llmgw_ptype t, const llmgw_subject *id, const char *in,
                       const char *out, int removed)
{
    json_t *j = load(in);
    assert_int_equal(llmgw_tools_strip(t, j, &list, id), removed);
    assert_json(j, out);
    assert_null(llmgw_tools_denied(t, j, &list, id));
    json_decref(j);
}

static void test_strip_openai_chat(void **state)
{
    /* one of two removed; tool_choice naming it goes too */
    strip_case(LLMGW_PT_OPENAI, &bob,
               "{\"model\":\"m\",\"tools\":["
               "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
               "{\"type\":\"function\",\"function\":{\"name\":\"run_sql\"}}],"
               "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"run_sql\"}},"
               "\"parallel_tool_calls\":false}",
               "{\"model\":\"m\",\"tools\":["
               "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}],"
               "\"parallel_tool_calls\":false}", 1);
    /* a tool_choice naming a kept tool stays */
    strip_case(LLMGW_PT_OPENAI, &bob,
               "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
               "{\"type\":\"function\",\"function\":{\"name\":\"run_sql\"}}],"
               "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}}",
               "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}],"
               "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}}",
               1);
    /* all removed: no empty tools array, no tool_choice, no parallel_tool_calls */
    strip_case(LLMGW_PT_OPENAI, &bob,
               "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"x\"}}],"
               "\"tool_choice\":\"required\",\"parallel_tool_calls\":true}",
               "{\"model\":\"m\"}", 1);
    /* legacy functions */
    strip_case(LLMGW_PT_OPENAI, &bob,
               "{\"functions\":[{\"name\":\"get_weather\"},{\"name\":\"x\"}],"
               "\"function_call\":{\"name\":\"x\"}}",
               "{\"functions\":[{\"name\":\"get_weather\"}]}", 1);
    strip_case(LLMGW_PT_OPENAI, &bob,
               "{\"functions\":[{\"name\":\"x\"}],\"function_call\":\"auto\"}", "{}", 1);
    /* chat allowed_tools choice is filtered */
    strip_case(LLMGW_PT_OPENAI, &bob,
               "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
               "{\"type\":\"function\",\"function\":{\"name\":\"x\"}}],"
               "\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"auto\","
               "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
               "{\"type\":\"function\",\"function\":{\"name\":\"x\"}}]}}}",
               "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}],"
               "\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"auto\","
               "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}]}}}", 1);
    /* nothing forbidden: untouched */
    strip_case(LLMGW_PT_OPENAI, &alice,
               "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"run_query\"}}],"
               "\"tool_choice\":\"auto\"}",
               "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"run_query\"}}],"
               "\"tool_choice\":\"auto\"}", 0);
}

static void test_strip_openai_responses(void **state)
{
    strip_case(LLMGW_PT_OPENAI, &bob,
               "{\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\"},"
               "{\"type\":\"code_interpreter\",\"container\":{\"type\":\"auto\"}},"
               "{\"type\":\"web_search_preview\"}],"
               "\"tool_choice\":{\"type\":\"code_interpreter\"}}",
               "{\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\"}]}", 2);
    strip_case(LLMGW_PT_OPENAI, &alice,
               "{\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\"},"
               "{\"type\":\"code_interpreter\"},{\"type\":\"file_search\"}],"
               "\"tool_choice\":{\"type\":\"allowed_tools\",\"mode\":\"auto\",\"tools\":["
               "{\"type\":\"file_search\"}]}}",
               "{\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\"},"
               "{\"type\":\"code_interpreter\"}]}", 1);
    strip_case(LLMGW_PT_OPENAI, &alice,
               "{\"tools\":[{\"type\":\"function\",\"name\":\"f\"},{\"type\":\"code_interpreter\"}],"
               "\"tool_choice\":{\"type\":\"function\",\"name\":\"f\"}}",
               "{\"tools\":[{\"type\":\"code_interpreter\"}]}", 1);
}

static void test_strip_anthropic(void **state)
{
    strip_case(LLMGW_PT_ANTHROPIC, &bob,
               "{\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{}},"
               "{\"name\":\"run_sql\",\"input_schema\":{}}],"
               "\"tool_choice\":{\"type\":\"tool\",\"name\":\"run_sql\"}}",
               "{\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{}}]}", 1);
    strip_case(LLMGW_PT_ANTHROPIC, &bob,
               "{\"tools\":[{\"name\":\"get_weather\"},{\"name\":\"x\"}],"
               "\"tool_choice\":{\"type\":\"tool\",\"name\":\"get_weather\"}}",
               "{\"tools\":[{\"name\":\"get_weather\"}],"
               "\"tool_choice\":{\"type\":\"tool\",\"name\":\"get_weather\"}}", 1);
    strip_case(LLMGW_PT_ANTHROPIC, &bob,
               "{\"model\":\"c\",\"tools\":[{\"type\":\"bash_20250124\",\"name\":\"bash\"}],"
               "\"tool_choice\":{\"type\":\"any\"}}",
               "{\"model\":\"c\"}", 1);
}

static void test_strip_gemini(void **state)
{
    strip_case(LLMGW_PT_GEMINI, &bob,
               "{\"tools\":[{\"functionDeclarations\":[{\"name\":\"get_weather\"},"
               "{\"name\":\"run_sql\"}]},{\"codeExecution\":{}},{\"googleSearch\":{}}],"
               "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\","
               "\"allowedFunctionNames\":[\"get_weather\",\"run_sql\"]}}}",
               "{\"tools\":[{\"functionDeclarations\":[{\"name\":\"get_weather\"}]},"
               "{\"googleSearch\":{}}],"
               "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\","
               "\"allowedFunctionNames\":[\"get_weather\"]}}}", 2);
    /* snake_case, one tool object holding both kinds */
    strip_case(LLMGW_PT_GEMINI, &bob,
               "{\"tools\":[{\"function_declarations\":[{\"name\":\"x\"}],\"code_execution\":{},"
               "\"google_search\":{}}],"
               "\"tool_config\":{\"function_calling_config\":{\"allowed_function_names\":[\"x\"]}}}",
               "{\"tools\":[{\"google_search\":{}}],"
               "\"tool_config\":{\"function_calling_config\":{}}}", 2);
    /* everything removed: tools and toolConfig go */
    strip_case(LLMGW_PT_GEMINI, &bob,
               "{\"contents\":[],\"tools\":[{\"functionDeclarations\":[{\"name\":\"x\"}]},"
               "{\"codeExecution\":{}}],\"toolConfig\":{\"functionCallingConfig\":{}}}",
               "{\"contents\":[]}", 2);
    strip_case(LLMGW_PT_GEMINI, &bob, "{\"tools\":[7,{\"googleSearch\":{}}]}",
               "{\"tools\":[{\"googleSearch\":{}}]}", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_openai_chat),
        cmocka_unit_test(test_names_openai_responses),
        cmocka_unit_test(test_names_anthropic),
        cmocka_unit_test(test_names_gemini),
        cmocka_unit_test(test_denied),
        cmocka_unit_test(test_strip_openai_chat),
        cmocka_unit_test(test_strip_openai_responses),
        cmocka_unit_test(test_strip_anthropic),
        cmocka_unit_test(test_strip_gemini),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
