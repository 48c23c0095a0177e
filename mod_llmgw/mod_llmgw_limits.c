/* mod_llmgw_limits.c — rate limits and budgets (LLMGWRateLimit, LLMGWLimitStore,
 * LLMGWLimitSlots): the directives, the check in fixups (every rule that applies, one
 * atomic decision in the store), the 429 with Retry-After and x-ratelimit-* headers,
 * the same headers on answers that pass, and the charge of actual tokens and dollars
 * in log_transaction. Counters live in the shm table (mod_llmgw_limits_shm.c) or in
 * Redis (mod_llmgw_limits_redis.c); the llmgw-usage handler is in
 * mod_llmgw_limits_usage.c.
 *
 * Request rules are taken (check-and-increment) before the request is forwarded.
 * Token and dollar rules are only checked then (refused once the window's total has
 * reached the limit) and charged with the provider's usage when the response is
 * complete, so they overshoot by at most what the requests in flight at the moment
 * the limit is crossed consume. */
#include "mod_llmgw_limits.h"
#include "llmgw_text.h"

#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"
#include "util_filter.h"

#define HEADERS_FILTER "LLMGW_LIMIT_HEADERS"
#define FULL_LOG_INTERVAL apr_time_from_sec(10)

static llmgw_limits_conf *limits;     /* NULL until a directive of ours is read */
static ap_filter_rec_t *headers_filter_rec;     /* added by handle: no lookup by name */

/* What the headers filter needs: the decisions of the check, and the time they were
 * made at (the reset values count from it, as if written during the check). */
typedef struct {
    struct llmgw_limits_req *lq;
    int64_t now_ms;
} headers_ctx;

const llmgw_limits_conf *llmgw_limits_conf_get(void)
{
    return limits;
}

static llmgw_limits_conf *conf_for(cmd_parms *cmd)
{
    if (!limits) {
        limits = apr_pcalloc(cmd->pool, sizeof *limits);
        limits->rules = apr_array_make(cmd->pool, 8, sizeof(llmgw_limit_rule));
        limits->timeout_ms = LLMGW_REDIS_DEFAULT_TIMEOUT_MS;
    }
    return limits;
}

static int limits_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    limits = NULL;      /* rules are rebuilt from scratch on every configuration read */
    return OK;
}

/* --- directives ------------------------------------------------------------------ */

const char *llmgw_cmd_ratelimit(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char why[256];
    if (err)
        return err;
    if (argc < 2)
        return "LLMGWRateLimit NAME per=user|team|key|ip|global [route=NAME] [model=GLOB] "
               "requests=N|tokens=N|dollars=USD window=30s|5m|1h|1d|1mo";
    llmgw_limits_conf *c = conf_for(cmd);
    if (c->rules->nelts >= LLMGW_LIMITS_MAX_RULES)
        return "too many LLMGWRateLimit rules (at most 256)";
    const char **args = apr_palloc(cmd->pool, sizeof(char *) * (size_t)argc);
    for (int i = 0; i < argc; i++)
        args[i] = apr_pstrdup(cmd->pool, argv[i]);
    llmgw_limit_rule lr = {.file = cmd->directive->filename,
                           .line = cmd->directive->line_num, .stat = -1};
    if (llmgw_rl_parse(args[0], argc - 1, args + 1, &lr.rule, why, sizeof why) < 0)
        return apr_psprintf(cmd->pool, "LLMGWRateLimit %s: %s", args[0], why);
    const llmgw_limit_rule *have = (const llmgw_limit_rule *)c->rules->elts;
    for (int i = 0; i < c->rules->nelts; i++)
        if (!strcmp(have[i].rule.name, lr.rule.name))
            return apr_psprintf(cmd->pool, "LLMGWRateLimit %s is defined twice (first at %s "
                                "line %d)", lr.rule.name, have[i].file, have[i].line);
    *(llmgw_limit_rule *)apr_array_push(c->rules) = lr;
    return NULL;
}

