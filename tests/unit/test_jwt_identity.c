/* test_jwt_identity.c — cmocka tests for what a verified token turns into: identity
 * values (the rule delegated headers share), claim paths (dotted, namespaced names
 * with dots), claim mapping (defaults, groups arrays, scope strings, nested
 * realm_access.roles, numeric user ids, refusals), and the verified-token cache (hits
 * copy, generation and expiry checks, set-associative eviction, concurrent use). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "llmgw_claims.h"
#include "llmgw_jwt_cache.h"

/* ---- a malloc-backed allocator that frees everything at the end of a test ----------- */

typedef struct {
    void *ptrs[4096];
    int n;
    int fail;
} arena;

static void *arena_fn(void *ctx, size_t n)
{
    arena *a = ctx;
    if (a->fail || a->n == 4096)
        return NULL;
    return a->ptrs[a->n++] = malloc(n ? n : 1);
}

static void arena_free(arena *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    a->n = 0;
}

static arena A;
static const llmgw_alloc ALLOC = {arena_fn, &A};

static int reset_arena(void **state)
{
    arena_free(&A);
    A.fail = 0;
    return 0;
}

/* ---- values and paths ---------------------------------------------------------------- */

static const char *vc(const char *s)
{
    return llmgw_identity_value_check(s, strlen(s));
}

static void test_value_check(void **state)
{
    char long_v[300];
    memset(long_v, 'a', sizeof long_v);
    long_v[256] = '\0';
    assert_null(vc("alice"));
    assert_null(vc(long_v));
    long_v[256] = 'a';
    long_v[257] = '\0';
    assert_string_equal(vc(long_v), "is too long");
    assert_string_equal(vc(""), "is empty");
    assert_string_equal(vc("{{LIBRECHAT_USER_ID}}"), "holds an unexpanded placeholder");
    assert_string_equal(vc("x}}"), "holds an unexpanded placeholder");
    assert_string_equal(vc("a\tb"), "holds a control character");
    assert_string_equal(vc("a\x7f"), "holds a control character");
    assert_null(vc("Zoë { single }"));
}

static void test_path_check(void **state)
{
    char deep[64] = "a.b.c.d.e.f.g.h";
    assert_null(llmgw_claim_path_check("sub"));
    assert_null(llmgw_claim_path_check("realm_access.roles"));
    assert_null(llmgw_claim_path_check(deep));
    strcat(deep, ".i");
    assert_non_null(llmgw_claim_path_check(deep));
    assert_non_null(llmgw_claim_path_check(""));
    assert_non_null(llmgw_claim_path_check(".a"));
    assert_non_null(llmgw_claim_path_check("a."));
    assert_non_null(llmgw_claim_path_check("a..b"));
    char big[300];
    memset(big, 'x', 257);
    big[257] = '\0';
    assert_non_null(llmgw_claim_path_check(big));
    assert_int_equal(llmgw_claim_kind_parse("user_id"), LLMGW_CLAIM_USER);
    assert_int_equal(llmgw_claim_kind_parse("team"), LLMGW_CLAIM_TEAM);
    assert_int_equal(llmgw_claim_kind_parse("user"), -1);
    assert_string_equal(llmgw_claim_kind_name(LLMGW_CLAIM_ROLES), "roles");
}

