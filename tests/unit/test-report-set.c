/* test-report-set.c — what a report covers and how it prints numbers
 * (clients/report-set.c, clients/human.c and clients/gate.c, included:
 * client code is not in libvirtlab.a; its statistics are).
 *
 * A report without IDs must pick the newest compare job with its siblings,
 * even when single jobs came after it; without a compare job, the newest
 * boot and memory job of each VMM on the newest image; a compare set must be
 * called interleaved and separate jobs must not.  Numbers for people: ms to
 * 3 significant figures, memory in MiB; bench cells in words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../clients/gate.c"
#include "../../clients/human.c"
#include "../../clients/report-set.c"

/* ---- human.c ------------------------------------------------------------ */

static void test_significant_figures(void **state) {
        char b[32];
        assert_string_equal(human_sig(4895.94, 3, b, sizeof(b)), "4900");
        assert_string_equal(human_sig(19.7306, 3, b, sizeof(b)), "19.7");
        assert_string_equal(human_sig(0.19383, 3, b, sizeof(b)), "0.194");
        assert_string_equal(human_sig(9.996, 3, b, sizeof(b)), "10.0"); /* rounds up a magnitude */
        assert_string_equal(human_sig(-12.345, 3, b, sizeof(b)), "-12.3");
        assert_string_equal(human_sig(0, 3, b, sizeof(b)), "0");
        assert_string_equal(human_sig(NAN, 3, b, sizeof(b)), "–");
        assert_string_equal(human_sig(1318.67, 2, b, sizeof(b)), "1300");
}

static void test_units(void **state) {
        char b[64];
        HumanMetric kib = human_metric("rss_kib"), ms = human_metric("boot_ms"), iops = human_metric("t32.4K.rndrd.iops");
        HumanMetric lat = human_metric("t1.4K.rndrd.lat_avg_ms"), bw = human_metric("t4.8K.seq.mib_per_s");
        assert_int_equal(kib.quantity, HUMAN_MEMORY);
        assert_string_equal(kib.unit, "MiB");
        /* The example: 148052.40 ± 198.69 KiB is 145 ± 0.19 MiB. */
        assert_string_equal(human_mean_ci(&kib, 148052.40, 198.69, b, sizeof(b)), "145 ± 0.19");
        assert_string_equal(human_mean_ci(&ms, 4895.94, 1318.67, b, sizeof(b)), "4900 ± 1300");
        assert_string_equal(human_mean_ci(&ms, 19.73, NAN, b, sizeof(b)), "19.7");
        assert_string_equal(ms.label, "boot, spawn → init marker");
        assert_false(ms.higher_is_better);
        assert_true(iops.higher_is_better);
        assert_string_equal(iops.unit, "IOPS");
        assert_int_equal(lat.quantity, HUMAN_TIME);
        assert_false(lat.higher_is_better);
        assert_string_equal(bw.unit, "MiB/s");
        assert_true(bw.higher_is_better);
        assert_int_equal(human_metric("regions").quantity, HUMAN_COUNT);
        assert_string_equal(human_cell("t32.4K.rndrd", b, sizeof(b)), "32 threads, 4K rndrd");
        assert_string_equal(human_cell("t1", b, sizeof(b)), "1 thread");
}

/* ---- documents ------------------------------------------------------------ */

/* A finished job: kind, its VMMs (a compare job with two or more), image,
 * and n measured runs per VMM whose boot_ms is base × (1 + VMM index) + k. */
