/* kvm-sample.c — the lab's part 1 as a job: runs the kvm-sample VMM
 * (kvm-sample/, raw KVM API, no QEMU) once per run with --json, and records
 * its guest output and its VM exits per reason.  No VM is booted and no
 * guest image is used: a VM-less kind.  The child runs through child.c's
 * ChildRun (stdout and stderr captured, a backstop deadline), and the run
 * ends once it was reaped and both pipes reached EOF.
 *
 * Divisions: binary lookup · spec · child process · parsing. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "child.h"
#include "experiments/experiment.h"

#define KVM_SAMPLE_ENV "VIRTLAB_KVM_SAMPLE"
#define KVM_SAMPLE_NAME "kvm-sample"
#define OUTPUT_MAX (1024 * 1024)     /* per stream; kvm-sample prints a few KiB */
#define TRACE_KEEP_MAX (64 * 1024)   /* trace text kept in the sample */
/* kvm-sample stops a guest that never halts after 5 s itself; this is the
 * backstop for a VMM that hangs in the kernel. */
#define KILL_AFTER_USEC (15 * USEC_PER_SEC)

static const char *const kvm_sample_metrics[] = {
        "runtime_us", "exits_total", "io_exits", "hlt_exits", "guest_runtime_us", NULL,
};

static const char *const kvm_sample_modes[] = { "real", "protected", "paged", "long", NULL };

/* ---- binary lookup ---------------------------------------------------- */

static bool is_executable(const char *path) {
        return access(path, X_OK) == 0;
}

/* $VIRTLAB_KVM_SAMPLE, then next to virtlabd (build tree: kvm-sample/;
 * installed: libexec/virtlabd → libexec/virtlab/kvm-sample), then $PATH. */
static int kvm_sample_find(char *ret, size_t size) {
        const char *env = getenv(KVM_SAMPLE_ENV);
        if (env && *env) {
                snprintf(ret, size, "%s", env);
                return is_executable(ret) ? 0 : -ENOENT;
        }
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = 0;
                char *slash = strrchr(self, '/');
                if (slash) {
                        *slash = 0;
                        int k = snprintf(ret, size, "%s/" KVM_SAMPLE_NAME "/" KVM_SAMPLE_NAME, self);
                        if (k > 0 && (size_t) k < size && is_executable(ret))
                                return 0;
                        k = snprintf(ret, size, "%s/virtlab/" KVM_SAMPLE_NAME, self);
                        if (k > 0 && (size_t) k < size && is_executable(ret))
                                return 0;
                }
        }
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        for (const char *p = path; *p;) {
                size_t len = strcspn(p, ":");
                snprintf(ret, size, "%.*s/" KVM_SAMPLE_NAME, (int) len, p);
                if (len > 0 && is_executable(ret))
                        return 0;
                p += len + (p[len] == ':');
        }
        return -ENOENT;
}

/* ---- spec ------------------------------------------------------------- */

static int check_walk(json_t *spec, const SpecField *f, json_t *walk, char **ret_error) {
        const char *s = json_string_value(walk);
        char *end = NULL, b[SPEC_ECHO_MAX + 8];
        errno = 0;
        if (!*s || (strtoull(s, &end, 0), errno != 0 || *end))
                return spec_fail(ret_error, "Invalid walk '%s': expected an address such as 0x7f12345672a8",
                                 spec_echo(walk, b));
        return 0;
}

static int check_mode(json_t *spec, const SpecField *f, json_t *mode, char **ret_error) {
        char b[SPEC_ECHO_MAX + 8];
        for (const char *const *k = kvm_sample_modes; *k; k++)
                if (streq(json_string_value(mode), *k))
                        return 0;
        return spec_fail(ret_error, "Invalid mode '%s': must be real, protected, paged or long", spec_echo(mode, b));
}

static const SpecField kvm_sample_fields[] = {
        SPEC_BOOL_FIELD("upper", false),
        SPEC_BOOL_FIELD("trace", false),
        { .name = "walk", .type = SPEC_STRING, .check = check_walk },
        { .name = "mode", .type = SPEC_STRING, .check = check_mode },
        {},
};

