/* test-store.c — the result store against real SQLite and real files: round
 * trips, id allocation, recovery of interrupted jobs, schema versions, and
 * the faults a daemon meets: SIGKILL in the middle of a write, a read-only
 * database, a full disk.  Every test gets a fresh state directory; children
 * that die or hit limits are forked, so the test process itself stays clean. */
#include "store.c"

#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define SPEC "{\"vmm\":\"qemu\",\"runs\":3,\"warmup\":1,\"accel\":\"tcg\",\"memory_mib\":256,\"vcpus\":1,\"timeout_s\":60}"
#define SPEC_MICROVM                                                                                   \
        "{\"vmm\":\"qemu-microvm\",\"runs\":2,\"warmup\":0,\"accel\":\"tcg\",\"memory_mib\":256,\"vcpus\":1," \
        "\"timeout_s\":60}"
#define BIG (4u << 20) /* 4 MiB: a large result document */

/* ---- helpers ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static int setup(void **state) {
        const char *tmp = getenv("TMPDIR");
        char *dir = NULL;
        if (asprintf(&dir, "%s/test-store.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 || !mkdtemp(dir)) {
                free(dir);
                return -1;
        }
        *state = dir;
        return 0;
}

static int teardown(void **state) {
        (void) nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(*state);
        return 0;
}

static Store *open_ok(const char *dir) {
        Store *s = NULL;
        assert_int_equal(store_open(dir, &s), 0);
        assert_non_null(s);
        return s;
}

static char *sample(unsigned index) {
        char *t = NULL;
        assert_true(asprintf(&t, "{\"index\":%u,\"warmup\":%s,\"ok\":true,\"error\":null,\"boot_ms\":%u.5}", index,
                             index == 0 ? "true" : "false", 100 + index) > 0);
        return t;
}

static void add_run(Store *s, uint32_t id, unsigned index) {
        _cleanup_free_ char *t = sample(index);
        assert_int_equal(store_run_add(s, id, index, t), 0);
}

/* A JSON object of exactly SIZE bytes. */
static char *big_json(size_t size) {
        char *t = malloc(size + 1);
        assert_non_null(t);
        int n = snprintf(t, size, "{\"schema\":\"virtlab/result/v1\",\"state\":\"done\",\"pad\":\"");
        memset(t + n, 'x', size - (size_t) n - 2);
        memcpy(t + size - 2, "\"}", 3);
        return t;
}

/* First column of the first row of a printf-formatted query (%q/%u/...), or -1. */
static long long q_int(sqlite3 *db, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *sql = sqlite3_vmprintf(fmt, ap);
        va_end(ap);
        sqlite3_stmt *st = NULL;
        long long v = -1;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_free(sql);
        return v;
}

/* Same for text; NULL for SQL NULL or no row.  The caller frees. */
static char *q_text(sqlite3 *db, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *sql = sqlite3_vmprintf(fmt, ap);
        va_end(ap);
        sqlite3_stmt *st = NULL;
        char *v = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
            sqlite3_column_type(st, 0) != SQLITE_NULL)
                v = strdup((const char *) sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_free(sql);
        return v;
}

static void assert_integrity_ok(sqlite3 *db) {
        _cleanup_free_ char *ok = q_text(db, "PRAGMA integrity_check");
        assert_non_null(ok);
        assert_string_equal(ok, "ok");
}

/* A whole row of jobs as text, to compare before and after. */
static char *job_row(sqlite3 *db, uint32_t id) {
        return q_text(db,
                      "SELECT json_array(id, kind, vmm, state, spec, error, result, created_at, started_at, finished_at) "
                      "FROM jobs WHERE id=%u",
                      id);
}

static long long n_runs(sqlite3 *db, uint32_t id) {
        return q_int(db, "SELECT count(*) FROM runs WHERE job_id=%u", id);
}

static sqlite3 *raw_open(const char *dir) {
        _cleanup_free_ char *path = NULL;
        sqlite3 *db = NULL;
        assert_true(asprintf(&path, "%s/results.db", dir) > 0);
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
        return db;
}

static void raw_exec(sqlite3 *db, const char *sql) {
        char *err = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK)
                print_error("%s: %s\n", sql, strempty(err));
        sqlite3_free(err);
        assert_int_equal(rc, SQLITE_OK);
}

static off_t file_size(const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        return stat(path, &st) < 0 ? -1 : st.st_size;
}

static char *file_bytes(const char *dir, const char *name, size_t *ret_size) {
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        char *buf = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                fwrite(chunk, 1, n, m);
        fclose(f);
        fclose(m);
        *ret_size = size;
        return buf;
}

static void assert_bytes_equal(const char *a, size_t na, const char *b, size_t nb) {
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
}

/* Job ID is failed with the "interrupted" error and a complete result
 * document (every field schemas/result.schema.json requires) whose runs are
 * exactly runs 0..N_RUNS-1. */
