/* job.c — the experiment runner shared by every kind.
 *
 * A job owns at most one Run at a time.  A Run is one VM from spawn to reap:
 *   spawn → (QMP greeting) → first console byte → "Linux version" line →
 *   init marker → result frame → kind measures → power-off or QMP quit → reap.
 * Each milestone is a CLOCK_MONOTONIC timestamp; every run becomes a sample
 * row in the store the moment it ends.  A failed run fails the job: a sample
 * with holes would make the statistics lie. */
#include "job.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cpuset.h"
#include "summary.h"
#include "utf8.h"
#include "vm.h"
#include "spec.h"

#define INIT_MARKER "VIRTLAB-INIT-MARKER"
#define RESULT_PREFIX "@@VIRTLAB-RESULT@@ "
#define FRAME_BEGIN "@@VIRTLAB-BEGIN "
#define FRAME_END "@@VIRTLAB-END "
#define GUEST_OUTPUT_MAX (4 * 1024 * 1024)
#define QUIT_GRACE_USEC (5 * USEC_PER_SEC)
#define RUNS_MAX 1000
#define WARMUP_MAX 100
/* Most VMMs one job rotates through (a "compare" of qemu, qemu-microvm, stratovirt, ...). */
#define JOB_VMMS_MAX 4
/* VMM log lines StratoVirt's boot_time feature writes when the guest writes
 * 0x01 / 0x02 to I/O port 0x3ff. */
#define PORT_BOOT_START_LINE "Kernel starts to boot!"
#define PORT_BOOT_DONE_LINE "Kernel boot complete!"

struct Run {
        Job *job;              /* owner */
        unsigned index;        /* 0-based, warm-up runs first */
        unsigned vmm;          /* index into job->vmms: runs rotate A B C A B C ... */
        bool warmup;           /* discarded from statistics */
        Vm *vm;                /* the VMM, NULL once freed */
        json_t *sample;        /* the sample document being filled */
        usec_t t_kernel;       /* first "Linux version" console line */
        usec_t t_init;         /* init marker */
        usec_t t_result;       /* guest result frame */
        usec_t t_port_start;   /* VMM log: guest wrote 0x01 to port 0x3ff, 0 if not */
        usec_t t_port_done;    /* VMM log: guest wrote 0x02 to port 0x3ff, 0 if not */
        json_t *guest_result;  /* parsed @@VIRTLAB-RESULT@@ JSON */
        char *guest_output;    /* text between the BEGIN and END frame lines */
        size_t guest_output_len; /* bytes in guest_output */
        bool in_frame;         /* between BEGIN and END */
        char last_line[256];   /* last console line, for error messages */
        struct event *deadline; /* run timeout */
        struct event *timer;   /* run_after() */
        void (*timer_fn)(Run *run); /* what the timer calls */
        bool stopping;         /* run_stop_vm() was called: exit is success */
        void (*stopper)(void *data, bool now); /* ends what a start_run kind started */
        void *stopper_data;    /* for stopper */
        char *error;           /* why the run failed, NULL if it did not */
};

/* One VMM of a job: most jobs have one; a compare job rotates through several. */
typedef struct JobVmm {
        const VmmBackend *backend; /* which VMM */
        VmmInfo info;          /* binary path and version */
        Accel accel;           /* resolved accelerator for this VMM */
        const char *accel_reason; /* why that accelerator */
} JobVmm;

struct Job {
        JobContext ctx;        /* shared daemon facilities */
        JobObserver obs;       /* manager's callbacks */
        uint32_t id;           /* store id */
        const ExperimentKind *kind; /* what is measured */
        JobVmm vmms[JOB_VMMS_MAX]; /* the VMMs runs rotate through; [0] is the reference */
        size_t n_vmms;         /* entries in vmms, >= 1 */
        char *vmm_label;       /* "qemu" or "qemu,qemu-microvm": what ListJobs shows */
        json_t *spec;          /* validated spec */
        json_t *image;         /* image.json of the guest image */
        json_t *samples;       /* every run's sample, in order */
        json_t *environment;   /* what the result records about the setup */
        JobState state;        /* lifecycle */
        const char *phase;     /* current run's phase, for progress */
        unsigned runs_total;   /* warm-up + measured */
        unsigned warmup;       /* warm-up runs, per VMM */
        unsigned runs_done;    /* finished runs */
        Run *run;              /* current run */
        struct event *next_event; /* continues after a run, from a fresh loop iteration */
        char *error;           /* why the job failed */
        char *started_at;      /* ISO 8601 UTC, when the first run began */
        bool cancel_requested; /* cancel arrived while a VM ran */
};

static void run_on_console_line(Vm *vm, usec_t t, const char *line, void *userdata);
static void run_on_qmp_ready(Vm *vm, void *userdata);
static void run_on_exit(Vm *vm, int wait_status, void *userdata);
static void run_on_vmm_log_line(Vm *vm, usec_t t, const char *line, void *userdata);
static void run_on_deadline(evutil_socket_t fd, short what, void *userdata);
static void run_on_timer(evutil_socket_t fd, short what, void *userdata);
static void job_next_deferred(evutil_socket_t fd, short what, void *userdata);
static void job_finish(Job *job, JobState state, const char *error);

static const char *const job_state_table[_JOB_STATE_MAX] = {
        [JOB_QUEUED] = "queued", [JOB_RUNNING] = "running", [JOB_DONE] = "done",
        [JOB_FAILED] = "failed", [JOB_CANCELED] = "canceled",
};

const char *job_state_to_string(JobState s) {
        return s >= 0 && s < _JOB_STATE_MAX ? job_state_table[s] : NULL;
}

