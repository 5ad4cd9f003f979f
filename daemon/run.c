/* run.c — one run (run.h): a VM from spawn to exit, or one start_run() of a
 * VM-less kind.
 *
 *   spawn → (QMP greeting) → first console byte → kernel banner → init
 *   marker → result frame → kind measures → power-off or QMP quit → reap
 *   + QMP EOF → sample complete → on_done (next loop iteration)
 *
 * Each milestone is a CLOCK_MONOTONIC timestamp.  A run fails on the first
 * of: a failure reported by the kind, a fatal line in the VMM's log, an
 * unexpected exit, or its deadline; the first reason is the one kept.
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

struct Run {
        RunContext ctx;           /* job, plan, VMM, callbacks */
        const ExperimentKind *kind; /* what is measured */
        json_t *spec;             /* the job's spec (borrowed) */
        json_t *sample;           /* the sample document being filled */
        void *data;               /* the kind's per-run data */
        Vm *vm;                   /* the VMM, NULL before spawn and after free */
        GuestConsole console;     /* the guest protocol parser */
        usec_t t_kernel;          /* first kernel banner */
        usec_t t_init;            /* init marker */
        usec_t t_result;          /* guest result frame */
        json_t *vmm_phases;       /* {phase: monotonic usec} the VMM logged itself */
        json_t *qmp_events;       /* [{"event", "t_ms", "data"}] */
        char last_line[256];      /* last console line, for error messages */
        struct event *deadline;   /* run timeout */
        struct event *timer;      /* run_after() */
        struct event *done;       /* on_done from a fresh loop iteration */
        void (*timer_fn)(Run *run); /* what the timer calls */
        bool stopping;            /* run_stop_vm() was called: exit is success */
        bool ended;               /* the sample is complete */
        void (*stopper)(void *data, bool now); /* ends what a start_run kind started */
        void *stopper_data;       /* for stopper */
        const char *phase;        /* for progress */
        char *error;              /* why the run failed, NULL if it did not */
        HostLoad load_start;      /* the host when the run started */
        json_t *intrusions;       /* [{"what", "t_ms"}]: calls that touched the VM while it was measured */
        uint64_t vmm_run_us;      /* the VMM's threads on a CPU, at the end of the measured window */
        uint64_t vmm_wait_us;     /* ... and runnable but waiting for one */
        bool vmm_sched;           /* those two were read */
};

static void run_on_console_line(Vm *vm, usec_t t, const char *line, void *userdata);
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
pid_t run_vmm_pid(Run *run) { return run->vm ? vm_pid(run->vm) : 0; }
QmpClient *run_qmp(Run *run) { return run->vm ? vm_qmp(run->vm) : NULL; }
bool run_vmm_has_hmp(Run *run) { return run->ctx.vmm && run->ctx.vmm->backend->caps.has_hmp; }
const char *run_guest_output(Run *run) { return run->console.output ?: ""; }
json_t *run_guest_result(Run *run) { return run->console.result; }
const char *run_phase(Run *run) { return run->phase ?: ""; }
const char *run_error(Run *run) { return run->error; }
bool run_ended(Run *run) { return run->ended; }

QmpClient *run_hmp(Run *run) {
        return run->vm && vm_running(run->vm) && run_vmm_has_hmp(run) ? run_qmp(run) : NULL;
}

static double ms_since_spawn(const Run *run, usec_t t) {
        return t ? (double) (t - vm_t_spawn(run->vm)) / USEC_PER_MSEC : -1.0;
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
        if (run_after(run, (usec_t) spec_int(run->spec, "settle_ms") * USEC_PER_MSEC, fn) < 0)
                run_fail(run, "Failed to arm the settle timer");
}

static void run_on_timer(evutil_socket_t fd, short what, void *userdata) {
        Run *run = userdata;
        bool alive = run->kind->vm_less || (run->vm && vm_running(run->vm));
        if (run->timer_fn && !run->error && !run->ended && alive)
                run->timer_fn(run);
}

static void quit_reply(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata) {
        /* EOF right after "quit" is the normal outcome; the exit path decides. */
}

static void run_kill_after_grace(Run *run) {
        vm_kill(run->vm);
}

/* The VMM's scheduler times so far: called where the measured window ends
 * (the guest's result, the kind stopping the VM), before the VMM exits and
 * its threads' counters go with it. */
static void run_sample_vmm_sched(Run *run) {
        if (run->vm && vm_running(run->vm) &&
            proc_sched_usec(vm_pid(run->vm), &run->vmm_run_us, &run->vmm_wait_us) == 0)
                run->vmm_sched = true;
}

