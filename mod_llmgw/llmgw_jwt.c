/* llmgw_jwt.c — JWS compact verification with OpenSSL EVP (see llmgw_jwt.h). The
 * order follows RFC 8725: header checks, then the signature, and only then the
 * payload is parsed and its claims checked. */
#include "llmgw_jwt.h"
#include "llmgw_b64url.h"

#include <math.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEADER_MAX 4096     /* decoded bytes of the JOSE header */

static llmgw_jwt_status refuse(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (cap) {
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return LLMGW_JWT_INVALID;
}

int llmgw_jwt_shaped(const char *tok, size_t len)
{
    /* memchr rather than a loop over every byte: this runs on each request of a JWT
     * route, over tokens of a kilobyte */
    const char *end = tok + len, *d1 = memchr(tok, '.', len), *d2;
    if (!d1 || !(d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1))))
        return 0;
    return memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) == NULL;
}

int64_t llmgw_jwt_numeric_date(const json_t *claims, const char *name, int *present)
{
    const json_t *v = json_object_get(claims, name);
    *present = 0;
    if (json_is_integer(v)) {
        *present = 1;
        return (int64_t)json_integer_value(v);
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (isnan(d))
            return 0;
        *present = 1;
        if (d >= 9.2e18)
            return INT64_MAX;
        if (d <= -9.2e18)
            return INT64_MIN;
        return (int64_t)floor(d);
    }
    return 0;
}

static const EVP_MD *digest_of(llmgw_jwt_alg a)
{
    switch (a) {
    case LLMGW_ALG_RS256: case LLMGW_ALG_PS256: case LLMGW_ALG_ES256: return EVP_sha256();
    case LLMGW_ALG_RS384: case LLMGW_ALG_PS384: case LLMGW_ALG_ES384: return EVP_sha384();
    case LLMGW_ALG_RS512: case LLMGW_ALG_PS512: case LLMGW_ALG_ES512: return EVP_sha512();
    default: return NULL;   /* EdDSA hashes internally */
    }
}

/* JOSE carries ECDSA signatures as fixed-size r || s; OpenSSL wants DER. */
static unsigned char *ecdsa_der(llmgw_jwt_alg a, const unsigned char *sig, size_t len,
                                size_t *der_len)
{
    size_t half = a == LLMGW_ALG_ES256 ? 32 : a == LLMGW_ALG_ES384 ? 48 : 66;
    if (len != 2 * half)
        return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *s = BN_bin2bn(sig + half, (int)half, NULL);
    unsigned char *der = NULL;
    if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
        r = s = NULL;   /* owned by es now */
        int n = i2d_ECDSA_SIG(es, &der);
        if (n <= 0)
            der = NULL;
        else
            *der_len = (size_t)n;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

static int verify_with(EVP_PKEY *pkey, llmgw_jwt_alg a, const unsigned char *data, size_t dlen,
                       const unsigned char *sig, size_t slen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    int ok = 0;
    if (!ctx)
        return 0;
    if (EVP_DigestVerifyInit(ctx, &pctx, digest_of(a), NULL, pkey) != 1)
        goto out;
    if (a >= LLMGW_ALG_RS256 && a <= LLMGW_ALG_PS512) {
        if (slen != (size_t)EVP_PKEY_get_size(pkey))
            goto out;
        if (a >= LLMGW_ALG_PS256 &&
            (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, digest_of(a)) != 1))
            goto out;
    } else if (a >= LLMGW_ALG_ES256 && a <= LLMGW_ALG_ES512) {
        if (!(der = ecdsa_der(a, sig, slen, &slen)))
            goto out;
        sig = der;
    }
    ok = EVP_DigestVerify(ctx, sig, slen, data, dlen) == 1;
out:
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    return ok;
}

static int typ_accepted(const json_t *typ)
{
    static const char *const ok[] = {"JWT", "at+jwt", "application/jwt", "application/at+jwt"};
    if (!typ)
        return 1;
    if (!json_is_string(typ))
        return 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcasecmp(json_string_value(typ), ok[i]))
            return 1;
    return 0;
}

/* Header checks; on success *alg and *kid (NULL when absent, points into hdr) are set. */
static llmgw_jwt_status check_header(json_t *hdr, const llmgw_jwt_policy *pol,
                                     llmgw_jwt_alg *alg, const char **kid, char *why, size_t cap)
{
    const char *name = json_string_value(json_object_get(hdr, "alg"));
    json_t *k = json_object_get(hdr, "kid");
    int a = name ? llmgw_jwt_alg_parse(name) : -1;
    if (!name)
        return refuse(why, cap, "token header names no algorithm");
    if (a < 0 || !(pol->algs & LLMGW_ALG_BIT(a)))
        return refuse(why, cap, "token algorithm is not allowed");
    if (!typ_accepted(json_object_get(hdr, "typ")))
        return refuse(why, cap, "token type is not accepted");
    if (json_object_get(hdr, "crit"))
        return refuse(why, cap, "token has critical header parameters");
    if (k && (!json_is_string(k) || json_string_length(k) > LLMGW_JWK_KID_MAX))
        return refuse(why, cap, "token kid is not a usable string");
    *alg = (llmgw_jwt_alg)a;
    *kid = k ? json_string_value(k) : NULL;
    return LLMGW_JWT_OK;
}

/* Tries the keys the header allows: those named by kid (which must fit the algorithm)
 * or, without a kid, every key of the algorithm's type. */
