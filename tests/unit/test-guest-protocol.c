/* test-guest-protocol.c — the host's parser of the guest console protocol
 * (guest-protocol.c): which line means what, what is collected as job
 * output, and how the one result frame is taken, fed line by line the way
 * run.c feeds the console. */
#include "guest-protocol.c"

#include "test-helpers.h"

/* Feeds each line; returns the OR of the events. */
static unsigned feed_all(GuestConsole *gc, const char *const *lines) {
        unsigned ev = 0;
        for (const char *const *l = lines; *l; l++)
                ev |= guest_console_feed(gc, *l);
        return ev;
}

/* The default marker is GUEST_INIT_MARKER; it is reported once, wherever
 * it sits on the line (a stray kernel message may precede it). */
static void test_default_marker(void **state) {
        GuestConsole gc;
        guest_console_init(&gc, NULL);
        assert_string_equal(gc.marker, GUEST_INIT_MARKER);
        assert_int_equal(guest_console_feed(&gc, "SeaBIOS (version 1.16)"), 0);
        assert_int_equal(guest_console_feed(&gc, "VIRTLAB-INIT-MARKE"), 0);
        assert_false(gc.seen_init);
        assert_int_equal(guest_console_feed(&gc, "[    0.9] x " GUEST_INIT_MARKER " y"), GUEST_LINE_INIT);
        assert_true(gc.seen_init);
        assert_int_equal(guest_console_feed(&gc, GUEST_INIT_MARKER), 0);
        guest_console_done(&gc);

        /* An empty marker means the default too. */
        guest_console_init(&gc, "");
        assert_string_equal(gc.marker, GUEST_INIT_MARKER);
        guest_console_done(&gc);
}

/* An image's own marker replaces the default: the default then means nothing. */
static void test_custom_marker(void **state) {
        GuestConsole gc;
        guest_console_init(&gc, "NOOP-GUEST-READY");
        assert_int_equal(guest_console_feed(&gc, GUEST_INIT_MARKER), 0);
        assert_int_equal(guest_console_feed(&gc, "NOOP-GUEST-READY"), GUEST_LINE_INIT);
        assert_int_equal(guest_console_feed(&gc, "NOOP-GUEST-READY"), 0);
        guest_console_done(&gc);

        /* A marker longer than the buffer is cut, not overflowed. */
        _cleanup_free_ char *longm = malloc(300); /* heap: no compile-time truncation warning */
        assert_non_null(longm);
        memset(longm, 'M', 299);
        longm[299] = 0;
        guest_console_init(&gc, longm);
        assert_int_equal(strlen(gc.marker), sizeof(gc.marker) - 1);
        guest_console_done(&gc);
}

/* The first "Linux version " line is the kernel phase; later ones are not;
 * banner and marker on one line give both events. */
static void test_kernel_banner(void **state) {
        GuestConsole gc;
        guest_console_init(&gc, NULL);
        assert_int_equal(guest_console_feed(&gc, "[    0.000000] Linux version 6.1.0-57-amd64 (gcc 12)"),
                         GUEST_LINE_KERNEL);
        assert_true(gc.seen_kernel);
        assert_int_equal(guest_console_feed(&gc, "Linux version again"), 0);
        guest_console_done(&gc);

        guest_console_init(&gc, NULL);
        assert_int_equal(guest_console_feed(&gc, "Linux version 6.1 " GUEST_INIT_MARKER),
                         GUEST_LINE_KERNEL | GUEST_LINE_INIT);
        guest_console_done(&gc);
}

static void test_printk_lines(void **state) {
        assert_true(guest_is_printk_line("[    1.234] x"));
        assert_true(guest_is_printk_line("[1.5] y"));
        assert_true(guest_is_printk_line("[12345.000001] random: crng init done"));
        assert_false(guest_is_printk_line("[ abc] x"));
        assert_false(guest_is_printk_line("[    12 no dot]"));
        assert_false(guest_is_printk_line("[    1.234 no bracket"));
        assert_false(guest_is_printk_line(" [1.2] leading space"));
        assert_false(guest_is_printk_line("x [1.2] y"));
        assert_false(guest_is_printk_line(""));
        assert_false(guest_is_printk_line("["));
}

/* Only lines between BEGIN and END are job output, without printk lines;
 * each collected line ends in '\n'. */
