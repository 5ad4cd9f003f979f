/* output-openmetrics.c — result documents in the OpenMetrics text format
 * (also valid Prometheus text format 0.0.4, what `promtool check metrics`
 * reads), for a fleet of runners each with its own virtlabd feeding one
 * Prometheus (node-exporter textfile collector or a Pushgateway; docs/ci.md).
 *
 * One summary family per quantity, in base units: virtlab_duration_seconds
 * (every *_ms metric), virtlab_memory_bytes (*_kib), virtlab_throughput_
 * bytes_per_second (*mib_per_s), virtlab_rate_per_second (other rates,
 * IOPS) and virtlab_value (the rest).  A sample per (job, VMM, metric):
 * quantile 0 / 0.5 / 1 = min / median / max of the measured runs, _sum and
 * _count; labels kind, vmm, accel, image, metric (the result field's name,
 * whose raw unit the family converted).  No job id: a series per CI run would
 * grow Prometheus without bound; only when the documents hold the same kind
 * and VMM twice does every sample carry job_id, to keep the series apart.
 * Compare jobs add the gauges virtlab_comparison_ratio and
 * virtlab_comparison_p_value with a reference label.  No timestamps: the
 * scraper or pusher stamps them. */
#include <math.h>
#include <string.h>

#include "compare.h"
#include "human.h"
#include "output.h"

/* A family and which metrics it holds. */
static const struct {
        const char *name;     /* family name */
        const char *unit;     /* OpenMetrics UNIT (a suffix of name), or NULL */
        HumanQuantity holds;  /* metrics of this quantity */
        double scale;         /* raw value × scale = base unit */
        const char *help;     /* HELP text */
} families[] = {
        { "virtlab_duration_seconds", "seconds", HUMAN_TIME, 1e-3,
          "Boot milestones (from the VMM spawn) and benchmark latencies of virtlab jobs per VMM; metric names the "
          "result field (ms there); quantile 0, 0.5, 1 = min, median, max of the measured runs" },
        { "virtlab_memory_bytes", "bytes", HUMAN_MEMORY, 1024,
          "VMM memory footprint of virtlab jobs per VMM (RSS, PSS, USS, Pss_Anon, guest RAM, overhead); metric names "
          "the result field (KiB there); quantile 0, 0.5, 1 = min, median, max of the measured runs" },
        { "virtlab_throughput_bytes_per_second", "bytes_per_second", HUMAN_BANDWIDTH, 1048576,
          "Guest benchmark throughput of virtlab jobs per VMM and cell; metric names the result field (MiB/s there); "
          "quantile 0, 0.5, 1 = min, median, max of the measured runs" },
        { "virtlab_rate_per_second", NULL, HUMAN_RATE, 1,
          "Guest benchmark rates (events, operations, IOPS per second) of virtlab jobs per VMM and cell; quantile 0, "
          "0.5, 1 = min, median, max of the measured runs" },
        { "virtlab_value", NULL, HUMAN_COUNT, 1,
          "Other figures of virtlab jobs per VMM (counts); quantile 0, 0.5, 1 = min, median, max of the measured runs" },
};

