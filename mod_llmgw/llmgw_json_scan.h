/* llmgw_json_scan.h — judging a JSON text without building it, and building only the
 * parts that are needed. Usage accounting reads three or four members of a response
 * body of hundreds of bytes to megabytes; a full jansson tree of it costs about ten
 * microseconds per kilobyte on the request path. The scanner checks the whole text
 * exactly as the core's jansson calls do (json_loadb with flags 0), finds where the
 * wanted root members are, and the builder makes jansson values of just those.
 * Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_JSON_SCAN_H
#define LLMGW_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Bytes [off, off + len) of the text hold a member's value, without the whitespace
 * around it; len 0: no such member. */
typedef struct {
    size_t off, len;
} llmgw_json_span;

typedef enum {
    LLMGW_JSON_INVALID = 0,     /* json_loadb(s, n, 0) fails, or nesting exceeds max */
    LLMGW_JSON_VALID = 1,       /* json_loadb(s, n, 0) succeeds; spans are filled */
    LLMGW_JSON_UNDECIDED = 2    /* well-formed, but holds something only jansson can
                                   judge or name: an integer of 19+ digits, a real that
                                   may overflow a double, an escaped root member name */
} llmgw_json_verdict;

/* Scans [s, s + n): an object or array root, RFC 8259 grammar, UTF-8, escapes and
 * surrogate pairs as jansson checks them, no NUL, nothing after the value, arrays
 * and objects nested at most max_depth deep. When the root is an object, spans[i]
 * is set for the root member named names[i] (the last one when a name repeats, as
 * jansson keeps the last); at most LLMGW_JSON_PATHS_MAX names (more: UNDECIDED).
 * Iterative: hostile nesting costs no stack. */
llmgw_json_verdict llmgw_json_scan(const char *s, size_t n, int max_depth,
                                   const char *const *names, size_t nnames,
                                   llmgw_json_span *spans);

/* llmgw_json_scan with flags. LLMGW_JSON_UNIQUE_KEYS: the verdict is the one of
 * json_loadb(s, n, JSON_REJECT_DUPLICATES) — a name repeated within one object, at any
 * depth, is INVALID; a text with an object of many members (or nested very deep, or
 * with escaped names) is UNDECIDED. */
#define LLMGW_JSON_UNIQUE_KEYS 1u
llmgw_json_verdict llmgw_json_scan_flags(const char *s, size_t n, int max_depth,
                                         unsigned flags, const char *const *names,
                                         size_t nnames, llmgw_json_span *spans);

/* A member wanted below the root: its name (len 0: measured with strlen), and the
 * index of the wanted member whose object value holds it (LLMGW_JSON_ROOT: the root
 * object). A path comes after its parent; paths reach LLMGW_JSON_PATH_DEPTH levels
 * (root members are level 1), and one scan takes up to LLMGW_JSON_PATHS_MAX of them
 * (or of names). */
#define LLMGW_JSON_ROOT (-1)
#define LLMGW_JSON_PATH_DEPTH 4
#define LLMGW_JSON_PATHS_MAX 64
typedef struct {
    const char *name;
    size_t len;
    int parent;
} llmgw_json_path;

#define LLMGW_JSON_PATH(lit, parent) {"" lit, sizeof(lit) - 1, (parent)}

/* Paths prepared once for every scan that wants them (names measured, and found by a
 * small hash of parent, length and end bytes). Read-only after llmgw_json_paths_init,
 * which returns -1 for more than LLMGW_JSON_PATHS_MAX paths or a parent that does not
 * come before its child. */
#define LLMGW_JSON_PATH_SLOTS 128
typedef struct {
    struct llmgw_json_want {
        const char *name;
        size_t len;
        int parent, has_children;
        int next;                           /* the next path in the same slot, or -1 */
    } w[LLMGW_JSON_PATHS_MAX];
    int8_t slot[LLMGW_JSON_PATH_SLOTS];     /* the first path of each hash, or -1 */
    size_t n;
    uint64_t len_bits;
} llmgw_json_paths;

int llmgw_json_paths_init(llmgw_json_paths *ps, const llmgw_json_path *paths, size_t n);

/* llmgw_json_scan_flags finding members at any of those levels: spans[i] is the value
 * of path i in the value of its parent, when that is an object (the last one when a
 * name repeats; a repeated parent's earlier members are forgotten, as jansson keeps the
 * last). A member with an escaped name in an object a path looks into makes the text
 * UNDECIDED. Usage accounting reads numbers two and three levels down in every
 * response body; finding them here saves walking those objects again. */
llmgw_json_verdict llmgw_json_scan_paths(const char *s, size_t n, int max_depth,
                                         unsigned flags, const llmgw_json_paths *ps,
                                         llmgw_json_span *spans);

/* The jansson value of a span that llmgw_json_scan judged part of a VALID text
 * (json_equal to json_loadb(s, n, JSON_DECODE_ANY | flags)). flags: 0 or
 * JSON_REJECT_DUPLICATES. NULL when out of memory or a key repeats under
 * JSON_REJECT_DUPLICATES: a caller wanting jansson's error text then asks json_loadb.
 * Recurses once per nesting level, which the scan bounded. */
json_t *llmgw_json_build(const char *s, size_t n, size_t flags);

#endif
