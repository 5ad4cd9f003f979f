/* density.c — many VMs of one VMM alive at once under one job, the way a
 * VMM engineer asks about footprint: how per-VM memory behaves at 10, 50,
 * 100 VMs, and how fast the host starts them.
 *
 * VMs start in steps of `step`, at most `parallel` booting at a time (a boot
 * storm when > 1).  After each step every VM alive is measured
 * (/proc/PID/smaps_rollup, one VM per loop iteration so the daemon keeps
 * answering), with MemAvailable and our own footprint.  The ramp stops at
 * `count`, at the free-memory floor (before a step that would cross it), or
 * when a VM fails to come up; the run records which.  Then every VM quits.
 *
 * Per-VM cost is Pss_Anon: VMMs share their program and library pages, so
 * RSS counts those n times and PSS splits them n ways (a second QEMU halves
 * the first one's PSS); anonymous memory (heap, guest RAM the guest touched)
 * is what one more VM costs.  docs/measurements.md. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "child.h"
#include "experiments/experiment.h"
#include "image.h"
#include "plan.h"
#include "proc.h"
#include "smaps.h"

/* fds one VM holds in virtlabd at most: console, stdout+stderr, QMP, its
 * log and inotify, pidfd, console log, and a spare for a reconnect. */
#define DENSITY_FDS_PER_VM 9
#define DENSITY_FDS_BASE 64   /* the bus, the store, the loop, probes */
#define WATCH_USEC (250 * USEC_PER_MSEC)
/* Without --min-free: keep this share of what was available at submission. */
#define MIN_FREE_DEFAULT_SHARE 0.25
/* A VMM's memory beyond guest RAM under TCG: its translation cache. */
#define TCG_EXTRA_MIB 64

static const char *const density_metrics[] = {
        "per_vm_pss_anon_kib", "per_vm_rss_kib", "per_vm_pss_kib", "per_vm_uss_kib", "creation_rate_vms_per_s",
        "boot_ms_mean", "boot_ms_first", "boot_ms_last", "boot_slowdown", "vms_alive", "daemon_kib_per_vm",
        "daemon_fds_per_vm", NULL,
};

static const SpecField density_fields[] = {
        SPEC_INT_FIELD("count", 10, 1, 1024),
        SPEC_INT_FIELD("step", 10, 1, 1024),
        SPEC_INT_FIELD("parallel", 1, 1, 64),
        { .name = "min_free_mib", .type = SPEC_INT, .min = 0, .max = 1 << 24 },
        SPEC_INT_FIELD("vm_timeout_s", 30, 1, 600),
        SPEC_INT_FIELD("hold_s", 0, 0, 3600),
        {},
};

/* One run, and its VMs, is the measurement; the lab's noop guest boots in
 * milliseconds, so a long ramp fits the run's timeout. */
static const SpecDefault density_defaults[] = {
        { "runs", 1 }, { "warmup", 0 }, { "timeout_s", 900 }, { "settle_ms", 0 }, {},
};

/* Mean, spread and range of one figure over the VMs alive. */
typedef struct Spread {
        double sum, sum_sq, min, max;
        size_t n;
} Spread;

typedef struct Density {
        Run *run;
        unsigned count, step, parallel; /* from the spec */
        usec_t vm_timeout;        /* spawn → guest result, per VM */
        uint64_t min_free_kib;    /* the floor */
        unsigned target;          /* VMs the current step ends at */
        unsigned spawned;         /* VMs started (run_spawn_vm succeeded) */
        unsigned ready;           /* ... that reached their guest result */
        unsigned booting;         /* spawned, neither ready nor gone */
        unsigned died;            /* exited or failed unexpectedly */
        usec_t t_step_start;      /* the current step's first spawn */
        usec_t ramp_usec;         /* time spent starting VMs, measuring pauses excluded */
        size_t measure_next;      /* next VM to measure */
        Spread rss, pss, uss, pss_anon; /* the step being measured */
        uint64_t daemon_rss0_kib; /* before the first VM */
        size_t fds0;              /* our fds before the first VM */
        uint64_t mem_available0_kib;
        json_t *steps;            /* sample.steps */
        struct event *watch;      /* boot timeouts */
        struct event *tick;       /* one measurement per loop iteration */
        struct event *hold;       /* all up: wait hold_s before the teardown */
        bool measuring;           /* between a step's end and the next spawn */
        bool finished;            /* stop() was called */
} Density;

static void spread_add(Spread *s, double v) {
        if (s->n == 0 || v < s->min)
                s->min = v;
        if (s->n == 0 || v > s->max)
                s->max = v;
        s->sum += v;
        s->sum_sq += v * v;
        s->n++;
}

