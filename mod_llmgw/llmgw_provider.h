/* llmgw_provider.h — provider types and what differs between them on the wire:
 * how each wants its credential and how each formats an error body.
 * Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_PROVIDER_H
#define LLMGW_PROVIDER_H

#include <stddef.h>

typedef enum {
    LLMGW_PT_OPENAI = 0,
    LLMGW_PT_ANTHROPIC,
    LLMGW_PT_GEMINI,
    LLMGW_PT_AZURE,
    LLMGW_PT_OPENAI_COMPAT,
    LLMGW_PT_HTTP,
    LLMGW_PT_COUNT
} llmgw_ptype;

/* "openai", "anthropic", "gemini", "azure", "openai-compatible", "http" → type; -1 if unknown. */
int llmgw_ptype_parse(const char *name);
const char *llmgw_ptype_name(llmgw_ptype t);

/* True for the types that speak OpenAI's wire format (usage, errors, streams). */
int llmgw_ptype_is_openai_wire(llmgw_ptype t);

/* Header the provider expects its key in, and the value prefix ("Bearer " or ""). */
const char *llmgw_ptype_key_header(llmgw_ptype t);
const char *llmgw_ptype_key_prefix(llmgw_ptype t);

/* Writes the provider's own error body for an HTTP status and a message into buf
 * (always NUL-terminated, truncated to cap). The message is JSON-escaped here.
 * Returns the body length. */
size_t llmgw_error_body(llmgw_ptype t, int status, const char *message,
                        char *buf, size_t cap);

#endif
