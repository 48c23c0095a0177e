/* test_limtable.c — cmocka tests for llmgw_limtable: claiming and finding slots,
 * exact check-and-increment, saturation, reclaiming slots only after their window and
 * the grace period, fail-closed when full, statistics binding across reloads, and
 * exactness under real concurrency: forked processes hammering one MAP_SHARED table
 * (as httpd's prefork children do) must take exactly `limit` units and never create
 * two counters for one key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "llmgw_limtable.h"
#include "llmgw_ratelimit.h"

static void *shared_mem(size_t n)
{
    void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    return m;
}

static uint64_t fp_of(const char *key)
{
    return llmgw_rl_fingerprint(key, strlen(key));
}

static void test_geometry(void **state)
{
    assert_int_equal(llmgw_lt_round_slots(0), 0);
    assert_int_equal(llmgw_lt_round_slots(1), LLMGW_LT_MIN_SLOTS);
    assert_int_equal(llmgw_lt_round_slots(1000), 1024);
    assert_int_equal(llmgw_lt_round_slots(1024), 1024);
    assert_int_equal(llmgw_lt_round_slots(0xffffffffu), LLMGW_LT_MAX_SLOTS);
    size_t n = llmgw_lt_size(100, 4);
    void *m = calloc(1, n);
    llmgw_lt t, u;
    llmgw_lt_init(&t, m, 100, 4);
    assert_int_equal(t.h->nslots, 128);
    assert_int_equal(llmgw_lt_attach(&u, m, n, 100, 4), 0);
    assert_ptr_equal(u.slots, t.slots);
    assert_ptr_equal(u.stats, t.stats);
    assert_int_equal(llmgw_lt_attach(&u, m, n, 1000, 4), -1);   /* geometry changed */
    assert_int_equal(llmgw_lt_attach(&u, m, n, 100, 5), -1);
    assert_int_equal(llmgw_lt_attach(&u, m, n - 1, 100, 4), -1);
    memset(m, 0, 8);
    assert_int_equal(llmgw_lt_attach(&u, m, n, 100, 4), -1);    /* no magic */
    free(m);
}

static void test_acquire_take(void **state)
{
    size_t n = llmgw_lt_size(64, 0);
    void *m = calloc(1, n);
    llmgw_lt t;
    llmgw_lt_init(&t, m, 64, 0);
    uint64_t a = fp_of("a"), b = fp_of("b");
    llmgw_lt_slot *sa = llmgw_lt_acquire(&t, a, 1000, 500);
    llmgw_lt_slot *sb = llmgw_lt_acquire(&t, b, 1000, 500);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_ptr_not_equal(sa, sb);
    assert_ptr_equal(llmgw_lt_acquire(&t, a, 1000, 600), sa);
    assert_ptr_equal(llmgw_lt_find(&t, a), sa);
    assert_null(llmgw_lt_find(&t, fp_of("c")));
    assert_true(llmgw_lt_holds(sa, a));
    assert_false(llmgw_lt_holds(sa, b));

    int64_t after;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(llmgw_lt_take(sa, 1, 3, &after), 1);
        assert_int_equal(after, i);
    }
    assert_int_equal(llmgw_lt_take(sa, 1, 3, &after), 0);
    assert_int_equal(after, 3);
    assert_int_equal(llmgw_lt_count(sa), 3);
    assert_int_equal(llmgw_lt_take(sb, 5, 4, &after), 0);       /* cost above the limit */
    assert_int_equal(llmgw_lt_take(sb, 4, 4, &after), 1);
    assert_int_equal(llmgw_lt_add(sa, -1), 2);
    assert_int_equal(llmgw_lt_add(sa, -10), 0);                 /* never negative */
    assert_int_equal(llmgw_lt_add(sa, INT64_MAX), INT64_MAX);
    assert_int_equal(llmgw_lt_add(sa, 5), INT64_MAX);           /* saturates */
    assert_null(llmgw_lt_acquire(&t, 0, 1000, 500));            /* reserved fingerprints */
    assert_null(llmgw_lt_acquire(&t, 1, 1000, 500));
    free(m);
}

