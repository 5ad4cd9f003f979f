/* run.c — one run (run.h): a VM from spawn to exit, the many VMs of a
 * multi-VM kind, or one start_run() of a VM-less kind.
 *
 *   spawn → (QMP greeting) → first console byte → kernel banner → init
 *   marker → result frame → kind measures → power-off or QMP quit → reap
 *   + QMP EOF → sample complete → on_done (next loop iteration)
 *
 * Each milestone is a CLOCK_MONOTONIC timestamp.  A run fails on the first
 * of: a failure reported by the kind, a fatal line in the VMM's log, an
 * unexpected exit, or its deadline; the first reason is the one kept.
 *
 * Every VM is a RunVm: its Vm, console parser, milestones and the record
 * they go to (the sample itself for a single-VM run, sample.vms[i] for a
 * multi-VM one).  One code path spawns, watches and ends them all; a
 * multi-VM run ends once it failed or was stopped and its last VM exited.
 *
 * Divisions: accessors · the kind's API · spawn · console · VMM log and QMP
 * · exit and judgement · end. */
#include "run.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "child.h"
#include "cpuset.h"
#include "experiments/experiment.h"
#include "guest-disk.h"
#include "guest-protocol.h"
#include "plan.h"
#include "proc.h"
#include "utf8.h"
#include "vm.h"

#define QUIT_GRACE_USEC (5 * USEC_PER_SEC)
#define QMP_EVENTS_MAX 64
#define INTRUSIONS_MAX 16
/* A run whose VMM spent this share of its runnable time waiting for a CPU
 * (its threads' schedstat) was measured on a busy host: it is flagged
 * "contended".  Host-wide PSI is recorded too but does not flag: a VMM with
 * more busy threads than the host has CPUs raises it by itself. */
#define CONTENTION_WAIT_SHARE 0.10

/* What the host was doing while a run ran (Linux PSI and our own CPU time). */
typedef struct HostLoad {
        usec_t t;                 /* monotonic */
        uint64_t cpu_some;        /* /proc/pressure/cpu some total, µs */
        uint64_t io_some;         /* /proc/pressure/io some total, µs */
        bool psi;                 /* the kernel has PSI */
        uint64_t daemon_cpu;      /* our own CPU time, µs */
} HostLoad;

/* One VM of a run. */
typedef struct RunVm {
        Run *run;                 /* owner */
        unsigned index;           /* in run->vms */
        Vm *vm;                   /* the VMM, NULL after free */
        json_t *doc;              /* its record: the sample (single-VM run) or sample.vms[index] */
        GuestConsole console;     /* the guest protocol parser */
        usec_t t_kernel;          /* first kernel banner */
        usec_t t_init;            /* init marker */
        usec_t t_result;          /* guest result frame */
        json_t *vmm_phases;       /* {phase: monotonic usec} the VMM logged itself */
        json_t *qmp_events;       /* [{"event", "t_ms", "data"}] */
        char last_line[256];      /* last console line, for error messages */
        bool stopping;            /* asked to quit: its exit is success */
        bool exited;              /* its on_exit came */
        bool recorded;            /* its milestones are in doc */
        uint64_t sched_run_us;    /* its threads on a CPU, at the end of its measured window */
        uint64_t sched_wait_us;   /* ... and runnable but waiting for one */
        bool sched;               /* those two were read */
        char *disk_copy;          /* its private copy of the image's disk (removed with it), NULL if none */
} RunVm;

struct Run {
        RunContext ctx;           /* job, plan, VMM, callbacks */
        const ExperimentKind *kind; /* what is measured */
        json_t *spec;             /* the job's spec (borrowed) */
        json_t *sample;           /* the sample document being filled */
        void *data;               /* the kind's per-run data */
        RunVm **vms;              /* every VM spawned, in order */
        size_t n_vms;             /* entries in vms */
        size_t alive;             /* VMs not exited yet */
        json_t *vm_docs;          /* sample.vms (multi-VM runs) */
        struct event *deadline;   /* run timeout */
        struct event *timer;      /* run_after() */
        struct event *done;       /* on_done from a fresh loop iteration */
        void (*timer_fn)(Run *run); /* what the timer calls */
        bool stopping;            /* the kind stopped its VMs: their exits are success */
        bool held;                /* the kind keeps the VM past its result (run_hold_vm) */
        bool ended;               /* the sample is complete */
        void (*stopper)(void *data, bool now); /* ends what a start_run kind started */
        void *stopper_data;       /* for stopper */
        const char *phase;        /* for progress */
        cpu_set_t pin;            /* CPUs the VMMs are pinned to */
        bool pinned;              /* pin is set */
        char *error;              /* why the run failed, NULL if it did not */
        HostLoad load_start;      /* the host when the run started */
        json_t *intrusions;       /* [{"what", "t_ms"}]: calls that touched the VM while it was measured */
};

static void run_on_console_line(Vm *vm, usec_t t, const char *line, void *userdata);
static void run_on_console_partial(Vm *vm, usec_t t, const char *text, void *userdata);
static void run_vm_sample_sched(RunVm *rv);
static void run_on_qmp_ready(Vm *vm, void *userdata);
static void run_on_qmp_event(Vm *vm, usec_t t, const char *event, json_t *data, void *userdata);
static void run_on_qmp_failed(Vm *vm, int error, void *userdata);
static void run_on_vmm_log_line(Vm *vm, usec_t t, VmLogSource src, const char *line, void *userdata);
static void run_on_log_overflow(Vm *vm, void *userdata);
static void run_on_exit(Vm *vm, int wait_status, void *userdata);
static void run_on_deadline(evutil_socket_t fd, short what, void *userdata);
static void run_on_timer(evutil_socket_t fd, short what, void *userdata);
static void run_on_done(evutil_socket_t fd, short what, void *userdata);
static void run_end(Run *run);

