/* llmgw_keyfile.h — gateway keys (SPEC §5): the key file holds one line per key with
 * the key's SHA-256, never the key itself; lookup hashes the presented key and compares
 * digests in constant time. Part of the core library. */
#ifndef LLMGW_KEYFILE_H
#define LLMGW_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

/* Memory for long-lived parse results comes from the caller (an APR pool in httpd). */
typedef struct {
    void *(*fn)(void *ctx, size_t n);
    void *ctx;
} llmgw_alloc;

#define LLMGW_KEY_MAX_LIST 32        /* roles per key line */
/* delegate= names, in this order, the headers carrying the end user's id, e-mail,
 * roles and team: a fifth name would mean nothing, so it is an error, not ignored */
#define LLMGW_KEY_MAX_DELEGATE 4
#define LLMGW_KEYFILE_MAX_KEYS 1000000

typedef struct {
    unsigned char hash[32];
    const char *user, *email, *team;
    const char *roles[LLMGW_KEY_MAX_LIST];
    int nroles;
    const char *delegate[LLMGW_KEY_MAX_DELEGATE];   /* header names, in key-file order */
    int ndelegate;
    int line;
} llmgw_key;

typedef struct {
    llmgw_key *keys;
    size_t nkeys;
    uint32_t *slots;    /* open-addressing index: key index + 1, 0 = empty */
    size_t nslots;      /* power of two, at least 2 × nkeys */
} llmgw_keyfile;

/* Parses the whole file text. On error returns -1 and writes "line N: why" to err. */
int llmgw_keyfile_parse(const char *text, size_t len, const llmgw_alloc *a,
                        llmgw_keyfile *kf, char *err, size_t errcap);

/* The entry for a presented key, or NULL. */
const llmgw_key *llmgw_keyfile_lookup(const llmgw_keyfile *kf, const char *key, size_t keylen);

/* SHA-256 of data (the digest fetched once per process). */
void llmgw_sha256(const void *data, size_t len, unsigned char out[32]);

/* SHA-256 of data as 64 lower-case hex characters plus NUL. */
void llmgw_sha256_hex(const void *data, size_t len, char out[65]);

/* Splits "a,b,c" into at most max parts allocated from a; returns the count or -1. */
int llmgw_split_list(const char *s, const llmgw_alloc *a, const char **out, int max);

#endif
