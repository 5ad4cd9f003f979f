/* report.c — writes the report directory (see report.h).  Layout:
 *   environment → one section per result (tables per metric, each with its
 *   plot) → [benchmark section, HOOK(report-bench)] → how to read it.
 * Plots: for each metric, a gnuplot script and data file are written next to
 * the report, gnuplot is run on them without a shell, and both are removed;
 * only the SVG stays. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compare.h"
#include "gate.h"

static const char *const report_format_table[_REPORT_FORMAT_MAX] = {
        [REPORT_MD] = "md",
        [REPORT_HTML] = "html",
};

ReportFormat report_format_from_string(const char *s) {
        for (int i = 0; i < _REPORT_FORMAT_MAX; i++)
                if (s && strcmp(s, report_format_table[i]) == 0)
                        return (ReportFormat) i;
        return _REPORT_FORMAT_INVALID;
}

static const char *str(json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "";
}

static double num(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Text for the report: escaped in HTML, as is in Markdown. */
static void text(FILE *f, ReportFormat fmt, const char *s) {
        if (fmt == REPORT_HTML)
                gate_xml_escape(f, s);
        else
                fputs(s, f);
}

int report_run_gnuplot(const char *script) {
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execlp("gnuplot", "gnuplot", script, (char *) NULL);
                _exit(127);
        }
        int st = 0;
        if (waitpid(pid, &st, 0) < 0)
                return -errno;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : WIFEXITED(st) && WEXITSTATUS(st) == 127 ? -ENOENT : -EIO;
}

/* Box plot per VMM with every run on top (deterministic jitter).  Returns 0,
 * -ENOENT without gnuplot, another -errno on failure. */
static int plot_metric(const char *dir, json_t *doc, json_t *vmms, const char *metric, const char *svg_name) {
        char dat[4096], gp[4096], svg[4096];
        snprintf(dat, sizeof(dat), "%s/.%s.dat", dir, svg_name);
        snprintf(gp, sizeof(gp), "%s/.%s.gp", dir, svg_name);
        snprintf(svg, sizeof(svg), "%s/%s", dir, svg_name);
        FILE *d = fopen(dat, "we"), *g = d ? fopen(gp, "we") : NULL;
        if (!g) {
                int e = -errno;
                if (d)
                        fclose(d);
                return e;
        }
        json_t *vmm, *run;
        size_t i, j;
        unsigned points = 0;
        json_array_foreach(vmms, i, vmm) {
                fprintf(d, "# %s\n", json_string_value(vmm));
                unsigned k = 0;
                json_array_foreach(json_object_get(doc, "runs"), j, run) {
                        const char *rv = json_string_value(json_object_get(run, "vmm"))
                                                 ?: json_string_value(json_object_get(json_object_get(doc, "spec"), "vmm"));
                        json_t *x = json_object_get(run, metric);
                        if (!json_is_true(json_object_get(run, "ok")) || json_is_true(json_object_get(run, "warmup")) ||
                            !rv || strcmp(rv, json_string_value(vmm)) != 0 || !json_is_number(x))
                                continue;
                        /* Golden-ratio jitter: spread, reproducible, no RNG. */
                        double jitter = (fmod(k++ * 0.6180339887, 1.0) - 0.5) * 0.3;
                        fprintf(d, "%.4f %.6f\n", (double) (i + 1) + jitter, json_number_value(x));
                        points++;
                }
                fprintf(d, "%s", "\n\n"); /* gnuplot "index" blocks are separated by two blank lines */
        }
        fclose(d);
        fprintf(g, "set terminal svg size 720,420 dynamic font 'sans,11'\nset output '%s'\n", svg);
        fprintf(g, "set title '%s: %s (every measured run; box = quartiles, whiskers 1.5 IQR)' noenhanced\n",
                str(doc, "kind"), metric);
        fprintf(g, "set ylabel '%s' noenhanced\nset grid ytics\nset key off\nset xrange [0.4:%zu.6]\n", metric,
                json_array_size(vmms));
        fprintf(g, "set style fill solid 0.25 border -1\nset style boxplot nooutliers\nset boxwidth 0.5\nset xtics (");
        json_array_foreach(vmms, i, vmm) fprintf(g, "%s'%s' %zu", i ? ", " : "", json_string_value(vmm), i + 1);
        fprintf(g, ") noenhanced\n");
        if (points == 0)
                fprintf(g, "set label 1 'no successful runs' at graph 0.5, graph 0.5 center\nset yrange [0:1]\n"
                           "plot 1/0\n");
        else {
                fprintf(g, "plot ");
                json_array_foreach(vmms, i, vmm) fprintf(g, "%s'%s' index %zu using (%zu):2 with boxplot lc %zu", i ? ", " : "",
                                                         dat, i, i + 1, i + 1);
                json_array_foreach(vmms, i, vmm) fprintf(g, ", '%s' index %zu using 1:2 with points pt 7 ps 0.6 lc %zu", dat,
                                                         i, i + 1);
                fputc('\n', g);
        }
        fclose(g);
        int r = report_run_gnuplot(gp);
        (void) unlink(dat);
        (void) unlink(gp);
        return r;
}