static double spread_mean(const Spread *s) {
        return s->n ? s->sum / (double) s->n : 0;
}

static json_t *spread_json(const Spread *s) {
        double mean = spread_mean(s);
        double var = s->n > 1 ? (s->sum_sq - (double) s->n * mean * mean) / (double) (s->n - 1) : 0;
        return json_pack("{s:f, s:f, s:f, s:f, s:I}", "mean", mean, "sd", var > 0 ? sqrt(var) : 0.0, "min", s->min,
                         "max", s->max, "n", (json_int_t) s->n);
}

/* ---- what fits -------------------------------------------------------- */

/* What one VM will take at most, MiB: its VMM's own footprint (measured,
 * backend.h), the translation cache under TCG, and the guest RAM a Linux
 * guest may touch (a noop guest touches a few pages). */
static unsigned vm_estimate_mib(const JobPlan *p, const PlanVmm *v, json_t *spec) {
        unsigned mib = v->backend->caps.footprint_mib;
        if (v->accel == ACCEL_TCG)
                mib += TCG_EXTRA_MIB;
        if (!streq(p->image->guest, "noop"))
                mib += (unsigned) spec_int(spec, "memory_mib");
        return mib;
}

static int check_fits(json_t *spec, const JobPlan *p, char **ret_error) {
        uint64_t avail_kib = 0;
        if (proc_meminfo_kib("MemAvailable", &avail_kib) < 0)
                return spec_fail(ret_error, "Cannot read MemAvailable from /proc/meminfo to check that %" JSON_INTEGER_FORMAT
                                            " VMs fit", spec_int(spec, "count"));
        json_int_t count = spec_int(spec, "count");
        json_int_t floor = spec_int(spec, "min_free_mib");
        json_int_t avail = (json_int_t) (avail_kib >> 10);
        for (size_t i = 0; i < p->n_vmms; i++) {
                json_int_t per = vm_estimate_mib(p, &p->vmms[i], spec);
                json_int_t room = avail > floor ? avail - floor : 0;
                if (count * per > room)
                        return spec_fail(ret_error, "Invalid count %" JSON_INTEGER_FORMAT ": %" JSON_INTEGER_FORMAT
                                         " VMs x ~%" JSON_INTEGER_FORMAT " MiB (%s%s%s) = %" JSON_INTEGER_FORMAT
                                         " MiB, but MemAvailable %" JSON_INTEGER_FORMAT " MiB - min_free_mib %"
                                         JSON_INTEGER_FORMAT " leaves %" JSON_INTEGER_FORMAT " MiB: at most %"
                                         JSON_INTEGER_FORMAT " fit", count, count, per, p->vmms[i].backend->name,
                                         p->vmms[i].accel == ACCEL_TCG ? " under TCG" : "",
                                         streq(p->image->guest, "noop") ? "" : " + guest RAM", count * per, avail,
                                         floor, room, per ? room / per : 0);
        }
        return 0;
}

static int check_fds(json_t *spec, char **ret_error) {
        json_int_t count = spec_int(spec, "count");
        size_t limit = child_nofile_limit();
        size_t need = (size_t) count * DENSITY_FDS_PER_VM + DENSITY_FDS_BASE;
        if (need > limit)
                return spec_fail(ret_error, "Invalid count %" JSON_INTEGER_FORMAT ": %" JSON_INTEGER_FORMAT
                                 " VMs need up to %zu file descriptors in virtlabd (%d each), its RLIMIT_NOFILE is %zu "
                                 "(raise LimitNOFILE= in virtlabd.service)", count, count, need, DENSITY_FDS_PER_VM, limit);
        return 0;
}

/* min_free_mib defaults to a share of what is available now; step is at
 * most count. */
static int density_prepare(json_t *spec, char **ret_error) {
        if (!json_object_get(spec, "min_free_mib")) {
                uint64_t avail = 0;
                if (proc_meminfo_kib("MemAvailable", &avail) < 0)
                        return spec_fail(ret_error, "Cannot read MemAvailable from /proc/meminfo for min_free_mib");
                json_object_set_new(spec, "min_free_mib",
                                    json_integer((json_int_t) ((double) (avail >> 10) * MIN_FREE_DEFAULT_SHARE)));
        }
        json_t *count = json_object_get(spec, "count"), *step = json_object_get(spec, "step");
        if (json_is_integer(count) && json_is_integer(step) && json_integer_value(step) > json_integer_value(count))
                json_object_set_new(spec, "step", json_integer(json_integer_value(count)));
        return 0;
}

