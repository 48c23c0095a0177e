/* fuzz_jwt.c — JWT verification (llmgw_jwt_verify) against a key set of one RSA, one
 * P-256 and one Ed25519 key made at start-up (and parsed by llmgw_jwks_parse).
 *
 * Input: [mode] ...
 *  mode % 3 == 0: the rest is a token as a client sends it. The fuzzer holds no private
 *    key, so verification must never succeed: any LLMGW_JWT_OK is a forgery.
 *  otherwise: [signing key][policy flags] header JSON '\0' payload JSON. The harness
 *    base64url-encodes both and signs them for real with the chosen key (RS256, PS256,
 *    ES256 or EdDSA), so the claim checks after the signature are reached. Invariant: a
 *    token is accepted only if its header names exactly the algorithm it was signed
 *    with, that algorithm is allowed, typ is absent/JWT/at+jwt, there is no crit, and
 *    exp, nbf, iss and aud satisfy the policy (checked here independently). */
#include "fuzz_common.h"

#include <math.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <strings.h>

#include "llmgw_jwt.h"

#define NOW 1700000000LL
#define LEEWAY 60
#define ISSUER "https://idp.example"
#define AUDIENCE "llmgw"

static EVP_PKEY *priv[3];                    /* RSA, P-256, Ed25519 */
static llmgw_jwks *keys;

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
    }
    out[o] = '\0';
}

static char *bn_member(EVP_PKEY *k, const char *name)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(k, name, &bn))
        abort();
    unsigned char buf[1024];
    int n = BN_bn2bin(bn, buf);
    BN_free(bn);
    char *s = malloc(2 * (size_t)n + 4);
    b64url(buf, (size_t)n, s);
    return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    priv[0] = EVP_RSA_gen(2048);
    priv[1] = EVP_EC_gen("P-256");
    priv[2] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!priv[0] || !priv[1] || !priv[2])
        abort();
    char *n = bn_member(priv[0], OSSL_PKEY_PARAM_RSA_N);
    char *e = bn_member(priv[0], OSSL_PKEY_PARAM_RSA_E);
    unsigned char pt[65], raw[32];
    size_t ptlen = 0, rawlen = sizeof raw;
    if (!EVP_PKEY_get_octet_string_param(priv[1], OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt, &ptlen) ||
        ptlen != 65 || !EVP_PKEY_get_raw_public_key(priv[2], raw, &rawlen))
        abort();
    char x[64], y[64], ed[64];
    b64url(pt + 1, 32, x);
    b64url(pt + 33, 32, y);
    b64url(raw, rawlen, ed);
    char *doc = malloc(strlen(n) + 1024);
    sprintf(doc, "{\"keys\":["
            "{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"},"
            "{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
            "{\"kty\":\"OKP\",\"kid\":\"ed1\",\"crv\":\"Ed25519\",\"x\":\"%s\"},"
            "{\"kty\":\"oct\",\"kid\":\"hmac\",\"k\":\"c2VjcmV0\"}]}", n, e, x, y, ed);
    char note[256];
    keys = llmgw_jwks_parse(doc, strlen(doc), note, sizeof note);
    if (!keys || keys->nkeys != 3) {
        fprintf(stderr, "jwks: %s\n", note);
        abort();
    }
    free(n);
    free(e);
    free(doc);
    return 0;
}

/* Signs data with key k for alg; returns the JOSE signature length. */
static size_t sign(int k, llmgw_jwt_alg alg, const char *data, size_t n, unsigned char *sig)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = k == 2 ? NULL : EVP_sha256();
    unsigned char der[512];
    size_t dlen = sizeof der;
    if (EVP_DigestSignInit(ctx, &pctx, md, NULL, priv[k]) != 1)
        abort();
    if (alg == LLMGW_ALG_PS256 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        abort();
    if (EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)data, n) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    if (k != 1) {
        memcpy(sig, der, dlen);
        return dlen;
    }
    const unsigned char *p = der;   /* ES256: DER → r || s */
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    BN_bn2binpad(r, sig, 32);
    BN_bn2binpad(s, sig + 32, 32);
    ECDSA_SIG_free(es);
    return 64;
}

static int date_ok(json_t *c, const char *name, int is_exp)
{
    json_t *v = json_object_get(c, name);
    if (!v)
        return !is_exp;
    if (!json_is_number(v))
        return 0;
    double d = json_number_value(v);
    if (json_is_integer(v))
        return is_exp ? (double)json_integer_value(v) >= NOW - LEEWAY
                      : json_integer_value(v) <= NOW + LEEWAY;
    return is_exp ? floor(d) >= NOW - LEEWAY : floor(d) <= NOW + LEEWAY;
}

