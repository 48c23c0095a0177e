/* test_fcgi.c — cmocka tests for llmgw_fcgi: request encoding checked by an independent
 * record and name-value decoder (BEGIN_REQUEST body, 1- and 4-byte lengths, stream
 * terminators, 64 KB record splitting, size prediction, limits); the response reader fed
 * whole, byte by byte and split at every offset, and its protocol errors; CGI response
 * splitting (Status header, LF/CRLF, malformed input). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llmgw_fcgi.h"

/* ---- an independent FastCGI record decoder -------------------------------------- */

typedef struct {
    int type;
    unsigned id;
    const unsigned char *content;
    size_t clen, plen;
} rec;

/* Splits buf into records; fails the test unless the records cover buf exactly. */
static size_t decode_records(const unsigned char *b, size_t n, rec *out, size_t max)
{
    size_t i = 0, k = 0;
    while (i < n) {
        assert_true(n - i >= 8);
        assert_int_equal(b[i], 1);            /* version */
        assert_int_equal(b[i + 7], 0);        /* reserved */
        assert_true(k < max);
        out[k].type = b[i + 1];
        out[k].id = (unsigned)b[i + 2] << 8 | b[i + 3];
        out[k].clen = (size_t)b[i + 4] << 8 | b[i + 5];
        out[k].plen = b[i + 6];
        out[k].content = b + i + 8;
        i += 8 + out[k].clen + out[k].plen;
        assert_true(i <= n);
        k++;
    }
    assert_int_equal(i, n);
    return k;
}

typedef struct {
    char name[8192], value[8192];
    size_t nl, vl;
    int nl_bytes, vl_bytes;   /* how the lengths were encoded: 1 or 4 bytes */
} nv;

static size_t read_len(const unsigned char *p, size_t avail, size_t *len, int *bytes)
{
    assert_true(avail >= 1);
    if (!(p[0] & 0x80)) {
        *len = p[0];
        *bytes = 1;
        return 1;
    }
    assert_true(avail >= 4);
    *len = ((size_t)(p[0] & 0x7f) << 24) | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    *bytes = 4;
    return 4;
}

static size_t decode_params(const unsigned char *p, size_t n, nv *out, size_t max)
{
    size_t i = 0, k = 0;
    while (i < n) {
        assert_true(k < max);
        nv *e = &out[k++];
        i += read_len(p + i, n - i, &e->nl, &e->nl_bytes);
        i += read_len(p + i, n - i, &e->vl, &e->vl_bytes);
        assert_true(e->nl < sizeof e->name && e->vl < sizeof e->value);
        assert_true(n - i >= e->nl + e->vl);
        memcpy(e->name, p + i, e->nl);
        e->name[e->nl] = '\0';
        memcpy(e->value, p + i + e->nl, e->vl);
        e->value[e->vl] = '\0';
        i += e->nl + e->vl;
    }
    return k;
}

/* Concatenates the content of consecutive records of one type starting at *at, up to
 * and including the empty record ending the stream. */
static unsigned char *gather_stream(const rec *r, size_t nr, size_t *at, int type,
                                    size_t *len, size_t *nrecs)
{
    unsigned char *o = malloc(1);
    size_t ol = 0, cnt = 0;
    assert_non_null(o);
    for (;;) {
        assert_true(*at < nr);
        const rec *x = &r[(*at)++];
        assert_int_equal(x->type, type);
        assert_true(x->clen <= LLMGW_FCGI_MAX_CONTENT);
        cnt++;
        if (x->clen == 0)
            break;
        o = realloc(o, ol + x->clen);
        assert_non_null(o);
        memcpy(o + ol, x->content, x->clen);
        ol += x->clen;
    }
    *len = ol;
    *nrecs = cnt;
    return o;
}

/* ---- request building -------------------------------------------------------------- */

static void check_begin(const rec *r, unsigned id, int keep)
{
    assert_int_equal(r->type, LLMGW_FCGI_BEGIN_REQUEST);
    assert_int_equal(r->id, id);
    assert_int_equal(r->clen, 8);
    const unsigned char want[8] = {0, 1, (unsigned char)(keep ? 1 : 0), 0, 0, 0, 0, 0};
    assert_memory_equal(r->content, want, 8);
}

