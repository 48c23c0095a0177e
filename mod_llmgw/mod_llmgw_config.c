/* mod_llmgw_config.c — the LLMGW* directives: parsing, validation at configuration
 * time (so `apachectl -t` names the file and line), vhost merging, and the global
 * registry of providers that routes are resolved against. */
#include "mod_llmgw.h"

#include "http_core.h"
#include "apr_file_io.h"
#include "apr_strings.h"
#include "apr_env.h"

#include <stdlib.h>

static llmgw_registry *registry;    /* rebuilt from scratch on every config read */

llmgw_registry *llmgw_registry_get(void)
{
    return registry;
}

void llmgw_registry_reset(apr_pool_t *pconf)
{
    registry = apr_pcalloc(pconf, sizeof *registry);
    registry->providers = apr_hash_make(pconf);
    registry->routes = apr_array_make(pconf, 8, sizeof(llmgw_dir_conf *));
    llmgw_price_table_init(&registry->prices, llmgw_pool_alloc, pconf);
}

void *llmgw_create_dir_conf(apr_pool_t *p, char *dir)
{
    return apr_pcalloc(p, sizeof(llmgw_dir_conf));
}

void *llmgw_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    llmgw_dir_conf *base = basev, *add = addv;
    llmgw_dir_conf *c = apr_palloc(p, sizeof *c);
    *c = add->route_name ? *add : *base;
    c->policy = llmgw_policy_merge(p, base->policy, add->policy);   /* policy (issue 5) */
    return c;
}

void *llmgw_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    return apr_pcalloc(p, sizeof(llmgw_srv_conf));
}

void *llmgw_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    llmgw_srv_conf *base = basev, *add = addv;
    llmgw_srv_conf *c = apr_palloc(p, sizeof *c);
    *c = *add;
    if (!add->nidentity) {
        memcpy(c->identity, base->identity, sizeof c->identity);
        c->nidentity = base->nidentity;
    }
#define INHERIT(f) if (!c->f) c->f = base->f
    INHERIT(keyfile_path);
    INHERIT(keyfile);
    INHERIT(audit_target);
    INHERIT(spool_dir);
    INHERIT(spool_max);
    INHERIT(audit_bodies);
    INHERIT(bodies_max);
    INHERIT(max_body);
    INHERIT(conv_header);
    INHERIT(node);
    INHERIT(metrics_labels);        /* metrics (issue 10) */
    INHERIT(metrics_max_series);
    llmgw_identity_merge_srv(p, c, base, add);   /* LLMGWJWT, LLMGWClaim, LLMGWApacheClaim */
#undef INHERIT
    return c;
}

static llmgw_srv_conf *srv_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &llmgw_module);
}

/* Reads a secret from key=env:VAR or key=file:PATH at configuration time, while the
 * server still runs as root and before any child exists. */
static const char *resolve_key(cmd_parms *cmd, const char *spec, const char **out,
                               const char **missing)
{
    if (!strcmp(spec, "none")) {
        *out = NULL;
        return NULL;
    }
    if (!strncmp(spec, "env:", 4)) {
        char *v;
        /* a missing variable is not a syntax error: the provider answers 503 and the
         * log says why, so one absent key does not take the whole server down */
        if (apr_env_get(&v, spec + 4, cmd->temp_pool) != APR_SUCCESS || !*v) {
            *out = NULL;
            *missing = spec + 4;
            return NULL;
        }
        *out = apr_pstrdup(cmd->pool, v);
        return NULL;
    }
    if (!strncmp(spec, "file:", 5)) {
        apr_file_t *f;
        char buf[4096];
        apr_size_t n = sizeof buf - 1;
        if (apr_file_open(&f, spec + 5, APR_FOPEN_READ, 0, cmd->temp_pool) != APR_SUCCESS)
            return apr_psprintf(cmd->pool, "cannot read key file %s", spec + 5);
        apr_status_t rv = apr_file_read(f, buf, &n);
        apr_file_close(f);
        if (rv != APR_SUCCESS && rv != APR_EOF)
            return apr_psprintf(cmd->pool, "cannot read key file %s", spec + 5);
        buf[n] = '\0';
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        if (!n)
            return apr_psprintf(cmd->pool, "key file %s is empty", spec + 5);
        *out = apr_pstrdup(cmd->pool, buf);
        return NULL;
    }
    return "key= must be env:VAR, file:PATH or none";
}

