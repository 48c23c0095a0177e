/* auditd_rowtext.h — test helper: an encoded auditd row (auditd_encode.h) rendered as
 * readable text, fields separated by tabs and the row ended by a newline: text as its
 * bytes, integers in decimal, booleans t/f, NULL as \N, the timestamp as '@' and its
 * microseconds since the Unix epoch. Lets tests compare whole rows as strings. */
#ifndef AUDITD_ROWTEXT_H
#define AUDITD_ROWTEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auditd_encode.h"

static inline uint64_t rowtext_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* Renders the row at *p and advances *p past it. */
static inline void rowtext_render(const unsigned char **p, abuf *out)
{
    for (int i = 0; i < AUDITD_NFIELDS; i++) {
        uint32_t len = (uint32_t)rowtext_be(*p, 4);
        const unsigned char *v = *p + 4;
        *p += 4;
        if (i) abuf_putc(out, '\t');
        if (len == UINT32_MAX) {
            abuf_puts(out, "\\N");
            continue;
        }
        switch (auditd_field_oid[i]) {
        case AUDITD_OID_TIMESTAMPTZ:
            abuf_printf(out, "@%lld", (long long)rowtext_be(v, 8) + 946684800000000LL);
            break;
        case AUDITD_OID_INT8:
        case AUDITD_OID_INT4:
            abuf_printf(out, "%lld", (long long)(int64_t)rowtext_be(v, (int)len));
            break;
        case AUDITD_OID_BOOL:
            abuf_putc(out, v[0] ? 't' : 'f');
            break;
        default:
            abuf_put(out, v, len);
        }
        *p += len;
    }
    abuf_putc(out, '\n');
}

/* The first encoded row of rec as text; the caller frees. */
static inline char *rowtext_of(const auditd_record *rec)
{
    abuf row = {0}, text = {0};
    auditd_encode_row(rec, &row);
    const unsigned char *p = (const unsigned char *)row.p;
    rowtext_render(&p, &text);
    char *s = strdup(abuf_cstr(&text));
    abuf_free(&row);
    abuf_free(&text);
    return s;
}

#endif
