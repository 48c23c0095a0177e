/* llmgw_usage.h — token usage extraction from provider responses, whole bodies and
 * single SSE events, with the token semantics of SPEC §7 (prompt includes cache,
 * completion includes reasoning, repeated stream figures replace, never add).
 * Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_USAGE_H
#define LLMGW_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "llmgw_provider.h"

/* Token figures are clamped to [0, LLMGW_TOKENS_MAX] so sums never overflow. */
#define LLMGW_TOKENS_MAX ((int64_t)1000000000000000)  /* 1e15 */

typedef struct llmgw_usage {
    int64_t prompt;         /* every input token billed, cache included */
    int64_t completion;     /* every output token billed, reasoning included */
    int64_t cached;         /* ⊆ prompt: read from cache */
    int64_t cache_write;    /* ⊆ prompt: written to cache (Anthropic) */
    int64_t cache_write_1h; /* ⊆ cache_write: Anthropic one-hour cache writes */
    int64_t reasoning;      /* ⊆ completion */
    char model[128];        /* model the provider says answered; "" if unknown */
    int seen;               /* 1 once any usage figure was found */
    /* additions */
    int final;              /* 1 once the provider's closing usage arrived */
    int64_t raw_input;      /* Anthropic input_tokens (uncached part), kept so a
                               partial message_delta can recompute prompt */
    char response_id[128];  /* provider's response id ("chatcmpl-…", "msg_…"), "" if none */
} llmgw_usage;

/* Zeroes u. */
void llmgw_usage_init(llmgw_usage *u);

/* Non-streaming response body. Returns 0 when body is JSON (usage found or not:
 * u->seen tells), -1 when it is not JSON (u untouched). Usage fields present in
 * the body replace those in u; a field missing from a usage object is 0.
 * Handles OpenAI chat/completions, Responses and embeddings (also for azure and
 * openai-compatible), Anthropic messages and Gemini generateContent (also the JSON
 * array form of streamGenerateContent). type=http has no accounting: returns 0
 * without looking at the body. */
int llmgw_usage_from_json(llmgw_ptype t, const char *body, size_t len, llmgw_usage *u);

/* One SSE event of a streaming response (event type and data as the SSE parser
 * dispatched them). Updates u when the event carries usage; events that cannot
 * carry usage are rejected by a substring test before any JSON parsing. */
void llmgw_usage_from_event(llmgw_ptype t, const char *event, size_t elen,
                            const char *data, size_t dlen, llmgw_usage *u);

/* 1 for an OpenAI chat chunk whose "choices" is an empty array and whose "usage"
 * is not null: the chunk the gateway itself asked for with include_usage. */
int llmgw_usage_is_usage_only_chunk(const char *data, size_t dlen);

/* prompt + completion (SPEC §7 total_tokens). */
int64_t llmgw_usage_total(const llmgw_usage *u);

#endif
