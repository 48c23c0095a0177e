/* auditd_decode_reference.h — the jansson decoder of usage records that llmgw-auditd
 * used before it read lines with llmgw_json_scan and views (auditd_decode.c), kept
 * verbatim apart from names as the reference the replacement is compared with: verdict,
 * reason and every field of every line must be the same (tests/unit/test_decode.c and
 * fuzz_auditd_decode.c). Test-only; header-only so each user compiles its own copy. */
#ifndef AUDITD_DECODE_REFERENCE_H
#define AUDITD_DECODE_REFERENCE_H

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auditd_decode.h"

#define MAX_TOKENS  1000000000000000LL
#define MAX_MS      1000000000000LL
#define MAX_STATUS  999
#define MAX_INT32   2147483647LL

/* The record as the old decoder filled it: strings and roles borrowed from root. */
typedef struct ref_record {
    json_t *root;
    const char *request_id;
    int64_t ts_us;
    int month;
    const char *user, *email, *team, *provider, *model, *endpoint;
    const char *conversation_id, *client_ip, *blocked_rule, *node;
    const char *prompt, *completion;
    json_t *roles;
    int64_t status, latency_ms, ttft_ms;
    int stream;
    int64_t prompt_tokens, completion_tokens, cached_tokens;
    int64_t cache_write_tokens, reasoning_tokens, total_tokens;
    int64_t redactions;
    int has_cost;
    double cost_usd;
} ref_record;

static int ref_fail(char *reason, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ref_fail(char *reason, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- field getters ---------------------------------------------------------------- */

static int ref_get_str(json_t *o, const char *key, size_t max, const char **out,
                   char *reason, size_t cap)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return ref_fail(reason, cap, "%s: must be a string or null", key);
    size_t n = json_string_length(v);
    if (n > max) return ref_fail(reason, cap, "%s: longer than %zu bytes", key, max);
    if (memchr(json_string_value(v), '\0', n))
        return ref_fail(reason, cap, "%s: contains a NUL character", key);
    *out = json_string_value(v);
    return 0;
}

/* Missing or null gives dflt; anything but a non-negative integer up to max is refused.
 * Numbers inside strings ("42") are refused too: the module never sends them. */
static int ref_get_int(json_t *o, const char *key, int64_t dflt, int64_t max, int64_t *out,
                   char *reason, size_t cap)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return ref_fail(reason, cap, "%s: must be an integer", key);
    json_int_t n = json_integer_value(v);
    if (n < 0) return ref_fail(reason, cap, "%s: must not be negative", key);
    if (n > max) return ref_fail(reason, cap, "%s: larger than %lld", key, (long long)max);
    *out = n;
    return 0;
}

static int ref_get_bool(json_t *o, const char *key, int *out, char *reason, size_t cap)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return ref_fail(reason, cap, "%s: must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int ref_get_cost(json_t *o, ref_record *rec, char *reason, size_t cap)
{
    json_t *v = json_object_get(o, "cost_usd");
    rec->has_cost = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return ref_fail(reason, cap, "cost_usd: must be a number or null");
    double d = json_number_value(v);
    if (!(d >= 0)) return ref_fail(reason, cap, "cost_usd: must not be negative");
    if (d >= AUDITD_MAX_COST) return ref_fail(reason, cap, "cost_usd: too large");
    rec->has_cost = 1;
    rec->cost_usd = d;
    return 0;
}

static int ref_get_roles(json_t *o, ref_record *rec, char *reason, size_t cap)
{
    json_t *v = json_object_get(o, "roles");
    size_t i;
    json_t *role;

    rec->roles = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v)) return ref_fail(reason, cap, "roles: must be an array of strings");
    if (json_array_size(v) > AUDITD_MAX_ROLES)
        return ref_fail(reason, cap, "roles: more than %d entries", AUDITD_MAX_ROLES);
    json_array_foreach(v, i, role) {
        if (!json_is_string(role))
            return ref_fail(reason, cap, "roles: must be an array of strings");
        size_t n = json_string_length(role);
        if (n > AUDITD_MAX_ROLE)
            return ref_fail(reason, cap, "roles: an entry is longer than %d bytes", AUDITD_MAX_ROLE);
        if (memchr(json_string_value(role), '\0', n))
            return ref_fail(reason, cap, "roles: an entry contains a NUL character");
    }
    rec->roles = v;
    return 0;
}

