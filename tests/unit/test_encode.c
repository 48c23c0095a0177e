/* test_encode.c — cmocka tests of auditd_encode.c: the exact bytes of a row (PostgreSQL
 * binary formats: big-endian lengths and integers, timestamps from 2000-01-01, NULL as
 * length -1), and rows turned into one binary array per column, split under a byte cap
 * without losing or reordering a row, malformed input refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditd_decode.h"
#include "auditd_encode.h"
#include "auditd_rollup.h"
#include "auditd_rowtext.h"

#define REC(id, extra) \
    "{\"request_id\":\"" id "\",\"timestamp\":\"2026-11-24T10:30:00.123Z\"" extra "}"

static void decode_ok(const char *s, auditd_record *rec)
{
    char reason[AUDITD_REASON_MAX] = "";
    int rc = auditd_decode(s, strlen(s), rec, reason, sizeof reason);
    if (rc) fprintf(stderr, "unexpected rejection: %s\n", reason);
    assert_int_equal(rc, 0);
}

/* Appends the row of one record given as JSON. */
static void add_row(abuf *rows, const char *json)
{
    auditd_record r;
    decode_ok(json, &r);
    auditd_encode_row(&r, rows);
    auditd_record_free(&r);
}

static uint32_t be32(const char *p)
{
    return (uint32_t)rowtext_be((const unsigned char *)p, 4);
}

/* ---- rows ----------------------------------------------------------------------------- */

static void test_row_bytes(void **state)
{
    abuf row = {0};
    add_row(&row, REC("r1", ",\"status\":200,\"stream\":true,\"prompt_tokens\":258"));
    const char *p = row.p;

    /* ts: 8 bytes, 2026-11-24T10:30:00.123Z minus 2000-01-01 in µs */
    assert_int_equal(be32(p), 8);
    assert_true(rowtext_be((const unsigned char *)p + 4, 8) == 848831400123000ULL);
    p += 12;
    /* request_id: its bytes, no terminator */
    assert_int_equal(be32(p), 2);
    assert_memory_equal(p + 4, "r1", 2);
    p += 6;
    /* user, email, team: NULL */
    for (int i = 0; i < 3; i++, p += 4) assert_true(be32(p) == UINT32_MAX);
    /* roles absent: the empty array literal */
    assert_int_equal(be32(p), 2);
    assert_memory_equal(p + 4, "{}", 2);
    p += 6;
    for (int i = 0; i < 3; i++, p += 4) assert_true(be32(p) == UINT32_MAX);
    /* status: int4; stream: one byte; prompt_tokens: int8 */
    assert_int_equal(be32(p), 4);
    assert_int_equal(be32(p + 4), 200);
    p += 8;
    assert_int_equal(be32(p), 1);
    assert_int_equal(p[4], 1);
    p += 5;
    assert_int_equal(be32(p), 8);
    assert_memory_equal(p + 4, "\0\0\0\0\0\0\x01\x02", 8);
    abuf_free(&row);
}

static void test_row_text_fields(void **state)
{
    abuf row = {0}, text = {0};
    add_row(&row, REC("r\\\\2", ",\"user\":\"tab\\there\",\"roles\":[\"a b\",\"q\\\"\",\"\\\\\"],"
                      "\"cost_usd\":8191.999999999999,\"ttft_ms\":0,\"prompt\":\"\\u00e9\\n\""));
    const unsigned char *p = (const unsigned char *)row.p;
    rowtext_render(&p, &text);
    assert_ptr_equal(p, (const unsigned char *)row.p + row.len);   /* one whole row */
    assert_string_equal(abuf_cstr(&text),
        "@1795516200123000\tr\\2\ttab\there\t\\N\t\\N\t{\"a b\",\"q\\\"\",\"\\\\\"}\t\\N\t\\N\t\\N\t"
        "\\N\tf\t0\t0\t0\t0\t0\t0\t8191.999999999999\t\\N\t0\t\\N\t\\N\t\\N\t0\t\\N\t"
        "\xc3\xa9\n\t\\N\n");
    abuf_free(&row);
    abuf_free(&text);
}

