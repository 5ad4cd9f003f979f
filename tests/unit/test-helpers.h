/* test-helpers.h — what the unit tests that use real components share:
 * private temporary directories, small file helpers, a bounded way to run a
 * libevent loop until something happened, and process checks (no zombie
 * left, a pid really gone).  Header-only; every helper is static inline so a
 * test that does not use one gets no warning. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

/* Call first in main(): TAP lines go out whole (stdout line-buffered, so
 * the stderr logging of the code under test cannot land inside one), and
 * that logging stays quiet (warnings and errors) unless VIRTLAB_TEST_LOG
 * names a level ("debug", "info", …). */
static inline void test_init(void) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        const char *level = getenv("VIRTLAB_TEST_LOG");
        int l = level ? log_level_from_string(level) : -EINVAL;
        log_max_level = l >= 0 ? l : LOG_LEVEL_WARNING;
}

/* ---- files ------------------------------------------------------------ */

/* A fresh 0700 directory under $TMPDIR (malloc'd path); fails the test if it cannot. */
static inline char *test_tmpdir(void) {
        const char *base = getenv("TMPDIR");
        char *p = NULL;
        assert_true(asprintf(&p, "%s/virtlab-unit-XXXXXX", base && *base ? base : "/tmp") > 0);
        assert_non_null(mkdtemp(p));
        return p;
}

static inline int rm_rf_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

/* Removes a tree (a test's temporary directory); NULL is fine. */
static inline void rm_rf(const char *path) {
        if (path)
                (void) nftw(path, rm_rf_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* "a/b", malloc'd. */
static inline char *path_join(const char *a, const char *b) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", a, b) > 0);
        return p;
}

/* Writes text to path with mode (0755 for a script); fails the test on error. */
static inline void write_file(const char *path, const char *text, mode_t mode) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, mode), 0);
}

/* The whole file, NUL-terminated (malloc'd), its size in *ret_len if
 * non-NULL; NULL if it cannot be read. */
static inline char *read_file_len(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        char *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len + 4096 + 1 > cap) {
                        cap = (cap + 4096) * 2;
                        char *nb = realloc(buf, cap);
                        assert_non_null(nb);
                        buf = nb;
                }
                size_t k = fread(buf + len, 1, 4096, f);
                len += k;
                if (k < 4096)
                        break;
        }
        fclose(f);
        buf[len] = 0;
        if (ret_len)
                *ret_len = len;
        return buf;
}

static inline char *read_file(const char *path) {
        return read_file_len(path, NULL);
}

/* Entries in a directory other than . and .., or -1 if it does not exist. */
static inline int dir_entries(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        int n = 0;
        if (!d)
                return -1;
        while ((de = readdir(d)))
                n += !streq(de->d_name, ".") && !streq(de->d_name, "..");
        closedir(d);
        return n;
}

/* Open file descriptors of this process. */
static inline int count_fds(void) {
        return dir_entries("/proc/self/fd") - 1; /* minus the one opendir() used */
}

/* ---- the event loop --------------------------------------------------- */

static inline void loop_tick(evutil_socket_t fd, short what, void *userdata) {
}

/* One bounded turn of the loop: returns after the active events ran, or
 * after at most 10 ms when nothing happens. */
static inline void loop_once(struct event_base *base) {
        struct event *tick = evtimer_new(base, loop_tick, NULL);
        struct timeval tv = { .tv_usec = 10 * 1000 };
        assert_non_null(tick);
        assert_int_equal(evtimer_add(tick, &tv), 0);
        assert_true(event_base_loop(base, EVLOOP_ONCE) >= 0);
        event_free(tick);
}

/* Runs the loop until cond holds; fails the test after timeout_ms. */
#define LOOP_UNTIL(base, cond, timeout_ms)                                                                    \
        do {                                                                                                 \
                usec_t _lu_end = now_usec() + (usec_t) (timeout_ms) * USEC_PER_MSEC;                         \
                while (!(cond)) {                                                                            \
                        if (now_usec() > _lu_end)                                                            \
                                fail_msg("%s:%d: timed out after %d ms waiting for: %s", __FILE__, __LINE__, \
                                         (int) (timeout_ms), #cond);                                         \
                        loop_once(base);                                                                     \
                }                                                                                            \
        } while (0)

/* Runs the loop for ms milliseconds: lets anything that should NOT happen
 * get its chance before the test checks it did not. */
static inline void loop_for(struct event_base *base, unsigned ms) {
        usec_t end = now_usec() + (usec_t) ms * USEC_PER_MSEC;
        while (now_usec() < end)
                loop_once(base);
}

/* libevent's timers run on CLOCK_MONOTONIC_COARSE and its cached loop
 * time: one may fire this much before now_usec() says it is due. */
#define TIMER_SLACK_USEC (50 * USEC_PER_MSEC)

/* ---- processes -------------------------------------------------------- */

/* True when this process has no child at all, reaped or not: nothing was
 * left running and no zombie waits. */
static inline bool no_children(void) {
        return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

/* True when pid no longer runs: gone, or a zombie (an orphan's zombie is
 * init's to reap, which in a container may never happen). */
static inline bool pid_dead(pid_t pid) {
        char path[64], buf[512];
        if (kill(pid, 0) < 0 && errno == ESRCH)
                return true;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return true;
        size_t k = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[k] = 0;
        const char *paren = strrchr(buf, ')'); /* comm may hold spaces */
        return !paren || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X';
}

/* Waits up to ms for pid_dead(pid). */
static inline bool wait_pid_dead(pid_t pid, unsigned ms) {
        usec_t end = now_usec() + (usec_t) ms * USEC_PER_MSEC;
        while (!pid_dead(pid)) {
                if (now_usec() > end)
                        return false;
                (void) usleep(10 * 1000);
        }
        return true;
}

/* The pid a test script wrote into path (first line), 0 if none yet. */
static inline pid_t read_pid_file(const char *path) {
        _cleanup_free_ char *s = read_file(path);
        return s ? (pid_t) atoi(s) : 0;
}
