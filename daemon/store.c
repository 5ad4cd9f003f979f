/* store.c — SQLite-backed result store.
 *
 * Tables: jobs (one row per experiment job, holding the spec and, once
 * finished, the whole result document) and runs (one row per run sample,
 * written as each run ends, so an interrupted job keeps what it measured).
 *
 * Divisions: errors (SQLite result codes → -errno, the last error's text);
 * statement helpers and transactions; schema version and migration;
 * recovery of interrupted jobs; open/close; the job functions. */
#include "store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "util.h"

struct Store {
        sqlite3 *db;          /* the connection */
        char *path;           /* results.db */
        char *logs_dir;       /* console logs live here, one directory per job */
        unsigned recovered;   /* interrupted jobs marked failed at open */
        int schema_version;   /* PRAGMA user_version once open */
        char last_error[256]; /* text of the most recent failure, "" if none */
        const char *last_sql; /* the statement that failed last (a literal), for debugging */
};

/* Connection settings, outside any transaction (journal_mode cannot change
 * inside one). */
static const char pragmas_sql[] =
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=NORMAL;"
        "PRAGMA foreign_keys=ON;";

/* Schema version 1.  Databases made before versioning (user_version 0) hold
 * exactly these tables, so creating them over one changes nothing. */
static const char tables_sql[] =
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

/* Every column the store uses: preparing this fails on a database whose
 * tables merely share our names. */
static const char columns_sql[] =
        "SELECT j.id, j.kind, j.vmm, j.state, j.spec, j.error, j.result, j.created_at, j.started_at, "
        "j.finished_at, r.job_id, r.idx, r.sample FROM jobs j, runs r LIMIT 0";

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
static const char set_version_sql[] = "PRAGMA user_version=" STRINGIFY(STORE_SCHEMA_VERSION);

static const char interrupted_error[] = "interrupted: virtlabd stopped before the job finished";

static void sqlite3_finalizep(sqlite3_stmt **st) {
        (void) sqlite3_finalize(*st);
}

/* Maps a SQLite result code (extended codes are on) to -errno.  An I/O error
 * keeps the system errno when it means "out of space" in some form: SQLite
 * turns only ENOSPC into SQLITE_FULL, while a file size limit (EFBIG) or a
 * quota (EDQUOT) arrive as SQLITE_IOERR_WRITE. */
static int errno_from_sqlite(int rc, int sys_errno) {
        switch (rc) {
        case SQLITE_CONSTRAINT_FOREIGNKEY:
                return -ENOENT; /* a run of a job that does not exist */
        case SQLITE_CONSTRAINT_PRIMARYKEY:
        case SQLITE_CONSTRAINT_UNIQUE:
                return -EEXIST;
        case SQLITE_IOERR_NOMEM:
                return -ENOMEM;
        }
        switch (rc & 0xff) {
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
                return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
                return -EINVAL;
        case SQLITE_INTERRUPT:
                return -ECANCELED;
        case SQLITE_CANTOPEN:
                return sys_errno > 0 ? -sys_errno : -EIO;
        case SQLITE_IOERR:
                if (sys_errno == ENOSPC || sys_errno == EDQUOT || sys_errno == EFBIG || sys_errno == EROFS)
                        return -sys_errno;
                return -EIO;
        default:
                return -EIO;
        }
}

/* Records SQLite's account of the failure of SQL for store_last_error() and
 * returns it as -errno (never 0: a failure without a code is -EIO). */
static int store_fail(Store *s, int rc, const char *sql) {
        int r = errno_from_sqlite(rc, sqlite3_system_errno(s->db));
        if (r >= 0)
                r = -EIO;
        snprintf(s->last_error, sizeof(s->last_error), "%s", sqlite3_errmsg(s->db));
        s->last_sql = sql;
        log_debug("SQL failed (%s, code %d, errno %d): %s", s->last_error, rc, sqlite3_system_errno(s->db), sql);
        return r;
}

/* Same for a failure the store finds itself (no such job, …); returns R. */
_printf_(3, 4) static int store_fail_errno(Store *s, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
        va_end(ap);
        s->last_sql = NULL;
        return r;
}

static int mkdir_p(const char *path, mode_t mode) {
        char buf[4096];
        if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf))
                return -ENAMETOOLONG;
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
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        for (int i = 0; rc == SQLITE_OK && i < n; i++)
                rc = params[i] ? sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT)
                               : sqlite3_bind_null(st, i + 1);
        if (rc == SQLITE_OK)
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        ;
        if (rc != SQLITE_DONE && rc != SQLITE_OK)
                return store_fail(s, rc, sql);
        return 0;
}

