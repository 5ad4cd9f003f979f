/* proc.h — small readers of /proc and /sys for the runner: a process's CPU
 * time and thread count, and the page-cache drop done between runs on
 * request. */
#pragma once

#include <sys/types.h>

/* CPU seconds (user + system) pid has used, or -1 if unknown. */
double proc_cpu_seconds(pid_t pid);
/* Number of threads of pid (/proc/PID/status "Threads:"), or -errno. */
int proc_thread_count(pid_t pid);
/* sync + write 3 to /proc/sys/vm/drop_caches (needs root); -errno. */
int proc_drop_caches(void);
