/* store.c — SQLite-backed result store.
 *
 * Tables: jobs (one row per experiment job, holding the spec and, once
 * finished, the whole result document) and runs (one row per run sample,
 * written as each run ends, so an interrupted job keeps what it measured). */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "util.h"

struct Store {
        sqlite3 *db;       /* the connection */
        char *path;        /* results.db */
        char *logs_dir;    /* console logs live here, one directory per job */
        unsigned recovered; /* interrupted jobs marked failed at open */
};

static const char schema_sql[] =
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=NORMAL;"
        "PRAGMA foreign_keys=ON;"
        "CREATE TABLE IF NOT EXISTS jobs ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  kind TEXT NOT NULL,"
        "  vmm TEXT,"
        "  state TEXT NOT NULL CHECK (state IN ('queued','running','done','failed','canceled')),"
        "  spec TEXT NOT NULL,"
        "  error TEXT,"
        "  result TEXT,"
        "  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
        "  started_at TEXT,"
        "  finished_at TEXT);"
        "CREATE TABLE IF NOT EXISTS runs ("
        "  job_id INTEGER NOT NULL REFERENCES jobs(id),"
        "  idx INTEGER NOT NULL,"
        "  sample TEXT NOT NULL,"
        "  PRIMARY KEY (job_id, idx));";

static int sqlite_to_errno(int rc) {
        switch (rc) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_READONLY:
        case SQLITE_PERM:
                return -EROFS;
        default:
                return -EIO;
        }
}

static int mkdir_p(const char *path, mode_t mode) {
        char buf[4096];
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Prepares, binds text parameters (NULL binds SQL NULL), steps to completion. */
static int exec_bound(Store *s, const char *sql, int n, const char *const *params) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        for (int i = 0; rc == SQLITE_OK && i < n; i++)
                rc = params[i] ? sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT)
                               : sqlite3_bind_null(st, i + 1);
        if (rc == SQLITE_OK)
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        ;
        if (rc != SQLITE_DONE && rc != SQLITE_OK)
                log_debug("SQL failed (%s): %s", sqlite3_errmsg(s->db), sql);
        sqlite3_finalize(st);
        return sqlite_to_errno(rc);
}

static int exec_plain(Store *s, const char *sql) {
        char *err = NULL;
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK)
                log_debug("SQL failed (%s): %s", strempty(err), sql);
        sqlite3_free(err);
        return sqlite_to_errno(rc);
}

/* Runs statements between BEGIN IMMEDIATE and COMMIT; rolls back on error. */
static int begin(Store *s) {
        return exec_plain(s, "BEGIN IMMEDIATE");
}
static int commit_or_rollback(Store *s, int r) {
        if (r >= 0)
                r = exec_plain(s, "COMMIT");
        if (r < 0)
                (void) exec_plain(s, "ROLLBACK");
        return r;
}

/* Builds a result document for a job that never finished, from its rows. */
static char *compose_interrupted_result(Store *s, sqlite3_int64 id, const char *kind, const char *spec) {
        json_t *runs_json = json_array();
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, "SELECT sample FROM runs WHERE job_id=? ORDER BY idx", -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(st, 1, id);
                while (sqlite3_step(st) == SQLITE_ROW) {
                        json_t *r = json_loads((const char *) sqlite3_column_text(st, 0), 0, NULL);
                        if (r)
                                json_array_append_new(runs_json, r);
                }
        }
        sqlite3_finalize(st);
        /* Statistics need the kind's metrics, which the store does not know:
         * the raw runs are kept, the summary stays empty. */
        json_t *spec_json = json_loads(spec, 0, NULL);
        json_int_t runs = json_integer_value(json_object_get(spec_json, "runs"));
        json_int_t warmup = json_integer_value(json_object_get(spec_json, "warmup"));
        char now[64];
        time_t t = time(NULL);
        struct tm tm;
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        json_t *doc = json_pack("{s:s, s:I, s:s, s:s, s:s, s:o?, s:o, s:[], s:{}, s:I, s:I, s:s}", "schema",
                                "virtlab/result/v1", "job_id", (json_int_t) id, "kind", kind, "state", "failed", "error",
                                "interrupted: virtlabd stopped before the job finished", "spec", spec_json, "runs", runs_json,
                                "metrics", "summary", "runs_total", runs + warmup, "warmup", warmup, "finished_at", now);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        return text;
}

static int recover_interrupted(Store *s) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, "SELECT id, kind, spec FROM jobs WHERE state IN ('queued','running')", -1,
                                    &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        int r = begin(s);
        while (r >= 0 && sqlite3_step(st) == SQLITE_ROW) {
                sqlite3_int64 id = sqlite3_column_int64(st, 0);
                _cleanup_free_ char *doc = compose_interrupted_result(s, id, (const char *) sqlite3_column_text(st, 1),
                                                                      (const char *) sqlite3_column_text(st, 2));
                char idbuf[32];
                snprintf(idbuf, sizeof(idbuf), "%lld", (long long) id);
                const char *p[] = { doc, idbuf };
                r = exec_bound(s,
                               "UPDATE jobs SET state='failed', error='interrupted: virtlabd stopped before the job "
                               "finished', result=?1, finished_at=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id=?2",
                               2, p);
                if (r >= 0)
                        s->recovered++;
        }
        sqlite3_finalize(st);
        return commit_or_rollback(s, r);
}

