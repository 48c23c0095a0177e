/* bench_json_scan.c — what judging a chat request and reading an answer's usage cost at
 * core level (no httpd), on the bodies tests/bench/proxy_overhead sends and serves:
 * the module's validating scan of the request (repeated names refused, its read paths
 * found), its usage extraction from the answer, jansson's parse of each (what the scan
 * stands in for), and a floor: one SSE2 pass that only lists where the quotes,
 * backslashes and structural characters are, the first stage of simdjson-style parsers,
 * before any validation. Times are the thread's CPU time, so other load on the machine
 * does not count. Prints a Markdown table. Run by tests/bench/json_scan, which builds it
 * and writes the two bodies. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <jansson.h>

#include "llmgw_json_scan.h"
#include "llmgw_redact.h"
#include "llmgw_request.h"
#include "llmgw_usage.h"

#define MAX_BODY (1 << 20)

typedef struct {
    const char *text;
    size_t len;
} body;

static double now(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int read_body(const char *path, body *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char *buf = malloc(MAX_BODY + 1);
    size_t n = buf ? fread(buf, 1, MAX_BODY + 1, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n > MAX_BODY) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    b->text = buf;
    b->len = n;
    return 0;
}

/* ---- the operations timed ------------------------------------------------------------ */

static llmgw_json_paths read_paths;     /* the module's: mod_llmgw_body.c */

static void prepare_read_paths(void)
{
    static const char *const members[] = LLMGW_REQUEST_MEMBERS;
    static const char *const roots[] = LLMGW_TEXT_ROOTS;
    llmgw_json_path p[LLMGW_RM_N + LLMGW_TR_N];
    for (size_t i = 0; i < LLMGW_RM_N + LLMGW_TR_N; i++)
        p[i] = (llmgw_json_path){i < LLMGW_RM_N ? members[i] : roots[i - LLMGW_RM_N], 0,
                                 LLMGW_JSON_ROOT};
    if (llmgw_json_paths_init(&read_paths, p, LLMGW_RM_N + LLMGW_TR_N) != 0)
        abort();
}

static long scan_request(const body *b)
{
    llmgw_json_span sp[LLMGW_RM_N + LLMGW_TR_N];
    return llmgw_json_scan_paths(b->text, b->len, 128, LLMGW_JSON_UNIQUE_KEYS, &read_paths,
                                 sp) == LLMGW_JSON_VALID ? (long)sp[LLMGW_RM_MODEL].len : -1;
}

static long jansson_unique(const body *b)
{
    json_error_t err;
    json_t *root = json_loadb(b->text, b->len, JSON_REJECT_DUPLICATES, &err);
    long r = root ? (long)json_object_size(root) : -1;
    json_decref(root);
    return r;
}

static long answer_usage(const body *b)
{
    llmgw_usage u;
    llmgw_usage_init(&u);
    if (llmgw_usage_from_json(LLMGW_PT_OPENAI, b->text, b->len, &u) != 0)
        return -1;
    return (long)(u.prompt + u.completion);
}

static long jansson_plain(const body *b)
{
    json_error_t err;
    json_t *root = json_loadb(b->text, b->len, 0, &err);
    long r = root ? (long)json_object_size(root) : -1;
    json_decref(root);
    return r;
}

/* The floor: offsets of every '"', '\\', '{', '}', '[', ']', ':' and ',' into an index,
 * 16 bytes a step; nothing is judged. */
static uint32_t index_buf[MAX_BODY];

#ifdef __SSE2__
static unsigned structural16(const unsigned char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    /* '{' '}' '[' ']' differ from '[' ']' by 0x20 in bit 5: fold it, then match two */
    __m128i f = _mm_or_si128(v, _mm_set1_epi8(0x20));
    m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(f, _mm_set1_epi8('{')),
                                     _mm_cmpeq_epi8(f, _mm_set1_epi8('}'))));
    m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')),
                                     _mm_cmpeq_epi8(v, _mm_set1_epi8(','))));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

