/* fuzz_fcgi.c — the module's FastCGI client half: the response reader fed auditd's
 * answer in arbitrary fragments, the CGI header split, and the request encoder.
 *
 * Input: [mode][request id x2][out cap][split seed] bytes...
 *  mode even: bytes are a response stream. Invariants: fragmenting the stream changes
 *    nothing (result, STDOUT bytes, statuses); STDOUT never exceeds out_cap; the CGI
 *    split returns a body inside STDOUT and a status in 100..599 or -1.
 *  mode odd: bytes are params (name=value lines) '\0' body. Invariants: the encoder
 *    writes exactly llmgw_fcgi_request_size() bytes, and parsing them back record by
 *    record yields BEGIN_REQUEST, the same params and the same body. */
#include "fuzz_common.h"

#include "llmgw_fcgi.h"

typedef struct {
    int rc;
    size_t out_len;
    uint32_t app;
    int proto;
} outcome;

static outcome read_all(uint16_t id, const uint8_t *p, size_t n, char *out, size_t cap,
                        uint32_t seed)
{
    llmgw_fcgi_reader r;
    llmgw_fcgi_reader_init(&r, id, out, cap);
    int rc = 0;
    size_t off = 0;
    while (off < n) {
        size_t k = n - off;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 16) % 24;
            if (k > n - off)
                k = n - off;
        }
        rc = llmgw_fcgi_reader_feed(&r, p + off, k);
        FUZZ_CHECK(r.out_len <= cap, "STDOUT %zu over cap %zu", r.out_len, cap);
        off += k;
        if (rc != 0)
            break;
    }
    outcome o = {rc, r.out_len, r.app_status, r.protocol_status};
    return o;
}

static void response_mode(fuzz_in *in)
{
    uint16_t id = fuzz_u16(in);
    size_t cap = fuzz_byte(in) * 16;
    uint32_t seed = fuzz_byte(in) | 1u;
    char *a = malloc(cap ? cap : 1), *b = malloc(cap ? cap : 1);
    outcome whole = read_all(id, in->p, in->n, a, cap, 0);
    outcome frag = read_all(id, in->p, in->n, b, cap, seed);
    FUZZ_CHECK(whole.rc == frag.rc, "rc %d vs %d when fragmented", whole.rc, frag.rc);
    if (whole.rc == 1) {
        FUZZ_CHECK(whole.out_len == frag.out_len && !memcmp(a, b, whole.out_len) &&
                   whole.app == frag.app && whole.proto == frag.proto,
                   "fragmenting changed the response");
        char *exact = fuzz_dup_exact((const uint8_t *)a, whole.out_len);
        const char *body = NULL;
        size_t blen = 0;
        int st = llmgw_fcgi_cgi_response(exact, whole.out_len, &body, &blen);
        FUZZ_CHECK(st == -1 || (st >= 100 && st <= 599), "status %d", st);
        if (st > 0)
            FUZZ_CHECK(body >= exact && body + blen == exact + whole.out_len, "body range");
        free(exact);
    }
    free(a);
    free(b);
}

static size_t get_len(const uint8_t **p, const uint8_t *e)
{
    FUZZ_CHECK(*p < e, "truncated length");
    if (**p < 128)
        return *(*p)++;
    FUZZ_CHECK(e - *p >= 4, "truncated long length");
    size_t n = ((size_t)((*p)[0] & 0x7f) << 24) | ((size_t)(*p)[1] << 16) |
               ((size_t)(*p)[2] << 8) | (*p)[3];
    *p += 4;
    return n;
}

