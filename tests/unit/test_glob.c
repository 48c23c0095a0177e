/* test_glob.c — cmocka tests for llmgw_glob: wildcards, classes, escapes, case,
 * pathological patterns (no exponential backtracking) and literal counts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "llmgw_glob.h"

#define M(p, s) assert_true(llmgw_glob_match((p), (s)))
#define NM(p, s) assert_false(llmgw_glob_match((p), (s)))

static void test_literals_and_empty(void **state)
{
    M("", "");
    NM("", "a");
    NM("a", "");
    M("gpt-4o", "gpt-4o");
    NM("gpt-4o", "gpt-4o-mini");
    NM("gpt-4o-mini", "gpt-4o");
    NM(NULL, "x");
    NM("x", NULL);
}

static void test_star(void **state)
{
    M("*", "");
    M("*", "anything/at all");
    M("**", "x");
    M("gpt-4*", "gpt-4");
    M("gpt-4*", "gpt-4o-2024-08-06");
    NM("gpt-4*", "gpt-3.5-turbo");
    M("*-mini", "gpt-4o-mini");
    NM("*-mini", "gpt-4o-mini-2024");
    M("claude-*-sonnet-*", "claude-3-5-sonnet-20241022");
    M("a*b*c", "abc");
    M("a*b*c", "a-b-b-c-c");
    NM("a*b*c", "a-b-b-c-d");
    M("*a*a*a", "aaa");
    NM("*a*a*a*", "aa");
    M("models/gemini-*", "models/gemini-1.5-pro");
}

static void test_question_mark(void **state)
{
    M("gpt-?", "gpt-4");
    NM("gpt-?", "gpt-");
    NM("gpt-?", "gpt-4o");
    M("??", "ab");
    M("?*", "a");
    NM("?*", "");
}

static void test_case_sensitive(void **state)
{
    NM("GPT-4*", "gpt-4o");
    NM("gpt-4o", "GPT-4o");
    M("[Gg]pt*", "Gpt-4");
}

static void test_classes(void **state)
{
    M("gpt-[34]*", "gpt-3.5-turbo");
    M("gpt-[34]*", "gpt-4o");
    NM("gpt-[34]*", "gpt-5");
    M("v[0-9]", "v7");
    NM("v[0-9]", "vx");
    M("v[!0-9]", "vx");
    NM("v[!0-9]", "v7");
    M("v[^0-9]", "vx");
    M("[]]", "]");
    M("[!]]", "a");
    NM("[!]]", "]");
    M("[a-]", "-");
    M("[-a]", "-");
    M("[a-cx-z]", "y");
    NM("[a-cx-z]", "d");
    NM("[abc]", "");
    NM("[abc]", "ab");
}

static void test_unclosed_bracket_is_literal(void **state)
{
    M("[abc", "[abc");
    NM("[abc", "a");
    M("x[*", "x[yz");
    M("[", "[");
}

static void test_escape(void **state)
{
    M("a\\*b", "a*b");
    NM("a\\*b", "axb");
    M("\\?", "?");
    NM("\\?", "x");
    M("\\[x]", "[x]");
    M("a\\", "a\\");
}

static void test_no_exponential_backtracking(void **state)
{
    char s[4097];
    memset(s, 'a', 4096);
    s[4096] = '\0';
    const char *p = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
    clock_t t0 = clock();
    NM(p, s);
    NM("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*?b", s);
    M("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a", s);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_true(secs < 1.0);
}

static void test_literal_count(void **state)
{
    assert_int_equal(llmgw_glob_literals(""), 0);
    assert_int_equal(llmgw_glob_literals("*"), 0);
    assert_int_equal(llmgw_glob_literals("gpt-4*"), 5);
    assert_int_equal(llmgw_glob_literals("gpt-4o*"), 6);
    assert_int_equal(llmgw_glob_literals("gpt-4o-mini"), 11);
    assert_int_equal(llmgw_glob_literals("gpt-?"), 4);
    assert_int_equal(llmgw_glob_literals("gpt-[34]*"), 4);
    assert_int_equal(llmgw_glob_literals("a\\*b"), 3);
    assert_int_equal(llmgw_glob_literals("[abc"), 4);   /* unclosed: literal */
    assert_int_equal(llmgw_glob_literals("[]]x"), 1);
    assert_int_equal(llmgw_glob_literals(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals_and_empty),
        cmocka_unit_test(test_star),
        cmocka_unit_test(test_question_mark),
        cmocka_unit_test(test_case_sensitive),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_unclosed_bracket_is_literal),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_no_exponential_backtracking),
        cmocka_unit_test(test_literal_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
