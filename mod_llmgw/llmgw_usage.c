/* llmgw_usage.c — token usage extraction per provider (SPEC §7 semantics): OpenAI
 * chat/Responses/embeddings (also azure, openai-compatible), Anthropic messages,
 * Gemini; whole bodies and single stream events, with a cheap substring pre-filter
 * so that most streamed events are never parsed. Part of libllmgw. */
#define _GNU_SOURCE  /* memmem */
#include "llmgw_usage.h"
#include "llmgw_json.h"
#include "llmgw_json_scan.h"

#include <jansson.h>
#include <string.h>

/* jansson has no runtime depth flag (it stops at its compile-time 2048 levels, deep
 * recursion for a small httpd thread stack), so bodies are pre-scanned and anything
 * nested deeper than this is treated as not JSON. Real provider bodies stay < 20. */
#define USAGE_MAX_DEPTH 128

/* Strict parse: object or array root, no NUL in strings, nothing after the value. */
#define USAGE_JSON_FLAGS 0

void llmgw_usage_init(llmgw_usage *u)
{
    memset(u, 0, sizeof(*u));
}

int64_t llmgw_usage_total(const llmgw_usage *u)
{
    return u->prompt + u->completion;
}

/* ---- JSON helpers ------------------------------------------------------------ */

static json_t *load(const char *s, size_t n)
{
    json_error_t err;
    if (!s || !llmgw_json_depth_ok(s, n, USAGE_MAX_DEPTH))
        return NULL;
    return json_loadb(s, n, USAGE_JSON_FLAGS, &err);
}

static int64_t clamp_tokens(int64_t v)
{
    return v < 0 ? 0 : v > LLMGW_TOKENS_MAX ? LLMGW_TOKENS_MAX : v;
}

/* Reads a token count; 1 if the key holds a number. Reals are accepted (some
 * openai-compatible servers emit 12.0) and truncated. */
