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
#include "llmgw_json_view.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define CALLOUT_PREFIX "(?C255)"
#define CLOCK_EVERY 32u
#define ERROR_DEADLINE PCRE2_ERROR_CALLOUT

struct llmgw_rx {
    pcre2_code *code;
    int jit;
    int starts;         /* 0, or 1 or 2 byte ranges [lo, hi] every match starts in */
    unsigned char lo[2], hi[2];
    pcre2_code *at;     /* with starts and JIT: anchored, no callout (see search) */
    int word_start;     /* every match starts at \\b with a word character */
    int need;           /* a byte every match holds, -1 for none known */
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

/* The bytes a match can start with, where PCRE2 knows them (its start bitmap) and they
 * form one or two ranges — digits for card and social security numbers. A search then
 * starts at the first such byte, found sixteen bytes a step: PCRE2 tests its bitmap a
 * byte at a time, which was most of the cost of a pattern over a prompt. Not for \G
 * (it asserts the start offset) or a pattern that can match the empty string. */
static void start_ranges(llmgw_rx *rx, const char *pattern)
{
    const uint8_t *bm = NULL;
    uint32_t minlen = 0;
    int n = 0;
    rx->starts = 0;
    if (strstr(pattern, "\\G") || pcre2_pattern_info(rx->code, PCRE2_INFO_MINLENGTH, &minlen) ||
        !minlen || pcre2_pattern_info(rx->code, PCRE2_INFO_FIRSTBITMAP, &bm) || !bm)
        return;
    for (int b = 0; b < 256;) {
        if (!(bm[b >> 3] >> (b & 7) & 1)) {
            b++;
            continue;
        }
        int first = b;
        while (b < 256 && (bm[b >> 3] >> (b & 7) & 1))
            b++;
        if (n == 2)
            return;                     /* three ranges or more: PCRE2's own search */
        rx->lo[n] = (unsigned char)first;
        rx->hi[n] = (unsigned char)(b - 1);
        n++;
    }
    if (n == 1) {                       /* the second range repeats the first */
        rx->lo[1] = rx->lo[0];
        rx->hi[1] = rx->hi[0];
    }
    rx->starts = n;
}

/* The bytes where a match of rx could start, in order, sixteen tested a step. */
typedef struct {
    const unsigned char *t;
    size_t len, block;          /* mask covers [block, block + 16) */
    unsigned mask;
    unsigned char lo[2], w[2];  /* byte x is in range i when (x - lo[i]) mod 256 <= w[i] */
#ifdef __SSE2__
    __m128i vlo[2], vw[2];
#endif
} starts_iter;

static inline unsigned start_mask(const starts_iter *it)
{
    const unsigned char *t = it->t + it->block;
    size_t n = it->len - it->block;
#ifdef __SSE2__
    if (n >= 16) {
        /* (x - lo) mod 256 <= w exactly when max(x - lo, w) == w */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)t);
        __m128i d0 = _mm_sub_epi8(v, it->vlo[0]), d1 = _mm_sub_epi8(v, it->vlo[1]);
        return (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(d0, it->vw[0]), it->vw[0]),
                         _mm_cmpeq_epi8(_mm_max_epu8(d1, it->vw[1]), it->vw[1])));
    }
#endif
    unsigned mask = 0;
    for (size_t i = 0; i < n && i < 16; i++)
        if ((unsigned char)(t[i] - it->lo[0]) <= it->w[0] ||
            (unsigned char)(t[i] - it->lo[1]) <= it->w[1])
            mask |= 1u << i;
    return mask;
}

static void starts_from(starts_iter *it, const llmgw_rx *rx, const char *t, size_t len,
                        size_t from)
{
    it->t = (const unsigned char *)t;
    it->len = len;
    it->block = from;
    for (int i = 0; i < 2; i++) {
        it->lo[i] = rx->lo[i];
        it->w[i] = (unsigned char)(rx->hi[i] - rx->lo[i]);
#ifdef __SSE2__
        it->vlo[i] = _mm_set1_epi8((char)it->lo[i]);
        it->vw[i] = _mm_set1_epi8((char)it->w[i]);
#endif
    }
    it->mask = from < len ? start_mask(it) : 0;
}

