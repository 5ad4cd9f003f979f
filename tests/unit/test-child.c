/* test-child.c — the one fork/exec path (child.c) with real processes on a
 * real libevent loop: exec failures reported synchronously, exactly the
 * chosen fds inherited, the death signal, ChildWatch (one exit delivery,
 * signals only while unreaped, synchronous kill + reap on free) and ChildRun
 * (capture, the output cap, the deadline, one callback).  Every test ends
 * by checking no child of ours is left, running or zombie.
 *
 * The watch and run tests run twice: with pidfds (when the kernel has them)
 * and forced onto the SIGCHLD + waitpid fallback of kernels without
 * pidfd_open; further tests cover what only the fallback must guarantee
 * (an exit before the watch, others' children left alone, coalesced
 * signals, SIGCHLD inherited as ignored, no EINTR, two loops at once).  run-tests.sh also runs this
 * whole program under old-kernel, where pidfd_open really is ENOSYS. */
#include "child.c"

#include "test-helpers.h"

#include <poll.h>

typedef struct Fixture {
        struct event_base *base;
} Fixture;

static int setup(void **state) {
        child_probe(); /* the kernel's real answer */
        Fixture *f = calloc(1, sizeof(Fixture));
        f->base = event_base_new();
        *state = f;
        return f->base ? 0 : -1;
}

/* As if pidfd_open answered ENOSYS: every new child goes the SIGCHLD way. */
static int setup_sigchld(void **state) {
        child_probe();
        have_pidfd = FEATURE_NO;
        Fixture *f = calloc(1, sizeof(Fixture));
        f->base = event_base_new();
        *state = f;
        return f->base ? 0 : -1;
}

static int teardown(void **state) {
        Fixture *f = *state;
        /* Every watch is gone, so the SIGCHLD source must be too. */
        bool source_left = sigchld_sources != NULL;
        event_base_free(f->base);
        free(f);
        have_pidfd = FEATURE_UNKNOWN;
        child_probe();
        return source_left ? -1 : 0;
}

/* Reads fd to EOF into a malloc'd string. */
static char *read_all(int fd) {
        char *buf = NULL;
        size_t len = 0;
        for (;;) {
                char chunk[4096];
                ssize_t k = read(fd, chunk, sizeof(chunk));
                if (k < 0 && errno == EINTR)
                        continue;
                assert_true(k >= 0);
                if (k == 0)
                        break;
                buf = realloc(buf, len + (size_t) k + 1);
                assert_non_null(buf);
                memcpy(buf + len, chunk, (size_t) k);
                len += (size_t) k;
        }
        buf = realloc(buf, len + 1);
        buf[len] = 0;
        return buf;
}

/* ---- child_spawn ------------------------------------------------------ */

/* exec() failing is the spawn's error, with the exec's errno, before it
 * returns; the failed child is already reaped. */
static void test_spawn_exec_failure(void **state) {
        Child c = { .pid = -1 };
        char *missing[] = { "/nonexistent/virtlab-no-such-binary", NULL };
        assert_int_equal(child_spawn(&(ChildSpawn) { .argv = missing, .stdout_fd = -EBADF, .stderr_fd = -EBADF }, &c),
                         -ENOENT);
        assert_int_equal(c.pid, -1); /* *ret untouched on failure */
        assert_true(no_children());

        /* A file that exists but is not executable: the exec's own errno. */
        _cleanup_free_ char *dir = test_tmpdir(), *plain = path_join(dir, "not-executable");
        write_file(plain, "#!/bin/sh\n", 0644);
        char *not_exec[] = { plain, NULL };
        assert_int_equal(child_spawn(&(ChildSpawn) { .argv = not_exec, .stdout_fd = -EBADF, .stderr_fd = -EBADF }, &c),
                         -EACCES);
        assert_true(no_children());
        rm_rf(dir);

        char *empty[] = { NULL };
        assert_int_equal(child_spawn(&(ChildSpawn) { .argv = empty }, &c), -EINVAL);
        assert_int_equal(child_spawn(&(ChildSpawn) { .argv = NULL }, &c), -EINVAL);
}

