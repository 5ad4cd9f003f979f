/* experiment-kvm-sample.c — the lab's part 1 as a job: runs the kvm-sample
 * VMM (kvm-sample/, raw KVM API, no QEMU) once per run with --json, and
 * records its guest output and its VM exits per reason.  No VM is booted, so
 * the kind uses start_run: fork/exec the binary, read its stdout (JSON) and
 * stderr (--trace lines) on the job's loop, learn of its exit from a pidfd,
 * and end the run once the pipes are closed *and* the child is reaped.
 *
 * Divisions: binary lookup · spec validation · child process · parsing. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "child.h"
#include "experiment.h"
#include "vm.h"
#include "vmm.h"
#include "spec.h"

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

static const char *const kvm_sample_fields[] = { "upper", "trace", "mode", "walk", NULL };

static const char *const kvm_sample_modes[] = { "real", "protected", "paged", "long", NULL };

typedef struct KvmSampleProc {
        Run *run;                    /* owner */
        pid_t pid;                   /* the kvm-sample child, 0 once reaped */
        int pidfd;                   /* readable when it exits */
        int out_fd, err_fd;          /* its stdout (JSON) and stderr (trace), -EBADF at EOF */
        struct event *pid_event;     /* on pidfd */
        struct event *out_event;     /* on out_fd */
        struct event *err_event;     /* on err_fd */
        struct event *kill_timer;    /* backstop */
        char *out, *err;             /* what was read, NUL-terminated */
        size_t out_len, err_len;     /* bytes in out, err */
        int wait_status;             /* from waitpid */
        usec_t t_start;              /* before fork */
        usec_t t_exit;               /* pidfd readable */
        char path[PATH_MAX];         /* the binary */
} KvmSampleProc;

static void on_pidfd(evutil_socket_t fd, short what, void *userdata);
static void on_stream(evutil_socket_t fd, short what, void *userdata);
static void on_kill_timer(evutil_socket_t fd, short what, void *userdata);
static void proc_free_deferred(evutil_socket_t fd, short what, void *userdata);

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

/* ---- spec validation -------------------------------------------------- */

static int kvm_sample_validate(json_t *spec, char **ret_error) {
        int r = spec_check_bool(spec, "upper", false, ret_error);
        r = r ?: spec_check_bool(spec, "trace", false, ret_error);
        if (r < 0)
                return r;
        json_t *walk = json_object_get(spec, "walk");
        if (walk) {
                const char *s = json_string_value(walk);
                char *end = NULL;
                errno = 0;
                if (!s || !*s || (strtoull(s, &end, 0), errno != 0 || *end))
                        return spec_fail(ret_error, "Invalid walk '%s': expected an address such as 0x7f12345672a8",
                                          s ?: "(not a string)");
        }
        json_t *mode = json_object_get(spec, "mode");
        if (!mode)
                /* kvm-sample's own rule: --walk alone means long mode. */
                return json_object_set_new(spec, "mode", json_string(walk ? "long" : "real")) < 0 ? -ENOMEM : 0;
        const char *m = json_string_value(mode);
        for (const char *const *k = kvm_sample_modes; m && *k; k++)
                if (streq(m, *k))
                        return 0;
        return spec_fail(ret_error, "Invalid mode '%s': must be real, protected, paged or long",
                          m ?: "(not a string)");
}

/* ---- child process ---------------------------------------------------- */

static KvmSampleProc *proc_free(KvmSampleProc *p) {
        if (!p)
                return NULL;
        if (p->pid > 0) {
                (void) kill(p->pid, SIGKILL);
                (void) waitpid(p->pid, NULL, 0);
        }
        if (p->pid_event)
                event_free(p->pid_event);
        if (p->out_event)
                event_free(p->out_event);
        if (p->err_event)
                event_free(p->err_event);
        if (p->kill_timer)
                event_free(p->kill_timer);
        safe_close(p->pidfd);
        safe_close(p->out_fd);
        safe_close(p->err_fd);
        free(p->out);
        free(p->err);
        free(p);
        return NULL;
}

static void proc_free_deferred(evutil_socket_t fd, short what, void *userdata) {
        proc_free(userdata);
}

static int build_argv(Run *run, const char *path, char ***argv, size_t *n) {
        json_t *spec = run_spec(run);
        int r = strv_push(argv, n, path);
        r = r ?: strv_push(argv, n, "--json");
        if (json_is_true(json_object_get(spec, "upper")))
                r = r ?: strv_push(argv, n, "--upper");
        if (json_is_true(json_object_get(spec, "trace")))
                r = r ?: strv_push(argv, n, "--trace");
        r = r ?: strv_push(argv, n, "--mode");
        r = r ?: strv_push(argv, n, json_string_value(json_object_get(spec, "mode")));
        const char *walk = json_string_value(json_object_get(spec, "walk"));
        if (walk) {
                r = r ?: strv_push(argv, n, "--walk");
                r = r ?: strv_push(argv, n, walk);
        }
        return r;
}

