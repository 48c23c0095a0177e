/* mod_llmgw_audit.c — one usage record per routed request, built in log_transaction
 * (which runs even when the client went away mid-stream, so partial usage is kept)
 * and handed to this child's queue without waiting on anything. */
#include "mod_llmgw.h"
#include "llmgw_memo.h"
#include "mod_llmgw_queue.h"
#include "mod_llmgw_spool.h"

#include "http_core.h"
#include "apr_strings.h"

#include "llmgw_record.h"

#define CONV_HEADER_DEFAULT "X-Conversation-Id"

static const char *node_name(const request_rec *r, const llmgw_srv_conf *sc)
{
    return sc->node ? sc->node : r->server->server_hostname;
}

static void fill_usage(llmgw_record *rec, const llmgw_req *q)
{
    const llmgw_usage *u = &q->usage;
    rec->prompt_tokens = u->prompt;
    rec->completion_tokens = u->completion;
    rec->cached_tokens = u->cached;
    rec->cache_write_tokens = u->cache_write;
    rec->reasoning_tokens = u->reasoning;
    rec->total_tokens = llmgw_usage_total(u);
}

/* "No matching price": logged once per model and child, not once per request. */
static int first_miss(const char *model)
{
    static apr_uint32_t seen[256];
    apr_uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)model; *p; p++)
        h = (h ^ *p) * 16777619u;
    h |= 1;
    apr_uint32_t old = __atomic_exchange_n(&seen[h & 255], h, __ATOMIC_RELAXED);
    return old != h;
}

const char *llmgw_req_model(const llmgw_req *q)
{
    return q->info.model[0] ? q->info.model : (q->usage.model[0] ? q->usage.model : NULL);
}

/* Once per request, when usage is final: the record, the metrics, the access-log
 * environment and the dollar budgets all read this one figure. */
/* Prices looked up lately, shared by the process's worker threads (llmgw_memo.h): a
 * keep-alive client asks for the same model again and again, and the table (fixed for
 * the life of the process) may hold hundreds of globs. */
#define PRICE_SLOTS 64
static llmgw_memo_slot price_slots[PRICE_SLOTS];
static llmgw_memo price_memo;

void llmgw_price_child_init(apr_uint64_t seed)
{
    llmgw_memo_init(&price_memo, price_slots, PRICE_SLOTS, seed);
}

static const llmgw_price *price_of(const llmgw_price_table *t, const char *provider,
                                   const char *model)
{
    char name[LLMGW_MEMO_NAME_MAX];
    const char *parts[2] = {provider, model};
    const void *hit;
    size_t n = llmgw_memo_join(name, parts, 2);
    if (n && llmgw_memo_get(&price_memo, t, name, n, &hit))
        return hit;
    const llmgw_price *pr = llmgw_price_lookup(t, provider, model);
    if (n)
        llmgw_memo_put(&price_memo, t, name, n, pr);
    return pr;
}

void llmgw_req_price(llmgw_req *q)
{
    const llmgw_price_table *t = &llmgw_registry_get()->prices;
    const char *model = llmgw_req_model(q);
    q->cost_pico = 0;
    q->priced = LLMGW_COST_NONE;
    if (!model)
        model = "";
    if (q->prov->type == LLMGW_PT_HTTP)
        return;
    const llmgw_price *pr = price_of(t, q->prov->name, model);
    if (pr) {
        q->priced = llmgw_price_cost(pr, &q->usage, &q->cost_pico) == 0 ? LLMGW_COST_KNOWN
                                                                          : LLMGW_COST_OVERFLOW;
        return;
    }
    if (llmgw_usage_total(&q->usage) > 0 && first_miss(model))
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, q->r, "llmgw: no LLMGWPrice for provider "
                      "%s model '%s': cost_usd is null", q->prov->name, model);
}

static void fill_cost(llmgw_record *rec, const llmgw_req *q)
{
    rec->has_cost = q->priced == LLMGW_COST_KNOWN;
    rec->cost_pico = rec->has_cost ? q->cost_pico : 0;
}

