/* jwt_testkit.c — key generation, JWK export and token signing for the JWT unit tests
 * (see jwt_testkit.h). OpenSSL plays the identity provider. */
#include "jwt_testkit.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

EVP_PKEY *tk_rsa(int bits)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

EVP_PKEY *tk_ec(const char *group)
{
    const char *g = !strcmp(group, "P-256") ? "prime256v1" : !strcmp(group, "P-384")
                    ? "secp384r1" : "secp521r1";
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", g);
}

EVP_PKEY *tk_okp(int type)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, type == EVP_PKEY_ED25519 ? "ED25519" : "ED448");
}

void tk_free(EVP_PKEY *k)
{
    EVP_PKEY_free(k);
}

char *tk_b64url(const void *data, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *d = data;
    char *out = malloc(n / 3 * 4 + 5), *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned long v = (unsigned long)d[i] << 16 | (unsigned long)d[i + 1] << 8 | d[i + 2];
        *o++ = a[v >> 18 & 63];
        *o++ = a[v >> 12 & 63];
        *o++ = a[v >> 6 & 63];
        *o++ = a[v & 63];
    }
    if (n - i == 1) {
        *o++ = a[d[i] >> 2];
        *o++ = a[(d[i] & 3) << 4];
    } else if (n - i == 2) {
        *o++ = a[d[i] >> 2];
        *o++ = a[(d[i] & 3) << 4 | d[i + 1] >> 4];
        *o++ = a[(d[i + 1] & 15) << 2];
    }
    *o = '\0';
    return out;
}

static char *bn_member(EVP_PKEY *k, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    int n = pad ? pad : BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)n);
    BN_bn2binpad(bn, buf, n);
    char *s = tk_b64url(buf, (size_t)n);
    free(buf);
    BN_free(bn);
    return s;
}

static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

char *tk_jwk(EVP_PKEY *k, const char *kid, const char *alg)
{
    char *body, *extra = fmt("%s%s%s%s%s%s", kid ? ",\"kid\":\"" : "", kid ? kid : "",
                             kid ? "\"" : "", alg ? ",\"alg\":\"" : "", alg ? alg : "",
                             alg ? "\"" : "");
    if (EVP_PKEY_is_a(k, "RSA")) {
        char *n = bn_member(k, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_member(k, OSSL_PKEY_PARAM_RSA_E, 0);
        body = fmt("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s}", n, e, extra);
        free(n);
        free(e);
    } else if (EVP_PKEY_is_a(k, "EC")) {
        char group[32];
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL);
        int size = !strcmp(group, "prime256v1") ? 32 : !strcmp(group, "secp384r1") ? 48 : 66;
        const char *crv = size == 32 ? "P-256" : size == 48 ? "P-384" : "P-521";
        char *x = bn_member(k, OSSL_PKEY_PARAM_EC_PUB_X, size);
        char *y = bn_member(k, OSSL_PKEY_PARAM_EC_PUB_Y, size);
        body = fmt("{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}", crv, x, y, extra);
        free(x);
        free(y);
    } else {
        unsigned char raw[64];
        size_t n = sizeof raw;
        EVP_PKEY_get_raw_public_key(k, raw, &n);
        char *x = tk_b64url(raw, n);
        body = fmt("{\"kty\":\"OKP\",\"crv\":\"%s\",\"x\":\"%s\"%s}",
                   n == 32 ? "Ed25519" : "Ed448", x, extra);
        free(x);
    }
    free(extra);
    return body;
}

char *tk_jwks(const char *jwk, ...)
{
    va_list ap;
    size_t cap = 16;
    va_start(ap, jwk);
    for (const char *s = jwk; s; s = va_arg(ap, const char *))
        cap += strlen(s) + 1;
    va_end(ap);
    char *out = malloc(cap);
    strcpy(out, "{\"keys\":[");
    va_start(ap, jwk);
    for (const char *s = jwk; s; s = va_arg(ap, const char *)) {
        if (out[strlen(out) - 1] != '[')
            strcat(out, ",");
        strcat(out, s);
    }
    va_end(ap);
    strcat(out, "]}");
    return out;
}

static const EVP_MD *md_of(llmgw_jwt_alg a)
{
    switch (a) {
    case LLMGW_ALG_RS256: case LLMGW_ALG_PS256: case LLMGW_ALG_ES256: return EVP_sha256();
    case LLMGW_ALG_RS384: case LLMGW_ALG_PS384: case LLMGW_ALG_ES384: return EVP_sha384();
    case LLMGW_ALG_RS512: case LLMGW_ALG_PS512: case LLMGW_ALG_ES512: return EVP_sha512();
    default: return NULL;
    }
}

static char *signing_input(const char *header, const char *payload)
{
    char *h = tk_b64url(header, strlen(header)), *p = tk_b64url(payload, strlen(payload));
    char *s = fmt("%s.%s", h, p);
    free(h);
    free(p);
    return s;
}

char *tk_sign(EVP_PKEY *k, llmgw_jwt_alg alg, const char *header, const char *payload)
{
    char *in = signing_input(header, payload);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig[1024];
    size_t sl = sizeof sig;
    EVP_DigestSignInit(ctx, &pctx, md_of(alg), NULL, k);
    if (alg >= LLMGW_ALG_PS256 && alg <= LLMGW_ALG_PS512) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    EVP_DigestSign(ctx, sig, &sl, (unsigned char *)in, strlen(in));
    EVP_MD_CTX_free(ctx);
    if (alg >= LLMGW_ALG_ES256 && alg <= LLMGW_ALG_ES512) {
        /* DER → JOSE r || s */
        int half = alg == LLMGW_ALG_ES256 ? 32 : alg == LLMGW_ALG_ES384 ? 48 : 66;
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
        unsigned char raw[132];
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, half);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + half, half);
        ECDSA_SIG_free(es);
        memcpy(sig, raw, (size_t)(2 * half));
        sl = (size_t)(2 * half);
    }
    char *s64 = tk_b64url(sig, sl), *tok = fmt("%s.%s", in, s64);
    free(s64);
    free(in);
    return tok;
}

char *tk_hs256(const void *secret, size_t n, const char *header, const char *payload)
{
    char *in = signing_input(header, payload);
    unsigned char mac[32];
    unsigned int ml = sizeof mac;
    HMAC(EVP_sha256(), secret, (int)n, (unsigned char *)in, strlen(in), mac, &ml);
    char *m = tk_b64url(mac, ml), *tok = fmt("%s.%s", in, m);
    free(m);
    free(in);
    return tok;
}

char *tk_unsigned(const char *header, const char *payload)
{
    char *in = signing_input(header, payload), *tok = fmt("%s.", in);
    free(in);
    return tok;
}
