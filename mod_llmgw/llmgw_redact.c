/* llmgw_redact.c — LLMGWRedact / LLMGWBlock: PCRE2 patterns compiled once, run under
 * limits against every text of a request the model will read; redacted strings are
 * replaced in the parsed body, which the caller then re-serialises.
 *
 * Bounding the work. PCRE2's match limit counts the backtracking of one start position,
 * so a pattern that costs just under the limit at every position of a long text still
 * runs for seconds (measured: (a+)+$ over 20 KB, 7 s with JIT and a limit of 10^6).
 * Every pattern therefore starts with a callout, which PCRE2 calls once per start
 * position it tries; every 32nd call compares the clock with the scan's deadline and
 * aborts the match past it. The deadline is CPU time of the thread, so a busy machine
 * (the worker preempted) does not fail a scan: the cheap monotonic clock is read first,
 * and only when its deadline passes is the thread's CPU clock asked whether the budget
 * is really spent. The per-position match limit keeps the time between two
 * callouts short; the deadline keeps the sum bounded (limits in llmgw_redact.h). A sane
 * pattern needs a few dozen steps per position; one that needs more than the limit at a
 * single position is backtracking out of control, and the scan fails rather than let
 * the text through unscanned. */
#define PCRE2_CODE_UNIT_WIDTH 8
#define _GNU_SOURCE  /* memmem */
#include "llmgw_redact.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALLOUT_PREFIX "(?C255)"
#define CLOCK_EVERY 32u
#define ERROR_DEADLINE PCRE2_ERROR_CALLOUT

struct llmgw_rx {
    pcre2_code *code;
    int jit;
};

typedef struct {
    pcre2_general_context *gctx;
    pcre2_match_context *mctx;
    pcre2_match_data *md;
    uint64_t wall_deadline, cpu_deadline;   /* ns */
    uint32_t calls;
} scan_private;

#define REDACT_PASSES 3

static uint64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int llmgw_rule_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > LLMGW_RULE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

void llmgw_rx_strerror(int code, char *buf, size_t cap)
{
    if (code == ERROR_DEADLINE) {
        snprintf(buf, cap, "time budget exceeded");
        return;
    }
    if (pcre2_get_error_message(code, (PCRE2_UCHAR *)buf, cap) < 0)
        snprintf(buf, cap, "PCRE2 error %d", code);
}

/* Length of the leading (*VERB) items, which must stay first in a pattern. */
static size_t leading_verbs(const char *p)
{
    size_t n = 0;
    while (p[n] == '(' && p[n + 1] == '*') {
        size_t k = n + 2;
        while ((p[k] >= 'A' && p[k] <= 'Z') || p[k] == '_' || p[k] == '=' ||
               (p[k] >= '0' && p[k] <= '9'))
            k++;
        if (p[k] != ')')
            break;
        n = k + 1;
    }
    return n;
}