static void assert_interrupted(Store *s, uint32_t id, size_t n_runs_expected) {
        _cleanup_free_ char *state = q_text(s->db, "SELECT state FROM jobs WHERE id=%u", id);
        _cleanup_free_ char *error = q_text(s->db, "SELECT error FROM jobs WHERE id=%u", id);
        _cleanup_free_ char *finished = q_text(s->db, "SELECT finished_at FROM jobs WHERE id=%u", id);
        assert_string_equal(state, "failed");
        assert_non_null(error);
        assert_non_null(strstr(error, "interrupted"));
        assert_non_null(finished);

        _cleanup_free_ char *text = NULL;
        assert_int_equal(store_job_result(s, id, &text), 0);
        json_auto_t *doc = json_loads(text, 0, NULL);
        assert_non_null(doc);
        static const char *const required[] = { "schema", "job_id", "kind", "state", "error", "spec",
                                                "metrics", "summary", "runs", "runs_total", "warmup", "finished_at" };
        for (size_t i = 0; i < ELEMENTSOF(required); i++)
                if (!json_object_get(doc, required[i]))
                        fail_msg("result of job %u lacks \"%s\": %s", id, required[i], text);
        assert_string_equal(json_string_value(json_object_get(doc, "schema")), "virtlab/result/v1");
        assert_int_equal(json_integer_value(json_object_get(doc, "job_id")), id);
        assert_string_equal(json_string_value(json_object_get(doc, "state")), "failed");
        assert_string_equal(json_string_value(json_object_get(doc, "error")), error);
        assert_true(json_is_object(json_object_get(doc, "spec")));
        assert_int_equal(json_integer_value(json_object_get(doc, "runs_total")),
                         json_integer_value(json_object_get(json_object_get(doc, "spec"), "runs")) +
                                 json_integer_value(json_object_get(json_object_get(doc, "spec"), "warmup")));
        json_t *runs = json_object_get(doc, "runs");
        assert_true(json_is_array(runs));
        assert_int_equal(json_array_size(runs), n_runs_expected);
        for (size_t i = 0; i < n_runs_expected; i++)
                assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, i), "index")), i);
}

/* ---- round trip and ids ------------------------------------------------- */

static void test_round_trip(void **state) {
        const char *dir = *state;
        Store *s = open_ok(dir);
        assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
        assert_string_equal(store_last_error(s), "");
        assert_int_equal(store_recovered_jobs(s), 0);

        uint32_t a, b, c;
        assert_int_equal(store_job_create(s, "boot", SPEC, &a), 0);
        assert_int_equal(store_job_create(s, "memory", SPEC_MICROVM, &b), 0);
        assert_int_equal(store_job_create(s, "boot", SPEC_MICROVM, &c), 0);
        assert_true(a >= 1 && a < b && b < c);

        _cleanup_free_ char *none = NULL;
        assert_int_equal(store_job_result(s, a, &none), -EBUSY); /* queued: no result yet */
        assert_int_equal(store_job_result(s, c + 1000, &none), -ENOENT);
        assert_null(none);

        assert_int_equal(store_job_set_running(s, a), 0);
        assert_int_equal(store_job_result(s, a, &none), -EBUSY);
        for (unsigned i = 0; i < 4; i++)
                add_run(s, a, i);
        add_run(s, a, 2); /* the same index again replaces, never duplicates */
        assert_int_equal(n_runs(s->db, a), 4);

        const char *doc = "{\"schema\":\"virtlab/result/v1\",\"job_id\":1,\"state\":\"done\",\"runs\":[]}";
        assert_int_equal(store_job_finish(s, a, "done", NULL, doc), 0);
        _cleanup_free_ char *got = NULL;
        assert_int_equal(store_job_result(s, a, &got), 0);
        assert_string_equal(got, doc);

        _cleanup_free_ char *list = NULL;
        assert_int_equal(store_list(s, NULL, NULL, NULL, 0, &list), 0);
        json_auto_t *l = json_loads(list, 0, NULL);
        assert_int_equal(json_array_size(l), 3);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "job_id")), c); /* newest first */
        json_t *ja = json_array_get(l, 2);
        assert_int_equal(json_integer_value(json_object_get(ja, "job_id")), a);
        assert_string_equal(json_string_value(json_object_get(ja, "kind")), "boot");
        assert_string_equal(json_string_value(json_object_get(ja, "vmm")), "qemu");
        assert_string_equal(json_string_value(json_object_get(ja, "state")), "done");
        assert_true(json_is_null(json_object_get(ja, "error")));
        assert_true(json_is_string(json_object_get(ja, "created_at")));
        assert_true(json_is_string(json_object_get(ja, "finished_at")));
        assert_true(json_is_null(json_object_get(json_array_get(l, 0), "finished_at")));

        static const struct {
                const char *kind, *vmm, *state;
                unsigned limit;
                size_t n;
        } filters[] = {
                { "memory", NULL, NULL, 0, 1 }, { NULL, "qemu-microvm", NULL, 0, 2 }, { NULL, NULL, "done", 0, 1 },
                { "boot", "qemu-microvm", NULL, 0, 1 }, { NULL, NULL, NULL, 2, 2 },     { "edu", NULL, NULL, 0, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(filters); i++) {
                _cleanup_free_ char *t = NULL;
                assert_int_equal(store_list(s, filters[i].kind, filters[i].vmm, filters[i].state, filters[i].limit, &t), 0);
                json_auto_t *f = json_loads(t, 0, NULL);
                assert_int_equal(json_array_size(f), filters[i].n);
        }
        s = store_close(s);

        /* Reopened: the finished job is as it was, the queued two were
         * interrupted, and ids go on increasing. */
        s = open_ok(dir);
        assert_int_equal(store_recovered_jobs(s), 2);
        free(got);
        got = NULL;
        assert_int_equal(store_job_result(s, a, &got), 0);
        assert_string_equal(got, doc);
        assert_int_equal(n_runs(s->db, a), 4);
        uint32_t d;
        assert_int_equal(store_job_create(s, "boot", SPEC, &d), 0);
        assert_true(d > c);
        store_close(s);
}

/* Ids are row ids of an AUTOINCREMENT key: SQLite remembers the largest id
 * ever handed out (table sqlite_sequence), so deleting the newest row does
 * not give its id again, before or after a reopen.  (Without AUTOINCREMENT
 * the next id would be max(rowid)+1, i.e. the deleted one.) */
