/* test_policy.c — cmocka tests for llmgw_policy: principal syntax and matching, allow
 * list semantics (no rules allows all, rules deny the rest, per user/team/role/any),
 * model-list request classification per provider, and filtering a provider's list with
 * its paging fields kept. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "llmgw_policy.h"
#include "unit_json.h"

static const char *const alice_roles[] = {"premium", "developer"};
static const llmgw_subject alice = {"alice", "research", alice_roles, 2};
static const char *const bob_roles[] = {"standard"};
static const llmgw_subject bob = {"bob", "sales", bob_roles, 1};
static const llmgw_subject nobody = {0};

static void test_principal_parse(void **state)
{
    llmgw_principal p;
    assert_int_equal(llmgw_principal_parse("*", &p), 0);
    assert_int_equal(p.kind, LLMGW_PRINCIPAL_ANY);
    assert_int_equal(llmgw_principal_parse("user:alice", &p), 0);
    assert_int_equal(p.kind, LLMGW_PRINCIPAL_USER);
    assert_string_equal(p.name, "alice");
    assert_int_equal(llmgw_principal_parse("team:research", &p), 0);
    assert_int_equal(p.kind, LLMGW_PRINCIPAL_TEAM);
    assert_int_equal(llmgw_principal_parse("role:premium", &p), 0);
    assert_int_equal(p.kind, LLMGW_PRINCIPAL_ROLE);
    assert_string_equal(p.name, "premium");
    assert_int_equal(llmgw_principal_parse("user:a@b.example", &p), 0);
    assert_int_equal(llmgw_principal_parse("role:", &p), -1);
    assert_int_equal(llmgw_principal_parse("group:x", &p), -1);
    assert_int_equal(llmgw_principal_parse("premium", &p), -1);
    assert_int_equal(llmgw_principal_parse("**", &p), -1);
    assert_int_equal(llmgw_principal_parse("role:a b", &p), -1);
    assert_int_equal(llmgw_principal_parse("role:a\tb", &p), -1);
    assert_int_equal(llmgw_principal_parse("", &p), -1);
    assert_int_equal(llmgw_principal_parse(NULL, &p), -1);
    assert_int_equal(llmgw_principal_parse("Role:premium", &p), -1);
}

static void test_principal_matches(void **state)
{
    llmgw_principal p;
    llmgw_principal_parse("*", &p);
    assert_true(llmgw_principal_matches(&p, &alice));
    assert_true(llmgw_principal_matches(&p, &nobody));
    llmgw_principal_parse("user:alice", &p);
    assert_true(llmgw_principal_matches(&p, &alice));
    assert_false(llmgw_principal_matches(&p, &bob));
    assert_false(llmgw_principal_matches(&p, &nobody));
    llmgw_principal_parse("team:sales", &p);
    assert_true(llmgw_principal_matches(&p, &bob));
    assert_false(llmgw_principal_matches(&p, &alice));
    llmgw_principal_parse("role:developer", &p);
    assert_true(llmgw_principal_matches(&p, &alice));
    assert_false(llmgw_principal_matches(&p, &bob));
    llmgw_principal_parse("role:develop", &p);      /* whole names only */
    assert_false(llmgw_principal_matches(&p, &alice));
    llmgw_principal_parse("user:research", &p);     /* kinds do not mix */
    assert_false(llmgw_principal_matches(&p, &alice));
}

/* The spec's example rules. */
static const char *const premium_globs[] = {"gpt-4*", "claude-3-opus*", "gemini-ultra*"};
static const char *const standard_globs[] = {"gpt-3.5*", "claude-3-haiku*", "gemini-pro*"};
static const char *const bob_globs[] = {"o3-mini"};

static llmgw_allow_rule rules[3];
static llmgw_allow_list spec_list;

static int setup_rules(void **state)
{
    llmgw_principal_parse("role:premium", &rules[0].who);
    rules[0].globs = premium_globs;
    rules[0].nglobs = 3;
    llmgw_principal_parse("role:standard", &rules[1].who);
    rules[1].globs = standard_globs;
    rules[1].nglobs = 3;
    llmgw_principal_parse("user:bob", &rules[2].who);
    rules[2].globs = bob_globs;
    rules[2].nglobs = 1;
    spec_list.rules = rules;
    spec_list.n = 3;
    return 0;
}

