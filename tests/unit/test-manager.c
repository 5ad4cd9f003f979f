/* test-manager.c — the job queue (manager.c) through manager.h, with a
 * real store in a temporary directory and the VM-less kind "kvm-sample",
 * whose binary ($VIRTLAB_KVM_SAMPLE) is a small script written here: it
 * records its pid, then either prints the JSON kvm-sample prints, after a
 * pause (a job that ends by itself), or sleeps (a job that ends only when
 * it is canceled or dropped).  Checked: FIFO order with one job at a time,
 * the queue limit and that a refused submission stores nothing, canceling a
 * queued job, and manager_free() in the middle of a job. */
#include "manager.c"

#include "test-helpers.h"

#define KVM_SAMPLE_JSON \
        "{\"ok\":true,\"output\":\"Hello\",\"exits\":{\"IO\":14,\"HLT\":1},\"total_exits\":15,\"mode\":\"real\",\"upper\":false}"
#define SPEC_ONE_RUN "{\"runs\": 1, \"warmup\": 0}"

typedef struct Fixture {
        struct event_base *base;
        char *dir;             /* state dir (results.db, logs) */
        char *run_dir;         /* private scratch */
        char *pids;            /* every script run appends its pid here */
        char *fast, *slow;     /* the two kvm-sample stand-ins */
        Manager *m;
        uint32_t started[64];  /* job ids in the order they began running */
        unsigned n_started;
        uint32_t removed[64];  /* job ids in the order they were removed */
        unsigned n_removed;
        unsigned max_running;  /* most jobs seen running at once */
        unsigned job_new;      /* observer calls */
} Fixture;

static void obs_job_new(Job *job, void *userdata) {
        ((Fixture *) userdata)->job_new++;
}

static void obs_job_changed(Job *job, void *userdata) {
        Fixture *f = userdata;
        if (job_state(job) == JOB_RUNNING) {
                bool known = false;
                for (unsigned i = 0; i < f->n_started; i++)
                        known = known || f->started[i] == job_id(job);
                if (!known && f->n_started < ELEMENTSOF(f->started))
                        f->started[f->n_started++] = job_id(job);
        }
        _cleanup_free_ Job **jobs = manager_jobs(f->m);
        unsigned running = 0;
        for (Job **j = jobs; j && *j; j++)
                running += job_state(*j) == JOB_RUNNING;
        if (running > f->max_running)
                f->max_running = running;
}

static void obs_job_removed(Job *job, void *userdata) {
        Fixture *f = userdata;
        assert_true(job_state(job) >= JOB_DONE);
        if (f->n_removed < ELEMENTSOF(f->removed))
                f->removed[f->n_removed++] = job_id(job);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        f->base = event_base_new();
        f->dir = test_tmpdir();
        f->run_dir = path_join(f->dir, "run");
        f->pids = path_join(f->dir, "pids");
        f->fast = path_join(f->dir, "kvm-sample-fast");
        f->slow = path_join(f->dir, "kvm-sample-slow");
        _cleanup_free_ char *fast = NULL, *slow = NULL, *image = path_join(f->dir, "no-image");
        assert_true(asprintf(&fast, "#!/bin/sh\necho $$ >>%s\nsleep 0.2\nprintf '%%s\\n' '%s'\n", f->pids,
                             KVM_SAMPLE_JSON) > 0);
        assert_true(asprintf(&slow, "#!/bin/sh\necho $$ >>%s\nexec sleep 30\n", f->pids) > 0);
        write_file(f->fast, fast, 0755);
        write_file(f->slow, slow, 0755);
        assert_int_equal(setenv("VIRTLAB_KVM_SAMPLE", f->fast, 1), 0);
        ManagerConfig cfg = { .state_dir = f->dir, .image_dir = image, .run_dir = f->run_dir };
        assert_int_equal(manager_new(f->base, &cfg, &f->m), 0);
        ManagerObserver obs = { .job_new = obs_job_new, .job_changed = obs_job_changed,
                                .job_removed = obs_job_removed, .userdata = f };
        manager_set_observer(f->m, &obs);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        manager_free(f->m);
        loop_for(f->base, 20);
        event_base_free(f->base);
        rm_rf(f->dir);
        free(f->dir);
        free(f->run_dir);
        free(f->pids);
        free(f->fast);
        free(f->slow);
        free(f);
        return 0;
}

