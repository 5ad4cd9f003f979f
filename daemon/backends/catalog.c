/* catalog.c — VMM binaries and versions, probed asynchronously and cached
 * (catalog.h). */
#include <stdio.h>
#include <sys/stat.h>

#include "backends/catalog.h"
#include "backends/registry.h"
#include "child.h"

#define VERSION_OUTPUT_MAX 4096

struct VmmWaiter {
        struct Entry *entry;       /* what it waits for */
        vmm_ready_handler_t cb;    /* called once */
        void *userdata;            /* for cb */
        struct event *ev;          /* deferred delivery */
        VmmWaiter *next;           /* entry's list */
};

typedef struct Entry {
        VmmCatalog *catalog;       /* owner */
        const VmmBackend *b;       /* the backend */
        VmmInfo info;              /* cached facts */
        struct stat st;            /* of info.path when probed: the cache key */
        ChildRun *probe;           /* version probe under way */
        VmmWaiter *waiters;        /* waiting for the probe */
} Entry;

typedef struct SettleWaiter {
        void (*cb)(void *userdata);  /* called once nothing is probing */
        void *userdata;              /* for cb */
        struct SettleWaiter *next;   /* list */
} SettleWaiter;

struct VmmCatalog {
        struct event_base *base;   /* the loop */
        SettleWaiter *settle;      /* waiting for every probe to end */
        struct event *settle_event; /* delivers them from a fresh iteration */
        Entry *entries;            /* one per backend, in vmm_backends() order */
        size_t n;                  /* entries */
};

static char *find_in_path(const char *name) {
        if (strchr(name, '/'))
                return access(name, X_OK) == 0 ? realpath(name, NULL) : NULL;
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        for (const char *p = path; *p;) {
                size_t len = strcspn(p, ":");
                char full[4096];
                snprintf(full, sizeof(full), "%.*s/%s", (int) len, p, name);
                if (len > 0 && access(full, X_OK) == 0)
                        return realpath(full, NULL);
                p += len + (p[len] == ':');
        }
        return NULL;
}

