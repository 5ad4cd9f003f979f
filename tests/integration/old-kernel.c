/* old-kernel.c — runs a program as if on a Linux 4.19 kernel, as far as
 * system calls go: a seccomp filter makes every system call added after 4.19
 * fail with ENOSYS (what 4.19 answers for a number it does not know), and
 * the few newer *flags* we know of fail with EINVAL (what 4.19 answers for
 * an unknown flag or id type).  The filter is inherited across fork and
 * exec, so the program's children (QEMU, kvm-sample, …) see the same kernel.
 *
 *   old-kernel [--print-filter] PROGRAM [ARGS...]
 *
 * 4.19's last x86-64 system call is rseq (334); Linux 5.1 began the numbers
 * shared by every architecture at 424 (pidfd_send_signal), so "nr >= 424"
 * is the same cut on every architecture with that common table.  Numbers in
 * the x32 range (bit 30) are >= 424 as well and fail alike.  What a 4.19
 * kernel lacks outside system calls (PSI in /proc/pressure, Pss_Anon in
 * smaps_rollup) cannot be hidden this way; the daemon's handling of those
 * is checked by unit tests on recorded /proc text. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FIRST_AFTER_4_19 424   /* pidfd_send_signal, Linux 5.1 */
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000 /* Linux 5.2 */
#endif
#ifndef P_PIDFD
#define P_PIDFD 3              /* waitid(P_PIDFD, …), Linux 5.4 */
#endif

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LOAD_ARG0_LO BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define ENOSYS_RET RET(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA))
#define EINVAL_RET RET(SECCOMP_RET_ERRNO | (EINVAL & SECCOMP_RET_DATA))

static struct sock_filter filter[] = {
        LOAD_NR,
        /* 0: anything from 5.1 on */
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, FIRST_AFTER_4_19, 0, 1),
        ENOSYS_RET,
        /* clone(CLONE_PIDFD, …): 4.19 has no such flag (the low word of
         * arg0 holds the flags on every ABI) */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3),
        LOAD_ARG0_LO,
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_PIDFD, 0, 5),
        EINVAL_RET,
        /* waitid(P_PIDFD, …): 4.19 has no such id type */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_waitid, 0, 3),
        LOAD_ARG0_LO,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, P_PIDFD, 0, 1),
        EINVAL_RET,
        RET(SECCOMP_RET_ALLOW),
};

int main(int argc, char **argv) {
        int first = 1;
        if (argc > 1 && strcmp(argv[1], "--print-filter") == 0) {
                printf("ENOSYS for system call numbers >= %d; EINVAL for clone(CLONE_PIDFD) and waitid(P_PIDFD)\n",
                       FIRST_AFTER_4_19);
                first = 2;
                if (argc == 2)
                        return 0;
        }
        if (argc <= first) {
                fprintf(stderr, "usage: old-kernel [--print-filter] PROGRAM [ARGS...]\n");
                return 2;
        }
        struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
        /* Without no_new_privs an unprivileged process may not install a
         * filter; with it, a setuid program run under us cannot escape it. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                perror("old-kernel: PR_SET_NO_NEW_PRIVS");
                return 1;
        }
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
                perror("old-kernel: PR_SET_SECCOMP");
                return 1;
        }
        execvp(argv[first], argv + first);
        fprintf(stderr, "old-kernel: cannot run %s: %s\n", argv[first], strerror(errno));
        return 127;
}