/* The child sees stdin as /dev/null, stdout where we said, the fd we hand
 * over, and none of our other fds — not even one we opened without
 * O_CLOEXEC — plus the environment entries we add. */
static void test_spawn_fds_and_env(void **state) {
        int out[2];
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        /* Far from the low numbers, so ls's own directory fd cannot alias them. */
        int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int leaky = fcntl(a, F_DUPFD, 100);            /* no FD_CLOEXEC: child.c must mark it */
        int given = fcntl(b, F_DUPFD_CLOEXEC, 200);    /* close-on-exec like every daemon fd */
        safe_close(a);
        safe_close(b);
        assert_true(leaky >= 100);
        assert_true(given >= 200);
        char script[512];
        snprintf(script, sizeof(script),
                 "ls /proc/self/fd | tr '\\n' ' '; echo; readlink /proc/self/fd/0; echo \"x=$VIRTLAB_TEST_X\"; "
                 "[ -e /proc/self/fd/%d ] && echo given-open; [ -e /proc/self/fd/%d ] && echo leaky-open; exit 0",
                 given, leaky);
        char *argv[] = { "/bin/sh", "-c", script, NULL };
        char *env[] = { "VIRTLAB_TEST_X=42", NULL };
        int inherit[] = { given };
        Child c;
        assert_int_equal(child_spawn(&(ChildSpawn) { .argv = argv, .env = env, .stdout_fd = out[1], .stderr_fd = -EBADF,
                                                     .inherit_fds = inherit, .n_inherit_fds = 1 },
                                     &c),
                         0);
        assert_true(c.pid > 0);
        assert_true(have_pidfd == FEATURE_YES ? c.pidfd >= 0 : c.pidfd == -EBADF);
        assert_true(c.t_exec >= c.t_fork);
        safe_close(out[1]);
        _cleanup_free_ char *text = read_all(out[0]);
        safe_close(out[0]);
        int status;
        assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        safe_close(c.pidfd);

        /* Our own copy of the given fd keeps its close-on-exec flag. */
        assert_int_equal(fcntl(given, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

        char listing[64];
        snprintf(listing, sizeof(listing), " %d ", given);
        _cleanup_free_ char *padded = NULL;
        assert_true(asprintf(&padded, " %s", text) > 0);
        if (!strstr(padded, listing))
                fail_msg("fd %d not inherited; child saw: %s", given, text);
        snprintf(listing, sizeof(listing), " %d ", leaky);
        if (strstr(padded, listing))
                fail_msg("fd %d leaked into the child; it saw: %s", leaky, text);
        assert_non_null(strstr(text, "\n/dev/null\n"));
        assert_non_null(strstr(text, "x=42\n"));
        assert_non_null(strstr(text, "given-open\n"));
        assert_null(strstr(text, "leaky-open"));
        safe_close(leaky);
        safe_close(given);
        assert_true(no_children());
}

/* PR_SET_PDEATHSIG: when the process that spawned it dies, the child is
 * killed.  An intermediate process spawns `sleep 30` and _exit()s at once;
 * the sleep must be gone within a second. */
static void test_spawn_pdeathsig(void **state) {
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t mid = fork();
        assert_true(mid >= 0);
        if (mid == 0) {
                char *argv[] = { "/bin/sleep", "30", NULL };
                Child c;
                if (child_spawn(&(ChildSpawn) { .argv = argv, .stdout_fd = -EBADF, .stderr_fd = -EBADF }, &c) < 0)
                        _exit(1);
                (void) !write(p[1], &c.pid, sizeof(c.pid));
                _exit(0);
        }
        safe_close(p[1]);
        pid_t grandchild = 0;
        assert_int_equal(read(p[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
        safe_close(p[0]);
        int status;
        assert_int_equal(waitpid(mid, &status, 0), mid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_true(grandchild > 0);
        usec_t t0 = now_usec();
        if (!wait_pid_dead(grandchild, 1000)) {
                (void) kill(grandchild, SIGKILL);
                fail_msg("pid %d outlived its parent", (int) grandchild);
        }
        assert_true(now_usec() - t0 < USEC_PER_SEC);
        assert_true(no_children());
}

/* ---- ChildWatch ------------------------------------------------------- */

typedef struct ExitLog {
        unsigned calls;        /* on_exit deliveries */
        int status;            /* last wait status */
        ChildWatch *watch;     /* the watch it came from */
} ExitLog;

static void on_exit_logged(ChildWatch *w, int status, void *userdata) {
        ExitLog *l = userdata;
        l->calls++;
        l->status = status;
        l->watch = w;
}

static ChildWatch *watch_sh(Fixture *f, const char *script, ExitLog *log) {
        char *argv[] = { "/bin/sh", "-c", (char *) script, NULL };
        Child c;
        ChildWatch *w = NULL;
        assert_int_equal(child_spawn(&(ChildSpawn) { .argv = argv, .stdout_fd = -EBADF, .stderr_fd = -EBADF }, &c), 0);
        assert_int_equal(child_watch_new(f->base, &c, on_exit_logged, log, &w), 0);
        assert_int_equal(child_watch_pid(w), c.pid);
        assert_true(child_watch_running(w));
        return w;
}

static volatile sig_atomic_t sigusr1_count;
static void on_sigusr1(int sig) {
        sigusr1_count++;
}

/* The exit status arrives once, from the loop; afterwards the watch says
 * the child is gone and signals go nowhere — not even to a live process
 * that now has the old pid (simulated: the watch is pointed at us). */
static void test_watch_exit_once(void **state) {
        Fixture *f = *state;
        ExitLog log = {};
        ChildWatch *w = watch_sh(f, "exit 7", &log);
        LOOP_UNTIL(f->base, log.calls > 0, 5000);
        assert_int_equal(log.calls, 1);
        assert_ptr_equal(log.watch, w);
        assert_true(WIFEXITED(log.status));
        assert_int_equal(WEXITSTATUS(log.status), 7);
        assert_int_equal(child_watch_pid(w), 0);
        assert_false(child_watch_running(w));
        assert_true(no_children()); /* reaped by the watch */
        loop_for(f->base, 100);
        assert_int_equal(log.calls, 1);

        struct sigaction sa = { .sa_handler = on_sigusr1 }, old;
        assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
        sigusr1_count = 0;
        child_watch_kill(w, SIGUSR1);   /* reaped: a no-op */
        if (w->pidfd >= 0) {
                w->pid = getpid();      /* as if the pid had been recycled by a live process */
                child_watch_kill(w, SIGUSR1); /* through the dead child's pidfd: still nothing */
                w->pid = 0;
        } else
                assert_null(w->source); /* SIGCHLD mode: unlinked once reaped */
        assert_int_equal(sigusr1_count, 0);
        assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
        child_watch_free(w);
}

/* A signal to a running child is delivered and shows in the status. */
static void test_watch_kill_running(void **state) {
        Fixture *f = *state;
        ExitLog log = {};
        ChildWatch *w = watch_sh(f, "exec sleep 30", &log);
        loop_for(f->base, 50);
        assert_int_equal(log.calls, 0);
        child_watch_kill(w, SIGTERM);
        LOOP_UNTIL(f->base, log.calls > 0, 5000);
        assert_true(WIFSIGNALED(log.status));
        assert_int_equal(WTERMSIG(log.status), SIGTERM);
        child_watch_free(w);
        assert_true(no_children());
}

/* Freeing a watch whose child runs kills and reaps it before returning,
 * without calling on_exit. */
static void test_watch_free_running(void **state) {
        Fixture *f = *state;
        ExitLog log = {};
        ChildWatch *w = watch_sh(f, "exec sleep 30", &log);
        pid_t pid = child_watch_pid(w);
        child_watch_free(w);
        assert_true(kill(pid, 0) < 0 && errno == ESRCH); /* gone, not even a zombie */
        assert_true(no_children());
        loop_for(f->base, 50);
        assert_int_equal(log.calls, 0);
}

/* ---- the SIGCHLD fallback --------------------------------------------- */

/* State letter of pid in /proc/PID/stat ('Z' for a zombie), 0 if none. */
static char pid_state(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        _cleanup_free_ char *s = read_file(path);
        const char *paren = s ? strrchr(s, ')') : NULL;
        return paren && paren[1] == ' ' ? paren[2] : 0;
}

static Child spawn_sh(const char *script) {
        char *argv[] = { "/bin/sh", "-c", (char *) script, NULL };
        Child c;
        assert_int_equal(child_spawn(&(ChildSpawn) { .argv = argv, .stdout_fd = -EBADF, .stderr_fd = -EBADF }, &c), 0);
        return c;
}

/* The child exits (a zombie, its SIGCHLD long gone into the default
 * action) before the watch exists: the exit still arrives, from the loop. */
static void test_sigchld_exit_before_watch(void **state) {
        Fixture *f = *state;
        Child c = spawn_sh("exit 5");
        assert_int_equal(c.pidfd, -EBADF);
        usec_t end = now_usec() + 5 * USEC_PER_SEC;
        while (pid_state(c.pid) != 'Z' && now_usec() < end)
                (void) usleep(5000);
        assert_int_equal(pid_state(c.pid), 'Z');
        ExitLog log = {};
        ChildWatch *w = NULL;
        assert_int_equal(child_watch_new(f->base, &c, on_exit_logged, &log, &w), 0);
        assert_int_equal(log.calls, 0); /* never from inside child_watch_new */
        LOOP_UNTIL(f->base, log.calls > 0, 2000);
        assert_true(WIFEXITED(log.status));
        assert_int_equal(WEXITSTATUS(log.status), 5);
        child_watch_free(w);
        assert_true(no_children());
}

/* A child the watch does not know (someone else's, forked here and
 * waited for by its owner) is left alone: its zombie and status stay for
 * its owner's waitpid. */
static void test_sigchld_leaves_others_alone(void **state) {
        Fixture *f = *state;
        pid_t other = fork();
        assert_true(other >= 0);
        if (other == 0)
                _exit(9);
        ExitLog log = {};
        ChildWatch *w = watch_sh(f, "exit 3", &log);
        LOOP_UNTIL(f->base, log.calls > 0, 5000);
        loop_for(f->base, 50);
        assert_int_equal(WEXITSTATUS(log.status), 3);
        int status = 0;
        assert_int_equal(waitpid(other, &status, 0), other);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 9);
        child_watch_free(w);
        assert_true(no_children());
}

/* Many children ending at once coalesce into fewer SIGCHLDs than exits:
 * each exit still arrives exactly once, with its own status. */
static void test_sigchld_many_at_once(void **state) {
        Fixture *f = *state;
        enum { N = 24 };
        ExitLog logs[N] = {};
        ChildWatch *w[N];
        char script[64];
        for (int i = 0; i < N; i++) {
                snprintf(script, sizeof(script), "sleep 0.2; exit %d", i);
                w[i] = watch_sh(f, script, &logs[i]);
        }
        bool all;
        usec_t end = now_usec() + 10 * USEC_PER_SEC;
        do {
                loop_once(f->base);
                all = true;
                for (int i = 0; i < N; i++)
                        all = all && logs[i].calls > 0;
        } while (!all && now_usec() < end);
        loop_for(f->base, 50);
        for (int i = 0; i < N; i++) {
                assert_int_equal(logs[i].calls, 1);
                assert_true(WIFEXITED(logs[i].status));
                assert_int_equal(WEXITSTATUS(logs[i].status), i);
                child_watch_free(w[i]);
        }
        assert_true(no_children());
}

typedef struct FreeOther {
        ChildWatch *other;     /* freed by the first exit's callback */
        unsigned calls;        /* deliveries */
} FreeOther;

static void on_exit_free_other(ChildWatch *w, int status, void *userdata) {
        FreeOther *fo = userdata;
        fo->calls++;
        fo->other = child_watch_free(fo->other);
}

/* The first exit's callback frees the other watch, whose child has exited
 * too, in the middle of the waitpid pass: nothing is delivered for it, and
 * neither the pass nor the source trips over the changed list. */
static void test_sigchld_callback_frees_other(void **state) {
        Fixture *f = *state;
        Child a = spawn_sh("exit 0"), b = spawn_sh("exit 0");
        FreeOther fa = {}, fb = {};
        ChildWatch *wa = NULL, *wb = NULL;
        assert_true(wait_pid_dead(a.pid, 5000) && wait_pid_dead(b.pid, 5000));
        assert_int_equal(child_watch_new(f->base, &a, on_exit_free_other, &fa, &wa), 0);
        assert_int_equal(child_watch_new(f->base, &b, on_exit_free_other, &fb, &wb), 0);
        fa.other = wb;
        fb.other = wa;
        LOOP_UNTIL(f->base, fa.calls + fb.calls > 0, 5000);
        loop_for(f->base, 50);
        assert_int_equal(fa.calls + fb.calls, 1);
        assert_null(sigchld_sources); /* both gone: the source with them */
        child_watch_free(fa.calls ? wa : wb);
        assert_true(no_children());
}

/* SIGCHLD inherited as ignored would let the kernel reap behind our back:
 * child_spawn restores the default, and the real status arrives. */
static void test_sigchld_inherited_ignored(void **state) {
        Fixture *f = *state;
        struct sigaction ign = { .sa_handler = SIG_IGN }, old, now;
        assert_int_equal(sigaction(SIGCHLD, &ign, &old), 0);
        ExitLog log = {};
        ChildWatch *w = watch_sh(f, "exit 4", &log);
        assert_int_equal(sigaction(SIGCHLD, NULL, &now), 0);
        assert_true(now.sa_handler != SIG_IGN);
        LOOP_UNTIL(f->base, log.calls > 0, 5000);
        assert_true(WIFEXITED(log.status));
        assert_int_equal(WEXITSTATUS(log.status), 4);
        child_watch_free(w);
        assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
        assert_true(no_children());
}

static bool sigchld_is_blocked(void) {
        sigset_t m;
        assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &m), 0);
        return sigismember(&m, SIGCHLD);
}

/* While a watch waits, SIGCHLD is blocked (read from a signalfd, so it
 * interrupts no system call: a poll() across the child's exit is not cut
 * short); with the last watch gone it is unblocked again. */
static void test_sigchld_source_lifetime(void **state) {
        Fixture *f = *state;
        ExitLog log = {};
        assert_false(sigchld_is_blocked());
        ChildWatch *w = watch_sh(f, "sleep 0.1", &log);
        assert_non_null(sigchld_sources);
        assert_true(sigchld_is_blocked());
        usec_t t0 = now_usec();
        assert_int_equal(poll(NULL, 0, 400), 0); /* not EINTR when the child exits at 100 ms */
        assert_true(now_usec() - t0 >= 390 * USEC_PER_MSEC);
        LOOP_UNTIL(f->base, log.calls > 0, 5000);
        assert_true(WIFEXITED(log.status));
        assert_null(sigchld_sources);
        assert_false(sigchld_is_blocked());
        child_watch_free(w);
        assert_true(no_children());
}

/* Two loops with watches at once: whichever reads the SIGCHLD, each
 * loop's own child is reaped on that loop. */
static void test_sigchld_two_loops(void **state) {
        Fixture *f = *state;
        struct event_base *other = event_base_new();
        assert_non_null(other);
        ExitLog la = {}, lb = {};
        ChildWatch *wa = watch_sh(f, "sleep 0.1; exit 1", &la);
        char *argv[] = { "/bin/sh", "-c", "sleep 0.1; exit 2", NULL };
        Child c;
        ChildWatch *wb = NULL;
        assert_int_equal(child_spawn(&(ChildSpawn) { .argv = argv, .stdout_fd = -EBADF, .stderr_fd = -EBADF }, &c), 0);
        assert_int_equal(child_watch_new(other, &c, on_exit_logged, &lb, &wb), 0);
        usec_t end = now_usec() + 5 * USEC_PER_SEC;
        while ((la.calls == 0 || lb.calls == 0) && now_usec() < end) {
                loop_once(f->base);
                loop_once(other);
        }
        assert_int_equal(la.calls, 1);
        assert_int_equal(lb.calls, 1);
        assert_int_equal(WEXITSTATUS(la.status), 1);
        assert_int_equal(WEXITSTATUS(lb.status), 2);
        child_watch_free(wa);
        child_watch_free(wb);
        assert_null(sigchld_sources);
        event_base_free(other);
        assert_true(no_children());
}

/* The probe agrees with the kernel: pidfd exactly when pidfd_open works. */
static void test_probe(void **state) {
        int fd = (int) syscall(SYS_pidfd_open, getpid(), 0);
        bool works = fd >= 0 || errno != ENOSYS;
        safe_close(fd);
        have_pidfd = FEATURE_UNKNOWN;
        assert_string_equal(child_supervision(), works ? "pidfd" : "sigchld");
        Child c = spawn_sh("exit 0");
        assert_true(works ? c.pidfd >= 0 : c.pidfd == -EBADF);
        assert_int_equal(waitpid(c.pid, NULL, 0), c.pid);
        safe_close(c.pidfd);
        assert_true(no_children());
}

/* ---- ChildRun --------------------------------------------------------- */

typedef struct RunLog {
        unsigned calls;        /* callbacks */
        int status;            /* wait status */
        bool timed_out;        /* deadline fired */
        char *out, *err;       /* copies of the captured text */
        size_t out_len, err_len; /* their lengths */
        usec_t t_fork, t_exit; /* from the result */
        usec_t t_called;       /* when the callback ran */
} RunLog;

static void on_run_done(const ChildRunResult *r, void *userdata) {
        RunLog *l = userdata;
        l->calls++;
        l->status = r->wait_status;
        l->timed_out = r->timed_out;
        free(l->out);
        free(l->err);
        l->out = strndup(r->out, r->out_len);
        l->err = strndup(r->err, r->err_len);
        l->out_len = r->out_len;
        l->err_len = r->err_len;
        l->t_fork = r->t_fork;
        l->t_exit = r->t_exit;
        l->t_called = now_usec();
}

static void run_log_done(RunLog *l) {
        free(l->out);
        free(l->err);
}

static ChildRun *start_sh(Fixture *f, const char *script, size_t cap, usec_t timeout, RunLog *log) {
        char *argv[] = { "/bin/sh", "-c", (char *) script, NULL };
        ChildRun *r = NULL;
        assert_int_equal(child_run(f->base, argv, NULL, cap, timeout, on_run_done, log, &r), 0);
        assert_non_null(r);
        return r;
}

/* stdout and stderr are captured separately, with the exit status; the
 * callback comes once. */
static void test_run_capture(void **state) {
        Fixture *f = *state;
        RunLog log = {};
        start_sh(f, "echo out; echo err >&2; printf 'no newline'; exit 3", 4096, 5 * USEC_PER_SEC, &log);
        LOOP_UNTIL(f->base, log.calls > 0, 5000);
        assert_string_equal(log.out, "out\nno newline");
        assert_string_equal(log.err, "err\n");
        assert_true(WIFEXITED(log.status));
        assert_int_equal(WEXITSTATUS(log.status), 3);
        assert_false(log.timed_out);
        assert_true(log.t_exit >= log.t_fork);
        loop_for(f->base, 100); /* the run frees itself; nothing else arrives */
        assert_int_equal(log.calls, 1);
        assert_true(no_children());
        run_log_done(&log);
}

/* A child printing 1 MiB with a 4 KiB cap finishes normally: the rest is
 * read and dropped, so it never blocks on a full pipe. */
static void test_run_output_cap(void **state) {
        Fixture *f = *state;
        RunLog log = {};
        start_sh(f, "head -c 1048576 /dev/zero | tr '\\0' x; head -c 100000 /dev/zero >&2; echo done >&2", 4096,
                 20 * USEC_PER_SEC, &log);
        LOOP_UNTIL(f->base, log.calls > 0, 20000);
        assert_false(log.timed_out);
        assert_true(WIFEXITED(log.status));
        assert_int_equal(WEXITSTATUS(log.status), 0);
        assert_int_equal(log.out_len, 4096);
        assert_int_equal(strspn(log.out, "x"), 4096);
        assert_int_equal(log.err_len, 4096); /* each stream has its own cap */
        assert_true(no_children());
        run_log_done(&log);
}

/* The deadline SIGKILLs a child that runs too long and says so. */
static void test_run_deadline(void **state) {
        Fixture *f = *state;
        RunLog log = {};
        usec_t t0 = now_usec();
        start_sh(f, "echo started; exec sleep 30", 4096, 300 * USEC_PER_MSEC, &log);
        LOOP_UNTIL(f->base, log.calls > 0, 5000);
        usec_t took = now_usec() - t0;
        assert_true(log.timed_out);
        assert_true(WIFSIGNALED(log.status));
        assert_int_equal(WTERMSIG(log.status), SIGKILL);
        assert_string_equal(log.out, "started\n");
        assert_true(took >= 300 * USEC_PER_MSEC - TIMER_SLACK_USEC);
        assert_true(took < 2 * USEC_PER_SEC);
        loop_for(f->base, 100);
        assert_int_equal(log.calls, 1);
        assert_true(no_children());
        run_log_done(&log);
}

/* A child that exits at once but leaves a grandchild holding its stdout:
 * the deadline stops waiting for that EOF and reports the real exit. */
static void test_run_deadline_grandchild_holds_pipe(void **state) {
        Fixture *f = *state;
        RunLog log = {};
        usec_t t0 = now_usec();
        start_sh(f, "sleep 2 & exit 0", 4096, 300 * USEC_PER_MSEC, &log);
        LOOP_UNTIL(f->base, log.calls > 0, 5000);
        assert_true(now_usec() - t0 < 1500 * USEC_PER_MSEC); /* at the deadline, not the grandchild's exit */
        assert_true(log.timed_out);
        assert_true(WIFEXITED(log.status));
        assert_int_equal(WEXITSTATUS(log.status), 0);
        assert_true(no_children()); /* the grandchild is init's, not ours */
        run_log_done(&log);
}

/* child_run_kill ends it early; the callback still comes, not as a timeout. */
static void test_run_kill(void **state) {
        Fixture *f = *state;
        RunLog log = {};
        ChildRun *r = start_sh(f, "exec sleep 30", 4096, 0, &log);
        loop_for(f->base, 50);
        assert_int_equal(log.calls, 0);
        child_run_kill(r);
        LOOP_UNTIL(f->base, log.calls > 0, 5000);
        assert_false(log.timed_out);
        assert_true(WIFSIGNALED(log.status));
        assert_int_equal(WTERMSIG(log.status), SIGKILL);
        assert_true(no_children());
        run_log_done(&log);
}

/* child_run_free on a running child: killed and reaped now, no callback. */
static void test_run_free_running(void **state) {
        Fixture *f = *state;
        RunLog log = {};
        ChildRun *r = start_sh(f, "exec sleep 30", 4096, 10 * USEC_PER_SEC, &log);
        child_run_free(r);
        assert_true(no_children());
        loop_for(f->base, 100);
        assert_int_equal(log.calls, 0);
}

/* A binary that cannot run: child_run fails at once, the callback never comes. */
static void test_run_exec_failure(void **state) {
        Fixture *f = *state;
        RunLog log = {};
        char *argv[] = { "/nonexistent/virtlab-no-such-binary", NULL };
        ChildRun *r = NULL;
        int fds = count_fds();
        assert_int_equal(child_run(f->base, argv, NULL, 4096, USEC_PER_SEC, on_run_done, &log, &r), -ENOENT);
        assert_null(r);
        assert_int_equal(count_fds(), fds); /* no pipe end left open */
        loop_for(f->base, 50);
        assert_int_equal(log.calls, 0);
        assert_true(no_children());
}

static void test_describe_status(void **state) {
        char buf[128];
        child_describe_status(1 << 8, buf, sizeof(buf));
        assert_string_equal(buf, "exited with status 1");
        child_describe_status(0, buf, sizeof(buf));
        assert_string_equal(buf, "exited with status 0");
        child_describe_status(SIGKILL, buf, sizeof(buf));
        assert_string_equal(buf, "killed by SIGKILL");
        child_describe_status(SIGSYS, buf, sizeof(buf));
        assert_string_equal(buf, "killed by SIGSYS (a seccomp filter refused a system call)");
        child_describe_status(0x137f, buf, sizeof(buf)); /* stopped by SIGSTOP */
        assert_string_equal(buf, "ended with wait status 0x137f");
        child_describe_status(SIGTERM | 0x80, buf, sizeof(buf)); /* with a core dump */
        assert_string_equal(buf, "killed by SIGTERM");
        child_describe_status(CHILD_STATUS_LOST, buf, sizeof(buf));
        assert_string_equal(buf, "was reaped by someone else (exit status lost)");
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spawn_exec_failure),
                cmocka_unit_test(test_spawn_fds_and_env),
                cmocka_unit_test(test_spawn_pdeathsig),
#define BOTH_WAYS(t) cmocka_unit_test_setup_teardown(t, setup, teardown), \
                     { #t "_sigchld", t, setup_sigchld, teardown, NULL }
                BOTH_WAYS(test_watch_exit_once),
                BOTH_WAYS(test_watch_kill_running),
                BOTH_WAYS(test_watch_free_running),
                BOTH_WAYS(test_run_capture),
                BOTH_WAYS(test_run_output_cap),
                BOTH_WAYS(test_run_deadline),
                BOTH_WAYS(test_run_deadline_grandchild_holds_pipe),
                BOTH_WAYS(test_run_kill),
                BOTH_WAYS(test_run_free_running),
                BOTH_WAYS(test_run_exec_failure),
                cmocka_unit_test_setup_teardown(test_sigchld_exit_before_watch, setup_sigchld, teardown),
                cmocka_unit_test_setup_teardown(test_sigchld_leaves_others_alone, setup_sigchld, teardown),
                cmocka_unit_test_setup_teardown(test_sigchld_many_at_once, setup_sigchld, teardown),
                cmocka_unit_test_setup_teardown(test_sigchld_callback_frees_other, setup_sigchld, teardown),
                cmocka_unit_test_setup_teardown(test_sigchld_inherited_ignored, setup_sigchld, teardown),
                cmocka_unit_test_setup_teardown(test_sigchld_source_lifetime, setup_sigchld, teardown),
                cmocka_unit_test_setup_teardown(test_sigchld_two_loops, setup_sigchld, teardown),
                cmocka_unit_test(test_probe),
                cmocka_unit_test(test_describe_status),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
