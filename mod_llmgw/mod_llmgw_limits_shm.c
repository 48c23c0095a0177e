/* mod_llmgw_limits_shm.c — the default counter store: one anonymous shared-memory
 * segment holding the llmgw_limtable table (counters and per-rule refusal counts),
 * created by the parent in post_config and inherited by every child, so prefork
 * processes and event threads count in the same words with atomic operations.
 *
 * The segment outlives configuration generations on purpose: its handle is kept in
 * ap_retained_data (which lives in the parent's process pool, not in the module image
 * that a restart unloads), and each new generation re-attaches to it, so counters
 * survive `apachectl -k graceful`. Only a change of LLMGWLimitSlots or of the store
 * (a different layout) starts a new segment with fresh counters, which is logged. A
 * full stop ends the parent and with it the counters: use Redis to keep them. */
#include "mod_llmgw_limits.h"

#include "http_core.h"
#include "apr_shm.h"
#include "apr_strings.h"

#define RETAIN_KEY "mod_llmgw limits segment"

typedef struct {
    apr_shm_t *shm;
    apr_size_t size;
} retained_segment;

static llmgw_lt table;      /* bound in post_config; children inherit it with the mapping */

llmgw_lt *llmgw_limits_table(void)
{
    return &table;
}

static apr_status_t create_segment(retained_segment *rt, apr_size_t size, apr_pool_t *ptemp,
                                   server_rec *s)
{
    apr_pool_t *keep = s->process->pool;   /* outlives every configuration generation */
    apr_status_t rv = apr_shm_create(&rt->shm, size, NULL, keep);
    if (rv == APR_ENOTIMPL) {
        /* no anonymous shared memory on this platform: a file-backed segment */
        const char *fname = ap_runtime_dir_relative(keep, "llmgw-limits.shm");
        apr_shm_remove(fname, ptemp);
        rv = apr_shm_create(&rt->shm, size, fname, keep);
    }
    if (rv == APR_SUCCESS)
        rt->size = size;
    return rv;
}

static void bind_stats(llmgw_limits_conf *c)
{
    llmgw_limit_rule *lr = (llmgw_limit_rule *)c->rules->elts;
    const char *names[LLMGW_LIMITS_MAX_RULES];
    int idx[LLMGW_LIMITS_MAX_RULES];
    for (int i = 0; i < c->rules->nelts; i++)
        names[i] = lr[i].rule.name;
    llmgw_lt_stats_bind(&table, names, c->rules->nelts, idx);
    for (int i = 0; i < c->rules->nelts; i++)
        lr[i].stat = idx[i];
}

int llmgw_limits_shm_setup(apr_pool_t *pconf, server_rec *s, llmgw_limits_conf *c)
{
    uint32_t nslots = c->redis ? 0 : (c->slots ? c->slots : LLMGW_LIMITS_DEFAULT_SLOTS);
    uint32_t nstats = LLMGW_LIMITS_MAX_RULES;
    retained_segment *rt = ap_retained_data_get(RETAIN_KEY);
    if (!rt)
        rt = ap_retained_data_create(RETAIN_KEY, sizeof *rt);
    if (rt->shm) {
        if (llmgw_lt_attach(&table, apr_shm_baseaddr_get(rt->shm), rt->size, nslots,
                            nstats) == 0) {
            bind_stats(c);
            return OK;
        }
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "llmgw: LLMGWLimitSlots or "
                     "LLMGWLimitStore changed: rate-limit counters start afresh");
        /* children of the old generation keep their own mapping until they exit */
        apr_shm_destroy(rt->shm);
        rt->shm = NULL;
    }
    apr_size_t size = llmgw_lt_size(nslots, nstats);
    apr_status_t rv = create_segment(rt, size, pconf, s);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "llmgw: cannot create the %" APR_SIZE_T_FMT
                     "-byte shared memory segment for rate-limit counters", size);
        rt->shm = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    llmgw_lt_init(&table, apr_shm_baseaddr_get(rt->shm), nslots, nstats);
    bind_stats(c);
    return OK;
}

/* Gives back the requests taken before a refusal, so a refused request counts
 * against no rule. */
static void rollback(llmgw_limit_hit *hits, int upto)
{
    for (int j = 0; j < upto; j++)
        if (hits[j].lr->rule.kind == LLMGW_RL_REQUESTS && hits[j].slot)
            hits[j].used = llmgw_lt_add(hits[j].slot, -1);
}

llmgw_store_rc llmgw_shm_check(llmgw_limit_hit *hits, int n, int64_t now, int *refused)
{
    for (int i = 0; i < n; i++) {
        llmgw_limit_hit *h = &hits[i];
        const llmgw_rl_rule *ru = &h->lr->rule;
        h->slot = llmgw_lt_acquire(&table, h->fp, h->w.end, now);
        if (!h->slot) {
            rollback(hits, i);
            return LLMGW_STORE_FULL;
        }
        int ok;
        if (ru->kind == LLMGW_RL_REQUESTS) {
            ok = llmgw_lt_take(h->slot, 1, ru->limit, &h->used);
        } else {
            h->used = llmgw_lt_count(h->slot);
            ok = h->used < ru->limit;
        }
        h->known = 1;
        if (!ok) {
            rollback(hits, i);
            llmgw_shm_read(hits + i + 1, n - i - 1);   /* for the other headers */
            *refused = i;
            return LLMGW_STORE_REFUSED;
        }
    }
    return LLMGW_STORE_OK;
}

int llmgw_shm_charge(llmgw_limit_hit *hits, int n, const int64_t *amounts, int64_t now,
                     apr_pool_t *p)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        llmgw_limit_hit *h = &hits[i];
        if (amounts[i] <= 0)
            continue;
        if (now >= h->w.end || !h->slot || !llmgw_lt_holds(h->slot, h->fp)) {
            /* the response ended in a later window: it counts there */
            llmgw_limits_hit_init(h, h->lr, h->principal, now, p);
            h->slot = llmgw_lt_acquire(&table, h->fp, h->w.end, now);
            if (!h->slot) {
                rc = -1;
                continue;
            }
        }
        h->used = llmgw_lt_add(h->slot, amounts[i]);
    }
    return rc;
}

void llmgw_shm_read(llmgw_limit_hit *hits, int n)
{
    for (int i = 0; i < n; i++) {
        llmgw_lt_slot *s = llmgw_lt_find(&table, hits[i].fp);
        hits[i].used = s ? llmgw_lt_count(s) : 0;
        hits[i].known = 1;
    }
}
