/* qmp-client.c — asynchronous QMP client on a libevent loop.
 *
 * Divisions:
 *   1. QmpStream: the pure line splitter (bytes in, JSON objects out).
 *   2. Calls: commands queued or awaiting their reply, keyed by id.
 *   3. The protocol: qmp_client_process() and message dispatch.
 *   4. libevent glue, construction, reference counting.
 *   5. qmp_connect_unix().
 *
 * Only debug-level logging happens here: callers decide what the user sees,
 * and they get the command name plus QMP's "desc", never the raw JSON. */
#include "qmp-client.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Bytes read() at a time; QEMU writes most replies in one go well below this. */
#define QMP_READ_SIZE ((size_t) 32U * 1024U)

/* qmp_capabilities always carries id 1, user commands 2 and up, whenever they
 * were issued: logs and transcripts then read the same for every VM. */
#define QMP_CAPABILITIES_ID UINT64_C(1)

/* Logs a JSON value at debug level; the serialization is skipped otherwise. */
static void log_json_debug(const char *prefix, const json_t *v) {
        if (log_max_level < LOG_LEVEL_DEBUG)
                return;

        _cleanup_free_ char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        log_debug("%s %s", prefix, s ?: "(unprintable)");
}

/* ---- 1. QmpStream ------------------------------------------------------- */

struct QmpStream {
        char *buf;        /* received bytes; [start, end) not returned yet */
        size_t allocated; /* size of buf */
        size_t start;     /* first byte of the next line */
        size_t end;       /* one past the last byte received */
        size_t scanned;   /* [start, start + scanned) is known to hold no '\n' */
        size_t tail;      /* bytes after the last '\n' received: the line in progress */
};

int qmp_stream_new(QmpStream **ret) {
        assert(ret);

        QmpStream *s = calloc(1, sizeof(QmpStream));
        if (!s)
                return -ENOMEM;

        *ret = s;
        return 0;
}

QmpStream *qmp_stream_free(QmpStream *s) {
        if (!s)
                return NULL;

        free(s->buf);
        free(s);
        return NULL;
}

size_t qmp_stream_pending(const QmpStream *s) {
        assert(s);
        return s->end - s->start;
}

int qmp_stream_feed(QmpStream *s, const char *buf, size_t len) {
        assert(s);
        assert(buf || len == 0);

        if (len == 0)
                return 0;

        /* The cap is on the unterminated tail, checked before copying, so a
         * peer that never sends '\n' costs us at most QMP_MESSAGE_MAX.  One
         * more byte is fine if it is the '\r' of a "\r\n" still arriving. */
        const char *nl = memrchr(buf, '\n', len);
        size_t limit = QMP_MESSAGE_MAX + (buf[len - 1] == '\r'), tail;
        if (nl)
                tail = (size_t) (buf + len - nl - 1);
        else {
                if (s->tail > limit || len > limit - s->tail)
                        return -EMSGSIZE;
                tail = s->tail + len;
        }
        if (tail > limit)
                return -EMSGSIZE;

        if (s->allocated - s->end < len) {
                /* Dropping what was consumed is cheaper than growing. */
                if (s->start > 0) {
                        memmove(s->buf, s->buf + s->start, s->end - s->start);
                        s->end -= s->start;
                        s->start = 0;
                }

                if (s->allocated - s->end < len) {
                        size_t need = s->end + len, n = s->allocated > 0 ? s->allocated : 4096;
                        if (need < len)
                                return -ENOMEM;
                        while (n < need)
                                n = n > SIZE_MAX / 2 ? need : n * 2;

                        char *p = realloc(s->buf, n);
                        if (!p)
                                return -ENOMEM;
                        s->buf = p;
                        s->allocated = n;
                }
        }

        memcpy(s->buf + s->end, buf, len);
        s->end += len;
        s->tail = tail;
        return 0;
}

/* Blank lines carry nothing and are skipped, as QEMU's own parser does. */
static bool line_is_blank(const char *p, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (!strchr(" \t\r", p[i]))
                        return false;
        return true;
}

