/* llmgw_pricing.c — LLMGWPrice parsing (exact decimals, no floating point), the
 * price table with most-literal-glob precedence, cache price fallbacks and exact
 * cost in pico-dollars with overflow guards. Part of libllmgw. */
#include "llmgw_pricing.h"
#include "llmgw_glob.h"
#include "llmgw_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define UNITS_PER_USD ((int64_t)1000000000)   /* 1e-9 USD per 1K tokens */
#define PICO_PER_USD  ((uint64_t)1000000000000)

typedef enum {
    DEC_OK = 0,
    DEC_EMPTY,
    DEC_NEGATIVE,
    DEC_SYNTAX,
    DEC_DECIMALS,
    DEC_LARGE
} dec_status;

static const char *const dec_reason[] = {
    [DEC_OK] = "ok",
    [DEC_EMPTY] = "empty price",
    [DEC_NEGATIVE] = "price must not be negative",
    [DEC_SYNTAX] = "not a decimal number (expected digits, optionally '.' and decimals, e.g. 0.003)",
    [DEC_DECIMALS] = "more than 9 decimal places",
    [DEC_LARGE] = "price too large (at most 1000 USD per 1K tokens)",
};

static const char *const kind_name[LLMGW_PRICE_NKINDS] = {
    [LLMGW_PRICE_INPUT] = "input",
    [LLMGW_PRICE_OUTPUT] = "output",
    [LLMGW_PRICE_CACHED_INPUT] = "cached_input",
    [LLMGW_PRICE_CACHE_WRITE] = "cache_write",
    [LLMGW_PRICE_CACHE_WRITE_1H] = "cache_write_1h",
};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Whole part: stops early once past the maximum so long digit runs cannot overflow. */
static dec_status parse_whole(const char **sp, int64_t *whole)
{
    const char *s = *sp;
    int64_t w = 0;
    if (!is_digit(*s))
        return DEC_SYNTAX;
    for (; is_digit(*s); s++) {
        w = w * 10 + (*s - '0');
        if (w > LLMGW_PRICE_MAX_UNITS / UNITS_PER_USD)
            return DEC_LARGE;
    }
    *sp = s;
    *whole = w;
    return DEC_OK;
}

/* Fraction after '.', scaled to 9 places: ".0025" → 2500000. */
static dec_status parse_frac(const char **sp, int64_t *frac)
{
    const char *s = *sp;
    int64_t f = 0;
    int nd = 0;
    if (!is_digit(*s))
        return DEC_SYNTAX;
    for (; is_digit(*s); s++) {
        if (++nd > LLMGW_PRICE_MAX_DECIMALS)
            return DEC_DECIMALS;
        f = f * 10 + (*s - '0');
    }
    for (; nd < LLMGW_PRICE_MAX_DECIMALS; nd++)
        f *= 10;
    *sp = s;
    *frac = f;
    return DEC_OK;
}

static dec_status parse_decimal(const char *s, int64_t *units)
{
    int64_t whole = 0, frac = 0;
    dec_status st;
    if (!s || !*s)
        return DEC_EMPTY;
    if (*s == '-')
        return DEC_NEGATIVE;
    if ((st = parse_whole(&s, &whole)) != DEC_OK)
        return st;
    if (*s == '.') {
        s++;
        if ((st = parse_frac(&s, &frac)) != DEC_OK)
            return st;
    }
    if (*s)
        return DEC_SYNTAX;
    int64_t v = whole * UNITS_PER_USD + frac;
    if (v > LLMGW_PRICE_MAX_UNITS)
        return DEC_LARGE;
    *units = v;
    return DEC_OK;
}

int llmgw_price_parse_decimal(const char *s, int64_t *units)
{
    return parse_decimal(s, units) == DEC_OK ? 0 : -1;
}

static int fail(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the configuration error message (if the caller wants one); returns -1. */
static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int kind_of(const char *key, size_t klen)
{
    for (int k = 0; k < LLMGW_PRICE_NKINDS; k++)
        if (strlen(kind_name[k]) == klen && !memcmp(kind_name[k], key, klen))
            return k;
    return -1;
}

/* One "key=value" argument into out. */
static int parse_arg(const char *arg, llmgw_price *out, char *err, size_t errcap)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return fail(err, errcap, "LLMGWPrice: expected key=value, got '%s'", arg);
    int k = kind_of(arg, (size_t)(eq - arg));
    if (k < 0)
        return fail(err, errcap, "LLMGWPrice: unknown key '%.*s' in '%s' (expected input, "
                    "output, cached_input, cache_write, cache_write_1h)",
                    (int)(eq - arg), arg, arg);
    if (out->set[k])
        return fail(err, errcap, "LLMGWPrice: %s= given twice", kind_name[k]);
    dec_status st = parse_decimal(eq + 1, &out->units[k]);
    if (st != DEC_OK)
        return fail(err, errcap, "LLMGWPrice: '%s': %s", arg, dec_reason[st]);
    out->set[k] = 1;
    return 0;
}

