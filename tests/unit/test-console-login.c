/* test-console-login.c — the console login dance (console-login.c), fed
 * the transcript agetty, login and bash print on a Debian serial console
 * (prompts without a newline come as partial lines): the happy path with
 * bash's escape sequences around the output, a wrong password (one
 * attempt, never retried, the password in no message), a prompt already
 * waiting, a user without a password, autologin and no login at all, and
 * the command line we type (quoting, markers its echo cannot fake). */
#include "console-login.c"

#include "test-helpers.h"

#define PW "s3cret-pw"

/* Feeds a line, asserting nothing is typed back. */
static void quiet_line(ConsoleLogin *c, const char *line) {
        const char *t = console_login_feed(c, line, false);
        if (t)
                fail_msg("'%s' made us type '%s'", line, t);
}

static ConsoleLogin *logged_in(const char *password) {
        ConsoleLogin *c = NULL;
        assert_int_equal(console_login_new("root", password, "systemd-analyze time", &c), 0);
        assert_string_equal(console_login_start(c, ""), "\r");
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_PROMPTING);
        quiet_line(c, "");
        assert_null(console_login_feed(c, "virtlab log", true));
        assert_string_equal(console_login_feed(c, "virtlab login: ", true), "root\r");
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_PASSWORD);
        assert_null(console_login_feed(c, "virtlab login: ro", true));
        quiet_line(c, "virtlab login: root");
        return c;
}

static void test_happy_path(void **state) {
        _cleanup_(console_login_freep) ConsoleLogin *c = logged_in(PW);
        assert_string_equal(console_login_feed(c, "Password: ", true), PW "\r");
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_SHELL);
        quiet_line(c, "Password: ");
        quiet_line(c, "Linux virtlab 6.1.0-57-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 x86_64");
        quiet_line(c, "Last login: Mon Dec  1 17:00:01 UTC 2025 on ttyS0");
        const char *cmd = console_login_feed(c, "\033[?2004hroot@virtlab:~# ", true);
        assert_non_null(cmd);
        assert_non_null(strstr(cmd, "eval 'systemd-analyze time';"));
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_RUNNING);
        /* The echo of what we typed holds "%s", never the markers themselves. */
        assert_null(strstr(cmd, CONSOLE_BEGIN));
        assert_null(strstr(cmd, CONSOLE_END));
        char echo[1200];
        snprintf(echo, sizeof(echo), "root@virtlab:~# %.*s", (int) strcspn(cmd, "\r"), cmd);
        quiet_line(c, echo);
        quiet_line(c, "\033[?2004l\r" CONSOLE_BEGIN);
        quiet_line(c, "Startup finished in \033[1m8.988s\033[0m (kernel) + 10.618s (userspace) = 19.606s\r");
        quiet_line(c, "\033[0;1;39mgraphical.target\033[0m reached after 10.210s in userspace.");
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_RUNNING);
        quiet_line(c, CONSOLE_END "0@@");
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_DONE);
        assert_string_equal(console_login_output(c), "Startup finished in 8.988s (kernel) + 10.618s (userspace) = 19.606s\n"
                                                     "graphical.target reached after 10.210s in userspace.\n");
        assert_int_equal(console_login_rc(c), 0);
        /* Done is done: a later prompt types nothing. */
        assert_null(console_login_feed(c, "root@virtlab:~# ", true));
}

/* A wrong password: one attempt, a clear error without the password, and
 * the next "login:" gets nothing (no retry storm). */
static void test_wrong_password(void **state) {
        _cleanup_(console_login_freep) ConsoleLogin *c = logged_in(PW);
        const char *sent = console_login_feed(c, "Password: ", true);
        assert_string_equal(sent, PW "\r");
        quiet_line(c, "Password: ");
        quiet_line(c, "");
        /* What we typed is wiped as soon as the next step runs. */
        assert_null(strstr(c->send, PW));
        quiet_line(c, "Login incorrect");
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_FAILED);
        assert_non_null(strstr(console_login_error(c), "root"));
        assert_non_null(strstr(console_login_error(c), "Login incorrect"));
        assert_non_null(strstr(console_login_error(c), "not retried"));
        assert_null(strstr(console_login_error(c), PW));
        assert_null(console_login_feed(c, "virtlab login: ", true));
        assert_null(console_login_feed(c, "Password: ", true));
}

