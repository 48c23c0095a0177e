/* mod_llmgw_jwt.c — LLMGWJWT and LLMGWClaim: their parsing, the per-child runtime state
 * they get at configuration time (a key-set source per JWKS URI and a verified-token
 * cache per configuration), and identifying a request by a JWT.
 *
 * Where JWKS fetching happens: in the child, on demand, by the one request that finds
 * the set due (see llmgw_jwks_source.h). That request holds the source's fetch lock for
 * the duration of the fetch (≤ 5 s, bounded by libcurl timeouts); every other request
 * keeps verifying with the current set and never waits on that lock, except in a child
 * that has no set at all yet. No background thread: a child that serves no JWT traffic
 * never fetches. file: sets are read once at configuration time (so `apachectl -t`
 * reports a broken file) and re-read on the same schedule. */
#include "mod_llmgw.h"

#include "apr_hash.h"
#include "apr_strings.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "llmgw_ct.h"
#include "llmgw_fetch.h"
#include "llmgw_jwks_source.h"
#include "llmgw_jwt.h"
#include "llmgw_jwt_cache.h"

#define JWT_CACHE_ENTRIES 4096
#define DEFAULT_LEEWAY 60
#define DEFAULT_REFRESH 300
#define MAX_REFRESH 86400

struct llmgw_jwt_conf {
    const char *jwks;                       /* NULL: only LLMGWClaim was given here */
    llmgw_jwt_policy pol;
    int64_t refresh;
    const char *claims[LLMGW_CLAIM_COUNT];  /* NULL: the default claim */
    const char *file;
    int line;
    /* runtime, created by llmgw_jwt_check_config */
    llmgw_jwks_source *src;
    llmgw_jwt_cache *cache;
};

static llmgw_srv_conf *srv_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &llmgw_module);
}

static struct llmgw_jwt_conf *jwt_of(cmd_parms *cmd)
{
    llmgw_srv_conf *sc = srv_of(cmd);
    if (!sc->jwt)
        sc->jwt = apr_pcalloc(cmd->pool, sizeof *sc->jwt);
    return sc->jwt;
}

static const char *parse_algs(cmd_parms *cmd, const char *list, unsigned *algs)
{
    char *s = apr_pstrdup(cmd->temp_pool, list), *last, *tok;
    *algs = 0;
    for (tok = apr_strtok(s, ",", &last); tok; tok = apr_strtok(NULL, ",", &last)) {
        int a = llmgw_jwt_alg_parse(tok);
        if (a < 0)
            return apr_psprintf(cmd->pool, "LLMGWJWT algs=: '%s' is not accepted (RS256 RS384 "
                                "RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA; never none "
                                "or HS*)", tok);
        *algs |= LLMGW_ALG_BIT(a);
    }
    return *algs ? NULL : "LLMGWJWT algs= names no algorithm";
}

static const char *parse_seconds(cmd_parms *cmd, const char *what, const char *v, int64_t min,
                                 int64_t max, int64_t *out)
{
    char *end;
    apr_int64_t n = apr_strtoi64(v, &end, 10);
    if (!*v || *end || n < min || n > max)
        return apr_psprintf(cmd->pool, "LLMGWJWT %s= takes seconds from %" APR_INT64_T_FMT
                            " to %" APR_INT64_T_FMT, what, (apr_int64_t)min, (apr_int64_t)max);
    *out = n;
    return NULL;
}

