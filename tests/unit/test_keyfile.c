/* test_keyfile.c — cmocka tests for llmgw_keyfile: key-file syntax (comments, blank
 * lines, CRLF, indentation), attribute parsing, every error with its line number,
 * lookups (right entry, wrong/empty key, empty file), index correctness with many keys
 * and with forced probe collisions (including wrap-around), allocation failures, and
 * llmgw_split_list edge cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llmgw_keyfile.h"

/* ---- a malloc-based llmgw_alloc that remembers everything it handed out ---------- */

typedef struct {
    void **ptrs;
    size_t n, cap;
    long fail_after;   /* < 0: never fail; else number of successful allocations allowed */
    long calls;
} arena;

static void *arena_fn(void *ctx, size_t n)
{
    arena *a = ctx;
    a->calls++;
    if (a->fail_after >= 0 && a->calls > a->fail_after)
        return NULL;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        void **np = realloc(a->ptrs, nc * sizeof *np);
        if (!np)
            return NULL;
        a->ptrs = np;
        a->cap = nc;
    }
    void *p = malloc(n ? n : 1);
    if (p)
        a->ptrs[a->n++] = p;
    return p;
}

static void arena_release(arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    free(a->ptrs);
    memset(a, 0, sizeof *a);
    a->fail_after = -1;
}

