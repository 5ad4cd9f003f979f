/* bus.c — virtlabctl's D-Bus plumbing (see bus.h).
 * Divisions: connecting; method calls and the error → exit-code map; the
 * job waiter (JobRemoved, PropertiesChanged and RunFinished signals feed a
 * Waiter that draws one progress line on stderr; SIGINT/SIGTERM cancel the
 * job once); bus_run_job(), which puts them together. */
#include "bus.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "files.h"
#include "util.h"

/* What we know of the job we wait for. */
typedef struct Waiter {
        uint32_t id;                    /* job we wait for */
        char *path;                     /* its object path */
        bool done;                      /* JobRemoved seen */
        char result[16];                /* its final state */
        unsigned runs_done, runs_total; /* progress */
        char phase[160];                /* current phase ("cell 3/12 t32.4K.rndrd, ETA 2m10s") */
        bool tty;                       /* draw progress */
        char owner[64];                 /* virtlabd's unique bus name when the job started */
        bool daemon_gone;               /* that name left the bus: no JobRemoved will come */
} Waiter;

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error);
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error);
static int on_run_finished(sd_bus_message *m, void *userdata, sd_bus_error *error);

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
        interrupted = 1;
}

/* sd_bus_open_*() or a private connection to ADDRESS; -errno. */
static int bus_connect(const char *which, sd_bus **ret) {
        if (strcmp(which, "system") == 0)
                return sd_bus_open_system(ret);
        if (strcmp(which, "session") == 0)
                return sd_bus_open_user(ret);
        sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);
        r = r < 0 ? r : sd_bus_set_address(bus, which);
        r = r < 0 ? r : sd_bus_set_bus_client(bus, true);
        r = r < 0 ? r : sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

int bus_open(const char *which, sd_bus **ret) {
        int r = bus_connect(which, ret);
        if (r < 0) {
                fprintf(stderr, "virtlabctl: cannot connect to the %s bus: %s\n", which, strerror(-r));
                return EXIT_UNREACHABLE;
        }
        return EXIT_OK;
}

int bus_call_failed(const char *what, const sd_bus_error *e, int r) {
        if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_NO_REPLY,
                                   SD_BUS_ERROR_DISCONNECTED)) {
                fprintf(stderr, "virtlabctl: virtlabd is not reachable: %s\n", e->message ? e->message : strerror(-r));
                return EXIT_UNREACHABLE;
        }
        fprintf(stderr, "virtlabctl: %s: %s\n", what, e && e->message ? e->message : strerror(-r));
        return sd_bus_error_has_names(e, SD_BUS_ERROR_INVALID_ARGS, "org.virtlab.Lab1.NoSuchJob",
                                      "org.virtlab.Lab1.VmmUnavailable", "org.virtlab.Lab1.TooManyJobs")
                       ? EXIT_USAGE
                       : EXIT_FAILED;
}

json_t *bus_parse_json(const char *text) {
        json_error_t je;
        json_t *j = json_loads(text, 0, &je);
        if (!j)
                fprintf(stderr, "virtlabctl: daemon sent invalid JSON: %s\n", je.text);
        return j;
}

/* Calls method with the arguments in ap; *ret_reply on success, else the exit code. */
static int call_manager(sd_bus *bus, const char *method, sd_bus_message **ret_reply, const char *types, va_list ap) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, BUS_PATH, BUS_NAME, method);
        if (r >= 0 && types)
                r = sd_bus_message_appendv(m, types, ap);
        if (r >= 0)
                r = sd_bus_call(bus, m, 0, &e, ret_reply);
        sd_bus_message_unref(m);
        int code = r < 0 ? bus_call_failed(method, &e, r) : EXIT_OK;
        sd_bus_error_free(&e);
        return code;
}

int bus_call_json(sd_bus *bus, const char *method, json_t **ret, const char *types, ...) {
        sd_bus_message *reply = NULL;
        va_list ap;
        va_start(ap, types);
        int code = call_manager(bus, method, &reply, types, ap);
        va_end(ap);
        if (code != EXIT_OK)
                return code;
        const char *s;
        json_t *doc = sd_bus_message_read(reply, "s", &s) >= 0 ? bus_parse_json(s) : NULL;
        sd_bus_message_unref(reply);
        if (!doc)
                return EXIT_FAILED;
        *ret = doc;
        return EXIT_OK;
}

int bus_get_result(sd_bus *bus, uint32_t id, json_t **ret) {
        return bus_call_json(bus, "GetResult", ret, "u", id);
}