/* ---- accessors -------------------------------------------------------- */

json_t *run_spec(Run *run) { return run->spec; }
json_t *run_sample(Run *run) { return run->sample; }
const JobPlan *run_plan(Run *run) { return run->ctx.plan; }
const PlanVmm *run_vmm(Run *run) { return run->ctx.vmm; }
void *run_data(Run *run) { return run->data; }
unsigned run_index(Run *run) { return run->ctx.index; }
bool run_is_warmup(Run *run) { return run->ctx.warmup; }
struct event_base *run_event_base(Run *run) { return run->ctx.base; }
const char *run_logs_dir(Run *run) { return run->ctx.logs_dir; }
bool run_vmm_has_hmp(Run *run) { return run->ctx.vmm && run->ctx.vmm->backend->caps.has_hmp; }
const char *run_phase(Run *run) { return run->phase ?: ""; }
const char *run_error(Run *run) { return run->error; }
bool run_ended(Run *run) { return run->ended; }
size_t run_vm_count(Run *run) { return run->n_vms; }
size_t run_vms_alive(Run *run) { return run->alive; }

static RunVm *run_vm(Run *run, size_t i) {
        return i < run->n_vms ? run->vms[i] : NULL;
}
static Vm *run_first_vm(Run *run) {
        return run->n_vms > 0 ? run->vms[0]->vm : NULL;
}

pid_t run_vm_pid(Run *run, size_t i) {
        RunVm *rv = run_vm(run, i);
        return rv && rv->vm && vm_running(rv->vm) ? vm_pid(rv->vm) : 0;
}
json_t *run_vm_record(Run *run, size_t i) {
        RunVm *rv = run_vm(run, i);
        return rv ? rv->doc : NULL;
}
double run_vm_boot_ms(Run *run, size_t i) {
        RunVm *rv = run_vm(run, i);
        return rv && rv->t_init ? (double) (rv->t_init - vm_t_spawn(rv->vm)) / USEC_PER_MSEC : -1.0;
}
usec_t run_vm_t_spawn(Run *run, size_t i) {
        RunVm *rv = run_vm(run, i);
        return rv && rv->vm ? vm_t_spawn(rv->vm) : 0;
}
usec_t run_vm_t_ready(Run *run, size_t i) {
        RunVm *rv = run_vm(run, i);
        return rv ? rv->t_result : 0;
}

pid_t run_vmm_pid(Run *run) { return run_vm_pid(run, 0); }
QmpClient *run_qmp(Run *run) { return run_first_vm(run) ? vm_qmp(run_first_vm(run)) : NULL; }
const char *run_guest_output(Run *run) { return run->n_vms ? run->vms[0]->console.output ?: "" : ""; }
json_t *run_guest_result(Run *run) { return run->n_vms ? run->vms[0]->console.result : NULL; }

QmpClient *run_hmp(Run *run) {
        Vm *vm = run_first_vm(run);
        return vm && vm_running(vm) && run_vmm_has_hmp(run) ? run_qmp(run) : NULL;
}

static double ms_since_spawn(const RunVm *rv, usec_t t) {
        return t ? (double) (t - vm_t_spawn(rv->vm)) / USEC_PER_MSEC : -1.0;
}

static void run_kill_vms(Run *run) {
        for (size_t i = 0; i < run->n_vms; i++)
                vm_kill(run->vms[i]->vm);
}

/* ---- the kind's API --------------------------------------------------- */

void run_set_phase(Run *run, const char *phase) {
        run->phase = phase;
        if (run->ctx.on_phase)
                run->ctx.on_phase(run, run->ctx.userdata);
}

void run_fail(Run *run, const char *fmt, ...) {
        if (run->error || run->ended)
                return; /* the first cause is the one worth reporting */
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&run->error, fmt, ap) < 0)
                run->error = strdup("run failed");
        va_end(ap);
        (void) utf8_scrub(run->error); /* it reaches D-Bus and JSON */
        log_debug("Job %u run %u failed: %s", run->ctx.job_id, run->ctx.index, run->error);
        run_kill_vms(run);
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
        if (run_after(run, (usec_t) spec_int(run->spec, "settle_ms") * USEC_PER_MSEC, fn) < 0)
                run_fail(run, "Failed to arm the settle timer");
}

static void run_on_timer(evutil_socket_t fd, short what, void *userdata) {
        Run *run = userdata;
        bool alive = run->kind->vm_less || run->kind->multi_vm || (run_first_vm(run) && vm_running(run_first_vm(run)));
        if (run->timer_fn && !run->error && !run->ended && alive)
                run->timer_fn(run);
}

static void quit_reply(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata) {
        /* EOF right after "quit" is the normal outcome; the exit path decides. */
}

static void run_kill_after_grace(Run *run) {
        run_kill_vms(run);
}

/* The VMM's scheduler times so far: called where the measured window ends
 * (the guest's result, the kind stopping the VM), before the VMM exits and
 * its threads' counters go with it. */
static void run_vm_sample_sched(RunVm *rv) {
        if (rv->vm && vm_running(rv->vm) && proc_sched_usec(vm_pid(rv->vm), &rv->sched_run_us, &rv->sched_wait_us) == 0)
                rv->sched = true;
}

/* QMP "quit", or SIGKILL without QMP; its exit is then a success. */
static void run_vm_quit(RunVm *rv) {
        if (rv->exited || rv->stopping)
                return;
        run_vm_sample_sched(rv);
        rv->stopping = true;
        QmpClient *q = vm_qmp(rv->vm);
        if (!q || qmp_client_call(q, "quit", NULL, QUIT_GRACE_USEC, quit_reply, rv) < 0)
                vm_kill(rv->vm);
}

