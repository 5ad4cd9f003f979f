/* gate.c — baselines and the regression gate of `virtlabctl compare`
 * (see gate.h).  Pure: JSON in, JSON out; the statistics come from
 * daemon/stats.c, the same code that summarises runs in the daemon, and
 * which way is better from human.c (times and memory down, rates up). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gate.h"
#include "human.h"
#include "stats.h"
#include "util.h"

static const char *const gate_verdict_table[_GATE_VERDICT_MAX] = {
        [GATE_OK] = "ok",
        [GATE_REGRESSION] = "regression",
        [GATE_IMPROVEMENT] = "improvement",
        [GATE_MISSING] = "missing",
        [GATE_NEW] = "new",
};

const char *gate_verdict_to_string(GateVerdict v) {
        return v >= 0 && v < _GATE_VERDICT_MAX ? gate_verdict_table[v] : NULL;
}

int gate_judge(const double *base, size_t nb, const double *cur, size_t nc, double threshold, double alpha,
               GateJudgement *ret) {
        if (!base || !cur || nb == 0 || nc == 0 || !(threshold >= 0) || !(alpha > 0 && alpha < 1))
                return -EINVAL;
        StatsSummary sb, sc;
        int r = stats_summarize(base, nb, &sb);
        r = r < 0 ? r : stats_summarize(cur, nc, &sc);
        if (r < 0)
                return r;
        GateJudgement j = { .verdict = GATE_OK, .base_mean = sb.mean, .cur_mean = sc.mean, .p = NAN,
                            .change = sb.mean != 0 ? sc.mean / sb.mean - 1 : NAN };
        if (nb >= 2 && nc >= 2) {
                r = stats_permutation_test(base, nb, cur, nc, &j.p);
                if (r < 0)
                        return r;
        }
        /* Both conditions: a big change in noisy data is not a regression,
         * and neither is a tiny but consistent one. */
        if (!isnan(j.change) && !isnan(j.p) && j.p < alpha) {
                if (j.change > threshold)
                        j.verdict = GATE_REGRESSION;
                else if (j.change < -threshold)
                        j.verdict = GATE_IMPROVEMENT;
        }
        *ret = j;
        return 0;
}

int gate_key(const char *kind, const char *vmm, const char *metric, char *buf, size_t size) {
        int k = snprintf(buf, size, "%s/%s/%s", kind, vmm, metric);
        return k < 0 || (size_t) k >= size ? -ENAMETOOLONG : 0;
}

/* The VMMs of a result: "vmms" of a compare job, else spec.vmm. */
static json_t *result_vmms(json_t *doc) {
        json_t *v = json_object_get(doc, "vmms");
        if (json_is_array(v))
                return json_incref(v);
        return json_pack("[s]", json_string_value(json_object_get(json_object_get(doc, "spec"), "vmm")) ?: "?");
}

/* Runs without a "vmm" field (older single-VMM results) belong to spec.vmm. */
json_t *gate_samples(json_t *doc, const char *vmm, const char *metric) {
        json_t *out = json_array(), *run;
        const char *spec_vmm = json_string_value(json_object_get(json_object_get(doc, "spec"), "vmm"));
        size_t i;
        json_array_foreach(json_object_get(doc, "runs"), i, run) {
                const char *rv = json_string_value(json_object_get(run, "vmm")) ?: spec_vmm;
                json_t *x = json_object_get(run, metric);
                if (json_is_true(json_object_get(run, "ok")) && !json_is_true(json_object_get(run, "warmup")) &&
                    streq_ptr(rv, vmm) && json_is_number(x))
                        json_array_append_new(out, json_real(json_number_value(x)));
        }
        return out;
}

static json_t *baseline_environment(json_t *doc) {
        json_t *env = json_object_get(doc, "environment"), *img = json_object_get(env, "image");
        json_t *vmms = json_object(), *v;
        size_t i;
        json_array_foreach(json_object_get(env, "vmms"), i, v)
                json_object_set(vmms, json_string_value(json_object_get(v, "name")) ?: "?",
                                json_object_get(v, "version") ?: json_null());
        if (json_object_size(vmms) == 0 && json_object_get(env, "vmm"))
                json_object_set(vmms, json_string_value(json_object_get(json_object_get(env, "vmm"), "name")) ?: "?",
                                json_object_get(json_object_get(env, "vmm"), "version") ?: json_null());
        return json_pack("{s:O?, s:O?, s:O?, s:o}", "host", json_object_get(env, "host"), "accel",
                         json_object_get(env, "accel"), "image_hash", json_object_get(img, "image_hash"), "vmm_versions",
                         vmms);
}

