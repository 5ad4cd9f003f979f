/* proc.h — small readers of /proc and /sys for the runner: a process's CPU
 * time and thread count, and the page-cache drop done between runs on
 * request. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* CPU seconds (user + system) pid has used, or -1 if unknown. */
double proc_cpu_seconds(pid_t pid);
/* pid is in the stopped state (/proc/PID/stat 'T': SIGSTOP, or 't': a tracer's stop). */
bool proc_stopped(pid_t pid);
/* Number of threads of pid (/proc/PID/status "Threads:"), or -errno. */
int proc_thread_count(pid_t pid);
/* The "some" stall total (microseconds) of /proc/pressure/RESOURCE ("cpu",
 * "io", "memory"): time at least one task waited for it.  -ENOENT where the
 * kernel has no PSI (before 4.20, or booted psi=0). */
int proc_pressure_some_usec(const char *resource, uint64_t *ret);
/* Summed over pid's live threads (/proc/PID/task/TID/schedstat): time on a
 * CPU and time runnable but waiting for one, microseconds.  -errno. */
int proc_sched_usec(pid_t pid, uint64_t *run_us, uint64_t *wait_us);
/* A /proc/meminfo field ("MemAvailable"), KiB; -errno. */
int proc_meminfo_kib(const char *key, uint64_t *ret);
/* Open fds of this process (/proc/self/fd entries). */
size_t proc_self_fd_count(void);
/* CPU time (user + system) this process has used, microseconds. */
uint64_t proc_self_cpu_usec(void);
/* sync + write 3 to /proc/sys/vm/drop_caches (needs root); -errno. */
int proc_drop_caches(void);
