/* usage_reference.h — the usage extraction as it was before it read views
 * (llmgw_usage.c up to the view rewrite: jansson trees, json_object_get), kept only as
 * the reference the tests compare the real one against: tests/unit/test_json_view.c
 * and the fuzz target usage_json. Test code: never linked into the module. The
 * includer defines _GNU_SOURCE (memmem) before any system header. */
#ifndef USAGE_REFERENCE_H
#define USAGE_REFERENCE_H

#include <string.h>

#include <jansson.h>

#include "llmgw_json.h"
#include "llmgw_usage.h"

#define REF_MAX_DEPTH 128

/* ---- JSON helpers ------------------------------------------------------------ */

static inline json_t *ref_load(const char *s, size_t n)
{
    json_error_t err;
    if (!s || !llmgw_json_depth_ok(s, n, REF_MAX_DEPTH))
        return NULL;
    return json_loadb(s, n, 0, &err);
}

static inline int64_t ref_clamp_tokens(int64_t v)
{
    return v < 0 ? 0 : v > LLMGW_TOKENS_MAX ? LLMGW_TOKENS_MAX : v;
}

/* Reads a token count; 1 if the key holds a number. Reals are accepted (some
 * openai-compatible servers emit 12.0) and truncated. */
static inline int ref_get_tokens(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        *out = ref_clamp_tokens((int64_t)json_integer_value(v));
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        *out = d <= 0 ? 0 : d >= (double)LLMGW_TOKENS_MAX ? LLMGW_TOKENS_MAX : (int64_t)d;
        return 1;
    }
    return 0;
}

/* Token count or 0 when missing (SPEC: unreported fields are 0, never null). */
static inline int64_t ref_tok(const json_t *obj, const char *key)
{
    int64_t v = 0;
    ref_get_tokens(obj, key, &v);
    return v;
}

/* obj.sub.key, 0 when any part is missing. */
static inline int64_t ref_tok2(const json_t *obj, const char *sub, const char *key)
{
    return ref_tok(json_object_get(obj, sub), key);
}

static inline int64_t ref_add_tokens(int64_t a, int64_t b)
{
    return ref_clamp_tokens(a + b);  /* both <= 1e15: cannot overflow */
}

static inline void ref_copy_str(char *dst, size_t cap, const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s)
        return;
    size_t n = strlen(s);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Records the model and response id an object names, where it names them. */
static inline void ref_take_ids(const json_t *obj, const char *model_key, const char *id_key,
                     llmgw_usage *u)
{
    ref_copy_str(u->model, sizeof(u->model), json_object_get(obj, model_key));
    ref_copy_str(u->response_id, sizeof(u->response_id), json_object_get(obj, id_key));
}

/* ---- OpenAI wire (openai, azure, openai-compatible) -------------------------- */

/* Responses API names its fields input/output, chat and embeddings prompt/completion. */
static inline void ref_openai_usage(const json_t *us, llmgw_usage *u)
{
    if (json_object_get(us, "input_tokens") || json_object_get(us, "output_tokens")) {
        u->prompt = ref_tok(us, "input_tokens");
        u->completion = ref_tok(us, "output_tokens");
        u->cached = ref_tok2(us, "input_tokens_details", "cached_tokens");
        u->reasoning = ref_tok2(us, "output_tokens_details", "reasoning_tokens");
    } else {
        int64_t total = 0;
        u->completion = ref_tok(us, "completion_tokens");
        if (!ref_get_tokens(us, "prompt_tokens", &u->prompt) &&
            ref_get_tokens(us, "total_tokens", &total))
            u->prompt = total > u->completion ? total - u->completion : 0;
        u->cached = ref_tok2(us, "prompt_tokens_details", "cached_tokens");
        u->reasoning = ref_tok2(us, "completion_tokens_details", "reasoning_tokens");
    }
    u->cache_write = 0;
    u->cache_write_1h = 0;
    u->raw_input = u->prompt;
    u->seen = 1;
    u->final = 1;
}

/* A body, a chat chunk, or a Responses stream event (usage under "response"). */
static inline void ref_openai_root(const json_t *root, llmgw_usage *u)
{
    const json_t *obj = root;
    const json_t *us = json_object_get(root, "usage");
    const json_t *resp = json_object_get(root, "response");
    if (!json_is_object(us) && json_is_object(resp)) {
        obj = resp;
        us = json_object_get(resp, "usage");
    }
    ref_take_ids(obj, "model", "id", u);
    if (json_is_object(us))
        ref_openai_usage(us, u);
}

