/* mod_llmgw_policy.c — model, tool and content policy in httpd: the LLMGWAllowModels,
 * LLMGWAllowTools, LLMGWToolPolicy, LLMGWRedact and LLMGWBlock directives (validated and
 * compiled at configuration time), how they merge from server level into <Location>
 * sections, and the checks a routed request goes through once its body is read.
 *
 * Merging, from the server (or virtual host) down to nested <Location> sections:
 *   LLMGWAllowModels, LLMGWAllowTools  the innermost section with rules of that kind
 *       wins as a whole: its rules replace the inherited ones (so a route can be
 *       narrower than the server); a section without any inherits them. Within one
 *       section the lines add up.
 *   LLMGWRedact, LLMGWBlock  rules add up from the outside in; an inner rule with the
 *       name of an inherited one replaces it (same name in one section: patterns add up).
 *   LLMGWToolPolicy  the innermost setting; default reject. */
#include "mod_llmgw.h"

#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"

#include "llmgw_policy.h"
#include "llmgw_redact.h"
#include "llmgw_tools.h"
#include "mod_llmgw_models.h"

enum { TOOLS_UNSET = 0, TOOLS_REJECT, TOOLS_STRIP };

struct llmgw_policy_conf {
    apr_array_header_t *models;     /* llmgw_allow_rule; NULL: inherit */
    apr_array_header_t *tools;      /* llmgw_allow_rule; NULL: inherit */
    apr_array_header_t *redact;     /* llmgw_content_rule */
    apr_array_header_t *block;      /* llmgw_content_rule */
    int tool_policy;
};

#define SHOWN_NAME_MAX 80

/* ---- configuration -------------------------------------------------------------------- */

static struct llmgw_policy_conf *conf_of(cmd_parms *cmd, void *dcv)
{
    llmgw_dir_conf *dc = dcv;
    if (!dc->policy)
        dc->policy = apr_pcalloc(cmd->pool, sizeof *dc->policy);
    return dc->policy;
}

static const char *add_allow(cmd_parms *cmd, apr_array_header_t **rules, int argc,
                             char *const argv[])
{
    const char *d = cmd->cmd->name;
    if (argc < 2)
        return apr_psprintf(cmd->pool, "%s PRINCIPAL PATTERN... (PRINCIPAL: *, user:ID, "
                            "team:NAME or role:NAME)", d);
    llmgw_allow_rule *r = apr_pcalloc(cmd->pool, sizeof *r);
    if (llmgw_principal_parse(argv[0], &r->who) < 0)
        return apr_psprintf(cmd->pool, "%s: bad principal '%s' (use *, user:ID, team:NAME "
                            "or role:NAME)", d, argv[0]);
    const char **globs = apr_palloc(cmd->pool, sizeof *globs * (size_t)(argc - 1));
    for (int i = 1; i < argc; i++) {
        if (!*argv[i])
            return apr_psprintf(cmd->pool, "%s: empty pattern", d);
        globs[i - 1] = argv[i];
    }
    r->globs = globs;
    r->nglobs = argc - 1;
    if (!*rules)
        *rules = apr_array_make(cmd->pool, 4, sizeof(llmgw_allow_rule));
    *(llmgw_allow_rule *)apr_array_push(*rules) = *r;
    return NULL;
}

const char *llmgw_cmd_allow_models(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    return add_allow(cmd, &conf_of(cmd, dc)->models, argc, argv);
}

const char *llmgw_cmd_allow_tools(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    return add_allow(cmd, &conf_of(cmd, dc)->tools, argc, argv);
}

const char *llmgw_cmd_tool_policy(cmd_parms *cmd, void *dc, const char *arg)
{
    struct llmgw_policy_conf *pc = conf_of(cmd, dc);
    if (!strcasecmp(arg, "reject"))
        pc->tool_policy = TOOLS_REJECT;
    else if (!strcasecmp(arg, "strip"))
        pc->tool_policy = TOOLS_STRIP;
    else
        return "LLMGWToolPolicy takes reject or strip";
    return NULL;
}

static apr_status_t free_rx(void *rx)
{
    llmgw_rx_free(rx);
    return APR_SUCCESS;
}

