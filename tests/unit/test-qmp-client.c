/* test-qmp-client.c — QmpStream on its own, and QmpClient against a scripted
 * fake QMP peer: the other end of a socketpair(), watched by an event in the
 * same event_base, that parses what the client writes and answers from a
 * script (or stays silent so a test can answer by hand, byte by byte). */
#include "qmp-client.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>

#define QEMU_GREETING                                                                                       \
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"\"}," \
        " \"capabilities\": [\"oob\"]}}"

/* ---- QmpStream ---------------------------------------------------------- */

static void test_stream_basic(void **state) {
        _cleanup_(qmp_stream_freep) QmpStream *s = NULL;
        json_t *v = NULL;

        assert_int_equal(qmp_stream_new(&s), 0);
        assert_int_equal(qmp_stream_next(s, &v), 0);

        assert_int_equal(qmp_stream_feed(s, "{\"a\": 1}\n", 9), 0);
        assert_int_equal(qmp_stream_next(s, &v), 1);
        assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
        json_decref(v);
        assert_int_equal(qmp_stream_next(s, &v), 0);
        assert_int_equal(qmp_stream_pending(s), 0);
}

static void test_stream_byte_by_byte(void **state) {
        _cleanup_(qmp_stream_freep) QmpStream *s = NULL;
        const char *text = "{\"return\": {\"x\": \"y\\n\"}, \"id\": 1}\r\n{\"event\": \"STOP\"}\n";
        size_t first_nl = (size_t) (strchr(text, '\n') - text);
        unsigned n = 0;

        assert_int_equal(qmp_stream_new(&s), 0);
        for (size_t i = 0; text[i]; i++) {
                json_t *v = NULL;

                assert_int_equal(qmp_stream_feed(s, text + i, 1), 0);
                int r = qmp_stream_next(s, &v);
                if (i == first_nl) {
                        assert_int_equal(r, 1);
                        assert_string_equal(json_string_value(json_object_get(json_object_get(v, "return"), "x")),
                                            "y\n");
                } else if (text[i + 1] == 0) {
                        assert_int_equal(r, 1);
                        assert_string_equal(json_string_value(json_object_get(v, "event")), "STOP");
                } else
                        assert_int_equal(r, 0);
                n += r;
                json_decref(v);
        }
        assert_int_equal(n, 2);
}

static void test_stream_several_and_blank(void **state) {
        _cleanup_(qmp_stream_freep) QmpStream *s = NULL;
        const char *text = "\n\r\n  \n{\"a\":1}\n\n{\"b\":2}\r\n\t\r\n{\"c\":3}";
        json_t *v = NULL;

        assert_int_equal(qmp_stream_new(&s), 0);
        assert_int_equal(qmp_stream_feed(s, text, strlen(text)), 0);

        assert_int_equal(qmp_stream_next(s, &v), 1);
        assert_non_null(json_object_get(v, "a"));
        json_decref(v);
        assert_int_equal(qmp_stream_next(s, &v), 1);
        assert_non_null(json_object_get(v, "b"));
        json_decref(v);
        assert_int_equal(qmp_stream_next(s, &v), 0);
        assert_int_equal(qmp_stream_pending(s), strlen("{\"c\":3}"));

        assert_int_equal(qmp_stream_feed(s, "\r", 1), 0);
        assert_int_equal(qmp_stream_next(s, &v), 0);
        assert_int_equal(qmp_stream_feed(s, "\n", 1), 0);
        assert_int_equal(qmp_stream_next(s, &v), 1);
        assert_non_null(json_object_get(v, "c"));
        json_decref(v);
        assert_int_equal(qmp_stream_next(s, &v), 0);
}

static void test_stream_garbage(void **state) {
        _cleanup_(qmp_stream_freep) QmpStream *s = NULL;
        const char text[] = "hello\n[1]\n{\"a\":1} x\n\"s\"\n{\"a\"\n{\"n\":\"\\u0000\"}\nnu\0ll\n{\"ok\":true}\n";
        json_t *v = NULL;

        assert_int_equal(qmp_stream_new(&s), 0);
        assert_int_equal(qmp_stream_feed(s, text, sizeof(text) - 1), 0);

        /* Each bad line is consumed, so the caller may go on. */
        for (unsigned i = 0; i < 7; i++)
                assert_int_equal(qmp_stream_next(s, &v), -EBADMSG);
        assert_int_equal(qmp_stream_next(s, &v), 1);
        assert_true(json_is_true(json_object_get(v, "ok")));
        json_decref(v);
        assert_int_equal(qmp_stream_next(s, &v), 0);
}