static void test_build_basic(void **state)
{
    char v127[128], v128[129], v200[201], n130[131];
    memset(v127, 'a', 127);
    v127[127] = '\0';
    memset(v128, 'b', 128);
    v128[128] = '\0';
    memset(v200, 'c', 200);
    v200[200] = '\0';
    memset(n130, 'N', 130);
    n130[130] = '\0';
    const llmgw_fcgi_param p[] = {
        {"SCRIPT_NAME", "/v1/records"},
        {"REQUEST_METHOD", "POST"},
        {"CONTENT_TYPE", "application/x-ndjson"},
        {"CONTENT_LENGTH", "5"},
        {"V127", v127},
        {"V128", v128},
        {"LONG", v200},
        {n130, "x"},
        {"EMPTY", ""},
    };
    const int np = (int)(sizeof p / sizeof p[0]);
    size_t need = llmgw_fcgi_request_size(p, np, 5);
    unsigned char *buf = malloc(need);
    assert_non_null(buf);
    size_t n = llmgw_fcgi_build_request(0x1234, 1, p, np, "hello", 5, buf, need);
    assert_int_equal(n, need);

    rec r[16];
    size_t nr = decode_records(buf, n, r, 16);
    assert_int_equal(nr, 5);   /* BEGIN, PARAMS, PARAMS(0), STDIN, STDIN(0) */
    check_begin(&r[0], 0x1234, 1);
    for (size_t i = 0; i < nr; i++)
        assert_int_equal(r[i].id, 0x1234);

    size_t at = 1, plen, prec;
    unsigned char *params = gather_stream(r, nr, &at, LLMGW_FCGI_PARAMS, &plen, &prec);
    assert_int_equal(prec, 2);
    static nv pairs[16];
    size_t npairs = decode_params(params, plen, pairs, 16);
    assert_int_equal(npairs, (size_t)np);
    for (int i = 0; i < np; i++) {
        assert_string_equal(pairs[i].name, p[i].name);
        assert_string_equal(pairs[i].value, p[i].value);
        assert_int_equal(pairs[i].nl_bytes, strlen(p[i].name) < 128 ? 1 : 4);
        assert_int_equal(pairs[i].vl_bytes, strlen(p[i].value) < 128 ? 1 : 4);
    }
    assert_int_equal(pairs[4].vl_bytes, 1);    /* 127: one byte */
    assert_int_equal(pairs[5].vl_bytes, 4);    /* 128: four bytes */
    assert_int_equal(pairs[7].nl_bytes, 4);    /* long name */
    /* the raw bytes of the 200-byte value's pair: 04 | 80 00 00 c8 | LONG | c... */
    static const unsigned char long_hdr[] = {0x04, 0x80, 0x00, 0x00, 0xc8, 'L', 'O', 'N', 'G'};
    const unsigned char *hit = NULL;
    for (size_t i = 0; i + sizeof long_hdr <= plen; i++)
        if (!memcmp(params + i, long_hdr, sizeof long_hdr)) {
            hit = params + i;
            break;
        }
    assert_non_null(hit);
    assert_int_equal(hit[sizeof long_hdr], 'c');
    assert_int_equal(hit[sizeof long_hdr + 199], 'c');
    /* SCRIPT_NAME first: 0b 0b SCRIPT_NAME/v1/records */
    static const unsigned char first[] = {11, 11, 'S', 'C', 'R', 'I', 'P', 'T', '_', 'N', 'A',
                                          'M', 'E', '/', 'v', '1', '/'};
    assert_memory_equal(params, first, sizeof first);
    free(params);

    size_t blen, brec;
    unsigned char *body = gather_stream(r, nr, &at, LLMGW_FCGI_STDIN, &blen, &brec);
    assert_int_equal(brec, 2);
    assert_int_equal(blen, 5);
    assert_memory_equal(body, "hello", 5);
    free(body);
    assert_int_equal(at, nr);
    free(buf);
}