static void run_maybe_end(Run *run);

void run_stop_vm(Run *run) {
        run->stopping = true;
        run_set_phase(run, "shutdown");
        for (size_t i = 0; i < run->n_vms; i++)
                run_vm_quit(run->vms[i]);
        (void) run_after(run, QUIT_GRACE_USEC, run_kill_after_grace);
        run_maybe_end(run); /* a multi-VM run whose VMs had all exited already */
}

void run_vm_fail(Run *run, size_t i, const char *fmt, ...) {
        RunVm *rv = run_vm(run, i);
        if (!rv || rv->exited || json_object_get(rv->doc, "error"))
                return;
        va_list ap;
        va_start(ap, fmt);
        char *why = NULL;
        if (vasprintf(&why, fmt, ap) < 0)
                why = NULL;
        va_end(ap);
        (void) utf8_scrub(why);
        json_object_set_new(rv->doc, "error", json_string(why ?: "failed"));
        free(why);
        rv->stopping = true; /* its exit is ours, not to be judged again */
        vm_kill(rv->vm);
}

void run_hold_vm(Run *run) {
        run->held = true;
}

int run_console_write(Run *run, const char *buf, size_t len) {
        Vm *vm = run_first_vm(run);
        return vm && vm_running(vm) ? vm_console_write(vm, buf, len) : -ESRCH;
}

void run_set_stopper(Run *run, void (*stop)(void *data, bool now), void *data) {
        run->stopper = stop;
        run->stopper_data = data;
}

void run_complete(Run *run) {
        run->stopper = NULL;
        run_end(run);
}

/* ---- spawn ------------------------------------------------------------ */

static char *run_cmdline(Run *run) {
        const JobPlan *p = run->ctx.plan;
        _cleanup_free_ char *extra = NULL;
        if (run->kind->guest_cmdline && run->kind->guest_cmdline(run, &extra) < 0)
                return NULL;
        bool own_job = extra && strstr(extra, "virtlab.job=");
        char tsc[48] = "";
        /* Without a PIT, a TCG guest calibrates against nothing and may hang. */
        if (p->host->tsc_khz)
                snprintf(tsc, sizeof(tsc), " tsc_early_khz=%lu", p->host->tsc_khz);
        const char *user = spec_string(run->spec, "append");
        char *s = NULL;
        if (asprintf(&s, "%s%s%s%s%s%s%s%s", p->image->cmdline_base, tsc, own_job ? "" : " virtlab.job=",
                     own_job ? "" : run->kind->guest_job, extra ? " " : "", strempty(extra), user ? " " : "",
                     strempty(user)) < 0)
                return NULL;
        return s;
}

/* sync + drop the page cache and CPU pinning, as the spec asks (DESIGN §4). */
static int run_prepare_host(Run *run, cpu_set_t *pin, bool *pinned) {
        if (spec_bool(run->spec, "drop_caches")) {
                int r = proc_drop_caches();
                if (r < 0) {
                        run_fail(run, "drop_caches requested, but writing /proc/sys/vm/drop_caches failed: %s", strerror(-r));
                        return r;
                }
                json_object_set_new(run->sample, "caches_dropped", json_true());
        }
        const char *pin_list = spec_string(run->spec, "pin_cpus");
        *pinned = pin_list != NULL;
        if (pin_list && cpuset_parse(pin_list, pin) < 0) {
                run_fail(run, "pin_cpus '%s' no longer names online CPUs", pin_list);
                return -ENXIO;
        }
        if (pin_list)
                json_object_set_new(run->sample, "pinned_cpus", json_string(pin_list));
        return 0;
}

static int run_console_log(Run *run, unsigned vm_index, char **ret) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/job-%u", run->ctx.logs_dir, run->ctx.job_id) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        int n = run->kind->multi_vm ? asprintf(ret, "%s/run-%u-vm%u.log", dir, run->ctx.index, vm_index)
                                    : asprintf(ret, "%s/run-%u.log", dir, run->ctx.index);
        return n < 0 ? -ENOMEM : 0;
}

static RunVm *run_vm_free(RunVm *rv) {
        if (!rv)
                return NULL;
        vm_free(rv->vm);
        if (rv->disk_copy)
                (void) unlink(rv->disk_copy);
        free(rv->disk_copy);
        guest_console_done(&rv->console);
        json_decref(rv->vmm_phases);
        json_decref(rv->qmp_events);
        json_decref(rv->doc);
        free(rv);
        return NULL;
}

/* A RunVm appended to run->vms, its record in place, no Vm yet. */
static int run_vm_new(Run *run, RunVm **ret) {
        if (run->n_vms % 16 == 0) {
                RunVm **v = realloc(run->vms, (run->n_vms + 16) * sizeof(RunVm *));
                if (!v)
                        return -ENOMEM;
                run->vms = v;
        }
        RunVm *rv = calloc(1, sizeof(RunVm));
        if (!rv)
                return -ENOMEM;
        *rv = (RunVm) { .run = run, .index = (unsigned) run->n_vms, .vmm_phases = json_object(), .qmp_events = json_array() };
        const Image *img = run->ctx.plan->image;
        guest_console_init(&rv->console, img ? img->marker : NULL);
        if (img && img->marker_re)
                guest_console_set_marker_regex(&rv->console, img->marker_re, !img->reports);
        rv->doc = run->kind->multi_vm ? json_pack("{s:I}", "index", (json_int_t) rv->index) : json_incref(run->sample);
        if (!rv->vmm_phases || !rv->qmp_events || !rv->doc ||
            (run->kind->multi_vm && json_array_append(run->vm_docs, rv->doc) < 0)) {
                run_vm_free(rv);
                return -ENOMEM;
        }
        run->vms[run->n_vms++] = rv;
        *ret = rv;
        return 0;
}

