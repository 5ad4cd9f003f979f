/* boot-harness.c — the minimal independent boot timer that bench/boot-overhead
 * compares virtlabd against.  It shares no code with virtlabd on purpose.
 *
 * Usage: boot-harness [--timeout SEC] [--marker TEXT] -- VMM-ARGV...
 *
 * VMM-ARGV is exactly the argv virtlabd recorded (runs[i].vmm_argv).  Every
 * "-chardev socket,...,fd=N" in it gets a fresh AF_UNIX socketpair whose child
 * end is dup'ed to fd N in the VMM, so the argv runs byte-for-byte unchanged.
 * The chardev named by "-serial chardev:ID" is the console: it is read until
 * a complete line containing the marker; the other fds (QMP) are held open and
 * never read, as a harness that does no QMP at all would.  A VMM that takes
 * no fds (StratoVirt) writes its console to "-serial file,path=P": P is made a
 * FIFO and opened before the spawn, as virtlabd does; its QMP socket is
 * never connected.
 *
 * Timestamps are CLOCK_MONOTONIC and defined as virtlabd defines them: t=0 just
 * before fork(); the console byte and marker times are taken when read()
 * returns the data (a line counts once its '\n' has been read).  Then the VMM is
 * SIGKILLed and reaped.  Prints one JSON object on stdout:
 *   {"boot_ms":…, "t_exec_ms":…, "t_console_ms":…, "t_kernel_ms":…}
 * Exit status: 0 marker seen, 1 VMM failed or timed out, 2 usage error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 8
#define LINE_MAX_LEN (64 * 1024)

typedef struct Channel {
        char id[64];   /* chardev id */
        int target;    /* fd number named in the argv */
        int ours;      /* our end */
        int theirs;    /* the VMM's end (before dup2) */
} Channel;

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int usage(void) {
        fprintf(stderr, "usage: boot-harness [--timeout SEC] [--marker TEXT] -- VMM-ARGV...\n");
        return 2;
}

/* Finds "id=X" and "fd=N" in a -chardev socket,... value. */
static bool parse_chardev(const char *v, Channel *c) {
        if (strncmp(v, "socket,", 7) != 0)
                return false;
        const char *id = strstr(v, "id="), *fd = strstr(v, "fd=");
        if (!id || !fd || (id != v + 7 && id[-1] != ',') || fd[-1] != ',')
                return false;
        id += 3;
        size_t n = strcspn(id, ",");
        if (n == 0 || n >= sizeof(c->id))
                return false;
        memcpy(c->id, id, n);
        c->id[n] = 0;
        char *end;
        long t = strtol(fd + 3, &end, 10);
        if (end == fd + 3 || (*end && *end != ',') || t < 3 || t > 1000)
                return false;
        c->target = (int) t;
        return true;
}

_Noreturn static void child(char **argv, Channel *ch, size_t nch, int diag, int errpipe) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigset_t none;
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(diag, 1) < 0 || dup2(diag, 2) < 0)
                goto fail;
        /* First move every VMM end (and errpipe) above all targets, then into
         * place: a target number may be taken by one of our own fds. */
        int above = 3;
        for (size_t i = 0; i < nch; i++)
                if (ch[i].target >= above)
                        above = ch[i].target + 1;
        int e = fcntl(errpipe, F_DUPFD_CLOEXEC, above);
        if (e < 0)
                goto fail;
        errpipe = e;
        for (size_t i = 0; i < nch; i++)
                if ((ch[i].theirs = fcntl(ch[i].theirs, F_DUPFD_CLOEXEC, above)) < 0)
                        goto fail;
        for (size_t i = 0; i < nch; i++)
                if (dup2(ch[i].theirs, ch[i].target) < 0) /* dup2 clears close-on-exec */
                        goto fail;
        execv(argv[0], argv);
fail:;
        int err = errno;
        (void) !write(errpipe, &err, sizeof(err));
        _exit(127);
}

static void print_diag(int diag) {
        char buf[4096];
        ssize_t k;
        if (lseek(diag, 0, SEEK_SET) < 0)
                return;
        while ((k = read(diag, buf, sizeof(buf))) > 0)
                fwrite(buf, 1, (size_t) k, stderr);
}

