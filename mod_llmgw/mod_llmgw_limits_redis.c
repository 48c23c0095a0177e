/* mod_llmgw_limits_redis.c — the cluster counter store, LLMGWLimitStore redis://: the
 * counters of every rule live in one Redis that several Apache nodes share. Every
 * decision is one Lua script run atomically by Redis (EVALSHA, falling back to EVAL
 * when the server does not know the script yet): all the rules of a request are
 * checked first and only then are the request rules taken, so a refused request
 * counts nowhere and N concurrent requests against a limit of N all succeed.
 *
 * Connections are per child, in an apr_reslist with one connection per worker thread
 * at most (so a thread never waits for another), each with LLMGWLimitStore timeout=
 * for connect and for every command. When Redis fails, this child stops trying for a
 * second (failure= decides meanwhile) instead of making every request wait for a
 * timeout. Keys expire a minute after their window ends. */
#include "mod_llmgw_limits.h"
#include "llmgw_text.h"

#include "ap_mpm.h"
#include "apr_reslist.h"
#include "apr_strings.h"

#include <hiredis.h>
#include <openssl/evp.h>

#define DOWN_INTERVAL apr_time_from_sec(1)
#define KEY_TTL_SLACK 60
#define CONN_IDLE_TTL apr_time_from_sec(60)

/* KEYS[i]: counters. ARGV[3i-2]: 1 = take one request, 0 = only check a token or dollar
 * budget; ARGV[3i-1]: the limit; ARGV[3i]: seconds the key should live.
 * Returns {0, count1, …, countN} when every rule passed (request rules taken), or
 * {i, count1, …, countN} when rule i was the first to refuse (nothing taken). Counts
 * are returned as strings so pico-dollar budgets above 2^53 keep every digit. */
static const char check_script[] =
    "local vals, refused = {}, 0\n"
    "for i = 1, #KEYS do\n"
    "  local v = redis.call('GET', KEYS[i]) or '0'\n"
    "  vals[i] = v\n"
    "  local n, lim = tonumber(v), tonumber(ARGV[3*i-1])\n"
    "  if refused == 0 and ((ARGV[3*i-2] == '1' and n + 1 > lim) or\n"
    "                       (ARGV[3*i-2] == '0' and n >= lim)) then\n"
    "    refused = i\n"
    "  end\n"
    "end\n"
    "if refused == 0 then\n"
    "  for i = 1, #KEYS do\n"
    "    if ARGV[3*i-2] == '1' then\n"
    "      local v = redis.call('INCR', KEYS[i])\n"
    "      if v == 1 then redis.call('EXPIRE', KEYS[i], ARGV[3*i]) end\n"
    "      vals[i] = tostring(v)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "table.insert(vals, 1, refused)\n"
    "return vals\n";

/* KEYS[i]: counters; ARGV[2i-1]: amount to add (exact 64-bit INCRBY); ARGV[2i]: TTL. */
static const char charge_script[] =
    "for i = 1, #KEYS do\n"
    "  redis.call('INCRBY', KEYS[i], ARGV[2*i-1])\n"
    "  if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[2*i]) end\n"
    "end\n"
    "return #KEYS\n";

static char check_sha[41], charge_sha[41];
static apr_reslist_t *conns;
static const llmgw_limits_conf *rconf;
static server_rec *rserver;
static apr_time_t down_until;       /* atomic: skip Redis until then */

static void sha1_hex(const char *s, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL);
    llmgw_hex(md, n < 20 ? n : 20, out);
}

static int simple_command_ok(redisContext *c, int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    int ok = rep && rep->type != REDIS_REPLY_ERROR;
    if (rep)
        freeReplyObject(rep);
    return ok;
}

