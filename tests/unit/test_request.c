/* test_request.c — cmocka tests for llmgw_request: body parsing (object only, malformed
 * JSON, duplicate keys, nesting limit with brackets and escapes inside strings),
 * request info per provider (model, stream, include_usage; Gemini and Azure from the
 * path), the include_usage rewrite (byte-exact splice, re-serialisation, no-ops) and
 * endpoint names. */
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
#include "llmgw_request.h"

/* ---- a malloc-based allocator that frees everything at teardown --------------------- */

typedef struct {
    void *ptrs[256];
    size_t n;
    int fail;
} arena;

static void *arena_fn(void *ctx, size_t n)
{
    arena *a = ctx;
    if (a->fail || a->n == sizeof a->ptrs / sizeof a->ptrs[0])
        return NULL;
    void *p = malloc(n ? n : 1);
    if (p)
        a->ptrs[a->n++] = p;
    return p;
}

typedef struct {
    arena ar;
    llmgw_alloc alloc;
    json_t *roots[64];
    size_t nroots;
    char *texts[16];
    size_t ntexts;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->alloc.fn = arena_fn;
    f->alloc.ctx = &f->ar;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < f->ar.n; i++)
        free(f->ar.ptrs[i]);
    for (size_t i = 0; i < f->nroots; i++)
        json_decref(f->roots[i]);
    for (size_t i = 0; i < f->ntexts; i++)
        free(f->texts[i]);
    free(f);
    return 0;
}

/* Parses with llmgw_request_parse; the fixture owns the result. */
static json_t *parse_ok(fixture *f, const char *body)
{
    char err[256] = "";
    json_t *j = llmgw_request_parse(body, strlen(body), err, sizeof err);
    if (!j)
        fail_msg("<<%.200s>> rejected: %s", body, err);
    assert_true(f->nroots < sizeof f->roots / sizeof f->roots[0]);
    f->roots[f->nroots++] = j;
    return j;
}

/* Expects rejection; the error text must contain want. */
static void parse_bad(const char *body, size_t len, const char *want)
{
    char err[256];
    memset(err, 0, sizeof err);
    json_t *j = llmgw_request_parse(body, len, err, sizeof err);
    if (j) {
        json_decref(j);
        fail_msg("<<%.200s>> accepted", body);
    }
    if (!strstr(err, want))
        fail_msg("<<%.200s>>: error '%s' lacks '%s'", body, err, want);
}

static char *text(fixture *f, size_t cap)
{
    char *t = malloc(cap);
    assert_non_null(t);
    assert_true(f->ntexts < sizeof f->texts / sizeof f->texts[0]);
    f->texts[f->ntexts++] = t;
    return t;
}

/* Builds "{"a":" + open^depth + close^depth + "}" style bodies. */
static char *nested(fixture *f, const char *prefix, int depth, char open, char close,
                    const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *t = text(f, pl + 2 * (size_t)depth + sl + 1);
    memcpy(t, prefix, pl);
    memset(t + pl, open, (size_t)depth);
    memset(t + pl + depth, close, (size_t)depth);
    memcpy(t + pl + 2 * depth, suffix, sl + 1);
    return t;
}

/* ---- llmgw_request_parse ----------------------------------------------------------------- */

