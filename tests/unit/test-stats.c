/* test-stats.c — unit tests of stats.c against values computed independently.
 *
 * scipy is not installed here, so reference values come from:
 *  - t quantiles: the NIST/SEMATECH e-Handbook table 1.3.6.7.2 (3 decimals),
 *    closed forms for df 1 and 2, and, for df > 30, a stdlib-only Python
 *    evaluation of the regularized incomplete beta (continued fraction,
 *    Numerical Recipes §6.4) inverted by bisection;
 *  - Mann-Whitney: a stdlib Python implementation that counts U pair by pair
 *    (not by ranks) and takes ties from a Counter, with
 *    p = erfc(max(0, |U - nanb/2| - 0.5) / σ / √2), i.e. scipy's asymptotic
 *    method with continuity correction; the small cases are also done by hand;
 *  - permutation test: itertools.combinations over every split;
 *  - bimodality coefficient: direct Python evaluation of the SAS formula. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "stats.c"

#define N_OF(x) ELEMENTSOF(x)

/* cmocka 1.1 only compares floats; this compares doubles within eps. */
#define assert_close(a, b, eps) check_close((a), (b), (eps), #a, __FILE__, __LINE__)
static void check_close(double a, double b, double eps, const char *expr, const char *file, int line) {
        if (a == b || fabs(a - b) <= eps)
                return;
        print_error("%s = %.17g, expected %.17g within %g\n", expr, a, b, eps);
        _fail(file, line);
}

/* Hollander & Wolfe (1973) p. 29 depression-scale data, used by R's
 * ?wilcox.test; here as two independent samples (y has ties). */
static const double hw_x[] = { 1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30 };
static const double hw_y[] = { 0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29 };
/* Small integer samples with ties across and within groups. */
static const double ties_a[] = { 1, 2, 2, 3, 3, 3, 4, 5 };
static const double ties_b[] = { 3, 3, 4, 4, 5, 6, 6, 7, 8 };

static void test_t_quantile_textbook(void **state) {
        /* NIST/SEMATECH e-Handbook 1.3.6.7.2, column 0.975. */
        static const double nist[] = {
                12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        };
        for (size_t df = 1; df <= N_OF(nist); df++)
                assert_close(stats_t_quantile_975(df), nist[df - 1], 0.0005 + 1e-12);

        static const struct {
                size_t df;
                double t;
        } more[] = { { 40, 2.021 }, { 50, 2.009 }, { 60, 2.000 }, { 80, 1.990 }, { 100, 1.984 }, { 120, 1.980 } };
        for (size_t i = 0; i < N_OF(more); i++)
                assert_close(stats_t_quantile_975(more[i].df), more[i].t, 0.0005 + 1e-12);

        /* Closed forms: t_1 = tan(0.475π); t_2 = (2p-1)·√(2/(4p(1-p))). */
        assert_close(stats_t_quantile_975(1), tan(M_PI * 0.475), 1e-12);
        assert_close(stats_t_quantile_975(2), 0.95 * sqrt(2.0 / 0.0975), 1e-12);
}

static void test_t_quantile_approximation(void **state) {
        /* Python incomplete-beta inversion (see header). */
        static const struct {
                size_t df;
                double t;
        } ref[] = {
                { 31, 2.039513446396408 },   { 35, 2.030107928250346 },   { 40, 2.0210753903062697 },
                { 60, 2.0002978220142644 },  { 100, 1.9839715185235387 }, { 200, 1.971896223633912 },
                { 1000, 1.9623390808264358 }, { 10000, 1.960201239894423 },
        };
        for (size_t i = 0; i < N_OF(ref); i++)
                assert_close(stats_t_quantile_975(ref[i].df), ref[i].t, 5e-8);

        /* Strictly decreasing towards the normal quantile, no jump at 30/31. */
        assert_true(isnan(stats_t_quantile_975(0)));
        for (size_t df = 1; df < 5000; df++) {
                assert_true(stats_t_quantile_975(df) > stats_t_quantile_975(df + 1));
                assert_true(stats_t_quantile_975(df + 1) > Z975);
        }
        assert_close(stats_t_quantile_975(SIZE_MAX), Z975, 1e-12);
}

