/* llmgw_policy.h — who may use what (SPEC §4): principals (`*`, `user:ID`, `team:NAME`,
 * `role:NAME`), allow lists of glob patterns (LLMGWAllowModels, LLMGWAllowTools), the
 * model-list requests of each provider and filtering the list a provider returns down
 * to the models a caller may use. Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_POLICY_H
#define LLMGW_POLICY_H

#include <jansson.h>
#include <stddef.h>

#include "llmgw_provider.h"

typedef enum {
    LLMGW_PRINCIPAL_ANY = 0,    /* "*" */
    LLMGW_PRINCIPAL_USER,       /* "user:ID" */
    LLMGW_PRINCIPAL_TEAM,       /* "team:NAME" */
    LLMGW_PRINCIPAL_ROLE        /* "role:NAME" */
} llmgw_principal_kind;

typedef struct {
    llmgw_principal_kind kind;
    const char *name;           /* after the prefix; NULL for "*" */
} llmgw_principal;

/* The caller a decision is about. Strings may be NULL (unknown). */
typedef struct {
    const char *user, *team;
    const char *const *roles;
    int nroles;
} llmgw_subject;


/* One LLMGWAllowModels / LLMGWAllowTools line: the principal and its globs. */
typedef struct {
    llmgw_principal who;
    const char *const *globs;
    int nglobs;
} llmgw_allow_rule;

/* The rules in force for a request. n == 0 means no rules: everything is allowed.
 * With rules, a name is allowed when a rule whose principal matches the caller has a
 * glob matching the name, and denied otherwise. */
typedef struct {
    const llmgw_allow_rule *rules;
    size_t n;
} llmgw_allow_list;

/* Parses "*", "user:ID", "team:NAME", "role:NAME" (non-empty names, no spaces or
 * control characters). out->name points into s. Returns 0, or -1 when malformed. */
int llmgw_principal_parse(const char *s, llmgw_principal *out);

int llmgw_principal_matches(const llmgw_principal *p, const llmgw_subject *id);

/* 1 when the caller may use name under the list, else 0 (NULL name: 0 with rules). */
int llmgw_allowed(const llmgw_allow_list *l, const llmgw_subject *id, const char *name);

/* What a request path (below the route prefix) asks of the models endpoint. */
typedef enum {
    LLMGW_MODELS_NONE = 0,      /* not a models request */
    LLMGW_MODELS_LIST,          /* GET /v1/models, /v1beta/models: the provider's list */
    LLMGW_MODELS_ITEM           /* GET /v1/models/{id}: one model's description */
} llmgw_models_req;

/* Classifies a GET path: "/models", "/v1/models", "/v1beta/models" (and "/{id}" after
 * them) for OpenAI-wire, Anthropic and Gemini routes. For ITEM, the model id (Gemini:
 * without "models/") is copied into id (cap bytes, NUL-terminated). Azure's deployments
 * are not listed through the gateway, so its paths are NONE. */
llmgw_models_req llmgw_models_request(llmgw_ptype t, const char *method, const char *path,
                                      char *id, size_t cap);

/* The query string for a model list request whose result will be filtered: the page
 * size raised to the provider's maximum (Anthropic limit=1000, Gemini pageSize=1000),
 * other parameters kept. Filtering a small page can leave it empty while more pages
 * follow, and the SDKs stop paging at an empty page; one large page avoids that.
 * Written into out (cap bytes; the query plus 32 is enough). Returns 0, or -1 when the
 * provider has no paging (OpenAI wire) or out is too small. */
int llmgw_models_query(llmgw_ptype t, const char *args, char *out, size_t cap);

/* Removes from a provider's model list (the parsed JSON body) every model the caller
 * may not use: OpenAI-wire and Anthropic `data[].id`, Gemini `models[].name`
 * ("models/" stripped before matching). Everything else in the object (paging:
 * has_more, first_id, last_id, nextPageToken) stays as the provider sent it, so the
 * client's next page request works unchanged. An entry without a string id is removed.
 * Returns the number of entries removed, or -1 when the body is not a model list
 * (the caller fails closed). */
int llmgw_models_filter(llmgw_ptype t, json_t *root, const llmgw_allow_list *l,
                        const llmgw_subject *id);

#endif
