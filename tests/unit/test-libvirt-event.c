/* test-libvirt-event.c — libvirt's event implementation on libevent
 * (libvirt-event.c), reached the way libvirt reaches it: through the public
 * virEventAddHandle/virEventAddTimeout/… after registration.  A real pipe
 * and a real loop: readiness, updates to 0 and back, removal inside the
 * callback, the free function deferred to a later iteration, timeouts of 0,
 * N ms and -1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "libvirt-event.c"

typedef struct Seen {
        int calls;        /* callback invocations */
        int last_events;  /* VIR_EVENT_HANDLE_* of the last one */
        int freed;        /* free function calls */
        int remove_id;    /* remove this handle/timer from inside the callback, 0 = no */
} Seen;

static void on_fd(int watch, int fd, int events, void *opaque) {
        Seen *s = opaque;
        s->calls++;
        s->last_events = events;
        char c;
        (void) !read(fd, &c, 1);
        if (s->remove_id)
                assert_int_equal(virEventRemoveHandle(s->remove_id), 0);
}

static void on_timer(int timer, void *opaque) {
        Seen *s = opaque;
        s->calls++;
        if (s->remove_id)
                assert_int_equal(virEventRemoveTimeout(s->remove_id), 0);
}

static void on_free(void *opaque) {
        ((Seen *) opaque)->freed++;
}

static struct event_base *base;

static int setup(void **state) {
        base = event_base_new();
        assert_int_equal(libvirt_event_register(base), 0);
        return 0;
}

static int teardown(void **state) {
        (void) event_base_loop(base, EVLOOP_NONBLOCK); /* pending frees */
        assert_int_equal(libvirt_event_count(), 0);
        assert_null(watches);
        event_base_free(base);
        loop_base = NULL;
        return 0;
}

static void loop_once(void) {
        (void) event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static void test_handle_readable(void **state) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        Seen s = {};
        int id = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, on_fd, &s, on_free);
        assert_true(id > 0);
        assert_int_equal(libvirt_event_count(), 1);
        loop_once();
        assert_int_equal(s.calls, 0); /* nothing to read yet */
        assert_int_equal(write(p[1], "x", 1), 1);
        loop_once();
        assert_int_equal(s.calls, 1);
        assert_int_equal(s.last_events, VIR_EVENT_HANDLE_READABLE);
        /* Watching nothing: no callback although a byte waits. */
        virEventUpdateHandle(id, 0);
        assert_int_equal(write(p[1], "y", 1), 1);
        loop_once();
        assert_int_equal(s.calls, 1);
        virEventUpdateHandle(id, VIR_EVENT_HANDLE_READABLE);
        loop_once();
        assert_int_equal(s.calls, 2);
        assert_int_equal(virEventRemoveHandle(id), 0);
        assert_int_equal(s.freed, 0); /* never synchronously: libvirt may hold its lock */
        assert_int_equal(libvirt_event_count(), 0);
        assert_int_equal(virEventRemoveHandle(id), -1); /* already gone */
        loop_once();
        assert_int_equal(s.freed, 1);
        close(p[0]);
        close(p[1]);
}

static void test_handle_writable_and_remove_in_callback(void **state) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        Seen s = {};
        int id = virEventAddHandle(p[1], VIR_EVENT_HANDLE_WRITABLE, on_fd, &s, on_free);
        s.remove_id = id;
        loop_once();
        assert_int_equal(s.calls, 1);
        assert_int_equal(s.last_events, VIR_EVENT_HANDLE_WRITABLE);
        loop_once(); /* removed inside its own callback: never called again, freed once */
        loop_once();
        assert_int_equal(s.calls, 1);
        assert_int_equal(s.freed, 1);
        close(p[0]);
        close(p[1]);
}

static void test_timeouts(void **state) {
        Seen every = {}, later = {}, off = {};
        int t0 = virEventAddTimeout(0, on_timer, &every, on_free);
        int t1 = virEventAddTimeout(20, on_timer, &later, on_free);
        int t2 = virEventAddTimeout(-1, on_timer, &off, NULL);
        assert_true(t0 > 0 && t1 > 0 && t2 > 0 && t0 != t1);
        loop_once();
        loop_once();
        assert_true(every.calls >= 2); /* 0 ms: every iteration */
        assert_int_equal(later.calls, 0);
        virEventUpdateTimeout(t0, -1);
        int before = every.calls;
        usleep(30000);
        loop_once();
        assert_int_equal(every.calls, before); /* disabled */
        assert_int_equal(later.calls, 1);
        assert_int_equal(off.calls, 0);
        virEventUpdateTimeout(t2, 0);
        off.remove_id = t2; /* fires once and removes itself */
        loop_once();
        loop_once();
        assert_int_equal(off.calls, 1);
        assert_int_equal(virEventRemoveTimeout(t0), 0);
        assert_int_equal(virEventRemoveTimeout(t1), 0);
        assert_int_equal(virEventRemoveTimeout(t1), -1);
        loop_once();
        assert_int_equal(every.freed, 1);
        assert_int_equal(later.freed, 1);
}

static void test_rebase_refused_while_busy(void **state) {
        Seen s = {};
        int id = virEventAddTimeout(-1, on_timer, &s, NULL);
        struct event_base *other = event_base_new();
        assert_int_equal(libvirt_event_register(other), -EBUSY);
        assert_int_equal(libvirt_event_register(base), 0); /* the same base is fine */
        assert_int_equal(virEventRemoveTimeout(id), 0);
        event_base_free(other);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_handle_readable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_handle_writable_and_remove_in_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rebase_refused_while_busy, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
