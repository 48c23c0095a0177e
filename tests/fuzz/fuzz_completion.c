/* fuzz_completion.c — the assistant's text for LLMGWAuditBodies: from whole bodies and
 * from single stream events, appended into a small bounded buffer.
 *
 * Input: [provider type][buffer size][event-name length] event-name data...
 * Invariants: the text never leaves its buffer and stays NUL-terminated; since jansson
 * hands out valid UTF-8 and truncation cuts only between characters, the collected text
 * is valid UTF-8; when nothing was truncated the length only grows. */
#include "fuzz_common.h"

#include "llmgw_completion.h"

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], len, cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += len;
    }
    return 1;
}

static void check_text(const llmgw_text *t)
{
    FUZZ_CHECK(t->len < t->cap, "len %zu cap %zu", t->len, t->cap);
    FUZZ_CHECK(t->buf[t->len] == '\0', "not terminated");
    FUZZ_CHECK(strlen(t->buf) <= t->len, "length");
    FUZZ_CHECK(utf8_valid((const unsigned char *)t->buf, t->len), "invalid UTF-8 collected");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    llmgw_ptype type = (llmgw_ptype)(fuzz_byte(&in) % LLMGW_PT_COUNT);
    size_t cap = 1 + fuzz_byte(&in) % 64;
    size_t elen = fuzz_byte(&in) % 32;
    if (elen > in.n)
        elen = in.n;
    char *event = fuzz_dup_exact(in.p, elen);
    char *body = fuzz_dup_exact(in.p + elen, in.n - elen);
    size_t blen = in.n - elen;

    char *buf = malloc(cap);
    llmgw_text t;
    llmgw_text_init(&t, buf, cap);
    (void)llmgw_completion_from_json(type, body, blen, &t);
    check_text(&t);
    size_t before = t.len;
    llmgw_completion_from_event(type, event, elen, body, blen, &t);
    check_text(&t);
    FUZZ_CHECK(t.len >= before, "text shrank");
    /* whole-body form too (the event name as a body) */
    llmgw_completion_from_event(type, event, elen, event, elen, &t);
    check_text(&t);

    free(buf);
    free(event);
    free(body);
    return 0;
}