static void test_build_no_params_no_body(void **state)
{
    unsigned char buf[64];
    size_t need = llmgw_fcgi_request_size(NULL, 0, 0);
    assert_int_equal(need, 32);
    size_t n = llmgw_fcgi_build_request(0, 0, NULL, 0, NULL, 0, buf, sizeof buf);
    assert_int_equal(n, 32);
    static const unsigned char want[32] = {
        1, 1, 0, 0, 0, 8, 0, 0,  0, 1, 0, 0, 0, 0, 0, 0,   /* BEGIN, responder, no keep */
        1, 4, 0, 0, 0, 0, 0, 0,                           /* empty PARAMS */
        1, 5, 0, 0, 0, 0, 0, 0,                           /* empty STDIN */
    };
    assert_memory_equal(buf, want, 32);

    /* request id 0xffff, keep-conn set */
    n = llmgw_fcgi_build_request(0xffff, 7, NULL, 0, NULL, 0, buf, sizeof buf);
    assert_int_equal(n, 32);
    rec r[4];
    assert_int_equal(decode_records(buf, n, r, 4), 3);
    check_begin(&r[0], 0xffff, 1);
    assert_int_equal(r[1].id, 0xffff);
    assert_int_equal(r[2].id, 0xffff);
}

static void check_body_split(size_t body_len, size_t want_records)
{
    unsigned char *body = malloc(body_len ? body_len : 1);
    assert_non_null(body);
    for (size_t i = 0; i < body_len; i++)
        body[i] = (unsigned char)(i * 7 % 251);
    const llmgw_fcgi_param p[] = {{"CONTENT_LENGTH", "x"}};
    size_t need = llmgw_fcgi_request_size(p, 1, body_len);
    unsigned char *buf = malloc(need);
    assert_non_null(buf);
    size_t n = llmgw_fcgi_build_request(9, 1, p, 1, (const char *)body, body_len, buf, need);
    assert_int_equal(n, need);
    size_t maxr = want_records + 8;
    rec *r = calloc(maxr, sizeof *r);
    assert_non_null(r);
    size_t nr = decode_records(buf, n, r, maxr);
    check_begin(&r[0], 9, 1);
    size_t at = 1, l, k;
    unsigned char *pp = gather_stream(r, nr, &at, LLMGW_FCGI_PARAMS, &l, &k);
    free(pp);
    size_t first_stdin = at;
    unsigned char *got = gather_stream(r, nr, &at, LLMGW_FCGI_STDIN, &l, &k);
    assert_int_equal(at, nr);
    assert_int_equal(l, body_len);
    assert_int_equal(k, want_records);
    if (body_len)
        assert_memory_equal(got, body, body_len);
    /* all records but the last two STDIN ones are full; nothing uses padding */
    for (size_t i = first_stdin; i < nr; i++) {
        assert_int_equal(r[i].plen, 0);
        if (i + 2 < nr)
            assert_int_equal(r[i].clen, LLMGW_FCGI_MAX_CONTENT);
    }
    assert_int_equal(r[nr - 1].clen, 0);
    free(got);
    free(r);
    free(buf);
    free(body);
}

static void test_build_body_split(void **state)
{
    check_body_split(0, 1);
    check_body_split(1, 2);
    check_body_split(65535, 2);
    check_body_split(65536, 3);
    check_body_split(200 * 1024, 5);        /* 3 x 65535 + 8195, then the empty one */
    check_body_split(3 * 65535, 4);

    /* the 200 KB case in detail */
    size_t body_len = 200 * 1024;
    char *body = calloc(1, body_len);
    assert_non_null(body);
    size_t need = llmgw_fcgi_request_size(NULL, 0, body_len);
    assert_int_equal(need, 16 + 8 + body_len + 4 * 8 + 8);
    unsigned char *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(llmgw_fcgi_build_request(1, 0, NULL, 0, body, body_len, buf, need), need);
    rec r[16];
    size_t nr = decode_records(buf, need, r, 16);
    assert_int_equal(nr, 7);
    assert_int_equal(r[2].clen, 65535);
    assert_int_equal(r[3].clen, 65535);
    assert_int_equal(r[4].clen, 65535);
    assert_int_equal(r[5].clen, 200 * 1024 - 3 * 65535);
    assert_int_equal(r[6].clen, 0);
    free(buf);
    free(body);
}