static apr_status_t conn_make(void **res, void *params, apr_pool_t *p)
{
    struct timeval tv = {rconf->timeout_ms / 1000, (rconf->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(rconf->redis_host, rconf->redis_port, tv);
    if (!c)
        return APR_ENOMEM;
    const char *why = c->err ? c->errstr : NULL;
    if (!why && redisSetTimeout(c, tv) != REDIS_OK)
        why = "cannot set the command timeout";
    if (!why && rconf->redis_password &&
        !simple_command_ok(c, 2, (const char *[]){"AUTH", rconf->redis_password}))
        why = "AUTH failed";
    if (!why && rconf->redis_db) {
        char db[16];
        snprintf(db, sizeof db, "%d", rconf->redis_db);
        if (!simple_command_ok(c, 2, (const char *[]){"SELECT", db}))
            why = "SELECT failed";
    }
    if (why) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, rserver, "llmgw: rate-limit store redis://%s:%d: "
                     "%s", rconf->redis_host, rconf->redis_port, why);
        redisFree(c);
        return APR_ECONNREFUSED;
    }
    *res = c;
    return APR_SUCCESS;
}

static apr_status_t conn_free(void *res, void *params, apr_pool_t *p)
{
    redisFree(res);
    return APR_SUCCESS;
}

void llmgw_redis_child_init(apr_pool_t *pchild, server_rec *s, const llmgw_limits_conf *c)
{
    int threads = 1;
    rconf = c;
    rserver = s;
    sha1_hex(check_script, check_sha);
    sha1_hex(charge_script, charge_sha);
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS || threads < 1)
        threads = 1;
    apr_status_t rv = apr_reslist_create(&conns, 0, threads, threads, CONN_IDLE_TTL, conn_make,
                                         conn_free, NULL, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "llmgw: cannot set up Redis connections");
        conns = NULL;
    }
}

static void mark_down(void)
{
    __atomic_store_n(&down_until, apr_time_now() + DOWN_INTERVAL, __ATOMIC_RELAXED);
}

static redisContext *conn_get(void)
{
    void *res;
    if (!conns || apr_time_now() < __atomic_load_n(&down_until, __ATOMIC_RELAXED))
        return NULL;
    if (apr_reslist_acquire(conns, &res) != APR_SUCCESS) {
        mark_down();
        return NULL;
    }
    return res;
}

/* A connection whose command failed mid-way is in an unknown state: dropped. */
static void conn_put(redisContext *c, int broken)
{
    if (broken) {
        apr_reslist_invalidate(conns, c);
        mark_down();
    } else {
        apr_reslist_release(conns, c);
    }
}

/* EVALSHA sha nkeys keys… args…, or EVAL when Redis does not have the script cached
 * (first use, or after a restart or SCRIPT FLUSH). NULL when the connection failed. */
static redisReply *run_script(redisContext *c, const char *sha, const char *body,
                              const char **keys, int nkeys, const char **args, int nargs,
                              apr_pool_t *p)
{
    int argc = 3 + nkeys + nargs;
    const char **argv = apr_palloc(p, sizeof(char *) * (size_t)argc);
    argv[0] = "EVALSHA";
    argv[1] = sha;
    argv[2] = apr_itoa(p, nkeys);
    memcpy(argv + 3, keys, sizeof(char *) * (size_t)nkeys);
    memcpy(argv + 3 + nkeys, args, sizeof(char *) * (size_t)nargs);
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    if (rep && rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOSCRIPT", 8)) {
        freeReplyObject(rep);
        argv[0] = "EVAL";
        argv[1] = body;
        rep = redisCommandArgv(c, argc, argv, NULL);
    }
    return rep;
}

static int64_t reply_int(const redisReply *e)
{
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return apr_strtoi64(e->str, NULL, 10);
    return 0;
}

/* A script argument: digits by hand, not a vformatter call per rule and request. */
static const char *int_text(apr_pool_t *p, int64_t v)
{
    char d[24], *e = d + sizeof d, *s = llmgw_dec_back(e, v);
    return apr_pstrmemdup(p, s, (apr_size_t)(e - s));
}

static const char *ttl_text(apr_pool_t *p, const llmgw_limit_hit *h, int64_t now)
{
    int64_t ttl = h->w.end - now + KEY_TTL_SLACK;
    return int_text(p, ttl > 0 ? ttl : 1);
}

