/* llmgw_memo.h — a process-wide table of recent lookups (a gateway key to its entry,
 * a provider's model to its price) that every worker thread reads without a lock.
 *
 * Why not a memo per thread: the event MPM hands each request to whichever worker is
 * idle, so a thread's memo was last touched a hundred or more requests ago and every
 * read of it (and of the thread's TLS block, through __tls_get_addr in a module) is a
 * cache miss. Sampled with perf under wrk -c64, the key, price and metrics-series memos
 * and __tls_get_addr took 0.9-1.1 µs of CPU per request as per-thread memos and
 * 0.4-0.5 µs as this table, which every request reads and so stays in cache. Each slot is a seqlock: a reader copies nothing out, it compares in
 * place and then checks that no writer came by meanwhile; a writer that finds the slot
 * taken by another writer simply does not cache. Names are compared in constant time
 * (they may be secrets) and placed by a hash keyed with a per-process random seed, so
 * which slot a key lands in tells nothing about it. Part of libllmgw. */
#ifndef LLMGW_MEMO_H
#define LLMGW_MEMO_H

#include <stddef.h>
#include <stdint.h>

#define LLMGW_MEMO_NAME_MAX 128     /* longer names are looked up every time */
#define LLMGW_MEMO_WORDS (LLMGW_MEMO_NAME_MAX / 8)

typedef struct {
    uint32_t seq;                   /* odd while a writer fills the slot */
    uint32_t len;                   /* 0: empty */
    const void *scope;              /* what the name is looked up in (a key file, a table) */
    const void *val;                /* the lookup's answer; NULL is an answer too */
    uint64_t name[LLMGW_MEMO_WORDS];    /* zero past len */
} __attribute__((aligned(64))) llmgw_memo_slot;

typedef struct {
    llmgw_memo_slot *slots;
    uint32_t mask;                  /* slot count - 1 */
    uint64_t seed;
} llmgw_memo;

/* nslots: a power of two. The slots must be zeroed (static storage is). */
void llmgw_memo_init(llmgw_memo *m, llmgw_memo_slot *slots, uint32_t nslots, uint64_t seed);

/* 1 and *val when name (len bytes) was put for scope; 0 otherwise. */
int llmgw_memo_get(const llmgw_memo *m, const void *scope, const char *name, size_t len,
                   const void **val);

/* A name made of several strings, each followed by its NUL (none holds one, so no
 * two lists of parts make the same name); NULL parts are left out. Returns its length,
 * 0 when it is longer than LLMGW_MEMO_NAME_MAX (then it is not remembered). */
size_t llmgw_memo_join(char name[LLMGW_MEMO_NAME_MAX], const char *const *parts, size_t n);

/* Remembers val for (scope, name); does nothing for an empty or over-long name, or
 * when another thread is writing the same slot. */
void llmgw_memo_put(llmgw_memo *m, const void *scope, const char *name, size_t len,
                    const void *val);

#endif