/* LLMGWJWT jwks=URL|file:PATH issuer=ISS audience=AUD [algs=A,B] [leeway=S] [refresh=S] */
const char *llmgw_cmd_jwt(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    struct llmgw_jwt_conf *jc = jwt_of(cmd);
    const char *err;
    if (jc->jwks)
        return "LLMGWJWT is given twice for this server";
    jc->pol.algs = LLMGW_ALG_BIT(LLMGW_ALG_RS256);
    jc->pol.leeway = DEFAULT_LEEWAY;
    jc->refresh = DEFAULT_REFRESH;
    jc->file = cmd->directive->filename;
    jc->line = cmd->directive->line_num;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        const char *v = eq ? eq + 1 : "";
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        if (n == 4 && !strncmp(a, "jwks", 4)) {
            if (!strncmp(v, "file:", 5)) {   /* relative to ServerRoot, as httpd does */
                const char *path = v[5] ? ap_server_root_relative(cmd->pool, v + 5) : NULL;
                if (!path)
                    return "LLMGWJWT jwks=file: needs a path";
                v = apr_pstrcat(cmd->pool, "file:", path, NULL);
            }
            if ((err = llmgw_fetch_uri_check(v)))
                return apr_pstrcat(cmd->pool, "LLMGWJWT ", err, NULL);
            jc->jwks = v;
        } else if (n == 6 && !strncmp(a, "issuer", 6) && *v) {
            jc->pol.issuer = v;
        } else if (n == 8 && !strncmp(a, "audience", 8) && *v) {
            jc->pol.audience = v;
        } else if (n == 4 && !strncmp(a, "algs", 4)) {
            if ((err = parse_algs(cmd, v, &jc->pol.algs)))
                return err;
        } else if (n == 6 && !strncmp(a, "leeway", 6)) {
            if ((err = parse_seconds(cmd, "leeway", v, 0, LLMGW_JWT_MAX_LEEWAY, &jc->pol.leeway)))
                return err;
        } else if (n == 7 && !strncmp(a, "refresh", 7)) {
            if ((err = parse_seconds(cmd, "refresh", v, 1, MAX_REFRESH, &jc->refresh)))
                return err;
        } else {
            return apr_psprintf(cmd->pool, "unknown LLMGWJWT option '%s'", a);
        }
    }
    if (!jc->jwks || !jc->pol.issuer || !jc->pol.audience)
        return "LLMGWJWT needs jwks=, issuer= and audience=";
    return NULL;
}

/* LLMGWClaim user_id|email|roles|team CLAIM.PATH */
const char *llmgw_cmd_claim(cmd_parms *cmd, void *dc, const char *kind, const char *path)
{
    int k = llmgw_claim_kind_parse(kind);
    const char *why;
    if (k < 0)
        return apr_psprintf(cmd->pool, "LLMGWClaim: '%s' is not one of user_id, email, roles, "
                            "team", kind);
    if ((why = llmgw_claim_path_check(path)))
        return apr_pstrcat(cmd->pool, "LLMGWClaim: ", why, NULL);
    jwt_of(cmd)->claims[k] = path;
    return NULL;
}

static struct llmgw_jwt_conf *merge_jwt(apr_pool_t *p, struct llmgw_jwt_conf *base,
                                        struct llmgw_jwt_conf *add)
{
    if (!add || !base)
        return add ? add : base;
    struct llmgw_jwt_conf *c = apr_pmemdup(p, add, sizeof *c);
    if (!c->jwks) {
        c->jwks = base->jwks;
        c->pol = base->pol;
        c->refresh = base->refresh;
        c->file = base->file;
        c->line = base->line;
    }
    for (int k = 0; k < LLMGW_CLAIM_COUNT; k++)
        if (!c->claims[k])
            c->claims[k] = base->claims[k];
    return c;
}

void llmgw_identity_merge_srv(apr_pool_t *p, llmgw_srv_conf *c, const llmgw_srv_conf *base,
                              const llmgw_srv_conf *add)
{
    c->jwt = merge_jwt(p, base->jwt, add->jwt);
    for (int k = 0; k < LLMGW_CLAIM_COUNT; k++)
        if (!add->apache_attr[k].name)
            c->apache_attr[k] = base->apache_attr[k];
}

/* ---- runtime state ------------------------------------------------------------- */

static int fetch_jwks(void *ctx, const char *uri, char **body, size_t *len, char *err,
                      size_t errcap)
{
    return llmgw_fetch(uri, LLMGW_JWKS_MAX_DOC, LLMGW_FETCH_TOTAL_MS, body, len, err, errcap);
}

static void log_jwks(void *ctx, int level, const char *uri, const char *msg)
{
    ap_log_error(APLOG_MARK, level ? APLOG_WARNING : APLOG_INFO, 0, (server_rec *)ctx,
                 "llmgw: JWKS %s: %s", uri, msg);
}

static apr_status_t source_cleanup(void *data)
{
    llmgw_jwks_source_destroy(data);
    return APR_SUCCESS;
}

static apr_status_t cache_cleanup(void *data)
{
    llmgw_jwt_cache_destroy(data);
    return APR_SUCCESS;
}

/* One source per JWKS URI, shared by every configuration naming it (the unknown-kid
 * limit is per URI); the shortest refresh= wins. */
