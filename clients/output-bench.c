/* output-bench.c — guest benchmark results (bench-cpu, -memory, -fileio):
 * one table per matrix, a row per cell, mean ± CI95 of the cell's figures,
 * and with several jobs of one kind (QEMU vs StratoVirt, q35 vs microvm)
 * their headline side by side with the ratio to the first job.  Metric
 * names are "CELL.FIGURE" (see daemon/experiment-bench.c). */
#include <math.h>
#include <string.h>

#include "output.h"

/* Columns per test: figure, header, unit. */
typedef struct BenchColumn {
        const char *figure; /* suffix of the metric name */
        const char *header; /* column title */
} BenchColumn;

static const BenchColumn cpu_cols[] = { { "events_per_s", "events/s" }, { "lat_avg_ms", "lat avg ms" },
                                        { "lat_p95_ms", "lat p95 ms" }, { "lat_max_ms", "lat max ms" }, {} };
static const BenchColumn memory_cols[] = { { "mib_per_s", "MiB/s" }, { "ops_per_s", "ops/s" }, { "lat_avg_ms", "lat avg ms" },
                                           { "lat_p95_ms", "lat p95 ms" }, {} };
static const BenchColumn fileio_cols[] = { { "iops", "IOPS" }, { "mib_per_s", "MiB/s" }, { "read_mib_per_s", "read MiB/s" },
                                           { "write_mib_per_s", "write MiB/s" }, { "lat_avg_ms", "lat avg ms" },
                                           { "lat_p95_ms", "lat p95 ms" }, {} };

static const BenchColumn *bench_columns(const char *kind) {
        if (!kind || strncmp(kind, "bench-", 6) != 0)
                return NULL;
        return strcmp(kind, "bench-cpu") == 0      ? cpu_cols
               : strcmp(kind, "bench-memory") == 0 ? memory_cols
               : strcmp(kind, "bench-fileio") == 0 ? fileio_cols
                                                   : NULL;
}

static const char *kind_of(json_t *doc) {
        return json_string_value(json_object_get(doc, "kind"));
}

static const char *vmm_of(json_t *doc) {
        const char *v = json_string_value(json_object_get(json_object_get(doc, "spec"), "vmm"));
        return v ? v : "?";
}

/* The cell IDs of a result, in matrix order, from its metric names. */
static json_t *cells_of(json_t *doc) {
        json_t *cells = json_array(), *m;
        size_t i;
        json_array_foreach(json_object_get(doc, "metrics"), i, m) {
                const char *name = json_string_value(m), *dot = name ? strrchr(name, '.') : NULL;
                if (!dot)
                        continue;
                json_t *id = json_stringn(name, (size_t) (dot - name));
                bool seen = false;
                json_t *c;
                size_t k;
                json_array_foreach(cells, k, c) seen = seen || json_equal(c, id);
                if (seen)
                        json_decref(id);
                else
                        json_array_append_new(cells, id);
        }
        return cells;
}

static json_t *cell_stats(json_t *doc, const char *cell, const char *figure) {
        char name[160];
        snprintf(name, sizeof(name), "%s.%s", cell, figure);
        return json_object_get(json_object_get(doc, "summary"), name);
}

static double stat_num(json_t *st, const char *key) {
        json_t *v = json_object_get(st, key);
        return json_is_number(v) ? json_number_value(v) : NAN;
}

/* "1234.5 ± 12.3" (or "-" when the cell has no figure). */
static void format_mean_ci(char *buf, size_t size, json_t *st) {
        if (!st) {
                snprintf(buf, size, "-");
                return;
        }
        double mean = stat_num(st, "mean"), ci = (stat_num(st, "ci95_high") - stat_num(st, "ci95_low")) / 2;
        int prec = fabs(mean) >= 100 ? 1 : 3;
        if (isnan(ci))
                snprintf(buf, size, "%.*f", prec, mean);
        else
                snprintf(buf, size, "%.*f ± %.*f", prec, mean, prec, ci);
}

