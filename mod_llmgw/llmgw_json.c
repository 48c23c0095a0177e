/* llmgw_json.c — bounded string building and JSON string escaping for the core. */
#include "llmgw_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

void llmgw_sbuf_init(llmgw_sbuf *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->len = 0;
    b->cap = cap;
    b->overflow = cap == 0;
    if (cap)
        buf[0] = '\0';
}

void llmgw_sbuf_puts(llmgw_sbuf *b, const char *s)
{
    llmgw_sbuf_put(b, s, strlen(s));
}

void llmgw_sbuf_printf(llmgw_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->overflow)
        return;
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        b->overflow = 1;
        return;
    }
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid: no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) { len = 2; cp = s[0] & 0x1F; }
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) { len = 3; cp = s[0] & 0x0F; }
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) { len = 4; cp = s[0] & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

size_t llmgw_utf8_seq(const unsigned char *s, size_t n)
{
    return utf8_seq(s, n);
}

size_t llmgw_utf8_run(const unsigned char *s, size_t n)
{
    const unsigned char *p = s, *e = s + n;
    while (p < e && *p >= 0x80) {
        unsigned c = *p, lo = 0x80, hi = 0xBF;
        /* most of CJK, and every two-byte form, need no check beyond continuations */
        if (c >= 0xE1 && c <= 0xEF && c != 0xED && e - p >= 3 && (p[1] & 0xC0) == 0x80 &&
            (p[2] & 0xC0) == 0x80) {
            p += 3;
            continue;
        }
        if (c < 0xC2 || c > 0xF4)
            break;
        if (c < 0xE0) {
            if (e - p < 2 || (p[1] & 0xC0) != 0x80)
                break;
            p += 2;
            continue;
        }
        if (c == 0xE0)
            lo = 0xA0;                  /* overlong */
        else if (c == 0xED)
            hi = 0x9F;                  /* surrogates */
        else if (c == 0xF0)
            lo = 0x90;                  /* overlong */
        else if (c == 0xF4)
            hi = 0x8F;                  /* past U+10FFFF */
        size_t len = c < 0xF0 ? 3 : 4;
        if ((size_t)(e - p) < len || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 ||
            (len == 4 && (p[3] & 0xC0) != 0x80))
            break;
        p += len;
    }
    return (size_t)(p - s);
}

int llmgw_hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        unsigned d = (c >= '0' && c <= '9') ? (unsigned)(c - '0')
                   : (c >= 'a' && c <= 'f') ? (unsigned)(c - 'a' + 10)
                   : (c >= 'A' && c <= 'F') ? (unsigned)(c - 'A' + 10) : 16u;
        if (d > 15)
            return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* How many bytes from s (of n) need no escaping: printable ASCII but '"' and '\\'.
 * Record fields (ids, names, models, addresses) are that whole: sixteen bytes a step
 * where SSE2 is there, then one copy, rather than a test per byte. */
static size_t plain_ascii(const unsigned char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    for (; n - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* signed: bytes of 0x80 and up are below 0x20 too */
        __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                _mm_cmpeq_epi8(v, bslash)),
                                   _mm_or_si128(_mm_cmplt_epi8(v, space),
                                                _mm_cmpeq_epi8(v, del)));
        unsigned mask = (unsigned)_mm_movemask_epi8(bad);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
#endif
    while (i < n && s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

/* Input bytes are taken up to max_bytes (never splitting a sequence); control
 * characters are escaped and invalid UTF-8 becomes U+FFFD, so the output is always
 * valid JSON whatever a client put in a header. Worst case 6 output bytes per input. */
void llmgw_sbuf_json_str(llmgw_sbuf *b, const char *s, size_t max_bytes)
{
    static const char hex[] = "0123456789abcdef";
    if (!s) {
        llmgw_sbuf_put(b, "null", 4);
        return;
    }
    size_t n = strlen(s);
    if (n > max_bytes)
        n = max_bytes;
    const unsigned char *u = (const unsigned char *)s;
    llmgw_sbuf_put(b, "\"", 1);
    size_t run = 0, i = 0;
    while (i < n) {
        i += plain_ascii(u + i, n - i);
        if (i == n)
            break;
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t k = llmgw_utf8_run(u + i, n - i);
            if (k) {
                i += k;
                continue;
            }
            if (i + 4 > n && n == max_bytes && n < strlen(s))
                break;      /* a sequence cut by max_bytes: drop its start */
            llmgw_sbuf_put(b, s + run, i - run);
            llmgw_sbuf_put(b, "\\ufffd", 6);
            run = ++i;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
            i++;
            continue;
        }
        llmgw_sbuf_put(b, s + run, i - run);
        run = ++i;
        switch (c) {
        case '"': llmgw_sbuf_put(b, "\\\"", 2); break;
        case '\\': llmgw_sbuf_put(b, "\\\\", 2); break;
        case '\n': llmgw_sbuf_put(b, "\\n", 2); break;
        case '\r': llmgw_sbuf_put(b, "\\r", 2); break;
        case '\t': llmgw_sbuf_put(b, "\\t", 2); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            llmgw_sbuf_put(b, e, 6);
        }
        }
    }
    llmgw_sbuf_put(b, s + run, i - run);
    llmgw_sbuf_put(b, "\"", 1);
}

size_t llmgw_sbuf_finish(llmgw_sbuf *b)
{
    if (b->overflow) {
        if (b->cap)
            b->buf[0] = '\0';
        return 0;
    }
    b->buf[b->len] = '\0';
    return b->len;
}

int llmgw_json_depth_ok(const char *s, size_t n, int max)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}
