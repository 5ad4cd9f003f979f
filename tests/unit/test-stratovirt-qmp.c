/* test-stratovirt-qmp.c — the QMP client against a FAKE StratoVirt: a
 * scripted peer in this file (no StratoVirt binary is involved) that behaves
 * like StratoVirt 2.x's QMP server as observed on 2.1.0 and 2.5.0:
 *   - listens on a unix socket and serves one client at a time: a second
 *     connection gets no greeting until the first one closes;
 *   - greets posing as QEMU 5.0.1 with package "StratoVirt-2.5.0";
 *   - ends messages in "\r\n", and the two bytes may arrive in separate reads;
 *   - parses each read() as exactly one JSON object (the fake counts reads
 *     that are not), echoes "id" as the string it got;
 *   - answers OperationThrottled above a command rate (100/s in StratoVirt,
 *     3 per second here so the test is quick) and GenericError to unknown
 *     commands;
 *   - "quit": return, SHUTDOWN event, EOF; "system_powerdown": return, EOF,
 *     no event.
 * The client is the real one (qmp-client.c via the library) with the
 * backend's flags, QMP_CLIENT_ONE_IN_FLIGHT | QMP_CLIENT_STRING_IDS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "qmp-client.h"
#include "util.h"

#define FAKE_GREETING "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":1,\"minor\":0,\"major\":5},\"package\":\"StratoVirt-2.5.0\"},\"capabilities\":[]}}"
#define FLAGS (QMP_CLIENT_ONE_IN_FLIGHT | QMP_CLIENT_STRING_IDS)
#define MAX_CONNS 4

typedef struct FakeStratoVirt {
        struct event_base *base;   /* shared with the clients */
        char dir[64];              /* temporary directory */
        char path[96];             /* the QMP socket */
        int listen_fd;             /* listening socket */
        struct event *accept_event; /* on listen_fd */
        int conns[MAX_CONNS];      /* accepted connections, in order; [0] is served */
        struct event *conn_events[MAX_CONNS]; /* reads of each */
        size_t n_conns;            /* entries in conns */
        unsigned greeted;          /* greetings sent */
        unsigned reads;            /* reads that carried data from the served client */
        unsigned bad_reads;        /* reads that were not exactly one JSON object */
        unsigned throttle_per_sec; /* commands accepted per second before OperationThrottled */
        char out[16384];           /* bytes queued for the served client */
        size_t out_len;            /* bytes in out */
        bool close_after_flush;    /* drop the served client once out is written */
        struct event *flush_event; /* writes out piece by piece */
        unsigned in_window;        /* commands in the current second */
        usec_t window_start;       /* start of that second */
} FakeStratoVirt;

typedef struct Client {
        unsigned ready, ended, replies, shutdowns; /* callback counts */
        int end_error;              /* error of the end state call */
        bool shutdown_had_data;     /* the SHUTDOWN event carried data (a real one) */
        int errors[16];             /* reply errors in order */
        char classes[16][32];       /* error classes in order */
} Client;

static void fake_on_read(evutil_socket_t fd, short what, void *userdata);

static void fake_close_served(FakeStratoVirt *f);

/* Writes the queue one piece per loop iteration, each piece ending at a
 * '\r' when there is one: so every "\r\n" arrives split in two reads, as
 * StratoVirt's replies sometimes do. */
static void fake_on_flush(evutil_socket_t fd, short what, void *userdata) {
        FakeStratoVirt *f = userdata;
        if (f->n_conns == 0) {
                f->out_len = 0;
                return;
        }
        char *cr = memchr(f->out, '\r', f->out_len);
        size_t k = cr ? (size_t) (cr - f->out) + 1 : f->out_len;
        assert_int_equal(send(f->conns[0], f->out, k, MSG_NOSIGNAL), (ssize_t) k);
        memmove(f->out, f->out + k, f->out_len - k);
        f->out_len -= k;
        struct timeval tv = { .tv_usec = 1000 };
        if (f->out_len > 0)
                (void) evtimer_add(f->flush_event, &tv);
        else if (f->close_after_flush) {
                f->close_after_flush = false;
                fake_close_served(f);
        }
}

