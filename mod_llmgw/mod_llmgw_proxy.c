/* mod_llmgw_proxy.c — hands a routed request to mod_proxy_http. translate_name turns
 * it into a reverse-proxy request the way mod_rewrite's [P] flag does, so <Proxy>
 * sections, <Location> auth and mod_proxy_http's streaming all apply unchanged.
 * LLMGWProvider defines a mod_proxy worker for the provider's origin (as a <Proxy>
 * section would) so upstream connections are pooled and reused; without one mod_proxy
 * would open a new TCP+TLS connection per request. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* RTLD_DEFAULT */
#endif
#include "mod_llmgw.h"

#include "http_request.h"
#include "apr_strings.h"
#include "mod_proxy.h"

#include <dlfcn.h>

typedef proxy_worker *(*get_worker_fn)(apr_pool_t *, proxy_balancer *, proxy_server_conf *,
                                       const char *, unsigned int);
typedef char *(*define_worker_fn)(apr_pool_t *, proxy_worker **, proxy_balancer *,
                                  proxy_server_conf *, const char *, unsigned int);

/* mod_proxy's functions are looked up at run time: Debian loads llmgw.load before
 * proxy.load, so linking against them directly would fail at dlopen. */
const char *llmgw_proxy_define_worker(cmd_parms *cmd, const char *url)
{
    module *proxy = ap_find_linked_module("mod_proxy.c");
    get_worker_fn get = (get_worker_fn)dlsym(RTLD_DEFAULT, "ap_proxy_get_worker_ex");
    define_worker_fn def = (define_worker_fn)dlsym(RTLD_DEFAULT, "ap_proxy_define_worker_ex");
    if (!proxy || !get || !def)
        return "LLMGWProvider needs mod_proxy (2.4.49 or later) and mod_proxy_http loaded "
               "before it (a2enmod proxy proxy_http)";
    apr_uri_t u;
    apr_uri_parse(cmd->temp_pool, url, &u);
    const char *origin = apr_psprintf(cmd->pool, "%s://%s%s%s/", u.scheme, u.hostname,
                                      u.port_str ? ":" : "", u.port_str ? u.port_str : "");
    proxy_server_conf *conf = ap_get_module_config(cmd->server->module_config, proxy);
    if (get(cmd->temp_pool, NULL, conf, origin, AP_PROXY_WORKER_IS_PREFIX))
        return NULL;   /* a <Proxy> section or an earlier provider already defined it */
    proxy_worker *w;
    char *err = def(cmd->pool, &w, NULL, conf, origin, AP_PROXY_WORKER_IS_PREFIX);
    return err ? apr_psprintf(cmd->pool, "cannot define proxy worker for %s: %s", origin, err)
               : NULL;
}

/* Removes key=... from a query string (the gateway key must never travel upstream). */
static const char *strip_key_param(apr_pool_t *p, const char *args, const char **key)
{
    if (!args || !*args)
        return args;
    char *out = apr_palloc(p, strlen(args) + 1), *o = out;
    const char *s = args;
    while (*s) {
        size_t n = strcspn(s, "&");
        if (n >= 4 && !strncmp(s, "key=", 4)) {
            *key = apr_pstrmemdup(p, s + 4, n - 4);
        } else if (n) {
            if (o != out)
                *o++ = '&';
            memcpy(o, s, n);
            o += n;
        }
        s += n + (s[n] == '&');
    }
    *o = '\0';
    return *out ? out : NULL;
}

/* "proxy:" + the provider's URL + the path below the route, as mod_rewrite's [P] sets
 * it; the first two are joined at configuration time. */
static char *proxy_filename(apr_pool_t *p, const llmgw_provider *pv, const char *path)
{
    size_t n = strlen(path);
    char *f = apr_palloc(p, pv->proxy_url_len + n + 1);
    memcpy(f, pv->proxy_url, pv->proxy_url_len);
    memcpy(f + pv->proxy_url_len, path, n + 1);
    return f;
}

int llmgw_translate_name(request_rec *r)
{
    if (r->main || r->prev || r->proxyreq || r->uri[0] != '/')
        return DECLINED;
    const llmgw_dir_conf *dc = ap_get_module_config(r->per_dir_config, &llmgw_module);
    if (!dc || !dc->provider)
        return DECLINED;
    size_t pl = dc->prefix_len;
    if (strncmp(r->uri, dc->prefix, pl) || (r->uri[pl] && r->uri[pl] != '/'))
        return DECLINED;

    llmgw_req *q = apr_pcalloc(r->pool, sizeof *q);
    q->r = r;
    q->dconf = dc;
    q->prov = dc->provider;
    q->start = r->request_time;
    q->request_id = apr_table_get(r->err_headers_out, "X-Request-Id");
    q->path = r->uri[pl] ? r->uri + pl : "/";
    llmgw_usage_init(&q->usage);
    llmgw_request_endpoint(q->prov->type, q->path, q->endpoint, sizeof q->endpoint);
    ap_set_module_config(r->request_config, &llmgw_module, q);

    const char *qkey = NULL;
    r->args = (char *)strip_key_param(r->pool, r->args, &qkey);
    q->client_key = qkey;
    if (qkey)
        llmgw_scrub_request_line(r);   /* %r in the access log must not show the key */

    r->filename = proxy_filename(r->pool, q->prov, q->path);
    r->proxyreq = PROXYREQ_REVERSE;
    r->handler = "proxy-server";
    return OK;
}

void llmgw_inject_credential(llmgw_req *q)
{
    apr_table_t *h = q->r->headers_in;
    apr_table_unset(h, "Authorization");
    apr_table_unset(h, "x-api-key");
    apr_table_unset(h, "x-goog-api-key");
    apr_table_unset(h, "api-key");
    /* uncompressed responses let the observer read usage; mod_deflate may still
     * compress toward the client */
    apr_table_unset(h, "Accept-Encoding");
    if (q->passthrough_key) {   /* LLMGWIdentity passthrough: the client's own key */
        apr_table_setn(h, q->prov->key_header,
                       apr_pstrcat(q->r->pool, llmgw_ptype_key_prefix(q->prov->type),
                                   q->passthrough_key, NULL));
        return;
    }
    if (q->prov->key_value)
        apr_table_setn(h, q->prov->key_header, q->prov->key_value);
}