static void test_ids_never_reused(void **state) {
        const char *dir = *state;
        Store *s = open_ok(dir);
        uint32_t a, b, c, d, e;
        assert_int_equal(store_job_create(s, "boot", SPEC, &a), 0);
        assert_int_equal(store_job_create(s, "boot", SPEC, &b), 0);
        assert_int_equal(store_job_create(s, "boot", SPEC, &c), 0);
        assert_int_equal(store_job_delete(s, c), 0);
        assert_int_equal(store_job_create(s, "boot", SPEC, &d), 0);
        assert_true(d > c);
        s = store_close(s);

        s = open_ok(dir);
        assert_int_equal(store_job_delete(s, d), 0);
        s = store_close(s);
        s = open_ok(dir);
        /* Every row gone: still no reuse. */
        assert_int_equal(store_job_delete(s, a), 0);
        assert_int_equal(store_job_delete(s, b), 0);
        assert_int_equal(q_int(s->db, "SELECT count(*) FROM jobs"), 0);
        s = store_close(s);
        s = open_ok(dir);
        assert_int_equal(store_job_create(s, "boot", SPEC, &e), 0);
        assert_true(e > d);
        assert_int_equal(q_int(s->db, "SELECT seq FROM sqlite_sequence WHERE name='jobs'"), e);
        store_close(s);
}

/* ---- SIGKILL in the middle of a write ----------------------------------- */

/* Where the writer child stops.  Each stop is a SQLite hook on the store's
 * own connection, inside the real store function, so the kill lands at a
 * known point of a real write: the hook tells the parent over a pipe and
 * waits, and the parent sends SIGKILL. */
typedef enum CrashPoint {
        CRASH_IN_RUN_ADD,     /* store_run_add() of run 3: after its INSERT, before COMMIT (update hook) */
        CRASH_IN_FINISH,      /* store_job_finish() of a 4 MiB document: after its UPDATE, which spilled
                               * uncommitted pages into the WAL (1 MiB cache), before COMMIT (update hook) */
        CRASH_AFTER_COMMIT,   /* store_job_finish() of a 4 MiB document: COMMIT done, the function has not
                               * returned and nothing was checkpointed (WAL hook) */
} CrashPoint;

static int crash_fd = -EBADF; /* the child's end of the pipe */

static _Noreturn void crash_here(void) {
        char c = 'K';
        if (write(crash_fd, &c, 1) != 1)
                _exit(13);
        for (;;)
                pause();
}

static void crash_update_hook(void *userdata, int op, const char *dbname, const char *table, sqlite3_int64 rowid) {
        crash_here();
}

static int crash_wal_hook(void *userdata, sqlite3 *db, const char *dbname, int pages) {
        crash_here();
}

/* The writer: opens the store, commits a running job with runs 0..2, then
 * starts the write that dies.  Never returns. */
static _Noreturn void crash_child(const char *dir, CrashPoint point, int fd) {
        Store *s = NULL;
        uint32_t id;
        if (store_open(dir, &s) < 0 || store_job_create(s, "boot", SPEC, &id) < 0 || store_job_set_running(s, id) < 0)
                _exit(10);
        for (unsigned i = 0; i < 3; i++) {
                _cleanup_free_ char *t = sample(i);
                if (store_run_add(s, id, i, t) < 0)
                        _exit(11);
        }
        if (write(fd, &id, sizeof(id)) != sizeof(id))
                _exit(12);
        crash_fd = fd;
        _cleanup_free_ char *three = sample(3), *big = big_json(BIG);
        switch (point) {
        case CRASH_IN_RUN_ADD:
                (void) sqlite3_update_hook(s->db, crash_update_hook, NULL);
                (void) store_run_add(s, id, 3, three);
                break;
        case CRASH_IN_FINISH:
                /* A 1 MiB page cache, whatever SQLite's default: the 4 MiB
                 * document must spill into the WAL before COMMIT. */
                if (sqlite3_exec(s->db, "PRAGMA cache_size=-1024", NULL, NULL, NULL) != SQLITE_OK)
                        _exit(15);
                (void) sqlite3_update_hook(s->db, crash_update_hook, NULL);
                (void) store_job_finish(s, id, "done", NULL, big);
                break;
        case CRASH_AFTER_COMMIT:
                (void) sqlite3_wal_hook(s->db, crash_wal_hook, NULL);
                (void) store_job_finish(s, id, "done", NULL, big);
                break;
        }
        _exit(14); /* the hook did not run */
}

static bool read_full(int fd, void *buf, size_t n) {
        for (size_t done = 0; done < n;) {
                ssize_t k = read(fd, (char *) buf + done, n - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return false;
                done += (size_t) k;
        }
        return true;
}

/* Runs the writer child up to POINT, SIGKILLs it there; returns the job id. */
static uint32_t crash_at(const char *dir, CrashPoint point) {
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                crash_child(dir, point, p[1]);
        }
        close(p[1]);
        uint32_t id = 0;
        char c = 0;
        bool ok = read_full(p[0], &id, sizeof(id)) && read_full(p[0], &c, 1) && c == 'K';
        close(p[0]);
        (void) kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!ok)
                fail_msg("writer child did not reach its crash point (exit status %d)",
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        return id;
}

/* What a crash before COMMIT must leave: a sound database in which the job
 * is still running with runs 0..2 (checked over a plain connection, before
 * the store's recovery), then, after store_open(), the job failed as
 * interrupted with exactly those runs. */
