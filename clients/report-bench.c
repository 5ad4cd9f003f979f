/* report-bench.c — the guest-benchmark part of `virtlabctl report`: the lab's
 * summary sections CPU, memory and I/O (sysbench cpu/memory/fileio), each a
 * table of mean ± CI95 per cell and VMM with the ratio to the first VMM, and
 * one SVG bar chart of the headline figure per matrix (gnuplot, run without
 * a shell).  report.c calls report_bench_section() after its own tables. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "output.h"
#include "report.h"

static const struct {
        const char *kind;     /* experiment kind */
        const char *title;    /* section title, as in the lab's summary */
        const char *headline; /* figure plotted */
        const char *unit;     /* its axis label */
} sections[] = {
        { "bench-cpu", "CPU performance (sysbench cpu)", "events_per_s", "events/s" },
        { "bench-memory", "Memory performance (sysbench memory)", "mib_per_s", "MiB/s" },
        { "bench-fileio", "I/O performance (sysbench fileio)", "iops", "IOPS" },
};

static const char *doc_str(json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "";
}

static double mean_of(json_t *doc, const char *cell, const char *figure, double *ret_ci) {
        char name[160];
        snprintf(name, sizeof(name), "%s.%s", cell, figure);
        json_t *st = json_object_get(json_object_get(doc, "summary"), name);
        json_t *m = json_object_get(st, "mean"), *lo = json_object_get(st, "ci95_low"), *hi = json_object_get(st, "ci95_high");
        *ret_ci = json_is_number(lo) && json_is_number(hi) ? (json_number_value(hi) - json_number_value(lo)) / 2 : 0;
        return json_is_number(m) ? json_number_value(m) : NAN;
}

/* Cells of a bench result, in matrix order (metric names "CELL.FIGURE"). */
static json_t *cells_of(json_t *doc, const char *headline) {
        json_t *cells = json_array(), *m;
        size_t i, hl = strlen(headline);
        json_array_foreach(json_object_get(doc, "metrics"), i, m) {
                const char *name = json_string_value(m);
                size_t len = name ? strlen(name) : 0;
                if (len > hl + 1 && strcmp(name + len - hl, headline) == 0 && name[len - hl - 1] == '.')
                        json_array_append_new(cells, json_stringn(name, len - hl - 1));
        }
        return cells;
}

/* A clustered bar chart with CI95 error bars: one cluster per cell, one bar
 * per job (VMM). */
static int plot(const char *dir, const char *svg_name, json_t *const *docs, size_t n, json_t *cells, const char *headline,
                const char *unit) {
        char dat[4096], gp[4096];
        snprintf(dat, sizeof(dat), "%s/.%s.dat", dir, svg_name);
        snprintf(gp, sizeof(gp), "%s/.%s.gp", dir, svg_name);
        FILE *d = fopen(dat, "we"), *g = d ? fopen(gp, "we") : NULL;
        if (!g) {
                int r = -errno;
                if (d)
                        fclose(d);
                return r;
        }
        json_t *c;
        size_t i;
        json_array_foreach(cells, i, c) {
                fprintf(d, "\"%s\"", json_string_value(c));
                for (size_t k = 0; k < n; k++) {
                        double ci, mean = mean_of(docs[k], json_string_value(c), headline, &ci);
                        fprintf(d, " %g %g", isnan(mean) ? 0 : mean, ci);
                }
                fputc('\n', d);
        }
        fclose(d);
        fprintf(g, "set terminal svg size 760,400 dynamic font 'sans,11'\nset output '%s/%s'\n", dir, svg_name);
        fprintf(g, "set style data histogram\nset style histogram errorbars gap 1 lw 1\nset style fill solid 0.6 border -1\n"
                   "set ylabel '%s (mean, CI95 bars)'\nset yrange [0:*]\nset xtics rotate by -30\nset key top right\n"
                   "set grid ytics\nplot ",
                unit);
        for (size_t k = 0; k < n; k++)
                fprintf(g, "%s'%s' using %zu:%zu:xtic(1) title '%s (job %lld)'", k ? ", " : "", dat, 2 + 2 * k, 3 + 2 * k,
                        doc_str(json_object_get(docs[k], "spec"), "vmm"),
                        (long long) json_integer_value(json_object_get(docs[k], "job_id")));
        fputc('\n', g);
        fclose(g);
        int r = report_run_gnuplot(dir, gp);
        (void) unlink(dat);
        (void) unlink(gp);
        return r;
}

int report_bench_section(FILE *f, json_t *const *docs, size_t n, ReportFormat fmt, const char *dir) {
        bool html = fmt == REPORT_HTML;
        for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
                json_t *mine[16];
                size_t m = 0;
                for (size_t k = 0; k < n && m < 16; k++)
                        if (strcmp(doc_str(docs[k], "kind"), sections[s].kind) == 0 &&
                            strcmp(doc_str(docs[k], "state"), "done") == 0)
                                mine[m++] = docs[k];
                if (m == 0)
                        continue;
                fprintf(f, html ? "<h2 id=\"%s\">%s</h2>\n<pre>\n" : "\n## %s%s\n\n", html ? sections[s].kind : "", sections[s].title);
                /* Same tables as `virtlabctl results`; Markdown in both (HTML in <pre>). */
                output_bench_results(f, mine, m, OUTPUT_MD);
                if (html)
                        fputs("</pre>\n", f);
                json_t *cells = cells_of(mine[0], sections[s].headline);
                char svg[128];
                snprintf(svg, sizeof(svg), "%s-%s.svg", sections[s].kind, sections[s].headline);
                int r = plot(dir, svg, mine, m, cells, sections[s].headline, sections[s].unit);
                json_decref(cells);
                if (r == 0)
                        fprintf(f, html ? "<p><img src=\"%s\" alt=\"%s\"/></p>\n" : "\n![%s per cell](%s)\n",
                                html ? svg : sections[s].unit, html ? sections[s].unit : svg);
                else
                        fprintf(f, html ? "<p>(no plot: gnuplot %s)</p>\n" : "\n(no plot: gnuplot %s)\n",
                                r == -ENOENT ? "is not installed" : "failed");
        }
        return 0;
}