json_t *gate_baseline_from_results(json_t *const *docs, size_t n) {
        json_t *entries = json_object();
        if (!entries)
                return NULL;
        for (size_t d = 0; d < n; d++) {
                const char *kind = json_string_value(json_object_get(docs[d], "kind")) ?: "?";
                json_t *vmms = result_vmms(docs[d]), *vmm, *metric;
                size_t i, j;
                json_array_foreach(vmms, i, vmm) json_array_foreach(json_object_get(docs[d], "metrics"), j, metric) {
                        char key[256];
                        json_t *samples = gate_samples(docs[d], json_string_value(vmm), json_string_value(metric));
                        if (json_array_size(samples) == 0 ||
                            gate_key(kind, json_string_value(vmm), json_string_value(metric), key, sizeof(key)) < 0) {
                                json_decref(samples);
                                continue;
                        }
                        double sum = 0;
                        size_t k;
                        json_t *x;
                        json_array_foreach(samples, k, x) sum += json_number_value(x);
                        json_object_set_new(entries, key,
                                            json_pack("{s:s, s:O, s:O, s:I, s:f, s:o}", "kind", kind, "vmm", vmm, "metric",
                                                      metric, "n", (json_int_t) json_array_size(samples), "mean",
                                                      sum / (double) json_array_size(samples), "samples", samples));
                }
                json_decref(vmms);
        }
        return json_pack("{s:s, s:o, s:o}", "schema", "virtlab/baseline/v1", "environment",
                         n > 0 ? baseline_environment(docs[0]) : json_object(), "entries", entries);
}

/* Copies a JSON array of numbers into a new C array; NULL if empty/not numbers. */
static double *numbers_of(const json_t *a, size_t *ret_n) {
        size_t n = json_array_size(a), i;
        json_t *x;
        double *v = n ? calloc(n, sizeof(double)) : NULL;
        if (!v)
                return NULL;
        json_array_foreach(a, i, x) {
                if (!json_is_number(x)) {
                        free(v);
                        return NULL;
                }
                v[i] = json_number_value(x);
        }
        *ret_n = n;
        return v;
}

static json_t *gate_row(const char *key, const json_t *e, GateVerdict verdict, const GateJudgement *j, double threshold,
                        double alpha) {
        json_t *row = json_pack("{s:s, s:O?, s:O?, s:O?, s:s, s:f, s:f}", "key", key, "kind", json_object_get(e, "kind"),
                                "vmm", json_object_get(e, "vmm"), "metric", json_object_get(e, "metric"), "verdict",
                                gate_verdict_to_string(verdict), "threshold", threshold, "alpha", alpha);
        if (!row)
                return NULL;
        json_object_set_new(row, "base_mean", j && isfinite(j->base_mean) ? json_real(j->base_mean) : json_null());
        json_object_set_new(row, "cur_mean", j && isfinite(j->cur_mean) ? json_real(j->cur_mean) : json_null());
        json_object_set_new(row, "change", j && isfinite(j->change) ? json_real(j->change) : json_null());
        json_object_set_new(row, "p", j && isfinite(j->p) ? json_real(j->p) : json_null());
        return row;
}

