/* llmgw_claims.c — reads the caller's identity out of verified claims (see
 * llmgw_claims.h). */
#define _GNU_SOURCE     /* memmem */
#include "llmgw_claims.h"

#include <stdio.h>
#include <string.h>

static const char *const kind_names[LLMGW_CLAIM_COUNT] = {"user_id", "email", "roles", "team"};
const char *const llmgw_claim_defaults[LLMGW_CLAIM_COUNT] = {"sub", "email", NULL, NULL};

int llmgw_claim_kind_parse(const char *name)
{
    for (int i = 0; i < LLMGW_CLAIM_COUNT; i++)
        if (!strcmp(name, kind_names[i]))
            return i;
    return -1;
}

const char *llmgw_claim_kind_name(llmgw_claim_kind k)
{
    return (unsigned)k < LLMGW_CLAIM_COUNT ? kind_names[k] : "?";
}

const char *llmgw_identity_value_check(const char *v, size_t n)
{
    if (n == 0)
        return "is empty";
    if (n > LLMGW_IDENTITY_VALUE_MAX)
        return "is too long";
    /* LibreChat sends {{LIBRECHAT_USER_ID}} literally when it has no value for it */
    if (memmem(v, n, "{{", 2) || memmem(v, n, "}}", 2))
        return "holds an unexpanded placeholder";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return "holds a control character";
    return NULL;
}

const char *llmgw_claim_path_check(const char *path)
{
    size_t n = strlen(path);
    int depth = 1;
    if (!n || n > LLMGW_CLAIM_PATH_MAX)
        return "claim path must have 1 to 256 characters";
    if (path[0] == '.' || path[n - 1] == '.' || strstr(path, ".."))
        return "claim path has an empty segment";
    for (size_t i = 0; i < n; i++)
        depth += path[i] == '.';
    if (depth > LLMGW_CLAIM_PATH_DEPTH)
        return "claim path is nested more than 8 levels";
    return NULL;
}

const json_t *llmgw_claim_get(const json_t *claims, const char *path)
{
    const json_t *v = json_object_get(claims, path);
    if (v || !strchr(path, '.'))
        return v;
    v = claims;
    while (v && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        v = json_is_object(v) ? json_object_getn(v, path, n) : NULL;
        path += n + (dot ? 1 : 0);
    }
    return v;
}

static const char *copy(const llmgw_alloc *a, const char *s, size_t n)
{
    char *p = a->fn(a->ctx, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int add_role(llmgw_caller_id *id, const llmgw_alloc *a, const char *s, size_t n)
{
    if (id->nroles == LLMGW_KEY_MAX_LIST || llmgw_identity_value_check(s, n))
        return 0;
    const char *r = copy(a, s, n);
    if (!r)
        return -1;
    id->roles[id->nroles++] = r;
    return 0;
}

/* "a b  c" (scope style) or one role per array element. */
static int map_roles(const json_t *v, const llmgw_alloc *a, llmgw_caller_id *id)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v), *end = s + json_string_length(v);
        while (s < end) {
            while (s < end && *s == ' ')
                s++;
            const char *e = s;
            while (e < end && *e != ' ')
                e++;
            if (e > s && add_role(id, a, s, (size_t)(e - s)) < 0)
                return -1;
            s = e;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *r;
        json_array_foreach(v, i, r)
            if (json_is_string(r) &&
                add_role(id, a, json_string_value(r), json_string_length(r)) < 0)
                return -1;
    }
    return 0;
}

/* A single-valued claim: a string, an integer (numeric user ids), or the first
 * string of an array (team from a groups-style claim). */
static int scalar(const json_t *v, char *num, size_t numcap, const char **s, size_t *n)
{
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (json_is_string(v)) {
        *s = json_string_value(v);
        *n = json_string_length(v);
        return 1;
    }
    if (json_is_integer(v)) {
        *n = (size_t)snprintf(num, numcap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *s = num;
        return 1;
    }
    return 0;
}

int llmgw_claims_map(const json_t *claims, const char *const paths[LLMGW_CLAIM_COUNT],
                     const llmgw_alloc *a, llmgw_caller_id *id, char *why, size_t whycap)
{
    memset(id, 0, sizeof *id);
    for (int k = 0; k < LLMGW_CLAIM_COUNT; k++) {
        const char *path = paths && paths[k] ? paths[k] : llmgw_claim_defaults[k];
        const json_t *v = path ? llmgw_claim_get(claims, path) : NULL;
        if (k == LLMGW_CLAIM_ROLES) {
            if (map_roles(v, a, id) < 0)
                goto oom;
            continue;
        }
        char num[32];
        const char *s, *bad;
        size_t n;
        if (!v || json_is_null(v) || !scalar(v, num, sizeof num, &s, &n)) {
            if (k == LLMGW_CLAIM_USER) {
                snprintf(why, whycap, "token has no usable %s claim (%s)", kind_names[k],
                         path ? path : "unset");
                return -1;
            }
            continue;
        }
        if ((bad = llmgw_identity_value_check(s, n))) {
            snprintf(why, whycap, "token claim for %s %s", kind_names[k], bad);
            return -1;
        }
        const char *c = copy(a, s, n);
        if (!c)
            goto oom;
        if (k == LLMGW_CLAIM_USER)
            id->user = c;
        else if (k == LLMGW_CLAIM_EMAIL)
            id->email = c;
        else
            id->team = c;
    }
    return 0;
oom:
    snprintf(why, whycap, "out of memory");
    return -1;
}
