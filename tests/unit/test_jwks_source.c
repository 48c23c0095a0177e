/* test_jwks_source.c — cmocka tests for when key sets are fetched and what replaces
 * what (scheduled refresh, unchanged documents, rotation, failures keeping the last
 * good set, unknown-kid refreshes limited per cooldown, one fetch among concurrent
 * requests while the others go on without waiting), and for retrieval itself: the
 * jwks= URI rules, file: reads, and HTTP through libcurl against a tiny server on
 * 127.0.0.1 (status, size cap, redirects not followed, timeouts). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "jwt_testkit.h"
#include "llmgw_fetch.h"
#include "llmgw_jwks_source.h"

/* ---- a scripted fetch ------------------------------------------------------------------- */

static char *doc_a, *doc_b;     /* two different valid documents */

typedef struct {
    const char *doc;            /* what the IdP serves; NULL = down */
    int calls;
    int delay_ms;
} idp;

static int fake_fetch(void *ctx, const char *uri, char **body, size_t *len, char *err,
                      size_t cap)
{
    idp *p = ctx;
    __atomic_add_fetch(&p->calls, 1, __ATOMIC_SEQ_CST);
    if (p->delay_ms)
        usleep((useconds_t)p->delay_ms * 1000);
    if (!p->doc) {
        snprintf(err, cap, "connection refused");
        return -1;
    }
    *body = strdup(p->doc);
    *len = strlen(p->doc);
    return 0;
}

static int setup_docs(void **state)
{
    EVP_PKEY *a = tk_ec("P-256"), *b = tk_ec("P-256");
    char *ja = tk_jwk(a, "a", NULL), *jb = tk_jwk(b, "b", NULL);
    doc_a = tk_jwks(ja, NULL);
    doc_b = tk_jwks(jb, NULL);
    free(ja);
    free(jb);
    tk_free(a);
    tk_free(b);
    return 0;
}

static int teardown_docs(void **state)
{
    free(doc_a);
    free(doc_b);
    return 0;
}

static llmgw_jwks *get(llmgw_jwks_source *s, int64_t now, int forced, uint64_t *gen)
{
    return llmgw_jwks_source_acquire(s, now, forced, gen);
}

static void test_first_fetch_and_schedule(void **state)
{
    idp p = {doc_a, 0, 0};
    llmgw_jwks_source s;
    uint64_t gen;
    assert_int_equal(llmgw_jwks_source_init(&s, "test:", 300, fake_fetch, &p), 0);
    llmgw_jwks *k = get(&s, 1000, 0, &gen);
    assert_non_null(k);
    assert_int_equal(gen, 1);
    assert_int_equal(p.calls, 1);
    llmgw_jwks_unref(k);
    k = get(&s, 1299, 0, &gen);          /* not due yet */
    llmgw_jwks_unref(k);
    assert_int_equal(p.calls, 1);
    k = get(&s, 1300, 0, &gen);          /* due: same document, same generation */
    llmgw_jwks_unref(k);
    assert_int_equal(p.calls, 2);
    assert_int_equal(gen, 1);
    p.doc = doc_b;                       /* rotation */
    llmgw_jwks *held = get(&s, 1400, 0, &gen);
    assert_int_equal(p.calls, 2);
    llmgw_jwks_unref(held);
    held = get(&s, 1600, 0, &gen);
    assert_int_equal(p.calls, 3);
    assert_int_equal(gen, 2);
    assert_string_equal(held->keys[0].kid, "b");
    /* a holder keeps its set alive after the source moved on */
    p.doc = doc_a;
    k = get(&s, 1900, 0, &gen);
    assert_int_equal(gen, 3);
    assert_string_equal(k->keys[0].kid, "a");
    assert_string_equal(held->keys[0].kid, "b");
    llmgw_jwks_unref(held);
    llmgw_jwks_unref(k);
    assert_int_equal(s.fetches, 4);
    llmgw_jwks_source_destroy(&s);
}

typedef struct {
    int n, level;
    char last[512];
} logbook;

static void capture(void *ctx, int level, const char *uri, const char *msg)
{
    logbook *b = ctx;
    b->n++;
    b->level = level;
    snprintf(b->last, sizeof b->last, "%s: %s", uri, msg);
}

