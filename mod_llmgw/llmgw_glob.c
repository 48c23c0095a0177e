/* llmgw_glob.c — glob matching ('*', '?', '[...]', '\' escape), case-sensitive, with
 * the classic two-pointer star algorithm so hostile patterns cannot blow up, and the
 * literal-character count used to rank overlapping patterns. Part of libllmgw. */
#include "llmgw_glob.h"

/* p points at '['. Returns the position just past the closing ']', or NULL when the
 * bracket is not closed (then '[' is an ordinary character). A ']' first in the set
 * is a member, not the end. */
static const char *class_end(const char *p)
{
    const char *q = p + 1;
    if (*q == '!' || *q == '^')
        q++;
    if (*q == ']')
        q++;
    while (*q && *q != ']')
        q++;
    return *q ? q + 1 : NULL;
}

/* Does c belong to the class [p, end)? Ranges use byte order. */
static int class_match(const char *p, const char *end, unsigned char c)
{
    const char *q = p + 1;
    const char *stop = end - 1;   /* the closing ']' */
    int neg = 0, hit = 0;
    if (*q == '!' || *q == '^') {
        neg = 1;
        q++;
    }
    while (q < stop) {
        unsigned char lo = (unsigned char)q[0];
        if (q + 2 < stop && q[1] == '-') {
            unsigned char hi = (unsigned char)q[2];
            hit |= c >= lo && c <= hi;
            q += 3;
        } else {
            hit |= c == lo;
            q++;
        }
    }
    return hit != neg;
}

/* Matches one non-star pattern element against c (never NUL). Returns the pattern
 * position after the element, or NULL on mismatch or end of pattern. */
static const char *step(const char *p, char c)
{
    const char *end;
    switch (*p) {
    case '\0':
        return NULL;
    case '?':
        return p + 1;
    case '[':
        end = class_end(p);
        if (end)
            return class_match(p, end, (unsigned char)c) ? end : NULL;
        return c == '[' ? p + 1 : NULL;
    case '\\':
        if (p[1])
            return c == p[1] ? p + 2 : NULL;
        return c == '\\' ? p + 1 : NULL;
    default:
        return c == *p ? p + 1 : NULL;
    }
}

int llmgw_glob_match(const char *pattern, const char *s)
{
    const char *p = pattern, *star_p = NULL, *star_s = NULL;
    if (!pattern || !s)
        return 0;
    while (*s) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            star_p = p;      /* resume point after the latest star */
            star_s = s;      /* how much of s that star has swallowed so far */
            continue;
        }
        const char *next = step(p, *s);
        if (next) {
            p = next;
            s++;
        } else if (star_p) {
            /* only the latest star needs to grow: earlier ones are already
             * satisfied by the shortest extension, which keeps this linear per star */
            p = star_p;
            s = ++star_s;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

size_t llmgw_glob_literals(const char *pattern)
{
    size_t n = 0;
    const char *p = pattern;
    if (!p)
        return 0;
    while (*p) {
        const char *end;
        if (*p == '*' || *p == '?') {
            p++;
        } else if (*p == '[' && (end = class_end(p)) != NULL) {
            p = end;
        } else if (*p == '\\' && p[1]) {
            n++;
            p += 2;
        } else {
            n++;
            p++;
        }
    }
    return n;
}
