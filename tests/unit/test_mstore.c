/* test_mstore.c — cmocka tests for the shared metrics store: exact exposition text,
 * label options, the series cap and its overflow series, the status table, rule counts
 * merged with counts kept elsewhere, sums from several processes writing at once, the
 * insert lock (dead holder replaced, live holder waited for a bounded time) and
 * re-attaching a kept segment. The store's source is included to reach the lock word. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "llmgw_mstore.c"

static const char *const PROVIDERS[] = {"anthropic", "google", "openai"};

typedef struct {
    char *buf;
    size_t len, cap;
} sink;

static void sink_write(void *ctx, const char *s, size_t n)
{
    sink *k = ctx;
    if (k->len + n + 1 > k->cap) {
        k->cap = (k->len + n + 1) * 2;
        k->buf = realloc(k->buf, k->cap);
        assert_non_null(k->buf);
    }
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    k->buf[k->len] = '\0';
}

typedef struct {
    void *mem;
    size_t size;
    llmgw_mstore st;
    llmgw_mstore_conf c;
} fixture;

/* Shared anonymous memory, as httpd's parent makes it, so forked children share it. */
static fixture *make(unsigned labels, uint32_t max_series)
{
    fixture *f = calloc(1, sizeof *f);
    f->c.labels = labels;
    f->c.max_series = max_series;
    f->c.nproviders = 3;
    f->c.providers = PROVIDERS;
    f->size = llmgw_mstore_size(&f->c);
    f->mem = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(f->mem != MAP_FAILED);
    assert_int_equal(llmgw_mstore_init(&f->st, f->mem, f->size, &f->c), 0);
    return f;
}

static void drop(fixture *f)
{
    munmap(f->mem, f->size);
    free(f);
}

static char *expose(fixture *f, llmgw_mstore_extra *extra)
{
    sink k = {NULL, 0, 0};
    llmgw_emitter em = {sink_write, &k};
    void *scratch = malloc(llmgw_mstore_scratch_size(&f->st));
    llmgw_mstore_expose(&f->st, &em, scratch, extra);
    free(scratch);
    return k.buf;
}

static llmgw_mobs obs(const char *provider, const char *model, const char *user, int status)
{
    llmgw_mobs o = {.provider = provider, .model = model, .user = user, .team = "research",
                    .status = status, .prompt_tokens = 25, .completion_tokens = 12,
                    .cost_pico = 182500000, .duration_us = 300000, .has_ttft = 1,
                    .ttft_us = 40000};
    return o;
}

