/* compare.c — tables of `virtlabctl compare` and of the report.  Every
 * figure comes from the result document the daemon wrote (its statistics and
 * p-values); nothing is recomputed here but the ratio's rounding. */
#include "compare.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gate.h"

static double num(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        return json_is_number(v) ? json_number_value(v) : NAN;
}

json_t *compare_vmms(json_t *doc) {
        json_t *v = json_object_get(doc, "vmms");
        if (json_is_array(v))
                return json_incref(v);
        const char *one = json_string_value(json_object_get(json_object_get(doc, "spec"), "vmm"));
        return json_pack("[s]", one ? one : "?");
}

json_t *compare_stats(json_t *doc, const char *vmm, const char *metric) {
        json_t *by = json_object_get(doc, "summary_by_vmm");
        if (by)
                return json_object_get(json_object_get(by, vmm), metric);
        return json_object_get(json_object_get(doc, "summary"), metric);
}

json_t *compare_row(json_t *doc, const char *vmm, const char *metric) {
        json_t *row;
        size_t i;
        json_array_foreach(json_object_get(doc, "comparisons"), i, row) {
                const char *v = json_string_value(json_object_get(row, "vmm"));
                const char *m = json_string_value(json_object_get(row, "metric"));
                if (v && m && strcmp(v, vmm) == 0 && strcmp(m, metric) == 0)
                        return row;
        }
        return NULL;
}

void compare_verdict(json_t *row, double alpha, char *buf, size_t size) {
        double p = num(row, "p"), diff = num(row, "diff_mean");
        const char *test = json_string_value(json_object_get(row, "test"));
        if (!row || isnan(p)) {
                snprintf(buf, size, "%s", row ? "not tested" : "(reference)");
                return;
        }
        bool up = gate_higher_is_better(json_string_value(json_object_get(row, "metric")));
        if (p < alpha)
                snprintf(buf, size, "%s, p = %.2g (%s)",
                         diff < 0 ? (up ? "lower (worse)" : "lower (better)") : (up ? "higher (better)" : "higher (worse)"),
                         p, test ? test : "?");
        else
                snprintf(buf, size, "no significant difference, p = %.2g", p);
}

const char *compare_flags(json_t *st) {
        static char buf[96];
        bool hc = json_is_true(json_object_get(st, "high_cv")), bi = json_is_true(json_object_get(st, "bimodal"));
        json_int_t contended = json_integer_value(json_object_get(st, "contended"));
        snprintf(buf, sizeof(buf), "%s%s%s", hc && bi ? "high-CV,bimodal" : hc ? "high-CV" : bi ? "bimodal" : "",
                 contended > 0 && (hc || bi) ? "," : "", "");
        if (contended > 0)
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%lld/%lld contended", (long long) contended,
                         (long long) json_integer_value(json_object_get(st, "n")));
        return buf;
}

static void print_metric(FILE *f, json_t *doc, json_t *vmms, const char *metric, double alpha, bool md) {
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        const char *ref = json_string_value(json_array_get(vmms, 0));
        json_t *vmm;
        size_t i;
        double base = num(compare_stats(doc, ref, metric), "mean");
        if (md)
                fprintf(f, "\n#### %s: `%s`\n\n| VMM | n | mean ± CI95 | median | CV | min–max | ratio to %s | verdict | flags |\n"
                           "|---|---:|---:|---:|---:|---:|---:|---|---|\n", kind, metric, ref);
        else
                fprintf(f, "\n%s: %s\n  %-14s %4s %22s %11s %7s %23s %7s  %s\n", kind, metric, "VMM", "n", "mean ± CI95",
                        "median", "CV", "min–max", "ratio", "verdict");
        json_array_foreach(vmms, i, vmm) {
                const char *name = json_string_value(vmm);
                json_t *st = compare_stats(doc, name, metric);
                char verdict[128], minmax[64], meanci[64];
                if (!st) {
                        if (md)
                                fprintf(f, "| %s | 0 | – | – | – | – | – | no successful runs | |\n", name);
                        else
                                fprintf(f, "  %-14s %4s  (no successful runs)\n", name, "0");
                        continue;
                }
                double ci = (num(st, "ci95_high") - num(st, "ci95_low")) / 2;
                json_t *row = i == 0 ? NULL : compare_row(doc, name, metric);
                if (i > 0 && !row)
                        snprintf(verdict, sizeof(verdict), "not tested (fewer than 2 runs)");
                else
                        compare_verdict(row, alpha, verdict, sizeof(verdict));
                snprintf(minmax, sizeof(minmax), "%.2f–%.2f", num(st, "min"), num(st, "max"));
                snprintf(meanci, sizeof(meanci), "%.2f ± %.2f", num(st, "mean"), isnan(ci) ? 0 : ci);
                double ratio = num(st, "mean") / base;
                if (md)
                        fprintf(f, "| %s | %lld | %s | %.2f | %.1f %% | %s | %.3f | %s | %s |\n", name,
                                (long long) json_integer_value(json_object_get(st, "n")), meanci, num(st, "median"),
                                100 * num(st, "cv"), minmax, ratio, verdict, compare_flags(st));
                else
                        fprintf(f, "  %-14s %4lld %22s %11.2f %6.1f%% %23s %7.3f  %s%s%s", name,
                                (long long) json_integer_value(json_object_get(st, "n")), meanci, num(st, "median"),
                                100 * num(st, "cv"), minmax, ratio, verdict, compare_flags(st)[0] ? "  [" : "",
                                compare_flags(st)[0] ? compare_flags(st) : "");
                if (!md && compare_flags(st)[0])
                        fputc(']', f);
                if (!md)
                        fputc('\n', f);
        }
}

