/* llmgw_sse.c — incremental Server-Sent-Events parser: splits the stream into lines
 * (LF, CRLF or CR, also when CR and LF arrive in different feeds), applies the
 * event:/data: fields and dispatches on blank lines with exact stream offsets.
 * Memory comes only from the caller's allocator. Part of libllmgw. */
#include "llmgw_sse.h"

#include <string.h>

void llmgw_sse_init(llmgw_sse *p, size_t cap, llmgw_alloc_fn alloc, void *alloc_ctx,
                    llmgw_sse_event_fn on_event, void *baton)
{
    memset(p, 0, sizeof(*p));
    p->alloc = alloc;
    p->alloc_ctx = alloc_ctx;
    p->on_event = on_event;
    p->baton = baton;
    p->cap = cap < LLMGW_SSE_INITIAL_BUF ? LLMGW_SSE_INITIAL_BUF : cap;
}

/* Makes room for need buffered bytes. The old buffer is abandoned, not freed: the
 * allocator is pool-backed, and doubling keeps the total waste below 2x. */
static int ensure(llmgw_sse *p, size_t need)
{
    if (need <= p->size)
        return 1;
    if (need > p->cap || !p->alloc)
        return 0;
    size_t n = p->size ? p->size : LLMGW_SSE_INITIAL_BUF;
    while (n < need)
        n = n > p->cap / 2 ? p->cap : n * 2;
    char *nb = p->alloc(p->alloc_ctx, n);
    if (!nb)
        return 0;
    if (p->data_len + p->line_len)
        memcpy(nb, p->buf, p->data_len + p->line_len);
    p->buf = nb;
    p->size = n;
    return 1;
}

/* Forgets the pending event; the next one starts at offset start. */
static void reset_event(llmgw_sse *p, uint64_t start)
{
    p->data_len = 0;
    p->line_len = 0;
    p->event_len = 0;
    p->has_data = 0;
    p->dropping = 0;
    p->deferred = 0;
    p->ev_start = start;
}

/* Blank line seen (and any LF after its CR consumed): deliver or count the event. */
static void end_event(llmgw_sse *p, uint64_t end)
{
    if (p->dropping) {
        p->dropped++;
    } else if (p->has_data) {
        const char *ev = p->event_len ? p->event : "message";
        size_t elen = p->event_len ? p->event_len : 7;
        p->dispatched++;
        if (p->on_event)
            p->on_event(p->baton, ev, elen, p->buf, p->data_len, p->ev_start, end);
    }
    reset_event(p, end);
}

/* The event cannot be buffered within the cap: discard it up to its blank line. */
static void start_dropping(llmgw_sse *p)
{
    p->dropping = 1;
    p->data_len = 0;
    p->line_len = 0;
}

/* A line that will not fit may still be harmless to skip: comments and fields other
 * than data/event do not change the event. The decision needs the line's first bytes
 * (up to six), which may arrive a few at a time: they are kept in head until the name
 * is known, so that how the stream was fragmented never changes the outcome (a short
 * first fragment used to drop the event; found by tests/fuzz/fuzz_sse_usage). */
static void decide_unbuffered(llmgw_sse *p, const char *s, size_t n)
{
    if (!p->undecided) {
        /* the part of the line already buffered moves to head; the buffer keeps data */
        p->undecided = 1;
        p->head_len = 0;
        for (size_t i = 0; i < p->line_len && p->head_len < sizeof(p->head); i++)
            p->head[p->head_len++] = p->buf[p->data_len + i];
        p->line_len = 0;
    }
    for (size_t i = 0; i < n && p->head_len < sizeof(p->head); i++)
        p->head[p->head_len++] = s[i];
    const char *colon = memchr(p->head, ':', p->head_len);
    int skip;
    if (p->head_len > 0 && p->head[0] == ':')
        skip = 1;                               /* a comment */
    else if (colon) {
        size_t name = (size_t)(colon - p->head);
        skip = !(name == 4 && !memcmp(p->head, "data", 4)) &&
               !(name == 5 && !memcmp(p->head, "event", 5));
    } else if (p->head_len == sizeof(p->head))
        skip = 1;                               /* a name longer than "event" */
    else
        return;                                 /* not known yet */
    p->undecided = 0;
    if (skip)
        p->skip_line = 1;
    else
        start_dropping(p);
}

/* The line ended while its name was still undecided: it is shorter than six bytes and
 * has no colon, so the whole line is a field name with an empty value. */