static void test_stream_oversize(void **state) {
        _cleanup_(qmp_stream_freep) QmpStream *s = NULL;
        _cleanup_free_ char *big = malloc(QMP_MESSAGE_MAX + 2);
        json_t *v = NULL;

        assert_non_null(big);
        memset(big, 'x', QMP_MESSAGE_MAX + 2);

        /* Up to the limit without a newline is fine, one byte more is not... */
        assert_int_equal(qmp_stream_new(&s), 0);
        assert_int_equal(qmp_stream_feed(s, big, QMP_MESSAGE_MAX - 1), 0);
        assert_int_equal(qmp_stream_next(s, &v), 0);
        assert_int_equal(qmp_stream_feed(s, big, 1), 0);
        assert_int_equal(qmp_stream_feed(s, big, 1), -EMSGSIZE);
        /* ...except for the '\r' of a "\r\n". */
        assert_int_equal(qmp_stream_feed(s, "\r", 1), 0);
        assert_int_equal(qmp_stream_feed(s, "x", 1), -EMSGSIZE);
        s = qmp_stream_free(s);

        /* A message of exactly QMP_MESSAGE_MAX bytes is accepted. */
        assert_int_equal(qmp_stream_new(&s), 0);
        memcpy(big, "{\"a\":\"", 6);
        memcpy(big + QMP_MESSAGE_MAX - 2, "\"}\r\n", 4);
        assert_int_equal(qmp_stream_feed(s, big, 4096), 0);
        assert_int_equal(qmp_stream_feed(s, big + 4096, QMP_MESSAGE_MAX + 2 - 4096), 0);
        assert_int_equal(qmp_stream_next(s, &v), 1);
        assert_int_equal(json_string_length(json_object_get(v, "a")), QMP_MESSAGE_MAX - 8);
        json_decref(v);
        s = qmp_stream_free(s);

        /* A longer line arriving complete in one feed is refused by next(). */
        assert_int_equal(qmp_stream_new(&s), 0);
        memset(big, 'x', QMP_MESSAGE_MAX + 1);
        big[QMP_MESSAGE_MAX + 1] = '\n';
        assert_int_equal(qmp_stream_feed(s, big, QMP_MESSAGE_MAX + 2), 0);
        assert_int_equal(qmp_stream_next(s, &v), -EMSGSIZE);
        assert_int_equal(qmp_stream_next(s, &v), 0);
}

/* ---- The fake peer ------------------------------------------------------ */

typedef struct FakeStep {
        const char *expect; /* command the client must send next */
        const char *reply;  /* reply sent back with the command's "id" added; NULL: stay silent */
} FakeStep;

typedef struct Fixture Fixture;

typedef struct CallResult {
        Fixture *f;         /* the test */
        unsigned n;         /* times the reply handler ran: must end up 1 */
        int error;          /* last error passed */
        json_t *result;     /* last result, referenced */
        char *error_class;  /* last error class */
        char *error_desc;   /* last error description */
        bool unref_client;  /* drop the test's client reference inside the handler */
} CallResult;

struct Fixture {
        struct event_base *base;     /* shared by the client and the fake peer */
        QmpClient *client;           /* the test's reference */
        int peer;                    /* the fake peer's end of the socketpair */
        struct event *peer_event;    /* the fake peer's read watch */
        QmpStream *peer_stream;      /* splits what the client wrote */
        json_t *received;            /* every command the fake peer received, in order */
        unsigned max_lines_per_read; /* most commands seen in one read() by the fake peer */
        const FakeStep *script;      /* answers for commands other than qmp_capabilities */
        size_t n_script, step;       /* script length, next step */
        unsigned script_errors;      /* commands that did not match the script */
        bool manual_capabilities;    /* don't answer qmp_capabilities automatically */
        const char *eol;             /* line ending of scripted replies */
        unsigned n_state;            /* state handler calls */
        int state_errors[4];         /* their errors */
        json_t *events;              /* [{"event": name, "data": data-or-null, "usec": timestamp}] */
        unsigned after_end;          /* callbacks after the end state call: must stay 0 */
        bool ended;                  /* the end state call happened */
        char trace[256];             /* "R" reply, "E" event, "S" state, in callback order */
        CallResult **results;        /* every CallResult of the test: each must see exactly one reply */
        size_t n_results;            /* entries in results */
};

static void trace(Fixture *f, char c) {
        size_t n = strlen(f->trace);
        if (n + 1 < sizeof(f->trace))
                f->trace[n] = c;
}

static void peer_write_all(Fixture *f, const char *p, size_t len) {
        while (len > 0) {
                ssize_t n = send(f->peer, p, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EPIPE || errno == ECONNRESET)
                                return; /* the client hung up, as some tests want */
                        assert_true(errno == EAGAIN);
                        /* Socket buffer full: let the client read. */
                        (void) event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
                        continue;
                }
                p += n;
                len -= (size_t) n;
        }
}

static void peer_reply(Fixture *f, json_t *cmd, const char *reply) {
        json_auto_t *v = json_loads(reply, 0, NULL);
        assert_non_null(v);
        assert_int_equal(json_object_set(v, "id", json_object_get(cmd, "id")), 0);

        _cleanup_free_ char *s = json_dumps(v, JSON_COMPACT);
        assert_non_null(s);
        peer_write_all(f, s, strlen(s));
        peer_write_all(f, f->eol, strlen(f->eol));
}

static void peer_handle_command(Fixture *f, json_t *cmd) {
        const char *name = json_string_value(json_object_get(cmd, "execute"));

        assert_int_equal(json_array_append(f->received, cmd), 0);

        if (streq_ptr(name, "qmp_capabilities")) {
                if (!f->manual_capabilities)
                        peer_reply(f, cmd, "{\"return\": {}}");
                return;
        }

        if (f->step >= f->n_script)
                return; /* unscripted: silent */

        const FakeStep *step = &f->script[f->step++];
        if (!streq_ptr(name, step->expect)) {
                f->script_errors++;
                return;
        }
        if (step->reply)
                peer_reply(f, cmd, step->reply);
}

