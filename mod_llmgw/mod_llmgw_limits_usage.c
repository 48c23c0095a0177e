/* mod_llmgw_limits_usage.c — `SetHandler llmgw-usage`: tells the caller, identified
 * exactly as on a route (same keys, same identity sources), where they stand against
 * every LLMGWRateLimit rule: limit, used, remaining and when the window resets, as
 * JSON a front end can show. Rules with route= or model= are listed too (they count
 * only those requests). Reading never creates a counter. Errors come back in the
 * OpenAI format, like a refusal on an OpenAI route. */
#include "mod_llmgw_limits.h"

#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"

#include "llmgw_json.h"

#define USAGE_HANDLER "llmgw-usage"
#define BYTES_PER_RULE 640

/* The handler is not a route: errors are formatted as an OpenAI provider's would be. */
static const llmgw_provider usage_provider = {
    .name = USAGE_HANDLER,
    .type = LLMGW_PT_OPENAI,
    .url = "",
};

static const char *query_key(request_rec *r)
{
    const char *s = r->args;
    while (s && *s) {
        size_t n = strcspn(s, "&");
        if (n >= 4 && !strncmp(s, "key=", 4))
            return apr_pstrmemdup(r->pool, s + 4, n - 4);
        s += n + (s[n] == '&');
    }
    return NULL;
}

static llmgw_req *usage_req(request_rec *r)
{
    llmgw_req *q = apr_pcalloc(r->pool, sizeof *q);
    q->r = r;
    q->prov = &usage_provider;
    q->start = r->request_time;
    q->request_id = apr_table_get(r->err_headers_out, "X-Request-Id");
    q->client_key = query_key(r);
    q->audited = 1;                 /* not an LLM request: no usage record */
    llmgw_usage_init(&q->usage);
    ap_set_module_config(r->request_config, &llmgw_module, q);
    return q;
}

static void put_amount(llmgw_sbuf *b, const char *name, llmgw_rl_kind k, int64_t v)
{
    char num[40];
    llmgw_rl_amount_text(k, v, num, sizeof num);
    llmgw_sbuf_printf(b, ",\"%s\":%s", name, num);
}

static void put_rule(llmgw_sbuf *b, const llmgw_limit_hit *h, int64_t now_ms)
{
    const llmgw_rl_rule *ru = &h->lr->rule;
    char when[32];
    llmgw_rl_time_text(h->w.end, when, sizeof when);
    llmgw_sbuf_puts(b, "{\"rule\":");
    llmgw_sbuf_json_str(b, ru->name, LLMGW_RL_NAME_MAX);
    llmgw_sbuf_printf(b, ",\"per\":\"%s\",\"principal\":", llmgw_rl_per_name(ru->per));
    /* a key is only ever known by its hash; the caller knows which key they used */
    llmgw_sbuf_json_str(b, ru->per == LLMGW_RL_KEY ? NULL : h->principal, 256);
    llmgw_sbuf_puts(b, ",\"route\":");
    llmgw_sbuf_json_str(b, ru->route, 256);
    llmgw_sbuf_puts(b, ",\"model\":");
    llmgw_sbuf_json_str(b, ru->model, 256);
    llmgw_sbuf_printf(b, ",\"type\":\"%s\",\"window\":\"%s\"", llmgw_rl_kind_name(ru->kind),
                      ru->window_spec);
    put_amount(b, "limit", ru->kind, ru->limit);
    put_amount(b, "used", ru->kind, h->used);
    put_amount(b, "remaining", ru->kind, llmgw_rl_remaining(ru, h->used));
    llmgw_sbuf_printf(b, ",\"reset\":\"%s\",\"reset_in_seconds\":%" APR_INT64_T_FMT "}", when,
                      (apr_int64_t)llmgw_rl_retry_after(&h->w, now_ms));
}

static int answer(llmgw_req *q, llmgw_limit_hit *hits, int n, int64_t now_ms)
{
    request_rec *r = q->r;
    size_t cap = 1024 + (size_t)n * BYTES_PER_RULE;
    llmgw_sbuf b;
    llmgw_sbuf_init(&b, apr_palloc(r->pool, cap), cap);
    llmgw_sbuf_puts(&b, "{\"user\":");
    llmgw_sbuf_json_str(&b, q->user, 256);
    llmgw_sbuf_puts(&b, ",\"team\":");
    llmgw_sbuf_json_str(&b, q->team, 256);
    llmgw_sbuf_puts(&b, ",\"limits\":[");
    for (int i = 0; i < n; i++) {
        if (i)
            llmgw_sbuf_puts(&b, ",");
        put_rule(&b, &hits[i], now_ms);
    }
    llmgw_sbuf_puts(&b, "]}\n");
    size_t len = llmgw_sbuf_finish(&b);
    if (!len)
        return llmgw_refuse(q, HTTP_INTERNAL_SERVER_ERROR, "usage answer too large");
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only)
        ap_rwrite(b.buf, (int)len, r);
    return OK;
}

int llmgw_usage_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, USAGE_HANDLER) || r->main)
        return DECLINED;
    llmgw_req *q = usage_req(r);
    if (r->method_number != M_GET) {
        r->allowed = AP_METHOD_BIT << M_GET;
        return llmgw_refuse(q, HTTP_METHOD_NOT_ALLOWED, "use GET");
    }
    int rc = llmgw_identify(q);
    if (rc != OK)
        return rc;
    const llmgw_limits_conf *c = llmgw_limits_conf_get();
    int n = c ? c->rules->nelts : 0;
    apr_time_t t = apr_time_now();
    int64_t now = apr_time_sec(t), now_ms = apr_time_as_msec(t);
    const llmgw_limit_rule *lr = n ? (const llmgw_limit_rule *)c->rules->elts : NULL;
    llmgw_limit_hit *hits = apr_palloc(r->pool, sizeof(llmgw_limit_hit) * (size_t)(n ? n : 1));
    const char *principal[LLMGW_RL_GLOBAL + 1] = {NULL};
    for (int i = 0; i < n; i++) {
        llmgw_rl_per per = lr[i].rule.per;
        if (!principal[per])
            principal[per] = llmgw_limits_principal(q, per);
        llmgw_limits_hit_init(&hits[i], &lr[i], principal[per], now, r->pool);
    }
    if (n && c->redis) {
        if (llmgw_redis_read(r, hits, n) != LLMGW_STORE_OK) {
            apr_table_setn(r->err_headers_out, "Retry-After", "1");
            return llmgw_refuse(q, HTTP_SERVICE_UNAVAILABLE, "the rate-limit store is "
                                "unavailable");
        }
    } else if (n) {
        llmgw_shm_read(hits, n);
    }
    return answer(q, hits, n, now_ms);
}
