/* llmgw_usage.c — token usage extraction per provider (SPEC §7 semantics): OpenAI
 * chat/Responses/embeddings (also azure, openai-compatible), Anthropic messages,
 * Gemini; whole bodies and single stream events, with a cheap substring pre-filter
 * so that most streamed events are never parsed. Texts are judged by llmgw_json_scan
 * and read through views (llmgw_json_view.h): no tree is built, nothing allocated,
 * except for the rare text only jansson can judge. Part of libllmgw. */
#define _GNU_SOURCE  /* memmem */
#include "llmgw_usage.h"
#include "llmgw_json_scan.h"
#include "llmgw_json_view.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* jansson has no runtime depth flag (it stops at its compile-time 2048 levels, deep
 * recursion for a small httpd thread stack); the scanner refuses anything nested
 * deeper than this as not JSON before jansson could ever see it. Real provider
 * bodies stay < 20. */
#define USAGE_MAX_DEPTH 128

typedef llmgw_json_view jv;
typedef llmgw_view_name vname;

#define NAME(lit) ((vname)LLMGW_VIEW_NAME(lit))

void llmgw_usage_init(llmgw_usage *u)
{
    memset(u, 0, sizeof(*u));
}

int64_t llmgw_usage_total(const llmgw_usage *u)
{
    return u->prompt + u->completion;
}

/* ---- judging a text ---------------------------------------------------------------- */

#define MAX_MEMBERS 4

/* A text judged to be JSON: its root, the root members a caller named, and the
 * normalised copy the views point into when jansson had to decide (else NULL). */
typedef struct {
    jv root;
    jv m[MAX_MEMBERS];
    char *copy;
} parsed;

/* What the scanner leaves undecided (integers of 19+ digits, reals that may overflow,
 * escaped root member names, a NUL after a literal) is judged by jansson, exactly as
 * before; its compact re-serialisation is valid JSON the views can read (NULL: jansson
 * refuses it, or no memory; free() the copy). */
static char *jansson_copy(const char *s, size_t n)
{
    json_error_t err;
    json_t *root = json_loadb(s, n, 0, &err);
    if (!root)
        return NULL;
    char *copy = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return copy;
}

static int normalise(const char *s, size_t n, const char *const *names, size_t k,
                     parsed *ps)
{
    vname nm[MAX_MEMBERS];
    for (size_t i = 0; i < k; i++) {
        nm[i].s = names[i];
        nm[i].n = strlen(names[i]);
    }
    if (!(ps->copy = jansson_copy(s, n)))
        return -1;
    ps->root = llmgw_view_of(ps->copy, strlen(ps->copy));
    llmgw_view_members(ps->root, nm, k, ps->m);
    return 0;
}

/* 0 when [s, s + n) is JSON as json_loadb(…, 0) judges it, nested at most
 * USAGE_MAX_DEPTH deep; -1 otherwise. The scan finds the named root members on the
 * way. On 0 the caller releases ps with parsed_free. */
static int parse(const char *s, size_t n, const char *const *names, size_t k, parsed *ps)
{
    llmgw_json_span sp[MAX_MEMBERS];
    ps->copy = NULL;
    switch (llmgw_json_scan(s, n, USAGE_MAX_DEPTH, names, k, sp)) {
    case LLMGW_JSON_VALID:
        ps->root = llmgw_view_of(s, n);
        for (size_t i = 0; i < k; i++)
            ps->m[i] = llmgw_view_at(s, sp[i].off, sp[i].len);
        return 0;
    case LLMGW_JSON_UNDECIDED:
        return normalise(s, n, names, k, ps);
    default:
        return -1;
    }
}

static void parsed_free(parsed *ps)
{
    free(ps->copy);     /* json_dumps' buffer: free(), as jansson documents */
}

/* The views of paths (llmgw_json_scan_paths) in the value root of a judged text, one
 * lookup each: for the texts only jansson could judge. */
static void view_paths(jv root, const llmgw_json_path *paths, size_t k, jv *out)
{
    for (size_t i = 0; i < k; i++) {
        vname nm = {paths[i].name, paths[i].len};
        out[i] = llmgw_view_get(paths[i].parent < 0 ? root : out[paths[i].parent], nm);
    }
}

