/* manager.c — job queue and daemon state (manager.h). */
#include "manager.h"

#include "libvirt-conn.h"

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "experiments/experiment.h"
#include "backends/registry.h"
#include "image.h"
#include "plan.h"
#include "utf8.h"
#include "util.h"

/* Results the store refused (full or read-only state dir), newest last. */
#define UNSTORED_MAX 16

typedef struct QueuedJob {
        Job *job;                /* the job */
        struct QueuedJob *next;  /* queue order */
} QueuedJob;

struct Manager {
        struct event_base *base; /* the one loop */
        Store *store;            /* results */
        HostInfo host;           /* probed once at start-up */
        VmmCatalog *catalog;     /* VMM binaries and versions */
        char *state_dir;         /* results.db and logs */
        char *image_dir;         /* default guest image */
        char *run_dir;           /* private scratch directory */
        QueuedJob *jobs;         /* running first, then queued */
        struct event *dispatch;  /* deferred: reap finished jobs, start the next */
        ManagerObserver obs;     /* the bus side */
        json_t *unstored;        /* {"ID": result text} the store refused, for GetResult */
        char *stop_reason;       /* why the loop was stopped */
};

static void manager_on_dispatch(evutil_socket_t fd, short what, void *userdata);

static void kick(Manager *m) {
        if (m->obs.kick)
                m->obs.kick(m->obs.userdata);
}

static void schedule_dispatch(Manager *m) {
        struct timeval zero = {};
        (void) evtimer_add(m->dispatch, &zero);
}

int manager_new(struct event_base *base, const ManagerConfig *cfg, Manager **ret) {
        Manager *m = calloc(1, sizeof(Manager));
        if (!m)
                return -ENOMEM;
        m->base = base;
        (void) host_probe(&m->host);
        m->state_dir = strdup(cfg->state_dir);
        m->image_dir = strdup(cfg->image_dir);
        m->run_dir = strdup(cfg->run_dir);
        m->dispatch = evtimer_new(base, manager_on_dispatch, m);
        m->unstored = json_object();
        int r = m->unstored && m->state_dir && m->image_dir && m->run_dir && m->dispatch ? vmm_catalog_new(base, &m->catalog) : -ENOMEM;
        if (r >= 0) {
                r = store_open(cfg->state_dir, &m->store);
                if (r < 0)
                        log_error_errno(r, "Failed to open the result store in %s: %m", cfg->state_dir);
        }
        if (r < 0) {
                manager_free(m);
                return r;
        }
        if (store_recovered_jobs(m->store) > 0)
                log_notice("Marked %u interrupted job(s) as failed.", store_recovered_jobs(m->store));
        /* After the store: the default run dir lives inside the state dir. */
        if (mkdir(m->run_dir, 0700) < 0 && errno != EEXIST)
                log_warning_errno(-errno, "Failed to create run directory %s, ignoring: %m", m->run_dir);
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        char why[160];
        snprintf(why, sizeof(why), "virtlabd was stopped (%s) while the job ran", m->stop_reason ?: "shutdown");
        /* Every VM is killed and reaped inside job_free(): none outlives us. */
        while (m->jobs) {
                QueuedJob *q = m->jobs;
                m->jobs = q->next;
                job_free(q->job, why);
                free(q);
        }
        if (m->dispatch)
                event_free(m->dispatch);
        vmm_catalog_free(m->catalog);
        store_close(m->store);
        json_decref(m->unstored);
        free(m->state_dir);
        free(m->image_dir);
        free(m->run_dir);
        free(m->stop_reason);
        free(m);
        return NULL;
}

void manager_set_observer(Manager *m, const ManagerObserver *o) {
        m->obs = o ? *o : (ManagerObserver) {};
}

void manager_stop(Manager *m, const char *why) {
        if (!m->stop_reason)
                m->stop_reason = strdup(why);
        log_info("Stopping: %s.", why);
        event_base_loopexit(m->base, NULL);
}

