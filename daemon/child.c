/* child.c — the one way virtlabd starts and supervises child processes
 * (child.h).
 *
 * Divisions: spawn (fork, exec, error pipe) · watch (exit on the loop) ·
 * run (capture + deadline) · status text. */
#include "child.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* ---- spawn ------------------------------------------------------------ */

/* Marks every fd above stderr close-on-exec, whoever opened it (a library
 * may not have), so the child inherits only what it is given on purpose. */
static void mark_all_cloexec(void) {
#ifdef SYS_close_range
        if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
                return;
#endif
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

/* exec_async: the pidfd now, the exec's outcome later through exec_fd. */
static int child_watch_async(Child *ch, int exec_fd, Child *ret) {
        ch->pidfd = (int) syscall(SYS_pidfd_open, ch->pid, 0);
        if (ch->pidfd < 0) {
                int e = -errno;
                (void) kill(ch->pid, SIGKILL);
                (void) waitpid(ch->pid, NULL, 0);
                safe_close(exec_fd);
                return e;
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
        ch.pidfd = (int) syscall(SYS_pidfd_open, ch.pid, 0);
        if (ch.pidfd < 0) {
                int e = -errno;
                (void) kill(ch.pid, SIGKILL);
                (void) waitpid(ch.pid, NULL, 0);
                return e;
        }
        *ret = ch;
        return 0;
}

/* ---- watch ------------------------------------------------------------ */

struct ChildWatch {
        pid_t pid;                 /* 0 once reaped */
        int pidfd;                 /* readable once the child exited */
        struct event *event;       /* on pidfd, persistent */
        child_exit_handler_t on_exit; /* owner's callback */
        void *userdata;            /* for on_exit */
};

static void on_pidfd(evutil_socket_t fd, short what, void *userdata) {
        ChildWatch *w = userdata;
        int status = 0;
        pid_t p = w->pid > 0 ? waitpid(w->pid, &status, WNOHANG) : 0;
        if (p <= 0)
                return; /* spurious, or not exited yet: the persistent event stays armed */
        w->pid = 0;
        event_del(w->event);
        if (w->on_exit)
                w->on_exit(w, status, w->userdata);
}

int child_watch_new(struct event_base *base, const Child *c, child_exit_handler_t on_exit, void *userdata,
                    ChildWatch **ret) {
        ChildWatch *w = calloc(1, sizeof(ChildWatch));
        if (!w)
                return -ENOMEM;
        *w = (ChildWatch) { .pid = c->pid, .pidfd = c->pidfd, .on_exit = on_exit, .userdata = userdata };
        w->event = event_new(base, w->pidfd, EV_READ | EV_PERSIST, on_pidfd, w);
        if (!w->event || event_add(w->event, NULL) < 0) {
                w->on_exit = NULL;
                child_watch_free(w);
                return -ENOMEM;
        }
        *ret = w;
        return 0;
}

void child_watch_kill(ChildWatch *w, int sig) {
        if (!w || w->pid <= 0)
                return;
        /* Through the pidfd: even a pid recycled behind our back is safe. */
        if (syscall(SYS_pidfd_send_signal, w->pidfd, sig, NULL, 0) < 0 && errno == ENOSYS)
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
        }
        if (w->event)
                event_free(w->event);
        safe_close(w->pidfd);
        free(w);
        return NULL;
}

void child_describe_status(int st, char *buf, size_t size) {
        if (WIFEXITED(st))
                snprintf(buf, size, "exited with status %d", WEXITSTATUS(st));
        else if (WIFSIGNALED(st))
                snprintf(buf, size, "killed by SIG%s%s", sigabbrev_np(WTERMSIG(st)) ?: "?",
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
