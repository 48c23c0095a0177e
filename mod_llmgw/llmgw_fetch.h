/* llmgw_fetch.h — reads a JWKS document from where LLMGWJWT jwks= says: https://,
 * http:// to a loopback address only (127.0.0.1, ::1, localhost), or file:PATH.
 * HTTP goes through libcurl with connect and total timeouts, no redirects, no other
 * protocols, and a size cap. Part of the httpd-free core library (libllmgw). */
#ifndef LLMGW_FETCH_H
#define LLMGW_FETCH_H

#include <stddef.h>

#define LLMGW_FETCH_CONNECT_MS 3000
#define LLMGW_FETCH_TOTAL_MS 5000

/* NULL when uri is acceptable for jwks=, else why not. */
const char *llmgw_fetch_uri_check(const char *uri);

/* Once per process before the first fetch (curl_global_init). 0 or -1. */
int llmgw_fetch_global_init(void);

/* GETs uri (at most cap bytes). On success returns 0 and a malloc'd, NUL-terminated
 * *body; else -1 and why in err. */
int llmgw_fetch(const char *uri, size_t cap, long total_ms, char **body, size_t *len,
                char *err, size_t errcap);

#endif
