/* llmgw_keyfile.c — parses the gateway key file and finds the entry for a presented key.
 * The index is keyed by the digest, so a lookup costs one SHA-256 and one probe; the
 * final comparison is CRYPTO_memcmp so timing says nothing about how close a guess was. */
#include "llmgw_keyfile.h"
#include "llmgw_text.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* OpenSSL 3 looks the algorithm up again on every EVP_sha256() use; on the hot path
 * (every request's key) it is fetched once per process instead. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void llmgw_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    pthread_once(&sha256_once, fetch_sha256);
    EVP_Digest(data, len, out, &n, sha256_md ? sha256_md : EVP_sha256(), NULL);
}

#define sha256 llmgw_sha256

void llmgw_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[32];
    sha256(data, len, d);
    llmgw_hex(d, sizeof d, out);
}

static char *dup_n(const llmgw_alloc *a, const char *s, size_t n)
{
    char *p = a->fn(a->ctx, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int llmgw_split_list(const char *s, const llmgw_alloc *a, const char **out, int max)
{
    int n = 0;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len) {
            if (n == max)
                return -1;
            if (!(out[n++] = dup_n(a, s, len)))
                return -1;
        }
        s += len + (e ? 1 : 0);
    }
    return n;
}

static int fail(char *err, size_t cap, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, cap, "line %d: ", line);
    if (n >= 0 && (size_t)n < cap) {
        va_start(ap, fmt);
        vsnprintf(err + n, cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_hash(const char *tok, size_t n, unsigned char out[32])
{
    if (n != 7 + 64 || strncmp(tok, "sha256:", 7) != 0)
        return -1;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(tok[7 + 2 * i]), lo = hexval(tok[8 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* A header name per RFC 9110 token rules: what delegate= may name. */
static int is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!(strchr("!#$%&'*+-.^_`|~", *s) || (*s >= '0' && *s <= '9') ||
              (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return 0;
    return 1;
}

static int set_attr(llmgw_key *k, const char *tok, size_t n, const llmgw_alloc *a,
                    char *err, size_t errcap, int line)
{
    const char *eq = memchr(tok, '=', n);
    if (!eq || eq == tok || eq + 1 == tok + n)
        return fail(err, errcap, line, "expected name=value, got '%.*s'", (int)n, tok);
    size_t kl = (size_t)(eq - tok);
    char *v = dup_n(a, eq + 1, n - kl - 1);
    if (!v)
        return fail(err, errcap, line, "out of memory");
    if (kl == 4 && !memcmp(tok, "user", 4)) k->user = v;
    else if (kl == 5 && !memcmp(tok, "email", 5)) k->email = v;
    else if (kl == 4 && !memcmp(tok, "team", 4)) k->team = v;
    else if (kl == 5 && !memcmp(tok, "roles", 5)) {
        if ((k->nroles = llmgw_split_list(v, a, k->roles, LLMGW_KEY_MAX_LIST)) < 0)
            return fail(err, errcap, line, "too many roles (at most %d)", LLMGW_KEY_MAX_LIST);
    } else if (kl == 8 && !memcmp(tok, "delegate", 8)) {
        if ((k->ndelegate = llmgw_split_list(v, a, k->delegate, LLMGW_KEY_MAX_DELEGATE)) < 0)
            return fail(err, errcap, line, "too many delegate headers (at most %d: the end "
                        "user's id, e-mail, roles and team)", LLMGW_KEY_MAX_DELEGATE);
        for (int i = 0; i < k->ndelegate; i++)
            if (!is_token(k->delegate[i]))
                return fail(err, errcap, line, "bad header name '%s'", k->delegate[i]);
    } else
        return fail(err, errcap, line, "unknown attribute '%.*s'", (int)kl, tok);
    return 0;
}

static int parse_line(const char *s, size_t n, llmgw_key *k, const llmgw_alloc *a,
                      char *err, size_t errcap, int line)
{
    size_t i = 0;
    int ntok = 0;
    memset(k, 0, sizeof *k);
    k->line = line;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t st = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        if (i == st)
            break;
        for (size_t j = st; j < i; j++)
            if ((unsigned char)s[j] < 0x20 || s[j] == 0x7f)
                return fail(err, errcap, line, "control character");
        if (ntok++ == 0) {
            if (parse_hash(s + st, i - st, k->hash) < 0)
                return fail(err, errcap, line, "expected sha256:<64 hex digits> first");
        } else if (set_attr(k, s + st, i - st, a, err, errcap, line) < 0)
            return -1;
    }
    if (!k->user)
        return fail(err, errcap, line, "user= is required");
    return 0;
}

static size_t slot_of(const unsigned char h[32], size_t mask)
{
    uint64_t v;
    memcpy(&v, h, sizeof v);    /* the digest is already uniformly distributed */
    return (size_t)v & mask;
}

static int build_index(llmgw_keyfile *kf, const llmgw_alloc *a, char *err, size_t errcap)
{
    size_t ns = 16;
    while (ns < kf->nkeys * 2)
        ns <<= 1;
    kf->slots = a->fn(a->ctx, ns * sizeof *kf->slots);
    if (!kf->slots)
        return fail(err, errcap, 0, "out of memory");
    memset(kf->slots, 0, ns * sizeof *kf->slots);
    kf->nslots = ns;
    for (size_t i = 0; i < kf->nkeys; i++) {
        size_t s = slot_of(kf->keys[i].hash, ns - 1);
        while (kf->slots[s]) {
            const llmgw_key *o = &kf->keys[kf->slots[s] - 1];
            if (!memcmp(o->hash, kf->keys[i].hash, 32))
                return fail(err, errcap, kf->keys[i].line, "duplicate key (also on line %d)",
                            o->line);
            s = (s + 1) & (ns - 1);
        }
        kf->slots[s] = (uint32_t)(i + 1);
    }
    return 0;
}

static size_t count_lines(const char *t, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += t[i] == '\n';
    return n;
}

int llmgw_keyfile_parse(const char *text, size_t len, const llmgw_alloc *a,
                        llmgw_keyfile *kf, char *err, size_t errcap)
{
    size_t maxkeys = count_lines(text, len);
    memset(kf, 0, sizeof *kf);
    if (maxkeys > LLMGW_KEYFILE_MAX_KEYS)
        return fail(err, errcap, 0, "more than %d lines", LLMGW_KEYFILE_MAX_KEYS);
    kf->keys = a->fn(a->ctx, maxkeys * sizeof *kf->keys);
    if (!kf->keys)
        return fail(err, errcap, 0, "out of memory");
    int line = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
        const char *s = text + i;
        line++;
        i += n + 1;
        if (n && s[n - 1] == '\r')
            n--;
        size_t lead = 0;
        while (lead < n && (s[lead] == ' ' || s[lead] == '\t'))
            lead++;
        if (lead == n || s[lead] == '#')
            continue;
        if (parse_line(s + lead, n - lead, &kf->keys[kf->nkeys], a, err, errcap, line) < 0)
            return -1;
        kf->nkeys++;
    }
    return build_index(kf, a, err, errcap);
}

const llmgw_key *llmgw_keyfile_lookup(const llmgw_keyfile *kf, const char *key, size_t keylen)
{
    unsigned char h[32];
    if (!kf->nslots || keylen == 0)
        return NULL;
    sha256(key, keylen, h);
    size_t mask = kf->nslots - 1;
    for (size_t s = slot_of(h, mask); kf->slots[s]; s = (s + 1) & mask) {
        const llmgw_key *k = &kf->keys[kf->slots[s] - 1];
        if (CRYPTO_memcmp(k->hash, h, 32) == 0)
            return k;
    }
    return NULL;
}
