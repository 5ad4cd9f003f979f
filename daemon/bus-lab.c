/* bus-lab.c — the org.virtlab.Lab1 D-Bus API (see schemas/org.virtlab.Lab1.xml):
 * the manager object and one object per job, hostnamed/importd style.
 * Methods parse, validate (InvalidArgs naming the value), act, map errno,
 * reply; vtables sit at the bottom. */
#include <stdio.h>

#include "experiment.h"
#include "manager.h"
#include "mtree.h"
#include "util.h"

#define BUS_ERROR_VMM_UNAVAILABLE "org.virtlab.Lab1.VmmUnavailable"
#define BUS_ERROR_NO_SUCH_JOB "org.virtlab.Lab1.NoSuchJob"
#define BUS_ERROR_TOO_MANY_JOBS "org.virtlab.Lab1.TooManyJobs"
#define BUS_ERROR_JOB_NOT_FINISHED "org.virtlab.Lab1.JobNotFinished"
#define BUS_ERROR_NO_RUNNING_VM "org.virtlab.Lab1.NoRunningVm"

static json_t *describe_image(const char *image_dir) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/image.json", image_dir);
        json_t *img = json_load_file(path, 0, NULL);
        return img ?: json_pack("{s:s, s:s}", "path", path, "error", "not built (run 'make image')");
}

static json_t *describe_vmms(void) {
        json_t *a = json_array();
        for (const VmmBackend *const *b = vmm_backends(); *b; b++) {
                VmmInfo info;
                vmm_probe(*b, &info);
                json_array_append_new(a, vmm_info_to_json(*b, &info));
                vmm_info_done(&info);
        }
        return a;
}

static json_t *describe_kinds(void) {
        json_t *a = json_array();
        for (const ExperimentKind *const *k = experiment_kinds(); *k; k++)
                json_array_append_new(a, json_pack("{s:s, s:s}", "name", (*k)->name, "description", (*k)->description));
        return a;
}

static int method_describe(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        json_t *doc = json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:I}", "version", VIRTLAB_VERSION, "host",
                                host_to_json(&m->host), "vmms", describe_vmms(), "experiments", describe_kinds(),
                                "image", describe_image(m->image_dir), "store", store_path(m->store), "state_dir",
                                m->state_dir, "queue_policy", "one job at a time; later jobs are queued in order",
                                "queue_max", (json_int_t) JOBS_QUEUED_MAX);
        _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!text)
                return -ENOMEM;
        return sd_bus_reply_method_return(msg, "s", text);
}

static int check_one_vmm_available(const char *name, sd_bus_error *error) {
        const VmmBackend *b = vmm_backend_find(name);
        VmmInfo info;
        vmm_probe(b, &info);
        int r = 0;
        if (info.error)
                r = sd_bus_error_setf(error, BUS_ERROR_VMM_UNAVAILABLE, "VMM '%s' is unavailable: %s", b->name, info.error);
        vmm_info_done(&info);
        return r;
}

