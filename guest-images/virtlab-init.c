/* virtlab-init.c — PID 1 of the virtlab guest initramfs.
 *
 * The host side parses the console, so the output here is a protocol,
 * defined in daemon/guest-protocol.h (marker, job frame, result line, boot
 * port writes); run:PATH's stdout/stderr is the job text.  Every line goes out in a single write() so it is not split by our own
 * buffering.  The job is chosen by virtlab.job= on the kernel command line:
 * boot (default), hold, shell, run:PATH.  Afterwards the VM powers off by
 * rebooting (QEMU runs with -no-reboot, the kernel with reboot=t), unless
 * virtlab.hold=1 asks to stay up after the result (like job hold) so the
 * host can inspect a guest that printed something first.
 *
 * PID 1 must never exit or crash: every failure is reported and survived. */

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>

#include "guest-protocol.h"
#include "util.h"

#define JOB_DEFAULT "boot"
#define JOB_NAME_MAX 1024
#define LINE_MAX_BYTES 4096

#define RUN_ARGS_MAX 32
#define CONSOLE_LOGLEVEL_DEFAULT "1" /* only KERN_EMERG (panics) reach the console after init starts */
static const char marker[] = GUEST_INIT_MARKER "\n";

static uint64_t boottime_ns(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* Writes buf, retrying only on a short write, which a tty can do. */
static void write_full(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, buf, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                buf += n;
                len -= (size_t) n;
        }
}

/* Formats one console line (newline added) and emits it with one write(). */
_printf_(1, 2) static void out_line(const char *fmt, ...) {
        char buf[LINE_MAX_BYTES];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n > sizeof(buf) - 2)
                n = sizeof(buf) - 2;
        buf[n++] = '\n';
        write_full(STDOUT_FILENO, buf, (size_t) n);
}

/* The kernel hands us /dev/console as 0/1/2 only if it could open it;
 * otherwise fill the gaps ourselves so children inherit a console. */
static void console_ensure(void) {
        int fd;

        if (fcntl(STDOUT_FILENO, F_GETFD) >= 0 && fcntl(STDERR_FILENO, F_GETFD) >= 0 &&
            fcntl(STDIN_FILENO, F_GETFD) >= 0)
                return;
        fd = open("/dev/console", O_RDWR | O_NOCTTY);
        if (fd < 0)
                return;
        for (int i = 0; i <= 2; i++)
                if (fcntl(i, F_GETFD) < 0)
                        (void) dup2(fd, i);
        if (fd > 2)
                (void) close(fd);
}

static void mount_one(const char *type, const char *where, unsigned long flags) {
        (void) mkdir(where, 0755);
        if (mount(type, where, type, flags, NULL) < 0 && errno != EBUSY)
                out_line("virtlab-init: mount %s on %s failed, ignoring: %m", type, where);
}

