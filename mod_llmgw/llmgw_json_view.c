/* llmgw_json_view.c — read-only views over validated JSON text (see the header for
 * why): skipping values, member lookup with decoded names, array iteration, string
 * decoding into bounded buffers, and locale-free, correctly rounded token counts.
 * Every loop is bounded by the end of the view it was given. Part of libllmgw. */
#include "llmgw_json_view.h"
#include "llmgw_json.h"

#include <string.h>

static const llmgw_json_view ABSENT = {NULL, 0};

typedef const unsigned char *cur;   /* a position in the text */

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static cur skip_ws(cur p, cur e)
{
    if (p < e && *p > ' ')
        return p;                           /* compact text: the usual case */
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static cur start(llmgw_json_view v)
{
    return (cur)v.p;
}

static cur end(llmgw_json_view v)
{
    return (cur)v.p + v.n;
}

static llmgw_json_view view(cur p, cur q)
{
    llmgw_json_view v = {(const char *)p, (size_t)(q - p)};
    return v.n ? v : ABSENT;
}

llmgw_json_view llmgw_view_of(const char *s, size_t n)
{
    cur p = (cur)s, e = p + n;
    if (!s || !n)
        return ABSENT;
    p = skip_ws(p, e);
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    return view(p, e);
}

llmgw_json_view llmgw_view_at(const char *s, size_t off, size_t len)
{
    return s ? llmgw_view_of(s + off, len) : ABSENT;
}

llmgw_view_type llmgw_view_type_of(llmgw_json_view v)
{
    if (!v.n)
        return LLMGW_VIEW_ABSENT;
    switch (v.p[0]) {
    case '{': return LLMGW_VIEW_OBJECT;
    case '[': return LLMGW_VIEW_ARRAY;
    case '"': return LLMGW_VIEW_STRING;
    case 't': return LLMGW_VIEW_TRUE;
    case 'f': return LLMGW_VIEW_FALSE;
    case 'n': return LLMGW_VIEW_NULL;
    default:
        return v.p[0] == '-' || is_digit((unsigned char)v.p[0]) ? LLMGW_VIEW_NUMBER
                                                                 : LLMGW_VIEW_ABSENT;
    }
}

/* ---- skipping ------------------------------------------------------------------- */

/* The first '"' or '\\' in [p, e), or e. This runs for every member name and string
 * walked, and they are short, so the search is inline and a block at a time rather than
 * a memchr call or a byte loop: 16 bytes with SSE2 (always there on x86-64), else 8
 * bytes in a 64-bit word. */
#if defined(__SSE2__)
#include <emmintrin.h>

static inline cur quote_or_backslash(cur p, cur e)
{
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    while (e - p >= 16) {
        __m128i w = _mm_loadu_si128((const __m128i *)(const void *)p);
        int hit = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(w, quote),
                                                 _mm_cmpeq_epi8(w, bslash)));
        if (hit)
            return p + __builtin_ctz((unsigned)hit);
        p += 16;
    }
    while (p < e && *p != '"' && *p != '\\')
        p++;
    return p;
}
#else
#define ONES 0x0101010101010101u
#define HIGH 0x8080808080808080u

/* High bit set in each byte of w equal to c; exact up to the first such byte (above
 * it a borrow may set more), which is all a search needs. */
static inline uint64_t bytes_eq(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (ONES * c);
    return (x - ONES) & ~x & HIGH;
}

static inline cur quote_or_backslash(cur p, cur e)
{
    while (e - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);               /* any alignment */
        if (bytes_eq(w, '"') | bytes_eq(w, '\\'))
            break;                      /* it is in these 8 bytes */
        p += 8;
    }
    while (p < e && *p != '"' && *p != '\\')
        p++;
    return p;
}
#endif

/* Past the closing quote of a long string, searching from p (inside it, not just
 * after a backslash): a quote ends it when an even number of backslashes precedes
 * it. memchr makes long message texts cheap. */
