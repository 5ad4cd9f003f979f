/* plan.h — a submitted experiment, resolved: the spec checked (spec.c
 * tables, then the kind's own checks), its VMMs found with their
 * capabilities and accelerator, its guest image read.  Built once at
 * StartExperiment time, so a bad request is refused before anything is
 * stored or started, and everything a job needs later is already decided. */
#pragma once

#include <jansson.h>

#include "backends/catalog.h"
#include "experiments/experiment.h"
#include "files.h"
#include "host.h"
#include "image.h"

/* Most VMMs one job rotates through. */
#define PLAN_VMMS_MAX 4

struct PlanVmm {
        const VmmBackend *backend; /* which VMM */
        VmmInfo info;              /* binary path, version (settled at job start), or why unusable */
        Accel accel;               /* resolved: KVM or TCG */
        const char *accel_reason;  /* why that accelerator (static) */
        const char *caveat;        /* the backend's word on this host and accel, NULL if none */
        const char *kernel;        /* the image's kernel in a format it boots */
        const char *cpu_model;     /* guest CPU model: the kind's, else the backend's for this host, else NULL */
};

struct JobPlan {
        const ExperimentKind *kind;  /* what is measured */
        json_t *spec;                /* validated, defaults filled in */
        PlanVmm vmms[PLAN_VMMS_MAX]; /* runs rotate through these; [0] is the reference */
        size_t n_vmms;               /* 0 for a VM-less kind */
        Image *image;                /* NULL for a VM-less kind */
        const HostInfo *host;        /* the host it runs on */
        CallerFiles files;           /* the caller's image and disk, as fds (owned) */
        int inherit_fds[CALLER_FILES_MAX]; /* of those, the image files each VMM gets (/proc/self/fd/N) */
        size_t n_inherit_fds;        /* entries in inherit_fds */
        char *console_password;      /* the console login's password (passed as a file), NULL: none; never stored, wiped */
};

typedef struct PlanContext {
        const HostInfo *host;        /* probed at start-up */
        VmmCatalog *catalog;         /* binaries and versions */
        const char *image_dir;       /* the default guest image */
} PlanContext;

typedef enum PlanError {
        PLAN_INVALID,                /* the request is wrong (InvalidArgs) */
        PLAN_VMM_UNAVAILABLE,        /* a VMM it names is not installed/usable here */
} PlanError;

/* The spec-only part of plan_new(), in its order: an object, known fields,
 * the kind's table and prepare(), its defaults, the common table.  Defaults
 * are added in place; -EINVAL with a sentence in *ret_error. */
int plan_check_spec(const ExperimentKind *kind, json_t *spec, char **ret_error);
/* Checks spec (taken as a reference; defaults are added in place) for kind
 * and resolves it.  files (may be NULL) are the caller's image and disk; on
 * success the plan takes them over (*files is left empty).  On failure
 * -EINVAL (or -ENOMEM), with a sentence in *ret_error and the class in
 * *ret_class. */
int plan_new(const PlanContext *ctx, const ExperimentKind *kind, json_t *spec, CallerFiles *files, JobPlan **ret,
             char **ret_error, PlanError *ret_class);
JobPlan *plan_free(JobPlan *p);
/* "qemu" or "qemu,qemu-microvm" ("-" for a VM-less kind): what ListJobs shows. */
char *plan_vmm_label(const JobPlan *p);
/* The metric names of the result (the kind's, or its spec's). */
char **plan_metric_names(const JobPlan *p);
