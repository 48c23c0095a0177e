/* llmgw_ratelimit.c — LLMGWRateLimit rules: parsing, applicability, fixed windows
 * (epoch-aligned seconds, calendar months in UTC), counter keys and the numbers a
 * client is told (remaining, reset, Retry-After). No clock reads: callers pass now. */
#include "llmgw_ratelimit.h"

#include <stdio.h>
#include <string.h>

#include "llmgw_glob.h"
#include "llmgw_keyfile.h"
#include "llmgw_pricing.h"
#include "llmgw_text.h"

static void seterr(char *err, size_t cap, const char *msg)
{
    if (cap)
        snprintf(err, cap, "%s", msg);
}

/* Appends v's decimal text at p (room for 20 bytes); returns the end. */
static char *put_dec(char *p, int64_t v)
{
    char tmp[24], *s = llmgw_dec_back(tmp + sizeof tmp, v);
    size_t n = (size_t)(tmp + sizeof tmp - s);
    memcpy(p, s, n);
    return p + n;
}

/* Two digits of v (0-99): the fixed-width fields of a timestamp. */
static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* A text that does not fit: "" and 0, as the snprintf callers did on truncation. */
static size_t too_small(char *buf, size_t cap)
{
    if (cap)
        buf[0] = '\0';
    return 0;
}

/* Copies n bytes of text to buf with its NUL when they fit in cap. */
static size_t emit(char *buf, size_t cap, const char *text, size_t n)
{
    if (n >= cap)
        return too_small(buf, cap);
    memcpy(buf, text, n);
    buf[n] = '\0';
    return n;
}

/* Decimal digits only, no sign; 0 on success. */
static int parse_count(const char *s, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (max - (*s - '0')) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

int llmgw_rl_parse_window(const char *s, int64_t *seconds, int *months)
{
    size_t nd = strspn(s, "0123456789");
    char digits[12];
    int64_t n;
    if (nd == 0 || nd >= sizeof digits)
        return -1;
    memcpy(digits, s, nd);
    digits[nd] = '\0';
    if (parse_count(digits, LLMGW_RL_MAX_SECONDS, &n) < 0 || n == 0)
        return -1;
    const char *unit = s + nd;
    if (!strcmp(unit, "mo")) {
        if (n > LLMGW_RL_MAX_MONTHS)
            return -1;
        *seconds = 0;
        *months = (int)n;
        return 0;
    }
    int64_t mult = !strcmp(unit, "s") ? 1 : !strcmp(unit, "m") ? 60
                 : !strcmp(unit, "h") ? 3600 : !strcmp(unit, "d") ? 86400 : 0;
    if (!mult || n > LLMGW_RL_MAX_SECONDS / mult)
        return -1;
    *seconds = n * mult;
    *months = 0;
    return 0;
}

int llmgw_rl_parse_dollars(const char *s, int64_t *pico)
{
    int64_t whole = 0, frac = 0;
    int decimals = 0, digits = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (whole > LLMGW_RL_MAX_PICO / 1000000000000 / 10)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (++decimals > 12)
                return -1;
            frac = frac * 10 + (*p - '0');
        }
    }
    if (*p || !digits)
        return -1;
    for (int i = decimals; i < 12; i++)
        frac *= 10;
    if (whole > (LLMGW_RL_MAX_PICO - frac) / 1000000000000)
        return -1;
    *pico = whole * 1000000000000 + frac;
    return 0;
}

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= LLMGW_RL_NAME_MAX)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static int parse_per(const char *v, llmgw_rl_per *out)
{
    static const char *const names[] = {"user", "team", "key", "ip", "global"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(v, names[i])) {
            *out = (llmgw_rl_per)i;
            return 0;
        }
    return -1;
}

/* The window as key text, the same for "60s" and "1m", so writing a rule differently
 * keeps its counters. */