/* The next such byte's offset, or len. */
static inline size_t starts_next(starts_iter *it)
{
    while (!it->mask) {
        it->block += 16;
        if (it->block >= it->len)
            return it->len;
        it->mask = start_mask(it);
    }
    size_t at = it->block + (size_t)__builtin_ctz(it->mask);
    it->mask &= it->mask - 1;
    return at;
}

static int is_word(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_';
}

static int deadline_passed(scan_private *sp);

/* pcre2_match from start, as if PCRE2 searched itself. Where the subject's UTF-8 is
 * still to be checked (opts without PCRE2_NO_UTF_CHECK) PCRE2 does it, from start, as
 * before. Otherwise:
 * - a byte every match must hold (PCRE2's last literal code unit) is looked for first:
 *   a card or social security number pattern over a text without '-' is done there;
 * - for a pattern whose matches start in one or two byte ranges, each such byte (and,
 *   for one led by \\b and a word character, only one after a non-word byte) is tried
 *   in turn with the anchored copy of the pattern: the first that matches is where
 *   PCRE2's own search would have stopped, since no match starts anywhere else. PCRE2
 *   steps through a text a byte at a time (about ten instructions each here); this
 *   skips to the candidates sixteen bytes a step. A text with many candidates is
 *   handed to PCRE2's own search after MAX_ANCHORED tries. The callout that bounds a
 *   search's time is not in the anchored copy: the tries are counted here instead. */
#define MAX_ANCHORED 64
static int search(const llmgw_rx *rx, const char *text, size_t len, size_t start,
                  uint32_t opts, scan_private *sp)
{
    if ((opts & PCRE2_NO_UTF_CHECK) && rx->need >= 0 &&
        !memchr(text + start, rx->need, len - start))
        return PCRE2_ERROR_NOMATCH;
    if (rx->starts && (opts & PCRE2_NO_UTF_CHECK)) {
        starts_iter it;
        starts_from(&it, rx, text, len, start);
        start = starts_next(&it);
        for (int tries = 0; rx->at && start < len && tries < MAX_ANCHORED;
             start = starts_next(&it)) {
            if (rx->word_start && start > 0 && is_word((unsigned char)text[start - 1]))
                continue;               /* inside a word: no \\b here */
            int rc = pcre2_jit_match(rx->at, (PCRE2_SPTR)text, len, start, opts, sp->md,
                                     sp->mctx);
            if (rc != PCRE2_ERROR_NOMATCH)
                return rc;
            if (++tries % CLOCK_EVERY == 0 && deadline_passed(sp))
                return ERROR_DEADLINE;
        }
        if (start == len)
            return PCRE2_ERROR_NOMATCH; /* no match is empty: none starts at the end */
    }
    return pcre2_match(rx->code, (PCRE2_SPTR)text, len, start, opts, sp->md, sp->mctx);
}

/* What search needs besides the pattern: the byte every match holds, where it is not a
 * letter (caseless matching could find it as another byte: k as U+212A), and the
 * anchored copy for patterns with start ranges. The copy has no callout: each call
 * tries one position, under the match limit. */