static json_t *J(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_claim_get(void **state)
{
    json_t *c = J("{\"sub\":\"a\",\"realm_access\":{\"roles\":[\"x\"]},"
                  "\"https://example.com/roles\":[\"ns\"],\"n\":{\"s\":\"str\"}}");
    assert_string_equal(json_string_value(llmgw_claim_get(c, "sub")), "a");
    assert_true(json_is_array(llmgw_claim_get(c, "realm_access.roles")));
    assert_string_equal(json_string_value(json_array_get(
        llmgw_claim_get(c, "https://example.com/roles"), 0)), "ns");
    assert_null(llmgw_claim_get(c, "realm_access.missing"));
    assert_null(llmgw_claim_get(c, "sub.deeper"));      /* through a non-object */
    assert_null(llmgw_claim_get(c, "n.s.t"));
    assert_null(llmgw_claim_get(c, "nothing"));
    json_decref(c);
}

/* ---- mapping ---------------------------------------------------------------------------- */

static int map(const char *claims, const char *u, const char *e, const char *r, const char *t,
               llmgw_caller_id *id, char *why)
{
    const char *paths[LLMGW_CLAIM_COUNT] = {u, e, r, t};
    json_t *c = J(claims);
    int rc = llmgw_claims_map(c, paths, &ALLOC, id, why, 160);
    json_decref(c);
    return rc;
}

static void test_map_defaults(void **state)
{
    llmgw_caller_id id;
    char why[160];
    assert_int_equal(map("{\"sub\":\"u1\",\"email\":\"u1@x\",\"groups\":[\"g\"]}", NULL, NULL,
                         NULL, NULL, &id, why), 0);
    assert_string_equal(id.user, "u1");
    assert_string_equal(id.email, "u1@x");
    assert_null(id.team);
    assert_int_equal(id.nroles, 0);          /* no roles claim configured: no roles */
}

static void test_map_groups_array_and_team(void **state)
{
    llmgw_caller_id id;
    char why[160];
    assert_int_equal(map("{\"uid\":\"bob\",\"mail\":\"b@x\",\"groups\":[\"premium\",7,"
                         "\"dev\",\"\",\"a\\u0001b\"],\"org\":\"research\"}",
                         "uid", "mail", "groups", "org", &id, why), 0);
    assert_string_equal(id.user, "bob");
    assert_string_equal(id.email, "b@x");
    assert_string_equal(id.team, "research");
    assert_int_equal(id.nroles, 2);          /* non-strings, empty and control chars skipped */
    assert_string_equal(id.roles[0], "premium");
    assert_string_equal(id.roles[1], "dev");
    /* a team from a groups-style array takes its first element */
    assert_int_equal(map("{\"sub\":\"s\",\"teams\":[\"sales\",\"eu\"]}", NULL, NULL, NULL,
                         "teams", &id, why), 0);
    assert_string_equal(id.team, "sales");
}

static void test_map_scope_string_and_nested(void **state)
{
    llmgw_caller_id id;
    char why[160];
    assert_int_equal(map("{\"sub\":\"s\",\"scope\":\"  openid  chat:write   admin\"}", NULL,
                         NULL, "scope", NULL, &id, why), 0);
    assert_int_equal(id.nroles, 3);
    assert_string_equal(id.roles[0], "openid");
    assert_string_equal(id.roles[1], "chat:write");
    assert_string_equal(id.roles[2], "admin");
    assert_int_equal(map("{\"sub\":\"s\",\"realm_access\":{\"roles\":[\"offline\",\"premium\"]}}",
                         NULL, NULL, "realm_access.roles", NULL, &id, why), 0);
    assert_int_equal(id.nroles, 2);
    assert_string_equal(id.roles[1], "premium");
    /* roles configured but absent: no roles, not an error */
    assert_int_equal(map("{\"sub\":\"s\"}", NULL, NULL, "groups", NULL, &id, why), 0);
    assert_int_equal(id.nroles, 0);
    /* a roles claim of another JSON type gives no roles */
    assert_int_equal(map("{\"sub\":\"s\",\"groups\":{\"a\":1}}", NULL, NULL, "groups", NULL,
                         &id, why), 0);
    assert_int_equal(id.nroles, 0);
}

static void test_map_role_limit(void **state)
{
    llmgw_caller_id id;
    char why[160], claims[2048] = "{\"sub\":\"s\",\"groups\":[";
    for (int i = 0; i < 40; i++) {
        char r[16];
        snprintf(r, sizeof r, "%s\"r%d\"", i ? "," : "", i);
        strcat(claims, r);
    }
    strcat(claims, "]}");
    assert_int_equal(map(claims, NULL, NULL, "groups", NULL, &id, why), 0);
    assert_int_equal(id.nroles, LLMGW_KEY_MAX_LIST);
    assert_string_equal(id.roles[LLMGW_KEY_MAX_LIST - 1], "r31");
}

static void test_map_user_forms_and_refusals(void **state)
{
    llmgw_caller_id id;
    char why[160];
    assert_int_equal(map("{\"sub\":12345678901}", NULL, NULL, NULL, NULL, &id, why), 0);
    assert_string_equal(id.user, "12345678901");
    assert_int_equal(map("{\"email\":\"x@y\"}", NULL, NULL, NULL, NULL, &id, why), -1);
    assert_string_equal(why, "token has no usable user_id claim (sub)");
    assert_int_equal(map("{\"sub\":null}", NULL, NULL, NULL, NULL, &id, why), -1);
    assert_int_equal(map("{\"sub\":true}", NULL, NULL, NULL, NULL, &id, why), -1);
    assert_int_equal(map("{\"sub\":\"\"}", NULL, NULL, NULL, NULL, &id, why), -1);
    assert_string_equal(why, "token claim for user_id is empty");
    assert_int_equal(map("{\"sub\":\"a\\nb\"}", NULL, NULL, NULL, NULL, &id, why), -1);
    assert_string_equal(why, "token claim for user_id holds a control character");
    assert_int_equal(map("{\"sub\":\"ok\",\"email\":\"{{EMAIL}}\"}", NULL, NULL, NULL, NULL,
                         &id, why), -1);
    assert_string_equal(why, "token claim for email holds an unexpanded placeholder");
    assert_int_equal(map("{\"sub\":\"ok\",\"email\":5.5}", NULL, NULL, NULL, NULL, &id, why), 0);
    assert_null(id.email);                   /* not a string: absent */
    A.fail = 1;
    assert_int_equal(map("{\"sub\":\"ok\"}", NULL, NULL, NULL, NULL, &id, why), -1);
    assert_string_equal(why, "out of memory");
}

/* ---- the verified-token cache ----------------------------------------------------------- */

static void key_of(const char *tok, unsigned char k[32])
{
    llmgw_jwt_cache_key(tok, strlen(tok), k);
}

static llmgw_caller_id sample(void)
{
    llmgw_caller_id id = {.user = "alice", .email = "a@x", .team = NULL,
                         .roles = {"premium", "developer"}, .nroles = 2};
    return id;
}

static void test_cache_hit_copies(void **state)
{
    llmgw_jwt_cache *c = llmgw_jwt_cache_create(16);
    unsigned char k[32], other[32];
    key_of("token-1", k);
    key_of("token-2", other);
    llmgw_caller_id in = sample(), out;
    assert_int_equal(llmgw_jwt_cache_get(c, k, 1, 100, &ALLOC, &out), 0);
    assert_int_equal(llmgw_jwt_cache_put(c, k, 1, 200, &in), 0);
    memset(&out, 0, sizeof out);
    assert_int_equal(llmgw_jwt_cache_get(c, k, 1, 100, &ALLOC, &out), 1);
    assert_string_equal(out.user, "alice");
    assert_string_equal(out.email, "a@x");
    assert_null(out.team);
    assert_int_equal(out.nroles, 2);
    assert_string_equal(out.roles[1], "developer");
    assert_ptr_not_equal(out.user, in.user);     /* a copy from the caller's allocator */
    assert_int_equal(llmgw_jwt_cache_get(c, other, 1, 100, &ALLOC, &out), 0);
    A.fail = 1;
    assert_int_equal(llmgw_jwt_cache_get(c, k, 1, 100, &ALLOC, &out), -1);
    A.fail = 0;
    llmgw_jwt_cache_stats st;
    llmgw_jwt_cache_get_stats(c, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.capacity, 16);
    llmgw_jwt_cache_destroy(c);
}

static void test_cache_expiry_and_generation(void **state)
{
    llmgw_jwt_cache *c = llmgw_jwt_cache_create(16);
    unsigned char k[32];
    key_of("tok", k);
    llmgw_caller_id in = sample(), out;
    llmgw_jwt_cache_put(c, k, 7, 1000, &in);
    assert_int_equal(llmgw_jwt_cache_get(c, k, 7, 1000, &ALLOC, &out), 1);   /* inclusive */
    assert_int_equal(llmgw_jwt_cache_get(c, k, 7, 1001, &ALLOC, &out), 0);
    /* the expired entry is gone, even for an earlier clock */
    assert_int_equal(llmgw_jwt_cache_get(c, k, 7, 10, &ALLOC, &out), 0);
    llmgw_jwt_cache_put(c, k, 7, 1000, &in);
    assert_int_equal(llmgw_jwt_cache_get(c, k, 8, 10, &ALLOC, &out), 0);     /* new key set */
    assert_int_equal(llmgw_jwt_cache_get(c, k, 7, 10, &ALLOC, &out), 0);     /* and dropped */
    llmgw_jwt_cache_stats st;
    llmgw_jwt_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 0);
    llmgw_jwt_cache_destroy(c);
}

