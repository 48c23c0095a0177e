/* mod_llmgw_metrics.c — observability glue (SPEC §10): LLMGWMetricsLabels and
 * LLMGWMetricsMaxSeries, the shared metrics segment (made in post_config, kept across
 * restarts while its shape is unchanged), per-request counting and the LLMGW_*
 * request environment for mod_log_config (from log_transaction, ordered before
 * mod_log_config's), and the `llmgw-metrics` handler. */
#include "mod_llmgw.h"
#include "mod_llmgw_spool.h"

#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include "llmgw_metrics.h"
#include "llmgw_mstore.h"
#include "llmgw_text.h"

#include <stdlib.h>

#define RETAIN_KEY "mod_llmgw metrics segment"
#define DEFAULT_MAX_SERIES 1000
/* While the spool gauge is below this, a scrape recounts the spool files (at most a
 * few MB to read) so the gauge is exact; above it the count kept by the sender
 * threads (+ spooled, - replayed) is used instead of reading the whole spool. Every
 * restart zeroes the gauge, so the first scrape after it reads the spool once. */
#define SPOOL_RECOUNT_BELOW 10000

/* Survives restarts in the parent's process pool (the DSO and its statics do not). */
typedef struct {
    apr_shm_t *shm;
    apr_uint64_t fingerprint;
} metrics_retained;

static llmgw_mstore store;
static int have_store;              /* 0 in a server that could not make the segment */
static apr_uint32_t max_series;
static const char *spool_dir;
/* The series lately counted in, shared by the process's worker threads (llmgw_memo.h). */
#define SERIES_SLOTS 64
static llmgw_memo_slot series_slots[SERIES_SLOTS];
static llmgw_memo series_memo;

void llmgw_metrics_child_init(apr_uint64_t seed)
{
    llmgw_memo_init(&series_memo, series_slots, SERIES_SLOTS, seed);
}

/* --- directives ------------------------------------------------------------------------ */

static llmgw_srv_conf *srv_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &llmgw_module);
}

const char *llmgw_metrics_cmd_labels(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    unsigned mask = 0, seen = 0;
    if (err)
        return err;
    for (int i = 0; i < argc; i++) {
        unsigned bit = !strcmp(argv[i], "provider") ? 4u : !strcmp(argv[i], "model") ? 8u
                       : !strcmp(argv[i], "user_id") ? LLMGW_MLABEL_USER
                       : !strcmp(argv[i], "team") ? LLMGW_MLABEL_TEAM : 0;
        if (!bit)
            return apr_psprintf(cmd->pool, "LLMGWMetricsLabels: unknown label '%s' (provider, "
                                "model, user_id, team)", argv[i]);
        if (seen & bit)
            return apr_psprintf(cmd->pool, "LLMGWMetricsLabels: '%s' given twice", argv[i]);
        seen |= bit;
        mask |= bit & (LLMGW_MLABEL_USER | LLMGW_MLABEL_TEAM);
    }
    if ((seen & 12u) != 12u)
        return "LLMGWMetricsLabels provider model [user_id] [team]: provider and model are "
               "always labels";
    srv_of(cmd)->metrics_labels = mask | LLMGW_METRICS_LABELS_SET;
    return NULL;
}

const char *llmgw_metrics_cmd_max_series(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    if (err)
        return err;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);
    if (*end || v < 1 || v > LLMGW_MSTORE_MAX_SERIES)
        return apr_psprintf(cmd->pool, "LLMGWMetricsMaxSeries takes a number from 1 to %d",
                            LLMGW_MSTORE_MAX_SERIES);
    srv_of(cmd)->metrics_max_series = (apr_uint32_t)v;
    return NULL;
}

/* --- the shared segment ---------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Provider names sorted, so that the fingerprint does not depend on hash order. */
static const char **provider_names(apr_pool_t *p, apr_uint32_t *n)
{
    apr_hash_t *h = llmgw_registry_get()->providers;
    const char **names = apr_palloc(p, sizeof *names * (apr_hash_count(h) + 1));
    *n = 0;
    for (apr_hash_index_t *hi = apr_hash_first(p, h); hi; hi = apr_hash_next(hi))
        names[(*n)++] = apr_hash_this_key(hi);
    qsort(names, *n, sizeof *names, name_cmp);
    return names;
}

/* The segment lives as long as the parent process; children inherit the mapping.
 * A graceful restart with the same labels, limit and providers keeps the counters
 * (children of both generations write to the same segment); otherwise a new empty
 * segment replaces the old one, which the old generation keeps until it exits. */