/* ---- Anthropic ----------------------------------------------------------------- */

/* Sets *dst from obj.key; when absent, zeroes it only if all=1. message_start and
 * whole bodies define every field; message_delta replaces only what it carries. */
static inline void ref_upd(const json_t *obj, const char *key, int64_t *dst, int all)
{
    if (!ref_get_tokens(obj, key, dst) && all)
        *dst = 0;
}

static inline void ref_anthropic_usage(const json_t *us, llmgw_usage *u, int all)
{
    const json_t *cc = json_object_get(us, "cache_creation");
    const json_t *otd = json_object_get(us, "output_tokens_details");
    ref_upd(us, "input_tokens", &u->raw_input, all);
    ref_upd(us, "cache_read_input_tokens", &u->cached, all);
    ref_upd(us, "cache_creation_input_tokens", &u->cache_write, all);
    ref_upd(cc, "ephemeral_1h_input_tokens", &u->cache_write_1h, all);
    ref_upd(us, "output_tokens", &u->completion, all);   /* cumulative: replace */
    ref_upd(otd, "thinking_tokens", &u->reasoning, all);
    u->prompt = ref_add_tokens(ref_add_tokens(u->raw_input, u->cached), u->cache_write);
    u->seen = 1;
}

/* A whole message (non-streaming body, or message_start's "message"). */
static inline void ref_anthropic_message(const json_t *msg, llmgw_usage *u)
{
    const json_t *us = json_object_get(msg, "usage");
    ref_take_ids(msg, "model", "id", u);
    if (json_is_object(us))
        ref_anthropic_usage(us, u, 1);
}

static inline int ref_name_is(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return s && n == l && !memcmp(s, lit, l);
}

static inline void ref_anthropic_event(const char *type, size_t tlen, const json_t *root,
                            llmgw_usage *u)
{
    if (ref_name_is(type, tlen, "message_start")) {
        const json_t *msg = json_object_get(root, "message");
        if (json_is_object(msg))
            ref_anthropic_message(msg, u);
    } else if (ref_name_is(type, tlen, "message_delta")) {
        const json_t *us = json_object_get(root, "usage");
        if (json_is_object(us)) {
            ref_anthropic_usage(us, u, 0);
            u->final = 1;
        }
    }
}

/* ---- Gemini -------------------------------------------------------------------- */

static inline void ref_gemini_usage(const json_t *um, llmgw_usage *u)
{
    int64_t thoughts = ref_tok(um, "thoughtsTokenCount");
    u->prompt = ref_add_tokens(ref_tok(um, "promptTokenCount"),
                               ref_tok(um, "toolUsePromptTokenCount"));
    u->completion = ref_add_tokens(ref_tok(um, "candidatesTokenCount"), thoughts);
    u->reasoning = thoughts;
    u->cached = ref_tok(um, "cachedContentTokenCount");
    u->cache_write = 0;
    u->cache_write_1h = 0;
    u->raw_input = u->prompt;
    u->seen = 1;
}

/* A candidate with a finishReason marks the closing chunk of a stream. */
static inline int ref_gemini_finished(const json_t *root)
{
    const json_t *cands = json_object_get(root, "candidates");
    size_t i;
    const json_t *c;
    json_array_foreach(cands, i, c) {
        if (json_is_string(json_object_get(c, "finishReason")))
            return 1;
    }
    return 0;
}

/* One generateContent response or stream chunk: the latest usageMetadata replaces. */
static inline void ref_gemini_chunk(const json_t *root, llmgw_usage *u)
{
    const json_t *um = json_object_get(root, "usageMetadata");
    ref_take_ids(root, "modelVersion", "responseId", u);
    if (!json_is_object(um))
        return;
    ref_gemini_usage(um, u);
    if (ref_gemini_finished(root))
        u->final = 1;
}

/* ---- entry points --------------------------------------------------------------- */

static inline int ref_openai_wire(llmgw_ptype t)
{
    return t == LLMGW_PT_OPENAI || t == LLMGW_PT_AZURE || t == LLMGW_PT_OPENAI_COMPAT;
}