/* Every VMM the job would run: "vmms" (a compare job), else "vmm". */
static int check_vmm_available(json_t *spec, sd_bus_error *error) {
        json_t *list = json_object_get(spec, "vmms"), *e;
        size_t i;
        if (!list)
                return check_one_vmm_available(json_string_value(json_object_get(spec, "vmm")), error);
        json_array_foreach(list, i, e) {
                int r = check_one_vmm_available(json_string_value(e), error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int known_kinds(char *buf, size_t size) {
        buf[0] = 0;
        for (const ExperimentKind *const *k = experiment_kinds(); *k; k++)
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? ", " : "", (*k)->name);
        return 0;
}

static int method_start_experiment(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *kind_name, *spec_text;
        int r = sd_bus_message_read(msg, "ss", &kind_name, &spec_text);
        if (r < 0)
                return r;
        const ExperimentKind *kind = experiment_kind_find(kind_name);
        if (!kind) {
                char known[128];
                known_kinds(known, sizeof(known));
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown experiment kind '%s' (known: %s)",
                                         kind_name, known);
        }
        json_error_t je;
        json_auto_t *spec = json_loads(spec_text[0] ? spec_text : "{}", 0, &je);
        if (!spec)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Experiment spec is not valid JSON: %s (at column %d)",
                                         je.text, je.column);
        JobContext ctx = manager_job_context(m);
        _cleanup_free_ char *why = NULL;
        if (job_spec_validate(kind, spec, &ctx, &why) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s", why ?: "Invalid experiment spec");
        r = check_vmm_available(spec, error);
        if (r < 0)
                return r;
        JobObserver obs = manager_job_observer_template;
        obs.userdata = m;
        Job *job;
        r = job_new(&ctx, kind, spec, &obs, &job);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to create the job: %m");
        const char *sender = json_is_true(json_object_get(spec, "bind_to_client")) ? sd_bus_message_get_sender(msg) : NULL;
        ManagedJob *mj;
        r = manager_add_job(m, job, sender, &mj);
        if (r < 0) {
                char reason[128];
                snprintf(reason, sizeof(reason), "could not be queued: %s",
                         r == -E2BIG ? "the job queue is full" : strerror(-r));
                job_free(job, reason);
                if (r == -E2BIG)
                        return sd_bus_error_setf(error, BUS_ERROR_TOO_MANY_JOBS, "Too many queued jobs (max %d)",
                                                 JOBS_QUEUED_MAX);
                return sd_bus_error_set_errnof(error, r, "Failed to queue the job: %m");
        }
        log_info("Job %u queued: %s %s", job_id(job), kind->name, spec_text);
        bus_lab_emit_job_new(m, mj);
        return sd_bus_reply_method_return(msg, "uo", job_id(job), mj->path);
}

static int method_list_jobs(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_message_new_method_return(msg, &reply);
        r = r < 0 ? r : sd_bus_message_open_container(reply, 'a', "(usssdo)");
        for (ManagedJob *mj = m->jobs; r >= 0 && mj; mj = mj->next)
                r = sd_bus_message_append(reply, "(usssdo)", job_id(mj->job), job_kind(mj->job)->name, job_vmm(mj->job),
                                          job_state_to_string(job_state(mj->job)), job_progress(mj->job), mj->path);
        r = r < 0 ? r : sd_bus_message_close_container(reply);
        return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}

static int method_cancel_job(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint32_t id;
        int r = sd_bus_message_read(msg, "u", &id);
        if (r < 0)
                return r;
        ManagedJob *mj = manager_find_job(m, id);
        if (!mj)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_JOB, "No active job %u", id);
        job_cancel(mj->job, "canceled by request");
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_get_result(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint32_t id;
        int r = sd_bus_message_read(msg, "u", &id);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        r = store_job_result(m->store, id, &text);
        if (r == -ENOENT)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_JOB, "No job %u", id);
        if (r == -EBUSY)
                return sd_bus_error_setf(error, BUS_ERROR_JOB_NOT_FINISHED, "Job %u has not finished yet", id);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to read the result of job %u: %m", id);
        return sd_bus_reply_method_return(msg, "s", text);
}

static int method_list_results(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *filter_text;
        int r = sd_bus_message_read(msg, "s", &filter_text);
        if (r < 0)
                return r;
        json_auto_t *f = json_loads(filter_text[0] ? filter_text : "{}", 0, NULL);
        if (!json_is_object(f))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Filter '%s' is not a JSON object", filter_text);
        json_t *limit = json_object_get(f, "limit");
        if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1 || json_integer_value(limit) > 10000))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid limit in filter: must be 1..10000");
        _cleanup_free_ char *text = NULL;
        r = store_list(m->store, json_string_value(json_object_get(f, "kind")), json_string_value(json_object_get(f, "vmm")),
                       json_string_value(json_object_get(f, "state")), (unsigned) json_integer_value(limit), &text);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to list results: %m");
        return sd_bus_reply_method_return(msg, "s", text);
}

/* ---- job objects ------------------------------------------------------ */

static int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                           sd_bus_error *error) {
        Manager *m = userdata;
        unsigned id;
        char tail;
        if (sscanf(path, BUS_JOB_PREFIX "/_%u%c", &id, &tail) != 1)
                return 0;
        ManagedJob *mj = manager_find_job(m, id);
        if (!mj)
                return 0;
        *found = mj;
        return 1;
}

static int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        size_t n = 0;
        for (ManagedJob *mj = m->jobs; mj; mj = mj->next)
                n++;
        char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        n = 0;
        for (ManagedJob *mj = m->jobs; mj; mj = mj->next)
                if (!(v[n++] = strdup(mj->path)))
                        return -ENOMEM;
        *nodes = v;
        return 1;
}

