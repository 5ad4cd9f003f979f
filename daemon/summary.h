/* summary.h — statistics over a job's run samples: what goes into a result
 * document's "summary", "summary_by_vmm" and "comparisons".  Pure functions
 * of the samples array; only measured runs count (ok, not warm-up, the
 * metric present and ≥ 0). */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* {metric: stats} over the runs of one VMM (vmm NULL: every run). */
json_t *summary_of(json_t *samples, char *const *metrics, const char *vmm);
/* {vmm: {metric: stats}}. */
json_t *summary_by_vmm(json_t *samples, char *const *metrics, const char *const *vmms, size_t n_vmms);
/* Every VMM after the first (the reference) against it, metric by metric:
 * ratio of means, difference, two-sided p of a permutation test (the
 * verdict's test) and of Mann-Whitney U.  A row needs ≥ 2 runs a side. */
json_t *summary_comparisons(json_t *samples, char *const *metrics, const char *const *vmms, size_t n_vmms);
