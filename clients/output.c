/* output.c — result tables.  Every figure printed is read from the result
 * document; nothing is recomputed here except ratios between jobs. */
#include "output.h"

#include <math.h>
#include <string.h>

static const char *const format_table[_OUTPUT_FORMAT_MAX] = {
        [OUTPUT_TABLE] = "table", [OUTPUT_CSV] = "csv", [OUTPUT_MD] = "md", [OUTPUT_JSON] = "json",
};

OutputFormat output_format_from_string(const char *s) {
        for (int i = 0; i < _OUTPUT_FORMAT_MAX; i++)
                if (s && strcmp(s, format_table[i]) == 0)
                        return (OutputFormat) i;
        return _OUTPUT_FORMAT_INVALID;
}

static double num(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "";
}

static const char *vmm_name(json_t *doc) {
        return str(json_object_get(doc, "spec"), "vmm");
}

static void print_header(FILE *f, json_t *doc) {
        json_t *env = json_object_get(doc, "environment");
        json_t *vmm = json_object_get(env, "vmm");
        json_t *img = json_object_get(env, "image");
        json_t *spec = json_object_get(doc, "spec");
        fprintf(f, "Job %lld: %s on %s (%s), state %s\n", (long long) json_integer_value(json_object_get(doc, "job_id")),
                str(doc, "kind"), vmm_name(doc), str(vmm, "version"), str(doc, "state"));
        if (json_is_string(json_object_get(doc, "error")))
                fprintf(f, "  error: %s\n", str(doc, "error"));
        if (env)
                fprintf(f, "  accel %s (%s)\n  image %.12s (kernel %s), %lld vCPU, %lld MiB, %lld runs + %lld warm-up\n",
                        str(env, "accel"), str(env, "accel_reason"), str(img, "image_hash"), str(img, "kernel_release"),
                        (long long) json_integer_value(json_object_get(spec, "vcpus")),
                        (long long) json_integer_value(json_object_get(spec, "memory_mib")),
                        (long long) json_integer_value(json_object_get(spec, "runs")),
                        (long long) json_integer_value(json_object_get(spec, "warmup")));
}

static const char *flags_of(json_t *st) {
        bool hc = json_is_true(json_object_get(st, "high_cv")), bi = json_is_true(json_object_get(st, "bimodal"));
        return hc && bi ? " high-CV,bimodal" : hc ? " high-CV" : bi ? " bimodal" : "";
}

static void print_table(FILE *f, json_t *doc) {
        print_header(f, doc);
        json_t *summary = json_object_get(doc, "summary"), *metrics = json_object_get(doc, "metrics"), *m;
        size_t i;
        fprintf(f, "\n  %-26s %4s %11s %9s %11s %9s %6s %11s %11s\n", "metric", "n", "mean", "±CI95", "median", "sd", "CV",
                "min", "max");
        json_array_foreach(metrics, i, m) {
                json_t *st = json_object_get(summary, json_string_value(m));
                if (!st) {
                        fprintf(f, "  %-26s %4s\n", json_string_value(m), "-");
                        continue;
                }
                double ci = (num(st, "ci95_high") - num(st, "ci95_low")) / 2;
                fprintf(f, "  %-26s %4lld %11.2f %9.2f %11.2f %9.2f %5.1f%% %11.2f %11.2f%s\n", json_string_value(m),
                        (long long) json_integer_value(json_object_get(st, "n")), num(st, "mean"), isnan(ci) ? 0 : ci,
                        num(st, "median"), num(st, "sd"), 100 * num(st, "cv"), num(st, "min"), num(st, "max"),
                        flags_of(st));
        }
        fputc('\n', f);
}

/* The pmap -x view of the last measured run, largest RSS first. */
static int by_rss_desc(const void *a, const void *b) {
        double x = num(*(json_t *const *) a, "rss"), y = num(*(json_t *const *) b, "rss");
        return x < y ? 1 : x > y ? -1 : 0;
}

static void print_pmap(FILE *f, json_t *doc) {
        json_t *runs = json_object_get(doc, "runs"), *run = NULL, *r;
        size_t i;
        json_array_foreach(runs, i, r) if (json_object_get(r, "pmap")) run = r;
        if (!run)
                return;
        json_t *pmap = json_object_get(run, "pmap");
        size_t n = json_array_size(pmap);
        json_t **rows = calloc(n ? n : 1, sizeof(json_t *));
        if (!rows)
                return;
        for (i = 0; i < n; i++)
                rows[i] = json_array_get(pmap, i);
        qsort(rows, n, sizeof(json_t *), by_rss_desc);
        fprintf(f, "  pmap -x of run %lld (largest RSS first; guest RAM at %s, found by %s)\n",
                (long long) json_integer_value(json_object_get(run, "index")),
                str(json_object_get(run, "guest_ram_mapping"), "address"),
                str(json_object_get(run, "guest_ram_mapping"), "found_by"));
        fprintf(f, "  %-18s %10s %10s %10s %-6s %s\n", "Address", "Kbytes", "RSS", "Dirty", "Mode", "Mapping");
        for (i = 0; i < n && i < 12; i++)
                fprintf(f, "  %-18s %10.0f %10.0f %10.0f %-6s %s\n", str(rows[i], "address"), num(rows[i], "kbytes"),
                        num(rows[i], "rss"), num(rows[i], "dirty"), str(rows[i], "mode"), str(rows[i], "mapping"));
        fprintf(f, "  (%zu mappings in all)\n\n", n);
        free(rows);
}

