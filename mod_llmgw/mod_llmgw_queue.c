/* mod_llmgw_queue.c — per-child record queue and sender thread. Requests copy their
 * record into a fixed byte ring under a mutex held only for the copy; the sender
 * thread batches lines, posts them to llmgw-auditd over FastCGI (SPEC §7) and, while
 * auditd or PostgreSQL is unreachable, writes the batches to the spool and replays the
 * spool once delivery works again. At child exit the queue is drained (sent or
 * spooled) before the pools go away, so restarts and recycling lose nothing. */
#include "mod_llmgw.h"
#include "mod_llmgw_queue.h"
#include "mod_llmgw_spool.h"

#include "ap_mpm.h"
#include "apr_strings.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"

#include "llmgw_fcgi.h"

#include <jansson.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define TICK            apr_time_from_msec(100)   /* longest a record waits in the queue */
#define SEND_TIMEOUT_S  10
#define RETRY_EVERY     apr_time_from_sec(1)
#define SPOOL_SCAN      apr_time_from_sec(5)
#define ANSWER_MAX      65536
#define BATCH_MAX       (1024 * 1024)

typedef struct {
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *cv;
    char *ring;
    apr_size_t cap, head, len;      /* bytes [head, head+len) mod cap are queued */
    apr_size_t batch_max;
    apr_size_t flush_at;            /* queued bytes worth a post at once */
    int stop;
    /* sender thread only */
    char *batch, *fcgi_buf, *answer;
    apr_size_t fcgi_cap;
    const char *target, *spool;
    apr_off_t spool_max;
    apr_time_t retry_at, scan_at, send_at;
    int healthy;
    server_rec *s;
    apr_thread_t *thread;
} llmgw_queue;

static llmgw_queue *queue;      /* this child's; NULL in the parent */

static apr_uint64_t records_lost;
static apr_time_t lost_logged_at;

static apr_uint64_t count_lines(const char *d, apr_size_t n)
{
    apr_uint64_t k = 0;
    for (const char *p = d, *e = d + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
        k++;
    return k;
}

/* A lost record is logged with a running count, at most every ten seconds, so a long
 * outage with a full spool cannot flood the error log. */
static void spool_or_drop(const char *data, apr_size_t len, const char *why)
{
    apr_status_t rv = queue->spool ? llmgw_spool_write(queue->spool, data, len, queue->spool_max)
                                   : APR_ENOENT;
    if (rv == APR_SUCCESS) {
        llmgw_metrics_audit_spooled(data, len, +1);
        return;
    }
    apr_uint64_t total = __atomic_add_fetch(&records_lost, count_lines(data, len),
                                            __ATOMIC_RELAXED);
    apr_time_t now = apr_time_now(), last = __atomic_load_n(&lost_logged_at, __ATOMIC_RELAXED);
    if (now - last < apr_time_from_sec(10) ||
        !__atomic_compare_exchange_n(&lost_logged_at, &last, now, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return;
    ap_log_error(APLOG_MARK, APLOG_ERR, rv, queue->s,
                 "llmgw: %s and the spool %s %s: %" APR_UINT64_T_FMT " usage records lost "
                 "by this process so far", why, queue->spool ? queue->spool : "(none)",
                 rv == APR_ENOSPC ? "is full" : "is unavailable", total);
}

void llmgw_queue_push(const char *line, apr_size_t len)
{
    llmgw_queue *qu = queue;
    if (!qu)
        return;
    apr_thread_mutex_lock(qu->mu);
    if (qu->len + len > qu->cap || qu->stop) {
        apr_thread_mutex_unlock(qu->mu);
        spool_or_drop(line, len, "record queue full");
        return;
    }
    apr_size_t tail = (qu->head + qu->len) % qu->cap;
    apr_size_t first = len < qu->cap - tail ? len : qu->cap - tail;
    memcpy(qu->ring + tail, line, first);
    memcpy(qu->ring, line + first, len - first);
    qu->len += len;
    if (qu->len >= qu->flush_at && qu->len - len < qu->flush_at)
        apr_thread_cond_signal(qu->cv);
    apr_thread_mutex_unlock(qu->mu);
}

/* Takes whole lines, at most batch_max bytes, out of the ring. Caller holds mu, which
 * every request's push waits for: two memcpy, not a division per byte. */
static apr_size_t take_batch(llmgw_queue *qu)
{
    apr_size_t n = qu->len < qu->batch_max ? qu->len : qu->batch_max;
    apr_size_t first = n < qu->cap - qu->head ? n : qu->cap - qu->head;
    memcpy(qu->batch, qu->ring + qu->head, first);
    memcpy(qu->batch + first, qu->ring, n - first);
    while (n && qu->batch[n - 1] != '\n')
        n--;
    qu->head = (qu->head + n) % qu->cap;
    qu->len -= n;
    return n;
}

static int connect_target(const char *target)
{
    int fd = -1;
    struct timeval tv = {SEND_TIMEOUT_S, 0};
    if (!strncmp(target, "unix:", 5)) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(target + 5) >= sizeof sa.sun_path)
            return -1;
        strcpy(sa.sun_path, target + 5);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        close(fd);
        return -1;
    }
    char host[256];
    const char *hp = target + 4, *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof host)
        return -1;
    snprintf(host, sizeof host, "%.*s", (int)(colon - hp), hp);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        /* on Linux SO_SNDTIMEO also bounds connect() */
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int send_all(int fd, const char *d, apr_size_t n)
{
    while (n) {
        ssize_t w = send(fd, d, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        d += w;
        n -= (apr_size_t)w;
    }
    return 0;
}

/* Reads auditd's answer; returns the HTTP status or -1 on a transport failure. */
static int read_answer(llmgw_queue *qu, int fd, const char **body, apr_size_t *blen)
{
    llmgw_fcgi_reader rd;
    unsigned char buf[8192];
    llmgw_fcgi_reader_init(&rd, 1, qu->answer, ANSWER_MAX);
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        int st = llmgw_fcgi_reader_feed(&rd, buf, (size_t)r);
        if (st < 0)
            return -1;
        if (st == 1)
            return llmgw_fcgi_cgi_response(rd.out, rd.out_len, body, blen);
    }
}

/* auditd stores a batch but refuses records it cannot decode; those would never
 * succeed on a retry, so they are logged (with their reason) rather than resent. */
static void log_rejected(llmgw_queue *qu, const char *body, apr_size_t blen)
{
    json_error_t je;
    json_t *ans = body ? json_loadb(body, blen, 0, &je) : NULL;
    json_t *rej = json_object_get(ans, "rejected");
    size_t i;
    json_t *el;
    json_array_foreach(rej, i, el) {
        if (i == 5) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, qu->s, "llmgw: auditd rejected %zu more "
                         "records of this batch", json_array_size(rej) - 5);
            break;
        }
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, qu->s, "llmgw: auditd rejected record %s: %s",
                     json_string_value(json_object_get(el, "request_id")) ?: "(no id)",
                     json_string_value(json_object_get(el, "reason")) ?: "?");
    }
    json_decref(ans);
}

