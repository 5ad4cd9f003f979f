/* test-qmp-relay.c — the QMP relay (qmp-relay.c) against the real
 * QmpClient on the other end of its socketpair, on a real loop: greeting
 * and version, qmp_capabilities answered by the relay, each reply carrying
 * its caller's id whatever id the handler's reply had, handler failures as
 * GenericError with the handler's words, events, a reply far larger than a
 * socket buffer, and close as EOF. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qmp-relay.c"

typedef struct Fixture {
        struct event_base *base;
        QmpRelay *relay;
        QmpClient *client;
        int ready, ended, end_error;      /* client state calls */
        int replies;                      /* reply callbacks */
        int last_error;                   /* of the last reply */
        char last_desc[256];              /* its error_desc */
        json_t *last_result;              /* its result (a reference) */
        char event[64];                   /* last event name */
        size_t big;                       /* bytes asked of "big" */
} Fixture;

static int handler(json_t *command, json_t **ret_reply, char **ret_error, void *userdata) {
        Fixture *f = userdata;
        const char *ex = json_string_value(json_object_get(command, "execute"));
        assert_null(json_object_get(command, "id")); /* the relay keeps ids to itself */
        if (streq(ex, "fail")) {
                *ret_error = strdup("libvirt: Requested operation is not valid: domain is not running");
                return -EIO;
        }
        if (streq(ex, "big")) {
                char *s = malloc(f->big + 1);
                memset(s, 'x', f->big);
                s[f->big] = 0;
                *ret_reply = json_pack("{s:s, s:s}", "return", s, "id", "libvirt-42");
                free(s);
                return 0;
        }
        *ret_reply = json_pack("{s:{s:O}, s:s}", "return", "echo", command, "id", "libvirt-7");
        return 0;
}

static void on_state(QmpClient *c, int error, void *userdata) {
        Fixture *f = userdata;
        if (error == 0)
                f->ready++;
        else {
                f->ended++;
                f->end_error = error;
        }
}

static void on_qmp_event(QmpClient *c, const char *event, json_t *data, usec_t t, void *userdata) {
        Fixture *f = userdata;
        snprintf(f->event, sizeof(f->event), "%s", event);
}

static void on_reply(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata) {
        Fixture *f = userdata;
        f->replies++;
        f->last_error = error;
        snprintf(f->last_desc, sizeof(f->last_desc), "%s", desc ?: "");
        json_decref(f->last_result);
        f->last_result = json_incref(result);
}

static void spin_until(Fixture *f, int *counter, int want) {
        for (int i = 0; i < 2000 && *counter < want; i++)
                (void) event_base_loop(f->base, EVLOOP_ONCE);
        assert_int_equal(*counter, want);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        f->base = event_base_new();
        int fd = -1;
        assert_int_equal(qmp_relay_new(f->base, handler, f, &fd, &f->relay), 0);
        assert_int_equal(qmp_client_new(f->base, fd, 0, &f->client), 0);
        qmp_client_set_handlers(f->client, on_state, on_qmp_event, f);
        json_auto_t *v = json_pack("{s:{s:i, s:i, s:i}, s:s}", "qemu", "major", 7, "minor", 2, "micro", 22, "package",
                                   "Debian 1:7.2");
        assert_int_equal(qmp_relay_greet(f->relay, v), 0);
        spin_until(f, &f->ready, 1);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        qmp_client_unref(f->client);
        qmp_relay_free(f->relay);
        (void) event_base_loop(f->base, EVLOOP_NONBLOCK);
        json_decref(f->last_result);
        event_base_free(f->base);
        free(f);
        return 0;
}

static void test_greeting_and_capabilities(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *version = NULL;
        assert_int_equal(qmp_client_version(f->client, &version), 0);
        assert_non_null(strstr(version, "7.2.22"));
        assert_int_equal(qmp_relay_commands(f->relay), 1); /* qmp_capabilities, answered by the relay */
}

static void test_reply_ids_and_args(void **state) {
        Fixture *f = *state;
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, f), 0);
        assert_int_equal(qmp_client_hmp(f->client, "info mtree -f", 0, on_reply, f), 0);
        spin_until(f, &f->replies, 2);
        assert_int_equal(f->last_error, 0);
        json_t *echo = json_object_get(f->last_result, "echo");
        assert_string_equal(json_string_value(json_object_get(echo, "execute")), "human-monitor-command");
        assert_string_equal(json_string_value(json_object_get(json_object_get(echo, "arguments"), "command-line")),
                            "info mtree -f");
}

static void test_handler_failure(void **state) {
        Fixture *f = *state;
        assert_int_equal(qmp_client_call(f->client, "fail", NULL, 0, on_reply, f), 0);
        spin_until(f, &f->replies, 1);
        assert_int_equal(f->last_error, -EIO);
        assert_string_equal(f->last_desc, "libvirt: Requested operation is not valid: domain is not running");
        /* The connection goes on after a failed command. */
        assert_int_equal(qmp_client_call(f->client, "query-status", NULL, 0, on_reply, f), 0);
        spin_until(f, &f->replies, 2);
        assert_int_equal(f->last_error, 0);
}

static void test_big_reply_and_event(void **state) {
        Fixture *f = *state;
        f->big = 4 << 20; /* far over a socket buffer: must not block the loop */
        assert_int_equal(qmp_client_call(f->client, "big", NULL, 0, on_reply, f), 0);
        spin_until(f, &f->replies, 1);
        assert_int_equal(json_string_length(f->last_result), f->big);
        json_auto_t *data = json_pack("{s:s}", "reason", "guest-reset");
        assert_int_equal(qmp_relay_event(f->relay, "SHUTDOWN", data, 1700000000, 5), 0);
        for (int i = 0; i < 100 && !f->event[0]; i++)
                (void) event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        assert_string_equal(f->event, "SHUTDOWN");
}

static void test_close_is_eof(void **state) {
        Fixture *f = *state;
        qmp_relay_close(f->relay);
        assert_int_equal(qmp_relay_event(f->relay, "STOP", NULL, 0, 0), -ENOTCONN);
        spin_until(f, &f->ended, 1);
        assert_int_equal(f->end_error, -ECONNRESET);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_greeting_and_capabilities, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reply_ids_and_args, setup, teardown),
                cmocka_unit_test_setup_teardown(test_handler_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_big_reply_and_event, setup, teardown),
                cmocka_unit_test_setup_teardown(test_close_is_eof, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
