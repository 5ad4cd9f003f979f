/* bus-lab.c — the org.virtlab.Lab1 D-Bus API (bus-lab.h).  Methods parse,
 * validate (InvalidArgs naming the value), act through the manager, map
 * errno, reply; vtables sit at the bottom.  This is the only file that
 * knows D-Bus; the manager knows nothing of it. */
#include "bus-lab.h"

#include <grp.h>
#include <stdio.h>

#include "bus-event.h"
#include "experiments/experiment.h"
#include "mtree.h"
#include "util.h"

#define BUS_ERROR_VMM_UNAVAILABLE "org.virtlab.Lab1.VmmUnavailable"
#define BUS_ERROR_NO_SUCH_JOB "org.virtlab.Lab1.NoSuchJob"
#define BUS_ERROR_TOO_MANY_JOBS "org.virtlab.Lab1.TooManyJobs"
#define BUS_ERROR_JOB_NOT_FINISHED "org.virtlab.Lab1.JobNotFinished"
#define BUS_ERROR_NO_RUNNING_VM "org.virtlab.Lab1.NoRunningVm"
/* Besides root, members of this group may start, cancel and attach (docs/security.md). */
#define VIRTLAB_GROUP "virtlab"

/* A client a job is bound to: when it leaves the bus, the job is canceled. */
typedef struct Binding {
        BusLab *lab;             /* owner */
        uint32_t id;             /* the job */
        sd_bus_track *track;     /* the client */
        struct Binding *next;    /* list */
} Binding;

struct BusLab {
        Manager *manager;        /* what we serve */
        gid_t group;             /* VIRTLAB_GROUP's gid: may start and cancel; (gid_t) -1 if it does not exist */
        sd_bus *bus;             /* our connection */
        BusEvent *event;         /* the bus on the loop */
        Binding *bindings;       /* jobs bound to their client */
};

static void job_path(uint32_t id, char *buf, size_t size) {
        snprintf(buf, size, BUS_JOB_PREFIX "/_%u", id);
}

static int reply_json(sd_bus_message *msg, json_t *doc) {
        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!text)
                return -ENOMEM;
        return sd_bus_reply_method_return(msg, "s", text);
}

/* ---- client bindings -------------------------------------------------- */

static Binding *binding_free(BusLab *lab, uint32_t id) {
        for (Binding **p = &lab->bindings; *p; p = &(*p)->next)
                if ((*p)->id == id) {
                        Binding *b = *p;
                        *p = b->next;
                        sd_bus_track_unref(b->track);
                        free(b);
                        break;
                }
        return NULL;
}

/* The bound client went away: its experiment is no longer wanted. */
static int on_client_gone(sd_bus_track *track, void *userdata) {
        Binding *b = userdata;
        char why[128];
        snprintf(why, sizeof(why), "canceled: the client that started job %u disconnected", b->id);
        log_notice("Job %u: %s", b->id, why);
        /* sd-bus calls this whenever the track is found empty: drop it so it
         * fires once.  sd-bus holds its own reference during the call. */
        b->track = sd_bus_track_unref(b->track);
        (void) manager_cancel_job(b->lab->manager, b->id, why);
        return 0;
}

static void bind_to_sender(BusLab *lab, Job *job, const char *sender) {
        Binding *b = calloc(1, sizeof(Binding));
        if (!b)
                return;
        *b = (Binding) { .lab = lab, .id = job_id(job), .next = lab->bindings };
        lab->bindings = b;
        int r = sd_bus_track_new(lab->bus, &b->track, on_client_gone, b);
        if (r >= 0)
                r = sd_bus_track_add_name(b->track, sender);
        if (r < 0) {
                /* The client may already be gone: then nobody wants the job. */
                log_warning_errno(r, "Job %u: cannot track client %s: %m", job_id(job), sender);
                b->track = sd_bus_track_unref(b->track);
                if (r == -ENXIO || r == -ESRCH)
                        job_cancel(job, "canceled: the client that started it had already disconnected");
        }
}

/* ---- access ----------------------------------------------------------- */

