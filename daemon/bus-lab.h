/* bus-lab.h — the org.virtlab.Lab1 D-Bus API (schemas/org.virtlab.Lab1.xml)
 * over a Manager: the manager object, one object per job, the signals, and
 * the tracking of clients a job is bound to.  hostnamed/importd style. */
#pragma once

#include <event2/event.h>

#include "manager.h"

#define BUS_NAME "org.virtlab.Lab1"
#define BUS_PATH "/org/virtlab/Lab1"
#define BUS_JOB_PREFIX "/org/virtlab/Lab1/job"
#define BUS_JOB_INTERFACE "org.virtlab.Lab1.Job"

typedef struct BusLab BusLab;

/* Connects to the bus (system, session or an address), exports the
 * objects, takes the name, and runs on base.  Losing the bus stops m. */
int bus_lab_new(Manager *m, struct event_base *base, const char *bus, BusLab **ret);
/* Flushes and closes the connection; returns NULL. */
BusLab *bus_lab_free(BusLab *b);
