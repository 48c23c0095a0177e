/* llmgw_mstore.c — the shared metrics store (see llmgw_mstore.h). Layout of a segment:
 * a header, then three key tables: series (label values → counters, two histograms
 * and a small status table), overflow (one per provider, made at init, with a count
 * for every status) and rules (kind + rule name → one counter). A slot's key is written
 * while it is still marked empty and published by one release store, so readers never
 * need the lock; values are 64-bit counters changed with relaxed atomic adds. */
#include "llmgw_mstore.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAGIC  UINT64_C(0x316d6d77676c6c00)  /* "llgwmm1" */
#define LAYOUT 1u

#define STATUS_MIN 100
#define STATUS_SPAN 500                    /* 100 … 599, what httpd can send */

enum {  /* value words of a series */
    V_PROMPT, V_COMPLETION, V_COST,
    V_DUR, V_DUR_SUM = V_DUR + LLMGW_HIST_NBUCKETS,
    V_TTFT, V_TTFT_SUM = V_TTFT + LLMGW_HIST_NBUCKETS,
    V_STATUS,                              /* LLMGW_MSTORE_STATUSES pairs: status, count */
    SERIES_WORDS = V_STATUS + 2 * LLMGW_MSTORE_STATUSES,
    V_DENSE = SERIES_WORDS,                /* overflow series: one count per status */
    OVERFLOW_WORDS = V_DENSE + STATUS_SPAN,
};

enum { EMPTY = 0, READY = 1 };

/* How long a request waits for another process inserting a key before it counts in
 * the overflow series instead: inserts take well under a microsecond, so reaching
 * this means the holder is stopped (or died and its pid was reused). */
#define LOCK_SPINS 100
#define LOCK_WAIT_NS 20000000L   /* 20 ms: a holder descheduled on a busy host must not cost a label */

struct llmgw_mhdr {
    uint64_t magic, fingerprint, size;
    uint64_t off_series, off_overflow, off_rules;
    uint32_t labels;
    int32_t lock;               /* pid of the process inserting a key, 0 when free */
    uint32_t full;              /* 1 once the series limit was reached */
    uint32_t pad;
    uint64_t audit_sent;
    int64_t spooled;
    uint64_t rule_overflow[2];
    uint64_t lost;              /* observations no series could take */
};

struct llmgw_ktab {
    uint32_t nslots, limit, key_max, value_words, slot_bytes, used;
};

typedef struct {
    uint32_t state, hash, klen, pad;
    /* char key[round8(key_max)]; uint64_t values[value_words]; */
} kslot;

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t slot_size(uint32_t key_max, uint32_t words)
{
    return sizeof(kslot) + round8(key_max) + 8 * (size_t)words;
}

static size_t ktab_size(uint32_t nslots, uint32_t key_max, uint32_t words)
{
    return round8(sizeof(struct llmgw_ktab)) + (size_t)nslots * slot_size(key_max, words);
}

static kslot *slot_at(const struct llmgw_ktab *t, uint32_t i)
{
    return (kslot *)((char *)t + round8(sizeof *t) + (size_t)i * t->slot_bytes);
}

static char *slot_key(kslot *s)
{
    return (char *)(s + 1);
}

static uint64_t *slot_values(const struct llmgw_ktab *t, kslot *s)
{
    return (uint64_t *)((char *)(s + 1) + round8(t->key_max));
}

static uint32_t fnv32(const char *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

/* --- sizes ------------------------------------------------------------------------ */

typedef struct {
    uint32_t series_slots, overflow_slots, rule_slots;
    size_t off_series, off_overflow, off_rules, total;
} layout;

/* Half-empty tables keep probe sequences short and always end at an empty slot. */
static void plan(const llmgw_mstore_conf *c, layout *l)
{
    uint32_t max = c->max_series ? c->max_series : 1;
    if (max > LLMGW_MSTORE_MAX_SERIES)
        max = LLMGW_MSTORE_MAX_SERIES;
    l->series_slots = 2 * max + 1;
    l->overflow_slots = 2 * c->nproviders + 1;
    l->rule_slots = 2 * LLMGW_MSTORE_MAX_RULES + 1;
    l->off_series = round8(sizeof(struct llmgw_mhdr));
    l->off_overflow = l->off_series + ktab_size(l->series_slots, LLMGW_MSTORE_KEY_MAX,
                                                SERIES_WORDS);
    l->off_rules = l->off_overflow + ktab_size(l->overflow_slots, LLMGW_MSTORE_KEY_MAX,
                                               OVERFLOW_WORDS);
    l->total = l->off_rules + ktab_size(l->rule_slots, LLMGW_MSTORE_RULE_MAX + 1, 1);
}

size_t llmgw_mstore_size(const llmgw_mstore_conf *c)
{
    layout l;
    plan(c, &l);
    return l.total;
}

static uint64_t fnv64(uint64_t h, const void *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const unsigned char *)d)[i]) * UINT64_C(1099511628211);
    return h;
}

