/* llmgw_jwks.c — turns a JWKS document into OpenSSL public keys (see llmgw_jwks.h).
 * Keys are built with EVP_PKEY_fromdata from the decoded big-endian members; EC points
 * are checked to lie on their curve, RSA moduli must have at least 2048 bits. */
#include "llmgw_jwks.h"
#include "llmgw_b64url.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const alg_names[LLMGW_ALG_COUNT] = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
};

int llmgw_jwt_alg_parse(const char *name)
{
    for (int i = 0; i < LLMGW_ALG_COUNT; i++)
        if (!strcmp(name, alg_names[i]))
            return i;
    return -1;
}

const char *llmgw_jwt_alg_name(llmgw_jwt_alg a)
{
    return (unsigned)a < LLMGW_ALG_COUNT ? alg_names[a] : "?";
}

static void say(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (!cap)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

/* A base64url member decoded into a malloc'd buffer; NULL if absent, not a string,
 * not canonical or longer than max bytes. */
static unsigned char *member(json_t *k, const char *name, size_t max, size_t *len)
{
    const char *s = json_string_value(json_object_get(k, name));
    return s ? llmgw_b64url_decode_dup(s, strlen(s), max, len) : NULL;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static EVP_PKEY *rsa_key(json_t *k, const char **why)
{
    size_t nl = 0, el = 0;
    unsigned char *n = member(k, "n", 2048, &nl), *e = member(k, "e", 8, &el);
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn = n ? BN_bin2bn(n, (int)nl, NULL) : NULL;
    BIGNUM *be = e ? BN_bin2bn(e, (int)el, NULL) : NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    *why = "RSA key without valid n and e";
    if (!bn || !be || !bld)
        goto out;
    if (BN_num_bits(bn) < LLMGW_RSA_MIN_BITS) {
        *why = "RSA key shorter than 2048 bits";
        goto out;
    }
    if (!BN_is_odd(be) || BN_num_bits(be) < 2) {
        *why = "RSA key with an unusable exponent";
        goto out;
    }
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) &&
        (params = OSSL_PARAM_BLD_to_param(bld)))
        pkey = from_params("RSA", params);
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pkey;
}

static int public_key_checks(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static EVP_PKEY *ec_key(json_t *k, const char *crv, unsigned *algs, const char **why)
{
    static const struct { const char *crv, *group; size_t size; llmgw_jwt_alg alg; } curves[] = {
        {"P-256", "prime256v1", 32, LLMGW_ALG_ES256},
        {"P-384", "secp384r1", 48, LLMGW_ALG_ES384},
        {"P-521", "secp521r1", 66, LLMGW_ALG_ES512},
    };
    int c = -1;
    for (int i = 0; i < 3; i++)
        if (crv && !strcmp(crv, curves[i].crv))
            c = i;
    if (c < 0) {
        *why = "EC key on an unsupported curve";
        return NULL;
    }
    size_t xl = 0, yl = 0, sz = curves[c].size;
    unsigned char *x = member(k, "x", sz, &xl), *y = member(k, "y", sz, &yl);
    unsigned char point[1 + 2 * 66];
    EVP_PKEY *pkey = NULL;
    *why = "EC key with invalid x or y";
    if (x && y && xl == sz && yl == sz) {
        point[0] = 0x04;   /* uncompressed: 04 || x || y */
        memcpy(point + 1, x, sz);
        memcpy(point + 1 + sz, y, sz);
        OSSL_PARAM params[] = {
            OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)curves[c].group, 0),
            OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * sz),
            OSSL_PARAM_END,
        };
        pkey = from_params("EC", params);
        if (pkey && !public_key_checks(pkey)) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
            *why = "EC key whose point is not on its curve";
        }
    }
    free(x);
    free(y);
    *algs = LLMGW_ALG_BIT(curves[c].alg);
    return pkey;
}

static EVP_PKEY *okp_key(json_t *k, const char *crv, const char **why)
{
    int type;
    size_t size;
    if (crv && !strcmp(crv, "Ed25519")) {
        type = EVP_PKEY_ED25519;
        size = 32;
    } else if (crv && !strcmp(crv, "Ed448")) {
        type = EVP_PKEY_ED448;
        size = 57;
    } else {
        *why = "OKP key that is not Ed25519 or Ed448";
        return NULL;
    }
    size_t xl = 0;
    unsigned char *x = member(k, "x", size, &xl);
    EVP_PKEY *pkey = x && xl == size ? EVP_PKEY_new_raw_public_key(type, NULL, x, size) : NULL;
    if (!pkey)
        *why = "OKP key with an invalid x";
    free(x);
    return pkey;
}

/* "use" and "key_ops", when present, must allow signature verification. */
static int meant_for_verifying(json_t *k)
{
    json_t *use = json_object_get(k, "use"), *ops = json_object_get(k, "key_ops");
    if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig")))
        return 0;
    if (ops) {
        size_t i;
        json_t *op;
        if (!json_is_array(ops))
            return 0;
        json_array_foreach(ops, i, op)
            if (json_is_string(op) && !strcmp(json_string_value(op), "verify"))
                return 1;
        return 0;
    }
    return 1;
}

