/* fuzz_auditd_decode.c — llmgw-auditd's record decoding (one NDJSON line from a client it
 * does not trust) and its encoding as a row of PostgreSQL binary values.
 *
 * Input: one line. Invariants: auditd_decode, its jansson reader, and its view reader
 * wherever that one decides, give the verdict, reason and fields of the jansson decoder
 * auditd used before (auditd_decode_reference.h); a refused line has a "field: why"
 * reason; an accepted
 * line encodes as exactly one row of 27 length-prefixed fields, and reading the row back
 * (lengths, big-endian numbers, then the text[] literal of roles) gives back every
 * string and role of the record, the timestamp and the numbers; the row turned into
 * column arrays (auditd_columns_fill) holds exactly those fields: nothing a client sends
 * can shift a column or a row. */
#include "fuzz_common.h"

#include <inttypes.h>

#include "auditd_decode.h"
#include "auditd_decode_reference.h"
#include "auditd_encode.h"

#define PG_EPOCH_US 946684800000000LL

typedef struct {
    const unsigned char *p;
    int64_t len;     /* -1: NULL */
} field;

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* Splits the row into its fields; every byte must belong to one. */
static void split(const abuf *row, field *f)
{
    const unsigned char *p = (const unsigned char *)row->p, *end = p + row->len;
    for (int i = 0; i < AUDITD_NFIELDS; i++) {
        FUZZ_CHECK(end - p >= 4, "field %d: length cut short", i);
        uint32_t n = (uint32_t)be(p, 4);
        p += 4;
        f[i].p = p;
        f[i].len = n == UINT32_MAX ? -1 : (int64_t)n;
        FUZZ_CHECK(f[i].len <= end - p, "field %d: longer than the row", i);
        if (f[i].len > 0) p += f[i].len;
    }
    FUZZ_CHECK(p == end, "bytes after the last field");
}

static void expect_text(field f, const char *want, const char *name)
{
    if (!want) {
        FUZZ_CHECK(f.len == -1, "%s: NULL expected", name);
        return;
    }
    FUZZ_CHECK(f.len == (int64_t)strlen(want) && !memcmp(f.p, want, strlen(want)),
               "%s: '%s' came back different", name, want);
}

static void expect_int(field f, int width, int64_t want, int nullable, const char *name)
{
    if (nullable && want < 0) {
        FUZZ_CHECK(f.len == -1, "%s: NULL expected", name);
        return;
    }
    FUZZ_CHECK(f.len == width, "%s: %" PRId64 " bytes", name, f.len);
    uint64_t v = be(f.p, width);
    int64_t got = width == 4 ? (int64_t)(int32_t)v : (int64_t)v;
    FUZZ_CHECK(got == want, "%s: %" PRId64 " vs %" PRId64, name, got, want);
}

/* text[] literal {"a","b"} against the record's roles. */
static void expect_roles(field f, const auditd_record *rec)
{
    FUZZ_CHECK(f.len >= 2, "roles literal");
    char *lit = malloc((size_t)f.len + 1);
    memcpy(lit, f.p, (size_t)f.len);
    lit[f.len] = '\0';
    FUZZ_CHECK(strlen(lit) == (size_t)f.len && lit[0] == '{', "roles literal");
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
        FUZZ_CHECK(i < rec->nroles && !strcmp(el, rec->roles[i]),
                   "role %zu came back as '%s'", i, el);
        free(el);
        i++;
    }
    FUZZ_CHECK(p[1] == '\0', "bytes after the roles literal");
    FUZZ_CHECK(i == rec->nroles, "role count");
    free(lit);
}

/* The row as column arrays: one row, each element the field as it is. */
static void expect_columns(const abuf *row, const field *f)
{
    auditd_columns c = {0};
    FUZZ_CHECK(auditd_columns_fill(&c, row->p, row->len, 1) == row->len, "columns: row not taken");
    FUZZ_CHECK(c.nrows == 1, "columns: %ld rows", c.nrows);
    for (int i = 0; i < AUDITD_NFIELDS; i++) {
        size_t n = 4 + (f[i].len > 0 ? (size_t)f[i].len : 0);
        FUZZ_CHECK(c.col[i].len == 20 + n, "column %d: %zu bytes", i, c.col[i].len);
        FUZZ_CHECK(!memcmp(c.col[i].p + 20, f[i].p - 4, n), "column %d: element differs", i);
        FUZZ_CHECK(be((const unsigned char *)c.col[i].p + 8, 4) == auditd_field_oid[i],
                   "column %d: element type", i);
    }
    auditd_columns_free(&c);
}

