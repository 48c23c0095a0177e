/* auditd_server.c — the FastCGI responder: worker threads around FCGX_Accept_r, request
 * routing, body reading, batch ingest and the JSON answers (SPEC §7), and the orderly
 * stop on SIGTERM/SIGINT that lets in-flight batches commit and answer. */
#include "auditd.h"
#include "auditd_decode.h"
#include "auditd_encode.h"

#include <errno.h>
#include <fcgiapp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK      65536
#define DRAIN_MAX       (1024L * 1024 * 1024)
#define STOP_GRACE_MS   30000
#define KEEP_BUFFER     (4 * 1024 * 1024)   /* bytes a worker keeps between requests */
#define MONTHS_MAX      ((AUDITD_MAX_YEAR - AUDITD_MIN_YEAR + 1) * 12)

typedef struct rowmeta {
    long line;
    size_t off, len;       /* the row inside worker.rows */
    size_t id_off;         /* its request_id inside worker.ids */
    int month;
} rowmeta;

typedef struct worker {
    int id;
    pthread_t tid;
    const auditd_options *o;
    FCGX_Request req;
    auditd_db *db;
    abuf body, rows, ids;  /* reused from request to request */
    rowmeta *meta;
    size_t nmeta, capmeta;
} worker;

typedef struct batch {
    json_t *rejected;
    long valid, accepted, duplicates;
    int months[MONTHS_MAX];
    int nmonths;
} batch;

/* Workers may still sit in accept() when the process exits; they and their buffers
 * stay reachable from here until then. */
static worker *workers;
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static int busy, closed, stopping;   /* state_lock; stopping is also read atomically */