static Job *submit(Fixture *f, const char *spec) {
        Job *job = NULL;
        _cleanup_free_ char *err = NULL;
        ManagerError cls;
        int r = manager_submit(f->m, "kvm-sample", spec, NULL, &job, &err, &cls);
        if (r < 0)
                fail_msg("submit %s: %s", spec, strempty(err));
        assert_non_null(job);
        return job;
}

/* The first pid the scripts recorded (the running job's process). */
static pid_t first_pid(Fixture *f) {
        return read_pid_file(f->pids);
}

/* The store's job list, parsed. */
static json_t *listed(Store *s) {
        _cleanup_free_ char *text = NULL;
        assert_int_equal(store_list(s, NULL, NULL, NULL, 0, &text), 0);
        json_t *a = json_loads(text, 0, NULL);
        assert_true(json_is_array(a));
        return a;
}

static json_t *result_of(Store *s, uint32_t id) {
        _cleanup_free_ char *text = NULL;
        assert_int_equal(store_job_result(s, id, &text), 0);
        json_t *doc = json_loads(text, 0, NULL);
        assert_non_null(doc);
        return doc;
}

static const char *str_at(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* Two jobs submitted back to back run one after the other, in order: the
 * second stays queued while the first runs, and both finish done with the
 * sample the kind parsed from the script's JSON. */
static void test_fifo(void **state) {
        Fixture *f = *state;
        Job *a = submit(f, SPEC_ONE_RUN), *b = submit(f, SPEC_ONE_RUN);
        uint32_t ida = job_id(a), idb = job_id(b);
        assert_true(idb > ida);
        assert_int_equal(f->job_new, 2);
        LOOP_UNTIL(f->base, job_state(a) == JOB_RUNNING, 5000);
        assert_int_equal(job_state(b), JOB_QUEUED);
        _cleanup_free_ Job **jobs = manager_jobs(f->m);
        assert_ptr_equal(jobs[0], a);
        assert_ptr_equal(jobs[1], b);
        assert_null(jobs[2]);
        assert_ptr_equal(manager_find_job(f->m, idb), b);

        LOOP_UNTIL(f->base, f->n_removed == 2, 10000);
        assert_null(manager_find_job(f->m, ida));
        assert_int_equal(f->n_started, 2);
        assert_int_equal(f->started[0], ida);
        assert_int_equal(f->started[1], idb);
        assert_int_equal(f->removed[0], ida);
        assert_int_equal(f->removed[1], idb);
        assert_int_equal(f->max_running, 1);

        uint32_t ids[] = { ida, idb };
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                json_auto_t *doc = result_of(manager_store(f->m), ids[i]);
                assert_string_equal(str_at(doc, "state"), "done");
                json_t *run = json_array_get(json_object_get(doc, "runs"), 0);
                assert_true(json_is_true(json_object_get(run, "ok")));
                assert_string_equal(str_at(run, "output"), "Hello");
                assert_int_equal(json_integer_value(json_object_get(run, "exits_total")), 15);
                assert_int_equal(json_integer_value(json_object_get(run, "io_exits")), 14);
                assert_int_equal(json_integer_value(json_object_get(run, "hlt_exits")), 1);
                assert_string_equal(str_at(run, "kvm_sample_path"), f->fast);
        }
        /* Two processes ran, one per job. */
        _cleanup_free_ char *pids = read_file(f->pids);
        assert_non_null(pids);
        assert_non_null(strchr(pids, '\n'));
        assert_non_null(strchr(strchr(pids, '\n') + 1, '\n'));
}

/* With one job running, JOBS_QUEUED_MAX more are queued; the next is
 * refused as QUEUE_FULL and leaves no row in the store. */
