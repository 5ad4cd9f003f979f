/* report-set.c — the documents of one report as a (kind, VMM) table, and
 * what a report without IDs covers (see report-set.h).
 * Divisions: document helpers; the VMM columns; samples, statistics and
 * p-values; the pick. */
#include "report-set.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "util.h"

/* ---- document helpers -------------------------------------------------- */

static const char *doc_kind(json_t *doc) {
        return json_string_value(json_object_get(doc, "kind")) ?: "";
}

static const char *doc_spec_vmm(json_t *doc) {
        return json_string_value(json_object_get(json_object_get(doc, "spec"), "vmm"));
}

static json_int_t doc_id(json_t *doc) {
        return json_integer_value(json_object_get(doc, "job_id"));
}

static const char *doc_image_hash(json_t *doc) {
        return json_string_value(json_object_get(json_object_get(json_object_get(doc, "environment"), "image"), "image_hash"));
}

/* Kinds whose figures go in the VMM columns: not the memory lab's views
 * (mtree, translate) and not the VM-less kvm-sample. */
static bool kind_measures(const char *kind) {
        return !streq(kind, "mtree") && !streq(kind, "translate") && !streq(kind, "kvm-sample");
}

/* Whether doc ran vmm: listed in its "vmms", or its spec.vmm. */
static bool doc_has_vmm(json_t *doc, const char *vmm) {
        json_t *vmms = json_object_get(doc, "vmms"), *v;
        size_t i;
        if (!json_is_array(vmms))
                return streq_ptr(doc_spec_vmm(doc), vmm);
        json_array_foreach(vmms, i, v) if (streq_ptr(json_string_value(v), vmm)) return true;
        return false;
}

/* ---- the VMM columns --------------------------------------------------- */

static ReportVmm *set_find_vmm(ReportSet *s, const char *name) {
        for (size_t i = 0; i < s->n_vmms; i++)
                if (streq(s->vmms[i].name, name))
                        return &s->vmms[i];
        return NULL;
}

static const char *str_or(json_t *o, const char *key, const char *fallback) {
        return json_string_value(json_object_get(o, key)) ?: fallback;
}

/* Adds vmm (as doc's environment describes it) unless it is there. */
static void set_add_vmm(ReportSet *s, json_t *doc, const char *name) {
        if (!name || set_find_vmm(s, name) || s->n_vmms >= REPORT_VMMS_MAX)
                return;
        json_t *env = json_object_get(doc, "environment"), *e = NULL, *v;
        size_t i;
        json_array_foreach(json_object_get(env, "vmms"), i, v) if (streq_ptr(str_or(v, "name", NULL), name)) e = v;
        if (!e && streq_ptr(str_or(json_object_get(env, "vmm"), "name", NULL), name))
                e = json_object_get(env, "vmm");
        s->vmms[s->n_vmms++] = (ReportVmm) {
                .name = name,
                .accel = str_or(e, "accel", str_or(env, "accel", "?")),
                .accel_reason = str_or(e, "accel_reason", str_or(env, "accel_reason", "")),
                .caveat = str_or(e, "caveat", NULL),
                .version = str_or(e, "version", ""),
                .path = str_or(e, "path", ""),
        };
}

static int by_job_id(const void *a, const void *b) {
        json_int_t x = doc_id(*(json_t *const *) a), y = doc_id(*(json_t *const *) b);
        return x < y ? -1 : x > y;
}

void report_set_init(ReportSet *s, json_t *const *docs, size_t n) {
        *s = (ReportSet) { .docs = docs, .n = n };
        /* The first compare job's order first: its first VMM is the reference
         * its p-values were computed against. */
        for (size_t d = 0; d < n; d++) {
                json_t *vmms = json_object_get(docs[d], "vmms"), *v;
                size_t i;
                if (!json_is_array(vmms) || !kind_measures(doc_kind(docs[d])))
                        continue;
                json_array_foreach(vmms, i, v) set_add_vmm(s, docs[d], json_string_value(v));
                break;
        }
        /* Then single-VMM jobs, the one measured first first. */
        json_t **sorted = n ? calloc(n, sizeof(json_t *)) : NULL;
        if (!sorted)
                return;
        memcpy(sorted, docs, n * sizeof(json_t *));
        qsort(sorted, n, sizeof(json_t *), by_job_id);
        for (size_t d = 0; d < n; d++) {
                json_t *vmms = json_object_get(sorted[d], "vmms"), *v;
                size_t i;
                if (!kind_measures(doc_kind(sorted[d])) || json_is_true(json_object_get(json_object_get(sorted[d], "environment"), "vm_less")))
                        continue;
                if (json_is_array(vmms))
                        json_array_foreach(vmms, i, v) set_add_vmm(s, sorted[d], json_string_value(v));
                else
                        set_add_vmm(s, sorted[d], doc_spec_vmm(sorted[d]));
        }
        free(sorted);
}

json_t *report_set_doc(const ReportSet *s, const char *kind, const char *vmm) {
        for (size_t d = 0; d < s->n; d++)
                if (streq(doc_kind(s->docs[d]), kind) && doc_has_vmm(s->docs[d], vmm))
                        return s->docs[d];
        return NULL;
}

