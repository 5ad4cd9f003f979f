/* main.c — virtlabd: parses flags, opens the store, connects to the bus and
 * runs the loop until SIGTERM/SIGINT or the bus goes away. */
#include <getopt.h>

#include "libvirt-conn.h"
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "bus-lab.h"
#include "child.h"
#include "manager.h"
#include "util.h"

typedef struct Options {
        const char *bus;       /* system | session | ADDRESS */
        char *state_dir;       /* results live here */
        char *image_dir;       /* default guest image */
        char *run_dir;         /* scratch */
        const char *libvirt_uri; /* where the libvirt VMM connects by default */
} Options;

static void help(void) {
        printf("Usage: virtlabd [OPTIONS]\n\n"
               "Runs and measures virtual machines; serves org.virtlab.Lab1 on D-Bus.\n\n"
               "  --bus system|session|ADDRESS  bus to serve on (default: $VIRTLAB_BUS, else system)\n"
               "  --state-dir DIR    results database and console logs\n"
               "                     (default: $STATE_DIRECTORY, /var/lib/virtlab for the system bus,\n"
               "                      else $XDG_STATE_HOME/virtlab)\n"
               "  --image-dir DIR    default guest image, holding image.json\n"
               "                     (default: $VIRTLAB_IMAGE_DIR or STATE_DIR/images/default)\n"
               "  --run-dir DIR      private scratch directory (default: $RUNTIME_DIRECTORY,\n"
               "                     /run/virtlab or $XDG_RUNTIME_DIR/virtlab)\n"
               "  --log-level LEVEL  err, warning, notice, info (default) or debug\n"
               "  --qemu PATH        QEMU binary (default: $VIRTLAB_QEMU, else qemu-system-x86_64 in PATH)\n"
               "  --stratovirt PATH  StratoVirt binary (default: $VIRTLAB_STRATOVIRT, else stratovirt in PATH)\n"
               "  --libvirt-uri URI  libvirt connection of the libvirt VMM (default: qemu:///system)\n"
               "  -h, --help         this text\n");
}

static char *default_state_dir(bool system_bus) {
        const char *e = getenv("STATE_DIRECTORY");
        char *s = NULL;
        if (e && *e)
                return strdup(e);
        if (system_bus)
                return strdup("/var/lib/virtlab");
        e = getenv("XDG_STATE_HOME");
        if (e && *e)
                return asprintf(&s, "%s/virtlab", e) < 0 ? NULL : s;
        return asprintf(&s, "%s/.local/state/virtlab", getenv("HOME") ?: "/root") < 0 ? NULL : s;
}

static char *default_run_dir(bool system_bus, const char *state_dir) {
        const char *e = getenv("RUNTIME_DIRECTORY");
        char *s = NULL;
        if (e && *e)
                return strdup(e);
        if (system_bus)
                return strdup("/run/virtlab");
        e = getenv("XDG_RUNTIME_DIR");
        if (e && *e)
                return asprintf(&s, "%s/virtlab", e) < 0 ? NULL : s;
        return asprintf(&s, "%s/run", state_dir) < 0 ? NULL : s;
}