static void test_build_limits(void **state)
{
    const llmgw_fcgi_param p[] = {{"A", "b"}, {"SCRIPT_NAME", "/v1/records"}};
    size_t need = llmgw_fcgi_request_size(p, 2, 100);
    char body[100];
    memset(body, 'z', sizeof body);
    unsigned char *buf = malloc(need + 16);
    assert_non_null(buf);
    /* one byte short: nothing is written */
    memset(buf, 0xAA, need + 16);
    assert_int_equal(llmgw_fcgi_build_request(1, 1, p, 2, body, 100, buf, need - 1), 0);
    for (size_t i = 0; i < need + 16; i++)
        assert_int_equal(buf[i], 0xAA);
    assert_int_equal(llmgw_fcgi_build_request(1, 1, p, 2, body, 100, buf, 0), 0);
    assert_int_equal(llmgw_fcgi_build_request(1, 1, p, 2, body, 100, buf, need), need);
    assert_int_equal(llmgw_fcgi_build_request(1, 1, p, 2, body, 100, buf, need + 16), need);
    free(buf);

    /* encoded params exactly LLMGW_FCGI_MAX_PARAMS bytes fit; one more does not.
     * name "N" (1+1 bytes), value v bytes (4-byte length): 1 + 4 + 1 + v */
    size_t vmax = LLMGW_FCGI_MAX_PARAMS - 6;
    char *v = malloc(vmax + 2);
    assert_non_null(v);
    memset(v, 'v', vmax + 1);
    v[vmax] = '\0';
    llmgw_fcgi_param big = {"N", v};
    need = llmgw_fcgi_request_size(&big, 1, 0);
    buf = malloc(need + 64);
    assert_non_null(buf);
    size_t n = llmgw_fcgi_build_request(2, 0, &big, 1, NULL, 0, buf, need + 64);
    assert_int_equal(n, need);
    rec r[8];
    size_t nr = decode_records(buf, n, r, 8);
    assert_int_equal(nr, 4);
    assert_int_equal(r[1].clen, LLMGW_FCGI_MAX_PARAMS);
    static nv pair[2];
    assert_int_equal(decode_params(r[1].content, r[1].clen, pair, 2), 1);
    assert_int_equal(pair[0].vl, vmax);
    free(buf);

    v[vmax] = 'v';
    v[vmax + 1] = '\0';
    need = llmgw_fcgi_request_size(&big, 1, 0);
    buf = malloc(need + 64);
    assert_non_null(buf);
    assert_int_equal(llmgw_fcgi_build_request(2, 0, &big, 1, NULL, 0, buf, need + 64), 0);
    free(buf);
    free(v);

    /* many small params adding up past the limit */
    enum { NP = 600 };
    llmgw_fcgi_param *many = calloc(NP, sizeof *many);
    assert_non_null(many);
    for (int i = 0; i < NP; i++) {
        many[i].name = "HTTP_X";
        many[i].value = "1";   /* 1 + 1 + 6 + 1 = 9 bytes each: 5400 in all */
    }
    need = llmgw_fcgi_request_size(many, NP, 0);
    buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(llmgw_fcgi_build_request(3, 0, many, NP, NULL, 0, buf, need), 0);
    /* 455 of them (4095 bytes) are fine */
    need = llmgw_fcgi_request_size(many, 455, 0);
    assert_int_equal(llmgw_fcgi_build_request(3, 0, many, 455, NULL, 0, buf, need), need);
    free(buf);
    free(many);
}

/* ---- response reader ------------------------------------------------------------------ */

typedef struct {
    unsigned char b[4096];
    size_t n;
} wire;