uint32_t job_id(const Job *job) { return job->id; }
const ExperimentKind *job_kind(const Job *job) { return job->kind; }
JobState job_state(const Job *job) { return job->state; }
const char *job_phase(const Job *job) { return job->phase ?: ""; }
unsigned job_runs_done(const Job *job) { return job->runs_done; }
unsigned job_runs_total(const Job *job) { return job->runs_total; }
const char *job_error(const Job *job) { return job->error; }
const char *job_vmm(const Job *job) { return job->vmm_label; }
bool job_bound_to_client(const Job *job) { return json_is_true(json_object_get(job->spec, "bind_to_client")); }

double job_progress(const Job *job) {
        if (job->state >= JOB_DONE)
                return 1.0;
        return job->runs_total ? (double) job->runs_done / job->runs_total : 0.0;
}

static void job_notify_changed(Job *job) {
        if (job->obs.changed)
                job->obs.changed(job, job->obs.userdata);
}

/* ---- spec validation -------------------------------------------------- */

static int check_vmm(json_t *spec, char **ret_error) {
        json_t *v = json_object_get(spec, "vmm");
        if (!v)
                json_object_set_new(spec, "vmm", v = json_string("qemu"));
        const char *name = json_string_value(v);
        if (!name)
                return spec_fail(ret_error, "Field 'vmm' must be a string");
        if (vmm_backend_find(name))
                return 0;
        char known[256] = "";
        for (const VmmBackend *const *b = vmm_backends(); *b; b++)
                snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", known[0] ? ", " : "", (*b)->name);
        return spec_fail(ret_error, "Unknown VMM '%s' (known: %s)", name, known);
}

/* "vmms": ["qemu", "qemu-microvm", ...] makes a compare job: runs rotate
 * through them.  "vmm" then defaults to (and must equal) the first. */
static int check_vmms(json_t *spec, char **ret_error) {
        json_t *v = json_object_get(spec, "vmms"), *e;
        size_t i;
        if (!v)
                return 0;
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > JOB_VMMS_MAX)
                return spec_fail(ret_error, "Field 'vmms' must be an array of 1 to %d VMM names", JOB_VMMS_MAX);
        json_array_foreach(v, i, e) {
                const char *name = json_string_value(e);
                if (!name)
                        return spec_fail(ret_error, "Field 'vmms' must hold VMM names (strings)");
                for (size_t k = 0; k < i; k++)
                        if (streq(name, json_string_value(json_array_get(v, k))))
                                return spec_fail(ret_error, "VMM '%s' appears twice in 'vmms'", name);
        }
        json_t *first = json_array_get(v, 0), *vmm = json_object_get(spec, "vmm");
        if (vmm && !json_equal(vmm, first))
                return spec_fail(ret_error, "Field 'vmm' ('%s') must be the first of 'vmms' ('%s')",
                                  json_is_string(vmm) ? json_string_value(vmm) : "(not a string)", json_string_value(first));
        return json_object_set(spec, "vmm", first) < 0 ? -ENOMEM : 0;
}

/* Checks each VMM of the spec ("vmms", else "vmm") by name and what it can run. */
static int check_vmm_each(json_t *spec, char **ret_error) {
        json_t *list = json_object_get(spec, "vmms"), *e;
        json_auto_t *one = list ? NULL : json_pack("[O]", json_object_get(spec, "vmm"));
        size_t i;
        json_array_foreach(list ?: one, i, e) {
                json_t *tmp = json_pack("{s:O}", "vmm", e);
                int r = tmp ? check_vmm(tmp, ret_error) : -ENOMEM;
                json_decref(tmp);
                if (r < 0)
                        return r;
                const VmmBackend *b = vmm_backend_find(json_string_value(e));
                if (b->needs_kvm && accel_from_string(json_string_value(json_object_get(spec, "accel"))) == ACCEL_TCG)
                        return spec_fail(ret_error, "VMM '%s' has no TCG: use --accel kvm or auto", b->name);
                json_int_t mib = json_integer_value(json_object_get(spec, "memory_mib"));
                if (b->min_memory_mib && mib < b->min_memory_mib)
                        return spec_fail(ret_error, "Invalid memory_mib %" JSON_INTEGER_FORMAT ": VMM '%s' needs at least %u",
                                          mib, b->name, b->min_memory_mib);
        }
        return 0;
}

static int check_accel(json_t *spec, char **ret_error) {
        json_t *v = json_object_get(spec, "accel");
        if (!v)
                return json_object_set_new(spec, "accel", json_string("auto")) < 0 ? -ENOMEM : 0;
        if (accel_from_string(json_string_value(v)) < 0)
                return spec_fail(ret_error, "Invalid accel '%s': must be auto, kvm or tcg",
                                  json_is_string(v) ? json_string_value(v) : "(not a string)");
        return 0;
}

static const char *const common_fields[] = {
        "vmm", "vmms", "runs", "warmup", "accel", "memory_mib", "vcpus", "timeout_s", "settle_ms", "image", "bind_to_client",
        "drop_caches", "pin_cpus",
};

static int check_unknown_fields(const ExperimentKind *kind, json_t *spec, char **ret_error) {
        const char *key;
        json_t *v;
        json_object_foreach(spec, key, v) {
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(common_fields); i++)
                        known = known || streq(key, common_fields[i]);
                for (const char *const *f = kind->spec_fields; f && *f; f++)
                        known = known || streq(key, *f);
                if (!known)
                        return spec_fail(ret_error, "Unknown field '%s' in experiment spec", key);
        }
        return 0;
}

static int check_image(json_t *spec, const JobContext *ctx, char **ret_error) {
        json_t *v = json_object_get(spec, "image");
        if (v && !json_is_string(v))
                return spec_fail(ret_error, "Field 'image' must be a directory path");
        const char *dir = v ? json_string_value(v) : ctx->image_dir;
        char path[4096];
        snprintf(path, sizeof(path), "%s/image.json", dir);
        if (access(path, R_OK) < 0)
                return spec_fail(ret_error, "Guest image not found: %s (build it with 'make image')", path);
        if (!v)
                json_object_set_new(spec, "image", json_string(dir));
        return 0;
}