/* ---- columns -------------------------------------------------------------------------- */

static abuf three_rows(void)
{
    abuf rows = {0};
    add_row(&rows, REC("a", ",\"user\":\"u1\",\"status\":200"));
    add_row(&rows, REC("bb", ",\"status\":null"));
    add_row(&rows, REC("ccc", ",\"user\":\"u3\",\"status\":404"));
    return rows;
}

/* Checks the array header of column i: one dimension of n from 1, its element type. */
static void check_header(const auditd_columns *c, int i, long n, int has_null)
{
    const char *p = c->col[i].p;
    assert_int_equal(be32(p), 1);
    assert_int_equal(be32(p + 4), has_null);
    assert_int_equal(be32(p + 8), auditd_field_oid[i]);
    assert_int_equal(be32(p + 12), n);
    assert_int_equal(be32(p + 16), 1);
}

static void test_columns(void **state)
{
    abuf rows = three_rows();
    auditd_columns c = {0};

    assert_int_equal(auditd_columns_fill(&c, rows.p, rows.len, 1 << 20), rows.len);
    assert_int_equal(c.nrows, 3);
    check_header(&c, 0, 3, 0);    /* ts */
    check_header(&c, 2, 3, 1);    /* user: one NULL */
    check_header(&c, 9, 3, 1);    /* status: one NULL */
    check_header(&c, 10, 3, 0);   /* stream */
    /* request_id elements in row order, each laid out as a field */
    assert_int_equal(c.col[1].len, 20 + 5 + 6 + 7);
    assert_memory_equal(c.col[1].p + 20, "\0\0\0\x01" "a" "\0\0\0\x02" "bb" "\0\0\0\x03" "ccc", 18);
    /* status: 200, NULL, 404 */
    assert_memory_equal(c.col[9].p + 20,
                        "\0\0\0\x04\0\0\0\xc8" "\xff\xff\xff\xff" "\0\0\0\x04\0\0\x01\x94", 20);
    /* every byte of every row is in exactly one column */
    size_t total = 0;
    for (int i = 0; i < AUDITD_NFIELDS; i++) total += c.col[i].len - 20;
    assert_int_equal(total, rows.len);

    /* a second fill starts afresh */
    assert_int_equal(auditd_columns_fill(&c, rows.p, rows.len, 1 << 20), rows.len);
    assert_int_equal(c.nrows, 3);
    check_header(&c, 1, 3, 0);
    auditd_columns_free(&c);
    abuf_free(&rows);
}

/* Under a small cap the rows come in parts, at least one row each, in order. */
static void test_columns_split(void **state)
{
    abuf rows = three_rows();
    auditd_columns c = {0};
    const char *want[] = {"a", "bb", "ccc"};
    size_t off = 0;
    int parts = 0;

    while (off < rows.len) {
        size_t n = auditd_columns_fill(&c, rows.p + off, rows.len - off, 1);
        assert_true(n > 0);
        assert_int_equal(c.nrows, 1);
        assert_int_equal(be32(c.col[1].p + 20), strlen(want[parts]));
        assert_memory_equal(c.col[1].p + 24, want[parts], strlen(want[parts]));
        off += n;
        parts++;
    }
    assert_int_equal(parts, 3);
    assert_int_equal(off, rows.len);

    /* a cap that holds two rows but not three */
    size_t cap = AUDITD_NFIELDS * 20 + (rows.len * 3) / 4;
    size_t n = auditd_columns_fill(&c, rows.p, rows.len, cap);
    assert_int_equal(c.nrows, 2);
    assert_true(n < rows.len);
    auditd_columns_free(&c);
    abuf_free(&rows);
}

/* texts tells the store whether the batch needs the statement that writes audit_bodies:
 * any row with a prompt or a completion, even an empty one, and only such rows. */