bool report_set_interleaved(const ReportSet *s, const char *kind) {
        json_t *one = NULL;
        for (size_t i = 0; i < s->n_vmms; i++) {
                json_t *d = report_set_doc(s, kind, s->vmms[i].name);
                if (!d)
                        continue;
                if (one && d != one)
                        return false;
                one = d;
        }
        return one && json_is_array(json_object_get(one, "vmms"));
}

/* ---- samples, statistics, p-values ------------------------------------- */

double *report_set_samples(const ReportSet *s, const char *kind, const char *vmm, const char *metric, size_t *ret_n) {
        json_t *doc = report_set_doc(s, kind, vmm);
        json_auto_t *a = doc ? gate_samples(doc, vmm, metric) : NULL;
        size_t n = json_array_size(a), i;
        json_t *x;
        double *v = n ? calloc(n, sizeof(double)) : NULL;
        *ret_n = 0;
        if (!v)
                return NULL;
        json_array_foreach(a, i, x) v[i] = json_number_value(x);
        *ret_n = n;
        return v;
}

int report_set_stats(const ReportSet *s, const char *kind, const char *vmm, const char *metric, StatsSummary *ret) {
        size_t n = 0;
        _cleanup_free_ double *v = report_set_samples(s, kind, vmm, metric, &n);
        if (!v)
                return -ENODATA;
        return stats_summarize(v, n, ret);
}

/* The p of doc's own comparison row (vmm, metric), NAN if it has none. */
static double doc_p(json_t *doc, const char *vmm, const char *metric) {
        json_t *row;
        size_t i;
        json_array_foreach(json_object_get(doc, "comparisons"), i, row) {
                json_t *p = json_object_get(row, "p");
                if (streq_ptr(json_string_value(json_object_get(row, "vmm")), vmm) &&
                    streq_ptr(json_string_value(json_object_get(row, "metric")), metric) && json_is_number(p))
                        return json_number_value(p);
        }
        return NAN;
}

double report_set_p(const ReportSet *s, const char *kind, const char *vmm, const char *metric, bool *ret_same_job) {
        const char *ref = s->n_vmms ? s->vmms[0].name : NULL;
        json_t *a = ref ? report_set_doc(s, kind, ref) : NULL, *b = report_set_doc(s, kind, vmm);
        bool same = a && a == b;
        if (ret_same_job)
                *ret_same_job = same;
        if (!a || !b || streq(ref, vmm))
                return NAN;
        /* The compare job's verdict, when it was computed against this reference. */
        json_t *vmms = json_object_get(a, "vmms");
        if (same && streq_ptr(json_string_value(json_array_get(vmms, 0)), ref)) {
                double p = doc_p(a, vmm, metric);
                if (!isnan(p))
                        return p;
        }
        size_t na = 0, nb = 0;
        _cleanup_free_ double *x = report_set_samples(s, kind, ref, metric, &na);
        _cleanup_free_ double *y = report_set_samples(s, kind, vmm, metric, &nb);
        double p = NAN;
        if (na < 2 || nb < 2 || stats_permutation_test(x, na, y, nb, &p) < 0)
                return NAN;
        return p;
}

/* ---- the pick ----------------------------------------------------------- */

typedef struct Pick {
        const ReportRow *rows; /* ListResults, newest first */
        size_t n;              /* rows looked at */
        ReportFetch fetch;     /* gets a row's document */
        void *userdata;        /* fetch's */
        size_t *idx;           /* picked rows */
        size_t n_idx;          /* how many */
        size_t max;            /* room in idx */
} Pick;

static bool picked(const Pick *p, size_t i) {
        for (size_t k = 0; k < p->n_idx; k++)
                if (p->idx[k] == i)
                        return true;
        return false;
}

static void pick_add(Pick *p, size_t i) {
        if (!picked(p, i) && p->n_idx < p->max)
                p->idx[p->n_idx++] = i;
}

/* Whether a picked row has kind and covers vmm (by its row: the first VMM). */
static bool picked_kind_vmm(const Pick *p, const char *kind, const char *vmm) {
        for (size_t k = 0; k < p->n_idx; k++)
                if (streq_ptr(p->rows[p->idx[k]].kind, kind) && streq_ptr(p->rows[p->idx[k]].vmm, vmm))
                        return true;
        return false;
}

static bool picked_kind(const Pick *p, const char *kind) {
        for (size_t k = 0; k < p->n_idx; k++)
                if (streq_ptr(p->rows[p->idx[k]].kind, kind))
                        return true;
        return false;
}

static bool is_bench(const char *kind) {
        return kind && strncmp(kind, "bench-", 6) == 0;
}

static bool is_boot_or_memory(const char *kind) {
        return streq_ptr(kind, "boot") || streq_ptr(kind, "memory");
}

