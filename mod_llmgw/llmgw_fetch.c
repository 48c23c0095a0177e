/* llmgw_fetch.c — JWKS retrieval over http(s) with libcurl, or from a file (see
 * llmgw_fetch.h). One easy handle per fetch: fetches are rare (once per refresh
 * interval per child) and a fresh handle shares nothing between threads. */
#include "llmgw_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct {
    char *buf;
    size_t len, cap;
    int overflow;
} sink;

const char *llmgw_fetch_uri_check(const char *uri)
{
    if (!strncmp(uri, "file:", 5))
        return uri[5] == '/' ? NULL : "jwks=file: needs an absolute path";
    int https = !strncasecmp(uri, "https://", 8), http = !strncasecmp(uri, "http://", 7);
    if (!https && !http)
        return "jwks= must be https://…, file:/path, or http:// to a loopback address";
    const char *host = uri + (https ? 8 : 7);
    size_t n = strcspn(host, "/?#");
    if (!n || memchr(host, '@', n))
        return "jwks= URL needs a host and must not carry user info";
    if (strchr(uri, '#'))
        return "jwks= URL must not carry a fragment";
    if (https)
        return NULL;
    /* plain http only to this machine: a local IdP or sidecar */
    static const char *const loopback[] = {"127.0.0.1", "[::1]", "localhost"};
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(loopback[i]);
        if (n >= l && !strncasecmp(host, loopback[i], l) && (n == l || host[l] == ':'))
            return NULL;
    }
    return "jwks= over plain http is only allowed to 127.0.0.1, ::1 or localhost; use https";
}

int llmgw_fetch_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
    sink *s = ctx;
    size_t n = size * nmemb;
    if (n > s->cap - s->len) {
        s->overflow = 1;
        return 0;       /* aborts the transfer */
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return n;
}

static int fetch_file(const char *path, size_t cap, char **body, size_t *len, char *err,
                      size_t errcap)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "cannot read %s: %s", path, f ? "not a regular file"
                                                           : strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if ((size_t)st.st_size > cap) {
        fclose(f);
        snprintf(err, errcap, "%s is larger than %zu bytes", path, cap);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errcap, "cannot read %s", path);
        return -1;
    }
    buf[n] = '\0';
    *body = buf;
    *len = n;
    return 0;
}

int llmgw_fetch(const char *uri, size_t cap, long total_ms, char **body, size_t *len,
                char *err, size_t errcap)
{
    const char *why = llmgw_fetch_uri_check(uri);
    if (why) {
        snprintf(err, errcap, "%s", why);
        return -1;
    }
    if (!strncmp(uri, "file:", 5))
        return fetch_file(uri + 5, cap, body, len, err, errcap);

    sink s = {malloc(cap + 1), 0, cap, 0};
    CURL *c = curl_easy_init();
    long status = 0;
    if (!s.buf || !c) {
        free(s.buf);
        curl_easy_cleanup(c);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, uri);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);     /* threaded httpd: no SIGALRM */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     total_ms < LLMGW_FETCH_CONNECT_MS ? total_ms : (long)LLMGW_FETCH_CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mod_llmgw-jwks");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200) {
        if (s.overflow || rc == CURLE_FILESIZE_EXCEEDED)
            snprintf(err, errcap, "answer larger than %zu bytes", cap);
        else if (rc != CURLE_OK)
            snprintf(err, errcap, "%s", curl_easy_strerror(rc));
        else
            snprintf(err, errcap, "HTTP status %ld", status);
        free(s.buf);
        return -1;
    }
    s.buf[s.len] = '\0';
    *body = s.buf;
    *len = s.len;
    return 0;
}
