/* mod_llmgw_reply.c — what the gateway itself answers: request ids, and every error on
 * a route (our refusals as well as mod_proxy's 502/503/504) rewritten into the
 * provider's own error format so the client's SDK raises its typed error. Errors go
 * through httpd's normal ap_die path; insert_error_filter swaps the HTML body. */
#include "mod_llmgw.h"

#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"
#include "util_filter.h"

#include "llmgw_text.h"

#include <unistd.h>

#define ERROR_FILTER "LLMGW_ERROR"

static char id_prefix[17];
static apr_uint64_t id_counter;

void llmgw_reply_child_init(apr_pool_t *p)
{
    unsigned char rnd[8];
    if (apr_generate_random_bytes(rnd, sizeof rnd) != APR_SUCCESS) {
        apr_uint64_t v = (apr_uint64_t)apr_time_now() ^ ((apr_uint64_t)getpid() << 40);
        memcpy(rnd, &v, sizeof rnd);
    }
    llmgw_hex(rnd, sizeof rnd, id_prefix);
}

/* Unique without coordination: a random per-child prefix and a per-child counter.
 * A client-supplied id is never used, since records are deduplicated by this id. */
const char *llmgw_new_request_id(request_rec *r)
{
    apr_uint64_t n = __atomic_add_fetch(&id_counter, 1, __ATOMIC_RELAXED);
    unsigned char be[8];
    char *id = apr_palloc(r->pool, 33);
    for (int i = 7; i >= 0; i--, n >>= 8)       /* every request: no vformatter */
        be[i] = (unsigned char)n;
    memcpy(id, id_prefix, 16);
    llmgw_hex(be, sizeof be, id + 16);
    return id;
}

int llmgw_refuse(llmgw_req *q, int status, const char *message)
{
    q->refuse_status = status;
    q->refuse_message = message;
    return status;
}

static const char *default_message(int status)
{
    switch (status) {
    case HTTP_BAD_GATEWAY: return "the upstream provider could not be reached";
    case HTTP_GATEWAY_TIME_OUT: return "the upstream provider did not answer in time";
    case HTTP_SERVICE_UNAVAILABLE: return "the upstream provider is unavailable";
    case HTTP_REQUEST_ENTITY_TOO_LARGE: return "request body too large";
    case HTTP_BAD_REQUEST: return "bad request";
    case HTTP_NOT_FOUND: return "not found";
    case HTTP_METHOD_NOT_ALLOWED: return "method not allowed";
    default: return status >= 500 ? "gateway error" : "request refused";
    }
}

/* The error page may reach us in several brigades: the first gets our body, every
 * data bucket of httpd's HTML is dropped, metadata (EOS, FLUSH) passes. */
static apr_status_t error_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    llmgw_req *q = f->ctx;
    request_rec *r = f->r;

    for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);) {
        apr_bucket *next = APR_BUCKET_NEXT(b);
        if (!APR_BUCKET_IS_METADATA(b))
            apr_bucket_delete(b);
        b = next;
    }
    if (q->error_sent)
        return ap_pass_brigade(f->next, bb);
    q->error_sent = 1;

    /* mod_proxy answers 503 when it cannot connect; to the client that is a bad
     * gateway, not an overloaded gateway */
    if (r->status == HTTP_SERVICE_UNAVAILABLE && !q->refuse_status) {
        r->status = HTTP_BAD_GATEWAY;
        r->status_line = ap_get_status_line(HTTP_BAD_GATEWAY);
    }
    /* mod_proxy_http answers 502 when the provider stays silent past its timeout and
     * leaves the note "proxy_timedout": to the client that is a gateway timeout */
    if (r->status == HTTP_BAD_GATEWAY && !q->refuse_status &&
        apr_table_get(r->notes, "proxy_timedout")) {
        r->status = HTTP_GATEWAY_TIME_OUT;
        r->status_line = ap_get_status_line(HTTP_GATEWAY_TIME_OUT);
    }
    const char *msg = q->refuse_status == r->status && q->refuse_message
                          ? q->refuse_message : default_message(r->status);
    char *body = apr_palloc(r->pool, 2048);
    size_t n = llmgw_error_body(q->prov->type, r->status, msg, body, 2048);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "llmgw %s: %d %s", q->request_id,
                  r->status, msg);
    APR_BRIGADE_INSERT_HEAD(bb, apr_bucket_pool_create(body, n, r->pool, bb->bucket_alloc));
    ap_set_content_type(r, "application/json");
    apr_table_unset(r->headers_out, "Content-Length");
    return ap_pass_brigade(f->next, bb);
}

static void insert_error_filter(request_rec *r)
{
    llmgw_req *q = llmgw_req_get(r);
    if (q && !r->main)
        ap_add_output_filter(ERROR_FILTER, q, r, r->connection);
}

void llmgw_reply_register(void)
{
    ap_register_output_filter(ERROR_FILTER, error_filter, NULL, AP_FTYPE_CONTENT_SET);
    ap_hook_insert_error_filter(insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
}