/* Whether the sender is in group: its primary group from the message's
 * credentials, its supplementary groups from the bus (dbus-daemon's
 * GetConnectionCredentials, UnixGroupIDs), which the sender cannot forge. */
static bool sender_in_group(sd_bus_message *msg, sd_bus_creds *c, gid_t group) {
        gid_t egid;
        if (group == (gid_t) -1)
                return false;
        if (sd_bus_creds_get_egid(c, &egid) >= 0 && egid == group)
                return true;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(sd_bus_message_get_bus(msg), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                   "org.freedesktop.DBus", "GetConnectionCredentials", NULL, &reply, "s",
                                   sd_bus_message_get_sender(msg));
        r = r < 0 ? r : sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                const char *key;
                if (sd_bus_message_read(reply, "s", &key) < 0)
                        return false;
                if (!streq(key, "UnixGroupIDs")) {
                        (void) sd_bus_message_skip(reply, "v");
                        (void) sd_bus_message_exit_container(reply);
                        continue;
                }
                uint32_t gid;
                if (sd_bus_message_enter_container(reply, 'v', "au") < 0 || sd_bus_message_enter_container(reply, 'a', "u") < 0)
                        return false;
                while (sd_bus_message_read(reply, "u", &gid) > 0)
                        if (gid == group)
                                return true;
                return false;
        }
        return false;
}

/* Methods that start processes or attach to a VM need root or the group;
 * the bus policy already limits who may talk at all, and the vtable marks
 * them SD_BUS_VTABLE_UNPRIVILEGED so that this check, not CAP_SYS_ADMIN,
 * decides.  Returns 0 if allowed, else an AccessDenied error. */
static int authorize(BusLab *lab, sd_bus_message *msg, const char *what, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *c = NULL;
        uid_t euid;
        int r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID | SD_BUS_CREDS_EGID, &c);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot tell who is asking: %m");
        if (sd_bus_creds_get_euid(c, &euid) >= 0 && (euid == 0 || sender_in_group(msg, c, lab->group)))
                return 0;
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "%s needs root or membership in group '%s'", what,
                                 VIRTLAB_GROUP);
}

/* ---- manager object --------------------------------------------------- */

typedef struct DescribeRequest {
        BusLab *lab;             /* the server */
        sd_bus_message *msg;     /* the pending call */
} DescribeRequest;

static void describe_when_settled(void *userdata) {
        DescribeRequest *d = userdata;
        (void) reply_json(d->msg, manager_describe(d->lab->manager));
        bus_event_kick(d->lab->event);
        sd_bus_message_unref(d->msg);
        free(d);
}

/* Answers from the manager's cache at once; only while a VMM version probe
 * is under way (start-up, a binary that changed) does the answer wait for it. */
static int method_describe(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusLab *lab = userdata;
        DescribeRequest *d = calloc(1, sizeof(DescribeRequest));
        if (!d)
                return -ENOMEM;
        *d = (DescribeRequest) { .lab = lab, .msg = sd_bus_message_ref(msg) };
        int r = manager_when_settled(lab->manager, describe_when_settled, d);
        if (r > 0)
                return 1; /* replied later */
        sd_bus_message_unref(d->msg);
        free(d);
        return r < 0 ? r : reply_json(msg, manager_describe(lab->manager));
}

/* Reads a{sh}: the caller's files, each fd checked and dup'ed. */
static int read_files(sd_bus_message *msg, CallerFiles *files, sd_bus_error *error) {
        int r = sd_bus_message_enter_container(msg, 'a', "{sh}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sh")) > 0) {
                const char *role;
                int fd;
                r = sd_bus_message_read(msg, "sh", &role, &fd);
                if (r < 0)
                        return r;
                _cleanup_free_ char *why = NULL;
                r = caller_files_add(files, role, fd, &why);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s", why ?: "Invalid file");
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        return r < 0 ? r : sd_bus_message_exit_container(msg);
}

