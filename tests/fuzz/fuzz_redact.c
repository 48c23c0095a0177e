/* fuzz_redact.c — content rules over request bodies (LLMGWRedact / LLMGWBlock) as the
 * body hook applies them: parse, scan every text the model will read for the provider
 * type, rewrite the redacted string tokens in the body text.
 *
 * Rules (the SPEC's examples plus two common ones): redact pii-protection
 * \b\d{3}-\d{2}-\d{4}\b and \b\d{16}\b, redact email, redact api-key (?i)sk-[a-z0-9]{8,},
 * block block-sensitive-topics "confidential" "internal only".
 * Input: [provider type] body...
 * Invariants: a blocked body names the block rule; a body that passes comes out as
 * JSON with the same members (the very same bytes when nothing was redacted) that no
 * block rule matches, and in every text that was
 * rewritten no redact pattern still matches — except a match that touches a
 * [REDACTED:...] tag: a replacement can create a word boundary (\b) that the original
 * text did not have ("4111111111111111sk-abcdefgh1" → "4111111111111111[REDACTED:api-key]"),
 * which the module's single pass does not revisit (reported in the issue note).
 * And the input as one message text: redacted or blocked exactly where PCRE2 alone finds
 * a match (the module starts its searches at the bytes a match can start with). */
#include "fuzz_common.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "llmgw_redact.h"
#include "llmgw_request.h"

static llmgw_content_rules rules;
static const char *const redact_patterns[] = {
    "\\b\\d{3}-\\d{2}-\\d{4}\\b", "\\b\\d{16}\\b",
    "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}", "(?i)sk-[a-z0-9]{8,}"};
static pcre2_code *check_rx[4];        /* the harness's own copies, for the oracle */
static pcre2_code *check_block[2];
static pcre2_match_data *check_md;

/* A match left in a rewritten text must touch a tag ("...]" before or "[..." after). */
static void check_text(const char *s, size_t n)
{
    for (int i = 0; i < 4; i++) {
        size_t start = 0;
        while (start <= n && pcre2_match(check_rx[i], (PCRE2_SPTR)s, n, start, 0, check_md,
                                         NULL) >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(check_md);
            int touches = (ov[0] > 0 && s[ov[0] - 1] == ']') || (ov[1] < n && s[ov[1]] == '[');
            FUZZ_CHECK(touches, "pattern %d still matches '%.*s' in a rewritten text", i,
                       (int)(ov[1] - ov[0]), s + ov[0]);
            start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
        }
    }
}

/* Walks the request before and after the scan side by side (redaction changes strings
 * only); the strings that changed are the rewritten texts. */
static void check_tree(const json_t *before, const json_t *after)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_string(after)) {
        FUZZ_CHECK(json_is_string(before), "a non-string became a string");
        if (!json_equal(before, after))
            check_text(json_string_value(after), json_string_length(after));
        return;
    }
    FUZZ_CHECK(json_typeof(before) == json_typeof(after), "the shape changed");
    json_object_foreach((json_t *)after, k, v) check_tree(json_object_get(before, k), v);
    json_array_foreach(after, i, v) check_tree(json_array_get(before, i), v);
}

static void *arena_fn(void *ctx, size_t n)
{
    return fuzz_arena_alloc(ctx, n);
}

static llmgw_rx *rx(const char *p)
{
    char err[256];
    llmgw_rx *r = llmgw_rx_compile(p, err, sizeof err);
    if (!r) {
        fprintf(stderr, "pattern %s: %s\n", p, err);
        abort();
    }
    return r;
}

/* The oracle's own PCRE2 pattern: no callout, no start search, no limits. */
static pcre2_code *raw_rx(const char *p)
{
    int e;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &e, &off,
                                  NULL);
    if (!c)
        abort();
    return c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static llmgw_rx *pii[2], *mail[1], *key[1], *blk[2];
    static llmgw_content_rule red[3], bl[1];
    pii[0] = rx("\\b\\d{3}-\\d{2}-\\d{4}\\b");
    pii[1] = rx("\\b\\d{16}\\b");
    mail[0] = rx("[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}");
    key[0] = rx("(?i)sk-[a-z0-9]{8,}");
    blk[0] = rx("confidential");
    blk[1] = rx("internal only");
    red[0] = (llmgw_content_rule){"pii-protection", pii, 2};
    red[1] = (llmgw_content_rule){"email", mail, 1};
    red[2] = (llmgw_content_rule){"api-key", key, 1};
    bl[0] = (llmgw_content_rule){"block-sensitive-topics", blk, 2};
    rules = (llmgw_content_rules){red, 3, bl, 1};
    static const char *const block_patterns[] = {"confidential", "internal only"};
    for (int i = 0; i < 4; i++)
        check_rx[i] = raw_rx(redact_patterns[i]);
    for (int i = 0; i < 2; i++)
        check_block[i] = raw_rx(block_patterns[i]);
    check_md = pcre2_match_data_create(1, NULL);
    return 0;
}