static void test_parse_valid(void **state)
{
    fixture *f = *state;
    json_t *j = parse_ok(f, "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
                            "\"content\":\"hi\"}],\"stream\":true}");
    assert_true(json_is_object(j));
    assert_string_equal(json_string_value(json_object_get(j, "model")), "gpt-4o");
    j = parse_ok(f, "  \r\n{}\n ");
    assert_int_equal(json_object_size(j), 0);

    /* len is honoured: the text after it is not part of the body */
    const char *two = "{\"a\":1}{\"b\":2}";
    char err[128];
    j = llmgw_request_parse(two, 7, err, sizeof err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
    json_decref(j);
}

static void test_parse_malformed(void **state)
{
    static const char *const bad[] = {
        "{\"model\":", "{\"model\" \"x\"}", "{'model':'x'}", "{\"a\":1,}", "{\"a\":1}}",
        "{\"a\":1} trailing", "{\"a\":tru}", "{\"a\":\"\xff\"}", "{\"a\":\"unterminated}",
        "{\"a\":\"\\x41\"}", "   ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i], strlen(bad[i]), "malformed JSON");
    parse_bad("", 0, "malformed JSON");
    /* an embedded NUL inside the declared length */
    parse_bad("{\"a\":1}\0{", 9, "malformed JSON");
}

/* jansson skips a NUL right after a literal or a number; such a body is not JSON to any
 * other parser and must not pass (tests/fuzz/regressions/request) */
static void test_parse_nul_after_literal(void **state)
{
#define B(lit) {lit, sizeof lit - 1}
    static const struct { const char *s; size_t n; } bad[] = {
        B("{\"stream\": true\0,\"model\":\"x\"}"), B("{\"n\":1\0}"),
        B("{\"a\":null\0,\"b\":false}"), B("{\"a\":\"x\0\"}"), B("\0{}"),
    };
#undef B
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i].s, bad[i].n, "NUL byte");
}

static void test_parse_not_object(void **state)
{
    parse_bad("[1,2,3]", 7, "JSON object");
    parse_bad("[{\"model\":\"x\"}]", 15, "JSON object");
    parse_bad("[]", 2, "JSON object");
    /* scalars are refused too (jansson calls them malformed at top level) */
    static const char *const scalars[] = {"\"str\"", "42", "null", "true"};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        char err[256] = "";
        json_t *j = llmgw_request_parse(scalars[i], strlen(scalars[i]), err, sizeof err);
        if (j) {
            json_decref(j);
            fail_msg("%s accepted", scalars[i]);
        }
        assert_true(err[0] != '\0');
    }
}

static void test_parse_duplicates(void **state)
{
    parse_bad("{\"a\":1,\"a\":2}", 13, "malformed JSON");
    const char *nested_dup = "{\"messages\":[{\"role\":\"user\",\"role\":\"system\"}]}";
    parse_bad(nested_dup, strlen(nested_dup), "malformed JSON");
    const char *d2 = "{\"stream\":false,\"model\":\"x\",\"stream\":true}";
    parse_bad(d2, strlen(d2), "malformed JSON");
}

static void test_parse_depth(void **state)
{
    fixture *f = *state;
    const int max = LLMGW_MAX_JSON_DEPTH;
    char want[64];
    snprintf(want, sizeof want, "deeper than %d", max);

    /* the object itself is level 1: 63 arrays inside make 64 */
    parse_ok(f, nested(f, "{\"a\":", max - 1, '[', ']', "}"));
    const char *t = nested(f, "{\"a\":", max, '[', ']', "}");
    parse_bad(t, strlen(t), want);
    t = nested(f, "{\"a\":", 10000, '[', ']', "}");
    parse_bad(t, strlen(t), want);

    /* objects nest the same way */
    char *o = text(f, 16 * 70 + 16);
    size_t n = 0;
    for (int i = 0; i < max; i++)
        n += (size_t)sprintf(o + n, "{\"k\":");
    n += (size_t)sprintf(o + n, "1");
    for (int i = 0; i < max; i++)
        o[n++] = '}';
    o[n] = '\0';
    parse_ok(f, o);
    char *o2 = text(f, n + 16);
    snprintf(o2, n + 16, "{\"x\":%s}", o);
    parse_bad(o2, strlen(o2), want);

    /* brackets inside strings do not count */
    char *s = text(f, 400);
    memset(s, 0, 400);
    strcpy(s, "{\"s\":\"");
    memset(s + 6, '[', 100);
    memset(s + 106, '{', 100);
    strcpy(s + 206, "\",\"t\":\"]]]]}}}}\"}");
    parse_ok(f, s);
    /* also in keys */
    s = nested(f, "{\"", 200, '[', '{', "\":1}");
    parse_ok(f, s);

    /* an escaped quote does not end a string: the brackets after it are still text */
    s = nested(f, "{\"s\":\"\\\"", 100, '[', '{', "\"}");
    parse_ok(f, s);
    /* an escaped backslash does end it before the quote: the nesting after it is real */
    s = nested(f, "{\"s\":\"\\\\\",\"x\":", max, '[', ']', "}");
    parse_bad(s, strlen(s), want);
    s = nested(f, "{\"s\":\"\\\\\",\"x\":", max - 1, '[', ']', "}");
    parse_ok(f, s);
    /* \u escapes and many escaped quotes in a row */
    s = nested(f, "{\"s\":\"\\u005b\\\"\\\"\\\\\\\"", 90, '[', '[', "\"}");
    parse_ok(f, s);

    /* closing brackets free depth again: two 64-deep siblings are fine */
    char *sib = text(f, 400);
    char *a = nested(f, "", max - 1, '[', ']', "");
    snprintf(sib, 400, "{\"a\":%s,\"b\":%s}", a, a);
    parse_ok(f, sib);
}