static void test_queue_limit(void **state) {
        Fixture *f = *state;
        assert_int_equal(setenv("VIRTLAB_KVM_SAMPLE", f->slow, 1), 0);
        Job *first = submit(f, SPEC_ONE_RUN);
        LOOP_UNTIL(f->base, job_state(first) == JOB_RUNNING, 5000);
        for (unsigned i = 0; i < JOBS_QUEUED_MAX; i++)
                assert_int_equal(job_state(submit(f, SPEC_ONE_RUN)), JOB_QUEUED);

        Job *job = NULL;
        _cleanup_free_ char *err = NULL;
        ManagerError cls = MANAGER_INTERNAL;
        assert_int_equal(manager_submit(f->m, "kvm-sample", SPEC_ONE_RUN, NULL, &job, &err, &cls), -E2BIG);
        assert_int_equal(cls, MANAGER_QUEUE_FULL);
        assert_string_equal(err, "Too many queued jobs (max 32)");
        assert_null(job);
        json_auto_t *rows = listed(manager_store(f->m));
        assert_int_equal(json_array_size(rows), 1 + JOBS_QUEUED_MAX);
        assert_int_equal(f->job_new, 1 + JOBS_QUEUED_MAX);

        /* Once the running job is gone and the next one runs, exactly one more fits. */
        assert_int_equal(manager_cancel_job(f->m, job_id(first), "make room"), 0);
        LOOP_UNTIL(f->base, f->n_removed == 1 && f->n_started == 2, 5000);
        assert_int_equal(job_state(submit(f, SPEC_ONE_RUN)), JOB_QUEUED);
        _cleanup_free_ char *err2 = NULL;
        assert_int_equal(manager_submit(f->m, "kvm-sample", SPEC_ONE_RUN, NULL, &job, &err2, &cls), -E2BIG);
        json_auto_t *rows2 = listed(manager_store(f->m));
        assert_int_equal(json_array_size(rows2), 2 + JOBS_QUEUED_MAX);
}

