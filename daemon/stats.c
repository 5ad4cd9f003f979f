/* stats.c — summary statistics of repeated measurements and two-sample tests.
 *
 * Divisions: Student-t quantiles; the summary (moments, median, CI, flags);
 * its JSON form; the Mann-Whitney U test; the permutation test.
 *
 * Choices, so a reader of a result knows what the numbers mean:
 *  - sd is the sample standard deviation (divisor n-1); with n == 1 it is 0
 *    and the confidence interval is undefined (NAN here, null in JSON): one
 *    run says nothing about the spread, and [x, x] would claim certainty.
 *  - The 95% CI is mean ± t(0.975, n-1)·sd/√n.
 *  - bimodal uses Sarle's bimodality coefficient
 *        BC = (G1² + 1) / (G2 + 3(n-1)² / ((n-2)(n-3)))
 *    with G1, G2 the bias-corrected sample skewness and excess kurtosis (the
 *    SAS definition; Pfister et al., Front. Psychol. 2013).  BC > 5/9 (the
 *    value for a uniform distribution) suggests two modes.  BC also rises for
 *    a single far outlier, which is what high_cv reports, so we further ask
 *    that the widest gap between sorted samples leave at least
 *    STATS_BIMODAL_MIN_CLUSTER samples on each side and be at least
 *    STATS_BIMODAL_MIN_GAP of the largest value, and n >= 8 because the
 *    coefficient is noise below that.  The test is conservative for small n:
 *    two tight clusters of 5 give BC ≈ 0.56, just over the threshold. */
#include "stats.h"

#include <math.h>

#include "util.h"

/* t(0.975, df) for df = 1..30 (index df-1), from the regularized incomplete
 * beta function; they match the NIST/SEMATECH e-Handbook table 1.3.6.7.2 to
 * its 3 decimals, and df 1, 2 match the closed forms tan(0.475π) and
 * 0.95·√(2/0.0975). */
static const double t975_table[] = {
        12.706204736174694, 4.302652729749463, 3.182446305283710, 2.776445105197794,
        2.570581835636316,  2.446911851144971, 2.364624251592787, 2.306004135204166,
        2.262157162798204,  2.228138851986276, 2.200985160091640, 2.178812829667226,
        2.160368656462794,  2.144786687917803, 2.131449545559774, 2.119905299221256,
        2.109815577833317,  2.100922040241039, 2.093024054408309, 2.085963447265866,
        2.079613844727680,  2.073873067904027, 2.068657610419048, 2.063898561628027,
        2.059538552753295,  2.055529438642875, 2.051830516480286, 2.048407141795248,
        2.045229642132702,  2.042272456301236,
};

/* The standard normal 0.975 quantile, the df → ∞ limit. */
#define Z975 1.959963984540054

