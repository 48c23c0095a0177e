/* llmgw_pricing.h — LLMGWPrice entries, the price table and exact request cost
 * (SPEC §7). Prices are decimal strings in USD per 1K tokens, parsed without
 * floating point into integer units of 1e-9 USD per 1K tokens; since
 * 1e-9 USD / 1000 tokens = 1e-12 USD per token, tokens x units is the cost in
 * pico-dollars, exactly. Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_PRICING_H
#define LLMGW_PRICING_H

#include <stddef.h>
#include <stdint.h>

#include "llmgw_usage.h"

typedef void *(*llmgw_price_alloc_fn)(void *ctx, size_t n);

/* Largest accepted price: 1000 USD per 1K tokens. Anything above is a typo. */
#define LLMGW_PRICE_MAX_UNITS ((int64_t)1000 * 1000000000)
#define LLMGW_PRICE_MAX_DECIMALS 9

typedef enum {
    LLMGW_PRICE_INPUT = 0,
    LLMGW_PRICE_OUTPUT,
    LLMGW_PRICE_CACHED_INPUT,
    LLMGW_PRICE_CACHE_WRITE,
    LLMGW_PRICE_CACHE_WRITE_1H,
    LLMGW_PRICE_NKINDS
} llmgw_price_kind;

typedef struct llmgw_price {
    const char *provider;   /* LLMGWProvider name; not copied: must outlive the entry */
    const char *glob;       /* model glob; not copied */
    size_t literals;        /* llmgw_glob_literals(glob), ranks overlapping globs */
    int64_t units[LLMGW_PRICE_NKINDS];  /* 1e-9 USD per 1K tokens */
    unsigned char set[LLMGW_PRICE_NKINDS];
} llmgw_price;

/* Entries in configuration order. Storage comes from the allocator (pool-backed in
 * httpd) and grows by doubling when entries are added at configuration time;
 * lookups never allocate. Zero-initialise, or use llmgw_price_table_init. */
typedef struct llmgw_price_table {
    llmgw_price *entries;
    size_t n, cap;
    llmgw_price_alloc_fn alloc;
    void *alloc_ctx;
} llmgw_price_table;

/* "0.03" → 30000000. Digits with an optional '.' and at most 9 decimals; no sign,
 * exponent or spaces; at most LLMGW_PRICE_MAX_UNITS. 0 on success, -1 otherwise. */
int llmgw_price_parse_decimal(const char *s, int64_t *units);

/* Parses one LLMGWPrice directive: argv holds "key=value" for the keys input,
 * output (both required), cached_input, cache_write, cache_write_1h. provider and
 * glob are stored as pointers. 0 on success; -1 with a message in err otherwise. */
int llmgw_price_parse(const char *provider, const char *glob, int argc,
                      const char *const *argv, llmgw_price *out, char *err, size_t errcap);

/* Price of one kind after the fallbacks: cached_input and cache_write fall back to
 * input; cache_write_1h falls back to cache_write (itself possibly input). */
int64_t llmgw_price_effective(const llmgw_price *p, llmgw_price_kind k);

void llmgw_price_table_init(llmgw_price_table *t, llmgw_price_alloc_fn alloc, void *ctx);

/* Appends a copy of p. 0 on success, -1 when the allocator fails. */
int llmgw_price_table_add(llmgw_price_table *t, const llmgw_price *p);

/* Entry for provider whose glob matches model: most literal characters wins, then
 * the first configured. NULL when none matches. */
const llmgw_price *llmgw_price_lookup(const llmgw_price_table *t, const char *provider,
                                      const char *model);

/* Exact cost of u under p in pico-dollars (1e-12 USD):
 *   (prompt - cached - cache_write)·input + cached·cached_input
 *   + (cache_write - cache_write_1h)·cache_write + cache_write_1h·cache_write_1h
 *   + completion·output
 * with negative differences clamped to 0. Returns 0, or -1 when the cost does not
 * fit in int64 (then *pico = INT64_MAX). */
int llmgw_price_cost(const llmgw_price *p, const llmgw_usage *u, int64_t *pico);

/* pico-dollars as a decimal with 12 places: 123000000 → "0.000123000000",
 * -1500000000000 → "-1.500000000000".
 * Returns the length written, or 0 (and "" when cap > 0) if buf is too small. */
size_t llmgw_cost_format(int64_t pico, char *buf, size_t cap);

#endif