llmgw_rx *llmgw_rx_compile(const char *pattern, char *err, size_t errcap)
{
    size_t plen = strlen(pattern), v = leading_verbs(pattern), k = sizeof CALLOUT_PREFIX - 1;
    char *full = malloc(plen + k + 1);
    llmgw_rx *rx = calloc(1, sizeof *rx);
    int code;
    PCRE2_SIZE off;
    if (!full || !rx) {
        free(full);
        free(rx);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    memcpy(full, pattern, v);
    memcpy(full + v, CALLOUT_PREFIX, k);
    memcpy(full + v + k, pattern + v, plen - v + 1);
    rx->code = pcre2_compile((PCRE2_SPTR)full, plen + k, PCRE2_UTF, &code, &off, NULL);
    free(full);
    if (!rx->code) {
        char why[256];
        llmgw_rx_strerror(code, why, sizeof why);
        snprintf(err, errcap, "%s at offset %zu", why, (size_t)(off >= v + k ? off - k : off));
        free(rx);
        return NULL;
    }
    /* without JIT (an exotic platform) the interpreter runs, under the same limits */
    rx->jit = pcre2_jit_compile(rx->code, PCRE2_JIT_COMPLETE) == 0;
    return rx;
}

void llmgw_rx_free(llmgw_rx *rx)
{
    if (!rx)
        return;
    pcre2_code_free(rx->code);
    free(rx);
}

int llmgw_rx_is_jit(const llmgw_rx *rx)
{
    return rx && rx->jit;
}

static void *scan_malloc(PCRE2_SIZE n, void *data)
{
    const llmgw_alloc *a = data;
    return a->fn(a->ctx, n);
}

static void scan_free(void *p, void *data)
{
    /* the allocator's owner releases everything at once (the request pool) */
    (void)p;
    (void)data;
}

static int on_callout(pcre2_callout_block *cb, void *data)
{
    scan_private *sp = data;
    (void)cb;
    if (++sp->calls % CLOCK_EVERY || now_ns(CLOCK_MONOTONIC) <= sp->wall_deadline)
        return 0;
    uint64_t cpu = now_ns(CLOCK_THREAD_CPUTIME_ID);
    if (cpu > sp->cpu_deadline)
        return ERROR_DEADLINE;
    /* the time went to other threads: what is left of the budget is still ours */
    sp->wall_deadline = now_ns(CLOCK_MONOTONIC) + (sp->cpu_deadline - cpu);
    return 0;
}

void llmgw_scan_init(llmgw_scan *s, const llmgw_content_rules *rules, const llmgw_alloc *a)
{
    memset(s, 0, sizeof *s);
    s->rules = rules;
    s->alloc = a;
}

/* Match state is made on first use, so a request without content rules pays nothing. */
static scan_private *prepare(llmgw_scan *s)
{
    if (s->md_)
        return s->md_;
    scan_private *sp = s->alloc->fn(s->alloc->ctx, sizeof *sp);
    if (!sp)
        return NULL;
    memset(sp, 0, sizeof *sp);
    sp->gctx = pcre2_general_context_create(scan_malloc, scan_free, (void *)s->alloc);
    sp->mctx = sp->gctx ? pcre2_match_context_create(sp->gctx) : NULL;
    sp->md = sp->gctx ? pcre2_match_data_create(1, sp->gctx) : NULL;
    if (!sp->md || !sp->mctx)
        return NULL;
    pcre2_set_match_limit(sp->mctx, LLMGW_RX_MATCH_LIMIT);
    pcre2_set_depth_limit(sp->mctx, LLMGW_RX_DEPTH_LIMIT);
    pcre2_set_heap_limit(sp->mctx, LLMGW_RX_HEAP_LIMIT_KB);
    pcre2_set_callout(sp->mctx, on_callout, sp);
    sp->wall_deadline = now_ns(CLOCK_MONOTONIC) + LLMGW_SCAN_BUDGET_BASE_NS;
    sp->cpu_deadline = now_ns(CLOCK_THREAD_CPUTIME_ID) + LLMGW_SCAN_BUDGET_BASE_NS;
    s->md_ = sp;
    return sp;
}

static size_t npatterns(const llmgw_content_rules *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nblock; i++)
        n += (size_t)r->block[i].nrx;
    for (size_t i = 0; i < r->nredact; i++)
        n += (size_t)r->redact[i].nrx;
    return n;
}

static llmgw_scan_status fail(llmgw_scan *s, const char *rule, int code)
{
    s->rule = rule;
    s->error = code;
    return LLMGW_SCAN_FAILED;
}

/* A growing output buffer from the scan's allocator. */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t hint;        /* first capacity: about the final size, so it rarely grows */
} outbuf;

static int out_put(const llmgw_alloc *a, outbuf *o, const char *d, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : (o->hint > 256 ? o->hint : 256);
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *nb = a->fn(a->ctx, cap);
        if (!nb)
            return -1;
        if (o->len)
            memcpy(nb, o->buf, o->len);
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, d, n);
    o->len += n;
    o->buf[o->len] = '\0';
    return 0;
}