/* The progress line: "job 7 [######..........] run 3/10 booting". */
static void progress_draw(Waiter *w) {
        if (!w->tty)
                return;
        unsigned width = 24, filled = w->runs_total ? width * w->runs_done / w->runs_total : 0;
        char bar[64];
        for (unsigned i = 0; i < width; i++)
                bar[i] = i < filled ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r\033[Kjob %u [%s] run %u/%u %s", w->id, bar,
                w->runs_done < w->runs_total ? w->runs_done + 1 : w->runs_total, w->runs_total, w->phase);
}

/* JobRemoved(u id, o path, s state): our job ended. */
static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Waiter *w = userdata;
        uint32_t id;
        const char *path, *result;
        if (sd_bus_message_read(m, "uos", &id, &path, &result) < 0 || id != w->id)
                return 0;
        w->done = true;
        snprintf(w->result, sizeof(w->result), "%s", result);
        return 0;
}

/* PropertiesChanged of our job: Phase and RunsDone move the progress line. */
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Waiter *w = userdata;
        const char *iface, *name;
        if (!w->path || strcmp(sd_bus_message_get_path(m), w->path) != 0 || sd_bus_message_read(m, "s", &iface) < 0 ||
            sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &name) < 0)
                        break;
                const char *s;
                uint32_t u;
                if (strcmp(name, "Phase") == 0 && sd_bus_message_read(m, "v", "s", &s) >= 0)
                        snprintf(w->phase, sizeof(w->phase), "%s", s);
                else if (strcmp(name, "RunsDone") == 0 && sd_bus_message_read(m, "v", "u", &u) >= 0)
                        w->runs_done = u;
                else
                        sd_bus_message_skip(m, "v");
                sd_bus_message_exit_container(m);
        }
        progress_draw(w);
        return 0;
}

/* RunFinished(u index, s sample) of our job: one line per run on a terminal. */
static int on_run_finished(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Waiter *w = userdata;
        uint32_t idx;
        const char *json;
        if (!w->path || strcmp(sd_bus_message_get_path(m), w->path) != 0 || sd_bus_message_read(m, "us", &idx, &json) < 0 ||
            !w->tty)
                return 0;
        json_t *s = json_loads(json, 0, NULL);
        json_t *err = json_object_get(s, "error");
        json_t *boot = json_object_get(s, "boot_ms"), *over = json_object_get(s, "vmm_overhead_kib");
        fprintf(stderr, "\r\033[Krun %u%s: ", idx, json_is_true(json_object_get(s, "warmup")) ? " (warm-up)" : "");
        if (json_is_string(err))
                fprintf(stderr, "FAILED: %s\n", json_string_value(err));
        else if (over)
                fprintf(stderr, "overhead %lld KiB, boot %.1f ms\n", (long long) json_integer_value(over), json_number_value(boot));
        else
                fprintf(stderr, "boot %.1f ms\n", json_number_value(boot));
        json_decref(s);
        return 0;
}

/* virtlabd's name changed hands (it stopped or crashed): whatever it ran is
 * over, and no JobRemoved will say so. */
static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Waiter *w = userdata;
        const char *name, *old, *new;
        if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || strcmp(name, BUS_NAME) != 0)
                return 0;
        if (!w->owner[0] || strcmp(old, w->owner) == 0)
                w->daemon_gone = true;
        return 0;
}

/* Subscribes w to the job signals and to virtlabd leaving the bus; the
 * slots end the subscriptions.  -errno. */
static int waiter_subscribe(sd_bus *bus, Waiter *w, sd_bus_slot **slots) {
        int r = sd_bus_match_signal(bus, &slots[0], BUS_NAME, BUS_PATH, BUS_NAME, "JobRemoved", on_job_removed, w);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &slots[1], BUS_NAME, NULL, "org.freedesktop.DBus.Properties",
                                        "PropertiesChanged", on_properties_changed, w);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &slots[2], BUS_NAME, NULL, BUS_JOB_IFACE, "RunFinished", on_run_finished, w);
        if (r >= 0)
                r = sd_bus_add_match(bus, &slots[3],
                                     "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" BUS_NAME "'",
                                     on_owner_changed, w);
        return r;
}

/* Records virtlabd's unique name, so its going away is recognised; a
 * daemon already gone marks the waiter at once. */
static void waiter_note_owner(sd_bus *bus, Waiter *w) {
        sd_bus_message *reply = NULL;
        const char *owner;
        if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetNameOwner", NULL, &reply, "s", BUS_NAME) < 0 ||
            sd_bus_message_read(reply, "s", &owner) < 0)
                w->daemon_gone = true;
        else
                snprintf(w->owner, sizeof(w->owner), "%s", owner);
        sd_bus_message_unref(reply);
}