void run_stop_vm(Run *run) {
        run_sample_vmm_sched(run);
        run->stopping = true;
        run_set_phase(run, "shutdown");
        QmpClient *q = run_qmp(run);
        if (!q || qmp_client_call(q, "quit", NULL, QUIT_GRACE_USEC, quit_reply, run) < 0)
                vm_kill(run->vm);
        else
                (void) run_after(run, QUIT_GRACE_USEC, run_kill_after_grace);
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

static int run_console_log(Run *run, char **ret) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/job-%u", run->ctx.logs_dir, run->ctx.job_id) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        return asprintf(ret, "%s/run-%u.log", dir, run->ctx.index) < 0 ? -ENOMEM : 0;
}

static int run_spawn(Run *run) {
        const JobPlan *p = run->ctx.plan;
        const PlanVmm *v = run->ctx.vmm;
        cpu_set_t pin;
        bool pinned;
        int r = run_prepare_host(run, &pin, &pinned);
        if (r < 0)
                return r;
        _cleanup_free_ char *cmdline = run_cmdline(run), *log_path = NULL;
        _cleanup_free_ VmDevice *devices = NULL;
        _cleanup_free_ VmDisk *disks = NULL;
        size_t n_devices = 0, n_disks = 0;
        r = cmdline ? run_console_log(run, &log_path) : -ENOMEM;
        r = r ?: run->kind->devices ? run->kind->devices(run->spec, &devices, &n_devices) : 0;
        r = r ?: run->kind->vm_disks ? run->kind->vm_disks(run, &disks, &n_disks) : 0;
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
                .affinity = pinned ? &pin : NULL,
                .inherit_fds = p->inherit_fds,
                .n_inherit_fds = p->n_inherit_fds,
        };
        json_object_set_new(run->sample, "console_log", json_string(log_path));
        json_object_set_new(run->sample, "cmdline", json_string(cmdline));
        static const VmCallbacks cb = {
                .on_console_line = run_on_console_line,
                .on_qmp_ready = run_on_qmp_ready,
                .on_qmp_event = run_on_qmp_event,
                .on_qmp_failed = run_on_qmp_failed,
                .on_vmm_log_line = run_on_vmm_log_line,
                .on_log_overflow = run_on_log_overflow,
                .on_exit = run_on_exit,
        };
        return vm_spawn(run->ctx.base, &o, &cb, run, &run->vm);
}

/* ---- console ---------------------------------------------------------- */

static void run_on_guest_result_line(Run *run, usec_t t) {
        json_t *res = run->console.result;
        if (!res) {
                run_fail(run, "%s", run->console.result_error);
                return;
        }
        run->t_result = t;
        run_sample_vmm_sched(run);
        json_int_t rc = json_integer_value(json_object_get(res, "rc"));
        if (rc != 0) {
                run_fail(run, "Guest job '%s' failed with rc %" JSON_INTEGER_FORMAT, run->kind->guest_job, rc);
                return;
        }
        run->kind->on_guest_result(run);
        /* A guest that holds after its job (noop) is stopped by us. */
        if (run->kind->guest_powers_off && !run->ctx.plan->image->powers_off && !run->error && !run->stopping)
                run_stop_vm(run);
}

static void run_on_console_line(Vm *vm, usec_t t, const char *line, void *userdata) {
        Run *run = userdata;
        snprintf(run->last_line, sizeof(run->last_line), "%s", line);
        unsigned ev = guest_console_feed(&run->console, line);
        if (ev & GUEST_LINE_KERNEL) {
                run->t_kernel = t;
                run_set_phase(run, "kernel");
        }
        if (ev & GUEST_LINE_INIT) {
                run->t_init = t;
                run_set_phase(run, "init");
        }
        if ((ev & GUEST_LINE_OUTPUT) && run->kind->on_guest_line)
                run->kind->on_guest_line(run, line);
        if (ev & GUEST_LINE_RESULT)
                run_on_guest_result_line(run, t);
}

/* ---- VMM log and QMP -------------------------------------------------- */

static void run_on_qmp_ready(Vm *vm, void *userdata) {
        Run *run = userdata;
        _cleanup_free_ char *version = NULL;
        if (qmp_client_version(vm_qmp(vm), &version) >= 0)
                json_object_set_new(run->sample, "vmm_qmp_version", json_string(version));
        if (!run->t_kernel && !run->t_init)
                run_set_phase(run, "firmware");
}

