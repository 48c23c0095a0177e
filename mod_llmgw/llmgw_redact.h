/* llmgw_redact.h — content rules (LLMGWRedact, LLMGWBlock) over every text a model
 * will read. Patterns are PCRE2, compiled once (JIT where the platform has it) with a
 * match limit, a depth limit and a heap limit, so no pattern and no input can hold a
 * worker for long; a pattern that hits a limit fails the scan (the caller refuses the
 * request) rather than letting unscanned text through.
 * Part of the httpd-free core library (libllmgw).
 *
 * Texts scanned, per provider type:
 *   OpenAI wire  messages[].content (string, or the text of each part), Responses
 *                `input` (string, strings, or items: their content and text parts,
 *                function_call_output `output`) and `instructions`, embeddings `input`,
 *                legacy `prompt`
 *   Anthropic    `system` (string or text blocks), messages[].content (string or
 *                blocks: text, tool_result content — string or blocks — at any depth,
 *                plain-text and content document sources)
 *   Gemini       contents[].parts[].text, systemInstruction (system_instruction)
 *                parts, embedContent `content`, batchEmbedContents requests[].content,
 *                countTokens generateContentRequest
 * Images, audio, files, tool calls and everything else are left as they are. */
#ifndef LLMGW_REDACT_H
#define LLMGW_REDACT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "llmgw_json_scan.h" /* llmgw_json_span */
#include "llmgw_keyfile.h"    /* llmgw_alloc */
#include "llmgw_provider.h"

/* Limits. Per start position of a match: steps, backtracking depth, heap (KiB). Per
 * scan (one request): 50 ms plus 100 ns per byte per pattern of the thread's CPU time,
 * i.e. every pattern may run at 10 MB/s, a tenth of what a plain pattern manages with
 * JIT. */
#define LLMGW_RX_MATCH_LIMIT          100000u
#define LLMGW_RX_DEPTH_LIMIT          10000u
#define LLMGW_RX_HEAP_LIMIT_KB        4096u
#define LLMGW_SCAN_BUDGET_BASE_NS     50000000ull
#define LLMGW_SCAN_BUDGET_NS_PER_BYTE 100ull
#define LLMGW_RULE_NAME_MAX    64

typedef struct llmgw_rx llmgw_rx;

/* Compiles one pattern (UTF-8, case-sensitive unless the pattern says (?i)). Returns
 * NULL and writes "why at offset N" to err when it does not compile. The result is
 * owned by the caller: llmgw_rx_free. */
llmgw_rx *llmgw_rx_compile(const char *pattern, char *err, size_t errcap);
void llmgw_rx_free(llmgw_rx *rx);
int llmgw_rx_is_jit(const llmgw_rx *rx);

/* A rule name is what `[REDACTED:name]`, refusals and audit records show: 1 to
 * LLMGW_RULE_NAME_MAX of [A-Za-z0-9_.-]. */
int llmgw_rule_name_ok(const char *name);

/* One LLMGWRedact or LLMGWBlock line: a name and its patterns. */
typedef struct {
    const char *name;
    llmgw_rx *const *rx;
    int nrx;
} llmgw_content_rule;

typedef struct {
    const llmgw_content_rule *redact;
    size_t nredact;
    const llmgw_content_rule *block;
    size_t nblock;
} llmgw_content_rules;

typedef enum {
    LLMGW_SCAN_OK = 0,
    LLMGW_SCAN_BLOCKED,      /* a block pattern matched: rule names it */
    LLMGW_SCAN_FAILED,       /* a pattern hit a limit or the text was not UTF-8: rule,
                              * error (a PCRE2 code) say which; or out of memory */
} llmgw_scan_status;

/* One scan of one request: its scratch memory comes from the allocator (an APR pool
 * in httpd), nothing is allocated elsewhere. */
typedef struct {
    const llmgw_content_rules *rules;
    const llmgw_alloc *alloc;
    int redactions;          /* replacements made so far */
    size_t texts, bytes;     /* texts and bytes scanned */
    const char *rule;        /* BLOCKED, FAILED: the rule concerned (NULL: out of memory) */
    int error;               /* FAILED: the PCRE2 error code, 0 for out of memory */
    void *md_;               /* private: match data */
} llmgw_scan;

void llmgw_scan_init(llmgw_scan *s, const llmgw_content_rules *rules, const llmgw_alloc *a);

/* Scans one text (any UTF-8; invalid UTF-8 fails the scan). *out is text itself when
 * nothing was redacted, else a NUL-terminated copy from the allocator with every match
 * of a redact pattern replaced by `[REDACTED:rule]` (empty matches replace nothing). */
llmgw_scan_status llmgw_scan_text(llmgw_scan *s, const char *text, size_t len,
                                  const char **out, size_t *out_len);

/* Scans every text (the list above) of a request body, [body, body + len): JSON that
 * jansson or llmgw_json_scan accepted, without a \u0000 escape. Stops at the first block
 * or failure. *out is body itself when nothing was redacted, else a NUL-terminated
 * copy from the allocator in which only the redacted string tokens differ. */
llmgw_scan_status llmgw_scan_request(llmgw_scan *s, llmgw_ptype t, const char *body,
                                     size_t len, const char **out, size_t *out_len);

/* The root members the walk above starts from (every provider's), so that the scan
 * which judges a body can find them on its way (llmgw_json_scan's spans). */
#define LLMGW_TEXT_ROOTS                                                                  \
    {"messages", "input", "instructions", "prompt", "system", "contents",                 \
     "systemInstruction", "system_instruction", "content", "requests",                    \
     "generateContentRequest", "generate_content_request"}
enum { LLMGW_TR_MESSAGES, LLMGW_TR_INPUT, LLMGW_TR_INSTRUCTIONS, LLMGW_TR_PROMPT,
       LLMGW_TR_SYSTEM, LLMGW_TR_CONTENTS, LLMGW_TR_SYS_INSTR, LLMGW_TR_SYS_INSTR_S,
       LLMGW_TR_CONTENT, LLMGW_TR_REQUESTS, LLMGW_TR_GCR, LLMGW_TR_GCR_S, LLMGW_TR_N };

/* llmgw_scan_request, given where LLMGW_TEXT_ROOTS are in body (roots[i].len 0:
 * absent), found by a scan that also judged it free of repeated names; the walk then
 * need not look the root members up itself. */
llmgw_scan_status llmgw_scan_request_at(llmgw_scan *s, llmgw_ptype t, const char *body,
                                        size_t len, const llmgw_json_span *roots,
                                        const char **out, size_t *out_len);

/* A PCRE2 error code as text. */
void llmgw_rx_strerror(int code, char *buf, size_t cap);

/* Serialises a (rewritten) request body compactly, into memory from a, NUL-terminated
 * (hint: the expected size, e.g. the original body's). Numbers keep their values exactly
 * (17 significant digits), keys their order. NULL when out of memory. */
char *llmgw_json_dump_alloc(const json_t *root, const llmgw_alloc *a, size_t hint,
                            size_t *len);

#endif
