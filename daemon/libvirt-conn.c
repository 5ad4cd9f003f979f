/* libvirt-conn.c — connections, prefix, leftovers and Describe facts
 * (libvirt-conn.h).
 *
 * Divisions: errors · connections and their events · leftovers · facts ·
 * setup. */
#include "libvirt-conn.h"

#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdio.h>

#include "libvirt-event.h"

struct LibvirtConn {
        unsigned refs;             /* the cache's and the VMs' */
        char *uri;                 /* as asked for */
        virConnectPtr ptr;         /* NULL once closed */
        int lifecycle_id;          /* virConnectDomainEventRegisterAny id, -1 if none */
        int monitor_id;            /* virConnectDomainQemuMonitorEventRegister id, -1 if none */
        bool cached;               /* in the cache list */
        LibvirtWatch *watches;     /* drivers listening */
        struct LibvirtConn *next;  /* cache list */
};

static struct {
        struct event_base *base;   /* the loop */
        char *default_uri;         /* the daemon's --libvirt-uri, or LIBVIRT_DEFAULT_URI */
        char prefix[32];           /* "virtlab-XXXXXXXX-" */
        LibvirtConn *conns;        /* open connections */
        json_t *facts;             /* Describe's libvirt object */
        usec_t facts_at;           /* when probed (monotonic) */
        struct event *refresh;     /* deferred probe */
} lv;

/* ---- errors ------------------------------------------------------------- */

/* libvirt prints every error to stderr unless told otherwise; we quote
 * them where they matter and log the rest at debug level. */
static void on_libvirt_error(void *userdata, virErrorPtr e) {
        log_debug("libvirt: %s", e && e->message ? e->message : "(no message)");
}

char *libvirt_error(void) {
        const char *m = virGetLastErrorMessage();
        return strdup(m && *m && !streq(m, "no error") ? m : "unknown libvirt error");
}

/* ---- connections and their events --------------------------------------- */

static LibvirtConn *conn_by_ptr(virConnectPtr p) {
        for (LibvirtConn *c = lv.conns; c; c = c->next)
                if (c->ptr == p)
                        return c;
        return NULL;
}

