/* llmgw_ratelimit.h — the rate-limit and budget rule model (LLMGWRateLimit, SPEC §4):
 * rule parsing, which requests a rule applies to, fixed windows (epoch-aligned for
 * s/m/h/d, calendar months in UTC for mo), counter keys, remaining counts, reset
 * times and Retry-After. Dollar amounts are integer pico-dollars (1e-12 USD), the unit
 * of llmgw_price_cost. Part of the httpd-free core library (libllmgw).
 *
 * Windows are fixed, not sliding: a window of length L covers [k·L, (k+1)·L) seconds
 * since the Unix epoch (a day is midnight to midnight UTC); `Nmo` covers N calendar
 * months counted from January 1970. Every node and child derives the same window from
 * the clock alone, so counters need no coordination beyond the store, the reset time
 * a client is told is exact, and a budget resets on the first of the month. The price
 * is the usual fixed-window burst: up to twice the limit across one boundary. */
#ifndef LLMGW_RATELIMIT_H
#define LLMGW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define LLMGW_RL_NAME_MAX 64             /* rule names are [A-Za-z0-9._-], shorter */
#define LLMGW_RL_KEY_MAX 512             /* counter key text, principal included */
#define LLMGW_RL_PRINCIPAL_MAX 300       /* longer principals are hashed (delegated ≤ 256) */
#define LLMGW_RL_MAX_SECONDS ((int64_t)366 * 86400)
#define LLMGW_RL_MAX_MONTHS 12
#define LLMGW_RL_MAX_REQUESTS ((int64_t)1000000000000)        /* 1e12 */
#define LLMGW_RL_MAX_TOKENS ((int64_t)1000000000000000)       /* 1e15 */
#define LLMGW_RL_MAX_PICO ((int64_t)1000000000 * 1000000000)  /* 1e18 = 1,000,000 USD */
#define LLMGW_RL_PREFIX_MAX 96           /* "llmgw:rl:" NAME ":" WINDOW ":" fits */
#define LLMGW_RL_TEXT_MAX 24             /* any amount for people, INT64 edges included */

typedef enum {
    LLMGW_RL_USER = 0,      /* the identified user (delegated end user included) */
    LLMGW_RL_TEAM,          /* the caller's team; callers without one share "" */
    LLMGW_RL_KEY,           /* the credential presented (a front end's key as a whole) */
    LLMGW_RL_IP,            /* the client address */
    LLMGW_RL_GLOBAL         /* everyone together */
} llmgw_rl_per;

typedef enum { LLMGW_RL_REQUESTS = 0, LLMGW_RL_TOKENS, LLMGW_RL_DOLLARS } llmgw_rl_kind;

typedef struct llmgw_rl_rule {
    const char *name;       /* not copied: must outlive the rule */
    llmgw_rl_per per;
    const char *route;      /* route (provider) name, or a <Location> prefix if it starts
                               with '/'; NULL = every route. Not copied. */
    const char *model;      /* model glob; NULL = every request. Not copied. */
    llmgw_rl_kind kind;
    int64_t limit;          /* requests, tokens, or pico-dollars per window */
    int64_t seconds;        /* window length in seconds, or 0 when months is set */
    int months;             /* window length in calendar months, or 0 */
    char window_spec[16];   /* canonical text: "30s", "5m", "1h", "1d", "1mo" */
    /* Texts that do not change per request, written once by llmgw_rl_prepare: */
    char key_prefix[LLMGW_RL_PREFIX_MAX];   /* "llmgw:rl:NAME:WINDOW:" */
    size_t key_prefix_len;                  /* 0: not prepared, keys build it each time */
    char limit_text[LLMGW_RL_TEXT_MAX];     /* llmgw_rl_people_text of limit */
} llmgw_rl_rule;

/* One window of one rule: index and [start, end) in seconds since the epoch. */
typedef struct {
    int64_t index;
    int64_t start, end;
} llmgw_rl_window;

