/* bus-event.h — runs an sd-bus connection on a libevent loop: watches
 * sd_bus_get_fd()/get_events()/get_timeout() and calls sd_bus_process()
 * until it returns 0, the same contract as the QMP client's process step. */
#pragma once

#include <event2/event.h>
#include <systemd/sd-bus.h>

typedef struct BusEvent BusEvent;

/* Attaches bus to base.  When the connection dies, on_lost (may be NULL) is called once. */
int bus_event_attach(sd_bus *bus, struct event_base *base, void (*on_lost)(void *userdata), void *userdata,
                     BusEvent **ret);
/* Re-evaluates what to wait for; call after queueing messages outside a
 * bus callback (e.g. signals emitted from a VM event). */
void bus_event_kick(BusEvent *be);
BusEvent *bus_event_free(BusEvent *be);