static void uncache(LibvirtConn *c) {
        if (!c->cached)
                return;
        for (LibvirtConn **p = &lv.conns; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        c->cached = false;
        (void) libvirt_conn_unref(c);
}

static LibvirtWatch *watch_of(LibvirtConn *c, const char *name) {
        for (LibvirtWatch *w = c ? c->watches : NULL; w; w = w->next)
                if (name && streq(w->name, name))
                        return w;
        return NULL;
}

static int on_lifecycle(virConnectPtr p, virDomainPtr dom, int event, int detail, void *opaque) {
        usec_t t = now_usec();
        LibvirtWatch *w = watch_of(conn_by_ptr(p), virDomainGetName(dom));
        if (w && w->on_lifecycle)
                w->on_lifecycle(event, detail, t, w->userdata);
        return 0;
}

static void on_monitor_event(virConnectPtr p, virDomainPtr dom, const char *event, long long seconds,
                             unsigned int micros, const char *details, void *opaque) {
        LibvirtWatch *w = watch_of(conn_by_ptr(p), virDomainGetName(dom));
        if (w && w->on_monitor_event)
                w->on_monitor_event(event, seconds, micros, details, w->userdata);
}

static const char *close_reason(int reason) {
        switch (reason) {
        case VIR_CONNECT_CLOSE_REASON_ERROR: return "a connection error";
        case VIR_CONNECT_CLOSE_REASON_EOF: return "libvirtd closed it (stopped or restarted)";
        case VIR_CONNECT_CLOSE_REASON_KEEPALIVE: return "keepalive timeout";
        default: return "closed by the client";
        }
}

static void on_deferred_unref(evutil_socket_t fd, short what, void *userdata) {
        (void) libvirt_conn_unref(userdata);
}

/* libvirtd went away: the connection is dropped and every watcher told,
 * the last reference released from a fresh iteration. */
static void on_close(virConnectPtr p, int reason, void *opaque) {
        LibvirtConn *c = conn_by_ptr(p);
        if (!c)
                return;
        char why[160];
        snprintf(why, sizeof(why), "the connection to libvirt at %s ended: %s", c->uri, close_reason(reason));
        log_warning("%s", why);
        c->refs++;
        uncache(c);
        for (LibvirtWatch *w = c->watches, *next; w; w = next) {
                next = w->next;
                if (w->on_closed)
                        w->on_closed(why, w->userdata);
        }
        json_decref(lv.facts);
        lv.facts = json_pack("{s:s, s:b, s:s, s:s}", "uri", lv.default_uri, "reachable", false, "error", why,
                             "domain_prefix", lv.prefix);
        lv.facts_at = now_usec();
        /* Not from inside libvirt's own close callback: virConnectClose would re-enter it. */
        struct timeval zero = {};
        if (event_base_once(lv.base, -1, EV_TIMEOUT, on_deferred_unref, c, &zero) < 0)
                log_debug("Leaking a closed libvirt connection: no loop to release it from");
}

static void conn_free(LibvirtConn *c) {
        if (c->ptr) {
                if (c->lifecycle_id >= 0)
                        (void) virConnectDomainEventDeregisterAny(c->ptr, c->lifecycle_id);
                if (c->monitor_id >= 0)
                        (void) virConnectDomainQemuMonitorEventDeregister(c->ptr, c->monitor_id);
                (void) virConnectUnregisterCloseCallback(c->ptr, on_close);
                (void) virConnectClose(c->ptr);
        }
        free(c->uri);
        free(c);
}

LibvirtConn *libvirt_conn_unref(LibvirtConn *c) {
        if (c && --c->refs == 0)
                conn_free(c);
        return NULL;
}

virConnectPtr libvirt_conn_ptr(LibvirtConn *c) { return c->ptr; }
const char *libvirt_conn_uri(LibvirtConn *c) { return c->uri; }

void libvirt_conn_watch(LibvirtConn *c, LibvirtWatch *w) {
        w->next = c->watches;
        c->watches = w;
}

void libvirt_conn_unwatch(LibvirtConn *c, LibvirtWatch *w) {
        for (LibvirtWatch **p = &c->watches; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        return;
                }
}

static int conn_open(const char *uri, LibvirtConn **ret, char **ret_error) {
        LibvirtConn *c = calloc(1, sizeof(LibvirtConn));
        if (!c || !(c->uri = strdup(uri))) {
                free(c);
                return -ENOMEM;
        }
        c->refs = 1;
        c->lifecycle_id = c->monitor_id = -1;
        c->ptr = virConnectOpen(uri);
        if (!c->ptr) {
                _cleanup_free_ char *m = libvirt_error();
                conn_free(c);
                if (asprintf(ret_error, "libvirt unreachable at %s: %s", uri, m ?: "?") < 0)
                        *ret_error = NULL;
                return -ECONNREFUSED;
        }
        /* Keepalive notices a libvirtd that hangs, not only one that exits. */
        (void) virConnectSetKeepAlive(c->ptr, 5, 3);
        (void) virConnectRegisterCloseCallback(c->ptr, on_close, NULL, NULL);
        c->lifecycle_id = virConnectDomainEventRegisterAny(c->ptr, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                           VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL, NULL);
        c->monitor_id = virConnectDomainQemuMonitorEventRegister(c->ptr, NULL, NULL, on_monitor_event, NULL, NULL, 0);
        if (c->lifecycle_id < 0)
                log_warning("libvirt at %s delivers no lifecycle events: boot phases lack them", uri);
        *ret = c;
        return 0;
}

int libvirt_conn_get(const char *uri, LibvirtConn **ret, char **ret_error) {
        uri = uri ?: lv.default_uri;
        *ret_error = NULL;
        for (LibvirtConn *c = lv.conns; c; c = c->next)
                if (streq(c->uri, uri) && virConnectIsAlive(c->ptr) == 1) {
                        c->refs++;
                        *ret = c;
                        return 0;
                }
        LibvirtConn *c;
        int r = conn_open(uri, &c, ret_error);
        if (r < 0)
                return r;
        int n = libvirt_destroy_leftovers(c->ptr);
        if (n > 0)
                log_notice("Destroyed %d leftover domain(s) named %s* at %s", n, lv.prefix, uri);
        c->cached = true;
        c->next = lv.conns;
        lv.conns = c;
        c->refs++;
        *ret = c;
        return 0;
}

/* ---- leftovers ---------------------------------------------------------- */

int libvirt_destroy_leftovers(virConnectPtr p) {
        virDomainPtr *doms = NULL;
        int n = virConnectListAllDomains(p, &doms, 0), done = 0;
        for (int i = 0; i < n; i++) {
                const char *name = virDomainGetName(doms[i]);
                if (name && strncmp(name, lv.prefix, strlen(lv.prefix)) == 0) {
                        if (virDomainIsActive(doms[i]) == 1 && virDomainDestroy(doms[i]) < 0)
                                log_warning("Failed to destroy leftover domain %s", name);
                        if (virDomainIsPersistent(doms[i]) == 1 && virDomainUndefine(doms[i]) < 0)
                                log_warning("Failed to undefine leftover domain %s", name);
                        done++;
                }
                virDomainFree(doms[i]);
        }
        free(doms);
        return done;
}

/* ---- facts -------------------------------------------------------------- */

static char *version_string(unsigned long v) {
        char *s = NULL;
        return asprintf(&s, "%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000) < 0 ? NULL : s;
}

static json_t *xpath_string(xmlXPathContextPtr ctx, const char *expr) {
        xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *) expr, ctx);
        json_t *v = o && o->type == XPATH_STRING && o->stringval && *o->stringval
                            ? json_string((const char *) o->stringval)
                            : json_null();
        xmlXPathFreeObject(o);
        return v;
}