static int check_pin_cpus(json_t *spec, char **ret_error) {
        json_t *v = json_object_get(spec, "pin_cpus");
        cpu_set_t set;
        if (!v)
                return 0;
        int r = json_is_string(v) ? cpuset_parse(json_string_value(v), &set) : -EINVAL;
        if (r == -ENXIO)
                return spec_fail(ret_error, "Invalid pin_cpus '%s': names a CPU that is not online here",
                                 json_string_value(v));
        if (r < 0)
                return spec_fail(ret_error, "Invalid pin_cpus '%s': expected a CPU list like 0 or 0-1 or 0,2",
                                 json_is_string(v) ? json_string_value(v) : "(not a string)");
        return 0;
}

int job_spec_validate(const ExperimentKind *kind, json_t *spec, const JobContext *ctx, char **ret_error) {
        if (!json_is_object(spec))
                return spec_fail(ret_error, "Experiment spec must be a JSON object");
        int r = check_unknown_fields(kind, spec, ret_error);
        r = r ?: kind->validate(spec, ret_error);
        r = r ?: check_vmms(spec, ret_error);
        r = r ?: check_vmm(spec, ret_error);
        r = r ?: spec_check_int(spec, "runs", 10, 1, RUNS_MAX, ret_error);
        r = r ?: spec_check_int(spec, "warmup", 1, 0, WARMUP_MAX, ret_error);
        r = r ?: spec_check_int(spec, "memory_mib", 256, 64, 65536, ret_error);
        r = r ?: spec_check_int(spec, "vcpus", 1, 1, 64, ret_error);
        r = r ?: spec_check_int(spec, "timeout_s", 60, 1, 3600, ret_error);
        r = r ?: spec_check_int(spec, "settle_ms", 500, 0, 60000, ret_error);
        r = r ?: check_accel(spec, ret_error);
        r = r ?: check_vmm_each(spec, ret_error);
        r = r ?: check_image(spec, ctx, ret_error);
        r = r ?: spec_check_bool(spec, "drop_caches", false, ret_error);
        r = r ?: check_pin_cpus(spec, ret_error);
        json_t *b = json_object_get(spec, "bind_to_client");
        if (r == 0 && b && !json_is_boolean(b))
                return spec_fail(ret_error, "Field 'bind_to_client' must be true or false");
        return r;
}

/* ---- job lifecycle ---------------------------------------------------- */

static unsigned spec_uint(const Job *job, const char *field) {
        return (unsigned) json_integer_value(json_object_get(job->spec, field));
}

static int job_load_image(Job *job) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/image.json", json_string_value(json_object_get(job->spec, "image")));
        json_error_t e;
        job->image = json_load_file(path, 0, &e);
        if (!job->image) {
                log_debug("Failed to parse %s: %s", path, e.text);
                return -EBADMSG;
        }
        return 0;
}

int job_new(const JobContext *ctx, const ExperimentKind *kind, json_t *spec, const JobObserver *obs, Job **ret) {
        Job *job = calloc(1, sizeof(Job));
        if (!job)
                return -ENOMEM;
        *job = (Job) { .ctx = *ctx, .obs = obs ? *obs : (JobObserver) {}, .kind = kind, .spec = json_incref(spec),
                       .state = JOB_QUEUED, .samples = json_array() };
        json_t *list = json_object_get(spec, "vmms"), *e;
        size_t i;
        if (list)
                json_array_foreach(list, i, e) job->vmms[job->n_vmms++].backend = vmm_backend_find(json_string_value(e));
        else
                job->vmms[job->n_vmms++].backend = vmm_backend_find(json_string_value(json_object_get(spec, "vmm")));
        size_t label = 0;
        for (i = 0; i < job->n_vmms; i++)
                label += strlen(job->vmms[i].backend->name) + 1;
        job->vmm_label = calloc(1, label);
        for (i = 0; job->vmm_label && i < job->n_vmms; i++)
                strcat(strcat(job->vmm_label, i ? "," : ""), job->vmms[i].backend->name);
        job->next_event = evtimer_new(ctx->base, job_next_deferred, job);
        /* Warm-up and measured runs are per VMM: one warm-up each by default. */
        job->warmup = spec_uint(job, "warmup");
        job->runs_total = (job->warmup + spec_uint(job, "runs")) * (unsigned) job->n_vmms;
        _cleanup_free_ char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
        int r = text && job->next_event && job->vmm_label ? store_job_create(ctx->store, kind->name, text, &job->id)
                                                          : -ENOMEM;
        if (r < 0) {
                job_free(job, NULL);
                return r;
        }
        *ret = job;
        return 0;
}

static json_t *job_environment(Job *job) {
        const char *marker = json_string_value(json_object_get(job->image, "marker"));
        json_t *vmms = json_array();
        for (size_t i = 0; vmms && i < job->n_vmms; i++) {
                json_t *v = vmm_info_to_json(job->vmms[i].backend, &job->vmms[i].info);
                json_object_set_new(v, "accel", json_string(accel_to_string(job->vmms[i].accel)));
                json_object_set_new(v, "accel_reason", json_string(job->vmms[i].accel_reason));
                json_array_append_new(vmms, v);
        }
        return json_pack("{s:o, s:o, s:o, s:s, s:s, s:O, s:s, s:I, s:I, s:s}", "host", host_to_json(job->ctx.host), "vmm",
                         vmm_info_to_json(job->vmms[0].backend, &job->vmms[0].info), "vmms", vmms, "accel",
                         accel_to_string(job->vmms[0].accel), "accel_reason", job->vmms[0].accel_reason, "image",
                         job->image, "marker", marker ?: INIT_MARKER, "vcpus", (json_int_t) spec_uint(job, "vcpus"),
                         "memory_mib", (json_int_t) spec_uint(job, "memory_mib"), "kind", job->kind->name);
}

