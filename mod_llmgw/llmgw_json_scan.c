/* llmgw_json_scan.c — a validating JSON scanner that finds root members without
 * building anything, and a builder of jansson values for spans it validated (see the
 * header for why). The scanner's verdicts follow jansson 2.14's json_loadb(…, 0):
 * its lexer and parser were read rule by rule (tokens, escapes, surrogates, UTF-8,
 * NUL, numbers, EOF check), and tests/unit/test_json_scan.c compares the two on
 * thousands of mutated bodies. Part of libllmgw. */
#include "llmgw_json_scan.h"
#include "llmgw_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

#define JANSSON_MAX_DEPTH 2048      /* JSON_PARSER_MAX_DEPTH: deeper fails in jansson */

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline void skip_ws(const unsigned char **pp, const unsigned char *e)
{
    const unsigned char *p = *pp;
    if (p < e && *p > ' ')
        return;                         /* compact JSON: the usual case */
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    *pp = p;
}


/* One \uXXXX escape (p at the 'u'); a high surrogate must be followed by an escaped
 * low one, a low one alone and U+0000 are refused (jansson has no JSON_ALLOW_NUL
 * here, and never allows NUL in member names). Returns the bytes consumed, 0 if bad. */
static size_t unicode_escape(const unsigned char *p, const unsigned char *e)
{
    unsigned cp, lo;
    if (e - p < 5 || !llmgw_hex4(p + 1, &cp) || cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return 0;
    if (cp < 0xD800 || cp > 0xDBFF)
        return 5;
    if (e - p < 11 || p[5] != '\\' || p[6] != 'u' || !llmgw_hex4(p + 7, &lo) || lo < 0xDC00 ||
        lo > 0xDFFF)
        return 0;
    return 11;
}

/* Bytes that end a run of plain string content: '"', '\\', controls, non-ASCII. */
#define X16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
static const unsigned char special[256] = {
    X16(1), X16(1),                                     /* 0x00-0x1f */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 0x20-0x2f: '"' */
    X16(0), X16(0),                                     /* 0x30-0x4f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,     /* 0x50-0x5f: '\\' */
    X16(0), X16(0),                                     /* 0x60-0x7f */
    X16(1), X16(1), X16(1), X16(1), X16(1), X16(1), X16(1), X16(1)   /* 0x80-0xff */
};

#ifdef __SSE2__
/* Bit i set when byte i of the 16 at p is special. Signed bytes below 0x20 are exactly
 * the controls and everything >= 0x80. */
static inline unsigned special16(const unsigned char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                     _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
}
#endif

/* The first special byte at or after p (or e). Prompts are kilobytes of plain text:
 * 32 bytes per step where SSE2 is there (every x86-64), one per step elsewhere. */
static const unsigned char *plain_run(const unsigned char *p, const unsigned char *e)
{
#ifdef __SSE2__
    while (e - p >= 32) {               /* two blocks a step: half the loop overhead */
        unsigned mask = special16(p) | special16(p + 16) << 16;
        if (mask)
            return p + __builtin_ctz(mask);
        p += 32;
    }
    if (e - p >= 16) {
        unsigned mask = special16(p);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p < e && !special[*p])
        p++;
    return p;
}

/* The byte at *pp, after whitespace if there is some (*pp moves to it); 0 at the end.
 * Bodies on the wire are mostly compact: one test settles the usual case. */
static inline int next_byte(const unsigned char **pp, const unsigned char *e, unsigned char *c)
{
    if (*pp == e)
        return 0;
    if ((*c = **pp) > ' ')
        return 1;
    skip_ws(pp, e);
    if (*pp == e)
        return 0;
    *c = **pp;
    return 1;
}

/* The tokens below take the position at their first byte and return the one after
 * their last, NULL when malformed: the scan's position then lives in a register
 * rather than in a struct whose address every token function would take. */

/* The body of a string token from p, a byte inside it after which nothing was left to
 * check, to past its closing quote. *escaped: it holds a backslash. */
static const unsigned char *string_rest(const unsigned char *p, const unsigned char *e,
                                        int *escaped)
{
    *escaped = 0;
    while (p < e) {
        p = plain_run(p, e);
        if (p == e)
            break;
        unsigned char c = *p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            size_t k = 2;
            *escaped = 1;
            if (p + 1 >= e)
                return NULL;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                break;
            case 'u':
                if (!(k = unicode_escape(p + 1, e)))
                    return NULL;
                k++;
                break;
            default:
                return NULL;
            }
            p += k;
        } else if (c >= 0x80) {
            p += llmgw_utf8_run(p, (size_t)(e - p));
            if (p < e && *p >= 0x80)
                return NULL;            /* an invalid or cut sequence */
        } else {
            p++;
        }
    }
    return NULL;
}

