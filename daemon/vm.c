/* vm.c — spawns a VMM and watches it: its exit (child.c), a socket for its
 * serial console (split into timestamped lines), a pipe for its stdout and
 * stderr, its own log file (path mode), and a QMP client whose events reach
 * the owner.  The child gets PR_SET_PDEATHSIG so even a SIGKILLed daemon
 * leaves no VMM behind.
 *
 * Divisions: channels (fds or paths) · spawn · console · diagnostics and log
 * · QMP · exit (reap + EOF). */
#include "vm.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "child.h"
#include "files.h"
#include "utf8.h"
#include "vm-driver.h"

/* Line and tail limits (a fuzz target compiles this file with small ones). */
#ifndef CONSOLE_LINE_MAX
#define CONSOLE_LINE_MAX (64 * 1024)
#endif
#ifndef DIAG_MAX
#define DIAG_MAX (8 * 1024)
#endif
#ifndef LOG_LINE_MAX
#define LOG_LINE_MAX 1024
#endif
#define QMP_CONNECT_RETRY_MAX_USEC (20 * USEC_PER_MSEC)
/* After the process is reaped, how long its QMP socket may take to report EOF. */
#define QMP_EOF_GRACE_USEC (1 * USEC_PER_SEC)

/* Splits a byte stream into lines of at most LOG_LINE_MAX (longer lines keep their start). */
typedef struct LineSplitter {
        char *buf;                 /* partial line, NULL until the first byte */
        size_t len;                /* bytes in buf */
        size_t allocated;          /* size of buf */
} LineSplitter;

struct Vm {
        struct event_base *base;   /* loop everything runs on */
        const VmDriver *driver;    /* what runs the VMM (vm-driver.h) */
        void *driver_state;        /* the driver's; the Vm itself for the process driver */
        const VmmBackend *backend; /* which VMM this is */
        VmCallbacks cb;            /* owner's callbacks */
        void *userdata;            /* passed to cb */
        char **argv;               /* exact argv exec'd */
        ChildWatch *child;         /* the process */
        int wait_status;           /* from the reap */
        bool reaped;               /* the process is gone */
        bool exited;               /* on_exit delivered */
        int console_fd;            /* our end of the serial socket */
        int diag_fd;               /* VMM stdout+stderr */
        int exec_fd;               /* tells when the VMM exec'd (child_exec_result), -EBADF after */
        struct event *exec_event;  /* on exec_fd */
        int qmp_fd;                /* our end of the QMP socket before the client owns it */
        char *dir;                 /* path mode: private directory holding the sockets */
        char *qmp_path;            /* socket path for VMMs that cannot take an fd */
        char *serial_path;         /* path mode: the FIFO the VMM writes its serial console to */
        char *log_path;            /* the VMM's own log file, NULL if it writes none */
        bool log_in_dir;           /* log_path lives in dir and goes with it */
        int log_fd;                /* reads log_path as it grows */
        size_t log_bytes;          /* read from log_fd so far */
        int inotify_fd;            /* IN_MODIFY on log_path */
        struct event *log_event;   /* on inotify_fd */
        LineSplitter log_lines;    /* log_fd's partial line */
        LineSplitter diag_lines;   /* diag_fd's partial line */
        struct event *console_event; /* on console_fd */
        struct event *diag_event;  /* on diag_fd */
        struct event *qmp_retry;   /* connect-retry timer (path mode) */
        struct event *eof_grace;   /* reaped, waiting for QMP EOF */
        usec_t qmp_retry_delay;    /* current backoff */
        QmpClient *qmp;            /* NULL until connected */
        bool qmp_ready;            /* negotiation done */
        bool qmp_closed;           /* the connection ended (or will never exist) */
        usec_t t_spawn, t_exec, t_console, t_qmp; /* monotonic timestamps */
        char *line;                /* partial console line (grows to CONSOLE_LINE_MAX) */
        size_t line_len;           /* bytes in line */
        size_t line_allocated;     /* size of line */
        FILE *console_log;         /* timestamped copy of the console */
        size_t console_log_bytes;  /* written to console_log */
        char *mask;                /* starred out of console lines (VmSpawnOptions.console_mask), NULL: none */
        char *diag;                /* tail of the VMM's own output (grows to DIAG_MAX), NULL before any */
        size_t diag_len;           /* bytes in diag */
        size_t diag_allocated;     /* size of diag */
};

