/* llmgw_metrics.h — the pieces of Prometheus exposition that need no shared state:
 * label values made safe (valid UTF-8, no control characters) and escaped, histogram
 * bucket arithmetic for LLM latencies, and text-format lines (HELP/TYPE, samples,
 * histograms, pico-dollar sums as exact decimals). Also the log-safe form of strings
 * put in the request environment. Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_METRICS_H
#define LLMGW_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Histogram upper bounds in microseconds, 10 ms … 120 s; a last +Inf bucket follows.
 * The same bounds serve request duration and time to first token. */
#define LLMGW_HIST_NBOUNDS 14
#define LLMGW_HIST_NBUCKETS (LLMGW_HIST_NBOUNDS + 1)
extern const uint64_t llmgw_hist_bounds_us[LLMGW_HIST_NBOUNDS];

/* Index of the bucket an observation of us microseconds falls in: the first bound
 * >= us, or LLMGW_HIST_NBOUNDS (+Inf). */
int llmgw_hist_bucket(uint64_t us);

/* Copies s into out as a label value Prometheus accepts: valid UTF-8 sequences are
 * kept, every invalid byte and every control character becomes '?'. Returns the
 * length written (out is NUL-terminated), or (size_t)-1 when it does not fit in cap. */
size_t llmgw_label_sanitize(const char *s, char *out, size_t cap);

/* Writes v (n bytes) with '\\', '"' and newline escaped as the text format wants.
 * Returns the length (out NUL-terminated) or (size_t)-1 when cap is too small;
 * 2n+1 bytes always suffice. */
size_t llmgw_label_escape(const char *v, size_t n, char *out, size_t cap);

/* 1 when s needs no change to appear in an access log line as it is (printable ASCII
 * other than '%'): mod_log_config writes other bytes as \xHH, which JSON rejects. */
int llmgw_log_is_safe(const char *s);

/* s with bytes outside printable ASCII, and '%', percent-encoded (%HH). Returns the
 * length (out NUL-terminated) or (size_t)-1 when cap is too small (3n+1 suffices). */
size_t llmgw_log_encode(const char *s, char *out, size_t cap);

/* Number of '\n' in data: records in an NDJSON batch. */
size_t llmgw_count_lines(const char *data, size_t len);

/* --- text exposition -------------------------------------------------------------- */

/* Where exposition text goes (a brigade in httpd, a buffer in tests). */
typedef struct {
    void (*write)(void *ctx, const char *s, size_t n);
    void *ctx;
} llmgw_emitter;

typedef struct {
    const char *name;
    const char *value;      /* already sanitized (llmgw_label_sanitize) */
} llmgw_label;

#define LLMGW_METRICS_MAX_LABELS 8

/* "# HELP name help\n# TYPE name type\n" */
void llmgw_expose_family(const llmgw_emitter *em, const char *name, const char *type,
                         const char *help);

/* One sample: name{labels} value, where value is already formatted. At most
 * LLMGW_METRICS_MAX_LABELS labels (a histogram adds "le" to at most one less). */
void llmgw_expose_sample(const llmgw_emitter *em, const char *name, const llmgw_label *labels,
                         int nlabels, const char *value);

/* One sample with an unsigned integer value. */
void llmgw_expose_u64(const llmgw_emitter *em, const char *name, const llmgw_label *labels,
                      int nlabels, uint64_t v);

/* Pico-dollars (1e-12 USD) as an exact decimal number of dollars: 1234 → "0.000000001234". */
size_t llmgw_format_pico(uint64_t pico, char *buf, size_t cap);

/* Microseconds as decimal seconds: 1500 → "0.001500". */
size_t llmgw_format_us(uint64_t us, char *buf, size_t cap);

/* A whole histogram series: name_bucket{labels,le} (cumulative, ending with +Inf),
 * name_sum (seconds), name_count (= the +Inf bucket). buckets holds
 * LLMGW_HIST_NBUCKETS per-bucket (not cumulative) counts; sum_us the sum in µs. */
void llmgw_expose_histogram(const llmgw_emitter *em, const char *name,
                            const llmgw_label *labels, int nlabels, const uint64_t *buckets,
                            uint64_t sum_us);

#endif
