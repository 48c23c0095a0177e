/* mod_llmgw_spool.c — spool files for records auditd could not take yet. Names sort by
 * time: "<ms>-<pid>-<seq>.ndjson"; a claimed file is renamed "<name>.<pid>.sending" and
 * a claim whose process died is given back on the next scan. */
#include "mod_llmgw.h"
#include "mod_llmgw_spool.h"

#include "apr_shm.h"
#include "apr_strings.h"
#include "mpm_common.h"
#include "unixd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUFFIX ".ndjson"
#define CLAIM ".sending"

#define SPOOLS_MAX 8              /* distinct spool directories (one per server at most) */
#define RESYNC_EVERY apr_time_from_sec(10)

static unsigned long spool_seq;

/* Bytes in a spool, shared by every child: a batch reserves its size before it is
 * written, so children writing at once cannot overshoot the cap together (a count per
 * process would let each fill the spool up to it). Recounted from the directory every
 * few seconds, so files an operator removes are noticed. */
typedef struct {
    apr_int64_t bytes;
    apr_time_t counted;
} spool_total;

static struct {
    const char *dir;
    spool_total *t;
} spools[SPOOLS_MAX];

static apr_int64_t measure(const char *dir);

static spool_total *total_of(const char *dir)
{
    for (int i = 0; i < SPOOLS_MAX && spools[i].dir; i++)
        if (!strcmp(spools[i].dir, dir))
            return spools[i].t;
    return NULL;
}


/* post_config, in the parent: anonymous shared memory the children inherit. */
static void share_total(apr_pool_t *p, server_rec *s, const char *dir)
{
    apr_shm_t *shm;
    int i = 0;
    while (i < SPOOLS_MAX && spools[i].dir && strcmp(spools[i].dir, dir))
        i++;
    if (i == SPOOLS_MAX)
        return;
    if (apr_shm_create(&shm, sizeof(spool_total), NULL, p) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "llmgw: spool %s: no shared memory for "
                     "its size; every write counts the directory instead", dir);
        if (spools[i].dir)
            spools[i].t = NULL;
        return;
    }
    /* the name outlives this configuration's pool: a restart finds its slot again */
    if (!spools[i].dir && !(spools[i].dir = strdup(dir)))
        return;
    spools[i].t = apr_shm_baseaddr_get(shm);
    spools[i].t->bytes = measure(dir);
    spools[i].t->counted = apr_time_now();
}

int llmgw_spool_prepare(apr_pool_t *p, server_rec *s, const char *dir)
{
    apr_status_t rv = apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "llmgw: cannot create spool %s", dir);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* children run as the unprivileged user and must write and rename here */
    if (geteuid() == 0 && chown(dir, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, errno, s, "llmgw: cannot chown spool %s", dir);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    chmod(dir, 0750);
    share_total(p, s, dir);
    return OK;
}

static int write_all(int fd, const char *d, apr_size_t n)
{
    while (n) {
        ssize_t w = write(fd, d, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        d += w;
        n -= (apr_size_t)w;
    }
    return 0;
}

static apr_int64_t measure(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    char path[PATH_MAX];
    apr_int64_t total = 0;
    if (!d)
        return 0;
    while ((e = readdir(d))) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            total += st.st_size;
    }
    closedir(d);
    return total;
}

/* Reserves len bytes of the spool; 0 when that would pass max. */
static int reserve(const char *dir, apr_size_t len, apr_off_t max)
{
    spool_total *t = total_of(dir);
    if (!t)
        return measure(dir) + (apr_int64_t)len <= (apr_int64_t)max;
    apr_time_t now = apr_time_now(), last = __atomic_load_n(&t->counted, __ATOMIC_RELAXED);
    if (now - last > RESYNC_EVERY &&
        __atomic_compare_exchange_n(&t->counted, &last, now, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
        __atomic_store_n(&t->bytes, measure(dir), __ATOMIC_RELAXED);
    if (__atomic_add_fetch(&t->bytes, (apr_int64_t)len, __ATOMIC_RELAXED) <= (apr_int64_t)max)
        return 1;
    __atomic_sub_fetch(&t->bytes, (apr_int64_t)len, __ATOMIC_RELAXED);
    return 0;
}

static void release(const char *dir, apr_int64_t len)
{
    spool_total *t = total_of(dir);
    if (t)
        __atomic_sub_fetch(&t->bytes, len, __ATOMIC_RELAXED);
}

apr_status_t llmgw_spool_write(const char *dir, const char *data, apr_size_t len, apr_off_t max)
{
    char tmp[PATH_MAX], fin[PATH_MAX];
    if (!reserve(dir, len, max))
        return APR_ENOSPC;
    unsigned long seq = __atomic_add_fetch(&spool_seq, 1, __ATOMIC_RELAXED);
    long long ms = (long long)apr_time_as_msec(apr_time_now());
    snprintf(fin, sizeof fin, "%s/%013lld-%ld-%lu" SUFFIX, dir, ms, (long)getpid(), seq);
    snprintf(tmp, sizeof tmp, "%s/.tmp-%ld-%lu", dir, (long)getpid(), seq);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640), e = 0;
    if (fd < 0) {
        e = errno;
    } else if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        e = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
    } else {
        close(fd);
        if (rename(tmp, fin) < 0) {
            e = errno;
            unlink(tmp);
        }
    }
    if (e)
        release(dir, (apr_int64_t)len);
    return e;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n > k && !strcmp(s + n - k, suf);
}

