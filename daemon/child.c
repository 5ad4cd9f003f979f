/* child.c — the one way virtlabd starts and supervises child processes
 * (child.h).
 *
 * Two ways to learn of an exit, chosen per child by what the kernel has:
 * a pidfd (Linux 5.3) that turns readable, or — where pidfd_open answers
 * ENOSYS (Linux 4.18/4.19, valgrind) — SIGCHLD on the loop followed by
 * waitpid(pid, WNOHANG) for each watched pid only, so a child someone else
 * waits for is never reaped here (SIGCHLD is blocked meanwhile and read
 * from a signalfd: it interrupts no system call).  Either way a pid is
 * signalled only while it is ours and unreaped (a zombie keeps its pid), and
 * SIGCHLD is never left ignored (that would let the kernel reap behind our
 * back).
 *
 * Divisions: kernel features · spawn (fork, exec, error pipe) · watch (exit
 * on the loop: pidfd, SIGCHLD) · run (capture + deadline) · status text. */
#include "child.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
/* Numbers from 424 on are the same on every architecture with the common
 * table; older headers (bullseye's glibc 2.31) may not name them all. */
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* ---- kernel features -------------------------------------------------- */

typedef enum Feature {
        FEATURE_UNKNOWN,           /* not probed yet */
        FEATURE_YES,               /* the call works */
        FEATURE_NO,                /* ENOSYS: the kernel (or valgrind) lacks it */
} Feature;

static Feature have_pidfd;         /* pidfd_open(2), Linux 5.3 */
static Feature have_close_range;   /* close_range(2) with CLOSE_RANGE_CLOEXEC, Linux 5.11 */
static int close_range_errno;      /* why not: ENOSYS (before 5.9) or EINVAL (the flag, before 5.11) */

void child_probe(void) {
        if (have_pidfd == FEATURE_UNKNOWN) {
                int fd = (int) syscall(SYS_pidfd_open, getpid(), 0);
                have_pidfd = fd >= 0 || errno != ENOSYS ? FEATURE_YES : FEATURE_NO;
                safe_close(fd);
        }
        if (have_close_range == FEATURE_UNKNOWN) {
                /* An fd that cannot be open: marks nothing, tells whether the call and its flag exist. */
                long r = syscall(SYS_close_range, ~0U, ~0U, CLOSE_RANGE_CLOEXEC);
                close_range_errno = r < 0 && (errno == ENOSYS || errno == EINVAL) ? errno : 0;
                have_close_range = close_range_errno ? FEATURE_NO : FEATURE_YES;
        }
        static bool logged;
        if (logged)
                return;
        logged = true;
        if (have_pidfd == FEATURE_YES && have_close_range == FEATURE_YES) {
                log_debug("Child supervision: pidfd; close-on-exec: close_range");
                return;
        }
        log_notice("Child supervision: %s; close-on-exec: %s",
                   have_pidfd == FEATURE_YES
                           ? "pidfd"
                           : "SIGCHLD + waitpid per child (pidfd_open: Function not implemented, needs Linux 5.3)",
                   have_close_range == FEATURE_YES ? "close_range"
                   : close_range_errno == ENOSYS
                           ? "each fd in /proc/self/fd (close_range: Function not implemented, needs Linux 5.9)"
                           : "each fd in /proc/self/fd (close_range refuses CLOSE_RANGE_CLOEXEC, needs Linux 5.11)");
}

const char *child_supervision(void) {
        child_probe();
        return have_pidfd == FEATURE_YES ? "pidfd" : "sigchld";
}

/* SIGCHLD ignored (or SA_NOCLDWAIT) makes the kernel reap our children
 * itself: waitpid would lose the status and a pid could be recycled while
 * we still think it ours.  A parent may have left it so; undo that. */
