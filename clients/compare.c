/* compare.c — tables of `virtlabctl compare`.  Every figure comes from the
 * result document the daemon wrote (its statistics and p-values); nothing is
 * recomputed here but the ratio's rounding.  Values are shown for people
 * (human.c: ms to 3 significant figures, memory in MiB); --json keeps the raw
 * ones. */
#include "compare.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "human.h"

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
        /* Times and memory are better lower, rates (bench) higher. */
        bool up = human_metric(json_string_value(json_object_get(row, "metric"))).higher_is_better;
        if (p < alpha)
                snprintf(buf, size, "%s, p = %.2g (%s)",
                         diff < 0 ? (up ? "lower (worse)" : "lower (better)") : (up ? "higher (better)" : "higher (worse)"), p,
                         test ? test : "?");
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
        HumanMetric hm = human_metric(metric);
        json_t *vmm;
        size_t i;
        double base = num(compare_stats(doc, ref, metric), "mean");
        char unit[32] = "";
        if (*hm.unit)
                snprintf(unit, sizeof(unit), " (%s)", hm.unit);
        if (md)
                fprintf(f, "\n#### %s: `%s`%s\n\n| VMM | n | mean ± CI95 | median | CV | min–max | ratio to %s | verdict | flags |\n"
                           "|---|---:|---:|---:|---:|---:|---:|---|---|\n", kind, metric, unit, ref);
        else
                fprintf(f, "\n%s: %s%s\n  %-14s %4s %20s %9s %7s %21s %7s  %s\n", kind, metric, unit, "VMM", "n",
                        "mean ± CI95", "median", "CV", "min–max", "ratio", "verdict");
        json_array_foreach(vmms, i, vmm) {
                const char *name = json_string_value(vmm);
                json_t *st = compare_stats(doc, name, metric);
                char verdict[128], minmax[64], meanci[64], lo[32], hi[32], med[32];
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
                snprintf(minmax, sizeof(minmax), "%s–%s", human_value(&hm, num(st, "min"), lo, sizeof(lo)),
                         human_value(&hm, num(st, "max"), hi, sizeof(hi)));
                human_mean_ci(&hm, num(st, "mean"), ci, meanci, sizeof(meanci));
                human_value(&hm, num(st, "median"), med, sizeof(med));
                double ratio = num(st, "mean") / base;
                if (md)
                        fprintf(f, "| %s | %lld | %s | %s | %.1f %% | %s | %.3f | %s | %s |\n", name,
                                (long long) json_integer_value(json_object_get(st, "n")), meanci, med, 100 * num(st, "cv"),
                                minmax, ratio, verdict, compare_flags(st));
                else
                        /* "±" and "–" are 2-3 bytes but one column: widen their fields. */
                        fprintf(f, "  %-14s %4lld %*s %9s %6.1f%% %*s %7.3f  %s%s%s", name,
                                (long long) json_integer_value(json_object_get(st, "n")), 20, meanci, med,
                                100 * num(st, "cv"), 21, minmax, ratio, verdict, compare_flags(st)[0] ? "  [" : "",
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
