/* libvirt-event.h — libvirt's event loop is the daemon's libevent loop:
 * an implementation registered with virEventRegisterImpl() that maps
 * libvirt's handles (fd watches) and timeouts onto libevent events, so the
 * remote driver's socket, its keepalive timer, domain events and console
 * streams are all served by the one loop, with no thread. */
#pragma once

#include <event2/event.h>

/* Makes base the loop behind every libvirt handle and timeout.  The first
 * call registers the implementation (libvirt allows that once per process,
 * before the first connection); later calls only move to a new base, and
 * only while nothing is registered (-EBUSY otherwise). */
int libvirt_event_register(struct event_base *base);
/* Handles and timeouts libvirt holds right now (tests, leak checks). */
unsigned libvirt_event_count(void);
