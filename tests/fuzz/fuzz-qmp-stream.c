/* fuzz-qmp-stream.c — untrusted QMP bytes two ways: through QmpStream in
 * chunk sizes derived from the input (every message must survive a jansson
 * dump/load round trip), and through a QmpClient reading them from a
 * socketpair, where every call must complete exactly once, the state
 * handler must end the connection exactly once, and the freed client leaves
 * no event on the loop. */
#include <sys/socket.h>

#include "fuzz.h"
#include "qmp-client.h"

/* Inputs larger than this skip the client pass: the socket buffer holds them
 * without a reader, so writing needs no loop. */
#define CLIENT_INPUT_MAX ((size_t) 64U * 1024U)

typedef struct FuzzState {
        unsigned replies[3]; /* reply handler calls per command */
        unsigned n_ended;    /* state handler calls with error < 0 */
        unsigned n_ready;    /* state handler calls with error == 0 */
        bool ended;          /* the end state call happened */
} FuzzState;

static uint32_t hash(const uint8_t *data, size_t size) {
        uint32_t h = 2166136261U;
        for (size_t i = 0; i < size; i++)
                h = (h ^ data[i]) * 16777619U;
        return h;
}

static void fuzz_stream(const uint8_t *data, size_t size, uint32_t mode) {
        _cleanup_(qmp_stream_freep) QmpStream *s = NULL;
        size_t chunk = (mode & 0x80) ? size : (mode & 0x3f) + 1;

        if (qmp_stream_new(&s) < 0)
                return;

        for (size_t off = 0; off < size;) {
                size_t k = size - off < chunk ? size - off : chunk;
                if (qmp_stream_feed(s, (const char *) data + off, k) < 0)
                        return; /* -EMSGSIZE ends a connection */
                off += k;

                for (;;) {
                        json_auto_t *v = NULL;
                        int r = qmp_stream_next(s, &v);
                        if (r == 0)
                                break;
                        if (r < 0)
                                continue; /* the bad line is consumed */
                        fuzz_assert(json_is_object(v));

                        _cleanup_free_ char *text = json_dumps(v, JSON_COMPACT);
                        fuzz_assert(text);
                        fuzz_assert(!strchr(text, '\n')); /* our framing relies on this */
                        json_auto_t *again = json_loads(text, 0, NULL);
                        fuzz_assert(again && json_equal(v, again));
                }
        }
}

static void on_reply(QmpClient *c, int error, json_t *result, const char *error_class, const char *error_desc,
                     void *userdata) {
        unsigned *n = userdata;

        fuzz_assert(error != 0 || (!error_class && !error_desc));
        fuzz_assert(error != -EIO || (error_class && error_desc));
        fuzz_assert(error == 0 || !result);
        (*n)++;
}

static void on_state(QmpClient *c, int error, void *userdata) {
        FuzzState *st = userdata;

        fuzz_assert(!st->ended);
        if (error < 0) {
                st->n_ended++;
                st->ended = true;
        } else
                st->n_ready++;
}

static void on_event(QmpClient *c, const char *event, json_t *data, usec_t timestamp_usec, void *userdata) {
        FuzzState *st = userdata;

        fuzz_assert(!st->ended && event);
}

static void fuzz_client(const uint8_t *data, size_t size, uint32_t mode) {
        static const QmpClientFlags flag_sets[] = {
                0,
                QMP_CLIENT_ONE_IN_FLIGHT,
                QMP_CLIENT_ONE_IN_FLIGHT | QMP_CLIENT_STRING_IDS,
                QMP_CLIENT_STRING_IDS,
        };
        FuzzState st = { .ended = false };
        QmpClient *c = NULL;
        int pair[2];

        /* One loop for every input (creating one costs more than the rest);
         * each input must leave it empty. */
        static struct event_base *base;
        if (!base && !(base = event_base_new()))
                abort();
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0)
                return;
        if (qmp_client_new(base, pair[0], flag_sets[(mode >> 8) & 3], &c) < 0) {
                safe_close(pair[0]);
                safe_close(pair[1]);
                return;
        }
        qmp_client_set_handlers(c, on_state, on_event, &st);

        /* Ids are predictable (1 = qmp_capabilities, then 2, 3, 4), so seed
         * transcripts can answer these. */
        (void) qmp_client_call(c, "query-status", NULL, 0, on_reply, &st.replies[0]);
        (void) qmp_client_call(c, "query-name", json_pack("{s:i}", "x", 1), 0, on_reply, &st.replies[1]);
        (void) qmp_client_hmp(c, "info mtree", 0, on_reply, &st.replies[2]);

        for (size_t off = 0; off < size;) {
                ssize_t n = send(pair[1], data + off, size - off, MSG_NOSIGNAL);
                if (n <= 0)
                        break;
                off += (size_t) n;
        }
        pair[1] = safe_close(pair[1]);

        /* EOF is queued behind the data, so the client must end; bound the
         * loop anyway so a bug shows as a crash, not a hang. */
        for (unsigned i = 0; !st.ended && i < 100000; i++)
                (void) event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        fuzz_assert(st.n_ended == 1 && st.n_ready <= 1);
        for (size_t i = 0; i < 3; i++)
                fuzz_assert(st.replies[i] == 1);

        c = qmp_client_unref(c);
        (void) event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* runs the deferred free */
        /* Nothing of this connection is left behind: no event, no timer. */
        fuzz_assert(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE) == 0);
}

int fuzz_one(const uint8_t *data, size_t size) {
        uint32_t mode = hash(data, size);

        fuzz_stream(data, size, mode);
        if (size <= CLIENT_INPUT_MAX)
                fuzz_client(data, size, mode);
        return 0;
}