static void peer_on_read(evutil_socket_t fd, short what, void *userdata) {
        Fixture *f = userdata;
        char buf[4096];
        unsigned lines = 0;

        ssize_t n = read(f->peer, buf, sizeof(buf));
        if (n <= 0)
                return;
        for (ssize_t i = 0; i < n; i++)
                lines += buf[i] == '\n';
        if (lines > f->max_lines_per_read)
                f->max_lines_per_read = lines;

        assert_int_equal(qmp_stream_feed(f->peer_stream, buf, (size_t) n), 0);
        for (;;) {
                json_auto_t *cmd = NULL;
                int r = qmp_stream_next(f->peer_stream, &cmd);
                assert_true(r >= 0);
                if (r == 0)
                        break;
                peer_handle_command(f, cmd);
        }
}

static void peer_send(Fixture *f, const char *s) {
        peer_write_all(f, s, strlen(s));
}

static void spin(Fixture *f) {
        /* Every hop is a local socket: a few dozen iterations settle everything. */
        for (unsigned i = 0; i < 32; i++)
                (void) event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* Writes s in chunks of the given size, letting the client read each one. */
static void peer_send_split(Fixture *f, const char *s, size_t chunk) {
        for (size_t len = strlen(s); len > 0;) {
                size_t k = len < chunk ? len : chunk;
                peer_write_all(f, s, k);
                spin(f);
                s += k;
                len -= k;
        }
}

static const char *received_name(Fixture *f, size_t i) {
        return json_string_value(json_object_get(json_array_get(f->received, i), "execute"));
}

static json_int_t received_id(Fixture *f, size_t i) {
        json_t *id = json_object_get(json_array_get(f->received, i), "id");
        assert_true(json_is_integer(id));
        return json_integer_value(id);
}

static void run_until(Fixture *f, const unsigned *counter, unsigned target, usec_t timeout) {
        usec_t end = now_usec() + timeout;

        while (*counter < target && now_usec() < end) {
                (void) event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
                (void) usleep(1000);
        }
}

/* ---- Handlers ----------------------------------------------------------- */

static void on_reply(QmpClient *c, int error, json_t *result, const char *error_class, const char *error_desc,
                     void *userdata) {
        CallResult *r = userdata;

        if (r->f->ended)
                r->f->after_end++;
        trace(r->f, 'R');

        r->n++;
        r->error = error;
        json_decref(r->result);
        r->result = json_incref(result);
        free(r->error_class);
        free(r->error_desc);
        r->error_class = error_class ? strdup(error_class) : NULL;
        r->error_desc = error_desc ? strdup(error_desc) : NULL;

        if (error == -EIO)
                assert_true(error_class && error_desc);
        if (error == 0)
                assert_true(!error_class && !error_desc);

        if (r->unref_client) {
                assert_ptr_equal(c, r->f->client);
                r->f->client = qmp_client_unref(r->f->client);
        }
}

/* Results live in the fixture, not on a test's stack: a call still pending
 * when a test fails is cancelled by teardown into valid memory. */
static CallResult *new_result(Fixture *f) {
        CallResult **p = realloc(f->results, (f->n_results + 1) * sizeof(CallResult *));
        assert_non_null(p);
        f->results = p;
        p[f->n_results] = calloc(1, sizeof(CallResult));
        assert_non_null(p[f->n_results]);
        p[f->n_results]->f = f;
        return p[f->n_results++];
}

static void on_state(QmpClient *c, int error, void *userdata) {
        Fixture *f = userdata;

        if (f->ended)
                f->after_end++;
        trace(f, 'S');

        if (f->n_state < ELEMENTSOF(f->state_errors))
                f->state_errors[f->n_state] = error;
        f->n_state++;
        if (error < 0)
                f->ended = true;
}

static void on_event(QmpClient *c, const char *event, json_t *data, usec_t timestamp_usec, void *userdata) {
        Fixture *f = userdata;

        if (f->ended)
                f->after_end++;
        trace(f, 'E');

        assert_int_equal(json_array_append_new(f->events, json_pack("{s:s, s:O?, s:I}", "event", event, "data", data,
                                                                    "usec", (json_int_t) timestamp_usec)),
                         0);
}

static const char *event_name(Fixture *f, size_t i) {
        return json_string_value(json_object_get(json_array_get(f->events, i), "event"));
}

/* ---- Fixtures ----------------------------------------------------------- */

static int setup_flags(void **state, QmpClientFlags flags) {
        Fixture *f = calloc(1, sizeof(Fixture));
        int pair[2];

        assert_non_null(f);
        f->eol = "\n";
        f->base = event_base_new();
        assert_non_null(f->base);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair), 0);
        f->peer = pair[1];
        assert_int_equal(qmp_stream_new(&f->peer_stream), 0);
        f->received = json_array();
        f->events = json_array();
        f->peer_event = event_new(f->base, f->peer, EV_READ | EV_PERSIST, peer_on_read, f);
        assert_non_null(f->peer_event);
        assert_int_equal(event_add(f->peer_event, NULL), 0);

        assert_int_equal(qmp_client_new(f->base, pair[0], flags, &f->client), 0);
        qmp_client_set_handlers(f->client, on_state, on_event, f);

        *state = f;
        return 0;
}

static int setup(void **state) {
        return setup_flags(state, 0);
}

static int setup_one_in_flight(void **state) {
        return setup_flags(state, QMP_CLIENT_ONE_IN_FLIGHT);
}

static int setup_string_ids(void **state) {
        return setup_flags(state, QMP_CLIENT_ONE_IN_FLIGHT | QMP_CLIENT_STRING_IDS);
}