int qmp_stream_next(QmpStream *s, json_t **ret) {
        assert(s);
        assert(ret);

        for (;;) {
                size_t avail = s->end - s->start;
                if (avail == s->scanned)
                        return 0;

                char *line = s->buf + s->start;
                char *nl = memchr(line + s->scanned, '\n', avail - s->scanned);
                if (!nl) {
                        /* Remember how far we looked: a 10 MiB line arriving in
                         * small reads must not be rescanned from its start on
                         * every one of them. */
                        s->scanned = avail;
                        return 0;
                }

                size_t len = (size_t) (nl - line);
                s->start += len + 1;
                s->scanned = 0;
                if (s->start == s->end)
                        s->start = s->end = 0; /* buf itself stays put: 'line' is still valid */

                if (len > 0 && line[len - 1] == '\r')
                        len--;
                if (line_is_blank(line, len))
                        continue;
                if (len > QMP_MESSAGE_MAX)
                        return log_debug_errno(-EMSGSIZE, "QMP line of %zu bytes exceeds the limit.", len);

                json_error_t err;
                json_t *v = json_loadb(line, len, 0, &err);
                if (!v)
                        return log_debug_errno(-EBADMSG, "Invalid JSON on QMP stream at column %d: %s",
                                               err.column, err.text);
                if (!json_is_object(v)) {
                        json_decref(v);
                        return log_debug_errno(-EBADMSG, "QMP message is not a JSON object.");
                }

                *ret = v;
                return 1;
        }
}

/* ---- 2. Calls ----------------------------------------------------------- */

typedef enum QmpClientState {
        /* Allocated, fd not watched yet: only seen while qmp_client_new() builds it. */
        QMP_CLIENT_INITIAL,
        /* Watching the fd: the first line must be the {"QMP": ...} greeting. */
        QMP_CLIENT_AWAIT_GREETING,
        /* qmp_capabilities written; user commands wait in the queue until its reply. */
        QMP_CLIENT_NEGOTIATING,
        /* Negotiated: commands are written, replies and events dispatched. */
        QMP_CLIENT_RUNNING,
        /* Terminal: fd closed, every call failed exactly once. */
        QMP_CLIENT_DISCONNECTED,
        _QMP_CLIENT_STATE_MAX,
        _QMP_CLIENT_STATE_INVALID = -EINVAL,
} QmpClientState;

static const char *const qmp_client_state_table[_QMP_CLIENT_STATE_MAX] = {
        [QMP_CLIENT_INITIAL] = "initial",           [QMP_CLIENT_AWAIT_GREETING] = "await-greeting",
        [QMP_CLIENT_NEGOTIATING] = "negotiating",   [QMP_CLIENT_RUNNING] = "running",
        [QMP_CLIENT_DISCONNECTED] = "disconnected",
};

typedef struct QmpCall QmpCall;
struct QmpCall {
        QmpClient *client;            /* owner; not a reference */
        QmpCall *prev, *next;         /* neighbours on client->queued or client->pending */
        bool sent;                    /* on client->pending: written (or being written) */
        uint64_t id;                  /* the "id" member replies are matched on */
        char *command;                /* the "execute" name, for logs */
        char *line;                   /* the serialized command, ending in '\n' */
        size_t line_len;              /* strlen(line) */
        struct event *timer;          /* per-call timeout, NULL without one */
        qmp_reply_handler_t callback; /* called exactly once, may be NULL */
        void *userdata;               /* passed to callback */
};

typedef struct QmpCallList {
        QmpCall *head, *tail; /* oldest first */
        size_t n;             /* entries */
} QmpCallList;

struct QmpClient {
        unsigned n_ref;                 /* references held by users */
        QmpClientState state;           /* see QmpClientState */
        QmpClientFlags flags;           /* quirks of the peer */
        struct event_base *base;        /* not owned */
        int fd;                         /* the monitor socket; -EBADF when not owned or closed */
        struct event *read_event;       /* persistent EV_READ on fd */
        struct event *write_event;      /* EV_WRITE on fd, added only while a write would block */
        struct event *kick_event;       /* activated to run the protocol from the loop, not the caller's stack */
        QmpStream *stream;              /* bytes read and not dispatched yet */
        usec_t last_read_usec;          /* when read() last returned data */
        char *out;                      /* bytes to write: [out_start, out_end) */
        size_t out_start, out_end;      /* see out */
        size_t out_allocated;           /* size of out */
        QmpCallList queued;             /* not written yet, in call order */
        QmpCallList pending;            /* written, awaiting a reply, in write order */
        uint64_t next_id;               /* id of the next command; every id below was used */
        json_t *greeting;               /* the greeting's "QMP" object */
        usec_t greeting_usec;           /* when the greeting line was read */
        bool seen_shutdown;             /* a real SHUTDOWN event arrived: don't synthesize one */
        bool eof_mid_message;           /* the peer's EOF cut a message short */
        qmp_state_handler_t on_state;   /* negotiation done / connection ended */
        qmp_event_handler_t on_event;   /* asynchronous events */
        void *userdata;                 /* for on_state and on_event */
};