/* The image's own disk before the kind's (guest-disk.h); a copy, where the
 * VMM needs one, lives beside the console log until the VM is freed. */
static int run_vm_disks(RunVm *rv, VmDisk **disks, size_t *n) {
        Run *run = rv->run;
        if (!image_has_disk(run->ctx.plan->image))
                return 0;
        if (asprintf(&rv->disk_copy, "%s/job-%u/run-%u-vm%u.disk", run->ctx.logs_dir, run->ctx.job_id, run->ctx.index,
                     rv->index) < 0)
                return (rv->disk_copy = NULL), -ENOMEM;
        int r = guest_disk_prepend(run->ctx.plan->image, run->ctx.vmm->backend, rv->disk_copy, disks, n);
        if (r < 0)
                run_fail(run, "Cannot give the run its copy of the image's disk (%s): %s", rv->disk_copy, strerror(-r));
        return r;
}

static int run_vm_spawn(RunVm *rv, const cpu_set_t *pin) {
        Run *run = rv->run;
        const JobPlan *p = run->ctx.plan;
        const PlanVmm *v = run->ctx.vmm;
        int r;
        _cleanup_free_ char *cmdline = run_cmdline(run), *log_path = NULL, *why = NULL;
        char name[64];
        _cleanup_free_ VmDevice *devices = NULL;
        _cleanup_free_ VmDisk *disks = NULL;
        size_t n_devices = 0, n_disks = 0;
        r = cmdline ? run_console_log(run, rv->index, &log_path) : -ENOMEM;
        r = r ?: run->kind->devices ? run->kind->devices(run->spec, &devices, &n_devices) : 0;
        r = r ?: run->kind->vm_disks ? run->kind->vm_disks(run, &disks, &n_disks) : 0;
        r = r ?: run_vm_disks(rv, &disks, &n_disks);
        if (r < 0)
                return r;
        VmSpawnOptions o = {
                .backend = v->backend,
                .binary = v->info.path,
                .config = { .kernel = v->kernel,
                            .initrd = p->image->initrd,
                            .cmdline = cmdline,
                            .memory_mib = (unsigned) spec_int(run->spec, "memory_mib"),
                            .vcpus = (unsigned) spec_int(run->spec, "vcpus"),
                            .accel = v->accel,
                            .cpu_model = v->cpu_model,
                            .qmp_fd = -EBADF,
                            .serial_fd = -EBADF,
                            .devices = devices,
                            .n_devices = n_devices,
                            .disks = disks,
                            .n_disks = n_disks },
                .run_dir = run->ctx.run_dir,
                .console_log = log_path,
                .affinity = pin,
                .inherit_fds = p->inherit_fds,
                .n_inherit_fds = p->n_inherit_fds,
                .name = name,
                .manager_uri = spec_string(run->spec, "libvirt_uri"),
                .ret_error = &why,
                .console_mask = p->console_password,
        };
        snprintf(name, sizeof(name), "j%u-r%u-v%u", run->ctx.job_id, run->ctx.index, rv->index);
        json_object_set_new(rv->doc, "console_log", json_string(log_path));
        if (rv->index == 0)
                json_object_set_new(run->sample, "cmdline", json_string(cmdline));
        static const VmCallbacks cb = {
                .on_console_line = run_on_console_line,
                .on_console_partial = run_on_console_partial,
                .on_qmp_ready = run_on_qmp_ready,
                .on_qmp_event = run_on_qmp_event,
                .on_qmp_failed = run_on_qmp_failed,
                .on_vmm_log_line = run_on_vmm_log_line,
                .on_log_overflow = run_on_log_overflow,
                .on_exit = run_on_exit,
        };
        r = vm_spawn(run->ctx.base, &o, &cb, rv, &rv->vm);
        if (r < 0 && why && !run->kind->multi_vm)
                run_fail(run, "%s", why); /* the driver's words (libvirt's error) beat strerror */
        if (r >= 0) {
                run->alive++;
                if (run->kind->multi_vm)
                        json_object_set_new(rv->doc, "pid", json_integer(vm_pid(rv->vm)));
        }
        return r;
}

/* The host as the spec asks (drop caches, pinning), once per run. */
static int run_host_setup(Run *run) {
        bool pinned = false;
        int r = run_prepare_host(run, &run->pin, &pinned);
        run->pinned = r >= 0 && pinned;
        return r;
}

static int run_spawn(Run *run) {
        RunVm *rv;
        int r = run_host_setup(run);
        r = r ?: run_vm_new(run, &rv);
        return r ?: run_vm_spawn(rv, run->pinned ? &run->pin : NULL);
}

int run_spawn_vm(Run *run, size_t *ret_index) {
        RunVm *rv;
        if (run->error || run->stopping || run->ended)
                return -ECANCELED;
        int r = run_vm_new(run, &rv);
        if (r < 0)
                return r;
        *ret_index = rv->index;
        r = run_vm_spawn(rv, run->pinned ? &run->pin : NULL);
        if (r < 0) {
                json_object_set_new(rv->doc, "error", json_sprintf("Failed to start %s: %s", run->ctx.vmm->info.path,
                                                                   strerror(-r)));
                rv->exited = true;
        }
        return r;
}

/* ---- console ---------------------------------------------------------- */