static cur long_string_end(cur body, cur p, cur e)
{
    while (p < e) {
        cur q = memchr(p, '"', (size_t)(e - p));
        if (!q)
            return e;
        size_t bs = 0;
        while (q - bs > body && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (!(bs & 1))
            return q + 1;
        p = q + 1;
    }
    return e;
}

/* Past the closing quote of the string opening at p. Most strings are short (names,
 * ids, enum values): their first 32 bytes are searched a word at a time, and only a
 * longer text goes to memchr, whose start-up cost it then repays. */
static cur skip_string(cur p, cur e)
{
    cur body = p + 1, lim = e - body > 32 ? body + 32 : e;
    for (p = body; (p = quote_or_backslash(p, lim)) < lim; p += 2)
        if (*p == '"')
            return p + 1;                   /* else an escape: skip its next byte */
    return p < e ? long_string_end(body, p, e) : e;
}

/* Byte classes for skipping: what ends a scalar, what matters inside a container. */
enum { C_SCALAR = 1, C_SPECIAL = 2 };
#define R10(v) v, v, v, v, v, v, v, v, v, v
static const unsigned char cls[256] = {
    ['0'] = R10(C_SCALAR),
    ['a'] = R10(C_SCALAR), R10(C_SCALAR), C_SCALAR, C_SCALAR, C_SCALAR, C_SCALAR, C_SCALAR,
    C_SCALAR,                                   /* 'a'-'z' */
    ['E'] = C_SCALAR, ['-'] = C_SCALAR, ['+'] = C_SCALAR, ['.'] = C_SCALAR,
    ['"'] = C_SPECIAL, ['{'] = C_SPECIAL, ['}'] = C_SPECIAL, ['['] = C_SPECIAL,
    [']'] = C_SPECIAL,
};

/* Past the matching close of the object or array opening at p. Valid text nests
 * properly, so one counter serves both bracket kinds; strings are skipped whole, so
 * brackets inside them do not count. */
static cur skip_container(cur p, cur e)
{
    size_t depth = 0;
    while (p < e) {
        while (p < e && cls[*p] != C_SPECIAL)
            p++;
        if (p == e)
            break;
        if (*p == '"') {
            p = skip_string(p, e);
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if (--depth == 0)
            return p + 1;
        p++;
    }
    return e;
}

/* Numbers and literals: letters, digits, sign, point. */
static cur skip_scalar(cur p, cur e)
{
    while (p < e && cls[*p] == C_SCALAR)
        p++;
    return p;
}

static cur skip_value(cur p, cur e)
{
    if (p >= e)
        return p;
    if (*p == '"')
        return skip_string(p, e);
    if (*p == '{' || *p == '[')
        return skip_container(p, e);
    return skip_scalar(p, e);
}

/* ---- decoding strings ------------------------------------------------------------- */

static int hex4(cur p, cur e, unsigned *out)
{
    return e - p >= 4 && llmgw_hex4(p, out);
}

static size_t utf8_put(unsigned cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A \u escape (p at the backslash): a high surrogate escaped pair joins into one
 * character, as jansson decodes it (valid text has no lone surrogates). */
static size_t unicode_escape(cur *pp, cur e, unsigned char out[4])
{
    cur p = *pp;
    unsigned cp, lo;
    if (!hex4(p + 2, e, &cp))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDBFF && e - p >= 12 && p[6] == '\\' && p[7] == 'u' &&
        hex4(p + 8, e, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
        *pp = p + 12;
        return utf8_put(0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00), out);
    }
    *pp = p + 6;
    return utf8_put(cp, out);
}

/* Decodes the character at *pp of a string body ending at e into out (UTF-8 bytes of
 * raw text pass one at a time) and advances; 0 when the body is cut or malformed. */
static size_t next_char(cur *pp, cur e, unsigned char out[4])
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    cur p = *pp;
    if (*p != '\\') {
        out[0] = *p;
        *pp = p + 1;
        return 1;
    }
    if (e - p < 2)
        return 0;
    if (p[1] == 'u')
        return unicode_escape(pp, e, out);
    const char *f = p[1] ? strchr(from, p[1]) : NULL;
    if (!f)
        return 0;
    out[0] = (unsigned char)to[f - from];
    *pp = p + 2;
    return 1;
}

/* Does the raw string body [p, e) decode to exactly the len bytes of lit? */
static int body_is(cur p, cur e, const char *lit, size_t len)
{
    size_t i = 0;
    while (p < e) {
        unsigned char c[4];
        size_t k = next_char(&p, e, c);
        if (!k || k > len - i || memcmp(c, lit + i, k))
            return 0;
        i += k;
    }
    return i == len;
}

/* The body of a string view, without its quotes; 0 when v is not a string. */
static int string_body(llmgw_json_view v, cur *p, cur *e)
{
    if (llmgw_view_type_of(v) != LLMGW_VIEW_STRING || v.n < 2 || v.p[v.n - 1] != '"')
        return 0;
    *p = start(v) + 1;
    *e = end(v) - 1;
    return 1;
}

int llmgw_view_string_is(llmgw_json_view v, const char *lit)
{
    cur p, e;
    return string_body(v, &p, &e) && body_is(p, e, lit, strlen(lit));
}

int llmgw_view_copy_string(llmgw_json_view v, char *dst, size_t cap)
{
    cur p, e;
    size_t n = 0;
    if (!cap || !string_body(v, &p, &e))
        return 0;
    while (p < e && n < cap - 1) {
        if (*p != '\\') {       /* a plain run: copied whole */
            cur q = memchr(p, '\\', (size_t)(e - p));
            size_t run = (size_t)((q ? q : e) - p);
            if (run > cap - 1 - n)
                run = cap - 1 - n;
            memcpy(dst + n, p, run);
            n += run;
            p += run;
            continue;
        }
        unsigned char c[4];
        size_t k = next_char(&p, e, c);
        if (!k || (k == 1 && c[0] == '\0'))
            break;              /* a C string ends at U+0000, as strlen would cut it */
        if (k > cap - 1 - n)
            k = cap - 1 - n;
        memcpy(dst + n, c, k);
        n += k;
    }
    dst[n] = '\0';
    return 1;
}

/* ---- objects and arrays ------------------------------------------------------------ */

/* Sets out[i] when the member name [key, key + klen) is names[i]. A name written with
 * escapes is decoded for the comparison; one without is the same raw and decoded.
 * lens has bit (length % 64) of every name set: most names are rejected by it. */
static void match(const llmgw_view_name *names, size_t k, uint64_t lens, cur key,
                  size_t klen, int escaped, llmgw_json_view v, llmgw_json_view *out)
{
    if (escaped) {
        for (size_t i = 0; i < k; i++)
            if (body_is(key, key + klen, names[i].s, names[i].n)) {
                out[i] = v;                 /* a later duplicate overwrites: last wins */
                return;
            }
        return;
    }
    if (!(lens >> (klen % 64) & 1))
        return;
    for (size_t i = 0; i < k; i++)
        if (klen == names[i].n && (!klen || (key[0] == (unsigned char)names[i].s[0] &&
                                             !memcmp(key, names[i].s, klen)))) {
            out[i] = v;
            return;
        }
}

/* The members of the object whose '{' is at p - 1, up to e: out[i] set for names[i]
 * (absent ones left alone). Returns the position past its '}', or e when the text ends
 * first (not valid text). */
static cur members_walk(cur p, cur e, const llmgw_view_name *names, size_t k, uint64_t lens,
                        llmgw_json_view *out)
{
    for (;;) {
        p = skip_ws(p, e);
        if (p >= e || *p != '"')
            return p < e && *p == '}' ? p + 1 : e;
        cur key = p + 1, q = quote_or_backslash(key, e);
        int escaped = q < e && *q == '\\';
        if (escaped)
            q = skip_string(p, e) - 1;      /* its closing quote */
        if (q >= e - 1)
            return e;                       /* unterminated: not valid text */
        p = skip_ws(q + 1, e);
        if (p >= e || *p != ':')
            return e;
        p = skip_ws(p + 1, e);
        if (p >= e)
            return e;                       /* a name without a value: not valid text */
        cur v = p;
        p = cls[*p] == C_SCALAR ? skip_scalar(p, e) : skip_value(p, e);  /* counts: inline */
        if (p == v)
            return e;
        match(names, k, lens, key, (size_t)(q - key), escaped, view(v, p), out);
        p = skip_ws(p, e);
        if (p >= e || *p != ',')
            return p < e && *p == '}' ? p + 1 : e;
        p++;
    }
}

static uint64_t names_start(const llmgw_view_name *names, size_t k, llmgw_json_view *out)
{
    uint64_t lens = 0;
    for (size_t i = 0; i < k; i++) {
        out[i] = ABSENT;
        lens |= (uint64_t)1 << (names[i].n % 64);
    }
    return lens;
}

void llmgw_view_members(llmgw_json_view obj, const llmgw_view_name *names, size_t k,
                        llmgw_json_view *out)
{
    uint64_t lens = names_start(names, k, out);
    if (!obj.n || obj.p[0] != '{')
        return;                             /* not an object */
    members_walk(start(obj) + 1, end(obj), names, k, lens, out);
}

llmgw_json_view llmgw_view_get(llmgw_json_view obj, llmgw_view_name name)
{
    llmgw_json_view v;
    llmgw_view_members(obj, &name, 1, &v);
    return v;
}

llmgw_view_iter llmgw_view_items(llmgw_json_view arr)
{
    llmgw_view_iter it = {NULL, NULL};
    if (llmgw_view_type_of(arr) == LLMGW_VIEW_ARRAY) {
        it.p = arr.p + 1;
        it.end = arr.p + arr.n;
    }
    return it;
}

int llmgw_view_next_members(llmgw_view_iter *it, llmgw_json_view *item,
                            const llmgw_view_name *names, size_t k, llmgw_json_view *out)
{
    uint64_t lens = names_start(names, k, out);
    cur e = (cur)it->end, p = skip_ws((cur)it->p, e), v = p;
    if (p >= e || *p != '{')
        return llmgw_view_next(it, item);
    p = members_walk(p + 1, e, names, k, lens, out);
    *item = view(v, p);
    p = skip_ws(p, e);
    it->p = (const char *)(p < e && *p == ',' ? p + 1 : e);
    return 1;
}

int llmgw_view_next(llmgw_view_iter *it, llmgw_json_view *item)
{
    cur e = (cur)it->end, p = skip_ws((cur)it->p, e), v = p;
    if (p >= e || *p == ']')
        return 0;
    p = skip_value(p, e);
    if (p == v)
        return 0;
    *item = view(v, p);
    p = skip_ws(p, e);
    it->p = (const char *)(p < e && *p == ',' ? p + 1 : e);
    return 1;
}

/* ---- counts ---------------------------------------------------------------------- */

/* Rounding a count reads at most 16 integer and 54 fraction digits (see rounds_up). */
#define KEPT_DIGITS 80

/* A real's significant digits d (no leading zeros; beyond KEPT_DIGITS dropped) and the
 * position of its decimal point: value = 0.d[0]d[1]… × 10^point. */
typedef struct {
    unsigned char d[KEPT_DIGITS];
    int m;
    int64_t point;
} decimal;

static void decimal_read(cur p, cur e, decimal *x)
{
    int dot = 0;
    x->m = 0;
    x->point = 0;
    for (; p < e && (is_digit(*p) || *p == '.'); p++) {
        if (*p == '.') {
            dot = 1;
        } else if (x->m == 0 && *p == '0') {
            x->point -= dot;            /* 0.05: the point moves, nothing is kept */
        } else {
            if (x->m < KEPT_DIGITS)
                x->d[x->m++] = (unsigned char)(*p - '0');
            x->point += !dot;
        }
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        int neg = 0;
        int64_t exp = 0;
        if (++p < e && (*p == '+' || *p == '-'))
            neg = *p++ == '-';
        for (; p < e && is_digit(*p); p++)
            if (exp < (int64_t)1 << 56)  /* far beyond any text's digit count */
                exp = exp * 10 + (*p - '0');
        x->point += neg ? -exp : exp;
    }
}

static unsigned digit_at(const decimal *x, int64_t i)
{
    return i >= 0 && i < x->m ? x->d[i] : 0;
}

/* strtod rounds to the nearest double, ties to even; for I.f (I < 2^50) that double
 * truncates to I + 1 instead of I exactly when f reaches the midpoint between I + 1 and
 * the double below it: f >= 1 - 2^-k, with k = 53 - log2(I + 1) (54 at a power of two,
 * where the spacing below halves; ties go to I + 1, whose last mantissa bit is 0).
 * In decimal: floor(f * 10^k) + 5^k >= 10^k. k is 4..54, so only f >= 0.9 can. */
static int rounds_up(const decimal *x, uint64_t ip)
{
    uint64_t v = ip + 1;
    int log2v = 63 - __builtin_clzll(v);
    int k = (v & (v - 1)) ? 53 - log2v : 54 - log2v;
    if (digit_at(x, x->point) != 9)
        return 0;
    unsigned char five[64] = {1};       /* 5^k, least significant digit first */
    unsigned carry = 0;
    for (int i = 0; i < k; i++) {
        carry = 0;
        for (int j = 0; j < 40; j++) {  /* 5^54 has 38 digits */
            unsigned t = five[j] * 5u + carry;
            five[j] = (unsigned char)(t % 10);
            carry = t / 10;
        }
    }
    carry = 0;
    for (int j = k; j >= 1; j--)        /* fraction digit j has weight 10^(k-j) */
        carry = digit_at(x, x->point + j - 1) + five[k - j] + carry >= 10;
    return (int)carry;
}

/* A non-negative real: (int64_t) of its correctly rounded double, clamped to max. */
static int64_t real_count(cur p, cur e, int64_t max)
{
    decimal x;
    uint64_t ip = 0;
    decimal_read(p, e, &x);
    if (x.m == 0)
        return 0;
    if (x.point > 16)
        return max;                     /* >= 1e16 */
    for (int64_t i = 0; i < x.point; i++)
        ip = ip * 10 + digit_at(&x, i);
    if (ip >= (uint64_t)max)
        return max;
    ip += (uint64_t)rounds_up(&x, ip);
    return ip >= (uint64_t)max ? max : (int64_t)ip;
}

int llmgw_view_count(llmgw_json_view v, int64_t max, int64_t *out)
{
    if (llmgw_view_type_of(v) != LLMGW_VIEW_NUMBER)
        return 0;
    if (max > LLMGW_VIEW_COUNT_MAX)
        max = LLMGW_VIEW_COUNT_MAX;
    if (max < 0)
        max = 0;
    cur p = start(v), e = end(v);
    int neg = *p == '-';
    uint64_t acc = 0;
    p += neg;
    cur digits = p;
    for (; p < e && is_digit(*p); p++)
        if (acc <= (uint64_t)max)       /* saturates above max, never overflows */
            acc = acc * 10 + (unsigned)(*p - '0');
    if (neg)
        *out = 0;                       /* -0, -4, -0.5: all count as nothing */
    else if (p == e)
        *out = acc > (uint64_t)max ? max : (int64_t)acc;
    else
        *out = real_count(digits, e, max);
    return 1;
}

int llmgw_view_integer(llmgw_json_view v, int64_t *out)
{
    if (llmgw_view_type_of(v) != LLMGW_VIEW_NUMBER)
        return 0;
    cur p = start(v), e = end(v);
    int neg = *p == '-';
    uint64_t acc = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    int over = 0;
    p += neg;
    if (p == e)
        return 0;
    for (; p < e; p++) {
        if (!is_digit(*p))
            return 0;                   /* a fraction or an exponent: a real */
        unsigned d = (unsigned)(*p - '0');
        if (acc > (limit - d) / 10)
            over = 1;                   /* keep looking: a later '.' makes it a real */
        else
            acc = acc * 10 + d;
    }
    if (over)
        return -1;
    /* -2^63 has no positive int64_t: negated one below it, then stepped down. */
    *out = neg && acc ? -(int64_t)(acc - 1) - 1 : (int64_t)acc;
    return 1;
}