/* parse for members below the root: the one scan that judges the text finds them all,
 * so no object is walked twice. out[i] is the view of paths[i]; sp has room for a span
 * per path (the caller's, sized to its table: the stack frame stays small). On 0 the
 * caller releases *copy with free(). */
static int parse_paths(const char *s, size_t n, const llmgw_json_path *paths,
                       const llmgw_json_paths *ps, llmgw_json_span *sp, jv *out, char **copy)
{
    size_t k = ps->n;
    *copy = NULL;
    switch (llmgw_json_scan_paths(s, n, USAGE_MAX_DEPTH, 0, ps, sp)) {
    case LLMGW_JSON_VALID:
        for (size_t i = 0; i < k; i++)      /* spans hold no whitespace to trim */
            out[i] = (jv){s + sp[i].off, sp[i].len};
        return 0;
    case LLMGW_JSON_UNDECIDED:
        if (!(*copy = jansson_copy(s, n)))
            return -1;
        view_paths(llmgw_view_of(*copy, strlen(*copy)), paths, k, out);
        return 0;
    default:
        return -1;
    }
}

/* ---- reading values ------------------------------------------------------------------ */

static int is_object(jv v)
{
    return llmgw_view_is(v, LLMGW_VIEW_OBJECT);
}

/* Reads a token count; 1 if v is a number. Reals are accepted (some openai-compatible
 * servers emit 12.0) and truncated; negatives count 0, huge ones LLMGW_TOKENS_MAX. */
static int get_tokens(jv v, int64_t *out)
{
    return llmgw_view_count(v, LLMGW_TOKENS_MAX, out);
}

/* Token count or 0 when missing (SPEC: unreported fields are 0, never null). */
static int64_t tok(jv v)
{
    int64_t n = 0;
    get_tokens(v, &n);
    return n;
}


static int64_t clamp_tokens(int64_t v)
{
    return v < 0 ? 0 : v > LLMGW_TOKENS_MAX ? LLMGW_TOKENS_MAX : v;
}

static int64_t add_tokens(int64_t a, int64_t b)
{
    return clamp_tokens(a + b);  /* both <= 1e15: cannot overflow */
}

/* Records the model and response id where they are strings (cut to the buffers). */
static void take_ids(jv model, jv id, llmgw_usage *u)
{
    llmgw_view_copy_string(model, u->model, sizeof(u->model));
    llmgw_view_copy_string(id, u->response_id, sizeof(u->response_id));
}

/* Member name lists are written once and spelled both ways: plain strings for the
 * scanner's root lookup, measured names for lookups in views. */
#define AS_STR(lit) lit,
#define AS_NAME(lit) LLMGW_VIEW_NAME(lit),

/* The members of an Anthropic message (a whole body, message_start's "message"). */
#define MSG_LIST(X) X("usage") X("model") X("id")
static const char *const MSG[] = {MSG_LIST(AS_STR)};
static const vname MSG_NAMES[] = {MSG_LIST(AS_NAME)};
enum { M_USAGE, M_MODEL, M_ID, M_N };

/* ---- OpenAI wire (openai, azure, openai-compatible) -------------------------- */

/* What accounting reads of an OpenAI message — a body, a chat chunk, or the "response"
 * of a Responses stream event: chat completions name the counts prompt/completion,
 * Responses and embeddings input/output. Indexes relative to the message. */
enum { O_USAGE, O_MODEL, O_ID, O_PROMPT, O_COMPL, O_TOTAL, O_PROMPT_D, O_COMPL_D, O_IN, O_OUT,
       O_IN_D, O_OUT_D, O_CACHED, O_REASONING, O_IN_CACHED, O_OUT_REASONING, O_N };

#define P LLMGW_JSON_PATH
#define OPENAI_MESSAGE(b, parent)                                                          \
    P("usage", parent), P("model", parent), P("id", parent),                              \
    P("prompt_tokens", (b) + O_USAGE), P("completion_tokens", (b) + O_USAGE),             \
    P("total_tokens", (b) + O_USAGE), P("prompt_tokens_details", (b) + O_USAGE),          \
    P("completion_tokens_details", (b) + O_USAGE), P("input_tokens", (b) + O_USAGE),      \
    P("output_tokens", (b) + O_USAGE), P("input_tokens_details", (b) + O_USAGE),          \
    P("output_tokens_details", (b) + O_USAGE), P("cached_tokens", (b) + O_PROMPT_D),      \
    P("reasoning_tokens", (b) + O_COMPL_D), P("cached_tokens", (b) + O_IN_D),             \
    P("reasoning_tokens", (b) + O_OUT_D)