static void short_unbuffered_line(llmgw_sse *p)
{
    if (p->head_len == 4 && !memcmp(p->head, "data", 4)) {
        if (!p->has_data)
            p->has_data = 1;                    /* empty data: no bytes needed */
        else if (ensure(p, p->data_len + 1))
            p->buf[p->data_len++] = '\n';
        else
            start_dropping(p);
    } else if (p->head_len == 5 && !memcmp(p->head, "event", 5)) {
        p->event_len = 0;
    }
}

/* Adds bytes of the current line (without its terminator) to the buffer. */
static void line_append(llmgw_sse *p, const char *s, size_t n)
{
    p->line_total += n;
    if (n == 0 || p->skip_line || p->dropping)
        return;
    if (!p->undecided && ensure(p, p->data_len + p->line_len + n)) {
        memcpy(p->buf + p->data_len + p->line_len, s, n);
        p->line_len += n;
    } else {
        decide_unbuffered(p, s, n);
    }
}

/* data: value is appended in place: the line sits right after the data, and the
 * value starts at least 5 bytes ("data:") later, so the '\n' joint fits before it. */
static void field_data(llmgw_sse *p, const char *value, size_t vlen)
{
    if (p->has_data)
        p->buf[p->data_len++] = '\n';
    memmove(p->buf + p->data_len, value, vlen);
    p->data_len += vlen;
    p->has_data = 1;
}

static void field_event(llmgw_sse *p, const char *value, size_t vlen)
{
    if (vlen > sizeof(p->event)) {
        start_dropping(p);
        return;
    }
    memcpy(p->event, value, vlen);
    p->event_len = vlen;
}

/* One complete non-blank line, buffered at buf + data_len. */
static void process_line(llmgw_sse *p)
{
    const char *line = p->buf + p->data_len;
    size_t n = p->line_len;
    if (line[0] == ':')
        return;
    const char *colon = memchr(line, ':', n);
    size_t name = colon ? (size_t)(colon - line) : n;
    const char *value = colon ? colon + 1 : line + n;
    size_t vlen = (size_t)(line + n - value);
    if (vlen > 0 && value[0] == ' ') {
        value++;
        vlen--;
    }
    if (name == 4 && !memcmp(line, "data", 4))
        field_data(p, value, vlen);
    else if (name == 5 && !memcmp(line, "event", 5))
        field_event(p, value, vlen);
    /* id, retry and unknown fields do not matter to the gateway */
}

/* A line terminator was consumed (p->off already counts it). */
static void line_end(llmgw_sse *p, int by_cr)
{
    if (p->line_total == 0) {
        if (by_cr) {
            /* an LF may follow in the next feed and belongs to this event */
            p->deferred = 1;
            p->ev_end = p->off;
        } else {
            end_event(p, p->off);
        }
    } else if (p->undecided) {
        short_unbuffered_line(p);
    } else if (!p->skip_line && !p->dropping) {
        process_line(p);
    }
    p->line_len = 0;
    p->line_total = 0;
    p->skip_line = 0;
    p->undecided = 0;
    p->head_len = 0;
}

/* First byte after a CR: swallow it if it is the LF of a CRLF, then deliver an
 * event whose blank line was that CR. Returns the number of bytes consumed. */
static size_t after_cr(llmgw_sse *p, const char *buf, size_t len)
{
    size_t used = 0;
    p->after_cr = 0;
    if (len > 0 && buf[0] == '\n') {
        used = 1;
        p->off++;
        p->ev_end++;
    }
    if (p->deferred)
        end_event(p, p->ev_end);
    return used;
}

void llmgw_sse_feed(llmgw_sse *p, const char *buf, size_t len)
{
    size_t i = 0;
    if (p->finished)
        return;
    if (len > 0 && p->after_cr)
        i = after_cr(p, buf, len);
    while (i < len) {
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        line_append(p, buf + i, j - i);
        p->off += j - i;
        if (j == len)
            break;
        p->off++;
        i = j + 1;
        if (buf[j] == '\r') {
            p->after_cr = 1;
            line_end(p, 1);
            if (i < len)
                i += after_cr(p, buf + i, len - i);
        } else {
            line_end(p, 0);
        }
    }
}

void llmgw_sse_finish(llmgw_sse *p)
{
    if (p->finished)
        return;
    if (p->deferred)
        end_event(p, p->ev_end);
    p->after_cr = 0;
    p->skip_line = 0;
    p->undecided = 0;
    p->head_len = 0;
    p->line_total = 0;
    reset_event(p, p->off);  /* an unterminated event is discarded, per spec */
    p->finished = 1;
}

uint64_t llmgw_sse_pending_start(const llmgw_sse *p)
{
    return p->ev_start;
}