/* End of the `[REDACTED:…]` tag overlapping [a, b), or 0 when none does. */
static size_t tag_overlap(const char *text, size_t len, size_t a, size_t b)
{
    static const char open[] = "[REDACTED:";
    size_t from = a > LLMGW_RULE_NAME_MAX + 11 ? a - (LLMGW_RULE_NAME_MAX + 11) : 0;
    while (from < b) {
        const char *t = memmem(text + from, len - from, open, sizeof open - 1);
        if (!t || (size_t)(t - text) >= b)
            return 0;
        const char *close = memchr(t, ']', len - (size_t)(t - text));
        if (!close)
            return 0;
        size_t end = (size_t)(close - text) + 1;
        if (end > a)
            return end;
        from = end;
    }
    return 0;
}

/* Replaces every non-empty match of rx in (*t, *n) by `[REDACTED:name]`; with
 * skip_tags, matches touching a tag an earlier pass wrote are left alone. */
static int redact_one(llmgw_scan *s, scan_private *sp, const llmgw_rx *rx, const char *name,
                      const char **t, size_t *n, uint32_t opts, int skip_tags)
{
    const char *text = *t;
    size_t len = *n, start = 0, last = 0;
    outbuf o = {.hint = len + len / 8 + 64};
    char tag[LLMGW_RULE_NAME_MAX + 16];
    size_t taglen = (size_t)snprintf(tag, sizeof tag, "[REDACTED:%s]", name);
    while (start <= len) {
        int rc = pcre2_match(rx->code, (PCRE2_SPTR)text, len, start, opts, sp->md, sp->mctx);
        opts |= PCRE2_NO_UTF_CHECK;
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0)
            return rc;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sp->md);
        if (ov[1] <= ov[0]) {
            /* nothing to replace: move on by one character */
            start = ov[1] > start ? ov[1] : start + 1;
            while (start < len && ((unsigned char)text[start] & 0xc0) == 0x80)
                start++;
            continue;
        }
        size_t tag_end = skip_tags ? tag_overlap(text, len, ov[0], ov[1]) : 0;
        if (tag_end) {
            start = tag_end;
            continue;
        }
        if (out_put(s->alloc, &o, text + last, ov[0] - last) < 0 ||
            out_put(s->alloc, &o, tag, taglen) < 0)
            return PCRE2_ERROR_NOMEMORY;
        s->redactions++;
        last = start = ov[1];
    }
    if (!o.buf)
        return 0;
    if (out_put(s->alloc, &o, text + last, len - last) < 0)
        return PCRE2_ERROR_NOMEMORY;
    *t = o.buf;
    *n = o.len;
    return 0;
}

static llmgw_scan_status scan(llmgw_scan *s, const char *text, size_t len, int trusted,
                              const char **out, size_t *out_len)
{
    const llmgw_content_rules *r = s->rules;
    *out = text;
    *out_len = len;
    if (!r || (!r->nblock && !r->nredact))
        return LLMGW_SCAN_OK;
    scan_private *sp = prepare(s);
    if (!sp)
        return fail(s, NULL, 0);
    s->texts++;
    s->bytes += len;
    uint64_t budget = (uint64_t)len * LLMGW_SCAN_BUDGET_NS_PER_BYTE * npatterns(r);
    sp->wall_deadline += budget;
    sp->cpu_deadline += budget;
    /* JSON strings were validated by the parser; anything else is checked once */
    uint32_t opts = trusted ? PCRE2_NO_UTF_CHECK : 0;
    for (size_t i = 0; i < r->nblock; i++) {
        for (int j = 0; j < r->block[i].nrx; j++) {
            int rc = pcre2_match(r->block[i].rx[j]->code, (PCRE2_SPTR)text, len, 0, opts,
                                 sp->md, sp->mctx);
            opts = PCRE2_NO_UTF_CHECK;
            if (rc >= 0) {
                s->rule = r->block[i].name;
                return LLMGW_SCAN_BLOCKED;
            }
            if (rc != PCRE2_ERROR_NOMATCH)
                return fail(s, r->block[i].name, rc);
        }
    }
    /* A replacement can give a neighbour the word boundary it lacked ("…5678sk-…" →
     * "…5678[REDACTED:api-key]"), so the rules run again over their own output until
     * nothing changes; later passes leave the tags themselves alone. */
    for (int pass = 0; pass < REDACT_PASSES; pass++) {
        int before = s->redactions;
        for (size_t i = 0; i < r->nredact; i++) {
            for (int j = 0; j < r->redact[i].nrx; j++) {
                int rc = redact_one(s, sp, r->redact[i].rx[j], r->redact[i].name, out,
                                    out_len, opts, pass > 0);
                opts = PCRE2_NO_UTF_CHECK;
                if (rc < 0)
                    return fail(s, rc == PCRE2_ERROR_NOMEMORY ? NULL : r->redact[i].name, rc);
            }
        }
        if (s->redactions == before)
            break;
    }
    return LLMGW_SCAN_OK;
}

