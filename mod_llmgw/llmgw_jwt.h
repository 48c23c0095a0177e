/* llmgw_jwt.h — verifying a JWS compact JWT (RFC 7515/7519) against a key set, the
 * checks RFC 8725 asks for: strict base64url, an algorithm from the configured
 * allow-list (never "none", never HMAC), one key type per algorithm, typ absent, JWT or
 * at+jwt, no unknown crit, exp mandatory, nbf, exact iss, aud as string or array, all
 * time comparisons with leeway and without integer overflow. Part of the httpd-free
 * core library (libllmgw). */
#ifndef LLMGW_JWT_H
#define LLMGW_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "llmgw_jwks.h"

#define LLMGW_JWT_MAX_LEN 16384      /* longer tokens are refused unread */
#define LLMGW_JWT_MAX_LEEWAY 3600

typedef struct {
    const char *issuer;      /* exact match with "iss" */
    const char *audience;    /* must equal "aud" or one of its elements */
    unsigned algs;           /* LLMGW_ALG_BIT set allowed */
    int64_t leeway;          /* seconds of clock skew tolerated on exp and nbf */
} llmgw_jwt_policy;

typedef enum {
    LLMGW_JWT_OK = 0,
    LLMGW_JWT_NOT_JWT,       /* not shaped like a JWS: some other kind of credential */
    LLMGW_JWT_INVALID,       /* a JWT that is refused; why says which check failed */
    LLMGW_JWT_UNKNOWN_KID,   /* the set has no key with the token's kid */
} llmgw_jwt_status;

typedef struct {
    json_t *claims;          /* the verified payload (caller owns the reference) */
    int64_t exp;
    llmgw_jwt_alg alg;
} llmgw_jwt_result;

/* A credential is treated as a JWT when it has exactly two dots; anything else (a
 * gateway key, a provider key) is left to the other identity sources. */
int llmgw_jwt_shaped(const char *tok, size_t len);

/* Verifies tok at time now (seconds since the epoch). On LLMGW_JWT_OK res holds the
 * claims; otherwise why holds a reason that quotes nothing from the token. */
llmgw_jwt_status llmgw_jwt_verify(const char *tok, size_t len, const llmgw_jwt_policy *pol,
                                  const llmgw_jwks *keys, int64_t now, llmgw_jwt_result *res,
                                  char *why, size_t whycap);

/* A NumericDate claim as seconds, saturated to the int64 range. 0 if absent or not
 * a number (then *present is 0). */
int64_t llmgw_jwt_numeric_date(const json_t *claims, const char *name, int *present);

#endif