static json_t *job(int id, const char *kind, const char *vmms_csv, const char *image, int n, double base) {
        json_t *vmms = json_array(), *runs = json_array(), *env_vmms = json_array();
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", vmms_csv);
        for (char *save = NULL, *v = strtok_r(buf, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
                json_array_append_new(vmms, json_string(v));
                json_array_append_new(env_vmms, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", v, "accel", "kvm",
                                                          "accel_reason", "why", "version", "1.0", "path", "/bin/x"));
        }
        size_t k = json_array_size(vmms);
        json_array_append_new(runs, json_pack("{s:i, s:b, s:b, s:s, s:f}", "index", 0, "warmup", 1, "ok", 1, "vmm",
                                              json_string_value(json_array_get(vmms, 0)), "boot_ms", 1e6));
        for (int r = 0; r < n * (int) k; r++)
                json_array_append_new(runs, json_pack("{s:i, s:b, s:b, s:O, s:f, s:f}", "index", r + 1, "warmup", 0, "ok",
                                                      1, "vmm", json_array_get(vmms, (size_t) r % k), "boot_ms",
                                                      base * (double) (1 + (size_t) r % k) + r / (int) k,
                                                      "rss_kib", 1024.0 * (10 + r)));
        json_t *doc = json_pack("{s:i, s:s, s:s, s:[s,s], s:{s:O, s:i}, s:o, s:{s:{s:s}, s:o}}", "job_id", id, "kind",
                                kind, "state", "done", "metrics", "boot_ms", "rss_kib", "spec", "vmm",
                                json_array_get(vmms, 0), "runs", n, "runs", runs, "environment", "image", "image_hash",
                                image, "vmms", env_vmms);
        if (k > 1) {
                json_object_set(doc, "vmms", vmms);
                json_object_set_new(doc, "comparisons",
                                    json_pack("[{s:O, s:s, s:O, s:f}]", "vmm", json_array_get(vmms, 1), "metric", "boot_ms",
                                              "reference", json_array_get(vmms, 0), "p", 0.042));
        }
        json_decref(vmms);
        return doc;
}

typedef struct Store {
        json_t *docs[16]; /* newest first, as ListResults */
        ReportRow rows[16];
        size_t n;
        unsigned fetched;  /* documents asked for */
} Store;

static void store_add(Store *s, json_t *doc) {
        /* ListResults is newest first: shift the older ones down. */
        memmove(&s->docs[1], &s->docs[0], s->n * sizeof(json_t *));
        memmove(&s->rows[1], &s->rows[0], s->n * sizeof(ReportRow));
        s->docs[0] = doc;
        s->rows[0] = (ReportRow) { (uint32_t) doc_id(doc), doc_kind(doc), doc_spec_vmm(doc) };
        s->n++;
}

static void store_free(Store *s) {
        for (size_t i = 0; i < s->n; i++)
                json_decref(s->docs[i]);
}

static int store_fetch(size_t i, void *userdata, json_t **ret) {
        Store *s = userdata;
        s->fetched++;
        *ret = s->docs[i];
        return 0;
}

/* The job ids report_pick() chooses, oldest first, as "3 4 5". */
static void pick_ids(Store *s, char *buf, size_t size, ReportPick *how) {
        size_t idx[16], n = 0;
        assert_int_equal(report_pick(s->rows, s->n, store_fetch, s, idx, 16, &n, how), 0);
        buf[0] = 0;
        for (size_t k = 0; k < n; k++)
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%u", k ? " " : "", s->rows[idx[k]].id);
}

/* ---- report-set.c --------------------------------------------------------- */