/* A string token (p at its opening quote): past it, NULL when malformed. *escaped: it
 * holds a backslash. Most names and short values end within the first 32 bytes of
 * their body with nothing to check before the quote (OpenAI's usage names run to 26):
 * two blocks settle those without a call. */
static inline const unsigned char *string_token(const unsigned char *p, const unsigned char *e,
                                                int *escaped)
{
    p++;
#ifdef __SSE2__
    for (int block = 0; block < 2 && e - p >= 16; block++) {
        unsigned mask = special16(p);
        if (mask) {
            p += __builtin_ctz(mask);
            if (*p == '"') {
                *escaped = 0;
                return p + 1;
            }
            break;
        }
        p += 16;                        /* plain so far: the rest from there */
    }
#endif
    return string_rest(p, e, escaped);
}

/* A number token. jansson refuses integers strtoll cannot hold and reals strtod
 * overflows; rather than redo those conversions, anything that might be out of range
 * (19+ integer digits, a real that may exceed 1e308) is left UNDECIDED. */
static const unsigned char *number_token(const unsigned char *p, const unsigned char *e,
                                         int *undecided)
{
    const unsigned char *digits;
    int real = 0;
    long exp = 0;
    if (*p == '-')
        p++;
    digits = p;
    if (p < e && *p == '0') {
        if (++p < e && is_digit(*p))
            return NULL;
    } else if (p < e && is_digit(*p)) {
        while (p < e && is_digit(*p))
            p++;
    } else {
        return NULL;
    }
    size_t ndigits = (size_t)(p - digits);
    if (p < e && *p == '.') {
        if (++p >= e || !is_digit(*p))
            return NULL;
        while (p < e && is_digit(*p))
            p++;
        real = 1;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        int neg = 0;
        if (++p < e && (*p == '+' || *p == '-'))
            neg = *p++ == '-';
        if (p >= e || !is_digit(*p))
            return NULL;
        for (; p < e && is_digit(*p); p++)
            if (exp < 100000)
                exp = exp * 10 + (*p - '0');
        exp = neg ? -exp : exp;
        real = 1;
    }
    if (real ? (long)(ndigits > 100000 ? 100000 : ndigits) + exp > 308 : ndigits >= 19)
        *undecided = 1;
    return p;
}

static const unsigned char *literal_token(const unsigned char *p, const unsigned char *e)
{
    size_t left = (size_t)(e - p);
    if (*p == 't')
        return left >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
    if (*p == 'f')
        return left >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
    return left >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
}

/* jansson's lexer reads one character past a number or a literal and puts it back;
 * a NUL put back that way is lost (its stream buffer treats NUL as "empty"), so
 * `[1\0]` parses. Such a text is followed as jansson reads it but left UNDECIDED. */
static const unsigned char *skip_ungot_nul(const unsigned char *p, const unsigned char *e,
                                           int *undecided)
{
    if (p < e && *p == '\0') {
        *undecided = 1;
        return p + 1;
    }
    return p;
}

/* Which wanted member of the object that wanted member parent's value is (or the
 * root's) the name is: -1 for none. The hash mixes the name's length and end bytes
 * with its parent: siblings of one length differ mostly there. */