Store *manager_store(Manager *m) { return m->store; }

/* Keeps the document of a finished job the store refused. */
static void keep_unstored(Manager *m, Job *job) {
        const char *text = job_unstored_result(job);
        char key[16];
        if (!text)
                return;
        if (json_object_size(m->unstored) >= UNSTORED_MAX) {
                const char *oldest = json_object_iter_key(json_object_iter(m->unstored));
                (void) json_object_del(m->unstored, oldest);
        }
        snprintf(key, sizeof(key), "%u", job_id(job));
        (void) json_object_set_new(m->unstored, key, json_string(text));
}

/* A job whose final write the store refused still reads "running" in its
 * row: the row is written again whenever the store may have room, and the
 * document leaves memory once it is stored. */
static void flush_unstored(Manager *m) {
        const char *key;
        json_t *text;
        void *tmp;
        json_object_foreach_safe(m->unstored, tmp, key, text) {
                json_auto_t *doc = json_loads(json_string_value(text), 0, NULL);
                const char *state = json_string_value(json_object_get(doc, "state")) ?: "failed";
                const char *error = json_string_value(json_object_get(doc, "error"));
                uint32_t id = (uint32_t) strtoul(key, NULL, 10);
                if (store_job_finish(m->store, id, state, error, json_string_value(text)) >= 0 ||
                    store_job_finish(m->store, id, state, error, NULL) == -ENOENT)
                        (void) json_object_del(m->unstored, key);
        }
}

/* The row of a job listed (a JSON object) with the state and error of its
 * unstored document, if it has one. */
static void overlay_unstored(Manager *m, json_t *row) {
        char key[16];
        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(row, "job_id")));
        json_auto_t *doc = json_loads(strempty(json_string_value(json_object_get(m->unstored, key))), 0, NULL);
        if (!doc)
                return;
        (void) json_object_set(row, "state", json_object_get(doc, "state"));
        (void) json_object_set(row, "error", json_object_get(doc, "error"));
}

int manager_list_results(Manager *m, const char *kind, const char *vmm, const char *state, unsigned limit,
                         char **ret_json) {
        flush_unstored(m);
        _cleanup_free_ char *text = NULL;
        int r = store_list(m->store, kind, vmm, state, limit, &text);
        if (r < 0 || json_object_size(m->unstored) == 0) {
                *ret_json = TAKE_PTR(text);
                return r;
        }
        json_auto_t *rows = json_loads(text, 0, NULL);
        if (!json_is_array(rows))
                return -EBADMSG;
        size_t i = 0;
        while (i < json_array_size(rows)) {
                json_t *row = json_array_get(rows, i);
                overlay_unstored(m, row);
                if (state && !streq(strempty(json_string_value(json_object_get(row, "state"))), state))
                        (void) json_array_remove(rows, i);
                else
                        i++;
        }
        char *out = json_dumps(rows, JSON_COMPACT);
        if (!out)
                return -ENOMEM;
        *ret_json = out;
        return 0;
}

int manager_get_result(Manager *m, uint32_t id, char **ret_json) {
        char key[16];
        snprintf(key, sizeof(key), "%u", id);
        const char *text = json_string_value(json_object_get(m->unstored, key));
        if (text) {
                *ret_json = strdup(text);
                return *ret_json ? 0 : -ENOMEM;
        }
        return store_job_result(m->store, id, ret_json);
}
const HostInfo *manager_host(Manager *m) { return &m->host; }

Job *manager_find_job(Manager *m, uint32_t id) {
        for (QueuedJob *q = m->jobs; q; q = q->next)
                if (job_id(q->job) == id)
                        return q->job;
        return NULL;
}

Job **manager_jobs(Manager *m) {
        size_t n = 0;
        for (QueuedJob *q = m->jobs; q; q = q->next)
                n++;
        Job **v = calloc(n + 1, sizeof(Job *));
        n = 0;
        for (QueuedJob *q = m->jobs; v && q; q = q->next)
                v[n++] = q->job;
        return v;
}