/* "login:" coming back after the password is the same failure. */
static void test_login_prompt_again(void **state) {
        _cleanup_(console_login_freep) ConsoleLogin *c = logged_in(PW);
        assert_non_null(console_login_feed(c, "Password: ", true));
        assert_null(console_login_feed(c, "virtlab login: ", true));
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_FAILED);
}

/* The guest asks for a password nobody gave: no guessing, an error. */
static void test_no_password_given(void **state) {
        _cleanup_(console_login_freep) ConsoleLogin *c = logged_in(NULL);
        assert_null(console_login_feed(c, "Password: ", true));
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_FAILED);
        assert_non_null(strstr(console_login_error(c), "USER:PASSWORD"));
}

/* A user without a password goes from the user name straight to a shell. */
static void test_no_password_needed(void **state) {
        _cleanup_(console_login_freep) ConsoleLogin *c = logged_in(NULL);
        assert_non_null(console_login_feed(c, "root@virtlab:~# ", true));
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_RUNNING);
}

/* A prompt already on the console when the session starts is answered at once. */
static void test_prompt_pending(void **state) {
        _cleanup_(console_login_freep) ConsoleLogin *c = NULL;
        assert_int_equal(console_login_new("root", PW, "true", &c), 0);
        assert_string_equal(console_login_start(c, "virtlab login: "), "root\r");
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_PASSWORD);
}

/* No login: a shell (or an autologin) is expected; so is one where a
 * login prompt was. */
static void test_no_login(void **state) {
        _cleanup_(console_login_freep) ConsoleLogin *c = NULL;
        assert_int_equal(console_login_new(NULL, NULL, "uname -r", &c), 0);
        assert_string_equal(console_login_start(c, ""), "\r");
        assert_null(console_login_feed(c, "# ", false)); /* a whole line is not a prompt */
        assert_non_null(console_login_feed(c, "/ # ", true));
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_RUNNING);
        c = console_login_free(c);

        /* busybox ash asks for the cursor position right after its prompt,
         * and waits for the answer: the prompt counts with the query behind it. */
        assert_int_equal(console_login_new(NULL, NULL, "uname -r", &c), 0);
        (void) console_login_start(c, "");
        assert_non_null(console_login_feed(c, "~ # \033[6n", true));
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_RUNNING);
        c = console_login_free(c);

        assert_int_equal(console_login_new("root", PW, "uname -r", &c), 0);
        assert_string_equal(console_login_start(c, "root@virtlab:~# "), "\r");
        assert_non_null(console_login_feed(c, "root@virtlab:~# ", true));
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_RUNNING);
}

/* What is typed: the command in single quotes for eval (its own quotes
 * escaped), its exit status, and a carriage return like a terminal's. */
static void test_command_line(void **state) {
        _cleanup_free_ char *s = command_line("echo 'hi' && false");
        assert_string_equal(s, "printf '@@VIRTLAB-CONSOLE-%s@@\\n' BEGIN; eval 'echo '\\''hi'\\'' && false'; "
                               "printf '@@VIRTLAB-CONSOLE-%s rc=%d@@\\n' END $?\r");
        _cleanup_(console_login_freep) ConsoleLogin *c = NULL;
        assert_int_equal(console_login_new(NULL, NULL, "false", &c), 0);
        (void) console_login_start(c, "$ ");
        quiet_line(c, CONSOLE_BEGIN);
        quiet_line(c, CONSOLE_END "1@@");
        assert_int_equal(console_login_state(c), CONSOLE_LOGIN_DONE);
        assert_int_equal(console_login_rc(c), 1);
        assert_string_equal(console_login_output(c), "");
}

static void test_waiting_for(void **state) {
        _cleanup_(console_login_freep) ConsoleLogin *c = logged_in(PW);
        assert_string_equal(console_login_waiting_for(c), "the 'Password:' prompt");
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_happy_path),        cmocka_unit_test(test_wrong_password),
                cmocka_unit_test(test_login_prompt_again), cmocka_unit_test(test_no_password_given),
                cmocka_unit_test(test_no_password_needed), cmocka_unit_test(test_prompt_pending),
                cmocka_unit_test(test_no_login),          cmocka_unit_test(test_command_line),
                cmocka_unit_test(test_waiting_for),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