static void test_rows_texts(void **state)
{
    abuf rows = three_rows(), arr = {0};
    int texts = -1;
    assert_int_equal(auditd_rows_fill(&arr, 91234, rows.p, rows.len, &texts), rows.len);
    assert_int_equal(texts, 0);

    const char *with[] = {",\"prompt\":\"hi\"", ",\"completion\":\"\"", ",\"prompt\":\"\""};
    for (size_t i = 0; i < sizeof with / sizeof *with; i++) {
        abuf more = three_rows();
        char json[256];
        snprintf(json, sizeof json, REC("d", "%s"), with[i]);
        add_row(&more, json);
        assert_int_equal(auditd_rows_fill(&arr, 91234, more.p, more.len, &texts), more.len);
        assert_int_equal(texts, 1);
        /* the same rows filled again without the last one: no texts */
        assert_int_equal(auditd_rows_fill(&arr, 91234, rows.p, rows.len, &texts), rows.len);
        assert_int_equal(texts, 0);
        abuf_free(&more);
    }
    abuf_free(&arr);
    abuf_free(&rows);
}

/* Rows as one array of a composite type: an element per row, each the field count and
 * then every audit-row field preceded by its type's OID; the texts are left out. */
static void test_rows_composite(void **state)
{
    abuf rows = three_rows(), arr = {0};
    int texts;
    add_row(&rows, REC("d", ",\"prompt\":\"hi\",\"completion\":\"there\""));
    assert_int_equal(auditd_rows_fill(&arr, 91234, rows.p, rows.len, &texts), rows.len);
    assert_int_equal(be32(arr.p), 1);
    assert_int_equal(be32(arr.p + 4), 0);
    assert_int_equal(be32(arr.p + 8), 91234);
    assert_int_equal(be32(arr.p + 12), 4);
    const char *e = arr.p + AUDITD_ARRAY_HEADER, *row = rows.p;
    for (int n = 0; n < 4; n++) {
        uint32_t elen = be32(e);
        const char *p = e + 4;
        assert_int_equal(be32(p), AUDITD_ROW_FIELDS);
        p += 4;
        for (int i = 0; i < AUDITD_NFIELDS; i++) {
            uint32_t len = be32(row);
            size_t fs = 4 + (len == UINT32_MAX ? 0 : len);
            if (i < AUDITD_ROW_FIELDS) {
                assert_int_equal(be32(p), auditd_field_oid[i]);
                assert_memory_equal(p + 4, row, fs);   /* the field as it is in the row */
                p += 4 + fs;
            }
            row += fs;
        }
        assert_int_equal(p - e - 4, elen);
        e = p;
    }
    assert_ptr_equal(e, arr.p + arr.len);
    assert_ptr_equal(row, rows.p + rows.len);
    /* malformed rows are refused */
    assert_int_equal(auditd_rows_fill(&arr, 91234, rows.p, rows.len - 1, &texts), 0);
    abuf_free(&arr);
    abuf_free(&rows);
}

/* ---- rollup --------------------------------------------------------------------------- */

/* Element i of a binary array as text ("NULL" for a NULL), numbers in decimal. */
static const char *element(const abuf *a, long i, char *buf, size_t cap)
{
    const char *p = a->p + AUDITD_ARRAY_HEADER;
    uint32_t oid = be32(a->p + 8);
    for (;;) {
        uint32_t len = be32(p);
        if (i-- == 0) {
            if (len == UINT32_MAX) return "NULL";
            if (oid == AUDITD_OID_TEXT) snprintf(buf, cap, "%.*s", (int)len, p + 4);
            else snprintf(buf, cap, "%lld", (long long)rowtext_be((const unsigned char *)p + 4, len));
            return buf;
        }
        p += 4 + (len == UINT32_MAX ? 0 : len);
    }
}

/* Group g of the rollup as one line: day, keys, requests, tokens, cost. */
static const char *group_line(const auditd_rollup *r, long g)
{
    static char line[512];
    char buf[128];
    size_t at = 0;
    for (int i = 0; i < AUDITD_ROLLUP_FIELDS; i++)
        at += (size_t)snprintf(line + at, sizeof line - at, "%s%s", i ? " " : "",
                               element(&r->col[i], g, buf, sizeof buf));
    return line;
}

