/* report-set.h — what one report covers.  Its result documents are seen as
 * one table (experiment kind, VMM) → measured runs, whichever job each came
 * from: one compare job that interleaved every VMM, or one job per VMM run
 * one after another (and the report must say which).  Also: the VMMs in
 * column order with their accelerator and caveat, and which documents a
 * report without IDs covers.  Pure: documents in, answers out. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

/* Most VMMs (columns) one report compares. */
#define REPORT_VMMS_MAX 8
/* Newest finished jobs a report without IDs looks at. */
#define REPORT_PICK_SCAN_MAX 40

typedef struct ReportVmm {
        const char *name;         /* "qemu-microvm" */
        const char *accel;        /* "kvm", "tcg", or "?" */
        const char *accel_reason; /* why that accelerator, or "" */
        const char *caveat;       /* the backend's sentence for this VMM here, or NULL */
        const char *version;      /* the VMM's version line, or "" */
        const char *path;         /* its binary, or "" */
} ReportVmm;

typedef struct ReportSet {
        json_t *const *docs;             /* the documents (borrowed), in the order given */
        size_t n;                        /* how many */
        ReportVmm vmms[REPORT_VMMS_MAX]; /* the columns; the first is the reference */
        size_t n_vmms;                   /* how many */
} ReportSet;

/* Builds the view of docs[0..n) (borrowed; they must outlive s).  VMMs are
 * ordered as the first compare job lists them, else by the job that first
 * measured each (lowest job id first). */
void report_set_init(ReportSet *s, json_t *const *docs, size_t n);

/* The document that holds kind's runs on vmm (the first such), or NULL. */
json_t *report_set_doc(const ReportSet *s, const char *kind, const char *vmm);

/* Whether kind ran interleaved: one compare job holds it for every VMM of
 * the set that has it.  False for a kind measured in separate jobs. */
bool report_set_interleaved(const ReportSet *s, const char *kind);

/* The measured samples (successful runs, warm-ups left out) of metric for
 * (kind, vmm), as a new array (free()); NULL and *ret_n 0 when there are none. */
double *report_set_samples(const ReportSet *s, const char *kind, const char *vmm, const char *metric, size_t *ret_n);

/* Statistics of those samples (daemon/stats.c, as the daemon computes them).
 * 0, or -ENODATA when there are none. */
int report_set_stats(const ReportSet *s, const char *kind, const char *vmm, const char *metric, StatsSummary *ret);

/* Two-sided p of vmm against the reference VMM on metric: the compare job's
 * own permutation p when one job holds both, else the permutation test on
 * the runs of the two jobs.  NAN with fewer than 2 runs a side.
 * *ret_same_job (may be NULL): whether one job held both. */
double report_set_p(const ReportSet *s, const char *kind, const char *vmm, const char *metric, bool *ret_same_job);

/* ---- what a report without IDs covers --------------------------------- */

typedef enum ReportPick {
        REPORT_PICK_COMPARE,  /* the newest compare job and the jobs its command ran with it */
        REPORT_PICK_SEPARATE, /* no compare job: the newest job of each kind per VMM */
        _REPORT_PICK_MAX,
        _REPORT_PICK_INVALID = -22,
} ReportPick;

/* One ListResults row. */
typedef struct ReportRow {
        uint32_t id;      /* job id */
        const char *kind; /* experiment kind */
        const char *vmm;  /* the (first) VMM */
} ReportRow;

/* The document of rows[i] into *ret (borrowed: the caller keeps it until
 * the pick is used).  0 or -errno. */
typedef int (*ReportFetch)(size_t i, void *userdata, json_t **ret);

/* Picks from finished jobs (rows, newest first; documents fetched only as
 * needed) what a report without IDs covers: the newest compare job and its
 * siblings (the consecutive jobs with the same VMMs and image: one
 * `compare --experiments` command), else the newest boot and memory job
 * of each VMM on the newest one's image; then the newest bench job of each
 * kind per VMM of those, and the newest mtree and translate jobs (the memory
 * lab).  Indices into rows go to ret_idx (at most max), oldest first.
 * 0, -ENODATA when nothing fits, or fetch's error. */
int report_pick(const ReportRow *rows, size_t n, ReportFetch fetch, void *userdata, size_t *ret_idx, size_t max,
                size_t *ret_n, ReportPick *ret_pick);
