/* limits_core.c — microbenchmark of the rate limiter's per-request work, as
 * llmgw_limits_check does it with the shm store: for each of two rules (requests per
 * user per hour, tokens per team per day) compute the window, the counter key and its
 * fingerprint, find or claim the slot, then take one request / read the token count.
 * Each iteration is timed on its own (CLOCK_MONOTONIC), so the table shows the median
 * and p99 of one request's limiter work, single-threaded over many users and with
 * THREADS threads contending on one user's counters. Built and run by tests/bench/limits
 * against libllmgw; prints one Markdown row per scenario.
 *
 * `limits_core callgrind N` instead runs N requests' worth of the module's whole
 * per-request limiter work (the check above plus the x-ratelimit-* header values an
 * answer that passed carries) in requests(), untimed, for an instruction count:
 *   valgrind --tool=callgrind --toggle-collect=requests ./limits_core callgrind 100000
 * and divide the total by N. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmgw_limtable.h"
#include "llmgw_ratelimit.h"

#define ITER 200000
#define USERS 1000

static llmgw_lt table;
static llmgw_rl_rule rules[2];

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One request's limiter work; returns 1 when both rules passed. */
static int check(const char *user, const char *team, int64_t now)
{
    const char *principal[2] = {user, team};
    for (int i = 0; i < 2; i++) {
        llmgw_rl_window w;
        char key[LLMGW_RL_KEY_MAX];
        int64_t used;
        llmgw_rl_window_at(&rules[i], now, &w);
        size_t n = llmgw_rl_key(&rules[i], &w, principal[i], key, sizeof key);
        llmgw_lt_slot *s = llmgw_lt_acquire(&table, llmgw_rl_fingerprint(key, n), w.end, now);
        if (!s)
            return 0;
        if (rules[i].kind == LLMGW_RL_REQUESTS) {
            if (!llmgw_lt_take(s, 1, rules[i].limit, &used))
                return 0;
        } else if (llmgw_lt_count(s) >= rules[i].limit) {
            return 0;
        }
    }
    return 1;
}

/* The header values of one rule as mod_llmgw_limits.c writes them (rule_headers): the
 * limit's text was written when the rule was parsed; remaining and reset now. */
static size_t header_texts(const llmgw_rl_rule *r, const llmgw_rl_window *w, int64_t used,
                           int64_t now_ms)
{
    char left[40], reset[32];
    return strlen(r->limit_text) +
           llmgw_rl_people_text(r->kind, llmgw_rl_remaining(r, used), left, sizeof left) +
           llmgw_rl_reset_text(w, now_ms, reset, sizeof reset);
}

/* One request as the module does it when it passes: window, key, fingerprint, slot
 * and count for both rules, then the header values. Returns text bytes written. */
static size_t module_request(const char *user, const char *team, int64_t now_ms)
{
    const char *principal[2] = {user, team};
    int64_t now = now_ms / 1000, used[2] = {0, 0};
    llmgw_rl_window w[2];
    size_t out = 0;
    for (int i = 0; i < 2; i++) {
        char key[LLMGW_RL_KEY_MAX];
        llmgw_rl_window_at(&rules[i], now, &w[i]);
        size_t n = llmgw_rl_key(&rules[i], &w[i], principal[i], key, sizeof key);
        llmgw_lt_slot *s = llmgw_lt_acquire(&table, llmgw_rl_fingerprint(key, n), w[i].end, now);
        if (!s)
            return 0;
        if (rules[i].kind == LLMGW_RL_REQUESTS)
            llmgw_lt_take(s, 1, rules[i].limit, &used[i]);
        else
            used[i] = llmgw_lt_count(s);
        out += n;
    }
    for (int i = 0; i < 2; i++)
        out += header_texts(&rules[i], &w[i], used[i], now_ms);
    return out;
}

/* The measured loop (callgrind --toggle-collect=requests): n requests over USERS
 * users whose names were written beforehand. */
static __attribute__((noinline)) size_t requests(int n, char (*users)[16], int64_t now_ms)
{
    size_t out = 0;
    for (int i = 0; i < n; i++)
        out += module_request(users[i % USERS], "research", now_ms + i);
    return out;
}

static int callgrind_mode(int n)
{
    static char users[USERS][16];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (int i = 0; i < USERS; i++)
        snprintf(users[i], sizeof users[i], "user%d", i);
    size_t out = requests(n, users, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    printf("%d requests, %zu bytes of keys and header text\n", n, out);
    return 0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    int same_user;
    int64_t *ns;
    int passed;
} job;

static void *run(void *arg)
{
    job *j = arg;
    char user[32];
    int64_t now = (int64_t)time(NULL);
    for (int i = 0; i < ITER; i++) {
        snprintf(user, sizeof user, "user%d", j->same_user ? 0 : i % USERS);
        int64_t t0 = now_ns();
        j->passed += check(user, "research", now);
        j->ns[i] = now_ns() - t0;
    }
    return NULL;
}

static void scenario(const char *name, int threads, int same_user)
{
    job jobs[8];
    pthread_t tid[8];
    int64_t *all = malloc(sizeof(int64_t) * ITER * (size_t)threads);
    int64_t clock_cost = now_ns();
    clock_cost = now_ns() - clock_cost;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){same_user, all + (size_t)t * ITER, 0};
        pthread_create(&tid[t], NULL, run, &jobs[t]);
    }
    int passed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        passed += jobs[t].passed;
    }
    size_t n = (size_t)ITER * (size_t)threads;
    qsort(all, n, sizeof all[0], cmp64);
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += (double)all[i];
    printf("| %s | %d | %zu | %lld | %lld | %.0f | %d |\n", name, threads, n,
           (long long)all[n / 2], (long long)all[n * 99 / 100], mean / (double)n, passed);
    free(all);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    char err[256];
    const char *a[] = {"per=user", "requests=1000000000", "window=1h"};
    const char *b[] = {"per=team", "tokens=1000000000000", "window=1d"};
    if (threads < 1 || threads > 8)
        threads = 2;
    if (llmgw_rl_parse("bench-req", 3, a, &rules[0], err, sizeof err) < 0 ||
        llmgw_rl_parse("bench-tok", 3, b, &rules[1], err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    size_t size = llmgw_lt_size(65536, 256);
    void *mem = calloc(1, size);
    llmgw_lt_init(&table, mem, 65536, 256);
    if (argc > 2 && !strcmp(argv[1], "callgrind")) {
        int rc = callgrind_mode(atoi(argv[2]));
        free(mem);
        return rc;
    }
    printf("| scenario | threads | checks | median ns | p99 ns | mean ns | passed |\n");
    printf("|---|---|---|---|---|---|---|\n");
    scenario("2 rules, 1000 users (shm table, 65536 slots)", 1, 0);
    scenario("2 rules, one user and team, contended", threads, 1);
    free(mem);
    return 0;
}
