/* test_jwt.c — cmocka tests for strict base64url, JWKS parsing (every key type, every
 * reason to skip a key) and JWS verification: every accepted algorithm, the attacks of
 * RFC 8725 (alg none, HMAC keyed with the RSA public key, a kid of the wrong key type,
 * algorithm substitution), every header and claim check with its boundaries, and
 * malformed tokens. Keys and tokens are made fresh by jwt_testkit.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/pem.h>

#include "jwt_testkit.h"
#include "llmgw_b64url.h"
#include "llmgw_jwks.h"
#include "llmgw_ct.h"
#include "llmgw_jwt.h"

#define NOW 1800000000LL

/* ---- shared keys (generated once: RSA generation is slow) ------------------------ */

static EVP_PKEY *rsa, *rsa2, *p256, *p384, *p521, *ed25519, *ed448;
static llmgw_jwks *keys;      /* all of the above except rsa2, with kids */

static int setup_keys(void **state)
{
    rsa = tk_rsa(2048);
    rsa2 = tk_rsa(2048);
    p256 = tk_ec("P-256");
    p384 = tk_ec("P-384");
    p521 = tk_ec("P-521");
    ed25519 = tk_okp(EVP_PKEY_ED25519);
    ed448 = tk_okp(EVP_PKEY_ED448);
    char *j[6] = {tk_jwk(rsa, "rsa", NULL), tk_jwk(p256, "p256", NULL),
                  tk_jwk(p384, "p384", NULL), tk_jwk(p521, "p521", NULL),
                  tk_jwk(ed25519, "ed25519", NULL), tk_jwk(ed448, "ed448", "EdDSA")};
    char *doc = tk_jwks(j[0], j[1], j[2], j[3], j[4], j[5], NULL);
    char note[256];
    keys = llmgw_jwks_parse(doc, strlen(doc), note, sizeof note);
    for (int i = 0; i < 6; i++)
        free(j[i]);
    free(doc);
    return keys ? 0 : -1;
}

static int teardown_keys(void **state)
{
    llmgw_jwks_unref(keys);
    EVP_PKEY *all[] = {rsa, rsa2, p256, p384, p521, ed25519, ed448};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tk_free(all[i]);
    return 0;
}

static const llmgw_jwt_policy POLICY = {
    "https://idp.example", "llmgw", (1u << LLMGW_ALG_COUNT) - 1, 60,
};

static char *payload(long long exp_off, const char *extra)
{
    static char buf[40000];
    int n = snprintf(buf, sizeof buf, "{\"sub\":\"alice\",\"iss\":\"https://idp.example\","
                     "\"aud\":\"llmgw\",\"exp\":%lld%s%s}", NOW + exp_off, extra ? "," : "",
                     extra ? extra : "");
    assert_true(n > 0 && (size_t)n < sizeof buf);
    return buf;
}

static llmgw_jwt_status check(const char *tok, const llmgw_jwt_policy *pol, char *why)
{
    llmgw_jwt_result res;
    llmgw_jwt_status st = llmgw_jwt_verify(tok, strlen(tok), pol ? pol : &POLICY, keys, NOW,
                                           &res, why, 160);
    if (st == LLMGW_JWT_OK) {
        assert_non_null(res.claims);
        json_decref(res.claims);
    } else {
        assert_null(res.claims);
    }
    return st;
}

static void expect_refusal(const char *tok, const char *reason)
{
    char why[160];
    assert_int_equal(check(tok, NULL, why), LLMGW_JWT_INVALID);
    assert_non_null(strstr(why, reason));
}

/* ---- base64url --------------------------------------------------------------------- */

static long dec(const char *s, unsigned char *out)
{
    return llmgw_b64url_decode(s, strlen(s), out);
}

