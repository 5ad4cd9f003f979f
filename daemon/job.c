/* job.c — the job runner: a plan's runs in order, each sample stored the
 * moment its run ends, then the result document.  A failed run fails the
 * job: statistics over a sample with holes would lie.  Everything about one
 * run lives in run.c, the document in result.c. */
#include "job.h"

#include <stdio.h>

#include "result.h"
#include "run.h"

struct Job {
        JobContext ctx;        /* shared daemon facilities */
        JobObserver obs;       /* manager's callbacks */
        uint32_t id;           /* store id */
        JobPlan *plan;         /* what runs, resolved */
        char *vmm_label;       /* what ListJobs shows */
        json_t *samples;       /* every run's sample, in order */
        json_t *environment;   /* what the result records about the setup */
        JobState state;        /* lifecycle */
        unsigned runs_total;   /* warm-up + measured, over every VMM */
        unsigned warmup;       /* warm-up runs, per VMM */
        unsigned runs_done;    /* finished runs */
        Run *run;              /* current run */
        VmmWaiter *waiting[PLAN_VMMS_MAX]; /* version probes job_start waits for */
        unsigned n_waiting;    /* pending entries in waiting */
        char *error;           /* why the job failed */
        char *unstored;        /* the result document the store refused, NULL if stored */
        char *started_at;      /* ISO 8601 UTC, when the first run began */
        bool cancel_requested; /* cancel arrived while a run was under way */
};

static void job_finish(Job *job, JobState state, const char *error);
static void job_next_run(Job *job);

static const char *const job_state_table[_JOB_STATE_MAX] = {
        [JOB_QUEUED] = "queued", [JOB_RUNNING] = "running", [JOB_DONE] = "done",
        [JOB_FAILED] = "failed", [JOB_CANCELED] = "canceled",
};

const char *job_state_to_string(JobState s) {
        return s >= 0 && s < _JOB_STATE_MAX ? job_state_table[s] : NULL;
}

uint32_t job_id(const Job *job) { return job->id; }
const ExperimentKind *job_kind(const Job *job) { return job->plan->kind; }
JobState job_state(const Job *job) { return job->state; }
const char *job_phase(const Job *job) { return job->run ? run_phase(job->run) : ""; }
unsigned job_runs_done(const Job *job) { return job->runs_done; }
unsigned job_runs_total(const Job *job) { return job->runs_total; }
const char *job_error(const Job *job) { return job->error; }
const char *job_vmm(const Job *job) { return job->vmm_label; }
bool job_bound_to_client(const Job *job) { return spec_bool(job->plan->spec, "bind_to_client"); }
QmpClient *job_running_hmp(Job *job, const char *what) {
        QmpClient *q = job->run ? run_hmp(job->run) : NULL;
        if (q)
                run_note_intrusion(job->run, what);
        return q;
}
const char *job_unstored_result(const Job *job) { return job->unstored; }

double job_progress(const Job *job) {
        if (job->state >= JOB_DONE)
                return 1.0;
        return job->runs_total ? (double) job->runs_done / job->runs_total : 0.0;
}

static void job_notify_changed(Job *job) {
        if (job->obs.changed)
                job->obs.changed(job, job->obs.userdata);
}

static void set_error(Job *job, const char *error) {
        if (!error || error == job->error)
                return;
        free(job->error);
        job->error = strdup(error);
}

int job_new(const JobContext *ctx, JobPlan *plan, const JobObserver *obs, Job **ret) {
        Job *job = calloc(1, sizeof(Job));
        if (!job) {
                plan_free(plan);
                return -ENOMEM;
        }
        *job = (Job) { .ctx = *ctx, .obs = obs ? *obs : (JobObserver) {}, .plan = plan, .state = JOB_QUEUED,
                       .samples = json_array(), .vmm_label = plan_vmm_label(plan) };
        /* Warm-up and measured runs are per VMM: one warm-up each by default. */
        unsigned per = plan->n_vmms ? (unsigned) plan->n_vmms : 1;
        job->warmup = (unsigned) spec_int(plan->spec, "warmup");
        job->runs_total = (job->warmup + (unsigned) spec_int(plan->spec, "runs")) * per;
        _cleanup_free_ char *text = json_dumps(plan->spec, JSON_COMPACT | JSON_SORT_KEYS);
        int r = text && job->samples && job->vmm_label
                        ? store_job_create(ctx->store, plan->kind->name, text, &job->id)
                        : -ENOMEM;
        if (r < 0) {
                job_free(job, NULL);
                return r;
        }
        *ret = job;
        return 0;
}