static void qmp_client_run(QmpClient *c);
static void qmp_client_on_io(evutil_socket_t fd, short what, void *userdata);
static void qmp_client_on_deferred_free(evutil_socket_t fd, short what, void *userdata);
static void qmp_call_on_timeout(evutil_socket_t fd, short what, void *userdata);

/* Adds call at the tail (newest). */
static void call_list_append(QmpCallList *l, QmpCall *call) {
        call->prev = l->tail;
        call->next = NULL;
        if (l->tail)
                l->tail->next = call;
        else
                l->head = call;
        l->tail = call;
        l->n++;
}

/* Unlinks call from l, which must hold it. */
static void call_list_remove(QmpCallList *l, QmpCall *call) {
        if (call->prev)
                call->prev->next = call->next;
        else
                l->head = call->next;
        if (call->next)
                call->next->prev = call->prev;
        else
                l->tail = call->prev;
        call->prev = call->next = NULL;
        assert(l->n > 0);
        l->n--;
}

/* Linear: a VM has a handful of calls out at most. */
static QmpCall *call_list_find(const QmpCallList *l, uint64_t id) {
        for (QmpCall *call = l->head; call; call = call->next)
                if (call->id == id)
                        return call;
        return NULL;
}

/* Frees a call that is on no list. */
static QmpCall *qmp_call_free(QmpCall *call) {
        if (!call)
                return NULL;

        if (call->timer)
                event_free(call->timer);
        free(call->command);
        free(call->line);
        free(call);
        return NULL;
}

static void qmp_call_freep(QmpCall **call) {
        (void) qmp_call_free(*call);
}

/* Unlinks and frees the call, then runs its callback: the callback may issue
 * new calls or drop the last client reference without meeting a stale call. */
static void qmp_call_complete(QmpCall *call, int error, json_t *result, const char *error_class,
                              const char *error_desc) {
        QmpClient *c = call->client;
        qmp_reply_handler_t cb = call->callback;
        void *userdata = call->userdata;

        call_list_remove(call->sent ? &c->pending : &c->queued, call);
        qmp_call_free(call);

        if (cb)
                cb(c, error, result, error_class, error_desc, userdata);
}

/* Fails one call; a late reply for it is dropped later as "no longer pending". */
static void qmp_call_on_timeout(evutil_socket_t fd, short what, void *userdata) {
        QmpCall *call = userdata;
        QmpClient *c = call->client;

        log_debug("QMP command '%s' (id %" PRIu64 ") timed out.", call->command, call->id);
        qmp_call_complete(call, -ETIMEDOUT, NULL, NULL, NULL);

        /* With one command in flight, the next one may go out now. */
        qmp_client_run(c);
}

/* Serializes {"execute": command, "arguments": args, "id": id} plus '\n'. */
static int qmp_format_command(const char *command, json_t *args, uint64_t id, bool string_id, char **ret,
                              size_t *ret_len) {
        json_auto_t *msg = json_object();
        if (!msg)
                return -ENOMEM;

        json_t *name = json_string(command);
        if (!name)
                return -EINVAL; /* not UTF-8 */
        if (json_object_set_new(msg, "execute", name) < 0)
                return -ENOMEM;
        if (args && json_object_set(msg, "arguments", args) < 0)
                return -ENOMEM;
        if (json_object_set_new(msg, "id", string_id ? json_sprintf("%" PRIu64, id) : json_integer((json_int_t) id)) < 0)
                return -ENOMEM;

        /* JSON_COMPACT never emits a raw newline: strings escape theirs. */
        _cleanup_free_ char *s = json_dumps(msg, JSON_COMPACT);
        if (!s)
                return -ENOMEM;

        size_t len = strlen(s);
        char *line = realloc(s, len + 2);
        if (!line)
                return -ENOMEM;
        s = NULL;
        line[len] = '\n';
        line[len + 1] = 0;

        *ret = line;
        *ret_len = len + 1;
        return 0;
}