static int make_source(apr_pool_t *pconf, server_rec *s, apr_hash_t *sources,
                       struct llmgw_jwt_conf *jc)
{
    llmgw_jwks_source *src = apr_hash_get(sources, jc->jwks, APR_HASH_KEY_STRING);
    if (src) {
        if (jc->refresh < src->refresh)
            llmgw_jwks_source_set_refresh(src, jc->refresh);
        jc->src = src;
        return OK;
    }
    src = apr_pcalloc(pconf, sizeof *src);
    if (llmgw_jwks_source_init(src, jc->jwks, jc->refresh, fetch_jwks, NULL) < 0)
        return HTTP_INTERNAL_SERVER_ERROR;
    src->log = log_jwks;
    src->log_ctx = s;
    apr_pool_cleanup_register(pconf, src, source_cleanup, apr_pool_cleanup_null);
    if (!strncmp(jc->jwks, "file:", 5)) {
        /* read now, as root and before any child exists: a broken file fails the
         * configuration test, and children start with the keys */
        char *body = NULL, err[256], note[256] = "";
        size_t len = 0;
        llmgw_jwks *set = NULL;
        if (fetch_jwks(NULL, jc->jwks, &body, &len, err, sizeof err) == 0 &&
            !(set = llmgw_jwks_parse(body, len, note, sizeof note)))
            apr_cpystrn(err, note, sizeof err);
        free(body);
        if (!set) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         "LLMGWJWT jwks=%s: %s (%s line %d)", jc->jwks, err, jc->file, jc->line);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (*note)
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_WARNING, 0, s,
                         "LLMGWJWT jwks=%s: %s", jc->jwks, note);
        llmgw_jwks_source_install(src, set, apr_time_sec(apr_time_now()));
    } else if (llmgw_fetch_global_init() < 0) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     "LLMGWJWT: libcurl could not be initialised");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_hash_set(sources, jc->jwks, APR_HASH_KEY_STRING, src);
    jc->src = src;
    return OK;
}

static int uses_jwt(const llmgw_srv_conf *sc)
{
    for (int i = 0; i < sc->nidentity; i++)
        if (sc->identity[i] == LLMGW_ID_JWT)
            return 1;
    return 0;
}

int llmgw_jwt_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    apr_hash_t *sources = apr_hash_make(ptemp);
    for (server_rec *v = s; v; v = v->next) {
        llmgw_srv_conf *sc = ap_get_module_config(v->module_config, &llmgw_module);
        struct llmgw_jwt_conf *jc = sc->jwt;
        if (uses_jwt(sc) && (!jc || !jc->jwks)) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, v,
                         "LLMGWIdentity names jwt but server %s has no LLMGWJWT",
                         v->server_hostname ? v->server_hostname : "(main)");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (!jc || jc->src)
            continue;      /* none, or shared with a server already set up */
        if (!jc->jwks) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, v,
                         "LLMGWClaim is given but there is no LLMGWJWT");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (!uses_jwt(sc))
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_WARNING, 0, v,
                         "LLMGWJWT (%s line %d) has no effect: LLMGWIdentity does not name jwt",
                         jc->file, jc->line);
        int rc = make_source(pconf, s, sources, jc);
        if (rc != OK)
            return rc;
        if (!(jc->cache = llmgw_jwt_cache_create(JWT_CACHE_ENTRIES)))
            return HTTP_INTERNAL_SERVER_ERROR;
        apr_pool_cleanup_register(pconf, jc->cache, cache_cleanup, apr_pool_cleanup_null);
    }
    return OK;
}

/* ---- requests -------------------------------------------------------------------- */

static void take_identity(llmgw_req *q, const llmgw_caller_id *id)
{
    q->user = id->user;
    q->email = id->email;
    q->team = id->team;
    q->nroles = id->nroles;
    q->roles = id->nroles ? apr_pmemdup(q->r->pool, id->roles,
                                        sizeof(id->roles[0]) * (size_t)id->nroles) : NULL;
}

static int refuse_token(llmgw_req *q, int status, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, "llmgw %s: JWT refused: %s", q->request_id,
                  why);
    return llmgw_refuse(q, status, apr_pstrcat(q->r->pool, "invalid token: ", why, NULL));
}

static int64_t valid_until(int64_t exp, int64_t leeway)
{
    return exp > INT64_MAX - leeway ? INT64_MAX : exp + leeway;
}