static const char *check_url(cmd_parms *cmd, const char *url)
{
    apr_uri_t u;
    if (apr_uri_parse(cmd->temp_pool, url, &u) != APR_SUCCESS || !u.hostname || !u.scheme ||
        (strcmp(u.scheme, "http") && strcmp(u.scheme, "https")))
        return apr_psprintf(cmd->pool, "url= must be an absolute http(s) URL, got '%s'", url);
    if (u.query || u.fragment || u.user)
        return "url= must not carry a query, fragment or user info";
    return NULL;
}

static const char *cmd_provider(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    if (err)
        return err;
    if (argc < 3)
        return "LLMGWProvider NAME type=TYPE url=URL [key=env:VAR|file:PATH|none]";
    llmgw_provider *pv = apr_pcalloc(cmd->pool, sizeof *pv);
    pv->name = argv[0];
    pv->type = LLMGW_PT_COUNT;
    pv->file = cmd->directive->filename;
    pv->line = cmd->directive->line_num;
    const char *keyspec = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "type=", 5)) {
            int t = llmgw_ptype_parse(a + 5);
            if (t < 0)
                return apr_psprintf(cmd->pool, "unknown provider type '%s' (openai, anthropic, "
                                    "gemini, azure, openai-compatible, http)", a + 5);
            pv->type = (llmgw_ptype)t;
        } else if (!strncmp(a, "url=", 4)) {
            char *u = apr_pstrdup(cmd->pool, a + 4);
            size_t n = strlen(u);
            while (n > 1 && u[n - 1] == '/')
                u[--n] = '\0';
            if ((err = check_url(cmd, u)))
                return err;
            pv->url = u;
        } else if (!strncmp(a, "key=", 4)) {
            keyspec = a + 4;
        } else {
            return apr_psprintf(cmd->pool, "unknown LLMGWProvider option '%s'", a);
        }
    }
    if (pv->type == LLMGW_PT_COUNT || !pv->url)
        return "LLMGWProvider needs type= and url=";
    if (!keyspec)
        return "LLMGWProvider needs key=env:VAR, key=file:PATH or key=none";
    if ((err = resolve_key(cmd, keyspec, &pv->key, &pv->key_missing)))
        return err;
    pv->key_header = llmgw_ptype_key_header(pv->type);
    if (pv->key)
        pv->key_value = apr_pstrcat(cmd->pool, llmgw_ptype_key_prefix(pv->type), pv->key, NULL);
    pv->proxy_url = apr_pstrcat(cmd->pool, "proxy:", pv->url, NULL);
    pv->proxy_url_len = strlen(pv->proxy_url);
    if ((err = llmgw_proxy_define_worker(cmd, pv->url)))
        return err;
    if (apr_hash_get(registry->providers, pv->name, APR_HASH_KEY_STRING))
        return apr_psprintf(cmd->pool, "provider '%s' is defined twice", pv->name);
    apr_hash_set(registry->providers, pv->name, APR_HASH_KEY_STRING, pv);
    return NULL;
}

static const char *cmd_route(cmd_parms *cmd, void *dcv, const char *name)
{
    llmgw_dir_conf *dc = dcv;
    const ap_directive_t *sect = cmd->directive->parent;
    if (!cmd->path || !sect || ap_cstr_casecmp(sect->directive, "<Location") ||
        sect->args[0] == '~')
        return "LLMGWRoute belongs inside <Location /prefix> (a plain path, not a regex)";
    dc->route_name = name;
    dc->prefix = cmd->path;
    dc->prefix_len = strlen(dc->prefix);
    while (dc->prefix_len && dc->prefix[dc->prefix_len - 1] == '/')
        dc->prefix_len--;
    dc->file = cmd->directive->filename;
    dc->line = cmd->directive->line_num;
    *(llmgw_dir_conf **)apr_array_push(registry->routes) = dc;
    return NULL;
}

static const char *cmd_identity(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    static const char *const names[] = {"key", "jwt", "apache", "passthrough"};
    llmgw_srv_conf *sc = srv_of(cmd);
    if (argc < 1 || argc > 4)
        return "LLMGWIdentity takes one to four of: key jwt apache passthrough";
    sc->nidentity = 0;
    for (int i = 0; i < argc; i++) {
        int found = -1;
        for (int j = 0; j < 4; j++)
            if (!strcmp(argv[i], names[j]))
                found = j;
        if (found < 0)
            return apr_psprintf(cmd->pool, "unknown identity source '%s'", argv[i]);
        sc->identity[sc->nidentity++] = found;
    }
    return NULL;
}

