/* llmgw_request.c — reading a client's request: model, streaming, endpoint; and
 * turning on OpenAI's stream usage chunk without disturbing the rest of the body. */
#include "llmgw_request.h"
#include "llmgw_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *llmgw_request_parse(const char *body, size_t len, char *err, size_t errcap)
{
    json_error_t je;
    /* jansson 2.14 steps over a NUL byte that follows a literal or a number
     * ('{"stream":true\0,...}' parses), so the gateway would accept and forward a body
     * no other parser accepts; valid JSON never holds a raw NUL (found by fuzz_request) */
    const char *nul = memchr(body, '\0', len);
    if (nul) {
        snprintf(err, errcap, "malformed JSON: NUL byte at offset %zu", (size_t)(nul - body));
        return NULL;
    }
    if (!llmgw_json_depth_ok(body, len, LLMGW_MAX_JSON_DEPTH)) {
        snprintf(err, errcap, "JSON nesting deeper than %d", LLMGW_MAX_JSON_DEPTH);
        return NULL;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errcap, "malformed JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(err, errcap, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

static void copy_str(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Gemini: ".../models/{model}:{method}" → model; Azure: ".../deployments/{d}/..." → d. */
static void model_from_path(llmgw_ptype t, const char *path, llmgw_reqinfo *info)
{
    const char *key = t == LLMGW_PT_GEMINI ? "/models/" : "/deployments/";
    const char *p = strstr(path, key);
    if (!p)
        return;
    p += strlen(key);
    size_t n = strcspn(p, t == LLMGW_PT_GEMINI ? ":/" : "/");
    if (n)
        copy_str(info->model, sizeof info->model, p, n);
}

/* What the path tells (Gemini and Azure name the model there); 1 when that is all. */
static int info_from_path(llmgw_ptype t, const char *path, llmgw_reqinfo *info)
{
    memset(info, 0, sizeof *info);
    if (t == LLMGW_PT_GEMINI || t == LLMGW_PT_AZURE)
        model_from_path(t, path, info);
    if (t == LLMGW_PT_GEMINI) {
        info->stream = strstr(path, ":streamGenerateContent") != NULL;
        return 1;
    }
    return 0;
}

int llmgw_request_info_text(llmgw_ptype t, const char *body, const llmgw_json_span *sp,
                            const char *path, llmgw_reqinfo *info)
{
    const llmgw_json_span *m = &sp[LLMGW_RM_MODEL], *st = &sp[LLMGW_RM_STREAM];
    const char *mv = body + m->off;
    if (sp[LLMGW_RM_STREAM_OPTIONS].len)
        return -1;                  /* include_usage is inside it */
    if (m->len >= 2 && mv[0] == '"' && memchr(mv, '\\', m->len))
        return -1;                  /* escapes: jansson decodes them */
    if (info_from_path(t, path, info))
        return 0;
    /* a validated string token without escapes: its bytes are its value */
    if (m->len >= 2 && mv[0] == '"' && !info->model[0])
        copy_str(info->model, sizeof info->model, mv + 1, m->len - 2);
    info->stream = st->len == 4 && !memcmp(body + st->off, "true", 4);
    return 0;
}

void llmgw_request_info(llmgw_ptype t, const json_t *root, const char *path,
                        const char *query, llmgw_reqinfo *info)
{
    if (info_from_path(t, path, info) || !root)
        return;
    const json_t *m = json_object_get(root, "model");
    if (json_is_string(m) && !info->model[0])
        copy_str(info->model, sizeof info->model, json_string_value(m), json_string_length(m));
    info->stream = json_is_true(json_object_get(root, "stream"));
    const json_t *so = json_object_get(root, "stream_options");
    info->has_stream_options = so != NULL;
    info->include_usage = json_is_true(json_object_get(so, "include_usage"));
    (void)query;
}

static int is_chat_path(const char *path)
{
    size_t n = strlen(path), k = strlen("/chat/completions");
    return n >= k && strcmp(path + n - k, "/chat/completions") == 0;
}

char *llmgw_request_add_include_usage(const char *body, size_t len, json_t *root,
                                      const llmgw_alloc *a, size_t *out_len)
{
    static const char ins[] = "\"stream_options\":{\"include_usage\":true},";
    const json_t *so = json_object_get(root, "stream_options");
    if (!json_is_true(json_object_get(root, "stream")) ||
        json_is_true(json_object_get(so, "include_usage")))
        return NULL;
    if (!so) {
        /* splice after the opening brace: the client's bytes stay as they were */
        const char *brace = memchr(body, '{', len);
        if (!brace)
            return NULL;
        size_t pre = (size_t)(brace - body) + 1, k = sizeof ins - 1;
        int empty = json_object_size(root) == 0;
        char *out = a->fn(a->ctx, len + k + 1);
        if (!out)
            return NULL;
        memcpy(out, body, pre);
        memcpy(out + pre, ins, k - (empty ? 1 : 0));
        memcpy(out + pre + k - (empty ? 1 : 0), body + pre, len - pre);
        *out_len = len + k - (empty ? 1 : 0);
        out[*out_len] = '\0';
        return out;
    }
    if (json_is_null(so))
        json_object_set_new(root, "stream_options", json_pack("{s:b}", "include_usage", 1));
    else if (json_is_object(so))
        json_object_set_new((json_t *)so, "include_usage", json_true());
    else
        return NULL;
    char *dumped = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!dumped)
        return NULL;
    size_t n = strlen(dumped);
    char *out = a->fn(a->ctx, n + 1);
    if (out) {
        memcpy(out, dumped, n + 1);
        *out_len = n;
    }
    free(dumped);
    return out;
}

void llmgw_request_endpoint(llmgw_ptype t, const char *path, char *buf, size_t cap)
{
    const char *p = path;
    if (t == LLMGW_PT_GEMINI) {
        const char *colon = strrchr(path, ':');
        if (colon && !strchr(colon, '/')) {
            copy_str(buf, cap, colon + 1, strcspn(colon + 1, "?"));
            return;
        }
    }
    if (t == LLMGW_PT_AZURE) {
        const char *d = strstr(path, "/deployments/");
        if (d && (d = strchr(d + 13, '/')))
            p = d;
    }
    /* drop the version segment ("/v1", "/v1beta") so endpoints compare across providers */
    while (*p == '/')
        p++;
    if (p[0] == 'v' && p[1] >= '0' && p[1] <= '9') {
        const char *s = strchr(p, '/');
        p = s ? s + 1 : p + strlen(p);
    }
    if (is_chat_path(path) && t != LLMGW_PT_HTTP)
        p = "chat/completions";
    copy_str(buf, cap, p, strcspn(p, "?"));
}