static void test_no_rules_allow_everything(void **state)
{
    llmgw_allow_list none = {NULL, 0};
    assert_true(llmgw_allowed(&none, &alice, "anything"));
    assert_true(llmgw_allowed(&none, &nobody, ""));
    assert_true(llmgw_allowed(NULL, &bob, "gpt-4o"));
}

static void test_rules_allow_and_deny(void **state)
{
    assert_true(llmgw_allowed(&spec_list, &alice, "gpt-4o"));
    assert_true(llmgw_allowed(&spec_list, &alice, "claude-3-opus-20240229"));
    assert_false(llmgw_allowed(&spec_list, &alice, "gpt-3.5-turbo"));
    assert_false(llmgw_allowed(&spec_list, &alice, "o3-mini"));
    assert_true(llmgw_allowed(&spec_list, &bob, "gpt-3.5-turbo"));
    assert_true(llmgw_allowed(&spec_list, &bob, "gemini-pro"));
    assert_true(llmgw_allowed(&spec_list, &bob, "o3-mini"));       /* user rule adds */
    assert_false(llmgw_allowed(&spec_list, &bob, "gpt-4o"));
    assert_false(llmgw_allowed(&spec_list, &bob, "claude-3-opus-20240229"));
    assert_false(llmgw_allowed(&spec_list, &nobody, "gpt-4o"));
    assert_false(llmgw_allowed(&spec_list, &alice, NULL));
    assert_false(llmgw_allowed(&spec_list, &alice, ""));
    assert_false(llmgw_allowed(&spec_list, &alice, "GPT-4o"));    /* globs are case-sensitive */
}

static void test_models_request(void **state)
{
    char id[64];
    assert_int_equal(llmgw_models_request(LLMGW_PT_OPENAI, "GET", "/models", id, sizeof id),
                     LLMGW_MODELS_LIST);
    assert_int_equal(llmgw_models_request(LLMGW_PT_OPENAI_COMPAT, "GET", "/v1/models", id,
                                          sizeof id), LLMGW_MODELS_LIST);
    assert_int_equal(llmgw_models_request(LLMGW_PT_ANTHROPIC, "GET", "/v1/models", id,
                                          sizeof id), LLMGW_MODELS_LIST);
    assert_int_equal(llmgw_models_request(LLMGW_PT_GEMINI, "GET", "/v1beta/models", id,
                                          sizeof id), LLMGW_MODELS_LIST);
    assert_int_equal(llmgw_models_request(LLMGW_PT_GEMINI, "GET", "/v1beta/models/", id,
                                          sizeof id), LLMGW_MODELS_LIST);
    assert_int_equal(llmgw_models_request(LLMGW_PT_OPENAI, "HEAD", "/models", id, sizeof id),
                     LLMGW_MODELS_LIST);
    assert_int_equal(llmgw_models_request(LLMGW_PT_OPENAI, "GET", "/models/gpt-4o", id,
                                          sizeof id), LLMGW_MODELS_ITEM);
    assert_string_equal(id, "gpt-4o");
    assert_int_equal(llmgw_models_request(LLMGW_PT_OPENAI, "GET",
                                          "/models/ft:gpt-4o:org:x:1", id, sizeof id),
                     LLMGW_MODELS_ITEM);
    assert_string_equal(id, "ft:gpt-4o:org:x:1");
    assert_int_equal(llmgw_models_request(LLMGW_PT_ANTHROPIC, "GET",
                                          "/v1/models/claude-3-haiku-20240307", id, sizeof id),
                     LLMGW_MODELS_ITEM);
    assert_string_equal(id, "claude-3-haiku-20240307");
    assert_int_equal(llmgw_models_request(LLMGW_PT_GEMINI, "GET", "/v1beta/models/gemini-pro",
                                          id, sizeof id), LLMGW_MODELS_ITEM);
    assert_string_equal(id, "gemini-pro");
    /* actions, other methods, other paths */
    assert_int_equal(llmgw_models_request(LLMGW_PT_GEMINI, "POST",
                                          "/v1beta/models/gemini-pro:generateContent", id,
                                          sizeof id), LLMGW_MODELS_NONE);
    assert_int_equal(llmgw_models_request(LLMGW_PT_GEMINI, "GET",
                                          "/v1beta/models/gemini-pro:countTokens", id,
                                          sizeof id), LLMGW_MODELS_NONE);
    assert_int_equal(llmgw_models_request(LLMGW_PT_OPENAI, "POST", "/models", id, sizeof id),
                     LLMGW_MODELS_NONE);
    assert_int_equal(llmgw_models_request(LLMGW_PT_OPENAI, "GET", "/modelsx", id, sizeof id),
                     LLMGW_MODELS_NONE);
    assert_int_equal(llmgw_models_request(LLMGW_PT_OPENAI, "GET", "/chat/completions", id,
                                          sizeof id), LLMGW_MODELS_NONE);
    assert_int_equal(llmgw_models_request(LLMGW_PT_OPENAI, "GET", "/models/a/b", id, sizeof id),
                     LLMGW_MODELS_NONE);
    assert_int_equal(llmgw_models_request(LLMGW_PT_AZURE, "GET", "/openai/models", id,
                                          sizeof id), LLMGW_MODELS_NONE);
    assert_int_equal(llmgw_models_request(LLMGW_PT_HTTP, "GET", "/models", id, sizeof id),
                     LLMGW_MODELS_NONE);
    /* a long id is cut to the buffer, never overflows it */
    char small[4];
    assert_int_equal(llmgw_models_request(LLMGW_PT_OPENAI, "GET", "/models/abcdefgh", small,
                                          sizeof small), LLMGW_MODELS_ITEM);
    assert_string_equal(small, "abc");
}