static void on_child_exit(ChildWatch *w, int status, void *userdata);
static void on_console(evutil_socket_t fd, short what, void *userdata);
static void on_diag(evutil_socket_t fd, short what, void *userdata);
static void on_qmp_retry(evutil_socket_t fd, short what, void *userdata);
static void on_vmm_log(evutil_socket_t fd, short what, void *userdata);
static void on_eof_grace(evutil_socket_t fd, short what, void *userdata);

pid_t vm_pid(const Vm *vm) { return vm->driver_state ? vm->driver->pid(vm->driver_state) : 0; }
QmpClient *vm_qmp(const Vm *vm) { return vm->qmp_ready && !vm->qmp_closed ? vm->qmp : NULL; }
char *const *vm_argv(const Vm *vm) { return vm->argv; }
usec_t vm_t_spawn(const Vm *vm) { return vm->t_spawn; }
usec_t vm_t_exec(const Vm *vm) { return vm->t_exec; }
usec_t vm_t_console(const Vm *vm) { return vm->t_console; }
usec_t vm_t_qmp(const Vm *vm) { return vm->t_qmp; }
bool vm_running(const Vm *vm) { return vm->driver_state && vm->driver->running(vm->driver_state); }
const char *vm_diagnostics(const Vm *vm) { return vm->diag ?: ""; }

/* Buffers grow as text arrives: a hundred quiet VMs cost little.  Makes
 * room for need bytes (need <= max); false if it cannot. */
static bool grow(char **buf, size_t *allocated, size_t need, size_t max) {
        if (need <= *allocated)
                return true;
        size_t n = *allocated ? *allocated : 256;
        while (n < need)
                n *= 2;
        n = n < max ? n : max;
        char *p = n >= need ? realloc(*buf, n) : NULL;
        if (!p)
                return false;
        *buf = p;
        *allocated = n;
        return true;
}
const char *vm_log_path(const Vm *vm) { return vm->log_path; }

/* ---- channels --------------------------------------------------------- */

/* "DIR/NAME" if it fits a sockaddr_un (the only limit that matters for the
 * sockets), else NULL with -ENAMETOOLONG in *r. */
static char *socket_path(const char *dir, const char *name, int *r) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s", dir, name) < 0) {
                *r = -ENOMEM;
                return NULL;
        }
        if (strlen(p) >= sizeof(((struct sockaddr_un *) NULL)->sun_path)) {
                free(p);
                *r = -ENAMETOOLONG;
                return NULL;
        }
        return p;
}

/* The VMM's own log goes beside the console log when there is one (it is
 * the place a KVM error shows up), else into the VM's directory.  Created
 * empty now so it is followed from its first byte. */
static int make_log(Vm *vm, const VmSpawnOptions *o, VmConfig *c) {
        size_t len = o->console_log ? strlen(o->console_log) : 0;
        if (len > 4 && streq(o->console_log + len - 4, ".log")) {
                if (asprintf(&vm->log_path, "%.*s.vmm.log", (int) (len - 4), o->console_log) < 0)
                        vm->log_path = NULL;
        } else {
                vm->log_in_dir = true;
                if (asprintf(&vm->log_path, "%s/vmm.log", vm->dir) < 0)
                        vm->log_path = NULL;
        }
        if (!vm->log_path)
                return -ENOMEM;
        vm->log_fd = open(vm->log_path, O_RDONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0600);
        if (vm->log_fd < 0)
                return -errno;
        c->log_path = vm->log_path;
        return 0;
}

/* Path mode (VMMs that cannot inherit fds): a fresh 0700 directory under the
 * run dir per VM holds the QMP socket the VMM listens on and the FIFO it
 * writes its serial console to, so nothing stale from an earlier VM can be
 * mistaken for this one; vm_free() removes it on every exit path.  The
 * console is a FIFO we open before the VMM starts, not a socket it listens
 * on: a listening VMM (StratoVirt's server,nowait) drops what the guest
 * prints before we connect, and a noop guest prints its marker in the first
 * milliseconds.  We open it read-write, so it never reads as EOF while the
 * VMM has yet to open it; the end of the console is the VMM's exit. */
