/* auditd_rollup.c — a batch's usage_daily additions, grouped from its encoded rows (see
 * auditd_rollup.h). PostgreSQL grouping every row of a batch (unnest, a numeric per
 * cost, a sort) cost it about a fifth of its CPU per record; here each row is one hash
 * probe. Costs are summed as integers of 1e-12 USD read from the very text the audit
 * row gets, so a group's total is the exact sum PostgreSQL's numeric would make. */
#include "auditd_rollup.h"

#include <stdlib.h>
#include <string.h>

#define US_PER_DAY     86400000000LL
#define COST_DECIMALS  12
#define COST_DIGITS    20      /* whole-dollar digits accepted; the module writes < 1e8 */
#define NULL_LEN       UINT32_MAX
#define NKEYS          4
#define NTOKENS        5

/* The fields of a row (AUDITD_STAGE_COLUMNS order) read here; the tokens are five in a row. */
enum { C_TS = 0, C_TOKENS = 11, C_COST = 17 };
static const int KEY_COLUMN[NKEYS] = {2, 4, 6, 7};   /* user_id, team, provider, model */

typedef struct {
    const char *p;
    uint32_t len;          /* NULL_LEN: NULL */
} ref;

typedef unsigned __int128 u128;

typedef struct auditd_group {
    int32_t day;           /* days since 2000-01-01, as a date is sent */
    ref key[NKEYS];        /* point into the rows */
    uint64_t hash;
    int64_t requests, tokens[NTOKENS];
    u128 pico;
} group;

/* ---- reading the rows ---------------------------------------------------------------- */

/* The field at f: its length word (-1: NULL), then its bytes. */
static ref field_at(const char *f)
{
    return (ref){f + 4, auditd_get_be32(f)};
}

static int64_t int8_value(ref v)
{
    return (int64_t)((uint64_t)auditd_get_be32(v.p) << 32 | auditd_get_be32(v.p + 4));
}

/* "123.000000000456", as auditd_encode_row writes a cost ("%.12f"), in 1e-12 USD. */
static int parse_cost(ref v, u128 *pico)
{
    u128 units = 0;
    uint32_t i = 0, dot;
    while (i < v.len && i < COST_DIGITS && v.p[i] >= '0' && v.p[i] <= '9')
        units = units * 10 + (unsigned)(v.p[i++] - '0');
    dot = i;
    if (dot == 0 || dot >= v.len || v.p[dot] != '.' || v.len - dot - 1 != COST_DECIMALS)
        return -1;
    for (i = dot + 1; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        units = units * 10 + (unsigned)(v.p[i] - '0');
    }
    *pico = units;
    return 0;
}

/* ---- groups ------------------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static uint64_t group_hash(const group *k)
{
    uint64_t h = fnv(14695981039346656037ULL, &k->day, sizeof k->day);
    for (int i = 0; i < NKEYS; i++) {
        h = fnv(h, &k->key[i].len, sizeof k->key[i].len);   /* NULL is not "" */
        if (k->key[i].len != NULL_LEN)
            h = fnv(h, k->key[i].p, k->key[i].len);
    }
    return h;
}

static int same_group(const group *a, const group *b)
{
    if (a->hash != b->hash || a->day != b->day)
        return 0;
    for (int i = 0; i < NKEYS; i++) {
        if (a->key[i].len != b->key[i].len)
            return 0;
        if (a->key[i].len != NULL_LEN && memcmp(a->key[i].p, b->key[i].p, a->key[i].len))
            return 0;
    }
    return 1;
}

static void rehash(auditd_rollup *r, size_t nslots)
{
    free(r->slot);
    r->slot = xcalloc(nslots, sizeof *r->slot);
    r->nslots = nslots;
    for (long i = 0; i < r->ngroups; i++) {
        size_t s = r->g[i].hash & (nslots - 1);
        while (r->slot[s])
            s = (s + 1) & (nslots - 1);
        r->slot[s] = (uint32_t)i + 1;
    }
}

/* The group of k, added (with zero sums) when the batch has none yet. */
static group *find_group(auditd_rollup *r, const group *k)
{
    if ((size_t)(r->ngroups + 1) * 2 > r->nslots)
        rehash(r, r->nslots ? r->nslots * 2 : 64);
    size_t s = k->hash & (r->nslots - 1);
    for (; r->slot[s]; s = (s + 1) & (r->nslots - 1))
        if (same_group(&r->g[r->slot[s] - 1], k))
            return &r->g[r->slot[s] - 1];
    if ((size_t)r->ngroups == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        group *g = realloc(r->g, r->cap * sizeof *g);
        if (!g)
            abort();    /* as xmalloc does */
        r->g = g;
    }
    group *g = &r->g[r->ngroups];
    *g = *k;
    r->slot[s] = (uint32_t)++r->ngroups;
    return g;
}

