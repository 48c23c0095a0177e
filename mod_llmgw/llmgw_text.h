/* llmgw_text.h — decimal, hex and calendar arithmetic for the texts written on every
 * request (audit record timestamps, costs, token counts, request ids, rate-limit keys
 * and headers): digits by hand and UTC dates by 400-year era arithmetic, with no
 * vsnprintf and no gmtime_r (which takes glibc's time-zone lock); and the
 * Content-Length every request has. Part of libllmgw. */
#ifndef LLMGW_TEXT_H
#define LLMGW_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Writes v's decimal digits (a '-' first when negative; INT64_MIN too) backwards so
 * they end just before end (room for 20 bytes); returns the first character. */
char *llmgw_dec_back(char *end, int64_t v);

/* Writes the n bytes at in as 2n lowercase hex digits and a NUL at out (2n + 1 bytes). */
void llmgw_hex(const unsigned char *in, size_t n, char *out);

/* a / b rounded towards minus infinity (b != 0). */
int64_t llmgw_floordiv(int64_t a, int64_t b);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t llmgw_days_from_civil(int64_t y, int m, int d);
void llmgw_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* s is 1 to 18 decimal digits and nothing else: 1 and the value in *out, else 0. The
 * common Content-Length, read without strtol; callers keep their strict parser for
 * the rest. */
int llmgw_dec_parse_short(const char *s, int64_t *out);

#endif
