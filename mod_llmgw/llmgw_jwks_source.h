/* llmgw_jwks_source.h — one JWKS URI's current key set and when it is fetched again.
 * Per httpd child, on demand, never from a background thread:
 *   - the set is due every `refresh` seconds; the request that notices first fetches
 *     it while holding the source's fetch lock (trylock: every other request goes on
 *     with the current set, nobody waits for I/O they do not perform);
 *   - only a child that has no set at all lets requests wait for the one fetch in
 *     progress (they have nothing else to verify with), bounded by the fetch timeout;
 *   - a token naming an unknown kid forces a fetch at most once per `kid_cooldown`
 *     seconds (so random kids cannot make the gateway hammer the IdP);
 *   - a failed fetch keeps the last good set and is retried after `retry` seconds;
 *   - a fetched set replaces the current one (removed keys stop working) and bumps the
 *     generation, unless the document is byte-for-byte the same.
 * Time comes in from the caller (seconds), so the schedule is testable. Part of the
 * httpd-free core library (libllmgw). */
#ifndef LLMGW_JWKS_SOURCE_H
#define LLMGW_JWKS_SOURCE_H

#include <pthread.h>
#include <stdint.h>

#include "llmgw_jwks.h"

/* Fetches the document; on success *body is malloc'd (the source frees it). */
typedef int (*llmgw_jwks_fetch_fn)(void *ctx, const char *uri, char **body, size_t *len,
                                   char *err, size_t errcap);
/* Reports fetch outcomes (level 0 = information, 1 = warning). */
typedef void (*llmgw_jwks_log_fn)(void *ctx, int level, const char *uri, const char *msg);

typedef struct {
    const char *uri;
    int64_t refresh, retry, kid_cooldown;
    llmgw_jwks_fetch_fn fetch;
    void *fetch_ctx;
    llmgw_jwks_log_fn log;
    void *log_ctx;
    /* state, under lock */
    pthread_mutex_t lock;
    pthread_mutex_t fetch_lock;     /* held only by the request performing a fetch */
    llmgw_jwks *set;
    uint64_t gen;                   /* 0 = never had a set */
    int64_t next_refresh, next_forced;
    unsigned long fetches, failures;
} llmgw_jwks_source;

#define LLMGW_JWKS_KID_COOLDOWN 60

/* refresh > 0 seconds; retry after a failure = min(refresh, 30). Returns 0 or -1. */
int llmgw_jwks_source_init(llmgw_jwks_source *src, const char *uri, int64_t refresh,
                           llmgw_jwks_fetch_fn fetch, void *fetch_ctx);
void llmgw_jwks_source_destroy(llmgw_jwks_source *src);
/* Changes the schedule (before the source is in use): refresh and the retry after a
 * failure, min(refresh, 30). */
void llmgw_jwks_source_set_refresh(llmgw_jwks_source *src, int64_t refresh);

/* Installs a set the caller already has (e.g. read at configuration time); takes over
 * the caller's reference. The next scheduled fetch is `refresh` seconds after now. */
void llmgw_jwks_source_install(llmgw_jwks_source *src, llmgw_jwks *set, int64_t now);

/* The current set with a reference for the caller (NULL when there is none yet) and its
 * generation, fetching first if the set is due. forced: the caller met an unknown kid
 * and wants a fresh set (subject to kid_cooldown). */
llmgw_jwks *llmgw_jwks_source_acquire(llmgw_jwks_source *src, int64_t now, int forced,
                                      uint64_t *gen);

/* The generation alone (no fetch, no reference). */
uint64_t llmgw_jwks_source_gen(llmgw_jwks_source *src);

#endif
