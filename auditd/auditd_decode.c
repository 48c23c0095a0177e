/* auditd_decode.c — turns one NDJSON usage record into validated fields (auditd_encode.c
 * makes the PostgreSQL row of them). Every problem is reported as "field: reason" so the
 * client can tell which record, and why, was rejected while the rest of its batch is
 * stored.
 *
 * Two readers feed one set of checks. A jansson tree cost about three quarters of the
 * daemon's CPU per record, so a line is first judged by llmgw_json_scan (exactly as
 * json_loadb with JSON_REJECT_DUPLICATES would) and, when VALID, read through views
 * with its strings decoded into one allocation the record owns. Anything the scanner
 * leaves UNDECIDED or finds INVALID goes to jansson, whose error text the reason
 * quotes. Both readers describe each field as a `value`, and the checks only see
 * values, so a verdict and its reason cannot depend on which reader ran. */
#include "auditd_decode.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmgw_json_scan.h"
#include "llmgw_json_view.h"

#define MAX_TOKENS  1000000000000000LL   /* 1e15: the module clamps its figures to this (LLMGW_TOKENS_MAX) */
#define MAX_MS      1000000000000LL
#define MAX_STATUS  999
#define MAX_INT32   2147483647LL
#define SCAN_DEPTH  2048                 /* jansson's own nesting limit */
#define REAL_MAX_TEXT 64                 /* longer real tokens are left to jansson */

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

/* ---- fields and their values ------------------------------------------------------ */

/* The record's members, in the order the module writes them (the scanner tries names
 * in this order for every member it meets). */
enum field {
    F_TIMESTAMP, F_REQUEST_ID, F_USER, F_EMAIL, F_TEAM, F_ROLES, F_PROVIDER, F_MODEL,
    F_ENDPOINT, F_STATUS, F_STREAM, F_PROMPT_TOKENS, F_COMPLETION_TOKENS, F_CACHED_TOKENS,
    F_CACHE_WRITE_TOKENS, F_REASONING_TOKENS, F_TOTAL_TOKENS, F_COST_USD, F_LATENCY_MS,
    F_TTFT_MS, F_CONVERSATION_ID, F_CLIENT_IP, F_BLOCKED_RULE, F_REDACTIONS, F_NODE,
    F_PROMPT, F_COMPLETION, NFIELDS
};

static const char *const field_name[NFIELDS] = {
    "timestamp", "request_id", "user", "email", "team", "roles", "provider", "model",
    "endpoint", "status", "stream", "prompt_tokens", "completion_tokens", "cached_tokens",
    "cache_write_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "latency_ms",
    "ttft_ms", "conversation_id", "client_ip", "blocked_rule", "redactions", "node",
    "prompt", "completion",
};

/* What a reader found for a member: all the checks need to know of it. */
typedef enum { V_ABSENT, V_NULL, V_STRING, V_INTEGER, V_REAL, V_BOOL, V_ARRAY, V_OTHER } vkind;

typedef struct {
    vkind kind;
    const char *s;      /* V_STRING: decoded, NUL-terminated, owned by the record */
    size_t n;           /* V_STRING: its bytes; V_ARRAY: its entries */
    int64_t i;          /* V_INTEGER; V_BOOL: 1 for true */
    double d;           /* V_REAL */
} value;

/* A line's members, and the entries of roles when it is an array of at most
 * AUDITD_MAX_ROLES (a longer one is refused before its entries are looked at). */
typedef struct {
    value f[NFIELDS];
    value role[AUDITD_MAX_ROLES];
} values;

static int absent_or_null(const value *v)
{
    return v->kind == V_ABSENT || v->kind == V_NULL;
}

/* ---- the checks ------------------------------------------------------------------- */

static int check_str(const value *v, enum field f, size_t max, const char **out,
                     char *reason, size_t cap)
{
    const char *key = field_name[f];
    *out = NULL;
    if (absent_or_null(v)) return 0;
    if (v->kind != V_STRING) return fail(reason, cap, "%s: must be a string or null", key);
    if (v->n > max) return fail(reason, cap, "%s: longer than %zu bytes", key, max);
    /* Unreachable while NUL is refused as invalid JSON; kept should that ever change. */
    if (memchr(v->s, '\0', v->n))
        return fail(reason, cap, "%s: contains a NUL character", key);
    *out = v->s;
    return 0;
}