/* ---- answers ---------------------------------------------------------------------- */

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/* Sends status and a JSON body; takes ownership of body. */
static void reply_json(worker *w, int status, json_t *body, const char *extra_headers)
{
    char head[512];
    char *text = json_dumps(body, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    int n = snprintf(head, sizeof head,
                     "Status: %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s\r\n",
                     status, status_text(status), len + 1, extra_headers ? extra_headers : "");
    FCGX_PutStr(head, n, w->req.out);
    if (text) FCGX_PutStr(text, (int)len, w->req.out);
    FCGX_PutStr("\n", 1, w->req.out);
    free(text);
    json_decref(body);
}

static void reply_error(worker *w, int status, const char *message, const char *extra)
{
    reply_json(w, status, json_pack("{s:s}", "error", message), extra);
}

/* ---- request plumbing --------------------------------------------------------------- */

static const char *param(worker *w, const char *name)
{
    return FCGX_GetParam(name, w->req.envp);
}

/* Clients name the script differently (REQUEST_URI from mod_proxy_fcgi, DOCUMENT_URI or
 * SCRIPT_NAME from others); any of them naming the path is enough. */
static int path_is(worker *w, const char *path)
{
    const char *uri = param(w, "REQUEST_URI"), *doc = param(w, "DOCUMENT_URI");
    const char *script = param(w, "SCRIPT_NAME");
    size_t n = strlen(path);
    if (uri && !strncmp(uri, path, n) && (uri[n] == '\0' || uri[n] == '?')) return 1;
    if (doc && !strcmp(doc, path)) return 1;
    if (script && !strcmp(script, path)) return 1;
    return !uri && !doc && !script && !strcmp(path, "/v1/records");
}

/* Reads and throws away the rest of the body so the connection stays usable. */
static void drain(worker *w)
{
    char scratch[READ_CHUNK];
    long total = 0;
    int n;
    while ((n = FCGX_GetStr(scratch, sizeof scratch, w->req.in)) > 0)
        if ((total += n) > DRAIN_MAX) break;
    if (n > 0 || FCGX_GetError(w->req.in)) w->req.keepConnection = 0;
}

/* Returns 0 with the body in w->body, 413 when over the cap, -1 when the client broke
 * off (nothing can be answered then). */
static int read_body(worker *w)
{
    const char *cl = param(w, "CONTENT_LENGTH");
    long long declared = cl && *cl ? atoll(cl) : -1;
    size_t max = w->o->max_body;

    w->body.len = 0;
    if (declared > (long long)max) {
        drain(w);
        return 413;
    }
    for (;;) {
        abuf_reserve(&w->body, READ_CHUNK);
        int n = FCGX_GetStr(w->body.p + w->body.len, READ_CHUNK, w->req.in);
        if (n <= 0) break;
        w->body.len += (size_t)n;
        if (w->body.len > max) {
            drain(w);
            return 413;
        }
    }
    if (FCGX_GetError(w->req.in)) return -1;
    if (declared >= 0 && (size_t)declared != w->body.len) return 400;
    return 0;
}

/* ---- a batch ---------------------------------------------------------------------- */

static void add_month(batch *b, int month)
{
    for (int i = 0; i < b->nmonths; i++)
        if (b->months[i] == month) return;
    if (b->nmonths < MONTHS_MAX) b->months[b->nmonths++] = month;
}

static void reject(batch *b, long line, const char *request_id, const char *reason)
{
    json_array_append_new(b->rejected, json_pack("{s:I,s:s?,s:s}", "line", (json_int_t)line,
                                                 "request_id", request_id, "reason", reason));
}

static void keep_row(worker *w, long line, size_t off, const auditd_record *rec)
{
    if (w->nmeta == w->capmeta) {
        w->capmeta = w->capmeta ? w->capmeta * 2 : 1024;
        rowmeta *m = realloc(w->meta, w->capmeta * sizeof *m);
        if (!m) abort();
        w->meta = m;
    }
    rowmeta *m = &w->meta[w->nmeta++];
    m->line = line;
    m->off = off;
    m->len = w->rows.len - off;
    m->month = rec->month;
    m->id_off = w->ids.len;
    abuf_put(&w->ids, rec->request_id, strlen(rec->request_id) + 1);
}

static void decode_line(worker *w, batch *b, long lineno, const char *line, size_t len)
{
    auditd_record rec;
    char reason[AUDITD_REASON_MAX];

    if (auditd_decode(line, len, &rec, reason, sizeof reason) == 0) {
        size_t off = w->rows.len;
        auditd_encode_row(&rec, &w->rows);
        keep_row(w, lineno, off, &rec);
        add_month(b, rec.month);
        b->valid++;
    } else {
        reject(b, lineno, rec.request_id, reason);
    }
    auditd_record_free(&rec);
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

static void decode_body(worker *w, batch *b)
{
    const char *p = w->body.p, *end = w->body.p + w->body.len;
    long lineno = 0;

    w->rows.len = w->ids.len = w->nmeta = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t len = (size_t)(eol - p);
        lineno++;
        if (len && p[len - 1] == '\r') len--;
        if (!blank(p, len)) decode_line(w, b, lineno, p, len);
        p = eol + 1;
    }
}

/* The database refused something in the batch that validation let through (say a
 * character the database encoding cannot hold). Storing the rows one by one finds the
 * culprits, rejects them, and keeps the rest. */
static auditd_db_rc store_one_by_one(worker *w, batch *b, char *err, size_t cap)
{
    for (size_t i = 0; i < w->nmeta; i++) {
        rowmeta *m = &w->meta[i];
        long inserted = 0;
        auditd_db_rc rc = auditd_db_store(w->db, w->rows.p + m->off, m->len, &m->month, 1,
                                          &inserted, err, cap);
        if (rc == DB_DATA) {
            reject(b, m->line, w->ids.p + m->id_off, err);
            continue;
        }
        if (rc != DB_OK) return rc;
        b->accepted += inserted;
        b->duplicates += 1 - inserted;
    }
    return DB_OK;
}

static auditd_db_rc store(worker *w, batch *b, char *err, size_t cap)
{
    long inserted = 0;
    if (b->valid == 0) return DB_OK;
    auditd_db_rc rc = auditd_db_store(w->db, w->rows.p, w->rows.len, b->months, b->nmonths,
                                      &inserted, err, cap);
    if (rc == DB_OK) {
        b->accepted = inserted;
        b->duplicates = b->valid - inserted;
    } else if (rc == DB_DATA) {
        log_warn("worker %d: batch refused (%s); storing its records one by one", w->id, err);
        rc = store_one_by_one(w, b, err, cap);
    }
    return rc;
}

static void log_batch(worker *w, const batch *b)
{
    size_t nrej = json_array_size(b->rejected);
    if (nrej == 0) {
        log_debug("worker %d: %ld accepted, %ld duplicates", w->id, b->accepted, b->duplicates);
        return;
    }
    json_t *first = json_array_get(b->rejected, 0);
    log_warn("worker %d: %ld accepted, %ld duplicates, %zu rejected (first: line %lld: %s)",
             w->id, b->accepted, b->duplicates, nrej,
             (long long)json_integer_value(json_object_get(first, "line")),
             json_string_value(json_object_get(first, "reason")));
}

static void handle_records(worker *w)
{
    char err[1024];
    batch *b = xcalloc(1, sizeof *b);   /* the month list makes it too big for a stack */
    int rc = read_body(w);

    if (rc == -1) {
        w->req.keepConnection = 0;
    } else if (rc == 413) {
        reply_error(w, 413, "body larger than --max-body", NULL);
    } else if (rc == 400) {
        reply_error(w, 400, "body length differs from CONTENT_LENGTH", NULL);
    } else {
        b->rejected = json_array();
        decode_body(w, b);
        auditd_db_rc st = store(w, b, err, sizeof err);
        if (st == DB_OK) {
            log_batch(w, b);
            reply_json(w, 200, json_pack("{s:I,s:I,s:O}", "accepted", (json_int_t)b->accepted,
                                         "duplicates", (json_int_t)b->duplicates,
                                         "rejected", b->rejected), NULL);
        } else {
            log_error("worker %d: batch of %ld records not stored: %s", w->id, b->valid, err);
            if (st == DB_UNAVAILABLE)
                reply_json(w, 503, json_pack("{s:s,s:s}", "error", "database unavailable",
                                             "detail", err), "Retry-After: 5\r\n");
            else
                reply_error(w, 500, err, NULL);
        }
        json_decref(b->rejected);
    }
    free(b);
}

/* A rare huge batch should not pin its buffers in every worker for good. */
static void shrink(worker *w)
{
    if (w->body.cap > KEEP_BUFFER) abuf_free(&w->body);
    if (w->rows.cap > KEEP_BUFFER) abuf_free(&w->rows);
    if (w->ids.cap > KEEP_BUFFER / 16) abuf_free(&w->ids);
    if (w->capmeta * sizeof *w->meta > KEEP_BUFFER / 4) {
        free(w->meta);
        w->meta = NULL;
        w->capmeta = 0;
    }
}

static void handle_health(worker *w)
{
    int up = auditd_db_ping(w->db);
    reply_json(w, up ? 200 : 503, json_pack("{s:s,s:s}", "status", up ? "ok" : "degraded",
                                            "database", up ? "up" : "down"), NULL);
}

static void handle(worker *w)
{
    const char *method = param(w, "REQUEST_METHOD");
    if (!method) method = "";

    if (path_is(w, "/v1/records")) {
        if (!strcmp(method, "POST")) {
            handle_records(w);
            return;
        }
        drain(w);
        reply_error(w, 405, "use POST", "Allow: POST\r\n");
    } else if (path_is(w, "/v1/health") || path_is(w, "/healthz")) {
        drain(w);
        if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) handle_health(w);
        else reply_error(w, 405, "use GET", "Allow: GET, HEAD\r\n");
    } else {
        drain(w);
        reply_error(w, 404, "not found", NULL);
    }
}

