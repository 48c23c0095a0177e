/* llmgw_json.c — bounded string building and JSON string escaping for the core. */
#include "llmgw_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void llmgw_sbuf_init(llmgw_sbuf *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->len = 0;
    b->cap = cap;
    b->overflow = cap == 0;
    if (cap)
        buf[0] = '\0';
}

void llmgw_sbuf_put(llmgw_sbuf *b, const char *s, size_t n)
{
    /* one byte is always kept for the terminating NUL */
    if (b->overflow || n >= b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

void llmgw_sbuf_puts(llmgw_sbuf *b, const char *s)
{
    llmgw_sbuf_put(b, s, strlen(s));
}

void llmgw_sbuf_printf(llmgw_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->overflow)
        return;
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        b->overflow = 1;
        return;
    }
    b->len += (size_t)n;
}

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n)
{
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return 0;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return (n - (i - 1) >= need) ? n : i - 1;
}

void llmgw_sbuf_json_str(llmgw_sbuf *b, const char *s, size_t max_bytes)
{
    static const char hex[] = "0123456789abcdef";
    if (!s) {
        llmgw_sbuf_put(b, "null", 4);
        return;
    }
    size_t n = strlen(s);
    if (n > max_bytes)
        n = utf8_cut(s, max_bytes);
    llmgw_sbuf_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        llmgw_sbuf_put(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': llmgw_sbuf_put(b, "\\\"", 2); break;
        case '\\': llmgw_sbuf_put(b, "\\\\", 2); break;
        case '\n': llmgw_sbuf_put(b, "\\n", 2); break;
        case '\r': llmgw_sbuf_put(b, "\\r", 2); break;
        case '\t': llmgw_sbuf_put(b, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            llmgw_sbuf_put(b, u, 6);
        }
        }
    }
    llmgw_sbuf_put(b, s + run, n - run);
    llmgw_sbuf_put(b, "\"", 1);
}

size_t llmgw_sbuf_finish(llmgw_sbuf *b)
{
    if (b->overflow) {
        if (b->cap)
            b->buf[0] = '\0';
        return 0;
    }
    b->buf[b->len] = '\0';
    return b->len;
}

int llmgw_json_depth_ok(const char *s, size_t n, int max)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}