/* A reply we cannot use: logged, and the decision goes to failure=. */
static llmgw_store_rc bad_reply(request_rec *r, redisReply *rep, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "llmgw: rate-limit store: %s: %s", what,
                  rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    if (rep)
        freeReplyObject(rep);
    return LLMGW_STORE_DOWN;
}

llmgw_store_rc llmgw_redis_check(request_rec *r, llmgw_limit_hit *hits, int n, int64_t now,
                                 int *refused)
{
    const char **keys = apr_palloc(r->pool, sizeof(char *) * (size_t)n);
    const char **args = apr_palloc(r->pool, sizeof(char *) * (size_t)n * 3);
    for (int i = 0; i < n; i++) {
        keys[i] = hits[i].key;
        args[3 * i] = hits[i].lr->rule.kind == LLMGW_RL_REQUESTS ? "1" : "0";
        args[3 * i + 1] = int_text(r->pool, hits[i].lr->rule.limit);
        args[3 * i + 2] = ttl_text(r->pool, &hits[i], now);
    }
    redisContext *c = conn_get();
    if (!c)
        return LLMGW_STORE_DOWN;
    redisReply *rep = run_script(c, check_sha, check_script, keys, n, args, 3 * n, r->pool);
    conn_put(c, rep == NULL);
    if (!rep)
        return LLMGW_STORE_DOWN;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)n + 1)
        return bad_reply(r, rep, "check");
    int64_t idx = reply_int(rep->element[0]);
    for (size_t i = 1; i < rep->elements; i++) {
        hits[i - 1].used = reply_int(rep->element[i]);
        hits[i - 1].known = 1;
    }
    freeReplyObject(rep);
    if (idx < 0 || idx > n)
        return LLMGW_STORE_DOWN;
    if (idx == 0)
        return LLMGW_STORE_OK;
    *refused = (int)idx - 1;
    return LLMGW_STORE_REFUSED;
}

llmgw_store_rc llmgw_redis_charge(request_rec *r, llmgw_limit_hit *hits, int n,
                                  const int64_t *amounts, int64_t now)
{
    const char **keys = apr_palloc(r->pool, sizeof(char *) * (size_t)n);
    const char **args = apr_palloc(r->pool, sizeof(char *) * (size_t)n * 2);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (amounts[i] <= 0)
            continue;
        if (now >= hits[i].w.end)       /* the response ended in a later window */
            llmgw_limits_hit_init(&hits[i], hits[i].lr, hits[i].principal, now, r->pool);
        keys[m] = hits[i].key;
        args[2 * m] = int_text(r->pool, amounts[i]);
        args[2 * m + 1] = ttl_text(r->pool, &hits[i], now);
        m++;
    }
    if (!m)
        return LLMGW_STORE_OK;
    redisContext *c = conn_get();
    if (!c)
        return LLMGW_STORE_DOWN;
    redisReply *rep = run_script(c, charge_sha, charge_script, keys, m, args, 2 * m, r->pool);
    conn_put(c, rep == NULL);
    if (!rep)
        return LLMGW_STORE_DOWN;
    if (rep->type != REDIS_REPLY_INTEGER)
        return bad_reply(r, rep, "charge");
    freeReplyObject(rep);
    return LLMGW_STORE_OK;
}

llmgw_store_rc llmgw_redis_read(request_rec *r, llmgw_limit_hit *hits, int n)
{
    const char **argv = apr_palloc(r->pool, sizeof(char *) * (size_t)(n + 1));
    argv[0] = "MGET";
    for (int i = 0; i < n; i++)
        argv[i + 1] = hits[i].key;
    redisContext *c = conn_get();
    if (!c)
        return LLMGW_STORE_DOWN;
    redisReply *rep = redisCommandArgv(c, n + 1, argv, NULL);
    conn_put(c, rep == NULL);
    if (!rep)
        return LLMGW_STORE_DOWN;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)n)
        return bad_reply(r, rep, "read");
    for (int i = 0; i < n; i++) {
        hits[i].used = reply_int(rep->element[i]);
        hits[i].known = 1;
    }
    freeReplyObject(rep);
    return LLMGW_STORE_OK;
}