/* ---- llmgw_request_info ----------------------------------------------------------------- */

static void test_info_openai(void **state)
{
    fixture *f = *state;
    llmgw_reqinfo in;
    json_t *j = parse_ok(f, "{\"model\":\"gpt-4o\",\"stream\":true,"
                            "\"stream_options\":{\"include_usage\":true}}");
    llmgw_request_info(LLMGW_PT_OPENAI, j, "/chat/completions", NULL, &in);
    assert_string_equal(in.model, "gpt-4o");
    assert_int_equal(in.stream, 1);
    assert_int_equal(in.include_usage, 1);
    assert_int_equal(in.has_stream_options, 1);

    j = parse_ok(f, "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{}}");
    llmgw_request_info(LLMGW_PT_OPENAI, j, "/chat/completions", NULL, &in);
    assert_string_equal(in.model, "gpt-4o-mini");
    assert_int_equal(in.stream, 1);
    assert_int_equal(in.include_usage, 0);
    assert_int_equal(in.has_stream_options, 1);

    j = parse_ok(f, "{\"model\":\"o3\",\"stream_options\":{\"include_usage\":false}}");
    llmgw_request_info(LLMGW_PT_OPENAI_COMPAT, j, "/v1/chat/completions", "", &in);
    assert_string_equal(in.model, "o3");
    assert_int_equal(in.stream, 0);
    assert_int_equal(in.include_usage, 0);
    assert_int_equal(in.has_stream_options, 1);

    j = parse_ok(f, "{\"model\":\"gpt-4o\"}");
    memset(&in, 0x5a, sizeof in);
    llmgw_request_info(LLMGW_PT_OPENAI, j, "/chat/completions", NULL, &in);
    assert_string_equal(in.model, "gpt-4o");
    assert_int_equal(in.stream, 0);
    assert_int_equal(in.include_usage, 0);
    assert_int_equal(in.has_stream_options, 0);

    /* only JSON true streams */
    j = parse_ok(f, "{\"model\":\"m\",\"stream\":\"true\"}");
    llmgw_request_info(LLMGW_PT_OPENAI, j, "/chat/completions", NULL, &in);
    assert_int_equal(in.stream, 0);
    j = parse_ok(f, "{\"model\":\"m\",\"stream\":1}");
    llmgw_request_info(LLMGW_PT_OPENAI, j, "/chat/completions", NULL, &in);
    assert_int_equal(in.stream, 0);

    /* a non-string model is unknown */
    j = parse_ok(f, "{\"model\":42,\"stream\":true}");
    llmgw_request_info(LLMGW_PT_OPENAI, j, "/chat/completions", NULL, &in);
    assert_string_equal(in.model, "");
    assert_int_equal(in.stream, 1);

    /* no body at all */
    memset(&in, 0x5a, sizeof in);
    llmgw_request_info(LLMGW_PT_OPENAI, NULL, "/models", NULL, &in);
    assert_string_equal(in.model, "");
    assert_int_equal(in.stream, 0);
    assert_int_equal(in.include_usage, 0);
    assert_int_equal(in.has_stream_options, 0);

    /* a very long model name is cut to LLMGW_MODEL_MAX - 1 */
    char *body = text(f, 1200);
    strcpy(body, "{\"model\":\"");
    memset(body + 10, 'm', 1000);
    strcpy(body + 1010, "\"}");
    j = parse_ok(f, body);
    llmgw_request_info(LLMGW_PT_OPENAI, j, "/chat/completions", NULL, &in);
    assert_int_equal(strlen(in.model), LLMGW_MODEL_MAX - 1);
    assert_int_equal(in.model[0], 'm');

    /* anthropic: model and stream from the body */
    j = parse_ok(f, "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":10,\"stream\":true}");
    llmgw_request_info(LLMGW_PT_ANTHROPIC, j, "/v1/messages", NULL, &in);
    assert_string_equal(in.model, "claude-sonnet-4-5");
    assert_int_equal(in.stream, 1);
}

