/* vm-libvirt.c — the libvirt VM driver (vm-driver.h): the VMM is QEMU in a
 * transient libvirt domain.
 *
 *   virDomainCreateXML(START_PAUSED) → console stream opened → resume →
 *   QMP relay greets → … → lifecycle STOPPED (or our destroy) → exit
 *
 * The domain starts paused so the console stream is open before the guest
 * prints its first byte (QEMU drops pty output while nobody holds the pty).
 * Console bytes come from a non-blocking libvirt stream; QMP commands go
 * through virDomainQemuMonitorCommand behind a QmpRelay, so kinds keep
 * their QmpClient; QEMU's own events come back through libvirt's monitor
 * event passthrough.  libvirt's steps and lifecycle events become lines of
 * the VMM's "log", which the libvirt backend turns into phases.  Every
 * libvirt call is synchronous and runs on the loop: create and destroy
 * block it (docs/libvirt.md has the figures).
 *
 * Divisions: the QEMU process · console stream · QMP relay · lifecycle and
 * exit · start · the vtable. */
#include <dirent.h>
#include <fcntl.h>
#include <libvirt/libvirt-qemu.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "libvirt-conn.h"
#include "libvirt-xml.h"
#include "qmp-relay.h"
#include "vm-driver.h"

#define CMDLINE_MAX (256 * 1024)

typedef struct LibvirtVm {
        Vm *vm;                    /* the Vm this runs */
        LibvirtConn *conn;         /* the connection the domain lives on */
        virDomainPtr dom;          /* NULL before create */
        char *name;                /* domain name */
        char uuid[VIR_UUID_STRING_BUFLEN]; /* its UUID: finds the QEMU process */
        pid_t pid;                 /* the QEMU process, 0 if not found */
        virStreamPtr console;      /* the serial console stream, NULL once ended */
        bool console_watched;      /* its event callback is registered */
        QmpRelay *relay;           /* QMP for the Vm's client */
        LibvirtWatch watch;        /* our domain's events */
        bool watching;             /* watch is linked */
        bool active;               /* the domain runs */
        bool destroying;           /* we asked libvirt to destroy it */
        bool quitting;             /* a client sent QMP "quit": the stop is an exit(0) */
        bool reported;             /* vm_driver_exited was called */
        struct event *exit_event;  /* reports the exit when libvirt sends no event */
        int exit_status;           /* what exit_event reports */
} LibvirtVm;

static void lv_stopped(LibvirtVm *lv, int wait_status, const char *why);

/* ---- the QEMU process ----------------------------------------------------- */

static char *read_cmdline(pid_t pid, size_t *ret_len) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char *buf = fd >= 0 ? malloc(CMDLINE_MAX) : NULL;
        size_t len = 0;
        ssize_t k;
        while (buf && len < CMDLINE_MAX - 1 && (k = read(fd, buf + len, CMDLINE_MAX - 1 - len)) > 0)
                len += (size_t) k;
        if (buf)
                buf[len] = 0;
        *ret_len = len;
        return buf;
}

static bool cmdline_has_uuid(const char *buf, size_t len, const char *uuid) {
        for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
                if (streq(buf + i, "-uuid") && i + 6 < len && streq(buf + i + 6, uuid))
                        return true;
        return false;
}

static bool pid_runs_uuid(pid_t pid, const char *uuid) {
        size_t len;
        _cleanup_free_ char *buf = read_cmdline(pid, &len);
        return buf && cmdline_has_uuid(buf, len, uuid);
}

/* libvirt has no API for the QEMU pid.  A local system libvirtd writes
 * /run/libvirt/qemu/NAME.pid; any local libvirtd (session, or one in its
 * own mount namespace) starts QEMU with "-uuid UUID", which we generated
 * nowhere else: the process whose command line carries it is the one. */
