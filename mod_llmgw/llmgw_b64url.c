/* llmgw_b64url.c — strict base64url decoding for JOSE (see llmgw_b64url.h). */
#include "llmgw_b64url.h"

#include <stdlib.h>

/* 0..63 for the alphabet, -1 for anything else (including '+', '/', '=' and NUL) */
static int val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

int llmgw_b64url_charset(const char *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (val((unsigned char)in[i]) < 0)
            return 0;
    return 1;
}

long llmgw_b64url_decode(const char *in, size_t n, unsigned char *out)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        int a = val((unsigned char)in[i]), b = val((unsigned char)in[i + 1]);
        int c = val((unsigned char)in[i + 2]), d = val((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0)
            return -1;
        unsigned long v = (unsigned long)a << 18 | (unsigned long)b << 12 |
                          (unsigned long)c << 6 | (unsigned long)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    size_t rest = n - i;
    if (rest) {
        int a = val((unsigned char)in[i]), b = val((unsigned char)in[i + 1]);
        int c = rest == 3 ? val((unsigned char)in[i + 2]) : 0;
        if ((a | b | c) < 0)
            return -1;
        /* the bits below the last whole byte must be zero (canonical encoding) */
        if (rest == 2 ? (b & 0x0f) : (c & 0x03))
            return -1;
        out[o++] = (unsigned char)(a << 2 | b >> 4);
        if (rest == 3)
            out[o++] = (unsigned char)((b & 0x0f) << 4 | c >> 2);
    }
    return (long)o;
}

unsigned char *llmgw_b64url_decode_dup(const char *in, size_t n, size_t max, size_t *out_len)
{
    if (!n || n % 4 == 1 || LLMGW_B64URL_DECODED_LEN(n) > max)
        return NULL;
    unsigned char *buf = malloc(LLMGW_B64URL_DECODED_LEN(n) + 1);
    long got = buf ? llmgw_b64url_decode(in, n, buf) : -1;
    if (got < 0) {
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    *out_len = (size_t)got;
    return buf;
}
