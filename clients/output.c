/* output.c — result tables.  Every figure printed is read from the result
 * document; nothing is recomputed here except ratios between jobs. */
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "human.h"
#include "mtree.h"

static const char *const format_table[_OUTPUT_FORMAT_MAX] = {
        [OUTPUT_TABLE] = "table", [OUTPUT_CSV] = "csv", [OUTPUT_MD] = "md", [OUTPUT_JSON] = "json",
        [OUTPUT_DOT] = "dot",     [OUTPUT_SVG] = "svg",   [OUTPUT_OPENMETRICS] = "openmetrics",
};

OutputFormat output_format_from_string(const char *s) {
        if (s && strcmp(s, "text") == 0)
                return OUTPUT_TABLE; /* mtree/translate call their table "text" */
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

/* The last run that has @key, NULL if none. */
static json_t *last_run_with(json_t *doc, const char *key) {
        json_t *runs = json_object_get(doc, "runs"), *run = NULL, *r;
        size_t i;
        json_array_foreach(runs, i, r) if (json_object_get(r, key)) run = r;
        return run;
}

/* "mean ± CI95" of metric for people (3 significant figures), "-" when the
 * boot had no such moment. */
static char *clock_cell(json_t *doc, const char *metric, char *buf, size_t size) {
        json_t *st = metric ? json_object_get(json_object_get(doc, "summary"), metric) : NULL;
        if (!st)
                return strcpy(buf, "-");
        HumanMetric m = human_metric(metric);
        return human_mean_ci(&m, num(st, "mean"), (num(st, "ci95_high") - num(st, "ci95_low")) / 2, buf, size);
}

/* One row of the two-clocks table: a moment or phase on each clock. */
static void clock_row(FILE *f, json_t *doc, const char *what, const char *guest, const char *host, const char *note) {
        char g[48], h[48];
        fprintf(f, "  %-34s %16s %16s  %s\n", what, clock_cell(doc, guest, g, sizeof(g)), clock_cell(doc, host, h, sizeof(h)),
                note);
}

static double mean_of(json_t *doc, const char *metric) {
        return num(json_object_get(json_object_get(doc, "summary"), metric), "mean");
}

/* A boot that reports systemd-analyze time: its clock beside ours, phase by
 * phase (docs/measurements.md, "Two clocks"). */
static void print_clocks(FILE *f, json_t *doc) {
        double uptime = mean_of(doc, "guest_uptime_at_init_ms"), boot = mean_of(doc, "boot_ms");
        json_t *run = last_run_with(doc, "systemd_target");
        char target[160], diff[48];
        if (!json_object_get(json_object_get(doc, "summary"), "systemd_total_ms"))
                return;
        snprintf(target, sizeof(target), "userspace, to %s", run ? str(run, "systemd_target") : "the default target");
        fprintf(f, "  %-34s %16s %16s\n  %-34s %16s %16s\n", "Two clocks (ms, mean ± CI95)", "guest: systemd",
                "host: virtlabd", "", "(its own clock)", "(from VMM spawn)");
        clock_row(f, doc, "VMM start to the kernel's banner", NULL, "t_kernel_ms", "before the guest has a clock");
        clock_row(f, doc, "firmware (EFI)", "systemd_firmware_ms", NULL, "");
        clock_row(f, doc, "loader (EFI)", "systemd_loader_ms", NULL, "");
        clock_row(f, doc, "kernel (+ initramfs-tools)", "systemd_kernel_ms", NULL, "");
        clock_row(f, doc, "initrd (systemd in the initrd)", "systemd_initrd_ms", NULL, "");
        clock_row(f, doc, target, "systemd_userspace_ms", NULL, "");
        clock_row(f, doc, "boot finished (systemd's total)", "systemd_total_ms", NULL, "");
        clock_row(f, doc, "the reporter's marker", "guest_uptime_at_init_ms", "boot_ms", "guest: its uptime; host: boot_ms");
        fprintf(f, "  %-34s %16s %16s  %s\n\n", "host minus guest at the marker", "-", human_sig(boot - uptime, 3, diff, sizeof(diff)),
                "VMM start, firmware, kernel loading: unseen by the guest");
}

/* edu: one row per feature of the last run, then the driver's probe line. */
static void print_edu(FILE *f, json_t *doc) {
        json_t *run = last_run_with(doc, "edu_features"), *feat;
        size_t i;
        if (!run)
                return;
        fprintf(f, "  edu features (run %lld): %lld pass, %lld fail, %lld skip\n",
                (long long) json_integer_value(json_object_get(run, "index")), (long long) num(run, "features_pass"),
                (long long) num(run, "features_fail"), (long long) num(run, "features_skip"));
        fprintf(f, "  %-10s %-6s %s\n", "feature", "result", "detail");
        json_array_foreach(json_object_get(run, "edu_features"), i, feat) {
                const char *res = str(feat, "result");
                fprintf(f, "  %-10s %-6s %s\n", str(feat, "feature"),
                        strcmp(res, "pass") == 0 ? "PASS" : strcmp(res, "fail") == 0 ? "FAIL" : "SKIP", str(feat, "detail"));
        }
        const char *log = str(run, "guest_log"), *k = strstr(log, "kernel: virtlab_edu 0");
        if (k)
                fprintf(f, "  %.*s\n", (int) strcspn(k, "\n"), k);
        fputc('\n', f);
}

/* kvm-sample: the guest's output and the exit histogram of the last run. */
static void print_kvm_sample(FILE *f, json_t *doc) {
        json_t *run = last_run_with(doc, "exits");
        if (!run)
                return;
        const char *out = str(run, "output");
        fprintf(f, "  run %lld (%s mode%s): guest printed \"%.*s\"%s\n",
                (long long) json_integer_value(json_object_get(run, "index")), str(run, "mode"),
                json_is_true(json_object_get(run, "upper")) ? ", --upper" : "", (int) strcspn(out, "\n"), out,
                out[strcspn(out, "\n")] ? " + newline" : "");
        json_t *exits = json_object_get(run, "exits"), *v;
        const char *reason;
        fprintf(f, "  VM exits: %.0f\n", num(run, "exits_total"));
        json_object_foreach(exits, reason, v) {
                long long c = json_integer_value(v);
                fprintf(f, "    %-16s %5lld  ", reason, c);
                for (long long b = 0; b < c && b < 60; b++)
                        fputc('#', f);
                fputc('\n', f);
        }
        if (json_is_number(json_object_get(run, "guest_runtime_us")))
                fprintf(f, "  guest time to the last exit (--trace): %.0f us\n", num(run, "guest_runtime_us"));
        fputc('\n', f);
}

static double step_mean(json_t *step, const char *key) {
        return num(json_object_get(step, key), "mean");
}

/* density: one row per step (per-VM memory as the count grew), the boot
 * times by index and why the ramp stopped, for the last run. */
static void print_density(FILE *f, json_t *doc) {
        json_t *run = last_run_with(doc, "steps"), *step;
        size_t i;
        if (!run)
                return;
        fprintf(f, "  run %lld: %lld VMs started, %lld up, %lld died; stopped by %s: %s\n",
                (long long) json_integer_value(json_object_get(run, "index")), (long long) num(run, "vms_started"),
                (long long) num(run, "vms_ready"), (long long) num(run, "vms_died"), str(run, "stopped_by"),
                str(run, "stop_reason"));
        fprintf(f, "  %5s %10s %10s %10s %12s %12s %12s %10s\n", "VMs", "RSS MiB", "PSS MiB", "USS MiB", "Pss_Anon MiB",
                "MemAvail MiB", "virtlabd MiB", "fds");
        json_array_foreach(json_object_get(run, "steps"), i, step)
                fprintf(f, "  %5.0f %10.2f %10.2f %10.2f %12.2f %12.0f %12.2f %10.0f\n", num(step, "vms"),
                        step_mean(step, "rss_kib") / 1024, step_mean(step, "pss_kib") / 1024,
                        step_mean(step, "uss_kib") / 1024, step_mean(step, "pss_anon_kib") / 1024,
                        num(step, "mem_available_kib") / 1024, num(step, "daemon_rss_kib") / 1024, num(step, "daemon_fds"));
        fprintf(f, "  (per VM, mean over the VMs alive; %s)\n", str(run, "per_vm_cost"));
        fprintf(f, "  boot ms: first %.1f, last %.1f (x%.2f), mean %.1f; %.1f VMs/s to their marker\n\n",
                num(run, "boot_ms_first"), num(run, "boot_ms_last"), num(run, "boot_slowdown"), num(run, "boot_ms_mean"),
                num(run, "creation_rate_vms_per_s"));
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
        if (fmt == OUTPUT_OPENMETRICS) {
                output_openmetrics(f, docs, n);
                return;
        }
        if (output_bench_results(f, docs, n, fmt))
                return;
        if (n == 1 && strcmp(str(docs[0], "kind"), "mtree") == 0 && fmt != OUTPUT_JSON && output_mtree(f, docs[0], fmt))
                return;
        if (n == 1 && strcmp(str(docs[0], "kind"), "translate") == 0 && fmt != OUTPUT_JSON && output_translate(f, docs[0], fmt))
                return;
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
                        print_clocks(f, docs[k]);
                        print_pmap(f, docs[k]);
                        if (strcmp(str(docs[k], "kind"), "edu") == 0)
                                print_edu(f, docs[k]);
                        if (strcmp(str(docs[k], "kind"), "kvm-sample") == 0)
                                print_kvm_sample(f, docs[k]);
                        if (strcmp(str(docs[k], "kind"), "density") == 0)
                                print_density(f, docs[k]);
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

/* ---- memory-virtualization lab views ---------------------------------- */

/* Pipes text through `dot -Tsvg` (no shell) onto f. */
static bool dot_to_svg(FILE *f, const char *text) {
        int in[2];
        fflush(f);
        if (pipe(in) < 0)
                return false;
        pid_t pid = fork();
        if (pid < 0) {
                close(in[0]);
                close(in[1]);
                return false;
        }
        if (pid == 0) {
                dup2(in[0], STDIN_FILENO);
                dup2(fileno(f), STDOUT_FILENO);
                close(in[0]);
                close(in[1]);
                execlp("dot", "dot", "-Tsvg", (char *) NULL);
                fprintf(stderr, "virtlabctl: cannot run graphviz 'dot' (apt install graphviz): %s\n", strerror(errno));
                _exit(127);
        }
        close(in[0]);
        size_t len = strlen(text), off = 0;
        while (off < len) {
                ssize_t k = write(in[1], text + off, len - off);
                if (k <= 0)
                        break;
                off += (size_t) k;
        }
        close(in[1]);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool output_mtree(FILE *f, json_t *doc, OutputFormat fmt) {
        json_t *run = json_array_get(json_object_get(doc, "runs"), 0);
        bool flat = json_is_true(json_object_get(json_object_get(doc, "spec"), "flat"));
        json_t *tree = json_object_get(run, flat && fmt != OUTPUT_DOT && fmt != OUTPUT_SVG ? "mtree_flat" : "mtree");
        char *text = NULL;
        if (!tree)
                return false;
        int r = fmt == OUTPUT_DOT || fmt == OUTPUT_SVG ? mtree_format_dot(tree, NULL, &text) : mtree_format_text(tree, &text);
        if (r < 0) {
                fprintf(stderr, "virtlabctl: cannot render the memory tree: %s\n", strerror(-r));
                return false;
        }
        if (fmt == OUTPUT_SVG) {
                if (!dot_to_svg(f, text))
                        fprintf(stderr, "virtlabctl: graphviz 'dot -Tsvg' failed\n");
        } else
                fputs(text, f);
        free(text);
        return true;
}

static uint64_t hexval(json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? strtoull(s, NULL, 16) : 0;
}

static void bits(FILE *f, uint64_t v, unsigned hi, unsigned lo) {
        for (unsigned b = hi + 1; b-- > lo;)
                fputc((v >> b) & 1 ? '1' : '0', f);
}

static const char *agrees(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        return !v ? "not compared" : json_is_true(v) ? "agrees" : "DIFFERS";
}

bool output_translate(FILE *f, json_t *doc, OutputFormat fmt) {
        json_t *t = json_object_get(json_array_get(json_object_get(doc, "runs"), 0), "translate"), *l;
        if (!t)
                return false;
        uint64_t gva = hexval(t, "gva");
        json_t *levels = json_object_get(t, "levels");
        size_t i;
        fprintf(f, "translate (job %lld, %s, %s): GVA 0x%" PRIx64 " from %s%s%s\n", (long long) num(doc, "job_id"),
                vmm_name(doc), str(json_object_get(doc, "environment"), "accel"), gva, str(t, "source"),
                json_object_get(t, "symbol") ? " " : "", str(t, "symbol"));
        fprintf(f, "note: %s\n\n", str(t, "host_note"));
        /* The binary index split the lab report asks for. */
        unsigned offset_bits = strcmp(str(t, "leaf"), "1G") == 0 ? 30 : strcmp(str(t, "leaf"), "2M") == 0 ? 21 : 12;
        unsigned top = json_is_true(json_object_get(t, "la57")) ? 56 : 47;
        fprintf(f, "GVA split (bits 63..%u sign extension", top + 1);
        json_array_foreach(levels, i, l) fprintf(f, " | %s", str(l, "level"));
        fprintf(f, " | offset %u bits):\n  ", offset_bits);
        bits(f, gva, 63, top + 1);
        json_array_foreach(levels, i, l) {
                unsigned shift = (unsigned) num(l, "shift");
                fputs(" | ", f);
                bits(f, gva, shift + 8, shift);
        }
        fputs(" | ", f);
        bits(f, gva, offset_bits - 1, 0);
        fprintf(f, "\n\nCR3 = %s, CR4 = %s (LA57 %s: %zu-level walk)   [%s]\n\n", str(t, "cr3"), str(t, "cr4"),
                json_is_true(json_object_get(t, "la57")) ? "on" : "off", json_is_true(json_object_get(t, "la57")) ? (size_t) 5 : (size_t) 4,
                str(t, "cr3_how"));
        fprintf(f, "%-5s %-14s %-16s %-20s %-22s %s\n", "level", "table GPA", "index (binary)", "entry", "flags", "how");
        json_array_foreach(levels, i, l) {
                char idx[40], flags[64] = "";
                json_t *fl;
                size_t k;
                snprintf(idx, sizeof(idx), "%3lld (", (long long) num(l, "index"));
                for (int b = 8; b >= 0; b--)
                        idx[strlen(idx) + 1] = 0, idx[strlen(idx)] = ((long long) num(l, "index") >> b) & 1 ? '1' : '0';
                strcat(idx, ")");
                json_array_foreach(json_object_get(l, "flags"), k, fl) {
                        strncat(flags, json_string_value(fl), sizeof(flags) - strlen(flags) - 2);
                        strcat(flags, " ");
                }
                fprintf(f, "%-5s %-14s %-16s %-20s %-22s %s\n", str(l, "level"), str(l, "table_gpa"), idx, str(l, "entry"),
                        flags, str(l, "how"));
        }
        fprintf(f, "\nleaf: %s page, offset mask %s -> GPA %s   [%s]\n", str(t, "leaf"), str(t, "offset_mask"), str(t, "gpa"),
                str(t, "gpa_how"));
        fprintf(f, "QEMU gva2gpa: %s (%s)\n", str(t, "qemu_gva2gpa"), agrees(t, "gva2gpa_agrees"));
        fprintf(f, "GPA -> HVA: %s in RAM block %s   [%s]\n", str(t, "hva"), str(t, "ram_block"), str(t, "hva_how"));
        if (json_object_get(t, "hpa"))
                fprintf(f, "HVA -> HPA: %s   [%s]\n", str(t, "hpa"), str(t, "hpa_how"));
        else
                fprintf(f, "HVA -> HPA: unavailable: %s\n", str(t, "hpa_how"));
        fprintf(f, "QEMU gpa2hpa: %s (%s)\n", json_object_get(t, "qemu_gpa2hpa") ? str(t, "qemu_gpa2hpa") : str(t, "qemu_gpa2hpa_note"),
                agrees(t, "gpa2hpa_agrees"));
        if (json_object_get(t, "value_at_hva"))
                fprintf(f, "value at HVA: %lld", (long long) json_integer_value(json_object_get(t, "value_at_hva")));
        if (json_object_get(t, "expected_value"))
                fprintf(f, " (guest wrote %lld: %s)", (long long) json_integer_value(json_object_get(t, "expected_value")),
                        json_is_true(json_object_get(t, "value_matches")) ? "matches" : "DIFFERS");
        fprintf(f, "   [%s]\n", str(t, "value_how"));
        json_t *g = json_object_get(t, "guest_walk");
        if (g) {
                fprintf(f, "guest module walk (CR3 %s): %s: %s\n", str(g, "cr3"), agrees(t, "guest_walk_agrees"),
                        str(t, "guest_walk_comparison"));
                fprintf(f, "hypercall 22: %s\n", str(g, "hypercall_22"));
        }
        return true;
}