static void test_info_gemini(void **state)
{
    fixture *f = *state;
    llmgw_reqinfo in;
    json_t *j = parse_ok(f, "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}");
    llmgw_request_info(LLMGW_PT_GEMINI, j, "/v1beta/models/gemini-pro:streamGenerateContent",
                       "alt=sse", &in);
    assert_string_equal(in.model, "gemini-pro");
    assert_int_equal(in.stream, 1);

    llmgw_request_info(LLMGW_PT_GEMINI, j, "/v1beta/models/gemini-1.5-flash:generateContent",
                       NULL, &in);
    assert_string_equal(in.model, "gemini-1.5-flash");
    assert_int_equal(in.stream, 0);

    /* the body's "model" or "stream" do not override the path */
    j = parse_ok(f, "{\"model\":\"other\",\"stream\":true}");
    llmgw_request_info(LLMGW_PT_GEMINI, j, "/v1beta/models/gemini-2.0-flash:generateContent",
                       NULL, &in);
    assert_string_equal(in.model, "gemini-2.0-flash");
    assert_int_equal(in.stream, 0);

    llmgw_request_info(LLMGW_PT_GEMINI, NULL, "/v1beta/models/text-embedding-004:embedContent",
                       NULL, &in);
    assert_string_equal(in.model, "text-embedding-004");
    assert_int_equal(in.stream, 0);

    /* listing models: no model */
    llmgw_request_info(LLMGW_PT_GEMINI, NULL, "/v1beta/models", NULL, &in);
    assert_string_equal(in.model, "");
    assert_int_equal(in.stream, 0);
}

static void test_info_azure(void **state)
{
    fixture *f = *state;
    llmgw_reqinfo in;
    json_t *j = parse_ok(f, "{\"messages\":[],\"stream\":true}");
    llmgw_request_info(LLMGW_PT_AZURE, j, "/openai/deployments/my-dep/chat/completions",
                       "api-version=2024-10-21", &in);
    assert_string_equal(in.model, "my-dep");
    assert_int_equal(in.stream, 1);
    assert_int_equal(in.include_usage, 0);

    /* the deployment wins over a model in the body */
    j = parse_ok(f, "{\"model\":\"gpt-4o\",\"stream\":true,"
                    "\"stream_options\":{\"include_usage\":true}}");
    llmgw_request_info(LLMGW_PT_AZURE, j, "/openai/deployments/prod-4o/chat/completions", NULL,
                       &in);
    assert_string_equal(in.model, "prod-4o");
    assert_int_equal(in.include_usage, 1);

    /* no deployment in the path: the body's model */
    llmgw_request_info(LLMGW_PT_AZURE, j, "/openai/v1/chat/completions", NULL, &in);
    assert_string_equal(in.model, "gpt-4o");

    /* an openai route does not read deployments from its path */
    j = parse_ok(f, "{\"model\":\"gpt-4o\"}");
    llmgw_request_info(LLMGW_PT_OPENAI, j, "/openai/deployments/zzz/chat/completions", NULL,
                       &in);
    assert_string_equal(in.model, "gpt-4o");
}