static void run_vm_on_result(RunVm *rv, usec_t t) {
        Run *run = rv->run;
        json_t *res = rv->console.result;
        rv->t_result = t;
        run_vm_sample_sched(rv);
        if (run->kind->multi_vm) {
                json_int_t rc = json_integer_value(json_object_get(res, "rc"));
                if (!res || rc != 0)
                        run_vm_fail(run, rv->index, "%s", !res ? rv->console.result_error : "guest job failed");
                else if (run->kind->on_vm_ready)
                        run->kind->on_vm_ready(run, rv->index);
                return;
        }
        if (!res) {
                run_fail(run, "%s", rv->console.result_error);
                return;
        }
        json_int_t rc = json_integer_value(json_object_get(res, "rc"));
        if (rc != 0) {
                run_fail(run, "Guest job '%s' failed with rc %" JSON_INTEGER_FORMAT, run->kind->guest_job, rc);
                return;
        }
        run->kind->on_guest_result(run);
        /* A guest that holds after its job (noop) is stopped by us, unless the kind still needs it. */
        if (run->kind->guest_powers_off && !run->ctx.plan->image->powers_off && !run->error && !run->stopping &&
            !run->held)
                run_stop_vm(run);
}

static void run_on_console_line(Vm *vm, usec_t t, const char *line, void *userdata) {
        RunVm *rv = userdata;
        Run *run = rv->run;
        bool lead = rv->index == 0 || !run->kind->multi_vm; /* the VM whose phases are the run's */
        snprintf(rv->last_line, sizeof(rv->last_line), "%s", line);
        /* The kind first: a result in this line may make it start talking to the console. */
        if (run->kind->on_console && !run->kind->multi_vm && !run->ended)
                run->kind->on_console(run, line, false);
        unsigned ev = guest_console_feed(&rv->console, line);
        if (ev & GUEST_LINE_KERNEL) {
                rv->t_kernel = t;
                if (lead)
                        run_set_phase(run, "kernel");
        }
        if (ev & GUEST_LINE_INIT) {
                rv->t_init = t;
                if (lead)
                        run_set_phase(run, "init");
        }
        if ((ev & GUEST_LINE_OUTPUT) && run->kind->on_guest_line && !run->kind->multi_vm)
                run->kind->on_guest_line(run, line);
        if (ev & GUEST_LINE_RESULT)
                run_vm_on_result(rv, t);
}

/* An unfinished line: a caller's guest may show its marker there (a login
 * prompt), and a kind talking to the console sees its prompts. */
static void run_on_console_partial(Vm *vm, usec_t t, const char *text, void *userdata) {
        RunVm *rv = userdata;
        Run *run = rv->run;
        if (run->kind->on_console && !run->kind->multi_vm && !run->ended)
                run->kind->on_console(run, text, true);
        unsigned ev = guest_console_feed_partial(&rv->console, text);
        if (ev & GUEST_LINE_INIT) {
                rv->t_init = t;
                if (rv->index == 0 || !run->kind->multi_vm)
                        run_set_phase(run, "init");
        }
        if (ev & GUEST_LINE_RESULT)
                run_vm_on_result(rv, t);
}

/* ---- VMM log and QMP -------------------------------------------------- */

static void run_on_qmp_ready(Vm *vm, void *userdata) {
        RunVm *rv = userdata;
        _cleanup_free_ char *version = NULL;
        if (rv->index == 0 && qmp_client_version(vm_qmp(vm), &version) >= 0)
                json_object_set_new(rv->run->sample, "vmm_qmp_version", json_string(version));
        if (rv->index == 0 && !rv->t_kernel && !rv->t_init)
                run_set_phase(rv->run, "firmware");
}

static void run_on_qmp_event(Vm *vm, usec_t t, const char *event, json_t *data, void *userdata) {
        RunVm *rv = userdata;
        if (json_array_size(rv->qmp_events) >= QMP_EVENTS_MAX)
                return;
        json_t *e = json_pack("{s:s, s:f}", "event", event, "t_ms", ms_since_spawn(rv, t));
        if (e && data)
                json_object_set(e, "data", data);
        json_array_append_new(rv->qmp_events, e);
}

static void run_on_qmp_failed(Vm *vm, int error, void *userdata) {
        RunVm *rv = userdata;
        if (rv->run->kind->multi_vm)
                run_vm_fail(rv->run, rv->index, "The VMM's QMP monitor failed: %s", qmp_client_error_to_string(error));
        else
                run_fail(rv->run, "The VMM's QMP monitor failed%s: %s", rv->t_init ? "" : " before the init marker",
                         qmp_client_error_to_string(error));
}

static void run_on_vmm_log_line(Vm *vm, usec_t t, VmLogSource src, const char *line, void *userdata) {
        RunVm *rv = userdata;
        Run *run = rv->run;
        const VmmBackend *b = run->ctx.vmm->backend;
        VmmLogEvent ev = b->parse_log_line ? b->parse_log_line(line) : (VmmLogEvent) {};
        if (ev.type == VMM_LOG_PHASE && !json_object_get(rv->vmm_phases, ev.phase))
                json_object_set_new(rv->vmm_phases, ev.phase, json_integer((json_int_t) t));
        else if (ev.type == VMM_LOG_FATAL && run->kind->multi_vm)
                run_vm_fail(run, rv->index, "KVM error in the VMM's %s: %s", src == VM_LOG_FILE ? "log" : "output", line);
        else if (ev.type == VMM_LOG_FATAL)
                run_fail(run, "KVM error in the VMM's %s%s: %s", src == VM_LOG_FILE ? "log" : "output",
                         rv->t_init ? "" : " before the init marker", line);
}

static void run_on_log_overflow(Vm *vm, void *userdata) {
        RunVm *rv = userdata;
        if (rv->run->kind->multi_vm)
                run_vm_fail(rv->run, rv->index, "The VMM's own log grew past %zu MiB", VM_VMM_LOG_MAX >> 20);
        else
                run_fail(rv->run, "The VMM's own log grew past %zu MiB", VM_VMM_LOG_MAX >> 20);
}