/* Missing or null gives dflt; anything but a non-negative integer up to max is refused.
 * Numbers inside strings ("42") are refused too: the module never sends them. */
static int check_int(const value *v, enum field f, int64_t dflt, int64_t max, int64_t *out,
                     char *reason, size_t cap)
{
    const char *key = field_name[f];
    *out = dflt;
    if (absent_or_null(v)) return 0;
    if (v->kind != V_INTEGER) return fail(reason, cap, "%s: must be an integer", key);
    if (v->i < 0) return fail(reason, cap, "%s: must not be negative", key);
    if (v->i > max) return fail(reason, cap, "%s: larger than %lld", key, (long long)max);
    *out = v->i;
    return 0;
}

static int check_bool(const value *v, enum field f, int *out, char *reason, size_t cap)
{
    *out = 0;
    if (absent_or_null(v)) return 0;
    if (v->kind != V_BOOL)
        return fail(reason, cap, "%s: must be true or false", field_name[f]);
    *out = (int)v->i;
    return 0;
}

static int check_cost(const value *v, auditd_record *rec, char *reason, size_t cap)
{
    rec->has_cost = 0;
    if (absent_or_null(v)) return 0;
    if (v->kind != V_INTEGER && v->kind != V_REAL)
        return fail(reason, cap, "cost_usd: must be a number or null");
    double d = v->kind == V_INTEGER ? (double)v->i : v->d;   /* json_number_value */
    if (!(d >= 0)) return fail(reason, cap, "cost_usd: must not be negative");
    if (d >= AUDITD_MAX_COST) return fail(reason, cap, "cost_usd: too large");
    rec->has_cost = 1;
    rec->cost_usd = d;
    return 0;
}

static int check_roles(const values *v, auditd_record *rec, char *reason, size_t cap)
{
    const value *r = &v->f[F_ROLES];
    rec->nroles = 0;
    if (absent_or_null(r)) return 0;
    if (r->kind != V_ARRAY) return fail(reason, cap, "roles: must be an array of strings");
    if (r->n > AUDITD_MAX_ROLES)
        return fail(reason, cap, "roles: more than %d entries", AUDITD_MAX_ROLES);
    for (size_t i = 0; i < r->n; i++) {
        const value *e = &v->role[i];
        if (e->kind != V_STRING)
            return fail(reason, cap, "roles: must be an array of strings");
        if (e->n > AUDITD_MAX_ROLE)
            return fail(reason, cap, "roles: an entry is longer than %d bytes", AUDITD_MAX_ROLE);
        if (memchr(e->s, '\0', e->n))
            return fail(reason, cap, "roles: an entry contains a NUL character");
        rec->roles[i] = e->s;
    }
    rec->nroles = r->n;
    return 0;
}

static int check_identity(const values *v, auditd_record *rec, char *reason, size_t cap)
{
    const value *id = &v->f[F_REQUEST_ID], *ts = &v->f[F_TIMESTAMP];
    if (absent_or_null(id)) return fail(reason, cap, "request_id: missing");
    if (id->kind != V_STRING) return fail(reason, cap, "request_id: must be a string");
    rec->request_id = id->s;
    if (id->n == 0) return fail(reason, cap, "request_id: empty");
    if (id->n > AUDITD_MAX_ID)
        return fail(reason, cap, "request_id: longer than %d bytes", AUDITD_MAX_ID);
    if (memchr(id->s, '\0', id->n))
        return fail(reason, cap, "request_id: contains a NUL character");

    if (absent_or_null(ts)) return fail(reason, cap, "timestamp: missing");
    if (ts->kind != V_STRING) return fail(reason, cap, "timestamp: must be a string");
    if (auditd_parse_ts(ts->s, &rec->ts_us, &rec->month))
        return fail(reason, cap, "timestamp: not ISO-8601 UTC between %d and %d "
                    "(like 2026-11-24T10:30:00.123Z)", AUDITD_MIN_YEAR, AUDITD_MAX_YEAR);
    return 0;
}