/* Resolves the accelerator for one VMM.  A VMM without TCG (StratoVirt) runs
 * on KVM whatever `auto` would pick; on a kvm_pvm host that is expected to
 * fail, and the reason says so up front.  Returns -ENODEV when it cannot run
 * here at all, with the sentence in *ret_error. */
static int job_resolve_accel(Job *job, JobVmm *v, const char **ret_error) {
        const HostInfo *h = job->ctx.host;
        Accel want = accel_from_string(json_string_value(json_object_get(job->spec, "accel")));
        v->accel = host_resolve_accel(h, want, &v->accel_reason);
        if (!v->backend->needs_kvm || v->accel == ACCEL_KVM) {
                if (v->backend->needs_kvm && h->kvm == KVM_FLAVOUR_PVM)
                        v->accel_reason = "KVM (this VMM has no TCG) although this host's KVM is kvm_pvm, under which a "
                                          "Linux guest hangs: the run is expected to fail at its timeout";
                return 0;
        }
        if (h->kvm == KVM_FLAVOUR_NONE || !h->kvm_usable) {
                *ret_error = h->kvm == KVM_FLAVOUR_NONE
                                     ? "this VMM has no TCG and needs KVM, but this host has no /dev/kvm"
                                     : "this VMM has no TCG and needs KVM, but /dev/kvm cannot be opened read-write";
                return -ENODEV;
        }
        v->accel = ACCEL_KVM;
        v->accel_reason = h->kvm == KVM_FLAVOUR_PVM
                                  ? "KVM (this VMM has no TCG) although this host's KVM is kvm_pvm, under which a Linux "
                                    "guest hangs: the run is expected to fail at its timeout"
                                  : "KVM (this VMM has no TCG)";
        return 0;
}

static int run_begin(Job *job);

static char *iso_now(void) {
        char buf[64];
        time_t t = time(NULL);
        struct tm tm;
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        return strdup(buf);
}


int job_start(Job *job) {
        const char *unusable = NULL;
        _cleanup_free_ char *why = NULL;
        for (size_t i = 0; i < job->n_vmms; i++) {
                vmm_probe(job->vmms[i].backend, &job->vmms[i].info);
                const char *no_accel = NULL;
                if (job_resolve_accel(job, &job->vmms[i], &no_accel) < 0 && !unusable &&
                    asprintf(&why, "%s: %s", job->vmms[i].backend->name, no_accel) < 0)
                        why = NULL;
                if (!unusable)
                        unusable = job->vmms[i].info.error ?: why;
        }
        int r = job_load_image(job);
        if (r < 0) {
                job_finish(job, JOB_FAILED, "guest image description (image.json) is unreadable");
                return r;
        }
        job->environment = job_environment(job);
        job->started_at = iso_now();
        job->state = JOB_RUNNING;
        (void) store_job_set_running(job->ctx.store, job->id);
        if (unusable) {
                job_finish(job, JOB_FAILED, unusable);
                return -ENOENT;
        }
        log_info("Job %u: %s on %s, %u runs (%u warm-up per VMM), accel %s: %s", job->id, job->kind->name,
                 job->vmm_label, job->runs_total, job->warmup, accel_to_string(job->vmms[0].accel),
                 job->vmms[0].accel_reason);
        job_notify_changed(job);
        return run_begin(job);
}

/* ---- one run ---------------------------------------------------------- */

json_t *run_spec(Run *run) { return run->job->spec; }
const char *run_guest_output(Run *run) { return run->guest_output ?: ""; }
json_t *run_guest_result(Run *run) { return run->guest_result; }
unsigned run_index(Run *run) { return run->index; }
const char *run_logs_dir(Run *run) { return store_logs_dir(run->job->ctx.store); }
bool run_is_warmup(Run *run) { return run->warmup; }
struct event_base *run_event_base(Run *run) { return run->job->ctx.base; }
json_t *run_sample(Run *run) { return run->sample; }
pid_t run_vmm_pid(Run *run) { return run->vm ? vm_pid(run->vm) : 0; }
QmpClient *run_qmp(Run *run) { return run->vm ? vm_qmp(run->vm) : NULL; }

QmpClient *job_running_hmp(Job *job) {
        Run *run = job->run;
        return run && run->vm && vm_running(run->vm) && run_vmm_has_hmp(run) ? run_qmp(run) : NULL;
}
bool run_vmm_has_hmp(Run *run) { return run->job->vmms[run->vmm].backend->has_hmp; }

void run_set_phase(Run *run, const char *phase) {
        run->job->phase = phase;
        job_notify_changed(run->job);
}

static char *run_cmdline(Run *run) {
        const Job *job = run->job;
        _cleanup_free_ char *extra = NULL;
        if (job->kind->guest_cmdline && job->kind->guest_cmdline(run, &extra) < 0)
                return NULL;
        bool own_job = extra && strstr(extra, "virtlab.job=");
        const char *base = json_string_value(json_object_get(job->image, "cmdline_base")) ?: "console=ttyS0 reboot=t panic=-1";
        char tsc[48] = "";
        /* Without a PIT, a TCG guest calibrates against nothing and may hang. */
        if (job->ctx.host->tsc_khz)
                snprintf(tsc, sizeof(tsc), " tsc_early_khz=%lu", job->ctx.host->tsc_khz);
        char *s = NULL;
        if (asprintf(&s, "%s%s%s%s%s%s", base, tsc, own_job ? "" : " virtlab.job=", own_job ? "" : job->kind->guest_job,
                     extra ? " " : "", strempty(extra)) < 0)
                return NULL;
        return s;
}

/* The image's kernel in the format the backend boots (image.json keys
 * "vmlinux", "bzimage", "raw"). */
static const char *image_kernel(const Job *job, const VmmBackend *b) {
        const char *key = b->kernel_format == KERNEL_FORMAT_VMLINUX ? "vmlinux"
                          : b->kernel_format == KERNEL_FORMAT_BZIMAGE ? "bzimage" : "raw";
        return json_string_value(json_object_get(job->image, key));
}