static void fake_send(FakeStratoVirt *f, int fd, const char *s) {
        int n = snprintf(f->out + f->out_len, sizeof(f->out) - f->out_len, "%s\r\n", s);
        assert_true(n > 2 && (size_t) n < sizeof(f->out) - f->out_len);
        f->out_len += (size_t) n;
        struct timeval tv = { .tv_usec = 1000 };
        (void) evtimer_add(f->flush_event, &tv);
}

static void fake_greet(FakeStratoVirt *f) {
        if (f->n_conns == 0)
                return;
        fake_send(f, f->conns[0], FAKE_GREETING);
        f->greeted++;
}

static void fake_on_accept(evutil_socket_t fd, short what, void *userdata) {
        FakeStratoVirt *f = userdata;
        int c = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0)
                return;
        assert_true(f->n_conns < MAX_CONNS);
        f->conns[f->n_conns] = c;
        f->conn_events[f->n_conns] = event_new(f->base, c, EV_READ | EV_PERSIST, fake_on_read, f);
        assert_int_equal(event_add(f->conn_events[f->n_conns], NULL), 0);
        f->n_conns++;
        /* One client at a time: only the first connection is greeted. */
        if (f->n_conns == 1)
                fake_greet(f);
}

/* Drops the served connection; the next queued one is greeted. */
static void fake_close_served(FakeStratoVirt *f) {
        f->out_len = 0;
        event_free(f->conn_events[0]);
        safe_close(f->conns[0]);
        memmove(f->conns, f->conns + 1, (f->n_conns - 1) * sizeof(int));
        memmove(f->conn_events, f->conn_events + 1, (f->n_conns - 1) * sizeof(struct event *));
        f->n_conns--;
        fake_greet(f);
}

static void fake_reply(FakeStratoVirt *f, json_t *id, const char *body) {
        json_auto_t *v = json_loads(body, 0, NULL);
        assert_non_null(v);
        if (id)
                json_object_set(v, "id", id);
        _cleanup_free_ char *s = json_dumps(v, JSON_COMPACT);
        fake_send(f, f->conns[0], s);
}

static void fake_on_read(evutil_socket_t fd, short what, void *userdata) {
        FakeStratoVirt *f = userdata;
        char buf[8192];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (f->n_conns == 0 || fd != f->conns[0]) {
                /* A waiting client: StratoVirt does not read from it yet; EOF frees it. */
                if (n == 0)
                        for (size_t i = 1; i < f->n_conns; i++)
                                if (f->conns[i] == fd) {
                                        event_free(f->conn_events[i]);
                                        safe_close(fd);
                                        memmove(f->conns + i, f->conns + i + 1, (f->n_conns - i - 1) * sizeof(int));
                                        memmove(f->conn_events + i, f->conn_events + i + 1,
                                                (f->n_conns - i - 1) * sizeof(struct event *));
                                        f->n_conns--;
                                }
                return;
        }
        if (n <= 0) {
                fake_close_served(f);
                return;
        }
        f->reads++;
        /* StratoVirt's parser: the whole read is one object, or an error. */
        json_error_t e;
        json_auto_t *cmd = json_loadb(buf, (size_t) n, 0, &e);
        if (!json_is_object(cmd)) {
                f->bad_reads++;
                return;
        }
        json_t *id = json_object_get(cmd, "id");
        const char *name = json_string_value(json_object_get(cmd, "execute")) ?: "";
        usec_t now = now_usec();
        if (now - f->window_start >= USEC_PER_SEC) {
                f->window_start = now;
                f->in_window = 0;
        }
        if (f->throttle_per_sec && ++f->in_window > f->throttle_per_sec) {
                fake_reply(f, id, "{\"error\":{\"class\":\"OperationThrottled\",\"desc\":\"QMP command rate exceeded\"}}");
                return;
        }
        if (streq(name, "qmp_capabilities"))
                fake_reply(f, id, "{\"return\":{}}");
        else if (streq(name, "query-status"))
                fake_reply(f, id, "{\"return\":{\"running\":true,\"singlestep\":false,\"status\":\"running\"}}");
        else if (streq(name, "quit")) {
                fake_reply(f, id, "{\"return\":{}}");
                fake_send(f, f->conns[0], "{\"event\":\"SHUTDOWN\",\"data\":{\"guest\":false,\"reason\":\"host-qmp-quit\"},"
                                          "\"timestamp\":{\"seconds\":1,\"microseconds\":2}}");
                f->close_after_flush = true;
        } else if (streq(name, "system_powerdown")) {
                /* No event: the process just goes. */
                fake_reply(f, id, "{\"return\":{}}");
                f->close_after_flush = true;
        } else
                fake_reply(f, id, "{\"error\":{\"class\":\"GenericError\",\"desc\":\"unknown command\"}}");
}