static void sigchld_not_ignored(void) {
        struct sigaction sa;
        if (sigaction(SIGCHLD, NULL, &sa) < 0 ||
            (sa.sa_handler != SIG_IGN && !(sa.sa_flags & SA_NOCLDWAIT)))
                return;
        log_notice("SIGCHLD was ignored (inherited); restoring the default so exits can be collected");
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        (void) sigaction(SIGCHLD, &dfl, NULL);
}

/* ---- spawn ------------------------------------------------------------ */

/* Marks every fd above stderr close-on-exec, whoever opened it (a library
 * may not have), so the child inherits only what it is given on purpose. */
static void mark_all_cloexec(void) {
        if (have_close_range != FEATURE_NO && syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
                return;
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        while (d && (de = readdir(d))) {
                int fd = atoi(de->d_name);
                if (fd > 2 && fd != dirfd(d))
                        (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        if (d)
                closedir(d);
}

/* The soft RLIMIT_NOFILE we started with, restored in children: the VMMs
 * and tools we run may still use select(), which breaks above 1024. */
static struct rlimit nofile_inherited;
static bool nofile_raised;

int child_raise_nofile(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        nofile_inherited = rl;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        nofile_raised = true;
        return 0;
}

size_t child_nofile_limit(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 1024;
        return rl.rlim_cur == RLIM_INFINITY ? SIZE_MAX : (size_t) rl.rlim_cur;
}

static int dup_or_null(int fd, int target, int null) {
        return dup2(fd >= 0 ? fd : null, target) < 0 ? -errno : 0;
}

_Noreturn static void child_exec(const ChildSpawn *c, pid_t parent, int errpipe) {
        /* The parent may have died between fork() and prctl(): then the
         * death signal will never come, so go now. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(127);
        /* Our handlers (libevent's, for SIGTERM and SIGINT) write into the
         * parent's loop: a signal caught here before exec must not reach it. */
        for (int sig = 1; sig < NSIG; sig++) {
                struct sigaction sa;
                if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, NULL, &sa) == 0 &&
                    sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)
                        (void) signal(sig, SIG_DFL);
        }
        sigset_t none;
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        mark_all_cloexec();
        if (nofile_raised)
                (void) setrlimit(RLIMIT_NOFILE, &nofile_inherited);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup_or_null(c->stdout_fd, STDOUT_FILENO, null) < 0 ||
            dup_or_null(c->stderr_fd, STDERR_FILENO, null) < 0)
                goto fail;
        for (size_t i = 0; i < c->n_inherit_fds; i++)
                if (fcntl(c->inherit_fds[i], F_SETFD, 0) < 0)
                        goto fail;
        if (c->affinity && sched_setaffinity(0, sizeof(*c->affinity), c->affinity) < 0)
                goto fail;
        for (char *const *e = c->env; e && *e; e++)
                if (putenv(*e) < 0)
                        goto fail;
        execv(c->argv[0], c->argv);
fail:;
        int e = errno;
        (void) !write(errpipe, &e, sizeof(e));
        _exit(127);
}

/* Without pidfds the watch falls back to SIGCHLD + waitpid; the pid cannot
 * be recycled meanwhile, since only we may reap it.  On failure the child
 * is killed and reaped. */
static int child_open_pidfd(Child *ch) {
        if (have_pidfd != FEATURE_YES)
                return 0;
        ch->pidfd = (int) syscall(SYS_pidfd_open, ch->pid, 0);
        if (ch->pidfd < 0 && errno != ENOSYS) {
                int e = -errno;
                (void) kill(ch->pid, SIGKILL);
                (void) waitpid(ch->pid, NULL, 0);
                return e;
        }
        if (ch->pidfd < 0) {
                ch->pidfd = -EBADF;
                have_pidfd = FEATURE_NO;
        }
        return 0;
}

/* exec_async: the pidfd now, the exec's outcome later through exec_fd. */
static int child_watch_async(Child *ch, int exec_fd, Child *ret) {
        int r = child_open_pidfd(ch);
        if (r < 0) {
                safe_close(exec_fd);
                return r;
        }
        (void) fcntl(exec_fd, F_SETFL, O_NONBLOCK);
        ch->exec_fd = exec_fd;
        *ret = *ch;
        return 0;
}

