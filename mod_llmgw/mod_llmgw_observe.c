/* mod_llmgw_observe.c — watches responses pass for the provider's usage figures. An
 * output filter just before content-set filters (so ahead of mod_deflate) feeds event
 * streams through the incremental SSE parser and passes every bucket on as it came;
 * JSON answers are parsed at EOS, where they came in one bucket (the usual case) or
 * else copied (bounded) on the way. The one change it makes to a stream: the OpenAI
 * usage chunk we asked for on the client's behalf is cut out.
 * Its state lives in the filter's context and is allocated only for the kind of
 * answer that needs it: what a request allocates beyond the first 8 KB block of its
 * pool costs an allocator call and a cold block per request. */
#include "mod_llmgw.h"

#include "http_protocol.h"
#include "apr_strings.h"
#include "util_filter.h"

#define OBSERVE_FILTER "LLMGW_OBSERVE"
#define MAX_CUTS 4

static ap_filter_rec_t *observe_rec;   /* added by handle: no registry lookup per request */

typedef struct {
    llmgw_req *q;
    int started;
    llmgw_sse *sse;                 /* an event stream */
    int json;                       /* a JSON answer, parsed at EOS */
    char *capture;                  /* its bytes when they came in several buckets */
    apr_size_t capture_len, capture_cap;
    int capture_overflow, parsed;
    int hold;                       /* hiding the usage chunk: complete events only */
    apr_bucket_brigade *held;       /* bytes of the event not yet complete */
    apr_uint64_t held_off;          /* stream offset of the first held byte */
    apr_uint64_t cut_start[MAX_CUTS], cut_end[MAX_CUTS];
    int ncuts;
} observe_ctx;

static void on_event(void *baton, const char *event, size_t elen, const char *data,
                     size_t dlen, uint64_t start, uint64_t end)
{
    observe_ctx *ctx = baton;
    llmgw_req *q = ctx->q;
    if (ctx->hold && ctx->ncuts < MAX_CUTS && llmgw_usage_is_usage_only_chunk(data, dlen)) {
        ctx->cut_start[ctx->ncuts] = start;
        ctx->cut_end[ctx->ncuts++] = end;
    }
    llmgw_usage_from_event(q->prov->type, event, elen, data, dlen, &q->usage);
    if (q->completion.cap)
        llmgw_completion_from_event(q->prov->type, event, elen, data, dlen, &q->completion);
}

/* want is lower case; providers send it so, which strncmp settles without a table */
static int is_type(const char *ct, const char *want)
{
    size_t n = strlen(want);
    if (!ct || (ct[0] | 0x20) != want[0] ||
        (strncmp(ct, want, n) && ap_cstr_casecmpn(ct, want, n)))
        return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* The provider's Content-Length when it gave one (most answers are a few hundred
 * bytes: no 16 KB block per request), else a size that grows by doubling. */
static apr_size_t capture_size(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_out, "Content-Length");
    apr_off_t n;
    if (cl && llmgw_content_length(cl, &n) && n < LLMGW_RESPONSE_CAPTURE)
        return (apr_size_t)n + 1;
    return 16384;
}

static void start(observe_ctx *ctx, request_rec *r)
{
    llmgw_req *q = ctx->q;
    ctx->started = 1;
    /* X-Request-Id is the gateway's; the provider's own id stays available */
    const char *upstream_id = apr_table_get(r->headers_out, "X-Request-Id");
    if (upstream_id) {
        apr_table_setn(r->headers_out, "X-Upstream-Request-Id", upstream_id);
        apr_table_unset(r->headers_out, "X-Request-Id");
    }
    if (q->prov->type == LLMGW_PT_HTTP)
        return;
    const llmgw_srv_conf *sc = llmgw_srv(r->server);
    if (sc->audit_bodies == 2) {
        apr_size_t max = sc->bodies_max ? sc->bodies_max : LLMGW_BODIES_MAX_DEFAULT;
        llmgw_text_init(&q->completion, apr_palloc(r->pool, max + 1), max + 1);
    }
    if (is_type(r->content_type, "text/event-stream")) {
        q->is_sse = 1;
        ctx->sse = apr_palloc(r->pool, sizeof *ctx->sse);
        llmgw_sse_init(ctx->sse, LLMGW_SSE_EVENT_CAP, llmgw_pool_alloc, r->pool, on_event, ctx);
        ctx->hold = q->hide_usage_chunk;
        if (ctx->hold)
            ctx->held = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    } else if (is_type(r->content_type, "application/json") && r->status < 300) {
        ctx->json = 1;
    }
}

static void capture(observe_ctx *ctx, request_rec *r, const char *d, apr_size_t n)
{
    if (ctx->capture_overflow)
        return;
    if (ctx->capture_len + n > LLMGW_RESPONSE_CAPTURE) {
        ctx->capture_overflow = 1;
        return;
    }
    if (!ctx->capture) {
        ctx->capture_cap = capture_size(r);
        ctx->capture = apr_palloc(r->pool, ctx->capture_cap);
    }
    llmgw_pool_append(r->pool, &ctx->capture, &ctx->capture_len, &ctx->capture_cap, d, n);
}

