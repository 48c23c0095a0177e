/* fuzz_json_scan.c — the hot-path JSON scanner (llmgw_json_scan) against jansson, which
 * it must agree with (it decides, for usage accounting, whether a provider body is JSON
 * and where its members are, instead of a full json_loadb).
 *
 * Input: [max depth] text. Differential invariants against json_loadb(text, 0):
 *  - VALID: jansson parses it too, every span is the value jansson holds under that
 *    root member (llmgw_json_build of the span is json_equal to it; with
 *    JSON_REJECT_DUPLICATES it fails exactly when jansson's does), absent members have
 *    no span;
 *  - INVALID: jansson refuses it, or it nests deeper than max depth, or it holds a NUL
 *    byte (jansson steps over a NUL after a literal or number; the scanner leaves
 *    that UNDECIDED, or refuses a NUL elsewhere);
 *  - UNDECIDED: the caller falls back to jansson, so any verdict of jansson is fine.
 * With LLMGW_JSON_UNIQUE_KEYS the same against json_loadb(text, JSON_REJECT_DUPLICATES),
 * and never VALID where the plain scan is not. llmgw_json_scan_paths: see
 * scan_paths_check.h. */
#include "fuzz_common.h"

#include <jansson.h>

#include "llmgw_json.h"
#include "llmgw_json_scan.h"
#include "scan_paths_check.h"

static const char *const names[] = {"usage", "model", "id", "choices", "response",
                                    "usageMetadata", "type", "message", "a", ""};
#define NNAMES (sizeof names / sizeof names[0])

static int depth_of(const json_t *j)
{
    int d = 0;
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v) {
            int c = depth_of(v);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            int c = depth_of(v);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    int max = 1 + (int)(fuzz_byte(&in) % 80);
    char *s = fuzz_dup_exact(in.p, in.n);
    size_t n = in.n;
    llmgw_json_span spans[NNAMES];
    memset(spans, 0xA5, sizeof spans);
    llmgw_json_verdict v = llmgw_json_scan(s, n, max, names, NNAMES, spans);
    json_error_t je;
    json_t *root = json_loadb(s, n, 0, &je);
    int has_nul = memchr(s, '\0', n) != NULL;

    if (v == LLMGW_JSON_VALID) {
        FUZZ_CHECK(root != NULL, "scanner VALID, jansson: %s", je.text);
        FUZZ_CHECK(!has_nul, "VALID with a NUL byte");
        FUZZ_CHECK(depth_of(root) <= max, "VALID at depth %d > %d", depth_of(root), max);
        if (json_is_object(root)) {
            for (size_t i = 0; i < NNAMES; i++) {
                json_t *want = json_object_get(root, names[i]);
                if (!want) {
                    FUZZ_CHECK(spans[i].len == 0, "span for absent member '%s'", names[i]);
                    continue;
                }
                FUZZ_CHECK(spans[i].len > 0 && spans[i].off + spans[i].len <= n,
                           "no span for member '%s'", names[i]);
                json_t *got = llmgw_json_build(s + spans[i].off, spans[i].len, 0);
                FUZZ_CHECK(got && json_equal(got, want), "member '%s' differs from jansson's",
                           names[i]);
                json_decref(got);
                /* with JSON_REJECT_DUPLICATES: NULL exactly when jansson refuses too */
                got = llmgw_json_build(s + spans[i].off, spans[i].len, JSON_REJECT_DUPLICATES);
                json_t *ref = json_loadb(s + spans[i].off, spans[i].len,
                                         JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
                FUZZ_CHECK(!got == !ref && (!got || json_equal(got, ref)),
                           "member '%s' under JSON_REJECT_DUPLICATES: build %s, jansson %s",
                           names[i], got ? "value" : "NULL", ref ? "value" : "NULL");
                json_decref(got);
                json_decref(ref);
            }
        }
    } else if (v == LLMGW_JSON_INVALID) {
        /* the text's own depth, not that of jansson's tree: of a repeated name jansson
         * keeps the last value, and a deeper earlier one leaves no trace there */
        FUZZ_CHECK(!root || has_nul || !llmgw_json_depth_ok(s, n, max),
                   "scanner INVALID, jansson parses it (tree depth %d, max %d)",
                   root ? depth_of(root) : -1, max);
    } else {
        FUZZ_CHECK(v == LLMGW_JSON_UNDECIDED, "verdict %d", (int)v);
    }
    const char *paths = scan_paths_disagree(s, n, max);
    FUZZ_CHECK(!paths, "paths: %s", paths);
    llmgw_json_verdict vu = llmgw_json_scan_flags(s, n, max, LLMGW_JSON_UNIQUE_KEYS, NULL, 0,
                                                  NULL);
    json_t *uroot = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    if (vu == LLMGW_JSON_VALID) {
        FUZZ_CHECK(v == LLMGW_JSON_VALID, "unique scan VALID, plain scan %d", (int)v);
        FUZZ_CHECK(uroot != NULL, "unique scan VALID, jansson: %s", je.text);
    } else if (vu == LLMGW_JSON_INVALID) {
        FUZZ_CHECK(!uroot || has_nul || !llmgw_json_depth_ok(s, n, max),
                   "unique scan INVALID, jansson parses it with JSON_REJECT_DUPLICATES");
    }
    json_decref(uroot);
    json_decref(root);
    free(s);
    return 0;
}
