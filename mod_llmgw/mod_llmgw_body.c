/* mod_llmgw_body.c — the request body: read whole (bounded) in fixups once the caller
 * is identified, inspected (model, stream), possibly rewritten, then replayed to
 * mod_proxy_http by an input filter with an exact Content-Length. The replay filter
 * takes HTTP_IN's place in the protocol chain, so mod_proxy_http streams the body
 * with that length instead of spooling bodies over 16 KiB to a temp file. */
#include "mod_llmgw.h"
#include "llmgw_json_scan.h"
#include "llmgw_text.h"

#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"
#include "mod_core.h"
#include "util_filter.h"

#define REPLAY_FILTER "LLMGW_REPLAY"
#define REPLAY_FILTER_RES "LLMGW_REPLAY_RES"
#define READ_CHUNK (64 * 1024)

/* added by handle: no registry lookup per request */
static ap_filter_rec_t *replay_rec, *replay_res_rec;

typedef struct {
    llmgw_req *q;
    apr_size_t off;
} replay_ctx;

static apr_status_t replay_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                  ap_input_mode_t mode, apr_read_type_e block,
                                  apr_off_t readbytes)
{
    replay_ctx *ctx = f->ctx;
    llmgw_req *q = ctx->q;
    apr_size_t left = q->body_len - ctx->off;
    if (mode != AP_MODE_READBYTES && mode != AP_MODE_SPECULATIVE)
        return APR_ENOTIMPL;
    if (left == 0) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
        return APR_SUCCESS;
    }
    apr_size_t n = readbytes > 0 && (apr_size_t)readbytes < left ? (apr_size_t)readbytes : left;
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(q->body + ctx->off, n, f->r->pool,
                                                       bb->bucket_alloc));
    if (mode == AP_MODE_READBYTES)
        ctx->off += n;
    if (ctx->off == q->body_len && mode == AP_MODE_READBYTES)
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    return APR_SUCCESS;
}

static void install_replay(llmgw_req *q)
{
    request_rec *r = q->r;
    replay_ctx *ctx = apr_pcalloc(r->pool, sizeof *ctx);
    ctx->q = q;
    ap_filter_t *http_in = r->proto_input_filters;
    while (http_in && http_in->frec != ap_http_input_filter_handle)
        http_in = http_in->next;
    if (http_in) {
        /* HTTP_IN has delivered EOS; the replay now is the request's body source */
        ap_remove_input_filter(http_in);
        ap_add_input_filter_handle(replay_rec, ctx, r, r->connection);
    } else {
        ap_add_input_filter_handle(replay_res_rec, ctx, r, r->connection);
    }
    /* the client's Content-Length stands when it still tells the body's length */
    if (q->sent_length <= 0 || q->sent_length != (apr_off_t)q->body_len)
        apr_table_setn(r->headers_in, "Content-Length",
                       apr_off_t_toa(r->pool, (apr_off_t)q->body_len));
    apr_table_unset(r->headers_in, "Transfer-Encoding");
    apr_table_unset(r->headers_in, "Expect");
}

/* Reads the whole body into one pool buffer; 413 past the limit. expect: the request's
 * Content-Length (0 when it has none, -1 when it is not a length). */
static int slurp(llmgw_req *q, apr_off_t expect, apr_off_t limit)
{
    request_rec *r = q->r;
    if (expect < 0 || expect > limit)
        return llmgw_refuse(q, expect > limit ? HTTP_REQUEST_ENTITY_TOO_LARGE : HTTP_BAD_REQUEST,
                            expect > limit ? apr_psprintf(r->pool, "request body larger than "
                                                          "%" APR_OFF_T_FMT " bytes", limit)
                                           : "bad Content-Length");
    apr_size_t cap = expect ? (apr_size_t)expect + 1 : 16384, len = 0;
    char *buf = apr_palloc(r->pool, cap);
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    for (int eos = 0; !eos;) {
        apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                                         APR_BLOCK_READ, READ_CHUNK);
        if (rv != APR_SUCCESS) {
            apr_brigade_destroy(bb);
            return llmgw_refuse(q, ap_map_http_request_error(rv, HTTP_BAD_REQUEST),
                                "could not read the request body");
        }
        for (apr_bucket *b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *d;
            apr_size_t n;
            if (APR_BUCKET_IS_EOS(b)) {
                eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b))
                continue;
            if (apr_bucket_read(b, &d, &n, APR_BLOCK_READ) != APR_SUCCESS) {
                apr_brigade_destroy(bb);
                return llmgw_refuse(q, HTTP_BAD_REQUEST, "could not read the request body");
            }
            if ((apr_off_t)(len + n) > limit) {
                apr_brigade_destroy(bb);
                return llmgw_refuse(q, HTTP_REQUEST_ENTITY_TOO_LARGE,
                                    apr_psprintf(r->pool, "request body larger than %"
                                                 APR_OFF_T_FMT " bytes", limit));
            }
            llmgw_pool_append(r->pool, &buf, &len, &cap, d, n);
        }
        apr_brigade_cleanup(bb);
    }
    apr_brigade_destroy(bb);
    buf[len] = '\0';
    q->body = buf;
    q->body_len = len;
    return OK;
}