static int any_match(pcre2_code *const *rx, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (pcre2_match(rx[i], (PCRE2_SPTR)s, len, 0, 0, check_md, NULL) >= 0)
            return 1;
    return 0;
}

/* The input as the one text of a chat message: the rules find something in it exactly
 * where PCRE2 alone does (the module searches from the bytes a match can start with). */
static void check_one_text(const char *s, size_t n, const llmgw_alloc *a)
{
    /* llmgw_scan_request takes bodies without \u0000 (the request scanner refuses it) */
    json_t *str = memchr(s, '\0', n) ? NULL : json_stringn(s, n);  /* NULL: not UTF-8 too */
    if (!str)
        return;
    json_t *body = json_pack("{s:[{s:s,s:o}]}", "messages", "role", "user", "content", str);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return;
    llmgw_scan sc;
    const char *out;
    size_t out_len;
    llmgw_scan_init(&sc, &rules, a);
    llmgw_scan_status st = llmgw_scan_request(&sc, LLMGW_PT_OPENAI, text, strlen(text), &out,
                                              &out_len);
    int blocked = any_match(check_block, 2, s, n);
    FUZZ_CHECK((st == LLMGW_SCAN_BLOCKED) == blocked, "blocked %d, PCRE2 finds a block: %d",
               st == LLMGW_SCAN_BLOCKED, blocked);
    if (st == LLMGW_SCAN_OK) {
        int found = any_match(check_rx, 4, s, n);
        FUZZ_CHECK((sc.redactions > 0) == found, "%d redactions, PCRE2 finds a match: %d",
                   sc.redactions, found);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    llmgw_ptype type = (llmgw_ptype)(fuzz_byte(&in) % LLMGW_PT_COUNT);
    fuzz_arena ar = {0};
    llmgw_alloc a = {arena_fn, &ar};
    check_one_text((const char *)in.p, in.n, &a);
    char err[256];
    char *body = fuzz_dup_exact(in.p, in.n);
    json_t *root = llmgw_request_parse(body, in.n, err, sizeof err);
    if (!root) {
        free(body);
        fuzz_arena_free(&ar);
        return 0;
    }
    size_t members = json_object_size(root);

    llmgw_scan s;
    const char *out;
    size_t n = 0;
    llmgw_scan_init(&s, &rules, &a);
    llmgw_scan_status st = llmgw_scan_request(&s, type, body, in.n, &out, &n);
    if (st == LLMGW_SCAN_BLOCKED) {
        FUZZ_CHECK(s.rule && !strcmp(s.rule, "block-sensitive-topics"), "blocked by %s",
                   s.rule ? s.rule : "(null)");
    } else if (st == LLMGW_SCAN_OK) {
        FUZZ_CHECK(out == body ? !s.redactions && n == in.n : s.redactions && strlen(out) == n,
                   "%d redactions, body %s", s.redactions, out == body ? "kept" : "rewritten");
        json_t *again = llmgw_request_parse(out, n, err, sizeof err);
        FUZZ_CHECK(again && json_object_size(again) == members, "rewritten body: %s", err);
        llmgw_scan s2;
        const char *out2;
        size_t n2;
        llmgw_scan_init(&s2, &rules, &a);
        llmgw_scan_status st2 = llmgw_scan_request(&s2, type, out, n, &out2, &n2);
        FUZZ_CHECK(st2 != LLMGW_SCAN_BLOCKED, "redaction produced blocked text (%s)", s2.rule);
        check_tree(root, again);
        json_decref(again);
    }
    json_decref(root);
    free(body);
    fuzz_arena_free(&ar);
    return 0;
}