static void put_rec(wire *w, int version, int type, unsigned id, const void *c, size_t clen,
                    size_t plen)
{
    assert_true(w->n + 8 + clen + plen <= sizeof w->b);
    unsigned char *h = w->b + w->n;
    h[0] = (unsigned char)version;
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)(id >> 8);
    h[3] = (unsigned char)id;
    h[4] = (unsigned char)(clen >> 8);
    h[5] = (unsigned char)clen;
    h[6] = (unsigned char)plen;
    h[7] = 0;
    if (clen)
        memcpy(h + 8, c, clen);
    /* padding bytes are garbage on purpose: they must be skipped, never read as data */
    for (size_t i = 0; i < plen; i++)
        h[8 + clen + i] = (unsigned char)(0xE0 + i);
    w->n += 8 + clen + plen;
}

static void put_end(wire *w, unsigned id, uint32_t app, int proto, size_t clen, size_t plen)
{
    unsigned char body[16] = {(unsigned char)(app >> 24), (unsigned char)(app >> 16),
                              (unsigned char)(app >> 8), (unsigned char)app,
                              (unsigned char)proto, 0, 0, 0};
    put_rec(w, 1, LLMGW_FCGI_END_REQUEST, id, body, clen, plen);
}

static const char hdrs[] = "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n";
static const char json_body[] = "{\"accepted\":3,\"duplicates\":1}";

static void build_response(wire *w)
{
    w->n = 0;
    put_rec(w, 1, LLMGW_FCGI_STDOUT, 7, hdrs, strlen(hdrs), 5);
    put_rec(w, 1, LLMGW_FCGI_STDERR, 7, "warning: slow commit", 20, 3);
    put_rec(w, 1, LLMGW_FCGI_STDOUT, 7, json_body, strlen(json_body), 0);
    put_rec(w, 1, LLMGW_FCGI_STDERR, 7, NULL, 0, 0);
    put_rec(w, 1, LLMGW_FCGI_STDOUT, 7, NULL, 0, 0);
    put_end(w, 7, 0x01020304u, 0, 8, 2);
}

static void check_result(const llmgw_fcgi_reader *r, const char *out)
{
    char want[256];
    snprintf(want, sizeof want, "%s%s", hdrs, json_body);
    assert_int_equal(r->out_len, strlen(want));
    assert_memory_equal(out, want, r->out_len);
    assert_int_equal(r->app_status, 0x01020304u);
    assert_int_equal(r->protocol_status, 0);
    assert_int_equal(r->done, 1);
}

static void test_reader_whole(void **state)
{
    wire w;
    build_response(&w);
    char out[256];
    llmgw_fcgi_reader r;
    llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n), 1);
    check_result(&r, out);
    /* after the end, more bytes change nothing */
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n), 1);
    check_result(&r, out);

    /* trailing bytes in the same buffer as END_REQUEST are ignored */
    llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
    memcpy(w.b + w.n, "\x01\x06junk", 6);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n + 6), 1);
    check_result(&r, out);
}

static void test_reader_byte_by_byte(void **state)
{
    wire w;
    build_response(&w);
    char out[256];
    llmgw_fcgi_reader r;
    llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
    for (size_t i = 0; i < w.n; i++) {
        int rc = llmgw_fcgi_reader_feed(&r, w.b + i, 1);
        if (rc != (i + 1 == w.n ? 1 : 0))
            fail_msg("byte %zu of %zu: rc %d", i, w.n, rc);
    }
    check_result(&r, out);
    /* an empty feed reports the state */
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, 0), 1);
    llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, 0), 0);
}

static void test_reader_every_split(void **state)
{
    wire w;
    build_response(&w);
    for (size_t s = 0; s <= w.n; s++) {
        char out[256];
        llmgw_fcgi_reader r;
        llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
        int rc1 = llmgw_fcgi_reader_feed(&r, w.b, s);
        if (rc1 != (s == w.n ? 1 : 0))
            fail_msg("split %zu: first feed rc %d", s, rc1);
        assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b + s, w.n - s), 1);
        check_result(&r, out);
    }
    /* and in three pieces around every pair of offsets in the END_REQUEST area */
    size_t tail = w.n - 18;
    for (size_t a = tail; a <= w.n; a++)
        for (size_t b = a; b <= w.n; b++) {
            char out[256];
            llmgw_fcgi_reader r;
            llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
            assert_true(llmgw_fcgi_reader_feed(&r, w.b, a) >= 0);
            assert_true(llmgw_fcgi_reader_feed(&r, w.b + a, b - a) >= 0);
            assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b + b, w.n - b), 1);
            check_result(&r, out);
        }
}