static int exec_plain(Store *s, const char *sql) {
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return store_fail(s, rc, sql);
        return 0;
}

/* Writes run between BEGIN IMMEDIATE (the write lock taken up front, so a
 * writer never has to upgrade a read lock) and COMMIT. */
static int begin(Store *s) {
        return exec_plain(s, "BEGIN IMMEDIATE");
}

/* Commits if R >= 0.  On any failure, COMMIT's own included, rolls back and
 * returns the first error.  After SQLITE_FULL, IOERR or NOMEM SQLite may
 * have rolled back already, which sqlite3_get_autocommit() tells; ROLLBACK's
 * own failure must not replace the error being reported. */
static int commit_or_rollback(Store *s, int r) {
        if (r >= 0)
                r = exec_plain(s, "COMMIT");
        if (r < 0 && !sqlite3_get_autocommit(s->db)) {
                int rc = sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
                if (rc != SQLITE_OK)
                        log_debug("ROLLBACK failed, ignoring: %s", sqlite3_errmsg(s->db));
        }
        return r;
}

static int read_user_version(Store *s, int *ret) {
        static const char sql[] = "PRAGMA user_version";
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return store_fail(s, rc, sql);
        *ret = sqlite3_column_int(st, 0);
        return 0;
}

static int refuse_version(Store *s, int v) {
        return store_fail_errno(s, -EPROTONOSUPPORT, "database schema version %d is not %d or older", v,
                                STORE_SCHEMA_VERSION);
}

/* Brings the schema to STORE_SCHEMA_VERSION in one write transaction.  The
 * version is read again under the write lock, in case another process
 * changed it since store_open() looked. */
static int schema_upgrade(Store *s) {
        int v = 0;
        int r = begin(s);
        if (r >= 0)
                r = read_user_version(s, &v);
        if (r >= 0 && (v < 0 || v > STORE_SCHEMA_VERSION))
                r = refuse_version(s, v);
        if (r >= 0 && v == 0)
                r = exec_plain(s, tables_sql);
        if (r >= 0) {
                _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
                int rc = sqlite3_prepare_v2(s->db, columns_sql, -1, &st, NULL);
                if (rc != SQLITE_OK)
                        r = store_fail(s, rc, columns_sql) == -ENOMEM ? -ENOMEM : -EBADMSG;
        }
        if (r >= 0 && v < STORE_SCHEMA_VERSION)
                r = exec_plain(s, set_version_sql);
        r = commit_or_rollback(s, r);
        if (r < 0)
                return r;
        if (v < STORE_SCHEMA_VERSION)
                log_debug("Store %s: schema version %d → %d", s->path, v, STORE_SCHEMA_VERSION);
        s->schema_version = STORE_SCHEMA_VERSION;
        return 0;
}

/* Builds a failed job's result document from its rows: for a job that
 * never finished, and for one whose document could not be stored. */
static int compose_result(Store *s, sqlite3_int64 id, const char *kind, const char *spec, const char *error,
                          char **ret) {
        static const char sql[] = "SELECT sample FROM runs WHERE job_id=? ORDER BY idx";
        json_auto_t *runs_json = json_array();
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 1, id);
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                /* A sample that does not parse is dropped, not the whole document. */
                json_t *r = json_loads((const char *) sqlite3_column_text(st, 0), 0, NULL);
                if (r && json_array_append_new(runs_json, r) < 0)
                        return -ENOMEM;
                rc = SQLITE_OK;
        }
        if (rc != SQLITE_DONE)
                return store_fail(s, rc, sql);
        /* Statistics need the kind's metrics, which the store does not know:
         * the raw runs are kept, the summary stays empty. */
        json_t *spec_json = json_loads(strempty(spec), 0, NULL);
        json_int_t runs = json_integer_value(json_object_get(spec_json, "runs"));
        json_int_t warmup = json_integer_value(json_object_get(spec_json, "warmup"));
        char now[64];
        time_t t = time(NULL);
        struct tm tm;
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        json_auto_t *doc = json_pack("{s:s, s:I, s:s, s:s, s:s, s:o?, s:O, s:[], s:{}, s:I, s:I, s:s}", "schema",
                                     "virtlab/result/v1", "job_id", (json_int_t) id, "kind", strempty(kind), "state",
                                     "failed", "error", error, "spec", spec_json, "runs", runs_json,
                                     "metrics", "summary", "runs_total", runs + warmup, "warmup", warmup,
                                     "finished_at", now);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