/* redis://[:PASSWORD@]HOST:PORT[/DB] */
static const char *parse_redis_url(cmd_parms *cmd, llmgw_limits_conf *c, const char *url)
{
    apr_uri_t u;
    if (apr_uri_parse(cmd->temp_pool, url, &u) != APR_SUCCESS || !u.hostname || !*u.hostname
        || !u.port_str || u.query || u.fragment)
        return "LLMGWLimitStore redis:// takes redis://[:PASSWORD@]HOST:PORT[/DB]";
    c->redis = 1;
    c->redis_host = apr_pstrdup(cmd->pool, u.hostname);
    c->redis_port = u.port;
    c->redis_password = u.password ? apr_pstrdup(cmd->pool, u.password) : NULL;
    c->redis_db = 0;
    if (u.path && strcmp(u.path, "/") && *u.path) {
        char *end;
        apr_int64_t db = apr_strtoi64(u.path + 1, &end, 10);
        if (*end || db < 0 || db > 1000000)
            return "LLMGWLimitStore redis://HOST:PORT/DB: DB is a database number";
        c->redis_db = (int)db;
    }
    return NULL;
}

const char *llmgw_cmd_limitstore(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err)
        return err;
    if (argc < 1)
        return "LLMGWLimitStore shm | redis://HOST:PORT [failure=open|closed] [timeout=MS]";
    llmgw_limits_conf *c = conf_for(cmd);
    c->redis = 0;
    c->fail_open = 0;
    if (strcmp(argv[0], "shm")) {
        if (strncmp(argv[0], "redis://", 8))
            return "LLMGWLimitStore takes shm or redis://HOST:PORT";
        if ((err = parse_redis_url(cmd, c, argv[0])))
            return err;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!c->redis)
            return "LLMGWLimitStore shm takes no options";
        if (!strcmp(a, "failure=open") || !strcmp(a, "failure=closed")) {
            c->fail_open = !strcmp(a, "failure=open");
        } else if (!strncmp(a, "timeout=", 8)) {
            char *end;
            apr_int64_t ms = apr_strtoi64(a + 8, &end, 10);
            if (*end || ms < 1 || ms > 10000)
                return "LLMGWLimitStore timeout= takes milliseconds, 1 to 10000";
            c->timeout_ms = (int)ms;
        } else {
            return apr_psprintf(cmd->pool, "unknown LLMGWLimitStore option '%s' "
                                "(failure=open|closed, timeout=MS)", a);
        }
    }
    return NULL;
}

const char *llmgw_cmd_limitslots(cmd_parms *cmd, void *dc, const char *n)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    if (err)
        return err;
    apr_int64_t v = apr_strtoi64(n, &end, 10);
    if (*end || v < LLMGW_LT_MIN_SLOTS || v > LLMGW_LT_MAX_SLOTS)
        return "LLMGWLimitSlots takes a count between 64 and 16777216";
    conf_for(cmd)->slots = (unsigned)v;
    return NULL;
}

/* route=NAME must name a provider; checked once every LLMGWProvider has been read. */
static int limits_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                               server_rec *s)
{
    if (!limits)
        return OK;
    const llmgw_limit_rule *lr = (const llmgw_limit_rule *)limits->rules->elts;
    for (int i = 0; i < limits->rules->nelts; i++) {
        const char *route = lr[i].rule.route;
        if (route && route[0] != '/' &&
            !apr_hash_get(llmgw_registry_get()->providers, route, APR_HASH_KEY_STRING)) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         "LLMGWRateLimit %s: route=%s names no LLMGWProvider (%s line %d)",
                         lr[i].rule.name, route, lr[i].file, lr[i].line);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static int limits_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                              server_rec *s)
{
    if (!limits || !limits->rules->nelts)
        return OK;
    return llmgw_limits_shm_setup(pconf, s, limits);
}

static void limits_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (limits && limits->rules->nelts && limits->redis)
        llmgw_redis_child_init(pchild, s, limits);
}

/* --- who a rule counts ------------------------------------------------------------ */

/* The first 128 bits of the credential's SHA-256 in hex: enough to keep keys apart,
 * nothing a reader of the limit store could use. */
static const char *key_principal(apr_pool_t *p, const unsigned char sha[32])
{
    char *hex = apr_palloc(p, 33);
    llmgw_hex(sha, 16, hex);
    return hex;
}

const char *llmgw_limits_principal(llmgw_req *q, llmgw_rl_per per)
{
    switch (per) {
    case LLMGW_RL_USER:
        return q->user ? q->user : "";
    case LLMGW_RL_TEAM:
        return q->team ? q->team : "";
    case LLMGW_RL_IP:
        return q->r->useragent_ip ? q->r->useragent_ip : "";
    case LLMGW_RL_KEY:
        /* the credential as identity read it, so the same key counts once whether it
         * came as a Bearer token, in x-api-key, x-goog-api-key, api-key or ?key= */
        if (!q->has_credential_sha256)   /* identified without one (Apache auth) */
            return apr_pstrcat(q->r->pool, "user:", q->user ? q->user : "", NULL);
        return key_principal(q->r->pool, q->credential_sha256);
    case LLMGW_RL_GLOBAL:
    default:
        return "";
    }
}