static void test_summary_basic(void **state) {
        /* Hand-computed: mean 5, Σ(x-5)² = 32, sd = √(32/7), median (4+5)/2. */
        static const double v[] = { 2, 4, 4, 4, 5, 5, 7, 9 };
        StatsSummary s;
        assert_int_equal(stats_summarize(v, N_OF(v), &s), 0);
        assert_int_equal(s.n, 8);
        assert_close(s.mean, 5.0, 1e-12);
        assert_close(s.sd, sqrt(32.0 / 7.0), 1e-12);
        assert_close(s.cv, sqrt(32.0 / 7.0) / 5.0, 1e-12);
        assert_close(s.median, 4.5, 1e-12);
        assert_close(s.min, 2, 0);
        assert_close(s.max, 9, 0);
        /* With the table's 2.365: 5 ∓ 2.365·2.13809/√8 = [3.2122, 6.7878]. */
        assert_close(s.ci95_low, 3.2122, 1e-3);
        assert_close(s.ci95_high, 6.7878, 1e-3);
        assert_close(s.ci95_high - s.mean, s.mean - s.ci95_low, 1e-12);
        assert_true(s.high_cv);
        assert_close(s.bc, 0.28591492776886035, 1e-12);
        assert_false(s.bimodal);

        static const double odd[] = { 9, 1, 5 };
        assert_int_equal(stats_summarize(odd, N_OF(odd), &s), 0);
        assert_close(s.median, 5, 0);
        assert_close(s.sd, 4, 1e-12);
        assert_true(isnan(s.bc));
}

static void test_summary_edge_cases(void **state) {
        StatsSummary s = { .n = 42 };
        static const double one = 3.5;

        assert_int_equal(stats_summarize(&one, 0, &s), -EINVAL);
        assert_int_equal(stats_summarize(NULL, 1, &s), -EINVAL);
        assert_int_equal(s.n, 42); /* untouched on failure */
        const double bad[][2] = { { 1, NAN }, { INFINITY, 1 }, { 1, -INFINITY } };
        for (size_t i = 0; i < N_OF(bad); i++)
                assert_int_equal(stats_summarize(bad[i], 2, &s), -EINVAL);
        const double huge[] = { 1e308, 1e308 };
        assert_int_equal(stats_summarize(huge, 2, &s), -ERANGE);

        /* n == 1: no spread, no interval. */
        assert_int_equal(stats_summarize(&one, 1, &s), 0);
        assert_int_equal(s.n, 1);
        assert_close(s.mean, 3.5, 0);
        assert_close(s.median, 3.5, 0);
        assert_close(s.sd, 0, 0);
        assert_close(s.cv, 0, 0);
        assert_true(isnan(s.ci95_low) && isnan(s.ci95_high));
        assert_false(s.high_cv || s.bimodal);

        /* All equal, with a value (0.1) whose naive mean would round. */
        double eq[10];
        for (size_t i = 0; i < N_OF(eq); i++)
                eq[i] = 0.1;
        assert_int_equal(stats_summarize(eq, N_OF(eq), &s), 0);
        assert_true(s.mean == 0.1 && s.median == 0.1 && s.sd == 0 && s.cv == 0);
        assert_true(s.ci95_low == 0.1 && s.ci95_high == 0.1);
        assert_true(isnan(s.bc));
        assert_false(s.high_cv || s.bimodal);

        /* Zero mean: cv undefined. */
        const double sym[] = { -1, 1 };
        assert_int_equal(stats_summarize(sym, 2, &s), 0);
        assert_true(isnan(s.cv));
        assert_false(s.high_cv);
}

static void test_summary_flags(void **state) {
        StatsSummary s;

        const double wide[] = { 90, 110 }, narrow[] = { 99, 101 };
        assert_int_equal(stats_summarize(wide, 2, &s), 0);
        assert_true(s.high_cv); /* cv = √200/100 ≈ 0.141 */
        assert_int_equal(stats_summarize(narrow, 2, &s), 0);
        assert_false(s.high_cv); /* ≈ 0.014 */

        /* Two tight clusters of 5: BC = 0.5652 (Python) > 5/9. */
        const double two[] = { 100, 101, 99, 100.5, 99.5, 200, 201, 199, 200.5, 199.5 };
        assert_int_equal(stats_summarize(two, N_OF(two), &s), 0);
        assert_close(s.bc, 0.5652045669947867, 1e-12);
        assert_true(s.bimodal);

        /* Nine runs near 100 and one at 200: BC = 0.767, but one outlier is not a mode. */
        const double outlier[] = { 100, 101, 99, 100.5, 99.5, 100.2, 99.8, 100.1, 99.9, 200 };
        assert_int_equal(stats_summarize(outlier, N_OF(outlier), &s), 0);
        assert_close(s.bc, 0.7667928982822023, 1e-12);
        assert_false(s.bimodal);
        assert_true(s.high_cv);

        /* Too few samples to call it. */
        const double six[] = { 100, 101, 99, 200, 201, 199 };
        assert_int_equal(stats_summarize(six, N_OF(six), &s), 0);
        assert_false(s.bimodal);

        /* Uniform 1..20 (BC 0.427) and a normal-looking sample (BC 0.313). */
        double uni[20];
        for (size_t i = 0; i < N_OF(uni); i++)
                uni[i] = (double) (i + 1);
        assert_int_equal(stats_summarize(uni, N_OF(uni), &s), 0);
        assert_close(s.bc, 0.4274937133277452, 1e-12);
        assert_false(s.bimodal);
        const double normal[] = { 103.86, 104.35, 100.2, 97.71,  96.72, 100.09, 96.93, 95.69,  100.6,  100.4,
                                  101.64, 97.26,  100.02, 99.81, 95.48, 101.61, 100.96, 107.17, 100.61, 99.57 };
        assert_int_equal(stats_summarize(normal, N_OF(normal), &s), 0);
        assert_close(s.bc, 0.3131770257906043, 1e-12);
        assert_false(s.bimodal || s.high_cv);
}

