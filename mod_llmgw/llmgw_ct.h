/* llmgw_ct.h — comparing secrets in a time that depends on their length only. The
 * per-thread memo of the last JWT compares every request's token with the one verified
 * before (gateway keys go through llmgw_memo, which compares word by word itself);
 * OpenSSL's CRYPTO_memcmp does that a byte at a time, which for a 1 KB token is a
 * third of the gateway's identity work. This one compares eight bytes at a time, with
 * no early exit. Part of libllmgw. */
#ifndef LLMGW_CT_H
#define LLMGW_CT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* 1 when the n bytes at a and b are equal; the time does not depend on where (or
 * whether) they differ. */
static inline int llmgw_ct_equal(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    uint64_t diff = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t u, v;
        memcpy(&u, x + i, 8);
        memcpy(&v, y + i, 8);
        diff |= u ^ v;
        /* the compiler must not learn that diff can only grow and stop early */
        __asm__("" : "+r"(diff));
    }
    for (; i < n; i++) {
        diff |= (uint64_t)(x[i] ^ y[i]);
        __asm__("" : "+r"(diff));
    }
    return diff == 0;
}

#endif
