/* manager.h — the daemon's state: loop, bus, store, host facts and the job
 * queue.  Jobs run one at a time, in the order they were started: two VMs
 * measured at once would disturb each other's figures.  A job started while
 * another runs is queued (state "queued"), up to JOBS_QUEUED_MAX. */
#pragma once

#include <event2/event.h>
#include <systemd/sd-bus.h>

#include "bus-event.h"
#include "host.h"
#include "job.h"
#include "store.h"

#define JOBS_QUEUED_MAX 32
#define VIRTLAB_VERSION "0.1.0"
#define BUS_NAME "org.virtlab.Lab1"
#define BUS_PATH "/org/virtlab/Lab1"
#define BUS_JOB_PREFIX "/org/virtlab/Lab1/job"
#define BUS_JOB_INTERFACE "org.virtlab.Lab1.Job"

typedef struct ManagedJob {
        Job *job;            /* the job */
        char path[64];       /* its bus object path */
        sd_bus_track *track; /* the starting client, when bound to it */
        struct Manager *manager; /* owner */
        struct ManagedJob *next; /* queue order */
} ManagedJob;

typedef struct Manager {
        struct event_base *base; /* the one loop */
        sd_bus *bus;             /* our connection */
        BusEvent *bus_event;     /* bus on the loop */
        Store *store;            /* results */
        HostInfo host;           /* probed once at start-up */
        char *state_dir;         /* results.db and logs */
        char *image_dir;         /* default guest image */
        char *run_dir;           /* private scratch directory */
        ManagedJob *jobs;        /* running first, then queued */
        struct event *dispatch;  /* deferred: reap finished jobs, start the next */
        struct event *sigterm, *sigint; /* clean shutdown */
        const char *stop_signal; /* which signal stopped us */
} Manager;

int manager_new(struct event_base *base, Manager **ret);
Manager *manager_free(Manager *m);
/* Connects to the bus (system, session or an address), exports the objects,
 * takes the name. */
int manager_connect_bus(Manager *m, const char *bus);
int manager_open_store(Manager *m, const char *state_dir);
/* Enqueues a validated job; fills the managed-job entry. */
int manager_add_job(Manager *m, Job *job, const char *bind_sender, ManagedJob **ret);
ManagedJob *manager_find_job(Manager *m, uint32_t id);
void manager_schedule_dispatch(Manager *m);
JobContext manager_job_context(Manager *m);
extern const JobObserver manager_job_observer_template;

/* bus-lab.c: object vtables and signal emission. */
int bus_lab_export(Manager *m);
void bus_lab_emit_job_new(Manager *m, ManagedJob *mj);
void bus_lab_emit_job_removed(Manager *m, ManagedJob *mj);
void bus_lab_emit_job_changed(Manager *m, ManagedJob *mj);
void bus_lab_emit_run_finished(Manager *m, ManagedJob *mj, unsigned index, const char *json);