/* Reads a small /proc or /sys file into buf (NUL-terminated); -errno. */
static int read_small(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while (len < size - 1) {
                ssize_t n = read(fd, buf + len, size - 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        return 0;
}

/* strlcpy: job names longer than the buffer are cut, not rejected, so the
 * frame still names what was asked for. */
static void copy_str(char *dst, size_t size, const char *src) {
        size_t n = strnlen(src, size - 1);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

/* Finds the last KEY=value on the kernel command line, honouring the
 * kernel's double quotes (param="a b").  Falls back to def. */
static void param_from_cmdline(const char *cmdline, const char *key, const char *def, char *job, size_t size) {
        size_t klen = strlen(key);
        const char *p = cmdline;

        copy_str(job, size, def);
        for (;;) {
                char word[LINE_MAX_BYTES];
                size_t n = 0;
                bool quoted = false;

                while (*p == ' ' || *p == '\t' || *p == '\n')
                        p++;
                if (!*p)
                        return;
                for (; *p && (quoted || (*p != ' ' && *p != '\t' && *p != '\n')); p++) {
                        if (*p == '"')
                                quoted = !quoted;
                        else if (n < sizeof(word) - 1)
                                word[n++] = *p;
                }
                word[n] = '\0';
                if (strncmp(word, key, klen) == 0 && word[klen])
                        copy_str(job, size, word + klen);
        }
}

/* Appends s to buf as a JSON string literal. */
static void json_string(char *buf, size_t size, const char *s) {
        size_t len = strlen(buf);

        if (len + 1 >= size)
                return;
        buf[len++] = '"';
        for (const unsigned char *c = (const unsigned char *) s; *c && len + 8 < size; c++) {
                if (*c == '"' || *c == '\\') {
                        buf[len++] = '\\';
                        buf[len++] = (char) *c;
                } else if (*c < 0x20 || *c == 0x7f)
                        len += (size_t) snprintf(buf + len, size - len, "\\u%04x", *c);
                else
                        buf[len++] = (char) *c;
        }
        buf[len++] = '"';
        buf[len] = '\0';
}

/* Copies /proc/uptime's first field if it looks like a JSON number. */
static void uptime_field(char *out, size_t size) {
        char buf[128];
        size_t n;

        snprintf(out, size, "null");
        if (read_small("/proc/uptime", buf, sizeof(buf)) < 0)
                return;
        n = strspn(buf, "0123456789.");
        if (n == 0 || n >= size || buf[0] == '.')
                return;
        memcpy(out, buf, n);
        out[n] = '\0';
}

static long long meminfo_total_kb(void) {
        char buf[8192];
        const char *p;

        if (read_small("/proc/meminfo", buf, sizeof(buf)) < 0)
                return -1;
        p = strstr(buf, "MemTotal:");
        if (!p)
                return -1;
        return strtoll(p + strlen("MemTotal:"), NULL, 10);
}

static void frame_result(const char *job, int rc, uint64_t t0) {
        char buf[LINE_MAX_BYTES] = "", uptime[64];
        struct utsname u;
        size_t len;

        if (uname(&u) < 0)
                snprintf(u.release, sizeof(u.release), "unknown");
        uptime_field(uptime, sizeof(uptime));

        snprintf(buf, sizeof(buf), GUEST_RESULT_PREFIX "{\"job\":");
        json_string(buf, sizeof(buf), job);
        len = strlen(buf);
        snprintf(buf + len, sizeof(buf) - len,
                 ",\"rc\":%d,\"boottime_at_marker_ns\":%" PRIu64 ",\"boottime_at_result_ns\":%" PRIu64
                 ",\"uptime_s\":%s,\"kernel_release\":",
                 rc, t0, boottime_ns(), uptime);
        json_string(buf, sizeof(buf), u.release);
        len = strlen(buf);
        snprintf(buf + len, sizeof(buf) - len, ",\"nr_cpus\":%ld,\"mem_total_kb\":%lld}",
                 sysconf(_SC_NPROCESSORS_ONLN), meminfo_total_kb());
        out_line("%s", buf);
}

/* Reaps every exited child; returns the status of `pid` in *ret_status
 * if it was among them (returns true then). */
static bool reap(pid_t pid, int *ret_status) {
        bool found = false;

        for (;;) {
                int status;
                pid_t p = waitpid(-1, &status, WNOHANG);

                if (p <= 0)
                        return found;
                if (pid > 0 && p == pid) {
                        *ret_status = status;
                        found = true;
                }
        }
}

static void on_sigchld(int sig) {
}

/* Sleeps until the next SIGCHLD (which stays blocked outside of this, so
 * none is lost between reaping and sleeping). */
static void wait_signal(void) {
        sigset_t none;

        sigemptyset(&none);
        (void) sigsuspend(&none);
}

static _Noreturn void hang(void) {
        for (;;) {
                wait_signal();
                (void) reap(0, NULL);
        }
}

/* The console's output first: the kernel prints its reboot message
 * straight to the UART, past whatever the tty still holds, and that came
 * out inside a benchmark's last line (seen under TCG on a busy host). */
static _Noreturn void power_off(void) {
        (void) tcdrain(STDOUT_FILENO);
        sync();
        (void) reboot(RB_AUTOBOOT);
        out_line("virtlab-init: reboot(RB_AUTOBOOT) failed: %m; staying alive");
        hang();
}

/* /dev/console cannot be a controlling terminal, so an interactive shell
 * gets the real device behind it (the last one listed is /dev/console). */
static void console_take_tty(void) {
        char active[256], path[300], *name;
        int fd;

        if (read_small("/sys/class/tty/console/active", active, sizeof(active)) < 0)
                return;
        active[strcspn(active, "\n")] = '\0';
        name = strrchr(active, ' ');
        name = name ? name + 1 : active;
        if (!*name)
                return;
        snprintf(path, sizeof(path), "/dev/%s", name);
        fd = open(path, O_RDWR | O_NOCTTY);
        if (fd < 0)
                return;
        if (ioctl(fd, TIOCSCTTY, 0) == 0)
                for (int i = 0; i <= 2; i++)
                        (void) dup2(fd, i);
        if (fd > 2)
                (void) close(fd);
}

/* Forks argv[0] with our console as stdio (as its controlling terminal if
 * `interactive`), waits for it while reaping everything else, and returns a
 * shell-style exit code. */
static int run_child(const char *const *argv, bool interactive) {
        sigset_t none;
        int status = 0;
        pid_t pid;

        pid = fork();
        if (pid < 0) {
                out_line("virtlab-init: fork: %m");
                return 126;
        }
        if (pid == 0) {
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                (void) signal(SIGCHLD, SIG_DFL);
                (void) setsid();
                if (interactive)
                        console_take_tty();
                execv(argv[0], (char *const *) argv);
                out_line("virtlab-init: cannot execute '%s': %m", argv[0]);
                _exit(errno == ENOENT ? 127 : 126);
        }
        while (!reap(pid, &status))
                wait_signal();
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 126;
}

/* From here on the console belongs to the frame protocol: a kernel message
 * printed in the middle of a line written by init would corrupt it (the
 * serial driver sends a long write in pieces and printk can slip in between).
 * Messages still reach the kernel log (dmesg); only the console is quieted. */
static void quiet_console(const char *level) {
        int fd = open("/proc/sys/kernel/printk", O_WRONLY | O_CLOEXEC);

        if (fd < 0)
                return;
        write_full(fd, level, strlen(level));
        close(fd);
}

/* Splits "PATH,ARG1,ARG2" (commas, since the kernel command line splits on
 * spaces) into argv, in place. */
static void split_args(char *spec, const char **argv) {
        size_t n = 0;

        for (char *save = NULL, *tok = strtok_r(spec, ",", &save); tok && n < RUN_ARGS_MAX;
             tok = strtok_r(NULL, ",", &save))
                argv[n++] = tok;
        argv[n] = NULL;
}

/* Collects the kernel command line's NAME.PARAM=VALUE words as
 * "PARAM=VALUE ..." for finit_module().  The kernel applies such words only
 * to built-in code; for a module, modprobe passes them, and here we are the
 * modprobe (StratoVirt names its virtio-mmio devices with
 * virtio_mmio.device=... words).  '-' and '_' are the same in module names. */
static void module_params(const char *cmdline, const char *name, char *buf, size_t size) {
        size_t len = 0, nlen = strlen(name);

        buf[0] = '\0';
        for (const char *p = cmdline; *p;) {
                size_t w;
                bool match = true;

                while (*p == ' ' || *p == '\t' || *p == '\n')
                        p++;
                w = strcspn(p, " \t\n");
                if (w <= nlen + 1 || p[nlen] != '.')
                        match = false;
                for (size_t i = 0; match && i < nlen; i++)
                        match = p[i] == name[i] || ((p[i] == '-' || p[i] == '_') && (name[i] == '-' || name[i] == '_'));
                if (match && len + (w - nlen - 1) + 2 < size) {
                        len += (size_t) snprintf(buf + len, size - len, "%s%.*s", len ? " " : "", (int) (w - nlen - 1),
                                                 p + nlen + 1);
                }
                p += w;
        }
}

/* Loads /lib/modules/virtlab/NAME.ko for each NAME in "a,b,c", in order,
 * with its parameters from the kernel command line.  The image builder puts
 * there exactly the modules its parts ship. */
static int load_modules(char *list, const char *cmdline) {
        int r = 0;

        for (char *save = NULL, *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
                char path[PATH_MAX], params[LINE_MAX_BYTES];
                int fd;

                snprintf(path, sizeof(path), "/lib/modules/virtlab/%s.ko", name);
                module_params(cmdline, name, params, sizeof(params));
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || syscall(SYS_finit_module, fd, params, 0) < 0) {
                        if (errno != EEXIST) {
                                out_line("virtlab-init: cannot load module %s: %s", path, strerror(errno));
                                r = -1;
                        }
                }
                if (fd >= 0)
                        close(fd);
        }
        return r;
}

/* StratoVirt's boot_time feature logs guest writes to I/O port 0x3ff with
 * its own timestamps; elsewhere the port is unassigned and the write is
 * ignored.  The serial marker stays the portable measure. */
static void boot_port_write(uint8_t value) {
#if defined(__x86_64__) || defined(__i386__)
        if (ioperm(GUEST_BOOT_PORT, 1, 1) == 0)
                outb(value, GUEST_BOOT_PORT);
#else
        (void) value;
#endif
}

int main(void) {
        char cmdline[LINE_MAX_BYTES], job[JOB_NAME_MAX], modules[JOB_NAME_MAX], hold[8], loglevel[8];
        struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_NOCLDSTOP };
        sigset_t chld;
        bool stay = false;
        uint64_t t0;
        int rc = 0;

        /* Measured before anything else: the host compares this with its own
         * clock for the kernel → init phase. */
        t0 = boottime_ns();
        if (fcntl(STDOUT_FILENO, F_GETFD) < 0)
                console_ensure();
        write_full(STDOUT_FILENO, marker, sizeof(marker) - 1);
        console_ensure();

        /* Run by mistake on a host as root, the power-off would reboot it. */
        if (getpid() != 1) {
                out_line("virtlab-init: not PID 1, refusing to run (this is the guest's init)");
                return 2;
        }
        boot_port_write(GUEST_BOOT_PORT_INIT_STARTED);

        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        (void) sigprocmask(SIG_BLOCK, &chld, NULL);
        (void) sigaction(SIGCHLD, &sa, NULL);

        (void) setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
        mount_one("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        mount_one("sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        mount_one("devtmpfs", "/dev", MS_NOSUID);

        if (read_small("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
                cmdline[0] = '\0';
        param_from_cmdline(cmdline, "virtlab.job=", JOB_DEFAULT, job, sizeof(job));
        param_from_cmdline(cmdline, "virtlab.console_loglevel=", CONSOLE_LOGLEVEL_DEFAULT, loglevel, sizeof(loglevel));
        quiet_console(loglevel);
        param_from_cmdline(cmdline, "virtlab.modules=", "", modules, sizeof(modules));
        param_from_cmdline(cmdline, "virtlab.hold=", "0", hold, sizeof(hold));

        out_line(GUEST_FRAME_BEGIN "job=%s@@", job);
        if (load_modules(modules, cmdline) < 0)
                rc = 126;
        else if (streq(job, "boot"))
                rc = 0;
        else if (streq(job, "hold"))
                stay = true;
        else if (streq(job, "shell")) {
                const char *const sh[] = { "/bin/sh", NULL };

                /* Forked rather than exec'ed so that leaving the shell powers
                 * off instead of panicking the kernel over a dead PID 1. */
                rc = run_child(sh, true);
        } else if (strncmp(job, "run:", 4) == 0 && job[4]) {
                const char *prog[RUN_ARGS_MAX + 1];

                split_args(job + 4, prog);
                rc = run_child(prog, false);
        } else {
                out_line("virtlab-init: unknown job '%s' (known: boot, hold, shell, run:PATH)", job);
                rc = 127;
        }
        out_line(GUEST_FRAME_END "job=%s rc=%d@@", job, rc);
        frame_result(job, rc, t0);
        boot_port_write(GUEST_BOOT_PORT_JOB_DONE);

        if (stay || streq(hold, "1"))
                hang();
        power_off();
}
