/* proc.c — /proc readers (see proc.h). */
#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>

#include "util.h"

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* Reads a small /proc file into buf (NUL-terminated); bytes read or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return n;
}

double proc_cpu_seconds(pid_t pid) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (read_small(path, buf, sizeof(buf)) < 0)
                return -1;
        const char *p = strrchr(buf, ')');
        unsigned long long utime, stime;
        /* After "pid (comm)": state and 10 more fields, then utime and stime. */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return -1;
        return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}

bool proc_stopped(pid_t pid) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (read_small(path, buf, sizeof(buf)) < 0)
                return false;
        const char *p = strrchr(buf, ')');
        return p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

int proc_thread_count(pid_t pid) {
        char path[64], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        ssize_t n = read_small(path, buf, sizeof(buf));
        if (n < 0)
                return (int) n;
        const char *t = strstr(buf, "\nThreads:");
        return t ? atoi(t + strlen("\nThreads:")) : -EBADMSG;
}

int proc_pressure_some_usec(const char *resource, uint64_t *ret) {
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/pressure/%s", resource);
        ssize_t n = read_small(path, buf, sizeof(buf));
        if (n < 0)
                return (int) n;
        const char *t = strncmp(buf, "some ", 5) == 0 ? strstr(buf, " total=") : NULL;
        if (!t)
                return -EBADMSG;
        *ret = strtoull(t + strlen(" total="), NULL, 10);
        return 0;
}

int proc_sched_usec(pid_t pid, uint64_t *run_us, uint64_t *wait_us) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
        _cleanup_(closedirp) DIR *d = opendir(path);
        if (!d)
                return -errno;
        uint64_t run_ns = 0, wait_ns = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                char file[384], buf[128];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(file, sizeof(file), "%s/%s/schedstat", path, de->d_name);
                unsigned long long r, w;
                if (read_small(file, buf, sizeof(buf)) > 0 && sscanf(buf, "%llu %llu", &r, &w) == 2) {
                        run_ns += r;
                        wait_ns += w;
                }
        }
        *run_us = run_ns / 1000;
        *wait_us = wait_ns / 1000;
        return 0;
}

int proc_meminfo_kib(const char *key, uint64_t *ret) {
        char buf[4096];
        ssize_t n = read_small("/proc/meminfo", buf, sizeof(buf));
        if (n < 0)
                return (int) n;
        size_t klen = strlen(key);
        for (const char *p = buf; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
                        *ret = strtoull(p + klen + 1, NULL, 10);
                        return 0;
                }
        return -ENOENT;
}

size_t proc_self_fd_count(void) {
        _cleanup_(closedirp) DIR *d = opendir("/proc/self/fd");
        size_t n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
                n += de->d_name[0] != '.';
        return n > 0 ? n - 1 : 0; /* not the one reading the directory */
}

uint64_t proc_self_cpu_usec(void) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return 0;
        return (uint64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL +
               (uint64_t) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int proc_drop_caches(void) {
        sync();
        _cleanup_close_ int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "3\n", 2) != 2)
                return -errno;
        return 0;
}