int child_exec_result(int exec_fd, int *ret_errno) {
        int child_errno = 0;
        ssize_t k;
        do
                k = read(exec_fd, &child_errno, sizeof(child_errno));
        while (k < 0 && errno == EINTR);
        if (k < 0 && errno == EAGAIN)
                return 0;
        *ret_errno = k == sizeof(child_errno) ? child_errno : 0;
        return 1;
}

int child_spawn(const ChildSpawn *c, Child *ret) {
        int errpipe[2];
        if (!c->argv || !c->argv[0])
                return -EINVAL;
        child_probe();
        sigchld_not_ignored();
        if (pipe2(errpipe, O_CLOEXEC) < 0)
                return -errno;
        pid_t parent = getpid();
        Child ch = { .pidfd = -EBADF, .exec_fd = -EBADF, .t_fork = now_usec() };
        ch.pid = fork();
        if (ch.pid < 0) {
                int e = -errno;
                safe_close(errpipe[0]);
                safe_close(errpipe[1]);
                return e;
        }
        if (ch.pid == 0) {
                safe_close(errpipe[0]);
                child_exec(c, parent, errpipe[1]);
        }
        safe_close(errpipe[1]);
        if (c->exec_async)
                return child_watch_async(&ch, errpipe[0], ret);
        int child_errno = 0;
        ssize_t k;
        do
                k = read(errpipe[0], &child_errno, sizeof(child_errno));
        while (k < 0 && errno == EINTR);
        ch.t_exec = now_usec();
        safe_close(errpipe[0]);
        if (k == sizeof(child_errno)) {
                (void) waitpid(ch.pid, NULL, 0);
                return -child_errno;
        }
        int r = child_open_pidfd(&ch);
        if (r < 0)
                return r;
        *ret = ch;
        return 0;
}

/* ---- watch ------------------------------------------------------------ */

typedef struct SigchldSource SigchldSource;

struct ChildWatch {
        pid_t pid;                 /* 0 once reaped */
        int pidfd;                 /* readable once the child exited; -EBADF: SIGCHLD mode */
        struct event *event;       /* pidfd mode: on pidfd, persistent */
        SigchldSource *source;     /* SIGCHLD mode: the loop's source, NULL once reaped */
        ChildWatch *prev, *next;   /* SIGCHLD mode: in source->watches while unreaped */
        child_exit_handler_t on_exit; /* owner's callback */
        void *userdata;            /* for on_exit */
};

/* SIGCHLD mode: one source per event_base that has unreaped watches.
 * While any source exists SIGCHLD is blocked and read from a signalfd: it
 * never interrupts a system call (a synchronous sd-bus call would fail in
 * ppoll() with EINTR; SA_RESTART does not cover poll), and a blocked signal
 * stays pending until read, so none is lost.  Every source's signalfd sees
 * the one pending SIGCHLD; whichever reads it starts every loop's pass. */
struct SigchldSource {
        struct event_base *base;   /* the loop */
        int fd;                    /* signalfd for SIGCHLD */
        struct event *signal;      /* on fd, persistent */
        struct event *scan;        /* the waitpid pass, made active by a SIGCHLD and by each new watch */
        ChildWatch *watches;       /* unreaped watches on this loop */
        bool scanning;             /* inside the pass: freeing waits for its end */
        SigchldSource *next;       /* in sigchld_sources */
};

static SigchldSource *sigchld_sources; /* every live source */
static bool sigchld_blocked_by_us;     /* SIGCHLD was unblocked before the first source blocked it */

static void on_pidfd(evutil_socket_t fd, short what, void *userdata);
static void on_sigchld(evutil_socket_t fd, short what, void *userdata);
static void on_scan(evutil_socket_t fd, short what, void *userdata);