/* The value of the sample line that starts with prefix (name and labels), or -1. */
static double value_of(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, prefix, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_exact_exposition(void **state)
{
    (void)state;
    fixture *f = make(0, 100);
    llmgw_mobs a = obs("openai", "gpt-4o", "alice", 200);
    llmgw_mobs b = obs("openai", "gpt-4o", "bob", 429);
    b.prompt_tokens = b.completion_tokens = b.cost_pico = 0;
    b.has_ttft = 0;
    b.duration_us = 5000;
    assert_int_equal(llmgw_mstore_record(&f->st, &a), 0);
    assert_int_equal(llmgw_mstore_record(&f->st, &a), 0);
    assert_int_equal(llmgw_mstore_record(&f->st, &b), 0);
    llmgw_mstore_rule(&f->st, LLMGW_MRULE_BLOCKED, "pii");
    llmgw_mstore_audit_sent(&f->st, 3);
    llmgw_mstore_spooled_set(&f->st, 2);
    char *t = expose(f, NULL);
    const char *want =
        "# HELP llmgw_requests_total Requests through the gateway by provider, model and HTTP status.\n"
        "# TYPE llmgw_requests_total counter\n"
        "llmgw_requests_total{provider=\"openai\",model=\"gpt-4o\",status=\"200\"} 2\n"
        "llmgw_requests_total{provider=\"openai\",model=\"gpt-4o\",status=\"429\"} 1\n"
        "# HELP llmgw_tokens_total Tokens billed by the provider (prompt includes cached input, completion includes reasoning).\n"
        "# TYPE llmgw_tokens_total counter\n"
        "llmgw_tokens_total{provider=\"openai\",model=\"gpt-4o\",type=\"prompt\"} 50\n"
        "llmgw_tokens_total{provider=\"openai\",model=\"gpt-4o\",type=\"completion\"} 24\n"
        "# HELP llmgw_cost_dollars_total Cost in US dollars from LLMGWPrice (exact sums of 1e-12 USD).\n"
        "# TYPE llmgw_cost_dollars_total counter\n"
        "llmgw_cost_dollars_total{provider=\"openai\",model=\"gpt-4o\"} 0.000365000000\n"
        "# HELP llmgw_request_duration_seconds Time from the request's arrival to the end of the response.\n"
        "# TYPE llmgw_request_duration_seconds histogram\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.01\"} 1\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.025\"} 1\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.05\"} 1\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.1\"} 1\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.25\"} 1\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.5\"} 3\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"1\"} 3\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"2.5\"} 3\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"5\"} 3\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"10\"} 3\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"20\"} 3\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"30\"} 3\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"60\"} 3\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"120\"} 3\n"
        "llmgw_request_duration_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"+Inf\"} 3\n"
        "llmgw_request_duration_seconds_sum{provider=\"openai\",model=\"gpt-4o\"} 0.605000\n"
        "llmgw_request_duration_seconds_count{provider=\"openai\",model=\"gpt-4o\"} 3\n"
        "# HELP llmgw_time_to_first_token_seconds Time from the request's arrival to the first response byte from the provider (the first token of a stream).\n"
        "# TYPE llmgw_time_to_first_token_seconds histogram\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.01\"} 0\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.025\"} 0\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.05\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.1\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.25\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"0.5\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"1\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"2.5\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"5\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"10\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"20\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"30\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"60\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"120\"} 2\n"
        "llmgw_time_to_first_token_seconds_bucket{provider=\"openai\",model=\"gpt-4o\",le=\"+Inf\"} 2\n"
        "llmgw_time_to_first_token_seconds_sum{provider=\"openai\",model=\"gpt-4o\"} 0.080000\n"
        "llmgw_time_to_first_token_seconds_count{provider=\"openai\",model=\"gpt-4o\"} 2\n"
        "# HELP llmgw_rate_limited_total Requests refused with 429 by a rate limit or budget rule.\n"
        "# TYPE llmgw_rate_limited_total counter\n"
        "# HELP llmgw_blocked_total Requests refused by a content rule (LLMGWBlock).\n"
        "# TYPE llmgw_blocked_total counter\n"
        "llmgw_blocked_total{rule=\"pii\"} 1\n"
        "# HELP llmgw_audit_spooled_records Usage records waiting in LLMGWAuditSpool for llmgw-auditd.\n"
        "# TYPE llmgw_audit_spooled_records gauge\n"
        "llmgw_audit_spooled_records 2\n"
        "# HELP llmgw_audit_sent_total Usage records llmgw-auditd acknowledged (committed to PostgreSQL).\n"
        "# TYPE llmgw_audit_sent_total counter\n"
        "llmgw_audit_sent_total 3\n";
    assert_string_equal(t, want);
    free(t);
    drop(f);
}

static void test_user_team_labels(void **state)
{
    (void)state;
    fixture *f = make(LLMGW_MLABEL_USER | LLMGW_MLABEL_TEAM, 100);
    llmgw_mobs a = obs("openai", "gpt-4o", "alice", 200), b = obs("openai", "gpt-4o", "bob", 200);
    b.team = NULL;      /* no team: label present, empty */
    llmgw_mstore_record(&f->st, &a);
    llmgw_mstore_record(&f->st, &b);
    llmgw_mstore_record(&f->st, &b);
    char *t = expose(f, NULL);
    assert_true(value_of(t, "llmgw_requests_total{provider=\"openai\",model=\"gpt-4o\","
                            "user_id=\"alice\",team=\"research\",status=\"200\"}") == 1);
    assert_true(value_of(t, "llmgw_requests_total{provider=\"openai\",model=\"gpt-4o\","
                            "user_id=\"bob\",team=\"\",status=\"200\"}") == 2);
    assert_true(value_of(t, "llmgw_cost_dollars_total{provider=\"openai\",model=\"gpt-4o\","
                            "user_id=\"bob\",team=\"\"}") == 0.000365);
    /* histograms are summed over users: one series per provider and model */
    assert_true(value_of(t, "llmgw_request_duration_seconds_count{provider=\"openai\","
                            "model=\"gpt-4o\"}") == 3);
    assert_int_equal(count_lines_with(t, "llmgw_request_duration_seconds_count{"), 1);
    free(t);
    drop(f);
}

static void test_user_only_label(void **state)
{
    (void)state;
    fixture *f = make(LLMGW_MLABEL_USER, 100);
    llmgw_mobs a = obs("google", "gemini-2.0-flash", "alice", 200);
    llmgw_mstore_record(&f->st, &a);
    char *t = expose(f, NULL);
    assert_true(value_of(t, "llmgw_tokens_total{provider=\"google\",model=\"gemini-2.0-flash\","
                            "user_id=\"alice\",type=\"prompt\"}") == 25);
    assert_null(strstr(t, "team="));
    free(t);
    drop(f);
}

static void test_cap_and_overflow(void **state)
{
    (void)state;
    fixture *f = make(0, 2);
    llmgw_mobs o = obs("openai", "m1", NULL, 200);
    assert_int_equal(llmgw_mstore_record(&f->st, &o), 0);
    o.model = "m2";
    assert_int_equal(llmgw_mstore_record(&f->st, &o), 0);
    o.model = "m3";     /* third label set: the limit */
    assert_int_equal(llmgw_mstore_record(&f->st, &o), LLMGW_MREC_FULL | LLMGW_MREC_OVERFLOW);
    o.model = "m4";     /* reported once only */
    o.status = 502;
    assert_int_equal(llmgw_mstore_record(&f->st, &o), LLMGW_MREC_OVERFLOW);
    o.model = "m1";     /* known series still count as themselves */
    assert_int_equal(llmgw_mstore_record(&f->st, &o), 0);
    /* a client naming its model like the overflow series cannot make a duplicate */
    o.model = LLMGW_OVERFLOW;
    o.provider = "anthropic";
    assert_int_equal(llmgw_mstore_record(&f->st, &o), LLMGW_MREC_OVERFLOW);
    char *t = expose(f, NULL);
    assert_true(value_of(t, "llmgw_requests_total{provider=\"openai\",model=\"__overflow__\","
                            "status=\"200\"}") == 1);
    assert_true(value_of(t, "llmgw_requests_total{provider=\"openai\",model=\"__overflow__\","
                            "status=\"502\"}") == 1);
    assert_true(value_of(t, "llmgw_requests_total{provider=\"openai\",model=\"m1\","
                            "status=\"502\"}") == 1);
    assert_true(value_of(t, "llmgw_requests_total{provider=\"anthropic\",model=\"__overflow__\","
                            "status=\"502\"}") == 1);
    assert_true(value_of(t, "llmgw_tokens_total{provider=\"openai\",model=\"__overflow__\","
                            "type=\"prompt\"}") == 50);
    assert_true(value_of(t, "llmgw_request_duration_seconds_count{provider=\"openai\","
                            "model=\"__overflow__\"}") == 2);
    assert_null(strstr(t, "\"m3\""));
    /* the unused provider's overflow series stays out */
    assert_null(strstr(t, "provider=\"google\""));
    assert_int_equal(count_lines_with(t, "llmgw_tokens_total{provider=\"anthropic\","
                                         "model=\"__overflow__\",type=\"prompt\"}"), 1);
    free(t);
    drop(f);
}

static void test_overflow_with_user_labels(void **state)
{
    (void)state;
    fixture *f = make(LLMGW_MLABEL_USER | LLMGW_MLABEL_TEAM, 1);
    llmgw_mobs o = obs("openai", "m1", "alice", 200);
    llmgw_mstore_record(&f->st, &o);
    o.user = "bob";
    assert_int_equal(llmgw_mstore_record(&f->st, &o), LLMGW_MREC_FULL | LLMGW_MREC_OVERFLOW);
    char *t = expose(f, NULL);
    assert_true(value_of(t, "llmgw_cost_dollars_total{provider=\"openai\",model=\"__overflow__\","
                            "user_id=\"__overflow__\",team=\"__overflow__\"}") == 0.0001825);
    free(t);
    drop(f);
}

static void test_long_and_unsafe_values(void **state)
{
    (void)state;
    fixture *f = make(LLMGW_MLABEL_USER, 100);
    char longmodel[LLMGW_MSTORE_KEY_MAX + 10];
    memset(longmodel, 'x', sizeof longmodel - 1);
    longmodel[sizeof longmodel - 1] = '\0';
    llmgw_mobs o = obs("openai", longmodel, "u", 200);
    assert_int_equal(llmgw_mstore_record(&f->st, &o), LLMGW_MREC_OVERFLOW);
    o.model = "bad\xff\nname\"";
    assert_int_equal(llmgw_mstore_record(&f->st, &o), 0);
    o.model = "bad??name\"";   /* the same label once made safe: the same series */
    assert_int_equal(llmgw_mstore_record(&f->st, &o), 0);
    char *t = expose(f, NULL);
    assert_true(value_of(t, "llmgw_requests_total{provider=\"openai\",model=\"bad??name\\\"\","
                            "user_id=\"u\",status=\"200\"}") == 2);
    free(t);
    /* a provider the store was not made for has no overflow series: lost, and said so */
    o.provider = "unknown";
    o.model = longmodel;
    assert_true(llmgw_mstore_record(&f->st, &o) & LLMGW_MREC_LOST);
    drop(f);
}

static void test_status_table_spills(void **state)
{
    (void)state;
    fixture *f = make(0, 10);
    llmgw_mobs o = obs("openai", "gpt-4o", NULL, 0);
    for (int s = 0; s < LLMGW_MSTORE_STATUSES + 2; s++) {
        o.status = 400 + s;
        assert_int_equal(llmgw_mstore_record(&f->st, &o), 0);
    }
    o.status = 400;
    llmgw_mstore_record(&f->st, &o);
    char *t = expose(f, NULL);
    assert_true(value_of(t, "llmgw_requests_total{provider=\"openai\",model=\"gpt-4o\","
                            "status=\"400\"}") == 2);
    assert_true(value_of(t, "llmgw_requests_total{provider=\"openai\",model=\"gpt-4o\","
                            "status=\"415\"}") == 1);
    /* statuses beyond the series' table are counted, in the provider's overflow series */
    assert_true(value_of(t, "llmgw_requests_total{provider=\"openai\",model=\"__overflow__\","
                            "status=\"416\"}") == 1);
    assert_true(value_of(t, "llmgw_requests_total{provider=\"openai\",model=\"__overflow__\","
                            "status=\"417\"}") == 1);
    /* tokens stay with the series itself */
    assert_true(value_of(t, "llmgw_tokens_total{provider=\"openai\",model=\"gpt-4o\","
                            "type=\"prompt\"}") == 25.0 * (LLMGW_MSTORE_STATUSES + 3));
    assert_true(value_of(t, "llmgw_tokens_total{provider=\"openai\",model=\"__overflow__\","
                            "type=\"prompt\"}") == 0);
    free(t);
    drop(f);
}

static void test_rules_merge(void **state)
{
    (void)state;
    fixture *f = make(0, 10);
    llmgw_mstore_rule(&f->st, LLMGW_MRULE_RATE_LIMITED, "team-tokens");
    llmgw_mstore_rule(&f->st, LLMGW_MRULE_RATE_LIMITED, "team-tokens");
    llmgw_mstore_rule(&f->st, LLMGW_MRULE_RATE_LIMITED, "b-rule");
    llmgw_mstore_rule(&f->st, LLMGW_MRULE_BLOCKED, "team-tokens");
    llmgw_mstore_rule(&f->st, LLMGW_MRULE_RATE_LIMITED, LLMGW_OVERFLOW);
    llmgw_mrule_count ext[] = {{"z-rule", 0}, {"team-tokens", 5}, {"a-rule", 7},
                               {"b-rule", 1}, {LLMGW_OVERFLOW, 2}};
    llmgw_mstore_extra extra = {ext, 5};
    char *t = expose(f, &extra);
    const char *rl = strstr(t, "# TYPE llmgw_rate_limited_total counter\n");
    assert_non_null(rl);
    rl += strlen("# TYPE llmgw_rate_limited_total counter\n");
    const char *want =
        "llmgw_rate_limited_total{rule=\"a-rule\"} 7\n"
        "llmgw_rate_limited_total{rule=\"b-rule\"} 2\n"
        "llmgw_rate_limited_total{rule=\"team-tokens\"} 7\n"
        "llmgw_rate_limited_total{rule=\"z-rule\"} 0\n"
        "llmgw_rate_limited_total{rule=\"__overflow__\"} 3\n"
        "# HELP llmgw_blocked_total Requests refused by a content rule (LLMGWBlock).\n"
        "# TYPE llmgw_blocked_total counter\n"
        "llmgw_blocked_total{rule=\"team-tokens\"} 1\n";
    assert_memory_equal(rl, want, strlen(want));
    free(t);
    drop(f);
}

static void test_rules_limit(void **state)
{
    (void)state;
    fixture *f = make(0, 10);
    char name[32];
    for (int i = 0; i < LLMGW_MSTORE_MAX_RULES; i++) {
        snprintf(name, sizeof name, "r%03d", i);
        assert_int_equal(llmgw_mstore_rule(&f->st, LLMGW_MRULE_BLOCKED, name), 0);
    }
    assert_int_equal(llmgw_mstore_rule(&f->st, LLMGW_MRULE_BLOCKED, "one-too-many"),
                     LLMGW_MREC_OVERFLOW);
    char *t = expose(f, NULL);
    assert_true(value_of(t, "llmgw_blocked_total{rule=\"__overflow__\"}") == 1);
    assert_true(value_of(t, "llmgw_blocked_total{rule=\"r255\"}") == 1);
    free(t);
    drop(f);
}

/* Four processes count at once over 30 label sets (inserting them concurrently): the
 * sums are exact. */
static void test_processes_share_counts(void **state)
{
    (void)state;
    enum { PROCS = 4, PER = 3000, KEYS = 30 };
    fixture *f = make(LLMGW_MLABEL_USER, 1000);
    pid_t kids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        kids[p] = fork();
        assert_true(kids[p] >= 0);
        if (kids[p] == 0) {
            char user[16];
            for (int i = 0; i < PER; i++) {
                snprintf(user, sizeof user, "u%d", (i + p) % KEYS);
                llmgw_mobs o = obs(PROVIDERS[i % 3], "m", user, i % 7 ? 200 : 500);
                o.duration_us = (uint64_t)i * 1000;
                if (llmgw_mstore_record(&f->st, &o) != 0)
                    _exit(1);
                if (i % 10 == 0)
                    llmgw_mstore_rule(&f->st, LLMGW_MRULE_RATE_LIMITED, user);
            }
            llmgw_mstore_audit_sent(&f->st, PER);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        assert_int_equal(waitpid(kids[p], &status, 0), kids[p]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    char *t = expose(f, NULL);
    double requests = 0, prompt = 0, cost = 0, dcount = 0, rl = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        const char *sp = strrchr(line, ' ');
        double v = strtod(sp + 1, NULL);
        if (!strncmp(line, "llmgw_requests_total{", 21))
            requests += v;
        else if (!strncmp(line, "llmgw_tokens_total{", 19) && strstr(line, "\"prompt\""))
            prompt += v;
        else if (!strncmp(line, "llmgw_cost_dollars_total{", 25))
            cost += v;
        else if (!strncmp(line, "llmgw_request_duration_seconds_count{", 37))
            dcount += v;
        else if (!strncmp(line, "llmgw_rate_limited_total{", 25))
            rl += v;
    }
    assert_true(requests == PROCS * PER);
    assert_true(prompt == 25.0 * PROCS * PER);
    assert_true(dcount == PROCS * PER);
    assert_true(rl == PROCS * (PER / 10));
    /* 12000 × 182500000 pico = 2.19 dollars, exactly representable in the output */
    assert_true(cost > 2.189999 && cost < 2.190001);
    assert_int_equal(__atomic_load_n(&f->st.series->used, __ATOMIC_RELAXED), 3 * KEYS);
    assert_int_equal(f->st.h->audit_sent, PROCS * PER);
    free(t);
    drop(f);
}

static void test_dead_lock_holder_is_replaced(void **state)
{
    (void)state;
    fixture *f = make(0, 10);
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    f->st.h->lock = (int32_t)dead;      /* died while inserting a key */
    llmgw_mobs o = obs("openai", "new-model", NULL, 200);
    assert_int_equal(llmgw_mstore_record(&f->st, &o), 0);
    assert_int_equal(f->st.h->lock, 0);
    assert_int_equal(f->st.series->used, 1);
    drop(f);
}

static void test_live_lock_holder_bounds_the_wait(void **state)
{
    (void)state;
    fixture *f = make(0, 10);
    llmgw_mobs o = obs("openai", "known", NULL, 200);
    assert_int_equal(llmgw_mstore_record(&f->st, &o), 0);
    pid_t holder = fork();
    if (holder == 0) {
        pause();
        _exit(0);
    }
    f->st.h->lock = (int32_t)holder;    /* alive, and never lets go */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    o.model = "new";
    assert_int_equal(llmgw_mstore_record(&f->st, &o), LLMGW_MREC_OVERFLOW);
    assert_true(elapsed_ns(&t0) < 1000000000L);
    /* known series need no lock */
    o.model = "known";
    assert_int_equal(llmgw_mstore_record(&f->st, &o), 0);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    o.model = "new";    /* and once the holder is gone, its lock is taken over */
    assert_int_equal(llmgw_mstore_record(&f->st, &o), 0);
    drop(f);
}

static void test_attach_and_fingerprint(void **state)
{
    (void)state;
    fixture *f = make(LLMGW_MLABEL_TEAM, 50);
    llmgw_mobs o = obs("openai", "gpt-4o", NULL, 200);
    llmgw_mstore_record(&f->st, &o);
    llmgw_mstore st2;
    uint64_t fp = llmgw_mstore_fingerprint(&f->c);
    assert_int_equal(llmgw_mstore_attach(&st2, f->mem, f->size, fp), 0);
    assert_int_equal(llmgw_mstore_record(&st2, &o), 0);
    assert_int_equal(f->st.series->used, 1);
    assert_int_equal(llmgw_mstore_attach(&st2, f->mem, f->size, fp + 1), -1);
    assert_int_equal(llmgw_mstore_attach(&st2, f->mem, 16, fp), -1);
    /* every part of the shape changes the fingerprint */
    llmgw_mstore_conf c = f->c;
    c.labels = 0;
    assert_true(llmgw_mstore_fingerprint(&c) != fp);
    c = f->c;
    c.max_series = 51;
    assert_true(llmgw_mstore_fingerprint(&c) != fp);
    const char *other[] = {"anthropic", "google", "openai2"};
    c = f->c;
    c.providers = other;
    assert_true(llmgw_mstore_fingerprint(&c) != fp);
    assert_int_equal(llmgw_mstore_init(&st2, f->mem, 100, &f->c), -1);
    drop(f);
}

static void test_spool_gauge(void **state)
{
    (void)state;
    fixture *f = make(0, 10);
    llmgw_mstore_spooled_add(&f->st, 5);
    llmgw_mstore_spooled_add(&f->st, -2);
    assert_int_equal(llmgw_mstore_spooled(&f->st), 3);
    llmgw_mstore_spooled_add(&f->st, -10);
    assert_int_equal(llmgw_mstore_spooled(&f->st), 0);     /* never negative */
    llmgw_mstore_spooled_set(&f->st, 7);
    assert_int_equal(llmgw_mstore_spooled(&f->st), 7);
    drop(f);
}

/* Counting through a memo gives the exposition counting without one gives, for every
 * label set (user only, user and team): repeats, a change in one label at a time, labels
 * too long to remember, NULL ones, the overflow once the series limit is reached, and a
 * memo that last served another store. */
static void test_memo_counts_as_without(void **state)
{
    (void)state;
    char lm[100], lm2[100];                 /* longer than a memo keeps; differ at the end */
    memset(lm, 'm', sizeof lm - 1);
    lm[sizeof lm - 1] = '\0';
    memcpy(lm2, lm, sizeof lm);
    lm2[sizeof lm - 2] = 'n';
    static const struct {
        int p;
        const char *model, *user, *team;
    } seq[] = {
        {2, "gpt-4o", "alice", "research"}, {2, "gpt-4o", "alice", "research"},
        {2, "gpt-4o", "alice", "ops"},      {2, "gpt-4o", "bob", "ops"},
        {2, "gpt-4o-mini", "bob", "ops"},   {0, "gpt-4o-mini", "bob", "ops"},
        {0, NULL, "bob", "ops"},            {0, NULL, NULL, "ops"},
        {0, NULL, NULL, NULL},              {0, NULL, NULL, NULL},
        {0, "gpt-4o", NULL, NULL},
        {2, "gpt-4o", "alice", "research"}, {2, "gpt-4o", "alice", "research"},
        {2, "gpt-4o", "alice", "research"}, {1, "x", "carol", "lab"},
        {1, "y", "carol", "lab"},           {1, "z", "carol", "lab"},
        {2, "gpt-4o", "alice", "research"}, {2, "gpt-4o", "alice", "research"}};
    unsigned label_sets[] = {LLMGW_MLABEL_USER, LLMGW_MLABEL_USER | LLMGW_MLABEL_TEAM};
    for (size_t ls = 0; ls < 2; ls++) {
        fixture *plain = make(label_sets[ls], 6), *memo = make(label_sets[ls], 6),
                *other = make(label_sets[ls], 6);
        static llmgw_memo_slot slots[4];
        llmgw_memo m;
        memset(slots, 0, sizeof slots);
        llmgw_memo_init(&m, slots, 4, 7);
        for (size_t round = 0; round < 3 * sizeof seq / sizeof seq[0]; round++) {
            size_t i = round % (sizeof seq / sizeof seq[0]);
            llmgw_mobs o = obs(PROVIDERS[seq[i].p], seq[i].model,
                               seq[i].user, round % 4 ? 200 : 429);
            o.team = seq[i].team;
            assert_int_equal(llmgw_mstore_record_memo(&memo->st, &m, &o),
                             llmgw_mstore_record(&plain->st, &o));
            if (round == 30)            /* the memo serves another store in between */
                llmgw_mstore_record_memo(&other->st, &m, &o);
        }
        const char *longs[] = {lm, lm2, lm, lm2, lm2};
        for (size_t k = 0; k < sizeof longs / sizeof longs[0]; k++) {
            llmgw_mobs o = obs(PROVIDERS[2], longs[k], "alice", 200);
            assert_int_equal(llmgw_mstore_record_memo(&memo->st, &m, &o),
                             llmgw_mstore_record(&plain->st, &o));
        }
        char *a = expose(plain, NULL), *b = expose(memo, NULL);
        assert_string_equal(a, b);
        free(a);
        free(b);
        drop(plain);
        drop(memo);
        drop(other);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_exposition),
        cmocka_unit_test(test_memo_counts_as_without),
        cmocka_unit_test(test_user_team_labels),
        cmocka_unit_test(test_user_only_label),
        cmocka_unit_test(test_cap_and_overflow),
        cmocka_unit_test(test_overflow_with_user_labels),
        cmocka_unit_test(test_long_and_unsafe_values),
        cmocka_unit_test(test_status_table_spills),
        cmocka_unit_test(test_rules_merge),
        cmocka_unit_test(test_rules_limit),
        cmocka_unit_test(test_processes_share_counts),
        cmocka_unit_test(test_dead_lock_holder_is_replaced),
        cmocka_unit_test(test_live_lock_holder_bounds_the_wait),
        cmocka_unit_test(test_attach_and_fingerprint),
        cmocka_unit_test(test_spool_gauge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