static inline unsigned path_hash(int parent, const unsigned char *name, size_t len)
{
    unsigned first = len ? name[0] : 0, last = len ? name[len - 1] : 0;
    return ((unsigned)len ^ first << 1 ^ last << 2 ^ (unsigned)(parent + 1) << 3) %
           LLMGW_JSON_PATH_SLOTS;
}

/* memcmp(a, b, n) == 0 for names, without the call: words from both ends overlap. */
static inline int same_bytes(const unsigned char *a, const unsigned char *b, size_t n)
{
    uint64_t x, y, x2, y2;
    if (n < 8) {
        while (n && *a == *b)
            a++, b++, n--;
        return n == 0;
    }
    for (size_t i = 0; i + 8 < n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return 0;
    }
    memcpy(&x2, a + n - 8, 8);
    memcpy(&y2, b + n - 8, 8);
    return x2 == y2;
}

static ALWAYS_INLINE int wanted(const unsigned char *key, size_t len, int parent,
                                const llmgw_json_paths *ps)
{
    for (int i = ps->slot[path_hash(parent, key, len)]; i >= 0; i = ps->w[i].next)
        if (ps->w[i].len == len && ps->w[i].parent == parent &&
            same_bytes((const unsigned char *)ps->w[i].name, key, len))
            return i;
    return -1;
}

/* A wanted member begins again (a repeated name: jansson keeps the last): what was
 * found inside its earlier value is forgotten. Paths come after their parents. */
static void forget_below(int i, const llmgw_json_paths *ps, llmgw_json_span *spans)
{
    for (size_t j = (size_t)i + 1; j < ps->n; j++) {
        int a = ps->w[j].parent;
        while (a > i)
            a = ps->w[a].parent;
        if (a == i)
            spans[j].off = spans[j].len = 0;
    }
}

/* Repeated-key detection (LLMGW_JSON_UNIQUE_KEYS): the names of every open object on
 * one small stack, a new name compared with its own object's. Request objects hold a
 * handful of members; an object with more, or nesting beyond the stack, is left to
 * jansson's hash table (UNDECIDED) rather than compared in quadratic time. */
#define UNIQ_KEYS_MAX 128
#define UNIQ_OBJECT_KEYS_MAX 32
#define UNIQ_DEPTH_MAX 64

/* Sized and laid out for a small stack frame: what one level needs sits together, and
 * a deep frame would push every token function the scan calls into stack lines no
 * recent request touched. */
typedef struct {
    struct {
        uint64_t lens;                  /* bit (length % 64) of each of its names */
        uint32_t start;                 /* first key of the object at this level */
    } level[UNIQ_DEPTH_MAX];
    struct {
        uint32_t off, len;
    } keys[UNIQ_KEYS_MAX];
    unsigned top;
    int on;
} uniq;

static void uniq_open(uniq *u, int level, int *undecided)
{
    if (!u->on)
        return;
    if (level >= UNIQ_DEPTH_MAX) {
        u->on = 0;
        *undecided = 1;
        return;
    }
    u->level[level].start = u->top;
    u->level[level].lens = 0;
}

static void uniq_close(uniq *u, int level)
{
    if (u->on)
        u->top = u->level[level].start;
}

/* A raw (unescaped) name of the object at level; 0 when it repeats one. */
static int uniq_add(uniq *u, int level, const unsigned char *base, const unsigned char *k,
                    size_t len, int escaped, int *undecided)
{
    if (!u->on)
        return 1;
    unsigned first = u->level[level].start;
    if (escaped || u->top - first >= UNIQ_OBJECT_KEYS_MAX || u->top >= UNIQ_KEYS_MAX) {
        u->on = 0;                      /* an escape might spell a repeat */
        *undecided = 1;
        return 1;
    }
    uint64_t bit = (uint64_t)1 << (len % 64);
    /* most names differ from their siblings' lengths */
    if (u->level[level].lens & bit) {
        for (unsigned i = first; i < u->top; i++) {
            const unsigned char *o = base + u->keys[i].off;
            /* names that share a length mostly differ in their first byte */
            if (u->keys[i].len == len && (!len || (o[0] == k[0] && !memcmp(o, k, len))))
                return 0;
        }
    }
    u->level[level].lens |= bit;
    u->keys[u->top].off = (uint32_t)(k - base);
    u->keys[u->top].len = (uint32_t)len;
    u->top++;
    return 1;
}

