/* compare.h — renders compare jobs (result documents with summary_by_vmm and
 * comparisons): one table per metric, each VMM's n, mean ± CI95, median, CV,
 * min–max, ratio to the first VMM and a significance verdict. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Significance level of the verdicts shown in tables (the gate has its own). */
#define COMPARE_DEFAULT_ALPHA 0.05

/* The VMMs of a result, in run order ("vmms", else spec.vmm); new reference. */
json_t *compare_vmms(json_t *doc);
/* Per-VMM stats of one metric (summary_by_vmm, else summary); borrowed or NULL. */
json_t *compare_stats(json_t *doc, const char *vmm, const char *metric);
/* The comparison row of vmm vs the reference for metric; borrowed or NULL. */
json_t *compare_row(json_t *doc, const char *vmm, const char *metric);
/* "faster, p = 0.0002 (permutation)" / "no significant difference (p = 0.41)". */
void compare_verdict(json_t *row, double alpha, char *buf, size_t size);
/* "high-CV", "bimodal", "high-CV,bimodal" or "". */
const char *compare_flags(json_t *stats);
/* Tables for every metric of every document, plain (md false) or Markdown. */
void compare_print(FILE *f, json_t *const *docs, size_t n, double alpha, bool md);
