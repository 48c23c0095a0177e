/* auditd_encode.h — a validated usage record as one row of PostgreSQL binary values, and
 * runs of such rows turned into one binary array per column: the parameters of the
 * ingest statement (auditd_db.c), which unnests them. Binary values need no escaping on
 * our side and no text parsing on the server's. */
#ifndef AUDITD_ENCODE_H
#define AUDITD_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "auditd.h"
#include "auditd_decode.h"

/* Fields of a row, in AUDITD_STAGE_COLUMNS order: the audit row's, then the texts. */
#define AUDITD_NFIELDS 27
#define AUDITD_ROW_FIELDS 25

/* The fixed OIDs of the built-in types the fields are sent as (PostgreSQL's
 * pg_type.dat; libpq ships no header naming them). roles travels as the text of a
 * text[] literal and cost_usd as the text of a numeric: the statement casts them. */
#define AUDITD_OID_BOOL        16
#define AUDITD_OID_INT8        20
#define AUDITD_OID_INT4        23
#define AUDITD_OID_TEXT        25
#define AUDITD_OID_TIMESTAMPTZ 1184

extern const uint32_t auditd_field_oid[AUDITD_NFIELDS];

/* Appends rec as one row: for each field a 4-byte big-endian length (-1: NULL) and the
 * value in the binary format of its type (the "send" format), which is also the format
 * of one array element. */
void auditd_encode_row(const auditd_record *rec, abuf *out);

/* Big-endian integers, as every binary value and length is sent; in line, as a row
 * has some thirty of them. */
static inline void auditd_put_be32(abuf *out, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    abuf_put(out, b, 4);
}

static inline void auditd_put_be64(abuf *out, uint64_t v)
{
    auditd_put_be32(out, (uint32_t)(v >> 32));
    auditd_put_be32(out, (uint32_t)v);
}

static inline uint32_t auditd_get_be32(const char *p)
{
    const unsigned char *b = (const unsigned char *)p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* A binary one-dimensional array (the format of array_send) built in a: start writes
 * the header, elements follow laid out as fields, end sets the count and the NULL flag.
 * Elements start AUDITD_ARRAY_HEADER bytes in. */
#define AUDITD_ARRAY_HEADER 20   /* ndim, flags, element type, length, lower bound */
void auditd_array_start(abuf *a, uint32_t oid);
void auditd_array_end(abuf *a, long n, int has_null);

/* The element count auditd_array_end set. */
static inline long auditd_array_count(const abuf *a)
{
    return (long)auditd_get_be32(a->p + 12);
}

/* One binary one-dimensional array per field, for binary-format statement parameters. */
typedef struct auditd_columns {
    abuf col[AUDITD_NFIELDS];
    long nrows;
} auditd_columns;

/* Empties c and fills it with the whole rows at the start of [rows, rows + len) while
 * the arrays stay under max_bytes together (the first row is always taken). Returns
 * the bytes of rows consumed, 0 when the rows are malformed or len is 0. */
size_t auditd_columns_fill(auditd_columns *c, const char *rows, size_t len, size_t max_bytes);
void auditd_columns_free(auditd_columns *c);

/* Where each field of the row at p (at most n bytes) starts: field[i] at its length
 * word, field[AUDITD_NFIELDS] just past the row. Returns the row's bytes, 0 when it is
 * cut short. */
size_t auditd_row_fields(const char *p, size_t n, const char *field[AUDITD_NFIELDS + 1]);

/* The rows of [rows, rows + len) as one binary array of the composite type type_oid
 * (llmgw.ingest_row, sql/004_ingest_row.sql): an element per row, holding its first
 * AUDITD_ROW_FIELDS fields in the format of record_send (the field count, then each
 * field as its type's OID and the field). PostgreSQL unnests such an array in one pass,
 * where parallel column arrays cost it a store per column. *texts tells whether some
 * row carries a prompt or a completion (LLMGWAuditBodies), which this array leaves out.
 * Returns the bytes of rows taken (all of them), 0 when the rows are malformed or len
 * is 0. */
size_t auditd_rows_fill(abuf *arr, uint32_t type_oid, const char *rows, size_t len,
                        int *texts);

#endif
