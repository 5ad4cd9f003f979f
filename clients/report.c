/* report.c — writes the report directory (see report.h).  Layout:
 *   title and what the report covers → the lab's summary table →
 *   environment (how each kind was measured: interleaved or separate jobs)
 *   → one section per experiment (boot, memory, other kinds: figures and a
 *   detailed table) → [benchmarks, HOOK(report-bench)] → memory lab (mtree
 *   SVG, translate walk) → how to read it.
 * Divisions: running tools; Markdown/HTML output helpers; the summary; the
 * environment; the sections; report_write(). */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gate.h"
#include "human.h"
#include "output.h"
#include "report-plot.h"
#include "report-set.h"
#include "util.h"

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

/* ---- running tools ------------------------------------------------------ */

int report_run_tool(const char *dir, char *const argv[]) {
        char log[4096];
        snprintf(log, sizeof(log), "%s/report.log", dir);
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* Tool chatter is for the log, not the user's terminal. */
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd >= 0) {
                        (void) dup2(fd, STDOUT_FILENO);
                        (void) dup2(fd, STDERR_FILENO);
                }
                execvp(argv[0], argv);
                _exit(127);
        }
        int st = 0;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : WIFEXITED(st) && WEXITSTATUS(st) == 127 ? -ENOENT : -EIO;
}

int report_run_gnuplot(const char *dir, const char *script) {
        char *argv[] = { (char *) "gnuplot", (char *) script, NULL };
        return report_run_tool(dir, argv);
}

/* ---- output helpers: one call site for both formats --------------------- */

typedef struct Out {
        FILE *f;           /* the report file */
        bool html;         /* HTML, else Markdown */
        const char *dir;   /* the report directory */
        double alpha;      /* significance of the verdicts */
        bool plots_failed; /* a figure could not be drawn */
        bool no_gnuplot;   /* ... because gnuplot is not installed */
} Out;

static const char *str(json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "";
}

/* Text: escaped in HTML, as is in Markdown. */
static void out_text(Out *o, const char *s) {
        if (o->html)
                gate_xml_escape(o->f, s);
        else
                fputs(s, o->f);
}

static void out_heading(Out *o, int level, const char *id, const char *title) {
        if (o->html) {
                fprintf(o->f, "<h%d id=\"%s\">", level, id);
                out_text(o, title);
                fprintf(o->f, "</h%d>\n", level);
        } else
                fprintf(o->f, "\n%.*s %s\n\n", level, "######", title);
}

