/* mod_llmgw.h — the httpd glue's shared types: providers, per-location routes, the
 * server configuration and the per-request state every hook and filter works on. */
#ifndef MOD_LLMGW_H
#define MOD_LLMGW_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_hash.h"
#include "apr_tables.h"

#include <jansson.h>

#include "llmgw_completion.h"
#include "llmgw_keyfile.h"
#include "llmgw_claims.h"         /* identity (issue 4) */
#include "llmgw_pricing.h"
#include "llmgw_provider.h"
#include "llmgw_redact.h"          /* LLMGW_TEXT_ROOTS */
#include "llmgw_request.h"
#include "llmgw_sse.h"
#include "llmgw_usage.h"

/* mod_llmgw.c declares the module (and with it the log index); others refer to it */
#if defined(APLOG_USE_MODULE) && !defined(LLMGW_MODULE_FILE)
APLOG_USE_MODULE(llmgw);
#endif
extern module AP_MODULE_DECLARE_DATA llmgw_module;

/* The address of a worker thread's memo (a _Thread_local), taken once. In a shared
 * object every use of a thread-local is a __tls_get_addr call, and gcc would rather
 * repeat that call in each turn of a loop over the memo (80 calls per request in the JWT
 * memo's compare) than keep the address in a register; the empty asm hides where the
 * pointer came from, so it is kept. */
#define LLMGW_THREAD_MEMO(var) \
    __extension__({ __typeof__(&(var)) llmgw_memo_ = &(var); \
                    __asm__("" : "+r"(llmgw_memo_)); llmgw_memo_; })

#define LLMGW_DEFAULT_MAX_BODY  (32 * 1024 * 1024)
#define LLMGW_RESPONSE_CAPTURE  (8 * 1024 * 1024)   /* non-stream JSON kept for usage */
#define LLMGW_SSE_EVENT_CAP     (1024 * 1024)       /* largest SSE event parsed */
#define LLMGW_DEFAULT_SPOOL_MAX ((apr_off_t)1 << 30)  /* bytes of spooled records */
#define LLMGW_BODIES_MAX_DEFAULT (32 * 1024)
#define LLMGW_BODIES_MAX_LIMIT   (64 * 1024)   /* escaped, a record stays < 1 MiB */

typedef struct llmgw_provider {
    const char *name;
    llmgw_ptype type;
    const char *url;          /* no trailing slash */
    const char *proxy_url;    /* "proxy:" + url: r->filename's start for mod_proxy */
    size_t proxy_url_len;
    const char *key;          /* resolved secret, NULL for key=none */
    const char *key_header;
    const char *key_value;    /* prefix + key, ready for headers_in */
    const char *key_missing;  /* env variable named by key= that was not set */
    const char *file;
    int line;
} llmgw_provider;

typedef enum { LLMGW_ID_KEY, LLMGW_ID_JWT, LLMGW_ID_APACHE, LLMGW_ID_PASSTHROUGH } llmgw_idsrc;

/* Per-<Location> configuration. */
typedef struct {
    const char *route_name;
    const char *prefix;       /* the <Location> path the route is mounted at */
    size_t prefix_len;        /* without trailing slashes */
    const llmgw_provider *provider;
    const char *file;
    int line;
    /* policy (issue 5): LLMGWAllowModels/AllowTools/ToolPolicy/Redact/Block, merged by
     * llmgw_policy_merge (mod_llmgw_policy.c); NULL when none is configured */
    struct llmgw_policy_conf *policy;
} llmgw_dir_conf;

/* Everything configured at server level. Providers and the key file are global to
 * the configuration (shared by all virtual hosts), everything else merges per vhost. */
