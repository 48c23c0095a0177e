/* llmgw_request.h — what the gateway needs to know about a client's request: the model
 * (from the JSON body, or the URL for Gemini and Azure), whether it streams, whether it
 * asked for stream usage; and the one rewrite the usage pipeline needs (asking OpenAI for
 * the usage chunk). Part of the core library. */
#ifndef LLMGW_REQUEST_H
#define LLMGW_REQUEST_H

#include <jansson.h>
#include <stddef.h>

#include "llmgw_json_scan.h"
#include "llmgw_keyfile.h"
#include "llmgw_provider.h"

#define LLMGW_MAX_JSON_DEPTH 64
#define LLMGW_MODEL_MAX 256

typedef struct {
    char model[LLMGW_MODEL_MAX];     /* "" when unknown */
    int stream;                      /* the response will be an event stream */
    int include_usage;               /* OpenAI: the client asked for the usage chunk */
    int has_stream_options;
} llmgw_reqinfo;

/* Parses a JSON request body with a depth limit. NULL with err set when it is not a
 * JSON object (the caller answers 400). The caller owns the result (json_decref). */
json_t *llmgw_request_parse(const char *body, size_t len, char *err, size_t errcap);

/* Fills info from the parsed body and the path below the route prefix
 * ("/chat/completions", "/v1beta/models/gemini-pro:streamGenerateContent", ...). */
void llmgw_request_info(llmgw_ptype t, const json_t *root, const char *path,
                        const char *query, llmgw_reqinfo *info);

/* The root members llmgw_request_info reads, in this order, for llmgw_json_scan. */
#define LLMGW_REQUEST_MEMBERS {"model", "stream", "stream_options"}
enum { LLMGW_RM_MODEL, LLMGW_RM_STREAM, LLMGW_RM_STREAM_OPTIONS, LLMGW_RM_N };

/* llmgw_request_info from the text of a body that llmgw_json_scan judged VALID, given
 * the spans it found for LLMGW_REQUEST_MEMBERS: no tree needed for the usual body.
 * 0 when info is filled; -1 when only a tree can tell (an escaped model name, or a
 * stream_options to look into): the caller then asks llmgw_request_info. */
int llmgw_request_info_text(llmgw_ptype t, const char *body, const llmgw_json_span *sp,
                            const char *path, llmgw_reqinfo *info);

/* For an OpenAI-wire streaming chat request whose client did not ask for usage, returns
 * a body that does (allocated from a), else NULL. */
char *llmgw_request_add_include_usage(const char *body, size_t len, json_t *root,
                                      const llmgw_alloc *a, size_t *out_len);

/* The endpoint name recorded for a path: "chat/completions", "responses", "messages",
 * "generateContent", "streamGenerateContent", "embeddings", "models", ... */
void llmgw_request_endpoint(llmgw_ptype t, const char *path, char *buf, size_t cap);

#endif
