/* test_sse.c — cmocka tests for the incremental SSE parser (llmgw_sse): every split
 * point of a multi-event stream, CR/LF/CRLF line ends across feeds, comments, fields,
 * dispatch rules, oversized events and exact event offsets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llmgw_sse.h"

/* ---- test allocator: records every block so the test can free them ------------ */

typedef struct {
    void *ptrs[64];
    size_t sizes[64];
    int n;
    int fail_next;   /* next N allocations return NULL */
} arena;

static void *arena_alloc(void *ctx, size_t n)
{
    arena *a = ctx;
    if (a->fail_next > 0) {
        a->fail_next--;
        return NULL;
    }
    assert_true(a->n < 64);
    void *p = malloc(n);
    assert_non_null(p);
    a->ptrs[a->n] = p;
    a->sizes[a->n++] = n;
    return p;
}

static void arena_free(arena *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    a->n = 0;
}

/* ---- event sink ------------------------------------------------------------------ */

typedef struct {
    char event[LLMGW_SSE_EVENT_MAX + 1];
    char data[8192];
    size_t dlen;
    uint64_t start, end;
} rec;

typedef struct {
    rec ev[32];
    int n;
} sink;

static void on_event(void *baton, const char *event, size_t elen, const char *data,
                     size_t dlen, uint64_t start, uint64_t end)
{
    sink *s = baton;
    assert_true(s->n < 32);
    assert_true(elen <= LLMGW_SSE_EVENT_MAX);
    assert_true(dlen < sizeof(s->ev[0].data));
    rec *r = &s->ev[s->n++];
    memcpy(r->event, event, elen);
    r->event[elen] = '\0';
    memcpy(r->data, data, dlen);
    r->data[dlen] = '\0';
    r->dlen = dlen;
    r->start = start;
    r->end = end;
}

typedef struct {
    arena a;
    sink s;
    llmgw_sse p;
} fixture;

static void fx_init(fixture *f, size_t cap)
{
    memset(f, 0, sizeof(*f));
    llmgw_sse_init(&f->p, cap, arena_alloc, &f->a, on_event, &f->s);
}

static void feed_str(fixture *f, const char *s)
{
    llmgw_sse_feed(&f->p, s, strlen(s));
}

/* ---- the reference stream: blocks, each one event (dispatched or not) ------------ */

typedef struct {
    const char *raw;     /* the bytes of the block, terminator included */
    const char *event;   /* expected type, NULL when not dispatched */
    const char *data;
} block;

static const block blocks[] = {
    {": keepalive comment\n\n", NULL, NULL},
    {"event: message_start\ndata: {\"type\":\"message_start\"}\n\n", "message_start",
     "{\"type\":\"message_start\"}"},
    {"data: line1\r\ndata:line2\r\n\r\n", "message", "line1\nline2"},
    {"id: 7\nretry: 100\ndata:  two spaces\n\n", "message", " two spaces"},
    {"event: nodata\n\n", NULL, NULL},
    {"data\n\n", "message", ""},
    {"data:\ndata:\n\n", "message", "\n"},
    {"data: cr only\r\r", "message", "cr only"},
    {": c\nevent: a\nevent: b\ndata: last type wins\n\n", "b", "last type wins"},
    {"unknown: x\ndata: colon: inside\n\n", "message", "colon: inside"},
    {"data: [DONE]\r\n\r\n", "message", "[DONE]"},
    {"event:\ndata: empty type\n\n", "message", "empty type"},
    {"\n", NULL, NULL},
    {"data: mixed\r\ndata: ends\n\r", "message", "mixed\nends"},
    {"event: tail\ndata: t\n\n", "tail", "t"},
};
#define NBLOCKS (sizeof(blocks) / sizeof(blocks[0]))

static size_t build_stream(char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NBLOCKS; i++) {
        size_t l = strlen(blocks[i].raw);
        assert_true(n + l < cap);
        memcpy(out + n, blocks[i].raw, l);
        n += l;
    }
    out[n] = '\0';
    return n;
}