static int submit(BusLab *lab, sd_bus_message *msg, const char *kind, const char *spec_text, CallerFiles *files,
                  sd_bus_error *error) {
        Job *job;
        _cleanup_free_ char *why = NULL;
        ManagerError class;
        int r = manager_submit(lab->manager, kind, spec_text, files, &job, &why, &class);
        if (r < 0)
                switch (class) {
                case MANAGER_INVALID:
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s", why ?: "Invalid experiment spec");
                case MANAGER_VMM_UNAVAILABLE:
                        return sd_bus_error_setf(error, BUS_ERROR_VMM_UNAVAILABLE, "%s", strempty(why));
                case MANAGER_QUEUE_FULL:
                        return sd_bus_error_setf(error, BUS_ERROR_TOO_MANY_JOBS, "%s", strempty(why));
                default:
                        return sd_bus_error_set_errnof(error, r, "%s", why ?: "Failed to queue the job");
                }
        if (job_bound_to_client(job))
                bind_to_sender(lab, job, sd_bus_message_get_sender(msg));
        char path[64];
        job_path(job_id(job), path, sizeof(path));
        return sd_bus_reply_method_return(msg, "uo", job_id(job), path);
}

static int method_start_experiment(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusLab *lab = userdata;
        const char *kind, *spec_text;
        int r = authorize(lab, msg, "Starting an experiment", error);
        r = r < 0 ? r : sd_bus_message_read(msg, "ss", &kind, &spec_text);
        return r < 0 ? r : submit(lab, msg, kind, spec_text, NULL, error);
}

/* Like StartExperiment, with the caller's image and disk as open files
 * (a{sh}: role → fd), so the daemon never opens a path the caller names. */
static int method_start_experiment_with_files(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusLab *lab = userdata;
        const char *kind, *spec_text;
        CallerFiles files = {};
        int r = authorize(lab, msg, "Starting an experiment", error);
        r = r < 0 ? r : sd_bus_message_read(msg, "ss", &kind, &spec_text);
        r = r < 0 ? r : read_files(msg, &files, error);
        r = r < 0 ? r : submit(lab, msg, kind, spec_text, &files, error);
        caller_files_done(&files);
        return r;
}

static int method_list_jobs(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusLab *lab = userdata;
        _cleanup_free_ Job **jobs = manager_jobs(lab->manager);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        if (!jobs)
                return -ENOMEM;
        int r = sd_bus_message_new_method_return(msg, &reply);
        r = r < 0 ? r : sd_bus_message_open_container(reply, 'a', "(usssdo)");
        for (Job **j = jobs; r >= 0 && *j; j++) {
                char path[64];
                job_path(job_id(*j), path, sizeof(path));
                r = sd_bus_message_append(reply, "(usssdo)", job_id(*j), job_kind(*j)->name, job_vmm(*j),
                                          job_state_to_string(job_state(*j)), job_progress(*j), path);
        }
        r = r < 0 ? r : sd_bus_message_close_container(reply);
        return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}

static int method_cancel_job(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusLab *lab = userdata;
        uint32_t id;
        int r = authorize(lab, msg, "Canceling a job", error);
        r = r < 0 ? r : sd_bus_message_read(msg, "u", &id);
        if (r < 0)
                return r;
        if (manager_cancel_job(lab->manager, id, "canceled by request") < 0)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_JOB, "No active job %u", id);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_get_result(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusLab *lab = userdata;
        uint32_t id;
        int r = sd_bus_message_read(msg, "u", &id);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        r = manager_get_result(lab->manager, id, &text);
        if (r == -ENOENT)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_JOB, "No job %u", id);
        if (r == -EBUSY)
                return sd_bus_error_setf(error, BUS_ERROR_JOB_NOT_FINISHED, "Job %u has not finished yet", id);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to read the result of job %u: %m", id);
        return sd_bus_reply_method_return(msg, "s", text);
}