/* llmgw_usage_from_json as it was: a full jansson parse (the scanner-and-builder shortcut
 * it took was proven equal to it by test_json_scan). */
static inline int ref_usage_from_json(llmgw_ptype t, const char *body, size_t len,
                                      llmgw_usage *u)
{
    if (t == LLMGW_PT_HTTP)
        return 0;
    json_t *root = ref_load(body, len);
    if (!root)
        return -1;
    if (ref_openai_wire(t) && json_is_object(root)) {
        ref_openai_root(root, u);
    } else if (t == LLMGW_PT_ANTHROPIC && json_is_object(root)) {
        ref_anthropic_message(root, u);
        if (u->seen)
            u->final = 1;
    } else if (t == LLMGW_PT_GEMINI) {
        size_t i;
        json_t *chunk;
        if (json_is_array(root)) {
            json_array_foreach(root, i, chunk)
                ref_gemini_chunk(chunk, u);
        } else {
            ref_gemini_chunk(root, u);
        }
    }
    json_decref(root);
    return 0;
}

/* Does data hold key (a quoted JSON name) followed by ':' and an object? This is
 * the hot-path filter: OpenAI chunks carry "usage":null in every chunk when
 * include_usage is on, and only the last one carries an object. */
static inline int ref_has_object_member(const char *data, size_t dlen, const char *key)
{
    size_t klen = strlen(key);
    const char *p = data, *end = data + dlen;
    while (p < end && (p = memmem(p, (size_t)(end - p), key, klen)) != NULL) {
        const char *q = p + klen;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
            q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
                q++;
            if (q < end && *q == '{')
                return 1;
        }
        p += klen;
    }
    return 0;
}

static inline void ref_openai_event(const char *data, size_t dlen, llmgw_usage *u)
{
    if (ref_name_is(data, dlen, "[DONE]") || !ref_has_object_member(data, dlen, "\"usage\""))
        return;
    json_t *root = ref_load(data, dlen);
    if (json_is_object(root))
        ref_openai_root(root, u);
    json_decref(root);
}

/* Only message_start and message_delta carry usage; the default event name
 * ("message") is allowed through in case a relay dropped the event: lines. */
static inline void ref_anthropic_sse(const char *event, size_t elen, const char *data,
                                     size_t dlen, llmgw_usage *u)
{
    int named = ref_name_is(event, elen, "message_start") ||
                ref_name_is(event, elen, "message_delta");
    int unnamed = elen == 0 || ref_name_is(event, elen, "message");
    if (!named && !(unnamed && ref_has_object_member(data, dlen, "\"usage\"")))
        return;
    json_t *root = ref_load(data, dlen);
    if (json_is_object(root)) {
        const char *type = json_string_value(json_object_get(root, "type"));
        if (type)
            ref_anthropic_event(type, strlen(type), root, u);
        else
            ref_anthropic_event(event, elen, root, u);
    }
    json_decref(root);
}

static inline void ref_gemini_event(const char *data, size_t dlen, llmgw_usage *u)
{
    if (!ref_has_object_member(data, dlen, "\"usageMetadata\""))
        return;
    json_t *root = ref_load(data, dlen);
    if (json_is_object(root))
        ref_gemini_chunk(root, u);
    json_decref(root);
}

static inline void ref_usage_from_event(llmgw_ptype t, const char *event, size_t elen,
                                        const char *data, size_t dlen, llmgw_usage *u)
{
    if (!data)
        return;
    if (ref_openai_wire(t))
        ref_openai_event(data, dlen, u);
    else if (t == LLMGW_PT_ANTHROPIC)
        ref_anthropic_sse(event, elen, data, dlen, u);
    else if (t == LLMGW_PT_GEMINI)
        ref_gemini_event(data, dlen, u);
}

static inline int ref_usage_is_usage_only_chunk(const char *data, size_t dlen)
{
    if (!data || !ref_has_object_member(data, dlen, "\"usage\""))
        return 0;
    json_t *root = ref_load(data, dlen);
    const json_t *choices = json_object_get(root, "choices");
    int yes = json_is_array(choices) && json_array_size(choices) == 0 &&
              json_is_object(json_object_get(root, "usage"));
    json_decref(root);
    return yes;
}

#endif
