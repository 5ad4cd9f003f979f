/* child.h — how virtlabd starts every child process (VMMs, kvm-sample):
 * stdin /dev/null, chosen fds for stdout/stderr, a few fds inherited on
 * purpose, PR_SET_PDEATHSIG so no child outlives a killed daemon, and exec
 * failures reported synchronously instead of as a mysterious exit 127. */
#pragma once

#include <sched.h>
#include <sys/types.h>

#include "util.h"

typedef struct ChildSpawn {
        char *const *argv;        /* argv[0] is the path to exec */
        char *const *env;         /* "NAME=value" entries added to the environment, may be NULL */
        int stdout_fd;            /* becomes fd 1 */
        int stderr_fd;            /* becomes fd 2 */
        const int *inherit_fds;   /* close-on-exec is cleared on exactly these (the argv names them) */
        size_t n_inherit_fds;     /* entries in inherit_fds */
        const cpu_set_t *affinity; /* pin the child to these CPUs, NULL to inherit */
} ChildSpawn;

typedef struct Child {
        pid_t pid;                /* the process */
        int pidfd;                /* readable when it exits */
        usec_t t_fork;            /* monotonic, just before fork() */
        usec_t t_exec;            /* monotonic, exec() succeeded */
} Child;

/* Forks and execs.  On success *ret holds the pid and a pidfd (the caller
 * owns both); on failure nothing is left running and -errno says why (the
 * errno of a failed exec, e.g. -ENOENT). */
int child_spawn(const ChildSpawn *c, Child *ret);