/* kvm-sample's own rule: --walk alone means long mode. */
static int kvm_sample_prepare(json_t *spec, char **ret_error) {
        if (json_object_get(spec, "mode"))
                return 0;
        return json_object_set_new(spec, "mode", json_string(json_object_get(spec, "walk") ? "long" : "real")) < 0
                       ? -ENOMEM
                       : 0;
}

/* ---- child process ---------------------------------------------------- */

typedef struct KvmSampleRun {
        ChildRun *child;             /* the process, NULL once it ended */
        char path[PATH_MAX];         /* the binary */
} KvmSampleRun;

static void *kvm_sample_data_new(Run *run) {
        return calloc(1, sizeof(KvmSampleRun));
}

static void kvm_sample_data_free(void *data) {
        KvmSampleRun *k = data;
        child_run_free(k->child);
        free(k);
}

static int build_argv(Run *run, const char *path, char ***argv, size_t *n) {
        json_t *spec = run_spec(run);
        int r = strv_push(argv, n, path);
        r = r ?: strv_push(argv, n, "--json");
        if (spec_bool(spec, "upper"))
                r = r ?: strv_push(argv, n, "--upper");
        if (spec_bool(spec, "trace"))
                r = r ?: strv_push(argv, n, "--trace");
        r = r ?: strv_push(argv, n, "--mode");
        r = r ?: strv_push(argv, n, spec_string(spec, "mode"));
        const char *walk = spec_string(spec, "walk");
        if (walk) {
                r = r ?: strv_push(argv, n, "--walk");
                r = r ?: strv_push(argv, n, walk);
        }
        return r;
}

/* The run is canceled or timed out (now=false: kill, the exit path completes
 * the run) or dropped by the daemon (now=true: kill, reap, free, silently). */
static void kvm_sample_stop(void *data, bool now) {
        KvmSampleRun *k = data;
        if (now)
                k->child = child_run_free(k->child);
        else
                child_run_kill(k->child);
}

static void kvm_sample_finish(const ChildRunResult *res, void *userdata);

static int kvm_sample_start(Run *run) {
        KvmSampleRun *k = run_data(run);
        run_set_phase(run, "kvm-sample");
        if (kvm_sample_find(k->path, sizeof(k->path)) < 0) {
                const char *env = getenv(KVM_SAMPLE_ENV);
                if (env && *env)
                        run_fail(run, "$" KVM_SAMPLE_ENV "=%s is not an executable file", env);
                else
                        run_fail(run, "kvm-sample binary not found: set $" KVM_SAMPLE_ENV ", or put it next to virtlabd "
                                      "(kvm-sample/kvm-sample or virtlab/kvm-sample) or in $PATH (make kvm-sample)");
                run_complete(run);
                return 0;
        }
        _cleanup_strv_free_ char **argv = NULL;
        size_t n = 0;
        int r = build_argv(run, k->path, &argv, &n);
        if (r < 0)
                return r;
        json_object_set_new(run_sample(run), "argv", strv_to_json(argv));
        json_object_set_new(run_sample(run), "kvm_sample_path", json_string(k->path));
        r = child_run(run_event_base(run), argv, NULL, OUTPUT_MAX, KILL_AFTER_USEC, kvm_sample_finish, run, &k->child);
        if (r < 0) {
                run_fail(run, "Failed to run %s: %s", k->path, strerror(-r));
                run_complete(run);
                return 0;
        }
        run_set_stopper(run, kvm_sample_stop, k);
        return 0;
}

/* ---- parsing ---------------------------------------------------------- */

