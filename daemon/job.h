/* job.h — one experiment job: a resolved plan, N runs (warm-up first, VMMs
 * in rotation A B C A B C …), then a result document stored durably.  Jobs
 * run one at a time (manager.c queues them). */
#pragma once

#include <event2/event.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>

#include "backends/catalog.h"
#include "plan.h"
#include "store.h"

typedef struct Job Job;

typedef enum JobState {
        JOB_QUEUED,   /* waiting for the running job to end */
        JOB_RUNNING,  /* runs under way */
        JOB_DONE,     /* every run succeeded; result stored */
        JOB_FAILED,   /* a run failed (or the daemon stopped); result stored */
        JOB_CANCELED, /* canceled by a client; result stored */
        _JOB_STATE_MAX,
        _JOB_STATE_INVALID = -EINVAL,
} JobState;

const char *job_state_to_string(JobState s);

/* The manager learns about progress through these (all optional). */
typedef struct JobObserver {
        void (*changed)(Job *job, void *userdata);                  /* state/progress/phase */
        void (*run_finished)(Job *job, unsigned index, const char *sample_json, void *userdata);
        void (*finished)(Job *job, void *userdata);                 /* terminal state reached, result stored */
        void *userdata;
} JobObserver;

/* What every job shares. */
typedef struct JobContext {
        struct event_base *base; /* the daemon's loop */
        Store *store;            /* where results go */
        VmmCatalog *catalog;     /* VMM versions, settled at job start */
        const char *run_dir;     /* private 0700 scratch directory */
} JobContext;

/* Creates a queued job from a plan (taken over, also on failure) and stores it. */
int job_new(const JobContext *ctx, JobPlan *plan, const JobObserver *obs, Job **ret);
/* Starts: settles the VMM versions, then the first run. */
void job_start(Job *job);
/* Cancels: a queued job ends at once, a running one once its run has ended. */
void job_cancel(Job *job, const char *reason);
/* Frees the job; a running VM is killed and reaped first, and an unfinished
 * job is stored as failed with `why`. */
Job *job_free(Job *job, const char *why);

uint32_t job_id(const Job *job);
const ExperimentKind *job_kind(const Job *job);
JobState job_state(const Job *job);
const char *job_phase(const Job *job);
double job_progress(const Job *job);
unsigned job_runs_done(const Job *job);
unsigned job_runs_total(const Job *job);
const char *job_error(const Job *job);
const char *job_vmm(const Job *job);       /* "qemu" or "qemu,qemu-microvm"; "-" without a VM */
bool job_bound_to_client(const Job *job);
/* The finished job's result document when the store refused it (a full or
 * read-only state dir), NULL when it was stored.  Borrowed. */
const char *job_unstored_result(const Job *job);
/* QMP of the VM the job is running right now, if it is up and speaks HMP;
 * NULL otherwise (between runs, VM-less kinds, VMMs without HMP).  what
 * names the caller: the run records the intrusion and is flagged. */
QmpClient *job_running_hmp(Job *job, const char *what);