static int teardown(void **state) {
        Fixture *f = *state;

        f->client = qmp_client_unref(f->client);
        spin(f); /* runs the deferred free */
        assert_int_equal(f->after_end, 0);
        assert_int_equal(f->script_errors, 0);

        /* Exactly once, for every call of every test, including those the
         * final unref cancelled. */
        for (size_t i = 0; i < f->n_results; i++) {
                CallResult *r = f->results[i];
                assert_int_equal(r->n, 1);
                json_decref(r->result);
                free(r->error_class);
                free(r->error_desc);
                free(r);
        }
        free(f->results);

        event_free(f->peer_event);
        safe_close(f->peer);
        qmp_stream_free(f->peer_stream);
        json_decref(f->received);
        json_decref(f->events);
        event_base_free(f->base);
        free(f);
        return 0;
}

static void set_script(Fixture *f, const FakeStep *script, size_t n) {
        f->script = script;
        f->n_script = n;
        f->step = 0;
}

/* Greets, lets the fake peer answer qmp_capabilities, and checks we are running. */
static void negotiate(Fixture *f) {
        peer_send(f, QEMU_GREETING "\n");
        spin(f);
        assert_int_equal(f->n_state, 1);
        assert_int_equal(f->state_errors[0], 0);
        assert_int_equal(f->client->state, QMP_CLIENT_RUNNING);
}

/* ---- QmpClient ---------------------------------------------------------- */

static void test_negotiate(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *version = NULL;
        usec_t before = now_usec();

        assert_null(qmp_client_greeting(f->client));
        assert_int_equal(qmp_client_greeting_usec(f->client), 0);
        assert_int_equal(qmp_client_version(f->client, &version), -ENODATA);

        negotiate(f);

        assert_int_equal(json_array_size(f->received), 1);
        assert_string_equal(received_name(f, 0), "qmp_capabilities");
        assert_true(received_id(f, 0) > 0);
        assert_null(json_object_get(json_array_get(f->received, 0), "arguments"));

        assert_non_null(qmp_client_greeting(f->client));
        assert_non_null(json_object_get(qmp_client_greeting(f->client), "capabilities"));
        assert_true(qmp_client_greeting_usec(f->client) >= before);
        assert_true(qmp_client_greeting_usec(f->client) <= now_usec());
        assert_int_equal(qmp_client_version(f->client, &version), 0);
        assert_string_equal(version, "7.2.22");
}

static void test_version_formats(void **state) {
        Fixture *f = *state;
        static const struct {
                const char *greeting, *version;
        } table[] = {
                { "{\"version\": {\"qemu\": {\"micro\": 1, \"minor\": 0, \"major\": 5}, \"package\": \"StratoVirt-2.5.0\"}}",
                  "5.0.1 (StratoVirt-2.5.0)" },
                { "{\"version\": {\"StratoVirt\": {\"micro\": 1, \"minor\": 0, \"major\": 0}, \"package\": \"\"}}",
                  "0.0.1" },
                { "{\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \" Debian 1:7.2+dfsg-7 \"}}",
                  "7.2.0 (Debian 1:7.2+dfsg-7)" },
                { "{\"version\": {\"qemu\": {\"minor\": 2, \"major\": 7}}}", NULL },
                { "{}", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *v = NULL;

                json_decref(f->client->greeting);
                f->client->greeting = json_loads(table[i].greeting, 0, NULL);
                assert_non_null(f->client->greeting);
                if (table[i].version) {
                        assert_int_equal(qmp_client_version(f->client, &v), 0);
                        assert_string_equal(v, table[i].version);
                } else
                        assert_int_equal(qmp_client_version(f->client, &v), -EBADMSG);
        }
}

static void test_call_reply(void **state) {
        Fixture *f = *state;
        static const FakeStep script[] = {
                { "query-status", "{\"return\": {\"status\": \"running\", \"running\": true}}" },
                { "qom-get", "{\"return\": 4096}" },
        };
        CallResult *a = new_result(f), *b = new_result(f);

        set_script(f, script, ELEMENTSOF(script));
        negotiate(f);

        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        assert_int_equal(qmp_client_call(f->client, "qom-get",
                                         json_pack("{s:s, s:s}", "path", "/machine", "property", "ram-size"), 0,
                                         on_reply, b),
                         0);
        /* Never from inside qmp_client_call(). */
        assert_int_equal(a->n + b->n, 0);
        spin(f);

        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, 0);
        assert_string_equal(json_string_value(json_object_get(a->result, "status")), "running");
        assert_int_equal(b->n, 1);
        assert_int_equal(b->error, 0);
        assert_int_equal(json_integer_value(b->result), 4096);

        /* What went over the wire: execute, arguments, distinct numeric ids. */
        assert_int_equal(json_array_size(f->received), 3);
        assert_string_equal(received_name(f, 1), "query-status");
        assert_null(json_object_get(json_array_get(f->received, 1), "arguments"));
        assert_string_equal(received_name(f, 2), "qom-get");
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(json_array_get(f->received, 2), "arguments"), "property")),
                "ram-size");
        assert_true(received_id(f, 0) != received_id(f, 1));
        assert_true(received_id(f, 1) != received_id(f, 2));
}