static int job_property(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        ManagedJob *mj = userdata;
        Job *j = mj->job;
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
        Manager *manager;     /* for the bus kick after replying */
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
        bus_event_kick(t->manager->bus_event);
        sd_bus_message_unref(t->msg);
        free(t);
}

/* Attaches to whatever VM the job runs now (e.g. a memory job settling, a
 * translate guest holding) and returns its MemoryRegion tree as JSON. */
static int method_job_memory_tree(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        ManagedJob *mj = userdata;
        int flat;
        int r = sd_bus_message_read(msg, "b", &flat);
        if (r < 0)
                return r;
        QmpClient *q = job_running_hmp(mj->job);
        if (!q)
                return sd_bus_error_setf(error, BUS_ERROR_NO_RUNNING_VM,
                                         "Job %u has no running VM with a human monitor right now (state %s, phase '%s')",
                                         job_id(mj->job), job_state_to_string(job_state(mj->job)), job_phase(mj->job));
        TreeRequest *t = calloc(1, sizeof(TreeRequest));
        if (!t)
                return -ENOMEM;
        *t = (TreeRequest) { .manager = mj->manager, .msg = sd_bus_message_ref(msg), .flat = flat };
        r = qmp_client_hmp(q, flat ? "info mtree -f" : "info mtree", 10 * USEC_PER_SEC, on_tree_reply, t);
        if (r < 0) {
                sd_bus_message_unref(t->msg);
                free(t);
                return sd_bus_error_set_errnof(error, r, "Failed to ask the VM for its memory tree: %m");
        }
        return 1; /* replied later, from on_tree_reply */
}

static int method_job_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        ManagedJob *mj = userdata;
        job_cancel(mj->job, "canceled by request");
        return sd_bus_reply_method_return(msg, NULL);
}

/* ---- signals ---------------------------------------------------------- */

void bus_lab_emit_job_new(Manager *m, ManagedJob *mj) {
        (void) sd_bus_emit_signal(m->bus, BUS_PATH, BUS_NAME, "JobNew", "uo", job_id(mj->job), mj->path);
        bus_event_kick(m->bus_event);
}

void bus_lab_emit_job_removed(Manager *m, ManagedJob *mj) {
        (void) sd_bus_emit_signal(m->bus, BUS_PATH, BUS_NAME, "JobRemoved", "uos", job_id(mj->job), mj->path,
                                  job_state_to_string(job_state(mj->job)));
        bus_event_kick(m->bus_event);
}

void bus_lab_emit_job_changed(Manager *m, ManagedJob *mj) {
        (void) sd_bus_emit_properties_changed(m->bus, mj->path, BUS_JOB_INTERFACE, "State", "Phase", "Progress",
                                              "RunsDone", "Error", NULL);
        bus_event_kick(m->bus_event);
}

void bus_lab_emit_run_finished(Manager *m, ManagedJob *mj, unsigned index, const char *json) {
        (void) sd_bus_emit_signal(m->bus, mj->path, BUS_JOB_INTERFACE, "RunFinished", "us", index, json);
        bus_event_kick(m->bus_event);
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
                                method_start_experiment, 0),
        SD_BUS_METHOD_WITH_ARGS("ListJobs", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(usssdo)", jobs), method_list_jobs,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CancelJob", SD_BUS_ARGS("u", id), SD_BUS_NO_RESULT, method_cancel_job, 0),
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
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_job_cancel, 0),
        SD_BUS_METHOD_WITH_ARGS("MemoryTree", SD_BUS_ARGS("b", flat), SD_BUS_RESULT("s", tree), method_job_memory_tree,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("RunFinished", SD_BUS_ARGS("u", index, "s", sample), 0),
        SD_BUS_VTABLE_END,
};

int bus_lab_export(Manager *m) {
        int r = sd_bus_add_object_vtable(m->bus, NULL, BUS_PATH, BUS_NAME, manager_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, BUS_JOB_PREFIX, BUS_JOB_INTERFACE, job_vtable, job_object_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(m->bus, NULL, BUS_JOB_PREFIX, job_node_enumerator, m);
        if (r < 0)
                return r;
        return sd_bus_add_object_manager(m->bus, NULL, BUS_PATH);
}