static int density_validate(json_t *spec, const JobPlan *p, char **ret_error) {
        if (!image_runs_job(p->image, "hold"))
                return spec_fail(ret_error, "Guest image '%s' cannot hold after boot, which density needs", p->image->name);
        int r = check_fds(spec, ret_error);
        return r < 0 ? r : check_fits(spec, p, ret_error);
}

/* ---- the ramp --------------------------------------------------------- */

static void density_launch(Density *d);

static void density_finish(Density *d, const char *stopped_by, const char *fmt, ...) _printf_(3, 4);

static void density_summarise(Run *run) {
        Density *d = run_data(run);
        if (!json_object_get(run_sample(run), "stopped_by")) {
                json_object_set_new(run_sample(run), "stopped_by", json_string("run_ended"));
                json_object_set_new(run_sample(run), "stop_reason", json_string(run_error(run) ?: "the run ended"));
        }
        json_t *s = run_sample(run);
        size_t n = run_vm_count(run), first = 0, last = 0;
        Spread boot = {};
        for (size_t i = 0; i < n; i++) {
                double ms = run_vm_boot_ms(run, i);
                if (ms < 0)
                        continue;
                if (boot.n == 0)
                        first = i;
                last = i;
                spread_add(&boot, ms);
        }
        json_object_set_new(s, "vms_started", json_integer(d->spawned));
        json_object_set_new(s, "vms_ready", json_integer(d->ready));
        json_object_set_new(s, "vms_died", json_integer(d->died));
        if (boot.n > 0) {
                double f = run_vm_boot_ms(run, first), l = run_vm_boot_ms(run, last);
                json_object_set_new(s, "boot_ms_mean", json_real(spread_mean(&boot)));
                json_object_set_new(s, "boot_ms_first", json_real(f));
                json_object_set_new(s, "boot_ms_last", json_real(l));
                json_object_set_new(s, "boot_ms_spread", spread_json(&boot));
                if (f > 0)
                        json_object_set_new(s, "boot_slowdown", json_real(l / f));
        }
        if (d->ramp_usec > 0 && d->ready > 0)
                json_object_set_new(s, "creation_rate_vms_per_s",
                                    json_real((double) d->ready / ((double) d->ramp_usec / USEC_PER_SEC)));
        json_object_set_new(s, "per_vm_cost",
                            json_string("per_vm_pss_anon_kib: VMMs share program and library pages, so RSS counts them "
                                        "once per VM and PSS divides them among the VMs; anonymous memory is what one "
                                        "more VM costs"));
}

static void density_finish(Density *d, const char *stopped_by, const char *fmt, ...) {
        if (d->finished)
                return;
        d->finished = true;
        event_del(d->watch);
        event_del(d->tick);
        event_del(d->hold);
        json_t *s = run_sample(d->run);
        va_list ap;
        va_start(ap, fmt);
        char *why = NULL;
        if (vasprintf(&why, fmt, ap) < 0)
                why = NULL;
        va_end(ap);
        json_object_set_new(s, "stopped_by", json_string(stopped_by));
        json_object_set_new(s, "stop_reason", json_string(why ?: stopped_by));
        free(why);
        if (d->ready == 0)
                run_fail(d->run, "No VM came up: %s", json_string_value(json_object_get(s, "stop_reason")));
        else
                run_stop_vm(d->run);
}

/* The current step's VMs are all up (or gone): measure them. */
static void density_step_done(Density *d) {
        d->ramp_usec += now_usec() - d->t_step_start;
        d->measuring = true;
        d->measure_next = 0;
        d->rss = d->pss = d->uss = d->pss_anon = (Spread) {};
        run_set_phase(d->run, "measure");
        event_active(d->tick, EV_TIMEOUT, 0);
}

static void density_maybe_step_done(Density *d) {
        if (!d->finished && !d->measuring && d->booting == 0 && d->spawned == d->target)
                density_step_done(d);
}

static void density_launch(Density *d) {
        Run *run = d->run;
        if (d->finished || run_error(run))
                return;
        run_set_phase(run, "spawn");
        while (d->booting < d->parallel && d->spawned < d->target) {
                size_t i;
                int r = run_spawn_vm(run, &i);
                if (r < 0) {
                        density_finish(d, "spawn_failed", "VM %u could not be started: %s", d->spawned, strerror(-r));
                        return;
                }
                d->spawned++;
                d->booting++;
        }
}

