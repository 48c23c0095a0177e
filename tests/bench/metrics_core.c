/* metrics_core.c — microbenchmark of the metrics store's per-request work, as
 * llmgw_metrics_log_transaction does it: build and sanitize the series key, find the
 * series (inserting it the first time), add tokens, cost, status and two histogram
 * observations with atomics. Each call is timed on its own (CLOCK_MONOTONIC, which
 * itself costs a few tens of ns), so the rows show the median and p99 of one request's
 * counting; then the cost of one scrape (exposition of every series). Built and run by
 * tests/bench/metrics against libllmgw; prints Markdown rows. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "llmgw_mstore.h"

#define ITER 200000

static const char *const PROVIDERS[] = {"anthropic", "google", "openai"};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static llmgw_mstore make(unsigned labels, uint32_t max_series)
{
    llmgw_mstore_conf c = {labels, max_series, 3, PROVIDERS};
    size_t size = llmgw_mstore_size(&c);
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    llmgw_mstore st;
    if (mem == MAP_FAILED || llmgw_mstore_init(&st, mem, size, &c) != 0) {
        fprintf(stderr, "cannot make a store\n");
        exit(2);
    }
    return st;
}

typedef struct {
    llmgw_mstore *st;
    int users, models;
    int64_t *ns;
} run;

static const char *MODELS[] = {"gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022",
                               "claude-3-haiku-20240307", "gemini-2.0-flash",
                               "gemini-1.5-pro", "o3-mini", "text-embedding-3-small",
                               "gpt-4.1", "claude-sonnet-4"};

static void *loop(void *arg)
{
    run *r = arg;
    char user[32], team[32];
    for (int i = 0; i < ITER; i++) {
        int u = (int)((unsigned)i * 2654435761u % (unsigned)r->users);
        snprintf(user, sizeof user, "user-%05d", u);
        snprintf(team, sizeof team, "team-%02d", u % 40);
        llmgw_mobs o = {.provider = PROVIDERS[i % 3], .model = MODELS[i % r->models],
                        .user = user, .team = team, .status = i % 50 ? 200 : 429,
                        .prompt_tokens = 25, .completion_tokens = 12, .cost_pico = 176250000,
                        .duration_us = (uint64_t)(i % 5000) * 1000, .has_ttft = 1,
                        .ttft_us = 40000};
        int64_t t0 = now_ns();
        llmgw_mstore_record(r->st, &o);
        r->ns[i] = now_ns() - t0;
    }
    return NULL;
}

static void report(const char *name, int64_t *ns, size_t n)
{
    qsort(ns, n, sizeof *ns, cmp64);
    printf("| %s | %lld | %lld |\n", name, (long long)ns[n / 2], (long long)ns[n * 99 / 100]);
}

static void count_bytes(void *ctx, const char *s, size_t n)
{
    (void)s;
    *(size_t *)ctx += n;
}

static void scrape(const char *name, llmgw_mstore *st)
{
    size_t bytes = 0;
    llmgw_emitter em = {count_bytes, &bytes};
    void *scratch = malloc(llmgw_mstore_scratch_size(st));
    int64_t best = INT64_MAX;
    for (int k = 0; k < 5; k++) {
        bytes = 0;
        int64_t t0 = now_ns();
        llmgw_mstore_expose(st, &em, scratch, NULL);
        int64_t t = now_ns() - t0;
        if (t < best)
            best = t;
    }
    free(scratch);
    printf("| %s | %.2f ms | %zu KB |\n", name, (double)best / 1e6, bytes / 1024);
}

int main(void)
{
    int64_t *ns = malloc(sizeof *ns * ITER * 2);
    printf("| one request counted (labels, series) | median ns | p99 ns |\n|---|---|---|\n");

    llmgw_mstore a = make(0, 1000);
    run ra = {&a, 1, 10, ns};
    loop(&ra);
    report("provider model: 30 series, 1 thread", ns, ITER);

    llmgw_mstore b = make(LLMGW_MLABEL_USER | LLMGW_MLABEL_TEAM, 20000);
    run rb = {&b, 1000, 4, ns};
    loop(&rb);
    report("provider model user_id team: 12000 series, 1 thread", ns, ITER);

    llmgw_mstore c = make(0, 1000);
    run rc[2] = {{&c, 1, 1, ns}, {&c, 1, 1, ns + ITER}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, loop, &rc[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    report("provider model: 3 series, 2 threads contending", ns, 2 * ITER);

    printf("\n| one scrape (exposition) | time | size |\n|---|---|---|\n");
    scrape("30 series (provider model)", &a);
    scrape("12000 series (provider model user_id team)", &b);
    free(ns);
    return 0;
}