static int search_aids(llmgw_rx *rx, const char *pattern, size_t skip_verbs)
{
    uint32_t type = 0, unit = 0;
    rx->need = -1;
    if (!pcre2_pattern_info(rx->code, PCRE2_INFO_LASTCODETYPE, &type) && type == 1 &&
        !pcre2_pattern_info(rx->code, PCRE2_INFO_LASTCODEUNIT, &unit) && unit < 0x80 &&
        !((unit | 0x20) >= 'a' && (unit | 0x20) <= 'z'))
        rx->need = (int)unit;
    if (!rx->starts || !rx->jit)
        return 0;
    /* \\b first, no alternation anywhere (so no branch starts otherwise), and only word
     * characters to start with: every match starts just after a non-word character */
    const char *q = pattern + skip_verbs;
    rx->word_start = q[0] == '\\' && q[1] == 'b' && q[2] && !strchr("?*+{", q[2]) &&
                     !strchr(q, '|');
    for (int i = 0; rx->word_start && i < 2; i++)
        for (unsigned c = rx->lo[i]; c <= rx->hi[i]; c++)
            rx->word_start &= is_word((unsigned char)c);
    int code;
    PCRE2_SIZE off;
    rx->at = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_ANCHORED, &code, &off, NULL);
    if (!rx->at)
        return -1;
    if (pcre2_jit_compile(rx->at, PCRE2_JIT_COMPLETE) != 0) {
        pcre2_code_free(rx->at);        /* PCRE2's own search, as without JIT */
        rx->at = NULL;
    }
    return 0;
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
    start_ranges(rx, pattern);
    if (search_aids(rx, pattern, v) < 0) {
        llmgw_rx_free(rx);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    return rx;
}