/* ---- 3. The protocol ---------------------------------------------------- */

/* Moves to state, logging the transition at debug level. */
static void qmp_client_set_state(QmpClient *c, QmpClientState state) {
        assert(state >= 0 && state < _QMP_CLIENT_STATE_MAX);

        if (c->state == state)
                return;

        log_debug("QMP client %s → %s", qmp_client_state_table[c->state], qmp_client_state_table[state]);
        c->state = state;
}

/* Queues bytes for qmp_client_write(). */
static int qmp_client_append_output(QmpClient *c, const char *p, size_t len) {
        if (c->out_start == c->out_end)
                c->out_start = c->out_end = 0;

        if (c->out_allocated - c->out_end < len && c->out_start > 0) {
                memmove(c->out, c->out + c->out_start, c->out_end - c->out_start);
                c->out_end -= c->out_start;
                c->out_start = 0;
        }
        if (c->out_allocated - c->out_end < len) {
                size_t n = c->out_end + len;
                char *q = realloc(c->out, n);
                if (!q)
                        return -ENOMEM;
                c->out = q;
                c->out_allocated = n;
        }

        memcpy(c->out + c->out_end, p, len);
        c->out_end += len;
        return 0;
}

/* Moves queued calls to the output buffer as far as the state allows; with
 * ONE_IN_FLIGHT only when nothing is in flight or still being written, so
 * every write() carries exactly one command. */
static int qmp_client_pump(QmpClient *c) {
        if (c->state != QMP_CLIENT_RUNNING)
                return 0;

        while (c->queued.head) {
                QmpCall *call = c->queued.head;

                if ((c->flags & QMP_CLIENT_ONE_IN_FLIGHT) && (c->pending.n > 0 || c->out_end > c->out_start))
                        break;

                int r = qmp_client_append_output(c, call->line, call->line_len);
                if (r < 0)
                        return r;

                log_debug("QMP > %.*s", (int) (call->line_len - 1), call->line);
                call_list_remove(&c->queued, call);
                call->sent = true;
                call_list_append(&c->pending, call);
        }

        return 0;
}

/* AWAIT_GREETING → NEGOTIATING: keeps the greeting, queues qmp_capabilities. */
static int qmp_client_handle_greeting(QmpClient *c, json_t *msg) {
        _cleanup_free_ char *line = NULL;
        size_t len;
        int r;

        json_t *qmp = json_object_get(msg, "QMP");
        if (!json_is_object(qmp))
                return log_debug_errno(-EBADMSG, "QMP peer sent a message before its greeting.");

        c->greeting = json_incref(qmp);
        c->greeting_usec = c->last_read_usec;

        /* Sent even with ONE_IN_FLIGHT: nothing else can be in flight yet. */
        r = qmp_format_command("qmp_capabilities", NULL, QMP_CAPABILITIES_ID, c->flags & QMP_CLIENT_STRING_IDS, &line,
                               &len);
        if (r < 0)
                return r;
        r = qmp_client_append_output(c, line, len);
        if (r < 0)
                return r;

        log_debug("QMP > %.*s", (int) (len - 1), line);
        qmp_client_set_state(c, QMP_CLIENT_NEGOTIATING);
        return 1;
}

/* Finds which id a reply answers.  QEMU omits the id when it could not even
 * parse the command (and StratoVirt when deserialization fails); such a reply
 * is attributed only when exactly one command can be meant. */
static int qmp_client_reply_id(QmpClient *c, json_t *msg, uint64_t *ret) {
        json_t *v = json_object_get(msg, "id");

        if (!v) {
                if (c->state == QMP_CLIENT_NEGOTIATING)
                        *ret = QMP_CAPABILITIES_ID;
                else if (c->pending.n == 1)
                        *ret = c->pending.head->id;
                else
                        return -ENOENT;
                return 0;
        }

        if (json_is_integer(v) && json_integer_value(v) > 0) {
                *ret = (uint64_t) json_integer_value(v);
                return 0;
        }

        /* Peers configured with QMP_CLIENT_STRING_IDS echo the decimal string. */
        const char *s = json_string_value(v);
        if (s && *s >= '1' && *s <= '9') {
                char *end;
                errno = 0;
                unsigned long long u = strtoull(s, &end, 10);
                if (errno == 0 && *end == 0) {
                        *ret = (uint64_t) u;
                        return 0;
                }
        }

        return -EINVAL;
}

