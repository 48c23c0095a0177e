/* scan_paths_check.h — llmgw_json_scan_paths against jansson, for test_json_scan (on
 * samples and their mutations) and fuzz_json_scan (on anything): the verdict is the
 * flat scan's (or UNDECIDED, for an escaped name where a path looks), and for a VALID
 * text every path's span is the value jansson's tree holds there — absent exactly when
 * some level of the path is missing or not an object. Paths three and four levels deep,
 * repeated names at every level and an empty name are in the set. Single-threaded. */
#ifndef SCAN_PATHS_CHECK_H
#define SCAN_PATHS_CHECK_H

#include <jansson.h>
#include <string.h>

#include "llmgw_json_scan.h"

#define CP LLMGW_JSON_PATH
static const llmgw_json_path CHECK_PATHS[] = {
    CP("usage", LLMGW_JSON_ROOT), CP("model", LLMGW_JSON_ROOT), CP("a", LLMGW_JSON_ROOT),
    CP("prompt_tokens", 0), CP("details", 0), CP("cached", 4), CP("a", 2), CP("a", 6),
    CP("a", 7), CP("b", 7), CP("response", LLMGW_JSON_ROOT), CP("usage", 10),
    CP("prompt_tokens", 11), CP("", LLMGW_JSON_ROOT), CP("b", 2), CP("", 14)};
#undef CP
#define NCHECK_PATHS (sizeof CHECK_PATHS / sizeof CHECK_PATHS[0])

/* NULL when the path scan agrees with jansson on [s, s + n), else what differs. */
static const char *scan_paths_disagree(const char *s, size_t n, int max_depth)
{
    static llmgw_json_paths ps;
    static int ready;
    llmgw_json_span sp[NCHECK_PATHS];
    json_t *at[NCHECK_PATHS];
    json_error_t err;
    if (!ready && llmgw_json_paths_init(&ps, CHECK_PATHS, NCHECK_PATHS) == 0)
        ready = 1;
    if (!ready)
        return "the paths do not prepare";
    llmgw_json_verdict v = llmgw_json_scan_paths(s, n, max_depth, 0, &ps, sp);
    llmgw_json_verdict flat = llmgw_json_scan(s, n, max_depth, NULL, 0, NULL);
    if (v != flat && !(v == LLMGW_JSON_UNDECIDED && flat == LLMGW_JSON_VALID))
        return "the verdict is not the flat scan's";
    if (v != LLMGW_JSON_VALID)
        return NULL;
    json_t *root = json_loadb(s, n, 0, &err);
    if (!root)
        return "VALID, but jansson refuses it";
    const char *why = NULL;
    for (size_t i = 0; i < NCHECK_PATHS && !why; i++) {
        const llmgw_json_path *p = &CHECK_PATHS[i];
        json_t *parent = p->parent < 0 ? root : at[p->parent];
        at[i] = json_is_object(parent) ? json_object_getn(parent, p->name, p->len) : NULL;
        if (!at[i]) {
            if (sp[i].len)
                why = "a span for a member jansson does not have there";
            continue;
        }
        if (!sp[i].len || sp[i].off + sp[i].len > n) {
            why = "no span for a member jansson has";
            continue;
        }
        json_t *got = llmgw_json_build(s + sp[i].off, sp[i].len, 0);
        if (!got || !json_equal(got, at[i]))
            why = "a span that is not jansson's value";
        json_decref(got);
    }
    json_decref(root);
    return why;
}

#endif