static void test_reclaim_after_grace(void **state)
{
    /* a table so small every key shares one probe run: 64 slots, all filled */
    size_t n = llmgw_lt_size(64, 0);
    void *m = calloc(1, n);
    llmgw_lt t;
    llmgw_lt_init(&t, m, 64, 0);
    char k[32];
    for (int i = 0; i < 64; i++) {
        snprintf(k, sizeof k, "old%d", i);
        llmgw_lt_slot *s = llmgw_lt_acquire(&t, fp_of(k), 1000, 900);
        assert_non_null(s);
        llmgw_lt_add(s, 7);
    }
    assert_int_equal(llmgw_lt_full_total(&t), 0);
    /* full, and no window over yet: a new key is refused and counted */
    assert_null(llmgw_lt_acquire(&t, fp_of("new"), 2000, 999));
    assert_int_equal(llmgw_lt_full_total(&t), 1);
    /* window over but within the grace period: still refused */
    assert_null(llmgw_lt_acquire(&t, fp_of("new"), 2000, 1000 + LLMGW_LT_GRACE - 1));
    assert_int_equal(llmgw_lt_full_total(&t), 2);
    /* after the grace period an expired slot is reused, with a fresh count */
    llmgw_lt_slot *s = llmgw_lt_acquire(&t, fp_of("new"), 2000, 1000 + LLMGW_LT_GRACE);
    assert_non_null(s);
    assert_int_equal(llmgw_lt_count(s), 0);
    assert_ptr_equal(llmgw_lt_find(&t, fp_of("new")), s);
    /* the old keys that kept their slots are still found with their counts */
    int found = 0;
    for (int i = 0; i < 64; i++) {
        snprintf(k, sizeof k, "old%d", i);
        llmgw_lt_slot *o = llmgw_lt_find(&t, fp_of(k));
        if (o) {
            found++;
            assert_int_equal(llmgw_lt_count(o), 7);
        }
    }
    assert_int_equal(found, 63);
    free(m);
}

static void test_fill_large_table(void **state)
{
    /* 4096 slots take 4096 keys (load factor 1 within the probe limit is not
     * guaranteed, 75% is): every key lands once and is found again */
    size_t n = llmgw_lt_size(4096, 0);
    void *m = calloc(1, n);
    llmgw_lt t;
    llmgw_lt_init(&t, m, 4096, 0);
    char k[32];
    for (int i = 0; i < 3072; i++) {
        snprintf(k, sizeof k, "llmgw:rl:r:1h:1:user%d", i);
        llmgw_lt_slot *s = llmgw_lt_acquire(&t, fp_of(k), 5000, 100);
        assert_non_null(s);
        llmgw_lt_add(s, i);
    }
    for (int i = 0; i < 3072; i++) {
        snprintf(k, sizeof k, "llmgw:rl:r:1h:1:user%d", i);
        llmgw_lt_slot *s = llmgw_lt_find(&t, fp_of(k));
        assert_non_null(s);
        assert_int_equal(llmgw_lt_count(s), i);
    }
    assert_int_equal(llmgw_lt_full_total(&t), 0);
    free(m);
}

static void test_stats(void **state)
{
    size_t n = llmgw_lt_size(0, 3);
    void *m = calloc(1, n);
    llmgw_lt t;
    int idx[4];
    llmgw_lt_init(&t, m, 0, 3);
    assert_null(llmgw_lt_acquire(&t, fp_of("a"), 10, 1));      /* no slots: stats only */
    const char *gen1[] = {"a", "b"};
    llmgw_lt_stats_bind(&t, gen1, 2, idx);
    assert_true(idx[0] >= 0 && idx[1] >= 0 && idx[0] != idx[1]);
    llmgw_lt_stat_inc(&t, idx[0]);
    llmgw_lt_stat_inc(&t, idx[0]);
    llmgw_lt_stat_inc(&t, idx[1]);
    int a_idx = idx[0];
    /* reload: "a" keeps its count, "b" is gone, "c" and "d" are new; 3 entries */
    const char *gen2[] = {"c", "a", "d"};
    llmgw_lt_stats_bind(&t, gen2, 3, idx);
    assert_int_equal(idx[1], a_idx);
    assert_int_equal(llmgw_lt_stat_get(&t, idx[1]), 2);
    assert_true(idx[0] >= 0 && idx[2] >= 0);
    assert_int_equal(llmgw_lt_stat_get(&t, idx[0]), 0);
    assert_int_equal(llmgw_lt_stat_get(&t, idx[2]), 0);
    /* more names than entries: the extra one is not counted, nothing breaks */
    const char *gen3[] = {"a", "c", "d", "e"};
    llmgw_lt_stats_bind(&t, gen3, 4, idx);
    assert_int_equal(idx[3], -1);
    llmgw_lt_stat_inc(&t, -1);
    assert_int_equal(llmgw_lt_stat_get(&t, -1), 0);
    free(m);
}