static int is_structural(unsigned char c)
{
    return c == '"' || c == '\\' || c == '{' || c == '}' || c == '[' || c == ']' ||
           c == ':' || c == ',';
}

static long structural_index(const body *b)
{
    const unsigned char *s = (const unsigned char *)b->text;
    size_t i = 0, n = 0;
#ifdef __SSE2__
    for (; i + 16 <= b->len; i += 16)
        for (unsigned m = structural16(s + i); m; m &= m - 1)
            index_buf[n++] = (uint32_t)(i + (unsigned)__builtin_ctz(m));
#endif
    for (; i < b->len; i++)
        if (is_structural(s[i]))
            index_buf[n++] = (uint32_t)i;
    return (long)n;
}

/* ---- timing -------------------------------------------------------------------------- */

typedef struct {
    const char *what;
    const char *which;                  /* "request" or "answer" */
    long (*op)(const body *);
} row;

static const row ROWS[] = {
    {"mod_llmgw: validating scan, repeated names refused, read paths found", "request",
     scan_request},
    {"jansson json_loadb, JSON_REJECT_DUPLICATES", "request", jansson_unique},
    {"floor: SSE2 structural-character index, nothing judged", "request", structural_index},
    {"mod_llmgw: usage extraction (validating scan + reading the figures)", "answer",
     answer_usage},
    {"jansson json_loadb", "answer", jansson_plain},
    {"floor: SSE2 structural-character index, nothing judged", "answer", structural_index},
};

/* CPU ns per call, the best of five runs of `seconds`/5 each: the least disturbed. */
static double time_op(const row *r, const body *b, double seconds, long *result)
{
    double best = 0;
    for (int run = 0; run < 5; run++) {
        long iters = 0;
        double w0 = now(CLOCK_MONOTONIC), t0 = now(CLOCK_THREAD_CPUTIME_ID), t;
        do {
            for (int k = 0; k < 1000; k++)
                *result = r->op(b);
            iters += 1000;
            t = now(CLOCK_THREAD_CPUTIME_ID) - t0;
        } while (now(CLOCK_MONOTONIC) - w0 < seconds / 5);
        double ns = t * 1e9 / (double)iters;
        if (run == 0 || ns < best)
            best = ns;
    }
    return best;
}

static void usage(void)
{
    fputs("usage: bench_json_scan REQUEST.json ANSWER.json [--seconds S (per row, 1)]\n"
          "  REQUEST.json: an OpenAI chat request; ANSWER.json: a chat completion with usage\n",
          stderr);
}

int main(int argc, char **argv)
{
    body req, ans;
    double seconds = 1;
    if (argc != 3 && !(argc == 5 && !strcmp(argv[3], "--seconds"))) {
        usage();
        return 2;
    }
    if (argc == 5 && (seconds = atof(argv[4])) <= 0) {
        usage();
        return 2;
    }
    if (read_body(argv[1], &req) || read_body(argv[2], &ans)) {
        fprintf(stderr, "bench_json_scan: cannot read %s or %s (1 byte to 1 MiB)\n", argv[1],
                argv[2]);
        return 2;
    }
    prepare_read_paths();
    if (scan_request(&req) <= 0 || answer_usage(&ans) <= 0) {
        fprintf(stderr, "bench_json_scan: the request must scan VALID with a model, and "
                        "the answer must carry usage\n");
        return 2;
    }
    printf("| body | bytes | operation | ns per call | GB/s |\n|---|---:|---|---:|---:|\n");
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++) {
        const body *b = !strcmp(ROWS[i].which, "request") ? &req : &ans;
        long result;
        double ns = time_op(&ROWS[i], b, seconds, &result);
        if (result < 0) {
            fprintf(stderr, "bench_json_scan: %s refused the %s\n", ROWS[i].what,
                    ROWS[i].which);
            return 1;
        }
        printf("| %s | %zu | %s | %.0f | %.2f |\n", ROWS[i].which, b->len, ROWS[i].what, ns,
               (double)b->len / ns);
    }
    free((char *)req.text);
    free((char *)ans.text);
    return 0;
}
