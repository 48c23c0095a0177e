/* mod_llmgw_models.c — the model list each caller sees. On a route with LLMGWAllowModels,
 * GET /v1/models (OpenAI wire), /v1/models (Anthropic) and /v1beta/models (Gemini) pass
 * through an output filter that holds the provider's list (small JSON, bounded), removes
 * the models the caller may not use at EOS, and sends the rest with its own
 * Content-Length; paging fields stay as the provider sent them. What cannot be filtered
 * (too large, compressed, not a list) is answered 502, never passed on unfiltered.
 * Errors and other statuses pass untouched. */
#include "mod_llmgw_models.h"

#include "http_protocol.h"
#include "apr_strings.h"
#include "util_filter.h"

#include "llmgw_redact.h"
#include "llmgw_request.h"

#define MODELS_FILTER "LLMGW_MODELS"

typedef struct {
    llmgw_req *q;
    llmgw_allow_list list;
    llmgw_subject id;
    int started;
    const char *failed;     /* why the list cannot be filtered */
    char *buf;
    apr_size_t len, cap;
} models_ctx;

static int is_json(const char *ct)
{
    size_t n = strlen("application/json");
    return ct && !ap_cstr_casecmpn(ct, "application/json", n) &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Replaces whatever the filter held with body + EOS and leaves the chain. */
static apr_status_t send_body(ap_filter_t *f, apr_bucket_brigade *bb, const char *body,
                         apr_size_t n)
{
    request_rec *r = f->r;
    apr_brigade_cleanup(bb);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(body, n, r->pool, bb->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    ap_set_content_length(r, (apr_off_t)n);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

static apr_status_t fail_closed(ap_filter_t *f, models_ctx *ctx, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "llmgw %s: model list not passed on: %s",
                  ctx->q->request_id, ctx->failed);
    r->status = HTTP_BAD_GATEWAY;
    r->status_line = ap_get_status_line(HTTP_BAD_GATEWAY);
    apr_table_unset(r->headers_out, "Content-Encoding");
    ap_set_content_type(r, "application/json");
    char *body = apr_palloc(r->pool, 1024);
    size_t n = llmgw_error_body(ctx->q->prov->type, HTTP_BAD_GATEWAY,
                                "the provider's model list could not be filtered", body, 1024);
    return send_body(f, bb, body, n);
}

static apr_status_t finish(ap_filter_t *f, models_ctx *ctx, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    char err[256];
    if (ctx->failed)
        return fail_closed(f, ctx, bb);
    json_t *root = llmgw_request_parse(ctx->buf, ctx->len, err, sizeof err);
    if (!root) {
        ctx->failed = "it is not a JSON object";
        return fail_closed(f, ctx, bb);
    }
    int removed = llmgw_models_filter(ctx->q->prov->type, root, &ctx->list, &ctx->id);
    const char *out = ctx->buf;
    size_t n = ctx->len;
    if (removed > 0) {
        llmgw_alloc a = {llmgw_pool_alloc, r->pool};
        out = llmgw_json_dump_alloc(root, &a, ctx->len, &n);
    }
    json_decref(root);
    if (removed < 0 || !out) {
        ctx->failed = removed < 0 ? "it is not a model list" : "out of memory";
        return fail_closed(f, ctx, bb);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "llmgw %s: %d model(s) hidden from %s",
                  ctx->q->request_id, removed, ctx->q->user ? ctx->q->user : "-");
    return send_body(f, bb, out, n);
}

static void hold(models_ctx *ctx, request_rec *r, const char *d, apr_size_t n)
{
    if (ctx->failed)
        return;
    if (ctx->len + n > LLMGW_MODEL_LIST_CAP) {
        ctx->failed = "it is larger than the gateway filters";
        return;
    }
    llmgw_pool_append(r->pool, &ctx->buf, &ctx->len, &ctx->cap, d, n);
}

static apr_status_t models_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    models_ctx *ctx = f->ctx;
    request_rec *r = f->r;
    if (!ctx->started) {
        ctx->started = 1;
        if (r->status != HTTP_OK || r->header_only || !is_json(r->content_type)) {
            ap_remove_output_filter(f);
            return ap_pass_brigade(f->next, bb);
        }
        const char *ce = apr_table_get(r->headers_out, "Content-Encoding");
        if (ce && ap_cstr_casecmp(ce, "identity"))
            ctx->failed = "it arrived compressed";
        /* the body will differ per caller: not the provider's length, not its ETag */
        apr_table_unset(r->headers_out, "Content-Length");
        apr_table_unset(r->headers_out, "ETag");
        ctx->cap = 16384;
        ctx->buf = apr_palloc(r->pool, ctx->cap);
    }
    for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        const char *d;
        apr_size_t n;
        if (APR_BUCKET_IS_EOS(b))
            return finish(f, ctx, bb);
        if (APR_BUCKET_IS_METADATA(b))
            continue;
        apr_status_t rv = apr_bucket_read(b, &d, &n, APR_BLOCK_READ);
        if (rv != APR_SUCCESS)
            return rv;
        hold(ctx, r, d, n);
    }
    apr_brigade_cleanup(bb);
    return APR_SUCCESS;
}

void llmgw_models_filter_start(llmgw_req *q, const llmgw_allow_list *l,
                               const llmgw_subject *id)
{
    models_ctx *ctx = apr_pcalloc(q->r->pool, sizeof *ctx);
    ctx->q = q;
    ctx->list = *l;
    ctx->id = *id;
    ap_add_output_filter(MODELS_FILTER, ctx, q->r, q->r->connection);
}

void llmgw_models_register(void)
{
    /* ahead of the observer and of mod_deflate: it sees the list as the provider sent it */
    ap_register_output_filter(MODELS_FILTER, models_filter, NULL, AP_FTYPE_RESOURCE);
}
