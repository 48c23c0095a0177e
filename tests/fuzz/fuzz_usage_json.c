/* fuzz_usage_json.c — usage extraction from whole (non-streamed) response bodies, for
 * every provider type, as the observer filter runs it at EOS on the captured body.
 *
 * Input: [provider type] body...
 * Invariants: token figures in [0, LLMGW_TOKENS_MAX] and the model/id strings
 * terminated, whatever the body; a body that is not JSON leaves the figures untouched;
 * extracting twice from the same body gives the same figures (replace, never add);
 * the result (return code and every byte of the usage) is what the jansson
 * implementation the views replaced (usage_reference.h) gives, from a zero start and
 * from one with every field set. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* memmem, in the reference */
#endif
#include "fuzz_common.h"

#include "llmgw_usage.h"
#include "usage_reference.h"

static void check_usage(const llmgw_usage *u)
{
    const int64_t *f[] = {&u->prompt, &u->completion, &u->cached, &u->cache_write,
                          &u->cache_write_1h, &u->reasoning, &u->raw_input};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        FUZZ_CHECK(*f[i] >= 0 && *f[i] <= LLMGW_TOKENS_MAX, "field %zu = %lld", i,
                   (long long)*f[i]);
    FUZZ_CHECK(memchr(u->model, '\0', sizeof u->model) != NULL, "model not terminated");
    FUZZ_CHECK(memchr(u->response_id, '\0', sizeof u->response_id) != NULL, "id not terminated");
    FUZZ_CHECK(llmgw_usage_total(u) >= 0 && llmgw_usage_total(u) <= 2 * LLMGW_TOKENS_MAX,
               "total");
}

/* From the state in *start, the views and the reference agree byte for byte. */
static void check_reference(llmgw_ptype type, const char *body, size_t n,
                            const llmgw_usage *start)
{
    llmgw_usage a = *start, b = *start;
    int ra = llmgw_usage_from_json(type, body, n, &a);
    int rb = ref_usage_from_json(type, body, n, &b);
    FUZZ_CHECK(ra == rb, "rc %d, reference %d", ra, rb);
    FUZZ_CHECK(!memcmp(&a, &b, sizeof a), "usage differs from the jansson reference "
               "(prompt %lld/%lld, completion %lld/%lld, cached %lld/%lld, model %s/%s)",
               (long long)a.prompt, (long long)b.prompt, (long long)a.completion,
               (long long)b.completion, (long long)a.cached, (long long)b.cached, a.model,
               b.model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    llmgw_ptype type = (llmgw_ptype)(fuzz_byte(&in) % LLMGW_PT_COUNT);
    /* an exact heap copy: ASan reports any read past the body */
    char *body = fuzz_dup_exact(in.p, in.n);

    llmgw_usage u, again, dirty;
    llmgw_usage_init(&u);
    check_reference(type, body, in.n, &u);
    llmgw_usage_init(&dirty);
    dirty.prompt = dirty.completion = dirty.cached = dirty.cache_write = 7;
    dirty.cache_write_1h = dirty.reasoning = dirty.raw_input = 7;
    dirty.seen = 1;
    strcpy(dirty.model, "keep");
    strcpy(dirty.response_id, "keep-id");
    check_reference(type, body, in.n, &dirty);
    int rc = llmgw_usage_from_json(type, body, in.n, &u);
    check_usage(&u);
    if (rc < 0) {
        llmgw_usage zero;
        llmgw_usage_init(&zero);
        FUZZ_CHECK(!memcmp(&u, &zero, sizeof u), "a non-JSON body changed the usage");
        free(body);
        return 0;
    }
    again = u;
    FUZZ_CHECK(llmgw_usage_from_json(type, body, in.n, &again) == 0, "second parse failed");
    check_usage(&again);
    /* a whole body defines every figure it reports: repeating it changes nothing */
    FUZZ_CHECK(again.prompt == u.prompt && again.completion == u.completion &&
               again.cached == u.cached && again.cache_write == u.cache_write &&
               again.reasoning == u.reasoning && again.seen == u.seen,
               "figures changed on a repeated body");
    free(body);
    return 0;
}