static double num(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A label value, escaped as both formats want (backslash, quote, newline). */
static void label_value(FILE *f, const char *s) {
        fputc('"', f);
        for (; s && *s; s++)
                if (*s == '\\' || *s == '"')
                        fprintf(f, "\\%c", *s);
                else if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
        fputc('"', f);
}

static void label(FILE *f, bool *first, const char *name, const char *value) {
        if (!value || !*value)
                return; /* an empty label is no label in Prometheus */
        fprintf(f, "%s%s=", *first ? "" : ",", name);
        label_value(f, value);
        *first = false;
}

/* The accelerator vmm ran with in doc. */
static const char *accel_of(json_t *doc, const char *vmm) {
        json_t *env = json_object_get(doc, "environment"), *v;
        size_t i;
        json_array_foreach(json_object_get(env, "vmms"), i, v)
                if (json_string_value(json_object_get(v, "name")) && strcmp(json_string_value(json_object_get(v, "name")), vmm) == 0)
                        return json_string_value(json_object_get(v, "accel"));
        return json_string_value(json_object_get(env, "accel"));
}

static const char *image_of(json_t *doc, char *buf, size_t size) {
        json_t *img = json_object_get(json_object_get(doc, "environment"), "image");
        const char *name = json_string_value(json_object_get(img, "name"));
        const char *hash = json_string_value(json_object_get(img, "image_hash"));
        if (name)
                return name;
        snprintf(buf, size, "%.12s", hash ? hash : "");
        return buf;
}

/* Whether every sample needs a job_id label: two documents hold the same
 * kind and VMM. */
static bool with_job_id;

static bool doc_has_vmm(json_t *doc, const char *vmm) {
        json_t *vmms = compare_vmms(doc), *v;
        size_t i;
        bool found = false;
        json_array_foreach(vmms, i, v) found = found || strcmp(json_string_value(v), vmm) == 0;
        json_decref(vmms);
        return found;
}

static bool kind_vmm_twice(json_t *const *docs, size_t n) {
        for (size_t a = 0; a < n; a++) {
                json_t *vmms = compare_vmms(docs[a]), *v;
                size_t i;
                bool twice = false;
                for (size_t b = a + 1; b < n && !twice; b++)
                        if (json_equal(json_object_get(docs[a], "kind"), json_object_get(docs[b], "kind")))
                                json_array_foreach(vmms, i, v) twice = twice || doc_has_vmm(docs[b], json_string_value(v));
                json_decref(vmms);
                if (twice)
                        return true;
        }
        return false;
}

/* The labels of one (doc, vmm, metric), without the closing brace. */
static void labels(FILE *f, json_t *doc, const char *vmm, const char *metric) {
        char id[32], img[16];
        bool first = true;
        snprintf(id, sizeof(id), "%lld", (long long) json_integer_value(json_object_get(doc, "job_id")));
        fputc('{', f);
        if (with_job_id)
                label(f, &first, "job_id", id);
        label(f, &first, "kind", json_string_value(json_object_get(doc, "kind")));
        label(f, &first, "vmm", strcmp(vmm, "?") == 0 ? NULL : vmm);
        label(f, &first, "accel", accel_of(doc, vmm));
        label(f, &first, "image", image_of(doc, img, sizeof(img)));
        label(f, &first, "metric", metric);
}

static void family(FILE *f, size_t fam, json_t *const *docs, size_t n) {
        bool header = false;
        for (size_t d = 0; d < n; d++) {
                json_t *vmms = compare_vmms(docs[d]), *vmm, *m;
                size_t i, j;
                json_array_foreach(vmms, i, vmm) json_array_foreach(json_object_get(docs[d], "metrics"), j, m) {
                        const char *metric = json_string_value(m), *name = json_string_value(vmm);
                        json_t *st = compare_stats(docs[d], name, metric);
                        HumanMetric hm = human_metric(metric);
                        double count = num(st, "n"), mean = num(st, "mean");
                        if (hm.quantity != families[fam].holds || !st || isnan(count) || isnan(mean))
                                continue;
                        if (!header) {
                                fprintf(f, "# TYPE %s summary\n", families[fam].name);
                                if (families[fam].unit)
                                        fprintf(f, "# UNIT %s %s\n", families[fam].name, families[fam].unit);
                                fprintf(f, "# HELP %s %s.\n", families[fam].name, families[fam].help);
                                header = true;
                        }
                        static const struct {
                                const char *q, *key;
                        } quantiles[] = { { "0", "min" }, { "0.5", "median" }, { "1", "max" } };
                        double k = families[fam].scale;
                        for (size_t q = 0; q < 3; q++) {
                                fputs(families[fam].name, f);
                                labels(f, docs[d], name, metric);
                                fprintf(f, ",quantile=\"%s\"} %.10g\n", quantiles[q].q, num(st, quantiles[q].key) * k);
                        }
                        fputs(families[fam].name, f);
                        fputs("_sum", f);
                        labels(f, docs[d], name, metric);
                        fprintf(f, "} %.10g\n", mean * count * k);
                        fputs(families[fam].name, f);
                        fputs("_count", f);
                        labels(f, docs[d], name, metric);
                        fprintf(f, "} %lld\n", (long long) count);
                }
                json_decref(vmms);
        }
}

/* The compare jobs' rows as one gauge family (key: "ratio" or "p"). */
static void comparisons(FILE *f, const char *name, const char *key, const char *help, json_t *const *docs, size_t n) {
        bool header = false;
        for (size_t d = 0; d < n; d++) {
                json_t *row;
                size_t i;
                json_array_foreach(json_object_get(docs[d], "comparisons"), i, row) {
                        double v = num(row, key);
                        const char *vmm = json_string_value(json_object_get(row, "vmm"));
                        if (isnan(v) || !vmm)
                                continue;
                        if (!header) {
                                fprintf(f, "# TYPE %s gauge\n# HELP %s %s.\n", name, name, help);
                                header = true;
                        }
                        bool first = false;
                        fputs(name, f);
                        labels(f, docs[d], vmm, json_string_value(json_object_get(row, "metric")));
                        label(f, &first, "reference", json_string_value(json_object_get(row, "reference")));
                        fprintf(f, "} %.10g\n", v);
                }
        }
}

void output_openmetrics(FILE *f, json_t *const *docs, size_t n) {
        with_job_id = kind_vmm_twice(docs, n);
        for (size_t fam = 0; fam < sizeof(families) / sizeof(families[0]); fam++)
                family(f, fam, docs, n);
        comparisons(f, "virtlab_comparison_ratio", "ratio",
                    "Mean of a VMM divided by the mean of the reference VMM of the same compare job (runs interleaved)",
                    docs, n);
        comparisons(f, "virtlab_comparison_p_value", "p",
                    "Two-sided permutation-test p-value of a VMM against the reference VMM of the same compare job", docs, n);
        fputs("# EOF\n", f);
}