static llmgw_content_rule *find_rule(apr_array_header_t *a, const char *name)
{
    for (int i = 0; a && i < a->nelts; i++) {
        llmgw_content_rule *r = &APR_ARRAY_IDX(a, i, llmgw_content_rule);
        if (!strcmp(r->name, name))
            return r;
    }
    return NULL;
}

/* Patterns compile here, once, into the configuration pool (freed with it on restart);
 * a bad one fails `apachectl -t` with the directive's file and line. */
static const char *add_content(cmd_parms *cmd, apr_array_header_t **rules, int argc,
                               char *const argv[])
{
    const char *d = cmd->cmd->name;
    char err[256];
    if (argc < 2)
        return apr_psprintf(cmd->pool, "%s NAME \"regex\"...", d);
    if (!llmgw_rule_name_ok(argv[0]))
        return apr_psprintf(cmd->pool, "%s: rule name '%s' must be 1 to %d of A-Z a-z 0-9 _ . -",
                            d, argv[0], LLMGW_RULE_NAME_MAX);
    if (!*rules)
        *rules = apr_array_make(cmd->pool, 4, sizeof(llmgw_content_rule));
    llmgw_content_rule *r = find_rule(*rules, argv[0]);
    int have = r ? r->nrx : 0;
    llmgw_rx **rx = apr_palloc(cmd->pool, sizeof *rx * (size_t)(have + argc - 1));
    if (have)
        memcpy(rx, r->rx, sizeof *rx * (size_t)have);
    for (int i = 1; i < argc; i++) {
        if (!*argv[i])
            return apr_psprintf(cmd->pool, "%s %s: empty pattern", d, argv[0]);
        llmgw_rx *one = llmgw_rx_compile(argv[i], err, sizeof err);
        if (!one)
            return apr_psprintf(cmd->pool, "%s %s: pattern \"%s\": %s", d, argv[0], argv[i],
                                err);
        apr_pool_cleanup_register(cmd->pool, one, free_rx, apr_pool_cleanup_null);
        rx[have++] = one;
    }
    if (!r) {
        r = apr_array_push(*rules);
        r->name = argv[0];
    }
    r->rx = rx;
    r->nrx = have;
    return NULL;
}

const char *llmgw_cmd_redact(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    return add_content(cmd, &conf_of(cmd, dc)->redact, argc, argv);
}

const char *llmgw_cmd_block(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    return add_content(cmd, &conf_of(cmd, dc)->block, argc, argv);
}

/* Inherited rules plus the section's own; an own rule replaces the inherited one of
 * the same name. Runs per request for nested sections, so the common cases (one side
 * empty) cost nothing. */
static apr_array_header_t *merge_named(apr_pool_t *p, apr_array_header_t *base,
                                       apr_array_header_t *add)
{
    if (!add || !add->nelts)
        return base;
    if (!base || !base->nelts)
        return add;
    apr_array_header_t *m = apr_array_copy(p, base);
    for (int i = 0; i < add->nelts; i++) {
        llmgw_content_rule *r = &APR_ARRAY_IDX(add, i, llmgw_content_rule);
        llmgw_content_rule *same = find_rule(m, r->name);
        if (same)
            *same = *r;
        else
            *(llmgw_content_rule *)apr_array_push(m) = *r;
    }
    return m;
}

struct llmgw_policy_conf *llmgw_policy_merge(apr_pool_t *p, struct llmgw_policy_conf *base,
                                             struct llmgw_policy_conf *add)
{
    if (!add)
        return base;
    if (!base)
        return add;
    struct llmgw_policy_conf *c = apr_palloc(p, sizeof *c);
    c->models = add->models ? add->models : base->models;
    c->tools = add->tools ? add->tools : base->tools;
    c->tool_policy = add->tool_policy ? add->tool_policy : base->tool_policy;
    c->redact = merge_named(p, base->redact, add->redact);
    c->block = merge_named(p, base->block, add->block);
    return c;
}

/* ---- per request ---------------------------------------------------------------------- */

static llmgw_allow_list list_of(const apr_array_header_t *a)
{
    llmgw_allow_list l = {NULL, 0};
    if (a) {
        l.rules = (const llmgw_allow_rule *)a->elts;
        l.n = (size_t)a->nelts;
    }
    return l;
}