llmgw_scan_status llmgw_scan_text(llmgw_scan *s, const char *text, size_t len,
                                  const char **out, size_t *out_len)
{
    return scan(s, text, len, 0, out, out_len);
}

/* ---- the texts of a request ----------------------------------------------------------- */

static llmgw_scan_status scan_string(llmgw_scan *s, json_t *str)
{
    const char *out;
    size_t n;
    if (!json_is_string(str))
        return LLMGW_SCAN_OK;
    const char *v = json_string_value(str);
    llmgw_scan_status st = scan(s, v, json_string_length(str), 1, &out, &n);
    if (st != LLMGW_SCAN_OK || out == v)
        return st;
    if (json_string_setn(str, out, n) < 0)
        return fail(s, NULL, 0);
    return LLMGW_SCAN_OK;
}

static llmgw_scan_status scan_content(llmgw_scan *s, json_t *c);

/* A content block or part (any provider): its text, nested content (Anthropic
 * tool_result and search results), a Responses function_call_output, a plain-text
 * document source. Image, audio and file parts carry none of these. */
static llmgw_scan_status scan_block(llmgw_scan *s, json_t *b)
{
    llmgw_scan_status st;
    if (!json_is_object(b))
        return scan_string(s, b);
    if ((st = scan_string(s, json_object_get(b, "text"))) != LLMGW_SCAN_OK)
        return st;
    if ((st = scan_content(s, json_object_get(b, "content"))) != LLMGW_SCAN_OK)
        return st;
    if ((st = scan_content(s, json_object_get(b, "output"))) != LLMGW_SCAN_OK)
        return st;
    json_t *src = json_object_get(b, "source");
    const char *stype = json_string_value(json_object_get(src, "type"));
    if (stype && !strcmp(stype, "text"))
        return scan_string(s, json_object_get(src, "data"));
    if (stype && !strcmp(stype, "content"))
        return scan_content(s, json_object_get(src, "content"));
    return LLMGW_SCAN_OK;
}

/* A string, or an array of blocks / parts / strings. */
static llmgw_scan_status scan_content(llmgw_scan *s, json_t *c)
{
    if (json_is_string(c))
        return scan_string(s, c);
    if (!json_is_array(c))
        return LLMGW_SCAN_OK;
    for (size_t i = 0; i < json_array_size(c); i++) {
        llmgw_scan_status st = scan_block(s, json_array_get(c, i));
        if (st != LLMGW_SCAN_OK)
            return st;
    }
    return LLMGW_SCAN_OK;
}

static llmgw_scan_status scan_messages(llmgw_scan *s, json_t *msgs)
{
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        llmgw_scan_status st = scan_content(s, json_object_get(json_array_get(msgs, i),
                                                               "content"));
        if (st != LLMGW_SCAN_OK)
            return st;
    }
    return LLMGW_SCAN_OK;
}

static llmgw_scan_status scan_openai(llmgw_scan *s, json_t *root)
{
    llmgw_scan_status st;
    if ((st = scan_messages(s, json_object_get(root, "messages"))) != LLMGW_SCAN_OK)
        return st;
    /* Responses items and embeddings strings alike: scan_block takes both */
    if ((st = scan_content(s, json_object_get(root, "input"))) != LLMGW_SCAN_OK)
        return st;
    if ((st = scan_string(s, json_object_get(root, "instructions"))) != LLMGW_SCAN_OK)
        return st;
    return scan_content(s, json_object_get(root, "prompt"));
}

