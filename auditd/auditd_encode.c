/* auditd_encode.c — usage records as rows of PostgreSQL binary values, and rows as one
 * binary array per column (the formats of PostgreSQL's send/recv functions: big-endian
 * integers, timestamps as microseconds since 2000-01-01 UTC, text as its bytes). */
#include "auditd_encode.h"

#include <stdio.h>
#include <string.h>

/* 2000-01-01T00:00:00Z, PostgreSQL's epoch, in microseconds since the Unix epoch. */
#define PG_EPOCH_US   946684800000000LL

const uint32_t auditd_field_oid[AUDITD_NFIELDS] = {
    AUDITD_OID_TIMESTAMPTZ,                                          /* ts */
    AUDITD_OID_TEXT, AUDITD_OID_TEXT, AUDITD_OID_TEXT, AUDITD_OID_TEXT,  /* request_id..team */
    AUDITD_OID_TEXT,                                                 /* roles (literal) */
    AUDITD_OID_TEXT, AUDITD_OID_TEXT, AUDITD_OID_TEXT,               /* provider..endpoint */
    AUDITD_OID_INT4, AUDITD_OID_BOOL,                                /* status, stream */
    AUDITD_OID_INT8, AUDITD_OID_INT8, AUDITD_OID_INT8,               /* token counts */
    AUDITD_OID_INT8, AUDITD_OID_INT8, AUDITD_OID_INT8,
    AUDITD_OID_TEXT,                                                 /* cost_usd (numeric text) */
    AUDITD_OID_INT8, AUDITD_OID_INT8,                                /* latency_ms, ttft_ms */
    AUDITD_OID_TEXT, AUDITD_OID_TEXT, AUDITD_OID_TEXT,               /* conversation..blocked */
    AUDITD_OID_INT4, AUDITD_OID_TEXT,                                /* redactions, node */
    AUDITD_OID_TEXT, AUDITD_OID_TEXT,                                /* prompt, completion */
};

/* ---- values --------------------------------------------------------------------------- */

static void set_be32(char *p, uint32_t v)
{
    unsigned char *b = (unsigned char *)p;
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static void field_null(abuf *out)
{
    auditd_put_be32(out, UINT32_MAX);   /* -1 */
}

/* Decoding bounded every string far below 2^31 bytes (AUDITD_MAX_LINE). */
static void field_text(abuf *out, const char *s)
{
    if (!s) {
        field_null(out);
        return;
    }
    size_t n = strlen(s);
    auditd_put_be32(out, (uint32_t)n);
    abuf_put(out, s, n);
}

static void field_int4(abuf *out, int64_t v, int nullable)
{
    if (nullable && v < 0) {
        field_null(out);
        return;
    }
    auditd_put_be32(out, 4);
    auditd_put_be32(out, (uint32_t)v);
}

static void field_int8(abuf *out, int64_t v, int nullable)
{
    if (nullable && v < 0) {
        field_null(out);
        return;
    }
    auditd_put_be32(out, 8);
    auditd_put_be64(out, (uint64_t)v);
}

static void field_bool(abuf *out, int v)
{
    auditd_put_be32(out, 1);
    abuf_putc(out, v ? 1 : 0);
}

static void field_ts(abuf *out, int64_t unix_us)
{
    auditd_put_be32(out, 8);
    auditd_put_be64(out, (uint64_t)(unix_us - PG_EPOCH_US));
}

/* The text of a text[] literal: every element double-quoted, '"' and '\' escaped for
 * the array parser (the statement casts the text). No roles: the empty array. */
static void field_roles(abuf *out, const char *const *roles, size_t n)
{
    size_t at = out->len;

    auditd_put_be32(out, 0);   /* the length, set below */
    abuf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        const char *s = roles[i];
        if (i) abuf_putc(out, ',');
        abuf_putc(out, '"');
        for (;;) {
            size_t k = strcspn(s, "\"\\");
            abuf_put(out, s, k);
            s += k;
            if (!*s) break;
            abuf_putc(out, '\\');
            abuf_putc(out, *s++);
        }
        abuf_putc(out, '"');
    }
    abuf_putc(out, '}');
    set_be32(out->p + at, (uint32_t)(out->len - at - 4));
}

/* Costs arrive as doubles (strtod's, whichever reader ran); the module writes at most
 * 12 decimals, and "%.12f" restores them exactly for any cost below 8192 USD. */
static void field_cost(abuf *out, const auditd_record *r)
{
    char num[64];
    if (!r->has_cost) {
        field_null(out);
        return;
    }
    /* A client may send -0.0, which decoding accepts (it is not below zero): written
     * as 0, not "-0.000000000000", so the text is a plain non-negative number. */
    double cost = r->cost_usd == 0 ? 0.0 : r->cost_usd;
    int n = snprintf(num, sizeof num, "%.12f", cost);   /* below 1e8: fits */
    auditd_put_be32(out, (uint32_t)n);
    abuf_put(out, num, (size_t)n);
}

