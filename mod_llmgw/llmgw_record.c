/* llmgw_record.c — encodes a usage record as one NDJSON line (SPEC §7). Field order
 * is the spec's; every string is escaped and bounded so a record always fits a line. */
#include "llmgw_record.h"
#include "llmgw_json.h"
#include "llmgw_pricing.h"
#include "llmgw_text.h"

#include <inttypes.h>
#include <stdio.h>

#define STR_MAX 256   /* per string field: with 6x escaping, 12 fields and 32 roles fit a line */

/* n decimal digits of v (0 <= v < 10^n), zero-padded; returns the end. */
static char *put_digits(char *p, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

void llmgw_format_ts(int64_t ts_ms, char *buf, size_t cap)
{
    /* UTC by era arithmetic: gmtime_r takes glibc's time-zone lock, once per request */
    int64_t secs = llmgw_floordiv(ts_ms, 1000), days = llmgw_floordiv(secs, 86400), year;
    int ms = (int)(ts_ms - secs * 1000), sod = (int)(secs - days * 86400), mon, mday;
    llmgw_civil_from_days(days, &year, &mon, &mday);
    if (year < 0 || year > 9999 || cap < 25) {
        snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)year, mon, mday,
                 sod / 3600, sod / 60 % 60, sod % 60, ms);
        return;
    }
    /* one record per request: fixed-width digits by hand, not vsnprintf */
    char *p = buf;
    p = put_digits(p, (int)year, 4);
    *p++ = '-';
    p = put_digits(p, mon, 2);
    *p++ = '-';
    p = put_digits(p, mday, 2);
    *p++ = 'T';
    p = put_digits(p, sod / 3600, 2);
    *p++ = ':';
    p = put_digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, sod % 60, 2);
    *p++ = '.';
    p = put_digits(p, ms, 3);
    *p++ = 'Z';
    *p = '\0';
}

static void put_int(llmgw_sbuf *b, int64_t v)
{
    char d[24], *e = d + sizeof d, *p = llmgw_dec_back(e, v);
    llmgw_sbuf_put(b, p, (size_t)(e - p));
}

/* ,"name":value — names are the spec's literals, never escaped, their lengths known
 * at compile time. */
#define NAME(b, name) LLMGW_SBUF_LIT(b, ",\"" name "\":")
#define field_str(b, name, v) (NAME(b, name), llmgw_sbuf_json_str(b, v, STR_MAX))
#define field_int(b, name, v) (NAME(b, name), put_int(b, v))

static void put_cost(llmgw_sbuf *b, const llmgw_record *r)
{
    char d[48];
    size_t n;
    if (!r->has_cost || !(n = llmgw_cost_format(r->cost_pico, d, sizeof d))) {
        LLMGW_SBUF_LIT(b, ",\"cost_usd\":null");
        return;
    }
    NAME(b, "cost_usd");
    llmgw_sbuf_put(b, d, n);
}

size_t llmgw_record_bodies_room(const llmgw_record *r)
{
    return 6 * (r->prompt_len + r->completion_len) + 64;
}

size_t llmgw_record_encode(const llmgw_record *r, char *buf, size_t cap)
{
    llmgw_sbuf b;
    char ts[32];
    llmgw_sbuf_init(&b, buf, cap);
    llmgw_format_ts(r->ts_ms, ts, sizeof ts);
    LLMGW_SBUF_LIT(&b, "{\"timestamp\":\"");
    llmgw_sbuf_puts(&b, ts);
    llmgw_sbuf_put(&b, "\"", 1);
    field_str(&b, "request_id", r->request_id);
    field_str(&b, "user", r->user);
    field_str(&b, "email", r->email);
    field_str(&b, "team", r->team);
    LLMGW_SBUF_LIT(&b, ",\"roles\":[");
    for (int i = 0; i < r->nroles && i < LLMGW_RECORD_MAX_ROLES; i++) {
        if (i)
            llmgw_sbuf_put(&b, ",", 1);
        llmgw_sbuf_json_str(&b, r->roles[i], 64);
    }
    llmgw_sbuf_put(&b, "]", 1);
    field_str(&b, "provider", r->provider);
    field_str(&b, "model", r->model);
    field_str(&b, "endpoint", r->endpoint);
    field_int(&b, "status", r->status);
    if (r->stream)
        LLMGW_SBUF_LIT(&b, ",\"stream\":true");
    else
        LLMGW_SBUF_LIT(&b, ",\"stream\":false");
    field_int(&b, "prompt_tokens", r->prompt_tokens);
    field_int(&b, "completion_tokens", r->completion_tokens);
    field_int(&b, "cached_tokens", r->cached_tokens);
    field_int(&b, "cache_write_tokens", r->cache_write_tokens);
    field_int(&b, "reasoning_tokens", r->reasoning_tokens);
    field_int(&b, "total_tokens", r->total_tokens);
    put_cost(&b, r);
    field_int(&b, "latency_ms", r->latency_ms);
    field_int(&b, "ttft_ms", r->ttft_ms);
    field_str(&b, "conversation_id", r->conversation_id);
    field_str(&b, "client_ip", r->client_ip);
    field_str(&b, "blocked_rule", r->blocked_rule);
    field_int(&b, "redactions", r->redactions);
    field_str(&b, "node", r->node);
    if (r->prompt || r->completion) {
        /* the texts may be long: bounded by their own lengths, not STR_MAX */
        LLMGW_SBUF_LIT(&b, ",\"prompt\":");
        llmgw_sbuf_json_str(&b, r->prompt, r->prompt_len);
        LLMGW_SBUF_LIT(&b, ",\"completion\":");
        llmgw_sbuf_json_str(&b, r->completion, r->completion_len);
    }
    llmgw_sbuf_put(&b, "}\n", 2);
    return llmgw_sbuf_finish(&b);
}
