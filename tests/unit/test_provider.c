/* test_provider.c — cmocka tests for llmgw_provider: type names, OpenAI-wire types,
 * where each provider wants its key, and the provider-native error bodies (SPEC §6)
 * parsed back with jansson for every type and status, with hostile messages and
 * every buffer size. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "llmgw_provider.h"

static const char *const names[LLMGW_PT_COUNT] = {
    "openai", "anthropic", "gemini", "azure", "openai-compatible", "http",
};

static void test_ptype_names(void **state)
{
    assert_int_equal(LLMGW_PT_COUNT, 6);
    for (int i = 0; i < LLMGW_PT_COUNT; i++) {
        assert_int_equal(llmgw_ptype_parse(names[i]), i);
        assert_string_equal(llmgw_ptype_name((llmgw_ptype)i), names[i]);
        assert_int_equal(llmgw_ptype_parse(llmgw_ptype_name((llmgw_ptype)i)), i);
    }
    assert_int_equal(llmgw_ptype_parse("openai"), LLMGW_PT_OPENAI);
    assert_int_equal(llmgw_ptype_parse("anthropic"), LLMGW_PT_ANTHROPIC);
    assert_int_equal(llmgw_ptype_parse("gemini"), LLMGW_PT_GEMINI);
    assert_int_equal(llmgw_ptype_parse("azure"), LLMGW_PT_AZURE);
    assert_int_equal(llmgw_ptype_parse("openai-compatible"), LLMGW_PT_OPENAI_COMPAT);
    assert_int_equal(llmgw_ptype_parse("http"), LLMGW_PT_HTTP);

    static const char *const unknown[] = {
        "", "OpenAI", "openai ", " openai", "open", "openai-compat", "google", "claude",
        "https", "unknown", "openai-compatible-x",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        if (llmgw_ptype_parse(unknown[i]) != -1)
            fail_msg("'%s' should not parse", unknown[i]);

    assert_string_equal(llmgw_ptype_name(LLMGW_PT_COUNT), "unknown");
    assert_string_equal(llmgw_ptype_name((llmgw_ptype)-1), "unknown");
    assert_string_equal(llmgw_ptype_name((llmgw_ptype)1000), "unknown");
}

static void test_openai_wire(void **state)
{
    assert_true(llmgw_ptype_is_openai_wire(LLMGW_PT_OPENAI));
    assert_true(llmgw_ptype_is_openai_wire(LLMGW_PT_AZURE));
    assert_true(llmgw_ptype_is_openai_wire(LLMGW_PT_OPENAI_COMPAT));
    assert_false(llmgw_ptype_is_openai_wire(LLMGW_PT_ANTHROPIC));
    assert_false(llmgw_ptype_is_openai_wire(LLMGW_PT_GEMINI));
    assert_false(llmgw_ptype_is_openai_wire(LLMGW_PT_HTTP));
}

static void test_key_headers(void **state)
{
    static const struct {
        llmgw_ptype t;
        const char *header, *prefix;
    } want[] = {
        {LLMGW_PT_OPENAI, "Authorization", "Bearer "},
        {LLMGW_PT_ANTHROPIC, "x-api-key", ""},
        {LLMGW_PT_GEMINI, "x-goog-api-key", ""},
        {LLMGW_PT_AZURE, "api-key", ""},
        {LLMGW_PT_OPENAI_COMPAT, "Authorization", "Bearer "},
        {LLMGW_PT_HTTP, "Authorization", "Bearer "},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(llmgw_ptype_key_header(want[i].t), want[i].header);
        assert_string_equal(llmgw_ptype_key_prefix(want[i].t), want[i].prefix);
    }
}

/* ---- error bodies ------------------------------------------------------------------- */

static json_t *body_json(llmgw_ptype t, int status, const char *msg, char *buf, size_t cap,
                         size_t *len)
{
    size_t n = llmgw_error_body(t, status, msg, buf, cap);
    assert_int_equal(n, strlen(buf));
    json_error_t je;
    json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        fail_msg("type %d status %d: invalid JSON '%s': %s", t, status, buf, je.text);
    assert_true(json_is_object(j));
    if (len)
        *len = n;
    return j;
}

static const int statuses[] = {400, 401, 403, 404, 413, 429, 500, 502, 503, 504};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

/* Checks an OpenAI-shaped body and returns the error object's message. */
static const char *check_openai(const json_t *j, const char *type, const char *code)
{
    assert_int_equal(json_object_size(j), 1);
    const json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 4);
    const json_t *m = json_object_get(e, "message");
    assert_true(json_is_string(m));
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    assert_true(json_is_null(json_object_get(e, "param")));
    const json_t *c = json_object_get(e, "code");
    if (code)
        assert_string_equal(json_string_value(c), code);
    else
        assert_true(json_is_null(c));
    return json_string_value(m);
}