static pid_t find_qemu_pid(const char *name, const char *uuid) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", name);
        FILE *f = fopen(path, "re");
        int pid = 0;
        if (f) {
                if (fscanf(f, "%d", &pid) != 1)
                        pid = 0;
                fclose(f);
        }
        if (pid > 0 && pid_runs_uuid(pid, uuid))
                return pid;
        DIR *d = opendir("/proc");
        struct dirent *e;
        pid = 0;
        while (d && !pid && (e = readdir(d)))
                if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && pid_runs_uuid(atoi(e->d_name), uuid))
                        pid = atoi(e->d_name);
        if (d)
                closedir(d);
        return pid;
}

/* The exact command line libvirt gave QEMU: what the result records as vmm_argv. */
static char **qemu_argv(pid_t pid) {
        size_t len, n = 0;
        _cleanup_free_ char *buf = pid > 0 ? read_cmdline(pid, &len) : NULL;
        char **v = NULL;
        for (size_t i = 0; buf && i < len; i += strlen(buf + i) + 1)
                if (strv_push(&v, &n, buf + i) < 0)
                        return strv_free(v);
        return v;
}

/* ---- console stream --------------------------------------------------------- */

static void console_end(LibvirtVm *lv, bool abort) {
        if (!lv->console)
                return;
        if (lv->console_watched)
                (void) virStreamEventRemoveCallback(lv->console);
        if (abort || virStreamFinish(lv->console) < 0)
                (void) virStreamAbort(lv->console);
        virStreamFree(lv->console);
        lv->console = NULL;
        lv->console_watched = false;
}

/* Reads what the stream has; ends it at EOF or error. */
static void console_drain(LibvirtVm *lv) {
        char buf[4096];
        while (lv->console) {
                int k = virStreamRecv(lv->console, buf, sizeof(buf));
                if (k > 0) {
                        vm_driver_console(lv->vm, buf, (size_t) k, now_usec());
                        continue;
                }
                if (k == -2)
                        return; /* nothing more for now */
                console_end(lv, k < 0);
        }
}

static void on_console(virStreamPtr st, int events, void *opaque) {
        console_drain(opaque);
}

static int console_open(LibvirtVm *lv, char **ret_error) {
        lv->console = virStreamNew(libvirt_conn_ptr(lv->conn), VIR_STREAM_NONBLOCK);
        if (!lv->console || virDomainOpenConsole(lv->dom, NULL, lv->console, VIR_DOMAIN_CONSOLE_FORCE) < 0)
                goto fail;
        if (virStreamEventAddCallback(lv->console,
                                      VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP,
                                      on_console, lv, NULL) < 0)
                goto fail;
        lv->console_watched = true;
        return 0;
fail:;
        _cleanup_free_ char *m = libvirt_error();
        if (asprintf(ret_error, "libvirt could not open the console of domain %s: %s", lv->name, m ?: "?") < 0)
                *ret_error = NULL;
        console_end(lv, true);
        return -EIO;
}

/* ---- QMP relay ---------------------------------------------------------------- */

/* One QMP command through libvirt; the reply is QEMU's own, libvirt's id
 * replaced by the relay with our client's. */
static int monitor_command(LibvirtVm *lv, json_t *command, json_t **ret_reply, char **ret_error) {
        _cleanup_free_ char *cmd = json_dumps(command, JSON_COMPACT);
        char *out = NULL;
        if (!cmd)
                return -ENOMEM;
        if (!lv->active || virDomainQemuMonitorCommand(lv->dom, cmd, &out, 0) < 0) {
                _cleanup_free_ char *m = lv->active ? libvirt_error() : strdup("the domain is not running");
                if (asprintf(ret_error, "libvirt: %s", m ?: "?") < 0)
                        *ret_error = NULL;
                return -EIO;
        }
        json_error_t err;
        json_t *reply = json_loads(out, 0, &err);
        free(out);
        if (!json_is_object(reply)) {
                json_decref(reply);
                *ret_error = strdup("libvirt returned a reply that is not a JSON object");
                return -EBADMSG;
        }
        *ret_reply = reply;
        return 0;
}

/* "quit" goes to QEMU as it is (libvirt then sees the monitor close and
 * stops the domain, without a blocking destroy); QEMU often exits before
 * libvirt reads the reply, which is then "connection reset" — success. */
