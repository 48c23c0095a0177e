/* bench_redact.c — content-rule scanning throughput at core level (no httpd): a 100 KB
 * prompt of English-like prose with some SSNs and card numbers in it, scanned with the
 * spec's LLMGWRedact / LLMGWBlock rules. Times are the thread's CPU time per scan, so
 * other load on the machine does not count. Prints a Markdown table. Run by
 * tests/bench/redaction, which builds it; `bench_redact --help` for options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "llmgw_json_scan.h"
#include "llmgw_redact.h"
#include "llmgw_request.h"

/* ---- a bump allocator reset per iteration: what the request pool does -------------- */

typedef struct {
    char *block;
    size_t used, cap;
} bump;

static void *bump_fn(void *ctx, size_t n)
{
    bump *b = ctx;
    n = (n + 15) & ~(size_t)15;
    if (b->used + n > b->cap) {
        fprintf(stderr, "bench: scratch exhausted\n");
        exit(2);
    }
    void *p = b->block + b->used;
    b->used += n;
    return p;
}

/* ---- input ------------------------------------------------------------------------- */

static const char *const words[] = {
    "the", "quarterly", "report", "shows", "that", "our", "customer", "base", "grew",
    "steadily", "across", "all", "regions", "while", "support", "tickets", "declined", "and",
    "the", "new", "onboarding", "flow", "reduced", "churn", "please", "summarise", "these",
    "notes", "for", "the", "team", "meeting", "on", "Tuesday", "with", "action", "items",
    "owner", "due", "date", "status", "risk", "mitigation", "budget", "forecast", "of",
};

static unsigned rng = 12345;
static unsigned next(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 16;
}

/* Prose of exactly len bytes: about one SSN per 2 KB and one card number per 8 KB. */
static char *prose(size_t len)
{
    char *s = malloc(len + 64);
    size_t n = 0;
    while (n < len) {
        unsigned r = next() % 1000;
        char w[64];
        if (r < 3)
            snprintf(w, sizeof w, "%03u-%02u-%04u", 100 + next() % 800, 10 + next() % 89,
                     1000 + next() % 8999);
        else if (r < 4)
            snprintf(w, sizeof w, "4111%06u%06u", next() % 999999, next() % 999999);
        else if (r < 40)
            snprintf(w, sizeof w, "%u", next() % 100000);
        else
            snprintf(w, sizeof w, "%s", words[next() % (sizeof words / sizeof words[0])]);
        size_t k = strlen(w);
        memcpy(s + n, w, k);
        n += k;
        s[n++] = (next() % 12 == 0) ? '.' : ' ';
    }
    s[len] = '\0';
    return s;
}

/* An OpenAI chat body carrying the prose in 20 messages. */
static char *chat_body(const char *text, size_t len, size_t *out_len)
{
    json_t *msgs = json_array();
    size_t per = len / 20;
    for (int i = 0; i < 20; i++) {
        size_t k = i == 19 ? len - per * 19 : per;
        json_array_append_new(msgs, json_pack("{s:s, s:s%}", "role", i % 2 ? "assistant" : "user",
                                              "content", text + per * (size_t)i, k));
    }
    json_t *root = json_pack("{s:s, s:o, s:f}", "model", "gpt-4o", "messages", msgs,
                             "temperature", 0.7);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    *out_len = strlen(s);
    return s;
}

/* ---- rules ------------------------------------------------------------------------- */

static llmgw_rx *compile(const char *p)
{
    char err[256];
    llmgw_rx *rx = llmgw_rx_compile(p, err, sizeof err);
    if (!rx) {
        fprintf(stderr, "bench: %s: %s\n", p, err);
        exit(2);
    }
    return rx;
}

