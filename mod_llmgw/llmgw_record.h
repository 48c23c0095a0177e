/* llmgw_record.h — the usage record (SPEC §7): one per request, encoded as one NDJSON
 * line by the module and decoded by llmgw-auditd. Part of the core library. */
#ifndef LLMGW_RECORD_H
#define LLMGW_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define LLMGW_RECORD_MAX_ROLES 32
#define LLMGW_RECORD_MAX_LINE  32768   /* an encoded record never exceeds this */

typedef struct llmgw_record {
    int64_t ts_ms;                    /* Unix time in milliseconds (UTC) */
    const char *request_id;
    const char *user, *email, *team;  /* NULL = unknown */
    const char *roles[LLMGW_RECORD_MAX_ROLES];
    int nroles;
    const char *provider, *model, *endpoint;
    int status;
    int stream;
    int64_t prompt_tokens, completion_tokens, cached_tokens;
    int64_t cache_write_tokens, reasoning_tokens, total_tokens;
    int has_cost;                     /* 0: cost_usd is null (no price matched) */
    int64_t cost_pico;                /* cost in 1e-12 USD, exact */
    int64_t latency_ms, ttft_ms;
    const char *conversation_id, *client_ip, *blocked_rule;
    int redactions;
    const char *node;
    /* LLMGWAuditBodies on: texts stored apart from the audit row; NULL = not kept */
    const char *prompt, *completion;
    size_t prompt_len, completion_len;
} llmgw_record;

/* Encodes r as one JSON object followed by '\n' into buf. Returns the length written,
 * or 0 when it does not fit in cap (cap should be LLMGW_RECORD_MAX_LINE, plus
 * llmgw_record_bodies_room() when prompt/completion are set). Strings are escaped;
 * over-long strings are truncated so one record always fits. */
size_t llmgw_record_encode(const llmgw_record *r, char *buf, size_t cap);

/* Extra line bytes prompt and completion can need once escaped. */
size_t llmgw_record_bodies_room(const llmgw_record *r);

/* Formats a time in ms as "2026-11-24T10:30:00.123Z" into buf (cap >= 25). */
void llmgw_format_ts(int64_t ts_ms, char *buf, size_t cap);

#endif