static void test_frame_output(void **state) {
        GuestConsole gc;
        guest_console_init(&gc, NULL);
        static const char *const before[] = { "before the frame", GUEST_INIT_MARKER, NULL };
        assert_int_equal(feed_all(&gc, before) & GUEST_LINE_OUTPUT, 0);
        assert_null(gc.output);
        assert_int_equal(gc.output_len, 0);

        assert_int_equal(guest_console_feed(&gc, GUEST_FRAME_BEGIN "job=boot@@"), 0);
        assert_true(gc.in_frame);
        assert_int_equal(guest_console_feed(&gc, "first line"), GUEST_LINE_OUTPUT);
        assert_int_equal(guest_console_feed(&gc, "[    1.234] x"), 0);
        assert_int_equal(guest_console_feed(&gc, ""), GUEST_LINE_OUTPUT);
        assert_int_equal(guest_console_feed(&gc, "[not printk] kept"), GUEST_LINE_OUTPUT);
        assert_int_equal(guest_console_feed(&gc, GUEST_FRAME_END "job=boot rc=0@@"), 0);
        assert_false(gc.in_frame);
        assert_int_equal(guest_console_feed(&gc, "after the frame"), 0);

        assert_string_equal(gc.output, "first line\n\n[not printk] kept\n");
        assert_int_equal(gc.output_len, strlen(gc.output));
        guest_console_done(&gc);
        assert_null(gc.output);
}

/* The result frame is parsed once; a second one (a guest that repeats
 * itself, or text that looks like one) changes nothing. */
static void test_result_once(void **state) {
        GuestConsole gc;
        guest_console_init(&gc, NULL);
        assert_int_equal(guest_console_feed(&gc, GUEST_RESULT_PREFIX "{\"job\":\"boot\",\"rc\":0,\"n\":1}"),
                         GUEST_LINE_RESULT);
        json_t *first = gc.result;
        assert_non_null(first);
        assert_string_equal(json_string_value(json_object_get(first, "job")), "boot");
        assert_int_equal(json_integer_value(json_object_get(first, "rc")), 0);
        assert_string_equal(gc.result_error, "");

        assert_int_equal(guest_console_feed(&gc, GUEST_RESULT_PREFIX "{\"job\":\"boot\",\"rc\":9,\"n\":2}"), 0);
        assert_int_equal(guest_console_feed(&gc, GUEST_RESULT_PREFIX "[]"), 0);
        assert_ptr_equal(gc.result, first);
        assert_int_equal(json_integer_value(json_object_get(gc.result, "n")), 1);
        assert_string_equal(gc.result_error, "");
        guest_console_done(&gc);
}

/* Bytes after the JSON object (a kernel message glued to the line) and
 * bytes before the prefix do not spoil the result. */
static void test_result_garbage_around(void **state) {
        GuestConsole gc;
        guest_console_init(&gc, NULL);
        assert_int_equal(guest_console_feed(&gc, GUEST_RESULT_PREFIX "{\"job\":\"boot\",\"rc\":0}[    2.1] random: crng"),
                         GUEST_LINE_RESULT);
        assert_non_null(gc.result);
        assert_int_equal(json_object_size(gc.result), 2);
        guest_console_done(&gc);

        guest_console_init(&gc, NULL);
        assert_int_equal(guest_console_feed(&gc, "[    3.0] foo" GUEST_RESULT_PREFIX "{\"job\":\"hold\",\"rc\":0}"),
                         GUEST_LINE_RESULT);
        assert_string_equal(json_string_value(json_object_get(gc.result, "job")), "hold");
        guest_console_done(&gc);
}

/* A result that is not a JSON object is rejected with a reason, reported
 * as the result event (so the run fails at once), and no later frame can
 * replace it. */
static void test_result_not_object(void **state) {
        static const char *const bad[] = { "[1, 2]", "\"text\"", "42", "{broken", "", NULL };
        for (const char *const *b = bad; *b; b++) {
                GuestConsole gc;
                char line[128];
                snprintf(line, sizeof(line), GUEST_RESULT_PREFIX "%s", *b);
                guest_console_init(&gc, NULL);
                assert_int_equal(guest_console_feed(&gc, line), GUEST_LINE_RESULT);
                assert_null(gc.result);
                assert_true(strncmp(gc.result_error, "Guest result frame is not a JSON object: ",
                                    strlen("Guest result frame is not a JSON object: ")) == 0);
                /* Where it does not parse, jansson's reason follows. */
                if (*b[0] != '[' && *b[0] != '"')
                        assert_true(strlen(gc.result_error) > strlen("Guest result frame is not a JSON object: "));
                assert_int_equal(guest_console_feed(&gc, GUEST_RESULT_PREFIX "{\"job\":\"boot\",\"rc\":0}"), 0);
                assert_null(gc.result);
                guest_console_done(&gc);
                assert_string_equal(gc.result_error, "");
        }
}

/* Job output is kept up to GUEST_OUTPUT_MAX bytes exactly; past it lines
 * are dropped whole (never a torn line) and the text stays NUL-terminated. */
