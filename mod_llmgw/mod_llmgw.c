/* mod_llmgw.c — the module declaration and hook wiring. Request flow:
 *   post_read_request  X-Request-Id on every response
 *   translate_name     a request under an LLMGWRoute becomes a reverse-proxy request
 *                      for mod_proxy_http (like mod_rewrite's [P])
 *   fixups             identity, body read and checks, credential injection, observer
 *   (mod_proxy_http)   forwards; our output filter watches the response for usage
 *   insert_error_filter refusals and proxy failures in the provider's error format
 *   log_transaction    one usage record per request, queued for llmgw-auditd */
#define LLMGW_MODULE_FILE
#include "mod_llmgw.h"

#include "http_protocol.h"
#include "http_request.h"
#include "apr_general.h"

#include <unistd.h>

void *llmgw_pool_alloc(void *ctx, size_t n)
{
    return apr_palloc(ctx, n);
}

/* The request body, a captured answer and a held model list all collect brigade data
 * in one pool buffer that doubles as it fills; a byte stays spare for a NUL. */
void llmgw_pool_append(apr_pool_t *p, char **buf, apr_size_t *len, apr_size_t *cap,
                       const char *d, apr_size_t n)
{
    if (*len + n + 1 > *cap) {
        apr_size_t c = *cap ? *cap : 64;
        while (*len + n + 1 > c)
            c *= 2;
        char *nb = apr_palloc(p, c);
        if (*len)
            memcpy(nb, *buf, *len);
        *buf = nb;
        *cap = c;
    }
    if (n)
        memcpy(*buf + *len, d, n);
    *len += n;
}

llmgw_req *llmgw_req_get(const request_rec *r)
{
    return ap_get_module_config(r->request_config, &llmgw_module);
}

const llmgw_srv_conf *llmgw_srv(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &llmgw_module);
}

static int llmgw_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    llmgw_registry_reset(pconf);
    return OK;
}

static int llmgw_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s)
{
    int rc = llmgw_audit_post_config(pconf, s);
    if (rc != OK)
        return rc;
    return llmgw_metrics_post_config(pconf, ptemp, s);
}

/* The lookup memos place names by a hash keyed per process (llmgw_memo.h). */
static apr_uint64_t memo_seed(void)
{
    apr_uint64_t seed;
    if (apr_generate_random_bytes((unsigned char *)&seed, sizeof seed) != APR_SUCCESS)
        seed = (apr_uint64_t)apr_time_now() ^ ((apr_uint64_t)getpid() << 32);
    return seed;
}

static void llmgw_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_uint64_t seed = memo_seed();
    llmgw_reply_child_init(pchild);
    llmgw_audit_child_init(pchild, s);
    llmgw_auth_child_init(seed);
    llmgw_price_child_init(seed);
    llmgw_metrics_child_init(seed);
}

static int llmgw_post_read_request(request_rec *r)
{
    if (r->main || r->prev)
        return DECLINED;
    apr_table_setn(r->err_headers_out, "X-Request-Id", llmgw_new_request_id(r));
    return DECLINED;
}

/* The gateway's decisions, in order: who is calling, what they send, whether it is
 * allowed, then the provider credential and the response observer. Each step either
 * returns OK or refuses (llmgw_refuse) with the status the error filter will format. */
/* The gateway's decisions all need the request headers and the identity other auth
 * modules may have set, and must come before mod_proxy reads the body. */
static int llmgw_fixups(request_rec *r)
{
    llmgw_req *q = llmgw_req_get(r);
    if (!q || r->main)
        return DECLINED;
    const llmgw_srv_conf *sc = llmgw_srv(r->server);
    int rc = llmgw_identify(q);
    if (rc != OK)
        return rc;
    if (q->prov->key_missing && !q->passthrough_key)   /* passthrough brings its own key */
        return llmgw_refuse(q, HTTP_SERVICE_UNAVAILABLE,
                            "the gateway has no credential for this provider");
    rc = llmgw_read_body(q, sc->max_body ? sc->max_body : LLMGW_DEFAULT_MAX_BODY);
    if (rc != OK)
        return rc;
    if ((rc = llmgw_policy_request(q)) != OK)   /* model, tool, content policy (issue 5) */
        return rc;
    llmgw_body_replay(q);                       /* the body as policy left it */
    if ((rc = llmgw_limits_check(q)) != OK)     /* rate limits and budgets (issue 6) */
        return rc;
    llmgw_inject_credential(q);
    llmgw_observe_start(q);
    return OK;
}

/* Runs once per routed request, after the response (also when the client went away):
 * everything that accounts for what the request consumed. */
static int llmgw_log_transaction(request_rec *r)
{
    llmgw_req *q = llmgw_req_get(r);
    if (!q || q->audited || r->main)
        return DECLINED;
    q->audited = 1;
    llmgw_req_price(q);
    llmgw_audit_record(q);
    llmgw_limits_account(q);                    /* rate limits and budgets (issue 6) */
    llmgw_metrics_log_transaction(q);
    return DECLINED;
}

static void llmgw_register_hooks(apr_pool_t *p)
{
    static const char *const before_proxy[] = {"mod_proxy.c", NULL};
    static const char *const before_rewrite_proxy[] = {"mod_rewrite.c", "mod_proxy.c", NULL};
    /* before mod_log_config: the access log line may use the LLMGW_* variables set then */
    static const char *const before_log[] = {"mod_log_config.c", NULL};
    ap_hook_pre_config(llmgw_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(llmgw_config_check, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(llmgw_jwt_check_config, NULL, NULL, APR_HOOK_MIDDLE);   /* identity */
    ap_hook_post_config(llmgw_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(llmgw_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(llmgw_post_read_request, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_translate_name(llmgw_translate_name, NULL, before_rewrite_proxy, APR_HOOK_FIRST);
    ap_hook_fixups(llmgw_fixups, NULL, before_proxy, APR_HOOK_FIRST);
    ap_hook_log_transaction(llmgw_log_transaction, NULL, before_log, APR_HOOK_MIDDLE);
    llmgw_body_register();
    llmgw_observe_register();
    llmgw_reply_register();
    llmgw_policy_register();                    /* filtered model lists (issue 5) */
    llmgw_limits_register();                    /* rate limits and budgets (issue 6) */
    llmgw_metrics_register();
}

AP_DECLARE_MODULE(llmgw) = {
    STANDARD20_MODULE_STUFF,
    llmgw_create_dir_conf,
    llmgw_merge_dir_conf,
    llmgw_create_srv_conf,
    llmgw_merge_srv_conf,
    llmgw_cmds,
    llmgw_register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
