/* llmgw_limtable.h — the rate-limit counter table: a fixed-size open-addressing hash
 * table laid out in one caller-provided block of memory (in httpd an anonymous shared
 * segment mapped by every child), updated only with lock-free atomics so every process
 * and thread sees exact counts. No locks, no allocation, no system calls except a yield
 * while another process finishes claiming a slot. Part of the core library (libllmgw).
 *
 * A counter's key includes its window index, so a new window is a new key with a fresh
 * count: nothing is ever reset in place. A slot whose window ended more than
 * LLMGW_LT_GRACE seconds ago may be reclaimed for another key. Slots never become empty
 * again, so a key is always found between its home slot and the first empty slot.
 * When no slot is free within LLMGW_LT_PROBE positions the table is full for that key:
 * acquire returns NULL and counts it (the caller refuses: fail closed).
 *
 * The memory also holds a small array of per-rule refusal counters (the metric
 * llmgw_rate_limited_total{rule}), bound to rule names when the configuration loads. */
#ifndef LLMGW_LIMTABLE_H
#define LLMGW_LIMTABLE_H

#include <stddef.h>
#include <stdint.h>

#define LLMGW_LT_PROBE 128          /* positions searched for a key */
#define LLMGW_LT_GRACE 10           /* seconds after its window before a slot is reused */
#define LLMGW_LT_MIN_SLOTS 64
#define LLMGW_LT_MAX_SLOTS (1u << 24)
#define LLMGW_LT_STAT_NAME 64

typedef struct {
    uint64_t fp;        /* key fingerprint; 0 = never used, 1 = being claimed */
    int64_t expires;    /* end of the key's window, seconds since the epoch */
    int64_t count;      /* requests, tokens or pico-dollars */
    int64_t pad;
} llmgw_lt_slot;

typedef struct {
    char name[LLMGW_LT_STAT_NAME];  /* rule name, "" = free */
    uint64_t refused;
} llmgw_lt_stat;

typedef struct {
    uint64_t magic;
    uint32_t nslots;    /* a power of two (0: statistics only, e.g. with a Redis store) */
    uint32_t nstats;
    uint64_t full;      /* acquisitions that found no slot */
    uint64_t store_errors;  /* requests decided without the (Redis) store */
    uint64_t pad[4];
} llmgw_lt_header;

typedef struct {
    llmgw_lt_header *h;
    llmgw_lt_slot *slots;
    llmgw_lt_stat *stats;
} llmgw_lt;

/* Bytes needed for nslots (rounded up to a power of two by init; 0 allowed) slots and
 * nstats statistics entries. */
size_t llmgw_lt_size(uint32_t nslots, uint32_t nstats);
uint32_t llmgw_lt_round_slots(uint32_t nslots);

/* Formats mem (size from llmgw_lt_size) as an empty table. */
void llmgw_lt_init(llmgw_lt *t, void *mem, uint32_t nslots, uint32_t nstats);

/* Binds t to memory formatted by llmgw_lt_init (in another process, or after a
 * restart). -1 when mem does not hold a table of exactly that geometry. */
int llmgw_lt_attach(llmgw_lt *t, void *mem, size_t size, uint32_t nslots, uint32_t nstats);

/* The slot counting key fp, claimed for it (count 0, expiring at expires) if absent.
 * now: seconds since the epoch. NULL when the table has no room for the key. */
llmgw_lt_slot *llmgw_lt_acquire(llmgw_lt *t, uint64_t fp, int64_t expires, int64_t now);

/* The slot counting fp, or NULL if there is none (never claims). */
llmgw_lt_slot *llmgw_lt_find(const llmgw_lt *t, uint64_t fp);

/* Atomically adds cost if count + cost <= limit. Returns 1 (taken) or 0 (refused);
 * *after is the count after the operation. */
int llmgw_lt_take(llmgw_lt_slot *s, int64_t cost, int64_t limit, int64_t *after);

/* Atomically adds n (may be negative; the count saturates at 0 and INT64_MAX) and
 * returns the new count. */
int64_t llmgw_lt_add(llmgw_lt_slot *s, int64_t n);

int64_t llmgw_lt_count(const llmgw_lt_slot *s);

/* Whether s still counts fp (a slot may have been reclaimed after its window). */
int llmgw_lt_holds(const llmgw_lt_slot *s, uint64_t fp);

uint64_t llmgw_lt_full_total(const llmgw_lt *t);

/* A process-wide counter of store failures (kept here so all children share it). */
void llmgw_lt_store_error(llmgw_lt *t);
uint64_t llmgw_lt_store_errors(const llmgw_lt *t);

/* Binds each of names[0..n) to a statistics entry, keeping the entry (and its count)
 * a name had before; entries of names no longer configured are reused, zeroed.
 * Writes entry indexes to idx (-1 when the array is exhausted). Single-threaded: run
 * it where no request is being served (httpd: post_config in the parent). */
void llmgw_lt_stats_bind(llmgw_lt *t, const char *const *names, int n, int *idx);

void llmgw_lt_stat_inc(llmgw_lt *t, int idx);
uint64_t llmgw_lt_stat_get(const llmgw_lt *t, int idx);

#endif