static void assert_crashed_before_commit(const char *dir, uint32_t id) {
        sqlite3 *db = raw_open(dir);
        assert_integrity_ok(db);
        _cleanup_free_ char *st = q_text(db, "SELECT state FROM jobs WHERE id=%u", id);
        assert_string_equal(st, "running");
        assert_int_equal(q_int(db, "SELECT result IS NULL FROM jobs WHERE id=%u", id), 1);
        assert_int_equal(n_runs(db, id), 3);
        sqlite3_close(db);

        Store *s = open_ok(dir);
        assert_int_equal(store_recovered_jobs(s), 1);
        assert_integrity_ok(s->db);
        assert_interrupted(s, id, 3);
        assert_int_equal(n_runs(s->db, id), 3);
        s = store_close(s);

        /* Recovery happens once. */
        s = open_ok(dir);
        assert_int_equal(store_recovered_jobs(s), 0);
        store_close(s);
}

static void test_crash_in_run_add(void **state) {
        const char *dir = *state;
        uint32_t id = crash_at(dir, CRASH_IN_RUN_ADD);
        assert_crashed_before_commit(dir, id);
}

static void test_crash_in_finish(void **state) {
        const char *dir = *state;
        uint32_t id = crash_at(dir, CRASH_IN_FINISH);
        /* The uncommitted 4 MiB really reached the disk (as WAL frames
         * without a commit mark), so reopening has to skip them. */
        assert_true(file_size(dir, "results.db-wal") > (off_t) (1u << 20));
        assert_crashed_before_commit(dir, id);
}

static void test_crash_after_commit(void **state) {
        const char *dir = *state;
        uint32_t id = crash_at(dir, CRASH_AFTER_COMMIT);
        /* Not checkpointed yet: the document lives only in the WAL. */
        assert_true(file_size(dir, "results.db-wal") > (off_t) BIG);
        assert_true(file_size(dir, "results.db") < (off_t) BIG);

        Store *s = open_ok(dir);
        assert_int_equal(store_recovered_jobs(s), 0);
        assert_integrity_ok(s->db);
        _cleanup_free_ char *st = q_text(s->db, "SELECT state FROM jobs WHERE id=%u", id);
        assert_string_equal(st, "done");
        _cleanup_free_ char *got = NULL, *big = big_json(BIG);
        assert_int_equal(store_job_result(s, id, &got), 0);
        assert_string_equal(got, big);
        assert_int_equal(n_runs(s->db, id), 3);
        store_close(s);
}

/* ---- recovery at open --------------------------------------------------- */

static void test_recover_at_open(void **state) {
        const char *dir = *state;
        Store *s = open_ok(dir);
        uint32_t queued, running, done, failed, canceled;
        assert_int_equal(store_job_create(s, "boot", SPEC, &queued), 0);
        assert_int_equal(store_job_create(s, "boot", SPEC, &running), 0);
        assert_int_equal(store_job_set_running(s, running), 0);
        add_run(s, running, 0);
        add_run(s, running, 1);
        assert_int_equal(store_job_create(s, "memory", SPEC, &done), 0);
        assert_int_equal(store_job_set_running(s, done), 0);
        add_run(s, done, 0);
        assert_int_equal(store_job_finish(s, done, "done", NULL, "{\"schema\":\"virtlab/result/v1\",\"state\":\"done\"}"), 0);
        assert_int_equal(store_job_create(s, "boot", SPEC, &failed), 0);
        assert_int_equal(store_job_set_running(s, failed), 0);
        assert_int_equal(store_job_finish(s, failed, "failed", "run 1: guest never reported", "{\"state\":\"failed\"}"), 0);
        assert_int_equal(store_job_create(s, "boot", SPEC, &canceled), 0);
        assert_int_equal(store_job_finish(s, canceled, "canceled", "canceled by the client", "{\"state\":\"canceled\"}"), 0);
        const uint32_t untouched[] = { done, failed, canceled };
        char *before[ELEMENTSOF(untouched)];
        for (size_t i = 0; i < ELEMENTSOF(untouched); i++)
                assert_non_null(before[i] = job_row(s->db, untouched[i]));
        s = store_close(s);

        s = open_ok(dir);
        assert_int_equal(store_recovered_jobs(s), 2);
        assert_interrupted(s, queued, 0);
        assert_interrupted(s, running, 2);
        for (size_t i = 0; i < ELEMENTSOF(untouched); i++) {
                _cleanup_free_ char *after = job_row(s->db, untouched[i]);
                assert_string_equal(after, before[i]);
        }
        assert_int_equal(n_runs(s->db, done), 1);
        _cleanup_free_ char *doc_queued = job_row(s->db, queued), *doc_running = job_row(s->db, running);
        s = store_close(s);

        /* A second open finds nothing to recover and rewrites nothing. */
        s = open_ok(dir);
        assert_int_equal(store_recovered_jobs(s), 0);
        _cleanup_free_ char *again_queued = job_row(s->db, queued), *again_running = job_row(s->db, running);
        assert_string_equal(again_queued, doc_queued);
        assert_string_equal(again_running, doc_running);
        for (size_t i = 0; i < ELEMENTSOF(untouched); i++) {
                _cleanup_free_ char *after = job_row(s->db, untouched[i]);
                assert_string_equal(after, before[i]);
                free(before[i]);
        }
        store_close(s);
}

/* ---- a read-only database ----------------------------------------------- */

/* Making writes fail for root: file modes do not stop root
 * (CAP_DAC_OVERRIDE), chattr +i needs CAP_LINUX_IMMUTABLE and a file system
 * that has the flag, and the kernel refuses to remount a file system (or
 * bind mount) read-only while a file on it is open for writing (EBUSY) — so
 * an open store can never be made to see EROFS from the kernel.  What a
 * store can meet is SQLite refusing writes, as it does on a database it could
 * only open read-only; PRAGMA query_only=ON makes the open connection refuse
 * every write the same way (SQLITE_READONLY), for root too.  Opening on a
 * read-only mount is tested separately (test_open_readonly_mount). */
