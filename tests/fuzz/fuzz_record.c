/* fuzz_record.c — the module→auditd contract end to end: a usage record with arbitrary
 * field bytes (header values, model names, prompts: anything a client or provider can
 * put there) is encoded by the module's llmgw_record_encode and decoded by auditd's
 * auditd_decode. Also the provider error bodies (llmgw_error_body) with arbitrary
 * messages.
 *
 * Input: [numbers x24] fields separated by NUL: request_id user email team provider
 * model endpoint conversation_id client_ip blocked_rule node prompt completion roles...
 * (request_id only seeds the 32 hex digits the module makes).
 * Invariants: the record always fits its line, is one line of valid JSON, and auditd
 * accepts it (numbers are generated within the ranges the module produces); strings
 * that are valid UTF-8 within the module's limits come back byte for byte; an error
 * body is valid JSON in the provider's shape whatever the message. */
#include "fuzz_common.h"

#include <math.h>

#include "auditd_decode.h"
#include "llmgw_provider.h"
#include "llmgw_record.h"

static int utf8_plain(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        return 0;
    json_t *j = json_stringn(s, n);      /* jansson validates UTF-8 */
    int ok = j != NULL;
    json_decref(j);
    return ok;
}

static void same_str(const char *got, const char *want, size_t max, const char *name)
{
    if (!want) {
        FUZZ_CHECK(!got, "%s: null expected", name);
        return;
    }
    FUZZ_CHECK(got != NULL, "%s: string expected", name);
    if (utf8_plain(want, max))
        FUZZ_CHECK(!strcmp(got, want), "%s changed in transit", name);
    else
        FUZZ_CHECK(strlen(got) <= 3 * strlen(want) + 3, "%s grew", name);
}