static int get_tokens(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        *out = clamp_tokens((int64_t)json_integer_value(v));
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
static int64_t tok(const json_t *obj, const char *key)
{
    int64_t v = 0;
    get_tokens(obj, key, &v);
    return v;
}

/* obj.sub.key, 0 when any part is missing. */
static int64_t tok2(const json_t *obj, const char *sub, const char *key)
{
    return tok(json_object_get(obj, sub), key);
}

static int64_t add_tokens(int64_t a, int64_t b)
{
    return clamp_tokens(a + b);  /* both <= 1e15: cannot overflow */
}

static void copy_str(char *dst, size_t cap, const json_t *v)
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
static void take_ids(const json_t *obj, const char *model_key, const char *id_key,
                     llmgw_usage *u)
{
    copy_str(u->model, sizeof(u->model), json_object_get(obj, model_key));
    copy_str(u->response_id, sizeof(u->response_id), json_object_get(obj, id_key));
}

/* ---- OpenAI wire (openai, azure, openai-compatible) -------------------------- */

/* Responses API names its fields input/output, chat and embeddings prompt/completion. */
static void openai_usage(const json_t *us, llmgw_usage *u)
{
    if (json_object_get(us, "input_tokens") || json_object_get(us, "output_tokens")) {
        u->prompt = tok(us, "input_tokens");
        u->completion = tok(us, "output_tokens");
        u->cached = tok2(us, "input_tokens_details", "cached_tokens");
        u->reasoning = tok2(us, "output_tokens_details", "reasoning_tokens");
    } else {
        int64_t total = 0;
        u->completion = tok(us, "completion_tokens");
        if (!get_tokens(us, "prompt_tokens", &u->prompt) &&
            get_tokens(us, "total_tokens", &total))
            u->prompt = total > u->completion ? total - u->completion : 0;
        u->cached = tok2(us, "prompt_tokens_details", "cached_tokens");
        u->reasoning = tok2(us, "completion_tokens_details", "reasoning_tokens");
    }
    u->cache_write = 0;
    u->cache_write_1h = 0;
    u->raw_input = u->prompt;
    u->seen = 1;
    u->final = 1;
}

/* A body, a chat chunk, or a Responses stream event (usage under "response"). */
static void openai_root(const json_t *root, llmgw_usage *u)
{
    const json_t *obj = root;
    const json_t *us = json_object_get(root, "usage");
    const json_t *resp = json_object_get(root, "response");
    if (!json_is_object(us) && json_is_object(resp)) {
        obj = resp;
        us = json_object_get(resp, "usage");
    }
    take_ids(obj, "model", "id", u);
    if (json_is_object(us))
        openai_usage(us, u);
}

/* ---- Anthropic ----------------------------------------------------------------- */

/* Sets *dst from obj.key; when absent, zeroes it only if all=1. message_start and
 * whole bodies define every field; message_delta replaces only what it carries. */
static void upd(const json_t *obj, const char *key, int64_t *dst, int all)
{
    if (!get_tokens(obj, key, dst) && all)
        *dst = 0;
}

static void anthropic_usage(const json_t *us, llmgw_usage *u, int all)
{
    const json_t *cc = json_object_get(us, "cache_creation");
    const json_t *otd = json_object_get(us, "output_tokens_details");
    upd(us, "input_tokens", &u->raw_input, all);
    upd(us, "cache_read_input_tokens", &u->cached, all);
    upd(us, "cache_creation_input_tokens", &u->cache_write, all);
    upd(cc, "ephemeral_1h_input_tokens", &u->cache_write_1h, all);
    upd(us, "output_tokens", &u->completion, all);   /* cumulative: replace */
    upd(otd, "thinking_tokens", &u->reasoning, all);
    u->prompt = add_tokens(add_tokens(u->raw_input, u->cached), u->cache_write);
    u->seen = 1;
}

/* A whole message (non-streaming body, or message_start's "message"). */
static void anthropic_message(const json_t *msg, llmgw_usage *u)
{
    const json_t *us = json_object_get(msg, "usage");
    take_ids(msg, "model", "id", u);
    if (json_is_object(us))
        anthropic_usage(us, u, 1);
}

static int name_is(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return s && n == l && !memcmp(s, lit, l);
}

static void anthropic_event(const char *type, size_t tlen, const json_t *root,
                            llmgw_usage *u)
{
    if (name_is(type, tlen, "message_start")) {
        const json_t *msg = json_object_get(root, "message");
        if (json_is_object(msg))
            anthropic_message(msg, u);
    } else if (name_is(type, tlen, "message_delta")) {
        const json_t *us = json_object_get(root, "usage");
        if (json_is_object(us)) {
            anthropic_usage(us, u, 0);
            u->final = 1;
        }
    }
}

/* ---- Gemini -------------------------------------------------------------------- */

static void gemini_usage(const json_t *um, llmgw_usage *u)
{
    int64_t thoughts = tok(um, "thoughtsTokenCount");
    u->prompt = add_tokens(tok(um, "promptTokenCount"), tok(um, "toolUsePromptTokenCount"));
    u->completion = add_tokens(tok(um, "candidatesTokenCount"), thoughts);
    u->reasoning = thoughts;
    u->cached = tok(um, "cachedContentTokenCount");
    u->cache_write = 0;
    u->cache_write_1h = 0;
    u->raw_input = u->prompt;
    u->seen = 1;
}

/* A candidate with a finishReason marks the closing chunk of a stream. */
static int gemini_finished(const json_t *root)
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
static void gemini_chunk(const json_t *root, llmgw_usage *u)
{
    const json_t *um = json_object_get(root, "usageMetadata");
    take_ids(root, "modelVersion", "responseId", u);
    if (!json_is_object(um))
        return;
    gemini_usage(um, u);
    if (gemini_finished(root))
        u->final = 1;
}

/* ---- public entry points ---------------------------------------------------------- */

static int openai_wire(llmgw_ptype t)
{
    return t == LLMGW_PT_OPENAI || t == LLMGW_PT_AZURE || t == LLMGW_PT_OPENAI_COMPAT;
}

/* The root members a whole body's accounting reads, per wire format. */
static const char *const OPENAI_MEMBERS[] = {"usage", "response", "model", "id"};
static const char *const ANTHROPIC_MEMBERS[] = {"usage", "model", "id"};
static const char *const GEMINI_MEMBERS[] = {"usageMetadata", "modelVersion", "responseId",
                                             "candidates"};
#define MAX_MEMBERS 4

/* A whole body, on the request path: a jansson tree of it costs about 10 µs per KB,
 * most of it for text accounting never reads. The scanner judges the body exactly as
 * load() would and finds the wanted root members; only those are built. Bodies it
 * leaves undecided, and Gemini's JSON array form, get the full parse. NULL: not JSON. */
static json_t *load_body(llmgw_ptype t, const char *s, size_t n)
{
    const char *const *names = t == LLMGW_PT_GEMINI ? GEMINI_MEMBERS
                             : t == LLMGW_PT_ANTHROPIC ? ANTHROPIC_MEMBERS : OPENAI_MEMBERS;
    size_t k = t == LLMGW_PT_ANTHROPIC ? 3 : 4;
    llmgw_json_span sp[MAX_MEMBERS];
    llmgw_json_verdict v = llmgw_json_scan(s, n, USAGE_MAX_DEPTH, names, k, sp);
    if (v == LLMGW_JSON_INVALID)
        return NULL;
    size_t i = 0;
    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
        i++;
    if (v == LLMGW_JSON_UNDECIDED || (s[i] == '[' && t == LLMGW_PT_GEMINI))
        return load(s, n);
    if (s[i] == '[')
        return json_array();    /* no accounting reads an array root: none needed */
    json_t *root = json_object();
    for (i = 0; root && i < k; i++) {
        if (!sp[i].len)
            continue;
        json_t *val = llmgw_json_build(s + sp[i].off, sp[i].len, 0);
        if (!val || json_object_set_new_nocheck(root, names[i], val)) {
            json_decref(root);
            return load(s, n);
        }
    }
    return root ? root : load(s, n);
}

int llmgw_usage_from_json(llmgw_ptype t, const char *body, size_t len, llmgw_usage *u)
{
    if (t == LLMGW_PT_HTTP)
        return 0;
    json_t *root = load_body(t, body, len);
    if (!root)
        return -1;
    if (openai_wire(t) && json_is_object(root)) {
        openai_root(root, u);
    } else if (t == LLMGW_PT_ANTHROPIC && json_is_object(root)) {
        anthropic_message(root, u);
        if (u->seen)
            u->final = 1;
    } else if (t == LLMGW_PT_GEMINI) {
        size_t i;
        json_t *chunk;
        if (json_is_array(root)) {   /* streamGenerateContent without alt=sse */
            json_array_foreach(root, i, chunk)
                gemini_chunk(chunk, u);
        } else {
            gemini_chunk(root, u);
        }
    }
    json_decref(root);
    return 0;
}

/* Does data hold key (a quoted JSON name) followed by ':' and an object? This is
 * the hot-path filter: OpenAI chunks carry "usage":null in every chunk when
 * include_usage is on, and only the last one carries an object. */
static int has_object_member(const char *data, size_t dlen, const char *key)
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

static void openai_event(const char *data, size_t dlen, llmgw_usage *u)
{
    if (name_is(data, dlen, "[DONE]") || !has_object_member(data, dlen, "\"usage\""))
        return;
    json_t *root = load(data, dlen);
    if (json_is_object(root))
        openai_root(root, u);
    json_decref(root);
}

/* Only message_start and message_delta carry usage; the default event name
 * ("message") is allowed through in case a relay dropped the event: lines. */
static void anthropic_sse(const char *event, size_t elen, const char *data, size_t dlen,
                          llmgw_usage *u)
{
    int named = name_is(event, elen, "message_start") || name_is(event, elen, "message_delta");
    int unnamed = elen == 0 || name_is(event, elen, "message");
    if (!named && !(unnamed && has_object_member(data, dlen, "\"usage\"")))
        return;
    json_t *root = load(data, dlen);
    if (json_is_object(root)) {
        const char *type = json_string_value(json_object_get(root, "type"));
        if (type)
            anthropic_event(type, strlen(type), root, u);
        else
            anthropic_event(event, elen, root, u);
    }
    json_decref(root);
}

static void gemini_event(const char *data, size_t dlen, llmgw_usage *u)
{
    if (!has_object_member(data, dlen, "\"usageMetadata\""))
        return;
    json_t *root = load(data, dlen);
    if (json_is_object(root))
        gemini_chunk(root, u);
    json_decref(root);
}

void llmgw_usage_from_event(llmgw_ptype t, const char *event, size_t elen,
                            const char *data, size_t dlen, llmgw_usage *u)
{
    if (!data)
        return;
    if (openai_wire(t))
        openai_event(data, dlen, u);
    else if (t == LLMGW_PT_ANTHROPIC)
        anthropic_sse(event, elen, data, dlen, u);
    else if (t == LLMGW_PT_GEMINI)
        gemini_event(data, dlen, u);
}

int llmgw_usage_is_usage_only_chunk(const char *data, size_t dlen)
{
    if (!data || !has_object_member(data, dlen, "\"usage\""))
        return 0;
    json_t *root = load(data, dlen);
    const json_t *choices = json_object_get(root, "choices");
    int yes = json_is_array(choices) && json_array_size(choices) == 0 &&
              json_is_object(json_object_get(root, "usage"));
    json_decref(root);
    return yes;
}