static int on_relay_command(json_t *command, json_t **ret_reply, char **ret_error, void *userdata) {
        LibvirtVm *lv = userdata;
        bool quit = streq_ptr(json_string_value(json_object_get(command, "execute")), "quit");
        lv->quitting = lv->quitting || quit;
        int r = monitor_command(lv, command, ret_reply, ret_error);
        if (r < 0 && quit) {
                free(*ret_error);
                *ret_error = NULL;
                *ret_reply = json_pack("{s:{}}", "return");
                return *ret_reply ? 0 : -ENOMEM;
        }
        return r;
}

static int relay_start(LibvirtVm *lv) {
        int fd = -EBADF;
        int r = qmp_relay_new(vm_driver_base(lv->vm), on_relay_command, lv, &fd, &lv->relay);
        if (r < 0)
                return r;
        json_auto_t *q = json_pack("{s:s}", "execute", "query-version");
        json_t *reply = NULL;
        _cleanup_free_ char *why = NULL;
        r = q ? monitor_command(lv, q, &reply, &why) : -ENOMEM;
        json_t *version = reply ? json_object_get(reply, "return") : NULL;
        r = r < 0 ? r : version ? qmp_relay_greet(lv->relay, version) : -EBADMSG;
        json_decref(reply);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        return vm_driver_attach_qmp(lv->vm, fd);
}

static void on_monitor_event(const char *event, long long seconds, unsigned micros, const char *details,
                             void *userdata) {
        LibvirtVm *lv = userdata;
        json_error_t err;
        json_auto_t *data = details ? json_loads(details, JSON_DECODE_ANY, &err) : NULL;
        if (lv->relay)
                (void) qmp_relay_event(lv->relay, event, data, seconds, micros);
}

/* ---- lifecycle and exit --------------------------------------------------------- */

static const char *const lifecycle_names[] = {
        [VIR_DOMAIN_EVENT_DEFINED] = "defined",       [VIR_DOMAIN_EVENT_UNDEFINED] = "undefined",
        [VIR_DOMAIN_EVENT_STARTED] = "started",       [VIR_DOMAIN_EVENT_SUSPENDED] = "suspended",
        [VIR_DOMAIN_EVENT_RESUMED] = "resumed",       [VIR_DOMAIN_EVENT_STOPPED] = "stopped",
        [VIR_DOMAIN_EVENT_SHUTDOWN] = "shutdown",     [VIR_DOMAIN_EVENT_PMSUSPENDED] = "pmsuspended",
        [VIR_DOMAIN_EVENT_CRASHED] = "crashed",
};

static const char *stop_reason(int detail) {
        switch (detail) {
        case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: return "shut down";
        case VIR_DOMAIN_EVENT_STOPPED_DESTROYED: return "destroyed";
        case VIR_DOMAIN_EVENT_STOPPED_CRASHED: return "crashed";
        case VIR_DOMAIN_EVENT_STOPPED_FAILED: return "failed";
        default: return "stopped";
        }
}

/* A guest that shut down is an exit(0); a destroyed domain a SIGKILL; the rest failures. */
static int stop_status(int detail) {
        if (detail == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)
                return 0;
        if (detail == VIR_DOMAIN_EVENT_STOPPED_DESTROYED)
                return SIGKILL;
        return 1 << 8;
}

static void on_lifecycle(int event, int detail, usec_t t, void *userdata) {
        LibvirtVm *lv = userdata;
        char line[128];
        if (event < 0 || (size_t) event >= ELEMENTSOF(lifecycle_names) || !lifecycle_names[event])
                return;
        snprintf(line, sizeof(line), "libvirt: event %s (detail %d)", lifecycle_names[event], detail);
        if (!lv->reported)
                vm_driver_log_line(lv->vm, t, line);
        if (event == VIR_DOMAIN_EVENT_STOPPED && lv->quitting)
                lv_stopped(lv, 0, "quit on QMP request"); /* may free lv: last */
        else if (event == VIR_DOMAIN_EVENT_STOPPED)
                lv_stopped(lv, stop_status(detail), stop_reason(detail));
}