/* sync + drop the page cache, so every run starts from the same cold cache
 * (DESIGN §4, on request).  Needs root. */
static int drop_caches(void) {
        sync();
        _cleanup_close_ int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "3\n", 2) != 2)
                return -errno;
        return 0;
}

static int run_spawn(Run *run) {
        Job *job = run->job;
        if (json_is_true(json_object_get(job->spec, "drop_caches"))) {
                int r = drop_caches();
                if (r < 0) {
                        run_fail(run, "drop_caches requested, but writing /proc/sys/vm/drop_caches failed: %s", strerror(-r));
                        return r;
                }
                json_object_set_new(run->sample, "caches_dropped", json_true());
        }
        cpu_set_t pin;
        const char *pin_list = json_string_value(json_object_get(job->spec, "pin_cpus"));
        if (pin_list && cpuset_parse(pin_list, &pin) < 0) {
                run_fail(run, "pin_cpus '%s' no longer names online CPUs", pin_list);
                return -ENXIO;
        }
        _cleanup_free_ char *cmdline = run_cmdline(run), *log_dir = NULL, *log_path = NULL;
        if (!cmdline || asprintf(&log_dir, "%s/job-%u", store_logs_dir(job->ctx.store), job->id) < 0 ||
            asprintf(&log_path, "%s/run-%u.log", log_dir, run->index) < 0)
                return -ENOMEM;
        if (mkdir(log_dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        const JobVmm *jv = &job->vmms[run->vmm];
        const char *kernel = image_kernel(job, jv->backend);
        if (!kernel)
                return -ENOENT;
        char **extra = NULL;
        size_t n_extra = 0;
        if (job->kind->vm_extra_argv) {
                int r = job->kind->vm_extra_argv(run, &extra, &n_extra);
                if (r < 0) {
                        strv_free(extra);
                        return r;
                }
        }
        _cleanup_free_ VmDisk *disks = NULL;
        size_t n_disks = 0;
        if (job->kind->vm_disks) {
                int r = job->kind->vm_disks(run, &disks, &n_disks);
                if (r < 0) {
                        strv_free(extra);
                        return r;
                }
        }
        VmSpawnOptions o = {
                .backend = jv->backend,
                .binary = jv->info.path,
                .config = { .kernel = kernel,
                            .initrd = json_string_value(json_object_get(job->image, "initramfs")),
                            .cmdline = cmdline,
                            .memory_mib = spec_uint(job, "memory_mib"),
                            .vcpus = spec_uint(job, "vcpus"),
                            .accel = jv->accel,
                            .qmp_fd = -EBADF,
                            .serial_fd = -EBADF,
                            .extra_argv = extra,
                            .disks = disks,
                            .n_disks = n_disks },
                .run_dir = job->ctx.run_dir,
                .console_log = log_path,
                .affinity = pin_list ? &pin : NULL,
        };
        if (pin_list)
                json_object_set_new(run->sample, "pinned_cpus", json_string(pin_list));
        json_object_set_new(run->sample, "console_log", json_string(log_path));
        json_object_set_new(run->sample, "cmdline", json_string(cmdline));
        static const VmCallbacks cb = {
                .on_console_line = run_on_console_line,
                .on_qmp_ready = run_on_qmp_ready,
                .on_exit = run_on_exit,
                .on_vmm_log_line = run_on_vmm_log_line,
        };
        int r = vm_spawn(job->ctx.base, &o, &cb, run, &run->vm);
        strv_free(extra);
        return r;
}

static Run *run_free(Run *run) {
        if (!run)
                return NULL;
        vm_free(run->vm);
        if (run->deadline)
                event_free(run->deadline);
        if (run->timer)
                event_free(run->timer);
        json_decref(run->sample);
        json_decref(run->guest_result);
        free(run->guest_output);
        free(run->error);
        free(run);
        return NULL;
}

static void run_finalize(Run *run);

static int run_begin(Job *job) {
        Run *run = calloc(1, sizeof(Run));
        if (!run)
                return -ENOMEM;
        run->job = job;
        run->index = job->runs_done;
        run->vmm = run->index % (unsigned) job->n_vmms;
        run->warmup = run->index < job->warmup * (unsigned) job->n_vmms;
        run->sample = json_pack("{s:I, s:b, s:s, s:s}", "index", (json_int_t) run->index, "warmup", run->warmup, "vmm",
                                job->vmms[run->vmm].backend->name, "accel", accel_to_string(job->vmms[run->vmm].accel));
        run->deadline = evtimer_new(job->ctx.base, run_on_deadline, run);
        run->timer = evtimer_new(job->ctx.base, run_on_timer, run);
        job->run = run;
        job->phase = "spawn";
        job_notify_changed(job);
        int r = !run->sample || !run->deadline || !run->timer ? -ENOMEM
                : job->kind->start_run                        ? job->kind->start_run(run)
                                                              : run_spawn(run);
        if (r < 0) {
                run_fail(run, "Failed to start %s: %s", job->vmms[run->vmm].info.path, strerror(-r));
                run_finalize(run);
                return r;
        }
        struct timeval tv = { .tv_sec = spec_uint(job, "timeout_s") };
        (void) evtimer_add(run->deadline, &tv);
        return 0;
}

void run_set_stopper(Run *run, void (*stop)(void *data, bool now), void *data) {
        run->stopper = stop;
        run->stopper_data = data;
}

void run_complete(Run *run) {
        run->stopper = NULL;
        run_finalize(run);
}

void run_fail(Run *run, const char *fmt, ...) {
        if (run->error)
                return; /* the first cause is the one worth reporting */
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&run->error, fmt, ap) < 0)
                run->error = strdup("run failed");
        va_end(ap);
        (void) utf8_scrub(run->error); /* it reaches D-Bus and JSON */
        log_debug("Job %u run %u failed: %s", run->job->id, run->index, run->error);
        vm_kill(run->vm);
        if (run->stopper)
                run->stopper(run->stopper_data, false);
}