/* Marks every queued or running job failed ("interrupted"), each with a
 * complete result document, all in one transaction.  Each pass takes the
 * oldest such job, so the statement never reads rows it has just changed. */
static int recover_interrupted(Store *s) {
        static const char sql[] = "SELECT id, kind, spec FROM jobs WHERE state IN ('queued','running') ORDER BY id LIMIT 1";
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        unsigned n = 0;
        int r = begin(s);
        if (r >= 0) {
                int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
                if (rc != SQLITE_OK)
                        r = store_fail(s, rc, sql);
        }
        while (r >= 0) {
                int rc = sqlite3_step(st);
                if (rc == SQLITE_DONE)
                        break;
                if (rc != SQLITE_ROW) {
                        r = store_fail(s, rc, sql);
                        break;
                }
                sqlite3_int64 id = sqlite3_column_int64(st, 0);
                _cleanup_free_ char *doc = NULL;
                r = compose_result(s, id, (const char *) sqlite3_column_text(st, 1),
                                   (const char *) sqlite3_column_text(st, 2), interrupted_error, &doc);
                (void) sqlite3_reset(st);
                if (r < 0)
                        break;
                char idbuf[32];
                snprintf(idbuf, sizeof(idbuf), "%lld", (long long) id);
                const char *p[] = { doc, interrupted_error, idbuf };
                r = exec_bound(s,
                               "UPDATE jobs SET state='failed', error=?2, result=?1, "
                               "finished_at=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id=?3",
                               3, p);
                if (r >= 0)
                        n++;
        }
        /* The statement must be done before COMMIT can end the transaction. */
        (void) sqlite3_reset(st);
        r = commit_or_rollback(s, r);
        if (r < 0)
                return r;
        s->recovered = n;
        return 0;
}

static void store_closep(Store **s) {
        (void) store_close(*s);
}

int store_open(const char *state_dir, Store **ret) {
        _cleanup_(store_closep) Store *s = calloc(1, sizeof(Store));
        if (!s)
                return -ENOMEM;
        int r = mkdir_p(state_dir, 0700);
        if (r < 0)
                return r;
        /* asprintf() leaves its pointer undefined on failure. */
        if (asprintf(&s->path, "%s/results.db", state_dir) < 0) {
                s->path = NULL;
                return -ENOMEM;
        }
        if (asprintf(&s->logs_dir, "%s/logs", state_dir) < 0) {
                s->logs_dir = NULL;
                return -ENOMEM;
        }
        r = mkdir_p(s->logs_dir, 0700);
        if (r < 0)
                return r;
        int rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        if (rc != SQLITE_OK)
                r = store_fail(s, rc, "open");
        if (r >= 0) {
                (void) sqlite3_extended_result_codes(s->db, 1);
                (void) sqlite3_busy_timeout(s->db, 5000);
        }
        /* SQLite quietly falls back to a read-only connection when the file
         * cannot be opened for writing.  The store must write, and open(2)
         * tells why it cannot (EROFS, EACCES), better than the later failure
         * to create the WAL index would. */
        if (r >= 0 && sqlite3_db_readonly(s->db, "main") > 0) {
                _cleanup_close_ int fd = open(s->path, O_RDWR | O_CLOEXEC | O_NOCTTY);
                r = store_fail_errno(s, fd < 0 ? -errno : -EROFS, "%s cannot be opened for writing", s->path);
        }
        /* The version is checked before the pragmas, which may write (the
         * switch to WAL rewrites the header): a newer schema is left as it is. */
        int v = 0;
        if (r >= 0)
                r = read_user_version(s, &v);
        if (r >= 0 && (v < 0 || v > STORE_SCHEMA_VERSION))
                r = refuse_version(s, v);
        if (r >= 0)
                r = exec_plain(s, pragmas_sql);
        if (r >= 0)
                r = schema_upgrade(s);
        if (r >= 0)
                r = recover_interrupted(s);
        if (r < 0)
                return log_debug_errno(r, "Failed to open store %s (%s): %m", s->path, s->last_error);
        *ret = TAKE_PTR(s);
        return 0;
}

Store *store_close(Store *s) {
        if (!s)
                return NULL;
        if (s->db)
                (void) sqlite3_close(s->db);
        free(s->path);
        free(s->logs_dir);
        free(s);
        return NULL;
}

const char *store_path(const Store *s) { return s->path; }
const char *store_logs_dir(const Store *s) { return s->logs_dir; }
unsigned store_recovered_jobs(const Store *s) { return s->recovered; }
int store_schema_version(const Store *s) { return s->schema_version; }
const char *store_last_error(const Store *s) { return s->last_error; }

