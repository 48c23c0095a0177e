/* llmgw_keygen.c — mints a gateway key: prints the key once (it is never stored) and
 * the key-file line holding only its SHA-256 (SPEC §5). */
#include "llmgw_keyfile.h"

#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_PREFIX "llmgw_"

static void usage(FILE *f)
{
    fprintf(f, "usage: llmgw-keygen --user ID [--email E] [--team T] [--roles a,b] "
               "[--delegate H1,H2]\n"
               "short forms: -u (--user), -e (--email), -t (--team), -r (--roles),\n"
               "-d (--delegate), -h (--help)\n");
}

/* Attribute values are space-separated tokens in the key file. */
static int valid_value(const char *v)
{
    if (!*v)
        return 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* base64url without padding (RFC 4648 §5): OpenSSL's base64, then the URL alphabet.
 * out has room for 4 * ceil(n / 3) + 1 bytes. */
static void base64url(const unsigned char *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* Parse results of the line check: one block sized from the line, freed by main. */
typedef struct {
    char *buf;
    size_t cap, used;
} arena;

static void *arena_alloc(void *ctx, size_t n)
{
    arena *a = ctx;
    size_t at = (a->used + 15) & ~(size_t)15;
    if (at > a->cap || n > a->cap - at)
        return NULL;
    a->used = at + n;
    return a->buf + at;
}

/* The line goes through the parser the module runs on the key file: a line it would
 * refuse (a bad header name, too many roles) must not be printed, because a key file
 * it cannot read keeps Apache from starting. 0 when the line parses; 2 after saying
 * why not; 1 when memory ran out. */
static int check_line(const char *line, size_t len)
{
    arena a = {malloc(4 * len + 65536), 4 * len + 65536, 0};
    llmgw_alloc al = {arena_alloc, &a};
    llmgw_keyfile kf;
    char err[256];
    if (!a.buf) {
        fprintf(stderr, "llmgw-keygen: out of memory\n");
        return 1;
    }
    int rc = llmgw_keyfile_parse(line, len, &al, &kf, err, sizeof err) == 0 ? 0 : 2;
    if (rc)
        fprintf(stderr, "llmgw-keygen: mod_llmgw would refuse this key line: %s\n",
                strncmp(err, "line 1: ", 8) ? err : err + 8);
    free(a.buf);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, 0, 'u'}, {"email", required_argument, 0, 'e'},
        {"team", required_argument, 0, 't'}, {"roles", required_argument, 0, 'r'},
        {"delegate", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *v[5] = {0};     /* user email team roles delegate */
    static const char *const names[5] = {"user", "email", "team", "roles", "delegate"};
    int c;
    while ((c = getopt_long(argc, argv, "u:e:t:r:d:h", opts, NULL)) != -1) {
        const char *p = strchr("uetrd", c);
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (!p || !c) {
            usage(stderr);
            return 2;
        }
        v[p - "uetrd"] = optarg;
    }
    if (optind != argc || !v[0]) {
        usage(stderr);
        return 2;
    }
    for (int i = 0; i < 5; i++)
        if (v[i] && !valid_value(v[i])) {
            fprintf(stderr, "llmgw-keygen: --%s must be non-empty without spaces or control "
                            "characters\n", names[i]);
            return 2;
        }
    unsigned char rnd[32];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        fprintf(stderr, "llmgw-keygen: no randomness available\n");
        return 1;
    }
    char key[sizeof KEY_PREFIX + 44], hex[65];
    strcpy(key, KEY_PREFIX);
    base64url(rnd, sizeof rnd, key + strlen(KEY_PREFIX));
    llmgw_sha256_hex(key, strlen(key), hex);
    size_t len = strlen("sha256:") + 64 + 1;
    for (int i = 0; i < 5; i++)
        if (v[i])
            len += 1 + strlen(names[i]) + 1 + strlen(v[i]);
    char *line = malloc(len);
    if (!line) {
        fprintf(stderr, "llmgw-keygen: out of memory\n");
        return 1;
    }
    size_t at = (size_t)snprintf(line, len, "sha256:%s", hex);
    for (int i = 0; i < 5; i++)
        if (v[i])
            at += (size_t)snprintf(line + at, len - at, " %s=%s", names[i], v[i]);
    int rc = check_line(line, at);
    if (rc == 0)
        printf("key:  %s\nline: %s\n", key, line);
    free(line);
    return rc;
}