static int make_paths(Vm *vm, const VmSpawnOptions *o, VmConfig *c) {
        int r = 0;
        if (!o->run_dir)
                return -EINVAL;
        if (asprintf(&vm->dir, "%s/vm-XXXXXX", o->run_dir) < 0) {
                vm->dir = NULL;
                return -ENOMEM;
        }
        if (!mkdtemp(vm->dir)) {
                r = -errno;
                vm->dir = (free(vm->dir), NULL);
                return r;
        }
        vm->qmp_path = socket_path(vm->dir, "qmp.sock", &r);
        if (!vm->qmp_path)
                return r;
        if (asprintf(&vm->serial_path, "%s/serial.fifo", vm->dir) < 0) {
                vm->serial_path = NULL;
                return -ENOMEM;
        }
        if (mkfifo(vm->serial_path, 0600) < 0)
                return -errno;
        vm->console_fd = open(vm->serial_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (vm->console_fd < 0)
                return -errno;
        c->qmp_path = vm->qmp_path;
        c->serial_path = vm->serial_path;
        return 0;
}

/* Creates the socketpairs the VMM inherits (or its socket paths) and fills the config. */
static int make_channels(Vm *vm, const VmSpawnOptions *o, VmConfig *c, int *ret_serial, int *ret_qmp) {
        int sp[2], qp[2];
        int r = o->backend->caps.takes_fds ? 0 : make_paths(vm, o, c);
        if (r == 0 && o->backend->caps.writes_log)
                r = vm->dir || o->console_log ? make_log(vm, o, c) : -EINVAL;
        if (r < 0 || !o->backend->caps.takes_fds)
                return r;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return -errno;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qp) < 0) {
                int e = -errno;
                safe_close(sp[0]);
                safe_close(sp[1]);
                return e;
        }
        vm->console_fd = sp[0];
        vm->qmp_fd = qp[0];
        c->serial_fd = *ret_serial = sp[1];
        c->qmp_fd = *ret_qmp = qp[1];
        return 0;
}

/* ---- QMP -------------------------------------------------------------- */

static void vm_maybe_exit(Vm *vm);

static void qmp_state_changed(QmpClient *c, int error, void *userdata) {
        Vm *vm = userdata;
        if (error < 0) {
                log_debug_errno(error, "QMP connection of pid %d ended: %m", (int) vm_pid(vm));
                vm->qmp_closed = true;
                /* A plain EOF is how every VMM exits; anything else leaves a live VMM out of our control. */
                if (!vm->reaped && vm->cb.on_qmp_failed && (error != -ECONNRESET || qmp_client_eof_mid_message(c)))
                        vm->cb.on_qmp_failed(vm, error == -ECONNRESET ? -EPIPE : error, vm->userdata);
                vm_maybe_exit(vm);
                return;
        }
        vm->t_qmp = qmp_client_greeting_usec(c);
        vm->qmp_ready = true;
        if (vm->cb.on_qmp_ready)
                vm->cb.on_qmp_ready(vm, vm->userdata);
}

static void qmp_event(QmpClient *c, const char *event, json_t *data, usec_t t, void *userdata) {
        Vm *vm = userdata;
        if (vm->cb.on_qmp_event)
                vm->cb.on_qmp_event(vm, t, event, data, vm->userdata);
}

static int attach_qmp(Vm *vm, int fd) {
        int r = qmp_client_new(vm->base, fd, vm->backend->qmp_flags, &vm->qmp);
        if (r < 0)
                return r;
        qmp_client_set_handlers(vm->qmp, qmp_state_changed, qmp_event, vm);
        return 0;
}

/* ---- console ---------------------------------------------------------- */

static void console_log_line(Vm *vm, usec_t t, const char *line) {
        if (!vm->console_log || vm->console_log_bytes > VM_CONSOLE_LOG_MAX)
                return;
        int k = fprintf(vm->console_log, "[%12.6f] %s\n", (double) (t - vm->t_spawn) / USEC_PER_SEC, line);
        vm->console_log_bytes += k > 0 ? (size_t) k : 0;
        if (vm->console_log_bytes > VM_CONSOLE_LOG_MAX)
                fprintf(vm->console_log, "[virtlab: console log truncated at %zu MiB; the run goes on]\n",
                        VM_CONSOLE_LOG_MAX >> 20);
        fflush(vm->console_log);
}

