/* llmgw_tools.c — tool declarations in OpenAI (Chat Completions and Responses),
 * Anthropic and Gemini requests: naming them, finding the first forbidden one, and
 * stripping forbidden ones while keeping the request acceptable to the provider. One
 * walk (visit_*) serves all three uses, so what is checked is exactly what is stripped. */
#include "llmgw_tools.h"

#include <string.h>

#define UNNAMED "(unnamed)"

typedef struct {
    const llmgw_allow_list *l;      /* NULL: only collect names */
    const llmgw_subject *id;
    const char **names;
    size_t max, count;
    const char *denied;             /* first forbidden name (check mode) */
    int strip, removed;
} visit;

/* Records one declared tool; 1 when the caller must lose it (strip mode). */
static int seen(visit *v, const char *name)
{
    if (v->count < v->max)
        v->names[v->count] = name;
    v->count++;
    if (v->l && !llmgw_allowed(v->l, v->id, name)) {
        if (!v->denied)
            v->denied = name;
        return v->strip;
    }
    return 0;
}

static int allowed(const visit *v, const char *name)
{
    return !v->l || llmgw_allowed(v->l, v->id, name);
}

static const char *str_field(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* {"type":"function","function":{"name":N}} (chat), {"type":"function","name":N}
 * (Responses), {"type":"custom","custom":{"name":N}} (chat custom tools), and
 * built-in tools ({"type":"web_search_preview"}) by type. */
static const char *openai_tool_name(const json_t *e)
{
    const char *type = str_field(e, "type"), *n;
    if ((n = str_field(json_object_get(e, "function"), "name")))
        return n;
    if ((n = str_field(e, "name")))
        return n;
    if (type && (n = str_field(json_object_get(e, type), "name")))
        return n;
    return type ? type : UNNAMED;
}

static const char *plain_name(const json_t *e)
{
    const char *n = str_field(e, "name");
    return n ? n : UNNAMED;
}

static const char *anthropic_tool_name(const json_t *e)
{
    const char *n = str_field(e, "name");
    if (n)
        return n;
    n = str_field(e, "type");
    return n ? n : UNNAMED;
}

/* Removes (strip mode) the entries of arr the caller may not use; counts every entry
 * as declared. Returns 1 when it emptied a non-empty array. */
static int filter_declared(visit *v, json_t *arr, const char *(*name)(const json_t *))
{
    size_t before = json_array_size(arr);
    for (size_t i = 0; i < json_array_size(arr);) {
        if (seen(v, name(json_array_get(arr, i)))) {
            json_array_remove(arr, i);
            v->removed++;
        } else {
            i++;
        }
    }
    return before && !json_array_size(arr);
}

/* Removes entries of a reference list (tool_choice.allowed_tools, allowedFunctionNames)
 * that name a tool the caller may not use; not counted as declarations. Returns 1
 * when the list ended up empty. */
static int filter_refs(const visit *v, json_t *arr, const char *(*name)(const json_t *))
{
    for (size_t i = 0; i < json_array_size(arr);) {
        const json_t *e = json_array_get(arr, i);
        const char *n = name ? name(e) : json_string_value(e);
        if (!allowed(v, n ? n : UNNAMED))
            json_array_remove(arr, i);
        else
            i++;
    }
    return json_array_size(arr) == 0;
}

static void openai_fix_choice(const visit *v, json_t *root)
{
    json_t *tc = json_object_get(root, "tool_choice");
    if (!json_is_object(tc))
        return;
    const char *type = str_field(tc, "type");
    if (type && !strcmp(type, "allowed_tools")) {
        /* Responses: tool_choice.tools; Chat Completions: tool_choice.allowed_tools.tools */
        json_t *inner = json_object_get(tc, "tools");
        if (!json_is_array(inner))
            inner = json_object_get(json_object_get(tc, "allowed_tools"), "tools");
        if (json_is_array(inner) && filter_refs(v, inner, openai_tool_name))
            json_object_del(root, "tool_choice");
        return;
    }
    if (!allowed(v, openai_tool_name(tc)))
        json_object_del(root, "tool_choice");
}

static void visit_openai(visit *v, json_t *root)
{
    json_t *tools = json_object_get(root, "tools");
    if (json_is_array(tools)) {
        int emptied = filter_declared(v, tools, openai_tool_name);
        if (v->strip && emptied) {
            /* the API refuses an empty tools array and a tool_choice without tools */
            json_object_del(root, "tools");
            json_object_del(root, "tool_choice");
            json_object_del(root, "parallel_tool_calls");
        } else if (v->strip && v->removed) {
            openai_fix_choice(v, root);
        }
    }
    json_t *fns = json_object_get(root, "functions");
    if (json_is_array(fns)) {
        int before = v->removed;
        int emptied = filter_declared(v, fns, plain_name);
        if (v->strip && emptied) {
            json_object_del(root, "functions");
            json_object_del(root, "function_call");
        } else if (v->strip && v->removed > before) {
            json_t *fc = json_object_get(root, "function_call");
            if (json_is_object(fc) && !allowed(v, plain_name(fc)))
                json_object_del(root, "function_call");
        }
    }
}

static void visit_anthropic(visit *v, json_t *root)
{
    json_t *tools = json_object_get(root, "tools");
    if (!json_is_array(tools))
        return;
    int emptied = filter_declared(v, tools, anthropic_tool_name);
    if (!v->strip || !v->removed)
        return;
    json_t *tc = json_object_get(root, "tool_choice");
    if (emptied) {
        json_object_del(root, "tools");
        json_object_del(root, "tool_choice");
    } else if (json_is_object(tc) && str_field(tc, "name") && !allowed(v, str_field(tc, "name"))) {
        json_object_del(root, "tool_choice");
    }
}

/* Gemini's built-in tools, camelCase as documented and snake_case as also accepted. */
static const char *const gemini_builtins[][2] = {
    {"googleSearch", "google_search"},
    {"googleSearchRetrieval", "google_search_retrieval"},
    {"codeExecution", "code_execution"},
    {"urlContext", "url_context"},
    {"googleMaps", "google_maps"},
    {"computerUse", "computer_use"},
    {"fileSearch", "file_search"},
    {"enterpriseWebSearch", "enterprise_web_search"},
};

static const char *gemini_tool_key_name(const char *key)
{
    for (size_t i = 0; i < sizeof gemini_builtins / sizeof gemini_builtins[0]; i++)
        if (!strcmp(key, gemini_builtins[i][0]) || !strcmp(key, gemini_builtins[i][1]))
            return gemini_builtins[i][0];
    return key;
}

static json_t *get2(const json_t *o, const char *camel, const char *snake)
{
    json_t *v = json_object_get(o, camel);
    return v ? v : json_object_get(o, snake);
}

static void gemini_fix_config(const visit *v, json_t *root)
{
    json_t *fcc = get2(get2(root, "toolConfig", "tool_config"), "functionCallingConfig",
                       "function_calling_config");
    const char *k = json_object_get(fcc, "allowedFunctionNames") ? "allowedFunctionNames"
                                                                 : "allowed_function_names";
    json_t *names = json_object_get(fcc, k);
    if (json_is_array(names) && filter_refs(v, names, NULL))
        json_object_del(fcc, k);
}

/* One tools[] entry: function declarations by name, every other field (a built-in
 * tool) by its name. Returns 1 when stripping emptied the entry. */
static int gemini_tool(visit *v, json_t *tool)
{
    const char *key;
    json_t *val;
    void *tmp;
    if (!json_is_object(tool))
        return seen(v, UNNAMED);
    size_t before = json_object_size(tool);
    json_object_foreach_safe(tool, tmp, key, val) {
        if (!strcmp(key, "functionDeclarations") || !strcmp(key, "function_declarations")) {
            if (!json_is_array(val)) {
                if (seen(v, UNNAMED)) {
                    json_object_del(tool, key);
                    v->removed++;
                }
            } else if (filter_declared(v, val, plain_name) && v->strip) {
                json_object_del(tool, key);
            }
        } else if (seen(v, gemini_tool_key_name(key))) {
            json_object_del(tool, key);
            v->removed++;
        }
    }
    return before && !json_object_size(tool);
}

static void visit_gemini(visit *v, json_t *root)
{
    json_t *tools = json_object_get(root, "tools");
    if (!json_is_array(tools))
        return;
    size_t before = json_array_size(tools);
    int removed0 = v->removed;
    for (size_t i = 0; i < json_array_size(tools);) {
        json_t *tool = json_array_get(tools, i);
        int was_object = json_is_object(tool);
        if (gemini_tool(v, tool) && v->strip) {
            json_array_remove(tools, i);
            if (!was_object)
                v->removed++;
        } else {
            i++;
        }
    }
    if (!v->strip || v->removed == removed0)
        return;
    if (before && !json_array_size(tools)) {
        json_object_del(root, "tools");
        json_object_del(root, "toolConfig");
        json_object_del(root, "tool_config");
    } else {
        gemini_fix_config(v, root);
    }
}

static void walk(llmgw_ptype t, json_t *root, visit *v)
{
    if (!json_is_object(root))
        return;
    switch (t) {
    case LLMGW_PT_ANTHROPIC:
        visit_anthropic(v, root);
        break;
    case LLMGW_PT_GEMINI:
        visit_gemini(v, root);
        break;
    case LLMGW_PT_HTTP:
    case LLMGW_PT_COUNT:
        break;
    default:
        visit_openai(v, root);
        break;
    }
}

size_t llmgw_tools_names(llmgw_ptype t, const json_t *root, const char **names, size_t max)
{
    visit v = {.names = names, .max = max};
    walk(t, (json_t *)root, &v);   /* strip off: nothing is changed */
    return v.count;
}

const char *llmgw_tools_denied(llmgw_ptype t, const json_t *root, const llmgw_allow_list *l,
                               const llmgw_subject *id)
{
    if (!l || !l->n)
        return NULL;
    visit v = {.l = l, .id = id};
    walk(t, (json_t *)root, &v);
    return v.denied;
}

int llmgw_tools_strip(llmgw_ptype t, json_t *root, const llmgw_allow_list *l,
                      const llmgw_subject *id)
{
    if (!l || !l->n)
        return 0;
    visit v = {.l = l, .id = id, .strip = 1};
    walk(t, root, &v);
    return v.removed;
}