int run_after(Run *run, usec_t delay, void (*fn)(Run *run)) {
        struct timeval tv = { .tv_sec = (time_t) (delay / USEC_PER_SEC), .tv_usec = (suseconds_t) (delay % USEC_PER_SEC) };
        run->timer_fn = fn;
        return evtimer_add(run->timer, &tv) < 0 ? -EIO : 0;
}

void run_after_settle(Run *run, void (*fn)(Run *run)) {
        run_set_phase(run, "settle");
        if (run_after(run, (usec_t) spec_uint(run->job, "settle_ms") * USEC_PER_MSEC, fn) < 0)
                run_fail(run, "Failed to arm the settle timer");
}

static void run_on_timer(evutil_socket_t fd, short what, void *userdata) {
        Run *run = userdata;
        if (run->timer_fn && !run->error && run->vm && vm_running(run->vm))
                run->timer_fn(run);
}

static void quit_reply(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata) {
        /* EOF right after "quit" is the normal outcome; the exit path decides. */
}

static void run_kill_after_grace(Run *run) {
        vm_kill(run->vm);
}

void run_stop_vm(Run *run) {
        run->stopping = true;
        run_set_phase(run, "shutdown");
        QmpClient *q = run_qmp(run);
        if (!q || qmp_client_call(q, "quit", NULL, QUIT_GRACE_USEC, quit_reply, run) < 0)
                vm_kill(run->vm);
        else
                (void) run_after(run, QUIT_GRACE_USEC, run_kill_after_grace);
}

/* CPU seconds (user + system) the process used, -1 if unknown. */
static double proc_cpu_seconds(pid_t pid) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *p = strrchr(buf, ')');
        unsigned long long utime, stime;
        /* After "pid (comm)": state and 10 more fields, then utime and stime. */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return -1;
        return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}

static void run_on_deadline(evutil_socket_t fd, short what, void *userdata) {
        Run *run = userdata;
        unsigned limit = spec_uint(run->job, "timeout_s");
        const HostInfo *h = run->job->ctx.host;
        const JobVmm *jv = &run->job->vmms[run->vmm];
        const char *hint = jv->accel == ACCEL_KVM && h->kvm == KVM_FLAVOUR_PVM
                                   ? jv->backend->needs_kvm
                                             ? " (this host's KVM is kvm_pvm, where Linux guests hang, and this VMM has no TCG)"
                                             : " (this host's KVM is kvm_pvm, where Linux guests hang: use --accel tcg)"
                                   : "";
        /* Alive but silent: say how busy it was, so "stuck" and "spinning" differ. */
        char state[160] = "";
        double cpu = run->vm && vm_running(run->vm) ? proc_cpu_seconds(vm_pid(run->vm)) : -1;
        if (cpu >= 0)
                snprintf(state, sizeof(state), "; VMM process alive but stuck (%.1f s CPU used, %s)", cpu,
                         vm_t_console(run->vm) ? "console went quiet" : "no console output at all");
        if (!run->t_init)
                run_fail(run, "No init marker within %u s%s%s; last console line: '%s'", limit, hint, state,
                         run->last_line);
        else if (!run->t_result)
                run_fail(run, "Guest init printed its marker but no result within %u s; last console line: '%s'", limit,
                         run->last_line);
        else
                run_fail(run, "VMM did not exit within %u s after the guest finished", limit);
}

static double ms_since_spawn(const Run *run, usec_t t) {
        return t ? (double) (t - vm_t_spawn(run->vm)) / USEC_PER_MSEC : -1.0;
}

static void run_on_guest_result_line(Run *run, usec_t t, const char *json_text) {
        json_error_t e;
        /* Trailing bytes after the object (a stray kernel message) are not the guest's. */
        json_t *res = json_loads(json_text, JSON_DISABLE_EOF_CHECK, &e);
        if (!json_is_object(res)) {
                json_decref(res);
                run_fail(run, "Guest result frame is not a JSON object: %s", e.text);
                return;
        }
        run->t_result = t;
        run->guest_result = res;
        json_int_t rc = json_integer_value(json_object_get(res, "rc"));
        if (rc != 0) {
                run_fail(run, "Guest job '%s' failed with rc %" JSON_INTEGER_FORMAT, run->job->kind->guest_job, rc);
                return;
        }
        run->job->kind->on_guest_result(run);
}

/* printk lines ("[    1.234567] ...") that land inside a frame are not job output. */
static bool is_printk_line(const char *line) {
        size_t i = 0;
        if (line[i++] != '[')
                return false;
        while (line[i] == ' ')
                i++;
        size_t digits = strspn(line + i, "0123456789");
        return digits > 0 && line[i + digits] == '.' && strchr(line + i, ']') != NULL;
}

static void run_append_guest_output(Run *run, const char *line) {
        if (is_printk_line(line) || run->guest_output_len > GUEST_OUTPUT_MAX)
                return;
        size_t n = strlen(line);
        char *p = realloc(run->guest_output, run->guest_output_len + n + 2);
        if (!p)
                return;
        memcpy(p + run->guest_output_len, line, n);
        run->guest_output_len += n;
        p[run->guest_output_len++] = '\n';
        p[run->guest_output_len] = 0;
        run->guest_output = p;
}

static void run_on_console_line(Vm *vm, usec_t t, const char *line, void *userdata) {
        Run *run = userdata;
        snprintf(run->last_line, sizeof(run->last_line), "%s", line);
        if (!run->t_kernel && strstr(line, "Linux version ")) {
                run->t_kernel = t;
                run_set_phase(run, "kernel");
        }
        if (!run->t_init && strstr(line, INIT_MARKER)) {
                run->t_init = t;
                run_set_phase(run, "init");
        }
        if (strncmp(line, FRAME_END, strlen(FRAME_END)) == 0)
                run->in_frame = false;
        else if (run->in_frame) {
                run_append_guest_output(run, line);
                if (run->job->kind->on_guest_line && !is_printk_line(line))
                        run->job->kind->on_guest_line(run, line);
        }
        else if (strncmp(line, FRAME_BEGIN, strlen(FRAME_BEGIN)) == 0)
                run->in_frame = true;
        /* strstr, not a prefix match: a stray kernel message may precede it on the line. */
        const char *result = run->t_result ? NULL : strstr(line, RESULT_PREFIX);
        if (result)
                run_on_guest_result_line(run, t, result + strlen(RESULT_PREFIX));
}

