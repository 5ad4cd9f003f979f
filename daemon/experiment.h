/* experiment.h — the experiment-kind seam.  A kind validates its own spec
 * fields, names the guest job its VMs run, reacts to a run's milestones and
 * adds its measurements to the run's sample.  Everything else (VM lifecycle,
 * timeouts, statistics, storage, bus) lives in job.c and knows no kind. */
#pragma once

#include <jansson.h>

#include "util.h"
#include "vmm.h"

typedef struct Run Run;

typedef struct ExperimentKind {
        const char *name;        /* as in StartExperiment("boot", ...) */
        const char *description; /* one line for Describe() */
        const char *guest_job;   /* virtlab.job= the guest init runs */
        /* Numeric sample fields summarised with statistics, NULL-terminated;
         * the first is the headline. */
        const char *const *metrics;
        /* Checks and defaults the kind's own spec fields; on error sets
         * *ret_error to a sentence naming the field and returns -EINVAL. */
        int (*validate)(json_t *spec, char **ret_error);
        /* The guest printed its result frame (init is up and settled).  The
         * kind measures, then calls run_stop_vm() or waits for power-off. */
        void (*on_guest_result)(Run *run);
        /* True when a guest power-off without run_stop_vm() is success. */
        bool guest_powers_off;
        /* Spec fields this kind accepts beyond the common ones (NULL-terminated, may be NULL). */
        const char *const *spec_fields;
        /* Optional: extra kernel command-line words for this run (e.g.
         * "virtlab.job=run:/bin/x virtlab.modules=edu"); *ret is malloc'd.
         * When it sets virtlab.job itself, guest_job is not added. */
        int (*guest_cmdline)(Run *run, char **ret);
        /* Optional: extra VMM arguments (devices), appended after the
         * backend's own; pushed with strv_push(). */
        int (*vm_extra_argv)(Run *run, char ***argv, size_t *n);
        /* Optional: runs without a VM.  Called instead of spawning; the kind
         * ends the run with run_complete() (after run_fail() on failure). */
        int (*start_run)(Run *run);
        /* Optional: virtio-blk disks for this run's VM (the backend renders
         * them); *ret is malloc'd, its strings owned by the kind. */
        int (*vm_disks)(Run *run, VmDisk **ret, size_t *n);
        /* Optional: metric names that depend on the spec (a benchmark
         * matrix: one per cell and figure); used instead of `metrics`.
         * *ret is a NULL-terminated malloc'd strv. */
        int (*spec_metrics)(json_t *spec, char ***ret);
        /* Optional: each line the guest prints inside its job frame, as it
         * arrives (progress of a long guest job). */
        void (*on_guest_line)(Run *run, const char *line);
} ExperimentKind;

const ExperimentKind *experiment_kind_find(const char *name);
const ExperimentKind *const *experiment_kinds(void);

/* What a kind may do with its run (implemented in job.c). */
json_t *run_spec(Run *run);           /* the job's validated spec (borrowed) */
json_t *run_sample(Run *run);         /* the run's sample object to add fields to (borrowed) */
pid_t run_vmm_pid(Run *run);
struct QmpClient *run_qmp(Run *run);  /* NULL if the VMM has no usable QMP */
bool run_vmm_has_hmp(Run *run);
void run_set_phase(Run *run, const char *phase);
/* Enters phase "settle" and calls fn(run) after the spec's settle_ms: the
 * usual next step once a held guest has reported. */
void run_after_settle(Run *run, void (*fn)(Run *run));
/* Calls fn(run) after delay on the job's loop; one pending timer per run. */
int run_after(Run *run, usec_t delay, void (*fn)(Run *run));
/* Asks the VMM to quit (QMP "quit", SIGKILL as fallback); the run succeeds
 * when it exits. */
void run_stop_vm(Run *run);
/* The text lines the guest printed between @@VIRTLAB-BEGIN@@ and
 * @@VIRTLAB-END@@ (kernel messages that interleave are kept out when they
 * look like printk lines "[    1.234] ..."), "" before any. */
const char *run_guest_output(Run *run);
/* The guest result frame (borrowed), NULL before it arrived. */
json_t *run_guest_result(Run *run);
unsigned run_index(Run *run);
/* STATE_DIR/logs: durable (not tmpfs) storage for a kind's scratch files. */
const char *run_logs_dir(Run *run);
bool run_is_warmup(Run *run);
struct event_base *run_event_base(Run *run);
/* start_run kinds that own a process register how to end it: stop(data,
 * false) on cancel/timeout (kill; run_complete() follows from its exit),
 * stop(data, true) when the daemon drops the run (kill, reap and free now;
 * never touch the run again). */
void run_set_stopper(Run *run, void (*stop)(void *data, bool now), void *data);
/* Ends a run that has no VM (start_run kinds). */
void run_complete(Run *run);
/* Fails the run with a reason; the VM is killed. */
void run_fail(Run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Helpers for kinds that inspect one VM (mtree, translate; experiment-mtree.c). */
/* Refuses, with a sentence in *ret_error and -EINVAL, a spec whose VMM has no HMP. */
int experiment_require_hmp(json_t *spec, const char *what, char **ret_error);
/* Defaults runs to 1 and warmup to 0 when the spec leaves them out. */
int experiment_default_single_run(json_t *spec);
