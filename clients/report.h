/* report.h — `virtlabctl report`: a self-contained lab-report section in a
 * directory: Markdown or HTML with the comparison tables, the environment
 * (host, accelerator, VMM versions, image hashes) and one SVG box/strip plot
 * per metric (every run shown; drawn by gnuplot). */
#pragma once

#include <jansson.h>
#include <stdio.h>

typedef enum ReportFormat {
        REPORT_MD,   /* report.md */
        REPORT_HTML, /* report.html */
        _REPORT_FORMAT_MAX,
        _REPORT_FORMAT_INVALID = -22,
} ReportFormat;

ReportFormat report_format_from_string(const char *s);

/* Writes DIR/report.{md,html} and DIR/<kind>-<metric>.svg for the result
 * documents (creating DIR).  alpha: significance level of the verdicts.
 * Plots need gnuplot; without it the report says so and has no figures.
 * Returns 0 or -errno; *reterr (static string) says what failed. */
int report_write(const char *dir, json_t *const *docs, size_t n, ReportFormat fmt, double alpha, const char **reterr);

/* HOOK(report-bench): clients/report-bench.c defines this to add its
 * benchmark section after the comparison tables.  Declared weak, so the
 * report builds and runs without it; it must return 0 or -errno. */
int report_bench_section(FILE *f, json_t *const *docs, size_t n, ReportFormat fmt, const char *dir)
        __attribute__((weak));

/* Runs "gnuplot SCRIPT" without a shell: 0 when it exited 0, -ENOENT when
 * gnuplot is not installed, another -errno otherwise. */
int report_run_gnuplot(const char *script);