static void test_models_query(void **state)
{
    char q[128];
    assert_int_equal(llmgw_models_query(LLMGW_PT_ANTHROPIC, NULL, q, sizeof q), 0);
    assert_string_equal(q, "limit=1000");
    assert_int_equal(llmgw_models_query(LLMGW_PT_ANTHROPIC, "limit=2&after_id=claude-x", q,
                                        sizeof q), 0);
    assert_string_equal(q, "after_id=claude-x&limit=1000");
    assert_int_equal(llmgw_models_query(LLMGW_PT_ANTHROPIC, "limits=3&&limit=", q, sizeof q), 0);
    assert_string_equal(q, "limits=3&limit=1000");
    assert_int_equal(llmgw_models_query(LLMGW_PT_GEMINI, "pageSize=3&pageToken=abc", q,
                                        sizeof q), 0);
    assert_string_equal(q, "pageToken=abc&pageSize=1000");
    assert_int_equal(llmgw_models_query(LLMGW_PT_GEMINI, "page_size=3", q, sizeof q), 0);
    assert_string_equal(q, "pageSize=1000");
    assert_int_equal(llmgw_models_query(LLMGW_PT_GEMINI, "", q, sizeof q), 0);
    assert_string_equal(q, "pageSize=1000");
    assert_int_equal(llmgw_models_query(LLMGW_PT_OPENAI, "x=1", q, sizeof q), -1);
    char small[12];
    assert_int_equal(llmgw_models_query(LLMGW_PT_ANTHROPIC, "after_id=abcdef", small,
                                        sizeof small), -1);
    assert_int_equal(llmgw_models_query(LLMGW_PT_ANTHROPIC, "", small, sizeof small), 0);
}

static void test_filter_openai(void **state)
{
    json_t *j = load("{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o\",\"object\":\"model\"},"
                     "{\"id\":\"gpt-4o-mini\"},{\"id\":\"gpt-3.5-turbo\"},{\"id\":\"o3-mini\"},"
                     "{\"object\":\"model\"},{\"id\":7}]}");
    json_t *k = json_deep_copy(j);
    assert_int_equal(llmgw_models_filter(LLMGW_PT_OPENAI, j, &spec_list, &alice), 4);
    assert_json(j, "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o\",\"object\":\"model\"},"
                   "{\"id\":\"gpt-4o-mini\"}]}");
    assert_int_equal(llmgw_models_filter(LLMGW_PT_OPENAI, k, &spec_list, &bob), 4);
    assert_json(k, "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-3.5-turbo\"},"
                   "{\"id\":\"o3-mini\"}]}");
    json_decref(j);
    json_decref(k);
}

