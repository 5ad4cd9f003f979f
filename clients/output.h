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
        _OUTPUT_FORMAT_MAX,
        _OUTPUT_FORMAT_INVALID = -22,
} OutputFormat;

OutputFormat output_format_from_string(const char *s);
/* One or more result documents: one table per job, and when several jobs
 * share metrics, a side-by-side comparison with ratios to the first. */
void output_results(FILE *f, json_t *const *docs, size_t n, OutputFormat fmt);
/* ListResults rows. */
void output_result_list(FILE *f, json_t *rows, OutputFormat fmt);