/* Child side of fork(): stdout/stderr to the pipes, die with the daemon. */
/* Forks the child; on success *p owns its pid, pidfd and the read ends. */
static int proc_spawn(KvmSampleProc *p, char **argv) {
        int out[2] = { -EBADF, -EBADF }, err[2] = { -EBADF, -EBADF };
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
                int r = -errno;
                safe_close(out[0]), safe_close(out[1]), safe_close(err[0]), safe_close(err[1]);
                return r;
        }
        ChildSpawn cs = { .argv = argv, .stdout_fd = out[1], .stderr_fd = err[1] };
        Child child;
        int r = child_spawn(&cs, &child);
        safe_close(out[1]);
        safe_close(err[1]);
        if (r < 0) {
                safe_close(out[0]), safe_close(err[0]);
                return r;
        }
        p->t_start = child.t_fork;
        p->pid = child.pid;
        p->pidfd = child.pidfd;
        p->out_fd = out[0];
        p->err_fd = err[0];
        (void) fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
        (void) fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
        return 0;
}

static void kvm_sample_finish(KvmSampleProc *p);

static bool proc_done(const KvmSampleProc *p) {
        return p->pid == 0 && p->out_fd < 0 && p->err_fd < 0;
}

static void maybe_finish(KvmSampleProc *p) {
        if (proc_done(p))
                kvm_sample_finish(p);
}

/* Reads what is there; at EOF closes the stream and drops its event. */
static void on_stream(evutil_socket_t fd, short what, void *userdata) {
        KvmSampleProc *p = userdata;
        bool is_out = fd == p->out_fd;
        char **buf = is_out ? &p->out : &p->err;
        size_t *len = is_out ? &p->out_len : &p->err_len;
        for (;;) {
                char chunk[4096];
                ssize_t k = read(fd, chunk, sizeof(chunk));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return;
                if (k <= 0)
                        break;
                if (*len + (size_t) k > OUTPUT_MAX)
                        continue; /* keep draining so the child never blocks */
                char *nb = realloc(*buf, *len + (size_t) k + 1);
                if (!nb)
                        continue;
                memcpy(nb + *len, chunk, (size_t) k);
                *len += (size_t) k;
                nb[*len] = 0;
                *buf = nb;
        }
        struct event **ev = is_out ? &p->out_event : &p->err_event;
        event_free(*ev);
        *ev = NULL;
        if (is_out)
                p->out_fd = safe_close(p->out_fd);
        else
                p->err_fd = safe_close(p->err_fd);
        maybe_finish(p);
}

static void on_pidfd(evutil_socket_t fd, short what, void *userdata) {
        KvmSampleProc *p = userdata;
        p->t_exit = now_usec();
        if (waitpid(p->pid, &p->wait_status, WNOHANG) <= 0)
                return; /* spurious: the pidfd is level-triggered, we get called again */
        p->pid = 0;
        event_del(p->pid_event);
        if (p->kill_timer)
                event_del(p->kill_timer);
        maybe_finish(p);
}

static void on_kill_timer(evutil_socket_t fd, short what, void *userdata) {
        KvmSampleProc *p = userdata;
        run_fail(p->run, "%s did not exit within %llu s; killed", p->path,
                 (unsigned long long) (KILL_AFTER_USEC / USEC_PER_SEC));
        if (p->pid > 0)
                (void) kill(p->pid, SIGKILL);
}

/* The run is canceled or timed out (now=false: kill, the exit path completes
 * the run) or dropped by the daemon (now=true: kill, reap, free, silently). */
static void kvm_sample_stop(void *data, bool now) {
        KvmSampleProc *p = data;
        if (now) {
                p->run = NULL;
                proc_free(p);
        } else if (p->pid > 0)
                (void) kill(p->pid, SIGKILL);
}

