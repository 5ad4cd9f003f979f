/* libvirt-event.c — virEventRegisterImpl() on libevent (libvirt-event.h).
 *
 * A handle is one libevent fd event (EV_PERSIST, re-made on every update);
 * a timeout is one persistent libevent timer whose interval is its
 * frequency (0 = every loop iteration, re-armed by hand; -1 = disabled).  Removal never calls
 * libvirt's free function synchronously: the remote driver removes handles
 * with its own lock held and its free function takes that lock, so the
 * free (and our record) is deferred to a fresh loop iteration.
 *
 * Divisions: records · handles · timeouts · registration. */
#include "libvirt-event.h"

#include <libvirt/libvirt.h>
#include <stdlib.h>

#include "util.h"

typedef struct Watch {
        int id;                    /* libvirt's handle or timer number */
        bool timer;                /* a timeout, else an fd handle */
        int fd;                    /* handle: the fd watched */
        int ms;                    /* timeout: its frequency, -1 = disabled */
        struct event *ev;          /* the libevent event, NULL while it watches nothing */
        virEventHandleCallback hcb; /* handle: libvirt's callback */
        virEventTimeoutCallback tcb; /* timeout: libvirt's callback */
        void *opaque;              /* for the callback */
        virFreeCallback ff;        /* frees opaque once removed, may be NULL */
        bool removed;              /* libvirt removed it; the free is pending */
        struct Watch *next;        /* list */
} Watch;

static struct event_base *loop_base; /* the loop everything runs on */
static Watch *watches;               /* every live or pending-free record */
static int next_id = 1;              /* ids are never reused */
static bool registered;              /* virEventRegisterImpl() was called */

static void on_handle(evutil_socket_t fd, short what, void *userdata);
static void on_timeout(evutil_socket_t fd, short what, void *userdata);

/* ---- records ------------------------------------------------------------ */

static Watch *watch_find(int id, bool timer) {
        for (Watch *w = watches; w; w = w->next)
                if (w->id == id && w->timer == timer && !w->removed)
                        return w;
        return NULL;
}

static Watch *watch_new(bool timer, void *opaque, virFreeCallback ff) {
        Watch *w = calloc(1, sizeof(Watch));
        if (!w)
                return NULL;
        *w = (Watch) { .id = next_id++, .timer = timer, .fd = -EBADF, .opaque = opaque, .ff = ff, .next = watches };
        watches = w;
        return w;
}

static void watch_unlink(Watch *w) {
        for (Watch **p = &watches; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        return;
                }
}

static void drop_event(Watch *w) {
        if (w->ev)
                event_free(w->ev);
        w->ev = NULL;
}

/* From a fresh iteration: nothing of libvirt's is on the stack any more. */
static void on_deferred_free(evutil_socket_t fd, short what, void *userdata) {
        Watch *w = userdata;
        watch_unlink(w);
        if (w->ff)
                w->ff(w->opaque);
        free(w);
}

static int watch_remove(Watch *w) {
        if (!w)
                return -1;
        w->removed = true;
        drop_event(w);
        struct timeval zero = {};
        if (event_base_once(loop_base, -1, EV_TIMEOUT, on_deferred_free, w, &zero) < 0) {
                /* No loop to defer to: leak opaque rather than free it under libvirt's lock. */
                watch_unlink(w);
                free(w);
        }
        return 0;
}

/* ---- handles ------------------------------------------------------------ */

static short to_libevent(int events) {
        return (short) (((events & VIR_EVENT_HANDLE_READABLE) ? EV_READ : 0) |
                        ((events & VIR_EVENT_HANDLE_WRITABLE) ? EV_WRITE : 0));
}

/* libevent reports a hang-up or error as readable/writable; libvirt then
 * finds the condition itself when it reads or writes. */
static int to_libvirt(short what) {
        return ((what & EV_READ) ? VIR_EVENT_HANDLE_READABLE : 0) | ((what & EV_WRITE) ? VIR_EVENT_HANDLE_WRITABLE : 0);
}

static int handle_arm(Watch *w, int events) {
        drop_event(w);
        short what = to_libevent(events);
        if (!what)
                return 0;
        w->ev = event_new(loop_base, w->fd, what | EV_PERSIST, on_handle, w);
        if (!w->ev || event_add(w->ev, NULL) < 0) {
                drop_event(w);
                return -1;
        }
        return 0;
}

static void on_handle(evutil_socket_t fd, short what, void *userdata) {
        Watch *w = userdata;
        if (!w->removed)
                w->hcb(w->id, w->fd, to_libvirt(what), w->opaque);
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff) {
        Watch *w = watch_new(false, opaque, ff);
        if (!w)
                return -1;
        w->fd = fd;
        w->hcb = cb;
        if (handle_arm(w, events) < 0) {
                watch_unlink(w);
                free(w);
                return -1;
        }
        return w->id;
}

static void update_handle(int id, int events) {
        Watch *w = watch_find(id, false);
        if (w && handle_arm(w, events) < 0)
                log_warning("libvirt handle %d on fd %d could not be re-armed", id, w->fd);
}

static int remove_handle(int id) {
        return watch_remove(watch_find(id, false));
}

/* ---- timeouts ----------------------------------------------------------- */

static int timeout_arm(Watch *w, int ms) {
        if (!w->ev) {
                w->ev = event_new(loop_base, -1, EV_PERSIST, on_timeout, w);
                if (!w->ev)
                        return -1;
        }
        event_del(w->ev);
        w->ms = ms;
        if (ms < 0)
                return 0;
        struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (suseconds_t) (ms % 1000) * 1000 };
        return event_add(w->ev, &tv) < 0 ? -1 : 0;
}

/* libevent does not repeat a persistent timer of 0 s (it reads as "no
 * timeout"): a 0 ms timeout is re-armed by hand after each call. */
static void on_timeout(evutil_socket_t fd, short what, void *userdata) {
        Watch *w = userdata;
        if (w->removed)
                return;
        w->tcb(w->id, w->opaque);
        struct timeval zero = {};
        if (!w->removed && w->ms == 0 && w->ev)
                (void) event_add(w->ev, &zero);
}

static int add_timeout(int ms, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff) {
        Watch *w = watch_new(true, opaque, ff);
        if (!w)
                return -1;
        w->tcb = cb;
        if (timeout_arm(w, ms) < 0) {
                drop_event(w);
                watch_unlink(w);
                free(w);
                return -1;
        }
        return w->id;
}

static void update_timeout(int id, int ms) {
        Watch *w = watch_find(id, true);
        if (w && timeout_arm(w, ms) < 0)
                log_warning("libvirt timeout %d could not be re-armed", id);
}

static int remove_timeout(int id) {
        return watch_remove(watch_find(id, true));
}

/* ---- registration ------------------------------------------------------- */

unsigned libvirt_event_count(void) {
        unsigned n = 0;
        for (Watch *w = watches; w; w = w->next)
                n += !w->removed;
        return n;
}

int libvirt_event_register(struct event_base *base) {
        if (base == loop_base)
                return 0;
        if (watches)
                return -EBUSY;
        loop_base = base;
        if (!registered) {
                virEventRegisterImpl(add_handle, update_handle, remove_handle, add_timeout, update_timeout,
                                     remove_timeout);
                registered = true;
        }
        return 0;
}