/* Compares the sink with the dispatched blocks, offsets included. */
static void check_reference(const sink *s)
{
    uint64_t off = 0;
    int k = 0;
    for (size_t i = 0; i < NBLOCKS; i++) {
        uint64_t len = strlen(blocks[i].raw);
        if (blocks[i].event) {
            assert_true(k < s->n);
            assert_string_equal(s->ev[k].event, blocks[i].event);
            assert_string_equal(s->ev[k].data, blocks[i].data);
            assert_int_equal(s->ev[k].dlen, strlen(blocks[i].data));
            assert_int_equal(s->ev[k].start, off);
            assert_int_equal(s->ev[k].end, off + len);
            k++;
        }
        off += len;
    }
    assert_int_equal(s->n, k);
}

/* Feeds the stream cut at the given split points (ascending, within the stream). */
static void run_split(const char *st, size_t len, const size_t *cuts, int ncuts)
{
    fixture f;
    size_t prev = 0;
    fx_init(&f, 4096);
    for (int i = 0; i <= ncuts; i++) {
        size_t next = i < ncuts ? cuts[i] : len;
        llmgw_sse_feed(&f.p, st + prev, next - prev);
        prev = next;
    }
    llmgw_sse_finish(&f.p);
    check_reference(&f.s);
    assert_int_equal(f.p.dropped, 0);
    arena_free(&f.a);
}

static void test_whole_stream(void **state)
{
    char st[2048];
    size_t len = build_stream(st, sizeof(st));
    run_split(st, len, NULL, 0);
}

static void test_one_byte_at_a_time(void **state)
{
    char st[2048];
    size_t len = build_stream(st, sizeof(st));
    fixture f;
    fx_init(&f, 4096);
    for (size_t i = 0; i < len; i++)
        llmgw_sse_feed(&f.p, st + i, 1);
    llmgw_sse_finish(&f.p);
    check_reference(&f.s);
    arena_free(&f.a);
}

static void test_every_two_way_split(void **state)
{
    char st[2048];
    size_t len = build_stream(st, sizeof(st));
    for (size_t cut = 0; cut <= len; cut++)
        run_split(st, len, &cut, 1);
}

static void test_three_way_splits(void **state)
{
    char st[2048];
    size_t len = build_stream(st, sizeof(st));
    for (size_t a = 0; a <= len; a += 3)
        for (size_t b = a; b <= len; b += 5) {
            size_t cuts[2] = {a, b};
            run_split(st, len, cuts, 2);
        }
}

static void test_empty_feeds_are_harmless(void **state)
{
    char st[2048];
    size_t len = build_stream(st, sizeof(st));
    fixture f;
    fx_init(&f, 4096);
    for (size_t i = 0; i < len; i++) {
        llmgw_sse_feed(&f.p, st + i, 0);
        llmgw_sse_feed(&f.p, st + i, 1);
    }
    llmgw_sse_finish(&f.p);
    check_reference(&f.s);
    arena_free(&f.a);
}

/* ---- line endings ------------------------------------------------------------------ */

static void test_crlf_split_across_feeds(void **state)
{
    fixture f;
    fx_init(&f, 0);
    feed_str(&f, "data: a\r");
    feed_str(&f, "\n\r");
    assert_int_equal(f.s.n, 0);           /* the LF after this CR may still come */
    assert_int_equal(llmgw_sse_pending_start(&f.p), 0);
    feed_str(&f, "\n");
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].data, "a");
    assert_int_equal(f.s.ev[0].start, 0);
    assert_int_equal(f.s.ev[0].end, 11);  /* "data: a\r\n\r\n" */
    assert_int_equal(llmgw_sse_pending_start(&f.p), 11);
    feed_str(&f, "data: b\r\n\r\n");
    assert_int_equal(f.s.n, 2);
    assert_string_equal(f.s.ev[1].data, "b");
    assert_int_equal(f.s.ev[1].start, 11);
    assert_int_equal(f.s.ev[1].end, 22);
    arena_free(&f.a);
}