static void test_failure_keeps_last_good_set(void **state)
{
    idp p = {doc_a, 0, 0};
    llmgw_jwks_source s;
    logbook book = {0};
    uint64_t gen;
    llmgw_jwks_source_init(&s, "test:", 100, fake_fetch, &p);
    s.log = capture;
    s.log_ctx = &book;
    llmgw_jwks_unref(get(&s, 0, 0, &gen));
    assert_int_equal(book.n, 1);
    assert_int_equal(book.level, 0);
    assert_string_equal(book.last, "test:: key set loaded: 1 keys");
    p.doc = NULL;                         /* the IdP goes down */
    llmgw_jwks *k = get(&s, 100, 0, &gen);
    assert_non_null(k);
    assert_int_equal(gen, 1);
    assert_int_equal(p.calls, 2);
    assert_int_equal(book.level, 1);
    assert_string_equal(book.last, "test:: key set not refreshed, keeping the last good one: "
                        "connection refused");
    llmgw_jwks_unref(k);
    k = get(&s, 129, 0, &gen);            /* retry waits min(refresh, 30) */
    llmgw_jwks_unref(k);
    assert_int_equal(p.calls, 2);
    k = get(&s, 130, 0, &gen);
    assert_non_null(k);
    llmgw_jwks_unref(k);
    assert_int_equal(p.calls, 3);
    /* a broken document is a failure too: it never replaces the good set */
    p.doc = "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}";
    k = get(&s, 160, 0, &gen);
    assert_non_null(k);
    assert_int_equal(gen, 1);
    llmgw_jwks_unref(k);
    assert_int_equal(s.failures, 3);
    llmgw_jwks_source_destroy(&s);
}

static void test_no_set_while_down(void **state)
{
    idp p = {NULL, 0, 0};
    llmgw_jwks_source s;
    uint64_t gen;
    llmgw_jwks_source_init(&s, "test:", 10, fake_fetch, &p);
    assert_null(get(&s, 0, 0, &gen));
    assert_int_equal(gen, 0);
    assert_null(get(&s, 5, 0, &gen));      /* no hammering: retry after 10 s */
    assert_int_equal(p.calls, 1);
    p.doc = doc_a;
    llmgw_jwks *k = get(&s, 10, 0, &gen);
    assert_non_null(k);
    llmgw_jwks_unref(k);
    llmgw_jwks_source_destroy(&s);
}

static void test_unknown_kid_cooldown(void **state)
{
    idp p = {doc_a, 0, 0};
    llmgw_jwks_source s;
    uint64_t gen;
    llmgw_jwks_source_init(&s, "test:", 300, fake_fetch, &p);
    llmgw_jwks_unref(get(&s, 1000, 0, &gen));
    p.doc = doc_b;
    llmgw_jwks *k = get(&s, 1001, 1, &gen);     /* first unknown kid: fetch now */
    assert_int_equal(p.calls, 2);
    assert_int_equal(gen, 2);
    llmgw_jwks_unref(k);
    for (int t = 1002; t < 1061; t += 7)        /* random kids: no further fetch */
        llmgw_jwks_unref(get(&s, t, 1, &gen));
    assert_int_equal(p.calls, 2);
    llmgw_jwks_unref(get(&s, 1061, 1, &gen));  /* a minute later: allowed again */
    assert_int_equal(p.calls, 3);
    /* installing a set from configuration time schedules the next refresh */
    char note[128];
    llmgw_jwks_source_install(&s, llmgw_jwks_parse(doc_a, strlen(doc_a), note, sizeof note),
                              2000);
    assert_int_equal(llmgw_jwks_source_gen(&s), 3);
    llmgw_jwks_unref(get(&s, 2299, 0, &gen));
    assert_int_equal(p.calls, 3);
    llmgw_jwks_source_destroy(&s);
}

typedef struct {
    llmgw_jwks_source *s;
    int64_t now;
    double ms;
    int got;
} racer;

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *race(void *arg)
{
    racer *r = arg;
    uint64_t gen;
    double t0 = mono_ms();
    llmgw_jwks *k = llmgw_jwks_source_acquire(r->s, r->now, 0, &gen);
    r->ms = mono_ms() - t0;
    r->got = k != NULL;
    llmgw_jwks_unref(k);
    return NULL;
}