/* ---- the record ------------------------------------------------------------------- */

static int ref_decode_identity(json_t *o, ref_record *rec, char *reason, size_t cap)
{
    json_t *id = json_object_get(o, "request_id");
    if (!id || json_is_null(id)) return ref_fail(reason, cap, "request_id: missing");
    if (!json_is_string(id)) return ref_fail(reason, cap, "request_id: must be a string");
    rec->request_id = json_string_value(id);
    size_t n = json_string_length(id);
    if (n == 0) return ref_fail(reason, cap, "request_id: empty");
    if (n > AUDITD_MAX_ID)
        return ref_fail(reason, cap, "request_id: longer than %d bytes", AUDITD_MAX_ID);
    if (memchr(rec->request_id, '\0', n))
        return ref_fail(reason, cap, "request_id: contains a NUL character");

    json_t *ts = json_object_get(o, "timestamp");
    if (!ts || json_is_null(ts)) return ref_fail(reason, cap, "timestamp: missing");
    if (!json_is_string(ts)) return ref_fail(reason, cap, "timestamp: must be a string");
    if (auditd_parse_ts(json_string_value(ts), &rec->ts_us, &rec->month))
        return ref_fail(reason, cap, "timestamp: not ISO-8601 UTC between %d and %d "
                    "(like 2026-11-24T10:30:00.123Z)", AUDITD_MIN_YEAR, AUDITD_MAX_YEAR);
    return 0;
}

static int ref_decode_strings(json_t *o, ref_record *rec, char *reason, size_t cap)
{
    const size_t max = AUDITD_MAX_STR;
    if (ref_get_str(o, "user", max, &rec->user, reason, cap)
        || ref_get_str(o, "email", max, &rec->email, reason, cap)
        || ref_get_str(o, "team", max, &rec->team, reason, cap)
        || ref_get_str(o, "provider", max, &rec->provider, reason, cap)
        || ref_get_str(o, "model", max, &rec->model, reason, cap)
        || ref_get_str(o, "endpoint", max, &rec->endpoint, reason, cap)
        || ref_get_str(o, "conversation_id", max, &rec->conversation_id, reason, cap)
        || ref_get_str(o, "client_ip", max, &rec->client_ip, reason, cap)
        || ref_get_str(o, "blocked_rule", max, &rec->blocked_rule, reason, cap)
        || ref_get_str(o, "node", max, &rec->node, reason, cap)
        || ref_get_str(o, "prompt", AUDITD_MAX_BODY_TEXT, &rec->prompt, reason, cap)
        || ref_get_str(o, "completion", AUDITD_MAX_BODY_TEXT, &rec->completion, reason, cap))
        return -1;
    return ref_get_roles(o, rec, reason, cap);
}

static int ref_decode_numbers(json_t *o, ref_record *rec, char *reason, size_t cap)
{
    if (ref_get_int(o, "status", -1, MAX_STATUS, &rec->status, reason, cap)
        || ref_get_int(o, "prompt_tokens", 0, MAX_TOKENS, &rec->prompt_tokens, reason, cap)
        || ref_get_int(o, "completion_tokens", 0, MAX_TOKENS, &rec->completion_tokens, reason, cap)
        || ref_get_int(o, "cached_tokens", 0, MAX_TOKENS, &rec->cached_tokens, reason, cap)
        || ref_get_int(o, "cache_write_tokens", 0, MAX_TOKENS, &rec->cache_write_tokens, reason, cap)
        || ref_get_int(o, "reasoning_tokens", 0, MAX_TOKENS, &rec->reasoning_tokens, reason, cap)
        || ref_get_int(o, "latency_ms", -1, MAX_MS, &rec->latency_ms, reason, cap)
        || ref_get_int(o, "ttft_ms", -1, MAX_MS, &rec->ttft_ms, reason, cap)
        || ref_get_int(o, "redactions", 0, MAX_INT32, &rec->redactions, reason, cap)
        || ref_get_bool(o, "stream", &rec->stream, reason, cap)
        || ref_get_cost(o, rec, reason, cap))
        return -1;
    /* SPEC: total = prompt + completion; a record without it gets exactly that. */
    int64_t total_default = rec->prompt_tokens + rec->completion_tokens;
    return ref_get_int(o, "total_tokens", total_default, 2 * MAX_TOKENS, &rec->total_tokens,
                   reason, cap);
}