/* Processes the bus until the job ends; the first signal sends CancelJob. */
static int waiter_wait(sd_bus *bus, Waiter *w) {
        struct sigaction sa = { .sa_handler = on_sigint };
        bool cancel_sent = false;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        while (!w->done) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        fprintf(stderr, "\nvirtlabctl: lost the connection to virtlabd: %s\n", strerror(-r));
                        return EXIT_UNREACHABLE;
                }
                if (w->daemon_gone && !w->done) {
                        fprintf(stderr, "\nvirtlabctl: virtlabd left the bus (stopped or crashed) while job %u ran; "
                                        "the job is recorded as failed (virtlabctl results %u, once virtlabd runs again)\n",
                                w->id, w->id);
                        return EXIT_UNREACHABLE;
                }
                if (r > 0)
                        continue;
                if (interrupted && !cancel_sent) {
                        cancel_sent = true;
                        fprintf(stderr, "\nvirtlabctl: canceling job %u...\n", w->id);
                        (void) sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_NAME, "CancelJob", NULL, NULL, "u", w->id);
                        continue;
                }
                /* Bounded, so a signal that interrupted nothing is still seen within a second. */
                r = sd_bus_wait(bus, USEC_PER_SEC);
                if (r < 0 && r != -EINTR) {
                        fprintf(stderr, "\nvirtlabctl: waiting for virtlabd failed: %s\n", strerror(-r));
                        return EXIT_UNREACHABLE;
                }
        }
        if (w->tty)
                fprintf(stderr, "\r\033[K");
        return EXIT_OK;
}

/* StartExperiment(kind, spec), or StartExperimentWithFiles when the spec
 * names files of the caller's (opened here, passed as fds). */
static int start_call(sd_bus *bus, const char *kind, const char *text, const ClientFiles *f, sd_bus_error *e,
                      sd_bus_message **reply) {
        if (f->n == 0)
                return sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_NAME, "StartExperiment", e, reply, "ss", kind, text);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, BUS_PATH, BUS_NAME, "StartExperimentWithFiles");
        r = r < 0 ? r : sd_bus_message_append(m, "ss", kind, text);
        r = r < 0 ? r : sd_bus_message_open_container(m, 'a', "{sh}");
        for (size_t i = 0; r >= 0 && i < f->n; i++)
                r = sd_bus_message_append(m, "{sh}", f->role[i], f->fd[i]);
        r = r < 0 ? r : sd_bus_message_close_container(m);
        return r < 0 ? r : sd_bus_call(bus, m, 0, e, reply);
}

/* Starts the job: w gets the job's id, path and RunsTotal. */
static int job_start(sd_bus *bus, const char *kind, json_t *spec, Waiter *w) {
        ClientFiles files;
        if (client_files_open(spec, &files) < 0)
                return EXIT_USAGE;
        char *text = json_dumps(spec, JSON_COMPACT);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = start_call(bus, kind, text, &files, &e, &reply);
        free(text);
        if (r < 0) {
                int code = bus_call_failed("cannot start the experiment", &e, r);
                client_files_explain(&files, e.message);
                client_files_close(&files);
                sd_bus_error_free(&e);
                return code;
        }
        client_files_close(&files);
        const char *path;
        r = sd_bus_message_read(reply, "uo", &w->id, &path);
        w->path = r >= 0 ? strdup(path) : NULL;
        sd_bus_message_unref(reply);
        if (w->path)
                (void) sd_bus_get_property_trivial(bus, BUS_NAME, w->path, BUS_JOB_IFACE, "RunsTotal", NULL, 'u',
                                                   &w->runs_total);
        return EXIT_OK;
}

int bus_run_job(sd_bus *bus, const char *kind, json_t *spec, BusJobFlags flags, uint32_t *ret_id, bool *ret_done) {
        Waiter w = { .tty = isatty(STDERR_FILENO) && !(flags & BUS_JOB_QUIET) };
        sd_bus_slot *slots[4] = {};
        bool wait = !(flags & BUS_JOB_NO_WAIT);
        int code = EXIT_OK;
        if (wait) {
                /* Tie the job to this client: Ctrl-C or a crash here cancels it. */
                json_object_set_new(spec, "bind_to_client", json_true());
                /* Subscribe before starting, so the job cannot end unseen. */
                if (waiter_subscribe(bus, &w, slots) < 0) {
                        fprintf(stderr, "virtlabctl: failed to subscribe to job signals\n");
                        code = EXIT_FAILED;
                }
        }
        if (code == EXIT_OK)
                code = job_start(bus, kind, spec, &w);
        if (code == EXIT_OK && wait) {
                waiter_note_owner(bus, &w);
                code = waiter_wait(bus, &w);
        }
        if (code == EXIT_OK) {
                *ret_id = w.id;
                *ret_done = wait && strcmp(w.result, "done") == 0;
        }
        for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
                sd_bus_slot_unref(slots[i]);
        free(w.path);
        return code;
}
