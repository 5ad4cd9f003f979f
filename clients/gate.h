/* gate.h — the pure part of `virtlabctl compare`: baselines (raw samples per
 * kind/VMM/metric, pulled out of result documents) and the regression gate
 * that compares two of them.  No bus, no I/O: tests/unit/test-gate.c drives
 * it with hand-made numbers. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A metric regresses when its mean grew by more than this fraction... */
#define GATE_DEFAULT_THRESHOLD 0.10
/* ...and the difference is significant at this level (permutation test). */
#define GATE_DEFAULT_ALPHA 0.01

typedef enum GateVerdict {
        GATE_OK,          /* within the threshold, or not significant */
        GATE_REGRESSION,  /* mean up by more than the threshold, and significant */
        GATE_IMPROVEMENT, /* mean down by more than the threshold, and significant */
        GATE_MISSING,     /* in the baseline, absent from the current results */
        GATE_NEW,         /* in the current results only */
        _GATE_VERDICT_MAX,
        _GATE_VERDICT_INVALID = -22,
} GateVerdict;

const char *gate_verdict_to_string(GateVerdict v);

typedef struct GateJudgement {
        GateVerdict verdict; /* what the gate says */
        double base_mean;    /* baseline mean */
        double cur_mean;     /* current mean */
        double change;       /* cur/base - 1 (NAN when base_mean is 0) */
        double p;            /* two-sided permutation-test p-value (NAN if a side has < 2 samples) */
} GateJudgement;

/* Judges one metric where lower is better (times, memory): a regression needs
 * change > threshold AND p < alpha, so noise (a big but insignificant change,
 * or a significant but tiny one) passes.  -EINVAL on an empty side, a
 * non-finite value or a bad threshold/alpha; -ENOMEM. */
int gate_judge(const double *base, size_t nb, const double *cur, size_t nc, double threshold, double alpha,
               GateJudgement *ret);

/* The baseline key of one (kind, VMM, metric): "boot/qemu-microvm/boot_ms". */
int gate_key(const char *kind, const char *vmm, const char *metric, char *buf, size_t size);

/* The measured samples (successful, not warm-up runs) of one VMM and metric
 * of a result document, as a new JSON array of numbers (empty if none). */
json_t *gate_samples(json_t *doc, const char *vmm, const char *metric);

/* Builds a baseline document {"schema": "virtlab/baseline/v1", "entries":
 * {key: {kind, vmm, metric, n, mean, samples: [...]}}, "environment": {...}}
 * from finished result documents (compare jobs or single-VMM jobs): the
 * measured, successful runs of every VMM and metric.  NULL on OOM. */
json_t *gate_baseline_from_results(json_t *const *docs, size_t n);

/* Checks "current" (a baseline document built from the new results) against
 * "baseline", each metric the way it is better (human_metric(): times and
 * memory lower, rates such as events/s, MiB/s and IOPS higher, so a rate
 * regresses when it fell by more than the threshold).  *ret_rows gets one object per key: {key, kind, vmm, metric,
 * verdict, base_mean, cur_mean, change, p, threshold, alpha}.  Returns the
 * number of regressions (>= 0), -EINVAL for a document that is not a
 * baseline, -ENOMEM. */
int gate_check(const json_t *baseline, const json_t *current, double threshold, double alpha, json_t **ret_rows);

/* Writes JUnit XML (one testsuite, one testcase per gate row) to f.  rows
 * as from gate_check(); verdicts "regression" and "failed" are failures, and
 * a row's "message" string, when present, replaces the computed text. */
void gate_write_junit(FILE *f, const char *suite, const json_t *rows);

/* Escapes s for XML text and attribute values into f. */
void gate_xml_escape(FILE *f, const char *s);