static void identity_of(const llmgw_req *q, llmgw_subject *id)
{
    id->user = q->user;
    id->team = q->team;
    id->roles = q->roles;
    id->nroles = q->nroles;
}

/* A client-chosen name as it may appear in a refusal and the log: bounded, no control
 * characters. */
static const char *shown(apr_pool_t *p, const char *s)
{
    size_t n = strlen(s);
    char *c = apr_pstrmemdup(p, s, n > SHOWN_NAME_MAX ? SHOWN_NAME_MAX : n);
    for (char *x = c; *x; x++)
        if ((unsigned char)*x < 0x20 || *x == 0x7f)
            *x = '?';
    return n > SHOWN_NAME_MAX ? apr_pstrcat(p, c, "...", NULL) : c;
}

static int deny(llmgw_req *q, const char *what, const char *name)
{
    const char *msg = apr_psprintf(q->r->pool, "%s '%s' is not allowed for this caller", what,
                                   shown(q->r->pool, name));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, "llmgw %s: user %s: %s", q->request_id,
                  q->user ? q->user : "-", msg);
    return llmgw_refuse(q, HTTP_FORBIDDEN, msg);
}

/* The model a request asks for: from the body for OpenAI-wire and Anthropic, from the
 * path for Gemini and Azure (already in q->info), from the path of a model description
 * request, or from a Gemini body's "model" (cachedContents and the like). */
static const char *model_of(llmgw_req *q, const char *item, int *bad)
{
    llmgw_ptype t = q->prov->type;
    /* the whole string, as the provider will read it: no truncation, no NUL tricks */
    const char *m = llmgw_body_model(q, bad);
    if (t != LLMGW_PT_GEMINI && t != LLMGW_PT_AZURE && (m || *bad))
        return m;
    *bad = 0;
    if (q->info.model[0])
        return q->info.model;
    if (item)
        return item;
    if (t == LLMGW_PT_GEMINI && m)
        return strncmp(m, "models/", 7) ? m : m + 7;
    return NULL;
}

static int check_model(llmgw_req *q, const struct llmgw_policy_conf *pc,
                       const llmgw_subject *id)
{
    llmgw_allow_list models = list_of(pc->models);
    char item[LLMGW_MODEL_MAX];
    int bad;
    if (!models.n)
        return OK;
    llmgw_models_req kind = llmgw_models_request(q->prov->type, q->r->method, q->path, item,
                                                 sizeof item);
    if (kind == LLMGW_MODELS_LIST) {
        /* one page as large as the provider gives: a filtered small page could come out
         * empty in the middle of the list, where the SDKs stop paging */
        size_t cap = (q->r->args ? strlen(q->r->args) : 0) + 32;
        char *args = apr_palloc(q->r->pool, cap);
        if (llmgw_models_query(q->prov->type, q->r->args, args, cap) == 0)
            q->r->args = args;
        llmgw_models_filter_start(q, &models, id);
        return OK;
    }
    const char *model = model_of(q, kind == LLMGW_MODELS_ITEM ? item : NULL, &bad);
    if (bad)
        return llmgw_refuse(q, HTTP_BAD_REQUEST, "\"model\" must be a plain string");
    if (model)
        return llmgw_allowed(&models, id, model) ? OK : deny(q, "model", model);
    /* a body that names no model (batches, assistants runs, ...) could reach any model:
     * on a route that lists its models, that is not allowed */
    if (llmgw_body_parsed(q))
        return llmgw_refuse(q, HTTP_FORBIDDEN, "this route only serves its listed models, "
                                               "and the request names none");
    return OK;
}

static int check_tools(llmgw_req *q, const struct llmgw_policy_conf *pc,
                       const llmgw_subject *id, int *changed)
{
    llmgw_allow_list tools = list_of(pc->tools);
    if (!tools.n)
        return OK;
    json_t *body = llmgw_body_tree(q);
    if (!body)
        return llmgw_refuse(q, HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    if (pc->tool_policy == TOOLS_STRIP) {
        int n = llmgw_tools_strip(q->prov->type, body, &tools, id);
        if (n) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, "llmgw %s: user %s: %d forbidden "
                          "tool(s) removed", q->request_id, q->user ? q->user : "-", n);
            *changed = 1;
        }
        return OK;
    }
    const char *denied = llmgw_tools_denied(q->prov->type, body, &tools, id);
    return denied ? deny(q, "tool", denied) : OK;
}

