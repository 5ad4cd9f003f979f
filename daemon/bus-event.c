/* bus-event.c — sd-bus on libevent.  sd-bus tells us which fd, which poll
 * events and which absolute CLOCK_MONOTONIC deadline it needs; we re-arm
 * one I/O event and one timer after every processing round. */
#include "bus-event.h"

#include <poll.h>

#include "util.h"

struct BusEvent {
        sd_bus *bus;                /* the connection (a reference) */
        struct event_base *base;    /* the loop */
        struct event *io;           /* on sd_bus_get_fd() */
        struct event *timer;        /* sd_bus_get_timeout() */
        struct event *kick;         /* zero-delay "process and re-arm" */
        void (*on_lost)(void *);    /* connection died */
        void *userdata;             /* for on_lost */
        bool lost;                  /* on_lost delivered */
};

static void bus_event_process(evutil_socket_t fd, short what, void *userdata);

static void bus_event_rearm(BusEvent *be) {
        int fd = sd_bus_get_fd(be->bus);
        int events = sd_bus_get_events(be->bus);
        if (fd < 0 || events < 0)
                return;
        short want = (short) (((events & POLLIN) ? EV_READ : 0) | ((events & POLLOUT) ? EV_WRITE : 0));
        event_del(be->io);
        if (event_assign(be->io, be->base, fd, want, bus_event_process, be) == 0)
                (void) event_add(be->io, NULL);

        uint64_t until;
        event_del(be->timer);
        if (sd_bus_get_timeout(be->bus, &until) > 0 && until != UINT64_MAX) {
                usec_t now = now_usec();
                usec_t delta = until > now ? until - now : 0;
                struct timeval tv = { .tv_sec = (time_t) (delta / USEC_PER_SEC), .tv_usec = (suseconds_t) (delta % USEC_PER_SEC) };
                (void) evtimer_add(be->timer, &tv);
        }
}

static void bus_event_process(evutil_socket_t fd, short what, void *userdata) {
        BusEvent *be = userdata;
        int r;
        sd_bus_ref(be->bus); /* a handler may drop the last other reference */
        while ((r = sd_bus_process(be->bus, NULL)) > 0)
                ;
        if (r < 0 && !be->lost) {
                be->lost = true;
                log_error_errno(r, "Lost the D-Bus connection: %m");
                if (be->on_lost)
                        be->on_lost(be->userdata);
        }
        if (!be->lost)
                bus_event_rearm(be);
        sd_bus_unref(be->bus);
}

int bus_event_attach(sd_bus *bus, struct event_base *base, void (*on_lost)(void *), void *userdata, BusEvent **ret) {
        BusEvent *be = calloc(1, sizeof(BusEvent));
        if (!be)
                return -ENOMEM;
        *be = (BusEvent) { .bus = sd_bus_ref(bus), .base = base, .on_lost = on_lost, .userdata = userdata };
        be->io = event_new(base, -1, 0, bus_event_process, be);
        be->timer = evtimer_new(base, bus_event_process, be);
        be->kick = evtimer_new(base, bus_event_process, be);
        if (!be->io || !be->timer || !be->kick) {
                bus_event_free(be);
                return -ENOMEM;
        }
        bus_event_rearm(be);
        bus_event_kick(be); /* messages may already be queued */
        *ret = be;
        return 0;
}

void bus_event_kick(BusEvent *be) {
        struct timeval zero = {};
        if (be && !be->lost)
                (void) evtimer_add(be->kick, &zero);
}

BusEvent *bus_event_free(BusEvent *be) {
        if (!be)
                return NULL;
        if (be->io)
                event_free(be->io);
        if (be->timer)
                event_free(be->timer);
        if (be->kick)
                event_free(be->kick);
        sd_bus_unref(be->bus);
        free(be);
        return NULL;
}