/* "t32.4K.rndrd" → threads 32, block 4K, mode rndrd. */
static void split_cell(const char *id, char *threads, char *block, char *mode, size_t size) {
        const char *d1 = strchr(id, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
        snprintf(threads, size, "%.*s", (int) (d1 ? (size_t) (d1 - id - 1) : strlen(id + 1)), id + 1);
        snprintf(block, size, "%.*s", d2 ? (int) (d2 - d1 - 1) : 1, d2 ? d1 + 1 : "-");
        snprintf(mode, size, "%s", d2 ? d2 + 1 : "-");
}

static void print_one(FILE *f, json_t *doc, const BenchColumn *cols, bool md) {
        json_t *env = json_object_get(doc, "environment"), *spec = json_object_get(doc, "spec");
        json_t *cells = cells_of(doc), *c;
        size_t i;
        fprintf(f, "%sJob %lld: %s on %s, accel %s, %lld runs × %lld s per cell, state %s%s%s\n\n", md ? "#### " : "",
                (long long) json_integer_value(json_object_get(doc, "job_id")), kind_of(doc), vmm_of(doc),
                json_string_value(json_object_get(env, "accel")) ?: "?",
                (long long) json_integer_value(json_object_get(spec, "runs")),
                (long long) json_integer_value(json_object_get(spec, "time_s")),
                json_string_value(json_object_get(doc, "state")) ?: "?",
                json_is_string(json_object_get(doc, "error")) ? ": " : "",
                json_string_value(json_object_get(doc, "error")) ?: "");
        if (md) {
                fprintf(f, "| threads | block | mode |");
                for (const BenchColumn *col = cols; col->figure; col++)
                        fprintf(f, " %s |", col->header);
                fprintf(f, "\n|---:|---:|---|");
                for (const BenchColumn *col = cols; col->figure; col++)
                        fprintf(f, "---:|");
                fputc('\n', f);
        } else {
                fprintf(f, "  %7s %6s %6s", "threads", "block", "mode");
                for (const BenchColumn *col = cols; col->figure; col++)
                        fprintf(f, " %22s", col->header);
                fputc('\n', f);
        }
        json_array_foreach(cells, i, c) {
                char t[32], b[32], m[32];
                split_cell(json_string_value(c), t, b, m, sizeof(t));
                if (md)
                        fprintf(f, "| %s | %s | %s |", t, b, m);
                else
                        fprintf(f, "  %7s %6s %6s", t, b, m);
                for (const BenchColumn *col = cols; col->figure; col++) {
                        char v[64];
                        format_mean_ci(v, sizeof(v), cell_stats(doc, json_string_value(c), col->figure));
                        fprintf(f, md ? " %s |" : " %22s", v);
                }
                fputc('\n', f);
        }
        fputc('\n', f);
        json_decref(cells);
}

/* Headline of every job side by side, ratio = first job / this job. */
static void print_side_by_side(FILE *f, json_t *const *docs, size_t n, const BenchColumn *cols, bool md) {
        json_t *cells = cells_of(docs[0]), *c;
        size_t i;
        fprintf(f, "%s%s, %s (mean ± CI95; ratio = %s / other)\n\n", md ? "#### " : "", kind_of(docs[0]), cols[0].header,
                vmm_of(docs[0]));
        if (md) {
                fprintf(f, "| cell |");
                for (size_t k = 0; k < n; k++)
                        fprintf(f, " %s (job %lld) |", vmm_of(docs[k]), (long long) json_integer_value(json_object_get(docs[k], "job_id")));
                for (size_t k = 1; k < n; k++)
                        fprintf(f, " %s / %s |", vmm_of(docs[0]), vmm_of(docs[k]));
                fprintf(f, "\n|---|");
                for (size_t k = 0; k < 2 * n - 1; k++)
                        fprintf(f, "---:|");
                fputc('\n', f);
        } else {
                fprintf(f, "  %-16s", "cell");
                for (size_t k = 0; k < n; k++)
                        fprintf(f, " %22s", vmm_of(docs[k]));
                for (size_t k = 1; k < n; k++)
                        fprintf(f, " %8s", "ratio");
                fputc('\n', f);
        }
        json_array_foreach(cells, i, c) {
                const char *id = json_string_value(c);
                fprintf(f, md ? "| %s |" : "  %-16s", id);
                for (size_t k = 0; k < n; k++) {
                        char v[64];
                        format_mean_ci(v, sizeof(v), cell_stats(docs[k], id, cols[0].figure));
                        fprintf(f, md ? " %s |" : " %22s", v);
                }
                double base = stat_num(cell_stats(docs[0], id, cols[0].figure), "mean");
                for (size_t k = 1; k < n; k++) {
                        double other = stat_num(cell_stats(docs[k], id, cols[0].figure), "mean");
                        if (isnan(base) || isnan(other) || other == 0)
                                fprintf(f, md ? " - |" : " %8s", "-");
                        else
                                fprintf(f, md ? " %.3f |" : " %8.3f", base / other);
                }
                fputc('\n', f);
        }
        fputc('\n', f);
        json_decref(cells);
}

bool output_bench_results(FILE *f, json_t *const *docs, size_t n, OutputFormat fmt) {
        if (n == 0 || (fmt != OUTPUT_TABLE && fmt != OUTPUT_MD))
                return false;
        const BenchColumn *cols = bench_columns(kind_of(docs[0]));
        if (!cols)
                return false;
        for (size_t k = 1; k < n; k++)
                if (bench_columns(kind_of(docs[k])) != cols)
                        return false; /* mixed kinds: the generic view */
        for (size_t k = 0; k < n; k++)
                print_one(f, docs[k], cols, fmt == OUTPUT_MD);
        if (n > 1)
                print_side_by_side(f, docs, n, cols, fmt == OUTPUT_MD);
        return true;
}