static int ref_decode(const char *line, size_t len, ref_record *rec,
                  char *reason, size_t cap)
{
    json_error_t jerr;

    memset(rec, 0, sizeof *rec);
    if (len > AUDITD_MAX_LINE)
        return ref_fail(reason, cap, "line longer than %d bytes", AUDITD_MAX_LINE);
    rec->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!rec->root) return ref_fail(reason, cap, "invalid JSON: %s", jerr.text);
    if (!json_is_object(rec->root)) return ref_fail(reason, cap, "not a JSON object");
    if (ref_decode_identity(rec->root, rec, reason, cap)
        || ref_decode_strings(rec->root, rec, reason, cap)
        || ref_decode_numbers(rec->root, rec, reason, cap))
        return -1;
    return 0;
}

static void ref_record_free(ref_record *rec)
{
    if (rec->root) json_decref(rec->root);
    memset(rec, 0, sizeof *rec);
}

/* ---- comparing a decoder with the reference -------------------------------------- */

static int ref_same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The first difference between the reference's verdict, reason and record and those of
 * auditd_decode (or one of its readers), as a field name; NULL when they agree. */
static const char *ref_differs(int want_rc, const char *want_reason, const ref_record *w,
                               int rc, const char *reason, const auditd_record *r)
{
    if (rc != want_rc) return "verdict";
    if (rc && strcmp(reason, want_reason)) return "reason";
    if (!ref_same_str(r->request_id, w->request_id)) return "request_id";
    if (rc) return NULL;
    const char *const got_s[] = {r->user, r->email, r->team, r->provider, r->model,
        r->endpoint, r->conversation_id, r->client_ip, r->blocked_rule, r->node, r->prompt,
        r->completion};
    const char *const want_s[] = {w->user, w->email, w->team, w->provider, w->model,
        w->endpoint, w->conversation_id, w->client_ip, w->blocked_rule, w->node, w->prompt,
        w->completion};
    for (size_t i = 0; i < sizeof got_s / sizeof got_s[0]; i++)
        if (!ref_same_str(got_s[i], want_s[i])) return "a string field";
    if (r->ts_us != w->ts_us || r->month != w->month) return "timestamp";
    if (r->nroles != (w->roles ? json_array_size(w->roles) : 0)) return "roles count";
    for (size_t i = 0; i < r->nroles; i++)
        if (strcmp(r->roles[i], json_string_value(json_array_get(w->roles, i))))
            return "a role";
    if (r->status != w->status || r->latency_ms != w->latency_ms || r->ttft_ms != w->ttft_ms
        || r->stream != w->stream || r->redactions != w->redactions)
        return "status, times, stream or redactions";
    if (r->prompt_tokens != w->prompt_tokens || r->completion_tokens != w->completion_tokens
        || r->cached_tokens != w->cached_tokens
        || r->cache_write_tokens != w->cache_write_tokens
        || r->reasoning_tokens != w->reasoning_tokens || r->total_tokens != w->total_tokens)
        return "tokens";
    if (r->has_cost != w->has_cost
        || (r->has_cost && memcmp(&r->cost_usd, &w->cost_usd, sizeof r->cost_usd)))
        return "cost_usd";   /* bit for bit: -0.0 is not 0.0 */
    return NULL;
}

#undef MAX_TOKENS
#undef MAX_MS
#undef MAX_STATUS
#undef MAX_INT32

#endif