typedef struct {
    arena ar;
    llmgw_alloc alloc;
    char *text;        /* scratch text owned by the fixture */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->ar.fail_after = -1;
    f->alloc.fn = arena_fn;
    f->alloc.ctx = &f->ar;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    arena_release(&f->ar);
    free(f->text);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static void hex_of(const char *key, char out[65])
{
    llmgw_sha256_hex(key, strlen(key), out);
}

/* Appends printf output to the fixture's growing text. */
static void append(fixture *f, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(fixture *f, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *t = realloc(f->text, *len + (size_t)n + 1);
    assert_non_null(t);
    f->text = t;
    va_start(ap, fmt);
    vsnprintf(f->text + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
}

static int parse(fixture *f, const char *text, size_t len, llmgw_keyfile *kf, char *err,
                 size_t errcap)
{
    return llmgw_keyfile_parse(text, len, &f->alloc, kf, err, errcap);
}

static const llmgw_key *find(const llmgw_keyfile *kf, const char *key)
{
    return llmgw_keyfile_lookup(kf, key, strlen(key));
}

/* Parses text (NUL-terminated) and expects failure with exactly the message want. */
static void expect_error(fixture *f, const char *text, const char *want)
{
    llmgw_keyfile kf;
    char err[256];
    memset(err, 'Z', sizeof err);
    err[sizeof err - 1] = '\0';
    int rc = parse(f, text, strlen(text), &kf, err, sizeof err);
    if (rc != -1 || strcmp(err, want) != 0)
        fail_msg("text <<%s>>: rc %d, err '%s', want '%s'", text, rc, err, want);
}

/* ---- sha256 ------------------------------------------------------------------------- */

static void test_sha256_hex(void **state)
{
    char h[65];
    llmgw_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    llmgw_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* embedded NUL: the length counts, not strlen */
    llmgw_sha256_hex("a\0b", 3, h);
    char h2[65];
    llmgw_sha256_hex("a", 1, h2);
    assert_string_not_equal(h, h2);
    assert_int_equal(strlen(h), 64);
}

/* ---- valid files ---------------------------------------------------------------------- */

static void test_parse_valid(void **state)
{
    fixture *f = *state;
    char h1[65], h2[65], h3[65], h4[65], h5[65];
    hex_of("gw-alice-key", h1);
    hex_of("gw-bob-key", h2);
    hex_of("gw-carol-key", h3);
    hex_of("gw-dave-key", h4);
    hex_of("gw-erin-key", h5);
    /* erin's line uses upper-case hex: the digest is the same */
    for (char *p = h5; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    size_t len = 0;
    append(f, &len, "# gateway keys\n");                                          /* 1 */
    append(f, &len, "\n");                                                        /* 2 */
    append(f, &len, "sha256:%s user=alice email=alice@example.com team=research "
                    "roles=premium,developer\n", h1);                             /* 3 */
    append(f, &len, "   \t\n");                                                   /* 4 */
    append(f, &len, "  sha256:%s user=bob roles=a delegate=X-User-Id,X-User-Email\r\n",
           h2);                                                                   /* 5 */
    append(f, &len, "\t# indented comment with sha256:zz user=\r\n");             /* 6 */
    append(f, &len, "\r\n");                                                      /* 7 */
    append(f, &len, "\tsha256:%s\tuser=carol   team=ops\t \n", h3);               /* 8 */
    append(f, &len, "sha256:%s user=erin\n", h5);                                 /* 9 */
    append(f, &len, "sha256:%s user=dave", h4);              /* 10, no final newline */

    llmgw_keyfile kf;
    char err[128] = "";
    assert_int_equal(parse(f, f->text, len, &kf, err, sizeof err), 0);
    assert_int_equal(kf.nkeys, 5);
    assert_true(kf.nslots >= 2 * kf.nkeys);
    assert_int_equal(kf.nslots & (kf.nslots - 1), 0);

    const llmgw_key *a = find(&kf, "gw-alice-key");
    assert_non_null(a);
    assert_string_equal(a->user, "alice");
    assert_string_equal(a->email, "alice@example.com");
    assert_string_equal(a->team, "research");
    assert_int_equal(a->nroles, 2);
    assert_string_equal(a->roles[0], "premium");
    assert_string_equal(a->roles[1], "developer");
    assert_int_equal(a->ndelegate, 0);
    assert_int_equal(a->line, 3);
    char back[65];
    for (int i = 0; i < 32; i++)
        snprintf(back + 2 * i, 3, "%02x", a->hash[i]);
    assert_string_equal(back, h1);

    const llmgw_key *b = find(&kf, "gw-bob-key");
    assert_non_null(b);
    assert_string_equal(b->user, "bob");
    assert_null(b->email);
    assert_null(b->team);
    assert_int_equal(b->nroles, 1);
    assert_string_equal(b->roles[0], "a");
    assert_int_equal(b->ndelegate, 2);
    assert_string_equal(b->delegate[0], "X-User-Id");
    assert_string_equal(b->delegate[1], "X-User-Email");   /* CR stripped */
    assert_int_equal(b->line, 5);

    const llmgw_key *c = find(&kf, "gw-carol-key");
    assert_non_null(c);
    assert_string_equal(c->user, "carol");
    assert_string_equal(c->team, "ops");
    assert_int_equal(c->nroles, 0);
    assert_int_equal(c->line, 8);

    const llmgw_key *e = find(&kf, "gw-erin-key");
    assert_non_null(e);
    assert_string_equal(e->user, "erin");
    assert_int_equal(e->line, 9);

    const llmgw_key *d = find(&kf, "gw-dave-key");
    assert_non_null(d);
    assert_string_equal(d->user, "dave");
    assert_int_equal(d->line, 10);

    /* entries are distinct */
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(c, d);
}

static void test_lookup_misses(void **state)
{
    fixture *f = *state;
    char h1[65], hempty[65];
    hex_of("gw-alice-key", h1);
    hex_of("", hempty);
    size_t len = 0;
    append(f, &len, "sha256:%s user=alice\n", h1);
    /* a line for the empty key: an empty presented key must still never match */
    append(f, &len, "sha256:%s user=nobody\n", hempty);
    llmgw_keyfile kf;
    char err[128] = "";
    assert_int_equal(parse(f, f->text, len, &kf, err, sizeof err), 0);
    assert_int_equal(kf.nkeys, 2);

    assert_non_null(find(&kf, "gw-alice-key"));
    assert_null(find(&kf, "gw-alice-kez"));
    assert_null(find(&kf, "gw-alice-key "));
    assert_null(find(&kf, "GW-ALICE-KEY"));
    assert_null(llmgw_keyfile_lookup(&kf, "gw-alice-key", 11));   /* a prefix */
    assert_null(llmgw_keyfile_lookup(&kf, "", 0));
    assert_null(llmgw_keyfile_lookup(&kf, "gw-alice-key", 0));
    /* the hash itself is not a key */
    assert_null(find(&kf, h1));
}

static void test_empty_and_comment_only_files(void **state)
{
    fixture *f = *state;
    llmgw_keyfile kf;
    char err[128] = "";
    assert_int_equal(parse(f, "", 0, &kf, err, sizeof err), 0);
    assert_int_equal(kf.nkeys, 0);
    assert_null(find(&kf, "anything"));
    assert_null(llmgw_keyfile_lookup(&kf, "", 0));

    const char *t = "# only comments\n\n   \n\t# another\r\n";
    assert_int_equal(parse(f, t, strlen(t), &kf, err, sizeof err), 0);
    assert_int_equal(kf.nkeys, 0);
    assert_null(find(&kf, "anything"));

    /* a zero-initialised keyfile (never parsed) must not crash lookups */
    llmgw_keyfile z;
    memset(&z, 0, sizeof z);
    assert_null(find(&z, "anything"));
}

static void test_len_bounds_text(void **state)
{
    /* the parser honours len: bytes after it (here an invalid line) are not read */
    fixture *f = *state;
    char h1[65];
    hex_of("k1", h1);
    size_t len = 0;
    append(f, &len, "sha256:%s user=alice\n", h1);
    size_t good = len;
    append(f, &len, "garbage line\n");
    llmgw_keyfile kf;
    char err[128] = "";
    assert_int_equal(parse(f, f->text, good, &kf, err, sizeof err), 0);
    assert_int_equal(kf.nkeys, 1);
    assert_int_equal(parse(f, f->text, len, &kf, err, sizeof err), -1);
    assert_string_equal(err, "line 2: expected sha256:<64 hex digits> first");
}

static void test_max_lists(void **state)
{
    fixture *f = *state;
    char h1[65];
    hex_of("k-lists", h1);
    size_t len = 0;
    append(f, &len, "sha256:%s user=u roles=", h1);
    for (int i = 0; i < LLMGW_KEY_MAX_LIST; i++)
        append(f, &len, "%sr%d", i ? "," : "", i);
    append(f, &len, " delegate=");
    for (int i = 0; i < LLMGW_KEY_MAX_DELEGATE; i++)
        append(f, &len, "%sX-H%d", i ? "," : "", i);
    append(f, &len, "\n");
    llmgw_keyfile kf;
    char err[128] = "";
    assert_int_equal(parse(f, f->text, len, &kf, err, sizeof err), 0);
    const llmgw_key *k = find(&kf, "k-lists");
    assert_non_null(k);
    assert_int_equal(k->nroles, LLMGW_KEY_MAX_LIST);
    assert_int_equal(k->ndelegate, LLMGW_KEY_MAX_DELEGATE);
    assert_string_equal(k->roles[0], "r0");
    assert_string_equal(k->roles[LLMGW_KEY_MAX_LIST - 1], "r31");
    assert_string_equal(k->delegate[LLMGW_KEY_MAX_DELEGATE - 1], "X-H3");
}

/* ---- errors -------------------------------------------------------------------------- */

static void test_error_missing_user(void **state)
{
    fixture *f = *state;
    char h1[65], h2[65], t[512];
    hex_of("a", h1);
    hex_of("b", h2);
    snprintf(t, sizeof t, "sha256:%s user=a\n# c\nsha256:%s team=research roles=x\n", h1, h2);
    expect_error(f, t, "line 3: user= is required");
    snprintf(t, sizeof t, "sha256:%s\n", h1);
    expect_error(f, t, "line 1: user= is required");
    /* CRLF lines count as one line each */
    snprintf(t, sizeof t, "\r\n\r\nsha256:%s email=x@y\r\n", h1);
    expect_error(f, t, "line 3: user= is required");
}

static void test_error_bad_hash(void **state)
{
    fixture *f = *state;
    char h[65], t[512];
    hex_of("a", h);
    const char *want1 = "line 1: expected sha256:<64 hex digits> first";
    const char *want2 = "line 2: expected sha256:<64 hex digits> first";

    /* bad hex digit at the end and at the start */
    char bad[65];
    memcpy(bad, h, 65);
    bad[63] = 'g';
    snprintf(t, sizeof t, "sha256:%s user=a\n", bad);
    expect_error(f, t, want1);
    memcpy(bad, h, 65);
    bad[0] = 'x';
    snprintf(t, sizeof t, "# c\nsha256:%s user=a\n", bad);
    expect_error(f, t, want2);
    /* 63 and 65 digits */
    snprintf(t, sizeof t, "sha256:%.63s user=a\n", h);
    expect_error(f, t, want1);
    snprintf(t, sizeof t, "sha256:%s0 user=a\n", h);
    expect_error(f, t, want1);
    /* wrong prefix, missing prefix, empty hex, attribute first */
    snprintf(t, sizeof t, "sha512:%s user=a\n", h);
    expect_error(f, t, want1);
    snprintf(t, sizeof t, "%s user=a\n", h);
    expect_error(f, t, want1);
    expect_error(f, "sha256: user=a\n", want1);
    snprintf(t, sizeof t, "user=a sha256:%s\n", h);
    expect_error(f, t, want1);
    snprintf(t, sizeof t, "SHA256:%s user=a\n", h);
    expect_error(f, t, want1);
}

static void test_error_attributes(void **state)
{
    fixture *f = *state;
    char h[65], t[512];
    hex_of("a", h);
    snprintf(t, sizeof t, "sha256:%s user=a color=blue\n", h);
    expect_error(f, t, "line 1: unknown attribute 'color'");
    snprintf(t, sizeof t, "\n\nsha256:%s user=a Team=x\n", h);
    expect_error(f, t, "line 3: unknown attribute 'Team'");
    snprintf(t, sizeof t, "sha256:%s user=a users=b\n", h);
    expect_error(f, t, "line 1: unknown attribute 'users'");
    snprintf(t, sizeof t, "sha256:%s user=\n", h);
    expect_error(f, t, "line 1: expected name=value, got 'user='");
    snprintf(t, sizeof t, "sha256:%s user=a =x\n", h);
    expect_error(f, t, "line 1: expected name=value, got '=x'");
    snprintf(t, sizeof t, "sha256:%s user=a premium\n", h);
    expect_error(f, t, "line 1: expected name=value, got 'premium'");
}

static void test_error_duplicate(void **state)
{
    fixture *f = *state;
    char h1[65], h2[65], t[1024];
    hex_of("dup-key", h1);
    hex_of("other", h2);
    snprintf(t, sizeof t,
             "# keys\nsha256:%s user=a\nsha256:%s user=b\n\nsha256:%s user=c\n", h1, h2, h1);
    expect_error(f, t, "line 5: duplicate key (also on line 2)");

    /* the same digest in upper case is the same key */
    char up[65];
    memcpy(up, h1, 65);
    for (char *p = up; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    snprintf(t, sizeof t, "sha256:%s user=a\nsha256:%s user=z\n", h1, up);
    expect_error(f, t, "line 2: duplicate key (also on line 1)");
}

static void test_error_delegate(void **state)
{
    fixture *f = *state;
    char h[65], t[512];
    hex_of("a", h);
    snprintf(t, sizeof t, "sha256:%s user=a delegate=X-User-Id,X:Bad\n", h);
    expect_error(f, t, "line 1: bad header name 'X:Bad'");
    snprintf(t, sizeof t, "\nsha256:%s user=a delegate=X(User)\n", h);
    expect_error(f, t, "line 2: bad header name 'X(User)'");
    snprintf(t, sizeof t, "sha256:%s user=a delegate=X/Y\n", h);
    expect_error(f, t, "line 1: bad header name 'X/Y'");
    snprintf(t, sizeof t, "sha256:%s user=a delegate=\"X\"\n", h);
    expect_error(f, t, "line 1: bad header name '\"X\"'");
    snprintf(t, sizeof t, "sha256:%s user=a delegate=X-\xc3\xa9\n", h);
    expect_error(f, t, "line 1: bad header name 'X-\xc3\xa9'");

    /* every RFC 9110 tchar is accepted */
    llmgw_keyfile kf;
    char err[128] = "";
    size_t len = 0;
    append(f, &len, "sha256:%s user=a delegate=!#$%%&'*+-.^_`|~09azAZ\n", h);
    assert_int_equal(parse(f, f->text, len, &kf, err, sizeof err), 0);
    const llmgw_key *k = find(&kf, "a");
    assert_non_null(k);
    assert_int_equal(k->ndelegate, 1);
    assert_string_equal(k->delegate[0], "!#$%&'*+-.^_`|~09azAZ");
}

static void test_error_too_many(void **state)
{
    fixture *f = *state;
    char h[65];
    hex_of("a", h);
    size_t len = 0;
    append(f, &len, "# c\nsha256:%s user=u roles=", h);
    for (int i = 0; i <= LLMGW_KEY_MAX_LIST; i++)
        append(f, &len, "%sr%d", i ? "," : "", i);
    append(f, &len, "\n");
    expect_error(f, f->text, "line 2: too many roles (at most 32)");

    free(f->text);
    f->text = NULL;
    len = 0;
    append(f, &len, "sha256:%s user=u delegate=", h);
    for (int i = 0; i <= LLMGW_KEY_MAX_DELEGATE; i++)
        append(f, &len, "%sX-%d", i ? "," : "", i);
    append(f, &len, "\n");
    expect_error(f, f->text, "line 1: too many delegate headers (at most 4: the end user's "
                             "id, e-mail, roles and team)");
}

static void test_error_control_chars(void **state)
{
    fixture *f = *state;
    char h[65], t[512];
    hex_of("a", h);
    snprintf(t, sizeof t, "#\n#\nsha256:%s user=al\x01ice\n", h);
    expect_error(f, t, "line 3: control character");
    snprintf(t, sizeof t, "sha256:%s user=alice team=r\x7f" "d\n", h);
    expect_error(f, t, "line 1: control character");
    /* a CR that is not the line's last byte */
    snprintf(t, sizeof t, "sha256:%s user=al\rice\n", h);
    expect_error(f, t, "line 1: control character");
    snprintf(t, sizeof t, "sha256:%s user=alice\r\r\n", h);
    expect_error(f, t, "line 1: control character");
    /* vertical tab and form feed are not separators */
    snprintf(t, sizeof t, "sha256:%s\vuser=alice\n", h);
    expect_error(f, t, "line 1: control character");
    snprintf(t, sizeof t, "sha256:%s user=alice \f\n", h);
    expect_error(f, t, "line 1: control character");
    snprintf(t, sizeof t, "sha256:%s user=alice\x1b[0m\n", h);
    expect_error(f, t, "line 1: control character");

    /* NUL inside the text (len counts it) */
    llmgw_keyfile kf;
    char err[128] = "";
    size_t n = (size_t)snprintf(t, sizeof t, "sha256:%s user=al", h);
    t[n++] = '\0';
    memcpy(t + n, "ice\n", 5);
    n += 4;
    assert_int_equal(parse(f, t, n, &kf, err, sizeof err), -1);
    assert_string_equal(err, "line 1: control character");
}

static void test_error_small_errcap(void **state)
{
    fixture *f = *state;
    llmgw_keyfile kf;
    char err[16];
    memset(err, 'Z', sizeof err);
    const char *t = "bogus\n";
    assert_int_equal(parse(f, t, strlen(t), &kf, err, 8), -1);
    assert_string_equal(err, "line 1:");
    assert_int_equal(err[8], 'Z');   /* nothing written past errcap */
    memset(err, 'Z', sizeof err);
    assert_int_equal(parse(f, t, strlen(t), &kf, err, 12), -1);
    assert_string_equal(err, "line 1: exp");
    assert_int_equal(err[12], 'Z');
}

/* ---- index ------------------------------------------------------------------------------- */

static void test_many_keys(void **state)
{
    fixture *f = *state;
    enum { N = 5000 };
    size_t len = 0;
    char h[65], key[32];
    append(f, &len, "# %d keys\n", N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "gw-key-%d", i);
        hex_of(key, h);
        append(f, &len, "sha256:%s user=u%d team=t%d\n", h, i, i % 7);
    }
    llmgw_keyfile kf;
    char err[128] = "";
    assert_int_equal(parse(f, f->text, len, &kf, err, sizeof err), 0);
    assert_int_equal(kf.nkeys, N);
    assert_true(kf.nslots >= 2 * (size_t)N);
    assert_int_equal(kf.nslots & (kf.nslots - 1), 0);

    char want[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "gw-key-%d", i);
        const llmgw_key *k = find(&kf, key);
        if (!k)
            fail_msg("key %d not found", i);
        snprintf(want, sizeof want, "u%d", i);
        assert_string_equal(k->user, want);
        assert_int_equal(k->line, i + 2);
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "gw-nokey-%d", i);
        if (find(&kf, key))
            fail_msg("absent key %d found", i);
    }
    /* the index really has collisions at this size (so probing is exercised) */
    size_t used = 0, displaced = 0;
    for (size_t s = 0; s < kf.nslots; s++) {
        if (!kf.slots[s])
            continue;
        used++;
        uint64_t v;
        memcpy(&v, kf.keys[kf.slots[s] - 1].hash, sizeof v);
        displaced += ((size_t)v & (kf.nslots - 1)) != s;
    }
    assert_int_equal(used, N);
    assert_true(displaced > 0);
}

/* Slot the index would start probing at for a digest (first 8 bytes, host order). */
static size_t home_slot(const char *key, size_t nslots)
{
    char hex[65];
    unsigned char d[32];
    hex_of(key, hex);
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        d[i] = (unsigned char)v;
    }
    uint64_t v;
    memcpy(&v, d, sizeof v);
    return (size_t)v & (nslots - 1);
}

static void test_forced_collisions_wrap(void **state)
{
    /* Two decoy lines carry digests that share the real key's first 64 bits (so every
     * index hashing on them collides) but differ later. With 3 keys the table has 16
     * slots; a real key whose home is the last slot makes the probe wrap to slot 1. */
    fixture *f = *state;
    char key[32], miss[32] = "", h[65];
    int found = 0;
    for (int i = 0; i < 10000 && !found; i++) {
        snprintf(key, sizeof key, "wrap-%d", i);
        found = home_slot(key, 16) == 15;
    }
    assert_true(found);
    for (int i = 0; i < 10000; i++) {
        snprintf(miss, sizeof miss, "miss-%d", i);
        if (home_slot(miss, 16) == 15)
            break;
    }
    assert_int_equal(home_slot(miss, 16), 15);

    hex_of(key, h);
    char d1[65], d2[65];
    memcpy(d1, h, 65);
    memcpy(d2, h, 65);
    d1[63] = h[63] == '0' ? '1' : '0';
    d2[40] = h[40] == 'f' ? 'e' : 'f';
    size_t len = 0;
    append(f, &len, "sha256:%s user=decoy1\nsha256:%s user=decoy2\nsha256:%s user=real\n",
           d1, d2, h);
    llmgw_keyfile kf;
    char err[128] = "";
    assert_int_equal(parse(f, f->text, len, &kf, err, sizeof err), 0);
    assert_int_equal(kf.nkeys, 3);
    assert_int_equal(kf.nslots, 16);
    /* the real key really was pushed around the end of the table */
    assert_int_equal(kf.slots[15], 1);
    assert_int_equal(kf.slots[0], 2);
    assert_int_equal(kf.slots[1], 3);

    const llmgw_key *k = find(&kf, key);
    assert_non_null(k);
    assert_string_equal(k->user, "real");
    assert_int_equal(k->line, 3);
    /* an absent key with the same home walks the whole chain and misses */
    assert_null(find(&kf, miss));

    /* decoys after the real key: it sits in its home slot, the decoys behind it */
    free(f->text);
    f->text = NULL;
    len = 0;
    append(f, &len, "sha256:%s user=real\nsha256:%s user=decoy1\nsha256:%s user=decoy2\n",
           h, d1, d2);
    assert_int_equal(parse(f, f->text, len, &kf, err, sizeof err), 0);
    k = find(&kf, key);
    assert_non_null(k);
    assert_string_equal(k->user, "real");
    assert_null(find(&kf, miss));
}

static void test_alloc_failure(void **state)
{
    /* every allocation failing in turn gives -1, never a crash or a half-built index */
    fixture *f = *state;
    char h1[65], h2[65];
    hex_of("a", h1);
    hex_of("b", h2);
    size_t len = 0;
    append(f, &len, "sha256:%s user=a email=e team=t roles=x,y delegate=X-A,X-B\n"
                    "sha256:%s user=b roles=z\n", h1, h2);
    llmgw_keyfile kf;
    char err[128];
    f->ar.fail_after = -1;
    f->ar.calls = 0;
    assert_int_equal(parse(f, f->text, len, &kf, err, sizeof err), 0);
    long total = f->ar.calls;
    assert_true(total > 3);
    for (long k = 0; k < total; k++) {
        f->ar.calls = 0;
        f->ar.fail_after = k;
        err[0] = '\0';
        if (parse(f, f->text, len, &kf, err, sizeof err) != -1)
            fail_msg("allocation %ld failing was not reported", k);
        assert_true(strncmp(err, "line ", 5) == 0);
    }
    f->ar.fail_after = 0;
    f->ar.calls = 0;
    assert_int_equal(parse(f, f->text, len, &kf, err, sizeof err), -1);
    assert_string_equal(err, "line 0: out of memory");
    f->ar.fail_after = -1;
}

/* ---- llmgw_split_list ------------------------------------------------------------------- */

static void test_split_list(void **state)
{
    fixture *f = *state;
    const char *out[8];
    assert_int_equal(llmgw_split_list("a,b,c", &f->alloc, out, 8), 3);
    assert_string_equal(out[0], "a");
    assert_string_equal(out[1], "b");
    assert_string_equal(out[2], "c");

    assert_int_equal(llmgw_split_list("", &f->alloc, out, 8), 0);
    assert_int_equal(llmgw_split_list(",", &f->alloc, out, 8), 0);
    assert_int_equal(llmgw_split_list(",,,", &f->alloc, out, 8), 0);

    assert_int_equal(llmgw_split_list(",premium,,developer,", &f->alloc, out, 8), 2);
    assert_string_equal(out[0], "premium");
    assert_string_equal(out[1], "developer");

    assert_int_equal(llmgw_split_list("single", &f->alloc, out, 8), 1);
    assert_string_equal(out[0], "single");

    /* no trimming: spaces are part of an item */
    assert_int_equal(llmgw_split_list(" a , b", &f->alloc, out, 8), 2);
    assert_string_equal(out[0], " a ");
    assert_string_equal(out[1], " b");

    /* limits: exactly max fits, one more fails; empty items do not count */
    assert_int_equal(llmgw_split_list("a,b", &f->alloc, out, 2), 2);
    assert_int_equal(llmgw_split_list("a,,b,", &f->alloc, out, 2), 2);
    assert_int_equal(llmgw_split_list("a,b,c", &f->alloc, out, 2), -1);
    assert_int_equal(llmgw_split_list("", &f->alloc, out, 0), 0);
    assert_int_equal(llmgw_split_list(",", &f->alloc, out, 0), 0);
    assert_int_equal(llmgw_split_list("a", &f->alloc, out, 0), -1);

    /* items are copies, not pointers into the input */
    char src[] = "x,y";
    assert_int_equal(llmgw_split_list(src, &f->alloc, out, 8), 2);
    src[0] = 'Q';
    assert_string_equal(out[0], "x");

    /* allocation failure */
    f->ar.calls = 0;
    f->ar.fail_after = 1;
    assert_int_equal(llmgw_split_list("a,b", &f->alloc, out, 8), -1);
    f->ar.fail_after = -1;

    /* long item */
    char big[3001];
    memset(big, 'r', 3000);
    big[3000] = '\0';
    assert_int_equal(llmgw_split_list(big, &f->alloc, out, 1), 1);
    assert_int_equal(strlen(out[0]), 3000);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sha256_hex),
        T(test_parse_valid),
        T(test_lookup_misses),
        T(test_empty_and_comment_only_files),
        T(test_len_bounds_text),
        T(test_max_lists),
        T(test_error_missing_user),
        T(test_error_bad_hash),
        T(test_error_attributes),
        T(test_error_duplicate),
        T(test_error_delegate),
        T(test_error_too_many),
        T(test_error_control_chars),
        T(test_error_small_errcap),
        T(test_many_keys),
        T(test_forced_collisions_wrap),
        T(test_alloc_failure),
        T(test_split_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
