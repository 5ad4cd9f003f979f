/* store.h — durable results: one SQLite database (WAL) per state directory.
 * Every write is one transaction, so a crash leaves either the old or the new
 * row, never a torn one; jobs found queued/running at open were interrupted
 * and are marked failed.
 *
 * Every function returning int returns 0 (or >= 0) on success and a negative
 * errno on failure, and a failed write leaves nothing of itself behind:
 *   -ENOSPC disk full (SQLITE_FULL)       -EFBIG  file size limit (RLIMIT_FSIZE)
 *   -EDQUOT quota exceeded                -EROFS  database is read-only
 *   -EIO    any other I/O error           -EBUSY  locked past the 5 s busy timeout
 *   -ENOENT no such job                   -EINVAL bad state name or other constraint
 *   -EBADMSG not a (virtlab) database     -ENOMEM out of memory
 * store_last_error() then says what SQLite reported. */
#pragma once

#include <jansson.h>
#include <stdint.h>

/* The schema this virtlabd reads and writes, kept in PRAGMA user_version. */
#define STORE_SCHEMA_VERSION 1

typedef struct Store Store;

/* Opens (creating) STATE_DIR/results.db; logs directory STATE_DIR/logs.
 * A new database, or one made before versioning (user_version 0), gets
 * schema STORE_SCHEMA_VERSION; a newer one is refused with -EPROTONOSUPPORT
 * before anything is written to it. */
int store_open(const char *state_dir, Store **ret);
Store *store_close(Store *s);
const char *store_path(const Store *s);
const char *store_logs_dir(const Store *s);
/* How many interrupted jobs store_open() marked failed. */
unsigned store_recovered_jobs(const Store *s);
/* The schema version of the open database (STORE_SCHEMA_VERSION once open). */
int store_schema_version(const Store *s);
/* Text of the most recent failure of a store call on S: SQLite's message, or
 * the store's own for -ENOENT, -EBUSY and the like (running out of memory
 * outside SQLite leaves it as it was); "" if nothing failed yet.  Kept until
 * the next failure, so read it right after the failing call. */
const char *store_last_error(const Store *s);

/* Inserts a queued job; returns its id (unique across restarts, never reused,
 * even after the newest job is deleted). */
int store_job_create(Store *s, const char *kind, const char *spec_json, uint32_t *ret_id);
/* Marks a job running; -ENOENT if there is no such job. */
int store_job_set_running(Store *s, uint32_t id);
/* Records one run's sample document (warm-up runs too); -ENOENT if there is
 * no such job. */
int store_run_add(Store *s, uint32_t id, unsigned index, const char *sample_json);
/* Final state, error (may be NULL) and result document, in one transaction;
 * -ENOENT if there is no such job. */
int store_job_finish(Store *s, uint32_t id, const char *state, const char *error, const char *result_json);
/* Deletes a job and its runs in one transaction, whatever its state (for a
 * submission refused after its row was created); its id is not reused.
 * -ENOENT if there is no such job.  Console logs are not the store's. */
int store_job_delete(Store *s, uint32_t id);
/* The result document of a finished job: -ENOENT if no such job, -EBUSY if
 * it has not finished. */
int store_job_result(Store *s, uint32_t id, char **ret_json);
/* A JSON array of job summaries, newest first.  kind/vmm/state may be NULL;
 * limit 0 means 100. */
int store_list(Store *s, const char *kind, const char *vmm, const char *state, unsigned limit, char **ret_json);