int gate_check(const json_t *baseline, const json_t *current, double threshold, double alpha, json_t **ret_rows) {
        json_t *be = json_object_get(baseline, "entries"), *ce = json_object_get(current, "entries"), *e;
        if (!json_is_object(be) || !json_is_object(ce) ||
            !streq_ptr(json_string_value(json_object_get(baseline, "schema")), "virtlab/baseline/v1"))
                return -EINVAL;
        json_t *rows = json_array();
        int regressions = 0;
        const char *key;
        json_object_foreach(be, key, e) {
                json_t *c = json_object_get(ce, key);
                if (!c) {
                        json_array_append_new(rows, gate_row(key, e, GATE_MISSING, NULL, threshold, alpha));
                        continue;
                }
                size_t nb = 0, nc = 0;
                _cleanup_free_ double *b = numbers_of(json_object_get(e, "samples"), &nb);
                _cleanup_free_ double *v = numbers_of(json_object_get(c, "samples"), &nc);
                GateJudgement j;
                int r = b && v ? gate_judge(b, nb, v, nc, threshold, alpha, &j) : -EINVAL;
                if (r < 0) {
                        json_decref(rows);
                        return r;
                }
                /* Rates (events/s, MiB/s, IOPS) regress when they fall. */
                if (human_metric(json_string_value(json_object_get(e, "metric"))).higher_is_better &&
                    (j.verdict == GATE_REGRESSION || j.verdict == GATE_IMPROVEMENT))
                        j.verdict = j.verdict == GATE_REGRESSION ? GATE_IMPROVEMENT : GATE_REGRESSION;
                regressions += j.verdict == GATE_REGRESSION;
                json_array_append_new(rows, gate_row(key, c, j.verdict, &j, threshold, alpha));
        }
        json_object_foreach(ce, key, e)
                if (!json_object_get(be, key))
                        json_array_append_new(rows, gate_row(key, e, GATE_NEW, NULL, threshold, alpha));
        *ret_rows = rows;
        return regressions;
}

void gate_xml_escape(FILE *f, const char *s) {
        for (; s && *s; s++)
                switch (*s) {
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                case '&': fputs("&amp;", f); break;
                case '"': fputs("&quot;", f); break;
                case '\'': fputs("&apos;", f); break;
                default:
                        /* XML 1.0 allows no other control characters. */
                        if ((unsigned char) *s >= 0x20 || *s == '\n' || *s == '\t')
                                fputc(*s, f);
                }
}

static double num_or_nan(const json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);
        return json_is_number(v) ? json_number_value(v) : NAN;
}

void gate_write_junit(FILE *f, const char *suite, const json_t *rows) {
        size_t i, failures = 0;
        json_t *row;
        json_array_foreach(rows, i, row) {
                const char *v = json_string_value(json_object_get(row, "verdict"));
                failures += streq_ptr(v, "regression") || streq_ptr(v, "failed");
        }
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"", f);
        gate_xml_escape(f, suite);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\">\n", json_array_size(rows), failures);
        json_array_foreach(rows, i, row) {
                const char *verdict = json_string_value(json_object_get(row, "verdict")) ?: "?";
                char msg[512];
                snprintf(msg, sizeof(msg), "%s: baseline mean %.3f, now %.3f (%+.1f %%), p = %.4g; threshold %.0f %%, alpha %.3g",
                         verdict, num_or_nan(row, "base_mean"), num_or_nan(row, "cur_mean"), 100 * num_or_nan(row, "change"),
                         num_or_nan(row, "p"), 100 * num_or_nan(row, "threshold"), num_or_nan(row, "alpha"));
                /* A row may bring its own words (compare without a baseline, a failed job). */
                if (json_is_string(json_object_get(row, "message")))
                        snprintf(msg, sizeof(msg), "%s", json_string_value(json_object_get(row, "message")));
                fputs("    <testcase classname=\"virtlab.", f);
                gate_xml_escape(f, json_string_value(json_object_get(row, "kind")));
                fputc('.', f);
                gate_xml_escape(f, json_string_value(json_object_get(row, "vmm")));
                fputs("\" name=\"", f);
                gate_xml_escape(f, json_string_value(json_object_get(row, "metric")));
                fputs("\">\n", f);
                if (streq(verdict, "regression") || streq(verdict, "failed")) {
                        fprintf(f, "      <failure type=\"%s\" message=\"", verdict);
                        gate_xml_escape(f, msg);
                        fputs("\"/>\n", f);
                }
                fputs("      <system-out>", f);
                gate_xml_escape(f, msg);
                fputs("</system-out>\n    </testcase>\n", f);
        }
        fputs("  </testsuite>\n</testsuites>\n", f);
}