static void test_cr_only_stream(void **state)
{
    fixture f;
    fx_init(&f, 0);
    feed_str(&f, "event: e\rdata: 1\rdata: 2\r\rdata: 3\r\r");
    /* the last blank CR waits for a possible LF */
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].event, "e");
    assert_string_equal(f.s.ev[0].data, "1\n2");
    assert_int_equal(f.s.ev[0].end, 26);
    llmgw_sse_finish(&f.p);
    assert_int_equal(f.s.n, 2);
    assert_string_equal(f.s.ev[1].data, "3");
    assert_int_equal(f.s.ev[1].start, 26);
    assert_int_equal(f.s.ev[1].end, 35);
    arena_free(&f.a);
}

static void test_cr_then_other_byte_next_feed(void **state)
{
    fixture f;
    fx_init(&f, 0);
    feed_str(&f, "data: x\r\r");
    assert_int_equal(f.s.n, 0);
    feed_str(&f, "data: y\n\n");
    assert_int_equal(f.s.n, 2);
    assert_int_equal(f.s.ev[0].end, 9);   /* no LF was swallowed */
    assert_int_equal(f.s.ev[1].start, 9);
    assert_int_equal(f.s.ev[1].end, 18);
    arena_free(&f.a);
}

static void test_lf_after_cr_line_not_blank_line(void **state)
{
    /* "\r" | "\n" is one line end, not two: no blank line, no dispatch */
    fixture f;
    fx_init(&f, 0);
    feed_str(&f, "data: a\r");
    feed_str(&f, "\n");
    assert_int_equal(f.s.n, 0);
    feed_str(&f, "data: b\n");
    assert_int_equal(f.s.n, 0);
    feed_str(&f, "\n");
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].data, "a\nb");
    arena_free(&f.a);
}

/* ---- fields and dispatch rules -------------------------------------------------------- */

static void test_comments_ignored(void **state)
{
    fixture f;
    fx_init(&f, 0);
    feed_str(&f, ":\n: ping\n\n:data: no\ndata: yes\n: between\n\n");
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].data, "yes");
    assert_int_equal(f.s.ev[0].start, 10);
    arena_free(&f.a);
}

static void test_multiline_data_joined(void **state)
{
    fixture f;
    fx_init(&f, 0);
    feed_str(&f, "data: {\ndata: \"a\": 1\ndata:}\n\n");
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].data, "{\n\"a\": 1\n}");
    arena_free(&f.a);
}

static void test_event_without_data_not_dispatched(void **state)
{
    fixture f;
    fx_init(&f, 0);
    feed_str(&f, "event: ping\n\nevent: x\nid: 1\n\n");
    assert_int_equal(f.s.n, 0);
    assert_int_equal(f.p.dispatched, 0);
    /* the type does not leak into the next event */
    feed_str(&f, "data: d\n\n");
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].event, "message");
    assert_int_equal(f.s.ev[0].start, 29);
    arena_free(&f.a);
}

static void test_only_one_space_stripped(void **state)
{
    fixture f;
    fx_init(&f, 0);
    feed_str(&f, "event:  sp\ndata:\tx \n\n");
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].event, " sp");
    assert_string_equal(f.s.ev[0].data, "\tx ");
    arena_free(&f.a);
}

static void test_unterminated_event_discarded_at_finish(void **state)
{
    fixture f;
    fx_init(&f, 0);
    feed_str(&f, "data: a\n\ndata: b\n");
    assert_int_equal(f.s.n, 1);
    assert_int_equal(llmgw_sse_pending_start(&f.p), 9);
    llmgw_sse_finish(&f.p);
    assert_int_equal(f.s.n, 1);
    assert_int_equal(llmgw_sse_pending_start(&f.p), 17);
    feed_str(&f, "\n");                   /* after finish: ignored */
    assert_int_equal(f.s.n, 1);
    arena_free(&f.a);
}

