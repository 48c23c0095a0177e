/* auditd_decode.c — turns one NDJSON usage record into validated fields (auditd_encode.c
 * makes the PostgreSQL row of them). Every problem is reported as "field: reason" so the
 * client can tell which record, and why, was rejected while the rest of its batch is
 * stored. */
#include "auditd_decode.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_TOKENS  1000000000000000LL   /* 1e15: the module clamps its figures to this (LLMGW_TOKENS_MAX) */
#define MAX_MS      1000000000000LL
#define MAX_STATUS  999
#define MAX_INT32   2147483647LL

static int fail(char *reason, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *reason, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- timestamps ------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Reads exactly n digits. */
static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_zone(const char *p)
{
    return strcmp(p, "Z") == 0 || strcmp(p, "z") == 0 || strcmp(p, "+00:00") == 0
        || strcmp(p, "+0000") == 0 || strcmp(p, "+00") == 0 ? 0 : -1;
}

int auditd_parse_ts(const char *s, int64_t *us, int *month)
{
    int Y, M, D, h, mi, sec;
    if (strlen(s) < 20) return -1;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-'
        || digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        || digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi)
        || s[16] != ':' || digits(s + 17, 2, &sec))
        return -1;

    const char *p = s + 19;
    int frac = 0, nfrac = 0;
    if (*p == '.') {
        /* Up to nanoseconds accepted, microseconds kept: what timestamptz stores. */
        for (p++; *p >= '0' && *p <= '9'; p++, nfrac++)
            if (nfrac < 6) frac = frac * 10 + (*p - '0');
        if (nfrac == 0 || nfrac > 9) return -1;
        for (int i = nfrac; i < 6; i++) frac *= 10;
    }
    if (parse_zone(p)) return -1;
    if (Y < AUDITD_MIN_YEAR || Y > AUDITD_MAX_YEAR || M < 1 || M > 12 || D < 1
        || D > days_in_month(Y, M) || h > 23 || mi > 59 || sec > 59)
        return -1;

    int64_t secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec;
    *us = secs * 1000000 + frac;
    *month = Y * 12 + (M - 1);
    return 0;
}

/* ---- field getters ---------------------------------------------------------------- */

static int get_str(json_t *o, const char *key, size_t max, const char **out,
                   char *reason, size_t cap)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return fail(reason, cap, "%s: must be a string or null", key);
    size_t n = json_string_length(v);
    if (n > max) return fail(reason, cap, "%s: longer than %zu bytes", key, max);
    if (memchr(json_string_value(v), '\0', n))
        return fail(reason, cap, "%s: contains a NUL character", key);
    *out = json_string_value(v);
    return 0;
}

/* Missing or null gives dflt; anything but a non-negative integer up to max is refused.
 * Numbers inside strings ("42") are refused too: the module never sends them. */
static int get_int(json_t *o, const char *key, int64_t dflt, int64_t max, int64_t *out,
                   char *reason, size_t cap)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return fail(reason, cap, "%s: must be an integer", key);
    json_int_t n = json_integer_value(v);
    if (n < 0) return fail(reason, cap, "%s: must not be negative", key);
    if (n > max) return fail(reason, cap, "%s: larger than %lld", key, (long long)max);
    *out = n;
    return 0;
}

static int get_bool(json_t *o, const char *key, int *out, char *reason, size_t cap)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return fail(reason, cap, "%s: must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int get_cost(json_t *o, auditd_record *rec, char *reason, size_t cap)
{
    json_t *v = json_object_get(o, "cost_usd");
    rec->has_cost = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return fail(reason, cap, "cost_usd: must be a number or null");
    double d = json_number_value(v);
    if (!(d >= 0)) return fail(reason, cap, "cost_usd: must not be negative");
    if (d >= AUDITD_MAX_COST) return fail(reason, cap, "cost_usd: too large");
    rec->has_cost = 1;
    rec->cost_usd = d;
    return 0;
}

static int get_roles(json_t *o, auditd_record *rec, char *reason, size_t cap)
{
    json_t *v = json_object_get(o, "roles");
    size_t i;
    json_t *role;

    rec->roles = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v)) return fail(reason, cap, "roles: must be an array of strings");
    if (json_array_size(v) > AUDITD_MAX_ROLES)
        return fail(reason, cap, "roles: more than %d entries", AUDITD_MAX_ROLES);
    json_array_foreach(v, i, role) {
        if (!json_is_string(role))
            return fail(reason, cap, "roles: must be an array of strings");
        size_t n = json_string_length(role);
        if (n > AUDITD_MAX_ROLE)
            return fail(reason, cap, "roles: an entry is longer than %d bytes", AUDITD_MAX_ROLE);
        if (memchr(json_string_value(role), '\0', n))
            return fail(reason, cap, "roles: an entry contains a NUL character");
    }
    rec->roles = v;
    return 0;
}

/* ---- the record ------------------------------------------------------------------- */