/* An integer of under 19 digits (p at its first digit) that nothing jansson reads
 * specially follows: past it, or NULL when number_token must judge it. Token counts,
 * indexes and timestamps are all of this kind. */
static inline const unsigned char *plain_integer(const unsigned char *p, const unsigned char *e)
{
    const unsigned char *q = p + 1;
    if (*p != '0')
        while (q < e && is_digit(*q))
            q++;
    if (q == e || q - p >= 19)
        return NULL;
    unsigned char c = *q;
    if (is_digit(c) || c == '.' || c == 'e' || c == 'E' || c == '\0')
        return NULL;
    return q;
}

/* The kind of each open level, a bit each: 256 bytes of stack for jansson's 2048
 * levels where a byte each took 2 KB. */
static inline void set_level(uint64_t *objects, int d, int is_object)
{
    uint64_t bit = (uint64_t)1 << (d & 63);
    objects[d >> 6] = is_object ? objects[d >> 6] | bit : objects[d >> 6] & ~bit;
}

static inline unsigned char closer_of(const uint64_t *objects, int d)
{
    return objects[d >> 6] >> (d & 63) & 1 ? '}' : ']';
}

/* Bit depth of the wanting/tracked masks, 0 below the levels paths reach. */
static inline unsigned depth_bit(int depth)
{
    return depth <= LLMGW_JSON_PATH_DEPTH ? 1u << depth : 0;
}

/* The scan. Wanted members are found on the way: want[d] is the wanted member whose
 * value is being read at level d, node[d] the wanted member whose object is open at
 * level d (LLMGW_JSON_ROOT for the root object); both are read only where the bit d of
 * wanting and of tracked says they are set, so nothing needs clearing per scan.
 * One copy serves both kinds of scan (LLMGW_JSON_UNIQUE_KEYS or not): a request and
 * its answer are scanned in the same request, and a copy specialised for each had the
 * two touch 96 instruction-cache lines per request where one copy touches 62 (callgrind
 * --dump-instr), to save a branch per name that is always predicted. */
