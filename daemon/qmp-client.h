/* qmp-client.h — asynchronous QMP (QEMU Machine Protocol) client on a libevent
 * loop, plus the pure line splitter it reads with.  One client per VM monitor
 * socket; works with QEMU and StratoVirt (see QmpClientFlags). */
#pragma once

#include <event2/event.h>
#include <jansson.h>

#include "util.h"

/* Longest QMP message accepted, excluding its line ending.  QEMU's biggest
 * replies (query-qmp-schema) are a few hundred KiB; this only stops a peer
 * from making us buffer without bound. */
#define QMP_MESSAGE_MAX ((size_t) 10U * 1024U * 1024U)

/* Most calls a client holds (queued + awaiting a reply) before qmp_client_call()
 * returns -E2BIG. */
#define QMP_CALLS_MAX 1024U

typedef struct QmpClient QmpClient;
typedef struct QmpStream QmpStream;

typedef enum QmpClientFlags {
        /* StratoVirt parses each read() as one JSON object: write one command at
         * a time, the next only after the previous one's reply (or timeout). */
        QMP_CLIENT_ONE_IN_FLIGHT = 1 << 0,
        /* StratoVirt deserializes "id" as a string and rejects a number: send
         * ids as decimal strings.  Replies are matched either way. */
        QMP_CLIENT_STRING_IDS = 1 << 1,
} QmpClientFlags;

/* Called exactly once per qmp_client_call().  result: the "return" member,
 * borrowed for the duration of the call, NULL on error.  error: 0; -EIO (QMP
 * error: error_class/error_desc set, borrowed); -ETIMEDOUT; or what ended the
 * connection: -ECONNRESET (EOF), -EBADMSG (protocol garbage), -EMSGSIZE (line
 * over QMP_MESSAGE_MAX), -EPROTO (qmp_capabilities refused), -ECANCELED (last
 * reference dropped), another -errno from read()/send(). */
typedef void (*qmp_reply_handler_t)(QmpClient *c, int error, json_t *result, const char *error_class,
                                    const char *error_desc, void *userdata);

/* An asynchronous QMP event.  data is borrowed and may be NULL (no "data"
 * member).  timestamp_usec: CLOCK_MONOTONIC when the line was read.  On EOF
 * without a prior SHUTDOWN event, a SHUTDOWN event with data == NULL is
 * synthesized just before the end state callback. */
typedef void (*qmp_event_handler_t)(QmpClient *c, const char *event, json_t *data, usec_t timestamp_usec,
                                    void *userdata);

/* Called once with error == 0 when negotiation completes (greeting available),
 * and once with error < 0 when the connection ends (-ECONNRESET on EOF,
 * -EBADMSG, -EMSGSIZE, -EPROTO when qmp_capabilities is refused, ...), after
 * every pending call failed with the same error.  No
 * callback of any kind follows the end call.  Not called when the client ends
 * because its last reference was dropped. */
typedef void (*qmp_state_handler_t)(QmpClient *c, int error, void *userdata);

/* Wraps a connected stream socket.  The client owns fd on success only; it is
 * made non-blocking.  Returns 0 or -errno. */
int qmp_client_new(struct event_base *base, int fd, QmpClientFlags flags, QmpClient **ret);

/* Sets (or clears, with NULL) the callbacks; userdata is passed to the state
 * and event handlers. */
void qmp_client_set_handlers(QmpClient *c, qmp_state_handler_t on_state, qmp_event_handler_t on_event,
                             void *userdata);

/* Queues a command; args (an object, or NULL) is stolen even on failure.
 * timeout_usec 0 = none; it counts from this call.  Commands issued before
 * negotiation completes are sent after it.  cb is never called from inside
 * this function.  Returns 0, -ENOTCONN after the connection ended, -E2BIG over
 * QMP_CALLS_MAX, -EINVAL, -ENOMEM. */
int qmp_client_call(QmpClient *c, const char *command, json_t *args, usec_t timeout_usec, qmp_reply_handler_t cb,
                    void *userdata);

/* human-monitor-command with command-line; result is the JSON string HMP printed. */
int qmp_client_hmp(QmpClient *c, const char *command_line, usec_t timeout_usec, qmp_reply_handler_t cb,
                   void *userdata);

/* The "QMP" object of the greeting (borrowed), NULL before it arrived. */
const json_t *qmp_client_greeting(QmpClient *c);

/* CLOCK_MONOTONIC when the greeting line was read, 0 before. */
usec_t qmp_client_greeting_usec(QmpClient *c);

/* The connection ended at an EOF that cut a message short (a reply half
 * written): the peer broke off, rather than closed between messages. */
bool qmp_client_eof_mid_message(QmpClient *c);

/* One phrase for a connection-ending error of the state handler (-EBADMSG,
 * -EMSGSIZE, ...; -EPIPE: an EOF mid-message), for messages users read. */
const char *qmp_client_error_to_string(int error);

/* Formats the greeting's version: "7.2.0", or with a package
 * "5.0.1 (StratoVirt-2.5.0)".  Returns 0, -ENODATA before the greeting,
 * -EBADMSG if it has no usable version, -ENOMEM. */
int qmp_client_version(QmpClient *c, char **ret);

QmpClient *qmp_client_ref(QmpClient *c);

/* Dropping the last reference fails pending calls with -ECANCELED (exactly
 * once each, synchronously), closes the fd and frees the memory from the
 * event loop (event_base_once), so it is safe inside any client callback.  The
 * loop must run once more for the memory to be released.  Returns NULL. */
QmpClient *qmp_client_unref(QmpClient *c);

static inline void qmp_client_unrefp(QmpClient **c) {
        (void) qmp_client_unref(*c);
}

/* Non-blocking, close-on-exec connect to a unix stream socket.  Returns the fd
 * or -errno; -ENOENT and -ECONNREFUSED mean "not listening yet, retry". */
int qmp_connect_unix(const char *path);

/* Line splitter: accumulates bytes, yields one JSON object per line.  Lines
 * end in \n or \r\n; blank lines are skipped. */
int qmp_stream_new(QmpStream **ret);
QmpStream *qmp_stream_free(QmpStream *s);
static inline void qmp_stream_freep(QmpStream **s) {
        (void) qmp_stream_free(*s);
}

/* Appends bytes.  Returns 0, -EMSGSIZE when the unterminated tail would exceed
 * QMP_MESSAGE_MAX (nothing appended), -ENOMEM. */
int qmp_stream_feed(QmpStream *s, const char *buf, size_t len);

/* Takes the next complete line.  Returns 1 and a new reference in *ret, 0 when
 * more bytes are needed, -EBADMSG for a line that is not one JSON object and
 * -EMSGSIZE for one longer than QMP_MESSAGE_MAX (the line is consumed either
 * way, so the caller may go on). */
int qmp_stream_next(QmpStream *s, json_t **ret);

/* Bytes buffered and not yet returned. */
size_t qmp_stream_pending(const QmpStream *s);