static void density_on_vm_ready(Run *run, size_t i) {
        Density *d = run_data(run);
        json_object_set_new(run_vm_record(run, i), "boot_ms", json_real(run_vm_boot_ms(run, i)));
        d->booting--;
        d->ready++;
        if (d->spawned < d->target)
                density_launch(d);
        else
                density_maybe_step_done(d);
}

/* A VM that exits on its own, or is failed by us, is recorded and not
 * replaced; one that never came up ends the ramp. */
static void density_on_vm_exit(Run *run, size_t i) {
        Density *d = run_data(run);
        json_t *rec = run_vm_record(run, i);
        bool was_booting = run_vm_t_ready(run, i) == 0;
        d->died++;
        if (!was_booting)
                return;
        d->booting--;
        if (d->finished)
                return;
        const char *why = json_string_value(json_object_get(rec, "error"));
        density_finish(d, "vm_failed", "VM %zu did not come up: %s", i, why ?: "it exited");
}

static void density_on_watch(evutil_socket_t fd, short what, void *userdata) {
        Density *d = userdata;
        usec_t now = now_usec();
        for (size_t i = 0; i < run_vm_count(d->run); i++)
                if (run_vm_pid(d->run, i) && !run_vm_t_ready(d->run, i) && now - run_vm_t_spawn(d->run, i) > d->vm_timeout)
                        run_vm_fail(d->run, i, "no guest result within %u s (vm_timeout_s)",
                                    (unsigned) (d->vm_timeout / USEC_PER_SEC));
}

/* ---- measuring -------------------------------------------------------- */

static uint64_t self_rss_kib(void) {
        SmapsRollup r;
        return smaps_rollup_read_pid(getpid(), &r) == 0 ? r.rss_kib : 0;
}

static void density_record_step(Density *d) {
        Run *run = d->run;
        uint64_t avail = 0;
        (void) proc_meminfo_kib("MemAvailable", &avail);
        uint64_t rss = self_rss_kib();
        size_t fds = proc_self_fd_count();
        size_t alive = d->rss.n;
        json_t *step = json_pack("{s:I, s:I, s:f, s:I, s:I}", "vms", (json_int_t) alive, "vms_started",
                                 (json_int_t) d->spawned, "t_ms",
                                 (double) (now_usec() - run_vm_t_spawn(run, 0)) / USEC_PER_MSEC, "mem_available_kib",
                                 (json_int_t) avail, "daemon_rss_kib", (json_int_t) rss);
        json_object_set_new(step, "rss_kib", spread_json(&d->rss));
        json_object_set_new(step, "pss_kib", spread_json(&d->pss));
        json_object_set_new(step, "uss_kib", spread_json(&d->uss));
        json_object_set_new(step, "pss_anon_kib", spread_json(&d->pss_anon));
        json_object_set_new(step, "daemon_fds", json_integer((json_int_t) fds));
        json_array_append_new(d->steps, step);
        /* The run's figures are those of the last (largest) step. */
        json_t *s = run_sample(run);
        json_object_set_new(s, "vms_alive", json_integer((json_int_t) alive));
        json_object_set_new(s, "per_vm_rss_kib", json_real(spread_mean(&d->rss)));
        json_object_set_new(s, "per_vm_pss_kib", json_real(spread_mean(&d->pss)));
        json_object_set_new(s, "per_vm_uss_kib", json_real(spread_mean(&d->uss)));
        json_object_set_new(s, "per_vm_pss_anon_kib", json_real(spread_mean(&d->pss_anon)));
        if (alive > 0 && rss >= d->daemon_rss0_kib)
                json_object_set_new(s, "daemon_kib_per_vm", json_real((double) (rss - d->daemon_rss0_kib) / (double) alive));
        if (alive > 0 && fds >= d->fds0)
                json_object_set_new(s, "daemon_fds_per_vm", json_real((double) (fds - d->fds0) / (double) alive));
}

static void density_on_hold(evutil_socket_t fd, short what, void *userdata) {
        Density *d = userdata;
        density_finish(d, "count", "all %u VMs started", d->count);
}

/* Keeps every VM up hold_s before the teardown (to look at them, or at us). */
static void density_hold_then_finish(Density *d) {
        json_int_t hold = spec_int(run_spec(d->run), "hold_s");
        struct timeval tv = { .tv_sec = (time_t) hold };
        if (hold == 0 || evtimer_add(d->hold, &tv) < 0) {
                density_on_hold(-1, 0, d);
                return;
        }
        run_set_phase(d->run, "hold");
}

