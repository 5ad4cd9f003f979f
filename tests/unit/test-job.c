/* test-job.c — the job runner (job.c) and the run state machine under it
 * (run.c), through job.c's public API, with real parts around them: a
 * SQLite store in a temporary directory, an image.json read by image.c, the
 * VMM catalog probing the fake VMM's version, vm.c spawning it, the console
 * protocol parser, result.c and summary.c building the stored document.
 *
 * What is fake is what a unit test cannot run: the VMM is bash running a
 * script that prints what a guest prints (kernel banner, init marker, the
 * @@VIRTLAB frames, a result line) on the serial fd it is handed and
 * greets on QMP; the experiment kind is a minimal "boot"-like kind defined
 * here.  The catalog is built from catalog.c (included) with only the fake
 * backends in it, since the registry's are real VMMs. */
#include "backends/catalog.c"

#include "experiments/experiment.h"
#include "job.h"
#include "test-helpers.h"

/* ---- the fake VMMs ---------------------------------------------------- */

static const char *script_a, *script_b; /* what fake-a / fake-b run (set per test) */

/* argv: bash -c SCRIPT NAME SERIAL_FD QMP_FD CMDLINE: the script sees its
 * backend's name as $0. */
static int fake_build_argv(const VmmBackend *b, const char *binary, const VmConfig *c, char ***ret);

static const KernelFormat fake_formats[] = { KERNEL_FORMAT_PVH, _KERNEL_FORMAT_INVALID };
static const char *const fake_version_argv[] = { "-c", "echo 'fakevmm 1.0'", NULL };

#define FAKE_BACKEND(n)                                                                                     \
        {                                                                                                   \
                .name = (n), .description = "test VMM", .product = "FakeVMM", .binary = "/bin/bash",      \
                .version_argv = fake_version_argv, .version_prefix = "fakevmm",                             \
                .kernel_formats = fake_formats, .caps = { .has_tcg = true, .takes_fds = true },             \
                .build_argv = fake_build_argv,                                                              \
        }

static const VmmBackend fake_a = FAKE_BACKEND("fake-a");
static const VmmBackend fake_b = FAKE_BACKEND("fake-b");
static const VmmBackend fake_gone = {
        .name = "fake-gone", .description = "not installed", .product = "FakeVMM",
        .binary = "/nonexistent/virtlab-fake-vmm", .version_argv = fake_version_argv, .version_prefix = "fakevmm",
        .kernel_formats = fake_formats, .caps = { .takes_fds = true }, .build_argv = fake_build_argv,
};

/* Its binary comes from $VIRTLAB_TEST_SLOW_VMM (absent at setup), and its
 * version probe takes a second: a job on it waits for the probe. */
static const char *const slow_version_argv[] = { "--version", NULL };
static const VmmBackend fake_slow = {
        .name = "fake-slow", .description = "slow to probe", .product = "FakeVMM",
        .binary = "/nonexistent/virtlab-fake-slow", .binary_env = "VIRTLAB_TEST_SLOW_VMM",
        .version_argv = slow_version_argv, .version_prefix = "fakevmm", .kernel_formats = fake_formats,
        .caps = { .has_tcg = true, .takes_fds = true }, .build_argv = fake_build_argv,
};

