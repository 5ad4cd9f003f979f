/* report-plot.h — the report's figures, drawn by gnuplot as SVG into the
 * report directory: where a boot's time goes (a stacked phase bar per VMM),
 * the memory footprint (guest RAM against VMM overhead), and every measured
 * run of every metric of a kind (small box plots, one per metric).  Each
 * figure writes a script and a data file, runs gnuplot on them without a
 * shell (its messages go to DIR/report.log, not the terminal) and removes
 * them: only the SVG stays. */
#pragma once

#include <jansson.h>

#include "report-set.h"

/* Each returns 0 when DIR/svg_name was drawn, -ENODATA when the set holds
 * nothing to draw, -ENOENT without gnuplot, another -errno on failure. */

/* Boot milestones per VMM (VMM exec → QMP → guest entry → first console
 * byte → kernel → init marker, those the image has), stacked, each ending
 * at its mean with a CI95 whisker; one panel per VMM on its own scale. */
int report_plot_phases(const char *dir, const ReportSet *s, const char *svg_name);

/* Memory per VMM: guest RAM resident plus VMM overhead (= RSS), in MiB,
 * with the RSS CI95 whisker. */
int report_plot_footprint(const char *dir, const ReportSet *s, const char *svg_name);

/* Small multiples: one compact box plot (quartiles, every run drawn with
 * deterministic jitter) per metric of kind, VMMs side by side. */
int report_plot_runs(const char *dir, const ReportSet *s, const char *kind, json_t *metrics, const char *svg_name);