static void on_closed(const char *why, void *userdata) {
        LibvirtVm *lv = userdata;
        libvirt_conn_unwatch(lv->conn, &lv->watch); /* the connection is going */
        lv->watching = false;
        lv_stopped(lv, 1 << 8, why);
}

/* The domain is gone: drain the console, end QMP, tell the Vm.  Once. */
static void lv_stopped(LibvirtVm *lv, int wait_status, const char *why) {
        if (lv->reported)
                return;
        lv->reported = true;
        lv->active = false;
        event_del(lv->exit_event);
        console_drain(lv);
        console_end(lv, false);
        qmp_relay_close(lv->relay);
        char line[256];
        snprintf(line, sizeof(line), "libvirt: domain %s %s\n", lv->name, why);
        vm_driver_diag(lv->vm, line);
        vm_driver_exited(lv->vm, wait_status); /* the owner may free us from here: last */
}

static void on_exit_event(evutil_socket_t fd, short what, void *userdata) {
        LibvirtVm *lv = userdata;
        lv_stopped(lv, lv->exit_status, "destroyed by virtlabd");
}

/* Our destroy worked: the exit is reported from the loop, whether or not
 * libvirt's STOPPED event comes first. */
static void lv_destroy(LibvirtVm *lv) {
        if (!lv->active || lv->destroying)
                return;
        lv->destroying = true;
        if (virDomainDestroy(lv->dom) < 0) {
                _cleanup_free_ char *m = libvirt_error();
                log_debug("libvirt: destroying %s: %s", lv->name, m ?: "?");
                if (virDomainIsActive(lv->dom) == 1)
                        return;
        }
        lv->active = false;
        lv->exit_status = SIGKILL;
        struct timeval zero = {};
        (void) evtimer_add(lv->exit_event, &zero);
}

/* ---- start ------------------------------------------------------------------------ */

static void lv_free(void *state);

/* libvirt's QEMU opens kernel and initrd itself, as libvirtd's qemu user:
 * a file the caller passed us (/proc/self/fd/N, ours) cannot reach it. */
static int check_paths(const VmConfig *c, char **ret_error) {
        const char *bad = strncmp(c->kernel, "/proc/self/fd/", 14) == 0 ? c->kernel
                          : c->initrd && strncmp(c->initrd, "/proc/self/fd/", 14) == 0 ? c->initrd
                                                                                     : NULL;
        if (!bad)
                return 0;
        *ret_error = strdup("libvirt's QEMU opens kernel and initrd by path as its own user, so an image passed as "
                            "your files cannot reach it: name one of the daemon's images (--image noop, default)");
        return -EOPNOTSUPP;
}

static int create_domain(LibvirtVm *lv, const VmSpawnOptions *o, usec_t *ret_t_spawn, char **ret_error) {
        LibvirtDomain d = { .name = lv->name, .emulator = o->binary, .config = &o->config };
        _cleanup_free_ char *xml = NULL;
        int r = libvirt_domain_xml(&d, &xml);
        if (r < 0)
                return r;
        log_debug("libvirt domain XML for %s:\n%s", lv->name, xml);
        *ret_t_spawn = now_usec();
        lv->dom = virDomainCreateXML(libvirt_conn_ptr(lv->conn), xml, VIR_DOMAIN_START_PAUSED);
        if (!lv->dom) {
                _cleanup_free_ char *m = libvirt_error();
                if (asprintf(ret_error, "libvirt could not start domain %s: %s", lv->name, m ?: "?") < 0)
                        *ret_error = NULL;
                return -EIO;
        }
        lv->active = true;
        if (virDomainGetUUIDString(lv->dom, lv->uuid) < 0)
                lv->uuid[0] = 0;
        return 0;
}

static int resume(LibvirtVm *lv, char **ret_error) {
        if (virDomainResume(lv->dom) == 0)
                return 0;
        _cleanup_free_ char *m = libvirt_error();
        if (asprintf(ret_error, "libvirt could not resume domain %s: %s", lv->name, m ?: "?") < 0)
                *ret_error = NULL;
        return -EIO;
}