static void test_error_openai_shapes(void **state)
{
    static const struct {
        int status;
        const char *type, *code;
    } want[] = {
        {400, "invalid_request_error", NULL},
        {401, "invalid_request_error", "invalid_api_key"},
        {403, "permission_error", "permission_denied"},
        {404, "invalid_request_error", "not_found"},
        {413, "invalid_request_error", "request_too_large"},
        {429, "rate_limit_exceeded", "rate_limit_exceeded"},
        {500, "server_error", NULL},
        {502, "server_error", NULL},
        {503, "server_error", NULL},
        {504, "server_error", NULL},
    };
    /* every OpenAI-wire type, and plain http, answers in OpenAI's format */
    const llmgw_ptype types[] = {LLMGW_PT_OPENAI, LLMGW_PT_AZURE, LLMGW_PT_OPENAI_COMPAT,
                                 LLMGW_PT_HTTP};
    char buf[4096];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            json_t *j = body_json(types[t], want[i].status, "denied", buf, sizeof buf, NULL);
            assert_string_equal(check_openai(j, want[i].type, want[i].code), "denied");
            json_decref(j);
        }
    /* the exact bytes of one */
    size_t n = llmgw_error_body(LLMGW_PT_OPENAI, 401, "Invalid gateway key", buf, sizeof buf);
    assert_string_equal(buf, "{\"error\":{\"message\":\"Invalid gateway key\","
                             "\"type\":\"invalid_request_error\",\"param\":null,"
                             "\"code\":\"invalid_api_key\"}}");
    assert_int_equal(n, strlen(buf));
}

static void test_error_anthropic_shapes(void **state)
{
    static const struct {
        int status;
        const char *type;
    } want[] = {
        {400, "invalid_request_error"}, {401, "authentication_error"},
        {403, "permission_error"},      {404, "not_found_error"},
        {413, "request_too_large"},     {429, "rate_limit_error"},
        {500, "api_error"},             {502, "api_error"},
        {503, "api_error"},
    };
    char buf[4096];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *j = body_json(LLMGW_PT_ANTHROPIC, want[i].status, "nope", buf, sizeof buf, NULL);
        assert_int_equal(json_object_size(j), 2);
        assert_string_equal(json_string_value(json_object_get(j, "type")), "error");
        const json_t *e = json_object_get(j, "error");
        assert_true(json_is_object(e));
        assert_int_equal(json_object_size(e), 2);
        if (strcmp(json_string_value(json_object_get(e, "type")), want[i].type) != 0)
            fail_msg("anthropic %d: type %s, want %s", want[i].status,
                     json_string_value(json_object_get(e, "type")), want[i].type);
        assert_string_equal(json_string_value(json_object_get(e, "message")), "nope");
        json_decref(j);
    }
    /* 504: Anthropic documents timeout_error; api_error is what older clients know */
    json_t *j = body_json(LLMGW_PT_ANTHROPIC, 504, "slow", buf, sizeof buf, NULL);
    const char *t = json_string_value(json_object_get(json_object_get(j, "error"), "type"));
    assert_non_null(t);
    assert_true(strcmp(t, "api_error") == 0 || strcmp(t, "timeout_error") == 0);
    json_decref(j);

    llmgw_error_body(LLMGW_PT_ANTHROPIC, 401, "bad key", buf, sizeof buf);
    assert_string_equal(buf, "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
                             "\"message\":\"bad key\"}}");
}

static void test_error_gemini_shapes(void **state)
{
    static const struct {
        int status;
        const char *st;
    } want[] = {
        {400, "INVALID_ARGUMENT"},   {401, "UNAUTHENTICATED"},  {403, "PERMISSION_DENIED"},
        {404, "NOT_FOUND"},          {413, "INVALID_ARGUMENT"}, {429, "RESOURCE_EXHAUSTED"},
        {500, "INTERNAL"},           {502, "INTERNAL"},         {503, "UNAVAILABLE"},
        {504, "DEADLINE_EXCEEDED"},
    };
    char buf[4096];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *j = body_json(LLMGW_PT_GEMINI, want[i].status, "no", buf, sizeof buf, NULL);
        assert_int_equal(json_object_size(j), 1);
        const json_t *e = json_object_get(j, "error");
        assert_true(json_is_object(e));
        assert_int_equal(json_object_size(e), 3);
        const json_t *c = json_object_get(e, "code");
        assert_true(json_is_integer(c));
        assert_int_equal(json_integer_value(c), want[i].status);
        assert_string_equal(json_string_value(json_object_get(e, "message")), "no");
        if (strcmp(json_string_value(json_object_get(e, "status")), want[i].st) != 0)
            fail_msg("gemini %d: status %s, want %s", want[i].status,
                     json_string_value(json_object_get(e, "status")), want[i].st);
        json_decref(j);
    }
    llmgw_error_body(LLMGW_PT_GEMINI, 401, "API key not valid", buf, sizeof buf);
    assert_string_equal(buf, "{\"error\":{\"code\":401,\"message\":\"API key not valid\","
                             "\"status\":\"UNAUTHENTICATED\"}}");
}

static const char *msg_of(llmgw_ptype t, const json_t *j)
{
    const json_t *e = json_object_get(j, "error");
    return json_string_value(json_object_get(e, "message"));
}

