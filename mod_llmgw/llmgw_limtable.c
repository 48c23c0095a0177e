/* llmgw_limtable.c — the lock-free counter table shared by every httpd child (see
 * llmgw_limtable.h for the layout and the invariants). Only GCC/Clang __atomic
 * builtins on naturally aligned 64-bit words, which are lock-free and therefore valid
 * across processes mapping the same memory. */
#include "llmgw_limtable.h"

#include <sched.h>
#include <string.h>

#define LT_MAGIC 0x6c6c6d67776c7431ULL    /* "llmgwlt1" */
#define FP_EMPTY 0
#define FP_BUSY 1
#define CLAIM_SPINS 20000                  /* ≈ tens of ms of yields at most */
#define CLAIM_ATTEMPTS 64

uint32_t llmgw_lt_round_slots(uint32_t nslots)
{
    uint32_t n = LLMGW_LT_MIN_SLOTS;
    if (nslots == 0)
        return 0;
    if (nslots > LLMGW_LT_MAX_SLOTS)
        nslots = LLMGW_LT_MAX_SLOTS;
    while (n < nslots)
        n <<= 1;
    return n;
}

size_t llmgw_lt_size(uint32_t nslots, uint32_t nstats)
{
    return sizeof(llmgw_lt_header) + (size_t)llmgw_lt_round_slots(nslots) * sizeof(llmgw_lt_slot)
           + (size_t)nstats * sizeof(llmgw_lt_stat);
}

static void bind(llmgw_lt *t, void *mem)
{
    t->h = mem;
    t->slots = (llmgw_lt_slot *)((char *)mem + sizeof(llmgw_lt_header));
    t->stats = (llmgw_lt_stat *)(t->slots + t->h->nslots);
}

void llmgw_lt_init(llmgw_lt *t, void *mem, uint32_t nslots, uint32_t nstats)
{
    memset(mem, 0, llmgw_lt_size(nslots, nstats));
    llmgw_lt_header *h = mem;
    h->nslots = llmgw_lt_round_slots(nslots);
    h->nstats = nstats;
    h->magic = LT_MAGIC;
    bind(t, mem);
}

int llmgw_lt_attach(llmgw_lt *t, void *mem, size_t size, uint32_t nslots, uint32_t nstats)
{
    const llmgw_lt_header *h = mem;
    if (!mem || size < sizeof *h || h->magic != LT_MAGIC ||
        h->nslots != llmgw_lt_round_slots(nslots) || h->nstats != nstats ||
        size < llmgw_lt_size(nslots, nstats))
        return -1;
    bind(t, mem);
    return 0;
}

static uint64_t load_fp(const llmgw_lt_slot *s)
{
    return __atomic_load_n(&s->fp, __ATOMIC_ACQUIRE);
}

/* Another process is between its claim and its publish (three stores). Wait for it;
 * if it never finishes (killed in between) the slot stays unusable, which costs one
 * slot, never a duplicate counter for a live key. */
static uint64_t wait_claimed(const llmgw_lt_slot *s)
{
    uint64_t f = FP_BUSY;
    for (int i = 0; i < CLAIM_SPINS && f == FP_BUSY; i++) {
        if (i >= 64)
            sched_yield();
        f = load_fp(s);
    }
    return f;
}

static int reclaimable(const llmgw_lt_slot *s, int64_t now)
{
    return __atomic_load_n(&s->expires, __ATOMIC_RELAXED) + LLMGW_LT_GRACE <= now;
}

/* One pass over the key's probe run: the key's slot, or in *cand the first slot it
 * could take (the first empty one ends the run, since the key cannot lie beyond it). */
static llmgw_lt_slot *scan(const llmgw_lt *t, uint64_t fp, int64_t now, llmgw_lt_slot **cand,
                           uint64_t *cand_fp)
{
    uint32_t mask = t->h->nslots - 1, home = (uint32_t)(fp >> 32 ^ fp) & mask;
    uint32_t probe = t->h->nslots < LLMGW_LT_PROBE ? t->h->nslots : LLMGW_LT_PROBE;
    *cand = NULL;
    for (uint32_t i = 0; i < probe; i++) {
        llmgw_lt_slot *s = &t->slots[(home + i) & mask];
        uint64_t f = load_fp(s);
        if (f == FP_BUSY)
            f = wait_claimed(s);
        if (f == fp)
            return s;
        if (f == FP_EMPTY) {
            if (!*cand) {
                *cand = s;
                *cand_fp = FP_EMPTY;
            }
            return NULL;
        }
        if (f != FP_BUSY && !*cand && reclaimable(s, now)) {
            *cand = s;
            *cand_fp = f;
        }
    }
    return NULL;
}