int main(int argc, char **argv) {
        const char *marker = "VIRTLAB-INIT-MARKER";
        double timeout_s = 120;
        int i = 1;
        for (; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0) {
                        i++;
                        break;
                } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
                        timeout_s = atof(argv[++i]);
                else if (strcmp(argv[i], "--marker") == 0 && i + 1 < argc)
                        marker = argv[++i];
                else
                        return usage();
        }
        if (i >= argc || timeout_s <= 0 || !*marker)
                return usage();
        char **vargv = argv + i;
        int vargc = argc - i;

        Channel ch[MAX_FDS];
        size_t nch = 0;
        const char *serial_id = NULL;
        for (int k = 0; k + 1 < vargc; k++) {
                if (strcmp(vargv[k], "-chardev") == 0) {
                        Channel c = { .ours = -1, .theirs = -1 };
                        if (parse_chardev(vargv[k + 1], &c)) {
                                if (nch == MAX_FDS)
                                        return usage();
                                ch[nch++] = c;
                        }
                } else if (strcmp(vargv[k], "-serial") == 0 && strncmp(vargv[k + 1], "chardev:", 8) == 0)
                        serial_id = vargv[k + 1] + 8;
        }
        Channel *serial = NULL;
        for (size_t k = 0; k < nch; k++)
                if (serial_id && strcmp(ch[k].id, serial_id) == 0)
                        serial = &ch[k];
        int console = -1;
        for (int k = 0; !serial && k + 1 < vargc; k++)
                if (strcmp(vargv[k], "-serial") == 0 && strncmp(vargv[k + 1], "file,path=", 10) == 0) {
                        const char *fifo = vargv[k + 1] + 10;
                        (void) unlink(fifo);
                        if (mkfifo(fifo, 0600) < 0 || (console = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
                                perror("boot-harness: serial FIFO");
                                return 1;
                        }
                }
        if (!serial && console < 0) {
                fprintf(stderr, "boot-harness: argv has no -serial chardev:ID backed by -chardev socket,id=ID,fd=N, "
                                "nor -serial file,path=P\n");
                return 2;
        }
        for (size_t k = 0; k < nch; k++) {
                int sp[2];
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
                        perror("boot-harness: socketpair");
                        return 1;
                }
                ch[k].ours = sp[0];
                ch[k].theirs = sp[1];
        }
        /* The VMM's stdout+stderr: an unlinked file never blocks it and is
         * shown only if the boot fails. */
        int diag = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        int errpipe[2];
        if (diag < 0 || pipe2(errpipe, O_CLOEXEC) < 0) {
                perror("boot-harness: open /tmp or pipe");
                return 1;
        }
        (void) signal(SIGPIPE, SIG_IGN);

        double t0 = now_ms();
        pid_t pid = fork();
        if (pid < 0) {
                perror("boot-harness: fork");
                return 1;
        }
        if (pid == 0)
                child(vargv, ch, nch, diag, errpipe[1]);
        close(errpipe[1]);
        int child_errno = 0;
        ssize_t k = read(errpipe[0], &child_errno, sizeof(child_errno));
        double t_exec = now_ms();
        close(errpipe[0]);
        for (size_t c = 0; c < nch; c++)
                close(ch[c].theirs);
        if (serial)
                console = serial->ours;
        if (k == sizeof(child_errno)) {
                (void) waitpid(pid, NULL, 0);
                fprintf(stderr, "boot-harness: cannot execute %s: %s\n", vargv[0], strerror(child_errno));
                return 1;
        }

        static char line[LINE_MAX_LEN];
        size_t len = 0;
        double t_console = -1, t_kernel = -1, t_marker = -1;
        const char *why = "timed out";
        while (t_marker < 0) {
                double left = timeout_s * 1e3 - (now_ms() - t0);
                if (left <= 0)
                        break;
                struct pollfd p = { .fd = console, .events = POLLIN };
                int r = poll(&p, 1, (int) left + 1);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        continue; /* timeout is checked at the top */
                char buf[4096];
                ssize_t n = read(console, buf, sizeof(buf));
                double t = now_ms();
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0) {
                        why = "console closed (VMM exited)";
                        break;
                }
                if (t_console < 0)
                        t_console = t;
                for (ssize_t b = 0; b < n && t_marker < 0; b++) {
                        if (buf[b] != '\n' && len < sizeof(line) - 1) {
                                if (buf[b])
                                        line[len++] = buf[b];
                                continue;
                        }
                        line[len] = 0;
                        if (t_kernel < 0 && strstr(line, "Linux version "))
                                t_kernel = t;
                        if (strstr(line, marker))
                                t_marker = t;
                        len = 0;
                }
        }
        (void) kill(pid, SIGKILL);
        int st = 0;
        (void) waitpid(pid, &st, 0);
        if (t_marker < 0) {
                fprintf(stderr, "boot-harness: no line containing '%s': %s\n", marker, why);
                print_diag(diag);
                return 1;
        }
        printf("{\"boot_ms\": %.3f, \"t_exec_ms\": %.3f, \"t_console_ms\": %.3f, \"t_kernel_ms\": %.3f}\n",
               t_marker - t0, t_exec - t0, t_console - t0, t_kernel < 0 ? -1.0 : t_kernel - t0);
        return 0;
}