/* The newest compare job and its siblings.  1 if found, 0 if not, -errno. */
static int pick_compare(Pick *p) {
        size_t anchor = p->n;
        json_t *doc = NULL;
        for (size_t i = 0; i < p->n && anchor == p->n; i++) {
                if (!kind_measures(strempty(p->rows[i].kind)) || is_bench(p->rows[i].kind))
                        continue;
                int r = p->fetch(i, p->userdata, &doc);
                if (r < 0)
                        return r;
                if (json_is_array(json_object_get(doc, "vmms")))
                        anchor = i;
        }
        if (anchor == p->n)
                return 0;
        json_t *vmms = json_object_get(doc, "vmms");
        const char *image = doc_image_hash(doc);
        pick_add(p, anchor);
        /* One `compare --experiments a,b` runs its kinds as consecutive jobs. */
        for (size_t j = anchor + 1, last = anchor; j < p->n; j++) {
                json_t *sib = NULL;
                if (p->rows[j].id + 1 != p->rows[last].id || picked_kind(p, p->rows[j].kind))
                        break;
                int r = p->fetch(j, p->userdata, &sib);
                if (r < 0)
                        return r;
                if (!json_equal(json_object_get(sib, "vmms"), vmms) || !streq_ptr(doc_image_hash(sib), image))
                        break;
                pick_add(p, j);
                last = j;
        }
        return 1;
}

/* The newest boot and memory job per VMM on the newest one's image.  0 or -errno. */
static int pick_separate(Pick *p) {
        const char *image = NULL;
        for (size_t i = 0; i < p->n; i++) {
                json_t *doc = NULL;
                if (!is_boot_or_memory(p->rows[i].kind) || picked_kind_vmm(p, p->rows[i].kind, p->rows[i].vmm))
                        continue;
                int r = p->fetch(i, p->userdata, &doc);
                if (r < 0)
                        return r;
                if (!image)
                        image = doc_image_hash(doc) ?: "";
                if (streq_ptr(doc_image_hash(doc) ?: "", image))
                        pick_add(p, i);
        }
        return 0;
}

/* The VMMs and their accelerators of what is picked, as {vmm: accel}. */
static json_t *picked_accels(Pick *p) {
        json_t *m = json_object();
        for (size_t k = 0; k < p->n_idx; k++) {
                json_t *doc = NULL, *v;
                size_t i;
                if (p->fetch(p->idx[k], p->userdata, &doc) < 0)
                        continue;
                json_t *env = json_object_get(doc, "environment");
                json_array_foreach(json_object_get(env, "vmms"), i, v)
                        json_object_set_new(m, str_or(v, "name", "?"), json_string(str_or(v, "accel", "?")));
                if (!json_object_get(env, "vmms") && doc_spec_vmm(doc))
                        json_object_set_new(m, doc_spec_vmm(doc), json_string(str_or(env, "accel", "?")));
        }
        return m;
}

/* The newest bench job of each kind per VMM of the pick, on the same
 * accelerator (any VMM when nothing else is picked).  0 or -errno. */
static int pick_bench(Pick *p) {
        json_auto_t *accels = picked_accels(p);
        bool any = json_object_size(accels) == 0;
        for (size_t i = 0; i < p->n; i++) {
                json_t *doc = NULL;
                const char *vmm = p->rows[i].vmm;
                if (!is_bench(p->rows[i].kind) || picked_kind_vmm(p, p->rows[i].kind, vmm) ||
                    (!any && !json_object_get(accels, strempty(vmm))))
                        continue;
                int r = p->fetch(i, p->userdata, &doc);
                if (r < 0)
                        return r;
                const char *accel = str_or(json_object_get(doc, "environment"), "accel", "?");
                if (any || streq(accel, json_string_value(json_object_get(accels, vmm))))
                        pick_add(p, i);
        }
        return 0;
}

static int by_index_desc(const void *a, const void *b) {
        size_t x = *(const size_t *) a, y = *(const size_t *) b;
        return x > y ? -1 : x < y;
}

int report_pick(const ReportRow *rows, size_t n, ReportFetch fetch, void *userdata, size_t *ret_idx, size_t max,
                size_t *ret_n, ReportPick *ret_pick) {
        Pick p = { .rows = rows, .n = n < REPORT_PICK_SCAN_MAX ? n : REPORT_PICK_SCAN_MAX, .fetch = fetch,
                   .userdata = userdata, .idx = ret_idx, .max = max };
        int r = pick_compare(&p);
        ReportPick how = r > 0 ? REPORT_PICK_COMPARE : REPORT_PICK_SEPARATE;
        if (r == 0)
                r = pick_separate(&p);
        if (r >= 0)
                r = pick_bench(&p);
        if (r < 0)
                return r;
        /* The memory lab: the newest tree and walk, whatever their VMM. */
        for (size_t i = 0; i < p.n; i++)
                if ((streq_ptr(rows[i].kind, "mtree") || streq_ptr(rows[i].kind, "translate")) && !picked_kind(&p, rows[i].kind))
                        pick_add(&p, i);
        if (p.n_idx == 0)
                return -ENODATA;
        qsort(ret_idx, p.n_idx, sizeof(size_t), by_index_desc);
        *ret_n = p.n_idx;
        *ret_pick = how;
        return 0;
}