int manager_cancel_job(Manager *m, uint32_t id, const char *why) {
        Job *job = manager_find_job(m, id);
        if (!job)
                return -ENOENT;
        job_cancel(job, why);
        return 0;
}

/* ---- job events ------------------------------------------------------- */

static void on_job_changed(Job *job, void *userdata) {
        Manager *m = userdata;
        if (m->obs.job_changed)
                m->obs.job_changed(job, m->obs.userdata);
        kick(m);
}

static void on_run_finished(Job *job, unsigned index, const char *json, void *userdata) {
        Manager *m = userdata;
        if (m->obs.run_finished)
                m->obs.run_finished(job, index, json, m->obs.userdata);
        kick(m);
}

static void on_job_finished(Job *job, void *userdata) {
        Manager *m = userdata;
        on_job_changed(job, m);
        schedule_dispatch(m);
}

/* ---- queue ------------------------------------------------------------ */

static unsigned queued_jobs(Manager *m) {
        unsigned n = 0;
        for (QueuedJob *q = m->jobs; q; q = q->next)
                n += job_state(q->job) == JOB_QUEUED;
        return n;
}

static int fail(char **ret_error, ManagerError *ret_class, ManagerError class, int r, const char *fmt, ...)
        _printf_(5, 6);
static int fail(char **ret_error, ManagerError *ret_class, ManagerError class, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        *ret_class = class;
        return r;
}

int manager_submit(Manager *m, const char *kind_name, const char *spec_text, CallerFiles *files, Job **ret,
                   char **ret_error, ManagerError *ret_class) {
        const ExperimentKind *kind = experiment_kind_find(kind_name);
        char buf[512];
        if (!kind) {
                experiment_kind_names(buf, sizeof(buf));
                return fail(ret_error, ret_class, MANAGER_INVALID, -EINVAL, "Unknown experiment kind '%s' (known: %s)",
                            spec_echo_str(kind_name, (char[SPEC_ECHO_MAX + 8]) {}), buf);
        }
        json_error_t je;
        if (!spec_text[0])
                return fail(ret_error, ret_class, MANAGER_INVALID, -EINVAL,
                            "Experiment spec is empty: pass a JSON object, {} for every default");
        json_auto_t *spec = json_loads(spec_text, 0, &je);
        if (!spec) {
                /* jansson does not always quote the offending token ("too big integer"): show where. */
                char near[40];
                size_t end = (size_t) je.position < strlen(spec_text) ? (size_t) je.position : strlen(spec_text);
                size_t start = end > sizeof(near) - 1 ? end - (sizeof(near) - 1) : 0;
                snprintf(near, sizeof(near), "%.*s", (int) (end - start), spec_text + start);
                (void) utf8_scrub(near); /* the cut may split a character; the error goes out as UTF-8 */
                return fail(ret_error, ret_class, MANAGER_INVALID, -EINVAL,
                            "Experiment spec is not valid JSON: %s (at column %d, after '%s')", je.text, je.column,
                            near);
        }
        if (queued_jobs(m) >= JOBS_QUEUED_MAX)
                return fail(ret_error, ret_class, MANAGER_QUEUE_FULL, -E2BIG, "Too many queued jobs (max %d)",
                            JOBS_QUEUED_MAX);
        PlanContext pc = { .host = &m->host, .catalog = m->catalog, .image_dir = m->image_dir };
        JobPlan *plan = NULL;
        PlanError pe;
        int r = plan_new(&pc, kind, spec, files, &plan, ret_error, &pe);
        if (r < 0) {
                *ret_class = pe == PLAN_VMM_UNAVAILABLE ? MANAGER_VMM_UNAVAILABLE : MANAGER_INVALID;
                return r;
        }
        QueuedJob *q = calloc(1, sizeof(QueuedJob));
        if (!q) {
                plan_free(plan);
                return fail(ret_error, ret_class, MANAGER_INTERNAL, -ENOMEM, "Out of memory");
        }
        JobContext jc = { .base = m->base, .store = m->store, .catalog = m->catalog, .run_dir = m->run_dir };
        JobObserver obs = { .changed = on_job_changed, .run_finished = on_run_finished, .finished = on_job_finished,
                            .userdata = m };
        r = job_new(&jc, plan, &obs, &q->job);
        if (r < 0) {
                free(q);
                return fail(ret_error, ret_class, MANAGER_INTERNAL, r, "Failed to create the job: %s", strerror(-r));
        }
        QueuedJob **tail = &m->jobs;
        while (*tail)
                tail = &(*tail)->next;
        *tail = q;
        log_info("Job %u queued: %s %s", job_id(q->job), kind->name, spec_text);
        if (m->obs.job_new)
                m->obs.job_new(q->job, m->obs.userdata);
        schedule_dispatch(m);
        *ret = q->job;
        return 0;
}