typedef struct {
    int identity[4];
    int nidentity;            /* 0 = unset (default: key) */
    const char *keyfile_path;
    llmgw_keyfile *keyfile;
    const char *audit_target; /* "unix:/path" or "tcp:host:port" */
    const char *spool_dir;
    apr_off_t spool_max;      /* 0 = unset (LLMGW_DEFAULT_SPOOL_MAX) */
    int audit_bodies;         /* 0 unset, 1 off, 2 on */
    apr_size_t bodies_max;    /* bytes kept of each of prompt and completion */
    apr_off_t max_body;       /* 0 = unset */
    const char *conv_header;
    const char *node;
    /* identity: JWT and apache (issue 4; mod_llmgw_jwt.c, mod_llmgw_auth.c) */
    struct llmgw_jwt_conf *jwt;             /* LLMGWJWT + LLMGWClaim, NULL when unset */
    struct {
        const char *name;                   /* env variable or request header */
        int from_header;
    } apache_attr[LLMGW_CLAIM_COUNT];       /* LLMGWApacheClaim (user_id is r->user) */
    /* metrics (issue 10; mod_llmgw_metrics.c), main server only */
    unsigned metrics_labels;                /* LLMGW_MLABEL_* | LLMGW_METRICS_LABELS_SET */
    apr_uint32_t metrics_max_series;        /* LLMGWMetricsMaxSeries, 0 = default 1000 */
} llmgw_srv_conf;

/* Global registry built while the configuration is read (lives in pconf). */
typedef struct {
    apr_hash_t *providers;          /* name → llmgw_provider */
    apr_array_header_t *routes;     /* llmgw_dir_conf * to resolve at check_config */
    llmgw_price_table prices;       /* LLMGWPrice, in configuration order */
} llmgw_registry;

/* Per-request state (r->request_config). */
typedef struct llmgw_req {
    request_rec *r;
    const llmgw_dir_conf *dconf;
    const llmgw_provider *prov;
    const char *path;               /* below the route prefix, starts with '/' */
    const char *request_id;
    apr_time_t start, first_byte;
    const char *client_key;         /* the credential the client presented */
    /* identity */
    const char *user, *email, *team;
    const char *const *roles;       /* the key line's, or the request pool's */
    int nroles;
    /* request */
    llmgw_reqinfo info;
    char endpoint[64];
    json_t *body_json;              /* read through llmgw_body_root() / llmgw_body_tree() */
    int body_shallow;               /* body_json, if made yet, holds only body_spans' members */
    /* where the scan found LLMGW_REQUEST_MEMBERS, then LLMGW_TEXT_ROOTS, in spans_of */
    llmgw_json_span body_spans[LLMGW_RM_N + LLMGW_TR_N];
    const char *spans_of;
    const char *body;
    apr_size_t body_len;
    apr_off_t sent_length;          /* the client's Content-Length (0: none, -1: bad) */
    int hide_usage_chunk;           /* we asked for OpenAI's usage chunk, the client did not */
    /* response */
    llmgw_usage usage;
    int is_sse, observing;          /* the observer's own state is its filter's */
    /* refusal (answered through the error filter in the provider's format) */
    int refuse_status;
    const char *refuse_message;
    const char *blocked_rule;
    int redactions;
    llmgw_text completion;          /* LLMGWAuditBodies on: the answer's text */
    int error_sent;
    int audited;
    /* cost (llmgw_req_price, at log_transaction): one figure for every reader */
    enum { LLMGW_COST_NONE, LLMGW_COST_KNOWN, LLMGW_COST_OVERFLOW } priced;
    int64_t cost_pico;
    /* rate limits and budgets (issue 6; mod_llmgw_limits.c): the rules this request
     * was checked against, charged with its usage in log_transaction */
    struct llmgw_limits_req *limits;
    /* identity (issue 4): LLMGWIdentity passthrough forwards the client's own key;
     * llmgw_inject_credential puts it where the provider expects its key */
    const char *passthrough_key;
    /* the SHA-256 of the credential that identified the caller (gateway key, JWT or
     * passthrough key, as presented in whichever header), when there was one: per=key
     * limits count by it, whatever header carried it */
    unsigned char credential_sha256[32];
    int has_credential_sha256;
    const char *published_user, *published_team;   /* as identity set LLMGW_USER/_TEAM */
} llmgw_req;