static void test_b64url_vectors(void **state)
{
    unsigned char out[16];
    assert_int_equal(dec("", out), 0);
    assert_int_equal(dec("Zg", out), 1);
    assert_memory_equal(out, "f", 1);
    assert_int_equal(dec("Zm8", out), 2);
    assert_memory_equal(out, "fo", 2);
    assert_int_equal(dec("Zm9v", out), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(dec("Zm9vYmFy", out), 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(dec("-_8", out), 2);          /* 0xfb 0xff: the url alphabet */
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
}

static void test_b64url_strict(void **state)
{
    unsigned char out[16];
    assert_int_equal(dec("Zg==", out), -1);        /* padding */
    assert_int_equal(dec("Z", out), -1);           /* length 1 mod 4 */
    assert_int_equal(dec("+/8", out), -1);         /* the other alphabet */
    assert_int_equal(dec("Zm 9v", out), -1);       /* whitespace */
    assert_int_equal(dec("Zh", out), -1);          /* non-zero unused bits */
    assert_int_equal(dec("Zm9", out), -1);
    assert_int_equal(dec("Zm8", out), 2);
    assert_true(llmgw_b64url_charset("abc-_09", 7));
    assert_false(llmgw_b64url_charset("ab=", 3));
}

/* ---- key sets ------------------------------------------------------------------------ */

static llmgw_jwks *parse(const char *doc, char *note)
{
    return llmgw_jwks_parse(doc, strlen(doc), note, 256);
}

static void test_jwks_all_key_types(void **state)
{
    assert_int_equal(keys->nkeys, 6);
    assert_string_equal(keys->keys[0].kid, "rsa");
    assert_int_equal(keys->keys[0].algs, LLMGW_ALGS_RSA);
    assert_int_equal(keys->keys[1].algs, LLMGW_ALG_BIT(LLMGW_ALG_ES256));
    assert_int_equal(keys->keys[2].algs, LLMGW_ALG_BIT(LLMGW_ALG_ES384));
    assert_int_equal(keys->keys[3].algs, LLMGW_ALG_BIT(LLMGW_ALG_ES512));
    assert_int_equal(keys->keys[4].algs, LLMGW_ALG_BIT(LLMGW_ALG_EDDSA));
    assert_int_equal(keys->keys[5].algs, LLMGW_ALG_BIT(LLMGW_ALG_EDDSA));
}

static void test_jwks_declared_alg_narrows(void **state)
{
    char note[256], *j = tk_jwk(rsa, "k", "PS256"), *doc = tk_jwks(j, NULL);
    llmgw_jwks *s = parse(doc, note);
    assert_non_null(s);
    assert_int_equal(s->keys[0].algs, LLMGW_ALG_BIT(LLMGW_ALG_PS256));
    llmgw_jwks_unref(s);
    free(j);
    free(doc);
}

/* Each of these keys is skipped; with one good key beside it the set still loads and
 * the note names the reason. */
static void expect_skipped(const char *bad, const char *reason)
{
    char note[256], *good = tk_jwk(p256, "good", NULL), *doc = tk_jwks(good, bad, NULL);
    llmgw_jwks *s = parse(doc, note);
    assert_non_null(s);
    assert_int_equal(s->nkeys, 1);
    assert_string_equal(s->keys[0].kid, "good");
    if (!strstr(note, reason))
        fail_msg("note '%s' does not mention '%s'", note, reason);
    llmgw_jwks_unref(s);
    free(good);
    free(doc);
}

static void test_jwks_skips(void **state)
{
    char buf[2048];
    expect_skipped("{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":\"h\"}", "oct keys are never used");
    char *j = tk_jwk(rsa, "r", "HS256");
    expect_skipped(j, "alg does not fit");
    free(j);
    j = tk_jwk(rsa, "r", "ES256");
    expect_skipped(j, "alg does not fit");
    free(j);
    j = tk_jwk(p256, "e", "ES384");       /* curve P-256 cannot do ES384 */
    expect_skipped(j, "alg does not fit");
    free(j);
    j = tk_jwk(rsa, "r", NULL);
    snprintf(buf, sizeof buf, "%.*s,\"use\":\"enc\"}", (int)strlen(j) - 1, j);
    expect_skipped(buf, "use/key_ops");
    snprintf(buf, sizeof buf, "%.*s,\"key_ops\":[\"encrypt\"]}", (int)strlen(j) - 1, j);
    expect_skipped(buf, "use/key_ops");
    free(j);
    EVP_PKEY *weak = tk_rsa(1024);
    j = tk_jwk(weak, "weak", NULL);
    expect_skipped(j, "shorter than 2048");
    free(j);
    tk_free(weak);
    expect_skipped("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
                   "invalid x or y");
    expect_skipped("{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}",
                   "unsupported curve");
    expect_skipped("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"}", "not Ed25519");
    expect_skipped("{\"kid\":\"nokty\"}", "without kty");
    j = tk_jwk(rsa, NULL, NULL);
    snprintf(buf, sizeof buf, "%.*s,\"kid\":%d}", (int)strlen(j) - 1, j, 7);
    expect_skipped(buf, "unusable kid");
    free(j);
}

static void test_jwks_point_off_curve(void **state)
{
    char *j = tk_jwk(p256, "e", NULL), *y = strstr(j, "\"y\":\"") + 5;
    y[3] = y[3] == 'A' ? 'B' : 'A';      /* the point moves off the curve */
    expect_skipped(j, "EC key");
    free(j);
}

static void test_jwks_broken_documents(void **state)
{
    char note[256];
    assert_null(parse("[]", note));
    assert_non_null(strstr(note, "not a JSON object"));
    assert_null(parse("{\"keys\":{}}", note));
    assert_non_null(strstr(note, "no \"keys\" array"));
    assert_null(parse("{\"keys\":[]}", note));
    assert_non_null(strstr(note, "no usable"));
    assert_null(parse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}", note));
    assert_non_null(strstr(note, "oct"));
    assert_null(parse("{\"keys\":[],\"keys\":[]}", note));   /* duplicate member */
    assert_null(parse("not json", note));
    char *big = malloc(LLMGW_JWKS_MAX_DOC + 2);
    memset(big, ' ', LLMGW_JWKS_MAX_DOC + 1);
    big[LLMGW_JWKS_MAX_DOC + 1] = '\0';
    assert_null(parse(big, note));
    assert_non_null(strstr(note, "larger than"));
    free(big);
}

static void test_jwks_key_limit_and_digest(void **state)
{
    char note[256], *j = tk_jwk(p256, "same", NULL);
    size_t n = 70, cap = n * (strlen(j) + 1) + 32;
    char *doc = malloc(cap);
    strcpy(doc, "{\"keys\":[");
    for (size_t i = 0; i < n; i++) {
        strcat(doc, j);
        strcat(doc, i + 1 < n ? "," : "]}");
    }
    llmgw_jwks *s = parse(doc, note), *t = parse(doc, note);
    assert_non_null(s);
    assert_int_equal(s->nkeys, LLMGW_JWKS_MAX_KEYS);
    assert_non_null(strstr(note, "6 of 70 keys skipped"));
    assert_memory_equal(s->digest, t->digest, 32);
    llmgw_jwks_unref(t);
    t = llmgw_jwks_ref(s);
    llmgw_jwks_unref(s);
    assert_int_equal(t->refs, 1);
    llmgw_jwks_unref(t);
    free(j);
    free(doc);
}

static void test_alg_names(void **state)
{
    for (int a = 0; a < LLMGW_ALG_COUNT; a++)
        assert_int_equal(llmgw_jwt_alg_parse(llmgw_jwt_alg_name((llmgw_jwt_alg)a)), a);
    assert_int_equal(llmgw_jwt_alg_parse("none"), -1);
    assert_int_equal(llmgw_jwt_alg_parse("HS256"), -1);
    assert_int_equal(llmgw_jwt_alg_parse("rs256"), -1);
    assert_int_equal(llmgw_jwt_alg_parse(""), -1);
}

/* ---- verification: every algorithm ------------------------------------------------- */

static void sign_and_verify(EVP_PKEY *k, llmgw_jwt_alg alg, const char *kid)
{
    char hdr[128], why[160];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
             llmgw_jwt_alg_name(alg), kid);
    char *tok = tk_sign(k, alg, hdr, payload(3600, NULL));
    llmgw_jwt_result res;
    assert_int_equal(llmgw_jwt_verify(tok, strlen(tok), &POLICY, keys, NOW, &res, why,
                                      sizeof why), LLMGW_JWT_OK);
    assert_string_equal(json_string_value(json_object_get(res.claims, "sub")), "alice");
    assert_int_equal(res.exp, NOW + 3600);
    assert_int_equal(res.alg, alg);
    json_decref(res.claims);
    /* the same token with one payload character changed does not verify */
    char *dot = strchr(tok, '.') + 5;
    *dot = *dot == 'A' ? 'B' : 'A';
    expect_refusal(tok, "");
    free(tok);
}

static void test_verify_every_algorithm(void **state)
{
    sign_and_verify(rsa, LLMGW_ALG_RS256, "rsa");
    sign_and_verify(rsa, LLMGW_ALG_RS384, "rsa");
    sign_and_verify(rsa, LLMGW_ALG_RS512, "rsa");
    sign_and_verify(rsa, LLMGW_ALG_PS256, "rsa");
    sign_and_verify(rsa, LLMGW_ALG_PS384, "rsa");
    sign_and_verify(rsa, LLMGW_ALG_PS512, "rsa");
    sign_and_verify(p256, LLMGW_ALG_ES256, "p256");
    sign_and_verify(p384, LLMGW_ALG_ES384, "p384");
    sign_and_verify(p521, LLMGW_ALG_ES512, "p521");
    sign_and_verify(ed25519, LLMGW_ALG_EDDSA, "ed25519");
    sign_and_verify(ed448, LLMGW_ALG_EDDSA, "ed448");
}

static void test_verify_without_kid_tries_keys_of_the_type(void **state)
{
    char why[160];
    char *tok = tk_sign(p384, LLMGW_ALG_ES384, "{\"alg\":\"ES384\"}", payload(60, NULL));
    assert_int_equal(check(tok, NULL, why), LLMGW_JWT_OK);
    free(tok);
    tok = tk_sign(rsa2, LLMGW_ALG_RS256, "{\"alg\":\"RS256\"}", payload(60, NULL));
    expect_refusal(tok, "signature does not verify");
    free(tok);
}

/* ---- the attacks ------------------------------------------------------------------- */

static void test_alg_none_refused(void **state)
{
    char *tok = tk_unsigned("{\"alg\":\"none\",\"kid\":\"rsa\"}", payload(60, NULL));
    expect_refusal(tok, "algorithm is not allowed");
    free(tok);
    tok = tk_unsigned("{\"alg\":\"None\"}", payload(60, NULL));
    expect_refusal(tok, "algorithm is not allowed");
    free(tok);
    tok = tk_unsigned("{\"kid\":\"rsa\"}", payload(60, NULL));
    expect_refusal(tok, "names no algorithm");
    free(tok);
}

static void test_hmac_with_the_rsa_public_key_refused(void **state)
{
    /* the classic confusion: the verifier's public key used as an HMAC secret */
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, rsa);
    char *pem;
    long n = BIO_get_mem_data(b, &pem);
    char *tok = tk_hs256(pem, (size_t)n, "{\"alg\":\"HS256\",\"kid\":\"rsa\"}", payload(60, NULL));
    expect_refusal(tok, "algorithm is not allowed");
    free(tok);
    BIO_free(b);
    /* and with the JWK's own members */
    char *j = tk_jwk(rsa, "rsa", NULL);
    tok = tk_hs256(j, strlen(j), "{\"alg\":\"HS256\"}", payload(60, NULL));
    expect_refusal(tok, "algorithm is not allowed");
    free(tok);
    free(j);
}