static void window_canonical(llmgw_rl_rule *r)
{
    static const struct { int64_t len; const char *unit; } units[] = {
        {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
    if (r->months) {
        snprintf(r->window_spec, sizeof r->window_spec, "%dmo", r->months);
        return;
    }
    for (int i = 0; i < 4; i++)
        if (r->seconds % units[i].len == 0) {
            snprintf(r->window_spec, sizeof r->window_spec, "%lld%s",
                     (long long)(r->seconds / units[i].len), units[i].unit);
            return;
        }
}

/* One "key=value" argument; returns 0, or -1 with err set. */
static int parse_arg(llmgw_rl_rule *r, const char *a, int *have_per, int *nlimits,
                     char *err, size_t errcap)
{
    const char *eq = strchr(a, '=');
    const char *v = eq ? eq + 1 : "";
    size_t kl = eq ? (size_t)(eq - a) : strlen(a);
#define IS(k) (kl == sizeof(k) - 1 && !strncmp(a, k, kl))
    if (IS("per")) {
        if (parse_per(v, &r->per) < 0)
            return seterr(err, errcap, "per= must be user, team, key, ip or global"), -1;
        *have_per = 1;
    } else if (IS("route")) {
        if (!*v)
            return seterr(err, errcap, "route= needs a route name"), -1;
        r->route = v;
    } else if (IS("model")) {
        if (!*v)
            return seterr(err, errcap, "model= needs a glob"), -1;
        r->model = v;
    } else if (IS("requests") || IS("tokens")) {
        r->kind = IS("requests") ? LLMGW_RL_REQUESTS : LLMGW_RL_TOKENS;
        if (parse_count(v, r->kind == LLMGW_RL_REQUESTS ? LLMGW_RL_MAX_REQUESTS
                                                        : LLMGW_RL_MAX_TOKENS, &r->limit) < 0)
            return seterr(err, errcap, "requests= and tokens= take a whole number "
                          "(requests at most 1e12, tokens at most 1e15)"), -1;
        (*nlimits)++;
    } else if (IS("dollars")) {
        r->kind = LLMGW_RL_DOLLARS;
        if (llmgw_rl_parse_dollars(v, &r->limit) < 0)
            return seterr(err, errcap, "dollars= takes a decimal amount of USD with at most "
                          "12 decimals, at most 1000000"), -1;
        (*nlimits)++;
    } else if (IS("window")) {
        if (llmgw_rl_parse_window(v, &r->seconds, &r->months) < 0)
            return seterr(err, errcap, "window= takes a count and a unit: s, m, h, d (at most "
                          "366d) or mo (calendar months, at most 12)"), -1;
        window_canonical(r);
    } else {
        if (errcap)
            snprintf(err, errcap, "unknown LLMGWRateLimit option '%.*s'", (int)kl, a);
        return -1;
    }
#undef IS
    return 0;
}

int llmgw_rl_parse(const char *name, int argc, const char *const *argv, llmgw_rl_rule *out,
                   char *err, size_t errcap)
{
    llmgw_rl_rule r;
    int have_per = 0, nlimits = 0;
    memset(&r, 0, sizeof r);
    if (!name_ok(name))
        return seterr(err, errcap, "rule name must be 1-63 characters of A-Z a-z 0-9 . _ -"), -1;
    r.name = name;
    for (int i = 0; i < argc; i++)
        if (parse_arg(&r, argv[i], &have_per, &nlimits, err, errcap) < 0)
            return -1;
    if (!have_per)
        return seterr(err, errcap, "per=user|team|key|ip|global is required"), -1;
    if (nlimits != 1)
        return seterr(err, errcap, "exactly one of requests=, tokens=, dollars= is required"), -1;
    if (!r.window_spec[0])
        return seterr(err, errcap, "window= is required (30s, 5m, 1h, 1d, 1mo)"), -1;
    llmgw_rl_prepare(&r);
    *out = r;
    return 0;
}

/* Writes "llmgw:rl:NAME:WINDOW:" to buf; its length, or 0 if it does not fit in cap
 * (including a NUL). Shared by prepare and by keys of unprepared rules. */
static size_t write_key_prefix(const llmgw_rl_rule *r, char *buf, size_t cap)
{
    size_t nl = strlen(r->name), wl = strnlen(r->window_spec, sizeof r->window_spec);
    size_t n = 9 + nl + 1 + wl + 1;
    if (n >= cap)
        return 0;
    memcpy(buf, "llmgw:rl:", 9);
    memcpy(buf + 9, r->name, nl);
    buf[9 + nl] = ':';
    memcpy(buf + 10 + nl, r->window_spec, wl);
    buf[n - 1] = ':';
    buf[n] = '\0';
    return n;
}

void llmgw_rl_prepare(llmgw_rl_rule *r)
{
    r->key_prefix_len = r->name ? write_key_prefix(r, r->key_prefix, sizeof r->key_prefix) : 0;
    llmgw_rl_people_text(r->kind, r->limit, r->limit_text, sizeof r->limit_text);
}

const char *llmgw_rl_per_name(llmgw_rl_per p)
{
    static const char *const names[] = {"user", "team", "key", "ip", "global"};
    return (unsigned)p < 5 ? names[p] : "?";
}

const char *llmgw_rl_kind_name(llmgw_rl_kind k)
{
    static const char *const names[] = {"requests", "tokens", "dollars"};
    return (unsigned)k < 3 ? names[k] : "?";
}

/* Compares a <Location> prefix ignoring trailing slashes: "/v1/" equals "/v1". */
static int same_prefix(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    while (na > 1 && a[na - 1] == '/')
        na--;
    while (nb > 1 && b[nb - 1] == '/')
        nb--;
    return na == nb && !memcmp(a, b, na);
}

int llmgw_rl_applies(const llmgw_rl_rule *r, const char *route, const char *prefix,
                     const char *model)
{
    if (r->route) {
        if (r->route[0] == '/' ? !prefix || !same_prefix(r->route, prefix)
                               : !route || strcmp(r->route, route))
            return 0;
    }
    if (r->model && (!model || !*model || !llmgw_glob_match(r->model, model)))
        return 0;
    return 1;
}

/* Start (seconds) of month number mi counted from January 1970. */
static int64_t month_start(int64_t mi)
{
    int64_t y = 1970 + llmgw_floordiv(mi, 12);
    int m = (int)(mi - llmgw_floordiv(mi, 12) * 12) + 1;
    return llmgw_days_from_civil(y, m, 1) * 86400;
}

void llmgw_rl_window_at(const llmgw_rl_rule *r, int64_t now, llmgw_rl_window *w)
{
    if (r->months) {
        int64_t y;
        int m, d;
        llmgw_civil_from_days(llmgw_floordiv(now, 86400), &y, &m, &d);
        int64_t mi = (y - 1970) * 12 + (m - 1);
        w->index = llmgw_floordiv(mi, r->months);
        w->start = month_start(w->index * r->months);
        w->end = month_start((w->index + 1) * r->months);
        return;
    }
    w->index = llmgw_floordiv(now, r->seconds);
    w->start = w->index * r->seconds;
    w->end = w->start + r->seconds;
}

/* The key is prefix, window index, ':' and principal, written straight into buf: the
 * prefix was written at configuration time (llmgw_rl_prepare), the index is the only
 * number. Byte for byte the old "llmgw:rl:%s:%s:%lld:%.*s", so counters in the table
 * and in Redis carry over across versions. */
size_t llmgw_rl_key(const llmgw_rl_rule *r, const llmgw_rl_window *w, const char *principal,
                    char *buf, size_t cap)
{
    char hashed[7 + 65], idx[24];
    size_t pl = principal ? strnlen(principal, LLMGW_RL_PRINCIPAL_MAX + 1) : 0;
    if (pl > LLMGW_RL_PRINCIPAL_MAX) {
        /* long principals are hashed, not cut: two that share a prefix stay apart */
        memcpy(hashed, "sha256:", 7);
        llmgw_sha256_hex(principal, strlen(principal), hashed + 7);
        principal = hashed;
        pl = strlen(hashed);
    }
    size_t prl = r->key_prefix_len;
    if (prl && prl < cap)
        memcpy(buf, r->key_prefix, prl);
    else if (!prl && r->name)   /* a rule nobody prepared (or a name too long for it) */
        prl = write_key_prefix(r, buf, cap);
    else
        prl = 0;
    const char *is = llmgw_dec_back(idx + sizeof idx, w->index);
    size_t il = (size_t)(idx + sizeof idx - is);
    size_t n = prl + il + 1 + pl;
    if (!prl || n >= cap)
        return too_small(buf, cap);
    memcpy(buf + prl, is, il);
    buf[prl + il] = ':';
    if (pl)
        memcpy(buf + prl + il + 1, principal, pl);
    buf[n] = '\0';
    return n;
}

uint64_t llmgw_rl_fingerprint(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    /* splitmix64's finaliser spreads FNV's weak low bits over the whole word, since
     * the table takes its home slot from them */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h < 2 ? h + 2 : h;
}

int64_t llmgw_rl_remaining(const llmgw_rl_rule *r, int64_t used)
{
    return used >= r->limit ? 0 : r->limit - used;
}

int64_t llmgw_rl_retry_after(const llmgw_rl_window *w, int64_t now_ms)
{
    int64_t left = w->end * 1000 - now_ms;
    int64_t s = left <= 0 ? 1 : (left + 999) / 1000;
    return s < 1 ? 1 : s;
}

/* Go duration text written by hand: "850ms", "12s", "6m0s", "1h2m3s". */
size_t llmgw_rl_reset_text(const llmgw_rl_window *w, int64_t now_ms, char *buf, size_t cap)
{
    char t[80], *p = t;
    int64_t left = w->end * 1000 - now_ms;
    if (left < 0)
        left = 0;
    if (left < 1000) {
        p = put_dec(p, left);
        *p++ = 'm';
    } else {
        int64_t s = (left + 999) / 1000;
        int64_t h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
        if (h) {
            p = put_dec(p, h);
            *p++ = 'h';
        }
        if (h || m) {
            p = put_dec(p, m);
            *p++ = 'm';
        }
        p = put_dec(p, sec);
    }
    *p++ = 's';
    return emit(buf, cap, t, (size_t)(p - t));
}

size_t llmgw_rl_int_text(int64_t v, char *buf, size_t cap)
{
    char t[24], *s = llmgw_dec_back(t + sizeof t, v);
    return emit(buf, cap, s, (size_t)(t + sizeof t - s));
}

size_t llmgw_rl_amount_text(llmgw_rl_kind k, int64_t v, char *buf, size_t cap)
{
    if (k == LLMGW_RL_DOLLARS)
        return llmgw_cost_format(v, buf, cap);
    return llmgw_rl_int_text(v, buf, cap);
}

/* Trailing zeros of the 12 decimals go, then a bare point; integers stay as they are.
 * Trimmed in a scratch buffer first, so cap only needs to hold the short text. */
size_t llmgw_rl_people_text(llmgw_rl_kind k, int64_t v, char *buf, size_t cap)
{
    char t[40];
    if (k != LLMGW_RL_DOLLARS)
        return llmgw_rl_int_text(v, buf, cap);
    size_t n = llmgw_cost_format(v, t, sizeof t);
    if (n) {
        while (t[n - 1] == '0')
            n--;
        if (t[n - 1] == '.')
            n--;
    }
    return emit(buf, cap, t, n);
}

/* "%04lld-%02d-%02dT%02d:%02d:%02dZ" by hand: the year is at least four characters
 * wide, its sign included, as %04lld pads it. */
size_t llmgw_rl_time_text(int64_t t, char *buf, size_t cap)
{
    int64_t y, days = llmgw_floordiv(t, 86400), sod = t - days * 86400;
    int m, d;
    llmgw_civil_from_days(days, &y, &m, &d);
    char txt[48], yd[24], *p = txt;
    const char *ys = llmgw_dec_back(yd + sizeof yd, y);
    size_t yl = (size_t)(yd + sizeof yd - ys);
    if (y < 0) {
        *p++ = '-';
        ys++, yl--;
    }
    for (size_t w = (size_t)(p - txt) + yl; w < 4; w++)
        *p++ = '0';
    memcpy(p, ys, yl);
    p += yl;
    *p++ = '-';
    p = put2(p, m);
    *p++ = '-';
    p = put2(p, d);
    *p++ = 'T';
    p = put2(p, (int)(sod / 3600));
    *p++ = ':';
    p = put2(p, (int)(sod % 3600 / 60));
    *p++ = ':';
    p = put2(p, (int)(sod % 60));
    *p++ = 'Z';
    return emit(buf, cap, txt, (size_t)(p - txt));
}