/* ---- llmgw_request_add_include_usage ---------------------------------------------------- */

/* The text path (llmgw_request_info_text, on the scanner's spans) must say exactly what
 * the tree path says, or step aside (-1) and leave it to the tree. */
static void expect_same_info(llmgw_ptype t, const char *path, const char *body,
                             int want_text)
{
    static const char *const names[] = LLMGW_REQUEST_MEMBERS;
    llmgw_json_span sp[LLMGW_RM_N];
    llmgw_reqinfo by_text, by_tree;
    size_t len = strlen(body);
    assert_int_equal(llmgw_json_scan_flags(body, len, 128, LLMGW_JSON_UNIQUE_KEYS, names,
                                           LLMGW_RM_N, sp), LLMGW_JSON_VALID);
    memset(&by_text, 0x5a, sizeof by_text);
    int rc = llmgw_request_info_text(t, body, sp, path, &by_text);
    assert_int_equal(rc, want_text ? 0 : -1);
    char err[128];
    json_t *root = llmgw_request_parse(body, len, err, sizeof err);
    assert_non_null(root);
    llmgw_request_info(t, root, path, NULL, &by_tree);
    json_decref(root);
    if (rc == 0)
        assert_memory_equal(&by_text, &by_tree, sizeof by_tree);
}

static void test_info_from_text(void **state)
{
    fixture *f = *state;
    static const char *const plain[] = {
        "{\"model\":\"gpt-4o\",\"stream\":true}",
        "{\"model\":\"gpt-4o\",\"stream\":false}",
        "{ \"stream\" : true , \"model\" : \"gpt-4o-mini\" }",
        "{\"model\":\"m\",\"stream\":\"true\"}",
        "{\"model\":\"m\",\"stream\":1}",
        "{\"model\":\"m\",\"stream\":null}",
        "{\"model\":42,\"stream\":true}",
        "{\"model\":null}",
        "{\"model\":{\"name\":\"x\"},\"stream\":[true]}",
        "{\"model\":\"\"}",
        "{\"model\":\"caf\xc3\xa9-\xe6\xa8\xa1\xe5\x9e\x8b\"}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\\"model\\\": \\\"x\\\"\"}]}",
        "{\"inner\":{\"model\":\"nested\",\"stream\":true}}",
        "{}",
    };
    static const llmgw_ptype types[] = {LLMGW_PT_OPENAI, LLMGW_PT_ANTHROPIC, LLMGW_PT_AZURE,
                                        LLMGW_PT_OPENAI_COMPAT, LLMGW_PT_GEMINI};
    static const char *const paths[] = {"/chat/completions", "/v1/messages",
                                        "/openai/deployments/dep-1/chat/completions",
                                        "/v1/chat/completions",
                                        "/v1beta/models/gemini-2.0-flash:streamGenerateContent"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        for (size_t k = 0; k < sizeof types / sizeof *types; k++)
            expect_same_info(types[k], paths[k], plain[i], 1);

    /* a model name longer than the buffer is cut the same way */
    char *body = text(f, 1200);
    strcpy(body, "{\"model\":\"");
    memset(body + 10, 'm', 1000);
    strcpy(body + 1010, "\"}");
    expect_same_info(LLMGW_PT_OPENAI, "/chat/completions", body, 1);

    /* escapes in the model, or a stream_options to look into: the tree decides */
    expect_same_info(LLMGW_PT_OPENAI, "/chat/completions",
                     "{\"model\":\"gpt\\u002d4o\",\"stream\":true}", 0);
    expect_same_info(LLMGW_PT_OPENAI, "/chat/completions",
                     "{\"model\":\"a\\\"b\"}", 0);
    expect_same_info(LLMGW_PT_OPENAI, "/chat/completions",
                     "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
                     0);
    expect_same_info(LLMGW_PT_OPENAI, "/chat/completions",
                     "{\"model\":\"m\",\"stream_options\":null}", 0);
}

static const char ins[] = "\"stream_options\":{\"include_usage\":true},";

static void expect_splice(fixture *f, const char *body)
{
    json_t *root = parse_ok(f, body);
    size_t len = strlen(body), out_len = 0;
    char *out = llmgw_request_add_include_usage(body, len, root, &f->alloc, &out_len);
    assert_non_null(out);
    /* exactly: everything up to and including the first '{', the insertion, the rest */
    size_t pre = (size_t)(strchr(body, '{') - body) + 1;
    size_t k = strlen(ins);
    assert_int_equal(out_len, len + k);
    assert_int_equal(out[out_len], '\0');
    assert_memory_equal(out, body, pre);
    assert_memory_equal(out + pre, ins, k);
    assert_memory_equal(out + pre + k, body + pre, len - pre);
    /* and the result is what the provider will read */
    char err[128];
    json_t *j = llmgw_request_parse(out, out_len, err, sizeof err);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(json_object_get(j, "stream_options"),
                                             "include_usage")));
    assert_int_equal(json_object_size(j), json_object_size(root) + 1);
    json_decref(j);
}

