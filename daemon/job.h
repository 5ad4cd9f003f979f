/* job.h — one experiment job: a validated spec, N runs (warm-up first),
 * each run one VM from spawn to reap, then a result document with
 * statistics, stored durably.  Jobs run one at a time (manager.c queues). */
#pragma once

#include <event2/event.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>

#include "experiment.h"
#include "host.h"
#include "store.h"
#include "vmm.h"

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

/* What every job shares: the loop, the store, the host facts, the image. */
typedef struct JobContext {
        struct event_base *base; /* the daemon's loop */
        Store *store;            /* where results go */
        const HostInfo *host;    /* probed at start-up */
        const char *image_dir;   /* default guest image (holds image.json) */
        const char *run_dir;     /* private 0700 scratch directory */
} JobContext;

/* Validates spec (adds defaults in place).  On error returns -EINVAL and a
 * sentence naming the bad field or value in *ret_error. */
int job_spec_validate(const ExperimentKind *kind, json_t *spec, const JobContext *ctx, char **ret_error);
/* Creates a queued job (stored at once).  Takes a reference to spec. */
int job_new(const JobContext *ctx, const ExperimentKind *kind, json_t *spec, const JobObserver *obs, Job **ret);
/* Starts the first run. */
int job_start(Job *job);
/* Cancels: a queued job ends at once, a running one once its VM is reaped. */
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
const char *job_vmm(const Job *job);
/* QMP of the VM the job is running right now, if it is up and speaks HMP;
 * NULL otherwise (between runs, VM-less kinds, StratoVirt). */
QmpClient *job_running_hmp(Job *job);
bool job_bound_to_client(const Job *job);