/* One line per VMM: its accelerator, why, and the backend's caveat, so a
 * table never hides that its columns ran on different engines. */
static void print_setup(FILE *f, json_t *env, bool md) {
        json_t *v;
        size_t i;
        json_t *img = json_object_get(env, "image");
        fprintf(f, md ? "\nImage `%s` (%s).\n\n" : "  image %s (%s)\n", json_string_value(json_object_get(img, "name")) ?: "?",
                json_string_value(json_object_get(img, "guest")) ?: "linux");
        json_array_foreach(json_object_get(env, "vmms"), i, v) {
                const char *caveat = json_string_value(json_object_get(v, "caveat"));
                fprintf(f, md ? "- **%s**: %s — %s%s%s\n" : "  %-14s %s: %s%s%s\n", json_string_value(json_object_get(v, "name")),
                        json_string_value(json_object_get(v, "accel")) ?: "?",
                        json_string_value(json_object_get(v, "accel_reason")) ?: "",
                        caveat ? (md ? ". **Caveat**: " : "; CAVEAT: ") : "", caveat ?: "");
        }
}

void compare_print(FILE *f, json_t *const *docs, size_t n, double alpha, bool md) {
        for (size_t d = 0; d < n; d++) {
                json_t *doc = docs[d], *env = json_object_get(doc, "environment"), *m;
                json_t *vmms = compare_vmms(doc);
                size_t i;
                if (md)
                        fprintf(f, "\n### %s (job %lld, accel %s)\n", json_string_value(json_object_get(doc, "kind")),
                                (long long) json_integer_value(json_object_get(doc, "job_id")),
                                json_string_value(json_object_get(env, "accel")) ?: "?");
                else
                        fprintf(f, "Job %lld: %s, %lld runs per VMM interleaved (+%lld warm-up each), accel %s, state %s\n",
                                (long long) json_integer_value(json_object_get(doc, "job_id")),
                                json_string_value(json_object_get(doc, "kind")),
                                (long long) json_integer_value(json_object_get(json_object_get(doc, "spec"), "runs")),
                                (long long) json_integer_value(json_object_get(doc, "warmup")),
                                json_string_value(json_object_get(env, "accel")) ?: "?",
                                json_string_value(json_object_get(doc, "state")));
                if (json_object_get(env, "vmms"))
                        print_setup(f, env, md);
                if (json_is_string(json_object_get(doc, "error")))
                        fprintf(f, "%s  error: %s\n", md ? "\n" : "", json_string_value(json_object_get(doc, "error")));
                json_array_foreach(json_object_get(doc, "metrics"), i, m)
                        print_metric(f, doc, vmms, json_string_value(m), alpha, md);
                fprintf(f, md ? "\nVerdicts: two-sided permutation test on the means, α = %.2g; Mann-Whitney p-values are "
                                "in the JSON.\n"
                              : "\n  verdicts: two-sided permutation test on the means, alpha %.2g (Mann-Whitney p in --json)\n\n",
                        alpha);
                json_decref(vmms);
        }
}