static apr_status_t free_json(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

/* OpenAI only reports stream usage when asked; ask on the client's behalf and
 * remember to hide the extra chunk from a client that did not. */
static void ask_for_stream_usage(llmgw_req *q)
{
    if (!llmgw_ptype_is_openai_wire(q->prov->type) || !q->info.stream || q->info.include_usage ||
        strcmp(q->endpoint, "chat/completions"))
        return;
    llmgw_alloc a = {llmgw_pool_alloc, q->r->pool};
    size_t n;
    /* an existing stream_options is edited in the tree and the whole body re-written */
    json_t *root = q->info.has_stream_options ? llmgw_body_tree(q) : llmgw_body_root(q);
    if (!root)
        return;
    char *nb = llmgw_request_add_include_usage(q->body, q->body_len, root, &a, &n);
    if (nb) {
        q->body = nb;
        q->body_len = n;
        q->hide_usage_chunk = 1;
    }
}

/* Provider routes take JSON bodies: application/json or any +json type. A missing
 * Content-Type is taken as JSON (the body is parsed anyway); anything else is 415
 * before a byte of it is read. */
static int json_media_type(const char *ct)
{
    static const char json[] = "application/json";
    if (!ct || (!strncmp(ct, json, sizeof json - 1) &&   /* as SDKs send it */
                (ct[sizeof json - 1] == '\0' || ct[sizeof json - 1] == ';')))
        return 1;
    size_t n = strcspn(ct, "; \t");
    if (n == strlen("application/json") && !ap_cstr_casecmpn(ct, "application/json", n))
        return 1;
    return n > 5 && !ap_cstr_casecmpn(ct + n - 5, "+json", 5) &&
           !ap_cstr_casecmpn(ct, "application/", 12);
}

/* The root members the gateway itself reads. A route whose policy looks no deeper gets
 * a root of just these, and only when something asks for a tree: a full jansson tree of
 * a 1 KB chat body costs about three times the whole of mod_proxy_http's work on the
 * request, and most routes never read it. */
static const char *const READ_MEMBERS[] = LLMGW_REQUEST_MEMBERS;
/* and where the content rules' walk starts: found in the same scan */
static const char *const TEXT_ROOTS[] = LLMGW_TEXT_ROOTS;
static llmgw_json_paths read_paths;    /* both, prepared at registration */

static json_t *shallow_root(const char *body, const llmgw_json_span *sp)
{
    json_t *root = json_object();
    for (size_t i = 0; root && i < LLMGW_RM_N; i++) {
        if (!sp[i].len)
            continue;
        json_t *v = llmgw_json_build(body + sp[i].off, sp[i].len, 0);
        if (!v || json_object_set_new_nocheck(root, READ_MEMBERS[i], v)) {
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

static void keep_tree(llmgw_req *q, json_t *root)
{
    apr_pool_cleanup_register(q->r->pool, root, free_json, apr_pool_cleanup_null);
    q->body_json = root;
}

/* Judges the body. The validating scan judges it exactly as jansson would with
 * JSON_REJECT_DUPLICATES (llmgw_json_scan.h); a body it passes as plainly valid (an
 * object, no NUL, no repeated name, nothing undecided) keeps just the spans of
 * READ_MEMBERS, from which llmgw_body_root() and llmgw_body_tree() build on demand.
 * Every other body goes to llmgw_request_parse, which judges it and words the 400. */
static int parse_body(llmgw_req *q, char *err, size_t errcap)
{
    const char *body = q->body;
    apr_size_t len = q->body_len, i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i < len && body[i] == '{' &&
        llmgw_json_scan_paths(body, len, LLMGW_MAX_JSON_DEPTH, LLMGW_JSON_UNIQUE_KEYS,
                              &read_paths, q->body_spans) == LLMGW_JSON_VALID) {
        q->body_shallow = 1;
        q->spans_of = body;
        return 1;
    }
    q->body_shallow = 0;
    json_t *root = llmgw_request_parse(body, len, err, errcap);
    if (root)
        keep_tree(q, root);
    return root != NULL;
}

json_t *llmgw_body_root(llmgw_req *q)
{
    if (!q->body_json && q->body_shallow) {
        json_t *root = shallow_root(q->body, q->body_spans);
        if (root)
            keep_tree(q, root);
    }
    return q->body_json;
}

json_t *llmgw_body_tree(llmgw_req *q)
{
    if (q->body_shallow) {
        /* the scan already judged this text: building cannot meet a repeat or an error */
        json_t *full = llmgw_json_build(q->body, q->body_len, 0);
        if (!full)
            return NULL;
        keep_tree(q, full);
        q->body_shallow = 0;
    }
    return q->body_json;
}

/* The scan's spans still describe q->body (policy has not replaced the text). */
static int spans_current(const llmgw_req *q)
{
    return q->body && q->spans_of == q->body;
}

const llmgw_json_span *llmgw_body_text_roots(const llmgw_req *q)
{
    return spans_current(q) ? q->body_spans + LLMGW_RM_N : NULL;
}

int llmgw_body_parsed(const llmgw_req *q)
{
    return q->body_shallow || q->body_json;
}

const char *llmgw_body_model(llmgw_req *q, int *bad)
{
    const llmgw_json_span *sp = &q->body_spans[LLMGW_RM_MODEL];
    *bad = 0;
    if (spans_current(q)) {
        /* the scan judged the text: a string span without a backslash is the name */
        const char *v = q->body + sp->off;
        if (!sp->len)
            return NULL;
        if (v[0] != '"') {
            *bad = 1;
            return NULL;
        }
        if (!memchr(v, '\\', sp->len))
            return apr_pstrmemdup(q->r->pool, v + 1, sp->len - 2);
    }
    const json_t *m = json_object_get(llmgw_body_root(q), "model");
    if (!m)
        return NULL;
    if (!json_is_string(m) || strlen(json_string_value(m)) != json_string_length(m)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(m);
}

void llmgw_body_replace(llmgw_req *q, const char *body, apr_size_t len)
{
    /* the spans point into the old text: what they found becomes a root first, and a
     * whole tree asked for later is built from the new text */
    llmgw_body_root(q);
    q->body = body;
    q->body_len = len;
    q->body_shallow = q->body_json != NULL;
}

static void body_info(llmgw_req *q)
{
    request_rec *r = q->r;
    if (q->body_shallow &&
        llmgw_request_info_text(q->prov->type, q->body, q->body_spans, q->path, &q->info) == 0)
        return;
    llmgw_request_info(q->prov->type, llmgw_body_root(q), q->path, r->args, &q->info);
}

int llmgw_content_length(const char *v, apr_off_t *n)
{
    int64_t d;
    if (llmgw_dec_parse_short(v, &d)) {
        *n = (apr_off_t)d;
        return 1;
    }
    return ap_parse_strict_length(n, v);
}

/* ap_request_has_body's test, with the Content-Length it read handed back for slurp
 * (0: none, -1: not a length) rather than looked up and parsed a second time. */
static int has_body(request_rec *r, apr_off_t *length)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    *length = 0;
    if (cl && !llmgw_content_length(cl, length))
        *length = -1;
    if (r->header_only)
        return 0;
    return *length != 0 || r->kept_body || apr_table_get(r->headers_in, "Transfer-Encoding");
}

int llmgw_read_body(llmgw_req *q, apr_off_t limit)
{
    request_rec *r = q->r;
    apr_off_t length;
    int body = has_body(r, &length);
    q->sent_length = length;
    if (!body) {
        llmgw_request_info(q->prov->type, NULL, q->path, r->args, &q->info);
        return OK;
    }
    if (q->prov->type != LLMGW_PT_HTTP && !json_media_type(apr_table_get(r->headers_in,
                                                                          "Content-Type")))
        return llmgw_refuse(q, HTTP_UNSUPPORTED_MEDIA_TYPE,
                            "request body must be JSON (Content-Type: application/json)");
    int rc = slurp(q, length, limit);
    if (rc != OK)
        return rc;
    if (q->prov->type != LLMGW_PT_HTTP && q->body_len) {
        char err[256];
        if (!parse_body(q, err, sizeof err))
            return llmgw_refuse(q, HTTP_BAD_REQUEST, apr_pstrdup(r->pool, err));
    }
    body_info(q);
    return OK;
}

/* Once policy has had its say (it may have rewritten q->body): the usage splice works on
 * the final body, and the replay sends exactly that. */
void llmgw_body_replay(llmgw_req *q)
{
    if (!q->body)
        return;
    ask_for_stream_usage(q);
    install_replay(q);
}

void llmgw_body_register(void)
{
    llmgw_json_path rm[LLMGW_RM_N + LLMGW_TR_N];
    for (size_t i = 0; i < LLMGW_RM_N + LLMGW_TR_N; i++)
        rm[i] = (llmgw_json_path){i < LLMGW_RM_N ? READ_MEMBERS[i] : TEXT_ROOTS[i - LLMGW_RM_N],
                                  0, LLMGW_JSON_ROOT};
    if (llmgw_json_paths_init(&read_paths, rm, LLMGW_RM_N + LLMGW_TR_N) != 0)
        abort();                        /* READ_MEMBERS is malformed */
    replay_rec = ap_register_input_filter(REPLAY_FILTER, replay_filter, NULL, AP_FTYPE_PROTOCOL);
    replay_res_rec = ap_register_input_filter(REPLAY_FILTER_RES, replay_filter, NULL,
                                              AP_FTYPE_RESOURCE);
}