/* Verifies against the current set; an unknown kid gets one forced refresh (when the
 * source allows one) and a second try with the new set. */
static llmgw_jwt_status verify(struct llmgw_jwt_conf *jc, const char *tok, size_t len,
                               int64_t now, llmgw_jwks **set, uint64_t *gen,
                               llmgw_jwt_result *res, char *why, size_t cap)
{
    llmgw_jwt_status st = llmgw_jwt_verify(tok, len, &jc->pol, *set, now, res, why, cap);
    if (st != LLMGW_JWT_UNKNOWN_KID)
        return st;
    uint64_t g2;
    llmgw_jwks *fresh = llmgw_jwks_source_acquire(jc->src, now, 1, &g2);
    if (!fresh || g2 == *gen) {
        llmgw_jwks_unref(fresh);
        return st;
    }
    llmgw_jwks_unref(*set);
    *set = fresh;
    *gen = g2;
    return llmgw_jwt_verify(tok, len, &jc->pol, *set, now, res, why, cap);
}

/* The cache key of the last token a worker thread saw. A client sends the same token
 * on every request until it expires; comparing it (in constant time) costs a tenth of
 * hashing it. Only the hash is remembered: the shared cache still decides, with the
 * key set's generation and the token's expiry, whether the identity holds. */
#define TOKEN_MEMO_MAX 4096
typedef struct {
    size_t len;
    unsigned char key[32];
    char tok[TOKEN_MEMO_MAX];
} token_memo;
static _Thread_local token_memo last_token;

static void token_key(const char *tok, size_t len, unsigned char key[32])
{
    token_memo *m = LLMGW_THREAD_MEMO(last_token);
    if (len && m->len == len && llmgw_ct_equal(m->tok, tok, len)) {
        memcpy(key, m->key, 32);
        return;
    }
    llmgw_jwt_cache_key(tok, len, key);
    if (len <= TOKEN_MEMO_MAX) {
        OPENSSL_cleanse(m->tok, m->len);
        memcpy(m->tok, tok, len);
        memcpy(m->key, key, 32);
        m->len = len;
    }
}

int llmgw_jwt_identify(llmgw_req *q, const char *tok)
{
    const llmgw_srv_conf *sc = llmgw_srv(q->r->server);
    struct llmgw_jwt_conf *jc = sc->jwt;
    size_t len = strlen(tok);
    if (!jc || !jc->src || !llmgw_jwt_shaped(tok, len))
        return DECLINED;
    if (len > LLMGW_JWT_MAX_LEN)
        return refuse_token(q, HTTP_UNAUTHORIZED, "token is too large");

    int64_t now = apr_time_sec(apr_time_now());
    unsigned char key[32];
    uint64_t gen;
    llmgw_caller_id id;
    llmgw_alloc a = {llmgw_pool_alloc, q->r->pool};
    token_key(tok, len, key);
    memcpy(q->credential_sha256, key, sizeof q->credential_sha256);   /* sha256(token) */
    q->has_credential_sha256 = 1;
    llmgw_jwks *set = llmgw_jwks_source_acquire(jc->src, now, 0, &gen);
    if (llmgw_jwt_cache_get(jc->cache, key, gen, now, &a, &id) == 1) {
        llmgw_jwks_unref(set);
        take_identity(q, &id);
        return OK;
    }
    if (!set) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, q->r, "llmgw %s: no JWKS key set from %s yet",
                      q->request_id, jc->jwks);
        return llmgw_refuse(q, HTTP_SERVICE_UNAVAILABLE,
                            "the gateway cannot verify tokens right now (no signing keys)");
    }
    char why[160];
    llmgw_jwt_result res;
    llmgw_jwt_status st = verify(jc, tok, len, now, &set, &gen, &res, why, sizeof why);
    llmgw_jwks_unref(set);
    if (st != LLMGW_JWT_OK)
        return refuse_token(q, HTTP_UNAUTHORIZED, why);
    int mapped = llmgw_claims_map(res.claims, jc->claims, &a, &id, why, sizeof why);
    json_decref(res.claims);
    if (mapped < 0)
        return refuse_token(q, HTTP_UNAUTHORIZED, why);
    /* a full cache or no memory only costs the next request a signature check */
    (void)llmgw_jwt_cache_put(jc->cache, key, gen, valid_until(res.exp, jc->pol.leeway), &id);
    take_identity(q, &id);
    return OK;
}