static void test_pending_start_tracks_events(void **state)
{
    fixture f;
    fx_init(&f, 0);
    assert_int_equal(llmgw_sse_pending_start(&f.p), 0);
    feed_str(&f, ": hi\n");
    assert_int_equal(llmgw_sse_pending_start(&f.p), 0);
    feed_str(&f, "\n");
    assert_int_equal(llmgw_sse_pending_start(&f.p), 6);
    feed_str(&f, "data: x");
    assert_int_equal(llmgw_sse_pending_start(&f.p), 6);
    feed_str(&f, "\n\n");
    assert_int_equal(llmgw_sse_pending_start(&f.p), 15);
    assert_int_equal(f.p.off, 15);
    arena_free(&f.a);
}

/* Removing [start, end) of one event leaves a stream that parses to the others:
 * what the module does to hide the usage-only chunk. */
static void test_offsets_cut_out_event(void **state)
{
    const char *st = "data: {\"choices\":[{}]}\n\n"
                     "data: {\"choices\":[],\"usage\":{}}\r\n\r\n"
                     "data: [DONE]\n\n";
    fixture f;
    fx_init(&f, 0);
    feed_str(&f, st);
    assert_int_equal(f.s.n, 3);
    char cut[256];
    size_t a = f.s.ev[1].start, b = f.s.ev[1].end, len = strlen(st);
    memcpy(cut, st, a);
    memcpy(cut + a, st + b, len - b);
    cut[len - (b - a)] = '\0';
    assert_string_equal(cut, "data: {\"choices\":[{}]}\n\ndata: [DONE]\n\n");
    arena_free(&f.a);
}

/* ---- buffer growth, cap, oversized events ---------------------------------------------- */

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_buffer_grows_by_doubling(void **state)
{
    fixture f;
    char *big = repeat('x', 3000);
    fx_init(&f, 8192);
    assert_int_equal(f.a.n, 0);           /* nothing allocated up front */
    feed_str(&f, "data: ");
    for (int i = 0; i < 30; i++)
        llmgw_sse_feed(&f.p, big + 100 * i, 100);
    feed_str(&f, "\n\n");
    assert_int_equal(f.s.n, 1);
    assert_int_equal(f.s.ev[0].dlen, 3000);
    assert_memory_equal(f.s.ev[0].data, big, 3000);
    assert_int_equal(f.a.n, 3);
    assert_int_equal(f.a.sizes[0], 1024);
    assert_int_equal(f.a.sizes[1], 2048);
    assert_int_equal(f.a.sizes[2], 4096);
    /* the buffer is reused: a second event of the same size allocates nothing */
    feed_str(&f, "data: ");
    feed_str(&f, big);
    feed_str(&f, "\n\n");
    assert_int_equal(f.s.n, 2);
    assert_int_equal(f.a.n, 3);
    free(big);
    arena_free(&f.a);
}

static void test_growth_jumps_to_needed_power_of_two(void **state)
{
    fixture f;
    char *big = repeat('x', 5000);
    fx_init(&f, 6000);
    feed_str(&f, "data: ");
    feed_str(&f, big);                    /* 5006 bytes: 1024 → (8192 capped) 6000 */
    feed_str(&f, "\n\n");
    assert_int_equal(f.s.n, 1);
    assert_int_equal(f.a.n, 2);
    assert_int_equal(f.a.sizes[0], 1024);
    assert_int_equal(f.a.sizes[1], 6000);
    free(big);
    arena_free(&f.a);
}