static void test_reader_incomplete(void **state)
{
    wire w;
    build_response(&w);
    char out[256];
    llmgw_fcgi_reader r;
    llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n - 1), 0);   /* last pad byte */
    assert_int_equal(r.done, 0);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b + w.n - 1, 1), 1);

    /* END_REQUEST without padding, other app status, protocol status 3 */
    w.n = 0;
    put_rec(&w, 1, LLMGW_FCGI_STDOUT, 7, "X", 1, 7);
    put_end(&w, 7, 0xdeadbeefu, 3, 8, 0);
    llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n - 1), 0);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b + w.n - 1, 1), 1);
    assert_int_equal(r.out_len, 1);
    assert_int_equal(out[0], 'X');
    assert_int_equal(r.app_status, 0xdeadbeefu);
    assert_int_equal(r.protocol_status, 3);
}

static void test_reader_errors(void **state)
{
    char out[256];
    llmgw_fcgi_reader r;
    wire w;

    /* wrong version in the first record */
    w.n = 0;
    put_rec(&w, 2, LLMGW_FCGI_STDOUT, 7, "abc", 3, 0);
    put_end(&w, 7, 0, 0, 8, 0);
    llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n), -1);
    /* byte by byte: -1 when the eighth header byte arrives */
    llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b + i, 1), 0);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b + 7, 1), -1);

    /* wrong version in a later record */
    w.n = 0;
    put_rec(&w, 1, LLMGW_FCGI_STDOUT, 7, "abc", 3, 1);
    put_rec(&w, 0, LLMGW_FCGI_STDOUT, 7, "def", 3, 0);
    put_end(&w, 7, 0, 0, 8, 0);
    llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n), -1);

    /* STDOUT overflowing out_cap (across two records); exactly out_cap is fine */
    w.n = 0;
    put_rec(&w, 1, LLMGW_FCGI_STDOUT, 7, "0123456789", 10, 0);
    put_rec(&w, 1, LLMGW_FCGI_STDOUT, 7, "abcdef", 6, 2);
    put_end(&w, 7, 0, 0, 8, 0);
    char small[16];
    llmgw_fcgi_reader_init(&r, 7, small, 15);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n), -1);
    llmgw_fcgi_reader_init(&r, 7, small, 16);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n), 1);
    assert_int_equal(r.out_len, 16);
    assert_memory_equal(small, "0123456789abcdef", 16);
    llmgw_fcgi_reader_init(&r, 7, NULL, 0);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n), -1);
    /* overflow detected byte by byte too, and nothing is written past out_cap */
    char guard[24];
    memset(guard, '#', sizeof guard);
    llmgw_fcgi_reader_init(&r, 7, guard, 12);
    int rc = 0;
    for (size_t i = 0; i < w.n && rc == 0; i++)
        rc = llmgw_fcgi_reader_feed(&r, w.b + i, 1);
    assert_int_equal(rc, -1);
    for (size_t i = 12; i < sizeof guard; i++)
        assert_int_equal(guard[i], '#');

    /* END_REQUEST with a content length other than 8 */
    const size_t bad_lens[] = {0, 7, 9, 16};
    for (size_t k = 0; k < sizeof bad_lens / sizeof bad_lens[0]; k++) {
        w.n = 0;
        put_rec(&w, 1, LLMGW_FCGI_STDOUT, 7, "ok", 2, 0);
        put_end(&w, 7, 0, 0, bad_lens[k], 0);
        llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
        if (llmgw_fcgi_reader_feed(&r, w.b, w.n) != -1)
            fail_msg("END_REQUEST with content length %zu accepted", bad_lens[k]);
        assert_int_equal(r.done, 0);
    }

    /* a record for another request id */
    w.n = 0;
    put_rec(&w, 1, LLMGW_FCGI_STDOUT, 8, "x", 1, 0);
    put_end(&w, 8, 0, 0, 8, 0);
    llmgw_fcgi_reader_init(&r, 7, out, sizeof out);
    assert_int_equal(llmgw_fcgi_reader_feed(&r, w.b, w.n), -1);
}