llmgw_lt_slot *llmgw_lt_acquire(llmgw_lt *t, uint64_t fp, int64_t expires, int64_t now)
{
    if (!t->h || !t->h->nslots || fp < 2)
        return NULL;
    for (int attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        llmgw_lt_slot *cand;
        uint64_t cand_fp = 0;
        llmgw_lt_slot *s = scan(t, fp, now, &cand, &cand_fp);
        if (s)
            return s;
        if (!cand)
            break;
        /* Claim the first free slot of the run only: two processes inserting the same
         * key both aim at it, one wins, the other rescans and finds the key there. */
        uint64_t expect = cand_fp;
        if (__atomic_compare_exchange_n(&cand->fp, &expect, FP_BUSY, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&cand->count, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&cand->expires, expires, __ATOMIC_RELAXED);
            __atomic_store_n(&cand->fp, fp, __ATOMIC_RELEASE);
            return cand;
        }
    }
    __atomic_add_fetch(&t->h->full, 1, __ATOMIC_RELAXED);
    return NULL;
}

llmgw_lt_slot *llmgw_lt_find(const llmgw_lt *t, uint64_t fp)
{
    llmgw_lt_slot *cand;
    uint64_t cand_fp;
    if (!t->h || !t->h->nslots || fp < 2)
        return NULL;
    return scan(t, fp, INT64_MIN, &cand, &cand_fp);
}

int llmgw_lt_take(llmgw_lt_slot *s, int64_t cost, int64_t limit, int64_t *after)
{
    int64_t c = __atomic_load_n(&s->count, __ATOMIC_RELAXED);
    do {
        if (c > limit - cost) {
            *after = c;
            return 0;
        }
    } while (!__atomic_compare_exchange_n(&s->count, &c, c + cost, 1, __ATOMIC_ACQ_REL,
                                          __ATOMIC_RELAXED));
    *after = c + cost;
    return 1;
}

int64_t llmgw_lt_add(llmgw_lt_slot *s, int64_t n)
{
    int64_t c = __atomic_load_n(&s->count, __ATOMIC_RELAXED), v;
    do {
        if (n > 0 && c > INT64_MAX - n)
            v = INT64_MAX;
        else
            v = c + n < 0 ? 0 : c + n;
    } while (!__atomic_compare_exchange_n(&s->count, &c, v, 1, __ATOMIC_ACQ_REL,
                                          __ATOMIC_RELAXED));
    return v;
}

int64_t llmgw_lt_count(const llmgw_lt_slot *s)
{
    return __atomic_load_n(&s->count, __ATOMIC_ACQUIRE);
}

int llmgw_lt_holds(const llmgw_lt_slot *s, uint64_t fp)
{
    return load_fp(s) == fp;
}

uint64_t llmgw_lt_full_total(const llmgw_lt *t)
{
    return t->h ? __atomic_load_n(&t->h->full, __ATOMIC_RELAXED) : 0;
}

void llmgw_lt_store_error(llmgw_lt *t)
{
    if (t->h)
        __atomic_add_fetch(&t->h->store_errors, 1, __ATOMIC_RELAXED);
}

uint64_t llmgw_lt_store_errors(const llmgw_lt *t)
{
    return t->h ? __atomic_load_n(&t->h->store_errors, __ATOMIC_RELAXED) : 0;
}

static int find_stat(const llmgw_lt *t, const char *name)
{
    for (uint32_t i = 0; i < t->h->nstats; i++)
        if (t->stats[i].name[0] && !strncmp(t->stats[i].name, name, LLMGW_LT_STAT_NAME))
            return (int)i;
    return -1;
}

static int configured(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strncmp(names[i], name, LLMGW_LT_STAT_NAME))
            return 1;
    return 0;
}

void llmgw_lt_stats_bind(llmgw_lt *t, const char *const *names, int n, int *idx)
{
    for (int i = 0; i < n; i++)
        idx[i] = find_stat(t, names[i]);
    uint32_t next = 0;
    for (int i = 0; i < n; i++) {
        if (idx[i] >= 0)
            continue;
        while (next < t->h->nstats && t->stats[next].name[0] &&
               configured(names, n, t->stats[next].name))
            next++;
        if (next == t->h->nstats)
            continue;   /* idx stays -1: the rule is not counted, the rest still are */
        llmgw_lt_stat *st = &t->stats[next];
        memset(st->name, 0, sizeof st->name);
        strncpy(st->name, names[i], sizeof st->name - 1);
        __atomic_store_n(&st->refused, 0, __ATOMIC_RELAXED);
        idx[i] = (int)next++;
    }
}

void llmgw_lt_stat_inc(llmgw_lt *t, int idx)
{
    if (t->h && idx >= 0 && (uint32_t)idx < t->h->nstats)
        __atomic_add_fetch(&t->stats[idx].refused, 1, __ATOMIC_RELAXED);
}

uint64_t llmgw_lt_stat_get(const llmgw_lt *t, int idx)
{
    if (!t->h || idx < 0 || (uint32_t)idx >= t->h->nstats)
        return 0;
    return __atomic_load_n(&t->stats[idx].refused, __ATOMIC_RELAXED);
}
