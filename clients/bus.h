/* bus.h — virtlabctl's side of org.virtlab.Lab1: connecting, calling a
 * method and turning its error into an exit code (args.h), and running a job:
 * start it, draw its progress on a terminal, cancel it on Ctrl-C, wait for
 * its end.  Every function here prints its own error and returns an exit
 * code, so verbs just pass it on. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#define BUS_NAME "org.virtlab.Lab1"
#define BUS_PATH "/org/virtlab/Lab1"
#define BUS_JOB_IFACE "org.virtlab.Lab1.Job"

typedef enum BusJobFlags {
        BUS_JOB_NO_WAIT = 1 << 0, /* start it and return */
        BUS_JOB_QUIET = 1 << 1,   /* no progress line, even on a terminal */
} BusJobFlags;

/* Connects to "system", "session" or a D-Bus address: EXIT_OK, or
 * EXIT_UNREACHABLE after printing why. */
int bus_open(const char *which, sd_bus **ret);

/* The exit code of a failed call, after printing "virtlabctl: WHAT: <the
 * daemon's own words>" (or that the daemon is not reachable). */
int bus_call_failed(const char *what, const sd_bus_error *e, int r);

/* Parses a JSON string the daemon sent; NULL after printing why. */
json_t *bus_parse_json(const char *text);

/* Calls a method of the manager object that returns one JSON string, and
 * parses it into *ret (written only on EXIT_OK).  types/...: the arguments,
 * as for sd_bus_message_append(); types may be NULL. */
int bus_call_json(sd_bus *bus, const char *method, json_t **ret, const char *types, ...);

/* GetResult(id), parsed, into *ret (written only on EXIT_OK). */
int bus_get_result(sd_bus *bus, uint32_t id, json_t **ret);

/* Starts an experiment of kind with spec.  Without BUS_JOB_NO_WAIT, first
 * ties the job to this client (spec gets bind_to_client), then waits for its
 * end: a progress line on a terminal, and the first SIGINT/SIGTERM cancels
 * it.  EXIT_OK once started (and, when waiting, ended, whatever its state);
 * *ret_id is the job, *ret_done whether it ended "done" (false with NO_WAIT). */
int bus_run_job(sd_bus *bus, const char *kind, json_t *spec, BusJobFlags flags, uint32_t *ret_id, bool *ret_done);
