/* libvirt-conn.h — the daemon's libvirt side: connections by URI (opened
 * when a run first needs one, kept open, dropped when libvirt closes them),
 * the domain-name prefix that marks our domains, the clean-up of domains a
 * killed daemon left behind, and the facts Describe shows (probed on the
 * loop and cached: Describe never waits for libvirt).  Every libvirt call
 * here is synchronous; all of them run on the one loop (libvirt-event.h). */
#pragma once

#include <event2/event.h>
#include <jansson.h>
#include <libvirt/libvirt.h>

#include "util.h"

/* Where a run connects when neither the spec nor the daemon's flag says. */
#define LIBVIRT_DEFAULT_URI "qemu:///system"
/* How old cached facts may be before a Describe schedules a new probe. */
#define LIBVIRT_FACTS_MAX_AGE_USEC (60 * USEC_PER_SEC)

typedef struct LibvirtConn LibvirtConn;

/* A driver's interest in one domain's events, by name (linked into the
 * connection; the watcher owns the struct). */
typedef struct LibvirtWatch {
        const char *name;            /* the domain */
        /* virDomainEventType and its detail */
        void (*on_lifecycle)(int event, int detail, usec_t t, void *userdata);
        /* a QEMU monitor event libvirt passed on (details: JSON text or NULL) */
        void (*on_monitor_event)(const char *event, long long seconds, unsigned micros, const char *details,
                                 void *userdata);
        /* the connection closed under it (libvirtd died or restarted) */
        void (*on_closed)(const char *why, void *userdata);
        void *userdata;              /* for the callbacks */
        struct LibvirtWatch *next;   /* the connection's list */
} LibvirtWatch;

/* Sets up libvirt for the daemon: the event implementation on base, the
 * default URI (NULL: LIBVIRT_DEFAULT_URI), the name prefix derived from
 * state_dir, quiet error reporting; then destroys our leftover domains on
 * the default URI and probes the facts.  Never fails for libvirt being
 * unreachable (Describe says so); -ENOMEM only. */
int libvirt_setup(struct event_base *base, const char *default_uri, const char *state_dir);
/* Closes every connection (their domains are the drivers' to destroy first). */
void libvirt_shutdown(void);
const char *libvirt_default_uri(void);
/* "virtlab-1a2b3c4d-": every domain this daemon creates starts so. */
const char *libvirt_prefix(void);

/* The cached connection to uri (NULL: the default), opened now if there is
 * none; a new reference.  On failure -ECONNREFUSED (or -ENOMEM) with
 * "libvirt unreachable at URI: <libvirt's words>" in *ret_error. */
int libvirt_conn_get(const char *uri, LibvirtConn **ret, char **ret_error);
LibvirtConn *libvirt_conn_unref(LibvirtConn *c);
virConnectPtr libvirt_conn_ptr(LibvirtConn *c);
const char *libvirt_conn_uri(LibvirtConn *c);
void libvirt_conn_watch(LibvirtConn *c, LibvirtWatch *w);
void libvirt_conn_unwatch(LibvirtConn *c, LibvirtWatch *w);

/* libvirt's last error message (a copy), "unknown libvirt error" if none. */
char *libvirt_error(void);
/* Destroys (and undefines, if persistent) every domain on c whose name
 * has our prefix; returns how many. */
int libvirt_destroy_leftovers(virConnectPtr c);

/* The facts for Describe, from the cache (a new reference); schedules a
 * fresh probe on the loop when they are stale. */
json_t *libvirt_describe(void);
/* Probes the facts now (synchronous; tests, and after a connection opened). */
void libvirt_probe_facts(void);