/* ---- CGI response splitting ------------------------------------------------------------ */

/* Runs llmgw_fcgi_cgi_response on an exact-size heap copy (so over-reads are caught). */
static int cgi(const char *text, const char **body, size_t *body_len, size_t *body_off)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    const char *b = NULL;
    size_t bl = 0;
    int st = llmgw_fcgi_cgi_response(copy, len, &b, &bl);
    if (st >= 0) {
        assert_true(b >= copy && b + bl == copy + len);
        *body_off = (size_t)(b - copy);
        *body_len = bl;
        *body = text + *body_off;
    }
    free(copy);
    return st;
}

static void expect_cgi(const char *text, int status, const char *body)
{
    const char *b = NULL;
    size_t bl = 0, off = 0;
    int st = cgi(text, &b, &bl, &off);
    if (st != status)
        fail_msg("<<%s>>: status %d, want %d", text, st, status);
    if (status < 0)
        return;
    assert_int_equal(bl, strlen(body));
    assert_memory_equal(b, body, bl);
}

static void test_cgi_response(void **state)
{
    expect_cgi("Status: 201 Created\r\nContent-Type: application/json\r\n\r\n{\"a\":1}", 201,
               "{\"a\":1}");
    expect_cgi("Content-Type: application/json\r\n\r\n{\"accepted\":1}", 200,
               "{\"accepted\":1}");
    expect_cgi("Content-Type: text/plain\n\nhello\n", 200, "hello\n");
    expect_cgi("Status: 503 Busy\n\nretry", 503, "retry");
    expect_cgi("Content-Type: x\nstatus: 404 Not Found\n\n", 404, "");
    expect_cgi("STATUS:400\r\n\r\nbad", 400, "bad");
    expect_cgi("Status: 204 No Content\r\n\r\n", 204, "");
    expect_cgi("\r\nbody only", 200, "body only");
    expect_cgi("\nx", 200, "x");
    /* the body is not parsed: a Status line or blank lines in it mean nothing */
    expect_cgi("Content-Type: x\r\n\r\nStatus: 500\r\n\r\nmore", 200, "Status: 500\r\n\r\nmore");
    /* a header merely starting like Status is not one */
    expect_cgi("X-Status: 500\r\n\r\nb", 200, "b");
    expect_cgi("Status: 100\r\n\r\n", 100, "");
    expect_cgi("Status: 599 Odd\r\n\r\n", 599, "");

    /* malformed: no blank line, nothing at all, no newline */
    expect_cgi("Content-Type: text/plain\r\n", -1, NULL);
    expect_cgi("Content-Type: text/plain\r\nbody without separator", -1, NULL);
    expect_cgi("", -1, NULL);
    expect_cgi("Status: 200 OK", -1, NULL);
    /* bad status values */
    expect_cgi("Status: abc\r\n\r\n", -1, NULL);
    expect_cgi("Status: 99\r\n\r\n", -1, NULL);
    expect_cgi("Status: 600\r\n\r\n", -1, NULL);
    expect_cgi("Status: 1000 Big\r\n\r\n", -1, NULL);
    expect_cgi("Status: -200\r\n\r\n", -1, NULL);
    expect_cgi("Status: OK\r\n\r\n", -1, NULL);
    /* the status is read inside its line only, never from the body after it */
    expect_cgi("Status:  \r\n\r\n", -1, NULL);
    expect_cgi("Status: \r\n\r\n404 body", -1, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_basic),
        cmocka_unit_test(test_build_no_params_no_body),
        cmocka_unit_test(test_build_body_split),
        cmocka_unit_test(test_build_limits),
        cmocka_unit_test(test_reader_whole),
        cmocka_unit_test(test_reader_byte_by_byte),
        cmocka_unit_test(test_reader_every_split),
        cmocka_unit_test(test_reader_incomplete),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_cgi_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
