/* output.h — renders result documents for people (table, Markdown) and
 * programs (CSV, JSON).  Knows the result schema, not the bus. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum OutputFormat {
        OUTPUT_TABLE,
        OUTPUT_CSV,
        OUTPUT_MD,
        OUTPUT_JSON,
        OUTPUT_DOT,   /* mtree: graphviz source */
        OUTPUT_SVG,   /* mtree: drawn by graphviz `dot -Tsvg` */
        OUTPUT_OPENMETRICS, /* results: OpenMetrics text (output-openmetrics.c) */
        _OUTPUT_FORMAT_MAX,
        _OUTPUT_FORMAT_INVALID = -22,
} OutputFormat;

OutputFormat output_format_from_string(const char *s);
/* One or more result documents: one table per job, and when several jobs
 * share metrics, a side-by-side comparison with ratios to the first. */
void output_results(FILE *f, json_t *const *docs, size_t n, OutputFormat fmt);
/* Result documents in the OpenMetrics text format (a summary per job, VMM
 * and metric in base units; comparison gauges), ending "# EOF". */
void output_openmetrics(FILE *f, json_t *const *docs, size_t n);
/* ListResults rows. */
void output_result_list(FILE *f, json_t *rows, OutputFormat fmt);
/* mtree results: the tree re-indented (table/text), DOT or SVG.  Returns
 * false when doc holds no tree (a failed job), so the caller prints it the
 * generic way. */
bool output_mtree(FILE *f, json_t *doc, OutputFormat fmt);
/* translate results: the walk laid out for the lab report, with the GVA's
 * binary index split.  false when doc holds no walk. */
bool output_translate(FILE *f, json_t *doc, OutputFormat fmt);
/* bench-cpu/-memory/-fileio results (output-bench.c): one table per matrix,
 * mean ± CI95 per cell, several jobs side by side with ratios.  false when
 * docs are not all bench results of one kind or fmt is CSV/JSON. */
bool output_bench_results(FILE *f, json_t *const *docs, size_t n, OutputFormat fmt);