static int check_strings(const values *v, auditd_record *rec, char *reason, size_t cap)
{
    const size_t max = AUDITD_MAX_STR;
    const value *f = v->f;
    if (check_str(&f[F_USER], F_USER, max, &rec->user, reason, cap)
        || check_str(&f[F_EMAIL], F_EMAIL, max, &rec->email, reason, cap)
        || check_str(&f[F_TEAM], F_TEAM, max, &rec->team, reason, cap)
        || check_str(&f[F_PROVIDER], F_PROVIDER, max, &rec->provider, reason, cap)
        || check_str(&f[F_MODEL], F_MODEL, max, &rec->model, reason, cap)
        || check_str(&f[F_ENDPOINT], F_ENDPOINT, max, &rec->endpoint, reason, cap)
        || check_str(&f[F_CONVERSATION_ID], F_CONVERSATION_ID, max, &rec->conversation_id,
                     reason, cap)
        || check_str(&f[F_CLIENT_IP], F_CLIENT_IP, max, &rec->client_ip, reason, cap)
        || check_str(&f[F_BLOCKED_RULE], F_BLOCKED_RULE, max, &rec->blocked_rule, reason, cap)
        || check_str(&f[F_NODE], F_NODE, max, &rec->node, reason, cap)
        || check_str(&f[F_PROMPT], F_PROMPT, AUDITD_MAX_BODY_TEXT, &rec->prompt, reason, cap)
        || check_str(&f[F_COMPLETION], F_COMPLETION, AUDITD_MAX_BODY_TEXT, &rec->completion,
                     reason, cap))
        return -1;
    return check_roles(v, rec, reason, cap);
}

static int check_numbers(const values *v, auditd_record *rec, char *reason, size_t cap)
{
    const value *f = v->f;
    if (check_int(&f[F_STATUS], F_STATUS, -1, MAX_STATUS, &rec->status, reason, cap)
        || check_int(&f[F_PROMPT_TOKENS], F_PROMPT_TOKENS, 0, MAX_TOKENS,
                     &rec->prompt_tokens, reason, cap)
        || check_int(&f[F_COMPLETION_TOKENS], F_COMPLETION_TOKENS, 0, MAX_TOKENS,
                     &rec->completion_tokens, reason, cap)
        || check_int(&f[F_CACHED_TOKENS], F_CACHED_TOKENS, 0, MAX_TOKENS,
                     &rec->cached_tokens, reason, cap)
        || check_int(&f[F_CACHE_WRITE_TOKENS], F_CACHE_WRITE_TOKENS, 0, MAX_TOKENS,
                     &rec->cache_write_tokens, reason, cap)
        || check_int(&f[F_REASONING_TOKENS], F_REASONING_TOKENS, 0, MAX_TOKENS,
                     &rec->reasoning_tokens, reason, cap)
        || check_int(&f[F_LATENCY_MS], F_LATENCY_MS, -1, MAX_MS, &rec->latency_ms, reason, cap)
        || check_int(&f[F_TTFT_MS], F_TTFT_MS, -1, MAX_MS, &rec->ttft_ms, reason, cap)
        || check_int(&f[F_REDACTIONS], F_REDACTIONS, 0, MAX_INT32, &rec->redactions,
                     reason, cap)
        || check_bool(&f[F_STREAM], F_STREAM, &rec->stream, reason, cap)
        || check_cost(&f[F_COST_USD], rec, reason, cap))
        return -1;
    /* SPEC: total = prompt + completion; a record without it gets exactly that. */
    int64_t total_default = rec->prompt_tokens + rec->completion_tokens;
    return check_int(&f[F_TOTAL_TOKENS], F_TOTAL_TOKENS, total_default, 2 * MAX_TOKENS,
                     &rec->total_tokens, reason, cap);
}

/* The checks in the order the first decoder ran them: the first failure is the reason. */
static int check_record(const values *v, auditd_record *rec, char *reason, size_t cap)
{
    if (check_identity(v, rec, reason, cap) || check_strings(v, rec, reason, cap)
        || check_numbers(v, rec, reason, cap))
        return -1;
    return 0;
}