static void run_on_qmp_ready(Vm *vm, void *userdata) {
        Run *run = userdata;
        _cleanup_free_ char *version = NULL;
        if (qmp_client_version(vm_qmp(vm), &version) >= 0)
                json_object_set_new(run->sample, "vmm_qmp_version", json_string(version));
        if (!run->t_kernel)
                run_set_phase(run, "firmware");
}

static void run_record_phases(Run *run) {
        Vm *vm = run->vm;
        json_t *s = run->sample;
        json_object_set_new(s, "t_spawn_ms", json_real(0.0));
        json_object_set_new(s, "t_exec_ms", json_real(ms_since_spawn(run, vm_t_exec(vm))));
        if (vm_t_qmp(vm))
                json_object_set_new(s, "t_qmp_ms", json_real(ms_since_spawn(run, vm_t_qmp(vm))));
        if (vm_t_console(vm))
                json_object_set_new(s, "t_console_ms", json_real(ms_since_spawn(run, vm_t_console(vm))));
        if (run->t_kernel)
                json_object_set_new(s, "t_kernel_ms", json_real(ms_since_spawn(run, run->t_kernel)));
        if (run->t_init) {
                json_object_set_new(s, "t_init_ms", json_real(ms_since_spawn(run, run->t_init)));
                json_object_set_new(s, "boot_ms", json_real(ms_since_spawn(run, run->t_init)));
        }
        json_t *g = run->guest_result;
        json_t *ns = g ? json_object_get(g, "boottime_at_marker_ns") : NULL;
        if (json_is_integer(ns))
                json_object_set_new(s, "guest_uptime_at_init_ms", json_real((double) json_integer_value(ns) / 1e6));
        if (g)
                json_object_set(s, "guest", g);
        if (run->t_port_start)
                json_object_set_new(s, "t_port_boot_start_ms", json_real(ms_since_spawn(run, run->t_port_start)));
        if (run->t_port_done)
                json_object_set_new(s, "t_port_boot_done_ms", json_real(ms_since_spawn(run, run->t_port_done)));
        if (vm_log_path(vm))
                json_object_set_new(s, "vmm_log", json_string(vm_log_path(vm)));
        json_object_set_new(s, "vmm_argv", strv_to_json(vm_argv(vm)));
}

/* A KVM failure in the VMM's own log ("KVM internal error", a failed
 * KVM_RUN, an emulation failure) ends the run at once with that line as the
 * reason, instead of waiting for the timeout. */
static bool is_kvm_error_line(const char *line) {
        if (!strcasestr(line, "kvm"))
                return false;
        return strcasestr(line, "internal error") || strcasestr(line, "emulation failure") ||
               (strcasestr(line, "KVM_RUN") && strcasestr(line, "fail")) ||
               (strcasestr(line, "KVM_RUN") && strcasestr(line, "error"));
}

static void run_on_vmm_log_line(Vm *vm, usec_t t, const char *line, void *userdata) {
        Run *run = userdata;
        if (!run->t_port_start && strstr(line, PORT_BOOT_START_LINE))
                run->t_port_start = t;
        else if (!run->t_port_done && strstr(line, PORT_BOOT_DONE_LINE))
                run->t_port_done = t;
        else if (!run->t_init && is_kvm_error_line(line))
                run_fail(run, "KVM error in the VMM's log before the init marker: %s", line);
}

/* Copies the last non-empty line of text (the VMM's final complaint). */
static void last_line_of(const char *text, char *buf, size_t size) {
        size_t end = strlen(text);
        while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' '))
                end--;
        size_t start = end;
        while (start > 0 && text[start - 1] != '\n')
                start--;
        snprintf(buf, size, "%.*s", (int) (end - start), text + start);
}

/* Decides, once the VM is reaped, whether the run succeeded. */
static void run_judge_exit(Run *run, int wait_status) {
        char how[128];
        vm_describe_status(wait_status, how, sizeof(how));
        json_object_set_new(run->sample, "vmm_exit", json_string(how));
        if (run->error || run->stopping)
                return;
        if (run->job->kind->guest_powers_off && run->t_result && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
                return;
        char tail[512];
        last_line_of(vm_diagnostics(run->vm), tail, sizeof(tail));
        run_fail(run, "%s %s %s%s%s", run->job->vmms[run->vmm].backend->binary, how,
                 !run->t_init ? "before the init marker" : !run->t_result ? "before the guest result" : "unexpectedly",
                 tail[0] ? ": " : "", tail);
}

static void run_on_exit(Vm *vm, int wait_status, void *userdata) {
        Run *run = userdata;
        run_judge_exit(run, wait_status);
        run_finalize(run);
}

/* Stores the sample, tells the observer, and continues with the next run
 * from a fresh loop iteration (never free a VM inside its own callback). */
static void run_finalize(Run *run) {
        Job *job = run->job;
        if (run->vm)
                run_record_phases(run);
        json_object_set_new(run->sample, "ok", json_boolean(!run->error));
        json_object_set_new(run->sample, "error", run->error ? json_string(run->error) : json_null());
        _cleanup_free_ char *text = json_dumps(run->sample, JSON_COMPACT);
        if (text)
                (void) store_run_add(job->ctx.store, job->id, run->index, text);
        json_array_append(job->samples, run->sample);
        job->runs_done++;
        if (job->obs.run_finished && text)
                job->obs.run_finished(job, run->index, text, job->obs.userdata);
        struct timeval now = {};
        (void) evtimer_add(job->next_event, &now);
        if (run->deadline)
                event_del(run->deadline);
        if (run->timer)
                event_del(run->timer);
}

static void job_next_deferred(evutil_socket_t fd, short what, void *userdata) {
        Job *job = userdata;
        Run *run = TAKE_PTR(job->run);
        bool failed = run && run->error;
        _cleanup_free_ char *error = failed ? strdup(run->error) : NULL;
        unsigned index = run ? run->index : 0;
        run_free(run);
        if (job->cancel_requested) {
                job_finish(job, JOB_CANCELED, job->error);
                return;
        }
        if (failed) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "run %u: %s", index, error) < 0)
                        msg = NULL;
                job_finish(job, JOB_FAILED, msg ?: error);
                return;
        }
        if (job->runs_done >= job->runs_total) {
                job_finish(job, JOB_DONE, NULL);
                return;
        }
        (void) run_begin(job);
}