static void note(LibvirtVm *lv, usec_t t, const char *what) {
        char line[256];
        snprintf(line, sizeof(line), "libvirt: %s", what);
        vm_driver_log_line(lv->vm, t, line);
}

static int lv_start_steps(LibvirtVm *lv, const VmSpawnOptions *o, char **ret_error) {
        usec_t t_spawn = 0;
        int r = create_domain(lv, o, &t_spawn, ret_error);
        if (r < 0)
                return r;
        usec_t t_created = now_usec();
        lv->pid = lv->uuid[0] ? find_qemu_pid(lv->name, lv->uuid) : 0;
        r = console_open(lv, ret_error);
        if (r < 0)
                return r;
        usec_t t_console = now_usec();
        r = resume(lv, ret_error);
        if (r < 0)
                return r;
        usec_t t_resumed = now_usec();
        vm_driver_started(lv->vm, t_spawn, t_created, qemu_argv(lv->pid));
        note(lv, t_created, "domain created (paused)");
        note(lv, t_console, "console stream open");
        note(lv, t_resumed, "domain resumed");
        if (!lv->pid)
                note(lv, t_resumed, "no local process carries the domain's UUID: no pid, no smaps");
        /* A relay that fails costs the kinds their QMP, not the boot. */
        r = relay_start(lv);
        if (r < 0)
                log_warning_errno(r, "No QMP for libvirt domain %s, ignoring: %m", lv->name);
        return 0;
}

static int lv_start(Vm *vm, const VmSpawnOptions *o, void **ret_state, char **ret_error) {
        int r = check_paths(&o->config, ret_error);
        if (r < 0)
                return r;
        LibvirtVm *lv = calloc(1, sizeof(LibvirtVm));
        if (!lv)
                return -ENOMEM;
        lv->vm = vm;
        lv->exit_event = evtimer_new(vm_driver_base(vm), on_exit_event, lv);
        if (!lv->exit_event || asprintf(&lv->name, "%s%s", libvirt_prefix(), o->name ?: "vm") < 0) {
                lv->name = NULL;
                lv_free(lv);
                return -ENOMEM;
        }
        r = libvirt_conn_get(o->manager_uri, &lv->conn, ret_error);
        if (r >= 0) {
                lv->watch = (LibvirtWatch) { .name = lv->name, .on_lifecycle = on_lifecycle,
                                             .on_monitor_event = on_monitor_event, .on_closed = on_closed,
                                             .userdata = lv };
                libvirt_conn_watch(lv->conn, &lv->watch);
                lv->watching = true;
                r = lv_start_steps(lv, o, ret_error);
        }
        if (r < 0) {
                lv_free(lv); /* destroys a domain that got as far as being created */
                return r;
        }
        *ret_state = lv;
        return 0;
}

/* ---- the vtable --------------------------------------------------------------------- */

static void lv_kill(void *state) {
        lv_destroy(state);
}

static void lv_free(void *state) {
        LibvirtVm *lv = state;
        if (!lv)
                return;
        if (lv->active && virDomainDestroy(lv->dom) < 0) {
                _cleanup_free_ char *m = libvirt_error();
                log_warning("Failed to destroy libvirt domain %s: %s", lv->name, m ?: "?");
        }
        console_end(lv, true);
        qmp_relay_free(lv->relay);
        if (lv->watching)
                libvirt_conn_unwatch(lv->conn, &lv->watch);
        if (lv->dom)
                virDomainFree(lv->dom);
        libvirt_conn_unref(lv->conn);
        if (lv->exit_event)
                event_free(lv->exit_event);
        free(lv->name);
        free(lv);
}

static pid_t lv_pid(const void *state) {
        const LibvirtVm *lv = state;
        return lv->active ? lv->pid : 0;
}

static bool lv_running(const void *state) {
        return ((const LibvirtVm *) state)->active;
}

const VmDriver vm_driver_libvirt = {
        .name = "libvirt", .start = lv_start, .kill = lv_kill, .free = lv_free, .pid = lv_pid, .running = lv_running,
};