static void environment(FILE *f, ReportFormat fmt, json_t *const *docs, size_t n) {
        json_t *env = json_object_get(docs[0], "environment"), *host = json_object_get(env, "host");
        json_t *img = json_object_get(env, "image");
        char line[1024];
        bool html = fmt == REPORT_HTML;
        fputs(html ? "<h3>Environment</h3>\n<ul>\n" : "\n### Environment\n\n", f);
        const char *item = html ? "<li>" : "- ", *end = html ? "</li>\n" : "\n";
        snprintf(line, sizeof(line), "Host: %s, %lld cores, kernel %s, KVM %s", str(host, "cpu_model"),
                 (long long) json_integer_value(json_object_get(host, "cores")), str(host, "kernel"),
                 str(host, "kvm_flavour"));
        fputs(item, f), text(f, fmt, line), fputs(end, f);
        json_t *vmms = json_object_get(env, "vmms"), *v;
        size_t i;
        json_t *one = vmms ? NULL : json_pack("[O]", json_object_get(env, "vmm"));
        json_array_foreach(vmms ?: one, i, v) {
                snprintf(line, sizeof(line), "VMM %s: %s (%s); accel %s: %s", str(v, "name"), str(v, "version"),
                         str(v, "path"), *str(v, "accel") ? str(v, "accel") : str(env, "accel"),
                         *str(v, "accel_reason") ? str(v, "accel_reason") : str(env, "accel_reason"));
                fputs(item, f), text(f, fmt, line), fputs(end, f);
        }
        json_decref(one);
        snprintf(line, sizeof(line), "Guest image %s (kernel %s): vmlinux %.16s…, bzImage %.16s…, initramfs %.16s…",
                 str(img, "image_hash"), str(img, "kernel_release"), str(img, "vmlinux_sha256"),
                 str(img, "bzimage_sha256"), str(img, "initramfs_sha256"));
        fputs(item, f), text(f, fmt, line), fputs(end, f);
        json_t *spec = json_object_get(docs[0], "spec");
        snprintf(line, sizeof(line), "Guest: %lld vCPU, %lld MiB; %lld measured runs per VMM after %lld warm-up, VMMs interleaved run by run",
                 (long long) json_integer_value(json_object_get(spec, "vcpus")),
                 (long long) json_integer_value(json_object_get(spec, "memory_mib")),
                 (long long) json_integer_value(json_object_get(spec, "runs")),
                 (long long) json_integer_value(json_object_get(spec, "warmup")));
        fputs(item, f), text(f, fmt, line), fputs(end, f);
        for (size_t d = 0; d < n; d++) {
                snprintf(line, sizeof(line), "Job %lld (%s): %s → %s, state %s",
                         (long long) json_integer_value(json_object_get(docs[d], "job_id")), str(docs[d], "kind"),
                         str(docs[d], "started_at"), str(docs[d], "finished_at"), str(docs[d], "state"));
                fputs(item, f), text(f, fmt, line), fputs(end, f);
        }
        if (html)
                fputs("</ul>\n", f);
}

static void html_table(FILE *f, json_t *doc, json_t *vmms, const char *metric, double alpha) {
        const char *ref = json_string_value(json_array_get(vmms, 0));
        double base = num(compare_stats(doc, ref, metric), "mean");
        json_t *vmm;
        size_t i;
        fputs("<table>\n<tr><th>VMM</th><th>n</th><th>mean ± CI95</th><th>median</th><th>CV</th><th>min–max</th>"
              "<th>ratio</th><th>verdict</th><th>flags</th></tr>\n", f);
        json_array_foreach(vmms, i, vmm) {
                json_t *st = compare_stats(doc, json_string_value(vmm), metric);
                char verdict[128];
                fputs("<tr><td>", f);
                gate_xml_escape(f, json_string_value(vmm));
                if (!st) {
                        fputs("</td><td>0</td><td colspan=\"7\">no successful runs</td></tr>\n", f);
                        continue;
                }
                double ci = (num(st, "ci95_high") - num(st, "ci95_low")) / 2;
                compare_verdict(i == 0 ? NULL : compare_row(doc, json_string_value(vmm), metric), alpha, verdict,
                                sizeof(verdict));
                fprintf(f, "</td><td>%lld</td><td>%.2f ± %.2f</td><td>%.2f</td><td>%.1f %%</td><td>%.2f–%.2f</td>"
                           "<td>%.3f</td><td>",
                        (long long) json_integer_value(json_object_get(st, "n")), num(st, "mean"), isnan(ci) ? 0 : ci,
                        num(st, "median"), 100 * num(st, "cv"), num(st, "min"), num(st, "max"), num(st, "mean") / base);
                gate_xml_escape(f, verdict);
                fprintf(f, "</td><td>%s</td></tr>\n", compare_flags(st));
        }
        fputs("</table>\n", f);
}