/* What an experiment asks of a virt type: can it run here, which QEMU
 * and machine, how many vCPUs, host-passthrough CPUs. */
static json_t *domain_caps(virConnectPtr p, const char *virttype) {
        char *xml = virConnectGetDomainCapabilities(p, NULL, "x86_64", "q35", virttype, 0);
        if (!xml) {
                _cleanup_free_ char *m = libvirt_error();
                return json_pack("{s:b, s:s}", "supported", false, "error", m ?: "?");
        }
        xmlDocPtr doc = xmlReadMemory(xml, (int) strlen(xml), "domcaps.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
        free(xml);
        xmlXPathContextPtr ctx = doc ? xmlXPathNewContext(doc) : NULL;
        json_t *o = ctx ? json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}", "supported", true, "emulator",
                                    xpath_string(ctx, "string(/domainCapabilities/path)"), "machine",
                                    xpath_string(ctx, "string(/domainCapabilities/machine)"), "max_vcpus",
                                    xpath_string(ctx, "string(/domainCapabilities/vcpu/@max)"), "host_passthrough",
                                    xpath_string(ctx, "string(/domainCapabilities/cpu/mode[@name='host-passthrough']/@supported)"),
                                    "direct_kernel_boot",
                                    xpath_string(ctx, "string(/domainCapabilities/os/@supported)"))
                        : json_pack("{s:b, s:s}", "supported", true, "error", "unparsable domain capabilities");
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
        return o;
}

static json_t *node_facts(virConnectPtr p) {
        virNodeInfo n;
        if (virNodeGetInfo(p, &n) < 0)
                return json_null();
        return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "model", n.model, "memory_mib",
                         (json_int_t) (n.memory / 1024), "cpus", (json_int_t) n.cpus, "mhz", (json_int_t) n.mhz,
                         "numa_nodes", (json_int_t) n.nodes, "sockets", (json_int_t) n.sockets, "cores",
                         (json_int_t) n.cores, "threads", (json_int_t) n.threads);
}