/* A refused request stores nothing and queues nothing, whatever refused it. */
static void test_refused_leaves_no_row(void **state) {
        Fixture *f = *state;
        static const struct {
                const char *kind, *spec, *want;
        } cases[] = {
                { "nope", "{}", "Unknown experiment kind 'nope' (known: " },
                { "kvm-sample", "{", "Experiment spec is not valid JSON: " },
                { "kvm-sample", "[]", "Experiment spec must be a JSON object" },
                { "kvm-sample", "{\"runs\": 0}", "Invalid runs 0: must be between 1 and 1000" },
                { "kvm-sample", "{\"vmm\": \"qemu\"}", "Field 'vmm' does not apply to 'kvm-sample': it runs no VM" },
                { "kvm-sample", "{\"mode\": \"weird\"}", "Invalid mode 'weird': must be real, protected, paged or long" },
                { "kvm-sample", "{\"colour\": 1}", "Unknown field 'colour' in experiment spec" },
                { "kvm-sample", "", "Experiment spec is empty: pass a JSON object, {} for every default" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Job *job = NULL;
                _cleanup_free_ char *err = NULL;
                ManagerError cls = MANAGER_INTERNAL;
                assert_int_equal(manager_submit(f->m, cases[i].kind, cases[i].spec, NULL, &job, &err, &cls), -EINVAL);
                assert_int_equal(cls, MANAGER_INVALID);
                assert_null(job);
                if (!err || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
                        fail_msg("%s %s: got '%s', want '%s…'", cases[i].kind, cases[i].spec, strempty(err),
                                 cases[i].want);
        }
        json_auto_t *rows = listed(manager_store(f->m));
        assert_int_equal(json_array_size(rows), 0);
        _cleanup_free_ Job **jobs = manager_jobs(f->m);
        assert_null(jobs[0]);
        assert_int_equal(f->job_new, 0);
        loop_for(f->base, 50);
        assert_int_equal(f->n_started, 0);
}

/* Canceling a queued job ends it at once (stored canceled, no run) and
 * leaves the running one alone; an unknown id is -ENOENT. */
static void test_cancel_queued(void **state) {
        Fixture *f = *state;
        assert_int_equal(setenv("VIRTLAB_KVM_SAMPLE", f->slow, 1), 0);
        Job *a = submit(f, SPEC_ONE_RUN), *b = submit(f, SPEC_ONE_RUN);
        uint32_t ida = job_id(a), idb = job_id(b);
        LOOP_UNTIL(f->base, job_state(a) == JOB_RUNNING && first_pid(f) > 0, 5000);
        assert_int_equal(manager_cancel_job(f->m, idb, "Not needed"), 0);
        assert_int_equal(job_state(b), JOB_CANCELED);
        assert_int_equal(job_state(a), JOB_RUNNING);
        assert_int_equal(manager_cancel_job(f->m, 9999, "x"), -ENOENT);
        LOOP_UNTIL(f->base, f->n_removed == 1, 5000);
        assert_int_equal(f->removed[0], idb);
        assert_int_equal(job_state(a), JOB_RUNNING);
        json_auto_t *doc = result_of(manager_store(f->m), idb);
        assert_string_equal(str_at(doc, "state"), "canceled");
        assert_string_equal(str_at(doc, "error"), "Not needed");
        assert_int_equal(json_array_size(json_object_get(doc, "runs")), 0);

        /* Canceling the running one kills its process. */
        pid_t pid = first_pid(f);
        assert_false(pid_dead(pid));
        assert_int_equal(manager_cancel_job(f->m, ida, "Stop it"), 0);
        LOOP_UNTIL(f->base, f->n_removed == 2, 5000);
        assert_true(pid_dead(pid));
        json_auto_t *doc_a = result_of(manager_store(f->m), ida);
        assert_string_equal(str_at(doc_a, "state"), "canceled");
        assert_int_equal(f->n_started, 1); /* b never ran */
}

/* manager_free() in the middle of a job: the job's process is killed and
 * reaped before it returns, and every unfinished job — running and queued —
 * is stored failed with the reason, not left for crash recovery. */
static void test_free_mid_job(void **state) {
        Fixture *f = *state;
        assert_int_equal(setenv("VIRTLAB_KVM_SAMPLE", f->slow, 1), 0);
        Job *a = submit(f, SPEC_ONE_RUN), *b = submit(f, SPEC_ONE_RUN);
        uint32_t ida = job_id(a), idb = job_id(b);
        LOOP_UNTIL(f->base, job_state(a) == JOB_RUNNING && first_pid(f) > 0, 5000);
        pid_t pid = first_pid(f);
        manager_stop(f->m, "SIGTERM");
        f->m = manager_free(f->m);
        assert_true(kill(pid, 0) < 0 && errno == ESRCH);
        assert_true(no_children()); /* the job's process and every version probe */

        Store *s = NULL;
        assert_int_equal(store_open(f->dir, &s), 0);
        assert_int_equal(store_recovered_jobs(s), 0);
        const char *why = "virtlabd was stopped (SIGTERM) while the job ran";
        json_auto_t *doc_a = result_of(s, ida), *doc_b = result_of(s, idb);
        assert_string_equal(str_at(doc_a, "state"), "failed");
        assert_string_equal(str_at(doc_a, "error"), why);
        json_t *runs = json_object_get(doc_a, "runs");
        assert_int_equal(json_array_size(runs), 1);
        assert_true(json_is_false(json_object_get(json_array_get(runs, 0), "ok")));
        assert_string_equal(str_at(doc_b, "state"), "failed");
        assert_string_equal(str_at(doc_b, "error"), why);
        assert_int_equal(json_array_size(json_object_get(doc_b, "runs")), 0);
        store_close(s);
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_fifo, setup, teardown),
                cmocka_unit_test_setup_teardown(test_queue_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused_leaves_no_row, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_queued, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_mid_job, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