static int check_content(llmgw_req *q, const struct llmgw_policy_conf *pc,
                         const llmgw_alloc *a)
{
    if (!pc->redact && !pc->block)
        return OK;
    llmgw_content_rules rules = {
        pc->redact ? (const llmgw_content_rule *)pc->redact->elts : NULL,
        pc->redact ? (size_t)pc->redact->nelts : 0,
        pc->block ? (const llmgw_content_rule *)pc->block->elts : NULL,
        pc->block ? (size_t)pc->block->nelts : 0,
    };
    llmgw_scan s;
    char why[128];
    const char *out;
    size_t out_len;
    llmgw_scan_init(&s, &rules, a);
    switch (llmgw_scan_request_at(&s, q->prov->type, q->body, q->body_len,
                                  llmgw_body_text_roots(q), &out, &out_len)) {
    case LLMGW_SCAN_OK:
        break;
    case LLMGW_SCAN_BLOCKED:
        q->blocked_rule = s.rule;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, "llmgw %s: user %s: blocked by content "
                      "rule %s", q->request_id, q->user ? q->user : "-", s.rule);
        return llmgw_refuse(q, HTTP_BAD_REQUEST, apr_psprintf(q->r->pool, "request blocked "
                            "by content rule '%s'", s.rule));
    case LLMGW_SCAN_FAILED:
        if (!s.rule)
            return llmgw_refuse(q, HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        /* unscanned text must not pass: refuse, and tell the admin which rule */
        q->blocked_rule = s.rule;
        llmgw_rx_strerror(s.error, why, sizeof why);
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, q->r, "llmgw %s: content rule %s could "
                      "not finish (%s) on %" APR_SIZE_T_FMT " bytes", q->request_id, s.rule,
                      why, s.bytes);
        return llmgw_refuse(q, HTTP_BAD_REQUEST, apr_psprintf(q->r->pool, "content rule '%s' "
                            "could not check this request", s.rule));
    }
    if (out != q->body) {
        q->redactions += s.redactions;
        llmgw_body_replace(q, out, out_len);
    }
    return OK;
}

/* A plugin route (type=http) is the tool of the same name: LLMGWAllowTools decides
 * who may call it, exactly as for the tool declared to a model. */
static int check_plugin(llmgw_req *q, const struct llmgw_policy_conf *pc,
                        const llmgw_subject *id)
{
    llmgw_allow_list tools = list_of(pc->tools);
    return llmgw_allowed(&tools, id, q->prov->name) ? OK : deny(q, "tool", q->prov->name);
}

/* Runs in fixups once the body is read and parsed, before it is replayed: may refuse,
 * or rewrite q->body (forbidden tools stripped, text redacted). */
int llmgw_policy_request(llmgw_req *q)
{
    const llmgw_dir_conf *dc = ap_get_module_config(q->r->per_dir_config, &llmgw_module);
    const struct llmgw_policy_conf *pc = dc ? dc->policy : NULL;
    llmgw_subject id;
    int rc, changed = 0;
    if (!pc)
        return OK;
    identity_of(q, &id);
    if (q->prov->type == LLMGW_PT_HTTP)
        return check_plugin(q, pc, &id);
    if ((rc = check_model(q, pc, &id)) != OK)
        return rc;
    if (!llmgw_body_parsed(q))
        return OK;
    llmgw_alloc *a = apr_palloc(q->r->pool, sizeof *a);
    a->fn = llmgw_pool_alloc;
    a->ctx = q->r->pool;
    if ((rc = check_tools(q, pc, &id, &changed)) != OK)
        return rc;
    if (changed) {
        /* stripped tools: the tree is the body now; content rules read its text */
        size_t n;
        char *body = llmgw_json_dump_alloc(q->body_json, a, q->body_len + 64, &n);
        if (!body)
            return llmgw_refuse(q, HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        q->body = body;
        q->body_len = n;
    }
    return check_content(q, pc, a);
}

void llmgw_policy_register(void)
{
    llmgw_models_register();
}