static llmgw_json_verdict scan(const char *s, size_t n, int max_depth, unsigned flags,
                               const llmgw_json_paths *ps, llmgw_json_span *spans)
{
    const struct llmgw_json_want *w = ps->w;
    size_t nw = ps->n;
    uint64_t objects[JANSSON_MAX_DEPTH / 64];    /* bit d: level d is an object, not an array */
    int node[LLMGW_JSON_PATH_DEPTH + 2], want[LLMGW_JSON_PATH_DEPTH + 2];
    const unsigned char *vstart[LLMGW_JSON_PATH_DEPTH + 2];
    const unsigned char *base = (const unsigned char *)s;
    const unsigned char *p = base, *e = base + n;
    int depth = 0, undecided = 0, escaped;
    unsigned wanting = 0, tracked = 0;  /* bit d: want[d], node[d] hold a member */
    unsigned bit = 1;                   /* bit depth, 0 past LLMGW_JSON_PATH_DEPTH */
    unsigned char cl = 0;               /* the open level's closing byte, '}' or ']' */
    unsigned char c;
    const int unique = (flags & LLMGW_JSON_UNIQUE_KEYS) != 0;
    uniq u;
    u.top = 0;
    u.on = unique;
    if (u.on && n > UINT32_MAX)
        return LLMGW_JSON_UNDECIDED;
    if (max_depth > JANSSON_MAX_DEPTH)
        max_depth = JANSSON_MAX_DEPTH;
    uint64_t len_bits = ps->len_bits;
    if (nw)
        memset(spans, 0, nw * sizeof *spans);
    if (!s)
        return LLMGW_JSON_INVALID;
    skip_ws(&p, e);
    if (p == e || (*p != '{' && *p != '['))
        return LLMGW_JSON_INVALID;
    /* Three states as labels — a value, what follows a value, a member name — so a
     * member costs one pass through them, not a trip round a dispatch loop per token. */
value:
    if (!next_byte(&p, e, &c))
        return LLMGW_JSON_INVALID;
value_at:
    if (c == '"') {
        if (!(p = string_token(p, e, &escaped)))
            return LLMGW_JSON_INVALID;
        goto after;
    }
    if (c == '{' || c == '[') {
        if (depth >= max_depth)
            return LLMGW_JSON_INVALID;
        cl = (unsigned char)(c + 2);    /* '{' + 2 is '}', '[' + 2 is ']' */
        set_level(objects, depth, c == '{');
        if (c == '{')
            if (unique)
                uniq_open(&u, depth, &undecided);
        if (depth < LLMGW_JSON_PATH_DEPTH) {
            int m = !depth ? LLMGW_JSON_ROOT                /* whose value this is */
                  : wanting & bit ? want[depth] : -1;
            int look = c == '{' && (depth ? m >= 0 && w[m].has_children : nw > 0);
            node[depth + 1] = m;
            tracked = look ? tracked | 1u << (depth + 1) : tracked & ~(1u << (depth + 1));
        }
        depth++;
        bit = depth_bit(depth);
        p++;
        skip_ws(&p, e);
        if (p == e)
            return LLMGW_JSON_INVALID;
        if (*p != cl) {
            if (c == '{')
                goto key;
            goto value;
        }
        depth--;                        /* {} or [] */
        cl = depth ? closer_of(objects, depth - 1) : 0;
        bit = depth_bit(depth);
        if (unique && c == '{')
            uniq_close(&u, depth);
        p++;
        goto after;
    }
    if (is_digit(c)) {
        const unsigned char *q = plain_integer(p, e);
        if (q) {
            p = q;
            goto after;
        }
    }
    p = c == '-' || is_digit(c) ? number_token(p, e, &undecided) : literal_token(p, e);
    if (!p)
        return LLMGW_JSON_INVALID;
    p = skip_ungot_nul(p, e, &undecided);
after:
    if (wanting & bit) {
        spans[want[depth]].off = (size_t)(vstart[depth] - base);
        spans[want[depth]].len = (size_t)(p - vstart[depth]);
        wanting &= ~bit;
    }
    if (depth == 0) {
        skip_ws(&p, e);
        return p != e ? LLMGW_JSON_INVALID
                      : undecided ? LLMGW_JSON_UNDECIDED : LLMGW_JSON_VALID;
    }
    if (!next_byte(&p, e, &c))
        return LLMGW_JSON_INVALID;
    if (c == ',') {
        p++;
        if (cl == '}')
            goto key;
        goto value;
    }
    if (c != cl)
        return LLMGW_JSON_INVALID;
    depth--;
    cl = depth ? closer_of(objects, depth - 1) : 0;
    bit = depth_bit(depth);
    if (unique && c == '}')
        uniq_close(&u, depth);
    p++;
    goto after;
key:
    if (p == e || *p != '"') {         /* compact JSON: the quote comes next */
        skip_ws(&p, e);
        if (p == e || *p != '"')
            return LLMGW_JSON_INVALID;
    }
    {
        const unsigned char *k = p + 1;
        if (!(p = string_token(p, e, &escaped)))
            return LLMGW_JSON_INVALID;
        size_t klen = (size_t)(p - 1 - k);
        if (unique && !uniq_add(&u, depth - 1, base, k, klen, escaped, &undecided))
            return LLMGW_JSON_INVALID;
        if (tracked & bit) {
            if (escaped) {
                undecided = 1;          /* it might spell a wanted name */
            } else if (len_bits >> (klen % 64) & 1) {
                int i = wanted(k, klen, node[depth], ps);
                if (i >= 0) {
                    if (w[i].has_children && spans[i].len)   /* a repeat */
                        forget_below(i, ps, spans);
                    want[depth] = i;
                    wanting |= bit;
                }
            }
        }
    }
    if (p == e)
        return LLMGW_JSON_INVALID;
    if (*p != ':') {
        skip_ws(&p, e);
        if (p == e || *p != ':')
            return LLMGW_JSON_INVALID;
    }
    p++;
    if (!next_byte(&p, e, &c))          /* the value's first byte, as value: reads it */
        return LLMGW_JSON_INVALID;
    if (wanting & bit)
        vstart[depth] = p;
    goto value_at;
}

