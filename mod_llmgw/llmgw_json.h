/* llmgw_json.h — the few JSON-writing helpers the core needs where building a jansson
 * tree would cost more than the output itself (error bodies, usage records). */
#ifndef LLMGW_JSON_H
#define LLMGW_JSON_H

#include <stddef.h>
#include <string.h>

/* A bounded output buffer: writes past cap are dropped and flagged, never overflow. */
typedef struct {
    char *buf;
    size_t len, cap;
    int overflow;
} llmgw_sbuf;

void llmgw_sbuf_init(llmgw_sbuf *b, char *buf, size_t cap);

/* Inline: a usage record is some sixty small appends, most of a constant length the
 * compiler then copies without calling memcpy. */
static inline void llmgw_sbuf_put(llmgw_sbuf *b, const char *s, size_t n)
{
    /* one byte is always kept for the terminating NUL */
    if (b->overflow || n >= b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

/* A string literal, its length known at compile time. */
#define LLMGW_SBUF_LIT(b, lit) llmgw_sbuf_put((b), "" lit, sizeof(lit) - 1)

void llmgw_sbuf_puts(llmgw_sbuf *b, const char *s);
void llmgw_sbuf_printf(llmgw_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes included), at most max_bytes of s
 * (cut on a UTF-8 boundary); NULL becomes null. */
void llmgw_sbuf_json_str(llmgw_sbuf *b, const char *s, size_t max_bytes);
/* True when the JSON text [s, s+n) nests arrays/objects at most max deep (brackets
 * inside strings do not count). jansson has no depth option and recurses, so hostile
 * bodies are measured before they are parsed. */
int llmgw_json_depth_ok(const char *s, size_t n, int max);

/* Length of the valid UTF-8 sequence at s (at most n bytes, n >= 1), 0 when invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF (jansson's rules). */
size_t llmgw_utf8_seq(const unsigned char *s, size_t n);

/* How many bytes from s (of n) are whole valid sequences of non-ASCII characters, by
 * the same rules: it stops at an ASCII byte, at the end, or before an invalid or cut
 * sequence. Prompts in Japanese or Greek are runs of these: one loop, not one call per
 * character. */
size_t llmgw_utf8_run(const unsigned char *s, size_t n);

/* The value of four hex digits at p (a \uXXXX escape's): 1, or 0 when one is not hex. */
int llmgw_hex4(const unsigned char *p, unsigned *out);

/* NUL-terminates and returns the length (0 on overflow). */
size_t llmgw_sbuf_finish(llmgw_sbuf *b);

#endif