/* One group per UTC day, user, team, provider and model: a NULL user is not "", the
 * day turns at midnight UTC, costs add up exactly and a NULL cost adds nothing. */
static void test_rollup_groups(void **state)
{
    abuf rows = {0};
    auditd_rollup r = {0};
#define ROW(id, ts, extra) "{\"request_id\":\"" id "\",\"timestamp\":\"" ts "\"," \
    "\"provider\":\"openai\",\"model\":\"gpt-4o\"" extra "}"
    add_row(&rows, ROW("1", "2026-11-24T23:59:59.999Z", ",\"user\":\"u\",\"cost_usd\":0.1,"
                       "\"prompt_tokens\":10,\"reasoning_tokens\":1"));
    add_row(&rows, ROW("2", "2026-11-24T00:00:00.000Z", ",\"user\":\"u\",\"cost_usd\":0.2,"
                       "\"prompt_tokens\":5,\"completion_tokens\":7"));
    add_row(&rows, ROW("3", "2026-11-25T00:00:00.000Z", ",\"user\":\"u\",\"cost_usd\":0.3"));
    add_row(&rows, ROW("4", "2026-11-24T12:00:00.000Z", ",\"user\":\"\""));
    add_row(&rows, ROW("5", "2026-11-24T12:00:00.000Z", ",\"cost_usd\":8191.999999999999"));
    add_row(&rows, ROW("6", "2026-11-24T13:00:00.000Z", ",\"cost_usd\":0.000000000001,"
                       "\"cached_tokens\":3,\"cache_write_tokens\":4"));
    add_row(&rows, ROW("7", "2026-11-24T14:00:00.000Z", ",\"user\":\"u\",\"team\":\"t\""));
    assert_int_equal(auditd_rollup_build(&r, rows.p, rows.len), 0);
    assert_int_equal(r.ngroups, 5);
    /* day 9824 is 2026-11-24 (days since 2000-01-01) */
    assert_string_equal(group_line(&r, 0), "9824 u NULL openai gpt-4o 2 15 7 0 0 1 0.300000000000");
    assert_string_equal(group_line(&r, 1), "9825 u NULL openai gpt-4o 1 0 0 0 0 0 0.300000000000");
    assert_string_equal(group_line(&r, 2), "9824  NULL openai gpt-4o 1 0 0 0 0 0 0.000000000000");
    assert_string_equal(group_line(&r, 3),
                        "9824 NULL NULL openai gpt-4o 2 0 0 3 4 0 8192.000000000000");
    assert_string_equal(group_line(&r, 4), "9824 u t openai gpt-4o 1 0 0 0 0 0 0.000000000000");
    assert_int_equal(be32(r.col[1].p + 4), 1);    /* user: has a NULL */
    assert_int_equal(be32(r.col[0].p + 8), AUDITD_OID_DATE);
    assert_int_equal(be32(r.col[0].p + 12), 5);

    /* the next batch starts afresh */
    abuf one = {0};
    add_row(&one, ROW("8", "2026-11-24T14:00:00.000Z", ",\"user\":\"u\",\"team\":\"t\""));
    assert_int_equal(auditd_rollup_build(&r, one.p, one.len), 0);
    assert_int_equal(r.ngroups, 1);
    assert_string_equal(group_line(&r, 0), "9824 u t openai gpt-4o 1 0 0 0 0 0 0.000000000000");
    auditd_rollup_free(&r);
    abuf_free(&rows);
    abuf_free(&one);
}