static void test_readonly_writes_fail(void **state) {
        const char *dir = *state;
        Store *s = open_ok(dir);
        uint32_t queued, running, done;
        assert_int_equal(store_job_create(s, "boot", SPEC, &queued), 0);
        assert_int_equal(store_job_create(s, "boot", SPEC, &running), 0);
        assert_int_equal(store_job_set_running(s, running), 0);
        add_run(s, running, 0);
        add_run(s, running, 1);
        assert_int_equal(store_job_create(s, "boot", SPEC, &done), 0);
        assert_int_equal(store_job_finish(s, done, "done", NULL, "{\"state\":\"done\"}"), 0);
        _cleanup_free_ char *list_before = NULL;
        assert_int_equal(store_list(s, NULL, NULL, NULL, 0, &list_before), 0);
        const uint32_t ids[] = { queued, running, done };
        char *rows[ELEMENTSOF(ids)];
        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                rows[i] = job_row(s->db, ids[i]);

        raw_exec(s->db, "PRAGMA query_only=ON");
        uint32_t id = 0;
        _cleanup_free_ char *two = sample(2);
        assert_int_equal(store_job_create(s, "boot", SPEC, &id), -EROFS);
        assert_int_equal(id, 0); /* ret_id untouched on failure */
        assert_non_null(strstr(store_last_error(s), "readonly"));
        assert_int_equal(store_job_set_running(s, queued), -EROFS);
        assert_int_equal(store_run_add(s, running, 2, two), -EROFS);
        assert_int_equal(store_job_finish(s, running, "done", NULL, "{\"state\":\"done\"}"), -EROFS);
        assert_int_equal(store_job_delete(s, done), -EROFS);
        assert_non_null(strstr(store_last_error(s), "readonly"));
        /* Reads still work and see the old state. */
        _cleanup_free_ char *list_ro = NULL, *res = NULL;
        assert_int_equal(store_list(s, NULL, NULL, NULL, 0, &list_ro), 0);
        assert_string_equal(list_ro, list_before);
        assert_int_equal(store_job_result(s, done, &res), 0);
        assert_true(sqlite3_get_autocommit(s->db)); /* no transaction left open */

        /* Writable again: nothing of the refused writes is there, and the
         * store works. */
        raw_exec(s->db, "PRAGMA query_only=OFF");
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                _cleanup_free_ char *row = job_row(s->db, ids[i]);
                assert_string_equal(row, rows[i]);
                free(rows[i]);
        }
        assert_int_equal(n_runs(s->db, running), 2);
        assert_int_equal(q_int(s->db, "SELECT count(*) FROM jobs"), 3);
        assert_int_equal(store_run_add(s, running, 2, two), 0);
        assert_int_equal(store_job_finish(s, running, "done", NULL, "{\"state\":\"done\"}"), 0);
        store_close(s);
}

/* In a private mount namespace, bind-mounts DIR read-only onto itself;
 * false if this process may not (no CAP_SYS_ADMIN, or in a container that
 * forbids it). */
static bool mount_readonly(const char *dir) {
        return unshare(CLONE_NEWNS) >= 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) >= 0 &&
               mount(dir, dir, NULL, MS_BIND, NULL) >= 0 &&
               mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) >= 0;
}

static bool can_mount_readonly(void) {
        char dir[] = "/tmp/test-store-probe.XXXXXX";
        if (!mkdtemp(dir))
                return false;
        pid_t pid = fork();
        if (pid == 0)
                _exit(mount_readonly(dir) ? 0 : 77);
        int status = 0;
        bool ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        (void) rmdir(dir);
        return ok;
}

/* A state directory on a read-only mount: SQLite falls back to a read-only
 * connection, and store_open() refuses it with the errno open(2) gives for
 * writing, EROFS, instead of half-opening. */