static void test_kid_of_the_wrong_key_type(void **state)
{
    /* an RSA signature presented with the kid of an EC key */
    char *tok = tk_sign(rsa, LLMGW_ALG_RS256, "{\"alg\":\"RS256\",\"kid\":\"p256\"}",
                        payload(60, NULL));
    expect_refusal(tok, "kid names a key of another type");
    free(tok);
    /* ES384 with the P-256 key's kid: one curve per algorithm */
    tok = tk_sign(p256, LLMGW_ALG_ES384, "{\"alg\":\"ES384\",\"kid\":\"p256\"}",
                  payload(60, NULL));
    expect_refusal(tok, "kid names a key of another type");
    free(tok);
    /* PS256 signature claimed as RS256 (padding substitution) */
    tok = tk_sign(rsa, LLMGW_ALG_PS256, "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", payload(60, NULL));
    expect_refusal(tok, "signature does not verify");
    free(tok);
}

static void test_unknown_kid(void **state)
{
    char why[160];
    char *tok = tk_sign(rsa2, LLMGW_ALG_RS256, "{\"alg\":\"RS256\",\"kid\":\"new\"}",
                        payload(60, NULL));
    assert_int_equal(check(tok, NULL, why), LLMGW_JWT_UNKNOWN_KID);
    llmgw_jwt_result res;
    assert_int_equal(llmgw_jwt_verify(tok, strlen(tok), &POLICY, NULL, NOW, &res, why,
                                      sizeof why), LLMGW_JWT_UNKNOWN_KID);
    free(tok);
}