/* The key is written on the stack and kept at its own length: a request's hits take a
 * few dozen bytes of the pool, not LLMGW_RL_KEY_MAX each. */
void llmgw_limits_hit_init(llmgw_limit_hit *h, const llmgw_limit_rule *lr,
                           const char *principal, int64_t now, apr_pool_t *p)
{
    char key[LLMGW_RL_KEY_MAX];
    memset(h, 0, sizeof *h);
    h->lr = lr;
    h->principal = principal;
    llmgw_rl_window_at(&lr->rule, now, &h->w);
    h->keylen = llmgw_rl_key(&lr->rule, &h->w, principal, key, sizeof key);
    h->key = apr_pstrmemdup(p, key, h->keylen);
    h->fp = llmgw_rl_fingerprint(h->key, h->keylen);
}

/* --- answers ---------------------------------------------------------------------- */

/* The three header values of one rule: the limit's text ("50", "0.25") was written at
 * configuration time; remaining and reset are written here, into one allocation. */
static void rule_headers(const char **hdr, const llmgw_limit_hit *h, int64_t now_ms,
                         apr_pool_t *p)
{
    const llmgw_rl_rule *ru = &h->lr->rule;
    char *left = apr_palloc(p, 40 + 32), *reset = left + 40;
    llmgw_rl_people_text(ru->kind, llmgw_rl_remaining(ru, h->used), left, 40);
    llmgw_rl_reset_text(&h->w, now_ms, reset, 32);
    hdr[0] = ru->limit_text;
    hdr[1] = left;
    hdr[2] = reset;
}

/* For each kind, the rule a client should hear about: the refused one, else the one
 * with the least left. The x-ratelimit-* values then come from it. */
static void choose_headers(struct llmgw_limits_req *lq, int refused, int64_t now_ms,
                           apr_pool_t *p)
{
    int best[3] = {-1, -1, -1};
    for (int i = 0; i < lq->n; i++) {
        const llmgw_limit_hit *h = &lq->hits[i];
        int k = h->lr->rule.kind;
        if (!h->known || (best[k] >= 0 && best[k] == refused))
            continue;
        if (i == refused || best[k] < 0 ||
            llmgw_rl_remaining(&h->lr->rule, h->used) <
                llmgw_rl_remaining(&lq->hits[best[k]].lr->rule, lq->hits[best[k]].used))
            best[k] = i;
    }
    for (int k = 0; k < 3; k++)
        if (best[k] >= 0)
            rule_headers(lq->hdr + 3 * k, &lq->hits[best[k]], now_ms, p);
}

static const char *header_name(int i)
{
    static const char *const names[9] = {
        "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
        "x-ratelimit-limit-dollars", "x-ratelimit-remaining-dollars",
        "x-ratelimit-reset-dollars"};
    return names[i];
}

/* Whether t already holds an x-ratelimit-* header (a provider's). */
static int has_ratelimit_header(const apr_table_t *t)
{
    const apr_array_header_t *a = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)a->elts;
    for (int i = 0; i < a->nelts; i++)
        if (e[i].key && (e[i].key[0] | 0x20) == 'x' &&
            !ap_cstr_casecmpn(e[i].key, "x-ratelimit-", 12))
            return 1;
    return 0;
}

/* Ours replace any of the same name. When there is none (the usual case), appending
 * gives the same table without six scans of it. */
static void put_headers(const struct llmgw_limits_req *lq, apr_table_t *t)
{
    int replace = has_ratelimit_header(t);
    for (int i = 0; i < 9; i++) {
        if (!lq->hdr[i])
            continue;
        if (replace)
            apr_table_setn(t, header_name(i), lq->hdr[i]);
        else
            apr_table_addn(t, header_name(i), lq->hdr[i]);
    }
}

/* On an answer that passed, our figures replace the provider's own x-ratelimit-*
 * headers (those describe the gateway's upstream account, not this caller). They go
 * in on the first brigade, after mod_proxy_http has copied the provider's headers.
 * They are chosen and written only here, so a request that never answers through
 * this filter never formats them; the hits they come from are not touched before
 * log_transaction, and the reset values count from the check's time. */