/* One result: a table and a plot per metric. */
static void section(FILE *f, const char *dir, json_t *doc, ReportFormat fmt, double alpha, bool *plots_failed) {
        json_t *vmms = compare_vmms(doc), *m;
        size_t i;
        if (fmt == REPORT_HTML) {
                fprintf(f, "<h3>%s (job %lld)</h3>\n", str(doc, "kind"),
                        (long long) json_integer_value(json_object_get(doc, "job_id")));
                if (json_is_string(json_object_get(doc, "error"))) {
                        fputs("<p>Error: ", f);
                        gate_xml_escape(f, str(doc, "error"));
                        fputs("</p>\n", f);
                }
        }
        json_array_foreach(json_object_get(doc, "metrics"), i, m) {
                const char *metric = json_string_value(m);
                char svg_name[256];
                snprintf(svg_name, sizeof(svg_name), "%s-%s.svg", str(doc, "kind"), metric);
                if (fmt == REPORT_HTML) {
                        fprintf(f, "<h4>%s</h4>\n", metric);
                        html_table(f, doc, vmms, metric, alpha);
                } else {
                        json_t *one[1] = { doc };
                        json_t *tmp = json_deep_copy(doc);
                        /* Print only this metric: a copy whose metric list is just it. */
                        json_object_set_new(tmp, "metrics", json_pack("[s]", metric));
                        one[0] = tmp;
                        compare_print(f, one, 1, alpha, true);
                        json_decref(tmp);
                }
                int r = plot_metric(dir, doc, vmms, metric, svg_name);
                if (r < 0)
                        *plots_failed = true;
                else if (fmt == REPORT_HTML)
                        fprintf(f, "<p><img src=\"%s\" alt=\"%s\"/></p>\n", svg_name, metric);
                else
                        fprintf(f, "\n![%s: every run per VMM](%s)\n", metric, svg_name);
        }
        json_decref(vmms);
}

int report_write(const char *dir, json_t *const *docs, size_t n, ReportFormat fmt, double alpha, const char **reterr) {
        char path[4096];
        if (n == 0) {
                *reterr = "no results to report";
                return -ENODATA;
        }
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                *reterr = "cannot create the output directory";
                return -errno;
        }
        snprintf(path, sizeof(path), "%s/report.%s", dir, fmt == REPORT_HTML ? "html" : "md");
        FILE *f = fopen(path, "we");
        if (!f) {
                *reterr = "cannot write the report file";
                return -errno;
        }
        bool plots_failed = false;
        if (fmt == REPORT_HTML)
                fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"/><title>virtlab comparison</title>\n"
                      "<style>body{font-family:sans-serif;max-width:60em}table{border-collapse:collapse}"
                      "td,th{border:1px solid #aaa;padding:2px 6px;text-align:right}td:first-child{text-align:left}"
                      "</style></head><body>\n<h2>VMM comparison</h2>\n", f);
        else
                fputs("## VMM comparison\n", f);
        environment(f, fmt, docs, n);
        /* Benchmark matrices get their own per-matrix section below, not one
         * plot per cell. */
        for (size_t d = 0; d < n; d++)
                if (strncmp(json_string_value(json_object_get(docs[d], "kind")) ?: "", "bench-", 6) != 0)
                        section(f, dir, docs[d], fmt, alpha, &plots_failed);
        /* HOOK(report-bench): benchmark sections from clients/report-bench.c. */
        if (report_bench_section && report_bench_section(f, docs, n, fmt, dir) < 0)
                fputs(fmt == REPORT_HTML ? "<p>(benchmark section failed)</p>\n" : "\n(benchmark section failed)\n", f);
        const char *how = "How to read: n measured runs per VMM (warm-up runs discarded), VMMs interleaved run by run "
                          "(A B C A B C …) so drift hits all alike; mean ± half-width of the Student-t 95 % CI; CV = sd/mean "
                          "(high-CV above 10 %); bimodal = Sarle's coefficient > 5/9 with ≥ 2 runs per mode; ratio = mean / "
                          "mean of the first VMM; verdict from a two-sided permutation test on the means.";
        if (plots_failed)
                fputs(fmt == REPORT_HTML ? "<p>Some plots are missing: gnuplot failed or is not installed "
                                           "(apt-get install gnuplot-nox).</p>\n"
                                         : "\nSome plots are missing: gnuplot failed or is not installed "
                                           "(apt-get install gnuplot-nox).\n",
                      f);
        fputs(fmt == REPORT_HTML ? "<p>" : "\n", f);
        text(f, fmt, how);
        fputs(fmt == REPORT_HTML ? "</p>\n</body></html>\n" : "\n", f);
        if (fclose(f) != 0) {
                *reterr = "cannot write the report file";
                return -errno;
        }
        return 0;
}