int store_open(const char *state_dir, Store **ret) {
        _cleanup_(freep) Store *s = calloc(1, sizeof(Store));
        if (!s)
                return -ENOMEM;
        int r = mkdir_p(state_dir, 0700);
        if (r < 0)
                return r;
        if (asprintf(&s->path, "%s/results.db", state_dir) < 0 || asprintf(&s->logs_dir, "%s/logs", state_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(s->logs_dir, 0700);
        if (r >= 0 && sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
                r = -EIO;
        if (r >= 0) {
                sqlite3_busy_timeout(s->db, 5000);
                r = exec_plain(s, schema_sql);
        }
        if (r >= 0)
                r = recover_interrupted(s);
        if (r < 0) {
                log_debug_errno(r, "Failed to open store %s: %m", s->path);
                store_close(TAKE_PTR(s));
                return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

Store *store_close(Store *s) {
        if (!s)
                return NULL;
        if (s->db)
                sqlite3_close(s->db);
        free(s->path);
        free(s->logs_dir);
        free(s);
        return NULL;
}

const char *store_path(const Store *s) { return s->path; }
const char *store_logs_dir(const Store *s) { return s->logs_dir; }
unsigned store_recovered_jobs(const Store *s) { return s->recovered; }

int store_job_create(Store *s, const char *kind, const char *spec_json, uint32_t *ret_id) {
        json_t *spec = json_loads(spec_json, 0, NULL);
        const char *vmm = spec ? json_string_value(json_object_get(spec, "vmm")) : NULL;
        const char *p[] = { kind, vmm, spec_json };
        int r = exec_bound(s, "INSERT INTO jobs (kind, vmm, state, spec) VALUES (?1, ?2, 'queued', ?3)", 3, p);
        json_decref(spec);
        if (r < 0)
                return r;
        *ret_id = (uint32_t) sqlite3_last_insert_rowid(s->db);
        return 0;
}

int store_job_set_running(Store *s, uint32_t id) {
        char idbuf[16];
        snprintf(idbuf, sizeof(idbuf), "%u", id);
        const char *p[] = { idbuf };
        return exec_bound(s, "UPDATE jobs SET state='running', started_at=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id=?1",
                          1, p);
}

int store_run_add(Store *s, uint32_t id, unsigned index, const char *sample_json) {
        char idbuf[16], ibuf[16];
        snprintf(idbuf, sizeof(idbuf), "%u", id);
        snprintf(ibuf, sizeof(ibuf), "%u", index);
        const char *p[] = { idbuf, ibuf, sample_json };
        int r = begin(s);
        if (r >= 0)
                r = exec_bound(s, "INSERT OR REPLACE INTO runs (job_id, idx, sample) VALUES (?1, ?2, ?3)", 3, p);
        return commit_or_rollback(s, r);
}

int store_job_finish(Store *s, uint32_t id, const char *state, const char *error, const char *result_json) {
        char idbuf[16];
        snprintf(idbuf, sizeof(idbuf), "%u", id);
        const char *p[] = { state, error, result_json, idbuf };
        int r = begin(s);
        if (r >= 0)
                r = exec_bound(s,
                               "UPDATE jobs SET state=?1, error=?2, result=?3, "
                               "finished_at=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id=?4",
                               4, p);
        return commit_or_rollback(s, r);
}

int store_job_result(Store *s, uint32_t id, char **ret_json) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, "SELECT state, result FROM jobs WHERE id=?", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        sqlite3_bind_int64(st, 1, id);
        int r = -ENOENT;
        if (sqlite3_step(st) == SQLITE_ROW) {
                const char *result = (const char *) sqlite3_column_text(st, 1);
                if (!result)
                        r = -EBUSY;
                else {
                        *ret_json = strdup(result);
                        r = *ret_json ? 0 : -ENOMEM;
                }
        }
        sqlite3_finalize(st);
        return r;
}

static json_t *row_to_summary(sqlite3_stmt *st) {
        json_t *o = json_object();
        static const char *const cols[] = { "job_id", "kind", "vmm", "state", "error", "created_at", "finished_at" };
        for (int i = 0; i < (int) ELEMENTSOF(cols); i++) {
                if (i == 0)
                        json_object_set_new(o, cols[i], json_integer(sqlite3_column_int64(st, 0)));
                else if (sqlite3_column_type(st, i) == SQLITE_NULL)
                        json_object_set_new(o, cols[i], json_null());
                else
                        json_object_set_new(o, cols[i], json_string((const char *) sqlite3_column_text(st, i)));
        }
        return o;
}

int store_list(Store *s, const char *kind, const char *vmm, const char *state, unsigned limit, char **ret_json) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db,
                                    "SELECT id, kind, vmm, state, error, created_at, finished_at FROM jobs "
                                    "WHERE (?1 IS NULL OR kind=?1) AND (?2 IS NULL OR vmm=?2) AND (?3 IS NULL OR state=?3) "
                                    "ORDER BY id DESC LIMIT ?4",
                                    -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        const char *p[] = { kind, vmm, state };
        for (int i = 0; i < 3; i++)
                p[i] ? sqlite3_bind_text(st, i + 1, p[i], -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
        sqlite3_bind_int(st, 4, limit ? (int) limit : 100);
        json_t *a = json_array();
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                json_array_append_new(a, row_to_summary(st));
        sqlite3_finalize(st);
        *ret_json = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        if (rc != SQLITE_DONE)
                return sqlite_to_errno(rc);
        return *ret_json ? 0 : -ENOMEM;
}