/* ---- threads ------------------------------------------------------------------------ */

static int begin_request(void)
{
    pthread_mutex_lock(&state_lock);
    int ok = !closed;
    busy += ok;
    pthread_mutex_unlock(&state_lock);
    return ok;
}

static void end_request(void)
{
    pthread_mutex_lock(&state_lock);
    busy--;
    pthread_mutex_unlock(&state_lock);
}

/* libfcgi serves one connection per thread and waits on a kept-alive one for its next
 * request, so an idle client would hold a worker forever: time its reads out. */
static void tune_connection(int fd, int idle_seconds)
{
    struct timeval tv = {.tv_sec = idle_seconds};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   /* fails on unix: fine */
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (;;) {
        /* ipcFd is libfcgi-internal, but it is the only way to know whether this call
         * will accept (serialised, as libfcgi's threaded example does) or read the next
         * request of a kept-alive connection (must not block the other workers). */
        int fresh = w->req.ipcFd < 0;
        if (fresh) pthread_mutex_lock(&accept_lock);
        int rc = FCGX_Accept_r(&w->req);
        if (fresh) pthread_mutex_unlock(&accept_lock);
        if (rc < 0) {
            if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) break;
            log_warn("worker %d: accept failed: %s", w->id, strerror(-rc));
            usleep(100000);
            continue;
        }
        if (!begin_request()) {
            w->req.keepConnection = 0;
            FCGX_Finish_r(&w->req);
            break;
        }
        tune_connection(w->req.ipcFd, w->o->idle_timeout);
        handle(w);
        shrink(w);
        if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
            w->req.keepConnection = 0;   /* send the client on to our successor */
        FCGX_Finish_r(&w->req);
        end_request();
    }
    return NULL;
}