static void test_summary_json(void **state) {
        StatsSummary s;
        const double v[] = { 2, 4, 4, 4, 5, 5, 7, 9 };
        assert_int_equal(stats_summarize(v, N_OF(v), &s), 0);
        json_auto_t *j = stats_summary_to_json(&s);
        assert_non_null(j);
        static const char *const keys[] = { "n",   "mean", "sd",       "cv",        "median", "min",
                                            "max", "ci95_low", "ci95_high", "high_cv", "bimodal" };
        assert_int_equal(json_object_size(j), N_OF(keys));
        for (size_t i = 0; i < N_OF(keys); i++)
                assert_non_null(json_object_get(j, keys[i]));
        assert_int_equal(json_integer_value(json_object_get(j, "n")), 8);
        assert_close(json_real_value(json_object_get(j, "mean")), 5.0, 1e-12);
        assert_true(json_is_real(json_object_get(j, "ci95_low")));
        assert_true(json_is_true(json_object_get(j, "high_cv")));
        assert_true(json_is_false(json_object_get(j, "bimodal")));

        const double one = 7;
        assert_int_equal(stats_summarize(&one, 1, &s), 0);
        json_auto_t *j1 = stats_summary_to_json(&s);
        assert_non_null(j1);
        assert_true(json_is_null(json_object_get(j1, "ci95_low")));
        assert_true(json_is_null(json_object_get(j1, "ci95_high")));
        assert_close(json_real_value(json_object_get(j1, "sd")), 0, 0);

        assert_null(stats_summary_to_json(NULL));
}

static void test_mann_whitney(void **state) {
        double p = -1;

        /* By hand: U = 0, μ = 4.5, σ² = 9/12·7 = 5.25, z = 4/√5.25, p = erfc(z/√2). */
        const double lo[] = { 1, 2, 3 }, hi[] = { 4, 5, 6 };
        assert_int_equal(stats_mann_whitney(lo, 3, hi, 3, &p), 0);
        assert_close(p, erfc(4.0 / sqrt(5.25) / sqrt(2.0)), 1e-15);
        assert_close(p, 0.0808555983700523, 1e-12);

        assert_int_equal(stats_mann_whitney(hw_x, N_OF(hw_x), hw_y, N_OF(hw_y), &p), 0);
        assert_close(p, 0.13291945818531886, 1e-12);
        assert_int_equal(stats_mann_whitney(hw_y, N_OF(hw_y), hw_x, N_OF(hw_x), &p), 0);
        assert_close(p, 0.13291945818531886, 1e-12);

        assert_int_equal(stats_mann_whitney(ties_a, N_OF(ties_a), ties_b, N_OF(ties_b), &p), 0);
        assert_close(p, 0.01442744938140462, 1e-12);

        const double x[] = { 101.2, 99.8, 100.5, 102.1, 98.9, 100.0, 101.7, 99.3, 100.9, 100.2 };
        const double y[] = { 102.5, 103.1, 101.9, 104.0, 102.2, 103.6, 101.4, 102.8, 103.3, 102.0 };
        assert_int_equal(stats_mann_whitney(x, N_OF(x), y, N_OF(y), &p), 0);
        assert_close(p, 0.0005828399431792743, 1e-12);

        /* All tied: zero variance, no evidence. Identical samples: p = 1. */
        const double same[] = { 2, 2, 2 };
        assert_int_equal(stats_mann_whitney(same, 2, same, 3, &p), 0);
        assert_close(p, 1.0, 0);
        assert_int_equal(stats_mann_whitney(x, N_OF(x), x, N_OF(x), &p), 0);
        assert_close(p, 1.0, 0);

        p = -1;
        assert_int_equal(stats_mann_whitney(x, 0, y, 3, &p), -EINVAL);
        assert_int_equal(stats_mann_whitney(x, 3, y, 0, &p), -EINVAL);
        assert_int_equal(stats_mann_whitney(NULL, 3, y, 3, &p), -EINVAL);
        assert_int_equal(stats_mann_whitney(x, 3, y, 3, NULL), -EINVAL);
        const double nan_v[] = { 1, NAN };
        assert_int_equal(stats_mann_whitney(x, 3, nan_v, 2, &p), -EINVAL);
        assert_close(p, -1, 0); /* untouched on failure */
}

