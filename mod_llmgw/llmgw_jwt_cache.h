/* llmgw_jwt_cache.h — identities of verified tokens, keyed by the SHA-256 of the token,
 * so a token seen again skips the signature check. Bounded (set-associative, the
 * oldest entry of a full set is replaced), thread-safe, one per JWT configuration in
 * each httpd child. An entry answers only while the token is unexpired and only for
 * the key-set generation it was verified against: a refresh that changes the key set
 * makes every earlier verification count for nothing, so a removed key stops working.
 * Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_JWT_CACHE_H
#define LLMGW_JWT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "llmgw_claims.h"

typedef struct llmgw_jwt_cache llmgw_jwt_cache;

/* capacity entries (rounded up to a power of two, at least 4). malloc-owned. */
llmgw_jwt_cache *llmgw_jwt_cache_create(size_t capacity);
void llmgw_jwt_cache_destroy(llmgw_jwt_cache *c);

/* The cache key of a token. */
void llmgw_jwt_cache_key(const char *tok, size_t len, unsigned char key[32]);

/* 1 and a copy of the identity (strings from a) when a live entry for key and gen
 * exists at time now; 0 when not; -1 when a could not allocate. */
int llmgw_jwt_cache_get(llmgw_jwt_cache *c, const unsigned char key[32], uint64_t gen,
                        int64_t now, const llmgw_alloc *a, llmgw_caller_id *out);

/* Remembers id until valid_until (seconds, inclusive). 0, or -1 out of memory. */
int llmgw_jwt_cache_put(llmgw_jwt_cache *c, const unsigned char key[32], uint64_t gen,
                        int64_t valid_until, const llmgw_caller_id *id);

typedef struct {
    unsigned long hits, misses, inserts, evictions;
    size_t entries, capacity;
} llmgw_jwt_cache_stats;

void llmgw_jwt_cache_get_stats(llmgw_jwt_cache *c, llmgw_jwt_cache_stats *st);

#endif
