/* jwt_cache.c — what a JWT costs per request through the core API the module uses:
 *   cached    SHA-256 of the token, key-set acquire (schedule check), cache lookup and
 *             copy of the identity into a request-pool-like arena  (every repeat request)
 *   verify    the same plus signature and claim checks and claim mapping (first request
 *             with a token, or after the key set changed)
 * for RS256, ES256 and EdDSA tokens of a realistic size. Prints the median and p99 of
 * per-request times (each sample is the mean of a batch of 64 requests). Built and run by
 * tests/bench/jwt_cache (the script next to this file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt_testkit.h"
#include "llmgw_claims.h"
#include "llmgw_jwks_source.h"
#include "llmgw_jwt.h"
#include "llmgw_jwt_cache.h"

#define BATCH 64

typedef struct {
    char buf[8192];
    size_t used;
} bump;

static void *bump_fn(void *ctx, size_t n)
{
    bump *b = ctx;
    n = (n + 15) & ~(size_t)15;
    if (b->used + n > sizeof b->buf)
        return NULL;
    void *p = b->buf + b->used;
    b->used += n;
    return p;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *doc;
static int fetch(void *ctx, const char *uri, char **body, size_t *len, char *err, size_t cap)
{
    *body = strdup(doc);
    *len = strlen(doc);
    return 0;
}

static const llmgw_jwt_policy POL = {"https://idp.example", "llmgw", (1u << LLMGW_ALG_COUNT) - 1, 60};
static const char *PATHS[LLMGW_CLAIM_COUNT] = {"preferred_username", "email", "groups", "org"};

/* One request's identity work; returns 0 on success. */
static int request(llmgw_jwks_source *src, llmgw_jwt_cache *cache, const char *tok, int use_cache,
                   int64_t now, bump *pool)
{
    llmgw_alloc a = {bump_fn, pool};
    llmgw_caller_id id;
    unsigned char key[32];
    uint64_t gen;
    size_t len = strlen(tok);
    pool->used = 0;
    llmgw_jwt_cache_key(tok, len, key);
    llmgw_jwks *set = llmgw_jwks_source_acquire(src, now, 0, &gen);
    if (use_cache && llmgw_jwt_cache_get(cache, key, gen, now, &a, &id) == 1) {
        llmgw_jwks_unref(set);
        return 0;
    }
    char why[160];
    llmgw_jwt_result res;
    int st = llmgw_jwt_verify(tok, len, &POL, set, now, &res, why, sizeof why);
    llmgw_jwks_unref(set);
    if (st != LLMGW_JWT_OK) {
        fprintf(stderr, "verify: %s\n", why);
        return -1;
    }
    int rc = llmgw_claims_map(res.claims, PATHS, &a, &id, why, sizeof why);
    json_decref(res.claims);
    if (rc == 0 && use_cache)
        llmgw_jwt_cache_put(cache, key, gen, res.exp + 60, &id);
    return rc;
}

static void measure(const char *label, llmgw_jwks_source *src, llmgw_jwt_cache *cache,
                    const char *tok, int use_cache, int samples)
{
    static bump pool;
    double *t = malloc(sizeof(double) * (size_t)samples);
    int64_t now = 1800000000;
    if (request(src, cache, tok, use_cache, now, &pool))   /* warm: fills the cache */
        exit(1);
    for (int s = 0; s < samples; s++) {
        double t0 = now_us();
        for (int i = 0; i < BATCH; i++)
            if (request(src, cache, tok, use_cache, now, &pool))
                exit(1);
        t[s] = (now_us() - t0) / BATCH;
    }
    qsort(t, (size_t)samples, sizeof *t, cmp);
    printf("| %-26s | %5zu | %9.2f | %9.2f |\n", label, strlen(tok), t[samples / 2],
           t[samples * 99 / 100]);
    free(t);
}

int main(int argc, char **argv)
{
    int samples = argc > 1 ? atoi(argv[1]) : 400;
    EVP_PKEY *rsa = tk_rsa(2048), *ec = tk_ec("P-256"), *ed = tk_okp(EVP_PKEY_ED25519);
    char *jr = tk_jwk(rsa, "r", NULL), *je = tk_jwk(ec, "e", NULL), *jd = tk_jwk(ed, "d", NULL);
    char *set = tk_jwks(jr, je, jd, NULL);
    doc = set;
    /* claims shaped like a Keycloak access token */
    const char *claims =
        "{\"exp\":1900000000,\"iat\":1799990000,\"jti\":\"4f1c2a7e-0d5b-4a8e-9f63-0c2b7d1e5a90\","
        "\"iss\":\"https://idp.example\",\"aud\":[\"llmgw\",\"account\"],\"sub\":"
        "\"0b7f6c1e-5d2a-4c8b-9e3f-7a1d2c3b4e5f\",\"typ\":\"Bearer\",\"azp\":\"librechat\","
        "\"session_state\":\"9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4\",\"scope\":\"openid email "
        "profile\",\"email_verified\":true,\"name\":\"Alice Example\",\"preferred_username\":"
        "\"alice\",\"given_name\":\"Alice\",\"family_name\":\"Example\",\"email\":"
        "\"alice@example.com\",\"groups\":[\"premium\",\"developer\"],\"org\":\"research\"}";
    char *tr = tk_sign(rsa, LLMGW_ALG_RS256, "{\"alg\":\"RS256\",\"kid\":\"r\",\"typ\":\"JWT\"}", claims);
    char *te = tk_sign(ec, LLMGW_ALG_ES256, "{\"alg\":\"ES256\",\"kid\":\"e\",\"typ\":\"JWT\"}", claims);
    char *td = tk_sign(ed, LLMGW_ALG_EDDSA, "{\"alg\":\"EdDSA\",\"kid\":\"d\",\"typ\":\"JWT\"}", claims);

    llmgw_jwks_source src;
    llmgw_jwks_source_init(&src, "bench:", 300, fetch, NULL);
    llmgw_jwt_cache *cache = llmgw_jwt_cache_create(4096);

    printf("| path                       | bytes | median µs | p99 µs    |\n");
    printf("|----------------------------|-------|-----------|-----------|\n");
    measure("RS256 cached", &src, cache, tr, 1, samples);
    measure("ES256 cached", &src, cache, te, 1, samples);
    measure("EdDSA cached", &src, cache, td, 1, samples);
    measure("RS256 verify (uncached)", &src, cache, tr, 0, samples / 4 + 1);
    measure("ES256 verify (uncached)", &src, cache, te, 0, samples / 4 + 1);
    measure("EdDSA verify (uncached)", &src, cache, td, 0, samples / 4 + 1);

    llmgw_jwt_cache_destroy(cache);
    llmgw_jwks_source_destroy(&src);
    free(tr), free(te), free(td), free(set), free(jr), free(je), free(jd);
    tk_free(rsa), tk_free(ec), tk_free(ed);
    return 0;
}