/* Many groups (the hash table grows) and many rows per group. */
static void test_rollup_many(void **state)
{
    abuf rows = {0};
    auditd_rollup r = {0};
    char json[256];
    for (int i = 0; i < 3000; i++) {
        snprintf(json, sizeof json, REC("m%d", ",\"user\":\"u%d\",\"prompt_tokens\":%d,"
                 "\"cost_usd\":0.000001"), i, i % 700, i);
        add_row(&rows, json);
    }
    assert_int_equal(auditd_rollup_build(&r, rows.p, rows.len), 0);
    assert_int_equal(r.ngroups, 700);
    long requests = 0, tokens = 0;
    char buf[64];
    for (long g = 0; g < r.ngroups; g++) {
        requests += atol(element(&r.col[5], g, buf, sizeof buf));
        tokens += atol(element(&r.col[6], g, buf, sizeof buf));
    }
    assert_int_equal(requests, 3000);
    assert_int_equal(tokens, 2999L * 3000 / 2);
    /* u5 has rows 5, 705, 1405, 2105, 2805 */
    for (long g = 0; g < r.ngroups; g++)
        if (!strcmp(element(&r.col[1], g, buf, sizeof buf), "u5"))
            assert_string_equal(group_line(&r, g) + 5,
                                "u5 NULL NULL NULL 5 7025 0 0 0 0 0.000005000000");
    auditd_rollup_free(&r);
    abuf_free(&rows);
}

/* What auditd cannot sum exactly goes to PostgreSQL's grouping: a token sum past bigint,
 * a cost text in another shape. */
static void test_rollup_refuses(void **state)
{
    abuf rows = {0};
    auditd_rollup r = {0};
    char json[256];
    for (int i = 0; i < 9300; i++) {   /* 9300 x 1e15 > 2^63 */
        snprintf(json, sizeof json, REC("o%d", ",\"completion_tokens\":1000000000000000"), i);
        add_row(&rows, json);
    }
    assert_int_equal(auditd_rollup_build(&r, rows.p, rows.len), -1);
    abuf_free(&rows);

    const char *bad[] = {"1.5", "x.000000000000", ".000000000000", "1.00000000000x",
                         "1.0000000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        abuf row = {0}, forged = {0};
        const char *field[AUDITD_NFIELDS + 1];
        add_row(&row, REC("b", ",\"cost_usd\":1.5"));
        assert_int_equal(auditd_rollup_build(&r, row.p, row.len), 0);
        /* the cost field holds "1.500000000000"; the same row with the bad text there */
        assert_int_equal(auditd_row_fields(row.p, row.len, field), row.len);
        abuf_put(&forged, row.p, (size_t)(field[17] - row.p));
        auditd_put_be32(&forged, (uint32_t)strlen(bad[i]));
        abuf_puts(&forged, bad[i]);
        abuf_put(&forged, field[18], (size_t)(field[AUDITD_NFIELDS] - field[18]));
        assert_int_equal(auditd_rollup_build(&r, forged.p, forged.len), -1);
        abuf_free(&forged);
        abuf_free(&row);
    }
    /* malformed rows are refused too */
    abuf one = {0};
    add_row(&one, REC("m", ""));
    assert_int_equal(auditd_rollup_build(&r, one.p, one.len - 1), -1);
    abuf_free(&one);
    auditd_rollup_free(&r);
}

static void test_columns_malformed(void **state)
{
    abuf rows = three_rows();
    auditd_columns c = {0};
    assert_int_equal(auditd_columns_fill(&c, rows.p, 0, 1 << 20), 0);
    for (size_t cut = 1; cut < rows.len; cut++) {
        size_t n = auditd_columns_fill(&c, rows.p, cut, 1 << 20);
        /* a cut inside a row refuses everything; a cut between rows is not one */
        assert_true(n == 0 || n == cut);
    }
    char bogus[8] = {0x7f, 0, 0, 0, 'x', 'y', 'z', 'w'};   /* a length past the end */
    assert_int_equal(auditd_columns_fill(&c, bogus, sizeof bogus, 1 << 20), 0);
    auditd_columns_free(&c);
    abuf_free(&rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_bytes),
        cmocka_unit_test(test_row_text_fields),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_columns_split),
        cmocka_unit_test(test_rows_texts),
        cmocka_unit_test(test_columns_malformed),
        cmocka_unit_test(test_rows_composite),
        cmocka_unit_test(test_rollup_groups),
        cmocka_unit_test(test_rollup_many),
        cmocka_unit_test(test_rollup_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