/* Builds one key; returns NULL with why set when the key is to be skipped. */
static EVP_PKEY *one_key(json_t *k, unsigned *algs, const char **why)
{
    const char *kty = json_string_value(json_object_get(k, "kty"));
    const char *crv = json_string_value(json_object_get(k, "crv"));
    json_t *alg = json_object_get(k, "alg");
    EVP_PKEY *pkey = NULL;
    *algs = 0;
    if (!json_is_object(k) || !kty) {
        *why = "key without kty";
        return NULL;
    }
    if (!meant_for_verifying(k)) {
        *why = "key not meant for signatures (use/key_ops)";
        return NULL;
    }
    if (!strcmp(kty, "RSA")) {
        pkey = rsa_key(k, why);
        *algs = LLMGW_ALGS_RSA;
    } else if (!strcmp(kty, "EC")) {
        pkey = ec_key(k, crv, algs, why);
    } else if (!strcmp(kty, "OKP")) {
        pkey = okp_key(k, crv, why);
        *algs = LLMGW_ALG_BIT(LLMGW_ALG_EDDSA);
    } else {
        *why = "key of an unsupported kty (oct keys are never used)";
        return NULL;
    }
    if (pkey && alg) {
        /* a declared alg narrows the key to that one algorithm, and must fit its type */
        int a = json_is_string(alg) ? llmgw_jwt_alg_parse(json_string_value(alg)) : -1;
        if (a < 0 || !(*algs & LLMGW_ALG_BIT(a))) {
            *why = "key whose alg does not fit its kty";
            EVP_PKEY_free(pkey);
            return NULL;
        }
        *algs = LLMGW_ALG_BIT(a);
    }
    return pkey;
}

static llmgw_jwks *build(json_t *doc, char *note, size_t notecap)
{
    json_t *keys = json_object_get(doc, "keys"), *k;
    size_t i, skipped = 0;
    const char *first_why = NULL;
    if (!json_is_array(keys)) {
        say(note, notecap, "JWKS has no \"keys\" array");
        return NULL;
    }
    llmgw_jwks *s = calloc(1, sizeof *s);
    if (!s) {
        say(note, notecap, "out of memory");
        return NULL;
    }
    s->refs = 1;
    json_array_foreach(keys, i, k) {
        const char *why = NULL;
        json_t *kid = json_object_get(k, "kid");
        unsigned algs;
        if (s->nkeys == LLMGW_JWKS_MAX_KEYS) {
            why = "more than 64 keys";
        } else if (kid && (!json_is_string(kid) || !json_string_length(kid) ||
                           json_string_length(kid) > LLMGW_JWK_KID_MAX)) {
            why = "key with an unusable kid";
        } else {
            EVP_PKEY *pkey = one_key(k, &algs, &why);
            if (pkey) {
                llmgw_jwk *j = &s->keys[s->nkeys];
                why = NULL;
                j->pkey = pkey;
                j->algs = algs;
                j->kid = kid ? strdup(json_string_value(kid)) : NULL;
                if (kid && !j->kid) {
                    EVP_PKEY_free(pkey);
                    why = "out of memory";
                } else {
                    s->nkeys++;
                }
            }
        }
        if (why) {
            skipped++;
            if (!first_why)
                first_why = why;
        }
    }
    if (!s->nkeys) {
        say(note, notecap, "JWKS holds no usable signature key%s%s", first_why ? ": " : "",
            first_why ? first_why : "");
        llmgw_jwks_unref(s);
        return NULL;
    }
    if (skipped)
        say(note, notecap, "%zu of %zu keys skipped (first: %s)", skipped, json_array_size(keys),
            first_why);
    else
        say(note, notecap, "%s", "");
    return s;
}

llmgw_jwks *llmgw_jwks_parse(const char *json, size_t len, char *note, size_t notecap)
{
    json_error_t jerr;
    if (len > LLMGW_JWKS_MAX_DOC) {
        say(note, notecap, "JWKS document larger than %d bytes", LLMGW_JWKS_MAX_DOC);
        return NULL;
    }
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        say(note, notecap, "JWKS is not a JSON object%s%s", doc ? "" : ": ", doc ? "" : jerr.text);
        json_decref(doc);
        return NULL;
    }
    llmgw_jwks *s = build(doc, note, notecap);
    json_decref(doc);
    if (s) {
        unsigned int dl = 32;
        EVP_Digest(json, len, s->digest, &dl, EVP_sha256(), NULL);
    }
    return s;
}

llmgw_jwks *llmgw_jwks_ref(llmgw_jwks *s)
{
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void llmgw_jwks_unref(llmgw_jwks *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < s->nkeys; i++) {
        EVP_PKEY_free(s->keys[i].pkey);
        free(s->keys[i].kid);
    }
    free(s);
}