static void test_open_readonly_mount(void **state) {
        const char *dir = *state;
        Store *s = open_ok(dir);
        uint32_t queued, done;
        assert_int_equal(store_job_create(s, "boot", SPEC, &done), 0);
        assert_int_equal(store_job_finish(s, done, "done", NULL, "{\"state\":\"done\"}"), 0);
        assert_int_equal(store_job_create(s, "boot", SPEC, &queued), 0);
        s = store_close(s);
        size_t n_before, n_after;
        _cleanup_free_ char *before = file_bytes(dir, "results.db", &n_before);

        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (!mount_readonly(dir))
                        _exit(77);
                Store *ro = NULL;
                int r = store_open(dir, &ro);
                store_close(ro);
                _exit(write(p[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
        }
        close(p[1]);
        int r = 0;
        bool got = read_full(p[0], &r, sizeof(r));
        close(p[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_true(got);
        assert_int_equal(r, -EROFS);

        _cleanup_free_ char *after = file_bytes(dir, "results.db", &n_after);
        assert_bytes_equal(before, n_before, after, n_after);
        /* Writable again, the store opens and recovers as usual. */
        s = open_ok(dir);
        assert_int_equal(store_recovered_jobs(s), 1);
        assert_interrupted(s, queued, 0);
        store_close(s);
}

/* ---- a full disk -------------------------------------------------------- */

/* What the child saw under RLIMIT_FSIZE (SIGXFSZ ignored, so write() fails
 * with EFBIG, which SQLite reports as SQLITE_IOERR_WRITE). */
typedef struct FullDiskReport {
        uint32_t id;
        int run_big;            /* store_run_add() of a 4 MiB sample */
        char run_big_sql[128];   /* the statement that failed */
        char run_big_error[256];
        int run_small;          /* a small run right after, same connection */
        int finish_big;         /* store_job_finish() of a 4 MiB document */
        char finish_big_sql[128];
        int result_after;       /* store_job_result() after that */
        long long runs_after;   /* run rows of the job */
        char state_after[16];   /* its state */
        int integrity_ok;
} FullDiskReport;

#define FSIZE_LIMIT (1u << 20)

static _Noreturn void full_disk_child(const char *dir, int fd) {
        FullDiskReport rep = {};
        Store *s = NULL;
        (void) signal(SIGXFSZ, SIG_IGN);
        if (store_open(dir, &s) < 0 || store_job_create(s, "boot", SPEC, &rep.id) < 0 ||
            store_job_set_running(s, rep.id) < 0)
                _exit(10);
        _cleanup_free_ char *zero = sample(0), *two = sample(2), *big = big_json(BIG);
        if (store_run_add(s, rep.id, 0, zero) < 0)
                _exit(11);
        /* Any file this process writes may now reach 1 MiB: the database
         * and its WAL hold a few pages, a 4 MiB document does not fit. */
        struct rlimit rl = { .rlim_cur = FSIZE_LIMIT, .rlim_max = RLIM_INFINITY };
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
                _exit(12);

        /* 4 MiB overflows a 1 MiB page cache: SQLite spills pages into the
         * WAL during the INSERT, and that write fails. */
        if (sqlite3_exec(s->db, "PRAGMA cache_size=-1024", NULL, NULL, NULL) != SQLITE_OK)
                _exit(13);
        rep.run_big = store_run_add(s, rep.id, 1, big);
        snprintf(rep.run_big_sql, sizeof(rep.run_big_sql), "%s", strempty(s->last_sql));
        snprintf(rep.run_big_error, sizeof(rep.run_big_error), "%s", store_last_error(s));
        rep.run_small = store_run_add(s, rep.id, 2, two);

        /* With a cache large enough to hold it all, nothing is written
         * before COMMIT: the failure is COMMIT's. */
        if (sqlite3_exec(s->db, "PRAGMA cache_size=-65536", NULL, NULL, NULL) != SQLITE_OK)
                _exit(14);
        rep.finish_big = store_job_finish(s, rep.id, "done", NULL, big);
        snprintf(rep.finish_big_sql, sizeof(rep.finish_big_sql), "%s", strempty(s->last_sql));

        _cleanup_free_ char *res = NULL;
        rep.result_after = store_job_result(s, rep.id, &res);
        rep.runs_after = n_runs(s->db, rep.id);
        _cleanup_free_ char *st = q_text(s->db, "SELECT state FROM jobs WHERE id=%u", rep.id);
        snprintf(rep.state_after, sizeof(rep.state_after), "%s", strempty(st));
        _cleanup_free_ char *ic = q_text(s->db, "PRAGMA integrity_check");
        rep.integrity_ok = ic && streq(ic, "ok");
        store_close(s);
        _exit(write(fd, &rep, sizeof(rep)) == sizeof(rep) ? 0 : 1);
}

static void test_full_disk(void **state) {
        const char *dir = *state;
        Store *s = open_ok(dir); /* the database exists before the limit */
        s = store_close(s);

        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                full_disk_child(dir, p[1]);
        }
        close(p[1]);
        FullDiskReport rep;
        bool got = read_full(p[0], &rep, sizeof(rep));
        close(p[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("full-disk child: %s %d", WIFEXITED(status) ? "exit" : "signal",
                         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        assert_true(got);

        /* EFBIG (File too large): the errno write() gave, carried through
         * SQLITE_IOERR_WRITE. */
        assert_int_equal(rep.run_big, -EFBIG);
        assert_string_equal(rep.run_big_sql, "INSERT OR REPLACE INTO runs (job_id, idx, sample) VALUES (?1, ?2, ?3)");
        assert_string_equal(rep.run_big_error, "disk I/O error");
        assert_int_equal(rep.run_small, 0);
        assert_int_equal(rep.finish_big, -EFBIG);
        assert_string_equal(rep.finish_big_sql, "COMMIT");
        /* The job is as before the failed writes: running, no result, runs
         * 0 and 2 only. */
        assert_int_equal(rep.result_after, -EBUSY);
        assert_int_equal(rep.runs_after, 2);
        assert_string_equal(rep.state_after, "running");
        assert_true(rep.integrity_ok);

        /* Limit lifted (this process never had it): the store opens sound,
         * recovers the job with what was committed, and takes big writes. */
        s = open_ok(dir);
        assert_integrity_ok(s->db);
        assert_int_equal(store_recovered_jobs(s), 1);
        _cleanup_free_ char *res = NULL;
        assert_int_equal(store_job_result(s, rep.id, &res), 0);
        json_auto_t *doc = json_loads(res, 0, NULL);
        json_t *runs = json_object_get(doc, "runs");
        assert_int_equal(json_array_size(runs), 2);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 0), "index")), 0);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 1), "index")), 2);
        uint32_t id;
        _cleanup_free_ char *big = big_json(BIG), *got_big = NULL;
        assert_int_equal(store_job_create(s, "boot", SPEC, &id), 0);
        add_run(s, id, 0);
        assert_int_equal(store_job_finish(s, id, "done", NULL, big), 0);
        assert_int_equal(store_job_result(s, id, &got_big), 0);
        assert_string_equal(got_big, big);
        store_close(s);
}

/* ---- schema version ----------------------------------------------------- */

