/* fuzz-console-login.c — fuzz target for the serial-console login
 * (console-login.c), driven by what a guest prints.  The first byte picks
 * whether a user and a password are given; each following line (scrubbed
 * to UTF-8, as vm.c delivers console text) is fed whole, or as an
 * unfinished line when it starts with \x01.  Checked: the dance only moves
 * forward (or to FAILED) and stops at DONE/FAILED; the password is typed at
 * most once, only in answer to an unfinished line while waiting for
 * "Password:", and never appears in an error; what is typed is one of the
 * four things the module types; errors and output are UTF-8 and bounded. */
#include <string.h>

#include "console-login.h"
#include "fuzz.h"
#include "utf8.h"

#define USER "fuzzuser"
#define PASSWORD "Pw-7c1d"

typedef struct Drive {
        ConsoleLogin *c;
        bool has_user, has_password;
        unsigned password_typed;
} Drive;

static void check_typed(Drive *d, const char *send, ConsoleLoginState before, bool partial) {
        if (!send)
                return;
        bool is_password = streq(send, PASSWORD "\r");
        fuzz_assert(streq(send, "\r") || streq(send, USER "\r") || is_password ||
                    strncmp(send, "printf '@@VIRTLAB-CONSOLE-", 26) == 0);
        fuzz_assert(!streq(send, USER "\r") || d->has_user);
        if (is_password) {
                fuzz_assert(d->has_password && before == CONSOLE_LOGIN_PASSWORD && partial);
                fuzz_assert(++d->password_typed == 1);
        }
}

static void check_state(Drive *d, ConsoleLoginState before, ConsoleLoginState after, const char *send) {
        fuzz_assert(after >= 0 && after < _CONSOLE_LOGIN_STATE_MAX);
        if (before == CONSOLE_LOGIN_DONE || before == CONSOLE_LOGIN_FAILED)
                fuzz_assert(after == before && !send);
        else
                fuzz_assert(after >= before);
        fuzz_assert(console_login_waiting_for(d->c));
        if (after == CONSOLE_LOGIN_FAILED) {
                const char *e = console_login_error(d->c);
                fuzz_assert(*e && fuzz_is_utf8(e) && !strstr(e, PASSWORD));
        }
        if (after == CONSOLE_LOGIN_DONE) {
                const char *out = console_login_output(d->c);
                fuzz_assert(strlen(out) <= CONSOLE_OUTPUT_MAX && fuzz_is_utf8(out));
                fuzz_assert(console_login_rc(d->c) >= -1 && console_login_rc(d->c) <= 255);
        }
}

static void feed_line(char *line, void *userdata) {
        Drive *d = userdata;
        bool partial = line[0] == '\x01';
        char *text = partial ? line + 1 : line;
        (void) utf8_scrub(text);
        ConsoleLoginState before = console_login_state(d->c);
        const char *send = console_login_feed(d->c, text, partial);
        check_typed(d, send, before, partial);
        check_state(d, before, console_login_state(d->c), send);
}

int fuzz_one(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        Drive d = { .has_user = data[0] & 1, .has_password = data[0] & 2 };
        if (console_login_new(d.has_user ? USER : NULL, d.has_password ? PASSWORD : NULL, "systemd-analyze time",
                              &d.c) < 0)
                return 0;
        ConsoleLoginState before = console_login_state(d.c);
        const char *send = console_login_start(d.c, "");
        check_typed(&d, send, before, true);
        check_state(&d, before, console_login_state(d.c), send);
        fuzz_foreach_line(data + 1, size - 1, feed_line, &d);
        console_login_free(d.c);
        return 0;
}