static void test_filter_anthropic_keeps_paging(void **state)
{
    json_t *j = load("{\"data\":[{\"type\":\"model\",\"id\":\"claude-3-opus-20240229\"},"
                     "{\"type\":\"model\",\"id\":\"claude-3-haiku-20240307\"}],"
                     "\"has_more\":true,\"first_id\":\"claude-3-opus-20240229\","
                     "\"last_id\":\"claude-3-haiku-20240307\"}");
    assert_int_equal(llmgw_models_filter(LLMGW_PT_ANTHROPIC, j, &spec_list, &bob), 1);
    assert_json(j, "{\"data\":[{\"type\":\"model\",\"id\":\"claude-3-haiku-20240307\"}],"
                   "\"has_more\":true,\"first_id\":\"claude-3-opus-20240229\","
                   "\"last_id\":\"claude-3-haiku-20240307\"}");
    json_decref(j);
}

static void test_filter_gemini_keeps_token(void **state)
{
    json_t *j = load("{\"models\":[{\"name\":\"models/gemini-pro\",\"displayName\":\"P\"},"
                     "{\"name\":\"models/gemini-ultra-1\"},{\"name\":\"gemini-pro-vision\"},"
                     "{\"displayName\":\"no name\"}],\"nextPageToken\":\"b2Zmc2V0OjU\"}");
    json_t *k = json_deep_copy(j);
    assert_int_equal(llmgw_models_filter(LLMGW_PT_GEMINI, j, &spec_list, &bob), 2);
    assert_json(j, "{\"models\":[{\"name\":\"models/gemini-pro\",\"displayName\":\"P\"},"
                   "{\"name\":\"gemini-pro-vision\"}],\"nextPageToken\":\"b2Zmc2V0OjU\"}");
    assert_int_equal(llmgw_models_filter(LLMGW_PT_GEMINI, k, &spec_list, &alice), 3);
    assert_json(k, "{\"models\":[{\"name\":\"models/gemini-ultra-1\"}],"
                   "\"nextPageToken\":\"b2Zmc2V0OjU\"}");
    json_decref(j);
    json_decref(k);
    /* an empty page has no "models" at all */
    j = load("{\"nextPageToken\":\"x\"}");
    assert_int_equal(llmgw_models_filter(LLMGW_PT_GEMINI, j, &spec_list, &bob), 0);
    json_decref(j);
}

static void test_filter_rejects_other_shapes(void **state)
{
    json_t *j = load("{\"object\":\"list\",\"items\":[]}");
    assert_int_equal(llmgw_models_filter(LLMGW_PT_OPENAI, j, &spec_list, &bob), -1);
    json_decref(j);
    j = load("{\"data\":{\"id\":\"gpt-4o\"}}");
    assert_int_equal(llmgw_models_filter(LLMGW_PT_OPENAI, j, &spec_list, &bob), -1);
    json_decref(j);
    j = load("[{\"id\":\"gpt-4o\"}]");
    assert_int_equal(llmgw_models_filter(LLMGW_PT_OPENAI, j, &spec_list, &bob), -1);
    json_decref(j);
    j = load("{\"models\":\"x\"}");
    assert_int_equal(llmgw_models_filter(LLMGW_PT_GEMINI, j, &spec_list, &bob), -1);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_principal_parse),
        cmocka_unit_test(test_principal_matches),
        cmocka_unit_test(test_no_rules_allow_everything),
        cmocka_unit_test_setup(test_rules_allow_and_deny, setup_rules),
        cmocka_unit_test(test_models_request),
        cmocka_unit_test(test_models_query),
        cmocka_unit_test_setup(test_filter_openai, setup_rules),
        cmocka_unit_test_setup(test_filter_anthropic_keeps_paging, setup_rules),
        cmocka_unit_test_setup(test_filter_gemini_keeps_token, setup_rules),
        cmocka_unit_test_setup(test_filter_rejects_other_shapes, setup_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