/* Returns 0 to run, 1 to exit successfully (help), <0 on a usage error. */
static int parse_argv(int argc, char **argv, Options *o) {
        static const struct option opts[] = {
                { "bus", required_argument, NULL, 'b' },       { "state-dir", required_argument, NULL, 's' },
                { "image-dir", required_argument, NULL, 'i' }, { "run-dir", required_argument, NULL, 'r' },
                { "log-level", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
                { "qemu", required_argument, NULL, 'Q' },      { "stratovirt", required_argument, NULL, 'S' },
                { "libvirt-uri", required_argument, NULL, 'L' },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'b': o->bus = optarg; break;
                case 's': o->state_dir = strdup(optarg); break;
                case 'i': o->image_dir = strdup(optarg); break;
                case 'r': o->run_dir = strdup(optarg); break;
                case 'l':
                        if (log_level_from_string(optarg) < 0)
                                return log_error_errno(-EINVAL, "Invalid log level '%s': use err, warning, notice, info or debug", optarg);
                        log_max_level = log_level_from_string(optarg);
                        break;
                /* The backends read their binary from the environment: one place for both ways. */
                case 'Q': (void) setenv("VIRTLAB_QEMU", optarg, 1); break;
                case 'S': (void) setenv("VIRTLAB_STRATOVIRT", optarg, 1); break;
                case 'L': o->libvirt_uri = optarg; break;
                case 'h': help(); return 1;
                default: return -EINVAL;
                }
        }
        if (optind < argc)
                return log_error_errno(-EINVAL, "Unexpected argument '%s'", argv[optind]);
        if (!o->bus)
                o->bus = getenv("VIRTLAB_BUS") && *getenv("VIRTLAB_BUS") ? getenv("VIRTLAB_BUS") : "system";
        bool system_bus = streq(o->bus, "system");
        if (!o->state_dir)
                o->state_dir = default_state_dir(system_bus);
        if (!o->image_dir) {
                const char *e = getenv("VIRTLAB_IMAGE_DIR");
                if (e && *e)
                        o->image_dir = strdup(e);
                else if (asprintf(&o->image_dir, "%s/images/default", o->state_dir) < 0)
                        o->image_dir = NULL;
        }
        if (!o->run_dir)
                o->run_dir = default_run_dir(system_bus, o->state_dir);
        return o->state_dir && o->image_dir && o->run_dir ? 0 : -ENOMEM;
}

static void on_signal(evutil_socket_t fd, short what, void *userdata) {
        manager_stop(userdata, fd == SIGTERM ? "SIGTERM" : "SIGINT");
}

static int serve(struct event_base *base, Options *o) {
        ManagerConfig cfg = { .state_dir = o->state_dir, .image_dir = o->image_dir, .run_dir = o->run_dir };
        Manager *m = NULL;
        BusLab *lab = NULL;
        struct event *sigterm = NULL, *sigint = NULL;
        int r = child_raise_nofile();
        if (r < 0)
                log_warning("Could not raise RLIMIT_NOFILE (%s): density jobs are limited to %zu fds", strerror(-r),
                            child_nofile_limit());
        r = libvirt_setup(base, o->libvirt_uri, o->state_dir);
        r = r < 0 ? r : manager_new(base, &cfg, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up: %m");
        sigterm = evsignal_new(base, SIGTERM, on_signal, m);
        sigint = evsignal_new(base, SIGINT, on_signal, m);
        if (!sigterm || !sigint || event_add(sigterm, NULL) < 0 || event_add(sigint, NULL) < 0)
                r = log_error_errno(-ENOMEM, "Failed to watch signals: %m");
        if (r >= 0) {
                r = bus_lab_new(m, base, o->bus, &lab);
                if (r < 0)
                        log_error_errno(r, "Failed to serve on the %s bus: %m", o->bus);
        }
        if (r >= 0) {
                log_info("virtlabd %s ready on the %s bus; store %s; image %s; %s", VIRTLAB_VERSION, o->bus,
                         store_path(manager_store(m)), o->image_dir, manager_host(m)->accel_reason);
                event_base_dispatch(base);
        }
        bus_lab_free(lab);
        manager_free(m); /* destroys the domains of running libvirt VMs */
        libvirt_shutdown();
        if (sigterm)
                event_free(sigterm);
        if (sigint)
                event_free(sigint);
        return r;
}

static int run(Options *o) {
        struct event_base *base = event_base_new();
        if (!base)
                return log_error_errno(-ENOMEM, "Failed to create the event loop: %m");
        int r = serve(base, o);
        /* Objects freed above may have deferred their final free to the loop. */
        (void) event_base_loop(base, EVLOOP_NONBLOCK);
        event_base_free(base);
        return r;
}

int main(int argc, char **argv) {
        Options o = {};
        (void) signal(SIGPIPE, SIG_IGN);
        int r = parse_argv(argc, argv, &o);
        if (r == 0)
                r = run(&o);
        free(o.state_dir);
        free(o.image_dir);
        free(o.run_dir);
        if (r == -EINVAL)
                return 2;
        return r < 0 ? 1 : 0;
}
