/* llmgw_jwt_cache.c — the verified-token cache (see llmgw_jwt_cache.h). Each entry
 * owns one malloc'd block holding its strings; a hit copies that block into memory
 * from the caller's allocator (the request pool) under the lock, so no entry is ever
 * referenced after the lock is released and eviction needs no reference counts. */
#include "llmgw_jwt_cache.h"
#include "llmgw_keyfile.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 4

typedef struct {
    unsigned char key[32];
    uint64_t gen;
    int64_t valid_until;
    uint64_t stamp;          /* insertion order: the smallest is replaced first */
    char *blob;              /* NULL = empty slot */
    size_t blob_len;
    llmgw_caller_id id;       /* pointers into blob */
} entry;

struct llmgw_jwt_cache {
    pthread_mutex_t lock;
    entry *slots;
    size_t nsets;            /* power of two; slots = nsets * WAYS */
    uint64_t clock;
    llmgw_jwt_cache_stats st;
};

llmgw_jwt_cache *llmgw_jwt_cache_create(size_t capacity)
{
    size_t nsets = 1;
    while (nsets * WAYS < capacity && nsets < ((size_t)1 << 24))
        nsets <<= 1;
    llmgw_jwt_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->slots = calloc(nsets * WAYS, sizeof *c->slots);
    if (!c->slots || pthread_mutex_init(&c->lock, NULL)) {
        free(c->slots);
        free(c);
        return NULL;
    }
    c->nsets = nsets;
    c->st.capacity = nsets * WAYS;
    return c;
}

static void drop(entry *e)
{
    free(e->blob);
    memset(e, 0, sizeof *e);
}

void llmgw_jwt_cache_destroy(llmgw_jwt_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsets * WAYS; i++)
        drop(&c->slots[i]);
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

void llmgw_jwt_cache_key(const char *tok, size_t len, unsigned char key[32])
{
    llmgw_sha256(tok, len, key);
}

static entry *set_of(llmgw_jwt_cache *c, const unsigned char key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof h);   /* the key is a SHA-256: any 8 bytes are uniform */
    return &c->slots[(h & (c->nsets - 1)) * WAYS];
}

static const char *rebase(const char *p, const char *from, char *to)
{
    return p ? to + (p - from) : NULL;
}

static void copy_identity(const entry *e, char *blob, llmgw_caller_id *out)
{
    memcpy(blob, e->blob, e->blob_len);
    out->user = rebase(e->id.user, e->blob, blob);
    out->email = rebase(e->id.email, e->blob, blob);
    out->team = rebase(e->id.team, e->blob, blob);
    out->nroles = e->id.nroles;
    for (int i = 0; i < e->id.nroles; i++)
        out->roles[i] = rebase(e->id.roles[i], e->blob, blob);
}

int llmgw_jwt_cache_get(llmgw_jwt_cache *c, const unsigned char key[32], uint64_t gen,
                        int64_t now, const llmgw_alloc *a, llmgw_caller_id *out)
{
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    entry *set = set_of(c, key);
    for (int w = 0; w < WAYS; w++) {
        entry *e = &set[w];
        if (!e->blob || CRYPTO_memcmp(e->key, key, 32))
            continue;
        if (e->gen != gen || now > e->valid_until) {
            drop(e);   /* stale: its key set was replaced, or the token expired */
            c->st.entries--;
            break;
        }
        char *blob = a->fn(a->ctx, e->blob_len);
        if (!blob) {
            rc = -1;
            break;
        }
        copy_identity(e, blob, out);
        rc = 1;
        break;
    }
    if (rc == 1)
        c->st.hits++;
    else
        c->st.misses++;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static size_t len0(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *put_str(const char *s, char **cursor)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = *cursor;
    memcpy(p, s, n);
    *cursor += n;
    return p;
}

/* Packs the identity's strings into one block owned by the entry (built before the
 * lock is taken, so the critical section is only the slot choice). */
static int pack(const llmgw_caller_id *id, entry *e)
{
    size_t n = len0(id->user) + len0(id->email) + len0(id->team);
    for (int i = 0; i < id->nroles; i++)
        n += len0(id->roles[i]);
    char *blob = malloc(n ? n : 1), *cur = blob;
    if (!blob)
        return -1;
    e->blob = blob;
    e->blob_len = n;
    e->id.user = put_str(id->user, &cur);
    e->id.email = put_str(id->email, &cur);
    e->id.team = put_str(id->team, &cur);
    e->id.nroles = id->nroles;
    for (int i = 0; i < id->nroles; i++)
        e->id.roles[i] = put_str(id->roles[i], &cur);
    return 0;
}

int llmgw_jwt_cache_put(llmgw_jwt_cache *c, const unsigned char key[32], uint64_t gen,
                        int64_t valid_until, const llmgw_caller_id *id)
{
    entry fresh;
    memset(&fresh, 0, sizeof fresh);
    if (pack(id, &fresh) < 0)
        return -1;
    memcpy(fresh.key, key, 32);
    fresh.gen = gen;
    fresh.valid_until = valid_until;

    pthread_mutex_lock(&c->lock);
    entry *set = set_of(c, key), *victim = NULL;
    for (int w = 0; w < WAYS && !victim; w++)
        if (set[w].blob && !memcmp(set[w].key, key, 32))
            victim = &set[w];       /* the same token verified twice concurrently */
    for (int w = 0; w < WAYS && !victim; w++)
        if (!set[w].blob)
            victim = &set[w];
    if (!victim) {
        victim = &set[0];
        for (int w = 1; w < WAYS; w++)
            if (set[w].stamp < victim->stamp)
                victim = &set[w];
        c->st.evictions++;
    }
    char *old = victim->blob;
    if (!old)
        c->st.entries++;
    fresh.stamp = ++c->clock;
    *victim = fresh;
    c->st.inserts++;
    pthread_mutex_unlock(&c->lock);
    free(old);
    return 0;
}

void llmgw_jwt_cache_get_stats(llmgw_jwt_cache *c, llmgw_jwt_cache_stats *st)
{
    pthread_mutex_lock(&c->lock);
    *st = c->st;
    pthread_mutex_unlock(&c->lock);
}
