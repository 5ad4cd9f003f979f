/* cmd-compare.c — `virtlabctl compare`: VMMs side by side (docs/compare.md).
 * One interleaved multi-VMM job per experiment kind (or, with IDs, stored
 * jobs: re-render or re-gate without new runs), then in this order: the
 * tables, --save-baseline, the --baseline gate (exit 4 on a regression),
 * --junit, --openmetrics and --report.  The gate itself is pure and lives in gate.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "cmd.h"
#include "compare.h"
#include "gate.h"
#include "report.h"
#include "util.h"

static int parse_threshold(Args *a, const Option *o, const char *value);

static const Option compare_options[] = {
        { .name = "vmm", .arg = "A,B[,C]", .parse = args_spec_string, .key = "vmm",
          .help = "VMMs side by side            [qemu,qemu-microvm]" },
        { .name = "experiments", .arg = "K[,K]", .parse = args_set_string, .offset = offsetof(Args, experiments),
          .help = "experiment kinds, each one job [boot]" },
        { .name = "save-baseline", .arg = "FILE", .parse = args_set_string, .offset = offsetof(Args, save_baseline),
          .help = "write the measured samples as a baseline" },
        { .name = "baseline", .arg = "FILE", .parse = args_set_string, .offset = offsetof(Args, baseline),
          .help = "gate: exit 4 when a metric's mean grew by more than the\nthreshold AND the change is significant" },
        { .name = "threshold", .arg = "F|N%", .parse = parse_threshold, .help = "regression threshold  [10%]" },
        { .name = "gate-alpha", .arg = "P", .parse = args_set_alpha, .offset = offsetof(Args, gate_alpha),
          .help = "significance the gate needs  [0.01]" },
        { .name = "alpha", .arg = "P", .parse = args_set_alpha, .offset = offsetof(Args, alpha),
          .help = "significance of the table verdicts  [0.05]" },
        { .name = "junit", .arg = "FILE", .parse = args_set_string, .offset = offsetof(Args, junit),
          .help = "JUnit XML for CI" },
        { .name = "openmetrics", .arg = "FILE", .parse = args_set_string, .offset = offsetof(Args, openmetrics),
          .help = "the results as OpenMetrics text (Prometheus)" },
        { .name = "report", .arg = "DIR", .parse = args_set_string, .offset = offsetof(Args, out),
          .help = "also write the report (see report --help)" },
        { .name = "out", .arg = "DIR", .parse = args_set_string, .offset = offsetof(Args, out), .help = "same as --report" },
        {},
};
const OptionGroup compare_group = { "compare options", compare_options };

static int parse_threshold(Args *a, const Option *o, const char *value) {
        return args_parse_fraction("--threshold", value, 0, 10, &a->threshold);
}

/* The stored jobs ids[0..n) into docs.  EXIT_OK to go on (*ret_failed: one
 * is not done), else the exit code to stop with. */
static int compare_fetch(sd_bus *bus, const uint32_t *ids, int n, json_t *docs, bool *ret_failed) {
        for (int i = 0; i < n; i++) {
                json_t *doc = NULL;
                int code = bus_get_result(bus, ids[i], &doc);
                if (code != EXIT_OK)
                        return code;
                if (strcmp(json_string_value(json_object_get(doc, "state")) ?: "", "done") != 0)
                        *ret_failed = true;
                json_array_append_new(docs, doc);
        }
        return EXIT_OK;
}

/* One job per kind over vmms, each result into docs.  EXIT_OK to go on
 * (*ret_failed: a job did not end done), else the exit code to stop with. */
static int compare_run(sd_bus *bus, Args *a, json_t *vmms, json_t *kinds, json_t *docs, bool *ret_failed) {
        json_t *kind;
        size_t i;
        json_object_del(a->spec, "vmm");
        json_object_set(a->spec, "vmms", vmms);
        json_array_foreach(kinds, i, kind) {
                uint32_t id = 0;
                int code = experiment_run(bus, a, json_string_value(kind), &id);
                if (id == 0) /* not started, not waited for, or --no-wait */
                        return code;
                json_t *doc = NULL;
                int c = bus_get_result(bus, id, &doc);
                if (c != EXIT_OK)
                        return c;
                if (code != EXIT_OK)
                        *ret_failed = true;
                json_array_append_new(docs, doc);
        }
        return EXIT_OK;
}