static void test_error_message_escaping(void **state)
{
    static const char nasty[] =
        "model \"gpt-5\" not allowed\nfor team \\research\\\r\t\x01\x1f\x7f "
        "</b> \xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80 {\"injected\":true}";
    char buf[4096];
    for (int t = 0; t < LLMGW_PT_COUNT; t++)
        for (size_t s = 0; s < NSTATUS; s++) {
            json_t *j = body_json((llmgw_ptype)t, statuses[s], nasty, buf, sizeof buf, NULL);
            const char *m = msg_of((llmgw_ptype)t, j);
            assert_non_null(m);
            assert_string_equal(m, nasty);
            json_decref(j);
            /* one line, no raw control bytes */
            for (const char *p = buf; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                    fail_msg("raw control byte in %s", buf);
        }
    /* an empty message stays an empty string */
    json_t *j = body_json(LLMGW_PT_ANTHROPIC, 400, "", buf, sizeof buf, NULL);
    assert_string_equal(msg_of(LLMGW_PT_ANTHROPIC, j), "");
    json_decref(j);
}

static void test_error_long_message(void **state)
{
    /* long messages are cut (at a UTF-8 boundary) and the body stays valid */
    char *msg = malloc(5001);
    assert_non_null(msg);
    memset(msg, 'm', 5000);
    msg[5000] = '\0';
    char buf[8192];
    for (int t = 0; t < LLMGW_PT_COUNT; t++) {
        json_t *j = body_json((llmgw_ptype)t, 400, msg, buf, sizeof buf, NULL);
        const char *m = msg_of((llmgw_ptype)t, j);
        assert_non_null(m);
        assert_true(strlen(m) > 0 && strlen(m) <= 1024);
        assert_memory_equal(m, msg, strlen(m));
        json_decref(j);
    }
    /* 1023 ASCII bytes then a 2-byte character crossing the cut */
    memset(msg, 'm', 1023);
    memcpy(msg + 1023, "\xc3\xa9tail", 7);
    json_t *j = body_json(LLMGW_PT_GEMINI, 400, msg, buf, sizeof buf, NULL);
    assert_int_equal(strlen(msg_of(LLMGW_PT_GEMINI, j)), 1023);
    json_decref(j);
    /* 5000 quotes: escaping doubles the size, still one valid body */
    memset(msg, '"', 5000);
    msg[5000] = '\0';
    j = body_json(LLMGW_PT_OPENAI, 400, msg, buf, sizeof buf, NULL);
    assert_int_equal(strlen(msg_of(LLMGW_PT_OPENAI, j)), 1024);
    json_decref(j);
    free(msg);
}

static void test_error_tiny_cap(void **state)
{
    /* for every buffer size: never a write past cap, always NUL-terminated, and either the
     * whole body or (when cap allows) the valid fallback "{}" */
    const char *msg = "rate limit \"exceeded\" for\nalice";
    char full[1024];
    for (int t = 0; t < LLMGW_PT_COUNT; t++)
        for (size_t s = 0; s < NSTATUS; s++) {
            size_t flen = llmgw_error_body((llmgw_ptype)t, statuses[s], msg, full, sizeof full);
            assert_true(flen > 10);
            char buf[1100];
            for (size_t cap = 0; cap <= flen + 2; cap++) {
                memset(buf, 0x55, sizeof buf);
                size_t n = llmgw_error_body((llmgw_ptype)t, statuses[s], msg, buf, cap);
                for (size_t i = cap; i < sizeof buf; i++)
                    if ((unsigned char)buf[i] != 0x55)
                        fail_msg("type %d cap %zu: wrote byte %zu", t, cap, i);
                if (cap == 0) {
                    assert_int_equal(n, 0);
                    continue;
                }
                assert_int_equal(n, strlen(buf));
                if (cap > flen) {
                    assert_int_equal(n, flen);
                    assert_string_equal(buf, full);
                } else if (cap >= 3) {
                    assert_string_equal(buf, "{}");
                    assert_int_equal(n, 2);
                    json_t *j = json_loads(buf, 0, NULL);
                    assert_non_null(j);
                    json_decref(j);
                } else {
                    assert_int_equal(n, 0);
                    assert_string_equal(buf, "");
                }
            }
        }
}

static void test_error_null_message(void **state)
{
    /* a NULL message must not crash and the body stays valid JSON */
    char buf[512];
    for (int t = 0; t < LLMGW_PT_COUNT; t++) {
        json_t *j = body_json((llmgw_ptype)t, 500, NULL, buf, sizeof buf, NULL);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ptype_names),
        cmocka_unit_test(test_openai_wire),
        cmocka_unit_test(test_key_headers),
        cmocka_unit_test(test_error_openai_shapes),
        cmocka_unit_test(test_error_anthropic_shapes),
        cmocka_unit_test(test_error_gemini_shapes),
        cmocka_unit_test(test_error_message_escaping),
        cmocka_unit_test(test_error_long_message),
        cmocka_unit_test(test_error_tiny_cap),
        cmocka_unit_test(test_error_null_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
