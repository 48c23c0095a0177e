/* mod_llmgw_auth.c — who is calling: the identity sources of LLMGWIdentity in order.
 * Gateway keys come wherever the client's SDK puts an API key; a key line with
 * delegate= belongs to a trusted front end that names its end user in headers. A
 * request that no source identifies is refused before its body is read. */
#include "mod_llmgw.h"

#include "apr_strings.h"

#define DELEGATE_VALUE_MAX 256

/* The credential as each SDK sends it: OpenAI/Azure/compatible and the newest
 * Anthropic SDK in Authorization, older Anthropic SDKs and LibreChat in x-api-key,
 * Gemini in x-goog-api-key or ?key=, Azure in api-key. */
static const char *presented_key(llmgw_req *q)
{
    apr_table_t *h = q->r->headers_in;
    const char *v = apr_table_get(h, "Authorization");
    if (v && !ap_cstr_casecmpn(v, "Bearer ", 7)) {
        v += 7;
        while (*v == ' ')
            v++;
        return *v ? v : NULL;
    }
    if ((v = apr_table_get(h, "x-api-key")) && *v)
        return v;
    if ((v = apr_table_get(h, "x-goog-api-key")) && *v)
        return v;
    if ((v = apr_table_get(h, "api-key")) && *v)
        return v;
    return q->client_key;
}

/* A delegated value must be what the front end meant to send: not empty, not an
 * unexpanded template placeholder, no control characters, bounded. */
static const char *check_delegated(const char *v)
{
    size_t n = strlen(v);
    if (n == 0)
        return "is empty";
    if (n > DELEGATE_VALUE_MAX)
        return "is too long";
    if (strstr(v, "{{") || strstr(v, "}}"))
        return "holds an unexpanded placeholder";
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "holds a control character";
    return NULL;
}

static int split_roles(llmgw_req *q, const char *v)
{
    char *s = apr_pstrdup(q->r->pool, v), *last, *tok;
    q->nroles = 0;
    for (tok = apr_strtok(s, ", ", &last); tok && q->nroles < LLMGW_KEY_MAX_LIST;
         tok = apr_strtok(NULL, ", ", &last))
        q->roles[q->nroles++] = tok;
    return OK;
}

/* delegate=H1,H2,H3,H4 name the headers carrying, in this order, the end user's id,
 * email, roles (comma or space separated) and team. A header the front end leaves
 * out keeps the key's own value; one it sends badly refuses the request. */
static int apply_delegation(llmgw_req *q, const llmgw_key *k)
{
    for (int i = 0; i < k->ndelegate && i < 4; i++) {
        const char *v = apr_table_get(q->r->headers_in, k->delegate[i]);
        if (!v)
            continue;
        const char *why = check_delegated(v);
        if (why) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r,
                          "llmgw %s: delegated header %s %s", q->request_id, k->delegate[i], why);
            return llmgw_refuse(q, HTTP_UNAUTHORIZED,
                                apr_psprintf(q->r->pool, "delegated identity header %s %s",
                                             k->delegate[i], why));
        }
        switch (i) {
        case 0: q->user = v; break;
        case 1: q->email = v; break;
        case 2: split_roles(q, v); break;
        case 3: q->team = v; break;
        }
    }
    return OK;
}

static int identify_by_key(llmgw_req *q, const llmgw_srv_conf *sc, const char *key)
{
    const llmgw_key *k = sc->keyfile ? llmgw_keyfile_lookup(sc->keyfile, key, strlen(key)) : NULL;
    if (!k)
        return DECLINED;
    q->user = k->user;
    q->email = k->email;
    q->team = k->team;
    q->nroles = k->nroles;
    memcpy(q->roles, k->roles, sizeof(q->roles[0]) * (size_t)k->nroles);
    return apply_delegation(q, k);
}

static void publish_identity(llmgw_req *q)
{
    apr_table_t *env = q->r->subprocess_env;
    if (q->user)
        apr_table_setn(env, "LLMGW_USER", q->user);
    if (q->team)
        apr_table_setn(env, "LLMGW_TEAM", q->team);
}

int llmgw_identify(llmgw_req *q)
{
    static const int default_order[] = {LLMGW_ID_KEY};
    const llmgw_srv_conf *sc = llmgw_srv(q->r->server);
    const int *order = sc->nidentity ? sc->identity : default_order;
    int n = sc->nidentity ? sc->nidentity : 1;
    const char *key = presented_key(q);
    for (int i = 0; i < n; i++) {
        int rc = DECLINED;
        if (order[i] == LLMGW_ID_KEY && key)
            rc = identify_by_key(q, sc, key);
        if (rc == OK)
            publish_identity(q);
        if (rc != DECLINED)
            return rc;
    }
    return llmgw_refuse(q, HTTP_UNAUTHORIZED, key ? "invalid gateway API key"
                                                  : "missing gateway API key");
}