uint64_t llmgw_mstore_fingerprint(const llmgw_mstore_conf *c)
{
    uint32_t head[4] = {LAYOUT, c->labels, c->max_series, c->nproviders};
    uint64_t h = fnv64(UINT64_C(14695981039346656037), head, sizeof head);
    for (uint32_t i = 0; i < c->nproviders; i++)
        h = fnv64(h, c->providers[i], strlen(c->providers[i]) + 1);
    return h;
}

/* --- attach and init -------------------------------------------------------------- */

static void view(llmgw_mstore *st, void *mem)
{
    st->h = mem;
    st->series = (struct llmgw_ktab *)((char *)mem + st->h->off_series);
    st->overflow = (struct llmgw_ktab *)((char *)mem + st->h->off_overflow);
    st->rules = (struct llmgw_ktab *)((char *)mem + st->h->off_rules);
}

static void ktab_format(struct llmgw_ktab *t, uint32_t nslots, uint32_t limit,
                        uint32_t key_max, uint32_t words)
{
    t->nslots = nslots;
    t->limit = limit;
    t->key_max = key_max;
    t->value_words = words;
    t->slot_bytes = (uint32_t)slot_size(key_max, words);
    t->used = 0;
}

static uint64_t *ktab_find(const struct llmgw_ktab *t, const char *key, uint32_t klen,
                           uint32_t hash, uint32_t *empty_at);

static uint64_t *ktab_put(struct llmgw_ktab *t, const char *key, uint32_t klen, int *full);

int llmgw_mstore_init(llmgw_mstore *st, void *mem, size_t size, const llmgw_mstore_conf *c)
{
    layout l;
    plan(c, &l);
    if (size < l.total)
        return -1;
    struct llmgw_mhdr *h = mem;
    memset(h, 0, sizeof *h);
    h->fingerprint = llmgw_mstore_fingerprint(c);
    h->size = l.total;
    h->off_series = l.off_series;
    h->off_overflow = l.off_overflow;
    h->off_rules = l.off_rules;
    h->labels = c->labels;
    view(st, mem);
    ktab_format(st->series, l.series_slots, (l.series_slots - 1) / 2, LLMGW_MSTORE_KEY_MAX,
                SERIES_WORDS);
    ktab_format(st->overflow, l.overflow_slots, c->nproviders, LLMGW_MSTORE_KEY_MAX,
                OVERFLOW_WORDS);
    ktab_format(st->rules, l.rule_slots, LLMGW_MSTORE_MAX_RULES, LLMGW_MSTORE_RULE_MAX + 1, 1);
    /* every provider's overflow series exists before any child does: finding it
     * later needs no lock, so a request can always fall back to it */
    for (uint32_t i = 0; i < c->nproviders; i++) {
        char key[LLMGW_MSTORE_KEY_MAX];
        int full = 0;
        size_t n = llmgw_label_sanitize(c->providers[i], key, sizeof key);
        if (n == (size_t)-1 || !ktab_put(st->overflow, key, (uint32_t)n + 1, &full))
            return -1;
    }
    __atomic_store_n(&h->magic, MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int llmgw_mstore_attach(llmgw_mstore *st, void *mem, size_t size, uint64_t fingerprint)
{
    const struct llmgw_mhdr *h = mem;
    if (size < sizeof *h || __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != MAGIC ||
        h->fingerprint != fingerprint || h->size > size)
        return -1;
    view(st, mem);
    return 0;
}

/* --- the key tables --------------------------------------------------------------- */

static uint32_t next_slot(const struct llmgw_ktab *t, uint32_t i)
{
    return i + 1 == t->nslots ? 0 : i + 1;
}

/* Lock-free: slots are never emptied again, and a key is complete before its slot
 * turns READY. *empty_at (if asked) gets the empty slot that ended the search. */
static uint64_t *ktab_find(const struct llmgw_ktab *t, const char *key, uint32_t klen,
                           uint32_t hash, uint32_t *empty_at)
{
    uint32_t i = hash % t->nslots;
    for (uint32_t n = 0; n < t->nslots; n++, i = next_slot(t, i)) {
        kslot *s = slot_at(t, i);
        if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != READY) {
            if (empty_at)
                *empty_at = i;
            return NULL;
        }
        if (s->hash == hash && s->klen == klen && !memcmp(slot_key(s), key, klen))
            return slot_values(t, s);
    }
    if (empty_at)
        *empty_at = UINT32_MAX;
    return NULL;
}

/* Caller holds the lock (or is alone, at init). */
static uint64_t *ktab_put(struct llmgw_ktab *t, const char *key, uint32_t klen, int *full)
{
    uint32_t hash = fnv32(key, klen), at = UINT32_MAX;
    uint64_t *v = ktab_find(t, key, klen, hash, &at);
    if (v)
        return v;
    if (klen > t->key_max || at == UINT32_MAX ||
        __atomic_load_n(&t->used, __ATOMIC_RELAXED) >= t->limit) {
        *full = 1;
        return NULL;
    }
    kslot *s = slot_at(t, at);
    memcpy(slot_key(s), key, klen);
    s->klen = klen;
    s->hash = hash;
    __atomic_store_n(&s->state, READY, __ATOMIC_RELEASE);
    __atomic_add_fetch(&t->used, 1, __ATOMIC_RELAXED);
    return slot_values(t, s);
}

static long elapsed_ns(const struct timespec *from)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - from->tv_sec) * 1000000000L + (now.tv_nsec - from->tv_nsec);
}