/* Marks w reaped with status and tells its owner. */
static void watch_reaped(ChildWatch *w, int status);

static void on_pidfd(evutil_socket_t fd, short what, void *userdata) {
        ChildWatch *w = userdata;
        int status = 0;
        pid_t p = w->pid > 0 ? waitpid(w->pid, &status, WNOHANG) : 0;
        if (p < 0 && errno == ECHILD)
                status = CHILD_STATUS_LOST;
        else if (p <= 0)
                return; /* spurious, or not exited yet: the persistent event stays armed */
        event_del(w->event);
        watch_reaped(w, status);
}

static void sigchld_mask(int how) {
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGCHLD);
        (void) sigprocmask(how, &m, NULL);
}

static SigchldSource *sigchld_source_free(SigchldSource *s) {
        if (!s)
                return NULL;
        for (SigchldSource **p = &sigchld_sources; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        if (s->signal)
                event_free(s->signal);
        if (s->scan)
                event_free(s->scan);
        safe_close(s->fd);
        free(s);
        /* A SIGCHLD still pending goes to its default action (discarded);
         * the zombies stay for the next watch's first pass. */
        if (!sigchld_sources && sigchld_blocked_by_us) {
                sigchld_blocked_by_us = false;
                sigchld_mask(SIG_UNBLOCK);
        }
        return NULL;
}

/* The base's source, created (and SIGCHLD blocked) on first use. */
static int sigchld_source_get(struct event_base *base, SigchldSource **ret) {
        for (SigchldSource *s = sigchld_sources; s; s = s->next)
                if (s->base == base) {
                        *ret = s;
                        return 0;
                }
        SigchldSource *s = calloc(1, sizeof(SigchldSource));
        if (!s)
                return -ENOMEM;
        if (!sigchld_sources) {
                sigset_t old;
                (void) sigprocmask(SIG_BLOCK, NULL, &old);
                sigchld_blocked_by_us = !sigismember(&old, SIGCHLD);
                sigchld_mask(SIG_BLOCK);
        }
        *s = (SigchldSource) { .base = base, .next = sigchld_sources };
        sigchld_sources = s;
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGCHLD);
        s->fd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
        int r = s->fd < 0 ? -errno : 0;
        s->signal = s->fd >= 0 ? event_new(base, s->fd, EV_READ | EV_PERSIST, on_sigchld, s) : NULL;
        s->scan = event_new(base, -1, 0, on_scan, s);
        if (r == 0 && (!s->signal || !s->scan || event_add(s->signal, NULL) < 0))
                r = -ENOMEM;
        if (r < 0) {
                sigchld_source_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

static void sigchld_unlink(ChildWatch *w) {
        SigchldSource *s = w->source;
        if (!s)
                return;
        if (w->prev)
                w->prev->next = w->next;
        else
                s->watches = w->next;
        if (w->next)
                w->next->prev = w->prev;
        w->prev = w->next = NULL;
        w->source = NULL;
        if (!s->watches && !s->scanning)
                sigchld_source_free(s);
}

/* Drains the signalfd and starts the pass of every loop, since any of them
 * may have read the SIGCHLD that was another's.  The pass runs in its own
 * event, so it may free the source when the last watch goes. */
static void on_sigchld(evutil_socket_t fd, short what, void *userdata) {
        struct signalfd_siginfo si;
        while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si))
                ;
        for (SigchldSource *s = sigchld_sources; s; s = s->next)
                event_active(s->scan, EV_TIMEOUT, 0);
}

/* waitpid(pid, WNOHANG) for each watched pid — never waitpid(-1), which
 * would steal the children of whoever else waits (a test, a library).
 * SIGCHLDs coalesce, so every watch is asked, not one per signal.  After a
 * delivery the list may have changed under the callback: start over. */