static void run_racers(llmgw_jwks_source *s, int64_t now, racer *r, int n)
{
    pthread_t t[8];
    for (int i = 0; i < n; i++) {
        r[i] = (racer){s, now, 0, 0};
        pthread_create(&t[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

static void test_concurrent_refresh_one_fetch_nobody_waits(void **state)
{
    idp p = {doc_a, 0, 0};
    llmgw_jwks_source s;
    racer r[8];
    llmgw_jwks_source_init(&s, "test:", 60, fake_fetch, &p);
    /* no set yet: everyone waits for the single first fetch and gets its result */
    p.delay_ms = 200;
    run_racers(&s, 0, r, 8);
    assert_int_equal(p.calls, 1);
    for (int i = 0; i < 8; i++)
        assert_true(r[i].got);
    /* a set exists and is due: one request fetches (slowly), the rest do not wait */
    p.delay_ms = 400;
    run_racers(&s, 60, r, 8);
    assert_int_equal(p.calls, 2);
    int waited = 0, quick = 0;
    for (int i = 0; i < 8; i++) {
        assert_true(r[i].got);
        waited += r[i].ms >= 350;
        quick += r[i].ms < 100;
    }
    assert_int_equal(waited, 1);
    assert_int_equal(quick, 7);
    llmgw_jwks_source_destroy(&s);
}

/* ---- retrieval -------------------------------------------------------------------------- */

static void test_uri_rules(void **state)
{
    assert_null(llmgw_fetch_uri_check("https://idp.example/.well-known/jwks.json"));
    assert_null(llmgw_fetch_uri_check("HTTPS://idp.example"));
    assert_null(llmgw_fetch_uri_check("file:/etc/llmgw/jwks.json"));
    assert_null(llmgw_fetch_uri_check("http://127.0.0.1:8080/jwks"));
    assert_null(llmgw_fetch_uri_check("http://localhost/jwks"));
    assert_null(llmgw_fetch_uri_check("http://[::1]:9/jwks"));
    assert_non_null(llmgw_fetch_uri_check("http://idp.example/jwks"));
    assert_non_null(llmgw_fetch_uri_check("http://localhost.evil.example/jwks"));
    assert_non_null(llmgw_fetch_uri_check("http://127.0.0.1.nip.io/jwks"));
    assert_non_null(llmgw_fetch_uri_check("http://10.0.0.1/jwks"));
    assert_non_null(llmgw_fetch_uri_check("https://user:pw@idp.example/jwks"));
    assert_non_null(llmgw_fetch_uri_check("http://127.0.0.1@evil.example/"));
    assert_non_null(llmgw_fetch_uri_check("https:///jwks"));
    assert_non_null(llmgw_fetch_uri_check("https://idp.example/jwks#frag"));
    assert_non_null(llmgw_fetch_uri_check("ftp://idp.example/jwks"));
    assert_non_null(llmgw_fetch_uri_check("file:relative/path"));
    assert_non_null(llmgw_fetch_uri_check("/etc/jwks.json"));
}

static void test_file_fetch(void **state)
{
    char path[] = "/tmp/llmgw-jwks-XXXXXX", uri[64], *body, err[256];
    size_t len;
    int fd = mkstemp(path);
    assert_true(write(fd, doc_a, strlen(doc_a)) == (ssize_t)strlen(doc_a));
    close(fd);
    snprintf(uri, sizeof uri, "file:%s", path);
    assert_int_equal(llmgw_fetch(uri, 1 << 20, 1000, &body, &len, err, sizeof err), 0);
    assert_int_equal(len, strlen(doc_a));
    assert_string_equal(body, doc_a);
    free(body);
    assert_int_equal(llmgw_fetch(uri, 10, 1000, &body, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "larger than"));
    unlink(path);
    assert_int_equal(llmgw_fetch(uri, 1 << 20, 1000, &body, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot read"));
    assert_int_equal(llmgw_fetch("file:/tmp", 1 << 20, 1000, &body, &len, err, sizeof err), -1);
    assert_int_equal(llmgw_fetch("http://example.com/", 1 << 20, 1000, &body, &len, err,
                                 sizeof err), -1);
    assert_non_null(strstr(err, "only allowed to 127.0.0.1"));
}

/* A one-connection-at-a-time HTTP server answering by path:
 *   /ok → 200 doc_a   /big → 200 with 64 KiB   /moved → 302 to /ok   /slow → nothing */
typedef struct {
    int fd;
    int port;
    pthread_t thread;
    volatile int stop;
} server;

static void *serve(void *arg)
{
    server *sv = arg;
    while (!sv->stop) {
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0)
            continue;
        char req[2048] = "";
        ssize_t n = read(c, req, sizeof req - 1);
        req[n > 0 ? n : 0] = '\0';
        char head[512];
        const char *body = "";
        char *big = NULL;
        if (!strncmp(req, "GET /ok ", 8)) {
            body = doc_a;
            snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", strlen(body));
        } else if (!strncmp(req, "GET /big ", 9)) {
            big = malloc(65536 + 1);
            memset(big, ' ', 65536);
            big[65536] = '\0';
            body = big;
            snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        } else if (!strncmp(req, "GET /moved ", 11)) {
            snprintf(head, sizeof head, "HTTP/1.1 302 Found\r\nLocation: /ok\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
        } else if (!strncmp(req, "GET /slow ", 10)) {
            usleep(800 * 1000);
            close(c);
            continue;
        } else {
            snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
        }
        if (write(c, head, strlen(head)) < 0 || write(c, body, strlen(body)) < 0)
            (void)0;
        free(big);
        close(c);
    }
    return NULL;
}

static int start_server(void **state)
{
    server *sv = calloc(1, sizeof *sv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    sv->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {0, 100000};
    setsockopt(sv->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);   /* accept wakes to stop */
    if (bind(sv->fd, (struct sockaddr *)&a, sizeof a) || listen(sv->fd, 8) ||
        getsockname(sv->fd, (struct sockaddr *)&a, &al))
        return -1;
    sv->port = ntohs(a.sin_port);
    pthread_create(&sv->thread, NULL, serve, sv);
    *state = sv;
    return llmgw_fetch_global_init();
}

static int stop_server(void **state)
{
    server *sv = *state;
    sv->stop = 1;
    pthread_join(sv->thread, NULL);
    close(sv->fd);
    free(sv);
    return 0;
}

static int fetch_path(server *sv, const char *path, long ms, char **body, size_t *len,
                      char *err)
{
    char uri[128];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d%s", sv->port, path);
    return llmgw_fetch(uri, 4096, ms, body, len, err, 256);
}

static void test_http_fetch(void **state)
{
    server *sv = *state;
    char *body = NULL, err[256];
    size_t len;
    assert_int_equal(fetch_path(sv, "/ok", 3000, &body, &len, err), 0);
    assert_string_equal(body, doc_a);
    free(body);
    assert_int_equal(fetch_path(sv, "/missing", 3000, &body, &len, err), -1);
    assert_string_equal(err, "HTTP status 404");
    assert_int_equal(fetch_path(sv, "/moved", 3000, &body, &len, err), -1);
    assert_string_equal(err, "HTTP status 302");
    assert_int_equal(fetch_path(sv, "/big", 3000, &body, &len, err), -1);
    assert_non_null(strstr(err, "larger than 4096"));
    double t0 = mono_ms();
    assert_int_equal(fetch_path(sv, "/slow", 300, &body, &len, err), -1);
    assert_true(mono_ms() - t0 < 700);
    assert_non_null(strstr(err, "imeout"));
}

static void test_http_refused(void **state)
{
    char *body, err[256];
    size_t len;
    /* a port nothing listens on (bound, never listened) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    char uri[64];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/jwks", ntohs(a.sin_port));
    assert_int_equal(llmgw_fetch(uri, 4096, 1000, &body, &len, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest schedule[] = {
        cmocka_unit_test(test_first_fetch_and_schedule),
        cmocka_unit_test(test_failure_keeps_last_good_set),
        cmocka_unit_test(test_no_set_while_down),
        cmocka_unit_test(test_unknown_kid_cooldown),
        cmocka_unit_test(test_concurrent_refresh_one_fetch_nobody_waits),
        cmocka_unit_test(test_uri_rules),
        cmocka_unit_test(test_file_fetch),
    };
    const struct CMUnitTest http[] = {
        cmocka_unit_test(test_http_fetch),
        cmocka_unit_test(test_http_refused),
    };
    int failed = cmocka_run_group_tests_name("schedule", schedule, setup_docs, teardown_docs);
    setup_docs(NULL);
    failed += cmocka_run_group_tests_name("http", http, start_server, stop_server);
    teardown_docs(NULL);
    return failed;
}