static void test_alg_allow_list(void **state)
{
    char why[160];
    llmgw_jwt_policy pol = POLICY;
    pol.algs = LLMGW_ALG_BIT(LLMGW_ALG_ES256);
    char *tok = tk_sign(rsa, LLMGW_ALG_RS256, "{\"alg\":\"RS256\",\"kid\":\"rsa\"}",
                        payload(60, NULL));
    assert_int_equal(check(tok, &pol, why), LLMGW_JWT_INVALID);
    assert_non_null(strstr(why, "algorithm is not allowed"));
    pol.algs |= LLMGW_ALG_BIT(LLMGW_ALG_RS256);
    assert_int_equal(check(tok, &pol, why), LLMGW_JWT_OK);
    free(tok);
}

/* ---- header checks ------------------------------------------------------------------ */

static void header_case(const char *hdr, llmgw_jwt_status want, const char *reason)
{
    char why[160];
    char *tok = tk_sign(rsa, LLMGW_ALG_RS256, hdr, payload(60, NULL));
    assert_int_equal(check(tok, NULL, why), want);
    if (reason)
        assert_non_null(strstr(why, reason));
    free(tok);
}

static void test_typ_and_crit(void **state)
{
    header_case("{\"alg\":\"RS256\"}", LLMGW_JWT_OK, NULL);
    header_case("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", LLMGW_JWT_OK, NULL);
    header_case("{\"alg\":\"RS256\",\"typ\":\"jwt\"}", LLMGW_JWT_OK, NULL);
    header_case("{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", LLMGW_JWT_OK, NULL);
    header_case("{\"alg\":\"RS256\",\"typ\":\"application/at+jwt\"}", LLMGW_JWT_OK, NULL);
    header_case("{\"alg\":\"RS256\",\"typ\":\"JWE\"}", LLMGW_JWT_INVALID, "type");
    header_case("{\"alg\":\"RS256\",\"typ\":\"logout+jwt\"}", LLMGW_JWT_INVALID, "type");
    header_case("{\"alg\":\"RS256\",\"typ\":1}", LLMGW_JWT_INVALID, "type");
    header_case("{\"alg\":\"RS256\",\"crit\":[\"exp\"]}", LLMGW_JWT_INVALID, "critical");
    header_case("{\"alg\":\"RS256\",\"kid\":5}", LLMGW_JWT_INVALID, "kid");
    header_case("{\"alg\":\"RS256\",\"alg\":\"RS256\"}", LLMGW_JWT_INVALID, "header is not");
    header_case("[\"RS256\"]", LLMGW_JWT_INVALID, "header is not");
    header_case("{\"alg\":\"RS256\",\"jku\":\"https://evil/jwks\",\"kid\":\"rsa\"}",
                LLMGW_JWT_OK, NULL);   /* jku is never followed: the configured set decides */
}