static json_t *probe(virConnectPtr p) {
        unsigned long lib = 0, hv = 0;
        _cleanup_free_ char *libs = NULL, *hvs = NULL;
        if (virConnectGetLibVersion(p, &lib) == 0)
                libs = version_string(lib);
        if (virConnectGetVersion(p, &hv) == 0)
                hvs = version_string(hv);
        const char *type = virConnectGetType(p);
        return json_pack("{s:b, s:s?, s:s?, s:s?, s:o, s:{s:o, s:o}}", "reachable", true, "libvirt_version", libs,
                         "hypervisor", type, "hypervisor_version", hvs, "node", node_facts(p), "domain_capabilities",
                         "kvm", domain_caps(p, "kvm"), "qemu", domain_caps(p, "qemu"));
}

void libvirt_probe_facts(void) {
        usec_t t0 = now_usec();
        LibvirtConn *c = NULL;
        _cleanup_free_ char *why = NULL;
        json_t *f = libvirt_conn_get(NULL, &c, &why) < 0
                            ? json_pack("{s:b, s:s}", "reachable", false, "error", why ?: "libvirt unreachable")
                            : probe(libvirt_conn_ptr(c));
        libvirt_conn_unref(c);
        if (!f)
                return;
        json_object_set_new(f, "uri", json_string(lv.default_uri));
        json_object_set_new(f, "domain_prefix", json_string(lv.prefix));
        /* Every call above blocked the loop: say for how long. */
        json_object_set_new(f, "probe_ms", json_real((double) (now_usec() - t0) / USEC_PER_MSEC));
        json_decref(lv.facts);
        lv.facts = f;
        lv.facts_at = now_usec();
}

static void on_refresh(evutil_socket_t fd, short what, void *userdata) {
        libvirt_probe_facts();
}

json_t *libvirt_describe(void) {
        if (lv.refresh && (!lv.facts || now_usec() - lv.facts_at > LIBVIRT_FACTS_MAX_AGE_USEC)) {
                struct timeval zero = {};
                (void) evtimer_add(lv.refresh, &zero);
        }
        return lv.facts ? json_incref(lv.facts)
                        : json_pack("{s:s?, s:b, s:s}", "uri", lv.default_uri, "reachable", false, "error",
                                    "libvirt not probed yet");
}

/* ---- setup -------------------------------------------------------------- */

const char *libvirt_default_uri(void) { return lv.default_uri ?: LIBVIRT_DEFAULT_URI; }
const char *libvirt_prefix(void) { return lv.prefix; }

/* One daemon's domains are not another's: the prefix is a hash of the
 * state directory, so two daemons on one libvirtd never destroy each
 * other's leftovers, and a restarted daemon finds its own. */
static void make_prefix(const char *state_dir) {
        uint32_t h = 2166136261u;
        for (const char *p = state_dir ? state_dir : ""; *p; p++)
                h = (h ^ (unsigned char) *p) * 16777619u;
        snprintf(lv.prefix, sizeof(lv.prefix), "virtlab-%08x-", h);
}

int libvirt_setup(struct event_base *base, const char *default_uri, const char *state_dir) {
        int r = libvirt_event_register(base);
        if (r < 0)
                return r;
        lv.base = base;
        free(lv.default_uri);
        lv.default_uri = strdup(default_uri ?: LIBVIRT_DEFAULT_URI);
        lv.refresh = evtimer_new(base, on_refresh, NULL);
        if (!lv.default_uri || !lv.refresh)
                return -ENOMEM;
        make_prefix(state_dir);
        virSetErrorFunc(NULL, on_libvirt_error);
        /* Opening the default connection also destroys our leftovers there. */
        libvirt_probe_facts();
        return 0;
}

void libvirt_shutdown(void) {
        while (lv.conns)
                uncache(lv.conns);
        json_decref(lv.facts);
        lv.facts = NULL;
        if (lv.refresh)
                event_free(lv.refresh);
        lv.refresh = NULL;
        free(lv.default_uri);
        lv.default_uri = NULL;
}