double stats_t_quantile_975(size_t df) {
        if (df == 0)
                return NAN;
        if (df <= ELEMENTSOF(t975_table))
                return t975_table[df - 1];

        /* Cornish-Fisher expansion of t in powers of 1/df around the normal
         * quantile (Abramowitz & Stegun 26.7.5); four terms leave < 3e-8 at df 31. */
        const double z = Z975, z2 = z * z, z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
        const double g1 = (z3 + z) / 4.0;
        const double g2 = (5.0 * z5 + 16.0 * z3 + 3.0 * z) / 96.0;
        const double g3 = (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / 384.0;
        const double g4 = (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / 92160.0;
        const double x = 1.0 / (double) df;
        return z + x * (g1 + x * (g2 + x * (g3 + x * g4)));
}

/* qsort comparator for doubles; inputs are finite, so no NaN ordering issue. */
static int double_cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

/* Sarle's coefficient (see the file header); NAN when n < 4 or all equal. */
static double bimodality_coefficient(const double *v, size_t n, double mean) {
        if (n < 4)
                return NAN;

        double m2 = 0, m3 = 0, m4 = 0;
        for (size_t i = 0; i < n; i++) {
                double d = v[i] - mean, d2 = d * d;
                m2 += d2;
                m3 += d2 * d;
                m4 += d2 * d2;
        }
        const double nn = (double) n;
        m2 /= nn;
        m3 /= nn;
        m4 /= nn;
        if (!(m2 > 0) || !isfinite(m4))
                return NAN;

        const double g1 = m3 / (m2 * sqrt(m2));
        const double b2 = m4 / (m2 * m2);
        const double G1 = g1 * sqrt(nn * (nn - 1)) / (nn - 2);
        /* G2 + 3(n-1)²/((n-2)(n-3)) simplifies to (n-1)(n+1)·b2/((n-2)(n-3)),
         * which is positive and free of cancellation. */
        const double denom = (nn - 1) * (nn + 1) * b2 / ((nn - 2) * (nn - 3));
        return (G1 * G1 + 1) / denom;
}

/* True when the widest gap in sorted[] leaves >= STATS_BIMODAL_MIN_CLUSTER
 * samples on each side. */
static bool widest_gap_splits_clusters(const double *sorted, size_t n) {
        if (n < 2 * STATS_BIMODAL_MIN_CLUSTER)
                return false;

        size_t at = 0;
        double widest = 0;
        for (size_t i = 0; i + 1 < n; i++)
                if (sorted[i + 1] - sorted[i] > widest) {
                        widest = sorted[i + 1] - sorted[i];
                        at = i;
                }
        /* Two "modes" 4 KiB apart in a 1.7 MiB figure are page granularity,
         * not two behaviours: the gap must matter against the values. */
        double scale = fabs(sorted[n - 1]) > fabs(sorted[0]) ? fabs(sorted[n - 1]) : fabs(sorted[0]);
        if (!(widest > 0) || widest < STATS_BIMODAL_MIN_GAP * scale)
                return false;
        return at + 1 >= STATS_BIMODAL_MIN_CLUSTER && n - at - 1 >= STATS_BIMODAL_MIN_CLUSTER;
}

int stats_summarize(const double *v, size_t n, StatsSummary *ret) {
        if (!v || n == 0 || !ret)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!isfinite(v[i]))
                        return -EINVAL;
        if (n > SIZE_MAX / sizeof(double))
                return -ENOMEM;

        _cleanup_free_ double *sorted = malloc(n * sizeof(double));
        if (!sorted)
                return -ENOMEM;
        memcpy(sorted, v, n * sizeof(double));
        qsort(sorted, n, sizeof(double), double_cmp);

        StatsSummary s = {
                .n = n,
                .min = sorted[0],
                .max = sorted[n - 1],
                .median = n % 2 ? sorted[n / 2] : sorted[n / 2 - 1] / 2 + sorted[n / 2] / 2,
                .ci95_low = NAN,
                .ci95_high = NAN,
                .bc = NAN,
        };

        const double nn = (double) n;
        double sum = 0;
        for (size_t i = 0; i < n; i++)
                sum += v[i];
        if (!isfinite(sum))
                return -ERANGE;
        s.mean = sum / nn;
        /* Second pass corrects the rounding of the first (Higham, §1.9). */
        double resid = 0;
        for (size_t i = 0; i < n; i++)
                resid += v[i] - s.mean;
        s.mean += resid / nn;
        if (s.min == s.max || s.mean < s.min)
                s.mean = s.min;
        else if (s.mean > s.max)
                s.mean = s.max;

        double ss = 0;
        for (size_t i = 0; i < n; i++)
                ss += (v[i] - s.mean) * (v[i] - s.mean);
        if (!isfinite(ss))
                return -ERANGE;
        s.sd = n > 1 && s.min != s.max ? sqrt(ss / (nn - 1)) : 0;
        s.cv = s.mean != 0 ? s.sd / fabs(s.mean) : NAN;
        s.high_cv = isfinite(s.cv) && s.cv > STATS_HIGH_CV_THRESHOLD;

        if (n > 1) {
                double half = stats_t_quantile_975(n - 1) * s.sd / sqrt(nn);
                s.ci95_low = s.mean - half;
                s.ci95_high = s.mean + half;
        }

        if (s.sd > 0)
                s.bc = bimodality_coefficient(v, n, s.mean);
        s.bimodal = n >= STATS_BIMODAL_MIN_N && isfinite(s.bc) && s.bc > STATS_BIMODAL_BC_THRESHOLD &&
                    widest_gap_splits_clusters(sorted, n);

        *ret = s;
        return 0;
}

/* A JSON number, or null for NAN/inf (which JSON cannot carry). */
static json_t *json_real_or_null(double x) {
        return isfinite(x) ? json_real(x) : json_null();
}

json_t *stats_summary_to_json(const StatsSummary *s) {
        if (!s)
                return NULL;

        json_auto_t *o = json_object();
        if (!o)
                return NULL;
        /* json_object_set_new() consumes the value even when it fails, and
         * fails on a NULL value, so a failed allocation cannot leak. */
        if (json_object_set_new(o, "n", json_integer((json_int_t) s->n)) < 0 ||
            json_object_set_new(o, "mean", json_real_or_null(s->mean)) < 0 ||
            json_object_set_new(o, "sd", json_real_or_null(s->sd)) < 0 ||
            json_object_set_new(o, "cv", json_real_or_null(s->cv)) < 0 ||
            json_object_set_new(o, "median", json_real_or_null(s->median)) < 0 ||
            json_object_set_new(o, "min", json_real_or_null(s->min)) < 0 ||
            json_object_set_new(o, "max", json_real_or_null(s->max)) < 0 ||
            json_object_set_new(o, "ci95_low", json_real_or_null(s->ci95_low)) < 0 ||
            json_object_set_new(o, "ci95_high", json_real_or_null(s->ci95_high)) < 0 ||
            json_object_set_new(o, "high_cv", json_boolean(s->high_cv)) < 0 ||
            json_object_set_new(o, "bimodal", json_boolean(s->bimodal)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

/* Checks the common arguments of the two-sample tests. */
static int check_two_samples(const double *a, size_t na, const double *b, size_t nb, const double *ret_p) {
        if (!a || !b || na == 0 || nb == 0 || !ret_p)
                return -EINVAL;
        for (size_t i = 0; i < na; i++)
                if (!isfinite(a[i]))
                        return -EINVAL;
        for (size_t i = 0; i < nb; i++)
                if (!isfinite(b[i]))
                        return -EINVAL;
        if (na > SIZE_MAX / 2 || nb > SIZE_MAX / 2 - na)
                return -ENOMEM;
        return 0;
}

typedef struct RankItem {
        double value; /* the observation */
        bool from_a;  /* true if it belongs to the first sample */
} RankItem;

/* qsort comparator ordering RankItems by value. */
static int rank_item_cmp(const void *x, const void *y) {
        return double_cmp(&((const RankItem *) x)->value, &((const RankItem *) y)->value);
}

int stats_mann_whitney(const double *a, size_t na, const double *b, size_t nb, double *ret_p) {
        int r = check_two_samples(a, na, b, nb, ret_p);
        if (r < 0)
                return r;

        const size_t n = na + nb;
        if (n > SIZE_MAX / sizeof(RankItem))
                return -ENOMEM;
        _cleanup_free_ RankItem *items = malloc(n * sizeof(RankItem));
        if (!items)
                return -ENOMEM;
        for (size_t i = 0; i < na; i++)
                items[i] = (RankItem) { .value = a[i], .from_a = true };
        for (size_t i = 0; i < nb; i++)
                items[na + i] = (RankItem) { .value = b[i], .from_a = false };
        qsort(items, n, sizeof(RankItem), rank_item_cmp);

        /* Tied values share the mean of the ranks they span; Σ(t³ - t) over
         * tie groups shrinks the variance. */
        double rank_sum_a = 0, tie_term = 0;
        for (size_t i = 0; i < n;) {
                size_t j = i + 1;
                while (j < n && items[j].value == items[i].value)
                        j++;
                const double rank = (double) (i + 1 + j) / 2.0, t = (double) (j - i);
                tie_term += t * t * t - t;
                for (size_t k = i; k < j; k++)
                        if (items[k].from_a)
                                rank_sum_a += rank;
                i = j;
        }

        const double dna = (double) na, dnb = (double) nb, dn = (double) n;
        const double u = rank_sum_a - dna * (dna + 1) / 2.0;
        const double mu = dna * dnb / 2.0;
        const double var = dna * dnb / 12.0 * ((dn + 1) - tie_term / (dn * (dn - 1)));
        if (!(var > 0)) {
                /* Every value tied: no evidence of any difference. */
                *ret_p = 1.0;
                return 0;
        }

        double z = (fabs(u - mu) - 0.5) / sqrt(var);
        if (z < 0)
                z = 0;
        *ret_p = fmin(1.0, erfc(z * M_SQRT1_2));
        return 0;
}

/* splitmix64 (Steele, Lea, Flood 2014): tiny, seedable, well mixed; enough
 * for drawing permutations. */
static uint64_t splitmix64_next(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* C(n, k), or cap + 1 as soon as it exceeds cap. */
static double binomial_capped(size_t n, size_t k, double cap) {
        double c = 1;
        for (size_t i = 0; i < k; i++) {
                c = c * (double) (n - i) / (double) (i + 1);
                if (c > cap)
                        return cap + 1;
        }
        return c;
}

/* |mean of the k picked values - mean of the other n - k| from the picked sum. */
static double split_diff(double picked_sum, size_t k, double total, size_t n) {
        return fabs(picked_sum / (double) k - (total - picked_sum) / (double) (n - k));
}

int stats_permutation_test(const double *a, size_t na, const double *b, size_t nb, double *ret_p) {
        return stats_permutation_test_bounded(a, na, b, nb, STATS_PERMUTATION_EXACT_MAX, ret_p, NULL);
}

int stats_permutation_test_bounded(const double *a, size_t na, const double *b, size_t nb, uint64_t exact_max,
                                   double *ret_p, bool *ret_exact) {
        int r = check_two_samples(a, na, b, nb, ret_p);
        if (r < 0)
                return r;

        /* |difference of means| is symmetric in the two groups, so draw
         * subsets of the smaller one: pool = [smaller..., larger...]. */
        const double *small = na <= nb ? a : b, *large = na <= nb ? b : a;
        const size_t k = na <= nb ? na : nb, n = na + nb;
        if (n > SIZE_MAX / sizeof(double))
                return -ENOMEM;
        _cleanup_free_ double *pool = malloc(n * sizeof(double));
        _cleanup_free_ size_t *idx = malloc(k * sizeof(size_t));
        if (!pool || !idx)
                return -ENOMEM;
        memcpy(pool, small, k * sizeof(double));
        memcpy(pool + k, large, (n - k) * sizeof(double));

        double total = 0, observed_sum = 0, scale = 0;
        for (size_t i = 0; i < n; i++) {
                total += pool[i];
                scale = fmax(scale, fabs(pool[i]));
        }
        for (size_t i = 0; i < k; i++)
                observed_sum += pool[i];
        if (!isfinite(total))
                return -ERANGE;
        /* Splits whose difference equals the observed one up to rounding
         * (summation order differs) count as at least as extreme. */
        const double threshold = split_diff(observed_sum, k, total, n) - 1e-9 * scale;

        bool exact = binomial_capped(n, k, STATS_PERMUTATION_EXACT_MAX) <= exact_max;
        if (ret_exact)
                *ret_exact = exact;
        if (exact) {
                /* Walk every k-subset of 0..n-1 in lexicographic order. */
                uint64_t hits = 0, all = 0;
                for (size_t i = 0; i < k; i++)
                        idx[i] = i;
                for (;;) {
                        double sum = 0;
                        for (size_t i = 0; i < k; i++)
                                sum += pool[idx[i]];
                        all++;
                        if (split_diff(sum, k, total, n) >= threshold)
                                hits++;

                        size_t i = k;
                        while (i > 0 && idx[i - 1] == n - k + (i - 1))
                                i--;
                        if (i == 0)
                                break;
                        idx[i - 1]++;
                        for (size_t j = i; j < k; j++)
                                idx[j] = idx[j - 1] + 1;
                }
                *ret_p = (double) hits / (double) all;
                return 0;
        }

        /* Too many splits: a partial Fisher-Yates shuffle draws a uniform
         * k-subset each round (the modulo bias, about n/2^64, is negligible).
         * (hits + 1)/(R + 1) counts the observed split, so p is never 0. */
        uint64_t state = STATS_PERMUTATION_SEED, hits = 0;
        for (unsigned rep = 0; rep < STATS_PERMUTATION_RESAMPLES; rep++) {
                double sum = 0;
                for (size_t i = 0; i < k; i++) {
                        size_t j = i + (size_t) (splitmix64_next(&state) % (uint64_t) (n - i));
                        double t = pool[i];
                        pool[i] = pool[j];
                        pool[j] = t;
                        sum += pool[i];
                }
                if (split_diff(sum, k, total, n) >= threshold)
                        hits++;
        }
        *ret_p = (double) (hits + 1) / (double) (STATS_PERMUTATION_RESAMPLES + 1);
        return 0;
}