static void test_pick_separate(void **state) {
        Store s = {};
        char ids[64];
        ReportPick how;
        store_add(&s, job(1, "boot", "qemu", "img-old", 3, 100));   /* an older image: left out */
        store_add(&s, job(2, "boot", "qemu", "img", 3, 100));
        store_add(&s, job(3, "memory", "qemu", "img", 3, 100));
        store_add(&s, job(4, "boot", "stratovirt", "img", 3, 10));
        store_add(&s, job(5, "boot", "stratovirt", "img", 3, 10)); /* newer: wins over 4 */
        store_add(&s, job(6, "memory", "stratovirt", "img", 3, 10));
        store_add(&s, job(7, "mtree", "qemu", "img", 1, 1));
        pick_ids(&s, ids, sizeof(ids), &how);
        assert_int_equal(how, REPORT_PICK_SEPARATE);
        assert_string_equal(ids, "2 3 5 6 7");

        /* The set: VMMs in the order first measured; never interleaved. */
        json_t *docs[] = { s.docs[5], s.docs[4], s.docs[2], s.docs[1], s.docs[0] };
        ReportSet set;
        report_set_init(&set, docs, 5);
        assert_int_equal(set.n_vmms, 2); /* the mtree job's VMM is no column */
        assert_string_equal(set.vmms[0].name, "qemu");
        assert_string_equal(set.vmms[1].name, "stratovirt");
        assert_false(report_set_interleaved(&set, "boot"));
        assert_false(report_set_interleaved(&set, "memory"));
        /* Separate jobs: p from the runs; 3 + 3 fully separated runs give 2/20. */
        bool same = true;
        double p = report_set_p(&set, "boot", "stratovirt", "boot_ms", &same);
        assert_false(same);
        assert_true(fabs(p - 0.1) < 1e-12);
        StatsSummary st;
        assert_int_equal(report_set_stats(&set, "boot", "stratovirt", "boot_ms", &st), 0);
        assert_int_equal(st.n, 3); /* the warm-up left out */
        assert_true(fabs(st.mean - 11) < 1e-12);
        assert_int_equal(report_set_stats(&set, "memory", "nosuch", "rss_kib", &st), -ENODATA);
        store_free(&s);
}

static void test_pick_compare(void **state) {
        Store s = {};
        char ids[64];
        ReportPick how;
        store_add(&s, job(1, "boot", "qemu,qemu-microvm", "img", 3, 100)); /* an older compare */
        store_add(&s, job(2, "memory", "qemu,qemu-microvm", "img", 3, 100));
        store_add(&s, job(3, "boot", "stratovirt,qemu", "img", 3, 10)); /* the newest compare: 3 and 4 */
        store_add(&s, job(4, "memory", "stratovirt,qemu", "img", 3, 10));
        store_add(&s, job(5, "mtree", "qemu", "img", 1, 1));
        store_add(&s, job(6, "boot", "qemu", "img", 3, 100)); /* a single job after it */
        pick_ids(&s, ids, sizeof(ids), &how);
        assert_int_equal(how, REPORT_PICK_COMPARE);
        assert_string_equal(ids, "3 4 5");

        json_t *docs[] = { s.docs[3], s.docs[2] };
        ReportSet set;
        report_set_init(&set, docs, 2);
        assert_int_equal(set.n_vmms, 2);
        assert_string_equal(set.vmms[0].name, "stratovirt"); /* the compare job's order: its reference first */
        assert_string_equal(set.vmms[1].accel, "kvm");
        assert_true(report_set_interleaved(&set, "boot"));
        bool same = false;
        /* One job holds both: the daemon's own p, not a recomputed one. */
        assert_true(fabs(report_set_p(&set, "boot", "qemu", "boot_ms", &same) - 0.042) < 1e-12);
        assert_true(same);
        assert_true(isnan(report_set_p(&set, "boot", "stratovirt", "boot_ms", NULL))); /* the reference itself */
        store_free(&s);
}

static void test_pick_siblings_stop(void **state) {
        Store s = {};
        char ids[64];
        ReportPick how;
        /* Same VMMs but another image in between: not one compare command. */
        store_add(&s, job(1, "boot", "qemu,stratovirt", "img-a", 3, 10));
        store_add(&s, job(2, "memory", "qemu,stratovirt", "img-b", 3, 10));
        pick_ids(&s, ids, sizeof(ids), &how);
        assert_int_equal(how, REPORT_PICK_COMPARE);
        assert_string_equal(ids, "2");
        store_free(&s);

        Store e = {};
        size_t idx[4], n = 0;
        assert_int_equal(report_pick(e.rows, 0, store_fetch, &e, idx, 4, &n, &how), -ENODATA);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_significant_figures), cmocka_unit_test(test_units),
                cmocka_unit_test(test_pick_separate),       cmocka_unit_test(test_pick_compare),
                cmocka_unit_test(test_pick_siblings_stop),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