static void test_cache_bounded_eviction(void **state)
{
    llmgw_jwt_cache *c = llmgw_jwt_cache_create(8);   /* 2 sets of 4 */
    llmgw_caller_id in = sample(), out;
    unsigned char k[100][32];
    for (int i = 0; i < 100; i++) {
        char t[16];
        snprintf(t, sizeof t, "t%d", i);
        key_of(t, k[i]);
        assert_int_equal(llmgw_jwt_cache_put(c, k[i], 1, 1000, &in), 0);
    }
    llmgw_jwt_cache_stats st;
    llmgw_jwt_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 8);
    assert_int_equal(st.inserts, 100);
    assert_int_equal(st.evictions, 92);
    int hits = 0;
    for (int i = 0; i < 100; i++)
        hits += llmgw_jwt_cache_get(c, k[i], 1, 0, &ALLOC, &out);
    assert_int_equal(hits, 8);
    /* the newest entry always survives: oldest-first replacement */
    assert_int_equal(llmgw_jwt_cache_get(c, k[99], 1, 0, &ALLOC, &out), 1);
    /* putting the same token again replaces its entry, it does not take a second slot */
    llmgw_jwt_cache_put(c, k[99], 2, 1000, &in);
    llmgw_jwt_cache_get_stats(c, &st);
    assert_int_equal(st.entries, 8);
    assert_int_equal(llmgw_jwt_cache_get(c, k[99], 2, 0, &ALLOC, &out), 1);
    llmgw_jwt_cache_destroy(c);
}