/* ---- exit and judgement ----------------------------------------------- */

/* A guest that reports its TSC at its first instruction and at its marker
 * (the noop guest) gives a guest-side phase: its own time from entry to
 * marker, and so when, on our clock, it started.  Only under KVM with an
 * invariant TSC is that the host's clock rate; elsewhere nothing is
 * recorded rather than a made-up figure. */
static void record_guest_clock(RunVm *rv, json_t *g) {
        Run *run = rv->run;
        const HostInfo *h = run->ctx.plan->host;
        json_t *entry = json_object_get(g, "tsc_entry"), *marker = json_object_get(g, "tsc_marker");
        if (!json_is_integer(entry) || !json_is_integer(marker) || !rv->t_init)
                return;
        if (run->ctx.vmm->accel != ACCEL_KVM || !h->tsc_invariant || !h->tsc_khz) {
                json_object_set_new(rv->doc, "guest_clock",
                                    json_string("not recorded: the guest's TSC runs at the host's rate only under KVM "
                                                "with an invariant TSC"));
                return;
        }
        double ms = (double) (json_integer_value(marker) - json_integer_value(entry)) / (double) h->tsc_khz;
        if (ms < 0)
                return;
        json_object_set_new(rv->doc, "guest_entry_to_marker_ms", json_real(ms));
        json_object_set_new(rv->doc, "t_guest_entry_ms", json_real(ms_since_spawn(rv, rv->t_init) - ms));
}

static void record_vmm_phases(RunVm *rv) {
        const char *key;
        json_t *v;
        json_object_foreach(rv->vmm_phases, key, v) {
                char name[96];
                snprintf(name, sizeof(name), "t_%s_ms", key);
                json_object_set_new(rv->doc, name, json_real(ms_since_spawn(rv, (usec_t) json_integer_value(v))));
        }
}

/* The VM's milestones into its record; the first VM's argv and log into the sample. */
static void run_vm_note_milestones(RunVm *rv) {
        Vm *vm = rv->vm;
        json_t *s = rv->doc;
        if (!vm || rv->recorded)
                return;
        rv->recorded = true;
        json_object_set_new(s, "t_spawn_ms", json_real(0.0));
        json_object_set_new(s, "t_exec_ms", json_real(ms_since_spawn(rv, vm_t_exec(vm))));
        if (vm_t_qmp(vm))
                json_object_set_new(s, "t_qmp_ms", json_real(ms_since_spawn(rv, vm_t_qmp(vm))));
        if (vm_t_console(vm))
                json_object_set_new(s, "t_console_ms", json_real(ms_since_spawn(rv, vm_t_console(vm))));
        if (rv->t_kernel)
                json_object_set_new(s, "t_kernel_ms", json_real(ms_since_spawn(rv, rv->t_kernel)));
        if (rv->t_init) {
                json_object_set_new(s, "t_init_ms", json_real(ms_since_spawn(rv, rv->t_init)));
                json_object_set_new(s, "boot_ms", json_real(ms_since_spawn(rv, rv->t_init)));
        }
        json_t *g = rv->console.result;
        json_t *ns = g ? json_object_get(g, "boottime_at_marker_ns") : NULL;
        if (json_is_integer(ns))
                json_object_set_new(s, "guest_uptime_at_init_ms", json_real((double) json_integer_value(ns) / 1e6));
        if (g && !rv->run->kind->multi_vm)
                json_object_set(s, "guest", g);
        record_guest_clock(rv, g);
        record_vmm_phases(rv);
        if (json_array_size(rv->qmp_events) > 0)
                json_object_set(s, "qmp_events", rv->qmp_events);
        if (rv->index > 0)
                return;
        json_t *sample = rv->run->sample;
        if (vm_log_path(vm))
                json_object_set_new(sample, "vmm_log", json_string(vm_log_path(vm)));
        json_object_set_new(sample, "vmm_argv", strv_to_json(vm_argv(vm)));
        if (rv->run->ctx.vmm->backend->env)
                json_object_set_new(sample, "vmm_env", strv_to_json((char *const *) rv->run->ctx.vmm->backend->env));
}

static bool is_complaint(const char *line, size_t len) {
        return memmem(line, len, "ERROR", 5) || memmem(line, len, "error", 5) || memmem(line, len, "signal", 6) ||
               memmem(line, len, "Panic", 5);
}

/* Copies the VMM's final complaint: its last line that reads like an error
 * (a VMM may log cleanup after the line that matters), else its last line. */
static void last_line_of(const char *text, char *buf, size_t size) {
        const char *best = NULL, *last = NULL;
        size_t best_len = 0, last_len = 0;
        for (const char *p = text; *p;) {
                size_t len = strcspn(p, "\n");
                size_t trimmed = len;
                while (trimmed > 0 && (p[trimmed - 1] == '\r' || p[trimmed - 1] == ' '))
                        trimmed--;
                if (trimmed > 0) {
                        last = p, last_len = trimmed;
                        if (is_complaint(p, trimmed))
                                best = p, best_len = trimmed;
                }
                p += len + (p[len] == '\n');
        }
        if (!best)
                best = last, best_len = last_len;
        snprintf(buf, size, "%.*s", (int) best_len, best ?: "");
}