static llmgw_scan_status scan_anthropic(llmgw_scan *s, json_t *root)
{
    llmgw_scan_status st = scan_content(s, json_object_get(root, "system"));
    if (st != LLMGW_SCAN_OK)
        return st;
    return scan_messages(s, json_object_get(root, "messages"));
}

static json_t *get2(const json_t *o, const char *camel, const char *snake)
{
    json_t *v = json_object_get(o, camel);
    return v ? v : json_object_get(o, snake);
}

/* A Gemini Content: {"role", "parts": [{"text"}, {"inlineData"}, ...]}. */
static llmgw_scan_status scan_gemini_content(llmgw_scan *s, json_t *content)
{
    if (json_is_string(content))
        return scan_string(s, content);
    json_t *parts = json_object_get(content, "parts");
    for (size_t i = 0; i < json_array_size(parts); i++) {
        llmgw_scan_status st = scan_string(s, json_object_get(json_array_get(parts, i),
                                                              "text"));
        if (st != LLMGW_SCAN_OK)
            return st;
    }
    return LLMGW_SCAN_OK;
}

static llmgw_scan_status scan_gemini(llmgw_scan *s, json_t *root, int depth)
{
    llmgw_scan_status st;
    json_t *contents = json_object_get(root, "contents");
    for (size_t i = 0; i < json_array_size(contents); i++)
        if ((st = scan_gemini_content(s, json_array_get(contents, i))) != LLMGW_SCAN_OK)
            return st;
    st = scan_gemini_content(s, get2(root, "systemInstruction", "system_instruction"));
    if (st != LLMGW_SCAN_OK)
        return st;
    if ((st = scan_gemini_content(s, json_object_get(root, "content"))) != LLMGW_SCAN_OK)
        return st;
    if (depth > 0)
        return LLMGW_SCAN_OK;
    json_t *reqs = json_object_get(root, "requests");       /* batchEmbedContents */
    for (size_t i = 0; i < json_array_size(reqs); i++)
        if ((st = scan_gemini(s, json_array_get(reqs, i), 1)) != LLMGW_SCAN_OK)
            return st;
    /* countTokens may wrap a whole generateContent request */
    return scan_gemini(s, get2(root, "generateContentRequest", "generate_content_request"), 1);
}

llmgw_scan_status llmgw_scan_request(llmgw_scan *s, llmgw_ptype t, json_t *root)
{
    if (!json_is_object(root) || !s->rules || (!s->rules->nblock && !s->rules->nredact))
        return LLMGW_SCAN_OK;
    switch (t) {
    case LLMGW_PT_ANTHROPIC:
        return scan_anthropic(s, root);
    case LLMGW_PT_GEMINI:
        return scan_gemini(s, root, 0);
    case LLMGW_PT_HTTP:
    case LLMGW_PT_COUNT:
        return LLMGW_SCAN_OK;
    default:
        return scan_openai(s, root);
    }
}

/* ---- re-serialising ------------------------------------------------------------------- */

typedef struct {
    const llmgw_alloc *a;
    outbuf o;
    int failed;
} dump_ctx;

static int dump_cb(const char *buf, size_t n, void *data)
{
    dump_ctx *d = data;
    if (out_put(d->a, &d->o, buf, n) < 0) {
        d->failed = 1;
        return -1;
    }
    return 0;
}

char *llmgw_json_dump_alloc(const json_t *root, const llmgw_alloc *a, size_t hint,
                            size_t *len)
{
    dump_ctx d = {.a = a, .o = {.hint = hint}};
    if (json_dump_callback(root, dump_cb, &d, JSON_COMPACT | JSON_REAL_PRECISION(17)) < 0 ||
        d.failed || !d.o.buf)
        return NULL;
    *len = d.o.len;
    return d.o.buf;
}