static int method_list_results(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusLab *lab = userdata;
        const char *filter_text;
        int r = sd_bus_message_read(msg, "s", &filter_text);
        if (r < 0)
                return r;
        json_auto_t *f = json_loads(filter_text[0] ? filter_text : "{}", 0, NULL);
        char b[SPEC_ECHO_MAX + 8];
        if (!json_is_object(f))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Filter '%s' is not a JSON object",
                                         spec_echo_str(filter_text, b));
        json_t *limit = json_object_get(f, "limit");
        if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1 || json_integer_value(limit) > 10000))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid limit in filter: must be 1..10000");
        _cleanup_free_ char *text = NULL;
        r = manager_list_results(lab->manager, spec_string(f, "kind"), spec_string(f, "vmm"), spec_string(f, "state"),
                       (unsigned) json_integer_value(limit), &text);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to list results: %m");
        return sd_bus_reply_method_return(msg, "s", text);
}

/* ---- job objects ------------------------------------------------------ */

static int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                           sd_bus_error *error) {
        BusLab *lab = userdata;
        unsigned id;
        char tail;
        if (sscanf(path, BUS_JOB_PREFIX "/_%u%c", &id, &tail) != 1)
                return 0;
        Job *job = manager_find_job(lab->manager, id);
        if (!job)
                return 0;
        *found = job;
        return 1;
}

static int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        BusLab *lab = userdata;
        _cleanup_free_ Job **jobs = manager_jobs(lab->manager);
        char **v = NULL;
        size_t n = 0;
        if (!jobs)
                return -ENOMEM;
        for (Job **j = jobs; *j; j++)
                if (strv_pushf(&v, &n, BUS_JOB_PREFIX "/_%u", job_id(*j)) < 0) {
                        strv_free(v);
                        return -ENOMEM;
                }
        *nodes = v ?: calloc(1, sizeof(char *));
        return *nodes ? 1 : -ENOMEM;
}

static int job_property(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Job *j = userdata;
        if (streq(property, "Id"))
                return sd_bus_message_append(reply, "u", job_id(j));
        if (streq(property, "Kind"))
                return sd_bus_message_append(reply, "s", job_kind(j)->name);
        if (streq(property, "Vmm"))
                return sd_bus_message_append(reply, "s", job_vmm(j));
        if (streq(property, "State"))
                return sd_bus_message_append(reply, "s", job_state_to_string(job_state(j)));
        if (streq(property, "Phase"))
                return sd_bus_message_append(reply, "s", job_phase(j));
        if (streq(property, "Progress"))
                return sd_bus_message_append(reply, "d", job_progress(j));
        if (streq(property, "RunsDone"))
                return sd_bus_message_append(reply, "u", job_runs_done(j));
        if (streq(property, "RunsTotal"))
                return sd_bus_message_append(reply, "u", job_runs_total(j));
        if (streq(property, "Error"))
                return sd_bus_message_append(reply, "s", strempty(job_error(j)));
        return -ENOENT;
}

typedef struct TreeRequest {
        BusLab *lab;          /* for the bus kick after replying */
        sd_bus_message *msg;  /* the pending MemoryTree call */
        bool flat;            /* info mtree -f */
} TreeRequest;

static void on_tree_reply(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata) {
        TreeRequest *t = userdata;
        const char *text = json_string_value(result);
        json_t *doc = NULL;
        size_t line = 0;
        int r = error < 0 || !text ? (error < 0 ? error : -EBADMSG) : mtree_parse(text, strlen(text), &doc, &line);
        if (r < 0 && line > 0)
                (void) sd_bus_reply_method_errorf(t->msg, BUS_ERROR_NO_RUNNING_VM,
                                                  "The VM's 'info mtree' output does not parse (line %zu)", line);
        else if (r < 0)
                (void) sd_bus_reply_method_errorf(t->msg, BUS_ERROR_NO_RUNNING_VM,
                                                  "Reading the memory tree of the running VM failed: %s",
                                                  desc ?: strerror(-r));
        else {
                json_object_set_new(doc, "how", json_string(t->flat ? "QMP human-monitor-command \"info mtree -f\" on the job's VM"
                                                                    : "QMP human-monitor-command \"info mtree\" on the job's VM"));
                _cleanup_free_ char *out = json_dumps(doc, JSON_COMPACT);
                (void) sd_bus_reply_method_return(t->msg, "s", out ?: "{}");
        }
        json_decref(doc);
        bus_event_kick(t->lab->event);
        sd_bus_message_unref(t->msg);
        free(t);
}