/* The root's message, then "response" and the message in it. */
enum { OP_RESPONSE = O_N, OP_INNER = O_N + 1, OP_N = 2 * O_N + 1 };
static const llmgw_json_path OPENAI_PATHS[OP_N] = {
    OPENAI_MESSAGE(0, LLMGW_JSON_ROOT), P("response", LLMGW_JSON_ROOT),
    OPENAI_MESSAGE(OP_INNER, OP_RESPONSE)};
#undef P

/* Prepared once per process, read-only after. */
static llmgw_json_paths openai_paths;
static pthread_once_t openai_paths_once = PTHREAD_ONCE_INIT;

static void prepare_openai_paths(void)
{
    if (llmgw_json_paths_init(&openai_paths, OPENAI_PATHS, OP_N) != 0)
        abort();                        /* a table above is malformed */
}

static void openai_usage(const jv *f, llmgw_usage *u)
{
    if (llmgw_view_present(f[O_IN]) || llmgw_view_present(f[O_OUT])) {
        u->prompt = tok(f[O_IN]);
        u->completion = tok(f[O_OUT]);
        u->cached = tok(f[O_IN_CACHED]);
        u->reasoning = tok(f[O_OUT_REASONING]);
    } else {
        int64_t total = 0;
        u->completion = tok(f[O_COMPL]);
        if (!get_tokens(f[O_PROMPT], &u->prompt) && get_tokens(f[O_TOTAL], &total))
            u->prompt = total > u->completion ? total - u->completion : 0;
        u->cached = tok(f[O_CACHED]);
        u->reasoning = tok(f[O_REASONING]);
    }
    u->cache_write = 0;
    u->cache_write_1h = 0;
    u->raw_input = u->prompt;
    u->seen = 1;
    u->final = 1;
}

/* A body, a chat chunk, or a Responses stream event (usage under "response"); p holds
 * OPENAI_PATHS of a root that is an object. */
static void openai_root(const jv *p, llmgw_usage *u)
{
    const jv *f = !is_object(p[O_USAGE]) && is_object(p[OP_RESPONSE]) ? p + OP_INNER : p;
    take_ids(f[O_MODEL], f[O_ID], u);
    if (is_object(f[O_USAGE]))
        openai_usage(f, u);
}

/* An OpenAI text: 0 and its usage read into u, -1 when it is not JSON. */
static int openai_text(const char *s, size_t n, llmgw_usage *u)
{
    jv p[OP_N];
    llmgw_json_span sp[OP_N];
    char *copy;
    pthread_once(&openai_paths_once, prepare_openai_paths);
    if (parse_paths(s, n, OPENAI_PATHS, &openai_paths, sp, p, &copy))
        return -1;
    openai_root(p, u);
    free(copy);         /* json_dumps' buffer: free(), as jansson documents */
    return 0;
}

/* ---- Anthropic ----------------------------------------------------------------- */

/* Sets *dst from v; when v is no number, zeroes it only if all=1. message_start and
 * whole bodies define every field; message_delta replaces only what it carries. */
static void upd(jv v, int64_t *dst, int all)
{
    if (!get_tokens(v, dst) && all)
        *dst = 0;
}

static const vname ANTHROPIC_USAGE[] = {
    LLMGW_VIEW_NAME("input_tokens"), LLMGW_VIEW_NAME("cache_read_input_tokens"),
    LLMGW_VIEW_NAME("cache_creation_input_tokens"), LLMGW_VIEW_NAME("cache_creation"),
    LLMGW_VIEW_NAME("output_tokens"), LLMGW_VIEW_NAME("output_tokens_details")};
enum { AU_IN, AU_READ, AU_WRITE, AU_CC, AU_OUT, AU_OTD, AU_N };

