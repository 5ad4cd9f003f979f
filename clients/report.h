/* report.h — `virtlabctl report`: a self-contained lab report in a
 * directory, Markdown or HTML: the lab's summary table (boot time, VMM
 * memory, the guest benchmarks; a column per VMM with ratio and
 * significance), the environment, then one section per experiment with its
 * figures (report-plot.c: boot phases, footprint, small-multiple box plots;
 * the mtree as SVG in the memory-lab section) and detailed tables.  Figures
 * are for people (ms to 3 significant figures, MiB); raw values stay in the
 * JSON. */
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

/* Writes DIR/report.{md,html} and its SVG figures for the result documents
 * (creating DIR).  alpha: significance level of the verdicts.  selection:
 * one sentence saying how these documents were chosen (a report without
 * IDs), or NULL.  Plots need gnuplot (the mtree needs graphviz); without
 * them the report says so.  Their messages go to DIR/report.log, which is
 * removed when empty.  Returns 0 or -errno; *reterr (static string) says
 * what failed. */
int report_write(const char *dir, json_t *const *docs, size_t n, ReportFormat fmt, double alpha, const char *selection,
                 const char **reterr);

/* HOOK(report-bench): clients/report-bench.c defines this to add its
 * benchmark section after the comparison tables.  Declared weak, so the
 * report builds and runs without it; it must return 0 or -errno. */
int report_bench_section(FILE *f, json_t *const *docs, size_t n, ReportFormat fmt, const char *dir)
        __attribute__((weak));

/* Runs argv (argv[0] looked up in PATH) without a shell, its stdout and
 * stderr appended to DIR/report.log: 0 when it exited 0, -ENOENT when it is
 * not installed, another -errno otherwise. */
int report_run_tool(const char *dir, char *const argv[]);

/* report_run_tool() of "gnuplot SCRIPT". */
int report_run_gnuplot(const char *dir, const char *script);