static void test_permutation_exact(void **state) {
        double p = -1;

        /* By hand: of the C(6,3) = 20 splits only {1,2,3} and {4,5,6} reach |Δ| = 3. */
        const double lo[] = { 1, 2, 3 }, hi[] = { 4, 5, 6 };
        assert_int_equal(stats_permutation_test(lo, 3, hi, 3, &p), 0);
        assert_close(p, 2.0 / 20.0, 1e-15);

        /* Python itertools enumeration. */
        assert_int_equal(stats_permutation_test(hw_x, N_OF(hw_x), hw_y, N_OF(hw_y), &p), 0);
        assert_close(p, 11936.0 / 48620.0, 1e-15);
        assert_int_equal(stats_permutation_test(ties_a, N_OF(ties_a), ties_b, N_OF(ties_b), &p), 0);
        assert_close(p, 368.0 / 24310.0, 1e-15);
        assert_int_equal(stats_permutation_test(ties_b, N_OF(ties_b), ties_a, N_OF(ties_a), &p), 0);
        assert_close(p, 368.0 / 24310.0, 1e-15);

        /* 10 per side: all C(20,10) = 184756 splits. */
        const double x[] = { 101.2, 99.8, 100.5, 102.1, 98.9, 100.0, 101.7, 99.3, 100.9, 100.2 };
        const double y[] = { 102.5, 103.1, 101.9, 104.0, 102.2, 103.6, 101.4, 102.8, 103.3, 102.0 };
        assert_int_equal(stats_permutation_test(x, N_OF(x), y, N_OF(y), &p), 0);
        assert_close(p, 18.0 / 184756.0, 1e-15);

        /* One value each: both splits tie with the observed one. */
        assert_int_equal(stats_permutation_test(lo, 1, hi, 1, &p), 0);
        assert_close(p, 1.0, 0);
        const double same[] = { 5, 5, 5, 5 };
        assert_int_equal(stats_permutation_test(same, 2, same, 2, &p), 0);
        assert_close(p, 1.0, 0);

        p = -1;
        assert_int_equal(stats_permutation_test(lo, 0, hi, 3, &p), -EINVAL);
        assert_int_equal(stats_permutation_test(lo, 3, NULL, 3, &p), -EINVAL);
        const double inf_v[] = { 1, INFINITY };
        assert_int_equal(stats_permutation_test(inf_v, 2, hi, 3, &p), -EINVAL);
        assert_close(p, -1, 0);
}

static void test_permutation_monte_carlo(void **state) {
        /* 11 per side: C(22,11) = 705432 > STATS_PERMUTATION_EXACT_MAX, so
         * resampled.  Exact p (Python) = 15396/705432 ≈ 0.021825; the
         * resampling SE is √(p(1-p)/10⁴) ≈ 0.0015, allow 4 SE. */
        const double a[] = { 5.1, 4.9, 5.3, 5.0, 5.2, 4.8, 5.4, 5.05, 4.95, 5.15, 5.25 };
        const double b[] = { 5.2, 5.4, 5.1, 5.5, 5.3, 5.6, 5.0, 5.45, 5.35, 5.25, 5.15 };
        double p1, p2;
        assert_int_equal(stats_permutation_test(a, N_OF(a), b, N_OF(b), &p1), 0);
        assert_close(p1, 15396.0 / 705432.0, 0.006);
        /* Seeded: same data, same p. */
        assert_int_equal(stats_permutation_test(a, N_OF(a), b, N_OF(b), &p2), 0);
        assert_true(p1 == p2);
        /* p is never 0 when resampling: the observed split counts. */
        double far[30];
        for (size_t i = 0; i < N_OF(far); i++)
                far[i] = i < 15 ? (double) i : 1000.0 + (double) i;
        assert_int_equal(stats_permutation_test(far, 15, far + 15, 15, &p1), 0);
        assert_close(p1, 1.0 / (STATS_PERMUTATION_RESAMPLES + 1), 1e-15);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_t_quantile_textbook),
                cmocka_unit_test(test_t_quantile_approximation),
                cmocka_unit_test(test_summary_basic),
                cmocka_unit_test(test_summary_edge_cases),
                cmocka_unit_test(test_summary_flags),
                cmocka_unit_test(test_summary_json),
                cmocka_unit_test(test_mann_whitney),
                cmocka_unit_test(test_permutation_exact),
                cmocka_unit_test(test_permutation_monte_carlo),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