static int decode_identity(json_t *o, auditd_record *rec, char *reason, size_t cap)
{
    json_t *id = json_object_get(o, "request_id");
    if (!id || json_is_null(id)) return fail(reason, cap, "request_id: missing");
    if (!json_is_string(id)) return fail(reason, cap, "request_id: must be a string");
    rec->request_id = json_string_value(id);
    size_t n = json_string_length(id);
    if (n == 0) return fail(reason, cap, "request_id: empty");
    if (n > AUDITD_MAX_ID)
        return fail(reason, cap, "request_id: longer than %d bytes", AUDITD_MAX_ID);
    if (memchr(rec->request_id, '\0', n))
        return fail(reason, cap, "request_id: contains a NUL character");

    json_t *ts = json_object_get(o, "timestamp");
    if (!ts || json_is_null(ts)) return fail(reason, cap, "timestamp: missing");
    if (!json_is_string(ts)) return fail(reason, cap, "timestamp: must be a string");
    if (auditd_parse_ts(json_string_value(ts), &rec->ts_us, &rec->month))
        return fail(reason, cap, "timestamp: not ISO-8601 UTC between %d and %d "
                    "(like 2026-11-24T10:30:00.123Z)", AUDITD_MIN_YEAR, AUDITD_MAX_YEAR);
    return 0;
}

static int decode_strings(json_t *o, auditd_record *rec, char *reason, size_t cap)
{
    const size_t max = AUDITD_MAX_STR;
    if (get_str(o, "user", max, &rec->user, reason, cap)
        || get_str(o, "email", max, &rec->email, reason, cap)
        || get_str(o, "team", max, &rec->team, reason, cap)
        || get_str(o, "provider", max, &rec->provider, reason, cap)
        || get_str(o, "model", max, &rec->model, reason, cap)
        || get_str(o, "endpoint", max, &rec->endpoint, reason, cap)
        || get_str(o, "conversation_id", max, &rec->conversation_id, reason, cap)
        || get_str(o, "client_ip", max, &rec->client_ip, reason, cap)
        || get_str(o, "blocked_rule", max, &rec->blocked_rule, reason, cap)
        || get_str(o, "node", max, &rec->node, reason, cap)
        || get_str(o, "prompt", AUDITD_MAX_BODY_TEXT, &rec->prompt, reason, cap)
        || get_str(o, "completion", AUDITD_MAX_BODY_TEXT, &rec->completion, reason, cap))
        return -1;
    return get_roles(o, rec, reason, cap);
}

static int decode_numbers(json_t *o, auditd_record *rec, char *reason, size_t cap)
{
    if (get_int(o, "status", -1, MAX_STATUS, &rec->status, reason, cap)
        || get_int(o, "prompt_tokens", 0, MAX_TOKENS, &rec->prompt_tokens, reason, cap)
        || get_int(o, "completion_tokens", 0, MAX_TOKENS, &rec->completion_tokens, reason, cap)
        || get_int(o, "cached_tokens", 0, MAX_TOKENS, &rec->cached_tokens, reason, cap)
        || get_int(o, "cache_write_tokens", 0, MAX_TOKENS, &rec->cache_write_tokens, reason, cap)
        || get_int(o, "reasoning_tokens", 0, MAX_TOKENS, &rec->reasoning_tokens, reason, cap)
        || get_int(o, "latency_ms", -1, MAX_MS, &rec->latency_ms, reason, cap)
        || get_int(o, "ttft_ms", -1, MAX_MS, &rec->ttft_ms, reason, cap)
        || get_int(o, "redactions", 0, MAX_INT32, &rec->redactions, reason, cap)
        || get_bool(o, "stream", &rec->stream, reason, cap)
        || get_cost(o, rec, reason, cap))
        return -1;
    /* SPEC: total = prompt + completion; a record without it gets exactly that. */
    int64_t total_default = rec->prompt_tokens + rec->completion_tokens;
    return get_int(o, "total_tokens", total_default, 2 * MAX_TOKENS, &rec->total_tokens,
                   reason, cap);
}

int auditd_decode(const char *line, size_t len, auditd_record *rec,
                  char *reason, size_t cap)
{
    json_error_t jerr;

    memset(rec, 0, sizeof *rec);
    if (len > AUDITD_MAX_LINE)
        return fail(reason, cap, "line longer than %d bytes", AUDITD_MAX_LINE);
    rec->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!rec->root) return fail(reason, cap, "invalid JSON: %s", jerr.text);
    if (!json_is_object(rec->root)) return fail(reason, cap, "not a JSON object");
    if (decode_identity(rec->root, rec, reason, cap)
        || decode_strings(rec->root, rec, reason, cap)
        || decode_numbers(rec->root, rec, reason, cap))
        return -1;
    return 0;
}

void auditd_record_free(auditd_record *rec)
{
    if (rec->root) json_decref(rec->root);
    memset(rec, 0, sizeof *rec);
}