static llmgw_jwt_status check_signature(const llmgw_jwks *keys, llmgw_jwt_alg alg,
                                        const char *kid, const unsigned char *data, size_t dlen,
                                        const unsigned char *sig, size_t slen, char *why,
                                        size_t cap)
{
    int named = 0, fitting = 0;
    for (size_t i = 0; keys && i < keys->nkeys; i++) {
        const llmgw_jwk *k = &keys->keys[i];
        if (kid && (!k->kid || strcmp(k->kid, kid)))
            continue;
        named++;
        if (!(k->algs & LLMGW_ALG_BIT(alg)))
            continue;
        fitting++;
        if (verify_with(k->pkey, alg, data, dlen, sig, slen))
            return LLMGW_JWT_OK;
    }
    if (kid && !named) {
        snprintf(why, cap, "token kid names no known key");
        return LLMGW_JWT_UNKNOWN_KID;
    }
    if (!fitting)
        return refuse(why, cap, kid ? "token kid names a key of another type than its algorithm"
                                    : "no key fits the token's algorithm");
    return refuse(why, cap, "token signature does not verify");
}

static llmgw_jwt_status check_claims(json_t *c, const llmgw_jwt_policy *pol, int64_t now,
                                     int64_t *exp_out, char *why, size_t cap)
{
    int has_exp, has_nbf;
    int64_t exp = llmgw_jwt_numeric_date(c, "exp", &has_exp);
    int64_t nbf = llmgw_jwt_numeric_date(c, "nbf", &has_nbf);
    if (!has_exp)
        return refuse(why, cap, "token has no exp claim");
    /* written so that nothing can overflow: now and leeway are small, exp/nbf are not */
    if (now - pol->leeway > exp)
        return refuse(why, cap, "token has expired");
    if (json_object_get(c, "nbf") && !has_nbf)
        return refuse(why, cap, "token nbf is not a number");
    if (has_nbf && nbf > now + pol->leeway)
        return refuse(why, cap, "token is not valid yet");
    if (pol->issuer) {
        const char *iss = json_string_value(json_object_get(c, "iss"));
        if (!iss || strcmp(iss, pol->issuer))
            return refuse(why, cap, "token issuer is not accepted");
    }
    if (pol->audience) {
        json_t *aud = json_object_get(c, "aud"), *v;
        size_t i;
        int found = json_is_string(aud) && !strcmp(json_string_value(aud), pol->audience);
        if (json_is_array(aud))
            json_array_foreach(aud, i, v)
                if (json_is_string(v) && !strcmp(json_string_value(v), pol->audience))
                    found = 1;
        if (!found)
            return refuse(why, cap, "token audience is not accepted");
    }
    *exp_out = exp;
    return LLMGW_JWT_OK;
}

llmgw_jwt_status llmgw_jwt_verify(const char *tok, size_t len, const llmgw_jwt_policy *pol,
                                  const llmgw_jwks *keys, int64_t now, llmgw_jwt_result *res,
                                  char *why, size_t cap)
{
    memset(res, 0, sizeof *res);
    if (!llmgw_jwt_shaped(tok, len)) {
        snprintf(why, cap, "not a JWT");
        return LLMGW_JWT_NOT_JWT;
    }
    if (len > LLMGW_JWT_MAX_LEN)
        return refuse(why, cap, "token is larger than %d bytes", LLMGW_JWT_MAX_LEN);
    const char *d1 = memchr(tok, '.', len), *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
    size_t hl = (size_t)(d1 - tok), pl = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - tok);
    if (!llmgw_b64url_charset(tok, hl) || !llmgw_b64url_charset(d1 + 1, pl) ||
        !llmgw_b64url_charset(d2 + 1, sl))
        return refuse(why, cap, "token is not valid base64url");

    llmgw_jwt_status st;
    size_t n;
    unsigned char *hraw = NULL, *sig = NULL, *praw = NULL;
    json_t *hdr = NULL, *claims = NULL;
    llmgw_jwt_alg alg = LLMGW_ALG_RS256;
    const char *kid = NULL;
    if (!(hraw = llmgw_b64url_decode_dup(tok, hl, HEADER_MAX, &n))) {
        st = refuse(why, cap, "token header is not valid base64url");
        goto out;
    }
    hdr = json_loadb((const char *)hraw, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(hdr)) {
        st = refuse(why, cap, "token header is not a JSON object");
        goto out;
    }
    if ((st = check_header(hdr, pol, &alg, &kid, why, cap)) != LLMGW_JWT_OK)
        goto out;
    size_t slen;
    if (!(sig = llmgw_b64url_decode_dup(d2 + 1, sl, LLMGW_JWT_MAX_LEN, &slen))) {
        st = refuse(why, cap, "token signature is not valid base64url");
        goto out;
    }
    st = check_signature(keys, alg, kid, (const unsigned char *)tok, hl + 1 + pl, sig, slen,
                         why, cap);
    if (st != LLMGW_JWT_OK)
        goto out;
    if (!(praw = llmgw_b64url_decode_dup(d1 + 1, pl, LLMGW_JWT_MAX_LEN, &n))) {
        st = refuse(why, cap, "token payload is not valid base64url");
        goto out;
    }
    claims = json_loadb((const char *)praw, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(claims)) {
        st = refuse(why, cap, "token payload is not a JSON object");
        goto out;
    }
    if ((st = check_claims(claims, pol, now, &res->exp, why, cap)) != LLMGW_JWT_OK)
        goto out;
    res->claims = claims;
    res->alg = alg;
    claims = NULL;
out:
    json_decref(claims);
    json_decref(hdr);
    free(hraw);
    free(sig);
    free(praw);
    return st;
}