/* Parses the arguments after NAME: per=, requests=|tokens=|dollars= (exactly one),
 * window=, and optionally route= and model=. Pointers into argv are kept. The rule
 * comes back prepared (llmgw_rl_prepare). 0 on success; -1 with a message in err. */
int llmgw_rl_parse(const char *name, int argc, const char *const *argv, llmgw_rl_rule *out,
                   char *err, size_t errcap);

/* Writes the rule's per-rule texts (key_prefix, limit_text) from name, window_spec,
 * kind and limit, so no request formats them again. Call it again after changing any
 * of those. A name too long for key_prefix leaves it unprepared (keys still right). */
void llmgw_rl_prepare(llmgw_rl_rule *r);

/* "30s" "5m" "1h" "1d" "2mo" → seconds or months. 0 on success, -1 otherwise. */
int llmgw_rl_parse_window(const char *s, int64_t *seconds, int *months);

/* "50", "0.25", "1234.000000000001" → pico-dollars, at most 12 decimals and
 * LLMGW_RL_MAX_PICO. 0 on success, -1 otherwise. */
int llmgw_rl_parse_dollars(const char *s, int64_t *pico);

const char *llmgw_rl_per_name(llmgw_rl_per p);
const char *llmgw_rl_kind_name(llmgw_rl_kind k);

/* 1 when the rule governs a request on route (its name) mounted at prefix, for model
 * ("" when the request names none: a rule with model= then does not apply). */
int llmgw_rl_applies(const llmgw_rl_rule *r, const char *route, const char *prefix,
                     const char *model);

/* The window containing now (seconds since the epoch; negative times work too). */
void llmgw_rl_window_at(const llmgw_rl_rule *r, int64_t now, llmgw_rl_window *w);

/* Counter key "llmgw:rl:NAME:WINDOW:INDEX:PRINCIPAL" (a principal longer than
 * LLMGW_RL_PRINCIPAL_MAX bytes becomes "sha256:HEX"), NUL-terminated. The window length is part of the key
 * so changing a rule's window starts fresh counters while changing its limit keeps
 * them. Returns the length, or 0 if cap is too small. */
size_t llmgw_rl_key(const llmgw_rl_rule *r, const llmgw_rl_window *w, const char *principal,
                    char *buf, size_t cap);

/* 64-bit fingerprint of a counter key; never 0 or 1 (the counter table reserves them). */
uint64_t llmgw_rl_fingerprint(const char *key, size_t len);

/* max(0, limit - used). */
int64_t llmgw_rl_remaining(const llmgw_rl_rule *r, int64_t used);

/* Whole seconds until the window ends, rounded up, at least 1 (Retry-After).
 * now_ms is milliseconds since the epoch. */
int64_t llmgw_rl_retry_after(const llmgw_rl_window *w, int64_t now_ms);

/* Time until the window ends in OpenAI's header style (Go durations): "850ms", "12s",
 * "6m0s", "1h2m3s", "26h0m0s". Returns the length, 0 if cap is too small. */
size_t llmgw_rl_reset_text(const llmgw_rl_window *w, int64_t now_ms, char *buf, size_t cap);

/* An amount of the rule's kind as JSON number text: integers for requests and tokens,
 * 12-decimal dollars for budgets. Returns the length, 0 if cap is too small. */
size_t llmgw_rl_amount_text(llmgw_rl_kind k, int64_t v, char *buf, size_t cap);

/* The same amount as people read it (headers, the 429 message): dollars without
 * trailing zeros or a bare point ("50", "0.25"); others as amount_text. Length or 0. */
size_t llmgw_rl_people_text(llmgw_rl_kind k, int64_t v, char *buf, size_t cap);

/* v in decimal ("%lld": "-12", "0", "9223372036854775807"), NUL-terminated. Returns the
 * length, 0 if cap is too small. */
size_t llmgw_rl_int_text(int64_t v, char *buf, size_t cap);

/* The window's end as ISO-8601 UTC ("2026-12-01T00:00:00Z"); length or 0.
 * All of these text functions leave "" in buf (when cap > 0) when they return 0. */
size_t llmgw_rl_time_text(int64_t t, char *buf, size_t cap);

#endif
