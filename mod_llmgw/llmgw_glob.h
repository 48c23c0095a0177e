/* llmgw_glob.h — glob matching for model and tool patterns (LLMGWAllowModels,
 * LLMGWAllowTools, LLMGWPrice): '*', '?', '[...]' classes, case-sensitive, plus the
 * literal-character count used to rank overlapping patterns.
 * Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_GLOB_H
#define LLMGW_GLOB_H

#include <stddef.h>

/* 1 when s matches pattern as a whole, else 0.
 *   '*'      any run of characters, including none and including '/'
 *   '?'      exactly one character
 *   '[abc]'  one character of the set; ranges 'a-z'; '[!...]' or '[^...]' negates;
 *            a ']' right after '[' (or '[!') is a member. A '[' without a closing
 *            ']' is an ordinary character.
 *   '\x'     the character x itself (escapes a wildcard)
 * Iterative, O(len(pattern) * len(s)) at worst: never exponential. */
int llmgw_glob_match(const char *pattern, const char *s);

/* Number of characters of pattern that must match literally: wildcards ('*', '?')
 * and bracket classes count 0, an escaped character counts 1. */
size_t llmgw_glob_literals(const char *pattern);

#endif