int llmgw_metrics_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    const llmgw_srv_conf *sc = llmgw_srv(s);
    llmgw_mstore_conf c = {0};
    c.labels = sc->metrics_labels & (LLMGW_MLABEL_USER | LLMGW_MLABEL_TEAM);
    c.max_series = sc->metrics_max_series ? sc->metrics_max_series : DEFAULT_MAX_SERIES;
    c.providers = provider_names(ptemp, &c.nproviders);
    apr_uint64_t fp = llmgw_mstore_fingerprint(&c);
    apr_size_t size = llmgw_mstore_size(&c);
    max_series = c.max_series;
    spool_dir = sc->spool_dir;
    have_store = 0;

    metrics_retained *rd = ap_retained_data_get(RETAIN_KEY);
    if (!rd)
        rd = ap_retained_data_create(RETAIN_KEY, sizeof *rd);
    if (rd->shm && rd->fingerprint == fp &&
        llmgw_mstore_attach(&store, apr_shm_baseaddr_get(rd->shm), apr_shm_size_get(rd->shm),
                            fp) == 0) {
        have_store = 1;
        llmgw_mstore_spooled_set(&store, 0);    /* the next scrape counts the spool afresh */
        return OK;
    }
    if (rd->shm)
        apr_shm_destroy(rd->shm);
    rd->shm = NULL;
    apr_status_t rv = apr_shm_create(&rd->shm, size, NULL, s->process->pool);
    if (rv != APR_SUCCESS) {
        rd->shm = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "llmgw: cannot create %" APR_SIZE_T_FMT
                     " bytes of shared memory for metrics; /metrics answers 503", size);
        return OK;
    }
    /* anonymous shared memory arrives zeroed, as the store expects */
    if (llmgw_mstore_init(&store, apr_shm_baseaddr_get(rd->shm), apr_shm_size_get(rd->shm),
                          &c) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "llmgw: metrics segment cannot be "
                     "formatted (a provider name over %d bytes?); /metrics answers 503",
                     LLMGW_MSTORE_KEY_MAX);
        apr_shm_destroy(rd->shm);
        rd->shm = NULL;
        return OK;
    }
    rd->fingerprint = fp;
    have_store = 1;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "llmgw: metrics segment of %" APR_SIZE_T_FMT
                 " bytes for %u series", size, c.max_series);
    return OK;
}

/* --- counting ------------------------------------------------------------------------- */

void llmgw_metrics_rate_limited(const char *rule)
{
    if (have_store)
        llmgw_mstore_rule(&store, LLMGW_MRULE_RATE_LIMITED, rule);
}

void llmgw_metrics_blocked(const char *rule)
{
    if (have_store)
        llmgw_mstore_rule(&store, LLMGW_MRULE_BLOCKED, rule);
}

void llmgw_metrics_audit_sent(const char *batch, apr_size_t len)
{
    if (have_store)
        llmgw_mstore_audit_sent(&store, llmgw_count_lines(batch, len));
}

void llmgw_metrics_audit_spooled(const char *batch, apr_size_t len, int sign)
{
    if (have_store)
        llmgw_mstore_spooled_add(&store, (apr_int64_t)llmgw_count_lines(batch, len) *
                                         (sign < 0 ? -1 : 1));
}

/* mod_log_config writes bytes outside printable ASCII as \xHH, which breaks the JSON
 * access log; such values (rare: a non-ASCII model or user name) go in percent-encoded. */
static const char *log_safe(apr_pool_t *p, const char *s)
{
    if (llmgw_log_is_safe(s))
        return s;
    size_t cap = 3 * strlen(s) + 1;
    char *out = apr_palloc(p, cap);
    llmgw_log_encode(s, out, cap);
    return out;
}

/* A token count for the log notes: digits by hand, not a vsnprintf per request. */
static const char *pool_count(apr_pool_t *p, apr_int64_t v)
{
    char d[24], *e = d + sizeof d, *s = llmgw_dec_back(e, v < 0 ? 0 : v);
    return apr_pstrmemdup(p, s, (apr_size_t)(e - s));
}

static void publish_env(llmgw_req *q, const char *model, int has_cost, apr_int64_t pico)
{
    request_rec *r = q->r;
    apr_table_t *env = r->subprocess_env;
    /* identity published these as they are for other modules; the log gets them safe
     * (set again only where that differs, or identity did not publish them) */
    if (q->user && (q->user != q->published_user || !llmgw_log_is_safe(q->user)))
        apr_table_setn(env, "LLMGW_USER", log_safe(r->pool, q->user));
    if (q->team && (q->team != q->published_team || !llmgw_log_is_safe(q->team)))
        apr_table_setn(env, "LLMGW_TEAM", log_safe(r->pool, q->team));
    /* The rest are set here only, once per request (q->audited): added, not searched
     * for first. A search is not cheap here: every LLMGW_ name has the same table
     * checksum, so each setn would compare the name with all the others. */
    apr_table_addn(env, "LLMGW_PROVIDER", log_safe(r->pool, q->prov->name));
    if (model)
        apr_table_addn(env, "LLMGW_MODEL", log_safe(r->pool, model));
    apr_table_addn(env, "LLMGW_PROMPT_TOKENS", pool_count(r->pool, q->usage.prompt));
    apr_table_addn(env, "LLMGW_COMPLETION_TOKENS", pool_count(r->pool, q->usage.completion));
    if (has_cost) {
        char *cost = apr_palloc(r->pool, 32);
        if (llmgw_cost_format(pico, cost, 32))
            apr_table_addn(env, "LLMGW_COST", cost);
    }
    if (q->blocked_rule)
        apr_table_addn(env, "LLMGW_BLOCKED_RULE", log_safe(r->pool, q->blocked_rule));
}