/* Posts one batch. 1: stored (or permanently refused, logged); 0: retry later. */
static int post_batch(llmgw_queue *qu, const char *data, apr_size_t len)
{
    char clen[32];
    snprintf(clen, sizeof clen, "%" APR_SIZE_T_FMT, len);
    const llmgw_fcgi_param params[] = {
        {"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/v1/records"},
        {"SCRIPT_NAME", "/v1/records"}, {"CONTENT_TYPE", "application/x-ndjson"},
        {"CONTENT_LENGTH", clen}, {"SERVER_PROTOCOL", "HTTP/1.1"},
        {"GATEWAY_INTERFACE", "CGI/1.1"},
    };
    size_t n = llmgw_fcgi_build_request(1, 0, params, 7, data, len,
                                        (unsigned char *)qu->fcgi_buf, qu->fcgi_cap);
    if (!n || !qu->target)
        return 0;
    int fd = connect_target(qu->target);
    if (fd < 0)
        return 0;
    const char *body = NULL;
    apr_size_t blen = 0;
    int status = send_all(fd, qu->fcgi_buf, n) < 0 ? -1 : read_answer(qu, fd, &body, &blen);
    close(fd);
    if (status == 200) {
        log_rejected(qu, body, blen);
        llmgw_metrics_audit_sent(data, len);
        return 1;
    }
    if (status >= 400 && status < 500) {
        /* auditd will never take this batch; keep it for the operator, do not retry */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, qu->s, "llmgw: auditd refused a batch with %d: "
                     "%.*s", status, (int)(blen > 300 ? 300 : blen), body ? body : "");
        return 1;
    }
    return 0;
}

static void deliver(llmgw_queue *qu, const char *data, apr_size_t len)
{
    apr_time_t now = apr_time_now();
    if (!qu->target) {      /* LLMGWAuditSpool without LLMGWAudit: the spool is the sink */
        spool_or_drop(data, len, "no LLMGWAudit is configured");
        return;
    }
    if ((qu->healthy || now >= qu->retry_at) && post_batch(qu, data, len)) {
        if (!qu->healthy)
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, qu->s, "llmgw: auditd reachable again");
        qu->healthy = 1;
        return;
    }
    if (qu->healthy)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, qu->s,
                     "llmgw: auditd at %s unreachable, spooling records", qu->target);
    qu->healthy = 0;
    qu->retry_at = now + RETRY_EVERY;
    spool_or_drop(data, len, "auditd unreachable");
}

static int queue_backlog(llmgw_queue *qu)
{
    apr_thread_mutex_lock(qu->mu);
    int busy = qu->len >= qu->flush_at;
    apr_thread_mutex_unlock(qu->mu);
    return busy;
}

/* Sends spooled batches while delivery works, for at most half a second so fresh
 * records are not held up. Returns 1 when files may remain and delivery works. */