typedef int (*decoder)(const char *, size_t, auditd_record *, char *, size_t);

/* One decoder against the reference's answer; the view reader may decline. */
static void same_as_reference(const char *line, size_t size, const char *who, decoder dec,
                              int want_rc, const char *want_reason, const ref_record *want)
{
    auditd_record rec;
    char reason[AUDITD_REASON_MAX] = "";
    int rc = dec(line, size, &rec, reason, sizeof reason);
    if (rc != AUDITD_DECODE_UNDECIDED || dec != auditd_decode_views) {
        const char *what = ref_differs(want_rc, want_reason, want, rc, reason, &rec);
        FUZZ_CHECK(!what, "%s differs from the reference in %s: %d \"%s\" vs %d \"%s\"",
                   who, what, rc, reason, want_rc, want_reason);
    } else {
        FUZZ_CHECK(!rec.store && !rec.root && !rec.request_id, "undecided, yet kept something");
    }
    auditd_record_free(&rec);
}

static void differential(const char *line, size_t size)
{
    ref_record want;
    char want_reason[AUDITD_REASON_MAX] = "";
    int want_rc = ref_decode(line, size, &want, want_reason, sizeof want_reason);
    same_as_reference(line, size, "auditd_decode", auditd_decode, want_rc, want_reason, &want);
    same_as_reference(line, size, "the jansson reader", auditd_decode_jansson, want_rc,
                      want_reason, &want);
    same_as_reference(line, size, "the view reader", auditd_decode_views, want_rc,
                      want_reason, &want);
    ref_record_free(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    auditd_record rec;
    char reason[AUDITD_REASON_MAX];
    differential((const char *)data, size);
    reason[0] = '\0';
    if (auditd_decode((const char *)data, size, &rec, reason, sizeof reason) < 0) {
        FUZZ_CHECK(reason[0] && memchr(reason, '\0', sizeof reason), "no reason");
        auditd_record_free(&rec);
        return 0;
    }
    abuf row = {0};
    field f[AUDITD_NFIELDS];
    auditd_encode_row(&rec, &row);
    split(&row, f);

    expect_int(f[0], 8, rec.ts_us - PG_EPOCH_US, 0, "ts");
    expect_text(f[1], rec.request_id, "request_id");
    expect_text(f[2], rec.user, "user");
    expect_text(f[3], rec.email, "email");
    expect_text(f[4], rec.team, "team");
    expect_roles(f[5], &rec);
    expect_text(f[6], rec.provider, "provider");
    expect_text(f[7], rec.model, "model");
    expect_text(f[8], rec.endpoint, "endpoint");
    expect_int(f[9], 4, rec.status, 1, "status");
    FUZZ_CHECK(f[10].len == 1 && f[10].p[0] == (rec.stream ? 1 : 0), "stream");
    expect_int(f[11], 8, rec.prompt_tokens, 0, "prompt_tokens");
    expect_int(f[12], 8, rec.completion_tokens, 0, "completion_tokens");
    expect_int(f[13], 8, rec.cached_tokens, 0, "cached_tokens");
    expect_int(f[14], 8, rec.cache_write_tokens, 0, "cache_write_tokens");
    expect_int(f[15], 8, rec.reasoning_tokens, 0, "reasoning_tokens");
    expect_int(f[16], 8, rec.total_tokens, 0, "total_tokens");
    if (rec.has_cost)
        FUZZ_CHECK(f[17].len > 0 && f[17].p[0] >= '0' && f[17].p[0] <= '9', "cost");
    else
        FUZZ_CHECK(f[17].len == -1, "cost null");
    expect_int(f[18], 8, rec.latency_ms, 1, "latency_ms");
    expect_int(f[19], 8, rec.ttft_ms, 1, "ttft_ms");
    expect_text(f[20], rec.conversation_id, "conversation_id");
    expect_text(f[21], rec.client_ip, "client_ip");
    expect_text(f[22], rec.blocked_rule, "blocked_rule");
    expect_int(f[23], 4, rec.redactions, 0, "redactions");
    expect_text(f[24], rec.node, "node");
    expect_text(f[25], rec.prompt, "prompt");
    expect_text(f[26], rec.completion, "completion");
    expect_columns(&row, f);

    abuf_free(&row);
    auditd_record_free(&rec);
    return 0;
}