/* The last "trace: N us" line: guest time from the first KVM_RUN to the last exit. */
static int last_trace_us(const char *err, json_int_t *ret) {
        const char *line = NULL;
        for (const char *s = strstr(err, "trace:"); s; s = strstr(s + 1, "trace:"))
                if (s == err || s[-1] == '\n')
                        line = s;
        if (!line)
                return -ENOENT;
        char *end;
        long long v = strtoll(line + strlen("trace:"), &end, 10);
        if (end == line + strlen("trace:") || strncmp(end, " us", 3) != 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* Last non-empty line of stderr: kvm-sample's error message. */
static void last_err_line(const char *err, char *buf, size_t size) {
        size_t end = strlen(err);
        while (end > 0 && (err[end - 1] == '\n' || err[end - 1] == ' '))
                end--;
        size_t start = end;
        while (start > 0 && err[start - 1] != '\n')
                start--;
        snprintf(buf, size, "%.*s", (int) (end - start), err + start);
}

/* Copies what kvm-sample's --json document says into the sample s. */
static void kvm_sample_record(json_t *s, json_t *doc) {
        json_t *exits = json_object_get(doc, "exits");
        json_object_set_new(s, "output", json_string(strempty(json_string_value(json_object_get(doc, "output")))));
        json_object_set_new(s, "exits", exits ? json_incref(exits) : json_object());
        json_object_set_new(s, "exits_total", json_integer(json_integer_value(json_object_get(doc, "total_exits"))));
        json_object_set_new(s, "io_exits", json_integer(json_integer_value(json_object_get(exits, "IO"))));
        json_object_set_new(s, "hlt_exits", json_integer(json_integer_value(json_object_get(exits, "HLT"))));
        json_object_set_new(s, "mode", json_string(strempty(json_string_value(json_object_get(doc, "mode")))));
        json_object_set_new(s, "upper", json_boolean(json_is_true(json_object_get(doc, "upper"))));
        if (json_is_true(json_object_get(doc, "refused")))
                json_object_set_new(s, "refused", json_true());
        json_t *walk = json_object_get(doc, "walk");
        if (walk)
                json_object_set(s, "walk", walk);
}

static void kvm_sample_finish(const ChildRunResult *res, void *userdata) {
        Run *run = userdata;
        KvmSampleRun *k = run_data(run);
        json_t *s = run_sample(run);
        char how[128];
        k->child = NULL; /* freed by child.c after this call */
        child_describe_status(res->wait_status, how, sizeof(how));
        json_object_set_new(s, "kvm_sample_exit", json_string(how));
        json_object_set_new(s, "runtime_us", json_integer((json_int_t) (res->t_exit - res->t_fork)));
        if (res->timed_out)
                run_fail(run, "%s did not exit within %llu s; killed", k->path,
                         (unsigned long long) (KILL_AFTER_USEC / USEC_PER_SEC));
        const char *err = res->err;
        if (spec_bool(run_spec(run), "trace")) {
                json_int_t us;
                if (last_trace_us(err, &us) == 0)
                        json_object_set_new(s, "guest_runtime_us", json_integer(us));
                json_object_set_new(s, "trace", json_stringn(err, strnlen(err, TRACE_KEEP_MAX)));
        }
        json_error_t e;
        json_t *doc = res->out_len ? json_loads(res->out, 0, &e) : NULL;
        char line[512];
        last_err_line(err, line, sizeof(line));
        if (json_is_object(doc))
                kvm_sample_record(s, doc);
        if (!json_is_object(doc))
                run_fail(run, "kvm-sample printed no JSON (%s)%s%s", how, line[0] ? ": " : "", line);
        else if (json_is_true(json_object_get(doc, "refused")))
                run_fail(run, "kvm-sample: host KVM refuses %s mode: %s", json_string_value(json_object_get(doc, "mode")) ?: "?",
                         json_string_value(json_object_get(doc, "error")) ?: line);
        else if (!json_is_true(json_object_get(doc, "ok")))
                run_fail(run, "kvm-sample: %s", json_string_value(json_object_get(doc, "error")) ?: line);
        else if (!WIFEXITED(res->wait_status) || WEXITSTATUS(res->wait_status) != 0)
                run_fail(run, "kvm-sample %s%s%s", how, line[0] ? ": " : "", line);
        json_decref(doc);
        run_complete(run);
}

const ExperimentKind experiment_kvm_sample = {
        .name = "kvm-sample",
        .description = "the lab's minimal KVM-API VMM (kvm-sample --json): guest output and VM exits per reason",
        .metrics = kvm_sample_metrics,
        .fields = kvm_sample_fields,
        .vm_less = true,
        .prepare = kvm_sample_prepare,
        .run_data_new = kvm_sample_data_new,
        .run_data_free = kvm_sample_data_free,
        .start_run = kvm_sample_start,
};
