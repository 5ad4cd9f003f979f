/* test-gate.c — the baseline gate of `virtlabctl compare` (clients/gate.c,
 * included: client code is not in libvirtlab.a; its statistics are).
 *
 * The gate must catch a real regression (mean up by more than the threshold,
 * significant) and let noise through: a big change in scattered data, a
 * significant but small change, and identical reruns.  Reference p-values
 * come from itertools.combinations over every split (stdlib Python), as in
 * test-stats.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../clients/gate.c"
#include "../../clients/human.c"

static const double base10[] = { 100, 101, 99, 100.5, 99.5, 100.2, 99.8, 100.1, 99.9, 100 };

static void test_regression_detected(void **state) {
        double cur[10];
        GateJudgement j;
        for (size_t i = 0; i < 10; i++)
                cur[i] = base10[i] * 1.25; /* +25 %, no overlap: p is the smallest a 10/10 split gives */
        assert_int_equal(gate_judge(base10, 10, cur, 10, 0.10, 0.01, &j), 0);
        assert_int_equal(j.verdict, GATE_REGRESSION);
        assert_true(fabs(j.change - 0.25) < 1e-12);
        /* Exact: 2 of C(20,10) = 184756 splits are this extreme. */
        assert_true(fabs(j.p - 2.0 / 184756.0) < 1e-12);
}

static void test_improvement(void **state) {
        double cur[10];
        GateJudgement j;
        for (size_t i = 0; i < 10; i++)
                cur[i] = base10[i] * 0.5;
        assert_int_equal(gate_judge(base10, 10, cur, 10, 0.10, 0.01, &j), 0);
        assert_int_equal(j.verdict, GATE_IMPROVEMENT);
}

static void test_noise_passes(void **state) {
        GateJudgement j;
        /* Large mean change, but the samples overlap wildly: not significant. */
        static const double noisy_base[] = { 50, 150, 80, 120, 100 };
        static const double noisy_cur[] = { 60, 200, 90, 160, 110 };
        assert_int_equal(gate_judge(noisy_base, 5, noisy_cur, 5, 0.10, 0.01, &j), 0);
        assert_true(j.change > 0.10);
        assert_true(j.p > 0.01);
        assert_int_equal(j.verdict, GATE_OK);

        /* Significant but small (+3 %): below the threshold. */
        double cur[10];
        for (size_t i = 0; i < 10; i++)
                cur[i] = base10[i] * 1.03;
        assert_int_equal(gate_judge(base10, 10, cur, 10, 0.10, 0.01, &j), 0);
        assert_true(j.p < 0.01);
        assert_int_equal(j.verdict, GATE_OK);

        /* The same numbers again. */
        assert_int_equal(gate_judge(base10, 10, base10, 10, 0.10, 0.01, &j), 0);
        assert_true(fabs(j.change) < 1e-12);
        assert_true(fabs(j.p - 1.0) < 1e-12);
        assert_int_equal(j.verdict, GATE_OK);
}

static void test_small_samples(void **state) {
        GateJudgement j;
        static const double a[] = { 1 }, b[] = { 5 };
        /* One run a side: no test possible, so never a regression. */
        assert_int_equal(gate_judge(a, 1, b, 1, 0.10, 0.01, &j), 0);
        assert_true(isnan(j.p));
        assert_int_equal(j.verdict, GATE_OK);
        /* 3 vs 3 fully separated: p = 2/20 = 0.1, cannot reach 0.01. */
        static const double a3[] = { 1, 1.1, 1.2 }, b3[] = { 5, 5.1, 5.2 };
        assert_int_equal(gate_judge(a3, 3, b3, 3, 0.10, 0.01, &j), 0);
        assert_true(fabs(j.p - 0.1) < 1e-12);
        assert_int_equal(j.verdict, GATE_OK);
        assert_int_equal(gate_judge(a3, 3, b3, 3, 0.10, 0.2, &j), 0);
        assert_int_equal(j.verdict, GATE_REGRESSION);
}

static void test_bad_input(void **state) {
        GateJudgement j;
        assert_int_equal(gate_judge(base10, 0, base10, 10, 0.1, 0.01, &j), -EINVAL);
        assert_int_equal(gate_judge(base10, 10, base10, 10, -0.1, 0.01, &j), -EINVAL);
        assert_int_equal(gate_judge(base10, 10, base10, 10, 0.1, 0, &j), -EINVAL);
        assert_int_equal(gate_judge(base10, 10, base10, 10, 0.1, 1, &j), -EINVAL);
        assert_int_equal(gate_judge(base10, 10, base10, 10, NAN, 0.01, &j), -EINVAL);
}