static void test_oversized_event_dropped_then_recovery(void **state)
{
    char *big = repeat('y', 5000);
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        fixture f;
        fx_init(&f, 2048);
        char st[6000];
        int n = snprintf(st, sizeof(st), "data: ok1\n\nevent: big\ndata: %s\ndata: more\n\n"
                         "data: ok2\n\n", big);
        if (bytewise) {
            for (int i = 0; i < n; i++)
                llmgw_sse_feed(&f.p, st + i, 1);
        } else {
            llmgw_sse_feed(&f.p, st, (size_t)n);
        }
        assert_int_equal(f.p.dropped, 1);
        assert_int_equal(f.s.n, 2);
        assert_string_equal(f.s.ev[0].data, "ok1");
        assert_string_equal(f.s.ev[1].data, "ok2");
        assert_string_equal(f.s.ev[1].event, "message");   /* "big" type forgotten */
        assert_int_equal(f.s.ev[1].start, (uint64_t)n - 11);
        for (int i = 0; i < f.a.n; i++)
            assert_true(f.a.sizes[i] <= 2048);
        arena_free(&f.a);
    }
    free(big);
}

static void test_many_lines_exceed_cap(void **state)
{
    fixture f;
    fx_init(&f, 1024);
    for (int i = 0; i < 200; i++)
        feed_str(&f, "data: 0123456789\n");    /* 200 x 11 bytes of data > 1024 */
    feed_str(&f, "\ndata: after\n\n");
    assert_int_equal(f.p.dropped, 1);
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].data, "after");
    arena_free(&f.a);
}

static void test_exactly_at_cap_fits(void **state)
{
    /* cap bounds data plus the raw line: "data: " + 1018 bytes = 1024 */
    fixture f;
    char *v = repeat('z', 1018);
    fx_init(&f, 1024);
    feed_str(&f, "data: ");
    feed_str(&f, v);
    feed_str(&f, "\n\n");
    assert_int_equal(f.s.n, 1);
    assert_int_equal(f.s.ev[0].dlen, 1018);
    assert_int_equal(f.p.dropped, 0);
    feed_str(&f, "data: z");
    feed_str(&f, v);
    feed_str(&f, "\n\n");
    assert_int_equal(f.s.n, 1);
    assert_int_equal(f.p.dropped, 1);
    free(v);
    arena_free(&f.a);
}

static void test_huge_comment_skipped_not_dropped(void **state)
{
    fixture f;
    char *pad = repeat('p', 5000);
    fx_init(&f, 1024);
    feed_str(&f, "data: keep\n:");
    feed_str(&f, pad);
    feed_str(&f, "\nid: ");
    feed_str(&f, pad);
    feed_str(&f, "\ndata: me\n\n");
    assert_int_equal(f.p.dropped, 0);
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].data, "keep\nme");
    free(pad);
    arena_free(&f.a);
}

/* A line that does not fit is skipped or drops the event according to its field name,
 * and that name may arrive in pieces: how the stream is fragmented must not change the
 * outcome (tests/fuzz/regressions/sse_usage). The event holds 1020 bytes of data when
 * the extra line starts, so none of it fits into the 1024-byte cap. */
static void fill_1020(fixture *f, char *x)
{
    fx_init(f, 1024);
    feed_str(f, "data: ");
    feed_str(f, x);
    feed_str(f, "\ndata:y\ndata:y\ndata:y\ndata:y\n");
}

static void test_unbuffered_line_name_split_across_feeds(void **state)
{
    char *x = repeat('x', 1012);
    for (int split = 0; split < 2; split++) {
        fixture f;
        /* an unknown field: skipped, the event survives */
        fill_1020(&f, x);
        if (split) {
            feed_str(&f, "retry");
            feed_str(&f, ": 1\n\n");
        } else {
            feed_str(&f, "retry: 1\n\n");
        }
        assert_int_equal(f.p.dropped, 0);
        assert_int_equal(f.s.n, 1);
        assert_int_equal(f.s.ev[0].dlen, 1020);
        arena_free(&f.a);
        /* a data line: the event no longer fits and is dropped */
        fill_1020(&f, x);
        if (split) {
            feed_str(&f, "da");
            feed_str(&f, "ta: z\n\n");
        } else {
            feed_str(&f, "data: z\n\n");
        }
        assert_int_equal(f.p.dropped, 1);
        assert_int_equal(f.s.n, 0);
        arena_free(&f.a);
        /* a short line with no colon: "event" sets an empty type, "data" needs 1 byte */
        fill_1020(&f, x);
        feed_str(&f, split ? "eve" : "event");
        feed_str(&f, split ? "nt\n\n" : "\n\n");
        assert_int_equal(f.p.dropped, 0);
        assert_int_equal(f.s.n, 1);
        assert_string_equal(f.s.ev[0].event, "message");
        arena_free(&f.a);
    }
    free(x);
}