void llmgw_rx_free(llmgw_rx *rx)
{
    if (!rx)
        return;
    pcre2_code_free(rx->code);
    pcre2_code_free(rx->at);
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

/* Every CLOCK_EVERY-th start position tried: is the scan's CPU time spent? The cheap
 * monotonic clock is read first; only past its deadline is the thread's CPU clock. */
static int deadline_passed(scan_private *sp)
{
    if (now_ns(CLOCK_MONOTONIC) <= sp->wall_deadline)
        return 0;
    uint64_t cpu = now_ns(CLOCK_THREAD_CPUTIME_ID);
    if (cpu > sp->cpu_deadline)
        return 1;
    /* the time went to other threads: what is left of the budget is still ours */
    sp->wall_deadline = now_ns(CLOCK_MONOTONIC) + (sp->cpu_deadline - cpu);
    return 0;
}

static int on_callout(pcre2_callout_block *cb, void *data)
{
    scan_private *sp = data;
    (void)cb;
    if (++sp->calls % CLOCK_EVERY)
        return 0;
    return deadline_passed(sp) ? ERROR_DEADLINE : 0;
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
    size_t taglen = 0;                  /* written at the first match: most texts have none */
    while (start <= len) {
        int rc = search(rx, text, len, start, opts, sp);
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
        if (!taglen)
            taglen = (size_t)snprintf(tag, sizeof tag, "[REDACTED:%s]", name);
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
            int rc = search(r->block[i].rx[j], text, len, 0, opts, sp);
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

/* The request is walked as text, through views (llmgw_json_view.h): no tree is built,
 * and a redaction rewrites only the string tokens it changed, so every other byte of
 * the body goes to the provider exactly as the client sent it. */
static const llmgw_view_name N_TEXT = LLMGW_VIEW_NAME("text"),
                             N_CONTENT = LLMGW_VIEW_NAME("content"),
                             N_OUTPUT = LLMGW_VIEW_NAME("output"),
                             N_SOURCE = LLMGW_VIEW_NAME("source"),
                             N_TYPE = LLMGW_VIEW_NAME("type"),
                             N_DATA = LLMGW_VIEW_NAME("data"),
                             N_PARTS = LLMGW_VIEW_NAME("parts");

/* A string token of the body and the redacted value that replaces it. */
typedef struct {
    size_t off, len;
    const char *text;
    size_t text_len;
} edit;

typedef struct {
    llmgw_scan *s;
    const char *body;
    edit *edits;
    size_t nedits, cap;
    const llmgw_json_span *roots;   /* LLMGW_TEXT_ROOTS in body, or NULL */
} walk;

/* The root members names[i] (root member indexes tr[i] of LLMGW_TEXT_ROOTS): from the
 * spans the caller's scan found, else looked up in one pass. */
static void root_members(const walk *w, llmgw_json_view root, const llmgw_view_name *names,
                         const int *tr, size_t k, llmgw_json_view *out)
{
    if (!w->roots) {
        llmgw_view_members(root, names, k, out);
        return;
    }
    for (size_t i = 0; i < k; i++)
        out[i] = llmgw_view_at(w->body, w->roots[tr[i]].off, w->roots[tr[i]].len);
}


static int add_edit(walk *w, llmgw_json_view v, const char *text, size_t n)
{
    if (w->nedits == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 8;
        edit *e = w->s->alloc->fn(w->s->alloc->ctx, cap * sizeof *e);
        if (!e)
            return -1;
        if (w->nedits)
            memcpy(e, w->edits, w->nedits * sizeof *e);
        w->edits = e;
        w->cap = cap;
    }
    w->edits[w->nedits++] = (edit){(size_t)(v.p - w->body), v.n, text, n};
    return 0;
}

/* A string's value is its raw bytes unless it holds an escape: then it is decoded
 * (never longer than the token). The scanner refused \u0000, so no NUL cuts it. */
static llmgw_scan_status walk_string(walk *w, llmgw_json_view v)
{
    if (!llmgw_view_is(v, LLMGW_VIEW_STRING))
        return LLMGW_SCAN_OK;
    const char *text = v.p + 1, *out;
    size_t n = v.n - 2, out_len;
    if (memchr(text, '\\', n)) {
        char *d = w->s->alloc->fn(w->s->alloc->ctx, n + 1);
        if (!d)
            return fail(w->s, NULL, 0);
        llmgw_view_copy_string(v, d, n + 1);
        text = d;
        n = strlen(d);
    }
    llmgw_scan_status st = scan(w->s, text, n, 1, &out, &out_len);
    if (st != LLMGW_SCAN_OK || out == text)
        return st;
    return add_edit(w, v, out, out_len) ? fail(w->s, NULL, 0) : LLMGW_SCAN_OK;
}

static llmgw_scan_status walk_content(walk *w, llmgw_json_view c);

/* Member lookups walk the whole object, skipping every value before the one found:
 * the members a walker reads are looked up together, in one pass. */
#define MEMBERS(obj, out, ...)                                                            \
    do {                                                                                  \
        const llmgw_view_name names_[] = {__VA_ARGS__};                                   \
        llmgw_view_members(obj, names_, sizeof names_ / sizeof names_[0], out);           \
    } while (0)

/* A content block or part (any provider): its text, nested content (Anthropic
 * tool_result and search results), a Responses function_call_output, a plain-text
 * document source. Image, audio and file parts carry none of these. */
static llmgw_scan_status walk_block(walk *w, llmgw_json_view b)
{
    llmgw_scan_status st;
    llmgw_json_view m[4], src[3];
    if (!llmgw_view_is(b, LLMGW_VIEW_OBJECT))
        return walk_string(w, b);
    MEMBERS(b, m, N_TEXT, N_CONTENT, N_OUTPUT, N_SOURCE);
    if ((st = walk_string(w, m[0])) != LLMGW_SCAN_OK ||
        (st = walk_content(w, m[1])) != LLMGW_SCAN_OK ||
        (st = walk_content(w, m[2])) != LLMGW_SCAN_OK || !llmgw_view_present(m[3]))
        return st;
    MEMBERS(m[3], src, N_TYPE, N_DATA, N_CONTENT);
    if (llmgw_view_string_is(src[0], "text"))
        return walk_string(w, src[1]);
    if (llmgw_view_string_is(src[0], "content"))
        return walk_content(w, src[2]);
    return LLMGW_SCAN_OK;
}

/* A string, or an array of blocks / parts / strings. */
static llmgw_scan_status walk_content(walk *w, llmgw_json_view c)
{
    if (!llmgw_view_is(c, LLMGW_VIEW_ARRAY))
        return walk_string(w, c);
    llmgw_json_view item;
    for (llmgw_view_iter it = llmgw_view_items(c); llmgw_view_next(&it, &item);) {
        llmgw_scan_status st = walk_block(w, item);
        if (st != LLMGW_SCAN_OK)
            return st;
    }
    return LLMGW_SCAN_OK;
}

static llmgw_scan_status walk_messages(walk *w, llmgw_json_view msgs)
{
    static const llmgw_view_name content[] = {LLMGW_VIEW_NAME("content")};
    llmgw_json_view m, c;
    for (llmgw_view_iter it = llmgw_view_items(msgs);
         llmgw_view_next_members(&it, &m, content, 1, &c);) {
        llmgw_scan_status st = walk_content(w, c);
        if (st != LLMGW_SCAN_OK)
            return st;
    }
    return LLMGW_SCAN_OK;
}

static llmgw_scan_status walk_openai(walk *w, llmgw_json_view root)
{
    static const llmgw_view_name names[] = {
        LLMGW_VIEW_NAME("messages"), LLMGW_VIEW_NAME("input"),
        LLMGW_VIEW_NAME("instructions"), LLMGW_VIEW_NAME("prompt")};
    static const int tr[] = {LLMGW_TR_MESSAGES, LLMGW_TR_INPUT, LLMGW_TR_INSTRUCTIONS,
                             LLMGW_TR_PROMPT};
    llmgw_scan_status st;
    llmgw_json_view m[4];
    root_members(w, root, names, tr, 4, m);
    if ((st = walk_messages(w, m[0])) != LLMGW_SCAN_OK)
        return st;
    /* Responses items and embeddings strings alike: walk_block takes both */
    if ((st = walk_content(w, m[1])) != LLMGW_SCAN_OK)
        return st;
    if ((st = walk_string(w, m[2])) != LLMGW_SCAN_OK)
        return st;
    return walk_content(w, m[3]);
}

static llmgw_scan_status walk_anthropic(walk *w, llmgw_json_view root)
{
    static const llmgw_view_name names[] = {LLMGW_VIEW_NAME("system"),
                                            LLMGW_VIEW_NAME("messages")};
    static const int tr[] = {LLMGW_TR_SYSTEM, LLMGW_TR_MESSAGES};
    llmgw_json_view m[2];
    root_members(w, root, names, tr, 2, m);
    llmgw_scan_status st = walk_content(w, m[0]);
    if (st != LLMGW_SCAN_OK)
        return st;
    return walk_messages(w, m[1]);
}

/* A Gemini Content: {"role", "parts": [{"text"}, {"inlineData"}, ...]}. */
static llmgw_scan_status walk_gemini_content(walk *w, llmgw_json_view content)
{
    if (llmgw_view_is(content, LLMGW_VIEW_STRING))
        return walk_string(w, content);
    llmgw_json_view part;
    for (llmgw_view_iter it = llmgw_view_items(llmgw_view_get(content, N_PARTS));
         llmgw_view_next(&it, &part);) {
        llmgw_scan_status st = walk_string(w, llmgw_view_get(part, N_TEXT));
        if (st != LLMGW_SCAN_OK)
            return st;
    }
    return LLMGW_SCAN_OK;
}

/* camelCase or snake_case, as Gemini's API accepts either */
static llmgw_json_view either(llmgw_json_view camel, llmgw_json_view snake)
{
    return llmgw_view_present(camel) ? camel : snake;
}

static llmgw_scan_status walk_gemini(walk *w, llmgw_json_view root, int depth)
{
    llmgw_scan_status st;
    static const llmgw_view_name names[] = {
        LLMGW_VIEW_NAME("contents"), LLMGW_VIEW_NAME("systemInstruction"),
        LLMGW_VIEW_NAME("system_instruction"), LLMGW_VIEW_NAME("content"),
        LLMGW_VIEW_NAME("requests"), LLMGW_VIEW_NAME("generateContentRequest"),
        LLMGW_VIEW_NAME("generate_content_request")};
    static const int tr[] = {LLMGW_TR_CONTENTS, LLMGW_TR_SYS_INSTR, LLMGW_TR_SYS_INSTR_S,
                             LLMGW_TR_CONTENT, LLMGW_TR_REQUESTS, LLMGW_TR_GCR, LLMGW_TR_GCR_S};
    llmgw_json_view m[7], c;
    if (depth > 0) {
        walk inner = *w;                /* a nested request: no spans for its members */
        inner.roots = NULL;
        root_members(&inner, root, names, tr, 7, m);
    } else {
        root_members(w, root, names, tr, 7, m);
    }
    for (llmgw_view_iter it = llmgw_view_items(m[0]); llmgw_view_next(&it, &c);)
        if ((st = walk_gemini_content(w, c)) != LLMGW_SCAN_OK)
            return st;
    if ((st = walk_gemini_content(w, either(m[1], m[2]))) != LLMGW_SCAN_OK ||
        (st = walk_gemini_content(w, m[3])) != LLMGW_SCAN_OK || depth > 0)
        return st;
    for (llmgw_view_iter it = llmgw_view_items(m[4]); llmgw_view_next(&it, &c);)
        if ((st = walk_gemini(w, c, 1)) != LLMGW_SCAN_OK)      /* batchEmbedContents */
            return st;
    /* countTokens may wrap a whole generateContent request */
    return walk_gemini(w, either(m[5], m[6]), 1);
}

/* A value as a JSON string token: quotes, and escapes only where JSON needs them. */
static char *put_json_string(char *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20) {
            *p++ = '\\';
            switch (c) {
            case '\n': *p++ = 'n'; break;
            case '\r': *p++ = 'r'; break;
            case '\t': *p++ = 't'; break;
            default:
                *p++ = 'u', *p++ = '0', *p++ = '0';
                *p++ = hex[c >> 4], *p++ = hex[c & 15];
            }
        } else {
            *p++ = (char)c;
        }
    }
    *p++ = '"';
    return p;
}

/* The body with every edit applied, in text order. */
static char *apply_edits(walk *w, size_t len, size_t *out_len)
{
    edit *e = w->edits;
    size_t room = len + 1;
    for (size_t i = 1; i < w->nedits; i++)          /* a handful: insertion sort */
        for (size_t j = i; j > 0 && e[j - 1].off > e[j].off; j--) {
            edit t = e[j];
            e[j] = e[j - 1];
            e[j - 1] = t;
        }
    for (size_t i = 0; i < w->nedits; i++)
        room += 6 * e[i].text_len + 2;
    char *out = w->s->alloc->fn(w->s->alloc->ctx, room), *p = out;
    if (!out)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < w->nedits; i++) {
        memcpy(p, w->body + at, e[i].off - at);
        p = put_json_string(p + (e[i].off - at), e[i].text, e[i].text_len);
        at = e[i].off + e[i].len;
    }
    memcpy(p, w->body + at, len - at);
    p += len - at;
    *p = '\0';
    *out_len = (size_t)(p - out);
    return out;
}

