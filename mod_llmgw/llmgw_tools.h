/* llmgw_tools.h — the tools a request declares to the model, in each provider's shape,
 * and removing the ones a caller may not use (LLMGWAllowTools, LLMGWToolPolicy).
 * Part of the httpd-free core library (libllmgw).
 *
 * Tool names, per provider type:
 *   OpenAI wire (openai, azure, openai-compatible)
 *     Chat Completions  tools[].function.name, legacy functions[].name,
 *                       custom tools tools[].custom.name
 *     Responses         tools[].name for function and custom tools; built-in tools
 *                       (web_search_preview, file_search, code_interpreter, mcp, ...)
 *                       by their type
 *   Anthropic           tools[].name (client and server tools alike); type if unnamed
 *   Gemini              tools[].functionDeclarations[].name; built-in tools by their
 *                       field name in camelCase (googleSearch, codeExecution, urlContext,
 *                       ...), snake_case spellings (function_declarations, google_search)
 *                       included, since the API accepts both
 * A tool entry that carries no name at all is called "(unnamed)". */
#ifndef LLMGW_TOOLS_H
#define LLMGW_TOOLS_H

#include <jansson.h>
#include <stddef.h>

#include "llmgw_policy.h"
#include "llmgw_provider.h"

/* Copies up to max declared tool names, in request order, into names (pointers into
 * root or static strings, valid while root is unchanged). Returns the total count. */
size_t llmgw_tools_names(llmgw_ptype t, const json_t *root, const char **names, size_t max);

/* The first declared tool the caller may not use, or NULL when all are allowed. */
const char *llmgw_tools_denied(llmgw_ptype t, const json_t *root, const llmgw_allow_list *l,
                               const llmgw_subject *id);

/* Removes every declared tool the caller may not use, together with what would make
 * the provider reject the rest of the request: a tool_choice / function_call /
 * allowedFunctionNames naming a removed tool, and the tools array itself (with
 * tool_choice, parallel_tool_calls, toolConfig) once it is empty. Returns the number of
 * tools removed. */
int llmgw_tools_strip(llmgw_ptype t, json_t *root, const llmgw_allow_list *l,
                      const llmgw_subject *id);

#endif
