/* llmgw_jwks.h — JSON Web Key Sets (RFC 7517) as verification keys: the asymmetric
 * JOSE algorithms the gateway accepts, and a parsed, reference-counted key set.
 * Only public signature keys are taken: RSA (n, e), EC (P-256/384/521 x, y) and OKP
 * (Ed25519, Ed448). Symmetric ("oct") keys, encryption keys and keys whose declared
 * alg does not fit their type are skipped, so JWKS material can never become an HMAC
 * secret. Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_JWKS_H
#define LLMGW_JWKS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

typedef enum {
    LLMGW_ALG_RS256 = 0, LLMGW_ALG_RS384, LLMGW_ALG_RS512,
    LLMGW_ALG_PS256, LLMGW_ALG_PS384, LLMGW_ALG_PS512,
    LLMGW_ALG_ES256, LLMGW_ALG_ES384, LLMGW_ALG_ES512,
    LLMGW_ALG_EDDSA,
    LLMGW_ALG_COUNT
} llmgw_jwt_alg;

#define LLMGW_ALG_BIT(a) (1u << (a))
#define LLMGW_ALGS_RSA (LLMGW_ALG_BIT(LLMGW_ALG_RS256) | LLMGW_ALG_BIT(LLMGW_ALG_RS384) | \
                        LLMGW_ALG_BIT(LLMGW_ALG_RS512) | LLMGW_ALG_BIT(LLMGW_ALG_PS256) | \
                        LLMGW_ALG_BIT(LLMGW_ALG_PS384) | LLMGW_ALG_BIT(LLMGW_ALG_PS512))

/* The JOSE name ("RS256", …, "EdDSA") → algorithm, or -1. "none" and the HMAC
 * algorithms are not algorithms here: they parse as -1. */
int llmgw_jwt_alg_parse(const char *name);
const char *llmgw_jwt_alg_name(llmgw_jwt_alg a);

#define LLMGW_JWKS_MAX_KEYS 64
#define LLMGW_JWKS_MAX_DOC (256 * 1024)   /* bytes of JSON accepted for one key set */
#define LLMGW_JWK_KID_MAX 255
#define LLMGW_RSA_MIN_BITS 2048

typedef struct {
    char *kid;            /* NULL when the key has none */
    unsigned algs;        /* LLMGW_ALG_BIT set this key may verify */
    EVP_PKEY *pkey;       /* public key, owned */
} llmgw_jwk;

typedef struct {
    llmgw_jwk keys[LLMGW_JWKS_MAX_KEYS];
    size_t nkeys;
    unsigned char digest[32];   /* SHA-256 of the document it was parsed from */
    int refs;
} llmgw_jwks;

/* Parses a JWKS document. Returns a set holding one reference (malloc-owned; release it
 * with llmgw_jwks_unref), or NULL with the reason in note. On success note says how many
 * keys were skipped and why the first one was (empty when none were). A set without a
 * single usable key is an error, so a broken document never replaces a good set. */
llmgw_jwks *llmgw_jwks_parse(const char *json, size_t len, char *note, size_t notecap);

/* Reference counting (atomic: sets are shared by the threads of a child). */
llmgw_jwks *llmgw_jwks_ref(llmgw_jwks *s);
void llmgw_jwks_unref(llmgw_jwks *s);

#endif