static void test_include_usage_splice(void **state)
{
    fixture *f = *state;
    expect_splice(f, "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"{not a brace}\"}]}");
    expect_splice(f, "{\"stream\":true}");
    expect_splice(f, " \r\n\t{ \"stream\" : true ,\"model\":\"x\" }\n");
    expect_splice(f, "{\n  \"model\": \"gpt-4o\",\n  \"temperature\": 0.30000000000000004,\n"
                     "  \"stream\": true\n}");

    /* the exact bytes for the simplest case */
    json_t *root = parse_ok(f, "{\"stream\":true}");
    size_t n = 0;
    char *out = llmgw_request_add_include_usage("{\"stream\":true}", 15, root, &f->alloc, &n);
    assert_non_null(out);
    assert_string_equal(out, "{\"stream_options\":{\"include_usage\":true},\"stream\":true}");
    assert_int_equal(n, strlen(out));
    /* leading whitespace kept */
    const char *ws = "  {\"stream\":true}";
    root = parse_ok(f, ws);
    out = llmgw_request_add_include_usage(ws, strlen(ws), root, &f->alloc, &n);
    assert_string_equal(out,
                        "  {\"stream_options\":{\"include_usage\":true},\"stream\":true}");

    /* allocation failure: NULL, nothing else happens */
    f->ar.fail = 1;
    assert_null(llmgw_request_add_include_usage(ws, strlen(ws), root, &f->alloc, &n));
    f->ar.fail = 0;
}

