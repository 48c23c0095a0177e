/* llmgw_auditd.c — main() of llmgw-auditd (SPEC §9): command-line options, migrations,
 * choosing the listening socket, then handing over to the FastCGI server. */
#include "auditd.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LLMGW_SQLDIR
#define LLMGW_SQLDIR "/usr/share/llmgw/sql"
#endif
#ifndef LLMGW_VERSION
#define LLMGW_VERSION "dev"
#endif

#define DEFAULT_THREADS   8
#define DEFAULT_MAX_BODY  (32UL * 1024 * 1024)
#define DEFAULT_IDLE      10

static void usage(FILE *f)
{
    fprintf(f,
        "usage: llmgw-auditd --listen unix:PATH|tcp:HOST:PORT --db CONNINFO [options]\n"
        "       llmgw-auditd --migrate --db CONNINFO [--sql-dir DIR]\n"
        "\n"
        "Receives usage records (POST /v1/records, NDJSON over FastCGI) and stores them\n"
        "in PostgreSQL schema llmgw.\n"
        "\n"
        "  -l, --listen SPEC       unix:PATH or tcp:HOST:PORT (a socket passed by\n"
        "                          systemd is used instead when present)\n"
        "  -d, --db CONNINFO       libpq connection string or URI (default: $LLMGW_DB,\n"
        "                          then libpq's PG* variables); prefer ~/.pgpass for\n"
        "                          passwords\n"
        "  -t, --threads N         worker threads, one database connection each\n"
        "                          (default %d)\n"
        "      --migrate           apply pending sql/NNN_*.sql migrations, then exit\n"
        "                          unless --listen is given too\n"
        "      --sql-dir DIR       migrations directory (default %s)\n"
        "      --socket-mode MODE  octal mode of a unix socket (default 0660)\n"
        "      --socket-group NAME group of a unix socket (e.g. www-data)\n"
        "      --max-body BYTES    largest request body; larger gets 413\n"
        "                          (default %lu)\n"
        "      --idle-timeout SEC  close a kept-alive connection idle this long\n"
        "                          (default %d)\n"
        "  -v, --verbose           log every batch\n"
        "  -h, --help              this text\n"
        "      --version           print the version\n",
        DEFAULT_THREADS, LLMGW_SQLDIR, DEFAULT_MAX_BODY, DEFAULT_IDLE);
}

static int bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "llmgw-auditd: %s: %s\n", what, arg);
    fprintf(stderr, "Try 'llmgw-auditd --help'.\n");
    return 2;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* Installed: the compiled-in directory. In a build tree: the sql/ next to the binary. */
static const char *default_sql_dir(void)
{
    static char local[PATH_MAX];
    struct stat st;
    if (stat(LLMGW_SQLDIR, &st) == 0) return LLMGW_SQLDIR;
    ssize_t n = readlink("/proc/self/exe", local, sizeof local - 5);
    if (n <= 0) return LLMGW_SQLDIR;
    local[n] = '\0';
    char *slash = strrchr(local, '/');
    if (!slash) return LLMGW_SQLDIR;
    strcpy(slash, "/sql");
    return stat(local, &st) == 0 ? local : LLMGW_SQLDIR;
}

enum { OPT_MIGRATE = 256, OPT_SQLDIR, OPT_MODE, OPT_GROUP, OPT_MAXBODY, OPT_IDLE, OPT_VERSION };

static const struct option longopts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"db", required_argument, NULL, 'd'},
    {"threads", required_argument, NULL, 't'},
    {"migrate", no_argument, NULL, OPT_MIGRATE},
    {"sql-dir", required_argument, NULL, OPT_SQLDIR},
    {"socket-mode", required_argument, NULL, OPT_MODE},
    {"socket-group", required_argument, NULL, OPT_GROUP},
    {"max-body", required_argument, NULL, OPT_MAXBODY},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* Returns -1 to go on, else an exit code. */
static int parse_option(int c, const char *arg, auditd_options *o)
{
    long v;
    char *end;
    switch (c) {
    case 'l':
        /* checked here, not when the socket opens: a typo is a usage error (2), before
         * --migrate has touched the database */
        if (!((!strncmp(arg, "unix:", 5) && arg[5]) || (!strncmp(arg, "tcp:", 4) && arg[4])))
            return bad_usage("--listen wants unix:PATH or tcp:HOST:PORT", arg);
        o->listen = arg;
        break;
    case 'd': o->db = arg; break;
    case 't':
        if (parse_long(arg, 1, 1024, &v)) return bad_usage("--threads wants 1..1024", arg);
        o->threads = (int)v;
        break;
    case OPT_MIGRATE: o->migrate = 1; break;
    case OPT_SQLDIR: o->sql_dir = arg; break;
    case OPT_MODE:
        v = strtol(arg, &end, 8);
        if (end == arg || *end || v < 0 || v > 0777) return bad_usage("--socket-mode wants octal like 0660", arg);
        o->socket_mode = (int)v;
        break;
    case OPT_GROUP: o->socket_group = arg; break;
    case OPT_MAXBODY:
        if (parse_long(arg, 1024, 1L << 31, &v)) return bad_usage("--max-body wants 1024..2147483648", arg);
        o->max_body = (size_t)v;
        break;
    case OPT_IDLE:
        if (parse_long(arg, 1, 3600, &v)) return bad_usage("--idle-timeout wants 1..3600", arg);
        o->idle_timeout = (int)v;
        break;
    case 'v': auditd_verbose = 1; break;
    case 'h': usage(stdout); return 0;
    case OPT_VERSION: printf("llmgw-auditd %s\n", LLMGW_VERSION); return 0;
    default: usage(stderr); return 2;
    }
    return -1;
}

static int parse_args(int argc, char **argv, auditd_options *o)
{
    int c;
    const char *env_db = getenv("LLMGW_DB");
    *o = (auditd_options){.db = env_db ? env_db : "", .threads = DEFAULT_THREADS,
                          .socket_mode = 0660, .max_body = DEFAULT_MAX_BODY,
                          .idle_timeout = DEFAULT_IDLE};
    while ((c = getopt_long(argc, argv, "l:d:t:vh", longopts, NULL)) != -1) {
        int rc = parse_option(c, optarg, o);
        if (rc >= 0) return rc;
    }
    if (optind < argc) return bad_usage("unexpected argument", argv[optind]);
    if (!o->sql_dir) o->sql_dir = default_sql_dir();
    return -1;
}

int main(int argc, char **argv)
{
    auditd_options o;
    char where[512], *unlink_path = NULL;

    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) return rc;
    int sd_fd = auditd_systemd_fd();
    if (!o.migrate && !o.listen && sd_fd < 0)
        return bad_usage("nothing to do", "give --listen and/or --migrate");

    auditd_db_describe(o.db, where, sizeof where);
    log_info("llmgw-auditd %s, database %s", LLMGW_VERSION, where);
    if (o.migrate && auditd_db_migrate(o.db, o.sql_dir) != 0) return 1;
    if (!o.listen && sd_fd < 0) return 0;

    if (sd_fd >= 0 && o.listen) log_info("using the socket passed by systemd, not %s", o.listen);
    if (sd_fd >= 0) o.listen = NULL;
    int fd = sd_fd >= 0 ? sd_fd : auditd_listen(&o, &unlink_path);
    if (fd < 0) return 1;

    rc = auditd_serve(&o, fd);
    close(fd);
    if (unlink_path) unlink(unlink_path);
    free(unlink_path);
    return rc;
}