static int fake_build_argv(const VmmBackend *b, const char *binary, const VmConfig *c, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        size_t n = 0;
        int r = strv_push(&v, &n, binary);
        r = r ?: strv_push(&v, &n, "-c");
        r = r ?: strv_push(&v, &n, b == &fake_b ? script_b : script_a);
        r = r ?: strv_push(&v, &n, b->name);
        r = r ?: strv_pushf(&v, &n, "%d", c->serial_fd);
        r = r ?: strv_pushf(&v, &n, "%d", c->qmp_fd);
        r = r ?: strv_push(&v, &n, c->cmdline);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

/* A real catalog (catalog.c) whose entries are the fake backends. */
static VmmCatalog *fake_catalog_new(struct event_base *base) {
        static const VmmBackend *const list[] = { &fake_a, &fake_b, &fake_gone, &fake_slow };
        VmmCatalog *c = calloc(1, sizeof(VmmCatalog));
        assert_non_null(c);
        c->base = base;
        c->n = ELEMENTSOF(list);
        c->entries = calloc(c->n, sizeof(Entry));
        c->settle_event = evtimer_new(base, on_settle, c);
        assert_true(c->entries && c->settle_event);
        for (size_t i = 0; i < c->n; i++)
                c->entries[i] = (Entry) { .catalog = c, .b = list[i] };
        vmm_catalog_refresh(c); /* starts the version probes, as at daemon start */
        return c;
}

/* Shell helpers every guest script starts with: $1 serial fd, $2 QMP fd. */
#define PRELUDE                                                                                             \
        "s=$1 q=$2\n"                                                                                       \
        "greet() { printf '%s\\n' '{\"QMP\":{\"version\":{\"qemu\":{\"micro\":0,\"minor\":2,\"major\":8},"     \
        "\"package\":\"\"},\"capabilities\":[]}}' >&$q; read -r _ <&$q;"                                     \
        " printf '%s\\n' '{\"return\":{},\"id\":1}' >&$q; }\n"                                               \
        "con() { printf '%s\\n' \"$@\" >&$s; }\n"

/* A guest that boots, runs its job and powers off (fake-b skips QMP). */
#define GUEST_OK                                                                                            \
        PRELUDE "[ \"$0\" = fake-b ] || greet\n"                                                           \
                "con 'Linux version 6.1.0-fake (test)' 'TEST-MARKER' '@@VIRTLAB-BEGIN job=boot@@'"          \
                " 'hello from the guest' '@@VIRTLAB-END job=boot rc=0@@'\n"                                 \
                "printf '@@VIRTLAB-RESULT@@ {\"job\":\"boot\",\"rc\":0,\"who\":\"%s\"}\\n' \"$0\" >&$s\n"   \
                "exit 0\n"

/* ---- the fake kind ---------------------------------------------------- */

static unsigned results_seen; /* on_guest_result calls */

static void fake_on_result(Run *run) {
        results_seen++;
        json_object_set_new(run_sample(run), "seen_by_kind", json_true());
}

static const char *const fake_metrics[] = { "boot_ms", "t_init_ms", NULL };

static const ExperimentKind fake_kind = {
        .name = "fake-boot",
        .description = "boot, as a test kind",
        .metrics = fake_metrics,
        .guest_job = "boot",
        .guest_powers_off = true,
        .on_guest_result = fake_on_result,
};

/* ---- fixture ---------------------------------------------------------- */

typedef struct Fixture {
        struct event_base *base;
        char *dir;                /* temporary: store, logs, run dir, image */
        char *image_dir;          /* image.json + a stand-in kernel */
        char *run_dir;            /* private scratch directory */
        char *pidfile;            /* scripts that hang write their pid here */
        Store *store;             /* real SQLite store */
        VmmCatalog *catalog;      /* real catalog, fake backends */
        HostInfo host;            /* probed */
        unsigned changed;         /* observer calls */
        unsigned finished;
        unsigned run_finished;
        unsigned last_index;      /* index of the last run_finished */
        Job *job;                 /* the job under test */
} Fixture;

static void obs_changed(Job *job, void *userdata) {
        ((Fixture *) userdata)->changed++;
}
static void obs_run_finished(Job *job, unsigned index, const char *sample_json, void *userdata) {
        Fixture *f = userdata;
        json_auto_t *s = json_loads(sample_json, 0, NULL);
        assert_non_null(s); /* the observer gets the stored JSON text */
        assert_int_equal(json_integer_value(json_object_get(s, "index")), index);
        assert_int_equal(index, f->run_finished); /* in order, none skipped */
        f->run_finished++;
        f->last_index = index;
}
static void obs_finished(Job *job, void *userdata) {
        Fixture *f = userdata;
        assert_true(job_state(job) >= JOB_DONE);
        f->finished++;
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        f->base = event_base_new();
        f->dir = test_tmpdir();
        f->image_dir = path_join(f->dir, "image");
        f->run_dir = path_join(f->dir, "run");
        f->pidfile = path_join(f->dir, "vmm.pid");
        assert_int_equal(mkdir(f->image_dir, 0755), 0);
        assert_int_equal(mkdir(f->run_dir, 0700), 0);
        _cleanup_free_ char *kernel = path_join(f->image_dir, "vmlinux"), *json = path_join(f->image_dir, "image.json");
        _cleanup_free_ char *text = NULL;
        write_file(kernel, "not really a kernel", 0644);
        assert_true(asprintf(&text,
                             "{\"name\":\"fake\",\"marker\":\"TEST-MARKER\",\"cmdline_base\":\"console=ttyS0 quiet\","
                             "\"vmlinux\":\"%s\",\"jobs\":[\"boot\"],\"powers_off\":true}",
                             kernel) > 0);
        write_file(json, text, 0644);
        assert_int_equal(store_open(f->dir, &f->store), 0);
        (void) host_probe(&f->host); /* as manager_new: best effort */
        f->catalog = fake_catalog_new(f->base);
        /* Version probes are children too: let them end, so that "no child
         * left" afterwards speaks of the job's processes alone. */
        LOOP_UNTIL(f->base, !catalog_probing(f->catalog), 5000);
        results_seen = 0;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        (void) unsetenv("VIRTLAB_TEST_SLOW_VMM");
        job_free(f->job, NULL);
        loop_for(f->base, 20); /* deferred frees (QMP clients, finished probes) */
        vmm_catalog_free(f->catalog);
        store_close(f->store);
        event_base_free(f->base);
        rm_rf(f->dir);
        free(f->dir);
        free(f->image_dir);
        free(f->run_dir);
        free(f->pidfile);
        free(f);
        return 0;
}

/* A plan as plan.c would build it: spec checked by the common table, the
 * image read from disk, VMMs resolved with their kernel. */
static JobPlan *make_plan(Fixture *f, const char *spec_text, const VmmBackend *const *vmms, size_t n) {
        JobPlan *p = calloc(1, sizeof(JobPlan));
        _cleanup_free_ char *err = NULL;
        assert_non_null(p);
        p->kind = &fake_kind;
        p->spec = json_loads(spec_text, 0, NULL);
        assert_non_null(p->spec);
        if (spec_check(p->spec, spec_common_fields, true, &err) < 0)
                fail_msg("spec %s: %s", spec_text, err);
        if (image_load(f->image_dir, &p->image, &err) < 0)
                fail_msg("image: %s", err);
        p->host = &f->host;
        for (size_t i = 0; i < n; i++) {
                PlanVmm *v = &p->vmms[p->n_vmms++];
                v->backend = vmms[i];
                v->accel = ACCEL_TCG;
                v->accel_reason = "the test asks for TCG";
                v->kernel = image_kernel_for(p->image, vmms[i], NULL);
                assert_non_null(v->kernel);
                assert_int_equal(vmm_info_copy(vmm_catalog_get(f->catalog, vmms[i]), &v->info), 0);
        }
        return p;
}

static Job *start_job(Fixture *f, const char *spec_text, const VmmBackend *const *vmms, size_t n) {
        JobContext ctx = { .base = f->base, .store = f->store, .catalog = f->catalog, .run_dir = f->run_dir };
        JobObserver obs = { .changed = obs_changed, .run_finished = obs_run_finished, .finished = obs_finished,
                            .userdata = f };
        assert_int_equal(job_new(&ctx, make_plan(f, spec_text, vmms, n), &obs, &f->job), 0);
        assert_int_equal(job_state(f->job), JOB_QUEUED);
        job_start(f->job);
        return f->job;
}

/* The stored result document of the fixture's job. */
static json_t *stored_result(Fixture *f, uint32_t id) {
        _cleanup_free_ char *text = NULL;
        assert_int_equal(store_job_result(f->store, id, &text), 0);
        json_t *doc = json_loads(text, 0, NULL);
        assert_non_null(doc);
        return doc;
}

static const char *str_at(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

static const VmmBackend *const only_a[] = { &fake_a };

/* ---- tests ------------------------------------------------------------ */

/* A guest that runs its job and powers off, 1 warm-up + 3 runs: the job is
 * done, every run stored in order with ok true and its boot phases, the
 * kind saw each result, the document has statistics over the 3 measured
 * runs and the VMM version the catalog probed. */
static void test_job_done(void **state) {
        Fixture *f = *state;
        script_a = GUEST_OK;
        Job *job = start_job(f, "{\"runs\": 3, \"warmup\": 1}", only_a, 1);
        assert_int_equal(job_state(job), JOB_RUNNING);
        assert_int_equal(job_runs_total(job), 4);
        LOOP_UNTIL(f->base, f->finished > 0, 20000);
        assert_int_equal(job_state(job), JOB_DONE);
        assert_null(job_error(job));
        assert_int_equal(job_runs_done(job), 4);
        assert_true(job_progress(job) == 1.0);
        assert_int_equal(f->run_finished, 4);
        assert_int_equal(f->finished, 1);
        assert_int_equal(results_seen, 4);
        assert_true(f->changed > 0);
        assert_string_equal(job_vmm(job), "fake-a");

        json_auto_t *doc = stored_result(f, job_id(job));
        assert_string_equal(str_at(doc, "state"), "done");
        assert_true(json_is_null(json_object_get(doc, "error")));
        assert_string_equal(str_at(doc, "kind"), "fake-boot");
        json_t *runs = json_object_get(doc, "runs"), *r;
        size_t i;
        assert_int_equal(json_array_size(runs), 4);
        json_array_foreach(runs, i, r) {
                assert_int_equal(json_integer_value(json_object_get(r, "index")), i);
                assert_true(json_is_true(json_object_get(r, "ok")));
                assert_true(json_is_null(json_object_get(r, "error")));
                assert_int_equal(json_is_true(json_object_get(r, "warmup")), i == 0);
                assert_string_equal(str_at(r, "vmm"), "fake-a");
                assert_string_equal(str_at(r, "vmm_exit"), "exited with status 0");
                assert_true(json_is_true(json_object_get(r, "seen_by_kind")));
                assert_string_equal(str_at(json_object_get(r, "guest"), "who"), "fake-a");
                double boot = json_number_value(json_object_get(r, "boot_ms"));
                double kernel = json_number_value(json_object_get(r, "t_kernel_ms"));
                assert_true(json_is_real(json_object_get(r, "boot_ms")) && boot > 0 && boot < 10000);
                assert_true(kernel > 0 && kernel <= boot);
                assert_true(json_is_real(json_object_get(r, "t_qmp_ms")));
                assert_non_null(strstr(str_at(r, "cmdline"), "console=ttyS0 quiet"));
                assert_non_null(strstr(str_at(r, "cmdline"), "virtlab.job=boot"));
                _cleanup_free_ char *console = read_file(str_at(r, "console_log"));
                assert_non_null(console);
                assert_non_null(strstr(console, "] TEST-MARKER\n"));
        }
        json_t *boot = json_object_get(json_object_get(doc, "summary"), "boot_ms");
        assert_non_null(boot);
        assert_int_equal(json_integer_value(json_object_get(boot, "n")), 3); /* warm-up excluded */
        json_t *env = json_object_get(doc, "environment");
        assert_string_equal(str_at(json_object_get(env, "vmm"), "version"), "fakevmm 1.0");
        assert_string_equal(str_at(env, "accel"), "tcg");
        assert_true(no_children());
}

/* A VMM that dies before the guest's init marker fails the run and the
 * job at once, with the status and the VMM's last complaint. */
static void test_exit_before_marker(void **state) {
        Fixture *f = *state;
        script_a = "echo 'fake: cannot load kernel' >&2; exit 1";
        Job *job = start_job(f, "{\"runs\": 3, \"warmup\": 0}", only_a, 1);
        LOOP_UNTIL(f->base, f->finished > 0, 10000);
        assert_int_equal(job_state(job), JOB_FAILED);
        assert_string_equal(job_error(job),
                            "run 0: /bin/bash exited with status 1 before the init marker: fake: cannot load kernel");
        assert_int_equal(job_runs_done(job), 1); /* a failed run stops the job */
        json_auto_t *doc = stored_result(f, job_id(job));
        assert_string_equal(str_at(doc, "state"), "failed");
        assert_string_equal(str_at(doc, "error"), job_error(job));
        json_t *runs = json_object_get(doc, "runs");
        assert_int_equal(json_array_size(runs), 1);
        assert_true(json_is_false(json_object_get(json_array_get(runs, 0), "ok")));
        assert_true(no_children());
}

/* A VMM that exits 0 after the marker but before the guest's result is a
 * failure too: a clean exit is success only once the result arrived. */
static void test_exit_before_result(void **state) {
        Fixture *f = *state;
        script_a = PRELUDE "greet; con TEST-MARKER '@@VIRTLAB-BEGIN job=boot@@'; exit 0";
        Job *job = start_job(f, "{\"runs\": 1, \"warmup\": 0}", only_a, 1);
        LOOP_UNTIL(f->base, f->finished > 0, 10000);
        assert_int_equal(job_state(job), JOB_FAILED);
        assert_string_equal(job_error(job), "run 0: /bin/bash exited with status 0 before the guest result");
        assert_int_equal(results_seen, 0);
        assert_true(no_children());
}

/* The guest reports a failing job (rc 3): the run fails naming it. */
static void test_guest_rc_failure(void **state) {
        Fixture *f = *state;
        script_a = PRELUDE "greet; con TEST-MARKER; printf '%s\\n' '@@VIRTLAB-RESULT@@ {\"job\":\"boot\",\"rc\":3}' >&$s;"
                           " exit 0";
        Job *job = start_job(f, "{\"runs\": 1, \"warmup\": 0}", only_a, 1);
        LOOP_UNTIL(f->base, f->finished > 0, 10000);
        assert_int_equal(job_state(job), JOB_FAILED);
        assert_string_equal(job_error(job), "run 0: Guest job 'boot' failed with rc 3");
        assert_int_equal(results_seen, 0);
        assert_true(no_children());
}

/* A guest that hangs before its marker: at timeout_s the run fails naming
 * the timeout and the last console line, and the VMM is killed and reaped. */
static void test_timeout(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *script = NULL;
        assert_true(asprintf(&script, "%secho $$ >%s; greet; con 'Linux version 6.1.0-fake'; exec sleep 30", PRELUDE,
                             f->pidfile) > 0);
        script_a = script;
        usec_t t0 = now_usec();
        Job *job = start_job(f, "{\"runs\": 1, \"warmup\": 0, \"timeout_s\": 1}", only_a, 1);
        LOOP_UNTIL(f->base, f->finished > 0, 10000);
        usec_t took = now_usec() - t0;
        assert_int_equal(job_state(job), JOB_FAILED);
        const char *e = job_error(job);
        if (!strstr(e, "run 0: No init marker within 1 s") || !strstr(e, "last console line: 'Linux version 6.1.0-fake'"))
                fail_msg("unexpected error: %s", e);
        assert_true(took >= USEC_PER_SEC - TIMER_SLACK_USEC && took < 4 * USEC_PER_SEC);
        pid_t pid = read_pid_file(f->pidfile);
        assert_true(pid > 0 && pid_dead(pid));
        assert_true(no_children());
        json_auto_t *doc = stored_result(f, job_id(job));
        json_t *run0 = json_array_get(json_object_get(doc, "runs"), 0);
        assert_string_equal(str_at(run0, "vmm_exit"), "killed by SIGKILL");
}

/* A guest that hangs after its marker (a held VM). */
static const char *hang_after_marker(Fixture *f) {
        static char script[1024];
        snprintf(script, sizeof(script), "%secho $$ >%s; greet; con TEST-MARKER; exec sleep 30", PRELUDE, f->pidfile);
        return script;
}

/* job_cancel while the VM runs: the run is failed, the VM killed, and the
 * job ends canceled (not failed) with the reason, stored. */
static void test_cancel_mid_run(void **state) {
        Fixture *f = *state;
        script_a = hang_after_marker(f);
        Job *job = start_job(f, "{\"runs\": 2, \"warmup\": 0}", only_a, 1);
        LOOP_UNTIL(f->base, streq(job_phase(job), "init"), 10000);
        pid_t pid = read_pid_file(f->pidfile);
        assert_true(pid > 0 && !pid_dead(pid));
        job_cancel(job, "Canceled by the test");
        assert_int_equal(job_state(job), JOB_RUNNING); /* ends once the run has ended */
        LOOP_UNTIL(f->base, f->finished > 0, 10000);
        assert_int_equal(job_state(job), JOB_CANCELED);
        assert_string_equal(job_error(job), "Canceled by the test");
        assert_true(pid_dead(pid));
        assert_true(no_children());
        job_cancel(job, "again"); /* finished: a no-op */
        assert_string_equal(job_error(job), "Canceled by the test");
        assert_int_equal(f->finished, 1);

        json_auto_t *doc = stored_result(f, job_id(job));
        assert_string_equal(str_at(doc, "state"), "canceled");
        assert_string_equal(str_at(doc, "error"), "Canceled by the test");
        json_t *runs = json_object_get(doc, "runs");
        assert_int_equal(json_array_size(runs), 1);
        assert_string_equal(str_at(json_array_get(runs, 0), "error"), "Canceled by the test");
}

/* job_free(job, why) while the VM runs (daemon shutdown): the VM is killed
 * and reaped before it returns, and the job is stored failed with why and
 * the interrupted run; the observer hears nothing more. */
static void test_free_mid_run(void **state) {
        Fixture *f = *state;
        script_a = hang_after_marker(f);
        Job *job = start_job(f, "{\"runs\": 2, \"warmup\": 0}", only_a, 1);
        LOOP_UNTIL(f->base, streq(job_phase(job), "init"), 10000);
        pid_t pid = read_pid_file(f->pidfile);
        uint32_t id = job_id(job);
        assert_true(pid > 0 && !pid_dead(pid));
        f->job = job_free(job, "virtlabd is stopping");
        assert_true(kill(pid, 0) < 0 && errno == ESRCH); /* reaped, not a zombie */
        assert_true(no_children());
        assert_int_equal(f->finished, 0);

        json_auto_t *doc = stored_result(f, id);
        assert_string_equal(str_at(doc, "state"), "failed");
        assert_string_equal(str_at(doc, "error"), "virtlabd is stopping");
        json_t *runs = json_object_get(doc, "runs");
        assert_int_equal(json_array_size(runs), 1);
        assert_true(json_is_false(json_object_get(json_array_get(runs, 0), "ok")));
        assert_string_equal(str_at(json_array_get(runs, 0), "error"), "virtlabd is stopping");
        loop_for(f->base, 50);
        assert_int_equal(f->finished, 0);
}

/* A compare job over two VMMs rotates A B A B (warm-up of each first), and
 * each run really ran on its VMM (the guest names the script that ran). */
static void test_compare_rotation(void **state) {
        Fixture *f = *state;
        script_a = script_b = GUEST_OK;
        static const VmmBackend *const both[] = { &fake_a, &fake_b };
        Job *job = start_job(f, "{\"runs\": 2, \"warmup\": 1}", both, 2);
        assert_string_equal(job_vmm(job), "fake-a,fake-b");
        assert_int_equal(job_runs_total(job), 6);
        LOOP_UNTIL(f->base, f->finished > 0, 30000);
        assert_int_equal(job_state(job), JOB_DONE);
        json_auto_t *doc = stored_result(f, job_id(job));
        json_t *runs = json_object_get(doc, "runs"), *r;
        size_t i;
        assert_int_equal(json_array_size(runs), 6);
        json_array_foreach(runs, i, r) {
                const char *want = i % 2 == 0 ? "fake-a" : "fake-b";
                assert_string_equal(str_at(r, "vmm"), want);
                assert_string_equal(str_at(json_object_get(r, "guest"), "who"), want);
                assert_int_equal(json_is_true(json_object_get(r, "warmup")), i < 2);
                /* fake-b never speaks QMP: it has no t_qmp_ms. */
                assert_int_equal(json_object_get(r, "t_qmp_ms") != NULL, i % 2 == 0);
        }
        json_t *rotation = json_object_get(doc, "vmms");
        assert_int_equal(json_array_size(rotation), 2);
        assert_string_equal(json_string_value(json_array_get(rotation, 1)), "fake-b");
        json_t *by = json_object_get(doc, "summary_by_vmm");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(by, "fake-a"), "boot_ms"), "n")), 2);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(by, "fake-b"), "boot_ms"), "n")), 2);
        assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "environment"), "vmms")), 2);
        assert_true(no_children());
}

