/* llmgw_fcgi.h — the client half of FastCGI (responder role) the module needs to hand
 * record batches to llmgw-auditd: request encoding and a response reader that accepts
 * bytes in any fragmentation. Part of the core library. */
#ifndef LLMGW_FCGI_H
#define LLMGW_FCGI_H

#include <stddef.h>
#include <stdint.h>

enum {
    LLMGW_FCGI_BEGIN_REQUEST = 1,
    LLMGW_FCGI_ABORT_REQUEST = 2,
    LLMGW_FCGI_END_REQUEST = 3,
    LLMGW_FCGI_PARAMS = 4,
    LLMGW_FCGI_STDIN = 5,
    LLMGW_FCGI_STDOUT = 6,
    LLMGW_FCGI_STDERR = 7,
};

#define LLMGW_FCGI_MAX_CONTENT 65535
#define LLMGW_FCGI_MAX_PARAMS 4096    /* encoded name-value bytes per request */

typedef struct {
    const char *name, *value;
} llmgw_fcgi_param;

/* Bytes needed for a whole request: BEGIN, PARAMS, empty PARAMS, STDIN records, empty STDIN. */
size_t llmgw_fcgi_request_size(const llmgw_fcgi_param *p, int np, size_t body_len);

/* Encodes the whole request into buf (cap from llmgw_fcgi_request_size); returns its
 * length, or 0 when it does not fit or a parameter is too long. */
size_t llmgw_fcgi_build_request(uint16_t id, int keep_conn, const llmgw_fcgi_param *p, int np,
                                const char *body, size_t body_len, unsigned char *buf, size_t cap);

/* Response reader: STDOUT is collected up to out_cap bytes (more is an error: auditd's
 * answers are small), STDERR is ignored, END_REQUEST finishes. */
typedef struct {
    unsigned char hdr[8];
    size_t hdr_have;
    int type;
    size_t content_left, pad_left;
    uint16_t id;
    char *out;
    size_t out_len, out_cap;
    uint32_t app_status;
    int protocol_status;
    int done;
} llmgw_fcgi_reader;

void llmgw_fcgi_reader_init(llmgw_fcgi_reader *r, uint16_t id, char *out, size_t out_cap);
/* Feeds bytes: 1 when END_REQUEST arrived, 0 when more is needed, -1 on a protocol error. */
int llmgw_fcgi_reader_feed(llmgw_fcgi_reader *r, const unsigned char *data, size_t len);

/* Splits CGI output ("Status: 200 OK\r\nContent-Type: ...\r\n\r\nbody") into the status
 * (200 when no Status header) and body. Returns the status or -1 when malformed. */
int llmgw_fcgi_cgi_response(const char *out, size_t len, const char **body, size_t *body_len);

#endif