/* mod_llmgw_config.c */
extern const command_rec llmgw_cmds[];
void *llmgw_create_dir_conf(apr_pool_t *p, char *dir);
void *llmgw_merge_dir_conf(apr_pool_t *p, void *base, void *add);
void *llmgw_create_srv_conf(apr_pool_t *p, server_rec *s);
void *llmgw_merge_srv_conf(apr_pool_t *p, void *base, void *add);
llmgw_registry *llmgw_registry_get(void);
void llmgw_registry_reset(apr_pool_t *pconf);
int llmgw_config_check(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);
int llmgw_config_load_keys(apr_pool_t *pconf, server_rec *s);

/* mod_llmgw_proxy.c */
int llmgw_translate_name(request_rec *r);
void llmgw_inject_credential(llmgw_req *q);
const char *llmgw_proxy_define_worker(cmd_parms *cmd, const char *url);

/* mod_llmgw_auth.c */
int llmgw_identify(llmgw_req *q);
void llmgw_auth_child_init(apr_uint64_t seed);

/* mod_llmgw_body.c */
int llmgw_read_body(llmgw_req *q, apr_off_t limit);
void llmgw_body_replay(llmgw_req *q);   /* after policy may have rewritten q->body */
json_t *llmgw_body_tree(llmgw_req *q);  /* the whole body's tree; NULL: none, or no memory */
/* A tree with at least model, stream and stream_options (NULL: no JSON body, or no
 * memory): what the checks that read only those need. */
json_t *llmgw_body_root(llmgw_req *q);
/* Where the scan that judged the body found LLMGW_TEXT_ROOTS in it, while the body is
 * still that text (NULL otherwise). */
const llmgw_json_span *llmgw_body_text_roots(const llmgw_req *q);
/* The body is JSON (an object), parsed: policy has something to read. */
int llmgw_body_parsed(const llmgw_req *q);
/* The "model" the body names, exactly as the provider will read it (NULL: none); *bad
 * when it is not a plain string (another type, or a string holding U+0000). */
const char *llmgw_body_model(llmgw_req *q, int *bad);
/* Policy rewrote the body: body becomes the text sent on. */
void llmgw_body_replace(llmgw_req *q, const char *body, apr_size_t len);
void llmgw_body_register(void);
/* A Content-Length value as ap_parse_strict_length reads it (1: *n set), the usual
 * few digits without strtol. */
int llmgw_content_length(const char *v, apr_off_t *n);

/* policy (issue 5): mod_llmgw_policy.c — directives, merge, the per-request checks;
 * mod_llmgw_models.c — the filtered model list */
struct llmgw_policy_conf;
struct llmgw_policy_conf *llmgw_policy_merge(apr_pool_t *p, struct llmgw_policy_conf *base,
                                             struct llmgw_policy_conf *add);
int llmgw_policy_request(llmgw_req *q);
void llmgw_policy_register(void);
const char *llmgw_cmd_allow_models(cmd_parms *cmd, void *dc, int argc, char *const argv[]);
const char *llmgw_cmd_allow_tools(cmd_parms *cmd, void *dc, int argc, char *const argv[]);
const char *llmgw_cmd_tool_policy(cmd_parms *cmd, void *dc, const char *arg);
const char *llmgw_cmd_redact(cmd_parms *cmd, void *dc, int argc, char *const argv[]);
const char *llmgw_cmd_block(cmd_parms *cmd, void *dc, int argc, char *const argv[]);

/* mod_llmgw_observe.c */
void llmgw_observe_register(void);
void llmgw_observe_start(llmgw_req *q);

/* mod_llmgw_reply.c */
void llmgw_reply_register(void);
int llmgw_refuse(llmgw_req *q, int status, const char *message);
const char *llmgw_new_request_id(request_rec *r);
void llmgw_reply_child_init(apr_pool_t *p);

/* mod_llmgw_audit.c */
void llmgw_audit_child_init(apr_pool_t *pchild, server_rec *s);
void llmgw_price_child_init(apr_uint64_t seed);
void llmgw_audit_record(llmgw_req *q);
int llmgw_audit_post_config(apr_pool_t *pconf, server_rec *s);

