/* llmgw_provider.c — per-provider wire differences: type names, where the provider
 * wants its key, and the shape of its error bodies (SPEC §6). */
#include "llmgw_provider.h"
#include "llmgw_json.h"

#include <string.h>

static const char *const type_names[LLMGW_PT_COUNT] = {
    "openai", "anthropic", "gemini", "azure", "openai-compatible", "http",
};

int llmgw_ptype_parse(const char *name)
{
    for (int i = 0; i < LLMGW_PT_COUNT; i++)
        if (strcmp(name, type_names[i]) == 0)
            return i;
    return -1;
}

const char *llmgw_ptype_name(llmgw_ptype t)
{
    return (unsigned)t < LLMGW_PT_COUNT ? type_names[t] : "unknown";
}

int llmgw_ptype_is_openai_wire(llmgw_ptype t)
{
    return t == LLMGW_PT_OPENAI || t == LLMGW_PT_AZURE || t == LLMGW_PT_OPENAI_COMPAT;
}

const char *llmgw_ptype_key_header(llmgw_ptype t)
{
    switch (t) {
    case LLMGW_PT_ANTHROPIC: return "x-api-key";
    case LLMGW_PT_GEMINI: return "x-goog-api-key";
    case LLMGW_PT_AZURE: return "api-key";
    default: return "Authorization";
    }
}

const char *llmgw_ptype_key_prefix(llmgw_ptype t)
{
    return strcmp(llmgw_ptype_key_header(t), "Authorization") == 0 ? "Bearer " : "";
}

/* OpenAI's error "type" and "code" for a status, as its SDK maps them. */
static void openai_kind(int status, const char **type, const char **code)
{
    *code = NULL;
    switch (status) {
    case 400: *type = "invalid_request_error"; break;
    case 401: *type = "invalid_request_error"; *code = "invalid_api_key"; break;
    case 403: *type = "permission_error"; *code = "permission_denied"; break;
    case 404: *type = "invalid_request_error"; *code = "not_found"; break;
    case 413: *type = "invalid_request_error"; *code = "request_too_large"; break;
    case 415: *type = "invalid_request_error"; *code = "unsupported_media_type"; break;
    case 429: *type = "rate_limit_exceeded"; *code = "rate_limit_exceeded"; break;
    default: *type = status >= 500 ? "server_error" : "invalid_request_error"; break;
    }
}

static const char *anthropic_kind(int status)
{
    switch (status) {
    case 400: case 415: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

/* Google's canonical status names (google.rpc.Code) for the HTTP statuses we emit. */
static const char *gemini_status(int status)
{
    switch (status) {
    case 400: case 413: case 415: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 429: return "RESOURCE_EXHAUSTED";
    case 501: return "UNIMPLEMENTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

size_t llmgw_error_body(llmgw_ptype t, int status, const char *message,
                        char *buf, size_t cap)
{
    llmgw_sbuf b;
    llmgw_sbuf_init(&b, buf, cap);
    if (t == LLMGW_PT_ANTHROPIC) {
        llmgw_sbuf_printf(&b, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
                          anthropic_kind(status));
        llmgw_sbuf_json_str(&b, message, 1024);
        llmgw_sbuf_puts(&b, "}}");
    } else if (t == LLMGW_PT_GEMINI) {
        llmgw_sbuf_printf(&b, "{\"error\":{\"code\":%d,\"message\":", status);
        llmgw_sbuf_json_str(&b, message, 1024);
        llmgw_sbuf_printf(&b, ",\"status\":\"%s\"}}", gemini_status(status));
    } else {
        const char *type, *code;
        openai_kind(status, &type, &code);
        llmgw_sbuf_puts(&b, "{\"error\":{\"message\":");
        llmgw_sbuf_json_str(&b, message, 1024);
        llmgw_sbuf_printf(&b, ",\"type\":\"%s\",\"param\":null,\"code\":", type);
        llmgw_sbuf_json_str(&b, code, 64);
        llmgw_sbuf_puts(&b, "}}");
    }
    size_t n = llmgw_sbuf_finish(&b);
    if (n == 0 && cap > 2) {
        /* only a tiny cap can get here; an empty object is still valid JSON */
        memcpy(buf, "{}", 3);
        n = 2;
    }
    return n;
}