static void run_on_qmp_event(Vm *vm, usec_t t, const char *event, json_t *data, void *userdata) {
        Run *run = userdata;
        if (json_array_size(run->qmp_events) >= QMP_EVENTS_MAX)
                return;
        json_t *e = json_pack("{s:s, s:f}", "event", event, "t_ms", ms_since_spawn(run, t));
        if (e && data)
                json_object_set(e, "data", data);
        json_array_append_new(run->qmp_events, e);
}

static void run_on_qmp_failed(Vm *vm, int error, void *userdata) {
        Run *run = userdata;
        run_fail(run, "The VMM's QMP monitor failed%s: %s", run->t_init ? "" : " before the init marker",
                 qmp_client_error_to_string(error));
}

static void run_on_vmm_log_line(Vm *vm, usec_t t, VmLogSource src, const char *line, void *userdata) {
        Run *run = userdata;
        const VmmBackend *b = run->ctx.vmm->backend;
        VmmLogEvent ev = b->parse_log_line ? b->parse_log_line(line) : (VmmLogEvent) {};
        if (ev.type == VMM_LOG_PHASE && !json_object_get(run->vmm_phases, ev.phase))
                json_object_set_new(run->vmm_phases, ev.phase, json_integer((json_int_t) t));
        else if (ev.type == VMM_LOG_FATAL)
                run_fail(run, "KVM error in the VMM's %s%s: %s", src == VM_LOG_FILE ? "log" : "output",
                         run->t_init ? "" : " before the init marker", line);
}

static void run_on_log_overflow(Vm *vm, void *userdata) {
        run_fail(userdata, "The VMM's own log grew past %zu MiB", VM_VMM_LOG_MAX >> 20);
}

/* ---- exit and judgement ----------------------------------------------- */

/* A guest that reports its TSC at its first instruction and at its marker
 * (the noop guest) gives a guest-side phase: its own time from entry to
 * marker, and so when, on our clock, it started.  Only under KVM with an
 * invariant TSC is that the host's clock rate; elsewhere nothing is
 * recorded rather than a made-up figure. */
static void record_guest_clock(Run *run, json_t *g) {
        const HostInfo *h = run->ctx.plan->host;
        json_t *entry = json_object_get(g, "tsc_entry"), *marker = json_object_get(g, "tsc_marker");
        if (!json_is_integer(entry) || !json_is_integer(marker) || !run->t_init)
                return;
        if (run->ctx.vmm->accel != ACCEL_KVM || !h->tsc_invariant || !h->tsc_khz) {
                json_object_set_new(run->sample, "guest_clock",
                                    json_string("not recorded: the guest's TSC runs at the host's rate only under KVM "
                                                "with an invariant TSC"));
                return;
        }
        double ms = (double) (json_integer_value(marker) - json_integer_value(entry)) / (double) h->tsc_khz;
        if (ms < 0)
                return;
        json_object_set_new(run->sample, "guest_entry_to_marker_ms", json_real(ms));
        json_object_set_new(run->sample, "t_guest_entry_ms", json_real(ms_since_spawn(run, run->t_init) - ms));
}