static void test_include_usage_reserialise(void **state)
{
    fixture *f = *state;
    const char *body = "{\"model\":\"gpt-4o\",\"stream\":true,"
                       "\"stream_options\":{\"foo\":1,\"include_usage\":false},"
                       "\"temperature\":0.7,\"n\":2,\"seed\":9007199254740993,"
                       "\"x\":\"caf\xc3\xa9 \\\"q\\\" \\n\",\"tools\":[{\"type\":\"function\"}],"
                       "\"stop\":null}";
    json_t *root = parse_ok(f, body);
    size_t n = 0;
    char *out = llmgw_request_add_include_usage(body, strlen(body), root, &f->alloc, &n);
    assert_non_null(out);
    assert_int_equal(n, strlen(out));
    json_error_t je;
    json_t *j = json_loadb(out, n, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        fail_msg("output not JSON: %s: %s", je.text, out);
    const json_t *so = json_object_get(j, "stream_options");
    assert_true(json_is_object(so));
    assert_int_equal(json_object_size(so), 2);
    assert_true(json_is_true(json_object_get(so, "include_usage")));
    assert_int_equal(json_integer_value(json_object_get(so, "foo")), 1);
    assert_int_equal(json_object_size(j), 9);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "gpt-4o");
    assert_true(json_is_true(json_object_get(j, "stream")));
    assert_true(json_real_value(json_object_get(j, "temperature")) == 0.7);
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 2);
    assert_true(json_integer_value(json_object_get(j, "seed")) == 9007199254740993LL);
    assert_string_equal(json_string_value(json_object_get(j, "x")), "caf\xc3\xa9 \"q\" \n");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "tools"), 0), "type")),
                        "function");
    assert_true(json_is_null(json_object_get(j, "stop")));
    /* key order is kept */
    const char *key;
    json_t *v;
    const char *order[] = {"model", "stream", "stream_options", "temperature", "n", "seed",
                           "x", "tools", "stop"};
    size_t i = 0;
    json_object_foreach(j, key, v) {
        assert_string_equal(key, order[i]);
        i++;
    }
    json_decref(j);

    /* stream_options present, include_usage absent */
    const char *b2 = "{\"stream\":true,\"stream_options\":{},\"model\":\"m\"}";
    root = parse_ok(f, b2);
    out = llmgw_request_add_include_usage(b2, strlen(b2), root, &f->alloc, &n);
    assert_non_null(out);
    j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(json_object_get(j, "stream_options"),
                                             "include_usage")));
    assert_string_equal(json_string_value(json_object_get(j, "model")), "m");
    json_decref(j);
}

static void test_include_usage_noop(void **state)
{
    fixture *f = *state;
    static const char *const bodies[] = {
        /* already asked */
        "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
        "{\"model\":\"m\",\"stream_options\":{\"include_usage\":true},\"stream\":true}",
        /* not streaming */
        "{\"model\":\"m\"}",
        "{\"model\":\"m\",\"stream\":false}",
        "{\"model\":\"m\",\"stream\":\"true\"}",
        "{\"model\":\"m\",\"stream\":null}",
        "{\"stream\":false,\"stream_options\":{}}",
        /* stream_options that is not an object is left for the provider to refuse */
        "{\"stream\":true,\"stream_options\":[1]}",
        "{\"stream\":true,\"stream_options\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_t *root = parse_ok(f, bodies[i]);
        json_t *before = json_deep_copy(root);
        size_t n = 12345;
        char *out = llmgw_request_add_include_usage(bodies[i], strlen(bodies[i]), root,
                                                    &f->alloc, &n);
        if (out)
            fail_msg("%s: rewritten to %s", bodies[i], out);
        assert_int_equal(n, 12345);
        assert_true(json_equal(before, root));   /* the tree is untouched too */
        json_decref(before);
    }
    assert_int_equal(f->ar.n, 0);
}

/* ---- llmgw_request_endpoint ------------------------------------------------------------ */