/* ---- claims ------------------------------------------------------------------------- */

static void claims_case(const char *pl, llmgw_jwt_status want, const char *reason)
{
    char why[160];
    char *tok = tk_sign(rsa, LLMGW_ALG_RS256, "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", pl);
    assert_int_equal(check(tok, NULL, why), want);
    if (reason && !strstr(why, reason))
        fail_msg("'%s' does not say '%s'", why, reason);
    free(tok);
}

static void test_exp(void **state)
{
    char buf[512];
    claims_case(payload(1, NULL), LLMGW_JWT_OK, NULL);
    claims_case(payload(-60, NULL), LLMGW_JWT_OK, NULL);      /* exactly at the leeway */
    claims_case(payload(-61, NULL), LLMGW_JWT_INVALID, "expired");
    claims_case(payload(-86400, NULL), LLMGW_JWT_INVALID, "expired");
    claims_case("{\"sub\":\"a\",\"iss\":\"https://idp.example\",\"aud\":\"llmgw\"}",
                LLMGW_JWT_INVALID, "no exp");
    claims_case("{\"sub\":\"a\",\"iss\":\"https://idp.example\",\"aud\":\"llmgw\","
                "\"exp\":\"1900000000\"}", LLMGW_JWT_INVALID, "no exp");
    /* extremes must neither overflow nor wrap into validity */
    claims_case("{\"iss\":\"https://idp.example\",\"aud\":\"llmgw\","
                "\"exp\":-9223372036854775808}", LLMGW_JWT_INVALID, "expired");
    claims_case("{\"iss\":\"https://idp.example\",\"aud\":\"llmgw\","
                "\"exp\":9223372036854775807}", LLMGW_JWT_OK, NULL);
    claims_case("{\"iss\":\"https://idp.example\",\"aud\":\"llmgw\",\"exp\":1e300}",
                LLMGW_JWT_OK, NULL);
    claims_case("{\"iss\":\"https://idp.example\",\"aud\":\"llmgw\",\"exp\":-1e300}",
                LLMGW_JWT_INVALID, "expired");
    snprintf(buf, sizeof buf, "{\"iss\":\"https://idp.example\",\"aud\":\"llmgw\","
             "\"exp\":%lld.75}", NOW - 61);
    claims_case(buf, LLMGW_JWT_INVALID, "expired");
}

