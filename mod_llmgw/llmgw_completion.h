/* llmgw_completion.h — the assistant's text in a response, for LLMGWAuditBodies: from
 * a whole JSON answer or from stream events as they pass, appended to a bounded buffer
 * the caller owns. Part of the core library. */
#ifndef LLMGW_COMPLETION_H
#define LLMGW_COMPLETION_H

#include <stddef.h>

#include "llmgw_provider.h"

typedef struct {
    char *buf;          /* always NUL-terminated */
    size_t len, cap;
    int truncated;      /* text beyond cap - 1 bytes was dropped */
} llmgw_text;

void llmgw_text_init(llmgw_text *t, char *buf, size_t cap);
void llmgw_text_append(llmgw_text *t, const char *s, size_t n);

/* Appends the text parts of a non-streamed answer. Returns -1 when it is not JSON. */
int llmgw_completion_from_json(llmgw_ptype t, const char *body, size_t len, llmgw_text *out);

/* Appends the text delta carried by one stream event, if any. */
void llmgw_completion_from_event(llmgw_ptype t, const char *event, size_t elen,
                                 const char *data, size_t dlen, llmgw_text *out);

#endif