/* Attaches to whatever VM the job runs now (e.g. a memory job settling, a
 * translate guest holding) and returns its MemoryRegion tree as JSON. */
static BusLab *lab_of(sd_bus_message *msg) {
        return sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(msg)));
}

static int method_job_memory_tree(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Job *job = userdata;
        int flat;
        int r = authorize(lab_of(msg), msg, "Attaching to a job's VM", error);
        r = r < 0 ? r : sd_bus_message_read(msg, "b", &flat);
        if (r < 0)
                return r;
        QmpClient *q = job_running_hmp(job, "MemoryTree (a client read the VM's memory tree over QMP)");
        if (!q)
                return sd_bus_error_setf(error, BUS_ERROR_NO_RUNNING_VM,
                                         "Job %u has no running VM with a human monitor right now (state %s, phase '%s')",
                                         job_id(job), job_state_to_string(job_state(job)), job_phase(job));
        TreeRequest *t = calloc(1, sizeof(TreeRequest));
        if (!t)
                return -ENOMEM;
        *t = (TreeRequest) { .lab = lab_of(msg), .msg = sd_bus_message_ref(msg), .flat = flat };
        r = qmp_client_hmp(q, flat ? "info mtree -f" : "info mtree", 10 * USEC_PER_SEC, on_tree_reply, t);
        if (r < 0) {
                sd_bus_message_unref(t->msg);
                free(t);
                return sd_bus_error_set_errnof(error, r, "Failed to ask the VM for its memory tree: %m");
        }
        return 1; /* replied later, from on_tree_reply */
}

static int method_job_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        int r = authorize(lab_of(msg), msg, "Canceling a job", error);
        if (r < 0)
                return r;
        job_cancel(userdata, "canceled by request");
        return sd_bus_reply_method_return(msg, NULL);
}

/* ---- signals (the manager's observer) --------------------------------- */

static void emit_job_new(Job *job, void *userdata) {
        BusLab *lab = userdata;
        char path[64];
        job_path(job_id(job), path, sizeof(path));
        (void) sd_bus_emit_signal(lab->bus, BUS_PATH, BUS_NAME, "JobNew", "uo", job_id(job), path);
}

static void emit_job_removed(Job *job, void *userdata) {
        BusLab *lab = userdata;
        char path[64];
        job_path(job_id(job), path, sizeof(path));
        binding_free(lab, job_id(job));
        (void) sd_bus_emit_signal(lab->bus, BUS_PATH, BUS_NAME, "JobRemoved", "uos", job_id(job), path,
                                  job_state_to_string(job_state(job)));
}

static void emit_job_changed(Job *job, void *userdata) {
        BusLab *lab = userdata;
        char path[64];
        job_path(job_id(job), path, sizeof(path));
        (void) sd_bus_emit_properties_changed(lab->bus, path, BUS_JOB_INTERFACE, "State", "Phase", "Progress",
                                              "RunsDone", "Error", NULL);
}

static void emit_run_finished(Job *job, unsigned index, const char *json, void *userdata) {
        BusLab *lab = userdata;
        char path[64];
        job_path(job_id(job), path, sizeof(path));
        (void) sd_bus_emit_signal(lab->bus, path, BUS_JOB_INTERFACE, "RunFinished", "us", index, json);
}

static void kick(void *userdata) {
        BusLab *lab = userdata;
        bus_event_kick(lab->event);
}

/* ---- vtables ---------------------------------------------------------- */