static void test_nbf(void **state)
{
    char extra[64];
    snprintf(extra, sizeof extra, "\"nbf\":%lld", NOW + 60);
    claims_case(payload(3600, extra), LLMGW_JWT_OK, NULL);     /* within the leeway */
    snprintf(extra, sizeof extra, "\"nbf\":%lld", NOW + 61);
    claims_case(payload(3600, extra), LLMGW_JWT_INVALID, "not valid yet");
    claims_case(payload(3600, "\"nbf\":9223372036854775807"), LLMGW_JWT_INVALID, "not valid yet");
    claims_case(payload(3600, "\"nbf\":-9223372036854775808"), LLMGW_JWT_OK, NULL);
    claims_case(payload(3600, "\"nbf\":\"soon\""), LLMGW_JWT_INVALID, "nbf");
}

static void test_iss_and_aud(void **state)
{
    claims_case("{\"iss\":\"https://idp.example/\",\"aud\":\"llmgw\",\"exp\":1900000000}",
                LLMGW_JWT_INVALID, "issuer");
    claims_case("{\"aud\":\"llmgw\",\"exp\":1900000000}", LLMGW_JWT_INVALID, "issuer");
    claims_case("{\"iss\":[\"https://idp.example\"],\"aud\":\"llmgw\",\"exp\":1900000000}",
                LLMGW_JWT_INVALID, "issuer");
    claims_case("{\"iss\":\"https://idp.example\",\"aud\":\"other\",\"exp\":1900000000}",
                LLMGW_JWT_INVALID, "audience");
    claims_case("{\"iss\":\"https://idp.example\",\"exp\":1900000000}", LLMGW_JWT_INVALID,
                "audience");
    claims_case("{\"iss\":\"https://idp.example\",\"aud\":[\"a\",\"llmgw\"],\"exp\":1900000000}",
                LLMGW_JWT_OK, NULL);
    claims_case("{\"iss\":\"https://idp.example\",\"aud\":[\"a\",\"b\"],\"exp\":1900000000}",
                LLMGW_JWT_INVALID, "audience");
    claims_case("{\"iss\":\"https://idp.example\",\"aud\":[],\"exp\":1900000000}",
                LLMGW_JWT_INVALID, "audience");
    claims_case("{\"iss\":\"https://idp.example\",\"aud\":\"LLMGW\",\"exp\":1900000000}",
                LLMGW_JWT_INVALID, "audience");
    claims_case("{\"iss\":\"https://idp.example\",\"aud\":\"llmgw\",\"exp\":1900000000,"
                "\"exp\":1}", LLMGW_JWT_INVALID, "payload is not");
    claims_case("[1]", LLMGW_JWT_INVALID, "payload is not");
}