/* A compare job's result document with two VMMs, one metric. */
static json_t *fake_result(double scale_b) {
        json_t *runs = json_array();
        for (int i = 0; i < 12; i++) {
                bool b = i % 2 == 1, warm = i < 2;
                json_array_append_new(runs, json_pack("{s:i, s:b, s:s, s:b, s:n, s:f}", "index", i, "warmup", warm, "vmm",
                                                      b ? "qemu-microvm" : "qemu", "ok", 1, "error", "boot_ms",
                                                      (warm ? 999.0 : base10[i / 2]) * (b ? scale_b : 1.0)));
        }
        return json_pack("{s:s, s:s, s:[s,s], s:[s], s:{s:s}, s:o, s:{s:s, s:{s:s}}}", "kind", "boot", "state", "done",
                         "vmms", "qemu", "qemu-microvm", "metrics", "boot_ms", "spec", "vmm", "qemu", "runs", runs,
                         "environment", "accel", "tcg", "image", "image_hash", "abc");
}

static void test_baseline_roundtrip(void **state) {
        json_auto_t *doc = fake_result(0.8);
        json_auto_t *base = gate_baseline_from_results(&doc, 1);
        assert_non_null(base);
        json_t *e = json_object_get(json_object_get(base, "entries"), "boot/qemu-microvm/boot_ms");
        assert_non_null(e);
        assert_int_equal(json_integer_value(json_object_get(e, "n")), 5); /* warm-up runs left out */
        assert_non_null(json_object_get(json_object_get(base, "entries"), "boot/qemu/boot_ms"));

        /* Same results against themselves: zero regressions, every row ok. */
        json_t *rows = NULL;
        assert_int_equal(gate_check(base, base, 0.10, 0.01, &rows), 0);
        assert_int_equal(json_array_size(rows), 2);
        json_decref(rows);

        /* The baseline with every sample halved: now everything looks 2× slower. */
        json_auto_t *halved = json_deep_copy(base);
        const char *key;
        json_t *entry, *x;
        size_t i;
        json_object_foreach(json_object_get(halved, "entries"), key, entry)
                json_array_foreach(json_object_get(entry, "samples"), i, x) json_real_set(x, json_real_value(x) / 2);
        /* 5 vs 5 fully separated: p = 2/252 ≈ 0.0079 < 0.01. */
        assert_int_equal(gate_check(halved, base, 0.10, 0.01, &rows), 2);
        json_t *row;
        json_array_foreach(rows, i, row) {
                assert_string_equal(json_string_value(json_object_get(row, "verdict")), "regression");
                assert_true(fabs(json_real_value(json_object_get(row, "change")) - 1.0) < 1e-9);
        }

        char *xml = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&xml, &len);
        gate_write_junit(f, "suite <&>", rows);
        fclose(f);
        assert_non_null(strstr(xml, "tests=\"2\" failures=\"2\""));
        assert_non_null(strstr(xml, "name=\"suite &lt;&amp;&gt;\""));
        assert_non_null(strstr(xml, "<failure type=\"regression\""));
        free(xml);
        json_decref(rows);

        /* A metric that disappeared is reported, not failed. */
        json_auto_t *less = json_deep_copy(base);
        json_object_del(json_object_get(less, "entries"), "boot/qemu/boot_ms");
        assert_int_equal(gate_check(base, less, 0.10, 0.01, &rows), 0);
        bool missing = false;
        json_array_foreach(rows, i, row) missing = missing || streq(json_string_value(json_object_get(row, "verdict")), "missing");
        assert_true(missing);
        json_decref(rows);

        json_auto_t *notbase = json_pack("{s:s}", "schema", "x");
        assert_int_equal(gate_check(notbase, base, 0.10, 0.01, &rows), -EINVAL);
}

/* A rate (bench events/s) regresses when it falls, and improves when it rises. */
static void test_rate_direction(void **state) {
        json_t *samples = json_array(), *lower = json_array();
        for (size_t i = 0; i < 10; i++) {
                json_array_append_new(samples, json_real(base10[i]));
                json_array_append_new(lower, json_real(base10[i] * 0.5));
        }
        json_auto_t *base = json_pack("{s:s, s:{s:{s:s, s:s, s:s, s:i, s:f, s:o}}}", "schema", "virtlab/baseline/v1",
                                      "entries", "bench-cpu/qemu/t1.events_per_s", "kind", "bench-cpu", "vmm", "qemu",
                                      "metric", "t1.events_per_s", "n", 10, "mean", 100.0, "samples", samples);
        json_auto_t *cur = json_deep_copy(base);
        json_object_set_new(json_object_get(json_object_get(cur, "entries"), "bench-cpu/qemu/t1.events_per_s"), "samples",
                            lower);
        json_t *rows = NULL;
        assert_int_equal(gate_check(base, cur, 0.10, 0.01, &rows), 1); /* half the events/s: a regression */
        assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "verdict")), "regression");
        json_decref(rows);
        assert_int_equal(gate_check(cur, base, 0.10, 0.01, &rows), 0); /* twice the events/s: an improvement */
        assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "verdict")), "improvement");
        json_decref(rows);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_regression_detected), cmocka_unit_test(test_improvement),
                cmocka_unit_test(test_noise_passes),        cmocka_unit_test(test_small_samples),
                cmocka_unit_test(test_bad_input),           cmocka_unit_test(test_baseline_roundtrip),
                cmocka_unit_test(test_rate_direction),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