static const char *cmd_keyfile(cmd_parms *cmd, void *dc, const char *path)
{
    srv_of(cmd)->keyfile_path = ap_server_root_relative(cmd->pool, path);
    return NULL;
}

static const char *cmd_audit(cmd_parms *cmd, void *dc, const char *target)
{
    if (strncmp(target, "unix:", 5) && strncmp(target, "tcp:", 4))
        return "LLMGWAudit takes unix:/path/to/socket or tcp:HOST:PORT";
    if (!strncmp(target, "tcp:", 4)) {
        char *host, *scope;
        apr_port_t port;
        if (apr_parse_addr_port(&host, &scope, &port, target + 4, cmd->temp_pool) != APR_SUCCESS ||
            !host || !port)
            return "LLMGWAudit tcp: needs HOST:PORT";
    }
    srv_of(cmd)->audit_target = target;
    return NULL;
}

/* "512M", "2G", "1048576" → bytes; -1 when malformed. */
static apr_off_t parse_size(const char *s)
{
    char *end;
    apr_int64_t v = apr_strtoi64(s, &end, 10);
    apr_int64_t mult = 1;
    if (end == s || v < 0)
        return -1;
    switch (*end) {
    case 'K': case 'k': mult = 1024; end++; break;
    case 'M': case 'm': mult = 1024 * 1024; end++; break;
    case 'G': case 'g': mult = 1024 * 1024 * 1024; end++; break;
    }
    if (*end || v > APR_INT64_MAX / mult)
        return -1;
    return (apr_off_t)(v * mult);
}

/* The "max=SIZE" option two directives take; -1 when absent from opt or malformed. */
static apr_off_t parse_max_opt(const char *opt)
{
    return strncmp(opt, "max=", 4) ? -1 : parse_size(opt + 4);
}

static const char *cmd_spool(cmd_parms *cmd, void *dc, const char *dir, const char *opt)
{
    llmgw_srv_conf *sc = srv_of(cmd);
    sc->spool_dir = ap_server_root_relative(cmd->pool, dir);
    if (opt) {
        apr_off_t max = parse_max_opt(opt);
        if (max < 1024 * 1024)
            return "LLMGWAuditSpool DIR [max=SIZE]: SIZE like 512M or 2G, at least 1M";
        sc->spool_max = max;
    }
    return NULL;
}

static const char *cmd_audit_bodies(cmd_parms *cmd, void *dc, const char *onoff,
                                    const char *opt)
{
    llmgw_srv_conf *sc = srv_of(cmd);
    if (ap_cstr_casecmp(onoff, "on") && ap_cstr_casecmp(onoff, "off"))
        return "LLMGWAuditBodies on|off [max=SIZE]";
    sc->audit_bodies = ap_cstr_casecmp(onoff, "on") ? 1 : 2;
    if (opt) {
        apr_off_t max = parse_max_opt(opt);
        if (max < 256 || max > LLMGW_BODIES_MAX_LIMIT)
            return "LLMGWAuditBodies max= takes 256 bytes to 64K";
        sc->bodies_max = (apr_size_t)max;
    }
    return NULL;
}

static const char *cmd_max_body(cmd_parms *cmd, void *dc, const char *arg)
{
    char *end;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);
    if (*end || v < 1024 || v > APR_INT64_C(1) << 32)
        return "LLMGWMaxBody takes a byte count between 1024 and 4294967296";
    srv_of(cmd)->max_body = (apr_off_t)v;
    return NULL;
}

static const char *cmd_conv_header(cmd_parms *cmd, void *dc, const char *h)
{
    srv_of(cmd)->conv_header = h;
    return NULL;
}

static const char *cmd_node(cmd_parms *cmd, void *dc, const char *n)
{
    srv_of(cmd)->node = n;
    return NULL;
}

static const char *cmd_price(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char why[256];
    llmgw_price pr;
    if (err)
        return err;
    if (argc < 4)
        return "LLMGWPrice PROVIDER MODEL-GLOB input=USD output=USD [cached_input=USD] "
               "[cache_write=USD] [cache_write_1h=USD] (USD per 1K tokens)";
    if (llmgw_price_parse(argv[0], argv[1], argc - 2, (const char *const *)argv + 2, &pr, why,
                          sizeof why) < 0)
        return apr_pstrdup(cmd->pool, why);
    if (llmgw_price_table_add(&registry->prices, &pr) < 0)
        return "out of memory";
    return NULL;
}