static apr_status_t headers_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    headers_ctx *hc = f->ctx;
    choose_headers(hc->lq, -1, hc->now_ms, f->r->pool);
    put_headers(hc->lq, f->r->headers_out);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* Passed: the answer will carry the headers, written when it starts (headers_filter). */
static void add_headers_filter(request_rec *r, struct llmgw_limits_req *lq, int64_t now_ms)
{
    headers_ctx *hc = apr_palloc(r->pool, sizeof *hc);
    hc->lq = lq;
    hc->now_ms = now_ms;
    ap_add_output_filter_handle(headers_filter_rec, hc, r, r->connection);
}

static int refuse_limit(llmgw_req *q, struct llmgw_limits_req *lq, int refused,
                        int64_t now_ms)
{
    request_rec *r = q->r;
    const llmgw_limit_hit *h = &lq->hits[refused];
    const llmgw_rl_rule *ru = &h->lr->rule;
    llmgw_lt_stat_inc(llmgw_limits_table(), h->lr->stat);
    choose_headers(lq, refused, now_ms, r->pool);
    put_headers(lq, r->err_headers_out);
    char *retry = apr_palloc(r->pool, 24);
    llmgw_rl_int_text(llmgw_rl_retry_after(&h->w, now_ms), retry, 24);
    apr_table_setn(r->err_headers_out, "Retry-After", retry);
    const char *what = ru->kind == LLMGW_RL_REQUESTS ? "rate limit exceeded" : "budget exhausted";
    const char *unit = ru->kind == LLMGW_RL_DOLLARS ? " USD" : ru->kind == LLMGW_RL_TOKENS
                       ? " tokens" : " requests";
    const char *msg = apr_pstrcat(r->pool, what, ": rule '", ru->name, "' allows ",
                                  ru->limit_text, unit, " per ", ru->window_spec, " per ",
                                  llmgw_rl_per_name(ru->per), "; try again in ", retry,
                                  " seconds", NULL);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "llmgw %s: refused by LLMGWRateLimit %s "
                  "(%s %s)", q->request_id, ru->name, llmgw_rl_per_name(ru->per), h->principal
                  && ru->per != LLMGW_RL_KEY ? h->principal : "-");
    q->blocked_rule = ru->name;
    return llmgw_refuse(q, HTTP_TOO_MANY_REQUESTS, msg);
}

/* Whether a recurring condition should be logged again: once per 10 s per child and
 * condition (the metrics count every occurrence). */