static int too_long(size_t len, char *reason, size_t cap)
{
    if (len <= AUDITD_MAX_LINE) return 0;
    return fail(reason, cap, "line longer than %d bytes", AUDITD_MAX_LINE);
}

/* ---- reading with jansson ----------------------------------------------------------- */

static value value_of_json(const json_t *j)
{
    value v = {V_ABSENT, NULL, 0, 0, 0};
    if (!j) return v;
    if (json_is_null(j)) {
        v.kind = V_NULL;
    } else if (json_is_string(j)) {
        v.kind = V_STRING;
        v.s = json_string_value(j);
        v.n = json_string_length(j);
    } else if (json_is_integer(j)) {
        v.kind = V_INTEGER;
        v.i = json_integer_value(j);
    } else if (json_is_real(j)) {
        v.kind = V_REAL;
        v.d = json_real_value(j);
    } else if (json_is_boolean(j)) {
        v.kind = V_BOOL;
        v.i = json_is_true(j);
    } else if (json_is_array(j)) {
        v.kind = V_ARRAY;
        v.n = json_array_size(j);
    } else {
        v.kind = V_OTHER;
    }
    return v;
}

static void read_json(const json_t *root, values *v)
{
    for (int f = 0; f < NFIELDS; f++)
        v->f[f] = value_of_json(json_object_get(root, field_name[f]));
    const value *r = &v->f[F_ROLES];
    if (r->kind == V_ARRAY && r->n <= AUDITD_MAX_ROLES) {
        const json_t *roles = json_object_get(root, "roles");
        for (size_t i = 0; i < r->n; i++)
            v->role[i] = value_of_json(json_array_get(roles, i));
    }
}

int auditd_decode_jansson(const char *line, size_t len, auditd_record *rec,
                          char *reason, size_t cap)
{
    json_error_t jerr;
    values v;

    memset(rec, 0, sizeof *rec);
    if (too_long(len, reason, cap)) return -1;
    rec->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!rec->root) return fail(reason, cap, "invalid JSON: %s", jerr.text);
    if (!json_is_object(rec->root)) return fail(reason, cap, "not a JSON object");
    read_json(rec->root, &v);
    return check_record(&v, rec, reason, cap);
}

/* ---- reading with views ------------------------------------------------------------- */

/* A real as jansson converts one: strtod with '.' turned into the locale's decimal
 * point first (jansson's to_locale), so the double is the correctly rounded one in any
 * locale. -1 for a token too long for the buffer (or anything strtod disputes): such a
 * line goes to jansson rather than to an unbounded copy. */
static int real_of(llmgw_json_view t, double *out)
{
    char buf[REAL_MAX_TEXT + 1], *end;
    if (t.n > REAL_MAX_TEXT) return -1;
    memcpy(buf, t.p, t.n);
    buf[t.n] = '\0';
    const char *point = localeconv()->decimal_point;
    char *dot = *point != '.' ? strchr(buf, '.') : NULL;
    if (dot) *dot = *point;
    errno = 0;
    double d = strtod(buf, &end);
    if (end != buf + t.n || ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)) return -1;
    *out = d;
    return 0;
}

/* A string's decoded value, appended to the record's store at *at. The store was sized
 * from the raw spans, and decoding never lengthens a string. Most strings hold no
 * escape and are their own value; the scanner refused every escaped U+0000, so a
 * decoded copy is never cut short and strlen is its length. */
static void read_string(llmgw_json_view t, char **at, value *v)
{
    const char *body = t.p + 1;
    size_t raw = t.n - 2;
    v->kind = V_STRING;
    v->s = *at;
    if (!memchr(body, '\\', raw)) {
        memcpy(*at, body, raw);
        (*at)[raw] = '\0';
        v->n = raw;
    } else {
        llmgw_view_copy_string(t, *at, raw + 1);
        v->n = strlen(*at);
    }
    *at += v->n + 1;
}