/* After a step: at count, or would the next step cross the floor? */
static void density_next_step(Density *d) {
        uint64_t avail = 0;
        (void) proc_meminfo_kib("MemAvailable", &avail);
        unsigned next = d->count - d->spawned < d->step ? d->count - d->spawned : d->step;
        double per_vm_kib = spread_mean(&d->rss);
        double after = (double) avail - per_vm_kib * next;
        d->measuring = false;
        if (d->spawned >= d->count)
                density_hold_then_finish(d);
        else if (after < (double) d->min_free_kib)
                density_finish(d, "min_free",
                               "%u more VMs at ~%.0f MiB each would leave %.0f MiB of MemAvailable %" PRIu64
                               " MiB, below min_free_mib %" PRIu64, next, per_vm_kib / 1024, after / 1024, avail >> 10,
                               d->min_free_kib >> 10);
        else {
                d->target += next;
                d->t_step_start = now_usec();
                density_launch(d);
        }
}

/* One VM per loop iteration: a hundred smaps_rollup reads never hold up a
 * bus call for long. */
static void density_on_tick(evutil_socket_t fd, short what, void *userdata) {
        Density *d = userdata;
        Run *run = d->run;
        if (d->finished || run_error(run))
                return;
        for (; d->measure_next < run_vm_count(run); d->measure_next++) {
                pid_t pid = run_vm_pid(run, d->measure_next);
                SmapsRollup r;
                if (!pid || !run_vm_t_ready(run, d->measure_next) || smaps_rollup_read_pid(pid, &r) < 0)
                        continue;
                spread_add(&d->rss, (double) r.rss_kib);
                spread_add(&d->pss, (double) r.pss_kib);
                spread_add(&d->uss, (double) r.uss_kib);
                spread_add(&d->pss_anon, (double) r.pss_anon_kib);
                d->measure_next++;
                event_active(d->tick, EV_TIMEOUT, 0);
                return;
        }
        density_record_step(d);
        density_next_step(d);
}

/* ---- the run ---------------------------------------------------------- */

static void *density_data_new(Run *run) {
        Density *d = calloc(1, sizeof(Density));
        if (!d)
                return NULL;
        json_t *spec = run_spec(run);
        *d = (Density) { .run = run, .count = (unsigned) spec_int(spec, "count"), .step = (unsigned) spec_int(spec, "step"),
                         .parallel = (unsigned) spec_int(spec, "parallel"),
                         .vm_timeout = (usec_t) spec_int(spec, "vm_timeout_s") * USEC_PER_SEC,
                         .min_free_kib = (uint64_t) spec_int(spec, "min_free_mib") << 10, .steps = json_array() };
        d->watch = event_new(run_event_base(run), -1, EV_PERSIST, density_on_watch, d);
        d->tick = evtimer_new(run_event_base(run), density_on_tick, d);
        d->hold = evtimer_new(run_event_base(run), density_on_hold, d);
        if (!d->steps || !d->watch || !d->tick || !d->hold || json_object_set(run_sample(run), "steps", d->steps) < 0) {
                json_decref(d->steps);
                if (d->watch)
                        event_free(d->watch);
                if (d->tick)
                        event_free(d->tick);
                if (d->hold)
                        event_free(d->hold);
                free(d);
                return NULL;
        }
        return d;
}

static void density_data_free(void *data) {
        Density *d = data;
        event_free(d->watch);
        event_free(d->tick);
        event_free(d->hold);
        json_decref(d->steps);
        free(d);
}

static int density_start(Run *run) {
        Density *d = run_data(run);
        struct timeval tv = { .tv_usec = WATCH_USEC };
        d->daemon_rss0_kib = self_rss_kib();
        d->fds0 = proc_self_fd_count();
        (void) proc_meminfo_kib("MemAvailable", &d->mem_available0_kib);
        json_object_set_new(run_sample(run), "mem_available_start_kib", json_integer((json_int_t) d->mem_available0_kib));
        if (event_add(d->watch, &tv) < 0)
                return -EIO;
        d->target = d->step;
        d->t_step_start = now_usec();
        density_launch(d);
        return 0;
}

const ExperimentKind experiment_density = {
        .name = "density",
        .description = "many VMs alive at once: per-VM RSS/PSS/USS/Pss_Anon as the count grows, boot time by index, "
                       "creation rate",
        .multi_vm = true,
        .guest_job = "hold",
        .default_image = "noop",
        .metrics = density_metrics,
        .fields = density_fields,
        .defaults = density_defaults,
        .prepare = density_prepare,
        .validate = density_validate,
        .run_data_new = density_data_new,
        .run_data_free = density_data_free,
        .start_run = density_start,
        .on_vm_ready = density_on_vm_ready,
        .on_vm_exit = density_on_vm_exit,
        .on_run_end = density_summarise,
};