static void parse_answer(observe_ctx *ctx, const char *d, apr_size_t n)
{
    llmgw_req *q = ctx->q;
    ctx->parsed = 1;
    llmgw_usage_from_json(q->prov->type, d, n, &q->usage);
    if (q->completion.cap)
        llmgw_completion_from_json(q->prov->type, d, n, &q->completion);
}

static void finish(observe_ctx *ctx)
{
    if (ctx->sse)
        llmgw_sse_finish(ctx->sse);
    else if (ctx->json && !ctx->parsed && !ctx->capture_overflow)
        parse_answer(ctx, ctx->capture ? ctx->capture : "", ctx->capture_len);
}

/* A JSON answer's data: parsed where it lies when it is the whole answer (nothing
 * before it, EOS right after), else copied until EOS. */
static void take_json(observe_ctx *ctx, apr_bucket_brigade *bb, apr_bucket *b, const char *d,
                      apr_size_t n)
{
    apr_bucket *next = APR_BUCKET_NEXT(b);
    if (!ctx->capture && !ctx->parsed && next != APR_BRIGADE_SENTINEL(bb) &&
        APR_BUCKET_IS_EOS(next)) {
        parse_answer(ctx, d, n);
        return;
    }
    capture(ctx, ctx->q->r, d, n);
}

/* Moves held bytes before `upto` to out, deleting the cut ranges. */
static apr_status_t release(observe_ctx *ctx, apr_bucket_brigade *out, apr_uint64_t upto)
{
    while (!APR_BRIGADE_EMPTY(ctx->held) && ctx->held_off < upto) {
        apr_bucket *b = APR_BRIGADE_FIRST(ctx->held);
        apr_uint64_t len = b->length, off = ctx->held_off;
        apr_uint64_t keep_to = upto - off < len ? upto - off : len;
        for (int i = 0; i < ctx->ncuts; i++) {
            if (ctx->cut_end[i] <= off || ctx->cut_start[i] >= off + keep_to)
                continue;
            /* bytes before the cut go out; the cut part is dropped */
            if (ctx->cut_start[i] > off) {
                keep_to = ctx->cut_start[i] - off;
                break;
            }
            apr_uint64_t drop = (ctx->cut_end[i] < off + len ? ctx->cut_end[i] : off + len) - off;
            if (drop < len)
                apr_bucket_split(b, (apr_size_t)drop);
            apr_bucket_delete(b);
            ctx->held_off += drop;
            keep_to = 0;
            break;
        }
        if (keep_to == 0)
            continue;
        if (keep_to < len)
            apr_bucket_split(b, (apr_size_t)keep_to);
        APR_BUCKET_REMOVE(b);
        APR_BRIGADE_INSERT_TAIL(out, b);
        ctx->held_off += keep_to;
    }
    return APR_SUCCESS;
}

static apr_status_t observe_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    observe_ctx *ctx = f->ctx;
    llmgw_req *q = ctx->q;
    request_rec *r = f->r;
    if (!ctx->started)
        start(ctx, r);
    apr_bucket_brigade *out = ctx->hold ? apr_brigade_create(r->pool, f->c->bucket_alloc) : bb;
    for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);) {
        apr_bucket *next;
        if (APR_BUCKET_IS_EOS(b))
            finish(ctx);
        if (!APR_BUCKET_IS_METADATA(b)) {
            const char *d;
            apr_size_t n;
            apr_status_t rv = apr_bucket_read(b, &d, &n, APR_BLOCK_READ);
            if (rv != APR_SUCCESS)
                return rv;
            if (n && !q->first_byte)
                q->first_byte = apr_time_now();
            if (ctx->sse)
                llmgw_sse_feed(ctx->sse, d, n);
            else if (ctx->json && !ctx->parsed)
                take_json(ctx, bb, b, d, n);
        }
        next = APR_BUCKET_NEXT(b);   /* after the read: a read may split b */
        if (ctx->hold) {
            int meta = APR_BUCKET_IS_METADATA(b);
            APR_BUCKET_REMOVE(b);
            if (meta) {
                /* a FLUSH or EOS releases every complete event before it */
                release(ctx, out, APR_BUCKET_IS_EOS(b) ? (apr_uint64_t)-1
                                                       : llmgw_sse_pending_start(ctx->sse));
                APR_BRIGADE_INSERT_TAIL(out, b);
            } else {
                apr_bucket_setaside(b, r->pool);
                APR_BRIGADE_INSERT_TAIL(ctx->held, b);
            }
        }
        b = next;
    }
    if (ctx->hold) {
        release(ctx, out, llmgw_sse_pending_start(ctx->sse));
        if (APR_BRIGADE_EMPTY(out))
            return APR_SUCCESS;
        return ap_pass_brigade(f->next, out);
    }
    return ap_pass_brigade(f->next, bb);
}

void llmgw_observe_start(llmgw_req *q)
{
    observe_ctx *ctx = apr_pcalloc(q->r->pool, sizeof *ctx);
    ctx->q = q;
    q->observing = 1;
    ap_add_output_filter_handle(observe_rec, ctx, q->r, q->r->connection);
}

void llmgw_observe_register(void)
{
    observe_rec = ap_register_output_filter(OBSERVE_FILTER, observe_filter, NULL,
                                            AP_FTYPE_CONTENT_SET - 1);
}