/* A guest that echoes the console password must not put it in our log. */
static void mask_secret(const Vm *vm, char *text) {
        size_t n = vm->mask ? strlen(vm->mask) : 0;
        for (char *p = n ? strstr(text, vm->mask) : NULL; p; p = strstr(p + n, vm->mask))
                memset(p, '*', n);
}

static void deliver_line(Vm *vm, usec_t t) {
        if (!grow(&vm->line, &vm->line_allocated, vm->line_len + 1, CONSOLE_LINE_MAX))
                return;
        vm->line[vm->line_len] = 0;
        if (vm->line_len > 0 && vm->line[vm->line_len - 1] == '\r')
                vm->line[--vm->line_len] = 0;
        mask_secret(vm, vm->line);
        console_log_line(vm, t, vm->line);
        /* The log keeps the raw bytes; everything downstream wants UTF-8. */
        (void) utf8_scrub(vm->line);
        vm->line_len = 0;
        if (vm->cb.on_console_line)
                vm->cb.on_console_line(vm, t, vm->line, vm->userdata);
}

static void console_consume(Vm *vm, const char *buf, size_t len, usec_t t) {
        if (vm->t_console == 0 && len > 0)
                vm->t_console = t;
        for (size_t i = 0; i < len; i++) {
                if (buf[i] == '\n') {
                        deliver_line(vm, t);
                        continue;
                }
                if (buf[i] == 0)
                        continue;
                if (!grow(&vm->line, &vm->line_allocated, vm->line_len + 2, CONSOLE_LINE_MAX))
                        continue; /* out of memory: the byte is lost, not the VM */
                vm->line[vm->line_len++] = buf[i];
                if (vm->line_len == CONSOLE_LINE_MAX - 1)
                        deliver_line(vm, t);
        }
}

/* The unfinished line to the owner (a copy: the line goes on growing). */
static void deliver_partial(Vm *vm, usec_t t) {
        if (!vm->cb.on_console_partial || vm->line_len == 0)
                return;
        _cleanup_free_ char *text = strndup(vm->line, vm->line_len);
        if (!text)
                return;
        mask_secret(vm, text);
        (void) utf8_scrub(text);
        vm->cb.on_console_partial(vm, t, text, vm->userdata);
}

/* Reads what is available; returns 0 at EOF, 1 if more may come. */
static int console_drain(Vm *vm) {
        char buf[4096];
        if (vm->console_fd < 0)
                return 0;
        for (;;) {
                ssize_t k = read(vm->console_fd, buf, sizeof(buf));
                if (k > 0) {
                        usec_t t = now_usec();
                        console_consume(vm, buf, (size_t) k, t);
                        deliver_partial(vm, t);
                        continue;
                }
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return 1;
                return 0;
        }
}

static void on_console(evutil_socket_t fd, short what, void *userdata) {
        Vm *vm = userdata;
        if (console_drain(vm) == 0) {
                if (vm->line_len > 0)
                        deliver_line(vm, now_usec());
                event_del(vm->console_event);
        }
}