static apr_uint64_t non_negative(apr_int64_t v)
{
    return v > 0 ? (apr_uint64_t)v : 0;
}

void llmgw_metrics_log_transaction(llmgw_req *q)
{
    request_rec *r = q->r;
    apr_time_t now = apr_time_now();
    const char *model = llmgw_req_model(q);
    int has_cost = q->priced == LLMGW_COST_KNOWN;
    int64_t pico = has_cost ? q->cost_pico : 0;
    publish_env(q, model, has_cost, pico);
    /* a rate-limit refusal names its rule in blocked_rule too (for the audit record);
     * the limiter counts those itself (llmgw_rate_limited_total) */
    if (q->blocked_rule && q->refuse_status != HTTP_TOO_MANY_REQUESTS)
        llmgw_metrics_blocked(q->blocked_rule);
    if (!have_store)
        return;
    llmgw_mobs o = {
        .provider = q->prov->name, .model = model, .user = q->user, .team = q->team,
        .status = r->status,
        .prompt_tokens = non_negative(q->usage.prompt),
        .completion_tokens = non_negative(q->usage.completion),
        .cost_pico = has_cost ? non_negative(pico) : 0,
        .duration_us = non_negative(now - q->start),
        .has_ttft = q->first_byte != 0,
        .ttft_us = q->first_byte ? non_negative(q->first_byte - q->start) : 0,
    };
    int f = llmgw_mstore_record_memo(&store, &series_memo, &o);
    if (f & LLMGW_MREC_FULL)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "llmgw: LLMGWMetricsMaxSeries %u "
                      "reached: further label combinations count in model=\"" LLMGW_OVERFLOW
                      "\" of their provider", max_series);
}

/* --- the handler ------------------------------------------------------------------------ */

typedef struct {
    request_rec *r;
    apr_bucket_brigade *bb;
    apr_status_t rv;
} brigade_out;

/* apr_brigade_write fills 8 KB heap buckets and passes them down as they fill, so a
 * large exposition is never held whole in memory. */
static void write_brigade(void *ctx, const char *s, size_t n)
{
    brigade_out *o = ctx;
    if (o->rv == APR_SUCCESS)
        o->rv = apr_brigade_write(o->bb, ap_filter_flush, o->r->output_filters, s, n);
}

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *rules;
} rule_collect;

static void collect_rule(void *baton, const char *rule, apr_uint64_t refused)
{
    rule_collect *rc = baton;
    size_t cap = strlen(rule) + 1;
    char *safe = apr_palloc(rc->p, cap);
    if (llmgw_label_sanitize(rule, safe, cap) == (size_t)-1)
        return;
    llmgw_mrule_count *c = apr_array_push(rc->rules);
    c->rule = safe;
    c->count = refused;
}

/* The rate limiter's own counters of trouble (issue 6), next to its refusals. */
static void expose_limit_health(const llmgw_emitter *em)
{
    llmgw_expose_family(em, "llmgw_rate_limit_table_full_total", "counter",
                        "Requests refused because the rate-limit counter table was full.");
    llmgw_expose_u64(em, "llmgw_rate_limit_table_full_total", NULL, 0,
                     llmgw_limits_table_full_total());
    llmgw_expose_family(em, "llmgw_rate_limit_store_errors_total", "counter",
                        "Requests whose limits could not be checked or charged in the "
                        "limit store.");
    llmgw_expose_u64(em, "llmgw_rate_limit_store_errors_total", NULL, 0,
                     llmgw_limits_store_errors_total());
}

static int metrics_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, "llmgw-metrics"))
        return DECLINED;
    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);   /* the 405's Allow */
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    int rc = ap_discard_request_body(r);
    if (rc != OK)
        return rc;
    if (!have_store)
        return HTTP_SERVICE_UNAVAILABLE;
    if (spool_dir && llmgw_mstore_spooled(&store) < SPOOL_RECOUNT_BELOW)
        llmgw_mstore_spooled_set(&store, llmgw_spool_count_records(spool_dir));
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only)
        return OK;

    rule_collect rules = {r->pool, apr_array_make(r->pool, 16, sizeof(llmgw_mrule_count))};
    llmgw_limits_each_rule(collect_rule, &rules);   /* refusals counted by the limiter */
    llmgw_mstore_extra extra = {(llmgw_mrule_count *)rules.rules->elts,
                                (size_t)rules.rules->nelts};
    brigade_out out = {r, apr_brigade_create(r->pool, r->connection->bucket_alloc),
                       APR_SUCCESS};
    llmgw_emitter em = {write_brigade, &out};
    llmgw_mstore_expose(&store, &em, apr_palloc(r->pool, llmgw_mstore_scratch_size(&store)),
                        &extra);
    expose_limit_health(&em);
    if (out.rv != APR_SUCCESS)
        return AP_FILTER_ERROR;     /* the client went away */
    APR_BRIGADE_INSERT_TAIL(out.bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    return ap_pass_brigade(r->output_filters, out.bb) == APR_SUCCESS ? OK : AP_FILTER_ERROR;
}

void llmgw_metrics_register(void)
{
    ap_hook_handler(metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
