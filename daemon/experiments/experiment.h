/* experiment.h — the experiment-kind seam.  A kind declares its spec fields
 * (a table), checks what the table cannot against the resolved plan (VMM
 * capabilities, image), names the guest job and devices its VMs get, reacts
 * to a run's milestones and adds its measurements to the run's sample.
 * Everything else (plan, VM lifecycle, console protocol, timeouts,
 * statistics, storage, bus) is shared and knows no kind.  A kind never names
 * a VMM: it asks capabilities.  Adding a kind is adding one file here and
 * one line in registry.c. */
#pragma once

#include <jansson.h>

#include "backends/backend.h"
#include "run.h"
#include "spec.h"

typedef struct JobPlan JobPlan;

typedef struct ExperimentKind {
        const char *name;        /* as in StartExperiment("boot", ...) */
        const char *description; /* one line for Describe() */
        /* Numeric sample fields summarised with statistics, NULL-terminated;
         * the first is the headline. */
        const char *const *metrics;
        /* Its own spec fields (NULL-name terminated, may be NULL). */
        const SpecField *fields;
        /* Its defaults for common fields (e.g. memory_mib 1024), may be NULL. */
        const SpecDefault *defaults;
        /* Runs without a VM: no VMM, no image, no console; start_run() does the work. */
        bool vm_less;
        /* Holds many VMs at once: start_run() spawns them (run_spawn_vm),
         * on_vm_ready/on_vm_exit follow each (run.h). */
        bool multi_vm;
        /* The daemon's image it runs when the spec names none (NULL: the
         * default image). */
        const char *default_image;
        /* virtlab.job= the guest runs (VM kinds). */
        const char *guest_job;
        /* The guest's job ends by powering the VM off (else the kind stops it). */
        bool guest_powers_off;
        /* It takes the caller's disk (the "disk" file, files.h). */
        bool takes_disk;
        /* What it asks the VMM's human monitor for; VMMs without one are
         * refused at validation naming this.  NULL: needs no HMP. */
        const char *hmp_use;

        /* Optional: spec-only checks and computed defaults, before the common
         * fields get theirs (so it can tell a field the user set). */
        int (*prepare)(json_t *spec, char **ret_error);
        /* Optional: checks that need the resolved plan (VMMs, accel, image). */
        int (*validate)(json_t *spec, const JobPlan *plan, char **ret_error);
        /* Optional: metric names that depend on the spec (a benchmark
         * matrix); used instead of `metrics`.  *ret is a malloc'd strv. */
        int (*spec_metrics)(json_t *spec, char ***ret);
        /* Optional: extra devices for its VMs (from the spec; the backend
         * renders them or the plan refuses the VMM).  *ret is malloc'd. */
        int (*devices)(json_t *spec, VmDevice **ret, size_t *n);
        /* Optional: the guest CPU model it needs, NULL for the VMM's default. */
        const char *(*cpu_model)(json_t *spec);

        /* Optional: per-run private data; freed with run_data_free after the run. */
        void *(*run_data_new)(Run *run);
        void (*run_data_free)(void *data);
        /* Optional: extra kernel command-line words for this run; *ret is
         * malloc'd.  When it sets virtlab.job itself, guest_job is not added. */
        int (*guest_cmdline)(Run *run, char **ret);
        /* Optional: virtio-blk disks for this run (strings owned by the
         * run's data or the spec); *ret is malloc'd. */
        int (*vm_disks)(Run *run, VmDisk **ret, size_t *n);
        /* VM-less kinds: does the run's work and ends it with run_complete()
         * (after run_fail() on failure).  Multi-VM kinds: spawns the first VMs. */
        int (*start_run)(Run *run);
        /* Optional: each line of job output, as it arrives. */
        void (*on_guest_line)(Run *run, const char *line);
        /* Optional: everything on the console of a single-VM run: each whole
         * line (partial false) and the unfinished line so far (partial true:
         * a prompt), before the runner's own handling of it. */
        void (*on_console)(Run *run, const char *text, bool partial);
        /* The guest printed its result frame.  The kind measures, then calls
         * run_stop_vm(), or leaves a powering-off guest to exit. */
        void (*on_guest_result)(Run *run);
        /* Multi-VM kinds: VM i printed its result frame (it is up). */
        void (*on_vm_ready)(Run *run, size_t i);
        /* Multi-VM kinds, optional: VM i exited unexpectedly (recorded in
         * its record already). */
        void (*on_vm_exit)(Run *run, size_t i);
        /* Optional: the run is ending, however (done, failed, canceled,
         * timed out): the last chance to add to its sample. */
        void (*on_run_end)(Run *run);
} ExperimentKind;

const ExperimentKind *experiment_kind_find(const char *name);
const ExperimentKind *const *experiment_kinds(void);
/* "boot, memory, …" for error messages. */
void experiment_kind_names(char *buf, size_t size);
