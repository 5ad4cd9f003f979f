/* test-utf8.c — utf8_scrub keeps valid text and replaces only bad bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "utf8.c"

static void test_valid_text_unchanged(void **state) {
        char s[] = "plain ASCII, 中文, emoji \xf0\x9f\x98\x80, µs";
        char copy[sizeof(s)];
        memcpy(copy, s, sizeof(s));
        assert_int_equal(utf8_scrub(s), 0);
        assert_string_equal(s, copy);
}

static void test_invalid_bytes_replaced(void **state) {
        char lone_continuation[] = "a\x80z";
        assert_int_equal(utf8_scrub(lone_continuation), 1);
        assert_string_equal(lone_continuation, "a?z");

        char truncated[] = "x\xe4\xb8";
        assert_int_equal(utf8_scrub(truncated), 2);
        assert_string_equal(truncated, "x??");

        char overlong_slash[] = "\xc0\xaf";
        assert_int_equal(utf8_scrub(overlong_slash), 2);
        assert_string_equal(overlong_slash, "??");

        char surrogate[] = "\xed\xa0\x80";
        assert_int_equal(utf8_scrub(surrogate), 3);

        char too_big[] = "\xf4\x90\x80\x80";
        assert_int_equal(utf8_scrub(too_big), 4);

        char latin1[] = "caf\xe9!";
        assert_int_equal(utf8_scrub(latin1), 1);
        assert_string_equal(latin1, "caf?!");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_text_unchanged),
                cmocka_unit_test(test_invalid_bytes_replaced),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