static void test_hmp(void **state) {
        Fixture *f = *state;
        static const FakeStep script[] = {
                { "human-monitor-command", "{\"return\": \"Host virtual address for 0x1000 is 0x7f0000001000\\r\\n\"}" },
        };
        CallResult *a = new_result(f);

        set_script(f, script, ELEMENTSOF(script));
        negotiate(f);

        assert_int_equal(qmp_client_hmp(f->client, "gpa2hva 0x1000", 0, on_reply, a), 0);
        spin(f);

        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, 0);
        assert_true(json_is_string(a->result));
        assert_string_equal(json_string_value(a->result), "Host virtual address for 0x1000 is 0x7f0000001000\r\n");
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(json_array_get(f->received, 1), "arguments"), "command-line")),
                "gpa2hva 0x1000");
}

static void test_split_reads(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f);

        /* Greeting and every reply byte by byte, with \r\n endings. */
        f->manual_capabilities = true;
        peer_send_split(f, QEMU_GREETING "\r\n", 1);
        assert_int_equal(json_array_size(f->received), 1);
        assert_int_equal(received_id(f, 0), 1);
        peer_send_split(f, "{\"return\": {}, \"id\": 1}\r\n", 1);
        assert_int_equal(f->n_state, 1);

        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        spin(f);
        assert_int_equal(received_id(f, 1), 2);

        const char *reply = "{\"return\": {\"status\": \"paused\"}, \"id\": 2}\r\n";
        for (size_t i = 0; reply[i]; i++) {
                char c[2] = { reply[i], 0 };
                assert_int_equal(a->n, 0);
                peer_send(f, c);
                spin(f);
        }
        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, 0);
        assert_string_equal(json_string_value(json_object_get(a->result, "status")), "paused");
}

static void test_several_in_one_write(void **state) {
        Fixture *f = *state;
        CallResult *r[3] = { new_result(f), new_result(f), new_result(f) };

        /* Greeting and capabilities reply in one write, before anything was sent. */
        f->manual_capabilities = true;
        assert_int_equal(qmp_client_call(f->client, "a", NULL, 0, on_reply, r[0]), 0);
        assert_int_equal(qmp_client_call(f->client, "b", NULL, 0, on_reply, r[1]), 0);
        assert_int_equal(qmp_client_call(f->client, "c", NULL, 0, on_reply, r[2]), 0);
        peer_send(f, QEMU_GREETING "\n{\"return\": {}, \"id\": 1}\r\n");
        spin(f);
        assert_int_equal(f->n_state, 1);
        assert_int_equal(json_array_size(f->received), 4);

        /* Replies out of order, events and blank lines in between, mixed endings. */
        peer_send(f, "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\n"
                     "{\"return\": \"B\", \"id\": 3}\r\n"
                     "\r\n"
                     "{\"return\": \"A\", \"id\": 2}\n"
                     "{\"event\": \"STOP\", \"data\": {\"why\": 1}}\r\n"
                     "{\"return\": \"C\", \"id\": 4}\n");
        spin(f);

        for (unsigned i = 0; i < 3; i++) {
                assert_int_equal(r[i]->n, 1);
                assert_int_equal(r[i]->error, 0);
                assert_int_equal(json_string_value(r[i]->result)[0], 'A' + (int) i);
        }
        assert_string_equal(f->trace, "SERRER");
        assert_int_equal(json_array_size(f->events), 2);
        assert_string_equal(event_name(f, 0), "RESUME");
        assert_string_equal(event_name(f, 1), "STOP");
}

static void test_events_between_replies(void **state) {
        Fixture *f = *state;
        static const FakeStep script[] = { { "query-status", NULL }, { "query-name", NULL } };
        CallResult *a = new_result(f), *b = new_result(f);

        set_script(f, script, ELEMENTSOF(script));
        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        assert_int_equal(qmp_client_call(f->client, "query-name", NULL, 0, on_reply, b), 0);
        spin(f);

        peer_send(f, "{\"return\": {\"status\": \"running\"}, \"id\": 2}\n");
        spin(f);
        usec_t before = now_usec();
        peer_send(f, "{\"event\": \"BLOCK_JOB_READY\", \"data\": {\"device\": \"d0\"}, \"id\": 3}\n");
        spin(f);
        peer_send(f, "{\"event\": \"POWERDOWN\"}\n");
        spin(f);
        peer_send(f, "{\"return\": {\"name\": \"vm0\"}, \"id\": 3}\n");
        spin(f);

        /* An event never completes a call, even one carrying an "id". */
        assert_int_equal(a->n, 1);
        assert_int_equal(b->n, 1);
        assert_string_equal(json_string_value(json_object_get(b->result, "name")), "vm0");
        assert_string_equal(f->trace, "SREER");

        assert_int_equal(json_array_size(f->events), 2);
        json_t *e = json_array_get(f->events, 0);
        assert_string_equal(event_name(f, 0), "BLOCK_JOB_READY");
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "data"), "device")), "d0");
        assert_true((usec_t) json_integer_value(json_object_get(e, "usec")) >= before);
        assert_true((usec_t) json_integer_value(json_object_get(e, "usec")) <= now_usec());
        assert_string_equal(event_name(f, 1), "POWERDOWN");
        assert_true(json_is_null(json_object_get(json_array_get(f->events, 1), "data")));
}

