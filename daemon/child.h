/* child.h — how virtlabd starts and supervises every child process (VMMs,
 * kvm-sample, version probes), in one place:
 *   child_spawn()     fork + exec: stdin /dev/null, chosen fds for stdout and
 *                     stderr, a few fds inherited on purpose (all others are
 *                     close-on-exec), PR_SET_PDEATHSIG(SIGKILL) re-checked
 *                     against a parent that died before it took effect, exec
 *                     failures reported synchronously (not as exit 127);
 *   ChildWatch        the exit of one child on the event loop (a pidfd, a
 *                     persistent event, so a spurious wake-up loses nothing;
 *                     where the kernel has no pidfd_open — Linux < 5.3,
 *                     valgrind — SIGCHLD on the loop through a signalfd,
 *                     blocked meanwhile, and waitpid for each watched pid
 *                     only), signals sent only to a child not yet reaped;
 *   ChildRun          a whole short-lived program: output captured (bounded),
 *                     a deadline, one callback after exit *and* EOF. */
#pragma once

#include <event2/event.h>
#include <sched.h>
#include <sys/types.h>

#include "util.h"

typedef struct ChildSpawn {
        char *const *argv;        /* argv[0] is the path to exec */
        char *const *env;         /* "NAME=value" entries added to the environment, may be NULL */
        int stdout_fd;            /* becomes fd 1 (-EBADF: /dev/null) */
        int stderr_fd;            /* becomes fd 2 (-EBADF: /dev/null) */
        const int *inherit_fds;   /* close-on-exec is cleared on exactly these (the argv names them) */
        size_t n_inherit_fds;     /* entries in inherit_fds */
        const cpu_set_t *affinity; /* pin the child to these CPUs, NULL to inherit */
        /* Return right after fork(): Child.exec_fd then tells how exec went
         * (child_exec_result).  On a busy host the child may wait many ms
         * for a CPU before it execs; a daemon starting a hundred VMs must
         * not wait with it. */
        bool exec_async;
} ChildSpawn;

typedef struct Child {
        pid_t pid;                /* the process */
        int pidfd;                /* readable when it exits; -EBADF without pidfd_open */
        usec_t t_fork;            /* monotonic, just before fork() */
        usec_t t_exec;            /* monotonic, exec() succeeded (0 with exec_async) */
        int exec_fd;              /* exec_async: readable once exec succeeded or failed; else -EBADF */
} Child;

/* Probes which kernel features supervision can use (pidfd_open,
 * close_range) once, and logs once which fallbacks are in use; child_spawn()
 * calls it too, so calling it is optional. */
void child_probe(void);
/* "pidfd", or "sigchld" where the kernel lacks pidfd_open. */
const char *child_supervision(void);

/* Wait status passed to on_exit when the child was reaped by someone else
 * (a bug elsewhere: waitpid(-1), SIGCHLD ignored): no real status matches it. */
#define CHILD_STATUS_LOST (-1)

/* Forks and execs.  On success *ret holds the pid and a pidfd (the caller
 * owns both; a ChildWatch can take them); on failure nothing is left running
 * and -errno says why (the errno of a failed exec, e.g. -ENOENT). */
int child_spawn(const ChildSpawn *c, Child *ret);
/* Reads exec_fd (non-blocking): 0 while the child has not exec'd yet, 1
 * once it did (*ret_errno 0) or failed to (*ret_errno its errno). */
int child_exec_result(int exec_fd, int *ret_errno);
/* Raises our soft RLIMIT_NOFILE to the hard limit (a hundred VMs need
 * ~1000 fds); children get the limit we started with back. */
int child_raise_nofile(void);
/* Our soft RLIMIT_NOFILE now. */
size_t child_nofile_limit(void);

typedef struct ChildWatch ChildWatch;
/* Called once, from the loop, after the child was reaped. */
typedef void (*child_exit_handler_t)(ChildWatch *w, int wait_status, void *userdata);

/* Watches c (takes its pid and pidfd) on base; on failure the caller still
 * owns both. */
int child_watch_new(struct event_base *base, const Child *c, child_exit_handler_t on_exit, void *userdata,
                    ChildWatch **ret);
/* Sends sig if the child has not been reaped yet (never to a recycled pid). */
void child_watch_kill(ChildWatch *w, int sig);
pid_t child_watch_pid(const ChildWatch *w);   /* 0 once reaped */
bool child_watch_running(const ChildWatch *w);
/* Frees; a child still running is SIGKILLed and reaped synchronously, so
 * none outlives its watch.  on_exit is not called.  Returns NULL. */
ChildWatch *child_watch_free(ChildWatch *w);

/* Describes a wait status: "exited with status 1", "killed by SIGSYS (…)". */
void child_describe_status(int wait_status, char *buf, size_t size);

typedef struct ChildRun ChildRun;
typedef struct ChildRunResult {
        int wait_status;          /* from waitpid; meaningful unless timed_out and never reaped */
        bool timed_out;           /* killed at the deadline */
        const char *out;          /* its stdout, NUL-terminated (at most the cap) */
        size_t out_len;           /* bytes in out */
        const char *err;          /* its stderr, likewise */
        size_t err_len;           /* bytes in err */
        usec_t t_fork, t_exit;    /* monotonic: start and reap */
} ChildRunResult;
/* Called once after the child was reaped and both pipes reached EOF (or the
 * deadline killed it); the result is borrowed for the call.  The ChildRun is
 * freed right after the callback returns. */
typedef void (*child_run_handler_t)(const ChildRunResult *r, void *userdata);

/* Starts argv with stdout and stderr captured (each up to max_output bytes;
 * the rest is read and dropped so the child never blocks) and killed after
 * timeout_usec (0 = none).  On failure to start returns -errno and calls
 * nothing. */
int child_run(struct event_base *base, char *const *argv, char *const *env, size_t max_output, usec_t timeout_usec,
              child_run_handler_t cb, void *userdata, ChildRun **ret);
/* SIGKILLs the child; the callback still follows (timed_out stays false). */
void child_run_kill(ChildRun *r);
/* Frees without calling the callback; a running child is killed and reaped. */
ChildRun *child_run_free(ChildRun *r);
