/* experiment-mtree.c — the lab's `info mtree`: boot a guest to job hold (so
 * the guest kernel has programmed the PCI BARs), ask QEMU over QMP
 * human-monitor-command for "info mtree" (and "info mtree -f" with flat),
 * parse the text with mtree.c and store the JSON tree in the run's sample.
 * Optional devices (edu, ...) are added with -device.  VMMs without HMP
 * (StratoVirt) are refused at validation: an empty tree would be a lie. */
#include <stdio.h>

#include "experiment.h"
#include "mtree.h"
#include "qmp-client.h"
#include "vmm.h"

#define HMP_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define DEVICES_MAX 8

static const char *const mtree_metrics[] = { "regions", NULL };
static const char *const mtree_fields[] = { "flat", "device", NULL };

static void on_mtree_reply(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata);

int experiment_require_hmp(json_t *spec, const char *what, char **ret_error) {
        const char *vmm = json_string_value(json_object_get(spec, "vmm")) ?: "qemu";
        const VmmBackend *b = vmm_backend_find(vmm);
        if (b && !b->has_hmp) {
                if (asprintf(ret_error, "'%s' is not supported by %s: it has no human monitor (HMP) to ask", what, vmm) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        return 0;
}

int experiment_default_single_run(json_t *spec) {
        if (!json_object_get(spec, "runs") && json_object_set_new(spec, "runs", json_integer(1)) < 0)
                return -ENOMEM;
        if (!json_object_get(spec, "warmup") && json_object_set_new(spec, "warmup", json_integer(0)) < 0)
                return -ENOMEM;
        return 0;
}

static bool device_name_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;
        return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int mtree_validate(json_t *spec, char **ret_error) {
        int r = experiment_require_hmp(spec, "info mtree", ret_error);
        if (r < 0)
                return r;
        json_t *flat = json_object_get(spec, "flat"), *dev = json_object_get(spec, "device"), *d;
        if (flat && !json_is_boolean(flat))
                return asprintf(ret_error, "Field 'flat' must be true or false") < 0 ? -ENOMEM : -EINVAL;
        if (!flat)
                json_object_set_new(spec, "flat", json_false());
        if (json_is_string(dev))
                json_object_set_new(spec, "device", dev = json_pack("[O]", dev));
        if (!dev)
                json_object_set_new(spec, "device", dev = json_array());
        if (!json_is_array(dev) || json_array_size(dev) > DEVICES_MAX)
                return asprintf(ret_error, "Field 'device' must be a list of at most %d device names", DEVICES_MAX) < 0
                               ? -ENOMEM
                               : -EINVAL;
        size_t i;
        json_array_foreach(dev, i, d)
                if (!device_name_ok(json_string_value(d)))
                        return asprintf(ret_error, "Invalid device '%s': a QEMU device name like edu",
                                        json_is_string(d) ? json_string_value(d) : "(not a string)") < 0
                                       ? -ENOMEM
                                       : -EINVAL;
        return experiment_default_single_run(spec);
}

static int mtree_vm_extra_argv(Run *run, char ***argv, size_t *n) {
        json_t *d;
        size_t i;
        int r = 0;
        json_array_foreach(json_object_get(run_spec(run), "device"), i, d) {
                r = r ?: strv_push(argv, n, "-device");
                r = r ?: strv_push(argv, n, json_string_value(d));
        }
        return r;
}

static size_t count_regions(json_t *list) {
        json_t *o;
        size_t i, n = 0;
        json_array_foreach(list, i, o)
                n += 1 + count_regions(json_object_get(o, "children"));
        return n;
}

/* Parses one HMP reply into the sample under key; false after run_fail(). */
static bool store_tree(Run *run, int error, json_t *result, const char *desc, const char *key) {
        if (error < 0) {
                run_fail(run, "HMP info mtree failed: %s", desc ?: strerror(-error));
                return false;
        }
        const char *text = strempty(json_string_value(result));
        json_t *doc = NULL;
        size_t line = 0;
        int r = mtree_parse(text, strlen(text), &doc, &line);
        if (r < 0) {
                run_fail(run, "Cannot parse 'info mtree' output (line %zu): %s", line, strerror(-r));
                return false;
        }
        json_object_set_new(doc, "how", json_string(streq(key, "mtree") ? "QMP human-monitor-command \"info mtree\""
                                                                        : "QMP human-monitor-command \"info mtree -f\""));
        json_object_set_new(run_sample(run), key, doc);
        return true;
}

static void on_flat_reply(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata) {
        Run *run = userdata;
        if (error == -ECANCELED)
                return; /* the VM is being freed; the run is already ending */
        if (store_tree(run, error, result, desc, "mtree_flat"))
                run_stop_vm(run);
}

static void on_mtree_reply(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata) {
        Run *run = userdata;
        if (error == -ECANCELED)
                return;
        if (!store_tree(run, error, result, desc, "mtree"))
                return;
        json_t *doc = json_object_get(run_sample(run), "mtree"), *s;
        size_t i, n = 0;
        json_array_foreach(json_object_get(doc, "address_spaces"), i, s)
                n += count_regions(json_object_get(s, "regions"));
        json_object_set_new(run_sample(run), "regions", json_integer((json_int_t) n));
        if (!json_is_true(json_object_get(run_spec(run), "flat"))) {
                run_stop_vm(run);
                return;
        }
        if (qmp_client_hmp(c, "info mtree -f", HMP_TIMEOUT_USEC, on_flat_reply, run) < 0)
                run_fail(run, "Failed to send HMP info mtree -f");
}

static void mtree_start(Run *run) {
        run_set_phase(run, "mtree");
        QmpClient *q = run_qmp(run);
        if (!q || !run_vmm_has_hmp(run)) {
                run_fail(run, "'info mtree' needs QMP human-monitor-command, which this VMM lacks");
                return;
        }
        if (qmp_client_hmp(q, "info mtree", HMP_TIMEOUT_USEC, on_mtree_reply, run) < 0)
                run_fail(run, "Failed to send HMP info mtree");
}

static void mtree_on_guest_result(Run *run) {
        run_after_settle(run, mtree_start);
}

const ExperimentKind experiment_mtree = {
        .name = "mtree",
        .description = "QEMU memory-region tree (HMP info mtree [-f]) as JSON, text or graphviz",
        .guest_job = "hold",
        .metrics = mtree_metrics,
        .validate = mtree_validate,
        .on_guest_result = mtree_on_guest_result,
        .guest_powers_off = false,
        .spec_fields = mtree_fields,
        .vm_extra_argv = mtree_vm_extra_argv,
};
