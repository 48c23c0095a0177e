/* llmgw_jwks_source.c — the fetch schedule of one JWKS URI (see llmgw_jwks_source.h). */
#include "llmgw_jwks_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int llmgw_jwks_source_init(llmgw_jwks_source *src, const char *uri, int64_t refresh,
                           llmgw_jwks_fetch_fn fetch, void *fetch_ctx)
{
    memset(src, 0, sizeof *src);
    src->uri = uri;
    llmgw_jwks_source_set_refresh(src, refresh);
    src->kid_cooldown = LLMGW_JWKS_KID_COOLDOWN;
    src->fetch = fetch;
    src->fetch_ctx = fetch_ctx;
    if (pthread_mutex_init(&src->lock, NULL))
        return -1;
    if (pthread_mutex_init(&src->fetch_lock, NULL)) {
        pthread_mutex_destroy(&src->lock);
        return -1;
    }
    return 0;
}

void llmgw_jwks_source_set_refresh(llmgw_jwks_source *src, int64_t refresh)
{
    src->refresh = refresh > 0 ? refresh : 1;
    src->retry = src->refresh < 30 ? src->refresh : 30;
}

void llmgw_jwks_source_destroy(llmgw_jwks_source *src)
{
    llmgw_jwks_unref(src->set);
    src->set = NULL;
    pthread_mutex_destroy(&src->lock);
    pthread_mutex_destroy(&src->fetch_lock);
}

static void report(llmgw_jwks_source *src, int level, const char *msg)
{
    if (src->log)
        src->log(src->log_ctx, level, src->uri, msg);
}

/* Swaps in a new set, or keeps the current one if the document did not change (then
 * the generation, and with it every cached verification, stays valid). *drop receives
 * the set the caller must release outside the lock. Returns 1 if the set was replaced. */
static int install_locked(llmgw_jwks_source *src, llmgw_jwks *set, int64_t now,
                          llmgw_jwks **drop)
{
    int replace = !src->set || memcmp(src->set->digest, set->digest, sizeof set->digest);
    if (replace) {
        *drop = src->set;
        src->set = set;
        src->gen++;
    } else {
        *drop = set;
    }
    src->next_refresh = now + src->refresh;
    return replace;
}

void llmgw_jwks_source_install(llmgw_jwks_source *src, llmgw_jwks *set, int64_t now)
{
    llmgw_jwks *drop = NULL;
    pthread_mutex_lock(&src->lock);
    install_locked(src, set, now, &drop);
    pthread_mutex_unlock(&src->lock);
    llmgw_jwks_unref(drop);
}

/* Runs with fetch_lock held and lock not held: the I/O happens here. */
static void do_fetch(llmgw_jwks_source *src, int64_t now)
{
    char *body = NULL, err[256] = "", note[256] = "", msg[600];
    size_t len = 0, nkeys = 0;
    llmgw_jwks *set = NULL, *drop = NULL;
    int replaced = 0;
    if (src->fetch(src->fetch_ctx, src->uri, &body, &len, err, sizeof err) == 0) {
        set = llmgw_jwks_parse(body, len, note, sizeof note);
        if (!set)
            snprintf(err, sizeof err, "%s", note);
    }
    free(body);
    pthread_mutex_lock(&src->lock);
    src->fetches++;
    if (set) {
        nkeys = set->nkeys;
        replaced = install_locked(src, set, now, &drop);
    } else {
        src->failures++;
        src->next_refresh = now + src->retry;   /* the last good set stays in use */
    }
    pthread_mutex_unlock(&src->lock);
    llmgw_jwks_unref(drop);
    if (!set) {
        snprintf(msg, sizeof msg, "key set not refreshed, keeping the last good one: %s", err);
        report(src, 1, msg);
    } else if (replaced) {
        snprintf(msg, sizeof msg, "key set loaded: %zu keys%s%s", nkeys, *note ? "; " : "",
                 note);
        report(src, *note ? 1 : 0, msg);
    }
}

static int due_locked(llmgw_jwks_source *src, int64_t now, int forced)
{
    if (forced)
        return now >= src->next_forced;
    return now >= src->next_refresh;
}

llmgw_jwks *llmgw_jwks_source_acquire(llmgw_jwks_source *src, int64_t now, int forced,
                                      uint64_t *gen)
{
    pthread_mutex_lock(&src->lock);
    int due = due_locked(src, now, forced), have = src->set != NULL;
    pthread_mutex_unlock(&src->lock);

    if (due) {
        int locked = have ? pthread_mutex_trylock(&src->fetch_lock) == 0
                          : pthread_mutex_lock(&src->fetch_lock) == 0;
        if (locked) {
            /* whoever held fetch_lock before us may have done the work already */
            pthread_mutex_lock(&src->lock);
            due = due_locked(src, now, forced);
            if (due && forced)
                src->next_forced = now + src->kid_cooldown;
            pthread_mutex_unlock(&src->lock);
            if (due)
                do_fetch(src, now);
            pthread_mutex_unlock(&src->fetch_lock);
        }
    }

    pthread_mutex_lock(&src->lock);
    llmgw_jwks *s = llmgw_jwks_ref(src->set);
    *gen = src->gen;
    pthread_mutex_unlock(&src->lock);
    return s;
}

uint64_t llmgw_jwks_source_gen(llmgw_jwks_source *src)
{
    pthread_mutex_lock(&src->lock);
    uint64_t g = src->gen;
    pthread_mutex_unlock(&src->lock);
    return g;
}
