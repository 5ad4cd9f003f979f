/* child.c — fork/exec with an error pipe: the child writes its errno to a
 * close-on-exec pipe only if exec fails, so the parent's read returns 0
 * bytes exactly when exec succeeded. */
#include "child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

_Noreturn static void child_exec(const ChildSpawn *c, int errpipe) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigset_t none;
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(c->stdout_fd, STDOUT_FILENO) < 0 ||
            dup2(c->stderr_fd, STDERR_FILENO) < 0)
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

int child_spawn(const ChildSpawn *c, Child *ret) {
        int errpipe[2];
        if (pipe2(errpipe, O_CLOEXEC) < 0)
                return -errno;
        Child ch = { .pidfd = -EBADF, .t_fork = now_usec() };
        ch.pid = fork();
        if (ch.pid < 0) {
                int e = -errno;
                safe_close(errpipe[0]);
                safe_close(errpipe[1]);
                return e;
        }
        if (ch.pid == 0) {
                safe_close(errpipe[0]);
                child_exec(c, errpipe[1]);
        }
        safe_close(errpipe[1]);
        int child_errno = 0;
        ssize_t k = read(errpipe[0], &child_errno, sizeof(child_errno));
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