static void test_schema_new_database(void **state) {
        const char *dir = *state;
        Store *s = open_ok(dir);
        assert_int_equal(store_schema_version(s), 1);
        s = store_close(s);
        sqlite3 *db = raw_open(dir);
        assert_int_equal(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
        assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('jobs','runs')"), 2);
        _cleanup_free_ char *mode = q_text(db, "PRAGMA journal_mode");
        assert_string_equal(mode, "wal");
        sqlite3_close(db);
}

/* A database made before versioning, as that virtlabd wrote it (user_version
 * 0, same tables): migrated in place, rows kept. */
static void test_schema_migrates_unversioned(void **state) {
        const char *dir = *state;
        sqlite3 *db = raw_open(dir);
        raw_exec(db,
                 "PRAGMA journal_mode=WAL;"
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
                 "  PRIMARY KEY (job_id, idx));"
                 "INSERT INTO jobs (id, kind, vmm, state, spec, result) VALUES (7, 'boot', 'qemu', 'done', '" SPEC
                 "', '{\"state\":\"done\"}');"
                 "INSERT INTO jobs (id, kind, vmm, state, spec) VALUES (8, 'boot', 'qemu', 'running', '" SPEC "');"
                 "INSERT INTO runs VALUES (8, 0, '{\"index\":0}');");
        assert_int_equal(q_int(db, "PRAGMA user_version"), 0);
        sqlite3_close(db);

        Store *s = open_ok(dir);
        assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
        assert_int_equal(q_int(s->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
        assert_int_equal(store_recovered_jobs(s), 1);
        _cleanup_free_ char *res = NULL;
        assert_int_equal(store_job_result(s, 7, &res), 0);
        assert_string_equal(res, "{\"state\":\"done\"}");
        assert_interrupted(s, 8, 1);
        uint32_t id;
        assert_int_equal(store_job_create(s, "boot", SPEC, &id), 0);
        assert_int_equal(id, 9);
        assert_int_equal(store_job_finish(s, id, "done", NULL, "{}"), 0);
        s = store_close(s);

        s = open_ok(dir); /* and a versioned database opens as it is */
        assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
        assert_int_equal(store_recovered_jobs(s), 0);
        store_close(s);
}

/* A database from a newer virtlabd: refused, and not written to at all — not
 * even switched to WAL (it is left in rollback-journal mode here to see that). */
static void test_schema_refuses_newer(void **state) {
        const char *dir = *state;
        sqlite3 *db = raw_open(dir);
        raw_exec(db, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind TEXT, state TEXT, shiny_new_column TEXT);"
                     "INSERT INTO jobs VALUES (1, 'boot', 'running', 'x');"
                     "PRAGMA user_version=2;");
        sqlite3_close(db);
        size_t n_before, n_after;
        _cleanup_free_ char *before = file_bytes(dir, "results.db", &n_before);

        Store *s = NULL;
        assert_int_equal(store_open(dir, &s), -EPROTONOSUPPORT);
        assert_null(s);
        _cleanup_free_ char *after = file_bytes(dir, "results.db", &n_after);
        assert_bytes_equal(before, n_before, after, n_after);
        assert_int_equal(file_size(dir, "results.db-wal"), -1);
        assert_int_equal(file_size(dir, "results.db-journal"), -1);

        db = raw_open(dir);
        raw_exec(db, "PRAGMA user_version=-1"); /* not a version we made either */
        sqlite3_close(db);
        assert_int_equal(store_open(dir, &s), -EPROTONOSUPPORT);
}

/* Unversioned, but not ours: tables named like ours with other columns are
 * not blessed as version 1. */
static void test_schema_refuses_foreign_tables(void **state) {
        const char *dir = *state;
        sqlite3 *db = raw_open(dir);
        raw_exec(db, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT);");
        sqlite3_close(db);

        Store *s = NULL;
        assert_int_equal(store_open(dir, &s), -EBADMSG);
        db = raw_open(dir);
        assert_int_equal(q_int(db, "PRAGMA user_version"), 0);
        assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name='runs'"), 0); /* rolled back */
        sqlite3_close(db);
}

static void test_not_a_database(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/results.db", dir) > 0);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        for (int i = 0; i < 200; i++)
                fputs("this is not an SQLite database, it only lives where one should. ", f);
        fclose(f);
        size_t n_before, n_after;
        _cleanup_free_ char *before = file_bytes(dir, "results.db", &n_before);
        Store *s = NULL;
        assert_int_equal(store_open(dir, &s), -EBADMSG);
        _cleanup_free_ char *after = file_bytes(dir, "results.db", &n_after);
        assert_bytes_equal(before, n_before, after, n_after);
}

/* ---- deletion and the errors of ordinary calls -------------------------- */

static void test_job_delete(void **state) {
        const char *dir = *state;
        Store *s = open_ok(dir);
        uint32_t keep, gone, running;
        assert_int_equal(store_job_create(s, "boot", SPEC, &keep), 0);
        add_run(s, keep, 0);
        assert_int_equal(store_job_create(s, "boot", SPEC, &gone), 0);
        add_run(s, gone, 0);
        add_run(s, gone, 1);
        assert_int_equal(store_job_create(s, "boot", SPEC, &running), 0);
        assert_int_equal(store_job_set_running(s, running), 0);
        add_run(s, running, 0);

        assert_int_equal(store_job_delete(s, gone), 0);
        assert_int_equal(n_runs(s->db, gone), 0);
        _cleanup_free_ char *res = NULL;
        assert_int_equal(store_job_result(s, gone, &res), -ENOENT);
        assert_int_equal(store_job_delete(s, gone), -ENOENT);
        assert_non_null(strstr(store_last_error(s), "no job"));
        assert_int_equal(store_job_delete(s, 4242), -ENOENT);
        assert_true(sqlite3_get_autocommit(s->db)); /* the refused delete left no transaction open */

        /* Whatever its state. */
        assert_int_equal(store_job_delete(s, running), 0);
        assert_int_equal(n_runs(s->db, running), 0);

        _cleanup_free_ char *list = NULL;
        assert_int_equal(store_list(s, NULL, NULL, NULL, 0, &list), 0);
        json_auto_t *l = json_loads(list, 0, NULL);
        assert_int_equal(json_array_size(l), 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "job_id")), keep);
        assert_int_equal(n_runs(s->db, keep), 1);
        s = store_close(s);

        s = open_ok(dir); /* the deleted running job is not "recovered" */
        assert_int_equal(store_recovered_jobs(s), 1);
        store_close(s);
}