/* ---- start ------------------------------------------------------------ */

static void job_begin_runs(Job *job) {
        for (size_t i = 0; i < job->plan->n_vmms; i++) {
                const PlanVmm *v = &job->plan->vmms[i];
                if (v->info.error) {
                        char why[1024];
                        snprintf(why, sizeof(why), "VMM '%s' is unavailable: %s", v->backend->name, v->info.error);
                        job_finish(job, JOB_FAILED, why);
                        return;
                }
        }
        job->environment = result_environment(job->plan);
        const PlanVmm *ref = job->plan->n_vmms ? &job->plan->vmms[0] : NULL;
        log_info("Job %u: %s on %s, %u runs (%u warm-up per VMM)%s%s%s%s%s", job->id, job->plan->kind->name,
                 job->vmm_label, job->runs_total, job->warmup, ref ? ", accel " : "",
                 ref ? accel_to_string(ref->accel) : "", ref ? " (" : "", ref ? strempty(ref->accel_reason) : "",
                 ref ? ")" : "");
        job_notify_changed(job);
        job_next_run(job);
}

/* A VMM's version probe settled: keep the facts the job will record. */
static void on_vmm_ready(const VmmBackend *b, const VmmInfo *info, void *userdata) {
        Job *job = userdata;
        for (size_t i = 0; i < job->plan->n_vmms; i++) {
                PlanVmm *v = &job->plan->vmms[i];
                if (v->backend != b || !job->waiting[i])
                        continue;
                job->waiting[i] = NULL;
                job->n_waiting--;
                vmm_info_done(&v->info);
                if (vmm_info_copy(info, &v->info) < 0)
                        v->info.error = strdup("out of memory");
        }
        if (job->n_waiting == 0)
                job_begin_runs(job);
}

void job_start(Job *job) {
        job->started_at = result_now_iso();
        job->state = JOB_RUNNING;
        (void) store_job_set_running(job->ctx.store, job->id);
        for (size_t i = 0; i < job->plan->n_vmms; i++) {
                job->n_waiting++;
                if (vmm_catalog_when_ready(job->ctx.catalog, job->plan->vmms[i].backend, on_vmm_ready, job,
                                           &job->waiting[i]) < 0) {
                        job->n_waiting--;
                        job_finish(job, JOB_FAILED, "cannot wait for the VMM's version probe");
                        return;
                }
        }
        if (job->n_waiting == 0)
                job_begin_runs(job);
}

/* ---- runs ------------------------------------------------------------- */

static void on_run_phase(Run *run, void *userdata) {
        job_notify_changed(userdata);
}

/* Stores the sample and tells the observer. */
static void job_record_run(Job *job, Run *run) {
        json_t *sample = run_sample(run);
        _cleanup_free_ char *text = json_dumps(sample, JSON_COMPACT);
        if (text)
                (void) store_run_add(job->ctx.store, job->id, run_index(run), text);
        json_array_append(job->samples, sample);
        job->runs_done++;
        if (job->obs.run_finished && text)
                job->obs.run_finished(job, run_index(run), text, job->obs.userdata);
}

