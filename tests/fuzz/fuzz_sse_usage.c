/* fuzz_sse_usage.c — the streaming response path as the observer filter drives it: the
 * SSE parser fed in arbitrary fragments, every dispatched event handed to the usage
 * extraction, the completion-text extraction and the usage-only-chunk test.
 *
 * Input: [provider type][cap selector][split seed x2] stream bytes...
 * Invariants checked (abort = finding):
 *  - feeding the stream in fragments dispatches exactly the events (type, data,
 *    offsets) that feeding it in one piece does;
 *  - event offsets are increasing, non-overlapping and inside the stream; data never
 *    exceeds the cap;
 *  - token figures stay in [0, LLMGW_TOKENS_MAX]; the completion text stays within its
 *    buffer, NUL-terminated;
 *  - every event updates the usage exactly as the jansson implementation the views
 *    replaced (usage_reference.h) does, and the usage-only-chunk verdicts agree. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* memmem, in the reference */
#endif
#include "fuzz_common.h"

#include "llmgw_completion.h"
#include "llmgw_sse.h"
#include "llmgw_usage.h"
#include "usage_reference.h"

typedef struct {
    char *event, *data;
    size_t elen, dlen;
    uint64_t start, end;
} ev;

typedef struct {
    ev *evs;
    size_t n, cap;
    size_t parser_cap;
    uint64_t stream_len;
    /* second pass: compare against the first, and feed the extractors */
    int compare;
    size_t next;
    llmgw_ptype type;
    llmgw_usage usage;
    llmgw_text text;
    uint64_t last_end;
} sink;

static void check_usage(const llmgw_usage *u)
{
    const int64_t *f[] = {&u->prompt, &u->completion, &u->cached, &u->cache_write,
                          &u->cache_write_1h, &u->reasoning, &u->raw_input};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        FUZZ_CHECK(*f[i] >= 0 && *f[i] <= LLMGW_TOKENS_MAX, "field %zu = %lld", i,
                   (long long)*f[i]);
    FUZZ_CHECK(memchr(u->model, '\0', sizeof u->model) != NULL, "model not terminated");
    FUZZ_CHECK(memchr(u->response_id, '\0', sizeof u->response_id) != NULL, "id not terminated");
}

static void on_event(void *baton, const char *event, size_t elen, const char *data,
                     size_t dlen, uint64_t start, uint64_t end)
{
    sink *s = baton;
    FUZZ_CHECK(elen > 0 && elen <= LLMGW_SSE_EVENT_MAX, "elen %zu", elen);
    FUZZ_CHECK(dlen <= s->parser_cap, "data %zu over cap %zu", dlen, s->parser_cap);
    FUZZ_CHECK(start < end && end <= s->stream_len, "range [%llu,%llu) of %llu",
               (unsigned long long)start, (unsigned long long)end,
               (unsigned long long)s->stream_len);
    FUZZ_CHECK(start >= s->last_end, "event at %llu overlaps the previous one ending %llu",
               (unsigned long long)start, (unsigned long long)s->last_end);
    s->last_end = end;
    if (!s->compare) {
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 16;
            s->evs = realloc(s->evs, s->cap * sizeof *s->evs);
            if (!s->evs)
                abort();
        }
        ev *e = &s->evs[s->n++];
        e->event = fuzz_dup_exact((const uint8_t *)event, elen);
        e->data = fuzz_dup_exact((const uint8_t *)data, dlen);
        e->elen = elen;
        e->dlen = dlen;
        e->start = start;
        e->end = end;
        return;
    }
    FUZZ_CHECK(s->next < s->n, "fragmented feed dispatched more events (%zu)", s->n);
    const ev *e = &s->evs[s->next++];
    FUZZ_CHECK(e->elen == elen && !memcmp(e->event, event, elen) && e->dlen == dlen &&
               !memcmp(e->data, data, dlen) && e->start == start && e->end == end,
               "event %zu differs when the stream is fragmented", s->next - 1);
    /* the extractors see data exactly as long as dlen: a heap copy catches overreads */
    char *d = fuzz_dup_exact((const uint8_t *)data, dlen);
    llmgw_usage ref = s->usage;
    llmgw_usage_from_event(s->type, event, elen, d, dlen, &s->usage);
    check_usage(&s->usage);
    ref_usage_from_event(s->type, event, elen, d, dlen, &ref);
    FUZZ_CHECK(!memcmp(&ref, &s->usage, sizeof ref), "event %zu: usage differs from the "
               "jansson reference (prompt %lld/%lld, completion %lld/%lld, model %s/%s)",
               s->next - 1, (long long)s->usage.prompt, (long long)ref.prompt,
               (long long)s->usage.completion, (long long)ref.completion, s->usage.model,
               ref.model);
    llmgw_completion_from_event(s->type, event, elen, d, dlen, &s->text);
    FUZZ_CHECK(s->text.len < s->text.cap && s->text.buf[s->text.len] == '\0', "text bounds");
    FUZZ_CHECK(llmgw_usage_is_usage_only_chunk(d, dlen) ==
               ref_usage_is_usage_only_chunk(d, dlen), "usage-only verdicts differ");
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    llmgw_ptype type = (llmgw_ptype)(fuzz_byte(&in) % LLMGW_PT_COUNT);
    static const size_t caps[] = {0, 1024, 1500, 4096, 65536};
    size_t cap = caps[fuzz_byte(&in) % 5];
    uint32_t seed = fuzz_u16(&in) | 1u;
    const char *stream = (const char *)in.p;
    size_t len = in.n;

    fuzz_arena arena = {0};
    sink s = {0};
    llmgw_sse p;
    s.stream_len = len;

    /* pass 1: the whole stream in one feed */
    llmgw_sse_init(&p, cap, fuzz_arena_alloc, &arena, on_event, &s);
    s.parser_cap = p.cap;
    llmgw_sse_feed(&p, stream, len);
    llmgw_sse_finish(&p);
    FUZZ_CHECK(llmgw_sse_pending_start(&p) <= len, "pending start past the end");
    uint64_t dispatched = p.dispatched, dropped = p.dropped;
    fuzz_arena_free(&arena);

    /* pass 2: fragments of pseudo-random length (1..64 bytes, sometimes 0) */
    s.compare = 1;
    s.last_end = 0;
    s.type = type;
    llmgw_usage_init(&s.usage);
    char textbuf[97];
    llmgw_text_init(&s.text, textbuf, 1 + seed % 96);
    llmgw_sse_init(&p, cap, fuzz_arena_alloc, &arena, on_event, &s);
    size_t off = 0;
    while (off < len) {
        seed = seed * 1103515245u + 12345u;
        size_t k = (seed >> 16) % 65;
        if (k > len - off)
            k = len - off;
        llmgw_sse_feed(&p, stream + off, k);
        FUZZ_CHECK(llmgw_sse_pending_start(&p) <= off + k, "pending start ahead of input");
        off += k;
    }
    llmgw_sse_finish(&p);
    FUZZ_CHECK(s.next == s.n, "fragmented feed dispatched %zu of %zu events", s.next, s.n);
    FUZZ_CHECK(p.dispatched == dispatched && p.dropped == dropped, "counters differ");
    check_usage(&s.usage);
    (void)llmgw_usage_total(&s.usage);

    fuzz_arena_free(&arena);
    for (size_t i = 0; i < s.n; i++) {
        free(s.evs[i].event);
        free(s.evs[i].data);
    }
    free(s.evs);
    return 0;
}
