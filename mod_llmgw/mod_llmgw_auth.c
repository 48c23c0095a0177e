/* mod_llmgw_auth.c — who is calling: the identity sources of LLMGWIdentity, tried in
 * the configured order until one identifies the caller or refuses the credential.
 *   key          gateway keys from the key file; a key line with delegate= belongs to
 *                a trusted front end that names its end user in headers
 *   jwt          a JWT verified against the JWKS (mod_llmgw_jwt.c)
 *   apache       r->user set by another Apache auth module; email, roles and team
 *                from environment variables or headers (LLMGWApacheClaim)
 *   passthrough  the client's own provider key, forwarded to the provider
 * A request that no source identifies is refused before its body is read. The
 * client's credential never reaches a log: a gateway key in ?key= is also cut out of
 * the request line that mod_log_config's %r writes. */
#include "mod_llmgw.h"

#include "apr_strings.h"
#include "llmgw_memo.h"
#include "llmgw_text.h"


/* The credential as each SDK sends it: OpenAI/Azure/compatible and the newest
 * Anthropic SDK in Authorization, older Anthropic SDKs and LibreChat in x-api-key,
 * Gemini in x-goog-api-key or ?key=, Azure in api-key. */
static const char *presented_key(llmgw_req *q)
{
    apr_table_t *h = q->r->headers_in;
    const char *v = apr_table_get(h, "Authorization");
    if (v && (!strncmp(v, "Bearer ", 7) || !ap_cstr_casecmpn(v, "Bearer ", 7))) {
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

/* Roles in a header or variable: comma or space separated (mod_auth_openidc joins
 * array claims with commas). Values that could not name a role are skipped. */
static void split_roles(llmgw_req *q, const char *v)
{
    char *s = apr_pstrdup(q->r->pool, v), *last, *tok;
    const char **roles = apr_palloc(q->r->pool, LLMGW_KEY_MAX_LIST * sizeof *roles);
    q->nroles = 0;
    q->roles = roles;
    for (tok = apr_strtok(s, ", ", &last); tok && q->nroles < LLMGW_KEY_MAX_LIST;
         tok = apr_strtok(NULL, ", ", &last))
        if (!llmgw_identity_value_check(tok, strlen(tok)))
            roles[q->nroles++] = tok;
}

/* delegate=H1,H2,H3,H4 name the headers carrying, in this order, the end user's id,
 * email, roles (comma or space separated) and team. A header the front end leaves
 * out keeps the key's own value; one it sends badly refuses the request. */
static int apply_delegation(llmgw_req *q, const llmgw_key *k)
{
    for (int i = 0; i < k->ndelegate; i++) {
        const char *v = apr_table_get(q->r->headers_in, k->delegate[i]);
        if (!v)
            continue;
        const char *why = llmgw_identity_value_check(v, strlen(v));
        /* httpd joins a repeated header with ", ": a second X-User-Id must not ride along
         * (roles, the third header, are a comma-separated list by design) */
        if (!why && i != 2 && strchr(v, ','))
            why = "was sent more than once or holds a comma";
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

/* Keys verified lately, shared by the process's worker threads (llmgw_memo.h): a
 * keep-alive client sends the same key on every request, and comparing it (in constant
 * time) costs a tenth of hashing it. The key file is read at configuration time only:
 * revoking a key takes a graceful restart, which replaces every child and so every
 * memo. Wrong keys are never kept. */
#define KEY_SLOTS 64
static llmgw_memo_slot key_slots[KEY_SLOTS];
static llmgw_memo key_memo;

void llmgw_auth_child_init(apr_uint64_t seed)
{
    llmgw_memo_init(&key_memo, key_slots, KEY_SLOTS, seed);
}

static const llmgw_key *lookup_key(const llmgw_keyfile *kf, const char *key)
{
    const void *hit;
    size_t len = strlen(key);
    if (llmgw_memo_get(&key_memo, kf, key, len, &hit))
        return hit;
    const llmgw_key *k = llmgw_keyfile_lookup(kf, key, len);
    if (k)
        llmgw_memo_put(&key_memo, kf, key, len, k);
    return k;
}

static int identify_by_key(llmgw_req *q, const llmgw_srv_conf *sc, const char *key)
{
    const llmgw_key *k = sc->keyfile ? lookup_key(sc->keyfile, key) : NULL;
    if (!k)
        return DECLINED;
    q->user = k->user;
    q->email = k->email;
    q->team = k->team;
    memcpy(q->credential_sha256, k->hash, sizeof q->credential_sha256);   /* sha256(key) */
    q->has_credential_sha256 = 1;
    q->nroles = k->nroles;
    q->roles = k->roles;                /* the key file lives as long as the config */
    return apply_delegation(q, k);
}

static const char *apache_attr(llmgw_req *q, const llmgw_srv_conf *sc, llmgw_claim_kind k)
{
    const char *name = sc->apache_attr[k].name;
    if (!name)
        return NULL;
    const char *v = apr_table_get(sc->apache_attr[k].from_header ? q->r->headers_in
                                                                 : q->r->subprocess_env, name);
    return v && !llmgw_identity_value_check(v, strlen(v)) ? v : NULL;
}

/* Trusts the user another module authenticated (mod_auth_basic, mod_auth_openidc,
 * mod_authnz_ldap): they ran in check_user_id, before our fixups. */
static int identify_by_apache(llmgw_req *q, const llmgw_srv_conf *sc)
{
    const char *user = q->r->user, *why, *roles;
    if (!user)
        return DECLINED;
    if ((why = llmgw_identity_value_check(user, strlen(user))))
        return llmgw_refuse(q, HTTP_UNAUTHORIZED,
                            apr_pstrcat(q->r->pool, "authenticated user name ", why, NULL));
    q->user = user;
    q->email = apache_attr(q, sc, LLMGW_CLAIM_EMAIL);
    q->team = apache_attr(q, sc, LLMGW_CLAIM_TEAM);
    q->nroles = 0;
    if ((roles = apache_attr(q, sc, LLMGW_CLAIM_ROLES)))
        split_roles(q, roles);
    return OK;
}

/* The caller pays with their own provider key; the audit trail still needs a stable
 * name for them that reveals nothing: the first 12 hex digits of the key's SHA-256. */
static int identify_passthrough(llmgw_req *q, const char *key)
{
    char hex[13];
    llmgw_sha256(key, strlen(key), q->credential_sha256);
    q->has_credential_sha256 = 1;
    llmgw_hex(q->credential_sha256, 6, hex);
    q->user = apr_pstrcat(q->r->pool, "key:", hex, NULL);
    q->email = q->team = NULL;
    q->nroles = 0;
    q->passthrough_key = key;
    return OK;
}

/* For mod_log_config (%{LLMGW_USER}e or %{LLMGW_USER}n) and other modules. */
static void publish_identity(llmgw_req *q)
{
    apr_table_t *env = q->r->subprocess_env, *notes = q->r->notes;
    if (q->user) {
        apr_table_setn(env, "LLMGW_USER", q->user);
        apr_table_setn(notes, "LLMGW_USER", q->user);
    }
    if (q->team) {
        apr_table_setn(env, "LLMGW_TEAM", q->team);
        apr_table_setn(notes, "LLMGW_TEAM", q->team);
    }
    q->published_user = q->user;
    q->published_team = q->team;
}

int llmgw_identify(llmgw_req *q)
{
    static const int default_order[] = {LLMGW_ID_KEY};
    const llmgw_srv_conf *sc = llmgw_srv(q->r->server);
    const int *order = sc->nidentity ? sc->identity : default_order;
    int n = sc->nidentity ? sc->nidentity : 1, jwt = 0;
    const char *key = presented_key(q);
    for (int i = 0; i < n; i++) {
        int rc = DECLINED;
        switch (order[i]) {
        case LLMGW_ID_KEY:
            rc = key ? identify_by_key(q, sc, key) : DECLINED;
            break;
        case LLMGW_ID_JWT:
            jwt = 1;
            rc = key ? llmgw_jwt_identify(q, key) : DECLINED;
            break;
        case LLMGW_ID_APACHE:
            rc = identify_by_apache(q, sc);
            break;
        case LLMGW_ID_PASSTHROUGH:
            rc = key ? identify_passthrough(q, key) : DECLINED;
            break;
        }
        if (rc == OK)
            publish_identity(q);
        if (rc != DECLINED)
            return rc;
    }
    if (!key)
        return llmgw_refuse(q, HTTP_UNAUTHORIZED, jwt ? "missing gateway API key or token"
                                                      : "missing gateway API key");
    return llmgw_refuse(q, HTTP_UNAUTHORIZED, jwt ? "invalid gateway API key or token"
                                                  : "invalid gateway API key");
}

/* LLMGWApacheClaim email|roles|team env=VARIABLE|header=NAME */
const char *llmgw_cmd_apache_claim(cmd_parms *cmd, void *dc, const char *kind,
                                   const char *source)
{
    llmgw_srv_conf *sc = ap_get_module_config(cmd->server->module_config, &llmgw_module);
    int k = llmgw_claim_kind_parse(kind);
    if (k < 0 || k == LLMGW_CLAIM_USER)
        return "LLMGWApacheClaim: the first argument is email, roles or team (the user is "
               "the one Apache authenticated)";
    int header = !strncmp(source, "header=", 7);
    if ((!header && strncmp(source, "env=", 4)) || !source[header ? 7 : 4])
        return "LLMGWApacheClaim: the second argument is env=VARIABLE or header=NAME";
    sc->apache_attr[k].name = source + (header ? 7 : 4);
    sc->apache_attr[k].from_header = header;
    return NULL;
}

/* Rewrites "?…key=SECRET…" in r->the_request (what %r logs) to key=REDACTED. The
 * key itself was already taken out of r->args by translate_name. */
void llmgw_scrub_request_line(request_rec *r)
{
    const char *line = r->the_request, *q = line ? strchr(line, '?') : NULL;
    if (!q)
        return;
    size_t end = strcspn(q, " ");
    apr_size_t cap = strlen(line) + 16 * (end / 4 + 1);
    char *out = apr_palloc(r->pool, cap), *o = out;
    memcpy(o, line, (size_t)(q - line) + 1);
    o += q - line + 1;
    const char *s = q + 1, *stop = q + end;
    while (s < stop) {
        size_t n = strcspn(s, "& ");
        if (s + n > stop)
            n = (size_t)(stop - s);
        if (n >= 4 && !strncmp(s, "key=", 4)) {
            memcpy(o, "key=REDACTED", 12);
            o += 12;
        } else {
            memcpy(o, s, n);
            o += n;
        }
        s += n;
        if (s < stop && *s == '&')
            *o++ = *s++;
    }
    apr_cpystrn(o, stop, cap - (apr_size_t)(o - out));
    r->the_request = out;
}
