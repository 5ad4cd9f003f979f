/* result.h — the result document of a job (schemas/result.schema.json):
 * what ran (spec, environment), every run's sample, and the statistics over
 * the measured ones.  Pure: built from its inputs, no I/O. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "plan.h"

typedef struct ResultInput {
        uint32_t job_id;          /* store id */
        const JobPlan *plan;      /* kind, spec, VMMs */
        const char *state;        /* "done", "failed", "canceled", … */
        const char *error;        /* why it did not finish, NULL if it did */
        json_t *environment;      /* job_environment(), may be NULL (never started) */
        const char *started_at;   /* ISO 8601 UTC, NULL if it never started */
        const char *finished_at;  /* ISO 8601 UTC */
        json_t *samples;          /* every run's sample, in order */
        unsigned runs_total;      /* planned runs, warm-up included */
        unsigned warmup;          /* warm-up runs per VMM */
} ResultInput;

json_t *result_document(const ResultInput *in);
/* What a result records about the setup: host, VMMs with version, accel and
 * its reason, image, guest size; for a VM-less kind only host and kind. */
json_t *result_environment(const JobPlan *plan);
/* "2026-12-01T15:00:00Z", malloc'd. */
char *result_now_iso(void);
