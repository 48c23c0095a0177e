/* mod_llmgw_limits.h — what the rate-limit glue files share: the configured rules and
 * store, the rules applied to one request ("hits"), and the two counter stores (the
 * shared-memory table of this server, or Redis shared by several nodes). */
#ifndef MOD_LLMGW_LIMITS_H
#define MOD_LLMGW_LIMITS_H

#include "mod_llmgw.h"

#include "llmgw_limtable.h"
#include "llmgw_ratelimit.h"

#define LLMGW_LIMITS_MAX_RULES 256      /* also the size of the statistics array */
#define LLMGW_LIMITS_DEFAULT_SLOTS 65536
#define LLMGW_REDIS_DEFAULT_TIMEOUT_MS 250

typedef struct {
    llmgw_rl_rule rule;
    const char *file;
    int line;
    int stat;                   /* statistics entry in the shared segment, -1 none */
} llmgw_limit_rule;

typedef struct {
    apr_array_header_t *rules;  /* llmgw_limit_rule, configuration order */
    int redis;                  /* 0: shm (default), 1: LLMGWLimitStore redis://… */
    const char *redis_host;
    int redis_port;
    const char *redis_password; /* from redis://:PASSWORD@host:port, or NULL */
    int redis_db;
    int timeout_ms;
    int fail_open;              /* failure=open */
    unsigned slots;             /* LLMGWLimitSlots (0 = default) */
} llmgw_limits_conf;

/* One rule applied to one request. */
typedef struct {
    const llmgw_limit_rule *lr;
    const char *principal;
    llmgw_rl_window w;
    char *key;                  /* llmgw_rl_key text (Redis key) */
    size_t keylen;
    uint64_t fp;                /* llmgw_rl_fingerprint(key) (shm slot) */
    llmgw_lt_slot *slot;        /* shm store: the counter, once acquired */
    int64_t used;               /* count reported by the store (after taking) */
    int known;                  /* used is valid */
} llmgw_limit_hit;

struct llmgw_limits_req {
    llmgw_limit_hit *hits;
    int n;
    int passed;                 /* the request was let through: charge it afterwards */
    const char *hdr[9];         /* limit/remaining/reset × requests/tokens/dollars */
};

typedef enum {
    LLMGW_STORE_OK = 0,         /* every rule passed (request rules have been taken) */
    LLMGW_STORE_REFUSED,        /* *refused names the rule; nothing was taken */
    LLMGW_STORE_FULL,           /* shm: no slot for a new key (fail closed) */
    LLMGW_STORE_DOWN            /* Redis unreachable: failure= decides */
} llmgw_store_rc;

/* mod_llmgw_limits.c */
const llmgw_limits_conf *llmgw_limits_conf_get(void);
void llmgw_limits_hit_init(llmgw_limit_hit *h, const llmgw_limit_rule *lr,
                           const char *principal, int64_t now, apr_pool_t *p);
const char *llmgw_limits_principal(llmgw_req *q, llmgw_rl_per per);

/* mod_llmgw_limits_shm.c: the segment, kept across graceful restarts */
int llmgw_limits_shm_setup(apr_pool_t *pconf, server_rec *s, llmgw_limits_conf *c);
llmgw_lt *llmgw_limits_table(void);
llmgw_store_rc llmgw_shm_check(llmgw_limit_hit *hits, int n, int64_t now, int *refused);
int llmgw_shm_charge(llmgw_limit_hit *hits, int n, const int64_t *amounts, int64_t now,
                     apr_pool_t *p);
void llmgw_shm_read(llmgw_limit_hit *hits, int n);

/* mod_llmgw_limits_redis.c */
void llmgw_redis_child_init(apr_pool_t *pchild, server_rec *s, const llmgw_limits_conf *c);
llmgw_store_rc llmgw_redis_check(request_rec *r, llmgw_limit_hit *hits, int n, int64_t now,
                                 int *refused);
llmgw_store_rc llmgw_redis_charge(request_rec *r, llmgw_limit_hit *hits, int n,
                                  const int64_t *amounts, int64_t now);
llmgw_store_rc llmgw_redis_read(request_rec *r, llmgw_limit_hit *hits, int n);

/* mod_llmgw_limits_usage.c */
int llmgw_usage_handler(request_rec *r);

#endif
