/* fuzz_auditd_decode.c — llmgw-auditd's record decoding (one NDJSON line from a client it
 * does not trust) and its rendering as a PostgreSQL COPY text row.
 *
 * Input: one line. Invariants: a refused line has a "field: why" reason; an accepted
 * line renders as exactly one row of 27 tab-separated columns ending in its only raw
 * newline, and reading the row back the way COPY does (\N, backslash escapes, then the
 * text[] literal of roles) gives back every string and role of the record, the
 * timestamp and the numbers: nothing a client sends can shift a column or a row. */
#include "fuzz_common.h"

#include <inttypes.h>

#include "auditd_decode.h"

#define NCOLS 27

/* One COPY text column: returns the decoded text (malloc) or NULL for \N. */
static char *copy_unescape(const char *s, size_t n, int *is_null)
{
    *is_null = n == 2 && s[0] == '\\' && s[1] == 'N';
    if (*is_null)
        return NULL;
    char *o = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            o[k++] = s[i];
            continue;
        }
        FUZZ_CHECK(i + 1 < n, "dangling backslash in a column");
        char c = s[++i];
        o[k++] = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
        FUZZ_CHECK(c == 'n' || c == 'r' || c == 't' || c == '\\',
                   "escape \\%c is not one the encoder writes", c);
    }
    o[k] = '\0';
    return o;
}

static void expect_text(const char *col, size_t n, const char *want, const char *name)
{
    int is_null;
    char *got = copy_unescape(col, n, &is_null);
    if (!want)
        FUZZ_CHECK(is_null, "%s: NULL expected", name);
    else
        FUZZ_CHECK(!is_null && !strcmp(got, want), "%s: '%s' came back as '%s'", name, want,
                   got ? got : "\\N");
    free(got);
}

static void expect_int(const char *col, size_t n, int64_t want, int nullable, const char *name)
{
    if (nullable && want < 0) {
        FUZZ_CHECK(n == 2 && !memcmp(col, "\\N", 2), "%s: NULL expected", name);
        return;
    }
    char tmp[32];
    FUZZ_CHECK(n < sizeof tmp, "%s: column too long", name);
    memcpy(tmp, col, n);
    tmp[n] = '\0';
    FUZZ_CHECK(strtoll(tmp, NULL, 10) == want, "%s: %s vs %" PRId64, name, tmp, want);
}

/* text[] literal {"a","b"} (after COPY unescaping) against the JSON array. */
static void expect_roles(const char *col, size_t n, json_t *roles)
{
    int is_null;
    char *lit = copy_unescape(col, n, &is_null);
    FUZZ_CHECK(!is_null && lit[0] == '{', "roles literal");
    const char *p = lit + 1;
    size_t i = 0;
    while (*p != '}') {
        if (i)
            FUZZ_CHECK(*p++ == ',', "roles: comma expected");
        FUZZ_CHECK(*p++ == '"', "roles: quote expected");
        char *el = malloc(strlen(p) + 1);
        size_t k = 0;
        while (*p != '"') {
            FUZZ_CHECK(*p, "roles: unterminated element");
            if (*p == '\\')
                p++;
            FUZZ_CHECK(*p, "roles: dangling backslash");
            el[k++] = *p++;
        }
        p++;
        el[k] = '\0';
        FUZZ_CHECK(roles && i < json_array_size(roles) &&
                   !strcmp(el, json_string_value(json_array_get(roles, i))),
                   "role %zu came back as '%s'", i, el);
        free(el);
        i++;
    }
    FUZZ_CHECK(p[1] == '\0', "bytes after the roles literal");
    FUZZ_CHECK(i == (roles ? json_array_size(roles) : 0), "role count");
    free(lit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    auditd_record rec;
    char reason[AUDITD_REASON_MAX];
    reason[0] = '\0';
    if (auditd_decode((const char *)data, size, &rec, reason, sizeof reason) < 0) {
        FUZZ_CHECK(reason[0] && memchr(reason, '\0', sizeof reason), "no reason");
        auditd_record_free(&rec);
        return 0;
    }
    abuf row = {0};
    auditd_copy_row(&rec, &row);
    FUZZ_CHECK(row.len > 0 && row.p[row.len - 1] == '\n', "row not newline-terminated");
    FUZZ_CHECK(memchr(row.p, '\n', row.len) == row.p + row.len - 1, "raw newline inside a row");
    FUZZ_CHECK(memchr(row.p, '\0', row.len) == NULL, "NUL inside a row");

    const char *col[NCOLS];
    size_t len[NCOLS];
    size_t nc = 0;
    const char *s = row.p, *end = row.p + row.len - 1;
    while (1) {
        const char *t = memchr(s, '\t', (size_t)(end - s));
        FUZZ_CHECK(nc < NCOLS, "more than %d columns", NCOLS);
        col[nc] = s;
        len[nc++] = t ? (size_t)(t - s) : (size_t)(end - s);
        if (!t)
            break;
        s = t + 1;
    }
    FUZZ_CHECK(nc == NCOLS, "%zu columns", nc);

    char ts[64];
    FUZZ_CHECK(len[0] < sizeof ts, "ts column");
    memcpy(ts, col[0], len[0]);
    ts[len[0]] = '\0';
    int64_t us;
    int month;
    FUZZ_CHECK(auditd_parse_ts(ts, &us, &month) == 0 && us == rec.ts_us && month == rec.month,
               "timestamp %s does not read back", ts);

    expect_text(col[1], len[1], rec.request_id, "request_id");
    expect_text(col[2], len[2], rec.user, "user");
    expect_text(col[3], len[3], rec.email, "email");
    expect_text(col[4], len[4], rec.team, "team");
    expect_roles(col[5], len[5], rec.roles);
    expect_text(col[6], len[6], rec.provider, "provider");
    expect_text(col[7], len[7], rec.model, "model");
    expect_text(col[8], len[8], rec.endpoint, "endpoint");
    expect_int(col[9], len[9], rec.status, 1, "status");
    FUZZ_CHECK(len[10] == 1 && col[10][0] == (rec.stream ? 't' : 'f'), "stream");
    expect_int(col[11], len[11], rec.prompt_tokens, 0, "prompt_tokens");
    expect_int(col[12], len[12], rec.completion_tokens, 0, "completion_tokens");
    expect_int(col[13], len[13], rec.cached_tokens, 0, "cached_tokens");
    expect_int(col[14], len[14], rec.cache_write_tokens, 0, "cache_write_tokens");
    expect_int(col[15], len[15], rec.reasoning_tokens, 0, "reasoning_tokens");
    expect_int(col[16], len[16], rec.total_tokens, 0, "total_tokens");
    if (rec.has_cost)
        FUZZ_CHECK(len[17] > 0 && col[17][0] != '\\', "cost");
    else
        FUZZ_CHECK(len[17] == 2 && !memcmp(col[17], "\\N", 2), "cost null");
    expect_int(col[18], len[18], rec.latency_ms, 1, "latency_ms");
    expect_int(col[19], len[19], rec.ttft_ms, 1, "ttft_ms");
    expect_text(col[20], len[20], rec.conversation_id, "conversation_id");
    expect_text(col[21], len[21], rec.client_ip, "client_ip");
    expect_text(col[22], len[22], rec.blocked_rule, "blocked_rule");
    expect_int(col[23], len[23], rec.redactions, 0, "redactions");
    expect_text(col[24], len[24], rec.node, "node");
    expect_text(col[25], len[25], rec.prompt, "prompt");
    expect_text(col[26], len[26], rec.completion, "completion");

    abuf_free(&row);
    auditd_record_free(&rec);
    return 0;
}