/* Completes the call a reply answers, or NEGOTIATING → RUNNING for ours. */
static int qmp_client_handle_reply(QmpClient *c, json_t *msg) {
        uint64_t id;
        int r;

        r = qmp_client_reply_id(c, msg, &id);
        if (r < 0) {
                log_debug_errno(r, "Ignoring QMP reply without a usable id: %m");
                return 1;
        }

        json_t *error = json_object_get(msg, "error");
        const char *error_class = json_string_value(json_object_get(error, "class")) ?: "GenericError";
        const char *error_desc = json_string_value(json_object_get(error, "desc")) ?: "Unknown error";

        if (c->state == QMP_CLIENT_NEGOTIATING && id == QMP_CAPABILITIES_ID) {
                if (error)
                        return log_debug_errno(-EPROTO, "QMP peer refused qmp_capabilities: %s", error_desc);

                qmp_client_set_state(c, QMP_CLIENT_RUNNING);
                if (c->on_state)
                        c->on_state(c, 0, c->userdata);
                return 1;
        }

        QmpCall *call = call_list_find(&c->pending, id);
        if (!call) {
                if (id < c->next_id)
                        log_debug("Dropping QMP reply for id %" PRIu64 ", which is no longer pending (timed out?).", id);
                else
                        log_debug("Ignoring QMP reply with unknown id %" PRIu64 ".", id);
                return 1;
        }

        if (error) {
                log_debug("QMP command '%s' failed: %s (%s)", call->command, error_desc, error_class);
                qmp_call_complete(call, -EIO, NULL, error_class, error_desc);
        } else
                qmp_call_complete(call, 0, json_object_get(msg, "return"), NULL, NULL);

        return 1;
}

/* Hands an event to the event handler; never touches a call. */
static int qmp_client_handle_event(QmpClient *c, json_t *msg) {
        const char *name = json_string_value(json_object_get(msg, "event"));
        if (!name) {
                log_debug("Ignoring QMP event without a name.");
                return 1;
        }

        if (streq(name, "SHUTDOWN"))
                c->seen_shutdown = true;

        if (c->on_event)
                c->on_event(c, name, json_object_get(msg, "data"), c->last_read_usec, c->userdata);
        return 1;
}

/* Routes one message by state, and then by kind: events apart from replies. */
static int qmp_client_dispatch(QmpClient *c, json_t *msg) {
        switch (c->state) {

        case QMP_CLIENT_AWAIT_GREETING:
                return qmp_client_handle_greeting(c, msg);

        case QMP_CLIENT_NEGOTIATING:
        case QMP_CLIENT_RUNNING:
                if (json_object_get(msg, "event"))
                        return qmp_client_handle_event(c, msg);
                if (json_object_get(msg, "return") || json_object_get(msg, "error"))
                        return qmp_client_handle_reply(c, msg);
                if (json_object_get(msg, "QMP"))
                        return log_debug_errno(-EBADMSG, "QMP peer sent a second greeting.");

                log_debug("Ignoring QMP message that is neither a reply nor an event.");
                return 1;

        case QMP_CLIENT_INITIAL:
        case QMP_CLIENT_DISCONNECTED:
        default:
                abort();
        }
}

/* Reads once.  >0: got bytes, 0: would block, <0: the connection ends. */
static int qmp_client_read(QmpClient *c) {
        char buf[QMP_READ_SIZE];
        int r;

        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n < 0) {
                if (errno == EAGAIN)
                        return 0;
                if (errno == EINTR)
                        return 1;
                if (errno == ECONNRESET)
                        return -ECONNRESET;
                return log_debug_errno(-errno, "Failed to read from QMP socket: %m");
        }
        if (n == 0) {
                if (qmp_stream_pending(c->stream) > 0) {
                        log_debug("QMP peer closed the connection in the middle of a message.");
                        c->eof_mid_message = true;
                }
                return -ECONNRESET;
        }

        c->last_read_usec = now_usec();
        r = qmp_stream_feed(c->stream, buf, (size_t) n);
        if (r < 0)
                return log_debug_errno(r, "Failed to buffer QMP input: %m");
        return 1;
}