typedef struct {
    llmgw_jwt_cache *c;
    int id;
    int bad;
} worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    char user[32], tok[32];
    snprintf(user, sizeof user, "user%d", w->id);
    llmgw_caller_id in = {.user = user, .nroles = 0}, out;
    for (int i = 0; i < 20000; i++) {
        unsigned char k[32];
        snprintf(tok, sizeof tok, "w%d-%d", w->id, i % 50);
        key_of(tok, k);
        arena local = {.n = 0};
        llmgw_alloc a = {arena_fn, &local};
        int rc = llmgw_jwt_cache_get(w->c, k, 1, 0, &a, &out);
        if (rc == 1 && strcmp(out.user, user))
            w->bad++;                       /* another thread's identity: must never happen */
        if (rc == 0)
            llmgw_jwt_cache_put(w->c, k, 1, 1000, &in);
        arena_free(&local);
    }
    return NULL;
}

static void test_cache_concurrent(void **state)
{
    llmgw_jwt_cache *c = llmgw_jwt_cache_create(64);
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){c, i, 0};
        pthread_create(&t[i], NULL, hammer, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    llmgw_jwt_cache_stats st;
    llmgw_jwt_cache_get_stats(c, &st);
    assert_int_equal(st.hits + st.misses, 80000);
    assert_true(st.entries <= 64);
    llmgw_jwt_cache_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_value_check, reset_arena),
        cmocka_unit_test_teardown(test_path_check, reset_arena),
        cmocka_unit_test_teardown(test_claim_get, reset_arena),
        cmocka_unit_test_teardown(test_map_defaults, reset_arena),
        cmocka_unit_test_teardown(test_map_groups_array_and_team, reset_arena),
        cmocka_unit_test_teardown(test_map_scope_string_and_nested, reset_arena),
        cmocka_unit_test_teardown(test_map_role_limit, reset_arena),
        cmocka_unit_test_teardown(test_map_user_forms_and_refusals, reset_arena),
        cmocka_unit_test_teardown(test_cache_hit_copies, reset_arena),
        cmocka_unit_test_teardown(test_cache_expiry_and_generation, reset_arena),
        cmocka_unit_test_teardown(test_cache_bounded_eviction, reset_arena),
        cmocka_unit_test_teardown(test_cache_concurrent, reset_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