static void fill_record(llmgw_record *rec, const llmgw_req *q, const llmgw_srv_conf *sc)
{
    request_rec *r = q->r;
    apr_time_t now = apr_time_now();
    memset(rec, 0, sizeof *rec);
    rec->ts_ms = apr_time_as_msec(q->start);
    rec->request_id = q->request_id;
    rec->user = q->user;
    rec->email = q->email;
    rec->team = q->team;
    rec->nroles = q->nroles;
    if (q->nroles)
        memcpy(rec->roles, q->roles, sizeof(rec->roles[0]) * (size_t)q->nroles);
    rec->provider = q->prov->name;
    rec->model = llmgw_req_model(q);
    rec->endpoint = q->endpoint;
    rec->status = r->status;
    rec->stream = q->info.stream || q->is_sse;
    fill_usage(rec, q);
    fill_cost(rec, q);
    /* wall-clock times: a clock stepped back must not make a negative (refused) record */
    rec->latency_ms = now > q->start ? apr_time_as_msec(now - q->start) : 0;
    rec->ttft_ms = q->first_byte > q->start ? apr_time_as_msec(q->first_byte - q->start) : 0;
    rec->conversation_id = apr_table_get(r->headers_in,
                                         sc->conv_header ? sc->conv_header : CONV_HEADER_DEFAULT);
    rec->client_ip = r->useragent_ip;
    rec->blocked_rule = q->blocked_rule;
    rec->redactions = q->redactions;
    rec->node = node_name(r, sc);
    /* texts only of requests that went to the provider: a refused body may hold
     * exactly what a block rule or the model policy kept from leaving */
    if (sc->audit_bodies == 2 && !q->refuse_status && !q->blocked_rule) {
        apr_size_t max = sc->bodies_max ? sc->bodies_max : LLMGW_BODIES_MAX_DEFAULT;
        rec->prompt = q->body ? q->body : "";
        rec->prompt_len = q->body_len < max ? q->body_len : max;
        rec->completion = q->completion.buf ? q->completion.buf : "";
        rec->completion_len = q->completion.len;
    }
}

/* A record is some 700 bytes; LLMGW_RECORD_MAX_LINE (32 KB) is what its longest
 * strings could make it. Reserving that on the stack moved every function called from
 * here 32 KB down the worker's stack, into lines no recent request had touched (perf
 * showed even llmgw_srv's call as a cache miss). Records encode into a small buffer
 * first and into the request pool only when they do not fit. */
#define RECORD_LINE_FIRST 2048

static __attribute__((noinline)) void encode_and_queue(llmgw_req *q, const llmgw_srv_conf *sc)
{
    request_rec *r = q->r;
    llmgw_record rec;
    char first[RECORD_LINE_FIRST], *line = first;
    fill_record(&rec, q, sc);
    size_t n = rec.prompt ? 0 : llmgw_record_encode(&rec, first, sizeof first);
    if (n == 0) {
        size_t cap = LLMGW_RECORD_MAX_LINE + (rec.prompt ? llmgw_record_bodies_room(&rec) : 0);
        line = apr_palloc(r->pool, cap);
        n = llmgw_record_encode(&rec, line, cap);
    }
    if (n == 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "llmgw %s: record does not encode",
                      q->request_id);
        return;
    }
    llmgw_queue_push(line, n);
}

void llmgw_audit_record(llmgw_req *q)
{
    const llmgw_srv_conf *sc = llmgw_srv(q->r->server);
    if (!sc->audit_target && !sc->spool_dir)
        return;                 /* records are not kept (warned at startup) */
    encode_and_queue(q, sc);
}

int llmgw_audit_post_config(apr_pool_t *pconf, server_rec *s)
{
    const llmgw_srv_conf *sc = llmgw_srv(s);
    if (!sc->audit_target && !sc->spool_dir && apr_hash_count(llmgw_registry_get()->providers))
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "llmgw: neither LLMGWAudit nor LLMGWAuditSpool is set: usage records "
                     "are not kept");
    return sc->spool_dir ? llmgw_spool_prepare(pconf, s, sc->spool_dir) : OK;
}

void llmgw_audit_child_init(apr_pool_t *pchild, server_rec *s)
{
    llmgw_queue_child_init(pchild, s);
}