llmgw_scan_status llmgw_scan_request(llmgw_scan *s, llmgw_ptype t, const char *body,
                                     size_t len, const char **out, size_t *out_len)
{
    return llmgw_scan_request_at(s, t, body, len, NULL, out, out_len);
}

llmgw_scan_status llmgw_scan_request_at(llmgw_scan *s, llmgw_ptype t, const char *body,
                                        size_t len, const llmgw_json_span *roots,
                                        const char **out, size_t *out_len)
{
    walk w = {s, body, NULL, 0, 0, roots};
    llmgw_json_view root = llmgw_view_of(body, len);
    llmgw_scan_status st = LLMGW_SCAN_OK;
    *out = body;
    *out_len = len;
    if (!llmgw_view_is(root, LLMGW_VIEW_OBJECT) || !s->rules ||
        (!s->rules->nblock && !s->rules->nredact))
        return LLMGW_SCAN_OK;
    if (t == LLMGW_PT_ANTHROPIC)
        st = walk_anthropic(&w, root);
    else if (t == LLMGW_PT_GEMINI)
        st = walk_gemini(&w, root, 0);
    else if (t != LLMGW_PT_HTTP && t != LLMGW_PT_COUNT)
        st = walk_openai(&w, root);
    if (st != LLMGW_SCAN_OK || !w.nedits)
        return st;
    char *nb = apply_edits(&w, len, out_len);
    if (!nb)
        return fail(s, NULL, 0);
    *out = nb;
    return LLMGW_SCAN_OK;
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