/* --- concurrency: processes sharing the table, as prefork children do ----------- */

enum { PROCS = 8, ITER = 50000, LIMIT = 150000, KEYS = 200 };

/* Children wait here until all are forked, so they really run at the same time. */
static volatile int *start_flag;

static void wait_start(void)
{
    while (!__atomic_load_n(start_flag, __ATOMIC_ACQUIRE))
        ;
}

static void go(void)
{
    __atomic_store_n(start_flag, 1, __ATOMIC_RELEASE);
}

static void test_concurrent_take_exact(void **state)
{
    size_t n = llmgw_lt_size(1024, 0);
    void *m = shared_mem(n);
    llmgw_lt t;
    llmgw_lt_init(&t, m, 1024, 0);
    int *won = shared_mem(sizeof(int) * PROCS);
    uint64_t fp = fp_of("llmgw:rl:hot:1h:1:");
    start_flag = shared_mem(sizeof(int));
    for (int p = 0; p < PROCS; p++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            llmgw_lt c;
            if (llmgw_lt_attach(&c, m, n, 1024, 0) < 0)
                _exit(2);
            int mine = 0;
            int64_t after;
            wait_start();
            for (int i = 0; i < ITER; i++) {
                llmgw_lt_slot *s = llmgw_lt_acquire(&c, fp, 5000, 100);
                if (!s)
                    _exit(3);
                mine += llmgw_lt_take(s, 1, LIMIT, &after);
            }
            won[p] = mine;
            _exit(0);
        }
    }
    int total = 0, status;
    go();
    for (int p = 0; p < PROCS; p++) {
        assert_true(wait(&status) > 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int p = 0; p < PROCS; p++)
        total += won[p];
    assert_int_equal(total, LIMIT);          /* 400000 attempts, exactly 150000 taken */
    assert_int_equal(llmgw_lt_count(llmgw_lt_find(&t, fp)), LIMIT);
    munmap(won, sizeof(int) * PROCS);
    munmap(m, n);
}

static void test_concurrent_insert_no_duplicates(void **state)
{
    /* every process adds 1 to each of KEYS keys, in a different order, many times;
     * a key claimed twice would show as two counters with split counts */
    size_t n = llmgw_lt_size(256, 0);
    void *m = shared_mem(n);
    llmgw_lt t;
    llmgw_lt_init(&t, m, 256, 0);
    enum { ROUNDS = 200 };
    start_flag = shared_mem(sizeof(int));
    for (int p = 0; p < PROCS; p++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            llmgw_lt c;
            char k[32];
            if (llmgw_lt_attach(&c, m, n, 256, 0) < 0)
                _exit(2);
            wait_start();
            for (int r = 0; r < ROUNDS; r++)
                for (int i = 0; i < KEYS; i++) {
                    int key = (i * 7 + p * 31 + r) % KEYS;
                    snprintf(k, sizeof k, "key%d", key);
                    llmgw_lt_slot *s = llmgw_lt_acquire(&c, fp_of(k), 5000, 100);
                    if (!s)
                        _exit(3);
                    llmgw_lt_add(s, 1);
                }
            _exit(0);
        }
    }
    int status;
    go();
    for (int p = 0; p < PROCS; p++) {
        assert_true(wait(&status) > 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    int used = 0;
    for (uint32_t i = 0; i < t.h->nslots; i++)
        used += t.slots[i].fp >= 2;
    assert_int_equal(used, KEYS);
    char k[32];
    for (int i = 0; i < KEYS; i++) {
        snprintf(k, sizeof k, "key%d", i);
        llmgw_lt_slot *s = llmgw_lt_find(&t, fp_of(k));
        assert_non_null(s);
        assert_int_equal(llmgw_lt_count(s), PROCS * ROUNDS);
    }
    munmap(m, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_acquire_take),
        cmocka_unit_test(test_reclaim_after_grace),
        cmocka_unit_test(test_fill_large_table),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_concurrent_take_exact),
        cmocka_unit_test(test_concurrent_insert_no_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