static int replay_spool(llmgw_queue *qu)
{
    char path[PATH_MAX];
    apr_size_t len;
    if (!qu->spool || !qu->target || (!qu->healthy && apr_time_now() < qu->retry_at))
        return 0;
    apr_time_t until = apr_time_now() + apr_time_from_msec(500);
    while (llmgw_spool_claim(qu->spool, path, qu->batch, qu->batch_max, &len)) {
        if (!post_batch(qu, qu->batch, len)) {
            llmgw_spool_giveback(path);
            qu->healthy = 0;
            qu->retry_at = apr_time_now() + RETRY_EVERY;
            return 0;
        }
        llmgw_spool_done(qu->spool, path, len);
        llmgw_metrics_audit_spooled(qu->batch, len, -1);
        qu->healthy = 1;
        if (apr_time_now() >= until || queue_backlog(qu))
            return 1;
    }
    return 0;
}

/* Each post costs auditd and PostgreSQL a statement and a commit whatever its size, so
 * a partial batch leaves at most once a TICK: under load that makes a few large batches
 * where sending again as soon as a post returns made many small ones. A batch's worth
 * (flush_at) leaves at once. Returns after an idle TICK too, for the spool scan. Caller
 * holds mu. */
static void wait_for_batch(llmgw_queue *qu)
{
    apr_time_t now = apr_time_now();
    while (!qu->stop && qu->len < qu->flush_at) {
        apr_interval_time_t left = qu->len ? qu->send_at - now : TICK;
        if (left <= 0)
            return;
        if (apr_thread_cond_timedwait(qu->cv, qu->mu, left) == APR_TIMEUP && !qu->len)
            return;
        now = apr_time_now();
    }
}

static void *APR_THREAD_FUNC sender_main(apr_thread_t *t, void *data)
{
    llmgw_queue *qu = data;
    for (;;) {
        apr_thread_mutex_lock(qu->mu);
        wait_for_batch(qu);
        int stopping = qu->stop;
        apr_size_t n = take_batch(qu);
        apr_thread_mutex_unlock(qu->mu);
        if (n) {
            qu->send_at = apr_time_now() + TICK;
            deliver(qu, qu->batch, n);
        }
        else if (stopping)
            break;
        apr_time_t now = apr_time_now();
        if (!stopping && now >= qu->scan_at)
            qu->scan_at = replay_spool(qu) ? now : now + SPOOL_SCAN;
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static apr_status_t stop_sender(void *data)
{
    llmgw_queue *qu = data;
    apr_status_t rv;
    apr_thread_mutex_lock(qu->mu);
    qu->stop = 1;
    apr_thread_cond_signal(qu->cv);
    apr_thread_mutex_unlock(qu->mu);
    apr_thread_join(&rv, qu->thread);
    queue = NULL;
    return APR_SUCCESS;
}

/* Threaded MPMs get a bigger queue; prefork children serve one request at a time. */
static apr_size_t queue_bytes(void)
{
    int threads = 1;
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    apr_size_t n = (apr_size_t)(threads > 0 ? threads : 1) * 64 * 1024;
    return n < 256 * 1024 ? 256 * 1024 : n > 4 * 1024 * 1024 ? 4 * 1024 * 1024 : n;
}

void llmgw_queue_child_init(apr_pool_t *pchild, server_rec *s)
{
    const llmgw_srv_conf *sc = llmgw_srv(s);
    if (!sc->audit_target && !sc->spool_dir)
        return;             /* records are not kept (warned at startup) */
    llmgw_queue *qu = apr_pcalloc(pchild, sizeof *qu);
    qu->s = s;
    qu->target = sc->audit_target;
    qu->spool = sc->spool_dir;
    qu->spool_max = sc->spool_max ? sc->spool_max : LLMGW_DEFAULT_SPOOL_MAX;
    qu->cap = queue_bytes();
    /* one batch always holds the largest record (LLMGWAuditBodies), even when the
     * ring is smaller: such a record goes to the spool and is replayed from there */
    qu->batch_max = BATCH_MAX;
    qu->flush_at = (qu->cap < BATCH_MAX ? qu->cap : BATCH_MAX) / 2;
    qu->ring = apr_palloc(pchild, qu->cap);
    qu->batch = apr_palloc(pchild, qu->batch_max);
    qu->fcgi_cap = llmgw_fcgi_request_size(NULL, 0, qu->batch_max) + LLMGW_FCGI_MAX_PARAMS + 64;
    qu->fcgi_buf = apr_palloc(pchild, qu->fcgi_cap);
    /* Touched now rather than as batches grow: under load a batch reaches whatever the
     * sender finds queued, so the largest so far, and with it the child's memory, would
     * creep up for hours. These buffers live as long as the child. */
    memset(qu->batch, 0, qu->batch_max);
    memset(qu->fcgi_buf, 0, qu->fcgi_cap);
    qu->answer = apr_palloc(pchild, ANSWER_MAX);
    qu->healthy = 1;
    if (apr_thread_mutex_create(&qu->mu, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS ||
        apr_thread_cond_create(&qu->cv, pchild) != APR_SUCCESS ||
        apr_thread_create(&qu->thread, NULL, sender_main, qu, pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "llmgw: cannot start the record sender");
        return;
    }
    queue = qu;
    /* pre-cleanup: the thread must be joined before pchild's memory goes away */
    apr_pool_pre_cleanup_register(pchild, qu, stop_sender);
}
