/* report-plot.c — the report's gnuplot figures (see report-plot.h).
 * Divisions: scratch files and the gnuplot run; the boot-phase bars; the
 * footprint bars; the small-multiple box plots.
 * Every range is set from the data (padded when all values are equal), so
 * gnuplot never has to guess one and never warns about an empty range. */
#include "report-plot.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "human.h"
#include "report.h"
#include "util.h"

/* One colour per VMM column, the same in every figure (ColorBrewer Dark2). */
static const char *const vmm_colour[] = { "#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                          "#66a61e", "#e6ab02", "#a6761d", "#666666" };

/* The scratch files of one figure, next to its SVG. */
typedef struct Figure {
        char dat[4096]; /* data file */
        char gp[4096];  /* gnuplot script */
        char svg[4096]; /* output */
        FILE *d;        /* data, open */
        FILE *g;        /* script, open */
} Figure;

static int figure_open(Figure *fig, const char *dir, const char *svg_name) {
        snprintf(fig->dat, sizeof(fig->dat), "%s/.%s.dat", dir, svg_name);
        snprintf(fig->gp, sizeof(fig->gp), "%s/.%s.gp", dir, svg_name);
        snprintf(fig->svg, sizeof(fig->svg), "%s/%s", dir, svg_name);
        fig->d = fopen(fig->dat, "we");
        fig->g = fig->d ? fopen(fig->gp, "we") : NULL;
        if (!fig->g) {
                int r = -errno;
                if (fig->d)
                        fclose(fig->d);
                (void) unlink(fig->dat);
                return r;
        }
        fputs("set encoding utf8\n", fig->g);
        return 0;
}

/* Closes both files, runs gnuplot, removes the scratch files (kept with
 * $VIRTLAB_REPORT_KEEP set, to debug a figure). */
static int figure_draw(Figure *fig, const char *dir) {
        fclose(fig->d);
        fclose(fig->g);
        int r = report_run_gnuplot(dir, fig->gp);
        if (getenv("VIRTLAB_REPORT_KEEP"))
                return r;
        (void) unlink(fig->dat);
        (void) unlink(fig->gp);
        return r;
}

/* Closes and removes both files without drawing; returns r. */
static int figure_abandon(Figure *fig, int r) {
        fclose(fig->d);
        fclose(fig->g);
        (void) unlink(fig->dat);
        (void) unlink(fig->gp);
        return r;
}

/* ---- boot phases -------------------------------------------------------- */

/* The milestones a boot is cut at, in boot order; the image's phases decide
 * which exist (no kernel for the noop guest, guest entry only under KVM). */
static const struct {
        const char *metric; /* run field, ms from spawn */
        const char *title;  /* the segment that ends there */
        const char *colour; /* its colour in every panel */
} milestones[] = {
        { "t_exec_ms", "spawn → exec", "#6a3d9a" },
        { "t_qmp_ms", "→ QMP ready", "#1b9e77" },
        { "t_guest_entry_ms", "→ guest entry", "#80b1d3" },
        { "t_console_ms", "→ first console byte", "#e6ab02" },
        { "t_kernel_ms", "→ kernel", "#d95f02" },
        { "boot_ms", "→ init marker", "#386cb0" },
};
#define MILESTONES_MAX (sizeof(milestones) / sizeof(milestones[0]))

typedef struct Milestone {
        size_t which; /* index into milestones[] */
        double mean;  /* ms from spawn */
        double lo;    /* CI95, or the mean when n < 2 */
        double hi;
} Milestone;

static int by_mean(const void *a, const void *b) {
        const Milestone *x = a, *y = b;
        return x->mean < y->mean ? -1 : x->mean > y->mean ? 1 : (x->which > y->which) - (x->which < y->which);
}

/* The milestones vmm's boot runs have, sorted by mean; how many. */
static size_t vmm_milestones(const ReportSet *s, const char *vmm, Milestone *out) {
        size_t k = 0;
        for (size_t m = 0; m < MILESTONES_MAX; m++) {
                StatsSummary st;
                if (report_set_stats(s, "boot", vmm, milestones[m].metric, &st) < 0)
                        continue;
                out[k++] = (Milestone) { m, st.mean, isnan(st.ci95_low) ? st.mean : st.ci95_low,
                                         isnan(st.ci95_high) ? st.mean : st.ci95_high };
        }
        qsort(out, k, sizeof(Milestone), by_mean);
        return k;
}

int report_plot_phases(const char *dir, const ReportSet *s, const char *svg_name) {
        Milestone ms[REPORT_VMMS_MAX][MILESTONES_MAX];
        size_t nms[REPORT_VMMS_MAX], panels = 0;
        bool present[MILESTONES_MAX] = {};
        for (size_t v = 0; v < s->n_vmms; v++) {
                nms[v] = vmm_milestones(s, s->vmms[v].name, ms[v]);
                panels += nms[v] > 0;
                for (size_t k = 0; k < nms[v]; k++)
                        present[ms[v][k].which] = true;
        }
        if (panels == 0)
                return -ENODATA;
        Figure fig;
        int r = figure_open(&fig, dir, svg_name);
        if (r < 0)
                return r;
        /* Pixel layout: title and key, then one 40 px bar per VMM 75 px apart. */
        const double head = 78, step = 75, foot = 42, height = head + step * (double) panels + foot;
        fprintf(fig.g, "set terminal svg size 760,%.0f dynamic font 'sans,11' background rgb 'white'\nset output '%s'\n",
                height, fig.svg);
        fprintf(fig.g, "set multiplot title 'Boot: where the time goes (milestone means, CI95 whiskers)' font 'sans,12'\n"
                       "set style fill solid 0.9 noborder\nset yrange [0.4:1.6]\nunset ytics\nset border 1\n"
                       "set xtics nomirror out scale 0.5 font 'sans,9'\nset grid xtics lc rgb '#dddddd'\n"
                       "set lmargin at screen 0.21\nset rmargin at screen 0.86\n"
                       "set key at screen 0.535, screen %.4f center center horizontal maxcols 3 samplen 1.2 font 'sans,10' noenhanced\n",
                1 - 46 / height);
        size_t panel = 0;
        for (size_t v = 0; v < s->n_vmms; v++) {
                if (nms[v] == 0)
                        continue;
                /* One data block per panel: x_lo x_hi ci_lo ci_hi, in time order. */
                double prev = 0, end = 0;
                for (size_t k = 0; k < nms[v]; k++) {
                        const Milestone *m = &ms[v][k];
                        double hi = m->mean > prev ? m->mean : prev;
                        fprintf(fig.d, "%.6f %.6f %.6f %.6f\n", prev, hi, m->lo, m->hi);
                        prev = hi;
                        end = fmax(end, m->hi);
                }
                fputs("\n\n", fig.d);
                double top = head + step * (double) panel;
                char total[64] = "";
                StatsSummary st;
                HumanMetric hm = human_metric("boot_ms");
                if (report_set_stats(s, "boot", s->vmms[v].name, "boot_ms", &st) == 0)
                        human_value(&hm, st.mean, total, sizeof(total));
                fprintf(fig.g, "set tmargin at screen %.4f\nset bmargin at screen %.4f\n", 1 - top / height,
                        1 - (top + 40) / height);
                fprintf(fig.g, "set label 1 '%s (%s)' at graph 0, graph 0.5 right offset -1,0 noenhanced\n", s->vmms[v].name,
                        s->vmms[v].accel);
                fprintf(fig.g, "set label 2 '%s%s' at graph 1, graph 0.5 left offset 1,0\n", total, *total ? " ms" : "");
                fprintf(fig.g, "set xrange [0:%.6f]\n", end > 0 ? end * 1.04 : 1);
                if (panel + 1 == panels)
                        fputs("set xlabel 'ms from VMM spawn (each VMM on its own scale)' font 'sans,10' offset 0,0.6\n", fig.g);
                fputs("plot ", fig.g);
                if (panel == 0)
                        for (size_t m = 0; m < MILESTONES_MAX; m++)
                                if (present[m])
                                        fprintf(fig.g, "keyentry with boxes fc rgb '%s' title '%s', ", milestones[m].colour,
                                                milestones[m].title);
                for (size_t k = 0; k < nms[v]; k++)
                        fprintf(fig.g, "'%s' index %zu every ::%zu::%zu using (($1+$2)/2):(1):1:2:(0.68):(1.32) "
                                       "with boxxyerror fc rgb '%s' notitle, ",
                                fig.dat, panel, k, k, milestones[ms[v][k].which].colour);
                fprintf(fig.g, "'%s' index %zu using 2:(1):3:4 with xerrorbars pt 0 lc rgb '#333333' lw 0.8 notitle\n",
                        fig.dat, panel);
                fputs("unset label 1\nunset label 2\n", fig.g);
                panel++;
        }
        fputs("unset multiplot\n", fig.g);
        return figure_draw(&fig, dir);
}

/* ---- footprint ---------------------------------------------------------- */

int report_plot_footprint(const char *dir, const ReportSet *s, const char *svg_name) {
        size_t rows = 0;
        double xmax = 0;
        Figure fig;
        int r = figure_open(&fig, dir, svg_name);
        if (r < 0)
                return r;
        fprintf(fig.g, "set terminal svg size 760,%zu dynamic font 'sans,11' background rgb 'white'\nset output '%s'\n",
                140 + 48 * s->n_vmms, fig.svg);
        /* One line per VMM, the first on top: y guest_mib overhead_mib rss_lo rss_hi "label". */
        for (size_t v = 0; v < s->n_vmms; v++) {
                StatsSummary g, o, rss;
                const char *vmm = s->vmms[v].name;
                if (report_set_stats(s, "memory", vmm, "guest_ram_rss_kib", &g) < 0 ||
                    report_set_stats(s, "memory", vmm, "vmm_overhead_kib", &o) < 0 ||
                    report_set_stats(s, "memory", vmm, "rss_kib", &rss) < 0)
                        continue;
                double k = 1.0 / 1024, y = (double) (s->n_vmms - v);
                char total[32];
                HumanMetric hm = human_metric("rss_kib");
                fprintf(fig.d, "%g %.6f %.6f %.6f %.6f \"RSS %s MiB\"\n", y, g.mean * k, o.mean * k,
                        (isnan(rss.ci95_low) ? rss.mean : rss.ci95_low) * k,
                        (isnan(rss.ci95_high) ? rss.mean : rss.ci95_high) * k, human_value(&hm, rss.mean, total, sizeof(total)));
                xmax = fmax(xmax, fmax(g.mean + o.mean, isnan(rss.ci95_high) ? rss.mean : rss.ci95_high) * k);
                rows++;
        }
        if (rows == 0)
                return figure_abandon(&fig, -ENODATA);
        fprintf(fig.g, "set title 'Memory footprint per VMM: guest RAM the VMM holds + the VMM itself (= RSS)' font 'sans,12'\n"
                       "set style fill solid 0.85 noborder\nset xlabel 'MiB (mean of the measured runs; whisker: RSS CI95)'\n"
                       "set xrange [0:%.6f]\nset yrange [0.4:%zu.6]\nset grid xtics lc rgb '#dddddd'\nset border 3\n"
                       "set xtics nomirror out\nset key bmargin center horizontal samplen 1.2 font 'sans,10'\nset ytics nomirror (",
                xmax > 0 ? xmax * 1.3 : 1, s->n_vmms);
        for (size_t v = 0; v < s->n_vmms; v++)
                fprintf(fig.g, "%s'%s (%s)' %zu", v ? ", " : "", s->vmms[v].name, s->vmms[v].accel, s->n_vmms - v);
        fprintf(fig.g, ") noenhanced\nset lmargin 20\n");
        fprintf(fig.g, "plot '%s' using ($2/2):1:(0):2:($1-0.3):($1+0.3) with boxxyerror fc rgb '#9ecae1' title 'guest RAM resident', "
                       "'' using ($2+$3/2):1:2:($2+$3):($1-0.3):($1+0.3) with boxxyerror fc rgb '#fd8d3c' title 'VMM overhead (RSS − guest RAM)', "
                       "'' using ($2+$3):1:4:5 with xerrorbars pt 0 lc rgb '#333333' notitle, "
                       "'' using (($2+$3) > $5 ? $2+$3 : $5):1:6 with labels left offset 1,0 font 'sans,10' notitle\n",
                fig.dat);
        return figure_draw(&fig, dir);
}

/* ---- small multiples ---------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

/* The q-quantile of sorted v[0..n) (linear between order statistics, as
 * R type 7 and numpy's default). */
static double quantile(const double *v, size_t n, double q) {
        double h = (double) (n - 1) * q;
        size_t lo = (size_t) floor(h);
        return lo + 1 < n ? v[lo] + (h - (double) lo) * (v[lo + 1] - v[lo]) : v[n - 1];
}

/* An "#rrggbb" colour as the integer gnuplot's "rgb variable" takes. */
static long rgb_of(const char *hex) {
        return strtol(hex + 1, NULL, 16);
}

/* Box statistics drawn here, not by gnuplot's boxplot: that draws no box at
 * all below 4 points, and the lab's default is 3 runs. */
typedef struct Box {
        double q1, median, q3; /* quartiles */
        double lo, hi;         /* whisker ends: the most extreme runs within 1.5 IQR of the box */
} Box;

static Box box_of(double *v, size_t n) {
        qsort(v, n, sizeof(double), cmp_double);
        Box b = { quantile(v, n, 0.25), quantile(v, n, 0.5), quantile(v, n, 0.75), v[0], v[n - 1] };
        double iqr = b.q3 - b.q1;
        for (size_t k = 0; k < n; k++)
                if (v[k] >= b.q1 - 1.5 * iqr) {
                        b.lo = v[k];
                        break;
                }
        for (size_t k = n; k-- > 0;)
                if (v[k] <= b.q3 + 1.5 * iqr) {
                        b.hi = v[k];
                        break;
                }
        return b;
}

int report_plot_runs(const char *dir, const ReportSet *s, const char *kind, json_t *metrics, const char *svg_name) {
        size_t i;
        json_t *m;
        /* Only metrics with runs get a panel. */
        json_auto_t *have = json_array();
        json_array_foreach(metrics, i, m) {
                for (size_t v = 0; v < s->n_vmms; v++) {
                        size_t n = 0;
                        _cleanup_free_ double *x = report_set_samples(s, kind, s->vmms[v].name, json_string_value(m), &n);
                        if (n > 0) {
                                json_array_append(have, m);
                                break;
                        }
                }
        }
        size_t n_metrics = json_array_size(have);
        if (n_metrics == 0)
                return -ENODATA;
        size_t cols = n_metrics < 3 ? n_metrics : 3, rows = (n_metrics + cols - 1) / cols;
        Figure fig;
        int r = figure_open(&fig, dir, svg_name);
        if (r < 0)
                return r;
        fprintf(fig.g, "set terminal svg size 760,%zu dynamic font 'sans,10' background rgb 'white'\nset output '%s'\n",
                34 + 200 * rows, fig.svg);
        fprintf(fig.g, "set multiplot layout %zu,%zu title '%s: every measured run per VMM (box = quartiles, "
                       "whiskers: runs within 1.5 IQR)' font 'sans,11' noenhanced\n",
                rows, cols, kind);
        fprintf(fig.g, "set style fill transparent solid 0.3 border lc rgb '#444444'\nset key off\n"
                       "set grid ytics lc rgb '#dddddd'\nset ytics font 'sans,8'\nset xrange [0.4:%zu.6]\n"
                       "set xtics nomirror font 'sans,8' %s(",
                s->n_vmms, s->n_vmms > 2 ? "rotate by -20 " : "");
        for (size_t v = 0; v < s->n_vmms; v++)
                fprintf(fig.g, "%s'%s' %zu", v ? ", " : "", s->vmms[v].name, v + 1);
        fputs(") noenhanced\n", fig.g);
        size_t block = 0;
        json_array_foreach(have, i, m) {
                const char *metric = json_string_value(m);
                HumanMetric hm = human_metric(metric);
                double lo = INFINITY, hi = -INFINITY;
                /* Two blocks per panel: boxes (x q1 q3 median lo hi rgb), then runs (x y rgb). */
                size_t boxes = block++, runs = block++;
                for (size_t v = 0; v < s->n_vmms; v++) {
                        size_t n = 0;
                        _cleanup_free_ double *x = report_set_samples(s, kind, s->vmms[v].name, metric, &n);
                        for (size_t k = 0; k < n; k++)
                                x[k] *= hm.scale;
                        if (n == 0)
                                continue;
                        Box b = box_of(x, n);
                        fprintf(fig.d, "%zu %.6g %.6g %.6g %.6g %.6g %ld\n", v + 1, b.q1, b.q3, b.median, b.lo, b.hi,
                                rgb_of(vmm_colour[v % 8]));
                        lo = fmin(lo, x[0]);
                        hi = fmax(hi, x[n - 1]);
                }
                fputs("\n\n", fig.d);
                for (size_t v = 0; v < s->n_vmms; v++) {
                        size_t n = 0;
                        _cleanup_free_ double *x = report_set_samples(s, kind, s->vmms[v].name, metric, &n);
                        for (size_t k = 0; k < n; k++) {
                                /* Golden-ratio jitter: spread, reproducible, no RNG. */
                                double jitter = (fmod((double) k * 0.6180339887, 1.0) - 0.5) * 0.3;
                                fprintf(fig.d, "%.4f %.6g %ld\n", (double) (v + 1) + jitter, x[k] * hm.scale,
                                        rgb_of(vmm_colour[v % 8]));
                        }
                }
                fputs("\n\n", fig.d);
                /* VMMs 30× apart (StratoVirt vs q35 on kvm_pvm) get a log axis, or
                 * the fast ones sit flat on the floor.  Pad the range; equal values
                 * get a band around them. */
                bool logy = lo > 0 && hi / lo > 30;
                double pad = hi > lo ? (hi - lo) * 0.12 : fmax(fabs(hi) * 0.05, 0.5);
                if (logy)
                        fprintf(fig.g, "set logscale y\nset yrange [%.6g:%.6g]\n", lo / 1.5, hi * 1.5);
                else
                        fprintf(fig.g, "unset logscale y\nset yrange [%.6g:%.6g]\n", lo - pad, hi + pad);
                fprintf(fig.g, "set title '%s%s%s%s%s' font 'sans,9' noenhanced\n", hm.label, *hm.unit ? " (" : "", hm.unit,
                        *hm.unit ? ")" : "", logy ? ", log scale" : "");
                fprintf(fig.g,
                        "plot '%1$s' index %2$zu using 1:(($2+$3)/2):($1-0.25):($1+0.25):2:3:7 with boxxyerror fc rgb variable, "
                        "'' index %2$zu using ($1-0.25):4:(0.5):(0) with vectors nohead lw 2 lc rgb '#333333', "
                        "'' index %2$zu using 1:5:(0):($2-$5) with vectors nohead lc rgb '#444444', "
                        "'' index %2$zu using 1:3:(0):($6-$3) with vectors nohead lc rgb '#444444', "
                        "'' index %3$zu using 1:2:3 with points pt 7 ps 0.45 lc rgb variable\n",
                        fig.dat, boxes, runs);
        }
        fputs("unset multiplot\n", fig.g);
        return figure_draw(&fig, dir);
}