/* A queued job canceled before it starts ends at once, stored, no run. */
static void test_cancel_queued(void **state) {
        Fixture *f = *state;
        JobContext ctx = { .base = f->base, .store = f->store, .catalog = f->catalog, .run_dir = f->run_dir };
        JobObserver obs = { .finished = obs_finished, .userdata = f };
        assert_int_equal(job_new(&ctx, make_plan(f, "{}", only_a, 1), &obs, &f->job), 0);
        _cleanup_free_ char *pending = NULL;
        assert_int_equal(store_job_result(f->store, job_id(f->job), &pending), -EBUSY);
        job_cancel(f->job, "Not needed");
        assert_int_equal(job_state(f->job), JOB_CANCELED);
        assert_int_equal(f->finished, 1);
        json_auto_t *doc = stored_result(f, job_id(f->job));
        assert_string_equal(str_at(doc, "state"), "canceled");
        assert_int_equal(json_array_size(json_object_get(doc, "runs")), 0);
        assert_true(no_children());
}

/* A VMM whose binary is gone by the time the job starts fails the job with
 * the catalog's reason before any run. */
static void test_vmm_unavailable(void **state) {
        Fixture *f = *state;
        static const VmmBackend *const gone[] = { &fake_gone };
        Job *job = start_job(f, "{\"runs\": 1, \"warmup\": 0}", gone, 1);
        LOOP_UNTIL(f->base, f->finished > 0, 5000);
        assert_int_equal(job_state(job), JOB_FAILED);
        assert_string_equal(job_error(job),
                            "VMM 'fake-gone' is unavailable: /nonexistent/virtlab-fake-vmm not found in PATH");
        assert_int_equal(job_runs_done(job), 0);
        assert_true(no_children());
}

