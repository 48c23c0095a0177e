/* auditd.h — shared declarations of llmgw-auditd: options, logging, growable buffers,
 * listening sockets, the PostgreSQL layer and the FastCGI server. */
#ifndef AUDITD_H
#define AUDITD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* ---- growable byte buffer (auditd_util.c) -------------------------------------- */

typedef struct abuf {
    char *p;
    size_t len, cap;
} abuf;

void abuf_reserve(abuf *b, size_t extra);   /* aborts on out-of-memory */
void abuf_puts(abuf *b, const char *s);

/* In line: encoding a record puts some thirty short fields, and the call and the
 * reserve check per field were a tenth of llmgw-auditd's CPU. A buffer in use always
 * keeps a byte spare (for abuf_cstr), so len < cap. */
static inline void abuf_put(abuf *b, const void *data, size_t len)
{
    if (b->cap - b->len <= len)
        abuf_reserve(b, len);
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static inline void abuf_putc(abuf *b, char c)
{
    if (b->cap - b->len <= 1)
        abuf_reserve(b, 1);
    b->p[b->len++] = c;
}
void abuf_printf(abuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void abuf_free(abuf *b);
const char *abuf_cstr(abuf *b);             /* NUL-terminates without changing len */

/* ---- logging (auditd_util.c): one line per event on stderr ---------------------- */

extern int auditd_verbose;
void auditd_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_info(...)  auditd_log("info", __VA_ARGS__)
#define log_warn(...)  auditd_log("warn", __VA_ARGS__)
#define log_error(...) auditd_log("error", __VA_ARGS__)
#define log_debug(...) do { if (auditd_verbose) auditd_log("debug", __VA_ARGS__); } while (0)

int64_t auditd_now_ms(void);                /* monotonic clock */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

/* ---- options (llmgw_auditd.c) --------------------------------------------------- */

typedef struct auditd_options {
    const char *listen;        /* unix:PATH | tcp:HOST:PORT, NULL = none */
    const char *db;            /* libpq conninfo */
    const char *sql_dir;
    int threads;
    int migrate;
    int socket_mode;           /* -1 = leave as created (0660 default applied) */
    const char *socket_group;
    size_t max_body;
    int idle_timeout;          /* seconds a kept-alive connection may sit idle */
} auditd_options;

/* ---- listening socket (auditd_listen.c) ----------------------------------------- */

/* Returns a listening fd for spec (unix:PATH or tcp:HOST:PORT), or -1 after logging.
 * *unlink_path receives the socket path to remove at exit (unix only). */
int auditd_listen(const auditd_options *o, char **unlink_path);
/* Returns fd 3 when systemd passed a socket to this process, else -1. */
int auditd_systemd_fd(void);

/* ---- PostgreSQL (auditd_db.c) --------------------------------------------------- */

typedef struct auditd_db auditd_db;

typedef enum {
    DB_OK = 0,
    DB_UNAVAILABLE,   /* cannot reach the server: the client should retry later */
    DB_DATA,          /* the server refused the data itself (a record is at fault) */
    DB_ERROR          /* anything else: schema missing, permissions, bugs */
} auditd_db_rc;

auditd_db *auditd_db_new(const char *conninfo, int id);
void auditd_db_free(auditd_db *db);
/* Stores a batch of encoded rows (see auditd_encode.h) in one transaction, together with
 * the usage_daily rollup. months lists the partitions the rows need (year*12+month-1). */
auditd_db_rc auditd_db_store(auditd_db *db, const char *rows, size_t len,
                             const int *months, int nmonths, long *inserted,
                             char *err, size_t errcap);
int auditd_db_ping(auditd_db *db);          /* 1 when the database answers */
/* Creates the current and the next month's partitions; logs and returns -1 on failure. */
int auditd_db_startup(auditd_db *db);
/* Applies pending sql/NNN_*.sql files, each in its own transaction. 0 on success. */
int auditd_db_migrate(const char *conninfo, const char *dir);
/* Describes the server for logs without ever showing the password. */
void auditd_db_describe(const char *conninfo, char *buf, size_t cap);

/* ---- FastCGI server (auditd_server.c) ------------------------------------------- */

/* Serves until SIGTERM/SIGINT; returns the process exit code. */
int auditd_serve(const auditd_options *o, int listen_fd);

#endif