static void error_bodies(const char *msg)
{
    char buf[2048];             /* what mod_llmgw_reply.c gives it */
    for (int t = 0; t < LLMGW_PT_COUNT; t++) {
        static const int st[] = {400, 401, 403, 413, 429, 500, 502, 503, 504};
        int status = st[(t + (int)strlen(msg)) % 9];
        size_t n = llmgw_error_body((llmgw_ptype)t, status, msg, buf, sizeof buf);
        FUZZ_CHECK(n < sizeof buf && buf[n] == '\0', "error body bounds");
        json_error_t je;
        json_t *j = json_loadb(buf, n, 0, &je);
        FUZZ_CHECK(j && json_is_object(j), "error body for type %d is not JSON: %s (%s)", t,
                   je.text, buf);
        json_t *e = json_object_get(j, "error");
        if (strlen(msg) <= 300)     /* module messages are short; longer may become {} */
            FUZZ_CHECK(json_is_object(e) && json_is_string(json_object_get(e, "message")),
                       "error.message missing for type %d", t);
        json_decref(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    fuzz_arena ar = {0};
    llmgw_record r;
    memset(&r, 0, sizeof r);
    /* 2000-01-01 .. 2099-12-31, what auditd accepts */
    r.ts_ms = 946684800000LL + (int64_t)((uint64_t)fuzz_u16(&in) << 24 | fuzz_u16(&in) << 8 |
                                         fuzz_byte(&in)) % 3155760000000LL;
    r.status = fuzz_u16(&in) % 1000;
    r.stream = fuzz_byte(&in) & 1;
    int64_t *tok[] = {&r.prompt_tokens, &r.completion_tokens, &r.cached_tokens,
                      &r.cache_write_tokens, &r.reasoning_tokens};
    for (int i = 0; i < 5; i++)
        *tok[i] = (int64_t)(((uint64_t)fuzz_u16(&in) << 24 | fuzz_u16(&in)) % 1000000000001ULL);
    r.total_tokens = r.prompt_tokens + r.completion_tokens;
    r.has_cost = fuzz_byte(&in) & 1;
    r.cost_pico = (int64_t)((uint64_t)fuzz_u16(&in) << 32 | (uint64_t)fuzz_u16(&in) << 16 |
                            fuzz_u16(&in));
    r.latency_ms = fuzz_u16(&in);
    r.ttft_ms = fuzz_u16(&in);      /* the module writes 0 when unknown, never -1 */
    r.redactions = fuzz_byte(&in);

    const char **f[] = {&r.request_id, &r.user, &r.email, &r.team, &r.provider, &r.model,
                        &r.endpoint, &r.conversation_id, &r.client_ip, &r.blocked_rule,
                        &r.node, &r.prompt, &r.completion};
    unsigned nulls = fuzz_u16(&in);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char *v = fuzz_field(&in, &ar, '\0', NULL);
        *f[i] = (nulls >> i & 1) && i ? NULL : v;
    }
    /* the module makes the id itself: 32 hex digits (llmgw_new_request_id) */
    char rid[33];
    for (int i = 0; i < 32; i++)
        rid[i] = "0123456789abcdef"[(r.request_id[i % (strlen(r.request_id) + 1)] + i) & 15];
    rid[32] = '\0';
    r.request_id = rid;
    r.prompt_len = r.prompt ? strlen(r.prompt) : 0;
    r.completion_len = r.completion ? strlen(r.completion) : 0;
    while (in.n && r.nroles < LLMGW_RECORD_MAX_ROLES)
        r.roles[r.nroles++] = fuzz_field(&in, &ar, '\0', NULL);

    size_t cap = LLMGW_RECORD_MAX_LINE + llmgw_record_bodies_room(&r);
    char *line = malloc(cap);
    size_t n = llmgw_record_encode(&r, line, cap);
    FUZZ_CHECK(n > 0, "record did not fit %zu bytes", cap);
    FUZZ_CHECK(line[n - 1] == '\n' && memchr(line, '\n', n) == line + n - 1, "not one line");

    auditd_record rec;
    char reason[AUDITD_REASON_MAX] = "";
    int rc = auditd_decode(line, n - 1, &rec, reason, sizeof reason);
    FUZZ_CHECK(rc == 0, "auditd refused the module's record: %s\n%s", reason, line);
    same_str(rec.request_id, r.request_id, 256, "request_id");
    same_str(rec.user, r.user, 256, "user");
    same_str(rec.email, r.email, 256, "email");
    same_str(rec.team, r.team, 256, "team");
    same_str(rec.provider, r.provider, 256, "provider");
    same_str(rec.model, r.model, 256, "model");
    same_str(rec.endpoint, r.endpoint, 256, "endpoint");
    same_str(rec.conversation_id, r.conversation_id, 256, "conversation_id");
    same_str(rec.client_ip, r.client_ip, 256, "client_ip");
    same_str(rec.blocked_rule, r.blocked_rule, 256, "blocked_rule");
    same_str(rec.node, r.node, 256, "node");
    if (r.prompt || r.completion) {
        same_str(rec.prompt, r.prompt ? r.prompt : NULL, (size_t)-1, "prompt");
        same_str(rec.completion, r.completion, (size_t)-1, "completion");
    }
    FUZZ_CHECK(rec.ts_us == r.ts_ms * 1000, "timestamp");
    FUZZ_CHECK(rec.status == r.status && rec.stream == r.stream, "status/stream");
    FUZZ_CHECK(rec.prompt_tokens == r.prompt_tokens && rec.completion_tokens ==
               r.completion_tokens && rec.cached_tokens == r.cached_tokens &&
               rec.cache_write_tokens == r.cache_write_tokens &&
               rec.reasoning_tokens == r.reasoning_tokens && rec.total_tokens == r.total_tokens,
               "tokens");
    FUZZ_CHECK(rec.latency_ms == r.latency_ms && rec.ttft_ms == r.ttft_ms &&
               rec.redactions == r.redactions, "times");
    FUZZ_CHECK(rec.has_cost == r.has_cost, "cost presence");
    if (r.has_cost) {
        double want = (double)r.cost_pico / 1e12;
        FUZZ_CHECK(fabs(rec.cost_usd - want) <= 1e-9 * (want > 1 ? want : 1), "cost %.12f vs %.12f",
                   rec.cost_usd, want);
    }
    FUZZ_CHECK((size_t)r.nroles == rec.nroles, "roles");
    for (int i = 0; i < r.nroles; i++)
        same_str(rec.roles[i], r.roles[i], 64, "role");
    auditd_record_free(&rec);

    error_bodies(r.model ? r.model : "");
    free(line);
    fuzz_arena_free(&ar);
    return 0;
}