static void on_run_done(Run *run, void *userdata) {
        Job *job = userdata;
        job_record_run(job, run);
        _cleanup_free_ char *error = run_error(run) ? strdup(run_error(run)) : NULL;
        unsigned index = run_index(run);
        job->run = run_free(job->run);
        if (job->cancel_requested) {
                job_finish(job, JOB_CANCELED, job->error);
                return;
        }
        if (error) {
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
        job_next_run(job);
}

static void job_next_run(Job *job) {
        const JobPlan *p = job->plan;
        unsigned index = job->runs_done, per = p->n_vmms ? (unsigned) p->n_vmms : 1;
        RunContext c = { .base = job->ctx.base, .plan = p, .vmm = p->n_vmms ? &p->vmms[index % per] : NULL,
                         .job_id = job->id, .index = index, .warmup = index < job->warmup * per,
                         .logs_dir = store_logs_dir(job->ctx.store), .run_dir = job->ctx.run_dir,
                         .on_phase = on_run_phase, .on_done = on_run_done, .userdata = job };
        int r = run_new(&c, &job->run);
        if (r < 0) {
                job_finish(job, JOB_FAILED, "out of memory starting a run");
                return;
        }
        run_start(job->run);
}

/* ---- end -------------------------------------------------------------- */

static char *job_result_text(Job *job) {
        _cleanup_free_ char *finished = result_now_iso();
        ResultInput in = { .job_id = job->id, .plan = job->plan, .state = job_state_to_string(job->state),
                           .error = job->error, .environment = job->environment, .started_at = job->started_at,
                           .finished_at = finished, .samples = job->samples, .runs_total = job->runs_total,
                           .warmup = job->warmup };
        json_t *doc = result_document(&in);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        return text;
}

/* The store refused the result (disk full, read-only): the job fails with
 * that as its error, and the document stays in memory for GetResult. */
static void job_store_failed(Job *job, int r) {
        char why[512];
        snprintf(why, sizeof(why), "the result could not be stored: %s (%s)%s%s", strerror(-r),
                 store_last_error(job->ctx.store), job->error ? "; before that: " : "", strempty(job->error));
        log_error("Job %u: %s", job->id, why);
        job->state = JOB_FAILED;
        set_error(job, why);
        job->unstored = job_result_text(job);
        /* A short row may still fit where the document did not. */
        (void) store_job_finish(job->ctx.store, job->id, "failed", job->error, NULL);
}

static void job_finish(Job *job, JobState state, const char *error) {
        if (job->state >= JOB_DONE)
                return;
        job->state = state;
        set_error(job, error);
        for (size_t i = 0; i < PLAN_VMMS_MAX; i++)
                job->waiting[i] = (vmm_catalog_cancel(job->waiting[i]), NULL);
        _cleanup_free_ char *text = job_result_text(job);
        int r = text ? store_job_finish(job->ctx.store, job->id, job_state_to_string(state), job->error, text) : -ENOMEM;
        if (r < 0)
                job_store_failed(job, r);
        else if (state == JOB_DONE)
                log_info("Job %u done", job->id);
        else
                log_notice("Job %u %s: %s", job->id, job_state_to_string(state), strempty(job->error));
        if (job->obs.finished)
                job->obs.finished(job, job->obs.userdata);
}

void job_cancel(Job *job, const char *reason) {
        if (job->state >= JOB_DONE || job->cancel_requested)
                return;
        set_error(job, reason);
        if (!job->run || run_ended(job->run)) {
                job_finish(job, JOB_CANCELED, reason);
                return;
        }
        job->cancel_requested = true;
        run_fail(job->run, "%s", reason);
}

Job *job_free(Job *job, const char *why) {
        if (!job)
                return NULL;
        if (why)
                job->obs = (JobObserver) {};
        /* NULLed: job_finish() below cancels them again. */
        for (size_t i = 0; i < PLAN_VMMS_MAX; i++)
                job->waiting[i] = (vmm_catalog_cancel(job->waiting[i]), NULL);
        if (job->run) {
                run_abort(job->run, why ?: "the job was dropped");
                job_record_run(job, job->run);
                job->run = run_free(job->run);
        }
        if (why && job->state < JOB_DONE)
                job_finish(job, JOB_FAILED, why);
        plan_free(job->plan);
        free(job->vmm_label);
        json_decref(job->samples);
        json_decref(job->environment);
        free(job->error);
        free(job->unstored);
        free(job->started_at);
        free(job);
        return NULL;
}