static int property_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", VIRTLAB_VERSION);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("Describe", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", description), method_describe,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartExperiment", SD_BUS_ARGS("s", kind, "s", spec), SD_BUS_RESULT("u", id, "o", job),
                                method_start_experiment, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartExperimentWithFiles", SD_BUS_ARGS("s", kind, "s", spec, "a{sh}", files),
                                SD_BUS_RESULT("u", id, "o", job), method_start_experiment_with_files,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListJobs", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(usssdo)", jobs), method_list_jobs,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CancelJob", SD_BUS_ARGS("u", id), SD_BUS_NO_RESULT, method_cancel_job,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetResult", SD_BUS_ARGS("u", id), SD_BUS_RESULT("s", result), method_get_result,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListResults", SD_BUS_ARGS("s", filter), SD_BUS_RESULT("s", results),
                                method_list_results, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("JobNew", SD_BUS_ARGS("u", id, "o", job), 0),
        SD_BUS_SIGNAL_WITH_ARGS("JobRemoved", SD_BUS_ARGS("u", id, "o", job, "s", result), 0),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "u", job_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", job_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Vmm", "s", job_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("RunsTotal", "u", job_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", job_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Phase", "s", job_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "d", job_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RunsDone", "u", job_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Error", "s", job_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_job_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("MemoryTree", SD_BUS_ARGS("b", flat), SD_BUS_RESULT("s", tree), method_job_memory_tree,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("RunFinished", SD_BUS_ARGS("u", index, "s", sample), 0),
        SD_BUS_VTABLE_END,
};

static int bus_open(const char *which, sd_bus **ret) {
        if (streq(which, "system"))
                return sd_bus_open_system(ret);
        if (streq(which, "session"))
                return sd_bus_open_user(ret);
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);
        r = r < 0 ? r : sd_bus_set_address(bus, which);
        r = r < 0 ? r : sd_bus_set_bus_client(bus, true);
        r = r < 0 ? r : sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

static int export_objects(BusLab *lab) {
        int r = sd_bus_add_object_vtable(lab->bus, NULL, BUS_PATH, BUS_NAME, manager_vtable, lab);
        r = r < 0 ? r : sd_bus_add_fallback_vtable(lab->bus, NULL, BUS_JOB_PREFIX, BUS_JOB_INTERFACE, job_vtable,
                                                  job_object_find, lab);
        r = r < 0 ? r : sd_bus_add_node_enumerator(lab->bus, NULL, BUS_JOB_PREFIX, job_node_enumerator, lab);
        return r < 0 ? r : sd_bus_add_object_manager(lab->bus, NULL, BUS_PATH);
}

static void on_bus_lost(void *userdata) {
        BusLab *lab = userdata;
        manager_stop(lab->manager, "bus connection lost");
}

int bus_lab_new(Manager *m, struct event_base *base, const char *which, BusLab **ret) {
        BusLab *lab = calloc(1, sizeof(BusLab));
        if (!lab)
                return -ENOMEM;
        lab->manager = m;
        struct group *g = getgrnam(VIRTLAB_GROUP);
        lab->group = g ? g->gr_gid : (gid_t) -1;
        int r = bus_open(which, &lab->bus);
        r = r < 0 ? r : export_objects(lab);
        if (r >= 0) {
                r = sd_bus_request_name(lab->bus, BUS_NAME, 0);
                if (r < 0)
                        log_error_errno(r, "Failed to take the name %s (is another virtlabd running?): %m", BUS_NAME);
        }
        r = r < 0 ? r : bus_event_attach(lab->bus, base, on_bus_lost, lab, &lab->event);
        if (r < 0) {
                bus_lab_free(lab);
                return r;
        }
        ManagerObserver obs = { .job_new = emit_job_new, .job_changed = emit_job_changed,
                                .run_finished = emit_run_finished, .job_removed = emit_job_removed, .kick = kick,
                                .userdata = lab };
        manager_set_observer(m, &obs);
        *ret = lab;
        return 0;
}

BusLab *bus_lab_free(BusLab *lab) {
        if (!lab)
                return NULL;
        if (lab->manager)
                manager_set_observer(lab->manager, NULL);
        while (lab->bindings)
                binding_free(lab, lab->bindings->id);
        bus_event_free(lab->event);
        if (lab->bus) {
                (void) sd_bus_flush(lab->bus);
                sd_bus_flush_close_unref(lab->bus);
        }
        free(lab);
        return NULL;
}