static void test_missing_job_and_bad_state(void **state) {
        const char *dir = *state;
        Store *s = open_ok(dir);
        assert_string_equal(store_last_error(s), "");
        assert_int_equal(store_job_set_running(s, 42), -ENOENT);
        assert_string_equal(store_last_error(s), "no job 42");
        assert_int_equal(store_job_finish(s, 42, "done", NULL, "{}"), -ENOENT);
        assert_int_equal(store_run_add(s, 42, 0, "{}"), -ENOENT); /* foreign key: runs need their job */
        assert_non_null(strstr(store_last_error(s), "FOREIGN KEY"));
        assert_int_equal(q_int(s->db, "SELECT count(*) FROM runs"), 0);

        uint32_t id;
        assert_int_equal(store_job_create(s, "boot", SPEC, &id), 0);
        _cleanup_free_ char *before = job_row(s->db, id);
        assert_int_equal(store_job_finish(s, id, "exploded", "x", "{}"), -EINVAL);
        assert_non_null(strstr(store_last_error(s), "CHECK constraint failed"));
        _cleanup_free_ char *after = job_row(s->db, id);
        assert_string_equal(after, before);
        assert_true(sqlite3_get_autocommit(s->db));
        /* A failure leaves the last error in place until the next one. */
        assert_int_equal(store_job_finish(s, id, "done", NULL, "{}"), 0);
        assert_non_null(strstr(store_last_error(s), "CHECK constraint failed"));
        store_close(s);
}

static void test_errno_mapping(void **state) {
        static const struct {
                int rc, sys_errno, r;
        } table[] = {
                { SQLITE_OK, 0, 0 },
                { SQLITE_DONE, 0, 0 },
                { SQLITE_FULL, 0, -ENOSPC },
                { SQLITE_READONLY, 0, -EROFS },
                { SQLITE_READONLY_DBMOVED, 0, -EROFS },
                { SQLITE_IOERR, 0, -EIO },
                { SQLITE_IOERR_WRITE, EIO, -EIO },
                { SQLITE_IOERR_FSYNC, EINTR, -EIO },
                { SQLITE_IOERR_WRITE, EFBIG, -EFBIG },
                { SQLITE_IOERR_WRITE, EDQUOT, -EDQUOT },
                { SQLITE_IOERR_TRUNCATE, ENOSPC, -ENOSPC },
                { SQLITE_IOERR_NOMEM, 0, -ENOMEM },
                { SQLITE_NOMEM, 0, -ENOMEM },
                { SQLITE_BUSY, 0, -EBUSY },
                { SQLITE_BUSY_SNAPSHOT, 0, -EBUSY },
                { SQLITE_LOCKED, 0, -EBUSY },
                { SQLITE_PERM, 0, -EACCES },
                { SQLITE_CANTOPEN, EACCES, -EACCES },
                { SQLITE_CANTOPEN, 0, -EIO },
                { SQLITE_CORRUPT, 0, -EBADMSG },
                { SQLITE_NOTADB, 0, -EBADMSG },
                { SQLITE_CONSTRAINT_FOREIGNKEY, 0, -ENOENT },
                { SQLITE_CONSTRAINT_PRIMARYKEY, 0, -EEXIST },
                { SQLITE_CONSTRAINT_CHECK, 0, -EINVAL },
                { SQLITE_CONSTRAINT_NOTNULL, 0, -EINVAL },
                { SQLITE_TOOBIG, 0, -E2BIG },
                { SQLITE_ERROR, 0, -EIO },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (errno_from_sqlite(table[i].rc, table[i].sys_errno) != table[i].r)
                        fail_msg("code %d errno %d: %d, expected %d", table[i].rc, table[i].sys_errno,
                                 errno_from_sqlite(table[i].rc, table[i].sys_errno), table[i].r);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        log_max_level = LOG_LEVEL_WARNING;
        const struct CMUnitTest tests[] = {
                T(test_round_trip),
                T(test_ids_never_reused),
                T(test_crash_in_run_add),
                T(test_crash_in_finish),
                T(test_crash_after_commit),
                T(test_recover_at_open),
                T(test_readonly_writes_fail),
                T(test_full_disk),
                T(test_schema_new_database),
                T(test_schema_migrates_unversioned),
                T(test_schema_refuses_newer),
                T(test_schema_refuses_foreign_tables),
                T(test_not_a_database),
                T(test_job_delete),
                T(test_missing_job_and_bad_state),
                T(test_errno_mapping),
        };
        const struct CMUnitTest mount_tests[] = {
                T(test_open_readonly_mount),
        };
        int failed = cmocka_run_group_tests_name("store", tests, NULL, NULL);
        /* cmocka 1.1's skip() prints "not ok … # SKIP", which the runner would
         * count as a failure, so an impossible test is reported by hand. */
        if (can_mount_readonly())
                failed += cmocka_run_group_tests_name("store on a read-only mount", mount_tests, NULL, NULL);
        else
                printf("ok %zu - test_open_readonly_mount # SKIP cannot bind-mount read-only in a private mount "
                       "namespace here\n",
                       ELEMENTSOF(tests) + 1);
        return failed;
}
