/* llmgw_mstore.h — the metrics store: counters and histograms for every series, kept in
 * one memory segment that all httpd children share (anonymous shared memory made by the
 * parent). Fixed-size open-addressing tables keyed by label values; a known series is
 * found and counted with atomics only; a new series is inserted under a spinlock that
 * lives in the segment itself (held for one key copy, never across I/O; a lock whose
 * holder died is taken over). Beyond the configured number of series, requests count
 * in a per-provider overflow series whose other labels read "__overflow__".
 * Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_MSTORE_H
#define LLMGW_MSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "llmgw_memo.h"
#include "llmgw_metrics.h"

#define LLMGW_MLABEL_USER 1u         /* LLMGWMetricsLabels … user_id */
#define LLMGW_MLABEL_TEAM 2u         /* LLMGWMetricsLabels … team */
#define LLMGW_MSTORE_KEY_MAX 512     /* label values of one series, bytes */
#define LLMGW_MSTORE_RULE_MAX 128    /* one rule name, bytes */
#define LLMGW_MSTORE_STATUSES 16     /* distinct statuses kept per series */
#define LLMGW_MSTORE_MAX_RULES 256   /* distinct rule names per family */
#define LLMGW_MSTORE_MAX_SERIES 100000
#define LLMGW_OVERFLOW "__overflow__"

typedef struct {
    unsigned labels;                 /* LLMGW_MLABEL_* on top of provider and model */
    uint32_t max_series;             /* distinct label sets before the overflow series */
    uint32_t nproviders;
    const char *const *providers;    /* every provider gets an overflow series */
} llmgw_mstore_conf;

struct llmgw_mhdr;
struct llmgw_ktab;

/* A process's view of a segment (pointers into it). */
typedef struct {
    struct llmgw_mhdr *h;
    struct llmgw_ktab *series, *overflow, *rules;
} llmgw_mstore;

/* Bytes a segment for c needs. */
size_t llmgw_mstore_size(const llmgw_mstore_conf *c);

/* 64-bit digest of everything that shapes a segment (labels, sizes, provider names in
 * the given order): a segment kept across restarts is reused only when it matches. */
uint64_t llmgw_mstore_fingerprint(const llmgw_mstore_conf *c);

/* Formats zeroed memory (mem, size >= llmgw_mstore_size(c)) as an empty store and
 * attaches st to it. 0, or -1 when size is too small or a provider name is unusable. */
int llmgw_mstore_init(llmgw_mstore *st, void *mem, size_t size, const llmgw_mstore_conf *c);

/* Attaches st to a segment formatted earlier with the same fingerprint. 0 or -1. */
int llmgw_mstore_attach(llmgw_mstore *st, void *mem, size_t size, uint64_t fingerprint);

/* One finished request. Strings may be NULL (= ""); they are made safe here. */
typedef struct {
    const char *provider, *model, *user, *team;
    int status;
    uint64_t prompt_tokens, completion_tokens;
    uint64_t cost_pico;              /* 0 when no price applies */
    uint64_t duration_us;
    int has_ttft;
    uint64_t ttft_us;
} llmgw_mobs;

#define LLMGW_MREC_FULL     1   /* the series limit was reached by this very call (log it) */
#define LLMGW_MREC_OVERFLOW 2   /* counted in the overflow series */
#define LLMGW_MREC_LOST     4   /* no overflow series for this provider: not counted */

/* Counts one request. Returns LLMGW_MREC_* flags (0 when nothing is worth saying). */
int llmgw_mstore_record(llmgw_mstore *st, const llmgw_mobs *o);

/* llmgw_mstore_record through a memo of the series lately counted in (NULL: none),
 * by their labels as given: a repeat skips building the series key and looking it up
 * in the segment. Series are never removed, so a remembered one stays valid for the
 * store. */
int llmgw_mstore_record_memo(llmgw_mstore *st, llmgw_memo *m, const llmgw_mobs *o);

typedef enum { LLMGW_MRULE_RATE_LIMITED = 0, LLMGW_MRULE_BLOCKED = 1 } llmgw_mrule;

/* Counts one refusal by a named rule (rate limit or content block). Same flags. */
int llmgw_mstore_rule(llmgw_mstore *st, llmgw_mrule kind, const char *rule);

/* Audit delivery: records acknowledged by auditd; records waiting in the spool. */
void llmgw_mstore_audit_sent(llmgw_mstore *st, uint64_t records);
void llmgw_mstore_spooled_add(llmgw_mstore *st, int64_t delta);
void llmgw_mstore_spooled_set(llmgw_mstore *st, int64_t records);
int64_t llmgw_mstore_spooled(const llmgw_mstore *st);

/* Rule counts kept outside the store (the rate limiter's own table), merged into the
 * family by rule name. Names must be sanitized (llmgw_label_sanitize); the array is
 * sorted in place. */
typedef struct {
    const char *rule;
    uint64_t count;
} llmgw_mrule_count;

typedef struct {
    llmgw_mrule_count *rate_limited;
    size_t n_rate_limited;
} llmgw_mstore_extra;

/* Every family of SPEC §10 in the Prometheus text format, series sorted by labels.
 * scratch: llmgw_mstore_scratch_size(st) bytes the caller provides (no allocation).
 * extra may be NULL. */
size_t llmgw_mstore_scratch_size(const llmgw_mstore *st);
void llmgw_mstore_expose(const llmgw_mstore *st, const llmgw_emitter *em, void *scratch,
                         const llmgw_mstore_extra *extra);

#endif
