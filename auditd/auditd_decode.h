/* auditd_decode.h — decoding and validation of one NDJSON usage record (SPEC §7). */
#ifndef AUDITD_DECODE_H
#define AUDITD_DECODE_H

#include <jansson.h>
#include <stdint.h>

#include "auditd.h"

#define AUDITD_MAX_LINE      (1024 * 1024)  /* bytes in one NDJSON line */
#define AUDITD_MAX_ID        256            /* request_id */
#define AUDITD_MAX_STR       4096           /* every other string field */
#define AUDITD_MAX_BODY_TEXT (512 * 1024)   /* prompt / completion (LLMGWAuditBodies) */
#define AUDITD_MAX_ROLES     64
#define AUDITD_MAX_ROLE      1024
#define AUDITD_MAX_COST      1e8            /* numeric(20,12) holds less than this */
#define AUDITD_REASON_MAX    192

/* Accepted timestamps: [2000-01-01, 2100-01-01). The bound keeps a broken clock or a
 * hostile client from creating thousands of monthly partitions. */
#define AUDITD_MIN_YEAR 2000
#define AUDITD_MAX_YEAR 2099

/* The column order of an encoded row (auditd_encode.h); the ingest statement uses it. */
#define AUDITD_COLUMNS \
    "ts, request_id, user_id, email, team, roles, provider, model, endpoint, status, " \
    "stream, prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, " \
    "reasoning_tokens, total_tokens, cost_usd, latency_ms, ttft_ms, conversation_id, " \
    "client_ip, blocked_rule, redactions, node"
/* An encoded row's columns: the audit row plus the LLMGWAuditBodies texts. */
#define AUDITD_STAGE_COLUMNS AUDITD_COLUMNS ", prompt, completion"

typedef struct auditd_record {
    /* Exactly one of these owns every string below: the decoded copies of a line the
     * scanner judged (store, one allocation), or jansson's tree of any other (root). */
    char *store;
    json_t *root;
    const char *request_id;       /* set whenever the line had a string request_id */
    int64_t ts_us;                /* microseconds since the Unix epoch, UTC */
    int month;                    /* year*12 + month-1: selects the partition */
    const char *user, *email, *team, *provider, *model, *endpoint;
    const char *conversation_id, *client_ip, *blocked_rule, *node;   /* NULL = null */
    const char *prompt, *completion;        /* LLMGWAuditBodies on; NULL = not kept */
    const char *roles[AUDITD_MAX_ROLES];    /* the first nroles are set */
    size_t nroles;                /* 0: roles null, missing or [] (all stored as {}) */
    int64_t status, latency_ms, ttft_ms;       /* -1 = null */
    int stream;
    int64_t prompt_tokens, completion_tokens, cached_tokens;
    int64_t cache_write_tokens, reasoning_tokens, total_tokens;
    int64_t redactions;
    int has_cost;
    double cost_usd;
} auditd_record;

/* Decodes one line (without its '\n'). Returns 0 and fills rec, or -1 with a reason
 * ("field: problem") in reason. Either way call auditd_record_free afterwards.
 * Verdicts and reasons are those of json_loadb(…, JSON_REJECT_DUPLICATES) followed by
 * the field checks: lines the scanner judges VALID are read through views (the usual
 * case, no tree), every other line through jansson. */
int auditd_decode(const char *line, size_t len, auditd_record *rec,
                  char *reason, size_t reason_cap);
void auditd_record_free(auditd_record *rec);

/* auditd_decode's two readers, apart, for the differential tests. The scanner's returns
 * AUDITD_DECODE_UNDECIDED, with rec empty, for a line it leaves to jansson (not VALID
 * to the scanner, or a number it does not convert itself); jansson's decides any line. */
#define AUDITD_DECODE_UNDECIDED 1
int auditd_decode_views(const char *line, size_t len, auditd_record *rec,
                        char *reason, size_t reason_cap);
int auditd_decode_jansson(const char *line, size_t len, auditd_record *rec,
                          char *reason, size_t reason_cap);

/* Parses "2026-11-24T10:30:00.123Z" (also "+00:00", up to 6 fraction digits).
 * Returns 0 and sets *us and *month, or -1. */
int auditd_parse_ts(const char *s, int64_t *us, int *month);

#endif
