/* manager.h — the daemon's state, without the bus: host facts, the VMM
 * catalog, the store, and the job queue.  Jobs run one at a time, in the
 * order they were submitted: two VMs measured at once would disturb each
 * other's figures.  A job submitted while another runs is queued, up to
 * JOBS_QUEUED_MAX.  bus-lab.c serves all of it on D-Bus through the observer
 * below; nothing here knows D-Bus. */
#pragma once

#include <event2/event.h>
#include <jansson.h>

#include "backends/catalog.h"
#include "files.h"
#include "host.h"
#include "job.h"
#include "store.h"

#define JOBS_QUEUED_MAX 32
#define VIRTLAB_VERSION "0.2.0"

typedef struct Manager Manager;

typedef struct ManagerConfig {
        const char *state_dir;   /* results.db and logs */
        const char *image_dir;   /* default guest image (its siblings are images by name) */
        const char *run_dir;     /* private scratch directory */
} ManagerConfig;

/* What the bus side learns (all optional). */
typedef struct ManagerObserver {
        void (*job_new)(Job *job, void *userdata);
        void (*job_changed)(Job *job, void *userdata);
        void (*run_finished)(Job *job, unsigned index, const char *sample_json, void *userdata);
        /* The job reached its end and is about to be freed. */
        void (*job_removed)(Job *job, void *userdata);
        /* Events were queued outside a bus callback: flush them. */
        void (*kick)(void *userdata);
        void *userdata;
} ManagerObserver;

typedef enum ManagerError {
        MANAGER_INVALID,          /* bad request: InvalidArgs */
        MANAGER_VMM_UNAVAILABLE,  /* a VMM it needs is missing here */
        MANAGER_QUEUE_FULL,       /* JOBS_QUEUED_MAX jobs already wait */
        MANAGER_INTERNAL,         /* out of memory, store failure */
} ManagerError;

/* Probes the host, starts the VMM catalog, opens the store. */
int manager_new(struct event_base *base, const ManagerConfig *cfg, Manager **ret);
/* Kills and reaps every VM; unfinished jobs are stored as failed. */
Manager *manager_free(Manager *m);
void manager_set_observer(Manager *m, const ManagerObserver *o);
/* Stops the loop (signal, lost bus); manager_free() does the rest. */
void manager_stop(Manager *m, const char *why);

/* Validates and queues an experiment.  files (may be NULL): the caller's
 * image and disk as fds; the job takes them over on success.  On failure
 * -errno with a sentence in *ret_error and the class in *ret_class;
 * nothing is stored then. */
int manager_submit(Manager *m, const char *kind, const char *spec_text, CallerFiles *files, Job **ret,
                   char **ret_error, ManagerError *ret_class);
Job *manager_find_job(Manager *m, uint32_t id);
/* Active jobs, running first, then queued, NULL-terminated (malloc'd array). */
Job **manager_jobs(Manager *m);
/* Cancels an active job; -ENOENT if there is none with that id. */
int manager_cancel_job(Manager *m, uint32_t id, const char *why);
/* Describe(): host, VMMs (cached, never probed or re-found here: call
 * manager_when_settled() first), kinds, image, store. */
json_t *manager_describe(Manager *m);
/* Re-finds the VMM binaries; then, like vmm_catalog_when_settled(), 1 when
 * cb(userdata) will follow once the version probes under way have ended, 0
 * when none is under way. */
int manager_when_settled(Manager *m, void (*cb)(void *userdata), void *userdata);
/* GetResult: the stored document, or one the store refused (kept in
 * memory), as store_job_result(). */
int manager_get_result(Manager *m, uint32_t id, char **ret_json);
/* ListResults: store_list(), where a job whose final write the store refused
 * (disk full) shows its real state, not the "running" its row still holds;
 * such rows are written again first. */
int manager_list_results(Manager *m, const char *kind, const char *vmm, const char *state, unsigned limit,
                         char **ret_json);
Store *manager_store(Manager *m);
const HostInfo *manager_host(Manager *m);
