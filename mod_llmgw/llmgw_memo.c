/* llmgw_memo.c — the lock-free lookup memo shared by a process's worker threads (see
 * the header for why it replaced the per-thread memos). The seqlock follows Boehm,
 * "Can seqlocks get along with programming language memory models?" (2012): every
 * field is read and written with relaxed atomics, so a reader racing a writer reads
 * a torn slot without undefined behaviour and then throws it away. Part of libllmgw. */
#include "llmgw_memo.h"

#include <string.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

void llmgw_memo_init(llmgw_memo *m, llmgw_memo_slot *slots, uint32_t nslots, uint64_t seed)
{
    m->slots = slots;
    m->mask = nslots - 1;
    m->seed = seed;
}

size_t llmgw_memo_join(char name[LLMGW_MEMO_NAME_MAX], const char *const *parts, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!parts[i])
            continue;
        size_t k = strlen(parts[i]) + 1;
        if (k > LLMGW_MEMO_NAME_MAX - len)
            return 0;
        memcpy(name + len, parts[i], k);
        len += k;
    }
    return len;
}

/* The name as whole words, zero past its end: hashed and compared a word at a time,
 * with no branch on its bytes. Returns the number of words. */
static size_t words_of(const char *name, size_t len, uint64_t w[LLMGW_MEMO_WORDS])
{
    size_t nw = (len + 7) / 8;
    w[nw - 1] = 0;
    memcpy(w, name, len);
    return nw;
}

/* A multiply-xorshift mix keyed by the process's seed: it only has to spread names
 * over slots and keep their placement unpredictable from outside. */
static uint32_t slot_of(const llmgw_memo *m, const uint64_t *w, size_t nw, size_t len)
{
    uint64_t h = m->seed ^ (len * 0x9E3779B97F4A7C15ULL);
    for (size_t i = 0; i < nw; i++) {
        h = (h ^ w[i]) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 29;
    }
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 32;
    return (uint32_t)h & m->mask;
}

int llmgw_memo_get(const llmgw_memo *m, const void *scope, const char *name, size_t len,
                   const void **val)
{
    uint64_t w[LLMGW_MEMO_WORDS];
    if (!m->slots || len == 0 || len > LLMGW_MEMO_NAME_MAX)
        return 0;
    size_t nw = words_of(name, len, w);
    llmgw_memo_slot *s = &m->slots[slot_of(m, w, nw, len)];
    uint32_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if (before & 1)
        return 0;
    uint64_t diff = (uint64_t)(LOAD(&s->len) ^ (uint32_t)len) |
                    (uint64_t)((uintptr_t)LOAD(&s->scope) ^ (uintptr_t)scope);
    const void *v = LOAD(&s->val);
    for (size_t i = 0; i < nw; i++)     /* no early exit: the name may be a secret */
        diff |= LOAD(&s->name[i]) ^ w[i];
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (LOAD(&s->seq) != before || diff)
        return 0;
    *val = v;
    return 1;
}

void llmgw_memo_put(llmgw_memo *m, const void *scope, const char *name, size_t len,
                    const void *val)
{
    uint64_t w[LLMGW_MEMO_WORDS];
    if (!m->slots || len == 0 || len > LLMGW_MEMO_NAME_MAX)
        return;
    size_t nw = words_of(name, len, w);
    llmgw_memo_slot *s = &m->slots[slot_of(m, w, nw, len)];
    uint32_t seq = LOAD(&s->seq);
    if ((seq & 1) || !__atomic_compare_exchange_n(&s->seq, &seq, seq + 1, 0,
                                                  __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;                         /* another writer has it: leave it to them */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    STORE(&s->len, (uint32_t)len);
    STORE(&s->scope, scope);
    STORE(&s->val, val);
    for (size_t i = 0; i < LLMGW_MEMO_WORDS; i++)
        STORE(&s->name[i], i < nw ? w[i] : 0);
    __atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}
