/* fuzz_usage_json.c — usage extraction from whole (non-streamed) response bodies, for
 * every provider type, as the observer filter runs it at EOS on the captured body.
 *
 * Input: [provider type] body...
 * Invariants: token figures in [0, LLMGW_TOKENS_MAX] and the model/id strings
 * terminated, whatever the body; a body that is not JSON leaves the figures untouched;
 * extracting twice from the same body gives the same figures (replace, never add). */
#include "fuzz_common.h"

#include "llmgw_usage.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    llmgw_ptype type = (llmgw_ptype)(fuzz_byte(&in) % LLMGW_PT_COUNT);
    const char *body = (const char *)in.p;

    llmgw_usage u, again;
    llmgw_usage_init(&u);
    int rc = llmgw_usage_from_json(type, body, in.n, &u);
    check_usage(&u);
    if (rc < 0) {
        llmgw_usage zero;
        llmgw_usage_init(&zero);
        FUZZ_CHECK(!memcmp(&u, &zero, sizeof u), "a non-JSON body changed the usage");
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
    return 0;
}