/* job_free(job, why) while the job still waits for a VMM's version probe
 * (the daemon stops right after a submission): the wait is dropped once,
 * the job stored failed with why, and the probe goes on in the catalog. */
static void test_free_while_probing(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *vmm = path_join(f->dir, "slow-vmm");
        write_file(vmm, "#!/bin/sh\nsleep 1\necho 'fakevmm 2.0'\n", 0755);
        assert_int_equal(setenv("VIRTLAB_TEST_SLOW_VMM", vmm, 1), 0);
        static const VmmBackend *const slow[] = { &fake_slow };
        Job *job = start_job(f, "{\"runs\": 1, \"warmup\": 0}", slow, 1);
        assert_int_equal(job_state(job), JOB_RUNNING);
        assert_true(catalog_probing(f->catalog));
        loop_for(f->base, 100);
        assert_int_equal(job_runs_done(job), 0);
        assert_string_equal(job_phase(job), ""); /* no run yet: still waiting */
        uint32_t id = job_id(job);
        f->job = job_free(job, "virtlabd is stopping");
        json_auto_t *doc = stored_result(f, id);
        assert_string_equal(str_at(doc, "state"), "failed");
        assert_string_equal(str_at(doc, "error"), "virtlabd is stopping");
        assert_int_equal(json_array_size(json_object_get(doc, "runs")), 0);
        /* The probe ends on its own and finds nobody waiting. */
        LOOP_UNTIL(f->base, !catalog_probing(f->catalog), 5000);
        const VmmInfo *info = vmm_catalog_get(f->catalog, &fake_slow);
        assert_null(info->error);
        assert_string_equal(strempty(info->version), "fakevmm 2.0");
        assert_true(no_children());
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_job_done, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exit_before_marker, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exit_before_result, setup, teardown),
                cmocka_unit_test_setup_teardown(test_guest_rc_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_mid_run, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_mid_run, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compare_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_queued, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vmm_unavailable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_while_probing, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