static int log_due(apr_time_t *last)
{
    apr_time_t now = apr_time_now(), prev = __atomic_load_n(last, __ATOMIC_RELAXED);
    return now - prev > FULL_LOG_INTERVAL &&
           __atomic_compare_exchange_n(last, &prev, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* A key that finds no slot is refused (fail closed). */
static int refuse_full(llmgw_req *q)
{
    static apr_time_t last_log;
    if (log_due(&last_log))
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, q->r, "llmgw %s: the rate-limit table is full "
                      "(%" APR_UINT64_T_FMT " new keys refused so far): raise LLMGWLimitSlots",
                      q->request_id, (apr_uint64_t)llmgw_lt_full_total(llmgw_limits_table()));
    apr_table_setn(q->r->err_headers_out, "Retry-After", "10");
    return llmgw_refuse(q, HTTP_SERVICE_UNAVAILABLE, "the gateway cannot track a new rate-limit "
                        "counter right now; try again later");
}

static int store_down(llmgw_req *q, struct llmgw_limits_req *lq)
{
    llmgw_lt_store_error(llmgw_limits_table());
    if (limits->fail_open) {
        lq->passed = 1;     /* charged later if Redis is back by then */
        return OK;
    }
    apr_table_setn(q->r->err_headers_out, "Retry-After", "1");
    return llmgw_refuse(q, HTTP_SERVICE_UNAVAILABLE, "the rate-limit store is unavailable");
}

int llmgw_limits_check(llmgw_req *q)
{
    if (!limits || !limits->rules->nelts)
        return OK;
    request_rec *r = q->r;
    apr_time_t t = apr_time_now();
    int64_t now = apr_time_sec(t), now_ms = apr_time_as_msec(t);
    const llmgw_limit_rule *lr = (const llmgw_limit_rule *)limits->rules->elts;
    const char *principal[LLMGW_RL_GLOBAL + 1] = {NULL};
    struct llmgw_limits_req *lq = apr_pcalloc(r->pool, sizeof *lq);
    lq->hits = apr_palloc(r->pool, sizeof(llmgw_limit_hit) * (size_t)limits->rules->nelts);
    for (int i = 0; i < limits->rules->nelts; i++) {
        if (!llmgw_rl_applies(&lr[i].rule, q->dconf->route_name, q->dconf->prefix,
                              q->info.model))
            continue;
        llmgw_rl_per per = lr[i].rule.per;
        if (!principal[per])
            principal[per] = llmgw_limits_principal(q, per);
        llmgw_limits_hit_init(&lq->hits[lq->n++], &lr[i], principal[per], now, r->pool);
    }
    q->limits = lq;
    if (!lq->n)
        return OK;
    int refused = -1;
    llmgw_store_rc rc = limits->redis ? llmgw_redis_check(r, lq->hits, lq->n, now, &refused)
                                      : llmgw_shm_check(lq->hits, lq->n, now, &refused);
    switch (rc) {
    case LLMGW_STORE_OK:
        lq->passed = 1;
        add_headers_filter(r, lq, now_ms);
        return OK;
    case LLMGW_STORE_REFUSED:
        return refuse_limit(q, lq, refused, now_ms);
    case LLMGW_STORE_FULL:
        return refuse_full(q);
    case LLMGW_STORE_DOWN:
    default:
        return store_down(q, lq);
    }
}

/* --- charging usage --------------------------------------------------------------- */

/* Pico-dollars of the request under LLMGWPrice (llmgw_req_price); 0 when no price
 * matches (the audit code warns once per model), all of the budget when the price
 * overflows. */
static int64_t request_cost(const llmgw_req *q)
{
    return q->priced == LLMGW_COST_KNOWN ? q->cost_pico
         : q->priced == LLMGW_COST_OVERFLOW ? INT64_MAX : 0;
}

void llmgw_limits_account(llmgw_req *q)
{
    struct llmgw_limits_req *lq = q->limits;
    if (!lq || !lq->passed || !limits)
        return;
    int64_t tokens = llmgw_usage_total(&q->usage), dollars = -1;
    int64_t *amounts = apr_pcalloc(q->r->pool, sizeof(int64_t) * (size_t)lq->n);
    int any = 0;
    for (int i = 0; i < lq->n; i++) {
        llmgw_rl_kind k = lq->hits[i].lr->rule.kind;
        if (k == LLMGW_RL_TOKENS)
            amounts[i] = tokens;
        else if (k == LLMGW_RL_DOLLARS && tokens > 0)
            amounts[i] = dollars >= 0 ? dollars : (dollars = request_cost(q));
        any |= amounts[i] > 0;
    }
    if (!any)
        return;
    static apr_time_t last_log;
    int64_t now = apr_time_sec(apr_time_now());
    int lost = limits->redis
        ? llmgw_redis_charge(q->r, lq->hits, lq->n, amounts, now) != LLMGW_STORE_OK
        : llmgw_shm_charge(lq->hits, lq->n, amounts, now, q->r->pool) < 0;
    if (!lost)
        return;
    llmgw_lt_store_error(llmgw_limits_table());
    if (log_due(&last_log))
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, q->r, "llmgw %s: usage (%" APR_INT64_T_FMT
                      " tokens) could not be charged to its token/dollar limits (logged once "
                      "per 10 s)", q->request_id, (apr_int64_t)tokens);
}

/* --- for the metrics handler ------------------------------------------------------ */

void llmgw_limits_each_rule(llmgw_limits_rule_fn fn, void *baton)
{
    if (!limits)
        return;
    const llmgw_limit_rule *lr = (const llmgw_limit_rule *)limits->rules->elts;
    for (int i = 0; i < limits->rules->nelts; i++)
        fn(baton, lr[i].rule.name, llmgw_lt_stat_get(llmgw_limits_table(), lr[i].stat));
}

apr_uint64_t llmgw_limits_table_full_total(void)
{
    return llmgw_lt_full_total(llmgw_limits_table());
}

apr_uint64_t llmgw_limits_store_errors_total(void)
{
    return llmgw_lt_store_errors(llmgw_limits_table());
}

void llmgw_limits_register(void)
{
    ap_hook_pre_config(limits_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(limits_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(limits_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(limits_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(llmgw_usage_handler, NULL, NULL, APR_HOOK_MIDDLE);
    headers_filter_rec = ap_register_output_filter(HEADERS_FILTER, headers_filter, NULL,
                                                   AP_FTYPE_CONTENT_SET);
}