int vm_console_write(Vm *vm, const char *buf, size_t len) {
        /* A path-mode console is our FIFO: what we wrote we would read back. */
        if (!vm->backend->caps.console_input || vm->serial_path || vm->console_fd < 0)
                return -EOPNOTSUPP;
        while (len > 0) {
                ssize_t k = write(vm->console_fd, buf, len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                buf += k;
                len -= (size_t) k;
        }
        return 0;
}

/* Starts reading the serial console from fd (owned from here on). */
static int attach_console(Vm *vm, int fd) {
        vm->console_fd = fd;
        (void) fcntl(vm->console_fd, F_SETFL, O_NONBLOCK);
        vm->console_event = event_new(vm->base, vm->console_fd, EV_READ | EV_PERSIST, on_console, vm);
        if (!vm->console_event)
                return -ENOMEM;
        return event_add(vm->console_event, NULL) < 0 ? -EIO : 0;
}

/* ---- diagnostics and log ---------------------------------------------- */

/* Keeps the tail: the last lines say why a VMM died.  k < DIAG_MAX. */
static void diag_append(Vm *vm, const char *buf, size_t k) {
        if (!grow(&vm->diag, &vm->diag_allocated, vm->diag_len + k + 1 < DIAG_MAX ? vm->diag_len + k + 1 : DIAG_MAX,
                  DIAG_MAX))
                return;
        if (vm->diag_len + k > DIAG_MAX - 1) {
                size_t drop = vm->diag_len + k - (DIAG_MAX - 1);
                memmove(vm->diag, vm->diag + drop, vm->diag_len - drop);
                vm->diag_len -= drop;
        }
        memcpy(vm->diag + vm->diag_len, buf, k);
        vm->diag_len += k;
        vm->diag[vm->diag_len] = 0;
}

static void split_lines(Vm *vm, LineSplitter *ls, VmLogSource src, const char *buf, size_t k, usec_t t) {
        for (size_t i = 0; i < k; i++) {
                if (buf[i] != '\n') {
                        if (ls->len < LOG_LINE_MAX - 1 && grow(&ls->buf, &ls->allocated, ls->len + 2, LOG_LINE_MAX))
                                ls->buf[ls->len++] = buf[i];
                        continue; /* an overlong line keeps its start */
                }
                if (!grow(&ls->buf, &ls->allocated, ls->len + 1, LOG_LINE_MAX))
                        continue;
                ls->buf[ls->len] = 0;
                ls->len = 0;
                (void) utf8_scrub(ls->buf);
                if (vm->cb.on_vmm_log_line)
                        vm->cb.on_vmm_log_line(vm, t, src, ls->buf, vm->userdata);
        }
}

static void diag_drain(Vm *vm) {
        char buf[1024];
        ssize_t k;
        while ((k = read(vm->diag_fd, buf, sizeof(buf))) > 0) {
                diag_append(vm, buf, (size_t) k);
                split_lines(vm, &vm->diag_lines, VM_LOG_STDERR, buf, (size_t) k, now_usec());
        }
        if (k == 0 && vm->diag_event)
                event_del(vm->diag_event);
}

static void on_diag(evutil_socket_t fd, short what, void *userdata) {
        diag_drain(userdata);
}

/* Reads what the VMM appended to its log: into the diagnostics tail (so a
 * failure message can quote it) and, line by line, to the owner. */
static void vmm_log_drain(Vm *vm) {
        char buf[4096];
        ssize_t k;
        if (vm->log_fd < 0)
                return;
        while ((k = read(vm->log_fd, buf, sizeof(buf))) > 0) {
                vm->log_bytes += (size_t) k;
                diag_append(vm, buf, (size_t) k < DIAG_MAX / 2 ? (size_t) k : DIAG_MAX / 2);
                split_lines(vm, &vm->log_lines, VM_LOG_FILE, buf, (size_t) k, now_usec());
                if (vm->log_bytes > VM_VMM_LOG_MAX) {
                        vm->log_fd = safe_close(vm->log_fd);
                        if (vm->cb.on_log_overflow)
                                vm->cb.on_log_overflow(vm, vm->userdata);
                        return;
                }
        }
}

static void on_vmm_log(evutil_socket_t fd, short what, void *userdata) {
        Vm *vm = userdata;
        char events[4096];
        while (read(vm->inotify_fd, events, sizeof(events)) > 0)
                ;
        vmm_log_drain(vm);
}

/* Follows the VMM's log file through inotify.  Best effort: a VMM log we
 * cannot watch only costs its phase and KVM-error lines. */
static void start_log_watch(Vm *vm) {
        vm->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (vm->inotify_fd < 0 || inotify_add_watch(vm->inotify_fd, vm->log_path, IN_MODIFY) < 0) {
                log_debug_errno(-errno, "Failed to watch %s, ignoring: %m", vm->log_path);
                vm->inotify_fd = safe_close(vm->inotify_fd);
                return;
        }
        vm->log_event = event_new(vm->base, vm->inotify_fd, EV_READ | EV_PERSIST, on_vmm_log, vm);
        if (!vm->log_event || event_add(vm->log_event, NULL) < 0)
                log_debug("Failed to watch %s, ignoring", vm->log_path);
}

/* ---- spawn ------------------------------------------------------------ */

/* Path mode only: connects to the QMP socket, retrying with a short
 * backoff while the VMM lives.  It is connected exactly once: StratoVirt
 * serves one client at a time, so a second connection would only wait
 * behind the first. */
static void on_qmp_retry(evutil_socket_t fd, short what, void *userdata) {
        Vm *vm = userdata;
        if (vm->reaped)
                return;
        int s = qmp_connect_unix(vm->qmp_path);
        if (s >= 0 && attach_qmp(vm, s) == 0)
                return;
        safe_close(s);
        vm->qmp_retry_delay = vm->qmp_retry_delay * 2 > QMP_CONNECT_RETRY_MAX_USEC ? QMP_CONNECT_RETRY_MAX_USEC
                                                                                  : vm->qmp_retry_delay * 2;
        struct timeval tv = { .tv_sec = 0, .tv_usec = (suseconds_t) vm->qmp_retry_delay };
        (void) evtimer_add(vm->qmp_retry, &tv);
}

/* The VMM exec'd (t_exec), or could not: then it exits 127 and its
 * diagnostics say why. */
static void exec_done(Vm *vm) {
        int child_errno = 0;
        if (vm->exec_fd < 0 || child_exec_result(vm->exec_fd, &child_errno) == 0)
                return;
        vm->t_exec = now_usec();
        if (child_errno) {
                char msg[256];
                int k = snprintf(msg, sizeof(msg), "virtlabd: cannot execute %s: %s\n", vm->argv[0], strerror(child_errno));
                diag_append(vm, msg, k > 0 && (size_t) k < sizeof(msg) ? (size_t) k : 0);
        }
        event_del(vm->exec_event);
        vm->exec_fd = safe_close(vm->exec_fd);
}

static void on_exec(evutil_socket_t fd, short what, void *userdata) {
        exec_done(userdata);
}

static int start_watchers(Vm *vm) {
        vm->exec_event = event_new(vm->base, vm->exec_fd, EV_READ | EV_PERSIST, on_exec, vm);
        if (!vm->exec_event || event_add(vm->exec_event, NULL) < 0)
                return -ENOMEM;
        (void) fcntl(vm->diag_fd, F_SETFL, O_NONBLOCK);
        vm->diag_event = event_new(vm->base, vm->diag_fd, EV_READ | EV_PERSIST, on_diag, vm);
        vm->qmp_retry = evtimer_new(vm->base, on_qmp_retry, vm);
        vm->eof_grace = evtimer_new(vm->base, on_eof_grace, vm);
        if (!vm->diag_event || !vm->qmp_retry || !vm->eof_grace)
                return -ENOMEM;
        if (event_add(vm->diag_event, NULL) < 0)
                return -EIO;
        if (vm->log_fd >= 0)
                start_log_watch(vm);
        int r = attach_console(vm, TAKE_FD(vm->console_fd));
        if (r < 0 || vm->qmp_fd >= 0)
                return r;
        /* Path mode: the QMP socket appears once the VMM has parsed its command line. */
        struct timeval tv = { .tv_usec = (suseconds_t) vm->qmp_retry_delay };
        return evtimer_add(vm->qmp_retry, &tv) < 0 ? -EIO : 0;
}

static int spawn_process(Vm *vm, const VmSpawnOptions *o) {
        VmConfig c = o->config;
        _cleanup_close_ int serial_child = -EBADF, qmp_child = -EBADF;
        int diag[2];
        int r = make_channels(vm, o, &c, &serial_child, &qmp_child);
        if (r < 0)
                return r;
        /* The usual exec failures, now; the rest arrive through exec_fd. */
        if (access(o->binary, X_OK) < 0)
                return -errno;
        r = o->backend->build_argv(o->backend, o->binary, &c, &vm->argv);
        if (r < 0)
                return r;
        if (pipe2(diag, O_CLOEXEC) < 0)
                return -errno;
        vm->diag_fd = diag[0];
        int inherit[2 + 2 * CALLER_FILES_MAX];
        size_t n_inherit = 0;
        if (serial_child >= 0)
                inherit[n_inherit++] = serial_child;
        if (qmp_child >= 0)
                inherit[n_inherit++] = qmp_child;
        for (size_t i = 0; i < o->n_inherit_fds && n_inherit < ELEMENTSOF(inherit); i++)
                inherit[n_inherit++] = o->inherit_fds[i];
        for (size_t i = 0; i < c.n_disks && n_inherit < ELEMENTSOF(inherit); i++)
                if (!c.disks[i].path)
                        inherit[n_inherit++] = c.disks[i].fd;
        ChildSpawn cs = { .argv = vm->argv, .env = (char *const *) vm->backend->env, .stdout_fd = diag[1],
                          .stderr_fd = diag[1], .inherit_fds = inherit, .n_inherit_fds = n_inherit,
                          .affinity = o->affinity, .exec_async = true };
        Child child;
        r = child_spawn(&cs, &child);
        safe_close(diag[1]);
        if (r < 0)
                return r;
        vm->t_spawn = child.t_fork;
        vm->exec_fd = child.exec_fd;
        r = child_watch_new(vm->base, &child, on_child_exit, vm, &vm->child);
        if (r < 0) {
                (void) kill(child.pid, SIGKILL);
                (void) waitpid(child.pid, NULL, 0);
                safe_close(child.pidfd);
                return r;
        }
        r = start_watchers(vm);
        if (r < 0)
                return r;
        return vm->qmp_fd >= 0 ? attach_qmp(vm, TAKE_FD(vm->qmp_fd)) : 0;
}

/* The process driver: the VMM is our child (child.c); its state is the Vm. */
static int process_start(Vm *vm, const VmSpawnOptions *o, void **ret_state, char **ret_error) {
        int r = spawn_process(vm, o);
        if (vm->child)
                *ret_state = vm; /* a child to reap even when the rest failed */
        return r;
}
static void process_kill(void *state) { child_watch_kill(((Vm *) state)->child, SIGKILL); }
static void process_free(void *state) { ((Vm *) state)->child = child_watch_free(((Vm *) state)->child); }
static pid_t process_pid(const void *state) { return child_watch_pid(((const Vm *) state)->child); }
static bool process_running(const void *state) { return child_watch_running(((const Vm *) state)->child); }

static const VmDriver vm_driver_process = {
        .name = "process", .start = process_start, .kill = process_kill, .free = process_free,
        .pid = process_pid, .running = process_running,
};

int vm_spawn(struct event_base *base, const VmSpawnOptions *o, const VmCallbacks *cb, void *userdata, Vm **ret) {
        Vm *vm = calloc(1, sizeof(Vm));
        if (!vm)
                return -ENOMEM;
        *vm = (Vm) { .base = base, .backend = o->backend, .cb = *cb, .userdata = userdata, .console_fd = -EBADF,
                     .diag_fd = -EBADF, .exec_fd = -EBADF, .qmp_fd = -EBADF, .log_fd = -EBADF, .inotify_fd = -EBADF,
                     .qmp_retry_delay = USEC_PER_MSEC };
        if (o->console_mask && *o->console_mask && !(vm->mask = strdup(o->console_mask))) {
                vm_free(vm);
                return -ENOMEM;
        }
        if (o->console_log) {
                vm->console_log = fopen(o->console_log, "we");
                if (!vm->console_log) {
                        int e = -errno;
                        vm_free(vm);
                        return e;
                }
        }
        vm->driver = o->backend->runner == VMM_RUNNER_LIBVIRT ? &vm_driver_libvirt : &vm_driver_process;
        char *why = NULL;
        int r = vm->driver->start(vm, o, &vm->driver_state, &why);
        if (r < 0) {
                if (o->ret_error)
                        *o->ret_error = why;
                else
                        free(why);
                vm_free(vm);
                return r;
        }
        *ret = vm;
        return 0;
}

/* ---- exit ------------------------------------------------------------- */

/* Both ends are in: the process was reaped and QMP has closed (STYLE §13). */
static void vm_maybe_exit(Vm *vm) {
        if (vm->exited || !vm->reaped || !(vm->qmp_closed || !vm->qmp))
                return;
        vm->exited = true;
        if (vm->eof_grace)
                event_del(vm->eof_grace);
        if (vm->cb.on_exit)
                vm->cb.on_exit(vm, vm->wait_status, vm->userdata);
}

static void on_eof_grace(evutil_socket_t fd, short what, void *userdata) {
        Vm *vm = userdata;
        /* Someone else still holds the VMM's end (a grandchild): stop waiting. */
        log_debug("QMP of a reaped VMM did not reach EOF within 1 s; closing it");
        vm->qmp_closed = true;
        vm_maybe_exit(vm);
}

static void on_child_exit(ChildWatch *w, int status, void *userdata) {
        Vm *vm = userdata;
        vm->reaped = true;
        vm->wait_status = status;
        if (vm->qmp_retry)
                event_del(vm->qmp_retry);
        /* The process is gone, so everything it wrote is already queued for us. */
        exec_done(vm);
        (void) console_drain(vm);
        if (vm->line_len > 0)
                deliver_line(vm, now_usec());
        diag_drain(vm);
        vmm_log_drain(vm);
        if (vm->qmp && !vm->qmp_closed) {
                struct timeval tv = { .tv_sec = QMP_EOF_GRACE_USEC / USEC_PER_SEC };
                (void) evtimer_add(vm->eof_grace, &tv);
        }
        vm_maybe_exit(vm);
}

void vm_kill(Vm *vm) {
        if (vm && vm->driver_state)
                vm->driver->kill(vm->driver_state);
}

static void free_event(struct event *e) {
        if (e)
                event_free(e);
}

Vm *vm_free(Vm *vm) {
        if (!vm)
                return NULL;
        if (vm->driver_state)
                vm->driver->free(vm->driver_state); /* ends the VMM synchronously */
        free_event(vm->exec_event);
        safe_close(vm->exec_fd);
        free_event(vm->console_event);
        free_event(vm->diag_event);
        free_event(vm->qmp_retry);
        free_event(vm->eof_grace);
        free_event(vm->log_event);
        if (vm->qmp) {
                qmp_client_set_handlers(vm->qmp, NULL, NULL, NULL);
                qmp_client_unref(vm->qmp);
        }
        /* StratoVirt may remove its sockets itself; either way none is left. */
        if (vm->qmp_path)
                (void) unlink(vm->qmp_path);
        if (vm->serial_path)
                (void) unlink(vm->serial_path);
        if (vm->log_path && vm->log_in_dir)
                (void) unlink(vm->log_path);
        if (vm->dir)
                (void) rmdir(vm->dir);
        if (vm->mask)
                explicit_bzero(vm->mask, strlen(vm->mask));
        free(vm->mask);
        free(vm->line);
        free(vm->diag);
        free(vm->log_lines.buf);
        free(vm->diag_lines.buf);
        free(vm->qmp_path);
        free(vm->serial_path);
        free(vm->log_path);
        free(vm->dir);
        safe_close(vm->log_fd);
        safe_close(vm->inotify_fd);
        safe_close(vm->console_fd);
        safe_close(vm->diag_fd);
        safe_close(vm->qmp_fd);
        if (vm->console_log)
                fclose(vm->console_log);
        strv_free(vm->argv);
        free(vm);
        return NULL;
}

/* ---- what drivers tell their Vm (vm-driver.h) -------------------------- */

struct event_base *vm_driver_base(Vm *vm) { return vm->base; }

void vm_driver_started(Vm *vm, usec_t t_spawn, usec_t t_exec, char **argv) {
        vm->t_spawn = t_spawn;
        vm->t_exec = t_exec;
        strv_free(vm->argv);
        vm->argv = argv;
}

int vm_driver_attach_qmp(Vm *vm, int fd) {
        if (!vm->eof_grace && !(vm->eof_grace = evtimer_new(vm->base, on_eof_grace, vm))) {
                safe_close(fd);
                return -ENOMEM;
        }
        int r = attach_qmp(vm, fd);
        if (r < 0)
                safe_close(fd);
        return r;
}

void vm_driver_console(Vm *vm, const char *buf, size_t len, usec_t t) {
        console_consume(vm, buf, len, t);
        deliver_partial(vm, t);
}

void vm_driver_log_line(Vm *vm, usec_t t, const char *line) {
        diag_append(vm, line, strnlen(line, DIAG_MAX / 2));
        diag_append(vm, "\n", 1);
        split_lines(vm, &vm->log_lines, VM_LOG_FILE, line, strlen(line), t);
        split_lines(vm, &vm->log_lines, VM_LOG_FILE, "\n", 1, t);
}

void vm_driver_diag(Vm *vm, const char *text) {
        diag_append(vm, text, strnlen(text, DIAG_MAX / 2));
}

void vm_driver_exited(Vm *vm, int wait_status) {
        on_child_exit(NULL, wait_status, vm);
}
