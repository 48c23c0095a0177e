/* test_memo.c — cmocka tests for llmgw_memo, the lock-free lookup memo: what it
 * answers and what it refuses to keep, names that differ in any byte or only in
 * length, slot replacement, and four threads reading and writing a few slots at once
 * (a hit must always carry the value put for that very name). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "llmgw_memo.h"

static llmgw_memo_slot slots[8];
static llmgw_memo memo;
static const int scope_a = 1, scope_b = 2;

static int setup(void **state)
{
    (void)state;
    memset(slots, 0, sizeof slots);
    llmgw_memo_init(&memo, slots, 8, 0x1234567890abcdefULL);
    return 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    static const int v1 = 1, v2 = 2;
    const void *got = NULL;
    assert_false(llmgw_memo_get(&memo, &scope_a, "gpt-4o", 6, &got));
    llmgw_memo_put(&memo, &scope_a, "gpt-4o", 6, &v1);
    assert_true(llmgw_memo_get(&memo, &scope_a, "gpt-4o", 6, &got));
    assert_ptr_equal(got, &v1);
    llmgw_memo_put(&memo, &scope_a, "gpt-4o", 6, &v2);     /* a later answer replaces */
    assert_true(llmgw_memo_get(&memo, &scope_a, "gpt-4o", 6, &got));
    assert_ptr_equal(got, &v2);
    assert_false(llmgw_memo_get(&memo, &scope_b, "gpt-4o", 6, &got));   /* other scope */
}

static void test_null_is_an_answer(void **state)
{
    (void)state;
    const void *got = &scope_a;
    llmgw_memo_put(&memo, &scope_a, "unpriced-model", 14, NULL);
    assert_true(llmgw_memo_get(&memo, &scope_a, "unpriced-model", 14, &got));
    assert_null(got);
}

/* Every byte of the name counts, in every position of a word, and so does its length
 * (a prefix, or the name with a NUL more, is another name). */
static void test_names_differ(void **state)
{
    (void)state;
    static const int v = 7;
    char name[LLMGW_MEMO_NAME_MAX + 1], other[LLMGW_MEMO_NAME_MAX + 1];
    const void *got;
    for (size_t len = 1; len <= LLMGW_MEMO_NAME_MAX; len += (len < 20 ? 1 : 13)) {
        for (size_t i = 0; i < len; i++)
            name[i] = (char)('a' + (i * 7 + len) % 26);
        setup(NULL);
        llmgw_memo_put(&memo, &scope_a, name, len, &v);
        assert_true(llmgw_memo_get(&memo, &scope_a, name, len, &got));
        for (size_t i = 0; i < len; i++) {
            memcpy(other, name, len);
            other[i] ^= 0x20;
            assert_false(llmgw_memo_get(&memo, &scope_a, other, len, &got));
        }
        if (len > 1)
            assert_false(llmgw_memo_get(&memo, &scope_a, name, len - 1, &got));
        if (len < LLMGW_MEMO_NAME_MAX) {
            memcpy(other, name, len);
            other[len] = '\0';
            assert_false(llmgw_memo_get(&memo, &scope_a, other, len + 1, &got));
        }
    }
}

static void test_not_kept(void **state)
{
    (void)state;
    static const int v = 3;
    char long_name[LLMGW_MEMO_NAME_MAX + 1];
    const void *got;
    memset(long_name, 'k', sizeof long_name);
    llmgw_memo_put(&memo, &scope_a, long_name, sizeof long_name, &v);
    assert_false(llmgw_memo_get(&memo, &scope_a, long_name, sizeof long_name, &got));
    llmgw_memo_put(&memo, &scope_a, "", 0, &v);
    assert_false(llmgw_memo_get(&memo, &scope_a, "", 0, &got));
    llmgw_memo unset = {0};            /* before child init: never a hit, no crash */
    llmgw_memo_put(&unset, &scope_a, "k", 1, &v);
    assert_false(llmgw_memo_get(&unset, &scope_a, "k", 1, &got));
}