/* The wanted members as the scan reads them: lengths, and each object's members linked
 * in a list. -1 when there are too many, or a parent does not come before its child. */
static int prepare(const llmgw_json_path *paths, const char *const *names, size_t n,
                   llmgw_json_paths *ps)
{
    if (n > LLMGW_JSON_PATHS_MAX)
        return -1;
    ps->n = n;
    ps->len_bits = 0;
    memset(ps->slot, -1, sizeof ps->slot);
    for (size_t i = 0; i < n; i++) {
        struct llmgw_json_want *w = &ps->w[i];
        w->name = paths ? paths[i].name : names[i];
        w->len = paths && paths[i].len ? paths[i].len : strlen(w->name);
        w->parent = paths ? paths[i].parent : LLMGW_JSON_ROOT;
        w->has_children = 0;
        if (w->parent >= (int)i || w->parent < LLMGW_JSON_ROOT)
            return -1;
        if (w->parent >= 0)
            ps->w[w->parent].has_children = 1;
        ps->len_bits |= (uint64_t)1 << (w->len % 64);
    }
    for (size_t i = n; i-- > 0;) {     /* each chain in the order given: the first wins */
        const struct llmgw_json_want *w = &ps->w[i];
        unsigned h = path_hash(w->parent, (const unsigned char *)w->name, w->len);
        ps->w[i].next = ps->slot[h];
        ps->slot[h] = (int8_t)i;
    }
    return 0;
}

int llmgw_json_paths_init(llmgw_json_paths *ps, const llmgw_json_path *paths, size_t n)
{
    return prepare(paths, NULL, n, ps);
}

llmgw_json_verdict llmgw_json_scan_paths(const char *s, size_t n, int max_depth,
                                         unsigned flags, const llmgw_json_paths *ps,
                                         llmgw_json_span *spans)
{
    return scan(s, n, max_depth, flags, ps, spans);
}

llmgw_json_verdict llmgw_json_scan_flags(const char *s, size_t n, int max_depth,
                                         unsigned flags, const char *const *names,
                                         size_t nnames, llmgw_json_span *spans)
{
    llmgw_json_paths ps;
    if (prepare(NULL, names, nnames, &ps) < 0)
        return LLMGW_JSON_UNDECIDED;
    return scan(s, n, max_depth, flags, &ps, spans);
}

llmgw_json_verdict llmgw_json_scan(const char *s, size_t n, int max_depth,
                                   const char *const *names, size_t nnames,
                                   llmgw_json_span *spans)
{
    return llmgw_json_scan_flags(s, n, max_depth, 0, names, nnames, spans);
}

/* ---- building ------------------------------------------------------------------ */

