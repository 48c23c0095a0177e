/* unit_json.h — JSON helpers shared by the cmocka tests: load a literal, compare a tree
 * with an expected text (key order ignored). Include after <cmocka.h> and <jansson.h>. */
#ifndef UNIT_JSON_H
#define UNIT_JSON_H

#include <stdlib.h>

static inline json_t *load(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

static inline void assert_json(json_t *j, const char *expect)
{
    json_t *e = load(expect);
    char *a = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    char *b = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(e);
}

#endif