const command_rec llmgw_cmds[] = {
    AP_INIT_TAKE_ARGV("LLMGWPrice", cmd_price, NULL, RSRC_CONF,
                      "PROVIDER MODEL-GLOB input=USD output=USD [cached_input=] [cache_write=] "
                      "[cache_write_1h=], per 1K tokens"),
    AP_INIT_TAKE_ARGV("LLMGWProvider", cmd_provider, NULL, RSRC_CONF,
                      "NAME type=TYPE url=URL key=env:VAR|file:PATH|none"),
    AP_INIT_TAKE1("LLMGWRoute", cmd_route, NULL, ACCESS_CONF,
                  "provider name served under this <Location>"),
    AP_INIT_TAKE_ARGV("LLMGWIdentity", cmd_identity, NULL, RSRC_CONF,
                      "identity sources in order: key jwt apache passthrough"),
    AP_INIT_TAKE1("LLMGWKeyFile", cmd_keyfile, NULL, RSRC_CONF, "gateway key file"),
    /* identity (issue 4): handlers in mod_llmgw_jwt.c and mod_llmgw_auth.c */
    AP_INIT_TAKE_ARGV("LLMGWJWT", llmgw_cmd_jwt, NULL, RSRC_CONF,
                      "jwks=https://…|file:PATH issuer=ISS audience=AUD [algs=RS256,ES256] "
                      "[leeway=60] [refresh=300]"),
    AP_INIT_TAKE2("LLMGWClaim", llmgw_cmd_claim, NULL, RSRC_CONF,
                  "user_id|email|roles|team CLAIM.PATH"),
    AP_INIT_TAKE2("LLMGWApacheClaim", llmgw_cmd_apache_claim, NULL, RSRC_CONF,
                  "email|roles|team env=VARIABLE|header=NAME"),
    AP_INIT_TAKE1("LLMGWAudit", cmd_audit, NULL, RSRC_CONF,
                  "llmgw-auditd address: unix:PATH or tcp:HOST:PORT"),
    AP_INIT_TAKE12("LLMGWAuditSpool", cmd_spool, NULL, RSRC_CONF,
                   "directory for records while auditd is unreachable [max=SIZE]"),
    AP_INIT_TAKE12("LLMGWAuditBodies", cmd_audit_bodies, NULL, RSRC_CONF,
                   "on|off [max=SIZE]: also keep the (redacted) prompt and the completion"),
    AP_INIT_TAKE1("LLMGWMaxBody", cmd_max_body, NULL, RSRC_CONF, "largest request body, bytes"),
    AP_INIT_TAKE1("LLMGWConversationHeader", cmd_conv_header, NULL, RSRC_CONF,
                  "request header carrying the conversation id"),
    AP_INIT_TAKE1("LLMGWNode", cmd_node, NULL, RSRC_CONF,
                  "node name written to records (default: host name)"),
    /* metrics (issue 10; mod_llmgw_metrics.c) */
    AP_INIT_TAKE_ARGV("LLMGWMetricsLabels", llmgw_metrics_cmd_labels, NULL, RSRC_CONF,
                      "labels of the metrics: provider model [user_id] [team]"),
    AP_INIT_TAKE1("LLMGWMetricsMaxSeries", llmgw_metrics_cmd_max_series, NULL, RSRC_CONF,
                  "label combinations kept before the overflow series (default 1000)"),
    /* rate limits and budgets (issue 6): handlers in mod_llmgw_limits.c */
    AP_INIT_TAKE_ARGV("LLMGWRateLimit", llmgw_cmd_ratelimit, NULL, RSRC_CONF,
                      "NAME per=user|team|key|ip|global [route=NAME] [model=GLOB] "
                      "requests=N|tokens=N|dollars=USD window=30s|5m|1h|1d|1mo"),
    AP_INIT_TAKE_ARGV("LLMGWLimitStore", llmgw_cmd_limitstore, NULL, RSRC_CONF,
                      "shm | redis://[:PASSWORD@]HOST:PORT[/DB] [failure=open|closed] "
                      "[timeout=MS]"),
    AP_INIT_TAKE1("LLMGWLimitSlots", llmgw_cmd_limitslots, NULL, RSRC_CONF,
                  "rate-limit counters kept in shared memory (default 65536)"),
    /* model, tool and content policy (issue 5): handlers in mod_llmgw_policy.c; server
     * level and <Location>, merged as described there */
    AP_INIT_TAKE_ARGV("LLMGWAllowModels", llmgw_cmd_allow_models, NULL, RSRC_CONF | ACCESS_CONF,
                      "PRINCIPAL MODEL-GLOB... (PRINCIPAL: *, user:ID, team:NAME, role:NAME)"),
    AP_INIT_TAKE_ARGV("LLMGWAllowTools", llmgw_cmd_allow_tools, NULL, RSRC_CONF | ACCESS_CONF,
                      "PRINCIPAL TOOL-GLOB... (PRINCIPAL: *, user:ID, team:NAME, role:NAME)"),
    AP_INIT_TAKE1("LLMGWToolPolicy", llmgw_cmd_tool_policy, NULL, RSRC_CONF | ACCESS_CONF,
                  "reject (default: 403 naming the tool) or strip (remove forbidden tools)"),
    AP_INIT_TAKE_ARGV("LLMGWRedact", llmgw_cmd_redact, NULL, RSRC_CONF | ACCESS_CONF,
                      "NAME \"regex\"...: matches become [REDACTED:NAME]"),
    AP_INIT_TAKE_ARGV("LLMGWBlock", llmgw_cmd_block, NULL, RSRC_CONF | ACCESS_CONF,
                      "NAME \"regex\"...: a match refuses the request (400 naming NAME)"),
    {NULL}
};