static void anthropic_usage(jv us, llmgw_usage *u, int all)
{
    jv f[AU_N];
    llmgw_view_members(us, ANTHROPIC_USAGE, AU_N, f);
    upd(f[AU_IN], &u->raw_input, all);
    upd(f[AU_READ], &u->cached, all);
    upd(f[AU_WRITE], &u->cache_write, all);
    upd(llmgw_view_get(f[AU_CC], NAME("ephemeral_1h_input_tokens")), &u->cache_write_1h, all);
    upd(f[AU_OUT], &u->completion, all);   /* cumulative: replace */
    upd(llmgw_view_get(f[AU_OTD], NAME("thinking_tokens")), &u->reasoning, all);
    u->prompt = add_tokens(add_tokens(u->raw_input, u->cached), u->cache_write);
    u->seen = 1;
}

/* A whole message (non-streaming body, or message_start's "message"): m holds its MSG
 * members. */
static void anthropic_message(const jv *m, llmgw_usage *u)
{
    take_ids(m[M_MODEL], m[M_ID], u);
    if (is_object(m[M_USAGE]))
        anthropic_usage(m[M_USAGE], u, 1);
}

static int name_is(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return s && n == l && !memcmp(s, lit, l);
}

/* The root members a stream event's accounting reads. */
static const char *const ANTHROPIC_EVENT[] = {"type", "message", "usage"};
enum { AE_TYPE, AE_MESSAGE, AE_USAGE, AE_N };

enum { EV_OTHER, EV_START, EV_DELTA };

static int kind_of_name(const char *s, size_t n)
{
    return name_is(s, n, "message_start") ? EV_START
         : name_is(s, n, "message_delta") ? EV_DELTA : EV_OTHER;
}

static int kind_of_type(jv type)
{
    return llmgw_view_string_is(type, "message_start") ? EV_START
         : llmgw_view_string_is(type, "message_delta") ? EV_DELTA : EV_OTHER;
}

static void anthropic_event(int kind, const jv *m, llmgw_usage *u)
{
    if (kind == EV_START && is_object(m[AE_MESSAGE])) {
        jv msg[M_N];
        llmgw_view_members(m[AE_MESSAGE], MSG_NAMES, M_N, msg);
        anthropic_message(msg, u);
    } else if (kind == EV_DELTA && is_object(m[AE_USAGE])) {
        anthropic_usage(m[AE_USAGE], u, 0);
        u->final = 1;
    }
}

/* ---- Gemini -------------------------------------------------------------------- */

#define GEMINI_LIST(X) X("usageMetadata") X("modelVersion") X("responseId") X("candidates")
static const char *const GEMINI[] = {GEMINI_LIST(AS_STR)};
static const vname GEMINI_NAMES[] = {GEMINI_LIST(AS_NAME)};
enum { G_USAGE, G_MODEL, G_ID, G_CANDIDATES, G_N };

static const vname GEMINI_USAGE[] = {
    LLMGW_VIEW_NAME("promptTokenCount"), LLMGW_VIEW_NAME("toolUsePromptTokenCount"),
    LLMGW_VIEW_NAME("candidatesTokenCount"), LLMGW_VIEW_NAME("thoughtsTokenCount"),
    LLMGW_VIEW_NAME("cachedContentTokenCount")};
enum { GU_PROMPT, GU_TOOL, GU_CANDS, GU_THOUGHTS, GU_CACHED, GU_N };

static void gemini_usage(jv um, llmgw_usage *u)
{
    jv f[GU_N];
    llmgw_view_members(um, GEMINI_USAGE, GU_N, f);
    int64_t thoughts = tok(f[GU_THOUGHTS]);
    u->prompt = add_tokens(tok(f[GU_PROMPT]), tok(f[GU_TOOL]));
    u->completion = add_tokens(tok(f[GU_CANDS]), thoughts);
    u->reasoning = thoughts;
    u->cached = tok(f[GU_CACHED]);
    u->cache_write = 0;
    u->cache_write_1h = 0;
    u->raw_input = u->prompt;
    u->seen = 1;
}

/* A candidate with a finishReason marks the closing chunk of a stream. */
static int gemini_finished(jv cands)
{
    llmgw_view_iter it = llmgw_view_items(cands);
    jv c;
    while (llmgw_view_next(&it, &c))
        if (llmgw_view_is(llmgw_view_get(c, NAME("finishReason")), LLMGW_VIEW_STRING))
            return 1;
    return 0;
}