static void test_long_event_type_dropped(void **state)
{
    fixture f;
    char *name = repeat('n', LLMGW_SSE_EVENT_MAX + 1);
    fx_init(&f, 0);
    feed_str(&f, "event: ");
    feed_str(&f, name);
    feed_str(&f, "\ndata: x\n\n");
    assert_int_equal(f.s.n, 0);
    assert_int_equal(f.p.dropped, 1);
    name[LLMGW_SSE_EVENT_MAX] = '\0';  /* exactly the maximum is kept */
    feed_str(&f, "event: ");
    feed_str(&f, name);
    feed_str(&f, "\ndata: x\n\n");
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].event, name);
    free(name);
    arena_free(&f.a);
}

static void test_allocation_failure_drops_event(void **state)
{
    fixture f;
    fx_init(&f, 0);
    f.a.fail_next = 1;
    feed_str(&f, "data: lost\n\ndata: found\n\n");
    assert_int_equal(f.p.dropped, 1);
    assert_int_equal(f.s.n, 1);
    assert_string_equal(f.s.ev[0].data, "found");
    assert_int_equal(f.s.ev[0].start, 12);
    arena_free(&f.a);
}

static void test_no_allocator_no_crash(void **state)
{
    llmgw_sse p;
    sink s;
    memset(&s, 0, sizeof(s));
    llmgw_sse_init(&p, 0, NULL, NULL, on_event, &s);
    llmgw_sse_feed(&p, "data: x\n\n", 9);
    assert_int_equal(s.n, 0);
    assert_int_equal(p.dropped, 1);
    assert_int_equal(llmgw_sse_pending_start(&p), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_stream),
        cmocka_unit_test(test_one_byte_at_a_time),
        cmocka_unit_test(test_every_two_way_split),
        cmocka_unit_test(test_three_way_splits),
        cmocka_unit_test(test_empty_feeds_are_harmless),
        cmocka_unit_test(test_crlf_split_across_feeds),
        cmocka_unit_test(test_cr_only_stream),
        cmocka_unit_test(test_cr_then_other_byte_next_feed),
        cmocka_unit_test(test_lf_after_cr_line_not_blank_line),
        cmocka_unit_test(test_comments_ignored),
        cmocka_unit_test(test_multiline_data_joined),
        cmocka_unit_test(test_event_without_data_not_dispatched),
        cmocka_unit_test(test_only_one_space_stripped),
        cmocka_unit_test(test_unterminated_event_discarded_at_finish),
        cmocka_unit_test(test_pending_start_tracks_events),
        cmocka_unit_test(test_offsets_cut_out_event),
        cmocka_unit_test(test_buffer_grows_by_doubling),
        cmocka_unit_test(test_growth_jumps_to_needed_power_of_two),
        cmocka_unit_test(test_oversized_event_dropped_then_recovery),
        cmocka_unit_test(test_many_lines_exceed_cap),
        cmocka_unit_test(test_exactly_at_cap_fits),
        cmocka_unit_test(test_huge_comment_skipped_not_dropped),
        cmocka_unit_test(test_unbuffered_line_name_split_across_feeds),
        cmocka_unit_test(test_long_event_type_dropped),
        cmocka_unit_test(test_allocation_failure_drops_event),
        cmocka_unit_test(test_no_allocator_no_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