/* Why the VM's exit was not the one expected, or NULL-terminated "" if it was. */
static void run_vm_exit_problem(RunVm *rv, int wait_status, const char *how, char *buf, size_t size) {
        Run *run = rv->run;
        buf[0] = 0;
        if (run->error || run->stopping || rv->stopping)
                return;
        if (run->kind->guest_powers_off && rv->t_result && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
                return;
        char tail[512];
        last_line_of(vm_diagnostics(rv->vm), tail, sizeof(tail));
        snprintf(buf, size, "%s %s %s%s%s", run->ctx.vmm->backend->binary, how,
                 !rv->t_init ? "before the init marker" : !rv->t_result ? "before the guest result" : "unexpectedly",
                 tail[0] ? ": " : "", tail);
}

/* A multi-VM run ends once it failed or was stopped and its last VM is gone. */
static void run_maybe_end(Run *run) {
        if (run->kind->multi_vm && run->alive == 0 && (run->error || run->stopping))
                run_end(run);
}

static void run_on_exit(Vm *vm, int wait_status, void *userdata) {
        RunVm *rv = userdata;
        Run *run = rv->run;
        char how[128], problem[1024];
        child_describe_status(wait_status, how, sizeof(how));
        json_object_set_new(rv->doc, "vmm_exit", json_string(how));
        run_vm_exit_problem(rv, wait_status, how, problem, sizeof(problem));
        rv->exited = true;
        run->alive--;
        run_vm_note_milestones(rv);
        if (!run->kind->multi_vm) {
                if (problem[0])
                        run_fail(run, "%s", problem);
                run_end(run);
                return;
        }
        /* Recorded, not lost: the kind decides what a death means. */
        if (problem[0])
                json_object_set_new(rv->doc, "error", json_string(problem));
        if (!run->error && !run->stopping && run->kind->on_vm_exit)
                run->kind->on_vm_exit(run, rv->index);
        run_maybe_end(run);
}

static void run_on_deadline(evutil_socket_t fd, short what, void *userdata) {
        Run *run = userdata;
        unsigned limit = (unsigned) spec_int(run->spec, "timeout_s");
        RunVm *rv = run_vm(run, 0);
        if (!rv || run->kind->multi_vm) {
                run_fail(run, "%s did not finish within %u s (timeout_s)%s", run->kind->name, limit,
                         run->kind->multi_vm ? ", its VMs were killed" : "");
                return;
        }
        const PlanVmm *v = run->ctx.vmm;
        const Image *img = run->ctx.plan->image;
        const char *hint = img && img->paravirt_kvm_ok ? "" : host_hang_hint(run->ctx.plan->host, v->accel,
                                                                                 v->backend->caps.has_tcg);
        /* Alive but silent: say how busy it was, so "stuck" and "spinning" differ, and whether it was stopped. */
        char state[256] = "";
        double cpu = vm_running(rv->vm) ? proc_cpu_seconds(vm_pid(rv->vm)) : -1;
        if (cpu >= 0)
                snprintf(state, sizeof(state), "; VMM process %s (%.1f s CPU used, %s%s)",
                         proc_stopped(vm_pid(rv->vm)) ? "stopped (SIGSTOP or a tracer)" : "alive but stuck", cpu,
                         vm_t_console(rv->vm) ? "console went quiet" : "no console output at all",
                         vm_t_qmp(rv->vm) ? "" : ", no QMP greeting");
        if (!rv->t_init)
                run_fail(run, "No init marker within %u s%s%s; last console line: '%s'", limit, hint, state, rv->last_line);
        else if (!rv->t_result)
                run_fail(run, "Guest init printed its marker but no result within %u s; last console line: '%s'", limit,
                         rv->last_line);
        else if (run->held)
                run_fail(run, "Not done within %u s (timeout_s): %s; last console line: '%s'", limit, run_phase(run),
                         rv->last_line);
        else
                run_fail(run, "VMM did not exit within %u s after the guest finished", limit);
}

/* ---- host contention ---------------------------------------------------- */

static void host_load_now(HostLoad *l) {
        *l = (HostLoad) { .t = now_usec(), .daemon_cpu = proc_self_cpu_usec() };
        l->psi = proc_pressure_some_usec("cpu", &l->cpu_some) == 0;
        if (l->psi && proc_pressure_some_usec("io", &l->io_some) < 0)
                l->io_some = 0;
}

/* How contended the host was during the run, and whether that, or a call
 * into the VM while it was measured, flags the run. */
static void record_contention(Run *run) {
        HostLoad end;
        host_load_now(&end);
        const HostLoad *b = &run->load_start;
        double wall_ms = (double) (end.t - b->t) / USEC_PER_MSEC;
        json_t *c = json_pack("{s:f, s:f}", "wall_ms", wall_ms, "daemon_cpu_ms",
                              (double) (end.daemon_cpu - b->daemon_cpu) / USEC_PER_MSEC);
        bool contended = json_array_size(run->intrusions) > 0;
        uint64_t on_cpu = 0, waiting = 0;
        for (size_t i = 0; i < run->n_vms; i++)
                if (run->vms[i]->sched) {
                        on_cpu += run->vms[i]->sched_run_us;
                        waiting += run->vms[i]->sched_wait_us;
                }
        if (c && on_cpu + waiting > 0) {
                double share = (double) waiting / (double) (on_cpu + waiting);
                json_object_set_new(c, "vmm_cpu_ms", json_real((double) on_cpu / USEC_PER_MSEC));
                json_object_set_new(c, "vmm_wait_ms", json_real((double) waiting / USEC_PER_MSEC));
                json_object_set_new(c, "vmm_wait_share", json_real(share));
                /* Many VMs of one run wait for each other: that is what a
                 * density run measures, not a disturbance. */
                contended = contended || (!run->kind->multi_vm && share >= CONTENTION_WAIT_SHARE);
        }
        if (c && b->psi && end.psi && wall_ms > 0) {
                json_object_set_new(c, "cpu_pressure_share",
                                    json_real((double) (end.cpu_some - b->cpu_some) / USEC_PER_MSEC / wall_ms));
                json_object_set_new(c, "io_pressure_share",
                                    json_real((double) (end.io_some - b->io_some) / USEC_PER_MSEC / wall_ms));
        } else if (c)
                json_object_set_new(c, "pressure", json_string("not measured: no /proc/pressure (a kernel without PSI: "
                                                               "before Linux 4.20, or booted with psi=0)"));
        if (json_array_size(run->intrusions) > 0)
                json_object_set(c, "intrusions", run->intrusions);
        json_object_set_new(run->sample, "contention", c);
        json_object_set_new(run->sample, "contended", json_boolean(contended));
}

void run_note_intrusion(Run *run, const char *what) {
        if (run->ended || json_array_size(run->intrusions) >= INTRUSIONS_MAX)
                return;
        json_array_append_new(run->intrusions,
                              json_pack("{s:s, s:f}", "what", what,
                                        "t_ms", (double) (now_usec() - run->load_start.t) / USEC_PER_MSEC));
}

/* ---- end -------------------------------------------------------------- */

static void run_seal(Run *run) {
        if (run->ended)
                return;
        run->ended = true;
        for (size_t i = 0; i < run->n_vms; i++) {
                if (!run->vms[i]->sched)
                        run_vm_sample_sched(run->vms[i]);
                run_vm_note_milestones(run->vms[i]);
        }
        if (run->kind->on_run_end)
                run->kind->on_run_end(run);
        record_contention(run);
        json_object_set_new(run->sample, "ok", json_boolean(!run->error));
        json_object_set_new(run->sample, "error", run->error ? json_string(run->error) : json_null());
        event_del(run->deadline);
        event_del(run->timer);
}

/* Completes the sample and tells the owner from a fresh loop iteration
 * (never free a VM inside its own callback). */
static void run_end(Run *run) {
        if (run->ended)
                return;
        run_seal(run);
        struct timeval zero = {};
        (void) evtimer_add(run->done, &zero);
}

static void run_on_done(evutil_socket_t fd, short what, void *userdata) {
        Run *run = userdata;
        if (run->ctx.on_done)
                run->ctx.on_done(run, run->ctx.userdata);
}

int run_new(const RunContext *c, Run **ret) {
        Run *run = calloc(1, sizeof(Run));
        if (!run)
                return -ENOMEM;
        const JobPlan *p = c->plan;
        *run = (Run) { .ctx = *c, .kind = p->kind, .spec = p->spec, .intrusions = json_array() };
        run->sample = json_pack("{s:I, s:b}", "index", (json_int_t) c->index, "warmup", c->warmup);
        if (run->sample && run->kind->multi_vm) {
                run->vm_docs = json_array();
                json_object_set(run->sample, "vms", run->vm_docs);
        }
        if (run->sample && c->vmm) {
                json_object_set_new(run->sample, "vmm", json_string(c->vmm->backend->name));
                json_object_set_new(run->sample, "accel", json_string(accel_to_string(c->vmm->accel)));
        }
        run->deadline = evtimer_new(c->base, run_on_deadline, run);
        run->timer = evtimer_new(c->base, run_on_timer, run);
        run->done = evtimer_new(c->base, run_on_done, run);
        if (run->kind->run_data_new)
                run->data = run->kind->run_data_new(run);
        if (!run->sample || !run->deadline || !run->timer || !run->done || !run->intrusions ||
            (run->kind->multi_vm && !run->vm_docs) ||
            (run->kind->run_data_new && !run->data)) {
                run_free(run);
                return -ENOMEM;
        }
        *ret = run;
        return 0;
}

/* One VM, or the kind's own start (VM-less; multi-VM after the host setup). */
static int run_begin(Run *run) {
        if (run->kind->vm_less)
                return run->kind->start_run(run);
        if (!run->kind->multi_vm)
                return run_spawn(run);
        int r = run_host_setup(run);
        return r < 0 ? r : run->kind->start_run(run);
}

void run_start(Run *run) {
        host_load_now(&run->load_start);
        run_set_phase(run, "spawn");
        int r = run_begin(run);
        if (r < 0) {
                run_fail(run, "Failed to start %s: %s", run->ctx.vmm ? run->ctx.vmm->info.path : run->kind->name,
                         strerror(-r));
                run_end(run);
                return;
        }
        struct timeval tv = { .tv_sec = (time_t) spec_int(run->spec, "timeout_s") };
        if (!run->ended)
                (void) evtimer_add(run->deadline, &tv);
}

void run_abort(Run *run, const char *why) {
        if (run->stopper) {
                run->stopper(run->stopper_data, true);
                run->stopper = NULL;
        }
        if (!run->ended) {
                run_fail(run, "%s", why);
                run_seal(run);
                event_del(run->done);
        }
        for (size_t i = 0; i < run->n_vms; i++)
                run->vms[i]->vm = vm_free(run->vms[i]->vm); /* kills and reaps synchronously */
}

Run *run_free(Run *run) {
        if (!run)
                return NULL;
        for (size_t i = 0; i < run->n_vms; i++)
                run_vm_free(run->vms[i]);
        free(run->vms);
        if (run->stopper)
                run->stopper(run->stopper_data, true);
        if (run->deadline)
                event_free(run->deadline);
        if (run->timer)
                event_free(run->timer);
        if (run->done)
                event_free(run->done);
        if (run->data && run->kind->run_data_free)
                run->kind->run_data_free(run->data);
        json_decref(run->sample);
        json_decref(run->vm_docs);
        json_decref(run->intrusions);
        free(run->error);
        free(run);
        return NULL;
}