static int kvm_sample_start(Run *run) {
        KvmSampleProc *p = calloc(1, sizeof(KvmSampleProc));
        if (!p)
                return -ENOMEM;
        *p = (KvmSampleProc) { .run = run, .pidfd = -EBADF, .out_fd = -EBADF, .err_fd = -EBADF };
        run_set_phase(run, "kvm-sample");
        if (kvm_sample_find(p->path, sizeof(p->path)) < 0) {
                const char *env = getenv(KVM_SAMPLE_ENV);
                if (env && *env)
                        run_fail(run, "$" KVM_SAMPLE_ENV "=%s is not an executable file", env);
                else
                        run_fail(run, "kvm-sample binary not found: set $" KVM_SAMPLE_ENV ", or put it next to virtlabd "
                                      "(kvm-sample/kvm-sample or virtlab/kvm-sample) or in $PATH (make kvm-sample)");
                proc_free(p);
                run_complete(run);
                return 0;
        }
        char **argv = NULL;
        size_t n = 0;
        int r = build_argv(run, p->path, &argv, &n);
        if (r < 0) {
                strv_free(argv);
                proc_free(p);
                return r;
        }
        json_object_set_new(run_sample(run), "argv", strv_to_json(argv));
        json_object_set_new(run_sample(run), "kvm_sample_path", json_string(p->path));
        r = proc_spawn(p, argv);
        strv_free(argv);
        struct event_base *base = run_event_base(run);
        if (r == 0) {
                p->out_event = event_new(base, p->out_fd, EV_READ | EV_PERSIST, on_stream, p);
                p->err_event = event_new(base, p->err_fd, EV_READ | EV_PERSIST, on_stream, p);
                p->pid_event = event_new(base, p->pidfd, EV_READ | EV_PERSIST, on_pidfd, p);
                p->kill_timer = evtimer_new(base, on_kill_timer, p);
                struct timeval tv = { .tv_sec = KILL_AFTER_USEC / USEC_PER_SEC };
                r = !p->out_event || !p->err_event || !p->pid_event || !p->kill_timer ? -ENOMEM
                    : event_add(p->out_event, NULL) < 0 || event_add(p->err_event, NULL) < 0 ||
                                      event_add(p->pid_event, NULL) < 0 || evtimer_add(p->kill_timer, &tv) < 0
                            ? -EIO
                            : 0;
        }
        if (r < 0) {
                run_fail(run, "Failed to run %s: %s", p->path, strerror(-r));
                proc_free(p);
                run_complete(run);
                return 0;
        }
        run_set_stopper(run, kvm_sample_stop, p);
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

static void kvm_sample_record(KvmSampleProc *p, json_t *doc) {
        json_t *s = run_sample(p->run);
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

static void kvm_sample_finish(KvmSampleProc *p) {
        Run *run = p->run;
        json_t *s = run_sample(run);
        char how[128];
        vm_describe_status(p->wait_status, how, sizeof(how));
        json_object_set_new(s, "kvm_sample_exit", json_string(how));
        json_object_set_new(s, "runtime_us", json_integer((json_int_t) (p->t_exit - p->t_start)));
        const char *err = p->err ?: "";
        if (json_is_true(json_object_get(run_spec(run), "trace"))) {
                json_int_t us;
                if (last_trace_us(err, &us) == 0)
                        json_object_set_new(s, "guest_runtime_us", json_integer(us));
                json_object_set_new(s, "trace", json_stringn(err, strnlen(err, TRACE_KEEP_MAX)));
        }
        json_error_t e;
        json_t *doc = p->out ? json_loads(p->out, 0, &e) : NULL;
        char line[512];
        last_err_line(err, line, sizeof(line));
        if (json_is_object(doc))
                kvm_sample_record(p, doc);
        if (!json_is_object(doc))
                run_fail(run, "kvm-sample printed no JSON (%s)%s%s", how, line[0] ? ": " : "", line);
        else if (json_is_true(json_object_get(doc, "refused")))
                run_fail(run, "kvm-sample: host KVM refuses %s mode: %s", json_string_value(json_object_get(doc, "mode")) ?: "?",
                         json_string_value(json_object_get(doc, "error")) ?: line);
        else if (!json_is_true(json_object_get(doc, "ok")))
                run_fail(run, "kvm-sample: %s", json_string_value(json_object_get(doc, "error")) ?: line);
        else if (!WIFEXITED(p->wait_status) || WEXITSTATUS(p->wait_status) != 0)
                run_fail(run, "kvm-sample %s%s%s", how, line[0] ? ": " : "", line);
        json_decref(doc);
        /* Never free the events inside their own callback. */
        struct timeval now = {};
        if (event_base_once(run_event_base(run), -1, EV_TIMEOUT, proc_free_deferred, p, &now) < 0)
                log_warning("kvm-sample: cannot defer freeing the child state, leaking it");
        run_complete(run);
}

static void kvm_sample_on_guest_result(Run *run) {
        /* No guest frame: start_run kinds never boot a VM. */
}

const ExperimentKind experiment_kvm_sample = {
        .name = "kvm-sample",
        .description = "the lab's minimal KVM-API VMM (kvm-sample --json): guest output and VM exits per reason",
        .guest_job = "boot",
        .metrics = kvm_sample_metrics,
        .validate = kvm_sample_validate,
        .on_guest_result = kvm_sample_on_guest_result,
        .guest_powers_off = false,
        .spec_fields = kvm_sample_fields,
        .start_run = kvm_sample_start,
};