static void test_qmp_error(void **state) {
        Fixture *f = *state;
        static const FakeStep script[] = {
                { "frobnicate", "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command frobnicate has not been found\"}}" },
                { "query-status", "{\"return\": {}}" },
        };
        CallResult *a = new_result(f), *b = new_result(f);

        set_script(f, script, ELEMENTSOF(script));
        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "frobnicate", NULL, 0, on_reply, a), 0);
        spin(f);

        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, -EIO);
        assert_null(a->result);
        assert_string_equal(a->error_class, "CommandNotFound");
        assert_string_equal(a->error_desc, "The command frobnicate has not been found");

        /* A QMP error is per call: the connection carries on. */
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, b), 0);
        spin(f);
        assert_int_equal(b->n, 1);
        assert_int_equal(b->error, 0);
        assert_int_equal(f->n_state, 1);
}

static void test_garbage(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f), *b = new_result(f);

        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        assert_int_equal(qmp_client_call(f->client, "query-name", NULL, 5 * USEC_PER_SEC, on_reply, b), 0);
        spin(f);

        peer_send(f, "{\"event\": \"RESUME\"}\nthis is not json\n{\"return\": {}, \"id\": 2}\n");
        spin(f);

        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, -EBADMSG);
        assert_int_equal(b->n, 1);
        assert_int_equal(b->error, -EBADMSG);
        assert_int_equal(f->n_state, 2);
        assert_int_equal(f->state_errors[1], -EBADMSG);
        /* No synthesized SHUTDOWN: the VMM did not go away, we hung up. */
        assert_string_equal(f->trace, "SERRS");

        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), -ENOTCONN);
        peer_send(f, "{\"event\": \"STOP\"}\n");
        spin(f);
        assert_int_equal(a->n, 1);
}

static void test_reply_before_greeting(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f);

        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        peer_send(f, "{\"return\": {}, \"id\": 1}\n" QEMU_GREETING "\n");
        spin(f);

        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, -EBADMSG);
        assert_int_equal(f->n_state, 1);
        assert_int_equal(f->state_errors[0], -EBADMSG);
        assert_int_equal(json_array_size(f->received), 0);
}

static void test_oversize(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f);
        _cleanup_free_ char *big = malloc(QMP_MESSAGE_MAX + 2);

        assert_non_null(big);
        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        spin(f);

        memset(big, ' ', QMP_MESSAGE_MAX + 1);
        big[0] = '{';
        big[QMP_MESSAGE_MAX + 1] = 0;
        peer_send(f, big);
        spin(f);

        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, -EMSGSIZE);
        assert_int_equal(f->n_state, 2);
        assert_int_equal(f->state_errors[1], -EMSGSIZE);
}

static void test_eof_mid_command(void **state) {
        Fixture *f = *state;
        CallResult *r[3] = { new_result(f), new_result(f), new_result(f) };

        negotiate(f);
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 10 * USEC_PER_SEC, on_reply, r[i]), 0);
        spin(f);

        /* One complete reply, then half of the next, then EOF. */
        peer_send(f, "{\"return\": {}, \"id\": 2}\n{\"return\": {}, \"i");
        event_del(f->peer_event);
        f->peer = safe_close(f->peer);
        spin(f);

        assert_int_equal(r[0]->n, 1);
        assert_int_equal(r[0]->error, 0);
        for (unsigned i = 1; i < 3; i++) {
                assert_int_equal(r[i]->n, 1);
                assert_int_equal(r[i]->error, -ECONNRESET);
        }
        /* Calls fail first, then the synthesized SHUTDOWN, then the state handler, once. */
        assert_string_equal(f->trace, "SRRRES");
        assert_int_equal(f->n_state, 2);
        assert_int_equal(f->state_errors[1], -ECONNRESET);
        assert_string_equal(event_name(f, 0), "SHUTDOWN");
        assert_true(json_is_null(json_object_get(json_array_get(f->events, 0), "data")));
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, r[0]), -ENOTCONN);
}

static void test_eof_after_shutdown(void **state) {
        Fixture *f = *state;

        negotiate(f);
        peer_send(f, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}\n");
        event_del(f->peer_event);
        f->peer = safe_close(f->peer);
        spin(f);

        /* The real SHUTDOWN only: none synthesized on top. */
        assert_string_equal(f->trace, "SES");
        assert_int_equal(json_array_size(f->events), 1);
        assert_true(json_is_true(json_object_get(json_object_get(json_array_get(f->events, 0), "data"), "guest")));
        assert_int_equal(f->state_errors[1], -ECONNRESET);
}

static void test_timeout(void **state) {
        Fixture *f = *state;
        static const FakeStep script[] = { { "query-status", NULL }, { "query-name", "{\"return\": {}}" } };
        CallResult *a = new_result(f), *b = new_result(f);

        set_script(f, script, ELEMENTSOF(script));
        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 20 * USEC_PER_MSEC, on_reply, a), 0);
        run_until(f, &a->n, 1, 5 * USEC_PER_SEC);

        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, -ETIMEDOUT);

        /* The late reply is dropped; the connection is unharmed. */
        peer_send(f, "{\"return\": {\"status\": \"running\"}, \"id\": 2}\n");
        spin(f);
        assert_int_equal(a->n, 1);
        assert_int_equal(f->n_state, 1);

        assert_int_equal(qmp_client_call(f->client, "query-name", NULL, 5 * USEC_PER_SEC, on_reply, b), 0);
        spin(f);
        assert_int_equal(b->n, 1);
        assert_int_equal(b->error, 0);
}