/* Parts joined with a NUL after each; NULL parts left out; too long: 0. */
static void test_join(void **state)
{
    (void)state;
    char name[LLMGW_MEMO_NAME_MAX], long_part[LLMGW_MEMO_NAME_MAX];
    const char *parts[3] = {"openai", NULL, "gpt-4o"};
    assert_int_equal(llmgw_memo_join(name, parts, 3), 14);
    assert_memory_equal(name, "openai\0gpt-4o\0", 14);
    const char *split[2] = {"open", "aigpt-4o"};      /* same bytes, other parts */
    char other[LLMGW_MEMO_NAME_MAX];
    assert_int_equal(llmgw_memo_join(other, split, 2), 14);
    assert_memory_not_equal(name, other, 14);
    memset(long_part, 'm', sizeof long_part - 1);
    long_part[sizeof long_part - 1] = '\0';
    const char *fits[1] = {long_part}, *too_long[2] = {"p", long_part};
    assert_int_equal(llmgw_memo_join(name, fits, 1), LLMGW_MEMO_NAME_MAX);
    assert_int_equal(llmgw_memo_join(name, too_long, 2), 0);
}

/* A memo of a single slot, so that every name lands in it. */
static void one_slot(llmgw_memo *m, llmgw_memo_slot *slot, uint64_t seed)
{
    memset(slot, 0, sizeof *slot);
    llmgw_memo_init(m, slot, 1, seed);
}

/* One slot: the newest name takes it, the older one is looked up again. */
static void test_replacement(void **state)
{
    (void)state;
    static const int v1 = 1, v2 = 2;
    llmgw_memo_slot one[1];
    llmgw_memo m;
    const void *got;
    one_slot(&m, one, 99);
    llmgw_memo_put(&m, &scope_a, "first", 5, &v1);
    llmgw_memo_put(&m, &scope_a, "second", 6, &v2);
    assert_false(llmgw_memo_get(&m, &scope_a, "first", 5, &got));
    assert_true(llmgw_memo_get(&m, &scope_a, "second", 6, &got));
    assert_ptr_equal(got, &v2);
}

/* A slot whose sequence is odd is being written: it answers nothing, even when it
 * holds the name, and a second writer leaves it alone. */
static void test_writer_in_progress(void **state)
{
    (void)state;
    static const int v1 = 1, v2 = 2;
    llmgw_memo_slot one[1];
    llmgw_memo m;
    const void *got;
    one_slot(&m, one, 5);
    llmgw_memo_put(&m, &scope_a, "name", 4, &v1);
    assert_int_equal(one[0].seq, 2);
    one[0].seq = 3;
    assert_false(llmgw_memo_get(&m, &scope_a, "name", 4, &got));
    llmgw_memo_put(&m, &scope_a, "name", 4, &v2);
    assert_int_equal(one[0].seq, 3);
    assert_ptr_equal(one[0].val, &v1);
    one[0].seq = 4;
    assert_true(llmgw_memo_get(&m, &scope_a, "name", 4, &got));
    assert_ptr_equal(got, &v1);
}

/* --- threads: 16 names fight over 2 slots (a smoke test: the window a broken
 * seqlock leaves is a few instructions wide, and x86 rarely shows it)  ---------------------------------------- */

#define NAMES 16
#define ROUNDS 200000
static int values[NAMES];
static char names[NAMES][48];
static llmgw_memo_slot shared_slots[2];
static llmgw_memo shared;

static void *hammer(void *arg)
{
    unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    long hits = 0, wrong = 0;
    for (int r = 0; r < ROUNDS; r++) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 16) % NAMES);
        size_t len = strlen(names[i]);
        const void *got;
        if (llmgw_memo_get(&shared, &scope_a, names[i], len, &got)) {
            hits++;
            wrong += got != &values[i];
        } else {
            llmgw_memo_put(&shared, &scope_a, names[i], len, &values[i]);
        }
    }
    return (void *)(intptr_t)(wrong ? -1 : hits);
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    long total = 0;
    for (int i = 0; i < NAMES; i++)     /* names of several lengths, alike in their heads */
        snprintf(names[i], sizeof names[i], "llmgw_key_%0*d", 4 + (i % 5) * 7, i);
    llmgw_memo_init(&shared, shared_slots, 2, 42);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_true((intptr_t)res >= 0);   /* no hit ever answered another name */
        total += (intptr_t)res;
    }
    assert_true(total > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_round_trip, setup),
        cmocka_unit_test_setup(test_null_is_an_answer, setup),
        cmocka_unit_test_setup(test_names_differ, setup),
        cmocka_unit_test_setup(test_not_kept, setup),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_replacement),
        cmocka_unit_test(test_writer_in_progress),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