static void on_scan(evutil_socket_t fd, short what, void *userdata) {
        SigchldSource *s = userdata;
        s->scanning = true;
        for (ChildWatch *w = s->watches; w;) {
                int status = 0;
                pid_t p = waitpid(w->pid, &status, WNOHANG);
                if (p == 0 || (p < 0 && errno != ECHILD)) {
                        w = w->next;
                        continue;
                }
                if (p < 0)
                        status = CHILD_STATUS_LOST;
                watch_reaped(w, status);
                w = s->watches;
        }
        s->scanning = false;
        if (!s->watches)
                sigchld_source_free(s);
}

static void watch_reaped(ChildWatch *w, int status) {
        if (status == CHILD_STATUS_LOST)
                log_warning("Child %d was reaped by someone else; its exit status is lost", (int) w->pid);
        w->pid = 0;
        sigchld_unlink(w);
        if (w->on_exit)
                w->on_exit(w, status, w->userdata);
}

int child_watch_new(struct event_base *base, const Child *c, child_exit_handler_t on_exit, void *userdata,
                    ChildWatch **ret) {
        ChildWatch *w = calloc(1, sizeof(ChildWatch));
        if (!w)
                return -ENOMEM;
        *w = (ChildWatch) { .pid = c->pid, .pidfd = c->pidfd, .on_exit = on_exit, .userdata = userdata };
        if (w->pidfd >= 0) {
                w->event = event_new(base, w->pidfd, EV_READ | EV_PERSIST, on_pidfd, w);
                if (!w->event || event_add(w->event, NULL) < 0)
                        goto fail;
                *ret = w;
                return 0;
        }
        SigchldSource *s;
        if (sigchld_source_get(base, &s) < 0)
                goto fail;
        w->source = s;
        w->next = s->watches;
        if (w->next)
                w->next->prev = w;
        s->watches = w;
        /* A child that exited before the source existed sent its SIGCHLD
         * into the default action (discarded): ask once now, from the loop. */
        event_active(s->scan, EV_TIMEOUT, 0);
        *ret = w;
        return 0;
fail:
        /* The caller still owns the child on failure. */
        w->pid = 0;
        w->pidfd = -EBADF;
        child_watch_free(w);
        return -ENOMEM;
}

void child_watch_kill(ChildWatch *w, int sig) {
        if (!w || w->pid <= 0)
                return;
        /* Through the pidfd: even a pid recycled behind our back is safe.
         * Without one, kill() is safe because the pid is unreaped: a zombie
         * keeps its pid, and nobody but us reaps it. */
        if (w->pidfd < 0 || (syscall(SYS_pidfd_send_signal, w->pidfd, sig, NULL, 0) < 0 && errno == ENOSYS))
                (void) kill(w->pid, sig);
}

pid_t child_watch_pid(const ChildWatch *w) { return w ? w->pid : 0; }
bool child_watch_running(const ChildWatch *w) { return w && w->pid > 0; }

ChildWatch *child_watch_free(ChildWatch *w) {
        if (!w)
                return NULL;
        if (w->pid > 0) {
                child_watch_kill(w, SIGKILL);
                (void) waitpid(w->pid, NULL, 0);
                w->pid = 0;
        }
        sigchld_unlink(w);
        if (w->event)
                event_free(w->event);
        safe_close(w->pidfd);
        free(w);
        return NULL;
}

/* sigabbrev_np() is glibc 2.32; bullseye has 2.31.  The standard signals
 * by value (x86-64 and the generic table agree on all of these). */