static void expect_endpoint(llmgw_ptype t, const char *path, const char *want)
{
    char buf[128];
    memset(buf, 'Z', sizeof buf);
    llmgw_request_endpoint(t, path, buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("%s %s: '%s', want '%s'", llmgw_ptype_name(t), path, buf, want);
}

static void test_endpoint(void **state)
{
    expect_endpoint(LLMGW_PT_OPENAI, "/chat/completions", "chat/completions");
    expect_endpoint(LLMGW_PT_OPENAI, "/v1/chat/completions", "chat/completions");
    expect_endpoint(LLMGW_PT_OPENAI, "/responses", "responses");
    expect_endpoint(LLMGW_PT_OPENAI, "/v1/responses", "responses");
    expect_endpoint(LLMGW_PT_OPENAI, "/embeddings", "embeddings");
    expect_endpoint(LLMGW_PT_OPENAI, "/v1/models", "models");
    expect_endpoint(LLMGW_PT_OPENAI, "/models", "models");
    expect_endpoint(LLMGW_PT_ANTHROPIC, "/v1/messages", "messages");
    expect_endpoint(LLMGW_PT_ANTHROPIC, "/v1/messages/count_tokens", "messages/count_tokens");
    expect_endpoint(LLMGW_PT_ANTHROPIC, "/v1/models", "models");
    expect_endpoint(LLMGW_PT_GEMINI, "/v1beta/models/gemini-pro:generateContent",
                    "generateContent");
    expect_endpoint(LLMGW_PT_GEMINI, "/v1beta/models/gemini-pro:streamGenerateContent",
                    "streamGenerateContent");
    expect_endpoint(LLMGW_PT_GEMINI, "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse",
                    "streamGenerateContent");
    expect_endpoint(LLMGW_PT_GEMINI, "/v1beta/models/text-embedding-004:embedContent",
                    "embedContent");
    expect_endpoint(LLMGW_PT_GEMINI, "/v1beta/models", "models");
    expect_endpoint(LLMGW_PT_AZURE, "/openai/deployments/d/chat/completions",
                    "chat/completions");
    expect_endpoint(LLMGW_PT_AZURE,
                    "/openai/deployments/my-dep/chat/completions?api-version=2024-10-21",
                    "chat/completions");
    expect_endpoint(LLMGW_PT_AZURE, "/openai/deployments/my-dep/embeddings", "embeddings");
    expect_endpoint(LLMGW_PT_OPENAI_COMPAT, "/v1/chat/completions", "chat/completions");
    expect_endpoint(LLMGW_PT_OPENAI_COMPAT, "/api/v1/chat/completions", "chat/completions");
    expect_endpoint(LLMGW_PT_OPENAI_COMPAT, "/v1/embeddings?x=1", "embeddings");
    expect_endpoint(LLMGW_PT_HTTP, "/search", "search");
    expect_endpoint(LLMGW_PT_HTTP, "/v2/search?q=a", "search");
    /* a path merely starting with 'v' keeps its first segment */
    expect_endpoint(LLMGW_PT_OPENAI, "/vector_stores", "vector_stores");
    expect_endpoint(LLMGW_PT_OPENAI, "/", "");
    expect_endpoint(LLMGW_PT_OPENAI, "/v1", "");

    /* truncated to cap, NUL-terminated */
    char small[6];
    memset(small, 'Z', sizeof small);
    llmgw_request_endpoint(LLMGW_PT_OPENAI, "/v1/embeddings", small, sizeof small);
    assert_string_equal(small, "embed");
    char one[1] = {'Z'};
    llmgw_request_endpoint(LLMGW_PT_OPENAI, "/v1/embeddings", one, 1);
    assert_int_equal(one[0], '\0');
}

/* OpenAI accepts "stream_options": null; usage must still be asked for. */
static void test_include_usage_null_options(void **state)
{
    fixture *f = *state;
    const char *b = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":null}";
    json_t *root = parse_ok(f, b);
    size_t n;
    char *out = llmgw_request_add_include_usage(b, strlen(b), root, &f->alloc, &n);
    assert_non_null(out);
    json_error_t e;
    json_t *j = json_loadb(out, n, 0, &e);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(json_object_get(j, "stream_options"), "include_usage")));
    json_decref(j);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_parse_valid),
        T(test_parse_malformed),
        T(test_parse_nul_after_literal),
        T(test_parse_not_object),
        T(test_parse_duplicates),
        T(test_parse_depth),
        T(test_info_openai),
        T(test_info_gemini),
        T(test_info_azure),
        T(test_info_from_text),
        T(test_include_usage_splice),
        T(test_include_usage_reserialise),
        T(test_include_usage_noop),
        T(test_include_usage_null_options),
        T(test_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