static void print_comparison(FILE *f, json_t *const *docs, size_t n) {
        json_t *metrics = json_object_get(docs[0], "metrics"), *m;
        size_t i;
        fprintf(f, "Comparison (mean ± CI95; ratio = mean / mean of job %lld)\n",
                (long long) json_integer_value(json_object_get(docs[0], "job_id")));
        json_array_foreach(metrics, i, m) {
                const char *metric = json_string_value(m);
                fprintf(f, "\n  %s\n", metric);
                double base = num(json_object_get(json_object_get(docs[0], "summary"), metric), "mean");
                for (size_t k = 0; k < n; k++) {
                        json_t *st = json_object_get(json_object_get(docs[k], "summary"), metric);
                        if (!st)
                                continue;
                        double ci = (num(st, "ci95_high") - num(st, "ci95_low")) / 2;
                        fprintf(f, "    %-14s job %-4lld %11.2f ± %-9.2f median %11.2f  CV %5.1f%%  ratio %.3f%s\n",
                                vmm_name(docs[k]), (long long) json_integer_value(json_object_get(docs[k], "job_id")),
                                num(st, "mean"), isnan(ci) ? 0 : ci, num(st, "median"), 100 * num(st, "cv"),
                                num(st, "mean") / base, flags_of(st));
                }
        }
        fputc('\n', f);
}

static void print_rows(FILE *f, json_t *doc, bool md) {
        json_t *summary = json_object_get(doc, "summary"), *metrics = json_object_get(doc, "metrics"), *m;
        size_t i;
        json_array_foreach(metrics, i, m) {
                json_t *st = json_object_get(summary, json_string_value(m));
                if (!st)
                        continue;
                const char *sep = md ? " | " : ",";
                fprintf(f, "%s%lld%s%s%s%s%s%s%s%s%s%lld%s%.3f%s%.3f%s%.3f%s%.3f%s%.3f%s%.5f%s%.3f%s%.3f%s\n",
                        md ? "| " : "", (long long) json_integer_value(json_object_get(doc, "job_id")), sep,
                        str(doc, "kind"), sep, vmm_name(doc), sep, str(json_object_get(doc, "environment"), "accel"),
                        sep, json_string_value(m), sep, (long long) json_integer_value(json_object_get(st, "n")), sep,
                        num(st, "mean"), sep, num(st, "ci95_low"), sep, num(st, "ci95_high"), sep, num(st, "median"),
                        sep, num(st, "sd"), sep, num(st, "cv"), sep, num(st, "min"), sep, num(st, "max"),
                        md ? " |" : "");
        }
}

void output_results(FILE *f, json_t *const *docs, size_t n, OutputFormat fmt) {
        static const char *const cols = "job_id,kind,vmm,accel,metric,n,mean,ci95_low,ci95_high,median,sd,cv,min,max";
        switch (fmt) {
        case OUTPUT_JSON: {
                json_t *out = n == 1 ? json_incref(docs[0]) : json_array();
                for (size_t k = 0; n > 1 && k < n; k++)
                        json_array_append(out, docs[k]);
                json_dumpf(out, f, JSON_INDENT(2));
                fputc('\n', f);
                json_decref(out);
                break;
        }
        case OUTPUT_CSV:
                fprintf(f, "%s\n", cols);
                for (size_t k = 0; k < n; k++)
                        print_rows(f, docs[k], false);
                break;
        case OUTPUT_MD:
                fprintf(f, "| job | kind | vmm | accel | metric | n | mean | CI95 low | CI95 high | median | sd | CV | min | max |\n");
                fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
                for (size_t k = 0; k < n; k++)
                        print_rows(f, docs[k], true);
                break;
        default:
                for (size_t k = 0; k < n; k++) {
                        print_table(f, docs[k]);
                        print_pmap(f, docs[k]);
                }
                if (n > 1)
                        print_comparison(f, docs, n);
        }
}

void output_result_list(FILE *f, json_t *rows, OutputFormat fmt) {
        json_t *r;
        size_t i;
        if (fmt == OUTPUT_JSON) {
                json_dumpf(rows, f, JSON_INDENT(2));
                fputc('\n', f);
                return;
        }
        if (fmt == OUTPUT_CSV)
                fprintf(f, "job_id,kind,vmm,state,created_at,finished_at,error\n");
        else
                fprintf(f, "%6s  %-8s %-14s %-9s %-24s %s\n", "JOB", "KIND", "VMM", "STATE", "FINISHED", "ERROR");
        json_array_foreach(rows, i, r) {
                if (fmt == OUTPUT_CSV)
                        fprintf(f, "%lld,%s,%s,%s,%s,%s,\"%s\"\n", (long long) json_integer_value(json_object_get(r, "job_id")),
                                str(r, "kind"), str(r, "vmm"), str(r, "state"), str(r, "created_at"), str(r, "finished_at"),
                                str(r, "error"));
                else
                        fprintf(f, "%6lld  %-8s %-14s %-9s %-24s %s\n", (long long) json_integer_value(json_object_get(r, "job_id")),
                                str(r, "kind"), str(r, "vmm"), str(r, "state"), str(r, "finished_at"), str(r, "error"));
        }
}