static const char *signal_abbrev(int sig) {
        static const char *const names[] = {
                [SIGHUP] = "HUP",   [SIGINT] = "INT",       [SIGQUIT] = "QUIT",   [SIGILL] = "ILL",
                [SIGTRAP] = "TRAP", [SIGABRT] = "ABRT",     [SIGBUS] = "BUS",     [SIGFPE] = "FPE",
                [SIGKILL] = "KILL", [SIGUSR1] = "USR1",     [SIGSEGV] = "SEGV",   [SIGUSR2] = "USR2",
                [SIGPIPE] = "PIPE", [SIGALRM] = "ALRM",     [SIGTERM] = "TERM",   [SIGCHLD] = "CHLD",
                [SIGCONT] = "CONT", [SIGSTOP] = "STOP",     [SIGTSTP] = "TSTP",   [SIGTTIN] = "TTIN",
                [SIGTTOU] = "TTOU", [SIGURG] = "URG",       [SIGXCPU] = "XCPU",   [SIGXFSZ] = "XFSZ",
                [SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF", [SIGWINCH] = "WINCH", [SIGIO] = "IO",
                [SIGPWR] = "PWR",   [SIGSYS] = "SYS",
        };
        return sig > 0 && (size_t) sig < ELEMENTSOF(names) ? names[sig] : NULL;
}

void child_describe_status(int st, char *buf, size_t size) {
        if (st == CHILD_STATUS_LOST)
                snprintf(buf, size, "was reaped by someone else (exit status lost)");
        else if (WIFEXITED(st))
                snprintf(buf, size, "exited with status %d", WEXITSTATUS(st));
        else if (WIFSIGNALED(st))
                snprintf(buf, size, "killed by SIG%s%s", signal_abbrev(WTERMSIG(st)) ?: "?",
                         WTERMSIG(st) == SIGSYS ? " (a seccomp filter refused a system call)" : "");
        else
                snprintf(buf, size, "ended with wait status 0x%x", (unsigned) st);
}

/* ---- run -------------------------------------------------------------- */

typedef struct Capture {
        int fd;                    /* read end, -EBADF at EOF */
        struct event *event;       /* on fd */
        char *buf;                 /* what was read, NUL-terminated */
        size_t len;                /* bytes in buf */
} Capture;

struct ChildRun {
        struct event_base *base;   /* the loop */
        ChildWatch *watch;         /* the process */
        Capture out, err;          /* stdout, stderr */
        size_t max_output;         /* cap per stream */
        struct event *deadline;    /* kill timer */
        bool timed_out;            /* the deadline fired */
        bool reaped;               /* exit seen */
        int wait_status;           /* from the watch */
        usec_t t_fork, t_exit;     /* monotonic */
        child_run_handler_t cb;    /* owner's callback, NULL once called */
        void *userdata;            /* for cb */
};

static void child_run_free_deferred(evutil_socket_t fd, short what, void *userdata) {
        child_run_free(userdata);
}

static void child_run_maybe_done(ChildRun *r) {
        if (!r->reaped || r->out.fd >= 0 || r->err.fd >= 0 || !r->cb)
                return;
        ChildRunResult res = { .wait_status = r->wait_status, .timed_out = r->timed_out,
                               .out = r->out.buf ?: "", .out_len = r->out.len, .err = r->err.buf ?: "",
                               .err_len = r->err.len, .t_fork = r->t_fork, .t_exit = r->t_exit };
        child_run_handler_t cb = r->cb;
        r->cb = NULL;
        if (r->deadline)
                event_del(r->deadline);
        cb(&res, r->userdata);
        /* Not from inside our own event's callback. */
        struct timeval zero = {};
        if (event_base_once(r->base, -1, EV_TIMEOUT, child_run_free_deferred, r, &zero) < 0)
                log_warning("Cannot defer freeing a finished child's state, leaking it");
}

static void capture_close(Capture *c) {
        if (c->event)
                event_free(c->event);
        c->event = NULL;
        c->fd = safe_close(c->fd);
}

static void on_capture(evutil_socket_t fd, short what, void *userdata) {
        ChildRun *r = userdata;
        Capture *c = fd == r->out.fd ? &r->out : &r->err;
        for (;;) {
                char chunk[4096];
                ssize_t k = read(fd, chunk, sizeof(chunk));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return;
                if (k <= 0)
                        break;
                size_t keep = c->len + (size_t) k > r->max_output ? r->max_output - c->len : (size_t) k;
                if (keep == 0)
                        continue; /* over the cap: drain so the child never blocks */
                char *nb = realloc(c->buf, c->len + keep + 1);
                if (!nb)
                        continue;
                memcpy(nb + c->len, chunk, keep);
                c->len += keep;
                nb[c->len] = 0;
                c->buf = nb;
        }
        capture_close(c);
        child_run_maybe_done(r);
}

static void on_run_exit(ChildWatch *w, int status, void *userdata) {
        ChildRun *r = userdata;
        r->reaped = true;
        r->wait_status = status;
        r->t_exit = now_usec();
        child_run_maybe_done(r);
}

static void on_run_deadline(evutil_socket_t fd, short what, void *userdata) {
        ChildRun *r = userdata;
        r->timed_out = true;
        child_watch_kill(r->watch, SIGKILL);
        /* Reaped but a grandchild still holds a pipe: stop waiting for EOF. */
        if (r->reaped) {
                capture_close(&r->out);
                capture_close(&r->err);
                child_run_maybe_done(r);
        }
}

static int capture_start(ChildRun *r, Capture *c, int fd) {
        c->fd = fd;
        (void) fcntl(fd, F_SETFL, O_NONBLOCK);
        c->event = event_new(r->base, fd, EV_READ | EV_PERSIST, on_capture, r);
        return c->event && event_add(c->event, NULL) == 0 ? 0 : -ENOMEM;
}

int child_run(struct event_base *base, char *const *argv, char *const *env, size_t max_output, usec_t timeout_usec,
              child_run_handler_t cb, void *userdata, ChildRun **ret) {
        int out[2] = { -EBADF, -EBADF }, err[2] = { -EBADF, -EBADF };
        ChildRun *r = calloc(1, sizeof(ChildRun));
        if (!r)
                return -ENOMEM;
        *r = (ChildRun) { .base = base, .out.fd = -EBADF, .err.fd = -EBADF, .max_output = max_output, .cb = cb,
                          .userdata = userdata };
        int e = pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ? -errno : 0;
        ChildSpawn cs = { .argv = argv, .env = env, .stdout_fd = out[1], .stderr_fd = err[1] };
        Child child;
        e = e ?: child_spawn(&cs, &child);
        safe_close(out[1]);
        safe_close(err[1]);
        if (e < 0) {
                safe_close(out[0]);
                safe_close(err[0]);
                free(r);
                return e;
        }
        r->t_fork = child.t_fork;
        e = child_watch_new(base, &child, on_run_exit, r, &r->watch);
        if (e < 0) {
                (void) kill(child.pid, SIGKILL);
                (void) waitpid(child.pid, NULL, 0);
                safe_close(child.pidfd);
        }
        e = e ?: capture_start(r, &r->out, TAKE_FD(out[0]));
        e = e ?: capture_start(r, &r->err, TAKE_FD(err[0]));
        if (e == 0 && timeout_usec > 0) {
                struct timeval tv = { .tv_sec = (time_t) (timeout_usec / USEC_PER_SEC),
                                      .tv_usec = (suseconds_t) (timeout_usec % USEC_PER_SEC) };
                r->deadline = evtimer_new(base, on_run_deadline, r);
                e = r->deadline && evtimer_add(r->deadline, &tv) == 0 ? 0 : -ENOMEM;
        }
        safe_close(out[0]);
        safe_close(err[0]);
        if (e < 0) {
                r->cb = NULL;
                child_run_free(r);
                return e;
        }
        if (ret)
                *ret = r;
        return 0;
}

void child_run_kill(ChildRun *r) {
        if (r)
                child_watch_kill(r->watch, SIGKILL);
}

ChildRun *child_run_free(ChildRun *r) {
        if (!r)
                return NULL;
        child_watch_free(r->watch);
        capture_close(&r->out);
        capture_close(&r->err);
        if (r->deadline)
                event_free(r->deadline);
        free(r->out.buf);
        free(r->err.buf);
        free(r);
        return NULL;
}
