/* jwt_testkit.h — what the JWT unit tests need to play identity provider: fresh keys,
 * their public JWKs, and JWS tokens signed (or mis-signed) with any header and payload.
 * Everything returned is malloc'd and freed by the caller (tk_free for keys). */
#ifndef JWT_TESTKIT_H
#define JWT_TESTKIT_H

#include <stddef.h>
#include <openssl/evp.h>

#include "llmgw_jwks.h"

EVP_PKEY *tk_rsa(int bits);
EVP_PKEY *tk_ec(const char *group);        /* "P-256", "P-384", "P-521" */
EVP_PKEY *tk_okp(int type);                /* EVP_PKEY_ED25519, EVP_PKEY_ED448 */
void tk_free(EVP_PKEY *k);

char *tk_b64url(const void *data, size_t n);
/* {"kty":…, …, "kid":kid[, "alg":alg]} — public members only */
char *tk_jwk(EVP_PKEY *k, const char *kid, const char *alg);
/* {"keys":[jwk, …]} from a NULL-terminated list */
char *tk_jwks(const char *jwk, ...);
/* header.payload.signature with alg's signature scheme */
char *tk_sign(EVP_PKEY *k, llmgw_jwt_alg alg, const char *header, const char *payload);
/* the same, HMAC-SHA256 with secret (an attacker's token) */
char *tk_hs256(const void *secret, size_t n, const char *header, const char *payload);
/* header.payload. with no signature */
char *tk_unsigned(const char *header, const char *payload);

#endif
