/* test-cpuset.c — CPU list syntax and the online check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <unistd.h>

#include "cpuset.c"

static void test_lists(void **state) {
        cpu_set_t s;
        assert_int_equal(cpuset_parse("0", &s), 0);
        assert_int_equal(CPU_COUNT(&s), 1);
        assert_true(CPU_ISSET(0, &s));
        if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
                assert_int_equal(cpuset_parse("0-1", &s), 0);
                assert_int_equal(CPU_COUNT(&s), 2);
                assert_int_equal(cpuset_parse("1,0", &s), 0);
                assert_int_equal(CPU_COUNT(&s), 2);
        }
}

static void test_bad_syntax(void **state) {
        cpu_set_t s;
        const char *bad[] = { "", "a", "1-", "-1", "3-1", "0,", ",0", "0 1", "1.5", "99999999" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(cpuset_parse(bad[i], &s), -EINVAL);
}

static void test_offline_cpu(void **state) {
        cpu_set_t s;
        /* CPU_SETSIZE - 1 parses, but no test machine has 1024 CPUs online. */
        assert_int_equal(cpuset_parse("1023", &s), -ENXIO);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lists),
                cmocka_unit_test(test_bad_syntax),
                cmocka_unit_test(test_offline_cpu),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
