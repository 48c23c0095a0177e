/* llmgw_policy.c — principals, allow lists and the model lists: the decisions of
 * LLMGWAllowModels / LLMGWAllowTools for one caller, and a provider's model list cut
 * down to what that caller may use. */
#include "llmgw_policy.h"

#include <string.h>

#include "llmgw_glob.h"

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

int llmgw_principal_parse(const char *s, llmgw_principal *out)
{
    static const struct {
        const char *prefix;
        llmgw_principal_kind kind;
    } kinds[] = {
        {"user:", LLMGW_PRINCIPAL_USER},
        {"team:", LLMGW_PRINCIPAL_TEAM},
        {"role:", LLMGW_PRINCIPAL_ROLE},
    };
    if (!s)
        return -1;
    if (!strcmp(s, "*")) {
        out->kind = LLMGW_PRINCIPAL_ANY;
        out->name = NULL;
        return 0;
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t k = strlen(kinds[i].prefix);
        if (!strncmp(s, kinds[i].prefix, k) && valid_name(s + k)) {
            out->kind = kinds[i].kind;
            out->name = s + k;
            return 0;
        }
    }
    return -1;
}

static int same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

int llmgw_principal_matches(const llmgw_principal *p, const llmgw_subject *id)
{
    switch (p->kind) {
    case LLMGW_PRINCIPAL_ANY:
        return 1;
    case LLMGW_PRINCIPAL_USER:
        return same(p->name, id->user);
    case LLMGW_PRINCIPAL_TEAM:
        return same(p->name, id->team);
    case LLMGW_PRINCIPAL_ROLE:
        for (int i = 0; i < id->nroles; i++)
            if (same(p->name, id->roles[i]))
                return 1;
        return 0;
    }
    return 0;
}

int llmgw_allowed(const llmgw_allow_list *l, const llmgw_subject *id, const char *name)
{
    if (!l || l->n == 0)
        return 1;
    if (!name)
        return 0;
    for (size_t i = 0; i < l->n; i++) {
        const llmgw_allow_rule *r = &l->rules[i];
        if (!llmgw_principal_matches(&r->who, id))
            continue;
        for (int g = 0; g < r->nglobs; g++)
            if (llmgw_glob_match(r->globs[g], name))
                return 1;
    }
    return 0;
}

/* Skips an optional API version segment ("/v1", "/v1beta", "/v2alpha"). */
static const char *skip_version(const char *p)
{
    if (p[0] == '/' && p[1] == 'v' && p[2] >= '0' && p[2] <= '9') {
        const char *q = p + 2;
        while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z'))
            q++;
        if (*q == '/')
            return q;
    }
    return p;
}

llmgw_models_req llmgw_models_request(llmgw_ptype t, const char *method, const char *path,
                                      char *id, size_t cap)
{
    if (!method || !path || (strcmp(method, "GET") && strcmp(method, "HEAD")))
        return LLMGW_MODELS_NONE;
    if (t == LLMGW_PT_AZURE || t == LLMGW_PT_HTTP || t >= LLMGW_PT_COUNT)
        return LLMGW_MODELS_NONE;
    const char *p = skip_version(path);
    if (strncmp(p, "/models", 7))
        return LLMGW_MODELS_NONE;
    p += 7;
    if (!*p || !strcmp(p, "/"))
        return LLMGW_MODELS_LIST;
    if (*p != '/')
        return LLMGW_MODELS_NONE;
    p++;
    size_t n = strlen(p);
    /* Gemini's "models/x:method" is an action, not a description */
    if (!n || strchr(p, '/') || (t == LLMGW_PT_GEMINI && strchr(p, ':')))
        return LLMGW_MODELS_NONE;
    if (cap) {
        if (n >= cap)
            n = cap - 1;
        memcpy(id, p, n);
        id[n] = '\0';
    }
    return LLMGW_MODELS_ITEM;
}

int llmgw_models_query(llmgw_ptype t, const char *args, char *out, size_t cap)
{
    const char *param = t == LLMGW_PT_ANTHROPIC ? "limit" : t == LLMGW_PT_GEMINI ? "pageSize"
                                                                              : NULL;
    size_t n = 0, plen;
    if (!param)
        return -1;
    plen = strlen(param);
    for (const char *p = args ? args : ""; *p;) {
        size_t k = strcspn(p, "&");
        int drop = (k > plen && p[plen] == '=' && !strncmp(p, param, plen)) ||
                   (t == LLMGW_PT_GEMINI && !strncmp(p, "page_size=", 10) && k >= 10) || k == 0;
        if (!drop) {
            if (n + k + 2 > cap)
                return -1;
            memcpy(out + n, p, k);
            n += k;
            out[n++] = '&';
        }
        p += k + (p[k] == '&');
    }
    if (n + plen + 6 > cap)
        return -1;
    memcpy(out + n, param, plen);
    memcpy(out + n + plen, "=1000", 6);
    return 0;
}

int llmgw_models_filter(llmgw_ptype t, json_t *root, const llmgw_allow_list *l,
                        const llmgw_subject *id)
{
    int gemini = t == LLMGW_PT_GEMINI;
    json_t *list = json_object_get(root, gemini ? "models" : "data");
    if (!json_is_object(root))
        return -1;
    if (!list && gemini)
        return 0;   /* Gemini leaves "models" out of an empty page */
    if (!json_is_array(list))
        return -1;
    int removed = 0;
    for (size_t i = json_array_size(list); i-- > 0;) {
        const char *name = json_string_value(json_object_get(json_array_get(list, i),
                                                             gemini ? "name" : "id"));
        if (name && gemini && !strncmp(name, "models/", 7))
            name += 7;
        if (!name || !llmgw_allowed(l, id, name)) {
            json_array_remove(list, i);
            removed++;
        }
    }
    return removed;
}