static double now(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct {
    const char *name;
    const llmgw_content_rules *rules;
    int request;        /* 1: the module's way: validating scan of the body, then the rules
                         * over every message, rewriting the redacted strings; 0: one text;
                         * 2: jansson parse + re-serialise (the tree round trip the module
                         * made before it walked the text) */
} bench_case;

static void run(const bench_case *c, const char *text, size_t tlen, const char *body,
                size_t blen, double seconds, bump *scratch)
{
    llmgw_alloc a = {bump_fn, scratch};
    size_t iters = 0, bytes = c->request ? blen : tlen;
    int redactions = 0, status = 0;
    /* CPU time of this thread: other load on the machine does not count */
    double w0 = now(CLOCK_MONOTONIC), t0 = now(CLOCK_THREAD_CPUTIME_ID), t;
    size_t npat = 0;
    for (size_t i = 0; i < c->rules->nredact; i++)
        npat += (size_t)c->rules->redact[i].nrx;
    for (size_t i = 0; i < c->rules->nblock; i++)
        npat += (size_t)c->rules->block[i].nrx;
    do {
        for (int k = 0; k < 10; k++) {
            llmgw_scan s;
            scratch->used = 0;
            llmgw_scan_init(&s, c->rules, &a);
            if (c->request) {
                char err[256];
                size_t n;
                const char *out;
                if (c->request == 2) {
                    json_t *root = llmgw_request_parse(body, blen, err, sizeof err);
                    status = llmgw_json_dump_alloc(root, &a, blen, &n) ? 0 : -1;
                    json_decref(root);
                } else if (llmgw_json_scan_flags(body, blen, LLMGW_MAX_JSON_DEPTH,
                                                 LLMGW_JSON_UNIQUE_KEYS, NULL, 0, NULL) !=
                           LLMGW_JSON_VALID) {
                    status = -1;
                } else {
                    status = llmgw_scan_request(&s, LLMGW_PT_OPENAI, body, blen, &out, &n);
                }
            } else {
                const char *out;
                size_t n;
                status = llmgw_scan_text(&s, text, tlen, &out, &n);
            }
            redactions = s.redactions;
            iters++;
        }
        t = now(CLOCK_THREAD_CPUTIME_ID) - t0;
    } while (now(CLOCK_MONOTONIC) - w0 < seconds && iters < 1000000);
    printf("| %-44s | %5zu | %8zu | %9.1f | %8.1f | %5d | %-7s |\n", c->name, npat, bytes,
           t / (double)iters * 1e6, (double)bytes * (double)iters / t / 1e6, redactions,
           status == 0 ? "ok" : status == LLMGW_SCAN_BLOCKED ? "blocked" : "FAILED");
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    size_t size = 100 * 1024;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_redact [--seconds S per row] [--size BYTES]\n");
            return 2;
        }
    }
    char *text = prose(size);
    size_t blen;
    char *body = chat_body(text, size, &blen);

    /* the spec's rules, and a block rule that matches near the end of the prompt */
    llmgw_rx *pii[] = {compile("\\b\\d{3}-\\d{2}-\\d{4}\\b"), compile("\\b\\d{16}\\b")};
    llmgw_rx *topics[] = {compile("confidential"), compile("internal only")};
    llmgw_rx *email[] = {compile("[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}")};
    llmgw_rx *ci[] = {compile("(?i)confidential"), compile("(?i)internal\\s+only")};
    llmgw_content_rule r_pii = {"pii-protection", pii, 2};
    llmgw_content_rule r_topics = {"block-sensitive-topics", topics, 2};
    llmgw_content_rule r_email = {"email", email, 1};
    llmgw_content_rule r_ci = {"block-ci", ci, 2};
    llmgw_content_rule redact_all[] = {r_pii, r_email};
    llmgw_content_rules only_block = {NULL, 0, &r_topics, 1};
    llmgw_content_rules only_redact = {&r_pii, 1, NULL, 0};
    llmgw_content_rules spec = {&r_pii, 1, &r_topics, 1};
    llmgw_content_rules spec_ci = {&r_pii, 1, &r_ci, 1};
    llmgw_content_rules wide = {redact_all, 2, &r_ci, 1};
    llmgw_content_rules none = {NULL, 0, NULL, 0};

    const bench_case cases[] = {
        {"block: 2 literals", &only_block, 0},
        {"redact: SSN + card (spec pii-protection)", &only_redact, 0},
        {"spec rules: redact + block", &spec, 0},
        {"spec rules, block case-insensitive", &spec_ci, 0},
        {"redact SSN, card, email + block (?i)", &wide, 0},
        {"request: jansson parse + re-serialise (old)", &none, 2},
        {"request: validating scan, no rules", &none, 1},
        {"request: scan + spec rules + rewrite", &spec, 1},
        {"request: scan + wide rules + rewrite", &wide, 1},
    };
    bump scratch = {malloc(64 << 20), 0, 64 << 20};
    printf("Content rules over a %zu-byte prompt (%zu-byte OpenAI chat body, 20 messages); "
           "JIT: %s\n\n", size, blen, llmgw_rx_is_jit(pii[0]) ? "yes" : "no");
    printf("| %-44s | %5s | %8s | %9s | %8s | %5s | %-7s |\n", "case", "pats", "bytes",
           "CPU us", "MB/s", "redac", "result");
    printf("|%s|%s|%s|%s|%s|%s|%s|\n", "----------------------------------------------",
           "-------", "----------", "-----------", "----------", "-------", "---------");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run(&cases[i], text, size, body, blen, seconds, &scratch);

    for (int i = 0; i < 2; i++) {
        llmgw_rx_free(pii[i]);
        llmgw_rx_free(topics[i]);
        llmgw_rx_free(ci[i]);
    }
    llmgw_rx_free(email[0]);
    free(scratch.block);
    free(body);
    free(text);
    return 0;
}
