/* manager.c — job queue and daemon lifecycle. */
#include "manager.h"

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "util.h"

static void manager_on_dispatch(evutil_socket_t fd, short what, void *userdata);
static void manager_on_signal(evutil_socket_t fd, short what, void *userdata);

int manager_new(struct event_base *base, Manager **ret) {
        Manager *m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        m->base = base;
        (void) host_probe(&m->host);
        m->dispatch = evtimer_new(base, manager_on_dispatch, m);
        m->sigterm = evsignal_new(base, SIGTERM, manager_on_signal, m);
        m->sigint = evsignal_new(base, SIGINT, manager_on_signal, m);
        if (!m->dispatch || !m->sigterm || !m->sigint || event_add(m->sigterm, NULL) < 0 || event_add(m->sigint, NULL) < 0) {
                manager_free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

static ManagedJob *managed_job_free(ManagedJob *mj, const char *why) {
        if (!mj)
                return NULL;
        job_free(mj->job, why);
        sd_bus_track_unref(mj->track);
        free(mj);
        return NULL;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        char why[128];
        snprintf(why, sizeof(why), "virtlabd was stopped (%s) while the job ran", m->stop_signal ?: "shutdown");
        /* Every VM is killed and reaped inside job_free(): none outlives us. */
        while (m->jobs) {
                ManagedJob *mj = m->jobs;
                m->jobs = mj->next;
                managed_job_free(mj, why);
        }
        if (m->dispatch)
                event_free(m->dispatch);
        if (m->sigterm)
                event_free(m->sigterm);
        if (m->sigint)
                event_free(m->sigint);
        bus_event_free(m->bus_event);
        if (m->bus) {
                (void) sd_bus_flush(m->bus);
                sd_bus_flush_close_unref(m->bus);
        }
        store_close(m->store);
        free(m->state_dir);
        free(m->image_dir);
        free(m->run_dir);
        free(m);
        return NULL;
}

static void manager_on_signal(evutil_socket_t fd, short what, void *userdata) {
        Manager *m = userdata;
        m->stop_signal = fd == SIGTERM ? "SIGTERM" : "SIGINT";
        log_info("Received %s, stopping.", m->stop_signal);
        event_base_loopexit(m->base, NULL);
}

int manager_open_store(Manager *m, const char *state_dir) {
        m->state_dir = strdup(state_dir);
        if (!m->state_dir)
                return -ENOMEM;
        int r = store_open(state_dir, &m->store);
        if (r < 0)
                return r;
        if (store_recovered_jobs(m->store) > 0)
                log_notice("Marked %u interrupted job(s) as failed.", store_recovered_jobs(m->store));
        return 0;
}

JobContext manager_job_context(Manager *m) {
        return (JobContext) { .base = m->base, .store = m->store, .host = &m->host, .image_dir = m->image_dir,
                              .run_dir = m->run_dir };
}

ManagedJob *manager_find_job(Manager *m, uint32_t id) {
        for (ManagedJob *mj = m->jobs; mj; mj = mj->next)
                if (job_id(mj->job) == id)
                        return mj;
        return NULL;
}

static ManagedJob *find_by_job(Manager *m, Job *job) {
        for (ManagedJob *mj = m->jobs; mj; mj = mj->next)
                if (mj->job == job)
                        return mj;
        return NULL;
}

static void on_job_changed(Job *job, void *userdata) {
        Manager *m = userdata;
        ManagedJob *mj = find_by_job(m, job);
        if (mj)
                bus_lab_emit_job_changed(m, mj);
}

static void on_run_finished(Job *job, unsigned index, const char *json, void *userdata) {
        Manager *m = userdata;
        ManagedJob *mj = find_by_job(m, job);
        if (mj)
                bus_lab_emit_run_finished(m, mj, index, json);
}

static void on_job_finished(Job *job, void *userdata) {
        manager_schedule_dispatch(userdata);
}

const JobObserver manager_job_observer_template = {
        .changed = on_job_changed,
        .run_finished = on_run_finished,
        .finished = on_job_finished,
};

void manager_schedule_dispatch(Manager *m) {
        struct timeval zero = {};
        (void) evtimer_add(m->dispatch, &zero);
}

static unsigned queued_jobs(Manager *m) {
        unsigned n = 0;
        for (ManagedJob *mj = m->jobs; mj; mj = mj->next)
                n += job_state(mj->job) == JOB_QUEUED;
        return n;
}

/* The bound client went away: its experiment is no longer wanted. */
static int on_client_gone(sd_bus_track *track, void *userdata) {
        ManagedJob *mj = userdata;
        char why[128];
        snprintf(why, sizeof(why), "canceled: the client that started job %u disconnected", job_id(mj->job));
        log_notice("Job %u: %s", job_id(mj->job), why);
        /* sd-bus calls this whenever the track is found empty: drop it so it
         * fires once.  sd-bus holds its own reference during the call. */
        mj->track = sd_bus_track_unref(mj->track);
        job_cancel(mj->job, why);
        return 0;
}

int manager_add_job(Manager *m, Job *job, const char *bind_sender, ManagedJob **ret) {
        if (queued_jobs(m) >= JOBS_QUEUED_MAX)
                return -E2BIG;
        ManagedJob *mj = calloc(1, sizeof(ManagedJob));
        if (!mj)
                return -ENOMEM;
        mj->job = job;
        mj->manager = m;
        snprintf(mj->path, sizeof(mj->path), BUS_JOB_PREFIX "/_%u", job_id(job));
        if (bind_sender) {
                int r = sd_bus_track_new(m->bus, &mj->track, on_client_gone, mj);
                if (r >= 0)
                        r = sd_bus_track_add_name(mj->track, bind_sender);
                if (r < 0) {
                        /* The client may already be gone: then nobody wants the job. */
                        log_warning_errno(r, "Job %u: cannot track client %s: %m", job_id(job), bind_sender);
                        mj->track = sd_bus_track_unref(mj->track);
                        if (r == -ENXIO || r == -ESRCH)
                                job_cancel(job, "canceled: the client that started it had already disconnected");
                }
        }
        ManagedJob **tail = &m->jobs;
        while (*tail)
                tail = &(*tail)->next;
        *tail = mj;
        manager_schedule_dispatch(m);
        *ret = mj;
        return 0;
}

/* Removes finished jobs (announcing JobRemoved) and starts the next one. */
static void manager_on_dispatch(evutil_socket_t fd, short what, void *userdata) {
        Manager *m = userdata;
        for (ManagedJob **p = &m->jobs; *p;) {
                ManagedJob *mj = *p;
                if (job_state(mj->job) < JOB_DONE) {
                        p = &mj->next;
                        continue;
                }
                *p = mj->next;
                bus_lab_emit_job_removed(m, mj);
                managed_job_free(mj, NULL);
        }
        if (m->jobs && job_state(m->jobs->job) == JOB_QUEUED) {
                (void) job_start(m->jobs->job);
                /* A job that failed to start is finished: dispatch again. */
                if (job_state(m->jobs->job) >= JOB_DONE)
                        manager_schedule_dispatch(m);
        }
        bus_event_kick(m->bus_event);
}

static void manager_on_bus_lost(void *userdata) {
        Manager *m = userdata;
        m->stop_signal = "bus connection lost";
        event_base_loopexit(m->base, NULL);
}

static int bus_open(const char *which, sd_bus **ret) {
        if (streq(which, "system"))
                return sd_bus_open_system(ret);
        if (streq(which, "session"))
                return sd_bus_open_user(ret);
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);
        r = r < 0 ? r : sd_bus_set_address(bus, which);
        r = r < 0 ? r : sd_bus_set_bus_client(bus, true);
        r = r < 0 ? r : sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int manager_connect_bus(Manager *m, const char *which) {
        int r = bus_open(which, &m->bus);
        if (r < 0)
                return r;
        r = bus_lab_export(m);
        if (r < 0)
                return r;
        r = sd_bus_request_name(m->bus, BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to take the name %s (is another virtlabd running?): %m", BUS_NAME);
        return bus_event_attach(m->bus, m->base, manager_on_bus_lost, m, &m->bus_event);
}
