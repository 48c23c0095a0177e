/* auditd_listen.c — the listening socket of llmgw-auditd: unix:PATH (stale file removed,
 * mode and group set so Apache's children can connect), tcp:HOST:PORT bound to that
 * host only, or the socket systemd passed in (LISTEN_FDS, without libsystemd). */
#include "auditd.h"

#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BACKLOG 128

int auditd_systemd_fd(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || atol(pid) != (long)getpid() || atoi(fds) < 1) return -1;
    /* Children (none today) must not think the socket is theirs. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (atoi(fds) > 1) log_warn("systemd passed %s sockets; serving the first only", fds);
    return 3;
}

/* A socket file nobody answers on is left over from a crash: remove it. One that
 * answers belongs to a running daemon, which we must not steal it from. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (!S_ISSOCK(st.st_mode)) {
        log_error("%s exists and is not a socket", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int alive = fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
    if (fd >= 0) close(fd);
    if (alive) {
        log_error("%s is in use by another process", path);
        return -1;
    }
    unlink(path);
    return 0;
}

static int set_socket_access(const char *path, const auditd_options *o)
{
    if (o->socket_group) {
        struct group *g = getgrnam(o->socket_group);
        if (!g) {
            log_error("--socket-group: no group named %s", o->socket_group);
            return -1;
        }
        if (chown(path, (uid_t)-1, g->gr_gid) != 0) {
            log_error("chown %s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (chmod(path, (mode_t)o->socket_mode) != 0) {
        log_error("chmod %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int listen_unix(const char *path, const auditd_options *o)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        log_error("socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (clear_stale(path, &sa)) return -1;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* Nobody else may connect in the moment between bind() and chmod(). */
    mode_t old = umask(0177);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || listen(fd, BACKLOG) != 0) {
        log_error("cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (set_socket_access(path, o) != 0) {
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

/* Splits "HOST:PORT" or "[V6]:PORT". */
static int split_hostport(const char *spec, char *host, size_t cap, const char **port)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || !colon[1]) return -1;
    const char *h = spec;
    size_t n = (size_t)(colon - spec);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= cap) return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = colon + 1;
    return 0;
}

static int listen_tcp(const char *spec)
{
    char host[256];
    const char *port;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai, *p;
    int fd = -1, one = 1;

    if (split_hostport(spec, host, sizeof host, &port)) {
        log_error("--listen tcp: expects HOST:PORT, got %s", spec);
        return -1;
    }
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        log_error("cannot resolve %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    for (p = ai; p && fd < 0; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0) continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, p->ai_addr, p->ai_addrlen) != 0 || listen(fd, BACKLOG) != 0) {
            log_error("cannot listen on %s: %s", spec, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

int auditd_listen(const auditd_options *o, char **unlink_path)
{
    *unlink_path = NULL;
    if (!strncmp(o->listen, "unix:", 5)) {
        int fd = listen_unix(o->listen + 5, o);
        if (fd >= 0) *unlink_path = xstrdup(o->listen + 5);
        return fd;
    }
    if (!strncmp(o->listen, "tcp:", 4)) return listen_tcp(o->listen + 4);
    log_error("--listen: expects unix:PATH or tcp:HOST:PORT, got %s", o->listen);
    return -1;
}