/* Removes finished jobs (announcing them) and starts the next one. */
static void manager_on_dispatch(evutil_socket_t fd, short what, void *userdata) {
        Manager *m = userdata;
        flush_unstored(m);
        for (QueuedJob **p = &m->jobs; *p;) {
                QueuedJob *q = *p;
                if (job_state(q->job) < JOB_DONE) {
                        p = &q->next;
                        continue;
                }
                *p = q->next;
                keep_unstored(m, q->job);
                if (m->obs.job_removed)
                        m->obs.job_removed(q->job, m->obs.userdata);
                job_free(q->job, NULL);
                free(q);
        }
        if (m->jobs && job_state(m->jobs->job) == JOB_QUEUED)
                job_start(m->jobs->job);
        kick(m);
}

/* ---- describe --------------------------------------------------------- */

static json_t *describe_image(Manager *m) {
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *why = NULL;
        if (image_load(m->image_dir, &img, &why) < 0)
                return json_pack("{s:s, s:s}", "path", m->image_dir,
                                 "error", why ?: "not built (run 'make image')");
        return json_incref(img->doc);
}

static json_t *describe_vmms(Manager *m) {
        json_t *a = json_array();
        for (const VmmBackend *const *b = vmm_backends(); a && *b; b++) {
                /* manager_when_settled() re-found every binary just before: once per Describe is enough. */
                const VmmInfo *info = vmm_catalog_peek(m->catalog, *b);
                json_t *o = info ? vmm_info_to_json(*b, info) : NULL;
                if (o)
                        json_object_set_new(o, "capabilities",
                                            json_pack("{s:b, s:b, s:b, s:b}", "tcg", (*b)->caps.has_tcg, "hmp",
                                                      (*b)->caps.has_hmp, "pci", (*b)->caps.has_pci, "takes_fds",
                                                      (*b)->caps.takes_fds));
                json_array_append_new(a, o);
        }
        return a;
}

static json_t *describe_kinds(void) {
        json_t *a = json_array();
        for (const ExperimentKind *const *k = experiment_kinds(); *k; k++)
                json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "name", (*k)->name, "description",
                                                   (*k)->description, "vm", !(*k)->vm_less));
        return a;
}

int manager_when_settled(Manager *m, void (*cb)(void *userdata), void *userdata) {
        vmm_catalog_refresh(m->catalog); /* a binary that changed starts its probe now */
        return vmm_catalog_when_settled(m->catalog, cb, userdata);
}

json_t *manager_describe(Manager *m) {
        return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:I}", "version", VIRTLAB_VERSION, "host",
                         host_to_json(&m->host), "vmms", describe_vmms(m), "libvirt", libvirt_describe(), "experiments",
                         describe_kinds(), "image", describe_image(m), "store", store_path(m->store), "state_dir",
                         m->state_dir, "queue_policy", "one job at a time; later jobs are queued in order", "queue_max",
                         (json_int_t) JOBS_QUEUED_MAX);
}
