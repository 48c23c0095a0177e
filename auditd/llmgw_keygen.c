/* llmgw_keygen.c — mints a gateway key: prints the key once (it is never stored) and
 * the key-file line holding only its SHA-256 (SPEC §5). */
#include "llmgw_keyfile.h"

#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define KEY_PREFIX "llmgw_"

static void usage(FILE *f)
{
    fprintf(f, "usage: llmgw-keygen --user ID [--email E] [--team T] [--roles a,b] "
               "[--delegate H1,H2]\n");
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

static void base64url(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
    } else if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
    }
    out[o] = '\0';
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
    printf("key:  %s\n", key);
    printf("line: sha256:%s", hex);
    for (int i = 0; i < 5; i++)
        if (v[i])
            printf(" %s=%s", names[i], v[i]);
    printf("\n");
    return 0;
}