static int setup(void **state) {
        FakeStratoVirt *f = calloc(1, sizeof(FakeStratoVirt));
        assert_non_null(f);
        f->base = event_base_new();
        f->flush_event = evtimer_new(f->base, fake_on_flush, f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/virtlab-fake-sv-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
        assert_int_equal(bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->listen_fd, 4), 0);
        f->accept_event = event_new(f->base, f->listen_fd, EV_READ | EV_PERSIST, fake_on_accept, f);
        assert_int_equal(event_add(f->accept_event, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        FakeStratoVirt *f = *state;
        while (f->n_conns > 0) {
                event_free(f->conn_events[0]);
                safe_close(f->conns[0]);
                memmove(f->conns, f->conns + 1, (f->n_conns - 1) * sizeof(int));
                memmove(f->conn_events, f->conn_events + 1, (f->n_conns - 1) * sizeof(struct event *));
                f->n_conns--;
        }
        event_free(f->accept_event);
        event_free(f->flush_event);
        safe_close(f->listen_fd);
        (void) unlink(f->path);
        (void) rmdir(f->dir);
        event_base_free(f->base);
        free(f);
        return 0;
}

static void on_state(QmpClient *c, int error, void *userdata) {
        Client *cl = userdata;
        if (error == 0)
                cl->ready++;
        else {
                cl->ended++;
                cl->end_error = error;
        }
}

static void on_event(QmpClient *c, const char *event, json_t *data, usec_t t, void *userdata) {
        Client *cl = userdata;
        if (streq(event, "SHUTDOWN")) {
                cl->shutdowns++;
                cl->shutdown_had_data = data != NULL;
        }
}

static void on_reply(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata) {
        Client *cl = userdata;
        if (cl->replies < ELEMENTSOF(cl->errors)) {
                cl->errors[cl->replies] = error;
                snprintf(cl->classes[cl->replies], sizeof(cl->classes[0]), "%s", cls ?: "");
        }
        cl->replies++;
}

static void run_until(FakeStratoVirt *f, const unsigned *counter, unsigned target) {
        usec_t end = now_usec() + 5 * USEC_PER_SEC;
        while (*counter < target && now_usec() < end) {
                (void) event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
                (void) usleep(500);
        }
}

static void settle(FakeStratoVirt *f) {
        for (int i = 0; i < 50; i++) {
                (void) event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
                (void) usleep(200);
        }
}

static QmpClient *connect_client(FakeStratoVirt *f, Client *cl) {
        QmpClient *c = NULL;
        int fd = qmp_connect_unix(f->path);
        assert_true(fd >= 0);
        assert_int_equal(qmp_client_new(f->base, fd, FLAGS, &c), 0);
        qmp_client_set_handlers(c, on_state, on_event, cl);
        return c;
}

static void test_greeting_split_crlf(void **state) {
        FakeStratoVirt *f = *state;
        Client cl = {};
        QmpClient *c = connect_client(f, &cl);
        run_until(f, &cl.ready, 1);
        assert_int_equal(cl.ready, 1);
        _cleanup_free_ char *version = NULL;
        assert_int_equal(qmp_client_version(c, &version), 0);
        assert_string_equal(version, "5.0.1 (StratoVirt-2.5.0)");
        qmp_client_unref(c);
        settle(f);
        assert_int_equal(f->bad_reads, 0);
}

static void test_one_command_per_write(void **state) {
        FakeStratoVirt *f = *state;
        Client cl = {};
        QmpClient *c = connect_client(f, &cl);
        /* Queued at once, before the greeting even: still one object per read. */
        for (int i = 0; i < 6; i++)
                assert_int_equal(qmp_client_call(c, "query-status", NULL, 0, on_reply, &cl), 0);
        run_until(f, &cl.replies, 6);
        assert_int_equal(cl.replies, 6);
        for (int i = 0; i < 6; i++)
                assert_int_equal(cl.errors[i], 0);
        assert_int_equal(f->reads, 7); /* qmp_capabilities + 6, each alone */
        assert_int_equal(f->bad_reads, 0);
        qmp_client_unref(c);
        settle(f);
}

static void test_one_client_at_a_time(void **state) {
        FakeStratoVirt *f = *state;
        Client a = {}, b = {};
        QmpClient *ca = connect_client(f, &a);
        run_until(f, &a.ready, 1);
        QmpClient *cb = connect_client(f, &b);
        settle(f);
        /* The second connection is accepted but hears nothing... */
        assert_int_equal(a.ready, 1);
        assert_int_equal(b.ready, 0);
        assert_int_equal(f->greeted, 1);
        /* ...until the first one closes. */
        qmp_client_unref(ca);
        run_until(f, &b.ready, 1);
        assert_int_equal(b.ready, 1);
        assert_int_equal(f->greeted, 2);
        qmp_client_unref(cb);
        settle(f);
}

static void test_throttled_and_unknown(void **state) {
        FakeStratoVirt *f = *state;
        Client cl = {};
        f->throttle_per_sec = 3; /* qmp_capabilities + 2 more pass this second */
        QmpClient *c = connect_client(f, &cl);
        for (int i = 0; i < 4; i++)
                assert_int_equal(qmp_client_call(c, "query-status", NULL, 0, on_reply, &cl), 0);
        run_until(f, &cl.replies, 4);
        assert_int_equal(cl.replies, 4);
        assert_int_equal(cl.errors[0], 0);
        assert_int_equal(cl.errors[1], 0);
        assert_int_equal(cl.errors[2], -EIO);
        assert_string_equal(cl.classes[2], "OperationThrottled");
        assert_int_equal(cl.errors[3], -EIO);
        /* Throttling is per call: the connection lives on. */
        assert_int_equal(cl.ended, 0);
        f->throttle_per_sec = 0;
        assert_int_equal(qmp_client_call(c, "info-mtree", NULL, 0, on_reply, &cl), 0);
        run_until(f, &cl.replies, 5);
        assert_int_equal(cl.errors[4], -EIO);
        assert_string_equal(cl.classes[4], "GenericError");
        qmp_client_unref(c);
        settle(f);
}

static void test_quit_event_then_eof(void **state) {
        FakeStratoVirt *f = *state;
        Client cl = {};
        QmpClient *c = connect_client(f, &cl);
        assert_int_equal(qmp_client_call(c, "quit", NULL, 0, on_reply, &cl), 0);
        run_until(f, &cl.ended, 1);
        assert_int_equal(cl.replies, 1);
        assert_int_equal(cl.errors[0], 0);
        assert_int_equal(cl.shutdowns, 1); /* the real one; none synthesized on top */
        assert_true(cl.shutdown_had_data);
        assert_int_equal(cl.end_error, -ECONNRESET);
        qmp_client_unref(c);
        settle(f);
}

static void test_powerdown_no_event(void **state) {
        FakeStratoVirt *f = *state;
        Client cl = {};
        QmpClient *c = connect_client(f, &cl);
        assert_int_equal(qmp_client_call(c, "system_powerdown", NULL, 0, on_reply, &cl), 0);
        run_until(f, &cl.ended, 1);
        assert_int_equal(cl.errors[0], 0);
        /* EOF without an event: the client synthesizes SHUTDOWN (data NULL). */
        assert_int_equal(cl.shutdowns, 1);
        assert_false(cl.shutdown_had_data);
        assert_int_equal(cl.end_error, -ECONNRESET);
        qmp_client_unref(c);
        settle(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_greeting_split_crlf, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_command_per_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_client_at_a_time, setup, teardown),
                cmocka_unit_test_setup_teardown(test_throttled_and_unknown, setup, teardown),
                cmocka_unit_test_setup_teardown(test_quit_event_then_eof, setup, teardown),
                cmocka_unit_test_setup_teardown(test_powerdown_no_event, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