static bool same_file(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void deliver(evutil_socket_t fd, short what, void *userdata) {
        VmmWaiter *w = userdata;
        Entry *e = w->entry;
        for (VmmWaiter **p = &e->waiters; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        vmm_ready_handler_t cb = w->cb;
        void *ud = w->userdata;
        event_free(w->ev);
        free(w);
        cb(e->b, &e->info, ud);
}

static void schedule(VmmWaiter *w) {
        struct timeval zero = {};
        (void) evtimer_add(w->ev, &zero);
}

static void set_error(Entry *e, const char *fmt, ...) _printf_(2, 3);
static void set_error(Entry *e, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        free(e->info.error);
        if (vasprintf(&e->info.error, fmt, ap) < 0)
                e->info.error = strdup("unusable");
        va_end(ap);
}

static void on_probe_done(const ChildRunResult *r, void *userdata) {
        Entry *e = userdata;
        const VmmBackend *b = e->b;
        char line[256], how[128];
        snprintf(line, sizeof(line), "%.*s", (int) strcspn(r->out, "\n"), r->out);
        child_describe_status(r->wait_status, how, sizeof(how));
        e->probe = NULL;
        e->info.probing = false;
        if (r->timed_out)
                set_error(e, "%s %s did not answer within %llu s", e->info.path, b->version_argv[0],
                          (unsigned long long) (VMM_PROBE_TIMEOUT_USEC / USEC_PER_SEC));
        else if (strncmp(line, b->version_prefix, strlen(b->version_prefix)) != 0)
                set_error(e, "%s is not %s: '%s' %s and printed '%s'", e->info.path, b->product, b->version_argv[0],
                          how, line);
        else
                e->info.version = strdup(line);
        for (VmmWaiter *w = e->waiters; w; w = w->next)
                schedule(w);
        struct timeval zero = {};
        if (e->catalog->settle)
                (void) evtimer_add(e->catalog->settle_event, &zero);
}

static bool catalog_probing(VmmCatalog *c) {
        for (size_t i = 0; i < c->n; i++)
                if (c->entries[i].info.probing)
                        return true;
        return false;
}

static void on_settle(evutil_socket_t fd, short what, void *userdata) {
        VmmCatalog *c = userdata;
        if (catalog_probing(c))
                return;
        SettleWaiter *list = c->settle;
        c->settle = NULL;
        while (list) {
                SettleWaiter *w = list;
                list = w->next;
                w->cb(w->userdata);
                free(w);
        }
}

int vmm_catalog_when_settled(VmmCatalog *c, void (*cb)(void *userdata), void *userdata) {
        if (!catalog_probing(c))
                return 0;
        SettleWaiter *w = calloc(1, sizeof(SettleWaiter));
        if (!w)
                return -ENOMEM;
        *w = (SettleWaiter) { .cb = cb, .userdata = userdata, .next = c->settle };
        c->settle = w;
        return 1;
}

static void start_probe(Entry *e) {
        char *argv[4] = { e->info.path };
        for (size_t i = 0; e->b->version_argv[i] && i < 2; i++)
                argv[i + 1] = (char *) e->b->version_argv[i];
        e->info.probing = true;
        int r = child_run(e->catalog->base, argv, NULL, VERSION_OUTPUT_MAX, VMM_PROBE_TIMEOUT_USEC, on_probe_done, e,
                          &e->probe);
        if (r < 0) {
                e->info.probing = false;
                set_error(e, "cannot run %s: %s", e->info.path, strerror(-r));
        }
}

/* Re-finds the binary; resets and re-probes the cache when it changed. */
static void entry_update(Entry *e) {
        const VmmBackend *b = e->b;
        const char *override = b->binary_env ? getenv(b->binary_env) : NULL;
        const char *want = override && *override ? override : b->binary;
        _cleanup_free_ char *path = find_in_path(want);
        struct stat st = {};
        if (path && stat(path, &st) < 0)
                path = (free(path), NULL);
        if (path && e->info.path && streq(path, e->info.path) && same_file(&st, &e->st))
                return;
        if (!path && !e->info.path && e->info.error)
                return;
        e->probe = child_run_free(e->probe);
        vmm_info_done(&e->info);
        e->st = st;
        if (!path) {
                set_error(e, "%s not found%s%s%s", want, override && *override ? " (from $" : " in PATH",
                          override && *override ? b->binary_env : "", override && *override ? ")" : "");
                for (VmmWaiter *w = e->waiters; w; w = w->next)
                        schedule(w);
                return;
        }
        e->info.path = TAKE_PTR(path);
        start_probe(e);
}

int vmm_catalog_new(struct event_base *base, VmmCatalog **ret) {
        VmmCatalog *c = calloc(1, sizeof(VmmCatalog));
        size_t n = 0;
        while (vmm_backends()[n])
                n++;
        if (!c || !(c->entries = calloc(n, sizeof(Entry)))) {
                free(c);
                return -ENOMEM;
        }
        c->base = base;
        c->n = n;
        c->settle_event = evtimer_new(base, on_settle, c);
        if (!c->settle_event) {
                free(c->entries);
                free(c);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                c->entries[i] = (Entry) { .catalog = c, .b = vmm_backends()[i] };
        vmm_catalog_refresh(c);
        *ret = c;
        return 0;
}

VmmCatalog *vmm_catalog_free(VmmCatalog *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++) {
                Entry *e = &c->entries[i];
                child_run_free(e->probe);
                while (e->waiters) {
                        VmmWaiter *w = e->waiters;
                        e->waiters = w->next;
                        event_free(w->ev);
                        free(w);
                }
                vmm_info_done(&e->info);
        }
        while (c->settle) {
                SettleWaiter *w = c->settle;
                c->settle = w->next;
                free(w);
        }
        event_free(c->settle_event);
        free(c->entries);
        free(c);
        return NULL;
}

void vmm_catalog_refresh(VmmCatalog *c) {
        for (size_t i = 0; i < c->n; i++)
                entry_update(&c->entries[i]);
}

static Entry *entry_of(VmmCatalog *c, const VmmBackend *b) {
        for (size_t i = 0; i < c->n; i++)
                if (c->entries[i].b == b)
                        return &c->entries[i];
        return NULL;
}

const VmmInfo *vmm_catalog_peek(VmmCatalog *c, const VmmBackend *b) {
        Entry *e = entry_of(c, b);
        return e ? &e->info : NULL;
}

const VmmInfo *vmm_catalog_get(VmmCatalog *c, const VmmBackend *b) {
        Entry *e = entry_of(c, b);
        if (!e)
                return NULL;
        entry_update(e);
        return &e->info;
}

int vmm_catalog_when_ready(VmmCatalog *c, const VmmBackend *b, vmm_ready_handler_t cb, void *userdata,
                           VmmWaiter **ret) {
        Entry *e = entry_of(c, b);
        if (!e)
                return -ENOENT;
        entry_update(e);
        VmmWaiter *w = calloc(1, sizeof(VmmWaiter));
        if (!w)
                return -ENOMEM;
        *w = (VmmWaiter) { .entry = e, .cb = cb, .userdata = userdata, .next = e->waiters };
        w->ev = evtimer_new(c->base, deliver, w);
        if (!w->ev) {
                free(w);
                return -ENOMEM;
        }
        e->waiters = w;
        if (!e->info.probing)
                schedule(w);
        if (ret)
                *ret = w;
        return 0;
}

void vmm_catalog_cancel(VmmWaiter *w) {
        if (!w)
                return;
        for (VmmWaiter **p = &w->entry->waiters; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        event_free(w->ev);
        free(w);
}

json_t *vmm_info_to_json(const VmmBackend *b, const VmmInfo *i) {
        return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b, s:b}", "name", b->name, "description", b->description,
                         "path", i->path, "version", i->version, "error", i->error, "available", !i->error,
                         "probing", i->probing);
}

int vmm_info_copy(const VmmInfo *a, VmmInfo *ret) {
        VmmInfo c = { .probing = a->probing };
        if ((a->path && !(c.path = strdup(a->path))) || (a->version && !(c.version = strdup(a->version))) ||
            (a->error && !(c.error = strdup(a->error)))) {
                vmm_info_done(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

void vmm_info_done(VmmInfo *i) {
        free(i->path);
        free(i->version);
        free(i->error);
        *i = (VmmInfo) {};
}
