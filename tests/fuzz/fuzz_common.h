/* fuzz_common.h — shared helpers of the libFuzzer targets (tests/fuzz): a bump arena that
 * plays the APR pool the core library's allocator hooks expect (everything freed after
 * each input, so LeakSanitizer sees real leaks only), a reader that takes parameters
 * from the front of the input, and a check that aborts with a message (libFuzzer then
 * saves the input as a crash). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmgw_keyfile.h"   /* llmgw_alloc */

#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", __FILE__,  \
                    __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* ---- arena: a list of malloc'd blocks, freed together ------------------------ */

typedef struct fuzz_block {
    struct fuzz_block *next;
    max_align_t align[];
} fuzz_block;

typedef struct {
    fuzz_block *head;
    size_t total, limit;    /* limit 0 = none; beyond it allocations fail (NULL) */
} fuzz_arena;

static inline void *fuzz_arena_alloc(void *ctx, size_t n)
{
    fuzz_arena *a = ctx;
    if (a->limit && n > a->limit - a->total)
        return NULL;
    fuzz_block *b = malloc(sizeof *b + (n ? n : 1));
    if (!b)
        return NULL;
    b->next = a->head;
    a->head = b;
    a->total += n;
    return b->align;
}

static inline void fuzz_arena_free(fuzz_arena *a)
{
    while (a->head) {
        fuzz_block *b = a->head;
        a->head = b->next;
        free(b);
    }
    a->total = 0;
}

/* ---- input reader ------------------------------------------------------------ */

typedef struct {
    const uint8_t *p;
    size_t n;
} fuzz_in;

static inline unsigned fuzz_byte(fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(fuzz_in *in)
{
    unsigned hi = fuzz_byte(in);
    return (uint16_t)(hi << 8 | fuzz_byte(in));
}

/* The next field up to a separator byte (not included), or the rest. The returned
 * copy is NUL-terminated and owned by the arena. */
static inline char *fuzz_field(fuzz_in *in, fuzz_arena *a, uint8_t sep, size_t *len)
{
    const uint8_t *e = memchr(in->p, sep, in->n);
    size_t n = e ? (size_t)(e - in->p) : in->n;
    char *s = fuzz_arena_alloc(a, n + 1);
    if (!s)
        abort();
    memcpy(s, in->p, n);
    s[n] = '\0';
    in->p += n + (e ? 1 : 0);
    in->n -= n + (e ? 1 : 0);
    if (len)
        *len = n;
    return s;
}

/* A heap copy of exactly n bytes (no terminator), so ASan sees any read past the end. */
static inline char *fuzz_dup_exact(const uint8_t *p, size_t n)
{
    char *s = malloc(n ? n : 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    return s;
}

#endif
