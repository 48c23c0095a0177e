/* auditd_util.c — small helpers shared by llmgw-auditd and llmgw-report: growable
 * buffers, allocation that never returns NULL, one-line logging to stderr. */
#include "auditd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int auditd_verbose = 0;

static void oom(void)
{
    /* Running out of memory mid-batch leaves nothing sensible to answer; dying lets the
     * client retry the batch against a restarted daemon. */
    fputs("llmgw-auditd: out of memory\n", stderr);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom();
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

void abuf_reserve(abuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) oom();
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) oom();
    b->p = p;
    b->cap = cap;
}

void abuf_puts(abuf *b, const char *s)
{
    abuf_put(b, s, strlen(s));
}

void abuf_printf(abuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    abuf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *abuf_cstr(abuf *b)
{
    abuf_reserve(b, 0);
    b->p[b->len] = '\0';
    return b->p;
}

void abuf_free(abuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void auditd_log(const char *level, const char *fmt, ...)
{
    char msg[2048], stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One event per line, whatever a server message contained. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    size_t n = strlen(msg);
    while (n && msg[n - 1] == ' ') msg[--n] = '\0';

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    /* A single fprintf keeps concurrent threads from interleaving within a line. */
    fprintf(stderr, "%s.%03ldZ llmgw-auditd[%s] %s\n", stamp, ts.tv_nsec / 1000000L, level, msg);
}

int64_t auditd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
