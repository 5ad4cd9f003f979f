/* test-summary.c — which runs count in a summary, and compare rows.
 * Expected figures are worked by hand from the samples below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>

#include "summary.c"

static json_t *sample(const char *vmm, bool warmup, bool ok, double boot_ms) {
        return json_pack("{s:s, s:b, s:b, s:f}", "vmm", vmm, "warmup", warmup, "ok", ok, "boot_ms", boot_ms);
}

/* qemu: warm-up 999 (ignored), 100, 110, 120, a failed run 5000 (ignored);
 * microvm: warm-up 999, 50, 55, 60, a run without the metric. */
static json_t *samples_fixture(void) {
        json_t *a = json_array();
        json_array_append_new(a, sample("qemu", true, true, 999));
        json_array_append_new(a, sample("microvm", true, true, 999));
        json_array_append_new(a, sample("qemu", false, true, 100));
        json_array_append_new(a, sample("microvm", false, true, 50));
        json_array_append_new(a, sample("qemu", false, true, 110));
        json_array_append_new(a, sample("microvm", false, true, 55));
        json_array_append_new(a, sample("qemu", false, true, 120));
        json_array_append_new(a, sample("microvm", false, true, 60));
        json_array_append_new(a, sample("qemu", false, false, 5000));
        json_array_append_new(a, json_pack("{s:s, s:b, s:b}", "vmm", "microvm", "warmup", false, "ok", true));
        return a;
}

static char *metrics[] = { "boot_ms", "missing_ms", NULL };
static const char *vmms[] = { "qemu", "microvm" };

static void test_summary_counts_measured_runs_only(void **state) {
        json_t *s = samples_fixture();
        json_t *sum = summary_of(s, metrics, "qemu");
        json_t *boot = json_object_get(sum, "boot_ms");
        assert_non_null(boot);
        assert_int_equal(json_integer_value(json_object_get(boot, "n")), 3);
        assert_true(fabs(json_real_value(json_object_get(boot, "mean")) - 110.0) < 1e-9);
        assert_true(fabs(json_real_value(json_object_get(boot, "sd")) - 10.0) < 1e-9);
        assert_null(json_object_get(sum, "missing_ms")); /* no values: no entry, not zeros */
        json_decref(sum);

        sum = summary_of(s, metrics, NULL); /* every VMM together: 6 runs, mean 82.5 */
        assert_int_equal(json_integer_value(json_object_get(json_object_get(sum, "boot_ms"), "n")), 6);
        assert_true(fabs(json_real_value(json_object_get(json_object_get(sum, "boot_ms"), "mean")) - 82.5) < 1e-9);
        json_decref(sum);
        json_decref(s);
}

static void test_summary_by_vmm(void **state) {
        json_t *s = samples_fixture();
        json_t *by = summary_by_vmm(s, metrics, vmms, 2);
        assert_true(fabs(json_real_value(json_object_get(json_object_get(json_object_get(by, "microvm"), "boot_ms"), "mean")) -
                         55.0) < 1e-9);
        json_decref(by);
        json_decref(s);
}

static void test_comparisons(void **state) {
        json_t *s = samples_fixture();
        json_t *rows = summary_comparisons(s, metrics, vmms, 2);
        assert_int_equal(json_array_size(rows), 1); /* missing_ms has no values: no row */
        json_t *r = json_array_get(rows, 0);
        assert_string_equal(json_string_value(json_object_get(r, "vmm")), "microvm");
        assert_string_equal(json_string_value(json_object_get(r, "reference")), "qemu");
        assert_true(fabs(json_real_value(json_object_get(r, "ratio")) - 0.5) < 1e-9);
        assert_true(fabs(json_real_value(json_object_get(r, "diff_mean")) + 55.0) < 1e-9);
        /* Exact permutation test, 3 vs 3, complete separation: 2 of C(6,3) = 20 splits. */
        assert_true(fabs(json_real_value(json_object_get(r, "p_permutation")) - 0.1) < 1e-9);
        json_decref(rows);

        /* One VMM only: nothing to compare. */
        rows = summary_comparisons(s, metrics, vmms, 1);
        assert_int_equal(json_array_size(rows), 0);
        json_decref(rows);
        json_decref(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_summary_counts_measured_runs_only),
                cmocka_unit_test(test_summary_by_vmm),
                cmocka_unit_test(test_comparisons),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
