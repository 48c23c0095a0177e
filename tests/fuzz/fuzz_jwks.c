/* fuzz_jwks.c — JWKS documents (llmgw_jwks_parse), which come from the network (an IdP's
 * jwks_uri) and are parsed in the gateway.
 *
 * Input: a JWKS document. Invariants: a refused document has a reason; an accepted set
 * has 1..LLMGW_JWKS_MAX_KEYS keys, each with a public key and at least one algorithm,
 * none of them usable for anything but the asymmetric algorithms, kids within their
 * bound; reference counting releases everything (LeakSanitizer). */
#include "fuzz_common.h"

#include "llmgw_jwks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char note[256] = "";
    char *doc = fuzz_dup_exact(data, size);
    llmgw_jwks *s = llmgw_jwks_parse(doc, size, note, sizeof note);
    FUZZ_CHECK(memchr(note, '\0', sizeof note) != NULL, "note not terminated");
    if (!s) {
        FUZZ_CHECK(note[0], "refused without a reason");
    } else {
        FUZZ_CHECK(s->nkeys >= 1 && s->nkeys <= LLMGW_JWKS_MAX_KEYS, "%zu keys", s->nkeys);
        for (size_t i = 0; i < s->nkeys; i++) {
            const llmgw_jwk *k = &s->keys[i];
            FUZZ_CHECK(k->pkey != NULL, "key %zu has no EVP_PKEY", i);
            FUZZ_CHECK(k->algs && !(k->algs & ~((1u << LLMGW_ALG_COUNT) - 1)), "algs %x", k->algs);
            FUZZ_CHECK(!k->kid || strlen(k->kid) <= LLMGW_JWK_KID_MAX, "kid length");
            int is_rsa = EVP_PKEY_is_a(k->pkey, "RSA");
            if (k->algs & LLMGW_ALGS_RSA)
                FUZZ_CHECK(is_rsa && EVP_PKEY_get_bits(k->pkey) >= LLMGW_RSA_MIN_BITS,
                           "RSA algorithm on a non-RSA or short key");
        }
        llmgw_jwks *r = llmgw_jwks_ref(s);
        FUZZ_CHECK(r == s, "ref");
        llmgw_jwks_unref(r);
        llmgw_jwks_unref(s);
    }
    free(doc);
    return 0;
}