/* "<name>.ndjson.<pid>.sending" whose pid is gone goes back to "<name>.ndjson". */
static void recover_claim(const char *dir, const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *pidp = dot;
    while (pidp > name && pidp[-1] != '.')
        pidp--;
    long pid = strtol(pidp, NULL, 10);
    if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
        return;
    char from[PATH_MAX], to[PATH_MAX];
    snprintf(from, sizeof from, "%s/%s", dir, name);
    snprintf(to, sizeof to, "%s/%.*s", dir, (int)(pidp - 1 - name), name);
    rename(from, to);
}

/* The oldest spool file name (names sort by creation time), or 0. */
static int oldest(const char *dir, char *best, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    best[0] = '\0';
    if (!d)
        return 0;
    while ((e = readdir(d))) {
        if (has_suffix(e->d_name, CLAIM))
            recover_claim(dir, e->d_name);
        else if (has_suffix(e->d_name, SUFFIX) && e->d_name[0] != '.' &&
                 (!best[0] || strcmp(e->d_name, best) < 0))
            snprintf(best, cap, "%s", e->d_name);
    }
    closedir(d);
    return best[0] != '\0';
}

static int read_file(const char *path, char *buf, apr_size_t cap, apr_size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    apr_size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (r > 0 && n + (apr_size_t)r >= cap)) {
            close(fd);
            return -1;      /* unreadable, or larger than any batch we write */
        }
        if (r == 0)
            break;
        n += (apr_size_t)r;
    }
    close(fd);
    *len = n;
    return 0;
}

int llmgw_spool_claim(const char *dir, char *path, char *buf, apr_size_t cap, apr_size_t *len)
{
    char name[NAME_MAX + 1], from[PATH_MAX];
    while (oldest(dir, name, sizeof name)) {
        snprintf(from, sizeof from, "%s/%s", dir, name);
        snprintf(path, PATH_MAX, "%s/%s.%ld" CLAIM, dir, name, (long)getpid());
        if (rename(from, path) < 0)
            continue;       /* another child claimed it first */
        if (read_file(path, buf, cap, len) == 0)
            return 1;
        /* keep an unreadable file for the operator, out of the replay's way */
        char bad[PATH_MAX];
        snprintf(bad, sizeof bad, "%s/%s.bad", dir, name);
        rename(path, bad);
    }
    return 0;
}

void llmgw_spool_done(const char *dir, const char *path, apr_size_t len)
{
    if (unlink(path) == 0)
        release(dir, (apr_int64_t)len);
}

void llmgw_spool_giveback(const char *path)
{
    char to[PATH_MAX];
    size_t n = strlen(path);
    const char *end = path + n - strlen(CLAIM);
    while (end > path && end[-1] != '.')
        end--;
    snprintf(to, sizeof to, "%.*s", (int)(end - 1 - path), path);
    rename(path, to);
}

long llmgw_spool_count_records(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    long total = 0;
    char path[PATH_MAX], buf[65536];
    if (!d)
        return 0;
    while ((e = readdir(d))) {
        if (!has_suffix(e->d_name, SUFFIX) && !has_suffix(e->d_name, CLAIM))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0)
            for (ssize_t i = 0; i < r; i++)
                total += buf[i] == '\n';
        close(fd);
    }
    closedir(d);
    return total;
}