static void check_accepted(json_t *hdr, json_t *claims, llmgw_jwt_alg signed_alg,
                           unsigned allowed)
{
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    FUZZ_CHECK(alg && llmgw_jwt_alg_parse(alg) == (int)signed_alg,
               "accepted a token whose header says %s, signed as %s", alg ? alg : "(none)",
               llmgw_jwt_alg_name(signed_alg));
    FUZZ_CHECK(allowed & LLMGW_ALG_BIT(signed_alg), "accepted a disallowed algorithm");
    json_t *typ = json_object_get(hdr, "typ");
    FUZZ_CHECK(!typ || (json_is_string(typ) && (!strcasecmp(json_string_value(typ), "JWT") ||
               !strcasecmp(json_string_value(typ), "at+jwt") ||
               !strcasecmp(json_string_value(typ), "application/jwt") ||
               !strcasecmp(json_string_value(typ), "application/at+jwt"))), "typ");
    FUZZ_CHECK(!json_object_get(hdr, "crit"), "accepted crit");
    FUZZ_CHECK(json_is_object(claims), "claims");
    FUZZ_CHECK(date_ok(claims, "exp", 1), "accepted an expired or exp-less token");
    FUZZ_CHECK(date_ok(claims, "nbf", 0), "accepted a token before nbf");
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    FUZZ_CHECK(iss && !strcmp(iss, ISSUER), "accepted another issuer");
    json_t *aud = json_object_get(claims, "aud"), *v;
    size_t i;
    int found = json_is_string(aud) && !strcmp(json_string_value(aud), AUDIENCE);
    json_array_foreach(aud, i, v) found |= json_is_string(v) && !strcmp(json_string_value(v), AUDIENCE);
    FUZZ_CHECK(found, "accepted another audience");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    fuzz_arena ar = {0};
    unsigned mode = fuzz_byte(&in);
    llmgw_jwt_policy pol = {ISSUER, AUDIENCE, 0, LEEWAY};
    llmgw_jwt_result res;
    char why[256];

    if (mode % 3 == 0) {
        pol.algs = LLMGW_ALGS_RSA | LLMGW_ALG_BIT(LLMGW_ALG_ES256) | LLMGW_ALG_BIT(LLMGW_ALG_EDDSA);
        char *tok = fuzz_dup_exact(in.p, in.n);
        llmgw_jwt_status st = llmgw_jwt_verify(tok, in.n, &pol, keys, NOW, &res, why, sizeof why);
        FUZZ_CHECK(st != LLMGW_JWT_OK, "an unsigned token was accepted");
        FUZZ_CHECK(res.claims == NULL, "claims handed out for a refused token");
        free(tok);
        return 0;
    }
    static const llmgw_jwt_alg algs[4] = {LLMGW_ALG_RS256, LLMGW_ALG_PS256, LLMGW_ALG_ES256,
                                          LLMGW_ALG_EDDSA};
    static const int keyof[4] = {0, 0, 1, 2};
    unsigned pick = fuzz_byte(&in) % 4;
    unsigned flags = fuzz_byte(&in);
    /* a random subset of the four (and sometimes of everything) is allowed */
    for (int i = 0; i < 4; i++)
        if (flags >> i & 1)
            pol.algs |= LLMGW_ALG_BIT(algs[i]);
    if (flags & 16)
        pol.algs |= LLMGW_ALGS_RSA;

    size_t hl, pl;
    char *hdr = fuzz_field(&in, &ar, '\0', &hl);
    char *pay = fuzz_field(&in, &ar, '\0', &pl);
    if (hl > 4096 || pl > 8192)
        return fuzz_arena_free(&ar), 0;
    char *tok = malloc(4 * (hl + pl) / 3 + 512);
    b64url((const unsigned char *)hdr, hl, tok);
    size_t n = strlen(tok);
    tok[n++] = '.';
    b64url((const unsigned char *)pay, pl, tok + n);
    n += strlen(tok + n);
    unsigned char sig[512];
    size_t slen = sign(keyof[pick], algs[pick], tok, n, sig);
    tok[n++] = '.';
    b64url(sig, slen, tok + n);
    n += strlen(tok + n);

    llmgw_jwt_status st = llmgw_jwt_verify(tok, n, &pol, keys, NOW, &res, why, sizeof why);
    if (st == LLMGW_JWT_OK) {
        json_t *h = json_loadb(hdr, hl, 0, NULL);
        check_accepted(h, res.claims, algs[pick], pol.algs);
        FUZZ_CHECK(res.alg == algs[pick], "result alg");
        json_decref(h);
        json_decref(res.claims);
    } else {
        FUZZ_CHECK(res.claims == NULL, "claims handed out for a refused token");
        FUZZ_CHECK(memchr(why, '\0', sizeof why) && why[0], "no reason");
    }
    free(tok);
    fuzz_arena_free(&ar);
    return 0;
}
