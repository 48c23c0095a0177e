/* llmgw_json_view.h — read-only views of values inside JSON text that llmgw_json_scan
 * already judged valid: member lookup, type tests, array iteration, token counts and
 * bounded string copies, with no tree, no allocation and no re-validation. Usage
 * accounting reads a handful of values from every response body; building jansson
 * trees of them cost more than scanning the whole body.
 * A view never reads outside its span, even when handed text that is not valid JSON
 * (the answers are then meaningless, but bounded). Part of libllmgw. */
#ifndef LLMGW_JSON_VIEW_H
#define LLMGW_JSON_VIEW_H

#include <stddef.h>
#include <stdint.h>

/* Bytes [p, p + n) hold one JSON value, without surrounding whitespace; n == 0: absent
 * (a missing member, or a lookup in something that is not an object). */
typedef struct {
    const char *p;
    size_t n;
} llmgw_json_view;

typedef enum {
    LLMGW_VIEW_ABSENT = 0,
    LLMGW_VIEW_OBJECT,
    LLMGW_VIEW_ARRAY,
    LLMGW_VIEW_STRING,
    LLMGW_VIEW_NUMBER,
    LLMGW_VIEW_TRUE,
    LLMGW_VIEW_FALSE,
    LLMGW_VIEW_NULL
} llmgw_view_type;

/* The view of a whole text: [s, s + n) with leading and trailing whitespace trimmed. */
llmgw_json_view llmgw_view_of(const char *s, size_t n);

/* The view of a member span the scanner reported (len 0: absent; the scanner's spans
 * may end in whitespace, which is trimmed). */
llmgw_json_view llmgw_view_at(const char *s, size_t off, size_t len);

llmgw_view_type llmgw_view_type_of(llmgw_json_view v);

static inline int llmgw_view_present(llmgw_json_view v)
{
    return v.n != 0;
}

static inline int llmgw_view_is(llmgw_json_view v, llmgw_view_type t)
{
    return llmgw_view_type_of(v) == t;
}

/* A member name to look up: plain bytes and their length, measured at compile time
 * (LLMGW_VIEW_NAME("usage")) since lookups run for every response on the request path. */
typedef struct {
    const char *s;
    size_t n;
} llmgw_view_name;

#define LLMGW_VIEW_NAME(lit) {"" lit, sizeof(lit) - 1}

/* Looks up k distinct names in an object in one pass: out[i] is the value of the
 * member named names[i] (decoded names compare, so "a\u0062" is "ab"; the last
 * occurrence wins, as jansson keeps the last), or absent. Not an object: every out[i]
 * absent. */
void llmgw_view_members(llmgw_json_view obj, const llmgw_view_name *names, size_t k,
                        llmgw_json_view *out);

/* One member; absent when missing or obj is not an object. */
llmgw_json_view llmgw_view_get(llmgw_json_view obj, llmgw_view_name name);

/* Array iteration: for (it = llmgw_view_items(a); llmgw_view_next(&it, &item);) … An
 * iterator of something that is not an array yields nothing. */
typedef struct {
    const char *p, *end;
} llmgw_view_iter;

llmgw_view_iter llmgw_view_items(llmgw_json_view arr);
int llmgw_view_next(llmgw_view_iter *it, llmgw_json_view *item);

/* llmgw_view_next, and when the item is an object, llmgw_view_members of it in the same
 * pass (out all absent for other items): each object of an array read once. */
int llmgw_view_next_members(llmgw_view_iter *it, llmgw_json_view *item,
                            const llmgw_view_name *names, size_t k, llmgw_json_view *out);

/* Largest clamp llmgw_view_count supports exactly (2^50, above LLMGW_TOKENS_MAX). */
#define LLMGW_VIEW_COUNT_MAX ((int64_t)1 << 50)

/* A count read from a number: 1 and *out set when v is a number, 0 (out untouched)
 * otherwise. Integers as written; reals (12.0, 1.2e1) as (int64_t) of the double the C
 * library's strtod would give (correctly rounded, then truncated), computed by hand so
 * the locale cannot matter. Negative → 0, clamped to max (at most LLMGW_VIEW_COUNT_MAX). */
int llmgw_view_count(llmgw_json_view v, int64_t max, int64_t *out);

/* An integer exactly as jansson reads one (strtoll of a number without fraction or
 * exponent), for callers that must refuse what a count would clamp: 1 and *out set when
 * v is such a number within int64_t; 0 (out untouched) when v is anything else, a real
 * included; -1 when it is an integer beyond int64_t, which json_loadb refuses. */
int llmgw_view_integer(llmgw_json_view v, int64_t *out);

/* Copies a string's decoded value (escapes and surrogate pairs → UTF-8) into dst of cap
 * bytes (cap >= 1), NUL-terminated, cut at cap - 1 bytes (mid-character if need be) and
 * at a decoded U+0000. Returns 1; 0 with dst untouched when v is not a string. */
int llmgw_view_copy_string(llmgw_json_view v, char *dst, size_t cap);

/* 1 when v is a string whose decoded value is exactly lit. */
int llmgw_view_string_is(llmgw_json_view v, const char *lit);

#endif