static void _printf_(2, 3) out_para(Out *o, const char *fmt, ...) {
        char buf[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        fputs(o->html ? "<p>" : "", o->f);
        out_text(o, buf);
        fputs(o->html ? "</p>\n" : "\n\n", o->f);
}

static void out_list_begin(Out *o) {
        fputs(o->html ? "<ul>\n" : "", o->f);
}

static void out_list_end(Out *o) {
        fputs(o->html ? "</ul>\n" : "\n", o->f);
}

static void _printf_(2, 3) out_item(Out *o, const char *fmt, ...) {
        char buf[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        fputs(o->html ? "<li>" : "- ", o->f);
        out_text(o, buf);
        fputs(o->html ? "</li>\n" : "\n", o->f);
}

/* A table row; a cell's "\n" is a line break (HTML) or "; " (Markdown). */
static void out_row(Out *o, bool header, const char *const *cells, size_t n) {
        const char *td = header ? "th" : "td";
        fputs(o->html ? "<tr>" : "|", o->f);
        for (size_t i = 0; i < n; i++) {
                if (o->html)
                        fprintf(o->f, "<%s>", td);
                else
                        fputc(' ', o->f);
                for (const char *p = cells[i]; *p;) {
                        size_t k = strcspn(p, "\n");
                        char part[1024];
                        snprintf(part, sizeof(part), "%.*s", (int) (k < sizeof(part) ? k : sizeof(part) - 1), p);
                        if (o->html)
                                gate_xml_escape(o->f, part);
                        else
                                for (const char *c = part; *c; c++)
                                        fputs(*c == '|' ? "\\|" : (char[]) { *c, 0 }, o->f);
                        p += k;
                        if (*p) {
                                p++;
                                fputs(o->html ? "<br/>" : "; ", o->f);
                        }
                }
                fprintf(o->f, o->html ? "</%s>" : " |", td);
        }
        fputs(o->html ? "</tr>\n" : "\n", o->f);
        if (header && !o->html) {
                fputc('|', o->f);
                for (size_t i = 0; i < n; i++)
                        fputs(i == 0 ? "---|" : "---:|", o->f);
                fputc('\n', o->f);
        }
}

/* A table; id names the summary, the others are detail tables. */
static void out_table_begin(Out *o, const char *id) {
        if (o->html)
                fprintf(o->f, "<table%s%s%s>\n", id ? " id=\"" : " class=\"detail", id ? id : "", "\"");
}

static void out_table_end(Out *o) {
        fputs(o->html ? "</table>\n" : "\n", o->f);
}

/* A figure: draws it with plot's result r, or says why there is none. */
static void out_figure(Out *o, int r, const char *svg, const char *alt, const char *caption) {
        if (r == -ENODATA)
                return;
        if (r < 0) {
                o->plots_failed = true;
                o->no_gnuplot = o->no_gnuplot || r == -ENOENT;
                out_para(o, "(Figure \"%s\" is missing: %s.)", alt,
                         r == -ENOENT ? "gnuplot is not installed (apt-get install gnuplot-nox)" : "gnuplot failed, see report.log");
                return;
        }
        if (o->html) {
                fprintf(o->f, "<figure><img src=\"%s\" alt=\"", svg);
                out_text(o, alt);
                fputs("\"/><figcaption>", o->f);
                out_text(o, caption);
                fputs("</figcaption></figure>\n", o->f);
        } else
                fprintf(o->f, "![%s](%s)\n\n*%s*\n\n", alt, svg, caption);
}

/* ---- the summary table -------------------------------------------------- */

#define SUMMARY_CELLS_MAX 3

/* The rows of the lab's summary, in the lab's order. */
static const struct SummaryRow {
        const char *title;                    /* row heading */
        const char *kind;                     /* experiment it comes from */
        const char *figure;                   /* metric (bench: the figure of a cell) */
        const char *cells[SUMMARY_CELLS_MAX]; /* bench: preferred cells, else the first that has it */
} summary_rows[] = {
        { "Boot time (spawn → init marker)", "boot", "boot_ms", {} },
        { "VMM memory (RSS − guest RAM)", "memory", "vmm_overhead_kib", {} },
        { "VMM memory: Pss_Anon", "memory", "pss_anon_kib", {} },
        { "CPU events/s", "bench-cpu", "events_per_s", { "t1" } },
        { "Memory MiB/s", "bench-memory", "mib_per_s", { "t4.8K.seq", "t4.1K.seq" } },
        { "fileio IOPS", "bench-fileio", "iops", { "t32.4K.rndrd", "t32.4K.rndwr" } },
        { "fileio MiB/s", "bench-fileio", "mib_per_s", { "t32.128K.seqrd", "t32.128K.seqwr" } },
        { "fileio latency", "bench-fileio", "lat_avg_ms", { "t1.4K.rndrd", "t1.4K.rndwr" } },
};

static bool doc_has_metric(json_t *doc, const char *metric) {
        json_t *m;
        size_t i;
        json_array_foreach(json_object_get(doc, "metrics"), i, m) if (streq_ptr(json_string_value(m), metric)) return true;
        return false;
}

/* The metric a summary row reads: its figure, or for a bench kind
 * "CELL.FIGURE" of the first preferred cell the jobs have (else their
 * first cell with that figure).  false when no job of the kind has it. */
static bool summary_metric(const ReportSet *s, const struct SummaryRow *row, char *buf, size_t size) {
        json_t *doc = NULL;
        for (size_t v = 0; v < s->n_vmms && !doc; v++)
                doc = report_set_doc(s, row->kind, s->vmms[v].name);
        if (!doc)
                return false;
        if (strncmp(row->kind, "bench-", 6) != 0) {
                snprintf(buf, size, "%s", row->figure);
                return doc_has_metric(doc, row->figure);
        }
        for (size_t c = 0; c < SUMMARY_CELLS_MAX && row->cells[c]; c++) {
                snprintf(buf, size, "%s.%s", row->cells[c], row->figure);
                if (doc_has_metric(doc, buf))
                        return true;
        }
        json_t *m;
        size_t i, k = strlen(row->figure);
        json_array_foreach(json_object_get(doc, "metrics"), i, m) {
                const char *name = json_string_value(m);
                size_t len = strlen(name);
                if (len > k + 1 && name[len - k - 1] == '.' && streq(name + len - k, row->figure)) {
                        snprintf(buf, size, "%s", name);
                        return true;
                }
        }
        return false;
}

/* "×5.78, worse (p = 0.0011)" / "×1.02, n.s. (p = 0.41)" into buf. */
static void verdict_text(const HumanMetric *hm, double ratio, double p, double alpha, char *buf, size_t size) {
        char r[32];
        human_sig(ratio, 3, r, sizeof(r));
        if (isnan(p))
                snprintf(buf, size, "×%s (not tested: < 2 runs)", r);
        else if (p < alpha)
                snprintf(buf, size, "×%s, %s (p = %.2g)", r, (ratio < 1) != hm->higher_is_better ? "better" : "worse", p);
        else
                snprintf(buf, size, "×%s, n.s. (p = %.2g)", r, p);
}

/* The smallest two-sided p a permutation test can give with na and nb runs:
 * the two most extreme of C(na + nb, na) splits. */
static double min_p(size_t na, size_t nb) {
        double splits = exp(lgamma((double) (na + nb + 1)) - lgamma((double) (na + 1)) - lgamma((double) (nb + 1)));
        return fmin(1, 2 / splits);
}

/* The column heading of a VMM: its name, accelerator and caveat mark. */
static void vmm_heading(const ReportVmm *v, char *buf, size_t size) {
        snprintf(buf, size, "%s (%s)%s", v->name, v->accel, v->caveat ? " †" : "");
}

static void summary(Out *o, const ReportSet *s) {
        const char *cells[REPORT_VMMS_MAX + 1];
        char heads[REPORT_VMMS_MAX][128], body[REPORT_VMMS_MAX][256], title[192];
        bool any_row = false, any_separate = false, any_joint = false;
        long n_seen = -1;
        bool n_uniform = true;
        double floor_p = 0; /* the largest smallest-possible p over the cells, and its run counts */
        size_t floor_na = 0, floor_nb = 0;
        const char *missing[8];
        size_t n_missing = 0;
        out_heading(o, 2, "lab-summary", "Summary");
        if (s->n_vmms == 0) {
                out_para(o, "No VMM measurements in this report.");
                return;
        }
        for (size_t r = 0; r < sizeof(summary_rows) / sizeof(summary_rows[0]); r++) {
                const struct SummaryRow *row = &summary_rows[r];
                char metric[160];
                if (!summary_metric(s, row, metric, sizeof(metric))) {
                        if (n_missing < 8 && (n_missing == 0 || !streq(missing[n_missing - 1], row->kind)))
                                missing[n_missing++] = row->kind;
                        continue;
                }
                HumanMetric hm = human_metric(metric);
                StatsSummary ref;
                bool have_ref = report_set_stats(s, row->kind, s->vmms[0].name, metric, &ref) == 0;
                if (!any_row) {
                        out_table_begin(o, "summary");
                        cells[0] = "";
                        for (size_t v = 0; v < s->n_vmms; v++) {
                                vmm_heading(&s->vmms[v], heads[v], sizeof(heads[v]));
                                cells[v + 1] = heads[v];
                        }
                        out_row(o, true, cells, s->n_vmms + 1);
                        any_row = true;
                }
                if (strchr(metric, '.')) {
                        char cell[64], id[64];
                        snprintf(id, sizeof(id), "%.*s", (int) (strrchr(metric, '.') - metric), metric);
                        snprintf(title, sizeof(title), "%s\n%s", row->title, human_cell(id, cell, sizeof(cell)));
                } else
                        snprintf(title, sizeof(title), "%s", row->title);
                cells[0] = title;
                for (size_t v = 0; v < s->n_vmms; v++) {
                        StatsSummary st;
                        char mean[64], verdict[128];
                        cells[v + 1] = body[v];
                        if (report_set_stats(s, row->kind, s->vmms[v].name, metric, &st) < 0) {
                                snprintf(body[v], sizeof(body[v]), "–");
                                continue;
                        }
                        if (n_seen >= 0 && (long) st.n != n_seen)
                                n_uniform = false;
                        n_seen = (long) st.n;
                        human_mean_ci(&hm, st.mean, (st.ci95_high - st.ci95_low) / 2, mean, sizeof(mean));
                        if (v == 0 || !have_ref) {
                                snprintf(body[v], sizeof(body[v]), "%s %s%s", mean, hm.unit, v == 0 ? "\nreference" : "");
                                continue;
                        }
                        bool same = false;
                        double p = report_set_p(s, row->kind, s->vmms[v].name, metric, &same);
                        any_separate = any_separate || !same;
                        any_joint = any_joint || same;
                        verdict_text(&hm, ref.mean != 0 ? st.mean / ref.mean : NAN, p, o->alpha, verdict, sizeof(verdict));
                        snprintf(body[v], sizeof(body[v]), "%s %s\n%s", mean, hm.unit, verdict);
                        if (min_p(ref.n, st.n) > floor_p) {
                                floor_p = min_p(ref.n, st.n);
                                floor_na = ref.n;
                                floor_nb = st.n;
                        }
                }
                out_row(o, false, cells, s->n_vmms + 1);
        }
        if (!any_row) {
                out_para(o, "None of the summary's figures (boot time, VMM memory, guest benchmarks) are in this report.");
                return;
        }
        out_table_end(o);
        char runs[64] = "";
        if (n_uniform && n_seen > 0)
                snprintf(runs, sizeof(runs), " over %ld measured runs per VMM", n_seen);
        const char *how = any_joint && any_separate
                                  ? "from the compare job's interleaved runs where one job held both VMMs, else over the runs "
                                    "of separate jobs run one after another (their drift is not controlled)"
                          : any_joint ? "computed by the daemon over the interleaved runs of one compare job"
                                      : "over the runs of separate jobs, run one after another (drift between jobs is not "
                                        "controlled)";
        if (s->n_vmms == 1)
                out_para(o, "Each cell: mean ± half-width of the 95 %% confidence interval%s.", runs);
        else
                out_para(o, "Each cell: mean ± half-width of the 95 %% confidence interval%s. × = mean ÷ mean of %s (the "
                            "reference); p = two-sided permutation test on the means, %s; better/worse when p < %.2g, "
                            "n.s. = no significant difference.",
                         runs, s->vmms[0].name, how, o->alpha);
        if (floor_p >= o->alpha)
                out_para(o, "With %zu + %zu runs no difference can be significant at %.2g: the smallest p a permutation test "
                            "can give is %.2g. Measure more runs (--runs 10) for a verdict.",
                         floor_na, floor_nb, o->alpha, floor_p);
        for (size_t v = 0; v < s->n_vmms; v++)
                if (s->vmms[v].caveat)
                        out_para(o, "† %s (%s): %s.", s->vmms[v].name, s->vmms[v].accel, s->vmms[v].caveat);
        if (n_missing > 0) {
                char list[256] = "";
                for (size_t i = 0; i < n_missing; i++)
                        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", missing[i]);
                out_para(o, "Not measured in this report: %s (virtlabctl boot | memory | bench cpu|memory|fileio).", list);
        }
}

/* ---- environment -------------------------------------------------------- */

/* Kinds of the documents, in order of first appearance. */
static size_t doc_kinds(json_t *const *docs, size_t n, const char **kinds, size_t max) {
        size_t k = 0;
        for (size_t d = 0; d < n; d++) {
                const char *kind = str(docs[d], "kind");
                bool seen = false;
                for (size_t i = 0; i < k; i++)
                        seen = seen || streq(kinds[i], kind);
                if (!seen && k < max)
                        kinds[k++] = kind;
        }
        return k;
}

static bool kind_is_vm_measurement(const char *kind) {
        return !streq(kind, "mtree") && !streq(kind, "translate") && !streq(kind, "kvm-sample");
}

/* "jobs 3, 4" of kind into buf. */
static void kind_jobs(json_t *const *docs, size_t n, const char *kind, char *buf, size_t size) {
        size_t k = 0;
        buf[0] = 0;
        for (size_t d = 0; d < n; d++)
                if (streq(str(docs[d], "kind"), kind))
                        snprintf(buf + strlen(buf), size - strlen(buf), "%s%lld", k++ ? ", " : "",
                                 (long long) json_integer_value(json_object_get(docs[d], "job_id")));
}

/* "A B A B …" for k VMMs into buf. */
static void rotation(size_t k, char *buf, size_t size) {
        buf[0] = 0;
        for (size_t round = 0; round < 2; round++)
                for (size_t v = 0; v < k && v < 6; v++)
                        snprintf(buf + strlen(buf), size - strlen(buf), "%c ", (char) ('A' + v));
        snprintf(buf + strlen(buf), size - strlen(buf), "…");
}

/* How kind was measured, as a phrase after "measured" (never "interleaved"
 * unless it was). */
static void how_measured(const ReportSet *s, const char *kind, char *buf, size_t size) {
        json_t *doc = NULL;
        char jobs[256], rot[32];
        kind_jobs(s->docs, s->n, kind, jobs, sizeof(jobs));
        for (size_t d = 0; d < s->n && !doc; d++)
                if (streq(str(s->docs[d], "kind"), kind))
                        doc = s->docs[d];
        json_t *spec = json_object_get(doc, "spec");
        long long runs = json_integer_value(json_object_get(spec, "runs")),
                  warmup = json_integer_value(json_object_get(doc, "warmup"));
        if (report_set_interleaved(s, kind)) {
                rotation(json_array_size(json_object_get(doc, "vmms")), rot, sizeof(rot));
                snprintf(buf, size, "in one compare job (job %s): %lld measured runs per VMM after %lld warm-up each, the "
                                    "VMMs interleaved run by run (%s) so drift hits all alike",
                         jobs, runs, warmup, rot);
        } else if (strchr(jobs, ','))
                snprintf(buf, size, "in separate jobs, one per VMM (jobs %s), run one after another, so drift between "
                                    "them is not controlled: %lld measured runs each after %lld warm-up",
                         jobs, runs, warmup);
        else
                snprintf(buf, size, "in one job (job %s): %lld measured runs after %lld warm-up", jobs, runs, warmup);
}

static void environment(Out *o, const ReportSet *s) {
        json_t *env = json_object_get(s->docs[0], "environment"), *host = json_object_get(env, "host");
        const char *kinds[16];
        size_t nk = doc_kinds(s->docs, s->n, kinds, 16);
        out_heading(o, 2, "environment", "Environment");
        out_list_begin(o);
        out_item(o, "Host: %s, %lld cores, kernel %s, KVM %s", str(host, "cpu_model"),
                 (long long) json_integer_value(json_object_get(host, "cores")), str(host, "kernel"), str(host, "kvm_flavour"));
        for (size_t v = 0; v < s->n_vmms; v++) {
                const ReportVmm *m = &s->vmms[v];
                out_item(o, "VMM %s: %s (%s); accel %s: %s%s%s", m->name, m->version, m->path, m->accel, m->accel_reason,
                         m->caveat ? ". Caveat: " : "", m->caveat ? m->caveat : "");
        }
        /* Each image once. */
        for (size_t d = 0; d < s->n; d++) {
                json_t *img = json_object_get(json_object_get(s->docs[d], "environment"), "image");
                bool seen = !img;
                for (size_t e = 0; e < d && !seen; e++)
                        seen = json_equal(img, json_object_get(json_object_get(s->docs[e], "environment"), "image"));
                if (seen)
                        continue;
                out_item(o, "Guest image %s (%s guest, kernel %s): image %s; vmlinux %.16s…, initramfs %.16s…",
                         *str(img, "name") ? str(img, "name") : "?", *str(img, "guest") ? str(img, "guest") : "linux",
                         str(img, "kernel_release"), str(img, "image_hash"), str(img, "vmlinux_sha256"),
                         str(img, "initramfs_sha256"));
        }
        for (size_t k = 0; k < nk; k++) {
                char how[768];
                json_t *doc = NULL;
                for (size_t d = 0; d < s->n && !doc; d++)
                        if (streq(str(s->docs[d], "kind"), kinds[k]))
                                doc = s->docs[d];
                if (!kind_is_vm_measurement(kinds[k]))
                        continue;
                how_measured(s, kinds[k], how, sizeof(how));
                json_t *spec = json_object_get(doc, "spec");
                out_item(o, "%s: measured %s; guest %lld vCPU, %lld MiB", kinds[k], how, (long long) json_integer_value(json_object_get(spec, "vcpus")),
                         (long long) json_integer_value(json_object_get(spec, "memory_mib")));
        }
        for (size_t d = 0; d < s->n; d++)
                out_item(o, "Job %lld (%s): %s → %s, %s%s%s", (long long) json_integer_value(json_object_get(s->docs[d], "job_id")),
                         str(s->docs[d], "kind"), str(s->docs[d], "started_at"), str(s->docs[d], "finished_at"),
                         str(s->docs[d], "state"), json_is_string(json_object_get(s->docs[d], "error")) ? ": " : "",
                         str(s->docs[d], "error"));
        out_list_end(o);
}

/* ---- sections ----------------------------------------------------------- */

/* The metrics of kind over every document of it, in order. */
static json_t *kind_metrics(const ReportSet *s, const char *kind) {
        json_t *all = json_array(), *m;
        size_t i;
        for (size_t d = 0; d < s->n; d++) {
                if (!streq(str(s->docs[d], "kind"), kind))
                        continue;
                json_array_foreach(json_object_get(s->docs[d], "metrics"), i, m) {
                        bool seen = false;
                        json_t *x;
                        size_t k;
                        json_array_foreach(all, k, x) seen = seen || json_equal(x, m);
                        if (!seen)
                                json_array_append(all, m);
                }
        }
        return all;
}

/* One table for kind: a row per metric and VMM, in people's units. */
static void detail_table(Out *o, const ReportSet *s, const char *kind) {
        json_auto_t *metrics = kind_metrics(s, kind);
        json_t *m;
        size_t i;
        static const char *const head[] = { "metric", "VMM", "n", "mean ± CI95", "median", "CV", "min–max", "ratio", "verdict" };
        out_table_begin(o, NULL);
        out_row(o, true, head, 9);
        json_array_foreach(metrics, i, m) {
                const char *metric = json_string_value(m);
                HumanMetric hm = human_metric(metric);
                StatsSummary ref;
                bool have_ref = report_set_stats(s, kind, s->vmms[0].name, metric, &ref) == 0;
                bool first = true;
                for (size_t v = 0; v < s->n_vmms; v++) {
                        StatsSummary st;
                        if (report_set_stats(s, kind, s->vmms[v].name, metric, &st) < 0)
                                continue;
                        char name[160], n[16], mean[64], med[32], cv[32], lo[32], hi[32], range[80], ratio[32], verdict[128];
                        /* The label, its unit, and the field's name in the JSON. */
                        if (first)
                                snprintf(name, sizeof(name), "%s%s%s%s%s%s", hm.label, *hm.unit ? " (" : "", hm.unit,
                                         *hm.unit ? ")" : "", streq(hm.label, metric) ? "" : "\n", streq(hm.label, metric) ? "" : metric);
                        else
                                name[0] = 0;
                        snprintf(n, sizeof(n), "%zu", st.n);
                        human_mean_ci(&hm, st.mean, (st.ci95_high - st.ci95_low) / 2, mean, sizeof(mean));
                        human_value(&hm, st.median, med, sizeof(med));
                        snprintf(cv, sizeof(cv), "%.1f %%%s%s", 100 * st.cv, st.high_cv ? " high-CV" : "",
                                 st.bimodal ? " bimodal" : "");
                        snprintf(range, sizeof(range), "%s–%s", human_value(&hm, st.min, lo, sizeof(lo)),
                                 human_value(&hm, st.max, hi, sizeof(hi)));
                        if (v == 0 || !have_ref) {
                                snprintf(ratio, sizeof(ratio), "1");
                                snprintf(verdict, sizeof(verdict), v == 0 ? "(reference)" : "–");
                        } else {
                                double p = report_set_p(s, kind, s->vmms[v].name, metric, NULL);
                                human_sig(ref.mean != 0 ? st.mean / ref.mean : NAN, 3, ratio, sizeof(ratio));
                                verdict_text(&hm, ref.mean != 0 ? st.mean / ref.mean : NAN, p, o->alpha, verdict, sizeof(verdict));
                                /* The ratio has its own column. */
                                char *comma = strchr(verdict, ',');
                                if (comma)
                                        memmove(verdict, comma + 2, strlen(comma + 2) + 1);
                        }
                        const char *row[] = { name, s->vmms[v].name, n, mean, med, cv, range, ratio, verdict };
                        out_row(o, false, row, 9);
                        first = false;
                }
        }
        out_table_end(o);
}

/* Failed jobs of kind: their error, so a report never hides one. */
static void kind_errors(Out *o, const ReportSet *s, const char *kind) {
        for (size_t d = 0; d < s->n; d++)
                if (streq(str(s->docs[d], "kind"), kind) && json_is_string(json_object_get(s->docs[d], "error")))
                        out_para(o, "Job %lld %s: %s", (long long) json_integer_value(json_object_get(s->docs[d], "job_id")),
                                 str(s->docs[d], "state"), str(s->docs[d], "error"));
}

static bool set_has_kind(const ReportSet *s, const char *kind) {
        for (size_t d = 0; d < s->n; d++)
                if (streq(str(s->docs[d], "kind"), kind))
                        return true;
        return false;
}

static void section_boot(Out *o, const ReportSet *s) {
        char how[768], svg[64];
        out_heading(o, 2, "boot", "Boot time");
        how_measured(s, "boot", how, sizeof(how));
        out_para(o, "Measured %s. Each milestone is milliseconds from the VMM's spawn; boot = spawn → the guest's "
                    "init marker on the console.",
                 how);
        kind_errors(o, s, "boot");
        snprintf(svg, sizeof(svg), "boot-phases.svg");
        out_figure(o, report_plot_phases(o->dir, s, svg), svg, "boot phases per VMM",
                   "Where the time goes: each bar is one VMM's boot, cut at its milestones (means; whiskers: CI95 of "
                   "each milestone). Each VMM has its own time scale.");
        snprintf(svg, sizeof(svg), "boot-runs.svg");
        json_auto_t *metrics = kind_metrics(s, "boot");
        out_figure(o, report_plot_runs(o->dir, s, "boot", metrics, svg), svg, "boot: every run per metric",
                   "Every measured run of every boot metric, per VMM.");
        detail_table(o, s, "boot");
}

static void section_memory(Out *o, const ReportSet *s) {
        char how[768];
        out_heading(o, 2, "memory", "VMM memory footprint");
        how_measured(s, "memory", how, sizeof(how));
        out_para(o, "Measured %s. Read from the VMM's /proc/PID/smaps while the guest holds still; the VMM's overhead "
                    "is its RSS less the guest RAM it holds (docs/measurements.md).",
                 how);
        kind_errors(o, s, "memory");
        out_figure(o, report_plot_footprint(o->dir, s, "memory-footprint.svg"), "memory-footprint.svg",
                   "memory footprint per VMM",
                   "Guest RAM the VMM has resident, and the VMM's own memory on top of it; together its RSS (MiB).");
        json_auto_t *metrics = kind_metrics(s, "memory");
        out_figure(o, report_plot_runs(o->dir, s, "memory", metrics, "memory-runs.svg"), "memory-runs.svg",
                   "memory: every run per metric", "Every measured run of every memory metric, per VMM (MiB).");
        detail_table(o, s, "memory");
        if (set_has_kind(s, "mtree"))
                out_para(o, "The guest-physical memory map of the VMM (QEMU's info mtree) is drawn in the memory-lab "
                            "section below.");
}

static void section_other(Out *o, const ReportSet *s, const char *kind) {
        char how[768], svg[96], title[96];
        snprintf(title, sizeof(title), "Experiment %s", kind);
        out_heading(o, 2, kind, title);
        how_measured(s, kind, how, sizeof(how));
        out_para(o, "Measured %s.", how);
        kind_errors(o, s, kind);
        snprintf(svg, sizeof(svg), "%s-runs.svg", kind);
        json_auto_t *metrics = kind_metrics(s, kind);
        out_figure(o, report_plot_runs(o->dir, s, kind, metrics, svg), svg, title, "Every measured run, per VMM.");
        if (json_array_size(metrics) > 0)
                detail_table(o, s, kind);
}

/* text is what output_results() prints for doc in fmt, into a new string. */
static char *render(json_t *doc, OutputFormat fmt) {
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        if (!m)
                return NULL;
        output_results(m, &doc, 1, fmt);
        fclose(m);
        return text;
}

static void out_pre(Out *o, const char *text) {
        fputs(o->html ? "<pre>" : "\n```\n", o->f);
        out_text(o, text);
        fputs(o->html ? "</pre>\n" : "```\n\n", o->f);
}

/* The mtree as SVG: DOT from output.c, drawn by graphviz into the directory. */
static int mtree_svg(Out *o, json_t *doc, const char *svg) {
        char dot[4096], out[4096];
        snprintf(dot, sizeof(dot), "%s/.%s.dot", o->dir, svg);
        snprintf(out, sizeof(out), "%s/%s", o->dir, svg);
        FILE *f = fopen(dot, "we");
        if (!f)
                return -errno;
        bool ok = output_mtree(f, doc, OUTPUT_DOT);
        if (fclose(f) != 0 || !ok) {
                (void) unlink(dot);
                return ok ? -EIO : -ENODATA;
        }
        char *argv[] = { (char *) "dot", (char *) "-Tsvg", (char *) "-o", out, dot, NULL };
        int r = report_run_tool(o->dir, argv);
        (void) unlink(dot);
        return r;
}

/* A VM-less kind (kvm-sample): no VMM columns, so its jobs as `results` prints them. */
static void section_vm_less(Out *o, const ReportSet *s, const char *kind) {
        char title[96];
        snprintf(title, sizeof(title), "Experiment %s", kind);
        out_heading(o, 2, kind, title);
        for (size_t d = 0; d < s->n; d++)
                if (streq(str(s->docs[d], "kind"), kind)) {
                        _cleanup_free_ char *text = render(s->docs[d], OUTPUT_TABLE);
                        if (text)
                                out_pre(o, text);
                }
}

static void section_memory_lab(Out *o, const ReportSet *s) {
        out_heading(o, 2, "memory-lab", "Memory lab: the VMM's memory map and an address walk");
        for (size_t d = 0; d < s->n; d++) {
                json_t *doc = s->docs[d];
                long long id = json_integer_value(json_object_get(doc, "job_id"));
                const char *kind = str(doc, "kind");
                if (streq(kind, "mtree")) {
                        char svg[64];
                        snprintf(svg, sizeof(svg), "mtree-%lld.svg", id);
                        out_heading(o, 3, "mtree", "QEMU memory-region tree (info mtree)");
                        out_para(o, "Job %lld on %s: the address spaces and regions QEMU set up for the guest (aliases dashed).",
                                 id, str(json_object_get(doc, "spec"), "vmm"));
                        kind_errors(o, s, "mtree");
                        int r = mtree_svg(o, doc, svg);
                        if (r == 0 && o->html)
                                fprintf(o->f, "<p><a href=\"%s\"><img class=\"mtree\" src=\"%s\" alt=\"mtree of job %lld\"/></a>"
                                              "<br/>(<a href=\"%s\">open the SVG</a>)</p>\n",
                                        svg, svg, id, svg);
                        else if (r == 0)
                                fprintf(o->f, "[![mtree of job %lld](%s)](%s)\n\n", id, svg, svg);
                        else if (r != -ENODATA)
                                out_para(o, "(No drawing: %s.)", r == -ENOENT ? "graphviz is not installed (apt-get install graphviz)"
                                                                              : "graphviz failed, see report.log");
                } else if (streq(kind, "translate")) {
                        out_heading(o, 3, "translate", "One address, GVA → GPA → HVA → HPA");
                        kind_errors(o, s, "translate");
                        _cleanup_free_ char *text = render(doc, OUTPUT_TABLE);
                        if (text)
                                out_pre(o, text);
                }
        }
}

/* ---- the document ------------------------------------------------------- */

static const char html_head[] =
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>";
static const char html_style[] =
        "</title>\n<style>\n"
        "body{font-family:sans-serif;max-width:62em;margin:1em auto;padding:0 1em;line-height:1.4;color:#222}\n"
        "table{border-collapse:collapse;margin:0.5em 0 1em}\n"
        "td,th{border:1px solid #bbb;padding:3px 7px;text-align:right;vertical-align:top}\n"
        "td:first-child,th:first-child{text-align:left}\n"
        "#summary td{font-size:1.05em}#summary th{background:#f0f0f0}\n"
        "table.detail{font-size:0.85em;display:block;overflow-x:auto}table.detail td{white-space:nowrap}table.detail th{background:#f7f7f7}\n"
        "figure{margin:1em 0}figure img{max-width:100%;height:auto}figcaption{font-size:0.9em;color:#555}\n"
        "img.mtree{max-width:100%;height:auto;border:1px solid #ddd}\n"
        "pre{background:#f7f7f7;padding:0.5em;overflow-x:auto;font-size:0.85em}\n"
        "</style></head><body>\n";

/* "stratovirt vs qemu-microvm vs qemu" into buf. */
static void title_of(const ReportSet *s, char *buf, size_t size) {
        snprintf(buf, size, "virtlab report");
        for (size_t v = 0; v < s->n_vmms; v++)
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", v ? " vs " : ": ", s->vmms[v].name);
}

static void document(Out *o, const ReportSet *s, const char *selection) {
        char title[512];
        title_of(s, title, sizeof(title));
        if (o->html) {
                fputs(html_head, o->f);
                out_text(o, title);
                fputs(html_style, o->f);
        }
        out_heading(o, 1, "title", title);
        if (selection)
                out_para(o, "%s", selection);
        summary(o, s);
        environment(o, s);
        const char *kinds[16];
        size_t nk = doc_kinds(s->docs, s->n, kinds, 16);
        if (set_has_kind(s, "boot"))
                section_boot(o, s);
        if (set_has_kind(s, "memory"))
                section_memory(o, s);
        for (size_t k = 0; k < nk; k++)
                if (kind_is_vm_measurement(kinds[k]) && !streq(kinds[k], "boot") && !streq(kinds[k], "memory") &&
                    strncmp(kinds[k], "bench-", 6) != 0)
                        section_other(o, s, kinds[k]);
        for (size_t k = 0; k < nk; k++)
                if (streq(kinds[k], "kvm-sample"))
                        section_vm_less(o, s, kinds[k]);
        /* HOOK(report-bench): benchmark sections from clients/report-bench.c. */
        if (report_bench_section && report_bench_section(o->f, s->docs, s->n, o->html ? REPORT_HTML : REPORT_MD, o->dir) < 0)
                out_para(o, "(The benchmark section failed.)");
        if (set_has_kind(s, "mtree") || set_has_kind(s, "translate"))
                section_memory_lab(o, s);
        out_heading(o, 2, "how-to-read", "How to read this report");
        bool interleaved = false, separate = false;
        for (size_t k = 0; k < nk; k++)
                if (kind_is_vm_measurement(kinds[k]) && s->n_vmms > 1) {
                        if (report_set_interleaved(s, kinds[k]))
                                interleaved = true;
                        else
                                separate = true;
                }
        out_para(o, "n = measured runs per VMM (warm-up runs discarded)%s%s; mean ± half-width of the Student-t 95 %% "
                    "confidence interval; CV = sd/mean (high-CV above 10 %%); bimodal = Sarle's coefficient > 5/9 with ≥ 2 "
                    "runs per mode; ratio = mean / mean of the first VMM; verdict from a two-sided permutation test on "
                    "the means. Times are in ms to 3 significant figures, memory in MiB (1 MiB = 1024 KiB); the raw "
                    "values are in `virtlabctl results ID --json` (or --format csv).",
                 interleaved ? "; a compare job interleaves its VMMs run by run (A B A B …) so drift hits all alike" : "",
                 separate ? "; VMMs measured in separate jobs ran one after another, so drift between the jobs is not "
                            "controlled"
                          : "");
        if (o->no_gnuplot)
                out_para(o, "Some figures are missing: gnuplot is not installed (apt-get install gnuplot-nox).");
        if (o->html)
                fputs("</body></html>\n", o->f);
}

/* mkdir -p: dir and its missing parents.  0 or -errno. */
static int mkdir_parents(const char *dir) {
        char path[4096];
        snprintf(path, sizeof(path), "%s", dir);
        for (char *p = path + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *p = '/';
                }
        return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int report_write(const char *dir, json_t *const *docs, size_t n, ReportFormat fmt, double alpha, const char *selection,
                 const char **reterr) {
        char path[4096], log[4096];
        if (n == 0) {
                *reterr = "no results to report";
                return -ENODATA;
        }
        int r = mkdir_parents(dir);
        if (r < 0) {
                *reterr = "cannot create the output directory";
                return r;
        }
        snprintf(path, sizeof(path), "%s/report.%s", dir, fmt == REPORT_HTML ? "html" : "md");
        snprintf(log, sizeof(log), "%s/report.log", dir);
        (void) unlink(log);
        FILE *f = fopen(path, "we");
        if (!f) {
                *reterr = "cannot write the report file";
                return -errno;
        }
        ReportSet s;
        report_set_init(&s, docs, n);
        Out o = { .f = f, .html = fmt == REPORT_HTML, .dir = dir, .alpha = alpha };
        document(&o, &s, selection);
        /* An empty log says nothing. */
        struct stat st;
        if (stat(log, &st) == 0 && st.st_size == 0)
                (void) unlink(log);
        if (fclose(f) != 0) {
                *reterr = "cannot write the report file";
                return -errno;
        }
        return 0;
}