int store_job_create(Store *s, const char *kind, const char *spec_json, uint32_t *ret_id) {
        json_auto_t *spec = json_loads(spec_json, 0, NULL);
        const char *vmm = spec ? json_string_value(json_object_get(spec, "vmm")) : NULL;
        const char *p[] = { kind, vmm, spec_json };
        int r = exec_bound(s, "INSERT INTO jobs (kind, vmm, state, spec) VALUES (?1, ?2, 'queued', ?3)", 3, p);
        if (r < 0)
                return r;
        *ret_id = (uint32_t) sqlite3_last_insert_rowid(s->db);
        return 0;
}

int store_job_set_running(Store *s, uint32_t id) {
        char idbuf[16];
        snprintf(idbuf, sizeof(idbuf), "%u", id);
        const char *p[] = { idbuf };
        int r = exec_bound(s, "UPDATE jobs SET state='running', started_at=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id=?1",
                           1, p);
        if (r >= 0 && sqlite3_changes(s->db) == 0)
                r = store_fail_errno(s, -ENOENT, "no job %u", id);
        return r;
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
        if (r >= 0 && sqlite3_changes(s->db) == 0)
                r = store_fail_errno(s, -ENOENT, "no job %u", id);
        return commit_or_rollback(s, r);
}

int store_job_delete(Store *s, uint32_t id) {
        char idbuf[16];
        snprintf(idbuf, sizeof(idbuf), "%u", id);
        const char *p[] = { idbuf };
        /* Runs first: they reference the job. */
        int r = begin(s);
        if (r >= 0)
                r = exec_bound(s, "DELETE FROM runs WHERE job_id=?1", 1, p);
        if (r >= 0)
                r = exec_bound(s, "DELETE FROM jobs WHERE id=?1", 1, p);
        if (r >= 0 && sqlite3_changes(s->db) == 0)
                r = store_fail_errno(s, -ENOENT, "no job %u", id);
        return commit_or_rollback(s, r);
}

int store_job_result(Store *s, uint32_t id, char **ret_json) {
        static const char sql[] = "SELECT state, result, kind, spec, error FROM jobs WHERE id=?";
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 1, id);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return store_fail_errno(s, -ENOENT, "no job %u", id);
        if (rc != SQLITE_ROW)
                return store_fail(s, rc, sql);
        const char *state = (const char *) sqlite3_column_text(st, 0);
        const char *result = (const char *) sqlite3_column_text(st, 1);
        /* Finished, but its document did not fit (the state dir was full):
         * what the rows hold, with the error that says so. */
        if (!result && state && (streq(state, "failed") || streq(state, "canceled")))
                return compose_result(s, id, (const char *) sqlite3_column_text(st, 2),
                                      (const char *) sqlite3_column_text(st, 3),
                                      (const char *) sqlite3_column_text(st, 4) ?: "the result was not stored", ret_json);
        if (!result)
                return store_fail_errno(s, -EBUSY, "job %u has not finished", id);
        char *copy = strdup(result);
        if (!copy)
                return -ENOMEM;
        *ret_json = copy;
        return 0;
}

static json_t *row_to_summary(sqlite3_stmt *st) {
        json_t *o = json_object();
        static const char *const cols[] = { "job_id", "kind", "vmm", "state", "error", "created_at", "finished_at" };
        for (int i = 0; o && i < (int) ELEMENTSOF(cols); i++) {
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
        static const char sql[] = "SELECT id, kind, vmm, state, error, created_at, finished_at FROM jobs "
                                  "WHERE (?1 IS NULL OR kind=?1) AND (?2 IS NULL OR vmm=?2) AND (?3 IS NULL OR state=?3) "
                                  "ORDER BY id DESC LIMIT ?4";
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail(s, rc, sql);
        const char *p[] = { kind, vmm, state };
        for (int i = 0; rc == SQLITE_OK && i < 3; i++)
                rc = p[i] ? sqlite3_bind_text(st, i + 1, p[i], -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int(st, 4, limit ? (int) limit : 100);
        if (rc != SQLITE_OK)
                return store_fail(s, rc, sql);
        json_auto_t *a = json_array();
        if (!a)
                return -ENOMEM;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                if (json_array_append_new(a, row_to_summary(st)) < 0)
                        return -ENOMEM;
        if (rc != SQLITE_DONE)
                return store_fail(s, rc, sql);
        char *text = json_dumps(a, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        *ret_json = text;
        return 0;
}
