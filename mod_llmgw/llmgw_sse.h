/* llmgw_sse.h — incremental Server-Sent-Events parser (WHATWG "event stream"
 * interpretation). Owns line splitting, field handling and event dispatch for a
 * stream that arrives in arbitrary fragments. No malloc: the state is a struct the
 * caller allocates, and its buffer grows through a caller-supplied allocator
 * (pool-backed inside httpd, never freed individually).
 * Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_SSE_H
#define LLMGW_SSE_H

#include <stddef.h>
#include <stdint.h>

#define LLMGW_SSE_INITIAL_BUF 1024  /* first buffer size; doubles up to the cap */
#define LLMGW_SSE_EVENT_MAX   128   /* longest event type kept; longer → event dropped */

/* Returns n bytes that stay valid for the life of the parser, or NULL. */
typedef void *(*llmgw_alloc_fn)(void *ctx, size_t n);

/* One dispatched event. event is never empty ("message" when the stream gave no
 * type); data is the data lines joined with '\n' (not NUL-terminated, may be empty).
 * [start_off, end_off) are the stream byte offsets of the event's first byte and one
 * past its terminating blank line, so removing that range removes exactly the event.
 * The pointers are only valid during the call. */
typedef void (*llmgw_sse_event_fn)(void *baton, const char *event, size_t event_len,
                                   const char *data, size_t data_len,
                                   uint64_t start_off, uint64_t end_off);

/* Public so the caller can allocate it; treat the fields as read-only except
 * through the functions below. */
typedef struct llmgw_sse {
    llmgw_alloc_fn alloc;
    void *alloc_ctx;
    llmgw_sse_event_fn on_event;
    void *baton;
    size_t cap;             /* max bytes buffered for one event (data + current line) */

    char *buf;              /* [0,data_len): joined data; then the current raw line */
    size_t size;            /* allocated size of buf */
    size_t data_len;
    size_t line_len;
    uint64_t line_total;    /* length of the current line, also when not buffered */
    char event[LLMGW_SSE_EVENT_MAX];
    size_t event_len;
    char head[6];           /* first bytes of a line that did not fit, until its field
                               name is known (arrival in fragments must not matter) */
    size_t head_len;

    uint64_t off;           /* bytes consumed so far */
    uint64_t ev_start;      /* offset of the pending event's first byte */
    uint64_t ev_end;        /* end offset of an event waiting to be dispatched */

    unsigned has_data : 1;  /* a data: line was seen (data may still be empty) */
    unsigned after_cr : 1;  /* last byte was CR: a following LF belongs to it */
    unsigned deferred : 1;  /* blank line ended in CR: dispatch once LF is ruled out */
    unsigned skip_line : 1; /* rest of current line is ignored (oversized comment etc.) */
    unsigned dropping : 1;  /* current event exceeded the cap: discard until blank line */
    unsigned undecided : 1; /* current line does not fit and its name is not known yet */
    unsigned finished : 1;

    uint64_t dispatched;    /* events delivered to on_event */
    uint64_t dropped;       /* events discarded because they exceeded the cap */
} llmgw_sse;

/* Prepares p. cap is the largest event (data plus one raw line) the parser will
 * buffer; it is raised to at least LLMGW_SSE_INITIAL_BUF. No memory is allocated
 * until the first byte that needs buffering. */
void llmgw_sse_init(llmgw_sse *p, size_t cap, llmgw_alloc_fn alloc, void *alloc_ctx,
                    llmgw_sse_event_fn on_event, void *baton);

/* Consumes len bytes of the stream; calls on_event for each completed event. */
void llmgw_sse_feed(llmgw_sse *p, const char *buf, size_t len);

/* End of stream: dispatches an event whose blank line ended in a bare CR at the
 * very end; an event without its terminating blank line is discarded (per spec). */
void llmgw_sse_finish(llmgw_sse *p);

/* Stream offset where the pending (not yet dispatched) event began; equals the
 * number of bytes consumed when nothing is pending. Bytes before it are settled. */
uint64_t llmgw_sse_pending_start(const llmgw_sse *p);

#endif