/* End of a string token of validated text (p at the opening quote). */
static const unsigned char *string_end(const unsigned char *p, const unsigned char *e,
                                       int *escaped)
{
    for (p++; p < e; p++) {
        if (*p == '\\') {
            *escaped = 1;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* Tokens jansson decodes itself: escaped strings and reals (its strtod is locale-proof). */
static json_t *load_token(const unsigned char *s, const unsigned char *e)
{
    json_error_t err;
    return json_loadb((const char *)s, (size_t)(e - s), JSON_DECODE_ANY, &err);
}

static json_t *build_value(const unsigned char **pp, const unsigned char *e, size_t flags);

/* Adds a member, refusing a repeated key under JSON_REJECT_DUPLICATES; takes val. */
static int put_member(json_t *obj, const char *k, size_t klen, json_t *val, size_t flags)
{
    if ((flags & JSON_REJECT_DUPLICATES) && json_object_getn(obj, k, klen)) {
        json_decref(val);
        return -1;
    }
    return json_object_setn_new_nocheck(obj, k, klen, val);
}

static json_t *build_object(const unsigned char **pp, const unsigned char *e, size_t flags)
{
    const unsigned char *p = *pp + 1;
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    skip_ws(&p, e);
    if (p < e && *p == '}') {
        *pp = p + 1;
        return obj;
    }
    for (;;) {
        int escaped = 0;
        skip_ws(&p, e);
        const unsigned char *k = p, *q = string_end(p, e, &escaped);
        if (!q)
            goto fail;
        p = q;
        skip_ws(&p, e);
        p++;                                        /* ':' */
        json_t *val = build_value(&p, e, flags);
        if (!val)
            goto fail;
        if (escaped) {
            json_t *key = load_token(k, q);
            int rc = key ? put_member(obj, json_string_value(key), json_string_length(key), val,
                                      flags) : -1;
            if (!key)
                json_decref(val);
            json_decref(key);
            if (rc)
                goto fail;
        } else if (put_member(obj, (const char *)k + 1, (size_t)(q - k - 2), val, flags)) {
            goto fail;                              /* val was released */
        }
        skip_ws(&p, e);
        if (p < e && *p == ',') {
            p++;
            continue;
        }
        p++;                                        /* '}' */
        break;
    }
    *pp = p;
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

static json_t *build_array(const unsigned char **pp, const unsigned char *e, size_t flags)
{
    const unsigned char *p = *pp + 1;
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    skip_ws(&p, e);
    if (p < e && *p == ']') {
        *pp = p + 1;
        return arr;
    }
    for (;;) {
        json_t *val = build_value(&p, e, flags);
        if (!val || json_array_append_new(arr, val)) {
            json_decref(arr);
            return NULL;
        }
        skip_ws(&p, e);
        if (p < e && *p == ',') {
            p++;
            continue;
        }
        p++;                                        /* ']' */
        break;
    }
    *pp = p;
    return arr;
}

static json_t *build_value(const unsigned char **pp, const unsigned char *e, size_t flags)
{
    const unsigned char *p = *pp, *q;
    json_t *v = NULL;
    int escaped = 0;
    skip_ws(&p, e);
    if (p >= e)
        return NULL;
    switch (*p) {
    case '{':
        v = build_object(&p, e, flags);
        break;
    case '[':
        v = build_array(&p, e, flags);
        break;
    case '"':
        if (!(q = string_end(p, e, &escaped)))
            return NULL;
        v = escaped ? load_token(p, q)
                    : json_stringn_nocheck((const char *)p + 1, (size_t)(q - p - 2));
        p = q;
        break;
    case 't':
        v = json_true();
        p += 4;
        break;
    case 'f':
        v = json_false();
        p += 5;
        break;
    case 'n':
        v = json_null();
        p += 4;
        break;
    default: {
        int real = 0;
        for (q = p; q < e && (is_digit(*q) || *q == '-' || *q == '+' || *q == '.' ||
                              *q == 'e' || *q == 'E'); q++)
            real |= *q == '.' || *q == 'e' || *q == 'E';
        if (real || q - p > 20) {
            v = load_token(p, q);
        } else {
            char num[24];
            memcpy(num, p, (size_t)(q - p));
            num[q - p] = '\0';
            v = json_integer(strtoll(num, NULL, 10));
        }
        p = q;
    }
    }
    *pp = p;
    return v;
}

json_t *llmgw_json_build(const char *s, size_t n, size_t flags)
{
    const unsigned char *p = (const unsigned char *)s;
    return s ? build_value(&p, p + n, flags) : NULL;
}
