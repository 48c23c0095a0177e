/* fuzz_request.c — request inspection as the body hook runs it: the depth-checked JSON
 * parse, model/stream/usage flags from body and path, the endpoint name, and the rewrite
 * that asks an OpenAI-wire stream for its usage chunk.
 *
 * Input: [provider type] path '\n' body...
 * Invariants: the model is NUL-terminated inside its buffer; the endpoint fits its
 * buffer; when the body is rewritten, the result is a JSON object that still holds every
 * member of the original unchanged except stream_options, which now has
 * include_usage true (the splice must never corrupt a client's request). */
#include "fuzz_common.h"

#include "llmgw_request.h"

static void *arena_fn(void *ctx, size_t n)
{
    return fuzz_arena_alloc(ctx, n);
}

static void check_rewrite(const char *body, size_t blen, const char *out, size_t olen)
{
    json_error_t je;
    json_t *orig = json_loadb(body, blen, 0, &je);
    json_t *now = json_loadb(out, olen, 0, &je);
    FUZZ_CHECK(orig && now, "rewritten body does not parse: %s", je.text);
    FUZZ_CHECK(json_is_object(now), "rewritten body is not an object");
    FUZZ_CHECK(strlen(out) == olen, "length %zu vs %zu", strlen(out), olen);
    const char *k;
    json_t *v;
    json_object_foreach(orig, k, v) {
        if (!strcmp(k, "stream_options"))
            continue;
        FUZZ_CHECK(json_equal(v, json_object_get(now, k)), "member '%s' changed", k);
    }
    FUZZ_CHECK(json_object_size(now) == json_object_size(orig) +
                   (json_object_get(orig, "stream_options") ? 0 : 1), "member count");
    json_t *so = json_object_get(now, "stream_options");
    FUZZ_CHECK(json_is_true(json_object_get(so, "include_usage")), "include_usage not set");
    json_t *oso = json_object_get(orig, "stream_options");
    if (json_is_object(oso)) {
        json_object_foreach(oso, k, v) {
            if (strcmp(k, "include_usage"))
                FUZZ_CHECK(json_equal(v, json_object_get(so, k)), "stream_options.%s changed", k);
        }
    }
    json_decref(orig);
    json_decref(now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    fuzz_arena arena = {0};
    llmgw_alloc a = {arena_fn, &arena};
    llmgw_ptype type = (llmgw_ptype)(fuzz_byte(&in) % LLMGW_PT_COUNT);
    char *path = fuzz_field(&in, &arena, '\n', NULL);
    char *body = fuzz_dup_exact(in.p, in.n);
    size_t blen = in.n;

    char err[256] = "";
    json_t *root = llmgw_request_parse(body, blen, err, sizeof err);
    if (!root)
        FUZZ_CHECK(err[0] && memchr(err, '\0', sizeof err), "no reason for a refusal");
    else
        FUZZ_CHECK(json_is_object(root), "parse accepted a non-object");

    llmgw_reqinfo info;
    llmgw_request_info(type, root, path, NULL, &info);
    FUZZ_CHECK(memchr(info.model, '\0', sizeof info.model) != NULL, "model not terminated");

    char ep[64];
    llmgw_request_endpoint(type, path, ep, sizeof ep);
    FUZZ_CHECK(memchr(ep, '\0', sizeof ep) != NULL, "endpoint not terminated");

    if (root) {
        size_t olen = 0;
        char *out = llmgw_request_add_include_usage(body, blen, root, &a, &olen);
        if (out)
            check_rewrite(body, blen, out, olen);
        json_decref(root);
    }
    free(body);
    fuzz_arena_free(&arena);
    return 0;
}