/* One generateContent response or stream chunk (m: its GEMINI members): the latest
 * usageMetadata replaces. */
static void gemini_chunk(const jv *m, llmgw_usage *u)
{
    take_ids(m[G_MODEL], m[G_ID], u);
    if (!is_object(m[G_USAGE]))
        return;
    gemini_usage(m[G_USAGE], u);
    if (gemini_finished(m[G_CANDIDATES]))
        u->final = 1;
}

/* streamGenerateContent without alt=sse: a JSON array of chunks. */
static void gemini_array(jv root, llmgw_usage *u)
{
    llmgw_view_iter it = llmgw_view_items(root);
    jv chunk, m[G_N];
    while (llmgw_view_next(&it, &chunk)) {
        llmgw_view_members(chunk, GEMINI_NAMES, G_N, m);
        gemini_chunk(m, u);
    }
}

/* ---- public entry points ---------------------------------------------------------- */

static int openai_wire(llmgw_ptype t)
{
    return t == LLMGW_PT_OPENAI || t == LLMGW_PT_AZURE || t == LLMGW_PT_OPENAI_COMPAT;
}

/* A whole body, on the request path: one scan judges it and finds the root members
 * accounting reads; everything else is read in place. */
int llmgw_usage_from_json(llmgw_ptype t, const char *body, size_t len, llmgw_usage *u)
{
    parsed ps;
    if (t == LLMGW_PT_HTTP)
        return 0;
    if (openai_wire(t))
        return openai_text(body, len, u);
    int gemini = t == LLMGW_PT_GEMINI, anthropic = t == LLMGW_PT_ANTHROPIC;
    if (parse(body, len, gemini ? GEMINI : MSG, gemini ? G_N : M_N, &ps))
        return -1;
    if (anthropic && is_object(ps.root)) {
        anthropic_message(ps.m, u);
        if (u->seen)
            u->final = 1;
    } else if (gemini) {
        if (llmgw_view_is(ps.root, LLMGW_VIEW_ARRAY))
            gemini_array(ps.root, u);
        else
            gemini_chunk(ps.m, u);
    }
    parsed_free(&ps);
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
    openai_text(data, dlen, u);
}

/* Only message_start and message_delta carry usage; the default event name
 * ("message") is allowed through in case a relay dropped the event: lines. The
 * data's own "type", when it is a string, decides over the event name. */
static void anthropic_sse(const char *event, size_t elen, const char *data, size_t dlen,
                          llmgw_usage *u)
{
    parsed ps;
    int named = name_is(event, elen, "message_start") || name_is(event, elen, "message_delta");
    int unnamed = elen == 0 || name_is(event, elen, "message");
    if (!named && !(unnamed && has_object_member(data, dlen, "\"usage\"")))
        return;
    if (parse(data, dlen, ANTHROPIC_EVENT, AE_N, &ps))
        return;
    if (is_object(ps.root)) {
        jv type = ps.m[AE_TYPE];
        anthropic_event(llmgw_view_is(type, LLMGW_VIEW_STRING) ? kind_of_type(type)
                                                               : kind_of_name(event, elen),
                        ps.m, u);
    }
    parsed_free(&ps);
}

static void gemini_event(const char *data, size_t dlen, llmgw_usage *u)
{
    parsed ps;
    if (!has_object_member(data, dlen, "\"usageMetadata\""))
        return;
    if (parse(data, dlen, GEMINI, G_N, &ps))
        return;
    if (is_object(ps.root))
        gemini_chunk(ps.m, u);
    parsed_free(&ps);
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

static const char *const CHUNK[] = {"choices", "usage"};

int llmgw_usage_is_usage_only_chunk(const char *data, size_t dlen)
{
    parsed ps;
    jv first;
    if (!data || !has_object_member(data, dlen, "\"usage\"") ||
        parse(data, dlen, CHUNK, 2, &ps))
        return 0;
    llmgw_view_iter it = llmgw_view_items(ps.m[0]);
    int yes = llmgw_view_is(ps.m[0], LLMGW_VIEW_ARRAY) && !llmgw_view_next(&it, &first) &&
              is_object(ps.m[1]);
    parsed_free(&ps);
    return yes;
}