/* 0 with the lock, -1 after LOCK_WAIT_NS. A holder whose process is gone (killed
 * while copying a key) is replaced: its half-written slot is still marked empty. */
static int lock_take(struct llmgw_mhdr *h)
{
    int32_t me = (int32_t)getpid();
    struct timespec start = {0, 0};
    for (unsigned i = 0;; i++) {
        int32_t cur = 0;
        if (__atomic_compare_exchange_n(&h->lock, &cur, me, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 0;
        if (i < LOCK_SPINS)
            continue;
        if (i == LOCK_SPINS)
            clock_gettime(CLOCK_MONOTONIC, &start);
        if (cur != me && cur > 0 && kill((pid_t)cur, 0) != 0 && errno == ESRCH &&
            __atomic_compare_exchange_n(&h->lock, &cur, me, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 0;
        if (elapsed_ns(&start) > LOCK_WAIT_NS)
            return -1;
        sched_yield();
    }
}

static void lock_give(struct llmgw_mhdr *h)
{
    __atomic_store_n(&h->lock, 0, __ATOMIC_RELEASE);
}

/* Finds the key, or inserts it; NULL when the table is at its limit (*full = 1) or
 * the lock could not be had in time. */
static uint64_t *ktab_get(llmgw_mstore *st, struct llmgw_ktab *t, const char *key,
                          uint32_t klen, int *full)
{
    uint64_t *v = ktab_find(t, key, klen, fnv32(key, klen), NULL);
    if (v)
        return v;
    if (lock_take(st->h) != 0)
        return NULL;
    v = ktab_put(t, key, klen, full);
    lock_give(st->h);
    return v;
}

/* --- recording ---------------------------------------------------------------------- */

static void add(uint64_t *w, uint64_t n)
{
    if (n)
        __atomic_fetch_add(w, n, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *w)
{
    return __atomic_load_n(w, __ATOMIC_RELAXED);
}

/* Appends one sanitized label value and its NUL to key; -1 when it does not fit or the
 * value is the overflow marker (a client naming its model "__overflow__" must not be
 * able to make a second series with the overflow series' labels). */
static int key_add(char *key, size_t *len, const char *v)
{
    size_t n = llmgw_label_sanitize(v ? v : "", key + *len, LLMGW_MSTORE_KEY_MAX - *len);
    if (n == (size_t)-1 || !strcmp(key + *len, LLMGW_OVERFLOW))
        return -1;
    *len += n + 1;
    return 0;
}

static int series_key(unsigned labels, const llmgw_mobs *o, char *key, uint32_t *klen)
{
    size_t len = 0;
    if (key_add(key, &len, o->provider) || key_add(key, &len, o->model) ||
        ((labels & LLMGW_MLABEL_USER) && key_add(key, &len, o->user)) ||
        ((labels & LLMGW_MLABEL_TEAM) && key_add(key, &len, o->team)))
        return -1;
    *klen = (uint32_t)len;
    return 0;
}

static uint64_t *overflow_of(const llmgw_mstore *st, const char *provider)
{
    char key[LLMGW_MSTORE_KEY_MAX];
    size_t n = llmgw_label_sanitize(provider ? provider : "", key, sizeof key);
    if (n == (size_t)-1)
        return NULL;
    return ktab_find(st->overflow, key, (uint32_t)n + 1, fnv32(key, n + 1), NULL);
}

static void observe(uint64_t *buckets, uint64_t *sum, uint64_t us)
{
    add(&buckets[llmgw_hist_bucket(us)], 1);
    add(sum, us);
}

/* Counts status in the series' small table; 0 when all its entries hold other
 * statuses. Entries are claimed by compare-and-swap, so one status never has two. */
static int count_status(uint64_t *v, uint64_t status)
{
    for (int i = 0; i < LLMGW_MSTORE_STATUSES; i++) {
        uint64_t *st = &v[V_STATUS + 2 * i], cur = load(st);
        if (cur == 0 && !__atomic_compare_exchange_n(st, &cur, status, 0, __ATOMIC_RELAXED,
                                                     __ATOMIC_RELAXED) && cur != status)
            continue;
        if (cur == 0 || cur == status) {
            add(&v[V_STATUS + 2 * i + 1], 1);
            return 1;
        }
    }
    return 0;
}

static int count_dense(llmgw_mstore *st, uint64_t *ov, int status)
{
    if (!ov || status < STATUS_MIN || status >= STATUS_MIN + STATUS_SPAN) {
        add(&st->h->lost, 1);
        return LLMGW_MREC_LOST;
    }
    add(&ov[V_DENSE + status - STATUS_MIN], 1);
    return 0;
}

/* The labels that make a series' key, as given: the memo's name (0: too long). */
static size_t memo_name(unsigned labels, const llmgw_mobs *o, char name[LLMGW_MEMO_NAME_MAX])
{
    const char *l[4] = {o->provider ? o->provider : "", o->model ? o->model : "",
                        labels & LLMGW_MLABEL_USER ? (o->user ? o->user : "") : NULL,
                        labels & LLMGW_MLABEL_TEAM ? (o->team ? o->team : "") : NULL};
    return llmgw_memo_join(name, l, 4);
}

int llmgw_mstore_record(llmgw_mstore *st, const llmgw_mobs *o)
{
    return llmgw_mstore_record_memo(st, NULL, o);
}

int llmgw_mstore_record_memo(llmgw_mstore *st, llmgw_memo *m, const llmgw_mobs *o)
{
    char key[LLMGW_MSTORE_KEY_MAX], name[LLMGW_MEMO_NAME_MAX];
    uint32_t klen;
    int full = 0, flags = 0;
    const void *hit;
    size_t nlen = m ? memo_name(st->h->labels, o, name) : 0;
    uint64_t *v = nlen && llmgw_memo_get(m, st->h, name, nlen, &hit) ? (uint64_t *)(uintptr_t)hit
                                                                      : NULL;
    if (!v && series_key(st->h->labels, o, key, &klen) == 0) {
        v = ktab_get(st, st->series, key, klen, &full);
        if (v && nlen)
            llmgw_memo_put(m, st->h, name, nlen, v);
    }
    if (full && !__atomic_exchange_n(&st->h->full, 1, __ATOMIC_RELAXED))
        flags |= LLMGW_MREC_FULL;
    if (!v) {
        flags |= LLMGW_MREC_OVERFLOW;
        if (!(v = overflow_of(st, o->provider))) {
            add(&st->h->lost, 1);
            return flags | LLMGW_MREC_LOST;
        }
    }
    add(&v[V_PROMPT], o->prompt_tokens);
    add(&v[V_COMPLETION], o->completion_tokens);
    add(&v[V_COST], o->cost_pico);
    observe(&v[V_DUR], &v[V_DUR_SUM], o->duration_us);
    if (o->has_ttft)
        observe(&v[V_TTFT], &v[V_TTFT_SUM], o->ttft_us);
    if (flags & LLMGW_MREC_OVERFLOW)
        return flags | count_dense(st, v, o->status);
    if (o->status <= 0 || !count_status(v, (uint64_t)o->status))
        flags |= count_dense(st, overflow_of(st, o->provider), o->status);
    return flags;
}

int llmgw_mstore_rule(llmgw_mstore *st, llmgw_mrule kind, const char *rule)
{
    char key[LLMGW_MSTORE_RULE_MAX + 1];
    int full = 0;
    uint64_t *v = NULL;
    key[0] = (char)('0' + kind);
    size_t n = llmgw_label_sanitize(rule ? rule : "", key + 1, sizeof key - 1);
    if (n != (size_t)-1 && strcmp(key + 1, LLMGW_OVERFLOW))
        v = ktab_get(st, st->rules, key, (uint32_t)n + 2, &full);
    add(v ? v : &st->h->rule_overflow[kind], 1);
    return v ? 0 : LLMGW_MREC_OVERFLOW;
}

void llmgw_mstore_audit_sent(llmgw_mstore *st, uint64_t records)
{
    add(&st->h->audit_sent, records);
}

void llmgw_mstore_spooled_add(llmgw_mstore *st, int64_t delta)
{
    __atomic_fetch_add(&st->h->spooled, delta, __ATOMIC_RELAXED);
}

void llmgw_mstore_spooled_set(llmgw_mstore *st, int64_t records)
{
    __atomic_store_n(&st->h->spooled, records, __ATOMIC_RELAXED);
}

int64_t llmgw_mstore_spooled(const llmgw_mstore *st)
{
    int64_t v = __atomic_load_n(&st->h->spooled, __ATOMIC_RELAXED);
    return v < 0 ? 0 : v;
}

/* --- exposition --------------------------------------------------------------------- */

typedef struct {
    const char *key;
    uint32_t klen;
    const uint64_t *v;
} ent;

static int ent_cmp(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

size_t llmgw_mstore_scratch_size(const llmgw_mstore *st)
{
    return sizeof(ent) * ((size_t)st->series->nslots + st->overflow->nslots + st->rules->nslots);
}

static size_t collect(const struct llmgw_ktab *t, ent *out)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->nslots; i++) {
        kslot *s = slot_at(t, i);
        if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != READY)
            continue;
        out[n].key = slot_key(s);
        out[n].klen = s->klen;
        out[n].v = slot_values(t, s);
        n++;
    }
    qsort(out, n, sizeof *out, ent_cmp);
    return n;
}

typedef struct {
    const llmgw_emitter *em;
    unsigned labels;
    ent *series, *overflow, *rules;
    size_t nseries, noverflow, nrules;
} expo;

/* The labels of a series key: provider, model, then user_id and team if configured.
 * Returns the count; an overflow key gives provider and "__overflow__" for the rest. */
static int labels_of(const expo *x, const ent *e, int overflow, int hist, llmgw_label *l)
{
    static const char *const names[] = {"provider", "model", "user_id", "team"};
    const char *f = e->key;
    int n = 0;
    for (int i = 0; i < 4; i++) {
        if ((i == 2 && !(x->labels & LLMGW_MLABEL_USER)) ||
            (i == 3 && !(x->labels & LLMGW_MLABEL_TEAM)))
            continue;
        if (hist && i >= 2)
            break;
        l[n].name = names[i];
        l[n].value = overflow && i > 0 ? LLMGW_OVERFLOW : f;
        n++;
        if (!overflow || i == 0)
            f += strlen(f) + 1;
    }
    return n;
}

static int overflow_used(const uint64_t *v)
{
    for (int i = 0; i < STATUS_SPAN; i++)
        if (load(&v[V_DENSE + i]))
            return 1;
    for (int i = 0; i < LLMGW_HIST_NBUCKETS; i++)
        if (load(&v[V_DUR + i]))
            return 1;
    return 0;
}

static void status_sample(const expo *x, llmgw_label *l, int n, int status, uint64_t count)
{
    char code[16];
    snprintf(code, sizeof code, "%d", status);
    l[n].name = "status";
    l[n].value = code;
    llmgw_expose_u64(x->em, "llmgw_requests_total", l, n + 1, count);
}

static int pair_cmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static void expose_requests(const expo *x)
{
    llmgw_label l[LLMGW_METRICS_MAX_LABELS];
    llmgw_expose_family(x->em, "llmgw_requests_total", "counter",
                        "Requests through the gateway by provider, model and HTTP status.");
    for (size_t i = 0; i < x->nseries; i++) {
        uint64_t pairs[LLMGW_MSTORE_STATUSES][2];
        int np = 0, n = labels_of(x, &x->series[i], 0, 0, l);
        for (int k = 0; k < LLMGW_MSTORE_STATUSES; k++) {
            pairs[np][0] = load(&x->series[i].v[V_STATUS + 2 * k]);
            pairs[np][1] = load(&x->series[i].v[V_STATUS + 2 * k + 1]);
            np += pairs[np][0] != 0;
        }
        qsort(pairs, (size_t)np, sizeof pairs[0], pair_cmp);
        for (int k = 0; k < np; k++)
            status_sample(x, l, n, (int)pairs[k][0], pairs[k][1]);
    }
    for (size_t i = 0; i < x->noverflow; i++) {
        int n = labels_of(x, &x->overflow[i], 1, 0, l);
        for (int s = 0; s < STATUS_SPAN; s++) {
            uint64_t c = load(&x->overflow[i].v[V_DENSE + s]);
            if (c)
                status_sample(x, l, n, STATUS_MIN + s, c);
        }
    }
}

static void expose_tokens_cost(const expo *x)
{
    llmgw_label l[LLMGW_METRICS_MAX_LABELS];
    char cost[40];
    llmgw_expose_family(x->em, "llmgw_tokens_total", "counter",
                        "Tokens billed by the provider (prompt includes cached input, "
                        "completion includes reasoning).");
    for (int pass = 0; pass < 2; pass++) {
        const ent *es = pass ? x->overflow : x->series;
        size_t ne = pass ? x->noverflow : x->nseries;
        for (size_t i = 0; i < ne; i++) {
            int n = labels_of(x, &es[i], pass, 0, l);
            l[n].name = "type";
            l[n].value = "prompt";
            llmgw_expose_u64(x->em, "llmgw_tokens_total", l, n + 1, load(&es[i].v[V_PROMPT]));
            l[n].value = "completion";
            llmgw_expose_u64(x->em, "llmgw_tokens_total", l, n + 1,
                             load(&es[i].v[V_COMPLETION]));
        }
    }
    llmgw_expose_family(x->em, "llmgw_cost_dollars_total", "counter",
                        "Cost in US dollars from LLMGWPrice (exact sums of 1e-12 USD).");
    for (int pass = 0; pass < 2; pass++) {
        const ent *es = pass ? x->overflow : x->series;
        size_t ne = pass ? x->noverflow : x->nseries;
        for (size_t i = 0; i < ne; i++) {
            int n = labels_of(x, &es[i], pass, 0, l);
            llmgw_format_pico(load(&es[i].v[V_COST]), cost, sizeof cost);
            llmgw_expose_sample(x->em, "llmgw_cost_dollars_total", l, n, cost);
        }
    }
}

/* Histograms carry provider and model only: summed over user_id and team, which would
 * multiply every bucket by the number of users. Sorted keys keep a (provider, model)
 * group contiguous. */
static size_t model_prefix(const ent *e)
{
    size_t p = strlen(e->key) + 1;
    return p + strlen(e->key + p) + 1;
}

static void expose_histogram(const expo *x, const char *name, const char *help, int base,
                             int sum)
{
    llmgw_label l[LLMGW_METRICS_MAX_LABELS];
    llmgw_expose_family(x->em, name, "histogram", help);
    for (size_t i = 0; i < x->nseries;) {
        uint64_t b[LLMGW_HIST_NBUCKETS] = {0}, s = 0;
        size_t p = model_prefix(&x->series[i]), j = i;
        for (; j < x->nseries && model_prefix(&x->series[j]) == p &&
               !memcmp(x->series[j].key, x->series[i].key, p); j++) {
            for (int k = 0; k < LLMGW_HIST_NBUCKETS; k++)
                b[k] += load(&x->series[j].v[base + k]);
            s += load(&x->series[j].v[sum]);
        }
        int n = labels_of(x, &x->series[i], 0, 1, l);
        llmgw_expose_histogram(x->em, name, l, n, b, s);
        i = j;
    }
    for (size_t i = 0; i < x->noverflow; i++) {
        uint64_t b[LLMGW_HIST_NBUCKETS];
        for (int k = 0; k < LLMGW_HIST_NBUCKETS; k++)
            b[k] = load(&x->overflow[i].v[base + k]);
        int n = labels_of(x, &x->overflow[i], 1, 1, l);
        llmgw_expose_histogram(x->em, name, l, n, b, load(&x->overflow[i].v[sum]));
    }
}

static int rule_cmp(const void *a, const void *b)
{
    return strcmp(((const llmgw_mrule_count *)a)->rule, ((const llmgw_mrule_count *)b)->rule);
}

/* The store's own counts for one kind and the caller's (sorted, equal names summed)
 * merged by name; both lists come sorted, so this is one merge pass. */
static void expose_rules(const expo *x, const llmgw_mstore *st, llmgw_mrule kind,
                         llmgw_mrule_count *ext, size_t next, const char *name,
                         const char *help)
{
    llmgw_label l = {"rule", NULL};
    uint64_t over = load(&st->h->rule_overflow[kind]);
    size_t i = 0, j = 0;
    llmgw_expose_family(x->em, name, "counter", help);
    if (next)
        qsort(ext, next, sizeof *ext, rule_cmp);
    for (;;) {
        while (i < x->nrules && x->rules[i].key[0] != (char)('0' + kind))
            i++;
        while (j < next && !strcmp(ext[j].rule, LLMGW_OVERFLOW))
            over += ext[j++].count;
        if (i == x->nrules && j == next)
            break;
        const char *mine = i < x->nrules ? x->rules[i].key + 1 : NULL;
        int c = !mine ? 1 : j == next ? -1 : strcmp(mine, ext[j].rule);
        uint64_t v = 0;
        l.value = c <= 0 ? mine : ext[j].rule;
        if (c <= 0)
            v += load(&x->rules[i++].v[0]);
        if (c >= 0)
            for (const char *r = l.value; j < next && !strcmp(ext[j].rule, r); j++)
                v += ext[j].count;
        llmgw_expose_u64(x->em, name, &l, 1, v);
    }
    if (over) {
        l.value = LLMGW_OVERFLOW;
        llmgw_expose_u64(x->em, name, &l, 1, over);
    }
}

void llmgw_mstore_expose(const llmgw_mstore *st, const llmgw_emitter *em, void *scratch,
                         const llmgw_mstore_extra *extra)
{
    expo x = {.em = em, .labels = st->h->labels};
    x.series = scratch;
    x.nseries = collect(st->series, x.series);
    x.overflow = x.series + x.nseries;
    x.noverflow = collect(st->overflow, x.overflow);
    /* unused overflow series stay out of the output */
    size_t used = 0;
    for (size_t i = 0; i < x.noverflow; i++)
        if (overflow_used(x.overflow[i].v))
            x.overflow[used++] = x.overflow[i];
    x.noverflow = used;
    x.rules = x.overflow + x.noverflow;
    x.nrules = collect(st->rules, x.rules);

    expose_requests(&x);
    expose_tokens_cost(&x);
    expose_histogram(&x, "llmgw_request_duration_seconds",
                     "Time from the request's arrival to the end of the response.", V_DUR,
                     V_DUR_SUM);
    expose_histogram(&x, "llmgw_time_to_first_token_seconds",
                     "Time from the request's arrival to the first response byte from the "
                     "provider (the first token of a stream).", V_TTFT, V_TTFT_SUM);
    expose_rules(&x, st, LLMGW_MRULE_RATE_LIMITED, extra ? extra->rate_limited : NULL,
                 extra ? extra->n_rate_limited : 0, "llmgw_rate_limited_total",
                 "Requests refused with 429 by a rate limit or budget rule.");
    expose_rules(&x, st, LLMGW_MRULE_BLOCKED, NULL, 0, "llmgw_blocked_total",
                 "Requests refused by a content rule (LLMGWBlock).");
    llmgw_expose_family(em, "llmgw_audit_spooled_records", "gauge",
                        "Usage records waiting in LLMGWAuditSpool for llmgw-auditd.");
    llmgw_expose_u64(em, "llmgw_audit_spooled_records", NULL, 0,
                     (uint64_t)llmgw_mstore_spooled(st));
    llmgw_expose_family(em, "llmgw_audit_sent_total", "counter",
                        "Usage records llmgw-auditd acknowledged (committed to PostgreSQL).");
    llmgw_expose_u64(em, "llmgw_audit_sent_total", NULL, 0, load(&st->h->audit_sent));
}