/* ---- constant-time comparison of the per-thread memos ------------------------------- */

static void test_ct_equal(void **state)
{
    (void)state;
    char a[80], b[80];
    for (size_t n = 0; n <= sizeof a; n++) {
        for (size_t i = 0; i < n; i++)
            a[i] = b[i] = (char)('a' + i % 26);
        assert_true(llmgw_ct_equal(a, b, n));
        for (size_t i = 0; i < n; i++) {       /* one differing bit anywhere is seen */
            b[i] ^= 0x01;
            assert_false(llmgw_ct_equal(a, b, n));
            b[i] ^= 0x01;
            b[i] ^= (char)0x80;
            assert_false(llmgw_ct_equal(a, b, n));
            b[i] ^= (char)0x80;
        }
        if (n)
            assert_true(llmgw_ct_equal(a + 1, b + 1, n - 1));   /* unaligned */
    }
}

/* ---- malformed tokens ---------------------------------------------------------------- */

static void test_shape_and_base64(void **state)
{
    char why[160];
    assert_int_equal(check("llmgw_abcdef", NULL, why), LLMGW_JWT_NOT_JWT);
    assert_int_equal(check("a.b", NULL, why), LLMGW_JWT_NOT_JWT);
    assert_int_equal(check("a.b.c.d", NULL, why), LLMGW_JWT_NOT_JWT);
    assert_false(llmgw_jwt_shaped("sk-proj-abc", 11));
    assert_true(llmgw_jwt_shaped("a.b.c", 5));
    assert_true(llmgw_jwt_shaped("..", 2));
    assert_false(llmgw_jwt_shaped("...", 3));
    assert_false(llmgw_jwt_shaped(".", 1));
    assert_false(llmgw_jwt_shaped("", 0));
    assert_false(llmgw_jwt_shaped("a.b.c.", 6));
    assert_true(llmgw_jwt_shaped("a.b.c.d", 5));     /* only len bytes count */

    char *tok = tk_sign(rsa, LLMGW_ALG_RS256, "{\"alg\":\"RS256\",\"kid\":\"rsa\"}",
                        payload(60, NULL));
    size_t n = strlen(tok);
    char *bad = malloc(n + 4);
    /* a character outside the alphabet in each segment */
    for (int seg = 0; seg < 3; seg++) {
        strcpy(bad, tok);
        char *p = bad;
        for (int i = 0; i < seg; i++)
            p = strchr(p, '.') + 1;
        p[1] = seg == 1 ? '+' : '!';
        expect_refusal(bad, "base64url");
    }
    snprintf(bad, n + 4, "%s==", tok);          /* padded signature */
    expect_refusal(bad, "base64url");
    strcpy(bad, tok);
    bad[n - 1] = '\0';                           /* signature one character short */
    expect_refusal(bad, "");
    strcpy(bad, tok);
    *strrchr(bad, '.') = '\0';
    strcat(bad, ".");                            /* empty signature */
    expect_refusal(bad, "signature is not valid base64url");
    free(bad);
    free(tok);
}