/* Routes may name providers defined further down the file, so they are resolved once
 * the whole configuration has been read. */
int llmgw_config_check(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    llmgw_dir_conf **rt = (llmgw_dir_conf **)registry->routes->elts;
    for (apr_hash_index_t *hi = apr_hash_first(ptemp, registry->providers); hi;
         hi = apr_hash_next(hi)) {
        const llmgw_provider *pv = apr_hash_this_val(hi);
        if (pv->key_missing)
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_WARNING, 0, s,
                         "llmgw: provider %s: environment variable %s is not set; its "
                         "requests will be answered 503 (%s line %d)", pv->name,
                         pv->key_missing, pv->file, pv->line);
    }
    for (size_t i = 0; i < registry->prices.n; i++) {
        const llmgw_price *pr = &registry->prices.entries[i];
        if (!apr_hash_get(registry->providers, pr->provider, APR_HASH_KEY_STRING)) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         "LLMGWPrice %s %s: no LLMGWProvider named '%s'", pr->provider,
                         pr->glob, pr->provider);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    for (int i = 0; i < registry->routes->nelts; i++) {
        rt[i]->provider = apr_hash_get(registry->providers, rt[i]->route_name,
                                       APR_HASH_KEY_STRING);
        if (!rt[i]->provider) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         "LLMGWRoute names unknown provider '%s' (%s line %d)",
                         rt[i]->route_name, rt[i]->file, rt[i]->line);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return llmgw_config_load_keys(pconf, s);
}

static int load_keyfile(apr_pool_t *pconf, server_rec *s, llmgw_srv_conf *sc)
{
    char *text, err[256];
    apr_file_t *f;
    apr_finfo_t fi;
    if (apr_file_open(&f, sc->keyfile_path, APR_FOPEN_READ, 0, pconf) != APR_SUCCESS ||
        apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "LLMGWKeyFile %s cannot be read", sc->keyfile_path);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_size_t n = (apr_size_t)fi.size;
    text = apr_palloc(pconf, n + 1);
    apr_status_t rv = apr_file_read_full(f, text, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF)
        return HTTP_INTERNAL_SERVER_ERROR;
    llmgw_alloc a = {llmgw_pool_alloc, pconf};
    sc->keyfile = apr_pcalloc(pconf, sizeof *sc->keyfile);
    if (llmgw_keyfile_parse(text, n, &a, sc->keyfile, err, sizeof err) < 0) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "LLMGWKeyFile %s %s", sc->keyfile_path, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* Each distinct key file is parsed once; vhosts naming the same path share it. The
 * file is re-read on every (graceful) restart, which is how keys are revoked. */
int llmgw_config_load_keys(apr_pool_t *pconf, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(pconf);
    for (server_rec *v = s; v; v = v->next) {
        llmgw_srv_conf *sc = ap_get_module_config(v->module_config, &llmgw_module);
        if (!sc->keyfile_path)
            continue;
        llmgw_keyfile *kf = apr_hash_get(seen, sc->keyfile_path, APR_HASH_KEY_STRING);
        if (kf) {
            sc->keyfile = kf;
            continue;
        }
        int rc = load_keyfile(pconf, v, sc);
        if (rc != OK)
            return rc;
        apr_hash_set(seen, sc->keyfile_path, APR_HASH_KEY_STRING, sc->keyfile);
    }
    return OK;
}