void auditd_encode_row(const auditd_record *r, abuf *out)
{
    field_ts(out, r->ts_us);
    field_text(out, r->request_id);
    field_text(out, r->user);
    field_text(out, r->email);
    field_text(out, r->team);
    field_roles(out, r->roles, r->nroles);
    field_text(out, r->provider);
    field_text(out, r->model);
    field_text(out, r->endpoint);
    field_int4(out, r->status, 1);
    field_bool(out, r->stream);
    field_int8(out, r->prompt_tokens, 0);
    field_int8(out, r->completion_tokens, 0);
    field_int8(out, r->cached_tokens, 0);
    field_int8(out, r->cache_write_tokens, 0);
    field_int8(out, r->reasoning_tokens, 0);
    field_int8(out, r->total_tokens, 0);
    field_cost(out, r);
    field_int8(out, r->latency_ms, 1);
    field_int8(out, r->ttft_ms, 1);
    field_text(out, r->conversation_id);
    field_text(out, r->client_ip);
    field_text(out, r->blocked_rule);
    field_int4(out, r->redactions, 0);
    field_text(out, r->node);
    field_text(out, r->prompt);
    field_text(out, r->completion);
}

/* ---- columns -------------------------------------------------------------------------- */

/* Bytes of field at p (length word included), 0 when it does not fit in n. */
static size_t field_size(const char *p, size_t n)
{
    if (n < 4) return 0;
    uint32_t len = auditd_get_be32(p);
    if (len == UINT32_MAX) return 4;
    return len <= n - 4 ? 4 + (size_t)len : 0;
}

size_t auditd_row_fields(const char *p, size_t n, const char *field[AUDITD_NFIELDS + 1])
{
    size_t off = 0;
    for (int i = 0; i < AUDITD_NFIELDS; i++) {
        size_t f = field_size(p + off, n - off);
        if (!f) return 0;
        field[i] = p + off;
        off += f;
    }
    field[AUDITD_NFIELDS] = p + off;
    return off;
}

void auditd_array_start(abuf *a, uint32_t oid)
{
    a->len = 0;
    auditd_put_be32(a, 1);      /* dimensions */
    auditd_put_be32(a, 0);      /* has NULLs: set at the end */
    auditd_put_be32(a, oid);
    auditd_put_be32(a, 0);      /* length: set at the end */
    auditd_put_be32(a, 1);      /* lower bound */
}

void auditd_array_end(abuf *a, long n, int has_null)
{
    set_be32(a->p + 4, (uint32_t)has_null);
    set_be32(a->p + 12, (uint32_t)n);
}

static void columns_start(auditd_columns *c)
{
    c->nrows = 0;
    for (int i = 0; i < AUDITD_NFIELDS; i++)
        auditd_array_start(&c->col[i], auditd_field_oid[i]);
}

/* An element has the layout of a field, so each field (as auditd_row_fields found
 * them) is copied as it is. */
static void columns_add(auditd_columns *c, const char *const *field, int *nulls)
{
    for (int i = 0; i < AUDITD_NFIELDS; i++) {
        size_t f = (size_t)(field[i + 1] - field[i]);
        nulls[i] |= f == 4 && auditd_get_be32(field[i]) == UINT32_MAX;
        abuf_put(&c->col[i], field[i], f);
    }
    c->nrows++;
}

size_t auditd_columns_fill(auditd_columns *c, const char *rows, size_t len, size_t max_bytes)
{
    int nulls[AUDITD_NFIELDS] = {0};
    const char *field[AUDITD_NFIELDS + 1];
    size_t off = 0, total = (size_t)AUDITD_NFIELDS * AUDITD_ARRAY_HEADER;

    columns_start(c);
    while (off < len) {
        size_t n = auditd_row_fields(rows + off, len - off, field);
        if (!n) return 0;
        if (c->nrows > 0 && total + n > max_bytes) break;
        columns_add(c, field, nulls);
        off += n;
        total += n;
    }
    for (int i = 0; i < AUDITD_NFIELDS && off; i++)
        auditd_array_end(&c->col[i], c->nrows, nulls[i]);
    return off;
}

void auditd_columns_free(auditd_columns *c)
{
    for (int i = 0; i < AUDITD_NFIELDS; i++) abuf_free(&c->col[i]);
    c->nrows = 0;
}

/* ---- rows as composites -------------------------------------------------------------- */

size_t auditd_rows_fill(abuf *arr, uint32_t type_oid, const char *rows, size_t len,
                        int *texts)
{
    const char *field[AUDITD_NFIELDS + 1];
    size_t off = 0;
    long n = 0;
    *texts = 0;
    auditd_array_start(arr, type_oid);
    while (off < len) {
        size_t size = auditd_row_fields(rows + off, len - off, field);
        if (!size) return 0;
        size_t at = arr->len;
        auditd_put_be32(arr, 0);                    /* the element's length, set below */
        auditd_put_be32(arr, AUDITD_ROW_FIELDS);
        for (int i = 0; i < AUDITD_ROW_FIELDS; i++) {
            auditd_put_be32(arr, auditd_field_oid[i]);
            abuf_put(arr, field[i], (size_t)(field[i + 1] - field[i]));
        }
        for (int i = AUDITD_ROW_FIELDS; i < AUDITD_NFIELDS; i++)
            *texts |= auditd_get_be32(field[i]) != UINT32_MAX;
        set_be32(arr->p + at, (uint32_t)(arr->len - at - 4));
        off += size;
        n++;
    }
    auditd_array_end(arr, n, 0);
    return off;
}
