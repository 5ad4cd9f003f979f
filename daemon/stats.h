/* stats.h — summary statistics of repeated measurements (boot phases, memory)
 * and two-sample tests for comparing two VMMs.  Pure functions of their
 * input: no I/O, no global state (DESIGN.md §4 "Statistics"). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A result whose coefficient of variation exceeds this is flagged high_cv. */
#define STATS_HIGH_CV_THRESHOLD 0.10
/* Sarle's bimodality coefficient of a uniform distribution (5/9); above it a
 * sample looks bimodal. */
#define STATS_BIMODAL_BC_THRESHOLD (5.0 / 9.0)
/* Below this many samples the bimodality coefficient is too noisy to report. */
#define STATS_BIMODAL_MIN_N 8
/* Each side of the widest gap must hold this many samples to count as a mode,
 * so a lone outlier raises high_cv, not bimodal. */
#define STATS_BIMODAL_MIN_CLUSTER 2
/* ... and the gap must be at least this fraction of the largest value. */
#define STATS_BIMODAL_MIN_GAP 0.01
/* The permutation test enumerates every split while there are at most this
 * many (C(20,10) = 184756 covers 10 per side); beyond, it resamples. */
#define STATS_PERMUTATION_EXACT_MAX 200000
/* Resamples of the Monte Carlo permutation test, and its fixed seed so the
 * same data always give the same p-value. */
#define STATS_PERMUTATION_RESAMPLES 10000
#define STATS_PERMUTATION_SEED UINT64_C(0x766972746c6162) /* "virtlab" in ASCII */

typedef struct StatsSummary {
        size_t n;         /* number of samples, >= 1 */
        double mean;      /* arithmetic mean */
        double sd;        /* sample standard deviation (divisor n-1); 0 when n == 1 */
        double cv;        /* sd / |mean|; NAN (JSON null) when mean == 0 */
        double median;    /* middle value; mean of the two middle ones when n is even */
        double min;       /* smallest sample */
        double max;       /* largest sample */
        double ci95_low;  /* Student-t two-sided 95% CI of the mean; NAN (null) when n == 1 */
        double ci95_high; /* upper end of the same interval; NAN (null) when n == 1 */
        double bc;        /* Sarle's bimodality coefficient; NAN when n < 4 or sd == 0 */
        bool high_cv;     /* cv > STATS_HIGH_CV_THRESHOLD */
        bool bimodal;     /* n >= 8, bc > 5/9 and the widest gap splits off >= 2 samples per side */
} StatsSummary;

/* Two-sided 0.975 quantile of Student's t with df degrees of freedom: exact
 * table for df 1..30, Cornish-Fisher expansion beyond (error < 3e-8); NAN for df 0. */
double stats_t_quantile_975(size_t df);

/* Summarizes v[0..n-1].  -EINVAL if n == 0, v is NULL or a value is not
 * finite; -ERANGE if the sums overflow; -ENOMEM. */
int stats_summarize(const double *v, size_t n, StatsSummary *ret);

/* The summary as a JSON object (keys n, mean, sd, cv, median, min, max,
 * ci95_low, ci95_high, high_cv, bimodal; undefined values are null); NULL on OOM. */
json_t *stats_summary_to_json(const StatsSummary *s);

/* Mann-Whitney U test, normal approximation with tie and continuity
 * correction (as scipy's mannwhitneyu(method="asymptotic")): two-sided p.
 * -EINVAL on an empty side or a non-finite value; -ENOMEM. */
int stats_mann_whitney(const double *a, size_t na, const double *b, size_t nb, double *ret_p);

/* Permutation test on |mean(a) - mean(b)|: two-sided p over every split when
 * there are at most STATS_PERMUTATION_EXACT_MAX of them, else over
 * STATS_PERMUTATION_RESAMPLES seeded random splits ((hits+1)/(R+1)).
 * -EINVAL on an empty side or a non-finite value; -ENOMEM. */
int stats_permutation_test(const double *a, size_t na, const double *b, size_t nb, double *ret_p);
/* The same with the exact enumeration allowed only up to exact_max splits
 * (0: always resample), so a caller can bound the time many tests take;
 * *ret_exact (may be NULL) says which was done. */
int stats_permutation_test_bounded(const double *a, size_t na, const double *b, size_t nb, uint64_t exact_max,
                                   double *ret_p, bool *ret_exact);
