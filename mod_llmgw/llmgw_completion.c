/* llmgw_completion.c — assistant text per provider wire format: OpenAI chat
 * (message.content / delta.content), OpenAI Responses (output_text parts /
 * response.output_text.delta), Anthropic (text blocks / text_delta), Gemini
 * (candidates[0].content.parts[].text in every chunk). */
#include "llmgw_completion.h"
#include "llmgw_json.h"

#include <jansson.h>
#include <string.h>

#define COMPLETION_MAX_DEPTH 64

void llmgw_text_init(llmgw_text *t, char *buf, size_t cap)
{
    t->buf = buf;
    t->len = 0;
    t->cap = cap;
    t->truncated = 0;
    if (cap)
        buf[0] = '\0';
}

void llmgw_text_append(llmgw_text *t, const char *s, size_t n)
{
    if (!t->cap)
        return;
    size_t room = t->cap - 1 - t->len;
    if (n > room) {
        n = room;
        t->truncated = 1;
        /* never end inside a UTF-8 sequence */
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void append_str(llmgw_text *out, const json_t *v)
{
    if (json_is_string(v))
        llmgw_text_append(out, json_string_value(v), json_string_length(v));
}

static json_t *load(const char *s, size_t n)
{
    json_error_t err;
    if (!llmgw_json_depth_ok(s, n, COMPLETION_MAX_DEPTH))
        return NULL;
    return json_loadb(s, n, 0, &err);
}

/* Anthropic content blocks and Gemini parts: every element's "text". */
static void append_texts(llmgw_text *out, const json_t *arr)
{
    size_t i;
    const json_t *el;
    json_array_foreach(arr, i, el)
        append_str(out, json_object_get(el, "text"));
}

static void openai_chat(const json_t *root, const char *member, llmgw_text *out)
{
    const json_t *c0 = json_array_get(json_object_get(root, "choices"), 0);
    const json_t *m = json_object_get(c0, member);
    const json_t *content = json_object_get(m, "content");
    if (json_is_array(content))
        append_texts(out, content);
    else
        append_str(out, content);
}

static void responses_output(const json_t *resp, llmgw_text *out)
{
    size_t i;
    const json_t *item;
    json_array_foreach(json_object_get(resp, "output"), i, item) {
        size_t j;
        const json_t *part;
        json_array_foreach(json_object_get(item, "content"), j, part)
            if (!strcmp(json_string_value(json_object_get(part, "type")) ?: "", "output_text"))
                append_str(out, json_object_get(part, "text"));
    }
}

static void gemini_chunk(const json_t *root, llmgw_text *out)
{
    const json_t *c0 = json_array_get(json_object_get(root, "candidates"), 0);
    append_texts(out, json_object_get(json_object_get(c0, "content"), "parts"));
}

int llmgw_completion_from_json(llmgw_ptype t, const char *body, size_t len, llmgw_text *out)
{
    json_t *root = load(body, len);
    if (!root)
        return -1;
    if (t == LLMGW_PT_ANTHROPIC)
        append_texts(out, json_object_get(root, "content"));
    else if (t == LLMGW_PT_GEMINI)
        gemini_chunk(root, out);
    else if (json_object_get(root, "output"))
        responses_output(root, out);
    else
        openai_chat(root, "message", out);
    json_decref(root);
    return 0;
}

static int event_is(const char *event, size_t elen, const char *name)
{
    return elen == strlen(name) && !memcmp(event, name, elen);
}

void llmgw_completion_from_event(llmgw_ptype t, const char *event, size_t elen,
                                 const char *data, size_t dlen, llmgw_text *out)
{
    if (t == LLMGW_PT_HTTP || (dlen == 6 && !memcmp(data, "[DONE]", 6)))
        return;
    if (t == LLMGW_PT_ANTHROPIC && !event_is(event, elen, "content_block_delta"))
        return;
    json_t *root = load(data, dlen);
    if (!root)
        return;
    const char *type = json_string_value(json_object_get(root, "type"));
    if (t == LLMGW_PT_ANTHROPIC)
        append_str(out, json_object_get(json_object_get(root, "delta"), "text"));
    else if (t == LLMGW_PT_GEMINI)
        gemini_chunk(root, out);
    else if (type && !strcmp(type, "response.output_text.delta"))
        append_str(out, json_object_get(root, "delta"));
    else if (!type)
        openai_chat(root, "delta", out);
    json_decref(root);
}
