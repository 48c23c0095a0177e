/* llmgw_text.c — decimal and calendar arithmetic shared by the per-request texts (see
 * llmgw_text.h). Part of libllmgw. */
#include "llmgw_text.h"

#include <string.h>

char *llmgw_dec_back(char *end, int64_t v)
{
    static const char pairs[201] = "0001020304050607080910111213141516171819"
        "2021222324252627282930313233343536373839404142434445464748495051525354555657585960"
        "6162636465666768697071727374757677787980818283848586878889909192939495969798" "99";
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    for (; m >= 100; m /= 100) {        /* two digits per division */
        end -= 2;
        memcpy(end, pairs + 2 * (m % 100), 2);
    }
    if (m >= 10) {
        end -= 2;
        memcpy(end, pairs + 2 * m, 2);
    } else {
        *--end = (char)('0' + m);
    }
    if (v < 0)
        *--end = '-';
    return end;
}

void llmgw_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int64_t llmgw_floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Era arithmetic: 400-year cycles of 146097 days, years counted from March so that
 * the leap day falls last. */
int64_t llmgw_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = llmgw_floordiv(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void llmgw_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = llmgw_floordiv(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int llmgw_dec_parse_short(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i == 18)
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0 || s[i] != '\0')
        return 0;
    *out = v;
    return 1;
}
