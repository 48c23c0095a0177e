/* llmgw_claims.h — the caller's identity (user, email, team, roles) and how it is read
 * from verified JWT claims (LLMGWClaim): dotted paths for nested claims
 * (realm_access.roles), a role claim as an array or a space-separated string (scope).
 * Every value that ends up in an identity passes llmgw_identity_value_check, the same
 * rule delegated headers follow. Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_CLAIMS_H
#define LLMGW_CLAIMS_H

#include <stddef.h>

#include <jansson.h>

#include "llmgw_keyfile.h"    /* llmgw_alloc, LLMGW_KEY_MAX_LIST */

#define LLMGW_IDENTITY_VALUE_MAX 256
#define LLMGW_CLAIM_PATH_MAX 256
#define LLMGW_CLAIM_PATH_DEPTH 8

typedef struct {
    const char *user, *email, *team;
    const char *roles[LLMGW_KEY_MAX_LIST];
    int nroles;
} llmgw_caller_id;

typedef enum {
    LLMGW_CLAIM_USER = 0, LLMGW_CLAIM_EMAIL, LLMGW_CLAIM_ROLES, LLMGW_CLAIM_TEAM,
    LLMGW_CLAIM_COUNT
} llmgw_claim_kind;

/* "user_id", "email", "roles", "team" → kind, or -1. */
int llmgw_claim_kind_parse(const char *name);
const char *llmgw_claim_kind_name(llmgw_claim_kind k);

/* Claims read when LLMGWClaim says nothing: user_id from sub, email from email,
 * no roles, no team. */
extern const char *const llmgw_claim_defaults[LLMGW_CLAIM_COUNT];

/* NULL when the value may name a user, team, email or role; else why not (empty,
 * longer than 256 bytes, an unexpanded {{placeholder}}, a control character). */
const char *llmgw_identity_value_check(const char *v, size_t len);

/* NULL when path is a usable claim path, else why not. */
const char *llmgw_claim_path_check(const char *path);

/* The claim at path: first the whole path as one top-level name (namespaced claims
 * such as "https://example.com/roles" contain dots), then the dotted walk. */
const json_t *llmgw_claim_get(const json_t *claims, const char *path);

/* Fills id from claims using paths (NULL entries mean the default). Strings are copied
 * with a. Returns 0, or -1 with why: no usable user claim, or an unusable email/team.
 * Roles that are not usable strings are skipped; more than LLMGW_KEY_MAX_LIST are cut. */
int llmgw_claims_map(const json_t *claims, const char *const paths[LLMGW_CLAIM_COUNT],
                     const llmgw_alloc *a, llmgw_caller_id *id, char *why, size_t whycap);

#endif
