/* llmgw_metrics.c — Prometheus text exposition without shared state: safe and escaped
 * label values, histogram buckets, exact decimal formatting of pico-dollar and
 * microsecond sums, and the log-safe encoding of request-environment values. */
#include "llmgw_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* LLM calls run from tens of milliseconds (embeddings, cached answers) to minutes
 * (long reasoning); the bounds are spread about evenly on a log scale. */
const uint64_t llmgw_hist_bounds_us[LLMGW_HIST_NBOUNDS] = {
    10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
    10000000, 20000000, 30000000, 60000000, 120000000,
};

int llmgw_hist_bucket(uint64_t us)
{
    int i = 0;
    while (i < LLMGW_HIST_NBOUNDS && us > llmgw_hist_bounds_us[i])
        i++;
    return i;
}

/* Length of the valid UTF-8 sequence at s (1–4), or 0 when the bytes are not one.
 * Overlong forms and surrogates are invalid (RFC 3629). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80
                   ? 4 : 0;
    }
    return 0;
}

size_t llmgw_label_sanitize(const char *s, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        size_t n = utf8_len(p);   /* never reads past the NUL: it fails the 10xxxxxx test */
        if (n == 1 && (*p < 0x20 || *p == 0x7F))
            n = 0;
        if (o + (n ? n : 1) >= cap)
            return (size_t)-1;
        if (n) {
            memcpy(out + o, p, n);
            o += n;
            p += n;
        } else {
            out[o++] = '?';
            p++;
        }
    }
    if (o >= cap)
        return (size_t)-1;
    out[o] = '\0';
    return o;
}

size_t llmgw_label_escape(const char *v, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i], e = c == '\\' ? '\\' : c == '"' ? '"' : c == '\n' ? 'n' : 0;
        if (o + (e ? 2 : 1) >= cap)
            return (size_t)-1;
        if (e) {
            out[o++] = '\\';
            out[o++] = e;
        } else {
            out[o++] = c;
        }
    }
    if (o >= cap)
        return (size_t)-1;
    out[o] = '\0';
    return o;
}

static int log_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7F && c != '%';
}

int llmgw_log_is_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!log_plain(*p))
            return 0;
    return 1;
}

size_t llmgw_log_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (o + (log_plain(*p) ? 1 : 3) >= cap)
            return (size_t)-1;
        if (log_plain(*p)) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= cap)
        return (size_t)-1;
    out[o] = '\0';
    return o;
}

size_t llmgw_count_lines(const char *data, size_t len)
{
    size_t n = 0;
    const char *p = data, *end = data + len;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
        n++;
        p++;
    }
    return n;
}

/* --- text exposition ---------------------------------------------------------------- */

static void put(const llmgw_emitter *em, const char *s)
{
    em->write(em->ctx, s, strlen(s));
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void put_escaped(const llmgw_emitter *em, const char *s, int quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *e = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n"
                        : (quote && *s == '"') ? "\\\"" : NULL;
        if (!e)
            continue;
        if (s > run)
            em->write(em->ctx, run, (size_t)(s - run));
        put(em, e);
        run = s + 1;
    }
    if (s > run)
        em->write(em->ctx, run, (size_t)(s - run));
}

void llmgw_expose_family(const llmgw_emitter *em, const char *name, const char *type,
                         const char *help)
{
    put(em, "# HELP ");
    put(em, name);
    put(em, " ");
    put_escaped(em, help, 0);
    put(em, "\n# TYPE ");
    put(em, name);
    put(em, " ");
    put(em, type);
    put(em, "\n");
}

void llmgw_expose_sample(const llmgw_emitter *em, const char *name, const llmgw_label *labels,
                         int nlabels, const char *value)
{
    put(em, name);
    for (int i = 0; i < nlabels && i < LLMGW_METRICS_MAX_LABELS; i++) {
        put(em, i ? "," : "{");
        put(em, labels[i].name);
        put(em, "=\"");
        put_escaped(em, labels[i].value ? labels[i].value : "", 1);
        put(em, "\"");
    }
    if (nlabels > 0)
        put(em, "}");
    put(em, " ");
    put(em, value);
    put(em, "\n");
}

void llmgw_expose_u64(const llmgw_emitter *em, const char *name, const llmgw_label *labels,
                      int nlabels, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    llmgw_expose_sample(em, name, labels, nlabels, buf);
}

size_t llmgw_format_pico(uint64_t pico, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%" PRIu64 ".%012" PRIu64, pico / UINT64_C(1000000000000),
                     pico % UINT64_C(1000000000000));
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t llmgw_format_us(uint64_t us, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void llmgw_expose_histogram(const llmgw_emitter *em, const char *name,
                            const llmgw_label *labels, int nlabels, const uint64_t *buckets,
                            uint64_t sum_us)
{
    char metric[128], le[24];
    llmgw_label with_le[LLMGW_METRICS_MAX_LABELS];
    uint64_t cumulative = 0;
    if (nlabels > LLMGW_METRICS_MAX_LABELS - 1)
        nlabels = LLMGW_METRICS_MAX_LABELS - 1;
    memcpy(with_le, labels, sizeof *labels * (size_t)nlabels);
    with_le[nlabels].name = "le";
    with_le[nlabels].value = le;
    snprintf(metric, sizeof metric, "%s_bucket", name);
    for (int i = 0; i < LLMGW_HIST_NBUCKETS; i++) {
        cumulative += buckets[i];
        if (i < LLMGW_HIST_NBOUNDS) {
            /* the shortest exact decimal: 10000 µs → "0.01", 2500000 → "2.5" */
            llmgw_format_us(llmgw_hist_bounds_us[i], le, sizeof le);
            size_t n = strlen(le);
            while (le[n - 1] == '0')
                le[--n] = '\0';
            if (le[n - 1] == '.')
                le[--n] = '\0';
        } else {
            snprintf(le, sizeof le, "+Inf");
        }
        llmgw_expose_u64(em, metric, with_le, nlabels + 1, cumulative);
    }
    char sum[32];
    llmgw_format_us(sum_us, sum, sizeof sum);
    snprintf(metric, sizeof metric, "%s_sum", name);
    llmgw_expose_sample(em, metric, labels, nlabels, sum);
    snprintf(metric, sizeof metric, "%s_count", name);
    llmgw_expose_u64(em, metric, labels, nlabels, cumulative);
}