int llmgw_price_parse(const char *provider, const char *glob, int argc,
                      const char *const *argv, llmgw_price *out, char *err, size_t errcap)
{
    llmgw_price p;
    memset(&p, 0, sizeof(p));
    if (!provider || !*provider)
        return fail(err, errcap, "LLMGWPrice: missing provider name");
    if (!glob || !*glob)
        return fail(err, errcap, "LLMGWPrice %s: missing model pattern", provider);
    for (int i = 0; i < argc; i++) {
        if (!argv || !argv[i])
            return fail(err, errcap, "LLMGWPrice %s %s: missing argument", provider, glob);
        if (parse_arg(argv[i], &p, err, errcap) != 0)
            return -1;
    }
    if (!p.set[LLMGW_PRICE_INPUT])
        return fail(err, errcap, "LLMGWPrice %s %s: input= is required", provider, glob);
    if (!p.set[LLMGW_PRICE_OUTPUT])
        return fail(err, errcap, "LLMGWPrice %s %s: output= is required", provider, glob);
    p.provider = provider;
    p.glob = glob;
    p.literals = llmgw_glob_literals(glob);
    *out = p;
    return 0;
}

int64_t llmgw_price_effective(const llmgw_price *p, llmgw_price_kind k)
{
    switch (k) {
    case LLMGW_PRICE_CACHED_INPUT:
    case LLMGW_PRICE_CACHE_WRITE:
        return p->set[k] ? p->units[k] : p->units[LLMGW_PRICE_INPUT];
    case LLMGW_PRICE_CACHE_WRITE_1H:
        return p->set[k] ? p->units[k] : llmgw_price_effective(p, LLMGW_PRICE_CACHE_WRITE);
    default:
        return p->units[k];
    }
}

void llmgw_price_table_init(llmgw_price_table *t, llmgw_price_alloc_fn alloc, void *ctx)
{
    memset(t, 0, sizeof(*t));
    t->alloc = alloc;
    t->alloc_ctx = ctx;
}

/* Doubling; the old array is left to the pool (configuration time only). */
static int table_grow(llmgw_price_table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 16;
    if (!t->alloc || ncap > SIZE_MAX / sizeof(llmgw_price))
        return -1;
    llmgw_price *ne = t->alloc(t->alloc_ctx, ncap * sizeof(llmgw_price));
    if (!ne)
        return -1;
    if (t->n)
        memcpy(ne, t->entries, t->n * sizeof(llmgw_price));
    t->entries = ne;
    t->cap = ncap;
    return 0;
}

int llmgw_price_table_add(llmgw_price_table *t, const llmgw_price *p)
{
    if (t->n == t->cap && table_grow(t) != 0)
        return -1;
    t->entries[t->n++] = *p;
    return 0;
}

const llmgw_price *llmgw_price_lookup(const llmgw_price_table *t, const char *provider,
                                      const char *model)
{
    const llmgw_price *best = NULL;
    if (!t || !provider || !model)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        const llmgw_price *e = &t->entries[i];
        /* a later entry must beat the best strictly: ties go to the first */
        if (best && e->literals <= best->literals)
            continue;
        if (e->provider && e->glob && !strcmp(e->provider, provider) &&
            llmgw_glob_match(e->glob, model))
            best = e;
    }
    return best;
}

static int64_t tokens_of(int64_t v)
{
    return v < 0 ? 0 : v > LLMGW_TOKENS_MAX ? LLMGW_TOKENS_MAX : v;
}

static int64_t nonneg(int64_t v)
{
    return v < 0 ? 0 : v;
}

/* Adds tokens x price to *sum; 1 on overflow. Checked builtins rather than
 * __int128, which 32-bit targets (i386, armhf packages) do not have. */
static int add_term(int64_t *sum, int64_t tokens, const llmgw_price *p, llmgw_price_kind k)
{
    int64_t t;
    return __builtin_mul_overflow(tokens, nonneg(llmgw_price_effective(p, k)), &t) ||
           __builtin_add_overflow(*sum, t, sum);
}

int llmgw_price_cost(const llmgw_price *p, const llmgw_usage *u, int64_t *pico)
{
    /* all figures are clamped to [0, 1e15], so these differences cannot overflow */
    int64_t prompt = tokens_of(u->prompt), cached = tokens_of(u->cached);
    int64_t cw = tokens_of(u->cache_write), cw1h = tokens_of(u->cache_write_1h);
    int64_t sum = 0;
    if (cw1h > cw)
        cw1h = cw;   /* the 1h writes are a subset of all writes */
    if (add_term(&sum, nonneg(prompt - cached - cw), p, LLMGW_PRICE_INPUT) ||
        add_term(&sum, cached, p, LLMGW_PRICE_CACHED_INPUT) ||
        add_term(&sum, cw - cw1h, p, LLMGW_PRICE_CACHE_WRITE) ||
        add_term(&sum, cw1h, p, LLMGW_PRICE_CACHE_WRITE_1H) ||
        add_term(&sum, tokens_of(u->completion), p, LLMGW_PRICE_OUTPUT)) {
        *pico = INT64_MAX;
        return -1;
    }
    *pico = sum;
    return 0;
}

/* Every answered request formats its cost (record, log notes): digits by hand,
 * written backwards, rather than a vsnprintf per request. */
size_t llmgw_cost_format(int64_t pico, char *buf, size_t cap)
{
    int neg = pico < 0;
    /* magnitude without negating INT64_MIN */
    uint64_t mag = neg ? (uint64_t)(-(pico + 1)) + 1 : (uint64_t)pico;
    uint64_t whole = mag / PICO_PER_USD, frac = mag % PICO_PER_USD;
    char d[48], *e = d + sizeof d, *s = e;
    for (int i = 0; i < 12; i++) {      /* the twelve decimals, zero-padded */
        *--s = (char)('0' + frac % 10);
        frac /= 10;
    }
    *--s = '.';
    s = llmgw_dec_back(s, (int64_t)whole);     /* whole < 2^64 / 10^12: fits */
    if (neg)
        *--s = '-';
    size_t n = (size_t)(e - s);
    if (n >= cap) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return n;
}