static int add_row(auditd_rollup *r, const char *const *field)
{
    group k = {0};
    ref tokens[NTOKENS], cost;
    /* decoding bounds years to 2000..2099: the timestamp is never negative */
    k.day = (int32_t)(int8_value(field_at(field[C_TS])) / US_PER_DAY);
    for (int i = 0; i < NKEYS; i++)
        k.key[i] = field_at(field[KEY_COLUMN[i]]);
    for (int i = 0; i < NTOKENS; i++)
        tokens[i] = field_at(field[C_TOKENS + i]);
    cost = field_at(field[C_COST]);
    k.hash = group_hash(&k);

    u128 pico = 0;
    if (cost.len != NULL_LEN && parse_cost(cost, &pico))
        return -1;
    group *g = find_group(r, &k);
    g->requests++;
    for (int i = 0; i < NTOKENS; i++)
        if (__builtin_add_overflow(g->tokens[i], int8_value(tokens[i]), &g->tokens[i]))
            return -1;
    return __builtin_add_overflow(g->pico, pico, &g->pico) ? -1 : 0;
}

/* ---- the arrays ----------------------------------------------------------------------- */

static void put_text(abuf *a, ref v, int *has_null)
{
    auditd_put_be32(a, v.len);
    if (v.len == NULL_LEN)
        *has_null = 1;
    else
        abuf_put(a, v.p, v.len);
}

static void put_int8(abuf *a, int64_t v)
{
    auditd_put_be32(a, 8);
    auditd_put_be64(a, (uint64_t)v);
}

static void put_cost(abuf *a, u128 pico)
{
    char buf[64], *e = buf + sizeof buf, *p = e;
    for (int i = 0; i < COST_DECIMALS; i++, pico /= 10)
        *--p = (char)('0' + (int)(pico % 10));
    *--p = '.';
    do {
        *--p = (char)('0' + (int)(pico % 10));
        pico /= 10;
    } while (pico);
    auditd_put_be32(a, (uint32_t)(e - p));
    abuf_put(a, p, (size_t)(e - p));
}

static void write_arrays(auditd_rollup *r)
{
    static const uint32_t oid[AUDITD_ROLLUP_FIELDS] = {
        AUDITD_OID_DATE, AUDITD_OID_TEXT, AUDITD_OID_TEXT, AUDITD_OID_TEXT, AUDITD_OID_TEXT,
        AUDITD_OID_INT8, AUDITD_OID_INT8, AUDITD_OID_INT8, AUDITD_OID_INT8, AUDITD_OID_INT8,
        AUDITD_OID_INT8, AUDITD_OID_TEXT};
    int has_null[AUDITD_ROLLUP_FIELDS] = {0};
    for (int i = 0; i < AUDITD_ROLLUP_FIELDS; i++)
        auditd_array_start(&r->col[i], oid[i]);
    for (long n = 0; n < r->ngroups; n++) {
        const group *g = &r->g[n];
        auditd_put_be32(&r->col[0], 4);
        auditd_put_be32(&r->col[0], (uint32_t)g->day);
        for (int i = 0; i < NKEYS; i++)
            put_text(&r->col[1 + i], g->key[i], &has_null[1 + i]);
        put_int8(&r->col[5], g->requests);
        for (int i = 0; i < NTOKENS; i++)
            put_int8(&r->col[6 + i], g->tokens[i]);
        put_cost(&r->col[11], g->pico);
    }
    for (int i = 0; i < AUDITD_ROLLUP_FIELDS; i++)
        auditd_array_end(&r->col[i], r->ngroups, has_null[i]);
}

int auditd_rollup_build(auditd_rollup *r, const char *rows, size_t len)
{
    const char *field[AUDITD_NFIELDS + 1];
    r->ngroups = 0;
    if (r->nslots)
        memset(r->slot, 0, r->nslots * sizeof *r->slot);
    for (size_t off = 0, n; off < len; off += n) {
        n = auditd_row_fields(rows + off, len - off, field);
        if (!n || add_row(r, field))
            return -1;
    }
    write_arrays(r);
    return 0;
}

void auditd_rollup_free(auditd_rollup *r)
{
    for (int i = 0; i < AUDITD_ROLLUP_FIELDS; i++)
        abuf_free(&r->col[i]);
    free(r->g);
    free(r->slot);
    memset(r, 0, sizeof *r);
}