/* Writes once.  >0: wrote bytes, 0: nothing to write or would block, <0: the connection ends. */
static int qmp_client_write(QmpClient *c) {
        int r;

        r = qmp_client_pump(c);
        if (r < 0)
                return r;

        if (c->out_start == c->out_end)
                return 0;

        /* send() with MSG_NOSIGNAL: a vanished peer must not SIGPIPE the daemon. */
        ssize_t n = send(c->fd, c->out + c->out_start, c->out_end - c->out_start, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
                n = write(c->fd, c->out + c->out_start, c->out_end - c->out_start);
        if (n < 0) {
                if (errno == EAGAIN) {
                        if (event_add(c->write_event, NULL) < 0)
                                return -ENOMEM;
                        return 0;
                }
                if (errno == EINTR)
                        return 1;
                if (errno == EPIPE || errno == ECONNRESET)
                        return -ECONNRESET;
                return log_debug_errno(-errno, "Failed to write to QMP socket: %m");
        }

        c->out_start += (size_t) n;
        return 1;
}

/* One step of the protocol: dispatch one buffered message, else read once,
 * else write once.  Buffered messages go first so that a reply followed by
 * EOF is delivered before the EOF fails the rest.  Returns >0 on progress, 0
 * when idle (everything would block), <0 when the connection must end. */
static int qmp_client_process(QmpClient *c) {
        json_auto_t *msg = NULL;
        int r;

        switch (c->state) {

        case QMP_CLIENT_INITIAL:
        case QMP_CLIENT_DISCONNECTED:
                return 0;

        case QMP_CLIENT_AWAIT_GREETING:
        case QMP_CLIENT_NEGOTIATING:
        case QMP_CLIENT_RUNNING:
                break;

        default:
                abort();
        }

        r = qmp_stream_next(c->stream, &msg);
        if (r < 0)
                return r;
        if (r > 0) {
                log_json_debug("QMP <", msg);
                return qmp_client_dispatch(c, msg);
        }

        r = qmp_client_read(c);
        if (r != 0)
                return r;

        return qmp_client_write(c);
}

/* ---- 4. libevent glue, lifetime ----------------------------------------- */

/* Ends the connection: closes the fd, fails every call once with error (calls
 * written first, then queued ones, each in order), and with notify tells the
 * user.  Idempotent; callbacks run from here may drop the last reference. */
static void qmp_client_disconnect(QmpClient *c, int error, bool notify) {
        QmpCall *call;

        assert(error < 0);

        if (c->state == QMP_CLIENT_DISCONNECTED)
                return;

        log_debug_errno(error, "QMP connection ended: %m");
        qmp_client_set_state(c, QMP_CLIENT_DISCONNECTED);

        if (c->read_event)
                event_del(c->read_event);
        if (c->write_event)
                event_del(c->write_event);
        if (c->kick_event)
                event_del(c->kick_event);
        c->fd = safe_close(c->fd);

        /* One at a time from the head: a callback may not see a half-walked list. */
        while ((call = c->pending.head) || (call = c->queued.head))
                qmp_call_complete(call, error, NULL, NULL, NULL);

        if (!notify)
                return;

        /* The VM layer tracks lifetime through SHUTDOWN; EOF without one means
         * the VMM went away, which it must hear about the same way. */
        if (error == -ECONNRESET && !c->seen_shutdown && c->n_ref > 0 && c->on_event)
                c->on_event(c, "SHUTDOWN", NULL, now_usec(), c->userdata);

        if (c->n_ref > 0 && c->on_state)
                c->on_state(c, error, c->userdata);
}

/* Runs the protocol until it is idle or the connection ended. */
static void qmp_client_run(QmpClient *c) {
        for (;;) {
                int r = qmp_client_process(c);
                if (r == 0)
                        return;
                if (r < 0) {
                        qmp_client_disconnect(c, r, true);
                        return;
                }
        }
}

static void qmp_client_on_io(evutil_socket_t fd, short what, void *userdata) {
        qmp_client_run(userdata);
}

/* Releases memory only; the connection must have ended (or never started). */
static QmpClient *qmp_client_free(QmpClient *c) {
        if (!c)
                return NULL;

        /* Reached half-built from qmp_client_new(), or after disconnect: no calls left. */
        assert(!c->pending.head && !c->queued.head);

        if (c->read_event)
                event_free(c->read_event);
        if (c->write_event)
                event_free(c->write_event);
        if (c->kick_event)
                event_free(c->kick_event);
        safe_close(c->fd);
        qmp_stream_free(c->stream);
        free(c->out);
        json_decref(c->greeting);
        free(c);
        return NULL;
}

static void qmp_client_freep(QmpClient **c) {
        (void) qmp_client_free(*c);
}

static void qmp_client_on_deferred_free(evutil_socket_t fd, short what, void *userdata) {
        qmp_client_free(userdata);
}

int qmp_client_new(struct event_base *base, int fd, QmpClientFlags flags, QmpClient **ret) {
        _cleanup_(qmp_client_freep) QmpClient *c = NULL;
        int r, fl;

        if (!base || fd < 0 || !ret)
                return -EINVAL;
        if (flags & ~(QMP_CLIENT_ONE_IN_FLIGHT | QMP_CLIENT_STRING_IDS))
                return -EINVAL;

        c = calloc(1, sizeof(QmpClient));
        if (!c)
                return -ENOMEM;
        *c = (QmpClient) {
                .n_ref = 1,
                .state = QMP_CLIENT_INITIAL,
                .flags = flags,
                .base = base,
                .fd = -EBADF, /* the caller owns fd until we can no longer fail */
                .next_id = QMP_CAPABILITIES_ID + 1,
        };

        r = qmp_stream_new(&c->stream);
        if (r < 0)
                return r;

        fl = fcntl(fd, F_GETFL);
        if (fl < 0)
                return -errno;
        if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;

        c->read_event = event_new(base, fd, EV_READ | EV_PERSIST, qmp_client_on_io, c);
        c->write_event = event_new(base, fd, EV_WRITE, qmp_client_on_io, c);
        c->kick_event = event_new(base, -1, 0, qmp_client_on_io, c);
        if (!c->read_event || !c->write_event || !c->kick_event)
                return -ENOMEM;
        if (event_add(c->read_event, NULL) < 0)
                return -ENOMEM;

        c->fd = fd;
        qmp_client_set_state(c, QMP_CLIENT_AWAIT_GREETING);

        *ret = TAKE_PTR(c);
        return 0;
}

void qmp_client_set_handlers(QmpClient *c, qmp_state_handler_t on_state, qmp_event_handler_t on_event,
                             void *userdata) {
        assert(c);

        c->on_state = on_state;
        c->on_event = on_event;
        c->userdata = userdata;
}

int qmp_client_call(QmpClient *c, const char *command, json_t *args, usec_t timeout_usec, qmp_reply_handler_t cb,
                    void *userdata) {
        json_auto_t *a = args; /* stolen on every path */
        _cleanup_(qmp_call_freep) QmpCall *call = NULL;
        int r;

        if (!c || !command || !*command)
                return -EINVAL;
        if (a && !json_is_object(a))
                return -EINVAL;
        if (c->state == QMP_CLIENT_DISCONNECTED)
                return -ENOTCONN;
        if (c->queued.n + c->pending.n >= QMP_CALLS_MAX)
                return -E2BIG;

        call = calloc(1, sizeof(QmpCall));
        if (!call)
                return -ENOMEM;
        call->client = c;
        call->id = c->next_id;
        call->callback = cb;
        call->userdata = userdata;

        call->command = strdup(command);
        if (!call->command)
                return -ENOMEM;

        r = qmp_format_command(command, a, call->id, c->flags & QMP_CLIENT_STRING_IDS, &call->line,
                               &call->line_len);
        if (r < 0)
                return r;

        if (timeout_usec > 0) {
                struct timeval tv = {
                        .tv_sec = (time_t) (timeout_usec / USEC_PER_SEC),
                        .tv_usec = (suseconds_t) (timeout_usec % USEC_PER_SEC),
                };

                call->timer = evtimer_new(c->base, qmp_call_on_timeout, call);
                if (!call->timer)
                        return -ENOMEM;
                if (evtimer_add(call->timer, &tv) < 0)
                        return -ENOMEM;
        }

        /* Written from the loop, never from here: the caller must not see its
         * callback (or a disconnect) before this returns. */
        if (c->state == QMP_CLIENT_RUNNING)
                event_active(c->kick_event, EV_TIMEOUT, 0);

        c->next_id++;
        call_list_append(&c->queued, TAKE_PTR(call));
        return 0;
}

int qmp_client_hmp(QmpClient *c, const char *command_line, usec_t timeout_usec, qmp_reply_handler_t cb,
                   void *userdata) {
        if (!command_line)
                return -EINVAL;

        json_t *line = json_string(command_line);
        if (!line)
                return -EINVAL; /* not UTF-8 */

        json_t *args = json_object();
        if (!args || json_object_set_new(args, "command-line", line) < 0) {
                json_decref(args);
                return -ENOMEM;
        }

        return qmp_client_call(c, "human-monitor-command", args, timeout_usec, cb, userdata);
}

const json_t *qmp_client_greeting(QmpClient *c) {
        assert(c);
        return c->greeting;
}

usec_t qmp_client_greeting_usec(QmpClient *c) {
        assert(c);
        return c->greeting_usec;
}

bool qmp_client_eof_mid_message(QmpClient *c) {
        assert(c);
        return c->eof_mid_message;
}

_Static_assert(QMP_MESSAGE_MAX == (size_t) 10 << 20, "qmp_client_error_to_string() says 10 MiB");

const char *qmp_client_error_to_string(int error) {
        switch (error) {
        case -ECONNRESET: return "the VMM closed its monitor";
        case -EPIPE: return "the VMM closed its monitor in the middle of a message";
        case -EBADMSG: return "the VMM sent something that is not a QMP message (invalid JSON, no greeting first)";
        case -EMSGSIZE: return "the VMM sent a QMP message longer than the 10 MiB limit";
        case -EPROTO: return "the VMM refused qmp_capabilities";
        case -ETIMEDOUT: return "the VMM did not answer in time";
        default: return strerror(-error);
        }
}

int qmp_client_version(QmpClient *c, char **ret) {
        assert(c);
        assert(ret);

        if (!c->greeting)
                return -ENODATA;

        json_t *version = json_object_get(c->greeting, "version");
        json_t *numbers = json_object_get(version, "qemu");
        if (!json_is_object(numbers))
                /* Old StratoVirt releases name themselves here instead. */
                numbers = json_object_get(version, "StratoVirt");

        json_t *major = json_object_get(numbers, "major"), *minor = json_object_get(numbers, "minor"),
               *micro = json_object_get(numbers, "micro");
        if (!json_is_integer(major) || !json_is_integer(minor) || !json_is_integer(micro))
                return -EBADMSG;

        /* QEMU's package is "" or e.g. "Debian 1:7.2+dfsg-7", StratoVirt's "StratoVirt-2.5.0". */
        const char *package = json_string_value(json_object_get(version, "package")) ?: "";
        size_t len = strlen(package);
        while (len > 0 && strchr(" \t", *package)) {
                package++;
                len--;
        }
        while (len > 0 && strchr(" \t", package[len - 1]))
                len--;

        char *s;
        int n;
        if (len > 0)
                n = asprintf(&s, "%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT " (%.*s)",
                             json_integer_value(major), json_integer_value(minor), json_integer_value(micro),
                             (int) len, package);
        else
                n = asprintf(&s, "%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT,
                             json_integer_value(major), json_integer_value(minor), json_integer_value(micro));
        if (n < 0)
                return -ENOMEM;

        *ret = s;
        return 0;
}

QmpClient *qmp_client_ref(QmpClient *c) {
        if (!c)
                return NULL;

        assert(c->n_ref > 0);
        c->n_ref++;
        return c;
}

QmpClient *qmp_client_unref(QmpClient *c) {
        if (!c)
                return NULL;

        assert(c->n_ref > 0);
        if (--c->n_ref > 0)
                return NULL;

        qmp_client_disconnect(c, -ECANCELED, /* notify= */ false);

        /* We may be inside one of c's callbacks with c's code still on the
         * stack: free from the loop instead. */
        if (event_base_once(c->base, -1, EV_TIMEOUT, qmp_client_on_deferred_free, c, NULL) < 0)
                /* Out of memory in libevent: a leak is safer than a use-after-free. */
                log_debug("Failed to schedule freeing of QMP client, leaking it.");

        return NULL;
}

/* ---- 5. Connecting ------------------------------------------------------ */

int qmp_connect_unix(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (!path || !*path)
                return -EINVAL;

        size_t len = strlen(path);
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;

        /* A unix connect() completes at once or fails with EAGAIN (backlog full, retry). */
        if (connect(fd, (const struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1)) < 0 &&
            errno != EINPROGRESS)
                return -errno;

        return TAKE_FD(fd);
}
