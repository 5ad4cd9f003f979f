/* store.h — durable results: one SQLite database (WAL) per state directory.
 * Every write is one transaction, so a crash leaves either the old or the new
 * row, never a torn one; jobs found queued/running at open were interrupted
 * and are marked failed. */
#pragma once

#include <jansson.h>
#include <stdint.h>

typedef struct Store Store;

/* Opens (creating) STATE_DIR/results.db; logs directory STATE_DIR/logs. */
int store_open(const char *state_dir, Store **ret);
Store *store_close(Store *s);
const char *store_path(const Store *s);
const char *store_logs_dir(const Store *s);
/* How many interrupted jobs store_open() marked failed. */
unsigned store_recovered_jobs(const Store *s);

/* Inserts a queued job; returns its id (unique across restarts). */
int store_job_create(Store *s, const char *kind, const char *spec_json, uint32_t *ret_id);
int store_job_set_running(Store *s, uint32_t id);
/* Records one run's sample document (warm-up runs too). */
int store_run_add(Store *s, uint32_t id, unsigned index, const char *sample_json);
/* Final state, error (may be NULL) and result document, in one transaction. */
int store_job_finish(Store *s, uint32_t id, const char *state, const char *error, const char *result_json);
/* The result document of a finished job: -ENOENT if no such job, -EBUSY if
 * it has not finished. */
int store_job_result(Store *s, uint32_t id, char **ret_json);
/* A JSON array of job summaries, newest first.  kind/vmm/state may be NULL;
 * limit 0 means 100. */
int store_list(Store *s, const char *kind, const char *vmm, const char *state, unsigned limit, char **ret_json);