static void test_unknown_id(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f);

        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        spin(f);
        peer_send(f, "{\"return\": {}, \"id\": 999}\n{\"return\": {}, \"id\": \"x\"}\n{\"return\": {}, \"id\": -1}\n");
        spin(f);
        assert_int_equal(a->n, 0);

        /* An id-less reply is attributed when only one command is in flight
         * (QEMU omits the id when it could not parse the command). */
        peer_send(f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n");
        spin(f);
        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, -EIO);
        assert_string_equal(a->error_desc, "JSON parse error");
        assert_int_equal(f->n_state, 1);
}

static void test_unref_in_callback(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f), *b = new_result(f), *c = new_result(f);

        a->unref_client = true;

        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 5 * USEC_PER_SEC, on_reply, a), 0);
        assert_int_equal(qmp_client_call(f->client, "query-name", NULL, 5 * USEC_PER_SEC, on_reply, b), 0);
        spin(f);
        assert_int_equal(qmp_client_call(f->client, "query-kvm", NULL, 0, on_reply, c), 0);

        /* Both replies and an event in one read: nothing after the unref may be dispatched. */
        peer_send(f, "{\"return\": {}, \"id\": 2}\n{\"return\": {}, \"id\": 3}\n{\"event\": \"STOP\"}\n");
        spin(f);

        assert_null(f->client);
        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, 0);
        assert_int_equal(b->n, 1);
        assert_int_equal(b->error, -ECANCELED);
        assert_int_equal(c->n, 1);
        assert_int_equal(c->error, -ECANCELED);
        assert_int_equal(f->n_state, 1); /* no end call for an unref */
        assert_int_equal(json_array_size(f->events), 0);
}

static void test_unref_during_disconnect(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f), *b = new_result(f);

        a->unref_client = true;

        /* Dropping the last reference while the EOF fails calls: the rest still
         * fail exactly once, and no SHUTDOWN or state call follows. */
        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        assert_int_equal(qmp_client_call(f->client, "query-name", NULL, 0, on_reply, b), 0);
        spin(f);
        event_del(f->peer_event);
        f->peer = safe_close(f->peer);
        spin(f);

        assert_null(f->client);
        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, -ECONNRESET);
        assert_int_equal(b->n, 1);
        assert_int_equal(b->error, -ECONNRESET);
        assert_string_equal(f->trace, "SRR");
}

static void test_unref_pending(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f), *b = new_result(f);

        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 5 * USEC_PER_SEC, on_reply, a), 0);
        spin(f);
        assert_int_equal(qmp_client_call(f->client, "query-name", NULL, 0, on_reply, b), 0);

        f->client = qmp_client_unref(f->client);
        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, -ECANCELED);
        assert_int_equal(b->n, 1);
        assert_int_equal(b->error, -ECANCELED);
        spin(f);
        assert_int_equal(a->n, 1);
        assert_int_equal(f->n_state, 1);
}

static void test_ref_unref(void **state) {
        Fixture *f = *state;

        assert_ptr_equal(qmp_client_ref(f->client), f->client);
        assert_null(qmp_client_unref(f->client));
        negotiate(f);
        assert_null(qmp_client_unref(NULL));
        assert_null(qmp_client_ref(NULL));
}

static void test_one_in_flight(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f), *b = new_result(f);

        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        assert_int_equal(qmp_client_call(f->client, "query-name", NULL, 0, on_reply, b), 0);
        spin(f);

        assert_int_equal(json_array_size(f->received), 2);
        assert_string_equal(received_name(f, 1), "query-status");

        peer_send(f, "{\"return\": {}, \"id\": 2}\n");
        spin(f);
        assert_int_equal(a->n, 1);
        assert_int_equal(b->n, 0);
        assert_int_equal(json_array_size(f->received), 3);
        assert_string_equal(received_name(f, 2), "query-name");

        peer_send(f, "{\"return\": {}, \"id\": 3}\n");
        spin(f);
        assert_int_equal(b->n, 1);
        assert_int_equal(b->error, 0);
        /* StratoVirt takes each read() as one object. */
        assert_int_equal(f->max_lines_per_read, 1);
}

static void test_one_in_flight_timeout(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f), *b = new_result(f);

        /* A command that never answers must not block the queue forever. */
        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 20 * USEC_PER_MSEC, on_reply, a), 0);
        assert_int_equal(qmp_client_call(f->client, "query-name", NULL, 0, on_reply, b), 0);
        spin(f);
        assert_int_equal(json_array_size(f->received), 2);

        run_until(f, &a->n, 1, 5 * USEC_PER_SEC);
        assert_int_equal(a->error, -ETIMEDOUT);
        spin(f);
        assert_int_equal(json_array_size(f->received), 3);
        assert_string_equal(received_name(f, 2), "query-name");
}

static void test_queued_before_greeting(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f), *b = new_result(f);

        f->manual_capabilities = true;
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        assert_int_equal(qmp_client_call(f->client, "query-name", NULL, 0, on_reply, b), 0);
        spin(f);
        assert_int_equal(json_array_size(f->received), 0);

        peer_send(f, QEMU_GREETING "\n");
        spin(f);
        assert_int_equal(json_array_size(f->received), 1);
        assert_string_equal(received_name(f, 0), "qmp_capabilities");

        peer_send(f, "{\"return\": {}, \"id\": 1}\n");
        spin(f);
        assert_int_equal(f->n_state, 1);
        assert_int_equal(json_array_size(f->received), 3);
        assert_string_equal(received_name(f, 1), "query-status");
        assert_string_equal(received_name(f, 2), "query-name");
}

