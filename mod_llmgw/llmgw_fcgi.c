/* llmgw_fcgi.c — FastCGI request encoding and response reading (FastCGI 1.0 spec). */
#include "llmgw_fcgi.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void put_header(unsigned char *h, int type, uint16_t id, uint16_t clen, uint8_t plen)
{
    h[0] = 1;                       /* FCGI_VERSION_1 */
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)(id >> 8);
    h[3] = (unsigned char)id;
    h[4] = (unsigned char)(clen >> 8);
    h[5] = (unsigned char)clen;
    h[6] = plen;
    h[7] = 0;
}

static size_t len_size(size_t n)
{
    return n < 128 ? 1 : 4;
}

static unsigned char *put_len(unsigned char *o, size_t n)
{
    if (n < 128) {
        *o++ = (unsigned char)n;
        return o;
    }
    *o++ = (unsigned char)(0x80 | (n >> 24));
    *o++ = (unsigned char)(n >> 16);
    *o++ = (unsigned char)(n >> 8);
    *o++ = (unsigned char)n;
    return o;
}

static size_t params_len(const llmgw_fcgi_param *p, int np)
{
    size_t t = 0;
    for (int i = 0; i < np; i++) {
        size_t nl = strlen(p[i].name), vl = strlen(p[i].value);
        t += len_size(nl) + len_size(vl) + nl + vl;
    }
    return t;
}

static size_t stream_size(size_t n)
{
    /* full records of 65535 bytes plus one terminating empty record; no padding used */
    return n + 8 * ((n + LLMGW_FCGI_MAX_CONTENT - 1) / LLMGW_FCGI_MAX_CONTENT) + 8;
}

size_t llmgw_fcgi_request_size(const llmgw_fcgi_param *p, int np, size_t body_len)
{
    return 16 + stream_size(params_len(p, np)) + stream_size(body_len);
}

/* Writes data as a stream of records of one type, then the empty record ending it. */
static unsigned char *put_stream(unsigned char *o, int type, uint16_t id,
                                 const unsigned char *data, size_t n)
{
    while (n) {
        size_t c = n > LLMGW_FCGI_MAX_CONTENT ? LLMGW_FCGI_MAX_CONTENT : n;
        put_header(o, type, id, (uint16_t)c, 0);
        memcpy(o + 8, data, c);
        o += 8 + c;
        data += c;
        n -= c;
    }
    put_header(o, type, id, 0, 0);
    return o + 8;
}

size_t llmgw_fcgi_build_request(uint16_t id, int keep_conn, const llmgw_fcgi_param *p, int np,
                                const char *body, size_t body_len, unsigned char *buf, size_t cap)
{
    unsigned char pbuf[LLMGW_FCGI_MAX_PARAMS];
    size_t plen = params_len(p, np);
    if (plen > sizeof pbuf || llmgw_fcgi_request_size(p, np, body_len) > cap)
        return 0;
    unsigned char *t = pbuf;
    for (int i = 0; i < np; i++) {
        size_t nl = strlen(p[i].name), vl = strlen(p[i].value);
        t = put_len(t, nl);
        t = put_len(t, vl);
        memcpy(t, p[i].name, nl);
        memcpy(t + nl, p[i].value, vl);
        t += nl + vl;
    }
    unsigned char *o = buf;
    put_header(o, LLMGW_FCGI_BEGIN_REQUEST, id, 8, 0);
    memset(o + 8, 0, 8);
    o[9] = 1;                       /* FCGI_RESPONDER */
    o[10] = keep_conn ? 1 : 0;      /* FCGI_KEEP_CONN */
    o = put_stream(o + 16, LLMGW_FCGI_PARAMS, id, pbuf, plen);
    o = put_stream(o, LLMGW_FCGI_STDIN, id, (const unsigned char *)body, body_len);
    return (size_t)(o - buf);
}

void llmgw_fcgi_reader_init(llmgw_fcgi_reader *r, uint16_t id, char *out, size_t out_cap)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    r->out = out;
    r->out_cap = out_cap;
}