static void test_oversized_token(void **state)
{
    char why[160];
    static char big[LLMGW_JWT_MAX_LEN + 512];
    char *fill = malloc(LLMGW_JWT_MAX_LEN);
    memset(fill, 'x', LLMGW_JWT_MAX_LEN - 1);
    fill[LLMGW_JWT_MAX_LEN - 1] = '\0';
    snprintf(big, sizeof big, "\"pad\":\"%s\"", fill);
    char *tok = tk_sign(rsa, LLMGW_ALG_RS256, "{\"alg\":\"RS256\",\"kid\":\"rsa\"}",
                        payload(60, big));
    assert_true(strlen(tok) > LLMGW_JWT_MAX_LEN);
    assert_int_equal(check(tok, NULL, why), LLMGW_JWT_INVALID);
    assert_non_null(strstr(why, "larger than 16384"));
    free(tok);
    /* just under the limit passes */
    fill[LLMGW_JWT_MAX_LEN / 2] = '\0';
    snprintf(big, sizeof big, "\"pad\":\"%s\"", fill);
    tok = tk_sign(rsa, LLMGW_ALG_RS256, "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", payload(60, big));
    assert_true(strlen(tok) <= LLMGW_JWT_MAX_LEN);
    assert_int_equal(check(tok, NULL, why), LLMGW_JWT_OK);
    free(tok);
    free(fill);
}

static void test_der_ecdsa_refused(void **state)
{
    char *in_h = tk_b64url("{\"alg\":\"ES256\",\"kid\":\"p256\"}", 28);
    const char *pl = payload(60, NULL);
    char *in_p = tk_b64url(pl, strlen(pl));
    char input[2048];
    snprintf(input, sizeof input, "%s.%s", in_h, in_p);
    unsigned char der[128];
    size_t dl = sizeof der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, p256);
    EVP_DigestSign(ctx, der, &dl, (unsigned char *)input, strlen(input));
    EVP_MD_CTX_free(ctx);
    char *s = tk_b64url(der, dl), tok[4096];
    snprintf(tok, sizeof tok, "%s.%s", input, s);
    expect_refusal(tok, "signature does not verify");
    free(s);
    free(in_h);
    free(in_p);
}

static void test_numeric_date(void **state)
{
    int present;
    json_t *c = json_pack("{s:I, s:f, s:s, s:f}", "a", (json_int_t)5, "b", 7.9, "c", "x", "d",
                          1e30);
    assert_int_equal(llmgw_jwt_numeric_date(c, "a", &present), 5);
    assert_true(present);
    assert_int_equal(llmgw_jwt_numeric_date(c, "b", &present), 7);
    assert_int_equal(llmgw_jwt_numeric_date(c, "c", &present), 0);
    assert_false(present);
    assert_int_equal(llmgw_jwt_numeric_date(c, "d", &present), INT64_MAX);
    assert_int_equal(llmgw_jwt_numeric_date(c, "zz", &present), 0);
    assert_false(present);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_b64url_strict),
        cmocka_unit_test(test_jwks_all_key_types),
        cmocka_unit_test(test_jwks_declared_alg_narrows),
        cmocka_unit_test(test_jwks_skips),
        cmocka_unit_test(test_jwks_point_off_curve),
        cmocka_unit_test(test_jwks_broken_documents),
        cmocka_unit_test(test_jwks_key_limit_and_digest),
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_verify_every_algorithm),
        cmocka_unit_test(test_verify_without_kid_tries_keys_of_the_type),
        cmocka_unit_test(test_alg_none_refused),
        cmocka_unit_test(test_hmac_with_the_rsa_public_key_refused),
        cmocka_unit_test(test_kid_of_the_wrong_key_type),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_alg_allow_list),
        cmocka_unit_test(test_typ_and_crit),
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_nbf),
        cmocka_unit_test(test_iss_and_aud),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_shape_and_base64),
        cmocka_unit_test(test_oversized_token),
        cmocka_unit_test(test_der_ecdsa_refused),
        cmocka_unit_test(test_numeric_date),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
