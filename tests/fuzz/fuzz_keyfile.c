/* fuzz_keyfile.c — the gateway key file parser (LLMGWKeyFile) and the lookup.
 *
 * Input: key file text; every "@KEY@" in it becomes "sha256:" and the hex digest of the
 * text's first line, so generated key lines can match a key the lookup then presents.
 * Invariants: a parse either fails with a "line N: ..." message or yields keys that
 * each have a user, at most LLMGW_KEY_MAX_LIST roles and LLMGW_KEY_MAX_DELEGATE delegate
 * headers, and an index in which every key is found by its own digest; the lookup of
 * an arbitrary string (the text's first line) never crashes. Allocations come from an
 * arena with a limit, so out-of-memory paths run too. */
#include "fuzz_common.h"

#include <openssl/sha.h>

#include "llmgw_keyfile.h"

static void *arena_fn(void *ctx, size_t n)
{
    return fuzz_arena_alloc(ctx, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    fuzz_arena arena = {0};
    /* 1 in 8 inputs runs with a small memory limit to reach the failure paths */
    arena.limit = size && data[0] % 8 == 0 ? 64 + data[size - 1] * 64u : 0;
    llmgw_alloc a = {arena_fn, &arena};
    llmgw_keyfile kf;
    char err[256];
    err[0] = '\0';

    /* the first line is the key presented to the lookup */
    const uint8_t *nl = memchr(data, '\n', size);
    size_t klen = nl ? (size_t)(nl - data) : size;
    char *key = fuzz_dup_exact(data, klen);
    char hex[65], *text = malloc(size * 15 + 1);
    llmgw_sha256_hex(key, klen, hex);
    size_t tlen = 0;
    for (size_t i = 0; i < size;) {
        if (size - i >= 5 && !memcmp(data + i, "@KEY@", 5)) {
            memcpy(text + tlen, "sha256:", 7);
            memcpy(text + tlen + 7, hex, 64);
            tlen += 71;
            i += 5;
        } else {
            text[tlen++] = (char)data[i++];
        }
    }
    int rc = llmgw_keyfile_parse(text, tlen, &a, &kf, err, sizeof err);
    if (rc < 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof err) && !strncmp(err, "line ", 5),
                   "error message '%s'", err);
    } else {
        FUZZ_CHECK(kf.nslots >= 2 * kf.nkeys && (kf.nslots & (kf.nslots - 1)) == 0,
                   "index size %zu for %zu keys", kf.nslots, kf.nkeys);
        for (size_t i = 0; i < kf.nkeys; i++) {
            const llmgw_key *k = &kf.keys[i];
            FUZZ_CHECK(k->user != NULL, "key %zu without user", i);
            FUZZ_CHECK(k->nroles >= 0 && k->nroles <= LLMGW_KEY_MAX_LIST, "roles");
            FUZZ_CHECK(k->ndelegate >= 0 && k->ndelegate <= LLMGW_KEY_MAX_DELEGATE, "delegate");
            for (int j = 0; j < k->nroles; j++)
                FUZZ_CHECK(k->roles[j] && k->roles[j][0], "empty role");
            /* the index finds every key by its digest (the probe loop, not the hash) */
            int found = 0;
            size_t mask = kf.nslots - 1, s;
            uint64_t v;
            memcpy(&v, k->hash, sizeof v);
            for (s = (size_t)v & mask; kf.slots[s]; s = (s + 1) & mask)
                if (&kf.keys[kf.slots[s] - 1] == k) {
                    found = 1;
                    break;
                }
            FUZZ_CHECK(found, "key %zu missing from the index", i);
        }
        unsigned char h[32];
        SHA256((const unsigned char *)key, klen, h);
        const llmgw_key *k = llmgw_keyfile_lookup(&kf, key, klen);
        if (k)
            FUZZ_CHECK(!memcmp(h, k->hash, 32), "lookup returned a key with another digest");
        int listed = 0;
        for (size_t i = 0; i < kf.nkeys; i++)
            listed |= !memcmp(kf.keys[i].hash, h, 32);
        FUZZ_CHECK(!listed || k || klen == 0, "a listed key was not found");
    }
    free(key);
    free(text);
    fuzz_arena_free(&arena);
    return 0;
}