/* Takes the content bytes of the current record. Returns -1 when STDOUT overflows. */
static int take_content(llmgw_fcgi_reader *r, const unsigned char *d, size_t n)
{
    if (r->type == LLMGW_FCGI_STDOUT) {
        if (n > r->out_cap - r->out_len)
            return -1;
        memcpy(r->out + r->out_len, d, n);
        r->out_len += n;
    } else if (r->type == LLMGW_FCGI_END_REQUEST) {
        /* the 8-byte body is gathered in hdr, which is free while content is read */
        for (size_t i = 0; i < n; i++)
            r->hdr[8 - r->content_left + i] = d[i];
    }
    return 0;
}

static int header_done(llmgw_fcgi_reader *r)
{
    const unsigned char *h = r->hdr;
    if (h[0] != 1)
        return -1;
    r->type = h[1];
    uint16_t id = (uint16_t)(h[2] << 8 | h[3]);
    r->content_left = (size_t)(h[4] << 8 | h[5]);
    r->pad_left = h[6];
    r->hdr_have = 0;
    if (id != r->id && id != 0)
        return -1;
    if (r->type == LLMGW_FCGI_END_REQUEST && r->content_left != 8)
        return -1;
    return 0;
}

static int record_done(llmgw_fcgi_reader *r)
{
    if (r->type != LLMGW_FCGI_END_REQUEST)
        return 0;
    r->app_status = (uint32_t)r->hdr[0] << 24 | (uint32_t)r->hdr[1] << 16 |
                    (uint32_t)r->hdr[2] << 8 | r->hdr[3];
    r->protocol_status = r->hdr[4];
    r->done = 1;
    return 1;
}

int llmgw_fcgi_reader_feed(llmgw_fcgi_reader *r, const unsigned char *data, size_t len)
{
    while (len && !r->done) {
        if (r->content_left == 0 && r->pad_left == 0) {
            size_t c = 8 - r->hdr_have;
            if (c > len)
                c = len;
            memcpy(r->hdr + r->hdr_have, data, c);
            r->hdr_have += c;
            data += c;
            len -= c;
            if (r->hdr_have < 8)
                return 0;
            if (header_done(r) < 0)
                return -1;
            if (r->content_left == 0 && r->pad_left == 0 && record_done(r))
                return 1;
            continue;
        }
        size_t c = r->content_left ? r->content_left : r->pad_left;
        if (c > len)
            c = len;
        if (r->content_left) {
            if (take_content(r, data, c) < 0)
                return -1;
            r->content_left -= c;
        } else {
            r->pad_left -= c;
        }
        data += c;
        len -= c;
        if (r->content_left == 0 && r->pad_left == 0 && record_done(r))
            return 1;
    }
    return r->done ? 1 : 0;
}

/* "Status: 200 OK": three digits inside the header line, nothing read past it. */
static int parse_status(const char *v, const char *e)
{
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    if (e - v < 3 || !isdigit((unsigned char)v[0]) || !isdigit((unsigned char)v[1]) ||
        !isdigit((unsigned char)v[2]) || (e - v > 3 && v[3] != ' '))
        return -1;
    int st = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
    return st >= 100 && st <= 599 ? st : -1;
}

int llmgw_fcgi_cgi_response(const char *out, size_t len, const char **body, size_t *body_len)
{
    int status = 200;
    size_t i = 0;
    for (;;) {
        const char *nl = memchr(out + i, '\n', len - i);
        if (!nl)
            return -1;
        size_t n = (size_t)(nl - (out + i));
        size_t line_len = (n && out[i + n - 1] == '\r') ? n - 1 : n;
        if (line_len == 0) {
            i += n + 1;
            break;
        }
        if (line_len >= 7 && strncasecmp(out + i, "Status:", 7) == 0 &&
            (status = parse_status(out + i + 7, out + i + line_len)) < 0)
            return -1;
        i += n + 1;
    }
    *body = out + i;
    *body_len = len - i;
    return status;
}