static void start_workers(const auditd_options *o, int listen_fd, auditd_db *first)
{
    worker *ws = workers = xcalloc((size_t)o->threads, sizeof *ws);
    for (int i = 0; i < o->threads; i++) {
        worker *w = &ws[i];
        w->id = i;
        w->o = o;
        w->db = i == 0 ? first : auditd_db_new(o->db, i);
        FCGX_InitRequest(&w->req, listen_fd, 0);
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            log_error("cannot start worker thread %d", i);
            exit(1);
        }
        pthread_detach(w->tid);
    }
}

/* Stops taking requests, waits for the in-flight ones to answer, then closes. A socket
 * systemd passed in is left alone: shutdown() would break it for systemd itself, which
 * keeps listening on it for our successor; workers blocked in accept() on it simply end
 * with the process. */
static void stop(int listen_fd, int own_socket, int n)
{
    worker *ws = workers;
    int64_t deadline = auditd_now_ms() + STOP_GRACE_MS;
    int left;
    __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
    FCGX_ShutdownPending();
    if (own_socket)
        shutdown(listen_fd, SHUT_RDWR);   /* wakes workers blocked in accept() */
    for (;;) {
        pthread_mutex_lock(&state_lock);
        int idle = busy == 0 || auditd_now_ms() > deadline;
        if (idle) closed = 1;
        left = busy;
        pthread_mutex_unlock(&state_lock);
        if (idle) {
            if (left) log_warn("%d requests still running after %d s; exiting anyway", left, STOP_GRACE_MS / 1000);
            break;
        }
        usleep(20000);
    }
    /* No worker touches its connection once closed is set and none is busy. */
    for (int i = 0; i < n && !left; i++) {
        auditd_db_free(ws[i].db);
        ws[i].db = NULL;
    }
}

int auditd_serve(const auditd_options *o, int listen_fd)
{
    sigset_t set;
    int sig;

    /* Workers inherit the blocked set; only sigwait() below sees these signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    json_object_seed(0);   /* jansson's hash seed, chosen once before threads race for it */
    if (FCGX_Init() != 0) {
        log_error("FCGX_Init failed");
        return 1;
    }
    auditd_db *first = auditd_db_new(o->db, 0);
    if (auditd_db_startup(first) != 0)
        log_warn("database not ready at start; batches get 503 until it is");
    start_workers(o, listen_fd, first);
    log_info("serving %s with %d threads (max body %zu bytes)",
             o->listen ? o->listen : "the socket passed by systemd", o->threads, o->max_body);

    sigwait(&set, &sig);
    log_info("%s received: finishing in-flight requests", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    stop(listen_fd, o->listen != NULL, o->threads);
    log_info("stopped");
    return 0;
}