/* Rows for JUnit without a baseline: every comparison (its verdict in words)
 * and every failed job, so CI shows what ran. */
static json_t *junit_rows_without_baseline(json_t *const *docs, size_t n, double alpha) {
        json_t *rows = json_array(), *row;
        for (size_t d = 0; d < n; d++) {
                const char *kind = json_string_value(json_object_get(docs[d], "kind"));
                size_t i;
                if (json_is_string(json_object_get(docs[d], "error")))
                        json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:O}", "kind", kind, "vmm", "all",
                                                              "metric", "job", "verdict", "failed", "message",
                                                              json_object_get(docs[d], "error")));
                json_array_foreach(json_object_get(docs[d], "comparisons"), i, row) {
                        char verdict[128], msg[256];
                        compare_verdict(row, alpha, verdict, sizeof(verdict));
                        json_t *ratio = json_object_get(row, "ratio");
                        snprintf(msg, sizeof(msg), "ratio to %s %.3f: %s",
                                 json_string_value(json_object_get(row, "reference")),
                                 json_is_number(ratio) ? json_number_value(ratio) : 0.0, verdict);
                        json_array_append_new(rows, json_pack("{s:s, s:O, s:O, s:s, s:s}", "kind", kind, "vmm",
                                                              json_object_get(row, "vmm"), "metric",
                                                              json_object_get(row, "metric"), "verdict", "ok", "message", msg));
                }
        }
        return rows;
}

/* --baseline: the gate.  Prints one line per key (REGRESSION naming the
 * metric) and returns the number of regressions, or -EINVAL after printing
 * why not.  *ret_rows: the gate's rows, for JUnit. */
static int gate(Args *a, json_t *const *docs, size_t n, json_t **ret_rows) {
        json_error_t je;
        json_auto_t *baseline = json_load_file(a->baseline, 0, &je);
        if (!baseline) {
                fprintf(stderr, "virtlabctl: cannot read baseline %s: %s\n", a->baseline, je.text);
                return -EINVAL;
        }
        json_auto_t *current = gate_baseline_from_results(docs, n);
        json_t *rows = NULL, *row;
        int k = current ? gate_check(baseline, current, a->threshold, a->gate_alpha, &rows) : -ENOMEM;
        if (k < 0) {
                fprintf(stderr, "virtlabctl: %s is not a virtlab baseline (write one with --save-baseline)\n", a->baseline);
                return -EINVAL;
        }
        size_t i;
        FILE *f = a->format == OUTPUT_JSON || a->format == OUTPUT_OPENMETRICS ? stderr : stdout;
        fprintf(f, "Baseline gate (%s): regression = mean up by more than %.0f %% with p < %g\n", a->baseline,
                100 * a->threshold, a->gate_alpha);
        json_array_foreach(rows, i, row) {
                const char *v = json_string_value(json_object_get(row, "verdict"));
                json_t *change = json_object_get(row, "change"), *p = json_object_get(row, "p");
                fprintf(f, "  %-12s %-40s %+7.1f %%  p = %.3g\n", strcmp(v, "regression") == 0 ? "REGRESSION" : v,
                        json_string_value(json_object_get(row, "key")),
                        json_is_number(change) ? 100 * json_number_value(change) : 0.0,
                        json_is_number(p) ? json_number_value(p) : NAN);
        }
        *ret_rows = rows;
        return k;
}

/* --save-baseline FILE.  0, or -EIO after printing why. */
static int save_baseline(Args *a, json_t *const *docs, size_t n) {
        json_auto_t *b = gate_baseline_from_results(docs, n);
        if (!b || json_dump_file(b, a->save_baseline, JSON_INDENT(2)) < 0) {
                fprintf(stderr, "virtlabctl: cannot write baseline %s\n", a->save_baseline);
                return -EIO;
        }
        fprintf(stderr, "virtlabctl: baseline written to %s\n", a->save_baseline);
        return 0;
}

/* --junit FILE: the gate's rows, or without a gate the comparisons.  0 or -errno. */
static int write_junit(Args *a, json_t *const *docs, size_t n, json_t *gate_rows) {
        json_auto_t *rows = gate_rows ? json_incref(gate_rows) : junit_rows_without_baseline(docs, n, a->alpha);
        FILE *f = fopen(a->junit, "we");
        if (!f) {
                int r = -errno;
                fprintf(stderr, "virtlabctl: cannot write %s: %s\n", a->junit, strerror(-r));
                return r;
        }
        gate_write_junit(f, "virtlab-compare", rows);
        fclose(f);
        return 0;
}