/* identity (issue 4): mod_llmgw_jwt.c */
const char *llmgw_cmd_jwt(cmd_parms *cmd, void *dc, int argc, char *const argv[]);
const char *llmgw_cmd_claim(cmd_parms *cmd, void *dc, const char *kind, const char *path);
void llmgw_identity_merge_srv(apr_pool_t *p, llmgw_srv_conf *c, const llmgw_srv_conf *base,
                              const llmgw_srv_conf *add);
int llmgw_jwt_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s);
int llmgw_jwt_identify(llmgw_req *q, const char *token);
/* identity (issue 4): mod_llmgw_auth.c */
const char *llmgw_cmd_apache_claim(cmd_parms *cmd, void *dc, const char *kind,
                                   const char *source);
void llmgw_scrub_request_line(request_rec *r);

/* rate limits and budgets (issue 6): mod_llmgw_limits.c */
const char *llmgw_cmd_ratelimit(cmd_parms *cmd, void *dc, int argc, char *const argv[]);
const char *llmgw_cmd_limitstore(cmd_parms *cmd, void *dc, int argc, char *const argv[]);
const char *llmgw_cmd_limitslots(cmd_parms *cmd, void *dc, const char *n);
void llmgw_limits_register(void);           /* from register_hooks */
int llmgw_limits_check(llmgw_req *q);       /* fixups: OK or the refusal status */
void llmgw_limits_account(llmgw_req *q);    /* log_transaction: charge tokens/dollars */
/* For the metrics handler: refusals per configured rule (llmgw_rate_limited_total{rule}),
 * shared by all children and kept across graceful restarts; new keys refused because
 * the counter table was full; requests decided without the Redis store. */
typedef void (*llmgw_limits_rule_fn)(void *baton, const char *rule, apr_uint64_t refused);
void llmgw_limits_each_rule(llmgw_limits_rule_fn fn, void *baton);
apr_uint64_t llmgw_limits_table_full_total(void);
apr_uint64_t llmgw_limits_store_errors_total(void);

/* metrics and log fields (issue 10): mod_llmgw_metrics.c */
#define LLMGW_METRICS_LABELS_SET 0x100u
const char *llmgw_metrics_cmd_labels(cmd_parms *cmd, void *dc, int argc, char *const argv[]);
const char *llmgw_metrics_cmd_max_series(cmd_parms *cmd, void *dc, const char *arg);
int llmgw_metrics_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
void llmgw_metrics_register(void);                  /* from register_hooks */
void llmgw_metrics_log_transaction(llmgw_req *q);   /* counters + LLMGW_* environment */
void llmgw_metrics_child_init(apr_uint64_t seed);
/* Counting API for other features (all children share the counts):
 * - a request refused by a content rule is counted from q->blocked_rule in
 *   log_transaction (unless its refusal status is 429: a rate-limit rule): set
 *   q->blocked_rule, do not also call llmgw_metrics_blocked;
 * - rate-limit refusals come from llmgw_limits_each_rule; llmgw_metrics_rate_limited
 *   is for 429s by rules that table does not count (summed with it by rule name);
 * - the audit sender reports batches acknowledged by auditd, and batches written to
 *   (sign +1) or replayed from (sign -1) the spool; records are counted as lines. */
void llmgw_metrics_rate_limited(const char *rule);
void llmgw_metrics_blocked(const char *rule);
void llmgw_metrics_audit_sent(const char *batch, apr_size_t len);
void llmgw_metrics_audit_spooled(const char *batch, apr_size_t len, int sign);
/* mod_llmgw_audit.c: the request's model (NULL when unknown), and its cost under
 * LLMGWPrice set in q->priced / q->cost_pico once usage is final (no price applies:
 * warned once per model). */
const char *llmgw_req_model(const llmgw_req *q);
void llmgw_req_price(llmgw_req *q);

/* helpers */
llmgw_req *llmgw_req_get(const request_rec *r);
void llmgw_pool_append(apr_pool_t *p, char **buf, apr_size_t *len, apr_size_t *cap,
                       const char *d, apr_size_t n);
/* The core library's allocator callback (llmgw_alloc and its kin) over an APR pool:
 * ctx is the pool. */
void *llmgw_pool_alloc(void *ctx, size_t n);
const llmgw_srv_conf *llmgw_srv(const server_rec *s);

#endif
