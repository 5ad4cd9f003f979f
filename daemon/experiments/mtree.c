/* mtree.c — the lab's `info mtree`: boot a guest to job hold (so
 * the guest kernel has programmed the PCI BARs), ask QEMU over QMP
 * human-monitor-command for "info mtree" (and "info mtree -f" with flat),
 * parse the text with mtree.c and store the JSON tree in the run's sample.
 * Optional devices (edu, ...) are rendered by the backend.  VMMs without
 * HMP are refused at validation (hmp_use): an empty tree would be a lie. */
#include <stdio.h>

#include "backends/registry.h"
#include "experiments/experiment.h"
#include "mtree.h"
#include "qmp-client.h"

#define HMP_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define DEVICES_MAX 8

static const char *const mtree_metrics[] = { "regions", NULL };
static void on_mtree_reply(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata);

/* "device": a name or a list of names, each a device kind the backend renders. */
static int check_devices(json_t *spec, const SpecField *f, json_t *dev, char **ret_error) {
        json_t *d;
        size_t i;
        char known[128], b[SPEC_ECHO_MAX + 8];
        if (json_is_string(dev))
                json_object_set_new(spec, "device", dev = json_pack("[O]", dev));
        if (!json_is_array(dev) || json_array_size(dev) > DEVICES_MAX)
                return spec_fail(ret_error, "Field 'device' must be a list of at most %d device names", DEVICES_MAX);
        vm_device_kind_names(known, sizeof(known));
        json_array_foreach(dev, i, d)
                if (vm_device_kind_from_string(json_string_value(d)) < 0)
                        return spec_fail(ret_error, "Invalid device '%s': a device virtlab can add (known: %s)",
                                         spec_echo(d, b), known);
        return 0;
}

static const SpecField mtree_fields[] = {
        SPEC_BOOL_FIELD("flat", false),
        { .name = "device", .type = SPEC_ANY, .check = check_devices },
        {},
};

static const SpecDefault single_run[] = { { "runs", 1 }, { "warmup", 0 }, {} };

static int mtree_prepare(json_t *spec, char **ret_error) {
        if (!json_object_get(spec, "device"))
                return json_object_set_new(spec, "device", json_array()) < 0 ? -ENOMEM : 0;
        return 0;
}

static int mtree_devices(json_t *spec, VmDevice **ret, size_t *n) {
        json_t *list = json_object_get(spec, "device"), *d;
        size_t i;
        VmDevice *v = calloc(json_array_size(list) + 1, sizeof(VmDevice));
        if (!v)
                return -ENOMEM;
        json_array_foreach(list, i, d) v[i] = (VmDevice) { .kind = vm_device_kind_from_string(json_string_value(d)) };
        *ret = v;
        *n = json_array_size(list);
        return 0;
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
        .fields = mtree_fields,
        .defaults = single_run,
        .hmp_use = "info mtree",
        .prepare = mtree_prepare,
        .devices = mtree_devices,
        .on_guest_result = mtree_on_guest_result,
        .guest_powers_off = false,
};