static void request_mode(fuzz_in *in, fuzz_arena *ar)
{
    uint16_t id = fuzz_u16(in);
    int keep = fuzz_byte(in) & 1;
    llmgw_fcgi_param params[16];
    int np = 0;
    size_t plen = 0;
    char *ptext = fuzz_field(in, ar, '\0', &plen);
    for (char *line = ptext; np < 16 && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            params[np].name = line;
            params[np++].value = eq + 1;
        }
        line = nl ? nl + 1 : NULL;
    }
    const char *body = (const char *)in->p;
    size_t blen = in->n;

    size_t need = llmgw_fcgi_request_size(params, np, blen);
    unsigned char *buf = malloc(need);
    size_t n = llmgw_fcgi_build_request(id, keep, params, np, body, blen, buf, need);
    if (n == 0) {               /* only allowed when the params are too long */
        size_t pl = 0;
        for (int i = 0; i < np; i++) {
            size_t a = strlen(params[i].name), b = strlen(params[i].value);
            pl += (a < 128 ? 1 : 4) + (b < 128 ? 1 : 4) + a + b;
        }
        FUZZ_CHECK(pl > LLMGW_FCGI_MAX_PARAMS, "encoder refused %zu param bytes", pl);
        free(buf);
        return;
    }
    FUZZ_CHECK(n == need, "wrote %zu, announced %zu", n, need);
    /* parse it back */
    const uint8_t *p = buf, *e = buf + n;
    unsigned char pbytes[LLMGW_FCGI_MAX_PARAMS + 8];
    size_t pgot = 0, bgot = 0;
    int stage = 0;              /* 0 begin, 1 params, 2 stdin, 3 done */
    while (p < e) {
        FUZZ_CHECK(e - p >= 8, "truncated header");
        FUZZ_CHECK(p[0] == 1 && (p[2] << 8 | p[3]) == id, "version or id");
        size_t clen = (size_t)(p[4] << 8 | p[5]), pad = p[6];
        int type = p[1];
        FUZZ_CHECK((size_t)(e - p) >= 8 + clen + pad, "record past the end");
        const uint8_t *c = p + 8;
        if (stage == 0) {
            FUZZ_CHECK(type == LLMGW_FCGI_BEGIN_REQUEST && clen == 8, "BEGIN first");
            FUZZ_CHECK(c[0] == 0 && c[1] == 1 && c[2] == (keep ? 1 : 0), "role/flags");
            stage = 1;
        } else if (stage == 1) {
            FUZZ_CHECK(type == LLMGW_FCGI_PARAMS, "PARAMS expected, got %d", type);
            FUZZ_CHECK(pgot + clen <= sizeof pbytes, "params overflow");
            memcpy(pbytes + pgot, c, clen);
            pgot += clen;
            if (clen == 0)
                stage = 2;
        } else if (stage == 2) {
            FUZZ_CHECK(type == LLMGW_FCGI_STDIN, "STDIN expected, got %d", type);
            FUZZ_CHECK(bgot + clen <= blen && !memcmp(body + bgot, c, clen), "body bytes");
            bgot += clen;
            if (clen == 0)
                stage = 3;
        } else {
            FUZZ_CHECK(0, "bytes after the empty STDIN record");
        }
        p += 8 + clen + pad;
    }
    FUZZ_CHECK(stage == 3 && bgot == blen, "stage %d, body %zu of %zu", stage, bgot, blen);
    const uint8_t *q = pbytes, *qe = pbytes + pgot;
    for (int i = 0; i < np; i++) {
        size_t nl = get_len(&q, qe), vl = get_len(&q, qe);
        FUZZ_CHECK((size_t)(qe - q) >= nl + vl, "param bytes");
        FUZZ_CHECK(nl == strlen(params[i].name) && !memcmp(q, params[i].name, nl) &&
                   vl == strlen(params[i].value) && !memcmp(q + nl, params[i].value, vl),
                   "param %d differs", i);
        q += nl + vl;
    }
    FUZZ_CHECK(q == qe, "extra param bytes");
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    fuzz_arena ar = {0};
    if (fuzz_byte(&in) & 1)
        request_mode(&in, &ar);
    else
        response_mode(&in);
    fuzz_arena_free(&ar);
    return 0;
}
