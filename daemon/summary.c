/* summary.c — per-metric statistics and VMM-vs-VMM comparisons over run
 * samples (see summary.h). */
#include "summary.h"

#include "stats.h"
#include "util.h"

/* Time the exact permutation tests of one result may take, in all. */
#define SUMMARY_EXACT_BUDGET_USEC (200 * USEC_PER_MSEC)

/* Values of one metric over the measured runs of one VMM (vmm NULL: all);
 * v has room for every sample.  Returns the count; *ret_contended (may be
 * NULL) how many of those runs were flagged contended. */
static size_t metric_values_flagged(json_t *samples, const char *metric, const char *vmm, double *v,
                                    size_t *ret_contended) {
        size_t k = 0, c = 0, i;
        json_t *s;
        json_array_foreach(samples, i, s) {
                json_t *x = json_object_get(s, metric);
                if (json_is_true(json_object_get(s, "ok")) && !json_is_true(json_object_get(s, "warmup")) &&
                    (!vmm || streq_ptr(json_string_value(json_object_get(s, "vmm")), vmm)) && json_is_number(x) &&
                    json_number_value(x) >= 0) {
                        v[k++] = json_number_value(x);
                        c += json_is_true(json_object_get(s, "contended"));
                }
        }
        if (ret_contended)
                *ret_contended = c;
        return k;
}

static size_t metric_values(json_t *samples, const char *metric, const char *vmm, double *v) {
        return metric_values_flagged(samples, metric, vmm, v, NULL);
}

json_t *summary_of(json_t *samples, char *const *metrics, const char *vmm) {
        json_t *summary = json_object();
        size_t n = json_array_size(samples);
        _cleanup_free_ double *v = calloc(n ? n : 1, sizeof(double));
        for (char *const *m = metrics; summary && v && m && *m; m++) {
                size_t contended;
                size_t k = metric_values_flagged(samples, *m, vmm, v, &contended);
                StatsSummary st;
                json_t *o = k > 0 && stats_summarize(v, k, &st) >= 0 ? stats_summary_to_json(&st) : NULL;
                /* Runs taken while the host was busy (or the VM was touched) count, but are named. */
                if (o)
                        json_object_set_new(o, "contended", json_integer((json_int_t) contended));
                if (o)
                        json_object_set_new(summary, *m, o);
        }
        return summary;
}

json_t *summary_by_vmm(json_t *samples, char *const *metrics, const char *const *vmms, size_t n_vmms) {
        json_t *by = json_object();
        for (size_t i = 0; by && i < n_vmms; i++)
                json_object_set_new(by, vmms[i], summary_of(samples, metrics, vmms[i]));
        return by;
}

static json_t *comparison_row(const char *metric, const char *ref, const char *vmm, const double *a, size_t na,
                              const double *b, size_t nb, bool exact_allowed) {
        StatsSummary sa, sb;
        double p_perm, p_mw;
        bool exact = false;
        if (na < 2 || nb < 2 || stats_summarize(a, na, &sa) < 0 || stats_summarize(b, nb, &sb) < 0 ||
            stats_permutation_test_bounded(a, na, b, nb, exact_allowed ? STATS_PERMUTATION_EXACT_MAX : 0, &p_perm,
                                           &exact) < 0 ||
            stats_mann_whitney(a, na, b, nb, &p_mw) < 0)
                return NULL;
        json_t *row = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:s}", "metric", metric, "vmm", vmm,
                                "reference", ref, "n_reference", (json_int_t) na, "n", (json_int_t) nb, "diff_mean",
                                sb.mean - sa.mean, "p_permutation", p_perm, "p_mann_whitney", p_mw, "p", p_perm, "test",
                                "permutation");
        if (row) {
                json_object_set_new(row, "ratio", sa.mean != 0 ? json_real(sb.mean / sa.mean) : json_null());
                json_object_set_new(row, "permutation", exact ? json_string("exact")
                                                              : json_sprintf("%u resamples", STATS_PERMUTATION_RESAMPLES));
        }
        return row;
}

json_t *summary_comparisons(json_t *samples, char *const *metrics, const char *const *vmms, size_t n_vmms) {
        json_t *rows = json_array();
        size_t n = json_array_size(samples);
        _cleanup_free_ double *a = calloc(n ? n : 1, sizeof(double)), *b = calloc(n ? n : 1, sizeof(double));
        usec_t deadline = now_usec() + SUMMARY_EXACT_BUDGET_USEC;
        for (size_t j = 1; rows && a && b && j < n_vmms; j++)
                for (char *const *m = metrics; m && *m; m++) {
                        size_t na = metric_values(samples, *m, vmms[0], a);
                        size_t nb = metric_values(samples, *m, vmms[j], b);
                        /* Exact enumeration until the budget is spent: a bench
                         * matrix has hundreds of metrics, and this runs on the loop. */
                        json_t *row = comparison_row(*m, vmms[0], vmms[j], a, na, b, nb, now_usec() < deadline);
                        if (row)
                                json_array_append_new(rows, row);
                }
        return rows;
}