static int read_number(llmgw_json_view t, value *v)
{
    int rc = llmgw_view_integer(t, &v->i);
    if (rc == 1) {
        v->kind = V_INTEGER;
        return 0;
    }
    v->kind = V_REAL;
    return rc == 0 ? real_of(t, &v->d) : -1;
}

/* The value of a member or entry; -1 when it is a number left to jansson. */
static int read_view(llmgw_json_view t, char **at, value *v)
{
    *v = (value){V_ABSENT, NULL, 0, 0, 0};
    switch (llmgw_view_type_of(t)) {
    case LLMGW_VIEW_ABSENT: return 0;
    case LLMGW_VIEW_NULL: v->kind = V_NULL; return 0;
    case LLMGW_VIEW_TRUE: v->kind = V_BOOL; v->i = 1; return 0;
    case LLMGW_VIEW_FALSE: v->kind = V_BOOL; return 0;
    case LLMGW_VIEW_STRING: read_string(t, at, v); return 0;
    case LLMGW_VIEW_NUMBER: return read_number(t, v);
    case LLMGW_VIEW_ARRAY: v->kind = V_ARRAY; return 0;
    case LLMGW_VIEW_OBJECT: v->kind = V_OTHER; return 0;
    }
    return 0;
}

/* The entries of roles, counted up to one past the limit (enough to refuse it). */
static int read_roles(llmgw_json_view arr, char **at, values *v)
{
    llmgw_view_iter it = llmgw_view_items(arr);
    llmgw_json_view item;
    size_t n = 0;
    while (n <= AUDITD_MAX_ROLES && llmgw_view_next(&it, &item)) {
        if (n < AUDITD_MAX_ROLES && read_view(item, at, &v->role[n])) return -1;
        n++;
    }
    v->f[F_ROLES].n = n;
    return 0;
}

/* Fills v from the member spans of a VALID object; decoded strings go to one store
 * the record owns, sized by the raw strings it will hold. -1: leave the line to jansson. */
static int read_views(const char *line, const llmgw_json_span *spans, values *v,
                      auditd_record *rec)
{
    llmgw_json_view t[NFIELDS];
    size_t need = 0;
    for (int f = 0; f < NFIELDS; f++) {
        t[f] = llmgw_view_at(line, spans[f].off, spans[f].len);
        llmgw_view_type type = llmgw_view_type_of(t[f]);
        if (type == LLMGW_VIEW_STRING || (f == F_ROLES && type == LLMGW_VIEW_ARRAY))
            need += t[f].n;
    }
    char *at = rec->store = need ? xmalloc(need) : NULL;
    for (int f = 0; f < NFIELDS; f++)
        if (read_view(t[f], &at, &v->f[f])) return -1;
    if (v->f[F_ROLES].kind == V_ARRAY) return read_roles(t[F_ROLES], &at, v);
    return 0;
}

int auditd_decode_views(const char *line, size_t len, auditd_record *rec,
                        char *reason, size_t cap)
{
    llmgw_json_span spans[NFIELDS];
    values v;

    memset(rec, 0, sizeof *rec);
    if (too_long(len, reason, cap)) return -1;
    if (llmgw_json_scan_flags(line, len, SCAN_DEPTH, LLMGW_JSON_UNIQUE_KEYS, field_name,
                              NFIELDS, spans) != LLMGW_JSON_VALID
        || !llmgw_view_is(llmgw_view_of(line, len), LLMGW_VIEW_OBJECT))
        return AUDITD_DECODE_UNDECIDED;
    if (read_views(line, spans, &v, rec)) {
        auditd_record_free(rec);
        return AUDITD_DECODE_UNDECIDED;
    }
    return check_record(&v, rec, reason, cap);
}

/* ---- the record ------------------------------------------------------------------- */

int auditd_decode(const char *line, size_t len, auditd_record *rec,
                  char *reason, size_t cap)
{
    int rc = auditd_decode_views(line, len, rec, reason, cap);
    return rc == AUDITD_DECODE_UNDECIDED ? auditd_decode_jansson(line, len, rec, reason, cap)
                                         : rc;
}

void auditd_record_free(auditd_record *rec)
{
    if (rec->root) json_decref(rec->root);
    free(rec->store);
    memset(rec, 0, sizeof *rec);
}