static void record_vmm_phases(Run *run) {
        const char *key;
        json_t *v;
        json_object_foreach(run->vmm_phases, key, v) {
                char name[96];
                snprintf(name, sizeof(name), "t_%s_ms", key);
                json_object_set_new(run->sample, name, json_real(ms_since_spawn(run, (usec_t) json_integer_value(v))));
        }
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
        json_t *g = run->console.result;
        json_t *ns = g ? json_object_get(g, "boottime_at_marker_ns") : NULL;
        if (json_is_integer(ns))
                json_object_set_new(s, "guest_uptime_at_init_ms", json_real((double) json_integer_value(ns) / 1e6));
        if (g)
                json_object_set(s, "guest", g);
        record_guest_clock(run, g);
        record_vmm_phases(run);
        if (json_array_size(run->qmp_events) > 0)
                json_object_set(s, "qmp_events", run->qmp_events);
        if (vm_log_path(vm))
                json_object_set_new(s, "vmm_log", json_string(vm_log_path(vm)));
        json_object_set_new(s, "vmm_argv", strv_to_json(vm_argv(vm)));
        if (run->ctx.vmm->backend->env)
                json_object_set_new(s, "vmm_env", strv_to_json((char *const *) run->ctx.vmm->backend->env));
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

/* Decides, once the VM has ended, whether the run succeeded. */
static void run_judge_exit(Run *run, int wait_status) {
        char how[128];
        child_describe_status(wait_status, how, sizeof(how));
        json_object_set_new(run->sample, "vmm_exit", json_string(how));
        if (run->error || run->stopping)
                return;
        if (run->kind->guest_powers_off && run->t_result && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
                return;
        char tail[512];
        last_line_of(vm_diagnostics(run->vm), tail, sizeof(tail));
        run_fail(run, "%s %s %s%s%s", run->ctx.vmm->backend->binary, how,
                 !run->t_init ? "before the init marker" : !run->t_result ? "before the guest result" : "unexpectedly",
                 tail[0] ? ": " : "", tail);
}

static void run_on_exit(Vm *vm, int wait_status, void *userdata) {
        Run *run = userdata;
        run_judge_exit(run, wait_status);
        run_end(run);
}

static void run_on_deadline(evutil_socket_t fd, short what, void *userdata) {
        Run *run = userdata;
        unsigned limit = (unsigned) spec_int(run->spec, "timeout_s");
        if (!run->vm) {
                run_fail(run, "%s did not finish within %u s", run->kind->name, limit);
                return;
        }
        const PlanVmm *v = run->ctx.vmm;
        const Image *img = run->ctx.plan->image;
        const char *hint = img && img->paravirt_kvm_ok ? "" : host_hang_hint(run->ctx.plan->host, v->accel,
                                                                                 v->backend->caps.has_tcg);
        /* Alive but silent: say how busy it was, so "stuck" and "spinning" differ, and whether it was stopped. */
        char state[256] = "";
        double cpu = vm_running(run->vm) ? proc_cpu_seconds(vm_pid(run->vm)) : -1;
        if (cpu >= 0)
                snprintf(state, sizeof(state), "; VMM process %s (%.1f s CPU used, %s%s)",
                         proc_stopped(vm_pid(run->vm)) ? "stopped (SIGSTOP or a tracer)" : "alive but stuck", cpu,
                         vm_t_console(run->vm) ? "console went quiet" : "no console output at all",
                         vm_t_qmp(run->vm) ? "" : ", no QMP greeting");
        if (!run->t_init)
                run_fail(run, "No init marker within %u s%s%s; last console line: '%s'", limit, hint, state, run->last_line);
        else if (!run->t_result)
                run_fail(run, "Guest init printed its marker but no result within %u s; last console line: '%s'", limit,
                         run->last_line);
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
        if (c && run->vmm_sched && run->vmm_run_us + run->vmm_wait_us > 0) {
                double share = (double) run->vmm_wait_us / (double) (run->vmm_run_us + run->vmm_wait_us);
                json_object_set_new(c, "vmm_cpu_ms", json_real((double) run->vmm_run_us / USEC_PER_MSEC));
                json_object_set_new(c, "vmm_wait_ms", json_real((double) run->vmm_wait_us / USEC_PER_MSEC));
                json_object_set_new(c, "vmm_wait_share", json_real(share));
                contended = contended || share >= CONTENTION_WAIT_SHARE;
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
        if (!run->vmm_sched)
                run_sample_vmm_sched(run);
        if (run->vm)
                run_record_phases(run);
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
        *run = (Run) { .ctx = *c, .kind = p->kind, .spec = p->spec, .vmm_phases = json_object(), .qmp_events = json_array(),
                       .intrusions = json_array() };
        guest_console_init(&run->console, p->image ? p->image->marker : NULL);
        run->sample = json_pack("{s:I, s:b}", "index", (json_int_t) c->index, "warmup", c->warmup);
        if (run->sample && c->vmm) {
                json_object_set_new(run->sample, "vmm", json_string(c->vmm->backend->name));
                json_object_set_new(run->sample, "accel", json_string(accel_to_string(c->vmm->accel)));
        }
        run->deadline = evtimer_new(c->base, run_on_deadline, run);
        run->timer = evtimer_new(c->base, run_on_timer, run);
        run->done = evtimer_new(c->base, run_on_done, run);
        if (run->kind->run_data_new)
                run->data = run->kind->run_data_new(run);
        if (!run->sample || !run->deadline || !run->timer || !run->done || !run->vmm_phases || !run->qmp_events ||
            !run->intrusions ||
            (run->kind->run_data_new && !run->data)) {
                run_free(run);
                return -ENOMEM;
        }
        *ret = run;
        return 0;
}

void run_start(Run *run) {
        host_load_now(&run->load_start);
        run_set_phase(run, "spawn");
        int r = run->kind->vm_less ? run->kind->start_run(run) : run_spawn(run);
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
        run->vm = vm_free(run->vm); /* kills and reaps synchronously */
}

Run *run_free(Run *run) {
        if (!run)
                return NULL;
        vm_free(run->vm);
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
        guest_console_done(&run->console);
        json_decref(run->sample);
        json_decref(run->vmm_phases);
        json_decref(run->qmp_events);
        json_decref(run->intrusions);
        free(run->error);
        free(run);
        return NULL;
}
