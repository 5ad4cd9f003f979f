/* qmp-relay.c — QMP served from a function over a socketpair (qmp-relay.h).
 * Reads are lines (QMP clients write one command per line); each is
 * answered at once, synchronously, in order, so replies never overtake
 * each other.  Output goes through a bufferevent: the peer is our own
 * loop, so a blocking write larger than the socket buffer would deadlock. */
#include "qmp-relay.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <sys/socket.h>

#include "qmp-client.h"

struct QmpRelay {
        struct bufferevent *bev;   /* our end of the socketpair */
        qmp_relay_handler_t handler; /* answers commands */
        void *userdata;            /* for handler */
        unsigned commands;         /* answered so far */
        bool closing;              /* EOF once the output drained */
};

static void on_read(struct bufferevent *bev, void *userdata);
static void on_write(struct bufferevent *bev, void *userdata);
static void on_event(struct bufferevent *bev, short what, void *userdata);

static int relay_send(QmpRelay *r, json_t *msg) {
        if (!r->bev || r->closing)
                return -ENOTCONN;
        _cleanup_free_ char *s = json_dumps(msg, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        struct evbuffer *out = bufferevent_get_output(r->bev);
        return evbuffer_add(out, s, strlen(s)) < 0 || evbuffer_add(out, "\r\n", 2) < 0 ? -ENOMEM : 0;
}

static json_t *error_reply(const char *cls, const char *desc) {
        return json_pack("{s:{s:s, s:s}}", "error", "class", cls, "desc", desc);
}

/* One command in, one reply out, carrying the command's id. */
static void relay_answer(QmpRelay *r, json_t *msg) {
        json_t *id = json_object_get(msg, "id");
        const char *execute = json_string_value(json_object_get(msg, "execute"));
        json_t *reply = NULL;
        r->commands++;
        if (!execute)
                reply = error_reply("GenericError", "QMP input is missing member 'execute'");
        else if (streq(execute, "qmp_capabilities"))
                reply = json_pack("{s:{}}", "return");
        else {
                json_auto_t *command = json_deep_copy(msg);
                _cleanup_free_ char *why = NULL;
                if (command)
                        json_object_del(command, "id");
                int k = command ? r->handler(command, &reply, &why, r->userdata) : -ENOMEM;
                if (k < 0)
                        reply = error_reply("GenericError", why ?: strerror(-k));
        }
        if (!reply)
                return;
        if (id)
                json_object_set(reply, "id", id);
        else
                json_object_del(reply, "id");
        (void) relay_send(r, reply);
        json_decref(reply);
}

static void on_read(struct bufferevent *bev, void *userdata) {
        QmpRelay *r = userdata;
        struct evbuffer *in = bufferevent_get_input(bev);
        char *line;
        size_t len;
        while (r->bev && (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
                json_error_t err;
                json_t *msg = len > 0 ? json_loadb(line, len, 0, &err) : NULL;
                free(line);
                if (msg && json_is_object(msg))
                        relay_answer(r, msg);
                else if (len > 0) {
                        json_auto_t *e = error_reply("GenericError", "JSON parse error");
                        (void) relay_send(r, e);
                }
                json_decref(msg);
        }
        /* A peer that never ends its line costs at most one QMP message. */
        if (r->bev && evbuffer_get_length(in) > QMP_MESSAGE_MAX)
                qmp_relay_close(r);
}

static void relay_drop(QmpRelay *r) {
        if (r->bev)
                bufferevent_free(r->bev);
        r->bev = NULL;
}

static void on_write(struct bufferevent *bev, void *userdata) {
        QmpRelay *r = userdata;
        if (r->closing)
                relay_drop(r);
}

static void on_event(struct bufferevent *bev, short what, void *userdata) {
        if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
                relay_drop(userdata);
}

int qmp_relay_new(struct event_base *base, qmp_relay_handler_t handler, void *userdata, int *ret_client_fd,
                  QmpRelay **ret) {
        int sp[2];
        QmpRelay *r = calloc(1, sizeof(QmpRelay));
        if (!r)
                return -ENOMEM;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0) {
                int e = -errno;
                free(r);
                return e;
        }
        *r = (QmpRelay) { .handler = handler, .userdata = userdata };
        r->bev = bufferevent_socket_new(base, sp[0], BEV_OPT_CLOSE_ON_FREE);
        if (!r->bev) {
                safe_close(sp[0]);
                safe_close(sp[1]);
                free(r);
                return -ENOMEM;
        }
        bufferevent_setcb(r->bev, on_read, on_write, on_event, r);
        if (bufferevent_enable(r->bev, EV_READ | EV_WRITE) < 0) {
                safe_close(sp[1]);
                qmp_relay_free(r);
                return -EIO;
        }
        *ret_client_fd = sp[1];
        *ret = r;
        return 0;
}

int qmp_relay_greet(QmpRelay *r, json_t *version) {
        json_auto_t *g = json_pack("{s:{s:O, s:[]}}", "QMP", "version", version, "capabilities");
        return g ? relay_send(r, g) : -ENOMEM;
}

int qmp_relay_event(QmpRelay *r, const char *event, json_t *data, long long seconds, unsigned micros) {
        json_auto_t *e = json_pack("{s:s, s:{s:I, s:I}}", "event", event, "timestamp", "seconds", (json_int_t) seconds,
                                   "microseconds", (json_int_t) micros);
        if (e && data)
                json_object_set(e, "data", data);
        return e ? relay_send(r, e) : -ENOMEM;
}

unsigned qmp_relay_commands(const QmpRelay *r) {
        return r->commands;
}

void qmp_relay_close(QmpRelay *r) {
        if (!r || !r->bev || r->closing)
                return;
        r->closing = true;
        bufferevent_disable(r->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(r->bev)) == 0)
                relay_drop(r);
}

QmpRelay *qmp_relay_free(QmpRelay *r) {
        if (!r)
                return NULL;
        relay_drop(r);
        free(r);
        return NULL;
}
