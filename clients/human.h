/* human.h — numbers for people: what a metric measures (its unit, the
 * factor from the result document's raw unit, whether more is better, a
 * label) and values printed to a few significant figures.  Raw values (ms,
 * KiB, per second) stay in JSON, CSV and OpenMetrics; tables, reports and
 * plots go through here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef enum HumanQuantity {
        HUMAN_TIME,       /* *_ms: milliseconds */
        HUMAN_MEMORY,     /* *_kib: shown in MiB */
        HUMAN_BANDWIDTH,  /* *mib_per_s: MiB/s */
        HUMAN_RATE,       /* *_per_s, iops: events, operations per second */
        HUMAN_COUNT,      /* anything else: a plain number */
        _HUMAN_QUANTITY_MAX,
        _HUMAN_QUANTITY_INVALID = -22,
} HumanQuantity;

typedef struct HumanMetric {
        HumanQuantity quantity; /* what it measures */
        double scale;           /* raw value × scale = value in unit (KiB → MiB: 1/1024) */
        const char *unit;       /* "ms", "MiB", "MiB/s", "events/s", "IOPS", "" */
        bool higher_is_better;  /* rates and bandwidths; times and memory are lower-is-better */
        const char *label;      /* "boot (spawn → init marker)", or the metric's own name */
} HumanMetric;

/* What metric (a result-document name: "boot_ms", "rss_kib",
 * "t32.4K.rndrd.iops") measures; never fails (unknown: a count). */
HumanMetric human_metric(const char *metric);

/* v rounded to digits significant figures ("4900", "19.7", "0.194"); "–"
 * for NAN.  Returns buf. */
char *human_sig(double v, int digits, char *buf, size_t size);

/* "19.7 ± 16" (mean to 3 significant figures, the CI95 half-width to 2),
 * in m's unit from raw values, without the unit; "19.7" when half is NAN.
 * Returns buf. */
char *human_mean_ci(const HumanMetric *m, double mean, double half, char *buf, size_t size);

/* One raw value in m's unit, 3 significant figures.  Returns buf. */
char *human_value(const HumanMetric *m, double raw, char *buf, size_t size);

/* A bench cell id for people: "t32.4K.rndrd" → "32 threads, 4K rndrd",
 * "t1" → "1 thread".  Returns buf. */
char *human_cell(const char *cell, char *buf, size_t size);