static void test_queued_before_greeting_one_in_flight(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f), *b = new_result(f);

        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        assert_int_equal(qmp_client_call(f->client, "query-name", NULL, 0, on_reply, b), 0);
        negotiate(f);
        assert_int_equal(json_array_size(f->received), 2);
        assert_string_equal(received_name(f, 0), "qmp_capabilities");
        assert_string_equal(received_name(f, 1), "query-status");
        assert_int_equal(f->max_lines_per_read, 1);
}

static void test_string_ids(void **state) {
        Fixture *f = *state;
        static const FakeStep script[] = { { "query-status", "{\"return\": {\"status\": \"running\"}}" } };
        CallResult *a = new_result(f);

        set_script(f, script, ELEMENTSOF(script));
        negotiate(f);
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        spin(f);

        assert_string_equal(json_string_value(json_object_get(json_array_get(f->received, 0), "id")), "1");
        assert_string_equal(json_string_value(json_object_get(json_array_get(f->received, 1), "id")), "2");
        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, 0);
}

static void test_capabilities_refused(void **state) {
        Fixture *f = *state;
        CallResult *a = new_result(f);

        f->manual_capabilities = true;
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, a), 0);
        peer_send(f, QEMU_GREETING "\n{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": 1}\n");
        spin(f);

        assert_int_equal(a->n, 1);
        assert_int_equal(a->error, -EPROTO);
        assert_int_equal(f->n_state, 1);
        assert_int_equal(f->state_errors[0], -EPROTO);
}

static void test_call_invalid(void **state) {
        Fixture *f = *state;

        /* args is stolen even on failure: ASan would see a leak otherwise. */
        assert_int_equal(qmp_client_call(f->client, "x", json_array(), 0, on_reply, NULL), -EINVAL);
        assert_int_equal(qmp_client_call(f->client, "", NULL, 0, on_reply, NULL), -EINVAL);
        assert_int_equal(qmp_client_call(f->client, "\xff", json_object(), 0, on_reply, NULL), -EINVAL);
        assert_int_equal(qmp_client_hmp(f->client, NULL, 0, on_reply, NULL), -EINVAL);
        assert_int_equal(qmp_client_new(f->base, -1, 0, &(QmpClient *) { NULL }), -EINVAL);
}

static void test_calls_max(void **state) {
        Fixture *f = *state;
        CallResult *r[QMP_CALLS_MAX];

        for (size_t i = 0; i < QMP_CALLS_MAX; i++) {
                r[i] = new_result(f);
                assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, r[i]), 0);
        }
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, NULL), -E2BIG);

        f->client = qmp_client_unref(f->client);
        for (size_t i = 0; i < QMP_CALLS_MAX; i++) {
                assert_int_equal(r[i]->n, 1);
                assert_int_equal(r[i]->error, -ECANCELED);
        }
}

static void test_connect_unix(void **state) {
        char dir[] = "/tmp/test-qmp-client-XXXXXX";
        char path[sizeof(dir) + 16], longpath[200];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int s = -EBADF, fd = -EBADF, accepted = -EBADF;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/qmp.sock", dir);
        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = 0;

        assert_int_equal(qmp_connect_unix(path), -ENOENT);
        assert_int_equal(qmp_connect_unix(longpath), -ENAMETOOLONG);
        assert_int_equal(qmp_connect_unix(""), -EINVAL);

        /* Bound but not listening yet: the VMM is still starting. */
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s >= 0);
        strcpy(sa.sun_path, path);
        assert_int_equal(bind(s, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(qmp_connect_unix(path), -ECONNREFUSED);

        assert_int_equal(listen(s, 1), 0);
        fd = qmp_connect_unix(path);
        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        accepted = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        assert_true(accepted >= 0);

        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        /* The debug paths format whole messages: worth running under ASan too. */
        if (getenv("VIRTLAB_LOG_LEVEL"))
                log_max_level = log_level_from_string(getenv("VIRTLAB_LOG_LEVEL"));

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stream_basic),
                cmocka_unit_test(test_stream_byte_by_byte),
                cmocka_unit_test(test_stream_several_and_blank),
                cmocka_unit_test(test_stream_garbage),
                cmocka_unit_test(test_stream_oversize),
                cmocka_unit_test_setup_teardown(test_negotiate, setup, teardown),
                cmocka_unit_test_setup_teardown(test_version_formats, setup, teardown),
                cmocka_unit_test_setup_teardown(test_call_reply, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hmp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_split_reads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_several_in_one_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_events_between_replies, setup, teardown),
                cmocka_unit_test_setup_teardown(test_qmp_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reply_before_greeting, setup, teardown),
                cmocka_unit_test_setup_teardown(test_oversize, setup, teardown),
                cmocka_unit_test_setup_teardown(test_eof_mid_command, setup, teardown),
                cmocka_unit_test_setup_teardown(test_eof_after_shutdown, setup, teardown),
                cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unref_in_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unref_during_disconnect, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unref_pending, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ref_unref, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_in_flight, setup_one_in_flight, teardown),
                cmocka_unit_test_setup_teardown(test_one_in_flight_timeout, setup_one_in_flight, teardown),
                cmocka_unit_test_setup_teardown(test_queued_before_greeting, setup, teardown),
                cmocka_unit_test_setup_teardown(test_queued_before_greeting_one_in_flight, setup_one_in_flight,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_string_ids, setup_string_ids, teardown),
                cmocka_unit_test_setup_teardown(test_capabilities_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_call_invalid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_calls_max, setup, teardown),
                cmocka_unit_test(test_connect_unix),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
