/* qmp-relay.h — a QMP server on one end of a socketpair whose commands are
 * answered by a function.  A VMM whose monitor belongs to a manager
 * (libvirt holds QEMU's QMP socket; we reach it through
 * virDomainQemuMonitorCommand) is then spoken to with an unchanged
 * QmpClient on the other end: experiment kinds call qmp_client_* as for a
 * VMM we started ourselves.  The relay answers qmp_capabilities itself,
 * puts each caller's "id" on the reply, writes greetings and events it is
 * handed, and buffers output so a large reply never blocks the loop. */
#pragma once

#include <event2/event.h>
#include <jansson.h>

#include "util.h"

typedef struct QmpRelay QmpRelay;

/* Answers one command (an object with "execute" and maybe "arguments",
 * without "id", borrowed).  Returns 0 and a new reference in *ret_reply:
 * an object with "return" or "error", as QMP would send it (any "id" in it
 * is replaced); or -errno with a sentence in *ret_error (malloc'd), which
 * the client receives as a GenericError. */
typedef int (*qmp_relay_handler_t)(json_t *command, json_t **ret_reply, char **ret_error, void *userdata);

/* A relay on a new socketpair; *ret_client_fd is the other end, for
 * qmp_client_new() (owned by the caller). */
int qmp_relay_new(struct event_base *base, qmp_relay_handler_t handler, void *userdata, int *ret_client_fd,
                  QmpRelay **ret);
/* Writes the greeting: {"QMP": {"version": version, "capabilities": []}};
 * version (borrowed) is query-version's return value. */
int qmp_relay_greet(QmpRelay *r, json_t *version);
/* Writes an event with its own timestamp (data borrowed, may be NULL). */
int qmp_relay_event(QmpRelay *r, const char *event, json_t *data, long long seconds, unsigned micros);
/* Commands answered so far (qmp_capabilities included). */
unsigned qmp_relay_commands(const QmpRelay *r);
/* Ends the connection: what is buffered is written, then EOF. */
void qmp_relay_close(QmpRelay *r);
QmpRelay *qmp_relay_free(QmpRelay *r);
