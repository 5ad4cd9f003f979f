/* run.h — one run of a job: one VM from spawn to exit (or, for a multi-VM
 * kind, the VMs its start_run() spawns; for a VM-less kind, one start_run()
 * to run_complete()), their guest console protocol, its timers and its
 * sample document.  The first half is what an experiment
 * kind may do with its run; the second is the job runner's. */
#pragma once

#include <event2/event.h>
#include <jansson.h>
#include <sys/types.h>

#include "qmp-client.h"
#include "util.h"

typedef struct Run Run;
typedef struct JobPlan JobPlan;
typedef struct PlanVmm PlanVmm;

/* ---- for experiment kinds --------------------------------------------- */

json_t *run_spec(Run *run);           /* the job's validated spec (borrowed) */
json_t *run_sample(Run *run);         /* the run's sample object to add fields to (borrowed) */
const JobPlan *run_plan(Run *run);    /* VMMs, image, host */
const PlanVmm *run_vmm(Run *run);     /* this run's VMM, NULL for a VM-less kind */
void *run_data(Run *run);             /* the kind's per-run data (run_data_new) */
unsigned run_index(Run *run);
bool run_is_warmup(Run *run);
struct event_base *run_event_base(Run *run);
/* STATE_DIR/logs: durable (not tmpfs) storage for a kind's scratch files. */
const char *run_logs_dir(Run *run);
pid_t run_vmm_pid(Run *run);          /* 0 without a running VMM */
struct QmpClient *run_qmp(Run *run);  /* NULL if the VMM has no usable QMP (yet) */
bool run_vmm_has_hmp(Run *run);
void run_set_phase(Run *run, const char *phase);
/* Calls fn(run) after delay on the loop; one pending timer per run.  Works
 * for VM-less runs too; never fires once the run failed or its VM is gone. */
int run_after(Run *run, usec_t delay, void (*fn)(Run *run));
/* Enters phase "settle" and calls fn(run) after the spec's settle_ms: the
 * usual next step once a held guest has reported. */
void run_after_settle(Run *run, void (*fn)(Run *run));
/* Asks the VMM (every VM of a multi-VM run) to quit (QMP "quit", SIGKILL
 * after a grace period); the run succeeds when they exited. */
void run_stop_vm(Run *run);
/* The kind keeps the VM past the guest's result (to talk to its console)
 * and stops it itself (run_stop_vm, run_fail). */
void run_hold_vm(Run *run);
/* Types buf on the guest's serial console.  -EOPNOTSUPP where the VMM's
 * console takes no input, -ESRCH without a running VM. */
int run_console_write(Run *run, const char *buf, size_t len);
/* The job output lines the guest printed inside its frame, "" before any. */
const char *run_guest_output(Run *run);
/* The guest result frame (borrowed), NULL before it arrived. */
json_t *run_guest_result(Run *run);
/* VM-less kinds that own a process register how to end it: stop(data,
 * false) on cancel/timeout (kill; run_complete() follows from its exit),
 * stop(data, true) when the daemon drops the run (kill, reap, free now;
 * never touch the run again). */
void run_set_stopper(Run *run, void (*stop)(void *data, bool now), void *data);
/* Multi-VM kinds (ExperimentKind.multi_vm): start_run() spawns VMs with
 * run_spawn_vm(); each has a record in sample.vms[i] with its milestones
 * (boot_ms, t_exec_ms, …), its exit and its error.  The kind hears of each
 * VM's guest result (on_vm_ready) and of a VM dying (on_vm_exit), and ends
 * the run with run_stop_vm() (all VMs quit) or run_fail(); the run ends when
 * its last VM exited.  Index 0 is the first VM. */
int run_spawn_vm(Run *run, size_t *ret_index);
size_t run_vm_count(Run *run);               /* VMs spawned so far */
size_t run_vms_alive(Run *run);              /* ... not exited yet */
pid_t run_vm_pid(Run *run, size_t i);        /* 0 once it exited */
json_t *run_vm_record(Run *run, size_t i);   /* sample.vms[i] (borrowed) */
double run_vm_boot_ms(Run *run, size_t i);   /* spawn → init marker, -1 before it */
usec_t run_vm_t_spawn(Run *run, size_t i);   /* monotonic */
usec_t run_vm_t_ready(Run *run, size_t i);   /* its guest result, 0 before it */
/* Records why VM i failed in its record and kills it; the run goes on. */
void run_vm_fail(Run *run, size_t i, const char *fmt, ...) _printf_(3, 4);
/* Ends a VM-less run (after run_fail() on failure). */
void run_complete(Run *run);
/* Fails the run with a reason (the first reason wins); the VM is killed. */
void run_fail(Run *run, const char *fmt, ...) _printf_(2, 3);

/* ---- for the job runner ----------------------------------------------- */

typedef struct RunContext {
        struct event_base *base;  /* the loop */
        const JobPlan *plan;      /* what the job runs */
        const PlanVmm *vmm;       /* this run's VMM (NULL: VM-less kind) */
        uint32_t job_id;          /* for log and console paths */
        unsigned index;           /* 0-based, warm-up runs first */
        bool warmup;              /* discarded from statistics */
        const char *logs_dir;     /* STATE_DIR/logs */
        const char *run_dir;      /* private 0700 scratch directory */
        void (*on_phase)(Run *run, void *userdata); /* phase changed */
        /* The run ended (sample complete); called from a fresh loop
         * iteration, so the owner may run_free() from here. */
        void (*on_done)(Run *run, void *userdata);
        void *userdata;           /* for the callbacks */
} RunContext;

int run_new(const RunContext *c, Run **ret);
/* Spawns the VM (or calls start_run); a failure to start ends the run
 * (on_done follows) rather than returning an error. */
void run_start(Run *run);
/* The daemon drops the run now (shutdown): its VM or process is killed and
 * reaped synchronously, the sample records why.  on_done is not called. */
void run_abort(Run *run, const char *why);
Run *run_free(Run *run);
const char *run_phase(Run *run);
const char *run_error(Run *run);      /* NULL if it did not fail */
bool run_ended(Run *run);             /* on_done was (or is about to be) called */
/* QMP of the VM if it is up and speaks HMP; NULL otherwise. */
struct QmpClient *run_hmp(Run *run);
/* Something outside the experiment touched the VM while it was measured
 * (a client's MemoryTree): recorded, and the run is flagged "contended". */
void run_note_intrusion(Run *run, const char *what);