/* --openmetrics FILE.  0 or -errno after printing why. */
static int write_openmetrics(Args *a, json_t *const *docs, size_t n) {
        FILE *f = fopen(a->openmetrics, "we");
        int r = f ? 0 : -errno;
        if (f) {
                output_openmetrics(f, docs, n);
                r = fclose(f) == 0 ? 0 : -errno;
        }
        if (r < 0)
                fprintf(stderr, "virtlabctl: cannot write %s: %s\n", a->openmetrics, strerror(-r));
        return r;
}

/* --report DIR.  0 or -errno after printing why. */
static int write_report(Args *a, json_t *const *docs, size_t n) {
        const char *why = NULL;
        int r = report_write(a->out, docs, n, a->html ? REPORT_HTML : REPORT_MD, a->alpha,
                             a->argc > 0 ? NULL : "This report covers the jobs this compare command ran.", &why);
        if (r < 0)
                fprintf(stderr, "virtlabctl: report: %s: %s\n", why, strerror(-r));
        return r;
}

/* Everything after the runs, over docs; code is the runs' exit code. */
static int compare_outputs(Args *a, json_t *docs, int code) {
        size_t n = json_array_size(docs);
        _cleanup_free_ json_t **dv = calloc(n ? n : 1, sizeof(json_t *));
        json_auto_t *gate_rows = NULL;
        if (!dv)
                return EXIT_FAILED;
        for (size_t i = 0; i < n; i++)
                dv[i] = json_array_get(docs, i);
        if (a->format == OUTPUT_JSON) {
                json_dumpf(n == 1 ? dv[0] : docs, stdout, JSON_INDENT(2));
                putchar('\n');
        } else if (a->format == OUTPUT_OPENMETRICS)
                output_openmetrics(stdout, dv, n);
        else
                compare_print(stdout, dv, n, a->alpha, a->format == OUTPUT_MD);
        if (a->save_baseline && save_baseline(a, dv, n) < 0)
                code = EXIT_FAILED;
        if (a->baseline) {
                int k = gate(a, dv, n, &gate_rows);
                if (k < 0)
                        code = EXIT_USAGE;
                else if (k > 0 && code == EXIT_OK)
                        code = EXIT_REGRESSION;
        }
        if (a->junit && write_junit(a, dv, n, gate_rows) < 0 && code == EXIT_OK)
                code = EXIT_FAILED;
        if (a->openmetrics && write_openmetrics(a, dv, n) < 0 && code == EXIT_OK)
                code = EXIT_FAILED;
        if (a->out && write_report(a, dv, n) < 0 && code == EXIT_OK)
                code = EXIT_FAILED;
        return code;
}

int cmd_compare(Args *a) {
        uint32_t ids[ARGS_IDS_MAX];
        if (args_parse_ids(a->argv, a->argc, ids, ARGS_IDS_MAX) < 0)
                return EXIT_USAGE;
        const char *vmm_arg = json_string_value(json_object_get(a->spec, "vmm"));
        json_auto_t *vmms = args_split_list(vmm_arg ? vmm_arg : "qemu,qemu-microvm");
        json_auto_t *kinds = args_split_list(a->experiments ? a->experiments : "boot");
        if (json_array_size(vmms) == 0 || json_array_size(kinds) == 0) {
                fprintf(stderr, "virtlabctl: compare needs --vmm A,B[,C] and --experiments K[,K]\n");
                return EXIT_USAGE;
        }
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int code = bus_open(a->bus, &bus);
        if (code != EXIT_OK)
                return code;
        json_auto_t *docs = json_array();
        bool failed = false;
        code = a->argc > 0 ? compare_fetch(bus, ids, a->argc, docs, &failed)
                           : compare_run(bus, a, vmms, kinds, docs, &failed);
        /* Stop on an error; with --no-wait the first job is started, its id printed. */
        if (code != EXIT_OK || (a->argc == 0 && a->no_wait))
                return code;
        return compare_outputs(a, docs, failed ? EXIT_FAILED : EXIT_OK);
}