/* ---- results ---------------------------------------------------------- */

/* The metric names: the kind's own list, or the one its spec implies. */
static char **job_metric_names(Job *job) {
        char **v = NULL;
        size_t n = 0;
        if (job->kind->spec_metrics)
                return job->kind->spec_metrics(job->spec, &v) < 0 ? NULL : v;
        for (const char *const *m = job->kind->metrics; *m; m++)
                if (strv_push(&v, &n, *m) < 0)
                        return strv_free(v);
        return v;
}

/* The VMM names of the job, in rotation order (borrowed strings). */
static const char **job_vmm_names(Job *job) {
        const char **v = calloc(job->n_vmms + 1, sizeof(char *));
        for (size_t i = 0; v && i < job->n_vmms; i++)
                v[i] = job->vmms[i].backend->name;
        return v;
}

static json_t *job_result_document(Job *job) {
        _cleanup_free_ char *finished = iso_now();
        json_t *metrics = json_array();
        char **names = job_metric_names(job);
        for (char **m = names; m && *m; m++)
                json_array_append_new(metrics, json_string(*m));
        _cleanup_free_ const char **vmms = job_vmm_names(job);
        bool multi = job->n_vmms > 1 && vmms;
        /* A compare job's "summary" is its reference VMM's; summary_by_vmm has them all. */
        json_t *summary = summary_of(job->samples, names, multi ? vmms[0] : NULL);
        json_t *by_vmm = multi ? summary_by_vmm(job->samples, names, vmms, job->n_vmms) : NULL;
        json_t *comparisons = multi ? summary_comparisons(job->samples, names, vmms, job->n_vmms) : NULL;
        strv_free(names);
        json_t *doc = json_pack("{s:s, s:I, s:s, s:s, s:s?, s:O, s:O?, s:s?, s:s, s:o, s:o, s:O, s:I, s:I}", "schema",
                         "virtlab/result/v1", "job_id", (json_int_t) job->id, "kind", job->kind->name, "state",
                         job_state_to_string(job->state), "error", job->error, "spec", job->spec, "environment",
                         job->environment, "started_at", job->started_at, "finished_at", finished, "metrics", metrics, "summary", summary,
                         "runs", job->samples, "runs_total", (json_int_t) job->runs_total, "warmup",
                         (json_int_t) job->warmup);
        if (doc && by_vmm) {
                json_t *rotation = json_array();
                for (size_t i = 0; rotation && i < job->n_vmms; i++)
                        json_array_append_new(rotation, json_string(vmms[i]));
                json_object_set_new(doc, "vmms", rotation);
                json_object_set(doc, "summary_by_vmm", by_vmm);
                json_object_set(doc, "comparisons", comparisons);
        }
        json_decref(by_vmm);
        json_decref(comparisons);
        return doc;
}

static void job_finish(Job *job, JobState state, const char *error) {
        if (job->state >= JOB_DONE)
                return;
        job->state = state;
        if (error && error != job->error) {
                free(job->error);
                job->error = strdup(error);
        }
        job->phase = "";
        json_t *doc = job_result_document(job);
        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        int r = store_job_finish(job->ctx.store, job->id, job_state_to_string(state), job->error, text);
        if (r < 0)
                log_error_errno(r, "Failed to store the result of job %u: %m", job->id);
        if (state == JOB_DONE)
                log_info("Job %u done", job->id);
        else
                log_notice("Job %u %s: %s", job->id, job_state_to_string(state), strempty(job->error));
        if (job->obs.finished)
                job->obs.finished(job, job->obs.userdata);
}

void job_cancel(Job *job, const char *reason) {
        if (job->state >= JOB_DONE || job->cancel_requested)
                return;
        free(job->error);
        job->error = strdup(reason);
        if (job->state == JOB_QUEUED || !job->run) {
                job_finish(job, JOB_CANCELED, reason);
                return;
        }
        job->cancel_requested = true;
        run_fail(job->run, "%s", reason);
}

Job *job_free(Job *job, const char *why) {
        if (!job)
                return NULL;
        if (job->run) {
                vm_free(TAKE_PTR(job->run->vm)); /* kills and reaps synchronously */
                if (job->run->stopper) {
                        job->run->stopper(job->run->stopper_data, true);
                        job->run->stopper = NULL;
                }
                if (why)
                        run_fail(job->run, "%s", why);
                run_finalize(job->run);
                run_free(TAKE_PTR(job->run));
        }
        if (why && job->state < JOB_DONE) {
                job->obs = (JobObserver) {};
                job_finish(job, JOB_FAILED, why);
        }
        if (job->next_event)
                event_free(job->next_event);
        for (size_t i = 0; i < job->n_vmms; i++)
                vmm_info_done(&job->vmms[i].info);
        free(job->vmm_label);
        json_decref(job->spec);
        json_decref(job->image);
        json_decref(job->samples);
        json_decref(job->environment);
        free(job->error);
        free(job->started_at);
        free(job);
        return NULL;
}
