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
#include "llmgw_pricing.h"
#include "llmgw_provider.h"
#include "llmgw_request.h"
#include "llmgw_sse.h"
#include "llmgw_usage.h"

/* mod_llmgw.c declares the module (and with it the log index); others refer to it */
#if defined(APLOG_USE_MODULE) && !defined(LLMGW_MODULE_FILE)
APLOG_USE_MODULE(llmgw);
#endif
extern module AP_MODULE_DECLARE_DATA llmgw_module;

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
    const llmgw_provider *provider;
    const char *file;
    int line;
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
    const char *roles[LLMGW_KEY_MAX_LIST];
    int nroles;
    /* request */
    llmgw_reqinfo info;
    char endpoint[64];
    json_t *body_json;
    const char *body;
    apr_size_t body_len;
    int hide_usage_chunk;           /* we asked for OpenAI's usage chunk, the client did not */
    /* response */
    llmgw_usage usage;
    int is_sse, observing;
    llmgw_sse sse;
    char *capture;
    apr_size_t capture_len, capture_cap;
    int capture_overflow;
    /* refusal (answered through the error filter in the provider's format) */
    int refuse_status;
    const char *refuse_message;
    const char *blocked_rule;
    int redactions;
    llmgw_text completion;          /* LLMGWAuditBodies on: the answer's text */
    int error_sent;
    int audited;
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

/* mod_llmgw_body.c */
int llmgw_read_body(llmgw_req *q, apr_off_t limit);
void llmgw_body_register(void);

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
void llmgw_audit_record(llmgw_req *q);
int llmgw_audit_post_config(apr_pool_t *pconf, server_rec *s);

/* helpers */
llmgw_req *llmgw_req_get(const request_rec *r);
const llmgw_srv_conf *llmgw_srv(const server_rec *s);

#endif