static void test_output_cap(void **state) {
        GuestConsole gc;
        const size_t big = 65000; /* 64 of these fill all but 34304 bytes of the cap */
        _cleanup_free_ char *line = malloc(big);
        assert_non_null(line);
        memset(line, 'o', big - 1);
        line[big - 1] = 0;
        guest_console_init(&gc, NULL);
        guest_console_feed(&gc, GUEST_FRAME_BEGIN "job=run@@");
        for (size_t fed = 0; fed < GUEST_OUTPUT_MAX + 2 * big; fed += big)
                assert_int_equal(guest_console_feed(&gc, line), GUEST_LINE_OUTPUT);
        assert_int_equal(gc.output_len, (GUEST_OUTPUT_MAX / big) * big);
        assert_int_equal(strlen(gc.output), gc.output_len);
        assert_int_equal(gc.output[gc.output_len - 1], '\n');

        /* A line that exactly fills the rest (with its '\n') is kept ... */
        size_t room = GUEST_OUTPUT_MAX - gc.output_len;
        assert_true(room > 1 && room < big);
        line[room - 1] = 0;
        line[0] = 'L';
        guest_console_feed(&gc, line);
        assert_int_equal(gc.output_len, GUEST_OUTPUT_MAX);
        assert_int_equal(gc.output[GUEST_OUTPUT_MAX - room], 'L');
        /* ... and then not even an empty line fits. */
        guest_console_feed(&gc, "x");
        guest_console_feed(&gc, "");
        assert_int_equal(gc.output_len, GUEST_OUTPUT_MAX);
        assert_int_equal(strlen(gc.output), GUEST_OUTPUT_MAX);

        /* The frame still ends and a result is still taken. */
        guest_console_feed(&gc, GUEST_FRAME_END "job=run rc=0@@");
        assert_int_equal(guest_console_feed(&gc, GUEST_RESULT_PREFIX "{\"job\":\"run\",\"rc\":0}"), GUEST_LINE_RESULT);
        assert_non_null(gc.result);
        guest_console_done(&gc);
}

/* A caller's guest: its marker is a regex, found on an unfinished line (a
 * login prompt), once; with result_at_marker it also stands for the result
 * such a guest never prints.  The literal marker means nothing then. */
static void test_marker_regex(void **state) {
        GuestConsole gc;
        regex_t re;
        assert_int_equal(regcomp(&re, "login: *$", REG_EXTENDED | REG_NOSUB), 0);
        guest_console_init(&gc, "login: *$");
        guest_console_set_marker_regex(&gc, &re, true);
        assert_int_equal(guest_console_feed(&gc, GUEST_INIT_MARKER), 0);
        assert_int_equal(guest_console_feed_partial(&gc, "Debian GNU/Linux 12 box ttyS0"), 0);
        assert_int_equal(guest_console_feed_partial(&gc, "box login: "), GUEST_LINE_INIT | GUEST_LINE_RESULT);
        assert_true(gc.seen_init);
        assert_non_null(gc.result);
        assert_string_equal(json_string_value(json_object_get(gc.result, "job")), "boot");
        assert_int_equal(json_integer_value(json_object_get(gc.result, "rc")), 0);
        assert_string_equal(json_string_value(json_object_get(gc.result, "marker_line")), "box login: ");
        /* Once: neither the finished line nor a later prompt count again. */
        assert_int_equal(guest_console_feed(&gc, "box login: root"), 0);
        assert_int_equal(guest_console_feed_partial(&gc, "box login: "), 0);
        guest_console_done(&gc);

        /* Whole lines match too; a guest that reports gets no made-up result. */
        guest_console_init(&gc, NULL);
        guest_console_set_marker_regex(&gc, &re, false);
        assert_int_equal(guest_console_feed(&gc, "box login: "), GUEST_LINE_INIT);
        assert_null(gc.result);
        guest_console_done(&gc);

        /* Without a regex, unfinished lines are not looked at (our own
         * guests' marker is a whole line, and its time is that line's). */
        guest_console_init(&gc, NULL);
        assert_int_equal(guest_console_feed_partial(&gc, GUEST_INIT_MARKER), 0);
        assert_false(gc.seen_init);
        guest_console_done(&gc);
        regfree(&re);
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_marker),   cmocka_unit_test(test_custom_marker),
                cmocka_unit_test(test_kernel_banner),    cmocka_unit_test(test_printk_lines),
                cmocka_unit_test(test_frame_output),     cmocka_unit_test(test_result_once),
                cmocka_unit_test(test_result_garbage_around), cmocka_unit_test(test_result_not_object),
                cmocka_unit_test(test_output_cap),       cmocka_unit_test(test_marker_regex),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
